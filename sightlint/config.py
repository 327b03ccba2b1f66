"""Read ``[tool.sightlint]`` from the nearest ``pyproject.toml`` into a frozen :class:`Settings`.

Every key is validated: unknown keys and bad values raise :class:`ConfigError` naming the
key and, where one is close, the valid spelling.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sightlint.models import Severity
from sightlint.settings import TARGET_VERSIONS, Settings
from sightlint.source import read_source

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class ConfigError(Exception):
    """A configuration problem the user must fix (exit code 2)."""


KEYS = (
    "select",
    "extend-select",
    "ignore",
    "exclude",
    "extend-exclude",
    "per-file-ignores",
    "severity",
    "fail-on",
    "respect-gitignore",
    "report-unused-suppressions",
    "cache-dir",
    "baseline",
    "max-file-size",
    "src",
    "project-root",
    "target-version",
    "rules",
)


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _pyprojects_above(start: Path) -> Iterator[Path]:
    """Every ``pyproject.toml`` file in ``start`` (a file's folder) and the folders above, nearest first."""
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            yield candidate


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.sightlint]`` table, walking up from ``start``."""
    for candidate in _pyprojects_above(start):
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            # A broken pyproject that does not mention us is not our business; one that
            # does is reported when loaded.
            if "[tool.sightlint" in candidate.read_text(encoding="utf-8", errors="replace"):
                return candidate
            continue
        if "sightlint" in data.get("tool", {}):
            return candidate
    return None


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
    return tuple(value)


def _selectors(key: str, value: Any) -> tuple[str, ...]:
    from sightlint.registry import selectors

    items = _strings(key, value)
    codes, names = selectors()  # without importing the rules
    for item in items:
        sel = item.strip()
        if sel.upper() == "ALL":
            continue
        if sel[:2].upper() == "SL":
            if not any(code.startswith(sel.upper()) for code in codes):
                raise ConfigError(f"{key}: unknown rule selector {item!r}{_suggest(sel.upper(), codes)}")
        elif sel.lower() not in names:
            raise ConfigError(f"{key}: unknown rule selector {item!r}{_suggest(sel.lower(), names)}")
    return items


def _severity(key: str, value: Any) -> Severity:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a severity name, got {value!r}")
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


_UNITS = {"": 1, "b": 1, "kb": 1024, "k": 1024, "mb": 1024**2, "m": 1024**2, "gb": 1024**3, "g": 1024**3}


def _file_size(key: str, value: Any) -> int:
    """A size in bytes: an integer, or a string such as ``"10 MB"`` or ``"512KB"`` (powers of 1024)."""
    size: float | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        number = value.strip().lower().rstrip("bgkm ")
        unit = value.strip().lower()[len(number) :].strip()
        try:
            size = float(number) * _UNITS[unit] if unit in _UNITS else None
        except ValueError:
            size = None
    if size is None or not 1 <= size < 2**63:  # also NaN and infinity
        raise ConfigError(f"{key}: expected a positive size in bytes or a string such as \"10 MB\", got {value!r}")
    return int(size)


def rule_options(name: str, table: Any) -> Any:
    """Validate ``[tool.sightlint.rules.<name>]`` against the rule's ``Options`` dataclass."""
    from sightlint.registry import CATALOG, lookup

    entry = lookup(name)
    if entry is None or entry.meta.name != name.lower():
        raise ConfigError(f"rules.{name}: unknown rule name{_suggest(name, [e.meta.name for e in CATALOG])}")
    if entry.rule is None:
        raise ConfigError(f"rules.{name}: rule {entry.meta.code} is not available yet and has no options")
    if not isinstance(table, dict):
        raise ConfigError(f"rules.{name}: expected a table of options, got {table!r}")
    fields = {f.name.replace("_", "-"): f for f in dataclasses.fields(entry.rule.Options)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            valid = sorted(fields)
            hint = _suggest(key, valid) or (f" (valid keys: {', '.join(valid)})" if valid else " (it has no options)")
            raise ConfigError(f"rules.{name}.{key}: unknown option{hint}")
        field = fields[key]
        default = field.default if field.default is not dataclasses.MISSING else None
        if field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        values[field.name] = _coerce(f"rules.{name}.{key}", value, default)
        choices = field.metadata.get("choices")
        if choices is not None:
            _check_choices(f"rules.{name}.{key}", values[field.name], choices)
    try:
        return entry.rule.Options(**values)
    except ValueError as exc:  # an option's own check (``__post_init__``)
        raise ConfigError(f"rules.{name}: {exc}") from None


def _check_choices(key: str, value: Any, choices: Iterable[str]) -> None:
    """Every value of an option whose field lists its ``choices`` (in its metadata) is one of them."""
    valid = list(choices)
    for item in value if isinstance(value, (tuple, list, frozenset)) else (value,):
        if item not in valid:
            hint = _suggest(str(item), valid)
            raise ConfigError(f"{key}: unknown value {item!r}{hint} (valid values: {', '.join(valid)})")


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check ``value`` against the type of the option's default."""
    if isinstance(default, bool):
        return _bool(key, value)
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return type(default)(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if isinstance(default, (tuple, list, frozenset)):
        return tuple(_strings(key, value))
    return value


def settings_from_table(
    table: Mapping[str, Any], source: str, base: Settings | None = None
) -> Settings:
    """Build settings from a ``[tool.sightlint]`` table; ``source`` names it in messages."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [tool.sightlint] must be a table")
    settings = base or Settings()
    changes: dict[str, Any] = {}
    origins = dict(settings.origins)
    for key, value in table.items():
        if key not in KEYS:
            raise ConfigError(f"{source}: unknown key {key!r} in [tool.sightlint]{_suggest(key, KEYS)}")
        origins[key] = source
        if key in ("select", "extend-select", "ignore"):
            changes[key.replace("-", "_")] = _selectors(key, value)
        elif key in ("exclude", "extend-exclude", "src"):
            changes[key.replace("-", "_")] = _strings(key, value)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"per-file-ignores: expected a table of glob = [codes], got {value!r}")
            changes["per_file_ignores"] = tuple(
                (glob, _selectors(f"per-file-ignores.{glob!r}", codes)) for glob, codes in value.items()
            )
        elif key == "severity":
            if not isinstance(value, dict):
                raise ConfigError(f"severity: expected a table of CODE = level, got {value!r}")
            levels = {}
            for code, level in value.items():
                _selectors(f"severity.{code}", [code])
                levels[code.upper()] = _severity(f"severity.{code}", level)
            changes["severity"] = MappingProxyType(levels)
        elif key == "fail-on":
            changes["fail_on"] = _severity(key, value)
        elif key in ("respect-gitignore", "report-unused-suppressions"):
            changes[key.replace("-", "_")] = _bool(key, value)
        elif key in ("cache-dir", "project-root", "baseline"):
            if not isinstance(value, str):
                raise ConfigError(f"{key}: expected a path string, got {value!r}")
            changes[key.replace("-", "_")] = value
        elif key == "target-version":
            if not isinstance(value, str) or value.strip().lower() not in TARGET_VERSIONS:
                raise ConfigError(
                    f"target-version: unknown version {value!r} (expected one of: {', '.join(TARGET_VERSIONS)})"
                )
            changes["target_version"] = value.strip().lower()
        elif key == "max-file-size":
            changes["max_file_size"] = _file_size(key, value)
        elif key == "rules":
            if not isinstance(value, dict):
                raise ConfigError(f"rules: expected a table of [tool.sightlint.rules.<rule-name>], got {value!r}")
            changes["rule_options"] = MappingProxyType(
                {name.lower(): rule_options(name, options) for name, options in value.items()}
            )
    changes["origins"] = MappingProxyType(origins)
    return dataclasses.replace(settings, **changes)


def lowest_python(requires: str) -> tuple[int, int] | None:
    """The lowest ``3.x`` a ``requires-python`` specifier admits (``">=3.11,<4"`` -> (3, 11));
    None without a lower bound or when it is not understood. Minor versions only, which is
    all ``target-version`` needs (so ``>3.10`` admits 3.10.1 and gives (3, 10))."""
    import re

    lowest: tuple[int, int] | None = None
    for clause in requires.split(","):
        match = re.fullmatch(r"\s*(>=|>|~=|===|==|\^)\s*(\d+)(?:\.(\d+))?[\w.*+!-]*\s*", clause)
        if match is None:
            if re.fullmatch(r"\s*(<=|<|!=)\s*[\w.*+!-]+\s*", clause):
                continue  # an upper bound or an exclusion: no lower bound
            return None
        bound = (int(match[2]), int(match[3] or 0))
        lowest = bound if lowest is None else max(lowest, bound)
    return lowest


def _default_target(pyproject: Path | None) -> tuple[str, str] | None:
    """``(target-version, origin)`` from the ``requires-python`` of ``pyproject``, if any.

    Versions below the oldest known one give the oldest (fixes write the same code for
    them), versions above the newest give the newest."""
    if pyproject is None:
        return None
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    project = data.get("project")
    requires = project.get("requires-python") if isinstance(project, dict) else None
    if not isinstance(requires, str):
        return None
    lowest = lowest_python(requires)
    if lowest is None or lowest[0] != 3:
        return None
    versions = {(3, int(v[3:])): v for v in TARGET_VERSIONS}
    minor = min(max(lowest[1], min(versions)[1]), max(versions)[1])
    return versions[(3, minor)], f"{pyproject} requires-python = {requires!r}"


def _nearest_pyproject(start: Path) -> Path | None:
    return next(_pyprojects_above(start), None)


def _with_default_target(settings: Settings, pyproject: Path | None) -> Settings:
    if "target-version" in settings.origins:
        return settings
    found = _default_target(pyproject)
    if found is None:
        return settings
    version, origin = found
    origins = MappingProxyType({**settings.origins, "target-version": origin})
    return dataclasses.replace(settings, target_version=version, origins=origins)


def load(config: Path | None, paths: Sequence[Path]) -> Settings:
    """Settings from ``--config`` or the nearest pyproject above the first path (else defaults).

    ``target-version``, when not set, comes from ``[project] requires-python`` of the
    config file (a ``pyproject.toml``), else of the nearest ``pyproject.toml``."""
    start = paths[0] if paths else Path.cwd()
    start = start if start.exists() else Path.cwd()
    if config is None:
        config = find_pyproject(start)
        if config is None:
            return _with_default_target(Settings(), _nearest_pyproject(start))
    content = read_source(config)  # a FIFO or a device named by --config must not hang the run
    if isinstance(content, str):
        raise ConfigError(f"cannot read config file {config}: {content}")
    try:
        raw = content.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text() read it
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config file {config}: not UTF-8 text") from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config}: invalid TOML: {exc}") from None
    if config.name == "pyproject.toml" or "tool" in data:
        table = data.get("tool", {}).get("sightlint", {})
    else:  # a dedicated sightlint.toml holds the table at top level
        table = data
    settings = settings_from_table(table, str(config))
    if settings.project_root is not None:
        folder = config.resolve().parent
        if not (folder / Path(settings.project_root).expanduser()).is_dir():
            raise ConfigError(f"{config}: project-root: {settings.project_root!r} is not a folder (relative to {folder})")
    settings = dataclasses.replace(settings, config_path=str(config))
    return _with_default_target(settings, config if config.name == "pyproject.toml" else _nearest_pyproject(config))


def effective(settings: Settings) -> list[tuple[str, str, str]]:
    """``(key, value, origin)`` rows for ``sightlint config``."""

    def show(value: Any) -> str:
        if isinstance(value, Severity):
            return value.label
        if isinstance(value, tuple):
            return "[" + ", ".join(show(v) for v in value) + "]"
        if isinstance(value, Mapping):
            return "{" + ", ".join(f"{k} = {show(v)}" for k, v in value.items()) + "}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return show(dataclasses.asdict(value))
        return "(not set)" if value is None else str(value)

    rows = []
    for key in KEYS:
        attr = {"rules": "rule_options"}.get(key, key.replace("-", "_"))
        value = getattr(settings, attr, None)
        if key == "select" and value is None:
            shown = "(every default-enabled rule)"
        elif key == "max-file-size":
            shown = f"{settings.max_file_size} bytes ({settings.max_file_size / 1024**2:g} MB)"
        else:
            shown = show(value)
        rows.append((key, shown, settings.origins.get(key, "default")))
    return rows
