"""Check one file's text: decode, parse once with ``ast``, walk once, dispatch to rules.

Pure: takes text and settings, returns a :class:`FileResult`. No printing, no files.
"""

from __future__ import annotations

import ast
import gc
import io
import sys
import tokenize
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sightlint import suppression
from sightlint.models import FileResult, Finding, FixSafety, Severity, Span
from sightlint.rules.base import Rule, RuleClass, RuleMeta
from sightlint.settings import Settings

PARSE_ERROR_CODE = "SL000"
PARSE_ERROR_NAME = "parse-error"

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_UNKNOWN = object()


class SourceError(Exception):
    """A file that cannot be turned into text (binary, bad encoding)."""


def decode_source(data: bytes) -> str:
    """Decode Python source as the interpreter would: BOM, then the coding cookie, else UTF-8."""
    if b"\x00" in data:
        raise SourceError("binary file (contains NUL bytes), not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        detail = exc.msg if isinstance(exc.msg, str) else str(exc)
        raise SourceError(f"cannot determine the encoding (not UTF-8 and no valid coding cookie): {detail}") from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise SourceError(f"cannot decode as {encoding}: {exc}") from None
    # Universal newlines, as the interpreter reads source.
    return text.replace("\r\n", "\n").replace("\r", "\n")


class Context:
    """What a rule may ask about the file being checked, kept current during the walk.

    The engine updates ``function_stack`` and ``class_stack`` *before* rules' ``visit_*``
    and *after* their ``leave_*``, so inside ``visit_AsyncFunctionDef`` the function is
    already on the stack.
    """

    def __init__(self, path: str, text: str, tree: ast.Module, settings: Settings, module: str | None) -> None:
        self.path = path
        self.text = text
        self.lines = text.splitlines()
        self.tree = tree
        self.settings = settings
        self.module = module
        self.function_stack: list[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda] = []
        self.class_stack: list[ast.ClassDef] = []
        # One dict per scope (module, then each function): name -> qualified name of an
        # imported object, or None for a local binding that shadows any import.
        self._scopes: list[dict[str, str | None]] = [{}]
        # qualified_name's answers since the scopes last changed: several rules (and the
        # summary collector) ask it about the same ``Call.func`` while that call is visited.
        self._qualified: dict[ast.AST, str | None] = {}

    # -- positions ---------------------------------------------------------------

    def _char_col(self, line: int, byte_col: int) -> int:
        if line < 1 or line > len(self.lines):
            return byte_col
        text = self.lines[line - 1]
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="replace"))

    def span(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        end_line = getattr(node, "end_lineno", None) or line
        end_col = getattr(node, "end_col_offset", None)
        end_col = col if end_col is None else end_col
        return Span(line, self._char_col(line, col), end_line, self._char_col(end_line, end_col))

    def severity_for(self, meta: RuleMeta, graded: Severity | None = None) -> Severity:
        """The user's override for the code, else the rule's grade for this finding, else its default."""
        return self.settings.severity.get(meta.code, graded or meta.severity)

    # -- scope -------------------------------------------------------------------

    @property
    def current_function(self) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | None:
        return self.function_stack[-1] if self.function_stack else None

    @property
    def in_async_function(self) -> bool:
        """True when the innermost enclosing function is an ``async def`` (lambdas are sync)."""
        return isinstance(self.current_function, ast.AsyncFunctionDef)

    def bind(self, name: str, qualified: str | None) -> None:
        self._scopes[-1][name] = qualified
        if self._qualified:
            self._qualified.clear()

    def resolve_name(self, name: str) -> str | None:
        """The qualified name an identifier refers to, if it is an import; else None."""
        for scope in reversed(self._scopes):
            if name in scope:
                return scope[name]
        return None

    def binding_depth(self, name: str) -> int | None:
        """Index of the innermost visible scope binding ``name`` (0: module), or None."""
        for depth in range(len(self._scopes) - 1, -1, -1):
            if name in self._scopes[depth]:
                return depth
        return None

    def lookup(self, name: str) -> tuple[int, str | None] | None:
        """(:meth:`binding_depth`, :meth:`resolve_name`) of ``name`` in one search, or None if unbound."""
        scopes = self._scopes
        for depth in range(len(scopes) - 1, -1, -1):
            scope = scopes[depth]
            if name in scope:
                return depth, scope[name]
        return None

    def is_local(self, name: str) -> bool:
        """True if ``name`` is bound by something other than an import in a visible scope."""
        for scope in reversed(self._scopes):
            if name in scope:
                return scope[name] is None
        return False

    def qualified_name(self, node: ast.AST) -> str | None:
        """``datetime.datetime.utcnow`` for ``dt.utcnow`` after ``from datetime import datetime as dt``."""
        memo = self._qualified
        found = memo.get(node, _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        key = node
        parts: list[str] = []
        while type(node) is ast.Attribute:
            parts.append(node.attr)
            node = node.value
        qualified = None
        if type(node) is ast.Name:
            base = self.resolve_name(node.id)
            if base is not None:
                if parts:
                    parts.append(base)
                    qualified = ".".join(reversed(parts))
                else:
                    qualified = base
        memo[key] = qualified
        return qualified

    def resolve_relative(self, module: str | None, level: int) -> str | None:
        """Absolute module for ``from <level dots><module> import ...`` in this file."""
        if level == 0:
            return module
        if not self.module:
            return None
        package = self.module.split(".")
        is_package = self.path.replace("\\", "/").endswith("/__init__.py")
        drop = level - 1 if is_package else level
        if drop > len(package):
            return None
        base = package[: len(package) - drop] if drop else package
        return ".".join([*base, module] if module else base) or None

    # -- bookkeeping handlers (called by the engine before/after the rules) --------

    def _enter(self, node: ast.AST) -> None:
        enter = _ENTER.get(type(node))
        if enter is not None:
            enter(self, node)

    def _leave(self, node: ast.AST) -> None:
        if isinstance(node, _FUNCTIONS):
            self.function_stack.pop()
            self._scopes.pop()
            self._qualified.clear()
        elif isinstance(node, ast.ClassDef):
            self.class_stack.pop()


# -- bookkeeping on entering a node, one function per node type (the walk calls them
# before the rules' handlers) ----------------------------------------------------------


def _enter_name(context: Context, node: ast.Name) -> None:
    if type(node.ctx) is not ast.Load:
        context.bind(node.id, None)


def _enter_function(context: Context, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    context.bind(node.name, None)
    context.function_stack.append(node)
    context._scopes.append({})


def _enter_lambda(context: Context, node: ast.Lambda) -> None:
    context.function_stack.append(node)
    context._scopes.append({})


def _enter_class(context: Context, node: ast.ClassDef) -> None:
    context.bind(node.name, None)
    context.class_stack.append(node)


def _enter_import(context: Context, node: ast.Import) -> None:
    for alias in node.names:
        if alias.asname:
            context.bind(alias.asname, alias.name)
        else:
            top = alias.name.split(".", 1)[0]
            context.bind(top, top)


def _enter_import_from(context: Context, node: ast.ImportFrom) -> None:
    base = context.resolve_relative(node.module, node.level)
    for alias in node.names:
        if alias.name == "*":
            continue
        context.bind(alias.asname or alias.name, f"{base}.{alias.name}" if base else None)


def _enter_arg(context: Context, node: ast.arg) -> None:
    context.bind(node.arg, None)


def _enter_except_handler(context: Context, node: ast.ExceptHandler) -> None:
    if node.name:
        context.bind(node.name, None)


_ENTER: dict[type, Callable[[Context, Any], None]] = {
    ast.Name: _enter_name,
    ast.FunctionDef: _enter_function,
    ast.AsyncFunctionDef: _enter_function,
    ast.Lambda: _enter_lambda,
    ast.ClassDef: _enter_class,
    ast.Import: _enter_import,
    ast.ImportFrom: _enter_import_from,
    ast.arg: _enter_arg,
    ast.ExceptHandler: _enter_except_handler,
}
# The kinds whose ``Context._leave`` does something (keep in step with it).
_LEAVE_KINDS = frozenset((ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
_CONTEXT_KINDS = (ast.Load, ast.Store, ast.Del)
# Fields that never hold a node (identifiers, flags); skipping them keeps the walk lean.
_SCALAR_FIELDS = frozenset(
    ("id", "attr", "arg", "module", "level", "asname", "kind", "type_comment", "is_async", "conversion", "simple")
)
# List fields that may hold something other than nodes (identifiers, ``None`` keys of
# ``{**d}``); every other list field holds nodes only.
_MIXED_LIST_FIELDS = frozenset(
    (("Dict", "keys"), ("Global", "names"), ("Nonlocal", "names"), ("MatchClass", "kwd_attrs"))
)
_CHILD_FIELDS: dict[tuple[type, bool], tuple[str, ...]] = {}
_Handlers = tuple[tuple[Any, Callable[[ast.AST], None]], ...]
# bookkeeping on entering (or None), visit handlers, leave handlers,
# push a leave marker?, child fields last-first (name, list may hold non-nodes?)
_Plan = tuple[Callable[[Context, Any], None] | None, _Handlers, _Handlers, bool, tuple[tuple[str, bool], ...]]
_HANDLER_NAMES: dict[type, tuple[tuple[type, bool, str], ...]] = {}


def _child_fields(kind: type, with_ctx: bool) -> tuple[str, ...]:
    """The fields of ``kind`` that may hold child nodes (``ctx`` only when a rule wants it)."""
    key = (kind, with_ctx)
    fields = _CHILD_FIELDS.get(key)
    if fields is None:
        if kind is ast.Constant:
            fields = ()
        else:
            skip = _SCALAR_FIELDS if with_ctx else _SCALAR_FIELDS | {"ctx"}
            # ``name`` is a str everywhere except in ``type X = ...`` (3.12+).
            if kind.__name__ != "TypeAlias":
                skip = skip | {"name"}
            fields = tuple(f for f in getattr(kind, "_fields", ()) if f not in skip)
        _CHILD_FIELDS[key] = fields
    return fields


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
        self.with_ctx = any(k in visit or k in leave for k in _CONTEXT_KINDS)
        # The plans of the node types no visitor handles, the same for every file.
        self.unhandled: dict[type, _Plan] = {}
        self._fields: dict[type, tuple[tuple[str, bool], ...]] = {}

    def plan(self, kind: type, visitors: Sequence[Any]) -> _Plan:
        """The plan of ``kind`` with the handlers bound to ``visitors``."""
        fields = self._fields.get(kind)
        if fields is None:
            fields = self._fields[kind] = tuple(
                (name, (kind.__name__, name) in _MIXED_LIST_FIELDS)
                for name in reversed(_child_fields(kind, self.with_ctx))
            )
        visits = tuple((visitors[i], getattr(visitors[i], attr)) for i, attr in self.visit.get(kind, ()))
        leaves = tuple((visitors[i], getattr(visitors[i], attr)) for i, attr in self.leave.get(kind, ()))
        plan = (_ENTER.get(kind), visits, leaves, kind in _LEAVE_KINDS or bool(leaves), fields)
        if not visits and not leaves:
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

    def _call(self, handlers: Iterable[tuple[Any, Callable[[ast.AST], None]]], node: ast.AST) -> None:
        owner = None
        try:
            for owner, handler in handlers:
                handler(node)
        except Exception as exc:  # a crashing rule must not take the file down
            self._crashed(owner, node, exc)

    def _crashed(self, owner: Any, node: ast.AST, exc: Exception) -> None:
        meta = getattr(owner, "meta", None)
        label = f"{meta.code} ({meta.name})" if meta else type(owner).__name__
        line = getattr(node, "lineno", "?")
        self.errors.append(
            f"internal error in {label} at {self.context.path}:{line}: {type(exc).__name__}: {exc}"
        )
        self.visitors.remove(owner)
        self._build()

    def walk(self, node: ast.AST) -> None:
        # Iterative: deeply nested expressions (long string concatenations) must not
        # hit the recursion limit. This loop is the hot path of a run (it runs once per
        # node of every file), hence the locals, the per-type plans (one dict lookup per
        # node), the handlers called in line rather than through a helper, and leave
        # markers (1-tuples) pushed only for nodes that someone leaves.
        context = self.context
        leave_kinds, node_base = _LEAVE_KINDS, ast.AST
        plans = self._plans
        stack: list[Any] = [node]
        pop, push, extend = stack.pop, stack.append, stack.extend
        owner: Any = None
        while stack:
            current = pop()
            kind = type(current)
            if kind is tuple:
                current = current[0]
                kind = type(current)
                plan = plans.get(kind)
                if plan is None:  # the plans were rebuilt after a crash
                    plan = self._plan(kind)
                if plan[2]:
                    self._call(plan[2], current)
                    plans = self._plans
                if kind in leave_kinds:
                    context._leave(current)
                continue
            plan = plans.get(kind)
            if plan is None:
                plan = self._plan(kind)
            enter, visits, _, leaves, fields = plan
            if enter is not None:
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
            for name, mixed in fields:
                value = getattr(current, name, None)
                if type(value) is list:
                    if mixed:
                        extend([item for item in reversed(value) if isinstance(item, node_base)])
                    else:
                        extend(reversed(value))
                elif isinstance(value, node_base):
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


# settings object id -> (the settings, the registered rules, those the settings turn on):
# asked once per file.
_ENABLED: dict[int, tuple[Settings, tuple[RuleClass, ...], list[RuleClass]]] = {}


def enabled_rules(settings: Settings, path: str | None = None) -> list[RuleClass]:
    """The implemented rules that ``settings`` turn on (for ``path``, if given)."""
    from sightlint.registry import implemented

    registered = implemented()
    memo = _ENABLED.get(id(settings))
    if memo is None or memo[0] is not settings or memo[1] != registered:
        if len(_ENABLED) > 32:
            _ENABLED.clear()
        on = [r for r in registered if settings.is_enabled(r.meta.code, r.meta.name, r.meta.default_enabled)]
        memo = _ENABLED[id(settings)] = (settings, registered, on)
    rules = memo[2]
    if path is not None and settings.per_file_ignores:
        return [r for r in rules if not settings.ignored_for_path(path, r.meta.code, r.meta.name)]
    return list(rules)


def _syntax_error(path: str, text: str, exc: SyntaxError) -> Finding:
    line = exc.lineno or 1
    col = max((exc.offset or 1) - 1, 0)
    message = f"syntax error: {exc.msg}"
    hint = _newer_python_hint(text)
    if hint:
        message += f" ({hint})"
    return parse_error(path, message, line, col)


def _newer_python_hint(text: str) -> str | None:
    """Name the Python version a file needs when only a newer grammar accepts it.

    The running interpreter's parser knows no newer syntax, so LibCST (which carries its
    own grammar for later versions) is asked, lazily and only for files that failed; the
    version named is that of the newest construct found in its tree.
    """
    running = sys.version_info[:2]
    try:
        import libcst
    except ImportError:  # pragma: no cover - libcst is a dependency
        return None
    newest = max(libcst.KNOWN_PYTHON_VERSION_STRINGS, key=lambda v: tuple(int(p) for p in v.split(".")))
    try:
        module = libcst.parse_module(text, config=libcst.PartialParserConfig(python_version=newest))
    except Exception:  # sightlint: ignore[SL201] no grammar accepts it: a plain syntax error
        return None
    needed = _syntax_version(module)
    where = f"sightlint is running on Python {running[0]}.{running[1]}"
    if needed is not None and needed > running:
        return f"the file uses Python {needed[0]}.{needed[1]} syntax; {where}"
    return f"the file may use syntax newer than Python {running[0]}.{running[1]}; {where}"


def _syntax_version(module: Any) -> tuple[int, int] | None:
    """The newest Python version among the constructs in a LibCST tree that need one."""
    import libcst

    found: list[tuple[int, int]] = []

    class Finder(libcst.CSTVisitor):
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

    module.visit(Finder())
    return max(found) if found else None


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
    module: str | None = None,
    rules: Sequence[RuleClass] | None = None,
    collectors: Sequence[Any] = (),
    summarize: bool | None = None,
) -> FileResult:
    """Check one file's contents. ``rules`` defaults to the rules the settings enable.

    With ``summarize`` (by default: when a cross-file rule is on), the same walk also
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


def _check_source(
    source: str | bytes,
    path: str,
    settings: Settings,
    module: str | None,
    rules: Sequence[RuleClass] | None,
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
        result.findings.append(parse_error(path, f"cannot parse file: {type(exc).__name__}: {exc}"))
        return result

    marks = suppression.parse(text)
    result.suppressions = marks
    if marks.skip_file:
        return result

    context = Context(path, text, tree, settings, module)
    chosen = list(rules) if rules is not None else enabled_rules(settings, path)
    if summarize is None:
        # Every file is summarised when a cross-file rule is on anywhere: chains pass
        # through files whose own findings per-file-ignores switch off.
        summarize = any(rule.cross_file for rule in (chosen if rules is not None else enabled_rules(settings)))
    instances: list[Rule] = [
        rule(context, settings.rule_options.get(rule.meta.name))
        for rule in chosen
        if not rule.cross_file and rule.may_report(text)
    ]
    extra = list(collectors)
    if summarize:
        from sightlint.project.collector import SummaryCollector
        from sightlint.project.summary import dependency_terms

        summary_collector = SummaryCollector(context)
        extra.append(summary_collector)
    dispatcher = _Dispatcher(context, [*instances, *extra])
    # Module-level imports bind before any function body is read, as at run time.
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            context._enter(stmt)
    dispatcher.walk(tree)
    for instance in instances:
        if instance in dispatcher.visitors:
            try:
                instance.end_module()
            except Exception as exc:
                dispatcher._crashed(instance, tree, exc)
    result.errors.extend(dispatcher.errors)
    if summarize and summary_collector in dispatcher.visitors:
        result.summary = summary_collector.summary
        result.summary.terms = dependency_terms(result.summary)

    names = {r.meta.code: r.meta.name for r in chosen}
    for instance in instances:
        for finding in instance.findings:
            if not marks.suppresses(finding, names):
                result.findings.append(finding)
    result.findings.sort(key=Finding.sort_key)
    if settings.report_unused_suppressions:
        result.unused_suppressions = marks.unused()
    return result
