"""Every rule's own examples are tests: bad ones are flagged (and fixed as pinned), good ones are clean."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from sightlint.fixer import fix_source
from sightlint.models import Finding, FixSafety
from sightlint.registry import ALL_RULES
from sightlint.rules.base import Bad, Good, RuleClass, example_files
from sightlint.settings import Settings

try:  # the api layer also runs the cross-file rules
    from sightlint.api import check_sources
except ImportError:  # pragma: no cover - only while the api layer is missing
    check_sources = None  # type: ignore[assignment]

MIN_EXAMPLES = 8


def _settings(rule: RuleClass) -> Settings:
    return Settings(select=(rule.meta.code,))


def findings(rule: RuleClass, code: str, path: str = "example.py") -> list[Finding]:
    """What ``rule`` alone reports on ``code`` (one module, or several: see ``example_files``)."""
    settings = _settings(rule)
    if check_sources is not None:
        result = check_sources(example_files(code, path), settings)
        assert not result.errors and not result.internal_errors, result.errors + result.internal_errors
        return [f for f in result.findings if f.code == rule.meta.code]
    from sightlint.api import check_source

    file_result = check_source(code, path, settings)
    assert not file_result.errors, file_result.errors
    return [f for f in file_result.findings if f.code == rule.meta.code]


def _cases(kind: str) -> list[Any]:
    params: list[Any] = []
    for rule in ALL_RULES:
        examples: tuple[Bad, ...] | tuple[Good, ...] = rule.bad if kind == "bad" else rule.good
        for index, example in enumerate(examples):
            params.append(pytest.param(rule, example, id=f"{rule.meta.code}-{kind}-{index}"))
    return params


@pytest.mark.parametrize(("rule", "example"), _cases("bad"))
def test_bad_example_is_flagged(rule: RuleClass, example: Bad) -> None:
    found = findings(rule, example.code, example.path)
    assert len(found) == example.count, [f"{f.line}:{f.col} {f.message}" for f in found]


@pytest.mark.parametrize(("rule", "example"), _cases("good"))
def test_good_example_is_clean(rule: RuleClass, example: Good) -> None:
    found = findings(rule, example.code, example.path)
    assert found == [], [f"{f.line}:{f.col} {f.message}" for f in found]


@pytest.mark.parametrize(("rule", "example"), _cases("bad"))
def test_bad_example_fix(rule: RuleClass, example: Bad) -> None:
    settings = _settings(rule)
    if len(example.files()) > 1:
        assert example.fixed is None, "a multi-file example cannot pin a fix output"
        return
    # ``fixed`` is what the rule's fix writes: by default, or with --unsafe-fixes for an
    # unsafe rule; ``unsafe_fixed`` is its second fix's output (see rules/base.py).
    cases = [(rule.meta.fix is FixSafety.UNSAFE, example.fixed)]
    if example.unsafe_fixed is not None:
        assert rule.meta.unsafe_fix_title, "unsafe_fixed pins a second fix the rule must declare"
        cases.append((True, example.unsafe_fixed))
    for unsafe, fixed in cases:
        outcome = fix_source(example.code.encode(), example.path, settings, unsafe=unsafe)
        assert outcome.status != "failed", outcome.reason
        if fixed is None:
            # "Flagged, but no fix here": the fixer must leave the code alone.
            assert outcome.status == "unchanged", outcome.new
            continue
        assert outcome.new is not None, [reason for _, reason in outcome.skipped]
        new = outcome.new.decode()
        assert new == fixed, f"unsafe={unsafe}"
        ast.parse(new)
        assert findings(rule, new, example.path) == []
        again = fix_source(outcome.new, example.path, settings, unsafe=True)
        assert again.status == "unchanged"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.meta.code)
def test_rule_has_enough_examples(rule: RuleClass) -> None:
    assert len(rule.bad) >= MIN_EXAMPLES, f"{rule.meta.code} needs >= {MIN_EXAMPLES} bad examples"
    assert len(rule.good) >= MIN_EXAMPLES, f"{rule.meta.code} needs >= {MIN_EXAMPLES} good examples"
    assert any(b.in_docs for b in rule.bad), "mark one bad example in_docs=True"
    assert any(g.in_docs for g in rule.good), "mark one good example in_docs=True"


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if r.meta.fix.value != "none"], ids=lambda r: r.meta.code)
def test_fixable_rule_pins_fix_output(rule: RuleClass) -> None:
    assert any(b.fixed is not None for b in rule.bad), "a rule with a fix pins at least one output with fixed="


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if r.meta.unsafe_fix_title], ids=lambda r: r.meta.code)
def test_second_fix_is_declared_and_pinned(rule: RuleClass) -> None:
    assert rule.meta.fix is FixSafety.SAFE, "only a SAFE rule offers a second, unsafe fix"
    assert any(b.unsafe_fixed is not None and b.unsafe_fixed != b.fixed for b in rule.bad)
