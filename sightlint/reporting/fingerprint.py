"""Fingerprints: what a finding is about, not where it is.

A finding's fingerprint hashes

- the rule's code,
- the file's path relative to the project root (the working folder does not matter),
- the qualified name of the function or class around it (``Service.refresh``),
- a normalised form of the flagged code: the ``ast`` dump of the node at the finding's
  range, without positions (so neither reformatting, quotes, line breaks nor comments
  change it), with the bodies of a flagged ``def``/``class``/``with``/``for``/... left out
  (editing the rest of a function does not change a finding on its header); the range's
  text without whitespace when no node sits exactly there,
- and an occurrence index among findings equal in all of the above (two identical calls
  in one function).

It therefore survives lines added above the finding, reformatting, and moving the
function within its file; it changes when the flagged code changes, the function is
renamed or the file moves. The baseline and the JSON and SARIF reports use it.

The parts that come from the file's tree (scope, form) are worked out by the check
itself, where the tree is (``sightlint.semantics.prints``), and carried with each file's
result (and its cache entry); only a finding they cannot answer for sure makes the report
read and parse its file again, as it did for every file before.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sightlint.models import FileResult, Finding, RunResult
from sightlint.reporting._common import SourceLines

VERSION = "v2"
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Print:
    """A finding's fingerprint and the parts it was made of (the baseline shows them)."""

    fingerprint: str
    path: str  # relative to the project root, posix
    scope: str  # qualified name of the enclosing def/class, "" at module level


def _module(lines: list[str] | None, wanted: frozenset[tuple[int, int]] | None = None) -> Any:
    """One file parsed again from its lines (a ``semantics.prints.Located``, with ``ok``):
    what answers where the tables do not. Imported here: a run served by the cache imports
    no semantics module."""
    from sightlint.semantics.prints import Located

    tree = None
    if lines is not None:
        try:
            tree = ast.parse("\n".join(lines))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
    module = Located(tree if tree is not None else ast.Module(body=[], type_ignores=[]), wanted)
    module.ok = tree is not None  # type: ignore[attr-defined]
    return module


_Module = _module


def _span_text(lines: list[str] | None, f: Finding) -> str:
    span = f.span
    if lines is None or not 1 <= span.line <= len(lines):
        return f.message
    if span.end_line == span.line:
        text = lines[span.line - 1][span.col : span.end_col] if span.end_col > span.col else lines[span.line - 1]
    else:
        chunk = lines[span.line - 1 : span.end_line]
        text = "\n".join(chunk)
    return _SPACE.sub("", text)


def relative(path: str, root: str | None) -> str:
    """``path`` (as the run shows it) relative to the project ``root``, posix; as shown when outside."""
    if root is None:
        return path.replace(os.sep, "/")
    if not os.path.isabs(path) and not path.startswith("..") and os.path.normpath(path) == path:
        # A clean path below the working folder (as discovery shows every file): no
        # abspath/relpath (a third of a 15k-finding report's fingerprints).
        cwd = os.getcwd()
        if cwd == root:
            return path.replace(os.sep, "/")
        prefix = root.rstrip(os.sep) + os.sep
        if cwd.startswith(prefix):
            return (cwd[len(prefix) :] + os.sep + path).replace(os.sep, "/")
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, root) if absolute.startswith(root.rstrip(os.sep) + os.sep) else None
    return (rel if rel is not None else path).replace(os.sep, "/")


def fingerprints(
    findings: Sequence[Finding],
    root: str | None,
    sources: SourceLines | None = None,
    memo: Any = None,
    tables: Callable[[str], bytes | None] | None = None,
) -> list[Print]:
    """The fingerprint of each of ``findings`` (same order), relative to ``root``.

    ``memo`` (a ``cache.FileMemo``, from ``RunResult.memo``) keeps each file's scopes and
    forms by range between runs: a file whose content and finding ranges were seen before
    is neither read nor parsed again. ``tables`` gives a file's fingerprint table (see
    :func:`tables_of`): what it answers for is not parsed again either. The fingerprints
    are the same with or without them.
    """
    return [Print(digest, path, scope) for digest, path, scope in _prints(findings, root, sources, memo, tables)]


def digests(
    findings: Sequence[Finding],
    root: str | None,
    sources: SourceLines | None = None,
    memo: Any = None,
    tables: Callable[[str], bytes | None] | None = None,
    *,
    ordered: bool = False,
) -> list[str]:
    """The fingerprints alone (:func:`fingerprints`' ``Print.fingerprint``); ``ordered``: the
    findings are in ``Finding.sort_key`` order already (as the JSON report writes a file's)."""
    return [digest for digest, _, _ in _prints(findings, root, sources, memo, tables, ordered)]


def _prints(
    findings: Sequence[Finding],
    root: str | None,
    sources: SourceLines | None,
    memo: Any,
    tables: Callable[[str], bytes | None] | None,
    ordered: bool = False,
) -> list[tuple[str, str, str]]:
    """(fingerprint, path, scope) of each of ``findings``: see :func:`fingerprints`."""
    sources = sources or SourceLines()
    # One file's tree at a time: all of them at once held every parsed file with a
    # finding in memory until the report was written (most of a run's peak).
    by_path: dict[str, list[int]] = {}
    for i, f in enumerate(findings):
        by_path.setdefault(f.path, []).append(i)
    keyed: list[tuple[str, str, str, str]] = [("", "", "", "")] * len(findings)
    for path, indices in by_path.items():
        shown = relative(path, root)
        known = memo.get(path) if memo is not None else None
        if type(known) is not dict:
            known = {}
        parts: list[tuple[str, str] | None] = []
        for i in indices:
            span = findings[i].span
            part = known.get((span.line, span.col, span.end_line, span.end_col))
            parts.append(part if type(part) is tuple and len(part) == 2 and type(part[0]) is str and type(part[1]) is str else None)
        if any(part is None for part in parts):
            fresh = _from_table(path, [findings[i] for i, part in zip(indices, parts) if part is None], sources, tables)
            unknown = [findings[i] for i, part in zip(indices, parts) if part is None and fresh.get(_range(findings[i])) is None]
            if unknown:
                fresh.update(_parts(path, unknown, sources))
            parts = [fresh[_range(findings[i])] if part is None else part for i, part in zip(indices, parts)]
            if memo is not None:
                memo.put(path, {**known, **{key: part for key, part in fresh.items() if part is not None}})
        for i, part in zip(indices, parts):
            f = findings[i]
            scope, form = part if part is not None else _fallback(f, sources)
            keyed[i] = (f.code, shown, scope, form)
    # Occurrence index in position order, whatever order ``findings`` come in (a stable
    # sort of findings in that order already is the identity).
    order = range(len(findings)) if ordered else sorted(range(len(findings)), key=lambda i: findings[i].sort_key())
    seen: dict[tuple[str, str, str, str], int] = {}
    index = [0] * len(findings)
    for i in order:
        keys = keyed[i]
        n = index[i] = seen.get(keys, 0)
        seen[keys] = n + 1
    out = []
    sha256 = hashlib.sha256
    for (code, path, scope, shape), n in zip(keyed, index):
        key = "\0".join((VERSION, code, path, scope, shape, str(n)))
        out.append((sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()[:32], path, scope))
    return out


def _range(f: Finding) -> tuple[int, int, int, int]:
    span = f.span
    return span.line, span.col, span.end_line, span.end_col


def _from_table(
    path: str, findings: Sequence[Finding], sources: SourceLines, tables: Callable[[str], bytes | None] | None
) -> dict[tuple[int, int, int, int], tuple[str, str] | None]:
    """Range -> (scope, form) of each of ``findings`` (all in ``path``) that the file's
    fingerprint table answers for; None for the others."""
    from sightlint.semantics.prints import load

    table = load(tables(path)) if tables is not None else None
    # A file that cannot be read now (checked from memory, deleted since) has the
    # finding's message for its form, as ever: the parse below says so.
    lines = sources.lines(path) if table is not None else None
    if table is None or lines is None:
        return {}
    return dict(table.answer([_range(f) for f in findings], lines))


def tables_of(run: RunResult) -> Callable[[str], bytes | None]:
    """A file's fingerprint table from ``run``'s results, by display path (read only for
    the files asked about: a cached result is decoded only if it holds a finding)."""
    by_path: dict[str, FileResult] | None = None

    def table(path: str) -> bytes | None:
        nonlocal by_path
        if by_path is None:
            by_path = {result.path: result for result in run.files}
        result = by_path.get(path)
        return None if result is None else result.prints

    return table


def _parts(path: str, findings: Sequence[Finding], sources: SourceLines) -> dict[tuple[int, int, int, int], tuple[str, str] | None]:
    """Range -> (enclosing scope, normalised form) of each of ``findings`` (all in ``path``),
    from the file as it reads now; None for a range whose form is the finding's message
    (no source to read it from: not a function of the file's content)."""
    lines = sources.lines(path)
    module = _Module(lines, frozenset((f.span.line, f.span.col) for f in findings))
    out: dict[tuple[int, int, int, int], tuple[str, str] | None] = {}
    for f in findings:
        key = _range(f)
        if key in out:
            continue
        node = module.node_at(*key)
        if node is not None:
            from sightlint.semantics.prints import form

            out[key] = (module.scope(key[0]), form(node))
        elif lines is not None and 1 <= key[0] <= len(lines):
            out[key] = (module.scope(key[0]), _span_text(lines, f))
        else:
            out[key] = None
    return out


def _fallback(f: Finding, sources: SourceLines) -> tuple[str, str]:
    """Scope and form of a finding whose range the file does not hold: no scope, its message."""
    return _Module(None).scope(f.span.line), _span_text(sources.lines(f.path), f)


def of_run(run: RunResult, sources: SourceLines | None = None) -> list[tuple[Finding, Print]]:
    """Every finding of ``run`` (in report order) with its fingerprint."""
    findings = run.findings
    prints = fingerprints(findings, run.root, sources, run.memo, tables_of(run))
    if run.memo is not None:
        run.memo.save()
    return list(zip(findings, prints))
