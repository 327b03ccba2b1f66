from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sightlint.models import Finding
from sightlint.project.deadline_fix import asyncio_import, fresh_name
from sightlint.project.model import is_test_path
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.fanout import (
    SEMAPHORE_NAME,
    SEMAPHORES,
    FanOutTracking,
    Spawn,
    last_name,
    may_fan_out,
    may_open_session,
    opens_session,
    shared_fanouts,
)

if TYPE_CHECKING:
    import libcst as cst

# SQLAlchemy's QueuePool (and AsyncAdaptedQueuePool, an AsyncEngine's default) keeps
# pool_size=5 connections, plus max_overflow=10 (sqlalchemy 2.0.58, pool/impl.py).
_DEFAULT_SLOTS = 4
_SLOT_NAMES = ("_db_slots", "_session_slots", "_db_session_slots")


@dataclass(frozen=True)
class SessionSlotsOptions:
    """SL601's settings."""

    max_concurrent_sessions: int = _DEFAULT_SLOTS
    """How many sessions the fix lets the tasks hold at once (the semaphore's size): below
    the engine's `pool_size` (SQLAlchemy's default 5), so the rest of the application
    keeps a connection."""

    tests: bool = False
    """Report fan-outs in test code too (`test_*.py`, `*_test.py`, a `tests/` folder,
    `conftest.py`), as low."""

    def __post_init__(self) -> None:
        if self.max_concurrent_sessions < 1:
            raise ValueError(f"max-concurrent-sessions: expected a positive number, got {self.max_concurrent_sessions!r}")


@dataclass
class _Function:
    qualname: str
    opens: list[ast.Call] = field(default_factory=list)
    calls: list[tuple[str, ast.Call]] = field(default_factory=list)
    bounded: bool = False  # acquires a semaphore
    yields: bool = False


class SessionPerTaskUnbounded(FanOutTracking, Rule):
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
    Unsafe (`--unsafe-fixes`): bounds how many of the tasks hold a session at once with
    an `asyncio.Semaphore`, entered in the same `async with` as the session:
    `async with _db_slots, AsyncSessionLocal() as session:`, with
    `_db_slots = asyncio.Semaphore(4)` after the module's imports (a name nothing in
    the module uses; `import asyncio` added in the standard-library group when missing).
    The size is the option `max-concurrent-sessions`, default 4: one below SQLAlchemy's
    default `pool_size` of 5 (`QueuePool`, and `AsyncAdaptedQueuePool`, which an
    `AsyncEngine` uses; sqlalchemy 2.0.58 `pool/impl.py`), so other requests keep a
    pooled connection; set it below your engine's `pool_size`.

    The tasks still run concurrently; only their sessions wait for a slot, so the
    connections held at once never exceed the bound. It is unsafe because it changes
    timing: a task now waits for a slot (a fan-out of 30 takes about 30/4 session
    lifetimes), and the semaphore is shared by every call of the function in the process
    (that is what keeps the pool from running dry when several requests fan out at once).
    Like every asyncio primitive it binds to the event loop that first waits on it, so a
    process that runs several loops (a test suite with a loop per test) should create it
    per loop. The semaphore is not a local created before the `gather` because the fix
    edits the statement that opens the session; the tasks are not handed the caller's
    session instead (the audit's "option 1" is SL602). No fix where the session is not
    opened by an `async with` (`session = factory()` ... `close()`), nor in test files
    (their concurrency is often what they test).

    ## Options
    In production code the finding is critical. Test code (`test_*.py`, `*_test.py`, a
    `tests/` folder, `conftest.py`) serves no requests: a concurrency test that gathers
    ten sessions on purpose to provoke a race exhausts nothing but the test database's
    pool, so it is not reported unless `tests = true`, and then as low, as SL101
    treats tests:

    ```toml
    [tool.sightlint.rules.session-per-task-unbounded]
    tests = true
    ```

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
        fix=FixSafety.UNSAFE,
        fix_title="Bound the concurrent sessions with an `asyncio.Semaphore`",
        tags=("database", "async"),
    )
    Options = SessionSlotsOptions
    fix_node = "Call"
    wants_fix_ancestors = True

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
            fixed='import asyncio\nfrom app.db import AsyncSessionLocal\n\n_db_slots = asyncio.Semaphore(4)\n\n\nasync def answer(persona):\n    async with _db_slots, AsyncSessionLocal() as session:\n        context = await load_context(session, persona)\n        return await llm.ainvoke(context)\n\nasync def answer_all(personas):\n    return await asyncio.gather(*[answer(p) for p in personas])\n',
            in_docs=True,
        ),
        Bad(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nclass Service:\n"
            "    async def _one(self, p):\n        async with AsyncSessionLocal() as s:\n            return await s.get(P, p)\n\n"
            "    async def all(self, ps):\n        tasks = [self._one(p) for p in ps]\n"
            "        return await asyncio.gather(*tasks, return_exceptions=True)\n",
            fixed='import asyncio\nfrom app.db import AsyncSessionLocal\n\n_db_slots = asyncio.Semaphore(4)\n\n\nclass Service:\n    async def _one(self, p):\n        async with _db_slots, AsyncSessionLocal() as s:\n            return await s.get(P, p)\n\n    async def all(self, ps):\n        tasks = [self._one(p) for p in ps]\n        return await asyncio.gather(*tasks, return_exceptions=True)\n',
        ),
        Bad(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import async_sessionmaker\n\nmaker = async_sessionmaker(engine)\n\n"
            "async def one(x):\n    async with maker.begin() as s:\n        await s.execute(q(x))\n\n"
            "async def run(xs):\n    async with asyncio.TaskGroup() as tg:\n        for x in xs:\n"
            "            tg.create_task(one(x))\n",
            fixed='import asyncio\nfrom sqlalchemy.ext.asyncio import async_sessionmaker\n\n_db_slots = asyncio.Semaphore(4)\n\nmaker = async_sessionmaker(engine)\n\nasync def one(x):\n    async with _db_slots, maker.begin() as s:\n        await s.execute(q(x))\n\nasync def run(xs):\n    async with asyncio.TaskGroup() as tg:\n        for x in xs:\n            tg.create_task(one(x))\n',
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
            "async def run(xs):\n    for fut in asyncio.as_completed([one(x) for x in xs]):\n        await fut\n",
            fixed='import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\n_db_slots = asyncio.Semaphore(4)\n\n\nasync def one(x):\n    async with _db_slots, AsyncSession(engine) as s:\n        await s.execute(q(x))\n\nasync def run(xs):\n    for fut in asyncio.as_completed([one(x) for x in xs]):\n        await fut\n',
        ),
        Bad(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def _save(x):\n"
            "    async with AsyncSessionLocal() as s:\n        s.add(x)\n        await s.commit()\n\n"
            "async def handle(x):\n    reply = await llm(x)\n    await _save(reply)\n\n"
            "async def run(xs):\n    await asyncio.gather(*map(handle, xs))\n",
            fixed='import asyncio\nfrom app.db import AsyncSessionLocal\n\n_db_slots = asyncio.Semaphore(4)\n\n\nasync def _save(x):\n    async with _db_slots, AsyncSessionLocal() as s:\n        s.add(x)\n        await s.commit()\n\nasync def handle(x):\n    reply = await llm(x)\n    await _save(reply)\n\nasync def run(xs):\n    await asyncio.gather(*map(handle, xs))\n',
        ),
        Bad(
            "import asyncio\nfrom contextlib import asynccontextmanager\nfrom app.db import SessionLocal as AsyncSessionLocal\n\n"
            "async def run(xs):\n    async def one(x):\n        async with AsyncSessionLocal() as s:\n"
            "            await s.execute(q(x))\n    await asyncio.gather(*(one(x) for x in xs))\n",
            fixed='import asyncio\nfrom contextlib import asynccontextmanager\nfrom app.db import SessionLocal as AsyncSessionLocal\n\n_db_slots = asyncio.Semaphore(4)\n\n\nasync def run(xs):\n    async def one(x):\n        async with _db_slots, AsyncSessionLocal() as s:\n            await s.execute(q(x))\n    await asyncio.gather(*(one(x) for x in xs))\n',
        ),
        Bad(
            "import asyncio\n\nasync def one(x):\n    async with AsyncSessionLocal() as a:\n        await a.execute(q(x))\n"
            "    async with AsyncSessionLocal() as b:\n        await b.execute(q(x))\n\n"
            "async def run(xs):\n    await asyncio.gather(*[asyncio.wait_for(one(x), 30) for x in xs])\n",
            fixed='import asyncio\n\n_db_slots = asyncio.Semaphore(4)\n\n\nasync def one(x):\n    async with _db_slots, AsyncSessionLocal() as a:\n        await a.execute(q(x))\n    async with _db_slots, AsyncSessionLocal() as b:\n        await b.execute(q(x))\n\nasync def run(xs):\n    await asyncio.gather(*[asyncio.wait_for(one(x), 30) for x in xs])\n',
            count=2,
        ),
    )

    good = (
        Good(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def _attempt(x):\n"
            "    async with AsyncSessionLocal() as s:\n        await s.execute(q(x))\n\n"
            "async def test_limit_holds_under_concurrency():\n"
            "    await asyncio.gather(*[_attempt(i) for i in range(10)])\n",
            path="tests/license_key/test_service.py",
        ),
        Good(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def _attempt(x):\n"
            "    async with AsyncSessionLocal() as s:\n        await s.execute(q(x))\n\n"
            "async def many(xs):\n    await asyncio.gather(*[_attempt(x) for x in xs])\n",
            path="conftest.py",
        ),
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

    @classmethod
    def may_report(cls, text: str) -> bool:
        # Every finding is a session-opening call (`opens_session`; `_open_sites` collects
        # only those) reached from a fan-out site (`FanOuts.call`): see `may_open_session`
        # and `may_fan_out`.
        return may_open_session(text) and may_fan_out(text)  # the cheaper test first

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._fanouts = shared_fanouts(self.context)
        self._factories: set[str] = set()
        self._semaphores: set[str] = set()
        self._functions: dict[str, _Function] = {}
        self._stack: list[_Function | None] = []
        self._spawns: list[tuple[str, str, Spawn]] = []  # (caller, callee, spawn)
        self._with_of: dict[int, ast.AsyncWith] = {}  # id of an `async with` item's call -> the statement

    # -- scopes ----------------------------------------------------------------------

    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef) -> None:
        scope = self._fanouts.enter(node)
        if isinstance(node, ast.ClassDef):
            return
        info = _Function(scope.qualname)
        self._functions.setdefault(scope.qualname, info)
        self._stack.append(info)

    def _leave(self, node: ast.AST) -> None:
        self._fanouts.leave(node)
        if not isinstance(node, ast.ClassDef):
            self._stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = _enter
    leave_FunctionDef = leave_AsyncFunctionDef = leave_Lambda = leave_ClassDef = _leave

    # -- facts -------------------------------------------------------------------------

    @property
    def _current(self) -> _Function | None:
        return self._stack[-1] if self._stack else None

    def _is_semaphore(self, expr: ast.expr) -> bool:
        target = expr.func if isinstance(expr, ast.Call) else expr
        if isinstance(expr, ast.Call) and self.context.qualified_name(expr.func) in SEMAPHORES:
            return True
        name = last_name(target)
        return bool(name) and (name in self._semaphores or bool(SEMAPHORE_NAME.search(name)))

    def visit_Assign(self, node: ast.Assign) -> None:
        if isinstance(node.value, ast.Call) and self.context.qualified_name(node.value.func) in SEMAPHORES:
            self._semaphores.update(last_name(t) for t in node.targets)
        self._fanouts.assign(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        for item in node.items:
            self._with_of[id(item.context_expr)] = node
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
        path = self.context.path.replace("\\", "/")
        in_tests = is_test_path(path) or path.rpartition("/")[2] == "conftest.py"
        if in_tests and not self.options.tests:
            return  # test code serves no requests: reported only when configured
        severity = Severity.LOW if in_tests else None
        by_site: dict[int, tuple[ast.Call, str, list[tuple[str, str, Spawn]]]] = {}
        # The fix gives each `async with` session a slot: where one task may hold a slot
        # while it opens another session (nested, or in another function), tasks could all
        # wait for a second slot and deadlock. Such sites get no fix.
        unfixable: set[int] = set()
        for caller, callee, spawn in self._spawns:
            sites = self._open_sites(callee, set())
            for site, owner in sites:
                by_site.setdefault(id(site), (site, owner, []))[2].append((caller, callee, spawn))
            held = [s for s, _ in sites if id(s) in self._with_of]
            if len({owner for _, owner in sites}) > 1 or any(
                a is not b and self._inside(b, self._with_of[id(a)]) for a in held for b in held
            ):
                unfixable.update(id(s) for s, _ in sites)
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
                fixable=not is_test_path(self.context.path) and id(site) in self._with_of and id(site) not in unfixable,
                severity=severity,
            )


    @staticmethod
    def _inside(node: ast.AST, block: ast.AsyncWith) -> bool:
        """True if ``node`` is in ``block``'s body."""
        first, last = block.body[0].lineno, block.end_lineno or block.lineno
        return first <= getattr(node, "lineno", 0) <= last

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """``async with _db_slots, <session> as s:`` with a module-level semaphore (see the Fix section)."""
        import libcst as cst

        ancestors = self.fix_ancestors
        if is_test_path(self.context.path) or len(ancestors) < 2:
            return None
        item, block = ancestors[-1], ancestors[-2]
        if not isinstance(item, cst.WithItem) or item.item is not node or not isinstance(block, cst.With) or block.asynchronous is None:
            return None
        line, col = finding.span.line, finding.span.col
        imports = asyncio_import(self.context, line, col)
        name = fresh_name(self.context, _SLOT_NAMES, line, col, module_level=True)
        if imports is None or name is None:
            return None
        slot = cst.WithItem(item=cst.Name(name), comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        size = self.options.max_concurrent_sessions
        return Fix(
            replacement=block.with_changes(items=[slot, *block.items]),
            imports=imports,
            module_statements=((name, f"{name} = asyncio.Semaphore({size})"),),
            target=block,
        )


def _short(qualname: str) -> str:
    return qualname.replace(".<locals>", "")
