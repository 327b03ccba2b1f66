"""The call graph the cross-file rules read: one typed interface, however it was built.

Rules need far less than the :class:`~sightlint.project.model.ProjectModel`: each
function's name, position and kind, the edges, the external calls they care about and
whatever per-function facts they read. A :class:`ModuleRecord` holds that for one module
as plain tuples, strings and dicts (marshal-able), so a cache can keep it per module and a
warm run re-resolves only the modules whose inputs changed (``sightlint.incremental``).
A :class:`Graph` is built from the records of every module, fresh or cached alike, so a
rule sees the same graph with or without a cache.

What the records carry is what the enabled rules declare: a cross-file rule returns a
:class:`ModelNeeds` from ``Rule.model_needs(settings)``, and the records hold the union.
Nothing here names a rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from sightlint.models import RelatedLocation
from sightlint.project.model import (
    Edge,
    ExternalCall,
    ExternalValue,
    ProjectModel,
    hierarchy_terms,
    sync_callers_bfs,
)
from sightlint.project.summary import UNKNOWN_REF, CallSite, FunctionSummary, ModuleSummary
from sightlint.project.wiring import WiringInfo, wiring_rows

# The per-function facts a rule may ask for: fields of ``FunctionSummary`` whose values
# are plain data (marshal-able).
FACTS = frozenset(("awaits", "route", "params", "method_kind", "cls", "yield_line", "flows", "work"))
# The per-module facts a rule may ask for: fields of ``ModuleSummary`` holding plain data,
# and "links": what joins the module to others (its packages, imports and class-hierarchy
# terms, see ``_links``), from which :meth:`Graph.component` tells a module's component.
MODULE_FACTS = frozenset(("secrets", "error_handlers", "links"))


def _keep_none(name: str) -> bool:
    return False


@dataclass(frozen=True)
class ModelNeeds:
    """What a cross-file rule reads from the project model beyond functions and edges.

    ``externals`` says which calls into code outside the project to keep (by the model's
    normalised dotted name, ``pkg.Class().method``); ``facts`` names per-function facts
    (see :data:`FACTS`) the rule reads from ``FunctionInfo.facts``; ``timeouts`` asks for
    the resolved timeout sites; ``stores`` asks for the application wiring
    (``project.wiring``), keeping the "store" facts whose resolved value it keeps. The records are cached per configuration, and a rule's
    needs depend only on the configuration and sightlint's code, which key the cache.
    """

    externals: Callable[[str], bool] = _keep_none
    facts: frozenset[str] = frozenset()
    timeouts: bool = False
    stores: Callable[[str], bool] = _keep_none
    module_facts: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = self.facts - FACTS
        if unknown:
            raise ValueError(f"unknown function facts {sorted(unknown)}; known: {sorted(FACTS)}")
        unknown = self.module_facts - MODULE_FACTS
        if unknown:
            raise ValueError(f"unknown module facts {sorted(unknown)}; known: {sorted(MODULE_FACTS)}")

    @classmethod
    def union(cls, needs: Iterable[ModelNeeds]) -> ModelNeeds:
        """What all of ``needs`` ask for together."""
        needs = list(needs)
        keeps = tuple(n.externals for n in needs if n.externals is not _keep_none)
        facts = frozenset().union(*(n.facts for n in needs))
        timeouts = any(n.timeouts for n in needs)
        stores = _any_of(tuple(n.stores for n in needs if n.stores is not _keep_none))
        module_facts = frozenset().union(*(n.module_facts for n in needs))
        return cls(_any_of(keeps), facts, timeouts, stores, module_facts)


def _any_of(keeps: tuple[Callable[[str], bool], ...]) -> Callable[[str], bool]:
    """One predicate keeping what any of ``keeps`` keeps (``_keep_none`` for none)."""
    if not keeps:
        return _keep_none
    if len(keeps) == 1:
        return keeps[0]
    return lambda name: any(keep(name) for keep in keeps)


class FunctionInfo(NamedTuple):
    """What the rules read about a function of the graph."""

    id: str
    name: str
    line: int
    col: int
    is_async: bool
    facts: Mapping[str, Any]  # the facts the enabled rules asked for (``ModelNeeds.facts``)


class TimeoutTarget(NamedTuple):
    """A call a timeout covers: ``kind`` "ext" (``name`` is dotted) or "fn" (a function id)."""

    kind: str
    name: str
    text: str


class TimeoutInfo(NamedTuple):
    """A timeout (``wait_for``, ``async with timeout``) and the calls it covers."""

    path: str
    kind: str
    function: str
    line: int
    col: int
    end_line: int
    end_col: int
    targets: tuple[TimeoutTarget, ...]


class ModuleRecord(NamedTuple):
    """One module's part of the graph, as plain rows (so marshal can store ``tuple(record)``).

    ``functions`` rows are :class:`FunctionInfo` fields; ``edges`` rows :class:`Edge`
    fields (sources in this module); ``externals`` rows are ``(function id, name, line,
    col, end_line, end_col, text, awaited)``; ``timeouts`` rows are :class:`TimeoutInfo` fields
    without the path, targets as :class:`TimeoutTarget` rows; ``entries`` rows are
    ``(function id, context)`` for the entry points this module declares (the function
    may live in another module; see ``project.contexts``); ``wiring`` rows are
    :class:`~sightlint.project.wiring.WiringInfo` fields without the path (when asked for).
    """

    module: str
    path: str
    functions: tuple[tuple[Any, ...], ...]
    edges: tuple[tuple[Any, ...], ...]
    externals: tuple[tuple[Any, ...], ...]
    timeouts: tuple[tuple[Any, ...], ...]
    entries: tuple[tuple[str, str], ...]
    wiring: tuple[tuple[Any, ...], ...] = ()
    # ``(name, value)`` of the module facts the rules asked for (``ModelNeeds.module_facts``).
    module_facts: tuple[tuple[str, Any], ...] = ()


def module_record(model: ProjectModel, summary: ModuleSummary, needs: ModelNeeds) -> ModuleRecord:
    """The record of one module of ``model`` (whose graph must be built for it)."""
    functions = []
    edges = []
    externals = []
    keep = needs.externals
    # The same external names recur across modules (``sqlalchemy.select().where``): ask
    # ``keep`` once per name and model.
    kept: dict[str, bool] = model.cache.setdefault(("kept externals", needs), {})
    facts = sorted(needs.facts)
    for fid, fn in summary.functions.items():
        functions.append((fid, fn.name, fn.line, fn.col, fn.is_async, _facts(fn, facts)))
        for edge in model.edges.get(fid, ()):
            edges.append(tuple(edge))
        for call in model.externals.get(fid, ()):
            name = call.name
            wanted = kept.get(name)
            if wanted is None:
                wanted = kept[name] = keep(name)
            if wanted:
                site = call.site
                externals.append((fid, call.name, site.line, site.col, site.end_line, site.end_col, site.text, site.awaited))
    timeouts = _resolved_timeouts(model, summary) if needs.timeouts else ()
    entries = tuple(model.entries_of(summary))
    wiring = wiring_rows(model, summary, needs.stores) if needs.stores is not _keep_none else ()
    module_facts = tuple(
        (name, _links(model, summary) if name == "links" else tuple(getattr(summary, name)))
        for name in sorted(needs.module_facts)
        if name == "links" or getattr(summary, name)
    )
    return ModuleRecord(
        summary.module, summary.path, tuple(functions), tuple(edges), tuple(externals), timeouts, entries, wiring, module_facts
    )


_PREFIXES = ("project modules among a name's prefixes",)


def _links(model: ProjectModel, summary: ModuleSummary) -> tuple[Any, ...]:
    """``(module, modules it imports, classes defined, last names of their bases)``: the
    module's part of the module-dependency graph :meth:`Graph.component` reads.

    The imports are the project modules among the dotted prefixes of the module's own name
    (its packages) and of what it imports, star imports included: a subset of
    ``model.module_dependencies`` (which holds every project module among the prefixes of
    any name the summary writes, and more), read without walking the summary (that walk
    is a cold run's cost per module). So the components drawn from them are never larger
    than ``sightlint.incremental``'s and a rule reading per component may run on one of
    those alone. The class-hierarchy terms are ``model.hierarchy_terms``, as there.
    Depends on the module's summary and the set of module names only."""
    modules = model.modules
    # name -> the project modules among its dotted prefixes and itself (the same imports
    # recur across a package's modules).
    known: dict[str, tuple[str, ...]] = model.cache.setdefault(_PREFIXES, {})
    found: set[str] = set()
    for name in (summary.module, *summary.imports.values(), *summary.star_imports):
        got = known.get(name)
        if got is None:
            within = []
            end = name.find(".")
            while end != -1:
                if name[:end] in modules:
                    within.append(name[:end])
                end = name.find(".", end + 1)
            if name in modules:
                within.append(name)
            got = known[name] = tuple(within)
        found.update(got)
    found.discard(summary.module)
    defines, extends = hierarchy_terms(summary)
    return (summary.module, tuple(sorted(found)), defines, extends)


def _facts(fn: FunctionSummary, names: list[str]) -> dict[str, Any]:
    return {name: getattr(fn, name) for name in names}


def _resolved_timeouts(model: ProjectModel, summary: ModuleSummary) -> tuple[tuple[Any, ...], ...]:
    """``summary``'s timeouts with their targets resolved; unresolvable targets dropped, and
    awaited external calls too (an awaitable, whatever its receiver's annotation says: not
    a sync call that keeps the timeout from firing)."""
    timeouts = []
    for timeout in summary.timeouts:
        targets = []
        for ref, awaited, _line, _col, text in timeout.targets:
            value = model.value(ref)
            if value is None:
                continue
            if isinstance(value, ExternalValue):
                if not awaited:
                    targets.append(("ext", value.dotted, text))
                continue
            target = model.call_target(value)
            if target is not None:
                targets.append(("fn", target[0], text))
        timeouts.append(
            (timeout.kind, timeout.function, timeout.line, timeout.col, timeout.end_line, timeout.end_col, tuple(targets))
        )
    return tuple(timeouts)


_COMPONENTS = "module components"


_Node = TypeVar("_Node", int, str)


def joined(nodes: Iterable[_Node], links: Iterable[tuple[_Node, _Node]]) -> dict[_Node, _Node]:
    """node -> the smallest node of its connected component, for the undirected ``links``
    among ``nodes`` (a link naming a node outside ``nodes`` is ignored). Shared by
    :meth:`Graph.component` and ``sightlint.incremental``'s components."""
    parent = {node: node for node in nodes}

    def find(node: _Node) -> _Node:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in links:
        if a in parent and b in parent:
            a, b = find(a), find(b)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {node: find(node) for node in parent}


def _components(module_facts: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """path -> component number, from the modules' "links" facts (see :func:`_links`): the
    weakly connected components of their dependencies plus class-hierarchy edges (each
    module defining a class ``N`` joined to each module with a class whose base is named
    ``N``), numbered by their first path in sorted order."""
    path_of: dict[str, str] = {}
    for path, facts in module_facts.items():
        links = facts.get("links")
        if links is not None:
            path_of[links[0]] = path
    defined_in: dict[str, list[str]] = {}
    for path in path_of.values():
        for name in module_facts[path]["links"][2]:
            defined_in.setdefault(name, []).append(path)
    pairs: list[tuple[str, str]] = []
    for path in path_of.values():
        _, dependencies, _, extends = module_facts[path]["links"]
        pairs.extend((path, other) for module in dependencies if (other := path_of.get(module)) is not None)
        pairs.extend((path, other) for name in extends for other in defined_in.get(name, ()))
    root = joined(path_of.values(), pairs)
    number = {first: index for index, first in enumerate(sorted(set(root.values())))}
    return {path: number[first] for path, first in root.items()}


class Graph:
    """The call graph of a run, built from module records; see the module docstring.

    ``functions``: id -> :class:`FunctionInfo`; ``edges``/``callers``: id -> the
    :class:`Edge` list out of/into the function; ``externals``: id -> the kept external
    calls; ``timeouts``: every :class:`TimeoutInfo`, in module order; ``entries``: id ->
    the contexts it is an entry point of (``project.contexts.where_code_runs`` reads
    them with the edges); ``wiring``: every :class:`~sightlint.project.wiring.WiringInfo`,
    in module order (when a rule asked for it). ``cache`` holds
    analyses rules of one run share (keyed by their inputs); ``third_party`` answers
    questions about installed classes (``thirdparty.ThirdPartyClasses``), when set.
    """

    def __init__(self, records: Iterable[Iterable[Any]]) -> None:
        self.functions: dict[str, FunctionInfo] = {}
        self.edges: dict[str, list[Edge]] = {}
        self.callers: dict[str, list[Edge]] = {}
        self.externals: dict[str, list[ExternalCall]] = {}
        self.timeouts: list[TimeoutInfo] = []
        self.entries: dict[str, frozenset[str]] = {}
        self.wiring: list[WiringInfo] = []
        self.cache: dict[Any, Any] = {}
        self.third_party: Any = None
        self._module: dict[str, tuple[str, str]] = {}  # function id -> (module, path)
        # path -> the module facts the rules asked for (``ModelNeeds.module_facts``), by name.
        self.module_facts: dict[str, dict[str, Any]] = {}
        self._display: dict[str, str] = {}
        self._rows_in: dict[str, Any] = {}  # path -> its module's function rows
        edges_in: list[tuple[tuple[Any, ...], ...]] = []
        entries: dict[str, set[str]] = {}
        # The hot part of a warm run after an edit (tens of thousands of rows at 700k
        # lines): rows become named tuples through ``tuple.__new__`` directly, which is what
        # ``_make`` does minus a call and a length check (records are only written by
        # ``module_record``, and cached ones only by the same sightlint code: the cache's
        # files are named by a hash of it, and sealed).
        new = tuple.__new__
        functions, modules = self.functions, self._module
        for module, path, function_rows, edge_rows, external_rows, timeout_rows, entry_rows, wiring_rows_, facts in records:
            where = (module, path)
            for row in wiring_rows_:
                self.wiring.append(WiringInfo(row[0], path, *row[1:]))
            if facts:
                self.module_facts[path] = dict(facts)
            self._rows_in[path] = function_rows
            for function in function_rows:
                fid = function[0]
                functions[fid] = new(FunctionInfo, function)
                modules[fid] = where
            edges_in.append(edge_rows)
            for fid, name, line, col, end_line, end_col, text, awaited in external_rows:
                site = CallSite(UNKNOWN_REF, line, col, end_line, end_col, text, (), awaited)  # the callee is not kept
                self.externals.setdefault(fid, []).append(ExternalCall(fid, name, site))
            for fid, context in entry_rows:
                entries.setdefault(fid, set()).add(context)
            for kind, function_id, line, col, end_line, end_col, targets in timeout_rows:
                self.timeouts.append(
                    TimeoutInfo(
                        path, kind, function_id, line, col, end_line, end_col, tuple(TimeoutTarget._make(t) for t in targets)
                    )
                )
        # An entry may be declared for a function the run does not hold (a stale record
        # cannot name one: records are rebuilt with the modules they depend on).
        self.entries = {fid: frozenset(contexts) for fid, contexts in entries.items() if fid in functions}
        out, into = self.edges, self.callers
        for edge_rows in edges_in:
            for fields in edge_rows:
                edge = new(Edge, fields)
                source, target = fields[0], fields[1]
                if source in out:
                    out[source].append(edge)
                else:
                    out[source] = [edge]
                if target in into:
                    into[target].append(edge)
                else:
                    into[target] = [edge]

    @classmethod
    def of(cls, model: ProjectModel, needs: ModelNeeds) -> Graph:
        """The graph of every module of ``model`` (built without a cache)."""
        summaries: dict[str, ModuleSummary] = {}
        for fid, summary in model.module_of.items():
            summaries.setdefault(summary.path, summary)
        # Modules without functions too: their wiring and entries (``app = FastAPI(lifespan=...)``),
        # their module facts (a schemas module of request models).
        for summary in model.modules.values():
            summaries.setdefault(summary.path, summary)
        return cls(module_record(model, summary, needs) for summary in summaries.values())

    def component(self, path: str) -> int:
        """The connected component of the import graph (packages, imports, class
        hierarchy: see ``_links``) holding the module at display path ``path``, as a
        number (equal numbers: one component; -1 without the "links" module fact,
        ``ModelNeeds.module_facts``). Each lies inside one component of the
        module-dependency graph ``sightlint.incremental`` draws.

        A rule that aggregates over modules (an app's limiter, error handlers, settings
        fields matched by name) aggregates per component, so its answer for a module
        depends only on the modules of its component and it may run on each component's
        graph alone (``Rule.project_scope``)."""
        found: dict[str, int] | None = self.cache.get(_COMPONENTS)
        if found is None:
            found = self.cache[_COMPONENTS] = _components(self.module_facts)
        return found.get(path, -1)

    def functions_in(self, path: str) -> list[FunctionInfo]:
        """The functions of the module at display path ``path`` (none for a path the graph does not hold)."""
        functions = self.functions
        return [functions[row[0]] for row in self._rows_in.get(path, ())]

    def path_of(self, fid: str) -> str:
        return self._module[fid][1]

    def display(self, fid: str) -> str:
        """``Class.method`` / ``function``: the id without its module."""
        shown = self._display.get(fid)
        if shown is None:
            module = self._module[fid][0]
            shown = fid[len(module) + 1 :] if fid.startswith(module + ".") else fid
            self._display[fid] = shown
        return shown

    def hop(self, edge: Edge) -> RelatedLocation:
        """``edge`` as a related location of a finding: where the call is, and what calls what."""
        via = f" ({edge.via})" if edge.via else ""
        thread = " in a thread" if edge.kind == "thread" else ""
        return RelatedLocation(
            self.path_of(edge.source),
            edge.line,
            edge.col,
            f"`{self.display(edge.source)}` calls `{self.display(edge.target)}`{via}{thread}",
        )

    def sync_callers_bfs(self, start: str) -> dict[str, Edge | None]:
        """Reverse BFS from ``start`` through sync callers: node -> edge toward ``start``.

        Async callers are included (they are where a chain starts) but not walked past."""
        return sync_callers_bfs(self.functions, self.callers, start)
