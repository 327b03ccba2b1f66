"""The open project model: a cross-file rule gets what it declares, cached or not.

Every cross-file rule's (and graded per-file rule's) examples give the same findings uncached, with a cold cache, with
a warm one, and after an unrelated file is edited; and a rule that declares external
calls nobody else cares about still sees them through the cached call-graph records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from sightlint import api, registry
from sightlint.models import Finding, Severity, Span
from sightlint.project.graph import Graph, ModelNeeds
from sightlint.rules.base import Bad, Good, Rule, RuleMeta, uses_project
from sightlint.settings import Settings

CROSS_FILE = [rule for rule in registry.ALL_RULES if uses_project(rule)]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, code in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in path.relative_to(root).parents:
            if str(folder) != ".":
                (root / folder / "__init__.py").touch()
        path.write_text(code, encoding="utf-8")


def _run(root: Path, settings: Settings, cache: Path | None) -> list[tuple[Any, ...]]:
    run = api.check_paths([root], settings, cwd=root, cache_dir=cache, use_cache=cache is not None, jobs=1)
    assert not run.errors and not run.internal_errors, run.errors + run.internal_errors
    return [(f.code, f.path, f.span, f.severity, f.message, f.related, f.detail) for f in run.findings]


def _examples() -> list[Any]:
    cases = []
    for rule in CROSS_FILE:
        for kind, examples in (("bad", rule.bad), ("good", rule.good)):
            for index, example in enumerate(examples):
                cases.append(pytest.param(rule, example, id=f"{rule.meta.code}-{kind}-{index}"))
    return cases


@pytest.mark.parametrize(("rule", "example"), _examples())
def test_examples_give_the_same_findings_cached_or_not(tmp_path: Path, rule: type[Rule], example: Bad | Good) -> None:
    root = tmp_path / "project"
    _write(root, {**example.files(), "unrelated.py": "def helper():\n    return 1\n"})
    settings = Settings(select=(rule.meta.code,))
    cache = tmp_path / "cache"
    uncached = _run(root, settings, None)
    expected = example.count if isinstance(example, Bad) else 0
    assert len(uncached) == expected, uncached
    assert _run(root, settings, cache) == uncached  # cold
    assert _run(root, settings, cache) == uncached  # warm: the run snapshot
    (root / "unrelated.py").write_text("def helper():\n    return 2\n", encoding="utf-8")
    assert _run(root, settings, cache) == uncached  # warm: records reused, one module resolved again
    (root / "unrelated.py").write_text("import os\n\ndef helper():\n    return os.sep\n", encoding="utf-8")
    assert _run(root, settings, cache) == uncached


def test_a_graded_finding_follows_an_edit_of_another_file_under_the_cache(tmp_path: Path) -> None:
    # The getter's file is unchanged (its per-file result comes from the cache); a thread
    # path to it appears in another file, and the finding is graded again.
    root = tmp_path / "project"
    getter = "_STORE = None\n\ndef get_store():\n    global _STORE\n    if _STORE is None:\n        _STORE = connect()\n    return _STORE\n"
    on_loop = "from fastapi import FastAPI\nfrom app.store import get_store\napp = FastAPI()\n\n@app.get('/')\nasync def index():\n    return get_store()\n"
    _write(root, {"app/store.py": getter, "app/main.py": on_loop})
    settings = Settings(select=("SL501",))
    cache = tmp_path / "cache"
    in_thread = "import asyncio\n" + on_loop.replace("return get_store()", "return await asyncio.to_thread(get_store)")
    for main, expected in ((on_loop, Severity.LOW), (in_thread, Severity.CRITICAL), (on_loop, Severity.LOW)):
        (root / "app/main.py").write_text(main, encoding="utf-8")
        uncached = _run(root, settings, None)
        assert [f[3] for f in uncached] == [expected], uncached
        assert _run(root, settings, cache) == uncached
        assert _run(root, settings, cache) == uncached  # the run snapshot


class _CustomClientCall(Rule):
    """Flags every call of ``vendor.Client().fetch`` reached anywhere (test-only rule)."""

    meta: ClassVar[RuleMeta] = RuleMeta(code="SL198", name="custom-client-call", severity=Severity.HIGH, summary="x")
    cross_file = True
    bad = (Bad("import vendor\n\nasync def f():\n    vendor.Client().fetch()\n"),)
    good = (Good("async def f():\n    pass\n"),)

    @classmethod
    def model_needs(cls, settings: Settings) -> ModelNeeds:
        return ModelNeeds(externals=lambda name: name == "vendor.Client().fetch", facts=frozenset({"params"}))

    @classmethod
    def check_project(cls, model: Graph, settings: Settings) -> list[Finding]:
        found = []
        for fid, calls in model.externals.items():
            params = model.functions[fid].facts["params"]
            for call in calls:
                site = call.site
                span = Span(site.line, site.col, site.end_line, site.end_col)
                found.append(cls.project_finding(model.path_of(fid), span, f"{call.name} in {fid}{params}"))
        return found


def test_a_new_cross_file_rule_sees_what_it_declares_under_the_cached_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No rule, catalogue or cache format names the new rule, and the default (cached) run
    still carries its external calls and facts from one run to the next."""
    monkeypatch.setattr(registry, "ALL_RULES", (*registry.ALL_RULES, _CustomClientCall))
    root = tmp_path / "project"
    _write(
        root,
        {
            "app/client.py": "import vendor\n\ndef load(key):\n    return vendor.Client().fetch(key)\n",
            "app/main.py": "from app.client import load\n\nasync def handler(key):\n    return load(key)\n",
            "app/other.py": "X = 1\n",
        },
    )
    settings = Settings(select=("SL198",))
    cache = tmp_path / "cache"
    uncached = _run(root, settings, None)
    assert [(code, path, message) for code, path, _, _, message, _, _ in uncached] == [
        ("SL198", "app/client.py", "vendor.Client().fetch in app.client.load('key',)")
    ]
    assert _run(root, settings, cache) == uncached
    (root / "app/other.py").write_text("X = 2\n", encoding="utf-8")
    assert _run(root, settings, cache) == uncached
    # With SL101 alone the records keep only its catalogue: the custom call is not carried.
    sl101 = Settings(select=("SL101",))
    assert _run(root, sl101, cache) == []


def test_needs_are_validated_and_combined() -> None:
    with pytest.raises(ValueError, match="unknown function facts"):
        ModelNeeds(facts=frozenset({"no_such_fact"}))
    union = ModelNeeds.union(
        [ModelNeeds(externals=lambda n: n == "a"), ModelNeeds(externals=lambda n: n == "b", timeouts=True), ModelNeeds(facts=frozenset({"awaits"}))]
    )
    assert union.externals("a") and union.externals("b") and not union.externals("c")
    assert union.timeouts and union.facts == {"awaits"}
    assert not ModelNeeds.union([]).externals("a")
