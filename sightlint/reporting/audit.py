"""The audit report: a run as the quality-assessment report that started this project.

``sightlint check --format markdown`` (and ``--format html``, see ``html.py``) writes:
a summary (files analysed, findings by severity, an overall assessment, the main
problems), then CRITICAL / HIGH / MEDIUM / LOW sections with one numbered issue per
rule and severity, each giving the places (file and line, the message, the call chain
of a cross-file finding), the problem, the production impact and the solution (the
rule's own documentation: *What it flags*, *Why it matters*, *Fix*), and the diff
``sightlint fix`` would apply where there is one; then prioritised recommendations.

The text holds no date, time or absolute path: the same findings give the same bytes,
so a committed report can be checked for being current.
"""

from __future__ import annotations

import difflib
import html as _html
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sightlint import __version__
from sightlint.engine import PARSE_ERROR_CODE
from sightlint.models import Finding, FixSafety, RunResult, Severity
from sightlint.reporting._common import counts, one_line
from sightlint.settings import Settings

SEVERITY_TITLES = {
    Severity.CRITICAL: "CRITICAL issues (must fix before deploy)",
    Severity.HIGH: "HIGH priority issues (should fix)",
    Severity.MEDIUM: "MEDIUM priority issues (fix soon)",
    Severity.LOW: "LOW priority issues (worth knowing)",
}
PRIORITIES = {
    Severity.CRITICAL: "URGENT (fix before deploy)",
    Severity.HIGH: "HIGH PRIORITY",
    Severity.MEDIUM: "MEDIUM PRIORITY",
    Severity.LOW: "LOW PRIORITY",
}
MAX_DIFF_LINES = 80
# Diffs shown per issue: enough to see the change (each costs a LibCST pass over its file);
# the issue says how many more files the same fix changes.
MAX_DIFF_FILES = 3
_PARSE_ERROR_DOC = {
    "What it flags": "A file sightlint could not read or parse (a syntax error, newer syntax than the running Python, an undecodable or too-large file).",
    "Why it matters": "Nothing in the file is analysed, and every cross-file call chain through it is missing: findings elsewhere may be hidden.",
    "Fix": "Fix the syntax error, or run sightlint on the project's Python version.",
}


@dataclass(frozen=True)
class Diff:
    path: str
    unsafe: bool
    lines: tuple[str, ...]
    truncated: int = 0


@dataclass
class Group:
    """One issue of the report: the findings of one rule at one severity."""

    number: int
    severity: Severity
    code: str
    name: str
    summary: str
    audit: str | None
    findings: list[Finding]
    problem: str = ""
    impact: str = ""
    solution: str = ""
    diffs: list[Diff] = field(default_factory=list)
    # Files with a fixable finding whose diff is not shown (beyond MAX_DIFF_FILES).
    more_fixable_files: int = 0

    @property
    def anchor(self) -> str:
        return f"issue-{self.number}-{self.code.lower()}"


@dataclass
class Report:
    scope: str
    files: int
    not_parsed: int
    excluded: int
    findings: int
    by_severity: dict[Severity, int]
    safe_fixes: int
    unsafe_fixes: int
    groups: list[Group]
    assessment: str
    errors: list[str]
    # Files that could not be read or parsed (SL000): not issues of the code's behaviour but
    # gaps in the analysis, listed apart and left out of the counts by severity.
    unparsed: list[Finding] = field(default_factory=list)


def _audit_order(audit: str | None) -> int:
    match = re.search(r"\d+", audit or "")
    return int(match.group()) if match else 1000


def _sections(code: str) -> dict[str, str]:
    from sightlint import docs
    from sightlint.registry import lookup

    entry = lookup(code)
    if entry is None or entry.rule is None:
        return dict(_PARSE_ERROR_DOC) if code == "SL000" else {}
    return {title: body.strip() for title, body in docs.docstring_sections(entry.rule)}


def _scope(run: RunResult) -> str:
    paths = [r.path for r in run.files]
    if not paths:
        return "."
    try:
        common = os.path.commonpath(paths)
    except ValueError:
        return "."
    if len(paths) == 1:
        return common
    return common.replace(os.sep, "/") or "."


def assessment(by_severity: dict[Severity, int]) -> str:
    critical, high = by_severity.get(Severity.CRITICAL, 0), by_severity.get(Severity.HIGH, 0)
    medium, low = by_severity.get(Severity.MEDIUM, 0), by_severity.get(Severity.LOW, 0)
    if critical:
        return f"NOT READY for production: {critical} critical and {high} high priority issue(s)"
    if high:
        return f"NEEDS WORK: {high} high priority issue(s)"
    if medium:
        return f"ACCEPTABLE WITH FIXES: {medium} medium priority issue(s)"
    if low:
        return f"GOOD: only {low} low priority note(s)"
    return "GOOD: no findings"


def build(run: RunResult, settings: Settings | None = None, *, diffs: bool = True) -> Report:
    """The report's content; ``diffs`` computes what ``sightlint fix`` would change (LibCST)."""
    everything = run.findings
    findings = [f for f in everything if f.code != PARSE_ERROR_CODE]
    totals = counts(run)
    keyed: dict[tuple[Severity, str], list[Finding]] = {}
    for f in findings:
        keyed.setdefault((f.severity, f.code), []).append(f)
    from sightlint.registry import lookup

    def order(key: tuple[Severity, str]) -> tuple[int, int, str]:
        entry = lookup(key[1])
        return (-int(key[0]), _audit_order(entry.meta.audit if entry else None), key[1])

    groups = []
    memo: dict[str, Any] = {}  # the project fixes of a rule, planned once for all its groups
    for number, key in enumerate(sorted(keyed, key=order), 1):
        severity, code = key
        mine = keyed[key]
        entry = lookup(code)
        docs = _sections(code)
        group = Group(
            number=number,
            severity=severity,
            code=code,
            name=mine[0].name,
            summary=entry.meta.summary if entry else mine[0].name,
            audit=entry.meta.audit if entry else None,
            findings=mine,
            problem=docs.get("What it flags", ""),
            impact=docs.get("Why it matters", ""),
            solution=docs.get("Fix", ""),
        )
        if diffs and any(f.fixable for f in mine):
            fixable_files = sorted({f.path for f in mine if f.fixable})
            shown = set(fixable_files[:MAX_DIFF_FILES])
            group.diffs = _fix_diffs([f for f in mine if f.path in shown], settings or Settings(), _scope(run), memo)
            group.more_fixable_files = len(fixable_files) - len(shown)
        groups.append(group)
    by_severity = {s: sum(1 for f in findings if f.severity is s) for s in sorted(Severity, reverse=True)}
    verdict = assessment(by_severity)
    if totals.not_parsed:
        verdict += f"; {totals.not_parsed} file(s) could not be analysed, so issues in them or reached through them may be missing"
    return Report(
        scope=_scope(run),
        files=totals.files,
        not_parsed=totals.not_parsed,
        excluded=totals.excluded,
        findings=len(findings),
        by_severity=by_severity,
        safe_fixes=totals.safe_fixes,
        unsafe_fixes=totals.unsafe_fixes,
        groups=groups,
        assessment=verdict,
        errors=list(run.errors) + [e for e in run.internal_errors if e not in run.errors],
        unparsed=[f for f in everything if f.code == PARSE_ERROR_CODE],
    )


def _fix_diffs(findings: list[Finding], settings: Settings, scope: str = ".", memo: dict[str, Any] | None = None) -> list[Diff]:
    """Per file, the diff ``sightlint fix`` (``--unsafe-fixes`` when the findings' fix is
    unsafe) makes for this rule alone."""
    from sightlint import fixer

    code = findings[0].code
    only = replace(settings, select=(code,), extend_select=(), ignore=())
    out = []
    from sightlint.registry import implemented

    rule = next((r for r in implemented() if r.meta.code == code), None)
    if rule is not None and rule.project_fixes and any(f.fixable and rule.takes_project_fix(f) for f in findings):
        return _project_fix_diffs(findings, only, scope, {} if memo is None else memo)
    for path in sorted({f.path for f in findings if f.fixable}):
        unsafe = any(f.fix_safety is FixSafety.UNSAFE for f in findings if f.path == path)
        try:
            outcome = fixer.fix_file(Path(path), path, only, unsafe=unsafe, write=False)
        except Exception:  # sightlint: ignore[SL201] a report without one diff beats no report
            continue
        if outcome.status != "changed" or outcome.new is None:
            continue
        before = outcome.original.decode("utf-8", errors="replace").splitlines(keepends=True)
        after = outcome.new.decode("utf-8", errors="replace").splitlines(keepends=True)
        lines = list(difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", n=2))
        lines = [line if line.endswith("\n") else line + "\n" for line in lines]
        cut = max(0, len(lines) - MAX_DIFF_LINES)
        out.append(Diff(path, unsafe, tuple(lines[:MAX_DIFF_LINES]), cut))
    return out


def _project_fix_diffs(findings: list[Finding], settings: Settings, scope: str, memo: dict[str, Any]) -> list[Diff]:
    """The diffs of a rule whose fixes are planned on the project (several files each):
    what ``sightlint fix --diff --unsafe-fixes`` on the report's scope changes in the files
    that the fixes of ``findings`` edit, in path order."""
    from sightlint import fixer

    unsafe = any(f.fix_safety is FixSafety.UNSAFE for f in findings)
    key = f"{findings[0].code} {unsafe}"
    if key not in memo:
        try:
            memo[key] = fixer.fix_paths([Path(scope)], settings, unsafe=unsafe, write=False, use_cache=False, jobs=1)
        except Exception:  # sightlint: ignore[SL201] a report without the diffs beats no report
            memo[key] = None
    report = memo[key]
    if report is None:
        return []
    mine = set(findings)
    edited = {path for plan in report.project_applied if plan.finding in mine for path in plan.files}
    out = []
    for outcome in sorted((o for o in report.changed if o.path in edited), key=lambda o: o.path)[:MAX_DIFF_FILES]:
        assert outcome.new is not None
        before = outcome.original.decode("utf-8", errors="replace").splitlines(keepends=True)
        after = outcome.new.decode("utf-8", errors="replace").splitlines(keepends=True)
        lines = list(difflib.unified_diff(before, after, f"a/{outcome.path}", f"b/{outcome.path}", n=2))
        lines = [line if line.endswith("\n") else line + "\n" for line in lines]
        cut = max(0, len(lines) - MAX_DIFF_LINES)
        out.append(Diff(outcome.path, unsafe, tuple(lines[:MAX_DIFF_LINES]), cut))
    return out


def where(f: Finding) -> str:
    span = f.span
    lines = f"{span.line}" if span.end_line == span.line else f"{span.line}-{span.end_line}"
    return f"{one_line(f.path)}:{lines}"


def first_paragraph(text: str, limit: int = 320) -> str:
    """The gist of a doc section for the recommendations: its first paragraph (with the
    next one when the first only introduces it), cut at a sentence end near ``limit``."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]
    if not paragraphs:
        return ""
    gist = paragraphs[0]
    if (gist.endswith(":") or len(gist) < 60) and len(paragraphs) > 1:
        gist = f"{gist} {paragraphs[1]}"
    if len(gist) <= limit:
        return gist
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", gist) if m.end() <= limit]
    return gist[: ends[-1]] if ends else gist[:limit].rsplit(" ", 1)[0] + " ..."


# -- Markdown -------------------------------------------------------------------------------


def _md_code(text: str) -> str:
    """Inline code that survives backticks in ``text``."""
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def _md_text(text: str) -> str:
    """A message on one line with ``<``, ``>`` and ``&`` outside its code spans written as
    entities: a message quotes the analysed code (a model name, a default value, a route
    path), and raw markup there would render as HTML wherever the markdown is shown."""
    text = one_line(text)
    out: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_html.escape(text[last : match.start()], quote=False))
        out.append(match.group(0))
        last = match.end()
    out.append(_html.escape(text[last:], quote=False))
    return "".join(out)


def markdown(report: Report) -> str:
    return "".join(_markdown(report))


def _markdown(r: Report) -> Iterator[str]:
    yield "# Quality Assessment Report\n\n"
    yield f"Scope: {_md_code(r.scope)}, checked by sightlint {__version__} (static analysis; nothing was imported or run).\n\n"
    yield "## Summary\n\n"
    yield f"- **Files analysed:** {r.files}"
    extra = []
    if r.not_parsed:
        extra.append(f"{r.not_parsed} could not be parsed: nothing in them was analysed and call chains through them are missing")
    if r.excluded:
        extra.append(f"{r.excluded} folder(s)/file(s) left out by exclude patterns")
    yield (f" ({'; '.join(extra)})" if extra else "") + "\n"
    severities = ", ".join(f"{n} {s.name}" for s, n in r.by_severity.items() if n)
    yield f"- **Findings:** {r.findings}" + (f" ({severities})" if r.findings else "") + "\n"
    if r.safe_fixes or r.unsafe_fixes:
        yield f"- **Automatic fixes:** {r.safe_fixes} safe (`sightlint fix`), {r.unsafe_fixes} more with `--unsafe-fixes`\n"
    yield f"- **Overall assessment:** {r.assessment}\n\n"
    if r.errors:
        yield "**The run met errors; the report may be incomplete:**\n\n"
        for error in r.errors:
            yield f"- {_md_text(error)}\n"
        yield "\n"
    if r.groups:
        yield "**Main problems:**\n\n"
        for g in r.groups[:8]:
            yield f"{g.number}. [{g.severity.name}] {g.summary} ({g.code} {g.name}: {len(g.findings)} place{'s' if len(g.findings) != 1 else ''})\n"
        if len(r.groups) > 8:
            yield f"\n... and {len(r.groups) - 8} more issue(s) below.\n"
        yield "\n"
    if r.unparsed:
        yield "## Not analysed\n\n"
        yield (
            "These files could not be read or parsed (SL000), so nothing in them was checked and call chains "
            "through them are missing. A syntax error here is a bug; newer syntax than the running Python "
            "means sightlint should run on the project's Python version.\n\n"
        )
        for f in r.unparsed:
            yield f"- {_md_code(where(f))}: {_md_text(f.message)}\n"
        yield "\n"
    yield "---\n"
    for severity in sorted(Severity, reverse=True):
        groups = [g for g in r.groups if g.severity is severity]
        yield f"\n## {SEVERITY_TITLES[severity]}\n\n"
        if not groups:
            yield "None.\n"
            continue
        for g in groups:
            yield from _md_group(g)
    yield "\n## Recommendations (prioritised)\n"
    if not r.groups:
        yield "\nNothing to fix. Keep `sightlint check` in CI so it stays that way.\n"
    for severity in sorted(Severity, reverse=True):
        groups = [g for g in r.groups if g.severity is severity]
        if not groups:
            continue
        yield f"\n### {PRIORITIES[severity]}\n\n"
        for n, g in enumerate(groups, 1):
            places = ", ".join(_md_code(where(f)) for f in g.findings[:4]) + (f" and {len(g.findings) - 4} more" if len(g.findings) > 4 else "")
            how = first_paragraph(g.solution) or g.summary
            auto = " `sightlint fix` applies it." if any(f.fix_safety is FixSafety.SAFE for f in g.findings) else (
                " `sightlint fix --unsafe-fixes` applies it (review the change)." if any(f.fixable for f in g.findings) else ""
            )
            yield f"{n}. **{g.summary}** ({g.code}, issue {g.number}) at {places}. {how}{auto}\n"
    if r.groups:
        yield "\n### Keeping it fixed\n\n"
        yield "- Run `sightlint check` in CI (`--format sarif` for GitHub code scanning); it fails on medium and above.\n"
        yield "- To adopt on an existing code base first, record today's findings with `sightlint baseline`: `check` then fails only on new ones.\n"


def _md_group(g: Group) -> Iterator[str]:
    audit = f" (audit {g.audit})" if g.audit else ""
    yield f"### {g.number}. {g.summary}{audit}\n\n"
    yield f"**Rule:** {g.code} `{g.name}` · **Severity:** {g.severity.name}\n\n"
    yield "**Where:**\n\n"
    for f in g.findings:
        yield f"- {_md_code(where(f))}: {_md_text(f.message)}\n"
        if f.related:
            yield "  - Chain:\n"
            for rel in f.related:
                yield f"    - {_md_code(f'{one_line(rel.path)}:{rel.line}')} {_md_text(rel.message)}\n"
    yield "\n"
    if g.problem:
        yield f"**Problem:** {g.problem}\n\n"
    if g.impact:
        yield f"**Impact in production:** {g.impact}\n\n"
    if g.solution:
        yield f"**Solution:** {g.solution}\n\n"
    for d in g.diffs:
        label = "`sightlint fix --unsafe-fixes`" if d.unsafe else "`sightlint fix`"
        yield f"**Fix** ({label}) in {_md_code(d.path)}:\n\n"
        fence = "````" if any(line.startswith("```") for line in d.lines) else "```"
        yield f"{fence}diff\n{''.join(d.lines)}"
        if d.truncated:
            yield f"... ({d.truncated} more lines)\n"
        yield f"{fence}\n\n"
    if g.more_fixable_files:
        yield f"The same fix applies in {g.more_fixable_files} more file(s); `sightlint fix` makes all of them.\n\n"
    yield "---\n\n"
