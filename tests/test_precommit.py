"""The pre-commit hooks work end to end: pre-commit installs sightlint from this repository.

A temporary project points its ``.pre-commit-config.yaml`` at this checkout, as a user's
project points at the published repository. pre-commit clones the committed HEAD (so
uncommitted changes are not seen) and pip-installs it into its own virtualenv, which needs
git, pre-commit and access to the package index for the dependencies. All runs share one
``PRE_COMMIT_HOME``, so the environment is built once (``pre-commit try-repo`` would build
it again for every run, in a temporary store of its own).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(shutil.which("pre-commit") is None, reason="pre-commit is not installed"),
]


@dataclass(frozen=True)
class HookRun:
    work: Path
    env: dict[str, str]

    def __call__(self, hook: str, *files: str) -> subprocess.CompletedProcess[str]:
        subprocess.run(["git", "add", "--", *files], cwd=self.work, env=self.env, check=True)
        return subprocess.run(
            ["pre-commit", "run", hook, "--files", *files],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )


def _git(*args: str, cwd: Path, env: dict[str, str]) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def run_hook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookRun]:
    # A surrounding git hook may export GIT_DIR/GIT_INDEX_FILE; they must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PRE_COMMIT_HOME"] = str(tmp_path_factory.mktemp("pre-commit-home"))
    if subprocess.run(["git", "rev-parse", "--git-dir"], cwd=ROOT, env=env, capture_output=True).returncode:
        pytest.skip("the sightlint checkout is not a git repository")
    ref = _git("rev-parse", "HEAD", cwd=ROOT, env=env)
    tracked = subprocess.run(["git", "cat-file", "-e", f"{ref}:.pre-commit-hooks.yaml"], cwd=ROOT, env=env)
    assert tracked.returncode == 0, ".pre-commit-hooks.yaml must be committed for pre-commit to find the hooks"
    work = tmp_path_factory.mktemp("project")
    _git("init", "-q", cwd=work, env=env)
    (work / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"-   repo: {ROOT.as_posix()}\n"
        f"    rev: {ref}\n"
        "    hooks:\n"
        "    -   id: sightlint\n"
        "    -   id: sightlint-fix\n",
        encoding="utf-8",
    )
    _git("add", ".pre-commit-config.yaml", cwd=work, env=env)
    yield HookRun(work, env)


def test_hook_fails_on_a_finding_and_names_it(run_hook: HookRun) -> None:
    (run_hook.work / "bad.py").write_text("from datetime import datetime\nx = datetime.utcnow()\n", encoding="utf-8")
    done = run_hook("sightlint", "bad.py")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Failed" in done.stdout and "bad.py:2:5: SL301" in done.stdout


def test_hook_passes_on_clean_code(run_hook: HookRun) -> None:
    (run_hook.work / "clean.py").write_text(
        "from datetime import datetime, timezone\nx = datetime.now(timezone.utc)\n", encoding="utf-8"
    )
    done = run_hook("sightlint", "clean.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout


def test_fix_hook_is_installable_and_leaves_clean_code_alone(run_hook: HookRun) -> None:
    clean = run_hook.work / "clean_too.py"
    clean.write_text("import asyncio\n\n\nasync def main() -> None:\n    await asyncio.sleep(1)\n", encoding="utf-8")
    before = clean.read_bytes()
    done = run_hook("sightlint-fix", "clean_too.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert clean.read_bytes() == before


def _try_repo(env: dict[str, str], work: Path, file: str) -> subprocess.CompletedProcess[str]:
    subprocess.run(["git", "add", "--", file], cwd=work, env=env, check=True)
    return subprocess.run(
        ["pre-commit", "try-repo", str(ROOT), "sightlint", "--files", file],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_try_repo_fails_on_a_bad_file_and_passes_on_a_clean_one(run_hook: HookRun) -> None:
    """What a user trying the hook does first: `pre-commit try-repo <this repo> sightlint`."""
    work, env = run_hook.work, run_hook.env
    (work / "try_bad.py").write_text("from datetime import datetime\nx = datetime.utcnow()\n", encoding="utf-8")
    (work / "try_clean.py").write_text("import asyncio\n\n\nasync def f() -> None:\n    await asyncio.sleep(0)\n", encoding="utf-8")
    bad = _try_repo(env, work, "try_bad.py")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "try_bad.py:2:5: SL301" in bad.stdout
    clean = _try_repo(env, work, "try_clean.py")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Passed" in clean.stdout


def _commit(run_hook: HookRun, *files: str) -> None:
    subprocess.run(["git", "add", "--", *files], cwd=run_hook.work, env=run_hook.env, check=True)
    identity = ["-c", "user.name=sightlint tests", "-c", "user.email=tests@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *identity, "commit", "-q", "--no-verify", "-m", "setup"], cwd=run_hook.work, env=run_hook.env, check=True)


def _write(run_hook: HookRun, name: str, text: str) -> None:
    path = run_hook.work / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_hooks_fail_on_a_new_async_def_that_reaches_an_unchanged_blocking_helper(run_hook: HookRun) -> None:
    """The chain starts in the staged file and ends in a committed one: both hooks see it."""
    _write(run_hook, "svc/__init__.py", "")
    _write(run_hook, "svc/retry.py", "import time\n\n\ndef connect_with_retry() -> None:\n    time.sleep(1)\n")
    _commit(run_hook, "svc/__init__.py", "svc/retry.py")
    _write(run_hook, "svc/probe.py", "from svc.retry import connect_with_retry\n\n\nasync def startup_probe() -> None:\n    connect_with_retry()\n")
    hop = "The chain passes through svc/probe.py:5 (`startup_probe` calls `connect_with_retry`)"
    done = run_hook("sightlint", "svc/probe.py")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "svc/retry.py:5:5: SL101" in done.stdout and hop in done.stdout
    fixed = run_hook("sightlint-fix", "svc/probe.py")
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr
    assert "svc/retry.py:5:5: SL101" in fixed.stdout and hop in fixed.stdout


def test_hook_fails_when_only_the_blocking_helper_is_staged(run_hook: HookRun) -> None:
    """The async caller is committed and unchanged; the edit that makes its helper block is staged."""
    _write(run_hook, "jobs/__init__.py", "")
    _write(run_hook, "jobs/worker.py", "from jobs.disk import settle\n\n\nasync def handle() -> None:\n    settle()\n")
    _write(run_hook, "jobs/disk.py", "def settle() -> None:\n    pass\n")
    _commit(run_hook, "jobs/__init__.py", "jobs/worker.py", "jobs/disk.py")
    _write(run_hook, "jobs/disk.py", "import time\n\n\ndef settle() -> None:\n    time.sleep(0.5)\n")
    done = run_hook("sightlint", "jobs/disk.py")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "jobs/disk.py:5:5: SL101" in done.stdout and "chain: handle (jobs/worker.py:4)" in done.stdout


def test_hook_runs_once_for_many_files(run_hook: HookRun) -> None:
    """require_serial: pre-commit would otherwise split the files into parallel batches, each a run."""
    names = [f"many/m{i:02d}.py" for i in range(24)]
    for name in names:
        _write(run_hook, name, "from datetime import datetime\nx = datetime.utcnow()\n")
    done = run_hook("sightlint", *names)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("Found ") == 1 and "Found 24 findings in 24 files" in done.stdout, done.stdout
