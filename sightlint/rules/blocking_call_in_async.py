from __future__ import annotations

from sightlint.models import Finding, RelatedLocation, Span
from sightlint.project.blocking import CATEGORY_LABEL, CATEGORY_SEVERITY, BlockingSite, CatalogOptions, analyse
from sightlint.project.graph import Graph, ModelNeeds
from sightlint.project.model import Edge
from sightlint.rules.base import Bad, FixSafety, Good, Rule, RuleMeta, Severity
from sightlint.settings import Settings

_MAX_OTHER_CHAINS = 10


class BlockingCallInAsync(Rule):
    """
    ## What it flags
    A blocking call that runs on the event loop: written directly inside an `async def`,
    or reached from one through any chain of ordinary (sync) function calls, constructors
    (`Service()` runs `Service.__init__`), `self.` methods, decorated functions,
    callbacks handed to a helper that calls them and callbacks scheduled on the loop
    (`loop.call_soon`, `call_later`), across modules. The finding sits at
    the blocking call itself and names the shortest chain from an async function and how
    many async functions reach it (`--show-chains` prints the chain hop by hop).

    Blocking calls come from a catalog, by category: `sleep` (`time.sleep`), `network`
    (`requests`, `urllib.request.urlopen`, sync `httpx`, `socket`), `subprocess`
    (`subprocess.*`, `os.system`, `os.popen`, `os.wait*`), `database` (`psycopg2`,
    `pymysql`, `sqlite3`, sync SQLAlchemy engines and sessions, `neo4j` driver sessions,
    LangChain `Neo4jGraph`/`Neo4jVector` construction and queries, sync `redis`), `llm`
    (`.invoke`/`.batch`/`.stream` on LangChain chat models and `|` pipes containing one,
    sync OpenAI/Anthropic/Gemini clients), `cpu` (`bcrypt`, passlib `CryptContext`
    hashing, loading sentence-transformers models) and `file` (`open`, `Path.read_*`/
    `write_*`, `shutil` copies; reported as medium).

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
    dependencies run in a threadpool, so they are not where a chain starts. A call whose
    target cannot be resolved (a parameter, a dynamic attribute) never produces a finding.

    ## Why it matters
    One event loop serves every request of the worker. While a blocking call runs,
    nothing else does: every in-flight request stalls, health checks time out and the
    platform restarts "hung" instances. A retry helper that sleeps 1 s, 1.5 s, ... up to
    10 s freezes the whole service for the duration of an outage of one dependency.

    ## Fix
    No automatic fix: the right change depends on the call. Use the async API where one
    exists (`await asyncio.sleep`, `httpx.AsyncClient`, async drivers, `ainvoke`),
    make the helper chain `async` when it is short, or move the blocking work off the
    loop with `await asyncio.to_thread(fn, ...)` at the async boundary.

    ## Options
    Turn catalog categories off (for example `categories = ["sleep", "network"]`), or
    add your own blocking calls by their dotted name after imports.

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
        fix=FixSafety.NONE,
        tags=("async",),
    )
    cross_file = True

    Options = CatalogOptions

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
        Bad("import time\n\nasync def handler():\n    time.sleep(1)\n"),
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
        return ModelNeeds(externals=catalog.worth_keeping)

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        options = cls.options_for(settings)
        blocking = analyse(model, options.catalog())
        findings: list[Finding] = []
        for fid, sites in blocking.sites.items():
            fn = model.functions[fid]
            if fn.is_async:
                for site in sites:
                    message = (
                        f"`{site.call.site.text}` ({CATEGORY_LABEL[site.category]}) blocks the event loop "
                        f"inside `async def {model.display(fid)}`."
                    )
                    findings.append(cls._finding(model, site, message, (_hop_to_site(model, site),), None))
                continue
            towards = model.sync_callers_bfs(fid)
            roots = [node for node in towards if node != fid and model.functions[node].is_async]
            if not roots:
                continue
            chains = [_chain(model, towards, root) for root in roots]
            paths = tuple({model.path_of(edge.source) for chain in chains for edge in chain})
            for site in sites:
                shortest = chains[0]
                count = len(roots)
                reach = "1 async function" if count == 1 else f"{count} async functions"
                message = (
                    f"`{site.call.site.text}` ({CATEGORY_LABEL[site.category]}) runs on the event loop: "
                    f"reached from {reach}; shortest chain: {_chain_text(model, shortest, site)}"
                )
                others = [f"- {_chain_text(model, chain, site)}" for chain in chains[1 : 1 + _MAX_OTHER_CHAINS]]
                if len(chains) > 1 + _MAX_OTHER_CHAINS:
                    others.append(f"- ... and {len(chains) - 1 - _MAX_OTHER_CHAINS} more")
                detail = "Also reached from:\n" + "\n".join(others) if others else None
                related = (*(_hop(model, edge) for edge in shortest), _hop_to_site(model, site))
                findings.append(cls._finding(model, site, message, related, detail, paths))
        return findings

    @classmethod
    def _finding(
        cls,
        model: Graph,
        site: BlockingSite,
        message: str,
        related: tuple[RelatedLocation, ...],
        detail: str | None,
        chain_paths: tuple[str, ...] = (),
    ) -> Finding:
        call = site.call.site
        return cls.project_finding(
            model.path_of(site.function),
            Span(call.line, call.col, call.end_line, call.end_col),
            message,
            severity=CATEGORY_SEVERITY.get(site.category, cls.meta.severity),
            related=related,
            detail=detail,
            chain_paths=chain_paths,
        )


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


def _hop(model: Graph, edge: Edge) -> RelatedLocation:
    via = f" ({edge.via})" if edge.via else ""
    return RelatedLocation(
        model.path_of(edge.source),
        edge.line,
        edge.col,
        f"`{model.display(edge.source)}` calls `{model.display(edge.target)}`{via}",
    )


def _hop_to_site(model: Graph, site: BlockingSite) -> RelatedLocation:
    call = site.call.site
    return RelatedLocation(
        model.path_of(site.function), call.line, call.col, f"`{model.display(site.function)}` calls `{call.text}`"
    )
