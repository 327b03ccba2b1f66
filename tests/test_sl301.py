"""SL301 naive-utcnow: its grading, its two fixes (the mechanism of rules/base.py) and the
``target-version`` setting its fixes follow."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from sightlint.api import check_source
from sightlint.cli import main
from sightlint.config import ConfigError, effective, load, lowest_python, settings_from_table
from sightlint.fixer import fix_source
from sightlint.models import Finding, FixSafety, Severity
from sightlint.settings import Settings

SETTINGS = Settings(select=("SL301",))


def found(code: str, settings: Settings = SETTINGS) -> list[Finding]:
    return [f for f in check_source(textwrap.dedent(code), "m.py", settings).findings if f.code == "SL301"]


def fixed(code: str, *, unsafe: bool = False, settings: Settings = SETTINGS) -> str:
    outcome = fix_source(textwrap.dedent(code).encode(), "m.py", settings, unsafe=unsafe)
    assert outcome.status == "changed", (outcome.reason, outcome.skipped)
    assert outcome.new is not None
    return outcome.new.decode()


# -- grading -----------------------------------------------------------------------------


def test_plain_use_is_medium_with_a_safe_fix() -> None:
    (finding,) = found("""\
        from datetime import datetime, timedelta
        def expiry(created_at):
            return datetime.utcnow() - created_at > timedelta(days=1)
        """)
    assert finding.severity is Severity.MEDIUM
    assert finding.fix_safety is FixSafety.SAFE
    assert finding.fix_title is not None and "naive" in finding.fix_title


@pytest.mark.parametrize(
    "body",
    [
        "    now = datetime.utcnow()\n    return now > token.expires_at.astimezone(timezone.utc)\n",
        "    return datetime.utcnow() - datetime.now(timezone.utc)\n",
        "    start = datetime(2024, 1, 1, tzinfo=timezone.utc)\n    return datetime.utcnow() - start\n",
        "    limit = datetime.now(tz=timezone.utc) + delta\n    now = datetime.utcnow() + delta\n    return limit < now\n",
        "    return datetime.fromtimestamp(t, timezone.utc) < datetime.utcnow()\n",
    ],
)
def test_meeting_an_aware_value_in_the_function_is_high_and_only_aware_fixable(body: str) -> None:
    code = f"from datetime import datetime, timezone\n\ndef f(token, t, delta):\n{body}"
    (finding,) = found(code)
    assert finding.severity is Severity.HIGH
    assert "TypeError" in finding.message
    # Keeping the value naive would keep the TypeError and silence the finding.
    assert finding.fix_safety is FixSafety.UNSAFE
    assert fix_source(code.encode(), "m.py", SETTINGS).status == "unchanged"
    assert ".replace(tzinfo=None)" not in fixed(code, unsafe=True)


@pytest.mark.parametrize(
    "body",
    [
        # naive against naive, or against what cannot be told
        "    return datetime.utcnow() - token.created_at\n",
        "    return datetime.utcnow() > datetime.now(timezone.utc).replace(tzinfo=None)\n",
        # the aware value is in another function
        "    aware = datetime.now(timezone.utc)\n    def inner():\n        return datetime.utcnow() > token.at\n    return aware\n",
    ],
)
def test_near_misses_stay_medium(body: str) -> None:
    code = f"from datetime import datetime, timezone\n\ndef f(token):\n{body}"
    assert [f.severity for f in found(code)] == [Severity.MEDIUM]


@pytest.mark.parametrize(
    "body, method",
    [
        ("    now = datetime.utcnow()\n    return (now + timedelta(seconds=ttl)).timestamp()\n", "timestamp"),
        ("    return datetime.utcnow().timestamp()\n", "timestamp"),
        ("    return datetime.utcfromtimestamp(ttl).astimezone(timezone.utc)\n", "astimezone"),
    ],
)
def test_read_as_local_time_is_high_and_only_aware_fixable(body: str, method: str) -> None:
    # `.timestamp()` and `.astimezone()` read a naive datetime as the host's local time.
    code = f"from datetime import datetime, timedelta, timezone\n\ndef f(ttl):\n{body}"
    (finding,) = found(code)
    assert finding.severity is Severity.HIGH and f"`.{method}()`" in finding.message
    assert "local time" in finding.message
    assert finding.fix_safety is FixSafety.UNSAFE
    assert ".replace(tzinfo=None)" not in fixed(code, unsafe=True)


@pytest.mark.parametrize(
    "body",
    [
        # rebound to an aware value before it is read
        "    now = datetime.utcnow()\n    now = now.replace(tzinfo=timezone.utc)\n    return now.timestamp()\n",
        # another value's timestamp
        "    now = datetime.utcnow()\n    return ttl.timestamp(), now\n",
        # made aware first
        "    return datetime.utcnow().replace(tzinfo=timezone.utc).timestamp()\n",
    ],
)
def test_local_time_near_misses_stay_medium(body: str) -> None:
    code = f"from datetime import datetime, timedelta, timezone\n\ndef f(ttl):\n{body}"
    assert [f.severity for f in found(code)] == [Severity.MEDIUM]


def test_utcnow_as_a_parameter_default_is_high_with_no_fix() -> None:
    # Evaluated once, when the module's (or a class's) `def` runs; a `def` inside a
    # function takes its defaults per call of the outer one, a lambda's body per call.
    findings = found("""\
        from datetime import datetime, timedelta
        def f(ended_at: datetime = datetime.utcnow()):
            return ended_at
        class Repo:
            async def g(self, *, since=datetime.utcnow() - timedelta(days=1)):
                return since
        def outer():
            def inner(at=datetime.utcnow()):
                return at
            return inner
        def h(clock=lambda: datetime.utcnow(), epoch=datetime.utcfromtimestamp(0)):
            return clock()
        """)
    grades = {(f.line, f.severity, f.fix_safety) for f in findings}
    high, medium = Severity.HIGH, Severity.MEDIUM
    assert grades == {
        (2, high, FixSafety.NONE), (5, high, FixSafety.NONE),
        (8, medium, FixSafety.SAFE), (11, medium, FixSafety.SAFE),
    }
    assert all("evaluated once" in f.message for f in findings if f.severity is high)


def test_a_timezone_aware_column_is_high() -> None:
    findings = found("""\
        from datetime import datetime
        import sqlalchemy as sa
        from sqlmodel import Field

        class Job:
            started_at = sa.Column(sa.DateTime(timezone=True), default=datetime.utcnow)
            ended_at = Field(default_factory=datetime.utcnow, sa_column=sa.Column(sa.DateTime(timezone=True)))
            seen_at = sa.Column(sa.DateTime, default=datetime.utcnow)

        def finish(job):
            job.started_at = datetime.utcnow()
            job.seen_at = datetime.utcnow()
            return Job(ended_at=datetime.utcnow())
        """)
    grades = {f.line: f.severity for f in findings}
    high, medium = Severity.HIGH, Severity.MEDIUM
    assert grades == {6: high, 7: high, 8: medium, 11: high, 12: medium, 13: high}
    assert all("DateTime(timezone=True)" in f.message for f in findings if f.severity is Severity.HIGH)


def test_user_severity_override_still_wins() -> None:
    settings = dataclasses.replace(SETTINGS, severity={"SL301": Severity.LOW})
    (finding,) = found("from datetime import datetime\nx = datetime.utcnow()\n", settings)
    assert finding.severity is Severity.LOW


# -- the two fixes -----------------------------------------------------------------------


def test_the_value_stays_naive_unless_it_meets_aware_values() -> None:
    code = "from datetime import datetime\n\nstamp = datetime.utcnow().isoformat() + 'Z'\n"
    assert "datetime.now(timezone.utc).replace(tzinfo=None).isoformat() + 'Z'" in fixed(code)
    assert "datetime.now(timezone.utc).replace(tzinfo=None).isoformat() + 'Z'" in fixed(code, unsafe=True)
    # A naive DateTime column: never the aware fix, even with --unsafe-fixes.
    column = "from datetime import datetime\nfrom sqlalchemy import Column, DateTime\n\ncreated = Column(DateTime, default=datetime.utcnow)\n"
    assert "default=lambda: datetime.now(timezone.utc).replace(tzinfo=None))" in fixed(column, unsafe=True)
    # An aware column: the aware fix.
    aware = "from datetime import datetime\nfrom sqlalchemy import Column, DateTime\n\ncreated = Column(DateTime(timezone=True), default=datetime.utcnow)\n"
    assert "default=lambda: datetime.now(timezone.utc))" in fixed(aware, unsafe=True)


def test_parentheses_around_the_call_go_around_the_whole() -> None:
    code = "from datetime import datetime\n\nstamp = (datetime.utcnow()).isoformat()\n"
    new = fixed(code)
    assert "(datetime.now(timezone.utc).replace(tzinfo=None)).isoformat()" in new or (
        "(datetime.now(timezone.utc)).replace(tzinfo=None).isoformat()" in new
    )


def test_the_safe_fix_means_the_same_value() -> None:
    import datetime as real
    from datetime import timezone

    t = 1_700_000_000.123456
    assert real.datetime.fromtimestamp(t, tz=timezone.utc).replace(tzinfo=None) == real.datetime(2023, 11, 14, 22, 13, 20, 123456)
    before = real.datetime.now(timezone.utc).replace(tzinfo=None)
    assert before.tzinfo is None


# -- target-version ----------------------------------------------------------------------


PY311 = dataclasses.replace(SETTINGS, target_version="py311")


@pytest.mark.parametrize(
    ("code", "expected", "unsafe"),
    [
        ("from datetime import datetime\nx = datetime.utcnow()\n", "from datetime import UTC, datetime\nx = datetime.now(UTC).replace(tzinfo=None)\n", False),
        ("from datetime import datetime, timezone\nx = datetime.utcnow() < t.astimezone(timezone.utc)\n", "from datetime import UTC, datetime, timezone\nx = datetime.now(UTC) < t.astimezone(timezone.utc)\n", True),
        ("import datetime as d\nx = d.datetime.utcfromtimestamp(0)\n", "import datetime as d\nx = d.datetime.fromtimestamp(0, tz=d.UTC).replace(tzinfo=None)\n", False),
        ("from datetime import UTC, datetime\nx = datetime.utcnow()\n", "from datetime import UTC, datetime\nx = datetime.now(UTC).replace(tzinfo=None)\n", False),
        # `UTC` means something else: the fix falls back to timezone.utc
        ("from datetime import datetime\nfrom pytz import UTC\nx = datetime.utcnow()\n", "from datetime import datetime, timezone\nfrom pytz import UTC\nx = datetime.now(timezone.utc).replace(tzinfo=None)\n", False),
    ],
)
def test_from_python_3_11_the_fix_writes_utc(code: str, expected: str, unsafe: bool) -> None:
    assert fixed(code, unsafe=unsafe, settings=PY311) == expected


@pytest.mark.parametrize(
    ("spec", "lowest"),
    [
        (">=3.11", (3, 11)),
        (">=3.10,<4.0", (3, 10)),
        ("<4, >=3.12.1", (3, 12)),
        ("~=3.11", (3, 11)),
        ("^3.9", (3, 9)),
        ("==3.13.*", (3, 13)),
        (">3.10", (3, 10)),
        ("<3.13", None),
        ("", None),
        ("not a specifier", None),
    ],
)
def test_lowest_python(spec: str, lowest: tuple[int, int] | None) -> None:
    assert lowest_python(spec) == lowest


def _project(tmp_path: Path, body: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(body), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("requires", "version"),
    [(">=3.11", "py311"), (">=3.8", "py310"), (">=3.16", "py314"), (None, "py310")],
)
def test_target_version_defaults_to_requires_python(tmp_path: Path, requires: str | None, version: str) -> None:
    line = f"requires-python = {requires!r}\n" if requires else ""
    _project(tmp_path, f"[project]\nname = 'x'\n{line}\n[tool.sightlint]\nselect = ['SL301']\n")
    settings = load(None, [tmp_path])
    assert settings.target_version == version
    origin = {key: origin for key, _, origin in effective(settings)}["target-version"]
    assert (requires in origin) if requires else origin == "default"


def test_requires_python_is_read_without_a_sightlint_table(tmp_path: Path) -> None:
    _project(tmp_path, "[project]\nname = 'x'\nrequires-python = '>=3.12'\n")
    (tmp_path / "app").mkdir()
    assert load(None, [tmp_path / "app"]).target_version == "py312"


def test_target_version_setting_wins(tmp_path: Path) -> None:
    _project(tmp_path, "[project]\nrequires-python = '>=3.12'\n[tool.sightlint]\ntarget-version = 'py310'\n")
    assert load(None, [tmp_path]).target_version == "py310"


@pytest.mark.parametrize("value", ["py2", "3.11", "py39", 311])
def test_bad_target_version_lists_valid_values(value: object) -> None:
    with pytest.raises(ConfigError, match="py310, py311, py312, py313, py314"):
        settings_from_table({"target-version": value}, "pyproject.toml")


def test_cli_stops_on_a_bad_target_version_and_config_shows_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(_project(tmp_path, "[tool.sightlint]\ntarget-version = 'py2'\n"))
    result = CliRunner().invoke(main, ["check", "."])
    assert result.exit_code == 2
    assert "target-version" in result.output and "py314" in result.output
    _project(tmp_path, "[project]\nrequires-python = '>=3.13'\n[tool.sightlint]\n")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if line.startswith("target-version"))
    assert "py313" in row and "requires-python" in row


def test_messages_and_fix_titles_name_the_call_found() -> None:
    from sightlint.api import check_source
    from sightlint.settings import Settings

    code = (
        "from datetime import datetime, timezone\n\n"
        "def age(ts):\n    return datetime.utcfromtimestamp(ts)\n\n"
        "def late(ts):\n    return datetime.utcfromtimestamp(ts) < datetime.now(timezone.utc)\n\n"
        "def now():\n    return datetime.utcnow()\n"
    )
    findings = sorted(check_source(code, "app/m.py", Settings(select=("SL301",))).findings, key=lambda f: f.span.line)
    medium, high, plain = findings
    assert medium.message == (
        "`datetime.utcfromtimestamp(t)` is deprecated and returns a naive datetime; use `datetime.fromtimestamp(t, tz=timezone.utc)`, "
        "with `.replace(tzinfo=None)` where the value meets naive datetimes (a naive `DateTime` column)."
    )
    assert medium.fix_title == "Keep the value naive: `datetime.fromtimestamp(t, tz=timezone.utc).replace(tzinfo=None)`"
    assert high.severity is Severity.HIGH and high.message.startswith("`datetime.utcfromtimestamp(t)` returns a naive datetime")
    assert high.fix_title == "Make the value aware: `datetime.fromtimestamp(t, tz=timezone.utc)`"
    assert "utcnow" not in medium.message + high.message + (medium.fix_title or "") + (high.fix_title or "")
    assert plain.message.startswith("`datetime.utcnow()` is deprecated") and "datetime.now(timezone.utc)" in (plain.fix_title or "")
