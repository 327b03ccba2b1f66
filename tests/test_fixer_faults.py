"""``sightlint fix`` under faults: what fails costs that file, reported; the rest is fixed.

One file of a project each time: its fix raises, its fix writes code that does not
parse, the disk is full when it is written, it is read-only. That file keeps its bytes
and is named on stderr with the reason; the run exits 2; every other file is fixed.
(Kill safety, concurrent edits and links are the fix command's own tests.)
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path
from typing import Any

import libcst as cst
import pytest
from click.testing import CliRunner

from sightlint.cli import main
from sightlint.rules.base import Fix
from sightlint.rules.swallowed_exception import SwallowedException

FIXABLE = "async def {name}(t):\n    try:\n        return await g(t)\n    except Exception:\n        pass\n    return None\n"
NAMES = ["a", "b", "victim", "y", "z"]


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    for name in NAMES:
        (tmp_path / f"{name}.py").write_text(FIXABLE.format(name=name), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fix(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["fix", "--select", "SL201", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def assert_only_victim_untouched(project: Path) -> None:
    for name in NAMES:
        text = (project / f"{name}.py").read_text(encoding="utf-8")
        if name == "victim":
            assert text == FIXABLE.format(name=name)
        else:
            assert "logger.exception" in text, name
    leftovers = [p.name for p in project.iterdir() if p.name.startswith(".") and "tmp" in p.name]
    assert leftovers == [], "no temporary file is left behind"


_FILE: list[str] = []


def _current_file() -> str:
    return _FILE[-1] if _FILE else ""


@pytest.fixture()
def track(monkeypatch: pytest.MonkeyPatch) -> None:
    """Record which file the fixer is on, so a patched fix can misbehave for one file only."""
    from sightlint import fixer

    real = fixer.fix_source

    def tracking(data: bytes, path: str, *args: Any, **kwargs: Any) -> Any:
        _FILE.append(path)
        try:
            return real(data, path, *args, **kwargs)
        finally:
            _FILE.pop()

    monkeypatch.setattr(fixer, "fix_source", tracking)


def test_a_fix_that_raises_costs_its_file(project: Path, monkeypatch: pytest.MonkeyPatch, track: None) -> None:
    real = SwallowedException.fix

    def fragile(self: Any, node: Any, finding: Any) -> Fix | None:
        if _current_file() == "victim.py":
            raise RuntimeError("kaboom in the fix")
        return real(self, node, finding)

    monkeypatch.setattr(SwallowedException, "fix", fragile)
    code, output = fix(project, "--show-fixes")  # why a finding was not fixed: listed with --show-fixes
    assert "victim.py:4:5: SL201 not fixed: the fix crashed: RuntimeError: kaboom in the fix" in output
    assert "Fixed 4 finding(s) in 4 file(s)." in output
    assert code == 1  # the finding remains; nothing failed to be read or written
    assert_only_victim_untouched(project)


def test_a_fix_that_writes_invalid_code_costs_its_file(project: Path, monkeypatch: pytest.MonkeyPatch, track: None) -> None:
    real = SwallowedException.fix

    def broken(self: Any, node: Any, finding: Any) -> Fix | None:
        if _current_file() == "victim.py":
            name = cst.Name("x")
            object.__setattr__(name, "value", "x y")  # bypasses LibCST's validation: renders `x y`
            return Fix(replacement=name)
        return real(self, node, finding)

    monkeypatch.setattr(SwallowedException, "fix", broken)
    code, output = fix(project)
    assert "sightlint: victim.py: fix failed: a fix produced invalid code (syntax error: " in output
    assert code == 2
    assert_only_victim_untouched(project)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the temporary file's name in /proc")
def test_a_full_disk_costs_the_file_being_written(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sightlint import atomic

    real_fdopen = os.fdopen

    class Full:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> int:
            self.handle.write(data[: len(data) // 2])  # half of it made it to the disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = real_fdopen(fd, *args, **kwargs)
        if ".victim.py." in os.readlink(f"/proc/self/fd/{fd}"):
            return Full(handle)
        return handle

    monkeypatch.setattr(atomic.os, "fdopen", fdopen)
    code, output = fix(project)
    assert "sightlint: victim.py: fix failed: cannot write file: No space left on device" in output
    assert code == 2
    assert_only_victim_untouched(project)


def test_a_read_only_file_is_reported_not_replaced(project: Path) -> None:
    victim = project / "victim.py"
    os.chmod(victim, 0o444)
    code, output = fix(project)
    assert "sightlint: victim.py: fix failed: cannot write file: the file is read-only" in output
    assert code == 2
    assert stat.S_IMODE(victim.stat().st_mode) == 0o444
    assert_only_victim_untouched(project)
    # --diff only reads: the read-only file's change is shown.
    os.chmod(victim, 0o644)
    (project / "victim.py").write_text(FIXABLE.format(name="victim"), encoding="utf-8")
    os.chmod(victim, 0o444)
    result = CliRunner().invoke(main, ["fix", "--diff", "--select", "SL201"])
    assert "+++ b/victim.py" in result.output and result.exit_code == 1


def test_a_folder_that_refuses_new_files_costs_its_files(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The atomic writer cannot create its temporary file beside the victim (a folder
    without write permission; simulated, because permission bits do not stop root)."""
    import tempfile

    from sightlint import atomic

    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args: Any, **kwargs: Any) -> Any:
        if str(kwargs.get("prefix", "")).startswith(".victim.py."):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(kwargs.get("dir")))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    code, output = fix(project)
    assert "sightlint: victim.py: fix failed: cannot write file: Permission denied" in output, output
    assert code == 2
    assert_only_victim_untouched(project)
