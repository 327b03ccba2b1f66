"""Check one file's text: decode, parse once with ``ast``, walk once, dispatch to rules.

Pure: takes text and settings, returns a :class:`FileResult`. No printing, no files.
"""

from __future__ import annotations

import ast
import gc
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sightlint import nesting, suppression
from sightlint.models import FileResult, Finding, FixSafety, Severity, Span
from sightlint.rules.base import Rule, RuleClass, screened, uses_project
from sightlint.semantics import prints
from sightlint.semantics.nodes import MIXED_KINDS, child_fields
from sightlint.semantics.scope import ENTER, LEAVE, Context, _enter_name
from sightlint.settings import Settings
from sightlint.source import SourceError, decode_source, python2_marker

PARSE_ERROR_CODE = "SL000"
PARSE_ERROR_NAME = "parse-error"
# Larger files that fail to parse get no newer-Python hint: LibCST parses about 0.4 MB/s.
MAX_HINT_SIZE = 512 * 1024


_CONTEXT_KINDS = (ast.Load, ast.Store, ast.Del)
_Handlers = tuple[tuple[Any, Callable[[ast.AST], None]], ...]
# bookkeeping on entering (or None), visit handlers, leave handlers,
# push a leave marker?, child fields last-first, whether a field of the kind may hold
# something other than nodes (``nodes.MIXED_KINDS``), bookkeeping on leaving (or None)
_Bookkeeping = Callable[[Context, Any], None]
_Plan = tuple[_Bookkeeping | None, _Handlers, _Handlers, bool, tuple[str, ...], bool, _Bookkeeping | None]
_HANDLER_NAMES: dict[type, tuple[tuple[type, bool, str], ...]] = {}


def _handler_names(cls: type) -> tuple[tuple[type, bool, str], ...]:
    """``(node type, is_visit, method name)`` for a visitor class, computed once per class."""
    names = _HANDLER_NAMES.get(cls)
    if names is None:
        found = []
        for attr in dir(cls):
            if attr.startswith("visit_") or attr.startswith("leave_"):
                node_type = getattr(ast, attr[6:], None)
                if isinstance(node_type, type):
                    found.append((node_type, attr.startswith("visit_"), attr))
        names = _HANDLER_NAMES[cls] = tuple(found)
    return names


class _Template:
    """What does not change from file to file for one list of visitor classes.

    Handlers are named by ``(visitor index, method name)`` and bound per file; the node
    shapes (enter code, leave marker, child fields) are shared by every file.
    """

    def __init__(self, classes: tuple[type, ...]) -> None:
        visit: dict[type, list[tuple[int, str]]] = {}
        leave: dict[type, list[tuple[int, str]]] = {}
        for index, cls in enumerate(classes):
            for node_type, is_visit, attr in _handler_names(cls):
                (visit if is_visit else leave).setdefault(node_type, []).append((index, attr))
        self.visit = {kind: tuple(handlers) for kind, handlers in visit.items()}
        self.leave = {kind: tuple(handlers) for kind, handlers in leave.items()}
        # Per visitor index, its ``visit_*`` handlers that each file starts with switched off
        # (``Rule.switched``; only visit handlers: a leave marker is pushed when a node is visited).
        self.switched: dict[int, frozenset[str]] = {
            index: frozenset(n for n in getattr(cls, "switched", ()) if n.startswith("visit_"))
            for index, cls in enumerate(classes)
            if getattr(cls, "switched", None)
        }
        self.with_ctx = any(k in visit or k in leave for k in _CONTEXT_KINDS)
        # The plans of the node types no visitor handles, the same for every file.
        self.unhandled: dict[type, _Plan] = {}
        self._fields: dict[type, tuple[str, ...]] = {}

    def plan(self, kind: type, visitors: Sequence[Any]) -> _Plan:
        """The plan of ``kind`` with the handlers bound to ``visitors``."""
        fields = self._fields.get(kind)
        if fields is None:
            fields = self._fields[kind] = tuple(reversed(child_fields(kind, self.with_ctx)))
        mixed = kind in MIXED_KINDS
        switched = self.switched
        visits = tuple(
            (visitors[i], getattr(visitors[i], attr))
            for i, attr in self.visit.get(kind, ())
            if i not in switched or attr not in switched[i] or attr in visitors[i].switched_on
        )
        leaves = tuple((visitors[i], getattr(visitors[i], attr)) for i, attr in self.leave.get(kind, ()))
        plan = (ENTER.get(kind), visits, leaves, kind in LEAVE or bool(leaves), fields, mixed, LEAVE.get(kind))
        if kind not in self.visit and kind not in self.leave:
            self.unhandled[kind] = plan
        return plan


_TEMPLATES: dict[tuple[type, ...], _Template] = {}


class _Dispatcher:
    """One walk over the tree, handing each node to the handlers that asked for its type."""

    def __init__(self, context: Context, visitors: Sequence[Any]) -> None:
        self.context = context
        self.visitors = list(visitors)
        self.errors: list[str] = []
        self._build()
        for index in self._template.switched:
            self.visitors[index].replan = self._replan

    def detach(self) -> None:
        """Break the cycle between the dispatcher and the visitors that can switch handlers on."""
        for visitor in self.visitors:
            if getattr(visitor, "replan", None) is not None:
                visitor.replan = None

    def _build(self) -> None:
        classes = tuple(type(visitor) for visitor in self.visitors)
        template = _TEMPLATES.get(classes)
        if template is None:
            template = _TEMPLATES[classes] = _Template(classes)
        self._template = template
        # Per node type: what the walk does with it (handled types are bound on first sight).
        self._plans: dict[type, _Plan] = dict(template.unhandled)

    def _plan(self, kind: type) -> _Plan:
        plan = self._plans[kind] = self._template.plan(kind, self.visitors)
        return plan

    def _replan(self, owner: Any, names: Sequence[str]) -> None:
        """``owner`` switched ``names`` on: rebuild the plans (made so far) that hold one of them."""
        template, plans, visitors = self._template, self._plans, self.visitors
        for kind, handlers in template.visit.items():
            if kind in plans and any(visitors[i] is owner and attr in names for i, attr in handlers):
                plans[kind] = template.plan(kind, visitors)

    def _crashed(self, owner: Any, node: ast.AST, exc: Exception) -> None:
        meta = getattr(owner, "meta", None)
        label = f"{meta.code} ({meta.name})" if meta else type(owner).__name__
        line = getattr(node, "lineno", "?")
        self.errors.append(
            f"internal error in {label} at {self.context.path}:{line}: {type(exc).__name__}: {exc}"
        )
        self.visitors.remove(owner)
        if getattr(owner, "replan", None) is not None:
            owner.replan = None
        self._build()

    def walk(self, node: ast.AST) -> None:
        # Iterative: deeply nested expressions (long string concatenations) must not
        # hit the recursion limit. This loop is the hot path of a run (it runs once per
        # node of every file), hence the locals, the per-type plans (one dict lookup per
        # node), the handlers called in line rather than through a helper, and leave
        # markers (1-tuples) pushed only for nodes that someone leaves.
        context = self.context
        node_base = ast.AST
        # A name's bookkeeping (the commonest node) is done in line: only a stored name binds.
        enter_name, load, bind = _enter_name, ast.Load, context.bind
        plans = self._plans
        stack: list[Any] = [node]
        pop, push, extend = stack.pop, stack.append, stack.extend
        owner: Any = None
        while stack:
            current = pop()
            kind = type(current)
            if kind is tuple:
                current = current[0]
                plan = plans.get(type(current))
                if plan is None:  # the plans were rebuilt after a crash
                    plan = self._plan(type(current))
                if plan[2]:
                    try:
                        for owner, handler in plan[2]:
                            handler(current)
                    except Exception as exc:  # a crashing rule must not take the file down
                        self._crashed(owner, current, exc)
                        plans = self._plans
                if plan[6] is not None:
                    plan[6](context, current)
                continue
            plan = plans.get(kind)
            if plan is None:
                plan = self._plan(kind)
            enter, visits, _, leaves, fields, mixed, _ = plan
            if enter is not None:
                if enter is enter_name:
                    if type(current.ctx) is not load:
                        bind(current.id, None)
                else:
                    enter(context, current)
            if visits:
                try:
                    for owner, handler in visits:
                        handler(current)
                except Exception as exc:  # a crashing rule must not take the file down
                    self._crashed(owner, current, exc)
                    plans = self._plans
            if leaves:
                push((current,))
            if mixed:
                for name in fields:
                    value = getattr(current, name, None)
                    if type(value) is list:
                        extend([item for item in reversed(value) if isinstance(item, node_base)])
                    elif isinstance(value, node_base):
                        push(value)
                continue
            for name in fields:
                value = getattr(current, name, None)
                if type(value) is list:
                    extend(reversed(value))
                elif value is not None:
                    push(value)


def parse_error(path: str, message: str, line: int = 1, col: int = 0) -> Finding:
    return Finding(
        code=PARSE_ERROR_CODE,
        name=PARSE_ERROR_NAME,
        severity=Severity.CRITICAL,
        message=message,
        path=path,
        span=Span(line, col, line, col),
        fix_safety=FixSafety.NONE,
    )


def _syntax_error(path: str, text: str, exc: SyntaxError) -> Finding:
    line = exc.lineno or 1
    col = max((exc.offset or 1) - 1, 0)
    message = f"syntax error: {exc.msg}"
    lines = text.split("\n")
    python2 = python2_marker(lines[line - 1]) if 0 < line <= len(lines) else None
    hint, python3 = _newer_python_hint(text)
    # Read with the newer grammar, `except E, name:` is 3.14's `except (E, name):`; a file
    # that also writes what Python 2 had no syntax for (annotations, f-strings, `async def`)
    # is not Python 2, and only the newer version is named.
    if python2 and not python3:
        hint = f"looks like Python 2: {python2}; sightlint reads Python 3" + (f"; or {hint}" if hint else "")
    if hint:
        message += f" ({hint})"
    return parse_error(path, message, line, col)


def _newer_python_hint(text: str) -> tuple[str | None, bool]:
    """Name the Python version a file needs when only a newer grammar accepts it, and
    whether the file holds syntax Python 2 never had (then it is no Python 2 code).

    The running interpreter's parser knows no newer syntax, so LibCST (which carries its
    own grammar for later versions) is asked, lazily and only for files that failed; the
    version named is that of the newest construct found in its tree.
    """
    running = sys.version_info[:2]
    where = f"sightlint is running on Python {running[0]}.{running[1]}"
    if len(text) > MAX_HINT_SIZE:
        return None, False  # LibCST would take seconds over it, for a hint
    deep = nesting.too_nested(text)
    if deep == nesting.UNTOKENIZABLE:
        return None, False  # no newer grammar accepts what does not tokenize (an unclosed bracket)
    if deep:
        # LibCST's parser would crash the process (see ``sightlint.nesting``).
        return f"not checked for newer Python syntax: the file is too deeply nested, {deep}", False
    try:
        import libcst
    except ImportError:  # pragma: no cover - libcst is a dependency
        return None, False
    newest = max(libcst.KNOWN_PYTHON_VERSION_STRINGS, key=lambda v: tuple(int(p) for p in v.split(".")))
    try:
        module = libcst.parse_module(text, config=libcst.PartialParserConfig(python_version=newest))
    except Exception:  # sightlint: ignore[SL201] no grammar accepts it: a plain syntax error
        return None, False
    needed, python3 = _syntax_version(module)
    if needed is not None and needed > running:
        return f"the file uses Python {needed[0]}.{needed[1]} syntax; {where}", python3
    return f"the file may use syntax newer than Python {running[0]}.{running[1]}; {where}", python3


def _syntax_version(module: Any) -> tuple[tuple[int, int] | None, bool]:
    """The newest Python version among the constructs in a LibCST tree that need one, and
    whether the tree holds syntax that Python 2 never had: annotations, f-strings,
    `async`/`await`, `nonlocal`, `yield from`, `raise ... from`, `:=`, keyword-only
    parameters."""
    import libcst

    found: list[tuple[int, int]] = []
    python3: list[bool] = []

    class Finder(libcst.CSTVisitor):
        def visit_Annotation(self, node: libcst.Annotation) -> None:
            python3.append(True)

        def visit_Await(self, node: libcst.Await) -> None:
            python3.append(True)

        def visit_FunctionDef(self, node: libcst.FunctionDef) -> None:
            if node.asynchronous is not None or node.params.kwonly_params:
                python3.append(True)  # `async def`, or keyword-only parameters

        def visit_Nonlocal(self, node: libcst.Nonlocal) -> None:
            python3.append(True)

        def visit_Yield(self, node: libcst.Yield) -> None:
            if isinstance(node.value, libcst.From):
                python3.append(True)

        def visit_Raise(self, node: libcst.Raise) -> None:
            if node.cause is not None:
                python3.append(True)

        def visit_NamedExpr(self, node: libcst.NamedExpr) -> None:
            python3.append(True)

        def visit_TemplatedString(self, node: libcst.TemplatedString) -> None:
            found.append((3, 14))  # t-strings, PEP 750

        def visit_ExceptHandler(self, node: libcst.ExceptHandler) -> None:
            if isinstance(node.type, libcst.Tuple) and not node.type.lpar:
                found.append((3, 14))  # `except A, B:`, PEP 758

        def visit_TypeAlias(self, node: libcst.TypeAlias) -> None:
            found.append((3, 12))  # `type X = ...`, PEP 695

        def visit_TypeParameters(self, node: libcst.TypeParameters) -> None:
            found.append((3, 12))  # `def f[T]()`, PEP 695

        def visit_TryStar(self, node: libcst.TryStar) -> None:
            found.append((3, 11))  # `except*`, PEP 654

        def visit_Match(self, node: libcst.Match) -> None:
            found.append((3, 10))  # `match`, PEP 634

        def visit_FormattedString(self, node: libcst.FormattedString) -> None:
            quote = node.start.lstrip("fFrRbBuU")
            for part in node.parts:
                if not isinstance(part, libcst.FormattedStringExpression):
                    continue
                if _reuses_quote(part.expression, quote) or (
                    len(quote) == 1 and "\n" in module.code_for_node(part)
                ):
                    found.append((3, 12))  # own quote, or a line break, inside the f-string: PEP 701
            python3.append(True)

    module.visit(Finder())
    return (max(found) if found else None), bool(python3)


def _reuses_quote(expression: Any, quote: str) -> bool:
    """True if a string literal inside an f-string expression opens with the f-string's quote."""
    import libcst

    hits: list[bool] = []

    class Strings(libcst.CSTVisitor):
        def visit_SimpleString(self, node: libcst.SimpleString) -> None:
            hits.append(node.value.lstrip("rRbBuU").startswith(quote))

        def visit_FormattedString(self, node: libcst.FormattedString) -> None:
            hits.append(node.start.lstrip("fFrRbBuU").startswith(quote))

    expression.visit(Strings())
    return any(hits)


def check_source(
    source: str | bytes,
    path: str,
    settings: Settings,
    *,
    rules: Sequence[RuleClass],
    module: str | None = None,
    collectors: Sequence[Any] = (),
    summarize: bool | None = None,
) -> FileResult:
    """Check one file's contents with ``rules`` (the run's enabled rules: those that
    ``per-file-ignores`` switch off for ``path`` are dropped here).

    With ``summarize`` (by default: when one of ``rules`` is a cross-file rule), the same walk also
    collects the file's :class:`~sightlint.project.summary.ModuleSummary` into
    ``result.summary`` for the cross-file phase; the parsed suppression comments are kept
    in ``result.suppressions``.
    """
    # A file's tree and the rules' bookkeeping are many small objects freed by reference
    # counting; pausing the cyclic collector while they live saves it from traversing
    # them (and every result kept so far) over and over. Cycles made meanwhile are
    # collected once it runs again.
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        return _check_source(source, path, settings, module, rules, collectors, summarize)
    finally:
        if collecting:
            gc.enable()


def _release(context: Context, summary_collector: Any) -> None:
    """Break the reference cycles a file's check leaves between its helpers (the context's
    shared per-file values point back at the context; the summary collector and its work
    rows point at each other; the scope index). Each one holds the file's whole tree: with the cyclic
    collector paused for a run (``api.check_paths``), every file checked in this process
    would otherwise stay in memory until the run ends (letta, one process, all rules:
    575 MB peak, most of it dead trees). ``tests/test_engine.py`` checks that a file's
    check leaves no cyclic garbage."""
    context.release()
    if summary_collector is not None:
        vars(summary_collector).clear()


def _check_source(
    source: str | bytes,
    path: str,
    settings: Settings,
    module: str | None,
    rules: Sequence[RuleClass],
    collectors: Sequence[Any],
    summarize: bool | None,
) -> FileResult:
    result = FileResult(path=path)
    if isinstance(source, bytes):
        try:
            text = decode_source(source)
        except SourceError as exc:
            result.findings.append(parse_error(path, f"cannot read file: {exc}"))
            return result
    else:
        text = source
    try:
        tree = ast.parse(text, filename=path, type_comments=False)
    except SyntaxError as exc:
        result.findings.append(_syntax_error(path, text, exc))
        return result
    except (ValueError, RecursionError, MemoryError) as exc:
        # The parser's own stack overflow is a MemoryError, without a message before 3.12.
        detail = str(exc) or "Parser stack overflowed - Python source too complex to parse"
        result.findings.append(parse_error(path, f"cannot parse file: {type(exc).__name__}: {detail}"))
        return result

    marks = suppression.parse(text)
    result.suppressions = marks
    if marks.skip_file:
        return result

    context = Context(path, text, tree, settings, module)
    chosen = list(rules)
    if settings.per_file_ignores:
        chosen = [r for r in chosen if not settings.ignored_for_path(path, r.meta.code, r.meta.name)]
    if summarize is None:
        # Every file is summarised when a cross-file (or graded) rule is on anywhere: chains
        # pass through files whose own findings per-file-ignores switch off.
        summarize = any(uses_project(rule) for rule in rules)
    screen = screened(text)  # what the rules' pre-filters read (``Rule.may_report``)
    instances: list[Rule] = [
        rule(context, settings.rule_options.get(rule.meta.name))
        for rule in chosen
        if not rule.cross_file and rule.may_report(screen)
    ]
    extra = list(collectors)
    summary_collector = None
    if summarize:
        from sightlint.project.collector import SummaryCollector
        from sightlint.project.summary import dependency_terms

        summary_collector = SummaryCollector(context)
        extra.append(summary_collector)
    dispatcher: _Dispatcher | None = None
    try:
        # Shared per-file models some rules read (the FastAPI collector): walked once, ahead
        # of every rule, so each rule's handler of a node sees them current.
        companions: list[Any] = []
        for instance in instances:
            make = getattr(instance, "walk_companion", None)
            if make is not None:
                companion = make(context)
                if all(companion is not c for c in companions):
                    companions.append(companion)
        dispatcher = _Dispatcher(context, [*companions, *instances, *extra])
        # Module-level imports bind before any function body is read, as at run time.
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                context.enter(stmt)
        dispatcher.walk(tree)
        for instance in instances:
            if instance in dispatcher.visitors:
                try:
                    instance.end_module()
                except Exception as exc:
                    dispatcher._crashed(instance, tree, exc)
        result.errors.extend(dispatcher.errors)
        if summary_collector is not None and summary_collector in dispatcher.visitors:
            result.summary = summary_collector.summary
            result.summary.terms = dependency_terms(result.summary)
    finally:
        if dispatcher is not None:
            dispatcher.detach()
        _release(context, summary_collector)

    names = {r.meta.code: r.meta.name for r in chosen}
    for instance in instances:
        for finding in instance.findings:
            if not marks.suppresses(finding, names):
                result.findings.append(finding)
    result.findings.sort(key=Finding.sort_key)
    # The fingerprints' parts, from the tree in hand (reporting would parse the file again).
    result.prints = prints.table(tree, text, [(f.span.line, f.span.col, f.span.end_line, f.span.end_col) for f in result.findings])
    if settings.report_unused_suppressions:
        result.unused_suppressions = marks.unused()
    return result
