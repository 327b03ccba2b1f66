from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from textwrap import dedent
from typing import TYPE_CHECKING, Any

from sightlint.models import Finding, RelatedLocation, Span
from sightlint.project.contexts import BACKGROUND, REQUEST, SCRIPT, STARTUP, TEST
from sightlint.project.deadline_fix import (
    DEFAULT_TIMEOUT,
    Deadline,
    awaited_statement,
    import_conventions,
    sl401_fixes,
    validate_timeout_expression,
)
from sightlint.project.deadlines import GENAI_CHAT, UNKNOWN, LlmCall, Timeout, deadlines, genai_pin, keeps
from sightlint.project.graph import Graph, ModelNeeds
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.settings import Settings

if TYPE_CHECKING:
    import libcst as cst

_MAX_OTHER_CALLERS = 10
_WHERE = {
    REQUEST: "while serving requests",
    BACKGROUND: "in a background task",
    UNKNOWN: "(reached from no known entry point)",
    STARTUP: "at startup",
    SCRIPT: "in a script",
}
# context -> (no timeout at all, only an HTTP timeout or not followed)
_SEVERITY = {
    REQUEST: (Severity.CRITICAL, Severity.HIGH),
    BACKGROUND: (Severity.CRITICAL, Severity.HIGH),
    UNKNOWN: (Severity.HIGH, Severity.MEDIUM),
    STARTUP: (Severity.MEDIUM, Severity.LOW),
    SCRIPT: (Severity.MEDIUM, Severity.LOW),
}


@dataclass(frozen=True)
class DeadlineOptions:
    """SL401's settings."""

    accept_client_timeout: bool = False
    """Do not report a call whose client has an HTTP timeout (set where it is built, or
    per request): only calls with no timeout at all."""

    timeout_expression: str = DEFAULT_TIMEOUT
    """The deadline the fix writes, in seconds: a Python expression (`"60"`,
    `"settings.LLM_TIMEOUT"`). A name it reads must be imported or defined in the fixed
    module, else imported as the project's other modules import it (`from app.core.config
    import settings`), else the site is not fixed."""

    def __post_init__(self) -> None:
        validate_timeout_expression(self.timeout_expression)


class LlmCallWithoutDeadline(Rule):
    """
    ## What it flags
    An awaited LLM or embeddings call with no deadline anywhere on its path: LangChain
    `ainvoke`/`abatch`/`astream`/`agenerate`/`aembed_query`/`aembed_documents`/
    `aconvert_to_graph_documents` on a chat model, embeddings client, graph transformer
    or LCEL pipe (`prompt | llm | parser`, `llm.with_structured_output(...)`), the async
    OpenAI / Anthropic / `google.genai` SDK calls (`client.chat.completions.create`,
    `client.messages.create`, `client.aio.models.generate_content`) and
    `litellm.acompletion`/`aembedding`/`atranscription`. A deadline is
    `asyncio.wait_for`, `async with asyncio.timeout(...)`, `anyio.fail_after` or
    `move_on_after` around the call, or around the call of *any* caller on the way from
    an entry point: a call reached only through bounded callers is clean.

    The client is followed to where it is built, across modules: `self.llm = ChatX(...)`
    in any method of the class, a project factory (`build_chat_model(...)`) including a
    `timeout` it passes through from its caller, a `params` dict it fills, or `**config`
    spread from settings, `lru_cache` getters, derived runnables and pipes. The message
    says which case it is:

    | Client | Severity on a request or background path |
    |---|---|
    | no timeout at all (LangChain's default) | critical |
    | only an HTTP client timeout (named, with `max_retries`, which multiply it) | high |
    | built where sightlint cannot see (a parameter) | high |

    Reached only at startup or from a script: medium (low with a client timeout); from
    no known entry point: one level below a request. Tests are not reported.

    A project function whose own body makes the unbounded call (a provider's
    `complete()` over `litellm`, an `embed()` helper) is a wrapper: the finding stays at
    the call inside it, and its related locations list the chain from the worst entry
    point and the wrapper's other callers that reach it without a deadline, so one fix in
    the wrapper bounds them all. A caller that passes a flag switching the wrapper's own
    deadline on (`complete(p, with_timeout=True)` where the unbounded call sits under
    `if not with_timeout:`, or after `if with_timeout: return await wait_for(...)`)
    drops out. A function decorated with a deadline (`@with_timeout(300)`,
    `@timeout(30)`: a decorator whose name says timeout or deadline) is bounded, and so is
    everything it calls. A stream (`astream`) needs a deadline per chunk or around the whole
    iteration. Sync LLM calls in async code are `blocking-call-in-async` (SL101).

    Library facts, read in the installed sources:

    - `langchain_openai.ChatOpenAI`/`AzureChatOpenAI`/`OpenAIEmbeddings`:
      `request_timeout` (alias `timeout`) defaults to `None` and is passed to the SDK as
      `timeout=None`, which disables the SDK's own 600 s (langchain-openai 1.7.4
      `chat_models/base.py`; openai 3.57.0 `_base_client.py` applies `DEFAULT_TIMEOUT`
      only when no timeout is given, `_constants.py`: 600 s, 2 retries).
    - `langchain_anthropic.ChatAnthropic`: `default_request_timeout` (alias `timeout`)
      defaults to `None`, passed on as no timeout (langchain-anthropic 1.7.10
      `chat_models.py`); the raw `anthropic` client defaults to 600 s, 2 retries
      (anthropic 2.14.0 `_constants.py`).
    - `langchain_google_genai.ChatGoogleGenerativeAI`: `timeout` is accepted but not
      used before 2.1.12 (2.1.11 never reads it; 2.1.12 and 3.0.0 pass it per request in
      `chat_models.py`); 4.x converts it to milliseconds for `google.genai`
      (4.4.3 `chat_models.py`). `GoogleGenerativeAIEmbeddings` has no working timeout in
      any version: its `request_options` field is never read (2.1.12, 3.0.0, 4.4.3
      `embeddings.py`).
    - `google.genai` `HttpOptions(timeout=...)` is in **milliseconds** (google-genai
      3.6.1 `types.py`): `timeout=30` is a 30 ms timeout.
    - `litellm`: `acompletion`, `atext_completion` and `aembedding`, and a `Router`'s,
      get a 600 s request timeout when none is passed (`main.py`: `completion()` takes
      `timeout or request_timeout or 600`, `embedding(timeout=600)`), an HTTP timeout per
      attempt; `aresponses` and `atranscription` count as having none.

    ## Why it matters
    A provider that stalls (overload, a dropped connection, a long queue) keeps the
    awaiting coroutine waiting forever when nothing sets a deadline: the request never
    answers, a background job never ends, and with a client's `max_retries` an HTTP
    timeout of 60 s can still mean minutes. An HTTP timeout bounds one attempt, not the
    call; only an asyncio deadline bounds the work as the caller sees it, and cancels it.

    ## Fix
    Unsafe (`--unsafe-fixes`): a deadline is new behaviour — a call that used to wait
    gets cancelled and raises `TimeoutError` after `T` seconds, which callers may not
    handle. The fix bounds the call the finding names: for a wrapper's call that is every
    caller at once.

    - `await call` that is a whole statement (`x = await llm.ainvoke(...)`,
      `return await ...`, nothing else awaited in it), when the project targets Python 3.11
      or later (`target-version`): the statement goes under
      `async with asyncio.timeout(T):`.
    - Otherwise (older targets, or the call inside a larger expression):
      `asyncio.wait_for(call, timeout=T)`, which any Python accepts.
    - Only where the call is awaited: a call whose result is not awaited on the spot (a
      sync client's, or a coroutine handed to `gather`/`create_task`) gets no fix — a
      `wait_for` there would turn a sync result into a coroutine, and a coroutine handed
      on is bounded where it is awaited (SL402/SL403).
    - A stream (`async for chunk in llm.astream(...)`): the loop goes under
      `async with asyncio.timeout(T):` (3.11+); no fix before 3.11, since `wait_for`
      cannot bound an iteration, nor for calls that return a stream to read later: SDK
      calls with `stream=True`, methods named for streams (`generate_content_stream`),
      and `**kwargs` calls where the result or the function is named for a stream
      (`stream = await client.chat.completions.create(**request)`, inside
      `async def stream_async`) — a deadline there would bound only the start.
    - No fix while `timeout-expression` is left at its default for a client whose own
      timeout sightlint cannot read (set from configuration, `**params`, a client
      passed in): 60 s could cut attempts that configuration allows. Set
      `timeout-expression` (the project's setting, or a number at least as long as the
      configured client timeouts) to fix those too.
    - No fix for a batch (`abatch`, `agenerate`, `aembed_documents`,
      `aconvert_to_graph_documents`): its time grows with the number of inputs, so one
      fixed deadline would cut large batches (bound each item, or scale the deadline).

    `T` is the option `timeout-expression` (default `"60"`), raised to the client's own
    HTTP timeout when the code sets it to a longer number of seconds and `T` is a number
    (a call built with `timeout=120` gets `120`: the deadline never cuts an attempt the
    code allows; an SDK's default, such as OpenAI's 600 s, does not count); write
    `timeout-expression = "settings.LLM_TIMEOUT"` to use the project's setting. The
    expression is checked when the configuration is loaded (a positive number, a dotted
    name, a call of one without arguments, or `*`/`+`/`/` of those); a name it reads must
    mean the same module-level object at the site (no local or parameter of that name);
    when the module lacks it, it is made as most of the project's modules make it
    (`from app.core.config import settings`, or `from app.core.config import
    get_settings` and `settings = get_settings()` after the imports), else the site is
    not fixed.
    `import asyncio` is added in the standard-library group when missing; no fix where
    `asyncio` names something else. Set a client `timeout` as well, so abandoned HTTP
    requests are closed.

    ## Options
    `accept-client-timeout = true` stops reporting calls whose client has an HTTP
    timeout, leaving only calls with no timeout at all. `timeout-expression` is the
    deadline the fix writes (see Fix).

    ## See also
    - https://docs.python.org/3/library/asyncio-task.html#timeouts
    - SL402 unbounded-fan-out, SL403 background-task-without-deadline
    """

    meta = RuleMeta(
        code="SL401",
        name="llm-call-without-deadline",
        severity=Severity.CRITICAL,
        summary="LLM call awaited with no deadline on its path.",
        audit="§4",
        fix=FixSafety.UNSAFE,
        fix_title="Bound the call with a deadline (`asyncio.timeout` / `asyncio.wait_for`)",
        since="0.1.0",
        tags=("async",),
    )
    cross_file = True
    # Component-local: the call's client timeout (rows of its own function, class and
    # module), its callers' deadlines and contexts all follow edges within one component.
    project_scope = "component"
    Options = DeadlineOptions
    fix_node = "Call"
    wants_fix_ancestors = True

    bad = (
        Bad(
            dedent("""\
            from fastapi import APIRouter
            from langchain_openai import ChatOpenAI

            router = APIRouter()

            class Summariser:
                def __init__(self):
                    self.llm = ChatOpenAI(model="gpt-4o-mini")

                async def summarise(self, text):
                    reply = await self.llm.ainvoke(text)
                    return reply.content

            @router.post("/summary")
            async def summary(text: str):
                return await Summariser().summarise(text)
            """),
            fixed=dedent("""\
            import asyncio

            from fastapi import APIRouter
            from langchain_openai import ChatOpenAI

            router = APIRouter()

            class Summariser:
                def __init__(self):
                    self.llm = ChatOpenAI(model="gpt-4o-mini")

                async def summarise(self, text):
                    reply = await asyncio.wait_for(self.llm.ainvoke(text), timeout=60)
                    return reply.content

            @router.post("/summary")
            async def summary(text: str):
                return await Summariser().summarise(text)
            """),
            in_docs=True,
        ),
        # A factory passing its caller's timeout through: an HTTP timeout only.
        Bad(
            dedent("""\
            # file: app/clients.py
            from langchain_openai import ChatOpenAI

            def build_chat_model(model, timeout=None):
                return ChatOpenAI(model=model, timeout=timeout)
            # file: app/service.py
            from app.clients import build_chat_model

            class Writer:
                def __init__(self):
                    self.llm = build_chat_model("gpt-4o", timeout=60)

                async def write(self, prompt):
                    return await self.llm.ainvoke(prompt)
            """)
        ),
        # An LCEL pipe.
        Bad(
            dedent("""\
            from langchain_anthropic import ChatAnthropic
            from langchain_core.prompts import ChatPromptTemplate

            prompt = ChatPromptTemplate.from_template("Answer: {q}")

            async def answer(q):
                llm = ChatAnthropic(model="claude-sonnet-4-5")
                chain = prompt | llm
                return await chain.ainvoke({"q": q})
            """),
            fixed=dedent("""\
            import asyncio

            from langchain_anthropic import ChatAnthropic
            from langchain_core.prompts import ChatPromptTemplate

            prompt = ChatPromptTemplate.from_template("Answer: {q}")

            async def answer(q):
                llm = ChatAnthropic(model="claude-sonnet-4-5")
                chain = prompt | llm
                return await asyncio.wait_for(chain.ainvoke({"q": q}), timeout=60)
            """),
        ),
        # A wrapper: one finding, inside it, whatever calls it.
        Bad(
            dedent("""\
            import asyncio
            import litellm

            class Provider:
                async def complete(self, prompt, with_timeout=False):
                    if with_timeout:
                        return await asyncio.wait_for(self._raw(prompt), 30)
                    return await litellm.acompletion(model="gpt-4o", messages=[prompt])

                async def _raw(self, prompt):
                    return await litellm.acompletion(model="gpt-4o", messages=[prompt], timeout=30)

            async def caller_a(p: Provider):
                return await p.complete("a")

            async def caller_b(p: Provider):
                return await p.complete("b")
            """),
            fixed=dedent("""\
            import asyncio
            import litellm

            class Provider:
                async def complete(self, prompt, with_timeout=False):
                    if with_timeout:
                        return await asyncio.wait_for(self._raw(prompt), 30)
                    return await asyncio.wait_for(litellm.acompletion(model="gpt-4o", messages=[prompt]), timeout=60)

                async def _raw(self, prompt):
                    return await litellm.acompletion(model="gpt-4o", messages=[prompt], timeout=30)

            async def caller_a(p: Provider):
                return await p.complete("a")

            async def caller_b(p: Provider):
                return await p.complete("b")
            """),
        ),
        # google.genai's HttpOptions timeout is in milliseconds.
        Bad(
            dedent("""\
            from google import genai
            from google.genai import types

            client = None

            async def ask(prompt):
                client = genai.Client(http_options=types.HttpOptions(timeout=30))
                return await client.aio.models.generate_content(model="gemini-2.5-flash", contents=prompt)
            """),
            fixed=dedent("""\
            import asyncio

            from google import genai
            from google.genai import types

            client = None

            async def ask(prompt):
                client = genai.Client(http_options=types.HttpOptions(timeout=30))
                return await asyncio.wait_for(client.aio.models.generate_content(model="gemini-2.5-flash", contents=prompt), timeout=60)
            """),
        ),
        # Embeddings: GoogleGenerativeAIEmbeddings has no working timeout. A batch: no fix.
        Bad(
            dedent("""\
            from functools import lru_cache
            from langchain_google_genai import GoogleGenerativeAIEmbeddings

            @lru_cache
            def get_embeddings():
                return GoogleGenerativeAIEmbeddings(model="models/gemini-embedding-001", request_options={"timeout": 10})

            async def embed(texts):
                return await get_embeddings().aembed_documents(texts)
            """),
        ),
        # The OpenAI SDK's default 600 s is an HTTP timeout, not a deadline.
        Bad(
            dedent("""\
            from openai import AsyncOpenAI

            class Chat:
                def __init__(self):
                    self.client = AsyncOpenAI()

                async def reply(self, messages):
                    out = await self.client.chat.completions.create(model="gpt-4o", messages=messages)
                    return out.choices[0].message.content
            """),
            fixed=dedent("""\
            import asyncio

            from openai import AsyncOpenAI

            class Chat:
                def __init__(self):
                    self.client = AsyncOpenAI()

                async def reply(self, messages):
                    out = await asyncio.wait_for(self.client.chat.completions.create(model="gpt-4o", messages=messages), timeout=60)
                    return out.choices[0].message.content
            """),
        ),
        # A structured-output runnable derived from the client, streamed.
        Bad(
            dedent("""\
            from langchain_google_genai import ChatGoogleGenerativeAI

            class Extractor:
                def __init__(self, schema):
                    self.llm = ChatGoogleGenerativeAI(model="gemini-2.5-flash")
                    self.structured = self.llm.with_structured_output(schema)

                async def extract(self, text):
                    return await self.structured.ainvoke(text)
            """),
            fixed=dedent("""\
            import asyncio

            from langchain_google_genai import ChatGoogleGenerativeAI

            class Extractor:
                def __init__(self, schema):
                    self.llm = ChatGoogleGenerativeAI(model="gemini-2.5-flash")
                    self.structured = self.llm.with_structured_output(schema)

                async def extract(self, text):
                    return await asyncio.wait_for(self.structured.ainvoke(text), timeout=60)
            """),
        ),
        # Bounded in one caller, not in the other.
        Bad(
            dedent("""\
            import asyncio
            from langchain_openai import OpenAIEmbeddings

            embeddings = None

            async def embed(text):
                client = OpenAIEmbeddings()
                return await client.aembed_query(text)

            async def search(text):
                return await asyncio.wait_for(embed(text), 5)

            async def index(text):
                return await embed(text)
            """),
            fixed=dedent("""\
            import asyncio
            from langchain_openai import OpenAIEmbeddings

            embeddings = None

            async def embed(text):
                client = OpenAIEmbeddings()
                return await asyncio.wait_for(client.aembed_query(text), timeout=60)

            async def search(text):
                return await asyncio.wait_for(embed(text), 5)

            async def index(text):
                return await embed(text)
            """),
        ),
    )

    good = (
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            class Summariser:
                def __init__(self):
                    self.llm = ChatOpenAI(model="gpt-4o-mini", timeout=30)

                async def summarise(self, text):
                    reply = await asyncio.wait_for(self.llm.ainvoke(text), timeout=45)
                    return reply.content
            """),
            in_docs=True,
        ),
        # A deadline around the caller covers the whole path.
        Good(
            dedent("""\
            import asyncio
            from langchain_openai import ChatOpenAI

            llm_holder = None

            async def _ask(prompt):
                llm = ChatOpenAI()
                return await llm.ainvoke(prompt)

            async def handler(prompt):
                async with asyncio.timeout(20):
                    return await _ask(prompt)
            """)
        ),
        # The wrapper's callers all switch its deadline on.
        Good(
            dedent("""\
            import asyncio
            import litellm

            async def complete(prompt, with_timeout=False):
                if with_timeout:
                    return await asyncio.wait_for(litellm.acompletion(model="m", messages=[prompt]), 30)
                return await litellm.acompletion(model="m", messages=[prompt])

            async def caller(prompt):
                return await complete(prompt, with_timeout=True)
            """)
        ),
        # anyio deadlines count too.
        Good(
            dedent("""\
            import anyio
            from langchain_anthropic import ChatAnthropic

            async def ask(prompt):
                llm = ChatAnthropic(model="claude-haiku-4-5")
                with anyio.fail_after(30):
                    return await llm.ainvoke(prompt)
            """)
        ),
        # A sync call in async code is SL101's.
        Good(
            dedent("""\
            from langchain_openai import ChatOpenAI

            async def ask(prompt):
                return ChatOpenAI().invoke(prompt)
            """)
        ),
        # Not an LLM client: a project class with an `ainvoke` method.
        Good(
            dedent("""\
            class Tool:
                async def ainvoke(self, x):
                    return x

            async def run(x):
                return await Tool().ainvoke(x)
            """)
        ),
        # Only reached from a test.
        Good(
            dedent("""\
            # file: tests/test_llm.py
            from langchain_openai import ChatOpenAI

            async def test_live():
                assert await ChatOpenAI().ainvoke("ping")
            """)
        ),
        # move_on_after around a gather of calls.
        Good(
            dedent("""\
            import anyio
            from langchain_openai import ChatOpenAI

            async def one(llm, q):
                return await llm.ainvoke(q)

            async def many(qs):
                llm = ChatOpenAI()
                with anyio.move_on_after(60):
                    for q in qs:
                        await llm.ainvoke(q)
            """)
        ),
        # A deadline decorator on the caller.
        Good(
            dedent("""\
            from langchain_openai import ChatOpenAI
            from app.utils import with_timeout

            async def _ask(q):
                return await ChatOpenAI().ainvoke(q)

            @with_timeout(seconds=60)
            async def answer(q):
                return await _ask(q)
            """)
        ),
        # A client timeout is accepted with accept-client-timeout; here a wait_for in the only caller.
        Good(
            dedent("""\
            import asyncio
            from openai import AsyncOpenAI

            client = AsyncOpenAI(timeout=20)

            async def _call(messages):
                return await AsyncOpenAI(timeout=20).chat.completions.create(model="gpt-4o", messages=messages)

            async def reply(messages):
                return await asyncio.wait_for(_call(messages), 30)
            """)
        ),
    )

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        return ModelNeeds(externals=keeps, facts=frozenset({"work", "cls"}))

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        options: DeadlineOptions = cls.options_for(settings)
        analysis = deadlines(model)
        findings: list[Finding] = []
        for fid in sorted(model.functions):
            for call, row in analysis.llm_calls(fid):
                if row is not None and row[5]:
                    continue  # a deadline in the same function
                reach = analysis.unbounded_paths(fid, row[6] if row is not None else "")
                context = reach.context()
                if context is None or context not in _SEVERITY:
                    continue
                timeout = analysis.timeout_of(call)
                if timeout.kind == "http" and options.accept_client_timeout:
                    continue
                worst, weaker = _SEVERITY[context]
                severity = worst if timeout.kind == "none" else weaker
                findings.append(cls._finding(model, call, timeout, reach, context, severity, settings))
        return findings

    @classmethod
    def _finding(
        cls, model: Graph, call: LlmCall, timeout: Timeout, reach: object, context: str, severity: Severity, settings: Settings
    ) -> Finding:
        from sightlint.project.deadlines import Reach

        assert isinstance(reach, Reach)
        where = _WHERE[context]
        if timeout.kind == "none":
            what = f"no timeout anywhere: {timeout.how}" if timeout.how else "no timeout anywhere"
        elif timeout.kind == "http":
            value = f": {timeout.seconds:g} s" if timeout.seconds is not None else ""
            retries = f", and up to {timeout.retries} retries each wait again" if timeout.retries else ""
            what = f"only an HTTP client timeout ({timeout.how}{value}{retries}), which bounds one attempt, not the call"
        else:
            what = "no asyncio deadline, and sightlint could not see how the client is built"
        if timeout.client == GENAI_CHAT and timeout.kind == "http":
            pin = genai_pin(model, model.path_of(call.function), settings)
            if pin is None:
                what += "; langchain-google-genai before 2.1.12 ignores a chat model's `timeout` (the underlying API client's default applies)"
            elif pin.admits_below((2, 1, 12)):
                what += (
                    f"; the project's `{pin.text.strip()}` ({pin.source}) allows langchain-google-genai before 2.1.12, "
                    "which ignores a chat model's `timeout` (the underlying API client's default applies)"
                )
        stream = " (a stream needs a deadline per chunk or around the whole iteration)" if call.method.startswith("astream") else ""
        callers = [e for e in model.callers.get(call.function, ()) if reach.towards.get(e.source) is e]
        wrapper = ""
        if callers:
            wrapper = f"; `{model.display(call.function)}` is reached without a deadline from {len(callers)} call site{'s' if len(callers) != 1 else ''}, so a deadline here bounds them all"
        message = f"`{call.text}` is awaited {where} with {what}{stream}{wrapper}."
        related: list[RelatedLocation] = []
        start = reach.worst_start()
        if start is not None:
            related += [model.hop(edge) for edge in reach.chain(start)]
        shown = {(r.path, r.line, r.col) for r in related}
        for edge in callers[:_MAX_OTHER_CALLERS]:
            hop = model.hop(edge)
            if (hop.path, hop.line, hop.col) not in shown:
                related.append(hop)
        paths = tuple(sorted({model.path_of(f) for f in reach.towards}))
        found = cls.project_finding(
            model.path_of(call.function),
            Span(call.line, call.col, call.end_line, call.end_col),
            message,
            severity=severity,
            related=tuple(related),
            chain_paths=paths,
            fix_safety=FixSafety.NONE if _no_fix(call.method, timeout, settings) else FixSafety.UNSAFE,
        )
        if found.fix_title and timeout.kind == "http" and timeout.seconds and not timeout.how.endswith("'s default"):
            # The fix's deadline is never shorter than one attempt the client allows.
            found = dataclasses.replace(found, fix_title=f"{found.fix_title}, no shorter than its client's {timeout.seconds:g} s timeout")
        return found

    @classmethod
    def fix_facts_for(cls, sources: Sequence[tuple[str | None, str, str]]) -> dict[str, Any]:
        return import_conventions(sources)

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """Bound the LLM call: the statement awaiting it under ``async with asyncio.timeout(T)``
        (3.11+), else ``asyncio.wait_for(call, timeout=T)``; a stream's loop under the former."""
        return deadline_fix(self, node, finding, self.options.timeout_expression)


def deadline_fix(rule: Rule, node: cst.CSTNode, finding: Finding, expression: str) -> Fix | None:
    """SL401's fix: see the rule's Fix section."""
    import libcst as cst

    if not isinstance(node, cst.Call):
        return None
    if any(arg.keyword is not None and arg.keyword.value == "stream" and not _false(arg.value) for arg in node.args):
        return None  # the SDK returns a stream: bounding its start would not bound the reading
    line, col = finding.span.line, finding.span.col
    client = re.search(r"its client's ([0-9.]+) s timeout", finding.fix_title or "")
    floor = float(client.group(1)) if client else None
    deadline = Deadline.at(rule.context, expression, line, col, rule.fix_facts, floor=floor)
    if deadline is None:
        return None
    ancestors = rule.fix_ancestors
    method = node.func.attr.value if isinstance(node.func, cst.Attribute) else ""
    parent = ancestors[-1] if ancestors else None
    if method.startswith("astream") or (isinstance(parent, cst.For) and parent.iter is node):
        if isinstance(parent, cst.For) and parent.iter is node and parent.asynchronous is not None and deadline.timeout_cm:
            return Fix(replacement=deadline.around(parent), imports=deadline.imports, module_statements=deadline.statements, target=parent)
        return None  # wait_for cannot bound an iteration
    if not isinstance(parent, cst.Await):
        return None  # not awaited here: a sync client's call, or a coroutine handed on (its awaiter is the place)
    if _maybe_stream(rule, node, method, ancestors, line, col):
        return None
    if deadline.timeout_cm:
        statement = awaited_statement(node, ancestors)
        if statement is not None:
            return Fix(replacement=deadline.around(statement), imports=deadline.imports, module_statements=deadline.statements, target=statement)
    return Fix(replacement=deadline.wait_for(node), imports=deadline.imports, module_statements=deadline.statements)


def _no_fix(method: str, timeout: Timeout, settings: Settings) -> bool:
    """See the Fix section: batches, streams before 3.11, unread client timeouts with a number."""
    return not sl401_fixes(settings, method, timeout.kind, timeout.seconds)


def _maybe_stream(rule: Rule, node: cst.Call, method: str, ancestors: Sequence[cst.CSTNode], line: int, col: int) -> bool:
    """Whether the awaited call may return a stream (a deadline around the await would bound
    only its start): a method named for streams (`generate_content_stream`), or keyword
    arguments spread from a mapping (`**request_data` may hold `stream=True`) where the
    result or the function says stream (`stream = await ...`, `async def stream_async`)."""
    import libcst as cst

    if "stream" in method.lower():
        return True
    if not any(arg.star == "**" for arg in node.args):
        return False
    names = [rule.context.scope_at(line, col).name or ""]
    for ancestor in ancestors:
        if isinstance(ancestor, cst.Assign):
            names += [t.target.value for t in ancestor.targets if isinstance(t.target, cst.Name)]
        elif isinstance(ancestor, cst.AnnAssign) and isinstance(ancestor.target, cst.Name):
            names.append(ancestor.target.value)
    return any("stream" in name.lower() for name in names)


def _false(node: cst.BaseExpression) -> bool:
    import libcst as cst

    return isinstance(node, cst.Name) and node.value == "False"
