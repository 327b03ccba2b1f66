from __future__ import annotations

import ast

import pytest

from sightlint import engine
from sightlint.api import check_source
from sightlint.source import decode_source
from sightlint.rules.base import Rule, RuleMeta
from sightlint.models import Severity
from sightlint.settings import Settings


class Crashy(Rule):
    meta = RuleMeta(code="SL999", name="crashy", severity=Severity.HIGH, summary="boom")

    def visit_Call(self, node: ast.Call) -> None:
        raise RuntimeError("kaput")


class Stacky(Rule):
    """Reports every call made while the innermost function is async."""

    meta = RuleMeta(code="SL998", name="stacky", severity=Severity.HIGH, summary="call in async")

    def visit_Call(self, node: ast.Call) -> None:
        if self.context.in_async_function:
            self.report(node)


def test_crashing_rule_is_an_internal_error_and_others_still_run() -> None:
    from sightlint.rules.naive_utcnow import NaiveUtcnow

    src = "from datetime import datetime\nx = datetime.utcnow()\n"
    result = engine.check_source(src, "m.py", Settings(), rules=[Crashy, NaiveUtcnow])
    assert [f.code for f in result.findings] == ["SL301"]
    assert len(result.errors) == 1
    assert "SL999 (crashy)" in result.errors[0] and "kaput" in result.errors[0]


def test_function_stack_survives_nested_defs() -> None:
    src = (
        "async def outer():\n"
        "    def inner():\n"
        "        sync_call()\n"
        "    a()\n"            # still async after the nested def ends
        "    f = lambda: b()\n"
        "    c()\n"
    )
    result = engine.check_source(src, "m.py", Settings(), rules=[Stacky])
    assert [f.line for f in result.findings] == [4, 6]


class Switchy(Rule):
    """Reports the calls made after the first `def`, with a handler switched on there."""

    meta = RuleMeta(code="SL996", name="switchy", severity=Severity.LOW, summary="call after a def")
    switched = frozenset(("visit_Call", "visit_Name"))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.names: list[str] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.switch_on("visit_Call")

    def visit_Call(self, node: ast.Call) -> None:
        self.report(node)

    def visit_Name(self, node: ast.Name) -> None:
        self.names.append(node.id)  # never switched on: never called


def test_switched_handlers_are_called_from_when_they_are_switched_on() -> None:
    src = "a()\nb()\ndef f():\n    c()\nd()\n"
    for rules in ([Switchy], [Stacky, Switchy], [Switchy, Stacky]):
        result = engine.check_source(src, "m.py", Settings(), rules=rules)
        assert [f.line for f in result.findings if f.code == "SL996"] == [4, 5]
    # Each file starts with them off again (the plans of a file are not the next file's).
    second = engine.check_source("x()\n", "n.py", Settings(), rules=[Switchy])
    assert second.findings == []
    seen: list[Switchy] = []

    class Spying(Switchy):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self)

    engine.check_source(src, "m.py", Settings(), rules=[Spying])
    assert seen[0].names == [] and seen[0].replan is None  # no cycle left with the dispatcher


def test_columns_are_characters_not_bytes() -> None:
    src = "from datetime import datetime\ns = 'żółć'; x = datetime.utcnow()\n"
    (finding,) = check_source(src, "m.py", Settings()).findings
    assert finding.span.col == src.splitlines()[1].index("datetime")


def test_deep_nesting_does_not_hit_recursion_limit() -> None:
    # Deep enough that a recursive walker would pass the default recursion limit.
    src = "x = " + " + ".join(["'a'"] * 900) + "\n"
    assert check_source(src, "m.py", Settings()).findings == []


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\xef\xbb\xbfx = 1\r\n", "x = 1\n"),
        ("# -*- coding: latin-1 -*-\nx = 'é'\n".encode("latin-1"), "# -*- coding: latin-1 -*-\nx = 'é'\n"),
        ("#!/usr/bin/env python\n# coding: latin-1\nx = 'é'\n".encode("latin-1"), "#!/usr/bin/env python\n# coding: latin-1\nx = 'é'\n"),
        # a cookie on the third line is no cookie; no BOM, no cookie: UTF-8 (the common case)
        ("\n\n# coding: latin-1\nx = 'é'\n".encode(), "\n\n# coding: latin-1\nx = 'é'\n"),
        ("x = 'é'\r\ny = 1\rz = 2\n".encode(), "x = 'é'\ny = 1\nz = 2\n"),
        (b"x = 1", "x = 1"),
    ],
)
def test_decode_follows_bom_and_cookie(data: bytes, text: str) -> None:
    assert decode_source(data) == text


def test_bad_input_becomes_sl000() -> None:
    settings = Settings()
    (binary,) = check_source(b"\x7fELF\x00\x00", "b.py", settings).findings
    assert binary.code == "SL000" and "binary" in binary.message
    (undecodable,) = check_source(b"x = '\xff\xfe'\n", "u.py", settings).findings
    assert undecodable.code == "SL000" and "not UTF-8" in undecodable.message
    # past the lines a cookie may sit on, the decoder's own message
    (later,) = check_source(b"x = 1\ny = 2\nz = '\xff'\n", "l.py", settings).findings
    assert later.code == "SL000" and "cannot decode as utf-8" in later.message
    (syntax,) = check_source("def f(:\n    pass\n", "s.py", settings).findings
    assert syntax.code == "SL000" and syntax.line == 1 and "syntax error" in syntax.message
    (cookie,) = check_source(b"# coding: nope-42\nx = 1\n", "c.py", settings).findings
    assert cookie.code == "SL000"


@pytest.mark.skipif(__import__("sys").version_info >= (3, 12), reason="PEP 695 syntax parses on 3.12+")
def test_newer_syntax_names_the_version() -> None:
    (finding,) = check_source("type Pair = tuple[int, int]\n", "n.py", Settings()).findings
    assert finding.code == "SL000"
    assert "uses Python 3.12 syntax" in finding.message


@pytest.mark.skipif(__import__("sys").version_info >= (3, 14), reason="PEP 758 syntax parses on 3.14+")
def test_unparenthesised_except_names_python_3_14() -> None:
    source = "try:\n    pass\nexcept ValueError, TypeError:\n    pass\n"
    (finding,) = check_source(source, "n.py", Settings()).findings
    assert finding.code == "SL000" and "uses Python 3.14 syntax" in finding.message


@pytest.mark.skipif(__import__("sys").version_info >= (3, 14), reason="PEP 758 syntax parses on 3.14+")
def test_unparenthesised_except_in_python_3_code_is_not_called_python_2() -> None:
    # `except A, B:` is Python 2's `except E, name:` only in a file Python 2 could have
    # written: annotations (or f-strings, `async def`, ...) elsewhere make it 3.14's PEP 758.
    typed = "def f(token: str) -> None:\n    try:\n        pass\n    except KeyError, ValueError:\n        pass\n"
    (finding,) = check_source(typed, "n.py", Settings()).findings
    assert "uses Python 3.14 syntax" in finding.message and "Python 2" not in finding.message
    fstring = "x = f'{1}'\ntry:\n    pass\nexcept KeyError, ValueError:\n    pass\n"
    (finding,) = check_source(fstring, "n.py", Settings()).findings
    assert "Python 2" not in finding.message
    # `*args` and a plain `def` are Python 2 as well: the Python 2 reading stays first.
    old = "def f(*args):\n    try:\n        pass\n    except ValueError, e:\n        pass\n"
    (finding,) = check_source(old, "n.py", Settings()).findings
    assert "looks like Python 2: `except E, name:`" in finding.message and "3.14" in finding.message


def test_plain_syntax_error_gets_no_version_hint() -> None:
    (finding,) = check_source("def f(:\n    pass\n", "s.py", Settings()).findings
    assert "Python 3." not in finding.message


@pytest.mark.skipif(__import__("sys").version_info >= (3, 12), reason="PEP 701 f-strings parse on 3.12+")
def test_fstring_reusing_its_quote_names_python_3_12() -> None:
    source = 'x = f"{", ".join(names)}"\n'
    (finding,) = check_source(source, "n.py", Settings()).findings
    assert finding.code == "SL000" and "uses Python 3.12 syntax" in finding.message


@pytest.mark.skipif(__import__("sys").version_info >= (3, 12), reason="PEP 701 f-strings parse on 3.12+")
def test_fstring_expression_over_lines_names_python_3_12() -> None:
    source = 'x = f"-{\n    total\n}"\n'
    (finding,) = check_source(source, "n.py", Settings()).findings
    assert finding.code == "SL000" and "uses Python 3.12 syntax" in finding.message


def test_a_rule_can_report_low() -> None:
    """``Severity.LOW`` is 0, falsy: a rule asking for it must not get its default instead."""
    from sightlint.models import Span
    from sightlint.registry import lookup

    entry = lookup("SL101")
    assert entry is not None and entry.rule is not None
    finding = entry.rule.project_finding("a.py", Span(1, 0, 1, 1), "m", severity=Severity.LOW)
    assert finding.severity is Severity.LOW


def test_a_file_check_leaves_no_tree_in_cyclic_garbage() -> None:
    """A run pauses the cyclic collector (``api.check_paths``), so a reference cycle left by
    a file's check keeps the file's whole tree until the run ends: on letta, with all rules
    in one process, that was 575 MB of peak memory instead of 136 MB. Every file of the
    replica, every rule, summary collected, plus a rule that builds the scope index."""
    import dataclasses
    import gc
    from pathlib import Path

    from sightlint.registry import enabled_rules

    class Scoped(Rule):
        meta = RuleMeta(code="SL997", name="scoped", severity=Severity.LOW, summary="asks the scope index")

        def visit_Name(self, node: ast.Name) -> None:
            self.context.scope_at(node.lineno, node.col_offset)

    settings = dataclasses.replace(Settings(), select=("ALL",))
    rules = [*enabled_rules(settings), Scoped]
    root = Path(__file__).resolve().parent.parent / "fixtures" / "sight_app"
    paths = sorted(root.rglob("*.py"))
    assert len(paths) > 20
    # One warm-up file: first calls create classes and caches that live for the process.
    engine.check_source(paths[0].read_bytes(), "warm.py", settings, rules=rules, module="warm", summarize=True)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for path in paths:
            result = engine.check_source(path.read_bytes(), str(path), settings, rules=rules, module="app." + path.stem, summarize=True)
            del result
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    trees = [o for o in garbage if isinstance(o, ast.AST)]
    ours = sorted({type(o).__qualname__ for o in garbage if type(o).__module__.startswith("sightlint") and not isinstance(o, type)})
    assert not trees, f"{len(trees)} ast nodes in cyclic garbage (sightlint objects among it: {ours})"
    assert not ours
