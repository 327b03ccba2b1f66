"""The cache folder is untrusted input: nothing in it can run code, crash a run, or change
its findings, and a project's configuration cannot send the cache's writes elsewhere.

Each attack is written the way someone without the user's key would write it: they can
read sightlint's source and the files of a cache (theirs, or one the project carries),
and write anything into the project. The control cases seal the same bytes under the
test run's own key, to show the forged file would have been taken without the seal.
"""

from __future__ import annotations

import gc
import json
import marshal
import os
import pickle
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzing import examples
from sightlint import api, files, runner
from sightlint.cli import main
from sightlint.models import RunResult
from sightlint.seal import HEAD_HEADER_SIZE, HEADER_SIZE, KEY_FILE, KEY_SIZE, MAGIC, Seal, load_key, user_seal
from sightlint.settings import Settings
from sealing import behind_old_seal, indexed, layout, logical, sealed

REPLICA = Path(__file__).resolve().parents[1] / "fixtures" / "sight_app"
# Its modules: each has a summary in the pack and is checked once per uncached run.
MODULES = len(list(REPLICA.rglob("*.py")))
# 10 bytes of marshal data that make ``marshal.loads`` build a tuple containing itself as
# a dict key: hashing it recurses until the interpreter dies with SIGSEGV.
MARSHAL_BOMB = b"{\xa9\x01r\x00\x00\x00\x00N0"


class Payload:
    """Unpickling this writes a marker file: proof that code from the cache ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.write_text, (self.marker, "code from the cache folder ran"))


def stored_payload(marker: Path) -> bytes:
    """A :class:`Payload` in the stored form of a module summary (``cache.PackedSummary``:
    the length of the pickled dependency terms, the terms, the summary), in both places."""
    payload = pickle.dumps(Payload(marker))
    return struct.pack("<I", len(payload)) + payload + payload


@contextmanager
def files_look_old() -> Iterator[None]:
    """The cache keeps a file's hash by its stat only once the file is 2 s old: pretend
    the clock is 10 s ahead, so a fresh copy gets a complete cache (file hashes included)."""
    clock = SimpleNamespace(time_ns=lambda: time.time_ns() + 10_000_000_000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "time", clock)
        patch.setattr(files, "time", clock)  # the folder walk is kept too
        yield


@pytest.fixture(scope="module")
def replica_with_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Sight replica after a cached run and an unchanged one, with its cache in `.sightlint_cache/`."""
    root = tmp_path_factory.mktemp("replica") / "app"
    shutil.copytree(REPLICA, root)
    with files_look_old(), pytest.MonkeyPatch.context() as patch:
        check(root, patch)
        check(root, patch)  # served by the run snapshot: keeps the report too
    names = {p.name for p in (root / ".sightlint_cache").iterdir()}
    assert {"file-hashes.marshal", "file-walks.marshal", "third-party-classes.marshal"} <= names
    assert {name.rpartition(".")[2] for name in names if name.startswith("results-")} == {"pack", "run", "gindex", "comp", "prints", "out", "pieces"}
    return root


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SIGHTLINT_CACHE_DIR", "SIGHTLINT_NO_CACHE")}
    return {**env, **extra}


@pytest.fixture
def project(replica_with_cache: Path, tmp_path: Path) -> Path:
    """A fresh copy of the replica and its cache, for one test to tamper with."""
    root = tmp_path / "app"
    shutil.copytree(replica_with_cache, root, symlinks=True)
    return root


def check(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, dict[str, Any]]:
    """``sightlint check --format json`` in ``root``, in this process: (exit code, report)."""
    monkeypatch.chdir(root)
    for name in ("SIGHTLINT_CACHE_DIR", "SIGHTLINT_NO_CACHE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["check", "--format", "json", "--jobs", "1", *args, "."])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def uncached(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    exit_code, report = check(root, monkeypatch, "--no-cache")
    assert exit_code == 1 and report["findings"], "the replica has findings"
    return exit_code, report


def cache_file(root: Path, pattern: str) -> Path:
    found = list((root / ".sightlint_cache").glob(pattern))
    assert len(found) == 1, found
    return found[0]


def edit(root: Path) -> None:
    """Change one module, so the run snapshot no longer applies and the pack is read."""
    path = root / "app" / "core" / "config.py"
    path.write_text(path.read_text() + "\n# edited\n")


def body_of(path: Path) -> bytes:
    """What a cache file holds (a pack: its logical form, see ``tests/sealing.py``)."""
    data = path.read_bytes()
    assert data.startswith(MAGIC) or indexed(data)
    return logical(data)


FORGERIES = ["unsealed", "sealed-with-another-key", "original-seal-kept", "sealed-with-the-users-key"]


def forge(path: Path, body: bytes, how: str) -> None:
    """Write ``body`` at ``path`` as an attacker can: without a seal, sealed under a key of
    their own, or behind the seal that was there. The last way, sealing under the test
    run's key, is the control: only the user can do that."""
    pack = path.suffix == ".pack"
    if how == "unsealed":
        path.write_bytes(b"".join(layout(body)) if pack else body)
    elif how == "sealed-with-another-key":
        path.write_bytes(sealed(Seal(os.urandom(KEY_SIZE)), path.name, body, pack=pack))
    elif how == "original-seal-kept":
        path.write_bytes(behind_old_seal(path.read_bytes(), body, pack=pack))
    else:
        own = user_seal()
        assert isinstance(own, Seal), own
        path.write_bytes(sealed(own, path.name, body, pack=pack))


# -- code execution --------------------------------------------------------------------


@pytest.mark.parametrize("how", FORGERIES[:3])
def test_a_pickle_payload_in_the_pack_runs_nothing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    marker = tmp_path / "payload-ran"
    pack = cache_file(project, "results-*.pack")
    fmt, token, tag, entries = marshal.loads(body_of(pack))
    payload = stored_payload(marker)
    summaries = {key: (e[0], e[1], payload, e[3]) for key, e in entries.items() if len(e) == 4}
    assert len(summaries) == MODULES, "every module's summary is replaced"
    forge(pack, marshal.dumps((fmt, token, tag, {**entries, **summaries})), how)
    edit(project)
    assert check(project, monkeypatch) == uncached(project, monkeypatch)
    assert not marker.exists()


def test_a_pickle_payload_behind_the_packs_sealed_index_runs_nothing(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pack's seal covers its index; its entries are checked against the digests the
    index holds. Entries rewritten behind the original, valid index run nothing."""
    marker = tmp_path / "payload-ran"
    pack = cache_file(project, "results-*.pack")
    data = pack.read_bytes()
    fmt, token, tag, entries = marshal.loads(logical(data))
    payload = stored_payload(marker)
    forged = {key: (e[0], e[1], payload, e[3]) if len(e) == 4 else e for key, e in entries.items()}
    _, forged_data = layout(marshal.dumps((fmt, token, tag, forged)))
    length = int.from_bytes(data[HEAD_HEADER_SIZE - 8 : HEAD_HEADER_SIZE], "little")
    pack.write_bytes(data[: HEAD_HEADER_SIZE + length] + forged_data)  # the original sealed index, then the forgery
    edit(project)
    assert check(project, monkeypatch) == uncached(project, monkeypatch)
    assert not marker.exists()


def test_the_payload_would_run_if_it_could_be_sealed(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: the same payload under the user's own key runs, so the test above can fail."""
    marker = tmp_path / "payload-ran"
    pack = cache_file(project, "results-*.pack")
    fmt, token, tag, entries = marshal.loads(body_of(pack))
    payload = stored_payload(marker)
    entries = {key: (e[0], e[1], payload, e[3]) if len(e) == 4 else e for key, e in entries.items()}
    forge(pack, marshal.dumps((fmt, token, tag, entries)), "sealed-with-the-users-key")
    for stale in (
        *project.glob(".sightlint_cache/results-*.run"),
        *project.glob(".sightlint_cache/results-*.gindex"),
        *project.glob(".sightlint_cache/results-*.comp"),
    ):
        stale.unlink()
    monkeypatch.chdir(project)
    try:
        CliRunner().invoke(main, ["check", "--format", "json", "--jobs", "1", "."])
    finally:
        gc.enable()  # the run died with the collector paused (the CLI pauses it for the run)
    assert marker.exists()


# -- crashes ---------------------------------------------------------------------------


def test_the_marshal_bomb_is_real() -> None:
    """Control: decoding the bomb kills the interpreter."""
    code = "import marshal, sys; marshal.loads(sys.stdin.buffer.read())"
    done = subprocess.run([sys.executable, "-c", code], input=MARSHAL_BOMB, capture_output=True, timeout=60)
    assert done.returncode != 0


@pytest.mark.parametrize("target", ["file-hashes.marshal", "every-file"])
def test_a_marshal_bomb_in_the_cache_crashes_nothing(project: Path, target: str) -> None:
    folder = project / ".sightlint_cache"
    names = [p.name for p in folder.iterdir() if p.name.startswith(("results-", "file-hashes", "third-party"))]
    assert "file-hashes.marshal" in names and len(names) >= 5
    for name in names if target == "every-file" else [target]:
        (folder / name).write_bytes(MARSHAL_BOMB)
        if name.endswith((".pack", ".gindex", ".prints", ".pieces")):
            (folder / f"{name}.journal").write_bytes(MARSHAL_BOMB)
    edit(project)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "sightlint", "check", "--format", "json", "--jobs", "1", *args, "."]
        return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=120, env=_env())

    cached, plain = run(), run("--no-cache")
    assert cached.returncode == plain.returncode == 1, cached.stderr
    assert json.loads(cached.stdout) == json.loads(plain.stdout)
    assert run().stdout == plain.stdout  # and from the rebuilt cache


@pytest.mark.parametrize(
    "pattern",
    [
        "results-*.pack", "results-*.run", "results-*.gindex", "results-*.comp", "results-*.prints", "results-*.out",
        "results-*.pieces", "file-hashes.marshal", "file-walks.marshal", "third-party-classes.marshal",
    ],  # fmt: skip
)
@pytest.mark.parametrize("keep", [HEADER_SIZE - 1, -1])
def test_a_truncated_cache_file_is_ignored(project: Path, monkeypatch: pytest.MonkeyPatch, pattern: str, keep: int) -> None:
    path = cache_file(project, pattern)
    path.write_bytes(path.read_bytes()[:keep])
    if pattern not in ("results-*.run", "results-*.out"):
        edit(project)
    assert check(project, monkeypatch) == uncached(project, monkeypatch)


# -- forged results ---------------------------------------------------------------------


@pytest.mark.parametrize("how", FORGERIES)
def test_a_forged_run_snapshot_hides_nothing(project: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    snapshot = cache_file(project, "results-*.run")
    header = body_of(snapshot)[:46]  # "sightlint-run", the format, the run's key: all public
    assert header.startswith(b"sightlint-run")
    forge(snapshot, header + marshal.dumps([]), how)
    monkeypatch.chdir(project)
    text = CliRunner().invoke(main, ["check", "--jobs", "1", "."])
    if how == "sealed-with-the-users-key":  # control: the forgery itself is well formed
        # The forged snapshot holds no file results: the summary says nothing was checked.
        assert text.exit_code == 0 and "No Python files found" in text.output
        return
    assert text.exit_code == 1 and "All checks passed" not in text.output
    assert check(project, monkeypatch) == uncached(project, monkeypatch)


@pytest.mark.parametrize("how", FORGERIES)
def test_a_forged_snapshot_of_some_files_hides_nothing(project: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """``check FILES`` keeps its run snapshot apart (``results-*.part.run``)."""
    (project / "pyproject.toml").write_text("[project]\nname = 'app'\n")  # a project around the file
    monkeypatch.chdir(project)
    named = "app/api/dependencies.py"  # holds the replica's SL201

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(main, ["check", "--format", "json", "--jobs", "1", *args, named])
        assert "Traceback" not in result.output
        return result.exit_code, json.loads(result.stdout)

    plain = run("--no-cache")
    assert plain[0] == 1 and plain[1]["findings"]
    assert run() == plain
    snapshot = cache_file(project, "results-*.part.run")
    header = body_of(snapshot)[:46]
    assert header.startswith(b"sightlint-run")
    forge(snapshot, header + marshal.dumps([]), how)
    if how == "sealed-with-the-users-key":  # control: the forgery itself is well formed
        assert run()[1]["findings"] == []
        return
    assert run() == plain


@pytest.mark.parametrize("how", FORGERIES)
def test_a_forged_kept_report_hides_nothing(project: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """The report kept with the run snapshot (written again as it is when nothing changed)."""
    check(project, monkeypatch)  # the report kept for this folder (the copy's paths are other ones)
    kept = cache_file(project, "results-*.out")
    fmt, run_key, key, text = marshal.loads(body_of(kept))
    report = json.loads(text)
    assert report["findings"]
    forged = json.dumps({**report, "findings": []})
    forge(kept, marshal.dumps((fmt, run_key, key, forged)), how)
    exit_code, shown = check(project, monkeypatch)
    assert exit_code == 1  # the exit code never comes from the kept report
    if how == "sealed-with-the-users-key":  # control
        assert shown["findings"] == []
        return
    assert (exit_code, shown) == uncached(project, monkeypatch)


@pytest.mark.parametrize("how", [*FORGERIES, "of-another-shape"])
def test_forged_report_pieces_hide_nothing(project: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Each file's part of the JSON report, kept by the result, content and folders it is made from."""
    check(project, monkeypatch)  # pieces made for this folder (the copy's paths are other ones)
    pieces = cache_file(project, "results-*.pieces")
    fmt, token, tag, entries = marshal.loads(body_of(pieces))
    journal = pieces.parent / (pieces.name + ".journal")
    if journal.exists():  # this folder's pieces: the journal of the fixture's
        entries.update(marshal.loads(body_of(journal))[3])
        journal.unlink()
    path = "app/api/dependencies.py"  # holds the replica's SL201
    key, (text, meta) = entries[path]
    assert [code for code, _ in meta] == ["SL201"]
    if how == "of-another-shape":
        entries[path] = (key, (b"not compressed", meta))
    else:  # the finding shown as another rule's
        forged = zlib.decompress(text).replace(b"SL201", b"SL999")
        entries[path] = (key, (zlib.compress(forged), [("SL999", safety) for _, safety in meta]))
    forge(pieces, marshal.dumps((fmt, token, tag, entries)), "sealed-with-the-users-key" if how == "of-another-shape" else how)
    cache_file(project, "results-*.out").unlink()  # not served by the kept report: the pieces are read
    exit_code, report = check(project, monkeypatch)
    codes = [f["code"] for f in report["findings"] if f["path"] == path]
    if how == "sealed-with-the-users-key":  # control
        assert codes == ["SL999"] and exit_code == 1
        return
    assert codes == ["SL201"]
    assert (exit_code, report) == uncached(project, monkeypatch)


@pytest.mark.parametrize("how", FORGERIES)
def test_a_forged_pack_entry_hides_nothing(project: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    pack = cache_file(project, "results-*.pack")
    fmt, token, tag, entries = marshal.loads(body_of(pack))
    key = ("app/api/dependencies.py", "app.api.dependencies")  # holds the replica's SL201
    digest, result, *summary = entries[key]
    path, findings, *rest = marshal.loads(result)
    assert [f[0] for f in findings] == ["SL201"]
    entries[key] = (digest, marshal.dumps((path, [], *rest)), *summary)
    forge(pack, marshal.dumps((fmt, token, tag, entries)), how)
    cache_file(project, "results-*.run").unlink()  # else the snapshot serves the unchanged run
    exit_code, report = check(project, monkeypatch)
    codes = [f["code"] for f in report["findings"] if f["path"] == "app/api/dependencies.py"]
    if how == "sealed-with-the-users-key":  # control
        assert "SL201" not in codes
        return
    assert "SL201" in codes
    assert (exit_code, report) == uncached(project, monkeypatch)


def test_a_valid_file_of_another_name_is_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A seal holds for its file name only: the pack of a configuration that turns a rule
    off, copied over the pack of one that turns it on, would hide that rule's findings."""
    root, folder = tmp_path / "p", tmp_path / "p" / ".sightlint_cache"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "stamp.py").write_text("from datetime import datetime\n\n\ndef stamp():\n    return datetime.utcnow()\n")
    on, off = Settings(select=("SL301",)), Settings(select=("SL301",), ignore=("SL301",))

    def findings(settings: Settings, **kw: Any) -> list[str]:
        run = api.check_paths([root], settings, cwd=root, jobs=1, **kw)
        assert not run.errors and not run.internal_errors
        return [f.code for f in run.findings]

    assert findings(on, cache_dir=folder) == ["SL301"]
    pack_on = {p.name for p in folder.glob("results-*.pack")}
    assert findings(off, cache_dir=folder) == []
    (pack_off,) = [p for p in folder.glob("results-*.pack") if p.name not in pack_on]
    (pack_on_path,) = [folder / name for name in pack_on]
    shutil.copyfile(pack_off, pack_on_path)
    for snapshot in folder.glob("results-*.run"):
        snapshot.unlink()
    assert findings(on, cache_dir=folder) == ["SL301"]
    # Control: the same file under its new name's seal hides the finding.
    forge(pack_on_path, body_of(pack_off), "sealed-with-the-users-key")
    for snapshot in folder.glob("results-*.run"):
        snapshot.unlink()
    assert findings(on, cache_dir=folder) == []


def test_a_cache_made_under_another_key_is_rebuilt(
    replica_with_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache folder from another machine (or user): nothing of it is used, then it is ours."""
    from sightlint import engine

    root = tmp_path / "app"
    shutil.copytree(replica_with_cache, root)
    monkeypatch.setenv("SIGHTLINT_KEY_DIR", str(tmp_path / "other-machine"))
    checked: list[str] = []
    real = engine.check_source
    monkeypatch.setattr(engine, "check_source", lambda source, path, *a, **kw: checked.append(path) or real(source, path, *a, **kw))
    assert check(root, monkeypatch) == uncached(root, monkeypatch)
    assert len(checked) == 2 * MODULES, "nothing was served from the foreign cache"
    checked.clear()
    assert check(root, monkeypatch) == uncached(root, monkeypatch)
    assert len(checked) == MODULES, "the rebuilt cache serves the next run (the uncached one checks all)"


# -- fuzzing -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_cached(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A small project with cross-file findings, its uncached findings, and a full cache."""
    root = tmp_path_factory.mktemp("fuzz") / "p"
    pkg = root / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("import time\n\n\ndef nap():\n    time.sleep(1)\n")
    (pkg / "api.py").write_text("from pkg.low import nap\n\n\nasync def handler():\n    nap()\n")
    (pkg / "stamp.py").write_text("import requests\nfrom datetime import datetime\n\n\nasync def stamp():\n"
                                  "    requests.Session().get('x')\n    return datetime.utcnow()\n")  # fmt: skip
    baseline = _summary(api.check_paths([root], Settings(), cwd=root, jobs=1, use_cache=False))
    assert {"SL101", "SL301"} <= {line.split()[1] for line in baseline}
    with files_look_old():
        assert _summary(api.check_paths([root], Settings(), cwd=root, jobs=1, cache_dir=root / ".c")) == baseline
    assert (root / ".c" / "file-hashes.marshal").exists()
    return root, baseline


def _summary(run: RunResult) -> list[str]:
    assert not run.errors and not run.internal_errors
    return [f"{f.path}:{f.line}:{f.col} {f.code} {f.message}" for f in run.findings]


Mutation = Callable[[bytes], bytes]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, Mutation]:
    kind = draw(st.sampled_from(["random-bytes", "bit-flips", "truncation", "marshal-bomb"]))
    if kind == "random-bytes":
        noise = draw(st.binary(max_size=200))
        return kind, lambda data: noise
    if kind == "bit-flips":
        flips = draw(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=4))

        def flip(data: bytes) -> bytes:
            out = bytearray(data)
            for where, bit in flips:
                if out:
                    out[int(where * len(out))] ^= 1 << bit
            return bytes(out)

        return kind, flip
    if kind == "truncation":
        fraction = draw(st.floats(0, 1, exclude_max=True))
        return kind, lambda data: data[: int(fraction * len(data))]
    return kind, lambda data: data[:HEADER_SIZE] + MARSHAL_BOMB  # behind the original seal


@settings(max_examples=examples(), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), drop_snapshot=st.booleans())
def test_fuzzed_cache_files_never_crash_or_change_findings(
    small_cached: tuple[Path, list[str]], tmp_path: Path, data: st.DataObject, drop_snapshot: bool
) -> None:
    root, baseline = small_cached
    folder = tmp_path / f"cache-{os.urandom(4).hex()}"
    shutil.copytree(root / ".c", folder)
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith((".", "CACHEDIR")))
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    for name in chosen:
        _, mutate = data.draw(mutations())
        (folder / name).write_bytes(mutate((folder / name).read_bytes()))
    if drop_snapshot:  # the pack, the graph and the summaries are read
        for snapshot in folder.glob("results-*.run"):
            snapshot.unlink()
    assert _summary(api.check_paths([root], Settings(), cwd=root, jobs=1, cache_dir=folder)) == baseline
    shutil.rmtree(folder)


# -- where the cache may be written ------------------------------------------------------


@pytest.mark.parametrize("value", ["~", "../sibling", "~/.cache/elsewhere", ".", "inner/../.."])
@pytest.mark.parametrize("command", ["check", "fix"])
def test_a_projects_cache_dir_outside_the_project_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, command: str
) -> None:
    home, root, sibling = tmp_path / "home", tmp_path / "project", tmp_path / "sibling"
    for folder in (home, root, sibling):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (root / "pyproject.toml").write_text(f'[tool.sightlint]\ncache-dir = "{value}"\n')
    (root / "stamp.py").write_text("from datetime import datetime\n\n\ndef stamp():\n    return datetime.utcnow()\n")
    monkeypatch.chdir(root)
    monkeypatch.delenv("SIGHTLINT_CACHE_DIR", raising=False)
    monkeypatch.delenv("SIGHTLINT_NO_CACHE", raising=False)
    result = CliRunner().invoke(main, [command, "."])
    assert result.exit_code == 2, result.output
    assert f"cache-dir = {value!r}" in result.output and "--cache-dir or SIGHTLINT_CACHE_DIR" in result.output
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("pyproject.toml", "stamp.py")]
    assert written == []
    # The command line may put the cache anywhere; so may the environment.
    chosen = CliRunner().invoke(main, [command, "--cache-dir", str(sibling / "c"), "."])
    assert chosen.exit_code != 2 and list((sibling / "c").glob("results-*.pack")), chosen.output
    env = CliRunner().invoke(main, [command, "."], env={"SIGHTLINT_CACHE_DIR": str(home / "c")})
    assert env.exit_code != 2 and list((home / "c").glob("results-*.pack")), env.output


def test_a_cache_folder_that_links_out_of_the_project_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, sibling = tmp_path / "project", tmp_path / "sibling-repo"
    root.mkdir()
    sibling.mkdir()
    (root / "stamp.py").write_text("from datetime import datetime\n\n\ndef stamp():\n    return datetime.utcnow()\n")
    (root / ".sightlint_cache").symlink_to(sibling)
    monkeypatch.chdir(root)
    monkeypatch.delenv("SIGHTLINT_CACHE_DIR", raising=False)
    result = CliRunner().invoke(main, ["check", "."])
    assert result.exit_code == 2 and "(a link)" in result.output and "outside the project" in result.output
    assert list(sibling.iterdir()) == []


def test_links_inside_the_cache_folder_are_not_followed(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A project's cache folder may hold links planted next to the real files: sightlint
    neither writes through them (``.gitignore`` into a sibling repository) nor reads them
    (a FIFO would block, ``/dev/zero`` would never end)."""
    folder = project / ".sightlint_cache"
    outside = tmp_path / "sibling-repo"
    outside.mkdir()
    for name in (".gitignore", "CACHEDIR.TAG"):
        (folder / name).unlink()
        (folder / name).symlink_to(outside / name)  # dangling: a plain write would create it
    (folder / "file-hashes.marshal").unlink()
    (folder / "file-hashes.marshal").symlink_to("/dev/zero")
    (folder / "third-party-classes.marshal").unlink()
    os.mkfifo(folder / "third-party-classes.marshal")
    for snapshot in folder.glob("results-*.run"):
        snapshot.unlink()
        snapshot.symlink_to("/dev/zero")
    edit(project)
    assert check(project, monkeypatch) == uncached(project, monkeypatch)
    assert list(outside.iterdir()) == []


# -- the key ----------------------------------------------------------------------------


def test_the_key_is_private_and_found_where_the_user_keeps_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sightlint.seal import key_directory

    monkeypatch.delenv("SIGHTLINT_KEY_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert key_directory() == tmp_path / "home" / ".cache" / "sightlint"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert key_directory() == tmp_path / "home" / ".cache" / "sightlint"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert key_directory() == tmp_path / "xdg" / "sightlint"
    key = load_key(key_directory())
    assert len(key) == KEY_SIZE and load_key(key_directory()) == key
    assert (tmp_path / "xdg" / "sightlint").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "xdg" / "sightlint" / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "xdg" / "sightlint").iterdir()] == [KEY_FILE]
    monkeypatch.setenv("SIGHTLINT_KEY_DIR", str(tmp_path / "override"))
    assert key_directory() == tmp_path / "override"


def test_concurrent_first_runs_agree_on_one_key(tmp_path: Path) -> None:
    code = "import sys; from pathlib import Path; from sightlint.seal import load_key; print(load_key(Path(sys.argv[1])).hex())"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "keys")], stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    keys = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert len(keys) == 1 and len(keys.pop()) == 2 * KEY_SIZE


def test_without_hard_links_the_key_is_created_exclusively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*args: Any) -> None:
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    key = load_key(tmp_path / "keys")
    assert load_key(tmp_path / "keys") == key
    assert [p.name for p in (tmp_path / "keys").iterdir()] == [KEY_FILE]


@pytest.mark.parametrize("problem", ["too-short", "too-long", "empty", "readable-by-others", "folder-writable-by-others"])
def test_an_unusable_key_turns_the_cache_off_quietly(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    keys = tmp_path / "keys"
    load_key(keys)
    key_file = keys / KEY_FILE
    if problem == "too-short":
        key_file.write_bytes(os.urandom(KEY_SIZE - 1))
    elif problem == "too-long":
        key_file.write_bytes(os.urandom(KEY_SIZE + 1))
    elif problem == "empty":
        key_file.write_bytes(b"")
    elif problem == "readable-by-others":
        key_file.chmod(0o644)
    else:
        keys.chmod(0o777)
    monkeypatch.setenv("SIGHTLINT_KEY_DIR", str(keys))
    assert isinstance(user_seal(), str)
    folder = project / ".sightlint_cache"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    # What the cache holds would be valid under the lost key: nothing is read nor written.
    marker = tmp_path / "payload-ran"
    pack = cache_file(project, "results-*.pack")
    fmt, token, tag, entries = marshal.loads(body_of(pack))
    payload = stored_payload(marker)
    forge(pack, marshal.dumps((fmt, token, tag, {k: (e[0], e[1], payload, e[3]) if len(e) == 4 else e for k, e in entries.items()})), "unsealed")
    before[pack.name] = pack.read_bytes()
    edit(project)
    assert check(project, monkeypatch) == uncached(project, monkeypatch)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not marker.exists()
