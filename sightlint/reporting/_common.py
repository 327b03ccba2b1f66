"""Small helpers the formats share: one-line escaping, source lines from disk, counts."""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from sightlint.models import FixSafety, RunResult
from sightlint.registry import PARSE_ERROR

if TYPE_CHECKING:
    from sightlint.settings import Settings

PARSE_ERROR_CODE = PARSE_ERROR.code  # without importing the engine: a run served by the cache checks nothing

BASELINE_FILE_NAME = ".sightlint-baseline.json"


def baseline_location(settings: Settings, root: str | None, cwd: Path | None = None) -> Path:
    """``baseline`` from the config (relative to its folder), else the default file name in
    the config's folder, else in the project root, else in the working folder (here: a run
    without a baseline file does not import ``reporting.baseline``)."""
    here = cwd or Path.cwd()
    base = Path(settings.config_path).parent if settings.config_path else Path(root) if root else here
    return base / Path(settings.baseline).expanduser() if settings.baseline else base / BASELINE_FILE_NAME


# Characters that end a line for str.splitlines() besides the C0/C1 controls.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029"}
# Bidirectional overrides and isolates: they reorder what follows them on the line, so a
# file name could make the rest of a report read differently ("Trojan Source", CVE-2021-42574).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters written as escapes.

    Keeps a path or a message on one physical line (and keeps terminal escape sequences
    in a hostile file name from reaching the terminal).
    """
    if text.isprintable() and _BIDI.isdisjoint(text):
        return text
    out = []
    for ch in text:
        if ch == "\t" or ch.isprintable() and ch not in _LINE_BREAKS and ch not in _BIDI:
            out.append(ch)
        elif ch in _NAMED:
            out.append(_NAMED[ch])
        elif ch in _LINE_BREAKS:
            out.append(_LINE_BREAKS[ch])
        elif ch in _BIDI:
            out.append(f"\\u{ord(ch):04x}")
        elif unicodedata.category(ch) in ("Cc", "Cs") and ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(f"\\u{ord(ch):04x}")
        else:  # format characters, unassigned, spaces other than ' ': harmless on one line
            out.append(ch)
    return "".join(out)


def unused_suppression_message(codes: tuple[str, ...] | None) -> str:
    if codes is None:
        return "unused suppression: `# noqa` without codes suppresses nothing here"
    from sightlint.registry import lookup

    unknown = [c for c in codes if lookup(c) is None]
    idle = [c for c in codes if c not in unknown]
    parts = []
    if unknown:
        parts.append(f"unknown rule code{'s' if len(unknown) > 1 else ''} in suppression: {', '.join(unknown)} (`sightlint rules` lists the codes)")
    if idle:
        parts.append(f"unused suppression: {', '.join(idle)} not reported on this line")
    return "; ".join(parts)


@dataclass(frozen=True)
class UnusedSuppression:
    path: str
    line: int
    codes: tuple[str, ...] | None

    @property
    def message(self) -> str:
        return unused_suppression_message(self.codes)


def collect_unused(run: RunResult) -> list[UnusedSuppression]:
    out = [UnusedSuppression(f.path, line, codes) for f in run.files for line, codes in f.unused_suppressions]
    out.sort(key=lambda u: (u.path, u.line))
    return out


@dataclass(frozen=True)
class Counts:
    files: int
    files_with_findings: int
    findings: int
    safe_fixes: int
    unsafe_fixes: int
    by_code: dict[str, int]
    # Files that could not be read or parsed (an SL000 finding each): nothing in them is
    # analysed and call chains through them are missing.
    not_parsed: int = 0
    excluded: int = 0
    unused_suppressions: int = 0

    @property
    def fixable(self) -> int:
        return self.safe_fixes + self.unsafe_fixes


def counts(run: RunResult) -> Counts:
    findings = run.findings
    by_code = Counter(f.code for f in findings)
    return Counts(
        files=run.files_checked,
        files_with_findings=len({f.path for f in findings}),
        findings=len(findings),
        safe_fixes=sum(1 for f in findings if f.fix_safety is FixSafety.SAFE),
        unsafe_fixes=sum(1 for f in findings if f.fix_safety is FixSafety.UNSAFE),
        by_code=dict(sorted(by_code.items())),
        not_parsed=len({f.path for f in findings if f.code == PARSE_ERROR_CODE}),
        excluded=len(run.excluded),
        unused_suppressions=sum(len(f.unused_suppressions) for f in run.files),
    )


def all_errors(run: RunResult) -> list[str]:
    """The run's errors, then internal errors not already among them."""
    seen = set(run.errors)
    return list(run.errors) + [e for e in run.internal_errors if e not in seen]


class SourceLines:
    """Lines of the files findings point at, read from disk on first use.

    A file that cannot be read or decoded gives ``None``: reporters then go without the
    source (a finding from stdin, a file deleted since the check).
    """

    def __init__(self) -> None:
        self._files: dict[str, list[str] | None] = {}

    def lines(self, path: str) -> list[str] | None:
        if path not in self._files:
            self._files[path] = self._read(path)
        return self._files[path]

    def line(self, path: str, number: int) -> str | None:
        lines = self.lines(path)
        if lines is None or not 1 <= number <= len(lines):
            return None
        return lines[number - 1]

    @staticmethod
    def _read(path: str) -> list[str] | None:
        from sightlint.source import SourceError, decode_source

        try:
            file = Path(path)
            if not file.is_file():
                return None
            return decode_source(file.read_bytes()).split("\n")
        except (OSError, ValueError, SourceError):
            return None
