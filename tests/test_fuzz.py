"""Property tests: the engine never crashes, and fixes always parse and are idempotent."""

from __future__ import annotations

import ast

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fuzzing import examples
from sightlint.api import check_source
from sightlint.fixer import fix_source
from sightlint.registry import ALL_RULES
from sightlint.settings import Settings

EVERYTHING = Settings(select=("ALL",))
SNIPPETS = sorted({b.code for rule in ALL_RULES for b in rule.bad} | {g.code for rule in ALL_RULES for g in rule.good})
FAST = settings(max_examples=examples(), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text(max_size=300))
def test_engine_survives_any_text(text: str) -> None:
    result = check_source(text, "fuzz.py", EVERYTHING)
    assert result.errors == []


@FAST
@given(st.binary(max_size=300))
def test_engine_survives_any_bytes(data: bytes) -> None:
    result = check_source(data, "fuzz.py", EVERYTHING)
    assert result.errors == []


@FAST
@given(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=3), st.data())
def test_engine_survives_mangled_examples(parts: list[str], data: st.DataObject) -> None:
    text = "\n".join(parts)
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.sampled_from(["", "(", ":", "\n    ", "async ", "await ", "except", "'''"]))
    result = check_source(text[:cut] + junk + text[cut:], "fuzz.py", EVERYTHING)
    assert result.errors == []


def _decorate(source: str, data: st.DataObject) -> str:
    """Random blank lines, end-of-line comments and an optional class wrapper."""
    lines = []
    for line in source.splitlines():
        if data.draw(st.booleans()) and line.strip():
            line += data.draw(st.sampled_from(["  # note", "\t# ünïcode", "  # noqa: E501", " "]))
        lines.append(line)
        if data.draw(st.integers(0, 5)) == 0:
            lines.append("")
    text = "\n".join(lines) + "\n"
    if data.draw(st.booleans()):
        text = "class Wrapper:\n" + "".join(f"    {line}\n" if line else "\n" for line in text.splitlines())
    return text


@settings(max_examples=examples(), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=4), st.booleans(), st.data())
def test_fixes_parse_and_are_idempotent(parts: list[str], crlf: bool, data: st.DataObject) -> None:
    text = _decorate("\n".join(parts), data)
    try:
        ast.parse(text)
    except SyntaxError:
        assume(False)
    if crlf:
        text = text.replace("\n", "\r\n")
    outcome = fix_source(text.encode(), "fuzz.py", EVERYTHING, unsafe=True)
    assert outcome.status != "failed", outcome.reason
    if outcome.status == "unchanged":
        return
    assert outcome.new is not None
    new_text = outcome.new.decode()
    ast.parse(new_text)
    if crlf:
        assert "\n" not in new_text.replace("\r\n", "")
    # A fix may decline a case it cannot handle safely (SL301's callable form in a class
    # body that binds ``datetime``: the new lambda could not see it); anything else left
    # unfixed (a crash, an overlap never resolved, passes exhausted) is a bug.
    assert all(reason == "no fix for this case" for _, reason in outcome.skipped), outcome.skipped
    again = fix_source(outcome.new, "fuzz.py", EVERYTHING, unsafe=True)
    assert again.status == "unchanged", (new_text, again.new)


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """The module's statements, without the ones a fix may add at top level (imports, a logger)."""
    return [
        s
        for s in tree.body
        if not isinstance(s, (ast.Import, ast.ImportFrom))
        and not (isinstance(s, ast.Assign) and "getLogger" in ast.unparse(s.value) and ast.unparse(s.targets[0]).endswith("logger"))
    ]


@settings(max_examples=examples(), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=4), st.data())
def test_outside_the_fixed_statements_the_ast_is_unchanged(parts: list[str], data: st.DataObject) -> None:
    text = _decorate("\n".join(parts), data)
    try:
        before = ast.parse(text)
    except SyntaxError:
        assume(False)
    outcome = fix_source(text.encode(), "fuzz.py", EVERYTHING, unsafe=True)
    assert outcome.status != "failed", outcome.reason
    if outcome.new is None:
        return
    after = ast.parse(outcome.new.decode())
    old, new = _top_level(before), _top_level(after)
    assert len(old) <= len(new)  # a fix may add a statement (SL705 hoists a def), never drop one
    fixed_lines = {f.line for f in outcome.applied}
    # Every statement no fix touched is still there, unchanged and in order.
    dumps = [ast.dump(b) for b in new]
    at = 0
    for a in old:
        if any(a.lineno <= line <= (a.end_lineno or a.lineno) for line in fixed_lines):
            continue  # fixed inside: a later pass may have fixed more in it too
        wanted = ast.dump(a)
        while at < len(dumps) and dumps[at] != wanted:
            at += 1
        assert at < len(dumps), ast.unparse(a)
        at += 1


# hypothesmith programs through check and fix: tests/test_generated.py (check_and_fix).
