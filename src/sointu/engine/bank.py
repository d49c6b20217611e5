"""The modal bank: many damped sinusoids rendered together as one matrix product.

Each mode m is a complex one-pole resonator with pole p_m = exp(-1/(tau_m fs) + i 2 pi f_m / fs);
its output is Re(g_c,m z_m p_m^n) on channel c, where z_m is the mode's complex state. A
stroke only adds to z, so the cost is (modes x samples) however many strokes overlap.

A chunk of B = R K samples is computed as one real matrix product: row r of the result holds
samples rK .. rK+K-1, computed from the state advanced to rK (``z p^(rK)``, R x M) times the
basis ``p^k`` (M x K). With R = 64 and K = 128 this is a well-shaped GEMM, several times faster
than a (1 x M) @ (M x B) product, which is memory bound. A stroke inside the chunk adds its
amplitude to the row states after it, and its few samples in the row where it lands are
computed directly, so strokes never split the product.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ModalBank", "row_frames_for"]

#: A mode whose amplitude (times its largest channel gain) is below this is skipped (-140 dBFS).
SILENT = 1e-7


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
    rows : int
        R, rows per chunk; a chunk is R * K frames.
    """

    def __init__(self, freq_hz, tau_s, gains, sample_rate: int, rows: int = 64):
        freq = np.asarray(freq_hz, dtype=float)
        tau = np.asarray(tau_s, dtype=float)
        self.sample_rate = int(sample_rate)
        self.count = len(freq)
        self.K = row_frames_for(sample_rate)
        self.R = int(rows)
        self.B = self.R * self.K
        self.log_pole = -1.0 / (tau * sample_rate) + 2j * np.pi * freq / sample_rate
        self.gains = np.asarray(gains, dtype=complex).reshape(2, self.count)
        self.gain_max = np.abs(self.gains).max(axis=0) if self.count else np.zeros(0)
        k = np.arange(self.K + 1)
        q = np.exp(self.log_pole[:, None] * k[None, :])  # (M, K+1): p^0 .. p^K
        self.basis_c = q[:, : self.K].astype(np.complex64)
        self.step = q  # complex128, for exact offsets within a row
        self.basis = np.vstack([q[:, : self.K].real, q[:, : self.K].imag]).astype(np.float32)
        r = np.arange(self.R + 1) * self.K
        self.row_start = np.exp(r[:, None] * self.log_pole[None, :])  # (R+1, M) complex128
        self.row_start32 = self.row_start[: self.R].astype(np.complex64)

    def advance(self, z: np.ndarray, frames: int) -> np.ndarray:
        """State after ``frames`` samples of free decay (complex128, shape (M,))."""
        return z * np.exp(frames * self.log_pole)

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
        w = (self.gains[:, sl] * amps).astype(np.complex64)  # (2, m)
        return (w @ self.basis_c[sl, start:stop]).real.T

    def render_chunk(self, z: np.ndarray, hits, out: np.ndarray) -> np.ndarray:
        """Add one chunk (B frames) into ``out`` and return the state after it.

        Parameters
        ----------
        z : ndarray, complex128, shape (M,)
            State at the chunk's first frame (impulses at offset 0 already added).
        hits : sequence of (offset, first, amps)
            Impulses inside the chunk, 0 < offset < B, adding ``amps`` to modes
            first .. first+len(amps)-1 at that frame.
        out : ndarray, float32, shape (B, 2)
            Accumulates the result.

        Returns
        -------
        ndarray, complex128, shape (M,)
            State at the first frame of the next chunk.
        """
        K, R = self.K, self.R
        rows = z[None, :] * self.row_start[:R]  # (R, M) states at each row start
        z_next = z * self.row_start[R]
        touched = np.zeros(self.count, dtype=bool)
        for offset, first, amps in hits:
            sl = slice(first, first + len(amps))
            r0, j = divmod(offset, K)
            if j:
                # its samples in the row where it lands, computed directly
                out[offset: (r0 + 1) * K] += self.free_response(first, amps, 0, K - j)
                b = amps * self.step[sl, K - j]  # its state at the next row start
                r0 += 1
            else:
                b = amps
            if r0 < R:
                rows[r0:, sl] += b[None, :] * self.row_start[: R - r0, sl]
            z_next[sl] += b * self.row_start[R - r0, sl]
            touched[sl] = True
        active = (np.abs(z) * self.gain_max > SILENT) | touched
        n_act = int(active.sum())
        if n_act == 0:
            return z_next
        if n_act == self.count:
            gains, basis = self.gains, self.basis
        else:
            idx = np.flatnonzero(active)
            gains = self.gains[:, idx]
            basis = self.basis[np.concatenate([idx, idx + self.count])]
            rows = rows[:, idx]
        zp = (gains[:, None, :] * rows[None, :, :]).astype(np.complex64)  # (2, R, m)
        a = np.concatenate([zp.real, -zp.imag], axis=2).reshape(2 * R, 2 * n_act)
        out += (a @ basis).reshape(2, R * K).T
        return z_next
