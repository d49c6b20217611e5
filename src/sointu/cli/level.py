"""The level of live playback: the rendered level when known, else measured while playing.

A render of a session is loudness-normalised; live playback of the same session should
sound at the same level. If that gain is cached (a render or an earlier playback measured
it), playback uses it from the first sample. Otherwise playback starts at once at a
conservative provisional gain while a background process measures the session (on one
core, so playback keeps the other), caches the gain and hands the difference to the
player, which glides to it over a few seconds.
"""

from __future__ import annotations

import multiprocessing
import os
import signal

__all__ = ["LiveLevel", "PROVISIONAL_RAW_LUFS"]

#: The render pipeline's true-peak ceiling (dBTP), part of the cache key (kept equal to
#: :data:`sointu.render.pipeline.CEILING_DBTP` by a test).
CEILING_DBTP = -1.0

#: Assumed loudness of an unnormalised session for the provisional gain (LUFS): the shipped
#: presets measure -42 to -51, so starting from -42 errs on the quiet side.
PROVISIONAL_RAW_LUFS = -42.0


def _measure(audio, target_lufs, conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    # only idle CPU: the audio thread and its producer must never wait for this
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.nice(19)
        except OSError:
            pass
    from ..render.pipeline import session_gain_db

    try:
        conn.send(session_gain_db(audio, target_lufs, workers=1))
    except Exception:  # a failed measurement leaves the provisional level; never fatal
        conn.send(None)
    finally:
        conn.close()


class LiveLevel:
    """Sets ``audio.gain_db`` for live play and, if needed, measures the exact gain.

    Parameters
    ----------
    audio : SessionAudio
        The session to play (its ``gain_db`` is set here).
    target_lufs : float
        The loudness a render of it would have.

    Attributes
    ----------
    exact : bool
        Whether playback starts at the rendered level.
    """

    def __init__(self, audio, target_lufs: float):
        # only the small cache module here: the render pipeline's imports (scipy.signal,
        # soundfile, mutagen) would cost more than the whole first-sound budget
        from ..render import gain_cache

        cached = gain_cache.get(gain_cache.key(audio, target_lufs, CEILING_DBTP))
        gain = None if cached is None else cached[0]
        self.exact = gain is not None
        self._process = None
        self._conn = None
        self._result: float | None = None
        if self.exact:
            audio.gain_db = gain
            return
        provisional = target_lufs - PROVISIONAL_RAW_LUFS
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe(duplex=False)
        # measured at gain 0, before playback touches the audio object
        audio.gain_db = 0.0
        self._process = ctx.Process(target=_measure, args=(audio, target_lufs, child),
                                    daemon=True, name="sointu-level")
        self._process.start()
        child.close()
        audio.gain_db = provisional
        self._provisional = provisional

    def done(self) -> bool:
        """Whether the background measurement has finished (True when nothing is pending)."""
        return self._conn is None or self._conn.poll()

    def result(self) -> float | None:
        """Level change (dB) from the provisional to the exact gain, or None."""
        if self._conn is None:
            return None
        try:
            gain = self._conn.recv()
        except (EOFError, OSError):
            gain = None
        self.close()
        return None if gain is None else gain - self._provisional

    def close(self) -> None:
        """Stop the measurement if it is still running."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(timeout=1)
            self._process = None
