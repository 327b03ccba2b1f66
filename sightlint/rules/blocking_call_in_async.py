from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from sightlint.models import Finding, RelatedLocation, Span
from sightlint.project.blocking import CATEGORY_LABEL, ENTRIES, BlockingSite, CatalogOptions, analyse
from sightlint.project.contexts import BACKGROUND, REQUEST, SCRIPT, STARTUP, TEST, THREAD, UNKNOWN, RunsIn, where_code_runs
from sightlint.project.graph import Graph, ModelNeeds
from sightlint.project.model import Edge, is_test_path
from sightlint.rules.base import Bad, Fix, FixSafety, Good, NoFix, PlannedFix, Rule, RuleMeta, Severity, SiteEdit
from sightlint.semantics.bindings import BindingKind, ScopeKind
from sightlint.settings import Settings

if TYPE_CHECKING:
    import libcst as cst

_MAX_OTHER_CHAINS = 10

# UNKNOWN: an async function that no entry point sightlint knows reaches (a route registered
# in a way it does not read, library code): it runs on some event loop, in an unknown context.
_THREADS = frozenset({THREAD})
_BY_SEVERITY = (REQUEST, BACKGROUND, UNKNOWN, STARTUP, SCRIPT, TEST)  # worst first
_RANK = {context: rank for rank, context in enumerate(_BY_SEVERITY)}
_SERVING = frozenset((REQUEST, STARTUP, UNKNOWN))  # a task started here runs while requests are served
# context -> (severity, severity for file I/O)
_SEVERITY = {
    REQUEST: (Severity.CRITICAL, Severity.HIGH),
    BACKGROUND: (Severity.CRITICAL, Severity.HIGH),
    UNKNOWN: (Severity.HIGH, Severity.MEDIUM),
    STARTUP: (Severity.MEDIUM, Severity.LOW),
    SCRIPT: (Severity.MEDIUM, Severity.LOW),
    TEST: (Severity.LOW, Severity.LOW),
}
_WHERE = {
    REQUEST: "while serving requests",
    BACKGROUND: "in a background task",
    UNKNOWN: "(reached from no known entry point)",
    STARTUP: "at startup",
    SCRIPT: "in a script",
    TEST: "in a test",
}
_ONLY = {STARTUP: "reached only at startup", SCRIPT: "reached only from a script", TEST: "reached only from tests"}


@dataclass(frozen=True)
class BlockingOptions(CatalogOptions):
    """SL101's settings: the catalog's, and where a blocking call counts."""

    contexts: tuple[str, ...] = field(
        default=(REQUEST, BACKGROUND, STARTUP, SCRIPT, UNKNOWN), metadata={"choices": _BY_SEVERITY}
    )
    """Where a blocking call is reported: request (routes, websockets, middleware, async
    dependencies), background (tasks and loop callbacks), startup (lifespan, startup and
    shutdown handlers), script (`asyncio.run` under `__main__`, CLI commands), unknown (an
    async function no known entry point reaches) and test (pytest tests and fixtures)."""


class BlockingCallInAsync(Rule):
    """
    ## What it flags
    A blocking call that runs on the event loop: written directly inside an `async def`,
    or reached from one through any chain of ordinary (sync) function calls, constructors
    (`Service()` runs `Service.__init__`), `self.` methods, decorated functions,
    callbacks handed to a helper that calls them and callbacks scheduled on the loop
    (`loop.call_soon`, `call_later`), across modules. The finding sits at the blocking
    call; its message names the call, its category and the worst place it runs, and the
    lines under it (related locations in SARIF; `--show-chains` hop by hop) give the
    chain from that entry point, then the other async functions that reach the call (ten
    at most, and how many more).

    How severe it is depends on where the code runs:

    | Reached from | Severity | File I/O |
    |---|---|---|
    | a request: route handler, websocket, middleware, async dependency | critical | high |
    | a background task or loop callback (`create_task`, `call_soon`; one started at startup too) | critical | high |
    | an async function no known entry point reaches | high | medium |
    | only the lifespan / startup and shutdown handlers, or a script | medium | low |
    | only tests (when `test` is in `contexts`) | low | low |
    | only threads (`to_thread`, sync endpoints, ...) | not reported | |

    The worst context wins: a helper that a route and the lifespan both call is critical,
    and the message says "reached only at startup" only when nothing else reaches it.
    An async function no entry point sightlint knows reaches (a route registered in a way
    it does not read, library code) surely runs on some event loop, but not provably
    while serving: it is reported as high, between the two; one in a test file or under a
    `tests` or `e2e` folder counts as test code, while production code that only tests are seen to
    reach counts as reached from no known entry point. A call written with `await`
    is never a sync blocking call, whatever its receiver is annotated as
    (`await session.execute(q)` on a `session: Session` that really is an `AsyncSession`).
    A branch that runs only when a flag parameter is on (`if sync:` or after `if not
    sync: return`, with `sync=False`, `None` or `0` by default) is not reported when no
    caller turns the flag on: every call of the function is a direct call from project
    code that passes no such keyword, no `*`/`**` unpacking and too few positional
    arguments to reach it (the default branch, which offloads to a thread, is the one
    that runs). A route's own flags come from the request, and a function no project
    code calls may be called with the flag on elsewhere: their branches are reported.

    Blocking calls come from a catalog shipped as data (`sightlint/data/blocking_calls.toml`:
    one entry per API with its category, severity, the non-blocking alternative the
    finding suggests, and where its behaviour was read), by category: `sleep`
    (`time.sleep`), `network` (`requests` incl. sessions, sync `httpx`, `urllib`,
    `urllib3`, `http.client`, `socket`, `smtplib`, boto3 clients and resources, Slack
    `WebClient`, Google Cloud Storage), `subprocess` (`subprocess.*`, `os.system`,
    `os.popen`, `os.wait*`), `database` (`psycopg2`, `pymysql`, `sqlite3`, sync
    SQLAlchemy engines, sessions and `inspect`, `neo4j` driver sessions, LangChain
    `Neo4jGraph`/`Neo4jVector` construction and queries, sync `redis`, `pymongo`,
    `elasticsearch`), `llm` (`.invoke`/`.batch`/`.stream` on LangChain chat models and
    `|` pipes containing one, sync OpenAI/Anthropic/Gemini/Mistral clients), `cpu`
    (`bcrypt`, passlib and argon2 hashing, `pbkdf2_hmac`/`scrypt`, sentence-transformers,
    `pypdf`, Pillow decoding and encoding, `python-pptx`/`python-docx`/`openpyxl`,
    pandas `read_*`, MarkItDown) and `file` (`open`, `Path.read_*`/`write_*`, `shutil`,
    `tempfile`; one level below the others, as in the table).

    A catalogued method called on an instance of an installed class the catalog does not
    list (`OAuth2Session().get`, `ChatMistralAI().invoke`) counts when that class derives
    from a catalogued one (`requests.Session`, LangChain's `BaseChatModel`). Its bases are
    read from the package's source in the environment sightlint runs in (parsed, following
    imports and re-exports; never imported), and the answers kept in the cache folder
    until a package is installed or upgraded. Installed where the project's packages are
    not (as in pre-commit's own environment), sightlint knows the catalogued names only.

    A call the catalog does not list at all (`tavily.TavilyClient().search`,
    `letta_client.Letta().agents.create`) is derived from the installed library's source
    (`derive`, on by default): it counts when the library's own code reaches a catalogued
    call of the sleep, network, subprocess, database or LLM categories, through module
    functions, re-exports, constructors, `self.` methods (looked up from the instance's
    class through its ancestors), `super()`, attributes typed in `__init__`, by class
    annotations or properties, and bound methods kept in attributes, at most 12 calls
    deep. Precision first: calls in `except` handlers, `raise` statements and branches
    chosen by the function's arguments (`if path is not None:` a local database, else a
    remote one) are not followed; a sleep counts only on a path with no condition (a
    retry's back-off is not the request); `async def`s, generators, dynamic dispatch,
    compiled modules and the standard library beyond its catalogued calls are not read.
    The finding's message names the chain and the distribution read ("`tavily.TavilyClient.search`
    blocks: it reaches `requests.sessions.Session().post` through
    `tavily.tavily.TavilyClient._search` (derived from tavily_python 0.8.5 source)"),
    and its severity is that of the catalogued call reached. Only calls in code that may
    run on the event loop are asked about; the answers are kept per environment in the
    user's cache folder next to the cache key, sealed with it (`--no-cache` keeps none).

    Work handed to a thread is not on the loop and is not flagged: `asyncio.to_thread`,
    `loop.run_in_executor`, `run_in_threadpool`, `anyio.to_thread.run_sync`,
    `threading.Thread(target=...)`, executor `submit` and `BackgroundTasks.add_task` of
    a plain function (Starlette runs it in its threadpool). So is a generator made on
    the loop only to be iterated in a thread (`await asyncio.to_thread(list, rows())`,
    `it = rows()` then `await asyncio.to_thread(next, it, done)`): a generator
    function's body runs where the generator is iterated, not where it is called; one
    also iterated on the loop (`for row in it`) is flagged. Sync FastAPI endpoints and
    dependencies run in a threadpool, so they are not where a chain starts, and neither
    is an `async def` view of a Flask app (Flask runs it on an event loop of its own per
    request, through asgiref: flask 3.1 `flask/app.py` `Flask.ensure_sync`). A call whose
    target cannot be resolved (a parameter, a dynamic attribute) never produces a finding.

    The chain follows what the project's call graph follows: calls through imports and
    re-exports; a method called on a receiver typed as a base class, ABC or `Protocol`
    (annotation, `Optional`/union, `Annotated[T, Depends(f)]`, `Depends(f)`'s return or
    yield, `__init__` attributes, class-level annotations, factories) reaching every
    project override, and `self.step()` reaching the overrides of subclasses that inherit
    the calling method; generic bases (`Repo[User]`); the wrapper a project decorator
    returns (a `@retry` that sleeps); `with`/`async with` on a `@contextmanager` factory
    or a class with `__enter__`; `for` loops over project iterables; callables kept in
    dicts and lists (at a constant key: the value there); callbacks passed through several
    helpers; `map`/`sorted(key=)`; external methods inherited by a project subclass
    (`class Client(requests.Session)`); an unannotated parameter holding what the calls
    written in its own module pass (`_send(requests.Session())` to a module's helper
    `def _send(session)`), followed two calls deep.

    ## Why it matters
    One event loop serves every request of the worker. While a blocking call runs,
    nothing else does: every in-flight request stalls, health checks time out and the
    platform restarts "hung" instances. A retry helper that sleeps 1 s, 1.5 s, ... up to
    10 s freezes the whole service for the duration of an outage of one dependency.
    Before the app serves (lifespan, startup handlers) or in a one-off script, the same
    call only delays start-up or the script; in a test it only slows the suite down.

    ## Fix
    `time.sleep` becomes `await asyncio.sleep`, with `async` and `await` propagated up the
    call chain across files where every caller can follow; any other blocking call, and a
    chain that cannot become async, runs in a thread: `await asyncio.to_thread(f, ...)` at
    the async boundary. Every fix is **unsafe** (`--unsafe-fixes`): the coroutine now yields
    to the event loop where it used to block, so other tasks run meanwhile (the point, but
    code that relied on nothing else running during the call changes behaviour), and work
    moved to a thread runs concurrently with the loop.

    - `time.sleep(...)` directly in an `async def` (also `from time import sleep`, aliases)
      becomes `await asyncio.sleep(...)`, adding `import asyncio` in the standard-library
      import group when the module lacks it.
    - `time.sleep` in a sync helper reached from async code: the helper becomes
      `async def` with `await asyncio.sleep(...)`, and `async`/`await` are propagated up
      every chain to the async code, across files (`_backoff(attempt)` becomes
      `await _backoff(attempt)` in a caller made `async def`, `ok = await check_with_retry(...)`
      in the route). This is a project fix: planned on the call graph, every edited file is
      computed and parsed before any is written, and all are written or none.
    - Where propagation meets a function that cannot become async, it stops: a special
      method (`__init__`: the audit's `_connect_with_retry` is called from service
      constructors), a property, a lambda, module-level code, a generator, a function with
      any decorator but `staticmethod`/`classmethod` (`lru_cache` would cache coroutines; a
      sync route handler runs in Starlette's threadpool), a method another class also
      defines (an override), a function also called from sync code, called by nothing in
      the project or exported in `__all__` (code outside the project may call it), one passed as a
      value (`Depends(f)`, a callback, `threading.Thread(target=f)`) or named in a string
      (`getattr`), and calls the model cannot resolve that may reach it. Then the chain
      stays sync and each async function's call into it becomes
      `await asyncio.to_thread(helper, ...)` (`Indexer()` becomes
      `await asyncio.to_thread(Indexer)`, `obj.m(a, k=v)` becomes
      `await asyncio.to_thread(obj.m, a, k=v)`; `*args`, `**kwargs` and keywords kept;
      `(await ...)` where the value is used as a receiver). A function of that chain that
      sets a global (a lazy singleton) is named in `--show-fixes`: run in threads, it now
      needs a lock (see SL501).
    - Any other blocking call: `await asyncio.to_thread(...)` at the async boundary (the call
      itself when it is written in the `async def`; with the methods called at once on its
      result, `inspect(engine).get_schema_names()`, the whole expression:
      `await asyncio.to_thread(lambda: inspect(engine).get_schema_names())`), or the async twin where it is a true
      drop-in: LangChain's `invoke`/`batch`/`embed_query`/`embed_documents` become
      `await ....ainvoke(...)`/`abatch`/`aembed_query`/`aembed_documents` (same arguments,
      same result: langchain-core 0.3 `Runnable.ainvoke`, `Embeddings.aembed_query`).
      Other catalogue alternatives (`httpx.AsyncClient`, async drivers) are different APIs
      and are only named in the finding.

    No fix, with the reason in `sightlint fix --show-fixes`, where `await` cannot go (a
    lambda, a generator expression, a class body, a def's header), where an argument
    awaits, yields or assigns (`f(await g())`: the evaluation order would change), for a
    context manager (`with open(p) as f:`: its block would still block; move the block into
    a function run with `asyncio.to_thread`), a generator function (its body runs as the
    loop iterates it), a callback scheduled on the loop (`call_soon`), a chain that changes
    module-level state (`app.token = ...`, `CACHE[key] = ...`: threads would interleave
    what the loop ran in one piece), a chain that more
    than 12 async call sites reach (wrapping each is no reviewable change: fix the helper),
    and where `asyncio` means something else. `sightlint fix FILES` applies a fix that also edits files not
    named only with `--cross-file` (or when they are named too); otherwise it lists them.
    Tests that patch a helper made async with a plain `Mock` need an `AsyncMock`; an import
    of `sleep` that becomes unused is left for your linter.

    ## Options
    Turn catalog categories off (for example `categories = ["sleep", "network"]`), add
    your own blocking calls by their dotted name after imports, or choose where a call
    counts: `contexts = ["request", "background"]` reports only what blocks while
    serving; adding `"test"` reports blocking calls in async tests too (as low). An
    unknown category or context stops the run and lists the valid ones.

    ## See also
    - https://docs.python.org/3/library/asyncio-dev.html#running-blocking-code
    - https://fastapi.tiangolo.com/async/
    """

    meta = RuleMeta(
        code="SL101",
        name="blocking-call-in-async",
        severity=Severity.CRITICAL,
        summary="Blocking call executed on the event loop.",
        audit="§1",
        fix=FixSafety.UNSAFE,
        fix_title="Await `asyncio.sleep(...)` instead",
        tags=("async",),
    )
    cross_file = True
    # Component-local: blocking sites, sync-caller chains and where code runs all follow
    # call edges and entries, which only join modules of one component.
    project_scope = "component"

    Options = BlockingOptions

    bad = (
        Bad(
            "import time\n"
            "\n"
            "def _connect_with_retry(factory, retries=3):\n"
            "    for attempt in range(retries):\n"
            "        try:\n"
            "            return factory()\n"
            "        except ConnectionError:\n"
            "            time.sleep(2 ** attempt)\n"
            "\n"
            "async def startup_probe():\n"
            "    return _connect_with_retry(lambda: True)\n",
            in_docs=True,
        ),
        Bad(
            "import time\n\nasync def handler():\n    time.sleep(1)\n",
            fixed="import asyncio\nimport time\n\nasync def handler():\n    await asyncio.sleep(1)\n",
        ),
        Bad(
            "import asyncio\nfrom time import sleep as pause\n\nasync def poll(job):\n    while not job.done():\n        pause(0.5)\n",
            fixed="import asyncio\nfrom time import sleep as pause\n\nasync def poll(job):\n    while not job.done():\n        await asyncio.sleep(0.5)\n",
        ),
        Bad(
            "# file: app/services/retry.py\n"
            "import time\n"
            "\n"
            "def connect_with_retry(factory):\n"
            "    for attempt in range(3):\n"
            "        try:\n"
            "            return factory()\n"
            "        except ConnectionError:\n"
            "            time.sleep(2 ** attempt)\n"
            "# file: app/main.py\n"
            "from app.services.retry import connect_with_retry\n"
            "\n"
            "async def startup_probe():\n"
            "    return connect_with_retry(lambda: True)\n"
        ),
        Bad("import requests\n\nasync def fetch(url):\n    return requests.get(url).json()\n"),
        # The same flag, turned on by a caller: its branch runs on the loop.
        Bad(
            "import asyncio\nimport requests\n\nasync def fetch(url, sync=False):\n    if sync:\n"
            "        return requests.get(url).text\n    return await asyncio.to_thread(lambda: requests.get(url).text)\n\n"
            "async def refresh(url):\n    return await fetch(url, sync=True)\n"
        ),
        Bad(
            "from time import sleep as pause\n"
            "\n"
            "def backoff():\n"
            "    pause(1)\n"
            "\n"
            "def retry():\n"
            "    backoff()\n"
            "\n"
            "async def handler():\n"
            "    retry()\n"
        ),
        Bad(
            "import httpx\n"
            "\n"
            "class Api:\n"
            "    def __init__(self):\n"
            "        self.client = httpx.Client()\n"
            "\n"
            "    def user(self, uid):\n"
            "        return self.client.get(f'/users/{uid}')\n"
            "\n"
            "async def handler(uid):\n"
            "    return Api().user(uid)\n"
        ),
        Bad(
            "from langchain_neo4j import Neo4jVector\n"
            "\n"
            "class Search:\n"
            "    def __init__(self):\n"
            "        self.store = Neo4jVector(url='bolt://db')\n"
            "\n"
            "async def search(q):\n"
            "    return Search()\n"
        ),
        Bad(
            "import subprocess\n"
            "\n"
            "async def render(path):\n"
            "    def convert():\n"
            "        subprocess.run(['convert', path])\n"
            "    convert()\n"
        ),
        Bad(
            "import bcrypt\n"
            "\n"
            "def hash_password(pw: str) -> bytes:\n"
            "    return bcrypt.hashpw(pw.encode(), bcrypt.gensalt())\n"
            "\n"
            "async def register(pw):\n"
            "    return hash_password(pw)\n",
            count=2,
        ),
        Bad(
            "from langchain_openai import ChatOpenAI\n"
            "from langchain_core.prompts import ChatPromptTemplate\n"
            "\n"
            "llm = ChatOpenAI(model='gpt-4o')\n"
            "chain = ChatPromptTemplate.from_template('{q}') | llm\n"
            "\n"
            "async def answer(q):\n"
            "    return chain.invoke({'q': q})\n"
        ),
        Bad(
            "from neo4j import GraphDatabase\n"
            "\n"
            "def retry(factory):\n"
            "    return factory()\n"
            "\n"
            "async def probe(uri):\n"
            "    def check():\n"
            "        driver = GraphDatabase.driver(uri)\n"
            "        driver.verify_connectivity()\n"
            "    return retry(check)\n"
        ),
        Bad(
            "import functools, time\n"
            "\n"
            "def logged(fn):\n"
            "    @functools.wraps(fn)\n"
            "    def wrapper(*a, **k):\n"
            "        return fn(*a, **k)\n"
            "    return wrapper\n"
            "\n"
            "@logged\n"
            "def wait():\n"
            "    time.sleep(1)\n"
            "\n"
            "async def handler():\n"
            "    wait()\n"
        ),
        Bad(
            "import time\n"
            "\n"
            "class Base:\n"
            "    def connect(self):\n"
            "        time.sleep(1)\n"
            "\n"
            "class Child(Base):\n"
            "    def connect(self):\n"
            "        super().connect()\n"
            "\n"
            "    async def start(self):\n"
            "        self.connect()\n"
        ),
        Bad("async def load(path):\n    with open(path) as f:\n        return f.read()\n"),
        Bad(
            "import asyncio, time\n"
            "\n"
            "def flush():\n"
            "    time.sleep(1)\n"
            "\n"
            "async def handler():\n"
            "    asyncio.get_running_loop().call_soon(flush)\n"
        ),
        # Reached only from the lifespan: medium, "reached only at startup".
        Bad(
            """\
import time
from contextlib import asynccontextmanager
from fastapi import FastAPI

def wait_for_db():
    time.sleep(2)

@asynccontextmanager
async def lifespan(app):
    wait_for_db()
    yield

app = FastAPI(lifespan=lifespan)
"""
        ),
    )

    good = (
        Good(
            "import asyncio, time\n"
            "\n"
            "def _connect_with_retry(factory):\n"
            "    time.sleep(1)\n"
            "    return factory()\n"
            "\n"
            "async def startup_probe():\n"
            "    return await asyncio.to_thread(_connect_with_retry, lambda: True)\n",
            in_docs=True,
        ),
        Good("import asyncio\n\nasync def handler():\n    await asyncio.sleep(1)\n"),
        Good(
            "# file: app/services/retry.py\n"
            "import time\n"
            "\n"
            "def connect_with_retry(factory):\n"
            "    time.sleep(1)\n"
            "    return factory()\n"
            "# file: app/main.py\n"
            "import asyncio\n"
            "from app.services.retry import connect_with_retry\n"
            "\n"
            "async def startup_probe():\n"
            "    return await asyncio.to_thread(connect_with_retry, lambda: True)\n"
        ),
        Good("from asyncio import sleep\n\nasync def handler():\n    await sleep(1)\n"),
        Good(
            "import time\n"
            "\n"
            "def a():\n"
            "    time.sleep(1)\n"
            "\n"
            "def b():\n"
            "    a()\n"
        ),
        Good(
            "import asyncio, subprocess\n"
            "\n"
            "async def render(path):\n"
            "    def convert():\n"
            "        subprocess.run(['convert', path])\n"
            "    await asyncio.to_thread(convert)\n"
        ),
        Good(
            "import asyncio, time\n"
            "\n"
            "async def handler():\n"
            "    loop = asyncio.get_running_loop()\n"
            "    await loop.run_in_executor(None, lambda: time.sleep(1))\n"
        ),
        Good(
            "import requests\n"
            "from fastapi import APIRouter\n"
            "\n"
            "router = APIRouter()\n"
            "\n"
            "@router.get('/sync')\n"
            "def sync_endpoint():\n"
            "    return requests.get('https://example.com').json()\n"
        ),
        Good(
            "import time\n"
            "from fastapi import BackgroundTasks\n"
            "\n"
            "def slow_job():\n"
            "    time.sleep(5)\n"
            "\n"
            "async def endpoint(tasks: BackgroundTasks):\n"
            "    tasks.add_task(slow_job)\n"
        ),
        Good(
            "import threading, time\n"
            "\n"
            "def poll():\n"
            "    time.sleep(1)\n"
            "\n"
            "async def start():\n"
            "    threading.Thread(target=poll, daemon=True).start()\n"
        ),
        Good("async def fetch(client, url):\n    return client.get(url)\n"),
        Good("async def answer(chain, q):\n    return chain.invoke({'q': q})\n"),
        Good(
            "import time\n"
            "from starlette.concurrency import run_in_threadpool\n"
            "\n"
            "def wait():\n"
            "    time.sleep(1)\n"
            "\n"
            "async def handler():\n"
            "    await run_in_threadpool(wait)\n"
        ),
        Good("import time\n\nasync def handler():\n    return time.time()\n"),
        # Only tests reach it: not reported unless `contexts` has "test".
        Good(
            """\
import time

async def test_list_is_ordered():
    time.sleep(0.01)
""",
            path="tests/test_agents.py",
        ),
        # Only a thread reaches the async function: not this loop's problem.
        Good(
            """\
import asyncio, time
from fastapi import FastAPI

app = FastAPI()

async def poll():
    time.sleep(1)

def worker():
    asyncio.run(poll())

@app.get("/start")
def start():
    worker()
"""
        ),
        # A blocking branch behind a flag no caller turns on: the default offloads.
        Good(
            """\
import asyncio
import time

from fastapi import FastAPI

app = FastAPI()

def _read(path):
    with open(path) as f:
        return f.read()

async def load(path, sync=False):
    if sync:
        time.sleep(0.1)
        return path
    return await asyncio.to_thread(_read, path)

@app.get("/files/{path}")
async def get_file(path: str):
    return await load(path)
"""
        ),
        # Awaited: an awaitable, even if `session` is annotated as a sync `Session`.
        Good(
            """\
from sqlalchemy.orm import Session

async def count(session: Session):
    return await session.execute("select count(*) from jobs")
"""
        ),
    )

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        catalog = cls.options_for(settings).catalog()
        return ModelNeeds(externals=catalog.worth_keeping, facts=frozenset({"work"}))

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        options = cls.options_for(settings)
        blocking = analyse(model, options.catalog())
        runs = where_code_runs(model)
        wanted = frozenset(options.contexts)
        findings: list[Finding] = []
        for fid, sites in blocking.sites.items():
            if model.functions[fid].is_async:
                towards: dict[str, Edge | None] = {fid: None}
                roots = [fid]
            else:
                towards = model.sync_callers_bfs(fid)
                roots = [node for node in towards if node != fid and model.functions[node].is_async]
            chains = sorted(
                (chain for root in roots if (chain := _worst_chain(model, runs, towards, root, wanted)) is not None),
                key=lambda chain: (_RANK[chain.context], len(chain.edges)),
            )
            if not chains:
                continue  # reached only from threads, or from contexts not configured
            paths = tuple({model.path_of(edge.source) for chain in chains for edge in chain.edges})
            off = _flags_off(model, fid)
            for site in sites:
                if any(first <= site.call.site.line <= last for first, last in off):
                    continue  # behind a flag no caller turns on
                findings.append(cls._finding(model, site, chains, paths))
        return findings

    @classmethod
    def _finding(cls, model: Graph, site: BlockingSite, chains: list[Chain], paths: tuple[str, ...]) -> Finding:
        """The finding at ``site``: its headline names the worst context of ``chains``
        (worst first), the detail lists the chains (capped), ``related`` the worst one."""
        call = site.call.site
        worst = chains[0]
        contexts = {chain.context for chain in chains}
        if contexts == {worst.context} and worst.context in _ONLY:
            where = f", {_ONLY[worst.context]}"
        else:
            where = f" {_WHERE[worst.context]}"
        what = f"`{call.text}` ({CATEGORY_LABEL[site.category]}) blocks the event loop"
        if model.functions[site.function].is_async:
            what += f" inside `async def {model.display(site.function)}`"
            if worst.context != UNKNOWN and where[0] != ",":
                what += ","
        lines = []
        derived = site.derived
        if worst.edges:
            lines.append(f"chain: {_chain_text(model, worst.edges, site)}")
        if derived is not None:
            lines.append(f"in the library: {' -> '.join([*derived.chain, derived.primitive])}")
            lines.append("instead: the library's async client, awaited, if it has one; else `await asyncio.to_thread(...)`")
        entry = ENTRIES.get(site.call.name)
        if entry is not None and entry.alternative:
            lines.append(f"instead: {entry.alternative}")
        others = chains[1 : 1 + _MAX_OTHER_CHAINS]
        if others:
            lines.append(f"also reached from {len(chains) - 1} more async function{'s' if len(chains) > 2 else ''}:")
            lines.extend(f"- [{chain.context}] {_chain_text(model, chain.edges, site)}" for chain in others)
            if len(chains) > 1 + _MAX_OTHER_CHAINS:
                lines.append(f"- ... and {len(chains) - 1 - _MAX_OTHER_CHAINS} more")
        severities = _SEVERITY[worst.context]
        finding = cls.project_finding(
            model.path_of(site.function),
            Span(call.line, call.col, call.end_line, call.end_col),
            f"{what}{where}." + (f" {derived.explain(site.call.name)}." if derived is not None else ""),
            severity=severities[1] if _lower(site) else severities[0],
            related=(*(model.hop(edge) for edge in worst.edges), _hop_to_site(model, site)),
            detail="\n".join(lines) or None,
            chain_paths=paths,
            fix_safety=FixSafety.UNSAFE,
        )
        return replace(finding, fix_title=_fix_title(model, site))

    # -- fix -------------------------------------------------------------------------

    fix_node = "Call"
    project_fixes = True

    @classmethod
    def takes_project_fix(cls, finding: Finding) -> bool:
        return finding.fix_title != _LOCAL_TITLE

    @classmethod
    def plan_fixes(
        cls, graph: Graph, findings: Sequence[Finding], sources: Mapping[str, str], settings: Settings
    ) -> list[PlannedFix | NoFix]:
        planner = _Planner(graph, sources, cls.options_for(settings))
        return [planner.plan(finding) for finding in findings]

    def edit(self, node: cst.CSTNode, edit: SiteEdit) -> Fix | None:
        """One edit of a planned fix: ``async-def``, ``await``, ``sleep``, ``to-thread``, ``async-method``."""
        import libcst as cst

        if edit.action == "async-def":
            if not isinstance(node, cst.FunctionDef) or node.asynchronous is not None:
                return None
            return Fix(replacement=lambda n: n.with_changes(asynchronous=cst.Asynchronous()))
        if not isinstance(node, cst.Call):
            return None
        paren = bool(edit.data and edit.data[-1] is True)
        if edit.action == "await":
            return Fix(replacement=lambda n: _awaited(n, paren) if isinstance(n, cst.Call) else None)
        imports = _asyncio_imports(self.context, edit.line, edit.col)
        if imports is None:
            return None
        if edit.action == "sleep":
            func = node.func
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.attr.value == "sleep":
                wanted, name = "time", func.value.value
            elif isinstance(func, cst.Name):
                wanted, name = "time.sleep", func.value
            else:
                return None
            binding = self.context.binding_at(name, edit.line, edit.col)
            if binding.kind is not BindingKind.IMPORT or binding.qualified != wanted or any(a.keyword or a.star for a in node.args):
                return None
            sleep = cst.Attribute(value=cst.Name("asyncio"), attr=cst.Name("sleep"))
            return Fix(replacement=lambda n: _awaited(n.with_changes(func=sleep), paren), imports=imports)
        if edit.action == "to-thread":
            return Fix(replacement=lambda n: _to_thread(n, paren), imports=imports)
        if edit.action == "to-thread-lambda":
            return Fix(replacement=lambda n: _to_thread_lambda(n, paren), imports=imports)
        if edit.action == "async-method" and isinstance(node.func, cst.Attribute):
            twin = cst.Name(str(edit.data[0]))
            return Fix(replacement=lambda n: _awaited(n.with_changes(func=n.func.with_changes(attr=twin)), paren))
        return None

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """``time.sleep(x)`` directly in an ``async def`` -> ``await asyncio.sleep(x)``."""
        import libcst as cst

        if not isinstance(node, cst.Call) or any(arg.keyword is not None or arg.star for arg in node.args):
            return None
        context = self.context
        line, col = finding.span.line, finding.span.col
        scope = context.scope_at(line, col)
        if scope.kind is not ScopeKind.FUNCTION or not isinstance(scope.node, ast.AsyncFunctionDef):
            return None
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.attr.value == "sleep":
            wanted, name = "time", func.value.value
        elif isinstance(func, cst.Name):
            wanted, name = "time.sleep", func.value
        else:
            return None
        binding = context.binding_at(name, line, col)
        if binding.kind is not BindingKind.IMPORT or binding.qualified != wanted:
            return None
        if not _awaitable_here(scope.node, line, context, col):
            return None
        found = context.binding_at("asyncio", line, col)
        imports: tuple[tuple[str, str | None], ...] = ()
        if found.kind is BindingKind.UNBOUND:
            imports = (("asyncio", None),)
        elif not (found.kind is BindingKind.IMPORT and found.qualified == "asyncio" and found.at_module_level):
            return None
        call = node.with_changes(func=cst.Attribute(value=cst.Name("asyncio"), attr=cst.Name("sleep")))
        return Fix(replacement=cst.Await(expression=call), imports=imports)


def _sleeps_in_async(model: Graph, site: BlockingSite) -> bool:
    return site.call.name == "time.sleep" and model.functions[site.function].is_async


def _awaitable_here(function: ast.AsyncFunctionDef, line: int, context: Any, col: int) -> bool:
    """True if the call at ``line:col`` is in ``function``'s own code where ``await`` means
    the same (not in a generator expression) and an ``await`` in front of it applies to
    the call only (its value is not used as a receiver: ``time.sleep(1).x``)."""
    todo: list[tuple[ast.AST, ast.AST | None]] = [(function, None)]
    while todo:
        node, parent = todo.pop()
        if isinstance(node, ast.Call) and node.lineno == line and context.char_col(node.lineno, node.col_offset) == col:
            if isinstance(parent, (ast.Attribute, ast.Subscript)) or (isinstance(parent, ast.Call) and parent.func is node):
                return False
            return True
        if node is not function and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.GeneratorExp)):
            continue
        for child in ast.iter_child_nodes(node):
            todo.append((child, node))
    return False


def _lower(site: BlockingSite) -> bool:
    """Whether the catalogue reports ``site`` one level below its context's severity."""
    name = site.derived.primitive if site.derived is not None else site.call.name
    entry = ENTRIES.get(name)
    return entry.severity == "lower" if entry is not None else site.category == "file"


class Chain(NamedTuple):
    """How a blocking site is reached: the edges from an entry point of ``context`` (or
    from an async function no entry point reaches, for :data:`UNKNOWN`) to its function."""

    context: str
    edges: list[Edge]


def _flags_off(model: Graph, fid: str) -> list[tuple[int, int]]:
    """The line ranges of ``fid`` that run only when a flag parameter is on (``if sync:``,
    the parameter defaulting to ``False``/``None``/``0``) that no caller turns on: every
    call of ``fid`` is a direct call from a project function that passes no keyword of
    that name, no ``*``/``**`` unpacking and too few positional arguments to reach it. An
    entry point (a route's parameters come from the request), a function with no known
    caller (library code) or one reached through a callback keeps its branches."""
    rows = model.functions[fid].facts.get("work") or ()
    guards = [row for row in rows if row[0] == "fg"]
    if not guards or fid in model.entries:
        return []
    callers = model.callers.get(fid, ())
    if not callers:
        return []
    name = model.functions[fid].name
    passed: list[tuple[str, ...]] = []
    for edge in callers:
        source = model.functions.get(edge.source)
        if edge.via or edge.kind == "thread" or source is None or source.name == "<module>":
            return []
        passed.append(next((row[1] for row in source.facts.get("work") or () if row[0] == "ps"), ()))
    off: list[tuple[int, int]] = []
    for _, flag, first, last, index in guards:
        if index == 0:
            continue  # the first argument: a one-argument call may set it, and those are not noted
        for items in passed:
            if "*" in items or "**" in items or f"={flag}" in items:
                break
            if index > 0 and any(
                item.partition(":")[0] == name and int(item.partition(":")[2]) > index
                for item in items
                if ":" in item and not item.startswith("=")
            ):
                break
        else:
            off.append((first, last))
    return off


def _worst_chain(
    model: Graph, runs: RunsIn, towards: dict[str, Edge | None], root: str, wanted: frozenset[str]
) -> Chain | None:
    """The chain through the async function ``root`` in its most severe wanted context;
    None when it runs only in threads or in contexts not wanted."""
    # Production code only tests are seen to reach counts as reached from no known entry point.
    contexts = runs.graded(root, is_test_path(model.path_of(root)), ignore=_THREADS)
    for context in _BY_SEVERITY:
        if context in contexts and context in wanted:
            entry = runs.chain(root, context) if context != UNKNOWN else []
            tail = _chain(model, towards, root)
            if context in _SERVING and any(edge.kind == "background" for edge in tail):
                # A loop callback (``call_soon``) on the way: a task of its own that runs
                # while requests are served, whoever scheduled it.
                context = BACKGROUND
            return Chain(context, [*(entry or ()), *tail])
    return None


def _chain(model: Graph, towards: dict[str, Edge | None], root: str) -> list[Edge]:
    """The edges from ``root`` to the BFS start, following ``towards``."""
    edges = []
    edge = towards[root]
    while edge is not None:
        edges.append(edge)
        edge = towards[edge.target]
    return edges


def _where(model: Graph, fid: str) -> str:
    memo: dict[str, str] = model.cache.setdefault("SL101 where", {})  # chains share their functions
    text = memo.get(fid)
    if text is None:
        text = memo[fid] = f"{model.display(fid)} ({model.path_of(fid)}:{model.functions[fid].line})"
    return text


def _chain_text(model: Graph, chain: list[Edge], site: BlockingSite) -> str:
    parts = [_where(model, chain[0].source)] if chain else []
    for edge in chain:
        note = f" [{edge.via}]" if edge.via else ""
        parts.append(f"{_where(model, edge.target)}{note}")
    parts.append(f"{site.call.site.text} ({site.call.site.line})")
    return " → ".join(parts)


def _hop_to_site(model: Graph, site: BlockingSite) -> RelatedLocation:
    call = site.call.site
    return RelatedLocation(
        model.path_of(site.function), call.line, call.col, f"`{model.display(site.function)}` calls `{call.text}`"
    )


# -- the project fix: async up the chain, or a thread at the async boundary ---------------

_LOCAL_TITLE = "Await `asyncio.sleep(...)` instead"
_CHAIN_TITLE = "Make the sync helpers `async` up the chain (`await asyncio.sleep`), or run the chain in a thread"
_THREAD_TITLE = "Run it off the loop with `await asyncio.to_thread(...)` at the async boundary"
# LangChain's async twins: the same arguments and result, awaited (langchain-core 0.3
# ``Runnable.ainvoke``/``abatch``, ``Embeddings.aembed_query``/``aembed_documents``).
_DROP_IN = {"invoke": "ainvoke", "batch": "abatch", "embed_query": "aembed_query", "embed_documents": "aembed_documents"}
_KEPT_DECORATORS = frozenset({"staticmethod", "classmethod"})
# Beyond this many async call sites into a chain, wrapping each in a thread is not a fix a
# reviewer takes (chainlit's `Message.__init__` sleeps: 91 constructions across the code).
_MAX_THREAD_CALLS = 12
_LINE = re.compile(r"\r\n|\r|\n")


def _fix_title(model: Graph, site: BlockingSite) -> str:
    if model.functions[site.function].is_async:
        if site.call.name == "time.sleep":
            return _LOCAL_TITLE
        if site.category == "llm" and site.derived is None and site.call.name.rpartition(".")[2] in _DROP_IN:
            return "Await the async method instead (`ainvoke`, `aembed_query`, ...)"
        return _THREAD_TITLE
    return _CHAIN_TITLE if site.call.name == "time.sleep" else _THREAD_TITLE


class _Module(NamedTuple):
    """One parsed file of the project, for planning."""

    tree: ast.Module
    lines: list[str]
    parents: dict[ast.AST, ast.AST]
    calls: dict[tuple[int, int], list[ast.Call]]  # by start (line, character column)
    defs: dict[tuple[int, int], ast.FunctionDef | ast.AsyncFunctionDef]


class _Planner:
    """Plans SL101's project fixes on the call graph and the project's sources."""

    def __init__(self, model: Graph, sources: Mapping[str, str], options: BlockingOptions) -> None:
        self.model = model
        self.sources = sources
        self.wanted = frozenset(options.contexts)
        self.runs = where_code_runs(model)
        blocking = analyse(model, options.catalog())
        self.sites = {
            (model.path_of(site.function), site.call.site.line, site.call.site.col): site
            for sites in blocking.sites.values()
            for site in sites
        }
        self.modules: dict[str, _Module | None] = {}
        self._edges_at: dict[tuple[str, int, int], list[Edge]] | None = None
        self._frames: dict[str, str | None] = {}
        self._refs: dict[str, str | None] = {}
        self._blocker: dict[str, str] = {}  # function -> the caller that keeps it sync

    # -- per finding ----------------------------------------------------------------

    def plan(self, finding: Finding) -> PlannedFix | NoFix:
        site = self.sites.get((finding.path, finding.line, finding.col))
        if site is None:
            return NoFix(finding, "no fix: the blocking call is not in the project model")
        if self.model.functions[site.function].is_async:
            return self._direct(finding, site)
        why = None
        if site.call.name == "time.sleep":
            chain = self._propagate(finding, site)
            if isinstance(chain, PlannedFix):
                return chain
            why = chain
        return self._boundary(finding, site, why)

    def _direct(self, finding: Finding, site: BlockingSite) -> PlannedFix | NoFix:
        """A blocking call written in the ``async def``: its async twin, or ``to_thread``."""
        path, span = finding.path, finding.span
        call = self._call(path, span.line, span.col, end=(span.end_line, span.end_col))
        if isinstance(call, str):
            return NoFix(finding, f"no fix: {call}")
        why = self._awaitable(path, call, site.function) or self._wrappable(call)
        if self._with_item(path, call):
            why = why or "a context manager (`with ...`): what its block does would stay on the loop; move the block into a function run with `asyncio.to_thread`"
        method = site.call.name.rpartition(".")[2]
        twin = _DROP_IN.get(method) if site.category == "llm" and site.derived is None and isinstance(call.func, ast.Attribute) else None
        if twin is not None and not self._awaitable(path, call, site.function):
            edit = SiteEdit(path, span.line, span.col, "Call", "async-method", end=(span.end_line, span.end_col), data=(twin, self._receiver(path, call)))
            return PlannedFix(finding, (edit,), f"`await ....{twin}(...)` instead of `.{method}(...)`")
        if why:
            return NoFix(finding, f"no fix: {why}")
        top = self._chain_top(path, call)
        if top is not call and not (self._awaitable(path, top, site.function) or self._wrappable(top) or self._with_item(path, top)):
            # `inspect(engine).get_schema_names()`: the methods called on the result block
            # too; the whole expression goes to the thread.
            end = (top.end_lineno or top.lineno, self._char(path, top.end_lineno or top.lineno, top.end_col_offset or 0))
            col = self._char(path, top.lineno, top.col_offset)
            edit = SiteEdit(path, top.lineno, col, "Call", "to-thread-lambda", end=end, data=(self._receiver(path, top),))
            return PlannedFix(finding, (edit,), f"`{site.call.site.text}(...)` and the calls on its result run in a thread (`asyncio.to_thread(lambda: ...)`)")
        edit = SiteEdit(path, span.line, span.col, "Call", "to-thread", end=(span.end_line, span.end_col), data=(self._receiver(path, call),))
        return PlannedFix(finding, (edit,), f"`{site.call.site.text}(...)` runs in a thread (`asyncio.to_thread`)")

    def _boundary(self, finding: Finding, site: BlockingSite, because: str | None) -> PlannedFix | NoFix:
        """The chain runs in a thread: each async function's call into it becomes ``await asyncio.to_thread(...)``."""
        model = self.model
        towards = model.sync_callers_bfs(site.function)
        roots = [
            node
            for node in towards
            if model.functions[node].is_async and _worst_chain(model, self.runs, towards, node, self.wanted) is not None
        ]
        lead = f"{because}; and no thread either: " if because else "no fix: "
        edits: dict[tuple[str, int, int], SiteEdit] = {}
        for root in roots:
            path = model.path_of(root)
            for edge in model.edges.get(root, ()):
                if edge.target not in towards or model.functions[edge.target].is_async or edge.kind == "thread":
                    continue
                where = f"{path}:{edge.line}"
                if edge.kind != "call":
                    return NoFix(finding, f"{lead}`{model.display(root)}` schedules `{model.display(edge.target)}` on the loop ({where})")
                if self._frame_reason(edge.target) == f"`{model.display(edge.target)}` is a generator":
                    return NoFix(finding, f"{lead}`{model.display(edge.target)}` is a generator: its body runs as the loop iterates it ({where})")
                name = "" if edge.via else _callee_name(model, edge.target)
                call = self._call(path, edge.line, edge.col, name=name)
                if isinstance(call, str):
                    return NoFix(finding, f"{lead}{call}")
                why = self._awaitable(path, call, root) or self._wrappable(call)
                if not why and self._with_item(path, call):
                    why = f"`{model.display(edge.target)}` makes a context manager ({where}): its block would stay on the loop"
                if why:
                    return NoFix(finding, f"{lead}{why}")
                end = (call.end_lineno or call.lineno, self._char(path, call.end_lineno or call.lineno, call.end_col_offset or 0))
                edits[(path, edge.line, edge.col)] = SiteEdit(
                    path, edge.line, edge.col, "Call", "to-thread", end=end, data=(self._receiver(path, call),)
                )
        if not edits:
            return NoFix(finding, f"{lead}no async function calls into the chain where a thread could take it")
        if len(edits) > _MAX_THREAD_CALLS:
            files = len({path for path, _, _ in edits})
            return NoFix(
                finding,
                f"{lead}{len(edits)} async call sites in {files} file{'s' if files != 1 else ''} reach it: too many to wrap each in"
                " `asyncio.to_thread`; change the helper itself (an async API, or its blocking part in a thread)",
            )
        shown = because + "; " if because else ""
        count = len(edits)
        # What the threads run: the chain below the wrapped calls, down to the blocking call.
        moved = {edge.target for root in roots for edge in model.edges.get(root, ()) if edge.target in towards and not model.functions[edge.target].is_async}
        todo = list(moved)
        while todo:
            for edge in model.edges.get(todo.pop(), ()):
                if edge.target in towards and edge.target not in moved and not model.functions[edge.target].is_async:
                    moved.add(edge.target)
                    todo.append(edge.target)
        for node in sorted(moved):
            if not model.functions[node].is_async:
                shared = self._mutates_module_object(node)
                if shared:
                    return NoFix(
                        finding,
                        f"{lead}`{model.display(node)}` changes module-level state (`{shared}`): in threads,"
                        " concurrent calls would interleave; make that state per call or lock it first",
                    )
        lazy = [node for node in moved if self._sets_globals(node)]
        note = ""
        if lazy:
            names = ", ".join(f"`{model.display(n)}`" for n in sorted(lazy)[:3])
            note = f" ({names} sets a global: now run in threads, it needs a lock, see SL501)"
        return PlannedFix(
            finding, tuple(edits.values()), f"{shown}the chain runs in a thread (`asyncio.to_thread`) at {count} call{'s' if count > 1 else ''}{note}"
        )

    def _mutates_module_object(self, fid: str) -> str | None:
        """The first assignment in the function to an attribute or item of a module-level
        name (``app._token = ...``, ``CACHE[k] = v``), as written; None if there is none."""
        info = self.model.functions[fid]
        module = self._module(self.model.path_of(fid))
        node = module.defs.get((info.line, info.col)) if module else None
        if node is None or module is None:
            return None
        own = _own_nodes(node)
        local = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
        local |= {a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None}
        local |= {n.id for n in own if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        top = _module_names(module.tree)
        for item in own:
            targets = item.targets if isinstance(item, ast.Assign) else [item.target] if isinstance(item, ast.AugAssign) else []
            for target in targets:
                if not isinstance(target, (ast.Attribute, ast.Subscript)):
                    continue
                root: ast.expr = target
                while isinstance(root, (ast.Attribute, ast.Subscript)):
                    root = root.value
                if isinstance(root, ast.Name) and root.id not in local and root.id in top:
                    return ast.unparse(target)
        return None

    def _sets_globals(self, fid: str) -> bool:
        """Whether the function declares ``global`` (a lazy singleton, say)."""
        info = self.model.functions[fid]
        module = self._module(self.model.path_of(fid))
        node = module.defs.get((info.line, info.col)) if module else None
        return node is not None and any(isinstance(n, ast.Global) for n in _own_nodes(node))

    def _propagate(self, finding: Finding, site: BlockingSite) -> PlannedFix | str:
        """``time.sleep`` in a sync helper: the helper and every sync caller up to the async
        code become ``async def``, each call of them awaited; or why not (a str)."""
        model = self.model
        fid = site.function
        towards = model.sync_callers_bfs(fid)
        cand = {node for node in towards if not model.functions[node].is_async}
        why: dict[str, str] = {}
        for node in list(cand):
            reason = self._frame(node)
            if reason:
                cand.discard(node)
                why[node] = reason
        changed = True
        while changed and fid in cand:
            changed = False
            for node in sorted(cand):
                reason = self._callers_ok(node, cand, why)
                if reason:
                    cand.discard(node)
                    why[node] = reason
                    changed = True
        if fid not in cand:
            return f"`{model.display(fid)}` stays sync: {self._explain(fid, why)}"
        path, span = finding.path, finding.span
        edits = [SiteEdit(path, span.line, span.col, "Call", "sleep", end=(span.end_line, span.end_col))]
        awaited = 0
        for node in sorted(cand):
            info = model.functions[node]
            edits.append(SiteEdit(model.path_of(node), info.line, info.col, "FunctionDef", "async-def", name=info.name))
            for edge in model.callers.get(node, ()):
                source = model.path_of(edge.source)
                call = self._call(source, edge.line, edge.col, name=_callee_name(model, node))
                assert not isinstance(call, str)  # checked by _callers_ok
                end = (call.end_lineno or call.lineno, self._char(source, call.end_lineno or call.lineno, call.end_col_offset or 0))
                edits.append(SiteEdit(source, edge.line, edge.col, "Call", "await", end=end, data=(self._receiver(source, call),)))
                awaited += 1
        names = ", ".join(f"`{model.display(n)}`" for n in sorted(cand))
        files = len({e.path for e in edits})
        return PlannedFix(
            finding,
            tuple(dict.fromkeys(edits)),
            f"async def {names} (`await asyncio.sleep`), awaited at {awaited} call{'s' if awaited != 1 else ''} in {files} file{'s' if files != 1 else ''}",
        )

    def _explain(self, fid: str, why: dict[str, str]) -> str:
        """Why ``fid`` stays sync, following the callers that kept it so (three at most)."""
        parts = [why.get(fid, "it cannot become async")]
        seen = {fid}
        node = self._blocker.get(fid)
        while node is not None and node not in seen and len(parts) < 4:
            seen.add(node)
            parts.append(why.get(node, "it cannot become async"))
            node = self._blocker.get(node)
        return ", because ".join(parts)

    # -- what can become async --------------------------------------------------------

    def _frame(self, fid: str) -> str | None:
        """Why the function ``fid`` cannot become ``async def`` whoever calls it, or None."""
        if fid in self._frames:
            return self._frames[fid]
        reason = self._frames[fid] = self._frame_reason(fid)
        return reason

    def _frame_reason(self, fid: str) -> str | None:
        model = self.model
        info = model.functions[fid]
        name = info.name
        if name == "<module>":
            return "module-level code calls it (import time cannot await)"
        if name.startswith("<lambda"):
            return "a lambda calls it (a lambda cannot await)"
        if name.startswith("__") and name.endswith("__"):
            return f"`{model.display(fid)}` is a special method, which Python calls synchronously"
        path = model.path_of(fid)
        module = self._module(path)
        node = module.defs.get((info.line, info.col)) if module else None
        if node is None or not isinstance(node, ast.FunctionDef):
            return f"cannot find `def {name}` in {path}"
        for decorator in node.decorator_list:
            dotted = _dotted(decorator.func if isinstance(decorator, ast.Call) else decorator)
            if dotted.rpartition(".")[2] in _KEPT_DECORATORS:
                continue
            if dotted.rpartition(".")[2] in ("property", "cached_property", "setter", "getter", "deleter"):
                return f"`{model.display(fid)}` is a property (read without a call, it cannot be awaited)"
            if dotted.rpartition(".")[2] in ("get", "post", "put", "patch", "delete", "route", "api_route", "websocket"):
                return f"`{model.display(fid)}` is a sync route handler (Starlette runs it in a thread)"
            return f"`{model.display(fid)}` is decorated with `@{dotted or '...'}`, which would wrap a coroutine"
        if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _own_nodes(node)):
            return f"`{model.display(fid)}` is a generator"
        if isinstance(module.parents.get(node), ast.ClassDef) if module else False:
            defs = sum(len(re.findall(rf"\bdef\s+{re.escape(name)}\s*\(", text)) for text in self._texts_with(name))
            if defs > 1:
                return f"another class defines `{name}` too (overrides must stay alike)"
        return self._references(fid)

    def _callers_ok(self, fid: str, cand: set[str], why: dict[str, str]) -> str | None:
        """Why ``fid`` cannot become async given who calls it (each caller async or becoming
        so, each call awaitable where it is written), or None."""
        model = self.model
        callers = model.callers.get(fid, ())
        if not callers:
            return "nothing in the project calls it (a framework or code outside the project may)"
        for edge in callers:
            source = model.path_of(edge.source)
            where = f"{source}:{edge.line}"
            if edge.kind != "call":
                return f"it runs as a {edge.kind} at {where}"
            if edge.via:
                return f"it is passed as a value at {where} ({edge.via})"
            if not model.functions[edge.source].is_async and edge.source not in cand:
                self._blocker[fid] = edge.source
                return f"`{model.display(edge.source)}` calls it ({where}) and stays sync"
            call = self._call(source, edge.line, edge.col, name=_callee_name(model, fid))
            if isinstance(call, str):
                return call
            reason = self._awaitable(source, call, edge.source)
            if reason:
                return reason
            others = [
                e.target for e in self._edges(source, edge.line, edge.col) if e.source == edge.source and e.target != fid and not e.via
            ]
            if any(other not in cand and not model.functions[other].is_async for other in others):
                return f"the call at {where} may also run a function that stays sync"
        return None

    def _references(self, fid: str) -> str | None:
        """Why some use of the function's name is not a call the model resolves to it, or None."""
        model = self.model
        info = model.functions[fid]
        name = info.name
        for path in self._paths_with(name):
            module = self._module(path)
            if module is None:
                return f"{path} does not parse"
            for node in ast.walk(module.tree):
                if isinstance(node, ast.Constant) and node.value == name:
                    if _in_all(module, node):
                        return f"it is exported in `__all__` ({path}:{node.lineno}): code outside the project may call it"
                    return f"its name is written as a string at {path}:{node.lineno} (`getattr`?)"
                if not (isinstance(node, ast.Name) and node.id == name) and not (isinstance(node, ast.Attribute) and node.attr == name):
                    continue
                parent = module.parents.get(node)
                if not (isinstance(parent, ast.Call) and parent.func is node):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        return f"the name `{name}` is assigned at {path}:{node.lineno}"
                    return f"it is used as a value at {path}:{node.lineno}"
                key = (path, parent.lineno, self._char(path, parent.lineno, parent.col_offset))
                edges = self._edges(*key)
                if not edges:
                    return f"the call at {path}:{parent.lineno} may run it (sightlint cannot tell)"
        return None

    # -- the sources --------------------------------------------------------------------

    def _texts_with(self, name: str) -> list[str]:
        return [self.sources[p] for p in self._paths_with(name)]

    def _paths_with(self, name: str) -> list[str]:
        word = re.compile(rf"\b{re.escape(name)}\b")
        return [path for path, text in self.sources.items() if name in text and word.search(text)]

    def _module(self, path: str) -> _Module | None:
        if path in self.modules:
            return self.modules[path]
        text = self.sources.get(path)
        module = None
        if text is not None:
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError):
                tree = None
            if tree is not None:
                lines = _LINE.split(text)
                parents: dict[ast.AST, ast.AST] = {}
                calls: dict[tuple[int, int], list[ast.Call]] = {}
                defs: dict[tuple[int, int], ast.FunctionDef | ast.AsyncFunctionDef] = {}
                for node in ast.walk(tree):
                    for child in ast.iter_child_nodes(node):
                        parents[child] = node
                    if isinstance(node, ast.Call):
                        calls.setdefault((node.lineno, _char_col(lines, node.lineno, node.col_offset)), []).append(node)
                    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        defs[(node.lineno, _char_col(lines, node.lineno, node.col_offset))] = node
                module = _Module(tree, lines, parents, calls, defs)
        self.modules[path] = module
        return module

    def _char(self, path: str, line: int, col: int) -> int:
        module = self._module(path)
        return _char_col(module.lines, line, col) if module else col

    def _edges(self, path: str, line: int, col: int) -> list[Edge]:
        if self._edges_at is None:
            index: dict[tuple[str, int, int], list[Edge]] = {}
            for edges in self.model.edges.values():
                for edge in edges:
                    index.setdefault((self.model.path_of(edge.source), edge.line, edge.col), []).append(edge)
            self._edges_at = index
        return self._edges_at.get((path, line, col), [])

    def _call(self, path: str, line: int, col: int, *, name: str = "", end: tuple[int, int] | None = None) -> ast.Call | str:
        """The call starting at ``line:col`` (the one ending at ``end``, or calling ``name``; else the innermost)."""
        module = self._module(path)
        calls = list(module.calls.get((line, col), ())) if module else []
        if end is not None:
            calls = [c for c in calls if (c.end_lineno, self._char(path, c.end_lineno or c.lineno, c.end_col_offset or 0)) == end]
        elif name:
            calls = [c for c in calls if _dotted(c.func).rpartition(".")[2] == name]
        if not calls:
            return f"cannot find the call at {path}:{line}:{col + 1}"
        return min(calls, key=lambda c: (c.end_lineno or 0, c.end_col_offset or 0))

    def _awaitable(self, path: str, call: ast.Call, fid: str) -> str | None:
        """Why ``await`` cannot go in front of ``call`` in the function ``fid`` (its own code,
        not a lambda or a generator expression), or None."""
        module = self._module(path)
        assert module is not None
        info = self.model.functions[fid]
        node: ast.AST = call
        while True:
            parent = module.parents.get(node)
            if parent is None:
                return f"the call at {path}:{call.lineno} is not in `{self.model.display(fid)}`"
            if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node in parent.decorator_list or node is parent.returns or isinstance(node, ast.arguments):
                    return f"the call at {path}:{call.lineno} is in a def's header"
                if (parent.lineno, _char_col(module.lines, parent.lineno, parent.col_offset)) == (info.line, info.col):
                    return None
                return f"the call at {path}:{call.lineno} is in a nested function"
            if isinstance(parent, (ast.Lambda, ast.GeneratorExp, ast.ClassDef)):
                what = {ast.Lambda: "a lambda", ast.GeneratorExp: "a generator expression", ast.ClassDef: "a class body"}[type(parent)]
                return f"the call at {path}:{call.lineno} is in {what}, where `await` cannot go"
            node = parent

    def _wrappable(self, call: ast.Call) -> str | None:
        """Why ``call`` cannot become ``asyncio.to_thread(f, *args)`` with the same meaning, or None."""
        for part in (*call.args, *(k.value for k in call.keywords)):
            if any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)) for n in ast.walk(part)):
                return f"an argument of the call at line {call.lineno} awaits, yields or assigns"
        return None

    def _receiver(self, path: str, call: ast.Call) -> bool:
        """Whether ``call``'s value is used as a receiver (``f(x).y``, ``f(x)[0]``, ``f(x)()``):
        an ``await`` in front of it then needs parentheses."""
        module = self._module(path)
        parent = module.parents.get(call) if module else None
        if isinstance(parent, (ast.Attribute, ast.Subscript)) and parent.value is call:
            return True
        return isinstance(parent, ast.Call) and parent.func is call

    def _chain_top(self, path: str, call: ast.Call) -> ast.Call:
        """The outermost call of ``call(...).m(...).n(...)`` (``call`` itself when its value is not a method's receiver)."""
        module = self._module(path)
        node = call
        while module is not None:
            parent = module.parents.get(node)
            above = module.parents.get(parent) if parent is not None else None
            if isinstance(parent, ast.Attribute) and parent.value is node and isinstance(above, ast.Call) and above.func is parent:
                node = above
                continue
            break
        return node

    def _with_item(self, path: str, call: ast.Call) -> bool:
        module = self._module(path)
        parent = module.parents.get(call) if module else None
        return isinstance(parent, ast.withitem) and parent.context_expr is call


def _module_names(tree: ast.Module) -> set[str]:
    """Names bound by the module's top-level assignments and imports (not defs or classes)."""
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
    return names


def _in_all(module: _Module, node: ast.AST) -> bool:
    """Whether ``node`` is written in the module's ``__all__ = [...]`` (a name exported, not looked up)."""
    parent = module.parents.get(node)
    while parent is not None and not isinstance(parent, ast.stmt):
        parent = module.parents.get(parent)
    targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target] if isinstance(parent, (ast.AugAssign, ast.AnnAssign)) else []
    return any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)


def _callee_name(model: Graph, fid: str) -> str:
    """The name a call of ``fid`` is written with: the class's for ``__init__``."""
    info = model.functions[fid]
    if info.name == "__init__":
        return model.display(fid).rpartition(".")[0].rpartition(".")[2]
    return info.name


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""


def _char_col(lines: list[str], line: int, col: int) -> int:
    """The character column of the UTF-8 byte offset ``col`` on ``line``."""
    if not 0 < line <= len(lines):
        return col
    text = lines[line - 1]
    if text.isascii():
        return col
    return len(text.encode("utf-8", "surrogatepass")[:col].decode("utf-8", "replace"))


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The nodes of ``function``'s own body (not of nested functions, lambdas or classes)."""
    out: list[ast.AST] = []
    todo = list(ast.iter_child_nodes(function))
    while todo:
        node = todo.pop()
        out.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return out


def _asyncio_imports(context: Any, line: int, col: int) -> tuple[tuple[str, str | None], ...] | None:
    """The import a new ``asyncio.`` at ``line:col`` needs; None when ``asyncio`` means something else there."""
    found = context.binding_at("asyncio", line, col)
    if found.kind is BindingKind.UNBOUND:
        return (("asyncio", None),)
    if found.kind is BindingKind.IMPORT and found.qualified == "asyncio" and (found.at_module_level or found.line < line):
        return ()  # imported already (a local `import asyncio` above in the function too)
    return None


def _awaited(node: Any, paren: bool) -> Any:
    import libcst as cst

    if paren or node.lpar:
        lpar, rpar = node.lpar or [cst.LeftParen()], node.rpar or [cst.RightParen()]
        return cst.Await(expression=node.with_changes(lpar=[], rpar=[]), lpar=lpar, rpar=rpar)
    return cst.Await(expression=node)


def _has_await(node: Any) -> bool:
    import libcst as cst

    todo = [node]
    while todo:
        current = todo.pop()
        if isinstance(current, cst.Await):
            return True
        if not isinstance(current, (cst.Lambda, cst.FunctionDef)):
            todo.extend(current.children)
    return False


def _to_thread(node: Any, paren: bool) -> Any:
    """``f(a, k=v)`` -> ``await asyncio.to_thread(f, a, k=v)``; None when the arguments
    await (an edit nested in this one) or the node is no longer a call."""
    import libcst as cst

    if not isinstance(node, cst.Call) or any(_has_await(arg.value) for arg in node.args):
        return None
    args = list(node.args)
    if len(args) == 1 and isinstance(args[0].value, cst.GeneratorExp) and not args[0].value.lpar:
        args[0] = args[0].with_changes(value=args[0].value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]))
    space = node.whitespace_before_args
    after: Any = space if isinstance(space, cst.ParenthesizedWhitespace) else cst.SimpleWhitespace(" ")
    func = node.func.with_changes(lpar=[], rpar=[]) if isinstance(node.func, cst.Name) else node.func
    first = cst.Arg(value=func, comma=cst.Comma(whitespace_after=after) if args else cst.MaybeSentinel.DEFAULT)
    call = cst.Call(
        func=cst.Attribute(value=cst.Name("asyncio"), attr=cst.Name("to_thread")),
        args=[first, *args],
        whitespace_before_args=space,
    )
    return _awaited(call.with_changes(lpar=node.lpar, rpar=node.rpar), paren)


def _to_thread_lambda(node: Any, paren: bool) -> Any:
    """``f(a).m(b)`` -> ``await asyncio.to_thread(lambda: f(a).m(b))``; None when it awaits."""
    import libcst as cst

    if not isinstance(node, cst.Call) or _has_await(node):
        return None
    body = cst.Lambda(params=cst.Parameters(), body=node.with_changes(lpar=[], rpar=[]))
    call = cst.Call(func=cst.Attribute(value=cst.Name("asyncio"), attr=cst.Name("to_thread")), args=[cst.Arg(value=body)])
    return _awaited(call.with_changes(lpar=node.lpar, rpar=node.rpar), paren)
