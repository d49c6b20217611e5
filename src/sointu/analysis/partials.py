"""Measuring the partials of one decaying stroke: frequency, decay, doublet split, level.

Each partial is cut out of the spectrum of the whole decay (a narrow band around its peak,
shifted to 0 Hz), which gives a slowly sampled complex signal holding only that partial.
Its modes are then fitted by the matrix-pencil method: the signal's Hankel matrix has rank
equal to the number of damped exponentials in it, and the shift between the rows of its
dominant subspace gives their poles (frequency and decay) directly. A doublet shows as two
poles a fraction of a hertz to a few hertz apart; their distance is the beat rate. Every
channel of a stereo recording is fitted together (the poles are shared, the amplitudes not),
so a room that cancels a partial in one ear does not hide it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Partial", "find_peaks", "decay_spectra", "measure_partial", "T60_PER_TAU"]

#: T60 = T60_PER_TAU * tau for an exponential decay.
T60_PER_TAU = math.log(1000.0)

#: Half-width of the band cut out around each partial (Hz): holds doublets up to ~15 Hz apart.
BAND_HZ = 10.0
#: Peaks are looked for in the first 1 s (short decays) and the first 3 s (close partials).
PEAK_WINDOWS_S = (1.0, 3.0)
#: Peaks must stand this far above the local spectral floor (dB) to count as partials.
PEAK_ABOVE_FLOOR_DB = 20.0
#: ... and be no further than this below the strongest peak (dB).
PEAK_RANGE_DB = 60.0
#: A second pole counts as the other half of a doublet down to this level (dB re the first).
DOUBLET_DB = -26.0
#: The decay's end is faded out over this long (s) so that the band signals do not ring there.
FADE_S = 0.3
#: Band signal dropped at the start and the end (s): the band edges ring there.
#: (0.25 s with TAPER 0.25 fitted a 1 s T60 within 6 %, 0.5 s only within 15 %)
EDGE_S = [0.25, 1.0]
#: Share of each side of the band that is faded (the wider, the shorter the ringing).
TAPER = 0.25
#: A band whose power falls by more than FLOOR_DROP_DB has reached its noise floor; the fit
#: then uses the tone down to ABOVE_FLOOR_DB above that floor.
FLOOR_DROP_DB = 20.0
#: Shortest stretch of band signal fitted (s): 8 samples at 20 Hz, enough for a doublet.
MIN_SPAN_S = 0.4
ABOVE_FLOOR_DB = 10.0
#: Lowest and highest partial frequency considered (Hz).
LOWEST_HZ, HIGHEST_HZ = 40.0, 16000.0


@dataclass(frozen=True)
class Partial:
    """One measured partial.

    freq_hz : centre frequency (the mean of the two halves of a doublet).
    t60_s : time to decay by 60 dB.
    amp : amplitude at the start of the decay (sum of the halves; full scale = 1).
    split_hz : distance of the doublet halves (the beat rate), 0 when not a doublet.
    halves : amplitudes of the lower and the upper half (the second 0 when not a doublet).
    span_s : length of the signal the fit used.
    """

    freq_hz: float
    t60_s: float
    amp: float
    split_hz: float
    halves: tuple[float, float]
    span_s: float


def _local_floor(freqs: np.ndarray, power_db: np.ndarray) -> np.ndarray:
    """The spectral floor around each bin: median over a sixth of an octave either side."""
    lo_hz = max(freqs[1], 20.0)
    centres = np.geomspace(lo_hz, freqs[-1], 160)
    med = np.empty_like(centres)
    for i, c in enumerate(centres):
        a, b = np.searchsorted(freqs, [c / 2 ** (1 / 6), c * 2 ** (1 / 6)])
        chunk = power_db[a: max(b, a + 1)]
        med[i] = np.median(chunk) if chunk.size else power_db[min(a, len(power_db) - 1)]
    return np.interp(freqs, centres, med)


def find_peaks(x: np.ndarray, rate: int, max_partials: int) -> list[float]:
    """Frequencies (Hz) of the clear spectral peaks of a decay, strongest first.

    Parameters
    ----------
    x : ndarray, shape (channels, frames)
        The decay, starting just after the strike.
    rate : int
        Sample rate (Hz).
    max_partials : int
        At most this many.
    """
    cands: list[tuple[float, float]] = []  # (dB re the window's strongest peak, Hz)
    for seconds in PEAK_WINDOWS_S:
        cands += _window_peaks(x, rate, seconds)
    cands.sort(reverse=True)
    chosen: list[float] = []
    for _rel, f in cands:
        if len(chosen) >= max_partials * 3:
            break
        if all(abs(f - g) > max(2.0 * BAND_HZ, 0.02 * g) for g in chosen):
            chosen.append(f)
    return chosen


def _window_peaks(x: np.ndarray, rate: int, seconds: float) -> list[tuple[float, float]]:
    """Clear peaks in the spectrum of the first ``seconds`` of x: (dB re the strongest, Hz)."""
    n = min(x.shape[1], int(seconds * rate))
    n_fft = 1 << int(np.ceil(np.log2(n))) + 1
    win = np.hanning(n)
    power = sum(np.abs(np.fft.rfft(ch[:n] * win, n_fft)) ** 2 for ch in x)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    db = 10 * np.log10(power + 1e-30)
    floor = _local_floor(freqs, db)
    top = min(HIGHEST_HZ, 0.45 * rate)
    is_max = np.zeros_like(db, dtype=bool)
    is_max[1:-1] = (db[1:-1] > db[:-2]) & (db[1:-1] >= db[2:])
    ok = is_max & (freqs >= LOWEST_HZ) & (freqs <= top) & (db >= floor + PEAK_ABOVE_FLOOR_DB)
    cand = np.flatnonzero(ok)
    if cand.size == 0:
        return []
    strongest = db[cand].max()
    out = []
    for k in cand[db[cand] >= strongest - PEAK_RANGE_DB]:
        # parabolic refinement of the peak
        a, b, c = db[k - 1], db[k], db[k + 1]
        d = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
        out.append((float(db[k] - strongest), float((k + d) * rate / n_fft)))
    return out


def decay_spectra(x: np.ndarray, rate: int, max_s: float = 90.0) -> tuple[np.ndarray, int]:
    """rfft of each channel of a decay (at most ``max_s`` seconds), its end faded out.

    Returns the spectra (channels, n // 2 + 1) and n (frames).
    """
    n = min(x.shape[1], int(max_s * rate))
    fade = min(n // 4, int(FADE_S * rate))
    seg = x[:, :n].copy()
    if fade:
        seg[:, n - fade:] *= 0.5 + 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
    return np.fft.rfft(seg, axis=1), n


def _baseband(spectra: np.ndarray, n: int, rate: int, f_c: float, half_hz: float
              ) -> tuple[np.ndarray, float, float]:
    """The band f_c +- half_hz of each channel shifted to 0 Hz.

    Returns the complex signals (channels, K), their sample rate (Hz) and the exact centre
    frequency (Hz) that maps to 0.
    """
    T = n / rate
    kc = int(round(f_c * T))
    K = max(8, int(round(2 * half_hz * T)))
    K += K % 2
    lo = kc - K // 2
    idx = np.arange(lo, lo + K)
    idx = np.clip(idx, 0, spectra.shape[1] - 1)
    band = spectra[:, idx].copy()
    # soft band edges (the outer TAPER of each side)
    edge = max(1, int(K * TAPER))
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(edge) + 0.5) / edge)
    taper = np.ones(K)
    taper[:edge] = ramp
    taper[-edge:] = ramp[::-1]
    band *= taper
    band = np.roll(band, -(K // 2), axis=1)  # bin kc to index 0
    z = np.fft.ifft(band, axis=1) * (2.0 * K / n)
    return z, K / T, kc / T


def _tone_end(z: np.ndarray, zrate: float, limit: int) -> int:
    """Where a band signal's tone sinks into the noise (index, at most ``limit``).

    Mean power per second in dB: when it falls more than FLOOR_DROP_DB in all, it has
    reached a floor (its minimum), and the tone ends after the last second that is still
    ABOVE_FLOOR_DB above that floor; otherwise the whole signal is tone.
    """
    w = max(1, int(round(zrate)))
    p = (np.abs(z[:, :limit]) ** 2).sum(axis=0)
    blocks = p[: len(p) // w * w].reshape(-1, w).mean(axis=1)
    if blocks.size < 2:
        return limit
    level = 10 * np.log10(blocks + 1e-300)
    if level.max() - level.min() < FLOOR_DROP_DB:
        return limit
    last = np.flatnonzero(level > level.min() + ABOVE_FLOOR_DB)[-1]
    return min(limit, int((last + 1) * w))


def _pencil(z: np.ndarray, max_order: int) -> tuple[np.ndarray, np.ndarray]:
    """Poles and amplitudes (per channel) of the damped exponentials in z (channels, N)."""
    channels, N = z.shape
    L = min(N // 3, 160)  # the pencil window: 8 s at 20 Hz separates doublets 0.2 Hz apart
    rows = N - L
    H = np.concatenate([np.lib.stride_tricks.sliding_window_view(ch, L + 1)[:rows]
                        for ch in z], axis=0)
    _, s, vh = np.linalg.svd(H, full_matrices=False)
    order = int(np.sum(s[:max_order] > s[0] * 10 ** (-32 / 20))) or 1
    V = vh[:order].T  # rows of H, and so of vh, span [1, p, p**2, ...] for each pole p
    poles = np.linalg.eigvals(np.linalg.pinv(V[:-1]) @ V[1:])
    powers = poles[None, :] ** np.arange(N)[:, None]
    amps, *_ = np.linalg.lstsq(powers, z.T, rcond=None)
    return poles, np.abs(amps).T  # amps: (channels, order)


def measure_partial(spectra: np.ndarray, n: int, rate: int, f_peak: float,
                    half_hz: float = BAND_HZ) -> Partial | None:
    """Fit one partial near ``f_peak`` (Hz) in the decay whose rfft is ``spectra``.

    Parameters
    ----------
    spectra : ndarray, complex, shape (channels, n // 2 + 1)
        rfft of each channel of the decay (n frames, starting at the stroke's peak).
    n, rate : int
        Frames of the decay and sample rate (Hz).
    f_peak : float
        The partial's spectral peak (Hz).
    half_hz : float
        Half-width of the band cut out (Hz).

    Returns
    -------
    Partial or None
        None when the band holds no decaying tone.
    """
    z, zrate, f0 = _baseband(spectra, n, rate, f_peak, half_hz)
    edge = int(round(EDGE_S[0] * zrate))
    tail = int(round(EDGE_S[1] * zrate))
    stop = _tone_end(z, zrate, len(z[0]) - tail)
    stop = min(stop, edge + int(round(60.0 * zrate)))  # a minute tells any decay
    if stop - edge < int(round(MIN_SPAN_S * zrate)):
        return None
    seg = z[:, edge:stop]
    poles, amps = _pencil(seg, 4)
    mag = np.abs(poles)
    level = np.sqrt((amps**2).sum(axis=0))
    dfreq = np.angle(poles) * zrate / (2 * np.pi)
    valid = (mag < 1.0) & (mag > 0) & (np.abs(dfreq) < 0.9 * half_hz) & (level > 0)
    if not valid.any():
        return None
    idx = np.flatnonzero(valid)
    idx = idx[np.argsort(level[idx])[::-1]]
    first = idx[0]
    tau = -1.0 / (zrate * np.log(mag))
    t60 = tau * T60_PER_TAU
    halves = [first]
    for j in idx[1:]:
        if (level[j] >= level[first] * 10 ** (DOUBLET_DB / 20)
                and 0.05 <= abs(dfreq[j] - dfreq[first]) <= 1.6 * half_hz
                # a beat is only told from a slow drift when one whole period was seen
                and abs(dfreq[j] - dfreq[first]) * (stop - edge) / zrate >= 1.0
                and 0.2 < t60[j] / t60[first] < 5.0):
            halves.append(j)
            break
    w2 = level[halves] ** 2
    t60_mean = float(np.sum(t60[halves] * w2) / np.sum(w2))
    if t60_mean > 600.0 or t60_mean < 0.05:
        return None  # a steady hum or a click, not a ringing partial
    t_start = edge / zrate
    # amplitude at the start of the band signal (time 0 = the decay's first frame)
    a = level[halves] * np.exp(t_start / tau[halves])
    freqs = f0 + dfreq[halves]
    if len(halves) == 2 and freqs[1] < freqs[0]:
        freqs, a = freqs[::-1], a[::-1]
    split = float(freqs[1] - freqs[0]) if len(halves) == 2 else 0.0
    return Partial(
        freq_hz=float(freqs.mean()),
        t60_s=t60_mean,
        amp=float(a.sum()),
        split_hz=split,
        halves=(float(a[0]), float(a[1]) if len(a) == 2 else 0.0),
        span_s=(stop - edge) / zrate,
    )
