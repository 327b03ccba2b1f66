"""The shared FastAPI knowledge (sightlint.semantics.fastapi) on realistic multi-router apps."""

from __future__ import annotations

import ast
import pickle
import textwrap

from sightlint import engine
from sightlint.rules.base import Rule, RuleMeta
from sightlint.semantics import fastapi as fa
from sightlint.semantics.scope import Context
from sightlint.settings import Settings


def facts(code: str, module: str = "app.main", path: str | None = None) -> fa.FastAPIModule:
    text = textwrap.dedent(code)
    path = path or module.replace(".", "/") + ".py"
    return fa.collect(Context(path, text, ast.parse(text), Settings(), module))


MAIN = """
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Depends as D
from fastapi.middleware.cors import CORSMiddleware
from slowapi.middleware import SlowAPIMiddleware

from app.api import personas
from app.api.admin import router as admin_router
from app.core.deps import verify_token
from app.db.session import engine
from app.core.redis import redis

API_V1 = "/api/v1"


@asynccontextmanager
async def lifespan(app: FastAPI):
    await redis.ping()
    try:
        yield
    finally:
        await engine.dispose()
    logging.info("bye")


app = FastAPI(title="x", lifespan=lifespan, dependencies=[D(verify_token)])
app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True)
app.add_middleware(SlowAPIMiddleware)
app.include_router(personas.router, prefix=API_V1, tags=["Personas"])
app.include_router(admin_router, prefix=f"{API_V1}/admin", dependencies=[D(verify_token)])


@app.on_event("shutdown")
async def close_redis():
    await redis.aclose()


@app.middleware("http")
async def add_header(request, call_next):
    return await call_next(request)


@app.get("/health")
async def health():
    return {"status": "ok"}
"""

PERSONAS = """
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Security
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.session import get_db
from app.core.security import get_current_user
from app.core.limits import limiter

SessionDep = Annotated[AsyncSession, Depends(get_db)]
router = APIRouter(prefix="/personas", dependencies=[Security(get_current_user, scopes=["me"])])


@router.post("/generate", status_code=202)
@limiter.limit("5/minute")
async def generate(request: Request, db: SessionDep, background_tasks: BackgroundTasks):
    background_tasks.add_task(run, db)


@limiter.limit("5/minute")
@router.get("/{pid}")
def read(pid: int, db: AsyncSession = Depends(get_db), user=Depends()):
    return pid


async def remove(pid: int, db: Annotated[AsyncSession, Depends(get_db)] | None = None):
    return None


router.add_api_route("/{pid}", remove, methods=["DELETE"])
"""


def test_app_lifespan_middleware_events_and_inclusions() -> None:
    main = facts(MAIN)
    (app,) = main.apps
    assert (app.name, app.qualified, app.kind) == ("app", "app.main.app", "app")
    assert app.lifespan == "app.main.lifespan"
    assert [d.target for d in app.dependencies] == ["verify_token"]
    assert app.dependencies[0].qualified == "app.core.deps.verify_token"
    assert [(m.target, m.how) for m in main.middleware] == [
        ("fastapi.middleware.cors.CORSMiddleware", "add_middleware"),
        ("slowapi.middleware.SlowAPIMiddleware", "add_middleware"),
        ("app.main.add_header", "decorator"),
    ]
    assert main.middleware[0].keywords == ("allow_origins", "allow_credentials")
    # Inclusions name the router through the imports, with the prefix as text.
    assert [(i.parent, i.child, i.prefix) for i in main.inclusions] == [
        ("app.main.app", "app.api.personas.router", "/api/v1"),
        ("app.main.app", "app.api.admin.router", "/api/v1/admin"),
    ]
    assert [d.target for d in main.inclusions[1].dependencies] == ["verify_token"]
    (event,) = main.events
    assert (event.owner, event.event, event.handler, event.how) == ("app.main.app", "shutdown", "app.main.close_redis", "on_event")
    # With lifespan= given, on_event handlers never run.
    assert main.events_ignored(app) and main.events_of(app, "shutdown") == (event,)
    (life,) = main.lifespans
    assert main.lifespan_of(app) == life
    assert (life.function, life.line, life.yield_line, life.guarded) == ("app.main.lifespan", 19, 22, True)
    assert life.shutdown_lines == (24, 25)  # the finally block, then the log line after the try
    (route,) = main.routes
    assert (route.owner, route.path, route.methods, route.handler, route.full_path) == (
        "app.main.app", "/health", ("GET",), "app.main.health", "/health"
    )


def test_routes_dependencies_aliases_and_decorator_order() -> None:
    personas = facts(PERSONAS, "app.api.personas")
    (router,) = personas.apps
    assert (router.kind, router.prefix, router.qualified) == ("router", "/personas", "app.api.personas.router")
    (security,) = router.dependencies
    assert security.security and security.qualified == "app.core.security.get_current_user"
    (alias,) = personas.aliases
    assert (alias.name, alias.annotation, alias.dependency.target) == ("SessionDep", "AsyncSession", "get_db")
    generate, read, remove = personas.routes
    # Decorator stacks: the route decorator above @limiter.limit wraps the limited function.
    assert generate.decorators == ("router.post", "limiter.limit") and generate.route_index == 0
    assert read.decorators == ("limiter.limit", "router.get") and read.route_index == 1
    assert generate.wrapped_by == ("limiter.limit",) and generate.outside == ()
    assert read.wrapped_by == () and read.outside == ("limiter.limit",)
    assert generate.full_path == "/personas/generate" and generate.methods == ("POST",)
    assert [(d.param, d.target, d.qualified) for d in generate.params] == [("db", "get_db", "app.db.session.get_db")]
    assert generate.background_tasks == ("background_tasks",)
    assert [(d.param, d.target) for d in read.params] == [("db", "get_db"), ("user", "")]
    assert not read.is_async and read.background_tasks == ()
    # add_api_route: methods from methods=, the handler by name, Annotated | None unwrapped.
    assert (remove.methods, remove.handler, remove.route_index, remove.line) == (("DELETE",), "app.api.personas.remove", -1, 31)
    assert [(d.param, d.target) for d in remove.params] == [("db", "get_db")]
    assert remove.handler_line == 27 and remove.full_path == "/personas/{pid}"


def test_cross_module_prefixes() -> None:
    main, personas = facts(MAIN), facts(PERSONAS, "app.api.personas")
    admin = facts(
        """
        from fastapi import APIRouter
        from app.api.admin import users

        router = APIRouter(prefix="/ops")
        router.include_router(users.router, prefix="/users")
        """,
        "app.api.admin",
    )
    users = facts(
        """
        from fastapi import APIRouter
        router = APIRouter()

        @router.get("/ready")
        async def ready(): ...
        """,
        "app.api.admin.users",
    )
    mounts = fa.mount_prefixes([main, personas, admin, users])
    assert mounts["app.api.personas.router"] == ("/api/v1",)
    assert mounts["app.api.admin.users.router"] == ("/api/v1/admin/ops/users",)
    assert fa.full_paths(personas.routes[0], mounts) == ("/api/v1/personas/generate",)
    assert fa.full_paths(users.routes[0], mounts) == ("/api/v1/admin/ops/users/ready",)
    # Compact: module facts pickle (they go into the cached per-module summaries).
    assert pickle.loads(pickle.dumps(main)) == main


def test_app_factory_and_startup_handlers() -> None:
    found = facts(
        """
        import fastapi
        from starlette.middleware import Middleware
        from starlette.middleware.gzip import GZipMiddleware
        from app import routes

        PREFIX = "/v2"

        async def connect(): ...
        async def disconnect(): ...

        def create_app() -> fastapi.FastAPI:
            application = fastapi.FastAPI(
                on_startup=[connect], on_shutdown=[disconnect], middleware=[Middleware(GZipMiddleware, minimum_size=500)]
            )
            application.include_router(routes.api, prefix=PREFIX)
            application.add_event_handler("startup", routes.warm_up)

            @application.get("/livez")
            def live():
                return "ok"

            return application

        def build_other():
            return fastapi.FastAPI(lifespan=None)
        """
    )
    factory, other = found.apps
    assert (factory.name, factory.qualified, factory.factory, factory.lifespan) == (
        "application", "app.main.create_app.application", "app.main.create_app", None
    )
    assert (other.name, other.factory) == ("<return>", "app.main.build_other")
    assert [(e.event, e.handler, e.how) for e in found.events] == [
        ("startup", "app.main.connect", "on_startup="),
        ("shutdown", "app.main.disconnect", "on_shutdown="),
        ("startup", "app.routes.warm_up", "add_event_handler"),
    ]
    assert not found.events_ignored(factory)
    assert [(m.target, m.how, m.keywords) for m in found.middleware] == [
        ("starlette.middleware.gzip.GZipMiddleware", "middleware=", ("minimum_size",))
    ]
    assert found.inclusions[0].prefix == "/v2" and found.inclusions[0].child == "app.routes.api"
    (route,) = found.routes
    assert (route.owner, route.handler, route.path) == ("app.main.create_app.application", "app.main.create_app.live", "/livez")


def test_not_routes() -> None:
    found = facts(
        """
        from unittest import mock
        import requests_mock

        cache = {}

        @mock.patch("/x")
        def test_a(): ...

        @cache.get("key")
        def b(): ...

        @requests_mock.get("/url")
        def c(): ...

        @client.get("/users")  # a literal path on an unknown receiver still reads as a route
        def d(): ...
        """
    )
    assert [r.handler for r in found.routes] == ["app.main.d"]


def test_router_param_and_dynamic_paths() -> None:
    found = facts(
        """
        from fastapi import APIRouter
        from app.config import settings

        def register(app, prefix):
            @app.get(f"{settings.BASE}/healthz")
            async def healthz():
                return {}

            @app.api_route(prefix + "/ready", methods=["GET", "HEAD"])
            async def ready():
                return {}

        sub = APIRouter(prefix=settings.PREFIX)

        @sub.websocket("/ws")
        async def ws(websocket): ...
        """
    )
    healthz, ready, ws = found.routes
    assert healthz.path == "{settings.BASE}/healthz" and healthz.owner == "app"
    assert ready.path == "{prefix}/ready" and ready.methods == ("GET", "HEAD")
    assert ws.is_websocket and ws.full_path == "{settings.PREFIX}/ws"


def test_split_at_yield() -> None:
    tree = ast.parse(
        textwrap.dedent(
            """
            async def lifespan(app):
                a = 1
                async with make() as client:
                    b = 2
                    try:
                        state = yield {"client": client}
                        c = 3
                    except Exception:
                        d = 4
                    finally:
                        e = 5
                    f = 6
                g = 7

            async def no_yield():
                def inner():
                    yield 1
                return 2
            """
        )
    )
    lifespan, no_yield = tree.body
    assert isinstance(lifespan, ast.AsyncFunctionDef) and isinstance(no_yield, ast.AsyncFunctionDef)
    split = fa.split_at_yield(lifespan)
    assert split is not None and split.guarded
    assert [ast.unparse(s) for s in split.before] == ["a = 1", "b = 2"]
    assert [ast.unparse(s) for s in split.after] == ["c = 3", "e = 5", "f = 6", "g = 7"]
    assert split.yield_node.lineno == 7
    assert fa.split_at_yield(no_yield) is None
    # A yield in an except block still runs the try's finally; a try's else runs after its body.
    handler, orelse = ast.parse(
        textwrap.dedent(
            """
            async def handler(app):
                try:
                    connect()
                except OSError:
                    yield
                    a = 1
                finally:
                    close()

            async def orelse(app):
                try:
                    yield
                except OSError:
                    pass
                else:
                    b = 2
                c = 3
            """
        )
    ).body
    assert isinstance(handler, ast.AsyncFunctionDef) and isinstance(orelse, ast.AsyncFunctionDef)
    split = fa.split_at_yield(handler)
    assert split is not None and split.guarded
    assert [ast.unparse(s) for s in split.after] == ["a = 1", "close()"]
    split = fa.split_at_yield(orelse)
    assert split is not None and not split.guarded
    assert [ast.unparse(s) for s in split.after] == ["b = 2", "c = 3"]


def test_node_questions_resolve_through_imports() -> None:
    text = textwrap.dedent(
        """
        import fastapi as f
        from fastapi import Depends as Dep
        from app.deps import get_db

        def Depends(x): ...

        async def a(db=f.Depends(get_db), s=f.Security(auth), t=Dep(dependency=get_db)): ...
        """
    )
    context = Context("m.py", text, ast.parse(text), Settings(), "m")
    seen: list[fa.Dependency] = []

    class Probe(Rule):
        meta = RuleMeta("SL999", "probe", engine.Severity.LOW, "probe")

        def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
            seen.extend(fa.parameter_dependencies(node, self.context))

    engine.check_source(text, "m.py", Settings(), rules=[Probe], module="m")
    assert [(d.param, d.target, d.qualified, d.security) for d in seen] == [
        ("db", "get_db", "app.deps.get_db", False),
        ("s", "auth", "m.auth", True),
        ("t", "get_db", "app.deps.get_db", False),
    ]
    # A local function named Depends is not FastAPI's.
    call = ast.parse("Depends(get_db)", mode="eval").body
    context.bind("Depends", None)
    assert fa.depends_call(call, context) is None


def test_tracking_mixin_in_the_engine_walk() -> None:
    """A rule mixing in FastAPITracking sees the same facts as ``collect``."""
    got: list[fa.FastAPIModule] = []

    class Probe(fa.FastAPITracking, Rule):
        meta = RuleMeta("SL999", "probe", engine.Severity.LOW, "probe")

        def end_module(self) -> None:
            got.append(self.fastapi.facts())

    text = textwrap.dedent(PERSONAS)
    engine.check_source(text, "app/api/personas.py", Settings(), rules=[Probe], module="app.api.personas")
    assert got == [facts(PERSONAS, "app.api.personas")]


def test_mounted_sub_apps_and_lifespans_across_modules() -> None:
    main = facts(
        """
        import requests
        from fastapi import FastAPI
        from app.core.lifespan import lifespan
        from app.admin import admin_app

        app = FastAPI(lifespan=lifespan)
        app.mount("/admin", admin_app)
        session = requests.Session()
        session.mount("https://", adapter)

        def create_app():
            application = FastAPI()
            for router in ROUTERS:
                application.include_router(router, prefix="/api")
            return application
        """
    )
    admin = facts(
        """
        from fastapi import FastAPI
        admin_app = FastAPI()

        @admin_app.get("/healthz")
        def healthz(): ...
        """,
        "app.admin",
    )
    core = facts(
        """
        import contextlib

        @contextlib.asynccontextmanager
        async def lifespan(app):
            pool = await make_pool()
            yield {"pool": pool}
            await pool.close()
        """,
        "app.core.lifespan",
    )
    assert [(i.child, i.prefix, i.how) for i in main.inclusions] == [
        ("app.admin.admin_app", "/admin", "mount"),
        ("router", "/api", "include_router"),  # a loop variable: no name to resolve
    ]
    app = main.app("app")
    assert app is not None and app.lifespan == "app.core.lifespan.lifespan"
    assert main.lifespan_of(app) is None  # defined elsewhere
    life = fa.lifespans_by_function([main, admin, core])[app.lifespan]
    assert (life.yield_line, life.shutdown_lines, life.guarded) == (7, (8, 8), False)
    mounts = fa.mount_prefixes([main, admin, core])
    assert fa.full_paths(admin.routes[0], mounts) == ("/admin/healthz",)


def test_plain_generator_lifespan_and_starlette_names() -> None:
    found = facts(
        """
        from fastapi import FastAPI as App, APIRouter
        from fastapi.param_functions import Depends
        from typing import Annotated

        async def lifespan(app):
            yield

        app = App(lifespan=lifespan)
        Db = Annotated[object, Depends(get_db)]
        v1 = APIRouter(prefix="/v1")
        v1.include_router(APIRouter(), prefix="/x")

        @v1.get("/items")
        async def items(db: Db, q: Annotated[str, "doc"] = ""):
            ...
        """
    )
    (life,) = found.lifespans
    assert life.function == "app.main.lifespan" and life.shutdown_lines == (0, 0)
    own = facts(
        """
        from app.routing import APIRouter

        router = APIRouter(prefix="/customers")

        @router.get("/export")
        async def export(): ...
        """,
        "app.customers",
    )
    assert own.apps[0].kind == "router" and own.routes[0].full_path == "/customers/export"
    (route,) = found.routes
    assert [(d.param, d.target) for d in route.params] == [("db", "get_db")]
    assert route.full_path == "/v1/items"


def test_aliases_imported_from_another_module() -> None:
    """The full-stack template's shape: ``SessionDep`` in ``deps``, used in the routes."""
    deps = facts(
        """
        from typing import Annotated
        from fastapi import Depends
        from sqlmodel import Session

        def get_db(): ...

        SessionDep = Annotated[Session, Depends(get_db)]
        """,
        "app.api.deps",
    )
    items = facts(
        """
        import uuid
        from fastapi import APIRouter
        from app.api.deps import SessionDep
        from app.models import Item

        router = APIRouter(prefix="/items")

        @router.get("/{id}")
        def read_item(session: SessionDep, id: uuid.UUID, item: Item | None = None): ...
        """,
        "app.api.routes.items",
    )
    (route,) = items.routes
    assert route.params == () and route.alias_params == (("session", "app.api.deps.SessionDep"),)
    found = fa.route_dependencies(route, fa.aliases_by_name([deps, items]))
    assert [(d.param, d.target, d.qualified) for d in found] == [("session", "get_db", "app.api.deps.get_db")]
