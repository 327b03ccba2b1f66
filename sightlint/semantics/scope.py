"""What a name means where it is read: the one scope model of a file, shared by the
checking walk (rules and the summary collector) and by fixes.

The engine keeps a :class:`Context` current while it walks a file: it calls
:meth:`Context.enter` before the rules' ``visit_*`` handlers and :meth:`Context.leave`
after their ``leave_*`` handlers. That running view answers for the node being visited
(:meth:`Context.resolve_name`, :meth:`Context.qualified_name`) at no extra cost per node.

What a name means at any other line and column -- an import and its target, a module
global, a local, a parameter, a class attribute, a builtin, nothing -- is answered by
:meth:`Context.binding_at` and its neighbours from an index of the whole file's scopes
(:mod:`sightlint.semantics.bindings`), built the first time one of them is asked: fixes
use it, and the checking walk never pays for it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from sightlint.models import Span
from sightlint.semantics.bindings import Binding, Scope, ScopeIndex, import_targets
from sightlint.settings import Settings

_UNKNOWN = object()


def qualify(node: ast.AST, resolve: Callable[[str], str | None]) -> str | None:
    """The dotted name ``node`` (a name or attribute chain) stands for, its first name
    looked up with ``resolve`` (see :meth:`Context.qualified_name`)."""
    parts: list[str] = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is not ast.Name:
        return None
    base = resolve(node.id)
    if base is None or not parts:
        return base
    parts.append(base)
    return ".".join(reversed(parts))


class Context:
    """What a rule may ask about the file being checked, kept current during the walk.

    The engine updates ``function_stack`` and ``class_stack`` *before* rules' ``visit_*``
    and *after* their ``leave_*``, so inside ``visit_AsyncFunctionDef`` the function is
    already on the stack.
    """

    def __init__(self, path: str, text: str, tree: ast.Module, settings: Settings, module: str | None) -> None:
        self.path = path
        self.text = text
        self.lines = text.splitlines()
        # Most files are ASCII throughout: their byte columns are character columns
        # (``char_col`` is then the identity; hot callers may test this first).
        self.ascii = self._ascii = text.isascii()
        self.tree = tree
        self.settings = settings
        self.module = module
        self.function_stack: list[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda] = []
        self.class_stack: list[ast.ClassDef] = []
        # One dict per scope (module, then each function): name -> qualified name of an
        # imported object, or None for a local binding that shadows any import.
        self._scopes: list[dict[str, str | None]] = [{}]
        # qualified_name's answers since the scopes last changed: several rules (and the
        # summary collector) ask it about the same ``Call.func`` while that call is visited.
        self._qualified: dict[ast.AST, str | None] = {}
        # What each import statement binds: the engine enters the module-level imports
        # before the walk and the walk enters them again (see ``_enter_import``).
        self._imports: dict[ast.AST, list[tuple[str, str | None]]] = {}
        self._index: ScopeIndex | None = None
        # Per-file values that several rules share, built by the first that asks (the
        # FastAPI model of ``semantics.fastapi``); they live as long as the file's check.
        self.shared: dict[str, Any] = {}

    # -- positions ---------------------------------------------------------------

    def char_col(self, line: int, byte_col: int) -> int:
        """The character column of ``ast``'s ``col_offset`` (UTF-8 bytes) on ``line``."""
        if self._ascii or line < 1 or line > len(self.lines):
            return byte_col
        text = self.lines[line - 1]
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="replace"))

    def span(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        end_line = getattr(node, "end_lineno", None) or line
        end_col = getattr(node, "end_col_offset", None)
        end_col = col if end_col is None else end_col
        return Span(line, self.char_col(line, col), end_line, self.char_col(end_line, end_col))

    # -- what a name means anywhere in the file (lines 1-based, columns in characters) ----

    @property
    def scopes(self) -> ScopeIndex:
        """The file's scopes and bindings, built on first use."""
        if self._index is None:
            self._index = ScopeIndex(self.tree, self.char_col, self.resolve_relative)
        return self._index

    def release(self) -> None:
        """Drop what points back at this context or holds the tree in a cycle (the shared
        per-file values, the scope index): called by the engine once the file's check is
        over, so the tree is freed by reference counting (the cyclic collector may be
        paused for the whole run)."""
        self.shared.clear()
        self._imports.clear()
        index, self._index = self._index, None
        if index is not None:
            stack = [index.module]
            while stack:
                scope = stack.pop()
                stack.extend(scope.children)
                scope.children = []
                scope.parent = None
                scope.bindings = {}
            index.module = None  # type: ignore[assignment]

    def scope_at(self, line: int, col: int) -> Scope:
        """The innermost scope (module, class, function, lambda, comprehension) of ``line:col``."""
        return self.scopes.scope_at(line, col)

    def binding_at(self, name: str, line: int, col: int) -> Binding:
        """What ``name`` read at ``line:col`` refers to; ``kind`` says which sort of binding
        it is (``UNBOUND`` when nothing binds it)."""
        return self.scopes.binding_at(name, line, col)

    def module_binding(self, name: str) -> Binding | None:
        """The module-level binding of ``name`` that function bodies see, or None."""
        return self.scopes.module_binding(name)

    def reference_to(self, qualified: str, line: int, col: int) -> str | None:
        """How to write ``qualified`` at ``line:col`` with the imports in sight, or None."""
        return self.scopes.reference_to(qualified, line, col)

    # -- scope -------------------------------------------------------------------

    @property
    def current_function(self) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | None:
        return self.function_stack[-1] if self.function_stack else None

    @property
    def in_async_function(self) -> bool:
        """True when the innermost enclosing function is an ``async def`` (lambdas are sync)."""
        return isinstance(self.current_function, ast.AsyncFunctionDef)

    def bind(self, name: str, qualified: str | None) -> None:
        self._scopes[-1][name] = qualified
        if self._qualified:
            self._qualified.clear()

    def resolve_name(self, name: str) -> str | None:
        """The qualified name an identifier refers to, if it is an import; else None."""
        for scope in reversed(self._scopes):
            if name in scope:
                return scope[name]
        return None

    def binding_depth(self, name: str) -> int | None:
        """Index of the innermost visible scope binding ``name`` (0: module), or None."""
        for depth in range(len(self._scopes) - 1, -1, -1):
            if name in self._scopes[depth]:
                return depth
        return None

    def lookup(self, name: str) -> tuple[int, str | None] | None:
        """(:meth:`binding_depth`, :meth:`resolve_name`) of ``name`` in one search, or None if unbound."""
        scopes = self._scopes
        for depth in range(len(scopes) - 1, -1, -1):
            scope = scopes[depth]
            if name in scope:
                return depth, scope[name]
        return None

    def is_local(self, name: str) -> bool:
        """True if ``name`` is bound by something other than an import in a visible scope."""
        for scope in reversed(self._scopes):
            if name in scope:
                return scope[name] is None
        return False

    def qualified_name(self, node: ast.AST) -> str | None:
        """``datetime.datetime.utcnow`` for ``dt.utcnow`` after ``from datetime import datetime as dt``."""
        memo = self._qualified
        found = memo.get(node, _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        qualified = memo[node] = qualify(node, self.resolve_name)
        return qualified

    def module_bindings(self) -> dict[str, str | None]:
        """A copy of what the module-level names mean now (imports: their qualified name)."""
        return dict(self._scopes[0])

    def resolve_relative(self, module: str | None, level: int) -> str | None:
        """Absolute module for ``from <level dots><module> import ...`` in this file."""
        if level == 0:
            return module
        if not self.module:
            return None
        package = self.module.split(".")
        is_package = self.path.replace("\\", "/").endswith("/__init__.py")
        drop = level - 1 if is_package else level
        if drop > len(package):
            return None
        base = package[: len(package) - drop] if drop else package
        return ".".join([*base, module] if module else base) or None

    # -- bookkeeping (called by the engine before/after the rules) -----------------------

    def enter(self, node: ast.AST) -> None:
        """Bookkeeping on entering ``node`` (bindings, function and class stacks)."""
        enter = ENTER.get(type(node))
        if enter is not None:
            enter(self, node)

    def leave(self, node: ast.AST) -> None:
        """Bookkeeping on leaving ``node`` (pops what :meth:`enter` pushed)."""
        leave = LEAVE.get(type(node))
        if leave is not None:
            leave(self, node)


# -- bookkeeping on entering a node, one function per node type (the walk calls them
# before the rules' handlers) ----------------------------------------------------------


def _enter_name(context: Context, node: ast.Name) -> None:
    if type(node.ctx) is not ast.Load:
        context.bind(node.id, None)


def _enter_function(context: Context, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    context.bind(node.name, None)
    context.function_stack.append(node)
    context._scopes.append({})


def _enter_lambda(context: Context, node: ast.Lambda) -> None:
    context.function_stack.append(node)
    context._scopes.append({})


def _enter_class(context: Context, node: ast.ClassDef) -> None:
    context.bind(node.name, None)
    context.class_stack.append(node)


def _enter_import(context: Context, node: ast.Import | ast.ImportFrom) -> None:
    # ``bind`` for each name in turn (a name bound twice keeps the last target).
    targets = context._imports.get(node)
    if targets is None:
        targets = context._imports[node] = import_targets(node, context.resolve_relative)
    context._scopes[-1].update(targets)
    if context._qualified:
        context._qualified.clear()


def _enter_arg(context: Context, node: ast.arg) -> None:
    context.bind(node.arg, None)


def _enter_except_handler(context: Context, node: ast.ExceptHandler) -> None:
    if node.name:
        context.bind(node.name, None)


ENTER: dict[type, Callable[[Context, Any], None]] = {
    ast.Name: _enter_name,
    ast.FunctionDef: _enter_function,
    ast.AsyncFunctionDef: _enter_function,
    ast.Lambda: _enter_lambda,
    ast.ClassDef: _enter_class,
    ast.Import: _enter_import,
    ast.ImportFrom: _enter_import,
    ast.arg: _enter_arg,
    ast.ExceptHandler: _enter_except_handler,
}


# -- bookkeeping on leaving a node (after the rules' ``leave_*`` handlers): what
# ``Context.leave`` does, one function per node type ------------------------------------


def _leave_function(context: Context, node: ast.AST) -> None:
    context.function_stack.pop()
    context._scopes.pop()
    context._qualified.clear()


def _leave_class(context: Context, node: ast.AST) -> None:
    context.class_stack.pop()


LEAVE: dict[type, Callable[[Context, Any], None]] = {
    ast.FunctionDef: _leave_function,
    ast.AsyncFunctionDef: _leave_function,
    ast.Lambda: _leave_function,
    ast.ClassDef: _leave_class,
}
# The kinds whose ``Context.leave`` does something.
LEAVE_KINDS = frozenset(LEAVE)
