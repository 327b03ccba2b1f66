"""The reporters: exact lines for the line formats, schemas for JSON and SARIF, text rendering."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest

from sightlint import __version__
from sightlint.api import check_source
from sightlint.models import FileResult, Finding, FixSafety, RelatedLocation, RunResult, Severity, Span
from sightlint.registry import CATALOG
from sightlint.reporting import FORMATS, render, render_markdown, render_statistics
from sightlint.reporting.github import escape_property
from sightlint.settings import Settings

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
ESC = "\x1b["

SL301_SNIPPET = textwrap.dedent(
    """\
    from datetime import datetime, timedelta


    def expiry(minutes: int):
        return datetime.utcnow() + timedelta(minutes=minutes)


    def stamp():
        return datetime.utcnow()
    """
)


def make(
    code: str = "SL301",
    *,
    path: str = "app/a.py",
    line: int = 1,
    col: int = 0,
    end_line: int | None = None,
    end_col: int | None = None,
    message: str = "something is wrong",
    name: str = "naive-utcnow",
    severity: Severity = Severity.CRITICAL,
    fix: FixSafety = FixSafety.NONE,
    fix_title: str | None = None,
    related: tuple[RelatedLocation, ...] = (),
    detail: str | None = None,
) -> Finding:
    return Finding(
        code=code,
        name=name,
        severity=severity,
        message=message,
        path=path,
        span=Span(line, col, end_line or line, col + 3 if end_col is None else end_col),
        fix_safety=fix,
        fix_title=fix_title,
        related=related,
        detail=detail,
    )


def run_of(*findings: Finding, files: int | None = None, errors: list[str] | None = None,
           internal: list[str] | None = None) -> RunResult:
    by_path: dict[str, FileResult] = {}
    for f in findings:
        by_path.setdefault(f.path, FileResult(path=f.path)).findings.append(f)
    results = list(by_path.values())
    while len(results) < (files or 0):
        results.append(FileResult(path=f"clean{len(results)}.py"))
    if internal:
        results.append(FileResult(path="crash.py", errors=list(internal)))
    return RunResult(files=results, errors=list(errors or []))


def output(run: RunResult, fmt: str, **kwargs: Any) -> str:
    stream = io.StringIO()
    render(run, fmt, stream, **kwargs)
    return stream.getvalue()


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def sample() -> RunResult:
    return run_of(
        make("SL202", path="b.py", line=7, col=4, name="broad-exception-handler", severity=Severity.MEDIUM,
             message="Broad `except Exception`."),
        make("SL301", path="a.py", line=3, col=10, end_col=27, fix=FixSafety.UNSAFE, fix_title="Use aware now",
             message="naive datetime"),
        make("SL101", path="a.py", line=12, col=8, name="blocking-call-in-async", fix=FixSafety.SAFE,
             fix_title="Use asyncio.sleep", message="blocking call",
             related=(RelatedLocation("lib/util.py", 40, 4, "calls time.sleep"),), detail="first\nsecond"),
        files=4,
        errors=["missing.py: no such file"],
    )


# -- API ---------------------------------------------------------------------------


def test_formats_and_unknown_format() -> None:
    assert FORMATS == ("text", "concise", "json", "sarif", "github", "markdown", "html")
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        render(RunResult(), "xml", io.StringIO())


def test_only_text_format_imports_rich() -> None:
    code = (
        "import io, sys\n"
        "from sightlint.models import RunResult\n"
        "from sightlint.reporting import render\n"
        "for fmt in ('concise', 'json', 'sarif', 'github'):\n"
        "    render(RunResult(), fmt, io.StringIO())\n"
        "assert 'rich' not in sys.modules, 'rich imported'\n"
        "render(RunResult(), 'text', io.StringIO())\n"
        "assert 'rich' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- concise -------------------------------------------------------------------------


def test_concise_exact_lines(sample: RunResult) -> None:
    assert output(sample, "concise").splitlines() == [
        "a.py:3:11: SL301 naive datetime",
        "a.py:12:9: SL101 blocking call",
        "b.py:7:5: SL202 Broad `except Exception`.",
        "error: missing.py: no such file",
    ]


def test_concise_keeps_each_finding_on_one_line() -> None:
    run = run_of(make(path="we\nird[bold]:,%.py", message="two\nlines\r and \x1b[31mred"))
    assert output(run, "concise") == "we\\nird[bold]:,%.py:1:1: SL301 two\\nlines\\r and \\x1b[31mred\n"


def test_concise_lists_internal_errors_and_unused_suppressions() -> None:
    run = run_of(internal=["internal error in SL301 (naive-utcnow) at x.py:3: KeyError: 'a'"])
    run.files.append(FileResult(path="s.py", unused_suppressions=[(4, ("SL301",)), (9, None)]))
    assert output(run, "concise").splitlines() == [
        "error: internal error in SL301 (naive-utcnow) at x.py:3: KeyError: 'a'",
    ]
    assert output(run, "concise", unused_suppressions=True).splitlines() == [
        "s.py:4:1: unused suppression: SL301 not reported on this line",
        "s.py:9:1: unused suppression: `# noqa` without codes suppresses nothing here",
        "error: internal error in SL301 (naive-utcnow) at x.py:3: KeyError: 'a'",
    ]


def test_concise_from_engine_findings(tmp_path: Path) -> None:
    result = check_source(SL301_SNIPPET, "svc/tokens.py", Settings())
    assert output(RunResult(files=[result]), "concise").splitlines() == [
        "svc/tokens.py:5:12: SL301 `datetime.utcnow()` is deprecated and returns a naive datetime; use `datetime.now(timezone.utc)`, with `.replace(tzinfo=None)` where the value meets naive datetimes (a naive `DateTime` column).",
        "svc/tokens.py:9:12: SL301 `datetime.utcnow()` is deprecated and returns a naive datetime; use `datetime.now(timezone.utc)`, with `.replace(tzinfo=None)` where the value meets naive datetimes (a naive `DateTime` column).",
    ]


# -- github ----------------------------------------------------------------------------


def test_github_exact_lines(sample: RunResult) -> None:
    assert output(sample, "github").splitlines() == [
        "::error file=a.py,line=3,col=11,endLine=3,endColumn=28,title=SL301 naive-utcnow::naive datetime",
        "::error file=a.py,line=12,col=9,endLine=12,endColumn=12,title=SL101 blocking-call-in-async::blocking call",
        "::warning file=b.py,line=7,col=5,endLine=7,endColumn=8,title=SL202 broad-exception-handler::"
        "Broad `except Exception`.",
        "::error title=sightlint error::missing.py: no such file",
    ]


def test_github_escaping() -> None:
    assert escape_property("a%b\r\nc:d,e") == "a%25b%0D%0Ac%3Ad%2Ce"
    run = run_of(make(path="dir,x/a:b%\n.py", message="100% sure:\r\nnext, [bold]line", name="n,a:me"))
    assert output(run, "github") == (
        "::error file=dir%2Cx/a%3Ab%25%0A.py,line=1,col=1,endLine=1,endColumn=4,title=SL301 n%2Ca%3Ame"
        "::100%25 sure:%0D%0Anext, [bold]line\n"
    )


def test_github_unused_suppressions() -> None:
    run = RunResult(files=[FileResult(path="s.py", unused_suppressions=[(4, ("SL301",))])])
    assert output(run, "github") == ""
    assert output(run, "github", unused_suppressions=True) == (
        "::warning file=s.py,line=4,title=unused suppression::unused suppression: SL301 not reported on this line\n"
    )


# -- json --------------------------------------------------------------------------------


def test_json_schema_fields(sample: RunResult) -> None:
    data = json.loads(output(sample, "json"))
    assert data["sightlint_version"] == __version__
    assert data["schema_version"] == 1
    assert [f["code"] for f in data["findings"]] == ["SL301", "SL101", "SL202"]
    first, second, third = data["findings"]
    assert all(len(f.pop("fingerprint")) == 32 for f in data["findings"])  # tests/test_baseline.py
    assert first == {
        "code": "SL301",
        "name": "naive-utcnow",
        "severity": "critical",
        "message": "naive datetime",
        "path": "a.py",
        "line": 3,
        "column": 11,
        "end_line": 3,
        "end_column": 28,
        "fix": {"safety": "unsafe", "title": "Use aware now"},
        "related": [],
        "detail": None,
        "chain_paths": [],
    }
    assert second["fix"] == {"safety": "safe", "title": "Use asyncio.sleep"}
    assert second["related"] == [{"path": "lib/util.py", "line": 40, "column": 5, "message": "calls time.sleep"}]
    assert second["detail"] == "first\nsecond"
    assert third["severity"] == "medium" and third["fix"] is None
    assert data["errors"] == ["missing.py: no such file"]
    assert data["internal_errors"] == []
    assert data["summary"] == {"files": 4, "findings": 3, "by_code": {"SL101": 1, "SL202": 1, "SL301": 1},
                               "fixable": 2, "files_not_parsed": 0, "excluded": [], "not_python": []}
    assert "unused_suppressions" not in data


def test_json_names_the_folder_relative_paths_are_relative_to(tmp_path: Path) -> None:
    # Without it a reader cannot find the sources (/work/shared/tools/sample_findings.py).
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n", encoding="utf-8")
    (project / "app" / "m.py").write_text("from datetime import datetime\nx = datetime.utcnow()\n", encoding="utf-8")
    for cwd, arg in ((project, "."), (tmp_path, "proj")):
        done = subprocess.run(
            [sys.executable, "-m", "sightlint", "check", "--format", "json", "--no-cache", "--exit-zero", "--select", "SL301", arg],
            cwd=cwd, capture_output=True, text=True, check=True,
        )
        data = json.loads(done.stdout)
        assert data["root"] == str(cwd) and data["project_root"] == str(project)
        (finding,) = data["findings"]
        assert Path(data["root"], finding["path"]).read_text(encoding="utf-8").splitlines()[1] == "x = datetime.utcnow()"
    assert json.loads(output(RunResult(), "json"))["root"] is None  # a result not built from paths


def test_json_round_trips_awkward_text() -> None:
    path = 'd\u00e9j\u00e0 vu/"q\'uo[bold]te"\n%:,.py'
    message = "line1\nline2 \u2603 \U0001f600 [red]x[/red] \\ \"quoted\""
    run = run_of(make(path=path, message=message), internal=["boom: \u00e9"])
    text = output(run, "json")
    assert text.isascii()  # whatever the stream's encoding
    data = json.loads(text)
    assert data["findings"][0]["path"] == path
    assert data["findings"][0]["message"] == message
    assert data["internal_errors"] == ["boom: \u00e9"]


def test_json_unused_suppressions_on_request() -> None:
    run = RunResult(files=[FileResult(path="s.py", unused_suppressions=[(2, None), (5, ("SL101", "SL301"))])])
    data = json.loads(output(run, "json", unused_suppressions=True))
    assert data["unused_suppressions"] == [
        {"path": "s.py", "line": 2, "codes": None, "message": "unused suppression: `# noqa` without codes suppresses nothing here"},
        {"path": "s.py", "line": 5, "codes": ["SL101", "SL301"], "message": "unused suppression: SL101, SL301 not reported on this line"},
    ]


# -- sarif ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def sarif_of(run: RunResult, validator: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(output(run, "sarif"))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return data


def test_sarif_is_valid_and_complete(sample: RunResult, sarif_validator: Any) -> None:
    data = sarif_of(sample, sarif_validator)
    assert data["version"] == "2.1.0" and data["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = data["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "sightlint" and driver["version"] == __version__
    expected_rules = {e.meta.code for e in CATALOG if e.available}
    assert "SL000" in expected_rules and "SL301" in expected_rules
    rule_ids = [r["id"] for r in driver["rules"]]
    # Implemented rules and SL000, plus catalog entries for codes that were reported.
    # A finding graded away from its rule's severity gets a descriptor of its own (GitHub
    # reads security-severity from the rule): the sample's SL301 is critical.
    assert expected_rules <= set(rule_ids) and set(rule_ids) <= expected_rules | {"SL101", "SL202", "SL301/critical"}
    assert len(rule_ids) == len(set(rule_ids))
    sl301 = driver["rules"][rule_ids.index("SL301")]
    assert sl301["name"] == "naive-utcnow"
    assert sl301["helpUri"].endswith("/docs/rules/SL301.md")
    assert sl301["help"]["markdown"].startswith("## What it flags")
    assert sl301["fullDescription"]["text"].startswith("Calls to `datetime.utcnow()`")
    assert sl301["defaultConfiguration"]["level"] == "warning"
    assert sl301["properties"] == {"tags": ["time", "security"], "severity": "medium", "security-severity": "5.5", "audit": "\u00a79"}
    graded = driver["rules"][rule_ids.index("SL301/critical")]
    assert graded["properties"]["security-severity"] == "9.5" and graded["helpUri"] == sl301["helpUri"]

    results = run["results"]
    assert [r["ruleId"] for r in results] == ["SL301/critical", "SL101", "SL202"]
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    assert [r["level"] for r in results] == ["error", "error", "warning"]
    first = results[0]
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "a.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 3, "startColumn": 11, "endLine": 3, "endColumn": 28},
    }
    assert "relatedLocations" not in first and "codeFlows" not in first
    chained = results[1]
    assert chained["message"]["text"] == "blocking call\n\nfirst\nsecond"
    assert chained["relatedLocations"] == [{
        "id": 1,
        "physicalLocation": {"artifactLocation": {"uri": "lib/util.py", "uriBaseId": "%SRCROOT%"},
                             "region": {"startLine": 40, "startColumn": 5}},
        "message": {"text": "calls time.sleep"},
    }]
    steps = chained["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [s["location"]["physicalLocation"]["region"]["startLine"] for s in steps] == [12, 40]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is True
    assert [n["message"]["text"] for n in invocation["toolExecutionNotifications"]] == ["missing.py: no such file"]


def test_sarif_schema_check_is_not_vacuous(sample: RunResult, sarif_validator: Any) -> None:
    data = sarif_of(sample, sarif_validator)
    data["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startColumn"] = 0
    assert not sarif_validator.is_valid(data)
    del data["runs"][0]["tool"]
    assert not sarif_validator.is_valid(data)


def test_sarif_internal_errors_mark_execution_failed(sarif_validator: Any) -> None:
    data = sarif_of(run_of(internal=["internal error in SL301: boom"]), sarif_validator)
    (invocation,) = data["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0] == {
        "level": "error", "message": {"text": "internal error in SL301: boom"}}
    assert data["runs"][0]["results"] == []


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("src/my file%.py", "src/my%20file%25.py"),
        ("./pkg/x.py", "pkg/x.py"),
        ("d\u00e9j\u00e0/[bold]#?.py", "d%C3%A9j%C3%A0/%5Bbold%5D%23%3F.py"),
        ("a:b,c.py", "a%3Ab%2Cc.py"),
        ("new\nline.py", "new%0Aline.py"),
    ],
)
def test_sarif_uris_are_percent_encoded(path: str, uri: str, sarif_validator: Any) -> None:
    data = sarif_of(run_of(make(path=path, message="m\n[bold]%:,")), sarif_validator)
    location = data["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": uri, "uriBaseId": "%SRCROOT%"}
    assert unquote(uri) == path.removeprefix("./")
    assert data["runs"][0]["results"][0]["message"]["text"] == "m\n[bold]%:,"


def test_sarif_absolute_path_is_a_file_uri(sarif_validator: Any) -> None:
    data = sarif_of(run_of(make(path="/srv/app x/a.py")), sarif_validator)
    location = data["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "file:///srv/app%20x/a.py"}
    assert urlsplit(location["uri"]).scheme == "file"


def test_sarif_unknown_code_still_gets_a_descriptor(sarif_validator: Any) -> None:
    data = sarif_of(run_of(make("XY123", name="plugin-rule")), sarif_validator)
    rules = data["runs"][0]["tool"]["driver"]["rules"]
    result = data["runs"][0]["results"][0]
    assert rules[result["ruleIndex"]]["id"] == "XY123"


def _fingerprints(tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    monkeypatch.chdir(tmp_path)
    Path("svc").mkdir(exist_ok=True)
    Path("svc/tokens.py").write_text(source, encoding="utf-8")
    run = RunResult(files=[check_source(source, "svc/tokens.py", Settings())])
    results = json.loads(output(run, "sarif"))["runs"][0]["results"]
    return [
        (r["locations"][0]["physicalLocation"]["region"]["startLine"], r["partialFingerprints"]["sightlint/v2"])
        for r in results
    ]


def test_sarif_fingerprints_survive_a_line_inserted_above(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _fingerprints(tmp_path, SL301_SNIPPET, monkeypatch)
    after = _fingerprints(tmp_path, "\n" + SL301_SNIPPET, monkeypatch)
    assert [line for line, _ in before] == [5, 9]
    assert [line for line, _ in after] == [6, 10]
    assert [fp for _, fp in before] == [fp for _, fp in after]
    assert len({fp for _, fp in before}) == 2  # different lines, different fingerprints
    # Same code, path and line text twice: the occurrence index tells them apart.
    twice = SL301_SNIPPET.replace("def stamp():\n    return datetime.utcnow()", "def stamp():\n    return datetime.utcnow()\n"
                                  "    return datetime.utcnow()")
    changed = _fingerprints(tmp_path, twice, monkeypatch)
    assert len(changed) == 3 and len({fp for _, fp in changed}) == 3
    assert changed[1][1] == before[1][1]
    # An edit next to the flagged call keeps it (the call is what is flagged); an edit of
    # the call changes it (more in tests/test_baseline.py).
    edited = _fingerprints(tmp_path, SL301_SNIPPET.replace("minutes=minutes", "minutes=2"), monkeypatch)
    assert edited[0][1] == before[0][1] and edited[1][1] == before[1][1]
    edited = _fingerprints(tmp_path, "import datetime as dt\n" + SL301_SNIPPET.replace("return datetime.utcnow() +", "return dt.datetime.utcnow() +"), monkeypatch)
    assert edited[0][1] != before[0][1] and edited[1][1] == before[1][1]


# -- text ----------------------------------------------------------------------------------


def test_text_layout_with_source_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("svc").mkdir()
    Path("svc/tokens.py").write_text(SL301_SNIPPET, encoding="utf-8")
    result = check_source(SL301_SNIPPET, "svc/tokens.py", Settings())
    text = output(RunResult(files=[result, FileResult(path="other.py")]), "text")
    assert ESC not in text
    msg = "`datetime.utcnow()` is deprecated and returns a naive datetime; use `datetime.now(timezone.utc)`, with `.replace(tzinfo=None)` where the value meets naive datetimes (a naive `DateTime` column)."
    fix = "  fix available (safe): Keep the value naive: `datetime.now(timezone.utc).replace(tzinfo=None)`"
    assert text.splitlines() == [
        f"svc/tokens.py:5:12: SL301 [medium] {msg}",
        "3 | ",
        "4 | def expiry(minutes: int):",
        "5 |     return datetime.utcnow() + timedelta(minutes=minutes)",
        "  |            ^^^^^^^^^^^^^^^^^",
        "6 | ",
        fix,
        "",
        f"svc/tokens.py:9:12: SL301 [medium] {msg}",
        "7 | ",
        "8 | def stamp():",
        "9 |     return datetime.utcnow()",
        "  |            ^^^^^^^^^^^^^^^^^",
        fix,
        "",
        "Found 2 findings in 1 of 2 files (2 fixable).",
    ]


def test_text_caret_under_wide_and_tab_characters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("w.py").write_text("x = 1\n\tv = '\u65e5\u672c'; f()\n", encoding="utf-8")
    # `f()` is characters 11-13 of the line (the tab counts as one character); on screen the
    # tab is four columns and each CJK character two.
    text = output(run_of(make(path="w.py", line=2, col=11, end_col=14)), "text")
    assert text.splitlines()[:5] == [
        "w.py:2:12: SL301 [critical] something is wrong",
        "1 | x = 1",
        "2 |     v = '\u65e5\u672c'; f()",
        "  | " + " " * 16 + "^^^",
        "",
    ]


def test_text_without_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.py").write_text("a = 1\n", encoding="utf-8")
    run = run_of(make(path="a.py"), make(path="gone.py"), make(path="bin.py"))
    Path("bin.py").write_bytes(b"\x00\x01")
    lines = output(run, "text").splitlines()
    assert lines[:3] == ["a.py:1:1: SL301 [critical] something is wrong", "1 | a = 1", "  | ^^^"]
    assert "bin.py:1:1: SL301 [critical] something is wrong" in lines
    assert "gone.py:1:1: SL301 [critical] something is wrong" in lines
    assert len([line for line in lines if " | " in line]) == 2
    no_source = output(run, "text", show_source=False).splitlines()
    assert not [line for line in no_source if " | " in line]


def test_text_fix_chain_and_detail(sample: RunResult) -> None:
    lines = output(sample, "text").splitlines()
    assert lines[:7] == [
        "a.py:3:11: SL301 [critical] naive datetime",
        "  fix available (unsafe: needs --unsafe-fixes): Use aware now",
        "",
        "a.py:12:9: SL101 [critical] blocking call",
        "  fix available (safe): Use asyncio.sleep",
        "    first",
        "    second",
    ]
    assert not any("via" in line for line in lines)
    assert "b.py:7:5: SL202 [medium] Broad `except Exception`." in lines
    assert lines[-3:] == [
        "error: missing.py: no such file",
        "",
        "Found 3 findings in 2 of 4 files (2 fixable, 1 of them only with --unsafe-fixes).",
    ]
    chained = output(sample, "text", show_chains=True).splitlines()
    assert chained[5] == "  via lib/util.py:40:5 calls time.sleep"


def test_text_all_passed_and_errors() -> None:
    assert output(run_of(files=3), "text") == "All checks passed (3 files).\n"
    lines = output(run_of(files=1, internal=["internal error in SL301: boom"]), "text").splitlines()
    assert lines[0] == "error: internal error in SL301: boom"
    assert lines[-1] == "No findings in 2 files, but 1 error (listed above)."


def test_text_colour_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    run = run_of(make(fix=FixSafety.SAFE))
    assert ESC not in output(run, "text")  # StringIO is not a terminal
    tty = FakeTTY()
    render(run, "text", tty)
    assert ESC in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    tty = FakeTTY()
    render(run, "text", tty)
    assert ESC not in tty.getvalue()
    # An explicit choice wins over both.
    assert ESC in output(run, "text", color=True)
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    tty = FakeTTY()
    render(run, "text", tty, color=False)
    assert ESC not in tty.getvalue()


@pytest.mark.parametrize("color", [False, True])
def test_text_markup_in_paths_and_messages_is_printed_as_is(color: bool) -> None:
    run = run_of(make(path="[bold red]x[/bold red].py", message="see [link=http://e.x]here[/link] :smile:",
                      detail="[b]d[/b]"))
    text = output(run, "text", color=color)
    plain = text if not color else _strip_ansi(text)
    assert "[bold red]x[/bold red].py:1:1: SL301 [critical] see [link=http://e.x]here[/link] :smile:" in plain
    assert "    [b]d[/b]" in plain


def test_text_escapes_control_characters_in_names() -> None:
    text = output(run_of(make(path="evil\x1b[31m\n.py", message="a\nb")), "text", color=False)
    assert ESC not in text
    assert text.splitlines()[0] == "evil\\x1b[31m\\n.py:1:1: SL301 [critical] a\\nb"


def test_text_long_lines_are_not_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    message = "word " * 80
    path = "deep/" * 20 + "module.py"
    lines = output(run_of(make(path=path, message=message.strip())), "text").splitlines()
    assert lines[0] == f"{path}:1:1: SL301 [critical] {message.strip()}"


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\", "", text)


# -- statistics -----------------------------------------------------------------------------


def test_statistics_table(sample: RunResult) -> None:
    run = run_of(*sample.findings, make("SL301", path="c.py", fix=FixSafety.UNSAFE), files=4)
    stream = io.StringIO()
    render_statistics(run, stream)
    assert stream.getvalue().splitlines() == [
        "CODE   NAME                     COUNT  FIXABLE",
        "SL301  naive-utcnow                 2  2 (unsafe)",
        "SL101  blocking-call-in-async       1  1 (safe)",
        "SL202  broad-exception-handler      1  -",
    ]
    stream = io.StringIO()
    render_statistics(run_of(files=2), stream)
    assert stream.getvalue() == "No findings (2 files checked).\n"


def test_markdown_rendering_is_plain_off_a_terminal() -> None:
    stream = io.StringIO()
    render_markdown("# SL301\n\nUse `datetime.now(timezone.utc)` [bold]here[/bold].\n", stream)
    text = stream.getvalue()
    assert ESC not in text
    assert "SL301" in text and "datetime.now(timezone.utc)" in text and "[bold]here[/bold]" in text


def test_json_layout_is_one_finding_per_line_and_parses() -> None:
    import io as _io
    import json as _json

    from sightlint.api import check_source
    from sightlint.models import RunResult
    from sightlint.reporting import render
    from sightlint.settings import Settings

    source = "from datetime import datetime\na = datetime.utcnow()\nb = datetime.utcnow()\n"
    run = RunResult(files=[check_source(source, "m.py", Settings())])
    out = _io.StringIO()
    render(run, "json", out)
    text = out.getvalue()
    assert [f["line"] for f in _json.loads(text)["findings"]] == [2, 3]
    finding_lines = [line for line in text.splitlines() if line.startswith('    {"code"')]
    assert len(finding_lines) == 2
    assert all(_json.loads(line.rstrip(","))["code"] == "SL301" for line in finding_lines)


# -- columns count characters, for cross-file findings too -------------------------------------

NON_ASCII_UTIL = 'import time\n\n\ndef pause():\n    label = "łódź"; time.sleep(1)\n'
NON_ASCII_API = (
    "import asyncio\n"
    "import time\n"
    "\n"
    "from pkg.util import pause\n"
    "\n"
    "\n"
    "async def handler():\n"
    '    note = "żółw"; pause()\n'
    "\n"
    "\n"
    "async def probe():\n"
    '    s = "ĄĘ"; time.sleep(2)\n'
    "\n"
    "\n"
    "async def main():\n"
    '    žluť = "ß"; await asyncio.wait_for(probe(), timeout=2)\n'
)


def _column(text: str, line: int, needle: str) -> int:
    """1-based character column of ``needle`` on ``line`` (1-based) of ``text``."""
    return text.splitlines()[line - 1].index(needle) + 1


@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "cached"])
def test_cross_file_columns_count_characters(
    cache: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sarif_validator: Any
) -> None:
    from click.testing import CliRunner

    from sightlint.cli import main

    (tmp_path / "pyproject.toml").write_text(f'[tool.sightlint]\ncache-dir = "{tmp_path / "cache"}"\n', encoding="utf-8")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "util.py").write_text(NON_ASCII_UTIL, encoding="utf-8")
    (tmp_path / "pkg" / "api.py").write_text(NON_ASCII_API, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    args = ["check", "--select", "SL101,SL102", "-j", "1", *([] if cache else ["--no-cache"]), "pkg"]
    runs = 2 if cache else 1  # the second run reads the project graph back from the cache
    for _ in range(runs):
        as_json = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).output)
        as_sarif = json.loads(CliRunner().invoke(main, [*args, "--format", "sarif"]).output)

    findings = {(f["code"], f["path"], f["line"]): f for f in as_json["findings"]}
    sleep = findings["SL101", "pkg/util.py", 5]
    start = _column(NON_ASCII_UTIL, 5, "time.sleep")
    assert (sleep["column"], sleep["end_column"]) == (start, start + len("time.sleep(1)"))
    assert sleep["column"] == 21  # 24 when columns counted bytes
    # The hop from `handler` to `pause` sits on a line with non-ASCII text before the call.
    hops = [(r["path"], r["line"], r["column"]) for r in sleep["related"]]
    assert hops == [("pkg/api.py", 8, _column(NON_ASCII_API, 8, "pause()")), ("pkg/util.py", 5, sleep["column"])]
    direct = findings["SL101", "pkg/api.py", 12]
    assert direct["column"] == _column(NON_ASCII_API, 12, "time.sleep")
    timeout = findings["SL102", "pkg/api.py", 16]
    assert timeout["column"] == _column(NON_ASCII_API, 16, "asyncio.wait_for")
    assert timeout["end_column"] == len(NON_ASCII_API.splitlines()[15]) + 1
    assert timeout["related"] == [
        {"path": "pkg/api.py", "line": 11, "column": 1, "message": "`probe`"},
        {"path": "pkg/api.py", "line": 12, "column": direct["column"], "message": "`time.sleep` blocks"},
    ]

    errors = sorted(sarif_validator.iter_errors(as_sarif), key=lambda e: list(e.absolute_path))
    assert not errors
    (run,) = as_sarif["runs"]
    assert run["columnKind"] == "unicodeCodePoints"
    by_place = {
        (r["ruleId"].split("/")[0], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
         r["locations"][0]["physicalLocation"]["region"]["startLine"]): r
        for r in run["results"]
    }
    # SARIF columns are 1-based like the JSON ones, and endColumn is the column after the last character.
    for (code, path, line), finding in findings.items():
        region = by_place[code, path, line]["locations"][0]["physicalLocation"]["region"]
        assert (region["startColumn"], region["endColumn"]) == (finding["column"], finding["end_column"])
    related = by_place["SL101", "pkg/util.py", 5]["relatedLocations"]
    assert [r["physicalLocation"]["region"]["startColumn"] for r in related] == [column for _, _, column in hops]


def test_low_findings_are_printed_as_notes_and_fail_only_when_asked() -> None:
    from sightlint.cli import exit_code
    from sightlint.settings import Settings

    low = make(severity=Severity.LOW, message="latent: safe on one event loop")
    run = run_of(low)
    assert "[low]" in output(run, "text", show_source=False)
    assert json.loads(output(run, "json"))["findings"][0]["severity"] == "low"
    assert json.loads(output(run, "sarif"))["runs"][0]["results"][0]["level"] == "note"
    assert output(run, "github").startswith("::notice ")
    assert exit_code(run, Settings()) == 0  # default fail-on: medium
    assert exit_code(run, Settings(fail_on=Severity.LOW)) == 1
    assert exit_code(run_of(make(severity=Severity.MEDIUM)), Settings()) == 1
    assert Severity.parse("low") is Severity.LOW < Severity.MEDIUM


@pytest.mark.parametrize(
    "finding",
    [
        Finding("SL101", "blocking-call", Severity.HIGH, "plain", "app/a.py", Span(3, 4, 3, 20)),
        Finding("SL101", "blocking-call", Severity.LOW, "m\u00e9\n\t\u2028 \U0001F600 \"q\"", "d\u00e9/a.py", Span(1, 0, 9, 7), detail="d\u00e9"),
        Finding(
            "SL102", "n", Severity.MEDIUM, "m", "a.py", Span(2, 0, 2, 1), FixSafety.SAFE, None,
            (RelatedLocation("b.py", 1, 2, "via \\ here"), RelatedLocation("c.py", 3, 0, "")), None, ("b.py", "c\u00e9.py"),
        ),  # fmt: skip
        Finding("SL103", "n", Severity.CRITICAL, "", "a.py", Span(0, 0, 0, 0), FixSafety.UNSAFE, "title", (), "", ("x",), (1, 2)),
    ],
)
def test_json_finding_line_is_the_encoders_text(finding: Finding) -> None:
    """The JSON report writes each finding's line itself: the same text the encoder gives."""
    from sightlint.reporting import json_format

    encode = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
    fingerprint = "0123456789abcdef0123456789abcdef"
    assert json_format._finding_line(finding, fingerprint, encode) == encode(json_format.finding_dict(finding, fingerprint))
