"""Find the Python files a run checks, and name their modules.

Directories are walked with excluded folders pruned (the usual virtualenv and build
folders by default) and, unless turned off, ``.gitignore`` rules applied, nested ones
included. Files named explicitly on the command line are always checked.

A run on some files of a project analyses the whole project (:func:`project_root`), so
that the cross-file rules see every caller and callee; :func:`discover` then also walks
the project's root and records which files the paths named.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sightlint.settings import DEFAULT_EXCLUDE, Settings
from sightlint.source import read_source

PYTHON_SUFFIXES = (".py", ".pyi")
# A file named on the command line is checked when it has one of these suffixes or none.
NAMED_SUFFIXES = (".py", ".pyi", ".pyw")
# What makes a folder the root of a project when no configuration file says where it is.
PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")


@dataclass(frozen=True)
class SourceFile:
    location: str  # the path as found on disk (a str: thousands of Path objects cost a warm run)
    display: str  # posix path shown to users (relative to the cwd when below it)
    module: str | None

    @property
    def path(self) -> Path:
        return Path(self.location)


@dataclass
class Discovery:
    files: list[SourceFile] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # With a project around the paths: the display paths of the files found under the
    # paths themselves (None: every file was named), and the problems met walking the
    # rest of the project (they concern files the run does not report on).
    named: frozenset[str] | None = None
    context_errors: list[str] = field(default_factory=list)
    # Display paths of the folders and Python files an exclude pattern or ``.gitignore``
    # left out (a pruned folder's contents are not listed, and only folders with Python
    # files at their top are), and of named files skipped because they are not Python.
    excluded: list[str] = field(default_factory=list)
    not_python: list[str] = field(default_factory=list)


def project_root(paths: Sequence[Path], settings: Settings, cwd: Path | None = None) -> Path | None:
    """The folder whose whole tree a run on ``paths`` analyses (resolved), or None if there is none.

    ``project-root`` (relative to the configuration file's folder) if set; else the
    folder of the configuration file in use; else the nearest folder holding
    ``pyproject.toml``, ``setup.cfg`` or ``.git`` that contains every path (walking up
    from their common folder, or from ``cwd`` without paths). Paths that do not exist
    are left out: the run reports them as errors.
    """
    cwd_path = (cwd or Path.cwd()).resolve()
    if settings.project_root is not None:
        base = Path(settings.config_path).resolve().parent if settings.config_path else cwd_path
        return (base / Path(settings.project_root).expanduser()).resolve()
    if settings.config_path is not None:
        return Path(settings.config_path).resolve().parent
    starts = []
    for path in paths:  # relative to the process's folder, as discover() reads them
        if path.is_dir():
            starts.append(str(path.resolve()))
        elif path.exists():
            starts.append(str(path.resolve().parent))
    start = Path(os.path.commonpath(starts)) if starts else cwd_path
    for folder in (start, *start.parents):
        if any(os.path.exists(os.path.join(folder, marker)) for marker in PROJECT_MARKERS):
            return folder
    return None


def display_path(path: Path, cwd: Path) -> str:
    try:
        # abspath, not resolve: a symlink is shown under its own name.
        return Path(os.path.abspath(path)).relative_to(cwd).as_posix()
    except ValueError:
        return path.as_posix()


def module_name(path: Path, src: Sequence[Path] = ()) -> str | None:
    """Dotted module name: climb while the folder is a package (has ``__init__.py``).

    A file below one of the configured ``src`` roots is named relative to that root even
    without ``__init__.py`` files (namespace packages).
    """
    return _module_name(str(path.resolve()), [str(root.resolve()) for root in src], {})


def _stem(name: str) -> str:
    """``PurePath(name).stem``."""
    i = name.rfind(".")
    return name[:i] if 0 < i < len(name) - 1 else name


def _package(
    folder: str, packages: dict[str, tuple[str, ...]], has_init: dict[str, bool] | None = None
) -> tuple[str, ...]:
    """The package a resolved folder is (its dotted parts), climbing while ``__init__.py`` exists.

    ``has_init`` holds what the walk already saw of folders it listed."""
    found = packages.get(folder)
    if found is None:
        parent, name = os.path.split(folder)
        known = has_init.get(folder) if has_init is not None else None
        if known is None:
            known = os.path.isfile(os.path.join(folder, "__init__.py"))
        if parent != folder and known:
            found = (*_package(parent, packages, has_init), name)
        else:
            found = ()
        packages[folder] = found
    return found


def _module_name(resolved: str, src: Sequence[str], packages: dict[str, tuple[str, ...]]) -> str | None:
    """:func:`module_name` of a resolved path; ``packages`` memoizes the climb per folder
    during one discovery (thousands of files share a few hundred folders)."""
    folder, name = os.path.split(resolved)
    return _module_in(folder, name, src, packages, {})


def _module_in(
    folder: str,
    name: str,
    src: Sequence[str],
    packages: dict[str, tuple[str, ...]],
    prefixes: dict[str, tuple[str, bool | None]],
    has_init: dict[str, bool] | None = None,
) -> str | None:
    """The module name of file ``name`` in resolved ``folder``; ``prefixes`` memoizes per folder
    the dotted prefix and whether its parts are identifiers (None: below a ``src`` root, unchecked)."""
    prefix = prefixes.get(folder)
    if prefix is None:
        prefix = prefixes[folder] = _prefix(folder, src, packages, has_init)
    dotted, valid = prefix
    stem = _stem(name)
    if stem == "__init__":
        return None if valid is False else dotted or None
    if valid is False or (valid and not stem.isidentifier()):
        return None
    return f"{dotted}.{stem}" if dotted else stem


def _prefix(
    folder: str, src: Sequence[str], packages: dict[str, tuple[str, ...]], has_init: dict[str, bool] | None
) -> tuple[str, bool | None]:
    for root in src:
        if folder == root:
            return "", None
        if folder.startswith(root.rstrip(os.sep) + os.sep):
            return ".".join(folder[len(root.rstrip(os.sep)) + 1 :].split(os.sep)), None
    parts = _package(folder, packages, has_init)
    return ".".join(parts), all(p.isidentifier() for p in parts)


class _Excluder:
    """Whether a name or relative path matches the exclude patterns, compiled once per run.

    Patterns without a slash match a name (memoized: a tree repeats a few names, such as
    ``__init__.py``, thousands of times); the others match the path relative to the
    folder walked."""

    def __init__(self, patterns: Sequence[str], soft: Sequence[str] = ()) -> None:
        # ``soft`` patterns (the default exclude list) do not prune a folder that is a
        # package (holds ``__init__.py``): ``server/features/build/`` is code, a top-level
        # ``build/`` output folder is not. ruff checks such a package too.
        self.soft = _Excluder(soft) if soft else None
        by_name, by_path = [], []
        for pattern in patterns:
            pattern = os.path.normcase(pattern.rstrip("/"))
            if "/" in pattern:
                by_path += [fnmatch.translate(pattern.lstrip("./")), fnmatch.translate("*/" + pattern.lstrip("./"))]
            else:
                by_name.append(fnmatch.translate(pattern))
        self._name = re.compile("|".join(by_name) or r"(?!)").match
        self._path = re.compile("|".join(by_path)).match if by_path else None
        self._names: dict[str, bool] = {}

    def __call__(self, name: str, rel: str) -> bool:
        hit = self._names.get(name)
        if hit is None:
            hit = self._names[name] = bool(self._name(os.path.normcase(name)))
        return hit or (self._path is not None and bool(self._path(os.path.normcase(rel))))

    def skips_file(self, name: str, rel: str) -> bool:
        return self(name, rel) or (self.soft is not None and self.soft(name, rel))

    def prunes(self, folder: str, name: str, rel: str) -> bool:
        """Whether the folder ``folder`` (named ``name``, ``rel`` below the walk's top) is left out."""
        if self(name, rel):
            return True
        if self.soft is None or not self.soft(name, rel):
            return False
        return not os.path.isfile(os.path.join(folder, "__init__.py"))


class _GitIgnore:
    """``.gitignore`` files from the repository root down, each applying to its own folder."""

    def __init__(self, start: Path, stamps: dict[str, Any] | None = None) -> None:
        self._specs: dict[Path, object | None] = {}
        self._stamps = stamps
        self.root = self._repo_root(start)
        self.root_str = str(self.root) if self.root is not None else None

    @staticmethod
    def _repo_root(start: Path) -> Path | None:
        for folder in (start, *start.parents):
            if (folder / ".git").exists():
                return folder
        return None

    def _spec(self, folder: Path) -> object | None:
        if folder not in self._specs:
            lines: list[str] = []
            for name in (".gitignore",) + ((".git/info/exclude",) if folder == self.root else ()):
                if self._stamps is not None:
                    self._stamps[str(folder / name)] = stamp(str(folder / name))
                # Regular files only: a FIFO named .gitignore would hang the walk.
                data = read_source(folder / name)
                if isinstance(data, bytes):
                    lines += data.decode("utf-8", errors="replace").splitlines()
            if lines:
                # Imported here: a tree outside a repository, or without ignore files, never
                # needs it (its import is a good part of what a run does before checking).
                import pathspec

                self._specs[folder] = pathspec.GitIgnoreSpec.from_lines(lines)
            else:
                self._specs[folder] = None
        return self._specs[folder]

    def ignored(self, path: str, is_dir: bool) -> bool:
        """Whether a resolved path (str) is ignored by the ``.gitignore`` files above it."""
        root = self.root_str
        if root is None or not path.startswith(root.rstrip(os.sep) + os.sep):
            return False
        folder = os.path.dirname(path)
        while True:
            spec = self._spec(Path(folder))
            if spec is not None:
                rel = path[len(folder.rstrip(os.sep)) + 1 :].replace(os.sep, "/") + ("/" if is_dir else "")
                if spec.match_file(rel):  # type: ignore[attr-defined]
                    return True
            parent = os.path.dirname(folder)
            if folder == root or parent == folder:
                return False
            folder = parent


def discover(
    paths: Sequence[Path],
    settings: Settings,
    cwd: Path | None = None,
    *,
    project: Path | None = None,
    walks: dict[str, Any] | None = None,
) -> Discovery:
    """The Python files under ``paths``, sorted, each once.

    With ``project`` (a folder), the files under it are found too, after those of
    ``paths`` and with the same exclusions; ``named`` then tells which files ``paths``
    named and ``context_errors`` holds what went wrong walking the rest.

    ``walks`` (kept between runs by the cache) remembers what walking a folder found and
    what that depended on (see :func:`stamp`): a walk whose folders and ignore files all
    look as they did is not done again. Entries are added or replaced in it.
    """
    cwd_path = (cwd or Path.cwd()).resolve()
    cwd_str = str(cwd_path)
    cwd_prefix = cwd_str.rstrip(os.sep) + os.sep
    found = Discovery()
    seen: set[str] = set()
    if tuple(settings.exclude) == DEFAULT_EXCLUDE:
        excluded = _Excluder(settings.extend_exclude, soft=DEFAULT_EXCLUDE)
    else:
        excluded = _Excluder((*settings.exclude, *settings.extend_exclude))
    src = [str((Path(s) if Path(s).is_absolute() else cwd_path / s).resolve()) for s in settings.src]
    packages: dict[str, tuple[str, ...]] = {}
    prefixes: dict[str, tuple[str, bool | None]] = {}
    has_init: dict[str, bool] = {}

    def display(absolute: str, path: str) -> str:
        """The path relative to the cwd (posix), else as given (``display_path``)."""
        if absolute.startswith(cwd_prefix):
            rel = absolute[len(cwd_prefix) :]
            return rel if os.sep == "/" else Path(rel).as_posix()
        return display_path(Path(path), cwd_path)

    def add(path: Path) -> None:
        """A file named explicitly."""
        # realpath, not Path.resolve(): on a symlink loop the latter raises (RuntimeError
        # before Python 3.13); the file is then reported unreadable, not the run lost.
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            folder, name = os.path.split(key)
            module = _module_in(folder, name, src, packages, prefixes)
            found.files.append(SourceFile(str(path), display_path(path, cwd_path), module))

    def walk(raw: Path, errors: list[str], left_out: list[str]) -> None:
        if walks is None:
            fresh(raw, errors, left_out, None)
            return
        key = repr((str(raw), os.getcwd(), cwd_str, src, tuple(settings.exclude), tuple(settings.extend_exclude), settings.respect_gitignore))
        kept = _kept_walk(walks.get(key))
        if kept is not None:
            files, excluded_here = kept
            for location, shown, module, real in files:
                if real not in seen:
                    seen.add(real)
                    found.files.append(SourceFile(location, shown, module))
            left_out.extend(excluded_here)
            return
        stamps: dict[str, Any] = {}
        start = time.time_ns()
        # Above the folder: the packages its module names climb into, the repository root.
        top = os.path.realpath(raw)
        for folder in (top, *map(str, Path(top).parents)):
            init = os.path.join(folder, "__init__.py")
            stamps[init] = stamp(init)
            if stamps[init] is None:
                break
        if settings.respect_gitignore:
            for folder in (top, *map(str, Path(top).parents)):
                git = os.path.join(folder, ".git")  # whether it is there ("?"): git changes the folder all the time
                stamps["?" + git] = os.path.exists(git)
                if stamps["?" + git]:
                    break
        errors_before, left_before = len(errors), len(left_out)
        record: list[tuple[str, str, str | None, str]] = []
        if not fresh(raw, errors, left_out, stamps, record) or len(errors) > errors_before:
            walks.pop(key, None)
            return
        # A folder changed within the last 2 s may change again within its timestamps'
        # granularity unnoticed: such a walk is not kept (as runner.contents does for files).
        horizon = start - 2_000_000_000
        if any(type(s) is tuple and max(s[0], s[1]) >= horizon for s in stamps.values()):
            walks.pop(key, None)
            return
        walks[key] = (record, left_out[left_before:], stamps)

    def fresh(
        raw: Path,
        errors: list[str],
        left_out: list[str],
        stamps: dict[str, Any] | None,
        record: list[tuple[str, str, str | None, str]] | None = None,
    ) -> bool:
        """Walk ``raw``; with ``stamps``, note what the walk depends on and every file
        found in ``record``; returns False if the walk may not be kept (a file link)."""
        keepable = True
        gitignore = _GitIgnore(raw.resolve(), stamps) if settings.respect_gitignore else None
        if gitignore is not None and gitignore.root is None:
            gitignore = None
        # A file link that leads out of the tree walked is not followed (as folder links
        # are not): a repository's link to ~/.ssh/x.py or /etc is not read, nor fixed.
        inside = _with_sep(os.path.realpath(raw))
        pruned: list[str] = []
        for here, here_abs, here_resolved, names in _walk(str(raw), excluded, gitignore, errors, has_init, pruned, stamps):
            # ``here`` holds no symlinked folder (they are not followed), so a file's real
            # path is its folder's plus its name unless the file itself is a link.
            here_sep, resolved_sep = _with_sep(here), _with_sep(here_resolved)
            shown = display(_with_sep(here_abs) + "x", here_sep + "x")[:-1]  # the folder's display prefix
            for name, is_link in names:
                path = here_sep + name
                if is_link:
                    keepable = False  # where it leads may change with no folder of the walk changing
                    key = os.path.realpath(path)
                    if key in seen or not key.startswith(inside):
                        continue
                    seen.add(key)
                    folder, real_name = os.path.split(key)
                    module = _module_in(folder, real_name, src, packages, prefixes, has_init)
                else:
                    key = resolved_sep + name
                    if record is not None:
                        module = _module_in(here_resolved, name, src, packages, prefixes, has_init)
                        record.append((path, shown + name, module, key))
                        if key in seen:
                            continue
                    elif key in seen:
                        continue
                    else:
                        module = _module_in(here_resolved, name, src, packages, prefixes, has_init)
                    seen.add(key)
                found.files.append(SourceFile(path, shown + name, module))
        for path in pruned:
            if not _never_code(os.path.basename(path)):
                if stamps is not None:
                    stamps[os.path.abspath(path)] = stamp(os.path.abspath(path))
                if _holds_python(path):
                    left_out.append(display(os.path.abspath(path), path))
        return keepable

    for raw in paths:
        if not raw.exists() and not raw.is_symlink():
            found.errors.append(f"{raw}: no such file or directory")
            continue
        if raw.is_file() or not raw.is_dir():
            if is_python_file(raw):
                add(raw)  # named explicitly: checked even when an exclude pattern matches it
            else:
                found.not_python.append(display_path(raw, cwd_path))
            continue
        walk(raw, found.errors, found.excluded)
    if project is not None:
        found.named = frozenset(f.display for f in found.files)
        walk(project, found.context_errors, [])
    found.files.sort(key=lambda f: f.display)
    _unshare_module_names(found.files)
    return found


def _unshare_module_names(files: list[SourceFile]) -> None:
    """Files that would share one module name (``examples/a/main.py`` and
    ``examples/b/main.py``, both top-level ``main``) are analysed as unrelated scripts:
    the project model keys functions by module, so a shared name merged the two and
    reported one file's findings at the other's path. A lone ``.py`` beside its ``.pyi``
    stubs keeps the name."""
    owners: dict[str, list[int]] = {}
    for index, file in enumerate(files):
        if file.module is not None:
            owners.setdefault(file.module, []).append(index)
    for indexes in owners.values():
        if len(indexes) < 2:
            continue
        sources = [i for i in indexes if not files[i].location.endswith(".pyi")]
        keep = sources[0] if len(sources) == 1 else None
        for i in indexes:
            if i != keep:
                files[i] = SourceFile(files[i].location, files[i].display, None)


# Folders that never hold a project's code: left out without a mention in the summary.
_NEVER_CODE = {".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".sightlint_cache", "node_modules"}


def _never_code(name: str) -> bool:
    return name in _NEVER_CODE or name.endswith(".egg-info")


def _holds_python(path: str) -> bool:
    """Whether a left-out entry is worth a mention: a Python file, or a folder with Python
    files at its top (an IDE's folder, a virtualenv or ``htmlcov/`` is not)."""
    if path.endswith(PYTHON_SUFFIXES):
        return True
    try:
        with os.scandir(path) as it:
            return any(entry.name.endswith(PYTHON_SUFFIXES) for entry in it)
    except OSError:
        return False


def is_python_file(path: Path) -> bool:
    """Whether a file named on the command line is checked: a ``.py``/``.pyi``/``.pyw``
    suffix or none (a script), as ruff decides; ``README.md`` is skipped with a note."""
    name = path.name.lstrip(".")
    return "." not in name or path.name.lower().endswith(NAMED_SUFFIXES)


def _with_sep(folder: str) -> str:
    return folder if folder.endswith(os.sep) else folder + os.sep


def _walk(
    top: str,
    excluded: _Excluder,
    gitignore: _GitIgnore | None,
    errors: list[str],
    has_init: dict[str, bool],
    pruned: list[str] | None = None,
    stamps: dict[str, Any] | None = None,
) -> Iterator[tuple[str, str, str, list[tuple[str, bool]]]]:
    """Folders top-down in sorted order (symlinked folders not followed), excluded ones pruned:
    (folder as joined from ``top``, its absolute path, its real path, [(Python file name, is a symlink)]).

    ``has_init`` learns, for each real folder listed, whether it holds an ``__init__.py``
    file (None when that is a symlink: the module namer checks the disk then)."""
    top_resolved = os.path.realpath(top)
    top_resolved_sep, top_abs_sep = _with_sep(top_resolved), _with_sep(os.path.abspath(top))
    stack = [(top, "")]
    while stack:
        here, rel_here = stack.pop()
        native_rel = rel_here.replace("/", os.sep)
        here_abs = top_abs_sep + native_rel if rel_here else top_abs_sep
        if stamps is not None:  # before the listing: a change while it is read shows next time
            stamps[here_abs] = stamp(here_abs)
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError as exc:
            errors.append(f"{exc.filename}: cannot read directory: {exc.strerror}")
            continue
        here_resolved = top_resolved_sep + native_rel if rel_here else top_resolved
        init: bool | None = False
        dirs: list[tuple[str, bool]] = []
        files: list[tuple[str, bool]] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                try:
                    dirs.append((entry.name, entry.is_symlink()))
                except OSError:
                    dirs.append((entry.name, True))
            elif entry.name.endswith(PYTHON_SUFFIXES):
                try:
                    is_link = entry.is_symlink()
                except OSError:
                    is_link = True
                files.append((entry.name, is_link))
                if entry.name == "__init__.py":
                    init = None if is_link else True
        if init is not None:
            has_init[here_resolved] = init
        keep: list[tuple[str, str]] = []
        for name, is_link in sorted(dirs):
            if is_link:
                continue  # os.walk lists it but never enters it (followlinks=False)
            rel = f"{rel_here}/{name}" if rel_here else name
            if excluded.prunes(_with_sep(here) + name, name, rel) or (
                gitignore and gitignore.ignored(_with_sep(here_resolved) + name, True)
            ):
                if pruned is not None:
                    pruned.append(_with_sep(here) + name)
                continue
            keep.append((_with_sep(here) + name, rel))
        names: list[tuple[str, bool]] = []
        for name, is_link in sorted(files):
            rel = f"{rel_here}/{name}" if rel_here else name
            if excluded.skips_file(name, rel) or (gitignore and gitignore.ignored(_with_sep(here_resolved) + name, False)):
                if pruned is not None:
                    pruned.append(_with_sep(here) + name)
                continue
            names.append((name, is_link))
        yield here, here_abs, here_resolved, names
        stack.extend(reversed(keep))


def stamp(path: str) -> tuple[int, int, int, int] | None:
    """What tells that a folder's entries or a file's content changed: (mtime, ctime, size,
    inode), or None if there is nothing at ``path``. Adding, removing or renaming an entry
    changes its folder's mtime and ctime, and ctime cannot be set back (``touch -d`` and
    archive tools set mtimes only)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _kept_walk(entry: Any) -> tuple[list[tuple[str, str, str | None, str]], list[str]] | None:
    """A walk kept in ``discover``'s ``walks`` if it has the shape it is written in and
    every folder and file it depended on is as it was; else None (walk again)."""
    if type(entry) is not tuple or len(entry) != 3:
        return None
    files, left_out, stamps = entry
    if type(files) is not list or type(left_out) is not list or type(stamps) is not dict:
        return None
    for path, seen in stamps.items():
        if type(path) is not str:
            return None
        if path.startswith("?"):
            if os.path.exists(path[1:]) is not seen:
                return None
        elif stamp(path) != seen:
            return None
    if not all(type(p) is str for p in left_out):
        return None
    for item in files:
        if not (
            type(item) is tuple
            and len(item) == 4
            and type(item[0]) is str
            and type(item[1]) is str
            and (item[2] is None or type(item[2]) is str)
            and type(item[3]) is str
        ):
            return None
    return files, left_out
