"""The terminal during live playback: single keys without Enter, and one rewritten status line.

:class:`Terminal` puts stdin in cbreak mode (keys arrive one by one, no echo, Ctrl-C still
interrupts) and restores the previous mode on exit, whatever happens.
"""

from __future__ import annotations

import os
import select
import sys

__all__ = ["Terminal", "is_interactive"]


def is_interactive(stdin=None, stderr=None) -> bool:
    """True when both stdin and stderr are terminals (keys and a status line make sense)."""
    stdin = stdin or sys.stdin
    stderr = stderr or sys.stderr
    try:
        return stdin.isatty() and stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Terminal:
    """Context manager: cbreak keys from stdin, a status line on stderr.

    Parameters
    ----------
    stdin, stderr : file objects, optional
        Default: ``sys.stdin`` and ``sys.stderr``.
    """

    def __init__(self, stdin=None, stderr=None):
        self.stdin = stdin or sys.stdin
        self.stderr = stderr or sys.stderr
        self._fd = self.stdin.fileno()
        self._saved = None
        self._line_shown = False

    def __enter__(self) -> Terminal:
        import termios
        import tty

        self._saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc) -> None:
        import termios

        self.clear()
        if self._saved is not None:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def read_key(self, timeout_s: float) -> str | None:
        """One key pressed within ``timeout_s`` seconds, or None."""
        ready, _, _ = select.select([self._fd], [], [], timeout_s)
        if not ready:
            return None
        data = os.read(self._fd, 32)
        if not data:
            return None
        return data.decode("utf-8", "replace")[:1]

    def width(self) -> int:
        """Columns of the terminal (100 if it cannot tell)."""
        try:
            return os.get_terminal_size(self.stderr.fileno()).columns or 100
        except OSError:
            return 100

    def show(self, line: str) -> None:
        """Rewrite the status line, cut shorter than the terminal's width (no wrap)."""
        self.stderr.write("\r" + line[: max(1, self.width() - 1)] + "\x1b[K")
        self.stderr.flush()
        self._line_shown = True

    def clear(self) -> None:
        """Remove the status line (before a log line or on exit)."""
        if self._line_shown:
            self.stderr.write("\r\x1b[K")
            self.stderr.flush()
            self._line_shown = False
