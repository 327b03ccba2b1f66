"""The README's snippets work as written (issue 14): each one that can run offline runs.

- the `sightlint ...` lines of "Using it" and "Adopting it" run on a small project and
  none is a usage error;
- "Installing": the wheel is built (without build isolation, which would fetch
  setuptools) and installed, and its `sightlint` runs;
- "pre-commit": the `repo: local` config is the README's YAML, run by pre-commit on a
  staged file with a finding and on a clean one;
- "CI gate": the workflow is parsed as YAML and its `sightlint` commands are run in
  order, as the job would, on a project with a finding.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from sightlint import __version__

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sysconfig.get_path("scripts"))
BAD = "from datetime import datetime\n\n\ndef stamp():\n    return datetime.utcnow()\n"
CLEAN = "def add(a, b):\n    return a + b\n"


def blocks(section: str) -> list[tuple[str, str]]:
    """(language, body) of the fenced blocks of the README section titled ``section``."""
    start = README.index(f"\n## {section}\n") if f"\n## {section}\n" in README else README.index(f"\n### {section}\n")
    level = "### " if README[start + 1 : start + 5] == "### " else "## "
    end = README.find(f"\n{level}", start + 1)
    nxt = README.find("\n## ", start + 1)
    end = min(e for e in (end, nxt, len(README)) if e != -1)
    return re.findall(r"^```(\w*)\n(.*?)^```", README[start:end], re.DOTALL | re.MULTILINE)


def commands(body: str) -> list[str]:
    """The command lines of a console block, comments stripped."""
    out = []
    for line in body.splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "SIGHTLINT_KEY_DIR": str(tmp_path / "key"),
        "NO_COLOR": "1",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
    }


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    work = tmp_path / "proj"
    (work / "app").mkdir(parents=True)
    (work / "pyproject.toml").write_text("[project]\nname = 'demo'\nversion = '0'\n", encoding="utf-8")
    (work / "app" / "__init__.py").write_text("", encoding="utf-8")
    (work / "app" / "clock.py").write_text(BAD, encoding="utf-8")
    (work / "app" / "math.py").write_text(CLEAN, encoding="utf-8")
    return work


def shell(command: str, cwd: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(shlex.split(command), cwd=cwd, env=environ, capture_output=True, text=True, timeout=300, check=False)


def test_usage_lines_all_run(project: Path, tmp_path: Path) -> None:
    lines = [c for lang, body in blocks("Using it") + blocks("Adopting it on an existing code base") for c in commands(body)]
    assert len(lines) >= 15
    environ = env(tmp_path)
    for line in lines:
        line = line.replace("[PATHS]", "").replace(" app/", " app")
        if line.startswith("sightlint fix") and "--diff" not in line:
            shutil.copy(project / "app" / "clock.py", tmp_path / "clock.bak")
        done = shell(line, project, environ)
        assert done.returncode in (0, 1), f"{line}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        if line.startswith("sightlint fix") and "--diff" not in line:
            shutil.copy(tmp_path / "clock.bak", project / "app" / "clock.py")
    assert (project / "sightlint.sarif").is_file() and (project / "report.md").is_file()


def test_the_wheel_installs_and_runs(tmp_path: Path) -> None:
    (install,) = [b for lang, b in blocks("Installing") if "pip wheel" in b]
    build, add = commands(install)
    assert build == "pip wheel --no-deps -w dist ." and add == f"pip install dist/sightlint-{__version__}-py3-none-any.whl"
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".mypy_cache", ".pytest_cache", ".sightlint_cache", "*.egg-info", "build", "dist", "__pycache__"))
    environ = env(tmp_path)
    # Offline when this environment can build wheels (setuptools >= 70.1, or the `wheel`
    # package): without build isolation, pip would fetch setuptools from the index.
    import importlib.util

    import setuptools

    offline = importlib.util.find_spec("wheel") is not None or tuple(int(p) for p in setuptools.__version__.split(".")[:2]) >= (70, 1)
    flags = "pip wheel --no-build-isolation -q" if offline else "pip wheel -q"
    done = shell(f"{sys.executable} -m {build.replace('pip wheel', flags)}", source, environ)
    if done.returncode and not offline and re.search(r"No matching distribution|Could not find a version|NewConnectionError|Network is unreachable", done.stderr):
        pytest.skip("building the wheel needs the package index here (install `wheel` to build offline)")
    assert done.returncode == 0, done.stderr[-3000:]
    wheel = source / add.split()[-1]
    assert wheel.is_file(), sorted(p.name for p in (source / "dist").iterdir())
    target = tmp_path / "site"
    done = shell(f"{sys.executable} -m pip install -q --no-deps --target {target} {wheel}", tmp_path, environ)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (target / "sightlint" / "reporting" / "html.py").is_file() and (target / "sightlint" / "py.typed").is_file()
    # The wheel's own code (its dependencies come from this environment).
    environ["PYTHONPATH"] = str(target)
    done = subprocess.run(
        [sys.executable, "-c", "import sightlint, sys; print(sightlint.__file__); from sightlint.cli import main; sys.argv=['sightlint','--version']; main()"],
        cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.stdout.startswith(str(target)) and __version__ in done.stdout, done.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_local_pre_commit_hooks_work_as_written(project: Path, tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    (config,) = [b for lang, b in blocks("pre-commit") if lang == "yaml"]
    hooks = yaml.safe_load(config)["repos"][0]["hooks"]
    assert [h["id"] for h in hooks] == ["sightlint-fix", "sightlint"]
    published = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    for hook in hooks:  # the same commands as the hooks this repository publishes
        assert hook["entry"] == published[hook["id"]]["entry"] and hook["require_serial"]
    (project / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    environ = env(tmp_path)
    for git in (["init", "-q"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"]):
        subprocess.run(["git", *git], cwd=project, env=environ, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, env=environ, check=True)
    precommit = [sys.executable, "-m", "pre_commit", "run", "sightlint", "--files"]
    done = subprocess.run([*precommit, "app/clock.py"], cwd=project, env=environ, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1 and "SL301" in done.stdout, done.stdout + done.stderr
    done = subprocess.run([*precommit, "app/math.py"], cwd=project, env=environ, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # The fix hook fixes, and fails the commit because a file changed.
    fix = [sys.executable, "-m", "pre_commit", "run", "sightlint-fix", "--files", "app/clock.py"]
    done = subprocess.run(fix, cwd=project, env=environ, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1 and "utcnow" not in (project / "app" / "clock.py").read_text(encoding="utf-8"), done.stdout


def test_the_ci_job_parses_and_its_commands_run(project: Path, tmp_path: Path) -> None:
    (workflow,) = [b for lang, b in blocks("CI gate") if lang == "yaml"]
    job = yaml.safe_load(workflow)["jobs"]["sightlint"]
    steps = job["steps"]
    assert job["permissions"]["security-events"] == "write"
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert uses == ["actions/checkout", "actions/setup-python", "github/codeql-action/upload-sarif", "actions/upload-artifact"]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs[0].startswith("pip install")  # the wheel; not available offline here
    environ = env(tmp_path)
    codes = []
    for command in runs[1:]:
        done = shell(command, project, environ)
        codes.append(done.returncode)
        if "--format github" in command:
            assert "::warning file=app/clock.py,line=5," in done.stdout
    assert codes == [0, 0, 1]  # the reports never fail the job; the annotations gate it
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    sarif = json.loads((project / upload["with"]["sarif_file"]).read_text(encoding="utf-8"))
    assert sarif["runs"][0]["results"][0]["ruleId"] == "SL301"
    artifact = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "Quality Assessment Report" in (project / artifact["with"]["path"]).read_text(encoding="utf-8")
