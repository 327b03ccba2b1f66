"""Generated rule docs: committed pages are current, docstrings follow the shared layout."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from sightlint import docs
from sightlint.models import FixSafety, Severity
from sightlint.registry import CATALOG, PLANNED, CatalogEntry
from sightlint.registry import ALL_RULES
from sightlint.rules.base import Bad, Good, Rule, RuleClass, RuleMeta

ROOT = Path(__file__).resolve().parents[1]


def test_committed_docs_match_the_generated_ones() -> None:
    stale = docs.stale_docs(ROOT)
    assert not stale, "docs/rules/ is out of date; run `python scripts/gen_docs.py` and commit:\n" + "\n".join(stale)


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.meta.code)
def test_docstring_has_the_sections_in_order(rule: RuleClass) -> None:
    titles = [title for title, _ in docs.docstring_sections(rule)]
    unknown = [t for t in titles if t not in docs.SECTIONS]
    assert not unknown, f"{rule.meta.code}: unknown docstring sections {unknown}; allowed: {docs.SECTIONS}"
    assert len(set(titles)) == len(titles), f"{rule.meta.code}: a section appears twice"
    assert titles == sorted(titles, key=docs.SECTIONS.index), f"{rule.meta.code}: sections out of order"
    for required in docs.REQUIRED_SECTIONS:
        assert required in titles, f"{rule.meta.code}: docstring lacks '## {required}'"
    for title, body in docs.docstring_sections(rule):
        assert body.strip(), f"{rule.meta.code}: section '## {title}' is empty"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.meta.code)
def test_options_are_documented_only_when_there_are_settings(rule: RuleClass) -> None:
    titles = [title for title, _ in docs.docstring_sections(rule)]
    options = docs.option_docs(rule)
    if "Options" in titles:
        assert options, f"{rule.meta.code}: '## Options' section but the rule's Options has no fields"
    for opt in options:
        assert opt.help, f"{rule.meta.code}: option {opt.key} needs help (metadata['help'] or a field docstring)"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.meta.code)
def test_exactly_one_docs_example_of_each_kind(rule: RuleClass) -> None:
    bad, good = docs.doc_examples(rule)
    assert len(bad) == 1, f"{rule.meta.code}: mark exactly one Bad example in_docs=True (found {len(bad)})"
    assert len(good) == 1, f"{rule.meta.code}: mark exactly one Good example in_docs=True (found {len(good)})"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.meta.code)
def test_rule_page_shows_metadata_docstring_and_examples(rule: RuleClass) -> None:
    meta = rule.meta
    page = docs.render_terminal(meta.code)
    assert page is not None and page.startswith(f"# {meta.code} {meta.name}\n")
    assert f"| Severity | {meta.severity.label} |" in page
    assert meta.summary in page
    bad, good = docs.doc_examples(rule)
    for code in [b.code for b in bad] + [g.code for g in good]:
        assert code.rstrip("\n") in page
    for case in bad:
        if case.fixed is not None:
            assert "After the fix" in page and case.fixed.rstrip("\n") in page
    positions = [page.index(f"## {t}") for t in ("What it flags", "Why it matters", "Fix", "Example")]
    assert positions == sorted(positions)


def test_sl000_and_planned_codes_have_pages() -> None:
    files = {p.name for p in (ROOT / "docs" / "rules").glob("*.md")}
    assert "SL000.md" in files and "index.md" in files
    sl000 = docs.render_terminal("SL000")
    assert sl000 is not None
    for phrase in ("syntax error", "binary", "cannot read file", "newer Python"):
        assert phrase in sl000
    built = {rule.meta.code for rule in ALL_RULES}
    for meta in PLANNED:
        if meta.code in built:
            continue
        assert f"{meta.code}.md" in files
        page = docs.render_terminal(meta.code)
        assert page is not None and "Not yet available" in page and meta.summary in page


def test_index_lists_every_code_with_a_link_and_status() -> None:
    index = docs.render_index()
    for entry in CATALOG:
        status = "available" if entry.available else "planned"
        row = next(line for line in index.splitlines() if line.startswith(f"| [{entry.meta.code}]"))
        assert f"({entry.meta.code}.md)" in row and f"| {entry.meta.name} |" in row and row.endswith(f"| {status} |")


def test_render_terminal_accepts_code_or_name() -> None:
    assert docs.render_terminal("sl301") == docs.render_terminal("naive-utcnow") is not None
    assert docs.render_terminal("SL999") is None
    assert docs.render_terminal("no-such-rule") is None


# -- the generator itself, on a made-up rule ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Options:
    max_tasks: int = 10
    """Largest fan-out allowed
    without a timeout."""
    allowed_modules: tuple[str, ...] = dataclasses.field(
        default=("httpx", "aiohttp"), metadata={"help": "Modules whose calls count as bounded."}
    )
    strict: bool = False


class _Demo(Rule):
    """
    ## What it flags
    Demo pattern.

    ## Why it matters
    Demo consequence.

    ## Fix
    Demo fix.

    ## Options
    Prose about options.

    ## See also
    - https://example.com
    """

    meta = RuleMeta(
        code="SL999",
        name="demo-pattern",
        severity=Severity.HIGH,
        summary="Demo summary.",
        fix=FixSafety.SAFE,
        fix_title="Do the demo fix",
        tags=("async",),
        default_enabled=False,
    )
    Options = _Options
    bad = (Bad("x = 1\n"), Bad("bad()\n", fixed="good()\n", in_docs=True))
    good = (Good("fine()\n", in_docs=True), Good("not_in_docs()\n"))


def test_render_rule_generates_options_and_examples() -> None:
    page = docs.render_rule(CatalogEntry(_Demo.meta, _Demo))
    assert "| Fix | safe: Do the demo fix |" in page
    assert "| Enabled by default | no |" in page and "| Tags | async |" in page
    assert "Prose about options." in page
    assert "[tool.sightlint.rules.demo-pattern]" in page
    assert "| `max-tasks` | `int` | `10` | Largest fan-out allowed without a timeout. |" in page
    assert '| `allowed-modules` | `tuple[str, ...]` | `["httpx", "aiohttp"]` | Modules whose calls count as bounded. |' in page
    assert "| `strict` | `bool` | `false` | - |" in page
    assert "```python\nbad()\n```\n\nAfter the fix (with `sightlint fix`):\n\n```python\ngood()\n```" in page
    assert "Use instead:\n\n```python\nfine()\n```" in page
    assert "x = 1" not in page and "not_in_docs" not in page
    order = [page.index(s) for s in ("## What it flags", "## Fix", "## Options", "## Example", "## See also")]
    assert order == sorted(order)
    assert docs.option_docs(_Demo)[2].help == ""  # and test_options_... would reject it in a real rule


def test_stale_docs_finds_missing_changed_and_extra_pages(tmp_path: Path) -> None:
    assert "docs/rules/index.md (missing)" in docs.stale_docs(tmp_path)
    written = docs.write_docs(tmp_path)
    assert len(written) == len(CATALOG) + 1
    assert docs.stale_docs(tmp_path) == []
    assert docs.write_docs(tmp_path) == []

    page = tmp_path / "docs" / "rules" / "SL301.md"
    page.write_text(page.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    (tmp_path / "docs" / "rules" / "SL998.md").write_text("# old\n", encoding="utf-8")
    assert docs.stale_docs(tmp_path) == [
        "docs/rules/SL301.md (out of date)",
        "docs/rules/SL998.md (not generated by any rule)",
    ]
    docs.write_docs(tmp_path)
    assert docs.stale_docs(tmp_path) == []
    assert not (tmp_path / "docs" / "rules" / "SL998.md").exists()


def test_gen_docs_script_check_mode(tmp_path: Path) -> None:
    script = [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--root", str(tmp_path)]
    stale = subprocess.run([*script, "--check"], capture_output=True, text=True)
    assert stale.returncode == 1 and "gen_docs.py" in stale.stdout
    assert subprocess.run(script, capture_output=True, text=True).returncode == 0
    fresh = subprocess.run([*script, "--check"], capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
