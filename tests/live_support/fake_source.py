"""A deterministic stand-in for SessionAudio in the live tests (a BlockSource).

Frame k of channel c is ``amp(k) * sin(2 pi f_c k / sr + phi_c)`` computed from the absolute
frame number, so every frame has the same value whatever the block size or start frame. The
level changes from phase to phase (0.25, 0.5, 0.35), and frame 0 is not zero in either
channel, so the first frame of the capture can be found exactly.
"""

from __future__ import annotations

import numpy as np

from sointu.session.timeline import Phase, Timeline

__all__ = ["FakeSource", "PHASES"]

#: (name, share of the session, amplitude)
PHASES = (("introduction", 0.2, 0.25), ("relaxation", 0.6, 0.5), ("recovery", 0.2, 0.35))

FREQS_HZ = (220.0, 331.0)
OFFSETS_RAD = (0.5, 1.1)


class FakeSource:
    """A stereo test signal of ``duration_s`` seconds with three named phases.

    Parameters
    ----------
    duration_s : float
        Length (s).
    sample_rate : int
        Frames per second.
    slow_s : float
        Sleep this long before yielding each block (simulates a slow engine).
    fail_at_s : float, optional
        Raise RuntimeError when asked for audio at or after this time (s).
    """

    def __init__(self, duration_s: float = 30.0, sample_rate: int = 48000, *,
                 slow_s: float = 0.0, fail_at_s: float | None = None):
        self.sample_rate = int(sample_rate)
        self.total_frames = int(round(duration_s * sample_rate))
        self.slow_s = slow_s
        self.fail_at_s = fail_at_s
        phases, t = [], 0.0
        for name, share, _ in PHASES:
            phases.append(Phase(name, t, t + share * duration_s))
            t += share * duration_s
        self.timeline = Timeline(duration_s=duration_s, phases=tuple(phases), seed=1)
        self._edges = np.array([round(p.end_s * sample_rate) for p in phases])
        self._amps = np.array([a for _, _, a in PHASES])

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) as float32 (n, 2)."""
        k = np.arange(start, stop, dtype=np.float64)
        amp = self._amps[np.minimum(np.searchsorted(self._edges, k, side="right"),
                                    len(self._amps) - 1)]
        out = np.empty((len(k), 2), dtype=np.float32)
        for c, (f, phi) in enumerate(zip(FREQS_HZ, OFFSETS_RAD, strict=True)):
            out[:, c] = amp * np.sin(2.0 * np.pi * f * k / self.sample_rate + phi)
        return out

    def blocks(self, block_frames: int = 4096, start_frame: int = 0):
        import time

        if not 0 <= start_frame <= self.total_frames:
            raise ValueError(f"start_frame {start_frame} outside 0..{self.total_frames}")
        pos = start_frame
        while pos < self.total_frames:
            if self.fail_at_s is not None and pos >= self.fail_at_s * self.sample_rate:
                raise RuntimeError("fake engine failure")
            if self.slow_s:
                time.sleep(self.slow_s)
            stop = min(pos + block_frames, self.total_frames)
            yield self.frames(pos, stop)
            pos = stop
