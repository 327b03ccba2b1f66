"""The frozen settings every part of a run reads; loading them lives in ``config.py``."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sightlint.models import Severity
from sightlint.source import DEFAULT_MAX_FILE_SIZE

DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    "env",
    ".env",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".sightlint_cache",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "*.egg-info",
)

# The Python versions a fix may write code for (`target-version`), oldest first.
TARGET_VERSIONS: tuple[str, ...] = ("py310", "py311", "py312", "py313", "py314")


def _matches(code: str, name: str, selector: str) -> bool:
    """True if a selector (``ALL``, a code prefix like ``SL2``, or a rule name) covers a rule."""
    sel = selector.strip()
    if sel.upper() == "ALL":
        return True
    return code.startswith(sel.upper()) if sel[:2].upper() == "SL" else sel.lower() == name


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] | None = None  # None: every default-enabled rule
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=lambda: MappingProxyType({}))
    rule_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    fail_on: Severity = Severity.MEDIUM
    respect_gitignore: bool = True
    report_unused_suppressions: bool = False
    cache_dir: str | None = None
    # The baseline file (relative to the configuration file's folder): findings listed in
    # it are not reported (``sightlint baseline`` writes it).
    baseline: str | None = None
    # Larger files are not read: an SL000 finding says so and the rest are checked.
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    # Extra folders that hold top-level packages (like ruff's `src`), for module names.
    src: tuple[str, ...] = ()
    # The folder a run analyses around the paths it is given (cross-file rules see the whole
    # project), relative to the config file; None: the config file's folder, else found by
    # its markers (``files.project_root``).
    project_root: str | None = None
    # The oldest Python the project runs on (`target-version`, one of TARGET_VERSIONS): what
    # a fix may use (``datetime.UTC`` from 3.11). Default: from ``requires-python``.
    target_version: str = TARGET_VERSIONS[0]
    # Where the config came from (a pyproject path), for messages and `sightlint config`.
    config_path: str | None = None
    # key -> origin ("default", "pyproject.toml", "command line") for `sightlint config`.
    origins: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def target_python(self) -> tuple[int, int]:
        """``target_version`` as ``(3, minor)``."""
        return (int(self.target_version[2]), int(self.target_version[3:]))

    def is_enabled(self, code: str, name: str, default_enabled: bool = True) -> bool:
        if self.select is None:
            on = default_enabled
        else:
            on = any(_matches(code, name, s) for s in self.select)
        if any(_matches(code, name, s) for s in self.extend_select):
            on = True
        if any(_matches(code, name, s) for s in self.ignore):
            on = False
        return on

    def ignored_for_path(self, path: str, code: str, name: str) -> bool:
        """True if ``per-file-ignores`` switches the rule off for ``path``."""
        posix = path.replace("\\", "/")
        for pattern, selectors in self.per_file_ignores:
            if _path_matches(posix, pattern) and any(_matches(code, name, s) for s in selectors):
                return True
        return False


def _path_matches(posix_path: str, pattern: str) -> bool:
    pattern = pattern.replace("\\", "/")
    if fnmatch.fnmatch(posix_path, pattern):
        return True
    # A pattern without a slash matches the file name anywhere, as in ruff and .gitignore;
    # a relative pattern matches a path suffix.
    if "/" not in pattern.rstrip("/"):
        return fnmatch.fnmatch(posix_path.rsplit("/", 1)[-1], pattern)
    return fnmatch.fnmatch(posix_path, "*/" + pattern.lstrip("./"))
