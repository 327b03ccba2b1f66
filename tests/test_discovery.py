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


# -- walks kept between runs (files.discover's ``walks``, stored by the cache) ------------

import os  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any, Callable  # noqa: E402

import pytest  # noqa: E402

from sightlint import files  # noqa: E402


def _listing(found: Any) -> tuple[Any, ...]:
    return ([(f.location, f.display, f.module) for f in found.files], found.excluded, found.errors, found.named)


class Walks:
    """``discover`` with a ``walks`` memo, under a clock 10 s ahead (so that folders made
    by the test count as old enough to keep), counting the folders really listed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.memo: dict[str, Any] = {}
        self.listed = 0
        monkeypatch.setattr(files, "time", SimpleNamespace(time_ns=lambda: time.time_ns() + 10_000_000_000))
        real = files.os.scandir

        def counting(path: Any) -> Any:
            self.listed += 1
            return real(path)

        monkeypatch.setattr(files.os, "scandir", counting)

    def run(self, paths: list[Path], cwd: Path, settings: Settings | None = None) -> tuple[Any, ...]:
        return _listing(discover(paths, settings or Settings(), cwd=cwd, walks=self.memo))


def _tree(root: Path) -> None:
    make(root, "app/__init__.py", "app/a.py", "app/sub/__init__.py", "app/sub/b.py", "tools/t.py", "build/out.py", "dist/notes.txt")


CHANGES: list[tuple[str, Callable[[Path], None]]] = [
    ("file-added", lambda r: make(r, "app/sub/c.py")),
    ("file-removed", lambda r: (r / "app/a.py").unlink()),
    ("file-renamed", lambda r: (r / "app/a.py").rename(r / "app/z.py")),
    ("folder-added", lambda r: make(r, "app/new/d.py")),
    ("init-removed", lambda r: (r / "app/sub/__init__.py").unlink()),
    ("package-above", lambda r: make(r, "__init__.py")),
    ("gitignore-added", lambda r: (r / "app/.gitignore").write_text("a.py\n")),
    ("gitignore-edited", lambda r: (r / ".gitignore").write_text("tools/\nsub/\n")),
    ("repository-gone", lambda r: (r / ".git").rename(r / ".git-gone")),
    ("excluded-folder-gets-code", lambda r: make(r, "dist/more.py")),
    ("file-link", lambda r: (r / "app/link.py").symlink_to(r / "tools/t.py")),
]


@pytest.mark.parametrize("change", [c for _, c in CHANGES], ids=[n for n, _ in CHANGES])
def test_a_kept_walk_is_walked_again_after_a_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Any) -> None:
    root = tmp_path / "p"
    _tree(root)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("tools/\n")
    walks = Walks(monkeypatch)
    first = walks.run([root], root)
    assert first == _listing(discover([root], Settings(), cwd=root))
    listed = walks.listed
    assert walks.run([root], root) == first and walks.listed == listed  # kept: nothing listed again
    change(root)
    again = walks.run([root], root)
    assert again == _listing(discover([root], Settings(), cwd=root))
    assert again != first or change is CHANGES[-1][1]  # the link adds a file already found under its real name
    assert walks.run([root], root) == again  # and from what that walk kept (or from walking again)


def test_a_kept_walk_serves_a_check_of_some_files_and_other_settings_walk_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "p"
    _tree(root)
    (root / "app" / "a.py").write_text("y = 2\n")  # a content edit leaves the folder as it is
    walks = Walks(monkeypatch)
    whole = walks.run([root], root)
    listed = walks.listed
    named = walks.run([root / "app" / "a.py"], root)  # a file alone: nothing to walk
    assert named[0] == [(str(root / "app" / "a.py"), "app/a.py", "app.a")] and walks.listed == listed
    other = Settings(extend_exclude=("tools",))
    assert walks.run([root], root, other) == _listing(discover([root], other, cwd=root))
    assert walks.listed > listed
    assert walks.run([root], root) == whole


def test_a_walk_is_not_kept_while_its_folders_are_new(tmp_path: Path) -> None:
    """A folder changed within the last 2 s may change again unnoticed (timestamp granularity)."""
    root = tmp_path / "p"
    _tree(root)
    memo: dict[str, Any] = {}
    discover([root], Settings(), cwd=root, walks=memo)
    assert memo == {}


@pytest.mark.parametrize(
    "entry",
    [None, 7, ([], [], {}, 1), ([("a",)], [], {}), ([], [3], {}), ([], [], {5: None}), ([("a", "b", 3, "d")], [], {})],
)
def test_a_kept_walk_of_another_shape_is_walked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: Any) -> None:
    """Behind the cache's seal only a bug of ours can write one; still no crash, no wrong files."""
    root = tmp_path / "p"
    _tree(root)
    walks = Walks(monkeypatch)
    found = walks.run([root], root)
    assert len(walks.memo) == 1
    walks.memo = {key: entry for key in walks.memo}
    listed = walks.listed
    assert walks.run([root], root) == found
    assert walks.listed > listed
