"""SL401-SL404 beyond their examples: version handling read from the project's files,
messages that say which timeout a client has, and the same findings with a cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint import api
from sightlint.cli import main
from sightlint.project.pins import find_pin, parse_specifier
from sightlint.settings import Settings

EMBEDDINGS = """\
from langchain_google_genai import GoogleGenerativeAIEmbeddings

EMBEDDING_MODEL = "gemini-embedding-001"

def build():
    return GoogleGenerativeAIEmbeddings(model=EMBEDDING_MODEL)
"""


def _findings(root: Path, *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["check", "--no-cache", "--format", "json", "--select", "SL404", *args, str(root)])
    assert result.exit_code in (0, 1), result.output
    return list(json.loads(result.output)["findings"])


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "app" / "embed.py").write_text(EMBEDDINGS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("file", "text", "severity"),
    [
        ("requirements.txt", "langchain-google-genai>=2.0.0,<3.0.0\n", "critical"),
        ("requirements.txt", "langchain-google-genai==2.1.7\n", "critical"),
        ("requirements.txt", "langchain_google_genai<2.2  # old\n", "critical"),
        ("requirements.txt", "langchain-google-genai>=2.1.8\n", None),
        ("pyproject.toml", '[project]\nname = "x"\ndependencies = ["langchain-google-genai~=2.1.9"]\n', None),
        ("pyproject.toml", '[tool.poetry.dependencies]\nlangchain-google-genai = "^2.0"\n', "critical"),
        ("poetry.lock", '[[package]]\nname = "langchain-google-genai"\nversion = "2.1.12"\n', None),
        ("uv.lock", '[[package]]\nname = "langchain-google-genai"\nversion = "2.0.4"\n', "critical"),
        ("requirements.txt", "fastapi\n", "high"),
    ],
)
def test_severity_follows_the_projects_requirement(project: Path, file: str, text: str, severity: str | None) -> None:
    (project / file).write_text(text, encoding="utf-8")
    found = _findings(project)
    assert [f["severity"] for f in found] == ([severity] if severity else [])
    if found:
        assert found[0]["path"].endswith("app/embed.py") and found[0]["line"] == 3  # type: ignore[union-attr]


def test_a_lock_file_wins_over_the_range(project: Path) -> None:
    (project / "requirements.txt").write_text("langchain-google-genai>=2.0\n", encoding="utf-8")
    (project / "poetry.lock").write_text('[[package]]\nname = "langchain-google-genai"\nversion = "2.1.10"\n', encoding="utf-8")
    assert _findings(project) == []


def test_fixed_versions_are_low_when_asked(project: Path) -> None:
    (project / "requirements.txt").write_text("langchain-google-genai>=2.1.8\n", encoding="utf-8")
    (project / "pyproject.toml").write_text(
        "[tool.sightlint.rules.gemini-model-name-format]\nonly-affected-versions = false\n", encoding="utf-8"
    )
    found = _findings(project)
    assert [f["severity"] for f in found] == ["low"]
    assert "harmless" in str(found[0]["message"])


def test_the_pin_is_never_read_from_the_environment(tmp_path: Path) -> None:
    # Nothing in the folder: no pin, whatever is installed where sightlint runs.
    assert find_pin("langchain-google-genai", tmp_path, tmp_path) is None


@pytest.mark.parametrize(
    ("spec", "affected"),
    [(">=2.0.0,<3.0.0", True), ("==2.1.7", True), (">=2.1.8", False), ("^2.1", True), ("~=2.1.8", False), ("", True), ("2.1.9", False)],
)
def test_specifiers(spec: str, affected: bool) -> None:
    pin = parse_specifier(spec, "f", spec)
    assert pin is not None and pin.admits_below((2, 1, 8)) is affected


def _sl401(sources: dict[str, str]) -> list[str]:
    run = api.check_sources(sources, Settings(select=("SL401",)))
    return [f.message for r in run.files for f in r.findings if f.code == "SL401"]


def test_a_factory_passing_the_callers_timeout_through() -> None:
    clients = (
        "from langchain_openai import ChatOpenAI\n\n"
        "def build(model, timeout=None, **extra):\n"
        "    params = {'model': model}\n"
        "    if timeout is not None:\n"
        "        params['timeout'] = timeout\n"
        "    params.update(extra)\n"
        "    return ChatOpenAI(**params)\n"
    )
    use = (
        "from app.clients import build\n\n"
        "class A:\n"
        "    def __init__(self, cfg):\n"
        "        self.configured = build(**cfg.params)\n"
        "        self.explicit = build('m', timeout=45)\n"
        "        self.bare = build('m')\n\n"
        "    async def go(self):\n"
        "        await self.configured.ainvoke('a')\n"
        "        await self.explicit.ainvoke('b')\n"
        "        await self.bare.ainvoke('c')\n"
    )
    messages = _sl401({"app/clients.py": clients, "app/use.py": use})
    assert len(messages) == 3
    configured, explicit, bare = messages
    assert "from configuration" in configured and "only an HTTP client timeout" in configured
    assert "45 s" in explicit
    assert "no timeout anywhere" in bare


def test_google_genai_http_options_are_milliseconds() -> None:
    source = (
        "from google import genai\nfrom google.genai import types\n\n"
        "async def ask(p):\n"
        "    client = genai.Client(http_options=types.HttpOptions(timeout=30))\n"
        "    return await client.aio.models.generate_content(model='gemini-2.5-flash', contents=p)\n"
    )
    [message] = _sl401({"example.py": source})
    assert "milliseconds" in message and "0.03 s" in message


def test_accept_client_timeout(tmp_path: Path) -> None:
    from sightlint.rules.llm_call_without_deadline import DeadlineOptions

    source = (
        "from langchain_openai import ChatOpenAI\n\n"
        "async def a(q):\n    return await ChatOpenAI(timeout=30).ainvoke(q)\n\n"
        "async def b(q):\n    return await ChatOpenAI().ainvoke(q)\n"
    )
    settings = Settings(select=("SL401",), rule_options={"llm-call-without-deadline": DeadlineOptions(accept_client_timeout=True)})
    run = api.check_sources({"example.py": source}, settings)
    lines = [f.span.line for r in run.files for f in r.findings if f.code == "SL401"]
    assert lines == [7]


REPLICA = Path(__file__).resolve().parent.parent / "fixtures" / "sight_app"


def test_same_findings_with_and_without_the_cache(tmp_path: Path) -> None:
    settings = Settings(select=("SL401", "SL402", "SL403", "SL404"))

    def run(use_cache: bool) -> list[tuple[str, str, int, int, str, str]]:
        result = api.check_paths([REPLICA], settings, use_cache=use_cache, cache_dir=tmp_path / "cache", project=False)
        return sorted(
            (f.code, f.path, f.span.line, f.span.col, f.severity.value if hasattr(f.severity, "value") else str(f.severity), f.message)
            for r in result.files
            for f in r.findings
        )

    cold = run(False)
    assert {code for code, *_ in cold} == {"SL401", "SL402", "SL403", "SL404"}
    assert run(True) == cold  # fills the cache
    assert run(True) == cold  # served from it


def test_a_project_module_named_like_a_package_does_not_hide_it() -> None:
    # letta/schemas/openai/openai.py in a namespace folder is module ``openai`` to the model.
    shadow = "class ChatCompletionRequest:\n    pass\n"
    client = (
        "from openai import AsyncOpenAI\n\n"
        "async def ask(messages):\n"
        "    client = AsyncOpenAI()\n"
        "    return await client.chat.completions.create(model='gpt-4o', messages=messages)\n"
    )
    run = api.check_sources(
        {"schemas/openai/openai.py": shadow, "app/llm.py": client},
        Settings(select=("SL401", "SL101")),
        modules={"schemas/openai/openai.py": "openai", "app/llm.py": "app.llm"},
    )
    assert not run.errors
    found = [(f.code, f.path, f.span.line) for r in run.files for f in r.findings]
    assert found == [("SL401", "app/llm.py", 5)]


def test_a_warm_run_sees_an_edited_requirement(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.mktemp("cache")
    requirements = project / "requirements.txt"
    requirements.write_text("langchain-google-genai==2.1.7\n", encoding="utf-8")

    def severities() -> list[object]:
        result = CliRunner().invoke(
            main, ["check", "--format", "json", "--select", "SL404", "--cache-dir", str(cache), str(project)]
        )
        return [f["severity"] for f in json.loads(result.output)["findings"]]

    assert severities() == ["critical"]
    assert severities() == ["critical"]  # from the run snapshot
    requirements.write_text("langchain-google-genai==2.1.9\n", encoding="utf-8")
    assert severities() == []


def test_a_client_handed_to_a_constructor_is_followed() -> None:
    source = (
        "from langchain_anthropic import ChatAnthropic\n"
        "from langchain_core.language_models import BaseChatModel\n\n"
        "class Endpoint:\n"
        "    def __init__(self, llm: BaseChatModel):\n"
        "        self._llm = llm\n\n"
        "    @classmethod\n"
        "    def build(cls):\n"
        "        client = ChatAnthropic(model='claude-haiku-4-5', timeout=None)\n"
        "        return cls(llm=client)\n\n"
        "    async def ask(self, q):\n"
        "        return await self._llm.ainvoke(q)\n"
    )
    [message] = _sl401({"example.py": source})
    assert "no timeout anywhere" in message and "timeout=None" in message


def test_init_chat_model_clients() -> None:
    source = (
        "import asyncio\nfrom langchain.chat_models import init_chat_model\n\n"
        "class G:\n"
        "    def __init__(self):\n"
        "        self.llm = init_chat_model(model='gpt-4o', temperature=0)\n\n"
        "    async def bounded(self, p):\n"
        "        return await asyncio.wait_for(self.llm.ainvoke(p), timeout=5)\n\n"
        "    async def unbounded(self, p):\n"
        "        return await self.llm.ainvoke(p)\n"
    )
    run = api.check_sources({"example.py": source}, Settings(select=("SL401",)))
    assert [f.span.line for r in run.files for f in r.findings] == [12]
