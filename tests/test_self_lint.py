"""sightlint checks itself: the package must be clean under every available rule."""

from __future__ import annotations

from pathlib import Path

from sightlint.api import check_paths
from sightlint.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_sightlint_is_clean_under_its_own_rules() -> None:
    run = check_paths([ROOT / "sightlint"], Settings(select=("ALL",)), use_cache=False, jobs=1)
    assert run.errors == [] and run.internal_errors == []
    assert [f"{f.path}:{f.line}: {f.code} {f.message}" for f in run.findings] == []
