"""SL501, SL601, SL602: what the rules' examples cannot say (messages, locations, de-duplication)."""

from __future__ import annotations

import textwrap

from sightlint import engine
from sightlint.api import check_source
from sightlint.models import Finding, Severity
from sightlint.rules.base import RuleClass
from sightlint.rules.session_per_task_unbounded import SessionPerTaskUnbounded
from sightlint.rules.session_shared_across_tasks import SessionSharedAcrossTasks
from sightlint.rules.unlocked_lazy_singleton import UnlockedLazySingleton
from sightlint.settings import Settings


def _check(rule: RuleClass, source: str) -> list[Finding]:
    result = engine.check_source(textwrap.dedent(source), "app/service.py", Settings(), rules=[rule])
    assert not result.errors
    return result.findings


# -- SL501 ---------------------------------------------------------------------------


def test_sl501_async_race_and_thread_race_have_different_messages() -> None:
    findings = _check(
        UnlockedLazySingleton,
        """
        _a = None
        _b = None

        async def get_a():
            global _a
            if _a is None:
                _a = await connect()
            return _a

        def get_b():
            global _b
            if _b is None:
                _b = connect_sync()
            return _b
        """,
    )
    assert [f.line for f in findings] == [7, 13]
    asyncio_race, thread_race = findings
    assert "`await` between the check and the assignment (line 8)" in asyncio_race.message
    assert "thread" not in asyncio_race.message.lower()
    # Without the project model, the thread race is explained, not graded.
    assert "Threads (sync FastAPI endpoints" in thread_race.message
    assert asyncio_race.function is None and thread_race.function == (11, 0)


def test_sl501_reports_the_check_expression_once_per_check() -> None:
    findings = _check(
        UnlockedLazySingleton,
        """
        _conn = None

        async def conn(flag):
            global _conn
            if _conn is None or flag:
                if flag:
                    _conn = await open_a()
                else:
                    _conn = await open_b()
            return _conn
        """,
    )
    assert len(findings) == 1
    span = findings[0].span
    assert (span.line, span.col, span.end_col) == (6, 7, 28)  # `_conn is None or flag`


def test_sl501_async_with_is_a_suspension_point() -> None:
    # Acquiring a lock *after* the check lets a second task pass the check while the first waits.
    findings = _check(
        UnlockedLazySingleton,
        """
        _client = None

        async def client(lock):
            global _client
            if _client is None:
                async with lock:
                    _client = build()
            return _client
        """,
    )
    assert len(findings) == 1
    assert "The lock is taken after the check" in findings[0].message


def test_sl501_names_the_thread_path_or_says_latent() -> None:
    from sightlint.api import check_sources

    source = textwrap.dedent(
        """
        from fastapi import Depends

        _svc = None
        _other = None

        def get_svc():
            global _svc
            if _svc is None:
                _svc = Service()
            return _svc

        def other():
            global _other
            if _other is None:
                _other = Service()
            return _other

        def route(svc=Depends(get_svc)):
            return svc

        async def handler():
            return other()
        """
    )
    first, second = check_sources({"m.py": source}, Settings(select=("SL501",))).findings
    assert first.severity is Severity.HIGH
    assert "`get_svc` runs in a worker thread (a sync dependency" in first.message
    assert "Threads (sync" not in first.message
    assert second.severity is Severity.LOW
    assert "Latent: safe on one event loop, races once called from a thread" in second.message
    # Both ends: the check, and where the global is declared.
    assert [(r.line, r.message) for r in second.related] == [(5, "`_other` is declared here")]


def test_sl501_thread_handoff_is_named_with_its_chain() -> None:
    from sightlint.api import check_sources

    sources = {
        "pkg/clients.py": "import redis\n_R = None\ndef get_redis():\n    global _R\n    if _R is None:\n"
        "        _R = redis.Redis.from_url('redis://')\n    return _R\n",
        "pkg/api.py": "import asyncio\nfrom fastapi import FastAPI\nfrom pkg.clients import get_redis\napp = FastAPI()\n"
        "@app.get('/')\nasync def index():\n    return await asyncio.to_thread(get_redis)\n",
    }
    (finding,) = check_sources(sources, Settings(select=("SL501",))).findings
    assert finding.severity is Severity.CRITICAL
    assert "`redis.Redis.from_url(...)` opens connections" in finding.message
    assert "`index` hands `get_redis` to a thread" in finding.message
    assert finding.path == "pkg/clients.py" and finding.chain_paths == ("pkg/api.py",)
    assert [r.path for r in finding.related] == ["pkg/clients.py", "pkg/api.py"]


def test_sl501_nested_function_does_not_hide_the_outer_set() -> None:
    # A nested def between check and set must not reset what the outer function is doing.
    findings = _check(
        UnlockedLazySingleton,
        """
        _store = None

        async def store():
            global _store
            if _store is None:
                def helper():
                    return 1
                _store = await make(helper)
            return _store
        """,
    )
    assert [f.line for f in findings] == [6]


# -- SL601 ---------------------------------------------------------------------------

AUDIT_SHAPE = """
import asyncio
from app.db.session import AsyncSessionLocal


class FocusGroupService:
    async def _get_concurrent_responses(self, personas, question):
        tasks = [
            self._get_persona_response(persona, question)
            for persona in personas
        ]
        return await asyncio.gather(*tasks, return_exceptions=True)

    async def _get_persona_response(self, persona, question):
        async with AsyncSessionLocal() as session:
            context = await self.memory.retrieve(session, persona.id, question)
            return await self._generate(persona, context)
"""


def test_sl601_audit_shape_is_reported_at_the_session_and_names_the_fan_out() -> None:
    (finding,) = _check(SessionPerTaskUnbounded, AUDIT_SHAPE)
    assert finding.line == 15
    assert finding.span.col == 19  # the `AsyncSessionLocal()` call
    assert "`FocusGroupService._get_concurrent_responses`" in finding.message
    assert "`asyncio.gather` over `tasks` (line 12)" in finding.message
    assert "pool" in finding.message


def test_sl601_test_code_is_reported_only_when_configured_and_then_as_low() -> None:
    from sightlint.rules.session_per_task_unbounded import SessionSlotsOptions

    source = textwrap.dedent(AUDIT_SHAPE)
    for path in ("tests/license_key/test_service.py", "app/test_service.py", "app/service_test.py", "conftest.py"):
        quiet = engine.check_source(source, path, Settings(), rules=[SessionPerTaskUnbounded])
        assert quiet.findings == [], path
        settings = Settings(rule_options={"session-per-task-unbounded": SessionSlotsOptions(tests=True)})
        (finding,) = engine.check_source(source, path, settings, rules=[SessionPerTaskUnbounded]).findings
        assert finding.severity is Severity.LOW, path
    # Production code stays critical, with or without the option.
    for settings in (Settings(), Settings(rule_options={"session-per-task-unbounded": SessionSlotsOptions(tests=True)})):
        (finding,) = engine.check_source(source, "app/testing_tools.py", settings, rules=[SessionPerTaskUnbounded]).findings
        assert finding.severity is Severity.CRITICAL


def test_sl601_one_finding_per_session_even_with_several_fan_outs() -> None:
    findings = _check(
        SessionPerTaskUnbounded,
        """
        import asyncio
        from app.db import AsyncSessionLocal

        async def one(x):
            async with AsyncSessionLocal() as s:
                await s.execute(x)

        async def a(xs):
            await asyncio.gather(*[one(x) for x in xs])

        async def b(xs):
            for x in xs:
                asyncio.create_task(one(x))
        """,
    )
    assert len(findings) == 1
    assert "(and 1 more fan-out site)" in findings[0].message


def test_sl601_semaphore_in_an_intermediate_coroutine_bounds_the_chain() -> None:
    source = """
    import asyncio
    from app.db import AsyncSessionLocal

    sem = asyncio.Semaphore(4)

    async def save(x):
        async with AsyncSessionLocal() as s:
            await s.merge(x)

    async def {name}(x):
        {guard}
        await save(x)

    async def run(xs):
        await asyncio.gather(*[{name}(x) for x in xs])
    """
    bounded = source.format(name="bounded", guard="await sem.acquire()")
    unbounded = source.format(name="plain", guard="pass")
    assert _check(SessionPerTaskUnbounded, bounded) == []
    (finding,) = _check(SessionPerTaskUnbounded, unbounded)
    assert "opened in `save` (reached from `plain`)" in finding.message


def test_sl601_unknown_callees_produce_no_finding() -> None:
    source = """
    import asyncio
    from app.workers import one

    async def run(xs, service):
        await asyncio.gather(*[one(x) for x in xs])
        await asyncio.gather(*[service.one(x) for x in xs])
    """
    assert _check(SessionPerTaskUnbounded, source) == []


# -- SL602 ---------------------------------------------------------------------------


def test_sl602_reported_once_at_the_first_concurrent_start() -> None:
    findings = _check(
        SessionSharedAcrossTasks,
        """
        import asyncio
        from sqlalchemy.ext.asyncio import AsyncSession

        async def run(db: AsyncSession, xs):
            tasks = []
            for x in xs:
                tasks.append(asyncio.create_task(save(db, x)))
            await asyncio.gather(*tasks)
        """,
    )
    assert [f.line for f in findings] == [8]
    assert "AsyncSession `db`" in findings[0].message
    assert "`asyncio.create_task` in a loop" in findings[0].message


def test_sl602_audit_option_1_is_flagged() -> None:
    option_1 = AUDIT_SHAPE.replace("(self, personas, question)", "(self, db, personas, question)").replace(
        "self._get_persona_response(persona, question)", "self._get_persona_response(db, persona, question)"
    )
    # `db` is not annotated in this shape; annotate it as the audit's fix does.
    option_1 = option_1.replace("(self, db, personas", "(self, db: AsyncSession, personas")
    (finding,) = _check(SessionSharedAcrossTasks, "from sqlalchemy.ext.asyncio import AsyncSession\n" + option_1)
    assert finding.line == 13  # the gather
    assert "`db`" in finding.message


def test_sl602_parameter_named_like_the_outer_session_shadows_it() -> None:
    source = """
    import asyncio
    from sqlalchemy.ext.asyncio import AsyncSession

    async def run(db: AsyncSession, xs):
        async def one(x, db=None):
            await db.execute(x)
        await asyncio.gather(*[one(x) for x in xs])
    """
    assert _check(SessionSharedAcrossTasks, source) == []


def test_sl602_session_rebound_to_something_else_is_no_longer_a_session() -> None:
    source = """
    import asyncio
    from sqlalchemy.ext.asyncio import AsyncSession

    async def run(db: AsyncSession, xs):
        db = make_factory()
        await asyncio.gather(*[save(db, x) for x in xs])
    """
    assert _check(SessionSharedAcrossTasks, source) == []


def test_sl501_only_the_module_that_calls_a_getter_on_import_builds_it_then() -> None:
    """`prompts = get_prompts()` at the top of the getter's own module sets the global on
    import; a call at the top of another module, or one in a function of the same module,
    says nothing about when the getter first runs."""
    from sightlint.api import check_sources

    getter = (
        "_P = None\n_Q = None\n"
        "def get_p():\n    global _P\n    if _P is None:\n        _P = load_prompts()\n    return _P\n"
        "def get_q():\n    global _Q\n    if _Q is None:\n        _Q = load_prompts()\n    return _Q\n"
        "P = get_p()\n"
        "def later():\n    return get_q()\n"
    )
    other = "from app.prompts import get_q\nQ = get_q()\n"
    run = check_sources({"app/prompts.py": getter, "app/other.py": other}, Settings(select=("SL501",)))
    assert [(f.path, f.line) for f in run.findings] == [("app/prompts.py", 10)]


def test_sl501_a_class_of_the_module_is_a_value_only_when_its_init_builds_nothing() -> None:
    source = """
        import threading

        _A = None
        _B = None
        _C = None

        class Cheap:
            def __init__(self, name="x"):
                self.name = name
                self._client = None

        class Stateful:
            def __init__(self):
                self._locks = {}

        class Threaded:
            def __init__(self):
                self._thread = threading.Thread(target=print)
                self._thread.start()

        def a():
            global _A
            if _A is None:
                _A = Cheap()
            return _A

        def b():
            global _B
            if _B is None:
                _B = Stateful()
            return _B

        def c():
            global _C
            if _C is None:
                _C = Threaded()
            return _C
        """
    assert [f.line for f in _check(UnlockedLazySingleton, source)] == [30, 36]


def test_sl501_severity_follows_the_race() -> None:
    from sightlint.api import check_sources
    from sightlint.models import Severity
    from sightlint.settings import Settings

    source = (
        "import asyncio\n"
        "from fastapi import Depends\n"
        "_A = None\n_B = None\n_C = None\n"
        "async def get_a():\n"
        "    global _A\n"
        "    if _A is None:\n"
        "        _A = await connect()\n"
        "    return _A\n"
        "def get_b():\n"
        "    global _B\n"
        "    if _B is None:\n"
        "        _B = make()\n"
        "    return _B\n"
        "def get_c():\n"
        "    global _C\n"
        "    if _C is None:\n"
        "        _C = make()\n"
        "    return _C\n"
        "def endpoint(c=Depends(get_c)):\n"
        "    return c\n"
    )
    run = check_sources({"m.py": source}, Settings(select=("SL501",)))
    graded = {f.line: f.severity for f in run.findings}
    # An await between check and set, building a connection: critical. A sync getter no
    # thread reaches: latent. A sync dependency (the threadpool) building a plain object: high.
    assert graded == {8: Severity.CRITICAL, 13: Severity.LOW, 18: Severity.HIGH}
    # The user's override for the code still wins over the rule's grading.
    run = check_sources({"m.py": source}, Settings(select=("SL501",), severity={"SL501": Severity.MEDIUM}))
    assert {f.severity for f in run.findings} == {Severity.MEDIUM}


def test_sl501_a_class_named_for_its_data_opens_nothing() -> None:
    """``SessionState()``, ``PoolStats()`` (dataclasses of fields) duplicated by a race leaks nothing: high on
    a thread path, not critical; ``SessionClient()`` and ``redis``'s classes still are."""
    from sightlint.api import check_sources

    def graded(build: str, head: str = "") -> Severity:
        source = (
            f"{head}from fastapi import Depends\n"
            "_S = None\n"
            "def get_s():\n"
            "    global _S\n"
            "    if _S is None:\n"
            f"        _S = {build}\n"
            "    return _S\n"
            "def endpoint(s=Depends(get_s)):\n"
            "    return s\n"
        )
        (finding,) = check_sources({"m.py": source}, Settings(select=("SL501",))).findings
        return finding.severity

    assert graded("SessionState()") is Severity.HIGH
    assert graded("PoolStats(url)") is Severity.HIGH
    assert graded("SessionClient()") is Severity.CRITICAL
    assert graded("ConnectionPool()") is Severity.CRITICAL
    # From a client library, a data-named class still counts (its module opens connections).
    assert graded("redis.ConnectionPoolState()", "import redis\n") is Severity.CRITICAL
