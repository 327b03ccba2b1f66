from __future__ import annotations

from collections.abc import Sequence
from textwrap import dedent
from typing import TYPE_CHECKING, Any

from sightlint.models import Finding, RelatedLocation, Span
from sightlint.project.contexts import BACKGROUND, REQUEST, SCRIPT, STARTUP
from sightlint.project.deadline_fix import (
    Deadline,
    DeadlineFixOptions,
    awaited_statement,
    bounded_by_sl401,
    import_conventions,
    blind,
    unread_timeout,
)
from sightlint.project.deadlines import UNKNOWN, Deadlines, LlmCall, Timeout, deadlines, keeps
from sightlint.project.graph import Graph, ModelNeeds
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.settings import Settings

if TYPE_CHECKING:
    import libcst as cst

# context -> (a branch with no timeout at all, every branch has an HTTP timeout)
_SEVERITY = {
    REQUEST: (Severity.CRITICAL, Severity.HIGH),
    BACKGROUND: (Severity.CRITICAL, Severity.HIGH),
    UNKNOWN: (Severity.HIGH, Severity.MEDIUM),
    STARTUP: (Severity.MEDIUM, Severity.LOW),
    SCRIPT: (Severity.MEDIUM, Severity.LOW),
}
_WHERE = {
    REQUEST: "while serving requests",
    BACKGROUND: "in a background task",
    UNKNOWN: "(reached from no known entry point)",
    STARTUP: "at startup",
    SCRIPT: "in a script",
}


class UnboundedFanOut(Rule):
    """
    ## What it flags
    A fan-out — `asyncio.gather(...)`, `asyncio.wait(...)` or `asyncio.as_completed(...)`
    without `timeout=`, an `async with asyncio.TaskGroup()` block — with no deadline
    around it or around any caller on its path, where some branch does LLM work without
    a deadline of its own (what `llm-call-without-deadline`, SL401, counts: followed
    through the branch's calls, across modules). Branches are the coroutines written in
    the call (`gather(*(ask(q) for q in qs))`), collected into a list first
    (`tasks = [ask(q) for q in qs]`, `tasks.append(...)`), or started with
    `tg.create_task(...)` in the group. The finding sits at the fan-out and names the
    unbounded branch and the call it reaches.

    A fan-out whose every branch is bounded (`gather(wait_for(ask(q), 30) ...)`, a
    branch with `async with asyncio.timeout(...)` inside) is clean, and so is one inside
    `asyncio.wait_for(...)` or `async with asyncio.timeout(...)`, or in a function every
    caller bounds. Branches that only do database or local work are left to SL601/SL602.
    A `gather`/`wait` that only awaits tasks its block has just cancelled (`for t in tasks:
    t.cancel()`, then `await asyncio.gather(*tasks, return_exceptions=True)`, typically in
    a `finally`) waits for the cancellations, not for work, and is clean; it is not clean
    when the cancelling loop sits in another block (`if stop:`) or the name gets new tasks
    in between.

    | Reached from | a branch with no timeout at all | every branch has an HTTP timeout |
    |---|---|---|
    | a request or a background task | critical | high |
    | no known entry point | high | medium |
    | only startup or a script | medium | low |

    ## Why it matters
    A gather finishes when its slowest branch does. With thirty personas answering in
    parallel, one stalled provider connection keeps the whole request or job waiting
    forever, with every other branch's result already computed and held in memory, and
    whatever the caller holds (a DB session, a semaphore slot) held too. The audit's
    focus-group `gather` (§4) is this case.

    ## Fix
    Unsafe (`--unsafe-fixes`): the fix bounds the whole fan-out with one deadline `T`;
    when it passes, the unfinished branches are cancelled and `TimeoutError` is raised
    where the fan-out is awaited — new behaviour callers may not handle, and the results
    of the branches that did finish are lost (bound each branch by hand instead if they
    should count):

    - `await asyncio.gather(...)` as a whole statement (`results = await gather(...)`,
      `return await gather(...)`), when the project targets Python 3.11 or later
      (`target-version`): the statement goes under `async with asyncio.timeout(T):`;
      otherwise `asyncio.wait_for(asyncio.gather(...), timeout=T)` (any Python). A
      cancelled `gather` cancels its branches. Only a gather awaited on the spot: one kept
      as a future (to cancel it, or await it later) gets no fix.
    - `async with asyncio.TaskGroup() as tg:` becomes
      `async with asyncio.timeout(T), asyncio.TaskGroup() as tg:` (the group cancels its
      tasks when the deadline cancels its block).
    - `asyncio.as_completed(...)` gets `timeout=T` (iteration raises `TimeoutError`).
    - No fix while `timeout-expression` is left at its default and a branch's client has
      a timeout sightlint cannot read (configuration, a parameter): 60 s could cut what
      that configuration allows.
    - `asyncio.wait(...)`: no fix — its `timeout=` returns with tasks still pending and
      running, which the code after it does not expect, and cancelling the wait does not
      cancel its tasks.

    `T` is the option `timeout-expression` (default `"60"`), checked as SL401's (same
    syntax, same import rules); `import asyncio` is added in the standard-library group
    when missing.

    When `llm-call-without-deadline` (SL401) is enabled, it reports every unbounded LLM
    call the branches reach, and its fix bounds each of them where it is made (in the
    wrapper every branch calls): the fan-out is then bounded too and this finding offers
    no fix of its own — a second deadline around the fan-out would be redundant, and
    re-checking after SL401's fix shows the fan-out clean.

    ## See also
    - https://docs.python.org/3/library/asyncio-task.html#asyncio.gather
    - https://docs.python.org/3/library/asyncio-task.html#task-groups
    - SL401 llm-call-without-deadline
    """

    meta = RuleMeta(
        code="SL402",
        name="unbounded-fan-out",
        severity=Severity.CRITICAL,
        summary="Fan-out over LLM work with no deadline: one hung branch holds all.",
        audit="§4",
        fix=FixSafety.UNSAFE,
        fix_title="Bound the whole fan-out with a deadline",
        since="0.1.0",
        tags=("async",),
    )
    cross_file = True
    # Component-local: the branches' LLM work and timeouts follow call edges and rows of
    # the same function/class/module, all within one component.
    project_scope = "component"
    Options = DeadlineFixOptions
    fix_node = "Call"
    wants_fix_ancestors = True

    bad = (
        Bad(
            dedent("""\
            import asyncio
            from fastapi import APIRouter
            from langchain_openai import ChatOpenAI

            router = APIRouter()
            llm_holder = {}

            async def answer(persona, question):
                llm = ChatOpenAI(model="gpt-4o-mini")
                return await llm.ainvoke(f"{persona}: {question}")

            @router.post("/focus-group")
            async def run(personas: list[str], question: str):
                tasks = [answer(p, question) for p in personas]
                return await asyncio.gather(*tasks, return_exceptions=True)
            """),
            fixed=dedent("""\
            import asyncio
            from fastapi import APIRouter
            from langchain_openai import ChatOpenAI

            router = APIRouter()
            llm_holder = {}

            async def answer(persona, question):
                llm = ChatOpenAI(model="gpt-4o-mini")
                return await llm.ainvoke(f"{persona}: {question}")

            @router.post("/focus-group")
            async def run(personas: list[str], question: str):
                tasks = [answer(p, question) for p in personas]
                return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=60)
            """),
            in_docs=True,
        ),
        # Branches written in the call, across modules.
        Bad(
            dedent("""\
            # file: app/llm.py
            from langchain_anthropic import ChatAnthropic

            async def summarise(text):
                return await ChatAnthropic(model="claude-haiku-4-5").ainvoke(text)
            # file: app/batch.py
            import asyncio
            from app.llm import summarise

            async def summarise_all(texts):
                return await asyncio.gather(*(summarise(t) for t in texts))
            """)
        ),
        # A TaskGroup.
        Bad(
            dedent("""\
            import asyncio
            import litellm

            async def ask(q):
                return await litellm.acompletion(model="gpt-4o", messages=[{"role": "user", "content": q}])

            async def ask_all(qs):
                async with asyncio.TaskGroup() as tg:
                    for q in qs:
                        tg.create_task(ask(q))
            """),
            fixed=dedent("""\
            import asyncio
            import litellm

            async def ask(q):
                return await litellm.acompletion(model="gpt-4o", messages=[{"role": "user", "content": q}])

            async def ask_all(qs):
                async with asyncio.timeout(60), asyncio.TaskGroup() as tg:
                    for q in qs:
                        tg.create_task(ask(q))
            """),
        ),
        # asyncio.wait without a timeout, over tasks appended in a loop.
        Bad(
            dedent("""\
            import asyncio
            from openai import AsyncOpenAI

            async def embed(text):
                return await AsyncOpenAI().embeddings.create(model="text-embedding-3-small", input=text)

            async def embed_all(texts):
                pending = []
                for t in texts:
                    pending.append(asyncio.create_task(embed(t)))
                done, _ = await asyncio.wait(pending)
                return done
            """)
        ),
        # as_completed without a timeout.
        Bad(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            class Panel:
                def __init__(self):
                    self.llm = ChatOpenAI()

                async def one(self, q):
                    return await self.llm.ainvoke(q)

                async def stream_answers(self, qs):
                    for fut in asyncio.as_completed([self.one(q) for q in qs]):
                        yield await fut
            """),
            fixed=dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            class Panel:
                def __init__(self):
                    self.llm = ChatOpenAI()

                async def one(self, q):
                    return await self.llm.ainvoke(q)

                async def stream_answers(self, qs):
                    for fut in asyncio.as_completed([self.one(q) for q in qs], timeout=60):
                        yield await fut
            """),
        ),
        # The branch bounds one call but not the other.
        Bad(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def draft_and_review(topic):
                llm = ChatOpenAI()
                draft = await asyncio.wait_for(llm.ainvoke(topic), 30)
                return await llm.ainvoke(f"review: {draft}")

            async def many(topics):
                return await asyncio.gather(*[draft_and_review(t) for t in topics])
            """),
            fixed=dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def draft_and_review(topic):
                llm = ChatOpenAI()
                draft = await asyncio.wait_for(llm.ainvoke(topic), 30)
                return await llm.ainvoke(f"review: {draft}")

            async def many(topics):
                return await asyncio.wait_for(asyncio.gather(*[draft_and_review(t) for t in topics]), timeout=60)
            """),
        ),
        # A deadline in one caller does not bound another.
        Bad(
            dedent("""\
            import asyncio
            from langchain_openai import OpenAIEmbeddings

            async def embed_chunks(chunks):
                client = OpenAIEmbeddings()
                return await asyncio.gather(*(client.aembed_query(c) for c in chunks))

            async def search(chunks):
                return await asyncio.wait_for(embed_chunks(chunks), 10)

            async def index(chunks):
                return await embed_chunks(chunks)
            """),
            fixed=dedent("""\
            import asyncio
            from langchain_openai import OpenAIEmbeddings

            async def embed_chunks(chunks):
                client = OpenAIEmbeddings()
                return await asyncio.wait_for(asyncio.gather(*(client.aembed_query(c) for c in chunks)), timeout=60)

            async def search(chunks):
                return await asyncio.wait_for(embed_chunks(chunks), 10)

            async def index(chunks):
                return await embed_chunks(chunks)
            """),
        ),
        # Clients with an HTTP timeout: high, not critical.
        Bad(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def ask(q):
                return await ChatOpenAI(timeout=30).ainvoke(q)

            async def ask_all(qs):
                return await asyncio.gather(*(ask(q) for q in qs))
            """),
            fixed=dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def ask(q):
                return await ChatOpenAI(timeout=30).ainvoke(q)

            async def ask_all(qs):
                return await asyncio.wait_for(asyncio.gather(*(ask(q) for q in qs)), timeout=60)
            """),
        ),
    )

    good = (
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def answer(persona, question):
                return await ChatOpenAI().ainvoke(f"{persona}: {question}")

            async def run(personas, question):
                tasks = [answer(p, question) for p in personas]
                return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=60)
            """),
            in_docs=True,
        ),
        # Each branch bounded.
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def answer(q):
                return await ChatOpenAI().ainvoke(q)

            async def run(qs):
                return await asyncio.gather(*(asyncio.wait_for(answer(q), 30) for q in qs), return_exceptions=True)
            """)
        ),
        # A gather inside asyncio.timeout.
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def answer(q):
                return await ChatOpenAI().ainvoke(q)

            async def run(qs):
                async with asyncio.timeout(60):
                    return await asyncio.gather(*(answer(q) for q in qs))
            """)
        ),
        # A deadline inside each branch.
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def answer(q):
                async with asyncio.timeout(30):
                    return await ChatOpenAI().ainvoke(q)

            async def run(qs):
                return await asyncio.gather(*(answer(q) for q in qs))
            """)
        ),
        # Only local work and threads in the branches.
        Good(
            dedent("""\
            import asyncio

            def parse(doc):
                return doc.split()

            async def parse_all(docs):
                return await asyncio.gather(*(asyncio.to_thread(parse, d) for d in docs))
            """)
        ),
        # asyncio.wait with a timeout.
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def answer(q):
                return await ChatOpenAI().ainvoke(q)

            async def run(qs):
                done, pending = await asyncio.wait([asyncio.create_task(answer(q)) for q in qs], timeout=45)
                for task in pending:
                    task.cancel()
                return done
            """)
        ),
        # The finally only waits for the tasks it has just cancelled (the loop above is the fan-out).
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def answer(q):
                return await ChatOpenAI().ainvoke(q)

            async def first(qs):
                tasks = [asyncio.create_task(answer(q)) for q in qs]
                try:
                    for future in asyncio.as_completed(tasks, timeout=60):
                        return await future
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            """)
        ),
        # Every caller bounds the function holding the gather.
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            async def answer(q):
                return await ChatOpenAI().ainvoke(q)

            async def _all(qs):
                return await asyncio.gather(*(answer(q) for q in qs))

            async def handler(qs):
                return await asyncio.wait_for(_all(qs), 90)
            """)
        ),
        # anyio.move_on_after around a TaskGroup.
        Good(
            dedent("""\
            import anyio
            import asyncio
            from langchain_openai import ChatOpenAI

            async def answer(q):
                return await ChatOpenAI().ainvoke(q)

            async def run(qs):
                with anyio.move_on_after(60):
                    async with asyncio.TaskGroup() as tg:
                        for q in qs:
                            tg.create_task(answer(q))
            """)
        ),
        # Only database branches: SL601/SL602's concern.
        Good(
            dedent("""\
            import asyncio
            from sqlalchemy.ext.asyncio import async_sessionmaker

            Session = async_sessionmaker()

            async def count(table):
                async with Session() as db:
                    return await db.execute(f"select count(*) from {table}")

            async def counts(tables):
                return await asyncio.gather(*(count(t) for t in tables))
            """)
        ),
    )

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        return ModelNeeds(externals=keeps, facts=frozenset({"work", "cls"}))

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        analysis = deadlines(model)
        findings: list[Finding] = []
        for fid in sorted(model.functions):
            rows = model.functions[fid].facts.get("work")
            if not rows:
                continue
            for row in rows:
                if row[0] != "f" or row[6]:
                    continue
                finding = cls._check(model, analysis, fid, row, rows, settings)
                if finding is not None:
                    findings.append(finding)
        return findings

    @classmethod
    def _check(
        cls, model: Graph, analysis: Deadlines, fid: str, row: tuple[Any, ...], rows: list[tuple[Any, ...]], settings: Settings
    ) -> Finding | None:
        _, line, col, end_line, end_col, api, _, names, positions = row
        branches = {tuple(int(x) for x in p.split(":")) for p in positions}
        branches |= {(r[2], r[3]) for r in rows if r[0] == "s" and r[1] in names}
        found: list[tuple[LlmCall, list[str], Timeout]] = []
        for call, call_row in analysis.llm_calls(fid):
            if (call.line, call.col) in branches and not (call_row is not None and call_row[5]):
                found.append((call, [fid], analysis.timeout_of(call)))
        for branch_line, branch_col in sorted(branches):
            for edge in analysis.edges_at(fid, branch_line, branch_col):
                if edge.kind == "thread" or analysis.bounded_edge(edge):
                    continue
                for call, chain in analysis.forward_work(edge.target).llm:
                    found.append((call, [fid, *chain], analysis.timeout_of(call)))
        if not found:
            return None
        reach = analysis.unbounded_paths(fid)
        context = reach.context()
        if context is None or context not in _SEVERITY:
            return None
        found.sort(key=lambda item: (item[2].kind != "none", item[0].function, item[0].line))
        call, chain, timeout = found[0]
        worst, weaker = _SEVERITY[context]
        severity = worst if timeout.kind == "none" else weaker
        shown = f"`asyncio.{api}(...)`" if api != "TaskGroup" else "this `TaskGroup`"
        branch = f"branch `{model.display(chain[1])}`" if len(chain) > 1 else "a branch"
        if timeout.kind == "none":
            bound = f"with no timeout at all ({timeout.how})" if timeout.how else "with no timeout at all"
        elif timeout.kind == "http":
            bound = f"with only an HTTP client timeout ({timeout.how})"
        else:
            bound = "with no deadline"
        message = (
            f"{shown} waits {_WHERE[context]} for every branch with no deadline, and {branch} awaits "
            f"`{call.text}` in `{model.display(call.function)}` {bound}: one hung call holds the whole fan-out."
        )
        related = [
            RelatedLocation(model.path_of(f), model.functions[f].line, model.functions[f].col, f"`{model.display(f)}`")
            for f in chain[1:]
        ]
        related.append(RelatedLocation(model.path_of(call.function), call.line, call.col, f"`{call.text}` has no deadline"))
        start = reach.worst_start()
        if start is not None:
            related = [model.hop(edge) for edge in reach.chain(start)] + related
        paths = tuple(sorted({model.path_of(f) for f in reach.towards} | {model.path_of(f) for f in chain}))
        # SL401's fix bounds every unbounded LLM call a branch reaches: a deadline around the
        # fan-out too would be a second one (see the Fix section).
        covered = all(bounded_by_sl401(settings, model.path_of(c.function), c.method, t.kind, t.seconds) for c, _, t in found)
        # The default number of seconds could cut branches whose clients' own timeouts are unread.
        options: DeadlineFixOptions = cls.options_for(settings)
        unchosen = blind(options.timeout_expression) and any(unread_timeout(t.kind, t.seconds) for _, _, t in found)
        return cls.project_finding(
            model.path_of(fid),
            Span(line, col, end_line, end_col),
            message,
            severity=severity,
            related=tuple(related),
            chain_paths=paths,
            fix_safety=FixSafety.NONE if api == "wait" or covered or unchosen else FixSafety.UNSAFE,
        )

    @classmethod
    def fix_facts_for(cls, sources: Sequence[tuple[str | None, str, str]]) -> dict[str, Any]:
        return import_conventions(sources)

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """One deadline around the fan-out (see the Fix section)."""
        import libcst as cst

        if not isinstance(node, cst.Call):
            return None
        line, col = finding.span.line, finding.span.col
        deadline = Deadline.at(self.context, self.options.timeout_expression, line, col, self.fix_facts)
        if deadline is None:
            return None
        ancestors = self.fix_ancestors
        name = node.func.attr.value if isinstance(node.func, cst.Attribute) else node.func.value if isinstance(node.func, cst.Name) else ""
        if name == "TaskGroup":
            if len(ancestors) < 2 or not isinstance(ancestors[-1], cst.WithItem) or not isinstance(ancestors[-2], cst.With):
                return None
            block = ancestors[-2]
            if block.asynchronous is None:
                return None
            items = [deadline.timeout_item().with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), *block.items]
            return Fix(replacement=block.with_changes(items=items), imports=deadline.imports, module_statements=deadline.statements, target=block)
        if name == "as_completed":
            if any(arg.keyword is not None and arg.keyword.value == "timeout" for arg in node.args) or any(arg.star == "**" for arg in node.args):
                return None
            args = list(node.args)
            args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            timeout = cst.Arg(
                keyword=cst.Name("timeout"),
                value=deadline.expression,
                equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
            )
            return Fix(replacement=node.with_changes(args=[*args, timeout]), imports=deadline.imports, module_statements=deadline.statements)
        if name != "gather" or not (ancestors and isinstance(ancestors[-1], cst.Await)):
            return None  # a gather kept as a future (cancelled, awaited later) must stay one
        if deadline.timeout_cm:
            statement = awaited_statement(node, ancestors)
            if statement is not None:
                return Fix(replacement=deadline.around(statement), imports=deadline.imports, module_statements=deadline.statements, target=statement)
        return Fix(replacement=deadline.wait_for(node), imports=deadline.imports, module_statements=deadline.statements)
