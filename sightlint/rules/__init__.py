"""Every implemented rule, registered explicitly (a test fails if a rule module is missing)."""

from __future__ import annotations

from sightlint.rules.base import RuleClass
from sightlint.rules.naive_utcnow import NaiveUtcnow
from sightlint.rules.swallowed_exception import SwallowedException

ALL_RULES: tuple[RuleClass, ...] = (
    NaiveUtcnow,
    SwallowedException,
)
