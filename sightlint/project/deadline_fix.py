"""What the fixes of SL401, SL402 and SL403 (deadlines) and SL601 share: the ``timeout-expression``
option (parsed and validated when the configuration is loaded), the names they need at
the fixed site (``asyncio``, the expression's root name) checked with the scope model,
and the two wrappings: ``asyncio.wait_for(<call>, timeout=T)`` around an expression (any
Python) and ``async with asyncio.timeout(T):`` around the statement that awaits it (the
project targets Python 3.11 or later, ``target-version``)."""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sightlint.semantics.bindings import BindingKind

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.semantics.scope import Context
    from sightlint.settings import Settings

DEFAULT_TIMEOUT = "60"
_NODES = (ast.Expression, ast.Constant, ast.Name, ast.Attribute, ast.Load, ast.BinOp, ast.Mult, ast.Add, ast.Div, ast.Call)


def validate_timeout_expression(text: str) -> None:
    """Raise ``ValueError`` unless ``text`` is a timeout a fix may write: a positive number
    of seconds, or a dotted name (``settings.LLM_TIMEOUT``), a call of one without
    arguments (``get_settings().llm_timeout``), or a product, sum or quotient of those."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("timeout-expression: expected a Python expression such as \"60\" or \"settings.LLM_TIMEOUT\", got an empty string")
    if "\n" in text or "\r" in text:
        raise ValueError(f"timeout-expression: {text!r} must be one line")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"timeout-expression: {text!r} is not a Python expression ({exc.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise ValueError(
                f"timeout-expression: {text!r}: `{type(node).__name__}` is not allowed "
                "(expected seconds as a number, a dotted name such as settings.LLM_TIMEOUT, or * + / of those)"
            )
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, (int, float)) or not node.value > 0
        ):
            raise ValueError(f"timeout-expression: {text!r}: {node.value!r} is not a positive number of seconds")
        if isinstance(node, ast.Call) and (node.args or node.keywords or _dotted(node.func) is None):
            raise ValueError(f"timeout-expression: {text!r}: only calls of a dotted name without arguments are allowed")
    if _root(tree.body) is None and not _has_number(tree.body):
        raise ValueError(f"timeout-expression: {text!r} names no number and no name")


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _roots(node: ast.AST) -> list[str]:
    """The names the expression reads (the first part of each dotted name)."""
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


def _root(node: ast.AST) -> str | None:
    roots = _roots(node)
    return roots[0] if roots else None


def _has_number(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) for n in ast.walk(node))


@dataclass(frozen=True)
class DeadlineFixOptions:
    """SL402's and SL403's settings."""

    timeout_expression: str = DEFAULT_TIMEOUT
    """The deadline the fix writes, in seconds: a Python expression (`"60"`,
    `"settings.LLM_TIMEOUT"`). A name it reads must be imported or defined in the fixed
    module, else imported as the project's other modules import it (`from app.core.config
    import settings`), else the site is not fixed."""

    def __post_init__(self) -> None:
        validate_timeout_expression(self.timeout_expression)


def import_conventions(sources: Sequence[tuple[str | None, str, str]]) -> dict[str, Any]:
    """How the project's modules get each module-level name, for the timeout expression's
    root when the fixed module lacks it: ``{"imports": {name: (module, factory)}}``, the
    most common way among ``from module import name`` (factory None) and
    ``from module import factory`` + ``name = factory()`` at the top level (the
    ``settings = get_settings()`` convention)."""
    counts: dict[str, Counter[tuple[str, str | None]]] = {}
    from_import = re.compile(r"^from\s+([\w.]+)\s+import\s+([^\n(#\\]+)$", re.MULTILINE)
    assignment = re.compile(r"^(\w+)\s*=\s*(\w+)\(\)\s*(?:#.*)?$", re.MULTILINE)
    for _module, _path, text in sources:
        imported: dict[str, str] = {}
        for match in from_import.finditer(text):
            for part in match.group(2).split(","):
                bits = part.split()
                if len(bits) == 1:
                    imported[bits[0]] = match.group(1)
                    counts.setdefault(bits[0], Counter())[(match.group(1), None)] += 1
        for match in assignment.finditer(text):
            name, factory = match.group(1), match.group(2)
            if factory in imported and name not in imported:
                counts.setdefault(name, Counter())[(imported[factory], factory)] += 1
    return {"imports": {name: c.most_common(1)[0][0] for name, c in counts.items()}}


def asyncio_import(context: Context, line: int, col: int) -> tuple[tuple[str, str | None], ...] | None:
    """What ``asyncio`` at ``line:col`` needs: ``()`` when it is the module's ``import asyncio``,
    ``import asyncio`` when nothing binds it, None when it names something else there."""
    found = context.binding_at("asyncio", line, col)
    if found.kind is BindingKind.UNBOUND:
        return (("asyncio", None),)
    if found.kind is BindingKind.IMPORT and found.qualified == "asyncio" and found.at_module_level:
        return ()
    return None


class Deadline:
    """What a deadline fix at ``line:col`` of ``context``'s module writes: the timeout
    expression and the imports it needs; None (from :meth:`at`) when a name it needs means
    something else there."""

    def __init__(
        self,
        expression: Any,
        imports: tuple[tuple[str, str | None], ...],
        timeout_cm: bool,
        statements: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.expression = expression  # a libcst expression
        self.imports = imports
        # Module statements the expression needs (``settings = get_settings()``).
        self.statements = statements
        # Whether `async with asyncio.timeout(T)` may be written (Python 3.11+).
        self.timeout_cm = timeout_cm

    @classmethod
    def at(
        cls, context: Context, text: str, line: int, col: int, facts: dict[str, Any], *, floor: float | None = None
    ) -> Deadline | None:
        """``floor``: the client's own HTTP timeout in seconds; a numeric ``text`` below it is raised to it."""
        import libcst as cst

        needed = asyncio_import(context, line, col)
        if needed is None:
            return None
        imports = list(needed)
        tree = ast.parse(text.strip(), mode="eval")
        if floor is not None and isinstance(tree.body, ast.Constant) and isinstance(tree.body.value, (int, float)) and floor > tree.body.value:
            text = f"{floor:g}"
        statements: list[tuple[str, str]] = []
        for name in dict.fromkeys(_roots(tree)):
            binding = context.binding_at(name, line, col)
            if binding.kind is BindingKind.UNBOUND:
                how = (facts.get("imports") or {}).get(name)
                if how is None or how[0] == context.module or name == "asyncio":
                    return None  # nowhere to take it from
                source, factory = how
                if factory is None:
                    imports.append((source, name))
                    continue
                # ``from source import factory`` + ``name = factory()``, as the project does.
                found = context.module_binding(factory)
                if found is not None and not (found.kind is BindingKind.IMPORT and found.qualified == f"{source}.{factory}"):
                    return None
                if context.binding_at(factory, line, col).kind not in (BindingKind.UNBOUND, BindingKind.IMPORT):
                    return None
                imports.append((source, factory))
                statements.append((name, f"{name} = {factory}()"))
            elif not binding.at_module_level and binding.kind is not BindingKind.BUILTIN:
                return None  # a local or parameter of that name would be read instead
        return cls(cst.parse_expression(text.strip()), tuple(imports), context.settings.target_python >= (3, 11), tuple(statements))

    def wait_for(self, awaitable: cst.BaseExpression) -> cst.Call:
        """``asyncio.wait_for(<awaitable>, timeout=T)``."""
        import libcst as cst

        return cst.Call(
            func=cst.Attribute(value=cst.Name("asyncio"), attr=cst.Name("wait_for")),
            args=[
                cst.Arg(value=awaitable, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                cst.Arg(
                    keyword=cst.Name("timeout"),
                    value=self.expression,
                    equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
                ),
            ],
        )

    def timeout_item(self) -> cst.WithItem:
        """``asyncio.timeout(T)`` as an ``async with`` item."""
        import libcst as cst

        call = cst.Call(func=cst.Attribute(value=cst.Name("asyncio"), attr=cst.Name("timeout")), args=[cst.Arg(value=self.expression)])
        return cst.WithItem(item=call)

    def around(self, statement: cst.SimpleStatementLine | cst.For) -> cst.With:
        """``async with asyncio.timeout(T):`` around ``statement`` (its comments above stay above)."""
        import libcst as cst

        return cst.With(
            items=[self.timeout_item()],
            body=cst.IndentedBlock(body=[statement.with_changes(leading_lines=())]),
            asynchronous=cst.Asynchronous(),
            leading_lines=statement.leading_lines,
        )


def awaited_statement(node: cst.CSTNode, ancestors: Sequence[cst.CSTNode]) -> cst.SimpleStatementLine | None:
    """The statement line whose whole work is ``await <node>`` (``await x``, ``y = await x``,
    ``y: T = await x``, ``return await x``) with no other ``await`` in it: wrapping that line
    in ``async with asyncio.timeout(T):`` bounds the call and nothing else. None otherwise."""
    import libcst as cst

    if len(ancestors) < 3:
        return None
    awaiting, small, line = ancestors[-1], ancestors[-2], ancestors[-3]
    if not isinstance(awaiting, cst.Await) or not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    if isinstance(small, (cst.Expr, cst.Return)) and small.value is awaiting:
        pass
    elif isinstance(small, cst.Assign) and small.value is awaiting:
        pass
    elif isinstance(small, cst.AnnAssign) and small.value is awaiting:
        pass
    else:
        return None
    if _awaits(node):
        return None
    return line


def _awaits(node: cst.CSTNode) -> bool:
    import libcst as cst

    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Await):
            return True
        if isinstance(current, (cst.Lambda,)):
            continue
        stack.extend(current.children)
    return False


def fresh_name(context: Context, candidates: Sequence[str], line: int, col: int, *, module_level: bool = False) -> str | None:
    """The first of ``candidates`` that nothing binds or reads in the module (a new local or
    module-level name then shadows nothing and is shadowed by nothing)."""
    used = {n.id for n in ast.walk(context.tree) if isinstance(n, ast.Name)} | {
        a.arg for a in ast.walk(context.tree) if isinstance(a, ast.arg)
    }
    for name in candidates:
        if name in used:
            continue
        binding = context.binding_at(name, line, col)
        if binding.kind is BindingKind.UNBOUND and (not module_level or context.module_binding(name) is None):
            return name
    return None


_BATCHES = frozenset({"abatch", "abatch_as_completed", "aembed_documents", "aconvert_to_graph_documents", "agenerate"})


def unread_timeout(kind: str, seconds: float | None) -> bool:
    """Whether a client's own timeout is one sightlint cannot read (configuration, a parameter)."""
    return kind == "unknown" or (kind == "http" and seconds is None)


def sl401_fixes(settings: Settings, method: str, kind: str, seconds: float | None) -> bool:
    """Whether SL401's fix gives the call ``method`` (its client's timeout ``kind``/``seconds``)
    a deadline: not for a batch, a stream before Python 3.11, or a client whose own timeout
    cannot be read while the deadline is a plain number (see SL401's Fix section)."""
    if method in _BATCHES or (method.startswith("astream") and settings.target_python < (3, 11)):
        return False
    options = settings.rule_options.get("llm-call-without-deadline")
    expression = getattr(options, "timeout_expression", DEFAULT_TIMEOUT)
    return not (unread_timeout(kind, seconds) and blind(expression))


def blind(expression: str) -> bool:
    """Whether the deadline is the default number of seconds, which nobody chose for the
    project: too blind for a client whose own timeout sightlint cannot read (a number the
    user wrote, or an expression, is their choice)."""
    return expression.strip() == DEFAULT_TIMEOUT


def bounded_by_sl401(settings: Settings, path: str, method: str, timeout_kind: str, seconds: float | None) -> bool:
    """Whether ``llm-call-without-deadline`` (SL401) reports, with a fix, the LLM call
    ``method`` at ``path`` whose client has a timeout of ``timeout_kind``: its fix then
    bounds that call, and a second deadline around the fan-out that reaches it would be
    redundant."""
    name = "llm-call-without-deadline"
    if not settings.is_enabled("SL401", name) or settings.ignored_for_path(path, "SL401", name):
        return False
    options = settings.rule_options.get(name)
    if timeout_kind == "http" and getattr(options, "accept_client_timeout", False):
        return False
    return sl401_fixes(settings, method, timeout_kind, seconds)
