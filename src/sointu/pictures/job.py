"""``render --plot``: the session picture drawn in a forked process while the render runs.

matplotlib takes about a second to import and the picture half a second to draw, a fifth
of a 60-minute render's time if done after it. A render keeps about one of the two cores
busy, so the picture is drawn meanwhile in a child process: it imports matplotlib and draws
the score at once, then waits for the loudness curve, which the render's own meter gives
(or the cache, at the start: then the whole picture is done while the audio is still being
synthesised). Only the loudness panel and the saving are left for after the render of a
session that was never rendered before.

Without ``fork`` the picture is drawn here after the render.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from ..errors import OutputError, SointuError
from ..signals import quiet_worker

__all__ = ["SessionPlotJob"]

# The child runs at the render's priority: niced, it was starved on a loaded machine and
# finished only after the render, which then waited for it (measured with 10 jobs on the 2
# cores: +5 s on a 14 s render, for 0.6 s of the child's CPU time).


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
        self._process = self._conn = None
        self._sent = False
        if "fork" not in multiprocessing.get_all_start_methods():
            return
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe(duplex=True)
        self._process = ctx.Process(target=_child, args=(child, self._tmp, *self._args),
                                    daemon=True,
                                    name="sointu-plot")
        self._process.start()
        child.close()

    def send(self, curve) -> None:
        """Hand the loudness curve over as soon as it is known (once)."""
        if self._conn is not None and not self._sent:
            try:
                self._conn.send((curve.sample_rate, curve.sums) if curve is not None else None)
                self._sent = True
            except OSError:
                self.close()

    def finish(self, curve) -> Path:
        """Finish the picture with ``curve`` (if not sent yet), wait for it, put it in place.

        Call it once the audio file is in place: a render that fails leaves no picture.

        Raises
        ------
        OutputError
            The picture could not be written (nothing is left behind).
        """
        self.send(curve)
        reply = None
        if self._conn is not None:
            try:
                reply = self._conn.recv()
            except (EOFError, OSError):
                reply = None
        if self._process is not None:
            self._process.join(timeout=5)
        if reply is None:  # no child, or it died: draw it here
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
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(timeout=2)
            self._process = None
        self._tmp.unlink(missing_ok=True)


def _child(conn, tmp, path, preset, timeline, target) -> None:
    quiet_worker(unwind=True)  # terminated while saving: the partial file is removed
    try:
        from ..render.loudness_curve import LoudnessCurve
        from .files import save_figure
        from .session import add_loudness, session_figure

        fig = session_figure(preset, timeline, target_lufs=target, loudness=False)
        message = conn.recv()
        curve = None if message is None else LoudnessCurve(*message)
        add_loudness(fig, curve, target)
        save_figure(fig, path, tmp=tmp)
        reply = "ok"
    except SointuError as exc:
        reply = str(exc)
    except (EOFError, OSError):  # the parent went away
        return
    except Exception:  # let the parent draw it and report what goes wrong
        reply = None
    try:
        conn.send(reply)
    except OSError:
        pass
    finally:
        conn.close()
