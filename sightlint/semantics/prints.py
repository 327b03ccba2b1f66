"""The parts of a finding's fingerprint that come from the file's tree, worked out where
the tree is (see ``sightlint.reporting.fingerprint`` for what a fingerprint is).

A fingerprint needs, for a finding's range, the qualified name of the def/class around it
and the normalised form of the node at that range. ``reporting.fingerprint`` used to read
and parse every file holding a finding again, serially, after the check (1.6 s of a cold
run's 1.7 s report at 200k lines). Instead the engine, which has the tree in hand, builds
a :func:`table` per file with the check's result:

- every def/class: (first line with its decorators, last line, qualified name, line and
  column of its keyword), in the order a pre-order walk meets them (the scopes);
- the first and last line of each top-level statement;
- (scope, form) of each range the file's own findings sit at.

Cross-file findings are located only after the project phase: :meth:`Table.get` works
out theirs by parsing only the innermost def/class around the range (or the top-level
statements on its lines), from the file's text, and says None where that does not give
the file's own subtree back (the report then parses the whole file, as before).
:class:`Located` is the reference: the index a full walk of the whole tree builds;
everything here gives what it gives (``tests/test_prints.py`` checks both ways on every
range of every fixture file and on every finding of the replica).

This module is pure ``ast``: the engine (pool workers) uses it without the reporters.
"""

from __future__ import annotations

import ast
from bisect import bisect_left
from operator import gt
import marshal
from array import array
import re
from collections.abc import Iterable, Sequence
from typing import Any

Range = tuple[int, int, int, int]
# (first line incl. decorators, last line, qualified name, line of the keyword, its column)
Def = tuple[int, int, str, int, int]
Part = tuple[str, str]  # (scope, form)
# A statement directly in a body: (index of the def/class in the defs, -1 for the module;
# first line, last line, column)
Unit = tuple[int, int, int, int]
_INT = array("i").itemsize
_MAX_LINE = 10_000_000  # a table naming a later line is not ours (the per-line tables would be huge)

_SPACE = re.compile(r"\s+")
# Fields holding nested statements: left out of a flagged compound statement's form.
BODIES = ("body", "orelse", "finalbody", "handlers", "cases")
_INDEXED = (ast.expr, ast.stmt, ast.excepthandler, ast.arg, ast.keyword, ast.alias)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def form(node: ast.AST) -> str:
    """``ast.dump`` without positions; a compound statement without its nested statements."""
    if any(isinstance(getattr(node, field, None), list) and field in BODIES for field in node._fields):
        parts = [
            f"{field}={dump(value) if isinstance(value, ast.AST) else [dump(v) if isinstance(v, ast.AST) else repr(v) for v in value] if isinstance(value, list) else repr(value)}"
            for field in node._fields
            if field not in BODIES
            for value in [getattr(node, field, None)]
        ]
        return f"{type(node).__name__}({', '.join(parts)})"
    return dump(node)


# Per node type: its fields, each with whether a None value is left out (``ast.dump``'s
# test: the class's own default is None).
_DUMP_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}


def dump(node: ast.AST) -> str:
    """``ast.dump(node)`` (fields annotated, no positions, one line), the same text, without
    its generic per-node work: the fingerprint's form of every cross-file finding is one."""
    kind = type(node)
    fields = _DUMP_FIELDS.get(kind)
    if fields is None:
        fields = _DUMP_FIELDS[kind] = tuple((name, getattr(kind, name, ...) is None) for name in node._fields)
    args = []
    for name, optional in fields:
        try:
            value = getattr(node, name)
        except AttributeError:
            continue
        if value is None and optional:
            continue
        args.append(f"{name}={_dumped(value)}")
    return f"{node.__class__.__name__}({', '.join(args)})"


def _dumped(value: Any) -> str:
    if isinstance(value, ast.AST):
        return dump(value)
    if isinstance(value, list):
        return f"[{', '.join([_dumped(item) for item in value])}]"
    return repr(value)


def span_text(lines: Sequence[str], line: int, col: int, end_line: int, end_col: int) -> str:
    """The range's text without whitespace (``1 <= line <= len(lines)``): the form of a
    range no node sits at."""
    if end_line == line:
        text = lines[line - 1][col:end_col] if end_col > col else lines[line - 1]
    else:
        text = "\n".join(lines[line - 1 : end_line])
    return _SPACE.sub("", text)


class Scopes:
    """The innermost def/class around a line, from (first, last, qualified name) rows in
    pre-order (the smallest range; of equal ones, the last found), through a per-line
    table built once: a scan of every scope per finding took minutes on a module with
    thousands of both."""

    def __init__(self, rows: Iterable[tuple[int, int, str]]) -> None:
        self.rows = list(rows)
        self._by_line: list[str] | None = None

    def __call__(self, line: int) -> str:
        by_line = self._by_line
        if by_line is None:
            size = max((last for _, last, _ in self.rows), default=0) + 1
            by_line = self._by_line = [""] * size
            # Largest first, so an inner (smaller, or equal and later) scope overwrites.
            for first, last, name in sorted(self.rows, key=lambda s: -(s[1] - s[0])):
                by_line[first : last + 1] = [name] * (last + 1 - first)
        return by_line[line] if 0 <= line < len(by_line) else ""


# Per node type: 1 def/class (a scope, also indexed), 2 indexed by range, 0 neither.
_ROLES: dict[type, int] = {}
_FIELDS: dict[type, tuple[str, ...]] = {}


def _role(kind: type) -> int:
    if issubclass(kind, _DEFS):
        return 1
    return 2 if issubclass(kind, _INDEXED) else 0


class Located:
    """A tree's def/class ranges (for scopes) and its nodes by exact range: the reference
    the fingerprint was defined by (a full pre-order walk, ``ast.iter_child_nodes``
    order, depth first)."""

    def __init__(self, tree: ast.AST, wanted: frozenset[tuple[int, int]] | None = None) -> None:
        """``wanted``: the (line, column) starts of the ranges :meth:`node_at` will be asked
        about (None: any); nodes starting elsewhere are not indexed."""
        self.scopes: list[tuple[int, int, str]] = []  # (first line, last line, qualified name)
        self.nodes: dict[Range, ast.AST] = {}
        self.starts: dict[tuple[int, int], list[ast.AST]] = {}
        self._scope: Scopes | None = None
        scopes, nodes, starts = self.scopes, self.nodes, self.starts
        node_base = ast.AST
        # (node, qualified name of the def/class around it); iterative: a recursive walk
        # was most of a cold run's JSON report.
        stack: list[tuple[ast.AST, str]] = [(child, "") for child in reversed(list(ast.iter_child_nodes(tree)))]
        pop, push = stack.pop, stack.append
        while stack:
            child, name = pop()
            kind = type(child)
            role = _ROLES.get(kind)
            if role is None:
                role = _ROLES[kind] = _role(kind)
            if role == 1:  # def or class
                name = f"{name}.{child.name}" if name else child.name  # type: ignore[attr-defined]
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])  # type: ignore[attr-defined]
                scopes.append((first, child.end_lineno or child.lineno, name))  # type: ignore[attr-defined]
            if role:
                end_line, end_col = getattr(child, "end_lineno", None), getattr(child, "end_col_offset", None)
                if end_line is not None and end_col is not None:
                    start = (child.lineno, child.col_offset)  # type: ignore[attr-defined]
                    if wanted is None or start in wanted:
                        nodes.setdefault((*start, end_line, end_col), child)
                        starts.setdefault(start, []).append(child)
            fields = _FIELDS.get(kind)
            if fields is None:
                fields = _FIELDS[kind] = tuple(getattr(kind, "_fields", ()))
            for field in reversed(fields):
                value = getattr(child, field, None)
                if isinstance(value, node_base):
                    push((value, name))
                elif isinstance(value, list):
                    for item in reversed(value):
                        if isinstance(item, node_base):
                            push((item, name))

    def node_at(self, line: int, col: int, end_line: int, end_col: int) -> ast.AST | None:
        """The node at exactly this range; else the smallest one starting there that covers
        it (a rule that flags the ``except X:`` header of a handler)."""
        return _node_at(self.nodes, self.starts, line, col, end_line, end_col)

    def scope(self, line: int) -> str:
        """The innermost def/class around ``line``."""
        if self._scope is None:
            self._scope = Scopes(self.scopes)
        return self._scope(line)


def _node_at(
    nodes: dict[Range, ast.AST], starts: dict[tuple[int, int], list[ast.AST]], line: int, col: int, end_line: int, end_col: int
) -> ast.AST | None:
    exact = nodes.get((line, col, end_line, end_col))
    if exact is not None:
        return exact
    covering = [
        n for n in starts.get((line, col), [])
        if (getattr(n, "end_lineno", 0), getattr(n, "end_col_offset", 0)) >= (end_line, end_col)
    ]  # fmt: skip
    return min(covering, key=lambda n: (n.end_lineno, n.end_col_offset)) if covering else None  # type: ignore[attr-defined]


# -- the engine's side: one table per file, from the tree it already has ---------------------


def _statements(tree: ast.Module) -> tuple[list[Def], list[int]]:
    """Every def/class (see :data:`Def`) in pre-order, and every statement directly in the
    body of the module or of a def/class that is not itself a def/class (see
    :data:`Unit`, flat: 4 ints per statement). Statements only: a def or class is a
    statement, and statements sit only in the statement lists of statements, handlers
    and match cases (:data:`BODIES`), so the expressions (most of a tree) are not walked."""
    defs: list[Def] = []
    units: list[int] = []
    add = units.extend
    def_kinds = _DEFS
    compound = _compound_kinds()
    for stmt in tree.body:
        if type(stmt) not in def_kinds:
            add((-1, stmt.lineno, stmt.end_lineno or stmt.lineno, stmt.col_offset))
    # Only statements that hold statements are walked (a simple one holds no def); a
    # def's or class's qualified name goes with the statements in its body.
    stack: list[Any] = [stmt for stmt in reversed(tree.body) if type(stmt) in compound]
    names: list[str] = [""] * len(stack)
    pop, push, pop_name, push_name = stack.pop, stack.append, names.pop, names.append
    while stack:
        node = pop()
        name = pop_name()
        kind = type(node)
        if kind in def_kinds:
            name = f"{name}.{node.name}" if name else node.name
            line = node.lineno
            decorators = node.decorator_list
            first = min([line, *(d.lineno for d in decorators)]) if decorators else line
            owner = len(defs)
            defs.append((first, node.end_lineno or line, name, line, node.col_offset))
            for stmt in node.body:
                if type(stmt) not in def_kinds:
                    add((owner, stmt.lineno, stmt.end_lineno or stmt.lineno, stmt.col_offset))
        for field in compound[kind]:
            value = getattr(node, field, None)
            if type(value) is list:
                for item in reversed(value):
                    if type(item) in compound:
                        push(item)
                        push_name(name)
    return defs, units


_COMPOUND: dict[type, tuple[str, ...]] = {}


def _compound_kinds() -> dict[type, tuple[str, ...]]:
    """The node kinds that hold statements (statements, handlers, match cases: see
    :data:`BODIES`), each with those fields, last first."""
    if not _COMPOUND:
        for name in dir(ast):
            kind = getattr(ast, name)
            if isinstance(kind, type) and issubclass(kind, ast.AST):
                fields = tuple(f for f in reversed(getattr(kind, "_fields", ())) if f in BODIES)
                if fields:
                    _COMPOUND[kind] = fields
    return _COMPOUND


def _first_line(node: Any) -> int:
    decorators = getattr(node, "decorator_list", None)
    return min([node.lineno, *(d.lineno for d in decorators)]) if decorators else int(node.lineno)


class _Pruned:
    """The nodes starting at ``wanted`` (line, column) starts, in pre-order, as
    :class:`Located` indexes them, without walking subtrees that cannot hold one: a node's
    descendants lie within its range, a def's and a class's from the first decorator's
    line (an f-string's parts are walked whatever their positions say)."""

    def __init__(self, tree: ast.Module, wanted: frozenset[tuple[int, int]]) -> None:
        self.nodes: dict[Range, ast.AST] = {}
        self.starts: dict[tuple[int, int], list[ast.AST]] = {}
        nodes, starts = self.nodes, self.starts
        node_base, joined = ast.AST, ast.JoinedStr
        points = sorted(wanted)
        stack: list[Any] = list(reversed(tree.body))
        pop, push = stack.pop, stack.append
        while stack:
            node = pop()
            kind = type(node)
            role = _ROLES.get(kind)
            if role is None:
                role = _ROLES[kind] = _role(kind)
            if role:
                start = (node.lineno, node.col_offset)
                end_line, end_col = node.end_lineno, node.end_col_offset
                if end_line is not None and end_col is not None:
                    bound = (_first_line(node), 0) if role == 1 else start
                    end = (end_line, end_col)
                    if kind is not joined:
                        # The first wanted start at or after ``bound`` (bisect: a scan of
                        # every start per node was quadratic on a file with many findings).
                        at = bisect_left(points, bound)
                        if at == len(points) or points[at] > end:
                            continue
                    if start in wanted:
                        nodes.setdefault((*start, end_line, end_col), node)
                        starts.setdefault(start, []).append(node)
            fields = _FIELDS.get(kind)
            if fields is None:
                fields = _FIELDS[kind] = tuple(getattr(kind, "_fields", ()))
            for field in reversed(fields):
                value = getattr(node, field, None)
                if isinstance(value, node_base):
                    push(value)
                elif isinstance(value, list):
                    for item in reversed(value):
                        if isinstance(item, node_base):
                            push(item)


def table(tree: ast.Module, text: str, ranges: Iterable[Range]) -> bytes:
    """The file's fingerprint table (marshal bytes, see :func:`load`): its defs/classes,
    the statements directly in their bodies and the module's, and the (scope, form) of each of ``ranges`` (the file's
    own findings; ``text``: what the tree was parsed from)."""
    defs, units = _statements(tree)
    wanted = sorted(set(ranges))
    parts: list[tuple[int, int, int, int, str, str]] = []
    if wanted:
        lines = text.split("\n")
        pruned = _Pruned(tree, frozenset((r[0], r[1]) for r in wanted))
        scope = Scopes((d[0], d[1], d[2]) for d in defs)
        for r in wanted:
            node = _node_at(pruned.nodes, pruned.starts, *r)
            if node is not None:
                parts.append((*r, scope(r[0]), form(node)))
            elif 1 <= r[0] <= len(lines):
                parts.append((*r, scope(r[0]), span_text(lines, *r)))
    return marshal.dumps((1, defs, array("i", units).tobytes(), parts))


# -- the reporter's side ---------------------------------------------------------------------


class Table:
    """A file's fingerprint table, decoded: (scope, form) of the file's own findings'
    ranges, and what :meth:`answer` needs for the others'."""

    def __init__(self, defs: list[Def], units: Sequence[int], parts: dict[Range, Part]) -> None:
        self.defs = defs
        self.units = units  # flat: 4 ints per :data:`Unit`
        self.parts = parts
        self.scope = Scopes((d[0], d[1], d[2]) for d in defs)
        self._innermost: list[int] | None = None
        # owner -> groups of statements sharing lines: (first, last, column, [(first, last)])
        self._bodies: dict[int, list[tuple[int, int, int, list[tuple[int, int]]]]] = {}
        self._owners: Sequence[int] = ()  # each unit's owner (set by :meth:`_index`)
        self._broken = False

    def get(self, r: Range, lines: Sequence[str] | None) -> Part | None:
        """(scope, form) of range ``r`` in the file whose text is ``lines``, or None: not
        known for sure without parsing the whole file."""
        return self.answer([r], lines)[r]

    def answer(self, ranges: Iterable[Range], lines: Sequence[str] | None) -> dict[Range, Part | None]:
        """:meth:`get` for each of ``ranges``: what holds one of them is parsed once, alone
        (see :meth:`_where`)."""
        out: dict[Range, Part | None] = {}
        pending: dict[tuple[int, int, int, int, int], list[Range]] = {}
        for r in ranges:
            part = self.parts.get(r)
            if part is not None:
                out[r] = part
                continue
            where = self._where(r[0], lines) if lines is not None and 1 <= r[0] <= len(lines) else None
            if where is None:
                out[r] = None
            else:
                pending.setdefault(where, []).append(r)
        for where, rs in pending.items():
            assert lines is not None
            found = self._parse(where, lines)
            if found is None:
                out.update((r, None) for r in rs)
                continue
            tree, shift = found
            pruned = _Pruned(tree, frozenset((r[0] + shift, r[1]) for r in rs))
            for r in rs:
                line, col, end_line, end_col = r
                node = _node_at(pruned.nodes, pruned.starts, line + shift, col, end_line + shift, end_col)
                out[r] = self.scope(line), form(node) if node is not None else span_text(lines, *r)
        return out

    def _where(self, line: int, lines: Sequence[str]) -> tuple[int, int, int, int, int] | None:
        """What is parsed alone for a range starting on ``line``: the statements directly
        in the innermost def/class (or module) body whose lines hold it, with those they
        share a line with, (first line, last line, column, how many, owner); else that
        def/class itself, (first line, last line, keyword's column, 0, its index).

        Every node starting on those lines belongs to those statements (a statement starts
        on a line of its own, or after a ``;`` within the same body, and nothing of the
        def's header is on their first line: checked), and on a def's lines to that def
        (a decorator starts its line), so the nodes at and from any (line, column) there
        are the ones a walk of the whole file finds; and they parse the same alone: a
        statement's grammar does not depend on what surrounds it. :meth:`_parse` checks
        that the parse gives back exactly those statements (their lines, the column) or
        that def (its first line, its keyword's line and column, its last line)."""
        innermost = self._innermost
        if innermost is None:
            innermost = self._index()
        if self._broken:
            return None
        owner = innermost[line] if line < len(innermost) else -1
        for first, last, col, members in self._body(owner):
            if first <= line <= last:
                if first <= len(lines) and lines[first - 1][:col].strip() == "":
                    return (first, last, col, len(members), owner)
                break
        if owner < 0:
            return None
        first, last, _, _, col = self.defs[owner]
        return (first, last, col, 0, owner)

    def _index(self) -> list[int]:
        """Built on first use: the innermost def/class of each line, and each body's
        statements grouped by shared lines; a table with a unit :func:`table` would not
        write is not used (``_broken``)."""
        defs = self.defs
        size = max((d[1] for d in defs), default=0) + 1
        innermost = self._innermost = [-1] * size
        # Largest first, so an inner (smaller, or equal and later) def overwrites.
        for index in sorted(range(len(defs)), key=lambda i: -(defs[i][1] - defs[i][0])):
            first, last = defs[index][:2]
            innermost[first : last + 1] = [index] * (last + 1 - first)
        # Every unit checked here (vectorised); each body's groups are made when asked for
        # (:meth:`_body`: most tables are asked about one or two bodies).
        flat, count = self.units, len(defs)
        flat = flat[: len(flat) // 4 * 4]
        owners, firsts, lasts, cols = flat[0::4], flat[1::4], flat[2::4], flat[3::4]
        if owners and (
            min(owners) < -1 or max(owners) >= count or min(firsts) < 1 or min(cols) < 0 or any(map(gt, firsts, lasts))
        ):
            self._broken = True
        self._owners = owners
        return innermost

    def _body(self, owner: int) -> list[tuple[int, int, int, list[tuple[int, int]]]]:
        """The statements directly in the body of def/class ``owner`` (-1: the module),
        grouped by shared lines: (first, last, column, [(first, last)]) (after :meth:`_index`)."""
        body = self._bodies.get(owner)
        if body is None:
            body = self._bodies[owner] = []
            flat = self.units
            for i in [i for i, o in enumerate(self._owners) if o == owner]:
                first, last, col = flat[4 * i + 1], flat[4 * i + 2], flat[4 * i + 3]
                if body and first <= body[-1][1]:  # shares a line with the one before: one group
                    start, end, at, members = body[-1]
                    members.append((first, last))
                    body[-1] = (start, max(end, last), at, members)
                else:
                    body.append((first, last, col, [(first, last)]))
        return body

    def _parse(self, where: tuple[int, int, int, int, int], lines: Sequence[str]) -> tuple[ast.Module, int] | None:
        """The tree :meth:`_where` chose, parsed alone (indented lines as the body of an
        ``if``: they keep their indentation and columns), and the line shift from the file
        to it; None unless it gives back what was asked for. Statements that do not come
        back are asked again as their def."""
        first, last, col, count, owner = where
        if last > len(lines):
            return None
        shift = (1 if col else 0) + 1 - first
        source = ("if 1:\n" if col else "") + "\n".join(lines[first - 1 : last])
        tree: ast.Module | None
        try:
            tree = ast.parse(source)
            statements: list[ast.stmt] = tree.body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree, statements = None, []
        if col and statements:
            statements = statements[0].body if len(statements) == 1 and type(statements[0]) is ast.If else []
        if count:
            members = next((m for a, b, _, m in self._body(owner) if (a, b) == (first, last)), [])
            want = [(a + shift, b + shift) for a, b in members]
            got = [(s.lineno, s.end_lineno) for s in statements]
            if tree is not None and len(want) == count and got == want and statements[0].col_offset == col:
                return tree, shift
            if owner < 0:
                return None
            d = self.defs[owner]
            return self._parse((d[0], d[1], d[4], 0, owner), lines)
        if tree is None or len(statements) != 1 or not isinstance(statements[0], _DEFS):
            return None
        node = statements[0]
        keyword = self.defs[owner][3]
        if (_first_line(node), node.lineno, node.col_offset, node.end_lineno) != (first + shift, keyword + shift, col, last + shift):
            return None
        return tree, shift


def load(blob: Any) -> Table | None:
    """The table :func:`table` encoded, or None for anything of another shape (a damaged
    or foreign value is not trusted: the report parses the file instead)."""
    if type(blob) is not bytes:
        return None
    try:
        data = marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return None
    if type(data) is not tuple or len(data) != 4 or data[0] != 1:
        return None
    _, defs, units, parts = data
    if not (
        type(defs) is list
        and all(
            type(d) is tuple and len(d) == 5 and type(d[2]) is str and all(type(d[i]) is int for i in (0, 1, 3, 4))
            and 1 <= d[0] <= d[3] <= d[1] <= _MAX_LINE and d[4] >= 0
            for d in defs
        )
        and type(units) is bytes
        and len(units) % (4 * _INT) == 0
        and type(parts) is list
        and all(
            type(p) is tuple and len(p) == 6 and all(type(v) is int for v in p[:4]) and type(p[4]) is str and type(p[5]) is str
            for p in parts
        )
    ):
        return None
    flat = array("i")
    flat.frombytes(units)
    return Table(defs, flat, {p[:4]: (p[4], p[5]) for p in parts})
