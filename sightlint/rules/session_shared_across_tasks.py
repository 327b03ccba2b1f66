from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeGuard

from sightlint.rules.base import Bad, Good, Rule, RuleMeta, Severity
from sightlint.semantics.fastapi import depends_call

# The session vocabulary and the fan-out finder are shared with SL601.
from sightlint.semantics.fanout import (
    FanOutTracking,
    Spawn,
    may_fan_out,
    may_open_session,
    opens_session,
    shared_fanouts,
)

if TYPE_CHECKING:
    from sightlint.semantics.scope import Context

_SESSION_DEPENDENCY = re.compile(r"^get_(async_)?(db|session|db_session)$")


def _is_session_annotation(node: ast.expr | None) -> bool:
    """``AsyncSession``, ``sqlalchemy.ext.asyncio.AsyncSession``, ``AsyncSession | None``, ``Annotated[AsyncSession, ...]``."""
    if node is None:
        return False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.strip() == "AsyncSession"
    if isinstance(node, ast.Name):
        return node.id == "AsyncSession"
    if isinstance(node, ast.Attribute):
        return node.attr == "AsyncSession"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _is_session_annotation(node.left) or _is_session_annotation(node.right)
    if isinstance(node, ast.Subscript):
        base = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        if base in ("Annotated", "Optional"):
            first = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
            return _is_session_annotation(first)
    return False


def _is_session_dependency(default: ast.expr | None, context: Context) -> bool:
    """``Depends(get_db)`` as a parameter default (FastAPI's ``Depends`` through the shared model)."""
    dependency = depends_call(default, context) if default is not None else None
    return dependency is not None and bool(_SESSION_DEPENDENCY.match(dependency.target))


@dataclass
class _Frame:
    qualname: str
    sessions: set[str] = field(default_factory=set)  # session variables bound in this function
    params: set[str] = field(default_factory=set)
    captures: set[str] = field(default_factory=set)  # sessions of enclosing functions it reads
    self_attrs: set[str] = field(default_factory=set)  # ``self.<attr>`` it reads
    self_calls: set[str] = field(default_factory=set)  # qualnames of ``self.<method>()`` it calls


@dataclass
class _Site:
    """A fan-out call, decided at the end of the module (methods may be defined later)."""

    node: ast.Call
    spawns: list[tuple[Spawn, set[str], str | None, str | None]]  # spawn, sessions, callee, class


class SessionSharedAcrossTasks(FanOutTracking, Rule):
    """
    ## What it flags
    One `AsyncSession` object used by two or more coroutines that run at the same time:
    a session (a parameter annotated `AsyncSession`, `db = Depends(get_db)`, or
    `async with AsyncSessionLocal() as session`) passed as an argument to coroutines that
    are gathered, `create_task`ed or started in a `TaskGroup` — once per item of a
    collection, or twice in one `gather` — or read by a nested function,
    `functools.partial` or lambda that is fanned out, or read as `self.db` by methods that
    are gathered (`self.db` assigned from an `AsyncSession` parameter, or annotated so).
    The finding is on the `gather`/`create_task` call. Awaiting the same session sequentially in a loop, handing out the session
    *factory*, and tasks that each open their own session (SL601's concern) are fine.

    ## Why it matters
    SQLAlchemy: "a single instance of AsyncSession is not safe for use in multiple,
    concurrent tasks". A session has one connection and one transaction state; two
    tasks interleaving on it fail with `InvalidRequestError`/`IllegalStateChangeError`
    ("This session is provisioning a new connection; concurrent operations are not
    permitted", asyncpg's "another operation is in progress"), or worse, mix their
    flushes and commits into each other's transaction. The failures depend on timing,
    so they pass in tests with one item and break in production.

    The audit's "option 1" for §3 — pass the request's `db` session into every
    `_get_persona_response` task that `asyncio.gather` runs — creates exactly this bug.

    ## Fix
    No automatic fix. Give each concurrent task its own session from the session
    factory (and bound how many run at once: see SL601), or do the database work
    sequentially before or after the concurrent part (gather the LLM calls, then write
    the results with the one session).

    Why not automatically: both remedies change what the code means. A session per task
    splits one unit of work into several transactions (each task commits or rolls back
    on its own; a failure no longer undoes the others), objects loaded in the shared
    session are not attached to the new ones (lazy loads raise `DetachedInstanceError`
    or `MissingGreenlet`), the tasks no longer see each other's uncommitted writes, and
    each takes a pool connection (SL601). Running the work sequentially gives up the
    concurrency the `gather` was written for. Which is right depends on whether the
    tasks write and what must be atomic, which the code does not say.

    ## See also
    - https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#using-asyncsession-with-concurrent-tasks
    - SL601 session-per-task-unbounded
    """

    meta = RuleMeta(
        code="SL602",
        name="session-shared-across-tasks",
        severity=Severity.CRITICAL,
        summary="One AsyncSession is used by concurrently running tasks; AsyncSession is not concurrency-safe.",
        audit="§3",
        tags=("database", "async"),
    )

    bad = (
        Bad(
            "import asyncio\n"
            "from sqlalchemy.ext.asyncio import AsyncSession\n"
            "\n"
            "async def answer(db: AsyncSession, persona):\n"
            "    context = await load_context(db, persona)\n"
            "    return await llm.ainvoke(context)\n"
            "\n"
            "async def answer_all(db: AsyncSession, personas):\n"
            "    return await asyncio.gather(*[answer(db, p) for p in personas])\n",
            in_docs=True,
        ),
        Bad(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def run(xs):\n"
            "    async with AsyncSessionLocal() as session:\n"
            "        tasks = [save(x, session=session) for x in xs]\n        await asyncio.gather(*tasks)\n"
        ),
        Bad(
            "import asyncio\nfrom fastapi import Depends\n\nasync def endpoint(ids, db=Depends(get_db)):\n"
            "    async with asyncio.TaskGroup() as tg:\n        for i in ids:\n            tg.create_task(load(db, i))\n"
        ),
        Bad(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\n"
            "async def stats(db: AsyncSession):\n    return await asyncio.gather(count_users(db), count_orders(db))\n"
        ),
        Bad(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\nasync def run(db: AsyncSession, xs):\n"
            "    async def one(x):\n        await db.execute(q(x))\n\n    await asyncio.gather(*(one(x) for x in xs))\n"
        ),
        Bad(
            "import asyncio\nfrom functools import partial\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\n"
            "async def run(db: AsyncSession, xs):\n    await asyncio.gather(*map(partial(store, db), xs))\n"
        ),
        Bad(
            "import asyncio\nfrom typing import Annotated\nfrom fastapi import Depends\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\n"
            "class Service:\n    async def run(self, db: Annotated[AsyncSession, Depends(get_db)], xs):\n"
            "        tasks = []\n        for x in xs:\n            tasks.append(asyncio.create_task(self._one(db, x)))\n"
            "        return await asyncio.gather(*tasks)\n"
        ),
        Bad(
            "import asyncio\n\nasync def run(xs):\n    session = AsyncSessionLocal()\n"
            "    for fut in asyncio.as_completed([fetch(session, x) for x in xs]):\n        await fut\n"
        ),
        Bad(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\n"
            "async def run(db: 'AsyncSession', xs):\n    await asyncio.wait([asyncio.ensure_future(f(db, x)) for x in xs])\n"
        ),
        Bad(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\nclass Details:\n"
            "    def __init__(self, db: AsyncSession):\n        self.db = db\n\n"
            "    async def view(self, pid):\n        return await asyncio.gather(self._audit(pid), self._brief(pid))\n\n"
            "    async def _audit(self, pid):\n        return await self.db.execute(audit_q(pid))\n\n"
            "    async def _brief(self, pid):\n        return await self._load(pid)\n\n"
            "    async def _load(self, pid):\n        return await BriefService(self.db).get(pid)\n"
        ),
    )

    good = (
        Good(
            "import asyncio\n"
            "from sqlalchemy.ext.asyncio import async_sessionmaker\n"
            "from app.db import create_async_sessionmaker\n"
            "\n"
            "async def attempt(factory, i):\n"
            "    async with factory() as session:\n"
            "        await session.execute(i)\n"
            "\n"
            "async def race(engine):\n"
            "    factory = create_async_sessionmaker(engine)\n"
            "    other = async_sessionmaker(engine)\n"
            "    async with factory() as setup:\n"
            "        await setup.commit()\n"
            "    await asyncio.gather(*(attempt(factory, i) for i in range(4)))\n"
            "    await asyncio.gather(attempt(other, 1), attempt(other, 2))\n"
        ),
        Good(
            "import asyncio\n"
            "from app.db import AsyncSessionLocal\n"
            "\n"
            "async def answer(persona):\n"
            "    async with AsyncSessionLocal() as db:\n"
            "        return await load_context(db, persona)\n"
            "\n"
            "async def answer_all(personas):\n"
            "    return await asyncio.gather(*[answer(p) for p in personas])\n",
            in_docs=True,
        ),
        Good(
            "from sqlalchemy.ext.asyncio import AsyncSession\n\nasync def run(db: AsyncSession, xs):\n"
            "    for x in xs:\n        await save(db, x)\n"
        ),
        Good(
            "import asyncio\nfrom app.db import AsyncSessionLocal\n\nasync def run(xs):\n"
            "    await asyncio.gather(*[save(AsyncSessionLocal, x) for x in xs])\n"
        ),
        Good(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker\n\n"
            "async def run(factory: async_sessionmaker[AsyncSession], xs):\n"
            "    await asyncio.gather(*[save(factory, x) for x in xs])\n"
        ),
        Good(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\nasync def run(db: AsyncSession, xs):\n"
            "    answers = await asyncio.gather(*[llm(x) for x in xs])\n    for a in answers:\n        db.add(a)\n"
            "    await db.commit()\n"
        ),
        Good(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\nasync def run(db: AsyncSession, x):\n"
            "    await asyncio.gather(save(db, x), notify(x))\n"
        ),
        Good(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\nasync def run(db: AsyncSession, xs):\n"
            "    async def one(db, x):\n        await db.execute(q(x))\n\n"
            "    await asyncio.gather(*[one(AsyncSessionLocal(), x) for x in xs])\n"
        ),
        Good(
            "import asyncio\n\nasync def run(sessions, xs):\n    await asyncio.gather(*[save(s, x) for s, x in zip(sessions, xs)])\n"
        ),
        Good(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\nasync def run(db: AsyncSession, xs):\n"
            "    task = asyncio.create_task(audit(db))\n    await task\n"
        ),
        Good(
            "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\nclass Details:\n"
            "    def __init__(self, db: AsyncSession, llm):\n        self.db = db\n        self.llm = llm\n\n"
            "    async def view(self, pid):\n        return await asyncio.gather(self._audit(pid), self._summary(pid))\n\n"
            "    async def _audit(self, pid):\n        return await self.db.execute(audit_q(pid))\n\n"
            "    async def _summary(self, pid):\n        return await self.llm.ainvoke(pid)\n"
        ),
    )

    # A name is read as a captured session only inside a function entered while a function
    # around it held a session variable.
    switched = frozenset(("visit_Name",))

    @classmethod
    def may_report(cls, text: str) -> bool:
        # Every finding is a fan-out site (`FanOuts.call`, see `may_fan_out`) handing on a
        # session variable. A name or `self` attribute is a session only when annotated
        # `AsyncSession`, bound to a session-opening call (`opens_session`) or to another
        # session, or a parameter defaulting to `Depends(get_db)` (`_SESSION_DEPENDENCY`:
        # the dependency as written is `get_db`, `get_async_db` or holds `session`).
        # `AsyncSession` holds `session` too (see `may_open_session`).
        return (may_open_session(text) or "get_db" in text or "get_async_db" in text) and may_fan_out(text)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._fanouts = shared_fanouts(self.context)
        self._factories: set[str] = set()
        self._frames: list[_Frame] = []
        self._functions: dict[str, _Frame] = {}
        self._session_attrs: dict[str, set[str]] = {}  # class qualname -> attributes holding a session
        self._sites: list[_Site] = []

    # -- scopes ----------------------------------------------------------------------

    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef) -> None:
        scope = self._fanouts.enter(node)
        if isinstance(node, ast.ClassDef):
            return
        frame = _Frame(scope.qualname)
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        pairs = [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]
        for arg, default in pairs:
            frame.params.add(arg.arg)
            if _is_session_annotation(arg.annotation) or _is_session_dependency(default, self.context):
                frame.sessions.add(arg.arg)
        self._frames.append(frame)
        self._functions.setdefault(scope.qualname, frame)
        # A session is bound in the innermost frame: it becomes one an inner function can
        # capture (``visit_Name``) only when a frame is entered above it.
        if len(self._frames) > 1 and any(outer.sessions for outer in self._frames[:-1]):
            self.switch_on("visit_Name")

    def _leave(self, node: ast.AST) -> None:
        self._fanouts.leave(node)
        if not isinstance(node, ast.ClassDef):
            self._frames.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = _enter
    leave_FunctionDef = leave_AsyncFunctionDef = leave_Lambda = leave_ClassDef = _leave

    # -- session variables -------------------------------------------------------------

    def _session_owner(self, name: str) -> int | None:
        """Index of the frame whose session variable ``name`` is, if the name is a session here."""
        for index in range(len(self._frames) - 1, -1, -1):
            frame = self._frames[index]
            if name in frame.sessions:
                return index
            if name in frame.params:
                return None  # shadowed by a parameter of an inner function
        return None

    def _is_session_value(self, value: ast.expr) -> bool:
        if isinstance(value, ast.Name):
            return self._session_owner(value.id) is not None
        return isinstance(value, ast.Call) and opens_session(value, self.context, self._factories)

    def _bind(self, target: ast.expr, value: ast.expr | None, annotation: ast.expr | None = None) -> None:
        is_session = _is_session_annotation(annotation) or (value is not None and self._is_session_value(value))
        if _is_self_attr(target):
            owner = self._fanouts.class_qualname
            if owner is not None and is_session:
                self._session_attrs.setdefault(owner, set()).add(target.attr)
            return
        if not self._frames or not isinstance(target, ast.Name):
            return
        frame = self._frames[-1]
        if is_session:
            frame.sessions.add(target.id)
        else:
            frame.sessions.discard(target.id)
            frame.params.add(target.id)  # a local rebinding shadows outer sessions

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._bind(target, node.value)
        self._fanouts.assign(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name) and self._fanouts.function is None:
            owner = self._fanouts.class_qualname  # ``db: AsyncSession`` in a class body
            if owner is not None and _is_session_annotation(node.annotation):
                self._session_attrs.setdefault(owner, set()).add(node.target.id)
            return
        self._bind(node.target, node.value, node.annotation)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self._frames and isinstance(node.ctx, ast.Load) and _is_self_attr(node):
            self._frames[-1].self_attrs.add(node.attr)

    def _with(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._bind(item.optional_vars, item.context_expr)

    visit_With = visit_AsyncWith = _with

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and len(self._frames) > 1:
            owner = self._session_owner(node.id)
            if owner is not None and owner < len(self._frames) - 1:
                for frame in self._frames[owner + 1 :]:
                    frame.captures.add(node.id)

    # -- fan-out -------------------------------------------------------------------------

    def _shared_now(self, spawn: Spawn) -> set[str]:
        """Session variables the spawned coroutine receives as arguments or captures."""
        names = {a.id for a in spawn.args if isinstance(a, ast.Name) and self._session_owner(a.id) is not None}
        names |= {f"self.{a.attr}" for a in spawn.args if _is_self_attr(a)}  # checked at the end
        target = self._fanouts.resolve(spawn.callee)
        if target is not None and target in self._functions:
            names |= self._functions[target].captures
        if isinstance(spawn.callee, ast.Lambda):
            body = ast.walk(spawn.callee.body)
            names |= {n.id for n in body if isinstance(n, ast.Name) and self._session_owner(n.id) is not None}
        return names

    def visit_Call(self, node: ast.Call) -> None:
        if self._frames and _is_self_attr(node.func):
            target = self._fanouts.resolve(node.func)
            if target is not None:
                self._frames[-1].self_calls.add(target)
        spawns = self._fanouts.call(node)
        if spawns:
            owner = self._fanouts.class_qualname
            entries = [(sp, self._shared_now(sp), self._fanouts.resolve(sp.callee), owner) for sp in spawns]
            self._sites.append(_Site(node, entries))

    def _self_sessions(self, qualname: str, owner: str, seen: set[str]) -> set[str]:
        """``self.<session>`` attributes a method reads, itself or through other ``self`` methods."""
        frame = self._functions.get(qualname)
        if frame is None or qualname in seen:
            return set()
        seen.add(qualname)
        attrs = self._session_attrs.get(owner, set())
        found = {f"self.{a}" for a in frame.self_attrs & attrs}
        for callee in frame.self_calls:
            found |= self._self_sessions(callee, owner, seen)
        return found

    def end_module(self) -> None:
        reported: set[int] = set()
        for site in self._sites:
            uses: dict[str, list[Spawn]] = {}
            for spawn, names, callee, owner in site.spawns:
                if id(spawn.element) in reported:
                    continue
                attrs = self._session_attrs.get(owner or "", set())
                found = {n for n in names if not n.startswith("self.") or n[5:] in attrs}
                if callee is not None and owner is not None and callee.startswith(f"{owner}."):
                    found |= self._self_sessions(callee, owner, set())
                for name in found:
                    uses.setdefault(name, []).append(spawn)
            for name, users in sorted(uses.items()):
                if any(s.many for s in users) or len(users) >= 2:
                    how = users[0].how if users[0].many else f"{len(users)} coroutines in one `asyncio.gather`"
                    reported.update(id(s.element) for s in users)
                    self.report(
                        site.node,
                        f"AsyncSession `{name}` is shared by concurrently running tasks ({how}): an AsyncSession "
                        "is not safe for concurrent use; give each task its own session from the factory, or do "
                        "the database work sequentially.",
                    )
                    break


def _is_self_attr(node: ast.expr) -> TypeGuard[ast.Attribute]:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
