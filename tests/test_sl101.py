"""SL101 on the multi-module fixture packages under ``fixtures/SL101``.

Each package is checked as a project of its own (module names come from its
``__init__.py`` files). Findings must sit exactly on the ``# expect: SL101`` lines and
name the expected shortest chain; stripping ``async``/``await`` silences the rule.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sightlint import api
from sightlint.files import module_name
from sightlint.models import Finding
from sightlint.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "SL101"
PACKAGES = sorted(p.name for p in FIXTURES.iterdir() if (p / "__init__.py").is_file())
SETTINGS = Settings(select=("SL101",))

CHAINS = {
    "deep_chain": {
        ("deep_chain/retry.py", 6): "handler (deep_chain/api.py:4) → build_service (deep_chain/services/factory.py:9)"
        " → Store.__init__ (deep_chain/store.py:5) → Store._connect (deep_chain/store.py:8)"
        " → with_retry (deep_chain/retry.py:4) → _t.sleep (6)",
    },
    "cycles": {
        ("cycles/b.py", 7): "start (cycles/a.py:14) → ping (cycles/a.py:4) → pong (cycles/b.py:6) → time.sleep (7)",
    },
    "methods": {
        ("methods/base.py", 6): "other (methods/api.py:10) → Annotated.load (methods/service.py:23)"
        " → Client.fetch (methods/base.py:5) → requests.get (6)",
        ("methods/decorators.py", 15): "route (methods/api.py:5) → audit (methods/decorators.py:14) → subprocess.run (15)",
    },
    "callbacks": {
        ("callbacks/probe.py", 11): "probe (callbacks/probe.py:8) → probe.check (callbacks/probe.py:9)"
        " [passed to retry] → driver.verify_connectivity (11)",
        ("callbacks/probe.py", 19): "render (callbacks/probe.py:17) → render.convert (callbacks/probe.py:18) → os.system (19)",
        ("callbacks/retry.py", 9): "probe (callbacks/probe.py:8) → retry (callbacks/retry.py:4) → time.sleep (9)",
    },
    "offloaded": {},
    "sync_only": {},
    "flags": {
        ("flags/loader.py", 24): "refresh (flags/api.py:16) → fetch (flags/loader.py:21) → time.sleep (24)",
        ("flags/loader.py", 32): "preload (flags/api.py:21) → warm (flags/loader.py:28) → time.sleep (32)",
        ("flags/loader.py", 40): "get_report (flags/api.py:26) → report (flags/loader.py:36) → time.sleep (40)",
        ("flags/loader.py", 47): "get_spread (flags/api.py:31) → spread (flags/loader.py:44) → time.sleep (47)",
    },
    "contexts": {
        ("contexts/helpers.py", 5): "items (contexts/app.py:22) → backoff (contexts/helpers.py:4) → time.sleep (5)",
        ("contexts/helpers.py", 9): "lifespan (contexts/app.py:11) → read_settings (contexts/helpers.py:8) → open (9)",
        ("contexts/helpers.py", 14): "refresh (contexts/app.py:30) → wait_for_db (contexts/helpers.py:13) → time.sleep (14)",
        ("contexts/helpers.py", 26): "lifespan (contexts/app.py:11) → warm_up (contexts/helpers.py:25) → time.sleep (26)",
    },
}


def _sources(package: str, transform=lambda text: text) -> tuple[dict[str, str], dict[str, str | None]]:
    sources, modules = {}, {}
    for path in sorted((FIXTURES / package).rglob("*.py")):
        display = path.relative_to(FIXTURES).as_posix()
        sources[display] = transform(path.read_text(encoding="utf-8"))
        modules[display] = module_name(path)
    return sources, modules


def _check(package: str, transform=lambda text: text) -> list[Finding]:
    sources, modules = _sources(package, transform)
    run = api.check_sources(sources, SETTINGS, modules=modules)
    assert not run.errors and not run.internal_errors
    return [f for f in run.findings if f.code == "SL101"]


def _expected_lines(package: str) -> set[tuple[str, int]]:
    out = set()
    sources, _ = _sources(package)
    for display, text in sources.items():
        for number, line in enumerate(text.splitlines(), 1):
            if "# expect: SL101" in line:
                out.add((display, number))
    return out


def test_every_package_is_covered() -> None:
    assert set(PACKAGES) == set(CHAINS)


@pytest.mark.parametrize("package", PACKAGES)
def test_findings_exactly_at_expect_markers(package: str) -> None:
    found = {(f.path, f.line) for f in _check(package)}
    assert found == _expected_lines(package)
    assert found == set(CHAINS[package])


@pytest.mark.parametrize("package", PACKAGES)
def test_shortest_chain_is_named(package: str) -> None:
    for finding in _check(package):
        chain = CHAINS[package][(finding.path, finding.line)]
        assert finding.detail is not None and finding.detail.startswith(f"chain: {chain}")
        # The related locations walk the chain hop by hop and end at the blocking call.
        assert finding.related[-1].path == finding.path and finding.related[-1].line == finding.line
        assert len(finding.related) == chain.count("→")


def test_count_of_async_functions_reaching_a_site() -> None:
    (fetch,) = [f for f in _check("methods") if f.path.endswith("base.py")]
    assert fetch.detail is not None and "also reached from 1 more async function:" in fetch.detail
    assert "route (methods/api.py:5) → Cached.load" in fetch.detail
    assert "Service.load" in fetch.detail  # through super()


def test_file_io_is_one_level_below_in_async_code_no_entry_point_reaches() -> None:
    code = "import time\n\nasync def f(p):\n    open(p).read()\n    time.sleep(1)\n"
    run = api.check_sources({"m.py": code}, SETTINGS)
    assert [(f.line, f.severity.label) for f in run.findings] == [(4, "medium"), (5, "high")]
    assert run.findings[1].message == "`time.sleep` (sleep) blocks the event loop inside `async def f` (reached from no known entry point)."


def test_severity_follows_the_worst_context() -> None:
    found = {f.line: (f.severity.label, f.message) for f in _check("contexts")}
    assert found == {
        5: ("critical", "`time.sleep` (sleep) blocks the event loop while serving requests."),
        9: ("low", "`open` (file I/O) blocks the event loop, reached only at startup."),
        14: ("critical", "`time.sleep` (sleep) blocks the event loop while serving requests."),
        26: ("medium", "`time.sleep` (sleep) blocks the event loop, reached only at startup."),
    }
    (both,) = [f for f in _check("contexts") if f.line == 14]
    assert both.detail is not None and "\n- [startup] lifespan (contexts/app.py:11)" in both.detail
    # Every chain's files, the startup one's too, and the related locations walk the worst.
    assert set(both.chain_paths) == {"contexts/app.py", "contexts/helpers.py"}
    assert [r.line for r in both.related] == [31, 14]


def test_contexts_option_reports_tests_and_drops_startup() -> None:
    from sightlint.rules.blocking_call_in_async import BlockingCallInAsync

    options = BlockingCallInAsync.Options(contexts=("request", "test"))
    sources, modules = _sources("contexts")
    settings = Settings(select=("SL101",), rule_options={"blocking-call-in-async": options})
    found = {(f.path, f.line): (f.severity.label, f.message) for f in api.check_sources(sources, settings, modules=modules).findings}
    assert found == {
        ("contexts/helpers.py", 5): ("critical", "`time.sleep` (sleep) blocks the event loop while serving requests."),
        ("contexts/helpers.py", 14): ("critical", "`time.sleep` (sleep) blocks the event loop while serving requests."),
        ("contexts/helpers.py", 22): ("low", "`time.sleep` (sleep) blocks the event loop, reached only from tests."),
    }


def test_unknown_option_values_stop_the_run_and_list_the_valid_ones() -> None:
    from sightlint.config import ConfigError, rule_options

    with pytest.raises(ConfigError, match=r"contexts: unknown value 'requests' \(did you mean 'request'\?\) \(valid values: request, background, unknown, startup, script, test\)"):
        rule_options("blocking-call-in-async", {"contexts": ["requests"]})
    with pytest.raises(ConfigError, match=r"categories: unknown value 'slep'.*valid values: sleep, network"):
        rule_options("ineffective-timeout", {"categories": ["slep"]})
    with pytest.raises(ConfigError, match="unknown value 'thread'"):  # never on this loop
        rule_options("blocking-call-in-async", {"contexts": ["thread"]})


def test_a_misspelt_context_in_pyproject_exits_2(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sightlint.cli import main

    (tmp_path / "pyproject.toml").write_text('[tool.sightlint.rules.blocking-call-in-async]\ncontexts = ["request", "tests"]\n')
    (tmp_path / "m.py").write_text("x = 1\n")
    result = CliRunner().invoke(main, ["check", "--no-cache", str(tmp_path / "m.py")])
    assert result.exit_code == 2
    assert "unknown value 'tests' (did you mean 'test'?)" in result.output
    assert "valid values: request, background, unknown, startup, script, test" in result.output


def _strip_async(text: str) -> str:
    text = re.sub(r"\bawait\s+", "", text)
    return re.sub(r"\basync\s+(?=def|with|for)", "", text)


@pytest.mark.parametrize("package", PACKAGES)
def test_stripping_async_silences_the_rule(package: str) -> None:
    assert _check(package, _strip_async) == []


def test_categories_option_and_extra_calls() -> None:
    from sightlint.rules.blocking_call_in_async import BlockingCallInAsync

    code = "import time, mylib.net\n\nasync def f():\n    time.sleep(1)\n    mylib.net.fetch()\n"
    options = BlockingCallInAsync.Options(categories=("network",), extra_calls=("mylib.net.*",))
    settings = Settings(select=("SL101",), rule_options={"blocking-call-in-async": options})
    run = api.check_sources({"m.py": code}, settings)
    assert [f.line for f in run.findings] == [5]


def test_suppression_per_file_ignores_and_severity_override_apply() -> None:
    helper = "import time\n\ndef wait():\n    time.sleep(1)  # noqa: SL101\n\ndef nap():\n    time.sleep(1)\n"
    caller = "from pkg.helper import wait, nap\n\nasync def main():\n    wait()\n    nap()\n"
    sources = {"pkg/helper.py": helper, "pkg/main.py": caller}
    modules = {"pkg/helper.py": "pkg.helper", "pkg/main.py": "pkg.main"}
    run = api.check_sources(sources, SETTINGS, modules=modules)
    assert [(f.path, f.line) for f in run.findings] == [("pkg/helper.py", 7)]
    from sightlint.models import Severity

    override = Settings(select=("SL101",), severity={"SL101": Severity.MEDIUM})
    assert [f.severity for f in api.check_sources(sources, override, modules=modules).findings] == [Severity.MEDIUM]
    ignoring = Settings(select=("SL101",), per_file_ignores=(("pkg/helper.py", ("SL101",)),))
    assert api.check_sources(sources, ignoring, modules=modules).findings == []


def test_sight_replica_reports_the_retry_sleep_with_both_chains() -> None:
    replica = ROOT / "fixtures" / "sight_app"
    if not (replica / "app" / "services" / "rag" / "rag_clients.py").is_file():
        pytest.skip("replica not present")
    run = api.check_paths([replica / "app"], SETTINGS, cwd=replica, jobs=1, use_cache=False)
    sleeps = [f for f in run.findings if f.path.endswith("rag_clients.py") and "time.sleep" in f.message]
    assert len(sleeps) == 1
    text = sleeps[0].message + "\n" + (sleeps[0].detail or "")
    assert "_connect_with_retry" in text
    assert "get_vector_store" in text and "__init__" in text
    # The audit's §1: routes (the `/startup` probe, `generate_personas`) reach it.
    assert sleeps[0].severity.label == "critical" and sleeps[0].message.endswith("while serving requests.")


def test_an_awaited_call_is_never_blocking_and_the_fact_survives_the_cache(tmp_path: Path) -> None:
    """letta's ``await session.execute(...)`` on a parameter annotated ``session: Session``."""
    code = (
        "from sqlalchemy.orm import Session\n"
        "\n"
        "async def verify(session: Session):\n"
        "    await session.execute('select 1')\n"
        "    session.commit()\n"
    )
    (tmp_path / "m.py").write_text(code)
    found = []
    for use_cache in (False, True, True):
        run = api.check_paths([tmp_path / "m.py"], SETTINGS, cwd=tmp_path, jobs=1, cache_dir=tmp_path / "c", use_cache=use_cache)
        found.append([f.line for f in run.findings])
    assert found == [[5], [5], [5]]


def test_an_async_helper_in_tests_that_no_entry_point_reaches_is_test_code() -> None:
    helper = "import time\n\nasync def wait_for_run(client):\n    time.sleep(1)\n"
    cases = (
        ("tests/helpers/runs.py", []),
        ("cypress/e2e/data_layer/main.py", []),  # an app an end-to-end test drives
        ("app/runs.py", [("high", 4)]),
        ("app/e2e.py", [("high", 4)]),  # a module named e2e is no folder of tests
        ("app/e2e_crypto/runs.py", [("high", 4)]),
        ("cypress_app/runs.py", [("high", 4)]),
    )
    for path, expected in cases:
        run = api.check_sources({path: helper}, SETTINGS)
        assert [(f.severity.label, f.line) for f in run.findings] == expected, path


def test_a_flag_of_an_entry_point_or_of_library_code_keeps_its_branch() -> None:
    """A route's flag comes from the request, and a function no project code calls may be
    called with the flag on by code sightlint does not see: their branches are reported."""
    route = (
        "import time\nfrom fastapi import FastAPI\napp = FastAPI()\n\n"
        "@app.get('/direct')\nasync def direct(path: str, sync: bool = False) -> str:\n"
        "    if sync:\n        time.sleep(1)\n    return path\n"
    )
    library = "import time\n\nasync def load(path, sync=False):\n    if sync:\n        time.sleep(1)\n    return path\n"
    for source in (route, library):
        run = api.check_sources({"app/main.py": source}, SETTINGS, modules={"app/main.py": "app.main"})
        assert [f.line for f in run.findings if f.code == "SL101"] == [8 if source is route else 5]


def test_a_flag_turned_on_by_one_caller_of_several_keeps_its_branch() -> None:
    source = (
        "import time\nfrom fastapi import FastAPI\napp = FastAPI()\n\n"
        "async def load(path, sync=False):\n    if sync:\n        time.sleep(1)\n    return path\n\n"
        "@app.get('/a')\nasync def a(p: str):\n    return await load(p)\n\n"
        "@app.get('/b')\nasync def b(p: str):\n    return await load(p, sync=p.endswith('!'))\n"
    )
    run = api.check_sources({"app/main.py": source}, SETTINGS, modules={"app/main.py": "app.main"})
    assert [f.line for f in run.findings if f.code == "SL101"] == [7]
    quiet = source.replace("sync=p.endswith('!')", "sync=False")
    run = api.check_sources({"app/main.py": quiet}, SETTINGS, modules={"app/main.py": "app.main"})
    assert [f.line for f in run.findings if f.code == "SL101"] == []


def test_a_socketio_async_server_handler_serves_requests() -> None:
    """chainlit: `@sio.on("stop")` on a `socketio.AsyncServer` runs on the loop per event."""
    code = (
        "import time\nimport socketio\n{server}\n\n"
        "@sio.on('stop')\nasync def stop(sid):\n    time.sleep(1)\n"
    )
    for server, expected in (
        ("sio = socketio.AsyncServer(async_mode='asgi')", "critical"),
        ("sio = socketio.AsyncClient()", "high"),  # a client's handler: no request sightlint can place
        ("from events import sio", "high"),  # unknown object's `on`
    ):
        run = api.check_sources({"app/main.py": code.format(server=server)}, SETTINGS, modules={"app/main.py": "app.main"})
        assert [(f.severity.label, f.line) for f in run.findings if f.code == "SL101"] == [(expected, 7)], server


def test_an_annotated_module_global_a_getter_assigns_is_any_implementation_of_its_type() -> None:
    """chainlit's `_data_layer: Optional[BaseDataLayer]`, set in `get_data_layer()` from a
    user factory sightlint cannot see or one known class: a route's call on it may reach
    every project implementation (class-hierarchy analysis, as for a typed parameter)."""
    layers = (
        "import time\nclass Base:\n    async def load(self):\n        pass\n"
        "class Known(Base):\n    async def load(self):\n        pass\n"
        "class Slow(Base):\n    async def load(self):\n        time.sleep(1)\n"
    )
    head = "from typing import Optional\nfrom app.layers import Base, Known\nfrom app import config\n"
    lazy = (
        "def get_layer():\n    global _layer\n    if _layer is None:\n"
        "        if config.factory:\n            _layer = config.factory()\n"
        "        else:\n            _layer = Known()\n    return _layer\n"
    )
    route = "from fastapi import FastAPI\nfrom app.state import get_layer\napp = FastAPI()\n@app.get('/x')\nasync def x():\n    await get_layer().load()\n"
    getters = (
        (head + "_layer: Optional[Base] = None\n" + lazy, "critical"),
        (head + "_layer: 'Base | None' = None\n" + lazy, "critical"),
        (head + "_layer = None\n" + lazy, "high"),  # not annotated: only what is seen assigned
        # assigned before every read: only what the function assigned
        (head + "_layer: Optional[Base] = None\ndef get_layer():\n    global _layer\n    _layer = Known()\n    return _layer\n", "high"),
        # a local of the same name is not the global
        (head + "_layer: Optional[Base] = None\ndef get_layer():\n    _layer = Known()\n    return _layer\n", "high"),
    )
    for state, expected in getters:
        files = {"app/layers.py": layers, "app/state.py": state, "app/main.py": route}
        run = api.check_sources(files, SETTINGS, modules={p: p.removesuffix(".py").replace("/", ".") for p in files})
        assert [(f.severity.label, f.path, f.line) for f in run.findings if f.code == "SL101"] == [(expected, "app/layers.py", 10)], state
