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

from sightlint.project.graph import Graph
from sightlint.project.model import ExternalCall
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


_DATA = Path(__file__).resolve().parent.parent / "data" / "blocking_calls.toml"
SEVERITIES = ("context", "lower")


class CatalogEntry(NamedTuple):
    """One blocking call of the catalogue (see ``sightlint/data/blocking_calls.toml``)."""

    name: str
    category: str
    severity: str  # "context" or "lower"
    alternative: str
    source: str


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
            found.setdefault(name, CatalogEntry(name, category, severity, api.get("alternative", ""), api.get("source", "")))
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
