from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sightlint.rules.base import Bad, Good, Rule, RuleMeta, Severity

if TYPE_CHECKING:
    from sightlint.engine import Context

# ---------------------------------------------------------------------------------------
# Helpers shared with SL602 (session-shared-across-tasks), which imports them from here.
# ---------------------------------------------------------------------------------------

_FACTORY_CONSTRUCTORS = {"sqlalchemy.ext.asyncio.async_sessionmaker", "sqlalchemy.orm.sessionmaker"}
_SESSION_CLASSES = {"sqlalchemy.ext.asyncio.AsyncSession", "sqlalchemy.ext.asyncio.session.AsyncSession"}
_FACTORY_NAME = re.compile(r"Session\w*Local|^async_session|session_?factory|session_?maker", re.IGNORECASE)
_GATHER = {"asyncio.gather"}
_WAITERS = {"asyncio.as_completed", "asyncio.wait"}
_SPAWNERS = {"create_task", "ensure_future"}
_WRAPPERS = {"asyncio.wait_for", "asyncio.shield", "asyncio.create_task", "asyncio.ensure_future"}
_SEMAPHORES = {"asyncio.Semaphore", "asyncio.BoundedSemaphore", "anyio.Semaphore", "anyio.CapacityLimiter"}
_CHUNK_NAME = re.compile(r"batch|chunk|page|window", re.IGNORECASE)
_SEM_NAME = re.compile(r"sem|limit|slot|throttl", re.IGNORECASE)


def _last_name(expr: ast.expr) -> str:
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
    name = _last_name(expr)
    return bool(name) and (name in factories or bool(_FACTORY_NAME.search(name)))


def opens_session(call: ast.Call, context: Context, factories: set[str]) -> bool:
    """``AsyncSessionLocal()``, ``factory.begin()``, ``AsyncSession(engine)``."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "begin" and is_session_factory(func.value, factories):
        return True
    if context.qualified_name(func) in _SESSION_CLASSES or (isinstance(func, ast.Name) and func.id == "AsyncSession"):
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
    """Finds concurrent fan-out sites during the engine's walk; rules forward nodes to it."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.scopes: list[_Scope] = [_Scope(None, False, "")]

    # -- scopes ----------------------------------------------------------------------

    def enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef) -> _Scope:
        parent = self.scopes[-1]
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

    def leave(self) -> None:
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
        if self.function:
            self.function.loops.append(node)

    def leave_loop(self) -> None:
        if self.function and self.function.loops:
            self.function.loops.pop()

    def enter_comp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        if self.function:
            self.function.comps.append(node)

    def leave_comp(self) -> None:
        if self.function and self.function.comps:
            self.function.comps.pop()

    def _chunked(self, iterable: ast.expr | None) -> bool:
        if iterable is None:
            return False
        if isinstance(iterable, ast.Subscript) and isinstance(iterable.slice, ast.Slice):
            return True
        name = _last_name(iterable)
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
            if self.context.qualified_name(func) in _WRAPPERS or _last_name(func) in _SPAWNERS:
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
                if isinstance(callee, ast.Call) and _last_name(callee.func) == "partial" and callee.args:
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
        scope = self.function
        if scope is None or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return
        name = node.targets[0].id
        spawns = self._collection(node.value, "", node.value) if isinstance(node.value, ast.expr) else []
        scope.task_lists[name] = spawns  # a fresh binding replaces what was known

    def call(self, node: ast.Call) -> list[Spawn]:
        """The spawns started at ``node`` (empty when it starts nothing concurrently)."""
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
        in_loop, iterable = self._innermost_iter()
        where = f"in a {in_loop}"
        attr = func.attr if isinstance(func, ast.Attribute) else None
        if attr == "append" and in_loop and node.args and isinstance(func, ast.Attribute):
            target = func.value
            spawn = self._element(node, "", node.args[0], True, self._chunked(iterable))
            if spawn and isinstance(target, ast.Name) and _last_name(spawn.callee):
                scope.task_lists.setdefault(target.id, []).append(spawn)
            return []
        if not in_loop or not node.args:
            return []
        label = qualified or (f"{_last_name(func.value)}.{attr}" if isinstance(func, ast.Attribute) else "")
        if attr in _SPAWNERS or qualified in _WRAPPERS - {"asyncio.wait_for", "asyncio.shield"}:
            spawn = self._element(node, f"`{label}` {where}", node.args[0], True, self._chunked(iterable))
            return [spawn] if spawn else []
        if attr == "start_soon":
            return [Spawn(node, f"`{label}` {where}", node.args[0], tuple(node.args[1:]), node, True,
                          self._chunked(iterable))]  # fmt: skip
        return []


# ---------------------------------------------------------------------------------------


@dataclass
class _Function:
    qualname: str
    opens: list[ast.Call] = field(default_factory=list)
    calls: list[tuple[str, ast.Call]] = field(default_factory=list)
    bounded: bool = False  # acquires a semaphore
    yields: bool = False


class SessionPerTaskUnbounded(Rule):
    """
    ## What it flags
    A DB session opened (`async with AsyncSessionLocal() as session`, `factory.begin()`,
    `AsyncSession(engine)`, a session-yielding helper of the module) inside a coroutine
    that is started once per item of a collection and run concurrently —
    `asyncio.gather(*[work(x) for x in xs])`, `gather(*tasks)` with `tasks` built by a
    comprehension or a loop, `create_task` or `TaskGroup.create_task` in a loop,
    `asyncio.as_completed`/`asyncio.wait` — with nothing bounding the concurrency: no
    semaphore acquired in the coroutine, no slicing or batching of the collection. The
    coroutine is followed through `self.method` calls and functions of the same module;
    the finding is on the line that opens the session and names the fan-out site.

    ## Why it matters
    This is **not a leak** (the audit's wording): `async with` closes the session and
    returns its connection. The real risk is **pool exhaustion**. Every task holds a
    pooled connection from its first query until its session closes — including the
    slow LLM awaits in between — so 30 personas need 30 connections at once. Beyond
    `pool_size + max_overflow` (15 by default) the next checkout waits `pool_timeout`
    seconds (30 by default) and then raises `TimeoutError: QueuePool limit ... reached`,
    and every other request that needs the database stalls meanwhile.

    ## Fix
    No automatic fix: the right bound depends on the pool size and the workload. Acquire
    an `asyncio.Semaphore` sized well below `pool_size + max_overflow` in the coroutine
    (`async with self._db_slots:`), gather in fixed-size batches, or open the session
    only around the queries and not across the LLM call. Passing the caller's session
    into the tasks instead (the audit's "option 1") is a different bug: see SL602.

    ## See also
    - https://docs.sqlalchemy.org/en/20/core/pooling.html#sqlalchemy.pool.QueuePool
    - https://docs.python.org/3/library/asyncio-sync.html#asyncio.Semaphore
    - SL602 session-shared-across-tasks
    """

    meta = RuleMeta(
        code="SL601",
        name="session-per-task-unbounded",
        severity=Severity.CRITICAL,
        summary="DB session opened in each of an unbounded set of concurrent tasks; the pool can run dry.",
        audit="§3",
        tags=("database", "async"),
    )

    bad = (
        Bad(
            "import asyncio\n"
            "from app.db import AsyncSessionLocal\n"
            "\n"
            "async def answer(persona):\n"
            "    async with AsyncSessionLocal() as session:\n"
            "        context = await load_context(session, persona)\n"
            "        return await llm.ainvoke(context)\n"
            "\n"
            "async def answer_all(personas):\n"
            "    return await asyncio.gather(*[answer(p) for p in personas])\n",
            in_docs=True,
        ),
        Bad(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nclass Service:\n"
            "    async def _one(self, p):\n        async with AsyncSessionLocal() as s:\n            return await s.get(P, p)\n\n"
            "    async def all(self, ps):\n        tasks = [self._one(p) for p in ps]\n"
            "        return await asyncio.gather(*tasks, return_exceptions=True)\n"
        ),
        Bad(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import async_sessionmaker\n\nmaker = async_sessionmaker(engine)\n\n"
            "async def one(x):\n    async with maker.begin() as s:\n        await s.execute(q(x))\n\n"
            "async def run(xs):\n    async with asyncio.TaskGroup() as tg:\n        for x in xs:\n"
            "            tg.create_task(one(x))\n"
        ),
        Bad(
            "import asyncio\n\nasync def one(x):\n    session = async_session_factory()\n    try:\n"
            "        await session.execute(q(x))\n    finally:\n        await session.close()\n\n"
            "async def run(xs):\n    tasks = []\n    for x in xs:\n        tasks.append(asyncio.create_task(one(x)))\n"
            "    await asyncio.wait(tasks)\n"
        ),
        Bad(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\nasync def one(x):\n"
            "    async with AsyncSession(engine) as s:\n        await s.execute(q(x))\n\n"
            "async def run(xs):\n    for fut in asyncio.as_completed([one(x) for x in xs]):\n        await fut\n"
        ),
        Bad(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def _save(x):\n"
            "    async with AsyncSessionLocal() as s:\n        s.add(x)\n        await s.commit()\n\n"
            "async def handle(x):\n    reply = await llm(x)\n    await _save(reply)\n\n"
            "async def run(xs):\n    await asyncio.gather(*map(handle, xs))\n"
        ),
        Bad(
            "import asyncio\nfrom contextlib import asynccontextmanager\nfrom app.db import SessionLocal as AsyncSessionLocal\n\n"
            "async def run(xs):\n    async def one(x):\n        async with AsyncSessionLocal() as s:\n"
            "            await s.execute(q(x))\n    await asyncio.gather(*(one(x) for x in xs))\n"
        ),
        Bad(
            "import asyncio\n\nasync def one(x):\n    async with AsyncSessionLocal() as a:\n        await a.execute(q(x))\n"
            "    async with AsyncSessionLocal() as b:\n        await b.execute(q(x))\n\n"
            "async def run(xs):\n    await asyncio.gather(*[asyncio.wait_for(one(x), 30) for x in xs])\n",
            count=2,
        ),
    )

    good = (
        Good(
            "import asyncio\n"
            "from app.db import AsyncSessionLocal\n"
            "\n"
            "_db_slots = asyncio.Semaphore(5)\n"
            "\n"
            "async def answer(persona):\n"
            "    async with _db_slots, AsyncSessionLocal() as session:\n"
            "        return await load_context(session, persona)\n"
            "\n"
            "async def answer_all(personas):\n"
            "    return await asyncio.gather(*[answer(p) for p in personas])\n",
            in_docs=True,
        ),
        Good(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def one(x):\n"
            "    async with AsyncSessionLocal() as s:\n        await s.execute(q(x))\n\n"
            "async def run(xs):\n    for x in xs:\n        await one(x)\n"
        ),
        Good(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def one(x):\n"
            "    async with AsyncSessionLocal() as s:\n        await s.execute(q(x))\n\n"
            "async def run(xs):\n    for i in range(0, len(xs), 5):\n"
            "        await asyncio.gather(*[one(x) for x in xs[i:i + 5]])\n"
        ),
        Good(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def one(x):\n"
            "    async with AsyncSessionLocal() as s:\n        await s.execute(q(x))\n\n"
            "async def run(a, b):\n    await asyncio.gather(one(a), one(b))\n"
        ),
        Good(
            "import asyncio\n\nasync def one(x):\n    return await llm(x)\n\n"
            "async def run(xs):\n    await asyncio.gather(*[one(x) for x in xs])\n"
        ),
        Good(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def run(xs):\n"
            "    async with AsyncSessionLocal() as s:\n        await s.execute(q())\n"
            "    await asyncio.gather(*[llm(x) for x in xs])\n"
        ),
        Good(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def one(x, sem):\n    async with sem:\n"
            "        async with AsyncSessionLocal() as s:\n            await s.execute(q(x))\n\n"
            "async def run(xs):\n    sem = asyncio.Semaphore(4)\n    await asyncio.gather(*[one(x, sem) for x in xs])\n"
        ),
        Good(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def one(x):\n"
            "    async with AsyncSessionLocal() as s:\n        await s.execute(q(x))\n\n"
            "async def run(batches):\n    for batch in batches:\n        await asyncio.gather(*[one(x) for x in batch])\n"
        ),
        Good(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\ndef one(x):\n    return x\n\n"
            "async def run(xs):\n    async with AsyncSessionLocal() as s:\n"
            "        await asyncio.gather(*[s.refresh(one(x)) for x in xs])\n"
        ),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._fanouts = FanOuts(self.context)
        self._factories: set[str] = set()
        self._semaphores: set[str] = set()
        self._functions: dict[str, _Function] = {}
        self._stack: list[_Function | None] = []
        self._spawns: list[tuple[str, str, Spawn]] = []  # (caller, callee, spawn)

    def visit_Module(self, node: ast.Module) -> None:
        # Module-level imports are bound only once the walk starts.
        self._factories = session_factories(self.context)

    # -- scopes ----------------------------------------------------------------------

    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef) -> None:
        scope = self._fanouts.enter(node)
        if isinstance(node, ast.ClassDef):
            return
        info = _Function(scope.qualname)
        self._functions.setdefault(scope.qualname, info)
        self._stack.append(info)

    def _leave(self, node: ast.AST) -> None:
        self._fanouts.leave()
        if not isinstance(node, ast.ClassDef):
            self._stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = _enter
    leave_FunctionDef = leave_AsyncFunctionDef = leave_Lambda = leave_ClassDef = _leave

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        self._fanouts.enter_loop(node)

    def _end_loop(self, node: ast.AST) -> None:
        self._fanouts.leave_loop()

    visit_For = visit_AsyncFor = visit_While = _loop
    leave_For = leave_AsyncFor = leave_While = _end_loop

    def _comp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        self._fanouts.enter_comp(node)

    def _end_comp(self, node: ast.AST) -> None:
        self._fanouts.leave_comp()

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comp
    leave_ListComp = leave_SetComp = leave_GeneratorExp = leave_DictComp = _end_comp

    # -- facts -------------------------------------------------------------------------

    @property
    def _current(self) -> _Function | None:
        return self._stack[-1] if self._stack else None

    def _is_semaphore(self, expr: ast.expr) -> bool:
        target = expr.func if isinstance(expr, ast.Call) else expr
        if isinstance(expr, ast.Call) and self.context.qualified_name(expr.func) in _SEMAPHORES:
            return True
        name = _last_name(target)
        return bool(name) and (name in self._semaphores or bool(_SEM_NAME.search(name)))

    def visit_Assign(self, node: ast.Assign) -> None:
        if isinstance(node.value, ast.Call) and self.context.qualified_name(node.value.func) in _SEMAPHORES:
            self._semaphores.update(_last_name(t) for t in node.targets)
        self._fanouts.assign(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        current = self._current
        if current is not None and any(self._is_semaphore(item.context_expr) for item in node.items):
            current.bounded = True

    def _yield(self, node: ast.AST) -> None:
        if self._current is not None:
            self._current.yields = True

    visit_Yield = visit_YieldFrom = _yield

    def visit_Call(self, node: ast.Call) -> None:
        current = self._current
        if current is None:
            return
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "acquire" and self._is_semaphore(func.value):
            current.bounded = True
        if opens_session(node, self.context, self._factories):
            current.opens.append(node)
        callee = self._fanouts.resolve(func)
        if callee is not None:
            current.calls.append((callee, node))
        for spawn in self._fanouts.call(node):
            target = self._fanouts.resolve(spawn.callee)
            if spawn.many and not spawn.bounded and target is not None:
                self._spawns.append((current.qualname, target, spawn))

    # -- decision ------------------------------------------------------------------------

    def _open_sites(self, qualname: str, seen: set[str]) -> list[tuple[ast.Call, str]]:
        """(session-opening call, its function) reached from ``qualname`` with no semaphore on the way."""
        info = self._functions.get(qualname)
        if info is None or qualname in seen or info.bounded:
            return []
        seen.add(qualname)
        sites = [(call, qualname) for call in info.opens]
        for callee, call in info.calls:
            helper = self._functions.get(callee)
            if helper is not None and helper.yields and helper.opens and not helper.bounded:
                sites.append((call, qualname))  # a session-yielding helper opens the session at its call
            else:
                sites += self._open_sites(callee, seen)
        return sites

    def end_module(self) -> None:
        by_site: dict[int, tuple[ast.Call, str, list[tuple[str, str, Spawn]]]] = {}
        for caller, callee, spawn in self._spawns:
            for site, owner in self._open_sites(callee, set()):
                by_site.setdefault(id(site), (site, owner, []))[2].append((caller, callee, spawn))
        for site, owner, fanouts in by_site.values():
            caller, callee, spawn = fanouts[0]
            others = len({id(s.element) for _, _, s in fanouts}) - 1
            more = f" (and {others} more fan-out site{'s' if others > 1 else ''})" if others else ""
            via = f" (reached from `{_short(callee)}`)" if owner != callee else ""
            self.report(
                site,
                f"DB session opened in `{_short(owner)}`{via}, which `{_short(caller)}` runs once per item with "
                f"{spawn.how} (line {spawn.site.lineno}){more} and no concurrency bound: every task holds a "
                "pooled connection at the same time and a large collection exhausts the pool; acquire an "
                "`asyncio.Semaphore` sized below the pool, or batch.",
            )


def _short(qualname: str) -> str:
    return qualname.replace(".<locals>", "")
