from __future__ import annotations

from collections import deque
from textwrap import dedent
from typing import TYPE_CHECKING, NamedTuple

from sightlint.models import RelatedLocation, Span
from sightlint.project.model import CHAT_MODELS, LLM_PIPE, is_test_path
from sightlint.rules.base import Bad, FixSafety, Good, Rule, RuleMeta, Severity

if TYPE_CHECKING:
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
    subclasses (an abstract client's `request_async`) is not followed.

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
    No automatic fix. Put `@limiter.limit("5/minute")` directly under the route decorator
    (and give the endpoint a `request: Request` parameter), or add
    `dependencies=[Depends(RateLimiter(...))]` to the route or its router.
    """

    meta = RuleMeta(
        code="SL704",
        name="expensive-endpoint-without-rate-limit",
        severity=Severity.MEDIUM,
        summary="Expensive endpoint without a rate limit.",
        audit="§13",
        fix=FixSafety.NONE,
        since="0.1.0",
        tags=("fastapi", "cross-file"),
    )
    cross_file = True

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

        return ModelNeeds(externals=is_llm_call, stores=_kept)

    @classmethod
    def check_project(cls, graph: Graph, settings: Settings) -> list[Finding]:
        routes = [w for w in graph.wiring if w.kind == "route" and w.name in graph.functions and not is_test_path(w.path)]
        if not routes:
            return []
        limits = _limits(graph, routes)
        reach = _reaching_llm(graph)
        findings: list[Finding] = []
        unlimited: list[WiringInfo] = []
        for route in routes:
            decorators = route.decorators
            at = int(route.flags[0]) if route.flags else -1  # the route's own decorator (-1: add_api_route)
            limited = [i for i, d in enumerate(decorators) if _limit_decorator(d)]
            if any(i < at for i in limited):
                findings.append(cls._wrong_order(graph, route, route.name in reach))
                continue
            if route.name not in reach or any(i > at for i in limited) or limits.defaults and not _exempt(decorators):
                continue
            if any(ref in _LIMIT_DEPENDENCIES or _custom_limit(ref) for ref in route.refs) or route.receiver in limits.guarded:
                continue
            unlimited.append(route)
        if limits.any:
            findings += [cls._unlimited(graph, route, reach) for route in unlimited]
        elif unlimited:
            findings += cls._no_limiter(graph, unlimited)
        return findings

    @classmethod
    def _unlimited(cls, graph: Graph, route: WiringInfo, reach: dict[str, Edge | None]) -> Finding:
        info = graph.functions[route.name]
        related, how = _chain(graph, route.name, reach)
        message = (
            f"`{info.name}` {how} and no rate limit covers it: add `@limiter.limit(...)` under the route decorator "
            "or a `RateLimiter` dependency."
        )
        return cls.project_finding(route.path, _def_span(info.line, info.col, info.is_async, info.name), message, related=related)

    @classmethod
    def _wrong_order(cls, graph: Graph, route: WiringInfo, llm: bool) -> Finding:
        info = graph.functions[route.name]
        cost = " This route reaches an LLM call." if llm else ""
        message = (
            f"`@limiter.limit` sits above the route decorator of `{info.name}`, so FastAPI registered the undecorated "
            f"function and the limit never runs: put the route decorator on top.{cost}"
        )
        return cls.project_finding(route.path, _def_span(info.line, info.col, info.is_async, info.name), message)

    @classmethod
    def _no_limiter(cls, graph: Graph, unlimited: list[WiringInfo]) -> list[Finding]:
        apps = sorted((w for w in graph.wiring if w.kind == "app" and "router" not in w.flags and not is_test_path(w.path)), key=_place)
        if not apps:
            return []
        app = apps[0]
        names = sorted({graph.functions[route.name].name for route in unlimited})
        shown = ", ".join(f"`{name}`" for name in names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        message = (
            f"This app has no rate limiter, and {len(names)} route{'s' if len(names) != 1 else ''} call{'' if len(names) != 1 else 's'} "
            f"an LLM: {shown}; consider slowapi or fastapi-limiter on them."
        )
        related = tuple(
            RelatedLocation(route.path, graph.functions[route.name].line, graph.functions[route.name].col, "an LLM route")
            for route in sorted(unlimited, key=_place)[:8]
        )
        return [cls.project_finding(app.path, Span(app.line, app.col, app.line, app.col), message, severity=Severity.LOW, related=related)]


def _kept(target: str) -> bool:
    return target.removeprefix("ext:") in _SLOWAPI_LIMITERS


def _place(wire: WiringInfo) -> tuple[str, int, int]:
    return wire.path, wire.line, wire.col


def _exempt(decorators: tuple[str, ...]) -> bool:
    return any(d.endswith(".exempt") for d in decorators)


def _limits(graph: Graph, routes: list[WiringInfo]) -> _Limits:
    used = defaults = middleware = False
    guarded: set[str] = set()
    for wire in graph.wiring:
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
    apps_guarded = {w.receiver for w in graph.wiring if w.kind == "app" and "router" not in w.flags} & guarded
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
    towards: dict[str, Edge | None] = {
        fid: None for fid, calls in graph.externals.items() if any(is_llm_call(call.name) for call in calls)
    }
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
