"""Where the project around a run's paths is (``files.project_root``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint.cli import main
from sightlint.config import ConfigError, load
from sightlint.files import PROJECT_MARKERS, discover, project_root
from sightlint.settings import Settings

HELPER = "import time\n\n\ndef wait_for_db() -> None:\n    time.sleep(1)\n"
CALLER = "from pkg.slow import wait_for_db\n\n\nasync def probe() -> None:\n    wait_for_db()\n"


def make(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout


@pytest.fixture()
def bare(tmp_path: Path) -> Path:
    """``tmp_path``, known to have no project marker above it (else "no root" cannot be tested)."""
    for folder in tmp_path.parents:
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            pytest.skip(f"{folder} holds a project marker")
    return tmp_path


# -- where the project is ------------------------------------------------------------


def test_root_is_the_config_files_folder_even_below_a_nearer_marker(bare: Path) -> None:
    make(bare, {"proj/pyproject.toml": "[tool.sightlint]\n", "proj/sub/setup.cfg": "", "proj/sub/inner/a.py": ""})
    target = bare / "proj" / "sub" / "inner" / "a.py"
    settings = load(None, [target])
    assert settings.config_path is not None
    assert project_root([target], settings) == (bare / "proj").resolve()


@pytest.mark.parametrize("marker", PROJECT_MARKERS)
def test_root_is_the_nearest_folder_with_a_marker(bare: Path, marker: str) -> None:
    make(bare, {"proj/pkg/sub/x.py": "", "proj/pkg/mod.py": ""})
    if marker == ".git":
        (bare / "proj" / ".git").mkdir()
    else:
        (bare / "proj" / marker).write_text("", encoding="utf-8")
    proj = (bare / "proj").resolve()
    assert project_root([bare / "proj" / "pkg" / "sub" / "x.py"], Settings()) == proj
    assert project_root([bare / "proj" / "pkg"], Settings()) == proj
    assert project_root([], Settings(), cwd=bare / "proj" / "pkg" / "sub") == proj
    assert project_root([bare / "proj" / "pkg" / "nope.py"], Settings(), cwd=bare) is None  # only paths that exist count


def test_root_holds_every_path(bare: Path) -> None:
    make(bare, {"mono/setup.cfg": "", "mono/a/pyproject.toml": "", "mono/b/pyproject.toml": "", "mono/a/x.py": "", "mono/b/y.py": ""})
    mono = bare / "mono"
    assert project_root([mono / "a" / "x.py"], Settings()) == (mono / "a").resolve()
    assert project_root([mono / "a" / "x.py", mono / "b" / "y.py"], Settings()) == mono.resolve()


def test_no_marker_means_no_project(bare: Path) -> None:
    make(bare, {"slow.py": HELPER.replace("pkg.", ""), "caller.py": CALLER.replace("pkg.slow", "slow")})
    assert project_root([bare / "caller.py"], Settings()) is None


def test_discovery_adds_the_project_after_the_paths(tmp_path: Path) -> None:
    make(tmp_path, {"pkg/__init__.py": "", "pkg/slow.py": HELPER, "pkg/api.py": CALLER, "build/gen.py": "", "lib/x.py": ""})
    found = discover([tmp_path / "build" / "gen.py", tmp_path / "pkg"], Settings(), cwd=tmp_path, project=tmp_path)
    assert [f.display for f in found.files] == ["build/gen.py", "lib/x.py", "pkg/__init__.py", "pkg/api.py", "pkg/slow.py"]
    assert found.named == {"build/gen.py", "pkg/__init__.py", "pkg/api.py", "pkg/slow.py"}
    assert discover([tmp_path / "pkg"], Settings(), cwd=tmp_path).named is None


def test_project_root_setting_is_relative_to_the_config_file(bare: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(bare, {"proj/tools/sightlint.toml": 'project-root = ".."\n', "proj/app/a.py": "", "elsewhere/b.py": ""})
    monkeypatch.chdir(bare / "elsewhere")  # not relative to the cwd
    config = bare / "proj" / "tools" / "sightlint.toml"
    settings = load(config, [bare / "proj" / "app" / "a.py"])
    assert project_root([bare / "proj" / "app" / "a.py"], settings) == (bare / "proj").resolve()
    assert project_root([], settings) == (bare / "proj").resolve()
    config.write_text(f"project-root = {json.dumps(str(bare / 'proj' / 'app'))}\n", encoding="utf-8")
    assert project_root([], load(config, [])) == (bare / "proj" / "app").resolve()
    # Without the setting, the config file's own folder.
    config.write_text("", encoding="utf-8")
    assert project_root([], load(config, [])) == (bare / "proj" / "tools").resolve()


@pytest.mark.parametrize(
    ("value", "message"),
    [('"nope"', "project-root: 'nope' is not a folder"), ("1", "project-root: expected a path string"), ('"a.py"', "is not a folder")],
)
def test_project_root_setting_is_validated(bare: Path, value: str, message: str) -> None:
    make(bare, {"pyproject.toml": f"[tool.sightlint]\nproject-root = {value}\n", "a.py": ""})
    with pytest.raises(ConfigError, match=message):
        load(bare / "pyproject.toml", [])


def test_config_command_shows_the_root_and_the_setting(bare: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(bare, {"proj/pyproject.toml": '[tool.sightlint]\nproject-root = ".."\n'})
    monkeypatch.chdir(bare / "proj")
    code, out = cli("config")
    assert code == 0
    assert f"project root: {bare.resolve()}" in out.splitlines()
    row = next(line for line in out.splitlines() if line.startswith("project-root "))
    assert row.split()[1:] == ["..", str((bare / "proj" / "pyproject.toml").resolve())]
