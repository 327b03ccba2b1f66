from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sightlint.models import Finding, RelatedLocation
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.semantics.bindings import BindingKind
from sightlint.semantics.nodes import children, subnodes
from sightlint.semantics.scope import qualify

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.project.graph import Graph, ModelNeeds
    from sightlint.project.model import Edge
    from sightlint.settings import Settings

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
# How a rule step resolves a name to what it imports (``Context.qualified_name`` or a stand-in).
_Qualify = Callable[[ast.AST], "str | None"]
# One of these is in the text of every file with a finding (see ``may_report``).
_KEY_WORDS = ("global", "class", "__new__", "{", "dict", "Dict", "Mapping")
# Module-level values that make a name a dict cache (``_CACHE: dict[str, X] = {}``).
_DICT_TYPES = {"dict", "collections.defaultdict", "collections.OrderedDict", "weakref.WeakValueDictionary"}
# What a construction opens when it is built twice: connections, pools, clients, drivers
# (matched on the names of the calls that build the value).
_RESOURCE_MODULE = re.compile(
    r"redis|mongo|neo4j|qdrant|chroma|weaviate|pinecone|milvus|elastic|opensearch|psycopg|asyncpg|aiohttp|httpx"
    r"|boto|openai|anthropic|sqlalchemy|grpc",
    re.IGNORECASE,
)
_RESOURCE = re.compile(
    rf"connect|client|pool|engine|driver|session|connection|channel|from_url|executor|^socket$|^open$"
    rf"|{_RESOURCE_MODULE.pattern}",
    re.IGNORECASE,
)
# Calls that raise outside the thread running the event loop (asyncio/tasks.py `create_task`
# and asyncio/events.py `get_running_loop`: "no running event loop").
_LOOP_ONLY = frozenset({"asyncio.create_task", "asyncio.get_running_loop", "asyncio.tasks.create_task"})
# A class named for the data it holds opens nothing, whatever its first word says
# (``SessionState(...)``, ``PoolStats(...)``): a CamelCase name whose
# last word is one of these.
_DATA_NAMED = re.compile(r"(?<=[a-z0-9])(?:State|Config|Configuration|Settings|Info|Options|Params|Data|Stats|Status|Metadata|Schema)$")
# Stand-ins that open nothing (``NoopRedisClient()``).
_STAND_IN = re.compile(r"noop|fake|mock|dummy|null|stub", re.IGNORECASE)
# The race explained without the project model (``api.check_source``); ``grade`` replaces it.
_UNGRADED = " Threads (sync FastAPI endpoints and dependencies, `to_thread`, executors) can each see it unset and build it."


@dataclass
class _Check:
    """An ``if`` that tests whether ``key`` is still unset."""

    key: str
    node: ast.If
    init_in_body: bool  # False: the unset branch is ``else`` (or what follows an early return)
    body_end: int
    awaits: int
    locks: frozenset[int]  # ids of the lock blocks open at the check
    set_before_await: bool = False  # a set of ``key`` came before any suspension point
    first_set: int | None = None  # line of a set every path runs before any suspension point
    # ids of the nodes that run after an earlier set of ``key`` in its block: a set among
    # them updates what the first one stored (the race window ends at the first set)
    after_set: set[int] = field(default_factory=set)


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
    aliases: dict[str, str] = field(default_factory=dict)  # local -> dict-cache key (``x = _CACHE.get(k)``)
    values: dict[str, ast.expr] = field(default_factory=dict)  # local -> the value last assigned to it
    handlers: int = 0  # ``except`` blocks open


@dataclass
class _Pending:
    check: _Check
    function: _FunctionNode
    is_async: bool
    set_line: int
    lock_after_check: bool
    opens: str | None  # the call that opens a resource, if the construction does


class UnlockedLazySingleton(Rule):
    """
    ## What it flags
    Check-then-set lazy initialisation of a module global (`global X` … `if X is None:` …
    `X = make()`, also `if not X:` and the early-return form `if X is not None: return X`),
    of a class attribute (`if cls._instance is None: cls._instance = ...`) or of an entry
    of a module-level dict cache (`if key not in _CLIENTS: _CLIENTS[key] = Client(key)`,
    `client = _CLIENTS.get(key)` … `_CLIENTS[key] = client`) when no lock is held around
    *both* the check and the assignment. The finding is on the check; its related locations
    include where the global (or dict, or class attribute) is declared.

    Two initialisations can overlap only in two ways, and the finding names which:

    - **an `await` between the check and the set** (`if X is None: X = await connect()`):
      every task that arrives during the await sees `X` unset and builds its own. High.
    - **a thread reaches the getter**: a sync route handler or sync dependency (FastAPI
      runs them in its threadpool), `asyncio.to_thread`, `run_in_executor`,
      `threading.Thread`, executor `submit`. Found on the project's call graph, so the
      getter may live in another file than the route; the message gives the path (`index`
      hands `get_store` to a thread; `index → get_store`). High.

    Either is **critical** when the construction opens connections, clients or pools
    (`connect…`, `…Client(...)`, `create_engine`, `Redis.from_url`, a `ThreadPoolExecutor`):
    each duplicate leaks one. A class named for the data it holds (`SessionState`,
    `PoolStats`: the name's last word is `State`, `Config`, `Settings`,
    `Info`, `Options`, `Params`, `Data`, `Stats`, `Status`, `Metadata` or `Schema`) opens
    nothing unless it comes from a client library. A sync getter that only the event loop reaches (async request
    code, start-up, tests), with no `await` in between, cannot race today: it is reported
    **low** ("latent: safe on one event loop, races once called from a thread"), printed but
    failing a run only with `--fail-on low`.

    Not flagged: locked double-checked initialisation; an `async def` with no `await`
    between check and set; a sync getter whose value is built with `asyncio.create_task(...)`
    (or `asyncio.get_running_loop()`), which raises `RuntimeError` in any thread but the
    loop's own (Python 3.11 `asyncio/tasks.py`: `create_task` starts with
    `events.get_running_loop()`), so no thread can race it; per-instance attributes (`self._x`); a reset to a constant or a
    once-flag (`_warned = True`); a value read or computed rather than built
    (`_ID = resp.get("id")`, `_CACHE[k] = parse(k)`, `_fn = get_plugin(name)`: built twice,
    nothing leaks — only values that come from a factory such as `make_…`/`build_…`/
    `load_…`/`connect…`/`from_…`, open a resource, create an `Event` or `Lock`, or (for a
    global or class attribute, a singleton) instantiate a class are reported; a dict of
    result objects, `_RESULTS[url] = CheckResult(...)`, is a memo); a set that
    follows one every path runs before any `await` (an update, or a fallback in an
    `except`: the global is already set when other tasks look), and a set that follows an
    earlier set of the same global or entry in its block (`_USERS[k] = user` … `_USERS[k] =
    await db.create_user(user)`: the race window ends at the first set, the second updates
    what is stored, and what the first stores decides whether anything was built).

    **Values are not singletons.** Building a value object twice gives two equal values and
    leaks nothing, so these are not reported: a pydantic model class from `create_model`
    (or a `TypeAdapter`; pydantic 2.14.4, `pydantic/main.py`: a new class, nothing opened),
    an OpenTelemetry `Resource` (`Resource.create({...})` merges the detectors' attributes
    into an immutable attribute set: opentelemetry-sdk 1.45.2,
    `opentelemetry/sdk/resources/__init__.py`), a named
    tuple, `SimpleNamespace`, a configuration or schema object (a class named `…Config`,
    `…Settings`, `…Options`, `…Schema`), a pydantic model or named tuple of this module whose
    fields build nothing, and an instance of a class of this module whose `__init__` only
    stores arguments, constants and what they compute (`self._client = None`, a client
    opened later per instance). A class whose `__init__` holds state (a dict of handlers,
    locks, events), builds another object, opens a client or starts a thread, or that
    defines `__new__`, is still a singleton worth one instance.

    **Built on import.** A getter the module itself calls at its top level
    (`prompts = get_prompt_registry()`) has set the global before any thread or task can
    call it; a call under `if __name__ == "__main__":` does not count.

    ## Why it matters
    Each duplicate initialisation opens its own connection pool or driver (Neo4j, Redis,
    an LLM client) that nothing closes: connection and memory leaks, doubled start-up
    cost, and callers holding different instances (a cancellation `Event` nobody sets).

    Separate worker *processes* (`uvicorn --workers 4`, gunicorn) are not a race, whatever
    the audit's §2 says about "multiple workers": each process has its own copy of every
    global and builds its own singleton once, which is intended. Only threads and tasks
    inside one process share the global.

    ## Fix
    Unsafe (`--unsafe-fixes`): double-checked locking, as the audit proposes. The check
    stays where it is (the fast path takes no lock) and runs again, with everything it
    guards, under a module-level lock defined on the line after the module-level
    assignment of the global (or dict cache) it guards — after the imports when the
    module never assigns it at its top level:

    - a **sync** getter gets a `threading.Lock()` and `with _X_LOCK:`; an **async** one an
      `asyncio.Lock()` and `async with _X_LOCK:` (an `asyncio.Lock` may be held across an
      `await`; a `threading.Lock` never is, and a sync getter has no `await`);
    - `if X is None: X = make()` becomes `if X is None: with _X_LOCK: if X is None: X = make()`;
      the early-return form `if X is not None: return X` … keeps its early return and moves
      the rest of the block, with the same check first, under the lock; a dict cache read
      into a local (`client = _CLIENTS.get(k)` right before `if client is None:`) is read
      again under the lock; one lock per dict (`_CLIENTS_LOCK`);
    - the lock is named `_X_LOCK` (`_x_lock` for a lower-case global); when the module or
      the getter already binds that name to something else, `_X_LOCK_2`, …; a lock this
      fix made for another getter of the same global is reused. The body is otherwise
      unchanged.

    Unsafe because it changes behaviour: a caller now waits while another builds the value
    (a slow build blocks a thread, or with a `threading.Lock` the event loop when a sync
    getter is called from async code); `threading.Lock` is not re-entrant; a module-level
    `asyncio.Lock` (Python 3.10+ binds it to the loop of its first contended wait) raises
    `RuntimeError` if the getter runs under two event loops (a loop per test, `asyncio.run`
    per call); for those, create the resource in the FastAPI `lifespan` and keep it on
    `app.state` instead. The fix is not offered for class attributes (`cls._instance`:
    the lock's home, module or class, is a design choice), a check with an `elif`/`else`
    branch, a lock taken after the check already (re-check under that lock by hand), a
    getter that calls itself (a second `acquire` would deadlock) or yields, or a test the
    fix cannot repeat (`if _a is None or _b is None`, `hasattr`).

    Other ways to make it safe, by hand: `functools.lru_cache(maxsize=1)` / `functools.cache`
    on a getter whose result may rarely be built twice; best for async code, build the
    resource once in the `lifespan`. A **latent** (low) finding needs nothing today; the
    lock matters once the getter may be called from a sync endpoint, `to_thread` or an
    executor. The audit's proposed fix (an `asyncio.Lock` around a still-blocking
    `_connect_with_retry`) serialises tasks but keeps blocking the loop; see SL101.

    ## See also
    - https://docs.python.org/3/library/asyncio-sync.html#asyncio.Lock
    - https://docs.python.org/3/library/threading.html#lock-objects
    - https://fastapi.tiangolo.com/async/#path-operation-functions
    """

    graded = True
    # Component-local: the grade is the thread chain into the getter, from entries along
    # call edges, which only join modules of one component.
    project_scope = "component"
    meta = RuleMeta(
        code="SL501",
        name="unlocked-lazy-singleton",
        severity=Severity.CRITICAL,
        summary="Lazy singleton checked and set without a lock; concurrent callers can each build it.",
        audit="§2",
        fix=FixSafety.UNSAFE,
        fix_title="Re-check under a module-level lock (double-checked locking)",
        tags=("shared-state", "async", "threads"),
    )

    bad = (
        Bad(
            "# file: app/clients.py\n"
            "from neo4j import GraphDatabase\n"
            "\n"
            "_DRIVER = None\n"
            "\n"
            "def get_driver():\n"
            "    global _DRIVER\n"
            "    if _DRIVER is None:  # critical: a thread reaches it, and each build opens a pool\n"
            "        _DRIVER = GraphDatabase.driver(URI)\n"
            "    return _DRIVER\n"
            "# file: app/api.py\n"
            "from fastapi import APIRouter\n"
            "\n"
            "from app.clients import get_driver\n"
            "\n"
            "router = APIRouter()\n"
            "\n"
            "@router.get('/graph')\n"
            "def graph():  # a sync endpoint: FastAPI runs it in its threadpool\n"
            "    return get_driver().verify_connectivity()\n",
            in_docs=True,
        ),
        Bad(
            "from fastapi import FastAPI\n"
            "\n"
            "app = FastAPI()\n"
            "_STORE = None\n"
            "\n"
            "def get_store():\n"
            "    global _STORE\n"
            "    if _STORE is None:  # low: only the event loop calls it (latent)\n"
            "        _STORE = Store()\n"
            "    return _STORE\n"
            "\n"
            "@app.get('/items')\n"
            "async def items():\n"
            "    return get_store().items()\n",
            fixed="""\
import threading

from fastapi import FastAPI

app = FastAPI()
_STORE = None
_STORE_LOCK = threading.Lock()

def get_store():
    global _STORE
    if _STORE is None:  # low: only the event loop calls it (latent)
        with _STORE_LOCK:
            if _STORE is None:
                _STORE = Store()
    return _STORE

@app.get('/items')
async def items():
    return get_store().items()
""",
        ),
        Bad(
            "import httpx\n"
            "\n"
            "_CLIENTS: dict[str, httpx.AsyncClient] = {}\n"
            "\n"
            "async def client_for(base_url):\n"
            "    client = _CLIENTS.get(base_url)\n"
            "    if client is None:  # critical: an await between the check and the set\n"
            "        token = await fetch_token(base_url)\n"
            "        client = httpx.AsyncClient(base_url=base_url, headers={'Authorization': token})\n"
            "        _CLIENTS[base_url] = client\n"
            "    return client\n",
            fixed="""\
import asyncio

import httpx

_CLIENTS: dict[str, httpx.AsyncClient] = {}
_CLIENTS_LOCK = asyncio.Lock()

async def client_for(base_url):
    client = _CLIENTS.get(base_url)
    if client is None:  # critical: an await between the check and the set
        async with _CLIENTS_LOCK:
            client = _CLIENTS.get(base_url)
            if client is None:
                token = await fetch_token(base_url)
                client = httpx.AsyncClient(base_url=base_url, headers={'Authorization': token})
                _CLIENTS[base_url] = client
    return client
""",
        ),
        Bad(
            "_client = None\n\nasync def get_client():\n    global _client\n"
            "    if _client is None:\n        _client = await make_client()\n    return _client\n",
            fixed="""\
import asyncio

_client = None
_client_lock = asyncio.Lock()

async def get_client():
    global _client
    if _client is None:
        async with _client_lock:
            if _client is None:
                _client = await make_client()
    return _client
""",
        ),
        Bad(
            "_pool = None\n\nasync def pool():\n    global _pool\n    if not _pool:\n"
            "        settings = await load_settings()\n        _pool = build(settings)\n    return _pool\n",
            fixed="""\
import asyncio

_pool = None
_pool_lock = asyncio.Lock()

async def pool():
    global _pool
    if not _pool:
        async with _pool_lock:
            if not _pool:
                settings = await load_settings()
                _pool = build(settings)
    return _pool
""",
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
            "        return _graph\n    _graph = build_graph()\n    return _graph\n",
            fixed="""\
import threading

_graph = None
_graph_lock = threading.Lock()

def graph():
    global _graph
    if _graph is not None:
        return _graph
    with _graph_lock:
        if _graph is not None:
            return _graph
        _graph = build_graph()
        return _graph
""",
        ),
        Bad(
            "import threading\n\n_lock = threading.Lock()\n_svc = None\n\ndef svc():\n    global _svc\n"
            "    if _svc is None:\n        with _lock:\n            _svc = Service()\n    return _svc\n"
        ),
        Bad(
            "from fastapi import Depends\n\n_rag = None\n\ndef get_rag():\n    global _rag\n"
            "    if _rag is None:\n        _rag = RagService()\n    return _rag\n\n"
            "def route(rag=Depends(get_rag)):\n    return rag.search()\n",
            fixed="""\
import threading

from fastapi import Depends

_rag = None
_rag_lock = threading.Lock()

def get_rag():
    global _rag
    if _rag is None:
        with _rag_lock:
            if _rag is None:
                _rag = RagService()
    return _rag

def route(rag=Depends(get_rag)):
    return rag.search()
""",
        ),
        Bad(
            "class Singleton:\n    _inst = None\n\n    def __new__(cls):\n"
            "        if cls._inst is None:\n            cls._inst = super().__new__(cls)\n        return cls._inst\n"
        ),
        Bad(
            "_a = None\n_b = None\n\nasync def both():\n    global _a, _b\n    if _a is None:\n"
            "        _a = await make_a()\n    if _b is None:\n        _b = await make_b()\n",
            count=2,
            fixed="""\
import asyncio

_a = None
_a_lock = asyncio.Lock()
_b = None
_b_lock = asyncio.Lock()

async def both():
    global _a, _b
    if _a is None:
        async with _a_lock:
            if _a is None:
                _a = await make_a()
    if _b is None:
        async with _b_lock:
            if _b is None:
                _b = await make_b()
""",
        ),
        Bad(
            "from transformers import AutoTokenizer\n"
            "\n"
            "_TOKENIZERS: dict[str, object] = {}\n"
            "\n"
            "def tokenizer(name):\n"
            "    if name in _TOKENIZERS:  # a model loaded from disk: seconds and memory per copy\n"
            "        return _TOKENIZERS[name]\n"
            "    tok = AutoTokenizer.from_pretrained(name)\n"
            "    _TOKENIZERS[name] = tok\n"
            "    return tok\n",
            fixed="""\
import threading

from transformers import AutoTokenizer

_TOKENIZERS: dict[str, object] = {}
_TOKENIZERS_LOCK = threading.Lock()

def tokenizer(name):
    if name in _TOKENIZERS:  # a model loaded from disk: seconds and memory per copy
        return _TOKENIZERS[name]
    with _TOKENIZERS_LOCK:
        if name in _TOKENIZERS:
            return _TOKENIZERS[name]
        tok = AutoTokenizer.from_pretrained(name)
        _TOKENIZERS[name] = tok
        return tok
""",
        ),
        Bad(
            "_REGISTRY = None\n"
            "\n"
            "class Registry:\n"
            "    def __init__(self):\n"
            "        self.handlers = {}  # state: a second registry loses what was registered in the first\n"
            "\n"
            "def registry():\n"
            "    global _REGISTRY\n"
            "    if _REGISTRY is None:\n"
            "        _REGISTRY = Registry()\n"
            "    return _REGISTRY\n",
            fixed="""\
import threading

_REGISTRY = None
_REGISTRY_LOCK = threading.Lock()

class Registry:
    def __init__(self):
        self.handlers = {}  # state: a second registry loses what was registered in the first

def registry():
    global _REGISTRY
    if _REGISTRY is None:
        with _REGISTRY_LOCK:
            if _REGISTRY is None:
                _REGISTRY = Registry()
    return _REGISTRY
""",
        ),
        Bad(
            "import httpx\n"
            "\n"
            "_API = None\n"
            "\n"
            "class ApiConfig:\n"
            "    pass\n"
            "\n"
            "class Api:\n"
            "    def __init__(self, base_url):\n"
            "        self.base_url = base_url\n"
            "        self.http = httpx.Client(base_url=base_url)  # opens a pool: not a cheap value\n"
            "\n"
            "def api():\n"
            "    global _API\n"
            "    if _API is None:\n"
            "        _API = Api(ApiConfig())\n"
            "    return _API\n",
            fixed="""\
import threading

import httpx

_API = None
_API_LOCK = threading.Lock()

class ApiConfig:
    pass

class Api:
    def __init__(self, base_url):
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url)  # opens a pool: not a cheap value

def api():
    global _API
    if _API is None:
        with _API_LOCK:
            if _API is None:
                _API = Api(ApiConfig())
    return _API
""",
        ),
        Bad(
            "_STORE = None\n"
            "\n"
            "def get_store():\n"
            "    global _STORE\n"
            "    if _STORE is None:  # only a script calls it at import: requests still race\n"
            "        _STORE = connect_store()\n"
            "    return _STORE\n"
            "\n"
            "if __name__ == '__main__':\n"
            "    get_store()\n",
            fixed="""\
import threading

_STORE = None
_STORE_LOCK = threading.Lock()

def get_store():
    global _STORE
    if _STORE is None:  # only a script calls it at import: requests still race
        with _STORE_LOCK:
            if _STORE is None:
                _STORE = connect_store()
    return _STORE

if __name__ == '__main__':
    get_store()
""",
        ),
        Bad(
            "_USERS: dict[str, object] = {}\n"
            "\n"
            "async def session_for(user_id, api):\n"
            "    if user_id in _USERS:\n"
            "        return _USERS[user_id]\n"
            "    profile = await api.profile(user_id)\n"
            "    _USERS[user_id] = make_session(profile)  # the first set comes after the await\n"
            "    _USERS[user_id] = await api.refresh(_USERS[user_id])\n"
            "    return _USERS[user_id]\n",
            fixed="""\
import asyncio

_USERS: dict[str, object] = {}
_USERS_LOCK = asyncio.Lock()

async def session_for(user_id, api):
    if user_id in _USERS:
        return _USERS[user_id]
    async with _USERS_LOCK:
        if user_id in _USERS:
            return _USERS[user_id]
        profile = await api.profile(user_id)
        _USERS[user_id] = make_session(profile)  # the first set comes after the await
        _USERS[user_id] = await api.refresh(_USERS[user_id])
        return _USERS[user_id]
""",
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
            "_BOT_ID = None\n"
            "\n"
            "async def bot_id(client):\n"
            "    global _BOT_ID\n"
            "    if _BOT_ID is None:  # a value read twice, nothing built\n"
            "        result = await client.auth_test()\n"
            "        _BOT_ID = result.get('user_id')\n"
            "    return _BOT_ID\n"
        ),
        Good(
            "import re\n"
            "\n"
            "_PATTERNS: dict[str, re.Pattern[str]] = {}\n"
            "\n"
            "def pattern(text):\n"
            "    if text not in _PATTERNS:  # a memo of computed values\n"
            "        _PATTERNS[text] = re.compile(text)\n"
            "    return _PATTERNS[text]\n"
        ),
        Good(
            "_USERS: dict[str, User] = {}\n"
            "\n"
            "async def get_user(user_id, data_layer):\n"
            "    if user_id in _USERS:\n"
            "        return _USERS[user_id]\n"
            "    user = User(user_id)\n"
            "    _USERS[user_id] = user  # set before the await: later tasks find it\n"
            "    _USERS[user_id] = await data_layer.persist(user)  # an update, not a second build\n"
            "    return _USERS[user_id]\n"
        ),
        Good(
            "_checker = None\n"
            "\n"
            "def get_checker():\n"
            "    global _checker\n"
            "    if _checker is None:  # a function looked up by name: harmless if done twice\n"
            "        _checker = get_plugin('experimental_check')\n"
            "    return _checker\n"
        ),
        Good(
            "_client = None\n"
            "\n"
            "async def get_client():\n"
            "    global _client\n"
            "    if _client is None:\n"
            "        try:\n"
            "            _client = RedisClient()  # set before the await: later tasks see it\n"
            "            await _client.wait_for_ready()\n"
            "        except ConnectionError:\n"
            "            _client = NoopClient()\n"
            "    return _client\n"
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
        Good(
            "from pydantic import create_model\n"
            "\n"
            "_SCHEMAS: dict[tuple, type] = {}\n"
            "\n"
            "def schema_for(fields):\n"
            "    key = tuple(fields)\n"
            "    cached = _SCHEMAS.get(key)\n"
            "    if cached is not None:  # a model class is a value: two equal ones, nothing leaks\n"
            "        return cached\n"
            "    model = create_model('Input', **{f: (str, ...) for f in fields})\n"
            "    _SCHEMAS[key] = model\n"
            "    return model\n"
        ),
        Good(
            "from opentelemetry.sdk.resources import Resource\n"
            "\n"
            "_RESOURCES = {}\n"
            "\n"
            "def get_resource(service):\n"
            "    if service not in _RESOURCES:  # an OpenTelemetry Resource is a bag of attributes\n"
            "        _RESOURCES[service] = Resource.create({'service.name': service})\n"
            "    return _RESOURCES[service]\n"
        ),
        Good(
            "from pydantic import BaseModel, Field, create_model\n"
            "\n"
            "class ApiError(Exception):\n"
            "    _schema = None\n"
            "\n"
            "    @classmethod\n"
            "    def schema(cls):\n"
            "        if cls._schema is not None:\n"
            "            return cls._schema\n"
            "        model = create_model(cls.__name__, detail=(str, Field(examples=['x'])))\n"
            "        cls._schema = model\n"
            "        return cls._schema\n"
        ),
        Good(
            "_CONFIG = None\n"
            "\n"
            "def get_config():\n"
            "    global _CONFIG\n"
            "    if _CONFIG is None:  # a config object read twice is the same config\n"
            "        _CONFIG = AppSettings()\n"
            "    return _CONFIG\n"
        ),
        Good(
            "_READER = None\n"
            "\n"
            "class TraceReader:\n"
            "    def __init__(self, table='traces'):\n"
            "        self._client = None  # opened on first use, per instance\n"
            "        self.table = table\n"
            "\n"
            "def get_reader():\n"
            "    global _READER\n"
            "    if _READER is None:  # a cheap constructor: a second reader holds nothing\n"
            "        _READER = TraceReader()\n"
            "    return _READER\n"
        ),
        Good(
            "_PROMPTS = None\n"
            "\n"
            "def get_prompts():\n"
            "    global _PROMPTS\n"
            "    if _PROMPTS is None:\n"
            "        _PROMPTS = PromptRegistry.from_dir('prompts')\n"
            "    return _PROMPTS\n"
            "\n"
            "prompts = get_prompts()  # built on import, before any thread or task can call it\n"
        ),
        Good(
            "_USERS: dict[str, object] = {}\n"
            "\n"
            "async def get_user(user_id, api, db):\n"
            "    if user_id in _USERS:\n"
            "        return _USERS[user_id]\n"
            "    profile = await api.profile(user_id)\n"
            "    user = User(user_id, profile)  # a value: two equal users\n"
            "    _USERS[user_id] = user\n"
            "    if db:\n"
            "        persisted = await db.create_user(user)  # an update of what is stored (an upsert)\n"
            "        if persisted:\n"
            "            _USERS[user_id] = persisted\n"
            "    return _USERS[user_id]\n"
        ),
    )

    # ``visit_Call`` looks for ``.acquire()`` only: on in a file that spells it.
    switched = frozenset(("visit_Call",))

    @classmethod
    def may_report(cls, text: str) -> bool:
        # Every finding pairs a check with a set of one key (`_assigned`, `_key`): a global
        # declared by a `global` statement; an attribute of a class of this module (the
        # `class` keyword), of a `classmethod`'s or `__new__`'s/`__init_subclass__`'s first
        # parameter, or of `type(self)`/`self.__class__` in a class; or an entry of a dict
        # bound at module level (`_is_dict`, `_is_dict_annotation`): a `{...}` literal or
        # comprehension, or a call or annotation named `dict`, `defaultdict`, `OrderedDict`,
        # `WeakValueDictionary`, `Dict` or `MutableMapping` (an import alias still spells it).
        return any(word in text for word in _KEY_WORDS)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._frames: list[_Frame] = []
        self._pending: dict[int, _Pending] = {}
        self._classes: set[str] = set()
        self._locks: set[str] = set()
        self._dicts: set[str] = set()
        # Where each module global, dict cache and class attribute is first bound: read from
        # the module's statements for a file with a finding only (``_declarations``).
        self._declared: dict[str, ast.stmt] | None = None
        # Classes of this module whose instances are values (``_value_class``): judged the
        # first time a check-then-set asks (``_value_class_names``), rarely, as of the walk's
        # start (the module's classes and its import bindings then, kept by ``visit_Module``).
        self._value_classes: set[str] | None = None
        self._start_bindings: dict[str, str | None] = {}
        # Functions (``get_x``, ``Registry.get``) the module calls while it is imported
        # (``_called_on_import``: read from the tree alone, and only for a file with a finding).
        self._import_time: set[str] | None = None
        self._module: ast.Module | None = None
        self._bindings: dict[str, list[ast.expr | None]] | None = None
        # An identifier may be spelt in other Unicode forms (NFKC): only ASCII text is searched.
        if not self.context.ascii or "acquire" in self.context.text:
            self.switch_on("visit_Call")

    def visit_Module(self, node: ast.Module) -> None:
        # Module-level imports are bound only once the walk starts.
        self._classes = {s.name for s in node.body if isinstance(s, ast.ClassDef)}
        self._module = node
        value: ast.expr | None
        # What names mean now, at the walk's start (the module-level imports, bound before
        # it): the value classes are judged against these bindings, later, if ever needed.
        self._start_bindings = self.context.module_bindings()
        for stmt in node.body:
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign):
                targets, value = [stmt.target], stmt.value
            else:
                continue
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if isinstance(value, ast.Call) and self.context.qualified_name(value.func) in _LOCK_TYPES:
                self._locks.update(names)
            elif self._is_dict(value) or (isinstance(stmt, ast.AnnAssign) and self._is_dict_annotation(stmt.annotation)):
                self._dicts.update(names)

    def _value_class_names(self) -> set[str]:
        """The module's value classes (``_value_class``), judged in order on first use, each
        reading the ones before it, with names resolved as at the walk's start."""
        if self._value_classes is None:
            found = self._value_classes = set()
            qualify = self._qualified_at_start
            body = self._module.body if self._module is not None else []
            for stmt in body:
                if isinstance(stmt, ast.ClassDef) and self._value_class(stmt, qualify):
                    found.add(stmt.name)
        return self._value_classes

    def _qualified_at_start(self, node: ast.AST) -> str | None:
        """``Context.qualified_name`` as it answered at the walk's start (``visit_Module``)."""
        return qualify(node, self._start_bindings.get)

    def _value_class(self, node: ast.ClassDef, qualify: _Qualify) -> bool:
        """Whether instances of ``node`` are values: a pydantic model, settings or named tuple
        whose fields build nothing, or a plain class whose ``__init__`` only stores arguments,
        constants and what they compute (``self._client = None``; no container of state, no
        client, no thread). Two of them are interchangeable; a class with ``__new__`` is not."""
        frame = _Frame(None)
        bases = [_short_text(b) for b in node.bases]
        defs = {s.name: s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if "__new__" in defs:
            return False
        if bases and set(bases) <= _VALUE_BASES:
            fields = [s.value for s in node.body if isinstance(s, (ast.Assign, ast.AnnAssign)) and s.value is not None]
            return "__init__" not in defs and not any(
                self._opens(v, qualify) or self._builds(v, frame, entry=False, qualify=qualify) for v in fields if not _is_field(v)
            )
        init = defs.get("__init__")
        if init is None or any(b not in ("object",) for b in bases):
            return False
        for stmt in init.body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # the docstring
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                short = _short_text(stmt.value.func)
                if short in ("start", "run", "connect") or self._opens(stmt.value, qualify) or self._builds(stmt.value, frame, entry=False, qualify=qualify):
                    return False
                continue  # ``atexit.register(self.close)``, ``logger.debug(...)``
            if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is None:
                return False
            state = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
            if any(isinstance(n, state) for n in subnodes(stmt.value)):
                return False  # a container of state: two instances split it
            if self._opens(stmt.value, qualify) or self._builds(stmt.value, frame, entry=False, qualify=qualify):
                return False
        return True

    def _declarations(self) -> dict[str, ast.stmt]:
        """Where each module global, dict cache and class attribute is first bound."""
        declared = self._declared
        if declared is None:
            declared = self._declared = {}
            for stmt in self._module.body if self._module is not None else []:
                if isinstance(stmt, ast.ClassDef):
                    declared.setdefault(stmt.name, stmt)
                    for inner in stmt.body:
                        for target in _assigned(inner):
                            if isinstance(target, ast.Name):
                                declared.setdefault(f"{stmt.name}.{target.id}", inner)
                else:
                    for target in _assigned(stmt):
                        if isinstance(target, ast.Name):
                            declared.setdefault(target.id, stmt)
        return declared

    def _is_dict(self, value: ast.expr | None) -> bool:
        if isinstance(value, (ast.Dict, ast.DictComp)):
            return True
        return isinstance(value, ast.Call) and (
            (isinstance(value.func, ast.Name) and value.func.id == "dict")
            or self.context.qualified_name(value.func) in _DICT_TYPES
        )

    def _is_dict_annotation(self, annotation: ast.expr) -> bool:
        base = annotation.value if isinstance(annotation, ast.Subscript) else annotation
        name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
        return name in ("dict", "Dict", "MutableMapping", "defaultdict", "OrderedDict")

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

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if self._frames:
            self._frames[-1].handlers += 1

    def leave_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if self._frames:
            self._frames[-1].handlers -= 1

    def visit_Global(self, node: ast.Global) -> None:
        if self._frames:
            self._frames[-1].globals.update(node.names)

    def _count_await(self, node: ast.AST) -> None:
        if self._frames:
            self._frames[-1].awaits += 1

    visit_Await = visit_AsyncFor = _count_await

    # -- keys ------------------------------------------------------------------------

    def _key(self, expr: ast.expr, frame: _Frame, *, checked: bool = False) -> str | None:
        """``X`` for a declared global, ``Class.attr`` for a class attribute, ``D[]`` for an
        entry of a module dict cache (``D[k]``; when ``checked``, also ``D.get(k)`` and a
        local holding it), else None."""
        if isinstance(expr, ast.Name):
            if checked and expr.id in frame.aliases:
                return frame.aliases[expr.id]
            return expr.id if expr.id in frame.globals else None
        if isinstance(expr, ast.Subscript):
            return self._dict_key(expr.value, frame)
        if checked and isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "get":
            return self._dict_key(expr.func.value, frame)
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

    def _dict_key(self, expr: ast.expr, frame: _Frame) -> str | None:
        if isinstance(expr, ast.Name) and expr.id in self._dicts and not self.context.binding_depth(expr.id):
            return f"{expr.id}[]"
        return None

    def _tested(self, test: ast.expr, frame: _Frame) -> list[tuple[str, bool]]:
        """(key, True if the ``if`` body runs while key is unset) for each check in ``test``."""
        if isinstance(test, ast.BoolOp):
            return [found for value in test.values for found in self._tested(value, frame)]
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return [(key, not unset) for key, unset in self._tested(test.operand, frame)]
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            left, right = test.left, test.comparators[0]
            if isinstance(test.ops[0], (ast.In, ast.NotIn)):  # ``if k not in _CACHE:``
                key = self._dict_key(right, frame)
                return [(key, isinstance(test.ops[0], ast.NotIn))] if key else []
            if isinstance(left, ast.Constant) and left.value is None:
                left, right = right, left
            if isinstance(right, ast.Constant) and right.value is None:
                key = self._key(left, frame, checked=True)
                if key is not None and isinstance(test.ops[0], (ast.Is, ast.Eq, ast.IsNot, ast.NotEq)):
                    return [(key, isinstance(test.ops[0], (ast.Is, ast.Eq)))]
            return []
        if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "hasattr":
            if len(test.args) == 2 and isinstance(test.args[1], ast.Constant) and isinstance(test.args[1].value, str):
                key = self._key(ast.Attribute(value=test.args[0], attr=test.args[1].value), frame)
                return [(key, False)] if key else []
            return []
        key = self._key(test, frame, checked=True)
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
            if init_in_body:
                check.first_set = self._first_set(node.body, key, frame)
            frame.blocks.append((node, check))
            if not init_in_body and not node.orelse and isinstance(node.body[-1], ast.Return):
                assert frame.node is not None
                check.first_set = self._first_set(_after(frame.node, node), key, frame)
                frame.early.append(check)

    def _first_set(self, body: list[ast.stmt], key: str, frame: _Frame) -> int | None:
        """The line of a set of ``key`` that every path through ``body`` runs before any
        suspension point (statements in order, and the body of a ``try`` among them)."""
        for stmt in body:
            if isinstance(stmt, ast.Try):
                found = self._first_set(stmt.body, key, frame)
                if found is not None:
                    return found
            if any(isinstance(n, (ast.Await, ast.AsyncWith, ast.AsyncFor)) for n in subnodes(stmt)):
                return None
            if any(self._key(target, frame) == key for target in _assigned(stmt)):
                return stmt.lineno
        return None

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
            if isinstance(target, ast.Name):
                frame.values[target.id] = value
                alias = self._key(value, frame, checked=True) if isinstance(value, ast.Call) else None
                if alias is not None and alias.endswith("[]"):
                    frame.aliases[target.id] = alias
                else:
                    frame.aliases.pop(target.id, None)
            return
        check = self._pairing_check(frame, key, node.lineno)
        if check is None:
            return  # a plain assignment, not check-then-set
        if id(node) in check.after_set:
            return  # an update (``_USERS[k] = await db.create_user(user)`` after ``_USERS[k] = user``)
        assert frame.node is not None
        check.after_set.update(id(n) for stmt in _after(frame.node, node) for n in ast.walk(stmt))
        if frame.manual_lock or check.locks & self._open_locks(frame):
            return
        if frame.is_async and frame.awaits == check.awaits:
            check.set_before_await = True
            return  # nothing can interleave between check and set on the loop
        if check.set_before_await and frame.handlers:
            return  # a fallback after a failure: the first set already happened before the await
        if check.first_set is not None and node.lineno > check.first_set:
            return  # an update: the first set already happened before any await
        if id(check.node) in self._pending:
            return
        if isinstance(value, ast.Name) and value.id in frame.values:
            value = frame.values[value.id]  # ``client = connect(); _CACHE[k] = client``
        if not frame.is_async and self._loop_only(value):
            return  # only the event loop's own thread can run it: no thread can race it
        opens = self._opens(value)
        if opens is None and not self._builds(value, frame, entry=key.endswith("[]")):
            return  # a value read or computed (``resp.get("id")``, ``parse(k)``): built twice, nothing leaks
        self._pending[id(check.node)] = _Pending(
            check, frame.node, frame.is_async, node.lineno, bool(self._open_locks(frame)), opens
        )

    def _loop_only(self, value: ast.expr) -> bool:
        """True when building ``value`` needs the running event loop of the current thread:
        `asyncio.create_task(...)` (or `asyncio.get_running_loop()`) raises `RuntimeError: no
        running event loop` in any other thread, so a sync getter setting it runs only on the
        loop, where nothing interleaves between a check and a set without an `await`."""
        return any(
            isinstance(node, ast.Call) and self.context.qualified_name(node.func) in _LOOP_ONLY
            for node in subnodes(value)
        )

    def _builds(self, value: ast.expr, frame: _Frame, *, entry: bool, qualify: _Qualify | None = None) -> bool:
        """Whether ``value`` builds an object worth building once: it calls a factory
        (``make_client()``, ``load_model()``, ``Tokenizer.from_pretrained()``) or creates a
        synchronisation primitive (``asyncio.Event()``); for a module global or class attribute
        (not an ``entry`` of a dict cache), also any class instantiated (``Service()``, ``cls()``,
        ``super().__new__(cls)``): a singleton is about one instance. A value read or computed
        (``os.getenv(...)``, ``get_plugin(name)``, ``re.compile(p)``) is harmless when built
        twice, and so is a cached result object (``_RESULTS[url] = CheckResult(...)``) and a
        value object (``_is_value``): a pydantic model made by ``create_model``, an OpenTelemetry
        ``Resource``, a config or settings object, an instance of a class of this module whose
        ``__init__`` only stores arguments and constants."""
        todo: list[ast.AST] = [value]
        while todo:
            node = todo.pop()
            if isinstance(node, ast.Call) and self._is_value(node, frame, qualify):
                continue  # its arguments describe the value (``create_model(name, x=(int, Field(...)))``)
            todo.extend(children(node))  # any order: the answer is whether some call matches
            if isinstance(node, ast.Call):
                parts = _text_parts(node.func)
                if _FACTORY.search(parts[-1]) or parts[-1] in _SYNC_PRIMITIVES:
                    return True
                if not entry and (any(part[:1].isupper() for part in parts) or parts[0] in ("cls", "super()", "type(self)")):
                    return True
        return False

    def _is_value(self, call: ast.Call, frame: _Frame, qualify: _Qualify | None = None) -> bool:
        """Whether ``call`` makes a value object: two of them are equal and hold nothing open."""
        func = call.func
        qualified = (self.context.qualified_name if qualify is None else qualify)(func) or ""
        value_classes = self._value_class_names()
        if any(qualified == name or qualified.startswith(name + ".") for name in _VALUE_FACTORIES):
            return True
        short = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in value_classes:
            return func.attr in ("create", "model_validate", "parse_obj")  # ``Config.create(...)`` of a value class
        if short in value_classes or _VALUE_CLASS.search(short):
            return True
        # ``cls()`` in a classmethod of a value class
        return short == "cls" and frame.class_name in value_classes and "cls" in frame.cls_names

    def _opens(self, value: ast.expr, qualify: _Qualify | None = None) -> str | None:
        """The call in ``value`` that opens a connection, pool or client, if one does."""
        if qualify is None:
            qualify = self.context.qualified_name
        for node in ast.walk(value):
            if isinstance(node, ast.Call):
                func = node.func
                name = qualify(func) or ""
                short = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if _STAND_IN.search(short):
                    continue
                if (_RESOURCE.search(short) and not _DATA_NAMED.search(short)) or _RESOURCE_MODULE.search(name.rpartition(".")[0]):
                    return ast.unparse(func)
        return None

    @staticmethod
    def _pairing_check(frame: _Frame, key: str, line: int) -> _Check | None:
        for _, check in reversed(frame.blocks):
            if check is not None and check.key == key and (line <= check.body_end) == check.init_in_body:
                return check
        for check in reversed(frame.early):
            if check.key == key and line > check.body_end:
                return check
        return None

    def _runs_at_import(self, function: _FunctionNode) -> bool:
        """Whether the module calls ``function`` while it is imported: the global is set
        then, before any thread or task can call the getter."""
        module = self._module
        if module is None:
            return False
        if function in module.body:
            return function.name in self._called_on_import(module)
        for stmt in module.body:
            if isinstance(stmt, ast.ClassDef) and function in stmt.body:
                return f"{stmt.name}.{function.name}" in self._called_on_import(module)
        return False

    def _called_on_import(self, module: ast.Module) -> set[str]:
        if self._import_time is None:
            self._import_time = set()
            for stmt in module.body:
                self._import_time.update(_called_at_import(stmt))  # nothing for a class or def
        return self._import_time

    def end_module(self) -> None:
        for pending in self._pending.values():
            key, check = pending.check.key, pending.check
            if self._runs_at_import(pending.function):
                continue  # initialised on import (``prompts = get_prompt_registry()``)
            shown = f"`{key[:-2]}[...]`" if key.endswith("[]") else f"`{key}`"
            opens = ""
            if pending.opens:
                opens = f" `{pending.opens}(...)` opens connections, clients or pools that leak when it is built twice."
            if pending.is_async:
                message = (
                    f"{shown} is lazily initialised with an `await` between the check and the assignment "
                    f"(line {pending.set_line}) and no lock: concurrent tasks can all see it unset and each build it."
                )
            else:
                message = f"Check-then-set of {shown} without a lock."
            message += opens
            if pending.lock_after_check:
                message += f" The lock is taken after the check: re-check {shown} inside it."
            declared = self._declarations().get(key[:-2] if key.endswith("[]") else key)
            related: tuple[RelatedLocation, ...] = ()
            if declared is not None:
                name = key[:-2] if key.endswith("[]") else key
                col = self.context.char_col(declared.lineno, declared.col_offset)
                related = (RelatedLocation(self.context.path, declared.lineno, col, f"`{name}` is declared here"),)
            severity = Severity.CRITICAL if pending.opens else Severity.HIGH
            fixable = self._fixable(pending)
            if pending.is_async:
                self.report(check.node.test, message, severity=severity, related=related, fixable=fixable)
            else:  # a thread race: ``grade`` tells whether a thread reaches the function
                self.report(
                    check.node.test,
                    message + _UNGRADED,
                    severity=severity,
                    related=related,
                    function=pending.function,
                    fixable=fixable,
                )

    def _fixable(self, pending: _Pending) -> bool:
        """Whether ``fix`` handles this finding: a module global (or dict cache) tested by a
        plain ``if`` (no ``elif``/``else``) in a getter that neither yields nor calls itself,
        initialised in the ``if`` body or after an early return; a lock name free for it."""
        check, function = pending.check, pending.function
        node = check.node
        if pending.lock_after_check:
            return False  # the code has a lock already: re-check under it (adding a second one would nest two)
        if node.orelse or self.context.lines[node.lineno - 1].lstrip().startswith("elif"):
            return False
        for inner in subnodes(function):
            if isinstance(inner, (ast.Yield, ast.YieldFrom)):
                return False
            if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == function.name:
                return False
        subject = _ast_subject(node.test)
        if subject is None or subject[1] != check.init_in_body:
            return False
        name, key = subject[0], check.key
        if key.endswith("[]"):
            guarded = key[:-2]
            if name != guarded:  # ``client = _CLIENTS.get(key)`` right before ``if client is None:``
                block = next((b for b in _blocks_of(function) if node in b), [])
                at = next(i for i, s in enumerate(block) if s is node) if block else 0
                if not at or _ast_dict_read(block[at - 1], name) != guarded:
                    return False
        elif name != key:
            return False  # a class attribute
        else:
            guarded = key
        if not check.init_in_body and not _after(function, node):
            return False
        module = "asyncio" if pending.is_async else "threading"
        # Read on the tree, not the scope model: checking must not build the scope index.
        bound = self._top_bindings().get(module)
        if bound is not None and bound != [None]:
            return False  # ``asyncio``/``threading`` means something else here
        local = {n.id for n in subnodes(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        local |= {a.arg for a in subnodes(function.args) if isinstance(a, ast.arg)}
        for lock in _lock_names(guarded):
            if lock in local:
                continue
            values = self._top_bindings().get(lock)
            if values is None:
                return True
            if len(values) == 1 and isinstance(values[0], ast.Call) and self.context.qualified_name(values[0].func) == f"{module}.Lock":
                return True
        return False

    def _top_bindings(self) -> dict[str, list[ast.expr | None]]:
        """Module-level names and what binds them (the value assigned; None for ``import name``,
        ``ast.Constant(...)`` standing for anything else: an import under another name, a def)."""
        if self._bindings is None:
            self._bindings = {}
            other = ast.Constant(value=...)
            todo: list[ast.stmt] = list(self._module.body) if self._module is not None else []
            while todo:
                stmt = todo.pop()
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    self._bindings.setdefault(stmt.name, []).append(other)
                elif isinstance(stmt, ast.Import):
                    for alias in stmt.names:
                        bound = alias.asname or alias.name.partition(".")[0]
                        plain = alias.asname is None and "." not in alias.name
                        self._bindings.setdefault(bound, []).append(None if plain else other)
                elif isinstance(stmt, ast.ImportFrom):
                    for alias in stmt.names:
                        self._bindings.setdefault(alias.asname or alias.name, []).append(other)
                elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    for target in _assigned(stmt):
                        for name in ast.walk(target):
                            if isinstance(name, ast.Name):
                                value = stmt.value if isinstance(target, ast.Name) and stmt.value is not None else other
                                self._bindings.setdefault(name.id, []).append(value)
                else:
                    for block in ("body", "orelse", "finalbody"):
                        todo.extend(getattr(stmt, block, None) or [])
                    for handler in getattr(stmt, "handlers", None) or []:
                        todo.extend(handler.body)
        return self._bindings

    # -- fixing ------------------------------------------------------------------------

    fix_node = ("BaseExpression",)
    fix_region = "function"

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """Double-checked locking around the check (see "Fix" in the docs): the ``if`` (or,
        for the early-return form, the ``if`` and the rest of its block) runs again under a
        module-level lock defined right after the global (or dict) it guards."""
        import libcst as cst

        ancestors = self.fix_ancestors
        if len(ancestors) < 2 or not isinstance(ancestors[-1], cst.If) or ancestors[-1].test is not node:
            return None
        check, block = ancestors[-1], ancestors[-2]
        if not isinstance(block, cst.IndentedBlock) or not any(s is check for s in block.body) or check.orelse is not None:
            return None  # an ``elif``, an ``else`` branch, a one-line suite holding it
        function = next((a for a in reversed(ancestors) if isinstance(a, (cst.FunctionDef, cst.ClassDef, cst.Lambda))), None)
        if not isinstance(function, cst.FunctionDef):
            return None
        subject = _subject(node)
        if subject is None:
            return None
        name, unset_in_body = subject
        at = next(i for i, s in enumerate(block.body) if s is check)
        alias: tuple[cst.BaseStatement, ...] = ()
        owner = self.context.module_binding(name)
        if name in _global_names(function):
            guarded = name
        elif owner is not None and owner.kind is BindingKind.GLOBAL and _tests_membership(node):
            guarded = name  # ``if key not in _CACHE:``: a module dict read, never assigned here
        else:  # ``client = _CLIENTS.get(key)`` just before ``if client is None:``: re-read it under the lock
            source = _dict_read(block.body[at - 1], name) if at else None
            if source is None:
                return None
            guarded, alias = source, (block.body[at - 1].with_changes(leading_lines=[]),)
        declared = self.context.module_binding(guarded)
        if declared is None or declared.kind is not BindingKind.GLOBAL:
            return None
        is_async = function.asynchronous is not None
        module = "asyncio" if is_async else "threading"
        bound = self.context.module_binding(module)
        if bound is not None and bound.qualified != module:
            return None  # ``asyncio``/``threading`` means something else here
        lock = self._lock_name(guarded, f"{module}.Lock", finding.span.line, finding.span.col)
        if lock is None:
            return None
        inner = check.with_changes(leading_lines=[], body=_without_comment(check.body))
        if unset_in_body:  # ``if X is None: X = make()``
            locked: list[cst.BaseStatement] = [*alias, inner]
            target: cst.CSTNode = check
        elif isinstance(check.body, cst.IndentedBlock) and check.body.body and isinstance(_last(check.body), cst.Return) or (
            isinstance(check.body, cst.SimpleStatementSuite) and isinstance(check.body.body[-1], cst.Return)
        ):  # ``if X is not None: return X`` and the rest of the block builds it
            rest = list(block.body[at + 1 :])
            if not rest:
                return None
            locked, target = [*alias, inner, *rest], block
        else:
            return None
        if _calls(locked, function.name.value) or _yields(locked):
            return None  # a recursive getter would deadlock on the lock; a generator would hold it across a yield
        with_lock = cst.With(
            items=[cst.WithItem(item=cst.Name(lock))],
            body=cst.IndentedBlock(body=locked),
            asynchronous=cst.Asynchronous() if is_async else None,
        )
        if target is check:
            replacement: cst.CSTNode = check.with_changes(body=cst.IndentedBlock(body=[with_lock], header=_header(check.body)))
        else:
            replacement = block.with_changes(body=[*block.body[: at + 1], with_lock])
        return Fix(
            replacement=replacement,
            target=target,
            imports=((module, None),),
            module_statements=((lock, f"{lock} = {module}.Lock()"),),
            placement=((lock, guarded),),
        )

    def _lock_name(self, guarded: str, kind: str, line: int, col: int) -> str | None:
        """``_X_LOCK`` / ``_x_lock`` for ``guarded``, unless the module or the getter binds it
        to something else (then ``_X_LOCK_2``, ...); a lock of ``kind`` already there is reused."""
        for lock in _lock_names(guarded):
            seen = self.context.binding_at(lock, line, col)
            if seen.kind in (BindingKind.UNBOUND, BindingKind.BUILTIN) and self.context.module_binding(lock) is None:
                return lock
            value = seen.value
            if seen.kind is BindingKind.GLOBAL and isinstance(value, ast.Call) and self.context.qualified_name(value.func) == kind:
                return lock  # made by this fix for another getter of the same global
        return None

    # -- grading with the project model -------------------------------------------------

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        from sightlint.project.graph import ModelNeeds

        return ModelNeeds(facts=frozenset({"route"}))

    @classmethod
    def grade(cls, finding: Finding, function: str | None, graph: Graph, settings: Settings) -> Finding:
        from sightlint.project.contexts import THREAD, where_code_runs

        if function is None:
            return finding
        base = finding.message.removesuffix(_UNGRADED)
        runs = where_code_runs(graph)
        chain = runs.chain(function, THREAD)
        name = graph.display(function)
        if chain is None:
            contexts = runs.contexts(function)
            where = f"it runs only in {_listed(sorted(contexts))} code" if contexts else "no entry point is known to reach it"
            return dataclasses.replace(
                finding,
                severity=Severity.LOW,
                message=f"{base} Latent: safe on one event loop, races once called from a thread "
                f"(nothing in the project runs `{name}` in a thread today; {where}).",
            )
        hops = tuple(graph.hop(edge) for edge in chain)
        return dataclasses.replace(
            finding,
            message=f"{base} Two threads can each see it unset and build it: {_thread_path(graph, function, chain)}.",
            related=(*finding.related, *hops),
            chain_paths=tuple(sorted({*finding.chain_paths, *(h.path for h in hops)} - {finding.path})),
        )


def _assigned(stmt: ast.stmt) -> list[ast.expr]:
    """The targets of an assignment statement (annotated or not); none for any other."""
    if isinstance(stmt, ast.Assign):
        return stmt.targets
    return [stmt.target] if isinstance(stmt, ast.AnnAssign) else []


def _lock_names(guarded: str) -> list[str]:
    """The names the lock of ``guarded`` may take, in order: ``_X_LOCK`` (``_x_lock``), then ``_2``…"""
    base = guarded.strip("_")
    stem = f"_{base}_LOCK" if guarded.upper() == guarded else f"_{base}_lock"
    return [stem if n == 1 else f"{stem}_{n}" for n in range(1, 10)]


def _ast_subject(test: ast.expr) -> tuple[str, bool] | None:
    """What :func:`_subject` says of the same test, read on the ``ast``."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        found = _ast_subject(test.operand)
        return None if found is None else (found[0], not found[1])
    if isinstance(test, ast.Name):
        return test.id, False
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, left, right = test.ops[0], test.left, test.comparators[0]
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, ast.Name):
            return right.id, isinstance(op, ast.NotIn)
        if isinstance(left, ast.Constant) and left.value is None:
            left, right = right, left
        if isinstance(left, ast.Name) and isinstance(right, ast.Constant) and right.value is None:
            if isinstance(op, (ast.Is, ast.Eq)):
                return left.id, True
            if isinstance(op, (ast.IsNot, ast.NotEq)):
                return left.id, False
    return None


def _ast_dict_read(stmt: ast.stmt, name: str) -> str | None:
    """``D`` when ``stmt`` is ``name = D.get(...)`` or ``name = D[...]``."""
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
        return None
    target, value = stmt.targets[0], stmt.value
    if not isinstance(target, ast.Name) or target.id != name:
        return None
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "get":
        value = value.func.value
    elif isinstance(value, ast.Subscript):
        value = value.value
    else:
        return None
    return value.id if isinstance(value, ast.Name) else None


def _blocks_of(function: ast.AST) -> list[list[ast.stmt]]:
    """Every statement block in ``function``."""
    return [
        block
        for node in ast.walk(function)
        for name in ("body", "orelse", "finalbody")
        if isinstance(block := getattr(node, name, None), list)
    ]


# -- fix helpers (LibCST) ------------------------------------------------------------------


def _subject(test: cst.BaseExpression) -> tuple[str, bool] | None:
    """The name an ``if`` tests and whether its body runs while that is unset: ``X is None``,
    ``not X``, ``k not in D`` → True; ``X is not None``, ``X``, ``k in D`` → False."""
    import libcst as cst

    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        found = _subject(test.expression)
        return None if found is None else (found[0], not found[1])
    if isinstance(test, cst.Name):
        return test.value, False
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        op, left, right = target.operator, test.left, target.comparator
        if isinstance(op, (cst.In, cst.NotIn)) and isinstance(right, cst.Name):
            return right.value, isinstance(op, cst.NotIn)
        if isinstance(left, cst.Name) and left.value == "None":
            left, right = right, left
        if isinstance(left, cst.Name) and isinstance(right, cst.Name) and right.value == "None":
            if isinstance(op, (cst.Is, cst.Equal)):
                return left.value, True
            if isinstance(op, (cst.IsNot, cst.NotEqual)):
                return left.value, False
    return None


def _tests_membership(test: cst.BaseExpression) -> bool:
    """``k in D`` / ``k not in D``."""
    import libcst as cst

    return isinstance(test, cst.Comparison) and isinstance(test.comparisons[0].operator, (cst.In, cst.NotIn))


def _global_names(function: cst.FunctionDef) -> set[str]:
    """The names a ``global`` statement in ``function``'s own body declares."""
    import libcst as cst

    names: set[str] = set()
    for stmt in function.body.body if isinstance(function.body, cst.IndentedBlock) else ():
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Global):
                    names.update(item.name.value for item in small.names)
    return names


def _dict_read(stmt: cst.BaseStatement, name: str) -> str | None:
    """``D`` when ``stmt`` is ``name = D.get(...)`` or ``name = D[...]``."""
    import libcst as cst

    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Assign):
        return None
    assign = stmt.body[0]
    if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name) or assign.targets[0].target.value != name:
        return None
    value = assign.value
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "get":
        value = value.func.value
    elif isinstance(value, cst.Subscript):
        value = value.value
    else:
        return None
    return value.value if isinstance(value, cst.Name) else None


def _without_comment(body: cst.BaseSuite) -> cst.BaseSuite:
    """``body`` without the comment on its ``if`` line (the copy under the lock does not repeat it)."""
    import libcst as cst

    if isinstance(body, cst.IndentedBlock):
        return body.with_changes(header=cst.TrailingWhitespace())
    if isinstance(body, cst.SimpleStatementSuite):
        return body.with_changes(trailing_whitespace=cst.TrailingWhitespace())
    return body


def _header(body: cst.BaseSuite) -> cst.TrailingWhitespace:
    """The end of the ``if`` line (its comment included)."""
    import libcst as cst

    if isinstance(body, cst.IndentedBlock):
        return body.header
    if isinstance(body, cst.SimpleStatementSuite):
        return body.trailing_whitespace
    return cst.TrailingWhitespace()


def _last(block: cst.IndentedBlock) -> cst.CSTNode:
    import libcst as cst

    last = block.body[-1]
    return last.body[-1] if isinstance(last, cst.SimpleStatementLine) else last


def _calls(stmts: list[cst.BaseStatement], name: str) -> bool:
    """Whether ``stmts`` call ``name(...)`` (a getter calling itself)."""
    import libcst as cst
    import libcst.matchers as m

    return any(m.findall(cst.Module(body=stmts), m.Call(func=m.Name(name))))  # type: ignore[arg-type]


def _yields(stmts: list[cst.BaseStatement]) -> bool:
    import libcst as cst
    import libcst.matchers as m

    return any(m.findall(cst.Module(body=stmts), m.Yield()))  # type: ignore[arg-type]


# Factory functions, by the verb their name starts with (``build_rag_service()``,
# ``_connect_with_retry()``, ``AutoTokenizer.from_pretrained()``).
_FACTORY = re.compile(r"^_*(build|make|create|new|load|init|open|setup|start|connect|spawn|instantiate|from)(_|$)")
# Objects whose identity is the point: two of them split waiters from wakers.
_SYNC_PRIMITIVES = frozenset(("Event", "Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "Queue"))


# Calls that make value objects, by qualified name: two of them are equal and nothing
# leaks when one is thrown away (a pydantic model class, an OpenTelemetry resource).
_VALUE_FACTORIES = frozenset(
    (
        "pydantic.create_model",
        "pydantic.main.create_model",
        "pydantic.TypeAdapter",
        "pydantic.type_adapter.TypeAdapter",
        "opentelemetry.sdk.resources.Resource",
        "collections.namedtuple",
        "dataclasses.make_dataclass",
        "types.SimpleNamespace",
        "typing.NamedTuple",
        "typing.TypedDict",
        "enum.Enum",
    )
)
# Class names of configuration and schema objects (``AppConfig()``, ``Settings()``).
_VALUE_CLASS = re.compile(r"(Config|Configuration|Settings|Options|Schema)$")
# Base classes whose instances are values (a pydantic model, a named tuple).
_VALUE_BASES = frozenset(("BaseModel", "BaseSettings", "NamedTuple", "TypedDict"))


def _is_field(value: ast.expr) -> bool:
    """A pydantic/dataclass field declaration (``Field(default=...)``, ``field(...)``)."""
    return isinstance(value, ast.Call) and _short_text(value.func) in ("Field", "field")


def _text_parts(expr: ast.expr) -> list[str]:
    """``ast.unparse(expr).split(".")``, without unparsing a plain dotted name (``a.b.c``)."""
    parts: list[str] = []
    node = expr
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is not ast.Name:
        return ast.unparse(expr).split(".")
    parts.append(node.id)
    parts.reverse()
    return parts


def _short_text(expr: ast.expr) -> str:
    """``ast.unparse(expr).rpartition(".")[2]``: an attribute's name (its text ends in
    ``.attr``), a name, or the text of anything else after its last dot."""
    kind = type(expr)
    if kind is ast.Attribute:
        return expr.attr  # type: ignore[attr-defined, no-any-return]
    if kind is ast.Name:
        return expr.id  # type: ignore[attr-defined, no-any-return]
    return ast.unparse(expr).rpartition(".")[2]


def _called_at_import(stmt: ast.stmt) -> set[str]:
    """The functions a module-level statement calls while the module is imported (``get_x``,
    ``Registry.get``), outside nested definitions and the ``if __name__ == "__main__":`` block."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return set()
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return set()  # calls nothing
    if isinstance(stmt, ast.If) and "__name__" in ast.unparse(stmt.test):
        return set()
    found: set[str] = set()
    todo: list[ast.AST] = [stmt]
    pop, extend, call, name, attribute = todo.pop, todo.extend, ast.Call, ast.Name, ast.Attribute
    while todo:
        node = pop()
        kind = type(node)
        if kind in _SCOPES:
            continue
        if kind is call:
            func = node.func  # type: ignore[attr-defined]
            if type(func) is name:
                found.add(func.id)
            elif type(func) is attribute and type(func.value) is name:
                found.add(f"{func.value.id}.{func.attr}")
        extend(children(node))
    return found


_SCOPES = frozenset((ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))


def _after(function: ast.AST, stmt: ast.stmt) -> list[ast.stmt]:
    """The statements that follow ``stmt`` in its block of ``function``."""
    for node in ast.walk(function):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and stmt in block:
                return block[block.index(stmt) + 1 :]
    return []


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _thread_path(graph: Graph, function: str, chain: list[Edge]) -> str:
    """How ``function`` comes to run in a thread, in words."""
    entry = chain[0].source if chain else function
    handoff = next((e for e in chain if e.kind == "thread"), None)
    if handoff is not None:
        via = f" ({handoff.via})" if handoff.via else ""
        how = f"`{graph.display(handoff.source)}` hands `{graph.display(handoff.target)}` to a thread{via}"
    elif graph.functions[entry].facts.get("route"):
        how = f"`{graph.display(entry)}` is a sync endpoint, which FastAPI runs in its threadpool"
    else:
        how = f"`{graph.display(entry)}` runs in a worker thread (a sync dependency or a thread's target)"
    if chain:
        steps = " → ".join([graph.display(chain[0].source), *(graph.display(e.target) for e in chain)])
        how += f"; the path: {steps} ({graph.path_of(entry)}:{graph.functions[entry].line})"
    return how
