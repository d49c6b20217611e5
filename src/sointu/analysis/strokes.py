"""Finding the strokes in a recording and picking the clearest one.

A stroke is where several octave bands rise sharply at once (a strike re-excites the upper
partials even while the bowl still rings from an earlier stroke). A recording that starts
after the strike, or a rubbed tone that swells, has no such onset: its loudest moment is
taken as the start of the decay instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Stroke", "find_strokes", "clearest"]

#: Hop of the band-energy envelope (s).
HOP_S = 0.02
#: A band counts as rising when it gains this much (dB) over its maximum of the last MEMORY_S.
RISE_DB = 6.0
MEMORY_S = 2.0
#: ... and stands this far (dB) above that band's noise floor (its 10th percentile).
ABOVE_FLOOR_DB = 15.0
#: Onsets closer than this (s) are one stroke.
MERGE_S = 1.0


@dataclass(frozen=True)
class Stroke:
    """One stroke: where it starts (the onset), peaks and ends, in frames."""

    onset: int
    peak: int
    stop: int
    rise_db: float

    def seconds(self, rate: int) -> float:
        """Length of the decay from the peak to the end (s)."""
        return (self.stop - self.peak) / rate


def _band_energies(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Octave-band energies (dB), shape (bands, frames), their total (dB) and the hop (frames)."""
    hop = max(1, int(round(HOP_S * rate)))
    n_fft = 1 << int(np.ceil(np.log2(2 * hop)))
    mono_power = None
    frames = max(1, (x.shape[1] - n_fft) // hop + 1) if x.shape[1] >= n_fft else 1
    window = np.hanning(n_fft)
    edges = [62.5 * 2**k for k in range(10)]  # 62.5 Hz .. 16 kHz
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    bands = [(freqs >= lo) & (freqs < hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)
             if lo < 0.45 * rate]
    out = np.zeros((len(bands), frames))
    total = np.zeros(frames)
    step = 2048  # frames of the envelope per FFT batch, to bound memory
    for f0 in range(0, frames, step):
        idx = np.arange(f0, min(frames, f0 + step))
        power = 0.0
        for ch in x:
            if ch.shape[0] < n_fft:
                seg = np.zeros((1, n_fft))
                seg[0, : ch.shape[0]] = ch
            else:
                seg = ch[idx[:, None] * hop + np.arange(n_fft)[None, :]]
            power = power + np.abs(np.fft.rfft(seg * window, axis=1)) ** 2
        mono_power = power
        for b, mask in enumerate(bands):
            out[b, idx] = mono_power[:, mask].sum(axis=1)
        total[idx] = mono_power.sum(axis=1)
    tiny = 1e-20
    return 10 * np.log10(out + tiny), 10 * np.log10(total + tiny), hop


def find_strokes(x: np.ndarray, rate: int) -> list[Stroke]:
    """The strokes of a recording, in time order.

    Parameters
    ----------
    x : ndarray, shape (channels, frames)
    rate : int
        Sample rate (Hz).

    Returns
    -------
    list of Stroke
        At least one: without a clear onset, one stroke from the loudest moment on.
    """
    bands, total, hop = _band_energies(x, rate)
    n = total.shape[0]
    back = max(1, int(round(0.2 / HOP_S)))
    memory = max(1, int(round(MEMORY_S / HOP_S)))
    floor = np.percentile(bands, 10, axis=1)[:, None]
    loud = total.max()
    onsets: list[int] = []
    for t in range(1, n):
        # above everything of the last 2 s: beating (which only falls back to where it was) and
        # a decay never are
        recent = bands[:, max(0, t - memory):t].max(axis=1)
        rising = (bands[:, t] - recent >= RISE_DB) & (bands[:, t] >= floor[:, 0] + ABOVE_FLOOR_DB)
        if rising.sum() >= 2 and total[t] >= loud - 40.0:
            if not onsets or (t - onsets[-1]) * HOP_S >= MERGE_S:
                onsets.append(t)
    strokes = []
    peak_span = max(1, int(round(0.5 / HOP_S)))
    for i, t in enumerate(onsets):
        end = onsets[i + 1] - 1 if i + 1 < len(onsets) else n
        p = t + int(np.argmax(total[t: min(end, t + peak_span)]))
        before = total[max(0, t - 2 * back): t]
        rise = float(total[p] - (before.min() if before.size else total[p]))
        stop = min(x.shape[1], end * hop if i + 1 < len(onsets) else x.shape[1])
        strokes.append(Stroke(onset=t * hop, peak=p * hop, stop=stop, rise_db=rise))
    if not strokes:
        # no onset: the strike is before the recording starts, or the tone swells (a rub)
        smooth = np.convolve(10 ** (total / 10), np.ones(25) / 25, mode="same")
        p = int(np.argmax(smooth))
        if p < 25 or smooth[p] < 10.0 * np.median(smooth):
            p = 0  # a cut recording (or steady sound): start where it starts
        strokes.append(Stroke(onset=p * hop, peak=p * hop, stop=x.shape[1], rise_db=0.0))
    return strokes


def clearest(strokes: list[Stroke], rate: int, min_s: float) -> Stroke:
    """The stroke that stands out most from what came before and rings longest.

    Strokes shorter than ``min_s`` (s) count only when no stroke is long enough.
    """
    long_enough = [s for s in strokes if s.seconds(rate) >= min_s] or strokes

    def score(s: Stroke) -> float:
        return min(s.rise_db, 40.0) + 10.0 * np.log10(min(max(s.seconds(rate), 0.1), 20.0))

    return max(long_enough, key=score)
