"""What every name means everywhere in a file: its scopes and their bindings.

:class:`ScopeIndex` is built from a file's ``ast`` tree on first use (fixes ask it; the
checking walk keeps only the running view in :class:`~sightlint.semantics.scope.Context`
and never pays for it) and follows Python's own rules:

- functions, lambdas, classes and comprehensions are scopes; decorators, default values,
  annotations, class bases and a comprehension's first iterable are evaluated in the
  enclosing scope;
- a name bound anywhere in a function is local to all of it (used before its assignment,
  it is still the local); ``global``/``nonlocal`` send the bindings elsewhere;
- class bodies are not visible from the functions, lambdas and comprehensions in them,
  and a name a class body binds later is read from the module until then;
- a walrus in a comprehension binds in the enclosing function or module;
- function bodies run after the code around them, so they see the last binding of an
  enclosing scope (module globals are visible regardless of order); comprehensions and
  class bodies run where they stand and see the binding before them.

Positions are 1-based lines and 0-based columns counted in characters, as in findings.
Type parameters (``def f[T]()``, Python 3.12) are not modelled: ``T`` reads as unbound.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import enum
from collections.abc import Callable
from typing import NamedTuple

_BUILTINS = frozenset(dir(builtins))
# Names every module has without binding them.
_MODULE_DUNDERS = frozenset(
    ("__name__", "__file__", "__doc__", "__package__", "__spec__", "__loader__", "__builtins__", "__path__")
)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class ScopeKind(enum.Enum):
    MODULE = "module"
    CLASS = "class"
    FUNCTION = "function"  # def and async def
    LAMBDA = "lambda"
    COMPREHENSION = "comprehension"  # list, set and dict comprehensions, generator expressions


class BindingKind(enum.Enum):
    IMPORT = "import"  # ``import m`` / ``from m import x`` in any scope (``qualified`` names the target)
    GLOBAL = "global"  # any other module-level binding: assignment, def, class, for target, ...
    LOCAL = "local"  # any other binding in a function, lambda or comprehension
    PARAMETER = "parameter"
    CLASS_ATTRIBUTE = "class-attribute"  # bound in a class body (read from that class body)
    STAR_IMPORT = "star-import"  # not bound in sight, but a module-level ``from m import *`` may provide it
    BUILTIN = "builtin"
    UNBOUND = "unbound"


_Position = tuple[int, int]
_Range = tuple[int, int, int, int]


class Binding(NamedTuple):
    """One binding of a name: what binds it, where, and what it refers to when known."""

    name: str
    kind: BindingKind
    # The scope that holds it; None for builtins and unbound names.
    scope: Scope | None
    # What binds it: the ``Import``/``ImportFrom`` statement, the ``Name`` target, the
    # ``def``/``class``, the ``arg``, the ``ExceptHandler``, the match pattern; None for
    # builtins, unbound names and the dunders every module has.
    node: ast.AST | None
    # Imports: the dotted target (``datetime.timezone``; None for an unresolvable relative
    # import); builtins: ``builtins.<name>``.
    qualified: str | None = None
    # The value assigned by ``name = value``, ``name: T = value`` or ``(name := value)``.
    value: ast.expr | None = None
    line: int = 0
    col: int = 0
    # Where it takes effect: after the value is evaluated (``x = x + 1`` reads the earlier
    # ``x``), after the whole statement for imports, ``def`` and ``class``.
    effective: tuple[int, int] = (0, 0)

    @property
    def at_module_level(self) -> bool:
        return self.scope is not None and self.scope.kind is ScopeKind.MODULE


class Scope:
    """A module, class, function, lambda or comprehension, with the bindings it holds."""

    __slots__ = ("kind", "node", "parent", "children", "bindings", "globals", "nonlocals", "star_imports", "_ranges", "_starts")

    def __init__(self, kind: ScopeKind, node: ast.AST, parent: Scope | None) -> None:
        self.kind = kind
        self.node = node
        self.parent = parent
        self.children: list[Scope] = []
        # name -> its bindings in this scope, in source order.
        self.bindings: dict[str, tuple[Binding, ...]] = {}
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.star_imports: list[ast.ImportFrom] = []
        self._ranges: list[_Range] = []  # the text evaluated in this scope (not its header)
        # The children's ranges by start, built on first use by ScopeIndex.scope_at.
        self._starts: tuple[list[tuple[int, int]], list[Scope]] | None = None
        if parent is not None:
            parent.children.append(self)

    @property
    def name(self) -> str | None:
        """The function's or class's name; None for other scopes."""
        return getattr(self.node, "name", None) if self.kind in (ScopeKind.FUNCTION, ScopeKind.CLASS) else None

    def contains(self, line: int, col: int) -> bool:
        """True if ``line:col`` is evaluated in this scope or one nested in it."""
        if self.parent is None:
            return True
        return any((r[0], r[1]) <= (line, col) < (r[2], r[3]) for r in self._ranges)

    def __repr__(self) -> str:
        return f"<Scope {self.kind.value} {self.name or ''}>".replace(" >", ">")


class _Raw(NamedTuple):
    """A binding as the walk meets it, before ``global``/``nonlocal`` say where it goes."""

    name: str
    node: ast.AST
    kind: BindingKind | None  # IMPORT or PARAMETER; None: decided by the holding scope
    qualified: str | None
    value: ast.expr | None
    line: int
    col: int
    effective: _Position


class ScopeIndex:
    """The scopes of one module and what each name means at any position in it."""

    def __init__(
        self,
        tree: ast.Module,
        char_col: Callable[[int, int], int],
        resolve_relative: Callable[[str | None, int], str | None],
    ) -> None:
        self._char_col = char_col
        self._resolve_relative = resolve_relative
        self.module = Scope(ScopeKind.MODULE, tree, None)
        self._build(tree)

    # -- queries -------------------------------------------------------------------------

    def scope_at(self, line: int, col: int) -> Scope:
        """The innermost scope in which the code at ``line:col`` is evaluated."""
        scope = self.module
        while True:
            # Sibling scopes evaluate disjoint text: the child range starting last at or
            # before the position is the only candidate (a scan remains the fallback).
            if scope._starts is None:
                ranges = sorted(((r[0], r[1]), i) for i, child in enumerate(scope.children) for r in child._ranges)
                scope._starts = ([start for start, _ in ranges], [scope.children[i] for _, i in ranges])
            starts, owners = scope._starts
            at = bisect.bisect_right(starts, (line, col)) - 1
            if at >= 0 and owners[at].contains(line, col):
                scope = owners[at]
                continue
            for child in scope.children:
                if child.contains(line, col):
                    scope = child
                    break
            else:
                return scope

    def binding_at(self, name: str, line: int, col: int) -> Binding:
        """What ``name`` read at ``line:col`` refers to (see the module docstring for the rules)."""
        start = self.scope_at(line, col)
        position = (line, col)
        deferred = False  # crossed into a function or lambda that runs later
        scope: Scope | None = start
        while scope is not None:
            if scope.kind is ScopeKind.CLASS and scope is not start:
                scope = scope.parent  # class bodies are invisible from nested scopes
                continue
            if scope.kind is not ScopeKind.MODULE and name in scope.globals:
                return self._module_binding(name, position, deferred=True) or self._beyond_scopes(name)
            if name in scope.nonlocals:
                target = _nonlocal_target(scope, name)
                found = target.bindings.get(name) if target is not None else None
                return _pick(found, position, deferred=True) if found else _unbound(name)
            found = scope.bindings.get(name)
            if found:
                if scope.kind is ScopeKind.CLASS:
                    before = [b for b in found if b.effective <= position]
                    if before:
                        return before[-1]
                    # Not bound yet: the class body reads the module, skipping enclosing functions.
                    return self._module_binding(name, position, deferred) or self._beyond_scopes(name)
                return _pick(found, position, deferred)
            if scope.kind in (ScopeKind.FUNCTION, ScopeKind.LAMBDA):
                deferred = True
            scope = scope.parent
        return self._beyond_scopes(name)

    def module_binding(self, name: str) -> Binding | None:
        """What ``name`` means at module level as seen from a function body; None if the
        module binds nothing by that name (a builtin is not a module binding)."""
        return self._module_binding(name, None, deferred=True)

    def reference_to(self, qualified: str, line: int, col: int) -> str | None:
        """Source text that refers to ``qualified`` at ``line:col`` through the imports in
        sight (``d.timezone`` for ``datetime.timezone`` after ``import datetime as d``), or
        None; the shortest one when there are several."""
        found: set[str] = set()
        scope: Scope | None = self.scope_at(line, col)
        while scope is not None:
            for name, bindings in scope.bindings.items():
                for binding in bindings:
                    target = binding.qualified
                    if binding.kind is not BindingKind.IMPORT or target is None:
                        continue
                    if qualified == target or qualified.startswith(target + "."):
                        seen = self.binding_at(name, line, col)
                        if seen.kind is BindingKind.IMPORT and seen.qualified == target:
                            found.add(name + qualified[len(target) :])
            scope = scope.parent
        head, _, rest = qualified.partition(".")
        if head == "builtins" and rest and "." not in rest and self.binding_at(rest, line, col).kind is BindingKind.BUILTIN:
            found.add(rest)
        return min(found, key=lambda text: (len(text), text)) if found else None

    def _module_binding(self, name: str, position: _Position | None, deferred: bool) -> Binding | None:
        module = self.module
        found = module.bindings.get(name)
        if found:
            return _pick(found, position, deferred)
        if module.star_imports:
            star = module.star_imports[0]
            line, col = star.lineno, self._char_col(star.lineno, star.col_offset)
            return Binding(name, BindingKind.STAR_IMPORT, module, star, None, None, line, col, (line, col))
        if name in _MODULE_DUNDERS:
            return Binding(name, BindingKind.GLOBAL, module, None)
        return None

    def _beyond_scopes(self, name: str) -> Binding:
        """What a name no scope in sight binds means: a star import's, a module dunder, a builtin."""
        found = self._module_binding(name, None, deferred=True)
        if found is not None:
            return found
        if name in _BUILTINS:
            return Binding(name, BindingKind.BUILTIN, None, None, f"builtins.{name}")
        return _unbound(name)

    # -- building ------------------------------------------------------------------------

    def _position(self, node: ast.AST) -> _Position:
        line: int = getattr(node, "lineno", 1)
        return line, self._char_col(line, getattr(node, "col_offset", 0))

    def _end(self, node: ast.AST) -> _Position:
        end_line: int | None = getattr(node, "end_lineno", None)
        end_col: int | None = getattr(node, "end_col_offset", None)
        if end_line is None or end_col is None:
            return self._position(node)
        return end_line, self._char_col(end_line, end_col)

    def _extent(self, first: ast.AST, last: ast.AST) -> _Range:
        decorators = getattr(first, "decorator_list", None)
        start = self._position(decorators[0] if decorators else first)
        end_line: int = getattr(last, "end_lineno", None) or start[0]
        end_col = getattr(last, "end_col_offset", None)
        return (*start, end_line, self._char_col(end_line, end_col) if end_col is not None else start[1])

    def _name_range(self, arg: ast.arg) -> _Range:
        line, col = self._position(arg)
        return line, col, line, col + len(arg.arg)

    def _build(self, tree: ast.Module) -> None:
        raw: dict[Scope, list[_Raw]] = {}

        def bind(
            scope: Scope,
            name: str,
            node: ast.AST,
            kind: BindingKind | None = None,
            qualified: str | None = None,
            value: ast.expr | None = None,
            after: ast.AST | None = None,
        ) -> None:
            """Record a binding of ``name`` by ``node``, in effect after ``after`` if given."""
            start = self._position(node)
            effective = start if after is None else self._end(after)
            raw.setdefault(scope, []).append(_Raw(name, node, kind, qualified, value, *start, effective))

        stack: list[tuple[ast.AST, Scope]] = [(stmt, self.module) for stmt in tree.body]
        while stack:
            node, scope = stack.pop()
            if isinstance(node, ast.Name):
                if not isinstance(node.ctx, ast.Load):
                    bind(scope, node.id, node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                args = node.args
                outer: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
                params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                params += [a for a in (args.vararg, args.kwarg) if a is not None]
                if isinstance(node, ast.Lambda):
                    inner = Scope(ScopeKind.LAMBDA, node, scope)
                    inner._ranges.append(self._extent(node.body, node.body))
                    stack.append((node.body, inner))
                else:
                    bind(scope, node.name, node, after=node)
                    outer += [*node.decorator_list, *(a.annotation for a in params if a.annotation is not None)]
                    if node.returns is not None:
                        outer.append(node.returns)
                    inner = Scope(ScopeKind.FUNCTION, node, scope)
                    inner._ranges.append(self._extent(node.body[0], node.body[-1]))
                    stack.extend((stmt, inner) for stmt in node.body)
                inner._ranges.extend(self._name_range(a) for a in params)
                for param in params:
                    bind(inner, param.arg, param, BindingKind.PARAMETER)
                stack.extend((child, scope) for child in outer)
            elif isinstance(node, ast.ClassDef):
                bind(scope, node.name, node, after=node)
                stack.extend((child, scope) for child in (*node.decorator_list, *node.bases, *node.keywords))
                inner = Scope(ScopeKind.CLASS, node, scope)
                inner._ranges.append(self._extent(node.body[0], node.body[-1]))
                stack.extend((stmt, inner) for stmt in node.body)
            elif isinstance(node, _COMPREHENSIONS):
                inner = Scope(ScopeKind.COMPREHENSION, node, scope)
                parts: list[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
                for index, generator in enumerate(node.generators):
                    parts += [generator.target, *generator.ifs, *([generator.iter] if index else [])]
                inner._ranges.extend(self._extent(part, part) for part in parts)
                stack.extend((part, inner) for part in parts)
                # The first iterable is evaluated before the comprehension's scope exists.
                stack.append((node.generators[0].iter, scope))
            elif isinstance(node, ast.NamedExpr):
                target = scope
                while target.kind is ScopeKind.COMPREHENSION and target.parent is not None:
                    target = target.parent
                if isinstance(node.target, ast.Name):
                    bind(target, node.target.id, node.target, value=node.value, after=node)
                stack.append((node.value, scope))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for name, qualified in import_targets(node, self._resolve_relative):
                    bind(scope, name, node, BindingKind.IMPORT, qualified, after=node)
                if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
                    scope.star_imports.append(node)
            elif isinstance(node, ast.Global):
                scope.globals.update(node.names)
            elif isinstance(node, ast.Nonlocal):
                scope.nonlocals.update(node.names)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = None if isinstance(node, ast.AugAssign) else node.value
                for target_node in targets:
                    if isinstance(target_node, ast.Name):
                        bind(scope, target_node.id, target_node, value=value, after=node)
                    else:
                        stack.append((target_node, scope))
                if isinstance(node, ast.AnnAssign):
                    stack.append((node.annotation, scope))
                if node.value is not None:
                    stack.append((node.value, scope))
            else:
                if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
                    bind(scope, node.name, node)
                elif isinstance(node, ast.MatchMapping) and node.rest:
                    bind(scope, node.rest, node)
                stack.extend((child, scope) for child in ast.iter_child_nodes(node))
        self._settle(raw)

    def _settle(self, raw: dict[Scope, list[_Raw]]) -> None:
        """Send ``global``/``nonlocal`` names to the scope that holds them, then fix each
        binding's kind and keep every name's bindings in source order."""
        bound = {scope: {r.name for r in items} for scope, items in raw.items()}
        held: dict[Scope, list[_Raw]] = {}
        for scope, items in raw.items():
            for item in items:
                target = scope
                if scope.kind is not ScopeKind.MODULE and item.name in scope.globals:
                    target = self.module
                elif item.name in scope.nonlocals:
                    target = _nonlocal_target(scope, item.name, bound) or scope
                held.setdefault(target, []).append(item)
        for scope, items in held.items():
            default = {
                ScopeKind.MODULE: BindingKind.GLOBAL,
                ScopeKind.CLASS: BindingKind.CLASS_ATTRIBUTE,
            }.get(scope.kind, BindingKind.LOCAL)
            by_name: dict[str, list[Binding]] = {}
            for item in sorted(items, key=lambda r: (r.effective, r.line, r.col)):
                binding = Binding(
                    item.name,
                    item.kind or default,
                    scope,
                    item.node,
                    item.qualified,
                    item.value,
                    item.line,
                    item.col,
                    item.effective,
                )
                by_name.setdefault(item.name, []).append(binding)
            scope.bindings = {name: tuple(found) for name, found in by_name.items()}


def import_targets(
    node: ast.Import | ast.ImportFrom, resolve_relative: Callable[[str | None, int], str | None]
) -> list[tuple[str, str | None]]:
    """``(bound name, qualified target)`` for each name an import binds (``import a.b``
    binds ``a``); the target is None for a relative import that cannot be resolved, and a
    star import binds nothing here."""
    if isinstance(node, ast.Import):
        found: list[tuple[str, str | None]] = []
        for alias in node.names:
            top = alias.name.split(".", 1)[0]
            found.append((alias.asname, alias.name) if alias.asname else (top, top))
        return found
    base = resolve_relative(node.module, node.level)
    return [
        (alias.asname or alias.name, f"{base}.{alias.name}" if base else None)
        for alias in node.names
        if alias.name != "*"
    ]


def _nonlocal_target(scope: Scope, name: str, bound: dict[Scope, set[str]] | None = None) -> Scope | None:
    """The enclosing function scope that a ``nonlocal name`` in ``scope`` refers to."""
    current = scope.parent
    while current is not None and current.kind is not ScopeKind.MODULE:
        if current.kind is not ScopeKind.CLASS:
            names = bound.get(current, set()) if bound is not None else current.bindings
            if name in current.nonlocals:
                return _nonlocal_target(current, name, bound)
            if name in names:
                return current
        current = current.parent
    return None


def _pick(found: tuple[Binding, ...], position: _Position | None, deferred: bool) -> Binding:
    """The binding in effect at ``position``: the last one before it, else the first after
    it (a local read before its assignment is still that local); code that runs later
    (``deferred``, or no position) sees the last one."""
    if deferred or position is None:
        return found[-1]
    before = [b for b in found if b.effective <= position]
    return before[-1] if before else found[0]


def _unbound(name: str) -> Binding:
    return Binding(name, BindingKind.UNBOUND, None, None)
