"""The user's cache key, and the seal that makes a cache file's tampering evident.

The cache folder is in the project by default, and anything in a project may come from
someone else: a pull request, an archive, a cloned repository. The cache holds marshal
and pickle data, which run code or crash the interpreter when decoded from crafted
bytes, and final results that decide a run's exit code. So every file the cache reads
back is *sealed*: it starts with an HMAC-SHA256 of its contents under a secret key that
never enters a project. The key lives in the user's own cache folder
(:func:`key_directory`), is made on first use, and is readable by the user only. A file
whose seal does not check out is never decoded: the cache treats it as missing.

Each file's seal is made with a key derived from the file's name, so one valid file
cannot stand in for another (a journal for its base, one configuration's pack for
another's). The folder is not part of it: a cache moved along with its project still
serves, and what it holds is keyed by the files' contents anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import tempfile
from pathlib import Path
from io import FileIO

KEY_FILE = "cache-key"
KEY_SIZE = 32
# A sealed file starts with MAGIC, then the tag, then the body. The leading NUL is not a
# valid marshal type code nor a pickle opcode, so older sightlint versions, which read
# these file names without a seal, turn the files down at the first byte.
MAGIC = b"\x00sightlint-sealed\x01"
TAG_SIZE = hashlib.sha256().digest_size
HEADER_SIZE = len(MAGIC) + TAG_SIZE
# A file sealed by its *head* only (:meth:`Seal.head_header`): HEAD_MAGIC, the tag, the
# head's length (8 bytes, little-endian), the head, then data read piece by piece, which
# the head vouches for (it holds each piece's digest). The two magics differ, so neither
# kind of file is ever taken for the other.
HEAD_MAGIC = b"\x00sightlint-sealed\x02"
HEAD_HEADER_SIZE = len(HEAD_MAGIC) + TAG_SIZE + 8
# Larger than any real cache (a 700k-line project's pack is ~35 MB): a bigger "cache
# file" is not read into memory at all.
MAX_SIZE = 512 * 1024 * 1024
_DERIVE = b"sightlint cache file\x00"
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


class Seal:
    """Seals and opens the files of a cache folder under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._derived: dict[str, bytes] = {}

    def _key_for(self, name: str) -> bytes:
        """The key that seals the file called ``name`` (and nothing else)."""
        derived = self._derived.get(name)
        if derived is None:
            derived = self._derived[name] = hmac.digest(self._key, _DERIVE + name.encode(), "sha256")
        return derived

    def seal(self, name: str, body: bytes) -> bytes:
        """The contents of a file called ``name`` that holds ``body``."""
        return self.header(name, body) + body

    def header(self, name: str, body: bytes) -> bytes:
        """What precedes ``body`` in a file called ``name`` (written apart, a large body is
        not copied into the sealed contents)."""
        return MAGIC + hmac.digest(self._key_for(name), body, "sha256")

    def read(self, path: Path, expect: bytes = b"") -> bytes | None:
        """What follows ``expect`` in the body of the sealed file at ``path``, or None: the
        file is missing, not a regular file (links are not followed), larger than
        :data:`MAX_SIZE`, not sealed under this key and this name, or its body does not
        start with ``expect``.

        ``expect`` is compared before the rest of the file is read, so a file meant for
        another run is turned down after a few bytes (the seal is checked only when it
        matches; a forged prefix then fails the seal).
        """
        try:
            fd = os.open(path, _READ_FLAGS)
        except OSError:
            return None
        with open(fd, "rb", buffering=0) as stream:  # unbuffered: the body is read in one piece, not copied
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SIZE:
                return None
            head = stream.read(HEADER_SIZE + len(expect))
            if len(head) != HEADER_SIZE + len(expect) or head[: len(MAGIC)] != MAGIC or head[HEADER_SIZE:] != expect:
                return None
            rest = stream.readall()
        mac = hmac.new(self._key_for(path.name), expect, "sha256")
        mac.update(rest)
        if not hmac.compare_digest(mac.digest(), head[len(MAGIC) : HEADER_SIZE]):
            return None
        return rest

    def head_header(self, name: str, head: bytes) -> bytes:
        """What precedes ``head`` in a file called ``name`` sealed by its head alone; the
        data after the head is the writer's to vouch for (digests in the head)."""
        length = len(head).to_bytes(8, "little")
        return HEAD_MAGIC + hmac.digest(self._key_for(name), length + head, "sha256") + length

    def open_head(self, path: Path) -> tuple[FileIO, bytes, int] | None:
        """(the open file, its head, where its data starts) if ``path`` is a regular file
        no larger than :data:`MAX_SIZE` whose head is sealed under this key and this name,
        else None. Only the head is read; the caller reads the data from the open file
        (the same file, even if another process replaces the name meanwhile) and closes it.
        """
        try:
            fd = os.open(path, _READ_FLAGS)
        except OSError:
            return None
        stream = open(fd, "rb", buffering=0)
        try:
            head = self._sealed_head(stream, path.name)
        except BaseException:
            stream.close()
            raise
        if head is None:
            stream.close()
            return None
        return stream, head, HEAD_HEADER_SIZE + len(head)

    def _sealed_head(self, stream: FileIO, name: str) -> bytes | None:
        """The head of the open file ``stream`` (called ``name``), or None if it is not a
        regular file of at most :data:`MAX_SIZE` whose head this key sealed under that name."""
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SIZE:
            return None
        header = stream.read(HEAD_HEADER_SIZE)
        length = int.from_bytes(header[-8:], "little")
        if len(header) != HEAD_HEADER_SIZE or header[: len(HEAD_MAGIC)] != HEAD_MAGIC or length > info.st_size - HEAD_HEADER_SIZE:
            return None
        head = stream.read(length)
        mac = hmac.digest(self._key_for(name), header[-8:] + head, "sha256")
        if len(head) != length or not hmac.compare_digest(mac, header[len(HEAD_MAGIC) : len(HEAD_MAGIC) + TAG_SIZE]):
            return None
        return head


class KeyUnusable(Exception):
    """The user's key cannot be read or made; the message says why."""


def key_directory() -> Path:
    """``$SIGHTLINT_KEY_DIR``, else ``$XDG_CACHE_HOME/sightlint``, else ``~/.cache/sightlint``."""
    override = os.environ.get("SIGHTLINT_KEY_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec says to ignore a relative value
        return Path(xdg) / "sightlint"
    return Path.home() / ".cache" / "sightlint"


_seals: dict[Path, Seal] = {}


def user_seal() -> Seal | str:
    """The seal under this user's key, or why there is none (then the cache is not used).

    Made on first use; a key that cannot be used is looked at again on the next call."""
    directory = key_directory()
    found = _seals.get(directory)
    if found is None:  # sightlint: ignore[SL501] latent: the CLI calls it on one thread; racers agree on one key
        try:
            found = _seals[directory] = Seal(load_key(directory))
        except KeyUnusable as exc:
            return str(exc)
    return found


def load_key(directory: Path) -> bytes:
    """The key kept in ``directory``, made there first if there is none; raises :class:`KeyUnusable`.

    Concurrent first runs agree on one key: a new key is written in full to a temporary
    file and then linked to its name, which fails if another process linked its own
    first (then that one is read). On a file system without hard links the key file is
    created with ``O_CREAT | O_EXCL`` instead (a run that reads it in the instant before
    its 32 bytes are written goes without a cache).
    """
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
    except OSError as exc:
        raise KeyUnusable(f"cannot create the key folder {directory}: {exc.strerror or exc}") from None
    # Whoever can write the folder can replace the key with one they know.
    if os.name == "posix" and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        raise KeyUnusable(f"the key folder {directory} is not writable by you alone")
    path = directory / KEY_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    try:
        _make_key(path)
        return _read_key(path)
    except OSError as exc:
        raise KeyUnusable(f"cannot make the key file {path}: {exc.strerror or exc}") from None


def _read_key(path: Path) -> bytes:
    """The key in ``path``; raises FileNotFoundError or :class:`KeyUnusable`."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise KeyUnusable(f"cannot read the key file {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyUnusable(f"the key file {path} is not a regular file")
        if os.name == "posix" and (info.st_uid != os.getuid() or info.st_mode & 0o077):
            raise KeyUnusable(f"the key file {path} is not private to you (it must be mode 0600)")
        key = os.read(fd, KEY_SIZE + 1)
    finally:
        os.close(fd)
    if len(key) != KEY_SIZE:
        raise KeyUnusable(f"the key file {path} holds {len(key)} bytes, not {KEY_SIZE}: delete it to make a new one")
    return key


def _make_key(path: Path) -> None:
    """Write a new key at ``path`` unless one appears there first; raises OSError."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(os.urandom(KEY_SIZE))
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made the key first: use theirs
        except OSError:  # no hard links here: create the name exclusively instead
            try:
                out = os.open(path, _CREATE_FLAGS, 0o600)
            except FileExistsError:
                return
            with os.fdopen(out, "wb") as stream:
                stream.write(os.urandom(KEY_SIZE))
    finally:
        os.unlink(tmp)
