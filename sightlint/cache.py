"""Remember per-file results between runs, keyed by what the result depends on.

A result depends on the file's bytes, its display path and module name, the sightlint
code that checked it, the Python that parsed it, and the settings that change per-file
output (rule selection, options, severities). The last three go into the name of a
*pack*: one table per configuration holding ``{(display, module): (sha256, encoded
result[, pickled module summary, module])}``; each result is decoded only when its file
is unchanged, so one corrupt entry costs one file, not the whole pack. Results are
plain tuples in :mod:`marshal` (several times faster to read back than pickle); module
summaries are pickled and unpickled only when the cross-file phase needs them.
A change of configuration or version simply selects another pack.

A pack (and the per-module call-graph records next to it) is kept as a base file plus a
*journal* of the entries changed since (:class:`_Journaled`): a run after editing a few
files rewrites a small journal, not tens of megabytes. The pack's base is an index
followed by its entries (:class:`_Indexed`): a run reads the index and then only the
entries it asks for, each checked against the digest the sealed index holds.

Next to each pack, a *run snapshot* (``results-*.run``) holds the final results of the
last complete run with that configuration (cross-file findings included), keyed by the
list of files and their content hashes: when nothing changed, a run reads that one file
and loads neither the pack nor any module summary. Each file's result in it stays
encoded until read (``models.LazyFileResult``), with what a run asks of every file (its
errors, worst severity, the files its chains pass through) beside it; the last reports
written from it are kept too (:class:`Snapshot`). Each entry also keeps the *basis* of the
file's final result (``api.Carry``: its component's state), so that a run after an edit
takes over, still encoded, the results of the files whose component did not change
(:meth:`Cache.previous_run`); a run on some files of the project keeps its snapshot apart
(``results-*.part.run``). Each file's part of a JSON report is kept as well
(``results-*.pieces``, :class:`Pieces`). ``file-walks.marshal`` keeps what the last folder
walks found, with what they depended on (``files.discover``).

The folder is not trusted: it is in the project by default, and a pull request or an
archive can bring one along. Every file is sealed (:mod:`sightlint.seal`: an HMAC under
a key kept in the user's own cache folder, bound to the file's name; the pack's over its
index, whose digests vouch for each entry) and read back only if the seal checks out, before any marshal or pickle data in it is decoded: a file
sealed under another key (another machine or user), of an old format, forged or
damaged is treated as missing. Without a usable key nothing is read or written. A
project's configuration cannot send the folder outside the project
(:func:`default_directory`); the command line and the environment can.

Files are written atomically (temporary file + ``os.replace``), never through a link.
Anything unreadable, corrupt or of the wrong shape is ignored and rebuilt, and a cache
folder that cannot be written only means the next run is cold: the cache never makes a
run fail. Only the folder's own ``results-*`` files are ever deleted (those of other
sightlint versions, and all but the most recent few packs of this version), since the
command line may point it anywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import marshal
import operator
import pickle
import struct
import os
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from io import FileIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sightlint import __version__
from sightlint.atomic import write_atomically
from sightlint.config import ConfigError
from sightlint.models import FileResult, Finding, LazyFileResult, FixSafety, RelatedLocation, Severity, Span
from sightlint.seal import Seal, user_seal
from sightlint.settings import Settings
from sightlint.suppression import Suppressions

if TYPE_CHECKING:
    from sightlint.project.summary import DependencyTerms

DEFAULT_DIRNAME = ".sightlint_cache"
_FORMAT = 6
_PREFIX = "results-"
_SUFFIX = ".pack"
_RUN_SUFFIX = ".run"
_GRAPH_SUFFIX = ".graph"  # before components (session 6): only pruned
_INDEX_SUFFIX = ".gindex"
_INDEX_FORMAT = 1
_COMPONENT_SUFFIX = ".comp"
_COMPONENT_FORMAT = 1
_RUN_FORMAT = 6
_OUTPUT_SUFFIX = ".out"
_PART_SUFFIX = ".part"
_OUTPUT_FORMAT = 1
_JOURNAL_SUFFIX = ".journal"
_PRINTS_SUFFIX = ".prints"
_PRINTS_FORMAT = 1
_PIECES_SUFFIX = ".pieces"
_PIECES_FORMAT = 1
_HASHES = "file-hashes.marshal"
_WALKS = "file-walks.marshal"
_WALKS_FORMAT = 1
_KEEP_WALKS = 8
_KEEP_PACKS = 4
# Settings that only decide which files are checked or how the run ends, not what a
# file's result holds. Every other field (including ones added later) keys the cache.
_NOT_KEYED = frozenset(
    # target_version changes what fixes write, never what is reported.
    {"exclude", "extend_exclude", "respect_gitignore", "fail_on", "cache_dir", "baseline", "config_path", "origins", "target_version"}
)

Key = tuple[str, "str | None"]
# A result as the pack stores it: (encoded result, pickled summary or None, its module or None).
Packed = tuple[bytes, "bytes | None", "str | None"]


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def default_directory(settings: Settings, cwd: Path | None = None) -> Path:
    """``cache-dir`` (relative to the config file's folder), else ``.sightlint_cache`` there or in the cwd.

    The project decides this folder, so it must stay in the project: one that resolves
    (after ``~``, ``..`` and links) to the project folder itself or outside it raises
    :class:`ConfigError`. Elsewhere is for the command line and the environment.
    """
    root = Path(settings.config_path).parent if settings.config_path else (cwd or Path.cwd())
    folder = root / Path(settings.cache_dir).expanduser() if settings.cache_dir else root / DEFAULT_DIRNAME
    resolved, inside = folder.resolve(), root.resolve()
    if resolved != inside and resolved.is_relative_to(inside):
        return folder
    if resolved == inside:
        where = "is the project folder itself"
    else:
        where = f"resolves to {resolved}, outside the project folder {inside}"
    if settings.cache_dir:
        origin = settings.origins.get("cache-dir") or settings.config_path or "the settings"
        what = f"cache-dir = {settings.cache_dir!r} (from {origin})"
    else:
        what = f"the cache folder {folder} (a link)"
    raise ConfigError(
        f"{what} {where}: a project's configuration may only keep its cache in a folder of its own inside the "
        "project (sightlint writes there); use --cache-dir or SIGHTLINT_CACHE_DIR to put it elsewhere"
    )


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
    """Hash of sightlint's own sources and data files (the blocking-call catalogue): an
    edited rule or catalogue entry (same version number) is a new cache."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256(f"{__version__}|{sys.implementation.name}|{sys.version_info[:2]}".encode())
    for path in sorted([*package.rglob("*.py"), *package.rglob("*.toml")]):
        h.update(path.relative_to(package).as_posix().encode())
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"?")
    return h.hexdigest()


class _Journaled:
    """A dict kept as a base file plus a journal of the entries changed since (both marshal).

    Saving a few changed entries rewrites only the journal; once it holds more than an
    eighth of the base, the two are merged into a new base. Each base gets a random
    token that its journal repeats, and a journal is applied only to its own base: an
    entry that is right next to its own base (a call-graph record resolved against a
    dependency's content, say) may be wrong next to another one, e.g. after another
    process merged a newer base.
    """

    def __init__(
        self, path: Path, fmt: int, read: Callable[[Path], bytes | None], write: Callable[[Path, bytes], None]
    ) -> None:
        """``read`` gives a file's contents (None if missing or not to be trusted), ``write`` stores them."""
        self.path = path
        self.journal_path = path.with_name(path.name + _JOURNAL_SUFFIX)
        self._fmt = fmt
        self._read_file = read
        self._write = write
        self._token: bytes | None = None
        self._tag: bytes | None = None
        self._base_size = 0
        self._journal: dict[Any, Any] = {}

    def _read(self, path: Path) -> tuple[Any, ...] | None:
        blob = self._read_file(path)
        if blob is None:
            return None
        data = marshal.loads(blob)
        if (
            isinstance(data, tuple)
            and len(data) == 4
            and data[0] == self._fmt
            and isinstance(data[1], bytes)
            and isinstance(data[2], bytes)
            and isinstance(data[3], dict)
        ):
            return data
        return None

    def _read_base(self) -> tuple[Any, ...] | None:
        return self._read(self.path)

    def _write_base(self, token: bytes, tag: bytes, entries: Mapping[Any, Any]) -> dict[Any, Any]:
        """Write a new base holding ``entries``; returns them as :meth:`load` would give them."""
        self._write(self.path, marshal.dumps((self._fmt, token, tag, dict(entries))))
        return dict(entries)

    def load(self) -> tuple[bytes, dict[Any, Any]] | None:
        """(tag, entries): the base with its journal applied, or None if missing or damaged."""
        try:
            base = self._read_base()
        except Exception:  # sightlint: ignore[SL201] missing, damaged or of another build: start afresh
            return None
        if base is None:
            return None
        _, self._token, self._tag, entries = base
        self._base_size = len(entries)
        try:
            journal = self._read(self.journal_path)
        except Exception:  # sightlint: ignore[SL201] missing or damaged: the base alone is valid
            journal = None
        if journal is not None and journal[1] == self._token and journal[2] == self._tag:
            self._journal = journal[3]
            entries.update(self._journal)
        return self._tag, entries

    def save(self, tag: bytes, entries: Mapping[Any, Any], changed: Mapping[Any, Any]) -> dict[Any, Any] | None:
        """Store ``entries``, the whole table, of which ``changed`` differ from what :meth:`load` gave.

        Returns the entries as a new :meth:`load` would give them if a new base was
        written, else None. Raises what writing raises (the caller records it)."""
        if self._token is not None and tag == self._tag:
            journal = {**self._journal, **changed}
            if len(journal) <= max(64, self._base_size // 8):
                self._write(self.journal_path, marshal.dumps((self._fmt, self._token, tag, journal)))
                self._journal = journal
                return None
        token = os.urandom(16)
        stored = self._write_base(token, tag, entries)
        self._token, self._tag, self._base_size, self._journal = token, tag, len(entries), {}
        try:
            self.journal_path.unlink()
        except OSError:
            pass
        return stored


class _Stored:
    """Where an entry of an indexed base is (:class:`_Indexed`), what it must hash to, and
    what the index tells of it: the content digest, and the module of its summary (None:
    none stored)."""

    __slots__ = ("offset", "length", "check", "content", "module")

    def __init__(self, offset: int, length: int, check: bytes, content: bytes, module: str | None) -> None:
        self.offset, self.length, self.check, self.content, self.module = offset, length, check, content, module


def _check(raw: bytes) -> bytes:
    # SHA-256 (truncated) rather than BLAKE2: with the CPU's SHA extensions it is the faster
    # of the two here (12k entries of 5.5 kB: 0.043 s against 0.074 s).
    return hashlib.sha256(raw).digest()[:16]


def _valid_place(where: Any) -> bool:
    """Whether ``where`` is an index entry of the shape :class:`_Indexed` writes."""
    return (
        type(where) is tuple and len(where) == 5
        and type(where[0]) is int and where[0] >= 0 and type(where[1]) is int and where[1] >= 0
        and type(where[2]) is bytes and type(where[3]) is bytes and (where[4] is None or type(where[4]) is str)
    )  # fmt: skip


_BULK_AFTER = 512


class _Indexed(_Journaled):
    """A :class:`_Journaled` table whose base is read entry by entry.

    The base file is sealed by its head alone (:meth:`Seal.head_header`): the head is the
    index ``(format, token, tag, {key: (offset, length, digest, content digest, module)})`` (the
    module of the entry's summary, None without one) and the
    entries follow, each marshalled apart. Loading reads the index only; an entry's bytes
    are read when asked for (:meth:`fetch`) and decoded only if they hash to the digest the
    sealed index holds. A run after an edit needs the entries of a few hundred files, not
    the whole pack (68 MB at 700k lines; reading, sealing and decoding it whole was a third
    of a pre-commit run). Values are ``(content digest, ...)`` tuples; loaded entries stand
    as :class:`_Stored` until fetched. The journal stays whole (it is small).
    """

    def __init__(
        self,
        path: Path,
        fmt: int,
        read: Callable[[Path], bytes | None],
        write: Callable[[Path, bytes], None],
        open_head: Callable[[Path], tuple[FileIO, bytes, int] | None],
        write_headed: Callable[[Path, bytes, Sequence[bytes]], None],
    ) -> None:
        super().__init__(path, fmt, read, write)
        self._open_head = open_head
        self._write_headed = write_headed
        self._stream: FileIO | None = None
        self._start = 0
        # The token of the base the _Stored entries handed out point into; a base written
        # later by this process is opened again (by another process: its entries are misses).
        self._stream_token: bytes | None = None
        self._reopen = False
        # Past a few hundred entries, one read of all the entries beats a read per entry
        # (a run after one edit decodes every file's result).
        self._fetched = 0
        self._data: bytes | None = None

    def _read_base(self) -> tuple[Any, ...] | None:
        self.close()
        opened = self._open_head(self.path)
        if opened is None:
            return None
        stream, head, start = opened
        try:
            data = marshal.loads(head)
        except Exception:
            stream.close()
            raise
        if not (
            isinstance(data, tuple) and len(data) == 4 and data[0] == self._fmt
            and isinstance(data[1], bytes) and isinstance(data[2], bytes) and isinstance(data[3], dict)
        ):  # fmt: skip
            stream.close()
            return None
        entries: dict[Any, Any] = {}
        for key, where in data[3].items():
            if _valid_place(where):
                entries[key] = _Stored(*where)
        self._stream, self._start, self._stream_token = stream, start, data[1]
        return (data[0], data[1], data[2], entries)

    def close(self) -> None:
        self._data = None
        self._fetched = 0
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __del__(self) -> None:
        # A table dropped with its base still open (a run that never saved) closes it.
        self.close()

    def release(self) -> None:
        """Close the base file until an entry is asked for again (then it is opened again,
        and its entries are misses if another process replaced it meanwhile)."""
        if self._stream is not None:
            self.close()
            self._reopen = True

    def _all(self) -> bytes:
        """Every entry's bytes, read once (b"" if they cannot be read)."""
        if self._data is None:
            data = b""
            if self._stream is not None:
                try:
                    self._stream.seek(self._start)
                    data = self._stream.readall()
                except (OSError, ValueError):
                    pass
            self._data = data
        return self._data

    def _raw(self, stored: _Stored) -> bytes | None:
        """The checked bytes of ``stored``, or None (unreadable, or not what the index says)."""
        if self._reopen:
            self._reopen = False
            token = self._stream_token
            try:
                self._read_base()
            except Exception:  # sightlint: ignore[SL201] damaged: its entries are misses
                self.close()
            if self._stream_token != token:
                self.close()
        stream = self._stream
        if stream is None:
            return None
        offset, length = stored.offset, stored.length
        self._fetched += 1
        raw: bytes | None
        if self._data is not None or self._fetched > _BULK_AFTER:
            raw = self._all()[offset : offset + length]
        else:
            try:
                stream.seek(self._start + offset)
                raw = stream.read(length)
            except (OSError, ValueError, OverflowError):
                return None
        if raw is None or len(raw) != length or _check(raw) != stored.check:
            return None
        return raw

    def fetch(self, entry: Any) -> Any:
        """The value of a loaded entry (a :class:`_Stored` is read and checked now), or
        None if it cannot be read or decoded."""
        if type(entry) is not _Stored:
            return entry
        raw = self._raw(entry)
        if raw is None:
            return None
        try:
            return marshal.loads(raw)
        except Exception:  # sightlint: ignore[SL201] damaged behind a valid digest: a miss
            return None

    def _write_base(self, token: bytes, tag: bytes, entries: Mapping[Any, Any]) -> dict[Any, Any]:
        index: dict[Any, tuple[int, int, bytes, bytes, str | None]] = {}
        pieces: list[bytes] = []
        offset = 0
        # One read of the old base's entries, each checked before it is copied: bytes the
        # index does not vouch for must not get a new valid seal.
        data = self._all() if any(type(value) is _Stored for value in entries.values()) else b""
        view = memoryview(data)
        for key, value in entries.items():
            if type(value) is _Stored:
                raw = bytes(view[value.offset : value.offset + value.length])
                if len(raw) != value.length or _check(raw) != value.check:
                    continue
                check, content, module = value.check, value.content, value.module
            else:
                raw = marshal.dumps(value)
                check, content = _check(raw), value[0]
                module = value[3] if len(value) == 4 and type(value[3]) is str else None
            index[key] = (offset, len(raw), check, content, module)
            pieces.append(raw)
            offset += len(raw)
        view.release()
        del data
        self.close()  # before the name is replaced (Windows cannot replace an open file)
        self._write_headed(self.path, marshal.dumps((self._fmt, token, tag, index)), pieces)
        self._reopen = True
        self._stream_token = token
        return {key: _Stored(*where) for key, where in index.items()}


class Cache:
    """One pack of results for one configuration; see the module docstring."""

    def __init__(self, directory: Path, settings: Settings, *, variant: str = "") -> None:
        """``variant`` names anything else the results depend on (e.g. whether summaries are collected)."""
        self.directory = directory
        key = hashlib.sha256(f"{code_fingerprint()}|{settings_fingerprint(settings)}|{variant}".encode()).hexdigest()[:24]
        self.key = key
        self.pack = directory / f"{_PREFIX}{__version__}-{key}{_SUFFIX}"
        self.run_file = directory / f"{_PREFIX}{__version__}-{key}{_RUN_SUFFIX}"
        # The snapshot of a run on some files of the project (``check FILES``): apart, so that
        # a pre-commit hook between two whole runs does not push the whole run's out.
        self.part_run_file = directory / f"{_PREFIX}{__version__}-{key}{_PART_SUFFIX}{_RUN_SUFFIX}"
        self.index_file = directory / f"{_PREFIX}{__version__}-{key}{_INDEX_SUFFIX}"
        self._pack = _Indexed(self.pack, _FORMAT, self.read, self.write, self.open_head, self.write_headed)
        self._index = _Journaled(self.index_file, _INDEX_FORMAT, self.read, self.write)
        found = user_seal()
        # Why the cache is off for this run (no usable key), else None.
        self.unusable = found if isinstance(found, str) else None
        self._seal: Seal | None = None if isinstance(found, str) else found
        # key -> (digest, encoded result[, pickled summary, module])
        self._entries: dict[Key, Any] = {}  # values: tuples, or _Stored until fetched
        self._fresh: dict[Key, tuple[Any, ...]] = {}
        self._seen: set[Key] = set()
        self.hits = 0
        self.misses = 0
        self.loaded = False
        self.write_error: str | None = None
        self._opened = False
        self._hashes: dict[Any, Any] | None = None
        self._hashes_loaded: dict[Any, Any] = {}
        self._index_loaded: tuple[tuple[bytes, dict[Any, Any]] | None] | None = None
        self._walks_read: dict[str, int] = {}
        # A pack being written on another thread (:meth:`save` with ``background``), and
        # what it raised.
        self._saving: Any = None
        self._held = False  # a background save waits for :meth:`go`
        self._saving_error: BaseException | None = None
        # What :meth:`save_run` encoded, by the result's identity: the run's report keys its
        # pieces with the same bytes (:meth:`Pieces.key`), which are not encoded again.
        self._encoded: dict[int, tuple[FileResult, tuple[Finding, ...], bytes]] = {}

    def _load(self) -> None:
        """Read the pack, once, when the first result is asked for."""
        if self._opened:
            return
        self._opened = True
        stored = self._pack.load()
        if stored is None:
            return
        self._entries = stored[1]
        self.loaded = True
        try:  # pruning keeps the most recently used packs
            os.utime(self.pack)
        except OSError:
            pass

    def empty(self) -> bool:
        """Whether there is no pack (no run with this configuration wrote one here): every
        lookup will miss. Known without reading the pack (a run served by its snapshot
        never reads it)."""
        self.settle()
        if self._opened:
            return not self._entries
        try:
            return not self.pack.exists()
        except OSError:
            return False

    def get(
        self, key: Key, content_digest: bytes, *, damaged: Callable[[str], FileResult] | None = None
    ) -> FileResult | None:
        """The cached result for this file and content, or None.

        With ``damaged``, the result is a :class:`LazyFileResult`, decoded when first read
        (a run that re-analyses only part of the project leaves the rest encoded); an entry
        that then does not decode gets the result ``damaged`` gives for its display path
        (the entry stays until the file changes). Without it, a damaged entry is a miss.
        """
        self.settle()
        self._load()
        self._seen.add(key)
        entry = self._entries.get(key)
        if type(entry) is _Stored:  # read from the pack only if the file is unchanged
            if entry.content != content_digest:
                entry = None
            elif damaged is not None:
                # Read when first needed: a run after an edit takes most final results
                # over from its snapshot and never looks at these.
                self.hits += 1
                return _PackResult(key[0], _Fetched(self._pack, entry), damaged)
            else:
                entry = self._pack.fetch(entry)
        if damaged is not None and isinstance(entry, tuple) and len(entry) in (2, 4) and entry[0] == content_digest:
            blob = entry[1]
            if type(blob) is bytes:
                result: FileResult | None = LazyFileResult(
                    key[0], blob, _snapshot_decoder(key[0]), damaged, errors=[], worst=None, unused=True, touches=None
                )  # results with errors are never cached
                assert result is not None
                if len(entry) == 4 and isinstance(entry[2], bytes) and isinstance(entry[3], str):
                    result.summary = PackedSummary(entry[2], entry[3])
                self.hits += 1
                return result
        if isinstance(entry, tuple) and len(entry) in (2, 4) and entry[0] == content_digest:
            try:
                result = _decode_result(marshal.loads(entry[1]))
            except Exception:  # sightlint: ignore[SL201] a damaged entry is a miss; put() replaces it
                result = None
            if result is not None:
                if len(entry) == 4 and isinstance(entry[2], bytes) and isinstance(entry[3], str):
                    result.summary = PackedSummary(entry[2], entry[3])
                self.hits += 1
                return result
        self.misses += 1
        return None

    def put(self, key: Key, content_digest: bytes, result: FileResult | Packed) -> None:
        """Remember ``result`` (or its :func:`pack`); it is encoded now, so later changes to it are not cached."""
        self.settle()
        self._seen.add(key)
        if not isinstance(result, tuple):
            try:
                result = pack(result)
            except Exception:  # sightlint: ignore[SL201] a result that cannot be encoded is simply not cached
                return
        blob, summary, module = result
        self._fresh[key] = (content_digest, blob) if summary is None else (content_digest, blob, summary, module)

    def keep(self, keys: Sequence[Key]) -> None:
        """Keep the entries of these files in the pack, as if looked at (a run that did not
        need their results, see ``incremental.unneeded_files``)."""
        self.settle()
        self._seen.update(keys)

    @property
    def dirty(self) -> bool:
        self.settle()
        return bool(self._fresh)

    def save(self, *, background: bool = False, hold: bool = False) -> None:
        """Write the pack (or its journal) if anything changed; failures are recorded, never raised.

        Either way the pack's file is closed: the entries a run asks for are read by now.

        With ``background``, a run that took no result from the pack (a cold one: nothing
        it holds can read the pack later) writes it on another thread, while the caller
        goes on (the cross-file phase mostly waits for the pool's workers); the writing is
        waited for (:meth:`settle`) before the pack is touched again, before the run
        snapshot is written, and by the caller before it returns. Otherwise, or when no
        thread can be started, it is written now.

        With ``hold`` too, that thread starts only at :meth:`go` (or :meth:`settle`): a cold
        run's pool workers idle until the cross-file phase hands them groups of modules, and
        the writing (marshal and sealing a pack of every summary, much of it holding the
        GIL) slowed this process down while it worked them out."""
        self.settle()
        if background and self._fresh and self.hits == 0:
            if hold:
                self._held = True
                return
            self._background()
            return
        self._save_and_release()

    def go(self) -> None:
        """Start writing the pack held by :meth:`save` (``hold``), if any, on its thread."""
        if self._held:
            self._held = False
            self._background()

    def _background(self) -> None:
        """Write the pack on another thread (now, when no thread can be started)."""
        import threading

        thread = threading.Thread(target=self._save_apart, name="sightlint-cache-save", daemon=False)
        try:
            thread.start()
        except RuntimeError:  # sightlint: ignore[SL201] no thread to be had: written now
            pass
        else:
            self._saving = thread
            return
        self._save_and_release()

    def _save_and_release(self) -> None:
        """Write the pack, then close its file whatever happened."""
        try:
            self._save()
        finally:
            self._pack.release()

    def _save_apart(self) -> None:
        try:
            self._save_and_release()
        except BaseException as exc:  # sightlint: ignore[SL201] raised again by settle(), in the caller's thread
            self._saving_error = exc

    def settle(self) -> None:
        """Wait for a pack being written in the background (see :meth:`save`); what the
        writing raised (not a failure to write: that is recorded) is raised here."""
        self.go()
        thread = self._saving
        if thread is None:
            return
        thread.join()
        self._saving = None
        error, self._saving_error = self._saving_error, None
        if error is not None:
            raise error

    def _save(self) -> None:
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
            stored = self._pack.save(b"", entries, self._fresh)
        except Exception as exc:
            self.write_error = f"cannot write cache in {self.directory}: {exc}"
            return
        self._entries = entries if stored is None else stored
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
                blob = self.read(self.directory / _HASHES)
                data = None if blob is None else marshal.loads(blob)
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
            self.write(self.directory / _HASHES, marshal.dumps((_FORMAT, table)))
        except Exception as exc:
            self.write_error = f"cannot write cache in {self.directory}: {exc}"

    def open_head(self, path: Path) -> tuple[FileIO, bytes, int] | None:
        """A file of the cache folder sealed by its head (see :meth:`Seal.open_head`), or None."""
        return None if self._seal is None else self._seal.open_head(path)

    def write_headed(self, target: Path, head: bytes, pieces: Sequence[bytes]) -> None:
        """Write ``head`` then ``pieces`` atomically, sealed by the head; raises what writing raises."""
        if self._seal is None:
            raise OSError(f"no cache key: {self.unusable}")
        self._ensure_directory()
        write_atomically(target, (self._seal.head_header(target.name, head), head, *pieces), suffix=".tmp")

    def read(self, path: Path, expect: bytes = b"") -> bytes | None:
        """What a file of the cache folder holds after ``expect``, if this user's key sealed
        it under its name (see :meth:`Seal.read`); else None, and nothing of it is decoded."""
        return None if self._seal is None else self._seal.read(path, expect)

    def write(self, target: Path, blob: bytes) -> None:
        """Write a file of the cache folder atomically, sealed; raises what writing raises."""
        if self._seal is None:
            raise OSError(f"no cache key: {self.unusable}")
        self._ensure_directory()
        # Header and body written apart: the sealed whole would be one more copy of a large
        # file (the call-graph store at 700k lines: 22 MB at a cold run's peak memory).
        write_atomically(target, (self._seal.header(target.name, blob), blob), suffix=".tmp")

    # -- folder walks (see files.discover) ---------------------------------------------

    def walks(self) -> dict[str, Any]:
        """What the last runs' folder walks found, for ``files.discover``'s ``walks``
        (empty if missing, damaged or not ours); :meth:`save_walks` writes it back."""
        try:
            blob = self.read(self.directory / _WALKS)
            data = marshal.loads(blob) if blob is not None else None
        except Exception:  # sightlint: ignore[SL201] missing or damaged: the folders are walked again
            data = None
        walks: dict[str, Any] = {}
        if type(data) is tuple and len(data) == 2 and data[0] == _WALKS_FORMAT and type(data[1]) is dict:
            walks = data[1]
        self._walks_read = {key: id(value) for key, value in walks.items()}
        return walks

    def save_walks(self, walks: dict[str, Any]) -> None:
        """Write ``walks`` back if a walk was done again; failures only cost speed."""
        if self._seal is None or {key: id(value) for key, value in walks.items()} == self._walks_read:
            return
        keep = dict(list(walks.items())[-_KEEP_WALKS:])  # the most recent few (another cwd, another folder)
        try:
            self.write(self.directory / _WALKS, marshal.dumps((_WALKS_FORMAT, keep)))
        except Exception as exc:
            self.write_error = f"cannot write cache in {self.directory}: {exc}"

    # -- run snapshots -----------------------------------------------------------------

    def run_key(self, files: Sequence[tuple[str, str | None, bytes | str]]) -> bytes:
        """A key for a whole run: (display, module, content digest or read error) of each file, in order."""
        h = hashlib.sha256(self.key.encode())
        h.update(marshal.dumps(list(files)))
        return h.digest()

    def _run_header(self, key: bytes = b"") -> bytes:
        return b"sightlint-run" + bytes([_RUN_FORMAT]) + key

    @staticmethod
    def _run_entries(blob: bytes) -> list[tuple[Any, ...]] | None:
        """The entries of a snapshot's body, if of the shape :func:`_valid_entry` checks."""
        collecting = gc.isenabled()
        gc.disable()  # many small acyclic objects: the cyclic collector would run over and over
        try:
            data = marshal.loads(blob)
            if type(data) is not list or not all(_valid_entry(entry) for entry in data):
                return None
        except Exception:  # sightlint: ignore[SL201] missing, damaged or of another shape: run normally
            return None
        finally:
            if collecting:
                gc.enable()
        return data

    def _lazy_results(
        self, data: list[tuple[Any, ...]], damaged: Callable[[str], FileResult] | None, part: bool = False
    ) -> list[tuple[FileResult, bytes | None]]:
        """Each entry's result (kept encoded, see :meth:`load_run`) and its basis."""
        where = self.part_run_file if part else self.run_file

        def broken(path: str) -> FileResult:
            where.unlink(missing_ok=True)
            return damaged(path) if damaged is not None else FileResult(path)

        out: list[tuple[FileResult, bytes | None]] = []
        for path, encoded, errors, worst, unused, touches, basis in data:
            if encoded is None:
                out.append((FileResult(path, errors=list(errors)), basis))
            else:
                result = LazyFileResult(
                    path, encoded, _snapshot_decoder(path), broken,
                    errors=list(errors), worst=worst, unused=unused, touches=touches,
                )  # fmt: skip
                out.append((result, basis))
        return out

    def load_run(
        self, key: bytes, damaged: Callable[[str], FileResult] | None = None, *, part: bool = False
    ) -> list[FileResult] | None:
        """The final results of the last run with this key, or None (missing, other key, damaged).

        Each file's result stays encoded until it is read (:class:`LazyFileResult`): a
        run that reports a few files, or only counts, decodes only those. The snapshot's
        shape is checked here, each entry's contents when it is decoded; an entry that
        does not decode (only possible behind a valid seal: a bug of ours) gets the
        result ``damaged`` gives for its path (default: an empty one), and the snapshot is
        deleted so that the next run works it out again. ``part``: the snapshot of a run on
        some files of the project (kept apart from the whole project's).
        """
        where = self.part_run_file if part else self.run_file
        blob = self.read(where, expect=self._run_header(key))  # another run's: not read further
        if blob is None:
            return None
        data = self._run_entries(blob)
        if data is None:
            return None
        return [result for result, _ in self._lazy_results(data, damaged, part)]

    def previous_run(self, damaged: Callable[[str], FileResult] | None = None) -> dict[str, tuple[bytes, FileResult]]:
        """The final results of the last complete run with this configuration, whatever its
        files were, by display path, with the *basis* each was stored with (see
        :meth:`save_run`); only entries with a basis. Read, checked and kept encoded as in
        :meth:`load_run` ({} if missing or damaged)."""
        blob = self.read(self.run_file, expect=self._run_header())
        if blob is None or len(blob) < 32:
            return {}
        data = self._run_entries(blob[32:])
        if data is None:
            return {}
        return {result.path: (basis, result) for result, basis in self._lazy_results(data, damaged) if basis is not None}

    def save_run(
        self, key: bytes, results: Sequence[FileResult], bases: Mapping[str, bytes] | None = None, *, part: bool = False
    ) -> None:
        """Remember a complete run's final results; failures are recorded, never raised.

        ``bases``: for some files (by display path), a key for everything their final
        result was worked out from (``api``: their component's state), with which a later
        run whose files differ may take it over (:meth:`previous_run`); ``part``: see :meth:`load_run`.
        A result read from a snapshot and never decoded is written back as it was read."""
        self.settle()  # the pack first, as when it is written in the caller's thread
        try:
            get = (bases or {}).get
            entries = [(*_snapshot_entry(r), get(r.path)) for r in results]
            self._encoded = {
                id(r): (r, tuple(r.findings), entry[1])
                for r, entry in zip(results, entries)
                if entry[1] is not None and not isinstance(r, LazyFileResult)
            }
            self.write(self.part_run_file if part else self.run_file, self._run_header(key) + marshal.dumps(entries))
        except Exception as exc:
            self.write_error = f"cannot write cache in {self.directory}: {exc}"

    def snapshot(self, key: bytes) -> Snapshot:
        """Where a run with key ``key`` keeps a report derived from its final results alone."""
        return Snapshot(self, key)

    # -- the call graph's index and its components (see sightlint.incremental) ---------

    def load_index(self) -> tuple[bytes, dict[Any, Any]] | None:
        """(names key, {file key: (digest, module, dependencies, hierarchy, component, has
        errors)}) of the last run, or None: what tells each module's component without
        decoding any record. Read once per run."""
        if self._index_loaded is None:
            self._index_loaded = (self._index.load(),)
        return self._index_loaded[0]

    def save_index(self, names_key: bytes, entries: dict[Any, Any], changed: Mapping[Any, Any]) -> None:
        """Store the index; ``changed`` are the entries that differ from what :meth:`load_index` gave."""
        try:
            self._index.save(names_key, entries, changed)
        except Exception as exc:
            self.write_error = f"cannot write cache in {self.directory}: {exc}"

    def _component_path(self, name: str) -> Path:
        return self.directory / f"{_PREFIX}{__version__}-{self.key}-{name}{_COMPONENT_SUFFIX}"

    def load_component(self, name: str, key: bytes | None) -> tuple[bytes, bytes, bytes | None, Any] | None:
        """(content key, records, output key, output) stored for the component ``name``
        (with content key ``key``, unless None), or None: missing, another key, damaged
        (nothing of such a file is decoded beyond its seal and header). The records stay
        encoded (marshal of {file key: (digest, record)}): a run that reuses the
        component's output does not decode them."""
        header = b"sightlint-component" + bytes([_COMPONENT_FORMAT])
        blob = self.read(self._component_path(name), expect=header + (key or b""))
        if blob is None:
            return None
        if key is None:
            key, blob = blob[:16], blob[16:]
            if len(key) != 16:
                return None
        collecting = gc.isenabled()
        gc.disable()
        try:
            data = marshal.loads(blob)
        except Exception:  # sightlint: ignore[SL201] damaged behind a valid seal: rebuilt
            return None
        finally:
            if collecting:
                gc.enable()
        if type(data) is not tuple or len(data) != 3 or type(data[0]) is not bytes or not (data[1] is None or type(data[1]) is bytes):
            return None
        return key, data[0], data[1], data[2]

    def save_component(
        self, name: str, key: bytes, records: dict[Any, Any] | bytes, output_key: bytes | None, output: Any
    ) -> None:
        """Store a component's records (file key -> (digest, record); or those already in
        marshal, as a pool worker encoded them) and, under ``output_key``, its project-phase
        output; failures are recorded, never raised."""
        try:
            header = b"sightlint-component" + bytes([_COMPONENT_FORMAT]) + key
            encoded = records if type(records) is bytes else marshal.dumps(records)
            self.write(self._component_path(name), header + marshal.dumps((encoded, output_key, output)))
        except Exception as exc:
            self.write_error = f"cannot write cache in {self.directory}: {exc}"

    def prune_components(self, live: set[str]) -> None:
        """Delete this configuration's component files whose name is not in ``live``."""
        start, end = f"{_PREFIX}{__version__}-{self.key}-", _COMPONENT_SUFFIX
        try:
            for path in self.directory.iterdir():
                name = path.name
                if name.startswith(start) and name.endswith(end) and name[len(start) : -len(end)] not in live:
                    path.unlink(missing_ok=True)
        except OSError:
            pass

    # -- values derived from a file's content, for reporters -----------------------------

    def file_memo(self, digests: Mapping[str, bytes]) -> FileMemo:
        """A :class:`FileMemo` for this configuration; ``digests``: display path -> the
        content digest this run read (files that could not be read are left out)."""
        path = self.directory / f"{_PREFIX}{__version__}-{self.key}{_PRINTS_SUFFIX}"
        return FileMemo(_Journaled(path, _PRINTS_FORMAT, self.read, self.write), digests)

    def pieces(self, digests: Mapping[str, bytes]) -> Pieces:
        """A :class:`Pieces` for this configuration; ``digests`` as for :meth:`file_memo`."""
        path = self.directory / f"{_PREFIX}{__version__}-{self.key}{_PIECES_SUFFIX}"
        return Pieces(_Journaled(path, _PIECES_FORMAT, self.read, self.write), digests, self)

    def _ensure_directory(self) -> None:
        if self.directory.is_dir() and (self.directory / "CACHEDIR.TAG").exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        _create(
            self.directory / "CACHEDIR.TAG",
            b"Signature: 8a477f597d28d172789f06886806bc55\n"
            b"# This file is a cache directory tag created by sightlint.\n"
            b"# For information about cache directory tags see https://bford.info/cachedir/\n",
        )
        _create(self.directory / ".gitignore", b"# Created by sightlint automatically.\n*\n")

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
                for companion in (
                    _SUFFIX + _JOURNAL_SUFFIX, _RUN_SUFFIX, _PART_SUFFIX + _RUN_SUFFIX, _GRAPH_SUFFIX, _GRAPH_SUFFIX + _JOURNAL_SUFFIX,
                    _PRINTS_SUFFIX, _PRINTS_SUFFIX + _JOURNAL_SUFFIX, _INDEX_SUFFIX, _INDEX_SUFFIX + _JOURNAL_SUFFIX,
                    _PIECES_SUFFIX, _PIECES_SUFFIX + _JOURNAL_SUFFIX,
                    _OUTPUT_SUFFIX, _PART_SUFFIX + _OUTPUT_SUFFIX,
                ):  # fmt: skip
                    path.with_name(path.name.removesuffix(_SUFFIX) + companion).unlink(missing_ok=True)
                components = path.name.removesuffix(_SUFFIX) + "-"
                for other in self.directory.iterdir():
                    if other.name.startswith(components) and other.name.endswith(_COMPONENT_SUFFIX):
                        other.unlink(missing_ok=True)
        except OSError:
            pass


def _create(path: Path, content: bytes) -> None:
    """Write a new file unless something (a link, even a dangling one) is there already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as stream:
        stream.write(content)


class FileMemo:
    """Values a reporter derives from a file's content (a fingerprint's enclosing scope and
    normalised code for each finding's range), kept between runs by display path and
    content digest, so a warm run does not read and parse again every file holding a
    finding (a warm JSON report at 700k lines: 10 s of its 11 s CPU).

    ``get`` gives the value stored for a file only if it was stored for the content this
    run read; ``put`` replaces it; ``save`` writes what changed (the same base + journal
    as the pack, sealed). Anything unreadable is simply absent; failures to write are
    ignored: the memo never changes what is reported, only how fast.
    """

    def __init__(self, store: _Journaled, digests: Mapping[str, bytes]) -> None:
        self._store = store
        self._digests = digests
        self._entries: dict[Any, Any] | None = None
        self._changed: dict[Any, Any] = {}

    def _load(self) -> dict[Any, Any]:
        if self._entries is None:
            collecting = gc.isenabled()
            gc.disable()
            try:
                stored = self._store.load()
            finally:
                if collecting:
                    gc.enable()
            self._entries = stored[1] if stored is not None else {}
        return self._entries

    def get(self, path: str) -> Any:
        """What was stored for ``path`` with this run's content of it, or None."""
        content = self._digests.get(path)
        if content is None:
            return None
        entry = self._load().get(path)
        if type(entry) is tuple and len(entry) == 2 and entry[0] == content:
            return entry[1]
        return None

    def put(self, path: str, value: Any) -> None:
        """Remember ``value`` (marshal-able) for ``path``'s content in this run."""
        content = self._digests.get(path)
        if content is None:
            return
        entry = (content, value)
        self._load()[path] = entry
        self._changed[path] = entry

    def save(self) -> None:
        if not self._changed or self._entries is None:
            return
        entries = self._entries
        # Entries of files this run did not see are kept (a run on a sub-folder must not
        # forget the rest), unless they clearly outnumber the live ones.
        if len(entries) > max(1000, 4 * len(self._digests)):
            entries = {path: entry for path, entry in entries.items() if path in self._digests}
        try:
            self._store.save(b"", entries, self._changed)
        except Exception:  # sightlint: ignore[SL201] a memo that cannot be written is rebuilt next time
            pass
        self._changed = {}


class Pieces(FileMemo):
    """Each file's part of a report, kept between runs (``results-*.pieces``): a run after
    one edit at 700k lines spent half its time decoding and encoding again the same 15k
    findings of files that did not change.

    A piece is stored by display path under a key for everything it is made from: the
    file's final result (its encoded form: a result kept encoded is not decoded for it),
    the file's content (fingerprints read it) and the reporter's ``context`` (format,
    folders). It is the rendered findings (compressed) and the (code, fix safety) of each:
    :meth:`piece` gives one only of that shape, and only for the same key. Written as the memo is (sealed, base
    + journal); failures are ignored.
    """

    def __init__(self, store: _Journaled, digests: Mapping[str, bytes], cache: Cache | None = None) -> None:
        super().__init__(store, digests)
        self._cache = cache

    def key(self, result: FileResult, context: str) -> bytes | None:
        """The key of ``result``'s piece in a report with ``context`` (None: not kept)."""
        content = self._digests.get(result.path)
        if content is None:
            return None
        if isinstance(result, LazyFileResult) and result.blob is not None:
            identity = result.blob
        else:
            # As the run snapshot stores it (:meth:`Cache.save_run`, if it saved this very
            # result, unchanged since), else encoded now: the same bytes.
            saved = self._cache._encoded.get(id(result)) if self._cache is not None else None
            if saved is not None and saved[0] is result and _same(saved[1], result.findings):
                identity = saved[2]
            else:
                identity = marshal.dumps(_encode_result(result))
        h = hashlib.sha256(identity)
        h.update(content)
        h.update(context.encode("utf-8", errors="surrogatepass"))
        return h.digest()

    def piece(self, path: str, key: bytes) -> tuple[list[str], list[tuple[str, str]]] | None:
        """The piece stored for ``path`` under ``key``: (its lines, (code, fix safety) of
        each), or None."""
        entry = self._load().get(path)
        if type(entry) is not tuple or len(entry) != 2 or entry[0] != key:
            return None
        value = entry[1]
        if type(value) is not tuple or len(value) != 2 or type(value[0]) is not bytes or type(value[1]) is not list:
            return None
        meta = value[1]
        if not all(type(item) is tuple and len(item) == 2 and type(item[0]) is str and type(item[1]) is str for item in meta):
            return None
        try:
            lines = zlib.decompress(value[0]).decode("ascii").split("\n")
        except (zlib.error, UnicodeDecodeError):
            return None
        return (lines, meta) if len(lines) == len(meta) and meta else None

    def keep(self, path: str, key: bytes, lines: Sequence[str], meta: list[tuple[str, str]]) -> None:
        """Store ``lines`` (ASCII, no line breaks: JSON with ``ensure_ascii``) and the (code,
        fix safety) of each as ``path``'s piece under ``key``, as a zlib stream of stored
        (level 0) blocks: level 1 took a third of a cold JSON report's serial render (80 ms for
        5 MB at 200k lines) and a run after one edit decompressed every piece again (30 ms,
        against 5 for stored blocks); the file is larger (5 MB against 1.4 at 200k lines),
        read and sealed in a few ms. Any level reads back the same (:meth:`piece`)."""
        entry = (key, (zlib.compress("\n".join(lines).encode("ascii"), 0), meta))
        self._load()[path] = entry
        self._changed[path] = entry


def _same(before: tuple[Finding, ...], now: Sequence[Finding]) -> bool:
    """Whether ``now`` holds the very findings ``before`` did, in the same order."""
    return len(before) == len(now) and all(map(operator.is_, before, now))


class Snapshot:
    """The last report written from a run snapshot's results, kept next to it (``results-*.out``).

    A run whose files and configuration did not change reports the same thing as last
    time: ``sightlint check --format json`` at 700k lines spent most of a warm run
    encoding the same 15k findings again. The report is stored with the run's key and a
    key for everything else it depends on (format, options, the folders paths are shown
    from; see ``reporting.render``), sealed like every cache file, and given back only
    for both keys. The last report on the whole project and the last one on some of its
    files (``check FILES``, as a pre-commit hook runs it) are kept.
    """

    def __init__(self, cache: Cache, run_key: bytes) -> None:
        self._cache = cache
        self.run_key = run_key
        self._stem = cache.run_file.name.removesuffix(_RUN_SUFFIX)

    def _path(self, part: bool) -> Path:
        # Two places: a report on the whole project and one on some of its files (a
        # pre-commit hook between two full runs does not push the full report out).
        return self._cache.run_file.with_name(self._stem + (_PART_SUFFIX if part else "") + _OUTPUT_SUFFIX)

    def output(self, key: bytes, *, part: bool = False) -> str | None:
        """The report stored for ``key`` with this run's key, or None; ``part``: a report
        on some files of the project."""
        try:
            blob = self._cache.read(self._path(part))
            if blob is None:
                return None
            data = marshal.loads(blob)
        except Exception:  # sightlint: ignore[SL201] missing or damaged: the report is written afresh
            return None
        if (
            type(data) is tuple
            and len(data) == 4
            and data[0] == _OUTPUT_FORMAT
            and data[1] == self.run_key
            and data[2] == key
            and type(data[3]) is str
        ):
            return data[3]
        return None

    def save_output(self, key: bytes, text: str, *, part: bool = False) -> None:
        """Keep ``text`` as the report for ``key``; failures are ignored (it is only a shortcut)."""
        try:
            self._cache.write(self._path(part), marshal.dumps((_OUTPUT_FORMAT, self.run_key, key, text)))
        except Exception:  # sightlint: ignore[SL201] not kept: the next run writes the report again
            pass


def _snapshot_decoder(path: str) -> Callable[[bytes], FileResult]:
    def decode(blob: bytes) -> FileResult:
        result = _decode_result(marshal.loads(blob))
        if result.path != path:
            raise ValueError("not this file's result")
        return result

    return decode


def _valid_entry(entry: Any) -> bool:
    """A run snapshot's entry: (path, encoded result or None, errors, worst severity, unused,
    touches, basis or None)."""
    return (
        type(entry) is tuple
        and len(entry) == 7
        and type(entry[0]) is str
        and (entry[1] is None or type(entry[1]) is bytes)
        and type(entry[2]) is list
        and _strs(entry[2])
        and type(entry[3]) is int
        and -1 <= entry[3] <= 3
        and type(entry[4]) is bool
        and type(entry[5]) is tuple
        and _strs(entry[5])
        and (entry[6] is None or type(entry[6]) is bytes)
    )


def _snapshot_entry(result: FileResult) -> tuple[Any, ...]:
    """``result`` as the run snapshot stores it (see :func:`_valid_entry`)."""
    errors = list(result.errors)
    touches = result.touches()  # known without decoding when ``result`` was never decoded
    if isinstance(result, LazyFileResult) and result.blob is not None and touches is not None and result._worst is not None:
        return (result.path, result.blob, errors, result._worst, result._unused, touches)
    findings = result.findings
    unused = bool(result.unused_suppressions)
    if not findings and not unused:
        return (result.path, None, errors, -1, False, ())
    through = {r.path for f in findings for r in f.related}
    through.update(p for f in findings for p in f.chain_paths)
    blob = marshal.dumps(_encode_result(result))
    return (result.path, blob, errors, result.worst(), unused, tuple(sorted(through)))


class _Fetched:
    """A pack entry, read and checked when first asked for (by a result or its summary)."""

    __slots__ = ("_pack", "stored", "_value", "_read")

    def __init__(self, pack: _Indexed, stored: _Stored) -> None:
        self._pack = pack
        self.stored = stored
        self._value: tuple[Any, ...] | None = None
        self._read = False

    def value(self) -> tuple[Any, ...] | None:
        """The entry, or None if it cannot be read or is not of the stored shape."""
        if not self._read:
            self._read = True
            value = self._pack.fetch(self.stored)
            if (
                type(value) is tuple and len(value) in (2, 4) and value[0] == self.stored.content
                and type(value[1]) is bytes and (len(value) == 2 or type(value[2]) is bytes)
            ):  # fmt: skip
                self._value = value
            del self._pack  # nothing more to read
        return self._value


class _PackResult(LazyFileResult):
    """A :class:`LazyFileResult` whose encoded form is read from the pack when first asked
    for; an entry that cannot be read then stands decoded as what ``damaged`` gives."""

    def __init__(self, path: str, entry: _Fetched, damaged: Callable[[str], FileResult]) -> None:
        self.__dict__["_entry"] = entry
        self.__dict__["_blob"] = None
        super().__init__(path, b"", _snapshot_decoder(path), damaged, errors=[], worst=None, unused=True, touches=None)
        self.summary = _FetchedSummary(entry, entry.stored.module) if entry.stored.module is not None else None

    @property
    def blob(self) -> bytes | None:
        entry: _Fetched | None = self.__dict__["_entry"]
        if entry is not None:
            self.__dict__["_entry"] = None
            value = entry.value()
            if value is None:
                self._fields = self._damaged(self.path)  # decoded: as an entry that does not decode
            else:
                self.__dict__["_blob"] = value[1]
        blob: bytes | None = self.__dict__["_blob"]
        return blob

    @blob.setter
    def blob(self, value: bytes | None) -> None:
        if value is None or self.__dict__["_entry"] is None:  # set by LazyFileResult: None once decoded
            self.__dict__["_entry"] = None
            self.__dict__["_blob"] = value

    def _open(self) -> FileResult:
        if self._fields is None:
            self.blob  # read now: an entry that cannot be read leaves the result decoded
        return super()._open()


class PackedSummary:
    """A cached module summary (of module ``module``), unpickled only when asked for.

    ``links``: when the pool worker that made it worked them out (``runner.Links``), the
    module names they were picked from, its dependencies among those, and the names of
    the classes it defines and extends; else None."""

    __slots__ = ("blob", "module", "links")

    def __init__(self, blob: bytes, module: str) -> None:
        self.blob = blob
        self.module = module
        self.links: tuple[frozenset[str], tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None

    def load(self) -> Any:
        """The summary (without its terms), or None if the stored bytes are damaged (or it
        may be an object of any type: the caller checks)."""
        try:
            (size,) = _HEAD.unpack_from(self.blob)
            return pickle.loads(memoryview(self.blob)[_HEAD.size + size :])
        except Exception:  # sightlint: ignore[SL201] damaged: the caller summarises the file again
            return None

    def terms(self) -> DependencyTerms | None:
        """The summary's ``DependencyTerms``, read without the summary, or None if damaged."""
        from sightlint.project.summary import DependencyTerms

        try:
            (size,) = _HEAD.unpack_from(self.blob)
            head = pickle.loads(memoryview(self.blob)[_HEAD.size : _HEAD.size + size])
        except Exception:  # sightlint: ignore[SL201] damaged: the caller summarises the file again
            return None
        if (
            type(head) is not tuple
            or len(head) != len(DependencyTerms._fields)
            or not all(type(part) is frozenset for part in head[:4])
            or type(head[4]) is not bool
            or type(head[5]) is not tuple
            or type(head[6]) is not tuple
        ):
            return None
        return DependencyTerms(*head)


# A summary is stored (in the pack, and on its way back from a pool worker) as the length
# of its pickled ``DependencyTerms``, those terms, then the summary without them: the
# cross-file phase works out every module's dependencies, and from them the components,
# before it needs any summary, then unpickles the summaries one group of components at a
# time (a whole project's unpickled summaries are several times their pickles).
_HEAD = struct.Struct("<I")


class _FetchedSummary(PackedSummary):
    """A :class:`PackedSummary` whose bytes are read from the pack when first asked for
    (b"" if they cannot be: then it loads as damaged and the file is summarised again)."""

    __slots__ = ("_entry",)

    def __init__(self, entry: _Fetched, module: str) -> None:
        self._entry = entry
        self.module = module
        self.links = None

    @property
    def blob(self) -> bytes:
        value = self._entry.value()
        return value[2] if value is not None and len(value) == 4 else b""

    @blob.setter
    def blob(self, value: bytes) -> None:
        raise AttributeError("a summary read from the pack is not replaced")


def _summary_bytes(summary: Any) -> bytes:
    """``summary`` (a ``ModuleSummary``) in its stored form (see :class:`PackedSummary`)."""
    from sightlint.project.summary import dependency_terms

    terms = summary.terms if summary.terms is not None else dependency_terms(summary)
    head = pickle.dumps(tuple(terms), protocol=pickle.HIGHEST_PROTOCOL)
    summary.terms = None
    try:
        body = pickle.dumps(summary, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        summary.terms = terms
    return b"".join((_HEAD.pack(len(head)), head, body))


def pack(result: FileResult) -> Packed:
    """``result`` encoded for the pack (and for the trip back from a pool worker): the
    result with its suppression comments in marshal, the module summary pickled apart."""
    blob = marshal.dumps(_encode_result(result, suppressions=True))
    summary = result.summary
    if summary is None:
        return blob, None, None
    if isinstance(summary, PackedSummary):
        return blob, summary.blob, summary.module
    return blob, _summary_bytes(summary), summary.module


def unpack(packed: Packed) -> FileResult:
    """The result :func:`pack` encoded; its summary stays packed until the cross-file phase asks."""
    blob, summary, module = packed
    # Encoded by a pool worker of this run and sent over its pipe (never read from a file):
    # its shape is not checked again.
    result = _built(marshal.loads(blob))
    if summary is not None and module is not None:
        result.summary = PackedSummary(summary, module)
    return result


# -- compact encoding of final results (marshal: plain tuples, ~10x faster than pickle) --

_SEVERITIES = {s.value: s for s in Severity}
_SAFETIES = {s.value: s for s in FixSafety}


def _encode_result(result: FileResult, *, suppressions: bool = False) -> tuple[Any, ...]:
    """``result`` as plain tuples for marshal; with its parsed suppression comments if asked."""
    findings = [
        (
            f.code, f.name, int(f.severity), f.message, f.path,
            f.span.line, f.span.col, f.span.end_line, f.span.end_col,
            f.fix_safety.value, f.fix_title,
            tuple((r.path, r.line, r.col, r.message) for r in f.related),
            f.detail, f.chain_paths, f.function,
        )  # fmt: skip
        for f in result.findings
    ]
    unused = [(line, codes) for line, codes in result.unused_suppressions]
    marks: Suppressions | None = result.suppressions if suppressions else None
    prints = result.prints  # the fingerprint table: opaque bytes here (see ``semantics.prints.load``)
    if marks is None:
        return (result.path, findings, list(result.errors), unused, prints)
    by_line = [(line, None if codes is None else tuple(sorted(codes))) for line, codes in marks.by_line.items()]
    used = [(line, tuple(sorted(codes))) for line, codes in marks.used.items()]
    return (result.path, findings, list(result.errors), unused, prints, (marks.skip_file, by_line, used))


def _strs(value: Any) -> bool:
    return type(value) in (tuple, list) and all(type(v) is str for v in value)


def _valid_finding(f: Any) -> bool:
    """Whether ``f`` has the shape :func:`_encode_result` writes (types, not values: a
    sealed file is ours; this only keeps a bug's nonsense from becoming a finding)."""
    return (
        type(f) is tuple
        and len(f) == 15
        and all(type(f[i]) is str for i in (0, 1, 3, 4, 9))
        and all(type(f[i]) is int for i in (2, 5, 6, 7, 8))
        and (f[10] is None or type(f[10]) is str)
        and type(f[11]) is tuple
        and all(type(r) is tuple and len(r) == 4 and type(r[0]) is str and type(r[1]) is int
                and type(r[2]) is int and type(r[3]) is str for r in f[11])  # fmt: skip
        and (f[12] is None or type(f[12]) is str)
        and _strs(f[13])
        and (f[14] is None or type(f[14]) in (tuple, list) and len(f[14]) == 2 and all(type(v) is int for v in f[14]))
    )


def _valid_marks(marks: Any) -> bool:
    """The suppression comments' shape: (skip_file, [(line, codes or None)], [(line, codes)])."""
    return (
        type(marks) is tuple
        and len(marks) == 3
        and type(marks[1]) is list
        and type(marks[2]) is list
        and all(type(e) is tuple and len(e) == 2 and type(e[0]) is int and (e[1] is None or _strs(e[1])) for e in marks[1])
        and all(type(e) is tuple and len(e) == 2 and type(e[0]) is int and _strs(e[1]) for e in marks[2])
    )


def encode_findings(findings: Sequence[Finding]) -> list[Any]:
    """``findings`` as plain tuples for marshal (see :func:`decode_findings`)."""
    encoded: list[Any] = _encode_result(FileResult("", findings=list(findings)))[1]
    return encoded


def decode_findings(items: Any) -> list[Finding]:
    """The findings :func:`encode_findings` encoded; raises ValueError on anything of another shape."""
    return _decode_result(("", items, [], [])).findings


def built_findings(items: list[Any]) -> list[Finding]:
    """The findings :func:`encode_findings` encoded, their shape not checked: for what this
    run's own pool workers just encoded (as :func:`unpack`), never for what is read from a file."""
    return _built(("", items, [], [])).findings


def _decode_result(item: tuple[Any, ...]) -> FileResult:
    """The result :func:`_encode_result` encoded; raises ValueError on anything of another shape."""
    if type(item) is not tuple or len(item) not in (4, 5, 6):
        raise ValueError("not an encoded result")
    path, findings, errors, unused, *rest = item
    prints = rest.pop(0) if rest else None
    if (
        prints is not None and type(prints) is not bytes
        or 
        type(path) is not str
        or type(findings) is not list
        or not all(_valid_finding(f) for f in findings)
        or type(errors) is not list
        or not _strs(errors)
        or type(unused) is not list
        or not all(type(u) is tuple and len(u) == 2 and type(u[0]) is int and (u[1] is None or _strs(u[1])) for u in unused)
        or rest and not _valid_marks(rest[0])
    ):
        raise ValueError("not an encoded result")
    return _built(item)


def _built(item: tuple[Any, ...]) -> FileResult:
    """The result :func:`_encode_result` encoded, its shape not checked: for what this run's
    own pool workers just encoded (:func:`unpack`), never for what is read from a file."""
    path, findings, errors, unused, *rest = item
    prints = rest.pop(0) if rest else None
    result = FileResult(
        path,
        findings=[
            Finding(
                code, name, _SEVERITIES[severity], message, fpath, Span(line, col, end_line, end_col),
                _SAFETIES[safety], fix_title, tuple(RelatedLocation(*r) for r in related), detail, tuple(chain_paths),
                None if function is None else tuple(function),
            )  # fmt: skip
            for code, name, severity, message, fpath, line, col, end_line, end_col, safety, fix_title, related, detail, chain_paths,
            function in findings
        ],
        errors=list(errors),
        unused_suppressions=[(line, None if codes is None else tuple(codes)) for line, codes in unused],
        prints=prints,
    )
    if rest:
        (skip_file, by_line, used), = rest
        result.suppressions = Suppressions(
            bool(skip_file),
            {line: None if codes is None else frozenset(codes) for line, codes in by_line},
            {line: set(codes) for line, codes in used},
        )
    return result
