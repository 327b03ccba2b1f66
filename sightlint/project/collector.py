"""Collect a :class:`ModuleSummary` during the engine's one walk of a file.

The collector is handed to :func:`sightlint.engine.check_source` next to the rules; the
engine keeps the :class:`~sightlint.semantics.scope.Context` (scopes, imports) current, and the
collector turns what it sees into symbolic :data:`Ref` values (see ``summary.py``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sightlint.project.summary import CallSite, ClassSummary, FunctionSummary, ModuleSummary, Ref, TimeoutSite

if TYPE_CHECKING:
    from sightlint.semantics.scope import Context

NONE: Ref = ("none",)

# Calls that hand a callable to a worker thread/process: that work is not on the loop.
# name -> index of the callable argument
OFFLOAD_FUNCTIONS = {
    "asyncio.to_thread": 0,
    "starlette.concurrency.run_in_threadpool": 0,
    "fastapi.concurrency.run_in_threadpool": 0,
    "anyio.to_thread.run_sync": 0,
    "trio.to_thread.run_sync": 0,
}
OFFLOAD_METHODS = {"run_in_executor": 1, "add_task": 0, "submit": 0}

TIMEOUT_WRAPPERS = {"asyncio.wait_for", "async_timeout.wait_for"}
TIMEOUT_SCOPES = {
    "asyncio.timeout",
    "asyncio.timeout_at",
    "async_timeout.timeout",
    "anyio.fail_after",
    "anyio.move_on_after",
}
DEPENDS = {"fastapi.Depends", "fastapi.params.Depends", "fastapi.Security"}
_ROUTE_METHODS = {"get", "post", "put", "delete", "patch", "head", "options", "api_route", "route", "websocket"}
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

    # -- symbolic values -------------------------------------------------------------

    def _name_ref(self, name: str) -> Ref | None:
        found = self.ctx.lookup(name)
        if found is None:
            return ("m", self.module, name)
        depth, target = found
        if target is not None:
            return ("g", target)
        if depth == 0:
            return ("m", self.module, name)
        if depth - 1 >= len(self._funcs):
            return None
        frame = self._funcs[depth - 1]
        if name in frame.nested:
            return ("fn", frame.nested[name])
        if name == frame.self_name and frame.fn.cls:
            return ("self", frame.fn.cls)
        if name == frame.cls_name and frame.fn.cls:
            return ("cls", frame.fn.cls)
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
                return ("g", qualified)
            base = self.ref(node.value, depth + 1)
            return None if base is None else ("attr", base, node.attr)
        if kind is ast.Call:
            assert isinstance(node, ast.Call)
            func = node.func
            if isinstance(func, ast.Name) and func.id == "super" and self._funcs:
                cls = self._funcs[-1].fn.cls
                return ("super", cls) if cls else None
            base = self.ref(func, depth + 1)
            return None if base is None else ("call", base)
        if kind is ast.Await:
            return self.ref(node.value, depth + 1)  # type: ignore[attr-defined]
        if kind is ast.BinOp:
            assert isinstance(node, ast.BinOp)
            if isinstance(node.op, ast.BitOr):
                left, right = self.ref(node.left, depth + 1), self.ref(node.right, depth + 1)
                return None if left is None and right is None else ("or", left, right)
            if isinstance(node.op, ast.Div):
                left = self.ref(node.left, depth + 1)
                return None if left is None else ("div", left)
            return None
        if kind is ast.Constant:
            return NONE if node.value is None else None  # type: ignore[attr-defined]
        if kind is ast.Lambda:
            return ("fn", self._lambda_id(node))  # type: ignore[arg-type]
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
            return None if base is None else ("call", base)
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
            if value is not None:
                deco_refs.append(value)
            if isinstance(target, ast.Name) and target.id in ("staticmethod", "classmethod"):
                fn.method_kind = "static" if target.id == "staticmethod" else "class"
            elif isinstance(target, (ast.Name, ast.Attribute)) and _text(target) in _PROPERTIES:
                fn.method_kind = "property"
        fn.decorators = tuple(deco_refs)
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
        if owner == self.module:
            self.summary.toplevel[node.name] = cid
        self._owners.append(cid)
        self._classes.append(cls)

    def leave_ClassDef(self, node: ast.ClassDef) -> None:
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
        value = self.ref(node.value)
        for target in node.targets:
            self._assign(target, value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        value = self.ann_ref(node.annotation)
        if value is None and node.value is not None:
            value = self.ref(node.value)
        self._assign(node.target, value)

    def visit_Return(self, node: ast.Return) -> None:
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

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if not self._funcs:
            if isinstance(func, (ast.Name, ast.Attribute)) and self.ctx.qualified_name(func) in DEPENDS:
                self._dependency(node)
            return
        frame = self._funcs[-1]
        qualified = self.ctx.qualified_name(func) if isinstance(func, (ast.Name, ast.Attribute)) else None
        if qualified in DEPENDS:
            self._dependency(node)
            return
        if (node.lineno, node.col_offset) < frame.body_start:
            return  # a decorator, default or annotation: not run by calling the function
        if qualified is not None:
            index = OFFLOAD_FUNCTIONS.get(qualified)
            if index is not None:
                self._offload(frame, node, index)
                return
            if qualified in TIMEOUT_WRAPPERS and node.args and isinstance(node.args[0], ast.Call):
                inner = node.args[0]
                target = self.ref(inner.func)
                if target is not None:
                    inner_col = self.ctx.char_col(inner.lineno, inner.col_offset)
                    self.summary.timeouts.append(
                        TimeoutSite(
                            qualified,
                            frame.fn.id,
                            *self._range(node),
                            ((target, True, inner.lineno, inner_col, _text(inner.func)),),
                        )
                    )
        elif isinstance(func, ast.Attribute) and func.attr in OFFLOAD_METHODS:
            self._offload(frame, node, OFFLOAD_METHODS[func.attr])
            return
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
                if value is not None and value[0] in ("fn", "m", "g", "attr"):
                    fn_args.append((index, value))
        for keyword in node.keywords:
            arg = keyword.value
            if keyword.arg and isinstance(arg, (ast.Name, ast.Lambda, ast.Attribute)):
                value = self.ref(arg)
                if value is not None and value[0] in ("fn", "m", "g", "attr"):
                    fn_args.append((keyword.arg, value))
        text = _text(func)
        line, col, end_line, end_col = self._range(node)
        frame.fn.calls.append(CallSite(callee, line, col, end_line, end_col, text, tuple(fn_args)))
        if self._bodies and self._bodies[-1].frame is frame and node is not self._bodies[-1].call:
            awaited = id(node) in self._awaited
            self._bodies[-1].targets.append((callee, awaited, line, col, text))

    def _offload(self, frame: _Frame, node: ast.Call, index: int) -> None:
        if len(node.args) > index:
            value = self.ref(node.args[index])
            if value is not None:
                frame.fn.offloaded.append((value, node.lineno, self.ctx.char_col(node.lineno, node.col_offset)))

    def _dependency(self, node: ast.Call) -> None:
        if node.args:
            value = self.ref(node.args[0])
            if value is not None:
                self.summary.dependencies.append(value)
