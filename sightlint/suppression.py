"""Suppression comments: ``# noqa``, ``# noqa: SL201``, ``# sightlint: ignore[SL201]``,
``# sightlint: skip-file``.

Comments are found with a regular expression first (cheap) and confirmed with
``tokenize`` only when a candidate exists, so text inside strings never counts.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

from sightlint.models import Finding

_CANDIDATE = re.compile(r"#.*?(?:noqa|sightlint\s*:)", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[\w-]+(?:[\s,]+[\w-]+)*))?", re.IGNORECASE)
_IGNORE = re.compile(
    r"#\s*sightlint\s*:\s*ignore(?:\[(?P<codes>[^\]]*)\])?(?:\s*[-:—]?\s*(?P<reason>.*))?", re.IGNORECASE
)
_SKIP_FILE = re.compile(r"#\s*sightlint\s*:\s*skip-file\b", re.IGNORECASE)


@dataclass
class Suppressions:
    """Suppression comments of one file, by line."""

    skip_file: bool = False
    # line -> codes (None means every code on that line)
    by_line: dict[int, frozenset[str] | None] = field(default_factory=dict)
    used: dict[int, set[str]] = field(default_factory=dict)
    # Lines whose every-code suppression is sightlint's own (``# sightlint: ignore``): a bare
    # ``# noqa`` is shared with ruff and flake8, so it is never called unused by sightlint.
    own_bare: set[int] = field(default_factory=set)

    def suppresses(self, finding: Finding, names: dict[str, str]) -> bool:
        for line in {finding.span.line, finding.span.end_line}:
            if line not in self.by_line:
                continue
            codes = self.by_line[line]
            if codes is None or finding.code in codes or names.get(finding.code, "") in codes:
                self.used.setdefault(line, set()).add(finding.code)
                return True
        return False

    def unused(self) -> list[tuple[int, tuple[str, ...] | None]]:
        """Suppressions that suppressed nothing (for codes that are SL codes)."""
        out: list[tuple[int, tuple[str, ...] | None]] = []
        for line, codes in sorted(self.by_line.items()):
            used = self.used.get(line, set())
            if codes is None:
                if not used and line in self.own_bare:
                    out.append((line, None))
                continue
            ours = {c for c in codes if c.startswith("SL")}
            idle = tuple(sorted(c for c in ours if c not in used))
            if idle:
                out.append((line, idle))
        return out


def _split_codes(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    parts = [p.strip() for p in re.split(r"[\s,]+", text) if p.strip()]
    return frozenset(p.upper() if p[:2].upper() == "SL" else p.lower() for p in parts) or None


def parse(text: str) -> Suppressions:
    """Collect the suppression comments of a file's text."""
    result = Suppressions()
    if not _CANDIDATE.search(text):
        return result
    try:
        comments = [
            (tok.start[0], tok.string)
            for tok in tokenize.generate_tokens(io.StringIO(text).readline)
            if tok.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return result
    for line, comment in comments:
        if _SKIP_FILE.search(comment):
            result.skip_file = True
            continue
        match = _IGNORE.search(comment)
        if match:
            codes = _split_codes(match.group("codes"))
            if codes is None:
                result.own_bare.add(line)
            _add(result, line, codes)
            continue
        match = _NOQA.search(comment)
        if match:
            _add(result, line, _split_codes(match.group("codes")))
    return result


def _add(result: Suppressions, line: int, codes: frozenset[str] | None) -> None:
    if line in result.by_line:
        old = result.by_line[line]
        result.by_line[line] = None if old is None or codes is None else old | codes
    else:
        result.by_line[line] = codes
