from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sightlint.models import Finding
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.fastapi import FastAPITracking, Route

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.semantics.scope import Context

_Def = ast.FunctionDef | ast.AsyncFunctionDef
_BUILTINS = frozenset(dir(builtins))


@dataclass
class _Frame:
    """A function (or lambda, or class body) being walked."""

    node: ast.AST
    depth: int  # the Context's scope depth of its body (module: 0)
    candidate: bool = False  # a ``def`` directly in a function's body
    free: set[str] = field(default_factory=set)  # names it reads that it does not bind
    children: list[_Frame] = field(default_factory=list)  # candidate defs directly inside
    names: dict[str, int] = field(default_factory=dict)  # how often each child def name is defined
    nonlocal_: bool = False  # assigns an enclosing function's variable
    handler: bool = False  # may be a route handler or HTTP middleware
    passed: set[str] = field(default_factory=set)  # child def names read other than to call them
    rebound: set[str] = field(default_factory=set)  # child def names also assigned or deleted


@dataclass(frozen=True)
class _Nested:
    """A nested def that uses nothing of its function but parameters and imports."""

    node: _Def
    outer: _Def
    params: tuple[str, ...]  # the outer function's parameters it reads
    imports: tuple[str, ...]  # names the outer function imports that it reads
    hoistable: bool  # nothing of the outer function at all, and safe to define at module level


class NestedFunctionInHandler(FastAPITracking, Rule):
    """
    ## What it flags
    A `def` inside a route handler (or an `@app.middleware("http")` function) that uses
    nothing of the handler but its parameters, its local imports and module globals: it
    could be a module-level function taking those as arguments. Not reported: closures
    that read the handler's local variables (or an enclosing app factory's); callbacks
    handed on that read the handler's parameters (`get_metadata(server, url_for)` where
    `url_for` reads `request`: it has to bind it, as a closure or a `functools.partial`);
    nested defs that are decorated (a decorator may register them per request, as
    Socket.IO and LangChain `@tool` do); decorators written inline (a def that returns
    a nested def); functions using `super()` or `nonlocal`.

    ## Why it matters
    Every request builds a new function object, and the function can only be tested by
    calling the route. That is the whole cost: a handler with a small nested def took
    145 ns per call against 78 ns without it (CPython 3.11, `timeit`); nothing leaks and
    the code behaves the same. The audit (§10) rates it HIGH next to real production
    failures; it is a readability and testability issue, so the rule reports it at LOW.

    ## Fix
    When the nested def uses nothing of the handler at all (no parameter, no local, no
    local import), the fix moves it, unchanged, to module level after the imports.
    Function bodies read globals when they run, so the moved function sees what it saw
    before, and the handler's call now reads the module-level name. The fix is not
    offered when something could change: default values or annotations evaluated at
    definition time (they would run at import, before names defined later), a name the
    module already binds or the handler binds again or defines twice, a comment right
    above the def (the move would drop it), parameters it reads (pass them as arguments
    by hand), or the handler's local imports (a local import is often deliberate: an
    optional dependency or an import cycle).
    """

    meta = RuleMeta(
        code="SL705",
        name="nested-function-in-handler",
        severity=Severity.LOW,
        summary="Function defined inside a request handler.",
        audit="§10",
        fix=FixSafety.SAFE,
        fix_title="Move the function to module level",
        since="0.1.0",
        tags=("fastapi", "maintainability"),
    )

    bad = (
        Bad(
            """\
from fastapi import FastAPI
from neo4j import GraphDatabase

from app.config import settings

app = FastAPI()


@app.get("/startup")
async def startup_probe():
    def test_neo4j_connection():
        driver = GraphDatabase.driver(settings.NEO4J_URI)
        driver.verify_connectivity()
        return True

    return {"neo4j": test_neo4j_connection()}
""",
            fixed="""\
from fastapi import FastAPI
from neo4j import GraphDatabase

from app.config import settings


def test_neo4j_connection():
    driver = GraphDatabase.driver(settings.NEO4J_URI)
    driver.verify_connectivity()
    return True


app = FastAPI()


@app.get("/startup")
async def startup_probe():

    return {"neo4j": test_neo4j_connection()}
""",
            in_docs=True,
        ),
        Bad(
            # Reads only the handler's parameters: pass them as arguments (no automatic fix).
            """\
from fastapi import APIRouter

router = APIRouter(prefix="/reports")


@router.post("/{report_id}/render")
async def render(report_id: int, fmt: str = "pdf"):
    def file_name() -> str:
        return f"report-{report_id}.{fmt}"

    return {"name": file_name()}
"""
        ),
        Bad(
            # Reads a name the handler imports: moving it means moving the import (no automatic fix).
            """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/ready")
async def ready():
    from app.services.rag import rag_client

    def probe():
        return rag_client.ping()

    return {"rag": probe()}
"""
        ),
        Bad(
            # Registered with add_api_route, defined in a try block, sync.
            """\
import json

from fastapi import APIRouter

router = APIRouter()


def export(kind: str):
    try:
        def dump(rows):
            return json.dumps(rows)
    except ImportError:
        raise
    return dump([kind])


router.add_api_route("/export/{kind}", export, methods=["GET"])
""",
            fixed="""\
import json

from fastapi import APIRouter


def dump(rows):
    return json.dumps(rows)


router = APIRouter()


def export(kind: str):
    try:
        pass
    except ImportError:
        raise
    return dump([kind])


router.add_api_route("/export/{kind}", export, methods=["GET"])
""",
        ),
        Bad(
            # A websocket handler and an HTTP middleware count as handlers too.
            """\
import time

from fastapi import FastAPI, WebSocket

app = FastAPI()


@app.websocket("/ws")
async def feed(websocket: WebSocket):
    def stamp(message):
        return {"at": time.time(), "message": message}

    await websocket.send_json(stamp("hello"))


@app.middleware("http")
async def timing(request, call_next):
    async def elapsed(start):
        return time.perf_counter() - start

    response = await call_next(request)
    return response
""",
            fixed="""\
import time

from fastapi import FastAPI, WebSocket


def stamp(message):
    return {"at": time.time(), "message": message}


async def elapsed(start):
    return time.perf_counter() - start


app = FastAPI()


@app.websocket("/ws")
async def feed(websocket: WebSocket):

    await websocket.send_json(stamp("hello"))


@app.middleware("http")
async def timing(request, call_next):

    response = await call_next(request)
    return response
""",
            count=2,
        ),
        Bad(
            # A route in an app factory: the nested def uses nothing of the handler or the factory.
            """\
import hashlib

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/hash")
    async def hash_text(text: str):
        def digest(value: str) -> str:
            return hashlib.sha256(value.encode()).hexdigest()

        return {"sha256": digest(text)}

    return app
""",
            fixed="""\
import hashlib

from fastapi import FastAPI


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/hash")
    async def hash_text(text: str):

        return {"sha256": digest(text)}

    return app
""",
        ),
        Bad(
            # One definition per branch: reported twice, not moved (two functions, one name).
            """\
from fastapi import APIRouter

router = APIRouter()


@router.get("/greet")
def greet(formal: bool):
    if formal:
        def render(name):
            return f"Good day, {name}."
    else:
        def render(name):
            return f"Hi {name}!"
    return render("you")
""",
            count=2,
        ),
        Bad(
            # A method of a class-based view: `self` is a parameter it could take.
            """\
from fastapi import APIRouter

router = APIRouter()


class Items:
    @router.get("/items/count")
    async def count(self):
        def total():
            return len(self.items)

        return total()
"""
        ),
    )

    good = (
        Good(
            # A closure over a local: the nested function needs the handler's state.
            """\
from fastapi import APIRouter

router = APIRouter()


@router.get("/items")
async def list_items(q: str):
    seen = set()

    def first_time(item):
        if item.id in seen:
            return False
        seen.add(item.id)
        return True

    return [i for i in await load(q) if first_time(i)]
""",
            in_docs=True,
        ),
        Good(
            # Not a route handler: a nested helper in an ordinary function is not this rule's business.
            """\
def build_index(rows):
    def key(row):
        return row["id"]

    return sorted(rows, key=key)
"""
        ),
        Good(
            # Decorated: the decorator may register it per request (LangChain tools, Socket.IO events).
            """\
from fastapi import FastAPI
from langchain_core.tools import tool

app = FastAPI()


@app.post("/chat")
async def chat(question: str):
    @tool
    def search(query: str) -> str:
        \"\"\"Search the docs.\"\"\"
        return lookup(query)

    return await agent.ainvoke({"input": question, "tools": [search]})
"""
        ),
        Good(
            # An inline decorator returns its nested wrapper: that must be a closure.
            """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/report")
async def report():
    def logged(fn):
        def wrapper(*args):
            return fn(*args)
        return wrapper

    return logged(build)()
"""
        ),
        Good(
            # Assigns the handler's variable through nonlocal.
            """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/count")
async def count():
    calls = 0

    def bump():
        nonlocal calls
        calls += 1

    bump()
    return calls
"""
        ),
        Good(
            # Captures a local of the app factory around the route: cannot move to module level.
            """\
from fastapi import FastAPI


def create_app(settings) -> FastAPI:
    app = FastAPI()
    limits = settings.limits

    @app.get("/limits")
    async def show():
        def describe():
            return {"per_minute": limits.per_minute}

        return describe()

    return app
"""
        ),
        Good(
            # A local bound after the def is still captured (it exists when the function runs).
            """\
from fastapi import APIRouter

router = APIRouter()


@router.post("/batch")
async def batch(items: list[str]):
    def record(item):
        results.append(item.upper())

    results = []
    for item in items:
        record(item)
    return results
"""
        ),
        Good(
            # A callback that binds a parameter: the callee calls it with one argument.
            """\
from fastapi import APIRouter, Request

router = APIRouter()


@router.get("/openid-configuration")
async def openid_configuration(request: Request):
    def url_for(name: str) -> str:
        return str(request.url_for(name))

    return build_metadata(url_for)
"""
        ),
        Good(
            # Not a route: `mock.patch` is a test double, and a lambda is not a def.
            """\
from unittest import mock

from fastapi import FastAPI

app = FastAPI()


@mock.patch("/users")
def test_users(client):
    def fake(*args):
        return []

    return fake


@app.get("/sorted")
async def sorted_names(names: list[str]):
    return sorted(names, key=lambda n: n.lower())
"""
        ),
    )

    def __init__(self, context: Context, options: Any = None) -> None:
        super().__init__(context, options)
        self._frames: list[_Frame] = []
        self._found: list[_Nested] = []
        self._open = 0  # candidate frames on the stack
        self._called: set[int] = set()  # ids of the ``Name`` nodes that are called (``f(...)``)
        self._nested: set[str] = set()  # names of the candidate defs seen so far
        # Handlers registered by a call (``add_api_route(path, f)``) are known only after
        # their ``def``: in a file that has such calls, every function may be one.
        self._any_function = "route(" in context.text and "add_" in context.text

    # Until the first def nested in a possible handler (a candidate), these do nothing.
    switched = frozenset(("visit_Call", "visit_Name", "visit_Nonlocal"))

    @classmethod
    def may_report(cls, text: str) -> bool:
        # Every finding is a `def` nested in a `def` that is a route handler or an HTTP
        # middleware (`end_module` reads `handler_nodes` and the decorator middleware): two
        # `def` keywords (`def\tf` is a def too, hence no blank), and a decorator (`@`) or a
        # route registered by a call, all of whose names (`ADD_ROUTE_METHODS`) hold `add_`
        # and `route`.
        first = text.find("def")  # two of them (``def`` cannot overlap itself)
        return first >= 0 and text.find("def", first + 3) >= 0 and ("@" in text or ("add_" in text and "route" in text))

    # -- the walk ------------------------------------------------------------------------

    def _enter(self, node: ast.AST) -> None:
        parent = self._frames[-1] if self._frames else None
        depth = len(self.context.function_stack)
        is_def = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        candidate = is_def and parent is not None and parent.handler
        frame = _Frame(node, depth, candidate)
        if is_def:
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            frame.handler = self._any_function or bool(self.fastapi.routes_at(node)) or _is_middleware(node)
            if candidate and parent is not None:
                self.switch_on("visit_Call", "visit_Name", "visit_Nonlocal")
                parent.children.append(frame)
                parent.names[node.name] = parent.names.get(node.name, 0) + 1
                self._nested.add(node.name)
                self._open += 1
        self._frames.append(frame)

    def _leave(self, node: ast.AST) -> None:
        frame = self._frames.pop()
        if frame.candidate:
            self._open -= 1
            # A name this def binds after reading it is still its own.
            lookup = self.context.lookup
            frame.free = {n for n in frame.free if (found := lookup(n)) is None or found[0] < frame.depth}
        if frame.children and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self._judge(node, frame)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._enter(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._enter(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._enter(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._frames.append(_Frame(node, len(self.context.function_stack)))

    def leave_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._leave(node)

    def leave_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._leave(node)

    def leave_Lambda(self, node: ast.Lambda) -> None:
        self._leave(node)

    def leave_ClassDef(self, node: ast.ClassDef) -> None:
        self._frames.pop()

    def visit_Call(self, node: ast.Call) -> None:
        if self._nested and type(node.func) is ast.Name:
            self._called.add(id(node.func))

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self._nested:
            loaded = type(node.ctx) is ast.Load
            if not loaded or id(node) not in self._called:
                for frame in self._frames:
                    if node.id in frame.names:
                        # handed on as a callback (or stored, returned); or bound again
                        (frame.passed if loaded else frame.rebound).add(node.id)
        if not self._open or type(node.ctx) is not ast.Load:
            return
        found = self.context.lookup(node.id)
        bound_at = -1 if found is None else found[0]
        for frame in self._frames:
            if frame.candidate and frame.depth > bound_at:
                frame.free.add(node.id)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        for frame in self._frames:
            if frame.candidate:
                frame.nonlocal_ = True  # assigns a variable of a function around it: a closure

    # -- deciding ------------------------------------------------------------------------

    def _judge(self, outer: _Def, frame: _Frame) -> None:
        """At the end of ``outer`` (all its locals bound): which nested defs use none of them."""
        lookup = self.context.lookup
        args = outer.args
        params = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a}
        for child in frame.children:
            node = child.node
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            if node.decorator_list or child.nonlocal_ or _is_inline_decorator(node) or child.free & {"super", "__class__"}:
                continue
            used_params: list[str] = []
            imports: list[str] = []
            closure = False
            for name in sorted(child.free):
                found = lookup(name)
                if found is None or found[0] == 0:
                    continue  # a module global or a builtin
                depth, qualified = found
                if depth < frame.depth or name == node.name:
                    closure = True  # a local of a function around the handler
                elif qualified is not None:
                    imports.append(name)
                elif name in params:
                    used_params.append(name)
                else:
                    closure = True
                if closure:
                    break
            if closure or (used_params and node.name in frame.passed):
                continue  # a closure, or a callback that binds the handler's parameters
            hoistable = (
                not used_params
                and not imports
                and frame.names.get(node.name) == 1
                and node.name not in frame.rebound
                and not self._comment_above(node)
                and self._safe_at_module_level(node)
            )
            self._found.append(_Nested(node, outer, tuple(used_params), tuple(imports), hoistable))

    def _comment_above(self, node: _Def) -> bool:
        """A comment right above the def belongs to it in LibCST, and the move would lose it."""
        lines = self.context.lines
        return node.lineno >= 2 and lines[node.lineno - 2].lstrip().startswith("#")

    def _safe_at_module_level(self, node: _Def) -> bool:
        """No defaults, annotations read only builtins (or are not evaluated), name free at module level."""
        args = node.args
        if args.defaults or any(d is not None for d in args.kw_defaults):
            return False
        future: bool | None = getattr(self, "_future", None)
        if future is None:
            future = self._future = _future_annotations(self.context.tree)
        if not future:
            annotations = [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a]
            for annotation in [*annotations, node.returns]:
                if annotation is not None and any(
                    isinstance(n, ast.Name) and n.id not in _BUILTINS for n in ast.walk(annotation)
                ):
                    return False
        # Computed once per file (once per nested def made a file of many handlers quadratic).
        names: set[str] | None = getattr(self, "_top_names", None)
        if names is None:
            names = self._top_names = _module_names(self.context.tree)
        return node.name not in names

    def end_module(self) -> None:
        handlers: dict[ast.AST, str] = {}
        collector = self.fastapi
        for fnode, routes in collector.handler_nodes.items():
            handlers[fnode] = _describe(routes)
        for middleware in collector.middleware:
            function = collector.function_nodes.get(middleware.target)
            if middleware.how == "decorator" and function is not None:
                handlers.setdefault(function, "HTTP middleware")
        hoisted: set[str] = set()
        for nested in self._found:
            what = handlers.get(nested.outer)
            if what is None:
                continue
            name, outer = nested.node.name, nested.outer.name
            uses = []
            if nested.params:
                plural = "s" if len(nested.params) > 1 else ""
                uses.append(f"its parameter{plural} " + ", ".join(f"`{p}`" for p in nested.params))
            if nested.imports:
                uses.append("what it imports (" + ", ".join(f"`{i}`" for i in nested.imports) + ")")
            reads = "only " + " and ".join(uses) if uses else "nothing of it"
            if nested.params:
                advice = "make it a module-level function that takes them as arguments"
            elif nested.imports:
                advice = "define it at module level, with its import"
            else:
                advice = "define it at module level"
            fixable = nested.hoistable and name not in hoisted
            hoisted.add(name)
            self.report(
                nested.node,
                f"`{name}` is defined inside `{outer}` ({what}) and uses {reads}: a new function object is "
                f"built on every request, and it can only be tested through the handler; {advice}.",
                fixable=fixable,
            )

    # -- fixing ----------------------------------------------------------------------------

    fix_node = ("FunctionDef",)

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        import libcst as cst

        if not isinstance(node, cst.FunctionDef):
            return None
        name = node.name.value
        if self.context.module_binding(name) is not None or any(line.comment for line in node.leading_lines):
            return None
        source = cst.Module(body=[node.with_changes(leading_lines=[])]).code
        return Fix(replacement=cst.RemoveFromParent(), module_statements=((name, source),))


def _describe(routes: list[Route]) -> str:
    route = routes[0]
    path = route.full_path
    methods = "/".join(route.methods)
    return f"route {methods} {path}" if path is not None else "a route handler"


def _is_middleware(node: _Def) -> bool:
    """Decorated ``@<app>.middleware(...)``."""
    return any(
        isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "middleware"
        for d in node.decorator_list
    )


def _is_inline_decorator(node: _Def) -> bool:
    """``def deco(fn): def wrapper(...): ...; return wrapper``: a decorator, which must be a closure."""
    inner = {s.name for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return bool(inner) and any(
        isinstance(s, ast.Return) and isinstance(s.value, ast.Name) and s.value.id in inner for s in node.body
    )


def _future_annotations(tree: ast.Module) -> bool:
    return any(
        isinstance(s, ast.ImportFrom) and s.module == "__future__" and any(a.name == "annotations" for a in s.names)
        for s in tree.body
    )


def _module_names(tree: ast.Module) -> set[str]:
    """Names bound by the module's top-level statements (and their ``if``/``try`` blocks)."""
    names: set[str] = set()
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For)):
            for block in ("body", "orelse", "finalbody"):
                stack.extend(getattr(stmt, block, []))
            for handler in getattr(stmt, "handlers", []):
                stack.extend(handler.body)
    return names
