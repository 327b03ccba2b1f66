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
