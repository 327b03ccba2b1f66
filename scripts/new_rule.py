"""Start a new rule: write the rule module and its fixture, register it, unplan its code.

    python scripts/new_rule.py --code SL402 --name unbounded-gather --severity critical --audit §4

Writes ``sightlint/rules/<name>.py`` (metadata, docstring sections, placeholder examples
and a ``visit_`` stub) and ``fixtures/<CODE>.py``, adds the import, the ``ALL_RULES``
entry and the ``INDEX`` line to ``sightlint/registry.py``, and removes the code from ``registry.PLANNED``.
Every placeholder is marked ``TODO(new-rule)``; the test suite fails until they are gone.
For a planned code, ``--summary``, ``--severity`` and ``--audit`` default to the catalog's.

The repository is edited as text (never imported), so this also works on a broken tree.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

PLACEHOLDER = "TODO(new-rule)"
SEVERITIES = ("critical", "high", "medium")
FIXES = ("none", "safe", "unsafe")


class NewRuleError(Exception):
    """A problem with the arguments or the repository; the message says what to do."""


@dataclass(frozen=True)
class Spec:
    code: str
    name: str
    severity: str
    summary: str
    audit: str | None
    fix: str
    since: str

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")

    @property
    def class_name(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("-"))


# -- reading the repository -------------------------------------------------------------


def _planned_calls(registry_src: str) -> dict[str, ast.Call]:
    """``_planned("SL402", ...)`` calls in registry.py, by code."""
    calls: dict[str, ast.Call] = {}
    for node in ast.walk(ast.parse(registry_src)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "_planned"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            calls[node.args[0].value] = node
    return calls


def _retired_codes(registry_src: str) -> set[str]:
    for node in ast.walk(ast.parse(registry_src)):
        if isinstance(node, ast.Assign):
            targets: list[ast.expr] = list(node.targets)
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "RETIRED" for t in targets) and isinstance(node.value, ast.Dict):
            return {k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return set()


def _implemented_codes(rules_dir: Path) -> dict[str, str]:
    """Code -> module file name of every rule module (read as text)."""
    found: dict[str, str] = {}
    for path in rules_dir.glob("*.py"):
        if path.name in {"__init__.py", "base.py"}:
            continue
        match = re.search(r'code\s*=\s*"(SL\d{3})"', path.read_text(encoding="utf-8"))
        if match:
            found[match.group(1)] = path.name
    return found


def _version(root: Path) -> str:
    match = re.search(r'__version__\s*=\s*"([^"]+)"', (root / "sightlint" / "__init__.py").read_text(encoding="utf-8"))
    return match.group(1) if match else "0.1.0"


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def build_spec(root: Path, args: argparse.Namespace) -> Spec:
    code, name = args.code.upper(), args.name
    if not re.fullmatch(r"SL\d{3}", code) or code == "SL000":
        raise NewRuleError(f"{code!r}: codes look like SL402 (SL000 is reserved for parse errors)")
    if not re.fullmatch(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*", name):
        raise NewRuleError(f"{name!r}: names are kebab-case, e.g. unbounded-gather")
    if name.startswith(("no-", "avoid-")):
        raise NewRuleError(f"{name!r}: name the pattern that gets flagged, not the remedy (no no-/avoid- prefix)")

    registry_src = (root / "sightlint" / "registry.py").read_text(encoding="utf-8")
    if code in _retired_codes(registry_src):
        raise NewRuleError(f"{code} is retired and must never be reused; pick a free code")
    implemented = _implemented_codes(root / "sightlint" / "rules")
    if code in implemented:
        raise NewRuleError(f"{code} is already implemented in sightlint/rules/{implemented[code]}")

    planned = _planned_calls(registry_src).get(code)
    # _planned(code, name, severity, summary, audit)
    planned_summary = _literal(planned.args[3]) if planned and len(planned.args) > 3 else None
    planned_audit = _literal(planned.args[4]) if planned and len(planned.args) > 4 else None
    planned_severity = None
    if planned and len(planned.args) > 2 and isinstance(planned.args[2], ast.Name):
        planned_severity = {"C": "critical", "H": "high", "M": "medium"}.get(planned.args[2].id)

    summary = args.summary or planned_summary
    if not summary:
        raise NewRuleError(f"{code} is not in registry.PLANNED: pass --summary (one line, also the default message)")
    if "\n" in summary:
        raise NewRuleError("--summary must be one line")
    severity = args.severity or planned_severity
    if severity not in SEVERITIES:
        raise NewRuleError(f"pass --severity ({', '.join(SEVERITIES)})")
    audit = args.audit if args.audit is not None else planned_audit
    if audit is not None and not re.fullmatch(r"§\d+", audit):
        raise NewRuleError(f"{audit!r}: audit references look like §4")
    return Spec(code, name, severity, summary, audit, args.fix, _version(root))


# -- templates ----------------------------------------------------------------------------


def _py_str(text: str) -> str:
    """A double-quoted Python string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_rule(spec: Spec) -> str:
    fixes = spec.fix != "none"
    fix_lines = ""
    if fixes:
        fix_lines = f'        fix_title="{PLACEHOLDER}: imperative fix title, e.g. Wrap in `asyncio.wait_for`",\n'
    audit_line = f'        audit="{spec.audit}",\n' if spec.audit else ""
    fixed_arg = f'\n            fixed="# {PLACEHOLDER}: the flagged snippet after the fix\\n",' if fixes else ""
    imports = "import ast\n"
    if fixes:
        imports += "\nimport libcst as cst\n"
    base_names = "Bad, Fix, FixSafety, Good, Rule, RuleMeta, Severity" if fixes else "Bad, FixSafety, Good, Rule, RuleMeta, Severity"
    models_import = "from sightlint.models import Finding\n" if fixes else ""
    fix_section = (
        f"    {PLACEHOLDER}: what the fix changes, when it is offered (and when not), and why it\n"
        f"    is {spec.fix}."
        if fixes
        else f"    No automatic fix. {PLACEHOLDER}: say what the user should change, and why no fix is offered."
    )
    fix_method = ""
    if fixes:
        fix_method = f'''
    fix_node = cst.Call  # {PLACEHOLDER}: the LibCST node type at the finding's range

    def fix(self, node: cst.CSTNode, finding: Finding) -> Fix | None:
        # {PLACEHOLDER}: return Fix(replacement=...) where sure; None means report without a fix.
        return None
'''
    return f'''from __future__ import annotations

{imports}
{models_import}from sightlint.rules.base import {base_names}


class {spec.class_name}(Rule):
    """
    ## What it flags
    {PLACEHOLDER}: one or two concrete sentences about the code this rule reports.

    ## Why it matters
    {PLACEHOLDER}: the production consequence{f" (audit {spec.audit})" if spec.audit else ""}, not a style opinion.

    ## Fix
{fix_section}
    """

    meta = RuleMeta(
        code="{spec.code}",
        name="{spec.name}",
        severity=Severity.{spec.severity.upper()},
        summary={_py_str(spec.summary)},
{audit_line}        fix=FixSafety.{spec.fix.upper()},
{fix_lines}        since="{spec.since}",
        tags=(),
    )

    # Each Bad must be flagged and each Good must stay clean; mark one of each in_docs=True.
    bad = (
        Bad(
            "# {PLACEHOLDER}: a realistic snippet that {spec.code} flags\\n",{fixed_arg}
            in_docs=True,
        ),
    )

    good = (
        Good(
            "# {PLACEHOLDER}: a near-miss that {spec.code} must not flag\\n",
            in_docs=True,
        ),
    )

    def visit_Call(self, node: ast.Call) -> None:
        # {PLACEHOLDER}: decide whether `node` matches, then self.report(node).
        return None
{fix_method}'''


def render_fixture(spec: Spec) -> str:
    return f'''"""Fixture for {spec.code} {spec.name}: each finding is marked `# expect: {spec.code}`.

{PLACEHOLDER}: replace with a realistic module with several findings and near-misses.
"""

from __future__ import annotations


async def flagged() -> None:
    ...  # expect: {spec.code}
'''


# -- editing the repository ---------------------------------------------------------------


def register(init_src: str, spec: Spec) -> str:
    """Add the import, the ``ALL_RULES`` entry (the tuple ``_import_rules`` returns) and the
    ``INDEX`` line to the registry source (sightlint/registry.py)."""
    lines = init_src.splitlines(keepends=True)
    rule_imports = [
        (i, m.group(2), m.group(1))  # (line, module, indentation) of each rule's import
        for i, line in enumerate(lines)
        if (m := re.match(r"(\s*)from sightlint\.rules\.(\w+) import ", line)) and m.group(2) != "base"
    ]
    if not rule_imports:
        raise NewRuleError("no `from sightlint.rules.<module> import ...` line in sightlint/registry.py")
    after = [i for i, module, _ in rule_imports if module > spec.module]
    at = after[0] if after else rule_imports[-1][0] + 1
    indent = rule_imports[0][2]
    lines.insert(at, f"{indent}from sightlint.rules.{spec.module} import {spec.class_name}\n")

    tree = ast.parse("".join(lines))
    loader = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_import_rules"), None)
    returned = next((n for n in ast.walk(loader) if isinstance(n, ast.Return)), None) if loader is not None else None
    value = returned.value if returned is not None else None
    if not isinstance(value, ast.Tuple) or not value.elts or value.elts[-1].end_lineno is None or value.end_lineno is None:
        raise NewRuleError("the tuple _import_rules returns in sightlint/registry.py is not a literal of one entry a line")
    last = value.elts[-1]
    assert last.end_lineno is not None and value.end_lineno is not None
    if last.end_lineno >= value.end_lineno:
        raise NewRuleError("cannot add to the tuple _import_rules returns in sightlint/registry.py; add the entry by hand")
    entry_indent = lines[last.lineno - 1][: last.col_offset]
    lines.insert(last.end_lineno, f"{entry_indent}{spec.class_name},\n")

    tree = ast.parse("".join(lines))
    index = next(
        (n for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.target.id == "INDEX"),
        None,
    )
    if index is None or not isinstance(index.value, ast.Tuple) or not index.value.elts:
        raise NewRuleError("INDEX in sightlint/registry.py is not a tuple literal")
    last = index.value.elts[-1]
    if last.end_lineno is None:
        raise NewRuleError("INDEX in sightlint/registry.py is not a tuple literal")
    # A new rule is a per-file one (no project phase) until it says otherwise; the
    # registry's tests then ask for this line to follow.
    line = f'Indexed("{spec.code}", "{spec.name}", True, False, "{spec.module}", "{spec.class_name}")'
    lines.insert(last.end_lineno, f"{lines[last.lineno - 1][: last.col_offset]}{line},\n")
    return "".join(lines)


def unplan(registry_src: str, code: str) -> str:
    """Remove the ``_planned(code, ...)`` entry from registry.PLANNED, if there is one."""
    call = _planned_calls(registry_src).get(code)
    if call is None or call.end_lineno is None:
        return registry_src
    lines = registry_src.splitlines(keepends=True)
    first, last = lines[call.lineno - 1], lines[call.end_lineno - 1]
    if first.strip().startswith("_planned(") and last.rstrip().endswith(("),", ")")):
        del lines[call.lineno - 1 : call.end_lineno]
        return "".join(lines)
    raise NewRuleError(f"cannot remove {code} from registry.PLANNED automatically; delete its entry by hand")


def create(root: Path, spec: Spec) -> list[Path]:
    rule_path = root / "sightlint" / "rules" / f"{spec.module}.py"
    fixture_path = root / "fixtures" / f"{spec.code}.py"
    for path in (rule_path, fixture_path):
        if path.exists():
            raise NewRuleError(f"{path.relative_to(root)} already exists")
    registry_path = root / "sightlint" / "registry.py"
    # Compute every edit before writing anything, so a failure leaves the tree untouched.
    registry_src = unplan(register(registry_path.read_text(encoding="utf-8"), spec), spec.code)
    fixture_path.parent.mkdir(parents=True, exist_ok=True)
    rule_path.write_text(render_rule(spec), encoding="utf-8")
    fixture_path.write_text(render_fixture(spec), encoding="utf-8")
    registry_path.write_text(registry_src, encoding="utf-8")
    return [rule_path, fixture_path, registry_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start a new sightlint rule.")
    parser.add_argument("--code", required=True, help="e.g. SL402")
    parser.add_argument("--name", required=True, help="kebab-case name of the flagged pattern, e.g. unbounded-gather")
    parser.add_argument("--severity", choices=SEVERITIES, help="default: the planned code's")
    parser.add_argument("--audit", help="audit section, e.g. §4 (default: the planned code's)")
    parser.add_argument("--summary", help="one-line summary (default: the planned code's)")
    parser.add_argument("--fix", choices=FIXES, default="none", help="fix safety (default: none)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="repository root")
    args = parser.parse_args(argv)
    try:
        spec = build_spec(args.root, args)
        written = create(args.root, spec)
    except NewRuleError as exc:
        print(f"new_rule: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(args.root)}")
    print(
        f"\nNext: replace every {PLACEHOLDER} in sightlint/rules/{spec.module}.py and fixtures/{spec.code}.py,\n"
        "run `python -m pytest -q`, then `python scripts/gen_docs.py` and commit the docs page."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
