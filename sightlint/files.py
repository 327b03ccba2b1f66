"""Find the Python files a run checks, and name their modules.

Directories are walked with excluded folders pruned (the usual virtualenv and build
folders by default) and, unless turned off, ``.gitignore`` rules applied, nested ones
included. Files named explicitly on the command line are always checked.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sightlint.settings import Settings

PYTHON_SUFFIXES = (".py", ".pyi")


@dataclass(frozen=True)
class SourceFile:
    path: Path  # as found on disk
    display: str  # posix path shown to users (relative to the cwd when below it)
    module: str | None


@dataclass
class Discovery:
    files: list[SourceFile] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


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
    return _module_name(path.resolve(), src, None)


def _module_name(resolved: Path, src: Sequence[Path], _packages: dict[Path, tuple[str, ...]] | None) -> str | None:
    """:func:`module_name` of a resolved path; ``_packages`` memoizes the climb per folder
    during one discovery (thousands of files share a few hundred folders)."""
    parts = [resolved.stem] if resolved.stem != "__init__" else []
    for root in src:
        try:
            rel = resolved.parent.relative_to(root.resolve())
        except ValueError:
            continue
        return ".".join([*rel.parts, *parts]) or None
    package = _packages.get(resolved.parent) if _packages is not None else None
    if package is None:
        package_parts: list[str] = []
        folder = resolved.parent
        while (folder / "__init__.py").is_file() and folder.parent != folder:
            package_parts.insert(0, folder.name)
            folder = folder.parent
        package = tuple(package_parts)
        if _packages is not None:
            _packages[resolved.parent] = package
    parts = [*package, *parts]
    if not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts) or None


_EXCLUDE_MATCHERS: dict[tuple[str, ...], tuple[Callable[[str], object], Callable[[str], object]]] = {}


def _excluded(name: str, rel: str, patterns: Sequence[str]) -> bool:
    """True if a pattern matches the name (no slash in it) or the relative path; compiled once."""
    key = tuple(patterns)
    matchers = _EXCLUDE_MATCHERS.get(key)
    if matchers is None:
        by_name, by_path = [], []
        for pattern in key:
            pattern = os.path.normcase(pattern.rstrip("/"))
            if "/" in pattern:
                by_path += [fnmatch.translate(pattern.lstrip("./")), fnmatch.translate("*/" + pattern.lstrip("./"))]
            else:
                by_name.append(fnmatch.translate(pattern))
        never = r"(?!)"
        matchers = _EXCLUDE_MATCHERS[key] = (
            re.compile("|".join(by_name) or never).match,
            re.compile("|".join(by_path) or never).match,
        )
    return bool(matchers[0](os.path.normcase(name)) or matchers[1](os.path.normcase(rel)))


class _GitIgnore:
    """``.gitignore`` files from the repository root down, each applying to its own folder."""

    def __init__(self, start: Path) -> None:
        import pathspec

        self._pathspec = pathspec
        self._specs: dict[Path, object | None] = {}
        self.root = self._repo_root(start)

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
                try:
                    lines += (folder / name).read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    pass
            self._specs[folder] = (
                self._pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
            )
        return self._specs[folder]

    def ignored(self, path: Path, is_dir: bool) -> bool:
        if self.root is None:
            return False
        try:
            path.relative_to(self.root)
        except ValueError:
            return False
        folder = path.parent
        while True:
            spec = self._spec(folder)
            if spec is not None:
                rel = path.relative_to(folder).as_posix() + ("/" if is_dir else "")
                if spec.match_file(rel):  # type: ignore[attr-defined]
                    return True
            if folder == self.root or folder.parent == folder:
                return False
            folder = folder.parent


def discover(paths: Sequence[Path], settings: Settings, cwd: Path | None = None) -> Discovery:
    """The Python files under ``paths``, sorted, each once."""
    cwd = (cwd or Path.cwd()).resolve()
    found = Discovery()
    seen: set[Path] = set()
    patterns = (*settings.exclude, *settings.extend_exclude)
    src = [Path(s) if Path(s).is_absolute() else cwd / s for s in settings.src]
    packages: dict[Path, tuple[str, ...]] = {}
    real_folders: dict[Path, Path] = {}

    def resolve(path: Path) -> Path:
        """``path.resolve()``, resolving each folder once rather than once per file."""
        if path.is_symlink():
            return path.resolve()
        folder = real_folders.get(path.parent)
        if folder is None:
            folder = real_folders[path.parent] = path.parent.resolve()
        return folder / path.name

    def add(path: Path) -> None:
        key = resolve(path)
        if key not in seen:
            seen.add(key)
            found.files.append(SourceFile(path, display_path(path, cwd), _module_name(key, src, packages)))

    for raw in paths:
        if not raw.exists() and not raw.is_symlink():
            found.errors.append(f"{raw}: no such file or directory")
            continue
        if raw.is_file() or not raw.is_dir():
            add(raw)  # named explicitly: always checked, whatever its suffix
            continue
        gitignore = _GitIgnore(raw.resolve()) if settings.respect_gitignore else None
        for file in _walk(raw, patterns, gitignore, found.errors):
            add(file)
    found.files.sort(key=lambda f: f.display)
    return found


def _walk(top: Path, patterns: Sequence[str], gitignore: _GitIgnore | None, errors: list[str]) -> Iterator[Path]:
    top_resolved = top.resolve()

    def on_error(exc: OSError) -> None:
        errors.append(f"{exc.filename}: cannot read directory: {exc.strerror}")

    for folder, dirs, files in os.walk(top, onerror=on_error):
        here = Path(folder)
        here_resolved = here.resolve()  # once per folder: resolving is a syscall per component
        rel_here = here_resolved.relative_to(top_resolved) if here != top else Path()
        keep = []
        for name in sorted(dirs):
            rel = (rel_here / name).as_posix()
            if _excluded(name, rel, patterns):
                continue
            if gitignore and gitignore.ignored(here_resolved / name, True):
                continue
            keep.append(name)
        dirs[:] = keep
        for name in sorted(files):
            if not name.endswith(PYTHON_SUFFIXES):
                continue
            rel = (rel_here / name).as_posix()
            if _excluded(name, rel, patterns):
                continue
            if gitignore and gitignore.ignored(here_resolved / name, False):
                continue
            yield here / name
