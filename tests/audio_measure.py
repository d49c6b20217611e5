"""Measurements on rendered audio, shared by the engine tests.

Every function works on plain float arrays (mono: shape (n,)) and a sample rate, and follows
the recipes of ACOUSTICS.md "Measuring a render": long Hann windows with zero padding and
parabolic peak refinement for frequencies, band-pass + Hilbert envelopes for beats and
decays, short-frame band energies for a gong's bloom.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import signal

from sointu.engine.piece import Piece
from sointu.engine.room import Room
from sointu.rendering.atomic import TMP_MARKER

#: One LSB of 24-bit audio (dBFS -138): a step smaller than this exists in no rendered file.
LSB_24 = 2.0**-23


def db(x) -> np.ndarray:
    """Amplitude ratio -> dB (20 log10), with a floor far below anything measured."""
    return 20.0 * np.log10(np.maximum(np.abs(x), 1e-30))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _parabolic(mag_db: np.ndarray, k: int) -> float:
    """Fractional bin of the peak at bin k (parabola through k-1, k, k+1 of the dB spectrum)."""
    a, b, c = mag_db[k - 1], mag_db[k], mag_db[k + 1]
    den = a - 2.0 * b + c
    return k + (0.5 * (a - c) / den if den != 0 else 0.0)


def spectrum_db(x: np.ndarray, fs: int, pad: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """dB magnitude spectrum of one Hann-windowed span, zero-padded ``pad`` times.

    Returns (freq_hz, mag_db), both shape (n_bins,).
    """
    x = np.asarray(x, dtype=np.float64)
    n_fft = 1 << int(np.ceil(np.log2(len(x) * pad)))
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x)), n_fft))
    return np.fft.rfftfreq(n_fft, 1.0 / fs), db(mag)


def peak_near(freq: np.ndarray, mag_db: np.ndarray, f_hz: float, rel: float
              ) -> tuple[float, float]:
    """Strongest local maximum within f_hz * (1 +- rel), refined parabolically.

    Returns (frequency_hz, level_db).
    """
    lo, hi = np.searchsorted(freq, [f_hz * (1 - rel), f_hz * (1 + rel)])
    k = lo + int(np.argmax(mag_db[lo:hi]))
    if not (mag_db[k] >= mag_db[k - 1] and mag_db[k] >= mag_db[k + 1]) or k in (lo, hi - 1):
        raise AssertionError(f"no spectral peak near {f_hz:.2f} Hz (edge of the search band)")
    kf = _parabolic(mag_db, k)
    df = freq[1] - freq[0]
    return float(kf * df), float(mag_db[k])


def band_envelope(x: np.ndarray, fs: int, lo_hz: float, hi_hz: float, order: int = 4
                  ) -> np.ndarray:
    """Hilbert envelope of x band-passed to [lo_hz, hi_hz] (zero-phase Butterworth)."""
    sos = signal.butter(order, [lo_hz, hi_hz], btype="bandpass", fs=fs, output="sos")
    y = signal.sosfiltfilt(sos, np.asarray(x, dtype=np.float64))
    return np.abs(signal.hilbert(y))


def band_signal(x: np.ndarray, fs: int, lo_hz: float, hi_hz: float, order: int = 4
                ) -> np.ndarray:
    """x band-passed to [lo_hz, hi_hz] (zero-phase Butterworth)."""
    sos = signal.butter(order, [lo_hz, hi_hz], btype="bandpass", fs=fs, output="sos")
    return signal.sosfiltfilt(sos, np.asarray(x, dtype=np.float64))


def decay_t60(env: np.ndarray, fs: int, max_drop_db: float = 30.0) -> tuple[float, float]:
    """T60 (s) from a line fitted to the dB envelope.

    The fit starts at the first sample of ``env`` and runs until the envelope has fallen
    ``max_drop_db`` below its starting level or the envelope ends, whichever comes first
    (a fixed drop for fast decays, a fixed time window for slow ones).

    Returns (t60_s, span_s) where span_s is the length actually fitted.
    """
    e_db = db(env)
    below = np.flatnonzero(e_db < e_db[0] - max_drop_db)
    end = int(below[0]) if len(below) else len(e_db)
    t = np.arange(end) / fs
    slope = np.polyfit(t, e_db[:end], 1)[0]
    return float(-60.0 / slope), float(end / fs)


def normalised_envelope(env: np.ndarray, fs: int, degree: int = 2) -> np.ndarray:
    """Envelope divided by its slow trend (a polynomial in time fitted to it): the decay or
    build-up is removed, what is left is the modulation around 1."""
    t = np.arange(len(env)) / fs
    trend = np.polyval(np.polyfit(t, env, degree), t)
    return env / trend


def modulation_rate(norm_env: np.ndarray, fs: int, lo_hz: float, hi_hz: float) -> float:
    """Frequency (Hz) of the strongest component of a normalised envelope in [lo_hz, hi_hz]."""
    freq, mag = spectrum_db(norm_env - np.mean(norm_env), fs, pad=16)
    lo, hi = np.searchsorted(freq, [lo_hz, hi_hz])
    k = lo + int(np.argmax(mag[lo:hi]))
    return float(_parabolic(mag, k) * (freq[1] - freq[0]))


def beat_depth(env: np.ndarray, fs: int, rate_hz: float) -> float:
    """Depth of a beat at ``rate_hz`` in a decaying envelope: (max - min) / (max + min) after
    dividing by the envelope's moving average over one beat period (0 steady, 1 full beating).

    For an exponential decay times any periodic modulation, the one-period moving average is
    exactly proportional to the decay, so the division removes the trend without bias.
    """
    p = max(int(round(fs / rate_hz)), 1)
    c = np.concatenate([[0.0], np.cumsum(np.asarray(env, dtype=np.float64))])
    trend = (c[p:] - c[:-p]) / p  # mean of env[i : i + p], centred at i + p / 2
    norm = env[p // 2: p // 2 + len(trend)] / trend
    hi, lo = float(np.max(norm)), float(np.min(norm))
    return (hi - lo) / (hi + lo)


def spectral_centroid(x: np.ndarray, fs: int) -> float:
    """Power-weighted mean frequency (Hz) of one Hann-windowed span."""
    x = np.asarray(x, dtype=np.float64)
    p = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1.0 / fs)
    return float(np.sum(f * p) / np.sum(p))


def band_energies(x: np.ndarray, fs: int, bands: list[tuple[float, float]],
                  frame_s: float = 0.02, hop_s: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Energy in each band, frame by frame (Hann frames of frame_s, every hop_s).

    Returns (frame_centre_s shape (F,), energy shape (len(bands), F)).
    """
    n, h = int(frame_s * fs), int(hop_s * fs)
    f, t, z = signal.stft(np.asarray(x, dtype=np.float64), fs, window="hann", nperseg=n,
                          noverlap=n - h, boundary=None, padded=False)
    p = np.abs(z) ** 2
    out = np.array([p[(f >= lo) & (f < hi)].sum(axis=0) for lo, hi in bands])
    return t, out


def click_ratio(x: np.ndarray, frame: int, fs: int, around_s: float = 0.005) -> float:
    """How far the jump at ``frame`` stands above the signal's own slope around it.

    The jump is the larger of |x[frame] - x[frame-1]| and |x[frame+1] - x[frame]| (the two
    differences touching the frame), per channel; the slope is the largest |difference| in
    the surrounding ``around_s`` seconds (half before, half after) excluding those two.
    Jumps smaller than one 24-bit LSB count as nothing (they exist in no rendered file).
    Returns jump / slope over the channels (0 when there is no jump worth the name);
    a click is a ratio above 3.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64).T).T
    w = int(round(around_s * fs / 2))
    worst = 0.0
    for ch in range(x.shape[1]):
        d = np.abs(np.diff(x[max(frame - w - 1, 0): frame + w + 1, ch]))
        c = min(frame - 1, w)  # index of x[frame] - x[frame-1] within d
        jump = float(max(d[c], d[c + 1]))
        if jump <= LSB_24:
            continue
        rest = np.delete(d, [c, c + 1])
        slope = float(rest.max()) if len(rest) else 0.0
        worst = max(worst, jump / slope if slope > 0 else np.inf)
    return worst


# -- rendering -------------------------------------------------------------------------


def dry_piece(sample_rate: int = 48000) -> Piece:
    """A piece in a dry room, everything in the middle (both channels equal)."""
    return Piece(sample_rate, Room(reverb=0.0, width=0.0))


def render_all(piece: Piece, seconds: float, block: int = 1 << 16) -> np.ndarray:
    """The first ``seconds`` of a piece, float32 (n, 2)."""
    syn = piece.synth()
    return np.concatenate(list(syn.blocks(block, 0, int(round(seconds * piece.sample_rate)))))


# -- realism measures (ACOUSTICS.md [R] rows; tests/test_realism_bowls.py) ------------------


def onset_frame(x: np.ndarray, threshold_db: float = -60.0) -> int:
    """First frame whose |sample| (either channel) is within ``threshold_db`` of the peak."""
    a = np.abs(np.asarray(x, dtype=np.float64)).reshape(len(x), -1).max(axis=1)
    return int(np.flatnonzero(a >= a.max() * 10.0 ** (threshold_db / 20.0))[0])


def tock_db(x: np.ndarray, fs: int, onset: int) -> float:
    """Sample peak in the first 10 ms after ``onset`` re the peak at 100-300 ms (dB)."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    first = a[onset: onset + int(0.010 * fs)].max()
    later = a[onset + int(0.100 * fs): onset + int(0.300 * fs)].max()
    return float(db(first / later))


def band_rise_db(x: np.ndarray, fs: int, onset: int, lo_hz: float = 8000.0,
                 hi_hz: float = 16000.0) -> float:
    """Mean power of the band in the first 20 ms after ``onset`` re its mean at 0.3-0.5 s (dB).

    ``x`` is mono; the band is cut with a brick-wall mask in one FFT of the whole span.
    """
    y = np.asarray(x, dtype=np.float64)
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(len(y), 1.0 / fs)
    spec[(f < lo_hz) | (f >= hi_hz)] = 0.0
    b = np.fft.irfft(spec, len(y)) ** 2
    early = b[onset: onset + int(0.020 * fs)].mean()
    late = b[onset + int(0.3 * fs): onset + int(0.5 * fs)].mean()
    return float(10.0 * np.log10(early / late))


def high_energy_drop_s(x: np.ndarray, fs: int, above_hz: float = 2000.0,
                       frame_s: float = 0.05) -> tuple[float, float, np.ndarray]:
    """Time (s) from the peak of the energy above ``above_hz`` (consecutive frames of
    ``frame_s``, Hann) until it has fallen 20 dB and 40 dB below that peak (inf: never).

    Returns (t20_s, t40_s, energy_db per frame).
    """
    y = np.asarray(x, dtype=np.float64)
    n = int(frame_s * fs)
    frames = y[: len(y) // n * n].reshape(-1, n) * np.hanning(n)[None, :]
    p = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    f = np.fft.rfftfreq(n, 1.0 / fs)
    e = 10.0 * np.log10(np.maximum(p[:, f >= above_hz].sum(axis=1), 1e-300))
    k = int(np.argmax(e))
    out = []
    for drop in (20.0, 40.0):
        below = np.flatnonzero(e[k:] <= e[k] - drop)
        out.append(float(below[0] * frame_s) if len(below) else float("inf"))
    return out[0], out[1], e


def partial_levels_db(x: np.ndarray, fs: int, onset: int, freqs_hz, start_s: float = 0.03,
                      stop_s: float = 0.15) -> np.ndarray:
    """Level (dB) of each partial in one Hann window from start_s to stop_s after onset."""
    y = np.asarray(x, dtype=np.float64)[onset + int(start_s * fs): onset + int(stop_s * fs)]
    freq, mag = spectrum_db(y, fs, pad=8)
    out = []
    for fh in freqs_hz:
        lo, hi = np.searchsorted(freq, [fh * 0.97, fh * 1.03])
        out.append(float(mag[lo:hi].max()))
    return np.array(out)


def band_t60(x: np.ndarray, fs: int, f_hz: float, start: int, stop: int, rel: float = 0.03,
             max_drop_db: float = 40.0) -> float:
    """T60 (s) of the band f_hz * (1 +- rel): the envelope's power averaged over 50 ms
    frames (many beat periods of any doublet above 20 Hz, and 1/50 s of a slow one), a line
    fitted from ``start`` until it has fallen ``max_drop_db`` or ``stop``."""
    env = band_envelope(np.asarray(x, dtype=np.float64), fs, f_hz * (1 - rel),
                        f_hz * (1 + rel))[start:stop]
    n = int(0.05 * fs)
    m = len(env) // n
    p = 10.0 * np.log10((env[: m * n] ** 2).reshape(m, n).mean(axis=1))
    below = np.flatnonzero(p < p[0] - max_drop_db)
    end = int(below[0]) if len(below) else m
    end = max(end, 3)
    t = np.arange(end) * n / fs
    slope = np.polyfit(t, p[:end], 1)[0]
    return float(-60.0 / slope)


def beat_depth_db(env: np.ndarray, fs: int, rate_hz: float) -> float:
    """Peak-to-trough depth (dB) of a beat at ``rate_hz`` in a decaying envelope
    (:func:`beat_depth` d as 20 log10((1 + d) / (1 - d)))."""
    d = min(beat_depth(env, fs, rate_hz), 0.999999)
    return float(20.0 * np.log10((1.0 + d) / (1.0 - d)))


def lr_correlation(x: np.ndarray, fs: int, window_s: float = 1.0) -> np.ndarray:
    """Left/right correlation coefficient of every whole ``window_s`` window that has sound."""
    n = int(window_s * fs)
    m = len(x) // n
    y = np.asarray(x[: m * n], dtype=np.float64).reshape(m, n, 2)
    y = y - y.mean(axis=1, keepdims=True)
    num = np.sum(y[:, :, 0] * y[:, :, 1], axis=1)
    den = np.sqrt(np.sum(y[:, :, 0] ** 2, axis=1) * np.sum(y[:, :, 1] ** 2, axis=1))
    ok = den > 0
    return num[ok] / den[ok]


def decay_removed(env: np.ndarray, fs: int) -> np.ndarray:
    """Envelope divided by the exponential decay fitted to it (a line in dB): for partials
    that fall tens of dB within the span, where a polynomial trend does not follow."""
    t = np.arange(len(env)) / fs
    log_env = np.log(np.maximum(env, 1e-30))
    return np.exp(log_env - np.polyval(np.polyfit(t, log_env, 1), t))


def temp_files_in(folder) -> list:
    """sointu's temporary files in ``folder`` (left behind only if a process was killed)."""
    return sorted(p for p in Path(folder).iterdir() if TMP_MARKER in p.name)
