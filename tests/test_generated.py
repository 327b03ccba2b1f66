"""Generated programs: ``check`` never fails on them, ``fix`` output parses and is idempotent.

Two sources of programs:

* hypothesmith (as LibCST tests itself): arbitrary programs from Python's grammar and
  from LibCST's node types: odd but valid syntax nobody writes by hand;
* our own generator of realistic async-service projects: FastAPI handlers, async
  SQLAlchemy sessions, LLM calls, gather/create_task, lazy globals, blocking helpers in
  other modules, try/except shapes and random nesting, over several modules. On those, the
  findings must also be the same whatever the modules and functions are called, and the
  same with ``--jobs 1``, with a process pool and from a warm cache.

CI runs 200 examples per property; ``SIGHTLINT_FUZZ_EXAMPLES=10000`` the long run.
"""

from __future__ import annotations

import ast
import shutil
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fuzzing import budget
from sightlint import api, runner
from sightlint.fixer import fix_source
from sightlint.models import RunResult
from sightlint.settings import Settings

EVERYTHING = Settings(select=("ALL",))


def compiles(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, "gen.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def check_and_fix(text: str) -> None:
    result = api.check_source(text, "gen.py", EVERYTHING)
    assert result.errors == [], result.errors
    if not compiles(text):
        assert [f.code for f in result.findings] == ["SL000"], result.findings
        return
    assert not any(f.code == "SL000" for f in result.findings), result.findings
    outcome = fix_source(text.encode(), "gen.py", EVERYTHING, unsafe=True)
    assert outcome.status != "failed", outcome.reason
    assert not any("crashed" in why for _, why in outcome.skipped), outcome.skipped
    assert (outcome.new is None) == (outcome.status == "unchanged"), outcome
    if outcome.new is None:
        return
    assert compiles(outcome.new.decode()), outcome.new.decode()
    again = fix_source(outcome.new, "gen.py", EVERYTHING, unsafe=True)
    assert again.status == "unchanged", (outcome.new.decode(), again.new)


@budget()
@given(hypothesmith.from_grammar())
def test_programs_from_the_grammar(text: str) -> None:
    check_and_fix(text)


@budget()
@given(hypothesmith.from_node())
def test_programs_from_libcst_nodes(text: str) -> None:
    check_and_fix(text)


# -- our own generator: async services over several modules ---------------------------------

WORDS = ["user", "order", "report", "chat", "token", "graph", "cache", "answer", "item", "doc", "run", "task"]

# Statements an async handler may hold ({helper} is a function of another module).
ASYNC_STATEMENTS = [
    "result = await session.execute(select(Model))",
    "rows = (await session.scalars(select(Model))).all()",
    "time.sleep(0.1)",
    "data = requests.get(url, timeout=5).json()",
    "{helper}()",
    "value = {helper}()",
    "asyncio.create_task({coro}())",
    "task = asyncio.create_task({coro}())",
    "results = await asyncio.gather(*[{coro}() for _ in range(3)])",
    "results = await asyncio.gather({coro}(), {coro}(), return_exceptions=True)",
    "answer = llm.invoke(prompt)",
    "answer = await llm.ainvoke(prompt)",
    "stamp = datetime.utcnow()",
    "stamp = datetime.now(timezone.utc)",
    "await asyncio.sleep(0)",
    "client = {lazy}()",
    "session.add(Model())",
    "await session.commit()",
    "async with httpx.AsyncClient() as http:\n    response = await http.get(url)",
    "with open(path) as handle:\n    text = handle.read()",
    "await asyncio.wait_for({coro}(), timeout=10)",
]
SYNC_STATEMENTS = ["time.sleep(0.1)", "return 1", "data = requests.get(url).json()", "x = [i for i in range(3)]", "pass"]
HANDLERS = [
    "try:\n    {body}\nexcept Exception:\n    pass",
    "try:\n    {body}\nexcept Exception as exc:\n    logger.exception(exc)\n    raise",
    "try:\n    {body}\nexcept (ValueError, KeyError):\n    return None",
    "try:\n    {body}\nexcept BaseException:\n    raise",
    "try:\n    {body}\nfinally:\n    await session.close()",
    "if url:\n    {body}",
    "for _ in range(3):\n    {body}",
    "async with lock:\n    {body}",
    "while True:\n    {body}\n    break",
]
HEADER = """\
import asyncio
import logging
import time
from datetime import datetime, timezone

import httpx
import requests
from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger(__name__)
router = APIRouter()
lock = asyncio.Lock()
url = path = prompt = llm = Model = None
"""


@dataclass(frozen=True)
class Project:
    """Module name -> source, with the names it was generated with."""

    modules: dict[str, str]


@st.composite
def blocks(draw: st.DrawFn, helpers: list[str], coros: list[str], lazies: list[str], depth: int = 0) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        statement = draw(st.sampled_from(ASYNC_STATEMENTS))
        statement = statement.format(
            helper=draw(st.sampled_from(helpers)), coro=draw(st.sampled_from(coros)), lazy=draw(st.sampled_from(lazies))
        )
        if depth < 3 and draw(st.integers(0, 3)) == 0:
            inner = draw(blocks(helpers, coros, lazies, depth + 1))
            shape = draw(st.sampled_from(HANDLERS))
            before, _, after = shape.partition("{body}")
            statement = before + textwrap.indent(inner, "    ")[4:] + after
        lines.append(statement)
    return "\n".join(lines)


@st.composite
def projects(draw: st.DrawFn) -> Project:
    count = draw(st.integers(1, 4))
    names = [f"mod_{w}" for w in draw(st.lists(st.sampled_from(WORDS), min_size=count, max_size=count, unique=True))]
    plan: dict[str, dict[str, list[str]]] = {}
    for module in names:
        plan[module] = {
            "helpers": [f"{module[4:]}_helper_{i}" for i in range(draw(st.integers(1, 2)))],
            "coros": [f"{module[4:]}_work_{i}" for i in range(draw(st.integers(1, 2)))],
            "lazies": [f"get_{module[4:]}_client"],
        }
    modules = {}
    for module in names:
        others = [m for m in names if m != module] or [module]
        source = draw(st.sampled_from(others))
        imported = plan[source]
        helpers = imported["helpers"] + plan[module]["helpers"]
        coros = imported["coros"] + plan[module]["coros"]
        lazies = plan[module]["lazies"] + imported["lazies"]
        parts = [HEADER]
        if source != module:
            parts.append(f"from app.{source} import {', '.join(imported['helpers'] + imported['coros'] + imported['lazies'])}\n")
        for helper in plan[module]["helpers"]:
            body = draw(st.sampled_from(SYNC_STATEMENTS))
            parts.append(f"\ndef {helper}():\n    {body}\n")
        for lazy in plan[module]["lazies"]:
            var = f"_{lazy[4:]}"
            parts.append(f"\n{var} = None\n\n\ndef {lazy}():\n    global {var}\n    if {var} is None:\n"
                         f"        {var} = httpx.AsyncClient()\n    return {var}\n")  # fmt: skip
        for coro in plan[module]["coros"]:
            body = draw(blocks(helpers, coros, lazies))
            parts.append(f"\nasync def {coro}():\n{textwrap.indent(body, '    ')}\n")
        for i in range(draw(st.integers(1, 3))):
            body = draw(blocks(helpers, coros, lazies))
            route = f'@router.get("/{module[4:]}/{i}")\n'
            parts.append(f"\n{route}async def {module[4:]}_handler_{i}(session: AsyncSession = Depends()):\n"
                         f"{textwrap.indent(body, '    ')}\n")  # fmt: skip
        modules[module] = "".join(parts)
    return Project(modules)


def write(project: Project, root: Path, rename: dict[str, str] | None = None) -> None:
    if root.exists():
        shutil.rmtree(root)
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.sightlint]\n")
    (root / "app" / "__init__.py").write_text("")
    for module, text in project.modules.items():
        name = module
        if rename:
            for old, new in rename.items():
                text = text.replace(old, new)
            name = rename.get(module, module)
        (root / "app" / f"{name}.py").write_text(text)


def findings(run: RunResult) -> list[tuple[str, int, int, str]]:
    assert not run.errors and not run.internal_errors, (run.errors, run.internal_errors)
    return [(f.path, f.line, f.col, f.code) for f in run.findings]


def full(run: RunResult) -> list[str]:
    assert not run.errors and not run.internal_errors, (run.errors, run.internal_errors)
    return [f"{f.path}:{f.line}:{f.col} {f.code} {f.severity.label} {f.message} {f.related}" for f in run.findings]


@pytest.fixture()
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generated")


@budget()
@given(projects())
def test_generated_services_check_and_fix(scratch: Path, project: Project) -> None:
    for text in project.modules.values():
        assert compiles(text), text
        check_and_fix(text)
    root = scratch / "p"
    write(project, root)
    run = api.check_paths([root], EVERYTHING, cwd=root, jobs=1, use_cache=False)
    assert not run.errors and not run.internal_errors, (run.errors, run.internal_errors)


@budget()
@given(projects(), st.randoms(use_true_random=False))
def test_findings_do_not_depend_on_names(scratch: Path, project: Project, random: object) -> None:
    import random as _random

    assert isinstance(random, _random.Random)
    root, renamed = scratch / "p", scratch / "q"
    write(project, root)
    before = findings(api.check_paths([root], EVERYTHING, cwd=root, jobs=1, use_cache=False))
    # Rename every module and every function of ours (same lengths keep columns; the
    # order of modules in the folder changes too).
    stems = sorted({m[4:] for m in project.modules})
    fresh = [w for w in ("alpha", "bravo", "cobra", "delta", "eagle", "fjord", "gamma", "hotel") if w not in stems]
    random.shuffle(fresh)
    mapping = {}
    for stem, new in zip(stems, fresh):
        mapping[f"mod_{stem}"] = f"mod_{new}"
        for kind in ("_helper_", "_work_", "_handler_"):
            mapping[f"{stem}{kind}"] = f"{new}{kind}"
        mapping[f"get_{stem}_client"] = f"get_{new}_client"
        mapping[f"_{stem}_client"] = f"_{new}_client"
    ordered = dict(sorted(mapping.items(), key=lambda kv: -len(kv[0])))
    write(project, renamed, ordered)
    after = findings(api.check_paths([renamed], EVERYTHING, cwd=renamed, jobs=1, use_cache=False))
    back = {f"app/{new}.py": f"app/{old}.py" for old, new in mapping.items() if old.startswith("mod_")}
    assert sorted((back.get(p, p), line, col, code) for p, line, col, code in after) == sorted(before)


@budget()
@given(projects())
def test_jobs_and_a_warm_cache_change_nothing(scratch: Path, project: Project) -> None:
    root = scratch / "p"
    write(project, root)
    reference = full(api.check_paths([root], EVERYTHING, cwd=root, jobs=1, use_cache=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "_MIN_PARALLEL_BYTES", 0)  # small projects go through the pool too
        cache = scratch / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        # The pool with a cold cache: every file is checked by the pool (as without a cache)
        # and the results are written for the next run.
        assert full(api.check_paths([root], EVERYTHING, cwd=root, jobs=2, cache_dir=cache)) == reference  # cold
        assert full(api.check_paths([root], EVERYTHING, cwd=root, jobs=2, cache_dir=cache)) == reference  # warm
        first = sorted(project.modules)[0]
        path = root / "app" / f"{first}.py"
        path.write_text(path.read_text() + "\n# edited\n")  # one file changed: the rest from the cache
        edited = full(api.check_paths([root], EVERYTHING, cwd=root, jobs=1, use_cache=False))
        assert full(api.check_paths([root], EVERYTHING, cwd=root, jobs=1, cache_dir=cache)) == edited


def test_the_generator_makes_what_the_rules_look_for(scratch: Path) -> None:
    """The generated projects exercise the rules: across a few examples, the per-file and
    cross-file findings we expect of these shapes all appear (a generator of clean code
    would make the properties above vacuous)."""
    seen: set[str] = set()

    @budget(30)
    @given(projects())
    def collect(project: Project) -> None:
        root = scratch / "c"
        write(project, root)
        seen.update(code for _, _, _, code in findings(api.check_paths([root], EVERYTHING, cwd=root, jobs=1, use_cache=False)))

    collect()
    assert {"SL101", "SL201", "SL301"} <= seen, seen
    assert len(seen) >= 5, seen  # SL101, SL102, SL201, SL301 and SL501 when written
    ast.parse(HEADER)
