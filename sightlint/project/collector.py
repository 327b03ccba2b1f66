"""Collect a :class:`ModuleSummary` during the engine's one walk of a file.

The collector is handed to :func:`sightlint.engine.check_source` next to the rules; the
engine keeps the :class:`~sightlint.semantics.scope.Context` (scopes, imports) current, and the
collector turns what it sees into symbolic :data:`Ref` values (see ``summary.py``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from sightlint.project.contexts import REQUEST, SCRIPT, STARTUP
from sightlint.semantics.fastapi import FastAPICollector
from sightlint.semantics.fastapi import APP_CLASSES, APP_HOOK_KEYWORDS, DEPENDS, ROUTE_METHODS, ROUTER_CLASSES, SECURITY
from sightlint.project.summary import (
    NONE_REF,
    UNKNOWN_REF,
    AttrRef,
    CallRef,
    CallSite,
    ClassSummary,
    ClsRef,
    DivRef,
    EntrySite,
    FunctionSummary,
    GlobalRef,
    Handoff,
    LocalFunctionRef,
    MemberRef,
    ModuleSummary,
    OrRef,
    Ref,
    SelfRef,
    SuperRef,
    TimeoutSite,
    Wiring,
)

if TYPE_CHECKING:
    from sightlint.semantics.scope import Context

NONE: Ref = NONE_REF
UNKNOWN: Ref = UNKNOWN_REF
# Refs that may name a callable passed as an argument (``helper(fn)``, ``run(obj.method)``).
_CALLABLE_REFS = (LocalFunctionRef, MemberRef, GlobalRef, AttrRef)


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
_TYPING_WRAPPERS = {"Optional", "Annotated", "Union", "Final", "ClassVar", "Required", "NotRequired"}


@dataclass(slots=True)
class _Frame:
    """A function (or lambda) being walked."""

    fn: FunctionSummary
    body_start: tuple[int, int]
    locals: dict[str, Ref | None] = field(default_factory=dict)
    nested: dict[str, str] = field(default_factory=dict)
    self_name: str | None = None
    cls_name: str | None = None
    declared_global: set[str] = field(default_factory=set)  # names of ``global`` statements
    with_names: set[str] = field(default_factory=set)  # names bound by ``with ... as name``


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
        # The shared FastAPI model of the module (apps, routes, lifespans, events...), fed
        # from this walk; its facts join the summary when the walk leaves the module.
        self._fastapi = FastAPICollector(context)

    # -- symbolic values -------------------------------------------------------------

    def _name_ref(self, name: str) -> Ref | None:
        found = self.ctx.lookup(name)
        if found is None:
            return MemberRef(self.module, name)
        depth, target = found
        if target is not None:
            return GlobalRef(target)
        if depth == 0:
            return MemberRef(self.module, name)
        if depth - 1 >= len(self._funcs):
            return None
        frame = self._funcs[depth - 1]
        if name in frame.nested:
            return LocalFunctionRef(frame.nested[name])
        if name == frame.self_name and frame.fn.cls:
            return SelfRef(frame.fn.cls)
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
                return GlobalRef(qualified)
            base = self.ref(node.value, depth + 1)
            return None if base is None else AttrRef(base, node.attr)
        if kind is ast.Call:
            assert isinstance(node, ast.Call)
            func = node.func
            if isinstance(func, ast.Name) and func.id == "super" and self._funcs:
                cls = self._funcs[-1].fn.cls
                return SuperRef(cls) if cls else None
            base = self.ref(func, depth + 1)
            return None if base is None else CallRef(base)
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

    def _first(self, *nodes: ast.AST, depth: int) -> Ref | None:
        for node in nodes:
            value = self.ref(node, depth + 1)
            if value is not None and value != NONE:
                return value
        return None

    def ann_ref(self, node: ast.AST | None, depth: int = 0) -> Ref | None:
        """The value an annotation describes: an instance of the annotated class."""
        if node is None or depth > 10:
            return None
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str) and len(node.value) < 200:
                try:
                    return self.ann_ref(ast.parse(node.value, mode="eval").body, depth + 1)
                except SyntaxError:
                    return None
            return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.ann_ref(node.left, depth + 1) or self.ann_ref(node.right, depth + 1)
        if isinstance(node, ast.Subscript):
            head = node.value
            name = head.attr if isinstance(head, ast.Attribute) else getattr(head, "id", "")
            if name in _TYPING_WRAPPERS:
                inner = node.slice
                elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
                if name == "Annotated":
                    elts = elts[:1]
                for elt in elts:
                    value = self.ann_ref(elt, depth + 1)
                    if value is not None:
                        return value
            return None
        if isinstance(node, (ast.Name, ast.Attribute)):
            base = self.ref(node)
            return None if base is None else CallRef(base)
        return None

    def _lambda_id(self, node: ast.Lambda) -> str:
        return f"{self._owners[-1]}.<lambda@{node.lineno}:{self.ctx.char_col(node.lineno, node.col_offset)}>"

    def _range(self, node: ast.expr) -> tuple[int, int, int, int]:
        """``node``'s line, column, end line and end column, columns in characters."""
        char_col = self.ctx.char_col
        line = node.lineno
        col = char_col(line, node.col_offset)
        end_line = node.end_lineno or line
        end_col = node.end_col_offset
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
        deco_refs: list[Ref] = []
        for deco in decorators:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if isinstance(deco, ast.Call) and isinstance(target, ast.Attribute) and target.attr in _ROUTE_METHODS:
                fn.route = True
            value = self.ref(target)
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
        if in_class_body and params and fn.method_kind != "static":
            if fn.method_kind == "class":
                frame.cls_name = params[0]
            else:
                frame.self_name = params[0]
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
            if arg.arg not in (frame.self_name, frame.cls_name):
                frame.locals[arg.arg] = self.ann_ref(arg.annotation) if arg.annotation is not None else None
        for extra in (args.vararg, args.kwarg):
            if extra is not None:
                frame.locals[extra.arg] = None
        if not isinstance(node, ast.Lambda) and node.returns is not None:
            fn.returns = self.ann_ref(node.returns)
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

    def _leave_function(self, node: ast.AST) -> None:
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
        bases = tuple(r for r in (self.ref(b) for b in node.bases) if r is not None)
        cls = ClassSummary(id=cid, name=node.name, line=node.lineno, bases=bases)
        self.summary.classes[cid] = cls
        self._fastapi.visit(node)
        if owner == self.module:
            self.summary.toplevel[node.name] = cid
        self._owners.append(cid)
        self._classes.append(cls)

    def leave_ClassDef(self, node: ast.ClassDef) -> None:
        self._fastapi.leave(node)
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

    def _assign(self, target: ast.AST, value: Ref | None) -> None:
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
            old = table.get(target.id)
            if old is None or old == NONE:
                table[target.id] = value
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and self._funcs:
            frame = self._funcs[-1]
            if target.value.id == frame.self_name and frame.fn.cls:
                cls_summary = self._classes[-1]
                if cls_summary is not None:
                    old = cls_summary.attrs.get(target.attr)
                    if old is None or old == NONE:
                        cls_summary.attrs[target.attr] = value

    def visit_Assign(self, node: ast.Assign) -> None:
        self._fastapi.visit(node)
        value = self.ref(node.value)
        for target in node.targets:
            self._assign(target, value)
            self._store(target, value, node.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._fastapi.visit(node)
        value = self.ann_ref(node.annotation)
        if value is None and node.value is not None:
            value = self.ref(node.value)
        self._assign(node.target, value)
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            value = self.ref(node.value) or value  # what is stored, not what it is declared as
        self._store(node.target, value, node.value)

    def visit_Global(self, node: ast.Global) -> None:
        if self._funcs:
            self._funcs[-1].declared_global.update(node.names)

    def visit_Yield(self, node: ast.Yield) -> None:
        if self._funcs and not self._funcs[-1].fn.yield_line:
            self._funcs[-1].fn.yield_line = node.lineno

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
        if isinstance(func, ast.Attribute) and func.attr in _CLOSE_METHODS:
            self._close(func, node, ())
        for arg in (*node.args, *(k.value for k in node.keywords)):
            if isinstance(arg, ast.Attribute) and arg.attr in _CLOSE_METHODS:
                # ``stack.push_async_callback(client.aclose)``, ``atexit.register(engine.dispose)``
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

    def visit_Return(self, node: ast.Return) -> None:
        self._fastapi.visit(node)
        if self._funcs and node.value is not None:
            fn = self._funcs[-1].fn
            if fn.returns is None:
                value = self.ref(node.value)
                if value is not None and value != NONE:
                    fn.returns = value

    # -- suspension points and timeouts ------------------------------------------------

    def visit_Await(self, node: ast.Await) -> None:
        if self._funcs:
            self._funcs[-1].fn.awaits += 1
        if isinstance(node.value, ast.Call):
            self._awaited.add(id(node.value))

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        if self._funcs:
            self._funcs[-1].fn.awaits += 1

    def _open_timeout_scopes(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            expr = item.context_expr
            if isinstance(expr, ast.Call) and self._funcs:
                kind = self.ctx.qualified_name(expr.func)
                if kind in TIMEOUT_SCOPES:
                    self._bodies.append(_TimeoutBody(id(node), kind, self._funcs[-1], expr))
            if isinstance(item.optional_vars, ast.Name):
                self._assign(item.optional_vars, self.ref(expr))
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
        self._open_timeout_scopes(node)

    visit_With = _open_timeout_scopes
    leave_With = _close_timeout_scopes
    leave_AsyncWith = _close_timeout_scopes

    # -- calls -------------------------------------------------------------------------

    def leave_Module(self, node: ast.Module) -> None:
        facts = self._fastapi.facts()
        self.summary.fastapi = facts if facts or facts.lifespans else None

    def visit_Module(self, node: ast.Module) -> None:
        """Note where ``if __name__ == "__main__":`` blocks are: what they call runs as a script."""
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
        self._fastapi.visit(node)
        if kind is ast.Attribute or qualified is not None:
            self._call_wiring(node, qualified)
        if not self._funcs:
            self._module_call(node, fact)
            return
        frame = self._funcs[-1]
        if fact is not None and fact.what == "depends":
            self._callable_entry(node, fact)  # in a signature too: before the body check
            return
        if (node.lineno, node.col_offset) < frame.body_start:
            return  # a decorator, default or annotation: not run by calling the function
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
        if isinstance(func, ast.Name) and func.id in frame.locals and func.id in frame.fn.params:
            if frame.locals[func.id] is None:
                frame.fn.param_calls.append((func.id, node.lineno, self.ctx.char_col(node.lineno, node.col_offset)))
                return
        callee = self.ref(func)
        if callee is None:
            return
        fn_args: list[tuple[int | str, Ref]] = []
        for index, arg in enumerate(node.args):
            if isinstance(arg, (ast.Name, ast.Lambda, ast.Attribute)):
                value = self.ref(arg)
                if isinstance(value, _CALLABLE_REFS):
                    fn_args.append((index, value))
        for keyword in node.keywords:
            arg = keyword.value
            if keyword.arg and isinstance(arg, (ast.Name, ast.Lambda, ast.Attribute)):
                value = self.ref(arg)
                if isinstance(value, _CALLABLE_REFS):
                    fn_args.append((keyword.arg, value))
        text = _text(func)
        line, col, end_line, end_col = self._range(node)
        awaited = id(node) in self._awaited
        frame.fn.calls.append(CallSite(callee, line, col, end_line, end_col, text, tuple(fn_args), awaited))
        if self._bodies and self._bodies[-1].frame is frame and node is not self._bodies[-1].call:
            self._bodies[-1].targets.append((callee, awaited, line, col, text))

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

    def _callable_ref(self, node: ast.expr) -> Ref | None:
        """The ref of a callable argument; ``functools.partial(f, ...)`` is ``f``."""
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, (ast.Name, ast.Attribute)):
            if self.ctx.qualified_name(node.func) in _PARTIAL:
                return self.ref(node.args[0])
        return self.ref(node)


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
