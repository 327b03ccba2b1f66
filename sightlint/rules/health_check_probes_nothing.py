from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sightlint.rules.base import Bad, Good, Rule, RuleMeta, Severity
from sightlint.semantics.fastapi import FastAPITracking, full_paths, mount_prefixes

if TYPE_CHECKING:
    from sightlint.semantics.scope import Context

_Def = ast.FunctionDef | ast.AsyncFunctionDef

READINESS = ("health", "healthz", "healthcheck", "health-check", "health_check", "ready", "readyz", "readiness", "startup", "startupz")
LIVENESS = ("live", "livez", "liveness", "alive", "ping")



@lru_cache(maxsize=8)
def _readiness(readiness: tuple[str, ...], liveness: tuple[str, ...]) -> frozenset[str]:
    """The readiness path segments that are not liveness ones, lower case (made once per options)."""
    return frozenset(p.lower() for p in readiness) - {p.lower() for p in liveness}


# Calls that read the process's own state, build the response or log: none of them asks a
# backing service anything.
_HARMLESS_BUILTINS = frozenset(
    "str int float bool len dict list tuple set frozenset isinstance getattr hasattr round sorted min max any all "
    "repr format type id print sum abs enumerate zip range vars".split()
)
_HARMLESS_MODULES = (
    "datetime.",
    "time.",
    "platform.",
    "uuid.",
    "logging.",
    "json.dumps",
    "os.getenv",
    "os.environ",
    "os.getpid",
    "socket.gethostname",
    "sys.",
    "importlib.metadata.version",
    "fastapi.responses.",
    "starlette.responses.",
    "fastapi.Response",
    "fastapi.HTTPException",
    "starlette.exceptions.HTTPException",
)
_HARMLESS_METHODS = frozenset(
    "isoformat strftime timestamp total_seconds now utcnow today info debug warning warn error exception critical "
    "log model_dump dict json items keys values copy format upper lower strip split join replace encode decode "
    "startswith endswith append update".split()
)
_CONFIG_NAME = re.compile(r"settings|config|version|uptime|hostname|environment", re.IGNORECASE)
_LIVENESS_DOC = re.compile(
    r"\blive(ness)?\b|\b(process|system|server|service|app|api) is (up|alive|running|responsive|reachable)", re.IGNORECASE
)
# A probe "for the load balancer" decides where traffic goes: that is readiness, whatever its name.
_READINESS_DOC = re.compile(r"\bread(y|iness)\b|databases?\b|\bredis\b|\bneo4j\b|depend|load.?balanc|traffic|routing", re.IGNORECASE)


@dataclass(frozen=True)
class HealthCheckOptions:
    readiness_paths: tuple[str, ...] = READINESS
    """Last path segments of routes that tell an orchestrator or load balancer the instance can serve."""
    liveness_paths: tuple[str, ...] = LIVENESS
    """Last path segments of liveness routes, which should answer without probing (never reported)."""


@dataclass
class _Frame:
    node: ast.AST
    body_start: tuple[int, int]
    touches: bool = False  # awaits, or calls something that may reach a service
    fails: bool = False  # can answer with an error (raise, a non-2xx status)
    relevant: bool = False  # a possible probe, or a function inside one
    # A route with a non-literal part anywhere in its path, or a function inside one: the
    # defs nested in it are ``_nested`` (as they were when every such route counted as a
    # possible probe), whether or not it may be a probe.
    holds: bool = False


class HealthCheckProbesNothing(FastAPITracking, Rule):
    """
    ## What it flags
    A health or readiness route (a path ending in `/health`, `/healthz`, `/ready`,
    `/readiness` or `/startup`, router prefixes included) whose handler answers the same
    thing whatever state the app is in: it awaits nothing, calls nothing that could reach
    a database, cache or downstream service, never raises and never sets an error status,
    and takes no dependency. Liveness routes (`/live`, `/livez`) that return a constant are
    correct and never reported; neither is a handler whose docstring says it is the
    liveness check. A readiness route that runs `SELECT 1`, pings Redis, or calls a
    helper that may do so is clean. The rule does not check that the app has a backing
    service at all: for a stateless service, list the path under `liveness-paths`.

    ## Why it matters
    Kubernetes readiness probes, Cloud Run startup probes and load-balancer health checks
    decide whether an instance gets traffic. A handler that always answers
    `{"status": "ok"}` tells them the instance is ready while its database or Redis is
    unreachable: traffic keeps flowing to an instance where every request fails, and a
    rolling deploy with a wrong `DATABASE_URL` replaces healthy revisions with broken
    ones. (A liveness probe is the opposite case: it must *not* check dependencies, or a
    database outage restarts every pod.)

    Paths are read in the route's module: the router's own `prefix=` and an
    `include_router(..., prefix=...)` in the same module count; a prefix given where
    another module includes the router is not seen, except that the root route (`"/"`)
    of a module named like a probe (`api/health.py`) is taken as that probe.

    ## Fix
    No automatic fix: what to check is the application's decision. Probe what the app
    cannot serve without (`await conn.execute(text("SELECT 1"))`, `await redis.ping()`)
    with a short timeout and answer 503 when it fails; or, if the route is meant as a
    liveness check, move it to `/livez` (or configure its path as liveness).

    Why not automatically: the same route is often wired as the platform's *liveness*
    probe (Cloud Run, a Kubernetes `livenessProbe`, a Docker `HEALTHCHECK`), which lives
    in deployment files the fix cannot see. A probe that pings the database there turns a
    database outage into restart loops of every instance, which is worse than the
    finding. Which dependencies are essential (a cache may be optional, an LLM API should
    not be probed on every poll), how to reach them from the route (an engine, a pool, a
    getter that would *create* a client) and what timeout the platform's probe allows
    are not in the code either. The message says what to probe and the alternative.

    ## Options
    `readiness-paths` and `liveness-paths` list the last path segments of each class of
    route (defaults: `health`, `healthz`, `healthcheck`, `ready`, `readyz`, `readiness`,
    `startup`, `startupz`; and `live`, `livez`, `liveness`, `alive`, `ping`). A segment in
    both counts as liveness.

    ## See also
    - https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
    - https://cloud.google.com/run/docs/configuring/healthchecks
    """

    meta = RuleMeta(
        code="SL706",
        name="health-check-probes-nothing",
        severity=Severity.MEDIUM,
        summary="Health check that probes no dependency.",
        audit="§15",
        since="0.1.0",
        tags=("fastapi", "operations"),
    )
    Options = HealthCheckOptions

    bad = (
        Bad(
            """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health_check():
    return {"status": "ok"}
""",
            in_docs=True,
        ),
        Bad(
            # Reads flags and settings, catches errors, but always answers "healthy".
            """\
from fastapi import FastAPI

from app.config import settings
from app.services import rag

app = FastAPI()


@app.get("/health")
async def health_check():
    \"\"\"Health check for monitoring (Kubernetes, Docker).\"\"\"
    status = {}
    try:
        status["rag_ready"] = rag.client is not None
    except Exception as exc:
        status["error"] = str(exc)
    return {"status": "healthy", "environment": settings.ENVIRONMENT, "rag": status}
"""
        ),
        Bad(
            # The router's prefix makes it /healthz; a pydantic response built from constants.
            """\
from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(prefix="/healthz")


class Health(BaseModel):
    status: str


@router.get("")
def healthz() -> Health:
    return Health(status="ok")
"""
        ),
        Bad(
            # Registered with add_api_route; a timestamp is not a probe.
            """\
from datetime import datetime, timezone

from fastapi import APIRouter

router = APIRouter()


async def readiness():
    return {"ready": True, "at": datetime.now(timezone.utc).isoformat()}


router.add_api_route("/readiness", readiness, methods=["GET"])
"""
        ),
        Bad(
            # A startup probe behind an f-string prefix, with a JSONResponse of status 200.
            """\
from fastapi import FastAPI, status
from fastapi.responses import JSONResponse

from app.config import API

app = FastAPI()


@app.get(f"{API}/startup")
async def startup():
    return JSONResponse(status_code=status.HTTP_200_OK, content={"started": True})
"""
        ),
        Bad(
            # "For the load balancer" makes it the routing decision, whatever the docstring calls it.
            """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/ready")
async def ready():
    \"\"\"Liveness probe for the load balancer.\"\"\"
    return "OK"
"""
        ),
        Bad(
            # Two paths, one handler: one finding.
            """\
import logging

from fastapi import FastAPI

app = FastAPI()
logger = logging.getLogger(__name__)


@app.get("/health")
@app.head("/healthcheck")
def health():
    logger.debug("health probe")
    return {"ok": True}
"""
        ),
        Bad(
            # A router included under /health in the same module: its "/" route is the probe.
            """\
from fastapi import APIRouter, FastAPI

app = FastAPI()
status_router = APIRouter()


@status_router.get("/")
def status():
    return {"ok": True}


app.include_router(status_router, prefix="/api/health")
"""
        ),
        Bad(
            # The root route of a health module (included as /health elsewhere).
            """\
# file: app/api/health.py
from fastapi import APIRouter

router = APIRouter()


@router.get("/")
async def health():
    return {"status": "ok"}
# file: app/main.py
from fastapi import FastAPI

from app.api import health

app = FastAPI()
app.include_router(health.router, prefix="/health")
"""
        ),
        Bad(
            # In an app factory, with the version read from the package metadata.
            """\
from importlib.metadata import version

from fastapi import FastAPI


def create_app():
    app = FastAPI()

    @app.get("/health/")
    async def health():
        return {"status": "ok", "version": version("myapp")}

    return app
"""
        ),
    )

    good = (
        Good(
            """\
from fastapi import FastAPI
from sqlalchemy import text

from app.db import engine

app = FastAPI()


@app.get("/ready")
async def ready():
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return {"status": "ready"}


@app.get("/livez")
async def live():
    return {"status": "ok"}
""",
            in_docs=True,
        ),
        Good(
            # A sync readiness check that pings Redis.
            """\
from fastapi import FastAPI

from app.cache import redis_client

app = FastAPI()


@app.get("/health")
def health():
    redis_client.ping()
    return {"status": "ok"}
"""
        ),
        Good(
            # Answers 503 from a readiness flag the lifespan sets.
            """\
from fastapi import FastAPI, HTTPException

from app.state import state

app = FastAPI()


@app.get("/ready")
async def ready():
    if not state.ready:
        raise HTTPException(status_code=503, detail="starting")
    return {"status": "ready"}
"""
        ),
        Good(
            # The check runs in a dependency.
            """\
from fastapi import Depends, FastAPI

from app.health import check_database

app = FastAPI()


@app.get("/health", dependencies=[Depends(check_database)])
async def health():
    return {"status": "ok"}
"""
        ),
        Good(
            # Delegates to a helper that may probe: sightlint cannot tell it does not.
            """\
from fastapi import APIRouter

from app.health import collect_checks

router = APIRouter(prefix="/health")


@router.get("/")
def health():
    return collect_checks()
"""
        ),
        Good(
            # Liveness by path, and by what its docstring says it is.
            """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/live")
async def live():
    return {"status": "alive"}


@app.get("/health/")
async def check_health():
    \"\"\"Liveness endpoint; returns 200 when the process is responsive.\"\"\"
    return {"status": "ok"}
"""
        ),
        Good(
            # Not a health route: /health/{component} and /api/healthy-recipes are other things.
            """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/health/{component}")
async def component_health(component: str):
    return {"component": component}


@app.get("/api/healthy-recipes")
async def recipes():
    return []
"""
        ),
        Good(
            # A status code set on the response when something is wrong.
            """\
from fastapi import FastAPI, Response

from app.workers import pool

app = FastAPI()


@app.get("/healthz")
def healthz(response: Response):
    if pool.closed:
        response.status_code = 503
    return {"workers": "ok"}
"""
        ),
        Good(
            # A root route in a module not named for a probe; the probe in its own module is below.
            """\
# file: app/api/items.py
from fastapi import APIRouter

router = APIRouter()


@router.get("/")
async def index():
    return {"items": "see /items/{id}"}
# file: app/api/health.py
from fastapi import APIRouter

from app.db import ping_database

router = APIRouter()


@router.get("/")
async def health():
    await ping_database()
    return {"status": "ok"}
"""
        ),
        Good(
            # A websocket is not a probe.
            """\
from fastapi import FastAPI, WebSocket

app = FastAPI()


@app.websocket("/health")
async def health_ws(websocket: WebSocket):
    await websocket.accept()
"""
        ),
    )

    def __init__(self, context: Context, options: Any = None) -> None:
        super().__init__(context, options)
        self._frames: list[_Frame] = []
        self._done: dict[ast.AST, _Frame] = {}
        settings: HealthCheckOptions = self.options
        self._readiness = _readiness(tuple(settings.readiness_paths), tuple(settings.liveness_paths))
        # Frames of possible probes on the stack: outside them nothing is recorded. Handlers
        # registered by a call (``add_api_route(path, f)``) are known only after their def.
        self._relevant = 0
        self._holding = 0  # frames ``holds`` on the stack
        self._nested: set[str] = set()  # defs nested in possible probes: calling one is not a probe
        self._any_function = "route(" in context.text and "add_" in context.text

    # Outside the frames of possible probes (until the first one) these do nothing.
    switched = frozenset(("visit_Await", "visit_AsyncWith", "visit_AsyncFor", "visit_Raise", "visit_Call", "visit_Assign"))

    @classmethod
    def may_report(cls, text: str) -> bool:
        # Every finding is the `def` of a route handler (`handler_nodes`): a route decorator
        # (`@`, any method: `@app.head("/health")` counts as much as `.get`), or a route
        # registered by a call, all of whose names (`ADD_ROUTE_METHODS`) hold `add_` and
        # `route`. The health path is configurable (and may come from the module's name),
        # so no path word is required.
        return "def" in text and ("@" in text or ("add_" in text and "route" in text))

    # -- the walk: what each function does ----------------------------------------------------

    def _enter(self, node: _Def | ast.Lambda) -> None:
        first: ast.expr | ast.stmt = node.body if isinstance(node, ast.Lambda) else node.body[0]
        relevant, holds = bool(self._relevant), bool(self._holding)
        if not isinstance(node, ast.Lambda):
            if holds:
                self._nested.add(node.name)  # its body counts as the probe's own
            if not relevant:
                paths = [r.full_path for r in self.fastapi.routes_at(node) if self._may_hold(r.full_path)]
                holds = holds or self._any_function or bool(paths)
                relevant = self._any_function or any(self._may_probe(path) for path in paths)
        self._frames.append(_Frame(node, (first.lineno, first.col_offset), relevant=relevant, holds=holds))
        self._relevant += relevant
        self._holding += holds
        if relevant:
            self.switch_on(*self.switched)

    def _may_hold(self, path: str | None) -> bool:
        """The route paths whose handlers' nested defs are ``_nested``: those with a part that
        is not literal (``{...}``) anywhere, and those :meth:`_may_probe` accepts."""
        return path is None or "{" in path or _last_segment(path) in self._readiness or path.strip("/") == ""

    def _may_probe(self, path: str | None) -> bool:
        """Of the paths :meth:`_may_hold` accepts, one that is, or may become with an
        include prefix, a health route: a prefix goes before the path, so the paths a route
        whose path starts with ``/`` is served at (``full_paths``, which keeps a ``{...}``
        part as written) all end in its path's last segment."""
        if path is None or not path.startswith("/"):
            return True
        segment = _last_segment(path)
        return not segment or segment in self._readiness

    def _leave(self, node: ast.AST) -> None:
        frame = self._frames.pop()
        self._relevant -= frame.relevant
        self._holding -= frame.holds
        if frame.relevant:
            self._done[node] = frame

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._enter(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._enter(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._enter(node)

    def leave_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._leave(node)

    def leave_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._leave(node)

    def leave_Lambda(self, node: ast.Lambda) -> None:
        self._leave(node)

    def _mark(self, node: ast.AST, *, touches: bool = False, fails: bool = False) -> None:
        """Record on every function whose body holds ``node`` (not its decorators or defaults)."""
        position = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
        for frame in self._frames:
            if frame.relevant and position >= frame.body_start:
                frame.touches = frame.touches or touches
                frame.fails = frame.fails or fails

    def _touch(self, node: ast.AST) -> None:
        if self._relevant:
            self._mark(node, touches=True)

    visit_Await = visit_AsyncWith = visit_AsyncFor = _touch

    def visit_Raise(self, node: ast.Raise) -> None:
        if self._relevant:
            self._mark(node, fails=True)

    def visit_Call(self, node: ast.Call) -> None:
        if not self._relevant:
            return
        for keyword in node.keywords:
            if keyword.arg == "status_code" and not _is_2xx(keyword.value):
                self._mark(node, fails=True)
        if not self._harmless(node.func):
            self._mark(node, touches=True)

    def visit_Assign(self, node: ast.Assign) -> None:
        if self._relevant and any(isinstance(t, ast.Attribute) and t.attr == "status_code" for t in node.targets):
            if not _is_2xx(node.value):
                self._mark(node, fails=True)

    def _harmless(self, func: ast.expr) -> bool:
        """A call that cannot ask a backing service anything (see the module's lists)."""
        qualified = self.context.qualified_name(func)
        if qualified is not None:
            if qualified.startswith(_HARMLESS_MODULES):
                return True
        elif isinstance(func, ast.Name):
            if func.id in self._nested and self.context.is_local(func.id):
                return True
            if func.id in _HARMLESS_BUILTINS and not self.context.is_local(func.id):
                return True
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if isinstance(func, ast.Attribute) and name in _HARMLESS_METHODS:
            return True
        # A class built in place (a response model) or a settings/version getter.
        return bool(name) and (name[0].isupper() or bool(_CONFIG_NAME.search(name)))

    # -- deciding --------------------------------------------------------------------------

    def end_module(self) -> None:
        readiness = self._readiness
        # Routers included with a prefix in this module: their routes are served under it.
        mounts = mount_prefixes([self.fastapi.facts()])
        # A router's root route in a module named for a probe (``api/health.py``'s
        # ``@router.get("/")``): included under that name from another module, as a rule.
        module = self.context.path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py").lower()
        if module in readiness:
            root = (f"/{module}",)
            apps = {a.qualified for a in self.fastapi.apps if a.kind == "app"}
            mounts = {
                **mounts,
                **{r.owner: root for r in self.fastapi.routes if r.owner not in apps and mounts.get(r.owner, ("",)) == ("",)},
            }
        for node, routes in self.fastapi.handler_nodes.items():
            route, path = next(
                ((r, p) for r in routes if not r.is_websocket for p in full_paths(r, mounts) if _last_segment(p) in readiness),
                (None, ""),
            )
            frame = self._done.get(node)
            if route is None or frame is None or frame.touches or frame.fails:
                continue
            if route.all_dependencies or _says_liveness(node):
                continue
            methods = "/".join(route.methods)
            self.report(
                node,
                f"`{methods} {path}` is a health route, but `{node.name}` answers the same whatever the app's state: "
                "it checks no database, cache or service it needs, so traffic keeps coming while they are down. "
                "Probe them (`SELECT 1`, `ping()`) and answer 503 on failure, or serve this as a liveness route (`/livez`).",
            )


def _last_segment(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return parts[-1].lower() if parts else ""


def _is_2xx(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int) and 200 <= node.value < 300
    if isinstance(node, ast.Attribute):
        return node.attr.startswith("HTTP_2")
    return False


def _says_liveness(node: _Def) -> bool:
    """The docstring calls the route a liveness check (and not a readiness check)."""
    doc = ast.get_docstring(node) or ""
    first = doc.strip().split("\n", 1)[0]
    return bool(_LIVENESS_DOC.search(first)) and not _READINESS_DOC.search(first)
