"""The project model: every module's summary, names resolved across files, a call graph.

Built once per run from the :class:`ModuleSummary` of each file. Symbolic references
(``summary.Ref``) are evaluated lazily and memoised to a :data:`Value`, one named tuple
per kind:

``FuncValue(id, bound)``    a project function (``bound``: reached through an instance)
``ClassValue(id)``          a project class
``InstanceValue(id, sub)``  an instance of a project class (``sub``: or of any subclass, as
                            for ``self`` or an annotated parameter: class-hierarchy analysis)
``ContainerValue(items)``   a list, tuple, set or dict (its values) holding these values, or
                            what a generator yields
``UnionValue(options)``     any of several values (a name assigned more than once, a union
                            annotation, a method a subclass overrides)
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
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from sightlint.project.contexts import REQUEST, SCRIPT, STARTUP, TEST, THREAD
from sightlint.semantics.fastapi import NOT_FRAMEWORKS, ROUTE_METHODS
from sightlint.project.summary import (
    ANY,
    ATTR,
    CALL,
    CLS,
    DEF,
    DIV,
    ENTER,
    GLOBAL,
    ITEM,
    LOCAL,
    MEMBER,
    NONE_TAG,
    OR,
    PARAM,
    SELF,
    SEQ,
    SUPER,
    TYPE,
    CallSite,
    ClassSummary,
    FunctionSummary,
    Handoff,
    ModuleSummary,
    Ref,
    DependencyTerms,
    dependency_terms,
)
from sightlint.project.summary import hierarchy_terms as hierarchy_terms  # re-exported: defined with the terms



class FuncValue(NamedTuple):
    """A project function; ``bound``: reached through an instance (``self`` is passed);
    ``plain``: the function as its ``def`` made it, not what its decorators returned."""

    id: str
    bound: bool
    plain: bool = False


class ClassValue(NamedTuple):
    """A project class."""

    id: str


class InstanceValue(NamedTuple):
    """An instance of a project class; ``sub``: or of any of its subclasses (``within``:
    those that inherit this method of the class: it is the method's ``self``)."""

    id: str
    sub: bool = False
    within: str = ""


class ModuleValue(NamedTuple):
    """A project module."""

    name: str


class SuperValue(NamedTuple):
    """``super()`` inside a method of class ``id``."""

    id: str


class ExternalValue(NamedTuple):
    """Something outside the project, as a dotted path where ``()`` marks a call result."""

    dotted: str


# What a memo's ``get`` gives for a key it does not hold (its values may be None): told
# apart by identity only.
_UNSET = ExternalValue("<not memoised>")


class NoneValue(NamedTuple):
    """The constant ``None``."""


class ContainerValue(NamedTuple):
    """A collection holding ``items`` (or a generator yielding them); ``keys``: a dict's
    constant key of each item (None: not known), or empty."""

    items: tuple[Value, ...]
    keys: tuple[str | int | None, ...] = ()


class UnionValue(NamedTuple):
    """Any of ``options`` (two or more, none of them a union)."""

    options: tuple[Value, ...]


NONE_VALUE = NoneValue()

Value = (
    FuncValue | ClassValue | InstanceValue | ModuleValue | SuperValue | ExternalValue | NoneValue | ContainerValue | UnionValue
)
# A union of more values than this keeps the first ones (a guard against blow-ups).
_MAX_OPTIONS = 16
# How many calls deep an argument is followed into unannotated parameters (``ParamRef``):
# ``f(x)`` gives ``f``'s parameter ``x``'s value, which ``f`` may pass on to ``g`` (2).
PARAM_DEPTH = 2
# What ``for`` calls on the iterable (an edge when the iterable is a project object).
_ITERATION = ("__iter__", "__next__", "__aiter__", "__anext__")
# Builtins that call a callable passed to them before they return.
_CALLS_BACK = frozenset(("map", "filter", "sorted", "min", "max", "functools.reduce", "itertools.starmap"))
# External bases whose methods are not worth an attribute name (``typing.Generic``...).
_PLAIN_BASES = frozenset(
    {"object", "abc.ABC", "typing.Generic", "typing.Protocol", "typing_extensions.Protocol", "Exception", "BaseException"}
)
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
# WSGI frameworks whose async views each run on a loop of their own (flask 3.1
# flask/app.py Flask.ensure_sync -> Flask.async_to_sync -> asgiref.sync.async_to_sync).
_OWN_LOOP = frozenset({"flask"})
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
# python-socketio's ``AsyncServer`` runs an event handler registered with ``@sio.on(event)``
# or ``@sio.event`` on the event loop: it awaits a coroutine function and calls a plain
# one right there (src/socketio/async_server.py ``AsyncServer._trigger_event``), so either
# serves a websocket request. The sync ``Server`` runs handlers in threads or green threads
# of its async mode and is left alone.
_SOCKETIO_SERVERS = frozenset({"socketio.AsyncServer", "socketio.async_server.AsyncServer"})
_SOCKETIO_DECORATORS = frozenset({"on", "event"})
# Packages whose decorators named like a framework's (``patch``, ``get``, ``fixture``...)
# are something else: test doubles and HTTP mocks.
_NOT_FRAMEWORKS = NOT_FRAMEWORKS
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


# Not ``frozen`` (treated as immutable all the same; ``unsafe_hash`` keeps the hash a frozen
# one had): a frozen dataclass sets each field through ``object.__setattr__``, and every
# external call of every module is made into one (in the model and again in each Graph).
@dataclass(slots=True, unsafe_hash=True)
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
        # Memos. A value whose evaluation reads no parameter (``ParamRef``) is the same at
        # every depth and is kept in ``_stable``/``_stable_symbols``; the others are kept per
        # depth (``_level``: how many more calls deep a parameter may still be followed).
        self._level = PARAM_DEPTH
        self._stable: dict[Ref, Value | None] = {}
        self._stable_symbols: dict[str, Value | None] = {}
        self._memos: list[tuple[dict[Ref, Value | None], dict[str, Value | None]]] = [({}, {}) for _ in range(PARAM_DEPTH + 1)]
        self._values, self._symbols = self._memos[PARAM_DEPTH]
        self._touched = False  # the evaluation under way read a parameter
        # (depth, module path) -> (function id, parameter) -> the argument refs the module's
        # own calls pass for it.
        self._bindings: dict[tuple[int, str], dict[tuple[str, str], list[Ref]]] = {}
        self._mro: dict[str, tuple[str, ...]] = {}
        self._subclasses: dict[str, list[str]] | None = None
        self._called_params: dict[str, frozenset[str]] = {}
        self.edges: dict[str, list[Edge]] = {}
        self.callers: dict[str, list[Edge]] = {}
        self.externals: dict[str, list[ExternalCall]] = {}
        # ``helper -> fn`` for ``helper(fn)`` where ``helper`` calls its parameter: the call
        # as written in ``helper``, context-insensitive (the graph's edge for it runs from
        # the caller that passed ``fn``, so each caller reaches only what it passed).
        self.param_edges: dict[str, list[Edge]] = {}
        # Shared derived analyses, keyed by their inputs (rules of one run share them).
        self.cache: dict[Any, Any] = {}
        # Function id -> the contexts it is an entry point of (``sightlint.project.contexts``).
        self.entries: dict[str, frozenset[str]] = {}
        # id of a summary the graph was built for -> its :meth:`module_entries` (``everything``
        # keeps the summaries, and so their ids, alive as long as the model).
        self._module_entries: dict[int, list[tuple[str, str]]] = {}
        self._everything = everything
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
        found = self._stable_symbols.get(dotted, _UNSET)
        if found is not _UNSET:
            return found
        found = self._symbols.get(dotted, _UNSET)
        if found is not _UNSET:
            self._touched = True
            return found
        self._symbols[dotted] = None  # a cycle of re-exports resolves to "unknown"
        outer, self._touched = self._touched, False
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
                shadow = self.modules[module]
                if value is None and i == 1 and len(parts) > 1 and not shadow.is_package and "." not in shadow.module:
                    # A lone top-level module that shadows an installed package's name (a
                    # namespace folder's ``openai.py``): what it does not define is the package's.
                    value = ExternalValue(dotted)
                break
        if self._touched:
            self._symbols[dotted] = value
        else:
            del self._symbols[dotted]
            self._stable_symbols[dotted] = value
        self._touched = self._touched or outer
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
        # One lookup per memo (a ref hashes through its nested tuples each time).
        found = self._stable.get(ref, _UNSET)
        if found is not _UNSET:
            return found
        memo = self._values
        found = memo.get(ref, _UNSET)
        if found is not _UNSET:
            self._touched = True
            return found
        memo[ref] = None
        outer, self._touched = self._touched, False
        result = self._evaluate(ref)
        if self._touched:
            memo[ref] = result
        else:
            del memo[ref]
            self._stable[ref] = result
        self._touched = self._touched or outer
        return result

    def _evaluate(self, ref: Ref) -> Value | None:
        kind = ref[-1]  # refs are plain tuples ending with their tag (``summary.py``)
        if kind == GLOBAL:
            return self.symbol(ref[0])
        if kind == MEMBER:
            module, name = ref[0], ref[1]
            found = self.module_member(module, name) if module in self.modules else None
            if found is None and name in _BUILTINS:
                summary = self.modules.get(module)
                if summary is None or (name not in summary.globals and name not in summary.imports):
                    return ExternalValue(name)
            return found
        if kind == ATTR:
            base = self.value(ref[0])
            return None if base is None else self.attr(base, ref[1])
        if kind == CALL:
            base = self.value(ref[0])
            return None if base is None else self.call_result(base)
        if kind == LOCAL:
            if ref[0] in self.classes:
                return ClassValue(ref[0])  # a class defined in a function or class body
            return FuncValue(ref[0], False) if ref[0] in self.functions else None
        if kind == DEF:
            return FuncValue(ref[0], False, True) if ref[0] in self.functions else None
        if kind == SELF:
            return InstanceValue(ref[0], True, ref[1])
        if kind == CLS:
            return ClassValue(ref[0])
        if kind == SUPER:
            return SuperValue(ref[0])
        if kind == NONE_TAG:
            return NONE_VALUE
        if kind == OR:
            left, right = self.value(ref[0]), self.value(ref[1])
            for side in (left, right):
                if isinstance(side, ExternalValue) and (side.dotted in CHAT_MODELS or side.dotted == LLM_PIPE):
                    return ExternalValue(LLM_PIPE)
            return None
        if kind == DIV:
            base = self.value(ref[0])
            return base if isinstance(base, ExternalValue) and base.dotted == _PATH.dotted else None
        if kind == TYPE:
            base = self.value(ref[0])
            return None if base is None else self._each(base, self._instance_of)
        if kind == ITEM:
            base = self.value(ref[0])
            if base is None:
                return None
            key = ref[1]
            return self._each(base, self._item if key is None else lambda value: self._item(value, key))
        if kind == ENTER:
            base = self.value(ref[0])
            return None if base is None else self._each(base, self._enter)
        if kind == SEQ:
            items = [self.value(item) for item in ref[0]]
            if not ref[1]:
                return ContainerValue(tuple(item for item in items if item is not None))
            pairs = [(item, key) for item, key in zip(items, ref[1]) if item is not None]
            return ContainerValue(tuple(item for item, _ in pairs), tuple(key for _, key in pairs))
        if kind == ANY:
            return union(self.value(option) for option in ref[0])
        if kind == PARAM:
            self._touched = True
            return self._parameter(ref)
        return None

    # -- unannotated parameters -------------------------------------------------------------

    def _parameter(self, ref: Ref) -> Value | None:
        """The value of an unannotated parameter: its default, or any argument a call of the
        function written in the function's own module passes for it, followed
        ``PARAM_DEPTH`` calls deep (an argument that is itself such a parameter is read one
        level shallower, so the result does not depend on the order of evaluation).

        Only the function's own module is read: a module's call graph then depends on the
        modules it consults, as without parameters, and warm runs stay identical to cold
        ones (callers in other modules would make a module depend on its importers)."""
        fid, name, default_ref = ref[0], ref[1], ref[2]  # a ``ParamRef``
        default = self.value(default_ref)
        summary = self.module_of.get(fid)
        if self._level == 0 or summary is None:
            return default
        level, values, symbols = self._level, self._values, self._symbols
        self._level -= 1
        self._values, self._symbols = self._memos[self._level]
        try:
            passed = self._bound_arguments(summary).get((fid, name), ())
            return union([default, *(self.value(arg) for arg in passed)])
        finally:
            self._level, self._values, self._symbols = level, values, symbols

    def _bound_arguments(self, summary: ModuleSummary) -> dict[tuple[str, str], list[Ref]]:
        """(function id, parameter) -> the argument refs passed for it by the calls written
        in ``summary``'s module to functions of that module (at the current depth)."""
        key = (self._level, summary.path)
        found = self._bindings.get(key)
        if found is not None:
            return found
        found = self._bindings[key] = {}
        module_of = self.module_of
        for fn in summary.functions.values():
            for site in fn.calls:
                if not site.args and not site.fn_args:
                    continue
                value = self.value(site.callee)
                if value is None:
                    continue
                for target, bound in self.call_targets(value):
                    if module_of.get(target) is not summary:
                        continue
                    callee = self.functions[target]
                    for key_, arg in (*site.fn_args, *site.args):
                        name = _param_name(callee, key_, bound)
                        if name is not None and name in callee.params:
                            refs = found.setdefault((target, name), [])
                            if arg not in refs and len(refs) < _MAX_OPTIONS:
                                refs.append(arg)
        return found

    def _each(self, value: Value, how: Any) -> Value | None:
        """``how(value)``, or the union of ``how`` of each option of a union."""
        if isinstance(value, UnionValue):
            return union(how(option) for option in value.options)
        return how(value)  # type: ignore[no-any-return]

    def _instance_of(self, value: Value) -> Value | None:
        """An instance of the class ``value`` (annotated: maybe of a subclass)."""
        if isinstance(value, ClassValue):
            return InstanceValue(value.id, True)
        if isinstance(value, ExternalValue):
            return self.call_result(value)
        return None

    def _item(self, value: Value, key: str | int | None = None) -> Value | None:
        """An item of ``value`` (``value[k]``, iterating): a container's items (those at a
        constant ``key`` and those whose key is not known, when the dict has that key); a
        subscripted class is the class (``Repo[User]``: generics are erased)."""
        if isinstance(value, ContainerValue):
            if key is not None and key in value.keys:
                return union(item for item, at in zip(value.items, value.keys) if at == key or at is None)
            return union(value.items)
        if isinstance(value, ClassValue):
            return value
        if isinstance(value, InstanceValue):
            return self._instance_item(value)
        if isinstance(value, ExternalValue):
            last = value.dotted.rpartition(".")[2]
            return value if "()" not in value.dotted and last[:1].isupper() else None
        return None

    def _instance_item(self, value: InstanceValue) -> Value | None:
        """An item of a project object: what its ``__getitem__`` returns, else what
        iterating it gives (``__iter__`` a generator: its yields; an iterator: what its
        ``__next__`` returns)."""
        getitem = self.find_method(value.id, "__getitem__")
        if getitem is not None:
            return self.value(self.functions[getitem].returns)
        method = self.find_method(value.id, "__iter__")
        if method is None:
            return None
        iterator = self.value(self.functions[method].returns)
        if isinstance(iterator, ContainerValue):
            return union(iterator.items)
        if isinstance(iterator, InstanceValue):
            step = self.find_method(iterator.id, "__next__")
            return self.value(self.functions[step].returns) if step is not None else None
        return None

    def _enter(self, value: Value) -> Value | None:
        """What ``with value as v`` binds: a generator-based context manager's yield, a
        project ``__enter__``'s (or ``__aenter__``'s) result, else the value itself."""
        if isinstance(value, ContainerValue):
            return union(value.items)
        if isinstance(value, InstanceValue):
            for name in ("__aenter__", "__enter__"):
                method = self.find_method(value.id, name)
                if method is not None:
                    return self.value(self.functions[method].returns) or value
        return value

    def attr(self, value: Value, name: str) -> Value | None:
        if isinstance(value, UnionValue):
            return union(self.attr(option, name) for option in value.options)
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
            methods = [method] if method is not None else []
            others = self._receivers(value) if isinstance(value, InstanceValue) and value.sub else ()
            if others:  # ``self.step()``, ``repo: Base``: every override in a subclass may run
                methods += [m for other in others if (m := self.classes[other].methods.get(name)) is not None]
            if methods:
                found = []
                for method in methods:
                    fn = self.functions[method]
                    if fn.method_kind == "property" and not is_class:
                        # The value of the getter (running the getter itself is not an edge).
                        found.append(self.value(fn.returns))
                    else:
                        found.append(FuncValue(method, not is_class and fn.method_kind != "static"))
                return union(found)
            for owner in self.mro(cid):
                ref = self.classes[owner].attrs.get(name)
                if ref is not None:
                    return self.value(ref)
            if others:
                found = [self.value(ref) for other in others if (ref := self.classes[other].attrs.get(name)) is not None]
                if found:
                    return union(found)
            # A project subclass of an external class inherits its methods
            # (``class Client(requests.Session)``, then ``self.get()``).
            for base in self._external_bases(cid):
                if base not in _PLAIN_BASES and base not in _BUILTINS:
                    return ExternalValue(f"{base}.{name}" if is_class else f"{base}().{name}")
            return None
        return None

    def call_result(self, value: Value) -> Value | None:
        if isinstance(value, UnionValue):
            return union(self.call_result(option) for option in value.options)
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
        """The class and its project base classes in Python's method resolution order (C3;
        depth first, each once, where the bases admit no C3 order)."""
        if cid in self._mro:
            return self._mro[cid]
        self._mro[cid] = (cid,)  # cycle guard
        parents = []
        for base_ref in self.classes[cid].bases:
            base = self.value(base_ref)
            if isinstance(base, ClassValue) and base.id != cid and base.id not in parents:
                parents.append(base.id)
        lines = [list(self.mro(parent)) for parent in parents]
        merged = _c3([[*line] for line in lines] + [list(parents)])
        if merged is None:
            merged = []
            for line in lines:
                merged += (owner for owner in line if owner not in merged and owner != cid)
        self._mro[cid] = (cid, *merged)
        return self._mro[cid]

    def _receivers(self, value: InstanceValue) -> list[str]:
        """The subclasses ``value`` may be an instance of: all of them, or for ``self`` in
        a method, those that inherit the method (the others never run it)."""
        subs = self.subclasses(value.id)
        method = self.functions.get(value.within) if value.within else None
        if method is None or not subs:
            return subs
        return [sub for sub in subs if self.find_method(sub, method.name) == value.within]

    def subclasses(self, cid: str) -> list[str]:
        """The project classes deriving from ``cid`` (directly or not), sorted."""
        if self._subclasses is None:
            found: dict[str, list[str]] = {}
            for other in self.classes:
                for owner in self.mro(other)[1:]:
                    found.setdefault(owner, []).append(other)
            self._subclasses = {owner: sorted(subs) for owner, subs in found.items()}
        return self._subclasses.get(cid, [])

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
        """The (first) project function a call of ``value`` runs, and whether ``self`` is bound."""
        targets = self.call_targets(value)
        return targets[0] if targets else None

    def call_targets(self, value: Value) -> list[tuple[str, bool]]:
        """The project functions a call of ``value`` may run, each with whether ``self`` is
        bound: a union's options, the wrapper a project decorator returns (its body runs
        too), every ``__call__`` of an annotated instance's class and subclasses."""
        if isinstance(value, UnionValue):
            found: list[tuple[str, bool]] = []
            for option in value.options:
                found += (t for t in self.call_targets(option) if t not in found)
            return found
        if isinstance(value, FuncValue):
            if value.plain or not self.functions[value.id].decorators:
                return [(value.id, value.bound)]
            return [(value.id, value.bound), *self.wrappers(value.id)]
        if isinstance(value, ClassValue):
            init = self.find_method(value.id, "__init__")
            return [(init, True)] if init is not None else []
        if isinstance(value, InstanceValue):
            call = self.attr(value, "__call__") if value.sub else None
            if call is not None:
                return [t for t in self.call_targets(call) if self.functions[t[0]].name == "__call__"]
            method = self.find_method(value.id, "__call__")
            return [(method, True)] if method is not None else []
        return []

    def wrappers(self, fid: str) -> list[tuple[str, bool]]:
        """The wrappers project decorators of ``fid`` return: calling ``fid`` runs them."""
        fn = self.functions[fid]
        if not fn.decorators:
            return []
        found: list[tuple[str, bool]] = []
        for ref in fn.decorators:
            decorator = self.value(ref)
            if not isinstance(decorator, FuncValue) or decorator.id == fid:
                continue
            for wrapper in self._nested_returns(decorator.id):
                # ``@retry(3)``: ``retry`` returns the decorator, which returns the wrapper
                # (or, when it is disabled, the function itself: ``return func``).
                inner = self._nested_returns(wrapper)
                if inner:
                    found += ((w, False) for w in inner if (w, False) not in found)
                elif not self._returns_itself(wrapper, fid) and (wrapper, False) not in found:
                    found.append((wrapper, False))
        return found

    def _nested_returns(self, fid: str) -> list[str]:
        """The functions defined inside ``fid`` that it may return (a decorator's wrapper)."""
        value = self.value(self.functions[fid].returns)
        options = value.options if isinstance(value, UnionValue) else (value,)
        prefix = fid + "."
        return [o.id for o in options if isinstance(o, FuncValue) and o.id.startswith(prefix)]

    def _returns_itself(self, decorator: str, fid: str) -> bool:
        """Whether ``decorator`` (what a factory returned) hands back the function ``fid``
        itself, as a registering decorator does (``def dec(f): ...; return f``)."""
        value = self.value(self.functions[decorator].returns)
        options = value.options if isinstance(value, UnionValue) else (value,)
        return any(isinstance(o, FuncValue) and o.plain and o.id == fid for o in options)

    # -- the call graph --------------------------------------------------------------------

    def _add_edge(self, edge: Edge) -> None:
        self.edges.setdefault(edge.source, []).append(edge)
        self.callers.setdefault(edge.target, []).append(edge)

    def _build_graph(self, functions: Iterable[tuple[str, FunctionSummary]]) -> None:
        externals = self.externals
        for fid, fn in functions:
            # Calls that make a coroutine for create_task & co: (line, col) -> the handoff.
            started = {(h.line, h.col): h for h in fn.handoffs if h.called} if fn.handoffs else None
            for site in fn.calls:
                callee = site.callee
                if callee[-1] == PARAM:
                    # A call of a parameter: the graph's edges run from each caller that
                    # passes a function (``_callback_edges``), so each reaches only what it
                    # passed; here only the default runs. ``param_edges`` gets every value.
                    self._parameter_call_edges(fid, site, callee)
                    if callee[2] is None:
                        continue
                    callee = callee[2]  # its default
                value = self.value(callee)
                if value is None:
                    continue
                if type(value) is ExternalValue:
                    # Most calls: what follows for any value, for an external one (no targets).
                    if not value.dotted.endswith(_ITERATION):
                        externals.setdefault(fid, []).append(ExternalCall(fid, value.dotted, site))
                    if site.fn_args and value.dotted in _CALLS_BACK:
                        self._builtin_callback_edges(fid, site, value.dotted)
                    continue
                options = value.options if isinstance(value, UnionValue) else (value,)
                for option in options:
                    if isinstance(option, ExternalValue) and not option.dotted.endswith(_ITERATION):
                        self.externals.setdefault(fid, []).append(ExternalCall(fid, option.dotted, site))
                targets = self.call_targets(value)
                if site.fn_args and not targets and isinstance(value, ExternalValue) and value.dotted in _CALLS_BACK:
                    self._builtin_callback_edges(fid, site, value.dotted)
                if len(targets) > 1 and site.awaited:
                    # ``await repo.save()``: the overrides that are coroutine functions.
                    awaitable = [t for t in targets if self.functions[t[0]].is_async]
                    targets = awaitable or targets
                handoff = started.get((site.line, site.col)) if started else None
                for target in targets:
                    if handoff is not None and _deferred(handoff, self.functions[target[0]]):
                        # The coroutine runs as a task of its own (a generator handed to a
                        # thread runs there); any other function called here runs now, in
                        # the caller's context (what it returns is not known).
                        kind = _edge_kind(handoff, self.functions[target[0]].is_async)
                        self._add_edge(Edge(fid, target[0], site.line, site.col, f"passed to {handoff.text}", kind))
                    else:
                        self._add_edge(Edge(fid, target[0], site.line, site.col))
                    if site.fn_args:
                        self._callback_edges(fid, site, *target)
            if fn.handoffs:
                self._handoff_edges(fid, fn.handoffs)

    def _parameter_call_edges(self, fid: str, site: CallSite, param: Ref) -> None:
        """``model.param_edges`` for a call of a parameter (``fn()`` in ``def run(fn)``):
        from ``fid`` to each function the parameter may hold."""
        value = self.value(param)
        for target, _ in self.call_targets(value) if value is not None else ():
            self.param_edges.setdefault(fid, []).append(Edge(fid, target, site.line, site.col))

    def _handoff_edges(self, fid: str, handoffs: Iterable[Handoff]) -> None:
        """"thread" and "background" edges to the callables ``fid`` hands over."""
        for handoff in handoffs:
            if handoff.called:
                continue
            value = self.value(handoff.target)
            for target in self.call_targets(value) if value is not None else ():
                kind = _edge_kind(handoff, self.functions[target[0]].is_async)
                self._add_edge(Edge(fid, target[0], handoff.line, handoff.col, f"passed to {handoff.text}", kind))

    def _callback_edges(self, fid: str, site: CallSite, target: str, bound: bool) -> None:
        """``helper(fn)`` where ``helper`` calls its parameter (or passes it on to a function
        that does): ``fid`` reaches ``fn``; an external ``fn`` (``helper(time.sleep)``) is an
        external call of ``fid``."""
        called = self.called_params(target)
        if not called:
            return
        callee = self.functions[target]
        for key, ref in site.fn_args:
            if _param_name(callee, key, bound) not in called:
                continue
            value = self.value(ref)
            if value is None:
                continue
            if isinstance(value, ExternalValue):
                passed_site = replace(site, text=f"{value.dotted} (passed to {callee.name})")
                self.externals.setdefault(fid, []).append(ExternalCall(fid, value.dotted, passed_site))
                continue
            for passed in self.call_targets(value):
                self._add_edge(Edge(fid, passed[0], site.line, site.col, via=f"passed to {callee.name}"))
                self._param_edges(target, _param_name(callee, key, bound), passed[0], set())

    def _param_edges(self, fid: str, name: str | None, passed: str, seen: set[tuple[str, str | None]]) -> None:
        """``model.param_edges`` from each function that calls ``passed`` as its parameter
        ``name`` (``fid`` itself, or a function it passes the parameter on to)."""
        if (fid, name) in seen or len(seen) > 50:
            return
        seen.add((fid, name))
        fn = self.functions[fid]
        for param, line, col in fn.param_calls:
            if param == name:
                self.param_edges.setdefault(fid, []).append(Edge(fid, passed, line, col))
        for param, index, key in fn.param_forwards:
            if param == name and index < len(fn.calls):
                value = self.value(fn.calls[index].callee)
                for target, bound in self.call_targets(value) if value is not None else ():
                    self._param_edges(target, _param_name(self.functions[target], key, bound), passed, seen)

    def _builtin_callback_edges(self, fid: str, site: CallSite, api: str) -> None:
        """``map(fn, items)``, ``sorted(items, key=fn)``: the builtin calls ``fn`` now."""
        for key, ref in site.fn_args:
            value = self.value(ref)
            for passed in self.call_targets(value) if value is not None else ():
                self._add_edge(Edge(fid, passed[0], site.line, site.col, via=f"passed to {api}"))

    def called_params(self, fid: str) -> frozenset[str]:
        """The parameters of ``fid`` it calls, or passes on to a function that calls them."""
        if fid in self._called_params:
            return self._called_params[fid]
        self._called_params[fid] = frozenset()  # recursion: what is known so far
        fn = self.functions[fid]
        called = {name for name, _, _ in fn.param_calls}
        for name, index, key in fn.param_forwards:
            if name in called or index >= len(fn.calls):
                continue
            value = self.value(fn.calls[index].callee)
            for target, bound in self.call_targets(value) if value is not None else ():
                if _param_name(self.functions[target], key, bound) in self.called_params(target):
                    called.add(name)
                    break
        self._called_params[fid] = frozenset(called)
        return self._called_params[fid]

    # -- entry points --------------------------------------------------------------------------

    def _find_entries(self, summaries: Iterable[ModuleSummary]) -> None:
        found: dict[str, set[str]] = {}
        kept = self._module_entries
        for summary in summaries:
            entries = kept[id(summary)] = self.module_entries(summary)
            for fid, context in entries:
                found.setdefault(fid, set()).add(context)
        self.entries = {fid: frozenset(contexts) for fid, contexts in found.items()}

    def entries_of(self, summary: ModuleSummary) -> list[tuple[str, str]]:
        """:meth:`module_entries` of ``summary``, as worked out when the model was built
        (for a module the graph was built for; else worked out now)."""
        kept = self._module_entries.get(id(summary))
        return kept if kept is not None else self.module_entries(summary)

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
                if self._socketio_handler(ref):
                    found.append((fid, REQUEST))  # on the loop, async or not
                    continue
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
        if tests:
            # An app a test module builds (its routes, middleware, lifespan) serves only the
            # test client: what it reaches runs under the test, not for production requests.
            return [(fid, TEST) for fid, _ in found]
        return found

    def _context_of(self, fid: str, context: str) -> str:
        """Starlette and FastAPI run sync endpoints, dependencies and exception handlers in
        a threadpool."""
        return THREAD if context == REQUEST and not self.functions[fid].is_async else context

    def _decorator_context(self, ref: Ref) -> str | None:
        """The context a decorator registers its function in, if it is a framework's."""
        kind = ref[-1]
        if kind == ATTR:
            spec = _DECORATORS.get(ref[1])
            if spec is None:
                return None
            base = self.value(ref[0])
        elif kind == GLOBAL:
            head, _, name = ref[0].rpartition(".")
            spec = _DECORATORS.get(name)
            if spec is None or not head:
                return None
            base = self.symbol(head)
        else:
            return None
        context, frameworks = spec
        if context == REQUEST and isinstance(base, ExternalValue) and base.dotted.partition(".")[0] in _OWN_LOOP:
            # Flask runs an ``async def`` view in an event loop of its own per request
            # (asgiref's async_to_sync, in the worker's thread): nothing else shares it.
            return THREAD
        return context if self._of_framework(base, frameworks) else None

    def _socketio_handler(self, ref: Ref) -> bool:
        """Whether a decorator is ``on``/``event`` of a python-socketio ``AsyncServer``
        (constructed from the ``socketio`` package, or a project subclass of it)."""
        kind = ref[-1]
        if kind == ATTR:
            if ref[1] not in _SOCKETIO_DECORATORS:
                return False
            base = self.value(ref[0])
        elif kind == GLOBAL:
            head, _, name = ref[0].rpartition(".")
            if name not in _SOCKETIO_DECORATORS or not head:
                return False
            base = self.symbol(head)
        else:
            return False
        if isinstance(base, ExternalValue):
            return base.dotted.endswith("()") and base.dotted[:-2] in _SOCKETIO_SERVERS
        return isinstance(base, InstanceValue) and not _SOCKETIO_SERVERS.isdisjoint(self._external_bases(base.id))

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


def union(values: Iterable[Value | None]) -> Value | None:
    """One value for any of ``values`` (unions flattened, None and ``None`` dropped)."""
    found: list[Value] = []
    seen: set[tuple[type, Value]] = set()  # values of two kinds may be equal tuples
    for value in values:
        for option in value.options if isinstance(value, UnionValue) else (value,):
            if option is not None and not isinstance(option, NoneValue) and (type(option), option) not in seen:
                seen.add((type(option), option))
                found.append(option)
    if not found:
        return None
    return found[0] if len(found) == 1 else UnionValue(tuple(found[:_MAX_OPTIONS]))


def _c3(lines: list[list[str]]) -> list[str] | None:
    """The C3 merge of ``lines`` (the bases' MROs and the bases), or None if there is none."""
    out: list[str] = []
    lines = [line for line in lines if line]
    while lines:
        for line in lines:
            head = line[0]
            if not any(head in other[1:] for other in lines):
                break
        else:
            return None
        out.append(head)
        lines = [rest for line in lines if (rest := [x for x in line if x != head])]
    return out


def _param_name(callee: FunctionSummary, key: int | str, bound: bool) -> str | None:
    """The name of ``callee``'s parameter an argument at ``key`` (position or keyword) binds."""
    if isinstance(key, str):
        return key
    kind = callee.method_kind
    index = key + (1 if callee.cls and (kind == "class" or (bound and kind != "static")) else 0)
    return callee.params[index] if index < len(callee.params) else None


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


def _deferred(handoff: Handoff, fn: FunctionSummary) -> bool:
    """Whether calling ``fn`` where ``handoff`` takes its result runs none of its body
    there: a coroutine function made for a task (``create_task(work())``), or a generator
    function whose generator goes to a thread (``to_thread(list, rows())``): its body runs
    where the generator is iterated."""
    if handoff.kind == "thread":
        return not fn.is_async and fn.yield_line > 0
    return fn.is_async


def _edge_kind(handoff: Handoff, is_async: bool) -> str:
    """The kind of edge to what ``handoff`` hands over: Starlette's background tasks await
    a coroutine function on the loop and run a plain one in the threadpool."""
    if handoff.kind == "task":
        return "background" if is_async else "thread"
    return handoff.kind


_TEST_FOLDERS = frozenset({"tests", "e2e"})


def is_test_path(path: str) -> bool:
    """``test_*.py``, ``*_test.py`` (pytest's defaults), or any file under a ``tests`` folder
    or an ``e2e`` one (end-to-end tests and the apps they drive: Cypress's default spec
    folder is ``cypress/e2e``; a ``tests/e2e`` suite is under ``tests`` anyway)."""
    folder, _, name = path.replace("\\", "/").rpartition("/")
    if (name.startswith("test_") and name.endswith(".py")) or name.endswith("_test.py"):
        return True
    return not _TEST_FOLDERS.isdisjoint(folder.split("/"))


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
    return dependencies(summary.terms if summary.terms is not None else dependency_terms(summary), modules, by_last)


def modules_by_last(modules: Iterable[str]) -> dict[str, list[str]]:
    """The ``by_last`` lookup :func:`dependencies` takes: last name component -> the
    ``modules`` that end with it (in no order that matters: the answer is sorted)."""
    by_last: dict[str, list[str]] = {}
    for name in modules:
        by_last.setdefault(name.rpartition(".")[2], []).append(name)
    return by_last


def dependencies(terms: DependencyTerms, modules: Any, by_last: dict[str, list[str]]) -> tuple[str, ...]:
    """:func:`module_dependencies` from the summary's :class:`DependencyTerms` alone."""
    deps = {name for name in terms.prefixes if name in modules}
    deps.update(name for name in terms.members if name in modules)
    for name in terms.attrs:
        deps.update(by_last.get(name, ()))
    if terms.star_imports:
        for name in terms.member_names:
            deps.update(by_last.get(name, ()))
    return tuple(sorted(deps))
