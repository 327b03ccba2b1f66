"""Regressions in the deadline rules (SL401-SL403) found by judging real back ends
(/work/notes/judge.md): each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint.cli import main


def _check(root: Path, select: str, *, cache: bool = False) -> list[dict[str, object]]:
    args = ["check", "--format", "json", "--select", select, str(root)]
    if not cache:
        args.insert(1, "--no-cache")
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1), result.output
    return list(json.loads(result.output)["findings"])


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


# -- 1. a receiver bound to two client classes: one finding per call site (letta azure_client.py)

TWO_CLIENTS = """\
from fastapi import FastAPI
from openai import AsyncAzureOpenAI, AsyncOpenAI
from langchain_openai import ChatOpenAI

app = FastAPI()


@app.post("/chat")
async def chat(v1: bool, q: str):
    if v1:
        client = AsyncOpenAI()
    else:
        client = AsyncAzureOpenAI()
    r = await client.chat.completions.create(model="x", messages=[{"role": "user", "content": q}])
    return r.model_dump()


@app.post("/embed")
async def embed(v1: bool, q: str):
    if v1:
        client = AsyncOpenAI(timeout=30)
    else:
        client = AsyncAzureOpenAI(timeout=None)
    return await client.embeddings.create(model="x", input=q)
"""


def test_a_receiver_of_two_client_classes_is_one_finding_naming_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(_write(tmp_path, {"app.py": TWO_CLIENTS}))
    found = _check(tmp_path, "SL401")
    assert [(f["line"], f["severity"]) for f in found] == [(14, "high"), (24, "critical")]
    assert "`AsyncOpenAI`'s default or `AsyncAzureOpenAI`'s default: 600 s" in str(found[0]["message"])
    # The worst of the two constructions grades the call.
    assert "`AsyncAzureOpenAI` is built with `timeout=None`" in str(found[1]["message"])


# -- 2. SL403 grades background LLM work as SL401 does (letta's fire_and_forget embeddings)

BACKGROUND = """\
import asyncio
from fastapi import FastAPI
from openai import AsyncOpenAI
from langchain_openai import ChatOpenAI

app = FastAPI()
running = set()


async def embed(text):
    return await AsyncOpenAI().embeddings.create(model="x", input=text)


async def summarise(text):
    return await ChatOpenAI().ainvoke(text)


@app.post("/embed")
async def start_embed(text: str):
    task = asyncio.create_task(embed(text))
    running.add(task)


@app.post("/summary")
async def start_summary(text: str):
    task = asyncio.create_task(summarise(text))
    running.add(task)
"""


def test_background_llm_work_with_a_client_timeout_is_high_not_critical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(_write(tmp_path, {"app.py": BACKGROUND}))
    found = _check(tmp_path, "SL403")
    assert [(f["line"], f["severity"]) for f in found] == [(20, "high"), (26, "critical")]
    assert "bounded per attempt only by an HTTP client timeout of 600 s (`AsyncOpenAI`'s default, up to 2 retries" in str(found[0]["message"])
    assert "a hung provider keeps the task alive forever" in str(found[1]["message"])
    sl401 = _check(tmp_path, "SL401")
    assert [(f["line"], f["severity"]) for f in sl401] == [(11, "high"), (15, "critical")]


# -- 3. SL403: production code that only tests are seen to reach is not "started only from tests"

EMITTER = """\
import asyncio


class Emitter:
    async def send(self, data):
        return data

    async def process(self, data):
        asyncio.create_task(self.send(data))
"""
SOCKET = """\
import socketio
from app.emitter import Emitter

sio = socketio.AsyncServer()


@sio.on("message")
async def on_message(sid, data):
    await Emitter().process(data)
"""
TEST_EMITTER = """\
import asyncio
from app.emitter import Emitter


async def test_process():
    await Emitter().process(1)


async def test_helper_task():
    asyncio.create_task(Emitter().send(2))
"""


def test_production_code_reached_only_from_tests_keeps_its_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(
        _write(
            tmp_path,
            {"app/__init__.py": "", "app/emitter.py": EMITTER, "app/socket.py": SOCKET, "tests/test_emitter.py": TEST_EMITTER},
        )
    )
    found = _check(tmp_path, "SL403")
    # The task the test itself starts (tests/...) stays clean.
    assert [(f["path"], f["line"], f["severity"]) for f in found] == [("app/emitter.py", 9, "medium")]
    assert "drops its reference" in str(found[0]["message"])
    # The same without the tests folder (the reach notes' experiment on chainlit).
    (tmp_path / "tests" / "test_emitter.py").unlink()
    assert [(f["path"], f["line"]) for f in _check(tmp_path, "SL403")] == [("app/emitter.py", 9)]


# -- 4. SL402: a gather that only awaits tasks its block has just cancelled (sight personas.py:1473)

FANOUT = """\
import asyncio
from fastapi import FastAPI
from langchain_openai import ChatOpenAI

app = FastAPI()


async def answer(q):
    return await ChatOpenAI().ainvoke(q)


@app.post("/drain")
async def drain(qs: list[str]):
    tasks = [asyncio.create_task(answer(q)) for q in qs]
    try:
        for future in asyncio.as_completed(tasks):
            await future
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        # wait for the cancellations
        await asyncio.gather(*tasks, return_exceptions=True)


@app.post("/one")
async def one(q: str):
    task = asyncio.create_task(answer(q))
    other = asyncio.create_task(answer(q))
    task.cancel()
    other.cancel()
    await asyncio.gather(task, other, return_exceptions=True)


@app.post("/maybe")
async def maybe(qs: list[str], stop: bool):
    tasks = [asyncio.create_task(answer(q)) for q in qs]
    if stop:
        for task in tasks:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@app.post("/again")
async def again(qs: list[str]):
    tasks = [asyncio.create_task(answer(q)) for q in qs]
    for task in tasks:
        task.cancel()
    tasks = [asyncio.create_task(answer(q)) for q in qs]
    await asyncio.gather(*tasks)


@app.post("/partly")
async def partly(qs: list[str]):
    tasks = [asyncio.create_task(answer(q)) for q in qs]
    extra = asyncio.create_task(answer("x"))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, extra)


@app.post("/appended")
async def appended(qs: list[str]):
    tasks = [asyncio.create_task(answer(q)) for q in qs]
    for task in tasks:
        task.cancel()
    tasks.append(asyncio.create_task(answer("x")))
    await asyncio.gather(*tasks)
"""


def test_a_gather_of_just_cancelled_tasks_is_not_a_fan_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(_write(tmp_path, {"app.py": FANOUT}))
    found = _check(tmp_path, "SL402")
    # drain: only the as_completed loop (16); one: clean; maybe/again/partly/appended: the work is still awaited.
    assert [f["line"] for f in found] == [16, 41, 50, 59, 68]
    cached = _check(tmp_path, "SL402", cache=True)
    assert [f["line"] for f in cached] == [16, 41, 50, 59, 68]
    assert [f["line"] for f in _check(tmp_path, "SL402", cache=True)] == [16, 41, 50, 59, 68]


GENAI_TASK = """\
import asyncio
from langchain_google_genai import ChatGoogleGenerativeAI

running = set()


async def ask(q):
    return await ChatGoogleGenerativeAI(model="gemini-2.5-flash", timeout=30).ainvoke(q)


async def start(q):
    running.add(asyncio.create_task(ask(q)))
"""


@pytest.mark.parametrize(
    ("requirement", "severity", "says"),
    [
        ("langchain-google-genai>=2.0.0,<3.0.0\n", "high", "allows langchain-google-genai before 2.1.12, which ignores it"),
        ("langchain-google-genai>=2.1.12\n", "medium", "bounded per attempt only by an HTTP client timeout of 30 s"),
    ],
)
def test_a_gemini_timeout_the_pinned_version_ignores_is_no_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, requirement: str, severity: str, says: str
) -> None:
    monkeypatch.chdir(_write(tmp_path, {"app.py": GENAI_TASK, "requirements.txt": requirement}))
    found = _check(tmp_path, "SL403")
    assert [(f["line"], f["severity"]) for f in found] == [(12, severity)]
    assert says in str(found[0]["message"])


# -- litellm applies a 600 s request timeout when none is passed (skyvern api_handler_factory.py)

LITELLM_ROUTES = """\
import litellm
from fastapi import FastAPI

app = FastAPI()
router = litellm.Router(model_list=[])


@app.post("/complete")
async def complete(q: str):
    return await litellm.acompletion(model="gpt-4o", messages=[{"role": "user", "content": q}])


@app.post("/routed")
async def routed(q: str):
    return await router.acompletion(model="group", messages=[{"role": "user", "content": q}])


@app.post("/embed")
async def embed(q: str):
    return await litellm.aembedding(model="text-embedding-3-small", input=[q])


@app.post("/respond")
async def respond(q: str):
    return await litellm.aresponses(model="gpt-4o", input=q)
"""


def test_litellm_completion_and_embedding_have_a_default_http_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # litellm main.py: completion() takes `timeout or kwargs.get("request_timeout", 600) or 600`
    # (acompletion, text completion and Router calls end there); embedding(timeout=600). An HTTP
    # timeout per attempt, as the OpenAI SDK's 600 s default: high on a request, not critical.
    monkeypatch.chdir(_write(tmp_path, {"app.py": LITELLM_ROUTES}))
    found = _check(tmp_path, "SL401")
    assert [(f["line"], f["severity"]) for f in found] == [(10, "high"), (15, "high"), (20, "high"), (25, "critical")]
    assert "only an HTTP client timeout (`litellm`'s default: 600 s)" in str(found[0]["message"])
    # aresponses is not known to default to a timeout: still none.
    assert "`litellm` sets no timeout unless one is passed" in str(found[3]["message"])
