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

Computing it reads the files that hold findings again and parses them (only those, and
only when a fingerprint is asked for): the check itself is not touched.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sightlint.models import Finding, RunResult
from sightlint.reporting._common import SourceLines

VERSION = "v2"
_SPACE = re.compile(r"\s+")
# Fields holding nested statements: left out of a flagged compound statement's form.
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


@dataclass(frozen=True)
class Print:
    """A finding's fingerprint and the parts it was made of (the baseline shows them)."""

    fingerprint: str
    path: str  # relative to the project root, posix
    scope: str  # qualified name of the enclosing def/class, "" at module level


class _Module:
    """One parsed file: the def/class ranges (for scopes) and nodes by exact range."""

    def __init__(self, lines: list[str] | None) -> None:
        self.scopes: list[tuple[int, int, str]] = []  # (first line, last line, qualified name)
        self.nodes: dict[tuple[int, int, int, int], ast.AST] = {}
        self.starts: dict[tuple[int, int], list[ast.AST]] = {}
        self.ok = False
        self._by_line: list[str] | None = None
        if lines is None:
            return
        try:
            tree = ast.parse("\n".join(lines))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return
        self.ok = True
        self._visit(tree, "")

    def _visit(self, node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}.{child.name}" if prefix else child.name
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                self.scopes.append((first, child.end_lineno or child.lineno, name))
            if isinstance(child, (ast.expr, ast.stmt, ast.excepthandler, ast.arg, ast.keyword, ast.alias)):
                end_line, end_col = getattr(child, "end_lineno", None), getattr(child, "end_col_offset", None)
                if end_line is not None and end_col is not None:
                    self.nodes.setdefault((child.lineno, child.col_offset, end_line, end_col), child)
                    self.starts.setdefault((child.lineno, child.col_offset), []).append(child)
            self._visit(child, name)

    def node_at(self, line: int, col: int, end_line: int, end_col: int) -> ast.AST | None:
        """The node at exactly this range; else the smallest one starting there that covers
        it (a rule that flags the ``except X:`` header of a handler)."""
        exact = self.nodes.get((line, col, end_line, end_col))
        if exact is not None:
            return exact
        covering = [
            n for n in self.starts.get((line, col), [])
            if (getattr(n, "end_lineno", 0), getattr(n, "end_col_offset", 0)) >= (end_line, end_col)
        ]
        return min(covering, key=lambda n: (n.end_lineno, n.end_col_offset)) if covering else None  # type: ignore[attr-defined]

    def scope(self, line: int) -> str:
        """The innermost def/class around ``line`` (the smallest range; of equal ones, the
        last found), from a per-line table built once: a scan of every scope per finding
        took minutes on a module with thousands of both."""
        by_line = self._by_line
        if by_line is None:
            size = max((last for _, last, _ in self.scopes), default=0) + 1
            by_line = self._by_line = [""] * size
            # Largest first, so an inner (smaller, or equal and later) scope overwrites.
            for first, last, name in sorted(self.scopes, key=lambda s: -(s[1] - s[0])):
                by_line[first : last + 1] = [name] * (last + 1 - first)
        return by_line[line] if 0 <= line < len(by_line) else ""


def _form(node: ast.AST) -> str:
    """``ast.dump`` without positions; a compound statement without its nested statements."""
    if any(isinstance(getattr(node, field, None), list) and field in _BODIES for field in node._fields):
        parts = [
            f"{field}={ast.dump(value) if isinstance(value, ast.AST) else [ast.dump(v) if isinstance(v, ast.AST) else repr(v) for v in value] if isinstance(value, list) else repr(value)}"
            for field in node._fields
            if field not in _BODIES
            for value in [getattr(node, field, None)]
        ]
        return f"{type(node).__name__}({', '.join(parts)})"
    return ast.dump(node)


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
    findings: Sequence[Finding], root: str | None, sources: SourceLines | None = None, memo: Any = None
) -> list[Print]:
    """The fingerprint of each of ``findings`` (same order), relative to ``root``.

    ``memo`` (a ``cache.FileMemo``, from ``RunResult.memo``) keeps each file's scopes and
    forms by range between runs: a file whose content and finding ranges were seen before
    is neither read nor parsed again. The fingerprints are the same with or without it.
    """
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
            parts.append(part if type(part) is tuple and len(part) == 2 and all(type(p) is str for p in part) else None)
        if any(part is None for part in parts):
            fresh = _parts(path, [findings[i] for i in indices], sources)
            parts = [fresh[_range(findings[i])] for i in indices]
            if memo is not None:
                memo.put(path, {**known, **{key: part for key, part in fresh.items() if part is not None}})
        for i, part in zip(indices, parts):
            f = findings[i]
            scope, form = part if part is not None else _fallback(f, sources)
            keyed[i] = (f.code, shown, scope, form)
    # Occurrence index in position order, whatever order ``findings`` come in.
    order = sorted(range(len(findings)), key=lambda i: findings[i].sort_key())
    seen: Counter[tuple[str, str, str, str]] = Counter()
    index = [0] * len(findings)
    for i in order:
        index[i] = seen[keyed[i]]
        seen[keyed[i]] += 1
    out = []
    for (code, path, scope, form), n in zip(keyed, index):
        key = "\0".join((VERSION, code, path, scope, form, str(n)))
        digest = hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()[:32]
        out.append(Print(digest, path, scope))
    return out


def _range(f: Finding) -> tuple[int, int, int, int]:
    span = f.span
    return span.line, span.col, span.end_line, span.end_col


def _parts(path: str, findings: Sequence[Finding], sources: SourceLines) -> dict[tuple[int, int, int, int], tuple[str, str] | None]:
    """Range -> (enclosing scope, normalised form) of each of ``findings`` (all in ``path``),
    from the file as it reads now; None for a range whose form is the finding's message
    (no source to read it from: not a function of the file's content)."""
    lines = sources.lines(path)
    module = _Module(lines)
    out: dict[tuple[int, int, int, int], tuple[str, str] | None] = {}
    for f in findings:
        key = _range(f)
        if key in out:
            continue
        node = module.node_at(*key)
        if node is not None:
            out[key] = (module.scope(key[0]), _form(node))
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
    prints = fingerprints(findings, run.root, sources, run.memo)
    if run.memo is not None:
        run.memo.save()
    return list(zip(findings, prints))
