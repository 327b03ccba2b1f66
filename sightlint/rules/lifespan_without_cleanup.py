from __future__ import annotations

import ast
import os
import re
import textwrap
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from textwrap import dedent
from typing import TYPE_CHECKING, Any, NamedTuple

from sightlint.models import RelatedLocation, Span
from sightlint.project.model import is_test_path
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.bindings import BindingKind

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.models import Finding
    from sightlint.project.graph import Graph, ModelNeeds
    from sightlint.project.wiring import WiringInfo
    from sightlint.settings import Settings


class Resource(NamedTuple):
    """A kind of long-lived client: how its instances are spelled in the model, and what closes it."""

    label: str
    types: frozenset[str]  # call results, as the project model spells them (``pkg.Class()``)
    closers: frozenset[str]  # method names that release it
    close: str  # how to close it, for the message
    # The statement the fix writes, ``{}`` standing for the object ("" for no fix), and the
    # one for redis before 5.0.1 (no ``aclose()`` yet: see the docstring).
    statement: str = ""
    old_redis: str = ""


def _types(*names: str) -> frozenset[str]:
    return frozenset(f"{name}()" for name in names)


_REDIS = ("redis.asyncio", "redis.asyncio.client")
_NEO4J_VECTOR = ("langchain_neo4j", "langchain_neo4j.vectorstores.neo4j_vector", "langchain_community.vectorstores", "langchain_community.vectorstores.neo4j_vector")
_NEO4J_GRAPH = ("langchain_neo4j", "langchain_neo4j.graphs.neo4j_graph", "langchain_community.graphs", "langchain_community.graphs.neo4j_graph")
# What the rule knows to be long-lived and how each is released (see the docstring's sources).
RESOURCES: tuple[Resource, ...] = (
    Resource(
        "SQLAlchemy engine",
        _types(
            "sqlalchemy.ext.asyncio.create_async_engine",
            "sqlalchemy.ext.asyncio.AsyncEngine",
            "sqlalchemy.ext.asyncio.engine.create_async_engine",
            "sqlalchemy.ext.asyncio.engine.AsyncEngine",
        ),
        frozenset({"dispose"}),
        "dispose()",
        "await {}.dispose()",
    ),
    Resource(
        "Redis client",
        _types(*(f"{m}.{c}" for m in _REDIS for c in ("Redis", "StrictRedis", "from_url", "Redis.from_url", "StrictRedis.from_url"))),
        frozenset({"aclose", "close"}),
        "aclose()",
        "await {}.aclose()",
        "await {}.close()",
    ),
    Resource(
        "Redis connection pool",
        _types(
            *(f"{m}.{c}" for m in ("redis.asyncio", "redis.asyncio.connection") for c in ("ConnectionPool", "BlockingConnectionPool", "ConnectionPool.from_url", "BlockingConnectionPool.from_url"))
        ),
        frozenset({"aclose", "disconnect"}),
        "aclose() (closing a `Redis(connection_pool=pool)` client leaves a pool it was handed open)",
        "await {}.aclose()",
        "await {}.disconnect()",
    ),
    Resource(
        "Neo4j driver",
        _types("neo4j.AsyncGraphDatabase.driver", "neo4j.AsyncDriver"),
        frozenset({"close"}),
        "close()",
        "await {}.close()",
    ),
    Resource("sync Neo4j driver", _types("neo4j.GraphDatabase.driver", "neo4j.Driver"), frozenset({"close"}), "close()", "{}.close()"),
    Resource("LangChain Neo4jGraph", _types(*(f"{m}.Neo4jGraph" for m in _NEO4J_GRAPH)), frozenset({"close"}), "close()", "{}.close()"),
    Resource(
        "LangChain Neo4jVector",
        _types(
            *(f"{m}.Neo4jVector{c}" for m in _NEO4J_VECTOR for c in ("", ".from_existing_index", ".from_existing_graph", ".from_documents", ".from_texts", ".from_existing_relationship_index"))
        ),
        frozenset(),  # it has no close(): its driver does
        "`_driver.close()` (Neo4jVector has no close())",
        "{}._driver.close()",
    ),
    Resource("httpx client", _types("httpx.AsyncClient"), frozenset({"aclose"}), "aclose()", "await {}.aclose()"),
    Resource(
        "aiohttp session", _types("aiohttp.ClientSession", "aiohttp.client.ClientSession"), frozenset({"close"}), "close()", "await {}.close()"
    ),
    Resource(
        "asyncpg pool",
        _types("asyncpg.create_pool", "asyncpg.pool.create_pool", "asyncpg.Pool"),
        frozenset({"close", "terminate"}),
        "close()",
        "await {}.close()",
    ),
    Resource(
        "APScheduler scheduler",
        _types("apscheduler.schedulers.asyncio.AsyncIOScheduler", "apscheduler.schedulers.background.BackgroundScheduler"),
        frozenset({"shutdown"}),
        "shutdown()",
        "if {0}.running:\n    {0}.shutdown()",
    ),
)
_BY_TYPE: dict[str, Resource] = {name: resource for resource in RESOURCES for name in resource.types}
_CLOSERS = frozenset().union(*(r.closers for r in RESOURCES), {"close"})
# Folders whose modules are not the served application (one-off scripts, migrations, docs).
_NOT_APP = frozenset({"scripts", "alembic", "migrations", "examples", "docs", "benchmarks", "bench"})
_APP_TYPES = frozenset({"fastapi.FastAPI()", "fastapi.applications.FastAPI()", "starlette.applications.Starlette()"})


def _kept(target: str) -> bool:
    """Store facts the rule reads: values of a known resource type, and instances of
    project classes (whose ``self.<attr>`` clients live as long as a kept instance)."""
    return target.startswith("inst:") or target.startswith("ext:") and target[4:] in _BY_TYPE


def _closer(name: str) -> bool:
    return name.rpartition(".")[2] in _CLOSERS


class _Open(NamedTuple):
    """A long-lived resource: where it is kept and what kind it is."""

    store: WiringInfo
    resource: Resource

    def shown(self) -> str:
        name = self.store.name
        if name.startswith("state."):
            return f"app.{name}"
        if "attr" in self.store.flags:
            owner, _, attr = name.rpartition(".")
            return f"{owner.rpartition('.')[2]}.{attr}"  # ``SyncServer.httpx_client``
        return name.rpartition(".")[2]  # a global, or ``get_engine()`` for a cached getter


class LifespanWithoutCleanup(Rule):
    """
    ## What it flags
    A FastAPI or Starlette app whose shutdown never closes the long-lived clients the
    project creates: SQLAlchemy engines, Redis clients and pools, Neo4j drivers and
    LangChain Neo4j stores, `httpx`/`aiohttp` clients, `asyncpg` pools and APScheduler
    schedulers kept in a module global, a cached getter (`@lru_cache`), a lazily filled
    global, `app.state`, or an object the process keeps (`self.client =
    httpx.AsyncClient()` in a class with a global instance). A resource counts as closed when a shutdown path calls its
    release method: code after the lifespan's `yield` (and what it calls), an
    `on_event("shutdown")`/`add_event_handler("shutdown", ...)`/`on_shutdown=[...]`
    handler of an app without `lifespan=`, or an `async with` that owns it. The finding
    sits on the lifespan (or on the app when it has none) and names each resource left
    open and where it is created. A second shape: an `on_event("shutdown")` handler of
    an app that also passes `lifespan=`, which FastAPI never runs. An app's resources
    and shutdown paths are those of the modules its imports join it to (one component
    of the project's import graph): a module nothing of the app imports is never loaded
    by it, and a second application in the repository is read on its own.

    Clients opened per request (`async with httpx.AsyncClient() as client:`), clients a
    lifespan opens with `async with` around its `yield`, clients whose close method is
    handed to an exit stack or `atexit`, and clients another lifecycle closes (a function
    with callers, or a method, closes that very object: a worker's shutdown hook) are
    clean. A close helper nothing calls is named in the message. Sync engines and clients
    are not reported: they close their sockets when collected, the async ones cannot.

    ## Why it matters
    On every deploy or scale-in the process exits with its pools open: PostgreSQL and
    Redis see connections dropped mid-protocol instead of closed (server-side
    `unexpected EOF` noise, slots held until their timeouts on managed tiers with low
    connection caps), the Neo4j driver warns that it was never closed, and in-flight
    scheduler jobs are cut off. Under a test client every app start leaks another pool.

    Library facts the rule relies on (read in the installed sources):
    FastAPI 0.165.0 `fastapi/routing.py` (`APIRouter.__init__`): the `on_startup` and
    `on_shutdown` handlers, which `@app.on_event` fills, run only through the default
    lifespan used when `lifespan` is None: with `lifespan=` they never run ("all
    lifespan or all events"); `on_event` is deprecated. redis 8.1.0
    `redis/asyncio/client.py`: `aclose()` replaced `close()` in 5.0.1
    (`@deprecated_function(version="5.0.1")`), and a client given
    `connection_pool=` sets `auto_close_connection_pool = False` ("If a pool is passed
    in, do not close it"). neo4j 6.4.1 `neo4j/_async/driver.py`: `AsyncDriver.close()`;
    `__del__` warns when it was never called. langchain-neo4j 0.11.0:
    `Neo4jGraph.close()` is synchronous (`graphs/neo4j_graph.py`), `Neo4jVector` has no
    `close()` (`vectorstores/neo4j_vector.py`), close its `_driver`. httpx 0.28.1
    `httpx/_client.py`: `AsyncClient.aclose()`. SQLAlchemy 2.1.9
    `sqlalchemy/ext/asyncio/engine.py`: `AsyncEngine.dispose()`.

    ## Fix
    Unsafe (`--unsafe-fixes`), offered when the finding sits on an `async` lifespan with a
    `yield` and every resource it names is a module global or an `app.state` attribute:
    after the lifespan's last statement (its shutdown part), one block per resource, each
    in its own `try:` … `except Exception: logger.exception(...)`, so one failing close
    does not skip the others. Each uses the release method of its kind:
    `await engine.dispose()` (SQLAlchemy `AsyncEngine`), `await redis.aclose()` and
    `await pool.aclose()` (redis ≥ 5.0.1; `await redis.close()` / `await pool.disconnect()`
    when the project's requirement or lock files pin redis below 5.0.1: redis 5.0.0
    `redis/asyncio/client.py` has only `close()` and `redis/asyncio/connection.py` only
    `disconnect()`, 5.0.1 added `aclose()` to both and deprecated `close()`),
    `await driver.close()` for an `AsyncDriver` and `driver.close()` for a sync `Driver`
    (neo4j 6.4.1 `neo4j/_async/driver.py` / `neo4j/_sync/driver.py`), `graph.close()`,
    `vector._driver.close()`, `await client.aclose()` (httpx), `await session.close()`
    (aiohttp), `await pool.close()` (asyncpg), `if scheduler.running: scheduler.shutdown()`.
    A global of another module is imported inside its block (`from app.core.redis import
    _redis_pool`), so the value is read at shutdown, not at import (a lazily filled global
    is still `None` at import); a global that may be `None` (declared `= None`, or first set
    inside a function) is closed only `if x is not None`. The module's logger is used
    (`logger`, `log`, ...), else `logger = logging.getLogger(__name__)` is added.

    Unsafe because shutdown now does work it did not do (a close that hangs delays the
    exit) and a resource may be shared with something that outlives the app (a second app
    in the process, a test fixture). Not offered when the lifespan has no `yield` (an
    `on_event("startup")` app: move to a lifespan first; there is no shutdown part to add
    to), returns or raises at its end, names a resource kept on an object
    (`self.client`) or behind a cached getter (calling it at shutdown would build it), or
    when the name a resource needs is already used otherwise in the lifespan. A
    `try/finally` around the `yield` would also close on a failed start; the fix keeps
    the code's shape and adds to the end, as the audit does. Move `on_event` handlers
    into the lifespan by hand.
    """

    meta = RuleMeta(
        code="SL701",
        name="lifespan-without-cleanup",
        severity=Severity.HIGH,
        summary="Lifespan opens resources and never closes them on shutdown.",
        audit="§11",
        fix=FixSafety.UNSAFE,
        fix_title="Close each resource after the lifespan's yield",
        since="0.1.0",
        tags=("fastapi", "cross-file"),
    )
    cross_file = True
    # Component-local: apps, shutdown paths and stores are read per component of the
    # module-dependency graph (``Graph.component``); shutdown walks follow call edges.
    project_scope = "component"

    bad = (
        Bad(
            dedent("""\
            # file: app/db.py
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine("postgresql+asyncpg://db/app")

            # file: app/cache.py
            from redis.asyncio import Redis

            redis = Redis.from_url("redis://cache")

            # file: app/main.py
            from contextlib import asynccontextmanager
            from fastapi import FastAPI
            from app.cache import redis
            from app.db import engine


            @asynccontextmanager
            async def lifespan(app: FastAPI):
                yield
                await engine.dispose()  # Redis is forgotten


            app = FastAPI(lifespan=lifespan)


            @app.get("/hits")
            async def hits() -> int:
                return await redis.incr("hits")
            """),
            in_docs=True,
        ),
        Bad(
            # A global filled lazily, and a shutdown handler FastAPI never runs.
            dedent("""\
            # file: app/graph.py
            from neo4j import AsyncDriver, AsyncGraphDatabase

            _driver: AsyncDriver | None = None


            def get_driver() -> AsyncDriver:
                global _driver
                if _driver is None:
                    _driver = AsyncGraphDatabase.driver("neo4j://graph")
                return _driver

            # file: app/main.py
            from contextlib import asynccontextmanager
            from fastapi import FastAPI
            from app.graph import get_driver


            @asynccontextmanager
            async def lifespan(app: FastAPI):
                yield


            app = FastAPI(lifespan=lifespan)


            @app.on_event("shutdown")
            async def close_graph() -> None:
                await get_driver().close()
            """),
            count=2,
        ),
        Bad(
            dedent("""\
            from fastapi import FastAPI
            import httpx

            app = FastAPI()


            @app.on_event("startup")
            async def open_client() -> None:
                app.state.http = httpx.AsyncClient(timeout=10)
            """),
        ),
        Bad(
            dedent("""\
            from functools import lru_cache
            from fastapi import FastAPI
            from langchain_neo4j import Neo4jVector


            @lru_cache
            def get_store() -> Neo4jVector:
                return Neo4jVector.from_existing_index(embedding=None, index_name="docs")


            app = FastAPI()
            """),
        ),
        Bad(
            dedent("""\
            from contextlib import asynccontextmanager
            import asyncpg
            from fastapi import FastAPI


            @asynccontextmanager
            async def lifespan(app: FastAPI):
                app.state.pool = await asyncpg.create_pool("postgresql://db/app")
                yield


            app = FastAPI(lifespan=lifespan)
            """),
            fixed="""\
import logging
from contextlib import asynccontextmanager
import asyncpg
from fastapi import FastAPI

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.pool = await asyncpg.create_pool("postgresql://db/app")
    yield

    try:
        await app.state.pool.close()
    except Exception:
        logger.exception("Shutdown: could not close the asyncpg pool 'app.state.pool'")


app = FastAPI(lifespan=lifespan)
""",
        ),
        Bad(
            # Closing the client before the yield is start-up code, not shutdown.
            dedent("""\
            from contextlib import asynccontextmanager
            from fastapi import FastAPI
            from redis.asyncio import ConnectionPool, Redis

            pool = ConnectionPool.from_url("redis://cache")
            redis = Redis(connection_pool=pool)


            @asynccontextmanager
            async def lifespan(app: FastAPI):
                await redis.ping()
                yield
                await redis.aclose()  # leaves the pool it was handed open


            app = FastAPI(lifespan=lifespan)
            """),
            fixed="""\
import logging
from contextlib import asynccontextmanager
from fastapi import FastAPI
from redis.asyncio import ConnectionPool, Redis

logger = logging.getLogger(__name__)

pool = ConnectionPool.from_url("redis://cache")
redis = Redis(connection_pool=pool)


@asynccontextmanager
async def lifespan(app: FastAPI):
    await redis.ping()
    yield
    await redis.aclose()  # leaves the pool it was handed open

    try:
        await pool.aclose()
    except Exception:
        logger.exception("Shutdown: could not close the Redis connection pool 'pool'")


app = FastAPI(lifespan=lifespan)
""",
        ),
        Bad(
            dedent("""\
            from apscheduler.schedulers.asyncio import AsyncIOScheduler
            from fastapi import FastAPI

            scheduler = AsyncIOScheduler()


            def create_app() -> FastAPI:
                app = FastAPI()

                @app.on_event("startup")
                async def start() -> None:
                    scheduler.start()

                return app
            """),
        ),
        Bad(
            dedent("""\
            from contextlib import asynccontextmanager
            from fastapi import FastAPI
            from langchain_neo4j import Neo4jGraph

            graph = Neo4jGraph(url="neo4j://graph")


            @asynccontextmanager
            async def lifespan(app: FastAPI):
                print("up")
                yield
                print("down")


            app = FastAPI(lifespan=lifespan)
            """),
            fixed="""\
import logging
from contextlib import asynccontextmanager
from fastapi import FastAPI
from langchain_neo4j import Neo4jGraph

logger = logging.getLogger(__name__)

graph = Neo4jGraph(url="neo4j://graph")


@asynccontextmanager
async def lifespan(app: FastAPI):
    print("up")
    yield
    print("down")

    try:
        graph.close()
    except Exception:
        logger.exception("Shutdown: could not close the LangChain Neo4jGraph 'graph'")


app = FastAPI(lifespan=lifespan)
""",
        ),
    )

    good = (
        Good(
            dedent("""\
            # file: app/db.py
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine("postgresql+asyncpg://db/app")

            # file: app/cache.py
            from redis.asyncio import Redis

            redis = Redis.from_url("redis://cache")


            async def close_redis() -> None:
                await redis.aclose()

            # file: app/main.py
            from contextlib import asynccontextmanager
            from fastapi import FastAPI
            from app.cache import close_redis
            from app.db import engine


            @asynccontextmanager
            async def lifespan(app: FastAPI):
                try:
                    yield
                finally:
                    await close_redis()
                    await engine.dispose()


            app = FastAPI(lifespan=lifespan)
            """),
            in_docs=True,
        ),
        Good(
            # Request-scoped: the client lives as long as the request.
            dedent("""\
            from fastapi import FastAPI
            import httpx

            app = FastAPI()


            @app.get("/weather")
            async def weather() -> dict:
                async with httpx.AsyncClient() as client:
                    return (await client.get("https://example.org")).json()
            """),
        ),
        Good(
            dedent("""\
            from contextlib import asynccontextmanager
            from fastapi import FastAPI
            import httpx


            @asynccontextmanager
            async def lifespan(app: FastAPI):
                async with httpx.AsyncClient() as client:
                    app.state.http = client
                    yield


            app = FastAPI(lifespan=lifespan)
            """),
        ),
        Good(
            dedent("""\
            from fastapi import FastAPI
            from neo4j import AsyncGraphDatabase

            driver = AsyncGraphDatabase.driver("neo4j://graph")
            app = FastAPI()


            @app.on_event("shutdown")
            async def close_driver() -> None:
                await driver.close()
            """),
        ),
        Good(
            dedent("""\
            from contextlib import asynccontextmanager
            from fastapi import FastAPI
            import httpx


            @asynccontextmanager
            async def lifespan(app: FastAPI):
                app.state.http = httpx.AsyncClient()
                yield
                await app.state.http.aclose()


            app = FastAPI(lifespan=lifespan)
            """),
        ),
        Good(
            # Not an application: a script's engine is not the app's to close.
            dedent("""\
            # file: scripts/seed.py
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine("postgresql+asyncpg://db/app")

            # file: app/main.py
            from fastapi import FastAPI

            app = FastAPI()
            """),
        ),
        Good(
            dedent("""\
            from fastapi import FastAPI
            from langchain_neo4j import Neo4jVector

            store = Neo4jVector.from_existing_index(embedding=None, index_name="docs")


            async def shutdown() -> None:
                store._driver.close()


            app = FastAPI(on_shutdown=[shutdown])
            """),
        ),
        Good(
            # A library without an app: nothing here owns a shutdown.
            dedent("""\
            from redis.asyncio import Redis

            redis = Redis.from_url("redis://cache")
            """),
        ),
        Good(
            dedent("""\
            from contextlib import asynccontextmanager
            from fastapi import FastAPI
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine("postgresql+asyncpg://db/app")


            async def dispose_engine() -> None:
                await engine.dispose()


            def create_app() -> FastAPI:
                app = FastAPI()
                app.add_event_handler("shutdown", dispose_engine)
                return app
            """),
        ),
    )

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        from sightlint.project.graph import ModelNeeds

        return ModelNeeds(externals=_closer, facts=frozenset({"yield_line", "cls"}), stores=_kept, module_facts=frozenset({"links"}))

    @classmethod
    def check_project(cls, graph: Graph, settings: Settings) -> list[Finding]:
        # An app, its lifespan and shutdown handlers, and the modules keeping what it opens
        # are wired through imports, so they sit in one component of the module-dependency
        # graph (``Graph.component``): each component is one application's world.
        wiring: dict[int, list[WiringInfo]] = {}
        for wire in graph.wiring:
            wiring.setdefault(graph.component(wire.path), []).append(wire)
        findings: list[Finding] = []
        for component in sorted(wiring):
            findings += cls._check_component(graph, wiring[component], component)
        return findings

    @classmethod
    def _check_component(cls, graph: Graph, wiring: list[WiringInfo], component: int) -> list[Finding]:
        apps = sorted(
            (w for w in wiring if w.kind == "app" and "router" not in w.flags and _app_path(w.path)),
            key=lambda w: (w.path, w.line, w.col),
        )
        if not apps:
            return []
        handlers: dict[str, list[WiringInfo]] = {}
        for wire in wiring:
            if wire.kind == "shutdown" and wire.target.startswith("fn:") and wire.target[3:] in graph.functions:
                handlers.setdefault(wire.receiver, []).append(wire)
        findings: list[Finding] = []
        closed = _Closed()
        with_lifespan = {app.receiver: app for app in apps if "lifespan" in app.flags and app.receiver}
        for receiver, registered in handlers.items():
            owner = with_lifespan.get(receiver)
            for handler in registered:
                if owner is not None:
                    findings.append(cls._dead_handler(graph, handler, owner))
                else:
                    closed.walk(graph, handler.target[3:], 0)
        unread = False
        for app in apps:
            bodies = _lifespan_bodies(graph, app)
            for body in bodies:
                closed.walk(graph, body, graph.functions[body].facts["yield_line"])
            unread = unread or ("lifespan" in app.flags and not bodies)
        if unread and not any(_lifespan_bodies(graph, app) for app in apps):
            return findings  # a lifespan the model cannot read (a class instance...): its shutdown is unknown
        left = []
        helpers: dict[str, str] = {}  # resource place -> an uncalled function that closes it
        handed = {w.receiver for w in wiring if w.kind == "close" and "ref" in w.flags}
        primary = _primary(apps, graph)
        for found in _resources(wiring):
            if not _same_tree(primary.path, found.store.path):
                continue  # another tree of the repository (a tool, a second service)
            if closed.covers(found) or found.store.name in handed:
                continue  # closed at shutdown, or its close method is registered somewhere
            closers = _closers_of(graph, closed, found.store.name, component)
            if any(graph.callers.get(f) or f in graph.entries or graph.functions[f].facts.get("cls") for f in closers):
                continue  # closed by another lifecycle (a worker's shutdown hook, an object's close)
            if closers:
                helpers[found.store.name] = graph.functions[closers[0]].name
            left.append(found)
        if left:
            findings.append(cls._open_resources(graph, primary, left, helpers))
        return findings

    @classmethod
    def _open_resources(cls, graph: Graph, app: WiringInfo, left: list[_Open], helpers: dict[str, str]) -> Finding:
        lifespan = app.target[3:] if app.target.startswith("fn:") else ""
        named = "; ".join(
            f"the {found.resource.label} `{found.shown()}` ({found.store.path}:{found.store.line}; "
            + (f"`{helpers[found.store.name]}()` closes it but nothing calls it)" if found.store.name in helpers else f"close with {found.resource.close})")
            for found in left
        )
        related = tuple(
            RelatedLocation(found.store.path, found.store.line, found.store.col, f"{found.resource.label} `{found.shown()}` is created here")
            for found in left
        )
        count = "a long-lived resource" if len(left) == 1 else f"{len(left)} long-lived resources"
        safety = FixSafety.NONE
        if lifespan in graph.functions:
            info = graph.functions[lifespan]
            path, span = graph.path_of(lifespan), _def_span(info.line, info.col, info.is_async, info.name)
            message = f"The lifespan `{info.name}` never closes {count} the app creates: {named}."
            if info.is_async and info.facts["yield_line"] and all(_fixable(found) for found in left):
                safety = FixSafety.UNSAFE
        else:
            path, span = app.path, Span(app.line, app.col, app.line, app.col + len("FastAPI"))
            message = f"No shutdown path of this app closes {count} it creates: {named}."
        return cls.project_finding(path, span, message, related=related, fix_safety=safety)

    @classmethod
    def _dead_handler(cls, graph: Graph, handler: WiringInfo, app: WiringInfo) -> Finding:
        fid = handler.target[3:]
        info = graph.functions[fid]
        lifespan = graph.functions.get(app.target[3:]) if app.target.startswith("fn:") else None
        named = f"`lifespan={lifespan.name}`" if lifespan is not None else "`lifespan=`"
        message = (
            f"Shutdown handler `{info.name}` never runs: the app ({app.path}:{app.line}) also passes {named}, "
            "and FastAPI runs on_startup/on_shutdown handlers only without a lifespan; move this cleanup after the lifespan's `yield`."
        )
        related = (RelatedLocation(app.path, app.line, app.col, f"the app is given {named} here"),)
        return cls.project_finding(graph.path_of(fid), _def_span(info.line, info.col, info.is_async, info.name), message, related=related)


    # -- fixing ------------------------------------------------------------------------

    fix_node = ("FunctionDef",)

    @classmethod
    def fix_facts_for(cls, sources: Sequence[tuple[str | None, str, str]]) -> dict[str, Any]:
        """Each file's module (to import a resource kept in another module), and whether the
        project pins redis below 5.0.1 (no ``aclose()`` there)."""
        return {
            "modules": {path: module for module, path, _ in sources if module},
            "none_globals": {path: set(_NONE_GLOBAL.findall(text)) for _, path, text in sources if "None" in text},
            "old_redis": _old_redis([p for _, p, _ in sources]),
        }

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """After the lifespan's body (after its ``yield``), close each resource the finding
        names, each in its own ``try``/``except Exception`` that logs the failure."""
        import libcst as cst
        import libcst.matchers as m

        if not isinstance(node, cst.FunctionDef) or not isinstance(node.body, cst.IndentedBlock) or node.asynchronous is None:
            return None
        if not m.findall(node, m.Yield()) or m.findall(node.body, m.Return()) or _ends_abruptly(node.body):
            return None  # no yield (then there is no shutdown part), or a path that skips the end
        params = node.params.params
        app = params[0].name.value if params else None
        mentioned = {n.value for n in m.findall(node, m.Name())}  # type: ignore[attr-defined]
        self._local = _bound_in(node)
        line = finding.span.line
        logger, extra = self._logger(mentioned)
        if logger is None:
            return None
        blocks: list[str] = []
        for related in finding.related:
            code = self._closing(related, app, mentioned, line)
            if code is None:
                return None
            what, statements = code
            body = textwrap.indent(statements, "    ")
            message = f"Shutdown: could not close the {what}".replace('"', "'").replace("\\", "")
            blocks.append(f'try:\n{body}\nexcept Exception:\n    {logger}.exception("{message}")\n')
        if not blocks:
            return None
        new = [cst.parse_statement(block) for block in blocks]
        new[0] = new[0].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        return Fix(replacement=node.with_changes(body=node.body.with_changes(body=[*node.body.body, *new])), **extra)

    def _logger(self, mentioned: set[str]) -> tuple[str | None, dict[str, Any]]:
        """The module's logger (``logger``, ``log``, ``_logger``, ``LOGGER``), else a new
        ``logger = logging.getLogger(__name__)``; None when that name is taken."""
        for name in ("logger", "log", "_logger", "LOGGER", "_log"):
            binding = self.context.module_binding(name)
            if binding is None or name in mentioned and binding.kind is not BindingKind.IMPORT and binding.kind is not BindingKind.GLOBAL:
                continue
            value = binding.value
            if binding.kind is BindingKind.IMPORT and "log" in (binding.qualified or "").lower():
                return name, {}
            if isinstance(value, ast.Call) and "log" in ast.unparse(value.func).lower():
                return name, {}
        if self.context.module_binding("logger") is not None or "logger" in mentioned:
            return None, {}
        bound = self.context.module_binding("logging")
        if bound is not None and bound.qualified != "logging":
            return None, {}
        return "logger", {
            "imports": (("logging", None),),
            "module_statements": (("logger", "logger = logging.getLogger(__name__)"),),
        }

    _local: set[str] = set()  # names the lifespan being fixed binds

    def _closing(self, related: RelatedLocation, app: str | None, mentioned: set[str], line: int) -> tuple[str, str] | None:
        """(what, the statements that close it) for one resource the finding names."""
        label, _, rest = related.message.partition(" `")
        shown = rest.partition("`")[0]
        resource = next((r for r in RESOURCES if r.label == label), None)
        if resource is None or not resource.statement or not shown:
            return None
        template = resource.old_redis if resource.old_redis and self.fix_facts.get("old_redis") else resource.statement
        what = f"{label} '{shown}'"
        if shown.startswith("app.state."):
            if app is None:
                return None
            return what, template.format(f"{app}.state.{shown[len('app.state.'):]}")
        if not shown.isidentifier():
            return None
        # A global filled inside a function, or declared ``= None`` at first: None until then.
        if related.path == self.context.path:
            nones = {
                t.id
                for stmt in self.context.tree.body
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Constant) and stmt.value.value is None
                for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                if isinstance(t, ast.Name)
            }
        else:
            nones = self.fix_facts.get("none_globals", {}).get(related.path, set())
        lazy = related.col > 1 or shown in nones
        closing = template.format(shown)
        if lazy:
            closing = f"if {shown} is not None:\n" + textwrap.indent(closing, "    ")
        if related.path == self.context.path:
            here = self.context.module_binding(shown)
            if here is None or here.kind is not BindingKind.GLOBAL or shown in self._local:
                return None
            return what, closing
        module = self.fix_facts.get("modules", {}).get(related.path)
        if module is None:
            return None
        binding = self.context.module_binding(shown)
        if binding is not None and binding.qualified == f"{module}.{shown}" and not lazy:
            return what, closing  # imported at the top already, and never rebound
        if shown in mentioned:
            return None  # a local import would make the name local to the whole lifespan
        return what, f"from {module} import {shown}\n\n{closing}"


class _Closed:
    """What the shutdown paths walked so far release: resource kinds and ``app.state`` attributes."""

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.state: set[str] = set()
        self.places: set[str] = set()  # where closed objects are kept (``module.name``, ``state.<attr>``)
        self.seen: set[str] = set()

    def closes(self, graph: Graph) -> dict[str, list[WiringInfo]]:
        """The "close" wiring of each function (cached on the graph)."""
        key = ("close calls by function",)
        found: dict[str, list[WiringInfo]] | None = graph.cache.get(key)
        if found is None:
            found = {}
            for wire in graph.wiring:
                if wire.kind == "close" and wire.receiver:
                    found.setdefault(wire.function, []).append(wire)
            graph.cache[key] = found
        return found

    def walk(self, graph: Graph, start: str, after: int) -> None:
        """Everything ``start`` calls from line ``after`` on (its shutdown part), transitively;
        a context manager it enters before that (a function with a ``yield``) counts too."""
        queue: deque[str] = deque()
        self._externals(graph, start, after)
        for edge in graph.edges.get(start, ()):
            target = graph.functions.get(edge.target)
            if target is not None and (edge.line >= after or target.facts["yield_line"]):
                queue.append(edge.target)
        while queue:
            fid = queue.popleft()
            if fid in self.seen:
                continue
            self.seen.add(fid)
            self._externals(graph, fid, 0)
            queue.extend(edge.target for edge in graph.edges.get(fid, ()))

    def _externals(self, graph: Graph, fid: str, after: int) -> None:
        for wire in self.closes(graph).get(fid, ()):
            if wire.line >= after:
                self.places.add(wire.receiver)
        for call in graph.externals.get(fid, ()):
            if call.site.line < after:
                continue
            receiver, _, method = call.name.rpartition(".")
            if receiver.endswith("._driver") and method == "close":  # ``vector._driver.close()``
                resource = _BY_TYPE.get(receiver[: -len("._driver")])
            else:
                resource = _BY_TYPE.get(receiver)
                if resource is not None and method not in resource.closers:
                    resource = None
            if resource is not None:
                self.types.add(resource.label)
            _, dot, attr = receiver.rpartition(".state.")
            if dot and method in _CLOSERS:
                self.state.add(attr)

    def covers(self, found: _Open) -> bool:
        name = found.store.name
        if name in self.places or name.startswith("state.") and name[len("state.") :] in self.state:
            return True
        return found.resource.label in self.types


def _lifespan_bodies(graph: Graph, app: WiringInfo) -> list[str]:
    """The generator functions whose code after ``yield`` is ``app``'s shutdown: its lifespan,
    or for ``lifespan=make_lifespan(...)`` the generators defined inside the factory."""
    lifespan = app.target[3:] if app.target.startswith("fn:") else ""
    info = graph.functions.get(lifespan)
    if info is None:
        return []
    if info.facts["yield_line"]:
        return [lifespan]
    inner = lifespan + "."
    return [fid for fid in graph.functions if fid.startswith(inner) and graph.functions[fid].facts["yield_line"]]


def _closers_of(graph: Graph, closed: _Closed, place: str, component: int) -> list[str]:
    """Functions of ``component`` (``Graph.component``) that close the object kept at
    ``place`` (by where it is kept; ``state.<attr>`` is an attribute of any app's state)."""
    key = ("closers by place and component",)
    index: dict[tuple[str, int], list[str]] | None = graph.cache.get(key)
    if index is None:  # one pass over the close calls, not one per resource
        index = {}
        for fid, wires in closed.closes(graph).items():
            if fid in graph.functions:
                where = graph.component(graph.path_of(fid))
                for receiver in {w.receiver for w in wires}:
                    index.setdefault((receiver, where), []).append(fid)
        graph.cache[key] = index
    return sorted(index.get((place, component), ()))


def _resources(wiring: list[WiringInfo]) -> list[_Open]:
    """Long-lived resources of the app's modules, one per place they are kept (the first
    store of a known type), none for a place a ``with`` statement owns."""
    found: dict[str, _Open] = {}
    owned: set[str] = set()
    stores = [w for w in wiring if w.kind == "store" and _app_path(w.path)]
    # Classes with an instance kept for the process (a global, ``app.state``, a cached getter).
    held = {w.target[5:] for w in stores if w.target.startswith("inst:") and "attr" not in w.flags and "owned" not in w.flags}
    for store in stores:
        if "owned" in store.flags:
            owned.add(store.name)
            continue
        resource = _BY_TYPE.get(store.target[4:]) if store.target.startswith("ext:") else None
        if resource is None or store.name in found:
            continue
        if "attr" in store.flags and (store.name.rpartition(".")[0] not in held or "made" not in store.flags):
            continue  # ``self.<attr>`` of an object made per use, or a client fetched from elsewhere
        if store.name.startswith("state.") and "made" not in store.flags:
            continue  # ``app.state.x = get_client()``: kept (and reported) where it is made
        found[store.name] = _Open(store, resource)
    kept = [entry for name, entry in found.items() if name not in owned]
    return sorted(kept, key=lambda entry: (entry.store.path, entry.store.line, entry.store.col))


def _same_tree(app: str, resource: str) -> bool:
    """Whether ``resource`` sits in the app's top folder (anywhere, for an app at the root)."""
    top = app.replace("\\", "/").partition("/")
    return not top[1] or resource.replace("\\", "/").startswith(top[0] + "/")


def _app_path(path: str) -> bool:
    if is_test_path(path):
        return False
    return not any(part in _NOT_APP for part in path.replace("\\", "/").split("/")[:-1])


def _primary(apps: Iterable[WiringInfo], graph: Graph) -> WiringInfo:
    """The app a project-wide finding goes to: the first with a lifespan, else the first."""
    apps = list(apps)
    for app in apps:
        if _lifespan_bodies(graph, app):
            return app
    return apps[0]


def _bound_in(function: cst.FunctionDef) -> set[str]:
    """Names ``function`` binds (parameters, assignments, imports, loop and ``with`` targets)."""
    import libcst as cst
    import libcst.matchers as m

    names: set[str] = set()
    for node in m.findall(function, m.Param() | m.AssignTarget() | m.AnnAssign() | m.AugAssign() | m.AsName() | m.For() | m.ImportAlias()):
        target = getattr(node, "target", None) or getattr(node, "name", None)
        for name in m.findall(target, m.Name()) if target is not None else ():
            assert isinstance(name, cst.Name)
            names.add(name.value)
    return names


def _fixable(found: _Open) -> bool:
    """Whether the fix can reach and close ``found``: a module global or an ``app.state``
    attribute of a kind it knows how to close (not an object's attribute, not a cached getter)."""
    name = found.store.name
    return bool(found.resource.statement) and "attr" not in found.store.flags and not name.endswith("()") and "." in name


def _ends_abruptly(body: cst.IndentedBlock) -> bool:
    """Whether the block's last statement leaves it (``raise``), so code after it never runs."""
    import libcst as cst

    last = body.body[-1]
    return isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], (cst.Raise, cst.Return))


# ``name = None`` / ``name: T | None = None`` at module level.
_NONE_GLOBAL = re.compile(r"(?m)^([A-Za-z_]\w*)\s*(?::[^=\n]+)?=\s*None\s*(?:#.*)?$")
_PINS = re.compile(r"""(?im)^\s*["']?redis\s*(?:==|~=|<=|<)\s*(\d+)\.(\d+)(?:\.(\d+))?""")
_LOCK_PIN = re.compile(r'(?m)^name = "redis"\nversion = "(\d+)\.(\d+)(?:\.(\d+))?')


def _old_redis(paths: list[str]) -> bool:
    """Whether the project's requirement or lock files pin redis below 5.0.1, the release
    that added ``aclose()`` (read in the folder holding the files and the two above it)."""
    if not paths:
        return False
    folder = Path(os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths]))
    for where in (folder, *list(folder.parents)[:2]):
        for name in ("requirements.txt", "requirements.lock", "requirements-prod.txt", "pyproject.toml", "poetry.lock", "uv.lock"):
            try:
                text = (where / name).read_text(encoding="utf-8", errors="replace")[:1_000_000]
            except OSError:
                continue
            for match in (*_PINS.finditer(text), *_LOCK_PIN.finditer(text)):
                version = tuple(int(g or 0) for g in match.groups())
                return version < (5, 0, 1)
    return False


def _def_span(line: int, col: int, is_async: bool, name: str) -> Span:
    """The ``async def name`` part of a function's first line."""
    return Span(line, col, line, col + len("async def " if is_async else "def ") + len(name))
