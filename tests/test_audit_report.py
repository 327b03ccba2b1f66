"""The audit report (`check --format markdown|html`) on the Sight replica (issue 14).

The mapping test is driven by fixtures/sight_app/expected.toml: every expected finding
of an available rule must appear in the report, in the section of its severity, under
an issue naming its audit section, at its file and line. Rules that land later extend
it by themselves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sightlint.cli import main
from sightlint.models import Severity
from sightlint.registry import lookup
from sightlint.reporting.audit import SEVERITY_TITLES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]
REPLICA = "fixtures/sight_app"
COMMITTED = REPO_ROOT / "docs" / "sight-app-report.md"
# The command that wrote docs/sight-app-report.md, run from the repository's root.
COMMAND = ["check", "--format", "markdown", "--no-cache", "--jobs", "1", REPLICA]
ENTRIES: list[dict[str, Any]] = tomllib.loads((REPO_ROOT / REPLICA / "expected.toml").read_text(encoding="utf-8"))["finding"]


def _invoke(args: list[str]) -> str:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO_ROOT)
        mp.delenv("FORCE_COLOR", raising=False)
        result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    return str(result.stdout)


@pytest.fixture(scope="module")
def markdown() -> str:
    return _invoke(COMMAND)


@pytest.fixture(scope="module")
def findings() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(_invoke(["check", "--format", "json", "--no-cache", "--jobs", "1", REPLICA]))["findings"]
    return data


def _issues(markdown: str) -> dict[Severity, list[str]]:
    """The issue blocks (from their ### heading to the next) of each severity section."""
    out: dict[Severity, list[str]] = {}
    for severity, title in SEVERITY_TITLES.items():
        start = markdown.index(f"\n## {title}\n")
        end = markdown.index("\n## ", start + 1)
        out[severity] = re.split(r"\n(?=### \d+\. )", markdown[start:end])[1:]
    return out


def test_every_expected_finding_maps_to_its_issue_in_the_report(markdown: str, findings: list[dict[str, Any]]) -> None:
    severity_of = {(f["code"], f["path"], f["line"]): Severity.parse(f["severity"]) for f in findings}
    issues = _issues(markdown)
    mapped, pending = set(), set()
    for entry in ENTRIES:
        rule = lookup(entry["code"])
        assert rule is not None
        if not rule.available:
            pending.add(entry["audit"])
            continue
        path = f"{REPLICA}/{entry['file']}"
        severity = severity_of[(entry["code"], path, entry["line"])]
        place = re.compile(rf"^- `{re.escape(path)}:{entry['line']}(-\d+)?`: ", re.MULTILINE)
        # A rule whose metadata names the audit section says so in the issue's heading
        # (SL102 is listed under §1 in expected.toml, but its rule is beyond the audit's text).
        labelled = rule.meta.audit == entry["audit"]
        homes = [
            block for block in issues[severity]
            if (not labelled or f"(audit {entry['audit']})" in block.splitlines()[0])
            and f"**Rule:** {entry['code']} " in block
            and place.search(block)
        ]
        assert len(homes) == 1, f"{entry['audit']} {entry['code']} {path}:{entry['line']} not under {severity.name}"
        for part in ("**Problem:**", "**Impact in production:**", "**Solution:**"):
            assert part in homes[0], (entry, part)
        if labelled:
            mapped.add(entry["audit"])
    assert mapped, "no available rule has a replica finding"
    # Every audit section with an available rule has its counterpart; the rest are pending.
    assert {e["audit"] for e in ENTRIES} == mapped | pending


def test_the_report_lists_every_finding_once_with_chains_and_fixes(markdown: str, findings: list[dict[str, Any]]) -> None:
    places = re.findall(r"^- `([^`]+\.pyi?:\d+(?:-\d+)?)`: ", markdown, re.MULTILINE)  # not the docs' own bullets
    assert len(places) == len(findings)
    assert sorted(p.rsplit(":", 1)[0] for p in places) == sorted(f["path"] for f in findings)
    for f in findings:
        if f["related"]:  # a cross-file finding shows its chain, hop by hop
            hops = "".join(f"\n    - `{r['path']}:{r['line']}` {r['message']}" for r in f["related"])
            assert "  - Chain:" + hops in markdown, f
    fixable = {f["code"] for f in findings if f["fix"]}
    for code in fixable:
        assert re.search(rf"\*\*Rule:\*\* {code} .*?```diff\n--- a/", markdown, re.DOTALL), code
    assert "## Recommendations (prioritised)" in markdown and "### URGENT (fix before deploy)" in markdown
    summary = markdown[: markdown.index("\n---\n")]
    assert f"**Findings:** {len(findings)} (" in summary and "**Overall assessment:** NOT READY" in summary


def test_the_committed_report_is_current(markdown: str) -> None:
    command = "sightlint " + " ".join(COMMAND) + " -o docs/sight-app-report.md"
    assert COMMITTED.is_file(), f"write it from the repository root: {command}"
    assert COMMITTED.read_text(encoding="utf-8") == markdown, f"docs/sight-app-report.md is out of date; regenerate: {command}"


def test_the_report_is_byte_stable(markdown: str) -> None:
    assert _invoke(COMMAND[:-3] + ["--jobs", "2", REPLICA]) == markdown


@pytest.fixture(scope="module")
def html() -> str:
    return _invoke(["check", "--format", "html", "--no-cache", "--jobs", "1", REPLICA])


def test_html_is_self_contained(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    lowered = html.lower()
    for needle in ("<script", "<link", "<img", "<iframe", "src=", "url(", "@import"):
        assert needle not in lowered, needle
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith(("#", "https://", "http://")), href  # links only, nothing loaded
    for severity, title in SEVERITY_TITLES.items():
        assert f'<h2 class="sev-{severity.label}">{title}</h2>' in html
    # Fix diffs are coloured line by line; printing keeps the page readable.
    assert '<pre class="diff"><code>' in html and '<span class="add">+' in html and '<span class="del">-' in html
    assert "@media print" in html


def test_html_escapes_what_the_code_says() -> None:
    from sightlint.models import FileResult, Finding, RunResult, Span
    from sightlint.reporting import audit, html

    evil = Finding("SL301", "naive-utcnow", Severity.MEDIUM, "<script>alert(1)</script>", "a<b>.py", Span(1, 0, 1, 1))
    page = html.render(audit.build(RunResult(files=[FileResult("a<b>.py", findings=[evil])]), diffs=False))
    assert "<script>" not in page and "&lt;script&gt;" in page and "a&lt;b&gt;.py" in page


# -- headless Chromium ------------------------------------------------------------------------


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
        rows.append(bytes(v for i, v in enumerate(line) if channels == 3 or i % 4 != 3))
    return width, height, rows


# The colours of html.py's CSS (--critical, --high, --medium, --low).
SEVERITY_RGB = {Severity.CRITICAL: (0xB0, 0x00, 0x20), Severity.HIGH: (0xD9, 0x48, 0x0F), Severity.MEDIUM: (0xB8, 0x86, 0x0B), Severity.LOW: (0x5C, 0x6B, 0x73)}


PROBE = """<script>
const out = {};
for (const id of ["critical", "high", "medium", "low"]) {
  const section = document.getElementById(id);
  const heading = section && section.querySelector("h2");
  const box = heading ? heading.getBoundingClientRect() : null;
  const style = heading ? getComputedStyle(heading) : null;
  out[id] = heading ? {top: box.top + scrollY, height: box.height, width: box.width,
    shown: style.display !== "none" && style.visibility === "visible" && style.opacity !== "0",
    text: heading.textContent, border: style.borderBottomColor} : null;
}
document.body.insertAdjacentHTML("beforeend", "<pre id=probe>" + JSON.stringify(out) + "</pre>");
</script>"""


def _chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-dev-shm-usage"]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run([browser, *flags, *args], capture_output=True, timeout=180, env=env, check=False)


def test_html_renders_in_headless_chromium(html: str, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "report.png"
    done = _chromium(browser, tmp_path, f"--screenshot={shot}", "--window-size=800,700", page.as_uri())
    assert shot.is_file(), done.stderr.decode(errors="replace")[-2000:]
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (800, 700)
    # The summary at the top of the page shows a badge of each severity, in its colour.
    drawn = {s for s, rgb in SEVERITY_RGB.items() if any(_has(row, rgb) for row in rows)}
    assert drawn == set(Severity), f"not drawn: {set(Severity) - drawn}"
    # Laid out by the browser (a copy of the page with a probe script; the report has none):
    # every severity section's heading is shown, has a size, and they come in order.
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(browser, tmp_path, "--dump-dom", "--virtual-time-budget=3000", probed.as_uri()).stdout.decode("utf-8", "replace")
    match = re.search(r"<pre id=\"probe\">(.*?)</pre>", dom, re.DOTALL)
    assert match, dom[-2000:]
    boxes = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    tops = []
    for severity, title in SEVERITY_TITLES.items():
        box = boxes[severity.label]
        assert box and box["shown"] and box["height"] > 10 and box["width"] > 300, (severity, box)
        assert box["text"] == title
        r, g, b = SEVERITY_RGB[severity]
        assert box["border"] == f"rgb({r}, {g}, {b})"
        tops.append(box["top"])
    assert tops == sorted(tops)
    # Printable: Chromium prints it to a multi-page PDF.
    pdf = tmp_path / "report.pdf"
    _chromium(browser, tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes())) > 2


def _has(row: bytes, rgb: tuple[int, int, int]) -> bool:
    needle = bytes(rgb)
    start = row.find(needle)
    while start != -1:
        if start % 3 == 0:
            return True
        start = row.find(needle, start + 1)
    return False


def test_unparsed_files_are_a_gap_not_critical_issues() -> None:
    from sightlint.models import FileResult, Finding, RunResult, Span
    from sightlint.reporting import audit

    broken = Finding("SL000", "parse-error", Severity.CRITICAL, "syntax error: invalid syntax", "app/new.py", Span(3, 0, 3, 0))
    naive = Finding("SL301", "naive-utcnow", Severity.MEDIUM, "`datetime.utcnow()` ...", "app/old.py", Span(2, 4, 2, 21))
    run = RunResult(files=[FileResult("app/new.py", findings=[broken]), FileResult("app/old.py", findings=[naive])])
    report = audit.build(run, diffs=False)
    text = audit.markdown(report)
    assert report.findings == 1 and report.by_severity[Severity.CRITICAL] == 0
    assert report.assessment.startswith("ACCEPTABLE WITH FIXES") and "1 file(s) could not be analysed" in report.assessment
    gap = text[text.index("## Not analysed"): text.index("\n---\n")]
    assert "- `app/new.py:3`: syntax error: invalid syntax" in gap
    critical = text[text.index("## CRITICAL"): text.index("## HIGH")]
    assert "None." in critical and "SL000" not in critical


def test_an_issue_shows_a_few_diffs_and_counts_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sightlint import api
    from sightlint.reporting import audit
    from sightlint.settings import Settings

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    for i in range(audit.MAX_DIFF_FILES + 2):
        (tmp_path / f"m{i}.py").write_text("from datetime import datetime\n\nstamp = datetime.utcnow()\n", encoding="utf-8")
    report = audit.build(api.check_paths([Path(".")], Settings(), use_cache=False))
    (group,) = report.groups
    assert [d.path for d in group.diffs] == [f"m{i}.py" for i in range(audit.MAX_DIFF_FILES)]
    assert group.more_fixable_files == 2
    text = audit.markdown(report)
    assert text.count("```diff") == audit.MAX_DIFF_FILES and "The same fix applies in 2 more file(s)" in text
    assert "+stamp = datetime.now(timezone.utc).replace(tzinfo=None)" in text
