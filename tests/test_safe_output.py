"""Hostile text in findings cannot break, forge or escape the output of any format.

File names are chosen by whoever wrote the repository, and messages quote them (and the
code): a name can hold terminal escape sequences, newlines, bidirectional overrides,
rich markup, and the ``::``, ``,`` and ``%`` that GitHub workflow commands use. Each
format must keep each finding where it belongs (its own line(s) / its own JSON value),
never emit a raw control character, never interpret markup, and stay valid (JSON,
SARIF against its schema). The HTML format has its own tests where it is built.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import jsonschema
import pytest

from sightlint.models import FileResult, Finding, FixSafety, RelatedLocation, RunResult, Severity, Span
from sightlint.reporting import FORMATS, render

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))

HOSTILE = [
    "esc\x1b[2J\x1b]0;title\x07.py",  # clear screen, set the window title
    "new\nline::error file=x.py,line=1::forged.py",  # a forged annotation on its own line
    "pct%0Aa%25,b::c.py",  # GitHub's own escapes, already escaped
    "[bold red]markup[/bold red][link=http://evil]x.py",  # rich markup
    "bidi\u202eyp.txt\u202c.py",  # shows as "bidi" + reversed text
    "c1\x9b31m\x7f\x00.py",  # 8-bit CSI, DEL, NUL
    "cr\rcarriage.py",
    "sep\u2028line.py",
    'quote"back\\slash.py',
]
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def hostile_run() -> RunResult:
    files = []
    for i, path in enumerate(HOSTILE):
        finding = Finding(
            code="SL301",
            name="naive-utcnow",
            severity=Severity.HIGH if i % 2 else Severity.MEDIUM,
            message=f"message of {path} with [red]markup[/red] and \x1b[31mred\x1b[0m",
            path=path,
            span=Span(3, 4, 3, 9),
            fix_safety=FixSafety.SAFE,
            fix_title=f"fix {path}",
            related=(RelatedLocation(f"lib/{path}", 7, 0, f"calls {path}"),),
            detail=f"detail\nof {path}",
            chain_paths=(f"lib/{path}",),
        )
        files.append(FileResult(path=path, findings=[finding], unused_suppressions=[(5, ("SL101",))]))
    files.append(FileResult(path="crash.py", errors=[f"internal error at {HOSTILE[0]}: KeyError: '\x1b[2J'"]))
    return RunResult(files=files, errors=[f"{HOSTILE[1]}: cannot read file: \x1b]8;;http://evil\x07"])


def output(fmt: str, **kwargs: object) -> str:
    stream = io.StringIO()
    render(hostile_run(), fmt, stream, unused_suppressions=True, **kwargs)  # type: ignore[arg-type]
    return stream.getvalue()


def test_every_existing_format_is_covered() -> None:
    assert set(FORMATS) <= {"text", "concise", "json", "sarif", "github", "html", "markdown"}


@pytest.mark.parametrize("fmt", ["text", "concise", "github"])
def test_line_formats_write_no_raw_control_characters(fmt: str) -> None:
    text = output(fmt, show_chains=True) if fmt == "text" else output(fmt)
    assert not RAW_CONTROL.findall(text), sorted(set(RAW_CONTROL.findall(text)))
    assert "\r" not in text


@pytest.mark.parametrize("fmt", ["text", "concise"])
def test_line_formats_keep_each_finding_on_its_own_line(fmt: str) -> None:
    lines = output(fmt, show_source=False).splitlines()
    headers = [line for line in lines if ": SL301 " in line]
    assert len(headers) == len(HOSTILE)
    for path, line in zip(sorted(HOSTILE), headers):
        assert line.startswith(one_line_of(path) + ":3:5: SL301 "), (path, line)
    # Nothing forged a line of its own.
    assert not any(line.startswith(("line::error", "::error file=x.py")) for line in lines)


def one_line_of(path: str) -> str:
    from sightlint.reporting._common import one_line

    return one_line(path)


def test_text_does_not_interpret_markup() -> None:
    text = output("text", color=True, show_source=False)
    assert "[bold red]markup[/bold red][link=http://evil]x.py:3:5" in re.sub("\x1b\\[[0-9;]*m", "", text)
    assert "\x1b]8;" not in text  # no hyperlink was made of [link=...]
    assert "with [red]markup[/red] and \\x1b[31mred\\x1b[0m" in text
    # rich's own colours are the only escape sequences left: SGR, nothing else.
    assert set(re.findall("\x1b(.)", text)) <= {"["}
    assert not re.findall("\x1b\\[[0-9;]*[A-Za-ln-z]", text)


def test_github_annotations_cannot_be_forged() -> None:
    lines = output("github").splitlines()
    assert all(line.startswith("::") for line in lines), lines
    findings = [line for line in lines if "title=SL301" in line]
    assert len(findings) == len(HOSTILE)
    for line in findings:
        name, _, rest = line[2:].partition(" ")
        properties, sep, message = rest.partition("::")
        assert name in ("warning", "error") and sep == "::"
        assert "::" not in properties and "\n" not in message
        fields = dict(item.split("=", 1) for item in properties.split(","))
        assert set(fields) == {"file", "line", "col", "endLine", "endColumn", "title"}, fields
        assert (fields["line"], fields["col"]) == ("3", "5")
    unescape = {"%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ",", "%25": "%"}
    first = dict(item.split("=", 1) for item in findings[0][2:].partition(" ")[2].partition("::")[0].split(","))
    decoded = re.sub("%(0D|0A|3A|2C|25)", lambda m: unescape[m.group(0)], first["file"])
    assert decoded == one_line_of(sorted(HOSTILE)[0]).replace("\\n", "\n") or decoded in {one_line_of(p) for p in HOSTILE} | set(HOSTILE)
    pct = next(line for line in findings if "pct" in line)
    assert "file=pct%250Aa%2525%2Cb%3A%3Ac.py," in pct  # the runner decodes it back to the name, not a newline


def test_json_round_trips_every_string() -> None:
    data = json.loads(output("json"))
    assert sorted(f["path"] for f in data["findings"]) == sorted(HOSTILE)
    for f in data["findings"]:
        assert f["message"] == f"message of {f['path']} with [red]markup[/red] and \x1b[31mred\x1b[0m"
    assert data["errors"] == [f"{HOSTILE[1]}: cannot read file: \x1b]8;;http://evil\x07"]
    raw = output("json")
    assert not RAW_CONTROL.findall(raw.replace("\n", "")), "JSON escapes control characters"


def test_sarif_is_valid_and_its_uris_name_the_files() -> None:
    raw = output("sarif")
    assert not RAW_CONTROL.findall(raw.replace("\n", ""))
    data = json.loads(raw)
    jsonschema.validate(data, SCHEMA)
    results = [r for r in data["runs"][0]["results"] if r["ruleId"].split("/")[0] == "SL301"]  # "SL301/high": a severity override
    uris = sorted(unquote(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results)
    assert uris == sorted(HOSTILE)  # a backslash is part of a POSIX name, not a separator
    for result in results:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert re.fullmatch(r"[A-Za-z0-9._~%/!$&'()*+,;=:@-]+", uri), uri  # RFC 3986 characters only


# -- through the command line, with real files ----------------------------------------------


@pytest.fixture()
def named(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    body = "from datetime import datetime\n\nstamp = datetime.utcnow()\n"
    for name in HOSTILE:
        if "\x00" in name:
            continue  # the one character a file name cannot hold (with "/")
        (tmp_path / name.replace("/", "_")).write_text(body, encoding="utf-8")
    (tmp_path / "broken\x1b[2J.py").write_text("def f(:\n", encoding="utf-8")
    return tmp_path


def sightlint(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "SIGHTLINT_NO_CACHE": "1", "FORCE_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "sightlint", *args], cwd=cwd, env=env, capture_output=True, timeout=120)


@pytest.mark.parametrize("fmt", ["text", "concise", "github"])
def test_check_output_on_hostile_file_names(named: Path, fmt: str) -> None:
    done = sightlint(named, "check", "--format", fmt)
    assert done.returncode == 1, done.stderr
    text = done.stdout.decode() + done.stderr.decode()
    stripped = re.sub("\x1b\\[[0-9;]*m", "", text)  # the colours the text format may add
    assert not RAW_CONTROL.findall(stripped.replace("\r", "")), sorted(set(RAW_CONTROL.findall(stripped)))
    assert "\r" not in text
    assert "broken\\x1b[2J.py" in text


def test_fix_output_on_hostile_file_names(named: Path) -> None:
    done = sightlint(named, "fix", "--diff")
    # FORCE_COLOR colours the diff (as on a terminal): its own colour codes aside, nothing raw.
    out, err = re.sub("\x1b\\[[0-9;]*m", "", done.stdout.decode()), done.stderr.decode()
    assert not RAW_CONTROL.findall(err), err
    headers = [line for line in out.splitlines() if line.startswith(("--- ", "+++ "))]
    assert len(headers) == 2 * (len(HOSTILE) - 1)
    assert '--- "a/esc\\033[2J\\033]0;title\\a.py"' in headers  # git's quoting (BEL is \a there)
    assert not any(RAW_CONTROL.search(line) for line in headers)
    done = sightlint(named, "fix", "--check")
    err = done.stderr.decode() + done.stdout.decode()
    assert not RAW_CONTROL.findall(err), err
    assert "Would fix 1 finding(s) in esc\\x1b[2J\\x1b]0;title\\x07.py" in err
    done = sightlint(named, "fix", "--show-fixes")
    text = done.stderr.decode() + done.stdout.decode()
    stripped = re.sub("\x1b\\[[0-9;]*m", "", text)  # the colours the text format may add
    assert not RAW_CONTROL.findall(stripped), sorted(set(RAW_CONTROL.findall(stripped)))
    assert "\r" not in text
    assert "esc\\x1b[2J\\x1b]0;title\\x07.py: 1 × SL301" in stripped
    assert "broken\\x1b[2J.py:1:" in stripped and "SL000" in stripped  # what remains, as check reports it


@pytest.mark.parametrize("fmt", sorted({"markdown", "html"} & set(FORMATS)))
def test_report_formats_write_no_raw_control_characters(fmt: str) -> None:
    text = output(fmt)
    assert not RAW_CONTROL.findall(text), sorted(set(RAW_CONTROL.findall(text)))
    assert "\r" not in text


@pytest.mark.skipif("html" not in FORMATS, reason="no HTML format")
def test_html_escapes_markup_in_paths_and_messages() -> None:
    from html.parser import HTMLParser

    path = "<img src=x onerror=alert(1)>&amp;.py"
    run = RunResult(files=[FileResult(path=path, findings=[Finding(
        code="SL301", name="naive-utcnow", severity=Severity.HIGH, message="a <script>alert(1)</script> message",
        path=path, span=Span(3, 4, 3, 9))])])  # fmt: skip
    stream = io.StringIO()
    render(run, "html", stream)
    text = stream.getvalue()
    tags: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append(tag)

    Tags().feed(text)
    assert "img" not in tags and tags.count("script") == text.count("<script")  # only the report's own, if any
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;amp;.py" in text
    assert "a &lt;script&gt;alert(1)&lt;/script&gt; message" in text


# -- the commands that list files: --show-files, --add-noqa, baseline, config ---------------


def _no_raw(text: str) -> None:
    assert not RAW_CONTROL.findall(text), sorted(set(RAW_CONTROL.findall(text)))


def test_show_files_on_hostile_file_names(named: Path) -> None:
    (named / "skip\x1b[2J\u202e").mkdir()
    (named / "skip\x1b[2J\u202e" / "m.py").write_text("x = 1\n", encoding="utf-8")
    (named / "pyproject.toml").write_text('[tool.sightlint]\nexclude = ["skip*"]\n', encoding="utf-8")
    (named / "notes\x1b]0;t\x07\n.txt").write_text("hello\n", encoding="utf-8")
    done = sightlint(named, "check", "--show-files")
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    _no_raw(out)
    _no_raw(err)
    listed = out.splitlines()
    assert len(listed) == len(HOSTILE)  # the 8 nameable hostile names and broken.py: one line each
    assert "esc\\x1b[2J\\x1b]0;title\\x07.py" in listed
    assert "new\\nline::error file=x.py,line=1::forged.py" in listed
    assert "bidi\\u202eyp.txt\\u202c.py" in listed
    assert "cr\\rcarriage.py" in listed
    assert "# excluded: skip\\x1b[2J\\u202e" in err.splitlines()
    # A non-Python file and a missing file, named on the command line.
    done = sightlint(named, "check", "--show-files", "notes\x1b]0;t\x07\n.txt", "gone\x1b[2J\u2066.py")
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 2
    _no_raw(out + err)
    assert "# not Python, skipped: notes\\x1b]0;t\\x07\\n.txt" in err
    assert "sightlint: gone\\x1b[2J\\u2066.py: no such file or directory" in err


def test_add_noqa_on_hostile_file_names(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    # Line 4 is inside a string: no comment can go there, so a note names the file.
    body = 'from datetime import datetime\n\nstamp = f"""\n{datetime.utcnow()}\n"""\nx = datetime.utcnow()\n'
    name = "f\x1b[2J\u202e\nx.py"
    (tmp_path / name).write_text(body, encoding="utf-8")
    done = sightlint(tmp_path, "check", "--add-noqa")
    out, err = done.stdout.decode(), done.stderr.decode()
    _no_raw(out + err)
    assert "sightlint: f\\x1b[2J\\u202e\\nx.py:4: SL301 not suppressed: no line of it can hold a comment" in err.splitlines()
    assert "Added 1 suppression comment(s) in 1 file(s)" in out
    assert "x = datetime.utcnow()  # sightlint: ignore[SL301]" in (tmp_path / name).read_text(encoding="utf-8")


def test_baseline_on_hostile_file_names(named: Path) -> None:
    done = sightlint(named, "baseline", "-o", "base\x1b[2J\u202e\n.json")
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    _no_raw(out + err)
    assert out.startswith(f"Wrote {len(HOSTILE) - 1} finding(s) to base\\x1b[2J\\u202e\\n.json.")
    entries = json.loads((named / "base\x1b[2J\u202e\n.json").read_text(encoding="utf-8"))
    assert "esc\x1b[2J\x1b]0;title\x07.py" in {e["path"] for e in entries["findings"]}  # the file keeps the real names
    # The baseline's summary line names the file; a missing file is an error line.
    (named / "pyproject.toml").write_text('[tool.sightlint]\nbaseline = "base\\u001b[2J\\u202e\\n.json"\n', encoding="utf-8")
    done = sightlint(named, "check", "--format", "json")
    _no_raw(done.stderr.decode())
    assert f"{len(HOSTILE) - 1} finding(s) hidden by the baseline base\\x1b[2J\\u202e\\n.json" in done.stderr.decode()
    done = sightlint(named, "baseline", "-o", "b.json", "gone\x1b]8;;evil\x07.py")
    err = done.stderr.decode()
    assert done.returncode == 2
    _no_raw(err)
    assert "sightlint: gone\\x1b]8;;evil\\x07.py: no such file or directory" in err


def test_config_on_a_hostile_project_folder(tmp_path: Path) -> None:
    root = tmp_path / "proj\x1b[2J\u202e\nx"
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.sightlint]\nexclude = ["a\\u001b[31m\\u202e"]\n', encoding="utf-8")
    done = sightlint(root, "config")
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    _no_raw(out + err)
    assert "proj\\x1b[2J\\u202e\\nx" in out
    assert "a\\x1b[31m\\u202e" in out


def test_the_compilers_warnings_about_analysed_code_are_not_printed(tmp_path: Path) -> None:
    """Python warns about invalid escape sequences while parsing (a SyntaxWarning from 3.12,
    shown by default; a DeprecationWarning before) and quotes the file's line raw: its
    terminal escapes reached the terminal, and every such file added noise to the output."""
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    body = 'import re\nfrom datetime import datetime\n\nx = re.compile("\\d+\x1b[2J")\ny = [1](2)\nstamp = datetime.utcnow()\n'
    (tmp_path / "esc.py").write_text(body, encoding="utf-8")
    env = {**os.environ, "SIGHTLINT_NO_CACHE": "1", "PYTHONWARNINGS": "always"}  # 3.11 shows them too
    for args in (["check"], ["fix", "--diff"], ["fix"], ["check", "--add-noqa"], ["baseline"]):
        done = subprocess.run([sys.executable, "-m", "sightlint", *args], cwd=tmp_path, env=env, capture_output=True, timeout=120)
        err = done.stderr.decode()
        assert "Warning" not in err and "\x1b" not in err, (args, err)
    assert "datetime.now(" in (tmp_path / "esc.py").read_text(encoding="utf-8")  # fix ran
    # Control: the interpreter itself does print the warning for this file.
    done = subprocess.run([sys.executable, "-c", "import ast; ast.parse(open('esc.py').read(), 'esc.py')"], cwd=tmp_path,
                          env=env, capture_output=True, timeout=60)  # fmt: skip
    assert "invalid escape sequence" in done.stderr.decode()
