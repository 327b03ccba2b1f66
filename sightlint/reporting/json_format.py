"""Machine-readable JSON; the schema is documented in ``docs/json-format.md``.

Columns are 1-based here (``column`` is the first character, ``end_column`` the one
after the last), unlike :class:`~sightlint.models.Span`'s 0-based columns.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any, TextIO

from sightlint import __version__
from sightlint.models import Finding, RunResult
from sightlint.reporting._common import PARSE_ERROR_CODE, Counts, SourceLines, collect_unused, counts
from sightlint.reporting.fingerprint import VERSION, fingerprints, of_run, tables_of

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


def report(run: RunResult, *, unused_suppressions: bool = False, kept: _Kept | None = None) -> dict[str, Any]:
    """The report as data; with ``kept`` (see :class:`_Kept`, for :func:`render`), "findings"
    holds a marker that the findings are written from it."""
    totals = counts(run) if kept is None else kept.totals
    out: dict[str, Any] = {
        "sightlint_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "root": run.base,
        "project_root": run.root,
        "findings": [finding_dict(f, p.fingerprint) for f, p in of_run(run)] if kept is None else kept.marker,
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
    encode = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
    kept = _Kept.plan(run) if run.pieces is not None else None
    data = report(run, unused_suppressions=unused_suppressions, kept=kept)
    # Written piece by piece: joining the whole document first held several copies of it
    # (16 MB each for 7,000 findings at 700k lines) at a cold run's peak memory.
    write = stream.write
    write("{\n")
    for number, (key, value) in enumerate(data.items()):
        if number:
            write(",\n")
        if isinstance(value, list) and value:
            write(f"  {encode(key)}: [\n")
            if kept is not None and value is kept.marker:
                kept.write(write, encode)
            else:
                for index, item in enumerate(value):
                    write(f",\n    {encode(item)}" if index else f"    {encode(item)}")
            write("\n  ]")
        else:
            write(f"  {encode(key)}: {encode(value)}")
    write("\n}\n")
    if kept is not None:
        kept.save()


class _Kept:
    """A run's findings written file by file, each file's part taken from ``run.pieces``
    (``cache.Pieces``) when kept for the same result, content and folders, else made (and
    kept); what the summary counts of them is known before any is written."""

    def __init__(self, run: RunResult, context: str) -> None:
        self.run = run
        self.context = context
        # Per file with findings: (path, piece key, kept lines or None, its findings in order or None).
        self.files: list[tuple[str, bytes | None, list[str] | None, list[Finding] | None]] = []
        self.totals = Counts(files=0, files_with_findings=0, findings=0, safe_fixes=0, unsafe_fixes=0, by_code={})
        self.marker: list[Any] = []

    @classmethod
    def plan(cls, run: RunResult) -> _Kept | None:
        """None when a finding is not in its own file's result (the report is then made from
        the whole run, as without pieces)."""
        if len({r.path for r in run.files}) != len(run.files):
            return None
        pieces = run.pieces
        kept = cls(run, repr(("json", VERSION, run.root, os.getcwd())))
        by_code: Counter[str] = Counter()
        safe = unsafe = not_parsed = 0
        for result in sorted(run.files, key=lambda r: r.path):
            if result.worst() < 0:
                continue  # no findings (known without decoding a result kept encoded)
            key = pieces.key(result, kept.context)
            got = pieces.piece(result.path, key) if key is not None else None
            if got is None:
                ordered = sorted(result.findings, key=Finding.sort_key)
                if any(f.path != result.path for f in ordered):
                    return None
                meta = [(f.code, f.fix_safety.value) for f in ordered]
                kept.files.append((result.path, key, None, ordered))
            else:
                lines, meta = got
                kept.files.append((result.path, key, lines, None))
            for code, safety in meta:
                by_code[code] += 1
                safe += safety == "safe"
                unsafe += safety == "unsafe"
            not_parsed += any(code == PARSE_ERROR_CODE for code, _ in meta)
        findings = sum(by_code.values())
        kept.totals = Counts(
            files=run.files_checked, files_with_findings=len(kept.files), findings=findings, safe_fixes=safe,
            unsafe_fixes=unsafe, by_code=dict(sorted(by_code.items())), not_parsed=not_parsed,
            excluded=len(run.excluded),  # unused suppressions are not counted in the summary
        )  # fmt: skip
        kept.marker = [kept] if findings else []
        return kept

    def write(self, write: Any, encode: Any) -> None:
        """Write the findings' lines, making (and keeping) the parts not kept, one file at a time."""
        run, pieces, sources = self.run, self.run.pieces, SourceLines()
        first = True
        tables = tables_of(run)  # the check's fingerprint tables: no file is parsed again
        for path, key, lines, ordered in self.files:
            if lines is None:
                assert ordered is not None
                prints = fingerprints(ordered, run.root, sources, run.memo, tables)
                lines = [encode(finding_dict(f, p.fingerprint)) for f, p in zip(ordered, prints)]
                if key is not None:
                    pieces.keep(path, key, lines, [(f.code, f.fix_safety.value) for f in ordered])
            for line in lines:
                write(f"    {line}" if first else f",\n    {line}")
                first = False

    def save(self) -> None:
        if self.run.memo is not None:
            self.run.memo.save()
        self.run.pieces.save()
