"""The scope model's position queries: what a name means at a line and column."""

from __future__ import annotations

import ast
import symtable
import textwrap
from pathlib import Path

import pytest

from sightlint import engine
from sightlint.registry import implemented
from sightlint.semantics import bindings
from sightlint.semantics.bindings import Binding, BindingKind, ScopeKind
from sightlint.semantics.scope import Context
from sightlint.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def context(code: str, path: str = "pkg/mod.py", module: str = "pkg.mod") -> Context:
    text = textwrap.dedent(code)
    return Context(path, text, ast.parse(text), Settings(), module)


def where(ctx: Context, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """Line and character column of the ``occurrence``-th ``needle`` in the text; for a
    ``# comment`` needle, of the first character of the code on its line."""
    seen = 0
    for number, line in enumerate(ctx.lines, 1):
        start = line.find(needle)
        while start != -1:
            seen += 1
            if seen == occurrence:
                return number, len(line) - len(line.lstrip()) if needle.startswith("#") else start
            start = line.find(needle, start + 1)
    raise AssertionError(f"{needle!r} #{occurrence} not in the text")


def binding(ctx: Context, name: str, needle: str, occurrence: int = 1) -> Binding:
    return ctx.binding_at(name, *where(ctx, needle, occurrence))


# -- each kind of binding ------------------------------------------------------------------


def test_imports_carry_their_qualified_target() -> None:
    ctx = context(
        """\
        import os.path
        import xml.etree as et
        from datetime import timezone as tz
        from . import sibling
        from .base import Model

        def f():
            import json
            return os, et, tz, sibling, Model, json  # here
        """
    )
    expected = {
        "os": "os",
        "et": "xml.etree",
        "tz": "datetime.timezone",
        "sibling": "pkg.sibling",
        "Model": "pkg.base.Model",
        "json": "json",
    }
    for name, qualified in expected.items():
        found = binding(ctx, name, "# here")
        assert found.kind is BindingKind.IMPORT, name
        assert found.qualified == qualified, name
    assert binding(ctx, "json", "# here").scope is not None
    assert not binding(ctx, "json", "# here").at_module_level
    assert binding(ctx, "os", "# here").at_module_level
    # `import json` inside `f` binds nothing at module level.
    assert ctx.module_binding("json") is None


def test_module_globals_locals_parameters_and_builtins() -> None:
    ctx = context(
        """\
        LIMIT = 3

        class Store:
            pass

        def helper(a, /, b, *args, c, **kw):
            total = 0
            for item in args:
                total += item
            with open(b) as handle:
                pass
            try:
                pass
            except ValueError as exc:
                pass
            return LIMIT, Store, helper, a, b, args, c, kw, total, item, handle, exc, len, missing  # here
        """
    )
    kinds = {
        "LIMIT": BindingKind.GLOBAL,
        "Store": BindingKind.GLOBAL,
        "helper": BindingKind.GLOBAL,
        "a": BindingKind.PARAMETER,
        "b": BindingKind.PARAMETER,
        "args": BindingKind.PARAMETER,
        "c": BindingKind.PARAMETER,
        "kw": BindingKind.PARAMETER,
        "total": BindingKind.LOCAL,
        "item": BindingKind.LOCAL,
        "handle": BindingKind.LOCAL,
        "exc": BindingKind.LOCAL,
        "len": BindingKind.BUILTIN,
        "missing": BindingKind.UNBOUND,
    }
    for name, kind in kinds.items():
        assert binding(ctx, name, "# here").kind is kind, name
    assert binding(ctx, "len", "# here").qualified == "builtins.len"
    limit = binding(ctx, "LIMIT", "# here")
    assert isinstance(limit.value, ast.Constant) and limit.value.value == 3
    assert (limit.line, limit.col) == (1, 0)
    assert isinstance(binding(ctx, "exc", "# here").node, ast.ExceptHandler)
    assert isinstance(binding(ctx, "a", "# here").node, ast.arg)


def test_class_attributes_are_read_in_the_class_body_only() -> None:
    ctx = context(
        """\
        import logging

        logger = None

        class Service:
            logger = logging.getLogger("svc")
            level = logger.level  # body

            def run(self):
                return logger  # method
        """
    )
    in_body = binding(ctx, "logger", "# body")
    assert in_body.kind is BindingKind.CLASS_ATTRIBUTE
    assert in_body.scope is not None and in_body.scope.name == "Service"
    assert binding(ctx, "logger", "# method").kind is BindingKind.GLOBAL
    assert binding(ctx, "level", "# method").kind is BindingKind.UNBOUND


def test_a_name_a_class_body_binds_later_is_read_from_the_module() -> None:
    # Class bodies read names they bind later from the globals, never from the enclosing function.
    ctx = context(
        """\
        from sys import version

        def f():
            version = 0
            class Nested:
                print(version)  # before
                version = 1
                print(version)  # after
            print(version)  # function
        """
    )
    assert binding(ctx, "version", "# before").kind is BindingKind.IMPORT
    assert binding(ctx, "version", "# after").kind is BindingKind.CLASS_ATTRIBUTE
    assert binding(ctx, "version", "# function").kind is BindingKind.LOCAL


def test_comprehensions_have_their_own_scope() -> None:
    ctx = context(
        """\
        class Table:
            columns = ["a", "b"]
            upper = [c.upper() for c in columns]
            pairs = [columns for c in range(2)]

        def f(rows):
            names = [row.name for row in rows if (last := row)]
            return row, last  # after
        """
    )
    # The first iterable is evaluated in the class body; the element is not.
    assert binding(ctx, "columns", "in columns").kind is BindingKind.CLASS_ATTRIBUTE
    assert binding(ctx, "columns", "columns for").kind is BindingKind.UNBOUND
    inside = binding(ctx, "c", "c.upper")
    assert inside.kind is BindingKind.LOCAL and inside.scope is not None
    assert inside.scope.kind is ScopeKind.COMPREHENSION
    assert ctx.scope_at(*where(ctx, "c.upper")).kind is ScopeKind.COMPREHENSION
    # The loop variable stays in the comprehension; the walrus binds in the function.
    assert binding(ctx, "row", "# after").kind is BindingKind.UNBOUND
    last = binding(ctx, "last", "# after")
    assert last.kind is BindingKind.LOCAL and last.scope is not None and last.scope.name == "f"


def test_global_and_nonlocal_send_bindings_elsewhere() -> None:
    ctx = context(
        """\
        def setup():
            global client
            client = connect()

        def use():
            return client  # use

        def outer():
            count = 0
            def bump():
                nonlocal count
                count += 1
                return count  # bump
            def peek():
                return count  # peek
            return bump, peek
        """
    )
    client = binding(ctx, "client", "# use")
    assert client.kind is BindingKind.GLOBAL and client.at_module_level
    assert ctx.module_binding("client") == client
    assert client.line == 3  # bound inside `setup`
    bumped = binding(ctx, "count", "# bump")
    assert bumped.kind is BindingKind.LOCAL and bumped.scope is not None and bumped.scope.name == "outer"
    # `peek` runs later: it sees outer's last binding of `count`, the one `bump` makes.
    assert binding(ctx, "count", "# peek") == bumped
    assert [b.line for b in bumped.scope.bindings["count"]] == [9, 12]


def test_names_bound_after_the_position() -> None:
    ctx = context(
        """\
        print(TIMEOUT)  # module before

        def f():
            return TIMEOUT, retries  # function
            retries = 3

        def g():
            return TIMEOUT  # g

        TIMEOUT = 5
        TIMEOUT = 10
        """
    )
    # Module globals are visible in functions regardless of order; functions see the last binding.
    assert binding(ctx, "TIMEOUT", "# function").kind is BindingKind.GLOBAL
    assert binding(ctx, "TIMEOUT", "# g").line == 11
    # A local used before its assignment is still the local.
    retries = binding(ctx, "retries", "# function")
    assert retries.kind is BindingKind.LOCAL and retries.line == 5
    # Module-level code before the assignment still means that global (the first one).
    assert binding(ctx, "TIMEOUT", "# module before").line == 10
    assert ctx.module_binding("TIMEOUT") is not None
    assert ctx.module_binding("TIMEOUT").line == 11  # type: ignore[union-attr]


def test_module_code_sees_the_binding_before_it() -> None:
    ctx = context(
        """\
        from pytz import timezone
        a = timezone  # first
        from datetime import timezone
        b = timezone  # second
        """
    )
    assert binding(ctx, "timezone", "# first").qualified == "pytz.timezone"
    assert binding(ctx, "timezone", "# second").qualified == "datetime.timezone"


def test_an_assignment_takes_effect_after_its_value() -> None:
    ctx = context(
        """\
        from config import TIMEOUT
        TIMEOUT = TIMEOUT * 2  # module

        class Limits:
            TIMEOUT = TIMEOUT + 1  # class
            after = TIMEOUT  # class after
        """
    )
    assert binding(ctx, "TIMEOUT", "TIMEOUT * 2").kind is BindingKind.IMPORT
    assert binding(ctx, "TIMEOUT", "TIMEOUT + 1").kind is BindingKind.GLOBAL
    assert binding(ctx, "TIMEOUT", "TIMEOUT  # class after").kind is BindingKind.CLASS_ATTRIBUTE
    assigned = binding(ctx, "TIMEOUT", "TIMEOUT  # class after")
    assert (assigned.line, assigned.col) == (5, 4) and assigned.effective == (5, 25)


# -- shadowing ------------------------------------------------------------------------------


def test_shadowing_by_parameters_locals_and_enclosing_functions() -> None:
    ctx = context(
        """\
        import logging

        logger = logging.getLogger(__name__)

        def with_param(logger=None):
            return logger  # param

        def outer():
            logger = None
            def inner():
                return logger  # enclosing
            return inner

        def plain():
            return logger  # module
        """
    )
    assert binding(ctx, "logger", "# param").kind is BindingKind.PARAMETER
    enclosing = binding(ctx, "logger", "# enclosing")
    assert enclosing.kind is BindingKind.LOCAL and enclosing.scope is not None and enclosing.scope.name == "outer"
    module = binding(ctx, "logger", "# module")
    assert module.kind is BindingKind.GLOBAL and isinstance(module.value, ast.Call)
    assert ctx.module_binding("logger") == module


def test_defaults_decorators_and_annotations_belong_to_the_enclosing_scope() -> None:
    ctx = context(
        """\
        limit = 1

        def outer(limit):
            @register(limit)
            def inner(value=limit, other: limit = 2) -> limit:
                return limit  # body
            return inner
        """
    )
    assert binding(ctx, "limit", "register(limit").kind is BindingKind.PARAMETER
    assert binding(ctx, "limit", "value=limit").scope is binding(ctx, "limit", "register(").scope
    assert ctx.scope_at(*where(ctx, "register(")).name == "outer"
    assert ctx.scope_at(*where(ctx, "-> limit")).name == "outer"
    assert ctx.scope_at(*where(ctx, "# body")).name == "inner"
    assert ctx.scope_at(*where(ctx, "other")).name == "inner"  # the parameter's own name
    body = binding(ctx, "limit", "# body")
    assert body.kind is BindingKind.PARAMETER and body.scope is not None and body.scope.name == "outer"


def test_lambda_parameters_and_match_captures() -> None:
    ctx = context(
        """\
        key = None
        sort = lambda key: key  # lambda

        def route(command):
            match command:
                case {"go": target, **rest}:
                    return target, rest  # match
        """
    )
    assert binding(ctx, "key", "key  # lambda").kind is BindingKind.PARAMETER
    assert ctx.scope_at(*where(ctx, "key  # lambda")).kind is ScopeKind.LAMBDA
    assert binding(ctx, "key", "# lambda").kind is BindingKind.GLOBAL
    assert binding(ctx, "target", "# match").kind is BindingKind.LOCAL
    assert binding(ctx, "rest", "# match").kind is BindingKind.LOCAL


def test_star_imports_may_provide_any_unbound_name() -> None:
    ctx = context(
        """\
        from helpers import *

        def f():
            return logger, len  # here
        """
    )
    assert binding(ctx, "logger", "# here").kind is BindingKind.STAR_IMPORT
    assert binding(ctx, "len", "# here").kind is BindingKind.STAR_IMPORT
    found = ctx.module_binding("logger")
    assert found is not None and found.kind is BindingKind.STAR_IMPORT


def test_module_dunders_are_module_globals() -> None:
    ctx = context("name = __name__\n")
    assert ctx.binding_at("__name__", 1, 7).kind is BindingKind.GLOBAL
    assert ctx.module_binding("__file__") is not None
    assert ctx.module_binding("len") is None


# -- spelling a qualified name ----------------------------------------------------------------


def test_reference_to_uses_the_imports_in_sight() -> None:
    ctx = context(
        """\
        import datetime as d
        from datetime import timezone

        def a():
            return 1  # a

        def b(timezone):
            return 2  # b

        def c(d, timezone):
            return 3  # c
        """
    )
    assert ctx.reference_to("datetime.timezone", *where(ctx, "# a")) == "timezone"
    assert ctx.reference_to("datetime.timezone.utc", *where(ctx, "# b")) == "d.timezone.utc"
    assert ctx.reference_to("datetime.timezone", *where(ctx, "# c")) is None
    assert ctx.reference_to("builtins.len", *where(ctx, "# a")) == "len"


# -- positions --------------------------------------------------------------------------------


def test_columns_are_characters_on_non_ascii_lines() -> None:
    ctx = context(
        """\
        def f(ü):
            s = "łódź"; g = lambda: ü  # here
        """
    )
    # The lambda's body starts at character 28 (byte 31).
    line, col = where(ctx, "ü  #")
    assert col == 28
    assert ctx.scope_at(line, col).kind is ScopeKind.LAMBDA
    assert ctx.binding_at("ü", line, col).kind is BindingKind.PARAMETER
    assert binding(ctx, "g", "g =").col == 16


def test_the_check_walk_never_builds_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Position queries are for fixes: checking must not pay for the index."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the scope index was built during a check")

    monkeypatch.setattr(bindings.ScopeIndex, "__init__", refuse)
    checked = 0
    for path in sorted(FIXTURES.rglob("*.py")):
        result = engine.check_source(path.read_bytes(), path.name, Settings(), rules=implemented(), module=path.stem)
        assert not result.errors, result.errors
        checked += 1
    assert checked > 10


# -- against CPython's own symbol tables ----------------------------------------------------------

_COMPREHENSION_TABLES = {ast.ListComp: "listcomp", ast.SetComp: "setcomp", ast.DictComp: "dictcomp", ast.GeneratorExp: "genexpr"}


def _symbol_tables(path: Path, text: str) -> dict[tuple[str, int, str], list[symtable.SymbolTable]]:
    found: dict[tuple[str, int, str], list[symtable.SymbolTable]] = {}
    stack = [symtable.symtable(text, str(path), "exec")]
    while stack:
        table = stack.pop()
        found.setdefault((table.get_type(), table.get_lineno(), table.get_name()), []).append(table)
        stack.extend(table.get_children())
    return found


def test_agrees_with_symtable_on_every_name_read_in_function_scopes() -> None:
    """Where CPython says a name read in a function, lambda or comprehension is local,
    free or global, the binding found at that position is in the same place."""
    root = Path(__file__).resolve().parent.parent
    paths = sorted([*root.joinpath("sightlint").rglob("*.py"), *FIXTURES.rglob("*.py"), *root.joinpath("tests").glob("*.py")])
    compared = 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        tables = _symbol_tables(path, text)
        ctx = Context(str(path), text, ast.parse(text), Settings(), "m")
        for node in ast.walk(ctx.tree):
            if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
                continue
            span = ctx.span(node)
            scope = ctx.scope_at(span.line, span.col)
            owner = scope.node
            if scope.kind is ScopeKind.COMPREHENSION:
                key = ("function", owner.lineno, _COMPREHENSION_TABLES[type(owner)])  # type: ignore[attr-defined]
            elif scope.kind is ScopeKind.LAMBDA:
                key = ("function", owner.lineno, "lambda")  # type: ignore[attr-defined]
            elif scope.kind is ScopeKind.FUNCTION:
                key = ("function", owner.lineno, scope.name or "")  # type: ignore[attr-defined]
            else:
                continue
            candidates = tables.get(key, [])
            if len(candidates) != 1:
                continue  # two lambdas on one line: the table is ambiguous
            try:
                symbol = candidates[0].lookup(node.id)
            except KeyError:
                continue  # an annotation under `from __future__ import annotations`: never evaluated
            found = ctx.binding_at(node.id, span.line, span.col)
            where = f"{path.name}:{node.lineno}:{node.col_offset} {node.id}"
            if symbol.is_local():
                assert found.scope is scope, where
            elif symbol.is_free():
                assert found.scope is not None and found.scope is not scope, where
                assert found.scope.kind not in (ScopeKind.MODULE, ScopeKind.CLASS), where
            elif symbol.is_global():
                assert found.scope is None or found.at_module_level, where
            compared += 1
    assert compared > 5000
