"""Fingerprints that survive unrelated edits, and the baseline built on them (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint import api
from sightlint.cli import main
from sightlint.reporting import baseline
from sightlint.reporting.fingerprint import of_run
from sightlint.settings import Settings

SERVICE = '''\
from datetime import datetime


class Service:
    def stamp(self):
        return datetime.utcnow()

    def other(self):
        return 1


def helper(x):
    first = datetime.utcnow()
    second = datetime.utcnow()
    return first, second, x
'''


def run(*args: str) -> tuple[int, str, str]:
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "app" / "service.py").write_text(SERVICE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIGHTLINT_NO_CACHE", "1")
    return tmp_path


def prints(project: Path) -> dict[tuple[str, int], str]:
    """(scope, occurrence in scope) -> fingerprint, for the findings of the project."""
    found = api.check_paths([Path(".")], Settings(), use_cache=False)
    out: dict[tuple[str, int], str] = {}
    for _, p in of_run(found):
        n = sum(1 for key in out if key[0] == p.scope)
        out[(p.scope, n)] = p.fingerprint
    return out


def test_three_findings_three_distinct_fingerprints(project: Path) -> None:
    before = prints(project)
    assert set(before) == {("Service.stamp", 0), ("helper", 0), ("helper", 1)}
    assert len(set(before.values())) == 3  # the two identical calls differ by occurrence


def test_fingerprints_survive_line_shifts(project: Path) -> None:
    before = prints(project)
    (project / "app" / "service.py").write_text("import os\n\n\n# a comment\n" + SERVICE, encoding="utf-8")
    assert prints(project) == before


def test_fingerprints_survive_moving_the_function_within_its_file(project: Path) -> None:
    before = prints(project)
    head, _, tail = SERVICE.partition("\n\ndef helper")
    moved = "from datetime import datetime\n\n\ndef helper" + tail + "\n\n" + head.replace("from datetime import datetime\n", "")
    assert moved.index("def helper") < moved.index("class Service")
    (project / "app" / "service.py").write_text(moved, encoding="utf-8")
    assert prints(project) == before


def test_fingerprints_survive_reformatting(project: Path) -> None:
    before = prints(project)
    reformatted = SERVICE.replace("return datetime.utcnow()", "return (\n            datetime\n            .utcnow(  )\n        )")
    reformatted = reformatted.replace("first = datetime.utcnow()", "first = datetime.utcnow(\n    )  # why not")
    assert reformatted != SERVICE
    (project / "app" / "service.py").write_text(reformatted, encoding="utf-8")
    assert prints(project) == before


def test_fingerprints_survive_edits_elsewhere_in_the_function(project: Path) -> None:
    before = prints(project)
    (project / "app" / "service.py").write_text(SERVICE.replace("return first, second, x", "y = x * 2\n    return first, second, y"), encoding="utf-8")
    assert prints(project) == before


def test_an_edit_to_the_flagged_code_changes_the_fingerprint(project: Path) -> None:
    before = prints(project)
    # Code around the flagged call is not the flagged code; the call itself is.
    (project / "app" / "service.py").write_text(SERVICE.replace("return datetime.utcnow()", "return datetime.utcnow().date()"), encoding="utf-8")
    assert prints(project) == before
    edited = "import datetime as dt\n" + SERVICE.replace("return datetime.utcnow()", "return dt.datetime.utcnow()")
    (project / "app" / "service.py").write_text(edited, encoding="utf-8")
    after = prints(project)
    assert after[("Service.stamp", 0)] != before[("Service.stamp", 0)]
    assert after[("helper", 0)] == before[("helper", 0)]
    # Renaming the function is a different finding too.
    (project / "app" / "service.py").write_text(SERVICE.replace("def stamp", "def stamped"), encoding="utf-8")
    assert ("Service.stamped", 0) in prints(project) and ("Service.stamp", 0) not in prints(project)


def test_fingerprints_do_not_depend_on_the_working_folder(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = set(prints(project).values())
    monkeypatch.chdir(project / "app")
    found = api.check_paths([Path(".")], Settings(), use_cache=False)
    assert {p.fingerprint for _, p in of_run(found)} == before


def test_json_and_sarif_carry_the_same_fingerprints(project: Path) -> None:
    data = json.loads(run("check", "--format", "json")[1])
    sarif = json.loads(run("check", "--format", "sarif")[1])
    from_json = [f["fingerprint"] for f in data["findings"]]
    from_sarif = [r["partialFingerprints"]["sightlint/v2"] for r in sarif["runs"][0]["results"]]
    assert from_json == from_sarif and len(set(from_json)) == 3


def test_baseline_then_check_passes_and_new_findings_fail(project: Path) -> None:
    code, out, _ = run("baseline")
    assert code == 0 and "Wrote 3 finding(s)" in out
    file = project / baseline.FILE_NAME
    entries = baseline.load(file)
    assert [(e.code, e.path, e.scope) for e in entries] == sorted((e.code, e.path, e.scope) for e in entries)
    code, out, _ = run("check")
    assert code == 0 and "3 finding(s) hidden by the baseline" in out
    # Lines added above and the function moved: still nothing new.
    (project / "app" / "service.py").write_text("import os\n\n" + SERVICE, encoding="utf-8")
    assert run("check")[0] == 0
    # A new finding: exit 1, and only it is shown.
    (project / "app" / "service.py").write_text(
        "import os\n\n" + SERVICE + "\n\ndef fresh():\n    return datetime.utcnow()\n", encoding="utf-8"
    )
    code, out, _ = run("check", "--format", "concise")
    assert code == 1
    assert out.splitlines() == [line for line in out.splitlines() if line.startswith("app/service.py:")]
    assert len(out.splitlines()) == 1 and out.startswith("app/service.py:21:12: SL301")
    # --no-baseline shows all four.
    assert run("check", "--format", "concise", "--no-baseline")[1].count("SL301") == 4


def test_a_fixed_finding_is_stale_and_pruning_only_shrinks(project: Path) -> None:
    run("baseline")
    file = project / baseline.FILE_NAME
    (project / "app" / "service.py").write_text(SERVICE.replace("        return datetime.utcnow()", "        return None"), encoding="utf-8")
    code, out, _ = run("check")
    assert code == 0 and "1 baseline entry is stale (fixed since): --prune-baseline removes it." in out
    data = json.loads(run("check", "--format", "json")[1])
    assert [e["scope"] for e in data["baseline"]["stale"]] == ["Service.stamp"]
    assert len(baseline.load(file)) == 3  # a plain check never writes the baseline
    code, out, _ = run("check", "--prune-baseline")
    assert code == 0 and "Removed 1 stale entry" in out
    assert sorted(e.scope for e in baseline.load(file)) == ["helper", "helper"]
    # A new finding is not added by pruning.
    (project / "app" / "service.py").write_text(SERVICE + "\n\ndef fresh():\n    return datetime.utcnow()\n", encoding="utf-8")
    assert run("check", "--prune-baseline")[0] == 1
    assert len(baseline.load(file)) == 2


def test_a_check_of_some_files_does_not_call_the_others_stale(project: Path) -> None:
    (project / "app" / "other.py").write_text("from datetime import datetime\nx = datetime.utcnow()\n", encoding="utf-8")
    run("baseline")
    code, out, _ = run("check", "app/other.py")
    assert code == 0 and "stale" not in out
    run("baseline", "app/other.py")
    assert len(baseline.load(project / baseline.FILE_NAME)) == 4  # the other file's entries kept


def test_the_baseline_file_is_byte_stable_across_runs_and_jobs(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sightlint import runner

    monkeypatch.setattr(runner, "_MIN_PARALLEL_BYTES", 0)  # a real process pool for -j 2
    for i in range(20):  # enough files for a process pool
        (project / "app" / f"m{i}.py").write_text(SERVICE, encoding="utf-8")
    outputs = []
    for jobs in ("1", "2", "0", "1"):
        target = project / f"b{jobs}-{len(outputs)}.json"
        assert run("baseline", "-j", jobs, "-o", str(target))[0] == 0
        outputs.append(target.read_bytes())
    assert len(set(outputs)) == 1
    assert outputs[0].count(b"\n") == 3 * 21 + 5 and outputs[0].isascii()


def test_config_names_the_baseline_file(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.sightlint]\nbaseline = "lint/accepted.json"\n', encoding="utf-8")
    (project / "lint").mkdir()
    run("baseline")
    assert (project / "lint" / "accepted.json").is_file() and not (project / baseline.FILE_NAME).exists()
    assert run("check")[0] == 0
    (project / "lint" / "accepted.json").unlink()
    code, _, err = run("check")
    assert code == 2 and "no baseline at" in err


def test_a_damaged_baseline_is_an_error(project: Path) -> None:
    (project / baseline.FILE_NAME).write_text("{not json", encoding="utf-8")
    code, _, err = run("check")
    assert code == 2 and "not a sightlint baseline" in err


def test_add_noqa_writes_reasoned_suppressions(project: Path) -> None:
    # The last finding's line ends inside a string: no comment can suppress it there.
    tricky = SERVICE + '\n\ndef text():\n    return datetime.utcnow(), """\nmulti\n"""\n'
    (project / "app" / "service.py").write_text(tricky, encoding="utf-8")
    code, out, err = run("check", "--add-noqa")
    assert code == 0, err
    assert "Added 3 suppression comment(s) in 1 file(s)" in out
    assert "app/service.py:19: SL301 not suppressed: no line of it can hold a comment" in err
    text = (project / "app" / "service.py").read_text(encoding="utf-8")
    assert text.count(f"# sightlint: ignore[SL301] {baseline.NOQA_REASON}") == 3
    compile(text, "service.py", "exec")
    code, out, _ = run("check", "--format", "concise")
    assert code == 1 and out.startswith("app/service.py:19:12: SL301")
    assert len(out.splitlines()) == 1


def test_unparsed_files_are_never_baselined(project: Path) -> None:
    (project / "app" / "broken.py").write_text("def f(:\n", encoding="utf-8")
    run("baseline")
    assert {e.code for e in baseline.load(project / baseline.FILE_NAME)} == {"SL301"}
    code, out, _ = run("check", "--no-source")
    assert code == 1 and "SL000" in out and "1 file could not be read or parsed" in out
    assert "3 finding(s) hidden by the baseline" in out


def test_a_flagged_header_survives_reformatting(project: Path) -> None:
    # SL201 flags the `except Exception:` header of a handler, not a whole node's range.
    swallow = "def load(path):\n    try:\n        return open(path).read()\n    except Exception:\n        pass\n"
    (project / "app" / "service.py").write_text(swallow, encoding="utf-8")
    before = prints(project)
    assert [scope for scope, _ in before] == ["load"]
    reformatted = "import os\n\n\ndef load(path):\n    try:\n        return open(\n            path\n        ).read()\n    except (Exception):  # noted\n        pass\n"
    (project / "app" / "service.py").write_text(reformatted, encoding="utf-8")
    assert prints(project) == before
    (project / "app" / "service.py").write_text(swallow.replace("except Exception", "except BaseException"), encoding="utf-8")
    assert set(prints(project).values()).isdisjoint(before.values())
