"""Remember per-file results between runs, keyed by what the result depends on.

A result depends on the file's bytes, its display path and module name, the sightlint
code that checked it, the Python that parsed it, and the settings that change per-file
output (rule selection, options, severities). The last three go into the name of a
*pack*: one pickle per configuration holding ``{(display, module): (sha256, pickled
result)}``; each result is unpickled only when its file is unchanged, so one corrupt
entry costs one file, not the whole pack.
A warm run loads one file instead of thousands (the issue's target is < 0.5 s for
~700k lines), and a change of configuration or version simply selects another pack.

Next to each pack, a *run snapshot* (``results-*.run``) holds the final results of the
last complete run with that configuration (cross-file findings included), keyed by the
list of files and their content hashes: when nothing changed, a run reads that one small
file and loads neither the pack nor any module summary.

Packs are written atomically (temporary file + ``os.replace``). Anything unreadable,
corrupt or of the wrong shape is ignored and rebuilt, and a cache folder that cannot be
written only means the next run is cold: the cache never makes a run fail.

Only the folder's own ``results-*.pack`` files are ever deleted (packs of other
sightlint versions, and all but the most recent few of this version), since
``cache-dir`` may point anywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import marshal
import os
import pickle
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sightlint import __version__
from sightlint.atomic import write_atomically
from sightlint.models import FileResult, Finding, FixSafety, RelatedLocation, Severity, Span
from sightlint.settings import Settings

DEFAULT_DIRNAME = ".sightlint_cache"
_FORMAT = 1
_PREFIX = "results-"
_SUFFIX = ".pack"
_RUN_SUFFIX = ".run"
_GRAPH_SUFFIX = ".graph"
_GRAPH_FORMAT = 1
_RUN_FORMAT = 1
_HASHES = "file-hashes.marshal"
_KEEP_PACKS = 4
# Settings that only decide which files are checked or how the run ends, not what a
# file's result holds. Every other field (including ones added later) keys the cache.
_NOT_KEYED = frozenset(
    {"exclude", "extend_exclude", "respect_gitignore", "fail_on", "cache_dir", "config_path", "origins"}
)

Key = tuple[str, "str | None"]


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def default_directory(settings: Settings, cwd: Path | None = None) -> Path:
    """``cache-dir`` (relative to the config file's folder), else ``.sightlint_cache`` there or in the cwd."""
    root = Path(settings.config_path).parent if settings.config_path else (cwd or Path.cwd())
    if settings.cache_dir:
        configured = Path(settings.cache_dir).expanduser()
        return configured if configured.is_absolute() else root / configured
    return root / DEFAULT_DIRNAME


def _canonical(value: Any) -> str:
    """A deterministic text for a settings value (mapping order and proxies do not matter)."""
    if isinstance(value, Mapping):
        items = sorted((str(k), _canonical(v)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return type(value).__qualname__ + _canonical(fields)
    return repr(value)


def settings_fingerprint(settings: Settings) -> str:
    keyed = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name not in _NOT_KEYED}
    return hashlib.sha256(_canonical(keyed).encode()).hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """Hash of sightlint's own sources: an edited rule (same version number) is a new cache."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256(f"{__version__}|{sys.implementation.name}|{sys.version_info[:2]}".encode())
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode())
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"?")
    return h.hexdigest()


class Cache:
    """One pack of results for one configuration; see the module docstring."""

    def __init__(self, directory: Path, settings: Settings, *, variant: str = "") -> None:
        """``variant`` names anything else the results depend on (e.g. whether summaries are collected)."""
        self.directory = directory
        key = hashlib.sha256(f"{code_fingerprint()}|{settings_fingerprint(settings)}|{variant}".encode()).hexdigest()[:24]
        self.key = key
        self.pack = directory / f"{_PREFIX}{__version__}-{key}{_SUFFIX}"
        self.run_file = directory / f"{_PREFIX}{__version__}-{key}{_RUN_SUFFIX}"
        self.graph_file = directory / f"{_PREFIX}{__version__}-{key}{_GRAPH_SUFFIX}"
        # key -> (digest, pickled result without its summary[, pickled summary])
        self._entries: dict[Key, tuple[Any, ...]] = {}
        self._fresh: dict[Key, tuple[Any, ...]] = {}
        self._seen: set[Key] = set()
        self.hits = 0
        self.misses = 0
        self.loaded = False
        self.write_error: str | None = None
        self._opened = False
        self._hashes: dict[Any, Any] | None = None
        self._hashes_loaded: dict[Any, Any] = {}

    def _load(self) -> None:
        """Read the pack, once, when the first result is asked for."""
        if self._opened:
            return
        self._opened = True
        try:
            with open(self.pack, "rb") as stream:
                data = pickle.load(stream)
        except FileNotFoundError:
            return
        except Exception:  # sightlint: ignore[SL201] corrupt, truncated, from an incompatible build: start afresh
            return
        if isinstance(data, tuple) and len(data) == 2 and data[0] == _FORMAT and isinstance(data[1], dict):
            self._entries = data[1]
            self.loaded = True
            try:  # pruning keeps the most recently used packs
                os.utime(self.pack)
            except OSError:
                pass

    def get(self, key: Key, content_digest: bytes) -> FileResult | None:
        """The cached result for this file and content, or None."""
        self._load()
        self._seen.add(key)
        entry = self._entries.get(key)
        if isinstance(entry, tuple) and len(entry) in (2, 4) and entry[0] == content_digest:
            try:
                result = pickle.loads(entry[1])
            except Exception:  # sightlint: ignore[SL201] a damaged entry is a miss; put() replaces it
                result = None
            if isinstance(result, FileResult):
                if len(entry) == 4 and isinstance(entry[2], bytes) and isinstance(entry[3], str):
                    result.summary = PackedSummary(entry[2], entry[3])
                self.hits += 1
                return result
        self.misses += 1
        return None

    def put(self, key: Key, content_digest: bytes, result: FileResult) -> None:
        """Remember ``result``; it is pickled now, so later changes to it are not cached."""
        self._seen.add(key)
        summary = result.summary
        try:
            if summary is None:
                self._fresh[key] = (content_digest, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
                return
            # The summary is stored apart: a warm run unpickles only the summaries it needs.
            if isinstance(summary, PackedSummary):
                packed, module = summary.blob, summary.module
            else:
                packed, module = pickle.dumps(summary, protocol=pickle.HIGHEST_PROTOCOL), summary.module
            blob = pickle.dumps(dataclasses.replace(result, summary=None), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # sightlint: ignore[SL201] an unpicklable result is simply not cached
            return
        self._fresh[key] = (content_digest, blob, packed, module)

    @property
    def dirty(self) -> bool:
        return bool(self._fresh)

    def save(self) -> None:
        """Write the pack if anything changed; failures are recorded, never raised."""
        if not self._fresh:
            return
        self._load()
        entries: dict[Key, tuple[Any, ...]] = {}
        unseen = [k for k in self._entries if k not in self._seen]
        # Keep entries of files this run did not look at (a run on a sub-folder must not
        # forget the rest), unless they clearly outnumber the live ones.
        if len(unseen) <= max(1000, 4 * len(self._seen)):
            entries.update((k, self._entries[k]) for k in unseen)
        entries.update((k, v) for k, v in self._entries.items() if k in self._seen)
        entries.update(self._fresh)
        try:
            self._write(self.pack, pickle.dumps((_FORMAT, entries), protocol=pickle.HIGHEST_PROTOCOL), _SUFFIX)
        except Exception as exc:
            self.write_error = f"cannot write cache in {self.directory}: {exc}"
            return
        self._fresh.clear()
        self._prune()

    # -- content hashes by file identity ------------------------------------------------

    def hashes(self) -> dict[Any, Any]:
        """(device, inode) -> (size, mtime_ns, ctime_ns, sha256) from earlier runs, for
        :func:`runner.contents`; shared by every configuration in this folder."""
        if self._hashes is None:
            self._hashes = {}
            collecting = gc.isenabled()
            gc.disable()
            try:
                with open(self.directory / _HASHES, "rb") as stream:
                    data = marshal.loads(stream.read())
                if isinstance(data, tuple) and len(data) == 2 and data[0] == _FORMAT and isinstance(data[1], dict):
                    self._hashes = data[1]
            except Exception:  # sightlint: ignore[SL201] missing or damaged: every file is hashed
                pass
            finally:
                if collecting:
                    gc.enable()
            self._hashes_loaded = dict(self._hashes)
        return self._hashes

    def save_hashes(self, live: int) -> None:
        """Write the table if it gained entries; ``live`` is how many files this run saw."""
        table = self._hashes
        if table is None or table == self._hashes_loaded:
            return
        if len(table) > max(4000, 4 * live):  # forget the oldest half rather than grow forever
            table = dict(list(table.items())[len(table) // 2 :])
        try:
            self._write(self.directory / _HASHES, marshal.dumps((_FORMAT, table)), ".marshal")
        except Exception as exc:
            self.write_error = f"cannot write cache in {self.directory}: {exc}"

    def _write(self, target: Path, blob: bytes, suffix: str) -> None:
        """Write ``blob`` to ``target`` atomically."""
        self._ensure_directory()
        write_atomically(target, blob, suffix=suffix)

    # -- run snapshots -----------------------------------------------------------------

    def run_key(self, files: Sequence[tuple[str, str | None, bytes | str]]) -> bytes:
        """A key for a whole run: (display, module, content digest or read error) of each file, in order."""
        h = hashlib.sha256(self.key.encode())
        h.update(marshal.dumps(list(files)))
        return h.digest()

    def load_run(self, key: bytes) -> list[FileResult] | None:
        """The final results of the last run with this key, or None (missing, other key, damaged)."""
        collecting = gc.isenabled()
        gc.disable()  # many small acyclic objects: the cyclic collector would run over and over
        try:
            with open(self.run_file, "rb") as stream:
                data = marshal.loads(stream.read())  # marshal.load(stream) reads in tiny pieces
            if not (isinstance(data, tuple) and len(data) == 3 and data[0] == _RUN_FORMAT and data[1] == key):
                return None
            return [_decode_result(item) for item in data[2]]
        except Exception:  # sightlint: ignore[SL201] missing, damaged or of another shape: run normally
            return None
        finally:
            if collecting:
                gc.enable()

    def save_run(self, key: bytes, results: Sequence[FileResult]) -> None:
        """Remember a complete run's final results; failures are recorded, never raised."""
        try:
            blob = marshal.dumps((_RUN_FORMAT, key, [_encode_result(r) for r in results]))
            self._write(self.run_file, blob, _RUN_SUFFIX)
        except Exception as exc:
            self.write_error = f"cannot write cache in {self.directory}: {exc}"

    # -- resolved call-graph records per module (see sightlint.project.model) ----------

    def load_graph(self) -> tuple[bytes, dict[Any, Any]] | None:
        """(names key, {file key: (digest, module, dependencies, record)}) of the last run, or None."""
        try:
            with open(self.graph_file, "rb") as stream:
                data = marshal.loads(stream.read())
            if (
                isinstance(data, tuple)
                and len(data) == 3
                and data[0] == _GRAPH_FORMAT
                and isinstance(data[1], bytes)
                and isinstance(data[2], dict)
            ):
                return data[1], data[2]
        except Exception:  # sightlint: ignore[SL201] missing or damaged: every module is resolved
            pass
        return None

    def save_graph(self, names_key: bytes, entries: dict[Any, Any]) -> None:
        try:
            self._write(self.graph_file, marshal.dumps((_GRAPH_FORMAT, names_key, entries)), _GRAPH_SUFFIX)
        except Exception as exc:
            self.write_error = f"cannot write cache in {self.directory}: {exc}"

    def _ensure_directory(self) -> None:
        if self.directory.is_dir() and (self.directory / "CACHEDIR.TAG").exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        tag = self.directory / "CACHEDIR.TAG"
        if not tag.exists():
            tag.write_text(
                "Signature: 8a477f597d28d172789f06886806bc55\n"
                "# This file is a cache directory tag created by sightlint.\n"
                "# For information about cache directory tags see https://bford.info/cachedir/\n",
                encoding="utf-8",
            )
        ignore = self.directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Created by sightlint automatically.\n*\n", encoding="utf-8")

    def _prune(self) -> None:
        """Delete packs of other versions and all but the newest few of this one."""
        try:
            packs = [p for p in self.directory.iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX)]
            current = f"{_PREFIX}{__version__}-"
            ours = sorted(
                (p for p in packs if p.name.startswith(current) and p != self.pack),
                key=lambda p: p.stat().st_mtime,
                reverse=True,
            )
            stale = [p for p in packs if not p.name.startswith(current)] + ours[_KEEP_PACKS - 1 :]
            for path in stale:
                path.unlink()
                path.with_suffix(_RUN_SUFFIX).unlink(missing_ok=True)
                path.with_suffix(_GRAPH_SUFFIX).unlink(missing_ok=True)
        except OSError:
            pass


class PackedSummary:
    """A cached module summary (of module ``module``), unpickled only when asked for."""

    __slots__ = ("blob", "module")

    def __init__(self, blob: bytes, module: str) -> None:
        self.blob = blob
        self.module = module

    def load(self) -> Any:
        """The summary, or None if the stored bytes are damaged."""
        try:
            return pickle.loads(self.blob)
        except Exception:  # sightlint: ignore[SL201] damaged: the caller summarises the file again
            return None


# -- compact encoding of final results (marshal: plain tuples, ~10x faster than pickle) --

_SEVERITIES = {s.value: s for s in Severity}
_SAFETIES = {s.value: s for s in FixSafety}


def _encode_result(result: FileResult) -> tuple[Any, ...]:
    findings = [
        (
            f.code, f.name, int(f.severity), f.message, f.path,
            f.span.line, f.span.col, f.span.end_line, f.span.end_col,
            f.fix_safety.value, f.fix_title,
            tuple((r.path, r.line, r.col, r.message) for r in f.related),
            f.detail,
        )  # fmt: skip
        for f in result.findings
    ]
    return (result.path, findings, list(result.errors), [(line, codes) for line, codes in result.unused_suppressions])


def _decode_result(item: tuple[Any, ...]) -> FileResult:
    path, findings, errors, unused = item
    return FileResult(
        path,
        findings=[
            Finding(
                code, name, _SEVERITIES[severity], message, fpath, Span(line, col, end_line, end_col),
                _SAFETIES[safety], fix_title, tuple(RelatedLocation(*r) for r in related), detail,
            )  # fmt: skip
            for code, name, severity, message, fpath, line, col, end_line, end_col, safety, fix_title, related, detail
            in findings
        ],
        errors=list(errors),
        unused_suppressions=[(line, None if codes is None else tuple(codes)) for line, codes in unused],
    )
