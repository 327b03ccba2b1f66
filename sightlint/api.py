"""Check many files: the layer between the pure engine and the CLI.

``check_sources`` works on text held in memory (tests, editors); ``check_paths`` finds
and reads files. Both run the per-file rules through :func:`engine.check_source` and
then the cross-file phase on the project model.

``check_paths`` on some files of a project analyses the whole project around them (a
blocking helper in an unchanged module is still reached from the new ``async def`` that
calls it) and reports what concerns the files: see :func:`concerning`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import contextlib
import dataclasses
import gc
import hashlib
import os

from sightlint import runner
from sightlint.cache import Cache
from sightlint.files import Discovery, SourceFile, discover, project_root
from sightlint.models import FileResult, Finding, RunResult
from sightlint.registry import enabled_index, enabled_rules
from sightlint.rules.base import uses_project
from sightlint.settings import Settings

if TYPE_CHECKING:
    from sightlint.project.graph import Graph
    from sightlint.rules.base import Rule


def check_source(source: str | bytes, path: str, settings: Settings, *, module: str | None = None) -> FileResult:
    """One file's per-file findings, with the rules ``settings`` enable (no cross-file phase)."""
    from sightlint import engine

    return engine.check_source(source, path, settings, rules=enabled_rules(settings), module=module)


def check_sources(
    sources: Mapping[str, str | bytes],
    settings: Settings,
    *,
    modules: Mapping[str, str | None] | None = None,
) -> RunResult:
    """Check in-memory files keyed by display path; ``modules`` gives their module names."""
    from sightlint import engine

    run = RunResult()
    rules = enabled_rules(settings)
    for path, source in sources.items():
        module = (modules or {}).get(path) or _guess_module(path)
        run.files.append(engine.check_source(source, path, settings, rules=rules, module=module))
    run.errors.extend(project_phase(run.files, settings))
    return run


def project_phase(
    results: Sequence[FileResult],
    settings: Settings,
    *,
    cache: Cache | None = None,
    digests: Sequence[bytes | str] | None = None,
    named: frozenset[str] | None = None,
    missing: frozenset[str] = frozenset(),
    carry: Carry | None = None,
    memo: Any = None,
) -> list[str]:
    """Run the cross-file rules on the model built from ``results``' summaries, then
    grade the findings of graded per-file rules with it (see ``sightlint.rules.base``).

    Cross-file findings join the file results they point into, after the file's suppression
    comments, ``per-file-ignores`` and severity overrides; returns internal errors.

    With a ``cache`` and the results' content ``digests`` (in the same order), the
    resolved call graph of each module is reused from the last run unless the module or
    one it may depend on changed (see ``sightlint.incremental``), and so are the answers
    of component-local rules (``Rule.project_scope``) for the components that did not
    change. With ``named`` (display paths), those rules answer only for the components
    holding one of the files: what :func:`concerning` reports about them. ``missing``
    are display paths of results not loaded (placeholders): ``incremental.NeedResults``
    is raised, before any result is changed, if the phase needs one of them. With a
    ``carry`` (see :class:`Carry`), the final results of files whose component did not change
    since the run that stored them are taken over from it, in ``results`` (a list). ``memo``
    (a ``cache.FileMemo``, the report's) is given the fingerprint parts of the cross-file
    findings' ranges when the pool's workers worked them out with the rules (see
    ``incremental.Plan.answered``).
    """
    rules = [rule for rule in enabled_rules(settings) if uses_project(rule)]
    if not rules:
        return []
    # Building the model allocates hundreds of thousands of small acyclic objects next to
    # every loaded summary: the cyclic collector would walk that whole heap again and again
    # (it doubled a warm run after one edit at 700k lines). Paused for the phase.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _project_phase(results, settings, rules, cache, digests, named, missing, carry, memo)
    finally:
        if collecting:
            gc.enable()


def _project_phase(
    results: Sequence[FileResult],
    settings: Settings,
    rules: list[type[Rule]],
    cache: Cache | None,
    digests: Sequence[bytes | str] | None,
    named: frozenset[str] | None = None,
    missing: frozenset[str] = frozenset(),
    carry: Carry | None = None,
    memo: Any = None,
) -> list[str]:
    from sightlint.incremental import Plan
    from sightlint.project.graph import ModelNeeds
    from sightlint.project.thirdparty import FILE_NAME, ThirdPartyClasses

    plan = Plan(results, ModelNeeds.union(rule.model_needs(settings) for rule in rules), cache, digests, missing)
    if runner.kept_workers() is not None:
        from sightlint.cache import settings_fingerprint

        plan.remote = (settings_fingerprint(settings), tuple(rule.meta.code for rule in rules))
    # Installed sources are read lazily, when a call on an installed class's instance may block; the
    # answers are kept in the cache folder, if there is one.
    third_party = ThirdPartyClasses(cache.directory / FILE_NAME, cache) if cache is not None else ThirdPartyClasses()
    phase = _Phase(results, settings, {rule.meta.code: rule.meta.name for rule in rules})
    local = [rule for rule in rules if rule.project_scope == "component"] if plan.usable else []
    whole = [rule for rule in rules if rule not in local]
    if whole or named is not None or not isinstance(results, list):
        carry = None  # a final result then depends on more than its component
    grades: list[tuple[FileResult, int, Finding]] = []
    found: list[Finding] = []
    if local:
        grades, found = _component_rules(plan, phase, local, third_party, named, carry)
    if whole:
        # Rules of the whole project: the whole graph, as without components.
        graph = plan.whole()
        graph.third_party = third_party
        graded = {rule.meta.code: rule for rule in whole if rule.graded}
        if graded:
            grades.extend(_grade(results, graded, graph, settings, phase.errors))
        for rule in whole:
            if rule.cross_file:
                found.extend(_run_rule(rule, graph, settings, phase.errors))
    # Grades first: they point at the per-file findings by index.
    phase.grade(grades)
    phase.add(found)
    if plan.parts and memo is not None:
        _located(phase, plan.parts, memo)
    third_party.save()
    if not phase.errors:
        plan.save()
    return phase.finish()


def _located(phase: _Phase, parts: Mapping[str, Any], memo: Any) -> None:
    """Give ``memo`` the fingerprint parts the workers worked out for the findings of the
    files they are in (only for the ranges of the findings reported)."""
    by_path = phase.by_path
    for path, found in parts.items():
        result = by_path.get(path)
        if result is None or not found:
            continue
        spans = {(f.span.line, f.span.col, f.span.end_line, f.span.end_col) for f in result.findings}
        kept = {r: part for r, part in found.items() if r in spans}
        if kept:
            memo.put(path, kept)


class _Phase:
    """Applies the project phase's answers to the file results: cross-file findings after the
    file's suppression comments, ``per-file-ignores`` and severity overrides; graded findings
    at their new grade."""

    def __init__(self, results: Sequence[FileResult], settings: Settings, names: dict[str, str]) -> None:
        self.results = results
        self.settings = settings
        self.names = names
        self.by_path = {result.path: result for result in results}
        self.errors: list[str] = []
        self.touched: set[str] = set()
        self.carried: set[str] = set()

    def take(self, results: dict[str, FileResult]) -> None:
        """Final results of the last run (by path) that stand for this run's (see :class:`Carry`)."""
        assert isinstance(self.results, list)
        for index, result in enumerate(self.results):
            found = results.get(result.path)
            if found is not None:
                found.summary = result.summary
                self.results[index] = self.by_path[result.path] = found
        self.carried.update(results)

    def add(self, findings: Sequence[Finding]) -> None:
        """Cross-file findings of the rules (as ``check_project`` returned them)."""
        by_path, settings, names = self.by_path, self.settings, self.names
        for finding in findings:
            result = by_path.get(finding.path)
            if result is None or settings.ignored_for_path(finding.path, finding.code, finding.name):
                continue
            marks = result.suppressions
            if marks is not None and (marks.skip_file or marks.suppresses(finding, names)):
                continue
            result.findings.append(_overridden(finding, self.settings))
            self.touched.add(finding.path)

    def grade(self, grades: Sequence[tuple[FileResult, int, Finding]]) -> None:
        """Graded findings: (result, index of the finding, its grade as ``grade`` returned it)."""
        for result, index, new in grades:
            result.findings[index] = _overridden(new, self.settings)
            self.touched.add(result.path)

    def finish(self) -> list[str]:
        for path in self.touched:
            self.by_path[path].findings.sort(key=lambda f: f.sort_key())
        if self.settings.report_unused_suppressions:
            for result in self.results:
                if result.path not in self.carried and result.suppressions is not None:
                    result.unused_suppressions = result.suppressions.unused()
        return self.errors


def _run_rule(rule: type[Rule], graph: Graph, settings: Settings, errors: list[str]) -> list[Finding]:
    try:
        return rule.check_project(graph, settings)
    except Exception as exc:  # a crashing rule is an internal error, not a lost run
        errors.append(f"internal error in {rule.meta.code} ({rule.meta.name}): {type(exc).__name__}: {exc}")
        return []


def _component_rules(
    plan: Any,
    phase: _Phase,
    rules: list[type[Rule]],
    third_party: Any,
    named: frozenset[str] | None,
    carry: Carry | None = None,
) -> tuple[list[tuple[FileResult, int, Finding]], list[Finding]]:
    """Run the component-local ``rules`` (``Rule.project_scope``) on the graph of the
    components that changed alone, reusing the others' stored answers; with ``named``, only
    the components holding one of those files are looked at (see ``incremental.Plan``).
    With ``carry``, a component whose files' final results the last run stored for its
    present state (:class:`Carry`) takes them over: its stored answers are not read."""
    from sightlint.cache import decode_findings
    from sightlint.project.pins import dependency_files_state, project_folder
    from sightlint.project.thirdparty import environment_key

    settings, by_path = phase.settings, phase.by_path
    graded = {rule.meta.code: rule for rule in rules if rule.graded}
    # What else decides the answers: the project's requirement files (SL401/SL404 read its
    # pins) and the installed packages (``ThirdPartyClasses``). The settings, the rules and
    # sightlint's code key the cache files themselves.
    context = repr((dependency_files_state(project_folder(settings)), environment_key())).encode()
    wanted = plan.components if named is None else [c for c in plan.components if not c.paths.isdisjoint(named)]
    plan.check_loaded(wanted)
    todo = []
    reused: list[tuple[Any, Any]] = []
    carried: list[Any] = []
    errors = len(phase.errors)
    for component in wanted:
        output_key = hashlib.sha256(component.key + context).digest()
        if carry is not None:
            carry.bases.update(dict.fromkeys(component.paths, output_key))
            if carry.fits(component.paths, output_key):
                carried.append(component)
                continue
        stored = plan.output(component, output_key)
        decoded = _decode_output(stored, by_path, graded, decode_findings) if stored is not None else None
        if decoded is None:
            todo.append((component, output_key))
        else:
            reused.append(decoded)
    # Results outside every component (no module summary) are graded each run.
    paths = {path for component, _ in todo for path in component.paths}
    outside = [r for r in phase.results if r.path not in plan.component_of]
    paths.update(r.path for r in outside)
    answered = None
    # The workers' answers as they encoded them, by the identity of the findings decoded from
    # them: stored as they came (see ``Plan.keep_output``), not encoded again.
    encoded: dict[int, Any] = {}
    if todo and plan.remote is not None and runner.kept_workers() is not None:
        answered = _ask_workers(plan, phase, rules, graded, [c for c, _ in todo], outside, encoded)
    if answered is not None:
        found, grades = answered
    else:
        graph = plan.graph([component for component, _ in todo])
        graph.third_party = third_party
        grades = _grade(phase.results, graded, graph, settings, phase.errors, paths) if graded else []
        found = [f for rule in rules if rule.cross_file for f in _run_rule(rule, graph, settings, phase.errors)]
    if carry is not None:
        # A fresh answer about a file outside the components analysed (none is expected):
        # that file's final result is not its component's alone.
        foreign = {f.path for f in found if f.path not in paths} | {r.path for r, _, _ in grades if r.path not in paths}
        if carried and any(not foreign.isdisjoint(c.paths) for c in carried):
            del phase.errors[errors:]
            carry.stop()
            return _component_rules(plan, phase, rules, third_party, named, carry)
        for path in foreign:
            carry.bases.pop(path, None)
    if not phase.errors:
        per: dict[str, tuple[list[Finding], list[tuple[str, int]], list[Finding]]] = {c.name: ([], [], []) for c, _ in todo}
        complete = True
        for finding in found:
            component = plan.component_of.get(finding.path)
            if component is None or component.name not in per:
                complete = False  # a finding outside the components analysed: nothing is stored
                continue
            per[component.name][0].append(finding)
        for result, index, new in grades:
            component = plan.component_of.get(result.path)
            if component is not None and component.name in per:
                per[component.name][1].append((result.path, index))
                per[component.name][2].append(new)
        if complete:
            for component, output_key in todo:
                cross, where, graded_findings = per[component.name]
                plan.keep_output(component, output_key, (_encoded(cross, encoded), where, _encoded(graded_findings, encoded)))
    for cross, stored_grades in reused:
        found.extend(cross)
        grades.extend(stored_grades)
    if carried:
        phase.take(carry.take(carried) if carry is not None else {})
    return grades, found


def _encoded(findings: Sequence[Finding], known: Mapping[int, Any]) -> list[Any]:
    """``findings`` as ``cache.encode_findings`` encodes them: the items they were decoded
    from when ``known`` holds them all (by identity), else encoded now."""
    if known:
        items = [known.get(id(f)) for f in findings]
        if all(item is not None for item in items):
            return items
    from sightlint.cache import encode_findings

    return encode_findings(findings)


def _ask_workers(
    plan: Any,
    phase: _Phase,
    rules: list[type[Rule]],
    graded: Mapping[str, type[Rule]],
    components: list[Any],
    outside: list[FileResult],
    encoded: dict[int, Any] | None = None,
) -> tuple[list[Finding], list[tuple[FileResult, int, Finding]]] | None:
    """The component-local ``rules``' cross-file findings and grades for ``components``,
    worked out by the kept pool's workers with their records (``incremental.Plan.answered``),
    or None (the caller works them out here): the same answers, each group of components on
    a graph of its own (what a component-local rule says of a component does not depend on
    the others). ``encoded`` is given each finding's encoded item (see ``cache.encode_findings``)
    by the finding's identity."""
    from sightlint.cache import built_findings, encode_findings

    if graded and any(f.function is not None and f.code in graded for r in outside for f in r.findings):
        return None  # graded on the graph of the components analysed
    by_path = phase.by_path

    def held(path: str) -> list[Any] | None:
        """The encoded graded findings (index, finding) of the file at ``path``, if any
        (asked only for the files of the groups sent: a result kept encoded is decoded
        only then)."""
        items = [(i, f) for i, f in enumerate(by_path[path].findings) if f.function is not None and f.code in graded]
        return [(i, item) for (i, _), item in zip(items, encode_findings([f for _, f in items]))] if items else None

    def table(path: str) -> Any:
        """The file's fingerprint table, and whether the file holds a finding of its own
        (without, the table holds no parts: a worker decodes it only for a cross-file
        finding there; see ``incremental._answer``)."""
        result = by_path[path]
        return (result.prints, bool(result.findings))

    cache = plan.cache
    folder = str(cache.directory) if cache is not None else None
    plan.ask = (tuple(rule.meta.code for rule in rules), held if graded else lambda path: None, table, folder)
    try:
        answer = plan.answered(components)
    finally:
        plan.ask = None
    if answer is None:
        return None
    cross, graded_items, parts = answer
    try:
        # Encoded by this run's own pool workers and sent over their pipes (never read from
        # a file), as the files' results are (``cache.unpack``).
        found = built_findings(cross)
        news = built_findings([item for _, _, item in graded_items])
        grades = []
        for (path, index, _), new in zip(graded_items, news):
            result = by_path[path]
            if not 0 <= index < len(result.findings) or result.findings[index].code != new.code:
                return None
            grades.append((result, index, new))
    except Exception:  # sightlint: ignore[SL201] an answer of another shape: worked out here
        return None
    if encoded is not None:
        encoded.update(zip(map(id, found), cross))
        encoded.update(zip(map(id, news), (item for _, _, item in graded_items)))
    plan.parts = parts
    return found, grades


class Carry:
    """Final results of the last complete run that a run may take over, and the bases of this run's.

    A file's final result (its own findings, the grades and cross-file findings of the
    component-local rules, its unused suppressions) is worked out from its component alone
    when every cross-file rule is component-local: the component's state (its key, which
    hashes its members' contents, names and links, with the project's requirement files and
    the installed packages) is that result's *basis*. The run snapshot keeps each file's
    basis (``Cache.save_run``); a later run whose files differ (one edited) takes over, still
    encoded, the results of the files whose component has the same basis, instead of
    decoding their per-file results and their component's stored answers and applying the
    answers again (``Cache.previous_run``).
    """

    def __init__(self, previous: dict[str, tuple[bytes, FileResult]]) -> None:
        self.previous = previous
        # display path -> basis of its final result in this run
        self.bases: dict[str, bytes] = {}

    def fits(self, paths: frozenset[str], basis: bytes) -> bool:
        """Whether the last run stored the final results of all of ``paths`` on ``basis``."""
        previous = self.previous
        if not previous:
            return False
        for path in paths:
            got = previous.get(path)
            if got is None or got[0] != basis:
                return False
        return True

    def take(self, components: Sequence[Any]) -> dict[str, FileResult]:
        return {path: self.previous[path][1] for component in components for path in component.paths}

    def stop(self) -> None:
        """Take nothing over (the phase is worked out again without)."""
        self.previous = {}


def _decode_output(
    stored: Any, by_path: Mapping[str, FileResult], graded: Mapping[str, type[Rule]], decode: Any
) -> tuple[list[Finding], list[tuple[FileResult, int, Finding]]] | None:
    """A component's stored output as (cross-file findings, grades), or None when it does not
    fit the results it would apply to (then the component is analysed again)."""
    try:
        cross_items, where, graded_items = stored
        cross = decode(cross_items)
        new = decode(graded_items)
        if type(where) is not list or len(where) != len(new):
            return None
        grades = []
        for (path, index), finding in zip(where, new):
            result = by_path.get(path)
            if (
                result is None
                or type(index) is not int
                or not 0 <= index < len(result.findings)
                or result.findings[index].code != finding.code
                or finding.code not in graded
            ):
                return None
            grades.append((result, index, finding))
        return cross, grades
    except Exception:  # sightlint: ignore[SL201] of another shape: analysed again
        return None


def _grade(
    results: Sequence[FileResult],
    rules: Mapping[str, type[Rule]],
    graph: Graph,
    settings: Settings,
    errors: list[str],
    paths: set[str] | None = None,
) -> list[tuple[FileResult, int, Finding]]:
    """The grades of the findings of graded per-file ``rules`` (in the files at ``paths``, or
    all) that change them: (result, index of the finding, the grade ``grade`` gave)."""
    # Only the files holding a graded finding need their functions located (a few hundred
    # of 12k files at 700k lines).
    holding = [
        r for r in results if (paths is None or r.path in paths) and any(f.function is not None and f.code in rules for f in r.findings)
    ]
    where: dict[tuple[str, int, int], str] = {}
    for result in holding:
        for info in graph.functions_in(result.path):
            where[(result.path, info.line, info.col)] = info.id
    failed: set[str] = set()
    grades: list[tuple[FileResult, int, Finding]] = []
    for result in holding:
        for i, finding in enumerate(result.findings):
            rule = rules.get(finding.code)
            if rule is None or finding.function is None or finding.code in failed:
                continue
            try:
                new = rule.grade(finding, where.get((finding.path, *finding.function)), graph, settings)
            except Exception as exc:  # a crashing rule is an internal error, not a lost run
                errors.append(f"internal error in {rule.meta.code} ({rule.meta.name}): {type(exc).__name__}: {exc}")
                failed.add(finding.code)
                continue
            if _overridden(new, settings) != finding:
                grades.append((result, i, new))
    return grades


def _overridden(finding: Finding, settings: Settings) -> Finding:
    """``finding`` at the severity the user's ``[tool.sightlint.severity]`` sets for its code, if any."""
    override = settings.severity.get(finding.code)
    if override is None or override is finding.severity:
        return finding
    return dataclasses.replace(finding, severity=override)


def _guess_module(path: str) -> str | None:
    parts = path.replace("\\", "/").removesuffix(".py").removesuffix(".pyi").split("/")
    if parts and parts[-1] == "__init__":
        parts.pop()
    parts = [p for p in parts if p not in ("", ".")]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def _open_cache(settings: Settings, cache_dir: Path | None, cwd: Path | None) -> tuple[Cache, bool]:
    """The cache for this configuration, and whether the run collects module summaries."""
    from sightlint.cache import Cache, default_directory

    # The cross-file rules read per-module summaries collected in the same walk (asked of
    # the registry's index: a run served by the cache imports no rule).
    summarize = any(rule.uses_project for rule in enabled_index(settings))
    variant = "summaries" if summarize else ""
    return Cache(cache_dir or default_directory(settings, cwd), settings, variant=variant), summarize


def check_files(
    files: Sequence[SourceFile],
    settings: Settings,
    *,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    cwd: Path | None = None,
) -> list[FileResult]:
    """Check files on ``jobs`` processes (default: all cores; 1 runs here), reusing cached results.

    The cache lives in ``cache_dir``, else the folder :func:`cache.default_directory`
    picks (``cache-dir`` from the config, else ``.sightlint_cache`` next to it or in ``cwd``),
    which raises ``ConfigError`` if that folder is not inside the project.
    Per-file results only: the cross-file phase is :func:`project_phase`.
    """
    from sightlint import runner

    rules = enabled_rules(settings)
    if not use_cache:
        summarize = any(uses_project(rule) for rule in rules)
        return runner.check_files(files, settings, rules=rules, jobs=jobs, summarize=summarize)
    cache, summarize = _open_cache(settings, cache_dir, cwd)
    return runner.check_files(files, settings, rules=rules, jobs=jobs, cache=cache, summarize=summarize)


def check_paths(
    paths: Sequence[Path],
    settings: Settings,
    *,
    cwd: Path | None = None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    project: bool = True,
    progress: runner.Progress | None = None,
) -> RunResult:
    """Discover and check the Python files under ``paths``, cross-file rules included.

    With ``project`` (the default), the files are analysed with the rest of their project
    (:func:`discover_project`) and the result holds what concerns them (:func:`concerning`);
    without it, or when there is no project around them, exactly the files under ``paths``
    are analysed.

    With the cache on, a run whose files (paths, module names, contents) and configuration
    equal the last complete run's reuses that run's final results: nothing is parsed and
    no module summary is loaded. The cache folder is chosen as in :func:`check_files`.
    """
    # A run builds millions of small acyclic objects (cached results, summaries, the
    # model) that live until it ends: the cyclic collector would walk them over and over
    # (over a second of a warm run after one edit at 700k lines), so it is paused for the
    # run. The CLI never turns it back on (the process ends with the run); a library
    # caller gets it back as it was.
    collecting = gc.isenabled()
    gc.disable()
    try:
        progress = progress or runner.NO_PROGRESS
        progress.phase("finding files")
        opened = _open_cache(settings, cache_dir, cwd) if use_cache else None
        walks = opened[0].walks() if opened is not None else None
        found = discover_project(paths, settings, cwd, walks=walks) if project else discover(paths, settings, cwd, walks=walks)
        if opened is not None and walks is not None:
            opened[0].save_walks(walks)
        run = _check_paths(
            found, settings, cwd=cwd, jobs=jobs, cache_dir=cache_dir, use_cache=use_cache, progress=progress, opened=opened
        )
        if found.named is not None:
            run = concerning(run, found.named)
            run.named = found.named
        run.excluded, run.not_python = list(found.excluded), list(found.not_python)
        root = project_root(paths, settings, cwd)
        run.root = str(root) if root is not None else None
        run.base = os.path.abspath(cwd if cwd is not None else os.getcwd())
        return run
    finally:
        if collecting:
            gc.enable()


def check_discovered(
    found: Discovery,
    settings: Settings,
    *,
    cwd: Path | None = None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> RunResult:
    """:func:`check_paths` on files already discovered (``sightlint fix`` checks the same
    files again after writing): what concerns ``found.named``, cross-file findings included."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        run = _check_paths(found, settings, cwd=cwd, jobs=jobs, cache_dir=cache_dir, use_cache=use_cache)
        return run if found.named is None else concerning(run, found.named)
    finally:
        if collecting:
            gc.enable()


def project_graph(
    found: Discovery,
    settings: Settings,
    *,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> Graph:
    """The call graph of ``found``'s files as the cross-file rules see it (fixes planned on
    the project model read it): the same summaries and records as :func:`check_discovered`
    (from the cache when fresh), without the rules' findings."""
    from sightlint.incremental import call_graph
    from sightlint.project.graph import ModelNeeds

    rules = enabled_rules(settings)
    needs = ModelNeeds.union(rule.model_needs(settings) for rule in rules if uses_project(rule))
    collecting = gc.isenabled()
    gc.disable()
    try:
        if not use_cache:
            from sightlint.project.thirdparty import ThirdPartyClasses

            results = runner.check_files(found.files, settings, rules=rules, jobs=jobs, summarize=True)
            graph = call_graph(results, needs)
            graph.third_party = ThirdPartyClasses()
            return graph
        cache, summarize = _open_cache(settings, cache_dir, None)
        digests = runner.contents(found.files, cache.hashes(), settings.max_file_size)
        results, unchanged = runner.check_files_as_read(
            found.files, settings, rules=rules, jobs=jobs, cache=cache, summarize=summarize, digests=digests
        )
        graph = call_graph(results, needs, cache=cache, digests=digests if unchanged else None)
        from sightlint.project.thirdparty import FILE_NAME, ThirdPartyClasses

        graph.third_party = ThirdPartyClasses(cache.directory / FILE_NAME, cache)
        return graph
    finally:
        if collecting:
            gc.enable()


def discover_project(
    paths: Sequence[Path], settings: Settings, cwd: Path | None = None, *, walks: dict[str, Any] | None = None
) -> Discovery:
    """The files under ``paths`` and the rest of their project (:func:`files.project_root`).

    ``named`` on the result tells which files ``paths`` named; it is None (every file is
    reported on) when there is no project around the paths or a folder among them holds
    the whole project, as ``sightlint check`` at the project's root does. ``walks``: see
    :func:`files.discover` (``Cache.walks``).
    """
    here = Path.cwd().resolve()  # paths are relative to the process's folder; ``cwd`` only shapes display paths
    root = project_root(paths, settings, cwd or here)
    if root is None:
        return discover(paths, settings, cwd, walks=walks)
    for path in paths:
        if path.is_dir():
            folder = path.resolve()
            if folder == root or folder in root.parents:
                return discover(paths, settings, cwd, walks=walks)
    # Walked from a path relative to the cwd when the two are nested, so that the files of the
    # project outside the cwd are shown as ``../pkg/mod.py``, as ``sightlint check ..`` shows them.
    shown_from = (cwd or here).resolve()
    near = shown_from == here and (root == here or here in root.parents or root in here.parents)
    return discover(paths, settings, cwd, project=Path(os.path.relpath(root, here)) if near else root, walks=walks)


def concerning(run: RunResult, named: frozenset[str]) -> RunResult:
    """What a run on a whole project reports about the files ``named`` (display paths).

    Their results, whole; and from every other file, the findings whose chain passes
    through one of them (one of their ``related`` locations is in a named file), with the
    message saying where: a new ``async def`` reaching an unchanged blocking helper is
    reported at the helper, ``...; the chain passes through app/main.py:246 (`startup_probe`
    calls `_connect_with_retry`).`` Internal errors are kept from every file (a rule that
    crashed may have hidden a chain); other files' per-file findings and unused
    suppressions are not reported.
    """
    out = RunResult(errors=run.errors, memo=run.memo, snapshot=run.snapshot)
    for result in run.files:
        if result.path in named:
            out.files.append(result)
            continue
        touches = result.touches()  # known without decoding a result kept encoded
        if touches is not None and not result.errors and named.isdisjoint(touches):
            continue
        findings = [through for f in result.findings if (f.related or f.chain_paths) and (through := _through(f, named)) is not None]
        if findings or result.errors:
            out.files.append(FileResult(result.path, findings=findings, errors=result.errors))
    return out


def _through(finding: Finding, named: frozenset[str]) -> Finding | None:
    """``finding`` with the hops of its chain that are in ``named`` files added to its message, or None."""
    hops = [f"{r.path}:{r.line} ({r.message})" for r in finding.related if r.path in named]
    lead = " The" if finding.message.endswith(".") else "; the"
    if hops:
        text = f"{finding.message}{lead} chain passes through {', '.join(dict.fromkeys(hops))}."
    else:
        # Only a chain the message does not show passes through them (``detail`` lists
        # more chains; ``--show-chains`` prints it).
        files = [path for path in finding.chain_paths if path in named]
        if not files:
            return None
        lead = " Another" if finding.message.endswith(".") else "; another"
        text = f"{finding.message}{lead} chain to it passes through {', '.join(files)}."
    return dataclasses.replace(finding, message=text)


def _unneeded(found: Discovery, rules: Sequence[type[Rule]], cache: Cache, digests: Sequence[bytes | str]) -> dict[int, str]:
    """For a run on some files of a project whose cross-file rules are all component-local:
    the files whose per-file results need not be loaded (``incremental.unneeded_files``)."""
    if found.named is None or not all(rule.project_scope == "component" for rule in rules if uses_project(rule)):
        return {}
    from sightlint.incremental import unneeded_files

    try:
        skipped = unneeded_files(cache, [(f.display, f.module) for f in found.files], digests, found.named)
    except Exception:  # sightlint: ignore[SL201] an index of another shape: every result is loaded
        skipped = None
    return skipped or {}


def _results(
    found: Discovery,
    settings: Settings,
    rules: Sequence[type[Rule]],
    jobs: int | None,
    cache: Cache,
    summarize: bool,
    digests: Sequence[bytes | str],
    progress: runner.Progress,
    skipped: Mapping[int, str],
    lazy: Callable[[str], FileResult] | None = None,
    early: runner.Early | None = None,
) -> tuple[list[FileResult], bool]:
    """The per-file results of ``found``'s files (from the cache when fresh), and whether every
    file still had the content in ``digests``; those at ``skipped`` indexes are placeholders
    (no findings, their module summary never loaded) and their pack entries are kept."""
    if not skipped:
        # The pack of a cold run is written while the cross-file phase runs (the caller
        # settles it before it returns).
        return runner.check_files_as_read(
            found.files, settings, rules=rules, jobs=jobs, cache=cache, summarize=summarize, digests=digests, progress=progress,
            damaged=lazy, save_later=True, early=early,
        )  # fmt: skip
    from sightlint.cache import PackedSummary

    files = found.files
    cache.keep([(files[index].display, files[index].module) for index in skipped])
    todo = [index for index in range(len(files)) if index not in skipped]
    part, unchanged = runner.check_files_as_read(
        [files[i] for i in todo], settings, rules=rules, jobs=jobs, cache=cache, summarize=summarize,
        digests=[digests[i] for i in todo], progress=progress,
    )  # fmt: skip
    results: list[FileResult] = []
    loaded = iter(part)
    for index, file in enumerate(files):
        if index in skipped:
            placeholder = FileResult(file.display)
            placeholder.summary = PackedSummary(b"", skipped[index])
            results.append(placeholder)
        else:
            results.append(next(loaded))
    return results, unchanged


def _check_paths(
    found: Discovery,
    settings: Settings,
    *,
    cwd: Path | None,
    jobs: int | None,
    cache_dir: Path | None,
    use_cache: bool,
    progress: runner.Progress = runner.NO_PROGRESS,
    opened: tuple[Cache, bool] | None = None,
) -> RunResult:
    run = RunResult(errors=list(found.errors))
    if not use_cache:
        rules = enabled_rules(settings)
        summarize = any(uses_project(rule) for rule in rules)
        run.files = runner.check_files(found.files, settings, rules=rules, jobs=jobs, summarize=summarize, progress=progress)
        progress.phase("cross-file rules")
        run.errors.extend(project_phase(run.files, settings))
        return run
    progress.phase("reading files and the cache", len(found.files))
    cache, summarize = opened or _open_cache(settings, cache_dir, cwd)
    # A cold run (the pack holds nothing: every file is checked) starts the pool on all the
    # files now, and reads and hashes them here while the workers check them.
    early = None
    if found.named is None and jobs != 1 and cache.empty():
        # What the workers import at their first file (the engine, the summary collector) and
        # at the cross-file phase (``incremental``), and this process later: imported once,
        # before the fork shares it.
        import sightlint.incremental  # noqa: F401

        if summarize:
            import sightlint.project.collector  # noqa: F401
        early = runner.start_early(found.files, settings, rules=enabled_rules(settings), jobs=jobs, summarize=summarize)
    try:
        return _check_cached(found, settings, cwd=cwd, jobs=jobs, progress=progress, cache=cache, summarize=summarize, early=early)
    finally:
        if early is not None:
            early.close()


def _check_cached(
    found: Discovery,
    settings: Settings,
    *,
    cwd: Path | None,
    jobs: int | None,
    progress: runner.Progress,
    cache: Cache,
    summarize: bool,
    early: runner.Early | None,
) -> RunResult:
    """:func:`_check_paths` with the cache (``early``: see ``runner.start_early``)."""
    run = RunResult(errors=list(found.errors))
    digests = runner.contents(found.files, cache.hashes(), settings.max_file_size)
    cache.save_hashes(len(found.files))
    read = {f.display: d for f, d in zip(found.files, digests) if isinstance(d, bytes)}
    run.memo = cache.file_memo(read)
    if found.named is None:
        run.pieces = cache.pieces(read)
    from sightlint.project.pins import dependency_files_state, project_folder

    inputs = [(f.display, f.module, d) for f, d in zip(found.files, digests)]
    # The project's requirement files too: SL401/SL404 read its pins.
    inputs.append(("<dependency files>", None, repr(dependency_files_state(project_folder(settings)))))
    if found.named is not None:
        # The project phase answers only for the named files' components (see
        # ``project_phase``): such a run's results serve only a run on the same files.
        inputs.append(("<named>", None, repr(sorted(found.named))))
    key = cache.run_key(inputs)
    part = found.named is not None
    reused = cache.load_run(key, damaged=_rechecker(found, settings), part=part)
    if reused is not None:
        run.files = reused
        run.snapshot = cache.snapshot(key)
        return run
    from sightlint.incremental import NeedResults

    rules = enabled_rules(settings)
    skipped = _unneeded(found, rules, cache, digests)
    carry = _carry(found, settings, rules, cache)
    # Results that a carried component's final results replace are never read: kept encoded.
    lazy = _rechecker(found, settings) if carry is not None and carry.previous else None
    # The pool that checks the files stays up for the cross-file phase, which hands its
    # workers groups of modules to resolve (``incremental.Plan``). The pack may be written on
    # another thread meanwhile (``Cache.save``): settled before this returns.
    with runner.keeping_workers(), _settled(cache):
        run.files, unchanged = _results(found, settings, rules, jobs, cache, summarize, digests, progress, skipped, lazy, early)
        progress.phase("cross-file rules")
        # The cross-file phase reads module summaries and graph records from the cache; one
        # damaged behind a valid seal (a bug of ours, a bad disk) can make the graph or a rule
        # raise. Such a run is done again from the files alone, and that run's answer stands
        # (a fault that is not the cache's then shows there as it would without a cache).
        for _ in range(2):
            missing = frozenset(found.files[index].display for index in skipped)
            try:
                errors = project_phase(
                    run.files, settings, cache=cache, digests=digests if unchanged else None, named=found.named,
                    missing=missing, carry=carry, memo=run.memo,
                )  # fmt: skip
            except NeedResults:
                # A file whose result was left out joined a named file's component: load them all.
                skipped = {}
                run.files, unchanged = _results(found, settings, rules, jobs, cache, summarize, digests, progress, skipped)
                continue
            except Exception:  # sightlint: ignore[SL201] handled: the run is done again without the cache
                errors = ["the cached cross-file data could not be used"]
            break
    if errors:
        return _check_paths(found, settings, cwd=cwd, jobs=jobs, cache_dir=None, use_cache=False, progress=progress)
    run.errors.extend(errors)
    if unchanged and not errors and not run.internal_errors:
        cache.save_run(key, run.files, carry.bases if carry is not None else None, part=part)
        # Not run.snapshot: a report is kept only from a run served by the snapshot, so
        # that a run after every edit does not pay for writing one no run reads.
    return run


@contextlib.contextmanager
def _settled(cache: Cache) -> Iterator[None]:
    """Within: the cache's pack may be written on another thread; waited for on the way out."""
    try:
        yield
    finally:
        cache.settle()


def _carry(found: Discovery, settings: Settings, rules: Sequence[type[Rule]], cache: Cache) -> Carry | None:
    """A :class:`Carry` from the last complete run, for a run on a whole project whose
    cross-file rules are all component-local (else None)."""
    project = [rule for rule in rules if uses_project(rule)]
    if found.named is not None or not project or not all(rule.project_scope == "component" for rule in project):
        return None
    return Carry(cache.previous_run(damaged=_rechecker(found, settings)))


def _rechecker(found: Discovery, settings: Settings) -> Callable[[str], FileResult]:
    """What stands for a run snapshot's entry that cannot be decoded: the file's per-file
    result, checked again (the cross-file findings are back on the next run, which works
    the snapshot out again)."""
    from sightlint.source import read_source

    locations = {f.display: f for f in found.files}

    def recheck(path: str) -> FileResult:
        file = locations.get(path)
        if file is None:
            return FileResult(path)
        data = read_source(file.location, settings.max_file_size)
        return runner.check_one(data, path, file.module, settings, enabled_rules(settings))

    return recheck
