"""Which external calls block, and which project functions reach one through sync code.

Shared by SL101 (blocking-call-in-async) and SL102 (ineffective-timeout). Names are the
model's normalised dotted spelling, where ``()`` marks a call result, so an instance of a
class (built in the code or known from an annotation) is ``pkg.Class()``.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from sightlint.project.derived import Derivation, Deriver
from sightlint.project.graph import Graph
from sightlint.project.model import ExternalCall
from sightlint.project.thirdparty import _BUILTINS, _STDLIB, ThirdPartyClasses

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


_DATA = Path(__file__).resolve().parent.parent / "data" / "blocking_calls.toml"
SEVERITIES = ("context", "lower")


class CatalogEntry(NamedTuple):
    """One blocking call of the catalogue (see ``sightlint/data/blocking_calls.toml``)."""

    name: str
    category: str
    severity: str  # "context" or "lower"
    alternative: str
    source: str
    primitive: bool = True  # false: blocks only with some arguments (not a seed for derivation)


def load_catalogue(path: Path = _DATA) -> dict[str, CatalogEntry]:
    """The catalogue in ``path``: each ``[[api]]``'s ``names`` and ``receivers`` x
    ``methods``, by dotted name (a name listed twice keeps its first entry)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    found: dict[str, CatalogEntry] = {}
    for api in data.get("api", ()):
        category = api["category"]
        severity = api.get("severity", "context")
        if category not in CATEGORIES or severity not in SEVERITIES:
            raise ValueError(f"{path}: unknown category {category!r} or severity {severity!r}")
        names = list(api.get("names", ()))
        names += [f"{receiver}.{method}" for receiver in api.get("receivers", ()) for method in api.get("methods", "").split()]
        for name in names:
            found.setdefault(
                name,
                CatalogEntry(
                    name, category, severity, api.get("alternative", ""), api.get("source", ""), bool(api.get("primitive", True))
                ),
            )
    return found


ENTRIES: dict[str, CatalogEntry] = load_catalogue()
CATALOG: dict[str, str] = {name: entry.category for name, entry in ENTRIES.items()}


@dataclass(frozen=True)
class CatalogOptions:
    """The settings of a rule that reads the blocking-call catalog (SL101, SL102)."""

    categories: tuple[str, ...] = field(default=CATEGORIES, metadata={"choices": CATEGORIES})
    """Catalog categories to check: sleep, network, subprocess, database, llm, cpu, file."""
    extra_calls: tuple[str, ...] = ()
    """More blocking calls: `"mylib.client.fetch"`, or `"mylib.sync.*"` for all below a name."""
    derive: bool = True
    """Read the source of installed libraries to tell whether a call the catalog does not
    list reaches one it does (a sync HTTP client, `time.sleep`, a subprocess, a sync
    database driver or LLM client) through the library's own code."""

    def catalog(self) -> Catalog:
        return Catalog(self.categories, self.extra_calls, derive=self.derive)


@dataclass(frozen=True, slots=True)
class BlockingSite:
    call: ExternalCall
    category: str
    # Set when the catalog does not list the call and the library's source shows it blocks.
    derived: Derivation | None = None

    @property
    def function(self) -> str:
        return self.call.function


class Catalog:
    """The catalog restricted to some categories, plus user-configured call names."""

    def __init__(self, categories: Iterable[str] = CATEGORIES, extra_calls: Iterable[str] = (), *, derive: bool = False) -> None:
        wanted = set(categories)
        self.categories = frozenset(wanted)
        self.derive = derive
        self.exact = {name: cat for name, cat in CATALOG.items() if cat in wanted}
        self.prefixes: list[str] = []
        for name in extra_calls:
            if name.endswith(".*"):
                self.prefixes.append(name[:-1])
            else:
                self.exact[name] = "custom"
        self.key = (tuple(sorted(wanted)), tuple(sorted(extra_calls)), derive)
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
        return self.category(name) is not None or self.may_inherit(name) or (self.derive and derivable(name))

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


def derivable(name: str) -> bool:
    """Whether ``name`` may be a call into an installed package whose source can tell if
    it blocks (not the standard library, not a builtin): kept in the records when deriving."""
    top, dot, rest = name.partition(".")
    return bool(dot and rest) and top.isidentifier() and top not in _STDLIB and top not in _BUILTINS


_PRIMITIVES: dict[str, str] = {}


def _primitives() -> dict[str, str]:
    """The catalogued primitives (name -> category) a :class:`Deriver` starts from: one
    mapping per process, so that a Deriver made again (one per group of components a pool
    worker answers for) reuses the tables made from it (``derived.Deriver``)."""
    if not _PRIMITIVES:
        _PRIMITIVES.update((name, entry.category) for name, entry in ENTRIES.items() if entry.primitive)
    return _PRIMITIVES


def deriver(classes: ThirdPartyClasses) -> Deriver:
    """The :class:`Deriver` of a run, made with its :class:`ThirdPartyClasses` (whose
    sources it shares): answers are kept in the user's cache folder, sealed with the
    cache key, when the run has a cache (``--no-cache`` keeps nothing)."""
    found = classes.derived
    if isinstance(found, Deriver):
        return found
    from sightlint.seal import key_directory, user_seal

    seal = user_seal() if classes.persistent else None
    made = Deriver(
        _primitives(),
        classes.sources,
        classes.ancestors,
        cache_dir=key_directory() if seal is not None and not isinstance(seal, str) else None,
        seal=seal if seal is not None and not isinstance(seal, str) else None,
    )
    classes.derived = made
    return made


def _on_loop(model: Graph) -> set[str]:
    """The functions that may run on the event loop: async ones and the sync functions
    they reach through calls (not through work handed to a thread)."""
    seen = {fid for fid, fn in model.functions.items() if fn.is_async}
    queue = deque(seen)
    while queue:
        node = queue.popleft()
        for edge in model.edges.get(node, ()):
            if edge.kind != "thread" and edge.target not in seen and edge.target in model.functions:
                seen.add(edge.target)
                queue.append(edge.target)
    return seen


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
    # Deriving reads library sources: only for calls in code that may run on the loop.
    derive = deriver(classes) if catalog.derive and isinstance(classes, ThirdPartyClasses) else None
    on_loop = _on_loop(model) if derive is not None else set()
    # External name -> its category, catalogued or inherited (the same names recur in
    # every module).
    categories: dict[str, str | None] = {}
    for fid, calls in model.externals.items():
        for call in calls:
            if call.site.awaited:
                continue  # ``await x.execute()``: an awaitable, however ``x`` was annotated
            if call.name in categories:
                category = categories[call.name]
            else:
                category = catalog.category(call.name)
                if category is None and classes is not None:
                    category = catalog.inherited(call.name, classes)
                categories[call.name] = category
            if category is not None:
                sites.setdefault(fid, []).append(BlockingSite(call, category))
            elif derive is not None and fid in on_loop and derivable(call.name):
                found = derive.derive(call.name)
                if found is not None and found.category in catalog.categories:
                    sites.setdefault(fid, []).append(BlockingSite(call, found.category, found))
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
