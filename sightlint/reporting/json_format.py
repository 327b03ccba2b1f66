"""Machine-readable JSON; the schema is documented in ``docs/json-format.md``.

Columns are 1-based here (``column`` is the first character, ``end_column`` the one
after the last), unlike :class:`~sightlint.models.Span`'s 0-based columns.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from sightlint import __version__
from sightlint.models import Finding, RunResult
from sightlint.reporting._common import collect_unused, counts
from sightlint.reporting.fingerprint import of_run

SCHEMA_VERSION = 1


def finding_dict(f: Finding, fingerprint: str | None = None) -> dict[str, Any]:
    span = f.span
    out = {
        "code": f.code,
        "name": f.name,
        "severity": f.severity.label,
        "message": f.message,
        "path": f.path,
        "line": span.line,
        "column": span.col + 1,
        "end_line": span.end_line,
        "end_column": span.end_col + 1,
        "fix": {"safety": f.fix_safety.value, "title": f.fix_title} if f.fixable else None,
        "related": [{"path": r.path, "line": r.line, "column": r.col + 1, "message": r.message} for r in f.related],
        "detail": f.detail,
        "chain_paths": list(f.chain_paths),
    }
    if fingerprint is not None:
        out["fingerprint"] = fingerprint
    return out


def report(run: RunResult, *, unused_suppressions: bool = False) -> dict[str, Any]:
    totals = counts(run)
    out: dict[str, Any] = {
        "sightlint_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "root": run.base,
        "project_root": run.root,
        "findings": [finding_dict(f, p.fingerprint) for f, p in of_run(run)],
        "errors": list(run.errors),
        "internal_errors": run.internal_errors,
        "summary": {
            "files": totals.files,
            "findings": totals.findings,
            "by_code": totals.by_code,
            "fixable": totals.fixable,
            "files_not_parsed": totals.not_parsed,
            "excluded": list(run.excluded),
            "not_python": list(run.not_python),
        },
    }
    if run.baseline is not None:
        out["baseline"] = {
            "path": run.baseline.path,
            "hidden": run.baseline.hidden,
            "stale": [e.as_dict() for e in run.baseline.stale],
            "pruned": run.baseline.pruned,
        }
    if unused_suppressions:
        out["unused_suppressions"] = [
            {"path": u.path, "line": u.line, "codes": list(u.codes) if u.codes is not None else None, "message": u.message}
            for u in collect_unused(run)
        ]
    return out


def render(run: RunResult, stream: TextIO, *, unused_suppressions: bool = False) -> None:
    """Indented at the top level, one finding per line.

    ``json`` falls back to its pure-Python encoder whenever ``indent`` is set, which took
    most of a warm run's time on large projects; each finding is therefore encoded
    compactly (by the C encoder) and the outer layout written by hand. ``ensure_ascii``
    keeps the output valid whatever encoding the stream has.
    """
    data = report(run, unused_suppressions=unused_suppressions)
    encode = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
    # Written piece by piece: joining the whole document first held several copies of it
    # (16 MB each for 7,000 findings at 700k lines) at a cold run's peak memory.
    write = stream.write
    write("{\n")
    for number, (key, value) in enumerate(data.items()):
        if number:
            write(",\n")
        if isinstance(value, list) and value:
            write(f"  {encode(key)}: [\n")
            for index, item in enumerate(value):
                write(f",\n    {encode(item)}" if index else f"    {encode(item)}")
            write("\n  ]")
        else:
            write(f"  {encode(key)}: {encode(value)}")
    write("\n}\n")
