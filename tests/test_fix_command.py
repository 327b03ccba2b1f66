"""`sightlint fix` as a command: exit codes, --diff as a patch, --check, what it reports,
and write integrity (atomic, never outside the project, never over a newer edit, kill-safe)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint import fixer
from sightlint.cli import main

SWALLOW = "def load(path):\n    try:\n        return open(path).read()\n    except Exception:\n        pass\n"
UTCNOW = "from datetime import datetime\n\nstamp = datetime.utcnow()\n"


def unfixable(root: Path) -> None:
    """A cross-file SL101 finding (a blocking helper reached from async code): no fix for it today."""
    (root / "app" / "__init__.py").write_text("", encoding="utf-8")
    (root / "app" / "low.py").write_text("import time\n\n\ndef nap():\n    time.sleep(1)\n", encoding="utf-8")
    (root / "app" / "api.py").write_text("from app.low import nap\n\n\nasync def handler():\n    nap()\n", encoding="utf-8")


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.setenv("SIGHTLINT_NO_CACHE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    return root


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.py"))}


# -- exit codes ----------------------------------------------------------------------------


def test_diff_and_check_exit_0_when_only_unfixable_findings_remain(project: Path) -> None:
    unfixable(project)
    assert run("check")[0] == 1
    for flag in ("--diff", "--check"):
        code, out, err = run("fix", flag)
        assert code == 0, err
        assert out == "" and "Would fix 0 finding(s) in 0 file(s)." in err


def test_diff_and_check_exit_1_when_something_would_change_and_write_nothing(project: Path) -> None:
    (project / "app" / "a.py").write_text(SWALLOW, encoding="utf-8")
    before = tree(project)
    code, out, err = run("fix", "--diff")
    assert code == 1 and out.startswith("--- a/app/a.py\n+++ b/app/a.py\n"), (out, err)
    code, out, err = run("fix", "--check")
    assert code == 1 and out == "" and "Would fix 1 finding(s) in app/a.py" in err
    assert tree(project) == before


def test_diff_and_check_exit_like_check_on_a_file_that_does_not_parse(project: Path) -> None:
    # The issue: "the same exit codes as `check` for files it cannot parse".
    (project / "app" / "broken.py").write_text("def f(:\n    pass\n", encoding="utf-8")
    assert run("check")[0] == 1
    for flag in ("--diff", "--check"):
        code, out, err = run("fix", flag)
        assert code == 1 and out == "", err
        assert "app/broken.py: not fixed:" in err
        assert run("fix", flag, "--exit-zero")[0] == 0


def test_fix_exits_like_check_after_fixing(project: Path) -> None:
    (project / "app" / "a.py").write_text(SWALLOW, encoding="utf-8")
    code, out, _ = run("fix")
    assert code == 0 and "logger.exception" in (project / "app" / "a.py").read_text(encoding="utf-8")
    unfixable(project)
    code, out, _ = run("fix")
    check_code, check_out, _ = run("check")
    assert code == check_code == 1 and out == check_out
    assert run("fix", "--exit-zero")[0] == 0
    assert run("fix", "--fail-on", "critical")[0] == 0
    assert run("fix", "--select", "NOPE")[0] == 2  # usage/config errors: 2


def test_remaining_findings_are_reported_as_check_reports_them_despite_an_unparsable_file(project: Path) -> None:
    """One file that does not parse must not drop the cross-file findings."""
    unfixable(project)
    (project / "app" / "broken.py").write_text("def f(:\n    pass\n", encoding="utf-8")
    (project / "app" / "a.py").write_text(SWALLOW, encoding="utf-8")
    code, out, _ = run("fix")
    check_code, check_out, _ = run("check")
    assert code == check_code == 1
    assert out == check_out
    assert "app/low.py:5:5: SL101" in out and "app/broken.py:1:7: SL000" in out
    code, out, _ = run("fix", "--format", "json")
    assert code == 1 and '"SL101"' in out


def test_show_fixes_lists_each_fix_per_file_and_rule(project: Path) -> None:
    (project / "app" / "a.py").write_text(SWALLOW, encoding="utf-8")
    (project / "app" / "b.py").write_text(UTCNOW, encoding="utf-8")
    code, _, err = run("fix", "--check", "--show-fixes")
    assert code == 1
    assert "app/a.py: 1 × SL201\n  4:5: SL201 Log the error with its traceback" in err
    assert "app/b.py: 1 × SL301\n  3:9: SL301 Keep the value naive" in err


def test_jobs_and_no_cache_are_accepted_and_agree(project: Path) -> None:
    for i in range(6):
        (project / "app" / f"m{i}.py").write_text(SWALLOW, encoding="utf-8")
    serial = run("fix", "--diff", "--jobs", "1")
    parallel = run("fix", "--diff", "--jobs", "2", "--no-cache")
    assert serial[0] == parallel[0] == 1 and serial[1] == parallel[1]


# -- --diff is a patch ------------------------------------------------------------------------------

CASES = {
    "no_newline.py": SWALLOW.rstrip("\n").encode(),
    "crlf.py": SWALLOW.replace("\n", "\r\n").encode(),
    "cr_only.py": SWALLOW.replace("\n", "\r").encode(),
    "latin1.py": ("# -*- coding: latin-1 -*-\n# café\n" + SWALLOW).encode("latin-1"),
    "bom.py": b"\xef\xbb\xbf" + SWALLOW.encode(),
    "with space.py": SWALLOW.encode(),
    "tabs.py": SWALLOW.replace("    ", "\t").encode(),
}


def test_diff_output_applies_with_patch_p1(project: Path) -> None:
    for name, data in CASES.items():
        (project / "app" / name).write_bytes(data)
    code, _, err = run("fix", "--diff")
    assert code == 1, err
    # The patch as bytes (CliRunner decodes stdout): run the CLI in a process.
    env = {**os.environ, "SIGHTLINT_NO_CACHE": "1"}
    diff = subprocess.run([sys.executable, "-m", "sightlint", "fix", "--diff"], cwd=project, capture_output=True, env=env).stdout
    assert "\ufffd".encode() not in diff and b"caf\xe9" in diff  # latin-1 kept as it is
    copy = project.parent / "copy"
    shutil.copytree(project, copy)
    done = subprocess.run(["patch", "-p1", "--batch", "--no-backup-if-mismatch"], cwd=copy, input=diff, capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
    code, _, err = run("fix")
    assert code == 0, err
    for name in CASES:
        assert (copy / "app" / name).read_bytes() == (project / "app" / name).read_bytes(), name
    # What fix wrote keeps each file's newlines, encoding and BOM.
    assert (project / "app" / "crlf.py").read_bytes().count(b"\n") == (project / "app" / "crlf.py").read_bytes().count(b"\r\n")
    assert b"\n" not in (project / "app" / "cr_only.py").read_bytes()
    assert (project / "app" / "bom.py").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"caf\xe9" in (project / "app" / "latin1.py").read_bytes()
    assert b"\n\t\tlogger.exception" in (project / "app" / "tabs.py").read_bytes()


def test_patch_quotes_names_a_terminal_or_patch_would_misread() -> None:
    patch = fixer.unified_patch("app/a\nb\x1b[31m.py", b"x = 1\n", b"x = 2\n")
    header = patch.split(b"@@")[0]
    assert header == b'--- "a/app/a\\nb\\033[31m.py"\n+++ "b/app/a\\nb\\033[31m.py"\n'
    assert fixer.unified_patch("app/a.py", b"x = 1", b"x = 2").endswith(b"+x = 2\n\\ No newline at end of file\n")


# -- where and when it writes ------------------------------------------------------------------------


def test_a_symlink_named_on_the_command_line_to_a_file_outside_the_project_is_not_written(project: Path) -> None:
    outside = project.parent / "outside.py"
    outside.write_text(SWALLOW, encoding="utf-8")
    (project / "app" / "link.py").symlink_to(outside)
    code, _, err = run("fix", "app/link.py")
    assert f"app/link.py: resolves to {outside.resolve()}, outside the project root" in err and ": not written" in err
    assert outside.read_text(encoding="utf-8") == SWALLOW
    assert code == 1  # the finding remains


def test_a_file_edited_while_fix_runs_is_not_overwritten(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = project / "app" / "a.py"
    target.write_text(SWALLOW, encoding="utf-8")
    (project / "app" / "b.py").write_text(SWALLOW, encoding="utf-8")
    original = fixer._fix_files

    def edit_meanwhile(*args: object, **kwargs: object) -> list[fixer.FixOutcome]:
        outcomes = original(*args, **kwargs)  # type: ignore[arg-type]
        target.write_text(SWALLOW + "\n# saved by the user\n", encoding="utf-8")
        return outcomes

    monkeypatch.setattr(fixer, "_fix_files", edit_meanwhile)
    code, _, err = run("fix")
    assert "app/a.py: changed on disk since it was read: not overwritten" in err
    assert target.read_text(encoding="utf-8").endswith("# saved by the user\n")
    assert "logger.exception" in (project / "app" / "b.py").read_text(encoding="utf-8")


def test_write_if_unchanged_keeps_the_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_bytes(b"old\n")
    path.chmod(0o751)
    assert fixer.write_if_unchanged(path, b"old\n", b"new\n") is None
    assert path.read_bytes() == b"new\n" and stat.S_IMODE(path.stat().st_mode) == 0o751
    assert fixer.write_if_unchanged(path, b"old\n", b"newer\n") is not None
    assert path.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.py"]


def test_second_fix_changes_no_byte(project: Path) -> None:
    for name, data in CASES.items():
        (project / "app" / name).write_bytes(data)
    (project / "app" / "b.py").write_text(UTCNOW, encoding="utf-8")
    run("fix", "--unsafe-fixes")
    first = tree(project)
    code, _, _ = run("fix", "--unsafe-fixes")
    assert code == 0 and tree(project) == first
    assert run("fix", "--diff", "--unsafe-fixes")[0] == 0


def test_sigkill_at_any_moment_leaves_each_file_old_or_new(tmp_path: Path) -> None:
    """A fix killed with SIGKILL at random moments: every file is byte-identical to its old or its new content."""
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    body = SWALLOW + "".join(f"\n\ndef f{i}(x):\n    return x + {i}\n" for i in range(300))
    for i in range(40):
        (root / "app" / f"m{i}.py").write_text(body.replace("def load", f"def load{i}"), encoding="utf-8")
    old = tree(root)
    reference = tmp_path / "reference"
    shutil.copytree(root, reference)
    env = {**os.environ, "SIGHTLINT_NO_CACHE": "1"}
    subprocess.run([sys.executable, "-m", "sightlint", "fix", "-q", "-j", "1"], cwd=reference, env=env, capture_output=True, check=False)
    new = tree(reference)
    assert new != old
    rng = random.Random(13)
    for delay in sorted(rng.uniform(0.3, 4.0) for _ in range(5)):
        shutil.rmtree(root)
        shutil.copytree(tmp_path / "reference", root)
        for name, data in old.items():
            (root / name).write_bytes(data)
        proc = subprocess.Popen([sys.executable, "-m", "sightlint", "fix", "-q", "-j", "1"], cwd=root, env=env)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = tree(root)
        assert set(now) == set(old)
        for name, data in now.items():
            assert data in (old[name], new[name]), name
        leftovers = [p.name for p in (root / "app").iterdir() if not p.name.endswith(".py")]
        assert all(n.endswith(".sightlint-tmp") for n in leftovers)  # at most a stray temp file, never a half-written .py
