"""Fingerprint parts from the check's own tree (``semantics.prints``) equal those of a
full re-parse of the file (the path every report took before, kept here verbatim as the
reference): for the findings of the replica, and for every node of every fixture file
and of a file written to hold the hard cases. A fingerprint computed either way is the
same, so baselines written by earlier versions keep matching."""

from __future__ import annotations

import ast
import marshal
import re
from pathlib import Path
from typing import Any

import pytest

from sightlint import api, runner
from sightlint.cache import _decode_result, _encode_result, pack, unpack
from sightlint.models import FileResult
from sightlint.reporting import fingerprint
from sightlint.reporting._common import SourceLines
from sightlint.semantics import prints
from sightlint.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

# -- the reference: fingerprint.py's tree index as it was before the tables (verbatim) --------

_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")
_SPACE = re.compile(r"\s+")


class _Reference:
    def __init__(self, lines: list[str] | None) -> None:
        self.scopes: list[tuple[int, int, str]] = []
        self.nodes: dict[tuple[int, int, int, int], ast.AST] = {}
        self.starts: dict[tuple[int, int], list[ast.AST]] = {}
        if lines is None:
            return
        try:
            tree = ast.parse("\n".join(lines))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return
        self._visit(tree, "")

    def _visit(self, node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = name
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = f"{name}.{child.name}" if name else child.name
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                self.scopes.append((first, child.end_lineno or child.lineno, inner))
            if isinstance(child, (ast.expr, ast.stmt, ast.excepthandler, ast.arg, ast.keyword, ast.alias)):
                end_line, end_col = getattr(child, "end_lineno", None), getattr(child, "end_col_offset", None)
                if end_line is not None and end_col is not None:
                    self.nodes.setdefault((child.lineno, child.col_offset, end_line, end_col), child)
                    self.starts.setdefault((child.lineno, child.col_offset), []).append(child)
            self._visit(child, inner)

    def node_at(self, line: int, col: int, end_line: int, end_col: int) -> ast.AST | None:
        exact = self.nodes.get((line, col, end_line, end_col))
        if exact is not None:
            return exact
        covering = [
            n for n in self.starts.get((line, col), [])
            if (getattr(n, "end_lineno", 0), getattr(n, "end_col_offset", 0)) >= (end_line, end_col)
        ]  # fmt: skip
        return min(covering, key=lambda n: (n.end_lineno, n.end_col_offset)) if covering else None  # type: ignore[attr-defined]

    def scope(self, line: int) -> str:
        best: tuple[int, int, str] | None = None
        for first, last, name in self.scopes:
            if first <= line <= last and (best is None or last - first <= best[1] - best[0]):
                best = (first, last, name)
        return best[2] if best else ""


def _form(node: ast.AST) -> str:
    if any(isinstance(getattr(node, field, None), list) and field in _BODIES for field in node._fields):
        parts = [
            f"{field}={ast.dump(value) if isinstance(value, ast.AST) else [ast.dump(v) if isinstance(v, ast.AST) else repr(v) for v in value] if isinstance(value, list) else repr(value)}"
            for field in node._fields
            if field not in _BODIES
            for value in [getattr(node, field, None)]
        ]
        return f"{type(node).__name__}({', '.join(parts)})"
    return ast.dump(node)


def reference(lines: list[str], module: _Reference, r: tuple[int, int, int, int]) -> tuple[str, str]:
    """(scope, form) of range ``r`` as the report worked it out by parsing the file again."""
    node = module.node_at(*r)
    if node is not None:
        return module.scope(r[0]), _form(node)
    line, col, end_line, end_col = r
    if end_line == line:
        text = lines[line - 1][col:end_col] if end_col > col else lines[line - 1]
    else:
        text = "\n".join(lines[line - 1 : end_line])
    return module.scope(r[0]), _SPACE.sub("", text)


# -- the hard cases ----------------------------------------------------------------------------

TRICKY = '''\
"""Module docstring."""
import os, os.path as p
from a import (b,
    c as d)
x = f(1)
x.y = g(2)
x[h()] = 3
del x.y, x[0]
f(x)
(f)(x)
f(x)(y)
f(x).y
await_ = [i async for i in z()] if 0 else None
f(a
  , b)
f(*args, **kw)
f(x for x in y)
s = f"a{b!r:>{w}}c" f'{d}'
t = "x" "y"
n = -1 + 2 * 3
lam = lambda q, *r, s=1, **t: q(r)
if (y := f()) and not g(): pass
for i, (j, k) in items(): print(i); print(j)
while g(): break
with open(p) as fh, g() as (u, v): fh.read()
try:
    risky()
except (E, F) as exc:
    handle(exc)
else:
    f()
finally:
    g()
try:
    group()
except* G:
    pass
match command:
    case Point(x=0, y=f) | [1, 2, *rest] if guard(rest):
        act()
    case {"k": v, **others}:
        act(v)
    case str() as s:
        pass

@decorator
@other.decorator(arg=1)
async def handler(a: int, /, b: str = g(), *c, d=h(), **e) -> dict[str, int]:
    """Docstring."""
    await f(a)
    f(b)
    async with lock: await g()
    async for q in stream(): yield q

    def inner(x=lambda: 0):
        return (yield from x())

    class Local(Base, metaclass=Meta):
        attr: int = f()

        @staticmethod
        def method(): return g()
    return {k: v for k, v in items() if v}


class Outer:
    class Inner:
        def m(self) -> None:
            self.a = f()
            self.b += g()
            global gl
            nonlocal_ = {*a, *b}
            print("x\\
y")
    def one_line(self): f(); g()

def after(): pass; f()
if True:
	def tabbed():
		return f()
def unicode():
    v = "é"; f(v)
    return g("ü", h())
@ \\
decorated_after_backslash
def d(): pass
'''


UNKNOWN = 11


def _ranges(tree: ast.AST) -> list[tuple[int, int, int, int]]:
    """Every node's range, and ranges no node has: a node's start with a shorter end
    (headers), and a node's end with a later start."""
    out = set()
    for node in ast.walk(tree):
        if getattr(node, "end_col_offset", None) is None:
            continue
        r = (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
        out.add(r)
        out.add((r[0], r[1], r[0], r[1] + 3))  # a header-like range starting at the node
        if r[3] > 0:
            out.add((r[0], r[1], r[2], r[3] - 1))
        out.add((r[0], r[1] + 1, r[2], r[3]))
    return sorted(out)


def _sources() -> list[tuple[str, str]]:
    files = sorted(FIXTURES.rglob("*.py"))
    out = [("tricky.py", TRICKY)]
    for file in files:
        text = file.read_text(encoding="utf-8")
        try:
            ast.parse(text)
        except SyntaxError:
            continue
        out.append((str(file.relative_to(ROOT)), text))
    return out


def test_the_tricky_file_parses() -> None:
    ast.parse(TRICKY)


@pytest.mark.parametrize(("name", "text"), _sources(), ids=lambda v: v if len(v) < 80 else None)
def test_every_range_of_every_file_as_the_reparse_gives_it(name: str, text: str) -> None:
    tree = ast.parse(text)
    lines = text.split("\n")
    module = _Reference(lines)
    ranges = _ranges(tree)
    want = {r: reference(lines, module, r) for r in ranges}
    # The engine's side: the file's own findings' ranges.
    table = prints.load(prints.table(tree, text, ranges))
    assert table is not None
    assert table.parts == want
    # The report's side, for ranges not in the table (cross-file findings): derived where
    # certain, else None (the report parses the file).
    bare = prints.load(prints.table(tree, text, []))
    assert bare is not None and not bare.parts
    derived = 0
    for r in ranges:
        got = bare.get(r, lines)
        if got is not None:
            derived += 1
            assert got == want[r], (name, r)
    # Only the header of the def behind a backslash-continued decorator is not parsed alone.
    assert derived == len(ranges) - (UNKNOWN if name == "tricky.py" else 0)


def test_derived_forms_cover_calls_statements_and_headers() -> None:
    text = "@dec(1)\nasync def f(a):\n    g(a)\n    x = await h(a)\n\n\nclass C:\n    def m(self):\n        return 1\n"
    tree = ast.parse(text)
    lines = text.split("\n")
    module = _Reference(lines)
    table = prints.load(prints.table(tree, text, []))
    assert table is not None
    for r in [(3, 4, 3, 8), (4, 8, 4, 18), (4, 14, 4, 18), (2, 0, 2, 15), (8, 4, 8, 17), (7, 0, 7, 8), (1, 1, 1, 7)]:
        assert table.get(r, lines) == reference(lines, module, r), r
    assert table.get((3, 4, 3, 8), lines) == ("f", "Expr(value=Call(func=Name(id='g', ctx=Load()), args=[Name(id='a', ctx=Load())], keywords=[]))")
    assert table.get((3, 6, 3, 7), lines) == ("f", "Name(id='a', ctx=Load())")
    assert table.get((2, 12, 2, 13), lines) == ("f", "arg(arg='a')")
    # A def whose lines do not parse alone (a decorator continued with a backslash): unknown.
    text = "@ \\\n  dec\ndef f(a):\n    g(a)\n"
    tree = ast.parse(text)
    odd = prints.load(prints.table(tree, text, []))
    assert odd is not None and odd.get((3, 0, 3, 9), text.split("\n")) is None
    # ... while a statement of its body is parsed alone.
    assert odd.get((4, 4, 4, 8), text.split("\n")) == reference(text.split("\n"), _Reference(text.split("\n")), (4, 4, 4, 8))
    # A range past the end of the file, or with no lines: unknown.
    assert table.get((30, 0, 30, 1), lines) is None
    assert table.get((3, 4, 3, 8), None) is None


def test_the_replicas_findings_fingerprint_as_before() -> None:
    """Every finding of the replica, per-file and cross-file: the fingerprints from the
    tables equal those of the reference path (the tables switched off)."""
    import os

    root = FIXTURES / "sight_app"
    old = os.getcwd()
    os.chdir(root)
    try:
        settings = Settings(select=("ALL",))
        found = api.discover_project([Path(".")], settings, None)
        rules = api.enabled_rules(settings)
        results = [runner.check_one(Path(f.location).read_bytes(), f.display, f.module, settings, rules, True) for f in found.files]
        api.project_phase(results, settings)
        findings = [f for r in results for f in r.findings]
        assert len(findings) > 20
        by_path = {r.path: r for r in results}
        with_tables = fingerprint.fingerprints(findings, str(root), SourceLines(), None, lambda p: by_path[p].prints)
        without = fingerprint.fingerprints(findings, str(root), SourceLines(), None, None)
        assert with_tables == without
        src = SourceLines()
        known = 0
        for f in findings:
            table = prints.load(by_path[f.path].prints)
            assert table is not None
            lines = src.lines(f.path)
            assert lines is not None
            r = (f.span.line, f.span.col, f.span.end_line, f.span.end_col)
            got = table.get(r, lines)
            if got is not None:
                known += 1
                assert got == reference(lines, _Reference(lines), r)
        assert known >= len(findings) - 3  # the rest: parsed again, as before
    finally:
        os.chdir(old)


def test_the_report_parses_no_file_the_tables_answer_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = UTCNOW
    tree = ast.parse(text)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(text)
    result = _checked(text)
    assert result.findings and result.prints is not None
    parsed = []
    monkeypatch.setattr(fingerprint, "_Module", lambda *a: parsed.append(a) or prints.Located(tree))
    with_tables = fingerprint.fingerprints(result.findings, None, SourceLines(), None, lambda p: result.prints)
    assert not parsed
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert with_tables == fingerprint.fingerprints(result.findings, None)
    # A file not on disk (checked from memory): its findings' forms are their messages, as
    # before the tables.
    (tmp_path / "m.py").unlink()
    gone = fingerprint.fingerprints(result.findings, None, SourceLines(), None, lambda p: result.prints)
    assert gone == fingerprint.fingerprints(result.findings, None) != with_tables


UTCNOW = "from datetime import datetime\n\n\nclass Clock:\n    def now(self):\n        return datetime.utcnow(), datetime.utcnow()\n"


def _checked(text: str) -> FileResult:
    settings = Settings(select=("SL301",))
    return runner.check_one(text.encode(), "m.py", "m", settings, api.enabled_rules(settings))


# -- the table as cache data: carried, sealed with the entry, never trusted blindly -------------


def test_the_table_travels_with_the_result_through_the_cache() -> None:
    result = _checked(UTCNOW)
    assert result.findings and result.prints is not None
    again = unpack(pack(result))
    assert again.prints == result.prints
    assert _decode_result(_encode_result(result)).prints == result.prints


@pytest.mark.parametrize("bad", [1, "x", (b"",), [b"x"], {"a": 1}])
def test_an_entry_with_a_table_of_another_type_is_rejected(bad: Any) -> None:
    item = _encode_result(FileResult("m.py"))
    with pytest.raises(ValueError):
        _decode_result((*item[:4], bad))


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x00\x01",
        marshal.dumps(None),
        marshal.dumps((2, [], [], [])),
        marshal.dumps((1, [], [])),
        marshal.dumps((1, [(1, 2, "f", 1)], [], [])),
        marshal.dumps((1, [(1, 2, 3, 1, 0)], [], [])),
        marshal.dumps((1, [], [(1, 2, 3)], [])),
        marshal.dumps((1, [], [], [(1, 2, 3, 4, "s", 5)])),
        marshal.dumps((1, [], [], [(1, 2, 3, 4, "s")])),
        marshal.dumps((1, {}, [], [])),
        marshal.dumps((1, [], b"\x00" * 5, [])),
        marshal.dumps((1, [(3, 2, "f", 2, 0)], b"", [])),
        marshal.dumps((1, [(1, 10**9, "f", 1, 0)], b"", [])),
        prints.table(ast.parse("def f():\n    g()\n"), "def f():\n    g()\n", [(2, 4, 2, 7)])[:-3],
    ],
)
def test_a_malformed_table_is_ignored(blob: bytes) -> None:
    assert prints.load(blob) is None
    # and the report falls back to parsing the file: same fingerprints as without a table
    f = _checked(UTCNOW)
    assert f.findings
    assert fingerprint.fingerprints(f.findings, None, SourceLines(), None, lambda p: blob) == fingerprint.fingerprints(f.findings, None)


def test_a_table_with_units_it_would_not_write_answers_nothing() -> None:
    from array import array

    text = "def f(a):\n    g(a)\n"
    lines = text.split("\n")
    good = prints.load(prints.table(ast.parse(text), text, []))
    assert good is not None and good.get((2, 4, 2, 8), lines) is not None
    for unit in [(5, 2, 2, 4), (0, 0, 2, 4), (0, 3, 2, 4), (0, 2, 2, -1)]:
        blob = marshal.dumps((1, [(1, 2, "f", 1, 0)], array("i", unit).tobytes(), []))
        table = prints.load(blob)
        assert table is not None
        assert table.get((2, 4, 2, 8), lines) is None


def test_the_sarif_layout_is_jsons() -> None:
    import json
    import random

    from sightlint.reporting.sarif import indented

    rng = random.Random(7)

    def document(depth: int) -> Any:
        kind = rng.randrange(9 if depth < 5 else 5)
        if kind == 0:
            return rng.choice(["", "x", "é\u2028\"\\\n\t<>&", "a" * 40])
        if kind == 1:
            return rng.randrange(-10**6, 10**6)
        if kind == 2:
            return rng.choice([None, True, False])
        if kind in (3, 4):
            return rng.choice(["s", 0])
        if kind in (5, 6):
            return [document(depth + 1) for _ in range(rng.randrange(4))]
        return {rng.choice(["k", "ключ", "a b", "$schema"]) + str(i): document(depth + 1) for i in range(rng.randrange(4))}

    for _ in range(300):
        doc = document(0)
        assert "".join(indented(doc)) == json.dumps(doc, indent=2, ensure_ascii=True)
    for odd in [(1, 2), {1: "a"}, 1.5, {"a": [b"x"]}]:
        with pytest.raises(TypeError):
            indented(odd)
