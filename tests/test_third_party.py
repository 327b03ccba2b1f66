"""Calls on instances of installed classes that derive from catalogued blocking ones.

The installed packages are fakes written to a temporary ``site-packages`` folder put on
``sys.path`` for the test: astroid reads them from source; nothing may be imported.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from sightlint import api
from sightlint.project import thirdparty
from sightlint.project.blocking import Catalog
from sightlint.settings import Settings

SETTINGS = Settings(select=("SL101",))

FAKES = {
    # A stand-in for requests, so the test does not depend on what is installed.
    "requests/__init__.py": "from .sessions import Session, session\n",
    "requests/sessions.py": "class SessionRedirectMixin:\n    pass\n\n\n"
    "class Session(SessionRedirectMixin):\n    def get(self, url):\n        return url\n\n\n"
    "def session():\n    return Session()\n",
    "oauthish/__init__.py": "from oauthish.client import OAuthSession, Plain\n",
    "oauthish/client.py": "import requests\n\n\nclass OAuthSession(requests.Session):\n    pass\n\n\n"
    "class Plain:\n    def get(self, key):\n        return key\n",
    "langchain_core/__init__.py": "",
    "langchain_core/language_models/__init__.py": "from langchain_core.language_models.chat_models import BaseChatModel\n",
    "langchain_core/language_models/chat_models.py": "class BaseChatModel:\n    def invoke(self, text):\n        return text\n",
    "chat_fake/__init__.py": "from langchain_core.language_models import BaseChatModel\n\n\n"
    "class ChatFake(BaseChatModel):\n    pass\n\n\nclass Tokenizer:\n    def invoke(self, text):\n        return text\n",
}

APP = (
    "from oauthish import OAuthSession, Plain\n"
    "from chat_fake import ChatFake, Tokenizer\n"
    "from not_installed_anywhere import Client\n"
    "\n"
    "\n"
    "async def fetch(url):\n"
    "    return OAuthSession().get(url)\n"  # 7: a requests.Session
    "\n"
    "\n"
    "async def lookup(key):\n"
    "    return Plain().get(key)\n"  # 11: same method name, unrelated class
    "\n"
    "\n"
    "async def ask(text):\n"
    "    return ChatFake().invoke(text)\n"  # 15: a BaseChatModel
    "\n"
    "\n"
    "async def tokens(text):\n"
    "    return Tokenizer().invoke(text)\n"  # 19: unrelated
    "\n"
    "\n"
    "async def unknown(url):\n"
    "    return Client().get(url)\n"  # 23: not installed
)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site-packages"
    for name, text in FAKES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    return root


def _run(tmp_path: Path, source: str = APP, **kw: Any) -> list[tuple[int, str]]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "app.py").write_text(source, encoding="utf-8")
    result = api.check_paths([project], SETTINGS, cwd=project, jobs=1, cache_dir=tmp_path / "cache", **kw)
    assert not result.errors and not result.internal_errors
    return [(f.line, f.message) for f in result.findings]


def test_instances_of_installed_subclasses_of_blocking_classes_are_found(site: Path, tmp_path: Path) -> None:
    found = _run(tmp_path, use_cache=False)
    assert [line for line, _ in found] == [7, 15]
    assert "network I/O" in found[0][1] and "sync LLM call" in found[1][1]
    for fake in ("oauthish", "chat_fake"):  # names no other installed code would import
        assert fake not in sys.modules, f"{fake} was imported"


def test_answers_are_cached_and_asked_again_when_the_environment_changes(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = _run(tmp_path)
    assert (tmp_path / "cache" / thirdparty.FILE_NAME).is_file()
    asked: list[str] = []
    real = thirdparty.ThirdPartyClasses._resolve

    def counting(self: thirdparty.ThirdPartyClasses, name: str) -> Any:
        asked.append(name)
        return real(self, name)

    monkeypatch.setattr(thirdparty.ThirdPartyClasses, "_resolve", counting)
    assert _run(tmp_path, APP + "\n# edited\n") == cold
    assert asked == [], "answered from the cache folder"
    # Installing a package (here: a new folder on sys.path) is a new environment.
    monkeypatch.syspath_prepend(str(tmp_path / "another-site"))
    assert _run(tmp_path, APP + "\n# edited again\n") == cold
    # The receivers met in the code, and the catalogued classes they are compared with.
    assert {"chat_fake.ChatFake", "chat_fake.Tokenizer", "not_installed_anywhere.Client", "oauthish.OAuthSession", "oauthish.Plain", "requests.Session"} <= set(asked)


def test_without_the_packages_nothing_is_reported(tmp_path: Path) -> None:
    assert _run(tmp_path, use_cache=False) == []


def test_only_catalogued_methods_on_plain_instances_are_candidates() -> None:
    catalog = Catalog()
    assert catalog.may_inherit("oauthish.OAuthSession().get")
    assert catalog.may_inherit("chat_fake.ChatFake().invoke")
    assert not catalog.may_inherit("oauthish.OAuthSession().frobnicate")
    assert not catalog.may_inherit("oauthish.make()().get")  # not a direct instance
    assert not catalog.may_inherit("oauthish.get")


def test_a_damaged_answer_file_is_ignored(site: Path, tmp_path: Path) -> None:
    cold = _run(tmp_path)
    (tmp_path / "cache" / thirdparty.FILE_NAME).write_bytes(b"\x00garbage")
    assert _run(tmp_path, APP + "\n# edited\n") == cold


LEXICAL = {
    "lex/__init__.py": "from .impl import Child as PublicChild\n\ntry:\n    from .impl import Late\nexcept ImportError:\n    Late = None\n",
    "lex/base.py": "from typing import Generic, TypeVar\n\nT = TypeVar('T')\n\n\nclass Root:\n    pass\n\n\nclass Base(Root, Generic[T]):\n    pass\n\n\nAlias = Base\n",
    "lex/impl.py": "import lex.base as b\nfrom lex import base\n\n\nclass Child(b.Alias[int]):\n    pass\n\n\nclass Late(base.Root):\n    pass\n\n\n"
    "class Loop1(Loop2):\n    pass\n\n\nclass Loop2(Loop1):\n    pass\n\n\nclass Plain(Exception):\n    pass\n",
    "lazy/__init__.py": "def __getattr__(name):\n    raise AttributeError(name)\n",
}


def test_installed_sources_are_followed_lexically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "site"
    for name, text in LEXICAL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    classes = thirdparty.ThirdPartyClasses()
    # A relative re-export under another name, an ``import ... as`` alias, a module-level
    # alias and a subscripted generic base.
    assert classes.ancestors("lex.PublicChild") == ("lex.impl.Child", "lex.base.Base", "lex.base.Root", "typing.Generic")
    assert classes.ancestors("lex.Late") == ("lex.impl.Late", "lex.base.Root")  # bound inside try:
    assert classes.ancestors("lex.impl.Loop1") == ("lex.impl.Loop1", "lex.impl.Loop2")  # a cycle ends
    assert classes.ancestors("lex.impl.Plain") == ("lex.impl.Plain", "builtins.Exception")
    assert classes.ancestors("lazy.Anything") is None  # a module __getattr__ is not run
    assert classes.ancestors("lex.base.T") is None  # not a class
    assert classes.ancestors("lex.missing.Thing") is None
    assert "lex" not in sys.modules and "lazy" not in sys.modules
