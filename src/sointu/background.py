"""A function run in a forked process while the caller goes on; its value comes back by pipe.

Used where a computation on both cores saves time the user waits: the render's gain
estimate while the encoder is imported, and live playback's loudness measurement while it
plays. Without ``fork``, or if the process fails, the caller gets None and decides.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable

from .signals import quiet_worker

__all__ = ["Background"]


class Background:
    """Run ``fn(*args)`` in a forked process.

    Parameters
    ----------
    fn : callable
        Runs in the child (Ctrl-C ignored there: it is the parent's to handle). Its return
        value must be picklable; an exception in it gives None.
    *args
        Handed to ``fn`` (copied by the fork, not pickled).
    name : str
        Process name.
    """

    def __init__(self, fn: Callable, *args, name: str = "sointu-background"):
        self._process = self._conn = None
        if "fork" not in multiprocessing.get_all_start_methods():
            return
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_child, args=(fn, args, child), daemon=True,
                                    name=name)
        self._process.start()
        child.close()

    @property
    def started(self) -> bool:
        """Whether a process was started (False where ``fork`` is not available)."""
        return self._process is not None

    def done(self) -> bool:
        """Whether the value is there (True when nothing is pending)."""
        return self._conn is None or self._conn.poll()

    def result(self):
        """The value, waiting for it; None if the process failed or was never started."""
        if self._conn is None:
            return None
        try:
            value = self._conn.recv()
        except (EOFError, OSError):
            value = None
        self.close()
        return value

    def close(self) -> None:
        """Stop the process if it is still running."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(timeout=1)
            self._process = None


def _child(fn: Callable, args: tuple, conn) -> None:
    quiet_worker()
    try:
        value = fn(*args)
    except Exception:  # the caller copes without it
        value = None
    try:
        conn.send(value)
    finally:
        conn.close()
