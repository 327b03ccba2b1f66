"""Every implemented rule, registered explicitly (a test fails if a rule module is missing)."""

from __future__ import annotations

from sightlint.rules.base import RuleClass
from sightlint.rules.blocking_call_in_async import BlockingCallInAsync
from sightlint.rules.ineffective_timeout import IneffectiveTimeout
from sightlint.rules.naive_utcnow import NaiveUtcnow
from sightlint.rules.session_per_task_unbounded import SessionPerTaskUnbounded
from sightlint.rules.session_shared_across_tasks import SessionSharedAcrossTasks
from sightlint.rules.swallowed_exception import SwallowedException
from sightlint.rules.unlocked_lazy_singleton import UnlockedLazySingleton

ALL_RULES: tuple[RuleClass, ...] = (
    BlockingCallInAsync,
    IneffectiveTimeout,
    NaiveUtcnow,
    SessionPerTaskUnbounded,
    SessionSharedAcrossTasks,
    SwallowedException,
    UnlockedLazySingleton,
)
