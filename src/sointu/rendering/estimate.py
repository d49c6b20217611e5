"""A session's loudness computed from its modes, without synthesising a sample.

Every stroke of a session is a set of complex mode amplitudes that decay exponentially, so
the K-weighted energy of each 100 ms loudness segment (:mod:`.loudness`) has a closed form:

* K-weighting a damped sinusoid is, to a very good approximation, multiplying its complex
  amplitude by the filter's response at the mode's frequency, ``H(f_m)``;
* on channel c the signal is ``sum_m Re(C_cm x_m(t))`` with ``C_cm = H(f_m) g_cm`` (gain of
  the mode on that channel, placement and room) and ``x_m(t)`` the mode's complex state;
* its sum of squares over a segment is ``1/2 sum_mn Re(C_cm conj(C_cn) sum_t x_m conj(x_n))``
  plus sum-frequency terms that average out within 100 ms (at most ~1 % of a 40 Hz mode's
  energy per segment, with alternating sign). Within a segment without strokes
  ``x_m(t) = z_m p_m^t``, so ``sum_t x_m conj(x_n) = z_m conj(z_n) (1 - r^S) / (1 - r)`` with
  ``r = p_m conj(p_n)``; a segment with strokes is summed piece by piece between them.
* only pairs of modes closer than :data:`PAIR_HZ` are kept: a doublet's beating or two
  bowls tuned alike change a segment's energy, while farther pairs beat at least twice
  within a segment and their terms are small and cancel over a session.

The states at every segment start are the block's first state decaying plus each impulse
decaying from its segment on. A rubbed tone is a driven sinusoid on its lead mode: it adds
its own energy and its cross term with the modes near it (the bowl's own ringing), sampled
every :data:`_RUB_STRIDE` frames (each evaluation stands for the frames up to the next,
split between segments where an edge falls among them). The closing fade weights each
frame of a segment without strokes or rubs exactly (``g^2`` is a sum of three cosines, so
each term stays a geometric sum), and scales the others by its mean square. What this
leaves out is the limiter (which only turns down the loudest attacks) and the mallet's
contact ramp (a few milliseconds). Strike transients (mallet noise, the burst of high
modes: short and deterministic) are rendered, K-weighted and summed per segment, and their
room tails added from the tail's K-weighted energy, computed once per room
(:func:`_transient_sums`); a room-tone bed adds its constant power. Measured on the shipped
presets at their full length:
within 0.005 LU of a full measurement without the limiter, 99 % of the 100 ms segments
within 0.15 dB, in 0.1-0.3 s for an hour (``tests/test_estimate.py``; gong-bath, whose
gongs ring 20-40 s, within 0.017 LU and 98.7 %, the loudness offset the same with the
cloud summed line by line); any preset, seed,
sample rate and length from 1 s (where the fade is a quarter of the session) within 0.1 LU
(``tests/test_estimate_edges.py``).
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
from numpy.polynomial import polynomial as npoly

from ..background import Background
from ..engine.limiter import WINDOW_S, limit_chunks
from ..session.audio import SessionAudio
from ..session.recordings import mix_chunks
from .cloud_energy import cloud_sums, split_cloud
from .loudness import LoudnessMeter, gain_for_target, k_weighting_coefficients
from .recordings import recording_peaks, recording_sums

__all__ = ["PAIR_HZ", "segment_sums", "estimate_meter", "estimate_gain_db", "GainEstimate"]

#: Modes closer than this (Hz) are summed with their cross term (doublets, unisons).
PAIR_HZ = 20.0
#: Gong cloud lines closer than this (Hz) to a mode of another instrument stay here, summed
#: with it (cloud_energy.py follows only their own gong's strokes): such a pair beats less
#: than half a cycle in a segment, its cross term moving the segment's energy most.
NEAR_HZ = 5.0
#: Segments computed at once (about 200 s; a few MB for 100 modes).
_SEGMENT_BLOCK = 2048
#: Frames between evaluations of a rub (its envelope and beating change over tens of ms).
_RUB_STRIDE = 64
#: Segments of a rub computed at once.
_RUB_PIECE_SEGMENTS = 200
#: Frames between the points at which a room tail's cumulative energy is kept.
_TAIL_STRIDE = 32
#: Pairs x segments computed at once (each pair's (L,) products: ~4 MB at 256k).
_PAIR_SEGMENTS = 1 << 18
#: Frames of the closing fade whose gain is computed at once.
_FADE_FRAMES = 1 << 16
#: Frames K-weighted at once where the limiter acted (the FFT's size stays small).
_FILTER_FRAMES = 1 << 14
#: Longest run of chunks synthesised at once to see what the limiter takes off.
_RUN_CHUNKS = 16


def _pairs(freq_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (m, n), m <= n, of every mode with itself and with its close neighbours."""
    order = np.argsort(freq_hz)
    f = freq_hz[order]
    ms, ns = [], []
    for i in range(len(f)):
        j = i
        while j < len(f) and f[j] - f[i] < PAIR_HZ:
            a, b = order[i], order[j]
            ms.append(min(a, b))
            ns.append(max(a, b))
            j += 1
    return np.array(ms, dtype=np.intp), np.array(ns, dtype=np.intp)


def _stroke_segment(synth, x, imps, start, S, lp, mi, ni, geo, coef) -> np.ndarray:
    """Sums of squares (2,) of a segment with strokes: summed between them, piece by piece.

    ``x`` is the state at the segment's first frame ``start``; ``imps`` the indices of the
    impulses inside it, in time order; ``geo`` the pairs' :class:`_Geometric`.
    """
    x = x.copy()
    acc = np.zeros(len(mi), dtype=complex)
    pos = 0
    for i in imps:
        imp = synth.impulses[i]
        off = int(imp.frame - start)
        if off > pos:
            acc += x[mi] * np.conj(x[ni]) * geo(off - pos)
            x *= np.exp((off - pos) * lp)
            pos = off
        x[imp.first: imp.first + len(imp.amps)] += imp.amps
    acc += x[mi] * np.conj(x[ni]) * geo(S - pos)
    return (coef @ acc).real


def _add_rub(sums, synth, r, lo: int, hi: int, S: int, C: np.ndarray, freq: np.ndarray
             ) -> None:
    """Add what rub ``r`` adds to the segments' sums between frames lo and hi."""
    lp = synth.bank.log_pole
    n = np.arange(lo, hi, _RUB_STRIDE, dtype=np.int64)
    env = synth._envelope(r, n)
    first_seg, last_seg = lo // S, (hi - 1) // S
    # frame n stands for [n, n + stride) cut at hi; a stride that crosses a segment edge
    # gives each side its own frames (the last stride or a segment's last frames may hold
    # no evaluation of their own: they must not be lost, nor be an empty piece)
    seg = n // S - first_seg
    end = np.minimum(n + _RUB_STRIDE, hi)
    here = np.minimum(end, (seg + first_seg + 1) * S) - n
    spill = end - n - here  # > 0 only where the next segment exists (end <= hi)
    count = last_seg - first_seg + 1
    for m in np.flatnonzero(r.drive):
        lead = r.first + m
        near = np.flatnonzero(np.abs(freq - freq[lead]) < PAIR_HZ)
        x = _states_at(synth, near, n)  # (len(near), len(n))
        rub = r.drive[m] * env * (-1j) * np.exp(1j * (lp[lead].imag * n + r.phase))
        for c in range(2):
            u = C[c, near] @ x
            v = C[c, lead] * rub
            added = 0.5 * (v.real ** 2 + v.imag ** 2) + (u * np.conj(v)).real
            sums[c, first_seg: last_seg + 1] += (
                np.bincount(seg, weights=added * here, minlength=count)
                + np.bincount(seg + 1, weights=added * spill, minlength=count + 1)[:count])


def _states_at(synth, modes: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """States (len(modes), len(frames)) of some modes at sorted frames, from every impulse
    earlier than each frame (each piece between impulses decays from its start)."""
    lp = synth.bank.log_pole[modes]
    out = np.zeros((len(modes), len(frames)), dtype=complex)
    state = np.zeros(len(modes), dtype=complex)
    at = None  # the frame ``state`` belongs to (None: nothing has sounded yet)
    lo_mode, hi_mode = int(modes.min()), int(modes.max()) + 1
    pos = 0
    for imp in synth.impulses:  # sorted by frame
        if imp.frame > frames[-1]:
            break
        if imp.first >= hi_mode or imp.first + len(imp.amps) <= lo_mode:
            continue
        stop = int(np.searchsorted(frames, imp.frame, side="right"))
        if stop > pos and at is not None:
            _decayed(state, lp, frames[pos:stop] - at, out[:, pos:stop])
        pos = max(pos, stop)
        if at is not None:
            state = state * np.exp(lp * (imp.frame - at))
        at = imp.frame
        hit = (modes >= imp.first) & (modes < imp.first + len(imp.amps))
        state[hit] += imp.amps[modes[hit] - imp.first]
    if at is not None:
        _decayed(state, lp, frames[pos:] - at, out[:, pos:])
    return out


def _decayed(state: np.ndarray, lp: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = state[:, None] * exp(outer(lp, t))``, with one temporary, not three."""
    e = np.outer(lp, t)
    np.multiply(state[:, None], np.exp(e, out=e), out=out)


def _k_response(rate: int, freq_hz: np.ndarray) -> np.ndarray:
    """The K-weighting filter's complex response at ``freq_hz`` (both stages)."""
    shelf_b, shelf_a, hp_b, hp_a = k_weighting_coefficients(rate)
    w = np.exp(-2j * np.pi * np.asarray(freq_hz, dtype=float) / rate)  # z^-1
    b, a = np.convolve(shelf_b, hp_b), np.convolve(shelf_a, hp_a)
    return npoly.polyval(w, b) / npoly.polyval(w, a)


@lru_cache(maxsize=4)
def _k_impulse(rate: int) -> np.ndarray:
    """The K-weighting filter's impulse response, long enough to hold all of it.

    At least 83 ms: the 38 Hz high-pass has decayed by more than 190 dB by then at any
    supported rate. Sampled from the response on a grid eight times as long, so its
    wrap-around is far below that too.
    """
    taps = 1 << int(np.ceil(np.log2(rate / 12)))
    n = 8 * taps
    h = np.fft.irfft(_k_response(rate, np.arange(n // 2 + 1) * rate / n), n)[:taps]
    h.setflags(write=False)  # cached: shared by every caller
    return h


def _k_filtered(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """``x`` (n, channels) K-weighted from rest (as ``lfilter`` would, to ~1e-12)."""
    n = len(x)
    size = 1 << int(np.ceil(np.log2(n + len(taps))))
    spec = np.fft.rfft(x, size, axis=0) * _taps_spectrum(taps, size)[:, None]
    return np.fft.irfft(spec, size, axis=0)[:n]


#: (id of taps, FFT size) -> (taps, their spectrum): every transient of a style has the same
#: length, so the filter's spectrum is made once per size, not once per transient.
_SPECTRA: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
#: Largest FFT size whose filter spectrum is kept (256 kB).
_SPECTRUM_KEPT = 1 << 15


def _taps_spectrum(taps: np.ndarray, size: int) -> np.ndarray:
    """``rfft(taps, size)``, cached while ``taps`` is the same array."""
    got = _SPECTRA.get((id(taps), size))
    if got is None or got[0] is not taps:
        got = (taps, np.fft.rfft(taps, size))
        if size > _SPECTRUM_KEPT:  # a room tail's, made once per room: not worth 2 MB
            return got[1]
        if len(_SPECTRA) >= 16:
            _SPECTRA.clear()
        _SPECTRA[(id(taps), size)] = got
    return got[1]


class _Geometric:
    """sum_{t=0}^{n-1} r^t for fixed complex ratios |r| <= 1 and any n (n where r == 1).

    The ratios' test and denominator are made once (a session asks for thousands of sums
    of the same ratios).
    """

    def __init__(self, r: np.ndarray):
        self.r = r
        self.one = np.abs(1.0 - r) < 1e-12
        self.safe = np.where(self.one, 0.5, r)
        self.den = 1.0 - self.safe

    def __call__(self, n: int | np.ndarray) -> np.ndarray:
        return np.where(self.one, n, (1.0 - self.safe ** n) / self.den)


class _FadedGeometric:
    """sum_{t=0}^{n-1} g(t)^2 r^t for the closing fade's gain g, per complex ``r``.

    ``length`` is the fade's frames, its gain ``g = 0.5 + 0.5 cos(pi (j + 1) / length)`` at
    its j-th frame. With ``g^2 = 3/8 + cos(a) / 2 + cos(2 a) / 8`` each term is a geometric
    sum; the sums of the ratios turned by the fade's angle step are kept per length n (a
    session's faded segments all have the same n).
    """

    def __init__(self, r: np.ndarray, length: int):
        self.plain = _Geometric(r)
        self.w = np.pi / length
        self.turned = [(k, c, sign, _Geometric(r * np.exp(1j * sign * k * self.w)))
                       for k, c in ((1, 0.25), (2, 0.0625)) for sign in (1.0, -1.0)]
        self._kept: dict[int, list[np.ndarray]] = {}

    def __call__(self, n: int, into: int) -> np.ndarray:
        """The sums over n frames, the first ``into`` frames after the fade's start
        (negative: the fade starts ``-into`` frames later, g = 1 before it)."""
        r = self.plain.r
        before = min(max(-into, 0), n)
        out = self.plain(before) if before else np.zeros(len(r), dtype=complex)
        m = n - before
        if m <= 0:
            return out
        sums = self._kept.get(m)
        if sums is None:
            sums = self._kept[m] = [self.plain(m)] + [g(m) for _, _, _, g in self.turned]
        scale = r ** before
        a0 = self.w * (max(into, 0) + 1)  # the angle at the first faded frame
        acc = 0.375 * sums[0]
        for (k, c, sign, _), g in zip(self.turned, sums[1:], strict=True):
            acc = acc + c * np.exp(1j * sign * k * a0) * g
        return out + scale * acc


def segment_sums(audio: SessionAudio) -> np.ndarray:
    """K-weighted sums of squares of every whole 100 ms segment of a session, per channel.

    Parameters
    ----------
    audio : SessionAudio
        The session, at its ``gain_db`` (the limiter is not modelled).

    Returns
    -------
    ndarray, float64, shape (2, n_segments)
        As :class:`~sointu.rendering.loudness.LoudnessMeter` keeps them (segment k covers
        frames ``[k fs // 10, (k + 1) fs // 10)``; a trailing partial segment is left out).
    """
    sums = _modal_sums(audio)[0] + recording_sums(audio)
    return sums * 10.0 ** (audio.gain_db / 10.0)


def _modal_sums(audio: SessionAudio) -> tuple[np.ndarray, np.ndarray]:
    """Segment sums (2, n) at unit gain, and an upper bound (n,) of each segment's largest
    absolute sample before the limiter (at unit gain, fade left out); read-only.

    Kept on ``audio`` for its synthesis, length and fade (a session with recordings needs
    them twice: for the recordings' levels, then for the gain).
    """
    key = (audio.total_frames, audio.fade_frames, audio.sample_rate)
    memo = getattr(audio, "_modal_memo", None)
    if memo is not None and memo[0] is audio.synth and memo[1] == key:
        return memo[2]
    out = _modal_sums_of(audio)
    for a in out:
        a.setflags(write=False)
    audio._modal_memo = (audio.synth, key, out)
    return out


def _modal_sums_of(audio: SessionAudio) -> tuple[np.ndarray, np.ndarray]:
    synth, cloud = split_cloud(audio.synth, NEAR_HZ)  # gong cloud lines: summed apart, below
    bank = synth.bank
    fs = audio.sample_rate
    if fs % 10:
        raise ValueError(f"100 ms segments need a sample rate divisible by 10, got {fs}")
    S = fs // 10
    n_seg = audio.total_frames // S
    M = bank.count
    lp = bank.log_pole  # per frame
    freq = lp.imag * fs / (2 * np.pi)
    C = bank.gains * _k_response(fs, np.clip(freq, 0.0, fs / 2))[None, :]  # (2, M)

    # states at every segment start (impulses earlier than the start), a block of segments
    # at a time so memory stays flat for any length: the state of the block's first segment
    # decaying, plus each impulse decaying from the segment after its own
    frames = np.array([imp.frame for imp in synth.impulses], dtype=np.int64)
    seg_of = frames // S
    imp_seg: dict[int, list[int]] = {}
    for i, k in enumerate(seg_of):
        imp_seg.setdefault(int(k), []).append(i)
    mi, ni = _pairs(freq)
    weight = np.where(mi == ni, 0.5, 1.0)  # the (n, m) term equals the (m, n) one
    pole_pair = lp[mi] + np.conj(lp[ni])  # log of r for each pair
    coef = weight[None, :] * C[:, mi] * np.conj(C[:, ni])  # (2, P)
    geo = _Geometric(np.exp(pole_pair))
    whole = coef * geo(S)[None, :]  # (2, P)
    same = mi == ni
    diag_w = np.zeros((2, M))  # a mode with itself: |z|^2 times a real weight
    diag_w[:, mi[same]] = whole[:, same].real
    off_m, off_n, off_w = mi[~same], ni[~same], whole[:, ~same]
    # fewer segments at once when there are many pairs (a gong's), so memory stays flat
    L = min(_SEGMENT_BLOCK, max(n_seg, 1), max(64, _PAIR_SEGMENTS // max(len(off_m), 1)))
    decay = np.exp(np.outer(S * lp, np.arange(L)))  # (M, L): state factor after k segments
    sums = np.empty((2, n_seg))
    # |sum_m Re(g_cm x_m(t))| <= sum_m |g_cm| |x_m(t)|, and |x_m| only decays between strokes
    g_abs = np.abs(bank.gains)  # (2, M)
    bound = np.empty(n_seg)
    # the closing fade: a segment without strokes or rubs is weighted frame by frame below
    # (in a short session the fade is a quarter of it); the others scale by its mean
    fade_start = audio.total_frames - audio.fade_frames
    first_faded = fade_start // S if audio.fade_frames > 0 else n_seg
    exact_fade = np.zeros(n_seg, dtype=bool)
    exact_fade[first_faded:] = True
    for r in synth.rubs:
        exact_fade[r.start // S: (min(r.release, n_seg * S) - 1) // S + 1] = False
    faded = _FadedGeometric(geo.r, audio.fade_frames) if audio.fade_frames > 0 else None
    # the block's arrays are written in place: fresh ones of a few MB each cost more in
    # page faults than the arithmetic (flat buffers, so that a shorter last block's views
    # stay contiguous and its products the same as in fresh arrays)
    buf_z = np.empty(M * L, dtype=complex)
    buf_abs, buf_sq = np.empty(M * L), np.empty(M * L)
    buf_a = np.empty(len(off_m) * L, dtype=complex)
    buf_b = np.empty(len(off_m) * L, dtype=complex)
    z0 = np.zeros(M, dtype=complex)  # state at the block's first segment start
    for k0 in range(0, n_seg, L):
        k1 = min(n_seg, k0 + L)
        z = np.multiply(decay[:, : k1 - k0], z0[:, None],
                        out=buf_z[: M * (k1 - k0)].reshape(M, k1 - k0))
        z0 = z0 * np.exp((k1 - k0) * S * lp)  # becomes the next block's
        hits = [(k, i) for k in range(k0, k1) for i in imp_seg.get(k, ())]
        for k, i in hits:
            imp = synth.impulses[i]
            sl = slice(imp.first, imp.first + len(imp.amps))
            b = imp.amps * np.exp(((k + 1) * S - imp.frame) * lp[sl])  # at segment k+1
            z[sl, k + 1 - k0:] += b[:, None] * decay[sl, : k1 - k - 1]
            z0[sl] += b * np.exp((k1 - k - 1) * S * lp[sl])
        bound[k0:k1] = (g_abs @ np.abs(z, out=buf_abs[: z.size].reshape(z.shape))).max(axis=0)
        for k, i in hits:
            imp = synth.impulses[i]
            sl = slice(imp.first, imp.first + len(imp.amps))
            bound[k] += float((g_abs[:, sl] @ np.abs(imp.amps)).max())
        sq = np.multiply(z.real, z.real, out=buf_sq[: z.size].reshape(z.shape))
        sq += np.multiply(z.imag, z.imag, out=buf_abs[: z.size].reshape(z.shape))
        sums[:, k0:k1] = diag_w @ sq
        if len(off_m):
            shape = (len(off_m), k1 - k0)
            # (mode "clip": the indices are valid, and "raise" copies through a buffer)
            a = np.take(z, off_m, axis=0, out=buf_a[: shape[0] * shape[1]].reshape(shape),
                        mode="clip")
            b = np.take(z, off_n, axis=0, out=buf_b[: shape[0] * shape[1]].reshape(shape),
                        mode="clip")
            sums[:, k0:k1] += (off_w @ np.multiply(a, np.conjugate(b, out=b), out=a)).real
        # segments with strokes: summed piece by piece between the strokes
        for k in sorted({k for k, _ in hits}):
            exact_fade[k] = False
            sums[:, k] = _stroke_segment(synth, z[:, k - k0], imp_seg[k], k * S, S, lp,
                                         mi, ni, geo, coef)
        for k in np.flatnonzero(exact_fade[k0:k1]) + k0:
            w = faded(S, k * S - fade_start)
            x = z[:, k - k0]
            sums[:, k] = (coef @ (x[mi] * np.conj(x[ni]) * w)).real

    # the block's arrays, and every view of them, let go: ~10 MB for a gong's modes
    decay = buf_z = buf_abs = buf_sq = buf_a = buf_b = z = a = b = sq = x = None

    # rubbed tones: a driven sinusoid r_l(t) per lead mode l, added to what the bank's modes
    # close to it (x_n, the bowl's own ringing among them) already play:
    # |u + v|^2 - |u|^2 = |v|^2 + 2 Re(u conj(v)), u = sum_n C_n x_n, v = C_l r_l, slowly
    # varying, so every 64th frame stands for its neighbours
    for r in synth.rubs:
        start, stop = r.start, min(r.release, n_seg * S)
        # in pieces of whole segments, so that memory stays flat for a rub of any length
        for lo in range(start, stop, _RUB_PIECE_SEGMENTS * S):
            hi = min(stop, (lo // S + _RUB_PIECE_SEGMENTS) * S)
            _add_rub(sums, synth, r, lo, hi, S, C, freq)
        if start < stop:
            lead = np.flatnonzero(r.drive)
            bound[start // S: (stop - 1) // S + 1] += float(
                (g_abs[:, r.first + lead] @ r.drive[lead]).max())

    # what strokes' transients, their room tails and the gong's lines add: faded by the
    # closing fade's mean square below, as the segments not weighted frame by frame
    extra, extra_bound = _transient_sums(audio.synth, S, n_seg)  # the whole synth's
    bound += extra_bound
    if len(cloud):  # gong cloud lines, stroke by stroke (cloud_energy.py)
        full = audio.synth.bank
        k_all = _k_response(fs, np.clip(full.log_pole.imag * fs / (2 * np.pi), 0.0, fs / 2))
        lines, peak = cloud_sums(audio.synth, cloud, full.gains * k_all[None, :], S, n_seg,
                                 PAIR_HZ)
        extra += lines
        bound += peak

    # the closing fade, where it was not weighted frame by frame: by its mean square
    if audio.fade_frames > 0 and fade_start < n_seg * S:
        mean = _fade_mean_square(fade_start, audio.fade_frames, S, n_seg)
        k0 = fade_start // S
        sums[:, k0:] *= np.where(exact_fade[k0:], 1.0, mean)[None, :]
        extra[:, k0:] *= mean[None, :]
    sums += extra
    return np.maximum(sums, 0.0, out=sums), bound


def _fade_mean_square(fade_start: int, fade_frames: int, S: int, n_seg: int) -> np.ndarray:
    """The closing fade's mean square gain over each segment from its first (g = 1 before
    the fade starts), a block of segments at a time: a minute's fade is millions of frames."""
    k0 = fade_start // S
    mean = np.empty(n_seg - k0)
    step = max(1, _FADE_FRAMES // S)
    for a in range(0, n_seg - k0, step):
        b = min(n_seg - k0, a + step)
        n = np.arange((k0 + a) * S, (k0 + b) * S)
        g = 0.5 + 0.5 * np.cos(np.pi * (n - fade_start + 1) / fade_frames)
        sq = np.where(n >= fade_start, g * g, 1.0)
        mean[a:b] = sq.reshape(-1, S).mean(axis=1)
    return mean


def _transient_sums(synth, S: int, n_seg: int) -> tuple[np.ndarray, np.ndarray]:
    """K-weighted segment sums (2, n_seg) of the strike transients, their room tails and the
    room tone, and a bound (n_seg,) of what they add to a segment's largest sample.

    Each transient is rendered (a few tenths of a second, deterministic) and K-weighted by
    FFT; its tail is noise in bands whose K-weighted energy over time is computed once, each
    band with itself and with its neighbour (they share a crossfade; bands farther apart do
    not overlap), and noise adds no cross term with the tone or with the transient itself.
    """
    fs = synth.sample_rate
    sums = np.zeros((2, n_seg))
    bound = np.zeros(n_seg)
    end = n_seg * S
    if synth.transients:
        taps = _k_impulse(fs)
        tail_cum = tail_peak = None
        if synth.tail is not None:  # the room's (shared by every session in that room)
            tail_cum, tail_peak = _kept(_tail_energy, synth.tail.bands, taps)
            at = np.arange(tail_cum.shape[2]) * _TAIL_STRIDE
        for index, tr in enumerate(synth.transients):
            if tr.frame >= end:
                break
            direct, weights = synth.transient_sound(index)
            kd = _k_filtered(direct.astype(np.float64), taps)
            n = min(len(kd), end - tr.frame)
            seg = (tr.frame + np.arange(n)) // S
            s0 = int(seg[0])
            for c in range(2):
                add = np.bincount(seg - s0, weights=kd[:n, c] ** 2)
                sums[c, s0: s0 + len(add)] += add
            peaks = _frame_peaks(direct[:n])
            starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
            bound[s0: s0 + len(starts)] += np.maximum.reduceat(peaks, starts)
            if weights is None or tail_cum is None:
                continue
            # the tail's energy in each segment it covers: differences of its cumulative sum
            m = min(synth.tail.frames, end - tr.frame)
            first, last = tr.frame // S, (tr.frame + m - 1) // S
            edges = np.clip(np.arange(first, last + 2) * S - tr.frame, 0, m)
            w = weights.astype(np.float64)
            w2 = np.concatenate([w * w, w[:-1] * w[1:]])
            cum = np.stack([[np.interp(edges, at, tail_cum[p, c]) for c in range(2)]
                            for p in range(len(w2))])  # (products, 2, len(edges))
            cum = np.tensordot(w2, cum, 1).T  # (len(edges), 2)
            sums[:, first: last + 1] += np.diff(cum, axis=0).T
            # each segment: the bands' largest samples from its start on (the tail decays)
            at_start = np.minimum(edges[:-1] // _TAIL_STRIDE, tail_peak.shape[1] - 1)
            bound[first: last + 1] += weights.astype(np.float64) @ tail_peak[:, at_start]
    if synth.tone is not None:
        power = _kept(_tone_power, synth.tone, _k_impulse(fs))
        sums += power[:, None] * S
        bound += float(np.abs(synth.tone).max())
    return sums, bound


def _tone_power(tone: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """K-weighted power (2,) per frame of a room tone ``tone`` (n, 2) played as a loop."""
    loop = tone.astype(np.float64)
    k = _k_filtered(np.concatenate([loop[-len(taps):], loop]), taps)
    return (k[-len(loop):] ** 2).mean(axis=0)  # the loop is circular


#: (what, id of the data, id of the taps) -> (data, taps, result): a room's tail and tone
#: are the same arrays in every session in that room (cached in engine.room), so what is
#: made of them is made once per process, not once per session.
_KEPT: dict = {}


def _kept(make, data: np.ndarray, taps: np.ndarray):
    """``make(data, taps)``, kept while ``data`` and ``taps`` are the same arrays (results
    read-only: shared by every caller)."""
    key = (make.__name__, id(data), id(taps))
    got = _KEPT.get(key)
    if got is None or got[0] is not data or got[1] is not taps:
        if len(_KEPT) >= 8:
            _KEPT.clear()
        made = make(data, taps)
        for a in made if isinstance(made, tuple) else (made,):
            a.setflags(write=False)
        got = _KEPT[key] = (data, taps, made)
    return got[2]


def _frame_peaks(x: np.ndarray) -> np.ndarray:
    """Largest |sample| of each frame of ``x`` (frames, channels): ``abs(x).max(axis=1)``,
    channel by channel (numpy's reduction along a short axis is several times slower)."""
    peak = np.abs(x[:, 0])
    for c in range(1, x.shape[1]):
        np.maximum(peak, np.abs(x[:, c]), out=peak)
    return peak


def _tail_energy(bands: np.ndarray, taps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative K-weighted energy of the room tail's bands, every :data:`_TAIL_STRIDE`
    frames (linear in between is exact to a few frames' energy), and their peaks.

    Returns
    -------
    cum : ndarray, shape (2 n_bands - 1, 2, n // stride + 2)
        Each band with itself, then each band with its upper neighbour (twice the product:
        they share a crossfade), summed from the tail's start to every stride point, per
        channel.
    peak : ndarray, shape (n_bands, n // stride + 1)
        Each band's largest |sample| (either channel) from every stride point to its end.
    """
    nb, n = bands.shape[:2]
    stops = np.minimum(np.arange(n // _TAIL_STRIDE + 2) * _TAIL_STRIDE, n)
    cum = np.zeros((2 * nb - 1, len(stops), 2))
    prev = None
    for b in range(nb):
        k = _k_filtered(bands[b].astype(np.float64), taps)
        c = np.concatenate([np.zeros((1, 2)), np.cumsum(k * k, axis=0)])
        cum[b] = c[stops]
        if prev is not None:
            c = np.concatenate([np.zeros((1, 2)), np.cumsum(2.0 * prev * k, axis=0)])
            cum[nb + b - 1] = c[stops]
        prev = k
    cum = np.ascontiguousarray(cum.transpose(0, 2, 1))  # each channel's row contiguous
    pad = (-n) % _TAIL_STRIDE
    block = np.empty((nb, (n + pad) // _TAIL_STRIDE), dtype=bands.dtype)
    for b in range(nb):  # band by band: the tail is seconds of frames
        a = np.zeros(n + pad, dtype=bands.dtype)
        a[:n] = _frame_peaks(bands[b])
        block[b] = a.reshape(-1, _TAIL_STRIDE).max(axis=1)
    after = np.maximum.accumulate(block[:, ::-1], axis=1)[:, ::-1]  # max from block i on
    return cum, np.concatenate([after, np.zeros((nb, 1))], axis=1)


def _meter(sums: np.ndarray, sample_rate: int) -> LoudnessMeter:
    return LoudnessMeter.from_segment_sums(sums, sample_rate)


def estimate_meter(audio: SessionAudio) -> LoudnessMeter:
    """A meter holding the estimated segment sums (for ``integrated_lufs_at``, gain finding).

    The limiter is not modelled, and the peaks are not estimated (zero): use it for the
    integrated loudness only.
    """
    return _meter(segment_sums(audio), audio.sample_rate)


def estimate_gain_db(audio: SessionAudio, target_lufs: float) -> float:
    """The gain (dB) that brings ``audio`` to ``target_lufs``, the limiter's share included.

    The gain is found on the modal estimate; then the stretches where the limiter may act
    at that gain (where the bound of the samples passes its threshold: a few per cent of a
    session) are synthesised with and without it, their K-weighted energies compared, and
    the gain found again with that difference.
    """
    sums, bound = _modal_sums(audio)
    if getattr(audio, "recordings", ()):  # (without: no copies of the session's arrays)
        sums = sums + recording_sums(audio)  # they mix in before the gain, as the bowls
        bound = bound + recording_peaks(audio)
    rate = audio.sample_rate
    gain = gain_for_target(_meter(sums, rate), target_lufs)
    if audio.limit_dbfs is None:
        return gain
    pieces = _limiter_pieces(audio, bound, gain)
    if pieces is None:
        return gain
    scaled = sums * 10.0 ** (gain / 10.0)  # the sums as the limiter leaves them
    for s0, piece in pieces:
        scaled[:, s0: s0 + piece.shape[1]] += piece
    return gain + gain_for_target(_meter(np.maximum(scaled, 0.0, out=scaled), rate),
                                  target_lufs)


def _limiter_change(audio: SessionAudio, bound: np.ndarray, gain_db: float
                    ) -> np.ndarray | None:
    """What the limiter changes in the segment sums (2, n) at ``gain_db``; None: nothing."""
    pieces = _limiter_pieces(audio, bound, gain_db)
    if pieces is None:
        return None
    change = np.zeros((2, bound.shape[0]))
    for s0, piece in pieces:
        change[:, s0: s0 + piece.shape[1]] += piece
    return change


def _limiter_pieces(audio: SessionAudio, bound: np.ndarray, gain_db: float
                    ) -> list | None:
    """What the limiter changes in the segment sums at ``gain_db``, where it may act:
    pieces (first segment, sums (2, k)), to be added in order; None: it cannot act."""
    S = audio.sample_rate // 10
    n_seg = bound.shape[0]
    threshold = 10.0 ** ((audio.limit_dbfs - gain_db) / 20.0)
    hot = np.flatnonzero(bound > threshold)
    if hot.size == 0:
        return None
    B = audio.synth.B
    chunks = np.union1d(hot * S // B, ((hot + 1) * S - 1) // B)
    # runs of chunks the limiter may touch: each with the chunk before and after it (its
    # look-around), one more before for the K-weighting filter to settle (the limiter
    # leaves it untouched), and one after for the filter's tail
    groups, first, last = [], int(chunks[0]), int(chunks[0])
    for c in chunks[1:]:
        if c > last + 4:
            groups.append((first, last))
            first = int(c)
        last = int(c)
    groups.append((first, last))
    # long groups in pieces (memory stays flat), each counting only the chunks it owns:
    # (first, last, first owned chunk, last owned chunk)
    runs = []
    for first, last in groups:
        for p0 in range(first, last + 1, _RUN_CHUNKS):
            p1 = min(last, p0 + _RUN_CHUNKS - 1)
            runs.append((p0, p1, first - 1 if p0 == first else p0,
                         last + 1 if p1 == last else p1))
    gain = np.float32(10.0 ** (gain_db / 20.0))  # as SessionAudio applies it
    limit = 10.0 ** (audio.limit_dbfs / 20.0)
    window = int(WINDOW_S * audio.sample_rate) | 1
    pieces = []  # the change is held only where it is (16 B a segment otherwise)
    for first, last, own_lo, own_hi in runs:
        pieces += _run_change(audio, first, last, own_lo, own_hi, gain, limit, window, n_seg)
    return pieces


def _run_change(audio: SessionAudio, first: int, last: int, own_lo: int, own_hi: int,
                gain: np.float32, limit: float, window: int, n_seg: int) -> list:
    """What the limiter changes in the segment sums where chunks ``first..last`` play,
    counting the frames of chunks ``own_lo..own_hi``: pieces (first segment, sums (2, k))."""
    B, S = audio.synth.B, audio.sample_rate // 10
    taps = _k_impulse(audio.sample_rate)
    # past the session's end too, as the render's limiter sees the synth go on (a session
    # of one or two chunks has no chunk after its own otherwise)
    lo, hi = max(0, first - 2), last + 3
    source = mix_chunks(audio.synth.chunks(lo), lo, B, getattr(audio, "recordings", ()))
    n = hi - lo + (lo == 0)
    x = np.empty((n * B, 2), dtype=np.float32)  # what the limiter sees, float32
    if lo == 0:  # the limiter looks one chunk back: silence before the start
        x[:B] = 0.0
        lo -= 1
    for i in range(n - (hi - max(lo, 0)), n):
        np.multiply(next(source), gain, out=x[i * B: (i + 1) * B])
    plain = [x[i * B: (i + 1) * B] for i in range(n)]
    # the limiter's output is one chunk behind; its last chunk would need the next; where
    # it passes a chunk on untouched (the same array) nothing changed
    x = x[: (n - 1) * B]
    d = np.zeros(x.shape)  # the first chunk is the look-back: unchanged
    for i, out in enumerate(itertools.islice(limit_chunks(iter(plain), limit, window), n - 2),
                            start=1):
        if out is not plain[i]:
            np.subtract(out, plain[i], out=d[i * B: (i + 1) * B], dtype=np.float64)
    del plain
    acted = d[:, 0] != 0.0
    for c in range(1, d.shape[1]):
        acted |= d[:, c] != 0.0
    touched = np.flatnonzero(acted)
    if touched.size == 0:
        return []
    # K(limited)^2 - K(plain)^2 = K(d) (2 K(plain) + K(d)), nonzero only where the limiter
    # acted and for the filter's memory after it: computed on those stretches, a block at
    # a time (each with the signal before it, for the filter's memory)
    T = len(taps)
    # the frames of x this run counts: its own chunks, inside the session
    own0 = max(0, (own_lo - lo) * B, -lo * B)
    own1 = min((own_hi + 1 - lo) * B, n_seg * S - lo * B)
    cuts = np.flatnonzero(np.diff(touched) > T) + 1
    pieces = []
    for t0, t1 in zip(touched[np.r_[0, cuts]], touched[np.r_[cuts - 1, -1]] + 1, strict=True):
        end = min(len(x), int(t1) + T, own1)
        for u0 in range(max(int(t0), own0), end, _FILTER_FRAMES):
            u1 = min(end, u0 + _FILTER_FRAMES)
            h0 = max(0, u0 - T)  # the filter's memory: what came before the block
            kd = _k_filtered(d[h0:u1], taps)[u0 - h0:]
            kx = _k_filtered(x[h0:u1].astype(np.float64), taps)[u0 - h0:]
            kx *= 2.0
            kx += kd
            kx *= kd  # the change of each frame's square
            seg = (lo * B + np.arange(u0, u1)) // S
            s0 = int(seg[0])
            pieces.append((s0, np.stack([np.bincount(seg - s0, weights=kx[:, c])
                                         for c in range(2)])))
    return pieces


class GainEstimate:
    """:func:`estimate_gain_db` computed in a forked process while the caller goes on.

    A render needs the gain before its first sample; started first, the estimate runs
    while the render pipeline, the encoder and the tagging library are imported. Without
    ``fork``, or if the process fails, :meth:`result` computes it here. The value is the
    same either way.

    Parameters
    ----------
    audio : SessionAudio
        The session (its ``gain_db`` is not used or changed).
    target_lufs : float
        The loudness target (LUFS).
    """

    def __init__(self, audio: SessionAudio, target_lufs: float):
        self._audio = audio
        self._target = float(target_lufs)
        self._value: float | None = None
        self._job = Background(estimate_gain_db, audio, self._target, name="sointu-estimate")

    def result(self) -> float:
        """The gain (dB), waiting for the process if it is still at work."""
        if self._value is None:
            value = self._job.result()
            if value is None:
                old = self._audio.gain_db
                try:
                    value = estimate_gain_db(self._audio, self._target)
                finally:
                    self._audio.gain_db = old
            self._value = float(value)
        return self._value

    def close(self) -> None:
        """Stop the process if it is still running (the estimate is not needed)."""
        self._job.close()
