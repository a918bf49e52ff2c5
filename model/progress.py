"""A live progress bar for long work (training epochs, downloads), drawn on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    """``bar.update(done)`` redraws ``label [#####.....] 52% 31,200/60,000 12,345 img/s ETA 00:02``.

    The bar is drawn only when ``stream`` is a terminal (and at most ``max_rate`` times a
    second), so logs and pipes get just the summary lines the caller prints; ``close()``
    clears it.
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        unit: str = "img",
        stream: TextIO | None = None,
        width: int = 30,
        max_rate: float = 10.0,
        enabled: bool | None = None,
    ) -> None:
        self.total = max(int(total), 1)
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.min_interval = 1.0 / max_rate
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < self.total and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self.stream.write("\r" + self.render(done, now - self.start))
        self.stream.flush()
        self._drawn = True

    def render(self, done: int, elapsed: float) -> str:
        """The bar's text for ``done`` units after ``elapsed`` seconds."""
        frac = min(max(done / self.total, 0.0), 1.0)
        filled = int(frac * self.width)
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        return (
            f"{self.label}[{'#' * filled}{'.' * (self.width - filled)}] {frac:4.0%} "
            f"{done:,}/{self.total:,} {rate:,.0f} {self.unit}/s ETA {_duration(eta)}"
        )

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False
