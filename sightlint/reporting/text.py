"""The human format: a header line per finding, its source, the fix on offer, a summary.

The only module that imports ``rich``. Everything is built as ``Text`` objects, never as
markup strings, so ``[bold]`` in a file name or a message is printed as it is.
"""

from __future__ import annotations

import os
from typing import TextIO

from rich.cells import cell_len
from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from sightlint.models import Finding, FixSafety, RunResult, Severity
from sightlint.reporting._common import SourceLines, all_errors, collect_unused, counts, one_line

CONTEXT_BEFORE = 2
CONTEXT_AFTER = 1
MAX_SPAN_LINES = 3
TAB = "    "

_SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.HIGH: "red", Severity.MEDIUM: "yellow", Severity.LOW: "dim"}


def use_color(stream: TextIO, color: bool | None) -> bool:
    """``color`` if given (``--color always/never``); else off with ``NO_COLOR`` set, on with
    ``FORCE_COLOR`` set (to anything but ``0``/``false``), else on only on a terminal."""
    if color is not None:
        return color
    if os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR")
    if force is not None and force.strip().lower() not in ("0", "false", "no", "off"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):
        return False


def make_console(stream: TextIO, color: bool | None, *, width: int | None = None) -> Console:
    on = use_color(stream, color)
    return Console(
        file=stream,
        color_system="auto" if on else None,
        force_terminal=on,
        no_color=not on,
        force_jupyter=False,
        force_interactive=False,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,  # a long line is written whole, never wrapped or cropped
        width=width,
        legacy_windows=False,
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _display(text: str) -> str:
    return one_line(text.replace("\t", TAB))


def header(f: Finding) -> Text:
    style = _SEVERITY_STYLE[f.severity]
    return Text.assemble(
        (f"{one_line(f.path)}:{f.span.line}:{f.span.col + 1}:", "bold"),
        " ",
        (f.code, style),
        " ",
        (f"[{f.severity.label}]", style),
        " ",
        one_line(f.message),
    )


def source_frame(f: Finding, lines: list[str]) -> list[Text]:
    """A few numbered lines around the finding with carets under its range on its first line."""
    span = f.span
    if not 1 <= span.line <= len(lines):
        return []
    last_marked = min(span.end_line, span.line + MAX_SPAN_LINES - 1, len(lines))
    first = max(1, span.line - CONTEXT_BEFORE)
    last = min(len(lines), last_marked + CONTEXT_AFTER)
    # A trailing empty line is what follows the final newline, not a line of the file.
    if last == len(lines) and last > last_marked and not lines[-1]:
        last -= 1
    width = len(str(last))
    gutter = " " * width
    out: list[Text] = []
    for number in range(first, last + 1):
        text = lines[number - 1]
        marked = span.line <= number <= last_marked
        out.append(
            Text.assemble(
                (f"{number:>{width}} | ", "bold blue" if marked else "blue"),
                _display(text),
            )
        )
        if number == span.line:
            start = min(span.col, len(text))
            end = span.end_col if span.end_line == span.line else len(text)
            end = min(max(end, start), len(text))
            pad = cell_len(_display(text[:start]))
            carets = max(cell_len(_display(text[start:end])), 1)
            out.append(
                Text.assemble((f"{gutter} | ", "blue"), " " * pad, ("^" * carets, _SEVERITY_STYLE[f.severity]))
            )
    if last_marked < span.end_line:
        out.append(Text(f"{gutter} | ...", style="blue"))
    return out


def fix_line(f: Finding) -> Text | None:
    if f.fix_safety is FixSafety.NONE:
        return None
    label = "safe" if f.fix_safety is FixSafety.SAFE else "unsafe: needs --unsafe-fixes"
    title = f": {one_line(f.fix_title)}" if f.fix_title else ""
    return Text.assemble("  ", (f"fix available ({label})", "green" if f.fix_safety is FixSafety.SAFE else "yellow"), title)


def chain_lines(f: Finding) -> list[Text]:
    return [
        Text.assemble("  via ", (f"{one_line(r.path)}:{r.line}:{r.col + 1}", "bold"), " ", one_line(r.message))
        for r in f.related
    ]


def detail_lines(f: Finding) -> list[Text]:
    if not f.detail:
        return []
    return [Text("    " + one_line(line), style="dim") for line in f.detail.splitlines()]


def summary(run: RunResult, errors: int, *, unused_suppressions: bool = False) -> Text:
    """The closing line: what was found, or why nothing was (never "All checks passed"
    when something fails the run or nothing was checked)."""
    totals = counts(run)
    files = _plural(totals.files, "file")
    unused = totals.unused_suppressions if unused_suppressions else 0
    if totals.findings:
        fixes = f"{totals.fixable} fixable"
        if totals.unsafe_fixes:
            fixes += f", {totals.unsafe_fixes} of them only with --unsafe-fixes"
        where = files if totals.files_with_findings == totals.files else f"{totals.files_with_findings} of {files}"
        extra = f" and {_plural(unused, 'unused suppression')}" if unused else ""
        return Text(f"Found {_plural(totals.findings, 'finding')}{extra} in {where} ({fixes}).", style="bold")
    if errors:
        return Text(f"No findings in {files}, but {_plural(errors, 'error')} (listed above).", style="bold red")
    if not totals.files:
        return Text("No Python files found: nothing was checked.", style="bold yellow")
    if unused:
        return Text(f"No findings in {files}, but {_plural(unused, 'unused suppression')} (listed above).", style="bold")
    return Text(f"All checks passed ({files}).", style="bold green")


def notes(run: RunResult) -> list[str]:
    """Lines after the summary on what the run did not analyse."""
    import sys

    totals = counts(run)
    out = []
    if totals.not_parsed:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        out.append(
            f"{_plural(totals.not_parsed, 'file')} could not be read or parsed (SL000): nothing in "
            f"{'it' if totals.not_parsed == 1 else 'them'} was analysed and cross-file chains through "
            f"{'it' if totals.not_parsed == 1 else 'them'} are missing. Run sightlint on the project's "
            f"Python version (this is Python {version})."
        )
    if run.not_python:
        out.append(f"Skipped {_plural(len(run.not_python), 'named file')} that {'is' if len(run.not_python) == 1 else 'are'} not Python: {', '.join(one_line(p) for p in run.not_python)}.")
    from sightlint.reporting.baseline import summary as baseline_summary

    out += baseline_summary(run.baseline)
    if totals.excluded:
        shown = ", ".join(one_line(p) for p in run.excluded[:3]) + (f" and {totals.excluded - 3} more" if totals.excluded > 3 else "")
        out.append(
            f"Left out by exclude patterns or .gitignore: {shown} (`--show-files` lists what is checked)."
        )
    return out


def render(
    run: RunResult,
    stream: TextIO,
    *,
    color: bool | None = None,
    show_source: bool = True,
    show_chains: bool = False,
    unused_suppressions: bool = False,
) -> None:
    console = make_console(stream, color)
    sources = SourceLines()
    for f in run.findings:
        console.print(header(f))
        lines = sources.lines(f.path) if show_source else None
        for part in source_frame(f, lines) if lines else []:
            console.print(part)
        fix = fix_line(f)
        if fix is not None:
            console.print(fix)
        if show_chains:
            for part in chain_lines(f):
                console.print(part)
        for part in detail_lines(f):
            console.print(part)
        console.print()
    if unused_suppressions:
        unused = collect_unused(run)
        for u in unused:
            console.print(Text.assemble((f"{one_line(u.path)}:{u.line}:1:", "bold"), " ", (u.message, "yellow")))
        if unused:
            console.print()
    errors = all_errors(run)
    for error in errors:
        console.print(Text.assemble(("error:", "bold red"), " ", one_line(error)))
    if run.internal_errors:
        console.print(
            Text("sightlint crashed on some code; please report it, with the code if you can.", style="red")
        )
    if errors:
        console.print()
    console.print(summary(run, len(errors), unused_suppressions=unused_suppressions))
    for note in notes(run):
        console.print(Text(note, style="dim"))


def render_statistics(run: RunResult, stream: TextIO, *, color: bool | None = None) -> None:
    console = make_console(stream, color)
    totals = counts(run)
    if not totals.findings:
        console.print(Text(f"No findings ({_plural(totals.files, 'file')} checked)."))
        return
    findings = run.findings
    rows: list[tuple[str, str, str, str]] = []
    for code, count in sorted(totals.by_code.items(), key=lambda item: (-item[1], item[0])):
        mine = [f for f in findings if f.code == code]
        safeties = {f.fix_safety for f in mine if f.fixable}
        fixable = sum(1 for f in mine if f.fixable)
        label = "mixed" if len(safeties) > 1 else next(iter(safeties)).value if safeties else ""
        rows.append((code, one_line(mine[0].name), str(count), f"{fixable} ({label})" if fixable else "-"))
    head = ("CODE", "NAME", "COUNT", "FIXABLE")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(4)]

    def line(row: tuple[str, str, str, str]) -> str:
        return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"

    console.print(Text(line(head), style="bold"))
    for row in rows:
        console.print(Text(line(row)))


def render_markdown(markdown: str, stream: TextIO, *, color: bool | None = None) -> None:
    console = make_console(stream, color)
    console.print(Markdown(markdown), soft_wrap=False)


def render_diff(lines: list[str], stream: TextIO, *, color: bool | None = None) -> None:
    """A unified diff, its added lines green, removed red and hunk headers cyan in colour."""
    if not use_color(stream, color):
        stream.writelines(lines)
        return
    styles = (("+++", "\x1b[1m"), ("---", "\x1b[1m"), ("@@", "\x1b[36m"), ("+", "\x1b[32m"), ("-", "\x1b[31m"))
    for line in lines:
        body, end = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        style = next((code for prefix, code in styles if line.startswith(prefix)), None)
        stream.write(f"{style}{one_line(body)}\x1b[0m{end}" if style else line)
