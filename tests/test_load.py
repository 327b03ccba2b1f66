"""Load: concurrent runs sharing one cache folder, many files, one huge file.

Correctness is asserted (no crash, no corrupted cache, identical results); time and
memory are reported as figures (``-s`` prints them, ``record_property`` keeps them in
JUnit XML), not asserted against a clock: CI machines are shared. Memory has a generous
ceiling, which only a leak or a quadratic structure would reach.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

MODULE = """\
import asyncio
import time
from datetime import datetime

from pkg.helpers_{j} import nap_{j}


async def handler_{i}(session):
    try:
        await session.execute("select {i}")
    except Exception:
        pass
    nap_{j}()
    return datetime.utcnow()


def sync_{i}():
    time.sleep(0.{i})
"""
HELPER = "import time\n\n\ndef nap_{j}():\n    time.sleep(1)\n"


def tree(root: Path, files: int) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.sightlint]\n")
    (root / "pkg" / "__init__.py").write_text("")
    helpers = max(1, files // 10)
    for j in range(helpers):
        (root / "pkg" / f"helpers_{j}.py").write_text(HELPER.format(j=j))
    for i in range(files):
        (root / "pkg" / f"mod_{i}.py").write_text(MODULE.format(i=i, j=i % helpers))
    return root


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sightlint", "check", "--format", "json", "--select", "ALL", *args]


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SIGHTLINT_NO_CACHE", "SIGHTLINT_CACHE_DIR")}
    return {**clean, **extra}


def report_of(done: subprocess.CompletedProcess[str]) -> list[tuple[str, int, int, str, str]]:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    data = json.loads(done.stdout)
    assert not data["errors"] and not data["internal_errors"], data
    return [(f["path"], f["line"], f["column"], f["code"], f["message"]) for f in data["findings"]]


def test_four_concurrent_runs_share_one_cache(tmp_path: Path) -> None:
    root = tree(tmp_path / "p", 40)
    cache = tmp_path / "shared-cache"
    reference = report_of(subprocess.run(command("--no-cache", "."), cwd=root, capture_output=True, text=True, timeout=300, env=env()))
    assert {code for _, _, _, code, _ in reference} >= {"SL101", "SL201", "SL301"}
    for round_ in range(3):
        if round_:  # each round after the first starts from a changed file
            edited = root / "pkg" / f"mod_{round_}.py"
            edited.write_text(edited.read_text() + f"\n# round {round_}\n")
        runs = [
            subprocess.Popen(command("--cache-dir", str(cache), "--jobs", str(1 + n % 2), "."), cwd=root, env=env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
            for n in range(4)
        ]
        outputs = [run.communicate(timeout=300) for run in runs]
        for run, (out, err) in zip(runs, outputs):
            done = subprocess.CompletedProcess(run.args, run.returncode, out, err)
            assert report_of(done) == reference, f"round {round_}"
        # What the four left behind is a cache a later run can use: the same results.
        later = subprocess.run(command("--cache-dir", str(cache), "."), cwd=root, capture_output=True, text=True, timeout=300, env=env())
        assert report_of(later) == reference
    leftovers = [p.name for p in cache.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [], leftovers


def measured(run: Callable[[], subprocess.CompletedProcess[str]]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run a child process: (its result, wall seconds, peak resident MB of the children so far)."""
    started = time.monotonic()
    done = run()
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KB on Linux
    return done, seconds, peak


@pytest.mark.slow
def test_many_files(tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    files = 1500
    root = tree(tmp_path / "p", files)
    done, seconds, peak = measured(
        lambda: subprocess.run(command("--no-cache", "."), cwd=root, capture_output=True, text=True, timeout=900, env=env())
    )
    found = report_of(done)
    assert sum(1 for _, _, _, code, _ in found if code == "SL301") == files
    assert sum(1 for _, _, _, code, _ in found if code == "SL201") == files
    lines = sum(len(p.read_text().splitlines()) for p in root.rglob("*.py"))
    figures = f"{files + files // 10 + 1} files, {lines} lines: {seconds:.1f} s wall, {lines / seconds:,.0f} lines/s, peak RSS {peak:.0f} MB"
    record_property("many_files", figures)
    print(f"\nload: many files: {figures}")
    assert peak < 4096, figures


@pytest.mark.slow
def test_one_huge_file(tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    """A 3 MB module (``SIGHTLINT_LOAD_MB=9.5`` for one just under the default
    max-file-size): checked whole, and fixed statement by statement (LibCST parses only
    the statements that hold findings), in bounded memory."""
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n")
    megabytes = float(os.environ.get("SIGHTLINT_LOAD_MB", "3"))
    chunk = MODULE.replace("from pkg.helpers_{j} import nap_{j}\n", "").replace("    nap_{j}()\n", "")
    size = len(chunk.format(i=99999, j=0).encode())
    parts = [chunk.format(i=i, j=0) for i in range(int(megabytes * 1024 * 1024 / size))]
    text = "".join(parts)
    (tmp_path / "huge.py").write_text(text)
    done, seconds, peak = measured(
        lambda: subprocess.run(command("--no-cache", "huge.py"), cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env())
    )
    found = report_of(done)
    assert sum(1 for _, _, _, code, _ in found if code == "SL301") == len(parts)
    size = len(text.encode()) / 1024 / 1024
    figures = f"{size:.1f} MB, {text.count(chr(10))} lines: check {seconds:.1f} s wall, peak RSS {peak:.0f} MB"
    fix, fix_seconds, fix_peak = measured(
        lambda: subprocess.run([sys.executable, "-m", "sightlint", "fix", "huge.py"], cwd=tmp_path, capture_output=True,
                               text=True, timeout=900, env=env(SIGHTLINT_NO_CACHE="1"))  # fmt: skip
    )
    assert fix.returncode == 0 and "All checks passed" in fix.stdout, fix.stderr[-2000:] + fix.stdout[-2000:]
    fixed = (tmp_path / "huge.py").read_text()
    assert fixed != text
    compile(fixed, "huge.py", "exec")
    figures += f"; fix {fix_seconds:.1f} s wall, peak RSS {fix_peak:.0f} MB"
    record_property("one_huge_file", figures)
    print(f"\nload: one huge file: {figures}")
    assert peak < 4096 and fix_peak < 4096, figures


def test_the_enclosing_scope_table_matches_a_scan() -> None:
    """Fingerprints look up each finding's enclosing def/class: once a scan of every scope
    per finding (quadratic: a 3 MB module's JSON report took minutes), now a table; same answers."""
    from sightlint.reporting.fingerprint import _Module

    source = "".join(
        f"class C{i}:\n    def m(self):\n        def inner():\n            pass\n        return 1\n\n"
        f"@decorator\ndef f{i}():\n    x = 1\n    def g():\n        return x\n    return g\n\n"
        for i in range(40)
    ) + "def last(): return 1\n"
    module = _Module(source.split("\n"))

    def scan(line: int) -> str:
        best, best_size = "", None
        for first, last, name in module.scopes:
            if first <= line <= last and (best_size is None or last - first <= best_size):
                best, best_size = name, last - first
        return best

    lines = source.count("\n") + 3
    assert [module.scope(n) for n in range(-1, lines)] == [scan(n) for n in range(-1, lines)]
    assert module.scope(3) == "C0.m.inner" and module.scope(8) == "f0" and module.scope(11) == "f0.g"
