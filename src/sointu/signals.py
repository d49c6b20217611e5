"""How sointu's processes meet Ctrl-C, SIGTERM and SIGHUP: every handler in one place.

- Ctrl-C raises ``KeyboardInterrupt`` in the main thread, so cleanup runs. SIGTERM and
  SIGHUP (the terminal closed) kill a Python process without cleanup unless a handler
  raises: the work that writes files or plays runs inside :func:`raise_on_sigterm`, which
  turns them into :class:`Terminated`, a ``KeyboardInterrupt``.
- Helper processes (loudness measuring, background estimates, drawing a picture, a gift
  worker's own helpers) leave Ctrl-C to the process that started them, which stops them,
  and die on SIGTERM without a traceback: :func:`quiet_worker`.
- A signal is set aside for a while (SIGXFSZ while writing, so that a file-size limit
  fails the write with ``EFBIG`` instead of killing the process; Ctrl-C while stopping
  workers) with :func:`ignoring`.

Python runs signal handlers in the main thread only; elsewhere these do nothing.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["STOP_SIGNALS", "Terminated", "raise_on_sigterm", "quiet_worker", "ignoring"]

#: Signals that :func:`raise_on_sigterm` turns into :class:`Terminated` (besides Ctrl-C).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP turned into an exception by :func:`raise_on_sigterm` (cleanup runs)."""

    signum = signal.SIGTERM


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def raise_on_sigterm(signals: tuple = STOP_SIGNALS) -> Iterator[None]:
    """While active, ``signals`` (default SIGTERM and SIGHUP) raise :class:`Terminated`.

    The previous handlers are restored on exit.
    """
    if not _main_thread():
        yield
        return

    def _handler(signum, frame):
        exc = Terminated(f"terminated by signal {signum}")
        exc.signum = signum
        raise exc

    old = {sig: signal.signal(sig, _handler) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def quiet_worker(*, unwind: bool = False, on_ctrl_c=signal.SIG_IGN) -> None:
    """In a helper process: ignore Ctrl-C (the parent stops it) and end on SIGTERM and SIGHUP
    without a traceback; with ``unwind``, SIGTERM exits through ``SystemExit(1)``, so that
    ``finally`` blocks (removing a partial file) run. ``on_ctrl_c``: a handler of the
    worker's own for SIGINT instead (a gift worker stops its render once)."""
    signal.signal(signal.SIGINT, on_ctrl_c)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, (lambda *_: sys.exit(1)) if unwind else signal.SIG_DFL)


@contextmanager
def ignoring(name: str) -> Iterator[None]:
    """Ignore signal ``name`` (e.g. ``"SIGXFSZ"``) while active, where it exists."""
    sig = getattr(signal, name, None)
    if sig is None or not _main_thread():
        yield
        return
    old = signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(sig, old)
