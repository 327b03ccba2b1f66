"""Unbounded network and LLM work: which awaited calls have no deadline anywhere on their path.

Shared by SL401 (llm-call-without-deadline), SL402 (unbounded-fan-out) and SL403
(background-task-without-deadline). It reads the call graph and the ``work`` rows the
collector writes per function (``project.work_sites``):

- **LLM calls** are awaited calls on LangChain chat models, embeddings, LCEL pipes and
  graph transformers, the async OpenAI / Anthropic / ``google.genai`` SDK clients and
  ``litellm``, recognised by the model's dotted name of the receiver.
- **Clients** are followed to where they are built: ``self.llm = ChatX(...)`` in any
  method of the class, a local or a module global set in a function, a project factory's
  return value (with the factory call's keyword arguments: ``timeout=timeout`` passed
  through from the caller, a ``params`` dict filled from a parameter, ``**config`` spread
  from settings), derived runnables (``llm.with_structured_output(...)``) and pipes.
- **Deadlines**: ``asyncio.wait_for``/``asyncio.timeout``/``anyio.fail_after``/
  ``move_on_after`` around the call in its function or around the call of any caller on
  the path; a call site passing ``flag=True`` to a wrapper whose unbounded call only runs
  while ``flag`` is false drops out too.
"""

from __future__ import annotations

import functools

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from sightlint.project.contexts import BACKGROUND, REQUEST, SCRIPT, STARTUP, TEST, THREAD
from sightlint.project.contexts import UNKNOWN as UNKNOWN  # the deadline rules import it from here
from sightlint.project.graph import Graph
from sightlint.project.model import Edge, is_test_path
from sightlint.project.pins import Pin, project_pin
from sightlint.settings import Settings

# Client classes: the keyword(s) that set their HTTP timeout, its default (seconds; None:
# no timeout), the default number of retries, and notes on versions.
class ClientSpec(NamedTuple):
    label: str
    timeout_keywords: tuple[str, ...]
    default_timeout: float | None
    default_retries: int
    effective: bool = True  # False: a timeout set here is not used (GoogleGenerativeAIEmbeddings)
    milliseconds: bool = False  # google.genai ``HttpOptions(timeout=...)``


_LC_OPENAI = ClientSpec("langchain-openai", ("timeout", "request_timeout"), None, 2)
CLIENTS: dict[str, ClientSpec] = {
    "langchain_openai.ChatOpenAI": _LC_OPENAI,
    "langchain_openai.AzureChatOpenAI": _LC_OPENAI,
    "langchain_openai.OpenAIEmbeddings": _LC_OPENAI,
    "langchain_openai.AzureOpenAIEmbeddings": _LC_OPENAI,
    "langchain_openai.OpenAI": _LC_OPENAI,
    "langchain_anthropic.ChatAnthropic": ClientSpec("langchain-anthropic", ("default_request_timeout", "timeout"), None, 2),
    "langchain_google_genai.ChatGoogleGenerativeAI": ClientSpec("langchain-google-genai", ("timeout", "request_timeout"), None, 6),
    "langchain_google_genai.GoogleGenerativeAIEmbeddings": ClientSpec("langchain-google-genai", (), None, 0, effective=False),
    "openai.AsyncOpenAI": ClientSpec("openai", ("timeout",), 600.0, 2),
    "openai.AsyncAzureOpenAI": ClientSpec("openai", ("timeout",), 600.0, 2),
    "anthropic.AsyncAnthropic": ClientSpec("anthropic", ("timeout",), 600.0, 2),
    "google.genai.Client": ClientSpec("google-genai", ("http_options",), None, 0, milliseconds=True),
    # ``init_chat_model("openai:gpt-4o", timeout=30)``: the provider's LangChain class gets the
    # keywords; none of the common ones has a timeout by default.
    "langchain.chat_models.init_chat_model": ClientSpec("init_chat_model", ("timeout", "request_timeout", "default_request_timeout"), None, 0),
}
# Submodule spellings of the same classes.
_ALIASES = {
    "langchain_openai.chat_models.ChatOpenAI": "langchain_openai.ChatOpenAI",
    "langchain_openai.chat_models.AzureChatOpenAI": "langchain_openai.AzureChatOpenAI",
    "langchain_openai.embeddings.OpenAIEmbeddings": "langchain_openai.OpenAIEmbeddings",
    "langchain_anthropic.chat_models.ChatAnthropic": "langchain_anthropic.ChatAnthropic",
    "langchain_google_genai.chat_models.ChatGoogleGenerativeAI": "langchain_google_genai.ChatGoogleGenerativeAI",
    "langchain_google_genai.embeddings.GoogleGenerativeAIEmbeddings": "langchain_google_genai.GoogleGenerativeAIEmbeddings",
    "openai.AsyncClient": "openai.AsyncOpenAI",
    "anthropic.AsyncClient": "anthropic.AsyncAnthropic",
    "google.genai.client.Client": "google.genai.Client",
    "langchain.chat_models.base.init_chat_model": "langchain.chat_models.init_chat_model",
}
LANGCHAIN_ASYNC = frozenset(
    "ainvoke abatch astream astream_events astream_log agenerate apredict apredict_messages "
    "aembed_query aembed_documents aconvert_to_graph_documents".split()
)
_STREAMS = frozenset({"astream", "astream_events", "astream_log", "stream", "generate_content_stream"})
_SDK_CALLS = {
    "openai.AsyncOpenAI": ("chat.completions.create", "chat.completions.parse", "beta.chat.completions.parse", "completions.create", "embeddings.create", "responses.create", "responses.parse"),
    "anthropic.AsyncAnthropic": ("messages.create", "messages.stream", "beta.messages.create"),
    "google.genai.Client": ("aio.models.generate_content", "aio.models.generate_content_stream", "aio.models.embed_content"),
}
_SDK_CALLS["openai.AsyncAzureOpenAI"] = _SDK_CALLS["openai.AsyncOpenAI"]
# The litellm calls whose request gets a 600 s timeout when none is passed (litellm main.py:
# completion() `timeout = timeout or kwargs.get("request_timeout", 600) or 600`; embedding(timeout=600)).
_LITELLM_DEFAULT_TIMEOUT = frozenset({"acompletion", "atext_completion", "aembedding"})
LITELLM = frozenset({"litellm.acompletion", "litellm.aembedding", "litellm.atranscription", "litellm.atext_completion", "litellm.aresponses"})
_PIPES = frozenset({"langchain_core.runnables.RunnableSequence", "langchain_core.runnables.base.RunnableSequence"})
_DERIVED = ("with_structured_output()", "bind_tools()", "bind()", "with_retry()", "with_config()", "with_fallbacks()", "with_types()")
# Awaited database work that has no deadline of its own by default.
# (Redis is left out: clients are usually built with socket timeouts, and sightlint does not
# follow their construction.)
_DATABASE_PREFIXES = ("sqlalchemy.ext.asyncio.", "asyncpg.", "neo4j.AsyncGraphDatabase", "motor.")
_DATABASE_METHODS = frozenset(
    "execute get commit scalar scalars scalar_one flush refresh fetch fetchrow fetchval run query "
    "hget hset set delete find find_one insert_one update_one".split()
)


# The last part of every name ``llm_call_kind`` accepts.
_LLM_LAST = LANGCHAIN_ASYNC | {n.rsplit(".", 1)[-1] for calls in _SDK_CALLS.values() for n in calls} | {
    n.rsplit(".", 1)[-1] for n in LITELLM
}


def _client_class(dotted: str) -> str:
    name = _ALIASES.get(dotted, dotted)
    return name


class LlmCall(NamedTuple):
    """An awaited LLM call in a function: its client class (or "litellm"/"pipe"/"model")."""

    function: str
    line: int
    col: int
    end_line: int
    end_col: int
    text: str
    client: str  # a key of CLIENTS, "litellm", "pipe" or "model" (a chat model of unknown class)
    method: str
    others: tuple[str, ...] = ()  # other client classes the receiver may be (``AsyncOpenAI() if v1 else AsyncAzureOpenAI()``)


@functools.lru_cache(maxsize=8192)
def llm_call_kind(name: str) -> tuple[str, str] | None:
    """``(client, method)`` when the external call ``name`` is LLM work, else None (kept per
    name: the same names recur in every module, and the deadline rules ask of each call)."""
    if name in LITELLM:
        return "litellm", name.rsplit(".", 1)[1]
    if name.startswith("litellm.Router()."):
        method = name.rsplit(".", 1)[1]
        return ("litellm", method) if method in ("acompletion", "aembedding", "atext_completion") else None
    head, sep, rest = name.partition("().")
    if not sep:
        return None
    client = _client_class(head)
    method = rest.rsplit(".", 1)[-1]
    for sdk, calls in _SDK_CALLS.items():
        if client == sdk:
            return (client, method) if rest in calls else None
    if method not in LANGCHAIN_ASYNC:
        return None
    # ``llm.with_structured_output(X).ainvoke``: the same client underneath.
    middle = rest.rsplit(".", 1)[0] if "." in rest else ""
    if middle and any(part not in _DERIVED for part in middle.split(".")):
        return None
    if client in CLIENTS:
        return client, method
    if client in _PIPES:
        return "pipe", method
    top = client.partition(".")[0]
    last = client.rsplit(".", 1)[-1]
    if top.startswith("langchain") and (
        last.startswith("Chat") or last.endswith("Embeddings") or last in ("BaseChatModel", "BaseLanguageModel", "LLMGraphTransformer")
    ):
        return "model", method
    return None


def keeps(name: str) -> bool:
    """The external calls the deadline rules read: LLM work, client constructors, database work."""
    method = name[name.rfind(".") + 1 :]
    if method in _DATABASE_METHODS and name.startswith(_DATABASE_PREFIXES):
        return True
    if method not in _LLM_LAST:  # most calls: one set lookup
        return name in CLIENTS or name in _ALIASES
    return llm_call_kind(name) is not None


class Timeout(NamedTuple):
    """What bounds a client's requests: ``kind`` "none" (nothing), "http" (an HTTP timeout
    of ``seconds``, None when set from configuration), or "unknown" (not followed)."""

    kind: str
    seconds: float | None = None
    retries: int | None = None
    how: str = ""  # where it comes from, for the message
    client: str = ""


GENAI_CHAT = "langchain_google_genai.ChatGoogleGenerativeAI"


def genai_pin(graph: Graph, path: str, settings: Settings) -> Pin | None:
    """The project's requirement of langchain-google-genai (SL404 reads it the same way),
    once per file and run: before 2.1.12 a chat model's ``timeout`` is not used."""
    key = ("langchain-google-genai pin", path)
    if key not in graph.cache:
        graph.cache[key] = project_pin("langchain-google-genai", path, settings, graph.cache)
    found: Pin | None = graph.cache[key]
    return found


def _weakest(found: list[Timeout]) -> Timeout:
    """Of the constructions that may reach a call, the weakest bound; when constructions of
    different client classes bound it equally (``AsyncOpenAI``'s and ``AsyncAzureOpenAI``'s
    defaults), ``how`` names them all."""
    for kind in ("none", "unknown", "http"):
        same = [timeout for timeout in found if timeout.kind == kind]
        if same:
            weakest = same[0]
            hows = [weakest.how]
            clients = {weakest.client}
            for timeout in same[1:]:
                if (
                    timeout.client not in clients
                    and (timeout.seconds, timeout.retries) == (weakest.seconds, weakest.retries)
                    and timeout.how
                    and timeout.how not in hows
                ):
                    clients.add(timeout.client)
                    hows.append(timeout.how)
            if len(hows) > 1 and all(hows):
                return weakest._replace(how=" or ".join(hows))
            return weakest
    return found[0]


def _rows(graph: Graph, fid: str) -> list[tuple[Any, ...]]:
    info = graph.functions.get(fid)
    if info is None:
        return []
    rows = info.facts.get("work")
    return rows if rows else []


class Deadlines:
    """The analysis, computed once per graph (``deadlines(graph)``)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        # Function -> the positions of its calls made under a deadline; functions a deadline
        # decorator bounds.
        self.covered: dict[str, set[tuple[int, int]]] = {}
        self.decorated: set[str] = set()
        for fid, info in graph.functions.items():
            rows = info.facts.get("work")
            if rows:
                marked = {(r[1], r[2]) for r in rows if r[0] == "x"}
                if marked:
                    self.covered[fid] = marked
                if ("dl",) in rows:
                    self.decorated.add(fid)
        self._by_class: dict[str, list[str]] = {}
        self._by_path: dict[str, list[str]] = {}
        for fid, info in graph.functions.items():
            cls = info.facts.get("cls")
            if cls:
                self._by_class.setdefault(cls, []).append(fid)
            self._by_path.setdefault(graph.path_of(fid), []).append(fid)
        self._externals_at: dict[str, dict[tuple[int, int], list[tuple[str, int, int]]]] = {}
        self._edges_at: dict[str, dict[tuple[int, int], list[Edge]]] = {}

    # -- positions ------------------------------------------------------------------------

    def externals_at(self, fid: str, line: int, col: int) -> list[tuple[str, int, int]]:
        """``(name, end_line, end_col)`` of the external calls starting at ``line:col``
        (``ChatX(...).ainvoke(...)``: two calls start there)."""
        table = self._externals_at.get(fid)
        if table is None:
            table = self._externals_at[fid] = {}
            for c in self.graph.externals.get(fid, ()):
                table.setdefault((c.site.line, c.site.col), []).append((c.name, c.site.end_line, c.site.end_col))
        return table.get((line, col), [])

    def edges_at(self, fid: str, line: int, col: int) -> list[Edge]:
        table = self._edges_at.get(fid)
        if table is None:
            table = {}
            for edge in self.graph.edges.get(fid, ()):
                table.setdefault((edge.line, edge.col), []).append(edge)
            self._edges_at[fid] = table
        return table.get((line, col), [])

    # -- LLM calls ------------------------------------------------------------------------

    def llm_calls(self, fid: str) -> list[tuple[LlmCall, tuple[Any, ...] | None]]:
        """The LLM calls written in ``fid``, each with its ``c`` row (None for litellm without one)."""
        found: list[tuple[LlmCall, tuple[Any, ...] | None]] = []
        rows: dict[tuple[int, int], tuple[Any, ...]] | None = None  # built at the first LLM call (most functions make none)
        at: dict[tuple[int, int, int, int], int] = {}
        for call in self.graph.externals.get(fid, ()):
            kind = llm_call_kind(call.name)
            if kind is None:
                continue
            if rows is None:
                rows = {(r[1], r[2]): r for r in _rows(self.graph, fid) if r[0] == "c"}
            site = call.site
            row = rows.get((site.line, site.col))
            if not site.awaited and kind[1] not in _STREAMS and row is None:
                continue
            place = (site.line, site.col, site.end_line, site.end_col)
            if place in at:
                # A receiver of several client classes (a local bound in two branches): one
                # call site, one call; its timeout is the weakest of them (``timeout_of``).
                index = at[place]
                first, first_row = found[index]
                if kind[0] != first.client and kind[0] not in first.others:
                    found[index] = (first._replace(others=(*first.others, kind[0])), first_row)
                continue
            at[place] = len(found)
            found.append((LlmCall(fid, site.line, site.col, site.end_line, site.end_col, site.text, kind[0], kind[1]), row))
        return found

    def database_calls(self, fid: str) -> list[tuple[int, int, str]]:
        return [
            (c.site.line, c.site.col, c.site.text)
            for c in self.graph.externals.get(fid, ())
            if c.site.awaited and c.name.startswith(_DATABASE_PREFIXES)
        ]

    def request_timeout(self, call: LlmCall) -> float | None | bool:
        """A per-request ``timeout=`` on ``call``: its seconds, None (set, value unknown), or
        False (none)."""
        for row in _rows(self.graph, call.function):
            if row[0] == "k" and row[1:3] == (call.line, call.col) and row[4:6] == (call.end_line, call.end_col):
                for name, kind, value in row[3]:
                    if name in ("timeout", "request_timeout"):
                        if kind == "n":
                            return float(value)
                        if kind in ("e", "p"):
                            return None
        return False

    # -- clients ---------------------------------------------------------------------------

    def timeout_of(self, call: LlmCall) -> Timeout:
        """How ``call`` is bounded below asyncio: a per-request timeout or its client's."""
        per_request = self.request_timeout(call)
        if per_request is not False:
            value = "" if per_request is None else f" ({per_request:g} s)"
            seconds = per_request if isinstance(per_request, float) else None
            return Timeout("http", seconds, None, f"a per-request `timeout`{value}", call.client)
        row = next(
            (r for r in _rows(self.graph, call.function) if r[0] == "c" and r[1] == call.line and r[2] == call.col), None
        )
        if not call.others:
            return self.client_timeout(call, row)
        # The receiver may be any of several clients: the weakest bound counts.
        found = [self.client_timeout(call._replace(client=client, others=()), row) for client in (call.client, *call.others)]
        return _weakest(found)

    def client_timeout(self, call: LlmCall, row: tuple[Any, ...] | None) -> Timeout:
        """How the client of ``call`` bounds its requests."""
        if call.client == "litellm":
            if call.method in _LITELLM_DEFAULT_TIMEOUT:
                # litellm's completion() (which acompletion, text completion and Router calls
                # end in) takes `timeout or request_timeout or 600`, and embedding() defaults to
                # timeout=600: an HTTP timeout per attempt, like the OpenAI SDK's default.
                return Timeout("http", 600.0, None, "`litellm`'s default", "litellm")
            return Timeout("none", how="`litellm` sets no timeout unless one is passed", client="litellm")
        if row is None or not row[3]:
            if call.client in CLIENTS and not CLIENTS[call.client].effective:
                return Timeout("none", how=f"`{call.client.rsplit('.', 1)[1]}` has no working timeout setting", client=call.client)
            return Timeout("unknown", client=call.client)
        found = self._resolve_key(row[3], call.function, {}, 0)
        if not found:
            if call.client in CLIENTS and not CLIENTS[call.client].effective:
                return Timeout("none", how=f"`{call.client.rsplit('.', 1)[1]}` has no working timeout setting", client=call.client)
            return Timeout("unknown", client=call.client)
        return _weakest(found)

    def _resolve_key(self, key: str, fid: str, env: Mapping[str, tuple[str, Any]], depth: int) -> list[Timeout]:
        if depth > 8 or not key:
            return []
        graph = self.graph
        head, _, name = key.partition(":")
        if key.startswith("@"):
            line, _, col = key[1:].partition(":")
            return self._resolve_call(fid, int(line), int(col), env, depth + 1)
        if key.startswith("|"):
            found: list[Timeout] = []
            for member in key[1:].split(","):
                found += [t for t in self._resolve_key(member, fid, env, depth + 1) if t.kind != "unknown"]
            return found
        sources: list[tuple[str, tuple[Any, ...]]] = []
        if head == "a":
            cls = graph.functions[fid].facts.get("cls") if fid in graph.functions else None
            for other in self._by_class.get(cls, ()) if cls else ():
                sources += [(other, r) for r in _rows(graph, other) if r[0] == "b" and r[1] == key]
        elif head == "l" or key == "r":
            sources = [(fid, r) for r in _rows(graph, fid) if r[0] == "b" and r[1] == key]
        elif head == "g":
            for other in self._by_path.get(graph.path_of(fid), ()):
                sources += [(other, r) for r in _rows(graph, other) if r[0] == "b" and r[1] == key]
        elif head == "p":
            # A client handed in: what the callers pass for it by keyword (``cls(llm=_llm)``).
            found_passed: list[Timeout] = []
            for edge in graph.callers.get(fid, ())[:20]:
                for row in _rows(graph, edge.source):
                    if row[0] == "ar" and row[1] == edge.line and row[2] == edge.col:
                        for keyword, passed in row[3]:
                            if keyword == name:
                                found_passed += self._resolve_key(passed, edge.source, {}, depth + 1)
            return found_passed
        found = []
        for where, row in sources:
            if row[4]:
                found += self._resolve_key(row[4], where, env if where == fid else {}, depth + 1)
            else:
                found += self._resolve_call(where, row[2], row[3], env if where == fid else {}, depth + 1)
        return found

    def _resolve_call(self, fid: str, line: int, col: int, env: Mapping[str, tuple[str, Any]], depth: int) -> list[Timeout]:
        """The clients the call at ``line:col`` of ``fid`` returns."""
        for name, end_line, end_col in self.externals_at(fid, line, col):
            client = _client_class(name)
            if client in CLIENTS:
                return [self._construction(client, fid, line, col, env, (end_line, end_col))]
        for row in _rows(self.graph, fid):
            if row[0] == "c" and row[1] == line and row[2] == col and row[4] in ("with_structured_output", "bind_tools", "bind", "with_retry", "with_config", "with_fallbacks", "with_types"):
                return self._resolve_key(row[3], fid, env, depth + 1)
        found: list[Timeout] = []
        arguments = self._arguments(fid, line, col, env)
        for edge in self.edges_at(fid, line, col):
            if edge.kind == "call":
                found += self._resolve_key("r", edge.target, arguments, depth + 1)
        return found

    def _arguments(
        self, fid: str, line: int, col: int, env: Mapping[str, tuple[str, Any]], end: tuple[int, int] | None = None
    ) -> dict[str, tuple[str, Any]]:
        """The timeout-related keyword arguments of the call at ``line:col`` (ending at
        ``end``, when known), parameters resolved through ``env`` (what the caller passed)."""
        arguments: dict[str, tuple[str, Any]] = {}
        for row in _rows(self.graph, fid):
            if row[0] == "k" and row[1] == line and row[2] == col and (end is None or row[4:6] == end):
                for name, kind, value in row[3]:
                    arguments[name] = self._through(fid, kind, value, env)
        return arguments

    def _through(self, fid: str, kind: str, value: Any, env: Mapping[str, tuple[str, Any]]) -> tuple[str, Any]:
        """A parameter's value as the caller passed it (or its default)."""
        if kind != "p":
            return kind, value
        if value in env:
            return env[value]
        if "**" in env and value != "max_retries":  # a retry count is rarely configured with the timeout
            return "*", env["**"][1]
        for row in _rows(self.graph, fid):
            if row[0] == "pd" and row[1] == value:
                return row[2], row[3]
        return "0", ""

    def _construction(
        self, client: str, fid: str, line: int, col: int, env: Mapping[str, tuple[str, Any]], end: tuple[int, int]
    ) -> Timeout:
        spec = CLIENTS[client]
        short = client.rsplit(".", 1)[1]
        arguments = self._arguments(fid, line, col, env, end)
        # ``ChatX(**params)``: the keys the local dict got.
        spread = arguments.pop("**", None)
        built_here = spread is not None and spread[0] == "*" and any(
            row[0] == "d" and row[1] == spread[1] and not row[2] for row in _rows(self.graph, fid)
        )
        if spread is not None and built_here:
            for row in _rows(self.graph, fid):
                if row[0] == "d" and row[1] == spread[1] and row[2]:
                    if row[2] == "*":
                        if "**" in env:
                            arguments.setdefault("**", ("*", env["**"][1]))
                        for keyword in spec.timeout_keywords + ("max_retries",):
                            if keyword in env:
                                arguments.setdefault(keyword, env[keyword])
                    else:
                        arguments[row[2]] = self._through(fid, row[3], row[4], env)
        elif spread is not None:
            arguments["**"] = spread
        retries_kind = arguments.get("max_retries")
        retries: int | None = spec.default_retries
        if retries_kind is not None:
            retries = int(retries_kind[1]) if retries_kind[0] == "n" else None
        if not spec.effective:
            return Timeout("none", how=f"`{short}` has no working timeout setting", client=client)
        for keyword in spec.timeout_keywords:
            found = arguments.get(keyword)
            if found is None:
                continue
            kind, value = found
            if kind == "h":
                if value is None:
                    break
                if value == "":
                    return Timeout("http", None, retries, f"`{short}` gets `HttpOptions(timeout=...)`, in milliseconds", client)
                return Timeout("http", float(value) / 1000, retries, f"`HttpOptions(timeout={value:g})` is in milliseconds", client)
            if kind == "n":
                return Timeout("http", float(value), retries, f"`{short}({keyword}={value:g})`", client)
            if kind == "0":
                return Timeout("none", how=f"`{short}` is built with `{keyword}=None`", client=client)
            if kind == "*":
                return Timeout("http", None, retries, f"`{short}` gets `{keyword}` from configuration (`**...`)", client)
            return Timeout("http", None, retries, f"`{short}` is built with a `{keyword}`", client)
        if "**" in arguments:
            return Timeout("http", None, retries, f"`{short}` may get a timeout from configuration (`**...`)", client)
        if spec.default_timeout is not None:
            return Timeout("http", spec.default_timeout, retries, f"`{short}`'s default", client)
        return Timeout("none", how=f"`{short}` is built without a timeout ({spec.label}: none by default)", client=client)

    # -- paths ------------------------------------------------------------------------------

    def bounded_edge(self, edge: Edge) -> bool:
        """Whether a deadline covers this call: in the caller, or a deadline decorator on the
        caller (it runs bounded) or on the callee."""
        if edge.target in self.decorated or edge.source in self.decorated:
            return True
        covered = self.covered.get(edge.source)
        return covered is not None and (edge.line, edge.col) in covered

    def _flagged(self, edge: Edge, guard: str) -> bool:
        """The call passes ``flag=True`` and the guarded work only runs while it is false."""
        if not guard.startswith("!"):
            return False
        flag = guard[1:]
        for row in _rows(self.graph, edge.source):
            if row[0] == "k" and row[1] == edge.line and row[2] == edge.col:
                return any(name == flag and kind == "t" for name, kind, _ in row[3])
        return False

    def unbounded_paths(self, fid: str, guard: str = "") -> Reach:
        """Where ``fid`` is reached from without a deadline on the way: a reverse BFS
        through calls and task starts (never through threads) that skips covered calls."""
        graph = self.graph
        towards: dict[str, Edge | None] = {fid: None}
        queue = deque([fid])
        starts: dict[str, str] = {}
        background: set[str] = set()
        if fid in self.decorated:
            return Reach(fid, towards, starts, background)  # bounded by its own decorator
        while queue:
            node = queue.popleft()
            callers = graph.callers.get(node, ())
            contexts = graph.entries.get(node)
            if contexts:
                starts[node] = _worst(contexts)
            elif not callers:
                starts[node] = TEST if is_test_path(graph.path_of(node)) else UNKNOWN
            for edge in callers:
                if edge.kind == "thread" or edge.source in towards:
                    continue
                if self.bounded_edge(edge) or (node == fid and guard and self._flagged(edge, guard)):
                    continue
                towards[edge.source] = edge
                if edge.kind == "background":
                    background.add(edge.source)
                queue.append(edge.source)
        return Reach(fid, towards, starts, background)

    def forward_work(self, fid: str) -> Work:
        """The unbounded LLM and database work ``fid`` does, directly or through the calls it
        makes and the tasks it starts without a deadline (not through threads)."""
        graph = self.graph
        seen = {fid}
        queue = deque([fid])
        llm: list[tuple[LlmCall, list[str]]] = []
        database: list[tuple[str, int, int, str]] = []
        if fid in self.decorated:
            return Work(llm, database)
        parents: dict[str, str] = {}
        while queue and len(seen) < 5000:
            node = queue.popleft()
            for call, row in self.llm_calls(node):
                if row is not None and row[5]:
                    continue
                llm.append((call, _path(parents, node)))
            for line, col, text in self.database_calls(node):
                database.append((node, line, col, text))
            for edge in graph.edges.get(node, ()):
                if edge.kind == "thread" or edge.target in seen or self.bounded_edge(edge):
                    continue
                seen.add(edge.target)
                parents[edge.target] = node
                queue.append(edge.target)
        return Work(llm, database)


class Work(NamedTuple):
    llm: list[tuple[LlmCall, list[str]]]  # each call and the functions on the way to it
    database: list[tuple[str, int, int, str]]


class Reach(NamedTuple):
    """What :meth:`Deadlines.unbounded_paths` found: ``towards`` maps each function that
    reaches the start without a deadline to its edge on the way, ``starts`` the entry
    points (and functions without callers) among them, with their worst context."""

    target: str
    towards: dict[str, Edge | None]
    starts: dict[str, str]
    background: set[str]

    def context_of(self, start: str) -> str:
        """Where the target runs when reached from ``start``: a task started on the way runs
        in the background (whoever started it)."""
        context = self.starts[start]
        if context in (TEST, SCRIPT) or not self.background:
            return context
        return BACKGROUND if any(edge.kind == "background" for edge in self.chain(start)) else context

    def context(self) -> str | None:
        """The worst context the target runs in without a deadline, None when it never does."""
        start = self.worst_start()
        return None if start is None else self.context_of(start)

    def chain(self, start: str) -> list[Edge]:
        edges = []
        node = start
        while True:
            edge = self.towards.get(node)
            if edge is None:
                break
            edges.append(edge)
            node = edge.target
        return edges

    def worst_start(self) -> str | None:
        best: str | None = None
        rank = len(_RANK)
        for fid in sorted(self.starts):
            found = _RANK[self.context_of(fid)]
            if found < rank:
                best, rank = fid, found
        return best


_BY_SEVERITY = (REQUEST, BACKGROUND, UNKNOWN, STARTUP, SCRIPT, TEST, THREAD)
_RANK = {context: rank for rank, context in enumerate(_BY_SEVERITY)}


def _worst(contexts: Iterable[str]) -> str:
    return min(contexts, key=lambda c: _RANK.get(c, len(_RANK)))


def _path(parents: Mapping[str, str], node: str) -> list[str]:
    path = [node]
    while path[-1] in parents and len(path) < 50:
        path.append(parents[path[-1]])
    path.reverse()
    return path


def deadlines(graph: Graph) -> Deadlines:
    """The :class:`Deadlines` of ``graph``, computed once (kept in ``graph.cache``)."""
    found = graph.cache.get(("deadlines",))
    if not isinstance(found, Deadlines):
        found = graph.cache[("deadlines",)] = Deadlines(graph)
    return found
