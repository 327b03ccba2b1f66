"""The layers the folders show: a module imports only from its own layer or below.

Every import counts, wherever it is written: at the top, inside a function (lazy), or
under ``if TYPE_CHECKING:``. Outside the rules layer no module names a rule: only the
registry lists them, and everything else reaches them through it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sightlint"

# Bottom to top. A module's layer is the first entry whose prefix names it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("data and settings", ("sightlint", "sightlint.models", "sightlint.settings", "sightlint.source", "sightlint.nesting", "sightlint.atomic", "sightlint.seal", "sightlint.suppression")),
    ("semantics", ("sightlint.semantics",)),
    ("project model", ("sightlint.project",)),
    ("rules", ("sightlint.rules", "sightlint.registry")),
    ("engine, runner, cache", ("sightlint.engine", "sightlint.runner", "sightlint.cache", "sightlint.files", "sightlint.config", "sightlint.incremental")),
    ("api", ("sightlint.api",)),
    ("reporters, docs, fixer", ("sightlint.reporting", "sightlint.docs", "sightlint.fixer")),
    ("cli", ("sightlint.cli", "sightlint.__main__")),
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    best = (-1, -1)  # (length of the longest matching prefix, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            # The package itself is only its ``__init__``: every other module names its layer.
            below = prefix != "sightlint" and module.startswith(prefix + ".")
            if (module == prefix or below) and len(prefix) > best[0]:
                best = (len(prefix), index)
    if best[1] < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return best[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported sightlint module) of every import in the file, wherever it is."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "sightlint"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - (node.level - 1 if is_package else node.level)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "sightlint":
                continue
            # ``from sightlint import engine`` imports the module ``sightlint.engine``.
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.append((node.lineno, candidate if _is_module(candidate) else target))
    return found


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_go_down_the_layers(path: Path) -> None:
    module = _module_name(path)
    own = _layer(module)
    upward = [
        f"line {line}: {target} ({LAYERS[_layer(target)][0]})"
        for line, target in _imports(path)
        if _layer(target) > own
    ]
    assert not upward, f"{module} ({LAYERS[own][0]}) imports from a higher layer:\n" + "\n".join(upward)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_only_the_rules_layer_names_a_rule(path: Path) -> None:
    module = _module_name(path)
    if _layer(module) == _layer("sightlint.rules"):
        return
    named = [
        f"line {line}: {target}"
        for line, target in _imports(path)
        if target.startswith("sightlint.rules.") and target != "sightlint.rules.base"
    ]
    assert not named, f"{module} names a rule (go through sightlint.registry):\n" + "\n".join(named)


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The check itself: an import of the api from the project model is caught."""
    fake = PACKAGE / "project" / "_layer_probe.py"
    assert not fake.exists()
    try:
        fake.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sightlint.api import check_paths\n", encoding="utf-8")
        with pytest.raises(AssertionError, match="imports from a higher layer"):
            test_imports_go_down_the_layers(fake)
    finally:
        fake.unlink()


def test_importing_the_rule_base_imports_no_rule() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sightlint.rules.base\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('sightlint.'))\n"
        "print(' '.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "sightlint.rules.base" in out
    assert not [m for m in out if m.startswith(("sightlint.rules.", "sightlint.project", "sightlint.registry")) and m != "sightlint.rules.base"]
