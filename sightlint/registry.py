"""The rule catalog: implemented rules, planned codes, and retired codes.

Implemented rules carry their own metadata (``sightlint/rules/<name>.py``) and are
registered here, in ``ALL_RULES`` (a test fails if a rule module is missing); this module
also lists the codes reserved for rules not written yet, so every part of the tool speaks
the same codes, and codes that were retired (never reused).
"""

from __future__ import annotations

from dataclasses import dataclass

from sightlint.models import FixSafety, Severity
from sightlint.rules.background_task_without_deadline import BackgroundTaskWithoutDeadline
from sightlint.rules.base import RuleClass, RuleMeta
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
from sightlint.settings import Settings

ALL_RULES: tuple[RuleClass, ...] = (
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


def _build() -> tuple[CatalogEntry, ...]:
    entries = [CatalogEntry(PARSE_ERROR, None)]
    built = {rule.meta.code for rule in ALL_RULES}
    entries += [CatalogEntry(rule.meta, rule) for rule in ALL_RULES]
    entries += [CatalogEntry(meta, None) for meta in PLANNED if meta.code not in built]
    return tuple(sorted(entries, key=lambda e: e.meta.code))


CATALOG: tuple[CatalogEntry, ...] = _build()
_BY_KEY = {key: e for e in CATALOG for key in (e.meta.code, e.meta.name)}


def lookup(code_or_name: str) -> CatalogEntry | None:
    """Find a catalog entry by code (``SL201``, any case) or name (``swallowed-exception``)."""
    key = code_or_name.strip()
    return _BY_KEY.get(key.upper()) or _BY_KEY.get(key.lower())


def implemented() -> tuple[RuleClass, ...]:
    return tuple(ALL_RULES)


def enabled_rules(settings: Settings) -> tuple[RuleClass, ...]:
    """The implemented rules that ``settings`` turn on (``per-file-ignores`` aside)."""
    return tuple(r for r in ALL_RULES if settings.is_enabled(r.meta.code, r.meta.name, r.meta.default_enabled))


def all_codes() -> tuple[str, ...]:
    return tuple(e.meta.code for e in CATALOG)


def fix_label(meta: RuleMeta) -> str:
    return {FixSafety.NONE: "-", FixSafety.SAFE: "safe", FixSafety.UNSAFE: "unsafe"}[meta.fix]
