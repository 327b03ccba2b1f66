"""Fuzzed cache folders: never a crash, never other findings than ``--no-cache``.

``tests/test_cache_security.py`` has the crafted attacks (payloads, forgeries, the
marshal bomb) and a small fuzz of unsealed files; here hypothesis mangles every file of a
real cache folder, journals included, in three ways:

* as someone without the user's key can (random bytes, bit flips, truncations,
  splices of two cache files, a file swapped for another): the seal turns all of it
  away, so the findings are exactly those of an uncached run;
* behind a *valid* seal, as only a bug of ours could (the body itself truncated, or
  replaced by random bytes or by random marshal data): decoding must still turn it
  down, and the findings stay exactly those of an uncached run;
* behind a valid seal with the body's bits flipped (a seal cannot tell this from a
  legitimate file whose values differ): findings may change, the run must not crash.

``SIGHTLINT_FUZZ_EXAMPLES`` raises the number of examples (see ``tests/fuzzing.py``).
"""

from __future__ import annotations

import marshal
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import budget
from sightlint import api, runner
from sightlint.models import RunResult
from sightlint.seal import HEAD_HEADER_SIZE, HEADER_SIZE, Seal, user_seal
from sealing import indexed, logical, sealed
from sightlint.settings import Settings

LOW = "import time\n\n\ndef nap():\n    time.sleep(1)\n"
API = "from pkg.low import nap\n\n\nasync def handler():\n    nap()\n"
STAMP = (
    "import requests\nfrom datetime import datetime\n\n\nasync def stamp():\n"
    "    requests.Session().get('x')\n    return datetime.utcnow()\n"
)
SWALLOW = "async def f(t):\n    try:\n        return await g(t)\n    except Exception:\n        pass\n"


@contextmanager
def files_look_old() -> Iterator[None]:
    """Pretend the clock is 10 s ahead, so fresh files' hashes are kept by stat too."""
    clock = SimpleNamespace(time_ns=lambda: time.time_ns() + 10_000_000_000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "time", clock)
        yield


def summary(run: RunResult) -> list[str]:
    assert not run.errors and not run.internal_errors, (run.errors, run.internal_errors)
    return [f"{f.path}:{f.line}:{f.col} {f.code} {f.message}" for f in run.findings]


def cached_run(root: Path, folder: Path) -> list[str]:
    return summary(api.check_paths([root], Settings(), cwd=root, jobs=1, cache_dir=folder))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """A project with per-file and cross-file findings, a full cache of it with journals
    (a second run after an edit writes the pack's and the graph's), and its findings."""
    root = tmp_path_factory.mktemp("fuzz") / "p"
    (root / "pkg").mkdir(parents=True)
    for name, text in {"__init__": "", "low": LOW, "api": API, "stamp": STAMP, "swallow": SWALLOW}.items():
        (root / "pkg" / f"{name}.py").write_text(text)
    for i in range(8):  # enough modules that one edit is journalled, not a new base
        (root / "pkg" / f"m{i}.py").write_text(f"from pkg.low import nap\n\n\nasync def h{i}():\n    nap()\n")
    folder = root.parent / "cache"
    with files_look_old():
        cached_run(root, folder)
        (root / "pkg" / "m0.py").write_text(API + "\n\nasync def more():\n    nap()\n")
        cached_run(root, folder)
    names = {p.name for p in folder.iterdir()}
    assert "file-hashes.marshal" in names
    assert {name.split("-")[-1].partition(".")[2] for name in names if name.startswith("results-")} >= {
        "pack", "pack.journal", "run", "gindex", "gindex.journal", "comp",
    }  # fmt: skip
    baseline = summary(api.check_paths([root], Settings(), cwd=root, jobs=1, use_cache=False))
    assert {"SL101", "SL201", "SL301"} <= {line.split()[1] for line in baseline}
    assert cached_run(root, folder) == baseline
    return root, folder, baseline


Mutation = Callable[[bytes], bytes]


@st.composite
def damage(draw: st.DrawFn) -> Mutation:
    """Random bytes, bit flips, a truncation, or a splice with a random cut."""
    kind = draw(st.sampled_from(["random-bytes", "bit-flips", "truncation", "splice", "extension"]))
    if kind == "random-bytes":
        noise = draw(st.binary(max_size=300))
        return lambda data: noise
    if kind == "bit-flips":
        return flips(draw)
    if kind == "truncation":
        fraction = draw(st.floats(0, 1, exclude_max=True))
        return lambda data: data[: int(fraction * len(data))]
    if kind == "splice":
        noise, at = draw(st.binary(min_size=1, max_size=40)), draw(st.floats(0, 1))
        return lambda data: data[: int(at * len(data))] + noise + data[int(at * len(data)) + len(noise) :]
    noise = draw(st.binary(min_size=1, max_size=40))
    return lambda data: data + noise


def flips(draw: st.DrawFn) -> Mutation:
    where = draw(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=6))

    def flip(data: bytes) -> bytes:
        out = bytearray(data)
        for at, bit in where:
            if out:
                out[int(at * len(out))] ^= 1 << bit
        return bytes(out)

    return flip


# Marshal data of any shape: what a body of ours decodes to when a bug writes nonsense.
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.binary(max_size=20) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=5) | st.integers(0, 9), inner, max_size=4),
    max_leaves=20,
)


def fresh_copy(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / f"cache-{os.urandom(4).hex()}"
    shutil.copytree(folder, copy)
    return copy


def cache_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith((".", "CACHEDIR")))


def our_seal() -> Seal:
    seal = user_seal()
    assert isinstance(seal, Seal), seal
    return seal


@budget()
@given(data=st.data())
def test_damage_without_the_key_changes_nothing(
    project: tuple[Path, Path, list[str]], tmp_path: Path, data: st.DataObject
) -> None:
    root, folder, baseline = project
    copy = fresh_copy(folder, tmp_path)
    names = cache_names(copy)
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True)):
        target = copy / name
        if data.draw(st.integers(0, 4)) == 0:  # another cache file's (valid) contents instead
            other = data.draw(st.sampled_from(names))
            target.write_bytes((folder / other).read_bytes())
        else:
            target.write_bytes(data.draw(damage())(target.read_bytes()))
    assert cached_run(root, copy) == baseline
    assert cached_run(root, copy) == baseline  # and from what that run wrote back
    shutil.rmtree(copy)


@budget()
@given(data=st.data())
def test_nonsense_behind_a_valid_seal_is_turned_down(
    project: tuple[Path, Path, list[str]], tmp_path: Path, data: st.DataObject
) -> None:
    root, folder, baseline = project
    copy = fresh_copy(folder, tmp_path)
    seal = our_seal()
    names = cache_names(copy)
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True)):
        target = copy / name
        pack = name.endswith(".pack")
        body = logical(target.read_bytes())
        how = data.draw(st.sampled_from(["truncated", "random-bytes", "random-marshal", "marshal-of-other-shape"]))
        if how == "truncated":
            body = body[: data.draw(st.integers(0, max(0, len(body) - 1)))]
        elif how == "random-bytes":
            body = data.draw(st.binary(max_size=300))
        elif how == "random-marshal":
            body = marshal.dumps(data.draw(values))
        else:  # the right container with nonsense in it
            skip = 46 if name.endswith(".run") else 36 if name.endswith(".comp") else 0  # the header before the marshal data
            decoded = marshal.loads(body[skip:])
            if isinstance(decoded, tuple):
                body = body[:skip] + marshal.dumps(
                    tuple(data.draw(values) if i and i == len(decoded) - 1 else v for i, v in enumerate(decoded))
                )
            else:
                body = body[:skip] + marshal.dumps([data.draw(values)])
        target.write_bytes(sealed(seal, name, body, pack=pack))
    run = api.check_paths([root], Settings(), cwd=root, jobs=1, cache_dir=copy)
    assert not run.internal_errors, run.internal_errors
    assert summary(run) == baseline
    shutil.rmtree(copy)


@budget()
@given(data=st.data())
def test_flipped_bits_behind_a_valid_seal_crash_nothing(
    project: tuple[Path, Path, list[str]], tmp_path: Path, data: st.DataObject
) -> None:
    """A seal cannot tell these from files we wrote: the run may report other findings
    (a flipped line number is still a line number) but must finish without an error."""
    root, folder, _ = project
    copy = fresh_copy(folder, tmp_path)
    seal = our_seal()
    names = cache_names(copy)
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        target = copy / name
        contents = target.read_bytes()
        if indexed(contents):  # a pack: flips in its index or its entries, the index sealed again
            length = int.from_bytes(contents[HEAD_HEADER_SIZE - 8 : HEAD_HEADER_SIZE], "little")
            body = flips(data.draw)(contents[HEAD_HEADER_SIZE:])
            target.write_bytes(seal.head_header(name, body[:length]) + body)
            continue
        body = flips(data.draw)(contents[HEADER_SIZE:])
        target.write_bytes(seal.seal(name, body))
    run = api.check_paths([root], Settings(), cwd=root, jobs=1, cache_dir=copy)
    assert not run.internal_errors, run.internal_errors
    assert not run.errors, run.errors
    shutil.rmtree(copy)


@pytest.mark.parametrize(
    "item",
    [
        ([b"\x81K!"], [], [], []),  # a path that is no str, no findings: was taken as a clean run
        ((), [], {"a message": 1}, []),  # a dict of errors: its key became an internal error
        ("pkg/low.py", [("SL101",) * 15], [], []),  # a finding of the wrong types
        ("pkg/low.py", [], [], [], (True, [(1, "SL1")], [])),  # codes that are a str, not a tuple
    ],
    ids=["path-not-a-str", "errors-a-dict", "finding-of-strs", "codes-a-str"],
)
def test_a_sealed_run_snapshot_of_another_shape_is_turned_down(
    project: tuple[Path, Path, list[str]], tmp_path: Path, item: tuple[object, ...]
) -> None:
    """What hypothesis found behind a valid seal: a snapshot whose results had the right
    length but not the right types was decoded as results (no findings, or a dict key
    reported as an internal error)."""
    root, folder, baseline = project
    copy = fresh_copy(folder, tmp_path)
    (snapshot,) = copy.glob("results-*.run")
    header = snapshot.read_bytes()[HEADER_SIZE:][:46]
    snapshot.write_bytes(our_seal().seal(snapshot.name, header + marshal.dumps([item])))
    run = api.check_paths([root], Settings(), cwd=root, jobs=1, cache_dir=copy)
    assert summary(run) == baseline


@pytest.mark.parametrize("payload", ["pkg.low", 7, None, ("pkg.low",)], ids=["a-str", "an-int", "none", "a-tuple"])
def test_a_cached_summary_that_unpickles_as_another_object_is_made_again(
    project: tuple[Path, Path, list[str]], payload: object
) -> None:
    """What hypothesis found with 200 examples (flipped bits behind a valid seal): a pack's
    summary that unpickled as a str reached the incremental graph (``AttributeError:
    'str' object has no attribute 'module'``, the run died). Now it is summarised again."""
    import pickle

    from sightlint import incremental
    from sightlint.cache import PackedSummary
    from sightlint.models import FileResult

    root, _, _ = project
    result = FileResult("pkg/low.py")
    result.summary = PackedSummary(pickle.dumps(payload), "pkg.low")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        again = incremental.summary_of(result)
    assert again is not None and type(again).__name__ == "ModuleSummary" and again.module == "pkg.low"
    assert result.summary is again


def test_a_cross_file_rule_raising_on_cached_records_gets_a_run_from_the_files(
    project: tuple[Path, Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What hypothesis found with 200 examples: a bit flipped behind a valid seal in the
    graph journal made SL703 raise ``IndexError`` on a cached module record (an internal
    error, exit 2, where ``--no-cache`` is clean). A cached run whose cross-file phase
    raises is now done again from the files alone."""
    from sightlint import api

    root, folder, baseline = project
    copy = fresh_copy(folder, tmp_path)
    real = api.project_phase
    calls: list[bool] = []

    def damaged(results: Any, settings: Any, cache: Any = None, digests: Any = None, **more: Any) -> list[str]:
        calls.append(cache is not None)
        errors = real(results, settings, cache=cache, digests=digests, **more)
        if cache is not None:  # as if a cached record had made a rule raise
            errors.append("internal error in SL703 (password-length-unchecked): IndexError: string index out of range")
        return errors

    monkeypatch.setattr(api, "project_phase", damaged)
    (root / "pkg" / "m1.py").write_text((root / "pkg" / "m1.py").read_text() + "\n")  # not the saved run: the phase runs
    try:
        run = api.check_paths([root], Settings(), cwd=root, jobs=1, cache_dir=copy)
        assert summary(run) == baseline
        assert calls == [True, False]
    finally:
        (root / "pkg" / "m1.py").write_text((root / "pkg" / "m1.py").read_text()[:-1])


def test_a_cached_graph_record_that_breaks_the_graph_gets_a_run_from_the_files(
    project: tuple[Path, Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next thing hypothesis found (1,000 examples): a flipped bit in the graph made a
    cached edge row hold a dict, and building the graph raised ``TypeError: unhashable
    type: 'dict'`` out of ``check_paths``: the whole run died. It is done again from the files."""
    from sightlint import api, incremental

    root, folder, baseline = project
    copy = fresh_copy(folder, tmp_path)
    real_whole, real_graph = incremental.Plan.whole, incremental.Plan.graph
    calls: list[bool] = []

    def damaged(real: Any) -> Any:
        def build(plan: Any, *args: Any) -> Any:
            calls.append(plan.cache is not None)
            if plan.cache is not None:
                raise TypeError("unhashable type: 'dict'")
            return real(plan, *args)

        return build

    # The whole graph (rules of the whole project) or the graph of some components.
    monkeypatch.setattr(incremental.Plan, "whole", damaged(real_whole))
    monkeypatch.setattr(incremental.Plan, "graph", damaged(real_graph))
    (root / "pkg" / "m1.py").write_text((root / "pkg" / "m1.py").read_text() + "\n")  # not the saved run: the phase runs
    try:
        run = api.check_paths([root], Settings(), cwd=root, jobs=1, cache_dir=copy)
        assert summary(run) == baseline
        assert calls == [True, False]
    finally:
        (root / "pkg" / "m1.py").write_text((root / "pkg" / "m1.py").read_text()[:-1])
