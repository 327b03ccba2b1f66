"""Inputs that once hung or killed a whole run: each now costs one file a finding.

The runs that could hang or crash go through a subprocess with a timeout, so a
regression fails the test instead of hanging CI or taking pytest down with it.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint.cli import main

# A safe fix (SL201 logs the swallowed exception), so `fix` has something to write.
FIXABLE = "async def f(t):\n    try:\n        return await g(t)\n    except Exception:\n        pass\n    return None\n"
BAD = "from datetime import datetime\n\nstamp = datetime.utcnow()\n"


def sightlint(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh process; a hang or a crash fails the test."""
    env = {**os.environ, "SIGHTLINT_NO_CACHE": "1", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "sightlint", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode >= 0, f"killed by signal {-done.returncode}: {done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


def findings(out: str) -> dict[tuple[str, str], str]:
    return {(f["path"], f["code"]): f["message"] for f in json.loads(out)["findings"]}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "fixme.py").write_text(FIXABLE, encoding="utf-8")
    return tmp_path


# -- reading: regular files only, and not too big --------------------------------------


@pytest.fixture()
def specials(project: Path) -> Path:
    os.mkfifo(project / "z.py")
    (project / "zero.py").symlink_to("/dev/zero")
    return project


def test_check_reports_a_fifo_and_a_device_instead_of_reading_them(specials: Path) -> None:
    done = sightlint(specials, "check", "--format", "json", "--no-cache")
    assert done.returncode == 1, done.stderr
    found = findings(done.stdout)
    assert found[("z.py", "SL000")] == "cannot read file: not a regular file (a FIFO)"
    # A link out of the tree is not followed by the walk (see test_hostile_inputs.py).
    assert not any(path == "zero.py" for path, _ in found)
    assert ("bad.py", "SL301") in found and ("fixme.py", "SL201") in found
    # Named on the command line too (discovery always takes a named file).
    done = sightlint(specials, "check", "--format", "json", "--no-cache", "z.py", "zero.py", "bad.py")
    found = findings(done.stdout)
    assert {key[0] for key in found} == {"z.py", "zero.py", "bad.py"}
    assert found[("zero.py", "SL000")] == "cannot read file: not a regular file (a character device)"


def test_fix_skips_a_fifo_and_a_device_and_fixes_the_rest(specials: Path) -> None:
    done = sightlint(specials, "fix")
    # Reported as `check` reports them, with its exit code (findings remain: 1).
    assert done.returncode == sightlint(specials, "check").returncode == 1, done.stderr
    assert "z.py:1:1: SL000 [critical] cannot read file: not a regular file (a FIFO)" in done.stdout
    assert "zero.py" not in done.stdout + done.stderr  # a link out of the tree: not followed
    assert "logger.exception" in (specials / "fixme.py").read_text(encoding="utf-8")
    done = sightlint(specials, "fix", ".", "zero.py")
    assert "zero.py:1:1: SL000 [critical] cannot read file: not a regular file (a character device)" in done.stdout
    assert "logger.exception" in (specials / "fixme.py").read_text(encoding="utf-8")


def test_a_fifo_as_gitignore_or_config_file_does_not_hang(project: Path) -> None:
    (project / ".git").mkdir()
    os.mkfifo(project / ".gitignore")
    done = sightlint(project, "check", "--format", "json", "--no-cache", timeout=30)
    assert ("bad.py", "SL301") in findings(done.stdout)
    os.mkfifo(project / "fifo.toml")
    done = sightlint(project, "check", "--config", "fifo.toml", timeout=30)
    assert done.returncode == 2
    assert "cannot read config file fifo.toml: not a regular file (a FIFO)" in done.stderr


def test_a_file_over_max_file_size_gets_a_finding_and_is_left_alone(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    (project / "pyproject.toml").write_text('[tool.sightlint]\nmax-file-size = "1 KB"\n', encoding="utf-8")
    big = FIXABLE + "# padding\n" * 200
    (project / "big.py").write_text(big, encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "--format", "json", "--no-cache"])
    assert result.exit_code == 1, result.output
    found = findings(result.output)
    assert found[("big.py", "SL000")] == "cannot read file: larger than max-file-size (2.1 KB > 1.0 KB); not checked"
    assert ("big.py", "SL201") not in found and ("fixme.py", "SL201") in found
    result = CliRunner().invoke(main, ["fix"])
    assert "big.py:1:1: SL000 [critical] cannot read file: larger than max-file-size" in result.output
    assert (project / "big.py").read_text(encoding="utf-8") == big
    assert "logger.exception" in (project / "fixme.py").read_text(encoding="utf-8")
    result = CliRunner().invoke(main, ["config"])
    assert "max-file-size" in result.output and "1024 bytes" in result.output


@pytest.mark.parametrize("value", ["0", "-1", '"lots"', "true", '"inf MB"', "[1]"])
def test_max_file_size_is_validated(project: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.chdir(project)
    (project / "pyproject.toml").write_text(f"[tool.sightlint]\nmax-file-size = {value}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 2
    assert "max-file-size: expected a positive size" in result.output


def test_fix_leaves_unparsable_and_unreadable_files_byte_for_byte(project: Path) -> None:
    broken = b"async def f(:\r\n    try:\n        pass\n    except Exception:\n        pass\n"
    (project / "broken.py").write_bytes(broken)
    binary = b"\x00\x01" + FIXABLE.encode()
    (project / "binary.py").write_bytes(binary)
    done = sightlint(project, "fix")
    assert done.returncode == sightlint(project, "check").returncode == 1, done.stderr
    assert "broken.py:1:13: SL000" in done.stdout and "binary.py:1:1: SL000" in done.stdout
    assert (project / "broken.py").read_bytes() == broken
    assert (project / "binary.py").read_bytes() == binary
    assert "logger.exception" in (project / "fixme.py").read_text(encoding="utf-8")


# -- discovery ------------------------------------------------------------------------


def test_symlink_loops_are_neither_walked_nor_fatal(project: Path) -> None:
    (project / "pkg").mkdir()
    (project / "pkg" / "mod.py").write_text(BAD, encoding="utf-8")
    (project / "pkg" / "again").symlink_to("..")  # a directory loop
    (project / "loop").symlink_to("loop")  # a symlink to itself
    (project / "a.py").symlink_to("b.py")
    (project / "b.py").symlink_to("a.py")
    done = sightlint(project, "check", "--format", "json", "--no-cache")
    found = findings(done.stdout)
    assert ("pkg/mod.py", "SL301") in found
    assert not any(path.startswith("pkg/again") for path, _ in found)
    assert "Too many levels of symbolic links" in found[("a.py", "SL000")]
    # Named on the command line, the loops are reported, not followed or fatal.
    done = sightlint(project, "check", "--format", "json", "--no-cache", "loop", "a.py", "bad.py", "pkg/again")
    found = findings(done.stdout)
    assert "Too many levels of symbolic links" in found[("loop", "SL000")]
    assert "Too many levels of symbolic links" in found[("a.py", "SL000")]
    assert ("bad.py", "SL301") in found
    # The named link is walked once (it is the project's root: each file once, by its real path).
    assert ("pkg/again/pkg/mod.py", "SL301") in found and ("pkg/again/fixme.py", "SL201") in found
    assert ("pkg/again/bad.py", "SL301") not in found
    assert not any(path.startswith("pkg/again/pkg/again") for path, _ in found)


def test_a_folder_named_like_a_python_file_is_walked_not_read(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    (project / "x.py").mkdir()
    (project / "x.py" / "inner.py").write_text(BAD, encoding="utf-8")
    for args in ([], ["x.py"]):
        result = CliRunner().invoke(main, ["check", "--format", "json", "--no-cache", *args])
        found = findings(result.output)
        assert ("x.py/inner.py", "SL301") in found, args
        assert not any(path == "x.py" for path, _ in found), args
    result = CliRunner().invoke(main, ["fix", "x.py"])
    assert result.exit_code in (0, 1) and "x.py: fix failed" not in result.output


# -- LibCST's native parser: guarded before it is called --------------------------------

PARENS = "x = " + "(" * 1500 + "1\n"  # a syntax error: LibCST was asked for the newer-Python hint
CHAIN = "y = " + " and ".join(["a"] * 10000) + "\n"  # valid: LibCST parsed it to fix the file


@pytest.fixture()
def crashers(project: Path) -> Path:
    (project / "parens.py").write_text(PARENS, encoding="utf-8")
    (project / "chain.py").write_text(FIXABLE + CHAIN, encoding="utf-8")
    return project


def test_check_survives_what_crashes_libcst(crashers: Path) -> None:
    done = sightlint(crashers, "check", "--format", "json", "--no-cache", "--jobs", "1")
    assert done.returncode == 1, done.stderr
    found = findings(done.stdout)
    assert found[("parens.py", "SL000")] == (
        "syntax error: too many nested parentheses (not checked for newer Python syntax: "
        "the file is too deeply nested, more than 200 nested brackets)"
    )
    assert ("chain.py", "SL201") in found and ("bad.py", "SL301") in found and ("fixme.py", "SL201") in found


def test_fix_survives_what_crashes_libcst(crashers: Path) -> None:
    before = (crashers / "chain.py").read_bytes()
    done = sightlint(crashers, "fix", "--show-fixes")
    assert done.returncode == 1, done.stderr  # parens.py does not parse: reported as check does
    # LibCST parses only the statement it fixes: chain.py's handler is fixed, its deep
    # statement is left byte for byte.
    assert "chain.py: 1 × SL201" in done.stderr
    assert (crashers / "chain.py").read_bytes().endswith(CHAIN.encode())
    assert "parens.py:1:205: SL000 [critical] syntax error: too many nested parentheses" in done.stdout
    assert (crashers / "chain.py").read_bytes() != before
    deep = "x = " + "(" * 300 + "a" + ")" * 300 + "\n"
    (crashers / "chain.py").write_text(CHAIN + "\n" + FIXABLE, encoding="utf-8")
    before = (crashers / "chain.py").read_bytes()
    done = sightlint(crashers, "fix", "--show-fixes", "chain.py")
    # Here the deep statement is in the header the new import would go into: no fix.
    assert "SL201 not fixed: no fix: statement too deeply nested for the fixer" in done.stderr, done.stderr
    assert (crashers / "chain.py").read_bytes() == before
    # The other files are fixed: bad.py's utcnow() gets SL301's safe (naive-preserving) fix.
    assert ".replace(tzinfo=None)" in (crashers / "bad.py").read_text(encoding="utf-8")
    assert "logger.exception" in (crashers / "fixme.py").read_text(encoding="utf-8")


def _blocks(depth: int) -> str:
    return "".join("    " * i + "if a:\n" for i in range(depth)) + "    " * depth + "pass\n"


@pytest.mark.parametrize(
    ("kind", "allowed", "refused"),
    [
        ("unary", "x = " + "-" * 1000 + "a\n", "x = " + "-" * 3000 + "a\n"),
        ("attributes", "x = a" + ".b" * 600 + "\n", "x = a" + ".b" * 1800 + "\n"),
        ("calls", "x = a" + "()" * 1000 + "\n", "x = a" + "()" * 3000 + "\n"),
        ("lambdas", "x = " + "lambda a, b: " * 400 + "a\n", "x = " + "lambda a, b: " * 1200 + "a\n"),
        ("comprehension", "x = [a " + "for a, b in c " * 300 + "]\n", "x = [a " + "for a, b in c " * 900 + "]\n"),
        ("f-string", "x = f'{" + "-" * 1500 + "a}'\n", "x = f'{" + "-" * 4500 + "a}'\n"),
        ("brackets", "x = " + "(" * 200 + "a" + ")" * 200 + "\n", "x = " + "(" * 201 + "a" + ")" * 201 + "\n"),
        ("chain-in-brackets", "x = " + "(" * 150 + " + ".join(["a"] * 500) + ")" * 150 + "\n",
         "x = " + "(" * 150 + " + ".join(["a"] * 1500) + ")" * 150 + "\n"),
        ("blocks", _blocks(100), _blocks(101)),
    ],
)
def test_the_guard_measures_each_kind_of_nesting(kind: str, allowed: str, refused: str) -> None:
    """What the interpreter accepts at a third of LibCST's crash depth passes; three times
    that (past the interpreter's own limits for brackets and blocks) is refused."""
    from sightlint.nesting import too_nested

    assert too_nested(allowed) is None
    assert too_nested(refused)


def test_real_code_is_not_refused() -> None:
    from sightlint.nesting import too_nested

    package = Path(__file__).resolve().parents[1] / "sightlint"
    for path in package.rglob("*.py"):
        assert too_nested(path.read_text(encoding="utf-8")) is None, path
    data = "TABLE = {\n" + "".join(f"    'key{i}': (f(x.y[{i}]) + {i}, lambda a, b: a),\n" for i in range(5000)) + "}\n"
    assert too_nested(data) is None


# -- a worker process that dies ---------------------------------------------------------

BODIES = [BAD, FIXABLE, "def add(a, b):\n    return a + b\n", "def broken(:\n    pass\n"]


@pytest.fixture()
def many(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Enough files (40) to go through the process pool."""
    from sightlint import runner

    monkeypatch.setattr(runner, "_MIN_PARALLEL_BYTES", 0)
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    for i in range(40):
        (tmp_path / f"m{i:02d}.py").write_text(BODIES[i % len(BODIES)], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _kill_workers_on(monkeypatch: pytest.MonkeyPatch, names: set[str], how: str) -> None:
    """Make a pool worker (never this process) die on the files ``names``.

    Reaches the workers through ``fork``, which copies this patched module into them:
    nothing in sightlint itself can be told to crash."""
    from sightlint import runner

    parent, real = os.getpid(), runner.check_one

    def deadly(data: bytes | str, display: str, *args: object, **kwargs: object) -> object:
        if display in names and os.getpid() != parent:
            if how == "segfault":
                faulthandler.disable()  # pytest's would print the worker's stack
                os.kill(os.getpid(), signal.SIGSEGV)
            os._exit(3)
        return real(data, display, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "check_one", deadly)


needs_fork = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the patched checker reaches workers by fork")


@needs_fork
def test_a_worker_killed_by_a_file_costs_that_file_only(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = CliRunner().invoke(main, ["check", "--format", "json", "--no-cache", "--jobs", "1"])
    assert reference.exit_code == 1
    _kill_workers_on(monkeypatch, {"m05.py"}, "segfault")
    result = CliRunner().invoke(main, ["check", "--format", "json", "--no-cache", "--jobs", "2"])
    assert result.exit_code == 2, result.output  # an internal error
    found = findings(result.output)
    assert found.pop(("m05.py", "SL000")) == "the checker crashed on this file (its process was killed by SIGSEGV)"
    expected = findings(reference.output)
    expected.pop(("m05.py", "SL201"))
    assert found == expected  # every other file has its own findings


@needs_fork
def test_files_that_kill_workers_are_found_among_many(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sightlint import runner
    from sightlint.files import discover
    from sightlint.registry import enabled_rules
    from sightlint.settings import Settings

    settings = Settings()
    files = discover([many], settings, cwd=many).files
    rules = enabled_rules(settings)
    reference = runner.check_files(files, settings, rules=rules, jobs=1)
    _kill_workers_on(monkeypatch, {"m00.py", "m13.py", "m39.py"}, "exit")
    results = runner.check_files(files, settings, rules=rules, jobs=2)
    assert [r.path for r in results] == [f.display for f in files]
    for got, want in zip(results, reference):
        if got.path in ("m00.py", "m13.py", "m39.py"):
            assert [f.message for f in got.findings] == ["the checker crashed on this file (its process exited with code 3)"]
            assert got.errors == [f"internal error while checking {got.path}: the checker crashed on this file (its process exited with code 3)"]
        else:
            assert (got.findings, got.errors) == (want.findings, want.errors), got.path


# -- the interpreter's own parser ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = " + "(" * 201 + "1" + ")" * 201 + "\n", "syntax error: too many nested parentheses"),
        ("x = " + "lambda: " * 4000 + "a\n", "cannot parse file: MemoryError: Parser stack overflowed"),
        pytest.param(
            "x = a" + ".b" * 100_000 + "\n",
            "cannot parse file: RecursionError: maximum recursion depth exceeded during ast construction",
            marks=pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10 builds the tree"),
        ),
    ],
    ids=["201-parentheses", "lambdas", "attributes"],
)
def test_what_the_interpreter_cannot_parse_is_one_finding(text: str, message: str) -> None:
    from sightlint import api, fixer
    from sightlint.settings import Settings

    result = api.check_source(text, "deep.py", Settings())
    assert [f.code for f in result.findings] == ["SL000"] and not result.errors
    assert result.findings[0].message.startswith(message), result.findings[0].message
    outcome = fixer.fix_source(text.encode(), "deep.py", Settings())
    assert outcome.status == "failed" and outcome.new is None and outcome.reason == result.findings[0].message


def test_the_fixer_declines_a_file_too_large_for_libcst(monkeypatch: pytest.MonkeyPatch) -> None:
    from sightlint import fixer
    from sightlint.settings import Settings

    # LibCST parses the statement that holds the finding (here the `try`, under a synthetic
    # `if True:`): its size is what counts.
    region = "if True:\n" + "".join(FIXABLE.splitlines(keepends=True)[1:5])
    monkeypatch.setattr(fixer, "MAX_FIX_SIZE", len(region) - 1)
    outcome = fixer.fix_source(FIXABLE.encode(), "big.py", Settings())
    assert outcome.status == "unchanged" and outcome.new is None
    size = len(region)
    assert [why for _, why in outcome.skipped] == [f"no fix: statement too large for the fixer ({size} bytes > {size - 1} bytes)"]
    # A file larger than the limit whose fixed statement is within it is fixed.
    monkeypatch.setattr(fixer, "MAX_FIX_SIZE", size)
    big = FIXABLE + ("x = 1\n" * size)
    assert len(big) > size
    assert fixer.fix_source(big.encode(), "big.py", Settings()).status == "changed"
    monkeypatch.setattr(fixer, "MAX_FIX_SIZE", len(FIXABLE))
    assert fixer.fix_source(FIXABLE.encode(), "big.py", Settings()).status == "changed"


def test_an_installed_module_too_deep_for_the_parser_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cross-file phase parses installed packages' sources too (importlib's finder
    already ignores a FIFO or a device named like a module)."""
    from sightlint.project import thirdparty

    (tmp_path / "deepmod.py").write_text("class A(Exception):\n    pass\n\nx = " + "lambda: " * 4000 + "a\n", encoding="utf-8")
    (tmp_path / "okmod.py").write_text("class A(Exception):\n    pass\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    classes = thirdparty.ThirdPartyClasses()
    assert classes.ancestors("deepmod.A") is None  # MemoryError from the parser: not read
    assert classes.ancestors("okmod.A") == ("okmod.A", "builtins.Exception")


def test_the_fixer_declines_code_with_too_many_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 900 KB line of ``1, 1, ...`` took LibCST over 5 minutes and 1.8 GB: bytes alone
    do not bound its cost, tokens do. LibCST parses the statement that holds the finding
    and, when the fix adds an import, the module's header: each is bounded."""
    from sightlint import fixer
    from sightlint.settings import Settings

    dense = "x = [" + "1, " * 60 + "]\n"
    inside = FIXABLE.replace("return await g(t)", "return await g(t, [" + "1, " * 60 + "])")  # in the statement fixed
    above = dense + FIXABLE  # in the header, where the fix's import goes
    for text in (inside, above):
        monkeypatch.setattr(fixer, "MAX_FIX_TOKENS", 100)
        outcome = fixer.fix_source(text.encode(), "dense.py", Settings())
        assert outcome.status == "unchanged", text
        assert [why for _, why in outcome.skipped] == ["no fix: statement too large for the fixer (more than 100 tokens)"]
        monkeypatch.setattr(fixer, "MAX_FIX_TOKENS", 1000)
        assert fixer.fix_source(text.encode(), "dense.py", Settings()).status == "changed"
    # Below the def, the dense line is not parsed at all: fixed under the small limit.
    monkeypatch.setattr(fixer, "MAX_FIX_TOKENS", 100)
    assert fixer.fix_source((FIXABLE + dense).encode(), "dense.py", Settings()).status == "changed"
    monkeypatch.undo()
    assert fixer.MAX_FIX_TOKENS * 4 < fixer.MAX_FIX_SIZE  # the token limit binds before the size limit on dense code


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (FIXABLE.replace("\n", "\r"), True),  # LibCST drops the last \r: put back
        (FIXABLE.replace("\n", "\r\n"), True),
        # A form feed outside the statement fixed is not parsed: fixed, the form feed kept.
        (FIXABLE.replace("    return None", "\x0c    return None"), True),
        (FIXABLE.replace("\n", "\r").replace("    return None", "\x0c    return None"), True),
        # In the statement fixed: LibCST drops it, or cannot parse it: not fixed.
        (FIXABLE.replace("    except", "\x0c    except"), "NOT_ROUND_TRIP"),
        (FIXABLE.replace("        return await", "\x0c        return await"), "NOT_PARSED"),
    ],
    ids=["cr-only", "crlf", "form-feed-elsewhere", "cr-only-form-feed-elsewhere", "form-feed-dropped", "form-feed-unparsed"],
)
def test_the_fixer_never_loses_what_libcst_does_not_round_trip(text: str, kept: bool | str) -> None:
    from sightlint import fixer
    from sightlint.settings import Settings

    outcome = fixer.fix_source(text.encode(), "odd.py", Settings())
    if isinstance(kept, str):
        assert outcome.status == "unchanged" and [why for _, why in outcome.skipped] == [getattr(fixer, kept)]
        return
    assert outcome.status == "changed" and outcome.new is not None
    newline = b"\r\n" if b"\r\n" in text.encode() else b"\n" if b"\n" in text.encode() else b"\r"
    assert outcome.new.endswith(b"return None" + newline)
    assert outcome.new.replace(newline, b"") == outcome.new.replace(newline, b"").replace(b"\r", b"").replace(b"\n", b"")
    assert outcome.new.count(b"\x0c") == text.count("\x0c")
    assert outcome.new.count(newline) > text.encode().count(newline)  # lines added, none merged
