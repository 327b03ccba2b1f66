"""What a rule is: its metadata, its examples, its checker half and its fix half.

A rule subclasses :class:`Rule`, sets ``meta``, writes its user documentation as the
class docstring, lists ``bad``/``good`` examples, and defines ``visit_<NodeType>`` /
``leave_<NodeType>`` methods on stdlib ``ast`` nodes. The engine builds one dispatch
table for all enabled rules and walks each file once.

A rule with a fix also defines ``fix(node, finding)``: it receives the LibCST node whose
range is exactly the finding's range (of type ``fix_node``) and returns a :class:`Fix`.

Two fixes for one finding
-------------------------
``meta.fix`` is the safety of the fix ``sightlint fix`` applies by default. A rule whose
fix is ``SAFE`` may also offer a second, unsafe one (a different rewrite that can change
behaviour) for ``--unsafe-fixes``: it names it in ``meta.unsafe_fix_title``, and its
``fix`` returns the safe fix unless ``self.unsafe_fixes`` is true (the fixer sets it from
``--unsafe-fixes``; it is False otherwise, so the safest fix is the default everywhere).
Findings stay ``SAFE``-fixable, except those where the safe fix would only hide a
problem the unsafe one solves: ``report(..., fix_safety=FixSafety.UNSAFE)`` offers only
the unsafe fix for them (``fix`` sees it in ``finding.fix_safety``). A ``Bad`` example pins the default output with ``fixed``
and the ``--unsafe-fixes`` output with ``unsafe_fixed``; a fixture's ``SLxxx.fixed.py``
snapshot holds the default output and ``SLxxx.unsafe-fixed.py`` the other
(SL301 ``naive-utcnow`` is the model: a naive-preserving fix, and an aware one).

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

Per-file findings graded with the project model
-----------------------------------------------
Some findings are found in one file but weigh what they weigh only by where their
function runs (a lazy singleton races only when a thread reaches its getter). Such a
rule stays a per-file rule (its detection is file-local syntax, in its ``visit_*``
methods) and sets ``graded = True``. It reports with ``report(..., function=node)``,
naming the ``def`` the finding sits in; the finding keeps that ``def``'s line and column
(``Finding.function``), which is how the project model names the function too
(``FunctionInfo.line``/``col``). After the cross-file rules, the api's project phase
builds the same :class:`~sightlint.project.graph.Graph` (with what the rule declares in
``model_needs``) and hands each such finding to the classmethod
``grade(finding, function_id, graph, settings)``, which returns it re-graded (severity,
message, ``related``, ``chain_paths``): ``function_id`` is the graph's id of the
function, or None when the model does not hold it. The finding already went through the
file's suppression comments and ``per-file-ignores``; the api re-applies the user's
severity override after grading. Findings reported without ``function`` are not graded,
and a check without the project phase (``api.check_source``, the fixer) keeps them as
the visitor reported them. The per-file cache stores them ungraded and the project phase
grades them on every run, so a cached run reports what ``--no-cache`` does.
Project fixes
-------------
A fix that must edit several nodes, maybe in several files (a helper made ``async def``
and ``await`` added at each of its callers in other modules), is planned on the project
model instead of one node: the rule sets ``project_fixes = True``, says which of its
findings take one (``takes_project_fix``; the others keep the per-node ``fix``), and
``plan_fixes(graph, findings, sources, settings)`` returns, per finding, a
:class:`PlannedFix` (its :class:`SiteEdit` list) or a :class:`NoFix` (why not). The fixer
applies every plan's edits file by file: it finds each edit's LibCST node (of type
``edit.node``, starting at ``edit.line:edit.col``) and asks the rule's ``edit(node,
edit)`` for a :class:`Fix`, whose ``replacement`` may be a function of the node as
rewritten so far (edits nested in one another compose). Every file's new text is computed
and parsed before any is written; a plan with one edit that cannot be made is dropped
whole. ``sightlint fix FILES`` applies a plan only when all of its files are named (or
with ``--cross-file``).
"""

from __future__ import annotations

import ast
import dataclasses
import unicodedata
from collections.abc import Callable, Mapping, Sequence
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
    # A second, unsafe fix offered with --unsafe-fixes by a SAFE rule (see the module docstring).
    unsafe_fix_title: str | None = None
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
    ``unsafe_fixed`` pins the output of a rule's second fix, with ``--unsafe-fixes``.

    ``count`` findings are expected in all of its files together (see :func:`example_files`)."""

    code: str
    fixed: str | None = None
    unsafe_fixed: str | None = None
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
    # The node ``replacement`` replaces when it is not the finding's own: one of
    # ``Rule.fix_ancestors`` (the ``if`` around a tested name, the block holding it).
    target: Any = None
    # ``(bound_name, global)``: put that module statement right after the top-level
    # assignment of ``global`` (a lock next to the global it guards) when the module's
    # header (the lines before its first def or class) holds one; else after the imports.
    placement: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SiteEdit:
    """One change of a project fix: rewrite the LibCST node of type ``node`` (``"Call"``,
    ``"FunctionDef"``) that starts at ``line:col`` (a character column) of the file ``path``.

    ``end`` (line, col) pins where it ends, when known; otherwise ``name`` (a call's
    callee's last name: ``f`` of ``a.f(x)``, ``C`` of ``C()``; a def's name) tells apart
    nodes that start at the same place. ``action`` and ``data`` are the rule's own."""

    path: str
    line: int
    col: int
    node: str
    action: str
    name: str = ""
    end: tuple[int, int] | None = None
    data: tuple[Any, ...] = ()


@dataclass(frozen=True)
class PlannedFix:
    """A project fix of ``finding``: its edits, in any files; ``summary`` says what it does."""

    finding: Finding
    edits: tuple[SiteEdit, ...]
    summary: str = ""

    @property
    def files(self) -> tuple[str, ...]:
        """Every file the fix edits."""
        return tuple(sorted({edit.path for edit in self.edits}))


@dataclass(frozen=True)
class NoFix:
    """Why ``finding``, which a project fix was asked for, gets none."""

    finding: Finding
    reason: str


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
    # True for per-file rules whose findings the project phase grades (see the module docstring).
    graded: ClassVar[bool] = False
    # "component": the rule's project-phase answer (its cross-file findings and its
    # grading) for a module depends only on the modules of that module's connected
    # component of the module-dependency graph (``sightlint.incremental``), so the answer
    # for the whole project is the union of its answers on each component's graph alone and
    # a component whose modules did not change keeps last run's answer. "project": the
    # rule reads the whole project; it runs on the whole graph every time.
    project_scope: ClassVar[str] = "project"
    # True for rules with fixes planned on the project model (see "Project fixes" above).
    project_fixes: ClassVar[bool] = False
    # "function": the fixer parses the whole innermost function around each finding (not
    # only the innermost statement) and sets ``fix_ancestors`` before calling ``fix``, so
    # a fix may replace a statement or block around its node (``Fix.target``).
    fix_region: ClassVar[str | None] = None
    # True for rules whose fix needs the nodes around the finding's (``fix_ancestors``).
    wants_fix_ancestors: ClassVar[bool] = False
    # ``visit_*`` handlers the engine calls only once the rule has switched them on
    # (:meth:`switch_on`) in the file being checked: each file starts with them off. For
    # handlers of common nodes that do nothing until the walk has seen something (a def
    # nested in a route handler, a session variable), which would otherwise be called for
    # every name or call of every file. A handler must be a no-op for as long as it is off:
    # switching changes what the walk calls, never what a rule finds.
    switched: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, context: Context, options: Any = None) -> None:
        self.context = context
        self.options = options if options is not None else self.Options()
        self.findings: list[Finding] = []
        # Set by the fixer from --unsafe-fixes: a rule with two fixes then returns the unsafe one.
        self.unsafe_fixes = False
        # What the fixer learnt about the whole project for the fixes (for example SL201's
        # ``"logger_convention"``); empty when fixing a file on its own.
        self.fix_facts: dict[str, Any] = {}
        # With ``fix_region = "function"`` or ``wants_fix_ancestors``: the LibCST nodes around
        # the node ``fix`` gets, outermost first (its parent last); set by the fixer before each call.
        self.fix_ancestors: tuple[Any, ...] = ()
        # The ``switched`` handlers switched on in this file, and what tells the engine's walk.
        self.switched_on: set[str] = set()
        self.replan: Callable[[Rule, Sequence[str]], None] | None = None

    def switch_on(self, *names: str) -> None:
        """Have the walk call the ``switched`` handlers ``names`` from the next node on."""
        fresh = [name for name in names if name not in self.switched_on]
        if fresh:
            self.switched_on.update(fresh)
            if self.replan is not None:
                self.replan(self, fresh)

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
        fix_safety: FixSafety | None = None,
        function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | None = None,
    ) -> None:
        """Record a finding at ``node``'s exact range.

        ``severity`` lets a rule grade one finding below or above its default (the user's
        ``[tool.sightlint.severity]`` override for the code still wins). ``fix_safety``
        UNSAFE offers only the second fix of a rule with two (see the module docstring).
        ``function``, the ``def`` the finding sits in, asks a ``graded`` rule's ``grade``
        to see the finding in the project phase (see the module docstring).
        """
        meta = self.meta
        safety = (fix_safety or meta.fix) if fixable else FixSafety.NONE
        title = meta.unsafe_fix_title if safety is FixSafety.UNSAFE and meta.unsafe_fix_title else meta.fix_title
        self.findings.append(
            Finding(
                code=meta.code,
                name=meta.name,
                severity=self.context.settings.severity.get(meta.code, meta.severity if severity is None else severity),
                message=message or meta.summary,
                path=self.context.path,
                span=self.context.span(node),
                fix_safety=safety,
                fix_title=title if safety is not FixSafety.NONE else None,
                related=tuple(related),
                detail=detail,
                function=None if function is None else _def_position(self.context, function),
            )
        )

    def end_module(self) -> None:
        """Called once after the walk, for rules that decide at the end of the file."""

    @classmethod
    def may_report(cls, text: str) -> bool:
        """False when ``text`` cannot hold anything this rule flags: the engine then skips it.

        A cheap pre-filter on the file's text (a substring or a regular expression), for
        rules whose findings all need some word in the source (``utcnow``, ``gather``).
        It must never be False for a file the rule would flag: each override says in a
        comment why (an identifier the findings need is in the text, even behind an
        import alias, which still spells the imported name). The engine asks it with
        :func:`screened` text, so a word is found however its identifiers are spelt. Only
        a rule's own findings may depend on it: the engine skips the rule's visitor for
        the file, so a visitor that also fed the project model would lose facts (the
        summary collector, which the filters never skip, collects those).
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
    def grade(cls, finding: Finding, function: str | None, graph: Graph, settings: Settings) -> Finding:
        """A ``graded`` rule's finding, graded with the project model (see the module docstring);
        ``function`` is the graph's id of the function it sits in, None when unknown."""
        return finding

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
        fix_safety: FixSafety = FixSafety.NONE,
    ) -> Finding:
        """A finding of a cross-file rule (severity overrides are applied by the api);
        ``fix_safety`` other than NONE says the rule's ``fix`` handles it.

        ``related`` shows one call chain; ``chain_paths`` names every file any chain behind
        the finding passes through (``related``'s are added), so a check of some files also
        reports findings whose other chains pass through them."""
        meta = cls.meta
        return Finding(
            code=meta.code,
            name=meta.name,
            severity=meta.severity if severity is None else severity,  # LOW is falsy
            message=message or meta.summary,
            path=path,
            span=span,
            fix_safety=fix_safety,
            fix_title=meta.fix_title if fix_safety is not FixSafety.NONE else None,
            related=related,
            detail=detail,
            chain_paths=tuple(sorted({*chain_paths, *(r.path for r in related)})),
        )

    @classmethod
    def fix_facts_for(cls, sources: Sequence[tuple[str | None, str, str]]) -> dict[str, Any]:
        """What the fixes need to know about the whole project, from ``(module, path, text)``
        of every file; the fixer hands it to each instance as ``fix_facts``. Only rules that
        override it make the fixer read the project's files."""
        return {}

    # -- fixing --------------------------------------------------------------------

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        """Return the fix for ``finding``; ``node`` is the LibCST node at its range.

        The safest fix unless ``self.unsafe_fixes`` (see "Two fixes" in the module docstring)."""
        return None

    # -- project fixes (see "Project fixes" in the module docstring) -----------------

    @classmethod
    def takes_project_fix(cls, finding: Finding) -> bool:
        """Whether ``finding`` is fixed by a planned project fix rather than by ``fix``."""
        return cls.project_fixes

    @classmethod
    def plan_fixes(
        cls, graph: Graph, findings: Sequence[Finding], sources: Mapping[str, str], settings: Settings
    ) -> list[PlannedFix | NoFix]:
        """A :class:`PlannedFix` or a :class:`NoFix` for each of ``findings``; ``sources``
        holds the text of every file of the project, by display path."""
        return [NoFix(finding, "no fix for this case") for finding in findings]

    def edit(self, node: cst.CSTNode, edit: SiteEdit) -> Fix | None:
        """The :class:`Fix` making ``edit`` at ``node`` (its ``replacement`` may be a function
        of the node as rewritten so far), or None when it cannot be made here."""
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


def _def_position(context: Context, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> tuple[int, int]:
    """Where the project model places a function: its ``def`` (or ``lambda``) line and character column."""
    return node.lineno, context.char_col(node.lineno, node.col_offset)


def screened(text: str) -> str:
    """The text the pre-filters (:meth:`Rule.may_report`) read: a file's text, NFKC-normalised
    when it is not ASCII. The parser normalises identifiers so (PEP 3131: ``ｇａｔｈｅｒ``
    is the name ``gather``); the normal form of a file holds that of each of its identifiers."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def uses_project(rule: type[Rule]) -> bool:
    """Whether ``rule`` needs the project phase: a cross-file rule, or a graded per-file one."""
    return rule.cross_file or rule.graded


RuleClass = type[Rule]
Handler = Callable[[ast.AST], None]

__all__ = [
    "Bad",
    "Fix",
    "FixSafety",
    "Good",
    "NoFix",
    "NoOptions",
    "PlannedFix",
    "Rule",
    "RuleClass",
    "RuleMeta",
    "Severity",
    "SiteEdit",
    "Span",
]
