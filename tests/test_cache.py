"""The result cache: warm runs match cold ones, re-check only what changed, never crash."""

from __future__ import annotations

import dataclasses
import json
import marshal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from click.testing import CliRunner

from sightlint.registry import enabled_rules
from sightlint import api, engine, runner
from sightlint.cache import Cache, default_directory, settings_fingerprint
from sightlint.cli import main
from sightlint.config import ConfigError
from sightlint.files import discover
from sightlint.models import Finding, Severity
from sightlint.registry import lookup
from sightlint.seal import HEAD_HEADER_SIZE, Seal, user_seal
from sightlint.settings import Settings
from sealing import indexed, logical, sealed

UTCNOW = "from datetime import datetime\n\n\ndef stamp():\n    return datetime.utcnow()\n"
CLEAN = "def add(a, b):\n    return a + b\n"
SETTINGS = Settings(select=("SL301",))


def make_project(root: Path, n: int = 6) -> Path:
    pkg = root / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for i in range(n):
        (pkg / f"mod{i}.py").write_text(UTCNOW if i % 2 == 0 else CLEAN)
    return root


class Counter:
    """Wraps ``engine.check_source`` to count how many files were really checked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real = engine.check_source

        def counting(source: Any, path: str, *args: Any, **kwargs: Any) -> Any:
            self.paths.append(path)
            return real(source, path, *args, **kwargs)

        monkeypatch.setattr(engine, "check_source", counting)


def run(root: Path, cache: Path, settings: Settings = SETTINGS, **kw: Any) -> list[Finding]:
    result = api.check_paths([root], settings, cwd=root, jobs=1, cache_dir=cache, **kw)
    assert not result.errors and not result.internal_errors
    return result.findings


def pack_of(cache: Path) -> Path:
    packs = list(cache.glob("results-*.pack"))
    assert len(packs) == 1, packs
    return packs[0]


def test_warm_run_gives_the_cold_findings_and_parses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, cache = make_project(tmp_path / "p"), tmp_path / "cache"
    cold = run(root, cache)
    assert [f.code for f in cold] == ["SL301"] * 3
    counter = Counter(monkeypatch)
    assert run(root, cache) == cold
    assert counter.paths == []
    assert run(root, cache, use_cache=False) == cold
    assert len(counter.paths) == 7


def test_editing_a_file_rechecks_only_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, cache = make_project(tmp_path / "p"), tmp_path / "cache"
    run(root, cache)
    (root / "pkg" / "mod1.py").write_text(UTCNOW)
    counter = Counter(monkeypatch)
    findings = run(root, cache)
    assert counter.paths == ["pkg/mod1.py"]
    assert sorted({f.path for f in findings}) == ["pkg/mod0.py", "pkg/mod1.py", "pkg/mod2.py", "pkg/mod4.py"]
    assert run(root, cache) == findings and counter.paths == ["pkg/mod1.py"]


def opened(path: Path) -> bytes:
    """The body of a file the cache sealed (under the test run's key)."""
    found = user_seal()
    assert isinstance(found, Seal), found
    data = path.read_bytes()
    if indexed(data):  # a pack: its logical form, once its head's seal checks out
        head = found.open_head(path)
        assert head is not None, f"{path} is not sealed under the test key"
        head[0].close()
        return logical(data)
    body = found.read(path)
    assert body is not None, f"{path} is not sealed under the test key"
    return body


def reseal(path: Path, body: bytes) -> None:
    """Put ``body`` in ``path`` under a valid seal: damage from within (a bug of ours),
    since no one without the key can seal anything."""
    found = user_seal()
    assert isinstance(found, Seal), found
    path.write_bytes(sealed(found, path.name, body, pack=path.suffix == ".pack"))


def _bad_entry(data: bytes) -> bytes:
    """A pack of the right shape with an entry of the wrong one; a run snapshot with a bad result."""
    if data.startswith(b"sightlint-run"):
        return data[:46] + marshal.dumps([("pkg/mod0.py", "not a list of findings")])
    return marshal.dumps((*marshal.loads(data)[:3], {("pkg/mod0.py", "pkg.mod0"): "x"}))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: path.write_bytes(b"not marshal data at all"), id="garbage"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]), id="truncated"),
        pytest.param(lambda path: path.write_bytes(b""), id="empty"),
        pytest.param(lambda path: reseal(path, marshal.dumps({"some": "dict"})), id="wrong-shape-sealed"),
        pytest.param(lambda path: reseal(path, _bad_entry(opened(path))), id="bad-entry-shape-sealed"),
        pytest.param(lambda path: reseal(path, opened(path)[:-9]), id="truncated-sealed"),
    ],
)
@pytest.mark.parametrize("snapshot", ["damaged", "removed", "kept"])
def test_a_corrupt_pack_is_ignored_and_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: Any, snapshot: str, request: pytest.FixtureRequest
) -> None:
    damage_id = request.node.callspec.id.split("-", 1)[1]
    root, cache = make_project(tmp_path / "p"), tmp_path / "cache"
    cold = run(root, cache)
    pack, run_file = pack_of(cache), run_of(cache)
    damage(pack)
    if snapshot == "damaged":
        damage(run_file)
    elif snapshot == "removed":
        run_file.unlink()
    assert run(root, cache) == cold
    (root / "pkg" / "mod1.py").write_text(UTCNOW)  # the snapshot no longer applies: the pack is read
    counter = Counter(monkeypatch)
    edited = run(root, cache)
    assert len(edited) == 4
    # The unchanged run rebuilt the pack unless the snapshot served it; then the pack is rebuilt now.
    everything = sorted(f"pkg/{p.name}" for p in (root / "pkg").iterdir())
    if snapshot != "kept":
        assert counter.paths == ["pkg/mod1.py"]
    elif damage_id == "truncated":  # the index survives: only the entries cut off are checked again
        assert "pkg/mod1.py" in counter.paths and set(counter.paths) < set(everything)
    else:
        assert counter.paths == everything
    assert run(root, cache) == edited
    (root / "pkg" / "mod1.py").write_text(CLEAN)
    counter.paths.clear()
    assert run(root, cache) == cold
    assert counter.paths == ["pkg/mod1.py"]  # rebuilt: warm again


def test_a_corrupt_entry_costs_only_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, cache = make_project(tmp_path / "p"), tmp_path / "cache"
    cold = run(root, cache)
    pack = pack_of(cache)
    fmt, token, tag, entries = marshal.loads(opened(pack))
    key = ("pkg/mod2.py", "pkg.mod2")
    entries[key] = (entries[key][0], b"\x80\x05garbage")
    reseal(pack, marshal.dumps((fmt, token, tag, entries)))
    run_of(cache).unlink()  # else the run snapshot serves the unchanged run without the pack
    counter = Counter(monkeypatch)
    assert run(root, cache) == cold
    assert counter.paths == ["pkg/mod2.py"]
    assert run(root, cache) == cold and counter.paths == ["pkg/mod2.py"]


def test_an_unchanged_run_reads_only_the_run_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, cache = make_project(tmp_path / "p"), tmp_path / "cache"
    cold = run(root, cache)
    pack_of(cache).write_bytes(b"unreadable")  # proves the pack is not needed
    counter = Counter(monkeypatch)
    monkeypatch.setattr(Cache, "get", lambda *a: pytest.fail("per-file lookup on an unchanged run"))
    assert run(root, cache) == cold
    assert counter.paths == []


def test_a_snapshot_serves_results_decoded_only_when_read(tmp_path: Path) -> None:
    """An unchanged run keeps each file's result encoded until it is read: a check of one
    file of the project decodes that file's result (and those whose chains pass through
    it), the exit code comes from what the snapshot says of each file."""
    from sightlint.cli import exit_code
    from sightlint.models import LazyFileResult

    root, cache = make_project(tmp_path / "p"), tmp_path / "cache"
    cold = run(root, cache)
    whole = api.check_paths([root], SETTINGS, cwd=root, jobs=1, cache_dir=cache)
    lazy = [r for r in whole.files if isinstance(r, LazyFileResult)]
    assert [r.path for r in lazy] == ["pkg/mod0.py", "pkg/mod2.py", "pkg/mod4.py"]  # the files with findings
    assert not any(r.decoded for r in lazy)
    assert exit_code(whole, SETTINGS) == 1 and not any(r.decoded for r in lazy)
    assert whole.findings == cold and all(r.decoded for r in lazy)
    one = api.check_paths([root / "pkg" / "mod2.py"], SETTINGS, cwd=root, jobs=1, cache_dir=cache)
    assert [r.path for r in one.files] == ["pkg/mod2.py"]
    assert one.findings == [f for f in cold if f.path == "pkg/mod2.py"]


def test_cached_results_can_be_handed_out_encoded(tmp_path: Path) -> None:
    """``Cache.get(..., damaged=...)``: results decoded on first read, the same as eager ones;
    an entry that does not decode gets what ``damaged`` gives."""
    from sightlint.models import FileResult, LazyFileResult

    root, folder = make_project(tmp_path / "p"), tmp_path / "cache"
    run(root, folder)
    files = discover([root], SETTINGS, cwd=root).files
    cache = Cache(folder, SETTINGS)
    digests = runner.contents(files)
    eager = [cache.get((f.display, f.module), d) for f, d in zip(files, digests)]
    assert all(r is not None and not isinstance(r, LazyFileResult) for r in eager)
    asked: list[str] = []

    def damaged(path: str) -> FileResult:
        asked.append(path)
        return FileResult(path)

    lazy = [Cache(folder, SETTINGS).get((f.display, f.module), d, damaged=damaged) for f, d in zip(files, digests)]
    assert all(isinstance(r, LazyFileResult) and not r.decoded for r in lazy)
    assert [r.worst() if r else None for r in lazy] == [r.worst() if r else None for r in eager]
    assert lazy == eager and not asked
    fmt, token, tag, entries = marshal.loads(opened(pack_of(folder)))
    key = ("pkg/mod2.py", "pkg.mod2")
    entries[key] = (entries[key][0], b"\x80\x05garbage", *entries[key][2:])
    reseal(pack_of(folder), marshal.dumps((fmt, token, tag, entries)))
    digest = dict(zip((f.display for f in files), digests))["pkg/mod2.py"]
    again = Cache(folder, SETTINGS).get(key, digest, damaged=damaged)
    assert again is not None and again.findings == [] and asked == ["pkg/mod2.py"]
    # Bytes changed behind the pack's sealed index: read (and found wanting) only when
    # the result is first asked for, then it is what ``damaged`` gives.
    data = pack_of(folder).read_bytes()
    length = int.from_bytes(data[HEAD_HEADER_SIZE - 8 : HEAD_HEADER_SIZE], "little")
    start = HEAD_HEADER_SIZE + length
    at = start + marshal.loads(data[HEAD_HEADER_SIZE:start])[3][key][0] + 3  # a byte of mod2's entry
    pack_of(folder).write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
    asked.clear()
    later = Cache(folder, SETTINGS).get(key, digest, damaged=damaged)
    assert isinstance(later, LazyFileResult) and not later.decoded and asked == []
    assert later.findings == [] and asked == ["pkg/mod2.py"] and later.decoded


def test_a_snapshot_entry_that_does_not_decode_is_checked_again(tmp_path: Path) -> None:
    """Behind a valid seal (only a bug of ours can write one): the file's result is worked
    out again, and so is the snapshot on the next run."""
    root, cache = make_project(tmp_path / "p"), tmp_path / "cache"
    cold = run(root, cache)
    snapshot = run_of(cache)
    body = opened(snapshot)
    header, entries = body[:46], marshal.loads(body[46:])
    entries = [(e[0], b"\x80\x05garbage", *e[2:]) if e[0] == "pkg/mod2.py" else e for e in entries]
    reseal(snapshot, header + marshal.dumps(entries))
    assert run(root, cache) == cold
    assert not snapshot.exists()
    assert run(root, cache) == cold
    assert run_of(cache).exists()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda root: (root / "pkg" / "mod1.py").write_text(UTCNOW), id="content"),
        pytest.param(lambda root: (root / "pkg" / "mod1.py").rename(root / "pkg" / "renamed.py"), id="rename"),
        pytest.param(lambda root: (root / "pkg" / "extra.py").write_text(UTCNOW), id="added"),
        pytest.param(lambda root: (root / "pkg" / "mod0.py").unlink(), id="removed"),
        pytest.param(lambda root: (root / "pkg" / "__init__.py").unlink(), id="module-names"),
    ],
)
def test_the_run_snapshot_is_not_used_after_a_change(tmp_path: Path, change: Any) -> None:
    root, cache = make_project(tmp_path / "p"), tmp_path / "cache"
    run(root, cache)
    change(root)
    uncached = run(root, tmp_path / "unused", use_cache=False)
    assert run(root, cache) == uncached
    assert run(root, cache) == uncached  # and from the new snapshot


def run_of(cache: Path) -> Path:
    runs = list(cache.glob("results-*.run"))
    assert len(runs) == 1, runs
    return runs[0]


def test_an_unwritable_cache_directory_only_costs_speed(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache_dir = blocker / "cache"
    assert run(root, cache_dir) == run(root, cache_dir) == run(root, tmp_path / "ok")
    cache = Cache(cache_dir, SETTINGS)
    files = discover([root], SETTINGS, cwd=root).files
    runner.check_files(files, SETTINGS, rules=enabled_rules(SETTINGS), jobs=1, cache=cache)
    assert cache.write_error and "cannot write cache" in cache.write_error


def test_results_handed_out_are_not_shared_with_the_cache(tmp_path: Path) -> None:
    """The cross-file phase appends findings to results; that must not leak into the cache."""
    root, cache_dir = make_project(tmp_path / "p"), tmp_path / "cache"
    files = discover([root], SETTINGS, cwd=root).files
    for _ in range(2):  # cold, then warm
        results = runner.check_files(files, SETTINGS, rules=enabled_rules(SETTINGS), jobs=1, cache=Cache(cache_dir, SETTINGS))
        assert sum(len(r.findings) for r in results) == 3
        for result in results:
            result.findings.append(dataclasses.replace(engine.parse_error(result.path, "added later")))


def test_changing_the_settings_never_serves_stale_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, cache = make_project(tmp_path / "p"), tmp_path / "cache"
    assert len(run(root, cache)) == 3
    assert run(root, cache, Settings(select=("SL301",), ignore=("SL301",))) == []
    high = Settings(select=("SL301",), severity=MappingProxyType({"SL301": Severity.CRITICAL}))
    assert {f.severity for f in run(root, cache, high)} == {Severity.CRITICAL}
    counter = Counter(monkeypatch)
    assert len(run(root, cache)) == 3 and counter.paths == []  # each configuration has its pack


def test_settings_fingerprint_covers_what_changes_results_only() -> None:
    base = Settings(select=("SL301",))
    same = [
        dataclasses.replace(base, origins=MappingProxyType({"select": "pyproject.toml"})),
        dataclasses.replace(base, fail_on=Severity.CRITICAL, exclude=("x",), cache_dir="elsewhere"),
    ]
    different = [
        dataclasses.replace(base, ignore=("SL301",)),
        dataclasses.replace(base, severity=MappingProxyType({"SL301": Severity.HIGH})),
        dataclasses.replace(base, per_file_ignores=(("tests/*", ("SL301",)),)),
        dataclasses.replace(base, report_unused_suppressions=True),
    ]
    assert {settings_fingerprint(s) for s in same} == {settings_fingerprint(base)}
    assert len({settings_fingerprint(s) for s in [base, *different]}) == 1 + len(different)
    one = Settings(severity=MappingProxyType({"SL301": Severity.HIGH, "SL201": Severity.MEDIUM}))
    two = Settings(severity=MappingProxyType({"SL201": Severity.MEDIUM, "SL301": Severity.HIGH}))
    assert settings_fingerprint(one) == settings_fingerprint(two)


def test_cache_folder_is_tagged_and_pruned_of_our_old_packs_only(tmp_path: Path) -> None:
    root, cache = make_project(tmp_path / "p"), tmp_path / "cache"
    cache.mkdir()
    (cache / "results-0.0.0-oldversion.pack").write_bytes(b"old")
    (cache / "notes.txt").write_text("mine")
    for i in range(6):
        (cache / f"results-{__import__('sightlint').__version__}-old{i}.pack").write_bytes(b"x")
    run(root, cache)
    assert (cache / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert "*" in (cache / ".gitignore").read_text().split()
    assert (cache / "notes.txt").read_text() == "mine"
    packs = sorted(p.name for p in cache.glob("results-*.pack"))
    assert "results-0.0.0-oldversion.pack" not in packs
    assert len(packs) == 4  # this run's pack and the three most recent others


def test_default_directory_follows_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "proj" / "pyproject.toml"
    assert default_directory(Settings(), tmp_path) == tmp_path / ".sightlint_cache"
    assert default_directory(Settings(config_path=str(config)), tmp_path) == config.parent / ".sightlint_cache"
    relative = Settings(config_path=str(config), cache_dir="build/lint-cache")
    assert default_directory(relative, tmp_path) == config.parent / "build" / "lint-cache"
    absolute = Settings(config_path=str(config), cache_dir=str(tmp_path / "proj" / "abs"))
    assert default_directory(absolute, tmp_path) == tmp_path / "proj" / "abs"
    # Outside the project (or the project folder itself): see test_cache_security.py.
    with pytest.raises(ConfigError, match="cache-dir"):
        default_directory(Settings(config_path=str(config), cache_dir=str(tmp_path / "abs")), tmp_path)


# -- command line --------------------------------------------------------------------


def cli(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str, env: dict[str, str] | None = None) -> Any:
    monkeypatch.chdir(root)
    for name in ("SIGHTLINT_NO_CACHE", "SIGHTLINT_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["check", ".", "--select", "SL301", "--format", "json", *args], env=env)
    assert result.exit_code == 1, result.output
    return json.loads(result.output)


def test_cli_cache_dir_from_config_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "p")
    (root / "pyproject.toml").write_text('[tool.sightlint]\ncache-dir = "var/cache"\n')
    first = cli(root, monkeypatch)
    assert list((root / "var" / "cache").glob("results-*.pack"))
    env_dir = tmp_path / "env-cache"
    assert cli(root, monkeypatch, env={"SIGHTLINT_CACHE_DIR": str(env_dir)}) == first
    assert list(env_dir.glob("results-*.pack"))


@pytest.mark.parametrize(
    ("args", "env"), [(("--no-cache",), None), ((), {"SIGHTLINT_NO_CACHE": "1"})], ids=["flag", "env"]
)
def test_cli_no_cache_reads_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], env: dict[str, str] | None
) -> None:
    root = make_project(tmp_path / "p")
    (root / "pyproject.toml").write_text("[tool.sightlint]\n")
    report = cli(root, monkeypatch, *args, env=env)
    assert report["summary"]["findings"] == 3
    assert not (root / ".sightlint_cache").exists()
    cli(root, monkeypatch, env={"SIGHTLINT_NO_CACHE": "0"})
    assert (root / ".sightlint_cache").is_dir()


# -- cross-file findings follow edits ----------------------------------------------------

CALLER_ASYNC = "from pkg.helpers import load\n\n\nasync def handler():\n    return load()\n"
CALLER_SYNC = "from pkg.helpers import load\n\n\ndef handler():\n    return load()\n"
CALLEE_FAST = "def load():\n    return 1\n"
CALLEE_SLOW = "import time\n\n\ndef load():\n    time.sleep(1)\n    return 1\n"


def test_cross_module_sl101_findings_follow_edits_on_warm_runs(tmp_path: Path) -> None:
    """A chain async caller (pkg/api.py) -> sync callee (pkg/helpers.py) -> time.sleep.

    Editing either module changes the chain; each warm run (the other module served from
    the cache) must report exactly what an uncached run reports.
    """
    entry = lookup("SL101")
    if entry is None or entry.rule is None:
        pytest.skip("SL101 (blocking-call-in-async) is not implemented yet")
    settings = Settings(select=("SL101",))
    root, cache = tmp_path / "p", tmp_path / "cache"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    caller, callee = root / "pkg" / "api.py", root / "pkg" / "helpers.py"

    def state(caller_text: str, callee_text: str) -> list[Finding]:
        caller.write_text(caller_text)
        callee.write_text(callee_text)
        uncached = run(root, tmp_path / "unused", settings, use_cache=False)
        assert run(root, cache, settings) == uncached
        return uncached

    assert state(CALLER_ASYNC, CALLEE_FAST) == []
    chained = state(CALLER_ASYNC, CALLEE_SLOW)  # the callee gains time.sleep
    if not chained:
        pytest.skip("SL101 does not report blocking calls reached through another module yet")
    assert any("pkg/api.py" in f.message or any(r.path == "pkg/api.py" for r in f.related) for f in chained)
    assert state(CALLER_SYNC, CALLEE_SLOW) == []  # only the caller changed
    assert state(CALLER_ASYNC, CALLEE_SLOW) == chained  # and back: callee from the cache
    assert state(CALLER_ASYNC, CALLEE_FAST) == []


def test_warm_runs_re_resolve_only_modules_that_depend_on_an_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two independent packages; a chain api -> svc -> low across modules in the first.

    An edit deep in the chain changes the finding in its (unchanged) dependents' view,
    exactly as an uncached run does, and loads no summary of the other package."""
    from sightlint.cache import PackedSummary

    settings = Settings(select=("SL101", "SL102"))
    root, cache = tmp_path / "p", tmp_path / "cache"
    for pkg in ("one", "two"):
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
        (root / pkg / "low.py").write_text("def wait():\n    return 1\n")
        (root / pkg / "svc.py").write_text(f"from {pkg}.low import wait as pause\n\ndef step():\n    return pause()\n")
        (root / pkg / "api.py").write_text(
            f"import asyncio\nfrom {pkg} import svc\n\nasync def handler():\n    return svc.step()\n\n"
            "async def guarded():\n    await asyncio.wait_for(asyncio.to_thread(svc.step), 1)\n"
            "    async with asyncio.timeout(1):\n        svc.step()\n"
        )
    assert run(root, cache, settings) == run(root, tmp_path / "unused", settings, use_cache=False) == []
    loaded: list[str] = []
    real = PackedSummary.load

    def counting(self: PackedSummary) -> Any:
        loaded.append(self.module)
        return real(self)

    monkeypatch.setattr(PackedSummary, "load", counting)
    # ``wait`` now names another function: svc.step's edge itself changes.
    (root / "one" / "low.py").write_text("import time\n\ndef _slow():\n    time.sleep(1)\n\nwait = _slow\n")
    warm = run(root, cache, settings)
    assert warm == run(root, tmp_path / "unused", settings, use_cache=False)
    assert {f.code for f in warm} == {"SL101", "SL102"}
    assert any("one/api.py" in r.path for f in warm for r in f.related)
    assert loaded and not any(module.startswith("two") for module in loaded)
    (root / "one" / "low.py").write_text("def wait():\n    return 1\n")
    assert run(root, cache, settings) == []


def test_a_submodule_reached_as_an_attribute_is_a_dependency(tmp_path: Path) -> None:
    """``pkg = one`` then ``pkg.sub.wait()``: no import names ``one.sub``, yet editing it
    changes what the caller's call resolves to; the warm run must follow."""
    settings = Settings(select=("SL101",))
    root, cache = tmp_path / "p", tmp_path / "cache"
    (root / "one").mkdir(parents=True)
    (root / "one" / "__init__.py").write_text("")
    (root / "one" / "sub.py").write_text("def wait():\n    return 1\n")
    (root / "api.py").write_text("import one\n\npkg = one\n\nasync def handler():\n    return pkg.sub.wait()\n")
    assert run(root, cache, settings) == []
    (root / "one" / "sub.py").write_text("import time\n\ndef _slow():\n    time.sleep(1)\n\nwait = _slow\n")
    warm = run(root, cache, settings)
    assert warm == run(root, tmp_path / "unused", settings, use_cache=False)
    assert [f.code for f in warm] == ["SL101"]


def test_a_damaged_cached_summary_is_rebuilt_from_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module whose cached summary cannot be read must not silently drop out of the model."""
    root, cache = tmp_path / "p", tmp_path / "cache"
    pkg = root / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("import time\n\n\ndef nap():\n    time.sleep(1)\n")
    (pkg / "api.py").write_text("from pkg.low import nap\n\n\nasync def handler():\n    nap()\n")
    monkeypatch.chdir(root)  # display paths are relative to the working folder
    settings = Settings(select=("SL101",))
    cold = run(root, cache, settings)
    assert [(f.code, f.path, f.line) for f in cold] == [("SL101", "pkg/low.py", 5)]
    pack = pack_of(cache)
    fmt, token, tag, entries = marshal.loads(opened(pack))
    key = ("pkg/low.py", "pkg.low")
    assert len(entries[key]) == 4, "the summary is stored apart from the result"
    entries[key] = (entries[key][0], entries[key][1], b"\x80\x05garbage", entries[key][3])
    reseal(pack, marshal.dumps((fmt, token, tag, entries)))
    for leftover in (*cache.glob("results-*.run"), *cache.glob("results-*.gindex"), *cache.glob("results-*.comp")):
        leftover.unlink()  # force the model to be built from the (damaged) summaries
    assert run(root, cache, settings) == cold


def test_a_small_edit_rewrites_only_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, cache = make_project(tmp_path / "p", n=40), tmp_path / "cache"
    cold = run(root, cache)
    pack = pack_of(cache)
    base = pack.read_bytes()
    (root / "pkg" / "mod1.py").write_text(UTCNOW)
    edited = run(root, cache)
    assert len(edited) == len(cold) + 1
    assert pack.read_bytes() == base, "the base pack is left as it was"
    journal = pack.with_name(pack.name + ".journal")
    assert journal.exists()
    run_of(cache).unlink()  # the next run must read base + journal
    counter = Counter(monkeypatch)
    assert run(root, cache) == edited
    assert counter.paths == [], "the journal's entry was used"


def test_the_journal_is_merged_into_the_base_once_it_grows(tmp_path: Path) -> None:
    root, cache = make_project(tmp_path / "p", n=10), tmp_path / "cache"
    run(root, cache)
    pack = pack_of(cache)
    journal = pack.with_name(pack.name + ".journal")
    # Far more files than the journal may hold (64, or an eighth of the base).
    for i in range(100):
        (root / "pkg" / f"extra{i}.py").write_text(UTCNOW)
    run(root, cache)
    assert not journal.exists()
    assert len(marshal.loads(opened(pack))[3]) == 111


def test_a_journal_is_applied_only_to_its_own_base(tmp_path: Path) -> None:
    from sightlint.cache import _Journaled

    writes: list[Path] = []

    def read(path: Path) -> bytes | None:
        return path.read_bytes() if path.exists() else None

    def write(path: Path, blob: bytes) -> None:
        writes.append(path)
        path.write_bytes(blob)

    table = _Journaled(tmp_path / "t.pack", 1, read, write)
    assert table.load() is None
    table.save(b"tag", {"a": 1, "b": 2}, {"a": 1, "b": 2})
    assert writes == [tmp_path / "t.pack"]
    reader = _Journaled(tmp_path / "t.pack", 1, read, write)
    assert reader.load() == (b"tag", {"a": 1, "b": 2})
    reader.save(b"tag", {"a": 10, "b": 2}, {"a": 10})
    assert writes[-1] == tmp_path / "t.pack.journal"
    assert _Journaled(tmp_path / "t.pack", 1, read, write).load() == (b"tag", {"a": 10, "b": 2})
    old_journal = (tmp_path / "t.pack.journal").read_bytes()
    # Another process merges a new base (say, after files were added): the journal goes.
    _Journaled(tmp_path / "t.pack", 1, read, write).save(b"other", {"a": 3}, {"a": 3})
    assert not (tmp_path / "t.pack.journal").exists()
    # A journal left over from the old base must not be laid over the new one.
    (tmp_path / "t.pack.journal").write_bytes(old_journal)
    assert _Journaled(tmp_path / "t.pack", 1, read, write).load() == (b"other", {"a": 3})
    # A damaged journal leaves the base valid; a damaged base is no table at all.
    (tmp_path / "t.pack.journal").write_bytes(b"garbage")
    assert _Journaled(tmp_path / "t.pack", 1, read, write).load() == (b"other", {"a": 3})
    (tmp_path / "t.pack").write_bytes(b"garbage")
    assert _Journaled(tmp_path / "t.pack", 1, read, write).load() is None


def _indexed_table(tmp_path: Path) -> Any:
    from sightlint.atomic import write_atomically
    from sightlint.cache import _Indexed

    seal = Seal(b"k" * 32)

    def read(path: Path) -> bytes | None:
        return seal.read(path)

    def write(path: Path, blob: bytes) -> None:
        path.write_bytes(seal.seal(path.name, blob))

    def write_headed(path: Path, head: bytes, pieces: Any) -> None:
        write_atomically(path, (seal.head_header(path.name, head), head, *pieces))

    return _Indexed(tmp_path / "t.pack", 1, read, write, seal.open_head, write_headed)


def _values(table: Any, entries: dict[Any, Any]) -> dict[Any, Any]:
    return {key: table.fetch(value) for key, value in entries.items()}


def test_the_indexed_pack_reads_only_the_entries_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _indexed_table(tmp_path)
    assert table.load() is None
    values = {("m%d.py" % i, None): (b"%032d" % i, b"result %d" % i * 50) for i in range(100)}
    stored = table.save(b"tag", values, values)
    assert _values(table, stored) == values  # read back from the file just written
    table.close()
    reader = _indexed_table(tmp_path)
    tag, entries = reader.load()
    # Only the sealed index was read: the entries stand as places in the file.
    assert tag == b"tag" and set(entries) == set(values)
    assert all(type(e).__name__ == "_Stored" and e.content == values[k][0] for k, e in entries.items())
    assert reader.fetch(entries[("m7.py", None)]) == values[("m7.py", None)]
    # The file is replaced under the reader (another process merged a base): the reader
    # keeps reading the file it opened.
    _indexed_table(tmp_path).save(b"tag", {("x.py", None): (b"x" * 32, b"x")}, {("x.py", None): (b"x" * 32, b"x")})
    assert _values(reader, entries) == values
    reader.close()


@pytest.mark.parametrize("bulk", [False, True], ids=["entry-by-entry", "read-at-once"])
def test_an_indexed_pack_entry_changed_behind_its_seal_is_a_miss_and_never_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    from sightlint import cache as cache_module

    monkeypatch.setattr(cache_module, "_BULK_AFTER", 0 if bulk else 10**6)
    table = _indexed_table(tmp_path)
    values = {(f"m{i}.py", None): (b"%032d" % i, b"result %d" % i) for i in range(100)}
    table.save(b"tag", values, values)
    path = tmp_path / "t.pack"
    data = path.read_bytes()
    at = data.index(b"result 42")
    path.write_bytes(data[:at] + b"RESULT 42" + data[at + 9 :])  # the index's seal still holds
    reader = _indexed_table(tmp_path)
    _, entries = reader.load()
    got = _values(reader, entries)
    assert got[("m42.py", None)] is None
    assert {k: v for k, v in got.items() if k != ("m42.py", None)} == {k: v for k, v in values.items() if k != ("m42.py", None)}
    # Merging a new base copies only the entries that hash to their digests: the changed
    # bytes never get a new valid seal.
    fresh = {(f"n{i}.py", None): (b"n" * 32, b"new") for i in range(20)}
    stored = reader.save(b"new tag", {**entries, **fresh}, fresh)  # another tag: a new base
    assert stored is not None and ("m42.py", None) not in stored
    assert b"RESULT 42" not in path.read_bytes()
    again = _indexed_table(tmp_path)
    _, entries = again.load()
    assert _values(again, entries) == {**{k: v for k, v in values.items() if k != ("m42.py", None)}, **fresh}
    reader.close()
    again.close()
    # Truncated: the entries cut off are misses, the others still read.
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])
    cut = _indexed_table(tmp_path)
    _, entries = cut.load()
    got = _values(cut, entries)
    assert 0 < sum(v is None for v in got.values()) < len(got)
    cut.close()
    # Index sealed under another key, or another kind of seal: no table at all.
    path.write_bytes(Seal(b"z" * 32).head_header(path.name, b"x") + b"x")
    assert _indexed_table(tmp_path).load() is None
    path.write_bytes(Seal(b"k" * 32).seal(path.name, data))
    assert _indexed_table(tmp_path).load() is None


def test_concurrent_runs_sharing_the_cache_never_crash_or_serve_stale_results(tmp_path: Path) -> None:
    """pre-commit runs several sightlint processes at once on parts of the file list
    (``require_serial: false``); they share the cache folder."""
    import subprocess
    import sys

    root = tmp_path / "p"
    pkg = root / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("import time\n\n\ndef nap():\n    time.sleep(1)\n")
    for i in range(24):
        (pkg / f"m{i}.py").write_text(f"from pkg.low import nap\n\n\nasync def handler{i}():\n    nap()\n" + UTCNOW)
    (root / "pyproject.toml").write_text('[tool.sightlint]\nselect = ["SL101", "SL301"]\n')
    parts = [["pkg"], [f"pkg/m{i}.py" for i in range(0, 24, 2)], [f"pkg/m{i}.py" for i in range(1, 24, 2)]]

    def run_all() -> None:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "sightlint", "check", "--format", "json", *part],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for part in parts
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 1, err
            assert "Traceback" not in err and not json.loads(out)["internal_errors"], err

    for round_ in range(3):
        run_all()
        (pkg / f"m{round_}.py").write_text("async def quiet():\n    return 1\n")
        (pkg / "low.py").write_text("import time\n\n\ndef nap():\n    time.sleep(1)\n" + "\n" * (round_ + 1))

    def findings(*extra: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "sightlint", "check", "--format", "json", *extra, "pkg"],
            cwd=root, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        return json.loads(done.stdout)["findings"]

    assert findings() == findings("--no-cache")
