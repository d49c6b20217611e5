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
#: Strokes of one instrument summed at once (a few MB whatever the session's length).
_STROKES = 32
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


def split_cloud(synth, near_hz: float):
    """(what the estimate follows mode by mode, the (main, companion) modes of the cloud lines
    summed apart): lines closer than ``near_hz`` to another mode (a partial of the preset,
    another instrument's) stay with the estimate, which sums them with their neighbours."""
    pairs = getattr(synth.bank, "cloud_pairs", np.zeros((0, 2), dtype=np.intp))
    if not len(pairs):
        return synth, pairs
    freq = synth.bank.log_pole.imag * synth.bank.sample_rate / (2.0 * np.pi)
    other = np.ones(synth.bank.count, dtype=bool)
    other[pairs.ravel()] = False
    f_other = np.sort(freq[other])
    lo = np.searchsorted(f_other, freq[pairs].min(axis=1) - near_hz)
    hi = np.searchsorted(f_other, freq[pairs].max(axis=1) + near_hz)
    pairs = pairs[hi == lo]  # no other mode within reach
    keep = np.ones(synth.bank.count, dtype=bool)
    keep[pairs.ravel()] = False
    return _CoreSynth(synth, keep), pairs


def _add_strokes(sums, z, frames, ends, Cq, r, ti, tj, weight, table, S) -> None:
    """Add to ``sums`` (2, n_seg) what the cloud states ``z`` (J, Q), each holding from its
    stroke's frame until ``ends``, put into the segments (terms ``ti``, ``tj``)."""
    n_seg = sums.shape[1]
    K = table.shape[1]
    seg = frames // S
    first_len = np.minimum(ends, (seg + 1) * S) - frames  # its part of its own segment
    lead = r[None, :] ** ((seg + 1) * S - frames)[:, None]  # to the next segment start
    own_series = _series(r[None, :], first_len[:, None])
    end_seg = ends // S
    tail = ends - end_seg * S  # frames of the last, partial segment before the next stroke
    for ch in range(2):
        u = Cq[ch][None, :] * z
        w = weight[None, :] * u[:, ti] * np.conj(u[:, tj])  # (J, P)
        own = (w * own_series).sum(axis=1).real
        after = ((w * lead) @ table).real  # (J, K): whole segments after the stroke's
        for j, kj in enumerate(seg):
            if kj >= n_seg:
                continue
            sums[ch, kj] += own[j]
            if end_seg[j] == kj:
                continue  # the next stroke lands in the same segment
            stop = min(n_seg, kj + 1 + K, end_seg[j])
            sums[ch, kj + 1: stop] += after[j, : stop - kj - 1]
            ke = end_seg[j]
            if tail[j] and ke < min(n_seg, kj + 1 + K):  # up to the next stroke
                part = w[j] * r ** (ke * S - frames[j]) * _series(r, tail[j])
                sums[ch, ke] += part.sum().real


def _series(r: np.ndarray, n) -> np.ndarray:
    """sum_{t=0}^{n-1} r^t (|r| < 1)."""
    return (1.0 - r ** n) / (1.0 - r)


def cloud_sums(synth, pairs: np.ndarray, C: np.ndarray, S: int, n_seg: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """K-weighted sums of squares (2, n_seg) of the cloud lines, and their sample bound (n_seg,).

    Each line's two modes are summed with themselves and with each other; the state of an
    instrument's cloud is followed from stroke to stroke exactly (strokes in a wave add to
    what still rings), and between strokes it decays: per stroke, a segment's sum is a
    geometric series in the segments after it, one matrix product for all strokes.

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
    by_first: dict[int, list] = {}  # the strokes of each instrument, by its first mode
    for imp in synth.impulses:
        by_first.setdefault(imp.first, []).append(imp)
    for first, imps in by_first.items():
        n = len(imps[0].amps)
        sel = pairs[(pairs[:, 0] >= first) & (pairs[:, 0] < first + n)]
        if not len(sel):
            continue
        q = sel.ravel()  # main, companion, main, companion, ...
        L = len(sel)
        # terms: every mode with itself (weight 1/2), every main with its companion (1)
        ti = np.concatenate([np.arange(2 * L), np.arange(0, 2 * L, 2)])
        tj = np.concatenate([np.arange(2 * L), np.arange(1, 2 * L, 2)])
        weight = np.concatenate([np.full(2 * L, 0.5), np.ones(L)])
        lq = lp[q]
        r = np.exp(lq[ti] + np.conj(lq[tj]))  # per-frame ratio of each term
        K = int(min(n_seg, np.ceil(_FALL / (-2.0 * lq.real.max() * S)) + 1))
        table = r[:, None] ** (S * np.arange(K))[None, :] * _series(r, S)[:, None]  # (P, K)
        frames = np.array([imp.frame for imp in imps], dtype=np.int64)
        # the cloud's state just after each stroke (what still rings, plus the stroke)
        z = np.empty((len(imps), 2 * L), dtype=complex)
        state = np.zeros(2 * L, dtype=complex)
        for j, imp in enumerate(imps):
            if j:
                state = state * np.exp(lq * (frames[j] - frames[j - 1]))
            state = state + imp.amps[q - first]
            z[j] = state
        # each state holds from its stroke until the next one (or rings out)
        ends = np.append(frames[1:], np.iinfo(np.int64).max // 4)
        for j0 in range(0, len(imps), _STROKES):  # a block of strokes at a time: flat memory
            j1 = min(len(imps), j0 + _STROKES)
            _add_strokes(sums, z[j0:j1], frames[j0:j1], ends[j0:j1], C[:, q], r, ti, tj,
                         weight, table, S)
    rms = np.sqrt(np.maximum(sums, 0.0).max(axis=0) / S)
    return sums, CREST * rms
