"""Loudness meter: reference levels, agreement with pyloudnorm, streaming, true peak, gain."""

import math
import warnings

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import lfilter

from sointu.errors import UsageError
from sointu.rendering.loudness import (
    _PHASES,
    Loudness,
    LoudnessMeter,
    k_weighting_coefficients,
    measure,
    normalisation_gain_db,
)


def _meter(x, fs, block=None, channels=2):
    m = LoudnessMeter(fs, channels)
    if block is None:
        m.process(x)
    else:
        for i in range(0, len(x), block):
            m.process(x[i : i + block])
    return m


def _noise_bursts(fs, seed=11):
    """Stereo noise bursts of different levels with silence between (10 s)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((10 * fs, 2))
    for start_s, level_db, dur_s in [(0.5, -20, 2.0), (3.0, -35, 1.5), (5.0, -12, 0.7),
                                     (6.5, -50, 2.5)]:
        i, n = int(start_s * fs), int(dur_s * fs)
        x[i : i + n] = 10 ** (level_db / 20) * rng.standard_normal((n, 2))
    return x


def _bowl_strikes(fs, seed=12):
    """Decaying 220 Hz + 600 Hz strikes with silence between them (12 s, stereo)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((12 * fs, 2))
    for start_s, amp in [(0.0, 0.5), (2.5, 0.05), (5.0, 0.3), (8.0, 0.01)]:
        i = int(start_s * fs)
        t = np.arange(int(2.0 * fs)) / fs  # rings 2 s, then silence until the next
        s = amp * (np.exp(-t / 0.6) * np.sin(2 * np.pi * 220 * t)
                   + 0.5 * np.exp(-t / 0.3) * np.sin(2 * np.pi * 600 * t + rng.uniform(0, 6)))
        pan = rng.uniform(0.3, 0.7)
        x[i : i + t.size, 0] += (1 - pan) * s
        x[i : i + t.size, 1] += pan * s
    return x


def test_48k_coefficients_are_those_printed_in_bs1770():
    shelf_b, shelf_a, hp_b, hp_a = k_weighting_coefficients(48000)
    assert np.allclose(shelf_b, [1.53512485958697, -2.69169618940638, 1.19839281085285],
                       rtol=0, atol=1e-12)
    assert np.allclose(shelf_a, [1.0, -1.69065929318241, 0.73248077421585], rtol=0, atol=1e-12)
    assert np.array_equal(hp_b, [1.0, -2.0, 1.0])
    assert np.allclose(hp_a, [1.0, -1.99004745483398, 0.99007225036621], rtol=0, atol=1e-12)


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
def test_k_weighting_response_is_rate_independent_below_10k(fs):
    """The same analogue curve at every rate: -3.9 dB at 50 Hz, +0.69 at 997 Hz, +4.0 at 5 kHz."""
    shelf_b, shelf_a, hp_b, hp_a = k_weighting_coefficients(fs)
    freqs = np.array([50.0, 997.0, 5000.0])
    z = np.exp(-2j * np.pi * freqs / fs)
    h = (np.polyval(shelf_b[::-1], z) / np.polyval(shelf_a[::-1], z)
         * np.polyval(hp_b[::-1], z) / np.polyval(hp_a[::-1], z))
    db = 20 * np.log10(np.abs(h))
    assert db == pytest.approx([-3.94, 0.69, 4.0], abs=0.04)


@pytest.mark.parametrize("fs", [44100, 48000])
def test_one_khz_sine_at_minus_20_dbfs_on_one_channel_reads_minus_23(fs):
    # mean square 0.1**2 / 2 = -23.01 dB; K-weighting +0.69 dB at 1 kHz; offset -0.691
    t = np.arange(20 * fs) / fs
    x = np.zeros((t.size, 2), dtype=np.float32)
    x[:, 0] = 0.1 * np.sin(2 * np.pi * 1000 * t)
    m = _meter(x, fs, block=4096)
    assert m.integrated_lufs() == pytest.approx(-23.0, abs=0.1)
    assert m.sample_peak_dbfs() == pytest.approx(-20.0, abs=0.01)
    assert m.true_peak_dbtp() == pytest.approx(-20.0, abs=0.01)


def test_ebu_reference_tone_997_hz_at_minus_18_dbfs_both_channels_reads_minus_18():
    fs = 48000
    t = np.arange(10 * fs) / fs
    s = 10 ** (-18 / 20) * np.sin(2 * np.pi * 997 * t)  # peak -18 dBFS, as in EBU Tech 3341
    x = np.stack([s, s], axis=1)
    # expected: 10 log10(2 * a^2 / 2) = -18 dB at the K-gain of 997 Hz that cancels -0.691
    assert _meter(x, fs).integrated_lufs() == pytest.approx(-18.0, abs=0.01)


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("signal", [_noise_bursts, _bowl_strikes])
def test_agrees_with_pyloudnorm(fs, signal):
    x = signal(fs)
    ours = _meter(x, fs, block=4096).integrated_lufs()
    # pyloudnorm's default filters deviate from BS.1770 by ~0.04 dB (see module notes) ...
    assert ours == pytest.approx(pyloudnorm.Meter(fs).integrated_loudness(x), abs=0.05)
    # ... its "DeMan" filters are the same derivation as ours: then only rounding differs
    reference = pyloudnorm.Meter(fs, filter_class="DeMan").integrated_loudness(x)
    assert ours == pytest.approx(reference, abs=1e-6)


def test_absolute_gate_ignores_silence():
    """More silence around the strikes changes nothing: all-silent blocks are below -70 LUFS.

    (The base signal already has silence around it, so no new block straddles an onset.)
    """
    fs = 48000
    quiet = np.zeros((fs, 2))
    x = np.concatenate([quiet, _bowl_strikes(fs), quiet])
    padded = np.concatenate([np.zeros((20 * fs, 2)), x, np.zeros((40 * fs, 2))])
    assert _meter(padded, fs).integrated_lufs() == pytest.approx(
        _meter(x, fs).integrated_lufs(), abs=1e-9
    )


def test_relative_gate_ignores_a_long_quiet_tail():
    """60 s of -60 dBFS hiss after 12 s of strikes would pull an ungated mean down by
    7.8 LU (the same energy spread over 72 s instead of 12 s); the relative gate keeps the
    hiss out. The result still moves a little: the lower mean lowers the relative gate,
    which then admits more of the strikes' decays (exactly as BS.1770 prescribes)."""
    fs = 48000
    x = _bowl_strikes(fs)
    hiss = 1e-3 * np.random.default_rng(15).standard_normal((60 * fs, 2))
    with_tail = np.concatenate([x, hiss])
    plain = _meter(x, fs).integrated_lufs()
    tailed = _meter(with_tail, fs).integrated_lufs()
    dilution = 10 * np.log10(12 / 72)
    assert dilution / 3 < tailed - plain < 0
    assert tailed == pytest.approx(pyloudnorm.Meter(fs, filter_class="DeMan")
                                   .integrated_loudness(with_tail), abs=1e-6)


@pytest.mark.parametrize("block", [64, 65, 4096, 131072 + 7])
def test_independent_of_block_size(block):
    fs = 48000
    x = _bowl_strikes(fs).astype(np.float32)
    whole = _meter(x, fs).result()
    parts = _meter(x, fs, block=block).result()
    assert parts.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-9)
    assert parts.true_peak_dbtp == whole.true_peak_dbtp
    assert parts.sample_peak_dbfs == whole.sample_peak_dbfs


def test_blocks_of_one_frame():
    fs = 44100
    x = _noise_bursts(fs)[int(0.4 * fs) : int(1.6 * fs)]  # 1.2 s: a few gating blocks
    whole = _meter(x, fs).result()
    ones = _meter(x, fs, block=1).result()
    assert math.isfinite(whole.integrated_lufs)
    assert ones.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-9)
    assert ones.true_peak_dbtp == whole.true_peak_dbtp


def test_results_can_be_read_while_streaming():
    fs = 48000
    x = _noise_bursts(fs)
    m = LoudnessMeter(fs)
    m.process(x[: 3 * fs])
    early = m.integrated_lufs()
    m.process(x[3 * fs :])
    assert early == pytest.approx(_meter(x[: 3 * fs], fs).integrated_lufs(), abs=1e-9)
    assert m.integrated_lufs() == pytest.approx(_meter(x, fs).integrated_lufs(), abs=1e-9)


def test_fourth_order_section_matches_the_biquad_cascade():
    fs = 96000  # the high-pass poles are closest to 1 here
    x = _noise_bursts(fs)[:, 0]
    shelf_b, shelf_a, hp_b, hp_a = k_weighting_coefficients(fs)
    cascade = lfilter(hp_b, hp_a, lfilter(shelf_b, shelf_a, x))
    single = lfilter(np.convolve(shelf_b, hp_b), np.convolve(shelf_a, hp_a), x)
    assert np.max(np.abs(single - cascade)) < 1e-9 * np.max(np.abs(cascade))
    loud = [-0.691 + 10 * np.log10(np.mean(y**2)) for y in (single, cascade)]
    assert loud[0] == pytest.approx(loud[1], abs=1e-9)


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
def test_true_peak_of_quarter_rate_sine_between_samples(fs):
    """sin(pi/2 n + pi/4): every sample is +-0.707 (-3.01 dB), the waveform peaks at 1.0."""
    n = np.arange(fs // 2)
    ramp = np.minimum(1.0, np.minimum(n, n[::-1]) / (0.05 * fs))  # no onset transient
    window = 0.5 - 0.5 * np.cos(np.pi * ramp)
    x = (np.sin(np.pi / 2 * n + np.pi / 4) * window)[:, None]
    m = _meter(x, fs, block=4096, channels=1)
    assert m.sample_peak_dbfs() == pytest.approx(-3.01, abs=0.01)
    assert m.true_peak_dbtp() == pytest.approx(0.0, abs=0.2)
    assert m.true_peak_dbtp() == pytest.approx(0.0, abs=0.01)  # the filter is that flat


def test_true_peak_is_never_below_sample_peak_and_close_for_low_tones():
    fs = 48000
    x = _bowl_strikes(fs)
    m = _meter(x, fs, block=4096)
    assert m.true_peak_dbtp() >= m.sample_peak_dbfs()
    assert m.true_peak_dbtp() - m.sample_peak_dbfs() < 0.01  # 220 Hz: ~220 samples a cycle


def test_true_peak_skipping_changes_nothing():
    """A loud stretch late in the signal: its quiet prefix is skipped, the peak is exact."""
    fs = 48000
    rng = np.random.default_rng(13)
    x = 0.01 * rng.standard_normal((3 * fs, 2))
    x[2 * fs : 2 * fs + 4] = [[0.9, -0.9], [-0.9, 0.9], [0.9, -0.9], [-0.9, 0.9]]
    streamed = _meter(x, fs, block=1000).true_peak_dbtp()
    # reference: the same interpolator on the whole signal at once, without any bound
    ref = max(np.max(np.abs(lfilter(h, [1.0], x, axis=0))) for h in _PHASES)
    assert streamed == pytest.approx(20 * np.log10(ref), abs=1e-5)
    assert streamed > 20 * np.log10(0.9) + 1.0  # alternating full-scale: real overs


def test_silence_gives_minus_infinity_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = _meter(np.zeros((48000 * 2, 2), dtype=np.float32), 48000, block=4096)
        assert m.integrated_lufs() == -math.inf
        assert m.true_peak_dbtp() == -math.inf
        assert m.sample_peak_dbfs() == -math.inf
        empty = LoudnessMeter(48000)
        assert empty.integrated_lufs() == -math.inf
        assert empty.true_peak_dbtp() == -math.inf


def test_signal_below_absolute_gate_is_minus_infinity():
    fs = 48000
    x = 1e-4 * np.random.default_rng(14).standard_normal((2 * fs, 2))  # about -80 LUFS
    assert _meter(x, fs).integrated_lufs() == -math.inf


def test_measure_helper():
    fs = 48000
    x = _bowl_strikes(fs)
    result = measure((x[i : i + 4096] for i in range(0, len(x), 4096)), fs)
    assert isinstance(result, Loudness)
    assert result == _meter(x, fs).result()


def test_normalisation_gain_reaches_target_when_peaks_allow():
    measured = Loudness(integrated_lufs=-30.0, true_peak_dbtp=-20.0, sample_peak_dbfs=-20.5)
    assert normalisation_gain_db(measured, -18.0) == pytest.approx(12.0)


def test_normalisation_gain_is_limited_by_the_true_peak_ceiling():
    # peaky: reaching -16 LUFS would need +14 dB and put the peak at +2 dBTP
    measured = Loudness(integrated_lufs=-30.0, true_peak_dbtp=-12.0, sample_peak_dbfs=-12.3)
    gain = normalisation_gain_db(measured, -16.0, ceiling_dbtp=-1.0)
    assert gain == pytest.approx(11.0)
    assert measured.integrated_lufs + gain == pytest.approx(-19.0)  # lands 3 LU short
    assert measured.true_peak_dbtp + gain == pytest.approx(-1.0)


def test_normalisation_gain_on_real_signal_keeps_ceiling():
    fs = 48000
    x = _bowl_strikes(fs)
    before = _meter(x, fs).result()
    gain = normalisation_gain_db(before, -14.0, ceiling_dbtp=-1.0)
    after = _meter(x * 10 ** (gain / 20), fs).result()
    assert after.true_peak_dbtp <= -1.0 + 1e-6
    assert after.integrated_lufs == pytest.approx(before.integrated_lufs + gain, abs=1e-6)


def test_normalising_silence_is_a_usage_error():
    silent = Loudness(-math.inf, -math.inf, -math.inf)
    with pytest.raises(UsageError, match="silent"):
        normalisation_gain_db(silent, -18.0)


@pytest.mark.parametrize("rate", [0, -48000, 48000.0, "48000"])
def test_bad_sample_rate_is_a_usage_error(rate):
    with pytest.raises(UsageError, match="sample rate"):
        LoudnessMeter(rate)


def test_bad_blocks_are_usage_errors():
    m = LoudnessMeter(48000, 2)
    with pytest.raises(UsageError, match="shape"):
        m.process(np.zeros((10, 3)))
    with pytest.raises(UsageError, match="float"):
        m.process(np.zeros((10, 2), dtype=np.int16))
    m.process(np.full((10, 2), np.nan))
    with pytest.raises(UsageError, match="NaN"):
        m.integrated_lufs()


def test_a_finished_meter_gives_the_same_results_and_is_small():
    """``finished()`` (built by ``from_segment_sums``) holds what was measured, pending frames
    included, without the buffer of a meter still being fed."""
    import pickle

    rng = np.random.default_rng(5)
    x = 0.1 * rng.standard_normal((10 * 48000 + 1234, 2))
    meter = LoudnessMeter(48000, 2)
    for i in range(0, len(x), 7919):
        meter.process(x[i:i + 7919])
    done = meter.finished()
    assert done.result() == meter.result()
    np.testing.assert_array_equal(done.segment_sums(), meter.segment_sums())
    assert len(pickle.dumps(done)) < len(pickle.dumps(meter)) / 4
