"""The rule catalog is complete and consistent: registration, codes, names, metadata."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import sightlint.rules
from sightlint.models import FixSafety
from sightlint.registry import CATALOG, PARSE_ERROR, PLANNED, RETIRED, lookup
from sightlint.rules import ALL_RULES
from sightlint.rules.base import Rule, RuleClass, RuleMeta

EXPECTED_CODES = {
    "SL000",
    "SL101", "SL102",
    "SL201", "SL202",
    "SL301",
    "SL401", "SL402", "SL403", "SL404",
    "SL501",
    "SL601", "SL602",
    "SL701", "SL702", "SL703", "SL704", "SL705", "SL706",
}  # fmt: skip

CODE = re.compile(r"^SL\d{3}$")
KEBAB = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
# Left in a rule by scripts/new_rule.py until the author replaces it.
PLACEHOLDER = "TODO(new-rule)"

RULE_MODULES = sorted(
    m.name for m in pkgutil.iter_modules(sightlint.rules.__path__) if m.name not in {"base", "__init__"}
)
ALL_METAS: list[RuleMeta] = [e.meta for e in CATALOG]


def _rule_classes_in(module_name: str) -> list[type[Rule]]:
    module = importlib.import_module(f"sightlint.rules.{module_name}")
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Rule) and obj is not Rule and obj.__module__ == module.__name__
    ]


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


@pytest.mark.parametrize("module_name", RULE_MODULES)
def test_every_rule_module_defines_one_registered_rule(module_name: str) -> None:
    classes = _rule_classes_in(module_name)
    assert len(classes) == 1, f"sightlint/rules/{module_name}.py defines {len(classes)} Rule subclasses, expected 1"
    assert classes[0] in ALL_RULES, (
        f"{classes[0].__name__} is not registered: add it to ALL_RULES in sightlint/rules/__init__.py"
    )


def test_registered_rules_each_come_from_their_own_module() -> None:
    assert len(set(ALL_RULES)) == len(ALL_RULES), "a rule is registered twice in ALL_RULES"
    modules = [rule.__module__.rsplit(".", 1)[-1] for rule in ALL_RULES]
    assert sorted(modules) == RULE_MODULES


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.meta.code)
def test_module_and_class_are_named_after_the_rule(rule: RuleClass) -> None:
    name = rule.meta.name
    assert rule.__module__ == f"sightlint.rules.{name.replace('-', '_')}"
    assert rule.__name__ == _pascal(name)


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.meta.code)
def test_rule_source_has_no_new_rule_placeholders(rule: RuleClass) -> None:
    source = Path(inspect.getfile(rule)).read_text(encoding="utf-8")
    assert PLACEHOLDER not in source, f"{rule.meta.code}: replace the {PLACEHOLDER} placeholders left by new_rule.py"


def test_catalog_has_exactly_the_released_codes() -> None:
    assert {m.code for m in ALL_METAS} == EXPECTED_CODES


def test_codes_and_names_are_unique_and_well_formed() -> None:
    codes = [m.code for m in ALL_METAS]
    names = [m.name for m in ALL_METAS]
    assert len(set(codes)) == len(codes), "duplicate code in the catalog"
    assert len(set(names)) == len(names), "duplicate name in the catalog"
    for meta in ALL_METAS:
        assert CODE.match(meta.code), meta.code
        assert KEBAB.match(meta.name), f"{meta.code}: name {meta.name!r} is not kebab-case"
        assert not meta.name.startswith(("no-", "avoid-")), f"{meta.code}: name the pattern, not the remedy"


def test_no_code_is_both_planned_and_implemented() -> None:
    built = {rule.meta.code for rule in ALL_RULES} | {rule.meta.name for rule in ALL_RULES}
    both = sorted({m.code for m in PLANNED} & built) + sorted({m.name for m in PLANNED} & built)
    assert not both, f"implemented but still in registry.PLANNED: {both}"
    assert PARSE_ERROR.code not in {rule.meta.code for rule in ALL_RULES}


def test_retired_codes_are_not_reused() -> None:
    for code in RETIRED:
        assert CODE.match(code), code
        assert lookup(code) is None, f"{code} is retired and must not be reused"


def test_catalog_is_sorted_and_marks_what_is_available() -> None:
    assert [m.code for m in ALL_METAS] == sorted(m.code for m in ALL_METAS)
    for entry in CATALOG:
        assert entry.available == (entry.rule is not None or entry.meta.code == "SL000")


@pytest.mark.parametrize("meta", ALL_METAS, ids=lambda m: m.code)
def test_metadata_is_complete(meta: RuleMeta) -> None:
    summary = meta.summary
    assert summary and "\n" not in summary and summary == summary.strip(), f"{meta.code}: summary must be one line"
    has_title = bool(meta.fix_title and meta.fix_title.strip())
    assert has_title == (meta.fix is not FixSafety.NONE), f"{meta.code}: fix_title iff a fix is offered"
    if meta.audit is not None:
        assert re.fullmatch(r"§\d+", meta.audit), f"{meta.code}: audit reference looks like §4"


@pytest.mark.parametrize("meta", ALL_METAS, ids=lambda m: m.code)
def test_lookup_by_code_and_name(meta: RuleMeta) -> None:
    for key in (meta.code, meta.code.lower(), meta.name, meta.name.upper()):
        found = lookup(key)
        assert found is not None and found.meta.code == meta.code, key
