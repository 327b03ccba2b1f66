"""Benchmark sightlint against the floors (read, ``ast.parse``, parse + visit) and its peers.

    python bench/run.py                      # generated ~200k-line project, plus a 2x copy
    python bench/run.py DIR [DIR...]         # your code (copied to a temp dir first)
    python bench/run.py --runs 5 --peers     # ruff, flake8 + flake8-async, pylint, bandit too
    python bench/run.py --lines 700000 --no-scale --no-single --no-floors   # warm and pre-commit runs

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


def _pooled(func: Callable[[list[str]], int], paths: list[str], jobs: int) -> float:
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


def python_files(root: Path) -> list[Path]:
    from sightlint.config import load
    from sightlint.files import discover

    settings = load(None, [root])
    return [f.path for f in discover([root], settings, cwd=root).files]


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
        out.append(f"| {m.name} | {wall} | {rate} | {peak} | {xf} | {xc} | {m.note} |")
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
    parser.add_argument("--fix", action="store_true", help="also time `sightlint fix --diff` (cold, cold with --unsafe-fixes, warm)")
    parser.add_argument("--peers", action="store_true", help="also run ruff, flake8 + flake8-async, bandit and pylint when installed")
    parser.add_argument("--peer-runs", type=int, default=1, help="runs per peer (default 1: pylint is slow)")
    parser.add_argument("--peer-timeout", type=float, default=900.0, help="seconds before a peer run is abandoned")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--quiet", action="store_true", help="only print the final tables")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sightlint-bench-"))
    reports: list[Report] = []
    try:
        if args.dirs:
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

    print("\n\n".join(render(r) for r in reports))
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
