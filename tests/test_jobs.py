"""Parallel checking: the output is the same whatever ``--jobs`` is."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from click.testing import CliRunner

from sightlint.registry import enabled_rules
from sightlint import runner
from sightlint.cli import main
from sightlint.files import discover
from sightlint.models import Severity
from sightlint.settings import Settings

BODIES = [
    "from datetime import datetime\n\n\ndef stamp():\n    return datetime.utcnow()\n",
    "import datetime\n\n\nasync def f():\n    try:\n        return datetime.datetime.utcnow()\n    except Exception:\n        pass\n",
    "def add(a, b):\n    return a + b\n",
    "def broken(:\n    pass\n",  # SL000
    "x = 1\n",
]


@pytest.fixture(autouse=True)
def small_projects_use_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test projects are far below the size at which the pool pays off; use it anyway."""
    from sightlint import runner

    monkeypatch.setattr(runner, "_MIN_PARALLEL_BYTES", 0)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Enough files (40) to go through the process pool."""
    root = tmp_path / "proj"
    for pkg in ("alpha", "beta"):
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
        for i in range(20):
            (root / pkg / f"m{i:02d}.py").write_text(BODIES[i % len(BODIES)] * (1 + i % 3))
    (root / "pyproject.toml").write_text("[tool.sightlint]\nselect = [\"ALL\"]\n")
    return root


class PoolSpy:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        real = runner._run_pool

        def spy(todo: Any, *args: Any, **kwargs: Any) -> Any:
            done = real(todo, *args, **kwargs)
            self.sizes.append(len(done))
            return done

        monkeypatch.setattr(runner, "_run_pool", spy)


def check(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.chdir(root)
    monkeypatch.delenv("SIGHTLINT_NO_CACHE", raising=False)
    monkeypatch.setenv("SIGHTLINT_CACHE_DIR", str(root.parent / "cache"))
    result = CliRunner().invoke(main, ["check", "--format", "json", *args])
    assert result.exit_code == 1, result.output
    return result.output


def test_jobs_1_and_jobs_2_give_identical_output(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = PoolSpy(monkeypatch)
    one = check(project, monkeypatch, "--no-cache", "--jobs", "1")
    assert spy.sizes == []
    two = check(project, monkeypatch, "--no-cache", "--jobs", "2")
    assert spy.sizes == [42]  # every file went through the pool, none fell back
    assert one == two
    assert '"SL000"' in one and '"SL301"' in one


def test_cold_parallel_and_warm_serial_runs_agree(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = check(project, monkeypatch, "--no-cache", "--jobs", "1")
    assert check(project, monkeypatch, "--jobs", "2") == reference  # cold, fills the cache
    assert check(project, monkeypatch, "--jobs", "1") == reference  # warm
    assert check(project, monkeypatch) == reference  # warm, default jobs


def test_a_pool_that_cannot_start_falls_back_to_this_process(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import concurrent.futures

    reference = check(project, monkeypatch, "--no-cache", "--jobs", "1")

    def no_processes(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no processes here")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_processes)
    assert check(project, monkeypatch, "--no-cache", "--jobs", "2") == reference


def test_settings_travel_to_workers_intact() -> None:
    settings = Settings(
        select=("ALL",),
        severity=MappingProxyType({"SL301": Severity.HIGH}),
        origins=MappingProxyType({"select": "pyproject.toml"}),
        per_file_ignores=(("tests/*", ("SL201",)),),
    )
    with pytest.raises(TypeError):
        pickle.dumps(settings)  # why the runner converts them
    restored = runner._restore(pickle.loads(pickle.dumps(runner._portable(settings))))
    for field in dataclasses.fields(Settings):
        before, after = getattr(settings, field.name), getattr(restored, field.name)
        if isinstance(before, MappingProxyType):
            assert isinstance(after, MappingProxyType) and dict(after) == dict(before), field.name
        else:
            assert after == before, field.name


def test_results_come_back_in_input_order(project: Path) -> None:
    settings = Settings(select=("ALL",))
    files = discover([project], settings, cwd=project).files
    serial = runner.check_files(files, settings, rules=enabled_rules(settings), jobs=1)
    parallel = runner.check_files(files, settings, rules=enabled_rules(settings), jobs=2)
    assert [r.path for r in parallel] == [f.display for f in files] == [r.path for r in serial]
    assert [r.findings for r in parallel] == [r.findings for r in serial]


def test_default_jobs_is_at_least_one() -> None:
    assert runner.default_jobs() >= 1
