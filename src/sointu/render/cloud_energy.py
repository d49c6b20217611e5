"""The loudness of a gong's cloud of lines, summed line by line and stroke by stroke.

A gong (engine/gong.py) has hundreds of cloud lines, each a pair of modes a fraction of a
hertz apart. The modal estimate (:mod:`.estimate`) follows every mode's state through every
100 ms segment, which for a thousand modes costs seconds an hour. The lines are what makes
this cheap: they lie at least 4 Hz apart, so the cross terms between two lines (and between
two strokes on one line, whose phases differ by the line's frequency times the gap) come
with phases spread all round and cancel over a session (measured on gong-bath: -0.003 dB
of gain with only the pairs within 1.5 Hz kept instead of 20 Hz). What a line contributes to
a segment is then the energy of its own pair after each stroke: three geometric series per
line, the same for every stroke but for its amplitudes and its offset in its segment. For
all strokes of one instrument at once this is one matrix product of the strokes' line
coefficients (strokes x lines) with tables of the series (lines x segments).

The estimate leaves the cloud modes out of its own computation (:func:`split_cloud`) and
adds :func:`cloud_sums`. For the limiter's look-out the cloud adds :data:`CREST` times its
rms to a segment's sample bound: hundreds of lines with unrelated phases sum like noise, and
their strict bound (the sum of all amplitudes) would flag most of a gong session as hot.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..engine.synth import Impulse

__all__ = ["split_cloud", "cloud_sums", "CREST"]

#: Cloud peak over its rms assumed for the limiter's look-out (a Gaussian exceeds 5 sigma
#: once in ~2 million samples).
CREST = 5.0
#: A stroke's lines are followed until their energy has fallen this far (ln 1e-12).
_FALL = 27.6


class _CoreBank:
    def __init__(self, bank, keep: np.ndarray):
        self.log_pole = bank.log_pole[keep]
        self.gains = bank.gains[:, keep]
        self.count = int(np.count_nonzero(keep))
        self.sample_rate = bank.sample_rate


class _CoreSynth:
    """What the estimate reads of a Synth (bank, impulses, rubs, the rub envelope), without
    the cloud modes."""

    def __init__(self, synth, keep: np.ndarray):
        self._synth = synth
        self.bank = _CoreBank(synth.bank, keep)
        new = np.cumsum(keep) - 1  # new index of each kept mode
        self.impulses = []
        for imp in synth.impulses:
            k = keep[imp.first: imp.first + len(imp.amps)]
            self.impulses.append(Impulse(imp.frame, int(new[imp.first]), imp.amps[k], imp.ramp))
        # rubbed instruments have no cloud: only where their modes start moves
        self.rubs = [replace(r, first=int(new[r.first])) for r in synth.rubs]

    def _envelope(self, r, n):
        return self._synth._envelope(r, n)


def split_cloud(synth):
    """(what the estimate follows mode by mode, the cloud's (main, companion) mode pairs)."""
    pairs = getattr(synth.bank, "cloud_pairs", np.zeros((0, 2), dtype=np.intp))
    if not len(pairs):
        return synth, pairs
    keep = np.ones(synth.bank.count, dtype=bool)
    keep[pairs.ravel()] = False
    return _CoreSynth(synth, keep), pairs


def _series(r: np.ndarray, n) -> np.ndarray:
    """sum_{t=0}^{n-1} r^t (|r| < 1)."""
    return (1.0 - r ** n) / (1.0 - r)


def cloud_sums(synth, pairs: np.ndarray, C: np.ndarray, S: int, n_seg: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """K-weighted sums of squares (2, n_seg) of the cloud lines, and their sample bound (n_seg,).

    Parameters
    ----------
    synth : Synth
        The whole session (every mode).
    pairs : ndarray of int, shape (L, 2)
        (main, companion) mode of each line.
    C : ndarray, complex, shape (2, M)
        K-weighted channel gain of every mode.
    S, n_seg : int
        Frames per segment, number of segments.
    """
    sums = np.zeros((2, n_seg))
    if not len(pairs):
        return sums, np.zeros(n_seg)
    lp = synth.bank.log_pole
    # the lines each stroke reaches, by the stroke's first mode (one instrument each)
    by_first: dict[int, list] = {}
    for imp in synth.impulses:
        by_first.setdefault(imp.first, []).append(imp)
    for first, imps in by_first.items():
        n = len(imps[0].amps)
        sel = (pairs[:, 0] >= first) & (pairs[:, 0] < first + n)
        if not sel.any():
            continue
        m, c = pairs[sel, 0], pairs[sel, 1]
        r = {  # per-frame ratio of each term of a line's energy
            "mm": np.exp(2.0 * lp[m].real),
            "cc": np.exp(2.0 * lp[c].real),
            "mc": np.exp(lp[m] + np.conj(lp[c])),
        }
        slowest = float(-2.0 * max(lp[m].real.max(), lp[c].real.max()))
        K = int(min(n_seg, np.ceil(_FALL / (slowest * S)) + 1))
        k = np.arange(K)
        table = {key: v[:, None] ** (S * k)[None, :] * _series(v, S)[:, None]
                 for key, v in r.items()}  # (L, K): a whole segment, k segments on
        frames = np.array([imp.frame for imp in imps], dtype=np.int64)
        seg = frames // S
        rest = (seg + 1) * S - frames  # frames of the stroke's own segment after it
        a = np.stack([imp.amps[m - first] for imp in imps])  # (J, L)
        b = np.stack([imp.amps[c - first] for imp in imps])
        for ch in range(2):
            u, v = C[ch, m] * a, C[ch, c] * b
            coef = {"mm": 0.5 * np.abs(u) ** 2, "cc": 0.5 * np.abs(v) ** 2,
                    "mc": u * np.conj(v)}
            own = np.zeros(len(imps))  # each stroke's own segment, from its frame on
            after = np.zeros((len(imps), K))  # the segments after it
            for key, w in coef.items():
                lead = r[key][None, :] ** rest[:, None]  # (J, L): to the next segment
                own += (w * _series(r[key][None, :], rest[:, None])).sum(axis=1).real
                after += ((w * lead) @ table[key]).real
            for j, kj in enumerate(seg):
                if kj < n_seg:
                    sums[ch, kj] += own[j]
                    stop = min(n_seg, kj + 1 + K)
                    sums[ch, kj + 1: stop] += after[j, : stop - kj - 1]
    rms = np.sqrt(np.maximum(sums, 0.0).max(axis=0) / S)
    return sums, CREST * rms
