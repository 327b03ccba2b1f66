"""GitHub Actions workflow commands: each finding becomes an annotation on the pull request.

Escaping follows the Actions toolkit (``escapeData`` / ``escapeProperty`` in
``@actions/core``): data escapes ``%``, CR and LF; property values also ``:`` and ``,``;
other control characters are written as visible escapes first.
"""

from __future__ import annotations

from typing import TextIO

from sightlint.models import Finding, RunResult, Severity
from sightlint.reporting._common import all_errors, collect_unused, one_line


def escape_data(text: str) -> str:
    """The toolkit's escapes, after writing other control characters (a terminal escape
    sequence in a file name, a bidirectional override) as visible ``\\x1b``-style text:
    the runner prints the message into the job's log."""
    if not text.isprintable():
        text = "\n".join("\r".join(one_line(part) for part in line.split("\r")) for line in text.split("\n"))
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def level(severity: Severity) -> str:
    if severity is Severity.LOW:
        return "notice"
    return "warning" if severity is Severity.MEDIUM else "error"


def command(name: str, message: str, **properties: str | int) -> str:
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def annotation(f: Finding) -> str:
    span = f.span
    return command(
        level(f.severity),
        f.message,
        file=f.path,
        line=span.line,
        col=span.col + 1,
        endLine=span.end_line,
        endColumn=span.end_col + 1,
        title=f"{f.code} {f.name}",
    )


def render(run: RunResult, stream: TextIO, *, unused_suppressions: bool = False) -> None:
    for f in run.findings:
        stream.write(annotation(f) + "\n")
    if unused_suppressions:
        for u in collect_unused(run):
            stream.write(command("warning", u.message, file=u.path, line=u.line, title="unused suppression") + "\n")
    for error in all_errors(run):
        stream.write(command("error", error, title="sightlint error") + "\n")
