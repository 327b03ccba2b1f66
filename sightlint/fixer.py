"""Apply the rules' fixes to one file: a pure core (:func:`fix_source`) and a file layer.

Each pass checks the text with the engine, parses it with LibCST (only when something is
fixable), finds the node at each finding's exact range, asks the rule for a
:class:`~sightlint.rules.base.Fix`, applies every replacement in one transformer pass and
then adds imports and module statements. Fixes whose nodes overlap are applied outermost
first; the inner ones are found again by the next pass's check. Nothing here raises: a
crashing fix, unparsable input or output becomes a ``failed``/``skipped`` result.
"""

from __future__ import annotations

import ast
import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from sightlint import engine, nesting
from sightlint.registry import enabled_rules
from sightlint.atomic import write_atomically
from sightlint.models import Finding, FixSafety
from sightlint.rules.base import Fix, Rule, RuleClass
from sightlint.semantics.bindings import BindingKind
from sightlint.semantics.scope import Context
from sightlint.settings import Settings
from sightlint.source import SourceError, decode_source, read_source, size_text

UNSAFE_REASON = "unsafe fix: use --unsafe-fixes"
NOT_ROUND_TRIP = "no fix: the fixer's parser (LibCST) would not write this file back byte for byte (a form feed in an indented line?)"
MAX_PASSES = 5
# Larger files get no fix (see ``_beyond_libcst``).
MAX_FIX_SIZE = 1024 * 1024
# ...and so do files with more tokens (LibCST's cost follows them: a 900 KB line of
# ``1, 1, ...`` has ten times the tokens of 900 KB of ordinary code; see ``nesting``).
MAX_FIX_TOKENS = 150_000

Status = Literal["changed", "unchanged", "failed"]


@dataclass(frozen=True)
class FixOutcome:
    """What fixing one file did. ``new`` is None unless the fixed text is usable."""

    path: str
    status: Status
    original: bytes
    new: bytes | None
    applied: tuple[Finding, ...] = ()
    skipped: tuple[tuple[Finding, str], ...] = ()
    reason: str | None = None
    # Every finding still reported on the fixed text (fixable or not).
    remaining: tuple[Finding, ...] = ()


def fix_source(
    data: bytes, path: str, settings: Settings, *, unsafe: bool = False, module: str | None = None
) -> FixOutcome:
    """Fix one file's contents; never raises."""
    try:
        return _fix(data, path, settings, unsafe, module)
    except Exception as exc:  # a bug here must not take the whole run down
        return FixOutcome(path, "failed", data, None, reason=f"internal error in the fixer: {type(exc).__name__}: {exc}")


def fix_file(
    path: Path, display: str, settings: Settings, *, unsafe: bool, write: bool, module: str | None = None
) -> FixOutcome:
    """Fix a file on disk; with ``write`` the new text replaces it atomically (mode kept)."""
    data = read_source(path, settings.max_file_size)
    if isinstance(data, str):
        return FixOutcome(display, "failed", b"", None, reason=f"cannot read file: {data}")
    outcome = fix_source(data, display, settings, unsafe=unsafe, module=module)
    if outcome.status != "changed" or not write or outcome.new is None:
        return outcome
    try:
        _write_atomically(path, outcome.new)
    except OSError as exc:
        return replace(outcome, status="failed", reason=f"cannot write file: {exc.strerror or exc}")
    return outcome


def _write_atomically(path: Path, content: bytes) -> None:
    target = path.resolve()  # write through a symlink instead of replacing it
    mode = stat.S_IMODE(target.stat().st_mode)
    # A rename replaces a read-only file as easily as any other (and root may write it
    # anyway): its mode says the user wants it left alone.
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, "the file is read-only", str(path))
    write_atomically(target, content, mode=mode)


def _parse_failure(findings: Sequence[Finding]) -> str | None:
    return next((f.message for f in findings if f.code == engine.PARSE_ERROR_CODE), None)


def _fix(data: bytes, path: str, settings: Settings, unsafe: bool, module: str | None) -> FixOutcome:
    enabled = enabled_rules(settings)
    rules = {rule.meta.code: rule for rule in enabled if not settings.ignored_for_path(path, rule.meta.code, rule.meta.name)}
    current = data
    applied: list[Finding] = []
    reasons: dict[Finding, str] = {}
    result = engine.check_source(current, path, settings, rules=enabled, module=module)
    failure = _parse_failure(result.findings)
    if failure:
        return FixOutcome(path, "failed", data, None, reason=failure, remaining=tuple(result.findings))
    for _ in range(MAX_PASSES):
        todo = [f for f in result.findings if _wanted(f, unsafe) and f.code in rules]
        if not todo:
            break
        why = _beyond_libcst(current)
        if why:
            reasons = {f: why for f in todo}
            break
        try:
            new, done, reasons = _apply_pass(current, path, settings, module, todo, rules, unsafe)
        except Exception as exc:
            if not applied:
                return FixOutcome(path, "failed", data, None, reason=f"cannot apply fixes: {type(exc).__name__}: {exc}")
            break  # keep what earlier passes achieved
        if not done or new == current:
            break
        result = engine.check_source(new, path, settings, rules=enabled, module=module)
        failure = _parse_failure(result.findings)
        if failure:
            return FixOutcome(path, "failed", data, None, tuple(applied), reason=f"a fix produced invalid code ({failure})")
        current = new
        applied.extend(done)
        reasons = {}
    remaining = tuple(result.findings)
    skipped = tuple((f, _skip_reason(f, unsafe, reasons)) for f in remaining if f.fixable)
    if current == data:
        return FixOutcome(path, "unchanged", data, None, (), skipped, remaining=remaining)
    try:
        ast.parse(decode_source(current))
    except (SyntaxError, ValueError, SourceError) as exc:
        return FixOutcome(path, "failed", data, None, tuple(applied), reason=f"fixed code does not parse: {exc}")
    return FixOutcome(path, "changed", data, current, tuple(applied), skipped, remaining=remaining)


def _beyond_libcst(data: bytes) -> str | None:
    """Why LibCST must not parse ``data``, as a skip reason, or None.

    Too deep, its native parser crashes the process (``sightlint.nesting``); too large,
    it needs about 400 MB and 5 s per MB of source (measured with libcst 1.9), or per
    100,000 tokens, whichever comes first.
    """
    if len(data) > MAX_FIX_SIZE:
        return f"no fix: file too large for the fixer ({size_text(len(data))} > {size_text(MAX_FIX_SIZE)})"
    found = nesting.beyond_libcst(decode_source(data), MAX_FIX_TOKENS)
    if found is None:
        return None
    kind, why = found
    if kind == "untokenizable":
        return f"no fix: {why}"
    if kind == "tokens":
        return f"no fix: file too large for the fixer ({why})"
    return f"no fix: file too deeply nested for the fixer ({why})"


def _wanted(finding: Finding, unsafe: bool) -> bool:
    return finding.fix_safety is FixSafety.SAFE or (finding.fix_safety is FixSafety.UNSAFE and unsafe)


def _skip_reason(finding: Finding, unsafe: bool, reasons: dict[Finding, str]) -> str:
    if finding.fix_safety is FixSafety.UNSAFE and not unsafe:
        return UNSAFE_REASON
    return reasons.get(finding, f"still reported after {MAX_PASSES} fix passes")


def _node_types(rule: RuleClass) -> tuple[type, ...]:
    """``fix_node`` as LibCST classes: rules may name them so they need not import LibCST."""
    import libcst as cst

    spec = rule.fix_node
    items = spec if isinstance(spec, tuple) else (spec,)
    return tuple(getattr(cst, item) if isinstance(item, str) else item for item in items if item is not None)


def _apply_pass(
    current: bytes,
    path: str,
    settings: Settings,
    module_name: str | None,
    todo: list[Finding],
    rules: dict[str, RuleClass],
    unsafe: bool = False,
) -> tuple[bytes, list[Finding], dict[Finding, str]]:
    """One pass: apply every non-overlapping fix. Returns new bytes, applied, and why others were not.

    ``unsafe`` is handed to the rules (``Rule.unsafe_fixes``): one with two fixes picks its unsafe one."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    module = cst.parse_module(current)
    # libcst 1.9 drops the last newline of a CR-only file (put back below) and a form
    # feed that starts an indented line (such a file is not fixed).
    written = module.bytes
    tail = b"\r" if current == written + b"\r" else b""
    if written + tail != current:
        return current, [], {f: NOT_ROUND_TRIP for f in todo}
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    at: dict[tuple[int, int], list[tuple[cst.CSTNode, Any]]] = {}
    for node, rng in positions.items():
        at.setdefault((rng.start.line, rng.start.column), []).append((node, rng))

    reasons: dict[Finding, str] = {}
    located: list[tuple[Finding, cst.CSTNode, tuple[tuple[int, int], tuple[int, int]]]] = []
    for finding in todo:
        types = _node_types(rules[finding.code])
        span = finding.span
        candidates = [(n, r) for n, r in at.get((span.line, span.col), []) if types and isinstance(n, types)]
        exact = [(n, r) for n, r in candidates if (r.end.line, r.end.column) == (span.end_line, span.end_col)]
        chosen = exact or candidates
        if len(chosen) != 1 and not exact:
            reasons[finding] = "no fix for this case (cannot find its node)"
            continue
        node, rng = chosen[0]
        located.append((finding, node, ((rng.start.line, rng.start.column), (rng.end.line, rng.end.column))))

    # Outermost first; anything overlapping an accepted fix waits for the next pass.
    located.sort(key=lambda item: (item[2][0], (-item[2][1][0], -item[2][1][1])))
    text = decode_source(current)
    tree = ast.parse(text)
    context = Context(path, text, tree, settings, module_name)
    instances: dict[str, Rule] = {}
    accepted: list[tuple[tuple[int, int], tuple[int, int]]] = []
    replacements: dict[int, Any] = {}
    fixes: list[Fix] = []
    done: list[Finding] = []
    for finding, node, bounds in located:
        if any(bounds[0] < other[1] and other[0] < bounds[1] for other in accepted):
            reasons[finding] = "overlaps another fix"
            continue
        rule_cls = rules[finding.code]
        try:
            instance = instances.get(finding.code)
            if instance is None:
                options = settings.rule_options.get(rule_cls.meta.name)
                instance = instances[finding.code] = rule_cls(context, options)
                instance.unsafe_fixes = unsafe
            fix = instance.fix(node, finding)
        except Exception as exc:
            reasons[finding] = f"the fix crashed: {type(exc).__name__}: {exc}"
            continue
        if fix is None:
            reasons[finding] = "no fix for this case"
            continue
        accepted.append(bounds)
        replacements[id(node)] = fix.replacement
        fixes.append(fix)
        done.append(finding)
    if not done:
        return current, [], reasons
    new_module = _add_module_code(module.visit(_replacer(replacements)), fixes, path, settings, module_name)
    new = new_module.bytes
    return (new + tail if tail and not new.endswith(tail) else new), done, reasons


def _replacer(replacements: dict[int, Any]) -> Any:
    """A transformer that swaps the nodes named (by identity) in ``replacements``."""
    import libcst as cst

    class Replace(cst.CSTTransformer):
        def on_leave(self, original_node: Any, updated_node: Any) -> Any:
            return replacements.get(id(original_node), updated_node)

    return Replace()


def _add_module_code(module: Any, fixes: list[Fix], path: str, settings: Settings, module_name: str | None) -> Any:
    """Add the fixes' imports (LibCST's AddImportsVisitor), then their module statements."""
    import libcst as cst
    from libcst.codemod import CodemodContext
    from libcst.codemod.visitors import AddImportsVisitor

    imports = dict.fromkeys(i for fix in fixes for i in fix.imports)
    module = _extend_from_imports(module, imports)
    if imports:
        context = CodemodContext()
        for mod, name in imports:
            AddImportsVisitor.add_needed_import(context, mod, name)
        module = AddImportsVisitor(context).transform_module(module)
    statements = dict(s for fix in fixes for s in fix.module_statements)
    if not statements:
        return module
    code = module.code
    scope = Context(path, code, ast.parse(code), settings, module_name)
    new = []
    for name, source in statements.items():
        binding = scope.module_binding(name)
        if binding is not None and binding.kind is not BindingKind.STAR_IMPORT:
            continue  # the module binds the name already
        stmt = cst.parse_statement(source)
        is_import = isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], (cst.Import, cst.ImportFrom))
        new.append(stmt if is_import else stmt.with_changes(leading_lines=[cst.EmptyLine()]))
    if not new:
        return module
    body = list(module.body)
    at = _insertion_index(body)
    return module.with_changes(body=[*body[:at], *new, *body[at:]])


def _extend_from_imports(module: Any, imports: dict[tuple[str, str | None], None]) -> Any:
    """Append a needed name to an existing top-level ``from mod import ...`` (AddImportsVisitor
    would put it first); what is not handled here is left to AddImportsVisitor."""
    import libcst as cst

    wanted: dict[str, list[str]] = {}
    for mod, name in imports:
        if name is not None:
            wanted.setdefault(mod, []).append(name)
    if not wanted:
        return module
    body = list(module.body)
    for index, stmt in enumerate(body):
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
            continue
        node = stmt.body[0]
        if not isinstance(node, cst.ImportFrom) or node.relative or isinstance(node.names, cst.ImportStar):
            continue
        if node.module is None or cst.Module([]).code_for_node(node.module) not in wanted:
            continue
        names = list(node.names)
        present = {cst.Module([]).code_for_node(a.name) for a in names if a.asname is None}
        missing = [n for n in wanted.pop(cst.Module([]).code_for_node(node.module)) if n not in present]
        if not missing:
            continue
        last = names[-1]
        trailing = last.comma
        # The new names go after the last one and take over its trailing comma, if any.
        names[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        added = [cst.ImportAlias(name=cst.Name(n), comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))) for n in missing]
        merged = [*names, *added]
        if _one_line(node) and _isort_sorted([_alias_name(a) for a in node.names]):
            # Keep an isort-sorted import sorted (`from datetime import UTC, datetime`).
            merged.sort(key=lambda a: _isort_key(_alias_name(a)))
            merged = [a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))) for a in merged]
        merged[-1] = merged[-1].with_changes(comma=trailing)
        body[index] = stmt.with_changes(body=[node.with_changes(names=merged)])
    return module.with_changes(body=body)


def _alias_name(alias: Any) -> str:
    import libcst as cst

    return str(cst.Module([]).code_for_node(alias.name))


def _isort_key(name: str) -> tuple[int, str]:
    """isort's and ruff's default order in a ``from`` import: CONSTANTS, Classes, functions."""
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name.lower()


def _isort_sorted(names: list[str]) -> bool:
    return [_isort_key(n) for n in names] == sorted(_isort_key(n) for n in names)


def _one_line(node: Any) -> bool:
    """True if a ``from`` import's names are on one line (no comments or line breaks to keep)."""
    import libcst as cst

    return all(
        isinstance(a.comma, cst.MaybeSentinel) or isinstance(a.comma.whitespace_after, cst.SimpleWhitespace)
        for a in node.names
    ) and all(isinstance(a.comma, cst.MaybeSentinel) or isinstance(a.comma.whitespace_before, cst.SimpleWhitespace) for a in node.names)


def _insertion_index(body: list[Any]) -> int:
    """After the last top-level import that precedes the first def/class; else after the docstring."""
    import libcst as cst

    def is_import(stmt: Any) -> bool:
        return isinstance(stmt, cst.SimpleStatementLine) and all(
            isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
        )

    last = None
    for index, stmt in enumerate(body):
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            break
        if is_import(stmt):
            last = index
    if last is not None:
        return last + 1
    at = 0
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr):
        if isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
            at = 1
    return at
