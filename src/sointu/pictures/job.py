"""``render --plot``: the session picture drawn in a forked process while the render runs.

matplotlib takes about 0.3 s of CPU time to import and the picture 0.2 s to draw and save.
A render leaves part of the two cores unused (its threads wait on one another), so the
picture is drawn in a child process (:class:`sointu.background.Background`) at the lowest
priority: it takes no core from the render, only what the render leaves over (on a machine
busy with other work, where nothing is left over, at the render's: :func:`_spare_core`).
The command line forks it first of all (:func:`prefork`), so that matplotlib is imported
while the session is composed on one core; the session and the picture's path are sent to
it once known (:class:`SessionPlotJob`, which forks one itself when there is none). It
draws the score (for a PNG into pixels: :class:`.files.PngAhead`), then waits for the
loudness curve: from the cache at the start of a re-render (then the whole picture is done
while the audio is synthesised), or, for a session never rendered before, from the
render's own meter once the audio is encoded; only the loudness panel and the saving are
left for then (0.09 s of CPU for an hour), done while the file is tagged and put in place,
and the child gets the render's priority back for them (:meth:`Background.hurry`) if it is
still at work when the render is done.

Where another program keeps both cores busy, an idle child gets nothing; so it takes the
render's priority back by itself after :data:`IDLE_S`, and what it has left of its importing
and drawing (up to 0.4 s of CPU) is done while the audio is synthesised, not after it, when
the render would wait for all of it.

Where priorities cannot be raised again (an unprivileged process on Linux without a raised
``RLIMIT_NICE``) and the child has not answered within :data:`GRACE_S` of the curve (a
machine with no idle core), it is stopped and the picture drawn here. Without ``fork`` the
picture is drawn here after the render.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from ..background import Background
from ..errors import OutputError, SointuError

__all__ = ["SessionPlotJob", "GRACE_S", "IDLE_S", "prefork"]

#: How long (s) a render waits, once its audio is written, for a child that could not be
#: given its priority back, before drawing the picture itself.
GRACE_S = 0.5

#: The longest (s) the child runs at idle priority. With a core to spare it imports
#: matplotlib and draws everything but the loudness (0.4 s of CPU) within a second of being
#: forked, while the session is composed and the gain estimated, and then only waits.
IDLE_S = 2.0

#: The process :func:`prefork` started, until a :class:`SessionPlotJob` takes it.
_waiting: Background | None = None


def prefork() -> None:
    """Start the picture process now, before the session is composed: it imports matplotlib
    (at idle priority) meanwhile; the next :class:`SessionPlotJob` of this process takes it.
    Does nothing without the plot extra (the render says so in one line later)."""
    global _waiting
    from .files import available

    if _waiting is None and available():
        _waiting = Background(_serve, name="sointu-plot", inbox=True, idle=_spare_core(),
                              idle_s=IDLE_S)


def _spare_core() -> bool:
    """Whether the machine has a core to spare: its load average over the last minute is
    under the number of cores, or nothing else runs right now (:func:`_others_running`;
    the last minute's load may be this user's previous renders). Then the child runs at
    idle priority, on what the render leaves. On a busy machine an idle child gets nothing
    until :data:`IDLE_S` (before that, until the render ended, and the render then waited
    for all of it: measured at load 12 on the 2 cores, 0.81 s after a cached re-render); at
    the render's priority it takes its share from everyone (0.001 s)."""
    try:
        if os.getloadavg()[0] < (os.cpu_count() or 1):
            return True
    except OSError:
        return True
    return _others_running() == 0


def _others_running() -> int | None:
    """How many threads other than this one are running or ready to run right now (the
    kernel's count in ``/proc/loadavg``), or None where there is no such count."""
    try:
        with open("/proc/loadavg", encoding="ascii") as fh:
            running = int(fh.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(running - 1, 0)


class SessionPlotJob:
    """Draw the session picture of a render into ``path``.

    Parameters
    ----------
    path : Path
        The picture (.png, .svg or .pdf), checked by the caller
        (:func:`.files.check_picture_path`).
    preset, timeline
        The session being rendered.
    target_lufs : float
        The loudness target.
    """

    def __init__(self, path, preset, timeline, target_lufs: float):
        from .files import temporary_path

        self.path = Path(path)
        self._tmp = temporary_path(self.path)
        self._args = (self.path, preset, timeline, float(target_lufs))
        self._sent = False
        global _waiting
        self._job, _waiting = _waiting, None
        if self._job is not None and self._job.started:  # pre-forked: tell it what to draw
            self._job.send((self._tmp, *self._args))
        else:
            self._job = Background(_draw, self._tmp, *self._args, name="sointu-plot",
                                   inbox=True, idle=_spare_core(), idle_s=IDLE_S)

    def send(self, curve) -> None:
        """Hand the loudness curve over as soon as it is known (once)."""
        if not self._sent:
            self._sent = self._job.send(None if curve is None
                                        else (curve.sample_rate, curve.sums))

    def finish(self, curve) -> Path:
        """Finish the picture with ``curve`` (if not sent yet), wait for it, put it in place.

        Call it once the audio file is in place: a render that fails leaves no picture.

        Raises
        ------
        OutputError
            The picture could not be written (nothing is left behind).
        """
        self.send(curve)
        timeout = None if self._job.hurry() else GRACE_S
        reply = self._job.result(timeout=timeout)
        if reply is None:  # no child, it died, or it is starved: draw it here
            self.close()
            from .session import plot_session

            path, preset, timeline, target = self._args
            return plot_session(path, preset, timeline, curve, target_lufs=target)
        if reply != "ok":
            self.close()
            raise OutputError(reply)
        from .files import move_into_place

        move_into_place(self._tmp, self.path)
        self.close()
        return self.path

    def close(self) -> None:
        """Stop the child if it is still running; no temporary picture is left."""
        self._job.close()
        self._tmp.unlink(missing_ok=True)


def _no_collector() -> None:
    """In the child: no cyclic garbage collection. It draws one picture and exits; the
    collector's passes over the objects forked from the render (copying their pages) and
    over matplotlib's cost 10-15 % of its importing and drawing (0.29 s -> 0.26 s)."""
    gc.freeze()
    gc.disable()


def _serve(inbox) -> str:
    """In a pre-forked child: import what drawing needs, then draw what the inbox says."""
    _no_collector()
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    from matplotlib import font_manager

    from . import files, session  # noqa: F401

    font_manager.fontManager  # noqa: B018 (reads the font list)
    return _draw(inbox, *inbox())


def _draw(inbox, tmp, path, preset, timeline, target) -> str:
    """In the child: the score at once (a PNG's drawn into pixels too), the loudness panel
    when the curve comes; "ok" or the one-line error."""
    _no_collector()
    try:
        from ..rendering.loudness_curve import LoudnessCurve
        from .files import PngAhead, save_figure
        from .session import add_loudness, session_figure

        fig = session_figure(preset, timeline, target_lufs=target, loudness=False)
        ahead = PngAhead(fig, fig.axes[-1]) if path.suffix.lower() == ".png" else None
        message = inbox()
        curve = None if message is None else LoudnessCurve(*message)
        add_loudness(fig, curve, target)
        if ahead is not None:
            ahead.save(path, tmp=tmp)
        else:
            save_figure(fig, path, tmp=tmp)
        return "ok"
    except SointuError as exc:
        return str(exc)
