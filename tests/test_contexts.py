"""Where code runs: the context of each entry point (request, startup, background, thread,
script, test), carried along call chains, with a shortest chain that shows why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sightlint import api, engine
from sightlint.files import module_name
from sightlint.project.contexts import RunsIn, where_code_runs
from sightlint.project.model import ProjectModel
from sightlint.settings import Settings

REPLICA = Path(__file__).resolve().parent.parent / "fixtures" / "sight_app"


def project(files: dict[str, str]) -> tuple[ProjectModel, RunsIn]:
    summaries = []
    for path, code in files.items():
        module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        result = engine.check_source(code, path, Settings(), module=module, rules=[], summarize=True)
        assert result.summary is not None, result.findings
        summaries.append(result.summary)
    model = ProjectModel(summaries)
    return model, where_code_runs(model)


def hops(runs: RunsIn, fid: str, context: str) -> list[tuple[str, str, str]] | None:
    """The chain as (source, target, edge kind) hops."""
    chain = runs.chain(fid, context)
    return None if chain is None else [(e.source, e.target, e.kind) for e in chain]


def test_async_route_handlers_serve_requests_and_sync_ones_run_in_the_threadpool() -> None:
    m, runs = project(
        {
            "app/routers.py": "from fastapi import APIRouter\nrouter = APIRouter()\n",
            "app/views.py": (
                "from fastapi import FastAPI\n"
                "from app.routers import router\n"
                "app = FastAPI()\n"
                "def render():\n"
                "    pass\n"
                "@app.get('/a')\n"
                "async def a():\n"
                "    render()\n"
                "@router.post('/b')\n"
                "def b():\n"
                "    render()\n"
                "@app.websocket('/ws')\n"
                "async def ws(socket):\n"
                "    pass\n"
                "async def c():\n"
                "    pass\n"
                "app.add_api_route('/c', c)\n"
                "def register(application):\n"
                "    @application.get('/d')\n"
                "    async def d():\n"
                "        pass\n"
            ),
        }
    )
    assert runs.contexts("app.views.register.d") == {"request"}  # an unknown receiver: the name decides
    assert m.entries["app.views.a"] == {"request"}
    assert runs.contexts("app.views.a") == {"request"} and runs.chain("app.views.a", "request") == []
    assert runs.contexts("app.views.b") == {"thread"}  # a `def` endpoint: the router is imported
    assert runs.reachable_from_thread("app.views.b") and not runs.reached_from_request("app.views.b")
    assert runs.contexts("app.views.ws") == {"request"}
    assert runs.contexts("app.views.c") == {"request"}
    assert runs.contexts("app.views.render") == {"request", "thread"}
    assert hops(runs, "app.views.render", "request") == [("app.views.a", "app.views.render", "call")]
    assert hops(runs, "app.views.render", "thread") == [("app.views.b", "app.views.render", "call")]


def test_route_decorators_of_other_objects_are_not_routes() -> None:
    _, runs = project(
        {
            "cache.py": (
                "import flask\n"
                "class Cache:\n"
                "    def get(self, key):\n"
                "        return lambda f: f\n"
                "cache = Cache()\n"
                "web = flask.Flask(__name__)\n"
                "@cache.get('key')\n"
                "async def cached():\n"
                "    pass\n"
                "@web.route('/')\n"
                "async def flask_view():\n"
                "    pass\n"
            ),
            "unknown.py": (
                "from elsewhere import router\n"  # not in this run: the decorator's name decides
                "@router.get('/x')\n"
                "async def handler():\n"
                "    pass\n"
            ),
        }
    )
    assert runs.contexts("cache.cached") == frozenset()
    # Not a request on a shared loop: Flask runs an async view on a loop of its own in
    # the worker's thread (asgiref), which no other request shares.
    assert runs.contexts("cache.flask_view") == {"thread"}
    assert runs.contexts("unknown.handler") == {"request"}


def test_dependencies_in_other_modules_and_dependencies_of_dependencies() -> None:
    m, runs = project(
        {
            "app/db.py": "async def get_db():\n    yield 1\n",
            "app/auth.py": (
                "from typing import Annotated\n"
                "from fastapi import Depends\n"
                "from app.db import get_db\n"
                "def decode(token):\n"
                "    return token\n"
                "async def current_user(db=Depends(get_db)):\n"
                "    return decode(db)\n"
                "def settings():\n"
                "    return {}\n"
                "async def audit():\n"
                "    pass\n"
                "Settings = Annotated[dict, Depends(settings)]\n"
            ),
            "app/api.py": (
                "from typing import Annotated\n"
                "from fastapi import APIRouter, Depends, Security\n"
                "from app import auth\n"
                "router = APIRouter(dependencies=[Depends(auth.audit)])\n"
                "async def scopes():\n"
                "    pass\n"
                "@router.get('/me')\n"
                "async def me(user: Annotated[dict, Depends(auth.current_user)], s: auth.Settings, x=Security(scopes)):\n"
                "    return user\n"
            ),
        }
    )
    assert runs.contexts("app.auth.current_user") == {"request"}
    assert runs.contexts("app.db.get_db") == {"request"}  # a dependency of a dependency
    assert runs.contexts("app.auth.audit") == {"request"}  # the router's dependencies
    assert runs.contexts("app.api.scopes") == {"request"}
    assert m.entries["app.auth.settings"] == {"thread"}  # a sync dependency, via an Annotated alias
    assert hops(runs, "app.auth.decode", "request") == [("app.auth.current_user", "app.auth.decode", "call")]


def test_middleware_of_each_kind_runs_per_request() -> None:
    _, runs = project(
        {
            "mw.py": (
                "from fastapi import FastAPI\n"
                "from starlette.middleware import Middleware\n"
                "from starlette.middleware.base import BaseHTTPMiddleware\n"
                "class Timing(BaseHTTPMiddleware):\n"
                "    async def dispatch(self, request, call_next):\n"
                "        return await call_next(request)\n"
                "class RawAsgi:\n"
                "    def __init__(self, app):\n"
                "        self.app = app\n"
                "    async def __call__(self, scope, receive, send):\n"
                "        await self.app(scope, receive, send)\n"
                "class Listed:\n"
                "    async def __call__(self, scope, receive, send):\n"
                "        pass\n"
                "app = FastAPI(middleware=[Middleware(Listed)])\n"
                "app.add_middleware(RawAsgi)\n"
                "@app.middleware('http')\n"
                "async def add_header(request, call_next):\n"
                "    return await call_next(request)\n"
            )
        }
    )
    for fid in ("mw.Timing.dispatch", "mw.RawAsgi.__call__", "mw.Listed.__call__", "mw.add_header"):
        assert runs.contexts(fid) == {"request"}, fid
    assert runs.contexts("mw.RawAsgi.__init__") == frozenset()  # built once, not per request


def test_a_lifespan_in_another_module_and_startup_handlers() -> None:
    m, runs = project(
        {
            "svc/lifecycle.py": (
                "from contextlib import asynccontextmanager\n"
                "async def connect():\n"
                "    pass\n"
                "@asynccontextmanager\n"
                "async def lifespan(app):\n"
                "    await connect()\n"
                "    yield\n"
            ),
            "svc/main.py": (
                "from fastapi import FastAPI\n"
                "from starlette.applications import Starlette\n"
                "from svc.lifecycle import lifespan\n"
                "def warm():\n"
                "    pass\n"
                "def create_app():\n"
                "    return FastAPI(lifespan=lifespan)\n"
                "other = Starlette(on_startup=[warm])\n"
                "app = create_app()\n"
                "@app.on_event('startup')\n"
                "async def hello():\n"
                "    pass\n"
                "@app.on_event('shutdown')\n"
                "def bye():\n"
                "    pass\n"
                "async def flush():\n"
                "    pass\n"
                "app.add_event_handler('shutdown', flush)\n"
            ),
        }
    )
    assert runs.contexts("svc.lifecycle.lifespan") == {"startup"}
    assert hops(runs, "svc.lifecycle.connect", "startup") == [("svc.lifecycle.lifespan", "svc.lifecycle.connect", "call")]
    assert not runs.reached_from_request("svc.lifecycle.connect")
    # Sync startup and shutdown handlers run on the loop, not in a thread.
    for fid in ("svc.main.warm", "svc.main.hello", "svc.main.bye", "svc.main.flush"):
        assert m.entries[fid] == {"startup"}, fid


def test_tasks_started_from_a_request_run_in_the_background() -> None:
    _, runs = project(
        {
            "jobs.py": (
                "import asyncio\n"
                "async def step():\n"
                "    pass\n"
                "async def job():\n"
                "    await step()\n"
                "async def poll():\n"
                "    pass\n"
            ),
            "api.py": (
                "import asyncio\n"
                "from fastapi import FastAPI\n"
                "from jobs import job, poll\n"
                "app = FastAPI()\n"
                "@app.post('/run')\n"
                "async def run():\n"
                "    task = asyncio.create_task(job())\n"
                "    async with asyncio.TaskGroup() as tg:\n"
                "        tg.create_task(poll())\n"
                "    return task\n"
            ),
        }
    )
    assert runs.contexts("jobs.job") == {"background"}  # not "request": it is not awaited there
    assert hops(runs, "jobs.step", "background") == [("api.run", "jobs.job", "background"), ("jobs.job", "jobs.step", "call")]
    assert runs.contexts("jobs.poll") == {"background"}
    chain = runs.chain("jobs.job", "background")
    assert chain is not None and chain[0].via == "passed to asyncio.create_task" and chain[0].line == 7


def test_tasks_a_test_or_a_script_starts_stay_in_the_test_or_script() -> None:
    # private-gpt: a test runs the chat engine, whose `run` starts its loop as a task; that
    # task serves nothing, so it is no background task of the service.
    _, runs = project(
        {
            "engine.py": (
                "import asyncio\n"
                "async def render():\n"
                "    pass\n"
                "class Engine:\n"
                "    async def run(self):\n"
                "        await asyncio.create_task(self._loop())\n"
                "    async def _loop(self):\n"
                "        await render()\n"
            ),
            "tests/test_engine.py": (
                "from engine import Engine\n"
                "async def test_run():\n"
                "    await Engine().run()\n"
            ),
            "cli.py": (
                "import asyncio\n"
                "from engine import render\n"
                "async def main():\n"
                "    asyncio.create_task(render())\n"
                "if __name__ == '__main__':\n"
                "    asyncio.run(main())\n"
            ),
        }
    )
    assert runs.contexts("engine.Engine._loop") == {"test"}
    assert runs.contexts("engine.render") == {"test", "script"}
    assert "background" not in runs.contexts("engine.render")


def test_background_tasks_run_async_functions_on_the_loop_and_sync_ones_in_a_thread() -> None:
    _, runs = project(
        {
            "bg.py": (
                "from fastapi import BackgroundTasks, FastAPI\n"
                "app = FastAPI()\n"
                "def send_mail():\n"
                "    pass\n"
                "async def notify():\n"
                "    pass\n"
                "@app.post('/signup')\n"
                "async def signup(tasks: BackgroundTasks):\n"
                "    tasks.add_task(send_mail)\n"
                "    tasks.add_task(notify)\n"
            )
        }
    )
    assert runs.contexts("bg.send_mail") == {"thread"}
    assert hops(runs, "bg.send_mail", "thread") == [("bg.signup", "bg.send_mail", "thread")]
    assert runs.contexts("bg.notify") == {"background"}


def test_work_handed_to_threads_runs_in_a_thread() -> None:
    m, runs = project(
        {
            "th.py": (
                "import asyncio, functools, threading\n"
                "from concurrent.futures import ThreadPoolExecutor\n"
                "pool = ThreadPoolExecutor()\n"
                "def a():\n"
                "    pass\n"
                "def b():\n"
                "    pass\n"
                "def c(x):\n"
                "    pass\n"
                "def d():\n"
                "    pass\n"
                "def e():\n"
                "    pass\n"
                "class Worker(threading.Thread):\n"
                "    def run(self):\n"
                "        pass\n"
                "async def main():\n"
                "    await asyncio.to_thread(a)\n"
                "    await asyncio.get_running_loop().run_in_executor(None, b)\n"
                "    threading.Thread(target=functools.partial(c, 1)).start()\n"
                "    pool.submit(d)\n"
                "    e()\n"
                "asyncio.run(main())\n"
            )
        }
    )
    for fid in ("th.a", "th.b", "th.c", "th.d"):
        assert runs.contexts(fid) == {"thread"}, fid
        assert hops(runs, fid, "thread") == [("th.main", fid, "thread")]
    assert runs.contexts("th.e") == {"script"}  # called, not handed over
    assert m.entries["th.Worker.run"] == {"thread"}
    assert runs.chain("th.a", "script") is None


def test_scripts_run_from_main_guards_and_cli_commands() -> None:
    m, runs = project(
        {
            "tool.py": (
                "import asyncio\n"
                "async def amain():\n"
                "    pass\n"
                "def main():\n"
                "    asyncio.run(amain())\n"
                "def imported_only():\n"
                "    pass\n"
                "imported_only()\n"
                "if __name__ == '__main__':\n"
                "    main()\n"
            ),
            "direct.py": (
                "import asyncio\n"
                "async def go():\n"
                "    pass\n"
                "if __name__ == '__main__':\n"
                "    asyncio.run(go())\n"
            ),
            "cli.py": (
                "import click, typer\n"
                "app = typer.Typer()\n"
                "@click.group()\n"
                "def cli():\n"
                "    pass\n"
                "@cli.command()\n"
                "def sync_db():\n"
                "    pass\n"
                "@click.command()\n"
                "def export():\n"
                "    pass\n"
                "@app.command()\n"
                "def serve():\n"
                "    pass\n"
            ),
        }
    )
    assert runs.contexts("tool.main") == {"script"}
    assert hops(runs, "tool.amain", "script") == [("tool.main", "tool.amain", "call")]
    assert runs.contexts("tool.imported_only") == frozenset()  # runs on import, not as the script
    assert runs.contexts("direct.go") == {"script"}
    for fid in ("cli.cli", "cli.sync_db", "cli.export", "cli.serve"):
        assert m.entries[fid] == {"script"}, fid


def test_pytest_tests_and_fixtures_but_not_lookalikes() -> None:
    _, runs = project(
        {
            "tests/conftest.py": (
                "import pytest, pytest_asyncio\n"
                "@pytest.fixture\n"
                "def client():\n"
                "    pass\n"
                "@pytest_asyncio.fixture(scope='session')\n"
                "async def db():\n"
                "    pass\n"
            ),
            "pkg/test_api.py": (
                "def helper():\n"
                "    pass\n"
                "async def test_get():\n"
                "    helper()\n"
                "    def test_inner():\n"
                "        pass\n"
                "class TestUsers:\n"
                "    def test_list(self):\n"
                "        pass\n"
                "class Users:\n"
                "    def test_list(self):\n"
                "        pass\n"
            ),
            "pkg/service.py": "def test_connection():\n    pass\n",
        }
    )
    for fid in ("tests.conftest.client", "tests.conftest.db", "pkg.test_api.test_get", "pkg.test_api.TestUsers.test_list"):
        assert runs.contexts(fid) == {"test"}, fid
    assert hops(runs, "pkg.test_api.helper", "test") == [("pkg.test_api.test_get", "pkg.test_api.helper", "call")]
    assert runs.contexts("pkg.test_api.test_get.test_inner") == frozenset()  # nested: pytest does not collect it
    assert runs.contexts("pkg.test_api.Users.test_list") == frozenset()  # not a Test* class
    assert runs.contexts("pkg.service.test_connection") == frozenset()  # not a test module


def test_a_helper_reached_from_a_request_and_from_startup_has_both_contexts() -> None:
    _, runs = project(
        {
            "shared.py": (
                "def load_config():\n"
                "    pass\n"
                "def cached_config():\n"
                "    return load_config()\n"
            ),
            "main.py": (
                "from contextlib import asynccontextmanager\n"
                "from fastapi import FastAPI\n"
                "from shared import cached_config, load_config\n"
                "@asynccontextmanager\n"
                "async def lifespan(app):\n"
                "    load_config()\n"
                "    yield\n"
                "app = FastAPI(lifespan=lifespan)\n"
                "@app.get('/config')\n"
                "async def config():\n"
                "    return cached_config()\n"
            ),
        }
    )
    assert runs.contexts("shared.load_config") == {"request", "startup"}
    assert runs.reached_from_request("shared.load_config") and not runs.reachable_from_thread("shared.load_config")
    assert hops(runs, "shared.load_config", "startup") == [("main.lifespan", "shared.load_config", "call")]
    assert hops(runs, "shared.load_config", "request") == [
        ("main.config", "shared.cached_config", "call"),
        ("shared.cached_config", "shared.load_config", "call"),
    ]
    assert runs.contexts("shared.cached_config") == {"request"}


def test_the_analysis_is_computed_once_per_graph() -> None:
    model, runs = project({"a.py": "async def f():\n    pass\n"})
    assert where_code_runs(model) is runs
    assert runs.contexts("a.f") == frozenset() and runs.chain("a.f", "request") is None


HANDOFFS = (
    "import asyncio, threading, time\n"
    "def blocking():\n"
    "    time.sleep(1)\n"
    "def on_loop():\n"
    "    time.sleep(1)\n"
    "async def handler():\n"
    "    threading.Thread(target=blocking).start()\n"
    "    asyncio.get_running_loop().call_soon(on_loop)\n"
)


def test_sl101_follows_tasks_and_loop_callbacks_but_not_threads() -> None:
    run = api.check_sources({"app.py": HANDOFFS}, Settings(select=("SL101",)))
    findings = [f for result in run.files for f in result.findings]
    assert [(f.line, f.message, f.severity.label) for f in findings] == [
        (5, "`time.sleep` (sleep) blocks the event loop in a background task.", "critical")
    ]


def test_edge_kinds_survive_the_cached_call_graph(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "app.py").write_text(HANDOFFS)
    found = []
    for use_cache in (False, True, True):  # uncached, cold (records built), warm (records read)
        result = api.check_paths([root], Settings(select=("SL101",)), cwd=root, jobs=1, cache_dir=tmp_path / "c", use_cache=use_cache)
        assert not result.errors and not result.internal_errors
        found.append([f.line for f in result.findings])
    assert found == [[5], [5], [5]]


def test_the_replica_lifespan_is_startup_and_its_routes_serve_requests() -> None:
    summaries = []
    for path in sorted(REPLICA.rglob("*.py")):
        display = path.relative_to(REPLICA).as_posix()
        result = engine.check_source(path.read_text(encoding="utf-8"), display, Settings(), module=module_name(path), rules=[], summarize=True)
        assert result.summary is not None
        summaries.append(result.summary)
    model = ProjectModel(summaries)
    runs = where_code_runs(model)
    assert runs.contexts("app.main.lifespan") == {"startup"}
    assert hops(runs, "app.core.redis.get_redis_client", "startup") == [("app.main.lifespan", "app.core.redis.get_redis_client", "call")]
    # Cloud Run's startup probe is an HTTP route like the others: it is served on the loop.
    for fid in ("app.main.health_check", "app.main.readiness_probe", "app.main.startup_probe", "app.api.personas.generate_personas"):
        assert runs.contexts(fid) == {"request"}, fid
    # A helper named test_* in application code is not a test.
    assert runs.contexts("app.main.startup_probe.test_neo4j_connection") == {"request"}
    assert runs.contexts("app.api.dependencies.get_current_user") == {"request"}
    assert runs.contexts("app.db.session.get_db") == {"request"}
    assert hops(runs, "app.api.personas._generate_personas_task", "background") == [
        ("app.api.personas.generate_personas", "app.api.personas._generate_personas_task", "background")
    ]
    search = "app.services.rag.rag_hybrid_search_service.PolishSocietyRAG.hybrid_search._search"
    assert runs.contexts(search) == {"thread"}
    chain = runs.chain(search, "thread")
    assert chain is not None and chain[-1].kind == "thread"
    # From a route: the batch job's starter, or the preview endpoint that writes one persona inline.
    assert chain[0].source in ("app.api.personas.generate_personas", "app.api.personas.preview_persona")


def test_sl102_does_not_count_blocking_work_handed_to_a_thread() -> None:
    code = (
        "import asyncio, threading, time\n"
        "def blocking():\n"
        "    time.sleep(1)\n"
        "async def start_thread():\n"
        "    threading.Thread(target=blocking).start()\n"
        "async def start_inline():\n"
        "    blocking()\n"
        "async def main():\n"
        "    await asyncio.wait_for(start_thread(), 1)\n"
        "    await asyncio.wait_for(start_inline(), 1)\n"
    )
    run = api.check_sources({"app.py": code}, Settings(select=("SL102",)))
    assert [f.line for result in run.files for f in result.findings] == [10]


def test_the_cached_graph_knows_where_code_runs_as_the_model_does(tmp_path: Path) -> None:
    """Rules get a Graph built from module records, fresh or cached: its entries and edge
    kinds give the same contexts and chains as the full model, also after an edit."""
    import shutil

    from sightlint import runner
    from sightlint.cache import Cache
    from sightlint.files import discover
    from sightlint.incremental import call_graph
    from sightlint.project.graph import Graph, ModelNeeds

    root = tmp_path / "app"
    shutil.copytree(REPLICA, root)
    settings = Settings(select=("SL101",))
    rules = list(api.enabled_rules(settings))

    def graphs() -> tuple[Graph, Graph]:
        files = discover([root], settings, cwd=root).files
        cache = Cache(tmp_path / "cache", settings, variant="summaries")
        digests = runner.contents(files)
        results = runner.check_files(files, settings, rules=rules, jobs=1, cache=cache, summarize=True, digests=digests)
        cached = call_graph(results, ModelNeeds(), cache=cache, digests=digests)
        model = ProjectModel(s for r in runner.check_files(files, settings, rules=rules, jobs=1, summarize=True) if (s := r.summary) is not None)
        return cached, Graph.of(model, ModelNeeds())

    def table(runs: RunsIn, graph_functions: list[str]) -> dict[str, Any]:
        return {
            fid: (runs.contexts(fid), {c: hops(runs, fid, c) for c in sorted(runs.contexts(fid))}) for fid in graph_functions
        }

    for edit in (None, "app/core/redis.py"):
        if edit is not None:
            path = root / edit
            path.write_text(path.read_text(encoding="utf-8") + "\n\ndef added_later():\n    return 1\n", encoding="utf-8")
        for _ in range(2):  # cold or after the edit, then warm
            cached, fresh = graphs()
            functions = sorted(fresh.functions)
            assert functions == sorted(cached.functions)
            assert cached.entries == fresh.entries
            assert table(where_code_runs(cached), functions) == table(where_code_runs(fresh), functions)
            assert where_code_runs(cached).contexts("app.main.lifespan") == {"startup"}


def test_mock_patch_decorators_are_not_routes() -> None:
    """``@patch(...)`` is unittest.mock's, not a PATCH route (seen on letta, dispatch and
    chat-langchain: their patched tests were taken for request handlers)."""
    _, runs = project(
        {
            "tests/test_jobs.py": (
                "from unittest.mock import patch\n"
                "from unittest import mock\n"
                "import mock as mock_backport\n"
                "@patch('app.jobs.run')\n"
                "async def test_run(run):\n"
                "    pass\n"
                "@mock.patch('app.jobs.run')\n"
                "def test_sync(run):\n"
                "    pass\n"
                "@mock_backport.patch('app.jobs.run')\n"
                "def test_backport(run):\n"
                "    pass\n"
            ),
            "app/routes.py": (
                "from app.routers import router\n"  # a router module outside the run: the name decides
                "@router.patch('/items')\n"
                "async def update():\n"
                "    pass\n"
            ),
        }
    )
    for fid in ("tests.test_jobs.test_run", "tests.test_jobs.test_sync", "tests.test_jobs.test_backport"):
        assert runs.contexts(fid) == {"test"}, fid
    assert runs.contexts("app.routes.update") == {"request"}


def test_python_socketio_async_server_handlers_serve_requests_on_the_loop() -> None:
    # python-socketio's AsyncServer awaits a coroutine handler and calls a plain one on the
    # loop (AsyncServer._trigger_event); the sync Server, a client, or any other object's
    # `on`/`event` registers nothing sightlint can place.
    model, runs = project(
        {
            "app/server.py": (
                "import socketio\n"
                "from socketio import AsyncServer\n"
                "sio = socketio.AsyncServer(async_mode='asgi')\n"
                "other = AsyncServer()\n"
                "class Server(socketio.AsyncServer):\n"
                "    pass\n"
                "own = Server()\n"
                "threaded = socketio.Server()\n"
                "client = socketio.AsyncClient()\n"
                "class Bus:\n"
                "    def on(self, event):\n"
                "        return lambda f: f\n"
                "bus = Bus()\n"
            ),
            "app/events.py": (
                "from app.server import sio, other, own, threaded, client, bus\n"
                "from elsewhere import unknown\n"
                "@sio.on('connect')\n"
                "async def connect(sid, environ):\n"
                "    pass\n"
                "@sio.on('ping')\n"
                "def ping(sid):\n"
                "    pass\n"
                "@other.event\n"
                "async def message(sid, data):\n"
                "    pass\n"
                "@own.on('join')\n"
                "async def join(sid):\n"
                "    pass\n"
                "@threaded.on('x')\n"
                "def x(sid):\n"
                "    pass\n"
                "@client.on('y')\n"
                "async def y(data):\n"
                "    pass\n"
                "@bus.on('z')\n"
                "async def z():\n"
                "    pass\n"
                "@unknown.on('w')\n"
                "async def w():\n"
                "    pass\n"
                "@sio.off('v')\n"
                "async def v():\n"
                "    pass\n"
            ),
        }
    )
    for name in ("connect", "ping", "message", "join"):
        assert runs.contexts(f"app.events.{name}") == {"request"}, name
    for name in ("x", "y", "z", "w", "v"):
        assert runs.contexts(f"app.events.{name}") == frozenset(), name


def test_an_app_a_test_module_builds_serves_only_the_test_client() -> None:
    # skyvern: a test module builds an app with a route and middleware around production
    # code; what they reach runs under the test, not for production requests. The same
    # production function served by the service's own app is still a request.
    _, runs = project(
        {
            "auth.py": (
                "import hashlib\n"
                "async def validate(key):\n"
                "    return hashlib.pbkdf2_hmac('sha256', key, b's', 100000)\n"
                "async def unused_in_service(key):\n"
                "    return await validate(key)\n"
            ),
            "tests/unit/test_auth.py": (
                "from fastapi import FastAPI\n"
                "from auth import unused_in_service\n"
                "app = FastAPI()\n"
                "@app.get('/session')\n"
                "async def session_endpoint(key: str):\n"
                "    return await unused_in_service(key)\n"
                "@app.middleware('http')\n"
                "async def check(request, call_next):\n"
                "    return await call_next(request)\n"
            ),
            "service.py": (
                "from fastapi import FastAPI\n"
                "from auth import validate\n"
                "app = FastAPI()\n"
                "@app.get('/login')\n"
                "async def login(key: str):\n"
                "    return await validate(key)\n"
            ),
        }
    )
    assert runs.contexts("tests.unit.test_auth.session_endpoint") == {"test"}
    assert runs.contexts("tests.unit.test_auth.check") == {"test"}
    assert runs.contexts("auth.unused_in_service") == {"test"}
    assert runs.contexts("auth.validate") == {"test", "request"}
    assert runs.contexts("service.login") == {"request"}
