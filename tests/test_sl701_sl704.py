"""SL701 (lifespan-without-cleanup) and SL704 (expensive-endpoint-without-rate-limit) across
files: what the findings name, and that a cached run (cold, warm, after an edit) reports what
``--no-cache`` does."""

from __future__ import annotations

import shutil
from pathlib import Path

from sightlint import api
from sightlint.models import Finding
from sightlint.settings import Settings

REPLICA = Path(__file__).resolve().parent.parent / "fixtures" / "sight_app"
SETTINGS = Settings(select=("SL701", "SL704"))


def _run(root: Path, cache: Path | None) -> list[tuple[str, str, int, str]]:
    result = api.check_paths([root], SETTINGS, cwd=root, jobs=1, cache_dir=cache, use_cache=cache is not None)
    findings: list[Finding] = [f for r in result.files for f in r.findings]
    return sorted((f.code, f.path, f.line, f.message) for f in findings)


def test_cached_runs_match_uncached_ones_before_and_after_an_edit(tmp_path: Path) -> None:
    root = tmp_path / "app"
    shutil.copytree(REPLICA, root)
    cache = tmp_path / "cache"
    cold = _run(root, cache)
    assert cold == _run(root, None) == _run(root, cache)
    assert sorted((code, line) for code, _, line, _ in cold) == [("SL701", 32), ("SL704", 54), ("SL704", 67)]
    # The lifespan starts disposing the engine, and the focus-group route gets a limit.
    main = root / "app" / "main.py"
    main.write_text(main.read_text().replace("    yield\n", "    yield\n    await engine.dispose()\n", 1))
    api_module = root / "app" / "api" / "focus_groups.py"
    text = api_module.read_text()
    text = text.replace("import APIRouter, Depends, HTTPException, status", "import APIRouter, Depends, HTTPException, Request, status")
    text = text.replace("router = APIRouter()\n", "router = APIRouter()\nfrom app.api.surveys import limiter\n")
    text = text.replace(
        '@router.post("/focus-groups/{focus_group_id}/run", status_code=status.HTTP_202_ACCEPTED)\n',
        '@router.post("/focus-groups/{focus_group_id}/run", status_code=status.HTTP_202_ACCEPTED)\n@limiter.limit("2/hour")\n',
    )
    api_module.write_text(text)
    warm = _run(root, cache)
    assert warm == _run(root, None)
    assert [code for code, *_ in warm] == ["SL701", "SL704"]
    lifespan = next(message for code, _, _, message in warm if code == "SL701")
    assert "SQLAlchemy engine" not in lifespan and "Redis client `_redis_client`" in lifespan
    assert "`close_redis()` closes it but nothing calls it" in lifespan


def test_lifespan_disposing_the_engine_names_only_redis() -> None:
    files = {
        "app/db.py": "from sqlalchemy.ext.asyncio import create_async_engine\nengine = create_async_engine('postgresql+asyncpg://x')\n",
        "app/cache.py": "from redis.asyncio import Redis\nredis = Redis.from_url('redis://x')\n",
        "app/main.py": (
            "from contextlib import asynccontextmanager\nfrom fastapi import FastAPI\nfrom app.db import engine\n"
            "from app import cache  # what the routes use\n\n"
            "@asynccontextmanager\nasync def lifespan(app):\n    yield\n    await engine.dispose()\n\n"
            "app = FastAPI(lifespan=lifespan)\n"
        ),
    }
    found = [f for f in api.check_sources(files, SETTINGS).findings if f.code == "SL701"]
    assert len(found) == 1
    assert "Redis client `redis`" in found[0].message and "engine" not in found[0].message
    assert (found[0].path, found[0].line) == ("app/main.py", 7)
    # A module nothing of the app imports (nothing joins it to the app in the
    # module-dependency graph) is not the app's: the app never creates its client.
    files["app/main.py"] = files["app/main.py"].replace("from app import cache  # what the routes use\n", "")
    assert [f for f in api.check_sources(files, SETTINGS).findings if f.code == "SL701"] == []


def test_shutdown_handler_next_to_a_lifespan_never_runs() -> None:
    code = (
        "from contextlib import asynccontextmanager\nfrom fastapi import FastAPI\n\n"
        "@asynccontextmanager\nasync def lifespan(app):\n    yield\n\n"
        "app = FastAPI(lifespan=lifespan)\n\n"
        "@app.on_event('shutdown')\nasync def bye():\n    pass\n"
    )
    found = [f for f in api.check_sources({"main.py": code}, SETTINGS).findings if f.code == "SL701"]
    assert [(f.line, "never runs" in f.message and "lifespan=lifespan" in f.message) for f in found] == [(11, True)]


def test_no_limiter_reports_once_per_app_at_low_naming_the_llm_routes() -> None:
    code = (
        "from fastapi import FastAPI\nfrom langchain_openai import ChatOpenAI\n\n"
        "app = FastAPI()\nllm = ChatOpenAI()\n\n"
        "@app.post('/a')\nasync def a(q: str):\n    return await llm.ainvoke(q)\n\n"
        "@app.post('/b')\nasync def b(q: str):\n    return await llm.ainvoke(q)\n\n"
        "@app.get('/c')\nasync def c():\n    return {}\n"
    )
    # With every rule on: stores other rules keep (the engine) are no rate limiter.
    code += "from sqlalchemy.ext.asyncio import create_async_engine\nengine = create_async_engine('postgresql+asyncpg://x')\n"
    found = [f for f in api.check_sources({"main.py": code}, Settings()).findings if f.code == "SL704"]
    assert len(found) == 1
    assert found[0].severity.label == "low" and found[0].line == 4
    assert "`a`, `b`" in found[0].message and "`c`" not in found[0].message
    assert [(r.line, r.message) for r in found[0].related] == [(8, "an LLM route"), (12, "an LLM route")]


def test_no_limiter_lists_a_handler_served_under_several_paths_once() -> None:
    # skyvern: `@router.post("/run/tasks")` and `@router.post("/run/tasks/", include_in_schema=False)`
    # on one handler are two routes and one place to limit.
    code = (
        "from fastapi import FastAPI\nfrom langchain_openai import ChatOpenAI\n\n"
        "app = FastAPI()\nllm = ChatOpenAI()\n\n"
        "@app.post('/a')\n@app.post('/a/', include_in_schema=False)\n@app.post('/legacy/a')\n"
        "async def a(q: str):\n    return await llm.ainvoke(q)\n\n"
        "@app.post('/b')\nasync def b(q: str):\n    return await llm.ainvoke(q)\n"
    )
    (found,) = [f for f in api.check_sources({"main.py": code}, Settings(select=("SL704",))).findings]
    assert "2 routes call an LLM: `a`, `b`" in found.message
    assert [r.line for r in found.related] == [10, 14]


def test_a_lifespan_the_model_cannot_read_reports_nothing() -> None:
    """``lifespan=make_lifespan(settings)``: its shutdown part is not known, so nothing is said."""
    code = (
        "from contextlib import asynccontextmanager\nfrom fastapi import FastAPI\n"
        "from sqlalchemy.ext.asyncio import create_async_engine\n\n"
        "engine = create_async_engine('postgresql+asyncpg://x')\n\n"
        "def make_lifespan(settings):\n    @asynccontextmanager\n    async def lifespan(app):\n"
        "        yield\n        await engine.dispose()\n    return lifespan\n\n"
        "app = FastAPI(lifespan=make_lifespan(None))\n"
    )
    assert [f for f in api.check_sources({"main.py": code}, SETTINGS).findings if f.code == "SL701"] == []


def test_a_close_method_handed_to_an_exit_stack_counts_as_closing() -> None:
    code = (
        "from contextlib import AsyncExitStack, asynccontextmanager\nfrom fastapi import FastAPI\nimport httpx\n\n"
        "client = httpx.AsyncClient()\n\n"
        "@asynccontextmanager\nasync def lifespan(app):\n    async with AsyncExitStack() as stack:\n"
        "        stack.push_async_callback(client.aclose)\n        yield\n\n"
        "app = FastAPI(lifespan=lifespan)\n"
    )
    assert [f for f in api.check_sources({"main.py": code}, SETTINGS).findings if f.code == "SL701"] == []
