"""Plain data shared by the engine, the fixer and the reporters."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from collections.abc import Callable
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
    # What the findings' fingerprints need from the file's tree, built where the tree is
    # (``sightlint.semantics.prints.table``: marshal bytes); None: the report parses the
    # file. Derived data, so not part of a result's equality.
    prints: bytes | None = field(default=None, compare=False)

    def worst(self) -> int:
        """The highest severity among the findings (its int value), or -1 without findings."""
        return max((int(f.severity) for f in self.findings), default=-1)

    def touches(self) -> tuple[str, ...] | None:
        """The files the chains of this result's findings pass through (``related`` and
        ``chain_paths``), if known without decoding anything (see :class:`LazyFileResult`);
        None: look at the findings."""
        return None


class LazyFileResult(FileResult):
    """A :class:`FileResult` kept encoded (a cache entry) until one of ``findings``,
    ``unused_suppressions`` or ``suppressions`` is first read or set.

    What a run asks of every file without reporting it in full is known without decoding:
    ``errors``, :meth:`worst` and :meth:`touches` (and so whether it has unused
    suppressions); ``worst``/``touches`` None and ``unused`` True stand for "not known: decode
    when asked". ``decode`` turns the blob into a plain result; if it raises, ``damaged``
    (given the path) supplies the result instead. Reading ``decoded`` tells whether the
    entry was decoded: one that was not is written back as it was read (``blob``).
    """

    def __init__(
        self,
        path: str,
        blob: bytes,
        decode: Callable[[bytes], FileResult],
        damaged: Callable[[str], FileResult],
        *,
        errors: list[str],
        worst: int | None,
        unused: bool,
        touches: tuple[str, ...] | None,
    ) -> None:
        # Not the dataclass __init__: the decoded fields are properties here.
        self.__dict__.update(path=path, errors=errors, summary=None)
        self.blob: bytes | None = blob
        self._decode = decode
        self._damaged = damaged
        self._worst = worst
        self._unused = unused
        self._touches = touches
        self._fields: FileResult | None = None

    @property
    def decoded(self) -> bool:
        return self._fields is not None

    def _open(self) -> FileResult:
        fields = self._fields
        if fields is None:
            assert self.blob is not None
            try:
                fields = self._decode(self.blob)
            except Exception:  # sightlint: ignore[SL201] handed to ``damaged``, which supplies the result
                fields = self._damaged(self.path)
            self._fields = fields
            self.blob = None
        return fields

    @property
    def findings(self) -> list[Finding]:
        return self._open().findings

    @findings.setter
    def findings(self, value: list[Finding]) -> None:
        self._open().findings = value

    @property
    def unused_suppressions(self) -> list[tuple[int, tuple[str, ...] | None]]:
        if not self._unused and self._fields is None:
            return []
        return self._open().unused_suppressions

    @unused_suppressions.setter
    def unused_suppressions(self, value: list[tuple[int, tuple[str, ...] | None]]) -> None:
        self._open().unused_suppressions = value

    @property
    def suppressions(self) -> Any:
        return self._open().suppressions

    @suppressions.setter
    def suppressions(self, value: Any) -> None:
        self._open().suppressions = value

    @property
    def prints(self) -> bytes | None:
        return self._open().prints

    @prints.setter
    def prints(self, value: bytes | None) -> None:
        self._open().prints = value

    def __eq__(self, other: object) -> bool:
        """Equal to a plain result with the same fields (what it stands for)."""
        if not isinstance(other, FileResult):
            return NotImplemented
        fields = ("path", "findings", "errors", "unused_suppressions", "summary", "suppressions")
        return all(getattr(self, name) == getattr(other, name) for name in fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass

    def worst(self) -> int:
        return self._worst if self._fields is None and self._worst is not None else super().worst()

    def touches(self) -> tuple[str, ...] | None:
        return self._touches if self._fields is None else None


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
    # The run snapshot (``cache.Snapshot``) these final results were read from, when the
    # run used a cache and nothing changed: a report of them may be kept with it.
    snapshot: Any = None

    @property
    def findings(self) -> list[Finding]:
        out = [f for result in self.files for f in result.findings]
        out.sort(key=Finding.sort_key)
        return out

    def worst(self) -> int:
        """The highest severity of any finding (its int value), or -1 without findings."""
        return max((result.worst() for result in self.files), default=-1)

    @property
    def internal_errors(self) -> list[str]:
        return [e for result in self.files for e in result.errors]

    @property
    def files_checked(self) -> int:
        return len(self.files)
