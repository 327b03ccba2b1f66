"""Each ``fixtures/SLxxx.py`` is flagged exactly where it says ``# expect: SLxxx[@col]``, at the
severity it names when it says ``# expect: SLxxx (low)``, and its fixed form matches the committed
``fixtures/SLxxx.fixed.py`` snapshot. Rules graded with the project model (``Rule.graded``) and
cross-file rules are checked through the project phase, the fixture being the whole project."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import Counter
from pathlib import Path

import pytest

from sightlint.api import check_source, check_sources
from sightlint.fixer import fix_source
from sightlint.models import Finding, FixSafety
from sightlint.registry import lookup
from sightlint.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FIXTURE_FILES = sorted(p for p in FIXTURES.glob("SL[0-9][0-9][0-9].py"))
_MARK = r"SL\d{3}(?:@\d+)?(?:\s*\((?:low|medium|high|critical)\))?"
EXPECT = re.compile(rf"#\s*expect:\s*(?P<marks>{_MARK}(?:\s*,\s*{_MARK})*)")

def expected_marks(text: str) -> list[tuple[str, int, int | None]]:
    """``(code, line, col or None)`` for every ``# expect:`` comment (read with tokenize)."""
    return [(code, line, col) for code, line, col, _ in expected_severities(text)]


def expected_severities(text: str) -> list[tuple[str, int, int | None, str | None]]:
    """``(code, line, col or None, severity or None)`` for every ``# expect:`` comment."""
    marks = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type != tokenize.COMMENT:
            continue
        match = EXPECT.search(token.string)
        if not match:
            continue
        for item in re.split(r"\s*,\s*", match["marks"]):
            item, _, severity = item.partition("(")
            code, _, col = item.strip().partition("@")
            marks.append((code, token.start[0], int(col) if col else None, severity.rstrip(")") or None))
    return marks


def _settings(path: Path) -> Settings:
    return Settings(select=(path.stem,))


def _matches(findings: list[Finding], marks: list[tuple[str, int, int | None]]) -> tuple[list[str], list[str]]:
    """Unmatched marks and unmatched findings, as readable strings."""
    left = list(findings)
    missing = []
    # Marks pinned to a column first, so they are not consumed by a column-free mark.
    for code, line, col in sorted(marks, key=lambda m: m[2] is None):
        hit = next((f for f in left if f.code == code and f.line == line and (col is None or f.col == col)), None)
        if hit is None:
            missing.append(f"{code} at {line}" + (f":{col}" if col is not None else ""))
        else:
            left.remove(hit)
    return missing, [f"{f.code} at {f.line}:{f.col} {f.message}" for f in left]


def test_there_are_fixtures() -> None:
    assert FIXTURE_FILES, f"no fixtures found in {FIXTURES}"


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_findings_match_marks(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    marks = expected_marks(text)
    assert marks, f"{path.name} has no '# expect:' marks"
    entry = lookup(path.stem)
    if entry is not None and entry.rule is not None and (entry.rule.graded or entry.rule.cross_file):
        run = check_sources({path.name: path.read_bytes()}, _settings(path))
        assert not run.errors and not run.internal_errors
        findings = run.findings
    else:
        result = check_source(path.read_bytes(), path.name, _settings(path))
        assert not result.errors
        findings = result.findings
    missing, unexpected = _matches(findings, marks)
    assert not missing and not unexpected, f"missing: {missing}\nunexpected: {unexpected}"
    graded = {(f.line, f.code): f.severity.label for f in findings}
    wrong = [
        f"{code} at {line}: {graded[(line, code)]}, not {severity}"
        for code, line, _, severity in expected_severities(text)
        if severity is not None and graded.get((line, code)) != severity
    ]
    assert not wrong, wrong


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fix_matches_snapshot(path: Path, update_fixtures: bool) -> None:
    entry = lookup(path.stem)
    if entry is not None and entry.meta.fix is FixSafety.NONE:
        pytest.skip(f"{path.stem} offers no fix, so it has no snapshot")
    # The default fix in SLxxx.fixed.py (with --unsafe-fixes for an unsafe rule); a rule's
    # second, unsafe fix in SLxxx.unsafe-fixed.py.
    variants = [(entry is None or entry.meta.fix is FixSafety.UNSAFE, "fixed")]
    if entry is not None and entry.meta.unsafe_fix_title:
        variants.append((True, "unsafe-fixed"))
    for unsafe, suffix in variants:
        _check_snapshot(path, path.with_name(f"{path.stem}.{suffix}.py"), unsafe, update_fixtures)


def _check_snapshot(path: Path, snapshot: Path, unsafe: bool, update_fixtures: bool) -> None:
    settings = _settings(path)
    data = path.read_bytes()
    before = check_source(data, path.name, settings).findings
    outcome = fix_source(data, path.name, settings, unsafe=unsafe)
    assert outcome.status != "failed", outcome.reason
    new = outcome.new if outcome.new is not None else data
    if update_fixtures:
        snapshot.write_bytes(new)
    assert snapshot.exists(), f"run `pytest --update-fixtures` to create {snapshot.name}"
    assert new == snapshot.read_bytes(), f"{snapshot.name} is stale; review and run `pytest --update-fixtures`"

    compile(new, snapshot.name, "exec", flags=ast.PyCF_ONLY_AST)
    after = check_source(new, path.name, settings).findings
    # What had a fix (in this mode) is gone; what was reported without one is still reported.
    def fixed(f: Finding) -> bool:
        return f.fix_safety is FixSafety.SAFE or (unsafe and f.fix_safety is FixSafety.UNSAFE)

    assert not any(fixed(f) for f in after), [f"{f.line}: {f.message}" for f in after]
    unfixable = Counter(f.code for f in before if not fixed(f))
    assert Counter(f.code for f in after) == unfixable
    assert fix_source(new, path.name, settings, unsafe=unsafe).status == "unchanged"
