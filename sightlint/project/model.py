"""The project model: every module's summary, names resolved across files, a call graph.

Built once per run from the :class:`ModuleSummary` of each file. Symbolic references
(``summary.Ref``) are evaluated lazily and memoised to a :data:`Value`, one named tuple
per kind:

``FuncValue(id, bound)``    a project function (``bound``: reached through an instance)
``ClassValue(id)``          a project class
``InstanceValue(id)``       an instance of a project class
``ModuleValue(name)``       a project module
``SuperValue(id)``          ``super()`` inside class ``id``
``ExternalValue(dotted)``   something outside the project, spelled as a dotted path where
                            ``()`` marks a call result: ``neo4j.GraphDatabase.driver().session()``
``NONE_VALUE``              ``None``

Values are model-internal (never pickled, never dict keys); dispatch is on their type.
Two kinds with the same fields compare equal as tuples, so never compare values of
different kinds with ``==``.

Anything that cannot be resolved evaluates to ``None`` and produces no edge: unknown or
dynamic callees never lead to a finding.
"""

from __future__ import annotations

import builtins
import sys
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sightlint.project.contexts import REQUEST, SCRIPT, STARTUP, TEST, THREAD
from sightlint.semantics.fastapi import ROUTE_METHODS
from sightlint.project.summary import (
    AttrRef,
    CallRef,
    CallSite,
    ClassSummary,
    ClsRef,
    DivRef,
    FunctionSummary,
    GlobalRef,
    Handoff,
    LocalFunctionRef,
    MemberRef,
    ModuleSummary,
    NoneRef,
    OrRef,
    Ref,
    SelfRef,
    SuperRef,
    dependency_terms,
)



class FuncValue(NamedTuple):
    """A project function; ``bound``: reached through an instance (``self`` is passed)."""

    id: str
    bound: bool


class ClassValue(NamedTuple):
    """A project class."""

    id: str


class InstanceValue(NamedTuple):
    """An instance of a project class."""

    id: str


class ModuleValue(NamedTuple):
    """A project module."""

    name: str


class SuperValue(NamedTuple):
    """``super()`` inside a method of class ``id``."""

    id: str


class ExternalValue(NamedTuple):
    """Something outside the project, as a dotted path where ``()`` marks a call result."""

    dotted: str


class NoneValue(NamedTuple):
    """The constant ``None``."""


NONE_VALUE = NoneValue()

Value = FuncValue | ClassValue | InstanceValue | ModuleValue | SuperValue | ExternalValue | NoneValue
# ``pathlib.Path()``: an instance of ``Path``, which ``/`` and ``_PATH_SAME`` keep.
_PATH = ExternalValue("pathlib.Path()")

_BUILTINS = frozenset(dir(builtins))
# Chat-model instances: a LangChain ``|`` pipe that contains one calls the model.
CHAT_MODELS = frozenset(
    {
        "langchain_google_genai.ChatGoogleGenerativeAI()",
        "langchain_google_genai.chat_models.ChatGoogleGenerativeAI()",
        "langchain_google_vertexai.ChatVertexAI()",
        "langchain_openai.ChatOpenAI()",
        "langchain_openai.AzureChatOpenAI()",
        "langchain_anthropic.ChatAnthropic()",
        "langchain_community.chat_models.ChatOpenAI()",
        "langchain_core.language_models.BaseChatModel()",
        "langchain_core.language_models.chat_models.BaseChatModel()",
    }
)
LLM_PIPE = "langchain_core.runnables.RunnableSequence()"
# ``Path`` operations that return another ``Path`` (so ``p.parent.read_text`` is still a read).
_PATH_SAME = frozenset({"parent", "resolve()", "absolute()", "with_suffix()", "with_name()", "joinpath()", "expanduser()"})

# Entry points registered by decorating a function with a method of a framework's object
# (``@router.get``, ``@app.on_event``, ``@cli.command``, ``@pytest.fixture``): the
# decorator's name -> (context, the top-level packages whose objects it is read from).
_WEB = frozenset({"fastapi", "starlette", "quart", "sanic", "aiohttp", "litestar", "fastapi_utils"})
_CLI = frozenset({"click", "asyncclick", "typer", "cloup", "rich_click"})
_PYTEST = frozenset({"pytest", "pytest_asyncio"})
_DECORATORS: dict[str, tuple[str, frozenset[str]]] = {
    **dict.fromkeys(ROUTE_METHODS, (REQUEST, _WEB)),
    "middleware": (REQUEST, _WEB),
    "exception_handler": (REQUEST, _WEB),
    "on_event": (STARTUP, _WEB),
    "command": (SCRIPT, _CLI),
    "group": (SCRIPT, _CLI),
    "callback": (SCRIPT, _CLI),
    "fixture": (TEST, _PYTEST),
}
# Packages whose decorators named like a framework's (``patch``, ``get``, ``fixture``...)
# are something else: test doubles and HTTP mocks.
_NOT_FRAMEWORKS = frozenset({"mock", "pytest_mock", "responses", "respx", "aioresponses", "httpretty", "requests_mock", "freezegun"})
# A project class deriving from one of these: (its method a framework calls, context).
_BASE_ENTRIES = {
    "starlette.middleware.base.BaseHTTPMiddleware": ("dispatch", REQUEST),
    "threading.Thread": ("run", THREAD),
}


class Edge(NamedTuple):
    """A call from one project function to another, at ``line:col`` of the caller.

    A named tuple: a warm run builds tens of thousands from cached records."""

    source: str
    target: str
    line: int
    col: int
    via: str = ""  # how the call happens when it is indirect ("passed to _connect_with_retry")
    # "call": the target runs in the caller's context; "thread": in a worker thread
    # (``asyncio.to_thread``); "background": as a task of its own on the event loop
    # (``asyncio.create_task``). See ``sightlint.project.contexts``.
    kind: str = "call"


@dataclass(frozen=True, slots=True)
class ExternalCall:
    """A call into code outside the project, by normalised dotted name."""

    function: str
    name: str
    site: CallSite


class ProjectModel:
    """All modules of one run; see the module docstring."""

    def __init__(self, summaries: Iterable[ModuleSummary], *, graph_of: Iterable[ModuleSummary] | None = None) -> None:
        """``graph_of``: build the call graph only from these modules' functions (default: all)."""
        self.modules: dict[str, ModuleSummary] = {}
        self.functions: dict[str, FunctionSummary] = {}
        self.classes: dict[str, ClassSummary] = {}
        self.module_of: dict[str, ModuleSummary] = {}  # function id -> its module
        everything: list[ModuleSummary] = []
        for summary in summaries:
            everything.append(summary)
            # Two files claiming one module name: the first wins for name lookups, the
            # second's functions are still in the graph under their own ids.
            self.modules.setdefault(summary.module, summary)
            for fid, fn in summary.functions.items():
                self.functions[fid] = fn
                self.module_of[fid] = summary
            self.classes.update(summary.classes)
        self._values: dict[Ref, Value | None] = {}
        self._symbols: dict[str, Value | None] = {}
        self._mro: dict[str, tuple[str, ...]] = {}
        self.edges: dict[str, list[Edge]] = {}
        self.callers: dict[str, list[Edge]] = {}
        self.externals: dict[str, list[ExternalCall]] = {}
        # Shared derived analyses, keyed by their inputs (rules of one run share them).
        self.cache: dict[Any, Any] = {}
        # Function id -> the contexts it is an entry point of (``sightlint.project.contexts``).
        self.entries: dict[str, frozenset[str]] = {}
        if graph_of is None:
            self._build_graph(self.functions.items())
            self._find_entries(everything)
        else:
            graph_of = list(graph_of)
            self._build_graph((fid, fn) for summary in graph_of for fid, fn in summary.functions.items())
            self._find_entries(graph_of)

    # -- name resolution -------------------------------------------------------------------

    def symbol(self, dotted: str) -> Value | None:
        """The value a dotted name (as written after imports) refers to."""
        if dotted in self._symbols:
            return self._symbols[dotted]
        self._symbols[dotted] = None  # a cycle of re-exports resolves to "unknown"
        parts = dotted.split(".")
        value: Value | None = ExternalValue(dotted)
        for i in range(len(parts), 0, -1):
            module = ".".join(parts[:i])
            if module in self.modules:
                value = ModuleValue(module)
                for name in parts[i:]:
                    value = self.attr(value, name)
                    if value is None:
                        break
                break
        self._symbols[dotted] = value
        return value

    def module_member(self, module: str, name: str, depth: int = 0) -> Value | None:
        summary = self.modules[module]
        fid = summary.toplevel.get(name)
        if fid is not None:
            return ClassValue(fid) if fid in self.classes else FuncValue(fid, False)
        target = summary.imports.get(name)
        if target is not None:
            return self.symbol(target)
        ref = summary.globals.get(name)
        if ref is not None:
            return self.value(ref)
        submodule = f"{module}.{name}"
        if submodule in self.modules:
            return ModuleValue(submodule)
        if depth < 5:
            for star in summary.star_imports:
                if star in self.modules:
                    found = self.module_member(star, name, depth + 1)
                    if found is not None:
                        return found
        return None

    def value(self, ref: Ref | None) -> Value | None:
        """Evaluate a symbolic reference (memoised; cycles evaluate to None)."""
        if ref is None:
            return None
        if ref in self._values:
            return self._values[ref]
        self._values[ref] = None
        result = self._evaluate(ref)
        self._values[ref] = result
        return result

    def _evaluate(self, ref: Ref) -> Value | None:
        if isinstance(ref, GlobalRef):
            return self.symbol(ref.dotted)
        if isinstance(ref, MemberRef):
            module, name = ref.module, ref.name
            found = self.module_member(module, name) if module in self.modules else None
            if found is None and name in _BUILTINS:
                summary = self.modules.get(module)
                if summary is None or (name not in summary.globals and name not in summary.imports):
                    return ExternalValue(name)
            return found
        if isinstance(ref, AttrRef):
            base = self.value(ref.of)
            return None if base is None else self.attr(base, ref.name)
        if isinstance(ref, CallRef):
            base = self.value(ref.of)
            return None if base is None else self.call_result(base)
        if isinstance(ref, LocalFunctionRef):
            return FuncValue(ref.id, False) if ref.id in self.functions else None
        if isinstance(ref, SelfRef):
            return InstanceValue(ref.cls)
        if isinstance(ref, ClsRef):
            return ClassValue(ref.cls)
        if isinstance(ref, SuperRef):
            return SuperValue(ref.cls)
        if isinstance(ref, NoneRef):
            return NONE_VALUE
        if isinstance(ref, OrRef):
            left, right = self.value(ref.left), self.value(ref.right)
            for side in (left, right):
                if isinstance(side, ExternalValue) and (side.dotted in CHAT_MODELS or side.dotted == LLM_PIPE):
                    return ExternalValue(LLM_PIPE)
            return None
        if isinstance(ref, DivRef):
            base = self.value(ref.of)
            return base if isinstance(base, ExternalValue) and base.dotted == _PATH.dotted else None
        return None

    def attr(self, value: Value, name: str) -> Value | None:
        if isinstance(value, ModuleValue):
            return self.module_member(value.name, name)
        if isinstance(value, ExternalValue):
            if value.dotted == _PATH.dotted and name in _PATH_SAME:
                return value
            return ExternalValue(f"{value.dotted}.{name}")
        if isinstance(value, (InstanceValue, ClassValue, SuperValue)):
            cid = value.id
            is_class = isinstance(value, ClassValue)
            method = self.find_method(cid, name, skip_first=isinstance(value, SuperValue))
            if method is not None:
                fn = self.functions[method]
                if fn.method_kind == "property" and not is_class:
                    # The value of the getter (running the getter itself is not an edge).
                    return self.value(fn.returns)
                return FuncValue(method, not is_class and fn.method_kind != "static")
            for owner in self.mro(cid):
                ref = self.classes[owner].attrs.get(name)
                if ref is not None:
                    return self.value(ref)
            return None
        return None

    def call_result(self, value: Value) -> Value | None:
        if isinstance(value, ClassValue):
            return InstanceValue(value.id)
        if isinstance(value, FuncValue):
            return self.value(self.functions[value.id].returns)
        if isinstance(value, ExternalValue):
            dotted = value.dotted + "()"
            if dotted.startswith("pathlib.Path().") and dotted[len("pathlib.Path().") :] in _PATH_SAME:
                return _PATH
            if dotted == "pathlib.PurePath()" or dotted == "pathlib.PosixPath()":
                return _PATH
            return ExternalValue(dotted)
        return None

    # -- classes -----------------------------------------------------------------------

    def mro(self, cid: str) -> tuple[str, ...]:
        """The class and its project base classes, depth first, each once."""
        if cid in self._mro:
            return self._mro[cid]
        self._mro[cid] = (cid,)  # cycle guard
        order = [cid]
        for base_ref in self.classes[cid].bases:
            base = self.value(base_ref)
            if isinstance(base, ClassValue):
                for owner in self.mro(base.id):
                    if owner not in order:
                        order.append(owner)
        self._mro[cid] = tuple(order)
        return self._mro[cid]

    def find_method(self, cid: str, name: str, *, skip_first: bool = False) -> str | None:
        if cid not in self.classes:
            return None
        order = self.mro(cid)
        for owner in order[1:] if skip_first else order:
            method = self.classes[owner].methods.get(name)
            if method is not None:
                return method
        return None

    def call_target(self, value: Value) -> tuple[str, bool] | None:
        """The project function a call of ``value`` runs, and whether ``self`` is bound."""
        if isinstance(value, FuncValue):
            return value.id, value.bound
        if isinstance(value, ClassValue):
            init = self.find_method(value.id, "__init__")
            return (init, True) if init is not None else None
        if isinstance(value, InstanceValue):
            call = self.find_method(value.id, "__call__")
            return (call, True) if call is not None else None
        return None

    # -- the call graph --------------------------------------------------------------------

    def _add_edge(self, edge: Edge) -> None:
        self.edges.setdefault(edge.source, []).append(edge)
        self.callers.setdefault(edge.target, []).append(edge)

    def _build_graph(self, functions: Iterable[tuple[str, FunctionSummary]]) -> None:
        for fid, fn in functions:
            # Calls that make a coroutine for create_task & co: (line, col) -> the handoff.
            started = {(h.line, h.col): h for h in fn.handoffs if h.called} if fn.handoffs else None
            for site in fn.calls:
                value = self.value(site.callee)
                if value is None:
                    continue
                if isinstance(value, ExternalValue):
                    self.externals.setdefault(fid, []).append(ExternalCall(fid, value.dotted, site))
                    continue
                target = self.call_target(value)
                if target is None:
                    continue
                handoff = started.get((site.line, site.col)) if started else None
                if handoff is not None and self.functions[target[0]].is_async:
                    # The coroutine runs as a task of its own; a sync function called here
                    # runs now, in the caller's context (what it returns is not known).
                    kind = _edge_kind(handoff, True)
                    self._add_edge(Edge(fid, target[0], site.line, site.col, f"passed to {handoff.text}", kind))
                else:
                    self._add_edge(Edge(fid, target[0], site.line, site.col))
                if site.fn_args:
                    self._callback_edges(fid, site, *target)
            if fn.handoffs:
                self._handoff_edges(fid, fn.handoffs)

    def _handoff_edges(self, fid: str, handoffs: Iterable[Handoff]) -> None:
        """"thread" and "background" edges to the callables ``fid`` hands over."""
        for handoff in handoffs:
            if handoff.called:
                continue
            value = self.value(handoff.target)
            target = self.call_target(value) if value is not None else None
            if target is not None:
                kind = _edge_kind(handoff, self.functions[target[0]].is_async)
                self._add_edge(Edge(fid, target[0], handoff.line, handoff.col, f"passed to {handoff.text}", kind))

    def _callback_edges(self, fid: str, site: CallSite, target: str, bound: bool) -> None:
        """``helper(fn)`` where ``helper`` calls its parameter: ``fid`` reaches ``fn``."""
        callee = self.functions[target]
        if not callee.param_calls:
            return
        called = {name for name, _, _ in callee.param_calls}
        offset = 1 if bound and callee.cls and callee.method_kind != "static" else 0
        for key, ref in site.fn_args:
            if isinstance(key, int):
                index = key + offset
                name = callee.params[index] if index < len(callee.params) else None
            else:
                name = key
            if name not in called:
                continue
            value = self.value(ref)
            passed = self.call_target(value) if value is not None else None
            if passed is not None:
                self._add_edge(Edge(fid, passed[0], site.line, site.col, via=f"passed to {callee.name}"))

    # -- entry points --------------------------------------------------------------------------

    def _find_entries(self, summaries: Iterable[ModuleSummary]) -> None:
        found: dict[str, set[str]] = {}
        for summary in summaries:
            for fid, context in self.module_entries(summary):
                found.setdefault(fid, set()).add(context)
        self.entries = {fid: frozenset(contexts) for fid, contexts in found.items()}

    def module_entries(self, summary: ModuleSummary) -> list[tuple[str, str]]:
        """``(function id, context)`` of each entry point ``summary`` names (the function
        may be in another module): its entry sites, decorated functions, tests, and
        methods frameworks call on subclasses of theirs (``BaseHTTPMiddleware.dispatch``)."""
        found: list[tuple[str, str]] = []
        for site in summary.entries:
            value = self.value(site.target)
            if value is None:
                continue
            if site.how == "middleware":
                targets = self._middleware_methods(value)
            else:
                target = self.call_target(value)
                targets = (target[0],) if target is not None else ()
            for fid in targets:
                found.append((fid, self._context_of(fid, site.context)))
        tests = is_test_path(summary.path)
        for fid, fn in summary.functions.items():
            for ref in fn.decorators:
                context = self._decorator_context(ref)
                if context is not None:
                    found.append((fid, self._context_of(fid, context)))
            if tests and fn.name.startswith("test") and self._collected_test(summary, fid, fn):
                found.append((fid, TEST))
        for cid, cls in summary.classes.items():
            if cls.bases:
                for base in self._external_bases(cid):
                    method_context = _BASE_ENTRIES.get(base)
                    if method_context is not None:
                        method = self.find_method(cid, method_context[0])
                        if method is not None:
                            found.append((method, method_context[1]))
        return found

    def _context_of(self, fid: str, context: str) -> str:
        """Starlette and FastAPI run sync endpoints, dependencies and exception handlers in
        a threadpool."""
        return THREAD if context == REQUEST and not self.functions[fid].is_async else context

    def _decorator_context(self, ref: Ref) -> str | None:
        """The context a decorator registers its function in, if it is a framework's."""
        if isinstance(ref, AttrRef):
            spec = _DECORATORS.get(ref.name)
            if spec is None:
                return None
            base = self.value(ref.of)
        elif isinstance(ref, GlobalRef):
            head, _, name = ref.dotted.rpartition(".")
            spec = _DECORATORS.get(name)
            if spec is None or not head:
                return None
            base = self.symbol(head)
        else:
            return None
        context, frameworks = spec
        return context if self._of_framework(base, frameworks) else None

    def _of_framework(self, value: Value | None, frameworks: frozenset[str]) -> bool:
        """Whether ``value`` is an object of one of ``frameworks`` (top-level packages). An
        unknown one counts, so the decorator's name decides: an unresolved name, or one
        imported from a module outside the run (``from app.routers import router`` when
        only part of a project is checked); an instance of another package's class
        (``flask.Flask()``) or of a project class not derived from theirs does not."""
        if value is None:
            return True
        if isinstance(value, ExternalValue):
            dotted = value.dotted
            top = dotted.partition(".")[0]
            if top in frameworks:
                return True
            # A module of the standard library or a known test helper is no router, an
            # unknown module of the project's may be: ``@patch(...)`` from ``unittest.mock``
            # is a test double, not a PATCH route.
            return "()" not in dotted and top not in sys.stdlib_module_names and top not in _NOT_FRAMEWORKS
        if isinstance(value, InstanceValue):
            return any(base.partition(".")[0] in frameworks for base in self._external_bases(value.id))
        # ``@cli.command()`` where ``cli`` is a function decorated as a click group.
        return isinstance(value, FuncValue) and frameworks is _CLI

    def _external_bases(self, cid: str) -> list[str]:
        """Dotted names of the classes outside the project that ``cid`` derives from."""
        found = []
        for owner in self.mro(cid):
            for ref in self.classes[owner].bases:
                base = self.value(ref)
                if isinstance(base, ExternalValue):
                    found.append(base.dotted)
        return found

    def _middleware_methods(self, value: Value) -> tuple[str, ...]:
        """What runs per request of a middleware class given to ``add_middleware``."""
        if not isinstance(value, (ClassValue, InstanceValue)):
            return ()
        for name in ("dispatch", "__call__") if isinstance(value, ClassValue) else ("__call__",):
            method = self.find_method(value.id, name)
            if method is not None:
                return (method,)
        return ()

    def _collected_test(self, summary: ModuleSummary, fid: str, fn: FunctionSummary) -> bool:
        """A module-level ``test*`` function, or a ``test*`` method of a ``Test*`` class."""
        if fn.cls is None:
            return fid == f"{summary.module}.{fn.name}"
        cls = self.classes.get(fn.cls)
        return cls is not None and cls.name.startswith("Test") and fid == f"{fn.cls}.{fn.name}"


def sync_callers_bfs(functions: Mapping[str, Any], callers: Mapping[str, list[Edge]], start: str) -> dict[str, Edge | None]:
    """Reverse BFS from ``start`` through sync callers (never across a "thread" edge):
    node -> edge toward ``start``. Async callers are included (they are where a chain
    starts) but not walked past."""
    towards: dict[str, Edge | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node != start and functions[node].is_async:
            continue
        for edge in callers.get(node, ()):
            if edge.source not in towards and edge.kind != "thread":
                towards[edge.source] = edge
                queue.append(edge.source)
    return towards


def _edge_kind(handoff: Handoff, is_async: bool) -> str:
    """The kind of edge to what ``handoff`` hands over: Starlette's background tasks await
    a coroutine function on the loop and run a plain one in the threadpool."""
    if handoff.kind == "task":
        return "background" if is_async else "thread"
    return handoff.kind


def is_test_path(path: str) -> bool:
    """``test_*.py``, ``*_test.py`` (pytest's defaults), or any file under a ``tests`` folder."""
    folder, _, name = path.replace("\\", "/").rpartition("/")
    if (name.startswith("test_") and name.endswith(".py")) or name.endswith("_test.py"):
        return True
    return "tests" in folder.split("/")


def module_dependencies(summary: ModuleSummary, modules: Any, by_last: dict[str, list[str]]) -> tuple[str, ...]:
    """Project modules whose summaries resolving ``summary``'s names may consult.

    ``modules`` holds every module name; ``by_last`` maps a last name component to the
    modules that end with it. The dependencies are: every module that is a prefix of a
    name written in the summary (imports, ``pkg.mod.name`` references, class and
    function ids); every module ``x.n`` where ``n`` is an attribute name in the
    summary's references (``pkg.sub`` reached as an attribute of a module value, which
    may come from anywhere); and ``module.n`` for each module member ``n`` looked up
    (all ``*.n`` when the module has star imports). Resolution only follows names found
    in the summaries it consults, so the transitive closure of this relation covers
    everything a module's record depends on (with the set of module names, which
    callers key separately).
    """
    terms = summary.terms if summary.terms is not None else dependency_terms(summary)
    deps = {name for name in terms.prefixes if name in modules}
    deps.update(name for name in terms.members if name in modules)
    for name in terms.attrs:
        deps.update(by_last.get(name, ()))
    if summary.star_imports:
        for name in terms.member_names:
            deps.update(by_last.get(name, ()))
    return tuple(sorted(deps))
