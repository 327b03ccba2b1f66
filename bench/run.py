"""Benchmark sightlint against the floors (read, ``ast.parse``, parse + visit) and its peers.

    python bench/run.py                      # generated ~200k-line project, plus a 2x copy
    python bench/run.py DIR [DIR...]         # your code (copied to a temp dir first)
    python bench/run.py --runs 5 --peers     # ruff, flake8 + flake8-async, pylint, bandit too
    python bench/run.py --lines 700000 --no-scale --no-single --no-floors   # warm and pre-commit runs
    python bench/run.py --lines 700000 --no-scale --no-single --no-floors --precommit 0 --fix   # issue 13's fix bounds
    python bench/run.py --fix --fix-only     # fix time for 1,500 vs 3,000 findings in one file; a 20 MB file

With ``--fix``: `fix --diff` cold, cold with ``--unsafe-fixes`` (bound: 2x a cold check) and
warm; `fix --diff` against `check` with only rules that have no fix selected (bound: check
+ 10%; ``--fix-runs`` alternating runs, medians of wall and CPU time); fix time against the
findings of one file in several shapes (bound: twice the findings within twice the time);
a ``--fix-big-mb`` generated file under the default settings (bound: a minute and 1 GB).

For each project it reports files, lines, median wall time, lines/s and peak memory of
(a) a cold run (cache cleared), (b) a warm run with nothing changed, (c) a warm run after
appending a comment to one file, (d) what a pre-commit hook does: ``--precommit`` files
(default 5, spread over the tree) named on the command line, after one of them was
edited, then with nothing changed (the whole project is analysed, their findings
reported); next to the floors measured on the same files with the same number of
processes, and the peers that are installed, as ratios: the machine may be shared and
noisy, ratios from one run are what to compare. Every sightlint run is a
fresh ``python -m sightlint check --select ALL`` process; "warm minus start" subtracts
the median start-up of a bare ``python -c pass``. Peak memory is the largest sampled sum
of the resident sets of the run's process tree (main process plus pool workers).

Projects are copied (Python and config files only) into a temporary folder so that
run (c) can edit a file and nothing of yours is touched; the cache lives there too.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import DEFAULT_LINES, generate  # noqa: E402

_COPY_SUFFIXES = (".py", ".pyi", ".toml", ".cfg", ".ini", ".gitignore")
_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".sightlint_cache", "frontend"}


@dataclass
class Measure:
    name: str
    wall: float  # median seconds
    runs: list[float] = field(default_factory=list)
    peak_mib: float | None = None
    note: str = ""
    cpu: float | None = None  # median CPU seconds of the run's process tree, when measured


@dataclass
class Report:
    project: str
    files: int
    lines: int
    jobs: int
    measures: list[Measure] = field(default_factory=list)

    def get(self, name: str) -> Measure | None:
        return next((m for m in self.measures if m.name == name), None)


# -- child processes ------------------------------------------------------------------


def _tree_rss(pid: int) -> int:
    """Resident set of ``pid`` and its descendants, in bytes (Linux /proc; 0 elsewhere)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def timed(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float | None = None) -> tuple[float, float, int]:
    """Run ``cmd``; return (wall seconds, peak MiB of its process tree, exit code)."""
    start = time.perf_counter()
    # A session of its own, so that a timeout kills the peer's worker processes too (they
    # would keep the pipe open and the machine busy).
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.01):
            peak = max(peak, _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (AttributeError, OSError):
            proc.kill()
        proc.communicate()
        done.set()
        return float("inf"), peak / 2**20, -1
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        sys.stderr.write(f"bench: {' '.join(cmd)} exited {proc.returncode}:\n{stderr.decode(errors='replace')[-2000:]}\n")
    return wall, peak / 2**20, proc.returncode


def timed_cpu(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Run ``cmd``; return (wall seconds, CPU seconds of it and its reaped children, peak MiB).
    CPU time is what to compare on a shared machine: other processes' load stretches wall time."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, peak, _ = timed(cmd, cwd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), peak


def repeat(name: str, runs: int, once: Callable[[int], tuple[float, float]], note: str = "") -> Measure:
    walls, peaks = [], []
    for i in range(runs):
        wall, peak = once(i)
        walls.append(wall)
        peaks.append(peak)
    return Measure(name, statistics.median(walls), walls, max(peaks) if peaks else None, note)


# -- floors ---------------------------------------------------------------------------


def _read_all(paths: list[str]) -> int:
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            total += len(f.read())
    return total


def _parse_all(paths: list[str]) -> int:
    n = 0
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        try:
            ast.parse(data)
            n += 1
        except (SyntaxError, ValueError):
            pass
    return n


class _Visit(ast.NodeVisitor):
    pass


def _parse_visit_all(paths: list[str]) -> int:
    n = 0
    visitor = _Visit()
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        try:
            visitor.visit(ast.parse(data))
            n += 1
        except (SyntaxError, ValueError, RecursionError):
            pass
    return n


_PASS: dict[str, Any] = {}  # per process: the settings and rules of the project in hand


def _per_file_pass(items: list[tuple[str, str, str | None, str]]) -> int:
    """sightlint's per-file pass alone over (path, display path, module, project root):
    the one traversal with every rule and the summary collector, as a pool worker runs it,
    without the cache, the cross-file phase or the report: how much of a cold run the
    per-file work is, against the floors."""
    from sightlint import engine
    from sightlint.config import load
    from sightlint.registry import implemented

    n = 0
    for path, display, module, root in items:
        if _PASS.get("root") != root:
            settings = load(None, [Path(root)])
            _PASS.update(root=root, settings=settings, rules=implemented())
        with open(path, "rb") as f:
            data = f.read()
        engine.check_source(data, display, _PASS["settings"], rules=_PASS["rules"], module=module, summarize=True)
        n += 1
    return n


def _pooled(func: Callable[[list[Any]], int], paths: list[Any], jobs: int) -> float:
    """Wall time of ``func`` over ``paths`` in a fresh pool of ``jobs`` processes (start-up included)."""
    import multiprocessing

    start = time.perf_counter()
    if jobs == 1:
        func(paths)
    else:
        size = max(1, len(paths) // (jobs * 6))
        chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
        ctx = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None
        with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
            list(pool.map(func, chunks))
    return time.perf_counter() - start


# -- one project ----------------------------------------------------------------------


def copy_project(src: Path, dest: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set()
        for name in names:
            full = Path(folder) / name
            if full.is_dir():
                if name in _SKIP_DIRS:
                    skipped.add(name)
            elif not name.endswith(_COPY_SUFFIXES):
                skipped.add(name)
        return skipped

    shutil.copytree(src, dest, ignore=ignore, symlinks=False)
    return dest


def discovered(root: Path) -> list[Any]:
    """The files ``sightlint check`` finds in ``root`` (``files.SourceFile``)."""
    from sightlint.config import load
    from sightlint.files import discover

    settings = load(None, [root])
    return list(discover([root], settings, cwd=root).files)


def python_files(root: Path) -> list[Path]:
    return [f.path for f in discovered(root)]


def bench_project(root: Path, label: str, args: argparse.Namespace, work: Path) -> Report:
    files = python_files(root)
    paths = [str(p) for p in files]
    lines = sum(Path(p).read_bytes().count(b"\n") for p in paths)
    report = Report(label, len(files), lines, args.jobs)
    runs = args.runs
    def say(*parts: object) -> None:
        if not args.quiet:
            print(*parts, file=sys.stderr, flush=True)

    say(f"== {label}: {len(files)} files, {lines} lines, {args.jobs} jobs")

    def floor(name: str, func: Callable[[list[str]], int], jobs: int) -> Measure:
        return repeat(name, runs, lambda _: (_pooled(func, paths, jobs), 0.0))

    if not args.no_floors:
        report.measures.append(floor("floor: read every file", _read_all, 1))
        report.measures.append(floor("floor: ast.parse", _parse_all, args.jobs))
        report.measures.append(floor("floor: ast.parse + NodeVisitor", _parse_visit_all, args.jobs))
        # Not a floor: sightlint's own per-file pass, in the same pool, for the share of a
        # cold run that the rest (cache, cross-file phase, report, start-up) takes.
        items = [(str(f.path), f.display, f.module, str(root)) for f in discovered(root)]
        _per_file_pass(items[:1])  # imports the engine, the rules and the collector before the pool forks, as a run does
        report.measures.append(repeat("per-file pass alone (every rule + summaries, in-process)", runs, lambda _: (_pooled(_per_file_pass, items, args.jobs), 0.0)))
    cache = work / f"cache-{label.replace('/', '_')}"
    env = {**os.environ, "SIGHTLINT_CACHE_DIR": str(cache)}
    env.pop("SIGHTLINT_NO_CACHE", None)
    # The cache's key too: another process replacing the shared one (~/.cache/sightlint)
    # mid-benchmark would turn the warm runs cold.
    env.setdefault("SIGHTLINT_KEY_DIR", str(work / "key"))
    # Measure sightlint as installed: Python caches its compiled modules. Some sandboxes
    # set PYTHONDONTWRITEBYTECODE, which makes every run of an editable install compile
    # all of sightlint again (~0.05 s a run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "sightlint", "check", ".", "--select", "ALL", "--format", "json",
           "-o", os.devnull, "--exit-zero", "--jobs", str(args.jobs)]  # fmt: skip
    timed(cmd + ["--no-cache"], root, env)  # untimed: compiles sightlint's modules once

    start = repeat("python -c pass (start-up)", runs, lambda _: timed([sys.executable, "-c", "pass"], root, env)[:2])
    report.measures.append(start)
    report.measures.append(
        repeat("sightlint --version", runs, lambda _: timed([sys.executable, "-m", "sightlint", "--version"], root, env)[:2])
    )

    def cold(_: int) -> tuple[float, float]:
        shutil.rmtree(cache, ignore_errors=True)
        return timed(cmd, root, env)[:2]

    report.measures.append(repeat("sightlint cold", runs, cold))
    timed(cmd, root, env)  # make sure the cache is complete
    warm = repeat("sightlint warm", runs, lambda _: timed(cmd, root, env)[:2])
    report.measures.append(warm)
    target = Path(paths[len(paths) // 2])
    original = target.read_bytes()

    def edited(i: int) -> tuple[float, float]:
        target.write_bytes(original + f"\n# bench edit {i} {time.time()}\n".encode())
        return timed(cmd, root, env)[:2]

    try:
        report.measures.append(repeat("sightlint warm, one file edited", runs, edited))
    finally:
        target.write_bytes(original)
    if args.fix:
        # `fix --diff` plans on the same (cached) check and parses with LibCST only the
        # statements it fixes: cold, it should cost a cold check plus the fixes; warm, a
        # warm check plus the fixes. Compare with "sightlint cold" / "sightlint warm".
        fix_cmd = [sys.executable, "-m", "sightlint", "fix", ".", "--diff", "--select", "ALL", "--jobs", str(args.jobs)]

        def fix_cold(flags: list[str]) -> Callable[[int], tuple[float, float]]:
            def once(_: int) -> tuple[float, float]:
                shutil.rmtree(cache, ignore_errors=True)
                return timed(fix_cmd + flags, root, env)[:2]

            return once

        report.measures.append(repeat("sightlint fix --diff cold", runs, fix_cold([])))
        report.measures.append(repeat("sightlint fix --diff --unsafe-fixes cold", runs, fix_cold(["--unsafe-fixes"])))
        timed(cmd, root, env)
        report.measures.append(repeat("sightlint fix --diff warm", runs, lambda _: timed(fix_cmd, root, env)[:2]))
        report.measures.extend(nothing_to_fix(root, env, args))
    if args.precommit > 0:
        report.measures.extend(precommit(paths, args.precommit, cmd, root, env, runs))
    for m in report.measures:
        if m.name.startswith(("sightlint warm", "sightlint pre-commit")):
            m.note = f"{m.wall - start.wall:.3f} s without interpreter start"
    if not args.no_single:
        single = [c if c != str(args.jobs) else "1" for c in cmd] + ["--no-cache"]
        report.measures.append(repeat("sightlint cold, --jobs 1", runs, lambda _: timed(single, root, env)[:2]))
    if args.peers:
        report.measures.extend(peers(root, args, say))
    for m in report.measures:
        say(f"   {m.name:<36} {m.wall:8.3f} s  {m.note}")
    return report


def precommit(paths: list[str], count: int, cmd: list[str], root: Path, env: dict[str, str], runs: int) -> list[Measure]:
    """``count`` files named on the command line, as a pre-commit hook names the staged ones,
    after editing the first of them, then with nothing changed."""
    picked = [paths[(2 * i + 1) * len(paths) // (2 * count)] for i in range(min(count, len(paths)))]
    named = [os.path.relpath(p, root) for p in picked]
    hook = [c for c in cmd if c != "."] + named
    timed(cmd, root, env)  # the whole tree as it is now: the cache is warm
    target = Path(picked[0])
    original = target.read_bytes()

    def edited(i: int) -> tuple[float, float]:
        target.write_bytes(original + f"\n# bench pre-commit edit {i} {time.time()}\n".encode())
        return timed(hook, root, env)[:2]

    try:
        measures = [repeat(f"sightlint pre-commit, {len(named)} files, one edited", runs, edited)]
        measures.append(repeat(f"sightlint pre-commit, {len(named)} files, unchanged", runs, lambda _: timed(hook, root, env)[:2]))
    finally:
        target.write_bytes(original)
    return measures


def _peer_once(cmd: list[str], root: Path, timeout: float, _: int) -> tuple[float, float]:
    return timed(cmd, root, timeout=timeout)[:2]


def peers(root: Path, args: argparse.Namespace, say: Callable[..., None]) -> list[Measure]:
    j = str(args.jobs)
    candidates = [
        ("ruff (all rules)", "ruff", ["ruff", "check", "--isolated", "--select", "ALL", "--no-cache", "--exit-zero", "-q", "."]),
        ("flake8 + flake8-async", "flake8", ["flake8", "--isolated", "-j", j, "--extend-select", "ASYNC", "--exit-zero", "."]),
        ("bandit", "bandit", ["bandit", "-r", "-q", "--exit-zero", "."]),
        ("pylint", "pylint", ["pylint", "-j", j, "--exit-zero", "--recursive=y", "--disable=import-error", "."]),
    ]
    found = []
    for name, exe, cmd in candidates:
        if shutil.which(exe) is None:
            say(f"   (peer {exe} not installed)")
            continue
        say(f"   running {name}...")
        found.append(repeat(name, args.peer_runs, functools.partial(_peer_once, cmd, root, args.peer_timeout)))
    return found


# -- fix scenarios (issue 13's speed bounds; figures, not timed tests) -----------------


def _no_fix_codes() -> list[str]:
    """The rules that have no automatic fix: selecting only them leaves nothing to fix."""
    from sightlint.models import FixSafety
    from sightlint.registry import implemented

    return sorted(r.meta.code for r in implemented() if r.fix_node is None or r.meta.fix is FixSafety.NONE)


def nothing_to_fix(root: Path, env: dict[str, str], args: argparse.Namespace) -> list[Measure]:
    """`fix --diff` where nothing is fixable (only rules without a fix selected) against
    `check` with the same selection, both warm: the bound is check + 10%. Many alternating
    runs; medians of wall and of CPU time (the machine may be shared)."""
    codes = ",".join(_no_fix_codes())
    jobs = ["--jobs", str(args.jobs)]
    check = [sys.executable, "-m", "sightlint", "check", ".", "--select", codes, "--format", "json", "-o", os.devnull, "--exit-zero", *jobs]
    fix = [sys.executable, "-m", "sightlint", "fix", ".", "--diff", "--select", codes, *jobs]
    timed(check, root, env)  # the cache holds this selection
    results: dict[str, list[tuple[float, float, float]]] = {"check": [], "fix": []}
    for _ in range(args.fix_runs):
        results["check"].append(timed_cpu(check, root, env))
        results["fix"].append(timed_cpu(fix, root, env))
    out = []
    for key, label in (("check", "check, no fixable rule selected, warm"), ("fix", "fix --diff, no fixable rule selected, warm")):
        rows = results[key]
        out.append(
            Measure(
                f"sightlint {label}",
                statistics.median(r[0] for r in rows),
                [r[0] for r in rows],
                max(r[2] for r in rows),
                cpu=statistics.median(r[1] for r in rows),
            )
        )
    check_m, fix_m = out
    assert check_m.cpu is not None and fix_m.cpu is not None
    fix_m.note = (
        f"{args.fix_runs} runs each, alternating: wall {fix_m.wall / check_m.wall - 1:+.1%}, "
        f"CPU {fix_m.cpu / check_m.cpu - 1:+.1%} over check (bound +10%)"
    )
    return out


# One file of N fixable findings, by shape: (rule, header, one finding's code).
_LINEAR_SHAPES: dict[str, tuple[str, str, Callable[[int], str]]] = {
    "SL301, one per function": ("SL301", "from datetime import datetime\n\n", lambda i: f"def f{i}():\n    return datetime.utcnow()\n\n"),
    "SL301, all in one function": ("SL301", "from datetime import datetime\n\ndef f():\n", lambda i: f"    a{i} = datetime.utcnow()\n"),
    "SL201, one per function": ("SL201", "", lambda i: f"def f{i}(x):\n    try:\n        x.run()\n    except Exception:\n        pass\n\n"),
    "SL201, all in one function": (
        "SL201",
        "import logging\n\nlogger = logging.getLogger(__name__)\n\ndef f(x):\n",
        lambda i: f"    try:\n        x.run{i}()\n    except Exception:\n        pass\n",
    ),
    "SL705, nested defs": (
        "SL705",
        "from fastapi import APIRouter\n\nrouter = APIRouter()\n\n",
        lambda i: f"@router.get('/p{i}')\nasync def p{i}(doc: int) -> dict:\n    def shorten{i}(value: str) -> str:\n        return value[:4]\n\n    return {{'p': shorten{i}(str(doc))}}\n\n\n",
    ),
}


def fix_linearity(work: Path, args: argparse.Namespace, say: Callable[..., None]) -> list[str]:
    """Fix time against the findings of one file: N and 2N findings (default 1,500 and 3,000)
    in each shape, `fix --diff --no-cache -j1` minus `check --no-cache -j1` of the same file
    (CPU time, best of the runs). The bound: 2N within 2x the time of N."""
    env = {**os.environ, "SIGHTLINT_NO_CACHE": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    n = args.fix_findings
    rows = ["| shape | findings | check CPU | fix --diff CPU | fix minus check | x the half |", "|---|---:|---:|---:|---:|---:|"]
    for label, (code, header, one) in _LINEAR_SHAPES.items():
        if args.fix_shapes and not any(word.lower() in label.lower() for word in args.fix_shapes):
            continue
        spent: dict[int, float] = {}
        for count in (n, 2 * n):
            folder = work / f"linear-{code}-{count}-{len(spent)}-{abs(hash(label)) % 1000}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "many.py").write_text(header + "".join(one(i) for i in range(count)), encoding="utf-8")
            base = [sys.executable, "-m", "sightlint"]
            sel = ["--select", code, "--jobs", "1"]
            check = min(timed_cpu([*base, "check", ".", *sel, "--format", "json", "-o", os.devnull, "--exit-zero"], folder, env)[1] for _ in range(args.runs))
            fix = min(timed_cpu([*base, "fix", ".", "--diff", "--unsafe-fixes", *sel], folder, env)[1] for _ in range(args.runs))
            spent[count] = fix - check
            ratio = f"{spent[count] / spent[n]:.2f}" if count != n and spent[n] > 0 else ""
            rows.append(f"| {label} | {count:,} | {check:.2f} s | {fix:.2f} s | {spent[count]:.2f} s | {ratio} |")
            say(f"   linearity {label} {count}: check {check:.2f} s, fix {fix:.2f} s CPU")
            shutil.rmtree(folder, ignore_errors=True)
    return rows


def big_file(work: Path, args: argparse.Namespace, say: Callable[..., None]) -> list[str]:
    """A generated module of ``--fix-big-mb`` MB (default 20) with a finding every 25 lines,
    under the default settings: `fix --diff` must fix it or skip it with a note within a
    minute and 1 GB (peak resident set of the process tree)."""
    folder = work / "bigfile"
    folder.mkdir(parents=True, exist_ok=True)
    target = args.fix_big_mb * 2**20
    chunk = (
        "\n\nclass Service{i}:\n    def __init__(self, client, retries: int = 3) -> None:\n"
        "        self.client = client\n        self.retries = retries\n\n"
        "    def compute(self, values: list[int]) -> int:\n        total = 0\n        for value in values:\n"
        "            if value % 2:\n                total += value\n            else:\n                total -= value // 2\n"
        "        return total\n\n    def stamp(self):\n        return datetime.utcnow()\n"
    )
    with open(folder / "generated.py", "w", encoding="utf-8") as f:
        f.write("from datetime import datetime\n")
        size, i = 0, 0
        while size < target:
            text = chunk.format(i=i)
            f.write(text)
            size, i = size + len(text), i + 1
    env = {**os.environ, "SIGHTLINT_NO_CACHE": "1"}
    cmd = [sys.executable, "-m", "sightlint", "fix", ".", "--diff"]
    wall, cpu, peak = timed_cpu(cmd, folder, env)
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    noted = [line for line in proc.stderr.splitlines() if "generated.py" in line]
    fixed = proc.stdout.count("\n+")
    say(f"   big file {args.fix_big_mb} MB: {wall:.1f} s wall, {cpu:.1f} s CPU, {peak:.0f} MiB")
    shutil.rmtree(folder, ignore_errors=True)
    return [
        "| file | findings | wall | CPU | peak MiB | outcome |",
        "|---|---:|---:|---:|---:|---|",
        f"| {args.fix_big_mb} MB generated module | {i:,} | {wall:.1f} s | {cpu:.1f} s | {peak:.0f} | "
        + (f"skipped: {noted[0].split(': ', 1)[-1]}" if noted else f"fixed ({fixed} added lines in the diff)")
        + " |",
    ]


# -- reporting ------------------------------------------------------------------------


def render(report: Report) -> str:
    floor = report.get("floor: ast.parse + NodeVisitor")
    cold = report.get("sightlint cold")
    out = [
        f"## {report.project}: {report.files} files, {report.lines:,} lines, {report.jobs} processes",
        "",
        "| what | wall (median) | lines/s | peak MiB | x floor (parse+visit) | x sightlint cold | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for m in report.measures:
        rate = f"{report.lines / m.wall:,.0f}" if m.wall and m.wall != float("inf") and "start" not in m.name and "version" not in m.name else ""
        peak = f"{m.peak_mib:.0f}" if m.peak_mib else ""
        xf = f"{m.wall / floor.wall:.2f}" if floor and floor.wall else ""
        xc = f"{m.wall / cold.wall:.2f}" if cold and cold.wall else ""
        wall = "timeout" if m.wall == float("inf") else f"{m.wall:.3f} s"
        note = f"CPU {m.cpu:.3f} s; {m.note}" if m.cpu is not None else m.note
        out.append(f"| {m.name} | {wall} | {rate} | {peak} | {xf} | {xc} | {note} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="*", type=Path, help="projects to benchmark (default: a generated one)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is reported (default 3)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes for sightlint and the floors (default: all cores)")
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES, help="size of the generated project (default %(default)s)")
    parser.add_argument("--no-scale", action="store_true", help="skip the 2x generated project (linear-scaling check)")
    parser.add_argument("--no-single", action="store_true", help="skip the --jobs 1 cold run")
    parser.add_argument("--no-floors", action="store_true", help="skip the floors (read, parse, parse + visit)")
    parser.add_argument("--precommit", type=int, default=5, metavar="N", help="files named in the pre-commit runs (default 5; 0 skips them)")
    parser.add_argument(
        "--fix",
        action="store_true",
        help="also time `sightlint fix --diff` (cold, cold with --unsafe-fixes, warm; with nothing fixable against check), "
        "fix time against the findings of one file, and a --fix-big-mb file",
    )
    parser.add_argument("--fix-only", action="store_true", help="with --fix: only the one-file scenarios (linearity, big file), no project")
    parser.add_argument("--fix-runs", type=int, default=9, help="runs of each of check and fix --diff with nothing fixable (default 9)")
    parser.add_argument("--fix-findings", type=int, default=1500, help="findings in the smaller one-file case (default 1500; the other has twice)")
    parser.add_argument("--fix-shapes", nargs="*", default=None, help="only the linearity shapes whose label holds one of these words")
    parser.add_argument("--fix-big-mb", type=int, default=20, help="size of the big generated file in MB (default 20; 0 skips it)")
    parser.add_argument("--peers", action="store_true", help="also run ruff, flake8 + flake8-async, bandit and pylint when installed")
    parser.add_argument("--peer-runs", type=int, default=1, help="runs per peer (default 1: pylint is slow)")
    parser.add_argument("--peer-timeout", type=float, default=900.0, help="seconds before a peer run is abandoned")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--quiet", action="store_true", help="only print the final tables")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sightlint-bench-"))
    reports: list[Report] = []
    extra: list[str] = []
    try:
        if args.fix:
            def say(*parts: object) -> None:
                if not args.quiet:
                    print(*parts, file=sys.stderr, flush=True)

            extra += [f"## fix time against the findings of one file (CPU, best of {args.runs})", "", *fix_linearity(work, args, say)]
            if args.fix_big_mb:
                extra += ["", "## a big file, default settings", "", *big_file(work, args, say)]
        if args.fix and args.fix_only:
            pass
        elif args.dirs:
            for i, src in enumerate(args.dirs):
                root = copy_project(src.resolve(), work / f"project{i}")
                reports.append(bench_project(root, str(src), args, work))
        else:
            made = generate(work / "generated", args.lines)
            reports.append(bench_project(made.root, f"generated ({made.copies} copies)", args, work))
            if not args.no_scale:
                shutil.rmtree(made.root)
                big = generate(work / "generated-2x", 2 * args.lines)
                scale_args = argparse.Namespace(**{**vars(args), "peers": False})
                reports.append(bench_project(big.root, f"generated 2x ({big.copies} copies)", scale_args, work))
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    print("\n\n".join([*(render(r) for r in reports), *(["\n".join(extra)] if extra else [])]))
    for r in reports:
        cold, fix_cold = r.get("sightlint cold"), r.get("sightlint fix --diff --unsafe-fixes cold")
        if cold and fix_cold and cold.wall:
            print(f"\n{r.project}: fix --diff --unsafe-fixes cold / check cold = {fix_cold.wall / cold.wall:.2f} (bound 2)")
    generated = [r for r in reports if r.project.startswith("generated")]
    if len(generated) == 2:
        rates = [r.lines / m.wall for r in generated if (m := r.get("sightlint cold"))]
        if len(rates) == 2:
            print(f"\nlinear scaling (cold lines/s, 2x vs 1x): {rates[1] / rates[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
