"""Fingerprints kept between runs (``cache.FileMemo``): the JSON and SARIF reports of a warm
run are byte-identical to ``--no-cache``, and only files whose content changed are parsed
again for them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sightlint.cli import main
from sightlint.reporting import fingerprint

UTCNOW = "from datetime import datetime\n\n\ndef stamp():\n    return datetime.utcnow()\n"
TWICE = "from datetime import datetime\n\n\nclass Clock:\n    def now(self):\n        return datetime.utcnow(), datetime.utcnow()\n"
REPLICA = Path(__file__).resolve().parent.parent / "fixtures" / "sight_app"


def report(root: Path, cache: Path, fmt: str = "json", *args: str, select: str = "SL301") -> str:
    result = CliRunner().invoke(
        main, ["check", ".", "--select", select, "--format", fmt, "--exit-zero", "--cache-dir", str(cache), *args],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


class Parses:
    """Counts the files fingerprinting parses (``fingerprint._Module`` with source lines)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = fingerprint._Module

        def counting(lines: Any, *args: Any) -> Any:
            if lines is not None:
                self.count += 1
            return real(lines, *args)

        monkeypatch.setattr(fingerprint, "_Module", counting)


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_warm_reports_equal_no_cache_and_parse_only_changed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    root = tmp_path / "p"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.sightlint]\n")
    (root / "pkg" / "__init__.py").write_text("")
    for i in range(4):
        (root / "pkg" / f"m{i}.py").write_text(UTCNOW if i % 2 else TWICE)
    monkeypatch.chdir(root)
    cache = tmp_path / "cache"

    def both() -> str:
        uncached = report(root, cache, fmt, "--no-cache")
        assert report(root, cache, fmt) == uncached
        return uncached

    # The memo without the check's fingerprint tables (which spare every parse: below).
    monkeypatch.setattr("sightlint.semantics.prints.load", lambda blob: None)
    both()  # cold: every file with a finding is parsed
    parses = Parses(monkeypatch)
    both()
    assert parses.count == 4  # the --no-cache run only
    # Lines shift above the findings of one file: its fingerprints stay, its ranges move.
    (root / "pkg" / "m1.py").write_text("# moved\n" + UTCNOW)
    parses.count = 0
    both()
    assert parses.count == 4 + 1
    # Same ranges, new content: a renamed function (same length) is another scope, so the
    # stored scope must not be served for the new content.
    before = report(root, cache, fmt)
    (root / "pkg" / "m3.py").write_text(UTCNOW.replace("stamp", "stomp"))
    after = both()
    assert after != before
    # A deleted file and a new one.
    (root / "pkg" / "m0.py").unlink()
    (root / "pkg" / "m9.py").write_text(TWICE)
    both()


def test_a_damaged_memo_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "p"
    shutil.copytree(REPLICA, root)
    monkeypatch.chdir(root)
    cache = tmp_path / "cache"
    uncached = report(root, cache, "json", "--no-cache", select="ALL")
    assert report(root, cache, select="ALL") == uncached
    memo = next(cache.glob("results-*.prints"))
    memo.write_bytes(memo.read_bytes()[:-7] + b"garbage")
    assert report(root, cache, select="ALL") == uncached
    (root / "app" / "main.py").write_text((root / "app" / "main.py").read_text() + "\n# edited\n")
    uncached = report(root, cache, "json", "--no-cache", select="ALL")
    assert report(root, cache, select="ALL") == uncached
    assert report(root, cache, select="ALL") == uncached


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_with_the_checks_tables_no_file_is_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """The fingerprint parts come with each file's result (cached or not): neither a
    ``--no-cache`` run nor a cached one parses a file again for them, and both report the
    same as with the tables switched off."""
    root = tmp_path / "p"
    shutil.copytree(REPLICA, root)
    monkeypatch.chdir(root)
    cache = tmp_path / "cache"
    parses = Parses(monkeypatch)
    uncached = report(root, cache, fmt, "--no-cache", select="ALL")
    assert report(root, cache, fmt, select="ALL") == uncached
    (root / "app" / "main.py").write_text("# moved\n" + (root / "app" / "main.py").read_text())
    edited = report(root, cache, fmt, "--no-cache", select="ALL")
    assert report(root, cache, fmt, select="ALL") == edited
    assert parses.count == 0
    monkeypatch.setattr("sightlint.semantics.prints.load", lambda blob: None)
    assert report(root, cache, fmt, "--no-cache", select="ALL") == edited
    assert parses.count > 5
