"""The command line, driven through click's CliRunner as a user would."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sightlint import __version__
from sightlint.cli import main
from sightlint.registry import CATALOG, PLANNED

BAD = "from datetime import datetime\n\nstamp = datetime.utcnow()\n"
CLEAN = "from datetime import datetime, timezone\n\nstamp = datetime.now(timezone.utc)\n"


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "bad.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "app" / "clean.py").write_text(CLEAN, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_version() -> None:
    code, out = run("--version")
    assert code == 0 and __version__ in out


def test_check_reports_and_exits_1(project: Path) -> None:
    code, out = run("check", "--format", "concise")
    assert code == 1
    assert out.splitlines() == ["app/bad.py:3:9: SL301 `datetime.utcnow()` is deprecated and returns a naive datetime; use `datetime.now(timezone.utc)`, with `.replace(tzinfo=None)` where the value meets naive datetimes (a naive `DateTime` column)."]


def test_clean_exits_0(project: Path) -> None:
    code, out = run("check", "app/clean.py")
    assert code == 0 and "All checks passed" in out


def test_exit_zero_fail_on_and_quiet(project: Path) -> None:
    assert run("check", "--exit-zero")[0] == 0
    code, out = run("check", "--quiet")
    assert code == 1 and out == ""
    (project / "pyproject.toml").write_text("[tool.sightlint.severity]\nSL301 = 'medium'\n", encoding="utf-8")
    assert run("check", "--fail-on", "high")[0] == 0
    assert run("check", "--fail-on", "medium")[0] == 1


def test_selection_options(project: Path) -> None:
    assert run("check", "--ignore", "SL301")[0] == 0
    assert run("check", "--select", "SL2")[0] == 0
    assert run("check", "--select", "SL2", "--extend-select", "naive-utcnow")[0] == 1
    code, out = run("check", "--select", "SL30l")
    assert code == 2 and "unknown rule selector" in out


def test_output_file_and_json(project: Path) -> None:
    code, out = run("check", "--format", "json", "--output-file", "report.json")
    assert code == 1 and out == ""
    data = json.loads((project / "report.json").read_text(encoding="utf-8"))
    assert [(f["code"], f["path"], f["line"], f["column"]) for f in data["findings"]] == [("SL301", "app/bad.py", 3, 9)]
    assert data["findings"][0]["fix"]["safety"] == "safe"


@pytest.mark.parametrize("fmt", ["text", "concise", "json", "sarif", "github"])
def test_every_format_runs(project: Path, fmt: str) -> None:
    code, out = run("check", "--format", fmt)
    assert code == 1
    assert "bad.py" in out


def test_statistics(project: Path) -> None:
    code, out = run("check", "--statistics")
    assert code == 1 and "SL301" in out and "naive-utcnow" in out


def test_config_errors_exit_2(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.sightlint]\nselct = ['SL3']\n", encoding="utf-8")
    code, out = run("check")
    assert code == 2 and "did you mean 'select'" in out
    code, out = run("check", "--config", "nope.toml")
    assert code == 2 and "cannot read config file" in out


def test_config_command_shows_origins(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.sightlint]\nignore = ['SL202']\n", encoding="utf-8")
    code, out = run("config", "--select", "SL3")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "command line" in lines["select"]
    assert "pyproject.toml" in lines["ignore"]
    assert "enabled rules: SL301" in out


def test_rules_and_rule(project: Path) -> None:
    code, out = run("rules")
    assert code == 0
    assert "SL301" in out and "SL000" in out
    # Every catalog code is listed, planned ones as not yet available (none are left now).
    assert all(entry.meta.code in out for entry in CATALOG)
    assert out.count("not yet available") == len(PLANNED)
    code, out = run("rule", "SL301")
    assert code == 0 and "naive-utcnow" in out and "Why it matters" in out
    code, out = run("rule", "naive-utcnow")
    assert code == 0 and "SL301" in out
    code, out = run("rule", "SL30")
    assert code == 2 and "unknown rule" in out


def test_missing_path_exits_2_but_checks_the_rest(project: Path) -> None:
    code, out = run("check", "--format", "concise", "nope", "app")
    assert code == 2
    assert "app/bad.py:3:9: SL301" in out


def test_bad_files_each_get_a_result_and_the_rest_is_checked(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = project / "app"
    (app / "syntax.py").write_text("def broken(:\n    pass\n", encoding="utf-8")
    (app / "latin.py").write_bytes(
        "# -*- coding: latin-1 -*-\nfrom datetime import datetime\nname = 'café'\nt = datetime.utcnow()\n".encode("latin-1")
    )
    (app / "binary.py").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    (app / "dangling.py").symlink_to(project / "gone.py")
    secret = app / "secret.py"
    secret.write_text("x = 1\n", encoding="utf-8")
    real_open = os.open

    def guarded_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        # Running as root, chmod 000 would not stop the read: refuse it here instead.
        if os.path.basename(path) == "secret.py":
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    code, out = run("check", "--format", "json")
    assert code == 1, out
    found = {(f["path"], f["code"]): f["message"] for f in json.loads(out)["findings"]}
    assert "syntax error" in found[("app/syntax.py", "SL000")]
    assert ("app/latin.py", "SL301") in found  # decoded by its cookie and checked
    assert "binary" in found[("app/binary.py", "SL000")]
    assert "No such file" in found[("app/dangling.py", "SL000")]
    assert "Permission denied" in found[("app/secret.py", "SL000")]
    assert ("app/bad.py", "SL301") in found
    assert "Traceback" not in out


def test_no_color_when_not_a_tty(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    code, out = run("check")
    assert code == 1 and "\x1b[" not in out


def test_unused_suppressions(project: Path) -> None:
    (project / "app" / "clean.py").write_text(CLEAN.replace("utc)\n", "utc)  # noqa: SL301\n"), encoding="utf-8")
    assert run("check", "app/clean.py")[0] == 0
    code, out = run("check", "app/clean.py", "--report-unused-suppressions", "--format", "concise")
    assert code == 1 and "SL301" in out


def test_python_m_entry_point(project: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "sightlint", "--version"], capture_output=True, text=True, env={**os.environ})
    assert proc.returncode == 0 and __version__ in proc.stdout


SWALLOW = "def load(path):\n    try:\n        return open(path).read()\n    except Exception:\n        pass\n"


def test_fix_diff_writes_nothing_and_exits_1(project: Path) -> None:
    before = (project / "app" / "bad.py").read_bytes()
    code, out = run("fix", "--diff", "--unsafe-fixes")
    assert code == 1
    assert "-stamp = datetime.utcnow()" in out and "+stamp = datetime.now(timezone.utc)" in out
    assert (project / "app" / "bad.py").read_bytes() == before


def test_fix_diff_is_coloured_on_request_and_exact_bytes_otherwise(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    code, plain = run("fix", "--diff", "-q")
    assert code == 1 and "\x1b[" not in plain and "-stamp = datetime.utcnow()\n" in plain
    code, coloured = run("fix", "--diff", "-q", "--color", "always")
    assert code == 1
    assert "\x1b[31m-stamp = datetime.utcnow()\x1b[0m" in coloured and "\x1b[32m+" in coloured
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[36m@@" in run("fix", "--diff", "-q")[1]
    assert "\x1b[" not in run("fix", "--diff", "-q", "--color", "never")[1]


def test_fix_applies_safe_fixes_only_without_the_flag(project: Path) -> None:
    (project / "app" / "swallow.py").write_text(SWALLOW, encoding="utf-8")
    # Naive now against an aware value: SL301 offers only its unsafe (aware) fix here.
    expiry = "from datetime import datetime, timezone\n\ndef expired(at):\n    return datetime.utcnow() > at.astimezone(timezone.utc)\n"
    (project / "app" / "expiry.py").write_text(expiry, encoding="utf-8")
    code, out = run("fix")
    assert code == 1  # the unsafe SL301 fix was held back, so a finding remains
    assert "logger.exception(" in (project / "app" / "swallow.py").read_text(encoding="utf-8")
    assert "replace(tzinfo=None)" in (project / "app" / "bad.py").read_text(encoding="utf-8")
    assert "utcnow" in (project / "app" / "expiry.py").read_text(encoding="utf-8")
    assert "1 more fix(es) available with --unsafe-fixes" in out
    code, out = run("fix", "--show-fixes")
    assert code == 1 and "app/expiry.py:4:12: SL301 not fixed: unsafe fix: use --unsafe-fixes" in out, out
    code, _ = run("fix", "--unsafe-fixes")
    assert code == 0
    assert run("check", "app")[0] == 0


def test_fix_on_a_scratch_copy_of_the_replica(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 2's acceptance check: every SL201/SL301 finding fixed, all files compile, second run no-op."""
    import shutil

    replica = Path(__file__).resolve().parents[1] / "fixtures" / "sight_app"
    scratch = tmp_path / "sight_app"
    shutil.copytree(replica, scratch)
    monkeypatch.chdir(scratch)
    assert run("check", "--select", "SL201,SL301", "--no-cache", ".")[0] == 1
    run("fix", "--unsafe-fixes", "--select", "SL201,SL301", ".")
    files = sorted(scratch.rglob("*.py"))
    for file in files:
        compile(file.read_bytes(), str(file), "exec")
    snapshot = {f: f.read_bytes() for f in files}
    code, _ = run("fix", "--unsafe-fixes", "--select", "SL201,SL301", ".")
    assert code == 0
    assert {f: f.read_bytes() for f in files} == snapshot
    assert run("check", "--select", "SL201,SL301", "--no-cache", ".")[0] == 0


def test_check_imports_neither_libcst_nor_rich_without_need() -> None:
    """Start-up: the fixer's and the text reporter's libraries load only when used."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sightlint.cli import main\n"
        "try:\n"
        "    main(['check', '--no-cache', '--format', 'json', '-q', 'fixtures/sight_app'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 1, exc.code\n"
        "loaded = [m for m in ('libcst', 'rich') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_fix_exit_code_counts_graded_findings_at_their_graded_severity(project: Path) -> None:
    """A latent SL501 finding (low once graded) does not fail `sightlint fix`; a thread path makes it fail."""
    (project / "app" / "__init__.py").write_text("", encoding="utf-8")
    getter = "_S = None\n\n\ndef get_s():\n    global _S\n    if _S is None:\n        _S = connect()\n    return _S\n"
    (project / "app" / "store.py").write_text(getter, encoding="utf-8")
    api = "from app.store import get_s\n\n\nasync def handler():\n    return {}\n"
    (project / "app" / "api.py").write_text(api, encoding="utf-8")
    code, out = run("fix", "--select", "SL501", "app")
    assert code == 0, out
    threaded = (
        "import asyncio\n\nfrom fastapi import FastAPI\n\nfrom app.store import get_s\n\napp = FastAPI()\n\n\n"
        "@app.get('/')\nasync def handler():\n    return await asyncio.to_thread(get_s)\n"
    )
    (project / "app" / "api.py").write_text(threaded, encoding="utf-8")
    code, out = run("fix", "--select", "SL501", "app")
    assert code == 1 and "app/store.py:6:8: SL501" in out and "Found 1 finding" in out, out


def test_fix_exit_code_counts_the_cross_file_findings_it_cannot_fix(project: Path) -> None:
    """`sightlint fix` as a pre-commit hook must not pass a file with an SL101 finding."""
    (project / "app" / "bad.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    (project / "app" / "__init__.py").write_text("", encoding="utf-8")
    (project / "app" / "low.py").write_text("import time\n\n\ndef nap():\n    time.sleep(1)\n", encoding="utf-8")
    (project / "app" / "api.py").write_text("from app.low import nap\n\n\nasync def handler():\n    nap()\n", encoding="utf-8")
    code, out = run("fix", "--select", "SL101,SL301", "app")
    assert code == 1, out
    assert "app/low.py:5:5: SL101" in out and "Found 1 finding" in out
    (project / "app" / "low.py").write_text("import asyncio\n\n\nasync def nap():\n    await asyncio.sleep(1)\n", encoding="utf-8")
    (project / "app" / "api.py").write_text("from app.low import nap\n\n\nasync def handler():\n    await nap()\n", encoding="utf-8")
    code, out = run("fix", "--select", "SL101,SL301", "app")
    assert code == 0, out
