"""Collect a :class:`ModuleSummary` during the engine's one walk of a file.

The collector is handed to :func:`sightlint.engine.check_source` next to the rules; the
engine keeps the :class:`~sightlint.semantics.scope.Context` (scopes, imports) current, and the
collector turns what it sees into symbolic :data:`Ref` values (see ``summary.py``).
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from sightlint.project import flows
from sightlint.project.contexts import REQUEST, SCRIPT, STARTUP
from sightlint.semantics.fastapi import shared_collector
from sightlint.semantics.fastapi import APP_CLASSES, APP_HOOK_KEYWORDS, DEPENDS, ROUTE_METHODS, ROUTER_CLASSES, SECURITY
from sightlint.project.summary import (
    ANY,
    ATTR,
    CALL,
    GLOBAL,
    LOCAL,
    MEMBER,
    NONE_REF,
    PARAM,
    SELF,
    SEQ,
    TYPE,
    UNKNOWN_REF,
    AnyRef,
    AttrRef,
    CallRef,
    CallSite,
    ClassSummary,
    ClsRef,
    DefRef,
    DivRef,
    EnterRef,
    EntrySite,
    FunctionSummary,
    GlobalRef,
    Handoff,
    ItemRef,
    LocalFunctionRef,
    MemberRef,
    ModuleSummary,
    OrRef,
    ParamRef,
    Ref,
    SelfRef,
    SeqRef,
    SuperRef,
    TimeoutSite,
    TypeRef,
    Wiring,
)
from sightlint.project.work_sites import WorkSites
from sightlint.semantics.nodes import subnodes

if TYPE_CHECKING:
    from sightlint.semantics.scope import Context

NONE: Ref = NONE_REF
UNKNOWN: Ref = UNKNOWN_REF
# Refs that may name a callable passed as an argument (``helper(fn)``, ``run(obj.method)``).
_CALLABLE_TAGS = frozenset((LOCAL, MEMBER, GLOBAL, ATTR))
# Refs that ``for x in ref`` iterates by calling ``__iter__`` (or ``__aiter__``) on them.
_ITERABLE_TAGS = frozenset((MEMBER, LOCAL, GLOBAL, CALL, ATTR, SELF, TYPE, PARAM))
# Arguments whose value may be a callable (a name, ``obj.method``, a lambda, ``partial(f)``).
_CALLABLE_ARGS = frozenset((ast.Name, ast.Lambda, ast.Attribute, ast.Call))
_BUILTIN_NAMES = frozenset(dir(builtins))
_NAMED = frozenset((ast.Name, ast.Attribute))


class _Fact(NamedTuple):
    """What a call of a known function or method means for where code runs.

    ``what``: "handoff" (the callable runs elsewhere, ``kind`` a :class:`Handoff` kind),
    "entry" (a framework will call it, ``kind`` a context), "depends" (a FastAPI
    dependency), "app" (an application or router: its ``lifespan``/``on_startup``...),
    "script" (runs the program: ``asyncio.run``). The callable is the argument at
    ``position`` or the ``keyword`` one; ``coroutine``: that argument is a coroutine, so
    only a call ``work(...)`` names the function (``asyncio.create_task(work())``).
    """

    what: str
    kind: str
    position: int
    keyword: str
    coroutine: bool = False
    how: str = ""


_TO_THREAD = _Fact("handoff", "thread", 0, "")


def _thread_callee(node: ast.Call, qualified: str | None) -> ast.expr | None:
    """The function a thread hand-off runs and whose result it gives back:
    ``f`` of ``asyncio.to_thread(f, ...)`` (and the other thread hand-offs that return
    the result) or of ``loop.run_in_executor(executor, f, ...)``."""
    if qualified is not None and CALL_FACTS.get(qualified) is _TO_THREAD:
        return node.args[0] if node.args and not isinstance(node.args[0], ast.Starred) else None
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "run_in_executor" and len(node.args) >= 2:
        return None if isinstance(node.args[1], ast.Starred) else node.args[1]
    return None
_APP = _Fact("app", STARTUP, -1, "")
_ROUTE = _Fact("entry", REQUEST, 1, "endpoint")
# Functions by qualified name.
CALL_FACTS: dict[str, _Fact] = {
    **dict.fromkeys(DEPENDS | SECURITY, _Fact("depends", REQUEST, 0, "dependency")),
    "asyncio.to_thread": _TO_THREAD,
    "starlette.concurrency.run_in_threadpool": _TO_THREAD,
    "fastapi.concurrency.run_in_threadpool": _TO_THREAD,
    "anyio.to_thread.run_sync": _TO_THREAD,
    "trio.to_thread.run_sync": _TO_THREAD,
    "threading.Thread": _Fact("handoff", "thread", 1, "target"),
    "threading.Timer": _Fact("handoff", "thread", 1, "function"),
    "multiprocessing.Process": _Fact("handoff", "thread", 1, "target"),
    "asyncio.create_task": _Fact("handoff", "background", 0, "coro", coroutine=True),
    "asyncio.ensure_future": _Fact("handoff", "background", 0, "coro_or_future", coroutine=True),
    "asyncio.run_coroutine_threadsafe": _Fact("handoff", "background", 0, "coro", coroutine=True),
    "starlette.background.BackgroundTask": _Fact("handoff", "task", 0, "func"),
    **dict.fromkeys(APP_CLASSES | ROUTER_CLASSES, _APP),
    **dict.fromkeys(
        ("starlette.routing.Route", "starlette.routing.WebSocketRoute", "fastapi.routing.APIRoute", "fastapi.routing.APIWebSocketRoute"),
        _ROUTE,
    ),
    "starlette.middleware.Middleware": _Fact("entry", REQUEST, 0, "cls", how="middleware"),
    "asyncio.run": _Fact("script", SCRIPT, 0, "main", coroutine=True),
    "uvloop.run": _Fact("script", SCRIPT, 0, "main", coroutine=True),
    "anyio.run": _Fact("script", SCRIPT, 0, "func"),
    "trio.run": _Fact("script", SCRIPT, 0, ""),
}
# The thread hand-offs that give back what the function returns (see ``_thread_callee``).
_THREAD_CALLS = frozenset(name for name, fact in CALL_FACTS.items() if fact is _TO_THREAD)
# Methods by name, whatever the receiver (its type is rarely known in one file).
METHOD_FACTS: dict[str, _Fact] = {
    "run_in_executor": _Fact("handoff", "thread", 1, "func"),
    "submit": _Fact("handoff", "thread", 0, "fn"),
    "add_task": _Fact("handoff", "task", 0, "func"),
    "create_task": _Fact("handoff", "background", 0, "coro", coroutine=True),
    "start_soon": _Fact("handoff", "background", 0, "func"),
    "call_soon": _Fact("handoff", "background", 0, "callback"),
    "call_soon_threadsafe": _Fact("handoff", "background", 0, "callback"),
    "call_later": _Fact("handoff", "background", 1, "callback"),
    "call_at": _Fact("handoff", "background", 1, "callback"),
    "add_middleware": _Fact("entry", REQUEST, 0, "middleware_class", how="middleware"),
    "add_api_route": _ROUTE,
    "add_api_websocket_route": _ROUTE,
    "add_route": _Fact("entry", REQUEST, 1, "route"),
    "add_websocket_route": _Fact("entry", REQUEST, 1, "route"),
    "add_exception_handler": _Fact("entry", REQUEST, 1, "handler"),
    "add_event_handler": _Fact("entry", STARTUP, 1, "func"),
    "run_until_complete": _Fact("script", SCRIPT, 0, "future", coroutine=True),
}
_APP_KEYWORDS = APP_HOOK_KEYWORDS
_PARTIAL = frozenset(("functools.partial", "partial"))
# Rate-limit libraries whose calls are kept as "call" wiring (``Limiter(default_limits=...)``).
_LIMIT_PACKAGES = frozenset(("slowapi", "fastapi_limiter"))
# Methods that release a client, pool or scheduler: ``x.close()`` is kept as "close" wiring.
_CLOSE_METHODS = frozenset(("close", "aclose", "dispose", "disconnect", "shutdown", "terminate"))

TIMEOUT_WRAPPERS = {"asyncio.wait_for", "async_timeout.wait_for"}
TIMEOUT_SCOPES = {
    "asyncio.timeout",
    "asyncio.timeout_at",
    "async_timeout.timeout",
    "anyio.fail_after",
    "anyio.move_on_after",
}
_ROUTE_METHODS = frozenset(ROUTE_METHODS)
_PROPERTIES = {"property", "cached_property", "functools.cached_property"}
_TYPING_WRAPPERS = {"Optional", "Annotated", "Union", "Final", "ClassVar", "Required", "NotRequired", "Type", "type"}
# Annotations of collections and iterators: a value of theirs holds items of the last
# type argument (``list[User]``, ``Iterator[Session]``, ``dict[str, Handler]``).
_ITEM_TYPES = frozenset(
    "list List Sequence MutableSequence Iterable Iterator Generator AsyncIterable AsyncIterator AsyncGenerator "
    "set Set frozenset FrozenSet AbstractSet MutableSet Collection tuple Tuple deque Deque dict Dict Mapping "
    "MutableMapping DefaultDict defaultdict OrderedDict".split()
)
_ITEMS_FIRST = frozenset("Generator AsyncGenerator tuple Tuple".split())  # the item type comes first
# Annotations that tell nothing about what is called on the value.
_UNTYPED = frozenset(("Callable", "Any", "object", "Awaitable", "Coroutine", "TypeVar"))
# Methods that put their (last) argument into the container they are called on.
_ADDS_ITEM = frozenset(("append", "add", "insert", "appendleft", "setdefault", "update", "extend"))
# A name assigned more than this many different values stays unknown beyond them.
_MAX_OPTIONS = 8
_DEPENDS = DEPENDS | SECURITY


@dataclass(slots=True)
class _Frame:
    """A function (or lambda) being walked."""

    fn: FunctionSummary
    body_start: tuple[int, int]
    locals: dict[str, Ref | None] = field(default_factory=dict)
    nested: dict[str, str] = field(default_factory=dict)
    self_name: str | None = None
    cls_name: str | None = None
    yields: list[Ref] = field(default_factory=list)
    annotated: bool = False  # the return type is annotated
    declared_global: set[str] = field(default_factory=set)  # names of ``global`` statements
    with_names: set[str] = field(default_factory=set)  # names bound by ``with ... as name``
    # ``id()`` of the statements directly in the body: they run one after another, so an
    # assignment there replaces what a name (or a dict's constant key) held.
    straight: frozenset[int] = frozenset()
    # Credential flows (``project.flows``): the fields a validator names, and the open
    # ``try`` bodies (first line, last line, names caught).
    validates: tuple[str, ...] | None = None
    tries: list[tuple[int, int, str]] = field(default_factory=list)
    aliases: dict[str, tuple[str, bool]] = field(default_factory=dict)  # local -> (path, encoded)
    # ``it = gen()``: the call a local was assigned, by name (see ``_handed_values``).
    assigned_calls: dict[str, ast.Call] = field(default_factory=dict)
    # Locals passed to a thread hand-off as the work's arguments (``to_thread(next, it)``):
    # (name, the call assigned to it, the hand-off's text).
    handed: list[tuple[str, ast.Call, str]] = field(default_factory=list)


@dataclass(slots=True)
class _TimeoutBody:
    node_id: int
    kind: str
    frame: _Frame
    call: ast.Call
    targets: list[tuple[Ref, bool, int, int, str]] = field(default_factory=list)


def _text(node: ast.AST, depth: int = 0) -> str:
    """How a callee reads: ``a.b.c``, ``f().g``; ``…`` for anything else."""
    if depth > 8:
        return "…"
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_text(node.value, depth + 1)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_text(node.func, depth + 1)}()"
    return "…"


class SummaryCollector:
    """Visitor that builds one module's summary; read ``summary`` after the walk."""

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self._ascii = context.ascii  # columns need no conversion (``Context.char_col``)
        # ``context.lines`` are the parser's lines, columns and all: an ASCII text without
        # the separators that only ``str.splitlines`` breaks at (see ``_reads``).
        self._plain_lines = context.ascii and not any(c in context.text for c in "\v\f\x1c\x1d\x1e")
        module = context.module or f"<{context.path}>"
        self.module = module
        self.summary = ModuleSummary(
            module=module,
            path=context.path,
            is_package=context.path.replace("\\", "/").endswith("/__init__.py"),
        )
        self._owners: list[str] = [module]  # ids: module, classes, functions
        self._classes: list[ClassSummary | None] = [None]  # parallel to _owners
        self._funcs: list[_Frame] = []
        self._awaited: set[int] = set()
        self._bodies: list[_TimeoutBody] = []
        self._main_blocks: list[tuple[int, int]] = []  # lines of ``if __name__ == "__main__":``
        self._module: _Frame | None = None  # the module's own code, once it calls something
        self._module_body: frozenset[int] = frozenset()  # ``id()`` of the module's statements
        self._expression: ast.Expr | None = None  # the last expression statement entered
        self.work = WorkSites(self)
        # The shared FastAPI model of the module (apps, routes, lifespans, events...), fed
        # from this walk; its facts join the summary when the walk leaves the module.
        self._fastapi = shared_collector(context)  # the rules' FastAPI model too: built once
        # Credential flows are collected only in files that mention passwords or bcrypt.
        self._flows = flows.mentions_credentials(context.text)
        self._models: list[flows.ModelFields | None] = []
        # One ref per module member and per imported name read: the same few recur in
        # every function (refs are immutable values, so sharing one changes nothing).
        self._members: dict[str, Ref] = {}
        self._globals: dict[str, Ref] = {}
        self._types: dict[Ref, Ref] = {}  # ``TypeRef`` by class ref (annotations recur)
        # Module globals by name -> the value their annotation declares (``x: Base | None``).
        self._declared: dict[str, Ref] = {}

    # -- symbolic values -------------------------------------------------------------

    def _member(self, name: str) -> Ref:
        ref = self._members.get(name)
        if ref is None:
            ref = self._members[name] = (self.module, name, MEMBER)
        return ref

    def _global(self, qualified: str) -> Ref:
        ref = self._globals.get(qualified)
        if ref is None:
            ref = self._globals[qualified] = (qualified, GLOBAL)
        return ref

    def _name_ref(self, name: str) -> Ref | None:
        found = self.ctx.lookup(name)
        if found is None:
            return self._member(name)
        depth, target = found
        if target is not None:
            return self._global(target)
        if depth == 0:
            return self._member(name)
        if depth - 1 >= len(self._funcs):
            return None
        frame = self._funcs[depth - 1]
        if name in frame.nested:
            return LocalFunctionRef(frame.nested[name])
        if name == frame.self_name and frame.fn.cls:
            return SelfRef(frame.fn.cls, frame.fn.id)
        if name == frame.cls_name and frame.fn.cls:
            return ClsRef(frame.fn.cls)
        return frame.locals.get(name)

    def ref(self, node: ast.AST, depth: int = 0) -> Ref | None:
        """The symbolic value of an expression, or None when unknown."""
        if depth > 30:
            return None
        kind = type(node)
        if kind is ast.Name:
            return self._name_ref(node.id)  # type: ignore[attr-defined]
        if kind is ast.Attribute:
            assert isinstance(node, ast.Attribute)
            qualified = self.ctx.qualified_name(node)
            if qualified is not None:
                return self._global(qualified)
            base = self.ref(node.value, depth + 1)
            return None if base is None else (base, node.attr, ATTR)
        if kind is ast.Call:
            assert isinstance(node, ast.Call)
            func = node.func
            if type(func) is ast.Name and func.id == "super" and self._funcs:
                cls = self._funcs[-1].fn.cls
                return SuperRef(cls) if cls else None
            qualified = self.ctx.qualified_name(func)
            if node.args and qualified in _PARTIAL:
                return self.ref(node.args[0], depth + 1)  # ``partial(f, x)`` calls ``f``
            handed = (
                _thread_callee(node, qualified)
                if qualified in _THREAD_CALLS or (type(func) is ast.Attribute and func.attr == "run_in_executor")
                else None
            )
            if handed is not None:
                # ``await asyncio.to_thread(f, x)`` is what ``f(x)`` returns (run elsewhere)
                callee = self.ref(handed, depth + 1)
                return None if callee is None else (callee, CALL)
            if qualified is not None and depth < 30:
                return (self._global(qualified), CALL)  # what ``self.ref(func)`` gives
            base = self.ref(func, depth + 1)
            return None if base is None else (base, CALL)
        if kind is ast.Subscript:
            assert isinstance(node, ast.Subscript)
            head = node.value
            if _subscript_name(head) in _TYPING_WRAPPERS:
                return self._type_ref(node, depth + 1)  # ``Annotated[Session, Depends(f)]``: the type
            base = self.ref(head, depth + 1)
            return None if base is None else ItemRef(base, _constant_key(node.slice))
        if kind is ast.List or kind is ast.Tuple or kind is ast.Set:
            return self._seq(node.elts, depth)  # type: ignore[attr-defined]
        if kind is ast.Dict:
            return self._dict(node, depth)  # type: ignore[arg-type]
        if kind is ast.Await:
            return self.ref(node.value, depth + 1)  # type: ignore[attr-defined]
        if kind is ast.BinOp:
            assert isinstance(node, ast.BinOp)
            if isinstance(node.op, ast.BitOr):
                left, right = self.ref(node.left, depth + 1), self.ref(node.right, depth + 1)
                return None if left is None and right is None else OrRef(left, right)
            if isinstance(node.op, ast.Div):
                left = self.ref(node.left, depth + 1)
                return None if left is None else DivRef(left)
            return None
        if kind is ast.Constant:
            return NONE if node.value is None else None  # type: ignore[attr-defined]
        if kind is ast.Lambda:
            return LocalFunctionRef(self._lambda_id(node))  # type: ignore[arg-type]
        if kind is ast.IfExp:
            assert isinstance(node, ast.IfExp)
            return self._first(node.body, node.orelse, depth=depth)
        if kind is ast.BoolOp:
            return self._first(*node.values, depth=depth)  # type: ignore[attr-defined]
        if kind is ast.NamedExpr:
            return self.ref(node.value, depth + 1)  # type: ignore[attr-defined]
        return None

    def _seq(self, nodes: list[ast.expr], depth: int) -> Ref | None:
        """A :class:`SeqRef` of the items whose values are known (None if none is)."""
        items = []
        for item in nodes[:_MAX_OPTIONS]:
            value = self.ref(item, depth + 1)
            if value is not None and value != NONE and value not in items:
                items.append(value)
        return SeqRef(tuple(items)) if items else None

    def _dict(self, node: ast.Dict, depth: int) -> Ref | None:
        """A :class:`SeqRef` of a dict literal's known values, with their constant keys
        (a later key replaces an earlier one, as in the dict)."""
        keyed: dict[str | int | None, Ref] = {}
        loose: list[Ref] = []
        for key_node, value_node in zip(node.keys, node.values):
            value = self.ref(value_node, depth + 1) if len(keyed) + len(loose) < _MAX_OPTIONS else None
            key = _constant_key(key_node) if key_node is not None else None
            if key is not None:
                keyed.pop(key, None)
                if value is not None and value != NONE:
                    keyed[key] = value
            elif value is not None and value != NONE and value not in loose:
                loose.append(value)  # ``**other`` or a computed key
        if not keyed and not loose:
            return None
        if not keyed:
            return SeqRef(tuple(loose))
        return SeqRef((*keyed.values(), *loose), (*keyed, *(None for _ in loose)))

    def _type_ref(self, node: ast.AST, depth: int = 0) -> Ref | None:
        """The class an annotation-like expression names (``Annotated[T, ...]``,
        ``Optional[T]``, ``T``), as a value (the class, not an instance)."""
        if depth > 10:
            return None
        if isinstance(node, ast.Subscript):
            if _subscript_name(node.value) in _TYPING_WRAPPERS:
                inner = node.slice
                elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
                for elt in elts[:1] if _subscript_name(node.value) == "Annotated" else elts:
                    found = self._type_ref(elt, depth + 1)
                    if found is not None:
                        return found
                return None
            return self._type_ref(node.value, depth + 1)  # ``Repo[User]``: the generic class
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.ref(node, depth + 1)
        return None

    def _first(self, *nodes: ast.AST, depth: int) -> Ref | None:
        """Any operand whose value is known (``a or b``, ``a if c else b``: either may be
        the result, as in ``self.f = factory or default_factory``)."""
        return _any(*(self.ref(node, depth + 1) for node in nodes[:_MAX_OPTIONS]))

    def ann_ref(self, node: ast.AST | None, depth: int = 0) -> Ref | None:
        """The value an annotation describes: an instance of the annotated class."""
        if node is None or depth > 10:
            return None
        if type(node) is ast.Name:  # most annotations (``str``, ``Session``): the last branch, first
            name = node.id
            if name in _UNTYPED:
                return None  # a callable parameter stays a parameter the function may call
            base = self._name_ref(name)
            return None if base is None else self._instance(base)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str) and len(node.value) < 200:
                try:
                    return self.ann_ref(ast.parse(node.value, mode="eval").body, depth + 1)
                except SyntaxError:
                    return None
            return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return _any(self.ann_ref(node.left, depth + 1), self.ann_ref(node.right, depth + 1))
        if isinstance(node, ast.Subscript):
            name = _subscript_name(node.value)
            if name in _UNTYPED:
                return None
            inner = node.slice
            elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            if name in _TYPING_WRAPPERS:
                if name == "Annotated":
                    elts = elts[:1]
                if name in ("Type", "type"):  # ``type[Repo]``: the class itself
                    return self._type_ref(elts[0], depth + 1)
                return _any(*(self.ann_ref(elt, depth + 1) for elt in elts))
            if name in _ITEM_TYPES and elts:
                item = self.ann_ref(elts[0] if name in _ITEMS_FIRST else elts[-1], depth + 1)
                return None if item is None else SeqRef((item,))
            base = self._type_ref(node.value, depth + 1)  # ``Repo[User]``: a ``Repo``
            return None if base is None else TypeRef(base)
        if isinstance(node, (ast.Name, ast.Attribute)):
            if _subscript_name(node) in _UNTYPED:
                return None  # a callable parameter stays a parameter the function may call
            base = self.ref(node)
            return None if base is None else self._instance(base)
        return None

    def _instance(self, base: Ref) -> Ref:
        """``TypeRef(base)``, one object per class named in the file (like ``_member``)."""
        ref = self._types.get(base)
        if ref is None:
            ref = self._types[base] = (base, TYPE)
        return ref

    def _lambda_id(self, node: ast.Lambda) -> str:
        return f"{self._owners[-1]}.<lambda@{node.lineno}:{self.ctx.char_col(node.lineno, node.col_offset)}>"

    def _range(self, node: ast.expr) -> tuple[int, int, int, int]:
        """``node``'s line, column, end line and end column, columns in characters."""
        line = node.lineno
        end_line = node.end_lineno or line
        end_col = node.end_col_offset
        if self._ascii:
            col = node.col_offset
            return line, col, end_line, col if end_col is None else end_col
        char_col = self.ctx.char_col
        col = char_col(line, node.col_offset)
        return line, col, end_line, col if end_col is None else char_col(end_line, end_col)

    # -- definitions -----------------------------------------------------------------

    def _enter_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        owner = self._owners[-1]
        cls = self._classes[-1]
        in_class_body = cls is not None and owner == cls.id
        decorators: list[ast.expr] = []
        body_start: ast.AST
        if isinstance(node, ast.Lambda):
            fid, name, body_start = self._lambda_id(node), "<lambda>", node.body
        else:
            fid, name, body_start = f"{owner}.{node.name}", node.name, node.body[0]
            decorators = node.decorator_list
        if fid in self.summary.functions:
            fid = f"{fid}@{node.lineno}"
        args = node.args
        params = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
        fn = FunctionSummary(
            id=fid,
            name=name,
            line=node.lineno,
            col=self.ctx.char_col(node.lineno, node.col_offset),
            is_async=isinstance(node, ast.AsyncFunctionDef),
            params=tuple(params),
            cls=cls.id if in_class_body and cls is not None else (self._funcs[-1].fn.cls if self._funcs else None),
        )
        frame = _Frame(fn, (getattr(body_start, "lineno", 0), getattr(body_start, "col_offset", 0)))
        if not isinstance(node, ast.Lambda):
            frame.straight = frozenset(map(id, node.body))
        deco_refs: list[Ref] = []
        targets: list[Ref | None] = []  # ``ref`` of each decorator's target (read again below)
        for deco in decorators:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if isinstance(deco, ast.Call) and isinstance(target, ast.Attribute) and target.attr in _ROUTE_METHODS:
                fn.route = True
            value = self.ref(target)
            targets.append(value)
            if value is None and isinstance(target, ast.Attribute):
                value = AttrRef(UNKNOWN, target.attr)  # ``@app.get`` on a parameter: the name may tell
            if value is not None:
                deco_refs.append(value)
            if isinstance(target, ast.Name) and target.id in ("staticmethod", "classmethod"):
                fn.method_kind = "static" if target.id == "staticmethod" else "class"
            elif isinstance(target, (ast.Name, ast.Attribute)) and _text(target) in _PROPERTIES:
                fn.method_kind = "property"
        fn.decorators = tuple(deco_refs)
        if not isinstance(node, ast.Lambda):
            self._fastapi.visit(node)
        if self._flows and not isinstance(node, ast.Lambda):
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
                annotation = flows.annotation_name(arg.annotation)
                if annotation is not None and annotation[:1].isupper():
                    fn.flows.append(("param", arg.arg, annotation))
            if in_class_body and self._models and self._models[-1] is not None:
                frame.validates = flows.validated_fields(node)
        if in_class_body and params and fn.method_kind != "static":
            if fn.method_kind == "class":
                frame.cls_name = params[0]
            else:
                frame.self_name = params[0]
        positional = (*args.posonlyargs, *args.args)
        defaults: dict[str, ast.expr] = dict(zip((a.arg for a in positional[len(positional) - len(args.defaults) :]), args.defaults))
        defaults.update((a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None)
        for arg in (*positional, *args.kwonlyargs):
            if arg.arg not in (frame.self_name, frame.cls_name):
                value = self.ann_ref(arg.annotation) if arg.annotation is not None else None
                default = None
                if value is None and arg.arg in defaults:
                    value = self._injected(defaults[arg.arg])
                    if value is None:
                        default = self.ref(defaults[arg.arg])
                if value is None:
                    # Untyped: what the module's own calls of the function pass (``ParamRef``).
                    value = ParamRef(fid, arg.arg, None if default == NONE else default)
                frame.locals[arg.arg] = value
        for extra in (args.vararg, args.kwarg):
            if extra is not None:
                frame.locals[extra.arg] = None
        if not isinstance(node, ast.Lambda) and node.returns is not None:
            fn.returns = self.ann_ref(node.returns)
            frame.annotated = True
        if decorators:
            # Decorating runs the decorator when the enclosing code (module, class body or
            # function) runs the ``def``.
            module_fn = self._funcs[-1].fn if self._funcs else self._module_fn()
            decorated: tuple[tuple[int | str, Ref], ...] = ((0, DefRef(fid)),)
            sites = []
            for deco, ref in zip(reversed(decorators), reversed(targets)):
                # Stacked decorators apply bottom-up: each one is passed what the one
                # below returned (``@a @b def f``: ``a(b(f))``).
                target = deco.func if isinstance(deco, ast.Call) else deco
                if ref is not None:
                    if target is deco:
                        sites.append(CallSite(ref, *self._range(target), _text(target), decorated))
                        decorated = ((0, CallRef(ref)),) if decorated else ()
                    else:
                        sites.append(CallSite(ref, *self._range(target), _text(target)))
                        if ref[-1] == ATTR:
                            decorated = ()  # ``@app.get("/")``: a framework's registration
                        else:
                            # ``@retry(3)``: what the factory returned is applied to the function.
                            sites.append(CallSite(CallRef(ref), *self._range(deco), _text(deco), decorated))
                            decorated = ((0, CallRef(CallRef(ref))),) if decorated else ()
            module_fn.calls.extend(reversed(sites))
        # Register the name where the enclosing code can see it.
        if in_class_body and cls is not None:
            cls.methods.setdefault(name, fid)
        elif self._funcs and not isinstance(node, ast.Lambda):
            self._funcs[-1].nested[name] = fid
        elif owner == self.module and not isinstance(node, ast.Lambda):
            self.summary.toplevel[name] = fid
        self.summary.functions[fid] = fn
        self._funcs.append(frame)
        self._owners.append(fid)
        self._classes.append(cls)
        self.work.enter_function(node, frame)

    def _leave_function(self, node: ast.AST) -> None:
        frame = self._funcs[-1]
        if frame.handed:
            self._handed_locals(frame, node)
        if frame.yields and not frame.annotated:
            frame.fn.returns = SeqRef(tuple(frame.yields))  # a generator: what it yields
        self.work.leave_function(self._funcs[-1])
        if not isinstance(node, ast.Lambda):
            self._fastapi.leave(node)
        self._funcs.pop()
        self._owners.pop()
        self._classes.pop()

    visit_FunctionDef = _enter_function
    visit_AsyncFunctionDef = _enter_function
    visit_Lambda = _enter_function
    leave_FunctionDef = _leave_function
    leave_AsyncFunctionDef = _leave_function
    leave_Lambda = _leave_function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        owner = self._owners[-1]
        cid = f"{owner}.{node.name}"
        # A base that is a parameter (a class made in a function) stays unknown: class
        # hierarchies are resolved once, not per caller.
        bases = tuple(r for r in (self.ref(b) for b in node.bases) if r is not None and r[-1] != PARAM)
        cls = ClassSummary(id=cid, name=node.name, line=node.lineno, bases=bases)
        if self._flows:
            model = flows.model_class(node)
            self._models.append(flows.ModelFields(node.name) if model else None)
        self.summary.classes[cid] = cls
        self._fastapi.visit(node)
        if owner == self.module:
            self.summary.toplevel[node.name] = cid
        elif self._funcs and self._funcs[-1].fn.id == owner:
            self._funcs[-1].nested[node.name] = cid  # a class defined in a function
        elif self._classes[-1] is not None and self._classes[-1].id == owner:
            self._classes[-1].attrs[node.name] = LocalFunctionRef(cid)  # a nested class
        self._owners.append(cid)
        self._classes.append(cls)

    def leave_ClassDef(self, node: ast.ClassDef) -> None:
        self._fastapi.leave(node)
        if self._flows and self._models:
            model = self._models.pop()
            if model is not None:
                for fact in model.fields:
                    checked = fact[2] in model.checked or "*" in model.checked
                    self.summary.secrets.append((*fact, checked))
        self._owners.pop()
        self._classes.pop()

    def _at_module(self) -> bool:
        return self._owners[-1] == self.module

    def visit_Import(self, node: ast.Import) -> None:
        if self._funcs:
            return
        for alias in node.names:
            if alias.asname:
                self.summary.imports[alias.asname] = alias.name
            else:
                top = alias.name.split(".", 1)[0]
                self.summary.imports[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if self._funcs:
            return
        base = self.ctx.resolve_relative(node.module, node.level)
        if base is None:
            return
        for alias in node.names:
            if alias.name == "*":
                self.summary.star_imports.append(base)
            else:
                self.summary.imports[alias.asname or alias.name] = f"{base}.{alias.name}"

    # -- assignments: variable, attribute and global types -------------------------------

    def _straight(self, node: ast.stmt) -> bool:
        """Whether ``node`` is directly in the body of the current function or module (not
        in a branch, loop, ``try`` or ``with``, nor in a class body)."""
        if self._funcs:
            return id(node) in self._funcs[-1].straight
        return self._at_module() and id(node) in self._module_body

    def _reads(self, value: ast.expr, targets: list[ast.expr]) -> bool:
        """Whether ``value`` reads a name that one of ``targets`` assigns."""
        names = {t.id for t in targets if type(t) is ast.Name}
        if not names:
            return False
        if self._plain_lines:
            # A name the value's text does not contain is not read there (most values).
            lines = self.ctx.lines
            first, last = value.lineno, value.end_lineno or value.lineno
            if first == last:
                text = lines[first - 1][value.col_offset : value.end_col_offset]
            else:
                text = "\n".join(lines[first - 1 : last])[value.col_offset :]
            if not any(name in text for name in names):
                return False
        return any(type(n) is ast.Name and n.id in names for n in subnodes(value))

    def _assign(self, target: ast.AST, value: Ref | None, strong: bool = False, replace: bool = False) -> None:
        """``target = value``; ``strong``: the assignment runs unconditionally after what
        came before, so a local name (not an attribute, which other methods assign too) or
        a constant key holds only the new value from here on."""
        if value is None:
            return
        if isinstance(target, ast.Name):
            table: dict[str, Ref | None] | dict[str, Ref]
            if self._funcs:
                table = self._funcs[-1].locals
            elif self._at_module():
                table = self.summary.globals
            else:
                cls = self._classes[-1]
                if cls is None:
                    return
                table = cls.attrs
            # Only a function's locals: a module-level name is read where it is used, as it
            # is at the end of the module, which may be before a later assignment.
            replace = replace or (strong and value != NONE and bool(self._funcs))
            table[target.id] = value if replace else _merge(table.get(target.id), value)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and self._funcs:
            frame = self._funcs[-1]
            if target.value.id == frame.self_name and frame.fn.cls:
                cls_summary = self._classes[-1]
                if cls_summary is not None:
                    cls_summary.attrs[target.attr] = _merge(cls_summary.attrs.get(target.attr), value)
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            # ``handlers[key] = fn``: the container holds ``fn`` too (instead of what the
            # key held, for a constant key assigned unconditionally).
            self._add_item(target.value, value, _constant_key(target.slice), strong)
        elif isinstance(target, (ast.Tuple, ast.List)):
            # ``a, b = f, g`` pairs them up; ``a, b = pair()`` gives each an item of the value.
            items = value[0] if value[-1] == SEQ and len(value[0]) == len(target.elts) else None
            for index, elt in enumerate(target.elts):
                if not isinstance(elt, ast.Starred):
                    self._assign(elt, items[index] if items is not None else ItemRef(value))

    def _add_item(self, container: ast.Name, item: Ref | None, key: str | int | None = None, strong: bool = False) -> None:
        """``container`` holds ``item`` too (``d[k] = f``, ``items.append(f)``); at ``key``
        instead of what it held there when ``strong``."""
        if item is None or item == NONE:
            return
        if self._funcs and container.id in self._funcs[-1].fn.params:
            return  # a parameter: its value comes from the callers
        held = self.ref(container)
        if held is not None and held[-1] == MEMBER and not self._funcs and self._at_module():
            held = self.summary.globals.get(container.id, held)  # the module's own container
        if held is not None and held[-1] == SEQ:
            items, keys = list(held[0]), list(held[1] or (None,) * len(held[0]))
            if key is not None and key in keys:
                at = keys.index(key)
                if strong:
                    items[at] = item
                elif item not in items and len(items) < _MAX_OPTIONS:
                    items.append(item)
                    keys.append(key)
            elif item not in items and len(items) < _MAX_OPTIONS:
                items.append(item)
                keys.append(key)
            # A superset of what the container held: it replaces the old value.
            known = tuple(keys) if any(k is not None for k in keys) else ()
            self._assign(container, SeqRef(tuple(items), known), replace=True)
        elif held is None or held[-1] == MEMBER or held[-1] == ANY:
            self._assign(container, SeqRef((item,), () if key is None else (key,)))

    def visit_Raise(self, node: ast.Raise) -> None:
        """``raise Error``: raising a class makes an instance of it."""
        exc = node.exc
        if isinstance(exc, (ast.Name, ast.Attribute)):
            callee = self.ref(exc)
            frame = self._funcs[-1] if self._funcs else self._module_frame()
            if callee is not None:
                frame.fn.calls.append(CallSite(callee, *self._range(exc), _text(exc)))

    def visit_Assign(self, node: ast.Assign) -> None:
        self._fastapi.visit(node)
        if self._flows:
            if self._at_module() and flows.bcrypt_context(node.value):
                self.summary.secrets.extend(("bcrypt", t.id) for t in node.targets if isinstance(t, ast.Name))
            elif self._funcs and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                frame = self._funcs[-1]
                path = flows.source_path(node.value, frame.fn.params, frame.aliases)
                if path is not None:
                    frame.aliases[node.targets[0].id] = (path, flows.encoded(node.value, frame.aliases))
        value_node = node.value
        if isinstance(value_node, (ast.Tuple, ast.List)) and any(isinstance(t, (ast.Tuple, ast.List)) for t in node.targets):
            # ``a, b = f, g``: item by item, so each name gets its own value.
            refs = [self.ref(elt) for elt in value_node.elts]
            for target in node.targets:
                if isinstance(target, (ast.Tuple, ast.List)) and len(target.elts) == len(refs):
                    for elt, ref in zip(target.elts, refs):
                        if not isinstance(elt, ast.Starred):
                            self._assign(elt, ref)
            return
        if self._funcs and type(value_node) is ast.Call and len(node.targets) == 1 and type(node.targets[0]) is ast.Name:
            self._funcs[-1].assigned_calls[node.targets[0].id] = value_node
        value = self.ref(value_node)
        # ``x = f(x)`` keeps what ``x`` held too: the old value often tells the new one's
        # type where the call's result is not known (``df = df.loc[rows]``). Only a
        # function's locals and subscripts read ``strong`` (``_assign``): a module-level
        # name does not, nor does an unknown value.
        strong = (
            value is not None
            and (bool(self._funcs) or any(type(t) is ast.Subscript for t in node.targets))
            and self._straight(node)
            and not self._reads(value_node, node.targets)
        )
        for target in node.targets:
            self._assign(target, value, strong)
            self._store(target, value, node.value)
        if self._funcs:
            frame = self._funcs[-1]
            self.work.assign(node.targets, node.value, frame)
            for target in node.targets:
                if isinstance(target, ast.Subscript):
                    self.work.subscript_assign(target, node.value, frame)
        else:
            cls = self._classes[-1]
            self.work.outside_function(node.targets, node.value, cls.id if cls is not None else "")

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._fastapi.visit(node)
        if self._flows and self._models and self._models[-1] is not None and not self._funcs:
            model = self._models[-1]
            target = node.target
            fact = flows.field_fact(
                model.name,
                node,
                self.ctx.char_col(target.lineno, target.col_offset),
                self.ctx.char_col(target.lineno, target.end_col_offset or target.col_offset),
            )
            if fact is not None:
                model.fields.append(fact)
        value = self.ann_ref(node.annotation)
        if value is not None and not self._funcs and type(node.target) is ast.Name and self._at_module():
            self._declared[node.target.id] = value
        if value is None and node.value is not None:
            value = self.ref(node.value)
        self._assign(node.target, value)
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            value = self.ref(node.value) or value  # what is stored, not what it is declared as
        self._store(node.target, value, node.value)
        if self._funcs:
            self.work.assign([node.target], node.value, self._funcs[-1])
        else:
            cls = self._classes[-1]
            self.work.outside_function([node.target], node.value, cls.id if cls is not None else "")

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if self._funcs:
            self.work.aug_assign(node, self._funcs[-1])

    def visit_Expr(self, node: ast.Expr) -> None:
        self._expression = node
        self.work.expr_statement(node)

    def visit_While(self, node: ast.While) -> None:
        if self._funcs:
            self.work.while_loop(node, self._funcs[-1])

    def visit_Global(self, node: ast.Global) -> None:
        if self._funcs:
            frame = self._funcs[-1]
            frame.declared_global.update(node.names)
            # A global the module annotates may hold what any code assigned it (a value
            # this file does not know, ``_layer = config.factory()``): where the function
            # reads it, it is what the annotation declares, or what the function itself
            # assigned (which replaces it only where it surely ran).
            for name in node.names:
                declared = self._declared.get(name)
                if declared is not None:
                    frame.locals[name] = _merge(frame.locals.get(name), declared)

    # -- application wiring: stores, apps, shutdown handlers, routes ----------------------

    def _wire(
        self,
        kind: str,
        name: str,
        at: ast.expr,
        *,
        receiver: ast.expr | None = None,
        target: Ref | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        """Record a :class:`Wiring`; a ``receiver`` that is a local variable is named by
        ``<function id>.<name>`` (its value tells the type, not which object it is)."""
        receiver_ref: Ref | None = None
        if receiver is not None:
            local = self._local_name(receiver)
            if local:
                name = name or local
            else:
                receiver_ref = self.ref(receiver)
        function = self._funcs[-1].fn.id if self._funcs else ""
        line, col = at.lineno, self.ctx.char_col(at.lineno, at.col_offset)
        self.summary.wiring.append(Wiring(kind, name, line, col, function, receiver_ref, target, flags))

    def _local_name(self, node: ast.expr) -> str:
        """``<function id>.<name>`` for a local variable of the current function, else ""."""
        if not isinstance(node, ast.Name) or not self._funcs:
            return ""
        frame = self._funcs[-1]
        if node.id in frame.declared_global or node.id not in frame.locals:
            return ""
        return f"{frame.fn.id}.{node.id}"

    def _store(self, target: ast.expr, value: Ref | None, node: ast.expr | None) -> None:
        """A "store" :class:`Wiring` for a value kept past the function that made it."""
        if value is None or value == NONE:
            return
        frame = self._funcs[-1] if self._funcs else None
        owned: tuple[str, ...] = ("owned",) if frame is not None and isinstance(node, ast.Name) and node.id in frame.with_names else ()
        if isinstance(target, ast.Name):
            if frame is None and self._at_module():
                self._wire("store", f"{self.module}.{target.id}", target, target=value)
            elif frame is not None and target.id in frame.declared_global:
                self._wire("store", f"{self.module}.{target.id}", target, target=value, flags=owned)
        elif isinstance(target, ast.Attribute):
            base = target.value
            if isinstance(base, ast.Attribute) and base.attr == "state":
                self._wire("store", f"state.{target.attr}", target, target=value, flags=owned)
            elif frame is not None and isinstance(base, ast.Name) and base.id == frame.self_name and frame.fn.cls:
                self._wire("store", f"{frame.fn.cls}.{target.attr}", target, target=value, flags=("attr", *owned))

    def _call_wiring(self, node: ast.Call, qualified: str | None) -> None:
        """Wiring written as a call: a client released (``x.close()``), and calls of
        rate-limit libraries (whose keywords matter). Apps, routes and events are the
        shared FastAPI model's (``semantics.fastapi``)."""
        func = node.func
        if type(func) is ast.Attribute and func.attr in _CLOSE_METHODS:
            self._close(func, node, ())
        for arg in node.args:
            if type(arg) is ast.Attribute and arg.attr in _CLOSE_METHODS:
                # ``stack.push_async_callback(client.aclose)``, ``atexit.register(engine.dispose)``
                self._close(arg, arg, ("ref",))
        for keyword in node.keywords:
            arg = keyword.value
            if type(arg) is ast.Attribute and arg.attr in _CLOSE_METHODS:
                self._close(arg, arg, ("ref",))
        if qualified is not None and qualified.partition(".")[0] in _LIMIT_PACKAGES:
            keywords = tuple(k.arg for k in node.keywords if k.arg and not _empty(k.value))
            self._wire("call", qualified, node, flags=keywords)

    def _close(self, method: ast.Attribute, at: ast.expr, flags: tuple[str, ...]) -> None:
        owner = method.value
        if isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Attribute) and owner.value.attr == "state":
            self._wire("close", f"state.{owner.attr}", at, flags=(method.attr, *flags))
        else:
            self._wire("close", "", at, receiver=owner, target=self.ref(owner), flags=(method.attr, *flags))

    def _iterate(self, node: ast.For | ast.AsyncFor) -> None:
        """``for item in things``: ``item`` is an item of ``things``."""
        things = self.ref(node.iter)
        if things is not None:
            self._assign(node.target, ItemRef(things))
            if things[-1] in _ITERABLE_TAGS:
                # ``for x in obj`` calls ``obj.__iter__()`` and the iterator's ``__next__``.
                frame = self._funcs[-1] if self._funcs else self._module_frame()
                iterator = AttrRef(things, "__aiter__" if isinstance(node, ast.AsyncFor) else "__iter__")
                where = self._range(node.iter)
                text = _text(node.iter)
                frame.fn.calls.append(CallSite(iterator, *where, f"for … in {text}"))
                step = "__anext__" if isinstance(node, ast.AsyncFor) else "__next__"
                frame.fn.calls.append(CallSite(AttrRef(CallRef(iterator), step), *where, f"for … in {text}"))

    def visit_For(self, node: ast.For) -> None:
        self._iterate(node)
        if self._funcs:
            self.work.for_loop(node)

    def visit_Yield(self, node: ast.Yield) -> None:
        if self._funcs and not self._funcs[-1].fn.yield_line:
            self._funcs[-1].fn.yield_line = node.lineno
        if self._funcs and node.value is not None:
            frame = self._funcs[-1]
            value = self.ref(node.value)
            if value is not None and value != NONE and value not in frame.yields and len(frame.yields) < _MAX_OPTIONS:
                frame.yields.append(value)

    def visit_Return(self, node: ast.Return) -> None:
        self._fastapi.visit(node)
        if self._funcs and node.value is not None:
            self.work.returns(node.value, self._funcs[-1])
        if self._funcs and node.value is not None:
            fn = self._funcs[-1].fn
            if fn.returns is None or _parameters_only(fn.returns):
                # The first return whose value is known; returning a parameter (``return
                # func`` in a decorator that may be disabled) also keeps the next one.
                value = self.ref(node.value)
                if value is not None and value != NONE:
                    fn.returns = value if fn.returns is None else _any(fn.returns, value)

    # -- suspension points and timeouts ------------------------------------------------

    def visit_Await(self, node: ast.Await) -> None:
        if self._funcs:
            self._funcs[-1].fn.awaits += 1
        if isinstance(node.value, ast.Call):
            self._awaited.add(id(node.value))

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        if self._funcs:
            self._funcs[-1].fn.awaits += 1
        self._iterate(node)

    def _open_timeout_scopes(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            expr = item.context_expr
            if isinstance(expr, ast.Call) and self._funcs:
                kind = self.ctx.qualified_name(expr.func)
                if kind in TIMEOUT_SCOPES:
                    self._bodies.append(_TimeoutBody(id(node), kind, self._funcs[-1], expr))
            if isinstance(item.optional_vars, ast.Name):
                entered = self.ref(expr)
                self._assign(item.optional_vars, None if entered is None else EnterRef(entered))
                if self._funcs:
                    self._funcs[-1].with_names.add(item.optional_vars.id)

    def _close_timeout_scopes(self, node: ast.With | ast.AsyncWith) -> None:
        while self._bodies and self._bodies[-1].node_id == id(node):
            body = self._bodies.pop()
            self.summary.timeouts.append(
                TimeoutSite(body.kind, body.frame.fn.id, *self._range(body.call), tuple(body.targets))
            )

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        if self._funcs:
            self._funcs[-1].fn.awaits += 1
            self.work.open_group(node, self._funcs[-1])
        self._open_timeout_scopes(node)

    def leave_AsyncWith(self, node: ast.AsyncWith) -> None:
        self._close_timeout_scopes(node)
        if self._funcs:
            self.work.close_group(node, self._funcs[-1])

    visit_With = _open_timeout_scopes
    leave_With = _close_timeout_scopes

    # -- calls -------------------------------------------------------------------------

    def leave_Module(self, node: ast.Module) -> None:
        self._expression = None  # hold no node of the tree past its walk
        facts = self._fastapi.facts()
        self.summary.fastapi = facts if facts or facts.lifespans else None
        if facts.error_handlers:
            self.summary.error_handlers.extend(("handler", *handler) for handler in facts.error_handlers)
        self.summary.error_handlers.extend(("middleware", m.target) for m in facts.middleware)

    def visit_Module(self, node: ast.Module) -> None:
        """Note where ``if __name__ == "__main__":`` blocks are: what they call runs as a script."""
        self._module_body = frozenset(map(id, node.body))
        for stmt in node.body:
            if isinstance(stmt, ast.If) and _is_main_guard(stmt.test):
                self._main_blocks.append((stmt.lineno, stmt.end_lineno or stmt.lineno))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        kind = type(func)
        qualified = self.ctx.qualified_name(func) if kind is ast.Name or kind is ast.Attribute else None
        fact = CALL_FACTS.get(qualified) if qualified is not None else None
        if fact is None and kind is ast.Attribute:
            fact = METHOD_FACTS.get(func.attr)  # type: ignore[attr-defined]
        if kind is ast.Attribute and func.attr in _ADDS_ITEM and isinstance(func.value, ast.Name) and node.args:  # type: ignore[attr-defined]
            added = self.ref(node.args[-1] if func.attr != "update" else node.args[0])  # type: ignore[attr-defined]
            if added is not None and added[-1] == SEQ and func.attr in ("update", "extend"):  # type: ignore[attr-defined]
                # ``d.update({"k": f})`` as a statement of its own replaces what ``k`` held.
                statement = self._expression
                strong = statement is not None and statement.value is node and self._straight(statement)
                for item, key in zip(added[0], added[1] or (None,) * len(added[0])):
                    self._add_item(func.value, item, key, strong)  # type: ignore[attr-defined]
            else:
                self._add_item(func.value, added)  # type: ignore[attr-defined]
        self._fastapi.visit(node)
        if kind is ast.Attribute or qualified is not None:
            self._call_wiring(node, qualified)
        if not self._funcs:
            self._module_call(node, fact)
            if self._classes[-1] is None:
                self.work.module_call(node, qualified)
            frame = self._module_frame()
        else:
            frame = self._funcs[-1]
            if fact is not None and fact.what == "depends":
                self._callable_entry(node, fact)  # in a signature too: before the body check
                return
            if (node.lineno, node.col_offset) < frame.body_start:
                return  # a decorator, default or annotation: not run by calling the function
            if self._flows:
                self._call_flows(frame, node)
            self.work.call(node, frame, qualified)
            if fact is not None:
                self._fact(frame, node, fact)
        if qualified is not None and qualified in TIMEOUT_WRAPPERS and node.args and isinstance(node.args[0], ast.Call):
            inner = node.args[0]
            self._awaited.add(id(inner))  # ``wait_for(x.commit(), 1)`` awaits what the call returns
            target = self.ref(inner.func)
            if target is not None:
                self.summary.timeouts.append(
                    TimeoutSite(
                        qualified,
                        frame.fn.id,
                        *self._range(node),
                        ((target, True, inner.lineno, self.ctx.char_col(inner.lineno, inner.col_offset), _text(inner.func)),),
                    )
                )
        callee: Ref | None = None
        if kind is ast.Name and _own_param(frame, func.id):  # type: ignore[attr-defined]
            frame.fn.param_calls.append((func.id, node.lineno, self.ctx.char_col(node.lineno, node.col_offset)))  # type: ignore[attr-defined]
            # A call of the parameter: the callers' arguments and its default (``def
            # run(fetch=requests.get)``) are what may run (the graph draws the edge from
            # each caller that passes one; see ``ProjectModel._build_graph``).
            callee = frame.locals[func.id]  # type: ignore[attr-defined]
        if not callee:
            # A qualified name is what ``ref`` gives a name or attribute that has one (the
            # innermost binding of the name is an import): no second scope search; without
            # one, an attribute is ``ref``'s answer from its base (the qualified name is
            # known to be None: not asked again), anything else ``ref``'s own.
            if qualified is not None:
                callee = self._global(qualified)
            elif kind is ast.Attribute:
                base = self.ref(func.value, 1)  # type: ignore[attr-defined]
                callee = None if base is None else (base, func.attr, ATTR)  # type: ignore[attr-defined]
            else:
                callee = self.ref(func)
            if callee is None:
                return
        fn_args: list[tuple[int | str, Ref]] = []
        other_args: list[tuple[int | str, Ref]] = []
        # Arguments bind parameters of a function of this module only through calls that
        # may reach one: not through an import or a builtin.
        callee_kind = callee[-1]
        local = callee_kind != GLOBAL and not (
            callee_kind == MEMBER and callee[1] in _BUILTIN_NAMES and callee[1] not in self.summary.toplevel
        )
        keyed: list[tuple[int | str, ast.expr]] = []
        for index, positional in enumerate(node.args):
            if type(positional) is ast.Starred:
                break  # the positions of what follows are not known
            keyed.append((index, positional))
        for keyword in node.keywords:
            if keyword.arg:
                keyed.append((keyword.arg, keyword.value))
        for key, arg in keyed:
            value = None
            arg_kind = type(arg)
            if arg_kind in _CALLABLE_ARGS:
                if arg_kind is not ast.Call:
                    value = self.ref(arg)
                elif local:
                    value = self._callable_ref(arg)
                else:
                    # Of a call, only ``partial(f, ...)`` is a callable (``ref`` gives
                    # the result of any other), and a call of an import or a builtin
                    # keeps no other argument.
                    value = self._partial_ref(arg)  # type: ignore[arg-type]
                    if value is None:
                        continue
                if value is not None and value[-1] in _CALLABLE_TAGS:
                    fn_args.append((key, value))
                    continue
                if arg_kind is ast.Name and _own_param(frame, arg.id):  # type: ignore[attr-defined]
                    # A parameter passed on: the callee may call it (``helper(fn)`` -> ``run(fn)``).
                    frame.fn.param_forwards.append((arg.id, len(frame.fn.calls), key))  # type: ignore[attr-defined]
            elif local:
                value = self.ref(arg)
            if local and value is not None and value != NONE and len(other_args) < _MAX_OPTIONS:
                other_args.append((key, value))
        text = _text(func)
        line, col, end_line, end_col = self._range(node)
        awaited = id(node) in self._awaited
        frame.fn.calls.append(
            CallSite(callee, line, col, end_line, end_col, text, tuple(fn_args), awaited, tuple(other_args))
        )
        if self._bodies and self._bodies[-1].frame is frame and node is not self._bodies[-1].call:
            self._bodies[-1].targets.append((callee, awaited, line, col, text))

    def _module_frame(self) -> _Frame:
        """The frame of the module's own code (a function named ``<module>``)."""
        if self._module is None:
            fid = f"{self.module}.<module>"
            fn = self.summary.functions.get(fid)  # the work-site collector may have made it
            if fn is None:
                fn = self.summary.functions[fid] = FunctionSummary(id=fid, name="<module>", line=0, col=0, is_async=False)
            self._module = _Frame(fn, (0, 0))
        return self._module

    def _module_fn(self) -> FunctionSummary:
        return self._module_frame().fn

    def _injected(self, default: ast.expr) -> Ref | None:
        """The value of a parameter whose default is ``Depends(f)``: what ``f`` returns or yields."""
        if isinstance(default, ast.Call) and default.args and self.ctx.qualified_name(default.func) in _DEPENDS:
            dependency = self._callable_ref(default.args[0])
            if dependency is not None:
                return EnterRef(CallRef(dependency))
        return None
    # -- credential flows (``project.flows``) ------------------------------------------

    def _call_flows(self, frame: _Frame, node: ast.Call) -> None:
        params = set(frame.fn.params)
        line, col = node.lineno, self.ctx.char_col(node.lineno, node.col_offset)
        keyed: list[tuple[int | str, ast.expr]] = [*enumerate(node.args), *((k.arg, k.value) for k in node.keywords if k.arg)]
        for key, arg in keyed:
            path = flows.source_path(arg, params, frame.aliases)
            if path is not None:
                frame.fn.flows.append(("arg", line, col, key, path))
        caught = [names for first, last, names in frame.tries if first <= node.lineno <= last]
        if caught:
            frame.fn.flows.append(("caught", line, col, ",".join(caught)))

    def visit_Try(self, node: ast.Try) -> None:
        if self._flows and self._funcs and node.body:
            last = node.body[-1].end_lineno or node.body[-1].lineno
            self._funcs[-1].tries.append((node.body[0].lineno, last, flows.caught_names(node.handlers)))

    def visit_If(self, node: ast.If) -> None:
        if self._funcs:
            self.work.if_statement(node, self._funcs[-1], 1 << 30)
        if self._flows and self._funcs:
            aliases = self._funcs[-1].aliases
            for sub in ast.walk(node.test):
                measured = flows.byte_bound(sub, aliases) if isinstance(sub, ast.Compare) else None
                if measured is not None:
                    self._bounded(measured, flows.rejection(node.body))

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self._flows and self._funcs:
            measured = flows.truncated(node, self._funcs[-1].aliases)
            if measured is not None:
                self._bounded(measured, "truncate")

    def _bounded(self, measured: ast.expr, how: str) -> None:
        """``measured`` (an encoded value) is bounded to 72 bytes in the current function."""
        frame = self._funcs[-1]
        path = flows.source_path(measured, frame.fn.params, frame.aliases)
        if path is None:
            return
        frame.fn.flows.append(("bytes", path, how))
        model = self._models[-1] if self._models else None
        if frame.validates is not None and model is not None:
            root, _, attr = path.partition(".")
            if "*" in frame.validates:
                model.checked.add(attr or "*")
            elif not attr:
                model.checked.update(frame.validates)

    # -- where code runs: handoffs and entry points -------------------------------------

    def _fact(self, frame: _Frame | None, node: ast.Call, fact: _Fact) -> None:
        """Record what a call of a known function means; ``frame`` is None at module level."""
        what = fact.what
        if what == "handoff":
            if frame is None:
                if fact.kind == "thread":  # threading.Thread(target=work) at import time
                    self._callable_entry(node, fact, context="thread")
                return
            arg = _argument(node, fact)
            if arg is None:
                return
            if fact.coroutine:
                if isinstance(arg, ast.Call):
                    target = self.ref(arg.func)
                    if target is not None:
                        handoff = Handoff(fact.kind, target, arg.lineno, self.ctx.char_col(arg.lineno, arg.col_offset), True, _text(node.func))
                        frame.fn.handoffs.append(handoff)
                return
            target = self._callable_ref(arg)
            if target is not None:
                frame.fn.handoffs.append(
                    Handoff(fact.kind, target, node.lineno, self.ctx.char_col(node.lineno, node.col_offset), False, _text(node.func))
                )
            if fact.kind == "thread":
                self._handed_values(frame, node, fact)
        elif what == "entry" or what == "depends":
            self._callable_entry(node, fact)
        elif what == "app":
            for keyword in node.keywords:
                if keyword.arg in _APP_KEYWORDS:
                    value = keyword.value
                    for item in value.elts if isinstance(value, (ast.List, ast.Tuple)) else (value,):
                        target = self._callable_ref(item)
                        if target is not None:
                            self.summary.entries.append(EntrySite(STARTUP, target, item.lineno, self.ctx.char_col(item.lineno, item.col_offset)))
        elif what == "script" and frame is None and not self._in_main_block(node):
            # asyncio.run(main()) in a script; inside a function it is a call of ``main``.
            self._callable_entry(node, fact)

    def _module_call(self, node: ast.Call, fact: _Fact | None) -> None:
        if fact is not None:
            self._fact(None, node, fact)
        elif self._main_blocks and self._in_main_block(node):
            target = self.ref(node.func)
            if target is not None:
                self.summary.entries.append(EntrySite(SCRIPT, target, node.lineno, self.ctx.char_col(node.lineno, node.col_offset)))

    def _in_main_block(self, node: ast.AST) -> bool:
        line = node.lineno  # type: ignore[attr-defined]
        return any(first <= line <= last for first, last in self._main_blocks)

    def _handed_values(self, frame: _Frame, node: ast.Call, fact: _Fact) -> None:
        """The work's arguments of a thread hand-off: ``to_thread(list, rows())`` or
        ``it = rows(); to_thread(next, it)``. A generator function's body runs where its
        generator is iterated, not where it is called, so a generator made only to be
        handed over runs in the thread: each such call is recorded as a "called" hand-off
        (the model draws a thread edge for it when the function is a generator, and the
        plain call edge otherwise, since any other function runs when called). A local
        counts only when the function assigns it once and reads it nowhere else, nested
        functions included (checked when the function ends, ``_handed_locals``)."""
        text = _text(node.func)
        extra = [a for a in node.args[fact.position + 1 :]] + [k.value for k in node.keywords if k.arg]
        for arg in extra:
            kind = type(arg)
            if kind is ast.Call:
                assert isinstance(arg, ast.Call)
                target = self.ref(arg.func)
                if target is not None:
                    line = arg.lineno
                    frame.fn.handoffs.append(Handoff("thread", target, line, self.ctx.char_col(line, arg.col_offset), True, text))
            elif kind is ast.Name:
                assert isinstance(arg, ast.Name)
                # The local, or a closure's variable: the innermost function that assigned
                # it a call (one that assigns it otherwise stores it twice in the walk).
                for owner in reversed(self._funcs):
                    call = owner.assigned_calls.get(arg.id)
                    if call is not None:
                        owner.handed.append((arg.id, call, text))
                        break

    def _handed_locals(self, frame: _Frame, node: ast.AST) -> None:
        """Hand-offs for the locals in ``frame.handed`` that the function assigns once and
        reads only as a thread hand-off's argument (a generator also iterated on the loop,
        ``for x in it``, runs there)."""
        names = {name for name, _, _ in frame.handed}
        loads: dict[str, int] = dict.fromkeys(names, 0)
        stores: dict[str, int] = dict.fromkeys(names, 0)
        for child in ast.walk(node):
            if type(child) is ast.Name and child.id in names:
                counts = loads if type(child.ctx) is ast.Load else stores
                counts[child.id] += 1
            elif type(child) in (ast.Global, ast.Nonlocal):
                stores.update((n, 2) for n in child.names if n in names)  # type: ignore[attr-defined]
        handed = {name: sum(1 for n, _, _ in frame.handed if n == name) for name in names}
        seen: set[int] = set()
        for name, call, text in frame.handed:
            if stores[name] != 1 or loads[name] != handed[name] or id(call) in seen:
                continue
            seen.add(id(call))
            target = self.ref(call.func)
            if target is not None:
                line = call.lineno
                frame.fn.handoffs.append(Handoff("thread", target, line, self.ctx.char_col(line, call.col_offset), True, text))

    def _callable_entry(self, node: ast.Call, fact: _Fact, context: str = "") -> None:
        """An :class:`EntrySite` for the callable ``fact`` names in ``node``'s arguments."""
        arg = _argument(node, fact)
        if arg is None:
            return
        if fact.coroutine:
            if not isinstance(arg, ast.Call):
                return
            arg = arg.func
        target = self._callable_ref(arg)
        if target is not None:
            self.summary.entries.append(
                EntrySite(context or fact.kind, target, arg.lineno, self.ctx.char_col(arg.lineno, arg.col_offset), fact.how)
            )

    def _partial_ref(self, node: ast.Call) -> Ref | None:
        """``f`` of ``functools.partial(f, ...)``, else None."""
        if node.args and type(node.func) in _NAMED and self.ctx.qualified_name(node.func) in _PARTIAL:
            return self.ref(node.args[0])
        return None

    def _callable_ref(self, node: ast.expr) -> Ref | None:
        """The ref of a callable argument; ``functools.partial(f, ...)`` is ``f``."""
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, (ast.Name, ast.Attribute)):
            if self.ctx.qualified_name(node.func) in _PARTIAL:
                return self.ref(node.args[0])
        return self.ref(node)




def _parameters_only(ref: Ref) -> bool:
    """Whether ``ref`` is an unannotated parameter (or any of several)."""
    if ref[-1] == PARAM:
        return True
    return ref[-1] == ANY and all(option[-1] == PARAM for option in ref[0])


def _constant_key(node: ast.expr) -> str | int | None:
    """A subscript's or dict key's value when it is a str or int constant (not a bool)."""
    if isinstance(node, ast.Constant):
        value = node.value
        if type(value) is str or type(value) is int:
            return value
    return None


def _own_param(frame: _Frame, name: str) -> bool:
    """Whether ``name`` is a parameter of ``frame``'s function that holds only what callers pass."""
    value = frame.locals.get(name)
    return value is not None and value[-1] == PARAM and value[1] == name and value[0] == frame.fn.id


def _subscript_name(head: ast.expr) -> str:
    """The last name of a subscripted expression's head: ``Optional``, ``typing.List``."""
    if isinstance(head, ast.Attribute):
        return head.attr
    return head.id if isinstance(head, ast.Name) else ""


def _any(*options: Ref | None) -> Ref | None:
    """One ref for any of ``options`` (None and ``None`` dropped)."""
    found: list[Ref] = []
    for option in options:
        for ref in option[0] if option is not None and option[-1] == ANY else (option,):
            if ref is not None and ref != NONE and ref not in found:
                found.append(ref)
    if not found:
        return None
    return found[0] if len(found) == 1 else AnyRef(tuple(found[:_MAX_OPTIONS]))


def _merge(old: Ref | None, new: Ref) -> Ref:
    """What a name holds after another assignment: either value (``None`` is dropped)."""
    if old is None or old == NONE or old == new:
        return new
    if new == NONE:
        return old
    merged = _any(old, new)
    return new if merged is None else merged


def _argument(node: ast.Call, fact: _Fact) -> ast.expr | None:
    """The argument of ``node`` at ``fact.position`` or named ``fact.keyword``."""
    if fact.keyword:
        for keyword in node.keywords:
            if keyword.arg == fact.keyword:
                return keyword.value
    args = node.args
    position = fact.position
    if 0 <= position < len(args) and not isinstance(args[position], ast.Starred):
        return args[position]
    return None


def _empty(node: ast.expr) -> bool:
    """``[]``, ``()``, ``None``, ``""``: a keyword given nothing."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return not node.elts
    return isinstance(node, ast.Constant) and not node.value


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = (test.left, test.comparators[0])
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )
