"""Sessions and fan-out: what opens a DB session, and where coroutines are started per item.

Shared by SL601 (session-per-task-unbounded) and SL602 (session-shared-across-tasks).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sightlint.semantics.scope import Context


_FACTORY_CONSTRUCTORS = {"sqlalchemy.ext.asyncio.async_sessionmaker", "sqlalchemy.orm.sessionmaker"}
_SESSION_CLASSES = {"sqlalchemy.ext.asyncio.AsyncSession", "sqlalchemy.ext.asyncio.session.AsyncSession"}
_FACTORY_NAME = re.compile(r"Session\w*Local|^async_session|session_?factory|session_?maker", re.IGNORECASE)
_GATHER = {"asyncio.gather"}
_WAITERS = {"asyncio.as_completed", "asyncio.wait"}
_SPAWNERS = {"create_task", "ensure_future"}
_WRAPPERS = {"asyncio.wait_for", "asyncio.shield", "asyncio.create_task", "asyncio.ensure_future"}
SEMAPHORES = {"asyncio.Semaphore", "asyncio.BoundedSemaphore", "anyio.Semaphore", "anyio.CapacityLimiter"}
_CHUNK_NAME = re.compile(r"batch|chunk|page|window", re.IGNORECASE)
SEMAPHORE_NAME = re.compile(r"sem|limit|slot|throttl", re.IGNORECASE)


# Every fan-out site ``FanOuts.call`` finds names one of these (the last part of a
# qualified name is an attribute or an imported name in the text), or the word ``wait``.
_FANOUT_WORDS = ("gather", "create_task", "ensure_future", "as_completed", "start_soon")
# ``wait`` not followed by a word character; the character before is checked by hand
# (``\bwait\b`` would be as right, but a pattern starting with ``\b`` is scanned position
# by position, twenty times slower than this literal-led one).
_WAIT_END = re.compile(r"wait(?!\w)")


# SL601 and SL602 both ask it of the same text: the last answer is kept.
@lru_cache(maxsize=1)
def may_fan_out(text: str) -> bool:
    """False when ``text`` has no fan-out site (no ``gather``, ``create_task``, ``wait``...)."""
    gather, task, future, completed, soon = _FANOUT_WORDS
    if gather in text or task in text or future in text or completed in text or soon in text:
        return True
    if text.count("wait") == text.count("await"):
        return False  # each `wait` ends an `await` (the two never overlap themselves)
    for match in _WAIT_END.finditer(text):  # skips ``wait_for``; ``await`` is skipped below
        start = match.start()
        before = text[start - 1] if start else " "
        if not (before.isalnum() or before == "_"):
            return True
    return False


def last_name(expr: ast.expr) -> str:
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return expr.id if isinstance(expr, ast.Name) else ""


def session_factories(context: Context) -> set[str]:
    """Module-level names bound to ``async_sessionmaker(...)`` or ``sessionmaker(class_=AsyncSession)``."""
    found: set[str] = set()
    for stmt in context.tree.body:
        if isinstance(stmt, ast.Assign):
            value, targets = stmt.value, stmt.targets
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            value, targets = stmt.value, [stmt.target]
        else:
            continue
        if isinstance(value, ast.Call) and context.qualified_name(value.func) in _FACTORY_CONSTRUCTORS:
            found.update(t.id for t in targets if isinstance(t, ast.Name))
    return found


def is_session_factory(expr: ast.expr, factories: set[str]) -> bool:
    """A reference to a session factory: a known binding, or the conventional names."""
    name = last_name(expr)
    return bool(name) and (name in factories or _factory_named(name))


# The answers of the two name patterns per identifier: SL601 asks them of every call, and a
# project spells the same few thousand names again and again.
@lru_cache(maxsize=1 << 16)
def _factory_named(name: str) -> bool:
    return _FACTORY_NAME.search(name) is not None


@lru_cache(maxsize=1 << 16)
def _builder_named(name: str) -> bool:
    return _FACTORY_BUILDER.match(name) is not None


_SESSION_WORD = re.compile("session", re.IGNORECASE)


# SL601 and SL602 both ask it of the same text: the last answer is kept.
@lru_cache(maxsize=1)
def may_open_session(text: str) -> bool:
    """False when no call of ``text`` can be one :func:`opens_session` accepts (a pre-filter).

    Sound: it accepts a call named (last name, or the last part of its qualified name, an
    identifier of the file even under an import alias) ``AsyncSession``, a factory
    matching ``_FACTORY_NAME`` (every branch holds ``session``, case-insensitively), a name
    bound to ``async_sessionmaker(...)``/``sessionmaker(...)`` (``_FACTORY_CONSTRUCTORS``), or
    ``.begin`` on one of those: each spells ``session`` in some case. The text is matched
    with the same case-insensitive ``re`` semantics as ``_FACTORY_NAME`` (``str.lower`` is
    the same test on ASCII text, and faster)."""
    if "session" in text or "Session" in text:
        return True  # the usual spellings, found without a lowered copy of the text
    if text.isascii():
        return "session" in text.lower()
    return _SESSION_WORD.search(text) is not None


# ``create_async_sessionmaker(engine)`` and the like build a factory; they open nothing.
_FACTORY_BUILDER = re.compile(r"^_?(create|make|build|new|get)_\w*session_?maker$", re.IGNORECASE)


def opens_session(call: ast.Call, context: Context, factories: set[str]) -> bool:
    """``AsyncSessionLocal()``, ``factory.begin()``, ``AsyncSession(engine)``.

    Not ``async_sessionmaker(engine)`` or ``create_sessionmaker(engine)``: those return a
    factory, and passing a factory to concurrent tasks is the right pattern.
    """
    func = call.func
    qualified = context.qualified_name(func)
    if qualified in _FACTORY_CONSTRUCTORS:
        return False
    if _builder_named(last_name(func)):
        return False
    if isinstance(func, ast.Attribute) and func.attr == "begin" and is_session_factory(func.value, factories):
        return True
    if qualified in _SESSION_CLASSES or (isinstance(func, ast.Name) and func.id == "AsyncSession"):
        return True
    return is_session_factory(func, factories)


@dataclass(frozen=True)
class Spawn:
    """A coroutine call that runs concurrently with others started at the same site."""

    site: ast.expr  # the gather / create_task / as_completed call
    how: str  # "`asyncio.gather` over a comprehension", for messages
    callee: ast.expr  # what is called: a name, ``self.method``, a lambda or ``partial(...)``
    args: tuple[ast.expr, ...]  # the arguments the coroutine receives
    element: ast.AST  # the element expression (for de-duplication)
    many: bool  # one per item of a collection (False: explicit arguments of one gather)
    bounded: bool  # the collection is a slice, a batch or a chunk


@dataclass
class _Scope:
    node: ast.AST | None
    is_class: bool
    qualname: str
    local_defs: dict[str, str] = field(default_factory=dict)
    loops: list[ast.For | ast.AsyncFor | ast.While] = field(default_factory=list)
    comps: list[ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp] = field(default_factory=list)
    task_lists: dict[str, list[Spawn]] = field(default_factory=dict)


class FanOuts:
    """Finds concurrent fan-out sites during the engine's walk; rules forward nodes to it.

    SL601 and SL602 share one per file (:func:`shared_fanouts`) and both forward every
    node: a node forwarded twice counts once (``enter``/``leave`` of the same def, loop or
    comprehension, ``assign`` of the same statement; ``call`` answers the same call from a
    memo, since it records ``tasks.append(...)`` spawns).
    """

    def __init__(self, context: Context) -> None:
        self.context = context
        self.scopes: list[_Scope] = [_Scope(None, False, "")]
        self._last_assign: ast.AST | None = None
        self._last_call: ast.AST | None = None
        self._last_spawns: list[Spawn] = []

    # -- scopes ----------------------------------------------------------------------

    def enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef) -> _Scope:
        parent = self.scopes[-1]
        if parent.node is node:
            return parent  # entered already by the other rule
        name = "<lambda>" if isinstance(node, ast.Lambda) else node.name
        if parent.node is None:
            qualname = name
        elif parent.is_class:
            qualname = f"{parent.qualname}.{name}"
        else:
            qualname = f"{parent.qualname}.<locals>.{name}"
        if not isinstance(node, ast.Lambda):
            parent.local_defs[name] = qualname
        scope = _Scope(node, isinstance(node, ast.ClassDef), qualname)
        self.scopes.append(scope)
        return scope

    def leave(self, node: ast.AST) -> None:
        if self.scopes[-1].node is node:  # not left already by the other rule
            self.scopes.pop()

    @property
    def function(self) -> _Scope | None:
        scope = self.scopes[-1]
        return scope if scope.node is not None and not scope.is_class else None

    @property
    def class_qualname(self) -> str | None:
        """The innermost enclosing class (what ``self`` refers to)."""
        return next((s.qualname for s in reversed(self.scopes) if s.is_class), None)

    def resolve(self, callee: ast.expr) -> str | None:
        """Qualified name of a function of this module that ``callee`` names, if any."""
        if isinstance(callee, ast.Name):
            for scope in reversed(self.scopes):
                if not scope.is_class and callee.id in scope.local_defs:
                    return scope.local_defs[callee.id]
            return None if self.context.resolve_name(callee.id) else callee.id
        if isinstance(callee, ast.Attribute) and isinstance(callee.value, ast.Name):
            owner = self.class_qualname
            if callee.value.id in ("self", "cls") and owner is not None:
                return f"{owner}.{callee.attr}"
        return None

    # -- loops and comprehensions ----------------------------------------------------------

    def enter_loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        function = self.function
        if function and not (function.loops and function.loops[-1] is node):
            function.loops.append(node)

    def leave_loop(self, node: ast.AST) -> None:
        function = self.function
        if function and function.loops and function.loops[-1] is node:
            function.loops.pop()

    def enter_comp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        function = self.function
        if function and not (function.comps and function.comps[-1] is node):
            function.comps.append(node)

    def leave_comp(self, node: ast.AST) -> None:
        function = self.function
        if function and function.comps and function.comps[-1] is node:
            function.comps.pop()

    def _chunked(self, iterable: ast.expr | None) -> bool:
        if iterable is None:
            return False
        if isinstance(iterable, ast.Subscript) and isinstance(iterable.slice, ast.Slice):
            return True
        name = last_name(iterable)
        if name and _CHUNK_NAME.search(name):
            return True
        scope = self.function
        loop_targets = {t.id for loop in (scope.loops if scope else []) if isinstance(loop, (ast.For, ast.AsyncFor))
                        for t in ast.walk(loop.target) if isinstance(t, ast.Name)}  # fmt: skip
        return isinstance(iterable, ast.Name) and iterable.id in loop_targets

    # -- elements ------------------------------------------------------------------------

    def _unwrap(self, expr: ast.expr) -> ast.expr:
        while isinstance(expr, ast.Call) and expr.args:
            func = expr.func
            if self.context.qualified_name(func) in _WRAPPERS or last_name(func) in _SPAWNERS:
                expr = expr.args[0]
            else:
                break
        return expr

    def _element(self, site: ast.expr, how: str, expr: ast.expr, many: bool, bounded: bool) -> Spawn | None:
        expr = self._unwrap(expr)
        if not isinstance(expr, ast.Call):
            return None
        args = (*expr.args, *(k.value for k in expr.keywords))
        return Spawn(site, how, expr.func, args, expr, many, bounded)

    def _collection(self, site: ast.expr, how: str, expr: ast.expr) -> list[Spawn]:
        if isinstance(expr, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            elt = expr.key if isinstance(expr, ast.DictComp) else expr.elt
            spawn = self._element(site, f"{how} over a comprehension", elt, True, self._chunked(expr.generators[0].iter))
            return [spawn] if spawn else []
        if isinstance(expr, ast.Name) and self.function and expr.id in self.function.task_lists:
            return [
                Spawn(site, f"{how} over `{expr.id}`", s.callee, s.args, s.element, True, s.bounded)
                for s in self.function.task_lists[expr.id]
            ]
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.args:
            if expr.func.id in ("list", "tuple", "set"):
                return self._collection(site, how, expr.args[0])
            if expr.func.id == "map" and len(expr.args) >= 2:
                callee = expr.args[0]
                args: tuple[ast.expr, ...] = ()
                if isinstance(callee, ast.Call) and last_name(callee.func) == "partial" and callee.args:
                    args = (*callee.args[1:], *(k.value for k in callee.keywords))
                    callee = callee.args[0]
                bounded = self._chunked(expr.args[1])
                return [Spawn(site, f"{how} over `map(...)`", callee, args, expr, True, bounded)]
        return []

    def _innermost_iter(self) -> tuple[str | None, ast.expr | None]:
        """("loop" or "comprehension" or None, the iterable of the innermost one)."""
        scope = self.function
        if scope is None:
            return None, None
        candidates: list[tuple[tuple[int, int], str, ast.expr | None]] = []
        if scope.comps:
            comp = scope.comps[-1]
            candidates.append(((comp.lineno, comp.col_offset), "comprehension", comp.generators[0].iter))
        if scope.loops:
            loop = scope.loops[-1]
            iterable = loop.iter if isinstance(loop, (ast.For, ast.AsyncFor)) else None
            candidates.append(((loop.lineno, loop.col_offset), "loop", iterable))
        if not candidates:
            return None, None
        _, kind, iterable = max(candidates, key=lambda c: c[0])
        return kind, iterable

    # -- the walk ------------------------------------------------------------------------

    def assign(self, node: ast.Assign) -> None:
        """Remember ``tasks = [coro(x) for x in xs]`` for a later ``gather(*tasks)``."""
        if node is self._last_assign:
            return
        self._last_assign = node
        scope = self.function
        if scope is None or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return
        name = node.targets[0].id
        spawns = self._collection(node.value, "", node.value) if isinstance(node.value, ast.expr) else []
        scope.task_lists[name] = spawns  # a fresh binding replaces what was known

    def call(self, node: ast.Call) -> list[Spawn]:
        """The spawns started at ``node`` (empty when it starts nothing concurrently)."""
        if node is self._last_call:
            return self._last_spawns
        spawns = self._call(node)
        self._last_call, self._last_spawns = node, spawns
        return spawns

    def _call(self, node: ast.Call) -> list[Spawn]:
        scope = self.function
        if scope is None:
            return []
        func = node.func
        qualified = self.context.qualified_name(func)
        if qualified in _GATHER:
            spawns: list[Spawn] = []
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    spawns += self._collection(node, "`asyncio.gather`", arg.value)
                else:
                    spawn = self._element(node, "`asyncio.gather`", arg, False, False)
                    spawns += [spawn] if spawn else []
            return spawns
        if qualified in _WAITERS and node.args:
            return self._collection(node, f"`{qualified}`", node.args[0])
        if not node.args or (not scope.loops and not scope.comps):
            return []  # what follows starts (or appends) something only in a loop or comprehension, from an argument
        in_loop, iterable = self._innermost_iter()
        where = f"in a {in_loop}"
        attr = func.attr if isinstance(func, ast.Attribute) else None
        if attr == "append" and in_loop and node.args and isinstance(func, ast.Attribute):
            target = func.value
            spawn = self._element(node, "", node.args[0], True, self._chunked(iterable))
            if spawn and isinstance(target, ast.Name) and last_name(spawn.callee):
                scope.task_lists.setdefault(target.id, []).append(spawn)
            return []
        if not in_loop or not node.args:
            return []
        label = qualified or (f"{last_name(func.value)}.{attr}" if isinstance(func, ast.Attribute) else "")
        if attr in _SPAWNERS or qualified in _WRAPPERS - {"asyncio.wait_for", "asyncio.shield"}:
            spawn = self._element(node, f"`{label}` {where}", node.args[0], True, self._chunked(iterable))
            return [spawn] if spawn else []
        if attr == "start_soon":
            return [Spawn(node, f"`{label}` {where}", node.args[0], tuple(node.args[1:]), node, True,
                          self._chunked(iterable))]  # fmt: skip
        return []


#


def shared_fanouts(context: Context) -> FanOuts:
    """The file's one :class:`FanOuts`, shared by the rules that forward nodes to it."""
    fanouts = context.shared.get("fanouts")
    if fanouts is None:
        fanouts = context.shared["fanouts"] = FanOuts(context)
    assert isinstance(fanouts, FanOuts)
    return fanouts


class FanOutTracking:
    """Rule mix-in for the session rules (SL601, SL602): skip files that start no concurrent
    work, learn the module's session factories, and tell the rule's ``FanOuts``
    (``self._fanouts``) where loops and comprehensions start and end."""

    _fanouts: FanOuts
    _factories: set[str]
    context: Context

    @classmethod
    def may_report(cls, text: str) -> bool:
        return may_fan_out(text)  # every finding names a fan-out site

    def visit_Module(self, node: ast.Module) -> None:
        # Module-level imports are bound only once the walk starts.
        self._factories = session_factories(self.context)

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        self._fanouts.enter_loop(node)

    def _end_loop(self, node: ast.AST) -> None:
        self._fanouts.leave_loop(node)

    visit_For = visit_AsyncFor = visit_While = _loop
    leave_For = leave_AsyncFor = leave_While = _end_loop

    def _comp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        self._fanouts.enter_comp(node)

    def _end_comp(self, node: ast.AST) -> None:
        self._fanouts.leave_comp(node)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comp
    leave_ListComp = leave_SetComp = leave_GeneratorExp = leave_DictComp = _end_comp
