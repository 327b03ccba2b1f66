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
from sightlint.models import Finding, FixSafety, RunResult, Severity
from sightlint.reporting._common import PARSE_ERROR_CODE, Counts, SourceLines, collect_unused, counts
from sightlint.reporting.fingerprint import VERSION, digests, of_run, tables_of

SCHEMA_VERSION = 1
_LABELS = {severity: severity.label for severity in Severity}


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


def _finding_line(f: Finding, fingerprint: str, encode: Any) -> str:
    """``encode(finding_dict(f, fingerprint))``, written out here: the same text (``encode``
    is the compact encoder :func:`render` makes, ``ensure_ascii``, ``", "`` and ``": "``), in
    a third of the time (the dict and the encoder's setup per finding were most of a cold
    JSON report's serial render). Strings and ints of the expected types are written here
    (ints as ``int.__repr__`` writes them), anything else by ``encode``."""
    span = f.span
    code, name, message, path, detail = f.code, f.name, f.message, f.path, f.detail
    line, col, end_line, end_col = span.line, span.col, span.end_line, span.end_col
    if (
        type(code) is str and type(name) is str and type(message) is str and type(path) is str
        and type(line) is int and type(col) is int and type(end_line) is int and type(end_col) is int
    ):  # fmt: skip
        head = (
            f'{{"code": {_string(code)}, "name": {_string(name)}, "severity": {_string(_LABELS[f.severity])}, '
            f'"message": {_string(message)}, "path": {_string(path)}, "line": {line}, "column": {col + 1}, '
            f'"end_line": {end_line}, "end_column": {end_col + 1}'
        )
    else:
        head = (
            f'{{"code": {_value(code, encode)}, "name": {_value(name, encode)}, '
            f'"severity": {_value(_LABELS[f.severity], encode)}, "message": {_value(message, encode)}, '
            f'"path": {_value(path, encode)}, "line": {_value(line, encode)}, "column": {_value(col + 1, encode)}, '
            f'"end_line": {_value(end_line, encode)}, "end_column": {_value(end_col + 1, encode)}'
        )
    safety = f.fix_safety
    fix = (
        "null" if safety is FixSafety.NONE
        else f'{{"safety": {_value(safety.value, encode)}, "title": {_value(f.fix_title, encode)}}}'
    )  # fmt: skip
    related = f.related
    related_text = f"[{', '.join([_related(r, encode) for r in related])}]" if related else "[]"
    chain = f.chain_paths
    chain_text = f"[{', '.join([_string(p) if type(p) is str else _value(p, encode) for p in chain])}]" if chain else "[]"
    detail_text = "null" if detail is None else _string(detail) if type(detail) is str else _value(detail, encode)
    shown = _string(fingerprint) if type(fingerprint) is str else _value(fingerprint, encode)
    return f'{head}, "fix": {fix}, "related": {related_text}, "detail": {detail_text}, "chain_paths": {chain_text}, "fingerprint": {shown}}}'


def _related(r: Any, encode: Any) -> str:
    """One related location as :func:`finding_dict` puts it, as ``encode`` writes it."""
    path, line, col, message = r.path, r.line, r.col, r.message
    if type(path) is str and type(line) is int and type(col) is int and type(message) is str:
        return f'{{"path": {_string(path)}, "line": {line}, "column": {col + 1}, "message": {_string(message)}}}'
    return (
        f'{{"path": {_value(path, encode)}, "line": {_value(line, encode)}, "column": {_value(col + 1, encode)}, '
        f'"message": {_value(message, encode)}}}'
    )


def _value(value: Any, encode: Any) -> str:
    """One value as ``encode`` writes it: strings, ints and None here, anything else by it."""
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    return encode(value)  # type: ignore[no-any-return]


_string = json.encoder.encode_basestring_ascii


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
                prints = digests(ordered, run.root, sources, run.memo, tables, ordered=True)
                lines = [_finding_line(f, p, encode) for f, p in zip(ordered, prints)]
                if key is not None:
                    pieces.keep(path, key, lines, [(f.code, f.fix_safety.value) for f in ordered])
            for line in lines:
                write(f"    {line}" if first else f",\n    {line}")
                first = False

    def save(self) -> None:
        if self.run.memo is not None:
            self.run.memo.save()
        self.run.pieces.save()
