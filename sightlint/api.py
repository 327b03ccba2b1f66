"""Check many files: the layer between the pure engine and the CLI.

``check_sources`` works on text held in memory (tests, editors); ``check_paths`` finds
and reads files. Both run the per-file rules through :func:`engine.check_source` and
then the cross-file phase on the project model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from sightlint import engine
from sightlint.files import SourceFile, discover
from sightlint.models import FileResult, RunResult
from sightlint.settings import Settings


def _read(file: SourceFile) -> bytes | str:
    """The file's bytes, or an error message (str) when it cannot be read."""
    try:
        return file.path.read_bytes()
    except IsADirectoryError:
        return "is a directory"
    except OSError as exc:
        return exc.strerror or str(exc)


def check_sources(
    sources: Mapping[str, str | bytes],
    settings: Settings,
    *,
    modules: Mapping[str, str | None] | None = None,
) -> RunResult:
    """Check in-memory files keyed by display path; ``modules`` gives their module names."""
    run = RunResult()
    for path, source in sources.items():
        module = (modules or {}).get(path) or _guess_module(path)
        run.files.append(engine.check_source(source, path, settings, module=module))
    return run


def _guess_module(path: str) -> str | None:
    parts = path.replace("\\", "/").removesuffix(".py").removesuffix(".pyi").split("/")
    if parts and parts[-1] == "__init__":
        parts.pop()
    parts = [p for p in parts if p not in ("", ".")]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def check_files(files: Sequence[SourceFile], settings: Settings) -> list[FileResult]:
    results = []
    for file in files:
        data = _read(file)
        if isinstance(data, str):
            results.append(
                FileResult(file.display, findings=[engine.parse_error(file.display, f"cannot read file: {data}")])
            )
            continue
        results.append(engine.check_source(data, file.display, settings, module=file.module))
    return results


def check_paths(paths: Sequence[Path], settings: Settings, *, cwd: Path | None = None) -> RunResult:
    """Discover and check the Python files under ``paths``."""
    found = discover(paths, settings, cwd)
    run = RunResult(errors=list(found.errors))
    run.files = check_files(found.files, settings)
    return run
