"""Analysing one recording: pick the clearest stroke and measure its partials."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import UsageError
from .partials import BAND_HZ, Partial, decay_spectra, find_peaks, measure_partial
from .strokes import Stroke, clearest, find_strokes

__all__ = ["Analysis", "analyse_signal", "MIN_DECAY_S", "SKIP_S"]

#: Shortest decay (s) from which decays are measured.
MIN_DECAY_S = 1.5
#: A weak tone within this fraction of 2x or 3x a partial, and this far (dB) below it, is a
#: harmonic (distortion), not a mode.
HARMONIC_TOLERANCE = 0.001
HARMONIC_BELOW_DB = 15.0
#: The first moments after the strike (s) are skipped: the mallet's knock and room noise.
SKIP_S = 0.1


@dataclass(frozen=True)
class Analysis:
    """What one recording holds: its strokes, the one analysed, and that one's partials.

    partials are sorted by frequency; amplitudes are referred to the stroke's peak.
    harmonics are the weak tones at 2x or 3x a partial (with that multiple), left out.
    """

    rate: int
    channels: int
    strokes: tuple[Stroke, ...]
    stroke: Stroke
    partials: tuple[Partial, ...]
    harmonics: tuple[tuple[Partial, int], ...] = ()

    @property
    def strongest(self) -> list[Partial]:
        """The partials, loudest first."""
        return sorted(self.partials, key=lambda p: -p.amp)


def analyse_signal(x: np.ndarray, rate: int, *, max_partials: int = 8,
                   where: str = "recording") -> Analysis:
    """Find the clearest stroke in ``x`` and measure its partials.

    Parameters
    ----------
    x : ndarray, shape (channels, frames)
    rate : int
        Sample rate (Hz).
    max_partials : int
        Measure at most this many partials (the strongest).
    where : str
        Names the recording in error messages.

    Raises
    ------
    UsageError
        No clear partials (silence or noise), or the decay is too short to measure.
    """
    strokes = find_strokes(x, rate)
    stroke = clearest(strokes, rate, MIN_DECAY_S + SKIP_S)
    decay_s = stroke.seconds(rate)
    if decay_s < MIN_DECAY_S + SKIP_S:
        if not find_peaks(x[:, stroke.peak: stroke.stop], rate, 1):
            raise _no_partials(where)
        raise UsageError(
            f"{where}: too short to measure decays: {decay_s:.2f} s of sound after the strike; "
            f"need at least {MIN_DECAY_S + SKIP_S:g} s")
    start = stroke.peak + int(round(SKIP_S * rate))
    decay = x[:, start: stroke.stop]
    peaks = find_peaks(decay, rate, max_partials)
    spectra, n = decay_spectra(decay, rate)
    found: list[Partial] = []
    for f in peaks:
        others = [abs(f - g) for g in peaks if g != f]
        half = min(BAND_HZ, 0.45 * min(others)) if others else BAND_HZ
        p = measure_partial(spectra, n, rate, f, half_hz=half)
        if p is not None:
            # refer the amplitude back to the stroke's peak
            k = math.exp(SKIP_S * math.log(1000.0) / p.t60_s)
            found.append(replace(p, amp=p.amp * k, halves=(p.halves[0] * k, p.halves[1] * k)))
        if len(found) >= max_partials + 3:  # room for harmonics, left out below
            break
    found, harmonics = _split_harmonics(found)
    found = sorted(found, key=lambda p: -p.amp)[:max_partials]
    if not found:
        raise _no_partials(where)
    return Analysis(rate=rate, channels=x.shape[0], strokes=tuple(strokes), stroke=stroke,
                    partials=tuple(sorted(found, key=lambda p: p.freq_hz)),
                    harmonics=tuple(harmonics))


def _split_harmonics(found: list[Partial]) -> tuple[list[Partial], list[tuple[Partial, int]]]:
    """Tell modes from the weak tones at exactly 2x or 3x a stronger partial.

    Real bowls show such tones 18-64 dB below their partial (ACOUSTICS.md [R]): the metal's
    and the microphone's nonlinearity, not modes of the bowl. Returns the modes and the
    harmonics with the multiple each is of.
    """
    modes, harmonics = [], []
    for p in found:
        for q in found:
            k = round(p.freq_hz / q.freq_hz)
            if (k in (2, 3) and abs(p.freq_hz / (k * q.freq_hz) - 1.0) < HARMONIC_TOLERANCE
                    and p.amp < q.amp * 10 ** (-HARMONIC_BELOW_DB / 20)):
                harmonics.append((p, k))
                break
        else:
            modes.append(p)
    return modes, harmonics


def _no_partials(where: str) -> UsageError:
    return UsageError(
        f"{where}: no clear partials were found (silence or noise?); record one stroke of the "
        "instrument ringing out, with little noise around it")
