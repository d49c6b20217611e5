"""The modal bank: many damped sinusoids rendered together as one matrix product.

Each mode m is a complex one-pole resonator with pole p_m = exp(-1/(tau_m fs) + i 2 pi f_m / fs);
its output on channel c is Re(g_cm z_m p_m^n), where z_m is the mode's complex state and g_cm
its complex gain (placement and room). A stroke only adds to z, so the cost is
(modes x samples) however many strokes overlap.

A chunk of B = R K samples is one real matrix product. Row r holds samples rK .. rK+K-1,
computed from the state advanced to the row's start, s_rm = z_m p_m^(rK) (R x M, complex),
times the basis W (2M x 2K) with W[2m, 2k+c] = Re(g_cm p_m^k), W[2m+1, 2k+c] = -Im(g_cm p_m^k).
Viewing s as float32 (R x 2M, real and imaginary parts interleaved), s @ W is the chunk itself,
(R x 2K) = (B x 2) interleaved stereo, written straight into the output buffer. With R = 64
and K = 128 this is a well-shaped GEMM, several times faster than a (1 x M) @ (M x B)
product, which is memory bound. A stroke inside the chunk adds its amplitude to the row
states after it; its few samples in the row where it lands are computed directly, so strokes
never split the product.

Instruments that have fallen silent (every mode below -170 dBFS) are left out of the product;
the gathered basis is cached until the set of sounding instruments changes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ModalBank", "row_frames_for", "SILENT"]

#: An instrument whose modes are all below this amplitude (times their largest channel gain)
#: is skipped: -170 dBFS, which stays below the 24-bit quantisation step (-138 dBFS) even
#: after a loudness-normalisation gain of +30 dB, so skipping never changes a written sample.
SILENT = 10.0 ** (-170.0 / 20.0)


def row_frames_for(sample_rate: int) -> int:
    """K: 128 samples per row at 48 kHz and below, doubled per doubling of the rate."""
    k = 128
    while k * 48000 < sample_rate * 128 * 0.75:
        k *= 2
    return k


class ModalBank:
    """All modes of a piece, with precomputed bases.

    Parameters
    ----------
    freq_hz, tau_s : array_like, shape (M,)
        Mode frequencies (Hz) and decay time constants (s).
    gains : ndarray, complex, shape (2, M)
        Per-channel complex gain of each mode (placement and room).
    sample_rate : int
        Frames per second.
    groups : sequence of int, optional
        Sizes of consecutive mode groups (instruments) that fall silent together; default
        one group.
    rows : int
        R, rows per chunk; a chunk is R * K frames.
    """

    def __init__(self, freq_hz, tau_s, gains, sample_rate: int, groups=None, rows: int = 64):
        freq = np.asarray(freq_hz, dtype=float)
        tau = np.asarray(tau_s, dtype=float)
        self.sample_rate = int(sample_rate)
        self.count = M = len(freq)
        self.K = K = row_frames_for(sample_rate)
        self.R = int(rows)
        self.B = self.R * K
        self.log_pole = -1.0 / (tau * sample_rate) + 2j * np.pi * freq / sample_rate
        self.gains = np.asarray(gains, dtype=complex).reshape(2, M)
        self.gain_max = np.abs(self.gains).max(axis=0) if M else np.zeros(0)
        q = np.exp(self.log_pole[:, None] * np.arange(K + 1)[None, :])  # (M, K+1): p^0..p^K
        self.step = q  # complex128, for exact offsets within a row
        gq = self.gains[:, :, None] * q[None, :, :K]  # (2, M, K)
        w = np.empty((M, 2, K, 2), dtype=np.float32)  # (mode, re/-im, k, channel)
        w[:, 0] = gq.real.transpose(1, 2, 0)
        w[:, 1] = -gq.imag.transpose(1, 2, 0)
        self.basis = w.reshape(2 * M, 2 * K)
        r = np.arange(self.R + 1) * K
        self.row_start = np.exp(r[:, None] * self.log_pole[None, :])  # (R+1, M) complex128
        sizes = [M] if groups is None else list(groups)
        if sum(sizes) != M:
            raise ValueError("group sizes must add up to the number of modes")
        self.group_bounds = np.cumsum([0] + sizes)
        # which groups sound is one reduction over the modes (reduceat wants no empty group)
        self._filled = np.flatnonzero(np.asarray(sizes) > 0)
        self._filled_starts = self.group_bounds[:-1][self._filled]
        self._all_filled = len(self._filled) == len(sizes)
        self._reach: dict = {}  # (first mode, count) -> groups, see _groups_of
        #: (sounding groups, idx, basis, row starts, offsets, their mask's bytes)
        self._cache: tuple | None = None
        #: (main, companion) modes of gong cloud lines, shape (L, 2): set by the Piece; the
        #: loudness estimate sums their energy line by line (rendering/cloud_energy.py)
        self.cloud_pairs = np.zeros((0, 2), dtype=np.intp)

    def free_response(self, first: int, amps: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Samples ``start .. stop-1`` (0 <= start < stop <= K) of the response to ``amps``.

        Parameters
        ----------
        first : int
            Index of the first mode ``amps`` applies to.
        amps : ndarray, complex, shape (m,)
            State of modes first .. first+m-1 at sample 0.

        Returns
        -------
        ndarray, float32, shape (stop - start, 2)
        """
        sl = slice(first, first + len(amps))
        w = self.gains[:, sl] * amps  # (2, m)
        return (w @ self.step[sl, start:stop]).real.T.astype(np.float32)

    def _active(self, z: np.ndarray, touched: set[int]) -> tuple:
        """(index of sounding modes, their basis rows, row starts, group -> offset), cached."""
        bounds = self.group_bounds
        if self.count:
            loud = np.logical_or.reduceat(np.abs(z) * self.gain_max > SILENT,
                                          self._filled_starts)
        else:
            loud = np.zeros(0, dtype=bool)
        if self._all_filled:
            sounding = loud
        else:
            sounding = np.zeros(len(bounds) - 1, dtype=bool)
            sounding[self._filled] = loud
        for g in touched:
            sounding[g] = True
        key = sounding.tobytes()
        cache = self._cache  # one tuple, read and replaced whole: safe across threads
        if cache is None or cache[5] != key:
            on = tuple(np.flatnonzero(sounding).tolist())
            idx = np.concatenate([np.arange(bounds[g], bounds[g + 1]) for g in on]) if on \
                else np.zeros(0, dtype=int)
            rows2 = np.empty(2 * len(idx), dtype=int)
            rows2[0::2] = 2 * idx
            rows2[1::2] = 2 * idx + 1
            offsets, pos = {}, 0
            for g in on:
                offsets[int(bounds[g])] = pos
                pos += bounds[g + 1] - bounds[g]
            cache = (on, idx, np.ascontiguousarray(self.basis[rows2]),
                     np.ascontiguousarray(self.row_start[: self.R, idx]), offsets, key)
            self._cache = cache
        return cache[1:5]

    def group_of(self, mode: int) -> int:
        return int(np.searchsorted(self.group_bounds, mode, side="right") - 1)

    def _groups_of(self, first: int, count: int) -> range:
        """The groups modes first .. first+count-1 reach (cached: impulses of an instrument
        all start at its first mode)."""
        key = (first, count)
        got = self._reach.get(key)
        if got is None:
            got = range(self.group_of(first), self.group_of(first + count - 1) + 1)
            self._reach[key] = got
        return got

    def render_chunk(self, z: np.ndarray, hits, out: np.ndarray, responses: list | None = None
                     ) -> np.ndarray:
        """Write one chunk (B frames) into ``out`` and return the state after it.

        Parameters
        ----------
        z : ndarray, complex128, shape (M,)
            State at the chunk's first frame (impulses at offset 0 already added).
        hits : sequence of (offset, first, amps)
            Impulses inside the chunk, 0 < offset < B, adding ``amps`` to modes
            first .. first+len(amps)-1 (one group) at that frame.
        out : ndarray, float32, shape (B, 2), C-contiguous
            Overwritten with the result.
        responses : list, optional
            Appended to, per hit: its samples in the row where it lands (float32 (K - j, 2)
            from its frame on, j = offset % K; read only), or None if it lands on a row
            start; the block generator fades strokes in with them.

        Returns
        -------
        ndarray, complex128, shape (M,)
            State at the first frame of the next chunk.
        """
        K, R = self.K, self.R
        z_next = z * self.row_start[R]
        touched = set()  # every group an impulse reaches (an instrument may have several)
        for _, first, amps in hits:
            touched.update(self._groups_of(first, len(amps)))
        idx, basis, row_start, offsets = self._active(z, touched)
        if len(idx) == 0:
            out[:] = 0.0
            return z_next
        rows = z[idx][None, :] * row_start  # (R, m) states at each row start
        direct = []
        for offset, first, amps in hits:
            sl = slice(first, first + len(amps))
            a0 = offsets[first]
            asl = slice(a0, a0 + len(amps))
            r0, j = divmod(offset, K)
            if j:
                # its samples in the row where it lands, computed directly
                y = self.free_response(first, amps, 0, K - j)
                direct.append((offset, (r0 + 1) * K, y))
                b = amps * self.step[sl, K - j]  # its state at the next row start
                r0 += 1
            else:
                y = None
                b = amps
            if responses is not None:
                responses.append(y)
            if r0 < R:
                rows[r0:, asl] += b[None, :] * self.row_start[: R - r0, sl]
            z_next[sl] += b * self.row_start[R - r0, sl]
        s = rows.astype(np.complex64, order="C").view(np.float32)  # (R, 2m): re, im interleaved
        np.matmul(s, basis, out=out.reshape(R, 2 * K))
        for lo, hi, y in direct:
            out[lo:hi] += y
        # flush what has decayed far below hearing (avoids denormal arithmetic)
        z_next[np.abs(z_next) < 1e-30] = 0.0
        return z_next
