"""A run on some files analyses their whole project and reports what concerns the files.

Root detection (``files.project_root``), the report filter (``api.concerning``), and
end to end on a copy of the Sight replica: ``check app/main.py`` reports the startup
probe's chain into ``rag_clients.py``, and the JSON of ``check FILE`` is exactly the
part of ``check .`` that concerns FILE.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sightlint import api
from sightlint.cli import main
from sightlint.config import ConfigError, load
from sightlint.files import PROJECT_MARKERS, discover, project_root
from sightlint.models import FileResult, Finding, RelatedLocation, RunResult, Severity, Span
from sightlint.settings import Settings

REPLICA = Path(__file__).resolve().parents[1] / "fixtures" / "sight_app"
HELPER = "import time\n\n\ndef wait_for_db() -> None:\n    time.sleep(1)\n"
CALLER = "from pkg.slow import wait_for_db\n\n\nasync def probe() -> None:\n    wait_for_db()\n"


def make(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout


@pytest.fixture()
def bare(tmp_path: Path) -> Path:
    """``tmp_path``, known to have no project marker above it (else "no root" cannot be tested)."""
    for folder in tmp_path.parents:
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            pytest.skip(f"{folder} holds a project marker")
    return tmp_path


# -- where the project is ------------------------------------------------------------


def test_root_is_the_config_files_folder_even_below_a_nearer_marker(bare: Path) -> None:
    make(bare, {"proj/pyproject.toml": "[tool.sightlint]\n", "proj/sub/setup.cfg": "", "proj/sub/inner/a.py": ""})
    target = bare / "proj" / "sub" / "inner" / "a.py"
    settings = load(None, [target])
    assert settings.config_path is not None
    assert project_root([target], settings) == (bare / "proj").resolve()


@pytest.mark.parametrize("marker", PROJECT_MARKERS)
def test_root_is_the_nearest_folder_with_a_marker(bare: Path, marker: str) -> None:
    make(bare, {"proj/pkg/sub/x.py": "", "proj/pkg/mod.py": ""})
    if marker == ".git":
        (bare / "proj" / ".git").mkdir()
    else:
        (bare / "proj" / marker).write_text("", encoding="utf-8")
    proj = (bare / "proj").resolve()
    assert project_root([bare / "proj" / "pkg" / "sub" / "x.py"], Settings()) == proj
    assert project_root([bare / "proj" / "pkg"], Settings()) == proj
    assert project_root([], Settings(), cwd=bare / "proj" / "pkg" / "sub") == proj
    assert project_root([bare / "proj" / "pkg" / "nope.py"], Settings(), cwd=bare) is None  # only paths that exist count


def test_root_holds_every_path(bare: Path) -> None:
    make(bare, {"mono/setup.cfg": "", "mono/a/pyproject.toml": "", "mono/b/pyproject.toml": "", "mono/a/x.py": "", "mono/b/y.py": ""})
    mono = bare / "mono"
    assert project_root([mono / "a" / "x.py"], Settings()) == (mono / "a").resolve()
    assert project_root([mono / "a" / "x.py", mono / "b" / "y.py"], Settings()) == mono.resolve()


def test_no_marker_means_no_project_and_only_the_paths_are_analysed(bare: Path) -> None:
    make(bare, {"slow.py": HELPER.replace("pkg.", ""), "caller.py": CALLER.replace("pkg.slow", "slow")})
    assert project_root([bare / "caller.py"], Settings()) is None
    found = api.discover_project([bare / "caller.py"], Settings(), cwd=bare)
    assert [f.display for f in found.files] == ["caller.py"] and found.named is None


def test_discovery_adds_the_project_after_the_paths(tmp_path: Path) -> None:
    make(tmp_path, {"pkg/__init__.py": "", "pkg/slow.py": HELPER, "pkg/api.py": CALLER, "build/gen.py": "", "lib/x.py": ""})
    found = discover([tmp_path / "build" / "gen.py", tmp_path / "pkg"], Settings(), cwd=tmp_path, project=tmp_path)
    assert [f.display for f in found.files] == ["build/gen.py", "lib/x.py", "pkg/__init__.py", "pkg/api.py", "pkg/slow.py"]
    assert found.named == {"build/gen.py", "pkg/__init__.py", "pkg/api.py", "pkg/slow.py"}
    assert discover([tmp_path / "pkg"], Settings(), cwd=tmp_path).named is None


def test_project_root_setting_is_relative_to_the_config_file(bare: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(bare, {"proj/tools/sightlint.toml": 'project-root = ".."\n', "proj/app/a.py": "", "elsewhere/b.py": ""})
    monkeypatch.chdir(bare / "elsewhere")  # not relative to the cwd
    config = bare / "proj" / "tools" / "sightlint.toml"
    settings = load(config, [bare / "proj" / "app" / "a.py"])
    assert project_root([bare / "proj" / "app" / "a.py"], settings) == (bare / "proj").resolve()
    assert project_root([], settings) == (bare / "proj").resolve()
    config.write_text(f"project-root = {json.dumps(str(bare / 'proj' / 'app'))}\n", encoding="utf-8")
    assert project_root([], load(config, [])) == (bare / "proj" / "app").resolve()
    # Without the setting, the config file's own folder.
    config.write_text("", encoding="utf-8")
    assert project_root([], load(config, [])) == (bare / "proj" / "tools").resolve()


@pytest.mark.parametrize(
    ("value", "message"),
    [('"nope"', "project-root: 'nope' is not a folder"), ("1", "project-root: expected a path string"), ('"a.py"', "is not a folder")],
)
def test_project_root_setting_is_validated(bare: Path, value: str, message: str) -> None:
    make(bare, {"pyproject.toml": f"[tool.sightlint]\nproject-root = {value}\n", "a.py": ""})
    with pytest.raises(ConfigError, match=message):
        load(bare / "pyproject.toml", [])


def test_config_command_shows_the_root_and_the_setting(bare: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(bare, {"proj/pyproject.toml": '[tool.sightlint]\nproject-root = ".."\n'})
    monkeypatch.chdir(bare / "proj")
    code, out = cli("config")
    assert code == 0
    assert f"project root: {bare.resolve()}" in out.splitlines()
    row = next(line for line in out.splitlines() if line.startswith("project-root "))
    # Origins below the working folder are shown relative to it (the table fits 100 columns).
    assert row.split()[1:] == ["..", "pyproject.toml"]


# -- what is analysed, what is reported ------------------------------------------------


def test_a_folder_holding_the_root_is_the_plain_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(tmp_path, {"pyproject.toml": "", "pkg/__init__.py": "", "pkg/slow.py": HELPER, "pkg/api.py": CALLER})
    monkeypatch.chdir(tmp_path)
    for paths in ([Path(".")], [tmp_path], [tmp_path / "pkg" / "api.py", Path(".")]):
        found = api.discover_project(paths, Settings())
        assert found.named is None and [f.display for f in found.files] == ["pkg/__init__.py", "pkg/api.py", "pkg/slow.py"]
    found = api.discover_project([Path("pkg/api.py")], Settings())
    assert found.named == {"pkg/api.py"} and len(found.files) == 3


def test_the_project_outside_the_cwd_is_shown_relative_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(tmp_path, {"pyproject.toml": "", "pkg/__init__.py": "", "pkg/slow.py": HELPER, "pkg/api.py": CALLER, "lib/x.py": ""})
    monkeypatch.chdir(tmp_path / "pkg")
    found = api.discover_project([Path(".")], Settings())
    assert found.named == {"__init__.py", "api.py", "slow.py"}
    assert [f.display for f in found.files] == ["../lib/x.py", "__init__.py", "api.py", "slow.py"]


def test_walk_errors_outside_the_paths_do_not_fail_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(tmp_path, {"pyproject.toml": "", "pkg/__init__.py": "", "pkg/slow.py": HELPER, "pkg/api.py": CALLER, "private/x.py": ""})
    real = os.scandir

    def scandir(path: Any) -> Any:
        if os.fspath(path).endswith("private"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    run = api.check_paths([tmp_path / "pkg" / "api.py"], Settings(select=("SL101",)), cwd=tmp_path, use_cache=False, jobs=1)
    assert run.errors == []
    assert [(f.path, f.line) for f in run.findings] == [("pkg/slow.py", 5)]
    found = discover([tmp_path / "private"], Settings(), cwd=tmp_path)  # named: still an error
    assert found.errors and "cannot read directory" in found.errors[0]


def test_an_excluded_file_named_explicitly_is_analysed_with_its_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(
        tmp_path,
        {
            "pyproject.toml": '[tool.sightlint]\nextend-exclude = ["scripts"]\n',
            "pkg/__init__.py": "",
            "pkg/slow.py": HELPER,
            "scripts/warm.py": CALLER,
        },
    )
    monkeypatch.chdir(tmp_path)
    code, out = cli("check", "--no-cache", "--format", "concise", "--select", "SL101", "scripts/warm.py")
    assert code == 1
    assert out.splitlines() == [
        "pkg/slow.py:5:5: SL101 `time.sleep` (sleep) blocks the event loop (reached from no known entry point). "
        "The chain passes through scripts/warm.py:5 (`probe` calls `wait_for_db`)."
    ]
    assert cli("check", "--no-cache", "--select", "SL101", ".")[0] == 0  # the folder walk still skips it


def test_fix_counts_what_reaches_the_fixed_files_through_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(tmp_path, {"pyproject.toml": "", "pkg/__init__.py": "", "pkg/slow.py": HELPER, "pkg/api.py": CALLER})
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["fix", "--select", "SL101,SL301", "pkg/api.py"])
    assert result.exit_code == 1, result.output
    # Reported as `check` reports it (on stdout), and slow.py, not named, is not edited.
    assert "pkg/slow.py:5:5: SL101" in result.stdout and "The chain passes through pkg/api.py:5" in result.stdout
    assert (tmp_path / "pkg" / "slow.py").read_text(encoding="utf-8") == HELPER


def _finding(path: str, line: int, message: str, *related: tuple[str, int, str], code: str = "SL101") -> Finding:
    return Finding(
        code,
        "blocking-call-in-async",
        Severity.CRITICAL,
        message,
        path,
        Span(line, 4, line, 10),
        related=tuple(RelatedLocation(p, n, 4, m) for p, n, m in related),
    )


def test_concerning_keeps_the_named_files_and_the_chains_through_them() -> None:
    through = _finding(
        "lib/slow.py", 5, "`time.sleep` runs on the event loop: chain (5)",
        ("app/new.py", 7, "`probe` calls `wait`"), ("lib/mid.py", 3, "`wait` calls `nap`"),
        ("app/new.py", 9, "`probe` calls `wait`"), ("lib/slow.py", 5, "`nap` calls `time.sleep`"),
    )  # fmt: skip
    elsewhere = _finding("lib/slow.py", 8, "other chain (8)", ("lib/main.py", 2, "`main` calls `x`"))
    local = _finding("lib/slow.py", 1, "a per-file finding.", code="SL301")
    timeout = _finding("lib/t.py", 4, "`wait_for` cannot fire.", ("app/new.py", 3, "`helper`"), code="SL102")
    named = FileResult("app/new.py", findings=[_finding("app/new.py", 2, "mine.")], unused_suppressions=[(4, None)])
    run = RunResult(
        files=[
            named,
            FileResult("lib/slow.py", findings=[local, through, elsewhere], unused_suppressions=[(1, ("SL301",))]),
            FileResult("lib/t.py", findings=[timeout]),
            FileResult("lib/crash.py", errors=["internal error in SL501: boom"]),
            FileResult("lib/quiet.py", findings=[local]),
        ],
        errors=["project: boom"],
    )
    out = api.concerning(run, frozenset({"app/new.py"}))
    assert out.errors == ["project: boom"]
    assert out.internal_errors == ["internal error in SL501: boom"]
    assert [r.path for r in out.files] == ["app/new.py", "lib/slow.py", "lib/t.py", "lib/crash.py"]
    assert out.files[0] is named
    assert [f.message for f in out.findings] == [
        "mine.",
        "`time.sleep` runs on the event loop: chain (5); the chain passes through "
        "app/new.py:7 (`probe` calls `wait`), app/new.py:9 (`probe` calls `wait`).",
        "`wait_for` cannot fire. The chain passes through app/new.py:3 (`helper`).",
    ]
    assert [f.related for f in out.findings[1:]] == [through.related, timeout.related]
    assert out.files[1].unused_suppressions == []
    assert api.concerning(run, frozenset(r.path for r in run.files)).findings == run.findings


# -- on a copy of the Sight replica ---------------------------------------------------


@pytest.fixture()
def replica(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "sight"
    shutil.copytree(REPLICA, copy)
    (copy / "pyproject.toml").write_text('[project]\nname = "sight"\n', encoding="utf-8")
    monkeypatch.chdir(copy)
    monkeypatch.setenv("SIGHTLINT_CACHE_DIR", str(tmp_path / "cache"))
    return copy


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


@pytest.mark.parametrize("fmt", ["text", "concise", "json", "sarif", "github"])
def test_main_alone_reports_the_startup_probes_chain_in_every_format(replica: Path, fmt: str) -> None:
    call = _line_of(replica / "app" / "main.py", "reachable = _connect_with_retry(")
    sleep = _line_of(replica / "app" / "services" / "rag" / "rag_clients.py", "time.sleep(")
    hop = f"The chain passes through app/main.py:{call} (`startup_probe` calls `_connect_with_retry`)"
    code, out = cli("check", "--format", fmt, "app/main.py")
    assert code == 1
    assert hop in out
    if fmt == "concise":
        lines = [line for line in out.splitlines() if line.startswith(f"app/services/rag/rag_clients.py:{sleep}:")]
        assert len(lines) == 1 and "`time.sleep` (sleep) blocks the event loop while serving requests." in lines[0] and hop in lines[0]
        # main.py's own finding through the helper (a callback handed to it) is there too.
        assert any(line.startswith("app/main.py:") and "driver.verify_connectivity" in line for line in out.splitlines())
        assert all(line.startswith(("app/main.py:", "app/services/rag/rag_clients.py:")) for line in out.splitlines())


def _concerning(full: dict[str, Any], named: Sequence[str]) -> list[dict[str, Any]]:
    """The findings of the whole project's report that a run on ``named`` must report, as the spec says."""

    def inside(path: str) -> bool:
        return any(path == n or path.startswith(n + "/") for n in named)

    expected = []
    for finding in full["findings"]:
        if inside(finding["path"]):
            expected.append(finding)
            continue
        hops = [f"{r['path']}:{r['line']} ({r['message']})" for r in finding["related"] if inside(r["path"])]
        others = [path for path in finding["chain_paths"] if inside(path)]
        if hops:
            lead = " The" if finding["message"].endswith(".") else "; the"
            text = f"{finding['message']}{lead} chain passes through {', '.join(dict.fromkeys(hops))}."
            expected.append({**finding, "message": text})
        elif others:
            lead = " Another" if finding["message"].endswith(".") else "; another"
            text = f"{finding['message']}{lead} chain to it passes through {', '.join(others)}."
            expected.append({**finding, "message": text})
    return expected


def test_json_of_some_files_is_the_part_of_the_whole_run_that_concerns_them(replica: Path) -> None:
    code, out = cli("check", "--format", "json", ".")
    full = json.loads(out)
    assert code == 1 and full["errors"] == [] and len(full["findings"]) > 10
    chained = 0
    for named in (
        ["app/main.py"],
        ["app/services/rag/rag_hybrid_search_service.py"],
        ["app/services/personas/persona_generator_langchain.py", "app/api/personas.py"],
        ["app/db/models.py"],
        ["app/services/rag"],
        ["app/api"],
    ):
        code, out = cli("check", "--format", "json", *named)
        part = json.loads(out)
        expected = _concerning(full, named)
        assert part["findings"] == expected, named
        assert part["errors"] == [] and code == (1 if expected else 0)
        chained += sum(1 for f in expected if f["path"] not in named)
    assert chained >= 3  # the chains into rag_clients.py were exercised
    # Cold, the same bytes.
    assert cli("check", "--format", "json", "--no-cache", "app/main.py")[1] == cli("check", "--format", "json", "app/main.py")[1]


def test_a_file_on_a_chain_the_message_does_not_show_still_gets_the_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SL101 shows the shortest chain; a file that is only on a longer one (two hops more)
    still reports the blocking call, naming the file."""
    root = make(
        tmp_path / "p",
        {
            "pyproject.toml": "[project]\nname = 'p'\n",
            "app/__init__.py": "",
            "app/slow.py": "import time\n\ndef nap():\n    time.sleep(1)\n",
            "app/short.py": "from app.slow import nap\n\nasync def quick():\n    nap()\n",
            "app/mid.py": "from app.slow import nap\n\ndef relay():\n    nap()\n\ndef relay2():\n    relay()\n",
            "app/long.py": "from app.mid import relay2\n\nasync def slow_path():\n    relay2()\n",
        },
    )
    monkeypatch.chdir(root)
    code, out = cli("check", "--select", "SL101", "--format", "json", "app/long.py")
    (finding,) = json.loads(out)["findings"]
    assert code == 1 and finding["path"] == "app/slow.py"
    assert finding["detail"].startswith("chain: quick (app/short.py:3)")
    assert finding["message"].endswith(". Another chain to it passes through app/long.py.")
    assert finding["chain_paths"] == ["app/long.py", "app/mid.py", "app/short.py", "app/slow.py"]
    assert [r["path"] for r in finding["related"]] == ["app/short.py", "app/slow.py"]
    # A file on no chain to it gets nothing.
    (root / "app/other.py").write_text("async def unrelated():\n    return 1\n", encoding="utf-8")
    assert json.loads(cli("check", "--select", "SL101", "--format", "json", "app/other.py")[1])["findings"] == []
