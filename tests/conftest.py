"""Shared pytest options: ``--update-fixtures`` rewrites the ``fixtures/*.fixed.py`` snapshots."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# CI's fast profile draws the same examples on every run (Hypothesis's ``derandomize``), so
# a landing never fails on a draw no earlier run saw; ``SIGHTLINT_FUZZ_EXAMPLES`` (the long
# profile) draws fresh ones. Open finding of a random draw (seed 101): marshal.loads can
# crash the interpreter on bit-flipped data behind a *valid* seal
# (test_flipped_bits_behind_a_valid_seal_crash_nothing); forging a seal takes the user's key.
settings.register_profile("sightlint-ci", derandomize=True)
settings.register_profile("sightlint-long", derandomize=False)
settings.load_profile("sightlint-long" if os.environ.get("SIGHTLINT_FUZZ_EXAMPLES", "").strip() else "sightlint-ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-fixtures",
        action="store_true",
        default=False,
        help="rewrite fixtures/SLxxx.fixed.py snapshots from the current fixer output",
    )


@pytest.fixture
def update_fixtures(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-fixtures"))


@pytest.fixture(autouse=True, scope="session")
def _private_cache_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The cache key of the test run (subprocesses inherit it): never the user's own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIGHTLINT_KEY_DIR", str(tmp_path_factory.mktemp("key") / "sightlint"))
        yield
