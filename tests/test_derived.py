"""Blocking behaviour derived from installed libraries' sources (``project/derived.py``).

Every test reads a fixture site-packages folder of small fake libraries written here;
``sys.path`` is pinned to it and the standard library, so nothing of the real
environment is read (tests pin the environment they read).
"""

from __future__ import annotations

import os
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from sightlint import api
from sightlint.project.blocking import CATALOG, ENTRIES
from sightlint.project.derived import MAX_DEPTH, Deriver
from sightlint.project.thirdparty import ThirdPartyClasses
from sightlint.seal import Seal
from sightlint.settings import Settings

_DEEP = "\n".join(f"def _d{i}():\n    return _d{i + 1}()\n" for i in range(MAX_DEPTH + 2))

LIBS = {
    "fakesdk/__init__.py": """
        from .client import Client, fetch, Session
        from ._impl import spawn as public_spawn
        """,
    "fakesdk/_impl.py": """
        import subprocess

        def spawn(cmd):
            return subprocess.run(cmd)
        """,
    "fakesdk/client.py": """
        import socket
        import time
        from typing import Optional

        import requests


        class Transport:
            def send(self, data):
                conn = socket.create_connection(("example.org", 443))
                return conn


        class Base:
            def _wait(self):
                time.sleep(1)

            def ping(self):
                self._wait()


        class Session:
            def __init__(self, transport: Optional[Transport] = None):
                self.transport = transport or Transport()


        class Client(Base):
            def __init__(self):
                self.transport = Transport()
                self._send = self.transport.send

            def post(self, data):
                return self.transport.send(data)

            def post_bound(self, data):
                return self._send(data)

            def get(self, url):
                return requests.get(url)

            async def apost(self, data):
                return data

            def acreate(self, data):
                return self.apost(data)

            def build_request(self, data):
                return {"data": data, "headers": dict()}

            def safe(self):
                try:
                    return 1
                except OSError:
                    time.sleep(1)

            def retry(self, response):
                if response.status == 429:
                    time.sleep(1)
                return response

            def local_or_remote(self, path=None):
                if path is not None:
                    return socket.create_connection(("db", 1))
                return None

            def dynamic(self, name):
                return getattr(self, name)()

            def deep(self):
                return _d0()

            def stream(self):
                yield socket.create_connection(("example.org", 443))

            def lazy(self):
                from ._impl import spawn

                return spawn(["true"])

            def via_session(self):
                return Session().transport.send(b"")


        def fetch(url):
            return requests.get(url)


        class Prompt:
            def invoke(self, data):
                return data

            def __or__(self, other):
                return Chain()


        class Chain:
            def invoke(self, data):
                return requests.post("https://example.org", json=data)


        def pull(include_model=False):
            prompt = Prompt()
            if include_model:
                prompt = Chain()
            return prompt


        def pull_either(include_model=False):
            if include_model:
                return Chain()
            return Prompt()
        """,
    "seeded/__init__.py": """
        import requests


        class Client:
            def send(self, data):
                return data

            def chat(self, data):
                return self.send(data)

            def maybe(self, nested):
                if self.nested:
                    self.send(b"")


        def build():
            return requests.get("https://example.org")
        """,
    "compiledsdk/__init__.py": """
        from ._speedups import connect
        """,
    "compiledsdk/_speedups.cpython-311-x86_64-linux-gnu.so": "",
}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture site-packages folder, the only one besides the stdlib on ``sys.path``."""
    folder = tmp_path / "site-packages"
    for name, text in LIBS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(text)
        if name == "fakesdk/client.py":
            text += f"\n\n{_DEEP}\n\ndef _d{MAX_DEPTH + 2}():\n    time.sleep(1)\n"
        path.write_text(text, encoding="utf-8")
    (folder / "fakesdk-1.2.3.dist-info").mkdir()
    (folder / "fakesdk-1.2.3.dist-info" / "top_level.txt").write_text("fakesdk\n", encoding="utf-8")
    import pathspec  # noqa: F401  (sightlint's own lazy import, made before the path is pinned)

    stdlib = [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]]
    dynload = [p for p in sys.path if p.endswith("lib-dynload")]
    monkeypatch.setattr(sys, "path", [str(folder), *stdlib, *dynload])
    return folder


def deriver(cache_dir: Path | None = None, seal: Seal | None = None) -> Deriver:
    classes = ThirdPartyClasses()
    prims = {name: entry.category for name, entry in ENTRIES.items() if entry.primitive}
    return Deriver(prims, classes.sources, classes.ancestors, cache_dir=cache_dir, seal=seal)


@pytest.mark.parametrize(
    ("name", "primitive", "chain"),
    [
        ("fakesdk.Client().ping", "time.sleep", ["fakesdk.client.Base.ping", "fakesdk.client.Base._wait"]),
        ("fakesdk.Client().post", "socket.create_connection", ["fakesdk.client.Client.post", "fakesdk.client.Transport.send"]),
        ("fakesdk.Client().post_bound", "socket.create_connection", ["fakesdk.client.Client.post_bound", "fakesdk.client.Transport.send"]),
        ("fakesdk.Client().get", "requests.get", ["fakesdk.client.Client.get"]),
        ("fakesdk.fetch", "requests.get", ["fakesdk.client.fetch"]),
        ("fakesdk.public_spawn", "subprocess.run", ["fakesdk._impl.spawn"]),
        ("fakesdk.client.Client().via_session", "socket.create_connection", ["fakesdk.client.Client.via_session", "fakesdk.client.Transport.send"]),
        ("fakesdk.Client().lazy", "subprocess.run", ["fakesdk.client.Client.lazy", "fakesdk._impl.spawn"]),
        ("fakesdk.client.Chain().invoke", "requests.post", ["fakesdk.client.Chain.invoke"]),
    ],
    ids=["inherited-method-sleep", "class-attribute", "bound-method-attribute", "requests", "re-export", "re-export-renamed-subprocess", "annotated-or-default", "function-local-import", "module-function"],
)
def test_a_chain_to_a_catalogued_primitive_blocks(site: Path, name: str, primitive: str, chain: list[str]) -> None:
    found = deriver().derive(name)
    assert found is not None
    assert (found.primitive, list(found.chain)) == (primitive, chain)
    assert found.category == CATALOG[primitive]
    assert found.distribution == "fakesdk 1.2.3"
    assert f"reaches `{primitive}`" in found.explain(name) and "derived from fakesdk 1.2.3 source" in found.explain(name)


@pytest.mark.parametrize(
    "name",
    [
        "fakesdk.Client().apost",  # async def: awaited, it does not block
        "fakesdk.Client().acreate",  # returns a coroutine
        "fakesdk.Client().build_request",  # only builds a request
        "fakesdk.Client().safe",  # blocks only in an except handler
        "fakesdk.Client().retry",  # a back-off sleep under a condition
        "fakesdk.Client().local_or_remote",  # which branch runs depends on the arguments
        "fakesdk.Client().dynamic",  # dynamic dispatch
        "fakesdk.Client().deep",  # deeper than MAX_DEPTH
        "fakesdk.Client().stream",  # a generator: calling it runs nothing
        "fakesdk.Client().missing",
        "fakesdk.client.pull().invoke",  # a local that holds a Prompt or a Chain: unknown
        "fakesdk.client.pull_either().invoke",  # returns a Prompt or a Chain: unknown
        "compiledsdk.connect",  # a compiled module only
        "notinstalled.Client().get",
        "json.loads",  # the standard library beyond its catalogued primitives
    ],
)
def test_what_cannot_be_shown_to_block_is_not_derived(site: Path, name: str) -> None:
    assert deriver().derive(name) is None


def test_the_depth_limit_is_the_only_thing_that_hides_the_deep_chain(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sightlint.project.derived as derived

    monkeypatch.setattr(derived, "MAX_DEPTH", MAX_DEPTH + 6)
    found = deriver().derive("fakesdk.Client().deep")
    assert found is not None and found.primitive == "time.sleep"


def test_answers_are_reused_sealed_and_tied_to_the_environment(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "user-cache"
    seal = Seal(b"k" * 32)
    first = deriver(cache, seal)
    assert first.derive("fakesdk.Client().post") is not None
    assert first.derive("fakesdk.Client().build_request") is None
    first.save()
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].name.startswith("derived-blocking-")

    # Reused: a second run answers without reading any source.
    second = deriver(cache, seal)
    real = Deriver._derive
    monkeypatch.setattr(Deriver, "_derive", lambda self, name: pytest.fail(f"derived {name} again"))
    assert second.derive("fakesdk.Client().post") is not None
    assert second.derive("fakesdk.Client().build_request") is None

    # A file not sealed under this key is not decoded: the answers are derived again.
    forged = deriver(cache, Seal(b"x" * 32))
    calls: list[str] = []
    monkeypatch.setattr(Deriver, "_derive", lambda self, name: calls.append(name) or real(self, name))
    assert forged.derive("fakesdk.Client().post") is not None
    assert calls == ["fakesdk.Client().post"]


def test_an_environment_change_invalidates_the_answers(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "user-cache"
    seal = Seal(b"k" * 32)
    first = deriver(cache, seal)
    assert first.derive("fakesdk.Client().post") is not None
    first.save()
    # "Upgrading" the library: the method no longer blocks, and the folder's state changes.
    client = site / "fakesdk" / "client.py"
    client.write_text(client.read_text(encoding="utf-8").replace("return self.transport.send(data)", "return data"), encoding="utf-8")
    (site / "fakesdk-1.2.3.dist-info").rename(site / "fakesdk-1.2.4.dist-info")
    stamp = os.stat(site).st_mtime_ns
    os.utime(site, ns=(stamp + 10**9, stamp + 10**9))
    second = deriver(cache, seal)
    assert second.derive("fakesdk.Client().post") is None
    second.save()
    assert len(list(cache.iterdir())) == 2  # one file per environment


def test_a_forged_cache_file_is_ignored(site: Path, tmp_path: Path) -> None:
    import marshal

    cache = tmp_path / "user-cache"
    seal = Seal(b"k" * 32)
    made = deriver(cache, seal)
    made.derive("fakesdk.Client().build_request")
    made.save()
    (path,) = cache.iterdir()
    # Someone writes "build_request blocks" without the key.
    body = marshal.dumps((2, "x", "y", {"fakesdk.Client().build_request": ("network", "requests.get", ("a",), "fakesdk")}))
    path.write_bytes(b"\x00sightlint-sealed\x01" + b"\x00" * 32 + body)
    assert deriver(cache, seal).derive("fakesdk.Client().build_request") is None


APP = """
from fastapi import FastAPI
import fakesdk

app = FastAPI()
client = fakesdk.Client()


@app.get("/a")
async def a():
    return client.post(b"x")


@app.get("/b")
async def b():
    return client.build_request(b"x")


@app.get("/c")
async def c():
    return await client.apost(b"x")


def helper():
    return fakesdk.fetch("https://example.org")


@app.get("/d")
async def d():
    return helper()
"""


def test_sl101_reports_derived_calls_with_their_chain(site: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text(APP, encoding="utf-8")
    settings = Settings(select=("SL101",))
    cold = api.check_paths([project], settings, cwd=project, jobs=1, use_cache=False).findings
    by_line = {f.span.line: f for f in cold}
    assert sorted(by_line) == [11, 25]
    post = by_line[11]
    assert post.severity.name == "CRITICAL"
    assert "(network I/O)" in post.message
    assert "`fakesdk.Client.post` blocks: it reaches `socket.create_connection` through `fakesdk.client.Transport.send`" in post.message
    assert "derived from fakesdk 1.2.3 source" in post.message
    assert "fakesdk.client.Client.post -> fakesdk.client.Transport.send -> socket.create_connection" in (post.detail or "")
    assert "`fakesdk.fetch` blocks: it reaches `requests.get`" in by_line[25].message
    from sightlint.rules.blocking_call_in_async import _THREAD_TITLE

    assert post.fix_title == _THREAD_TITLE  # moved into a thread: the library's async twin is not known
    # Identical with the project cache, cold and warm, and with derivation turned off: none.
    cache = tmp_path / "cache"
    for _ in range(2):
        warm = api.check_paths([project], settings, cwd=project, jobs=1, cache_dir=cache).findings
        assert [(f.span.line, f.message, f.severity) for f in warm] == [(f.span.line, f.message, f.severity) for f in cold]
    from sightlint.rules.blocking_call_in_async import BlockingOptions

    off = Settings(select=("SL101",), rule_options={"blocking-call-in-async": BlockingOptions(derive=False)})
    assert api.check_paths([project], off, cwd=project, jobs=1, use_cache=False).findings == []


def test_a_catalogued_library_is_read_only_on_its_catalogued_classes(site: Path) -> None:
    classes = ThirdPartyClasses()
    prims = {name: entry.category for name, entry in ENTRIES.items() if entry.primitive}
    prims["seeded.Client().send"] = "network"  # the catalogue describes ``seeded``
    made = Deriver(prims, classes.sources, classes.ancestors)
    found = made.derive("seeded.Client().chat")  # a method the catalogue does not name
    assert found is not None and found.primitive == "seeded.Client().send"
    assert made.derive("seeded.build") is None  # its helpers are what the catalogue says: nothing
    assert made.derive("seeded.Client().maybe") is None  # its own methods only unconditionally
    assert deriver().derive("seeded.build") is not None  # not catalogued: read like any library
