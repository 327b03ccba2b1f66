"""Generate a synthetic project for the benchmark: the Sight replica cloned many times.

Each copy of the template package (``fixtures/sight_app/app`` by default) becomes its own
top-level package ``svc0001``, ``svc0002``, ... with its absolute imports renamed, so
module names are distinct and cross-module analysis sees many independent apps. Copies
are added until the project holds at least ``--lines`` lines (default 200,000).

    python bench/generate.py OUT_DIR [--lines 200000] [--template DIR]

Nothing is fetched; the output is deterministic for a given template.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO / "fixtures" / "sight_app" / "app"
DEFAULT_LINES = 200_000
_SKIP_DIRS = {"__pycache__", ".ruff_cache", ".mypy_cache", ".pytest_cache", ".sightlint_cache"}


@dataclass(frozen=True)
class Generated:
    root: Path
    files: int
    lines: int
    copies: int


def _template_files(template: Path) -> list[tuple[Path, str]]:
    files = []
    for path in sorted(template.rglob("*.py")):
        if _SKIP_DIRS.intersection(path.relative_to(template).parts):
            continue
        files.append((path.relative_to(template), path.read_text(encoding="utf-8")))
    if not files:
        raise SystemExit(f"generate: no Python files under {template}")
    return files


def _renamer(old: str, new: str) -> Callable[[str], str]:
    """Rewrite ``import old...`` / ``from old... import`` and module paths in strings (``"old.x"``).

    A bare ``old.attr`` in code is left alone: ``app`` is also the FastAPI object's name.
    """
    statement = re.compile(rf"^(\s*(?:from|import)\s+){re.escape(old)}(?=[\s.]|$)", re.MULTILINE)
    dotted = re.compile(rf"(?<=[\"']){re.escape(old)}\.(?=[A-Za-z_])")

    def rename(text: str) -> str:
        text = statement.sub(rf"\g<1>{new}", text)
        return dotted.sub(f"{new}.", text)

    return rename


def generate(out: Path, lines: int = DEFAULT_LINES, template: Path = DEFAULT_TEMPLATE) -> Generated:
    """Write the project into ``out`` (emptied first) and describe it."""
    files = _template_files(template)
    template_lines = sum(text.count("\n") for _, text in files)
    copies = max(1, -(-lines // max(1, template_lines)))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "pyproject.toml").write_text(
        '[project]\nname = "synthetic-sight"\nversion = "0"\n\n[tool.sightlint]\nselect = ["ALL"]\n',
        encoding="utf-8",
    )
    old = template.name
    for n in range(1, copies + 1):
        package = f"svc{n:04d}"
        rename = _renamer(old, package)
        for rel, text in files:
            target = out / package / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(rename(text), encoding="utf-8")
        if not (out / package / "__init__.py").exists():
            (out / package / "__init__.py").write_text("", encoding="utf-8")
    return Generated(out, len(files) * copies, template_lines * copies, copies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES, help="at least this many lines (default %(default)s)")
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="package folder to clone (default: the Sight replica)")
    args = parser.parse_args(argv)
    made = generate(args.out, args.lines, args.template)
    print(f"{made.root}: {made.copies} copies, {made.files} files, {made.lines} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
