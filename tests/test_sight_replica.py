"""End to end: sightlint on the Sight replica reports exactly what expected.toml lists.

The replica (fixtures/sight_app) reproduces the 15 audit findings. Codes whose rule is
implemented are compared exactly; entries of codes not implemented yet are pending and
are checked the moment their rule lands.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from click.testing import CliRunner

from sightlint.cli import main
from sightlint.registry import CATALOG, lookup

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]
REPLICA = "fixtures/sight_app"
REPLICA_DIR = REPO_ROOT / REPLICA

Key = tuple[str, str, int]  # (code, file relative to the replica, line)


def _load_expected() -> dict[str, Any]:
    with (REPLICA_DIR / "expected.toml").open("rb") as handle:
        return tomllib.load(handle)


EXPECTED = _load_expected()
ENTRIES: list[dict[str, Any]] = EXPECTED["finding"]
NOT_APPLICABLE: dict[str, str] = EXPECTED.get("not_applicable", {})
ALL_CODES = sorted({entry.meta.code for entry in CATALOG} | {e["code"] for e in ENTRIES})


def _expected_keys(code: str) -> Counter[Key]:
    return Counter((e["code"], e["file"], e["line"]) for e in ENTRIES if e["code"] == code)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """The JSON report of one run over the replica, from the repository root."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO_ROOT)
        result = CliRunner().invoke(main, ["check", "--format", "json", "--no-cache", "--jobs", "1", REPLICA])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    data: dict[str, Any] = json.loads(result.stdout)
    data["_exit_code"] = result.exit_code
    return data


def _found_keys(report: dict[str, Any], code: str) -> Counter[Key]:
    found: Counter[Key] = Counter()
    for finding in report["findings"]:
        if finding["code"] == code:
            relative = PurePosixPath(finding["path"]).relative_to(REPLICA).as_posix()
            found[(code, relative, finding["line"])] += 1
    return found


def test_replica_fails_the_run_without_internal_errors(report: dict[str, Any]) -> None:
    assert report["_exit_code"] == 1
    assert report["errors"] == []
    assert report["findings"], "the replica must produce findings"


@pytest.mark.parametrize("code", ALL_CODES)
def test_findings_match_expected(report: dict[str, Any], code: str) -> None:
    entry = lookup(code)
    assert entry is not None, f"{code} in expected.toml is not a catalog code"
    found, expected = _found_keys(report, code), _expected_keys(code)
    if not entry.available:
        assert not found, f"{code} is not implemented, yet the run reported it: {sorted(found)}"
        pytest.skip(f"{code} not implemented yet: {sum(expected.values())} expected finding(s) pending")
    missing, unexpected = expected - found, found - expected
    assert not missing and not unexpected, (
        f"{code}: missing {sorted(missing.elements())}, unexpected {sorted(unexpected.elements())}"
    )


def test_graded_entries_keep_their_severity(report: dict[str, Any]) -> None:
    graded = [e for e in ENTRIES if "severity" in e]
    assert graded, "the audit's §6 site names its severity"
    by_key = {
        (f["code"], PurePosixPath(f["path"]).relative_to(REPLICA).as_posix(), f["line"]): f["severity"]
        for f in report["findings"]
    }
    for entry in graded:
        assert by_key.get((entry["code"], entry["file"], entry["line"])) == entry["severity"], entry


def test_expected_entries_point_at_their_text() -> None:
    for entry in ENTRIES:
        path = REPLICA_DIR / entry["file"]
        assert path.is_file(), entry
        lines = path.read_text(encoding="utf-8").splitlines()
        assert 1 <= entry["line"] <= len(lines), entry
        assert entry["text"] in lines[entry["line"] - 1], (
            f"{entry['file']}:{entry['line']} no longer reads {entry['text']!r}: "
            f"{lines[entry['line'] - 1].strip()!r}"
        )


def test_every_catalog_code_and_audit_section_is_covered() -> None:
    covered = {e["code"] for e in ENTRIES}
    for entry in CATALOG:
        code = entry.meta.code
        assert (code in covered) != (code in NOT_APPLICABLE), (
            f"{code} needs replica findings in expected.toml or a reason under [not_applicable], not both"
        )
    assert all(NOT_APPLICABLE.values()), "every [not_applicable] code needs a reason"
    assert {e["audit"] for e in ENTRIES} >= {f"§{n}" for n in range(1, 16)}


def test_readme_table_matches_expected() -> None:
    readme = (REPLICA_DIR / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (§\d+) \| ([\w/.]+):(\d+) \| (SL\d{3}) \|$", readme, flags=re.MULTILINE)
    in_readme = Counter((audit, file, int(line), code) for audit, file, line, code in rows)
    in_toml = Counter((e["audit"], e["file"], e["line"], e["code"]) for e in ENTRIES)
    assert in_readme == in_toml


def test_replica_is_python_310() -> None:
    files = sorted(REPLICA_DIR.rglob("*.py"))
    assert len(files) >= 20
    for path in files:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 10))
