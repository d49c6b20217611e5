"""Gongs and the tam-tam against a real gong (issue 8, ACOUSTICS.md [R] rows): density of
spectral lines, octave balance, the brightness bloom, high bands dying first, the pitch sag
and the churn of partial levels, each measured on a real ``sointu strike`` render.

Run as a script (``python tests/test_realism_gongs.py``) it prints every figure.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from audio_measure import dry_piece
from sointu.engine.library import load_instrument

FS = 48000
ONSET_S = 0.05  # sointu strike's lead-in (engine/audition.py LEAD_IN_S)
SECONDS = 14.0
GONGS = ("planet-gong-earth", "tam-tam")
MALLETS = ("medium", "hard")
VELOCITY = 0.8  # sointu strike's default
#: octave band centres 44 Hz .. 11.3 kHz; [5], [6], [7] are 1.4, 2.8 and 5.7 kHz
OCTAVES_HZ = 1000.0 * 2.0 ** np.arange(-4, 4.5, 1.0) / np.sqrt(2.0)


@functools.lru_cache(maxsize=8)
def strike(name: str, mallet: str) -> np.ndarray:
    """A real ``sointu strike`` render (seed 1), mono (the mean of both channels), from onset."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.wav"
        subprocess.run(
            [sys.executable, "-m", "sointu", "strike", name, "-o", str(out), "--mallet", mallet,
             "--velocity", str(VELOCITY), "--position", "30", "--seed", "1",
             "--seconds", str(SECONDS)],
            check=True, capture_output=True)
        x, fs = sf.read(out, dtype="float64")
    assert fs == FS
    return x.mean(axis=1)[int(ONSET_S * FS):]


def span(x: np.ndarray, t0: float, t1: float) -> np.ndarray:
    return x[int(t0 * FS): int(t1 * FS)]


def power_spectrum(x: np.ndarray, pad: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed power spectrum, zero-padded ``pad`` times: (freq_hz, power)."""
    n = len(x) * pad
    p = np.abs(np.fft.rfft(x * np.hanning(len(x)), n)) ** 2
    return np.fft.rfftfreq(n, 1.0 / FS), p


def spectral_peaks(x: np.ndarray, lo_hz: float = 50.0, hi_hz: float = 5000.0,
                   prominence_db: float = 6.0, within_db: float = 40.0) -> np.ndarray:
    """Frequencies (Hz) of the peaks of 0.5-1.5 s after onset: 1 s Hann window zero-padded
    4x, prominence >= 6 dB, within 40 dB of the strongest peak in lo_hz..hi_hz."""
    f, p = power_spectrum(span(x, 0.5, 1.5))
    band = (f >= lo_hz) & (f <= hi_hz)
    mag = 10.0 * np.log10(np.maximum(p[band], 1e-30))
    k, _ = signal.find_peaks(mag, prominence=prominence_db)
    k = k[mag[k] >= mag.max() - within_db]
    return f[band][k]


def octave_levels(x: np.ndarray) -> np.ndarray:
    """Octave band levels (dB re the loudest octave) at 0.5-1.5 s, centres OCTAVES_HZ."""
    f, p = power_spectrum(span(x, 0.5, 1.5), pad=1)
    e = np.array([p[(f >= c / np.sqrt(2)) & (f < c * np.sqrt(2))].sum() for c in OCTAVES_HZ])
    return 10.0 * np.log10(e / e.max())


def centroid(x: np.ndarray) -> float:
    f, p = power_spectrum(x, pad=1)
    keep = f >= 20.0
    return float(np.sum(f[keep] * p[keep]) / np.sum(p[keep]))


def centroid_at(x: np.ndarray, t: float) -> float:
    """Spectral centroid (Hz) of a 100 ms Hann frame centred at t s after onset."""
    return centroid(span(x, t - 0.05, t + 0.05))


def band_db(x: np.ndarray, lo_hz: float, hi_hz: float, frame_s: float = 0.05
            ) -> tuple[np.ndarray, np.ndarray]:
    """Band level (dB) in consecutive frames of ``frame_s``: (frame centre s, level dB)."""
    n = int(frame_s * FS)
    frames = x[: len(x) // n * n].reshape(-1, n) * np.hanning(n)
    p = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    f = np.fft.rfftfreq(n, 1.0 / FS)
    e = p[:, (f >= lo_hz) & (f < hi_hz)].sum(axis=1)
    return (np.arange(len(e)) + 0.5) * frame_s, 10.0 * np.log10(np.maximum(e, 1e-30))


def high_band_fall_s(x: np.ndarray, drop_db: float = 20.0) -> tuple[float, float]:
    """(time of the 4-16 kHz band's peak, seconds from it until 0.5 s-smoothed level is
    ``drop_db`` below the peak); inf if it never falls that far."""
    t, e = band_db(x, 4000.0, 16000.0)
    smooth = 10.0 * np.log10(np.convolve(10.0 ** (e / 10.0), np.ones(10) / 10, mode="same"))
    k = int(np.argmax(smooth))
    below = np.flatnonzero(smooth[k:] <= smooth[k] - drop_db)
    return float(t[k]), float(t[k + below[0]] - t[k]) if len(below) else np.inf


def peak_frequency(x: np.ndarray, t: float, f_hz: float, rel_cents: float = 20.0) -> float:
    """Frequency (Hz) of the strongest peak within +-rel_cents of f_hz in a 1 s Hann window
    centred at t s after onset, zero-padded 16x, refined by a parabola through the dB
    spectrum."""
    f, p = power_spectrum(span(x, t - 0.5, t + 0.5), pad=16)
    mag = 10.0 * np.log10(np.maximum(p, 1e-30))
    r = 2.0 ** (rel_cents / 1200.0)
    lo, hi = np.searchsorted(f, [f_hz / r, f_hz * r])
    k = lo + int(np.argmax(mag[lo:hi]))
    a, b, c = mag[k - 1], mag[k], mag[k + 1]
    return float((k + 0.5 * (a - c) / (a - 2 * b + c)) * (f[1] - f[0]))


def partial_pitch(x: np.ndarray, t: float, f_hz: float, rel_cents: float = 50.0) -> float:
    """The pitch (Hz) of the partial near f_hz at t s after onset: the power-weighted mean
    frequency of the spectrum within +-rel_cents of f_hz, 1 s Hann window centred at t
    (from the onset at t = 0.5), zero-padded 16x.

    This is the energy-weighted mean of the partial's instantaneous frequency over the
    window: while a partial's energy sits partly on a sharp component and partly on the true
    one, its pitch lies between them in proportion, as an ear fuses the two (they are a few
    hertz apart, far inside one critical band) into one slightly rough tone.
    """
    f, p = power_spectrum(span(x, t - 0.5, t + 0.5), pad=16)
    r = 2.0 ** (rel_cents / 1200.0)
    sel = (f >= f_hz / r) & (f <= f_hz * r)
    return float(np.sum(f[sel] * p[sel]) / np.sum(p[sel]))


def lowest_strong_partial(x: np.ndarray, min_hz: float = 150.0, within_db: float = 10.0
                          ) -> float:
    """The lowest partial >= min_hz within ``within_db`` of the strongest one above min_hz,
    in the settled sound (1 s at 12 s after onset): its frequency there (Hz)."""
    f, p = power_spectrum(span(x, 11.5, 12.5), pad=16)
    keep = (f >= min_hz) & (f <= 5000.0)
    mag = 10.0 * np.log10(np.maximum(p[keep], 1e-30))
    k, _ = signal.find_peaks(mag, prominence=6.0)
    k = k[mag[k] >= mag[k].max() - within_db]
    return float(f[keep][k.min()])


def pitch_cents(x: np.ndarray, times=(0.5, 4.0)) -> tuple[float, list[float]]:
    """(frequency at 12 s, cents above it at each of ``times``) of the lowest strong partial."""
    f12 = lowest_strong_partial(x)
    ref = partial_pitch(x, 12.0, peak_frequency(x, 12.0, f12))
    return ref, [1200.0 * np.log2(partial_pitch(x, t, ref) / ref) for t in times]


def churn_db(x: np.ndarray, count: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, level variation dB) of the ``count`` strongest partials at 0.5-1.5 s.

    The level of each is read every 50 ms from 0.4 s Hann frames (its bin's peak, +-1.5 Hz),
    smoothed over 0.3 s (what beats faster than ~2 Hz is left out), and a quadratic in time
    fitted to the dB track over 0.5-8 s (the decay, and a slow bloom) is taken off: the
    variation is the peak-to-peak of what is left.
    """
    f, p = power_spectrum(span(x, 0.5, 1.5))
    mag = 10.0 * np.log10(np.maximum(p, 1e-30))
    keep = f >= 50.0
    k, _ = signal.find_peaks(np.where(keep, mag, -300.0), distance=int(8.0 / (f[1] - f[0])))
    strongest = np.sort(f[k[np.argsort(mag[k])[::-1][:count]]])
    n, hop = int(0.4 * FS), int(0.05 * FS)
    starts = np.arange(int(0.3 * FS), int(7.8 * FS) - n // 2, hop)
    frames = np.stack([x[s: s + n] for s in starts]) * np.hanning(n)
    pad = 8 * n
    spec = np.abs(np.fft.rfft(frames, pad, axis=1)) ** 2
    ff = np.fft.rfftfreq(pad, 1.0 / FS)
    t = (starts + n // 2) / FS
    out = []
    for fc in strongest:
        sel = (ff >= fc - 1.5) & (ff <= fc + 1.5)
        level = 10.0 * np.log10(spec[:, sel].max(axis=1))
        level = np.convolve(level, np.ones(6) / 6, mode="same")[3:-3]
        tt = t[3:-3]
        resid = level - np.polyval(np.polyfit(tt, level, 2), tt)
        out.append(float(resid.max() - resid.min()))
    return strongest, np.array(out)


# -- the targets -----------------------------------------------------------------------------

CASES = [(g, m) for g in GONGS for m in MALLETS]


@pytest.mark.parametrize("name,mallet", CASES)
def test_hundreds_of_spectral_lines(name, mallet):
    peaks = spectral_peaks(strike(name, mallet))
    dense = np.count_nonzero((peaks >= 1000.0) & (peaks < 3000.0))
    print(f"{name} {mallet}: {len(peaks)} peaks 50 Hz-5 kHz, {dense} of them at 1-3 kHz")
    assert len(peaks) >= 200
    # densest in 1-3 kHz: more lines per octave there than in any other octave below 5 kHz
    per_octave = [np.count_nonzero((peaks >= lo) & (peaks < 2 * lo)) for lo in
                  (62.5, 125.0, 250.0, 500.0, 1000.0, 2000.0)]
    assert max(per_octave) in per_octave[4:]


def line_to_floor_db(x: np.ndarray, lo_hz: float, hi_hz: float) -> float:
    """Median level of the lines (the peaks :func:`spectral_peaks` counts) in lo_hz..hi_hz at
    0.5-1.5 s over the floor between them (the 25th percentile of the band's bins), dB."""
    f, p = power_spectrum(span(x, 0.5, 1.5))
    band = (f >= lo_hz) & (f < hi_hz)
    mag = 10.0 * np.log10(np.maximum(p[band], 1e-30))
    k, _ = signal.find_peaks(mag, prominence=6.0)
    k = k[mag[k] >= mag.max() - 40.0]
    return float(np.median(mag[k]) - np.percentile(mag, 25))


@pytest.mark.parametrize("name,mallet", CASES)
def test_no_hiss_the_lines_stand_clear_of_the_floor(name, mallet):
    """What is counted as lines is pitched, not noise (issue 8: "no hiss"): at 1-3 and 3-5 kHz
    the lines stand >= 50 dB above the floor between them (sointu: 68-69 and 100-108 dB). A
    white hiss 30 dB under the strike's rms at 0.5-1.5 s brings them to 18-48 dB (a hiss
    20 dB under also adds peaks to count: ~390 at 3-5 kHz)."""
    x = strike(name, mallet)
    got = [line_to_floor_db(x, 1000.0, 3000.0), line_to_floor_db(x, 3000.0, 5000.0)]
    rms = np.sqrt(np.mean(span(x, 0.5, 1.5) ** 2))
    noisy = x + np.random.default_rng(1).standard_normal(len(x)) * rms * 10.0 ** (-30.0 / 20.0)
    with_hiss = [line_to_floor_db(noisy, 1000.0, 3000.0), line_to_floor_db(noisy, 3000.0, 5000.0)]
    print(f"{name} {mallet}: lines over the floor at 1-3 / 3-5 kHz {got[0]:.1f} / {got[1]:.1f}"
          f" dB; with a hiss 30 dB under {with_hiss[0]:.1f} / {with_hiss[1]:.1f} dB")
    assert min(got) >= 50.0
    assert max(with_hiss) < 50.0  # the measure does see a hiss


@pytest.mark.parametrize("name,mallet", CASES)
def test_octave_balance(name, mallet):
    lv = octave_levels(strike(name, mallet))
    print(f"{name} {mallet}: octaves {np.round(OCTAVES_HZ).astype(int).tolist()} Hz: "
          f"{np.round(lv, 1).tolist()} dB")
    assert lv[5] >= -10.0 and lv[6] >= -10.0  # 1.4 and 2.8 kHz
    assert lv[7] >= -25.0  # 5.7 kHz


@pytest.mark.parametrize("name,mallet", CASES)
def test_brightness_blooms_up_and_the_highs_die_first(name, mallet):
    x = strike(name, mallet)
    c0, c2 = centroid(span(x, 0.0, 0.05)), centroid_at(x, 2.0)
    c5, c10 = centroid_at(x, 5.0), centroid_at(x, 10.0)
    t_peak, fall = high_band_fall_s(x)
    print(f"{name} {mallet}: centroid first 50 ms {c0:.0f} Hz, at 2 s {c2:.0f} Hz, 5 s "
          f"{c5:.0f} Hz, 10 s {c10:.0f} Hz; 4-16 kHz peaks at {t_peak:.2f} s, -20 dB "
          f"{fall:.2f} s later")
    assert c2 >= 700.0 and c2 >= 2.0 * c0
    assert c10 < c2  # and back down
    assert fall <= 5.0


#: The real gong's spectral centroid (Hz) at 5 and 10 s after the strike (ACOUSTICS.md [R]).
REAL_CENTROID_5_10_HZ = (609.0, 274.0)


@pytest.mark.parametrize("mallet", MALLETS)
@pytest.mark.parametrize("name", ["planet-gong-earth"])
def test_brightness_falls_back_as_slowly_as_on_the_real_gong(name, mallet):
    """Centroid at 5 s and at 10 s within 30 % of the real gong's 609 and 274 Hz (its high
    partials ring on for seconds after the bloom, they do not vanish at once). The gong only:
    the tam-tam, bigger and lower, is not that gong (its cloud's decays are left as they were)."""
    x = strike(name, mallet)
    got = (centroid_at(x, 5.0), centroid_at(x, 10.0))
    print(f"{name} {mallet}: centroid at 5 s {got[0]:.0f} Hz, at 10 s {got[1]:.0f} Hz "
          f"(real gong {REAL_CENTROID_5_10_HZ[0]:.0f}, {REAL_CENTROID_5_10_HZ[1]:.0f})")
    for c, real in zip(got, REAL_CENTROID_5_10_HZ, strict=True):
        assert 0.7 * real <= c <= 1.3 * real


@pytest.mark.parametrize("name", GONGS)
def test_pitch_starts_sharp_and_sags(name):
    ref, (c05, c4) = pitch_cents(strike(name, "hard"))
    _, (m05, m4) = pitch_cents(strike(name, "medium"))
    print(f"{name}: lowest strong partial {ref:.1f} Hz; hard +{c05:.1f} cents at 0.5 s, "
          f"+{c4:.1f} at 4 s; medium +{m05:.1f} / +{m4:.1f}")
    assert c05 >= 10.0
    assert c4 >= 3.0 and c4 <= c05 - 3.0
    assert m05 < c05  # a harder stroke starts sharper


@pytest.mark.parametrize("name,mallet", CASES)
def test_partial_levels_churn(name, mallet):
    f, var = churn_db(strike(name, mallet))
    print(f"{name} {mallet}: 10 strongest partials {np.round(f).astype(int).tolist()} Hz vary "
          f"{np.round(var, 1).tolist()} dB")
    assert np.count_nonzero(var >= 6.0) >= 5


# -- live == render ---------------------------------------------------------------------------


def test_cloud_groups_falling_silent_keep_any_start_equal():
    """A quiet stroke whose short cloud groups fall silent (and are skipped) before the next
    stroke: blocks started anywhere (as live --start-at does) give the render's samples."""
    def synth():
        pc = dry_piece(FS)
        pc.add_instrument("g", load_instrument("planet-gong-earth"))
        rng = np.random.default_rng(4)
        for t, v in ((0.2, 0.15), (30.0, 0.6), (31.7, 0.3)):
            pc.strike("g", t, velocity=v, mallet="soft", rng=rng)
        return pc.synth()

    syn = synth()
    skipped = []
    orig = syn.bank._active

    def active(z, touched):
        out = orig(z, touched)
        skipped.append(len(syn.bank.group_bounds) - 1 - len(syn.bank._cache[0]))
        return out

    syn.bank._active = active
    total = int(40.0 * FS)
    ref = np.concatenate(list(syn.blocks(1 << 16, 0, total)))
    assert max(skipped) >= 3  # cloud groups did fall silent between the strokes
    for start in (int(12.0 * FS) + 7, int(29.99 * FS), int(31.0 * FS) + 3):
        got = np.concatenate(list(synth().blocks(4096, start, start + int(3.0 * FS))))
        diff = float(np.abs(got - ref[start: start + len(got)]).max())
        assert diff <= 1e-6, f"start at {start}: {diff:.3g}"


# -- bad [gong] tables -------------------------------------------------------------------------

SHIPPED = Path(__file__).resolve().parent.parent / "presets" / "instruments"


@pytest.mark.parametrize("old,new,says", [
    ("partials = 240", "partials = 700", "gong.partials: 700 is out of range; allowed [0, 600]"),
    ("bloom_s = [0.6, 1.1]", "bloom_s = [1.1, 0.6]", "gong.bloom_s: expected [low, high]"),
    ("seed = 1", "seed = 1.5", "gong.seed: 1.5 is not allowed; allowed: a whole number 0..2^31"),
    ("sharp_s = 3.2", "sharp_s = 'long'", "gong.sharp_s: expected a number"),
    ("mallet_tilt = 0.5", "mallet_tilt = 0.5\nwobble = 1", "gong.wobble: unknown key"),
])
def test_bad_gong_keys_are_one_clear_line(tmp_path, old, new, says):
    text = (SHIPPED / "planet-gong-earth.toml").read_text()
    assert old in text
    bad = tmp_path / "g.toml"
    bad.write_text(text.replace(old, new))
    out = tmp_path / "x.wav"
    r = subprocess.run([sys.executable, "-m", "sointu", "strike", str(bad), "-o", str(out),
                        "--seconds", "1"], capture_output=True, text=True)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert str(bad) in r.stderr and says in r.stderr
    assert not out.exists()


def test_only_gongs_have_a_gong_table(tmp_path):
    bad = tmp_path / "bowl.toml"
    bad.write_text((SHIPPED / "universal.toml").read_text() + "\n[gong]\npartials = 10\n")
    r = subprocess.run([sys.executable, "-m", "sointu", "strike", str(bad), "-o",
                        str(tmp_path / "x.wav"), "--seconds", "1"], capture_output=True, text=True)
    assert r.returncode != 0 and "only gongs and tam-tams have a [gong] table" in r.stderr


if __name__ == "__main__":
    for name, mallet in CASES:
        x = strike(name, mallet)
        peaks = spectral_peaks(x)
        lv = octave_levels(x)
        t_peak, fall = high_band_fall_s(x)
        f, var = churn_db(x)
        print(f"{name} {mallet}: peaks {len(peaks)}; octaves 1.4/2.8/5.7/11 kHz "
              f"{lv[5]:.1f}/{lv[6]:.1f}/{lv[7]:.1f}/{lv[8]:.1f} dB; centroid 0-50 ms "
              f"{centroid(span(x, 0, 0.05)):.0f}, 0.5 s {centroid_at(x, 0.5):.0f}, 2 s "
              f"{centroid_at(x, 2.0):.0f}, 5 s {centroid_at(x, 5.0):.0f}, 10 s "
              f"{centroid_at(x, 10.0):.0f} Hz; 4-16 kHz peak {t_peak:.2f} s, -20 dB after "
              f"{fall:.2f} s; pitch {pitch_cents(x)}; churn >= 6 dB: "
              f"{np.count_nonzero(var >= 6)}/10 {np.round(var, 1).tolist()}")
