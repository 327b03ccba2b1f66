from __future__ import annotations

from pathlib import Path

import pytest

from sightlint.config import ConfigError, effective, find_pyproject, load
from sightlint.models import Severity
from sightlint.settings import Settings


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_defaults_without_config(tmp_path: Path) -> None:
    settings = load(None, [tmp_path])
    assert settings == Settings()


def test_nearest_pyproject_with_our_table_wins(tmp_path: Path) -> None:
    write(tmp_path, "[tool.sightlint]\nignore = ['SL301']\n")
    inner = tmp_path / "pkg"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    assert find_pyproject(inner) == tmp_path / "pyproject.toml"
    settings = load(None, [inner])
    assert settings.ignore == ("SL301",)
    assert not settings.is_enabled("SL301", "naive-utcnow")


def test_all_keys_parse(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[tool.sightlint]
select = ["SL2", "naive-utcnow"]
extend-select = ["SL301"]
ignore = ["SL202"]
extend-exclude = ["migrations"]
fail-on = "high"
respect-gitignore = false
report-unused-suppressions = true
cache-dir = ".cache/sl"
src = ["src"]

[tool.sightlint.per-file-ignores]
"tests/*" = ["SL301"]

[tool.sightlint.severity]
SL301 = "medium"
""",
    )
    s = load(path, [])
    assert s.select == ("SL2", "naive-utcnow")
    assert s.fail_on is Severity.HIGH
    assert s.respect_gitignore is False
    assert s.severity["SL301"] is Severity.MEDIUM
    assert s.ignored_for_path("tests/test_a.py", "SL301", "naive-utcnow")
    assert not s.ignored_for_path("app/a.py", "SL301", "naive-utcnow")
    assert s.is_enabled("SL301", "naive-utcnow")
    assert not s.is_enabled("SL202", "broad-exception-handler")
    origins = {key: origin for key, _, origin in effective(s)}
    assert origins["select"] == str(path)
    assert origins["exclude"] == "default"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tool.sightlint]\nselectt = ['SL2']\n", "did you mean 'select'"),
        ("[tool.sightlint]\nextend_select = ['SL2']\n", "did you mean 'extend-select'"),
        ("[tool.sightlint]\nselect = ['SL999']\n", "unknown rule selector 'SL999'"),
        ("[tool.sightlint]\nignore = ['naive-utcnw']\n", "did you mean 'naive-utcnow'"),
        ("[tool.sightlint]\nselect = 'SL2'\nfail-on = 'severe'\n", "unknown severity"),
        ("[tool.sightlint]\nrespect-gitignore = 'yes'\n", "expected true or false"),
        ("[tool.sightlint]\nselect = [1]\n", "expected a list of strings"),
        ("[tool.sightlint.rules.naive-utcnov]\n", "did you mean 'naive-utcnow'"),
        ("[tool.sightlint.rules.naive-utcnow]\nfoo = 1\n", "rules.naive-utcnow.foo: unknown option"),
        (
            "[tool.sightlint.rules.blocking-call-in-async]\ncategories = ['sleep', 'netwrok']\n",
            "rules.blocking-call-in-async.categories: unknown value 'netwrok' (did you mean 'network'?) "
            "(valid values: sleep, network, subprocess, database, llm, cpu, file)",
        ),
        ("[tool.sightlint.rules.ineffective-timeout]\ncategories = ['disk']\n", "unknown value 'disk' (valid values: sleep,"),
        ("[tool.sightlint\n", "invalid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load(path, [])
    assert message in str(info.value)


def test_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(tmp_path / "missing.toml", [])


def test_selectors() -> None:
    s = Settings(select=("SL3",), ignore=("naive-utcnow",))
    assert not s.is_enabled("SL301", "naive-utcnow")
    s = Settings(select=("ALL",))
    assert s.is_enabled("SL999", "whatever", default_enabled=False)
    s = Settings()
    assert not s.is_enabled("SL999", "off-by-default", default_enabled=False)
