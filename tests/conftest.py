"""Shared pytest options: ``--update-fixtures`` rewrites the ``fixtures/*.fixed.py`` snapshots."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


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
