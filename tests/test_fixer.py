"""The fixer: pure core (fix_source) and file layer (fix_file)."""

from __future__ import annotations

import ast
import dataclasses
import os
import stat
from pathlib import Path

import libcst as cst
import pytest

from sightlint.fixer import UNSAFE_REASON, fix_file, fix_source
from sightlint.rules.base import Fix
from sightlint.rules.naive_utcnow import NaiveUtcnow
from sightlint.rules.swallowed_exception import SwallowedException
from sightlint.settings import Settings

BOTH = Settings(select=("SL201", "SL301"))
SL201 = Settings(select=("SL201",))
SL301 = Settings(select=("SL301",))

SWALLOW = "def f():\n    try:\n        g()\n    except Exception:\n        pass\n"
UTCNOW = "from datetime import datetime\n\ndef f():\n    return datetime.utcnow()\n"
# Naive now against an aware value: graded high, SL301 then offers only its unsafe fix.
UTCNOW_HIGH = "from datetime import datetime, timezone\n\ndef f(at):\n    return datetime.utcnow() > at.astimezone(timezone.utc)\n"


def fixed(source: str, settings: Settings = BOTH, *, unsafe: bool = True) -> str:
    outcome = fix_source(source.encode(), "m.py", settings, unsafe=unsafe)
    assert outcome.status == "changed", (outcome.status, outcome.reason, outcome.skipped)
    assert outcome.new is not None
    text = outcome.new.decode()
    ast.parse(text)
    again = fix_source(outcome.new, "m.py", settings, unsafe=unsafe)
    assert again.status == "unchanged" and again.new is None
    return text


# -- results -------------------------------------------------------------------------


def test_clean_file_is_unchanged() -> None:
    outcome = fix_source(b"x = 1\n", "m.py", BOTH)
    assert outcome.status == "unchanged"
    assert outcome.new is None and outcome.applied == () and outcome.skipped == ()


def test_unsafe_fix_needs_opt_in() -> None:
    outcome = fix_source(UTCNOW_HIGH.encode(), "m.py", SL301)
    assert outcome.status == "unchanged"
    assert [reason for _, reason in outcome.skipped] == [UNSAFE_REASON]
    assert [f.code for f in outcome.remaining] == ["SL301"]
    assert "datetime.now(timezone.utc) >" in fixed(UTCNOW_HIGH, SL301)


def test_the_aware_fix_only_where_the_value_meets_aware_values() -> None:
    # A medium finding keeps its value naive even with --unsafe-fixes (it may meet naive columns).
    assert "datetime.now(timezone.utc).replace(tzinfo=None)\n" in fixed(UTCNOW, SL301, unsafe=False)
    assert "datetime.now(timezone.utc).replace(tzinfo=None)\n" in fixed(UTCNOW, SL301, unsafe=True)
    # Compared with an aware value (high): only the aware fix, with --unsafe-fixes.
    assert "return datetime.now(timezone.utc) > at" in fixed(UTCNOW_HIGH, SL301, unsafe=True)


def test_the_fixer_tells_the_rule_whether_unsafe_fixes_were_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    original = NaiveUtcnow.fix

    def spy(self: NaiveUtcnow, node: object, finding: object) -> Fix | None:
        seen.append(self.unsafe_fixes)
        return original(self, node, finding)  # type: ignore[arg-type]

    monkeypatch.setattr(NaiveUtcnow, "fix", spy)
    fix_source(UTCNOW.encode(), "m.py", SL301)
    fix_source(UTCNOW.encode(), "m.py", SL301, unsafe=True)
    assert seen == [False, True]


def test_safe_fixes_run_while_unsafe_ones_are_skipped() -> None:
    outcome = fix_source((UTCNOW_HIGH + SWALLOW.replace("def f", "def h")).encode(), "m.py", BOTH)
    assert outcome.status == "changed" and outcome.new is not None
    assert [f.code for f in outcome.applied] == ["SL201"]
    assert [(f.code, reason) for f, reason in outcome.skipped] == [("SL301", UNSAFE_REASON)]
    assert b"datetime.utcnow()" in outcome.new and b"logger.exception" in outcome.new


def test_syntax_error_fails_without_output() -> None:
    outcome = fix_source(b"def f(:\n    pass\n", "m.py", BOTH)
    assert outcome.status == "failed" and outcome.new is None
    assert outcome.reason is not None and "syntax error" in outcome.reason


def test_undecodable_input_fails() -> None:
    outcome = fix_source(b"x = '\xff\xfe'\n", "m.py", BOTH)
    assert outcome.status == "failed" and outcome.new is None


def test_crashing_fix_is_skipped_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: object, node: object, finding: object) -> Fix:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(SwallowedException, "fix", boom)
    outcome = fix_source(SWALLOW.encode(), "m.py", SL201)
    assert outcome.status == "unchanged"
    (reason,) = [r for _, r in outcome.skipped]
    assert "crashed" in reason and "kaboom" in reason


def test_declined_fix_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SwallowedException, "fix", lambda self, node, finding: None)
    outcome = fix_source(SWALLOW.encode(), "m.py", SL201)
    assert outcome.status == "unchanged"
    assert [r for _, r in outcome.skipped] == ["no fix for this case"]


def test_output_that_does_not_parse_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, node: cst.CSTNode, finding: object) -> Fix:
        name = cst.Name("x")
        object.__setattr__(name, "value", "x y")  # bypass validation: renders as `x y`
        return Fix(replacement=name)

    monkeypatch.setattr(NaiveUtcnow, "fix", broken)
    outcome = fix_source(UTCNOW.encode(), "m.py", SL301, unsafe=True)
    assert outcome.status == "failed" and outcome.new is None
    assert outcome.reason is not None and "invalid code" in outcome.reason


def test_suppressed_finding_is_not_fixed() -> None:
    source = SWALLOW.replace("except Exception:", "except Exception:  # noqa: SL201")
    assert fix_source(source.encode(), "m.py", SL201).status == "unchanged"


def test_overlapping_fixes_take_several_passes() -> None:
    source = "from datetime import datetime\n\nx = datetime.utcfromtimestamp(datetime.utcnow().timestamp())\n"
    outcome = fix_source(source.encode(), "m.py", SL301, unsafe=True)
    assert outcome.new is not None and len(outcome.applied) == 2
    # The inner call is read as local time by `.timestamp()` (SL301 high): only its aware
    # fix, which makes the timestamp the true epoch; the outer one stays naive.
    assert outcome.new.decode().endswith(
        "x = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp(), tz=timezone.utc).replace(tzinfo=None)\n"
    )


def test_unfixable_finding_stays_in_remaining() -> None:
    source = "try:\n    local = load_local()\nexcept Exception:\n    local = None\n"
    outcome = fix_source(source.encode(), "m.py", SL201)
    assert outcome.status == "unchanged" and outcome.skipped == ()
    assert [f.code for f in outcome.remaining] == ["SL201"]


# -- preserving bytes ----------------------------------------------------------------


def test_crlf_newlines_are_kept() -> None:
    source = SWALLOW.replace("\n", "\r\n")
    out = fixed(source, SL201)
    assert "\n" not in out.replace("\r\n", "")
    assert 'logger.exception("Ignored error in f")\r\n' in out


def test_bom_is_kept() -> None:
    data = b"\xef\xbb\xbf" + UTCNOW.encode()
    outcome = fix_source(data, "m.py", SL301, unsafe=True)
    assert outcome.new is not None and outcome.new.startswith(b"\xef\xbb\xbffrom datetime import datetime, timezone")


def test_latin1_coding_cookie_is_kept() -> None:
    source = "# -*- coding: latin-1 -*-\n" + UTCNOW.replace("def f():", "def f():\n    label = 'café'")
    outcome = fix_source(source.encode("latin-1"), "m.py", SL301, unsafe=True)
    assert outcome.new is not None
    assert "label = 'café'".encode("latin-1") in outcome.new
    assert b"datetime.now(timezone.utc)" in outcome.new


def test_non_ascii_and_tabs_before_the_node() -> None:
    source = "from datetime import datetime\nclass A:\n\tdef f(self):\n\t\tx = 'żółw'; y = datetime.utcnow()\n"
    assert "\t\tx = 'żółw'; y = datetime.now(timezone.utc).replace(tzinfo=None)\n" in fixed(source, SL301)


def test_comments_and_formatting_elsewhere_are_untouched() -> None:
    source = (
        "import os  # why: paths\n\n\n"
        "def f( a,b ):   # odd spacing stays\n"
        "    try:\n        g(a,b)\n"
        "    except Exception:  # header comment\n"
        "        # leading comment\n"
        "        pass  # trailing comment\n"
    )
    out = fixed(source, SL201)
    assert "import os  # why: paths\n" in out
    assert "def f( a,b ):   # odd spacing stays\n" in out
    # A comment in the handler foresaw the failure: one warning line, no traceback.
    assert (
        "    except Exception as exc:  # header comment\n"
        "        # leading comment\n"
        '        logger.warning("Ignored error in f: %r", exc)  # trailing comment\n'
    ) in out


# -- SL201 fix specifics -------------------------------------------------------------------


def test_one_logger_for_several_handlers() -> None:
    out = fixed(SWALLOW + SWALLOW.replace("def f", "def h"), SL201)
    assert out.count("import logging") == 1
    assert out.count("logger = logging.getLogger(__name__)") == 1
    assert 'logger.exception("Ignored error in h")' in out


def test_existing_logger_is_reused() -> None:
    source = "from app.core.logging import get_logger\n\nLOG = get_logger(__name__)\n\n" + SWALLOW
    out = fixed(source, SL201)
    assert 'LOG.exception("Ignored error in f")' in out and "import logging" not in out


def test_logger_name_taken_by_something_else() -> None:
    out = fixed("logger = None\n\n" + SWALLOW, SL201)
    assert "_logger = logging.getLogger(__name__)" in out
    assert '_logger.exception("Ignored error in f")' in out


def test_logging_bound_to_another_module_declines() -> None:
    outcome = fix_source(("from app import logging\n\n" + SWALLOW).encode(), "m.py", SL201)
    assert outcome.status == "unchanged"
    assert [r for _, r in outcome.skipped] == ["no fix for this case"]


def test_imported_logger_is_reused_but_not_an_imported_function() -> None:
    out = fixed("from loguru import logger\n\n" + SWALLOW, SL201)
    assert 'logger.exception("Ignored error in f")' in out and "import logging" not in out
    out = fixed("from math import log\n\n" + SWALLOW, SL201)
    assert "logger = logging.getLogger(__name__)" in out and "log.exception" not in out


def test_logger_a_function_may_rebind_is_not_reused() -> None:
    # `global log` makes the module's `log` None until `configure` runs.
    source = "import logging\n\nlog = logging.getLogger(__name__)\n\ndef configure():\n    global log\n    log = None\n\n"
    out = fixed(source + SWALLOW, SL201)
    assert 'logger.exception("Ignored error in f")' in out


def test_every_logger_name_taken_declines() -> None:
    source = SWALLOW.replace("def f():", "def f(logger, _logger, sightlint_logger):")
    outcome = fix_source(source.encode(), "m.py", SL201)
    assert outcome.status == "unchanged"
    assert [r for _, r in outcome.skipped] == ["no fix for this case"]


def test_star_import_that_may_bind_the_logger_name_declines() -> None:
    outcome = fix_source(("from helpers import *\n\n" + SWALLOW).encode(), "m.py", SL201)
    assert outcome.status == "unchanged"
    assert [r for _, r in outcome.skipped] == ["no fix for this case"]


def test_same_line_handler_with_several_statements() -> None:
    source = "def f(xs):\n    for x in xs:\n        try:\n            g(x)\n        except Exception: y = None; continue\n"
    out = fixed(source, SL201)
    # In a loop: one debug line per failure, no traceback (see test_sl201_fix.py).
    assert (
        "        except Exception as exc:\n"
        '            logger.debug("Ignored error in f: %r", exc)\n'
        "            y = None; continue\n"
    ) in out


def test_except_star_handler() -> None:
    source = "def f():\n    try:\n        g()\n    except* Exception:\n        pass\n"
    assert '    except* Exception:\n        logger.exception("Ignored error in f")\n' in fixed(source, SL201)


# -- SL301 fix specifics -------------------------------------------------------------------


def test_timezone_from_pytz_uses_module_when_imported() -> None:
    source = "import datetime as dtm\nfrom datetime import datetime\nfrom pytz import timezone\n\nx = datetime.utcnow()\n"
    assert "x = datetime.now(dtm.timezone.utc).replace(tzinfo=None)\n" in fixed(source, SL301)


def test_timezone_already_imported() -> None:
    source = "from datetime import datetime, timezone\n\ndef f():\n    return datetime.utcnow()\n"
    out = fixed(source, SL301)
    assert out.startswith("from datetime import datetime, timezone\n\n")
    assert "return datetime.now(timezone.utc)" in out


def test_local_timezone_variable_is_respected() -> None:
    source = "from datetime import datetime\n\ndef f():\n    timezone = 'Europe/Paris'\n    return datetime.utcnow()\n"
    out = fixed(source, SL301)
    assert "return datetime.now(dt_timezone.utc)" in out
    assert "from datetime import timezone as dt_timezone\n" in out


def test_callable_form_needing_a_class_body_name_declines() -> None:
    # The new lambda could not see `datetime`, which the class body imports.
    source = "from dataclasses import field\n\nclass Clock:\n    from datetime import datetime\n    stamp = field(default_factory=datetime.utcnow)\n"
    outcome = fix_source(source.encode(), "m.py", SL301, unsafe=True)
    assert outcome.status == "unchanged"
    assert [r for _, r in outcome.skipped] == ["no fix for this case"]


def test_trailing_comma_call() -> None:
    source = "from datetime import datetime\n\nx = datetime.utcfromtimestamp(\n    0,\n)\n"
    assert "x = datetime.fromtimestamp(\n    0, tz=timezone.utc,\n).replace(tzinfo=None)\n" in fixed(source, SL301)


# -- fix_file --------------------------------------------------------------------------------


def test_fix_file_writes_atomically_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "m.py"
    target.write_bytes(SWALLOW.encode())
    os.chmod(target, 0o640)
    outcome = fix_file(target, "m.py", SL201, unsafe=False, write=True)
    assert outcome.status == "changed"
    assert target.read_bytes() == outcome.new
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py"]  # no temp file left


def test_fix_file_without_write_leaves_file(tmp_path: Path) -> None:
    target = tmp_path / "m.py"
    target.write_bytes(SWALLOW.encode())
    outcome = fix_file(target, "m.py", SL201, unsafe=False, write=False)
    assert outcome.status == "changed" and outcome.new is not None
    assert target.read_bytes() == SWALLOW.encode()


def test_fix_file_through_symlink_keeps_link(tmp_path: Path) -> None:
    real = tmp_path / "real.py"
    real.write_bytes(SWALLOW.encode())
    link = tmp_path / "link.py"
    link.symlink_to(real)
    assert fix_file(link, "link.py", SL201, unsafe=False, write=True).status == "changed"
    assert link.is_symlink() and b"logger.exception" in real.read_bytes()


def test_fix_file_unreadable_is_failed(tmp_path: Path) -> None:
    missing = fix_file(tmp_path / "nope.py", "nope.py", SL201, unsafe=False, write=True)
    assert missing.status == "failed" and missing.reason and "cannot read" in missing.reason
    directory = fix_file(tmp_path, "dir", SL201, unsafe=False, write=True)
    assert directory.status == "failed"


def test_fix_file_unwritable_directory_is_failed(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    target = tmp_path / "m.py"
    target.write_bytes(SWALLOW.encode())
    os.chmod(tmp_path, 0o500)
    try:
        outcome = fix_file(target, "m.py", SL201, unsafe=False, write=True)
    finally:
        os.chmod(tmp_path, 0o700)
    assert outcome.status == "failed" and outcome.reason and "cannot write" in outcome.reason
    assert target.read_bytes() == SWALLOW.encode()


@pytest.mark.parametrize(
    ("imports", "expected"),
    [
        ("from datetime import datetime, timedelta", "from datetime import UTC, datetime, timedelta"),
        ("from datetime import date, datetime", "from datetime import UTC, date, datetime"),
        # not sorted to begin with: the new name goes last, nothing else moves
        ("from datetime import datetime, date", "from datetime import datetime, date, UTC"),
        ("from datetime import (\n    datetime,\n    timedelta,\n)", "from datetime import (\n    datetime,\n    timedelta, UTC,\n)"),
    ],
)
def test_a_name_added_to_a_sorted_import_keeps_it_sorted(imports: str, expected: str) -> None:
    settings = dataclasses.replace(SL301, target_version="py311")
    new = fixed(f"{imports}\n\nx = datetime.utcnow()\n", settings, unsafe=False)
    assert new.startswith(expected + "\n")


def test_a_fix_in_a_default_argument_is_applied() -> None:
    """LibCST's range of a Param ends before its default: the replacement must still reach it."""
    # `utcfromtimestamp(0)`: a constant, fixable default (`utcnow()` there is frozen at import,
    # which no replacement cures: SL301 offers no fix for it).
    source = "from datetime import datetime\n\n\ndef f(\n    a,\n    since: datetime = datetime.utcfromtimestamp(0),\n) -> None:\n    pass\n\n\n@deco(at=datetime.utcnow())\ndef g():\n    pass\n"
    out = fixed(source, SL301, unsafe=False)
    assert "since: datetime = datetime.fromtimestamp(0, tz=timezone.utc).replace(tzinfo=None)," in out
    assert "@deco(at=datetime.now(timezone.utc).replace(tzinfo=None))" in out


def test_fix_time_is_linear_in_the_findings_of_a_file() -> None:
    """Twice the findings in one file cost about twice the time (CPU time: the machine may be shared)."""
    import time

    def cost(n: int) -> float:
        source = "import logging\n\nlogger = logging.getLogger(__name__)\n\n" + "".join(
            f"def f{i}(x):\n    try:\n        x.run()\n    except Exception:\n        pass\n\n" for i in range(n)
        )
        start = time.process_time()
        outcome = fix_source(source.encode(), "m.py", SL201)
        assert len(outcome.applied) == n
        return time.process_time() - start

    cost(50)  # warm up imports
    small, large = min(cost(300) for _ in range(2)), min(cost(600) for _ in range(2))
    assert large < 2.8 * small, (small, large)
