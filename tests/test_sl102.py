"""SL102 across modules: timeouts around coroutines that never await but block."""

from __future__ import annotations

import re

from sightlint import api
from sightlint.settings import Settings

SETTINGS = Settings(select=("SL102",))

CLIENTS = (
    "import time\n"
    "\n"
    "def _connect_with_retry(factory):\n"
    "    time.sleep(1)\n"
    "    return factory()\n"
    "\n"
    "def get_store():\n"
    "    return _connect_with_retry(lambda: object())\n"
)
SERVICE = (
    "import asyncio\n"
    "from app.clients import get_store\n"
    "\n"
    "class Rag:\n"
    "    def __init__(self):\n"
    "        self.store = get_store()\n"
    "\n"
    "class Generator:\n"
    "    async def _connect(self):\n"
    "        return Rag()\n"
    "\n"
    "    async def _connect_nicely(self):\n"
    "        return await asyncio.to_thread(Rag)\n"
    "\n"
    "    async def start(self):\n"
    "        await asyncio.wait_for(self._connect(), timeout=15)\n"
    "        await asyncio.wait_for(self._connect_nicely(), timeout=15)\n"
    "        async with asyncio.timeout(3):\n"
    "            await self._connect()\n"
)
MODULES = {"app/clients.py": "app.clients", "app/service.py": "app.service"}


def check(sources: dict[str, str]):
    run = api.check_sources(sources, SETTINGS, modules=MODULES)
    assert not run.errors and not run.internal_errors
    return run.findings


def test_timeouts_around_blocking_coroutines_across_modules() -> None:
    findings = check({"app/clients.py": CLIENTS, "app/service.py": SERVICE})
    assert [(f.path, f.line, f.col) for f in findings] == [("app/service.py", 16, 14), ("app/service.py", 18, 19)]
    first = findings[0]
    assert "coroutine `Generator._connect` never awaits" in first.message and "time.sleep" in first.message
    # The related locations lead from the coroutine to the sleep in the other module.
    assert [r.path for r in first.related][-1] == "app/clients.py"
    assert first.related[-1].line == 4


def test_offloading_the_blocking_part_silences_it() -> None:
    clients = CLIENTS.replace("    time.sleep(1)\n", "    pass\n")
    assert check({"app/clients.py": clients, "app/service.py": SERVICE}) == []


def test_stripping_async_silences_it() -> None:
    def strip(text: str) -> str:
        return re.sub(r"\basync\s+(?=def|with|for)", "", re.sub(r"\bawait\s+", "", text))

    assert check({"app/clients.py": strip(CLIENTS), "app/service.py": strip(SERVICE)}) == []


def test_suppressed_at_the_timeout_line() -> None:
    service = SERVICE.replace("timeout=15)\n        await asyncio.wait_for(self._connect_nicely()", "timeout=15)  # noqa: SL102\n        await asyncio.wait_for(self._connect_nicely()")
    findings = check({"app/clients.py": CLIENTS, "app/service.py": service})
    assert [f.line for f in findings] == [18]


def test_an_awaited_call_is_not_a_sync_call_whatever_its_annotation() -> None:
    code = (
        "import asyncio\n"
        "from sqlalchemy.orm import Session\n"
        "\n"
        "async def jobs(session: Session):\n"
        "    async with asyncio.timeout(1):\n"
        "        await session.execute('select 1')\n"
        "    await asyncio.wait_for(session.commit(), 1)\n"
        "    async with asyncio.timeout(1):\n"
        "        session.execute('select 2')\n"
    )
    run = api.check_sources({"m.py": code}, Settings(select=("SL101", "SL102")))
    assert [(f.code, f.line) for f in run.findings] == [("SL102", 8), ("SL101", 9)]
