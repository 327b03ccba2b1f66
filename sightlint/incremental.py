"""Build the run's call graph from the files' module summaries, reusing cached module
records and, per component, the cross-file rules' answers.

Without a cache every summary goes into one :class:`ProjectModel` and every module gets a
fresh record. With a cache and the files' content digests, a module's record (see
``sightlint.project.graph``) is reused from the last run unless the module, or one that
resolving its names may consult (``model.module_dependencies``), changed: only those
*dirty* modules are resolved again, on a model holding just the summaries they can reach.
Either way the rules get a :class:`Graph` built from records, so what they see does not
depend on the cache.

The modules form weakly connected *components* of the module-dependency graph (the
dependencies plus class-hierarchy links, :func:`_with_subclasses`). The cache keeps a
small *index* (per module: digest, module, dependencies, hierarchy terms, component, and
whether the file's result holds errors) and one sealed file per component holding its
members' records and the project phase's answer for it (``api._component_rules``): a
component is named by a hash of what its records are resolved from, so an unchanged
component keeps its file, and only the files of the components a run analyses are
decoded. :class:`Plan` works the components out from the index (only those a changed
module was in or now links to are recomputed) and builds a :class:`Graph` of any of them
alone, or of the whole project for the rules that read all of it.
"""

from __future__ import annotations

import gc
import hashlib
import marshal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sightlint import engine, runner
from sightlint.cache import Cache, PackedSummary
from sightlint.models import FileResult
from sightlint.project.graph import Graph, ModelNeeds, ModuleRecord, joined, module_record
from sightlint.source import read_source
from sightlint.project.model import ProjectModel, dependencies as dependencies_of, modules_by_last
from sightlint.project.summary import DependencyTerms, ModuleSummary, dependency_terms
from sightlint.settings import Settings


# An index entry: (digest, module, dependencies, hierarchy terms, component name, whether
# the file's result holds errors).
_ENTRY_WIDTH = 6
_RECORD_WIDTH = len(ModuleRecord._fields)

# Modules whose records are resolved on one model: fewer models share more memoised
# answers, more hold more summaries at once (~26 KB per module, unpickled and modelled).
_RESOLVE_AT_ONCE = 1000
# Groups per worker when the kept pool's workers resolve them (see :meth:`Plan._ensure`).
_GROUPS_PER_WORKER = 4


def _stored_record(row: Any, digest: bytes | str) -> tuple[Any, ...] | None:
    """The record of a stored (content digest, record) row, if the row has that shape and
    was stored for the module's content ``digest``; else None (resolved again)."""
    if type(row) is tuple and len(row) == 2 and row[0] == digest and type(row[1]) is tuple and len(row[1]) == _RECORD_WIDTH:
        return row[1]
    return None


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


def _terms_of(result: FileResult) -> DependencyTerms | None:
    """The dependency terms of the result's module summary, read without unpickling the
    summary when it is packed (None: damaged). An unpacked summary's terms are freed once
    read (four sets per module at 700k lines add up)."""
    summary = result.summary
    if isinstance(summary, PackedSummary):
        terms: DependencyTerms | None = summary.terms()
        if terms is not None:
            return terms
    summary = summary_of(result)
    if summary is None:
        return None
    terms = summary.terms if summary.terms is not None else dependency_terms(summary)
    summary.terms = None
    return terms


def _resummarize(path: str, module: str) -> ModuleSummary | None:
    """The summary of the file at display path ``path``, read and walked again (no rules run)."""
    data = read_source(path)
    if isinstance(data, str):
        return None
    fresh = engine.check_source(data, path, Settings(), rules=(), module=module, summarize=True)
    return fresh.summary  # type: ignore[no-any-return]


def _full(results: Sequence[FileResult], needs: ModelNeeds) -> Graph:
    return Graph.of(ProjectModel(s for r in results if (s := summary_of(r)) is not None), needs)


class Component:
    """A weakly connected component of the module-dependency graph (``deps`` plus the
    class-hierarchy edges of :func:`_with_subclasses`), as this run sees it.

    ``key`` (16 bytes) hashes what its members' records are resolved from (each member's file key,
    content digest, dependencies and hierarchy terms); ``name`` (hex of the key) names its
    file in the cache; ``members`` are indexes into the plan's present modules, in order.
    """

    __slots__ = ("key", "name", "members", "paths")

    def __init__(self, key: bytes, members: list[int], paths: frozenset[str]) -> None:
        self.key = key
        self.name = key.hex()
        self.members = members
        self.paths = paths


class Plan:
    """The call graph of ``results``' modules split into components, with their records
    resolved or reused per component (see the module docstring).

    ``usable`` is False when per-module records cannot be used (no cache, two files claiming
    one module, a damaged summary): then only :meth:`whole` answers, from the summaries.
    """

    def __init__(
        self,
        results: Sequence[FileResult],
        needs: ModelNeeds,
        cache: Cache | None = None,
        digests: Sequence[bytes | str] | None = None,
        missing: frozenset[str] = frozenset(),
    ) -> None:
        """``missing``: display paths of results the run did not load (placeholders; see
        :func:`unneeded_files`): :class:`NeedResults` is raised for any the plan needs."""
        self.results = results
        self.missing = missing
        self.needs = needs
        self.cache = cache
        self.digests = digests
        self.usable = False
        self.components: list[Component] = []
        self.component_of: dict[str, Component] = {}  # display path -> its component
        self._whole: Graph | None = None
        self._records: dict[int, tuple[Any, ...]] = {}  # index into ``present`` -> record
        # Components whose records a worker sent back encoded as their file stores them
        # (``{file key: (digest, record)}`` in marshal, see :meth:`save`): name -> those bytes,
        # decoded into ``_records`` only if a graph of them is asked for (:meth:`_decoded_records`);
        # ``_encoded_at``: index into ``present`` -> its component's name, for those not decoded yet.
        self._encoded: dict[str, bytes] = {}
        self._encoded_at: dict[int, str] = {}
        self._stored: dict[str, tuple[bytes, bytes, bytes | None, Any] | None] = {}
        self._decoded: dict[str, dict[Any, Any]] = {}  # component name -> its stored records
        self._outputs: dict[str, tuple[bytes, Any]] = {}  # component name -> (output key, output) to store
        self._settled: set[str] = set()  # components whose records are all known this run
        # (settings fingerprint, codes of the project rules) when records may be resolved in
        # the kept pool's workers (see :meth:`_resolve_groups`; set by the caller).
        self.remote: tuple[str, tuple[str, ...]] | None = None
        # Set by the caller with ``remote``: the component-local rules' answers asked of the
        # workers with the records (see :meth:`answered`): (codes of those rules, display path
        # -> the encoded graded findings (index, finding) of its result or None, display path
        # -> (its fingerprint table, whether it holds a finding of its own), the cache folder or None).
        self.ask: tuple[tuple[str, ...], Callable[[str], list[Any] | None], Callable[[str], Any], str | None] | None = None
        # Per group of components resolved in a worker that answered too: (their names, answer).
        self._answers: list[tuple[frozenset[str], Any]] = []
        # Display path -> fingerprint parts by range that came with the answers (set by the caller).
        self.parts: dict[str, Any] = {}
        if cache is None or digests is None or len(digests) != len(results):
            return
        self._plan(cache, digests)

    def _plan(self, cache: Cache, digests: Sequence[bytes | str]) -> None:
        results = self.results
        # (index, file key, module) of each result with a summary, in order.
        present: list[tuple[int, tuple[str, str], str]] = []
        for index, result in enumerate(results):
            summary = result.summary
            if summary is None:
                continue
            module = summary.module  # a PackedSummary knows its module too
            present.append((index, (result.path, module), module))
        module_index = {module: position for position, (_, _, module) in enumerate(present)}
        if len(module_index) != len(present):  # two files claim one module: no per-module records
            return
        self.present = present
        self._key_of = {module: key for _, key, module in present}
        # repr, not marshal: marshal's output depends on which objects are shared.
        self.names_key = hashlib.sha256(repr([key for _, key, _ in present]).encode()).digest()
        stored = cache.load_index()
        old: dict[Any, Any] = stored[1] if stored is not None and stored[0] == self.names_key else {}
        if not old and self.missing:
            raise NeedResults(set(self.missing))
        self.old = old
        changed: list[int] = []
        deps: dict[str, tuple[str, ...]] = {}
        hierarchy: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        # Last run's component of each module (by name), while every module has one.
        groups: dict[str, list[int]] | None = {} if old else None
        for position, (index, key, module) in enumerate(present):
            # An entry of another shape is rebuilt. Checked inline: this loop runs once per
            # module of the project on every run.
            entry = old.get(key)
            if type(entry) is tuple and len(entry) == _ENTRY_WIDTH:
                digest, stored_module, dependencies, classes, group, _errors = entry
                if groups is not None:
                    if type(group) is str and len(group) == 32:
                        if group in groups:
                            groups[group].append(position)
                        else:
                            groups[group] = [position]
                    else:
                        groups = None
                if (
                    digest == digests[index]
                    and stored_module == module
                    and type(dependencies) is tuple
                    and type(classes) is tuple
                    and len(classes) == 2
                ):
                    deps[module] = dependencies
                    hierarchy[module] = classes
                    continue
            elif groups is not None:
                groups = None
            changed.append(position)
        by_last: dict[str, list[str]] | None = None
        # Module-name sets the pool's workers worked links out among (``PackedSummary.links``),
        # by identity -> whether every present module is in it (the links then hold.
        # ``dependencies`` picks among them: those among the present modules are the same).
        among_ok: dict[int, bool] = {}
        for position in changed:
            index, _, module = present[position]
            summary = results[index].summary
            links = summary.links if isinstance(summary, PackedSummary) else None
            if links is not None:
                among = links[0]
                ok = among_ok.get(id(among))
                if ok is None:
                    ok = among_ok[id(among)] = module_index.keys() <= among
                if ok:
                    deps[module] = links[1] if len(among) == len(module_index) else tuple(d for d in links[1] if d in module_index)
                    hierarchy[module] = (links[2], links[3])
                    continue
            terms = _terms_of(results[index])
            # A damaged cached summary (or one naming another module than its file's entry
            # does: bits flipped behind a valid seal): resolve nothing from the store.
            if terms is None:
                return
            if by_last is None:
                by_last = modules_by_last(module_index)
            deps[module] = dependencies_of(terms, module_index, by_last)
            hierarchy[module] = (terms.defines, terms.extends)
        self.deps, self.hierarchy = deps, hierarchy
        self.changed = {present[position][2] for position in changed}
        self.module_index = module_index
        self._consults_all: Mapping[str, Sequence[str]] | None = None
        self._components(groups)
        self.usable = True

    def _components(self, groups: dict[str, list[int]] | None) -> None:
        """Split the present modules into components, keyed by what their records are resolved from.

        With last run's components (``groups``: every module's, by name), only those the
        changed modules were in, or now link to, are worked out again: a link between two
        unchanged modules was there last run too, so they already shared a component."""
        present, deps, hierarchy, module_index = self.present, self.deps, self.hierarchy, self.module_index
        if groups is None:
            affected: Sequence[int] = range(len(present))
        else:
            group_of = {}
            for name, members in groups.items():
                for position in members:
                    group_of[position] = name
            names: set[str] = set()
            defined_in: dict[str, list[str]] | None = None
            extended_in: dict[str, list[str]] = {}
            for module in self.changed:
                position = module_index[module]
                names.add(group_of[position])
                for need in deps[module]:
                    other = module_index.get(need)
                    if other is not None:
                        names.add(group_of[other])
                defines, extends = hierarchy[module]
                if defines or extends:
                    if defined_in is None:
                        defined_in = {}
                        for name_, (classes, bases) in hierarchy.items():
                            for term in classes:
                                defined_in.setdefault(term, []).append(name_)
                            for term in bases:
                                extended_in.setdefault(term, []).append(name_)
                    for term in extends:
                        for other_module in defined_in.get(term, ()):
                            names.add(group_of[module_index[other_module]])
                    for term in defines:
                        for other_module in extended_in.get(term, ()):
                            names.add(group_of[module_index[other_module]])
            for name, members in groups.items():
                if name in names:
                    continue
                component = Component(bytes.fromhex(name), members, frozenset(present[p][1][0] for p in members))
                self.components.append(component)
                for path in component.paths:
                    self.component_of[path] = component
            affected = sorted(p for name in names for p in groups[name])
        self._scope = {present[p][2] for p in affected}
        scope_deps = deps if groups is None else {present[p][2]: deps[present[p][2]] for p in affected}
        scope_hierarchy = hierarchy if groups is None else {present[p][2]: hierarchy[present[p][2]] for p in affected}
        # The links among the affected modules: all of theirs (they link to no other module).
        self._consults_scope = _with_subclasses(scope_deps, scope_hierarchy)
        if groups is None:
            self._consults_all = self._consults_scope
        links = [
            (module_index[module], other)
            for module, needs in self._consults_scope.items()
            for need in needs
            if (other := module_index.get(need)) is not None
        ]
        root = joined(affected, links)
        found: dict[int, list[int]] = {}
        for position in affected:
            found.setdefault(root[position], []).append(position)
        digests = self.digests
        assert digests is not None
        for members in found.values():
            rows = []
            for position in members:
                index, key, module = present[position]
                rows.append((key, digests[index], deps[module], hierarchy[module]))
            component = Component(
                # repr, not marshal: marshal's output depends on which objects are shared.
                hashlib.sha256(repr(rows).encode()).digest()[:16],
                members,
                frozenset(present[position][1][0] for position in members),
            )
            self.components.append(component)
            for path in component.paths:
                self.component_of[path] = component

    def consults(self, modules: set[str]) -> Mapping[str, Sequence[str]]:
        """module -> the modules resolving it may consult, for at least ``modules`` (and
        everything they reach)."""
        if modules <= self._scope:
            return self._consults_scope
        if self._consults_all is None:
            self._consults_all = _with_subclasses(self.deps, self.hierarchy)
        return self._consults_all

    # -- records --------------------------------------------------------------------------

    def _stored_file(self, name: str, key: bytes | None) -> tuple[bytes, bytes, bytes | None, Any] | None:
        """The file of component ``name`` (None: missing or damaged); with ``key``, only if
        it was stored for that content key."""
        if name not in self._stored:
            assert self.cache is not None
            self._stored[name] = self.cache.load_component(name, None)
        stored = self._stored[name]
        if stored is None or key is not None and stored[0] != key:
            return None
        return stored

    def _stored_records(self, name: str, key: bytes | None) -> dict[Any, Any]:
        """The records stored in the file of component ``name`` (see :meth:`_stored_file`), decoded once."""
        stored = self._stored_file(name, key)
        if stored is None:
            return {}
        records = self._decoded.get(name)
        if records is None:
            try:
                records = marshal.loads(stored[1])
            except Exception:  # sightlint: ignore[SL201] damaged behind a valid seal: resolved again
                records = {}
            if type(records) is not dict:
                records = {}
            self._decoded[name] = records
        return records

    def _ensure(self, components: Sequence[Component]) -> None:
        """Make the records of ``components``' members known: from their own stored file, else
        from the files last run kept them in (unless they are dirty), else resolved again."""
        present, digests, records = self.present, self.digests, self._records
        assert digests is not None
        missing: list[int] = []
        groups: list[list[int]] = []
        # Per group: the components it holds whole (every member's record resolved in it), or None.
        wholes: list[list[Component] | None] = []
        whole: list[Component] | None = []
        dirty: set[str] | None = None
        limit = _RESOLVE_AT_ONCE
        workers = runner.kept_size() if self.remote is not None else 0
        if workers > 1:
            # Groups sized to keep every worker busy to the end: the last worker to finish
            # holds the main process up (at 200k lines, groups of 1,000 modules left one worker
            # a whole group behind the other).
            total = sum(len(component.members) for component in components if component.name not in self._settled)
            limit = max(1, min(limit, -(-total // (workers * _GROUPS_PER_WORKER))))
        for component in components:
            if component.name in self._settled:
                continue
            own = self._stored_records(component.name, component.key)
            before = len(missing)
            for position in component.members:
                if position in records or position in self._encoded_at:
                    continue
                index, key, module = present[position]
                row = own.get(key)
                if row is None and module not in self.changed:
                    if dirty is None:
                        dirty = self._dirty()
                    if module not in dirty:
                        entry = self.old.get(key)
                        if entry is not None and type(entry[4]) is str:
                            # Another component's file: checked by digest below.
                            row = self._stored_records(entry[4], None).get(key)
                record = _stored_record(row, digests[index])
                if record is not None:
                    records[position] = record
                else:
                    missing.append(position)
            self._settled.add(component.name)
            if whole is not None:
                if len(missing) - before == len(component.members):
                    whole.append(component)
                else:
                    whole = None
            # Resolved a group of components at a time (what a module's record is resolved
            # from lies in its component): only that group's summaries are unpickled at once.
            if len(missing) >= limit:
                groups.append(missing)
                wholes.append(whole)
                missing, whole = [], []
        if missing:
            groups.append(missing)
            wholes.append(whole)
        self._resolve_groups(groups, wholes)

    def _resolve_groups(self, groups: list[list[int]], wholes: list[list[Component] | None] | None = None) -> None:
        """Resolve the records of each group of modules (see :meth:`_resolve`): in the kept
        pool's workers (``runner.keeping_workers``), idle once the files are checked, when
        there are several groups, each handed the pickled summaries it reads as the workers
        produced them; a group a worker cannot do (a summary not pickled, a damaged one,
        other settings, a lost worker) is resolved here. The records are the same either way:
        each group is resolved on a model of its own summaries, in the same order.

        With :attr:`ask`, a group of whole components (``wholes``) is also answered there
        (see :meth:`answered`)."""
        pool: Any = runner.kept_workers() if len(groups) > 1 and self.remote is not None else None
        sent: list[tuple[list[int], Any]] = []
        asked: dict[int, frozenset[str]] = {}  # id of a group's positions -> the components it answers
        wholes_of: dict[int, list[Component]] = {}  # the same groups -> those components, in order
        for number, positions in enumerate(groups):
            job = self._job(positions) if pool is not None else None
            whole = wholes[number] if wholes is not None else None
            if job is not None and self.ask is not None and whole:
                job = (*job, self._question(positions, whole), self._layout(positions, whole))
                asked[id(positions)] = frozenset(component.name for component in whole)
                wholes_of[id(positions)] = whole
            future = None
            if job is not None and pool is not None:
                try:
                    future = pool.submit(_resolve_remote, *job)
                except Exception:  # sightlint: ignore[SL201] the pool is gone: resolved here
                    pool = None
            if future is None:
                self._resolve(positions)
            else:
                sent.append((positions, future))
        if self.cache is not None:
            self.cache.go()  # the pack's writing held for this moment (``runner.check_files_as_read``)
        present = self.present
        answers: list[tuple[list[int], Any]] = []
        for positions, future in sent:
            try:
                answers.append((positions, future.result()))
            except Exception:  # sightlint: ignore[SL201] a worker failed: resolved here
                answers.append((positions, None))
        if sent:
            # The workers' part of the run is done: their memory is given back before the
            # graph is built here (the peak of a cold run counts every process).
            runner.release_workers()
        for positions, blob in answers:
            try:
                rows = marshal.loads(blob) if blob is not None else None
            except Exception:  # sightlint: ignore[SL201] damaged: resolved here
                rows = None
            names = asked.get(id(positions))
            if names is not None:
                whole = wholes_of[id(positions)]
                if (
                    type(rows) is tuple
                    and len(rows) == 2
                    and type(rows[0]) is list
                    and len(rows[0]) == len(whole)
                    and all(type(blob) is bytes for blob in rows[0])
                ):
                    encoded, answer = rows
                    if answer is not None:
                        self._answers.append((names, answer))
                    # Kept encoded: decoded only if a graph of them is asked for (a cold
                    # run whose workers answered for every component never does); checked then.
                    for component, blob in zip(whole, encoded):
                        self._encoded[component.name] = blob
                        for position in component.members:
                            self._encoded_at[position] = component.name
                    continue
                rows = None
            if (
                type(rows) is list
                and len(rows) == len(positions)
                and all(type(row) is tuple and len(row) == _RECORD_WIDTH and row[0] == present[p][2] for row, p in zip(rows, positions))
            ):
                for position, row in zip(positions, rows):
                    self._records[position] = row
            else:
                self._resolve(positions)

    def _job(self, positions: list[int]) -> tuple[Any, ...] | None:
        """The arguments of :func:`_resolve_remote` for the modules at ``positions`` (None:
        a summary it reads is not pickled)."""
        present, results, module_index = self.present, self.results, self.module_index
        wanted = [present[position][2] for position in positions]
        needed = sorted(module_index[module] for module in _closure(set(wanted), self.consults(set(wanted))))
        modules: list[str] = []
        blobs: list[bytes] = []
        for position in needed:
            index, _, module = present[position]
            summary = results[index].summary
            if not isinstance(summary, PackedSummary) or summary.module != module or not summary.blob:
                return None
            modules.append(module)
            blobs.append(summary.blob)
        return self.remote, modules, blobs, wanted

    def _question(self, positions: list[int], whole: list[Component]) -> tuple[Any, ...]:
        """What a worker needs besides the summaries to answer for the components ``whole``
        (the modules at ``positions``): see :func:`_resolve_remote`."""
        assert self.ask is not None
        codes, graded, tables, folder = self.ask
        paths = {path for component in whole for path in component.paths}
        # The graph's records in the project's module order, as :meth:`graph` builds it.
        order = sorted(range(len(positions)), key=positions.__getitem__)
        # In the results' order, as ``api._grade`` grades them.
        ordered = [result.path for result in self.results if result.path in paths]
        held = [(path, items) for path in ordered if (items := graded(path))]
        return codes, order, held, [(path, tables(path)) for path in ordered], folder

    def _layout(self, positions: list[int], whole: list[Component]) -> list[list[tuple[int, Any, Any]]]:
        """For a group of whole components (the modules at ``positions``): per component,
        its members as (index into ``positions``, file key, digest), in member order: what
        a worker needs to encode the component's records as :meth:`save` stores them."""
        present, digests = self.present, self.digests
        assert digests is not None
        at = {position: number for number, position in enumerate(positions)}
        return [
            [(at[p], present[p][1], digests[present[p][0]]) for p in component.members]
            for component in whole
        ]

    def _decoded_records(self, positions: Sequence[int]) -> None:
        """Decode the records of ``positions`` that a worker sent back encoded (their whole
        components'); a component whose bytes do not give back its members' records (shape,
        module, digest) is resolved here."""
        names = {name for position in positions if (name := self._encoded_at.get(position)) is not None}
        if not names:
            return
        present, digests = self.present, self.digests
        assert digests is not None
        for component in self.components:
            if component.name not in names:
                continue
            try:
                rows = marshal.loads(self._encoded[component.name])
            except Exception:  # sightlint: ignore[SL201] damaged: resolved here
                rows = None
            for position in component.members:
                del self._encoded_at[position]
            found: dict[int, tuple[Any, ...]] = {}
            if type(rows) is dict and len(rows) == len(component.members):
                for position in component.members:
                    index, key, module = present[position]
                    record = _stored_record(rows.get(key), digests[index])
                    if record is not None and record[0] == module:
                        found[position] = record
            if len(found) == len(component.members):
                self._records.update(found)
            else:
                del self._encoded[component.name]  # not stored as it is either
                self._resolve(list(component.members))

    def answered(self, components: Sequence[Component]) -> tuple[list[Any], list[Any], dict[str, Any]] | None:
        """Make the records of ``components`` known (as :meth:`graph`), and when the workers
        answered for every one of them (:attr:`ask`): the component-local rules' encoded
        cross-file findings, the grades ((display path, index, encoded finding), see
        ``api._grade``), and the fingerprint parts of the cross-file findings' ranges by
        display path (what ``reporting.fingerprint`` would work out from the tables).
        None when any was not answered there: the caller works them out."""
        self.check_loaded(components)
        self._ensure(components)
        names = {component.name for component in components}
        covered: set[str] = set()
        cross: list[Any] = []
        grades: list[Any] = []
        parts: dict[str, Any] = {}
        for held, answer in self._answers:
            if held <= names:
                covered |= held
                found, graded, located = answer
                cross.extend(found)
                grades.extend(graded)
                parts.update(located)
        return (cross, grades, parts) if covered == names and names else None

    def _dirty(self) -> set[str]:
        """The modules whose stored record may be stale: the changed ones and every module
        that (transitively) consults one, now or, through a class hierarchy a changed module
        left, last run."""
        seeds = set(self.changed)
        defined_in: dict[str, list[str]] | None = None
        for module in self.changed:
            entry = self.old.get(self._key_of[module])
            if type(entry) is not tuple or len(entry) != _ENTRY_WIDTH or type(entry[3]) is not tuple or len(entry[3]) != 2:
                continue
            if defined_in is None:
                defined_in = {}
                for other, (defines, _) in self.hierarchy.items():
                    for name in defines:
                        defined_in.setdefault(name, []).append(other)
            for name in entry[3][1]:  # a base class it extended: its module consulted this one
                seeds.update(defined_in.get(name, ()))
        return _closure(seeds, _reversed(self.consults(seeds)))

    def _resolve(self, positions: list[int]) -> None:
        """Resolve the records of the modules at ``positions`` on a model of what they consult."""
        present, results, module_index = self.present, self.results, self.module_index
        wanted = {present[position][2] for position in positions}
        needed = sorted(module_index[module] for module in _closure(wanted, self.consults(wanted)))
        # The summaries as the pool or the cache handed them over (pickled): put back once
        # the records are built, so the unpickled summaries and the model are freed before
        # the next group of components is resolved (at 700k lines a whole project's
        # unpickled summaries are ~260 MB, 5x their pickles).
        packed = {
            index: summary
            for position in needed
            if isinstance(summary := results[index := present[position][0]].summary, PackedSummary)
        }
        ordered: list[ModuleSummary] = []
        for position in needed:
            index, _, module = present[position]
            summary = summary_of(results[index])
            if summary is None or summary.module != module:
                raise ValueError(f"the summary of {module} is damaged")
            ordered.append(summary)
        model = ProjectModel(ordered, graph_of=[s for s in ordered if s.module in wanted])
        for position in positions:
            self._records[position] = tuple(module_record(model, model.modules[present[position][2]], self.needs))
        del model, ordered
        for index, blob in packed.items():
            results[index].summary = blob

    def graph(self, components: Sequence[Component]) -> Graph:
        """The graph of ``components``' modules alone (records in the project's module order)."""
        self.check_loaded(components)
        self._ensure(components)
        chosen = sorted(position for component in components for position in component.members)
        self._decoded_records(chosen)
        return Graph(self._records[position] for position in chosen)

    def check_loaded(self, components: Sequence[Component]) -> None:
        """Raise :class:`NeedResults` if a result of ``components`` was not loaded."""
        if self.missing:
            needed = {path for component in components for path in component.paths if path in self.missing}
            if needed:
                raise NeedResults(needed)

    def whole(self) -> Graph:
        """The graph of every module (built once)."""
        if self.missing:
            raise NeedResults(set(self.missing))
        if self._whole is None:
            if not self.usable:
                self._whole = _full(self.results, self.needs)
            else:
                self._ensure(self.components)
                self._decoded_records(range(len(self.present)))
                self._whole = Graph(self._records[position] for position in range(len(self.present)))
        return self._whole

    # -- the project phase's output per component ------------------------------------------

    def output(self, component: Component, output_key: bytes) -> Any:
        """The output stored for ``component`` under ``output_key``, or None."""
        stored = self._stored_file(component.name, component.key)
        if stored is None or stored[2] != output_key:
            return None
        return stored[3]

    def keep_output(self, component: Component, output_key: bytes, output: Any) -> None:
        """Store ``output`` (marshal-able) for ``component`` at :meth:`save`."""
        self._outputs[component.name] = (output_key, output)

    def save(self) -> None:
        """Write the index and the component files that changed; drop unused component files."""
        cache = self.cache
        if cache is None or not self.usable or cache.unusable is not None:
            return  # without a key nothing is written, nor deleted
        digests = self.digests
        assert digests is not None
        present, records = self.present, self._records
        entries: dict[Any, Any] = {}
        fresh: dict[Any, Any] = {}
        live: set[str] = set()
        wrote = False
        for component in self.components:
            encoded = self._encoded.get(component.name)
            settled = component.name in self._settled and (
                encoded is not None or all(p in records for p in component.members)
            )
            if not settled:
                # Not looked at this run (``check FILES``): last run's entries stand, and the
                # files they point to.
                for position in component.members:
                    key = present[position][1]
                    entry = self.old.get(key)
                    if entry is not None:
                        entries[key] = entry
                        if type(entry[4]) is str:
                            live.add(entry[4])
                continue
            live.add(component.name)
            stored = self._stored.get(component.name)
            output = self._outputs.get(component.name)
            has_all = (
                stored is not None
                and stored[0] == component.key
                and all(present[p][1] in self._stored_records(component.name, component.key) for p in component.members)
            )
            if not has_all or output is not None:
                # As the worker that resolved them encoded them, or encoded here.
                rows: dict[Any, Any] | bytes = (
                    encoded
                    if encoded is not None
                    else {present[p][1]: (digests[present[p][0]], records[p]) for p in component.members}
                )
                if output is None and stored is not None and stored[0] == component.key and stored[2] is not None:
                    output = (stored[2], stored[3])
                output_key, value = output if output is not None else (None, None)
                cache.save_component(component.name, component.key, rows, output_key, value)
                wrote = True
            for position in component.members:
                index, key, module = present[position]
                entry = (digests[index], module, self.deps[module], self.hierarchy[module], component.name, bool(self.results[index].errors))
                entries[key] = entry
                if self.old.get(key) != entry:
                    fresh[key] = entry
        if fresh or len(entries) != len(self.old):
            cache.save_index(self.names_key, entries, fresh)
        if (wrote or fresh) and cache.write_error is None:
            cache.prune_components(live)


_REMOTE_NEEDS: dict[tuple[str, tuple[str, ...]], ModelNeeds] = {}


def _resolve_remote(
    remote: tuple[str, tuple[str, ...]],
    modules: list[str],
    blobs: list[bytes],
    wanted: list[str],
    question: Any = None,
    layout: list[list[tuple[int, Any, Any]]] | None = None,
) -> bytes:
    """In a pool worker: :meth:`Plan._resolve` of the ``wanted`` modules from the pickled
    summaries (``PackedSummary`` blobs) of ``modules``, the records marshalled in ``wanted``'s
    order. Raises if the worker's settings or project rules are not ``remote``'s, or a summary
    is damaged (the caller then resolves the group itself).

    With a ``question`` (:meth:`Plan._question`: the ``wanted`` modules are whole
    components) and their ``layout`` (:meth:`Plan._layout`), (records, answer) are
    marshalled: the records of each component encoded as its cache file stores them
    (marshal of ``{file key: (digest, record)}``, see :meth:`Plan.save`), the answer being
    what :func:`_answer` gives (None if a rule failed: the caller then runs the rules itself)."""
    from sightlint.cache import settings_fingerprint
    from sightlint.rules.base import uses_project

    needs = _REMOTE_NEEDS.get(remote)
    if needs is None:
        settings, rules = runner.worker_state()
        if settings is None:
            raise RuntimeError("not a worker")
        project = [rule for rule in rules if uses_project(rule)]
        if (settings_fingerprint(settings), tuple(rule.meta.code for rule in project)) != remote:
            raise RuntimeError("the worker checks with other settings")
        needs = _REMOTE_NEEDS[remote] = ModelNeeds.union(rule.model_needs(settings) for rule in project)
    collecting = gc.isenabled()
    gc.disable()  # as in the main process's phase (``api.project_phase``)
    try:
        ordered: list[ModuleSummary] = []
        for module, blob in zip(modules, blobs):
            summary = PackedSummary(blob, module).load()
            if not isinstance(summary, ModuleSummary) or summary.module != module:
                raise ValueError(f"the summary of {module} is damaged")
            ordered.append(summary)
        chosen = set(wanted)
        model = ProjectModel(ordered, graph_of=[s for s in ordered if s.module in chosen])
        rows = [tuple(module_record(model, model.modules[module], needs)) for module in wanted]
        if question is None or layout is None:
            return marshal.dumps(rows)
        del model, ordered
        try:
            answer = _answer(rows, question)
        except Exception:  # sightlint: ignore[SL201] a rule failed: the caller runs the rules and reports it
            answer = None
        encoded = [marshal.dumps({key: (digest, rows[at]) for at, key, digest in members}) for members in layout]
        return marshal.dumps((encoded, answer))
    finally:
        if collecting:
            gc.enable()


def _answer(rows: list[tuple[Any, ...]], question: tuple[Any, ...]) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """In a pool worker: what ``api._component_rules`` works out for whole components from
    their records ``rows``: the cross-file findings of the component-local rules whose
    ``codes`` the question names, the grades of the graded findings it holds, each encoded,
    and the fingerprint parts of the findings' ranges (by display path, from the files'
    tables: the file's own findings' and the cross-file findings'; ``reporting.fingerprint``
    takes them from the memo). Raises when a rule does."""
    from sightlint.cache import Cache, decode_findings, encode_findings
    from sightlint.project.thirdparty import FILE_NAME, ThirdPartyClasses
    from sightlint.semantics.prints import load
    from sightlint.source import SourceError, decode_source

    codes, order, held, tables, folder = question
    settings, rules = runner.worker_state()
    assert settings is not None
    by_code = {rule.meta.code: rule for rule in rules}
    chosen = [by_code[code] for code in codes]
    graph = Graph(rows[i] for i in order)
    graph.third_party = ThirdPartyClasses(Path(folder) / FILE_NAME, Cache(Path(folder), settings)) if folder else ThirdPartyClasses()
    graded = {rule.meta.code: rule for rule in chosen if rule.graded}
    grades: list[tuple[str, int, Any]] = []
    if graded:
        where: dict[tuple[str, int, int], str] = {}
        for path, _ in held:
            for info in graph.functions_in(path):
                where[(path, info.line, info.col)] = info.id
        for path, items in held:
            for index, item in items:
                finding = decode_findings([item])[0]
                rule = graded.get(finding.code)
                if rule is None or finding.function is None:
                    continue
                new = rule.grade(finding, where.get((path, *finding.function)), graph, settings)
                if _overridden(new, settings) != finding:
                    grades.append((path, index, encode_findings([new])[0]))
    found = [f for rule in chosen if rule.cross_file for f in rule.check_project(graph, settings)]
    graph.third_party.save()
    ranges: dict[str, list[tuple[int, int, int, int]]] = {}
    for f in found:
        ranges.setdefault(f.path, []).append((f.span.line, f.span.col, f.span.end_line, f.span.end_col))
    located: dict[str, dict[tuple[int, int, int, int], tuple[str, str]]] = {}
    for path, (blob, own) in tables:
        wanted = ranges.get(path, [])
        if not (wanted or own):
            continue  # no finding there: its table holds no parts (not decoded)
        table = load(blob)
        # A table holds the parts of the file's own findings' ranges: a file with none and
        # no cross-file finding is not reported on.
        if table is None or not (wanted or table.parts):
            continue
        # The lines as the report reads them (``reporting._common.SourceLines``): a file it
        # could not read has other parts (the findings' messages), worked out there.
        try:
            file = Path(path)
            lines = decode_source(file.read_bytes()).split("\n") if file.is_file() else None
        except (OSError, ValueError, SourceError):
            lines = None
        if lines is not None:
            parts = dict(table.parts)
            if wanted:
                parts.update((r, part) for r, part in table.answer(wanted, lines).items() if part is not None)
            located[path] = parts
    return encode_findings(found), grades, located


def _overridden(finding: Any, settings: Settings) -> Any:
    """``finding`` at the severity ``[tool.sightlint.severity]`` sets for its code (``api._overridden``)."""
    override = settings.severity.get(finding.code)
    if override is None or override is finding.severity:
        return finding
    import dataclasses

    return dataclasses.replace(finding, severity=override)


class NeedResults(Exception):
    """The project phase needs the results of these files (display paths), which the run
    did not load (see :func:`unneeded_files`)."""

    def __init__(self, paths: set[str]) -> None:
        super().__init__(f"{len(paths)} results not loaded")
        self.paths = paths


def unneeded_files(
    cache: Cache, files: Sequence[tuple[str, str | None]], digests: Sequence[bytes | str], named: frozenset[str]
) -> dict[int, str] | None:
    """For a run on the ``named`` files of a project whose cross-file rules are all
    component-local: the files (index -> module) whose per-file results it need not load,
    by last run's index: unchanged files without errors, outside the components of the named
    files and of the changed ones. None when the index cannot tell (a file added or removed,
    a named file it does not know). ``files`` are (display path, module) in the run's order.

    What a run on the named files reports of such a file is nothing: its own findings are not
    reported, and a cross-file finding whose chain passes through a named file is in the named
    file's component. If the components of this run join one of them to a named file's, the
    project phase asks for their results (:class:`NeedResults`)."""
    stored = cache.load_index()
    if stored is None:
        return None
    tag, entries = stored
    groups: list[str | None] = []
    keys: list[tuple[str, str]] = []
    wanted: set[str] = set()
    for (path, module), digest in zip(files, digests):
        if module is None:
            groups.append(None)
            continue
        key = (path, module)
        entry = entries.get(key)
        if type(entry) is not tuple or len(entry) != _ENTRY_WIDTH or type(entry[4]) is not str:
            return None  # a new file, or one without a module summary last run
        keys.append(key)
        if entry[0] != digest or entry[5] or path in named:
            wanted.add(entry[4])
            groups.append(None)
        else:
            groups.append(entry[4])
    if len(keys) != len(entries) or hashlib.sha256(repr(keys).encode()).digest() != tag:
        return None
    if not named.issubset({path for path, _ in files}):
        return None
    return {index: files[index][1] or "" for index, group in enumerate(groups) if group is not None and group not in wanted}


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
    plan = Plan(results, needs, cache, digests)
    graph = plan.whole()
    plan.save()
    return graph


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
