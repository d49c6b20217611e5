"""The loudness of a gong's cloud of lines, summed stroke by stroke.

A gong (engine/gong.py) has hundreds of cloud lines, each a pair of modes a fraction of a
hertz apart. The modal estimate (:mod:`.estimate`) follows every mode's state through every
100 ms segment, which for a thousand modes costs seconds an hour. The strokes are what makes
this cheap: a gong is struck a few dozen times an hour, and between two of its strokes every
term of a segment's energy (a mode with itself, two modes with each other) is a geometric
series in the segments, the same for every stroke but for its amplitudes and its offset in
its segment. For all strokes of one instrument at once this is one matrix product of the
strokes' term coefficients (strokes x terms) with tables of the series (terms x segments).

The terms are those the estimate keeps for any modes: every mode with itself, and every two
modes closer than ``pair_hz`` (a line's own two modes, neighbouring lines 4-20 Hz apart, a
line and a partial of its own gong), which beat within a 100 ms segment and so move its
energy. A line's cross term with another instrument's mode (a bowl's partial 2 Hz away)
needs that instrument's strokes too: a line closer than ``near_hz`` to one stays with the
estimate (:func:`split_cloud`). Summed line by line, with only the lines within 2 Hz of
another mode kept apart, the planet gong's 20 s lines put classic-60's 100 ms segments
0.4-1 dB off (95th percentile 0.42 dB; at 180 s, seed 11); so they are within 0.08 dB
(gong-bath 0.21 -> 0.14, gift-30 0.25 -> 0.07 dB).

For the limiter's look-out the cloud adds :data:`CREST` times its rms to a segment's sample
bound: hundreds of lines with unrelated phases sum like noise, and their strict bound (the
sum of all amplitudes) would flag most of a gong session as hot.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..engine.synth import Impulse

__all__ = ["split_cloud", "cloud_sums", "CREST"]

#: Cloud peak over its rms assumed for the limiter's look-out (a Gaussian exceeds 5 sigma
#: once in ~2 million samples).
CREST = 5.0
#: Strokes of one instrument summed at once.
_STROKES = 32
#: Terms x segments of the series' table held at once (4 MB complex): memory stays flat
#: however many terms and however long the lines ring.
_TABLE = 1 << 18
#: A stroke's terms are followed until their energy has fallen this far (ln 1e-12).
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


def _close(f: np.ndarray, g: np.ndarray, hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Every index pair (i, j) with |f[i] - g[j]| < hz (Hz)."""
    order = np.argsort(g, kind="stable")
    gs = g[order]
    lo = np.searchsorted(gs, f - hz, side="right")
    count = np.searchsorted(gs, f + hz, side="left") - lo
    i = np.repeat(np.arange(len(f)), count)
    into = np.arange(len(i)) - np.repeat(np.cumsum(count) - count, count)
    return i, order[np.repeat(lo, count) + into]


def _owners(synth) -> np.ndarray:
    """Index of the struck instrument (its first mode) holding each mode; -1: none."""
    owner = np.full(synth.bank.count, -1, dtype=np.int64)
    for imp in synth.impulses:
        owner[imp.first: imp.first + len(imp.amps)] = imp.first
    return owner


def split_cloud(synth, near_hz: float):
    """(what the estimate follows mode by mode, the (main, companion) modes of the cloud lines
    summed apart): a line closer than ``near_hz`` (Hz) to a mode of another instrument (not
    one of its cloud lines) stays with the estimate, which sums it with that neighbour."""
    pairs = getattr(synth.bank, "cloud_pairs", np.zeros((0, 2), dtype=np.intp))
    if not len(pairs):
        return synth, pairs
    freq = synth.bank.log_pole.imag * synth.bank.sample_rate / (2.0 * np.pi)
    owner = _owners(synth)
    in_line = np.zeros(synth.bank.count, dtype=bool)
    in_line[pairs.ravel()] = True
    alone = np.ones(len(pairs), dtype=bool)
    for first in np.unique(owner[pairs[:, 0]]):
        mine = np.flatnonzero(owner[pairs[:, 0]] == first)
        f_other = np.sort(freq[(owner != first) & ~in_line])
        line = freq[pairs[mine]]
        lo = np.searchsorted(f_other, line.min(axis=1) - near_hz, side="right")
        hi = np.searchsorted(f_other, line.max(axis=1) + near_hz, side="left")
        alone[mine] = hi == lo  # no other instrument's mode within reach
    pairs = pairs[alone]
    keep = np.ones(synth.bank.count, dtype=bool)
    keep[pairs.ravel()] = False
    return _CoreSynth(synth, keep), pairs


def _terms(freq: np.ndarray, lines: int, pair_hz: float) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """Terms (i, j, weight) of modes ``freq``: the first ``2 lines`` the cloud's (main,
    companion, main, ...), the rest its instrument's other modes near them. Every cloud mode
    with itself (weight 1/2), every two cloud modes closer than ``pair_hz`` or on one line,
    every cloud mode with a near other mode (1); the other modes' own terms are the
    estimate's."""
    nc = 2 * lines
    i, j = _close(freq[:nc], freq, pair_hz)
    keep = (i < j) & ((j >= nc) | (i // 2 != j // 2))  # cross terms but a line's own
    line = np.arange(0, nc, 2)
    ti = np.concatenate([np.arange(nc), line, i[keep]])
    tj = np.concatenate([np.arange(nc), line + 1, j[keep]])
    weight = np.concatenate([np.full(nc, 0.5), np.ones(len(ti) - nc)])
    return ti, tj, weight


class _Terms:
    """The terms of one instrument's cloud: modes ``ti``, ``tj`` with ``weight``, the log of
    their per-frame ratio, and the table of their sums over whole segments: term p's sum
    over the k-th whole segment after a state at a segment start is ``table[p, k]`` times
    its coefficient, for k < ``step`` (then ``jump`` carries it ``step`` segments on). The
    table is held as its real parts over its imaginary parts (2P, step): the real part of a
    complex product is then one real matrix product."""

    def __init__(self, ti, tj, weight, log_r: np.ndarray, K: int, S: int):
        self.ti, self.tj, self.weight, self.log_r, self.K, self.S = ti, tj, weight, log_r, K, S
        self.step = min(max(K, 1), max(16, _TABLE // len(log_r)))
        table = np.exp(np.outer(log_r, S * np.arange(self.step))) * self.series(S)[:, None]
        self.table = np.concatenate([table.real, table.imag])
        self.jump = np.exp(log_r * (S * self.step))

    def power(self, n) -> np.ndarray:
        """r^n for frame counts n (an array of them along a leading axis)."""
        return np.exp(self.log_r * np.asarray(n, dtype=np.float64)[..., None])

    def series(self, n) -> np.ndarray:
        """sum_{t=0}^{n-1} r^t (|r| < 1) for frame counts n."""
        return (1.0 - self.power(n)) / (1.0 - np.exp(self.log_r))


def _add_strokes(sums, z, frames, ends, Cq, terms: _Terms) -> None:
    """Add to ``sums`` (2, n_seg) what the states ``z`` (J, Q), each holding from its stroke's
    frame until ``ends``, put into the segments (each term followed for ``terms.K``
    segments)."""
    n_seg, S, J = sums.shape[1], terms.S, len(frames)
    seg = frames // S
    first_len = np.minimum(ends, (seg + 1) * S) - frames  # its part of its own segment
    end_seg = ends // S
    tail = ends - end_seg * S  # frames of the last, partial segment before the next stroke
    reach = np.minimum(n_seg, seg + 1 + terms.K)
    # whole segments after each stroke's own, up to its next stroke's: kj + 1 .. stop - 1
    stop = np.where(end_seg == seg, seg, np.minimum(reach, end_seg))
    span = int(max(0, (stop - seg - 1).max()))
    # every term's coefficient after each stroke, channel 0's strokes then channel 1's
    u = Cq[:, None, :] * z[None, :, :]  # (2, J, Q)
    w = (terms.weight * u[:, :, terms.ti] * np.conj(u[:, :, terms.tj])).reshape(2 * J, -1)
    own = (w * np.tile(terms.series(first_len), (2, 1))).sum(axis=1).real.reshape(2, J)
    inside = seg < n_seg
    for ch in range(2):
        np.add.at(sums[ch], seg[inside], own[ch, inside])
    wl = w * np.tile(terms.power((seg + 1) * S - frames), (2, 1))  # at the next segment start
    for c0 in range(0, span, terms.step):
        after = np.concatenate([wl.real, -wl.imag], axis=1) @ terms.table  # (2J, step)
        for j, kj in enumerate(seg):
            a, b = kj + 1 + c0, min(stop[j], kj + 1 + c0 + terms.step)
            if b > a:
                sums[0, a:b] += after[j, : b - a]
                sums[1, a:b] += after[J + j, : b - a]
        wl *= terms.jump[None, :]
    for j, kj in enumerate(seg):
        ke = end_seg[j]
        if tail[j] and kj < ke < reach[j]:  # up to the next stroke
            part = terms.power(ke * S - frames[j]) * terms.series(tail[j])
            sums[:, ke] += (w[[j, J + j]] * part[None, :]).sum(axis=1).real


def cloud_sums(synth, pairs: np.ndarray, C: np.ndarray, S: int, n_seg: int, pair_hz: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """K-weighted sums of squares (2, n_seg) of the cloud lines, and their sample bound (n_seg,).

    The state of an instrument's cloud (and of its other modes near a line) is followed from
    stroke to stroke exactly (strokes in a wave add to what still rings), and between strokes
    it decays: per stroke, a segment's sum is a geometric series in the segments after it,
    one matrix product for all strokes.

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
    pair_hz : float
        Modes closer than this (Hz) are summed with their cross term.
    """
    sums = np.zeros((2, n_seg))
    if not len(pairs):
        return sums, np.zeros(n_seg)
    lp = synth.bank.log_pole
    freq = lp.imag * synth.bank.sample_rate / (2.0 * np.pi)
    cloud = np.zeros(synth.bank.count, dtype=bool)
    cloud[pairs.ravel()] = True
    by_first: dict[int, list] = {}  # the strokes of each instrument, by its first mode
    for imp in synth.impulses:
        by_first.setdefault(imp.first, []).append(imp)
    for first, imps in by_first.items():
        n = len(imps[0].amps)
        sel = pairs[(pairs[:, 0] >= first) & (pairs[:, 0] < first + n)]
        if not len(sel):
            continue
        cl = sel.ravel()  # main, companion, main, companion, ...
        others = first + np.flatnonzero(~cloud[first: first + n])
        near = others[np.unique(_close(freq[cl], freq[others], pair_hz)[1])]
        q = np.concatenate([cl, near])
        ti, tj, weight = _terms(freq[q], len(sel), pair_hz)
        lq = lp[q]
        log_r = lq[ti] + np.conj(lq[tj])  # log of each term's per-frame ratio
        K = int(min(n_seg, np.ceil(_FALL / (-log_r.real.max() * S)) + 1))
        terms = _Terms(ti, tj, weight, log_r, K, S)
        frames = np.array([imp.frame for imp in imps], dtype=np.int64)
        # the state just after each stroke (what still rings, plus the stroke)
        z = np.empty((len(imps), len(q)), dtype=complex)
        state = np.zeros(len(q), dtype=complex)
        for j, imp in enumerate(imps):
            if j:
                state = state * np.exp(lq * (frames[j] - frames[j - 1]))
            state = state + imp.amps[q - first]
            z[j] = state
        # each state holds from its stroke until the next one (or rings out)
        ends = np.append(frames[1:], np.iinfo(np.int64).max // 4)
        for j0 in range(0, len(imps), _STROKES):  # a block of strokes at a time: flat memory
            j1 = min(len(imps), j0 + _STROKES)
            _add_strokes(sums, z[j0:j1], frames[j0:j1], ends[j0:j1], C[:, q], terms)
    rms = np.sqrt(np.maximum(sums, 0.0).max(axis=0) / S)
    return sums, CREST * rms
