"""A tiny progress bar on stderr: redrawn at most 10 times a second, and on a terminal only.

When stderr is not a terminal (CI logs, pipes) it prints just one final line per phase.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_MIN_REDRAW_S = 0.1
_WIDTH = 30


class Progress:
    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        live: bool | None = None,
        unit: str = "req",
    ) -> None:
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._started = time.perf_counter()
        self._drawn_at = 0.0
        self._closed = False

    def restart(self) -> None:
        """Start the clock now (e.g. once connections are open), for an honest rate."""
        self._started = time.perf_counter()

    def advance(self, count: int = 1) -> None:
        self.done += count
        self.refresh()

    def refresh(self, *, force: bool = False) -> None:
        """Redraw the bar if at least 0.1 s passed since the last redraw (or if forced)."""
        if not self._live or self._closed:
            return
        now = time.perf_counter()
        if not force and now - self._drawn_at < _MIN_REDRAW_S:
            return
        self._drawn_at = now
        self._stream.write("\r" + self._line(now) + "\x1b[K")
        self._stream.flush()

    def close(self) -> None:
        """The final line: on a terminal it replaces the bar, elsewhere it is the only output."""
        if self._closed:
            return
        line = self._line(time.perf_counter())
        self._closed = True
        self._stream.write(("\r" + line + "\x1b[K\n") if self._live else line + "\n")
        self._stream.flush()

    def _line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        fraction = self.done / self.total if self.total else 1.0
        filled = round(_WIDTH * min(fraction, 1.0))
        bar = "#" * filled + "-" * (_WIDTH - filled)
        rate = self.done / elapsed
        return (
            f"{self.label:<10} [{bar}] {self.done}/{self.total}"
            f" {elapsed:5.1f}s {rate:7.0f} {self.unit}/s"
        )
