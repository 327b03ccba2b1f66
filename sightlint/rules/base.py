"""What a rule is: its metadata, its examples, its checker half and its fix half.

A rule subclasses :class:`Rule`, sets ``meta``, writes its user documentation as the
class docstring, lists ``bad``/``good`` examples, and defines ``visit_<NodeType>`` /
``leave_<NodeType>`` methods on stdlib ``ast`` nodes. The engine builds one dispatch
table for all enabled rules and walks each file once.

A rule with a fix also defines ``fix(node, finding)``: it receives the LibCST node whose
range is exactly the finding's range (of type ``fix_node``) and returns a :class:`Fix`.

Cross-file rules
----------------
A rule that needs the whole project sets ``cross_file = True`` and implements the
classmethod ``check_project(graph, settings)``. It defines no ``visit_*`` methods: the
per-file facts it needs are collected once for every file by
``sightlint.project.collector`` in the same walk as the single-file rules, and the
api builds one :class:`sightlint.project.graph.Graph` per run after all files are
checked, carrying what the enabled rules declare with ``model_needs(settings)`` (the
external calls they care about, per-function facts, timeout sites).
``check_project`` returns findings built with :meth:`Rule.project_finding`
(any path of the run; ``related`` carries a call chain). The api then applies, per
file, what the engine applies to single-file findings: suppression comments,
``per-file-ignores`` and severity overrides. ``bad``/``good`` examples work the same way
(they run through ``sightlint.api.check_sources``).
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sightlint.models import Finding, FixSafety, RelatedLocation, Severity, Span

if TYPE_CHECKING:
    import libcst as cst

    from sightlint.semantics.scope import Context
    from sightlint.project.graph import Graph, ModelNeeds
    from sightlint.settings import Settings


@dataclass(frozen=True)
class RuleMeta:
    """Everything the docs, the CLI and the reporters know about a rule."""

    code: str
    name: str
    severity: Severity
    summary: str
    audit: str | None = None
    fix: FixSafety = FixSafety.NONE
    fix_title: str | None = None
    since: str = "0.1.0"
    tags: tuple[str, ...] = ()
    default_enabled: bool = True


_FILE_MARK = "# file: "


def example_files(code: str, path: str) -> dict[str, str]:
    """An example's modules: ``code`` split at lines ``# file: <path>``, each starting a
    module (a cross-file case is one example of several modules); one module at ``path``
    when there is no such line."""
    if not code.startswith(_FILE_MARK) and f"\n{_FILE_MARK}" not in code:
        return {path: code}
    files: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in code.splitlines(keepends=True):
        if line.startswith(_FILE_MARK):
            if current is not None:
                files[current] = "".join(lines)
            current, lines = line[len(_FILE_MARK) :].strip(), []
        elif current is not None:
            lines.append(line)
        elif line.strip():
            raise ValueError(f"code before the first `{_FILE_MARK}...` line of a multi-file example")
    if current is not None:
        files[current] = "".join(lines)
    return files


@dataclass(frozen=True)
class Bad:
    """A flagged example. ``fixed`` pins the fix output; ``None`` means no fix is offered.

    ``count`` findings are expected in all of its files together (see :func:`example_files`)."""

    code: str
    fixed: str | None = None
    in_docs: bool = False
    count: int = 1
    path: str = "example.py"

    def files(self) -> dict[str, str]:
        return example_files(self.code, self.path)


@dataclass(frozen=True)
class Good:
    """A clean example: the rule must not flag it (in any of its files)."""

    code: str
    in_docs: bool = False
    path: str = "example.py"

    def files(self) -> dict[str, str]:
        return example_files(self.code, self.path)


@dataclass(frozen=True)
class Fix:
    """Replace the finding's node with ``replacement``, plus what the module then needs.

    ``imports`` are ``(module, name)`` pairs (``name`` None for ``import module``), added
    once after the pass. ``module_statements`` are ``(bound_name, source)`` pairs: the
    statement is inserted after the module's imports unless ``bound_name`` is already
    bound at module level (for example ``("logger", "logger = logging.getLogger(__name__)")``).
    """

    replacement: Any  # a libcst node (or libcst.RemoveFromParent())
    imports: tuple[tuple[str, str | None], ...] = ()
    module_statements: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NoOptions:
    """A rule without settings."""


class Rule:
    """Base class of every rule; see the module docstring."""

    meta: ClassVar[RuleMeta]
    Options: ClassVar[type] = NoOptions
    bad: ClassVar[tuple[Bad, ...]] = ()
    good: ClassVar[tuple[Good, ...]] = ()
    # The LibCST node type the fix expects at the finding's range (e.g. ``cst.Call``).
    fix_node: ClassVar[Any] = None
    # True for rules that run once on the project model (see the module docstring).
    cross_file: ClassVar[bool] = False

    def __init__(self, context: Context, options: Any = None) -> None:
        self.context = context
        self.options = options if options is not None else self.Options()
        self.findings: list[Finding] = []

    # -- reporting -----------------------------------------------------------------

    def report(
        self,
        node: ast.AST,
        message: str | None = None,
        *,
        fixable: bool = True,
        related: tuple[Any, ...] = (),
        detail: str | None = None,
        severity: Severity | None = None,
    ) -> None:
        """Record a finding at ``node``'s exact range.

        ``severity`` lets a rule grade one finding below or above its default (the user's
        ``[tool.sightlint.severity]`` override for the code still wins).
        """
        meta = self.meta
        safety = meta.fix if fixable else FixSafety.NONE
        self.findings.append(
            Finding(
                code=meta.code,
                name=meta.name,
                severity=self.context.settings.severity.get(meta.code, meta.severity if severity is None else severity),
                message=message or meta.summary,
                path=self.context.path,
                span=self.context.span(node),
                fix_safety=safety,
                fix_title=meta.fix_title if safety is not FixSafety.NONE else None,
                related=tuple(related),
                detail=detail,
            )
        )

    def end_module(self) -> None:
        """Called once after the walk, for rules that decide at the end of the file."""

    @classmethod
    def may_report(cls, text: str) -> bool:
        """False when ``text`` cannot hold anything this rule flags: the engine then skips it.

        A cheap pre-filter on the file's text (a substring or a regular expression), for
        rules whose findings all need some word in the source (``utcnow``, ``gather``).
        It must never be False for a file the rule would flag.
        """
        return True

    # -- cross-file rules ------------------------------------------------------------

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        """What a cross-file rule reads from the model beyond functions and edges: the
        external calls it cares about, per-function facts, timeout sites. The collected
        records carry what the enabled rules declare here, and nothing else."""
        from sightlint.project.graph import ModelNeeds

        return ModelNeeds()

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        """Findings of a cross-file rule for the whole run; see the module docstring."""
        return []

    @classmethod
    def options_for(cls, settings: Settings) -> Any:
        """This rule's validated options from ``settings`` (defaults when unset)."""
        options = settings.rule_options.get(cls.meta.name)
        return options if options is not None else cls.Options()

    @classmethod
    def project_finding(
        cls,
        path: str,
        span: Span,
        message: str | None = None,
        *,
        severity: Severity | None = None,
        related: tuple[RelatedLocation, ...] = (),
        detail: str | None = None,
        chain_paths: tuple[str, ...] = (),
    ) -> Finding:
        """A finding of a cross-file rule (severity overrides are applied by the api).

        ``related`` shows one call chain; ``chain_paths`` names every file any chain behind
        the finding passes through (``related``'s are added), so a check of some files also
        reports findings whose other chains pass through them."""
        meta = cls.meta
        return Finding(
            code=meta.code,
            name=meta.name,
            severity=meta.severity if severity is None else severity,
            message=message or meta.summary,
            path=path,
            span=span,
            fix_safety=FixSafety.NONE,
            related=related,
            detail=detail,
            chain_paths=tuple(sorted({*chain_paths, *(r.path for r in related)})),
        )

    # -- fixing --------------------------------------------------------------------

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """Return the fix for ``finding``; ``node`` is the LibCST node at its range."""
        return None

    # -- introspection used by the engine and the docs -------------------------------

    @classmethod
    def handlers(cls) -> dict[str, tuple[str, ...]]:
        """Map ``visit``/``leave`` to the ast node type names this rule handles."""
        visits = tuple(n[6:] for n in dir(cls) if n.startswith("visit_"))
        leaves = tuple(n[6:] for n in dir(cls) if n.startswith("leave_"))
        return {"visit": visits, "leave": leaves}

    @classmethod
    def option_fields(cls) -> tuple[dataclasses.Field[Any], ...]:
        return dataclasses.fields(cls.Options)


RuleClass = type[Rule]
Handler = Callable[[ast.AST], None]

__all__ = [
    "Bad",
    "Fix",
    "FixSafety",
    "Good",
    "NoOptions",
    "Rule",
    "RuleClass",
    "RuleMeta",
    "Severity",
    "Span",
]
