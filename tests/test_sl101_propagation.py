"""SL101's project fix on the multi-file fixture ``fixtures/SL101_fix`` (snapshot in
``fixtures/SL101_fix.fixed``, rewritten by ``pytest --update-fixtures``), the
``fix FILES`` refusal and ``--cross-file``, the one-transaction write, and the frames
where propagation stops."""

from __future__ import annotations

import ast
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "SL101_fix"
SNAPSHOT = ROOT / "fixtures" / "SL101_fix.fixed"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "proj"
    shutil.copytree(FIXTURE, target)
    return target


def _texts(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.py"))}


def _run(folder: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(folder)
    monkeypatch.setenv("SIGHTLINT_NO_CACHE", "1")
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_fix_matches_the_snapshot_compiles_rechecks_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_fixtures: bool
) -> None:
    proj = _copy(tmp_path)
    before = _texts(proj)
    code, out, err = _run(proj, monkeypatch, "fix", "--unsafe-fixes")
    after = _texts(proj)
    if update_fixtures:
        shutil.rmtree(SNAPSHOT, ignore_errors=True)
        shutil.copytree(proj, SNAPSHOT)
    assert after == _texts(SNAPSHOT), "run pytest --update-fixtures after an intended change"
    changed = [p for p in after if after[p] != before[p]]
    assert changed == ["app/api/routes.py", "app/services/health.py"]
    for path in changed:
        compile(after[path], path, "exec")
    # What remains is the one finding without a fix: `with open(...)` in an async def.
    assert code == 1 and "Fixed 4 finding(s) in 2 file(s)." in err
    remaining = [line for line in out.splitlines() if ": SL101 [" in line]
    assert len(remaining) == 1 and remaining[0].startswith("app/api/routes.py:41:10:"), out
    # A second run changes nothing.
    code, out, err = _run(proj, monkeypatch, "fix", "--unsafe-fixes", "--diff")
    assert code == 0 and out == "" and _texts(proj) == after


def test_the_fixed_code_is_what_the_audit_asks_for() -> None:
    routes = (SNAPSHOT / "app/api/routes.py").read_text(encoding="utf-8")
    health = (SNAPSHOT / "app/services/health.py").read_text(encoding="utf-8")
    # Propagated across files: the helper, its caller and a method become async, all awaited.
    assert "async def _backoff(attempt: int) -> None:\n    await asyncio.sleep(0.1 * attempt)" in health
    assert "        await _backoff(attempt)\n" in health
    assert "    async def ready(self) -> bool:\n        return await check_with_retry(" in health
    assert "    ok = await health.check_with_retry(lambda: True)\n" in routes
    assert "ok and await probe.ready()" in routes
    # A constructor calls `_connect_with_retry`, and a sync job `wait_a_bit`: they stay
    # sync (untouched), and the async callers run them in a thread.
    assert "    store = await asyncio.to_thread(get_vector_store)\n" in routes
    assert "    indexer = await asyncio.to_thread(Indexer)\n" in routes
    assert "    await asyncio.to_thread(indexer.add, text)\n" in routes
    assert "    await asyncio.to_thread(pause)\n" in routes
    # The methods called on the result block too: the whole expression goes to the thread.
    assert "    return await asyncio.to_thread(lambda: requests.get(url, timeout=5).json())" in routes
    assert not (SNAPSHOT / "app/services/retry.py").read_bytes() != (FIXTURE / "app/services/retry.py").read_bytes()
    assert routes.startswith("import asyncio\n\nimport requests\n")


def test_the_diff_is_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _copy(tmp_path)
    code, out, err = _run(proj, monkeypatch, "fix", "--unsafe-fixes", "--diff", "--show-fixes")
    assert code == 1
    assert "async def `Probe.ready`, `_backoff`, `check_with_retry` (`await asyncio.sleep`), awaited at 4 calls in 2 files" in err
    assert "`_connect_with_retry` stays sync: `Indexer.__init__` calls it" in err
    assert "`wait_a_bit` stays sync: `nightly_job` calls it" in err
    if shutil.which("patch") is None:
        pytest.skip("no patch program")
    subprocess.run(["patch", "-p1", "-s"], input=out.encode(), cwd=proj, check=True)
    assert _texts(proj) == _texts(SNAPSHOT)


def test_fix_files_leaves_a_fix_that_needs_other_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _copy(tmp_path)
    before = _texts(proj)
    code, out, err = _run(proj, monkeypatch, "fix", "--unsafe-fixes", "--show-fixes", "app/services/health.py")
    assert _texts(proj) == before
    assert "app/services/health.py:7:5: SL101 not fixed: needs app/api/routes.py (not named; use --cross-file)" in err
    assert "1 fix(es) not applied: they also edit app/api/routes.py (name those files too, or use --cross-file)." in err
    assert code == 1
    # Named too: applied.
    code, out, err = _run(proj, monkeypatch, "fix", "--unsafe-fixes", "app/services/health.py", "app/api/routes.py")
    assert _texts(proj)["app/services/health.py"] == _texts(SNAPSHOT)["app/services/health.py"]
    # Or with --cross-file, naming one file.
    other = tmp_path / "other"
    shutil.copytree(FIXTURE, other)
    code, out, err = _run(other, monkeypatch, "fix", "--unsafe-fixes", "--cross-file", "app/services/health.py")
    fixed = _texts(other)
    assert fixed["app/services/health.py"] == _texts(SNAPSHOT)["app/services/health.py"]
    assert b"await health.check_with_retry(lambda: True)" in fixed["app/api/routes.py"]
    # Only that finding's fix: the findings of files not named stay as they were.
    assert b"get_vector_store()" in fixed["app/api/routes.py"]


def test_one_transaction_writes_every_file_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _copy(tmp_path)
    before = _texts(proj)
    routes = proj / "app/api/routes.py"
    os.chmod(routes, stat.S_IRUSR | stat.S_IRGRP)
    try:
        code, out, err = _run(proj, monkeypatch, "fix", "--unsafe-fixes", "--select", "SL101")
    finally:
        os.chmod(routes, stat.S_IRUSR | stat.S_IWUSR)
    # health.py's fix also edits the read-only routes.py: neither is written.
    assert _texts(proj) == before, err
    assert "read-only" in err


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n', encoding="utf-8")
    for name, text in {"app/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def _fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> tuple[dict[str, str], str]:
    proj = _project(tmp_path, files)
    code, out, err = _run(proj, monkeypatch, "fix", "--unsafe-fixes", "--select", "SL101", "--show-fixes")
    texts = {name: (proj / name).read_text(encoding="utf-8") for name in files}
    for name, text in texts.items():
        ast.parse(text, name)
    again = _run(proj, monkeypatch, "fix", "--unsafe-fixes", "--select", "SL101", "--diff")
    assert again[1] == "", again[1]
    return texts, err


HELPER = "import time\n\n\n{decorator}def nap():\n    time.sleep(1)\n"


@pytest.mark.parametrize(
    ("decorator", "why"),
    [
        ("@functools.lru_cache\n", "is decorated with `@functools.lru_cache`, which would wrap a coroutine"),
        ("@router.get('/nap')\n", "is a sync route handler (Starlette runs it in a thread)"),
    ],
)
def test_a_decorated_helper_stays_sync_and_runs_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decorator: str, why: str
) -> None:
    helper = "import functools\nfrom fastapi import APIRouter\n\nrouter = APIRouter()\n" + HELPER.format(decorator=decorator)
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": helper, "app/api.py": "from app.low import nap\n\n\nasync def handler():\n    nap()\n"})
    assert texts["app/low.py"] == helper
    assert "    await asyncio.to_thread(nap)\n" in texts["app/api.py"]
    assert why in err


def test_a_helper_passed_as_a_value_stays_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = (
        "from fastapi import Depends\n\nfrom app.low import nap\n\n\n"
        "async def handler(x=Depends(nap)):\n    return x\n\n\nasync def other():\n    return nap()\n"
    )
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": HELPER.format(decorator=""), "app/api.py": api})
    assert "def nap():\n    time.sleep(1)" in texts["app/low.py"]
    assert "    return await asyncio.to_thread(nap)\n" in texts["app/api.py"]
    assert "used as a value at app/api.py:6" in err


def test_a_name_looked_up_by_string_stays_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = "import app.low\nfrom app.low import nap\n\nHOOK = getattr(app.low, 'nap')\n\n\nasync def other():\n    nap()\n"
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": HELPER.format(decorator=""), "app/api.py": api})
    assert "    await asyncio.to_thread(nap)\n" in texts["app/api.py"]
    assert "written as a string at app/api.py:4" in err


def test_an_overridden_method_stays_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    low = (
        "import time\n\n\nclass Base:\n    def connect(self):\n        time.sleep(1)\n\n\n"
        "class Other:\n    def connect(self):\n        return None\n"
    )
    api = "from app.low import Base\n\n\nasync def handler(b: Base):\n    b.connect()\n"
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": low, "app/api.py": api})
    assert texts["app/low.py"] == low
    assert "    await asyncio.to_thread(b.connect)\n" in texts["app/api.py"]
    assert "another class defines `connect` too" in err


def test_a_generator_is_left_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    low = "import time\n\n\ndef ticks():\n    time.sleep(1)\n    yield 1\n"
    api = "from app.low import ticks\n\n\nasync def handler():\n    return [t for t in ticks()]\n"
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": low, "app/api.py": api})
    assert texts == {"app/low.py": low, "app/api.py": api}
    assert "`ticks` is a generator: its body runs as the loop iterates it" in err


def test_a_call_in_a_generator_expression_is_left_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = "from app.low import nap\n\n\nasync def handler(xs):\n    return list(nap() for _ in xs)\n"
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": HELPER.format(decorator=""), "app/api.py": api})
    assert texts["app/api.py"] == api
    assert "is in a generator expression, where `await` cannot go" in err


def test_a_sync_caller_with_sync_callers_keeps_the_chain_in_a_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    low = HELPER.format(decorator="") + "\n\ndef job():\n    nap()\n\n\nif __name__ == '__main__':\n    job()\n"
    api = "from app.low import nap\n\n\nasync def handler():\n    x = [nap() for _ in range(2)]\n    return x\n"
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": low, "app/api.py": api})
    assert texts["app/low.py"] == low
    assert "    x = [await asyncio.to_thread(nap) for _ in range(2)]\n" in texts["app/api.py"]


def test_to_thread_keeps_keywords_star_args_and_bound_methods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = (
        "import requests\n\n\nasync def handler(session: requests.Session, args, kw):\n"
        "    r = session.get(\n        'https://x',\n        *args,\n        timeout=5,\n        **kw,\n    )\n"
        "    return r.status_code\n"
    )
    texts, err = _fix(tmp_path, monkeypatch, {"app/api.py": api})
    assert (
        "    r = await asyncio.to_thread(\n        session.get,\n        'https://x',\n        *args,\n        timeout=5,\n        **kw,\n    )\n"
        in texts["app/api.py"]
    ), texts["app/api.py"]


def test_an_argument_that_awaits_is_not_wrapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = "import requests\n\n\nasync def handler(get_url):\n    return requests.get(await get_url())\n"
    texts, err = _fix(tmp_path, monkeypatch, {"app/api.py": api})
    assert texts["app/api.py"] == api
    assert "awaits, yields or assigns" in err


def test_langchain_invoke_becomes_ainvoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = (
        "from langchain_openai import ChatOpenAI\n\nllm = ChatOpenAI(model='gpt-4o')\n\n\n"
        "async def answer(q):\n    return llm.invoke(q).content\n"
    )
    texts, err = _fix(tmp_path, monkeypatch, {"app/api.py": api})
    assert "    return (await llm.ainvoke(q)).content\n" in texts["app/api.py"]


def test_a_function_exported_in_all_stays_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    low = "__all__ = ['nap']\n\n" + HELPER.format(decorator="")
    api = "from app.low import nap\n\n\nasync def handler():\n    nap()\n"
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": low, "app/api.py": api})
    assert texts["app/low.py"] == low
    assert "    await asyncio.to_thread(nap)\n" in texts["app/api.py"]
    assert "exported in `__all__` (app/low.py:1): code outside the project may call it" in err


def test_a_lazy_singleton_moved_to_a_thread_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    low = (
        "import time\n\n_STORE = None\n\n\ndef get_store():\n    global _STORE\n    if _STORE is None:\n"
        "        time.sleep(1)\n        _STORE = object()\n    return _STORE\n\n\nclass Service:\n"
        "    def __init__(self):\n        self.store = get_store()\n"
    )
    api = "from app.low import Service\n\n\nasync def handler():\n    return Service()\n"
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": low, "app/api.py": api})
    assert "    return await asyncio.to_thread(Service)\n" in texts["app/api.py"]
    assert "`get_store` sets a global: now run in threads, it needs a lock, see SL501" in err


def test_a_chain_reached_from_too_many_call_sites_is_left_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    low = "import time\n\n\nclass Message:\n    def __init__(self, text):\n        time.sleep(0.001)\n        self.text = text\n"
    api = "from app.low import Message\n" + "".join(f"\n\nasync def h{i}():\n    return Message('{i}')\n" for i in range(13))
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": low, "app/api.py": api})
    assert texts == {"app/low.py": low, "app/api.py": api}
    assert "13 async call sites in 1 file reach it: too many to wrap each" in err


def test_a_result_used_as_a_receiver_is_parenthesised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = "import requests\n\n\nasync def handler(u):\n    return requests.get(u).headers['etag']\n"
    texts, err = _fix(tmp_path, monkeypatch, {"app/api.py": api})
    assert "    return (await asyncio.to_thread(requests.get, u)).headers['etag']\n" in texts["app/api.py"]


def test_a_chain_that_changes_module_state_is_not_moved_to_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    low = (
        "import requests\n\nclass App:\n    token = ''\n\napp = App()\n\n\n"
        "def configure(token):\n    requests.get('https://x', timeout=5)\n    app.token = token\n    return app\n"
    )
    api = "from app.low import configure\n\n\nasync def handler(token):\n    return configure(token)\n"
    texts, err = _fix(tmp_path, monkeypatch, {"app/low.py": low, "app/api.py": api})
    assert texts["app/api.py"] == api
    assert "`configure` changes module-level state (`app.token`)" in err
