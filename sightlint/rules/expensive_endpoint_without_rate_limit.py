from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from textwrap import dedent
from typing import TYPE_CHECKING, NamedTuple

from sightlint.models import RelatedLocation, Span
from sightlint.project.model import CHAT_MODELS, LLM_PIPE, is_test_path
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.bindings import BindingKind

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.models import Finding
    from sightlint.project.graph import Graph, ModelNeeds
    from sightlint.project.model import Edge, ExternalCall
    from sightlint.project.wiring import WiringInfo
    from sightlint.settings import Settings

# LLM calls, by the model's dotted name of the call (``pkg.Class().method``).
_LANGCHAIN_METHODS = frozenset(
    "invoke ainvoke stream astream batch abatch astream_events astream_log generate agenerate predict apredict".split()
)
_LLAMA_METHODS = frozenset("complete acomplete chat achat stream_chat astream_chat stream_complete astream_complete".split())
_CLIENT_CALLS = (
    ".chat.completions.create",
    ".chat.completions.parse",
    ".beta.chat.completions.parse",
    ".completions.create",
    ".responses.create",
    ".responses.parse",
    ".messages.create",
    ".messages.stream",
    ".models.generate_content",
    ".models.generate_content_stream",
    ".generate_content",
    ".generate_content_async",
)
_CLIENT_PACKAGES = frozenset(("openai", "anthropic", "google", "vertexai", "mistralai", "groq", "cohere"))
_LITELLM = frozenset(("litellm.completion", "litellm.acompletion", "litellm.Router().acompletion", "litellm.Router().completion"))
_SLOWAPI_LIMITERS = frozenset(("slowapi.Limiter()", "slowapi.extension.Limiter()"))
_SLOWAPI_MIDDLEWARE = frozenset(
    f"ext:slowapi.{m}.{c}" for m in ("middleware", "") for c in ("SlowAPIMiddleware", "SlowAPIASGIMiddleware")
) | frozenset(("ext:slowapi.SlowAPIMiddleware", "ext:slowapi.SlowAPIASGIMiddleware"))
_LIMIT_DEPENDENCIES = frozenset(
    ("ext:fastapi_limiter.depends.RateLimiter()", "ext:fastapi_limiter.RateLimiter()", "ext:fastapi_limiter.depends.WebSocketRateLimiter()")
)


def is_llm_call(name: str) -> bool:
    """Whether the external call ``name`` asks a language model for a completion."""
    receiver, _, method = name.rpartition(".")
    top = name.partition(".")[0]
    if top.startswith("langchain") or receiver in CHAT_MODELS or receiver == LLM_PIPE:
        if method not in _LANGCHAIN_METHODS:
            return False
        if receiver in CHAT_MODELS or receiver == LLM_PIPE:
            return True
        cls = receiver.removesuffix("()").rpartition(".")[2]
        return receiver.endswith("()") and "Prompt" not in cls and (cls.startswith("Chat") or cls.endswith(("LLM", "ChatModel")))
    if top == "llama_index":
        return method in _LLAMA_METHODS
    if top == "litellm":
        return name in _LITELLM
    if top in _CLIENT_PACKAGES:
        return name.endswith(_CLIENT_CALLS)
    return False


def _limit_decorator(decorator: str) -> bool:
    """``@limiter.limit(...)``/``@limiter.shared_limit(...)``, as written (slowapi's spelling)."""
    receiver, _, method = decorator.rpartition(".")
    return method in ("limit", "shared_limit") and "limit" in receiver.rpartition(".")[2].lower()


def _custom_limit(ref: str) -> bool:
    """A project dependency named for rate limiting (``Depends(rate_limit)``)."""
    name = ref.rpartition(".")[2].lower()
    return ref.startswith(("fn:", "inst:", "class:")) and (("rate" in name and "limit" in name) or "throttl" in name)


class _Limits(NamedTuple):
    """How the project limits its routes."""

    any: bool  # some rate limiter is used somewhere
    defaults: bool  # slowapi ``default_limits`` with its middleware installed
    guarded: frozenset[str]  # routers and apps (by where they are kept) with a limiting dependency


@dataclass(frozen=True)
class RateLimitOptions:
    """SL704's settings."""

    fix_limit: str = "10/minute"
    """The limit the fix writes in `@limiter.limit("...")` (slowapi's limit string)."""


class ExpensiveEndpointWithoutRateLimit(Rule):
    """
    ## What it flags
    In an app that uses a rate limiter (slowapi's `Limiter`, fastapi-limiter's
    `RateLimiter`), a route that calls a language model, directly or through the
    project's code, or starts background work that does (`asyncio.create_task`,
    `BackgroundTasks.add_task`), and that no limit covers: no `@limiter.limit(...)` under
    its route decorator, no slowapi `default_limits` with `SlowAPIMiddleware` installed,
    no `RateLimiter` dependency on the route, its router, its `include_router` or the
    app (a project dependency named for rate limiting or throttling counts as one). A
    `@limiter.limit` written *above* the route decorator is reported on any route: it
    limits nothing. In an app without any rate limiter, one finding per app (LOW) names
    its LLM routes. LLM calls are LangChain chat models and their `|` pipes, the
    OpenAI, Anthropic, Google GenAI/Vertex, Mistral, Groq and Cohere clients, litellm
    and llama-index LLMs; a call reached only through a method the project overrides in
    subclasses (an abstract client's `request_async`) is not followed. An app is read
    with the modules its imports join it to (its routers, limiter and dependencies: one
    component of the project's import graph), so a second application in the same
    repository keeps its own limiter, or none.

    ## Why it matters
    Each call of such a route spends model tokens (and often minutes of background
    work): a script, a retry loop in a client or a curious user clicking "generate"
    repeatedly turns into a bill and into quota errors for everyone else. Endpoints
    that only read the database are cheap to repeat; these are not.

    Library facts (read in the installed sources): slowapi 0.1.10
    `slowapi/extension.py` (`Limiter.limit` → `__limit_decorator`): the limit is checked
    inside the wrapper the decorator returns, so the route decorator must sit above
    `@limiter.limit` (decorators apply bottom-up: in the other order FastAPI registers
    the unwrapped function and the limit never runs, and `SlowAPIMiddleware` skips the
    route's default limits because the function is marked as limited); the endpoint
    needs a parameter named `request` or `websocket` (slowapi raises at import time
    otherwise); `default_limits` are applied only in `_check_request_limit` called from
    `SlowAPIMiddleware`/`SlowAPIASGIMiddleware` (`slowapi/middleware.py`). fastapi-limiter
    limits through a dependency: `RateLimiter` (`fastapi_limiter/depends.py`, 0.2.0 takes
    a `pyrate_limiter.Limiter`; 0.1.x needs `await FastAPILimiter.init(redis)` at startup).

    ## Fix
    Unsafe (`--unsafe-fixes`), offered only where a slowapi `Limiter` is in scope in the
    route's module (assigned there at module level, or already used as `@X.limit(...)` on
    another route of the module) and its app does not set `headers_enabled` (slowapi then
    also needs a `response: Response` parameter, `slowapi/extension.py` line 381):

    - a route no limit covers gets `@limiter.limit("10/minute")` directly under its route
      decorator (the limit string is the `fix-limit` option), and a `request: Request`
      parameter first when it has no parameter named `request` or `websocket` (slowapi
      0.1.10 `extension.py`, `__limit_decorator`: it looks the request up by that name
      and raises `No "request" or "websocket" argument on function` at import time
      otherwise); `Request` is imported from `fastapi` unless it is in scope;
    - a `@limiter.limit(...)` written above the route decorator is moved directly under it.

    Unsafe because callers now get `429 Too Many Requests` past the limit (pick a limit
    that fits the endpoint: a generation that takes minutes may want `"5/hour"`), and the
    new parameter changes the function's signature for code that calls it directly
    (tests). No fix for a route registered with `add_api_route`, a function with two
    route decorators or positional-only parameters, a body that already reads a name
    `request`, a module with no limiter in sight (create one, or add
    `dependencies=[Depends(RateLimiter(...))]` with fastapi-limiter), or the app-level
    finding of an app without any limiter: which limiter, storage and limits to use is a
    deployment decision.

    ## Options
    `fix-limit = "5/hour"` sets the limit string the fix writes (default `"10/minute"`).
    """

    Options = RateLimitOptions

    meta = RuleMeta(
        code="SL704",
        name="expensive-endpoint-without-rate-limit",
        severity=Severity.MEDIUM,
        summary="Expensive endpoint without a rate limit.",
        audit="§13",
        fix=FixSafety.UNSAFE,
        fix_title="Add `@limiter.limit(...)` under the route decorator",
        since="0.1.0",
        tags=("fastapi", "cross-file"),
    )
    cross_file = True
    # Component-local: the limits are read per component of the module-dependency graph
    # (``Graph.component``), and LLM reach follows call edges, which stay in one.
    project_scope = "component"

    bad = (
        Bad(
            dedent("""\
            # file: app/main.py
            from fastapi import FastAPI, Request
            from langchain_openai import ChatOpenAI
            from slowapi import Limiter
            from slowapi.util import get_remote_address

            app = FastAPI()
            limiter = Limiter(key_func=get_remote_address)
            llm = ChatOpenAI()


            @app.post("/summaries")
            async def summarise(request: Request, text: str) -> str:
                return (await llm.ainvoke(text)).content
            """),
            in_docs=True,
            fixed="""\
# file: app/main.py
from fastapi import FastAPI, Request
from langchain_openai import ChatOpenAI
from slowapi import Limiter
from slowapi.util import get_remote_address

app = FastAPI()
limiter = Limiter(key_func=get_remote_address)
llm = ChatOpenAI()


@app.post("/summaries")
@limiter.limit("10/minute")
async def summarise(request: Request, text: str) -> str:
    return (await llm.ainvoke(text)).content
""",
        ),
        Bad(
            # No `request` parameter: the fix adds one (slowapi finds the request by that name).
            dedent("""\
            from fastapi import APIRouter
            from openai import AsyncOpenAI
            from slowapi import Limiter
            from slowapi.util import get_remote_address

            router = APIRouter()
            limiter = Limiter(key_func=get_remote_address)
            client = AsyncOpenAI()


            @router.post("/complete")
            async def complete(
                prompt: str,
                model: str = "gpt-4o-mini",
            ) -> str:
                reply = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])
                return reply.choices[0].message.content or ""
            """),
            fixed="""\
from fastapi import APIRouter, Request
from openai import AsyncOpenAI
from slowapi import Limiter
from slowapi.util import get_remote_address

router = APIRouter()
limiter = Limiter(key_func=get_remote_address)
client = AsyncOpenAI()


@router.post("/complete")
@limiter.limit("10/minute")
async def complete(
    request: Request,
    prompt: str,
    model: str = "gpt-4o-mini",
) -> str:
    reply = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])
    return reply.choices[0].message.content or ""
""",
        ),
        Bad(
            # The limit sits above the route decorator: FastAPI registered the bare function.
            dedent("""\
            from fastapi import APIRouter, Request
            from slowapi import Limiter
            from slowapi.util import get_remote_address

            router = APIRouter()
            limiter = Limiter(key_func=get_remote_address)


            @limiter.limit("5/minute")
            @router.get("/items")
            async def items(request: Request) -> list[str]:
                return []
            """),
            fixed="""\
from fastapi import APIRouter, Request
from slowapi import Limiter
from slowapi.util import get_remote_address

router = APIRouter()
limiter = Limiter(key_func=get_remote_address)


@router.get("/items")
@limiter.limit("5/minute")
async def items(request: Request) -> list[str]:
    return []
""",
        ),
        Bad(
            # Background LLM work, reached through a service in another module.
            dedent("""\
            # file: app/services.py
            from openai import AsyncOpenAI

            client = AsyncOpenAI()


            async def write_report(topic: str) -> str:
                reply = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": topic}])
                return reply.choices[0].message.content or ""

            # file: app/api.py
            import asyncio
            from fastapi import APIRouter, Request
            from slowapi import Limiter
            from slowapi.util import get_remote_address
            from app.services import write_report

            router = APIRouter()
            limiter = Limiter(key_func=get_remote_address)


            @router.post("/reports")
            async def start_report(request: Request, topic: str) -> dict:
                asyncio.create_task(write_report(topic))
                return {"status": "started"}
            """),
        ),
        Bad(
            # No limiter anywhere: one low finding for the app, naming its LLM routes.
            dedent("""\
            from fastapi import FastAPI
            from langchain_google_genai import ChatGoogleGenerativeAI

            app = FastAPI()
            llm = ChatGoogleGenerativeAI(model="gemini-2.5-flash")


            @app.post("/chat")
            async def chat(message: str) -> str:
                return (await llm.ainvoke(message)).content


            @app.post("/title")
            async def title(message: str) -> str:
                return (await llm.ainvoke(f"Title for: {message}")).content
            """),
        ),
        Bad(
            # default_limits without SlowAPIMiddleware limit nothing.
            dedent("""\
            from fastapi import FastAPI, Request
            from langchain_openai import ChatOpenAI
            from slowapi import Limiter
            from slowapi.util import get_remote_address

            limiter = Limiter(key_func=get_remote_address, default_limits=["30/minute"])
            app = FastAPI()
            app.state.limiter = limiter
            llm = ChatOpenAI()


            @app.post("/answer")
            async def answer(request: Request, q: str) -> str:
                return (await llm.ainvoke(q)).content
            """),
            fixed="""\
from fastapi import FastAPI, Request
from langchain_openai import ChatOpenAI
from slowapi import Limiter
from slowapi.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=["30/minute"])
app = FastAPI()
app.state.limiter = limiter
llm = ChatOpenAI()


@app.post("/answer")
@limiter.limit("10/minute")
async def answer(request: Request, q: str) -> str:
    return (await llm.ainvoke(q)).content
""",
        ),
        Bad(
            # A RateLimiter on one route does not cover its neighbour.
            dedent("""\
            from fastapi import APIRouter, Depends
            from fastapi_limiter.depends import RateLimiter
            from anthropic import AsyncAnthropic

            router = APIRouter()
            client = AsyncAnthropic()


            @router.post("/cheap", dependencies=[Depends(RateLimiter(times=5, seconds=60))])
            async def cheap() -> dict:
                return {}


            @router.post("/draft")
            async def draft(prompt: str) -> str:
                reply = await client.messages.create(model="claude", max_tokens=500, messages=[])
                return reply.content[0].text
            """),
        ),
        Bad(
            dedent("""\
            from fastapi import BackgroundTasks, FastAPI, Request
            from langchain_openai import ChatOpenAI
            from slowapi import Limiter
            from slowapi.util import get_remote_address

            app = FastAPI()
            limiter = Limiter(key_func=get_remote_address)
            llm = ChatOpenAI()


            def enrich(doc_id: str) -> None:
                llm.invoke(doc_id)


            @app.post("/docs/{doc_id}/enrich")
            async def enrich_doc(request: Request, doc_id: str, tasks: BackgroundTasks) -> dict:
                tasks.add_task(enrich, doc_id)
                return {}
            """),
            fixed="""\
from fastapi import BackgroundTasks, FastAPI, Request
from langchain_openai import ChatOpenAI
from slowapi import Limiter
from slowapi.util import get_remote_address

app = FastAPI()
limiter = Limiter(key_func=get_remote_address)
llm = ChatOpenAI()


def enrich(doc_id: str) -> None:
    llm.invoke(doc_id)


@app.post("/docs/{doc_id}/enrich")
@limiter.limit("10/minute")
async def enrich_doc(request: Request, doc_id: str, tasks: BackgroundTasks) -> dict:
    tasks.add_task(enrich, doc_id)
    return {}
""",
        ),
        Bad(
            dedent("""\
            from fastapi import APIRouter, Request
            from langchain_core.prompts import ChatPromptTemplate
            from langchain_openai import ChatOpenAI
            from slowapi import Limiter
            from slowapi.util import get_remote_address

            router = APIRouter()
            limiter = Limiter(key_func=get_remote_address)
            chain = ChatPromptTemplate.from_template("Summarise {text}") | ChatOpenAI()


            class Summariser:
                async def run(self, text: str) -> str:
                    return (await chain.ainvoke({"text": text})).content


            @router.post("/summary")
            async def summary(request: Request, text: str) -> str:
                return await Summariser().run(text)
            """),
            fixed="""\
from fastapi import APIRouter, Request
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from slowapi import Limiter
from slowapi.util import get_remote_address

router = APIRouter()
limiter = Limiter(key_func=get_remote_address)
chain = ChatPromptTemplate.from_template("Summarise {text}") | ChatOpenAI()


class Summariser:
    async def run(self, text: str) -> str:
        return (await chain.ainvoke({"text": text})).content


@router.post("/summary")
@limiter.limit("10/minute")
async def summary(request: Request, text: str) -> str:
    return await Summariser().run(text)
""",
        ),
    )

    good = (
        Good(
            dedent("""\
            from fastapi import FastAPI, Request
            from langchain_openai import ChatOpenAI
            from slowapi import Limiter
            from slowapi.util import get_remote_address

            app = FastAPI()
            limiter = Limiter(key_func=get_remote_address)
            llm = ChatOpenAI()


            @app.post("/summaries")
            @limiter.limit("5/minute")
            async def summarise(request: Request, text: str) -> str:
                return (await llm.ainvoke(text)).content
            """),
            in_docs=True,
        ),
        Good(
            # Cheap routes need no limit.
            dedent("""\
            from fastapi import FastAPI
            from slowapi import Limiter
            from slowapi.util import get_remote_address

            app = FastAPI()
            limiter = Limiter(key_func=get_remote_address)


            @app.post("/notes")
            async def add_note(text: str) -> dict:
                return {"text": text}
            """),
        ),
        Good(
            dedent("""\
            from fastapi import FastAPI, Request
            from langchain_openai import ChatOpenAI
            from slowapi import Limiter
            from slowapi.middleware import SlowAPIMiddleware
            from slowapi.util import get_remote_address

            limiter = Limiter(key_func=get_remote_address, default_limits=["30/minute"])
            app = FastAPI()
            app.state.limiter = limiter
            app.add_middleware(SlowAPIMiddleware)
            llm = ChatOpenAI()


            @app.post("/answer")
            async def answer(request: Request, q: str) -> str:
                return (await llm.ainvoke(q)).content
            """),
        ),
        Good(
            dedent("""\
            from fastapi import APIRouter, Depends
            from fastapi_limiter.depends import RateLimiter
            from openai import AsyncOpenAI

            router = APIRouter(dependencies=[Depends(RateLimiter(times=10, seconds=60))])
            client = AsyncOpenAI()


            @router.post("/draft")
            async def draft(prompt: str) -> str:
                reply = await client.chat.completions.create(model="gpt-4o", messages=[])
                return reply.choices[0].message.content or ""
            """),
        ),
        Good(
            dedent("""\
            # file: app/api.py
            from fastapi import APIRouter
            from openai import AsyncOpenAI

            router = APIRouter()
            client = AsyncOpenAI()


            @router.post("/draft")
            async def draft(prompt: str) -> str:
                reply = await client.chat.completions.create(model="gpt-4o", messages=[])
                return reply.choices[0].message.content or ""

            # file: app/main.py
            from fastapi import Depends, FastAPI
            from fastapi_limiter.depends import RateLimiter
            from app import api

            app = FastAPI()
            app.include_router(api.router, dependencies=[Depends(RateLimiter(times=10, seconds=60))])
            """),
        ),
        Good(
            # A prompt template's invoke only formats text.
            dedent("""\
            from fastapi import FastAPI
            from langchain_core.prompts import ChatPromptTemplate
            from slowapi import Limiter
            from slowapi.util import get_remote_address

            app = FastAPI()
            limiter = Limiter(key_func=get_remote_address)
            prompt = ChatPromptTemplate.from_template("Summarise {text}")


            @app.post("/preview")
            async def preview(text: str) -> str:
                return prompt.invoke({"text": text}).to_string()
            """),
        ),
        Good(
            # A project dependency that does the limiting.
            dedent("""\
            from fastapi import Depends, FastAPI
            from langchain_openai import ChatOpenAI

            app = FastAPI()
            llm = ChatOpenAI()


            async def enforce_rate_limit() -> None:
                ...


            @app.post("/chat", dependencies=[Depends(enforce_rate_limit)])
            async def chat(message: str) -> str:
                return (await llm.ainvoke(message)).content
            """),
        ),
        Good(
            # No app: a library's LLM helpers are not endpoints.
            dedent("""\
            from langchain_openai import ChatOpenAI

            llm = ChatOpenAI()


            async def chat(message: str) -> str:
                return (await llm.ainvoke(message)).content
            """),
        ),
    )

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        from sightlint.project.graph import ModelNeeds

        return ModelNeeds(externals=is_llm_call, stores=_kept, module_facts=frozenset({"links"}))

    @classmethod
    def check_project(cls, graph: Graph, settings: Settings) -> list[Finding]:
        routes = [w for w in graph.wiring if w.kind == "route" and w.name in graph.functions and not is_test_path(w.path)]
        if not routes:
            return []
        reach = _reaching_llm(graph)
        # An app, its limiter, its routes and its dependencies are wired through imports, so
        # they sit in one component of the module-dependency graph: the limits are read per
        # component (another application of the same repository has its own).
        wiring: dict[int, list[WiringInfo]] = {}
        for wire in graph.wiring:
            wiring.setdefault(graph.component(wire.path), []).append(wire)
        by_component: dict[int, list[WiringInfo]] = {}
        for route in routes:
            by_component.setdefault(graph.component(route.path), []).append(route)
        findings: list[Finding] = []
        for component, wires in wiring.items():
            served = by_component.get(component)
            if served:
                findings += cls._check_component(graph, wires, served, reach)
        return findings

    @classmethod
    def _check_component(
        cls, graph: Graph, wiring: list[WiringInfo], routes: list[WiringInfo], reach: dict[str, Edge | None]
    ) -> list[Finding]:
        limits = _limits(wiring, routes)
        headers = any(w.kind == "call" and "headers_enabled" in w.flags for w in wiring)
        findings: list[Finding] = []
        unlimited: list[WiringInfo] = []
        for route in routes:
            decorators = route.decorators
            at = int(route.flags[0]) if route.flags else -1  # the route's own decorator (-1: add_api_route)
            limited = [i for i, d in enumerate(decorators) if _limit_decorator(d)]
            if any(i < at for i in limited):
                findings.append(cls._wrong_order(graph, route, route.name in reach, fixable=not headers))
                continue
            if route.name not in reach or any(i > at for i in limited) or limits.defaults and not _exempt(decorators):
                continue
            if any(ref in _LIMIT_DEPENDENCIES or _custom_limit(ref) for ref in route.refs) or route.receiver in limits.guarded:
                continue
            unlimited.append(route)
        if limits.any:
            limiters = _limiter_paths(wiring) if unlimited else set()
            findings += [
                cls._unlimited(graph, route, reach, fixable=not headers and _route_decorator(route) and route.path in limiters)
                for route in unlimited
            ]
        elif unlimited:
            findings += cls._no_limiter(graph, wiring, unlimited)
        return findings

    @classmethod
    def _unlimited(cls, graph: Graph, route: WiringInfo, reach: dict[str, Edge | None], *, fixable: bool = False) -> Finding:
        info = graph.functions[route.name]
        related, how = _chain(graph, route.name, reach)
        message = (
            f"`{info.name}` {how} and no rate limit covers it: add `@limiter.limit(...)` under the route decorator "
            "or a `RateLimiter` dependency."
        )
        span = _def_span(info.line, info.col, info.is_async, info.name)
        safety = FixSafety.UNSAFE if fixable else FixSafety.NONE
        return cls.project_finding(route.path, span, message, related=related, fix_safety=safety)

    @classmethod
    def _wrong_order(cls, graph: Graph, route: WiringInfo, llm: bool, *, fixable: bool = False) -> Finding:
        info = graph.functions[route.name]
        cost = " This route reaches an LLM call." if llm else ""
        message = (
            f"`@limiter.limit` sits above the route decorator of `{info.name}`, so FastAPI registered the undecorated "
            f"function and the limit never runs: put the route decorator on top.{cost}"
        )
        span = _def_span(info.line, info.col, info.is_async, info.name)
        safety = FixSafety.UNSAFE if fixable and _route_decorator(route) else FixSafety.NONE
        return cls.project_finding(route.path, span, message, fix_safety=safety)

    # -- fixing --------------------------------------------------------------------------

    fix_node = ("FunctionDef",)

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """``@limiter.limit(...)`` under the route decorator (moved there when it sits above),
        and a ``request: Request`` parameter when the endpoint has none."""
        import libcst as cst
        import libcst.matchers as m

        if not isinstance(node, cst.FunctionDef):
            return None
        decorators = list(node.decorators)
        routes = [i for i, d in enumerate(decorators) if _is_route(d.decorator)]
        if len(routes) != 1:
            return None
        at = routes[0]
        above = [d for d in decorators[:at] if _is_limit(d.decorator)]
        if above:  # ``@limiter.limit`` above the route decorator: move it under
            rest = [d for d in decorators if not any(d is a for a in above)]
            at = next(i for i, d in enumerate(rest) if d is decorators[routes[0]])
            moved = [*rest[: at + 1], *above, *rest[at + 1 :]]
            return Fix(replacement=node.with_changes(decorators=moved))
        if any(_is_limit(d.decorator) for d in decorators):
            return None
        limiter = self._limiter()
        if limiter is None:
            return None
        params = node.params
        named = {p.name.value: p for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
        imports: tuple[tuple[str, str | None], ...] = ()
        for name, types in (("request", _REQUEST_TYPES), ("websocket", _WEBSOCKET_TYPES)):
            if name in named and not self._annotated(named[name], types):
                # slowapi takes the parameter by its name and requires a Starlette object there
                # (``extension.py``: "parameter `request` must be an instance of starlette.requests.Request")
                return None
        if not named.keys() & {"request", "websocket"}:
            if params.posonly_params or any(n.value == "request" for n in m.findall(node.body, m.Name())):  # type: ignore[attr-defined]
                return None
            request = self.context.module_binding("Request")
            if request is None:
                imports = (("fastapi", "Request"),)
            elif request.qualified not in _REQUEST_TYPES:
                return None  # ``Request`` means something else here
            param = cst.Param(cst.Name("request"), annotation=cst.Annotation(cst.Name("Request")))
            first = params.params[0] if params.params else None
            if first is not None and isinstance(first.comma, cst.Comma) and not isinstance(first.comma.whitespace_after, cst.SimpleWhitespace):
                param = param.with_changes(comma=first.comma)  # a parameter per line keeps its layout
            params = params.with_changes(params=[param, *params.params])
        limit = self.options.fix_limit.replace("\\", "").replace('"', "")
        decorator = cst.Decorator(cst.parse_expression(f'{limiter}.limit("{limit}")'))
        decorators.insert(at + 1, decorator.with_changes(leading_lines=[]))
        return Fix(replacement=node.with_changes(decorators=decorators, params=params), imports=imports)

    def _annotated(self, param: cst.Param, types: frozenset[str]) -> bool:
        """Whether ``param`` is annotated with one of ``types`` (``Request``, ``fastapi.Request``)."""
        if param.annotation is None:
            return False
        import libcst as cst

        try:
            expr = ast.parse(cst.Module([]).code_for_node(param.annotation.annotation), mode="eval").body
        except SyntaxError:
            return False
        return self._qualified(expr) in types

    def _qualified(self, func: ast.expr) -> str:
        """``slowapi.Limiter`` for ``Limiter`` after ``from slowapi import Limiter`` (module level)."""
        if isinstance(func, ast.Attribute):
            return f"{self._qualified(func.value)}.{func.attr}"
        if isinstance(func, ast.Name):
            binding = self.context.module_binding(func.id)
            if binding is not None and binding.kind is BindingKind.IMPORT and binding.qualified:
                return binding.qualified
        return ""

    def _limiter(self) -> str | None:
        """The name of a slowapi ``Limiter`` in scope: assigned at module level, else used
        as ``@X.limit(...)`` in this module."""
        tree = self.context.tree
        for stmt in tree.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Call):
                if self._qualified(stmt.value.func) in _SLOWAPI_CLASSES:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    for target in targets:
                        if isinstance(target, ast.Name):
                            return target.id
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for decorator in node.decorator_list:
                    func = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if isinstance(func, ast.Attribute) and _limit_decorator(ast.unparse(func)) and isinstance(func.value, ast.Name):
                        binding = self.context.module_binding(func.value.id)
                        if binding is not None and binding.kind in (BindingKind.GLOBAL, BindingKind.IMPORT):
                            return func.value.id
        return None

    @classmethod
    def _no_limiter(cls, graph: Graph, wiring: list[WiringInfo], unlimited: list[WiringInfo]) -> list[Finding]:
        apps = sorted((w for w in wiring if w.kind == "app" and "router" not in w.flags and not is_test_path(w.path)), key=_place)
        if not apps:
            return []
        app = apps[0]
        names = sorted({graph.functions[route.name].name for route in unlimited})
        shown = ", ".join(f"`{name}`" for name in names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        message = (
            f"This app has no rate limiter, and {len(names)} route{'s' if len(names) != 1 else ''} call{'' if len(names) != 1 else 's'} "
            f"an LLM: {shown}; consider slowapi or fastapi-limiter on them."
        )
        # One location per handler: a handler registered under several paths
        # (`@router.post("/run")` and `@router.post("/run/")`) is one place to limit.
        first: dict[str, WiringInfo] = {}
        for route in sorted(unlimited, key=_place):
            first.setdefault(route.name, route)
        related = tuple(
            RelatedLocation(route.path, graph.functions[route.name].line, graph.functions[route.name].col, "an LLM route")
            for route in list(first.values())[:8]
        )
        return [cls.project_finding(app.path, Span(app.line, app.col, app.line, app.col), message, severity=Severity.LOW, related=related)]


_SLOWAPI_CLASSES = frozenset(("slowapi.Limiter", "slowapi.extension.Limiter"))
_REQUEST_TYPES = frozenset(("fastapi.Request", "fastapi.requests.Request", "starlette.requests.Request"))
_WEBSOCKET_TYPES = frozenset(("fastapi.WebSocket", "fastapi.websockets.WebSocket", "starlette.websockets.WebSocket"))
_ROUTE_METHODS = frozenset(("get", "post", "put", "patch", "delete", "head", "options", "api_route", "websocket", "trace"))


def _route_decorator(route: WiringInfo) -> bool:
    """Registered by exactly one route decorator (not ``add_api_route``)."""
    return bool(route.flags) and int(route.flags[0]) >= 0 and sum(_is_route_text(d) for d in route.decorators) == 1


def _is_route_text(decorator: str) -> bool:
    func = decorator.partition("(")[0]
    return "." in func and func.rpartition(".")[2] in _ROUTE_METHODS


def _is_route(expr: cst.BaseExpression) -> bool:
    import libcst as cst

    return (
        isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in _ROUTE_METHODS
    )


def _is_limit(expr: cst.BaseExpression) -> bool:
    import libcst as cst

    func = expr.func if isinstance(expr, cst.Call) else expr
    return isinstance(func, cst.Attribute) and _limit_decorator(cst.Module([]).code_for_node(func))


def _limiter_paths(wiring: list[WiringInfo]) -> set[str]:
    """The files that have a slowapi limiter in scope for their routes: one kept at module
    level, or already written as ``@X.limit(...)`` on a route of the file. One pass over
    the wiring (a scan per unlimited route was quadratic: 0.3 s at 200k lines)."""
    paths = {w.path for w in wiring if w.kind == "store" and not w.function and _kept(w.target)}
    for other in wiring:
        if other.kind == "route" and other.path not in paths:
            if any(_limit_decorator(d.partition("(")[0]) for d in other.decorators):
                paths.add(other.path)
    return paths


def _kept(target: str) -> bool:
    return target.removeprefix("ext:") in _SLOWAPI_LIMITERS


def _place(wire: WiringInfo) -> tuple[str, int, int]:
    return wire.path, wire.line, wire.col


def _exempt(decorators: tuple[str, ...]) -> bool:
    return any(d.endswith(".exempt") for d in decorators)


def _limits(wiring: list[WiringInfo], routes: list[WiringInfo]) -> _Limits:
    used = defaults = middleware = False
    guarded: set[str] = set()
    for wire in wiring:
        if wire.kind == "call":
            used = True
            if wire.name.rpartition(".")[2] == "Limiter" and ("default_limits" in wire.flags or "application_limits" in wire.flags):
                defaults = True
        elif wire.kind == "store" and _kept(wire.target):
            used = True  # a slowapi Limiter is kept somewhere (other rules keep other stores)
        elif wire.kind == "middleware" and wire.target in _SLOWAPI_MIDDLEWARE:
            middleware = True
        elif wire.kind in ("app", "include") and any(ref in _LIMIT_DEPENDENCIES or _custom_limit(ref) for ref in wire.refs):
            guarded.add(wire.receiver if wire.kind == "app" else wire.target)
            if wire.kind == "include" or "router" not in wire.flags:
                guarded.add(wire.receiver)  # an app's dependencies cover every route
    for route in routes:
        if any(_limit_decorator(d) for d in route.decorators) or any(ref in _LIMIT_DEPENDENCIES or _custom_limit(ref) for ref in route.refs):
            used = True
    apps_guarded = {w.receiver for w in wiring if w.kind == "app" and "router" not in w.flags} & guarded
    if apps_guarded:
        guarded |= {route.receiver for route in routes}  # app-wide dependencies
    return _Limits(used or bool(guarded), defaults and middleware, frozenset(guarded - {""}))


def _reaching_llm(graph: Graph) -> dict[str, Edge | None]:
    """Functions that call an LLM or reach one through calls, tasks and threads: function ->
    the edge toward the call (None where the function makes it). Cached on the graph."""
    key = ("functions reaching an LLM call",)
    cached: dict[str, Edge | None] | None = graph.cache.get(key)
    if cached is not None:
        return cached
    towards: dict[str, Edge | None] = {}
    asked: dict[str, bool] = {}  # external name -> is_llm_call (the same names recur in every module)
    for fid, calls in graph.externals.items():
        for call in calls:
            name = call.name
            llm = asked.get(name)
            if llm is None:
                llm = asked[name] = is_llm_call(name)
            if llm:
                towards[fid] = None
                break
    queue = deque(towards)
    while queue:
        node = queue.popleft()
        for edge in graph.callers.get(node, ()):
            if edge.source not in towards:
                towards[edge.source] = edge
                queue.append(edge.source)
    graph.cache[key] = towards
    return towards


def _chain(graph: Graph, start: str, reach: dict[str, Edge | None]) -> tuple[tuple[RelatedLocation, ...], str]:
    """The call chain from ``start`` to its LLM call, as related locations, and how the finding says it."""
    related: list[RelatedLocation] = []
    node, background, step = start, False, reach.get(start)
    while step is not None and len(related) < 30:
        related.append(graph.hop(step))
        background = background or step.kind != "call"
        node, step = step.target, reach.get(step.target)
    hops = len(related)
    call: ExternalCall | None = next((c for c in graph.externals.get(node, ()) if is_llm_call(c.name)), None)
    what = "a model"
    if call is not None:
        text = call.site.text if not call.site.text.startswith("…") else "(...)" + call.site.text[1:]
        related.append(RelatedLocation(graph.path_of(node), call.site.line, call.site.col, f"`{text}` calls the model"))
        what = f"`{text}`"
    how = f"starts background work that calls {what}" if background else f"calls {what}"
    if hops:
        how += f" (through {hops} call{'s' if hops != 1 else ''})"
    return tuple(related), how


def _def_span(line: int, col: int, is_async: bool, name: str) -> Span:
    return Span(line, col, line, col + len("async def " if is_async else "def ") + len(name))
