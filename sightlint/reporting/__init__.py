"""Reporters: turn a :class:`~sightlint.models.RunResult` into text. They only format.

Each format lives in its own module and is imported only when asked for, so a run that
writes JSON never imports ``rich`` (only ``text.py`` does).
"""

from __future__ import annotations

from typing import TextIO

from sightlint.models import RunResult
from sightlint.settings import Settings

FORMATS: tuple[str, ...] = ("text", "concise", "json", "sarif", "github", "markdown", "html")


def render(
    run: RunResult,
    fmt: str,
    stream: TextIO,
    *,
    color: bool | None = None,
    show_source: bool = True,
    show_chains: bool = False,
    unused_suppressions: bool = False,
    settings: Settings | None = None,
) -> None:
    """Write ``run`` to ``stream`` in format ``fmt`` (one of :data:`FORMATS`).

    ``color`` None means: colour only when ``stream`` is a terminal and ``NO_COLOR`` is
    unset. ``show_source``, ``show_chains`` and ``color`` concern the text format only;
    ``unused_suppressions`` adds the suppression comments that suppressed nothing.
    ``settings`` (the run's) shape the fix diffs of the ``markdown`` and ``html`` reports.
    """
    if fmt == "text":
        from sightlint.reporting import text

        text.render(
            run,
            stream,
            color=color,
            show_source=show_source,
            show_chains=show_chains,
            unused_suppressions=unused_suppressions,
        )
    elif fmt == "concise":
        from sightlint.reporting import concise

        concise.render(run, stream, unused_suppressions=unused_suppressions)
    elif fmt == "json":
        from sightlint.reporting import json_format

        json_format.render(run, stream, unused_suppressions=unused_suppressions)
    elif fmt == "sarif":
        from sightlint.reporting import sarif

        sarif.render(run, stream, unused_suppressions=unused_suppressions)
    elif fmt == "github":
        from sightlint.reporting import github

        github.render(run, stream, unused_suppressions=unused_suppressions)
    elif fmt in ("markdown", "html"):
        from sightlint.reporting import audit

        report = audit.build(run, settings)
        if fmt == "markdown":
            stream.write(audit.markdown(report))
        else:
            from sightlint.reporting import html

            stream.write(html.render(report))
    else:
        raise ValueError(f"unknown output format {fmt!r} (expected one of: {', '.join(FORMATS)})")


def render_statistics(run: RunResult, stream: TextIO, *, color: bool | None = None) -> None:
    """Write a table of finding counts per rule: code, name, count, fixable."""
    from sightlint.reporting import text

    text.render_statistics(run, stream, color=color)


def render_markdown(markdown: str, stream: TextIO, *, color: bool | None = None) -> None:
    """Write Markdown (a rule's page) to a terminal, styled."""
    from sightlint.reporting import text

    text.render_markdown(markdown, stream, color=color)


def render_diff(lines: list[str], stream: TextIO, *, color: bool | None = None) -> None:
    """Write unified-diff lines, coloured as ``color`` (None: on a terminal, see ``text.use_color``)."""
    from sightlint.reporting import text

    text.render_diff(lines, stream, color=color)


def use_color(stream: TextIO, color: bool | None) -> bool:
    """Whether output to ``stream`` is coloured (``text.use_color``)."""
    from sightlint.reporting import text

    return text.use_color(stream, color)


def color_choice(value: str | None) -> bool | None:
    """``--color auto|always|never`` as the ``color`` argument of the renderers."""
    return {"always": True, "never": False}.get((value or "auto").lower())


__all__ = ["FORMATS", "color_choice", "render", "render_diff", "render_markdown", "render_statistics", "use_color"]
