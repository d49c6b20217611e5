"""Placement and room: the complex stereo gain of every mode.

A mode rings far longer than a room's reflections take to arrive, so, once the first few
tens of milliseconds have passed, the room's effect on it is a fixed complex gain per ear:
the sum of a few early reflections (delay d_k, gain g_k) evaluated at the mode's frequency,
sum_k g_k exp(-i 2 pi f d_k). Each ear gets its own seeded set of reflections, which
decorrelates the two channels (width and envelopment) at no cost per sample. Doublet halves,
a fraction of a hertz apart, get almost the same gain, so beating is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Room", "mode_gains"]


@dataclass(frozen=True)
class Room:
    """A gentle room.

    Attributes
    ----------
    reverb : float
        0 (dry) .. 1 (very reverberant): the share of reflected sound.
    width : float
        0 (everything in the middle) .. 1 (instruments at their full azimuth).
    seed : int
        Seeds the reflection pattern.
    """

    reverb: float = 0.35
    width: float = 0.8
    seed: int = 0


_REFLECTIONS = 8
_DELAY_S = (0.004, 0.045)
_DECAY_S = 0.03


def mode_gains(freq_hz: np.ndarray, room: Room, *, azimuth_deg: float = 0.0,
               distance: float = 1.0, level_db: float = 0.0) -> np.ndarray:
    """Complex gain of each mode in each channel.

    Parameters
    ----------
    freq_hz : ndarray, shape (M,)
        Mode frequencies (Hz).
    room : Room
        Reverb amount, width and seed.
    azimuth_deg : float
        Direction of the instrument: -90 left, 0 front, 90 right, up to +-180 behind.
    distance : float
        Relative distance (1 = near); the direct sound falls as 1/distance, the room stays.
    level_db : float
        Extra gain of this instrument (dB).

    Returns
    -------
    ndarray, complex128, shape (2, M)
    """
    az = math.radians(azimuth_deg)
    theta = (math.sin(az) * room.width + 1.0) * math.pi / 4.0  # constant-power pan
    pan = np.array([math.cos(theta), math.sin(theta)]) * math.sqrt(2.0)
    direct = (1.0 - 0.6 * room.reverb) / max(distance, 1.0)
    wet = 0.8 * room.reverb
    rng = np.random.default_rng([room.seed, 7919])
    gains = np.empty((2, len(freq_hz)), dtype=complex)
    for ch in range(2):
        delays = rng.uniform(*_DELAY_S, size=_REFLECTIONS)
        amps = np.exp(-delays / _DECAY_S) * rng.choice([-1.0, 1.0], size=_REFLECTIONS)
        amps /= math.sqrt(np.sum(amps**2))
        refl = np.exp(-2j * np.pi * np.outer(freq_hz, delays)) @ amps
        # the far ear hears a little more of the room than of the direct sound
        gains[ch] = direct * pan[ch] + wet * refl
    return gains * 10.0 ** (level_db / 20.0) / math.sqrt(2.0)
