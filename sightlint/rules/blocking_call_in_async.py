from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from sightlint.models import Finding, RelatedLocation, Span
from sightlint.project.blocking import CATEGORY_LABEL, ENTRIES, BlockingSite, CatalogOptions, analyse
from sightlint.project.contexts import BACKGROUND, REQUEST, SCRIPT, STARTUP, TEST, THREAD, UNKNOWN, RunsIn, where_code_runs
from sightlint.project.graph import Graph, ModelNeeds
from sightlint.project.model import Edge, is_test_path
from sightlint.rules.base import Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity
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
    `tests` folder counts as test code, while production code that only tests are seen to
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

    Work handed to a thread is not on the loop and is not flagged: `asyncio.to_thread`,
    `loop.run_in_executor`, `run_in_threadpool`, `anyio.to_thread.run_sync`,
    `threading.Thread(target=...)`, executor `submit` and `BackgroundTasks.add_task` of
    a plain function (Starlette runs it in its threadpool). Sync FastAPI endpoints and
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
    dicts and lists; callbacks passed through several helpers; `map`/`sorted(key=)`;
    external methods inherited by a project subclass (`class Client(requests.Session)`).

    ## Why it matters
    One event loop serves every request of the worker. While a blocking call runs,
    nothing else does: every in-flight request stalls, health checks time out and the
    platform restarts "hung" instances. A retry helper that sleeps 1 s, 1.5 s, ... up to
    10 s freezes the whole service for the duration of an outage of one dependency.
    Before the app serves (lifespan, startup handlers) or in a one-off script, the same
    call only delays start-up or the script; in a test it only slows the suite down.

    ## Fix
    `time.sleep(...)` called directly in an `async def` (also `from time import sleep`,
    and under an alias) becomes `await asyncio.sleep(...)`, adding `import asyncio` in the
    standard-library import group when the module lacks it. The fix is **unsafe**
    (`--unsafe-fixes`): the coroutine now yields to the event loop while it waits, so other
    tasks run meanwhile (which is the point, but code that relied on nothing else running
    during the pause changes behaviour). It is not offered inside a lambda, a
    comprehension or a nested sync function, where `await` cannot go, nor where the name
    `asyncio` means something else; an import of `sleep` that becomes unused is left for
    your linter.

    Everything else has no automatic fix yet: the right change depends on the call. Use
    the async API where one exists (`httpx.AsyncClient`, async drivers, `ainvoke`), make
    the helper chain `async` when it is short, or move the blocking work off the loop
    with `await asyncio.to_thread(fn, ...)` at the async boundary.

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
        if worst.edges:
            lines.append(f"chain: {_chain_text(model, worst.edges, site)}")
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
        return cls.project_finding(
            model.path_of(site.function),
            Span(call.line, call.col, call.end_line, call.end_col),
            f"{what}{where}.",
            severity=severities[1] if _lower(site) else severities[0],
            related=(*(model.hop(edge) for edge in worst.edges), _hop_to_site(model, site)),
            detail="\n".join(lines) or None,
            chain_paths=paths,
            fix_safety=FixSafety.UNSAFE if _sleeps_in_async(model, site) else FixSafety.NONE,
        )

    # -- fix -------------------------------------------------------------------------

    fix_node = "Call"

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
    entry = ENTRIES.get(site.call.name)
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
