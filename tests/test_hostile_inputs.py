"""Odd, broken and hostile files: each costs itself one clear finding, never the run.

For every input: no traceback, a per-file diagnostic (SL000) that says what is wrong,
the other files still checked, and ``fix`` leaves its bytes alone. Odd but valid files
(a coding cookie, a BOM, CR-only, mixed newlines, form feeds, a 1 MB line) are checked
like any other, at the right lines, and ``fix`` keeps their encoding, BOM and newlines.
See also ``tests/test_hardening.py`` (FIFOs, devices, symlink loops, LibCST's crashes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint.cli import main

FIX = "async def f(t):\n    try:\n        return await g(t)\n    except Exception:\n        pass\n    return None\n"
BAD = "from datetime import datetime\n\nstamp = datetime.utcnow()\n"
SWALLOWED = "`except Exception:` swallows the error without logging or re-raising it."

# name -> (bytes, the SL000 message, or None when the file is checked normally)
BROKEN: dict[str, tuple[bytes, str]] = {
    "nul.py": (b"x = 1\x00\n" + BAD.encode(), "cannot read file: binary file (contains NUL bytes), not Python source"),
    "binary.py": (bytes(range(256)) * 4, "cannot read file: binary file (contains NUL bytes), not Python source"),
    "bad_utf8.py": (
        b"x = '\xff\xfe'\n" + BAD.encode(),
        "cannot read file: cannot determine the encoding (not UTF-8 and no valid coding cookie): "
        "invalid or missing encoding declaration",
    ),
    "bad_cookie.py": (
        b"# -*- coding: klingon -*-\n" + BAD.encode(),
        "cannot read file: cannot determine the encoding (not UTF-8 and no valid coding cookie): unknown encoding: klingon",
    ),
    "py2_print.py": (
        b'import sys\nprint "hello"\n',
        "syntax error: Missing parentheses in call to 'print'. Did you mean print(...)? "
        "(looks like Python 2: a `print` statement; sightlint reads Python 3)",
    ),
    "py2_backquote.py": (b"x = `1`\n", "syntax error: invalid syntax (looks like Python 2: backquotes; sightlint reads Python 3)"),
    "py2_except.py": (
        b"try:\n    pass\nexcept ValueError, e:\n    pass\n",
        "syntax error: multiple exception types must be parenthesized (looks like Python 2: `except E, name:`; "
        "sightlint reads Python 3; or the file uses Python 3.14 syntax; sightlint is running on Python "
        f"{sys.version_info[0]}.{sys.version_info[1]})",
    ),
    "py2_raise.py": (b'raise ValueError, "no"\n', "syntax error: invalid syntax (looks like Python 2: `raise E, message`; sightlint reads Python 3)"),
    "py2_long.py": (b"x = 10L\n", "syntax error: invalid decimal literal (looks like Python 2: a long integer literal (`10L`); sightlint reads Python 3)"),
    "py2_ne.py": (b"if a <> b:\n    pass\n", "syntax error: invalid syntax (looks like Python 2: the `<>` operator; sightlint reads Python 3)"),
    "plain_error.py": (b"def f(:\n    pass\n", "syntax error: invalid syntax"),
    "deep.py": (
        ("x = " + "(" * 10_000 + "1" + ")" * 10_000 + "\n").encode(),
        "syntax error: too many nested parentheses (not checked for newer Python syntax: "
        "the file is too deeply nested, more than 200 nested brackets)",
    ),
}
if sys.version_info >= (3, 11):  # 3.10's parser builds the tree (and the interpreter cannot compile it either)
    BROKEN["long_sum.py"] = (
        ("y = " + " + ".join(["a"] * 50_000) + "\n" + FIX).encode(),
        "cannot parse file: RecursionError: maximum recursion depth exceeded during ast construction",
    )
if sys.version_info < (3, 12):
    BROKEN["newer.py"] = (
        b"type Point = tuple[float, float]\n",
        f"syntax error: invalid syntax (the file uses Python 3.12 syntax; sightlint is running on Python {sys.version_info[0]}.{sys.version_info[1]})",
    )

# Odd but valid: name -> (bytes, the line of SL201's finding).
ODD: dict[str, tuple[bytes, int]] = {
    "fine.py": (FIX.encode(), 4),
    "latin1.py": (("# -*- coding: latin-1 -*-\nname = 'caf\xe9 \xbd'\n" + FIX).encode("latin-1"), 6),
    "bom.py": (b"\xef\xbb\xbf" + FIX.encode(), 4),
    "bom_cookie.py": (b"\xef\xbb\xbf# coding: utf-8\n" + FIX.encode(), 5),
    "crlf.py": (FIX.replace("\n", "\r\n").encode(), 4),
    "cr.py": (FIX.replace("\n", "\r").encode(), 4),
    "mixed.py": (("x = 1\r\n" + FIX.replace("\n", "\r", 2)).encode(), 5),
    "formfeed.py": (("\x0c\nx = 1\n\x0c\n" + FIX + "\x0c\ny = 2\x0c\n").encode(), 7),
    "formfeed_indent.py": (FIX.replace("    return None", "\x0c    return None").encode(), 4),
    "formfeed_in_try.py": (FIX.replace("    except", "\x0c    except").encode(), 4),
    "no_final_newline.py": (FIX.rstrip("\n").encode(), 4),
    "hugeline.py": (("x = [" + "1, " * 300_000 + "]\n" + FIX).encode(), 5),
    "long_and.py": (("y = " + " and ".join(["a"] * 50_000) + "\n" + FIX).encode(), 5),
}


def run(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGHTLINT_NO_CACHE": "1", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "sightlint", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode >= 0, f"killed by signal {-done.returncode}: {done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def by_file(out: str) -> dict[str, list[tuple[str, int, str]]]:
    found: dict[str, list[tuple[str, int, str]]] = {}
    for f in json.loads(out)["findings"]:
        found.setdefault(f["path"], []).append((f["code"], f["line"], f["message"]))
    return found


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    for name, (data, _) in {**BROKEN, **ODD}.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def test_check_gives_each_broken_file_one_clear_finding(project: Path) -> None:
    done = run(project, "check", "--format", "json", "--select", "ALL")
    assert done.returncode == 1, done.stderr
    found = by_file(done.stdout)
    for name, (_, message) in BROKEN.items():
        assert found.get(name, [])[:1] == [("SL000", found[name][0][1], message)], (name, found.get(name))
        assert len(found[name]) == 1, found[name]
    for name, (_, line) in ODD.items():
        assert ("SL201", line, SWALLOWED) in found.get(name, []), (name, found.get(name))
        assert not any(code == "SL000" for code, _, _ in found[name]), found[name]
    # The parse errors point at the line that is wrong.
    assert found["py2_print.py"][0][1] == 2 and found["py2_except.py"][0][1] == 3


def test_text_output_names_each_broken_file(project: Path) -> None:
    done = run(project, "check", "--no-source")
    assert done.returncode == 1
    for name, (_, message) in BROKEN.items():
        assert f"{name}:" in done.stdout and message.split(" (")[0] in done.stdout, name


def test_fix_leaves_broken_files_alone_and_keeps_encoding_bom_and_newlines(project: Path) -> None:
    checked = run(project, "check", "--format", "json")
    done = run(project, "fix", "--show-fixes", "--format", "json")
    # What remains is reported as `check` reports it, with its exit code: each broken file
    # is its one SL000 finding (the fix does not touch it).
    assert done.returncode == checked.returncode == 1, done.stderr
    found = by_file(done.stdout)
    for name, (data, message) in BROKEN.items():
        assert (project / name).read_bytes() == data, name
        assert found[name] == [("SL000", found[name][0][1], message)], name
    after = {name: (project / name).read_bytes() for name in ODD}
    # Past what the fixer takes on (LibCST would take minutes and gigabytes, or crash): unchanged, and said why.
    # (The line is above the def: the module header, where the fix's import would go.)
    assert after["hugeline.py"] == ODD["hugeline.py"][0]
    assert "hugeline.py:5:5: SL201 not fixed: no fix: statement too large for the fixer (more than 150,000 tokens)" in done.stderr
    assert after["long_and.py"] == ODD["long_and.py"][0]
    assert "long_and.py:5:5: SL201 not fixed: no fix: statement too deeply nested for the fixer" in done.stderr
    fixed = [name for name in ODD if name not in ("hugeline.py", "long_and.py", "formfeed_in_try.py")]
    for name in fixed:
        assert b"logger.exception" in after[name], name
        compile(after[name], name, "exec")
    latin = after["latin1.py"]
    assert latin.startswith(b"# -*- coding: latin-1 -*-\n") and "'caf\xe9 \xbd'".encode("latin-1") in latin
    assert after["bom.py"].startswith(b"\xef\xbb\xbf") and after["bom.py"].count(b"\xef\xbb\xbf") == 1
    assert after["bom_cookie.py"].startswith(b"\xef\xbb\xbf# coding: utf-8\n")
    assert b"\n" not in after["cr.py"] and after["cr.py"].endswith(b"    return None\r")  # LibCST drops that last \r
    assert b"\n" not in after["crlf.py"].replace(b"\r\n", b"") and b"\r" not in after["crlf.py"].replace(b"\r\n", b"")
    assert after["mixed.py"].startswith(b"x = 1\r\n") or b"x = 1\r\n" in after["mixed.py"]
    assert after["formfeed.py"].count(b"\x0c") == ODD["formfeed.py"][0].count(b"\x0c") == 4  # kept at a line's start
    # LibCST drops one that starts an indented line: outside the statement fixed it is not
    # parsed (kept); inside it, the file is not fixed rather than changed there.
    assert after["formfeed_indent.py"].count(b"\x0c    return None") == 1
    assert after["formfeed_in_try.py"] == ODD["formfeed_in_try.py"][0]
    assert "formfeed_in_try.py:4:6: SL201 not fixed: no fix: the fixer's parser (LibCST) would not write" in done.stderr
    assert not after["no_final_newline.py"].endswith(b"\n\n")
    # A second fix changes nothing.
    again = run(project, "fix")
    assert {name: (project / name).read_bytes() for name in ODD} == after
    assert "Fixed 0 finding(s) in 0 file(s)." in again.stderr + again.stdout


def test_a_file_over_the_default_max_file_size_is_skipped_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    big = (FIX + "x = 1  # padding" + " " * 80 + "\n" * 1) * 1 + "# " + "p" * 98 + "\n"
    data = (FIX + ("# " + "p" * 97 + "\n") * 210_000).encode()  # 21 MB
    assert len(data) > 20 * 1024 * 1024 and big
    (tmp_path / "huge.py").write_bytes(data)
    (tmp_path / "fine.py").write_text(FIX, encoding="utf-8")
    done = run(tmp_path, "check", "--format", "json")
    found = by_file(done.stdout)
    assert found["huge.py"] == [("SL000", 1, "cannot read file: larger than max-file-size (20.0 MB > 10.0 MB); not checked")]
    assert found["fine.py"] == [("SL201", 4, SWALLOWED)]
    done = run(tmp_path, "fix", "--format", "json")
    assert by_file(done.stdout)["huge.py"] == [("SL000", 1, "cannot read file: larger than max-file-size (20.0 MB > 10.0 MB); not checked")]
    assert (tmp_path / "huge.py").read_bytes() == data
    assert "logger.exception" in (tmp_path / "fine.py").read_text(encoding="utf-8")


# -- files that cannot be read, or vanish ----------------------------------------------


@pytest.fixture()
def small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    for name in ("a.py", "secret.py", "z.py"):
        (tmp_path / name).write_text(FIX, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_an_unreadable_file_is_one_finding(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permission bits do not stop root (CI often runs as root), so the refusal is made
    at ``os.open``, where the kernel would make it."""
    real = os.open

    def refusing(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if os.fspath(path).endswith("secret.py"):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", os.fspath(path))  # type: ignore[arg-type]
        return real(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing)
    before = (small / "secret.py").read_bytes()
    result = CliRunner().invoke(main, ["check", "--format", "json", "--no-cache", "--jobs", "1"])
    found = by_file(result.output)
    assert found["secret.py"] == [("SL000", 1, "cannot read file: Permission denied")]
    assert found["a.py"] == found["z.py"] == [("SL201", 4, SWALLOWED)]
    assert result.exit_code == 1
    result = CliRunner().invoke(main, ["fix"])
    assert "secret.py:1:1: SL000 [critical] cannot read file: Permission denied" in result.output
    assert (small / "secret.py").read_bytes() == before
    assert "logger.exception" in (small / "a.py").read_text() and "logger.exception" in (small / "z.py").read_text()


def test_a_file_deleted_during_the_run_is_one_finding(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sightlint import api, files

    real = files.discover

    def discover_then_delete(*args: object, **kwargs: object) -> files.Discovery:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        (small / "secret.py").unlink(missing_ok=True)
        return found

    monkeypatch.setattr(api, "discover", discover_then_delete)
    result = CliRunner().invoke(main, ["check", "--format", "json", "--no-cache", "--jobs", "1"])
    found = by_file(result.output)
    assert found["secret.py"] == [("SL000", 1, "cannot read file: No such file or directory")]
    assert found["a.py"] == found["z.py"] == [("SL201", 4, SWALLOWED)]
    (small / "secret.py").write_text(FIX, encoding="utf-8")
    monkeypatch.setattr(files, "discover", discover_then_delete)
    result = CliRunner().invoke(main, ["fix"])
    assert "secret.py:1:1: SL000 [critical] cannot read file: No such file or directory" in result.output
    assert not (small / "secret.py").exists()  # not written back either
    assert "logger.exception" in (small / "a.py").read_text() and "logger.exception" in (small / "z.py").read_text()


# -- links out of the project --------------------------------------------------------------


def test_a_link_out_of_the_project_is_not_followed_unless_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside, root = tmp_path / "outside", tmp_path / "project"
    outside.mkdir()
    root.mkdir()
    (outside / "ext.py").write_text(BAD, encoding="utf-8")
    (root / "pyproject.toml").write_text("[tool.sightlint]\n", encoding="utf-8")
    (root / "own.py").write_text(BAD, encoding="utf-8")
    (root / "pkg").mkdir()
    (root / "pkg" / "inner.py").write_text(FIX, encoding="utf-8")
    (root / "link.py").symlink_to(outside / "ext.py")
    (root / "linkdir").symlink_to(outside)
    (root / "inside_link.py").symlink_to(root / "pkg" / "inner.py")  # inside: the same file, once
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, ["check", "--format", "json", "--no-cache"])
    found = set(by_file(result.output))
    assert found - {"inside_link.py", "pkg/inner.py"} == {"own.py"} and len(found) == 2, found  # inner.py once
    result = CliRunner().invoke(main, ["fix"])
    assert result.exit_code in (0, 1), result.output
    assert (outside / "ext.py").read_text(encoding="utf-8") == BAD  # nothing written outside
    assert "timezone" in (root / "own.py").read_text(encoding="utf-8")
    # Named on the command line, a link is followed: the user asked for it.
    result = CliRunner().invoke(main, ["check", "--format", "json", "--no-cache", "link.py"])
    assert set(by_file(result.output)) == {"link.py"}
    result = CliRunner().invoke(main, ["check", "--format", "json", "--no-cache", "linkdir"])
    assert set(by_file(result.output)) == {"linkdir/ext.py"}
