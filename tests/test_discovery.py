from __future__ import annotations

import subprocess
from pathlib import Path

from sightlint.files import discover, module_name
from sightlint.settings import Settings


def make(tmp_path: Path, *names: str) -> None:
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n", encoding="utf-8")


def shown(tmp_path: Path, settings: Settings | None = None, *paths: Path) -> list[str]:
    found = discover(list(paths) or [tmp_path], settings or Settings(), cwd=tmp_path)
    return [f.display for f in found.files]


def test_skips_virtualenvs_and_build_folders(tmp_path: Path) -> None:
    make(tmp_path, "app/a.py", ".venv/lib/x.py", "venv/y.py", "build/z.py", "node_modules/q.py", "app/b.pyi", "app/c.txt")
    assert shown(tmp_path) == ["app/a.py", "app/b.pyi"]


def test_extend_exclude_and_nested_patterns(tmp_path: Path) -> None:
    make(tmp_path, "app/a.py", "app/migrations/0001.py", "other/migrations/keep.py")
    settings = Settings(extend_exclude=("app/migrations",))
    assert shown(tmp_path, settings) == ["app/a.py", "other/migrations/keep.py"]


def test_gitignore_respected_including_nested(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    make(tmp_path, "app/a.py", "generated/g.py", "app/sub/skip_me.py", "app/sub/keep.py")
    (tmp_path / ".gitignore").write_text("generated/\n", encoding="utf-8")
    (tmp_path / "app" / "sub" / ".gitignore").write_text("skip_*.py\n", encoding="utf-8")
    assert shown(tmp_path) == ["app/a.py", "app/sub/keep.py"]
    assert len(shown(tmp_path, Settings(respect_gitignore=False))) == 4


def test_explicit_file_is_always_checked(tmp_path: Path) -> None:
    make(tmp_path, "build/z.py", "script")
    assert shown(tmp_path, None, tmp_path / "build" / "z.py", tmp_path / "script") == ["build/z.py", "script"]


def test_missing_path_is_an_error_not_a_crash(tmp_path: Path) -> None:
    make(tmp_path, "a.py")
    found = discover([tmp_path / "nope", tmp_path / "a.py"], Settings(), cwd=tmp_path)
    assert [f.display for f in found.files] == ["a.py"]
    assert found.errors and "no such file" in found.errors[0]


def test_module_names(tmp_path: Path) -> None:
    make(tmp_path, "proj/app/__init__.py", "proj/app/api/__init__.py", "proj/app/api/users.py", "proj/tool.py", "src/ns/mod.py")
    assert module_name(tmp_path / "proj/app/api/users.py") == "app.api.users"
    assert module_name(tmp_path / "proj/app/api/__init__.py") == "app.api"
    assert module_name(tmp_path / "proj/tool.py") == "tool"
    assert module_name(tmp_path / "src/ns/mod.py", [tmp_path / "src"]) == "ns.mod"


def test_files_that_would_share_a_module_name_are_analysed_apart(tmp_path: Path) -> None:
    """Two example scripts both named ``main`` (no packages around them) used to merge in
    the project model: the second one's findings came out twice, at the first one's path."""
    import json

    from click.testing import CliRunner

    from sightlint.cli import main

    (tmp_path / "examples" / "a").mkdir(parents=True)
    (tmp_path / "examples" / "b").mkdir(parents=True)
    (tmp_path / "examples" / "a" / "main.py").write_text("import time\n\n\nasync def h():\n    time.sleep(1)\n")
    (tmp_path / "examples" / "b" / "main.py").write_text(
        "import time\n\n\nasync def g():\n    helper()\n\n\ndef helper():\n    time.sleep(2)\n"
    )
    (tmp_path / "stubbed.py").write_text("def f():\n    return 1\n")
    (tmp_path / "stubbed.pyi").write_text("def f() -> int: ...\n")
    found = discover([tmp_path], Settings(), cwd=tmp_path)
    modules = {f.display: f.module for f in found.files}
    assert modules["examples/a/main.py"] is None and modules["examples/b/main.py"] is None
    assert modules["stubbed.py"] == "stubbed" and modules["stubbed.pyi"] is None
    for extra in (["--no-cache"], [], []):  # uncached, cold cache, warm cache
        with __import__("pytest").MonkeyPatch.context() as mp:
            mp.chdir(tmp_path)
            mp.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
            result = CliRunner().invoke(main, ["check", "--format", "json", "--select", "SL101", *extra, "."])
        places = sorted((f["path"], f["line"]) for f in json.loads(result.stdout)["findings"])
        assert places == [("examples/a/main.py", 5), ("examples/b/main.py", 9)], result.stdout
