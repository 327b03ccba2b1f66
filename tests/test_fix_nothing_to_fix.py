"""`fix --diff` with nothing to fix does nothing beyond what `check` does.

The bound is ``check`` plus 10% (``bench/run.py --fix`` measures it); this pins the
reason it holds: on a project whose findings have no fix, ``fix --diff`` opens no file of
the project that ``check`` does not open, imports no module that a ``check`` that checks
files does not import except ``sightlint.fixer`` itself (LibCST, the rules' fix code and the colour
renderer stay unloaded), and writes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Runs the CLI in a child process and reports, at exit, the files of the project it
# opened (an audit hook sees every `open`) and the modules it imported.
_PROBE = r"""
import atexit, json, os, sys
root, out = os.path.realpath(sys.argv[1]), sys.argv[2]
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        full = os.path.realpath(path)
        if full.startswith(root + os.sep) and ".cache" not in full.split(os.sep):
            opened.append((os.path.relpath(full, root), args[1]))
sys.addaudithook(hook)
def report():
    with open(out, "w") as f:
        json.dump({"opened": opened, "modules": sorted(sys.modules)}, f)
atexit.register(report)
sys.argv = ["sightlint", *sys.argv[3:]]
from sightlint.cli import main
main()
"""

_APP = '''"""A module whose only finding (SL501) has no automatic fix."""

_CLIENT = None


def get_client():
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = object()
    return _CLIENT


async def handler():
    return get_client()
'''


def _run(project: Path, tmp: Path, name: str, *args: str) -> tuple[int, dict[str, list]]:
    out = tmp / f"{name}.json"
    env = {**os.environ, "SIGHTLINT_CACHE_DIR": str(project / ".cache"), "NO_COLOR": "1"}
    env.pop("SIGHTLINT_NO_CACHE", None)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(project), str(out), *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.exists(), proc.stderr
    return proc.returncode, json.loads(out.read_text())


def test_fix_diff_with_nothing_to_fix_does_no_more_than_check(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "clients.py").write_text(_APP)
    (project / "app" / "clean.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    before = {p: p.read_bytes() for p in project.rglob("*.py")}
    check_args = ["check", ".", "--select", "ALL", "--format", "json", "-o", os.devnull, "--exit-zero"]
    _, warmup = _run(project, tmp_path, "warmup", *check_args)  # the cache is warm for both runs below
    code, check = _run(project, tmp_path, "check", *check_args)
    assert code == 0
    code, fix = _run(project, tmp_path, "fix", "fix", ".", "--diff", "--select", "ALL")
    assert code == 0  # nothing would change

    # No file of the project is opened more often (a warm check opens each to hash it).
    more = Counter(path for path, _ in fix["opened"]) - Counter(path for path, _ in check["opened"])
    assert not more, f"fix --diff opened more than check: {dict(more)}"
    assert not [path for path, mode in fix["opened"] if mode not in ("r", "rb", None) and path.endswith(".py")]
    # An unchanged check is served by the cache and imports no rule; the modules of a check
    # that checks (the warm-up) are what fix --diff may load besides the fixer.
    extra = set(fix["modules"]) - set(check["modules"]) - set(warmup["modules"])
    assert extra <= {"sightlint.fixer"}, sorted(extra)
    assert not [m for m in fix["modules"] if m == "libcst" or m.startswith(("libcst.", "rich", "markdown_it"))]
    assert {p: p.read_bytes() for p in project.rglob("*.py")} == before


def test_the_probe_sees_what_a_fix_loads(tmp_path: Path) -> None:
    """The probe is not blind: with something to fix, `fix --diff` loads LibCST and reads the file again."""
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "when.py").write_text("from datetime import datetime\n\n\ndef now():\n    return datetime.utcnow()\n")
    check_args = ["check", ".", "--select", "ALL", "--format", "json", "-o", os.devnull, "--exit-zero"]
    _run(project, tmp_path, "warmup", *check_args)
    code, fix = _run(project, tmp_path, "fix", "fix", ".", "--diff", "--select", "ALL")
    assert code == 1
    assert "libcst" in fix["modules"]
    # The warm planning check opens no source; the fixer reads the file it fixes.
    assert "app/when.py" in {path for path, _ in fix["opened"]}


def test_a_file_too_large_is_skipped_with_a_note(tmp_path: Path) -> None:
    """A file over max-file-size (a 20 MB generated module at the default 10 MB) is not
    read: `fix --diff` says it was not fixed, and why, instead of passing over it in silence."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.sightlint]\nmax-file-size = "1 KB"\n')
    (project / "big.py").write_text("from datetime import datetime\n\n" + "x = datetime.utcnow()\n" * 100)
    (project / "small.py").write_text("from datetime import datetime\n\nx = datetime.utcnow()\n")
    env = {**os.environ, "SIGHTLINT_NO_CACHE": "1", "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "sightlint", "fix", ".", "--diff"], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert "big.py: not fixed: cannot read file: larger than max-file-size" in proc.stderr
    assert "small.py" not in proc.stderr  # fixed, not noted
    assert "+x = datetime.now(timezone.utc).replace(tzinfo=None)" in proc.stdout
    assert "big.py" not in proc.stdout
