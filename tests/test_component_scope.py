"""Rules marked ``project_scope = "component"`` are component-local, provably on every fixture.

An incremental project phase (``sightlint.incremental``) may run such a rule on the graph
of one connected component of the module-dependency graph alone and keep its answer for
the other components. That is sound only if the rule's findings over the whole project
are the union of its findings over each component's graph, and its grading of a finding
depends only on the component holding the finding. This test checks exactly that, on
every multi-module project the repository has (the Sight replica, SL101's fixture
projects, the whole ``fixtures`` tree as one project of many components, every rule's
multi-file examples, all single-file examples side by side) and on synthetic projects of
several independent applications built to catch rules that aggregate over the project.

Components are computed here, from ``model.module_dependencies`` and the class-hierarchy
edges (``model.hierarchy_terms``), not asked of the incremental phase.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from sightlint import registry, runner
from sightlint.files import discover
from sightlint.models import FileResult, Finding
from sightlint.project.graph import Graph, ModelNeeds, module_record
from sightlint.project.model import ProjectModel, hierarchy_terms, module_dependencies
from sightlint.project.summary import ModuleSummary
from sightlint.project.thirdparty import ThirdPartyClasses
from sightlint.rules.base import Bad, Rule, uses_project
from sightlint.settings import Settings

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
PROJECT_RULES = [rule for rule in registry.ALL_RULES if uses_project(rule)]
# Set SIGHTLINT_SCOPE_ALL=1 to check every project rule as if it were marked "component"
# (how the audit found the rules that are not).
COMPONENT_RULES = [
    rule for rule in PROJECT_RULES if rule.project_scope == "component" or os.environ.get("SIGHTLINT_SCOPE_ALL")
]


def components(summaries: Sequence[ModuleSummary]) -> list[list[str]]:
    """The weakly connected components of the module-dependency graph (name resolution
    plus class-hierarchy edges), as sorted module lists."""
    modules = {s.module for s in summaries}
    by_last: dict[str, list[str]] = {}
    for module in modules:
        by_last.setdefault(module.rpartition(".")[2], []).append(module)
    parent = {module: module for module in modules}

    def find(module: str) -> str:
        while parent[module] != module:
            parent[module] = parent[parent[module]]
            module = parent[module]
        return module

    def join(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    defined_in: dict[str, list[str]] = {}
    extending: list[tuple[str, str]] = []
    for summary in summaries:
        for other in module_dependencies(summary, modules, by_last):
            join(summary.module, other)
        defines, extends = hierarchy_terms(summary)
        for name in defines:
            defined_in.setdefault(name, []).append(summary.module)
        extending.extend((summary.module, name) for name in extends)
    for module, name in extending:
        for base in defined_in.get(name, ()):
            join(module, base)
    groups: dict[str, list[str]] = {}
    for module in sorted(modules):
        groups.setdefault(find(module), []).append(module)
    return sorted(groups.values())


def _key(finding: Finding) -> str:
    """Everything the finding says (a dataclass: its repr holds every field)."""
    return repr(finding)


class Project:
    """A checked project: its per-file results, summaries, whole graph and component graphs."""

    def __init__(self, results: list[FileResult], needs: ModelNeeds) -> None:
        self.results = results
        summaries = [r.summary for r in results if r.summary is not None]
        assert len({s.module for s in summaries}) == len(summaries), "two files claim one module"
        self.summaries: list[ModuleSummary] = summaries  # type: ignore[assignment]
        model = ProjectModel(self.summaries)
        self.records = {s.module: tuple(module_record(model, s, needs)) for s in self.summaries}
        self.whole = _graph(self.records.values())
        self.components = components(self.summaries)
        self.graphs = [_graph(self.records[m] for m in members) for members in self.components]
        # The same component resolved on its own: a model of its summaries alone.
        self.alone = []
        for members in self.components:
            inside = [s for s in self.summaries if s.module in set(members)]
            alone = ProjectModel(inside)
            self.alone.append(_graph(tuple(module_record(alone, s, needs)) for s in inside))


def _graph(records: Iterable[tuple[Any, ...]]) -> Graph:
    graph = Graph(records)
    graph.third_party = ThirdPartyClasses()
    return graph


def check(root: Path, rule: type[Rule], settings: Settings | None = None) -> Project:
    settings = settings or Settings(select=(rule.meta.code,))
    found = discover([root], settings, cwd=root)
    results = runner.check_files(found.files, settings, rules=[rule], jobs=1, summarize=True)
    return Project(results, rule.model_needs(settings))


def assert_component_local(project: Project, rule: type[Rule], settings: Settings) -> int:
    """Whole-graph findings == the union of per-component findings (both ways of building a
    component's graph); graded findings grade alike. Returns the number of findings compared."""
    compared = 0
    if rule.cross_file:
        whole = sorted(_key(f) for f in rule.check_project(project.whole, settings))
        for graphs in (project.graphs, project.alone):
            union = sorted(_key(f) for graph in graphs for f in rule.check_project(graph, settings))
            assert union == whole, (rule.meta.code, project.components)
        compared += len(whole)
    if rule.graded:
        component_of = {m: i for i, members in enumerate(project.components) for m in members}
        for result in project.results:
            if result.summary is None:
                continue
            index = component_of[result.summary.module]
            for finding in result.findings:
                if finding.code != rule.meta.code or finding.function is None:
                    continue
                graded = []
                for graph in (project.whole, project.graphs[index], project.alone[index]):
                    where = {(info.line, info.col): info.id for info in graph.functions_in(finding.path)}
                    graded.append(_key(rule.grade(finding, where.get(finding.function), graph, settings)))
                assert graded[1] == graded[0] == graded[2], (rule.meta.code, finding)
                compared += 1
    return compared


def _write(root: Path, files: dict[str, str]) -> None:
    for name, code in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in path.relative_to(root).parents:
            if str(folder) != ".":
                init = root / folder / "__init__.py"
                if not init.exists():
                    init.touch()
        path.write_text(code, encoding="utf-8")


FIXTURE_PROJECTS = [
    "sight_app",
    "SL101_fix",
    *(f"SL101/{p.name}" for p in sorted((FIXTURES / "SL101").iterdir()) if p.is_dir()),
    ".",  # the whole fixtures tree: single-file fixtures and packages, many components
]


@pytest.mark.parametrize("rule", COMPONENT_RULES, ids=lambda r: r.meta.code)
@pytest.mark.parametrize("folder", FIXTURE_PROJECTS)
def test_fixture_projects(rule: type[Rule], folder: str) -> None:
    settings = Settings(select=(rule.meta.code,))
    project = check(FIXTURES / folder, rule, settings)
    compared = assert_component_local(project, rule, settings)
    if folder == ".":  # the tree holds every rule's fixture file: something was compared
        assert compared > 0 and len(project.components) > 10


def _multi_file_examples(rule: type[Rule]) -> list[dict[str, str]]:
    return [files for example in (*rule.bad, *rule.good) if len(files := example.files()) > 1]


@pytest.mark.parametrize("rule", COMPONENT_RULES, ids=lambda r: r.meta.code)
def test_multi_file_examples(tmp_path: Path, rule: type[Rule]) -> None:
    """Every rule's multi-file examples (every project rule's, not only this rule's)."""
    settings = Settings(select=(rule.meta.code,))
    for index, files in enumerate(files for other in PROJECT_RULES for files in _multi_file_examples(other)):
        root = tmp_path / f"example{index}"
        _write(root, files)
        assert_component_local(check(root, rule, settings), rule, settings)


def _side_by_side(root: Path) -> dict[str, tuple[type[Rule], int]]:
    """Every project rule's single-file examples as packages of one project at ``root``
    (one component each); package -> (its rule, the findings of that rule it holds alone)."""
    files = {}
    packages = {}
    for other in PROJECT_RULES:
        for index, example in enumerate((*other.bad, *other.good)):
            (path, code), *more = example.files().items()
            if not more:
                package = f"{other.meta.code.lower()}_{index}"
                files[f"{package}/{path}"] = code
                packages[package] = (other, example.count if isinstance(example, Bad) else 0)
    _write(root, files)
    return packages


@pytest.mark.parametrize("rule", COMPONENT_RULES, ids=lambda r: r.meta.code)
def test_single_file_examples_side_by_side(tmp_path: Path, rule: type[Rule]) -> None:
    """Side by side, each example keeps the findings it has alone: no example's app,
    limiter, handlers or settings speak for another's."""
    packages = _side_by_side(tmp_path)
    settings = Settings(select=(rule.meta.code,))
    project = check(tmp_path, rule, settings)
    assert len(project.components) >= len(packages)
    assert_component_local(project, rule, settings)
    if rule.cross_file:
        found = Counter(f.path.partition("/")[0] for f in rule.check_project(project.whole, settings))
        for package, (owner, count) in packages.items():
            if owner is rule:
                assert found[package] == count, package


# The rules that aggregate over modules (an app's limiter, its error handlers, settings
# fields and constants matched by name, shutdown paths): per component since they were made
# component-local.
AGGREGATING = ("SL404", "SL701", "SL703", "SL704")


@pytest.mark.parametrize("code", AGGREGATING)
def test_the_projects_would_catch_a_project_wide_aggregate(tmp_path: Path, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The side-by-side project or the fixtures tree can fail the tests above: with every
    module in one component (these rules' former, project-wide reading), findings change
    (examples speak for each other), so the tests would catch a rule aggregating again."""
    rule = next(r for r in PROJECT_RULES if r.meta.code == code)
    _side_by_side(tmp_path)
    settings = Settings(select=(code,))
    projects = [check(tmp_path, rule, settings), check(FIXTURES, rule, settings)]
    per_component = [sorted(_key(f) for f in rule.check_project(project.whole, settings)) for project in projects]
    monkeypatch.setattr(Graph, "component", lambda self, path: 0)
    project_wide = [sorted(_key(f) for f in rule.check_project(_graph(p.records.values()), settings)) for p in projects]
    assert project_wide != per_component


def test_the_replica_from_its_components_alone_gives_expected_toml() -> None:
    """Every component rule, run on each component's graph of the Sight replica alone,
    gives exactly the replica's expected findings of its code (and grades them alike)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    with (FIXTURES / "sight_app" / "expected.toml").open("rb") as handle:
        entries = tomllib.load(handle)["finding"]
    for rule in COMPONENT_RULES:
        settings = Settings(select=(rule.meta.code,))
        project = check(FIXTURES / "sight_app", rule, settings)
        expected = sorted((e["file"], e["line"], e.get("severity")) for e in entries if e["code"] == rule.meta.code)
        found: list[Finding] = []
        if rule.cross_file:
            found = [f for graph in project.alone for f in rule.check_project(graph, settings)]
        if rule.graded:
            component_of = {m: i for i, members in enumerate(project.components) for m in members}
            for result in project.results:
                graph = project.alone[component_of[result.summary.module]]  # type: ignore[union-attr]
                where = {(info.line, info.col): info.id for info in graph.functions_in(result.path)}
                for finding in result.findings:
                    if finding.code == rule.meta.code and finding.function is not None:
                        found.append(rule.grade(finding, where.get(finding.function), graph, settings))
        got = sorted((f.path, f.span.line, f.severity.name.lower() if any(e[2] for e in expected) else None) for f in found)
        if not any(e[2] for e in expected):
            expected = [(file, line, None) for file, line, _ in expected]
        assert got == expected, rule.meta.code


@pytest.mark.parametrize("folder", FIXTURE_PROJECTS)
def test_graph_components_lie_inside_the_dependency_components(folder: str) -> None:
    """``Graph.component`` (imports, packages, class hierarchy) never joins modules of two
    components of the module-dependency graph, so a rule reading per ``Graph.component``
    answers alike on a component's graph alone; and it answers the same there."""
    rule = next(r for r in PROJECT_RULES if r.meta.code == "SL704")  # asks for the "links" fact
    project = check(FIXTURES / folder, rule)
    path_of = {r.summary.module: r.path for r in project.results if r.summary is not None}
    dependency = {path_of[m]: i for i, members in enumerate(project.components) for m in members}
    joined: dict[int, set[int]] = {}
    for path in path_of.values():
        joined.setdefault(project.whole.component(path), set()).add(dependency[path])
    assert all(len(found) == 1 for found in joined.values())
    for members, graph in zip(project.components, project.graphs):
        paths = [path_of[m] for m in members]
        # Alone, the component's modules group as they do in the whole graph.
        assert len({graph.component(p) for p in paths}) == len({project.whole.component(p) for p in paths})
