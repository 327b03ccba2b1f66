"""Build the run's call graph from the files' module summaries, reusing cached module records.

Without a cache every summary goes into one :class:`ProjectModel` and every module gets a
fresh record. With a cache and the files' content digests, a module's record (see
``sightlint.project.graph``) is reused from the last run unless the module, or one that
resolving its names may consult (``model.module_dependencies``), changed: only those
*dirty* modules are resolved again, on a model holding just the summaries they can reach.
Either way the rules get a :class:`Graph` built from records, so what they see does not
depend on the cache.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sightlint import engine
from sightlint.cache import Cache, PackedSummary
from sightlint.models import FileResult
from sightlint.project.graph import Graph, ModelNeeds, ModuleRecord, module_record
from sightlint.source import read_source
from sightlint.project.model import ProjectModel, hierarchy_terms, module_dependencies
from sightlint.project.summary import ModuleSummary
from sightlint.settings import Settings


class StoredRecord(NamedTuple):
    """A module's cached record and what it was resolved from."""

    digest: bytes | str  # the file's content digest
    module: str
    dependencies: tuple[str, ...]  # modules resolving it may consult
    record: tuple[Any, ...]  # ``tuple(ModuleRecord)``, as marshal stores it
    hierarchy: tuple[tuple[str, ...], tuple[str, ...]]  # ``model.hierarchy_terms``


_STORED_WIDTH = len(StoredRecord._fields)
_RECORD_WIDTH = len(ModuleRecord._fields)


def summary_of(result: FileResult) -> ModuleSummary | None:
    """The result's module summary, unpacked from the cache if needed (or None)."""
    summary = result.summary
    if isinstance(summary, PackedSummary):
        module = summary.module
        summary = summary.load()
        if not isinstance(summary, ModuleSummary) or summary.module != module:
            # Damaged in the cache (bits flipped behind a valid seal can unpickle as any
            # object): summarise the file again.
            summary = _resummarize(result.path, module)
        result.summary = summary
    return summary  # type: ignore[no-any-return]


def _resummarize(path: str, module: str) -> ModuleSummary | None:
    """The summary of the file at display path ``path``, read and walked again (no rules run)."""
    data = read_source(path)
    if isinstance(data, str):
        return None
    fresh = engine.check_source(data, path, Settings(), rules=(), module=module, summarize=True)
    return fresh.summary  # type: ignore[no-any-return]


def _full(results: Sequence[FileResult], needs: ModelNeeds) -> Graph:
    return Graph.of(ProjectModel(s for r in results if (s := summary_of(r)) is not None), needs)


def call_graph(
    results: Sequence[FileResult],
    needs: ModelNeeds,
    *,
    cache: Cache | None = None,
    digests: Sequence[bytes | str] | None = None,
) -> Graph:
    """The call graph of ``results``' modules, carrying what ``needs`` asks for.

    ``digests`` are the results' content digests, in the same order; with a ``cache``,
    records of modules whose inputs did not change are reused (see the module docstring).
    """
    if cache is None or digests is None or len(digests) != len(results):
        return _full(results, needs)
    # (index, file key, module) of each result with a summary, in order.
    present: list[tuple[int, tuple[str, str], str]] = []
    for index, result in enumerate(results):
        summary = result.summary
        if summary is None:
            continue
        module = summary.module  # a PackedSummary knows its module too
        present.append((index, (result.path, module), module))
    module_index = {module: index for index, _, module in present}
    if len(module_index) != len(present):  # two files claim one module: no per-module records
        return _full(results, needs)
    by_last: dict[str, list[str]] = {}
    for module in module_index:
        by_last.setdefault(module.rpartition(".")[2], []).append(module)
    names_key = hashlib.sha256(marshal.dumps([key for _, key, _ in present])).digest()
    stored = cache.load_graph()
    old: dict[Any, Any] = stored[1] if stored is not None and stored[0] == names_key else {}
    changed: list[int] = []
    deps: dict[str, tuple[str, ...]] = {}
    hierarchy: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for index, key, module in present:
        # A stored entry of another shape is rebuilt. Checked inline, without building a
        # StoredRecord: this loop runs once per module of the project on every run.
        entry = old.get(key)
        if type(entry) is tuple and len(entry) == _STORED_WIDTH:
            digest, stored_module, dependencies, record, classes = entry
            if (
                digest == digests[index]
                and stored_module == module
                and type(dependencies) is tuple
                and type(record) is tuple
                and len(record) == _RECORD_WIDTH
                and type(classes) is tuple
                and len(classes) == 2
            ):
                deps[module] = dependencies
                hierarchy[module] = classes
                continue
        changed.append(index)
    named = {index: module for index, _, module in present}
    # The summaries as the pool or the cache handed them over (pickled): put back once the
    # records are built, so the unpickled summaries and the model are freed before the
    # rules and the report run (at 700k lines they are ~300 MB of a cold run's peak).
    packed = {index: results[index].summary for index, _, _ in present if isinstance(results[index].summary, PackedSummary)}
    for index in changed:
        summary = summary_of(results[index])
        # A damaged cached summary (or one naming another module than its file's entry
        # does: bits flipped behind a valid seal): resolve nothing from the store.
        if summary is None or summary.module != named[index]:
            return _full(results, needs)
        deps[summary.module] = module_dependencies(summary, module_index, by_last)
        hierarchy[summary.module] = hierarchy_terms(summary)
        summary.terms = None  # read once: free them (four sets per module at 700k lines add up)
    # Dirty: the changed modules and every module that (transitively) depends on one; what
    # resolving them may consult: everything they (transitively) depend on.
    consults = _with_subclasses(deps, hierarchy)
    dirty = _closure({results[index].summary.module for index in changed}, _reversed(consults))
    needed = _closure(dirty, consults)
    loaded: dict[str, ModuleSummary] = {}
    for index, _, module in present:
        if module in needed:
            summary = summary_of(results[index])
            if summary is None or summary.module != module:
                return _full(results, needs)
            loaded[module] = summary
    ordered = [loaded[module] for _, _, module in present if module in needed]
    model = ProjectModel(ordered, graph_of=[s for s in ordered if s.module in dirty])
    entries: dict[Any, Any] = {}
    fresh: dict[Any, Any] = {}
    records: list[tuple[Any, ...]] = []
    for index, key, module in present:
        if module in dirty:
            record = tuple(module_record(model, loaded[module], needs))
            stored_record = StoredRecord(digests[index], module, deps[module], record, hierarchy[module])
            entries[key] = fresh[key] = tuple(stored_record)
        else:
            entries[key] = old[key]
        records.append(entries[key][3])
    del model, loaded, ordered
    for index, blob in packed.items():
        results[index].summary = blob
    if dirty or len(old) != len(entries):
        cache.save_graph(names_key, entries, fresh)
    return Graph(records)


def _with_subclasses(
    deps: Mapping[str, tuple[str, ...]], hierarchy: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]
) -> Mapping[str, Sequence[str]]:
    """``deps`` plus, for class-hierarchy analysis, each module defining a class named
    ``N`` depending on each module with a class derived from an ``N`` (see
    ``model.hierarchy_terms``)."""
    defined_in: dict[str, list[str]] = {}
    for module, (defines, _) in hierarchy.items():
        for name in defines:
            defined_in.setdefault(name, []).append(module)
    extra: dict[str, list[str]] = {}
    for module, (_, extends) in hierarchy.items():
        for name in extends:
            for base_module in defined_in.get(name, ()):
                if base_module != module:
                    extra.setdefault(base_module, []).append(module)
    if not extra:
        return deps
    return {module: [*needs, *extra.get(module, ())] for module, needs in deps.items()}


def _closure(start: set[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    """``start`` and every module reached from it along ``edges`` (module -> modules)."""
    found = set(start)
    queue = list(start)
    while queue:
        for other in edges.get(queue.pop(), ()):
            if other not in found:
                found.add(other)
                queue.append(other)
    return found


def _reversed(deps: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """module -> the modules that depend on it."""
    dependents: dict[str, list[str]] = {}
    for module, needs in deps.items():
        for need in needs:
            dependents.setdefault(need, []).append(module)
    return dependents
