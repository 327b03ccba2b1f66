from __future__ import annotations

import ast
from dataclasses import dataclass, field

from sightlint.rules.base import Bad, Good, Rule, RuleMeta, Severity

# Constructors whose result is a lock, whatever the variable is called.
_LOCK_TYPES = {
    "threading.Lock",
    "threading.RLock",
    "threading.Condition",
    "asyncio.Lock",
    "asyncio.Condition",
    "anyio.Lock",
    "multiprocessing.Lock",
    "multiprocessing.RLock",
}
_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class _Check:
    """An ``if`` that tests whether ``key`` is still unset."""

    key: str
    node: ast.If
    init_in_body: bool  # False: the unset branch is ``else`` (or what follows an early return)
    body_end: int
    awaits: int
    locks: frozenset[int]  # ids of the lock blocks open at the check


@dataclass
class _Frame:
    """Per-function state; lambdas get an inert frame so the stack mirrors the nesting."""

    node: _FunctionNode | None
    is_async: bool = False
    globals: set[str] = field(default_factory=set)
    class_name: str | None = None
    cls_names: set[str] = field(default_factory=set)
    awaits: int = 0
    blocks: list[tuple[ast.AST, _Check | None]] = field(default_factory=list)  # (node, check or None=lock)
    early: list[_Check] = field(default_factory=list)
    manual_lock: bool = False


@dataclass
class _Pending:
    check: _Check
    func: str
    is_async: bool
    set_line: int
    lock_after_check: bool


class UnlockedLazySingleton(Rule):
    """
    ## What it flags
    Check-then-set lazy initialisation of a module global (`global X` … `if X is None:` …
    `X = make()`, also `if not X:` and the early-return form `if X is not None: return X`)
    or of a class attribute (`if cls._instance is None: cls._instance = ...`,
    `if Client._pool is None`) when no lock is held around *both* the check and the
    assignment. The finding is on the check. Locked double-checked initialisation is
    clean, and so is an `async def` that does not `await` between check and set (nothing
    can interleave there). Per-instance attributes (`self._x`) are not in scope.

    The message tells the two real races apart:

    - **asyncio race** — an `async def` awaits between the check and the set
      (`if X is None: X = await connect()`): every task that arrives during the await
      sees `X` unset and builds its own resource; all but the last leak.
    - **thread race** — sync code. On the event loop it cannot interleave, but a sync
      FastAPI endpoint or dependency (`Depends(get_store)` on a plain `def`) runs in the
      threadpool, as does anything handed to `to_thread` or an executor; two threads can
      then both build the resource. The message says so when the getter is used as a
      dependency in the same module.

    Severity follows the race: **critical** for the asyncio race and for a sync getter
    known to run in the threadpool (a sync dependency in the same module); **high** for
    other sync getters, which race only if some caller runs them off the loop.

    ## Why it matters
    Each duplicate initialisation opens its own connection pool or driver (Neo4j, Redis,
    an LLM client) that nothing closes: connection and memory leaks, doubled start-up
    cost, and callers holding different instances. (Separate worker *processes* do not
    share globals, so they are not a source of this race.)

    ## Fix
    No automatic fix: where the lock must live (module, class, per event loop) and
    whether initialisation should move to start-up cannot be decided from the code.
    What is safe:

    - **Sync code**: a module-level `threading.Lock()` with a re-check inside it
      (`with _lock: if X is None: X = make()`), or `functools.lru_cache(maxsize=1)` /
      `functools.cache` on a getter whose result may rarely be built twice.
    - **Async code**: best, build the resource once in the FastAPI `lifespan` and store it
      on `app.state`. Otherwise double-check under an `asyncio.Lock` — but never a
      module-level one if the code can run under more than one event loop (tests with a
      loop per test, `asyncio.run` per call, a worker thread with its own loop): since
      Python 3.10 an `asyncio.Lock` binds to the loop that first waits on it and then
      raises `RuntimeError: ... is bound to a different event loop` elsewhere. Create the
      lock lazily per running loop instead. An `asyncio.Lock` gives no protection at all
      against threads.
    - The audit's proposed fix (an `asyncio.Lock` around a still-blocking `_connect_with_retry`)
      serialises tasks but keeps blocking the loop; see SL101.

    ## See also
    - https://docs.python.org/3/library/asyncio-sync.html#asyncio.Lock
    - https://docs.python.org/3/library/threading.html#lock-objects
    - https://fastapi.tiangolo.com/async/#path-operation-functions
    """

    meta = RuleMeta(
        code="SL501",
        name="unlocked-lazy-singleton",
        severity=Severity.CRITICAL,
        summary="Lazy singleton checked and set without a lock; concurrent callers can each build it.",
        audit="§2",
        tags=("shared-state", "async", "threads"),
    )

    bad = (
        Bad(
            "_STORE = None\n"
            "\n"
            "def get_store():\n"
            "    global _STORE\n"
            "    if _STORE is None:\n"
            "        _STORE = connect()\n"
            "    return _STORE\n",
            in_docs=True,
        ),
        Bad(
            "_client = None\n\nasync def get_client():\n    global _client\n"
            "    if _client is None:\n        _client = await make_client()\n    return _client\n"
        ),
        Bad(
            "_pool = None\n\nasync def pool():\n    global _pool\n    if not _pool:\n"
            "        settings = await load_settings()\n        _pool = build(settings)\n    return _pool\n"
        ),
        Bad(
            "class Registry:\n    _instance = None\n\n    @classmethod\n    def get(cls):\n"
            "        if cls._instance is None:\n            cls._instance = cls()\n        return cls._instance\n"
        ),
        Bad(
            "class Client:\n    _conn = None\n\ndef conn():\n    if Client._conn is None:\n"
            "        Client._conn = open_conn()\n    return Client._conn\n"
        ),
        Bad(
            "_graph = None\n\ndef graph():\n    global _graph\n    if _graph is not None:\n"
            "        return _graph\n    _graph = build_graph()\n    return _graph\n"
        ),
        Bad(
            "import threading\n\n_lock = threading.Lock()\n_svc = None\n\ndef svc():\n    global _svc\n"
            "    if _svc is None:\n        with _lock:\n            _svc = Service()\n    return _svc\n"
        ),
        Bad(
            "from fastapi import Depends\n\n_rag = None\n\ndef get_rag():\n    global _rag\n"
            "    if _rag is None:\n        _rag = RagService()\n    return _rag\n\n"
            "def route(rag=Depends(get_rag)):\n    return rag.search()\n"
        ),
        Bad(
            "class Singleton:\n    _inst = None\n\n    def __new__(cls):\n"
            "        if cls._inst is None:\n            cls._inst = super().__new__(cls)\n        return cls._inst\n"
        ),
        Bad(
            "_a = None\n_b = None\n\nasync def both():\n    global _a, _b\n    if _a is None:\n"
            "        _a = await make_a()\n    if _b is None:\n        _b = await make_b()\n",
            count=2,
        ),
    )

    good = (
        Good(
            "import threading\n"
            "\n"
            "_lock = threading.Lock()\n"
            "_STORE = None\n"
            "\n"
            "def get_store():\n"
            "    global _STORE\n"
            "    if _STORE is None:\n"
            "        with _lock:\n"
            "            if _STORE is None:\n"
            "                _STORE = connect()\n"
            "    return _STORE\n",
            in_docs=True,
        ),
        Good(
            "_client = None\n\nasync def get_client(lock):\n    global _client\n    if _client is not None:\n"
            "        return _client\n    async with lock:\n        if _client is None:\n"
            "            _client = await make_client()\n    return _client\n"
        ),
        Good(
            "_pool = None\n\nasync def pool():\n    global _pool\n    if _pool is None:\n"
            "        _pool = build_pool()\n    return _pool\n"
        ),
        Good("from functools import lru_cache\n\n@lru_cache(maxsize=1)\ndef get_store():\n    return connect()\n"),
        Good(
            "_STORE = None\n\ndef close_store():\n    global _STORE\n    if _STORE is not None:\n"
            "        _STORE.close()\n        _STORE = None\n"
        ),
        Good(
            "class Service:\n    def __init__(self):\n        self._llm = None\n\n    def llm(self):\n"
            "        if self._llm is None:\n            self._llm = build_llm()\n        return self._llm\n"
        ),
        Good("_cache = None\n\ndef get():\n    if _cache is None:\n        cache = build()\n        return cache\n    return _cache\n"),
        Good(
            "_STORE = None\n\ndef get_store():\n    global _STORE\n    with _store_lock:\n        if _STORE is None:\n"
            "            _STORE = connect()\n    return _STORE\n"
        ),
        Good("_STORE = None\nif _STORE is None:\n    _STORE = connect()\n"),
        Good("_warned = False\n\ndef warn_once():\n    global _warned\n    if not _warned:\n        log()\n        _warned = True\n"),
        Good(
            "import threading\n\n_guard = threading.RLock()\n_svc = None\n\ndef svc():\n    global _svc\n"
            "    with _guard:\n        if _svc is None:\n            _svc = Service()\n    return _svc\n"
        ),
        Good(
            "_x = None\n\ndef outer():\n    global _x\n    if _x is None:\n        def inner():\n"
            "            _x = 1\n            return _x\n        return inner\n"
        ),
        Good(
            "_mutex = None\n_conn = None\n\ndef conn():\n    global _conn\n    _mutex.acquire()\n    try:\n"
            "        if _conn is None:\n            _conn = connect()\n    finally:\n        _mutex.release()\n"
            "    return _conn\n"
        ),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._frames: list[_Frame] = []
        self._pending: dict[int, _Pending] = {}
        self._dependencies: set[str] = set()
        self._classes: set[str] = set()
        self._locks: set[str] = set()

    def visit_Module(self, node: ast.Module) -> None:
        # Module-level imports are bound only once the walk starts.
        self._classes = {s.name for s in node.body if isinstance(s, ast.ClassDef)}
        for stmt in node.body:
            value = stmt.value if isinstance(stmt, ast.Assign) else None
            if isinstance(value, ast.Call) and self.context.qualified_name(value.func) in _LOCK_TYPES:
                assert isinstance(stmt, ast.Assign)
                self._locks.update(t.id for t in stmt.targets if isinstance(t, ast.Name))

    # -- frames ----------------------------------------------------------------------

    def _enter_function(self, node: _FunctionNode) -> None:
        parent = self._frames[-1] if self._frames else None
        frame = _Frame(node, is_async=isinstance(node, ast.AsyncFunctionDef))
        stack = self.context.class_stack
        frame.class_name = stack[-1].name if stack else None
        if parent is not None:
            frame.cls_names |= parent.cls_names
        if frame.class_name:
            frame.cls_names.add(frame.class_name)
        decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
        args = node.args.posonlyargs + node.args.args
        if args and ("classmethod" in decorators or node.name in ("__new__", "__init_subclass__")):
            frame.cls_names.add(args[0].arg)
        self._frames.append(frame)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._enter_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._enter_function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._frames.append(_Frame(None))

    def _leave_function(self, node: ast.AST) -> None:
        self._frames.pop()

    leave_FunctionDef = leave_AsyncFunctionDef = leave_Lambda = _leave_function

    def visit_Global(self, node: ast.Global) -> None:
        if self._frames:
            self._frames[-1].globals.update(node.names)

    def _count_await(self, node: ast.AST) -> None:
        if self._frames:
            self._frames[-1].awaits += 1

    visit_Await = visit_AsyncFor = _count_await

    # -- keys ------------------------------------------------------------------------

    def _key(self, expr: ast.expr, frame: _Frame) -> str | None:
        """``X`` for a declared global, ``Class.attr`` for a class attribute, else None."""
        if isinstance(expr, ast.Name):
            return expr.id if expr.id in frame.globals else None
        if not isinstance(expr, ast.Attribute):
            return None
        owner = expr.value
        if isinstance(owner, ast.Name):
            if owner.id in self._classes:
                return f"{owner.id}.{expr.attr}"
            if owner.id in frame.cls_names:
                return f"{frame.class_name or owner.id}.{expr.attr}"
            return None
        is_type_of_self = (
            isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "type"
        ) or (isinstance(owner, ast.Attribute) and owner.attr == "__class__")
        if is_type_of_self and frame.class_name:
            return f"{frame.class_name}.{expr.attr}"
        return None

    def _tested(self, test: ast.expr, frame: _Frame) -> list[tuple[str, bool]]:
        """(key, True if the ``if`` body runs while key is unset) for each check in ``test``."""
        if isinstance(test, ast.BoolOp):
            return [found for value in test.values for found in self._tested(value, frame)]
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return [(key, not unset) for key, unset in self._tested(test.operand, frame)]
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            left, right = test.left, test.comparators[0]
            if isinstance(left, ast.Constant) and left.value is None:
                left, right = right, left
            if isinstance(right, ast.Constant) and right.value is None:
                key = self._key(left, frame)
                if key is not None and isinstance(test.ops[0], (ast.Is, ast.Eq, ast.IsNot, ast.NotEq)):
                    return [(key, isinstance(test.ops[0], (ast.Is, ast.Eq)))]
            return []
        if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "hasattr":
            if len(test.args) == 2 and isinstance(test.args[1], ast.Constant) and isinstance(test.args[1].value, str):
                key = self._key(ast.Attribute(value=test.args[0], attr=test.args[1].value), frame)
                return [(key, False)] if key else []
            return []
        key = self._key(test, frame)
        return [(key, False)] if key else []

    @staticmethod
    def _is_lock(expr: ast.expr, locks: set[str]) -> bool:
        if isinstance(expr, ast.Call):  # ``with get_lock():`` / ``with lock_for(loop):``
            expr = expr.func
        name = expr.attr if isinstance(expr, ast.Attribute) else expr.id if isinstance(expr, ast.Name) else ""
        lowered = name.lower()
        return name in locks or "lock" in lowered or "mutex" in lowered

    # -- checks, locks and sets --------------------------------------------------------

    def _open_locks(self, frame: _Frame) -> frozenset[int]:
        return frozenset(id(node) for node, check in frame.blocks if check is None)

    def visit_If(self, node: ast.If) -> None:
        if not self._frames or self._frames[-1].node is None:
            return
        frame = self._frames[-1]
        body_end = node.body[-1].end_lineno or node.body[-1].lineno
        for key, init_in_body in self._tested(node.test, frame):
            check = _Check(key, node, init_in_body, body_end, frame.awaits, self._open_locks(frame))
            frame.blocks.append((node, check))
            if not init_in_body and not node.orelse and isinstance(node.body[-1], ast.Return):
                frame.early.append(check)

    def leave_If(self, node: ast.If) -> None:
        if self._frames:
            blocks = self._frames[-1].blocks
            while blocks and blocks[-1][0] is node:
                blocks.pop()

    def _enter_with(self, node: ast.With | ast.AsyncWith) -> None:
        if self._frames and any(self._is_lock(item.context_expr, self._locks) for item in node.items):
            self._frames[-1].blocks.append((node, None))

    def _leave_with(self, node: ast.AST) -> None:
        if self._frames and self._frames[-1].blocks and self._frames[-1].blocks[-1][0] is node:
            self._frames[-1].blocks.pop()

    def visit_With(self, node: ast.With) -> None:
        self._enter_with(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self._count_await(node)
        self._enter_with(node)

    leave_With = leave_AsyncWith = _leave_with

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "acquire" and self._frames:
            if self._is_lock(func.value, self._locks):
                self._frames[-1].manual_lock = True
        elif node.args and isinstance(node.args[0], ast.Name) and self._is_depends(func):
            self._dependencies.add(node.args[0].id)

    def _is_depends(self, func: ast.expr) -> bool:
        return (isinstance(func, ast.Name) and func.id == "Depends") or self.context.qualified_name(func) == "fastapi.Depends"

    def leave_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assigned(target, node.value, node)

    def leave_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._assigned(node.target, node.value, node)

    def _assigned(self, target: ast.expr, value: ast.expr, node: ast.stmt) -> None:
        if not self._frames or self._frames[-1].node is None:
            return
        if isinstance(value, ast.Constant):
            return  # a reset to None or a once-flag (`_warned = True`): nothing is built
        frame = self._frames[-1]
        key = self._key(target, frame)
        if key is None:
            return
        check = self._pairing_check(frame, key, node.lineno)
        if check is None:
            return  # a plain assignment, not check-then-set
        if frame.manual_lock or check.locks & self._open_locks(frame):
            return
        if frame.is_async and frame.awaits == check.awaits:
            return  # nothing can interleave between check and set on the loop
        if id(check.node) in self._pending:
            return
        assert frame.node is not None
        self._pending[id(check.node)] = _Pending(
            check, frame.node.name, frame.is_async, node.lineno, bool(self._open_locks(frame))
        )

    @staticmethod
    def _pairing_check(frame: _Frame, key: str, line: int) -> _Check | None:
        for _, check in reversed(frame.blocks):
            if check is not None and check.key == key and (line <= check.body_end) == check.init_in_body:
                return check
        for check in reversed(frame.early):
            if check.key == key and line > check.body_end:
                return check
        return None

    def end_module(self) -> None:
        for pending in self._pending.values():
            key, check = pending.check.key, pending.check
            severity = Severity.CRITICAL
            if pending.is_async:
                message = (
                    f"`{key}` is lazily initialised with an `await` between the check and the assignment "
                    f"(line {pending.set_line}) and no lock: concurrent tasks can all see it unset and each build it."
                )
            else:
                message = (
                    f"Check-then-set of `{key}` without a lock: safe on the event loop, but threads (sync FastAPI "
                    "endpoints and dependencies, `to_thread`, executors) can all see it unset and each build it."
                )
                if pending.func in self._dependencies:
                    message += f" `{pending.func}` is a sync FastAPI dependency here, so it runs in the threadpool."
                else:
                    severity = Severity.HIGH
            if pending.lock_after_check:
                message += f" The lock is taken after the check: re-check `{key}` inside it."
            self.report(check.node.test, message, severity=severity)
