from __future__ import annotations

from sightlint.api import check_source
from sightlint.settings import Settings

BAD = "from datetime import datetime\n"


def codes(source: str, **kw: object) -> list[tuple[str, int]]:
    result = check_source(source, "m.py", Settings(**kw))  # type: ignore[arg-type]
    return [(f.code, f.line) for f in result.findings]


def test_noqa_variants() -> None:
    assert codes(BAD + "a = datetime.utcnow()  # noqa: SL301\n") == []
    assert codes(BAD + "a = datetime.utcnow()  # noqa\n") == []
    assert codes(BAD + "a = datetime.utcnow()  # NOQA:SL301,SL201\n") == []
    assert codes(BAD + "a = datetime.utcnow()  # noqa: SL201\n") == [("SL301", 2)]
    assert codes(BAD + "a = datetime.utcnow()  # noqa: naive-utcnow\n") == []
    assert codes(BAD + "a = datetime.utcnow()  # noqa: E501, F401\n") == [("SL301", 2)]


def test_sightlint_ignore_with_reason_and_names() -> None:
    assert codes(BAD + "a = datetime.utcnow()  # sightlint: ignore[SL301] legacy column is naive\n") == []
    assert codes(BAD + "a = datetime.utcnow()  # sightlint: ignore[naive-utcnow]\n") == []
    assert codes(BAD + "a = datetime.utcnow()  # sightlint: ignore\n") == []
    assert codes(BAD + "a = datetime.utcnow()  # sightlint: ignore[SL201]\n") == [("SL301", 2)]


def test_marker_inside_a_string_does_not_count() -> None:
    assert codes(BAD + "a = (datetime.utcnow(), '# noqa')\n") == [("SL301", 2)]


def test_multiline_finding_suppressed_on_last_line() -> None:
    src = BAD + "a = datetime.utcnow(\n)  # noqa: SL301\n"
    assert codes(src) == []


def test_skip_file() -> None:
    assert codes("# sightlint: skip-file\n" + BAD + "a = datetime.utcnow()\n") == []


def test_unused_suppressions_reported() -> None:
    src = (
        BAD
        + "a = datetime.utcnow()  # noqa: SL301\nb = 1  # noqa: SL301\nc = 2  # noqa\nd = 3  # noqa: E501\n"
        + "e = 4  # sightlint: ignore -- was a race\n"
    )
    result = check_source(src, "m.py", Settings(report_unused_suppressions=True))
    assert result.findings == []
    # A bare `# noqa` is shared with ruff and flake8 (polar has three that ruff uses): never
    # "unused" for sightlint; a bare `# sightlint: ignore` is ours and is.
    assert result.unused_suppressions == [(3, ("SL301",)), (6, None)]
