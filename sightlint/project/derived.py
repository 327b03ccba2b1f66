"""Whether an installed library's function or method blocks, derived from its source.

The catalogue (``sightlint/data/blocking_calls.toml``) lists blocking APIs by name; a
hand-kept list never covers every SDK. For an external call the catalogue does not
classify (``pkg.mod.f()``, ``pkg.Client().send``, ``pkg.Client().chat.create``), this
module reads the library's source the way :mod:`sightlint.project.thirdparty` reads base
classes (located on ``sys.path`` with ``PathFinder``, parsed with the stdlib ``ast``, names
followed lexically, never imported or executed) and walks the calls the function's body
makes through the library's own code, breadth first, until it meets a catalogued
*primitive* of a category worth deriving (:data:`TARGETS`: a sync socket or HTTP client,
``time.sleep``, a subprocess, a sync database driver or LLM client). The answer is the
shortest chain found, or "not derived".

What the walk follows, inside installed non-stdlib packages:
- module functions and re-exports (``from .x import f``, ``import pkg.mod as m``);
- constructors (``Class(...)`` runs ``__init__``, found through the class's ancestors);
- ``self.method()`` looked up from the instance's own class through its ancestors (so a
  subclass's override wins), and ``super().method()``;
- methods on typed receivers: ``self.attr.method()`` where ``attr`` is assigned in
  ``__init__`` (``self.attr = Class(...)``, ``= param`` of an annotated parameter, ``a or
  b``), annotated at class level, or a ``@property``/``@cached_property`` returning an
  instance; locals assigned a constructed instance; annotated parameters; bound methods
  kept in attributes (``self._post = client.post``).

What it does not follow (precision first: a method must not be called blocking because
it *may* block somewhere): calls in ``except`` handlers (error paths) and ``raise``
statements, in ``if TYPE_CHECKING:`` blocks, in nested functions and lambdas; ``async
def`` bodies and generator functions (calling one runs nothing); anything dynamic
(``getattr(self, name)()``, a parameter without an annotation, a callable in a dict);
compiled modules; the standard library beyond its catalogued primitives; deeper than
:data:`MAX_DEPTH` calls or beyond :data:`MAX_FUNCTIONS` functions per question. Also:
branches chosen by the function's parameters (``if path is not None:`` a local
database, else a remote one); a sleep reached under a condition (a retry's back-off);
a result or local typed differently by different returns/assignments; and in a library
the catalogue has entries for (whose entries describe it), anything but methods of its
catalogued classes, and its own catalogued calls reached under a condition. Catalogue
entries marked ``primitive = false`` (``sqlalchemy.inspect``) are not seeds.

Answers are kept per environment (the interpreter and the state of its ``sys.path``
folders: :func:`sightlint.project.thirdparty.environment_key`) and catalogue, in the
user's cache folder next to the cache key (:func:`sightlint.seal.key_directory`), sealed
with that key; a file that does not open under the key is ignored and rebuilt, never
decoded.
"""

from __future__ import annotations

import ast
import hashlib
import marshal
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from sightlint.atomic import write_atomically
from sightlint.seal import Seal
from sightlint.project.thirdparty import _BUILTINS, _STDLIB, _Class, _Sources, _statements, environment_key

_FORMAT = 2
# Categories whose catalogued calls count as primitives a library may reach. File I/O is
# left out (libraries read configuration and caches everywhere), and so is CPU work (its
# entries are library APIs, not primitives).
TARGETS = frozenset({"sleep", "network", "subprocess", "database", "llm"})
MAX_DEPTH = 12  # calls from the API to the primitive
MAX_FUNCTIONS = 400  # library functions read per question
_MAX_HOPS = 12  # names followed while resolving one expression
_KEEP_FILES = 8  # environments whose answers are kept in the user's cache folder
_PREFIX = "derived-blocking-"


class Derivation(NamedTuple):
    """Why an external call blocks: the library functions from the call to ``primitive``."""

    category: str
    primitive: str  # the catalogued call reached
    chain: tuple[str, ...]  # qualified names, the called function first
    distribution: str  # "slack_sdk 3.33.1" (or the package name when no version is found)

    def explain(self, name: str) -> str:
        """The sentence a finding carries: ``name`` blocks: it reaches ``primitive`` (...)."""
        api = _display(name)
        hops = " → ".join(f"`{hop}`" for hop in self.chain[1:])
        through = f" through {hops}" if hops else ""
        return f"`{api}` blocks: it reaches `{self.primitive}`{through} (derived from {self.distribution} source)"


def _display(name: str) -> str:
    return name.replace("()", "")


class _Fn(NamedTuple):
    """A library function being followed."""

    qualname: str
    node: ast.FunctionDef
    module: str
    self_class: _Class | None  # the class of ``self`` (the instance's own class)
    owner: _Class | None  # the class whose body defines it (``super()`` starts after it)


# Values an expression of library code may have, as far as the walk can tell:
class _Name(NamedTuple):  # a global dotted name: a module, function or class, not read yet
    dotted: str


class _Inst(NamedTuple):  # an instance; ``spelled``: the catalogue's spelling of it (``pkg.Class()``)
    spelled: str | None
    cls: _Class | None


class _ClassV(NamedTuple):
    cls: _Class
    spelled: str | None


class _Func(NamedTuple):
    fn: _Fn


class _Bound(NamedTuple):
    inst: _Inst
    method: str


class _Prim(NamedTuple):
    name: str
    category: str


_Value = _Name | _Inst | _ClassV | _Func | _Bound


class _Env(NamedTuple):
    """Where an expression is read: a function of a module (or the module's top level)."""

    module: str
    fn: _Fn | None


# What a :class:`Deriver` makes from its primitives alone, read only afterwards: (primitives
# of the derived categories, method -> catalogued receivers, the receivers, every dotted
# prefix of a primitive's name, the catalogue key). Kept per primitives mapping (by
# identity, which the entry keeps alive): a pool worker makes a Deriver per group of
# components it answers for, from the same mapping (``blocking.deriver``).
_Tables = tuple[dict[str, str], dict[str, list[str]], frozenset[str], set[str], str]
_TABLES: dict[int, tuple[Mapping[str, str], _Tables]] = {}


def _tables(primitives: Mapping[str, str]) -> _Tables:
    kept = _TABLES.get(id(primitives))
    if kept is not None and kept[0] is primitives:
        return kept[1]
    prims = {name: cat for name, cat in primitives.items() if cat in TARGETS}
    by_method: dict[str, list[str]] = {}
    for name in prims:
        receiver, marker, method = name.rpartition("().")
        if marker and receiver and "(" not in receiver and "(" not in method and "." not in method:
            by_method.setdefault(method, []).append(receiver)
    # Catalogued receiver classes (``openai.OpenAI`` of ``openai.OpenAI().chat...``), the
    # packages with entries, and per package its receivers and where they are defined.
    receivers = frozenset(
        receiver for name in prims if (receiver := name.partition("().")[0]) != name and "(" not in receiver
    )
    # Every dotted prefix of a primitive's name (``openai.OpenAI()``, ``openai.OpenAI().chat``).
    prefixes = {name[:i] for name in prims for i, ch in enumerate(name) if ch == "."}
    # The answers depend on the seeds and on how they are derived (this module's code).
    digest = hashlib.sha256(repr(sorted(prims.items())).encode())
    try:
        digest.update(Path(__file__).read_bytes())
    except OSError:
        digest.update(b"?")
    tables = (prims, by_method, receivers, prefixes, digest.hexdigest()[:16])
    if len(_TABLES) >= 8:
        _TABLES.clear()
    _TABLES[id(primitives)] = (primitives, tables)
    return tables


class Deriver:
    """Answers "does this installed API block, and through what?" from library sources."""

    def __init__(
        self,
        primitives: Mapping[str, str],
        sources: _Sources,
        ancestors: Callable[[str], tuple[str, ...] | None],
        *,
        cache_dir: Path | None = None,
        seal: Seal | None = None,
    ) -> None:
        """``primitives``: catalogued name -> category (only :data:`TARGETS` are used);
        ``ancestors``: ``ThirdPartyClasses.ancestors``; answers are kept in ``cache_dir``
        sealed by ``seal`` (a :class:`sightlint.seal.Seal`), when both are given."""
        tables = _tables(primitives)
        self._prims, self._by_method, self._receivers, self._prefixes, self._catalogue = tables
        self._defined: dict[str, dict[str, str]] = {}
        self._seed_packages: set[str] | None = None
        self._seeded: dict[str, frozenset[str]] = {}
        self._receiver_sites: dict[str, frozenset[str]] = {}
        self._bindings: dict[tuple[str, str], ast.AST | None] = {}
        self._sources = sources
        self._ancestors = ancestors
        self._dir = cache_dir
        self._seal = seal
        self._answers: dict[str, tuple[str, str, tuple[str, ...], str] | None] | None = None
        self._dirty = False
        self._env = ""
        self._calls: dict[tuple[str, str | None], list[tuple[_Fn | _Prim, bool]]] = {}
        self._mro: dict[str, list[_Class]] = {}
        self._attr_memo: dict[tuple[str, str], _Value | None] = {}
        self._resolving: set[object] = set()
        self._cycles = 0
        self._dists: dict[str, str] = {}

    # -- answers and their cache ---------------------------------------------------------

    def _file(self) -> Path | None:
        if self._dir is None:
            return None
        return self._dir / f"{_PREFIX}{self._env}.marshal"

    def _load(self) -> dict[str, tuple[str, str, tuple[str, ...], str] | None]:
        if self._answers is None:
            self._answers = {}
            self._env = environment_key()
            path = self._file()
            if path is not None and self._seal is not None:
                try:
                    blob = self._seal.read(path)
                    data = None if blob is None else marshal.loads(blob)
                    if (
                        isinstance(data, tuple)
                        and len(data) == 4
                        and data[:3] == (_FORMAT, self._env, self._catalogue)
                        and isinstance(data[3], dict)
                    ):
                        self._answers = data[3]
                except Exception:  # sightlint: ignore[SL201] damaged or another version's: derive again
                    pass
        return self._answers

    def save(self) -> None:
        """Keep this run's answers (an unwritable folder only costs the next run time)."""
        path = self._file()
        if not self._dirty or path is None or self._seal is None or self._answers is None:
            return
        try:
            os.makedirs(path.parent, mode=0o700, exist_ok=True)
            body = marshal.dumps((_FORMAT, self._env, self._catalogue, self._answers))
            write_atomically(path, self._seal.seal(path.name, body), suffix=".tmp")
            self._dirty = False
            self._prune(path)
        except Exception:  # sightlint: ignore[SL201] an unwritable cache only means deriving again
            pass

    def _prune(self, keep: Path) -> None:
        """Only the answers of the few most recently used environments are kept."""
        try:
            others = sorted(
                (p for p in keep.parent.iterdir() if p.name.startswith(_PREFIX) and p != keep),
                key=lambda p: p.stat().st_mtime,
                reverse=True,
            )
            for path in others[_KEEP_FILES - 1 :]:
                path.unlink()
        except OSError:
            pass

    def derive(self, name: str) -> Derivation | None:
        """Whether the external call ``name`` (the model's spelling: ``pkg.f``,
        ``pkg.Class().method``) blocks through the library's own code."""
        answers = self._load()
        if name in answers:
            found = answers[name]
            return None if found is None else Derivation(*found)
        result = self._derive(name)
        answers[name] = None if result is None else tuple(result)  # type: ignore[assignment]
        self._dirty = True
        return result

    def _derive(self, name: str) -> Derivation | None:
        top = name.partition(".")[0]
        if top in _STDLIB or top in _BUILTINS or not top.isidentifier() or not self._sources.locate(top):
            return None
        try:
            expr = ast.parse(name, mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        try:
            strict = self._package(name) in self._seed_packages_now()
            if not self._worth_reading(name):
                return None
            start = self._callee(expr, None)
            if isinstance(start, _Prim):
                return Derivation(start.category, start.name, (_display(name),), self._distribution(top))
            if start is None:
                return None
            return self._walk(start, top, strict)
        except (RecursionError, ValueError, OSError):
            return None

    def _package(self, name: str) -> str:
        """The package a dotted name belongs to: its first part, or its first two when the
        first is a namespace package (``google.cloud``, ``google.genai``)."""
        parts = name.replace("()", "").split(".")
        located = self._sources.locate(parts[0])
        if located is not None and located[0] is None and located[1] and len(parts) > 1:
            return ".".join(parts[:2])
        return parts[0]

    def _worth_reading(self, name: str) -> bool:
        """A library the catalogue has entries for is described by them (its entries were
        read in its source): its other APIs are derived only on instances of the classes
        it lists, under another spelling too (``slack_sdk.web.client.WebClient().views_open``,
        a method the catalogue does not name), not its builders and helpers (``sqlalchemy.select().where``, whose walk
        reads the whole library to find nothing). Other libraries are always read."""
        package = self._package(name)
        seed_packages = self._seed_packages_now()
        seeded = self._seeded.get(package)
        if seeded is None:
            seeded = self._seeded[package] = frozenset(
                receiver for receiver in self._receivers if self._package(receiver) == package
            )
        if not seeded:
            return package not in seed_packages
        receiver, marker, _ = name.partition("().")
        if not marker or "(" in receiver:
            return False
        if receiver in seeded:
            return True
        if receiver.rpartition(".")[2] not in {r.rpartition(".")[2] for r in seeded}:
            return False  # another spelling of a catalogued class keeps its name; others are not read at all
        chain = self._ancestors(receiver)
        if not chain:
            return False
        sites = self._receiver_sites.get(package)
        if sites is None:
            sites = self._receiver_sites[package] = frozenset(
                found[0] for r in seeded if (found := self._ancestors(r))
            )
        return any(ancestor in sites or ancestor in seeded for ancestor in chain)

    def _seed_packages_now(self) -> set[str]:
        if self._seed_packages is None:
            self._seed_packages = {self._package(prim) for prim in self._prims}
        return self._seed_packages

    def _walk(self, start: _Fn, top: str, strict: bool = False) -> Derivation | None:
        """Breadth first from ``start`` to the nearest primitive (source order breaks ties).
        A sleep counts only when no other primitive is reached: in an SDK it is the wait
        between retries, the request itself is what blocks and what the chain should show;
        and only on a path where every call is made unconditionally. ``strict`` (an API of
        a library the catalogue describes) asks the same of the library's own catalogued
        calls: ``Session.delete`` flushes only inside a nested transaction."""
        parent: dict[tuple[str, str | None], tuple[str, str | None] | None] = {}
        names: dict[tuple[str, str | None], str] = {}
        key0 = _key(start)
        parent[key0] = None
        names[key0] = start.qualname
        # (function, depth, whether every call on the way there is made unconditionally)
        queue: deque[tuple[_Fn, int, bool]] = deque([(start, 0, True)])
        read = 0
        sleep: tuple[_Fn, _Prim] | None = None
        while queue and read < MAX_FUNCTIONS:
            fn, depth, sure = queue.popleft()
            read += 1
            for target, conditional in self._calls_of(fn):
                if isinstance(target, _Prim):
                    if strict and not (sure and not conditional) and self._package(target.name) == self._package(top):
                        continue  # the library's own catalogued call, reached only in some states
                    if target.category != "sleep":
                        return self._derivation(fn, target, parent, names, start, top)
                    if sleep is None and sure and not conditional:
                        sleep = (fn, target)  # a sleep under a condition is a retry's back-off
                    continue
                key = _key(target)
                if key in parent or depth + 1 >= MAX_DEPTH:
                    continue
                parent[key] = _key(fn)
                names[key] = target.qualname
                queue.append((target, depth + 1, sure and not conditional))
        return None if sleep is None else self._derivation(sleep[0], sleep[1], parent, names, start, top)

    def _derivation(
        self,
        fn: _Fn,
        prim: _Prim,
        parent: dict[tuple[str, str | None], tuple[str, str | None] | None],
        names: dict[tuple[str, str | None], str],
        start: _Fn,
        top: str,
    ) -> Derivation:
        chain = [names[_key(fn)]]
        at = parent[_key(fn)]
        while at is not None:
            chain.append(names[at])
            at = parent[at]
        chain.reverse()
        return Derivation(prim.category, prim.name, tuple(chain), self._distribution(start.module))

    def _distribution(self, module: str) -> str:
        """``"name version"`` of the installed distribution providing ``module`` (found by
        its ``.dist-info`` folder next to the package: the distribution's own name, or its
        ``top_level.txt``; ``google.genai`` in a namespace package is ``google_genai``)."""
        found = self._dists.get(module)
        if found is not None:
            return found
        parts = module.split(".")
        found = parts[0]
        located = self._sources.locate(module)
        origin = located[0] if located else None
        if origin:
            folder = Path(origin).parent
            for _ in range(len(parts) - (0 if located and located[1] else 1)):
                folder = folder.parent
            wanted = ["_".join(parts[:i]).lower() for i in range(len(parts), 0, -1)]
            try:
                entries = sorted(e for e in os.listdir(folder) if e.endswith(".dist-info"))
            except OSError:
                entries = []
            best: tuple[int, str] | None = None
            for entry in entries:
                dist, _, version = entry[: -len(".dist-info")].partition("-")
                tops = {dist.lower().replace("-", "_").replace(".", "_")}
                try:
                    text = (folder / entry / "top_level.txt").read_text(encoding="utf-8", errors="replace")
                    tops.update(line.strip().replace("/", "_").lower() for line in text.splitlines())
                except OSError:
                    pass
                for rank, name in enumerate(wanted):
                    if name in tops and (best is None or rank < best[0]):
                        best = (rank, f"{dist} {version}")
            if best is not None:
                found = best[1]
        self._dists[module] = found
        return found

    # -- the calls a function makes --------------------------------------------------------

    def _calls_of(self, fn: _Fn) -> list[tuple[_Fn | _Prim, bool]]:
        """What ``fn``'s calls run, each with whether it is made only under a condition."""
        key = _key(fn)
        found = self._calls.get(key)
        if found is None:
            found = []
            env = _Env(fn.module, fn)
            for call, conditional in _own_calls(fn.node):
                target = self._callee(call.func, env)
                if target is not None:
                    found.append((target, conditional))
            self._calls[key] = found
        return found

    def _callee(self, func: ast.expr, env: _Env | None) -> _Fn | _Prim | None:
        """What calling ``func`` runs: a library function to follow, a primitive, or None."""
        value = self._value(func, env, _MAX_HOPS)
        return self._call_value(value)

    def _call_value(self, value: _Value | None) -> _Fn | _Prim | None:
        if isinstance(value, _Name):
            prim = self._prim(value.dotted)
            if prim is not None:
                return prim
            resolved = self._global(value.dotted, _MAX_HOPS)
            if isinstance(resolved, _Prim):
                return resolved
            value = resolved
        if isinstance(value, _Func):
            return self._followable(value.fn)
        if isinstance(value, _ClassV):
            prim = self._prim(value.spelled) if value.spelled else None
            if prim is not None:
                return prim
            init = self._method(value.cls, "__init__", value.cls)
            return self._followable(init) if init is not None else None
        if isinstance(value, _Bound):
            return self._method_call(value.inst, value.method)
        return None

    def _followable(self, fn: _Fn | None) -> _Fn | None:
        if fn is None or _is_generator(fn.node):
            return None
        return fn

    def _method_call(self, inst: _Inst, method: str) -> _Fn | _Prim | None:
        if method.startswith("\0super\0"):
            return self._method_call_super(inst, method)
        if inst.spelled is not None:
            prim = self._prim(f"{inst.spelled}.{method}")
            if prim is not None:
                return prim
        if inst.cls is None:
            return None
        if method in self._by_method:
            chain = self._ancestors(inst.cls[0])
            if chain:
                public = self._defined_for(method)
                for ancestor in chain:
                    prim = self._prim(f"{public.get(ancestor, ancestor)}().{method}")
                    if prim is not None:
                        return prim
        return self._followable(self._method(inst.cls, method, inst.cls))

    def _defined_for(self, method: str) -> dict[str, str]:
        """Where each catalogued class with ``method`` is defined -> its catalogued spelling."""
        memo = self._defined.get(method)
        if memo is None:
            memo = {}
            for receiver in self._by_method.get(method, ()):
                chain = self._ancestors(receiver)
                if chain:
                    memo.setdefault(chain[0], receiver)
            self._defined[method] = memo
        return memo

    def _prim(self, name: str) -> _Prim | None:
        category = self._prims.get(name)
        return _Prim(name, category) if category is not None else None

    # -- classes ------------------------------------------------------------------------------

    def _classes(self, cls: _Class) -> list[_Class]:
        """``cls`` and its ancestors that can be read, breadth first (as ``thirdparty``)."""
        found = self._mro.get(cls[0])
        if found is None:
            found, seen, queue = [], {cls[0]}, [cls]
            while queue and len(found) < 64:
                current = queue.pop(0)
                found.append(current)
                for base in current[1].bases:
                    parent = self._sources.class_of(current[2], base, _MAX_HOPS)
                    if parent is not None and parent[0] not in seen:
                        seen.add(parent[0])
                        queue.append(parent)
            self._mro[cls[0]] = found
        return found

    def _method(self, cls: _Class, name: str, self_class: _Class | None, after: str | None = None) -> _Fn | None:
        """The sync ``def name`` of ``cls``'s ancestry (after class ``after`` for ``super()``)."""
        classes = self._classes(cls)
        if after is not None:
            index = next((i for i, c in enumerate(classes) if c[0] == after), None)
            if index is None:
                return None
            classes = classes[index + 1 :]
        for owner in classes:
            found: ast.stmt | None = None
            for stmt in _statements(owner[1].body):  # the last binding wins; ``@overload`` stubs do not bind
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                    if "overload" not in _decorator_names(stmt):
                        found = stmt
                elif _binds(stmt, name):
                    found = stmt
            if found is None:
                continue
            if not isinstance(found, ast.FunctionDef) or _is_property(found) or _is_abstract(found):
                return None  # async, a property, abstract, or a class attribute made some other way
            return _Fn(f"{owner[0]}.{name}", found, owner[2], self_class if not _is_static(found) else None, owner)
        return None

    def _attribute(self, inst: _Inst, name: str) -> _Value | None:
        """The value of ``inst.name``."""
        spelled = f"{inst.spelled}.{name}" if inst.spelled is not None else None
        found: _Value | None = None
        if inst.cls is not None:
            key = (inst.cls[0], name)
            if key in self._attr_memo:
                found = self._attr_memo[key]
            elif key in self._resolving:
                self._cycles += 1  # a cycle reads as unknown; what depends on it is not kept
            else:
                self._resolving.add(key)
                before = self._cycles
                try:
                    found = self._attribute_of(inst.cls, name)
                finally:
                    self._resolving.discard(key)
                if self._cycles == before:
                    self._attr_memo[key] = found
        if isinstance(found, _Inst) and spelled is not None and (found.spelled is None or self._prims_under(spelled)):
            return _Inst(spelled, found.cls)
        if isinstance(found, _Bound) and found.inst.spelled is None and found.inst.cls == inst.cls:
            return _Bound(inst, found.method)  # a method of the instance itself: keep its spelling
        if found is None and spelled is not None:
            if self._prims_under(spelled):
                return _Inst(spelled, None)
            if spelled in self._prims:
                return _Bound(inst, name)
        return found

    def _prims_under(self, spelled: str) -> bool:
        return spelled in self._prefixes

    def _bind(self, module: str, name: str) -> ast.AST | None:
        key = (module, name)
        if key not in self._bindings:
            self._bindings[key] = self._sources.binding(module, name)
        return self._bindings[key]

    def _attribute_of(self, cls: _Class, name: str) -> _Value | None:
        self_inst = _Inst(None, cls)
        for owner in self._classes(cls):
            for stmt in _statements(owner[1].body):
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                    if "overload" in _decorator_names(stmt):
                        continue
                    if isinstance(stmt, ast.FunctionDef) and _is_property(stmt):
                        fn = _Fn(f"{owner[0]}.{name}", stmt, owner[2], cls, owner)
                        return self._returns(fn)
                    if isinstance(stmt, ast.AsyncFunctionDef):
                        return None
                    return _Bound(self_inst, name)
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == name:
                    annotated = self._annotation(stmt.annotation, owner[2])
                    if annotated is not None:
                        return annotated
                    if stmt.value is not None:
                        return self._value(stmt.value, _Env(owner[2], None), _MAX_HOPS)
                if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
                    return self._value(stmt.value, _Env(owner[2], None), _MAX_HOPS)
        for owner in self._classes(cls):
            for stmt in _statements(owner[1].body):
                if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                    fn = _Fn(f"{owner[0]}.__init__", stmt, owner[2], cls, owner)
                    for value in _self_assignments(stmt, name):
                        found = self._value(value, _Env(owner[2], fn), _MAX_HOPS)
                        if found is not None:
                            return found
        return None

    def _returns(self, fn: _Fn) -> _Value | None:
        """What calling ``fn`` gives: its return annotation's class, else the instance every
        ``return`` gives (returns of different or unknown things: unknown)."""
        if fn.node.returns is not None:
            annotated = self._annotation(fn.node.returns, fn.module)
            if annotated is not None:
                return annotated
        found: _Inst | None = None
        for node in _own_nodes(fn.node):
            if isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
                value = self._value(node.value, _Env(fn.module, fn), _MAX_HOPS)
                if not isinstance(value, _Inst):
                    return None  # one return the walk cannot type: which one runs is unknown
                if found is not None and (found.spelled, found.cls and found.cls[0]) != (value.spelled, value.cls and value.cls[0]):
                    return None  # ``prompt | model`` on one branch, ``prompt`` on another
                found = found or value
        return found

    def _annotation(self, node: ast.expr, module: str) -> _Inst | None:
        """An instance of the class an annotation names (``T``, ``Optional[T]``, ``T | None``)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            options = [n for n in (node.left, node.right) if not _is_none(n)]
            return self._annotation(options[0], module) if len(options) == 1 else None
        if isinstance(node, ast.Subscript):
            head = _dotted(node.value)
            if head is not None and head.rpartition(".")[2] in ("Optional", "Union"):
                items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                options = [n for n in items if not _is_none(n)]
                return self._annotation(options[0], module) if len(options) == 1 else None
            return None
        value = self._value(node, _Env(module, None), _MAX_HOPS)
        if isinstance(value, _Name):
            resolved = self._global(value.dotted, _MAX_HOPS)
            if not isinstance(resolved, _ClassV):
                return _Inst(f"{value.dotted}()", None) if self._prims_under(f"{value.dotted}()") else None
            value = resolved
        if isinstance(value, _ClassV):
            return _Inst(f"{value.spelled}()" if value.spelled else None, value.cls)
        return None

    # -- names and expressions -------------------------------------------------------------

    def _global(self, dotted: str, hops: int) -> _Value | _Prim | None:
        """What a global dotted name refers to in the installed sources."""
        prim = self._prim(dotted)
        if prim is not None:
            return prim
        parts = dotted.split(".")
        if parts[0] in _STDLIB or hops <= 0:
            return None
        for i in range(len(parts), 0, -1):
            module = ".".join(parts[:i])
            located = self._sources.locate(module)
            if located is None:
                continue
            rest = parts[i:]
            if not rest:
                return _Name(module)
            value: _Value | _Prim | None = self._top_name(module, rest[0], hops - 1)
            for attr in rest[1:]:
                if value is None:
                    return None
                value = self._attr_value(value, attr, hops - 1)
            return value
        return None

    def _top_name(self, module: str, name: str, hops: int) -> _Value | _Prim | None:
        """What ``name`` is bound to at the top level of ``module``."""
        if hops <= 0:
            return None
        return self._bound_to(module, name, self._bind(module, name), hops)

    def _bound_to(self, module: str, name: str, binding: ast.AST | None, hops: int) -> _Value | _Prim | None:
        """What a binding of ``name`` in ``module`` (a def, class, import or value) refers to."""
        if isinstance(binding, ast.ClassDef):
            spelled = f"{module}.{name}"
            return _ClassV((spelled, binding, module), spelled)
        if isinstance(binding, ast.FunctionDef):
            return _Func(_Fn(f"{module}.{name}", binding, module, None, None))
        if isinstance(binding, ast.ImportFrom):
            dotted = self._sources.imported(binding, module, name)
            if dotted is None:
                return None
            prim = self._prim(dotted)
            if prim is not None:
                return prim
            found = self._global(dotted, hops - 1)
            if found is None and dotted.partition(".")[0] in _STDLIB:
                return _Name(dotted)
            if isinstance(found, _ClassV):
                return _ClassV(found.cls, dotted if self._prims_under(f"{dotted}()") else found.spelled)
            return found
        if isinstance(binding, ast.Import):
            alias = next(a for a in binding.names if (a.asname or a.name.partition(".")[0]) == name)
            return _Name(alias.name if alias.asname else name)
        if isinstance(binding, ast.expr):
            key = ("top", module, name)
            if key in self._resolving:
                return None
            self._resolving.add(key)
            try:
                return self._value(binding, _Env(module, None), hops - 1)
            finally:
                self._resolving.discard(key)
        return None

    def _attr_value(self, value: _Value | _Prim, attr: str, hops: int) -> _Value | _Prim | None:
        if isinstance(value, _Name):
            return _Name(f"{value.dotted}.{attr}")
        if isinstance(value, _ClassV):
            fn = self._class_function(value.cls, attr)
            if fn is not None:
                return _Func(fn)
            return None
        if isinstance(value, _Inst):
            return self._attribute(value, attr)
        return None

    def _class_function(self, cls: _Class, name: str) -> _Fn | None:
        """``Class.name``: a static or class method (or a function called unbound)."""
        fn = self._method(cls, name, cls)
        return fn

    def _value(self, node: ast.expr, env: _Env | None, hops: int) -> _Value | None:
        """What the expression ``node`` is, read in ``env`` (None: a name the model spelled)."""
        if hops <= 0:
            return None
        if isinstance(node, ast.Name):
            return self._name(node.id, env, hops)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name) and node.value.func.id == "super":
                if env is not None and env.fn is not None and env.fn.self_class is not None and env.fn.owner is not None:
                    return _Bound(_Inst(None, env.fn.self_class), f"\0super\0{env.fn.owner[0]}\0{node.attr}")
                return None
            base = self._value(node.value, env, hops - 1)
            if base is None:
                return None
            found = self._attr_value(base, node.attr, hops - 1)
            return None if isinstance(found, _Prim) else found
        if isinstance(node, ast.Call):
            callee = self._value(node.func, env, hops - 1)
            return self._result(callee, hops - 1)
        if isinstance(node, ast.BoolOp):
            for operand in node.values:
                found = self._value(operand, env, hops - 1)
                if isinstance(found, _Inst):
                    return found
            return None
        if isinstance(node, ast.IfExp):
            for operand in (node.body, node.orelse):
                found = self._value(operand, env, hops - 1)
                if isinstance(found, _Inst):
                    return found
            return None
        return None

    def _result(self, callee: _Value | None, hops: int) -> _Value | None:
        """What a call of ``callee`` returns."""
        if isinstance(callee, _Name):
            spelled = f"{callee.dotted}()"
            found = self._global(callee.dotted, hops)
            if isinstance(found, _ClassV):
                return _Inst(spelled, found.cls)
            if isinstance(found, _Func):
                result = self._returns(found.fn)
                if isinstance(result, _Inst) and result.spelled is None:
                    return _Inst(spelled if self._prims_under(spelled) else None, result.cls)
                return result
            return _Inst(spelled, None) if self._prims_under(spelled) else None
        if isinstance(callee, _ClassV):
            return _Inst(f"{callee.spelled}()" if callee.spelled else None, callee.cls)
        if isinstance(callee, _Func):
            return self._returns(callee.fn)
        if isinstance(callee, _Bound):
            fn = self._method_call(callee.inst, callee.method)
            if isinstance(fn, _Fn):
                return self._returns(fn)
            if callee.inst.spelled is not None:
                spelled = f"{callee.inst.spelled}.{callee.method}()"
                return _Inst(spelled, None) if self._prims_under(spelled) else None
        return None

    def _name(self, name: str, env: _Env | None, hops: int) -> _Value | None:
        if env is None:
            return _Name(name)  # the start of a dotted name the model spelled
        fn = env.fn
        if fn is not None:
            args = fn.node.args
            params = [*args.posonlyargs, *args.args]
            if fn.self_class is not None and params and params[0].arg == name and not _is_classmethod(fn.node):
                return _Inst(None, fn.self_class)
            for arg in [*params, *args.kwonlyargs]:
                if arg.arg == name:
                    return self._annotation(arg.annotation, fn.module) if arg.annotation is not None else None
            if name in (a.arg for a in (args.vararg, args.kwarg) if a is not None):
                return None
            imported = _local_import(fn.node, name)
            if imported is not None:  # ``from .lib import helper`` inside the function
                found = self._bound_to(env.module, name, imported, hops - 1)
                return _Name(found.name) if isinstance(found, _Prim) else found
            local = _local_assignments(fn.node, name)
            if local is not None:
                key = ("local", fn.qualname, name)
                if key in self._resolving:
                    return None
                self._resolving.add(key)
                try:
                    values = [self._value(value, _Env(env.module, fn), hops - 1) for value in local if not _is_none(value)]
                finally:
                    self._resolving.discard(key)
                # Assigned different or unknown things (``prompt = prompt | model`` in a branch): unknown.
                if not values or any(v is None or _identity(v) != _identity(values[0]) for v in values):
                    return None
                return values[0]
        top = self._top_name(env.module, name, hops)
        return _Name(top.name) if isinstance(top, _Prim) else top

    def _method_call_super(self, inst: _Inst, marked: str) -> _Fn | None:
        _, _, rest = marked.partition("\0super\0")
        owner, _, method = rest.partition("\0")
        if inst.cls is None:
            return None
        return self._followable(self._method(inst.cls, method, inst.cls, after=owner))


def _identity(value: _Value | None) -> object:
    """What two values must share to be the same thing (their syntax trees aside)."""
    if isinstance(value, _Inst):
        return ("inst", value.spelled, value.cls[0] if value.cls else None)
    if isinstance(value, _ClassV):
        return ("class", value.cls[0])
    if isinstance(value, _Func):
        return ("func", _key(value.fn))
    if isinstance(value, _Bound):
        return ("bound", _identity(value.inst), value.method)
    return value


def _key(fn: _Fn) -> tuple[str, str | None]:
    return (fn.qualname, fn.self_class[0] if fn.self_class is not None else None)


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``function``'s own body (not nested functions, lambdas or classes)."""
    todo = list(ast.iter_child_nodes(function))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _own_calls(function: ast.FunctionDef) -> list[tuple[ast.Call, bool]]:
    """The calls ``function``'s body makes on its ordinary path, in source order: not in
    ``except`` handlers, ``raise`` statements, ``if TYPE_CHECKING:`` blocks, branches
    chosen by the function's parameters, decorators, default values or annotations,
    nested functions, lambdas or classes. Each with whether it is made only under a
    condition (in an ``if`` branch, a conditional expression, after ``and``/``or``)."""
    found: list[tuple[ast.Call, bool]] = []
    args = function.args
    params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a is not None}
    params.discard("self")
    params.discard("cls")

    def visit(node: ast.AST, cond: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Raise)):
            return
        if isinstance(node, ast.ExceptHandler):
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.orelse:
                visit(stmt, cond)
            return
        if isinstance(node, (ast.If, ast.Match)) and _reads(node.test if isinstance(node, ast.If) else node.subject, params):
            # Which branch runs depends on the caller's arguments (``if path is not None:``
            # a local database, else a remote one): the call may or may not block.
            return
        if isinstance(node, ast.Call):
            found.append((node, cond))
        if isinstance(node, ast.If):
            visit(node.test, cond)
            for stmt in [*node.body, *node.orelse]:
                visit(stmt, True)
            return
        if isinstance(node, ast.IfExp):
            visit(node.test, cond)
            visit(node.body, True)
            visit(node.orelse, True)
            return
        if isinstance(node, ast.BoolOp):
            for index, value in enumerate(node.values):
                visit(value, cond or index > 0)
            return
        if isinstance(node, ast.Match):
            visit(node.subject, cond)
            for case in node.cases:
                for stmt in case.body:
                    visit(stmt, True)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, cond)

    for stmt in function.body:
        visit(stmt, False)
    found.sort(key=lambda c: (c[0].lineno, c[0].col_offset))
    return found


def _reads(test: ast.expr, names: set[str]) -> bool:
    return any(isinstance(node, ast.Name) and node.id in names for node in ast.walk(test))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_generator(fn: ast.FunctionDef) -> bool:
    return any(isinstance(node, (ast.Yield, ast.YieldFrom)) for node in _own_nodes(fn))


def _decorator_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = set()
    for deco in fn.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        dotted = _dotted(target)
        if dotted is not None:
            names.add(dotted.rpartition(".")[2])
    return names


def _is_property(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return bool(_decorator_names(fn) & {"property", "cached_property"})


def _is_abstract(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return "abstractmethod" in _decorator_names(fn)


def _is_static(fn: ast.FunctionDef) -> bool:
    return "staticmethod" in _decorator_names(fn)


def _is_classmethod(fn: ast.FunctionDef) -> bool:
    return "classmethod" in _decorator_names(fn)


def _binds(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)
    if isinstance(stmt, ast.AnnAssign):
        return isinstance(stmt.target, ast.Name) and stmt.target.id == name and stmt.value is not None
    return False


def _is_none(node: ast.expr) -> bool:
    return (isinstance(node, ast.Constant) and node.value is None) or (isinstance(node, ast.Name) and node.id == "None")


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _self_assignments(init: ast.FunctionDef, name: str) -> list[ast.expr]:
    """The values ``__init__`` assigns to ``self.name`` (its first parameter's attribute)."""
    params = [*init.args.posonlyargs, *init.args.args]
    if not params:
        return []
    me = params[0].arg
    found = []
    for node in _own_nodes(init):
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and target.attr == name
                and isinstance(target.value, ast.Name)
                and target.value.id == me
                and value is not None
            ):
                found.append(value)
    found.sort(key=lambda v: (v.lineno, v.col_offset))
    return found


def _local_import(fn: ast.FunctionDef, name: str) -> ast.Import | ast.ImportFrom | None:
    """The import statement in ``fn``'s own body that binds ``name``, if any."""
    for node in _own_nodes(fn):
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            return node
        if isinstance(node, ast.Import) and any((a.asname or a.name.partition(".")[0]) == name for a in node.names):
            return node
    return None


def _local_assignments(fn: ast.FunctionDef, name: str) -> list[ast.expr] | None:
    """The values ``fn``'s body assigns to the local ``name`` (None: it assigns none)."""
    found: list[ast.expr] = []
    bound = False
    for node in _own_nodes(fn):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    found.append(node.value)
                elif any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target)):
                    bound = True  # unpacked: value unknown
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            if node.value is not None:
                found.append(node.value)
            bound = True
        elif isinstance(node, (ast.For, ast.With, ast.AugAssign, ast.NamedExpr)):
            targets = [node.target] if isinstance(node, (ast.For, ast.AugAssign, ast.NamedExpr)) else [
                item.optional_vars for item in node.items if item.optional_vars is not None
            ]
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                bound = True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.partition(".")[0]) == name for a in node.names):
                bound = True
    if not found and not bound:
        return None
    found.sort(key=lambda v: (v.lineno, v.col_offset))
    return found


