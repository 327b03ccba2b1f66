"""The component-local rules' answers worked out in the check's pool workers.

A cold cached run with a pool hands its workers groups of whole components: they resolve
the records, run the component-local cross-file rules and grade the graded findings on the
group's graph, and locate the cross-file findings' fingerprint parts (``incremental.Plan.answered``).
The reports must be byte-identical to ``--no-cache`` and to one process, with no rule run in
the main process; a group whose rule fails there is worked out in the main process.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sightlint import api, incremental, runner
from sightlint.cli import main
from sightlint.reporting import fingerprint

REPO = Path(__file__).resolve().parent.parent


def _generate(out: Path, lines: int) -> None:
    """``bench/generate.py``: copies of the replica's app, each its own component."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_bench_generate", REPO / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    module.generate(out, lines=lines)


def _report(cache: Path | None, fmt: str, jobs: int) -> str:
    where = ["--no-cache"] if cache is None else ["--cache-dir", str(cache)]
    result = CliRunner().invoke(
        main, ["check", ".", "--select", "ALL", "--format", fmt, "--exit-zero", "--jobs", str(jobs), *where],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def replica(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "app"
    _generate(root, 4000)  # three copies: three components, several groups
    monkeypatch.chdir(root)
    # Small groups and a pool even for a small project.
    monkeypatch.setattr(incremental, "_RESOLVE_AT_ONCE", 4)
    monkeypatch.setattr(runner, "_MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(runner, "_MIN_PARALLEL_FILES", 2)
    return root


class _Local:
    """Counts the component-local rules run and the findings graded in the main process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rules = 0
        self.grades = 0
        run_rule, grade = api._run_rule, api._grade

        def counted_rule(*args: Any) -> Any:
            self.rules += 1
            return run_rule(*args)

        def counted_grade(*args: Any, **kwargs: Any) -> Any:
            self.grades += 1
            return grade(*args, **kwargs)

        monkeypatch.setattr(api, "_run_rule", counted_rule)
        monkeypatch.setattr(api, "_grade", counted_grade)


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_reports_answered_by_the_workers_equal_no_cache(replica: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    plain = _report(None, fmt, 1)
    alone = _report(tmp_path / "alone", fmt, 1)
    assert alone == plain
    local = _Local(monkeypatch)
    asked: list[int] = []
    answered = incremental.Plan.answered

    def counted(self: Any, components: Any) -> Any:
        got = answered(self, components)
        asked.append(got is not None)
        return got

    monkeypatch.setattr(incremental.Plan, "answered", counted)
    parses = 0
    real = fingerprint._Module

    def counting(lines: Any, *args: Any) -> Any:
        nonlocal parses
        parses += lines is not None
        return real(lines, *args)

    monkeypatch.setattr(fingerprint, "_Module", counting)
    cache = tmp_path / "cache"
    assert _report(cache, fmt, 2) == plain
    assert asked == [True]  # every component answered in the workers
    assert local.rules == 0 and local.grades == 0
    assert parses == 0  # the cross-file findings' parts came with the answers
    assert runner.kept_workers() is None
    # The cache the workers' run left behind serves warm runs and runs after an edit alike.
    assert _report(cache, fmt, 2) == plain
    target = sorted(replica.rglob("*.py"))[-1]
    target.write_text(target.read_text(encoding="utf-8") + "\n\nasync def added_probe():\n    import time\n    time.sleep(1)\n", encoding="utf-8")
    assert _report(cache, fmt, 2) == _report(None, fmt, 1)


def test_a_rule_failing_in_a_worker_is_run_here(replica: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker whose rule raises sends no answer: the main process runs the rules, and a
    failure there is reported as without the pool."""
    plain = _report(None, "json", 1)
    real = incremental._answer
    failed: list[bool] = []

    def failing(rows: Any, question: Any) -> Any:
        if not failed:
            failed.append(True)
            raise RuntimeError("boom")
        return real(rows, question)

    monkeypatch.setattr(incremental, "_answer", failing)
    local = _Local(monkeypatch)
    assert _report(tmp_path / "cache", "json", 2) == plain
    assert local.rules > 0  # some group was not answered: the rules ran here
