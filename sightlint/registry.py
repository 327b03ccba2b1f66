"""The rule catalog: implemented rules, planned codes, and retired codes.

Implemented rules carry their own metadata (``sightlint/rules/<name>.py``) and are
registered here, in ``ALL_RULES`` (a test fails if a rule module is missing); this module
also lists the codes reserved for rules not written yet, so every part of the tool speaks
the same codes, and codes that were retired (never reused).
"""

from __future__ import annotations

from dataclasses import dataclass

from sightlint.models import FixSafety, Severity
from sightlint.rules.base import RuleClass, RuleMeta
from sightlint.rules.blocking_call_in_async import BlockingCallInAsync
from sightlint.rules.expensive_endpoint_without_rate_limit import ExpensiveEndpointWithoutRateLimit
from sightlint.rules.ineffective_timeout import IneffectiveTimeout
from sightlint.rules.lifespan_without_cleanup import LifespanWithoutCleanup
from sightlint.rules.naive_utcnow import NaiveUtcnow
from sightlint.rules.session_per_task_unbounded import SessionPerTaskUnbounded
from sightlint.rules.session_shared_across_tasks import SessionSharedAcrossTasks
from sightlint.rules.swallowed_exception import SwallowedException
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
    LifespanWithoutCleanup,
    ExpensiveEndpointWithoutRateLimit,
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
    _planned("SL202", "broad-exception-handler", M, "Broad `except Exception` in a service path hides specific failures.", "§14"),
    _planned("SL401", "llm-call-without-timeout", C, "LLM call awaited without a timeout.", "§4"),
    _planned("SL402", "unbounded-gather", C, "`asyncio.gather` over many tasks without a timeout.", "§4"),
    _planned("SL403", "background-task-without-timeout", C, "Background task started without a timeout.", "§7"),
    _planned("SL404", "gemini-model-name-format", C, "Gemini model name without the `models/` prefix.", "§5"),
    _planned("SL702", "insecure-settings-default", C, "Settings field with an insecure or unvalidated default.", "§8"),
    _planned("SL703", "password-length-unchecked", H, "Password reaches bcrypt without a 72-byte check at the schema.", "§12"),
    _planned("SL705", "nested-function-in-handler", H, "Function defined inside a request handler.", "§10"),
    _planned("SL706", "health-check-probes-nothing", M, "Health check that probes no dependency.", "§15"),
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
