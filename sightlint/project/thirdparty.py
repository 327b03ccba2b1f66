"""Base classes of installed third-party classes, read from their sources by astroid.

The project model resolves what the project itself defines. A call on an instance of a
class from an installed package (``OAuth2Session().get``, ``ChatMistralAI().invoke``)
stays an external name, and the blocking catalog knows only the classes it lists. This
module answers the one question the catalog cannot: which classes does an installed
class derive from (``requests.sessions.Session``, LangChain's ``BaseChatModel``)?

astroid builds the class's module from its source file on the running interpreter's
``sys.path`` and infers the bases; nothing is imported or executed (astroid does not
load compiled extensions unless told to). astroid is imported only when a run meets a
name it has not answered before, and every answer, "not found" included, is kept in
the cache folder, keyed by the interpreter and the modification times of the
``sys.path`` folders (installing or upgrading a package changes them).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_FORMAT = 1
# The environment astroid's process-wide module cache was filled in.
_MANAGER_ENV: str | None = None
FILE_NAME = "third-party-classes.marshal"


def environment_key() -> str:
    """The interpreter and the state of the folders its imports are found in."""
    h = hashlib.sha256(f"{sys.executable}|{sys.version}".encode())
    cwd = os.getcwd()
    for entry in sys.path:
        if not entry or entry == cwd:
            continue  # ``python -m`` puts the working folder first: it changes with the project
        try:
            stamp = os.stat(entry or ".").st_mtime_ns
        except OSError:
            stamp = -1
        h.update(f"|{entry}:{stamp}".encode())
    return h.hexdigest()[:24]


class ThirdPartyClasses:
    """``ancestors(name)``: the qualified names of an installed class's base classes."""

    def __init__(self, cache_file: Path | None = None, write: Callable[[Path, bytes], None] | None = None) -> None:
        self._file = cache_file
        self._write = write
        self._env = environment_key()
        self._known: dict[str, tuple[str, ...] | None] | None = None
        self._dirty = False
        self._manager: Any = None
        self.resolved = 0  # names answered by astroid in this run (not from the cache)

    def _load(self) -> dict[str, tuple[str, ...] | None]:
        if self._known is None:
            self._known = {}
            if self._file is not None:
                try:
                    with open(self._file, "rb") as stream:
                        data = marshal.loads(stream.read())
                    if isinstance(data, tuple) and len(data) == 3 and data[:2] == (_FORMAT, self._env):
                        if isinstance(data[2], dict):
                            self._known = data[2]
                except Exception:  # sightlint: ignore[SL201] missing, damaged or another environment's: ask again
                    pass
        return self._known

    def ancestors(self, name: str) -> tuple[str, ...] | None:
        """The qualified name of the class ``name`` refers to, then of every class it derives
        from (nearest first); None when it is not an installed class astroid can read."""
        known = self._load()
        if name in known:
            found = known[name]
            return tuple(found) if found is not None else None
        found = self._resolve(name)
        known[name] = found
        self._dirty = True
        self.resolved += 1
        return found

    def _resolve(self, name: str) -> tuple[str, ...] | None:
        top = name.partition(".")[0]
        if top in _STDLIB or not _installed(top):
            return None  # not a third-party package here: astroid is not even imported
        try:
            cls = self._class(name)
            if cls is None:
                return None
            return (cls.qname(), *(ancestor.qname() for ancestor in cls.ancestors()))
        except Exception:  # sightlint: ignore[SL201] astroid could not read or infer it (or recursed too deep): unknown
            return None

    def _class(self, name: str) -> Any:
        """The astroid ``ClassDef`` for a dotted name: the longest importable module prefix,
        then attributes inferred through it (re-exports such as ``requests.Session``)."""
        if self._manager is None:
            global _MANAGER_ENV
            from astroid.manager import AstroidManager

            self._manager = AstroidManager()  # shared by the process (a borg)
            if _MANAGER_ENV != self._env:  # modules it built may be gone or changed
                self._manager.clear_cache()
                _MANAGER_ENV = self._env
        from astroid import nodes

        parts = name.split(".")
        for split in range(len(parts) - 1, 0, -1):
            try:
                node: Any = self._manager.ast_from_module_name(".".join(parts[:split]))
            except Exception:  # sightlint: ignore[SL201] not a module: try a shorter prefix
                continue
            for attr in parts[split:]:
                node = next((n for n in node.igetattr(attr) if not _uninferable(n)), None)
                if node is None:
                    return None
            return node if isinstance(node, nodes.ClassDef) else None
        return None

    def save(self) -> None:
        """Keep this run's answers for the next one (errors only cost the next run time)."""
        if not self._dirty or self._file is None or self._write is None or self._known is None:
            return
        try:
            self._write(self._file, marshal.dumps((_FORMAT, self._env, self._known)))
            self._dirty = False
        except Exception:  # sightlint: ignore[SL201] an unwritable cache only means asking again
            pass


# The standard library's classes that block are catalogued by name (and builtins are
# not modules): only installed packages are worth reading.
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins", "__main__"}


def _installed(top: str) -> bool:
    """Whether a top-level module or package of that name is on ``sys.path`` (found, not imported)."""
    from importlib.machinery import PathFinder

    try:
        return PathFinder.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _uninferable(node: Any) -> bool:
    from astroid.util import UninferableBase

    return isinstance(node, UninferableBase)
