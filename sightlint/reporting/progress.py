"""Where a run is and where its time went: a progress bar on a terminal, a breakdown for
``--verbose``.

The bar is drawn on stderr, only when stderr is a terminal and no ``CI`` variable is
set (never in pipes or CI logs), and only once a run has taken more than
:data:`DELAY` seconds, so that quick runs do not flicker. It is cleared when the run
ends: the report itself is never mixed with it.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, TextIO

from sightlint.runner import Progress

DELAY = 1.0


class Timed(Progress):
    """Records when each phase starts; with ``stream`` a terminal, draws a bar there."""

    def __init__(self, stream: TextIO | None = None, *, clock: Any = time.perf_counter) -> None:
        self._clock = clock
        self.started = clock()
        self.phases: list[tuple[str, float, int | None]] = []  # (name, start, total)
        self._stream = stream
        self._bar: Any = None
        self._task: Any = None
        self._done = 0
        # The process pool reports finished chunks from its own thread.
        self._lock = threading.Lock()

    # -- Progress --------------------------------------------------------------------------

    def phase(self, name: str, total: int | None = None) -> None:
        with self._lock:
            self.phases.append((name, self._clock(), total))
            self._done = 0
            if self._bar is not None:
                self._bar.update(self._task, description=name, total=total, completed=0)
            else:
                self._maybe_start()

    def advance(self, amount: int = 1) -> None:
        with self._lock:
            self._done += amount
            if self._bar is not None:
                self._bar.update(self._task, advance=amount)
            else:
                self._maybe_start()

    # -- the bar -----------------------------------------------------------------------------

    def _maybe_start(self) -> None:
        if self._stream is None or not self.phases or self._clock() - self.started < DELAY:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        console = Console(file=self._stream, force_terminal=True, highlight=False, markup=False, emoji=False)
        self._bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        name, _, total = self.phases[-1]
        self._task = self._bar.add_task(name, total=total, completed=self._done)
        self._bar.start()

    def close(self) -> None:
        """End the last phase and clear the bar."""
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    # -- --verbose -----------------------------------------------------------------------------

    def breakdown(self, end: float | None = None) -> list[str]:
        """One line per phase: its time, its share of the run and its amount of work."""
        end = self._clock() if end is None else end
        total = max(end - self.started, 1e-9)
        lines = []
        for i, (name, start, amount) in enumerate(self.phases):
            stop = self.phases[i + 1][1] if i + 1 < len(self.phases) else end
            took = stop - start
            work = f" ({amount} files)" if amount is not None else ""
            lines.append(f"  {name + work:<44} {took:8.2f}s {100 * took / total:5.1f}%")
        lines.append(f"  {'total':<44} {total:8.2f}s")
        return lines


def for_stream(stream: TextIO, quiet: bool) -> TextIO | None:
    """``stream`` if a bar may be drawn there: a terminal, not quiet, not in CI."""
    if quiet or os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return None
    try:
        return stream if stream.isatty() else None
    except (AttributeError, OSError, ValueError):
        return None
