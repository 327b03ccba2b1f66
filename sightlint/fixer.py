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
import bisect
import contextlib
import gc
import io
import os
import re
import stat
import sys
import tempfile
import tokenize
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from sightlint import engine, nesting
from sightlint.files import SourceFile, project_root
from sightlint.models import Finding, FixSafety, RunResult
from sightlint.registry import enabled_rules
from sightlint.rules.base import Fix, NoFix, PlannedFix, Rule, RuleClass, SiteEdit
from sightlint.semantics.bindings import BindingKind
from sightlint.semantics.scope import Context
from sightlint.settings import Settings
from sightlint.source import SourceError, decode_source, quiet_source_warnings, read_source, size_text

UNSAFE_REASON = "unsafe fix: use --unsafe-fixes"
READ_ONLY = "cannot write file: the file is read-only"
NOT_ROUND_TRIP = "no fix: the fixer's parser (LibCST) would not write this code back byte for byte (a form feed in an indented line?)"
NOT_PARSED = "no fix: the fixer's parser (LibCST) cannot parse this code (a form feed in an indented line?)"
MAX_PASSES = 5
# Larger statements (and module headers) get no fix (see ``_beyond_libcst``)...
MAX_FIX_SIZE = 1024 * 1024
# ...and so do those with more tokens (LibCST's cost follows them: a 900 KB line of
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
    data: bytes,
    path: str,
    settings: Settings,
    *,
    unsafe: bool = False,
    module: str | None = None,
    findings: Sequence[Finding] | None = None,
    facts: dict[str, dict[str, Any]] | None = None,
    first_party: frozenset[str] = frozenset(),
) -> FixOutcome:
    """Fix one file's contents; never raises.

    ``findings`` are the file's findings as the whole-project check reported them (graded,
    cross-file ones included): the first pass fixes those instead of checking the file on
    its own. ``facts`` are the rules' ``fix_facts`` (by code); ``first_party`` the
    project's top-level package names (for import groups)."""
    # The cyclic collector is paused while one file is fixed, as a check pauses it: the
    # trees and scope models of a large file would be walked again and again by full
    # collections, making fix time grow faster than the findings. It runs again afterwards
    # (a CLI run keeps it off throughout; a fix worker turns it back on between files).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _fix(data, path, settings, unsafe, module, findings, facts or {}, first_party)
    except Exception as exc:  # a bug here must not take the whole run down
        return FixOutcome(path, "failed", data, None, reason=f"internal error in the fixer: {type(exc).__name__}: {exc}")
    finally:
        if collecting:
            gc.enable()


def fix_file(
    path: Path, display: str, settings: Settings, *, unsafe: bool, write: bool, module: str | None = None
) -> FixOutcome:
    """Fix one file on disk on its own; with ``write`` the new text replaces it atomically
    (mode kept), unless the file changed since it was read."""
    data = read_source(path, settings.max_file_size)
    if isinstance(data, str):
        return FixOutcome(display, "failed", b"", None, reason=f"cannot read file: {data}")
    outcome = fix_source(data, display, settings, unsafe=unsafe, module=module)
    if outcome.status != "changed" or not write or outcome.new is None:
        return outcome
    why = write_if_unchanged(path.resolve(), data, outcome.new)
    return outcome if why is None else replace(outcome, status="failed", reason=why)


def write_if_unchanged(target: Path, original: bytes, new: bytes) -> str | None:
    """Replace ``target`` atomically with ``new`` unless its content is no longer
    ``original`` (checked just before the rename); returns why it was not written, or None.
    A read-only file is not replaced (:data:`READ_ONLY`).

    The new text goes to a temporary file in the same folder (with the file's mode),
    which then replaces the file in one ``os.replace``: a reader, or a crash at any
    moment, sees the old content or the new one, never a mix."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
        # A rename replaces a read-only file as easily as any other (and root may write it
        # anyway): its mode says the user wants it left alone.
        if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
            return READ_ONLY
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".sightlint-tmp")
    except OSError as exc:
        return f"cannot write file: {exc.strerror or exc}"
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(new)
        os.chmod(tmp, mode)
        with open(target, "rb") as handle:
            now = handle.read()
        if now != original:
            os.unlink(tmp)
            return "changed on disk since it was read: not overwritten (run `sightlint fix` again)"
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return f"cannot write file: {exc.strerror or exc}"
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return None


# -- the project pipeline --------------------------------------------------------------

MAX_ROUNDS = 3


@dataclass
class ProjectFix:
    """What ``sightlint fix`` did to a project.

    ``outcomes``: one per file that had something to fix, by display path (the last
    round's for a file fixed in several). ``before``: the check the fixes were planned
    on. ``after``: the whole-project check after writing (None when nothing was written).
    ``not_written``: files whose new text was not written, and why."""

    before: RunResult
    outcomes: dict[str, FixOutcome] = field(default_factory=dict)
    after: RunResult | None = None
    not_written: list[tuple[str, str]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Project fixes (several files) not applied, and why (see ``Refused``).
    refused: list[Refused] = field(default_factory=list)
    # Project fixes applied (written, or that would be without ``write``).
    project_applied: list[PlannedFix] = field(default_factory=list)

    @property
    def changed(self) -> list[FixOutcome]:
        return [o for o in self.outcomes.values() if o.status == "changed"]

    @property
    def failed(self) -> list[FixOutcome]:
        return [o for o in self.outcomes.values() if o.status == "failed"]


Progress = Callable[[int, int], None]


def fix_paths(
    paths: Sequence[Path],
    settings: Settings,
    *,
    unsafe: bool = False,
    write: bool = True,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    cross_file: bool = False,
) -> ProjectFix:
    """Fix the Python files under ``paths`` as one transaction, with their whole project around them.

    The plan comes from the same check as ``sightlint check`` (cached, on ``jobs``
    processes): only files with a fix to apply are read again and parsed with LibCST,
    once per pass. Every file's new text is computed and parsed before any is written;
    then each is written atomically, unless it resolves outside the project root or
    changed on disk since it was read (``not_written``); one that cannot be written
    (read-only, disk full) becomes a ``failed`` outcome. After writing, the project is
    checked again, and files that the fixes left with new fixable findings are fixed in
    another round (at most ``MAX_ROUNDS``). Without ``write`` nothing is written and
    ``after`` stays None.

    Project fixes (a rule's ``plan_fixes``: several nodes, maybe several files) come first,
    in rounds of their own (see ``_project_phase``). When ``paths`` name some files of a
    project, one that would also edit files not named is not applied (``refused``, with
    those files) unless ``cross_file``.
    """
    from sightlint import api

    found = api.discover_project(paths, settings)
    root = project_root(paths, settings) or _common_folder(paths)
    before = api.check_discovered(found, settings, jobs=jobs, cache_dir=cache_dir, use_cache=use_cache)
    report = ProjectFix(before=before)
    files = {f.display: f for f in found.files}
    pending = _project_phase(
        report, found, files, root, settings, unsafe=unsafe, write=write, cross_file=cross_file,
        jobs=jobs, cache_dir=cache_dir, use_cache=use_cache,
    )
    run = report.after or before
    attempted: set[str] = set(pending)
    others = _to_fix(before, found.named, settings, unsafe, set())
    mine = {d: t for d, t in pending.items() if d in others}
    if mine:  # --diff: the per-file fixes start from the project fixes' text
        facts = _rule_facts({f.code for d in mine for f in others[d] if _wanted(f, unsafe)}, found.files, settings)
        for display, text in mine.items():
            _fix_pending(report, files[display], text, settings, unsafe, found.files, facts)
    for _ in range(MAX_ROUNDS):
        todo = _to_fix(run, found.named, settings, unsafe, attempted)
        if not todo:
            break
        attempted.update(todo)
        outcomes = _fix_files([(files[d], todo[d]) for d in todo if d in files], found.files, settings, unsafe, jobs, progress)
        for outcome in outcomes:
            earlier = report.outcomes.get(outcome.path)
            if earlier is not None and earlier.status == "changed" and outcome.path in report.written:
                # Fixed by a project fix first: one outcome, from the first text to the last.
                outcome = replace(outcome, original=earlier.original, applied=(*earlier.applied, *outcome.applied))
                if outcome.status == "unchanged":
                    outcome = replace(earlier, skipped=outcome.skipped, remaining=outcome.remaining)
            report.outcomes[outcome.path] = outcome
        if not write:
            break
        wrote = False
        for outcome in outcomes:
            if outcome.status != "changed" or outcome.new is None:
                continue
            why = _write(files[outcome.path], root, outcome)
            if why is None:
                if outcome.path not in report.written:
                    report.written.append(outcome.path)
                wrote = True
            elif why.startswith(_WRITE_ERRORS):
                # The write was tried and failed (read-only, disk full): an error, like a
                # file that cannot be read; a refusal (outside the root, edited) is not.
                report.outcomes[outcome.path] = replace(outcome, status="failed", reason=why)
            else:
                report.not_written.append((outcome.path, why))
        if not wrote:
            break
        run = report.after = api.check_discovered(found, settings, jobs=jobs, cache_dir=cache_dir, use_cache=use_cache)
    return report


def _fix_pending(
    report: ProjectFix,
    file: SourceFile,
    text: bytes,
    settings: Settings,
    unsafe: bool,
    project: Sequence[SourceFile],
    facts: dict[str, dict[str, Any]],
) -> None:
    """Without writing: the per-file fixes of a file on top of its project fixes' text
    (checked on its own: the project's positions no longer hold)."""
    earlier = report.outcomes[file.display]
    first_party = frozenset(f.module.split(".")[0] for f in project if f.module) - sys.stdlib_module_names
    outcome = fix_source(text, file.display, settings, unsafe=unsafe, module=file.module, facts=facts, first_party=first_party)
    if outcome.status == "changed" and outcome.new is not None:
        report.outcomes[file.display] = replace(
            outcome, original=earlier.original, applied=(*earlier.applied, *outcome.applied)
        )
    else:
        report.outcomes[file.display] = replace(earlier, skipped=outcome.skipped, remaining=outcome.remaining)


_WRITE_ERRORS = ("cannot write file:",)

# -- project fixes: several nodes in several files, one transaction -----------------------

MAX_PROJECT_ROUNDS = 3
NEEDS_FILES = "needs files not named"


@dataclass(frozen=True)
class Refused:
    """A project fix not applied: the finding, why, and the files it would edit."""

    finding: Finding
    reason: str
    files: tuple[str, ...] = ()


def _project_rules(settings: Settings) -> dict[str, RuleClass]:
    return {rule.meta.code: rule for rule in enabled_rules(settings) if rule.project_fixes}


def _project_phase(
    report: ProjectFix,
    found: Any,
    files: dict[str, SourceFile],
    root: Path,
    settings: Settings,
    *,
    unsafe: bool,
    write: bool,
    cross_file: bool,
    jobs: int | None,
    cache_dir: Path | None,
    use_cache: bool,
) -> dict[str, bytes]:
    """Plan the project fixes on the model, apply each round's as one transaction, re-check
    (up to :data:`MAX_PROJECT_ROUNDS`). Returns, without ``write``, the new text of each
    file changed (nothing is written; the per-file fixes then start from it)."""
    from sightlint import api

    rules = _project_rules(settings)
    if not rules:
        return {}
    run = report.before
    named = found.named
    pending: dict[str, bytes] = {}
    # A finding is planned once: by file, rule and message (positions move when files are edited).
    tried: set[tuple[str, str, str]] = set()
    for _ in range(MAX_PROJECT_ROUNDS):
        wanted = [
            f
            for result in run.files
            if named is None or result.path in named
            for f in result.findings
            if f.code in rules and _wanted(f, unsafe) and rules[f.code].takes_project_fix(f)
            and (f.path, f.code, f.message) not in tried
        ]
        if not wanted:
            break
        tried.update((f.path, f.code, f.message) for f in wanted)
        try:
            graph = api.project_graph(found, settings, jobs=jobs, cache_dir=cache_dir, use_cache=use_cache)
        except Exception as exc:  # no model, no project fix; the per-file fixes still run
            report.refused.extend(Refused(f, f"no project model: {type(exc).__name__}: {exc}") for f in wanted)
            break
        sources = _project_texts(found.files, settings)
        plans: list[PlannedFix] = []
        for code, rule in rules.items():
            mine = [f for f in wanted if f.code == code]
            if not mine:
                continue
            try:
                planned = rule.plan_fixes(graph, mine, sources, settings)
            except Exception as exc:  # a crashing planner: its findings stay, reported
                report.refused.extend(Refused(f, f"the fix crashed: {type(exc).__name__}: {exc}") for f in mine)
                continue
            for item in planned:
                if isinstance(item, NoFix):
                    report.refused.append(Refused(item.finding, item.reason))
                elif named is not None and not cross_file and not set(item.files) <= named:
                    others = tuple(p for p in item.files if p not in named)
                    report.refused.append(Refused(item.finding, NEEDS_FILES, others))
                else:
                    plans.append(item)
        if not plans:
            break
        new, applied, dropped = _apply_plans(plans, files, settings, unsafe, found.files, write)
        report.refused.extend(dropped)
        if not new:
            break
        by_file: dict[str, list[Finding]] = {}
        for plan in applied:
            # Counted in its own file if that changed, else in the first file it edits.
            home = plan.finding.path if plan.finding.path in new else min((p for p in plan.files if p in new), default=plan.finding.path)
            by_file.setdefault(home, []).append(plan.finding)
        if not write:
            report.project_applied.extend(applied)
            for display, (old, text) in new.items():
                report.outcomes[display] = FixOutcome(display, "changed", old, text, tuple(by_file.get(display, ())))
                pending[display] = text
            break
        written, refused = _write_together(new, files, root)
        for display, why in refused:
            report.not_written.append((display, why))
        for display in written:
            old, text = new[display]
            previous = report.outcomes.get(display)
            report.outcomes[display] = FixOutcome(
                display, "changed", previous.original if previous else old, text,
                (*(previous.applied if previous else ()), *by_file.get(display, ())),
            )
            report.written.append(display)
        if not written:
            break
        report.project_applied.extend(applied)
        run = report.after = api.check_discovered(found, settings, jobs=jobs, cache_dir=cache_dir, use_cache=use_cache)
    return pending


def _project_texts(project: Sequence[SourceFile], settings: Settings) -> dict[str, str]:
    """The text of every readable file of the project, by display path."""
    out: dict[str, str] = {}
    for file in project:
        data = read_source(file.location, settings.max_file_size)
        if isinstance(data, bytes):
            with contextlib.suppress(SourceError, ValueError):
                out[file.display] = decode_source(data)
    return out


def _apply_plans(
    plans: list[PlannedFix],
    files: dict[str, SourceFile],
    settings: Settings,
    unsafe: bool,
    project: Sequence[SourceFile],
    write: bool,
) -> tuple[dict[str, tuple[bytes, bytes]], list[PlannedFix], list[Refused]]:
    """Every file's new text for ``plans`` (computed and parsed, nothing written): a plan
    with an edit that cannot be made, or in a file that cannot be fixed, is dropped whole
    and the rest computed again. Returns display -> (old, new), the plans applied, the dropped."""
    first_party = frozenset(f.module.split(".")[0] for f in project if f.module) - sys.stdlib_module_names
    dropped: list[Refused] = []
    originals: dict[str, bytes] = {}
    live = list(plans)
    while live:
        edits: dict[str, dict[SiteEdit, str]] = {}
        for plan in live:
            for edit in plan.edits:
                edits.setdefault(edit.path, {}).setdefault(edit, plan.finding.code)
        failed: dict[str, str] = {}
        new: dict[str, tuple[bytes, bytes]] = {}
        for display, wanted in edits.items():
            file = files.get(display)
            if file is None:
                failed[display] = "the file is not part of this run"
                continue
            if display not in originals:
                data = read_source(file.location, settings.max_file_size)
                if isinstance(data, str):
                    failed[display] = f"cannot read file: {data}"
                    continue
                originals[display] = data
            try:
                text = _apply_edits(originals[display], display, file.module, settings, list(wanted.items()), first_party)
            except _Declined as exc:
                failed[display] = str(exc)
                continue
            except Exception as exc:  # a bug in an edit must not take the run down
                failed[display] = f"cannot apply the fix: {type(exc).__name__}: {exc}"
                continue
            if text != originals[display]:
                new[display] = (originals[display], text)
        if not failed:
            return new, live, dropped
        keep = []
        for plan in live:
            why = next((f"{path}: {failed[path]}" for path in plan.files if path in failed), None)
            if why is None:
                keep.append(plan)
            else:
                dropped.append(Refused(plan.finding, why))
        live = keep
    return {}, [], dropped


def _apply_edits(
    data: bytes,
    path: str,
    module_name: str | None,
    settings: Settings,
    edits: list[tuple[SiteEdit, str]],
    first_party: frozenset[str],
) -> bytes:
    """``data`` with every edit made; raises :class:`_Declined` when one cannot be.

    As for the per-node fixes, LibCST parses only the statements that hold the edits (the
    innermost one with its lines to itself; edits nested in another's statement share it)
    and the import header when imports are added."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    from sightlint.models import Severity, Span

    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    raw = data.decode(encoding)
    lines = _split_lines(raw)
    text = decode_source(data)
    tree = ast.parse(text)
    context = Context(path, text, tree, settings, module_name)
    newline = next((line[len(line.rstrip("\r\n")) :] for line in lines if line.endswith(("\n", "\r"))), "\n")
    indent = _indent_unit(tree, lines)
    ends = {
        (node.lineno, context.char_col(node.lineno, node.col_offset)): node.end_lineno or node.lineno
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    # Each edit as a finding at its node's lines, so that the per-node fixes' regions serve.
    stand_in: dict[Finding, tuple[SiteEdit, str]] = {}
    for index, (edit, code) in enumerate(edits):
        end_line = edit.end[0] if edit.end is not None else ends.get((edit.line, edit.col), edit.line)
        span = Span(edit.line, edit.col, end_line, edit.end[1] if edit.end is not None else 0)
        stand_in[Finding(code, edit.action, Severity.LOW, str(index), path, span)] = (edit, code)
    reasons: dict[Finding, str] = {}
    regions, by_region = _regions(tree, lines, list(stand_in), reasons)
    if reasons:
        edit = stand_in[next(iter(reasons))][0]
        raise _Declined(f"cannot find the {edit.node} at {path}:{edit.line}:{edit.col + 1}")
    rules = _project_rules(settings)
    instances: dict[str, Rule] = {}
    fixes: list[Fix] = []
    new_blocks: dict[int, str] = {}
    for index, members in by_region.items():
        first, last, nested = regions[index]
        header = _synthetic_header(lines[first - 1], indent, newline) if nested else ""
        if header is None:
            raise _Declined(f"irregular indentation at {path}:{first}")
        snippet = header + "".join(lines[first - 1 : last])
        offset = first - 1 - header.count(newline)
        why = _beyond_libcst(snippet)
        if why:
            raise _Declined(why)
        module, tail = _parse_exactly(snippet)
        positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        at: dict[tuple[int, int], list[tuple[Any, Any]]] = {}
        for node, rng in positions.items():
            at.setdefault((rng.start.line + offset, rng.start.column), []).append((node, rng))
        changes: dict[int, list[Any]] = {}
        for finding in sorted(members, key=lambda f: (f.line, f.col, f.name)):
            edit, code = stand_in[finding]
            kind = getattr(cst, edit.node)
            found = [(n, r) for n, r in at.get((edit.line, edit.col), []) if isinstance(n, kind)]
            if edit.end is not None:
                found = [(n, r) for n, r in found if (r.end.line + offset, r.end.column) == edit.end]
            elif edit.name:
                found = [(n, r) for n, r in found if _node_name(n) == edit.name]
            if len(found) > 1:  # nested calls starting at one place: the innermost
                found.sort(key=lambda item: (item[1].end.line, item[1].end.column))
                found = found[:1]
            if not found:
                raise _Declined(f"cannot find the {edit.node} at {path}:{edit.line}:{edit.col + 1}")
            node = found[0][0]
            owner = rules.get(code)
            if owner is None:
                raise _Declined(f"{code} makes no project fix here")
            instance = instances.get(owner.meta.code)
            if instance is None:
                instance = instances[owner.meta.code] = owner(context, settings.rule_options.get(owner.meta.name))
                instance.unsafe_fixes = True
            fix = instance.edit(node, edit)
            if fix is None:
                raise _Declined(f"cannot {edit.action.replace('-', ' ')} at {path}:{edit.line}:{edit.col + 1}")
            changes.setdefault(id(node), []).append(fix.replacement)
            fixes.append(fix)

        class Edit(cst.CSTTransformer):
            def __init__(self, changes: dict[int, list[Any]]) -> None:
                super().__init__()
                self.changes = changes

            def on_leave(self, original_node: Any, updated_node: Any) -> Any:
                for change in self.changes.get(id(original_node), ()):
                    updated_node = change(updated_node) if callable(change) else change
                    if updated_node is None:
                        raise _Declined(f"the edits at {path}:{first} do not compose")
                return updated_node

        code = module.visit(Edit(changes)).code
        if tail and not code.endswith(("\n", "\r")):
            code += tail
        if nested:
            if not code.startswith(header):
                raise _Declined(f"the fixed code at {path}:{first} lost its place")
            code = code[len(header) :]
        new_blocks[index] = code
    for index in sorted(new_blocks, reverse=True):
        first, last, _ = regions[index]
        lines[first - 1 : last] = [new_blocks[index]]
    out = "".join(lines)
    if any(fix.imports or fix.module_statements for fix in fixes):
        out = _add_header_code(out, fixes, path, settings, module_name, first_party)
    try:
        ast.parse(out.replace("\r\n", "\n").replace("\r", "\n"))
    except SyntaxError as exc:
        raise _Declined(f"the fixed code would not parse: {exc.msg} (line {exc.lineno})") from exc
    return out.encode(encoding)


def _node_name(node: Any) -> str:
    """A call's callee's last name (``f`` of ``a.f(x)``), a def's name; "" otherwise."""
    import libcst as cst

    if isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Attribute):
            return str(func.attr.value)
        return str(func.value) if isinstance(func, cst.Name) else ""
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        return str(node.name.value)
    return ""


def _write_together(new: dict[str, tuple[bytes, bytes]], files: dict[str, SourceFile], root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Write the files of one transaction: none unless every one can be (inside the root,
    a regular file, unchanged on disk); then each atomically, and the ones written put back
    if a later one fails. Returns the files written and why the others were not."""
    targets: dict[str, Path] = {}
    problems: list[tuple[str, str]] = []
    for display, (old, _) in new.items():
        try:
            target = Path(files[display].location).resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            problems.append((display, f"cannot resolve the file: {exc}"))
            continue
        if target != root and root not in target.parents:
            problems.append((display, f"resolves to {target}, outside the project root {root}: not written"))
        elif not target.is_file():
            problems.append((display, "not a regular file: not written"))
        else:
            try:
                now = target.read_bytes()
            except OSError as exc:
                problems.append((display, f"cannot read file: {exc.strerror or exc}"))
                continue
            if now != old:
                problems.append((display, "changed on disk since it was read: not overwritten (run `sightlint fix` again)"))
            targets[display] = target
    if problems:
        others = ", ".join(sorted(new))
        return [], problems + [(d, f"not written: a fix that also edits {others} could not be written whole") for d in new if d not in dict(problems)]
    written: list[str] = []
    for display, target in targets.items():
        old, text = new[display]
        why = write_if_unchanged(target, old, text)
        if why is None:
            written.append(display)
            continue
        for done in reversed(written):  # put back what this transaction wrote
            write_if_unchanged(targets[done], new[done][1], new[done][0])
        return [], [(display, why)] + [(d, "not written: another file of the same fix could not be written") for d in new if d != display]
    return written, []


def _common_folder(paths: Sequence[Path]) -> Path:
    """Without a project: the folder holding every path named (symlinks not followed)."""
    folders = [os.path.abspath(p) if p.is_dir() else os.path.dirname(os.path.abspath(p)) for p in paths or [Path(".")]]
    return Path(os.path.commonpath(folders)).resolve()


def _to_fix(
    run: RunResult, named: frozenset[str] | None, settings: Settings, unsafe: bool, attempted: set[str]
) -> dict[str, tuple[Finding, ...]]:
    """Display path -> its findings (as the project check reports them), for the files
    named on the command line that have a fix to apply and were not fixed yet."""
    codes = {rule.meta.code for rule in enabled_rules(settings) if rule.fix_node is not None and rule.meta.fix is not FixSafety.NONE}
    project = _project_rules(settings)
    out: dict[str, tuple[Finding, ...]] = {}
    for result in run.files:
        if result.path in attempted or (named is not None and result.path not in named):
            continue
        if any(_wanted(f, unsafe) and f.code in codes and not _by_project(f, project) for f in result.findings):
            out[result.path] = tuple(result.findings)
    return out


def _fix_files(
    todo: list[tuple[SourceFile, tuple[Finding, ...]]],
    project: Sequence[SourceFile],
    settings: Settings,
    unsafe: bool,
    jobs: int | None,
    progress: Progress | None,
) -> list[FixOutcome]:
    """Fix each file of ``todo`` (in worker processes when there are several), never writing."""
    codes = {f.code for _, findings in todo for f in findings if _wanted(f, unsafe)}
    facts = _rule_facts(codes, project, settings)
    # Top-level names of the project's modules: the first-party import group. A folder of
    # scripts may hold a `logging.py` or `types.py`; those names stay standard library.
    first_party = frozenset(f.module.split(".")[0] for f in project if f.module) - sys.stdlib_module_names
    tasks = [(file.location, file.display, file.module, findings) for file, findings in todo]
    from sightlint import runner

    workers = min(jobs or runner.default_jobs(), len(tasks))
    if workers <= 1 or len(tasks) < 4:
        out = []
        for i, task in enumerate(tasks):
            out.append(_fix_task(task, settings, unsafe, facts, first_party))
            if progress is not None:
                progress(i + 1, len(tasks))
        return out
    from concurrent.futures import ProcessPoolExecutor

    # Imported once here, so that forked workers share it instead of each importing it.
    import libcst.codegen  # noqa: F401
    import libcst.metadata  # noqa: F401

    results: list[FixOutcome | None] = [None] * len(tasks)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=runner._pool_context(),
        initializer=_init_fix_worker,
        initargs=(runner._portable(settings), unsafe, facts, first_party),
    ) as pool:
        futures = {pool.submit(_fix_in_worker, task): i for i, task in enumerate(tasks)}
        from concurrent.futures import as_completed

        for done, future in enumerate(as_completed(futures), 1):
            index = futures[future]
            try:
                results[index] = future.result()
            except Exception as exc:  # a worker that died: that file is not fixed
                _, display, _, _ = tasks[index]
                results[index] = FixOutcome(display, "failed", b"", None, reason=f"the fixer's worker died: {type(exc).__name__}: {exc}")
            if progress is not None:
                progress(done, len(tasks))
    return [r for r in results if r is not None]


def _rule_facts(codes: set[str], project: Sequence[SourceFile], settings: Settings) -> dict[str, dict[str, Any]]:
    """The ``fix_facts`` of the rules ``codes`` that read the whole project (SL201's logger convention)."""
    facts: dict[str, dict[str, Any]] = {}
    needing = [r for r in enabled_rules(settings) if r.meta.code in codes and "fix_facts_for" in vars(r)]
    if needing:
        sources = []
        for file in project:
            data = read_source(file.location, settings.max_file_size)
            if isinstance(data, bytes):
                with contextlib.suppress(SourceError, ValueError):
                    sources.append((file.module, file.display, decode_source(data)))
        for rule in needing:
            facts[rule.meta.code] = rule.fix_facts_for(sources)
    return facts


FixTask = tuple[str, str, "str | None", tuple[Finding, ...]]
_FIX_WORKER: tuple[Settings, bool, dict[str, dict[str, Any]], frozenset[str]] | None = None


def _init_fix_worker(fields: dict[str, Any], unsafe: bool, facts: dict[str, dict[str, Any]], first_party: frozenset[str]) -> None:
    global _FIX_WORKER
    from sightlint import runner

    gc.enable()
    quiet_source_warnings()  # a spawned worker does not inherit the CLI's filters
    _FIX_WORKER = (runner._restore(fields), unsafe, facts, first_party)


def _fix_in_worker(task: FixTask) -> FixOutcome:
    assert _FIX_WORKER is not None
    return _fix_task(task, *_FIX_WORKER)


def _fix_task(
    task: FixTask, settings: Settings, unsafe: bool, facts: dict[str, dict[str, Any]], first_party: frozenset[str]
) -> FixOutcome:
    location, display, module, findings = task
    data = read_source(location, settings.max_file_size)
    if isinstance(data, str):
        return FixOutcome(display, "failed", b"", None, reason=f"cannot read file: {data}")
    return fix_source(
        data, display, settings, unsafe=unsafe, module=module, findings=findings, facts=facts, first_party=first_party
    )


def _write(file: SourceFile, root: Path, outcome: FixOutcome) -> str | None:
    """Write one fixed file unless it lies outside ``root`` (also through a symlink); why not, or None."""
    assert outcome.new is not None
    try:
        target = Path(file.location).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        return f"cannot resolve the file: {exc}"
    if target != root and root not in target.parents:
        return f"resolves to {target}, outside the project root {root}: not written"
    if not target.is_file():
        return "not a regular file: not written"
    return write_if_unchanged(target, outcome.original, outcome.new)


def _parse_failure(findings: Sequence[Finding]) -> str | None:
    return next((f.message for f in findings if f.code == engine.PARSE_ERROR_CODE), None)


def _fix(
    data: bytes,
    path: str,
    settings: Settings,
    unsafe: bool,
    module: str | None,
    given: Sequence[Finding] | None,
    facts: dict[str, dict[str, Any]],
    first_party: frozenset[str],
) -> FixOutcome:
    enabled = enabled_rules(settings)
    whole = False
    rules = {
        rule.meta.code: rule
        for rule in enabled
        if rule.fix_node is not None and not settings.ignored_for_path(path, rule.meta.code, rule.meta.name)
    }
    graded = {rule.meta.code for rule in enabled if rule.graded or rule.cross_file}
    project = _project_rules(settings)
    current = data
    applied: list[Finding] = []
    reasons: dict[Finding, str] = {}
    if given is not None:
        findings: Sequence[Finding] = given
    elif any(rule.cross_file and rule.fix_node is not None for rule in rules.values()):
        # A cross-file rule's findings come from the project phase: here, of this file alone
        # (and again after each pass, so a fix held back by an overlap is found again).
        findings = _alone(current, path, settings, module)
        whole = True
    else:
        result = engine.check_source(current, path, settings, rules=enabled, module=module)
        findings = result.findings
    failure = _parse_failure(findings)
    if failure:
        return FixOutcome(path, "failed", data, None, reason=failure, remaining=tuple(findings))
    # Later passes check the file on its own: a graded or cross-file rule's finding is fixed
    # there only if the project's view offered that rule a fix in this file.
    offered = {f.code for f in findings if _wanted(f, unsafe)}
    first = True
    for _ in range(MAX_PASSES):
        todo = [
            f
            for f in findings
            if _wanted(f, unsafe) and f.code in rules and (first or f.code not in graded or f.code in offered)
            and not _by_project(f, project)
        ]
        first = False
        if not todo:
            break
        try:
            new, done, reasons = _apply_pass(current, path, settings, module, todo, rules, unsafe, facts, first_party)
        except Exception as exc:
            if not applied:
                return FixOutcome(path, "failed", data, None, reason=f"cannot apply fixes: {type(exc).__name__}: {exc}")
            break  # keep what earlier passes achieved
        if not done or new == current:
            break
        findings = _alone(new, path, settings, module) if whole else engine.check_source(new, path, settings, rules=enabled, module=module).findings
        failure = _parse_failure(findings)
        if failure:
            return FixOutcome(path, "failed", data, None, tuple(applied), reason=f"a fix produced invalid code ({failure})")
        current = new
        applied.extend(done)
        reasons = {}
    remaining = tuple(findings)
    # A project fix's finding is reported by the project phase (with --unsafe-fixes); without,
    # it is held back like any unsafe fix.
    skipped = tuple(
        (f, _skip_reason(f, unsafe, reasons)) for f in remaining if f.fixable and not (unsafe and _by_project(f, project))
    )
    if current == data:
        return FixOutcome(path, "unchanged", data, None, (), skipped, remaining=remaining)
    try:
        ast.parse(decode_source(current))
    except (SyntaxError, ValueError, SourceError) as exc:
        return FixOutcome(path, "failed", data, None, tuple(applied), reason=f"fixed code does not parse: {exc}")
    return FixOutcome(path, "changed", data, current, tuple(applied), skipped, remaining=remaining)


def _alone(data: bytes, path: str, settings: Settings, module: str | None) -> list[Finding]:
    """The findings of one file checked as a whole project of its own (project phase included)."""
    from sightlint import api

    run = api.check_sources({path: data}, settings, modules={path: module})
    return [f for result in run.files for f in result.findings]


def _beyond_libcst(text: str) -> str | None:
    """Why LibCST must not parse ``text`` (one top-level statement, or a module's header),
    as a skip reason, or None.

    Too deep, its native parser crashes the process (``sightlint.nesting``); too large,
    it needs about 400 MB and 5 s per MB of source (measured with libcst 1.9), or per
    100,000 tokens, whichever comes first.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FIX_SIZE:
        return f"no fix: statement too large for the fixer ({size_text(size)} > {size_text(MAX_FIX_SIZE)})"
    found = nesting.beyond_libcst(text, MAX_FIX_TOKENS)
    if found is None:
        return None
    kind, why = found
    if kind == "untokenizable":
        return f"no fix: {why}"
    if kind == "tokens":
        return f"no fix: statement too large for the fixer ({why})"
    return f"no fix: statement too deeply nested for the fixer ({why})"


def _by_project(finding: Finding, project: dict[str, RuleClass]) -> bool:
    """Whether ``finding`` is for a project fix (planned on the model, not fixed node by node)."""
    rule = project.get(finding.code)
    return rule is not None and rule.takes_project_fix(finding)


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


_LINE_BREAK = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")


def _split_lines(text: str) -> list[str]:
    """Lines with their ends, broken where the tokenizer breaks them (``\n``, ``\r\n``, ``\r``)."""
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _blocks(tree: ast.Module) -> list[tuple[int, int]]:
    """The module's top-level statements as whole-line ranges (first, last), decorators
    included; statements that share a line share a range."""
    out: list[tuple[int, int]] = []
    for stmt in tree.body:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        last = stmt.end_lineno or stmt.lineno
        if out and first <= out[-1][1]:
            out[-1] = (out[-1][0], max(last, out[-1][1]))
        else:
            out.append((first, last))
    return out


def _regions(
    tree: ast.Module,
    lines: list[str],
    todo: list[Finding],
    reasons: dict[Finding, str],
    whole_function: frozenset[str] = frozenset(),
) -> tuple[list[tuple[int, int, bool]], dict[int, list[Finding]]]:
    """Where LibCST parses for each finding: the innermost indented statement around it that
    has its lines to itself (``nested``), else its top-level statement; for the codes in
    ``whole_function``, the innermost function around it. Regions
    inside another region chosen are merged into it. Returns the regions (first line,
    last line, nested) and the findings by region index."""
    blocks = _blocks(tree)
    starts = [first for first, _ in blocks]
    defs: list[tuple[int, int, bool]] = []
    # Where each candidate statement itself starts and ends: a fix that replaces (or removes)
    # a whole statement needs the statement around it, so that its parent is parsed too.
    itself: dict[tuple[int, int], tuple[int, int]] = {}
    functions: set[tuple[int, int]] = set()
    for node in ast.walk(tree):
        # Any statement with its lines to itself will do (the smaller, the cheaper): an
        # assignment, a `try` around a handler, a def whose header holds the finding.
        if isinstance(node, ast.stmt) and node.col_offset > 0:
            if isinstance(node, ast.If) and node.lineno <= len(lines) and lines[node.lineno - 1].lstrip().startswith("elif"):
                continue  # an `elif` branch is not a statement LibCST can parse on its own
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
            last = node.end_lineno or node.lineno
            if _owns_lines(lines, first, last, node):
                defs.append((first, last, True))
                itself[(first, last)] = (node.lineno, node.end_lineno or node.lineno)
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    functions.add((first, last))
    defs.sort(key=lambda d: (d[0], -d[1]))
    firsts = [d[0] for d in defs]
    # Statements that own their lines nest or are apart: each one's parent is the innermost
    # earlier one still open at its first line (-1: none).
    parents: list[int] = []
    open_: list[int] = []
    for index, (first, _, _) in enumerate(defs):
        while open_ and defs[open_[-1]][1] < first:
            open_.pop()
        parents.append(open_[-1] if open_ else -1)
        open_.append(index)
    wanted: dict[Finding, tuple[int, int, bool]] = {}
    for finding in todo:
        span = finding.span
        # The innermost statement around the span: the one starting last (and, on the same
        # line, ending first) among those that hold it. Every statement that holds it
        # encloses the last one starting at or before its line: walked up from that one
        # (a scan back through the siblings made one function's fixes quadratic).
        top = bisect.bisect_right(starts, span.line) - 1
        floor = blocks[top][0] if top >= 0 else 0  # nothing before its top-level statement holds it
        index = bisect.bisect_right(firsts, span.line) - 1
        function = finding.code in whole_function
        while index >= 0 and defs[index][0] >= floor and (
            defs[index][1] < span.end_line
            or itself.get(defs[index][:2]) == (span.line, span.end_line)
            or (function and defs[index][:2] not in functions)
        ):
            index = parents[index]
        if index >= 0 and defs[index][0] >= floor:
            wanted[finding] = defs[index]
            continue
        index = top
        if index < 0 or span.end_line > blocks[index][1]:
            reasons[finding] = "no fix for this case (cannot find its node)"
            continue
        wanted[finding] = (*blocks[index], False)
    chosen: list[tuple[int, int, bool]] = []
    for region in sorted(set(wanted.values()), key=lambda r: (r[0], -r[1])):
        if chosen and region[0] <= chosen[-1][1]:
            continue  # inside the region before it (regions nest or are apart)
        chosen.append(region)
    by_region: dict[int, list[Finding]] = {}
    chosen_starts = [r[0] for r in chosen]
    for finding, region in wanted.items():
        # Chosen regions are apart and sorted: the one holding it starts last at or before it.
        index = bisect.bisect_right(chosen_starts, region[0]) - 1
        by_region.setdefault(index, []).append(finding)
    return chosen, by_region


def _owns_lines(lines: list[str], first: int, last: int, node: ast.stmt) -> bool:
    """True if nothing but ``node`` (and comments) is on its first and last lines."""
    if first > len(lines) or last > len(lines):
        return False
    start = lines[first - 1]
    if not start[: len(start) - len(start.lstrip(" \t\f"))].strip(" \t\f") == "" or not start.strip():
        return False
    head = start.encode("utf-8", "surrogatepass")[: node.col_offset].decode("utf-8", "replace") if first == node.lineno else ""
    if head.strip(" \t\f"):
        return False
    end = lines[last - 1].encode("utf-8", "surrogatepass")[node.end_col_offset or 0 :].decode("utf-8", "replace")
    rest = end.strip()
    return not rest or rest.startswith("#")


def _synthetic_header(line: str, unit: str, newline: str) -> str | None:
    """``if True:`` lines that put ``line``'s indentation one level below them, or None when
    that indentation is not whole levels of ``unit``."""
    width = line[: len(line) - len(line.lstrip(" \t"))]
    levels, rest = divmod(len(width), len(unit))
    if not levels or rest or width != unit * levels:
        return None
    return "".join(f"{unit * level}if True:{newline}" for level in range(levels))


def _indent_unit(tree: ast.Module, lines: list[str]) -> str:
    """The file's first level of indentation (four spaces if it has none)."""
    for node in tree.body:
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and body[0].lineno != node.lineno and body[0].lineno <= len(lines):
            line: str = lines[body[0].lineno - 1]
            unit = line[: len(line) - len(line.lstrip(" \t"))]
            if unit:
                return unit
    return "    "


def _apply_pass(
    current: bytes,
    path: str,
    settings: Settings,
    module_name: str | None,
    todo: list[Finding],
    rules: dict[str, RuleClass],
    unsafe: bool = False,
    facts: dict[str, dict[str, Any]] | None = None,
    first_party: frozenset[str] = frozenset(),
) -> tuple[bytes, list[Finding], dict[Finding, str]]:
    """One pass: apply every non-overlapping fix. Returns new bytes, applied, and why others were not.

    LibCST parses only the top-level statements that hold a finding (each on its own,
    as a module of its own lines), and the module's import header when a fix adds
    imports or module statements: the cost follows the code fixed, not the file's size.
    ``unsafe`` is handed to the rules (``Rule.unsafe_fixes``): one with two fixes picks its unsafe one."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    encoding, _ = tokenize.detect_encoding(io.BytesIO(current).readline)
    raw = current.decode(encoding)
    lines = _split_lines(raw)
    text = decode_source(current)
    tree = ast.parse(text)
    context = Context(path, text, tree, settings, module_name)
    newline = next((line[len(line.rstrip("\r\n")) :] for line in lines if line.endswith(("\n", "\r"))), "\n")
    indent = _indent_unit(tree, lines)
    reasons: dict[Finding, str] = {}
    whole_function = frozenset(code for code, rule in rules.items() if rule.fix_region == "function")
    regions, by_region = _regions(tree, lines, todo, reasons, whole_function)

    instances: dict[str, Rule] = {}
    fixes: list[Fix] = []
    done: list[Finding] = []
    new_blocks: dict[int, str] = {}
    for index, findings in by_region.items():
        first, last, nested = regions[index]
        # An indented def or class is parsed under synthetic `if True:` lines, one per level
        # of the file's indentation (so LibCST infers the file's indent for new blocks):
        # its own lines stay as they are, so positions keep their columns.
        header = _synthetic_header(lines[first - 1], indent, newline) if nested else ""
        if header is None:
            reasons.update((f, "no fix for this case (irregular indentation)") for f in findings)
            continue
        snippet = header + "".join(lines[first - 1 : last])
        offset = first - 1 - header.count(newline)
        why = _beyond_libcst(snippet)
        if why:
            reasons.update((f, why) for f in findings)
            continue
        try:
            module, tail = _parse_exactly(snippet)
        except _Declined as exc:
            reasons.update((f, str(exc)) for f in findings)
            continue
        positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        at: dict[tuple[int, int], list[tuple[cst.CSTNode, Any]]] = {}
        for node, rng in positions.items():
            at.setdefault((rng.start.line + offset, rng.start.column), []).append((node, rng))
        first = offset + 1
        located: list[tuple[Finding, cst.CSTNode, tuple[tuple[int, int], tuple[int, int]]]] = []
        for finding in findings:
            types = _node_types(rules[finding.code])
            span = finding.span
            candidates = [(n, r) for n, r in at.get((span.line, span.col), []) if types and isinstance(n, types)]
            exact = [(n, r) for n, r in candidates if (r.end.line + first - 1, r.end.column) == (span.end_line, span.end_col)]
            chosen = exact or candidates
            if len(chosen) != 1 and not exact:
                reasons[finding] = "no fix for this case (cannot find its node)"
                continue
            node, rng = chosen[0]
            located.append((finding, node, ((rng.start.line, rng.start.column), (rng.end.line, rng.end.column))))
        # Outermost first; anything overlapping an accepted fix waits for the next pass.
        located.sort(key=lambda item: (item[2][0], (-item[2][1][0], -item[2][1][1])))
        # The fixes accepted so far start at or before this one: it overlaps one of them
        # if it starts before the furthest end among them (an empty range is checked in full).
        accepted: list[tuple[tuple[int, int], tuple[int, int]]] = []
        furthest = (0, 0)
        # The nodes around each finding's node, for the fixes that look at them: one walk.
        around, _ = _parents(
            module,
            [node for f, node, _ in located if rules[f.code].fix_region == "function" or rules[f.code].wants_fix_ancestors],
            positions,
        )
        replacements: dict[int, Any] = {}
        planned: list[tuple[Finding, int, Fix]] = []
        for finding, node, bounds in located:
            if bounds[0] < bounds[1]:
                overlaps = bounds[0] < furthest
            else:
                overlaps = any(bounds[0] < other[1] and other[0] < bounds[1] for other in accepted)
            if overlaps:
                reasons[finding] = "overlaps another fix"
                continue
            rule_cls = rules[finding.code]
            try:
                instance = instances.get(finding.code)
                if instance is None:
                    options = settings.rule_options.get(rule_cls.meta.name)
                    instance = instances[finding.code] = rule_cls(context, options)
                    instance.unsafe_fixes = unsafe
                    instance.fix_facts = (facts or {}).get(finding.code, {})
                if rule_cls.fix_region == "function" or rule_cls.wants_fix_ancestors:
                    instance.fix_ancestors = _around(around, node)
                fix = instance.fix(node, finding)
            except Exception as exc:
                reasons[finding] = f"the fix crashed: {type(exc).__name__}: {exc}"
                continue
            if fix is None:
                reasons[finding] = "no fix for this case"
                continue
            target = node if fix.target is None else fix.target
            if target is not node:  # an enclosing node (``Fix.target``): its range must be free too
                if target not in positions:
                    reasons[finding] = "no fix for this case (cannot find its node)"
                    continue
                rng = positions[target]
                bounds = ((rng.start.line, rng.start.column), (rng.end.line, rng.end.column))
                if any(bounds[0] < other[1] and other[0] < bounds[1] for other in accepted):
                    reasons[finding] = "overlaps another fix"
                    continue
            accepted.append(bounds)
            furthest = max(furthest, bounds[1])
            replacements[id(target)] = fix.replacement
            planned.append((finding, id(target), fix))
        if replacements:
            ancestors = _ancestors(module, _by_id(positions, replacements), positions)
            replacer = _replacer(replacements, ancestors)
            code = module.visit(replacer).code
            if tail and not code.endswith(("\n", "\r")):
                code += tail  # the line end LibCST dropped
            if nested:
                if not code.startswith(header):
                    reasons.update((f, "no fix for this case (the fixed code lost its place)") for f, _, _ in planned)
                    continue
                code = code[len(header) :]
            for finding, node_id, fix in planned:
                if node_id in replacer.hit:
                    fixes.append(fix)
                    done.append(finding)
                else:  # never reached: neither the change nor its imports are made
                    reasons[finding] = "no fix for this case (cannot reach its node)"
            new_blocks[index] = code
    if not done:
        return current, [], reasons
    for index in sorted(new_blocks, reverse=True):
        first, last, _ = regions[index]
        lines[first - 1 : last] = [new_blocks[index]]
    new_text = "".join(lines)
    if any(fix.imports or fix.module_statements for fix in fixes):
        try:
            new_text = _add_header_code(new_text, fixes, path, settings, module_name, first_party)
        except _Declined as exc:
            return current, [], {**reasons, **{f: str(exc) for f in todo}}
    return new_text.encode(encoding), done, reasons


class _Declined(Exception):
    """The module's header cannot be given to LibCST (the message says why)."""


def _add_header_code(
    text: str, fixes: list[Fix], path: str, settings: Settings, module_name: str | None, first_party: frozenset[str]
) -> str:
    """Add the fixes' imports and module statements to the module's header: the lines
    before its first top-level def or class, parsed on their own."""
    import libcst as cst

    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    tree = ast.parse(normalized)
    lines = _split_lines(text)
    end = len(lines)
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            end = min([stmt.lineno, *(d.lineno for d in stmt.decorator_list)]) - 1
            break
    fixes, rest = _place_after_globals(fixes, tree, lines, end, path, settings, module_name)
    header = "".join(lines[:end])
    why = _beyond_libcst(header)
    if why:
        raise _Declined(why)
    module, tail = _parse_exactly(header)
    if not header.strip():
        # Nothing above the first def: the new lines take the file's newline.
        newline = next((line[len(line.rstrip("\r\n")) :] for line in lines if line.endswith(("\n", "\r"))), "\n")
        module = module.with_changes(default_newline=newline, has_trailing_newline=True)
    new = _add_module_code(module, fixes, path, settings, module_name, first_party, (tree, normalized), next_is_def=bool(rest))
    code = str(new.code)
    if rest and code and not header.strip():
        # New lines above the first def or class: PEP 8's two blank lines before it.
        code = code.rstrip("\r\n") + new.default_newline * 3
    elif rest and code and not code.endswith(("\n", "\r")):
        code += new.default_newline
    elif tail and code and not code.endswith(("\n", "\r")):
        code += tail  # the line end LibCST dropped
    return code + "".join(rest)


def _place_after_globals(
    fixes: list[Fix], tree: ast.Module, lines: list[str], end: int, path: str, settings: Settings, module_name: str | None
) -> tuple[list[Fix], list[str]]:
    """Insert the module statements placed after a global (``Fix.placement``) whose
    assignment comes after the header (line ``end``): as text, on the line after that
    top-level assignment. Returns the fixes without those statements, and the lines after
    the header."""
    places = {name: anchor for fix in fixes for name, anchor in fix.placement}
    statements = {name: source for fix in fixes for name, source in fix.module_statements if name in places}
    after: dict[int, list[str]] = {}
    for name, source in statements.items():
        anchor = next(
            (
                stmt
                for stmt in tree.body
                if isinstance(stmt, (ast.Assign, ast.AnnAssign))
                and any(isinstance(t, ast.Name) and t.id == places[name] for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]))
            ),
            None,
        )
        if anchor is None or anchor.lineno <= end or "\n" in source.strip():
            continue  # in the header (placed there by LibCST), or nowhere: after the imports
        last = anchor.end_lineno or anchor.lineno
        if last > len(lines) or lines[last - 1].rstrip("\r\n").rstrip().endswith((";", "\\")):
            continue
        after.setdefault(last, []).append(name)
    if not after:
        return fixes, lines[end:]
    scope = Context(path, "".join(lines).replace("\r\n", "\n").replace("\r", "\n"), tree, settings, module_name)
    newline = next((line[len(line.rstrip("\r\n")) :] for line in lines if line.endswith(("\n", "\r"))), "\n")
    out = list(lines)
    placed: set[str] = set()
    for last in sorted(after, reverse=True):
        new = []
        for name in after[last]:
            binding = scope.module_binding(name)
            if binding is None or binding.kind is BindingKind.STAR_IMPORT:
                new.append(statements[name].strip() + newline)
            placed.add(name)  # bound already: nothing to add, anywhere
        if not out[last - 1].endswith(("\n", "\r")):
            out[last - 1] += newline
        out[last:last] = new
    kept = [replace(fix, module_statements=tuple(s for s in fix.module_statements if s[0] not in placed)) for fix in fixes]
    return kept, out[end:]


def _parse_exactly(text: str) -> tuple[Any, str]:
    """LibCST's module of ``text`` and the line end it drops from its end ("" if none).

    libcst 1.9 drops the last ``\r`` of CR-only code (the caller puts it back) and a form
    feed that starts an indented line (or fails to parse it): such code raises
    :class:`_Declined`, since writing it back would change bytes no fix meant to change.
    """
    import libcst as cst

    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        raise _Declined(NOT_PARSED) from exc
    written = module.code
    tail = "\r" if text == written + "\r" else ""
    if written + tail != text:
        raise _Declined(NOT_ROUND_TRIP)
    return module, tail


def _replacer(replacements: dict[int, Any], ancestors: set[int] | None = None) -> Any:
    """A transformer that swaps the nodes named (by identity) in ``replacements``; with
    ``ancestors`` (the ids of the nodes around them), it enters nothing else."""
    global _REPLACE
    if _REPLACE is None:
        _REPLACE = _replace_class()
    return _REPLACE(replacements, ancestors)


# The transformer class, made once: a class made per region was cyclic garbage holding the
# region's new nodes until a collection (and an ABC class costs to create).
_REPLACE: Any = None


def _replace_class() -> Any:
    import libcst as cst

    class Replace(cst.CSTTransformer):
        def __init__(self, replacements: dict[int, Any], ancestors: set[int] | None) -> None:
            super().__init__()
            self.replacements = replacements
            self.ancestors = ancestors
            self.hit: set[int] = set()  # the ids replaced

        def on_visit(self, node: Any) -> bool:
            return self.ancestors is None or id(node) in self.ancestors

        def on_leave(self, original_node: Any, updated_node: Any) -> Any:
            new = self.replacements.get(id(original_node))
            if new is None:
                return updated_node
            self.hit.add(id(original_node))
            return new

    return Replace


def _by_id(positions: Any, replacements: dict[int, Any]) -> list[Any]:
    return [node for node in positions if id(node) in replacements]


def _parents(module: Any, targets: list[Any], positions: Any) -> tuple[dict[int, Any], list[Any]]:
    """Each node's parent on the way from ``module`` down to ``targets``, and the targets found.

    One depth-first walk through ``children`` for all the targets together (a walk per
    target made many fixes in one statement cost their number times its size), skipping
    only statements whose lines (decorators included) hold no target: an expression's
    range need not cover its children (a ``Param``'s range ends before its default value)."""
    import libcst as cst

    lines = sorted({positions[t].start.line for t in targets})
    wanted = {id(t) for t in targets}
    parent: dict[int, Any] = {}
    found: list[Any] = []
    stack: list[Any] = [module] if targets else []
    while stack and len(found) < len(wanted):
        node = stack.pop()
        if id(node) in wanted:
            found.append(node)
        for child in node.children:
            if isinstance(child, cst.BaseStatement) and child in positions:
                rng = positions[child]
                first = rng.start.line
                for decorator in getattr(child, "decorators", ()):
                    if decorator in positions:
                        first = min(first, positions[decorator].start.line)
                # Some target line within [first, last]?
                at = bisect.bisect_left(lines, first)
                if at == len(lines) or lines[at] > rng.end.line:
                    continue
            parent[id(child)] = node
            stack.append(child)
    return parent, found


def _ancestors(module: Any, targets: list[Any], positions: Any) -> set[int]:
    """The ids of the nodes from ``module`` down to each of ``targets`` (both included)."""
    parent, found = _parents(module, targets, positions)
    out: set[int] = set()
    for node in found:
        while id(node) not in out:
            out.add(id(node))
            node = parent.get(id(node))
            if node is None:
                break
    return out


def _around(parent: dict[int, Any], node: Any) -> tuple[Any, ...]:
    """The nodes around ``node`` (outermost first, its parent last), from a :func:`_parents` map."""
    chain = []
    up = parent.get(id(node))
    while up is not None:
        chain.append(up)
        up = parent.get(id(up))
    return tuple(reversed(chain))


def _add_module_code(
    module: Any,
    fixes: list[Fix],
    path: str,
    settings: Settings,
    module_name: str | None,
    first_party: frozenset[str] = frozenset(),
    whole: tuple[ast.Module, str] | None = None,
    next_is_def: bool = False,
) -> Any:
    """Add the fixes' imports (each once, in its isort group and place), then their module statements."""
    import libcst as cst

    imports = dict.fromkeys(i for fix in fixes for i in fix.imports)
    module, merged = _extend_from_imports(module, imports)
    own = (frozenset({module_name.split(".")[0]} if module_name else ()) | first_party) - sys.stdlib_module_names
    for mod, name in imports:
        if (mod, name) not in merged and not _imported(module, mod, name):
            module = _insert_import(module, mod, name, own)
    statements = dict(s for fix in fixes for s in fix.module_statements)
    if not statements:
        return module
    # Whether the module binds a name already: asked of the whole module, not the header.
    tree, code = whole if whole is not None else (ast.parse(module.code), module.code)
    scope = Context(path, code, tree, settings, module_name)
    new = []
    body = list(module.body)
    places = dict(p for fix in fixes for p in fix.placement)
    anchored: dict[int, list[Any]] = {}
    for name, source in statements.items():
        binding = scope.module_binding(name)
        if binding is not None and binding.kind is not BindingKind.STAR_IMPORT:
            continue  # the module binds the name already
        stmt = cst.parse_statement(source)
        anchor = _assignment_index(body, places[name]) if name in places else None
        if anchor is not None:
            anchored.setdefault(anchor, []).append(stmt.with_changes(leading_lines=[]))
            continue
        is_import = isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], (cst.Import, cst.ImportFrom))
        is_def = isinstance(stmt, (cst.FunctionDef, cst.ClassDef))  # PEP 8: two blank lines around it
        new.append(stmt if is_import else stmt.with_changes(leading_lines=[cst.EmptyLine()] * (2 if is_def else 1)))
    if anchored:
        body = [out for index, stmt in enumerate(body) for out in (stmt, *anchored.get(index, ()))]
        module = module.with_changes(body=body)
    if not new:
        return module
    at = _insertion_index(body)
    if at < len(body):
        # A def or class after the new statements keeps PEP 8's two blank lines.
        wanted = 2 if any(isinstance(n, (cst.FunctionDef, cst.ClassDef)) for n in (body[at], new[-1])) else 1
        lines = list(body[at].leading_lines)
        blank = 0
        while blank < len(lines) and lines[blank].comment is None:
            blank += 1
        if blank < wanted:
            body[at] = body[at].with_changes(leading_lines=[cst.EmptyLine()] * (wanted - blank) + lines)
    elif next_is_def:
        # The new statements end the header and a def or class follows: two blank lines.
        footer = list(module.footer)
        blank = 0
        while blank < len(footer) and footer[blank].comment is None:
            blank += 1
        if blank < 2:
            module = module.with_changes(footer=[cst.EmptyLine()] * (2 - blank) + footer)
    return module.with_changes(body=[*body[:at], *new, *body[at:]])


def _assignment_index(body: list[Any], name: str) -> int | None:
    """The index of the first top-level statement of ``body`` that assigns ``name``
    (``name = ...``, ``name: T = ...``), or None."""
    import libcst as cst

    for index, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
            small = stmt.body[0]
            targets: list[Any] = []
            if isinstance(small, cst.Assign):
                targets = [t.target for t in small.targets]
            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                targets = [small.target]
            if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                return index
    return None


def _import_lines(body: list[Any]) -> list[tuple[int, str, bool]]:
    """The module's top-level import lines before its first def or class: (index, module, is_from)."""
    import libcst as cst

    out: list[tuple[int, str, bool]] = []
    for index, stmt in enumerate(body):
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            break
        if not isinstance(stmt, cst.SimpleStatementLine) or not stmt.body:
            continue
        first = stmt.body[0]
        if isinstance(first, cst.Import):
            out.append((index, _code(first.names[0].name), False))
        elif isinstance(first, cst.ImportFrom):
            dots = "." * len(first.relative)
            out.append((index, dots + (_code(first.module) if first.module is not None else ""), True))
    return out


def _code(node: Any) -> str:
    import libcst as cst

    return str(cst.Module([]).code_for_node(node))


def _section(mod: str, own: frozenset[str]) -> int:
    """isort's sections: future, standard library, third party, first party (and relative)."""
    top = mod.split(".")[0]
    if top == "__future__":
        return 0
    if mod.startswith(".") or top in own:
        return 3
    return 1 if top in sys.stdlib_module_names else 2


def _imported(module: Any, mod: str, name: str | None) -> bool:
    """True if a top-level statement already imports exactly this (``import mod`` / ``from mod import name``)."""
    import libcst as cst

    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if name is None and isinstance(small, cst.Import):
                if any(_code(a.name) == mod and a.asname is None for a in small.names):
                    return True
            if name is not None and isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
                if _code(small.module) == mod and not isinstance(small.names, cst.ImportStar):
                    if any(_code(a.name) == name and a.asname is None for a in small.names):
                        return True
    return False


def _insert_import(module: Any, mod: str, name: str | None, own: frozenset[str]) -> Any:
    """Insert ``import mod`` / ``from mod import name`` where isort (and ruff's I001) would:
    in its section, sorted (plain imports before ``from`` imports), sections apart by a blank line."""
    import libcst as cst

    stmt = cst.parse_statement(f"from {mod} import {name}" if name else f"import {mod}")
    body = list(module.body)
    lines = _import_lines(body)
    section = _section(mod, own)
    key = (name is not None, mod.lower())
    same = [(i, (f, m.lower())) for i, m, f in lines if _section(m, own) == section]
    blank = [cst.EmptyLine()]
    if same:
        after = [i for i, k in same if k > key]
        if after:
            at = after[0]
            body[at], stmt = body[at].with_changes(leading_lines=[]), stmt.with_changes(leading_lines=body[at].leading_lines)
        else:
            at = same[-1][0] + 1
    else:
        later = [i for i, m, _ in lines if _section(m, own) > section]
        earlier = [i for i, m, _ in lines if _section(m, own) < section]
        if later:
            at = later[0]
            stmt = stmt.with_changes(leading_lines=body[at].leading_lines)
            body[at] = body[at].with_changes(leading_lines=blank)
        elif earlier:
            at = earlier[-1] + 1
            stmt = stmt.with_changes(leading_lines=blank)
        else:
            at = _insertion_index(body)
            if at:
                stmt = stmt.with_changes(leading_lines=blank)
            if at < len(body) and not body[at].leading_lines:
                body[at] = body[at].with_changes(leading_lines=blank)
    return module.with_changes(body=[*body[:at], stmt, *body[at:]])


def _extend_from_imports(module: Any, imports: dict[tuple[str, str | None], None]) -> tuple[Any, set[tuple[str, str | None]]]:
    """Add a needed name to an existing top-level ``from mod import ...`` (kept isort-sorted
    if it was); returns the module and the imports handled so."""
    import libcst as cst

    wanted: dict[str, list[str]] = {}
    for mod, name in imports:
        if name is not None:
            wanted.setdefault(mod, []).append(name)
    merged: set[tuple[str, str | None]] = set()
    if not wanted:
        return module, merged
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
        mod = cst.Module([]).code_for_node(node.module)
        names_wanted = wanted.pop(mod)
        merged.update((mod, n) for n in names_wanted)
        missing = [n for n in names_wanted if n not in present]
        if not missing:
            continue
        last = names[-1]
        trailing = last.comma
        # The new names go after the last one and take over its trailing comma, if any.
        names[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        added = [cst.ImportAlias(name=cst.Name(n), comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))) for n in missing]
        merged_names = [*names, *added]
        if _one_line(node) and _isort_sorted([_alias_name(a) for a in node.names]):
            # Keep an isort-sorted import sorted (`from datetime import UTC, datetime`).
            merged_names.sort(key=lambda a: _isort_key(_alias_name(a)))
            merged_names = [a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))) for a in merged_names]
        merged_names[-1] = merged_names[-1].with_changes(comma=trailing)
        body[index] = stmt.with_changes(body=[node.with_changes(names=merged_names)])
    return module.with_changes(body=body), merged


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


# -- patches ---------------------------------------------------------------------------------


def unified_patch(display: str, old: bytes, new: bytes) -> bytes:
    """A unified diff of one file that ``patch -p1`` (and ``git apply``) applies, as bytes.

    Lines are split on ``\\n`` only (a CR-only file is one line, as ``patch`` sees it); the
    bytes are kept as they are (latin-1 text is not replaced); a last line without a
    newline gets ``\\ No newline at end of file``; a file name with control characters,
    quotes, backslashes or non-ASCII bytes is C-quoted as git does (so nothing raw reaches
    a terminal and a newline in a name cannot end the header)."""
    import difflib

    a, b = _patch_lines(old), _patch_lines(new)
    name = display.replace(os.sep, "/") if os.sep != "/" else display
    out: list[bytes] = []
    for line in difflib.diff_bytes(
        _unified_diff, a, b, _quote_name("a/" + name), _quote_name("b/" + name), lineterm=b"\n"
    ):
        if line.startswith((b"---", b"+++")) and not line.endswith(b"\n"):
            line += b"\n"
        out.append(line)
        if not line.endswith(b"\n"):
            out.append(b"\n\\ No newline at end of file\n")
    return b"".join(out)


def _unified_diff(
    a: Sequence[str], b: Sequence[str], fromfile: str = "", tofile: str = "", fromfiledate: str = "", tofiledate: str = "", n: int = 3, lineterm: str = "\n"
) -> Iterator[str]:
    """``difflib.unified_diff`` with the line matching of :func:`_matching_blocks`:
    difflib's own matcher is quadratic on a file where thousands of fixed lines are alike
    (3,000 ``return datetime...`` lines: 40 s of a 3,000-fix `fix --diff`)."""
    import difflib

    started = False
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # What get_matching_blocks returns once computed: the opcodes are built on these.
    setattr(matcher, "matching_blocks", _matching_blocks(a, b))  # noqa: B010
    for group in matcher.get_grouped_opcodes(n):
        if not started:
            started = True
            yield f"--- {fromfile}{lineterm}"
            yield f"+++ {tofile}{lineterm}"
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@{lineterm}"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in a[i1:i2]:
                    yield " " + line
                continue
            if tag in ("replace", "delete"):
                for line in a[i1:i2]:
                    yield "-" + line
            if tag in ("replace", "insert"):
                for line in b[j1:j2]:
                    yield "+" + line


def _range(start: int, stop: int) -> str:
    """A unified diff's range, as difflib writes it."""
    beginning, length = start + 1, stop - start
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1  # an empty range begins at the preceding line
    return f"{beginning},{length}"


def _matching_blocks(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int, int]]:
    """Matching runs of lines (``SequenceMatcher.get_matching_blocks``'s form), patience
    style: the common head and tail, then the lines that occur once on each side, in order
    (longest increasing run), as anchors; the gaps between anchors are matched the same way,
    and difflib's matcher only sees a gap without such lines. Near linear in the lines."""
    import difflib

    out: list[tuple[int, int, int]] = []
    todo = [(0, len(a), 0, len(b))]
    while todo:
        alo, ahi, blo, bhi = todo.pop()
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            out.append((alo, blo, 1))
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
            out.append((ahi, bhi, 1))
        if alo == ahi or blo == bhi:
            continue
        count: dict[str, list[int]] = {}
        for i in range(alo, ahi):
            count.setdefault(a[i], [0, 0, i])[0] += 1
        for j in range(blo, bhi):
            entry = count.get(b[j])
            if entry is not None:
                entry[1] += 1
        pairs = []
        for j in range(blo, bhi):
            entry = count.get(b[j])
            if entry is not None and entry[0] == 1 and entry[1] == 1:
                pairs.append((entry[2], j))
        anchors = _increasing(pairs)
        if not anchors:
            if (ahi - alo) * (bhi - blo) > 4_000_000:
                continue  # nothing to anchor on in a large gap: shown as replaced
            matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
            out.extend((alo + i, blo + j, size) for i, j, size in matcher.get_matching_blocks() if size)
            continue
        prev_a, prev_b = alo, blo
        for i, j in anchors:
            todo.append((prev_a, i, prev_b, j))
            out.append((i, j, 1))
            prev_a, prev_b = i + 1, j + 1
        todo.append((prev_a, ahi, prev_b, bhi))
    out.sort()
    merged: list[tuple[int, int, int]] = []
    for i, j, size in out:
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + size)
        else:
            merged.append((i, j, size))
    merged.append((len(a), len(b), 0))
    return merged


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of ``pairs`` (sorted by their second item) whose first items increase."""
    tails: list[int] = []  # index into pairs of the smallest tail of each length
    back: list[int] = []
    for index, (i, _) in enumerate(pairs):
        at = _bisect_tails(pairs, tails, i)
        back.append(tails[at - 1] if at else -1)
        if at == len(tails):
            tails.append(index)
        else:
            tails[at] = index
    out = []
    index = tails[-1] if tails else -1
    while index >= 0:
        out.append(pairs[index])
        index = back[index]
    return out[::-1]


def _bisect_tails(pairs: list[tuple[int, int]], tails: list[int], i: int) -> int:
    """Where ``i`` goes among the tails' first items (increasing): ``bisect_left`` through ``tails``."""
    lo, hi = 0, len(tails)
    while lo < hi:
        mid = (lo + hi) // 2
        if pairs[tails[mid]][0] < i:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _patch_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _quote_name(name: str) -> bytes:
    raw = name.encode("utf-8", "surrogateescape")
    if all(0x20 < c < 0x7F and c not in (0x22, 0x5C) for c in raw):
        return raw
    escapes = {0x07: b"\\a", 0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0B: b"\\v", 0x0C: b"\\f", 0x0D: b"\\r", 0x22: b'\\"', 0x5C: b"\\\\"}
    body = b"".join(escapes.get(c) or (bytes([c]) if 0x20 <= c < 0x7F else b"\\%03o" % c) for c in raw)
    return b'"' + body + b'"'
