"""The fixes of SL401/SL402/SL403 (deadlines), SL404 (`models/`) and SL601 (a semaphore):
re-checked with the project phase (the fixture harness re-checks cross-file rules file by
file), by target version, with the `timeout-expression` option and its validation, and
the cases where no fix is the right answer."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from textwrap import dedent

import pytest

from sightlint.api import check_sources
from sightlint.config import ConfigError, settings_from_table
from sightlint.fixer import fix_paths, fix_source
from sightlint.models import Finding, FixSafety
from sightlint.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CODES = ("SL401", "SL402", "SL403", "SL404", "SL601")


def _findings(code: str, source: str | bytes, settings: Settings, path: str = "example.py") -> list[Finding]:
    run = check_sources({path: source}, settings)
    assert not run.errors and not run.internal_errors
    return [f for result in run.files for f in result.findings]


def _fix(source: str, settings: Settings, *, unsafe: bool = True, path: str = "example.py") -> str:
    outcome = fix_source(source.encode(), path, settings, unsafe=unsafe)
    assert outcome.status != "failed", outcome.reason
    return source if outcome.new is None else outcome.new.decode()


# Sites each fixture leaves unfixed on purpose, by target: (a batch, a stream, stream=True, shadowed
# asyncio), the `asyncio.wait` fan-out, BackgroundTasks.add_task, the nested sessions and
# the session a factory opens without `async with`.
UNFIXED = {"SL401": {"py310": 4, "py312": 3}, "SL402": 1, "SL403": 1, "SL404": 0, "SL601": 3}


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("target", ["py310", "py312"])
def test_fixture_recheck_with_the_project_phase(code: str, target: str) -> None:
    """Every fixed finding is gone after fixing (messages name the call, so they are compared
    as a multiset: lines move); the others are still there; the fixed file compiles and a
    second fix changes nothing."""
    settings = Settings(select=(code,), target_version=target)
    source = (FIXTURES / f"{code}.py").read_text(encoding="utf-8")
    before = _findings(code, source, settings, f"{code}.py")
    outcome = fix_source(source.encode(), f"{code}.py", settings, unsafe=True)
    assert outcome.status == "changed" and outcome.new is not None, outcome.reason
    new = outcome.new.decode()
    compile(new, code, "exec")
    after = _findings(code, new, settings, f"{code}.py")
    expected = UNFIXED[code]
    left = expected if isinstance(expected, int) else expected[target]
    assert len(after) == left, [f"{f.line}: {f.message}" for f in after]
    def said(findings: Sequence[Finding]) -> Counter[str]:
        return Counter(re.sub(r"line \d+", "line N", f.message) for f in findings)  # SL601 names the fan-out's line

    assert said(before) - said(outcome.applied) == said(after)
    assert _fix(new, settings, path=f"{code}.py") == new


def test_sl401_by_target_version() -> None:
    code = dedent("""\
        from langchain_openai import ChatOpenAI

        llm = ChatOpenAI()

        async def ask(q):
            # the question
            reply = await llm.ainvoke(q)
            return reply.content

        async def ask_inline(q):
            return (await llm.ainvoke(q)).content

        async def chunks(q):
            async for chunk in llm.astream(q):
                yield chunk
        """)
    old = _fix(code, Settings(select=("SL401",), target_version="py310"))
    assert "reply = await asyncio.wait_for(llm.ainvoke(q), timeout=60)" in old
    assert "return (await asyncio.wait_for(llm.ainvoke(q), timeout=60)).content" in old
    assert "async for chunk in llm.astream(q):" in old and "timeout(" not in old  # no fix before 3.11
    assert old.startswith("import asyncio\n\nfrom langchain_openai import ChatOpenAI\n")
    new = _fix(code, Settings(select=("SL401",), target_version="py311"))
    assert "    # the question\n    async with asyncio.timeout(60):\n        reply = await llm.ainvoke(q)\n    return reply.content" in new
    assert "return (await asyncio.wait_for(llm.ainvoke(q), timeout=60)).content" in new  # inside an expression
    assert "    async with asyncio.timeout(60):\n        async for chunk in llm.astream(q):\n            yield chunk" in new
    assert _findings("SL401", new, Settings(select=("SL401",), target_version="py311")) == []


def test_stream_findings_offer_no_fix_before_311() -> None:
    code = "from langchain_openai import ChatOpenAI\n\nasync def s(q):\n    async for c in ChatOpenAI().astream(q):\n        print(c)\n"
    (old,) = _findings("SL401", code, Settings(select=("SL401",), target_version="py310"))
    (new,) = _findings("SL401", code, Settings(select=("SL401",), target_version="py311"))
    assert old.fix_safety is FixSafety.NONE and new.fix_safety is FixSafety.UNSAFE


def test_gather_statement_under_asyncio_timeout_on_311() -> None:
    code = dedent("""\
        import asyncio
        from langchain_openai import ChatOpenAI

        async def one(q):
            return await ChatOpenAI().ainvoke(q)

        async def many(qs):
            results = await asyncio.gather(*(one(q) for q in qs))
            return results
        """)
    new = _fix(code, Settings(select=("SL402",), target_version="py312"))
    assert "    async with asyncio.timeout(60):\n        results = await asyncio.gather(*(one(q) for q in qs))\n" in new


def test_sl402_leaves_the_deadline_to_sl401_when_it_runs_sl403_bounds_the_job() -> None:
    """One deadline per call at the wrapper, none around the gather; the task's job gets its own."""
    code = dedent("""\
        import asyncio
        from langchain_openai import ChatOpenAI

        async def one(q):
            return await ChatOpenAI().ainvoke(q)

        async def many(qs):
            return await asyncio.gather(*(one(q) for q in qs))

        async def start(q, keep):
            keep.add(asyncio.create_task(one(q)))
        """)
    both = Settings(select=("SL401", "SL402", "SL403"))
    offered = {f.code: f.fix_safety for f in _findings("", code, both)}
    assert offered == {"SL401": FixSafety.UNSAFE, "SL402": FixSafety.NONE, "SL403": FixSafety.UNSAFE}
    new = _fix(code, both)
    assert "return await asyncio.wait_for(ChatOpenAI().ainvoke(q), timeout=60)" in new
    assert "return await asyncio.gather(*(one(q) for q in qs))" in new
    assert "keep.add(asyncio.create_task(asyncio.wait_for(one(q), timeout=300)))" in new
    assert _findings("", new, both) == []
    alone = {f.code: f.fix_safety for f in _findings("", code, Settings(select=("SL402", "SL403")))}
    assert alone == {"SL402": FixSafety.UNSAFE, "SL403": FixSafety.UNSAFE}


def test_timeout_expression_from_config_and_its_names() -> None:
    table = {
        "select": ["SL401"],
        "rules": {"llm-call-without-deadline": {"timeout-expression": "settings.LLM_TIMEOUT"}},
    }
    settings = settings_from_table(table, "pyproject.toml")
    imported = "from app.config import settings\nfrom langchain_openai import ChatOpenAI\n\nasync def a(q):\n    return await ChatOpenAI().ainvoke(q)\n"
    assert "asyncio.wait_for(ChatOpenAI().ainvoke(q), timeout=settings.LLM_TIMEOUT)" in _fix(imported, settings)
    # A parameter named like the expression's root would be read instead: no fix.
    param = "from app.config import settings\nfrom langchain_openai import ChatOpenAI\n\nasync def a(q, settings):\n    return await ChatOpenAI().ainvoke(q)\n"
    assert _fix(param, settings) == param
    # Not imported, and no other module to learn the import from (a file fixed alone): no fix.
    missing = "from langchain_openai import ChatOpenAI\n\nasync def a(q):\n    return await ChatOpenAI().ainvoke(q)\n"
    assert _fix(missing, settings) == missing


def test_timeout_expression_root_imported_as_the_project_does(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\nrequires-python = ">=3.10"\n'
        '[tool.sightlint]\nselect = ["SL401"]\n'
        '[tool.sightlint.rules.llm-call-without-deadline]\ntimeout-expression = "settings.LLM_TIMEOUT"\n',
        encoding="utf-8",
    )
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("", encoding="utf-8")
    (app / "config.py").write_text("class S:\n    LLM_TIMEOUT = 30\n\nsettings = S()\n", encoding="utf-8")
    (app / "routes.py").write_text("from app.config import settings\n\nprint(settings)\n", encoding="utf-8")
    (app / "llm.py").write_text(
        "import litellm\n\n\nasync def complete(prompt):\n    return await litellm.acompletion(model='m', messages=[prompt])\n", encoding="utf-8"
    )
    from sightlint.config import load

    settings = load(tmp_path / "pyproject.toml", [tmp_path])
    report = fix_paths([tmp_path], settings, unsafe=True, use_cache=False)
    assert [Path(p).name for p in report.written] == ["llm.py"]
    text = (app / "llm.py").read_text(encoding="utf-8")
    assert text == (
        "import asyncio\n\nimport litellm\n\nfrom app.config import settings\n\n\n"
        "async def complete(prompt):\n    return await asyncio.wait_for(litellm.acompletion(model='m', messages=[prompt]), timeout=settings.LLM_TIMEOUT)\n"
    )
    assert report.after is not None and not [f for r in report.after.files for f in r.findings]


@pytest.mark.parametrize(
    "expression",
    ["", "0", "-5", "True", "'60'", "lambda: 3", "x if y else z", "settings.X(1)", "await t", "a\nb", "(", "[60]", "f()()"],
)
def test_bad_timeout_expressions_are_config_errors(expression: str) -> None:
    for rule in ("llm-call-without-deadline", "unbounded-fan-out", "background-task-without-deadline"):
        with pytest.raises(ConfigError, match=f"rules.{rule}: timeout-expression"):
            settings_from_table({"rules": {rule: {"timeout-expression": expression}}}, "pyproject.toml")


@pytest.mark.parametrize("expression", ["60", "2.5", "settings.LLM_TIMEOUT", "get_settings().llm_timeout", "settings.T * 2", "BASE + 10"])
def test_good_timeout_expressions(expression: str) -> None:
    settings_from_table({"rules": {"unbounded-fan-out": {"timeout-expression": expression}}}, "pyproject.toml")


def test_cli_exits_2_on_a_bad_timeout_expression(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.sightlint.rules.llm-call-without-deadline]\ntimeout-expression = "lambda: 60"\n', encoding="utf-8"
    )
    (tmp_path / "a.py").write_text("x = 1\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "sightlint", "fix", "--unsafe-fixes", "."], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert "timeout-expression" in done.stderr and "Lambda" in done.stderr


def test_sl601_size_option_and_validation() -> None:
    with pytest.raises(ConfigError, match="max-concurrent-sessions"):
        settings_from_table({"rules": {"session-per-task-unbounded": {"max-concurrent-sessions": 0}}}, "pyproject.toml")
    settings = settings_from_table(
        {"select": ["SL601"], "rules": {"session-per-task-unbounded": {"max-concurrent-sessions": 2}}}, "pyproject.toml"
    )
    code = (
        "import asyncio\nfrom app.db import AsyncSessionLocal\n\n"
        "async def one(x):\n    async with AsyncSessionLocal() as s:\n        await s.execute(x)\n\n"
        "async def run(xs):\n    await asyncio.gather(*[one(x) for x in xs])\n"
    )
    new = _fix(code, settings)
    assert "_db_slots = asyncio.Semaphore(2)\n" in new and "async with _db_slots, AsyncSessionLocal() as s:" in new


def test_sl601_no_fix_in_tests_or_for_sessions_held_together() -> None:
    code = (
        "import asyncio\nfrom app.db import AsyncSessionLocal\n\n"
        "async def one(x):\n    async with AsyncSessionLocal() as s:\n        await s.execute(x)\n\n"
        "async def run(xs):\n    await asyncio.gather(*[one(x) for x in xs])\n"
    )
    assert _findings("SL601", code, Settings(select=("SL601",)), "tests/test_pool.py") == []  # tests: not reported
    from sightlint.rules.session_per_task_unbounded import SessionSlotsOptions

    in_tests = Settings(select=("SL601",), rule_options={"session-per-task-unbounded": SessionSlotsOptions(tests=True)})
    (found,) = _findings("SL601", code, in_tests, "tests/test_pool.py")  # reported when configured: still no fix
    assert found.fix_safety is FixSafety.NONE
    # One task opens a second session through a helper while the first is open.
    code = (
        "import asyncio\nfrom app.db import AsyncSessionLocal\n\n"
        "async def save(x):\n    async with AsyncSessionLocal() as s:\n        s.add(x)\n\n"
        "async def one(x):\n    async with AsyncSessionLocal() as s:\n        await save(await s.get(x))\n\n"
        "async def run(xs):\n    await asyncio.gather(*[one(x) for x in xs])\n"
    )
    found = _findings("SL601", code, Settings(select=("SL601",)))
    assert len(found) == 2 and all(f.fix_safety is FixSafety.NONE for f in found)


def test_fresh_names_shadow_nothing() -> None:
    code = dedent("""\
        import asyncio
        from langchain_openai import ChatOpenAI

        task = None
        _background_tasks = []

        async def work():
            await ChatOpenAI().ainvoke("x")

        async def start(background_task):
            asyncio.create_task(work())
        """)
    new = _fix(code, Settings(select=("SL403",)))
    assert "    bg_task = asyncio.create_task(asyncio.wait_for(work(), timeout=300))\n" in new
    assert "_running_tasks: set[asyncio.Task[object]] = set()\n" in new
    assert "    _running_tasks.add(bg_task)\n    bg_task.add_done_callback(_running_tasks.discard)\n" in new
    ast.parse(new)


@pytest.mark.parametrize(
    ("literal", "fixed"),
    [
        ('"gemini-embedding-001"', '"models/gemini-embedding-001"'),
        ("'embedding-001'", "'models/embedding-001'"),
        ('r"text-embedding-004"', 'r"models/text-embedding-004"'),
        ('u"text-embedding-004"', 'u"models/text-embedding-004"'),
        ('"""embedding-001"""', '"""models/embedding-001"""'),
        ('"gemini-" "embedding-001"', '"models/gemini-" "embedding-001"'),
        ('f"gemini-embedding-{v}"', 'f"models/gemini-embedding-{v}"'),
        ('f"{v}-embedding"', None),
        ('b"embedding-001"', None),
        ('"x/embedding-001"', None),
    ],
)
def test_sl404_prefix_keeps_the_literal_style(literal: str, fixed: str | None) -> None:
    import libcst as cst

    from sightlint.registry import lookup

    entry = lookup("SL404")
    assert entry is not None and entry.rule is not None
    module = sys.modules[entry.rule.__module__]
    new = module._prefixed(cst.parse_expression(literal))
    assert (None if new is None else cst.Module([]).code_for_node(new)) == fixed


def test_timeout_root_made_as_the_project_makes_it(tmp_path: Path) -> None:
    """`settings = get_settings()` after `from app.core.config import get_settings` (the replica's way)."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\nrequires-python = ">=3.10"\n'
        '[tool.sightlint]\nselect = ["SL403"]\n'
        '[tool.sightlint.rules.background-task-without-deadline]\ntimeout-expression = "settings.JOB_TIMEOUT"\n',
        encoding="utf-8",
    )
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("", encoding="utf-8")
    (app / "config.py").write_text("def get_settings():\n    return None\n", encoding="utf-8")
    for name in ("a", "b"):
        (app / f"{name}.py").write_text("from app.config import get_settings\n\nsettings = get_settings()\n", encoding="utf-8")
    (app / "jobs.py").write_text(
        "import asyncio\n\nimport litellm\n\nkeep = set()\n\n\nasync def job(p):\n    await litellm.acompletion(model='m', messages=[p])\n\n\n"
        "async def start(p):\n    keep.add(asyncio.create_task(job(p)))\n",
        encoding="utf-8",
    )
    from sightlint.config import load

    settings = load(tmp_path / "pyproject.toml", [tmp_path])
    fix_paths([tmp_path], settings, unsafe=True, use_cache=False)
    text = (app / "jobs.py").read_text(encoding="utf-8")
    assert "import litellm\n\nfrom app.config import get_settings\n" in text
    assert "\nsettings = get_settings()\n" in text
    assert "keep.add(asyncio.create_task(asyncio.wait_for(job(p), timeout=settings.JOB_TIMEOUT)))" in text


def test_deadline_never_shorter_than_the_clients_own_timeout() -> None:
    code = dedent("""\
        from langchain_openai import ChatOpenAI

        async def plan(prompt):
            llm = ChatOpenAI(model="gpt-4o", timeout=120)
            return await llm.ainvoke(prompt)

        async def name(prompt):
            llm = ChatOpenAI(model="gpt-4o-mini", timeout=10)
            return await llm.ainvoke(prompt)
        """)
    new = _fix(code, Settings(select=("SL401",)))
    assert "return await asyncio.wait_for(llm.ainvoke(prompt), timeout=120)" in new
    assert "return await asyncio.wait_for(llm.ainvoke(prompt), timeout=60)" in new


def test_no_plain_number_for_a_client_whose_timeout_comes_from_configuration() -> None:
    code = dedent("""\
        import asyncio
        from app.config import settings
        from langchain_openai import ChatOpenAI

        async def plan(prompt, params):
            llm = ChatOpenAI(**params)
            return await llm.ainvoke(prompt)

        async def plan_all(prompts, params):
            return await asyncio.gather(*(plan(p, params) for p in prompts))
        """)
    plain = Settings(select=("SL401", "SL402"))
    assert {f.code: f.fix_safety for f in _findings("", code, plain)} == {"SL401": FixSafety.NONE, "SL402": FixSafety.NONE}
    assert _fix(code, plain) == code
    chosen = settings_from_table(
        {
            "select": ["SL401", "SL402"],
            "rules": {"llm-call-without-deadline": {"timeout-expression": "settings.LLM_TIMEOUT"}},
        },
        "pyproject.toml",
    )
    new = _fix(code, chosen)
    assert "return await asyncio.wait_for(llm.ainvoke(prompt), timeout=settings.LLM_TIMEOUT)" in new
    assert "return await asyncio.gather(" in new  # the fan-out is bounded through its branches
    # A number the user wrote is a choice too.
    number = settings_from_table(
        {"select": ["SL401"], "rules": {"llm-call-without-deadline": {"timeout-expression": "120"}}}, "pyproject.toml"
    )
    assert "return await asyncio.wait_for(llm.ainvoke(prompt), timeout=120)" in _fix(code, number)


def test_a_statement_alone_in_an_elif_branch_is_fixed() -> None:
    """The fixer parses the statement around the fixed one: an `elif` branch is not one."""
    code = dedent("""\
        import asyncio

        async def tick():
            await asyncio.sleep(1)

        async def handler(kind):
            if kind == "a":
                asyncio.ensure_future(tick())
            elif kind == "b":
                asyncio.ensure_future(tick())
        """)
    new = _fix(code, Settings(select=("SL403",)))
    assert new.count("_background_tasks.add(task)") == 2


def test_only_awaited_calls_get_a_deadline() -> None:
    """A non-awaited call keeps its value: no `wait_for` coroutine in place of a sync result or a future."""
    code = dedent("""\
        import asyncio
        from langchain_openai import ChatOpenAI

        async def one(q):
            return await ChatOpenAI().ainvoke(q)

        async def many(qs):
            pending = asyncio.gather(*(one(q) for q in qs))
            try:
                return await pending
            finally:
                pending.cancel()

        async def handed_on(q):
            coros = [ChatOpenAI().ainvoke(q)]
            return await asyncio.wait_for(coros[0], 5)
        """)
    new = _fix(code, Settings(select=("SL401", "SL402")))
    assert "pending = asyncio.gather(*(one(q) for q in qs))" in new
    assert "coros = [ChatOpenAI().ainvoke(q)]" in new


def test_calls_that_may_return_a_stream_get_no_deadline() -> None:
    code = dedent("""\
        from openai import AsyncOpenAI

        class Agent:
            def __init__(self):
                self.client = AsyncOpenAI()

            async def reply(self, request):
                out = await self.client.chat.completions.create(**request)
                return out

            async def reply_streaming(self, request):
                stream = await self.client.chat.completions.create(**request)
                return stream

            async def stream_async(self, request):
                return await self.client.chat.completions.create(**request)
        """)
    new = _fix(code, Settings(select=("SL401",), target_version="py312"))
    assert new.count("asyncio.timeout(60)") == 1
    assert "        async with asyncio.timeout(60):\n            out = await" in new
