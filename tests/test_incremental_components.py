"""The cross-file phase per component of the module-dependency graph (``incremental.Plan``).

Component-local rules (``Rule.project_scope = "component"``) run on the graph of the
components that changed alone and every other component's stored answer is reused; with
``check FILES`` only the components holding a named file are looked at; rules of the whole
project still see all of it. Whatever the cache holds, the findings equal ``--no-cache``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from sightlint import api, registry
from sightlint.models import Finding, Severity, Span
from sightlint.project.graph import Graph
from sightlint.rules.base import Rule, RuleMeta
from sightlint.settings import Settings

_HELPER = "import time\n\n\ndef slow_{n}():\n    time.sleep(1)\n\n\ndef fine_{n}():\n    return 1\n"
_API = "from {pkg}.helpers import slow_{n}, fine_{n}\n\n\nasync def handler_{n}():\n    slow_{n}()\n    return fine_{n}()\n"


class _LocalCalls(Rule):
    """Test rule, component-local: one finding per call into another module; records the
    size of every graph it is run on."""

    meta: ClassVar[RuleMeta] = RuleMeta(code="SL196", name="local-calls", severity=Severity.LOW, summary="x")
    cross_file = True
    project_scope = "component"
    sizes: ClassVar[list[int]] = []

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        cls.sizes.append(len(model.functions))
        found = []
        for source, edges in model.edges.items():
            for edge in edges:
                if edge.target in model.functions and model.path_of(edge.target) != model.path_of(source):
                    span = Span(edge.line, edge.col, edge.line, edge.col + 1)
                    related = (model.hop(edge),)
                    found.append(cls.project_finding(model.path_of(edge.target), span, f"called from {source}", related=related))
        return found


class _Census(Rule):
    """Test rule of the whole project: one finding counting every function of the graph."""

    meta: ClassVar[RuleMeta] = RuleMeta(code="SL197", name="census", severity=Severity.LOW, summary="x")
    cross_file = True
    sizes: ClassVar[list[int]] = []

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        cls.sizes.append(len(model.functions))
        paths = sorted({model.path_of(fid) for fid in model.functions})
        if not paths:
            return []
        return [cls.project_finding(paths[0], Span(1, 0, 1, 1), f"{len(model.functions)} functions in {len(paths)} modules")]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, code in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in path.relative_to(root).parents:
            if str(folder) != ".":
                (root / folder / "__init__.py").touch()
        path.write_text(code, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three packages, each its own component; SL101 and the test rules enabled (SL101 as component-local)."""
    monkeypatch.setattr(registry, "ALL_RULES", (*registry.ALL_RULES, _LocalCalls, _Census))
    sl101 = next(rule for rule in registry.ALL_RULES if rule.meta.code == "SL101")
    monkeypatch.setattr(sl101, "project_scope", "component")
    _LocalCalls.sizes.clear()
    _Census.sizes.clear()
    root = tmp_path / "project"
    files = {}
    for n, pkg in enumerate(("alpha", "beta", "gamma")):
        files[f"{pkg}/helpers.py"] = _HELPER.format(n=n)
        files[f"{pkg}/api.py"] = _API.format(pkg=pkg, n=n)
    files["pyproject.toml"] = "[project]\nname = 'demo'\n"
    _write(root, files)
    return root


SETTINGS = Settings(select=("SL101", "SL196"))
WHOLE = Settings(select=("SL101", "SL196", "SL197"))


def _findings(run: Any) -> list[tuple[Any, ...]]:
    assert not run.errors and not run.internal_errors, run.errors + run.internal_errors
    return [(f.code, f.path, f.span, f.severity, f.message, f.related, f.detail, f.chain_paths) for f in run.findings]


def _run(root: Path, settings: Settings, cache: Path | None, paths: list[Path] | None = None) -> list[tuple[Any, ...]]:
    run = api.check_paths(paths or [root], settings, cwd=root, cache_dir=cache, use_cache=cache is not None, jobs=1)
    return _findings(run)


def _sizes_of_run(root: Path, settings: Settings, cache: Path) -> list[int]:
    _LocalCalls.sizes.clear()
    _run(root, settings, cache)
    return list(_LocalCalls.sizes)


def test_an_edit_reanalyses_its_component_alone(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    baseline = _run(project, SETTINGS, None)
    assert {f[0] for f in baseline} == {"SL101", "SL196"}
    assert _sizes_of_run(project, SETTINGS, cache) == [9]  # cold: the three components at once (3 x 3 functions)
    assert _run(project, SETTINGS, cache) == baseline
    api_file = project / "beta/api.py"
    api_file.write_text(api_file.read_text() + "\n\nasync def more_1():\n    slow_1()\n", encoding="utf-8")
    uncached = _run(project, SETTINGS, None)
    assert uncached != baseline
    _LocalCalls.sizes.clear()
    assert _run(project, SETTINGS, cache) == uncached
    # beta alone (its 4 functions); alpha's and gamma's answers were reused.
    assert _LocalCalls.sizes == [4]
    assert _sizes_of_run(project, SETTINGS, cache) == []  # the run snapshot: no phase at all
    # Another edit elsewhere: the previous one's component is reused too.
    helper = project / "gamma/helpers.py"
    helper.write_text(helper.read_text().replace("return 1", "return 2"), encoding="utf-8")
    _LocalCalls.sizes.clear()
    assert _run(project, SETTINGS, cache) == _run(project, SETTINGS, None)
    assert _LocalCalls.sizes[0] == 3


def test_an_import_joins_two_components_and_its_removal_splits_them(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _run(project, SETTINGS, cache)
    api_file = project / "alpha/api.py"
    original = api_file.read_text()
    api_file.write_text(original + "\nfrom beta.helpers import slow_1\n\n\nasync def joined():\n    slow_1()\n", encoding="utf-8")
    joined = _run(project, SETTINGS, None)
    assert any(f[0] == "SL196" and f[1] == "beta/helpers.py" and "alpha.api.joined" in f[4] for f in joined)
    _LocalCalls.sizes.clear()
    assert _run(project, SETTINGS, cache) == joined
    assert _LocalCalls.sizes == [7]  # alpha and beta, one component now
    api_file.write_text(original, encoding="utf-8")
    split = _run(project, SETTINGS, None)
    _LocalCalls.sizes.clear()
    assert _run(project, SETTINGS, cache) == split
    # alpha and beta again (beta's answer was stored as part of the joined component's); not gamma.
    assert _LocalCalls.sizes == [6]
    # And the split state's stored answers serve later runs.
    helper = project / "beta/helpers.py"
    helper.write_text(helper.read_text() + "\n", encoding="utf-8")
    _LocalCalls.sizes.clear()
    assert _run(project, SETTINGS, cache) == _run(project, SETTINGS, None)
    assert _LocalCalls.sizes == [3, 9]  # beta alone, then the run without the cache


def test_check_files_looks_only_at_their_components_and_equals_the_full_run(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sightlint import runner

    loaded: list[int] = []
    real = runner.check_files_as_read

    def counting(files: Any, *args: Any, **kwargs: Any) -> Any:
        loaded.append(len(files))
        return real(files, *args, **kwargs)

    monkeypatch.setattr(runner, "check_files_as_read", counting)
    cache = tmp_path / "cache"
    _run(project, SETTINGS, cache)
    named = [project / "alpha/helpers.py", project / "gamma/api.py"]
    shown = frozenset({"alpha/helpers.py", "gamma/api.py"})
    for step in range(4):
        if step == 1:  # an edit in a named file
            path = project / "alpha/helpers.py"
            path.write_text(path.read_text() + "\n\ndef slower_0():\n    slow_0()\n", encoding="utf-8")
        if step == 2:  # an edit in a file that is not named: its component is not analysed
            path = project / "beta/api.py"
            path.write_text(path.read_text() + "\n", encoding="utf-8")
        if step == 3:  # a named file joins beta's component, whose results were not loaded
            _run(project, SETTINGS, cache)  # beta's edit is known to the index
            path = project / "alpha/helpers.py"
            path.write_text(path.read_text() + "\n\nfrom beta.helpers import slow_1\n\n\ndef via_beta():\n    slow_1()\n", encoding="utf-8")
        full = api.check_paths([project], SETTINGS, cwd=project, use_cache=False, jobs=1)
        expected = _findings(api.concerning(full, shown))
        assert expected
        _LocalCalls.sizes.clear()
        loaded.clear()
        assert _run(project, SETTINGS, cache, named) == expected
        assert all(size <= 6 for size in _LocalCalls.sizes[:1]) if step < 3 else _LocalCalls.sizes == [8]
        if step in (0, 1):
            assert loaded == [6]  # alpha's and gamma's files; beta's results are not loaded
        elif step == 2:
            assert loaded == [9]  # beta/api.py changed: its component is loaded (not analysed)
        else:
            assert loaded == [6, 9]  # beta joined: every result is loaded after all
        assert _run(project, SETTINGS, None, named) == expected
        assert _run(project, SETTINGS, cache, named) == expected  # the run snapshot of these files
    # A full run after the restricted ones: every component answered, as without the cache.
    assert _run(project, SETTINGS, cache) == _run(project, SETTINGS, None)


def test_a_rule_of_the_whole_project_still_sees_all_of_it(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _run(project, WHOLE, cache)
    path = project / "gamma/api.py"
    path.write_text(path.read_text() + "\n\ndef extra():\n    pass\n", encoding="utf-8")
    _Census.sizes.clear()
    _LocalCalls.sizes.clear()
    findings = _run(project, WHOLE, cache)
    assert findings == _run(project, WHOLE, None)
    assert _Census.sizes[0] == 10 and _LocalCalls.sizes[0] == 4
    assert [f[4] for f in findings if f[0] == "SL197"] == ["10 functions in 6 modules"]
    # And through check FILES on one package.
    _Census.sizes.clear()
    assert ("SL197", "alpha/api.py") in [(f[0], f[1]) for f in _run(project, WHOLE, cache, [project / "alpha/api.py"])]
    assert _Census.sizes == [10]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "forged", "swapped"])
def test_a_damaged_or_forged_component_file_is_ignored_and_rebuilt(project: Path, tmp_path: Path, damage: str) -> None:
    from sightlint.seal import MAGIC, TAG_SIZE

    cache = tmp_path / "cache"
    _run(project, SETTINGS, cache)
    path = project / "alpha/api.py"
    path.write_text(path.read_text() + "\n", encoding="utf-8")
    _run(project, SETTINGS, cache)  # alpha in its own file now
    files = sorted(cache.glob("results-*.comp"), key=lambda p: p.stat().st_mtime)
    assert len(files) == 3
    target = files[-1]
    blob = target.read_bytes()
    if damage == "garbage":
        target.write_bytes(b"\x00" * 40 + blob[40:])
    elif damage == "truncated":
        target.write_bytes(blob[: len(blob) // 2])
    elif damage == "forged":  # a body that would drop the findings, under a made-up seal
        body = blob[len(MAGIC) + TAG_SIZE :]
        target.write_bytes(MAGIC + b"\x01" * TAG_SIZE + body.replace(b"SL101", b"SL999"))
    else:  # another component's (valid) file under this name
        target.write_bytes(files[0].read_bytes())
    # Every component changed in the same run, so every file is read.
    for pkg in ("alpha", "beta", "gamma"):
        helper = project / f"{pkg}/helpers.py"
        helper.write_text(helper.read_text() + "\n", encoding="utf-8")
    for _ in range(2):
        assert _run(project, SETTINGS, cache) == _run(project, SETTINGS, None)
    # Rebuilt: the next edit finds every other component's file valid.
    path.write_text(path.read_text() + "\n", encoding="utf-8")
    _LocalCalls.sizes.clear()
    assert _run(project, SETTINGS, cache) == _run(project, SETTINGS, None)
    assert _LocalCalls.sizes == [3, 9]  # alpha alone, then the run without the cache


def test_unchanged_components_final_results_are_taken_over_still_encoded(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an edit, the final results of the files of every other component come from the
    last run snapshot as they were stored (``api.Carry``), and their part of a JSON report from
    the kept pieces (``cache.Pieces``): equal to ``--no-cache``, unused suppressions and
    reports included, and never decoded once both are kept."""
    import io

    from sightlint import reporting
    from sightlint.models import LazyFileResult

    settings = Settings(select=("SL101", "SL196"), report_unused_suppressions=True)
    helper = project / "alpha/helpers.py"
    helper.write_text(helper.read_text() + "\n\nx = 1  # noqa: SL101\n", encoding="utf-8")
    cache = tmp_path / "cache"
    monkeypatch.chdir(project)

    def report(run: Any, fmt: str, unused: bool = True) -> str:
        stream = io.StringIO()
        reporting.render(run, fmt, stream, unused_suppressions=unused)
        return stream.getvalue()

    def same_as_uncached(cached: Any) -> None:
        plain = api.check_paths([project], settings, cwd=project, use_cache=False, jobs=1)
        assert report(cached, "json") == report(plain, "json")
        assert report(cached, "sarif") == report(plain, "sarif")
        assert _findings(cached) == _findings(plain)
        assert [(r.path, r.unused_suppressions) for r in cached.files] == [(r.path, r.unused_suppressions) for r in plain.files]
        assert any(r.unused_suppressions for r in plain.files)

    def edited(path: str) -> Any:
        target = project / path
        target.write_text(target.read_text() + "\n\nasync def more():\n    pass\n", encoding="utf-8")
        _LocalCalls.sizes.clear()
        return api.check_paths([project], settings, cwd=project, cache_dir=cache, jobs=1)

    same_as_uncached(api.check_paths([project], settings, cwd=project, cache_dir=cache, jobs=1))
    for step, path in enumerate(["beta/api.py", "gamma/api.py", "beta/helpers.py"]):
        run = edited(path)
        assert len(_LocalCalls.sizes) == 1 and _LocalCalls.sizes[0] in (4, 5)  # the edited component alone
        taken = [r for r in run.files if r.path.startswith("alpha/")]
        assert len(taken) == 3 and any(isinstance(r, LazyFileResult) for r in taken)
        assert all(not isinstance(r, LazyFileResult) or not r.decoded for r in taken)
        if step:  # the pieces of alpha's results were kept by the run before
            report(run, "json", unused=False)  # (listing the unused suppression decodes its file)
            assert all(not isinstance(r, LazyFileResult) or not r.decoded for r in taken)
        same_as_uncached(run)


def test_a_run_on_some_files_leaves_the_whole_runs_results_to_take_over(project: Path, tmp_path: Path) -> None:
    """``check FILES`` (a pre-commit hook) keeps its run snapshot apart: the next whole run still
    takes over the final results of the components that did not change."""
    from sightlint.models import LazyFileResult

    cache = tmp_path / "cache"
    _run(project, SETTINGS, cache)
    path = project / "alpha/api.py"
    path.write_text(path.read_text() + "\n\nasync def more():\n    pass\n", encoding="utf-8")
    named = [path, project / "beta/api.py"]
    assert _run(project, SETTINGS, cache, named) == _run(project, SETTINGS, None, named)
    assert _run(project, SETTINGS, cache, named) == _run(project, SETTINGS, None, named)  # from its own snapshot
    assert len(list(cache.glob("results-*.part.run"))) == 1
    run = api.check_paths([project], SETTINGS, cwd=project, cache_dir=cache, jobs=1)
    taken = [r for r in run.files if r.path.startswith(("beta/", "gamma/"))]
    assert taken and all(isinstance(r, LazyFileResult) and not r.decoded or not r.findings for r in taken)
    assert sum(isinstance(r, LazyFileResult) for r in taken) >= 2
    assert _findings(run) == _run(project, SETTINGS, None)


def test_records_resolved_in_the_kept_pool_equal_those_resolved_here(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold cached run with a pool hands the groups of modules to its workers (kept up
    after the files are checked): the findings equal ``--no-cache`` and a run in one process,
    no group is resolved in the main process, and a warm run after an edit agrees too."""
    from sightlint import incremental, runner

    _write(project, {f"pkg{n}/helpers.py": _HELPER.format(n=10 + n) for n in range(6)})
    _write(project, {f"pkg{n}/api.py": _API.format(pkg=f"pkg{n}", n=10 + n) for n in range(6)})
    monkeypatch.setattr(incremental, "_RESOLVE_AT_ONCE", 2)  # several groups
    monkeypatch.setattr(runner, "_MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(runner, "_MIN_PARALLEL_FILES", 2)
    local: list[int] = []
    resolve = incremental.Plan._resolve

    def counted(self: Any, positions: list[int]) -> None:
        local.append(len(positions))
        resolve(self, positions)

    monkeypatch.setattr(incremental.Plan, "_resolve", counted)
    plain = _run(project, SETTINGS, None)
    assert plain
    one = _findings(api.check_paths([project], SETTINGS, cwd=project, cache_dir=tmp_path / "one", jobs=1))
    assert one == plain and local
    local.clear()
    cache = tmp_path / "cache"
    pooled = _findings(api.check_paths([project], SETTINGS, cwd=project, cache_dir=cache, jobs=2))
    assert pooled == plain
    assert local == []  # every group went to a worker
    assert runner.kept_workers() is None  # shut down after the phase
    (project / "pkg3" / "helpers.py").write_text(_HELPER.format(n=13) + "\n\ndef more():\n    time.sleep(2)\n", encoding="utf-8")
    again = _findings(api.check_paths([project], SETTINGS, cwd=project, cache_dir=cache, jobs=2))
    assert again == _run(project, SETTINGS, None)
