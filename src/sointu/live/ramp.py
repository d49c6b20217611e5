"""A gain that glides linearly to its target, one block at a time (no clicks on changes).

Used by the live callback for fades (pause, next phase, stop) and volume steps. Cheap enough
for an audio callback: one short ``numpy`` array per block while gliding, a plain float once
settled.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Ramp"]


class Ramp:
    """A linear gain glide.

    Parameters
    ----------
    value : float
        Starting gain (linear, not dB).
    sample_rate : int
        Frames per second; glide times are given in seconds.

    Notes
    -----
    While gliding, frame ``k`` (0-based) of the glide gets ``value + step * (k + 1)``, clamped
    at the target, so a fade of ``m`` frames from 0 to 1 plays ``1/m, 2/m, ..., 1``.
    """

    def __init__(self, value: float, sample_rate: int):
        self.value = float(value)
        self.target = float(value)
        self.sample_rate = int(sample_rate)
        self._step = 0.0

    def __repr__(self) -> str:
        return f"Ramp(value={self.value!r}, target={self.target!r}, step={self._step!r})"

    @property
    def settled(self) -> bool:
        """True once the gain has reached its target."""
        return self.value == self.target

    def go(self, target: float, seconds: float) -> None:
        """Glide from the current value to ``target`` in ``seconds`` (0: jump)."""
        self.target = float(target)
        frames = seconds * self.sample_rate
        if frames < 1.0:
            self.value = self.target
            self._step = 0.0
        else:
            self._step = (self.target - self.value) / frames

    def frames_left(self) -> int:
        """Frames until the target is reached (0 when settled)."""
        if self.settled:
            return 0
        return max(1, math.ceil((self.target - self.value) / self._step - 1e-9))

    def next(self, frames: int) -> float | np.ndarray:
        """Gains for the next ``frames`` frames, advancing the glide.

        Returns
        -------
        float or ndarray, shape (frames,), float32
            A plain float when the gain is constant over the block.
        """
        if self.settled or frames <= 0:
            return self.value
        left = self.frames_left()
        g = self.value + self._step * np.arange(1, frames + 1, dtype=np.float64)
        if left <= frames:
            g[left - 1:] = self.target
            self.value = self.target
        else:
            self.value = float(g[-1])
        return g.astype(np.float32)
