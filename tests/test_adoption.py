"""What a team adopting sightlint on an existing code base and in CI runs into (issue 14)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint.cli import main

BAD = "from datetime import datetime\n\nstamp = datetime.utcnow()\n"


def run(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the command line (click >= 8.2 keeps them apart)."""
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "app" / "bad.py").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("SIGHTLINT_NO_CACHE", "1")
    return tmp_path


# 1. -q with -o still writes the report file.
@pytest.mark.parametrize("fmt", ["json", "sarif", "text", "concise", "github"])
def test_quiet_still_writes_the_output_file(project: Path, fmt: str) -> None:
    code, out, err = run("check", "-q", "--format", fmt, "-o", "report.out")
    assert code == 1 and out == "" and err == ""
    written = (project / "report.out").read_text(encoding="utf-8")
    assert "SL301" in written
    if fmt in ("json", "sarif"):
        json.loads(written)


def test_quiet_without_output_file_prints_nothing(project: Path) -> None:
    assert run("check", "-q") == (1, "", "")


# 2. Default excludes: a package named like a default pattern is checked; output folders are not.
@pytest.fixture()
def tree(project: Path) -> Path:
    for pkg in ("server", "server/features", "server/features/build", "app/env"):
        (project / pkg).mkdir(parents=True, exist_ok=True)
        (project / pkg / "__init__.py").write_text("", encoding="utf-8")
    for folder in ("server/features/build", "build/lib/app", "build", "env/lib", "env", "app/env", ".venv/lib"):
        (project / folder).mkdir(parents=True, exist_ok=True)
        (project / folder / "mod.py").write_text(BAD, encoding="utf-8")
    (project / ".venv" / "lib" / "mod.py").rename(project / ".venv" / "lib" / "site.py")
    (project / ".idea").mkdir()
    (project / ".gitignore").write_text(".idea/\n", encoding="utf-8")
    (project / ".git").mkdir()
    return project


def test_default_excludes_keep_packages_named_like_them(tree: Path) -> None:
    code, out, err = run("check", "--show-files")
    assert code == 0
    files = out.splitlines()
    assert "server/features/build/mod.py" in files and "app/env/mod.py" in files
    assert "build/lib/app/mod.py" not in files and "env/lib/mod.py" not in files and "build/mod.py" not in files
    assert "# excluded: build" in err and "# excluded: env" in err
    # A left-out folder without Python files at its top (a virtualenv, an IDE's folder) is not named.
    assert ".venv" not in err and ".idea" not in err


def test_an_explicit_exclude_still_prunes_a_package(tree: Path) -> None:
    (tree / "pyproject.toml").write_text('[tool.sightlint]\nextend-exclude = ["build"]\n', encoding="utf-8")
    code, out, _ = run("check", "--show-files")
    assert "server/features/build/mod.py" not in out.splitlines()
    (tree / "pyproject.toml").write_text('[tool.sightlint]\nexclude = ["build"]\n', encoding="utf-8")
    code, out, _ = run("check", "--show-files")
    assert "server/features/build/mod.py" not in out.splitlines() and "env/lib/mod.py" in out.splitlines()


def test_summary_counts_what_excludes_left_out(tree: Path) -> None:
    code, out, _ = run("check", "--no-source")
    assert "server/features/build/mod.py:3:9: SL301" in out
    assert "Left out by exclude patterns or .gitignore: build, env" in out
    data = json.loads(run("check", "--format", "json")[1])
    assert data["summary"]["excluded"] == ["build", "env"]


# 3. Files that cannot be parsed: the summary says chains through them are missing.
def test_unparsed_files_are_counted_with_their_consequence(project: Path) -> None:
    (project / "app" / "new.py").write_text("def f(:\n    pass\n", encoding="utf-8")
    code, out, _ = run("check", "--no-source")
    assert code == 1
    assert "1 file could not be read or parsed (SL000)" in out
    assert "cross-file chains through it are missing" in out
    assert f"Python {sys.version_info.major}.{sys.version_info.minor}" in out
    assert json.loads(run("check", "--format", "json")[1])["summary"]["files_not_parsed"] == 1


# 4. Summaries that do not contradict the exit code.
def test_unused_suppressions_do_not_say_all_checks_passed(project: Path) -> None:
    (project / "app" / "bad.py").write_text("x = 1  # noqa: SL301\ny = 2  # noqa: SL999\n", encoding="utf-8")
    code, out, _ = run("check", "--report-unused-suppressions")
    assert code == 1
    assert "All checks passed" not in out
    assert "No findings in 2 files, but 2 unused suppressions" in out
    assert "app/bad.py:1:1: unused suppression: SL301 not reported on this line" in out
    assert "app/bad.py:2:1: unknown rule code in suppression: SL999" in out
    sarif = json.loads(run("check", "--report-unused-suppressions", "--format", "sarif")[1])
    results = sarif["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["unused-suppression", "unused-suppression"]
    assert "unknown rule code" in results[1]["message"]["text"]
    data = json.loads(run("check", "--report-unused-suppressions", "--format", "json")[1])
    assert [u["line"] for u in data["unused_suppressions"]] == [1, 2]


def test_a_selection_that_enables_nothing_says_no_rule_ran(project: Path) -> None:
    code, out, err = run("check", "--ignore", "ALL")
    assert code == 0 and "All checks passed" not in out + err
    assert "No rules ran: the selection enables no rule" in err


def test_selecting_an_unavailable_rule_says_no_rule_ran(project: Path) -> None:
    from sightlint.registry import CATALOG

    pending = [e.meta.code for e in CATALOG if not e.available]
    if not pending:
        pytest.skip("every catalog rule is available (the --ignore ALL case is tested above)")
    code, out, err = run("check", "--select", pending[0])
    assert code == 0 and "All checks passed" not in out + err
    assert "No rules ran" in err and pending[0] in err
    code, out, err = run("check", "--select", pending[0], "--format", "sarif", "-o", "x.sarif", "-q")
    assert json.loads((project / "x.sarif").read_text(encoding="utf-8"))["runs"][0]["results"] == []
    # With every rule ignored, it says the selection enables nothing.
    code, out, err = run("check", "--ignore", "ALL")
    assert code == 0 and "No rules ran: the selection enables no rule" in err


def test_an_empty_folder_says_no_python_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("check", "--no-cache")
    assert code == 0 and "All checks passed" not in out
    assert "No Python files found" in out


# 5. A named non-Python file is skipped with a note, not parsed as Python.
def test_a_named_non_python_file_is_skipped_with_a_note(project: Path) -> None:
    (project / "README.md").write_text("# Title\n\nSome *text*.\n", encoding="utf-8")
    (project / "script").write_text(BAD, encoding="utf-8")
    code, out, _ = run("check", "README.md", "--no-source")
    assert code == 0 and "SL000" not in out
    assert "Skipped 1 named file that is not Python: README.md." in out
    code, out, _ = run("check", "script", "app/bad.py", "--format", "concise")
    assert code == 1 and out.count("SL301") == 2  # a file without a suffix is a script: checked, as ruff does


# 9. ruff habits and narrow terminals.
def test_check_fix_points_to_the_fix_command(project: Path) -> None:
    code, out, err = run("check", "--fix")
    assert code == 2 and "sightlint fix" in err


def test_jobs_zero_means_all_cores_and_is_documented(project: Path) -> None:
    assert run("check", "-j", "0", "--format", "concise")[0] == 1
    assert "(default, or 0: all cores;" in " ".join(run("check", "--help")[1].split())


def test_config_rows_fit_100_columns(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.sightlint]\nextend-exclude = ["' + '", "'.join(f"generated_{i}" for i in range(20)) + '"]\n',
        encoding="utf-8",
    )
    code, out, _ = run("config")
    assert code == 0
    table = [line for line in out.splitlines() if not line.startswith(("config file:", "project root:"))]
    assert max(len(line) for line in table) <= 100, max(table, key=len)
    assert "generated_19" in out


# 6. SARIF for GitHub code scanning.
REPLICA = Path(__file__).resolve().parents[1] / "fixtures" / "sight_app"


def test_sarif_for_github_code_scanning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    shutil.copytree(REPLICA / "app", tmp_path / "app")
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    monkeypatch.setenv("SIGHTLINT_NO_CACHE", "1")
    monkeypatch.chdir(tmp_path / "app" / "api")  # not the project root
    code, out, _ = run("check", "--format", "sarif", "../..")
    sarif = json.loads(out)["runs"][0]
    levels = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0"}
    for rule in sarif["tool"]["driver"]["rules"]:
        props = rule["properties"]
        assert "security" in props["tags"] and props["security-severity"] == levels[props["severity"]]
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["results"]
        for loc in [*r["locations"], *r.get("relatedLocations", [])]
    }
    assert uris and all(uri.startswith("app/") for uri in uris), uris
    assert all(
        loc["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        for r in sarif["results"] for loc in r["locations"]
    )
    chained = [r for r in sarif["results"] if r["ruleId"] == "SL101" and r.get("relatedLocations")]
    assert chained
    for r in chained:
        steps = r["codeFlows"][0]["threadFlows"][0]["locations"]
        assert len(steps) == len(r["relatedLocations"]) + 1
        assert all(step["location"]["message"]["text"] for step in steps)


# 7. Colour: --color, FORCE_COLOR, NO_COLOR; coloured diffs.
ANSI = "\x1b["


def test_color_option_and_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert ANSI not in run("check")[1]  # not a terminal
    assert ANSI in run("check", "--color", "always")[1]
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert ANSI in run("check")[1]
    assert ANSI not in run("check", "--color", "never")[1]
    monkeypatch.setenv("FORCE_COLOR", "0")
    assert ANSI not in run("check")[1]
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    assert ANSI not in run("check")[1]
    assert ANSI in run("check", "--color", "always")[1]
    assert ANSI not in run("check", "--color", "always", "--format", "concise")[1]  # machine formats never


def test_coloured_diffs() -> None:
    import io

    from sightlint.reporting import render_diff

    lines = ["--- a/x.py\n", "+++ b/x.py\n", "@@ -1 +1 @@\n", "-old\n", "+new\n", " same\n"]
    plain = io.StringIO()
    render_diff(lines, plain, color=False)
    assert plain.getvalue() == "".join(lines)
    coloured = io.StringIO()
    render_diff(lines, coloured, color=True)
    out = coloured.getvalue().splitlines()
    assert out[3] == "\x1b[31m-old\x1b[0m" and out[4] == "\x1b[32m+new\x1b[0m" and out[5] == " same"
    assert out[2].startswith("\x1b[36m@@")


# 8. Progress on a terminal's stderr only; --verbose says where the time went.
class _Terminal:
    def __init__(self) -> None:
        import io

        self.buffer = io.StringIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("not a real terminal")


def test_progress_bar_only_on_a_terminal_and_not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from sightlint.reporting.progress import for_stream

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    terminal = _Terminal()
    assert for_stream(terminal, quiet=False) is terminal  # type: ignore[arg-type]
    assert for_stream(terminal, quiet=True) is None  # type: ignore[arg-type]
    assert for_stream(io.StringIO(), quiet=False) is None  # a pipe or a file
    monkeypatch.setenv("CI", "true")
    assert for_stream(terminal, quiet=False) is None  # type: ignore[arg-type]


def test_progress_bar_draws_after_the_delay_and_clears() -> None:
    from sightlint.reporting.progress import DELAY, Timed

    now = [0.0]
    terminal = _Terminal()
    timed = Timed(terminal, clock=lambda: now[0])  # type: ignore[arg-type]
    timed.phase("finding files")
    timed.phase("checking files", 10)
    timed.advance(3)
    assert terminal.buffer.getvalue() == ""  # a quick run shows nothing
    now[0] = DELAY + 0.5
    timed.advance(2)
    timed.phase("cross-file rules")
    now[0] = DELAY + 2.0
    timed.close()
    drawn = terminal.buffer.getvalue()
    assert "checking files" in drawn or "cross-file rules" in drawn
    lines = timed.breakdown()
    assert [line.split()[0] for line in lines] == ["finding", "checking", "cross-file", "total"]
    assert "checking files (10 files)" in lines[1]


def test_verbose_says_where_the_time_went_on_stderr(project: Path) -> None:
    code, out, err = run("check", "--verbose", "--format", "concise")
    assert code == 1 and out.count("\n") == 1  # the report is untouched
    assert "Where the time went (2 files" in err
    for phase in ("finding files", "checking files (2 files)", "cross-file rules", "writing the report", "total"):
        assert phase in err
    assert "\x1b[" not in err  # no bar: stderr is not a terminal here


def test_json_format_doc_names_every_field(project: Path) -> None:
    (project / "app" / "bad.py").write_text(BAD + "x = 1  # noqa: SL301\n", encoding="utf-8")
    run("baseline")
    (project / "app" / "new.py").write_text(BAD, encoding="utf-8")
    data = json.loads(run("check", "--format", "json", "--report-unused-suppressions")[1])
    doc = (Path(__file__).resolve().parents[1] / "docs" / "json-format.md").read_text(encoding="utf-8")
    keys = set(data) | set(data["summary"]) | set(data["findings"][0]) | set(data["baseline"]) | set(data["unused_suppressions"][0])
    missing = sorted(k for k in keys if f"| `{k}` |" not in doc)
    assert not missing, f"docs/json-format.md does not document {missing}"


def test_sarif_uris_are_relative_to_the_repository_of_a_monorepo_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()  # the repository; the project is its server/ folder
    server = tmp_path / "server"
    (server / "app").mkdir(parents=True)
    (server / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    (server / "app" / "bad.py").write_text(BAD, encoding="utf-8")
    monkeypatch.setenv("SIGHTLINT_NO_CACHE", "1")
    monkeypatch.chdir(server / "app")
    sarif = json.loads(run("check", "--format", "sarif", ".")[1])["runs"][0]
    assert sarif["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "server/app/bad.py", "uriBaseId": "%SRCROOT%"}
    data = json.loads(run("check", "--format", "json", ".")[1])
    assert sarif["results"][0]["partialFingerprints"]["sightlint/v2"] == data["findings"][0]["fingerprint"]
