from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from textwrap import dedent
from typing import TYPE_CHECKING, Any

from sightlint.models import Finding, RelatedLocation, Span
from sightlint.project.contexts import BACKGROUND, REQUEST, TEST, where_code_runs
from sightlint.project.deadline_fix import (
    Deadline,
    asyncio_import,
    fresh_name,
    import_conventions,
    validate_timeout_expression,
)
from sightlint.project.deadlines import GENAI_CHAT, Deadlines, LlmCall, Timeout, deadlines, genai_pin, keeps
from sightlint.project.graph import Graph, ModelNeeds
from sightlint.project.model import is_test_path
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.settings import Settings

if TYPE_CHECKING:
    import libcst as cst

_WEAK = (
    "the event loop keeps only a weak reference to a task, so it can be garbage-collected "
    "before it finishes (keep it in a set and discard it when done)"
)
_DROPPED = f"the task's reference is dropped: {_WEAK}"
# What a finding's fix does (its ``fix_title``, which ``fix`` reads back).
_WRAP = "Start the work under `asyncio.wait_for(..., timeout=T)`"
_KEEP = "Keep the task's reference until it ends"
_BOTH = f"{_WRAP} and keep the task's reference"
_TASK_NAMES = ("task", "background_task", "bg_task", "new_task")
_SET_NAMES = ("_background_tasks", "_running_tasks", "_sightlint_background_tasks")


@dataclass(frozen=True)
class JobDeadlineOptions:
    """SL403's settings."""

    timeout_expression: str = "300"
    """The deadline the fix gives the whole job, in seconds: a Python expression (`"300"`,
    `"settings.JOB_TIMEOUT"`). A name it reads must be imported or defined in the fixed
    module, else imported as the project's other modules import it, else the site is not
    fixed."""

    def __post_init__(self) -> None:
        validate_timeout_expression(self.timeout_expression)


class BackgroundTaskWithoutDeadline(Rule):
    """
    ## What it flags
    Work started as a background task — `asyncio.create_task`, `asyncio.ensure_future`,
    `loop.create_task`, `TaskGroup.create_task`, a route's `BackgroundTasks.add_task` —
    whose coroutine does unbounded network or LLM work (followed through the project's
    calls, across modules) with no deadline around it: no `asyncio.wait_for(work(), ...)`
    as the task's coroutine, and none on the way from the task's function to the call.
    LLM work is what `llm-call-without-deadline` (SL401) counts, whatever timeout its HTTP
    client has (the timeout grades it, see below); database work is an awaited query on an async SQLAlchemy session,
    asyncpg, `redis.asyncio` or Motor. A finding sits at the scheduling call and names the
    work and the chain to it.

    | The task does | Started from a request or another task | elsewhere |
    |---|---|---|
    | LLM work with no timeout at all (also a `ChatGoogleGenerativeAI` `timeout` where the project allows langchain-google-genai before 2.1.12, which ignores it) | critical | high |
    | LLM work whose client has an HTTP timeout (the OpenAI SDK's 600 s default), or a client sightlint cannot see | high | medium |
    | only database work | low | low |

    The LLM work is graded as SL401 grades the same call: an HTTP client timeout bounds
    each attempt (and retries multiply it), so the task ends eventually, but not on a
    deadline of its own.

    A task whose reference is dropped (`asyncio.create_task(work())` as a statement, not
    kept anywhere) is said in the same finding, and reported on its own at medium even
    when its work is bounded: that is ruff's RUF006, kept here so one tool covers
    background tasks (a `# noqa: RUF006` on the call is honoured for this part). Work that loops forever (`while True`, a worker or poller) is not
    expected to end and is not reported for its deadline. Local work (`add_task(f.close)`,
    a function that calls nothing external) is clean. Tasks started in test code, only
    from tests, are not reported; production code that only tests are seen to reach is
    graded as reached from no known entry point.

    ## Why it matters
    Nobody awaits a background task: when its LLM or database call hangs, the task hangs
    with it, holds its session, its connection and its memory, and the job it stands for
    stays "running" forever. Tasks pile up with every request (audit §7: the focus-group,
    persona and survey endpoints each start one). A deadline turns the hang into a
    `TimeoutError` the task can record. Asyncio keeps only weak references to tasks, so
    a task nobody references can vanish mid-flight (the `asyncio.create_task`
    documentation's warning).

    ## Fix
    Unsafe (`--unsafe-fixes`): a deadline cancels a job that used to run to its end.

    - LLM work with no deadline: the task's coroutine is started under
      `asyncio.wait_for(job(...), timeout=T)` — `asyncio.create_task(asyncio.wait_for(
      _run(job_id), timeout=T))` — so the task fails with `TimeoutError` after `T` seconds
      (the job's own `except` clauses inside it see a `CancelledError`). The call that
      schedules it, and the reference it keeps, stay as they are. `T` is this rule's
      option `timeout-expression`, checked as SL401's; its default is `"300"`, not the
      `"60"` of SL401/SL402: a deadline for a whole job, the audit's own value
      (`@with_timeout(timeout_seconds=300)`, §7) — a minute would cancel the audited
      app's focus-group jobs, which the audit expects to take 3–5 minutes.
    - A dropped reference (`asyncio.create_task(work())` as a statement): the task is
      kept in a module-level set until it ends — `task = asyncio.create_task(...)`,
      `_background_tasks.add(task)`, `task.add_done_callback(_background_tasks.discard)`,
      with `_background_tasks: set[asyncio.Task[object]] = set()` after the imports (names
      that nothing in the module uses).
    - With `llm-call-without-deadline` (SL401) enabled, its fix bounds each LLM call
      where it is made; this deadline still bounds the job as a whole (a job of thirty
      sequential calls, each within its own deadline, is not).
    - No fix for `BackgroundTasks.add_task(func, ...)` (it takes a function, not a
      coroutine: put `async with asyncio.timeout(...)` at the top of the job), nor for
      work that only touches the database (the timeout expression is the LLM deadline).

    Record a timeout as the job's failure (`except TimeoutError:` around the work in
    the job, or a done callback).

    ## See also
    - https://docs.python.org/3/library/asyncio-task.html#asyncio.create_task
    - https://docs.astral.sh/ruff/rules/asyncio-dangling-task/ (RUF006)
    - SL401 llm-call-without-deadline
    """

    meta = RuleMeta(
        code="SL403",
        name="background-task-without-deadline",
        severity=Severity.CRITICAL,
        summary="Background task doing network or LLM work with no deadline.",
        audit="§7",
        fix=FixSafety.UNSAFE,
        fix_title=_BOTH,
        since="0.1.0",
        tags=("async",),
    )
    cross_file = True
    # Component-local: the task's work, its deadlines and where it runs follow call
    # edges, rows of the same function/class/module and entries, all in one component.
    project_scope = "component"
    Options = JobDeadlineOptions
    fix_node = "Call"
    wants_fix_ancestors = True

    bad = (
        Bad(
            dedent("""\
            import asyncio
            from fastapi import APIRouter
            from langchain_openai import ChatOpenAI

            router = APIRouter()
            _running = set()

            async def _summarise(doc_id):
                llm = ChatOpenAI(model="gpt-4o-mini")
                await llm.ainvoke(f"summarise {doc_id}")

            @router.post("/docs/{doc_id}/summary")
            async def start(doc_id: str):
                task = asyncio.create_task(_summarise(doc_id))
                _running.add(task)
                task.add_done_callback(_running.discard)
                return {"started": True}
            """),
            fixed=dedent("""\
            import asyncio
            from fastapi import APIRouter
            from langchain_openai import ChatOpenAI

            router = APIRouter()
            _running = set()

            async def _summarise(doc_id):
                llm = ChatOpenAI(model="gpt-4o-mini")
                await llm.ainvoke(f"summarise {doc_id}")

            @router.post("/docs/{doc_id}/summary")
            async def start(doc_id: str):
                task = asyncio.create_task(asyncio.wait_for(_summarise(doc_id), timeout=300))
                _running.add(task)
                task.add_done_callback(_running.discard)
                return {"started": True}
            """),
            in_docs=True,
        ),
        # Dropped reference and unbounded work: one finding saying both.
        Bad(
            dedent("""\
            import asyncio
            import litellm

            async def notify(text):
                await litellm.acompletion(model="gpt-4o", messages=[{"role": "user", "content": text}])

            async def handler(text):
                asyncio.create_task(notify(text))
            """),
            fixed=dedent("""\
            import asyncio
            import litellm

            _background_tasks: set[asyncio.Task[object]] = set()


            async def notify(text):
                await litellm.acompletion(model="gpt-4o", messages=[{"role": "user", "content": text}])

            async def handler(text):
                task = asyncio.create_task(asyncio.wait_for(notify(text), timeout=300))
                _background_tasks.add(task)
                task.add_done_callback(_background_tasks.discard)
            """),
        ),
        # RUF006 on its own: bounded work, dropped reference.
        Bad(
            dedent("""\
            import asyncio

            async def tick():
                await asyncio.sleep(1)

            async def handler():
                asyncio.ensure_future(tick())
            """),
            fixed=dedent("""\
            import asyncio

            _background_tasks: set[asyncio.Task[object]] = set()


            async def tick():
                await asyncio.sleep(1)

            async def handler():
                task = asyncio.ensure_future(tick())
                _background_tasks.add(task)
                task.add_done_callback(_background_tasks.discard)
            """),
        ),
        # FastAPI BackgroundTasks, across modules.
        Bad(
            dedent("""\
            # file: app/jobs.py
            from langchain_anthropic import ChatAnthropic

            async def write_report(topic):
                return await ChatAnthropic(model="claude-sonnet-4-5").ainvoke(topic)
            # file: app/api.py
            from fastapi import APIRouter, BackgroundTasks
            from app.jobs import write_report

            router = APIRouter()

            @router.post("/reports")
            async def create(topic: str, tasks: BackgroundTasks):
                tasks.add_task(write_report, topic)
            """)
        ),
        # Database work only: low.
        Bad(
            dedent("""\
            import asyncio
            from sqlalchemy.ext.asyncio import async_sessionmaker

            SessionLocal = async_sessionmaker()
            jobs = set()

            async def mark_done(job_id):
                async with SessionLocal() as db:
                    await db.execute("update jobs set done = true where id = :id", {"id": job_id})
                    await db.commit()

            async def handler(job_id):
                t = asyncio.create_task(mark_done(job_id))
                jobs.add(t)
            """)
        ),
        # A deadline inside the task's coroutine covers only part of the work.
        Bad(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            class Job:
                def __init__(self):
                    self.llm = ChatOpenAI()

                async def step(self, q):
                    return await self.llm.ainvoke(q)

                async def run(self, qs):
                    await asyncio.wait_for(self.step(qs[0]), 30)
                    await self.step(qs[1])

            async def start(qs, tasks):
                tasks.append(asyncio.create_task(Job().run(qs)))
            """),
            fixed=dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            class Job:
                def __init__(self):
                    self.llm = ChatOpenAI()

                async def step(self, q):
                    return await self.llm.ainvoke(q)

                async def run(self, qs):
                    await asyncio.wait_for(self.step(qs[0]), 30)
                    await self.step(qs[1])

            async def start(qs, tasks):
                tasks.append(asyncio.create_task(asyncio.wait_for(Job().run(qs), timeout=300)))
            """),
        ),
        # loop.create_task with a dropped reference.
        Bad(
            dedent("""\
            import asyncio
            from openai import AsyncOpenAI

            client = AsyncOpenAI()

            async def embed(text):
                return await AsyncOpenAI().embeddings.create(model="text-embedding-3-small", input=text)

            async def handler(text):
                loop = asyncio.get_running_loop()
                loop.create_task(embed(text))
            """),
            fixed=dedent("""\
            import asyncio
            from openai import AsyncOpenAI

            _background_tasks: set[asyncio.Task[object]] = set()

            client = AsyncOpenAI()

            async def embed(text):
                return await AsyncOpenAI().embeddings.create(model="text-embedding-3-small", input=text)

            async def handler(text):
                loop = asyncio.get_running_loop()
                task = loop.create_task(asyncio.wait_for(embed(text), timeout=300))
                _background_tasks.add(task)
                task.add_done_callback(_background_tasks.discard)
            """),
        ),
        # TaskGroup tasks: the group keeps them, the work has no deadline.
        Bad(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def ask(q):
                return await ChatOpenAI().ainvoke(q)

            async def handler(qs):
                async with asyncio.TaskGroup() as tg:
                    for q in qs:
                        tg.create_task(ask(q))
            """),
            fixed=dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def ask(q):
                return await ChatOpenAI().ainvoke(q)

            async def handler(qs):
                async with asyncio.TaskGroup() as tg:
                    for q in qs:
                        tg.create_task(asyncio.wait_for(ask(q), timeout=300))
            """),
        ),
    )

    good = (
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            _running = set()

            async def _summarise(doc_id):
                await ChatOpenAI(model="gpt-4o-mini").ainvoke(f"summarise {doc_id}")

            async def start(doc_id: str):
                task = asyncio.create_task(asyncio.wait_for(_summarise(doc_id), 300))
                _running.add(task)
                task.add_done_callback(_running.discard)
            """),
            in_docs=True,
        ),
        # A deadline at the top of the job.
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            tasks = set()

            async def job(q):
                async with asyncio.timeout(120):
                    await ChatOpenAI().ainvoke(q)

            async def handler(q):
                t = asyncio.create_task(job(q))
                tasks.add(t)
            """)
        ),
        # Local cleanup in a BackgroundTasks list.
        Good(
            dedent("""\
            import tempfile
            from fastapi import APIRouter, BackgroundTasks

            router = APIRouter()

            @router.post("/upload")
            async def upload(tasks: BackgroundTasks):
                f = tempfile.NamedTemporaryFile()
                tasks.add_task(f.close)
            """)
        ),
        # A worker loop meant to run forever; its reference is kept.
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            workers = []

            async def worker(queue):
                llm = ChatOpenAI()
                while True:
                    item = await queue.get()
                    await llm.ainvoke(item)

            async def startup(queue):
                workers.append(asyncio.create_task(worker(queue)))
            """)
        ),
        # Bounded work, reference kept.
        Good(
            dedent("""\
            import asyncio

            running = set()

            async def tick():
                await asyncio.sleep(1)

            async def handler():
                t = asyncio.create_task(tick())
                running.add(t)
                t.add_done_callback(running.discard)
            """)
        ),
        # Only tests start it.
        Good(
            dedent("""\
            # file: tests/test_jobs.py
            import asyncio
            from langchain_openai import ChatOpenAI

            async def ask():
                return await ChatOpenAI().ainvoke("x")

            async def test_ask():
                asyncio.create_task(ask())
            """)
        ),
        # Not a BackgroundTasks: a queue's own add_task.
        Good(
            dedent("""\
            from langchain_openai import ChatOpenAI

            async def ask(q):
                return await ChatOpenAI().ainvoke(q)

            def schedule(scheduler, q):
                scheduler.add_task(ask, q)
            """)
        ),
        # The job carries a deadline decorator (the audit's `@with_timeout(300)`).
        Good(
            dedent("""\
            import asyncio
            import functools
            from langchain_openai import ChatOpenAI

            running = set()

            def with_timeout(seconds):
                def decorator(func):
                    @functools.wraps(func)
                    async def wrapper(*args, **kwargs):
                        return await asyncio.wait_for(func(*args, **kwargs), timeout=seconds)
                    return wrapper
                return decorator

            @with_timeout(300)
            async def run_job(q):
                await ChatOpenAI().ainvoke(q)

            async def handler(q):
                task = asyncio.create_task(run_job(q))
                running.add(task)
                task.add_done_callback(running.discard)
            """)
        ),
        # A wait_for around the whole gather the task runs.
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            keep = set()

            async def one(q):
                return await ChatOpenAI().ainvoke(q)

            async def batch(qs):
                return await asyncio.wait_for(asyncio.gather(*(one(q) for q in qs)), 60)

            async def handler(qs):
                keep.add(asyncio.create_task(batch(qs)))
            """)
        ),
    )

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        return ModelNeeds(externals=keeps, facts=frozenset({"work", "cls"}))

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        analysis = deadlines(model)
        runs = where_code_runs(model)
        findings: list[Finding] = []
        for fid in sorted(model.functions):
            rows = model.functions[fid].facts.get("work")
            if not rows:
                continue
            for row in rows:
                if row[0] == "a":
                    row = cls._helper_call(model, analysis, fid, row)
                if row is None or row[0] != "t":
                    continue
                # Production code only tests are seen to reach counts as reached from no known
                # entry point (chainlit's emitter: its real caller is a socket handler).
                contexts = runs.graded(fid, is_test_path(model.path_of(fid)))
                if contexts <= {TEST}:
                    continue
                finding = cls._check(model, analysis, fid, row, contexts, settings)
                if finding is not None:
                    findings.append(finding)
        return findings

    @staticmethod
    def _helper_call(model: Graph, analysis: Deadlines, fid: str, row: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """A call of a project task helper (``safe_create_task(work(), label=...)``) as a
        ``t`` row: the helper keeps or drops the task, so no dropped reference is claimed."""
        _, line, col, end_line, end_col, arg_line, arg_col = row
        for edge in analysis.edges_at(fid, line, col):
            target = model.functions.get(edge.target)
            if target is not None and ("tw",) in (target.facts.get("work") or ()):
                return ("t", line, col, end_line, end_col, arg_line, arg_col, f"{target.name}", 0, 0)
        return None

    @classmethod
    def _check(
        cls, model: Graph, analysis: Deadlines, fid: str, row: tuple[Any, ...], contexts: frozenset[str], settings: Settings
    ) -> Finding | None:
        _, line, col, end_line, end_col, inner_line, inner_col, api, dropped, deadline = row
        llm: list[tuple[LlmCall, list[str]]] = []
        database: list[tuple[str, int, int, str]] = []
        started: list[str] = []
        if not deadline:
            for edge in analysis.edges_at(fid, inner_line, inner_col):
                if edge.kind == "thread":
                    continue
                if any(r[0] == "w" for r in model.functions[edge.target].facts.get("work") or ()):
                    continue  # a worker loop is not meant to end
                started.append(edge.target)
                work = analysis.forward_work(edge.target)
                llm += work.llm
                database += work.database
            for call, call_row in analysis.llm_calls(fid):
                if (call.line, call.col) == (inner_line, inner_col):
                    llm.append((call, [fid]))
        span = Span(line, col, end_line, end_col)
        path = model.path_of(fid)
        serving = bool(contexts & {REQUEST, BACKGROUND})
        what = f"`{api}(...)`"
        target = f" starts `{model.display(started[0])}`" if started else ""
        if llm:
            # The least bounded call speaks for the task (the first of them, in path order).
            timeouts = [analysis.timeout_of(c) for c, _ in llm]
            pick = next((i for i, t in enumerate(timeouts) if t.kind == "none"), None)
            if pick is None:
                pick = next((i for i, t in enumerate(timeouts) if t.kind == "unknown"), 0)
            (call, chain), timeout = llm[pick], timeouts[pick]
            ignored = cls._timeout_ignored(model, call, timeout, settings)
            # Critical only with no timeout at all (SL401 grades the call the same way).
            if timeout.kind == "none" or ignored:
                severity = Severity.CRITICAL if serving else Severity.HIGH
            else:
                severity = Severity.HIGH if serving else Severity.MEDIUM
            more = f" (and {len(llm) - 1} more LLM call{'s' if len(llm) > 2 else ''})" if len(llm) > 1 else ""
            message = f"{what}{target} as a background task with no deadline, and it awaits LLM work: `{call.text}`{more} in `{model.display(call.function)}`"
            if ignored:
                message += f" ({timeout.how}, but {ignored}); a hung provider keeps the task alive forever"
            elif timeout.kind == "http":
                value = f" of {timeout.seconds:g} s" if timeout.seconds is not None else ""
                retries = f", up to {timeout.retries} retries each waiting again" if timeout.retries else ""
                message += f", bounded per attempt only by an HTTP client timeout{value} ({timeout.how}{retries}); a stalled provider holds the task that long per attempt"
            elif timeout.kind == "unknown":
                message += " (sightlint could not see how its client is built); a hung provider can keep the task alive as long as the client lets it"
            else:
                message += f" ({timeout.how})" if timeout.how else ""
                message += "; a hung provider keeps the task alive forever"
            related = cls._chain(model, chain, (model.path_of(call.function), call.line, call.col, f"`{call.text}` has no deadline"))
        elif database:
            where, d_line, d_col, text = database[0]
            severity = Severity.LOW  # most jobs touch the database: worth knowing, rarely what hangs
            message = f"{what}{target} as a background task with no deadline, and it awaits database work (`{text}` in `{model.display(where)}`) that has no timeout of its own; a stalled connection keeps the task alive forever"
            related = (RelatedLocation(model.path_of(where), d_line, d_col, f"`{text}` has no deadline"),)
        elif dropped:
            found = cls.project_finding(path, span, f"{what} starts a task and drops its reference: {_WEAK}.", severity=Severity.MEDIUM)
            return _with_fix(found, wrap=False, keep=True)
        else:
            return None
        if dropped:
            message += f"; {_DROPPED}"
            if severity is Severity.LOW:
                severity = Severity.MEDIUM  # the dropped reference alone is worth that
        chain_paths = tuple(model.path_of(f) for f in started)
        found = cls.project_finding(path, span, message + ".", severity=severity, related=related, chain_paths=chain_paths)
        # A deadline for the whole job (SL401's fix bounds each call, not the job).
        wrap = bool(llm) and api != "add_task" and (inner_line, inner_col) != (line, col)
        return _with_fix(found, wrap=wrap, keep=bool(dropped))

    @staticmethod
    def _timeout_ignored(model: Graph, call: LlmCall, timeout: Timeout, settings: Settings) -> str:
        """Why a chat model's HTTP timeout may not be used at all: langchain-google-genai
        before 2.1.12 ignores ``timeout`` (the project allows such versions, or names none)."""
        if timeout.client != GENAI_CHAT or timeout.kind != "http":
            return ""
        pin = genai_pin(model, model.path_of(call.function), settings)
        if pin is None:
            return "langchain-google-genai before 2.1.12 ignores it"
        if pin.admits_below((2, 1, 12)):
            return f"the project's `{pin.text.strip()}` ({pin.source}) allows langchain-google-genai before 2.1.12, which ignores it"
        return ""

    @staticmethod
    def _chain(model: Graph, functions: list[str], last: tuple[str, int, int, str]) -> tuple[RelatedLocation, ...]:
        related = [
            RelatedLocation(model.path_of(f), model.functions[f].line, model.functions[f].col, f"`{model.display(f)}`")
            for f in functions[:-1]
        ]
        related.append(RelatedLocation(*last))
        return tuple(related)

    @classmethod
    def fix_facts_for(cls, sources: Sequence[tuple[str | None, str, str]]) -> dict[str, Any]:
        return import_conventions(sources)

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """The deadline around the task's coroutine and/or the kept reference, as the
        finding's ``fix_title`` says (see the Fix section)."""
        import libcst as cst

        if not isinstance(node, cst.Call) or not node.args:
            return None
        wrap = finding.fix_title in (_WRAP, _BOTH)
        keep = finding.fix_title in (_KEEP, _BOTH)
        line, col = finding.span.line, finding.span.col
        context = self.context
        needed = asyncio_import(context, line, col)
        if needed is None:
            return None
        imports: tuple[tuple[str, str | None], ...] = needed
        statements: tuple[tuple[str, str], ...] = ()
        call = node
        if wrap:
            deadline = Deadline.at(context, self.options.timeout_expression, line, col, self.fix_facts)
            if deadline is None:
                return None
            imports, statements = deadline.imports, deadline.statements
            first = node.args[0]
            if first.keyword is not None or first.star or not isinstance(first.value, cst.Call):
                return None
            args = [first.with_changes(value=deadline.wait_for(first.value)), *node.args[1:]]
            call = node.with_changes(args=args)
        if not keep:
            return Fix(replacement=call, imports=imports, module_statements=statements)
        ancestors = self.fix_ancestors
        if len(ancestors) < 2 or not isinstance(ancestors[-1], cst.Expr) or ancestors[-1].value is not node:
            return Fix(replacement=call, imports=imports, module_statements=statements) if wrap else None
        statement = ancestors[-2]
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            return Fix(replacement=call, imports=imports, module_statements=statements) if wrap else None
        task = fresh_name(context, _TASK_NAMES, line, col)
        keep_in = fresh_name(context, _SET_NAMES, line, col, module_level=True)
        if task is None or keep_in is None:
            return Fix(replacement=call, imports=imports, module_statements=statements) if wrap else None
        first_line = statement.with_changes(
            body=[cst.Assign(targets=[cst.AssignTarget(target=cst.Name(task))], value=call)]
        )
        rest = [
            cst.parse_statement(f"{keep_in}.add({task})"),
            cst.parse_statement(f"{task}.add_done_callback({keep_in}.discard)"),
        ]
        return Fix(
            replacement=cst.FlattenSentinel([first_line, *rest]),
            imports=imports,
            module_statements=(*statements, (keep_in, f"{keep_in}: set[asyncio.Task[object]] = set()")),
            target=statement,
        )


def _with_fix(finding: Finding, *, wrap: bool, keep: bool) -> Finding:
    """``finding`` offering the fix that does what is wanted (none when nothing is)."""
    if not wrap and not keep:
        return dataclasses.replace(finding, fix_safety=FixSafety.NONE, fix_title=None)
    title = _BOTH if wrap and keep else _WRAP if wrap else _KEEP
    return dataclasses.replace(finding, fix_safety=FixSafety.UNSAFE, fix_title=title)
