"""SL101's fix: `time.sleep` directly in an `async def` -> `await asyncio.sleep`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint.cli import main
from sightlint.fixer import fix_source
from sightlint.models import FixSafety
from sightlint.settings import Settings

SL101 = Settings(select=("SL101",))


def fix(source: str, unsafe: bool = True) -> str | None:
    outcome = fix_source(source.encode(), "app/m.py", SL101, unsafe=unsafe, module="app.m")
    assert outcome.status != "failed", outcome.reason
    if outcome.new is None:
        return None
    text = outcome.new.decode()
    ast.parse(text)
    assert fix_source(outcome.new, "app/m.py", SL101, unsafe=unsafe, module="app.m").status == "unchanged"
    return text


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("import time\n\nasync def f():\n    time.sleep(1)\n", "    await asyncio.sleep(1)\n"),
        ("import time as t\n\nasync def f(d):\n    t.sleep(d * 2)\n", "    await asyncio.sleep(d * 2)\n"),
        ("from time import sleep\n\nasync def f():\n    sleep(0.1)\n", "    await asyncio.sleep(0.1)\n"),
        ("from time import sleep as nap\n\nasync def f():\n    x = nap(1)\n", "    x = await asyncio.sleep(1)\n"),
        ("import time\n\nclass C:\n    async def f(self):\n        if self.x:\n            time.sleep(self.delay)  # back off\n",
         "            await asyncio.sleep(self.delay)  # back off\n"),
    ],
)
def test_time_sleep_in_async_def_becomes_await_asyncio_sleep(source: str, line: str) -> None:
    out = fix(source)
    assert out is not None and line in out, out
    assert out.count("import asyncio") == 1


def test_the_fix_is_unsafe() -> None:
    assert fix("import time\n\nasync def f():\n    time.sleep(1)\n", unsafe=False) is None


@pytest.mark.parametrize(
    "source",
    [
        # not the function's own code: a lambda, a nested sync def, a generator expression
        "import time\n\nasync def f(xs):\n    g = lambda: time.sleep(1)\n    g()\n",
        "import time\n\nasync def f(xs):\n    return list(time.sleep(x) for x in xs)\n",
        # the value is used as a receiver
        "import time\n\nasync def f():\n    return time.sleep(1).real\n",
        # asyncio means something else here
        "import time\n\nasyncio = None\n\nasync def f():\n    time.sleep(1)\n",
        "import time\n\nasync def f(asyncio):\n    time.sleep(1)\n",
        # other blocking calls: no fix
        "import requests\n\nasync def f(u):\n    return requests.get(u)\n",
    ],
)
def test_no_fix_where_await_cannot_go_or_would_mean_something_else(source: str) -> None:
    assert fix(source) is None


def test_a_helper_in_another_file_becomes_async(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`async` is propagated up a chain across files (tests/test_sl101_propagation.py has more)."""
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("", encoding="utf-8")
    (app / "low.py").write_text("import time\n\n\ndef nap():\n    time.sleep(1)\n", encoding="utf-8")
    (app / "api.py").write_text("import time\n\nfrom app.low import nap\n\n\nasync def handler():\n    nap()\n    time.sleep(2)\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIGHTLINT_NO_CACHE", "1")
    result = CliRunner().invoke(main, ["fix", "--unsafe-fixes", "--select", "SL101"])
    assert result.exit_code == 0, result.output
    assert "    await nap()\n    await asyncio.sleep(2)\n" in (app / "api.py").read_text(encoding="utf-8")
    assert (app / "low.py").read_text(encoding="utf-8") == "import asyncio\nimport time\n\n\nasync def nap():\n    await asyncio.sleep(1)\n"
    assert CliRunner().invoke(main, ["check", "--select", "SL101"]).exit_code == 0


def test_time_sleep_in_async_code_is_fixed_in_place_the_rest_by_a_project_fix() -> None:
    from sightlint.api import check_sources

    run = check_sources(
        {"m.py": "import time, requests\n\nasync def f():\n    time.sleep(1)\n    requests.get('u')\n"}, SL101
    )
    marks = {f.line: f.fix_safety for f in run.findings}
    assert marks == {4: FixSafety.UNSAFE, 5: FixSafety.UNSAFE}
    from sightlint.rules.blocking_call_in_async import BlockingCallInAsync

    local = {f.line: BlockingCallInAsync.takes_project_fix(f) for f in run.findings}
    assert local == {4: False, 5: True}
