"""What versions of a package a project allows, read from its own dependency files.

Never the environment sightlint runs in: the project's ``pyproject.toml`` (PEP 621
``dependencies`` and optional dependencies, Poetry's tables), ``requirements*.txt`` /
``*.in`` files and lock files (``poetry.lock``, ``uv.lock``, ``pdm.lock``,
``Pipfile.lock``, pinned ``requirements*.lock``). A lock file's exact version wins over a
range. The files are looked for in the folder of the code and each folder above it, up
to the project root.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from sightlint.settings import Settings

try:  # tomllib is 3.11+; sightlint depends on tomli before that
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]

Version = tuple[int, ...]
_MAX_BYTES = 2_000_000


class Pin(NamedTuple):
    """The versions a project allows: ``[low, high)`` bounds (None: open), exclusive low
    when ``low_open``; ``text`` as written and ``source`` the file it came from."""

    low: Version | None
    low_open: bool
    high: Version | None
    high_closed: bool
    text: str
    source: str

    def admits_below(self, version: Version) -> bool:
        """Whether some allowed version is older than ``version``."""
        if self.low is None:
            return True
        if self.low < version:
            return True
        return False


def parse_version(text: str) -> Version | None:
    parts = re.match(r"^\s*v?(\d+(?:\.\d+)*)", text)
    if parts is None:
        return None
    return tuple(int(p) for p in parts.group(1).split("."))


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_specifier(spec: str, source: str, text: str) -> Pin | None:
    """``>=2.0,<3`` (PEP 440), ``^2.1`` / ``~2.1`` (Poetry) or ``2.1.7`` as a :class:`Pin`."""
    low: Version | None = None
    low_open = False
    high: Version | None = None
    high_closed = False
    spec = spec.strip().strip('"').strip("'")
    if not spec or spec == "*":
        return Pin(None, False, None, False, text, source)
    for clause in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", spec):
        clause = clause.strip()
        match = re.match(r"^(===|==|>=|<=|~=|!=|>|<|\^|~)?\s*([0-9][0-9A-Za-z.*+!-]*)$", clause)
        if match is None:
            continue
        op, raw = match.group(1) or "==", match.group(2)
        version = parse_version(raw.replace("*", "0"))
        if version is None:
            continue
        if op in ("==", "===") and "*" not in raw:
            low, high, high_closed = version, version, True
        elif op == "==":  # ==2.1.* : the 2.1 series
            prefix = tuple(int(p) for p in raw.split(".") if p.isdigit())
            low, high = prefix, (*prefix[:-1], prefix[-1] + 1) if prefix else None
        elif op == ">=":
            low = version if low is None or version > low else low
        elif op == ">":
            low, low_open = version, True
        elif op in ("<", "<="):
            high, high_closed = version, op == "<="
        elif op in ("~=", "~", "^"):
            low = version
            if op == "^":
                first = next((i for i, p in enumerate(version) if p), len(version) - 1)
                head = version[: first + 1]
            elif op == "~=":
                head = version[:-1] if len(version) > 1 else version
            else:
                head = version[:2] if len(version) > 1 else version
            high = (*head[:-1], head[-1] + 1)
    return Pin(low, low_open, high, high_closed, text, source)


def _requirement(line: str, package: str) -> str | None:
    """The specifier of ``package`` in a requirements line, or None."""
    line = line.split("#", 1)[0].strip()
    match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$", line)
    if match is None or _normal(match.group(1)) != package:
        return None
    return match.group(3).split(";", 1)[0].strip()


def _from_pyproject(path: Path, package: str) -> Pin | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8", errors="replace")[:_MAX_BYTES])
    except (OSError, ValueError):
        return None
    project = data.get("project", {})
    lists: list[Iterable[object]] = [project.get("dependencies", []) or []]
    lists += [v for v in (project.get("optional-dependencies", {}) or {}).values() if isinstance(v, list)]
    lists += [v for v in (data.get("dependency-groups", {}) or {}).values() if isinstance(v, list)]
    for entries in lists:
        for entry in entries:
            if isinstance(entry, str):
                spec = _requirement(entry, package)
                if spec is not None:
                    return parse_specifier(spec, path.name, entry)
    poetry = data.get("tool", {}).get("poetry", {})
    tables = [poetry.get("dependencies", {})] + [g.get("dependencies", {}) for g in (poetry.get("group", {}) or {}).values() if isinstance(g, dict)]
    for table in tables:
        if not isinstance(table, dict):
            continue
        for name, value in table.items():
            if _normal(name) == package:
                spec = value.get("version", "*") if isinstance(value, dict) else str(value)
                return parse_specifier(spec, path.name, f"{name} = {spec!r}")
    return None


def _from_requirements(path: Path, package: str) -> Pin | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace")[:_MAX_BYTES].splitlines()
    except OSError:
        return None
    for line in lines:
        spec = _requirement(line, package)
        if spec is not None:
            return parse_specifier(spec.split("--hash", 1)[0].strip(" \\"), path.name, line.strip())
    return None


def _from_lock(path: Path, package: str) -> Pin | None:
    """The exact version a lock file resolved."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:_MAX_BYTES * 10]
    except OSError:
        return None
    if path.name == "Pipfile.lock":
        try:
            data = json.loads(text)
        except ValueError:
            return None
        for section in ("default", "develop"):
            for name, value in (data.get(section) or {}).items():
                if _normal(name) == package and isinstance(value, dict) and isinstance(value.get("version"), str):
                    return parse_specifier(value["version"], path.name, f"{name}{value['version']}")
        return None
    if path.suffix == ".lock" and path.name.startswith("requirements"):
        return _from_requirements(path, package)
    # poetry.lock / uv.lock / pdm.lock: [[package]] tables with name and version.
    for block in re.split(r"^\[\[package\]\]\s*$", text, flags=re.MULTILINE)[1:]:
        name = re.search(r'^name\s*=\s*"([^"]+)"', block, re.MULTILINE)
        version = re.search(r'^version\s*=\s*"([^"]+)"', block, re.MULTILINE)
        if name and version and _normal(name.group(1)) == package:
            return parse_specifier("==" + version.group(1), path.name, f"{name.group(1)} {version.group(1)}")
    return None


_LOCKS = ("poetry.lock", "uv.lock", "pdm.lock", "Pipfile.lock")


def find_pin(package: str, start: Path, root: Path | None, memo: dict[Any, Any] | None = None) -> Pin | None:
    """The project's pin of ``package``, looked for from folder ``start`` up to ``root``
    (inclusive; only ``start`` when ``root`` is not above it). ``memo`` (a dict kept for
    one run, such as ``Graph.cache``) keeps folder listings and answers, so the files of
    one folder tree do not list and read the same folders again."""
    package = _normal(package)
    if memo is None:
        memo = {}
    visited: list[tuple[Any, int]] = []  # (memo key, folders walked before it)
    folder = start
    found: Pin | None = None
    decided: int | None = None  # folders walked when the answer was known
    for step in range(30):
        key = ("pins: answer", package, folder, root)
        known = memo.get(key)
        if known is not None and known[1] <= 30 - step:  # reached within the steps left
            found, decided = known[0], step + known[1] - 1
            break
        visited.append((key, step))
        names = memo.get(("pins: files", folder))
        if names is None:
            try:
                names = sorted(p.name for p in folder.iterdir() if p.is_file())
            except OSError:
                names = []
            memo[("pins: files", folder)] = names
        for name in names:
            if name in _LOCKS or (name.startswith("requirements") and name.endswith(".lock")):
                found = _from_lock(folder / name, package)
                if found is not None:
                    break
        if found is None:
            for name in names:
                if name == "pyproject.toml":
                    found = _from_pyproject(folder / name, package)
                elif name.startswith("requirements") and name.endswith((".txt", ".in")):
                    found = _from_requirements(folder / name, package)
                if found is not None:
                    break
        if found is not None:
            decided = step
            break
        if root is None or folder == root or folder.parent == folder or root not in folder.parents:
            decided = step
            break
        folder = folder.parent
    if decided is not None:
        for key, step in visited:
            memo[key] = (found, decided - step + 1)  # the answer, and the folders it takes from here
    return found


def project_pin(package: str, path: str, settings: Settings, memo: dict[Any, Any] | None = None) -> Pin | None:
    """The requirement of ``package`` of the project holding the file at ``path`` (a
    display path, relative to the working folder): looked for from the file's folder up to
    the project root (else the configuration's folder, else the working folder). None for
    code that is not on disk (examples, stdin). ``memo``: see :func:`find_pin`."""
    file = Path(path)
    if not file.is_file():
        return None
    start = file.resolve().parent
    if memo is not None:
        # The project folder, resolved once per run (not once per file asked about).
        key = ("pins: project folder", settings.project_root, settings.config_path, os.getcwd())
        root: Path | None = memo.get(key)
        if root is None:
            root = memo[key] = project_folder(settings)
    else:
        root = project_folder(settings)
    if root != start and root not in start.parents:
        root = None
    return find_pin(package, start, root, memo)


def project_folder(settings: Settings) -> Path:
    """The project root of a run, else the configuration's folder, else the working folder."""
    if settings.project_root:
        return Path(settings.project_root).resolve()
    if settings.config_path:
        return Path(settings.config_path).resolve().parent
    return Path.cwd().resolve()


def dependency_files_state(folder: Path) -> list[tuple[str, int, int]]:
    """``(name, size, mtime_ns)`` of the dependency files in ``folder``: what a run's
    snapshot is keyed on besides the Python files, so editing a requirement at the project
    root is seen by the next warm run (deeper ones are read, but not keyed)."""
    state: list[tuple[str, int, int]] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return state
    for entry in entries:
        name = entry.name
        if name in _LOCKS or name == "pyproject.toml" or (name.startswith("requirements") and name.endswith((".txt", ".in", ".lock"))):
            try:
                info = entry.stat()
            except OSError:
                continue
            state.append((name, info.st_size, info.st_mtime_ns))
    return state
