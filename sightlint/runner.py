"""Check many files on all cores, reusing cached results for files that did not change.

The main process reads and hashes every file (cheap: reading 700k lines takes about
50 ms) and asks the cache; only the misses are checked, in a process pool when there
are enough of them to pay for it. Workers get paths, not bytes, in chunks, and send
back compact :class:`FileResult` values; results keep the input order, so the output
is the same whatever ``jobs`` is. A worker that dies (a crash in native code) costs
only the file that killed it (:func:`_run_pool`, :func:`_isolate`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import MappingProxyType
from typing import Any

from sightlint.cache import Cache, Packed, PackedSummary, digest, pack, unpack
from sightlint.files import SourceFile
from sightlint.models import FileResult
from sightlint.rules.base import RuleClass
from sightlint.settings import Settings
from sightlint.source import DEFAULT_MAX_FILE_SIZE, quiet_source_warnings, read_source

# Below this much work a pool costs more (start-up, IPC) than it saves.
_MIN_PARALLEL_FILES = 16
# Measured on 2 cores: the audited app (92 files, 1 MB) checks faster in one process.
_MIN_PARALLEL_BYTES = 2 * 1024 * 1024
_CHUNKS_PER_WORKER = 6

Task = tuple[int, str, str, "str | None"]  # index, path on disk, display path, module
# A chunk's modules' links, worked out in the worker that summarised them (index ->
# (dependencies among the run's module names, defined class names, extended class names)):
# what ``incremental.Plan`` would otherwise read from every packed summary's terms in the
# main process, after the pool, while the workers idle (``PackedSummary.links``).
Links = dict[int, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]


class Progress:
    """Told where a run is: a phase starts (with the amount of work, if known), work is
    done. This one does nothing; the command line draws a bar and times the phases."""

    def phase(self, name: str, total: int | None = None) -> None:
        """A new phase ``name`` starts (the previous one ends)."""

    def advance(self, amount: int = 1) -> None:
        """``amount`` more units of the current phase are done."""


NO_PROGRESS = Progress()


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_one(
    data: bytes | str,
    display: str,
    module: str | None,
    settings: Settings,
    rules: Sequence[RuleClass],
    summarize: bool = False,
) -> FileResult:
    """One file's result from its bytes (or the error met reading it); never raises.

    ``summarize`` asks the engine for the module summary the cross-file phase reads.
    """
    # Imported here: a run served by the cache hashes files with this module and checks none.
    from sightlint import engine

    if isinstance(data, str):
        return FileResult(display, findings=[engine.parse_error(display, f"cannot read file: {data}")])
    try:
        return engine.check_source(data, display, settings, rules=rules, module=module, summarize=summarize)
    except Exception as exc:  # an engine bug must cost one file, not the run
        return FileResult(display, errors=[f"internal error while checking {display}: {type(exc).__name__}: {exc}"])


def contents(
    files: Sequence[SourceFile], known: dict[Any, Any] | None = None, limit: int = DEFAULT_MAX_FILE_SIZE
) -> list[bytes | str]:
    """Each file's content digest, or the error met reading it (a str).

    ``known`` maps a file's identity (device, inode) to (size, mtime_ns, ctime_ns,
    digest) from earlier runs: a file whose stat still matches is not read again. It is
    updated with files hashed now whose stat is more than 2 s old (a later change within
    the timestamps' granularity would otherwise go unnoticed). ctime cannot be set back
    by tools that restore mtimes, and any write or ``utime`` moves it.
    """
    out: list[bytes | str] = []
    horizon = time.time_ns() - 2_000_000_000
    for file in files:
        st = None
        if known is not None:
            try:
                st = os.stat(file.location)
            except OSError:
                st = None
            if st is not None:
                entry = known.get((st.st_dev, st.st_ino))
                if (
                    isinstance(entry, tuple)
                    and len(entry) == 4
                    and entry[:3] == (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                    and isinstance(entry[3], bytes)
                ):
                    out.append(entry[3])
                    continue
        data = read_source(file.location, limit)
        if isinstance(data, str):
            out.append(data)
            continue
        content = digest(data)
        out.append(content)
        if (
            known is not None
            and st is not None
            and st.st_size == len(data)
            and max(st.st_mtime_ns, st.st_ctime_ns) < horizon
        ):
            known[(st.st_dev, st.st_ino)] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, content)
    return out


def check_files(
    files: Sequence[SourceFile],
    settings: Settings,
    *,
    rules: Sequence[RuleClass],
    jobs: int | None = None,
    cache: Cache | None = None,
    summarize: bool = False,
    digests: Sequence[bytes | str] | None = None,
    progress: Progress = NO_PROGRESS,
) -> list[FileResult]:
    """Results for ``files`` in the same order; ``cache`` is consulted and then saved.

    The cache must have been opened for the same ``summarize`` (its ``variant``).
    ``digests`` are the files' :func:`contents` when the caller already has them.
    """
    return check_files_as_read(
        files, settings, rules=rules, jobs=jobs, cache=cache, summarize=summarize, digests=digests, progress=progress
    )[0]


def check_files_as_read(
    files: Sequence[SourceFile],
    settings: Settings,
    *,
    rules: Sequence[RuleClass],
    jobs: int | None = None,
    cache: Cache | None = None,
    summarize: bool = False,
    digests: Sequence[bytes | str] | None = None,
    progress: Progress = NO_PROGRESS,
    damaged: Callable[[str], FileResult] | None = None,
    save_later: bool = False,
    early: Early | None = None,
) -> tuple[list[FileResult], bool]:
    """:func:`check_files`, and whether every file checked still had the content in ``digests``.

    With ``damaged``, cached results are handed out encoded, decoded when first read
    (``Cache.get``'s ``damaged``: what stands for an entry that does not decode then).
    With ``save_later``, the cache may be written on another thread (``Cache.save``'s
    ``background``): the caller then calls ``cache.settle()`` before it returns. ``early``: a
    pool :func:`start_early` started on ``files`` (closed here whether used or not)."""
    same = True
    jobs = default_jobs() if jobs is None or jobs < 1 else jobs
    results: list[FileResult | None] = [None] * len(files)
    todo: list[Task] = []
    if cache is None:
        todo = [(index, file.location, file.display, file.module) for index, file in enumerate(files)]
    else:
        if digests is None:
            digests = contents(files, limit=settings.max_file_size)
        # Unpickling thousands of cached results allocates many small acyclic objects, which
        # sets off the cyclic collector over and over: pausing it halves a warm run's lookups.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for index, (file, content) in enumerate(zip(files, digests)):
                if isinstance(content, str):
                    results[index] = check_one(content, file.display, file.module, settings, rules, summarize)
                    continue
                hit = cache.get((file.display, file.module), content, damaged=damaged)
                if hit is not None:
                    results[index] = hit
                    continue
                todo.append((index, file.location, file.display, file.module))
        finally:
            if collecting:
                gc.enable()

    # The pool pays off for many files; a warm run after a few edits checks them here.
    started = early.take() if early is not None and early.count == len(files) else None
    if early is not None:
        early.close()
    if started is not None and not todo:
        started.pool.shutdown(wait=True, cancel_futures=True)
        started = None
    parallel = started is not None or (
        jobs > 1
        and len(todo) >= _MIN_PARALLEL_FILES
        and _enough_bytes(files[task[0]].location for task in todo)
    )
    progress.phase("checking files", len(todo))
    # The pool's results are decoded as each chunk comes back, while the workers check the
    # rest (this process only waits for them otherwise).
    unpacked: dict[int, FileResult] = {}
    among = _modules(files) if parallel and summarize else frozenset()  # what the workers work links out among

    def receive(part: list[tuple[int, bytes | None, FileResult | Packed]], links: Links) -> None:
        for index, _, outcome in part:
            if isinstance(outcome, tuple):
                try:
                    unpacked[index] = result = unpack(outcome)
                except Exception:  # sightlint: ignore[SL201] decoded again below, where it raises as ever
                    continue
                # The module's links as the worker worked them out (see ``Links``): the
                # cross-file phase then reads no terms from the summary.
                link = links.get(index)
                if link is not None and isinstance(result.summary, PackedSummary):
                    result.summary.links = (among, *link)

    if started is not None:
        # Started on every file before the lookups: only the results of those to check are taken.
        wanted = {task[0] for task in todo}
        done = [item for item in _finish_pool(started, settings, rules, summarize, progress, receive) if item[0] in wanted]
    else:
        done = _run_pool(todo, settings, rules, jobs, summarize, progress, receive, among) if parallel else []
    if len(done) < len(todo):  # in-process: jobs 1, little work, or the pool failed
        finished = {index for index, _, _ in done}
        for task in todo:
            if task[0] not in finished:
                done.append(_run_task(task, settings, rules, summarize))
                progress.advance()

    for index, checked, outcome in done:
        # From the pool: packed as the cache stores it, and put there as it is.
        result = unpacked.pop(index, None)
        if result is None:
            result = unpack(outcome) if isinstance(outcome, tuple) else outcome
        results[index] = result
        # Cache what was actually checked: if the file changed after we hashed it, the
        # worker's digest describes the result and the next run sees the newer bytes.
        if digests is not None and checked != digests[index]:
            same = False
        if cache is not None and checked is not None and not result.errors:
            file = files[index]
            cache.put((file.display, file.module), checked, outcome)
    if cache is not None:
        # With a pool kept for the cross-file phase, the pack is written once that phase has
        # handed the workers their groups (``Cache.go``, in ``incremental.Plan``).
        cache.save(background=save_later, hold=save_later and _KEEP > 0 and _KEPT is not None)
    return [r for r in results if r is not None], same


def _modules(files: Sequence[SourceFile]) -> frozenset[str]:
    """The module names of ``files``."""
    return frozenset(file.module for file in files if file.module is not None)


def _enough_bytes(paths: Iterable[str]) -> bool:
    """Whether the files at ``paths`` hold at least :data:`_MIN_PARALLEL_BYTES` (stats only
    as many as it takes)."""
    total = 0
    for path in paths:
        total += _size(path)
        if total >= _MIN_PARALLEL_BYTES:
            return True
    return False


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _run_task(
    task: Task, settings: Settings, rules: Sequence[RuleClass], summarize: bool
) -> tuple[int, bytes | None, FileResult]:
    index, path, display, module = task
    data = read_source(path, settings.max_file_size)
    content = digest(data) if isinstance(data, bytes) else None
    return index, content, check_one(data, display, module, settings, rules, summarize)


# -- process pool -------------------------------------------------------------------

_WORKER_SETTINGS: Settings | None = None
_WORKER_RULES: tuple[RuleClass, ...] = ()
_WORKER_SUMMARIZE = False
# The run's module names (``_start_pool``'s ``modules``) and, worked out at the first module,
# the lookup ``model.dependencies`` takes with them (last name component -> modules).
_WORKER_MODULES: frozenset[str] | None = None
_WORKER_BY_LAST: dict[str, list[str]] | None = None


def _portable(settings: Settings) -> dict[str, Any]:
    """Settings as picklable fields (``MappingProxyType`` does not pickle)."""
    return {
        f.name: dict(value) if isinstance(value, MappingProxyType) else value
        for f in dataclasses.fields(settings)
        for value in (getattr(settings, f.name),)
    }


def _restore(fields: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {k: MappingProxyType(v) if isinstance(v, dict) else v for k, v in fields.items()}
    return Settings(**values)


def _init_worker(
    fields: dict[str, Any], rules: tuple[RuleClass, ...], summarize: bool, modules: frozenset[str] | None = None
) -> None:
    global _WORKER_SETTINGS, _WORKER_RULES, _WORKER_SUMMARIZE, _WORKER_MODULES, _WORKER_BY_LAST
    gc.enable()  # a forked worker inherits the parent's paused collector
    # What the worker inherits (the parent's modules, settings, rules, file list) lives as long
    # as it does: moved out of the collector's generations, the collections between files no
    # longer traverse it.
    gc.freeze()
    quiet_source_warnings()  # a spawned one does not inherit the CLI's filters
    _WORKER_SETTINGS = _restore(fields)
    _WORKER_RULES = rules
    _WORKER_SUMMARIZE = summarize
    _WORKER_MODULES = modules
    _WORKER_BY_LAST = None


def _run_linked(chunk: list[Task]) -> tuple[list[tuple[int, bytes | None, FileResult | Packed]], Links]:
    """:func:`_run_chunk`, with the links of the modules summarised (see :data:`Links`)."""
    global _WORKER_BY_LAST
    keep: dict[int, Any] = {}
    out = _run_chunk(chunk, keep)
    links: Links = {}
    modules = _WORKER_MODULES
    if modules is not None and keep:
        from sightlint.project.model import dependencies, modules_by_last

        by_last = _WORKER_BY_LAST
        if by_last is None:
            by_last = _WORKER_BY_LAST = modules_by_last(modules)
        for index, terms in keep.items():
            links[index] = (dependencies(terms, modules, by_last), terms.defines, terms.extends)
    return out, links


def _run_chunk(chunk: list[Task], terms: dict[int, Any] | None = None) -> list[tuple[int, bytes | None, FileResult | Packed]]:
    """Check a chunk in a worker; results go back packed as the cache stores them, so the
    main process neither pickles them again for the cache nor unpickles module summaries
    before the cross-file phase needs them. ``terms`` is given the dependency terms of the
    module summaries packed (by index)."""
    assert _WORKER_SETTINGS is not None
    out: list[tuple[int, bytes | None, FileResult | Packed]] = []
    for task in chunk:
        index, content, result = _run_task(task, _WORKER_SETTINGS, _WORKER_RULES, _WORKER_SUMMARIZE)
        try:
            out.append((index, content, pack(result)))
        except Exception:  # sightlint: ignore[SL201] cannot be encoded: sent back as it is
            out.append((index, content, result))
            continue
        summary = result.summary
        if terms is not None and summary is not None and not isinstance(summary, PackedSummary) and summary.terms is not None:
            terms[index] = summary.terms
    return out


def _pool_context() -> Any:
    import multiprocessing

    # fork shares the already imported rules with the workers (no re-import per worker);
    # macOS and Windows do not support it safely.
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


class _Started:
    """A pool given its chunks (:func:`_start_pool`), not yet waited for (:func:`_finish_pool`)."""

    def __init__(self, pool: Any, workers: int, futures: list[tuple[Any, list[Task]]], lost: list[Task]) -> None:
        self.pool = pool
        self.workers = workers
        self.futures = futures
        self.lost = lost


def _start_pool(
    todo: list[Task], settings: Settings, rules: Sequence[RuleClass], jobs: int, summarize: bool, modules: frozenset[str] | None = None
) -> _Started | None:
    """A pool checking ``todo`` in chunks (the workers start now), or None if no process could
    be started. ``modules``: the run's module names, among which the workers work out each
    summarised module's links (see :data:`Links`)."""
    from concurrent.futures import ProcessPoolExecutor

    workers = min(jobs, len(todo))
    size = max(1, -(-len(todo) // (workers * _CHUNKS_PER_WORKER)))
    # The last two rounds in chunks a quarter that size: the workers then finish within a
    # small chunk of each other (the main process waits for the last one; with equal
    # chunks one worker could idle for most of a chunk at the end).
    head = max(0, len(todo) - 2 * workers * size) // size * size  # whole chunks
    small = max(1, size // 4)
    chunks = [todo[i : i + size] for i in range(0, head, size)] + [todo[i : i + small] for i in range(head, len(todo), small)]
    lost: list[Task] = []
    futures: list[tuple[Any, list[Task]]] = []
    try:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_pool_context(),
            initializer=_init_worker,
            initargs=(_portable(settings), tuple(rules), summarize, modules if summarize else None),
        )
    except Exception:  # sightlint: ignore[SL201] no processes allowed: the caller checks here
        return None
    try:
        for chunk in chunks:
            try:
                futures.append((pool.submit(_run_linked, chunk), chunk))
            except Exception:
                if not futures:
                    raise  # no process could start
                lost.extend(chunk)  # BrokenProcessPool: a worker died already
    except Exception:  # sightlint: ignore[SL201] no processes allowed: the caller checks here
        pool.shutdown(wait=True)
        return None
    return _Started(pool, workers, futures, lost)


def _finish_pool(
    started: _Started,
    settings: Settings,
    rules: Sequence[RuleClass],
    summarize: bool,
    progress: Progress = NO_PROGRESS,
    receive: Callable[[list[tuple[int, bytes | None, FileResult | Packed]], Links], None] | None = None,
) -> list[tuple[int, bytes | None, FileResult | Packed]]:
    """What the started pool's chunks gave (see :func:`_run_pool`)."""
    done: list[tuple[int, bytes | None, FileResult | Packed]] = []
    lost = list(started.lost)
    pool = started.pool
    whole = False
    try:
        for future, chunk in started.futures:
            # Counted as each chunk finishes, in whatever order (results are collected in order below).
            future.add_done_callback(_advancer(progress, len(chunk)))
        for future, chunk in started.futures:
            try:
                part, links = future.result()
            except Exception:  # sightlint: ignore[SL201] BrokenProcessPool: a worker died
                lost.extend(chunk)
                continue
            done.extend(part)
            if receive is not None:
                receive(part, links)
        whole = not lost
    except Exception:  # sightlint: ignore[SL201] what did not come back is checked by the caller
        pass
    finally:
        if whole and _KEEP:
            _keep(pool, started.workers)
        else:
            pool.shutdown(wait=True)
    if lost:
        done.extend(_isolate(lost, settings, rules, started.workers, summarize))
    return done


def _run_pool(
    todo: list[Task],
    settings: Settings,
    rules: Sequence[RuleClass],
    jobs: int,
    summarize: bool = False,
    progress: Progress = NO_PROGRESS,
    receive: Callable[[list[tuple[int, bytes | None, FileResult | Packed]], Links], None] | None = None,
    modules: frozenset[str] | None = None,
) -> list[tuple[int, bytes | None, FileResult | Packed]]:
    """Check ``todo`` in a pool; returns what finished: all of it, unless no process could
    be started (the caller then checks the rest in this process). ``receive`` is given each
    chunk's results as they come back, in order, while the pool works on.

    A worker that dies (LibCST's native parser, or any extension, crashing on a file)
    breaks the pool and every chunk not yet finished: those are checked again in
    :func:`_isolate`, never in this process, where the same file would end the run.
    """
    started = _start_pool(todo, settings, rules, jobs, summarize, modules)
    if started is None:
        return []
    return _finish_pool(started, settings, rules, summarize, progress, receive)


class Early:
    """A pool started on every file of a run before their cache lookups (:func:`start_early`),
    handed to :func:`check_files_as_read` (``early``), which takes the results of the files it
    has to check from it; :meth:`close` shuts it down if it was not used."""

    def __init__(self, started: _Started, count: int) -> None:
        self._started: _Started | None = started
        self.count = count

    def take(self) -> _Started | None:
        started, self._started = self._started, None
        return started

    def close(self) -> None:
        started = self.take()
        if started is not None:
            started.pool.shutdown(wait=True, cancel_futures=True)


def start_early(
    files: Sequence[SourceFile], settings: Settings, *, rules: Sequence[RuleClass], jobs: int | None, summarize: bool
) -> Early | None:
    """Start checking all of ``files`` in a pool now, for a run whose cache holds no result
    (a cold run: every file will be checked), while the caller reads and hashes them and
    asks the cache; None when a pool would not be used (see :func:`check_files_as_read`)."""
    jobs = default_jobs() if jobs is None or jobs < 1 else jobs
    todo: list[Task] = [(index, file.location, file.display, file.module) for index, file in enumerate(files)]
    if not (jobs > 1 and len(todo) >= _MIN_PARALLEL_FILES and _enough_bytes(task[1] for task in todo)):
        return None
    started = _start_pool(todo, settings, rules, jobs, summarize, _modules(files))
    return Early(started, len(todo)) if started is not None else None


# The pool of the last check, kept up while a caller holds :func:`keeping_workers`: the
# cross-file phase hands its idle workers groups of module summaries to resolve
# (``sightlint.incremental``), instead of starting processes again.
_KEEP = 0
_KEPT: Any = None
_KEPT_SIZE = 0


@contextlib.contextmanager
def keeping_workers() -> Iterator[None]:
    """Within: the process pool of a check that used one stays up (:func:`kept_workers`); shut down at exit."""
    global _KEEP
    _KEEP += 1
    try:
        yield
    finally:
        _KEEP -= 1
        if not _KEEP:
            release_workers()


def _keep(pool: Any, workers: int) -> None:
    global _KEPT, _KEPT_SIZE
    release_workers()
    _KEPT, _KEPT_SIZE = pool, workers


def kept_workers() -> Any:
    """The pool kept by :func:`keeping_workers` (a ``ProcessPoolExecutor``), or None.
    Its workers hold the settings and rules of that check (:func:`worker_state`)."""
    return _KEPT


def kept_size() -> int:
    """How many workers the kept pool has (0: none kept)."""
    return _KEPT_SIZE if _KEPT is not None else 0


def release_workers() -> None:
    """Shut the kept pool down (if any)."""
    global _KEPT
    pool, _KEPT = _KEPT, None
    if pool is not None:
        pool.shutdown(wait=True)


def worker_state() -> tuple[Settings | None, tuple[RuleClass, ...]]:
    """In a pool worker: the settings and rules it checks with (None before it is set up)."""
    return _WORKER_SETTINGS, _WORKER_RULES


def _advancer(progress: Progress, amount: int) -> Callable[[Any], None]:
    def advance(_: Any) -> None:
        progress.advance(amount)

    return advance


def _isolate(
    tasks: list[Task], settings: Settings, rules: Sequence[RuleClass], jobs: int, summarize: bool
) -> list[tuple[int, bytes | None, FileResult | Packed]]:
    """Check ``tasks`` in single-use processes, ``jobs`` at a time, halving the share of
    one that dies until the file that kills it is alone: that file gets a crash result,
    the others their own (about 2 log2(n) extra processes per crashing file)."""
    from multiprocessing.connection import wait

    context = _pool_context()
    fields = _portable(settings)
    share = max(1, -(-len(tasks) // (jobs * 2)))
    waiting = [tasks[i : i + share] for i in range(0, len(tasks), share)]
    running: dict[Any, tuple[Any, list[Task]]] = {}
    receive: Any
    done: list[tuple[int, bytes | None, FileResult | Packed]] = []
    while waiting or running:
        while waiting and len(running) < jobs:
            chunk = waiting.pop()
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_isolated_worker, args=(send, chunk, fields, tuple(rules), summarize), daemon=True
            )
            try:
                process.start()
            except Exception as exc:  # sightlint: ignore[SL201] cannot start one: say so for its files
                receive.close()
                done.extend(_crashed(task, f"could not start a process to check it: {exc}") for task in chunk)
                continue
            finally:
                send.close()
            running[receive] = (process, chunk)
        for receive in wait(list(running)):
            process, chunk = running.pop(receive)
            part: list[tuple[int, bytes | None, FileResult | Packed]] | None
            try:
                part = receive.recv()
            except (EOFError, OSError):  # died before sending its results
                part = None
            receive.close()
            process.join()
            if part is not None:
                done.extend(part)
            elif len(chunk) == 1:
                done.append(_crashed(chunk[0], _death(process.exitcode)))
            else:
                waiting += [chunk[: len(chunk) // 2], chunk[len(chunk) // 2 :]]
    return done


def _isolated_worker(send: Any, chunk: list[Task], fields: dict[str, Any], rules: tuple[RuleClass, ...], summarize: bool) -> None:
    _init_worker(fields, rules, summarize)
    send.send(_run_chunk(chunk))
    send.close()


def _death(exitcode: int | None) -> str:
    """How a worker process ended, in words."""
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            return f"its process was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"its process was killed by signal {-exitcode}"
    return f"its process exited with code {exitcode}"


def _crashed(task: Task, why: str) -> tuple[int, None, FileResult]:
    """The result of a file whose check killed the process checking it."""
    index, _, display, _ = task
    message = f"the checker crashed on this file ({why})"
    from sightlint import engine

    finding = engine.parse_error(display, message)
    return index, None, FileResult(display, findings=[finding], errors=[f"internal error while checking {display}: {message}"])
