"""Crash sweep: run sightlint over real code and report what went wrong, with counts.

    python scripts/sweep.py                                  # this Python's standard library + site-packages
    python scripts/sweep.py ROOT [ROOT...]                   # any trees (e.g. /work/judge-a/*)
    python scripts/sweep.py --stdlib --limit 300 --json out.json
    python scripts/sweep.py ROOT --no-tree --timeout-per-file 10 --jobs 2

Two phases, both with every rule on (``--select ALL``) and the unsafe fixes too:

1. **Per file**, in worker processes that are watched from here (a worker that dies or
   overruns ``--timeout-per-file``, default 30 s, costs its file a *crash* or a *hang*,
   and a fresh worker takes the next file): the file is checked; it is fixed in memory
   (``fix --diff --unsafe-fixes`` writes nothing either); a fixed text that no longer
   compiles while the original did is a *bad fix*; a fixed text whose own fix changes it
   again is *not idempotent*. With ``--runs 2`` (the default) every file is done again by
   workers with another hash seed, and any difference in findings or fix output is
   *non-deterministic*.
2. **Per tree**, each ROOT goes through the real command line in a fresh process (so
   discovery, the process pool, the cross-file phase and the reporters are swept too):
   ``sightlint check --select ALL --format json --no-cache ROOT``, twice with ``--runs 2``
   (another hash seed), and every file whose findings differ between the two reports is
   *non-deterministic*; then the tree's ``*.py``/``*.pyi`` files are copied and ``sightlint fix
   --unsafe-fixes --select ALL`` writes into the copy: a changed file that no longer
   compiles while its original did (or a "fix produced invalid code" refusal) is a *bad
   fix*, and ``fix --diff --unsafe-fixes`` over the fixed copy must print no patch (a
   file it would change again is *not idempotent*). A non-JSON report, a traceback, an
   exit by signal or an exit code other than 0/1 (2 is expected only with files that
   cannot be read or parsed) is a crash; ``internal error`` lines are internal errors.
   ``--tree-steps check`` or ``fix`` runs one of the two.

Internal errors are a rule or the engine raising (caught and reported, the run goes on);
crashes take a worker or a whole command down. Files are found by walking each ROOT
(symlinks not followed, every ``*.py`` and ``*.pyi``), so the sweep sees what default excludes skip.

The summary prints counts and up to ``--show`` examples of each problem; ``--json`` writes
every problem. Exit status 1 if any crash, internal error, hang, bad fix or
non-determinism was found. The test suite runs a small subset (``tests/test_sweep.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import selectors
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

KINDS = ("crash", "internal-error", "hang", "bad-fix", "not-idempotent", "non-deterministic")


# -- the worker side -------------------------------------------------------------------


def _outcome(path: str, display: str) -> dict[str, Any]:
    """Check and fix one file in this process; problems found, and a digest of the results."""
    from sightlint import api, fixer, source
    from sightlint.settings import Settings

    settings = Settings(select=("ALL",))
    problems: list[tuple[str, str]] = []
    data = source.read_source(path, settings.max_file_size)
    if isinstance(data, str):
        return {"problems": [], "digest": "unreadable: " + data, "skipped": True}
    h = hashlib.sha256()
    result = api.check_source(data, display, settings)
    problems += [("internal-error", f"check: {e}") for e in result.errors]
    for f in result.findings:
        h.update(f"{f.code}|{f.line}|{f.col}|{f.span.end_line}|{f.span.end_col}|{f.message}\n".encode())
    outcome = fixer.fix_source(data, display, settings, unsafe=True)
    parse_failed = any(f.code == "SL000" for f in result.findings)
    if outcome.status == "failed" and not parse_failed:
        kind = "bad-fix" if "invalid code" in (outcome.reason or "") or "does not parse" in (outcome.reason or "") else "internal-error"
        problems.append((kind, f"fix: {outcome.reason}"))
    for finding, why in outcome.skipped:
        if "crashed" in why or "internal error" in why:
            problems.append(("internal-error", f"fix {finding.code} at {finding.line}:{finding.col + 1}: {why}"))
    h.update(b"fix:" + outcome.status.encode() + b":" + (outcome.new or b""))
    if outcome.new is not None:
        compiles = _compiles(data, display)
        if compiles and not _compiles(outcome.new, display):
            problems.append(("bad-fix", "the fixed text does not compile: " + _compile_error(outcome.new, display)))
        again = fixer.fix_source(outcome.new, display, settings, unsafe=True)
        if again.status == "changed":
            problems.append(("not-idempotent", f"fixing the fixed text changes it again ({len(again.applied)} more fix(es))"))
    return {"problems": problems, "digest": h.hexdigest(), "skipped": False}


def _compiles(data: bytes, display: str) -> bool:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings of odd real code
            compile(data, display, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def _compile_error(data: bytes, display: str) -> str:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(data, display, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def _worker(conn: Connection) -> None:
    """Serve (path, display) requests until told to stop (None)."""
    import warnings

    warnings.simplefilter("ignore")  # SyntaxWarnings of compile() on odd real code
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    import libcst  # noqa: F401  (imported before "ready": a file's time limit starts with the work)

    from sightlint import api, fixer  # noqa: F401

    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        path, display = request
        try:
            reply = _outcome(path, display)
        except BaseException as exc:  # the sweep's point: anything escaping sightlint
            tb = traceback.format_exc(limit=-6)
            reply = {"problems": [("crash", f"{type(exc).__name__}: {exc}\n{tb}")], "digest": "raised", "skipped": False}
        conn.send(reply)


# -- the parent side -------------------------------------------------------------------


@dataclass
class Problem:
    kind: str
    where: str
    detail: str


@dataclass
class Report:
    files: int = 0
    unreadable: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    log: Any = None  # a text stream: each problem as a JSON line, when it is found
    tree_files: dict[str, int] = field(default_factory=dict)  # files each whole-tree check saw
    done: int = 0

    def add(self, kind: str, where: str, detail: str) -> None:
        self.problems.append(Problem(kind, where, detail))
        if self.log is not None:
            self.log.write(json.dumps({"kind": kind, "where": where, "detail": detail}) + "\n")
            self.log.flush()

    def tick(self, total: int) -> None:
        self.done += 1
        if self.log is not None and (self.done % 250 == 0 or self.done == total):
            counts = ", ".join(f"{kind} {self.count(kind)}" for kind in KINDS if self.count(kind))
            print(f"sweep: {self.done}/{total} files{'; ' + counts if counts else ''}", file=sys.stderr, flush=True)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.problems if p.kind == kind)


class _Slot:
    """One watched worker process."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.task: tuple[str, str] | None = None
        self.started = 0.0
        self._spawn()

    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        os.environ["PYTHONHASHSEED"] = self.seed  # spawn reads it at the child's start
        self.process = ctx.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        if not parent.poll(300) or parent.recv() != "ready":
            raise RuntimeError("a sweep worker did not start")

    def give(self, task: tuple[str, str]) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send(task)

    def restart(self) -> str:
        """Kill this worker (hung or dead) and start another; how it ended."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        code = self.process.exitcode
        self.conn.close()
        self._spawn()
        return f"exit code {code}" if code is not None and code >= 0 else f"killed by signal {-(code or 0)}"

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def per_file(files: Sequence[tuple[str, str]], jobs: int, timeout: float, seed: str, report: Report | None) -> dict[str, str]:
    """Run every file through a watched worker; returns display -> digest of its results."""
    digests: dict[str, str] = {}
    todo = list(reversed(files))
    slots = [_Slot(seed) for _ in range(max(1, min(jobs, len(files))))]
    selector = selectors.DefaultSelector()
    busy: dict[int, _Slot] = {}
    try:
        while todo or busy:
            for slot in slots:
                if slot.task is None and todo:
                    slot.give(todo.pop())
                    busy[id(slot)] = slot
            selector = selectors.DefaultSelector()
            for slot in busy.values():
                selector.register(slot.conn, selectors.EVENT_READ, slot)
                selector.register(slot.process.sentinel, selectors.EVENT_READ, slot)
            ready = selector.select(timeout=1.0)
            selector.close()
            done = {id(key.data): key.data for key, _ in ready}
            now = time.monotonic()
            for slot in list(busy.values()):
                assert slot.task is not None
                path, display = slot.task
                if id(slot) in done:
                    try:
                        reply = slot.conn.recv() if slot.conn.poll() else None
                    except (EOFError, OSError):
                        reply = None
                    if reply is None:
                        how = slot.restart()
                        digests[display] = "crashed"
                        if report is not None:
                            report.add("crash", display, f"the worker died ({how})")
                    else:
                        digests[display] = reply["digest"]
                        if report is not None:
                            report.unreadable += bool(reply["skipped"])
                            for kind, detail in reply["problems"]:
                                report.add(kind, display, detail)
                elif now - slot.started > timeout:
                    slot.restart()
                    digests[display] = "hung"
                    if report is not None:
                        report.add("hang", display, f"no result after {timeout:g} s")
                else:
                    continue
                slot.task = None
                del busy[id(slot)]
                if report is not None:
                    report.tick(len(files))
    finally:
        for slot in slots:
            slot.stop()
    return digests


def _sightlint(args: Sequence[str], seed: str, timeout: float) -> tuple[int | None, str, str, float]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "NO_COLOR": "1", "SIGHTLINT_NO_CACHE": "1"}
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sightlint", *args], capture_output=True, text=True, env=env, timeout=timeout,
            cwd=Path(__file__).resolve().parent,  # not the tree: it may hold a sightlint.py
        )
    except subprocess.TimeoutExpired:
        return None, "", "", time.monotonic() - started
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def per_tree(root: Path, report: Report, runs: int, timeout: float, steps: Sequence[str] = ("check", "fix")) -> None:
    """The real command line over a whole tree: ``check`` (twice with ``runs`` 2, compared
    file by file) and ``fix`` (on a copy of the tree: written, every changed file compiled,
    then ``fix --diff`` over the fixed copy must find nothing more).

    With a configuration of its own, so that what the tree's settings would skip is swept
    too: no ``.gitignore`` (a pyenv tree ignores its own ``versions/``), no default
    excludes (``site-packages``) but ``__pycache__``, the tree as the project root."""
    with tempfile.TemporaryDirectory(prefix="sightlint-sweep-") as folder:
        if "check" in steps:
            _tree_check(root, report, runs, timeout, _config(Path(folder) / "check.toml", root))
        if "fix" in steps:
            copy = Path(folder) / "copy" / (root.name or "root")
            copied = _copy_python_files(root, copy)
            report.tree_files[f"{root} (fix copy)"] = len(copied)
            _tree_fix(root, copy, copied, report, timeout, _config(Path(folder) / "fix.toml", copy))


def _config(path: Path, root: Path) -> list[str]:
    path.write_text(
        "[tool.sightlint]\nrespect-gitignore = false\nexclude = [\"__pycache__\"]\n"
        f"project-root = {json.dumps(str(root))}\n",
        encoding="utf-8",
    )
    return ["--config", str(path)]


def _tree_check(root: Path, report: Report, runs: int, timeout: float, config: list[str]) -> None:
    reports: list[dict[str, Any]] = []
    for run in range(runs):
        args = ["check", *config, "--select", "ALL", "--format", "json", "--no-cache", "--exit-zero", str(root)]
        code, out, err, took = _sightlint(args, str(run + 1), timeout)
        report.seconds[f"tree check {root}" + (f" (run {run + 1})" if run else "")] = took
        where = f"{root} (check)"
        if code is None:
            report.add("hang", where, f"no result after {timeout:g} s")
            return
        _scan_stderr(report, where, code, err, allowed=(0, 2))
        try:
            data = json.loads(out)
        except ValueError:
            report.add("crash", where, f"the report is not JSON (exit code {code}): {out[:300]!r}")
            return
        for message in data.get("errors", []) + data.get("internal_errors", []):
            if "internal error" in message:
                report.add("internal-error", where, message)
        report.tree_files[str(root)] = data.get("summary", {}).get("files", 0)
        reports.append(data)
    if len(reports) == 2:
        for path, detail in compare_reports(reports[0], reports[1]):
            report.add("non-deterministic", path, detail)


def compare_reports(one: dict[str, Any], two: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, what differs) for every file whose findings differ between two JSON reports
    of the same tree (and one entry for differing run-level errors)."""

    from collections import Counter

    def by_path(data: dict[str, Any]) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {}
        for f in data.get("findings") or []:
            out.setdefault(str(f.get("path")), Counter())[json.dumps(f, sort_keys=True)] += 1
        return out

    a, b = by_path(one), by_path(two)
    differ: list[tuple[str, str]] = []
    for path in sorted(set(a) | set(b)):
        first, second = a.get(path, Counter()), b.get(path, Counter())
        only = sorted(((first - second) + (second - first)).elements())
        if only:
            differ.append((path, f"{len(only)} finding(s) differ between two runs: " + "; ".join(only[:2])))
    if sorted(one.get("errors") or []) != sorted(two.get("errors") or []):
        differ.append(("(run errors)", "the runs' errors differ"))
    return differ


def _copy_python_files(root: Path, copy: Path) -> dict[str, bytes]:
    """Copy every regular ``*.py``/``*.pyi`` file under ``root`` (links not followed) to the same place
    under ``copy``; relative path -> its bytes."""
    copied: dict[str, bytes] = {}
    for path, _display in python_files([root]):
        rel = os.path.relpath(path, root)
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue  # unreadable: the check step reports it
        target = copy / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        copied[rel] = data
    return copied


_BAD_FIX = ("a fix produced invalid code", "fixed code does not parse")


def _tree_fix(root: Path, copy: Path, originals: dict[str, bytes], report: Report, timeout: float, config: list[str]) -> None:
    """``fix --unsafe-fixes`` writing into the copy; each changed file must compile when its
    original did; ``fix --diff --unsafe-fixes`` over the fixed copy must print nothing."""
    args = ["fix", *config, "--unsafe-fixes", "--select", "ALL", "--format", "json", "--output-file", os.devnull, str(copy)]
    code, _out, err, took = _sightlint(args, "1", timeout)
    report.seconds[f"tree fix {root}"] = took
    where = f"{root} (fix)"
    if code is None:
        report.add("hang", where, f"no result after {timeout:g} s")
        return
    _scan_stderr(report, where, code, err, allowed=(0, 1, 2))
    for line in err.splitlines():
        if ": fix failed: " in line and any(marker in line for marker in _BAD_FIX):
            report.add("bad-fix", where, line)
        elif ": fix failed: " in line and "worker died" in line:
            report.add("crash", where, line)
    changed = 0
    for rel, before in originals.items():
        try:
            after = (copy / rel).read_bytes()
        except OSError as exc:
            report.add("bad-fix", os.path.join(root.name, rel), f"the fixed file is gone: {exc}")
            continue
        if after == before:
            continue
        changed += 1
        if _compiles(before, rel) and not _compiles(after, rel):
            report.add("bad-fix", os.path.join(root.name, rel), "the fixed file does not compile: " + _compile_error(after, rel))
    report.tree_files[f"{root} (files changed by fix)"] = changed
    args = ["fix", *config, "--diff", "--unsafe-fixes", "--select", "ALL", str(copy)]
    code, out, err, took = _sightlint(args, "2", timeout)
    report.seconds[f"tree fix --diff of the fixed copy of {root}"] = took
    where = f"{root} (second fix --diff)"
    if code is None:
        report.add("hang", where, f"no result after {timeout:g} s")
        return
    _scan_stderr(report, where, code, err, allowed=(0, 1, 2))
    for line in out.splitlines():
        if line.startswith("+++ "):
            report.add("not-idempotent", where, f"a second fix would change the fixed file again: {line[4:]}")


def _scan_stderr(report: Report, where: str, code: int, err: str, allowed: tuple[int, ...]) -> None:
    if code < 0:
        report.add("crash", where, f"killed by signal {-code}")
    elif code not in allowed:
        report.add("crash", where, f"exit code {code}: {err[-500:]}")
    if "Traceback (most recent call last)" in err:
        report.add("crash", where, err[err.index("Traceback"):][:2000])
    for line in err.splitlines():
        if "internal error" in line:
            report.add("internal-error", where, line)


def python_files(roots: Iterable[Path], limit: int | None = None) -> list[tuple[str, str]]:
    """(path, display) of every regular ``*.py``/``*.pyi`` file under the roots, symlinks not followed."""
    found: list[tuple[str, str]] = []
    for root in roots:
        if root.is_file():
            found.append((str(root), str(root)))
            continue
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            for name in sorted(names):
                if name.endswith((".py", ".pyi")):  # what sightlint walks
                    full = os.path.join(folder, name)
                    if os.path.isfile(full) and not os.path.islink(full):
                        found.append((full, os.path.relpath(full, root.parent)))
    if limit is not None and len(found) > limit:
        step = len(found) / limit  # spread over the trees rather than the first folders
        found = [found[int(i * step)] for i in range(limit)]
    return found


def default_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = [Path(paths["stdlib"])]
    for key in ("purelib", "platlib"):
        path = Path(paths[key])
        if path.is_dir() and path not in roots:
            roots.append(path)
    return roots


def sweep(roots: Sequence[Path], *, jobs: int, timeout: float, runs: int, limit: int | None, tree: bool,
          tree_timeout: float, log: Any = None, files: bool = True, steps: Sequence[str] = ("check", "fix")) -> Report:
    report = Report(log=log)
    if not files:
        for root in roots:
            if root.is_dir():
                per_tree(root, report, runs, tree_timeout, steps)
        return report
    return _sweep(report, roots, jobs, timeout, runs, limit, tree, tree_timeout, steps)


def _sweep(report: Report, roots: Sequence[Path], jobs: int, timeout: float, runs: int, limit: int | None, tree: bool,
           tree_timeout: float, steps: Sequence[str]) -> Report:
    files = python_files(roots, limit)
    report.files = len(files)
    started = time.monotonic()
    first = per_file(files, jobs, timeout, "1", report)
    report.seconds["per-file"] = time.monotonic() - started
    if runs > 1:
        started = time.monotonic()
        second = per_file(files, jobs, timeout, "2", None)
        report.seconds["per-file (run 2)"] = time.monotonic() - started
        for display, digest in first.items():
            if digest not in ("crashed", "hung", "raised") and second.get(display) != digest:
                report.add("non-deterministic", display, "findings or fix output differ between two runs")
    if tree:
        for root in roots:
            if root.is_dir():
                per_tree(root, report, runs, tree_timeout, steps)
    return report


def summary(report: Report, show: int) -> str:
    lines = [f"files: {report.files} ({report.unreadable} not readable as regular files)"]
    for kind in KINDS:
        lines.append(f"{kind + ':':20} {report.count(kind)}")
    for name, took in report.seconds.items():
        lines.append(f"time {name}: {took:.1f} s")
    for root, count in report.tree_files.items():
        lines.append(f"whole-tree check of {root}: {count} files" if " (" not in root else f"tree {root}: {count} files")
    for kind in KINDS:
        examples = [p for p in report.problems if p.kind == kind][:show]
        if examples:
            lines.append(f"\n== {kind} (first {len(examples)} of {report.count(kind)})")
            lines += [f"{p.where}: {p.detail.strip()}" for p in examples]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="*", type=Path, help="trees or files (default: the standard library and site-packages)")
    parser.add_argument("--stdlib", action="store_true", help="the standard library only (with ROOTs: added to them)")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    parser.add_argument("--timeout-per-file", type=float, default=30.0, help="seconds before a file counts as a hang")
    parser.add_argument("--tree-timeout", type=float, default=1800.0, help="seconds for each whole-tree command")
    parser.add_argument("--runs", type=int, choices=(1, 2), default=2, help="2 compares two runs (non-determinism)")
    parser.add_argument("--limit", type=int, help="at most this many files, spread over the trees")
    parser.add_argument("--no-tree", action="store_true", help="skip the whole-tree command-line phase")
    parser.add_argument("--no-files", action="store_true", help="skip the per-file phase (the trees only)")
    parser.add_argument("--tree-steps", default="check,fix", help="whole-tree steps to run: check, fix or check,fix (default)")
    parser.add_argument("--show", type=int, default=10, help="examples printed per kind of problem")
    parser.add_argument("--json", type=Path, help="write every problem and the figures here")
    parser.add_argument("--log", type=Path, help="append each problem here as a JSON line when found (and print progress)")
    args = parser.parse_args(argv)
    roots = [r.resolve() for r in args.roots]
    if args.stdlib:
        roots.insert(0, Path(sysconfig.get_paths()["stdlib"]))
    if not roots:
        roots = default_roots()
    log = args.log.open("a", encoding="utf-8") if args.log else None
    report = sweep(roots, jobs=args.jobs, timeout=args.timeout_per_file, runs=args.runs, limit=args.limit,
                   tree=not args.no_tree, tree_timeout=args.tree_timeout, log=log, files=not args.no_files,
                   steps=[step for step in args.tree_steps.split(",") if step])
    print(summary(report, args.show))
    if args.json:
        data = {
            "roots": [str(r) for r in roots], "files": report.files, "unreadable": report.unreadable,
            "counts": {kind: report.count(kind) for kind in KINDS}, "seconds": report.seconds,
            "tree_files": report.tree_files,
            "problems": [p.__dict__ for p in report.problems],
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
