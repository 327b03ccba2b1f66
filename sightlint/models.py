"""Plain data shared by the engine, the fixer and the reporters."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """How bad a finding is; the order follows the audit's grouping.

    LOW is for what is worth knowing but not failing a build on (a latent race that one
    event loop prevents today, start-up-only file I/O): printed, but below the default
    ``fail-on`` (medium), so it fails a run only with ``--fail-on low``."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2
    CRITICAL = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            valid = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {valid})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class FixSafety(enum.Enum):
    """Whether a rule offers a fix, and whether it can change behaviour."""

    NONE = "none"
    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Span:
    """A source range: 1-based lines, 0-based columns counted in characters."""

    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(frozen=True)
class RelatedLocation:
    """A step of an explanation (for example one call in a chain) in another place."""

    path: str
    line: int
    col: int
    message: str


@dataclass(frozen=True)
class Finding:
    """One problem found in one file."""

    code: str
    name: str
    severity: Severity
    message: str
    path: str
    span: Span
    fix_safety: FixSafety = FixSafety.NONE
    fix_title: str | None = None
    related: tuple[RelatedLocation, ...] = ()
    detail: str | None = None
    # Every file a call chain behind a cross-file finding passes through, ``related``'s
    # and those of the chains it does not show (a check of some files reports a finding
    # located elsewhere when one of its chains passes through them).
    chain_paths: tuple[str, ...] = ()
    # For a per-file rule the project phase grades (``Rule.graded``): the line and column
    # of the ``def`` the finding sits in, which names its function in the project model.
    function: tuple[int, int] | None = None

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def col(self) -> int:
        return self.span.col

    @property
    def fixable(self) -> bool:
        return self.fix_safety is not FixSafety.NONE

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.span.line, self.span.col, self.code, self.message)


@dataclass
class FileResult:
    """What checking one file produced."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    # Internal errors (a rule crashed): they make the run exit 2.
    errors: list[str] = field(default_factory=list)
    # Suppression comments that suppressed nothing: (line, codes or None for bare noqa).
    unused_suppressions: list[tuple[int, tuple[str, ...] | None]] = field(default_factory=list)
    # The file's project-model summary (``sightlint.project.summary.ModuleSummary``), when
    # the run has cross-file rules, and its parsed suppression comments (kept so the
    # cross-file phase can apply them without re-reading the file).
    summary: Any = None
    suppressions: Any = None


@dataclass
class RunResult:
    """What checking a set of paths produced: the input of every reporter."""

    files: list[FileResult] = field(default_factory=list)
    # Problems that are not findings: unreadable paths, internal errors (each one line).
    errors: list[str] = field(default_factory=list)
    # What discovery left out: folders and files excluded by a pattern or ``.gitignore``,
    # and files named on the command line that are not Python (display paths).
    excluded: list[str] = field(default_factory=list)
    not_python: list[str] = field(default_factory=list)
    # The project's root folder (absolute), when there is one: SARIF URIs and fingerprints
    # are relative to it, not to the working folder.
    root: str | None = None
    # The folder (absolute) that the findings' relative paths are relative to: the working
    # folder of the run (``cwd`` of the API). None for a result not built from paths.
    base: str | None = None
    # The display paths of the files a check of some files of a project reported in full
    # (None: every file's result is whole); other files hold only findings whose chain
    # passes through these.
    named: frozenset[str] | None = None
    # What a baseline hid and which of its entries are stale (``reporting.baseline.Outcome``).
    baseline: Any = None
    # Where reporters may keep what they derive from a file's content between runs
    # (``cache.FileMemo``), when the run used a cache; None otherwise.
    memo: Any = None

    @property
    def findings(self) -> list[Finding]:
        out = [f for result in self.files for f in result.findings]
        out.sort(key=Finding.sort_key)
        return out

    @property
    def internal_errors(self) -> list[str]:
        return [e for result in self.files for e in result.errors]

    @property
    def files_checked(self) -> int:
        return len(self.files)
