"""Base classes of installed third-party classes, read from their source files.

The project model resolves what the project itself defines. A call on an instance of a
class from an installed package (``OAuth2Session().get``, ``ChatMistralAI().invoke``)
stays an external name, and the blocking catalog knows only the classes it lists. This
module answers the one question the catalog cannot: which classes does an installed
class derive from (``requests.sessions.Session``, LangChain's ``BaseChatModel``)?

Modules are located on the running interpreter's ``sys.path`` the way the import
system would find them (``PathFinder``, which only searches folders) and parsed with
the stdlib ``ast``; nothing is imported or executed, and compiled extensions are not
read. Names are followed lexically: ``class X(Base)``, ``from m import X`` re-exports
(relative ones too), ``import m`` then ``m.X``, ``X = Y`` aliases and subscripted bases
(``Base[T]``), in top-level statements including ``if``/``try`` blocks. Dynamic exports
(a module ``__getattr__``) are not followed: such a class stays unknown.

Why not astroid, the inference library this was first written with: building
``langchain_openai/chat_models/base.py`` takes astroid about 3 s without its transforms
and 5 s with them, against 0.03 s for ``ast.parse``, so a LangChain project's first run
paid seconds for one class; the lexical walk above is all this question needs, and it
follows subscripted generic bases that astroid's inference gave up on.

Every answer, "not found" included, is kept in the cache folder, keyed by the
interpreter and the modification times of the ``sys.path`` folders (installing or
upgrading a package changes them). The cache reads the file back only if it sealed it
(:meth:`sightlint.cache.Cache.read`): the answers decide findings.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import marshal
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from sightlint.source import read_source

_FORMAT = 3
FILE_NAME = "third-party-classes.marshal"
# The standard library's classes that block are catalogued by name (and builtins are
# not modules): only installed packages are worth reading.
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins", "__main__"}
_BUILTINS = frozenset(dir(builtins))
_MAX_SOURCE = 4 * 1024 * 1024  # larger "modules" are generated data, not class hierarchies
_MAX_CLASSES = 64  # ancestors followed per class
_MAX_HOPS = 16  # re-exports and aliases followed per name


def environment_key() -> str:
    """The interpreter and the state of the folders its imports are found in."""
    h = hashlib.sha256(f"{sys.executable}|{sys.version}".encode())
    cwd = os.getcwd()
    for entry in sys.path:
        if not entry or entry == cwd:
            continue  # ``python -m`` puts the working folder first: it changes with the project
        try:
            stamp = os.stat(entry).st_mtime_ns
        except OSError:
            stamp = -1
        h.update(f"|{entry}:{stamp}".encode())
    return h.hexdigest()[:24]


class Store(Protocol):
    """Where answers are kept between runs (``sightlint.cache.Cache``)."""

    def read(self, path: Path) -> bytes | None:
        """The file's contents, or None when missing or not to be trusted."""

    def write(self, target: Path, blob: bytes) -> None:
        """Store the file; raises what writing raises."""


class ThirdPartyClasses:
    """``ancestors(name)``: the qualified names of an installed class's base classes."""

    def __init__(self, cache_file: Path | None = None, store: Store | None = None) -> None:
        """Answers are kept in ``cache_file`` through ``store`` (both or neither)."""
        self._file = cache_file
        self._store = store
        self._env = ""  # environment_key(), worked out when the first name is asked
        self._known: dict[str, tuple[str, ...] | None] | None = None
        self._dirty = False
        self._sources = _Sources()
        # Whether answers are kept between runs, and the run's ``derived.Deriver`` (made by
        # ``blocking.deriver`` when a rule asks whether an uncatalogued call blocks; saved with these).
        self.persistent = cache_file is not None and store is not None
        self.derived: Any = None

    @property
    def sources(self) -> _Sources:
        """The installed modules read so far (shared with ``derived.Deriver``)."""
        return self._sources

    def _load(self) -> dict[str, tuple[str, ...] | None]:
        if self._known is None:
            self._known = {}
            self._env = environment_key()
            if self._file is not None and self._store is not None:
                try:
                    blob = self._store.read(self._file)
                    data = None if blob is None else marshal.loads(blob)
                    if isinstance(data, tuple) and len(data) == 3 and data[:2] == (_FORMAT, self._env):
                        if isinstance(data[2], dict):
                            self._known = data[2]
                except Exception:  # sightlint: ignore[SL201] missing, damaged or another environment's: ask again
                    pass
        return self._known

    def ancestors(self, name: str) -> tuple[str, ...] | None:
        """The qualified name of the class ``name`` refers to, then those of the classes it
        derives from (breadth first); None when it is not an installed class we can read."""
        known = self._load()
        if name in known:
            found = known[name]
            return tuple(found) if found is not None else None
        found = self._resolve(name)
        known[name] = found
        self._dirty = True
        return found

    def _resolve(self, name: str) -> tuple[str, ...] | None:
        top = name.partition(".")[0]
        if top in _STDLIB or not self._sources.locate(top):
            return None
        try:
            start = self._sources.named_class(name)
            if start is None:
                return None
            return tuple(self._sources.ancestors(start))
        except (RecursionError, ValueError, OSError):  # pathological or unreadable sources: unknown
            return None

    def save(self) -> None:
        """Keep this run's answers for the next one (errors only cost the next run time)."""
        if self.derived is not None:
            self.derived.save()
        if not self._dirty or self._file is None or self._store is None or self._known is None:
            return
        try:
            self._store.write(self._file, marshal.dumps((_FORMAT, self._env, self._known)))
            self._dirty = False
        except Exception:  # sightlint: ignore[SL201] an unwritable cache only means asking again
            pass


# (qualified name, the class statement, the module it is in)
_Class = tuple[str, ast.ClassDef, str]


class _Sources:
    """Installed modules, found and parsed on demand (each once)."""

    def __init__(self) -> None:
        self._located: dict[str, tuple[str | None, bool] | None] = {}
        self._search: dict[str, list[str]] = {}  # package -> folders its submodules are in
        self._trees: dict[str, ast.Module | None] = {}

    def locate(self, module: str) -> tuple[str | None, bool] | None:
        """(source file or None, is a package) of an importable module, found without importing."""
        if module in self._located:
            return self._located[module]
        from importlib.machinery import PathFinder

        parent, _, _ = module.rpartition(".")
        search: list[str] | None = None
        if parent:
            found = self.locate(parent)
            if found is None or not found[1]:
                self._located[module] = None
                return None
            search = self._search.get(parent)
        try:
            spec = PathFinder.find_spec(module, search)
        except (ImportError, ValueError, OSError, KeyError):  # KeyError: a dotted name with no search path
            spec = None
        if spec is None:
            result = None
        else:
            locations = spec.submodule_search_locations
            if locations is not None:
                self._search[module] = list(locations)
            origin = spec.origin if spec.origin and spec.origin.endswith(".py") else None
            result = (origin, locations is not None)
        self._located[module] = result
        return result

    def tree(self, module: str) -> ast.Module | None:
        if module not in self._trees:
            located = self.locate(module)
            tree = None
            if located is not None and located[0] is not None:
                # Regular files only: an installed "module" that is a FIFO or a link to
                # /dev/zero would hang the run or fill its memory.
                data = read_source(located[0], _MAX_SOURCE)
                try:
                    tree = ast.parse(data) if isinstance(data, bytes) else None
                except (SyntaxError, ValueError, RecursionError, MemoryError):
                    tree = None
            self._trees[module] = tree
        return self._trees[module]

    def named_class(self, name: str, hops: int = _MAX_HOPS) -> _Class | None:
        """The class a dotted name such as ``pkg.Class`` or ``pkg.sub.Class`` refers to."""
        module, _, attr = name.rpartition(".")  # nested classes (pkg.Outer.Inner) are not followed
        if not module or self.locate(module) is None:
            return None
        return self.class_in(module, attr, hops)

    def binding(self, module: str, name: str) -> ast.AST | None:
        """What ``name`` is bound to at the top level of ``module`` (see :func:`_binding`)."""
        tree = self.tree(module)
        return _binding(tree, name) if tree is not None else None

    def imported(self, node: ast.ImportFrom, module: str, name: str) -> str | None:
        """``source.real`` for the ``name`` that ``from source import real [as name]`` in ``module`` binds."""
        source = _absolute(node, module, self.locate(module))
        if source is None:
            return None
        real = next(a.name for a in node.names if (a.asname or a.name) == name)
        return f"{source}.{real}"

    def class_in(self, module: str, name: str, hops: int) -> _Class | None:
        """The class bound to ``name`` at the top level of ``module``, following imports."""
        if hops <= 0:
            return None
        binding = self.binding(module, name)
        if isinstance(binding, ast.ClassDef):
            return f"{module}.{name}", binding, module
        if isinstance(binding, ast.ImportFrom):
            dotted = self.imported(binding, module, name)
            return None if dotted is None else self.named_class(dotted, hops - 1)
        if isinstance(binding, ast.expr):
            return self.class_of(module, binding, hops - 1)
        return None

    def class_of(self, module: str, expr: ast.expr, hops: int) -> _Class | None:
        """The class an expression in ``module`` names: ``Name``, ``mod.Name``, ``Base[T]``."""
        if isinstance(expr, ast.Subscript):
            expr = expr.value
        parts: list[str] = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name) or hops <= 0:
            return None
        parts.reverse()
        if not parts:
            return self.class_in(module, expr.id, hops)
        binding = self.binding(module, expr.id)
        if isinstance(binding, ast.Import):
            alias = next(a for a in binding.names if (a.asname or a.name.partition(".")[0]) == expr.id)
            base: str | None = alias.name if alias.asname else expr.id
        elif isinstance(binding, ast.ImportFrom):
            base = self.imported(binding, module, expr.id)  # ``from pkg import sub`` then ``sub.Class``
        else:
            return None
        return None if base is None else self.named_class(".".join([base, *parts]), hops - 1)

    def ancestors(self, start: _Class) -> Iterator[str]:
        """``start``'s qualified name, then its base classes' (breadth first, each once)."""
        queue, seen = [start], {start[0]}
        yielded = 0
        while queue and yielded < _MAX_CLASSES:
            qualname, node, module = queue.pop(0)
            yield qualname
            yielded += 1
            for base in node.bases:
                found = self.class_of(module, base, _MAX_HOPS)
                if found is None:
                    plain = base.value if isinstance(base, ast.Subscript) else base
                    if isinstance(plain, ast.Name) and plain.id in _BUILTINS and self.binding(module, plain.id) is None:
                        builtin = f"builtins.{plain.id}"
                        if builtin not in seen:
                            seen.add(builtin)
                            yield builtin
                    continue
                if found[0] not in seen:
                    seen.add(found[0])
                    queue.append(found)


def _binding(tree: ast.Module, name: str) -> ast.AST | None:
    """What the top-level statements bind ``name`` to: its ``ClassDef``,
    ``Import``/``ImportFrom``, or the value of ``name = value``. The last binding wins;
    inside ``if`` the body wins over ``else`` (``if TYPE_CHECKING:`` imports), and
    ``except`` handlers are fallbacks for the ``try`` body, so they are not read."""
    found: ast.AST | None = None
    for stmt in _statements(tree.body):
        if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if stmt.name == name:
                found = stmt
        elif isinstance(stmt, ast.Import):
            if any((a.asname or a.name.partition(".")[0]) == name for a in stmt.names):
                found = stmt
        elif isinstance(stmt, ast.ImportFrom):
            if any((a.asname or a.name) == name for a in stmt.names):
                found = stmt
        elif isinstance(stmt, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
                found = stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            if isinstance(stmt.target, ast.Name) and stmt.target.id == name and stmt.value is not None:
                found = stmt.value
    return found


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Top-level statements in the order that makes the preferred binding come last."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _statements(stmt.orelse)
            yield from _statements(stmt.body)
        elif isinstance(stmt, ast.Try):
            yield from _statements(stmt.body)
            yield from _statements(stmt.orelse)
            yield from _statements(stmt.finalbody)
        else:
            yield stmt


def _absolute(node: ast.ImportFrom, module: str, located: tuple[str | None, bool] | None) -> str | None:
    """The module a ``from ... import`` in ``module`` reads from."""
    if not node.level:
        return node.module
    package = module if located is not None and located[1] else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    if not package:
        return None
    return f"{package}.{node.module}" if node.module else package
