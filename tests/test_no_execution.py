"""sightlint reads the code it analyses; it never imports or runs any of it.

A project where every file Python or a tool might run on its own (``sitecustomize.py``,
``usercustomize.py``, ``conftest.py``, a package ``__init__`` with side effects, a
``.pth`` file, ``setup.py``, modules named like sightlint's dependencies) writes a
*canary* file if it runs, and an installed package whose ``__init__`` writes one too is
subclassed by the project's code. ``check`` and ``fix`` (through ``python -m sightlint``
and the console script, from the project's root) leave no canary. The control tests run
the same files on purpose and see their canaries, so the tests can fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CANARY = """\
import pathlib
pathlib.Path({folder!r}, {name!r}).write_text("ran")
"""

APP = """\
import asyncio
import time

import canarypkg


class Client(canarypkg.BaseClient):
    def fetch(self):
        time.sleep(1)


async def handler():
    try:
        Client().fetch()
    except Exception:
        pass
    await asyncio.sleep(0)


async def download(url):
    return canarypkg.CanaryClient().get(url)
"""

SCRIPT = shutil.which("sightlint", path=str(Path(sys.executable).parent))


def canary(folder: Path, name: str) -> str:
    return CANARY.format(folder=str(folder), name=name)


@pytest.fixture()
def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(project, installed packages folder, canary folder)."""
    project, site, canaries = tmp_path / "project", tmp_path / "site", tmp_path / "canaries"
    for folder in (project, site, canaries):
        folder.mkdir()
    installed = {
        # An installed client deriving from a catalogued blocking one (a stand-in for
        # requests, with canaries of its own): knowing that takes reading both.
        "canarypkg/__init__.py": canary(canaries, "installed-package")
        + "\nimport requests\n\n\nclass CanaryClient(requests.Session):\n    pass\n\n\nclass BaseClient:\n    pass\n",
        "requests/__init__.py": canary(canaries, "requests") + "\nfrom requests.sessions import Session\n",
        "requests/sessions.py": canary(canaries, "requests.sessions")
        + "\n\nclass Session:\n    def get(self, url):\n        pass\n",
    }
    for name, text in installed.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    files = {
        "sitecustomize.py": canary(canaries, "sitecustomize"),
        "usercustomize.py": canary(canaries, "usercustomize"),
        "conftest.py": canary(canaries, "conftest"),
        "setup.py": canary(canaries, "setup.py"),
        "app/__init__.py": canary(canaries, "package-init"),
        "app/service.py": APP,
        # Named like what sightlint imports: a working folder first on sys.path would load them.
        "click.py": canary(canaries, "click"),
        "tomllib.py": canary(canaries, "tomllib"),
        "libcst/__init__.py": canary(canaries, "libcst"),
        "rich/__init__.py": canary(canaries, "rich"),
        "multiprocessing.py": canary(canaries, "multiprocessing"),
    }
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    (project / "evil.pth").write_text(f"import pathlib; pathlib.Path({str(canaries)!r}, 'pth').write_text('ran')\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "canary"\nversion = "1"\n\n'
        '[project.entry-points."sightlint.plugins"]\nevil = "click:main"\n\n'
        '[project.entry-points."sightlint.rules"]\nevil = "tomllib:load"\n\n'
        "[tool.sightlint]\n"
    )
    return project, site, canaries


def run(argv: list[str], cwd: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "SIGHTLINT_NO_CACHE": "1", "NO_COLOR": "1"}
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_the_canaries_are_live(layout: tuple[Path, Path, Path]) -> None:
    """Control: importing the files does write the canaries."""
    project, site, canaries = layout
    modules = "import sitecustomize, usercustomize, conftest, app, click, tomllib, libcst, rich, canarypkg, multiprocessing"
    done = subprocess.run([sys.executable, "-c", modules], cwd=project, env={**os.environ, "PYTHONPATH": f"{project}:{site}"})
    assert done.returncode == 0
    run([sys.executable, "setup.py"], project, site)
    expected = {"sitecustomize", "usercustomize", "conftest", "package-init", "click", "tomllib", "libcst", "rich",
                "installed-package", "requests", "requests.sessions", "setup.py", "multiprocessing"}  # fmt: skip
    assert {p.name for p in canaries.iterdir()} == expected


@pytest.mark.parametrize("how", ["python -m", "console script"])
def test_check_and_fix_run_nothing_they_read(layout: tuple[Path, Path, Path], how: str) -> None:
    project, site, canaries = layout
    if how == "console script" and SCRIPT is None:
        pytest.skip("no sightlint console script next to this interpreter")
    prefix = [sys.executable, "-m", "sightlint"] if how == "python -m" else [str(SCRIPT)]
    done = run([*prefix, "check", "--format", "json", "--select", "ALL"], project, site)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    found = {(f["path"], f["code"]) for f in report["findings"]}
    # The project's code was read and understood: the swallowed third-party exception
    # (its class read from the installed package's source, not imported) and the blocking call.
    lines = {f["line"] for f in report["findings"] if f["code"] == "SL101"}
    assert ("app/service.py", "SL201") in found and lines == {9, 21}, report["findings"]
    done = run([*prefix, "fix", "--unsafe-fixes", "--select", "ALL"], project, site)
    assert done.returncode in (0, 1), done.stderr
    assert "logger.exception" in (project / "app" / "service.py").read_text()  # fix did its job
    run([*prefix, "check", "--jobs", "2", "--select", "ALL"], project, site)  # through the process pool too
    assert list(canaries.iterdir()) == []


def test_installed_classes_are_parsed_not_imported(layout: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from sightlint.project import thirdparty

    project, site, canaries = layout
    monkeypatch.syspath_prepend(str(site))
    # Another test of the suite may have imported `requests` itself (the catalogue test
    # resolves its entries in the installed libraries): only a new import counts here.
    had_requests = "requests" in sys.modules
    classes = thirdparty.ThirdPartyClasses()
    assert classes.ancestors("canarypkg.CanaryClient") == ("canarypkg.CanaryClient", "requests.sessions.Session")
    assert "canarypkg" not in sys.modules and (had_requests or "requests" not in sys.modules)
    assert list(canaries.iterdir()) == []


def test_python_dash_m_ignores_the_working_folder(tmp_path: Path) -> None:
    """Without the guard in ``sightlint/__main__.py``, ``python -m sightlint`` imports this
    ``click.py`` (the working folder is first on ``sys.path``) and the run dies."""
    (tmp_path / "click.py").write_text(canary(tmp_path, "ran") + "raise SystemExit('the project click.py was imported')\n")
    (tmp_path / "tomllib.py").write_text(canary(tmp_path, "ran"))
    (tmp_path / "ok.py").write_text("x = 1\n")
    for prefix in ([sys.executable, "-m", "sightlint"], [sys.executable, "-P", "-m", "sightlint"]):
        if "-P" in prefix and sys.version_info < (3, 11):
            continue
        done = subprocess.run([*prefix, "check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": os.pathsep})  # an empty entry: the working folder too
        assert done.returncode == 0, done.stdout + done.stderr
        assert "All checks passed" in done.stdout
    assert not (tmp_path / "ran").exists()
    # Control: the same folder first on the path does load it.
    done = subprocess.run([sys.executable, "-c", "import click"], cwd=tmp_path, capture_output=True, text=True)
    assert "the project click.py was imported" in done.stderr


def test_the_guard_keeps_other_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib

    import sightlint.cli  # noqa: F401  (what the module imports after its guard)

    monkeypatch.setattr(sys, "path", list(sys.path))  # importing it runs the guard: restored after
    main_module = importlib.import_module("sightlint.__main__")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", f"/pp{os.pathsep}")
    monkeypatch.setattr(sys, "path", [str(tmp_path), "/pp", str(tmp_path), "/usr/lib/python", "/site", str(tmp_path)])
    main_module._drop_working_folder()
    # The first entry is the one ``-m`` added, the next ones PYTHONPATH's (its empty entry
    # is the working folder); a later one (an editable install of a project that is the
    # working folder) stays.
    assert sys.path == ["/pp", "/usr/lib/python", "/site", str(tmp_path)]
    monkeypatch.delenv("PYTHONPATH")
    monkeypatch.setattr(sys, "path", ["", "/usr/lib/python", str(tmp_path)])
    main_module._drop_working_folder()
    assert sys.path == ["/usr/lib/python", str(tmp_path)]
    monkeypatch.setattr(sys, "path", ["/usr/lib/python311.zip", "/usr/lib/python"])  # `-P`: nothing added
    main_module._drop_working_folder()
    assert sys.path == ["/usr/lib/python311.zip", "/usr/lib/python"]


@pytest.mark.parametrize(
    "setting",
    [
        'load-plugins = ["canarymod"]',  # pylint's way to load code from a config
        'init-hook = "import canarymod"',
        'plugins = ["canarymod"]',
        'rules = ["canarymod:Rule"]',
        '[tool.sightlint.per-file-ignores]\n"canarymod.py" = ["canarymod:run"]',
    ],
)
def test_the_projects_config_is_data_only(tmp_path: Path, setting: str) -> None:
    """Keys other tools use to load code are refused by name (exit 2), never acted on;
    and the project's module that such a key names is not imported."""
    (tmp_path / "canarymod.py").write_text(canary(tmp_path, "ran"))
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / "pyproject.toml").write_text(f"[tool.sightlint]\n{setting}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "SIGHTLINT_NO_CACHE": "1"}
    for command in (["check"], ["fix"], ["config"]):
        done = subprocess.run([sys.executable, "-m", "sightlint", *command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert "Traceback" not in done.stderr, done.stderr
        key = setting.split(" =")[0].split("]")[0].strip("[").split(".")[-1]
        assert done.returncode == 2 and key in done.stderr, done.stderr  # refused, naming the key
    assert not (tmp_path / "ran").exists()


def test_sightlint_has_no_way_to_load_code() -> None:
    """No dynamic import, exec, eval, entry-point loading or runpy anywhere in the package:
    the only code it runs is its own (the registry names every rule statically). The one
    ``pickle`` is the cache's module summaries, which come only from files sealed with the
    user's key or from sightlint's own worker processes (tests/test_cache_security.py)."""
    import ast

    import sightlint

    package = Path(sightlint.__file__).parent
    banned_calls = {"exec", "eval", "__import__", "import_module", "run_module", "run_path", "entry_points", "load_module",
                    "exec_module", "spec_from_file_location"}  # fmt: skip
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name in banned_calls:
                    found.append(f"{path.relative_to(package)}:{node.lineno}: {name}()")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                allowed = {"pickle"} if path.name == "cache.py" else set()
                if any(n in ("runpy", "importlib.metadata", "pkg_resources", "pickle") and n not in allowed for n in names):
                    found.append(f"{path.relative_to(package)}:{node.lineno}: import {', '.join(names)}")
    assert found == []
