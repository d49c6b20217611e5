"""The level of live playback: the rendered level when known, else measured while playing.

A render of a session is loudness-normalised; live playback of the same session should
sound at the same level. If that gain is cached (a render or an earlier playback measured
it), playback uses it from the first sample. Otherwise playback starts at once at a
conservative provisional gain while a background process measures the session (on one
core, so playback keeps the other), caches the gain and hands the difference to the
player, which glides to it over a few seconds.
"""

from __future__ import annotations

import os

from ..background import Background

__all__ = ["LiveLevel", "PROVISIONAL_RAW_LUFS"]

#: The render pipeline's true-peak ceiling (dBTP), part of the cache key (kept equal to
#: :data:`sointu.render.pipeline.CEILING_DBTP` by a test).
CEILING_DBTP = -1.0

#: Assumed loudness of an unnormalised session for the provisional gain (LUFS): the shipped
#: presets measure -42 to -51, so starting from -42 errs on the quiet side.
PROVISIONAL_RAW_LUFS = -42.0


def _measure(audio, target_lufs) -> float:
    # only idle CPU: the audio thread and its producer must never wait for this
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.nice(19)
        except OSError:
            pass
    from ..render.pipeline import session_gain_db

    return session_gain_db(audio, target_lufs, workers=1)


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
        # only the small cache module here: the render pipeline's imports (soundfile,
        # mutagen) would eat into the first-sound budget
        from ..render import gain_cache

        cached = gain_cache.get(gain_cache.key(audio, target_lufs, CEILING_DBTP))
        gain = None if cached is None else cached[0]
        self.exact = gain is not None
        self._job = None
        if self.exact:
            audio.gain_db = gain
            return
        provisional = target_lufs - PROVISIONAL_RAW_LUFS
        # measured at gain 0, before playback touches the audio object
        audio.gain_db = 0.0
        self._job = Background(_measure, audio, target_lufs, name="sointu-level")
        audio.gain_db = provisional
        self._provisional = provisional

    def done(self) -> bool:
        """Whether the background measurement has finished (True when nothing is pending)."""
        return self._job is None or self._job.done()

    def result(self) -> float | None:
        """Level change (dB) from the provisional to the exact gain, or None."""
        if self._job is None:
            return None
        gain = self._job.result()
        self.close()
        return None if gain is None else gain - self._provisional

    def close(self) -> None:
        """Stop the measurement if it is still running."""
        if self._job is not None:
            self._job.close()
            self._job = None
