"""The baseline: findings a team accepted when adopting sightlint, by fingerprint.

``sightlint baseline`` writes every current finding to ``.sightlint-baseline.json`` (or
``baseline = "..."`` in the config); ``sightlint check`` then reports only findings not in
it. Entries whose finding is gone are *stale*: reported, and removed by
``check --prune-baseline``, which never adds an entry, so a baseline only shrinks.

The file is sorted, one entry a line, with the rule, the path, the enclosing function
and the message next to each fingerprint, so that a review and a diff can read it; it
is byte-identical for the same findings whatever ``--jobs`` or the cache did.

``--add-noqa`` is the other way to adopt: a ``# sightlint: ignore[CODE]`` comment with a
reason to fill in on each finding's line.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sightlint.models import FileResult, Finding, RunResult
from sightlint.registry import PARSE_ERROR
from sightlint.reporting._common import BASELINE_FILE_NAME, SourceLines, baseline_location
from sightlint.reporting.fingerprint import Print, fingerprints, of_run, relative
from sightlint.settings import Settings

PARSE_ERROR_CODE = PARSE_ERROR.code  # without importing the engine: a run served by the cache checks nothing

FILE_NAME = BASELINE_FILE_NAME
FORMAT = 1
NOQA_REASON = "TODO: say why this is acceptable"


class BaselineError(Exception):
    """A baseline file that cannot be read (exit code 2)."""


@dataclass(frozen=True, order=True)
class Entry:
    path: str
    code: str
    scope: str
    fingerprint: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"fingerprint": self.fingerprint, "code": self.code, "path": self.path, "scope": self.scope, "message": self.message}


@dataclass
class Outcome:
    """What applying a baseline did to a run."""

    path: str
    hidden: int = 0
    stale: list[Entry] = field(default_factory=list)
    pruned: int = 0


location = baseline_location


def load(path: Path) -> list[Entry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: not a sightlint baseline (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("sightlint_baseline") != FORMAT or not isinstance(data.get("findings"), list):
        raise BaselineError(f"{path}: not a sightlint baseline (format {FORMAT}); write it again with `sightlint baseline`")
    out = []
    for item in data["findings"]:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("fingerprint", "code", "path")):
            raise BaselineError(f"{path}: malformed entry {item!r}")
        out.append(Entry(item["path"], item["code"], str(item.get("scope", "")), item["fingerprint"], str(item.get("message", ""))))
    return out


def dump(entries: Sequence[Entry]) -> str:
    """The file's text: sorted, one entry a line, ASCII, ending with a newline."""
    encode = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
    lines = [f"    {encode(e.as_dict())}" for e in sorted(set(entries))]
    body = ",\n".join(lines)
    findings = f"[\n{body}\n  ]" if lines else "[]"
    return f'{{\n  "sightlint_baseline": {FORMAT},\n  "findings": {findings}\n}}\n'


def _write(path: Path, text: str) -> None:
    from sightlint.atomic import write_atomically

    try:
        write_atomically(path, text.encode("ascii"), mode=0o644)
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc.strerror or exc}") from None


def entries(run: RunResult, sources: SourceLines | None = None) -> list[Entry]:
    """The baseline entries of ``run``'s findings. A file that cannot be parsed (SL000) is
    never baselined: nothing in it is analysed, which no review can accept for later."""
    return [Entry(p.path, f.code, p.scope, p.fingerprint, f.message) for f, p in of_run(run, sources) if f.code != PARSE_ERROR_CODE]


def _full_paths(run: RunResult) -> set[str] | None:
    """Root-relative paths of the files whose every finding the run reports (None: all)."""
    if run.named is None:
        return None
    return {relative(path, run.root) for path in run.named}


def write(path: Path, run: RunResult) -> tuple[int, int]:
    """Write the baseline of ``run``'s findings; entries of files the run did not report
    in full (a check of some files) are kept. Returns (entries written, entries kept)."""
    new = entries(run)
    kept: list[Entry] = []
    full = _full_paths(run)
    if full is not None and path.exists():
        kept = [e for e in load(path) if e.path not in full]
    _write(path, dump([*new, *kept]))
    return len(new), len(kept)


def apply(run: RunResult, path: Path, *, prune: bool = False) -> RunResult:
    """``run`` without the findings ``path`` lists; ``run.baseline`` tells what was hidden
    and which entries are stale. With ``prune``, stale entries are removed from the file."""
    listed = load(path)
    wanted = {e.fingerprint for e in listed}
    matched: set[str] = set()
    keep: dict[int, bool] = {}
    for f, p in of_run(run):
        hit = p.fingerprint in wanted and f.code != PARSE_ERROR_CODE
        keep[id(f)] = not hit
        if hit:
            matched.add(p.fingerprint)
    # Identity of the Finding objects: run.findings returns the same objects each time.
    out = dataclasses.replace(run, files=[])
    hidden = 0
    for result in run.files:
        findings = [f for f in result.findings if keep.get(id(f), True)]
        hidden += len(result.findings) - len(findings)
        out.files.append(result if len(findings) == len(result.findings) else _with_findings(result, findings))
    full = _full_paths(run)
    checked = {relative(r.path, run.root) for r in run.files} | (full or set())
    stale = [e for e in listed if e.fingerprint not in matched and (e.path in checked if full is not None else True)]
    outcome = Outcome(_shown(path), hidden=hidden, stale=sorted(stale))
    if prune and stale:
        gone = set(stale)
        _write(path, dump([e for e in listed if e not in gone]))
        outcome.pruned = len(stale)
    out.baseline = outcome
    return out


def _shown(path: Path) -> str:
    try:
        return Path(os.path.relpath(path)).as_posix()
    except ValueError:
        return path.as_posix()


# -- --add-noqa -----------------------------------------------------------------------------


def _commentable(text: str) -> set[int] | None:
    """Lines whose end is outside any string (a comment may go there); None if untokenizable."""
    lines: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT):
                lines.add(tok.start[0])
    except (tokenize.TokenError, SyntaxError):
        return None
    return lines


def add_noqa(findings: Sequence[Finding]) -> tuple[int, int, list[str]]:
    """Write ``# sightlint: ignore[CODES] TODO: ...`` on each finding's line (or its last
    line, when the first ends inside a string). Returns (comments added, files changed,
    one note per finding that could not be suppressed)."""
    import ast

    from sightlint.source import decode_source

    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.path, []).append(f)
    added = changed = 0
    notes: list[str] = []
    for path, mine in sorted(by_file.items()):
        file = Path(path)
        try:
            raw = file.read_bytes()
            text = decode_source(raw)
        except Exception as exc:  # unreadable since the check: say so, keep going
            notes.append(f"{path}: not changed: {exc}")
            continue
        ok = _commentable(text)
        lines = text.split("\n")
        codes: dict[int, list[str]] = {}
        for f in mine:
            line = next((n for n in (f.span.line, f.span.end_line) if ok is not None and n in ok and n <= len(lines)), None)
            if line is None:
                notes.append(f"{path}:{f.span.line}: {f.code} not suppressed: no line of it can hold a comment")
                continue
            codes.setdefault(line, [])
            if f.code not in codes[line]:
                codes[line].append(f.code)
        if not codes:
            continue
        for line, line_codes in codes.items():
            body = lines[line - 1]
            ending = "\r" if body.endswith("\r") else ""
            body = body[: len(body) - len(ending)].rstrip()
            lines[line - 1] = f"{body}  # sightlint: ignore[{', '.join(sorted(line_codes))}] {NOQA_REASON}{ending}"
        new = "\n".join(lines)
        try:
            ast.parse(new)
        except SyntaxError:
            notes.append(f"{path}: not changed: the comments would break the file")
            continue
        encoding = "utf-8"
        if raw.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8-sig"
        file.write_bytes(new.encode(encoding))
        added += sum(len(c) for c in codes.values())
        changed += 1
    return added, changed, notes


def summary(outcome: Any) -> list[str]:
    """Lines for the text report about the baseline in use."""
    if not isinstance(outcome, Outcome):
        return []
    out = []
    if outcome.hidden:
        out.append(f"{outcome.hidden} finding(s) hidden by the baseline {outcome.path} (--no-baseline shows them).")
    if outcome.stale and outcome.pruned:
        out.append(f"Removed {outcome.pruned} stale entr{'y' if outcome.pruned == 1 else 'ies'} from {outcome.path}.")
    elif outcome.stale:
        n = len(outcome.stale)
        out.append(f"{n} baseline entr{'y is' if n == 1 else 'ies are'} stale (fixed since): --prune-baseline removes {'it' if n == 1 else 'them'}.")
    return out


__all__ = ["BaselineError", "Entry", "FILE_NAME", "Outcome", "Print", "add_noqa", "apply", "dump", "entries", "fingerprints", "load", "location", "summary", "write"]


def _with_findings(result: FileResult, findings: list[Finding]) -> FileResult:
    """``result`` with other findings (a plain copy: ``result`` may be a ``LazyFileResult``)."""
    return FileResult(
        result.path, findings=findings, errors=result.errors, unused_suppressions=result.unused_suppressions,
        summary=result.summary, suppressions=result.suppressions,
    )  # fmt: skip
