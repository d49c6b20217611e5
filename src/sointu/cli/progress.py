"""A one-line progress bar on stderr (only when stderr is a terminal)."""

from __future__ import annotations

import sys
import time

from ..session.durations import format_duration

__all__ = ["Progress"]


class Progress:
    """Callable progress reporter: ``progress(frames_done)``, redrawn at most 5 times a second.

    Parameters
    ----------
    total_frames : int
        Frames when done.
    label : str
        Text before the bar.
    stream : file, optional
        Where to draw (stderr by default); nothing is drawn unless it is a terminal.
    """

    def __init__(self, total_frames: int, label: str = "rendering", stream=None):
        self.total = max(1, int(total_frames))
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def __call__(self, frames_done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and frames_done < self.total:
            return
        self._last = now
        frac = min(1.0, frames_done / self.total)
        elapsed = now - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        self.stream.write(f"\r{self.label} [{bar}] {frac * 100:5.1f}%  "
                          f"elapsed {format_duration(elapsed)}  eta {format_duration(eta)} ")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Clear the line (call when done or failed)."""
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
