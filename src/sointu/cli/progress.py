"""A one-line progress bar on stderr (only when stderr is a terminal)."""

from __future__ import annotations

import sys
import threading
import time

from ..session.durations import format_duration

__all__ = ["Progress"]


class Progress:
    """Callable progress reporter: ``progress(frames_done)``, redrawn at most 5 times a second.

    It may be called from several threads (the parallel Opus and MP3 encoders report from
    their parts' threads). After :meth:`begin`, the line is also redrawn every ``tick_s``
    seconds while no frames arrive (e.g. while a session is measured before it is
    encoded), so the elapsed time keeps moving and the terminal never looks stuck.

    Parameters
    ----------
    total_frames : int
        Frames when done.
    label : str
        Text before the bar.
    stream : file, optional
        Where to draw (stderr by default); nothing is drawn unless it is a terminal.
    tick_s : float
        Seconds between redraws while nothing is reported.
    """

    def __init__(self, total_frames: int, label: str = "rendering", stream=None,
                 tick_s: float = 1.0):
        self.total = max(1, int(total_frames))
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start_time = time.monotonic()
        self.tick_s = float(tick_s)
        self._last = 0.0
        self._done = 0
        self._drawn = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def begin(self) -> None:
        """Draw the empty bar now and keep the elapsed time moving until :meth:`close`."""
        if not self.enabled or self._ticker is not None:
            return
        self.start_time = time.monotonic()
        with self._lock:
            self._draw(self.start_time)
        self._ticker = threading.Thread(target=self._tick, name="sointu-progress",
                                        daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick_s):
            with self._lock:
                now = time.monotonic()
                if now - self._last >= self.tick_s and not self._stop.is_set():
                    self._draw(now)

    def __call__(self, frames_done: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._done = int(frames_done)  # a render done again starts again from 0
            now = time.monotonic()
            if now - self._last < 0.2 and self._done < self.total:
                return
            self._draw(now)

    def _draw(self, now: float) -> None:
        self._last = now
        frac = min(1.0, self._done / self.total)
        elapsed = now - self.start_time
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        if frac > 0:
            eta = f"eta {format_duration(elapsed * (1 - frac) / frac)}"
        else:
            eta = "preparing"
        try:
            self.stream.write(f"\r{self.label} [{bar}] {frac * 100:5.1f}%  "
                              f"elapsed {format_duration(elapsed)}  {eta} ")
            self.stream.flush()
        except (OSError, ValueError):  # the terminal is gone (closed window)
            self.enabled = False
            return
        self._drawn = True

    def close(self) -> None:
        """Stop redrawing and clear the line (call when done or failed)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            if self._drawn:
                try:
                    self.stream.write("\r\033[K")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass
                self._drawn = False
