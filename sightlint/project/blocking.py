"""Which external calls block, and which project functions reach one through sync code.

Shared by SL101 (blocking-call-in-async) and SL102 (ineffective-timeout). Names are the
model's normalised dotted spelling, where ``()`` marks a call result, so an instance of a
class (built in the code or known from an annotation) is ``pkg.Class()``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from sightlint.project.graph import Graph
from sightlint.project.model import CHAT_MODELS, LLM_PIPE, ExternalCall
from sightlint.project.thirdparty import ThirdPartyClasses

CATEGORIES: tuple[str, ...] = ("sleep", "network", "subprocess", "database", "llm", "cpu", "file")
CATEGORY_LABEL = {
    "sleep": "sleep",
    "network": "network I/O",
    "subprocess": "subprocess/OS wait",
    "database": "sync database driver",
    "llm": "sync LLM call",
    "cpu": "CPU-heavy work",
    "file": "file I/O",
    "custom": "configured blocking call",
}


def _methods(receivers: Iterable[str], methods: str) -> list[str]:
    return [f"{r}.{m}" for r in receivers for m in methods.split()]


_HTTP = "get post put patch delete head options request"
_REQUESTS = ("requests.Session()", "requests.session()", "requests.sessions.Session()")
_HTTPX = ("httpx.Client()",)
_NEO4J_DRIVERS = ("neo4j.GraphDatabase.driver()", "neo4j.Driver()", "neo4j.GraphDatabase().driver()")
_NEO4J_SESSIONS = tuple(f"{d}.session()" for d in _NEO4J_DRIVERS) + ("neo4j.Session()",)
_LC_NEO4J = (
    "langchain_neo4j.Neo4jGraph",
    "langchain_neo4j.Neo4jVector",
    "langchain_community.graphs.Neo4jGraph",
    "langchain_community.graphs.neo4j_graph.Neo4jGraph",
    "langchain_community.vectorstores.Neo4jVector",
    "langchain_community.vectorstores.neo4j_vector.Neo4jVector",
)
_SA_ENGINES = ("sqlalchemy.create_engine()", "sqlalchemy.Engine()", "sqlalchemy.engine.Engine()")
_SA_SESSIONS = ("sqlalchemy.orm.Session()", "sqlalchemy.orm.sessionmaker()()", "sqlalchemy.orm.Session")
_REDIS = ("redis.Redis()", "redis.StrictRedis()", "redis.from_url()", "redis.Redis.from_url()")
_EMBEDDINGS = (
    "langchain_google_genai.GoogleGenerativeAIEmbeddings()",
    "langchain_openai.OpenAIEmbeddings()",
)
_OPENAI = ("openai.OpenAI()", "openai.AzureOpenAI()")

CATALOG: dict[str, str] = {
    "time.sleep": "sleep",
    **dict.fromkeys(
        [
            *(f"requests.{m}" for m in _HTTP.split()),
            *_methods(_REQUESTS, _HTTP + " send"),
            *(f"httpx.{m}" for m in (_HTTP + " stream").split()),
            *_methods(_HTTPX, _HTTP + " send stream"),
            "urllib.request.urlopen",
            "urllib.request.urlretrieve",
            "socket.create_connection",
            "socket.getaddrinfo",
            "socket.gethostbyname",
            *_methods(("socket.socket()", "socket.create_connection()"), "connect recv recvfrom send sendall accept"),
            "smtplib.SMTP",
            "smtplib.SMTP_SSL",
        ],
        "network",
    ),
    **dict.fromkeys(
        [
            *(f"subprocess.{m}" for m in "run call check_call check_output getoutput getstatusoutput".split()),
            *_methods(("subprocess.Popen()",), "wait communicate"),
            *(f"os.{m}" for m in "system popen wait waitpid wait3 wait4 waitid".split()),
        ],
        "subprocess",
    ),
    **dict.fromkeys(
        [
            *(f"{m}.connect" for m in ("psycopg2", "psycopg", "pymysql", "sqlite3", "MySQLdb", "mysql.connector")),
            *_methods(_NEO4J_DRIVERS, "verify_connectivity execute_query"),
            *_methods(_NEO4J_SESSIONS, "run execute_read execute_write read_transaction write_transaction"),
            *_LC_NEO4J,
            *(f"{c}.{m}" for c in _LC_NEO4J for m in ("from_existing_index", "from_documents", "from_texts", "from_existing_graph")),
            *_methods(
                (f"{c}()" for c in _LC_NEO4J),
                "query refresh_schema add_graph_documents similarity_search similarity_search_with_score "
                "similarity_search_by_vector max_marginal_relevance_search add_documents add_texts",
            ),
            *_methods(_SA_ENGINES, "connect begin execute"),
            *_methods(_SA_SESSIONS, "execute commit query get scalar scalars flush refresh"),
            *_methods(_REDIS, "get set delete hget hset incr expire exists keys publish ping"),
        ],
        "database",
    ),
    **dict.fromkeys(
        [
            *_methods(sorted(CHAT_MODELS) + [LLM_PIPE], "invoke batch stream predict"),
            *_methods(_EMBEDDINGS, "embed_query embed_documents"),
            *_methods(_OPENAI, "chat.completions.create completions.create embeddings.create responses.create"),
            "anthropic.Anthropic().messages.create",
            "google.generativeai.GenerativeModel().generate_content",
            "google.generativeai.generate_content",
            "google.generativeai.embed_content",
            "google.genai.Client().models.generate_content",
            "google.genai.Client().models.embed_content",
        ],
        "llm",
    ),
    **dict.fromkeys(
        [
            "bcrypt.hashpw",
            "bcrypt.checkpw",
            "bcrypt.gensalt",
            "bcrypt.kdf",
            "hashlib.pbkdf2_hmac",
            "hashlib.scrypt",
            *_methods(("passlib.context.CryptContext()",), "hash verify verify_and_update"),
            *_methods(("passlib.hash.bcrypt",), "hash verify"),
            *_methods(("argon2.PasswordHasher()",), "hash verify"),
            "sentence_transformers.CrossEncoder",
            "sentence_transformers.SentenceTransformer",
            "sentence_transformers.CrossEncoder().predict",
            "sentence_transformers.CrossEncoder().rank",
            "sentence_transformers.SentenceTransformer().encode",
        ],
        "cpu",
    ),
    **dict.fromkeys(
        [
            "open",
            "io.open",
            *_methods(("pathlib.Path()",), "read_text read_bytes write_text write_bytes open"),
            *(f"shutil.{m}" for m in "copy copy2 copyfile copytree move rmtree".split()),
        ],
        "file",
    ),
}


@dataclass(frozen=True)
class CatalogOptions:
    """The settings of a rule that reads the blocking-call catalog (SL101, SL102)."""

    categories: tuple[str, ...] = field(default=CATEGORIES, metadata={"choices": CATEGORIES})
    """Catalog categories to check: sleep, network, subprocess, database, llm, cpu, file."""
    extra_calls: tuple[str, ...] = ()
    """More blocking calls: `"mylib.client.fetch"`, or `"mylib.sync.*"` for all below a name."""

    def catalog(self) -> Catalog:
        return Catalog(self.categories, self.extra_calls)


@dataclass(frozen=True, slots=True)
class BlockingSite:
    call: ExternalCall
    category: str

    @property
    def function(self) -> str:
        return self.call.function


class Catalog:
    """The catalog restricted to some categories, plus user-configured call names."""

    def __init__(self, categories: Iterable[str] = CATEGORIES, extra_calls: Iterable[str] = ()) -> None:
        wanted = set(categories)
        self.exact = {name: cat for name, cat in CATALOG.items() if cat in wanted}
        self.prefixes: list[str] = []
        for name in extra_calls:
            if name.endswith(".*"):
                self.prefixes.append(name[:-1])
            else:
                self.exact[name] = "custom"
        self.key = (tuple(sorted(wanted)), tuple(sorted(extra_calls)))
        # Method (chain) -> the catalogued classes whose instances block on it, e.g.
        # "get" -> ("requests.Session", "httpx.Client", ...), for :meth:`inherited`.
        self.by_method: dict[str, list[str]] = {}
        self._definitions: dict[str, dict[str, str]] = {}
        for name in self.exact:
            receiver, method = _instance_call(name)
            if receiver is not None:
                self.by_method.setdefault(method, []).append(receiver)

    def category(self, name: str) -> str | None:
        found = self.exact.get(name)
        if found is None and self.prefixes:
            for prefix in self.prefixes:
                if name.startswith(prefix):
                    return "custom"
        return found

    def worth_keeping(self, name: str) -> bool:
        """Whether a rule reading this catalog needs the external call ``name`` in the graph."""
        return self.category(name) is not None or self.may_inherit(name)

    def may_inherit(self, name: str) -> bool:
        """Whether ``name`` is a catalogued method called on an instance of another class
        (which may derive from a catalogued one): worth keeping in a module record."""
        receiver, method = _instance_call(name)
        return receiver is not None and method in self.by_method

    def inherited(self, name: str, classes: ThirdPartyClasses) -> str | None:
        """The category of ``name`` when its receiver is an installed class that derives from
        a catalogued one (``OAuth2Session().get`` where ``OAuth2Session`` is a ``requests.Session``)."""
        receiver, method = _instance_call(name)
        if receiver is None or method not in self.by_method:
            return None
        chain = classes.ancestors(receiver)
        if not chain:
            return None
        public = self._defined(method, classes)
        for ancestor in chain:
            catalogued = public.get(ancestor, ancestor)
            if catalogued != receiver:
                found = self.exact.get(f"{catalogued}().{method}")
                if found is not None:
                    return found
        return None

    def _defined(self, method: str, classes: ThirdPartyClasses) -> dict[str, str]:
        """Where each catalogued class with ``method`` is defined -> the name the catalog uses
        (``httpx._client.Client`` -> ``httpx.Client``), read the same way as the subclasses."""
        memo = self._definitions.get(method)
        if memo is None:
            memo = {}
            for receiver in self.by_method[method]:
                chain = classes.ancestors(receiver)
                if chain:
                    memo.setdefault(chain[0], receiver)
            self._definitions[method] = memo
        return memo


def _instance_call(name: str) -> tuple[str | None, str]:
    """``("pkg.Class", "method")`` for ``pkg.Class().method`` (a method of a direct
    instance), else ``(None, "")``."""
    receiver, marker, method = name.partition("().")
    if not marker or not receiver or "(" in receiver or not method or "(" in method:
        return None, ""
    return receiver, method


@dataclass
class Blocking:
    """Blocking call sites and the functions whose execution reaches one."""

    sites: dict[str, list[BlockingSite]]
    # Functions whose own body runs a blocking call, directly or through sync callees.
    reaches: set[str]


def analyse(model: Graph, catalog: Catalog) -> Blocking:
    """Find blocking sites and propagate "reaches a blocking call" back through sync callers."""
    key = ("blocking", catalog.key)
    cached = model.cache.get(key)
    if isinstance(cached, Blocking):
        return cached
    sites: dict[str, list[BlockingSite]] = {}
    classes = model.third_party
    for fid, calls in model.externals.items():
        for call in calls:
            if call.site.awaited:
                continue  # ``await x.execute()``: an awaitable, however ``x`` was annotated
            category = catalog.category(call.name)
            if category is None and classes is not None:
                category = catalog.inherited(call.name, classes)
            if category is not None:
                sites.setdefault(fid, []).append(BlockingSite(call, category))
    # Multi-source reverse BFS: linear in the graph. Async functions are marked but not
    # walked past: calling one only creates a coroutine. Work handed to a thread does not
    # run on the loop; a task or callback started on the loop does.
    reaches = set(sites)
    queue = deque(fid for fid in sites if not model.functions[fid].is_async)
    while queue:
        node = queue.popleft()
        for edge in model.callers.get(node, ()):
            if edge.source not in reaches and edge.kind != "thread":
                reaches.add(edge.source)
                if not model.functions[edge.source].is_async:
                    queue.append(edge.source)
    result = Blocking(sites, reaches)
    model.cache[key] = result
    return result


def first_blocking(model: Graph, blocking: Blocking, fid: str) -> tuple[list[str], BlockingSite] | None:
    """A shortest chain of functions from ``fid`` to a blocking site its body runs."""
    if fid not in blocking.reaches:
        return None
    parent: dict[str, str | None] = {fid: None}
    queue = deque([fid])
    while queue:
        node = queue.popleft()
        if node in blocking.sites:
            path = [node]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])  # type: ignore[arg-type]
            return list(reversed(path)), blocking.sites[node][0]
        for edge in model.edges.get(node, ()):
            target = edge.target
            if (
                target not in parent
                and target in blocking.reaches
                and not model.functions[target].is_async
                and edge.kind != "thread"
            ):
                parent[target] = node
                queue.append(target)
    return None
