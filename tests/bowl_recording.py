"""A synthetic "real" bowl recording built from the figures measured on recordings of real
bowls (ACOUSTICS.md, [R]): the analyser's test input beside the engine's own renders.

Every figure below is from that table unless marked as a choice: partial ratios in the
measured ranges, T60 falling as f**-1.8, a -5 dB/octave tilt, beating doublets 12-17 dB deep,
a mallet "tock" and high noise gone within 200 ms, a room (reverberation, noise floor 58 dB
below the strike), a breath before the stroke, a tone at exactly 2x the fundamental, stereo
with partly correlated channels, 44.1 kHz.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve, lfilter

RATE = 44100
F1 = 184.0                                      # one of the measured bowls
RATIOS = (1.0, 2.71, 5.12, 8.05, 11.3)          # within 2.66-2.87, 4.84-5.51, 7.43-8.78, ...
T60_1 = 40.0                                    # a medium bowl (a choice between 17 and 145 s)
DECAY_EXPONENT = 1.8                            # T60 ~ f**-a, a = 1.5-2.1
TILT_DB_PER_OCTAVE = -5.0                       # -4 to -7
SPLITS_HZ = (1.5, 3.2, 1.1, 5.5, 0.0)           # 1.0-2.1 Hz at the fundamental, 1.1 Hz on the 3rd
HALF_RATIO = (0.6, 0.5, 0.75, 0.4, 0.0)         # beats 12, 10, 17, 7 dB deep
NOISE_FLOOR_DB = -58.0                          # 52-63 dB below the strike
STRIKE_S = 1.2


def partials() -> list[tuple[float, float, float, float]]:
    """(frequency Hz, T60 s, level dB re the fundamental, split Hz) of each partial."""
    out = []
    for r, split in zip(RATIOS, SPLITS_HZ, strict=True):
        out.append((F1 * r, T60_1 * r ** -DECAY_EXPONENT, TILT_DB_PER_OCTAVE * np.log2(r), split))
    return out


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    # Paul Kellet's economy pink filter approximated by one pole-zero pair per decade (a choice)
    white = rng.standard_normal(n)
    y = lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                [1, -2.494956002, 2.017265875, -0.522189400], white)
    return y / np.std(y)


def recording(seconds: float = 20.0, seed: int = 5, strikes: tuple[float, ...] = (STRIKE_S,)
              ) -> np.ndarray:
    """The recording, float64 (2, frames) at RATE, peaking near -6 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    dry = np.zeros(n)
    for k, t0 in enumerate(strikes):
        i0 = int(t0 * RATE)
        tt = t[i0:] - t0
        gain = 1.0 if k == 0 else 0.8
        for j, (f, t60, level_db, split) in enumerate(partials()):
            a = gain * 10 ** (level_db / 20)
            tau = t60 / np.log(1000)
            if split:
                b = HALF_RATIO[j]
                # the halves decay a little differently, as on real bowls (a choice: +-5 %)
                dry[i0:] += a / (1 + b) * np.exp(-tt / (tau * 1.05)) * np.sin(
                    2 * np.pi * (f - split / 2) * tt)
                dry[i0:] += a * b / (1 + b) * np.exp(-tt / (tau * 0.95)) * np.sin(
                    2 * np.pi * (f + split / 2) * tt + 1.0)
            else:
                dry[i0:] += a * np.exp(-tt / tau) * np.sin(2 * np.pi * f * tt)
        # a tone at exactly 2x the fundamental, 40 dB below it (18-64 dB measured)
        dry[i0:] += gain * 0.01 * np.exp(-tt / (T60_1 / 2 / np.log(1000))) * np.sin(
            4 * np.pi * F1 * tt)
        # the mallet's tock: +9 dB over the tone in the first 10 ms, high noise gone in 0.2 s
        m = min(len(tt), int(0.3 * RATE))
        click = rng.standard_normal(m) * np.exp(-tt[:m] / 0.003) * 1.2 * gain
        hiss = np.diff(rng.standard_normal(m + 1)) * np.exp(-tt[:m] / 0.04) * 0.01 * gain
        dry[i0:i0 + m] += click + hiss
    # a breath before the first stroke: 200-2000 Hz noise, 0.6 s, 35 dB below the strike
    b0, b1 = int(0.3 * RATE), int(0.9 * RATE)
    breath = np.convolve(rng.standard_normal(b1 - b0), np.hanning(20) / 10, mode="same")
    dry[b0:b1] += 10 ** (-35 / 20) * breath / np.std(breath) * np.hanning(b1 - b0)
    out = np.empty((2, n))
    for ch in range(2):
        # the room: direct sound plus an exponentially decaying reverberation (T60 0.6 s)
        m = int(0.6 * RATE)
        ir = rng.standard_normal(m) * np.exp(-np.arange(m) / RATE / (0.6 / np.log(1000)))
        ir *= 0.5 / np.sqrt(np.sum(ir**2))
        ir[0] += 1.0
        out[ch] = fftconvolve(dry, ir)[:n]
    # noise floor re the strike's peak
    peak = np.max(np.abs(out))
    for ch in range(2):
        out[ch] += peak * 10 ** (NOISE_FLOOR_DB / 20) * _pink(rng, n)
    return out * (0.5 / np.max(np.abs(out)))
