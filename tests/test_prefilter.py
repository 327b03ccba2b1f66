"""The rules' text pre-filters (``Rule.may_report``) never change what is found.

Every per-file rule's examples, every fixture and the Sight replica are checked twice,
with the pre-filters and with every pre-filter forced open, and must give the same
findings; near misses pin the cases a word test gets wrong most easily: the word only in
a string or a comment, an import alias, identifiers spelt in other Unicode forms, and
the shapes an earlier, narrower filter let through wrongly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sightlint import engine
from sightlint.models import Finding
from sightlint.registry import implemented
from sightlint.rules.base import Rule, screened
from sightlint.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PER_FILE = [r for r in implemented() if not r.cross_file]
FILTERED = [r for r in PER_FILE if r.may_report.__func__ is not Rule.may_report.__func__]  # type: ignore[attr-defined]


def _sources() -> Iterator[tuple[str, str]]:
    for rule in PER_FILE:
        for example in (*rule.bad, *rule.good):
            for path, code in example.files().items():
                yield f"{rule.meta.code}:{path}", code
    for path in sorted(FIXTURES.rglob("*.py")):
        yield str(path.relative_to(FIXTURES)), path.read_text()


def _check(code: str, path: str) -> tuple[list[Finding], list[str]]:
    module = Path(path.rpartition(":")[2]).with_suffix("").as_posix().replace("/", ".")
    result = engine.check_source(code, path.rpartition(":")[2], Settings(), rules=implemented(), module=module)
    return result.findings, result.errors


def _open_all(monkeypatch: pytest.MonkeyPatch) -> None:
    for rule in FILTERED:
        monkeypatch.setattr(rule, "may_report", classmethod(lambda cls, text: True))


def test_some_rules_filter() -> None:
    codes = {r.meta.code for r in FILTERED}
    assert {"SL201", "SL202", "SL301", "SL501", "SL601", "SL602", "SL702", "SL705", "SL706"} <= codes


def test_same_findings_with_and_without_pre_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    sources = list(_sources())
    assert len(sources) > 300
    filtered = [_check(code, path) for path, code in sources]
    skipped = sum(1 for _, code in sources for rule in FILTERED if not rule.may_report(screened(code)))
    assert skipped > 100  # the filters do skip work on these files
    _open_all(monkeypatch)
    opened = [_check(code, path) for path, code in sources]
    for (path, _), with_filter, without in zip(sources, filtered, opened):
        assert with_filter == without, path


def test_every_fixture_finding_passes_its_filter() -> None:
    rules = {r.meta.code: r for r in PER_FILE}
    for path, code in _sources():
        for finding in _check(code, path)[0]:
            rule = rules.get(finding.code)
            if rule is not None:
                assert rule.may_report(screened(code)), (finding.code, path)


# -- near misses -------------------------------------------------------------------------

# (code, source, findings of that code expected)
NEAR_MISSES = [
    # Aliases: the imported name is still in the text.
    ("SL301", "from datetime import datetime as D\n\ndef f():\n    return D.utcnow()\n", 1),
    (
        "SL601",
        "from asyncio import gather as g\nfrom app.db import AsyncSessionLocal\n\n"
        "async def one(x):\n    async with AsyncSessionLocal() as s:\n        await s.execute(x)\n\n"
        "async def run(xs):\n    await g(*[one(x) for x in xs])\n",
        1,
    ),
    (
        "SL602",
        "import asyncio as aio\nfrom sqlalchemy.ext import asyncio as sa\n\n"
        "async def run(db: sa.AsyncSession, xs):\n    await aio.gather(*[save(db, x) for x in xs])\n",
        1,
    ),
    ("SL202", "from builtins import Exception as E\n\ndef f():\n    try:\n        g()\n    except E as e:\n        return {'error': str(e)}\n", None),
    # A dict cache with neither braces, `class` nor `global` in the file.
    (
        "SL501",
        "_CLIENTS = dict()\n\nasync def client_for(url):\n    if url not in _CLIENTS:\n"
        "        _CLIENTS[url] = await make_client(url)\n    return _CLIENTS[url]\n",
        1,
    ),
    (
        "SL501",
        "from collections import OrderedDict as OD\n\n_CLIENTS = OD()\n\nasync def client_for(url):\n"
        "    if url not in _CLIENTS:\n        _CLIENTS[url] = await make_client(url)\n    return _CLIENTS[url]\n",
        1,
    ),
    # The word only in a string or a comment: the rule runs and finds nothing.
    ("SL301", "# datetime.utcnow() is naive\nx = 'utcnow'\n", 0),
    ("SL601", "# asyncio.gather of sessions\nDOC = 'AsyncSessionLocal gather'\n", 0),
    ("SL202", "MSG = 'except Exception: pass'\n", 0),
    ("SL702", "DOC = 'class Settings(BaseSettings): SECRET_KEY = \"x\"'\n", 0),
    # A bare `except` with a line continuation before its colon.
    ("SL201", "def f():\n    try:\n        g()\n    except \\\n        :\n        pass\n", 1),
    # `def` followed by a tab, and a route added by `add_route` (no decorator anywhere).
    (
        "SL705",
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n"
        "async def handler(request):\n    def\thelper(x):\n        return x * 2\n\n    return helper(3)\n\n"
        "app.add_route('/double', handler)\n",
        1,
    ),
    # A health route on a method other than GET.
    (
        "SL706",
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n@app.head('/health')\nasync def health():\n    return {'status': 'ok'}\n",
        1,
    ),
    # Identifiers in another Unicode form: the parser reads `ｕｔｃｎｏｗ` as `utcnow`.
    ("SL301", "import datetime\n\ndef f():\n    return datetime.datetime.\uff55\uff54\uff43\uff4e\uff4f\uff57()\n", 1),
    (
        "SL602",
        "import asyncio\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\n"
        "async def run(db: AsyncSession, xs):\n    await asyncio.\uff47ather(*[save(db, x) for x in xs])\n",
        1,
    ),
]


@pytest.mark.parametrize(("code", "source", "expected"), NEAR_MISSES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(NEAR_MISSES)])
def test_near_misses(code: str, source: str, expected: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    rule = next(r for r in PER_FILE if r.meta.code == code)
    found = [f for f in _check(source, "app/example.py")[0] if f.code == code]
    if expected is not None:
        assert len(found) == expected, found
    if expected:
        assert rule.may_report(screened(source))
    _open_all(monkeypatch)
    assert [f for f in _check(source, "app/example.py")[0] if f.code == code] == found


@pytest.mark.parametrize(
    ("rule_code", "source"),
    [
        ("SL601", "import asyncio\n\nasync def run(xs):\n    await asyncio.gather(*[work(x) for x in xs])\n"),
        ("SL602", "import asyncio\n\nasync def run(xs):\n    await asyncio.gather(*[work(x) for x in xs])\n"),
        ("SL202", "def f():\n    try:\n        g()\n    except ValueError:\n        return None\n"),
        ("SL201", "def f():\n    try:\n        g()\n    except KeyError:\n        pass\n"),
        ("SL702", "class Point:\n    x: int = 0\n"),
        ("SL705", "def outer():\n    def inner():\n        return 1\n    return inner\n"),
        ("SL706", "def health():\n    return {'status': 'ok'}\n"),
        ("SL501", "_client = None\n\nasync def get_client():\n    if _client is None:\n        return await connect()\n"),
    ],
)
def test_files_without_the_words_are_skipped(rule_code: str, source: str) -> None:
    rule = next(r for r in PER_FILE if r.meta.code == rule_code)
    assert not rule.may_report(screened(source))
