"""Gongs and tam-tams as dense, living instruments, still made only of linear modes.

A real gong (ACOUSTICS.md, [R] rows) shows hundreds of stable spectral lines, densest at
1-3 kHz; its brightness blooms upward for ~0.8 s after the strike and falls back within
seconds, its high bands dying first; its low partials start 25-35 cents sharp and sag back,
more after a harder stroke; and the level of every partial churns at 0.15-0.75 Hz. The
preset's ``[gong]`` table describes this with a few numbers, and this module turns them into
modes for the shared bank, so a stroke still costs nothing per sample beyond its modes:

* the cloud: ``partials`` lines drawn from a seeded log-normal density around
  ``densest_hz``, at least :data:`MIN_GAP_HZ` apart, with levels falling ``tilt_db_oct``
  per octave above it and decays T60 = ``t60_1k_s`` (f / 1 kHz) ^ -``t60_exponent``;
* bloom and churn in one: each cloud line is a pair of modes a fraction of a hertz apart
  with opposite amplitudes. They cancel at the strike, drift apart in phase, so the line
  swells until 1 / (2 split) s and then churns at the split rate while the second mode dies
  (it decays ``companion_decay`` times as fast as the first);
* churn of the preset's own partials: a companion mode ``churn_hz`` above each, at a seeded
  share ``churn_depth`` of its level (two modes beat: a level that churns by
  20 log10((1 + d) / (1 - d)) dB);
* the sag: each partial below ``sharp_below_hz`` gets a sharp companion ``sharp_cents``
  above it that decays within a few seconds (time constant ``sharp_s``); while it is
  strong the partial's energy sits at the sharp pitch, and as it dies the pitch sinks to
  the true one. Its share follows the velocity and the mallet's hardness.

The modes are laid out so that those which die soonest form their own groups: the bank
skips a group once all of its modes have fallen silent, so the short high modes stop
costing long before the low roar does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..schema import defaults_from
from .instrument_schema import GONG

__all__ = ["GongStyle", "GongModes", "MIN_GAP_HZ"]

#: Closest two cloud lines may lie (Hz): a 1 s analysis window still tells them apart.
MIN_GAP_HZ = 4.0
#: The cloud's modes, longest first, form this many groups, each skipped once all of its
#: modes are silent (finer groups: the short ones stop costing sooner; each group that falls
#: silent costs the bank one regathering of its basis).
_GROUPS = 8
#: The same for the preset partials' modes and their companions.
_CORE_GROUPS = 3


@dataclass(frozen=True)
@defaults_from(GONG)
class GongStyle:
    """The ``[gong]`` table of an instrument preset (see docs/presets.md); Hz, s, dB."""

    seed: int
    partials: int
    range_hz: tuple[float, float]
    densest_hz: float
    spread_oct: float
    level_db: float
    tilt_db_oct: float
    scatter_db: float
    t60_1k_s: float
    t60_exponent: float
    bloom_s: tuple[float, float]
    companion_decay: float
    mallet_tilt: float
    churn_hz: tuple[float, float]
    churn_depth: tuple[float, float]
    sharp_cents: tuple[float, float]
    sharp_below_hz: float
    sharp_ratio: float
    sharp_s: float


class GongModes:
    """A gong's extra modes for one instrument at one sample rate.

    Parameters
    ----------
    style : GongStyle
    scale_hz : float
        Retuning factor (the instrument's note over its preset fundamental).
    nyquist_hz : float
        Highest frequency a mode may have.
    """

    def __init__(self, style: GongStyle, scale_hz: float, nyquist_hz: float):
        self.style = style
        rng = np.random.default_rng([int(style.seed), 4711])
        # the cloud: log-normal line density, thinned so no two lines are too close
        lo, hi = (min(f * scale_hz, nyquist_hz) for f in style.range_hz)
        centre = math.log2(style.densest_hz * scale_hz)
        lines: list[float] = []
        tries = 0
        while len(lines) < style.partials and tries < 50 * style.partials:
            tries += 1
            f = 2.0 ** rng.normal(centre, style.spread_oct)
            if lo <= f <= hi and all(abs(f - g) >= MIN_GAP_HZ for g in lines):
                lines.append(f)
        f = np.sort(np.array(lines))
        n = len(f)
        octs = np.log2(f / (style.densest_hz * scale_hz))
        level_db = (style.level_db + style.tilt_db_oct * np.maximum(octs, 0.0)
                    + rng.uniform(-style.scatter_db, style.scatter_db, n))
        t60 = style.t60_1k_s * (f / 1000.0) ** -style.t60_exponent
        t60 *= np.exp(rng.uniform(-0.15, 0.15, n))
        tau = t60 / math.log(1000.0)
        split = 1.0 / (2.0 * rng.uniform(*style.bloom_s, n))  # swells until 1 / (2 split)
        self.line_hz = f
        # each line: main (f, tau, +a), companion (f + split, tau / k, -a); a stroke's
        # amplitudes are (level, -level): the two cancel at the strike. Longest first, so
        # that the groups (below) fall silent one after another
        freq = np.concatenate([f, f + split])
        taus = np.concatenate([tau, tau / style.companion_decay])
        order = np.argsort(-taus, kind="stable")
        order = order[freq[order] < nyquist_hz]
        self.freq_hz = freq[order]
        self.tau_s = taus[order]
        self.sign = np.where(order < n, 1.0, -1.0)
        self.line = order % n  # which line each mode belongs to
        self.gain = 10.0 ** (level_db[self.line] / 20.0)
        self.groups = [g for g in _split(len(order), _GROUPS) if g]
        # (main, companion) mode of every line whose two modes both exist, indices in the cloud
        where = {(int(ln), int(sg)): i for i, (ln, sg) in enumerate(zip(self.line, self.sign,
                                                                        strict=True))}
        self.pairs = np.array([(where[ln, 1], where[ln, -1]) for ln in range(n)
                               if (ln, 1) in where and (ln, -1) in where],
                              dtype=np.intp).reshape(-1, 2)

    @property
    def count(self) -> int:
        return len(self.freq_hz)

    def core_companions(self, rows: list, sharp_share: list, n_partials: int
                        ) -> tuple[list, list]:
        """Churn and sharp companions for the preset's partials.

        Parameters
        ----------
        rows : list of (freq_hz, tau_s, partial, half, coef)
            The preset partials' modes, as :class:`~sointu.engine.instrument.Modes` lays
            them out.
        sharp_share : list of float
            One 0 per row.
        n_partials : int
            Bodies x partials of the instrument.

        Returns
        -------
        (rows, sharp) : the rows with companions added, longest decay first (in
        :attr:`core_groups`), and for each row its share of the sharp companion scaling (1
        for a sharp companion, 0 otherwise).
        """
        s = self.style
        rng = np.random.default_rng([int(s.seed), 1913])
        partials = sorted({r[2] for r in rows})
        churn = {p: (rng.uniform(*s.churn_hz), rng.uniform(*s.churn_depth)) for p in partials}
        cents = {p: rng.uniform(*s.sharp_cents) for p in partials}
        lowest = {}
        for r in rows:  # the partial's frequency: its first mode's
            lowest.setdefault(r[2], r[0])
        out, sharp = list(rows), list(sharp_share)
        # how much louder than its lead mode each partial can start: churn companions start
        # in phase, and so do sharp ones (see peak_boost)
        self._churn_boost = np.ones(n_partials)
        self._is_sharp = np.zeros(n_partials)
        for f, tau, p, half, coef in rows:
            dhz, depth = churn[p]
            if depth > 0:
                out.append((f + dhz, tau, p, half, coef * depth))
                sharp.append(0.0)
        for p in partials:
            f0 = lowest[p]
            self._churn_boost[p] = 1.0 + churn[p][1]
            if f0 < s.sharp_below_hz:
                self._is_sharp[p] = 1.0
                # one sharp mode per partial, as loud as the partial at sharp factor 1; its
                # share of the partial falls as exp(-t / sharp_s)
                tau0 = next(r[1] for r in rows if r[2] == p)
                tau_sharp = 1.0 / (1.0 / s.sharp_s + 1.0 / tau0)
                fs = f0 * 2.0 ** (cents[p] / 1200.0)
                out.append((fs, tau_sharp, p, 0, 1.0))
                sharp.append(1.0)
                dhz, depth = churn[p]  # the sharp tone churns as the partial does
                if depth > 0:
                    out.append((fs + dhz, tau_sharp, p, 0, depth))
                    sharp.append(1.0)
        # longest first, in groups the bank can skip one after another (the fundamental's
        # hum need not keep the short high partials and the sharp tones sounding)
        order = sorted(range(len(out)), key=lambda k: -out[k][1])
        self.core_groups = [g for g in _split(len(out), _CORE_GROUPS) if g]
        return [out[k] for k in order], [sharp[k] for k in order]

    def peak_boost(self, sharp_factor: float) -> np.ndarray:
        """How much louder than its lead mode each partial starts (its churn companion and,
        scaled by ``sharp_factor``, its sharp tone start in phase with it), shape (n_partials,)."""
        return self._churn_boost * (1.0 + sharp_factor * self._is_sharp)

    def sharp_factor(self, velocity: float, hardness: float) -> float:
        """Amplitude of a sharp companion re its partial: ``sharp_ratio`` for a full-velocity
        stroke with the hardest mallet, less for softer ones (``hardness``: the stroke's
        mallet cutoff re the hard mallet's, presets/engine/mallets.toml)."""
        return self.style.sharp_ratio * velocity * min(1.0, math.sqrt(hardness))

    def amplitudes(self, level: float, mallet_gain, rng: np.random.Generator) -> np.ndarray:
        """Cloud mode amplitudes (real; the caller applies the strike's phase).

        Parameters
        ----------
        level : float
            The stroke's overall scale (instrument scale x velocity^1.5 x first partial).
        mallet_gain : callable
            freq_hz array -> the mallet's excitation gain there.
        rng : numpy.random.Generator
            The stroke's variation: each line +-1 dB.
        """
        n = len(self.line_hz)
        jitter = 10.0 ** (rng.uniform(-1.0, 1.0, n) / 20.0)
        tone = mallet_gain(self.line_hz) ** self.style.mallet_tilt * jitter
        # a line's pair peaks near twice its modes' amplitude: half the line's level each
        return 0.5 * level * self.gain * tone[self.line] * self.sign


def _split(n: int, parts: int) -> list[int]:
    """n items in ``parts`` consecutive groups of near-equal size."""
    edges = [round(n * k / parts) for k in range(parts + 1)]
    return [edges[k + 1] - edges[k] for k in range(parts)]
