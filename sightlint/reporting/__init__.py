"""Reporters: turn a :class:`~sightlint.models.RunResult` into text. They only format.

Each format lives in its own module and is imported only when asked for, so a run that
writes JSON never imports ``rich`` (only ``text.py`` does).
"""

from __future__ import annotations

from typing import TextIO

from sightlint.models import RunResult
from sightlint.settings import Settings

FORMATS: tuple[str, ...] = ("text", "concise", "json", "sarif", "github", "markdown", "html")
# Formats whose output depends on nothing but the run (its final results, the files'
# contents through the fingerprints, its folders and errors) and the options below: a run
# whose files did not change may write last time's report (``cache.Snapshot``). The text
# format depends on the terminal too; the audit reports on the settings.
_KEPT = frozenset({"json", "sarif", "concise", "github"})


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
    reuse: bool = False,
) -> None:
    """Write ``run`` to ``stream`` in format ``fmt`` (one of :data:`FORMATS`).

    ``color`` None means: colour only when ``stream`` is a terminal and ``NO_COLOR`` is
    unset. ``show_source``, ``show_chains`` and ``color`` concern the text format only;
    ``unused_suppressions`` adds the suppression comments that suppressed nothing.
    ``settings`` (the run's) shape the fix diffs of the ``markdown`` and ``html`` reports.

    With ``reuse``, a JSON, SARIF, concise or GitHub report of a run whose results stand
    for its cache key (``run.snapshot``: nothing changed; no baseline applied) is written as the last run
    with the same key and options wrote it, and kept for the next one: the same text the
    reporter would write, without decoding and encoding every finding again.
    """
    snapshot = run.snapshot if reuse and fmt in _KEPT and run.baseline is None else None
    if snapshot is not None:
        key, part = _report_key(run, fmt, unused_suppressions), run.named is not None
        text = snapshot.output(key, part=part)
        if text is None:
            import io

            buffer = io.StringIO()
            _render(run, fmt, buffer, unused_suppressions=unused_suppressions)
            text = buffer.getvalue()
            snapshot.save_output(key, text, part=part)
        stream.write(text)
        return
    _render(
        run, fmt, stream, color=color, show_source=show_source, show_chains=show_chains,
        unused_suppressions=unused_suppressions, settings=settings,
    )  # fmt: skip


def _report_key(run: RunResult, fmt: str, unused_suppressions: bool) -> bytes:
    """What a kept report depends on besides the run's cache key (see :func:`render`)."""
    import hashlib

    named = sorted(run.named) if run.named is not None else None
    parts = (fmt, unused_suppressions, run.base, run.root, run.errors, run.excluded, run.not_python, named)
    return hashlib.sha256(repr(parts).encode("utf-8", errors="surrogatepass")).digest()


def _render(
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
