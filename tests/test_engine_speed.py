"""Guards for the engine's speed-ups: they must not change what is found."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sightlint import engine
from sightlint.registry import implemented
from sightlint.semantics.fanout import may_fan_out
from sightlint.semantics.scope import Context
from sightlint.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.mark.parametrize("rule", [r for r in implemented() if not r.cross_file], ids=lambda r: r.meta.code)
def test_pre_filter_keeps_every_flagged_example(rule: type) -> None:
    for bad in rule.bad:
        assert rule.may_report(bad.code), bad.code


def test_pre_filter_keeps_every_fixture_finding() -> None:
    rules = {r.meta.code: r for r in implemented() if not r.cross_file}
    flagged = 0
    for path in sorted(FIXTURES.rglob("*.py")):
        text = path.read_text()
        result = engine.check_source(text, str(path), Settings(), rules=implemented(), module=path.stem)
        for finding in result.findings:
            rule = rules.get(finding.code)
            if rule is not None:
                flagged += 1
                assert rule.may_report(text), (finding.code, path)
    assert flagged > 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("await asyncio.gather(*xs)", True),
        ("from asyncio import wait\n", True),
        ("done, _ = await asyncio.wait(tasks)", True),
        ("tg.create_task(work(x))", True),
        ("nursery.start_soon(work, x)", True),
        ("for f in as_completed(fs): pass", True),
        ("wait(fs)", True),
        ("x = self._wait(fs)\nwaiter = 1\n", False),
        ("await asyncio.wait_for(work(), 3)\nawait other()\n", False),
        ("async def f():\n    await g()\n", False),
    ],
)
def test_may_fan_out(text: str, expected: bool) -> None:
    assert may_fan_out(text) is expected


def test_skipped_rule_finds_nothing_anyway() -> None:
    """A file the pre-filter skips gives the same findings as one where the rule runs."""
    code = (
        "import asyncio\nfrom app.db import AsyncSessionLocal\n\n"
        "async def one(x):\n    async with AsyncSessionLocal() as s:\n        await s.execute(x)\n\n"
        "async def run(xs):\n    for x in xs:\n        await one(x)\n"
    )
    rules = [r for r in implemented() if r.meta.code in ("SL601", "SL602")]
    assert not any(r.may_report(code) for r in rules)
    forced = [type(f"Forced{r.__name__}", (r,), {"may_report": classmethod(lambda cls, text: True)}) for r in rules]
    assert engine.check_source(code, "m.py", Settings(), rules=forced).findings == []


def test_qualified_name_follows_rebinding_within_a_walk() -> None:
    """The memo of qualified names is dropped when a name is bound or a scope is left."""
    seen: list[str | None] = []

    class Spy:
        def __init__(self, context: Context) -> None:
            self.context = context

        def visit_Module(self, node: ast.Module) -> None:
            # Ask about every call up front, as rules that pre-scan the module do.
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    self.context.qualified_name(call.func)

        def visit_Call(self, node: ast.Call) -> None:
            seen.append(self.context.qualified_name(node.func))

    code = "import datetime as dt\ndt.now()\ndef f():\n    dt = 1\n    dt.now()\ndt.now()\ndt = 2\ndt.now()\n"
    tree = ast.parse(code)
    context = Context("m.py", code, tree, Settings(), "m")
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            context.enter(stmt)
    engine._Dispatcher(context, [Spy(context)]).walk(tree)
    assert seen == ["datetime.now", None, "datetime.now", None]
