"""What a module says about its FastAPI application: apps, routers, routes, dependencies,
lifespans, event handlers and middleware. The one place rules learn FastAPI from.

Two halves:

- **Node questions** (pure functions of an ``ast`` node and the running
  :class:`~sightlint.semantics.scope.Context`): :func:`depends_call` (is this
  ``Depends(f)``/``Security(f)``?), :func:`route_decorator` (is this ``@app.get("/x")``?),
  :func:`parameter_dependencies` (the ``Depends`` parameters of a function, through
  ``Annotated[T, Depends(f)]`` and module aliases of it), :func:`background_tasks_params`,
  :func:`split_at_yield` (a lifespan's code before and after its ``yield``). They answer
  during the engine's walk (names resolve through the imports seen so far) and at fix time.
- **Module facts** (:class:`FastAPIModule`): a compact, picklable record of everything
  above for one module, built by a :class:`FastAPICollector` fed from the engine's one walk
  (rules mix in :class:`FastAPITracking`, which feeds it from their ``visit_*`` handlers),
  or by :func:`collect` outside a walk (tests, tools). Records hold names, dotted
  qualified names and positions, never ``ast`` nodes, so they can go into the per-module
  summaries; :func:`mount_prefixes` and :func:`full_paths` join modules (a router defined
  in one module, included with a prefix in another).

Names resolve through imports: ``from fastapi import APIRouter as R`` is still a router,
``from app.api import personas`` + ``include_router(personas.router)`` names
``app.api.personas.router``. What cannot be resolved (``Depends`` from an unknown import)
is recognised by name, as FastAPI users write it.

Library facts (fastapi 0.165.0 with starlette 1.10.0, ``fastapi/routing.py``):
``APIRouter.add_api_route`` stores ``self.prefix + path``; ``_RouterIncludeContext``
builds an included router's prefix as ``parent_router.prefix + prefix``, so a route is
served at ``include prefixes + router prefix + path``, and ``dependencies`` of the
including router, of ``include_router`` and of the route all run for it.
``APIRouter.__init__`` uses the ``lifespan`` it is given, and only when there is none
``_DefaultLifespan``, which runs the ``on_startup``/``on_shutdown`` handlers
(``@app.on_event`` adds to them): with ``lifespan=`` they never run. A plain async
generator given as ``lifespan`` is wrapped in ``asynccontextmanager`` too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from sightlint.semantics.scope import Context

# -- vocabulary (qualified names) --------------------------------------------------------

APP_CLASSES = frozenset(
    ("fastapi.FastAPI", "fastapi.applications.FastAPI", "starlette.applications.Starlette")
)
ROUTER_CLASSES = frozenset(("fastapi.APIRouter", "fastapi.routing.APIRouter", "starlette.routing.Router"))
DEPENDS = frozenset(("fastapi.Depends", "fastapi.param_functions.Depends", "fastapi.params.Depends"))
SECURITY = frozenset(("fastapi.Security", "fastapi.param_functions.Security", "fastapi.params.Security"))
BACKGROUND_TASKS = frozenset(
    ("fastapi.BackgroundTasks", "fastapi.background.BackgroundTasks", "starlette.background.BackgroundTasks")
)
ASYNC_CONTEXT_MANAGERS = frozenset(("contextlib.asynccontextmanager", "contextlib.contextmanager"))
# Route decorators and ``add_api_route``-style registrations: method name -> HTTP methods
# (empty: given by ``methods=``, default GET for ``api_route``/``route``).
ROUTE_METHODS: Mapping[str, tuple[str, ...]] = {
    "get": ("GET",),
    "post": ("POST",),
    "put": ("PUT",),
    "patch": ("PATCH",),
    "delete": ("DELETE",),
    "head": ("HEAD",),
    "options": ("OPTIONS",),
    "trace": ("TRACE",),
    "api_route": (),
    "route": (),
    "websocket": ("WEBSOCKET",),
    "websocket_route": ("WEBSOCKET",),
}
ADD_ROUTE_METHODS: Mapping[str, tuple[str, ...]] = {
    "add_api_route": (),
    "add_route": (),
    "add_api_websocket_route": ("WEBSOCKET",),
    "add_websocket_route": ("WEBSOCKET",),
}
EVENTS = ("startup", "shutdown")
# Last names of the app and router classes, and the methods that register something on an
# app: the collector looks further only at calls named so.
_CONSTRUCTOR_NAMES = frozenset(name.rsplit(".", 1)[1] for name in APP_CLASSES | ROUTER_CLASSES)
_OWN_CLASSES = frozenset(("FastAPI", "APIRouter"))
_OWN_ENDINGS = tuple(_OWN_CLASSES)  # a cheap test before splitting a name
# Packages whose names are types, never a project's ``Annotated`` dependency alias.
_NOT_ALIAS_PACKAGES = frozenset(
    ("fastapi", "starlette", "pydantic", "typing", "typing_extensions", "sqlalchemy", "uuid", "datetime", "collections", "builtins")
)
_REGISTRATIONS = frozenset(
    ("include_router", "mount", "add_event_handler", "add_middleware", "add_exception_handler", *ADD_ROUTE_METHODS)
)
# Keywords of ``FastAPI(...)``/``APIRouter(...)`` naming functions the app calls at startup/shutdown.
APP_HOOK_KEYWORDS = ("lifespan", "on_startup", "on_shutdown")
# Receivers whose name says they are an app or a router, for objects made elsewhere
# (``from app.api.deps import router``; ``def register(app): @app.get(...)``).
_ROUTERISH = ("app", "api", "router", "application", "server")
# Packages whose ``.get``/``.patch`` decorators are something else (test doubles, HTTP mocks).
NOT_FRAMEWORKS = frozenset(
    ("unittest", "mock", "pytest_mock", "responses", "respx", "aioresponses", "httpretty", "requests_mock", "freezegun")
)


# -- records (picklable; positions are 1-based lines, 0-based character columns) ---------


class Dependency(NamedTuple):
    """``Depends(f)``/``Security(f)``: ``target`` is how the callable reads (``get_db``,
    ``deps.get_db``, ``RateLimiter()`` for an instance built in place); ``qualified`` its
    dotted name through imports (module-local names get the module's name), None when
    unknown. ``param`` is the parameter it fills, None for ``dependencies=[...]``."""

    target: str
    qualified: str | None
    line: int
    col: int
    security: bool = False
    param: str | None = None


class App(NamedTuple):
    """``app = FastAPI(...)`` (or ``Starlette``), or a router: ``router = APIRouter(...)``.

    ``name``: the variable (module-level, or local to ``factory``, a function returning
    the app). ``prefix``: the router's ``prefix=`` as text (``{...}`` marks a part that is
    not a literal: ``{settings.API_V1_PREFIX}``), "" when none. ``lifespan`` and the
    ``on_startup``/``on_shutdown`` handlers as dotted names (module-local ones qualified).
    """

    name: str
    qualified: str
    kind: str  # "app" or "router"
    line: int
    col: int
    prefix: str = ""
    dependencies: tuple[Dependency, ...] = ()
    lifespan: str | None = None
    on_startup: tuple[str, ...] = ()
    on_shutdown: tuple[str, ...] = ()
    factory: str | None = None


class Inclusion(NamedTuple):
    """``parent.include_router(child, prefix=..., dependencies=[...])`` (``how``
    "include_router"), or ``parent.mount("/path", child)`` (``how`` "mount": a sub-app
    served under the path); ``child`` is the dotted name of the router or app included
    (``app.api.personas.router``), or its text when it cannot be resolved."""

    parent: str
    child: str
    prefix: str
    dependencies: tuple[Dependency, ...]
    line: int
    col: int
    how: str = "include_router"


class Route(NamedTuple):
    """One route: a decorator ``@owner.get(path)`` on ``handler`` or an
    ``owner.add_api_route(path, handler)`` call.

    ``owner``: dotted name of the app or router it is registered on. ``path``: the path as
    text (``{...}`` marks a non-literal part; None when not given). ``prefix``: the owner's
    own ``prefix=`` when the owner is defined in this module. ``handler``: the function's
    dotted id (``module.name``, ``module.create_app.health`` for one nested in a factory),
    ``handler_line``/``handler_col`` its ``def`` (how the project model names functions).
    ``decorators``: the handler's decorator stack as text, top first, and ``route_index``
    the position of this route's decorator in it (-1 for ``add_api_route``): a decorator
    below the route's (:attr:`wrapped_by`) is part of what the route calls; one above it
    (:attr:`outside`) wraps only what the decorator returns, so FastAPI never calls it
    (slowapi's ``@limiter.limit`` above ``@app.get`` limits nothing). ``dependencies``: ``dependencies=[...]`` of the route;
    ``params``: ``Depends`` parameters of the handler.
    """

    owner: str
    path: str | None
    methods: tuple[str, ...]
    handler: str
    handler_line: int
    handler_col: int
    line: int
    col: int
    prefix: str = ""
    decorators: tuple[str, ...] = ()
    route_index: int = -1
    dependencies: tuple[Dependency, ...] = ()
    params: tuple[Dependency, ...] = ()
    background_tasks: tuple[str, ...] = ()
    is_async: bool = True
    # (parameter, dotted name of its annotation) for annotations imported from another
    # module: aliases defined there (``from app.deps import SessionDep``), resolved across
    # modules by :func:`route_dependencies`.
    alias_params: tuple[tuple[str, str], ...] = ()

    @property
    def full_path(self) -> str | None:
        """The router's prefix joined with the route's path (not the include prefixes)."""
        return None if self.path is None else join_paths(self.prefix, self.path)

    @property
    def wrapped_by(self) -> tuple[str, ...]:
        """Decorators below the route's: they wrap the function the route calls."""
        return self.decorators[self.route_index + 1 :] if self.route_index >= 0 else self.decorators

    @property
    def outside(self) -> tuple[str, ...]:
        """Decorators above the route's: the route registered the function before they ran."""
        return self.decorators[: self.route_index] if self.route_index >= 0 else ()

    @property
    def all_dependencies(self) -> tuple[Dependency, ...]:
        """The route's ``dependencies=`` and its handler's ``Depends`` parameters (not the
        router's or ``include_router``'s: see :class:`App` and :class:`Inclusion`)."""
        return self.dependencies + self.params

    @property
    def is_websocket(self) -> bool:
        return self.methods == ("WEBSOCKET",)


class EventHandler(NamedTuple):
    """A startup or shutdown handler: ``@owner.on_event("startup")``,
    ``owner.add_event_handler("shutdown", f)`` or ``FastAPI(on_startup=[f])`` (``how``)."""

    owner: str
    event: str
    handler: str
    line: int
    col: int
    how: str


class Middleware(NamedTuple):
    """``owner.add_middleware(X, ...)`` (how "add_middleware"), ``@owner.middleware("http")``
    (how "decorator", ``target`` the function), ``FastAPI(middleware=[Middleware(X)])``
    (how "middleware="). ``keywords``: the keyword arguments' names."""

    owner: str
    target: str
    line: int
    col: int
    how: str
    keywords: tuple[str, ...] = ()


class ErrorHandler(NamedTuple):
    """An exception the application answers itself instead of with a 500:
    ``@owner.exception_handler(X)`` on ``handler`` (how "exception_handler"),
    ``owner.add_exception_handler(X, handler)`` (how "add_exception_handler"), or an
    ``except X:`` in the ``dispatch`` method of a middleware class (how "middleware";
    ``owner`` is the class's dotted id: it counts only where an app ``add_middleware``s it).
    ``exception``: the last name of the class caught (``ValueError``). ``server_error``:
    the handler re-raises or answers a 5xx (``status_code=500``, ``HTTP_500_...``); None
    when the handler's body is not in this module."""

    owner: str
    exception: str
    handler: str
    line: int
    col: int
    how: str
    server_error: bool | None = None


class Lifespan(NamedTuple):
    """A function decorated with ``@asynccontextmanager`` (or ``@contextmanager``): a
    lifespan when an app names it. ``yield_line`` is its (first) ``yield``; the startup
    part runs before it, the shutdown part after (``shutdown_lines``: first and last line
    of what runs after the ``yield``, including enclosing ``finally`` blocks; (0, 0) when
    nothing does). ``guarded``: the ``yield`` sits in a ``try`` whose ``finally`` runs the
    shutdown part even when serving ends in an error."""

    function: str
    line: int
    col: int
    yield_line: int
    shutdown_lines: tuple[int, int]
    guarded: bool


class Alias(NamedTuple):
    """``SessionDep = Annotated[AsyncSession, Depends(get_db)]`` at module level."""

    name: str
    annotation: str
    dependency: Dependency
    line: int


@dataclass(frozen=True)
class FastAPIModule:
    """Everything one module says about FastAPI (see the module docstring)."""

    module: str
    apps: tuple[App, ...] = ()
    inclusions: tuple[Inclusion, ...] = ()
    routes: tuple[Route, ...] = ()
    events: tuple[EventHandler, ...] = ()
    middleware: tuple[Middleware, ...] = ()
    lifespans: tuple[Lifespan, ...] = ()
    aliases: tuple[Alias, ...] = ()
    error_handlers: tuple[ErrorHandler, ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.apps or self.inclusions or self.routes or self.events or self.middleware or self.aliases or self.error_handlers
        )

    def app(self, name: str) -> App | None:
        """The app or router by variable or dotted name."""
        for app in self.apps:
            if name in (app.name, app.qualified):
                return app
        return None

    def routes_of(self, handler: str) -> tuple[Route, ...]:
        """The routes a function (by dotted id) serves."""
        return tuple(r for r in self.routes if r.handler == handler)

    def lifespan_of(self, app: App) -> Lifespan | None:
        """The lifespan function ``app`` names, when it is defined in this module."""
        if app.lifespan is None:
            return None
        for lifespan in self.lifespans:
            if lifespan.function == app.lifespan:
                return lifespan
        return None

    def events_of(self, app: App, event: str | None = None) -> tuple[EventHandler, ...]:
        """The startup/shutdown handlers registered on ``app`` (all events when ``event`` is None)."""
        return tuple(
            e for e in self.events if e.owner in (app.name, app.qualified) and (event is None or e.event == event)
        )

    def events_ignored(self, app: App) -> bool:
        """True when ``app`` has a lifespan, so its ``on_event``/``on_startup`` handlers never run."""
        return app.lifespan is not None


# -- node questions ------------------------------------------------------------------------


def dotted(node: ast.AST, depth: int = 0) -> str:
    """How an expression reads: ``a.b.c``, ``f().g``; ``…`` for anything else."""
    if depth > 8:
        return "…"
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value, depth + 1)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{dotted(node.func, depth + 1)}()"
    if isinstance(node, ast.Subscript):
        return f"{dotted(node.value, depth + 1)}[…]"
    return "…"


def _last(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def qualify(node: ast.AST, context: Context) -> str | None:
    """The dotted name ``node`` refers to: through imports (``fastapi.Depends``), or
    ``<module>.<name>`` for a module-level name of this file; None for anything local to a
    function, or when the file has no module name and the name is not imported."""
    qualified = context.qualified_name(node)
    if qualified is not None:
        return qualified
    base: ast.AST = node
    parts: list[str] = []
    while isinstance(base, ast.Attribute):
        parts.append(base.attr)
        base = base.value
    if not isinstance(base, ast.Name):
        return None
    depth = context.binding_depth(base.id)
    if depth is not None and depth > 0:
        return None
    prefix = context.module or f"<{context.path}>"
    return ".".join([prefix, base.id, *reversed(parts)])


def _is_named(node: ast.AST, context: Context, qualified: frozenset[str], names: tuple[str, ...]) -> bool:
    """``node`` refers to one of ``qualified``, or (not resolvable through an import) reads as one of ``names``."""
    found = context.qualified_name(node)
    if found is not None:
        return found in qualified or (found.rsplit(".", 1)[-1] in names and found.split(".")[0] in ("fastapi", "starlette"))
    if isinstance(node, ast.Name):
        return node.id in names and not context.is_local(node.id)
    return isinstance(node, ast.Attribute) and node.attr in names


def depends_call(node: ast.AST, context: Context, *, param: str | None = None, annotation: ast.AST | None = None) -> Dependency | None:
    """``Depends(f)``/``Security(f, scopes=...)``/``Depends(dependency=f)`` as a Dependency.

    ``Depends()`` with no callable depends on the parameter's type: pass the
    ``annotation`` to name it."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    security = _is_named(func, context, SECURITY, ("Security",))
    if not security and not _is_named(func, context, DEPENDS, ("Depends",)):
        return None
    target: ast.AST | None = node.args[0] if node.args else None
    for keyword in node.keywords:
        if keyword.arg == "dependency":
            target = keyword.value
    if target is None:
        target = annotation
    if target is None:
        text, qualified = "", None
    elif isinstance(target, ast.Call):
        text, qualified = dotted(target), qualify(target.func, context)
    else:
        text, qualified = dotted(target), qualify(target, context)
    line = node.lineno
    return Dependency(text, qualified, line, context.char_col(line, node.col_offset), security, param)


def annotated_dependency(annotation: ast.AST | None, context: Context, *, param: str | None = None) -> Dependency | None:
    """The dependency of ``Annotated[T, Depends(f)]`` (also inside ``Optional``/``| None``)."""
    if not isinstance(annotation, ast.Subscript):
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            return annotated_dependency(annotation.left, context, param=param) or annotated_dependency(
                annotation.right, context, param=param
            )
        return None
    head = _last(annotation.value)
    if head != "Annotated":
        if head in ("Optional", "Union"):
            inner = annotation.slice
            for elt in inner.elts if isinstance(inner, ast.Tuple) else [inner]:
                found = annotated_dependency(elt, context, param=param)
                if found is not None:
                    return found
        return None
    inner = annotation.slice
    if not isinstance(inner, ast.Tuple) or len(inner.elts) < 2:
        return None
    for extra in inner.elts[1:]:
        found = depends_call(extra, context, param=param, annotation=inner.elts[0])
        if found is not None:
            return found
    return None


def _arguments_with_defaults(args: ast.arguments) -> Iterator[tuple[ast.arg, ast.expr | None]]:
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    yield from zip(positional, defaults)
    yield from zip(args.kwonlyargs, args.kw_defaults)


def parameter_dependencies(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    context: Context,
    aliases: Mapping[str, Dependency] | None = None,
) -> tuple[Dependency, ...]:
    """The ``Depends``/``Security`` parameters of a function: ``db=Depends(get_db)``,
    ``db: Annotated[AsyncSession, Depends(get_db)]``, and ``db: SessionDep`` for a module
    alias in ``aliases`` (name -> its dependency, see :attr:`FastAPIModule.aliases`)."""
    found: list[Dependency] = []
    for arg, default in _arguments_with_defaults(node.args):
        dependency = depends_call(default, context, param=arg.arg, annotation=arg.annotation) if default else None
        if dependency is None:
            dependency = annotated_dependency(arg.annotation, context, param=arg.arg)
        if dependency is None and aliases and arg.annotation is not None:
            alias = aliases.get(dotted(arg.annotation))
            if alias is not None:
                dependency = alias._replace(param=arg.arg)
        if dependency is not None:
            found.append(dependency)
    return tuple(found)


def imported_annotations(node: ast.FunctionDef | ast.AsyncFunctionDef, context: Context) -> tuple[tuple[str, str], ...]:
    """(parameter, dotted name) of the parameters annotated with an imported name and no
    ``Depends`` default: possibly an ``Annotated`` alias defined in that module."""
    found = []
    for arg, default in _arguments_with_defaults(node.args):
        annotation = arg.annotation
        if annotation is None or default is not None or not isinstance(annotation, (ast.Name, ast.Attribute)):
            continue
        qualified = context.qualified_name(annotation)
        if qualified is not None and qualified.split(".")[0] not in _NOT_ALIAS_PACKAGES:
            found.append((arg.arg, qualified))
    return tuple(found)


def background_tasks_params(node: ast.FunctionDef | ast.AsyncFunctionDef, context: Context) -> tuple[str, ...]:
    """Parameters annotated ``BackgroundTasks`` (FastAPI injects the response's task list)."""
    names = []
    for arg, _default in _arguments_with_defaults(node.args):
        annotation = arg.annotation
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            if annotation.value.strip().rsplit(".", 1)[-1] == "BackgroundTasks":
                names.append(arg.arg)
            continue
        if annotation is not None and _is_named(annotation, context, BACKGROUND_TASKS, ("BackgroundTasks",)):
            names.append(arg.arg)
    return tuple(names)


def path_text(node: ast.AST | None, constants: Mapping[str, str] | None = None) -> str | None:
    """A path or prefix as text: a literal as is, an f-string or ``+`` joined with
    ``{...}`` for what is not literal, a module string constant by its value."""
    if node is None:
        return None
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        parts: list[str | None] = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            elif isinstance(value, ast.FormattedValue):
                parts.append(path_text(value.value, constants) if _is_constant_name(value.value, constants) else f"{{{dotted(value.value)}}}")
        return "".join(p or "" for p in parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = path_text(node.left, constants), path_text(node.right, constants)
        return f"{left if left is not None else '{…}'}{right if right is not None else '{…}'}"
    if isinstance(node, ast.Name) and constants and node.id in constants:
        return constants[node.id]
    return f"{{{dotted(node)}}}"


def _is_constant_name(node: ast.AST, constants: Mapping[str, str] | None) -> bool:
    return isinstance(node, ast.Name) and bool(constants) and node.id in (constants or {})


def join_paths(*parts: str) -> str:
    """Join prefixes and a path as Starlette does (plain concatenation, ``//`` collapsed)."""
    joined = "".join(parts)
    while "//" in joined:
        joined = joined.replace("//", "/")
    return joined


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _dependency_list(node: ast.expr | None, context: Context) -> tuple[Dependency, ...]:
    """``[Depends(a), Security(b)]`` as Dependencies."""
    if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return ()
    found = (depends_call(elt, context) for elt in node.elts)
    return tuple(d for d in found if d is not None)


def _names_list(node: ast.expr | None, context: Context) -> tuple[str, ...]:
    if not isinstance(node, (ast.List, ast.Tuple)):
        return ()
    return tuple(qualify(elt, context) or dotted(elt) for elt in node.elts)


class RouteDecorator(NamedTuple):
    """What a route decorator says (see :func:`route_decorator`)."""

    owner: ast.expr
    method: str
    path: ast.expr | None
    methods: tuple[str, ...]
    dependencies: tuple[Dependency, ...]


def _receiver_is_routerish(owner: ast.expr, context: Context, known: Iterable[str]) -> bool | None:
    """True: ``owner`` is a known app/router or named like one; False: it is a mock or test
    double; None: cannot tell."""
    qualified = context.qualified_name(owner)
    if qualified is not None and qualified.split(".")[0] in NOT_FRAMEWORKS:
        return False
    text = dotted(owner)
    if text in known or (qualified is not None and qualified in known):
        return True
    name = _last(owner).lower()
    return True if any(name == r or name.endswith("_" + r) or name.startswith(r + "_") for r in _ROUTERISH) else None


def route_decorator(node: ast.expr, context: Context, known: Iterable[str] = ()) -> RouteDecorator | None:
    """``@owner.get("/path", dependencies=[...])`` (any of :data:`ROUTE_METHODS`) as a
    RouteDecorator, or None. ``known``: names of apps and routers (see
    :class:`FastAPICollector`); other receivers count when the path is a literal starting
    with ``/`` or the receiver is named like an app or router."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    method = node.func.attr
    if method not in ROUTE_METHODS:
        return None
    owner = node.func.value
    path = node.args[0] if node.args else _keyword(node, "path")
    verdict = _receiver_is_routerish(owner, context, known)
    if verdict is False:
        return None
    if verdict is None:
        literal = isinstance(path, ast.Constant) and isinstance(path.value, str) and path.value.startswith("/")
        if not literal:
            return None
    methods = ROUTE_METHODS[method]
    if not methods:
        listed = _keyword(node, "methods")
        if isinstance(listed, (ast.List, ast.Tuple, ast.Set)):
            methods = tuple(e.value.upper() for e in listed.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
        else:
            methods = ("GET",)
    return RouteDecorator(owner, method, path, methods, _dependency_list(_keyword(node, "dependencies"), context))


class LifespanSplit(NamedTuple):
    """A context-manager function's body around its ``yield`` (see :func:`split_at_yield`)."""

    before: tuple[ast.stmt, ...]
    yield_node: ast.expr
    after: tuple[ast.stmt, ...]
    guarded: bool


def split_at_yield(node: ast.FunctionDef | ast.AsyncFunctionDef) -> LifespanSplit | None:
    """The statements that run before the first statement-level ``yield`` (startup) and
    after it (shutdown, with the ``finally`` blocks around it), or None when there is none.

    Statements are the function's own (top-level or nested in ``try``/``with``/``if``);
    ``before`` lists those at the top level and in the blocks enclosing the ``yield`` that
    come before it, ``after`` those that come after it, innermost first, then each
    enclosing ``finally`` block, then the rest of the enclosing blocks."""
    path = _yield_path(node.body, 0)
    if path is None:
        return None
    before: list[ast.stmt] = []
    after: list[ast.stmt] = []
    guarded = False
    yield_node: ast.expr | None = None
    for body, index, holder in path:
        before.extend(body[:index])
    inner: list[ast.stmt] | None = None  # the block the previous (inner) step was in
    for body, index, _holder in reversed(path):
        stmt = body[index]
        if inner is None:
            value = getattr(stmt, "value", None)
            assert isinstance(value, (ast.Yield, ast.YieldFrom))
            yield_node = value
        elif isinstance(stmt, _TRY):
            # Leaving a ``try`` block: its ``else`` (from the body), then its ``finally``.
            final: list[ast.stmt] = getattr(stmt, "finalbody", [])
            if inner is getattr(stmt, "body", None):
                after.extend(getattr(stmt, "orelse", []))
            after.extend(final)
            guarded = guarded or bool(final)
        after.extend(body[index + 1 :])
        inner = body
    assert yield_node is not None
    return LifespanSplit(tuple(before), yield_node, tuple(after), guarded)


_Path = list[tuple[list[ast.stmt], int, ast.AST | None]]
_TRY: tuple[type, ...] = tuple(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)


def _yield_path(body: list[ast.stmt], depth: int, holder: ast.AST | None = None) -> _Path | None:
    """The chain of (statement list, index, statement owning the list) leading to the first yield."""
    if depth > 20:
        return None
    for index, stmt in enumerate(body):
        value = getattr(stmt, "value", None) if isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign)) else None
        if isinstance(value, (ast.Yield, ast.YieldFrom)):
            return [(body, index, holder)]
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                found = _yield_path(inner, depth + 1, stmt)
                if found is not None:
                    return [(body, index, holder), *found]
        for handler in getattr(stmt, "handlers", ()):
            found = _yield_path(handler.body, depth + 1, handler)
            if found is not None:
                return [(body, index, holder), *found]
    return None


# -- the collector -------------------------------------------------------------------------

_Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class _Scope:
    """A function being walked: its dotted id and the apps/routers bound in it."""

    node: _Function | None
    id: str
    apps: dict[str, App] = field(default_factory=dict)


class FastAPICollector:
    """Builds a module's :class:`FastAPIModule` from the nodes of the engine's one walk.

    Feed it every ``Assign``/``AnnAssign``/``Call``/``Return``/``ClassDef``/``FunctionDef``/
    ``AsyncFunctionDef`` as the walk visits them (:meth:`visit`), and ``leave`` the
    functions and classes; read :meth:`facts` after the walk. Several visitors of one walk
    may feed the same collector (:func:`shared_collector`): a node fed twice in a row
    counts once. While walking, :meth:`routes_at` answers for a ``def``
    node already visited (its decorators are read when it is entered), and
    :attr:`handler_nodes` maps each decorated route handler's node to its routes.
    ``add_api_route`` registrations are known once the call has been visited.
    """

    def __init__(self, context: Context) -> None:
        self.context = context
        self.module = context.module or f"<{context.path}>"
        self._scopes: list[_Scope] = [_Scope(None, self.module)]
        self._owners: list[str] = [self.module]  # dotted ids: module, classes, functions
        self.apps: list[App] = []
        self.inclusions: list[Inclusion] = []
        self.routes: list[Route] = []
        self.events: list[EventHandler] = []
        self.middleware: list[Middleware] = []
        self.lifespans: list[Lifespan] = []
        self.error_handlers: list[ErrorHandler] = []
        self.aliases: dict[str, Alias] = {}
        self.constants: dict[str, str] = {}
        self.handler_nodes: dict[_Function, list[Route]] = {}
        self.function_nodes: dict[str, _Function] = {}  # dotted id -> def, for add_api_route
        self._assigned: dict[int, str] = {}  # id(call) -> the name it is assigned to
        # The last node fed and left (see FastAPITracking: several rules share one collector).
        self.last_visited: ast.AST | None = None
        self.last_left: ast.AST | None = None
        # ``facts()``'s last answer and the last nodes fed and left when it was made.
        self._facts: tuple[ast.AST | None, ast.AST | None, FastAPIModule] | None = None
        # Whether the file may build an app or a router (``_construct``): the call names one
        # of ``_CONSTRUCTOR_NAMES`` (an attribute), or is a name whose qualified name (through
        # an import, which spells the imported name) or own name ends in one, so the text
        # spells it (``Router`` is in ``APIRouter``; identifiers are NFKC-normalised, so a
        # text that is not ASCII is not screened). Without one, name calls, the names of
        # assigned calls and ``return`` statements (a factory returns an app) build nothing.
        text = context.text
        self._builds = not context.ascii or "FastAPI" in text or "Router" in text or "Starlette" in text

    # -- feeding -------------------------------------------------------------------------

    def visit(self, node: ast.AST) -> None:
        if node is self.last_visited:
            return  # fed already by another visitor of the same walk (see shared_collector)
        self.last_visited = node
        kind = type(node)
        if kind is ast.Call:
            if self._builds or type(node.func) is ast.Attribute:  # type: ignore[attr-defined]
                self._call(node)  # type: ignore[arg-type]
        elif kind is ast.Assign or kind is ast.AnnAssign:
            # Below the module level an assignment only names a call ``_construct`` may build.
            if self._builds or (len(self._scopes) == 1 and len(self._owners) == 1):
                self._assign(node)  # type: ignore[arg-type]
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            self._enter_function(node)  # type: ignore[arg-type]
        elif kind is ast.ClassDef:
            self._owners.append(f"{self._owners[-1]}.{node.name}")  # type: ignore[attr-defined]
        elif kind is ast.Return:
            if self._builds:
                self._return(node)  # type: ignore[arg-type]

    def leave(self, node: ast.AST) -> None:
        if node is self.last_left:
            return
        self.last_left = node
        kind = type(node)
        if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            self._scopes.pop()
            self._owners.pop()
        elif kind is ast.ClassDef:
            self._owners.pop()

    # The engine's walk calls these directly (``FastAPITracking.walk_companion``).
    visit_Assign = visit_AnnAssign = visit_Call = visit_Return = visit
    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = visit
    leave_ClassDef = leave_FunctionDef = leave_AsyncFunctionDef = leave

    # -- answers -------------------------------------------------------------------------

    def routes_at(self, node: _Function) -> list[Route]:
        """The routes ``node`` serves: its decorators (known once the def is entered) and the
        ``add_api_route`` calls naming it seen so far."""
        return self.handler_nodes.get(node, [])

    def is_handler(self, node: _Function) -> bool:
        return bool(self.routes_at(node))

    def facts(self) -> FastAPIModule:
        """The module's facts (call after the walk)."""
        # Asked by the summary collector (leaving the module) and again by a rule's
        # ``end_module``: the same answer while nothing new was fed.
        memo = self._facts
        if memo is not None and memo[0] is self.last_visited and memo[1] is self.last_left:
            return memo[2]
        facts = self._facts_now()
        self._facts = (self.last_visited, self.last_left, facts)
        return facts

    def _facts_now(self) -> FastAPIModule:
        # A lifespan given as a plain async generator (no ``@asynccontextmanager``).
        named = {life.function for life in self.lifespans}
        for app in self.apps:
            node = self.function_nodes.get(app.lifespan or "")
            if node is not None and app.lifespan not in named:
                named.add(node_id := app.lifespan or "")
                self._lifespan(node, node_id, self.context.char_col(node.lineno, node.col_offset))
        return FastAPIModule(
            module=self.module,
            apps=tuple(self.apps),
            inclusions=tuple(self.inclusions),
            routes=tuple(self.routes),
            events=tuple(self.events),
            middleware=tuple(self.middleware),
            lifespans=tuple(self.lifespans),
            aliases=tuple(self.aliases.values()),
            error_handlers=tuple(self._resolved_error_handlers()),
        )

    def _resolved_error_handlers(self) -> Iterator[ErrorHandler]:
        """The error handlers, with the body of ``add_exception_handler``'s function judged
        when it is defined in this module."""
        for handler in self.error_handlers:
            node = self.function_nodes.get(handler.handler) if handler.server_error is None else None
            yield handler if node is None else handler._replace(server_error=answers_server_error(node.body))

    # -- internals -----------------------------------------------------------------------

    def _known(self) -> dict[str, App]:
        """Apps and routers visible here: this module's, then the enclosing functions'."""
        known: dict[str, App] = {}
        for scope in self._scopes:
            known.update(scope.apps)
        return known

    def _owner_name(self, owner: ast.expr) -> str:
        """Dotted name of an app/router expression: an app known here, an import, or text."""
        text = dotted(owner)
        app = self._known().get(text)
        if app is not None:
            return app.qualified
        return qualify(owner, self.context) or text

    def _prefix_of(self, owner: str) -> str:
        for app in self.apps:
            if app.qualified == owner:
                return app.prefix
        return ""

    def _assign(self, node: ast.Assign | ast.AnnAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        value = node.value
        if value is None or len(targets) != 1:
            return
        target = targets[0]
        if isinstance(target, ast.Name):
            name = target.id
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
            name = dotted(target)
        else:
            return
        at_module = len(self._scopes) == 1 and len(self._owners) == 1
        if isinstance(value, ast.Call):
            self._assigned[id(value)] = name
        elif at_module and isinstance(value, ast.Constant) and isinstance(value.value, str):
            self.constants[name] = value.value
        elif at_module and isinstance(value, ast.Subscript):
            dependency = annotated_dependency(value, self.context)
            if dependency is not None:
                inner = value.slice
                first = inner.elts[0] if isinstance(inner, ast.Tuple) else inner
                self.aliases[name] = Alias(name, dotted(first), dependency, node.lineno)

    def _enter_function(self, node: _Function) -> None:
        fid = f"{self._owners[-1]}.{node.name}"
        self.function_nodes.setdefault(fid, node)
        if node.decorator_list:
            self._decorated(node, fid)
        if node.name == "dispatch" and len(self._owners) > len(self._scopes):  # a method: a middleware's?
            self._middleware_dispatch(node, fid)
        self._scopes.append(_Scope(node, fid))
        self._owners.append(fid)

    def _decorated(self, node: _Function, fid: str) -> None:
        """Routes, event handlers, middleware and lifespans a function's decorators declare."""
        context = self.context
        known: dict[str, App] | None = None
        params: tuple[Dependency, ...] | None = None
        col = context.char_col(node.lineno, node.col_offset)
        for index, deco in enumerate(node.decorator_list):
            func = deco.func if isinstance(deco, ast.Call) else deco
            if not isinstance(func, ast.Attribute):
                if context.qualified_name(deco) in ASYNC_CONTEXT_MANAGERS or _last(deco) == "asynccontextmanager":
                    self._lifespan(node, fid, col)
                continue
            attr, receiver = func.attr, func.value
            if attr in ROUTE_METHODS:
                known = self._known() if known is None else known
                route = route_decorator(deco, context, known)
                if route is None:
                    continue
                if params is None:
                    aliases = {a.name: a.dependency for a in self.aliases.values()}
                    params = parameter_dependencies(node, context, aliases)
                owner = self._owner_name(route.owner)
                record = Route(
                    owner=owner,
                    path=path_text(route.path, self.constants),
                    methods=route.methods,
                    handler=fid,
                    handler_line=node.lineno,
                    handler_col=col,
                    line=deco.lineno,
                    col=context.char_col(deco.lineno, deco.col_offset),
                    prefix=self._prefix_of(owner),
                    decorators=tuple(dotted(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list),
                    route_index=index,
                    dependencies=route.dependencies,
                    params=params,
                    background_tasks=background_tasks_params(node, context),
                    is_async=isinstance(node, ast.AsyncFunctionDef),
                    alias_params=imported_annotations(node, context),
                )
                self.routes.append(record)
                self.handler_nodes.setdefault(node, []).append(record)
            elif not isinstance(deco, ast.Call):
                if context.qualified_name(deco) in ASYNC_CONTEXT_MANAGERS:
                    self._lifespan(node, fid, col)  # ``@contextlib.asynccontextmanager``
            elif attr == "on_event" and deco.args:
                event = deco.args[0]
                if isinstance(event, ast.Constant) and event.value in EVENTS:
                    line = deco.lineno
                    self.events.append(
                        EventHandler(self._owner_name(receiver), str(event.value), fid, line, context.char_col(line, deco.col_offset), "on_event")
                    )
            elif attr == "exception_handler" and deco.args:
                line = deco.lineno
                for name in exception_names(deco.args[0]):
                    self.error_handlers.append(
                        ErrorHandler(
                            self._owner_name(receiver), name, fid, line, context.char_col(line, deco.col_offset),
                            "exception_handler", answers_server_error(node.body),
                        )
                    )
            elif attr == "middleware":
                known = self._known() if known is None else known
                if _receiver_is_routerish(receiver, context, known):
                    line = deco.lineno
                    self.middleware.append(
                        Middleware(self._owner_name(receiver), fid, line, context.char_col(line, deco.col_offset), "decorator")
                    )

    def _middleware_dispatch(self, node: _Function, fid: str) -> None:
        """``except X:`` handlers of a middleware class's ``dispatch`` around ``call_next``."""
        owner = self._owners[-1]
        for sub in ast.walk(node):
            if not isinstance(sub, ast.Try) or not any(
                isinstance(call, ast.Call) and _last(call.func) == "call_next" for stmt in sub.body for call in ast.walk(stmt)
            ):
                continue
            for handler in sub.handlers:
                kinds = ["BaseException"] if handler.type is None else exception_names(handler.type)
                line = handler.lineno
                for name in kinds:
                    self.error_handlers.append(
                        ErrorHandler(
                            owner, name, fid, line, self.context.char_col(line, handler.col_offset), "middleware",
                            answers_server_error(handler.body),
                        )
                    )
                if _CATCHES_ALL & set(kinds):
                    break  # later handlers never see an error

    def _lifespan(self, node: _Function, fid: str, col: int) -> None:
        split = split_at_yield(node)
        if split is None:
            return
        after = split.after
        lines = (after[0].lineno, max(s.end_lineno or s.lineno for s in after)) if after else (0, 0)
        self.lifespans.append(Lifespan(fid, node.lineno, col, split.yield_node.lineno, lines, split.guarded))

    def _return(self, node: ast.Return) -> None:
        """``return app`` / ``return FastAPI(...)`` in a function: an app factory."""
        scope = self._scopes[-1]
        if scope.node is None or node.value is None:
            return
        value = node.value
        if isinstance(value, ast.Call):
            self._assigned[id(value)] = "<return>"
        elif isinstance(value, ast.Name) and value.id in scope.apps:
            app = scope.apps[value.id]
            if app.factory is None:
                updated = app._replace(factory=scope.id)
                scope.apps[value.id] = updated
                self.apps[self.apps.index(app)] = updated

    def _call(self, call: ast.Call) -> None:
        context = self.context
        func = call.func
        kind = type(func)
        if kind is ast.Name:
            name = func.id  # type: ignore[attr-defined]
            qualified = context.qualified_name(func)  # of a name: ``resolve_name``, memoised
            if qualified in APP_CLASSES or qualified in ROUTER_CLASSES:
                self._construct(call, "router" if qualified in ROUTER_CLASSES else "app")
            elif qualified is not None and qualified.endswith(_OWN_ENDINGS) and qualified.rsplit(".", 1)[-1] in _OWN_CLASSES:
                # A project's own subclass under FastAPI's name (``from app.routing import APIRouter``).
                self._construct(call, "router" if qualified.endswith("APIRouter") else "app")
            elif qualified is None and name in _OWN_CLASSES and not context.is_local(name):
                self._construct(call, "router" if name == "APIRouter" else "app")
            return
        if kind is not ast.Attribute:
            return
        assert isinstance(func, ast.Attribute)
        method, receiver = func.attr, func.value
        if method in _CONSTRUCTOR_NAMES:
            qualified = context.qualified_name(func)
            if qualified in APP_CLASSES or qualified in ROUTER_CLASSES:
                self._construct(call, "router" if qualified in ROUTER_CLASSES else "app")
            return
        if method not in _REGISTRATIONS:
            return
        line, col = call.lineno, context.char_col(call.lineno, call.col_offset)
        if method == "include_router" and call.args:
            child = call.args[0]
            self.inclusions.append(
                Inclusion(
                    self._owner_name(receiver),
                    self._owner_name(child),
                    path_text(_keyword(call, "prefix"), self.constants) or "",
                    _dependency_list(_keyword(call, "dependencies"), context),
                    line,
                    col,
                )
            )
        elif method == "mount" and call.args and _receiver_is_routerish(receiver, context, self._known()):
            # ``requests.Session.mount(prefix, adapter)`` is something else: the receiver must be an app.
            sub = call.args[1] if len(call.args) > 1 else _keyword(call, "app")
            if sub is not None:
                path = path_text(call.args[0], self.constants) or ""
                self.inclusions.append(Inclusion(self._owner_name(receiver), self._owner_name(sub), path, (), line, col, "mount"))
        elif method in ADD_ROUTE_METHODS:
            self._add_route(call, method, receiver, line, col)
        elif method == "add_event_handler" and len(call.args) >= 2:
            event = call.args[0]
            if isinstance(event, ast.Constant) and event.value in EVENTS:
                handler = qualify(call.args[1], context) or dotted(call.args[1])
                self.events.append(EventHandler(self._owner_name(receiver), str(event.value), handler, line, col, "add_event_handler"))
        elif method == "add_exception_handler" and len(call.args) >= 2:
            handler = qualify(call.args[1], context) or dotted(call.args[1])
            for name in exception_names(call.args[0]):
                self.error_handlers.append(ErrorHandler(self._owner_name(receiver), name, handler, line, col, "add_exception_handler"))
        elif method == "add_middleware" and call.args:
            target = call.args[0]
            keywords = tuple(k.arg for k in call.keywords if k.arg)
            self.middleware.append(
                Middleware(self._owner_name(receiver), qualify(target, context) or dotted(target), line, col, "add_middleware", keywords)
            )

    def _add_route(self, call: ast.Call, method: str, receiver: ast.expr, line: int, col: int) -> None:
        context = self.context
        path = call.args[0] if call.args else _keyword(call, "path")
        endpoint = call.args[1] if len(call.args) > 1 else _keyword(call, "endpoint") or _keyword(call, "route")
        if endpoint is None:
            return
        handler = qualify(endpoint, context) or dotted(endpoint)
        node = self.function_nodes.get(handler)
        if node is None and isinstance(endpoint, ast.Name):
            node = self.function_nodes.get(f"{self._scopes[-1].id}.{endpoint.id}")
            if node is not None:
                handler = f"{self._scopes[-1].id}.{endpoint.id}"
        methods = ADD_ROUTE_METHODS[method]
        if not methods:
            listed = _keyword(call, "methods")
            if isinstance(listed, (ast.List, ast.Tuple, ast.Set)):
                methods = tuple(e.value.upper() for e in listed.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
            else:
                methods = ("GET",)
        owner = self._owner_name(receiver)
        aliases = {a.name: a.dependency for a in self.aliases.values()}
        record = Route(
            owner=owner,
            path=path_text(path, self.constants),
            methods=methods,
            handler=handler,
            handler_line=node.lineno if node is not None else 0,
            handler_col=context.char_col(node.lineno, node.col_offset) if node is not None else 0,
            line=line,
            col=col,
            prefix=self._prefix_of(owner),
            decorators=tuple(dotted(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list) if node else (),
            route_index=-1,
            dependencies=_dependency_list(_keyword(call, "dependencies"), context),
            params=parameter_dependencies(node, context, aliases) if node is not None else (),
            background_tasks=background_tasks_params(node, context) if node is not None else (),
            is_async=isinstance(node, ast.AsyncFunctionDef) if node is not None else True,
            alias_params=imported_annotations(node, context) if node is not None else (),
        )
        self.routes.append(record)
        if node is not None:
            self.handler_nodes.setdefault(node, []).append(record)

    def _construct(self, call: ast.Call, kind: str) -> None:
        context = self.context
        name = self._assigned.get(id(call))
        scope = self._scopes[-1]
        if name is None or (name == "<return>" and scope.node is None):
            return  # built in place (``TestClient(FastAPI())``): nothing to name it by
        qualified = f"{self.module}.{name}" if scope.node is None else f"{scope.id}.{name}"
        lifespan = _keyword(call, "lifespan")
        middleware = _keyword(call, "middleware")
        line, col = call.lineno, context.char_col(call.lineno, call.col_offset)
        app = App(
            name=name,
            qualified=qualified,
            kind=kind,
            line=line,
            col=col,
            prefix=path_text(_keyword(call, "prefix"), self.constants) or "",
            dependencies=_dependency_list(_keyword(call, "dependencies"), context),
            lifespan=None if lifespan is None or _is_none(lifespan) else (qualify(lifespan, context) or dotted(lifespan)),
            on_startup=_names_list(_keyword(call, "on_startup"), context),
            on_shutdown=_names_list(_keyword(call, "on_shutdown"), context),
            factory=scope.id if scope.node is not None and name == "<return>" else None,
        )
        self.apps.append(app)
        scope.apps[name] = app
        for event, handlers in (("startup", app.on_startup), ("shutdown", app.on_shutdown)):
            for handler in handlers:
                self.events.append(EventHandler(qualified, event, handler, line, col, f"on_{event}="))
        if isinstance(middleware, (ast.List, ast.Tuple)):
            for elt in middleware.elts:
                if isinstance(elt, ast.Call) and elt.args:
                    target = elt.args[0]
                    keywords = tuple(k.arg for k in elt.keywords if k.arg)
                    self.middleware.append(
                        Middleware(qualified, qualify(target, context) or dotted(target), elt.lineno, context.char_col(elt.lineno, elt.col_offset), "middleware=", keywords)
                    )


_CATCHES_ALL = frozenset(("Exception", "BaseException"))


def exception_names(node: ast.expr) -> list[str]:
    """``["ValueError"]`` for ``ValueError``/``builtins.ValueError``, each of a tuple's."""
    kinds = node.elts if isinstance(node, ast.Tuple) else [node]
    return [name for name in (_last(kind) for kind in kinds) if name]


def answers_server_error(body: list[ast.stmt]) -> bool:
    """True when an error handler's ``body`` raises (the error goes on: a 500 unless
    something else catches it) or answers a 5xx (``500``..``599``, ``HTTP_5xx_...``)."""
    for stmt in body:
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Raise):
                return True
            if isinstance(sub, ast.Constant) and type(sub.value) is int and 500 <= sub.value <= 599:
                return True
            if isinstance(sub, (ast.Name, ast.Attribute)) and _last(sub).startswith("HTTP_5"):
                return True
    return False


def value_error_answered(modules: Iterable[FastAPIModule]) -> ErrorHandler | None:
    """An application-level handler that answers a ``ValueError`` with something other
    than a 500: an exception handler for ``ValueError`` (or a base of it: ``Exception``),
    or a middleware class catching it around ``call_next`` that some app installs. The
    first such handler, or None."""
    modules = list(modules)
    installed = {m.target.rsplit(".", 1)[-1] for module in modules for m in module.middleware}
    for module in modules:
        seen: set[str] = set()  # middleware functions whose first ValueError handler was judged
        for handler in module.error_handlers:
            if handler.exception not in ("ValueError", "Exception", "BaseException"):
                continue
            if handler.how == "middleware":
                if handler.handler in seen or handler.owner.rsplit(".", 1)[-1] not in installed:
                    continue
                seen.add(handler.handler)  # the first matching `except` is the one that runs
            if not handler.server_error:
                return handler
    return None


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def shared_collector(context: Context) -> FastAPICollector:
    """The file's one collector, made on first use and shared by every visitor of the walk
    (the rules mixing in :class:`FastAPITracking`, the project model's summary collector):
    each feeds it the nodes it sees, and a node is counted once."""
    collector = context.shared.get("fastapi")
    if collector is None:
        collector = context.shared["fastapi"] = FastAPICollector(context)
    assert isinstance(collector, FastAPICollector)
    return collector


class FastAPITracking:
    """Rule mix-in: ``self.fastapi`` is the file's :class:`FastAPICollector`, fed from the walk.

    Every rule mixing this in shares one collector per file (:func:`shared_collector`).
    The engine walks the collector itself, ahead of every rule (``walk_companion``), so its
    facts are built once however many rules read them, and are current for each rule's
    own handler of a node: a rule's ``visit_*`` handlers need not feed it. Read
    ``self.fastapi.facts()`` in ``end_module``.
    """

    context: Context
    _fastapi: FastAPICollector | None = None
    # The engine adds ``walk_companion(context)`` to the walk's visitors, first (once per
    # file however many rules name it).
    walk_companion = staticmethod(shared_collector)

    @property
    def fastapi(self) -> FastAPICollector:
        collector = self._fastapi
        if collector is None:
            collector = self._fastapi = shared_collector(self.context)
        return collector


def collect(context: Context) -> FastAPIModule:
    """The facts of ``context``'s module from a walk of its own (tests and tools; the
    engine's walk feeds a :class:`FastAPICollector` instead). ``context`` must be fresh:
    this walk keeps its scopes."""
    collector = FastAPICollector(context)
    _walk(context.tree, context, collector)
    return collector.facts()


def _walk(node: ast.AST, context: Context, collector: FastAPICollector) -> None:
    context.enter(node)
    collector.visit(node)
    for child in ast.iter_child_nodes(node):
        _walk(child, context, collector)
    collector.leave(node)
    context.leave(node)


# -- across modules ------------------------------------------------------------------------


def mount_prefixes(modules: Iterable[FastAPIModule]) -> dict[str, tuple[str, ...]]:
    """For each app or router (dotted name), the prefixes it is served under: the
    ``include_router`` prefixes along every chain of inclusions up to an app (an app: "";
    a router nobody includes: "" as well, so its routes keep their own paths)."""
    modules = tuple(modules)
    parents: dict[str, list[tuple[str, str]]] = {}
    names: set[str] = set()
    for facts in modules:
        names.update(app.qualified for app in facts.apps)
        for inclusion in facts.inclusions:
            parents.setdefault(inclusion.child, []).append((inclusion.parent, inclusion.prefix))
            names.add(inclusion.child)
    own = {app.qualified: app.prefix for facts in modules for app in facts.apps}
    memo: dict[str, tuple[str, ...]] = {}

    def prefixes(name: str, seen: frozenset[str]) -> tuple[str, ...]:
        if name in memo:
            return memo[name]
        if name in seen or name not in parents:
            return ("",)
        found: list[str] = []
        for parent, prefix in parents[name]:
            for above in prefixes(parent, seen | {name}):
                found.append(join_paths(above, own.get(parent, ""), prefix))
        result = tuple(dict.fromkeys(found))
        memo[name] = result
        return result

    return {name: prefixes(name, frozenset()) for name in sorted(names)}


def lifespans_by_function(modules: Iterable[FastAPIModule]) -> dict[str, Lifespan]:
    """Every module's lifespan functions by dotted name, to find an app's lifespan defined
    in another module (``FastAPI(lifespan=lifespan)`` after ``from app.core import lifespan``)."""
    return {life.function: life for facts in modules for life in facts.lifespans}


def aliases_by_name(modules: Iterable[FastAPIModule]) -> dict[str, Dependency]:
    """Every module's ``Annotated`` dependency aliases by dotted name (``app.deps.SessionDep``)."""
    return {f"{facts.module}.{alias.name}": alias.dependency for facts in modules for alias in facts.aliases}


def route_dependencies(route: Route, aliases: Mapping[str, Dependency]) -> tuple[Dependency, ...]:
    """``route``'s ``dependencies=`` and ``Depends`` parameters, with the parameters
    annotated by an alias imported from another module (``aliases``: :func:`aliases_by_name`)."""
    extra = []
    for param, name in route.alias_params:
        dependency = aliases.get(name)
        if dependency is not None:
            extra.append(dependency._replace(param=param))
    return route.all_dependencies + tuple(extra)


def full_paths(route: Route, mounts: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every path ``route`` is served at, with the include prefixes of ``mounts``
    (:func:`mount_prefixes`) and its router's own prefix."""
    if route.path is None:
        return ()
    return tuple(join_paths(mount, route.prefix, route.path) for mount in mounts.get(route.owner, ("",)))
