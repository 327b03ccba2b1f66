"""``path:line:col: CODE message``, one finding a line, for grep and editors."""

from __future__ import annotations

from typing import TextIO

from sightlint.models import RunResult
from sightlint.reporting._common import all_errors, collect_unused, one_line


def render(run: RunResult, stream: TextIO, *, unused_suppressions: bool = False) -> None:
    for f in run.findings:
        stream.write(f"{one_line(f.path)}:{f.span.line}:{f.span.col + 1}: {f.code} {one_line(f.message)}\n")
    if unused_suppressions:
        for u in collect_unused(run):
            stream.write(f"{one_line(u.path)}:{u.line}:1: {u.message}\n")
    for error in all_errors(run):
        stream.write(f"error: {one_line(error)}\n")
