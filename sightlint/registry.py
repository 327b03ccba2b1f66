"""The rule catalog: implemented rules, planned codes, and retired codes.

Implemented rules carry their own metadata (``sightlint/rules/<name>.py``) and are
registered here, in ``ALL_RULES`` (a test fails if a rule module is missing) and in
``INDEX``, which answers without importing the rules what a run asks before checking
anything (a run served by the cache imports none); this module
also lists the codes reserved for rules not written yet, so every part of the tool speaks
the same codes, and codes that were retired (never reused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from sightlint.models import FixSafety, Severity
from sightlint.rules.base import RuleClass, RuleMeta, uses_project
from sightlint.settings import Settings


class Indexed(NamedTuple):
    """What a run asks of a rule before it checks anything, known without importing it."""

    code: str
    name: str
    default_enabled: bool
    uses_project: bool  # ``rules.base.uses_project``: cross-file or graded
    module: str  # in ``sightlint.rules``
    cls: str


# Every implemented rule, in ``ALL_RULES``' order (a test checks each line against the
# rule class). A run whose results come from the cache (nothing changed) imports no rule:
# which rules a configuration enables, and whether they need the project phase, are read
# here. ``ALL_RULES`` and ``CATALOG`` import the rules when first used.
INDEX: tuple[Indexed, ...] = (
    Indexed("SL101", "blocking-call-in-async", True, True, "blocking_call_in_async", "BlockingCallInAsync"),
    Indexed("SL102", "ineffective-timeout", True, True, "ineffective_timeout", "IneffectiveTimeout"),
    Indexed("SL301", "naive-utcnow", True, False, "naive_utcnow", "NaiveUtcnow"),
    Indexed("SL601", "session-per-task-unbounded", True, False, "session_per_task_unbounded", "SessionPerTaskUnbounded"),
    Indexed("SL602", "session-shared-across-tasks", True, False, "session_shared_across_tasks", "SessionSharedAcrossTasks"),
    Indexed("SL201", "swallowed-exception", True, False, "swallowed_exception", "SwallowedException"),
    Indexed("SL501", "unlocked-lazy-singleton", True, True, "unlocked_lazy_singleton", "UnlockedLazySingleton"),
    Indexed("SL401", "llm-call-without-deadline", True, True, "llm_call_without_deadline", "LlmCallWithoutDeadline"),
    Indexed("SL403", "background-task-without-deadline", True, True, "background_task_without_deadline", "BackgroundTaskWithoutDeadline"),
    Indexed("SL402", "unbounded-fan-out", True, True, "unbounded_fan_out", "UnboundedFanOut"),
    Indexed("SL404", "gemini-model-name-format", True, True, "gemini_model_name_format", "GeminiModelNameFormat"),
    Indexed("SL701", "lifespan-without-cleanup", True, True, "lifespan_without_cleanup", "LifespanWithoutCleanup"),
    Indexed("SL704", "expensive-endpoint-without-rate-limit", True, True, "expensive_endpoint_without_rate_limit", "ExpensiveEndpointWithoutRateLimit"),
    Indexed("SL702", "insecure-settings-default", True, False, "insecure_settings_default", "InsecureSettingsDefault"),
    Indexed("SL202", "broad-exception-handler", True, False, "broad_exception_handler", "BroadExceptionHandler"),
    Indexed("SL703", "password-length-unchecked", True, True, "password_length_unchecked", "PasswordLengthUnchecked"),
    Indexed("SL705", "nested-function-in-handler", True, False, "nested_function_in_handler", "NestedFunctionInHandler"),
    Indexed("SL706", "health-check-probes-nothing", True, False, "health_check_probes_nothing", "HealthCheckProbesNothing"),
)  # fmt: skip


def _import_rules() -> tuple[RuleClass, ...]:
    from sightlint.rules.background_task_without_deadline import BackgroundTaskWithoutDeadline
    from sightlint.rules.blocking_call_in_async import BlockingCallInAsync
    from sightlint.rules.broad_exception_handler import BroadExceptionHandler
    from sightlint.rules.expensive_endpoint_without_rate_limit import ExpensiveEndpointWithoutRateLimit
    from sightlint.rules.gemini_model_name_format import GeminiModelNameFormat
    from sightlint.rules.health_check_probes_nothing import HealthCheckProbesNothing
    from sightlint.rules.ineffective_timeout import IneffectiveTimeout
    from sightlint.rules.insecure_settings_default import InsecureSettingsDefault
    from sightlint.rules.lifespan_without_cleanup import LifespanWithoutCleanup
    from sightlint.rules.llm_call_without_deadline import LlmCallWithoutDeadline
    from sightlint.rules.naive_utcnow import NaiveUtcnow
    from sightlint.rules.nested_function_in_handler import NestedFunctionInHandler
    from sightlint.rules.password_length_unchecked import PasswordLengthUnchecked
    from sightlint.rules.session_per_task_unbounded import SessionPerTaskUnbounded
    from sightlint.rules.session_shared_across_tasks import SessionSharedAcrossTasks
    from sightlint.rules.swallowed_exception import SwallowedException
    from sightlint.rules.unbounded_fan_out import UnboundedFanOut
    from sightlint.rules.unlocked_lazy_singleton import UnlockedLazySingleton

    return (
        BlockingCallInAsync,
        IneffectiveTimeout,
        NaiveUtcnow,
        SessionPerTaskUnbounded,
        SessionSharedAcrossTasks,
        SwallowedException,
        UnlockedLazySingleton,
        LlmCallWithoutDeadline,
        BackgroundTaskWithoutDeadline,
        UnboundedFanOut,
        GeminiModelNameFormat,
        LifespanWithoutCleanup,
        ExpensiveEndpointWithoutRateLimit,
        InsecureSettingsDefault,
        BroadExceptionHandler,
        PasswordLengthUnchecked,
        NestedFunctionInHandler,
        HealthCheckProbesNothing,
    )


if TYPE_CHECKING:
    ALL_RULES: tuple[RuleClass, ...]
    CATALOG: tuple[CatalogEntry, ...]
    _BY_KEY: dict[str, CatalogEntry]


def __getattr__(name: str) -> Any:
    """``ALL_RULES``, ``CATALOG``: the rules are imported when first asked for."""
    if name in ("ALL_RULES", "CATALOG", "_BY_KEY"):
        rules = _import_rules()
        catalog = _build(rules)
        globals().update(
            ALL_RULES=rules, CATALOG=catalog, _BY_KEY={key: e for e in catalog for key in (e.meta.code, e.meta.name)}
        )
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _get(name: str) -> Any:
    """A lazily built global, from inside this module (where ``__getattr__`` is not consulted)."""
    return globals()[name] if name in globals() else __getattr__(name)


PARSE_ERROR = RuleMeta(
    code="SL000",
    name="parse-error",
    severity=Severity.CRITICAL,
    summary="The file cannot be read or parsed, so nothing in it was checked.",
)


@dataclass(frozen=True)
class CatalogEntry:
    meta: RuleMeta
    rule: RuleClass | None  # None: reserved, not yet available

    @property
    def available(self) -> bool:
        return self.rule is not None or self.meta.code == PARSE_ERROR.code


def _planned(code: str, name: str, severity: Severity, summary: str, audit: str | None) -> RuleMeta:
    return RuleMeta(code=code, name=name, severity=severity, summary=summary, audit=audit)


C, H, M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM

# Codes fixed by the catalog but not implemented yet. A rule module that implements one
# replaces its entry here (the test suite checks that no code is both planned and built).
PLANNED: tuple[RuleMeta, ...] = (
)

# Codes once released and then retired: never reuse them.
RETIRED: dict[str, str] = {}


def _build(rules: tuple[RuleClass, ...]) -> tuple[CatalogEntry, ...]:
    entries = [CatalogEntry(PARSE_ERROR, None)]
    built = {rule.meta.code for rule in rules}
    entries += [CatalogEntry(rule.meta, rule) for rule in rules]
    entries += [CatalogEntry(meta, None) for meta in PLANNED if meta.code not in built]
    return tuple(sorted(entries, key=lambda e: e.meta.code))


def lookup(code_or_name: str) -> CatalogEntry | None:
    """Find a catalog entry by code (``SL201``, any case) or name (``swallowed-exception``)."""
    key = code_or_name.strip()
    by_key: dict[str, CatalogEntry] = _get("_BY_KEY")
    return by_key.get(key.upper()) or by_key.get(key.lower())


def implemented() -> tuple[RuleClass, ...]:
    return tuple(_get("ALL_RULES"))


def enabled_rules(settings: Settings) -> tuple[RuleClass, ...]:
    """The implemented rules that ``settings`` turn on (``per-file-ignores`` aside)."""
    rules: tuple[RuleClass, ...] = _get("ALL_RULES")
    return tuple(r for r in rules if settings.is_enabled(r.meta.code, r.meta.name, r.meta.default_enabled))


def _indexed() -> tuple[Indexed, ...]:
    """:data:`INDEX`, or the same lines from the rule classes once they are imported (what
    they say wins, e.g. a rule a test or a plugin added to ``ALL_RULES``)."""
    rules: tuple[RuleClass, ...] | None = globals().get("ALL_RULES")
    if rules is None:
        return INDEX
    return tuple(
        Indexed(r.meta.code, r.meta.name, r.meta.default_enabled, uses_project(r), r.__module__.rpartition(".")[2], r.__name__)
        for r in rules
    )


def enabled_index(settings: Settings) -> tuple[Indexed, ...]:
    """:func:`enabled_rules` as :data:`INDEX` lines: no rule is imported."""
    return tuple(r for r in _indexed() if settings.is_enabled(r.code, r.name, r.default_enabled))


def selectors() -> tuple[list[str], list[str]]:
    """Every code and every name a selection may use (implemented, planned, SL000), in code order."""
    planned = [(m.code, m.name) for m in PLANNED]
    metas = sorted({(PARSE_ERROR.code, PARSE_ERROR.name), *((r.code, r.name) for r in _indexed()), *planned})
    return [code for code, _ in metas], [name for _, name in metas]


def all_codes() -> tuple[str, ...]:
    catalog: tuple[CatalogEntry, ...] = _get("CATALOG")
    return tuple(e.meta.code for e in catalog)


def fix_label(meta: RuleMeta) -> str:
    return {FixSafety.NONE: "-", FixSafety.SAFE: "safe", FixSafety.UNSAFE: "unsafe"}[meta.fix]
