"""Keeps live playback under the render's peak limit when the volume is raised above 0 dB.

A session is rendered (and played) loudness-normalised with its rare loudest attacks held
at :data:`sointu.session.audio.LIMIT_DBFS`, 1 dB under the -1 dBTP true-peak ceiling. Many
sessions use that headroom up to a fraction of a dB, so a live volume of +3 or +6 dB would
clip (measured: 1327 samples above -1 dBFS, 384 at full scale, in 30 s of gift-30 at
+6 dB). Capping the volume at the headroom would make ``+`` do nothing for those sessions;
instead the gain of each frame is held under a smooth ceiling worked out from the peaks of
the queued chunks.

Each chunk of the feeder allows a total gain of ``cap = limit / peak``. The guard looks one
chunk ahead (the next chunk is already queued) and glides, over each chunk, from its value
at the chunk's start to ``min(cap(this chunk), cap(next chunk))``, in dB. That ceiling does
not depend on the volume: the gain of a frame is ``min(volume, ceiling)``, the minimum of
two gains that never step, so raising the volume while playing (``+``) cannot cause a click
either. Every sample stays at or under the limit. Where the volume is under the ceiling
(always at 0 dB: the session is already limited) the samples are not touched, so live
playback at 0 dB equals the render sample for sample.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["PeakGuard", "MAX_CAP"]

#: A chunk this close above the limit counts as at it (float32 rounding of the session's own
#: limiter, 0.0004 dB): the guard must not touch a session played at 0 dB.
_TOLERANCE = 1.0 + 5e-5
#: The ceiling of a silent chunk (linear; +120 dB).
MAX_CAP = 1e6


class PeakGuard:
    """The gain ceiling, chunk by chunk, that keeps every sample under ``limit``.

    Parameters
    ----------
    limit : float
        Largest absolute sample allowed after the volume (linear, full scale 1.0).

    Attributes
    ----------
    value : float
        Ceiling at the end of the last chunk (linear).
    """

    def __init__(self, limit: float):
        self.limit = float(limit)
        self.value = MAX_CAP

    def cap(self, peak: float) -> float:
        """Largest gain (linear, often above 1) for a chunk whose peak is ``peak``."""
        allowed = self.limit * _TOLERANCE
        return MAX_CAP if peak * MAX_CAP <= allowed else allowed / peak

    def ceiling(self, frames: int, peak: float, next_peak: float | None) -> np.ndarray:
        """The ceiling (linear gains, float64) over the next chunk of ``frames`` frames.

        Parameters
        ----------
        frames : int
            Length of the chunk.
        peak : float
            Its largest absolute sample (linear).
        next_peak : float or None
            The next chunk's peak, None if it is not known yet (then the ceiling ends at
            this chunk's cap, and the next chunk may start lower: a step, only after a
            queue that ran dry).
        """
        cap = self.cap(peak)
        start = min(self.value, cap)
        end = cap if next_peak is None else min(cap, self.cap(next_peak))
        self.value = end
        if start == end:
            return np.full(frames, end)
        k = np.arange(1, frames + 1, dtype=np.float64) / frames
        a, b = math.log(start), math.log(end)
        return np.exp(a + (b - a) * k)

    def reset(self) -> None:
        """Forget the previous chunk (after a seek: playback fades in from silence)."""
        self.value = MAX_CAP
