"""The crash sweep (``scripts/sweep.py``): a CI-sized subset of the standard library is
clean, and each kind of problem the sweep exists to find is found."""

from __future__ import annotations

import importlib
import json
import os
import sys
import sysconfig
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

SWEEP = Path(__file__).resolve().parents[1] / "scripts" / "sweep.py"


@pytest.fixture(scope="module")
def sweep() -> Iterator[Any]:
    folder = str(SWEEP.parent)
    sys.path.insert(0, folder)  # the spawned workers import the module by name (they get this sys.path)
    try:
        yield importlib.import_module("sweep")
    finally:
        sys.path.remove(folder)


def test_a_subset_of_the_standard_library_is_clean(sweep: Any) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    report = sweep.sweep([stdlib], jobs=2, timeout=120, runs=2, limit=40, tree=False, tree_timeout=600)
    assert report.files == 40
    assert report.problems == [], sweep.summary(report, 5)


def test_the_whole_tree_phase_on_a_small_tree(sweep: Any, tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("import time\n\n\nasync def f():\n    time.sleep(1)\n")
    (tmp_path / "broken.py").write_text("def f(:\n")  # exit code 2 is expected, not a crash
    (tmp_path / "binary.py").write_bytes(b"\x00\x01")
    report = sweep.Report()
    sweep.per_tree(tmp_path, report, runs=2, timeout=300)
    assert report.problems == [], sweep.summary(report, 5)
    assert set(report.seconds) == {
        f"tree check {tmp_path}", f"tree check {tmp_path} (run 2)", f"tree fix {tmp_path}",
        f"tree fix --diff of the fixed copy of {tmp_path}",
    }
    assert report.tree_files[f"{tmp_path} (fix copy)"] == 3
    assert report.tree_files[f"{tmp_path} (files changed by fix)"] == 1  # ok.py: time.sleep -> asyncio.sleep
    assert (tmp_path / "ok.py").read_text() == "import time\n\n\nasync def f():\n    time.sleep(1)\n"  # only the copy


def test_the_tree_phase_finds_bad_fixes_second_fixes_and_differing_files(
    sweep: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "c.py").write_text("z = 3\n")
    calls: list[list[str]] = []

    def fake(args: list[str], seed: str, timeout: float) -> tuple[int, str, str, float]:
        calls.append(list(args))
        if args[0] == "check":
            path = "a.py" if seed == "1" else "b.py"  # the two runs disagree about one file each
            finding = {"path": path, "code": "SL101", "line": 1}
            return 0, json.dumps({"findings": [finding, {"path": "pkg/c.py", "code": "SL301", "line": 1}], "errors": []}), "", 0.1
        copy = Path(args[-1])
        if "--diff" not in args:  # the writing fix: one file broken, one changed and fine
            (copy / "a.py").write_text("x = (\n")
            (copy / "pkg" / "c.py").write_text("z = 4\n")
            return 1, "", "sightlint: b.py: fix failed: a fix produced invalid code (SyntaxError)\n", 0.1
        return 1, "--- a/pkg/c.py\n+++ b/pkg/c.py\n@@ -1 +1 @@\n-z = 4\n+z = 5\n", "", 0.1

    monkeypatch.setattr(sweep, "_sightlint", fake)
    report = sweep.Report()
    sweep.per_tree(tmp_path, report, runs=2, timeout=300)
    found = sorted((p.kind, p.where) for p in report.problems)
    assert found == [
        ("bad-fix", f"{tmp_path} (fix)"),
        ("bad-fix", os.path.join(tmp_path.name, "a.py")),
        ("non-deterministic", "a.py"),
        ("non-deterministic", "b.py"),
        ("not-idempotent", f"{tmp_path} (second fix --diff)"),
    ], found
    assert report.tree_files[f"{tmp_path} (files changed by fix)"] == 2
    assert [a[0] for a in calls] == ["check", "check", "fix", "fix"]
    assert all(Path(c[-1]) != tmp_path for c in calls[2:])  # both fixes ran on the copy
    assert (tmp_path / "a.py").read_text() == "x = 1\n"


def test_a_file_over_the_time_limit_is_a_hang_and_the_sweep_goes_on(sweep: Any, tmp_path: Path) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text("".join(f"def f{i}(a):\n    return [x for x in a if x]\n" for i in range(30_000)))
    quick = tmp_path / "quick.py"
    quick.write_text("x = 1\n")
    report = sweep.Report()
    digests = sweep.per_file([(str(slow), "slow.py"), (str(quick), "quick.py")], 1, 0.5, "1", report)
    assert [(p.kind, p.where) for p in report.problems] == [("hang", "slow.py")]
    assert digests["slow.py"] == "hung" and digests["quick.py"] not in ("hung", "crashed")


def test_bad_and_unstable_fixes_are_found(sweep: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sightlint import fixer

    path = tmp_path / "m.py"
    path.write_text("x = 1\n")
    real = fixer.fix_source
    calls: list[bytes] = []

    def bad(data: bytes, display: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(data)
        real(data, display, *args, **kwargs)
        return fixer.FixOutcome(display, "changed", data, data + b"def (\n" if len(calls) == 1 else data + b"#\n")

    monkeypatch.setattr(fixer, "fix_source", bad)
    found = sweep._outcome(str(path), "m.py")
    kinds = [kind for kind, _ in found["problems"]]
    assert kinds == ["bad-fix", "not-idempotent"], found
    # A worker that dies is a crash for its file; the next file gets a fresh worker.
    report = sweep.Report()
    slot = sweep._Slot("1")
    try:
        slot.give((str(path), "m.py"))
        slot.process.kill()
        how = slot.restart()
        assert "signal 9" in how
        slot.give((str(path), "m.py"))
        assert slot.conn.poll(120) and slot.conn.recv()["problems"] == []
    finally:
        slot.stop()
    assert report.problems == []
