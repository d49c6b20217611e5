"""TPDF dither: the grid, the noise statistics, linearity below one LSB, reproducibility."""

import numpy as np
import pytest

from sointu.errors import UsageError
from sointu.rendering.dither import Ditherer, tpdf_dither, tpdf_noise

LSB16 = 1.0 / 32768.0


def test_output_lies_on_the_16_bit_grid_and_is_clipped():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.2, 1.2, size=(20000, 2))
    y = tpdf_dither(x, 16, np.random.default_rng(2))
    codes = y * 32768.0
    assert np.array_equal(codes, np.round(codes))
    assert codes.min() == -32768.0 and codes.max() == 32767.0
    inside = np.abs(x) < 0.99
    assert np.max(np.abs(y[inside] - x[inside])) < 1.5 * LSB16  # dither 1 + rounding 0.5


def test_tpdf_noise_is_triangular_with_variance_one_sixth():
    d = tpdf_noise(400_000, np.random.default_rng(3))
    assert d.min() > -1.0 and d.max() < 1.0
    assert abs(d.mean()) < 0.003
    assert d.var() == pytest.approx(1.0 / 6.0, rel=0.05)
    # triangular density 1 - |d|: the histogram follows it within a few percent
    hist, edges = np.histogram(d, bins=10, range=(-1.0, 1.0), density=True)
    centres = 0.5 * (edges[1:] + edges[:-1])
    assert np.allclose(hist, 1.0 - np.abs(centres), atol=0.03)


@pytest.mark.parametrize("offset_lsb", [0.0, 0.5, 0.25, None])
def test_total_error_has_signal_independent_tpdf_power(offset_lsb):
    """Dither LSB^2/6 plus rounding LSB^2/12 = LSB^2/4, for on-grid, half-LSB and any input."""
    n = 200_000
    if offset_lsb is None:
        x = np.random.default_rng(4).uniform(-0.5, 0.5, size=n)
    else:
        x = np.full(n, (1000 + offset_lsb) * LSB16)
    err = (tpdf_dither(x, 16, np.random.default_rng(5)) - x) / LSB16
    assert abs(err.mean()) < 0.005
    assert err.var() == pytest.approx(0.25, rel=0.05)


def test_error_is_uncorrelated_with_the_signal():
    fs = 48000
    t = np.arange(2**18) / fs
    x = 0.3 * np.sin(2 * np.pi * 997.0 * t)
    err = tpdf_dither(x, 16, np.random.default_rng(6)) - x
    corr = np.corrcoef(err, x)[0, 1]
    assert abs(corr) < 0.01


def test_sine_below_one_lsb_survives_dither_but_not_plain_rounding():
    """A -100 dBFS sine (0.33 LSB) is kept, with its amplitude, in the time average."""
    fs = 48000
    n = 2**18
    f = 1000.0
    amp = 10 ** (-100 / 20)
    t = np.arange(n) / fs
    x = amp * np.sin(2 * np.pi * f * t)
    assert np.all(np.rint(x * 32768.0) == 0.0)  # rounding without dither: silence
    y = tpdf_dither(x, 16, np.random.default_rng(7))
    # amplitude by projection on the sine (averaging over 5461 cycles)
    est_sin = 2.0 * np.mean(y * np.sin(2 * np.pi * f * t))
    est_cos = 2.0 * np.mean(y * np.cos(2 * np.pi * f * t))
    assert est_sin == pytest.approx(amp, rel=0.03)
    assert abs(est_cos) < 0.03 * amp
    # and visibly in the averaged spectrum: the 1 kHz bin stands far above the hiss
    seg = 4800  # 10 Hz bins, 1 kHz on bin 100
    frames = y[: (n // seg) * seg].reshape(-1, seg) * np.hanning(seg)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    floor = np.median(power[50:2000])
    assert power[100] > 100 * floor  # > 20 dB above the noise floor


@pytest.mark.parametrize("block", [1, 64, 65, 4096])
def test_ditherer_is_independent_of_block_size(block):
    x = 0.1 * np.random.default_rng(8).standard_normal((10_000, 2))
    whole = Ditherer(16, seed=42)(x)
    d = Ditherer(16, seed=42)
    parts = np.concatenate([d(x[i : i + block]) for i in range(0, len(x), block)])
    assert np.array_equal(whole, parts)
    assert not np.array_equal(whole, Ditherer(16, seed=43)(x))


def test_24_bit_grid():
    x = np.random.default_rng(9).uniform(-0.9, 0.9, size=(5000, 2))
    y = tpdf_dither(x, 24, np.random.default_rng(10))
    codes = y * 2.0**23
    assert np.array_equal(codes, np.round(codes))
    assert np.max(np.abs(y - x)) < 1.5 * 2.0**-23


@pytest.mark.parametrize("bits", [8, 12, 32, 16.0, True])
def test_unsupported_bit_depth_is_a_usage_error(bits):
    with pytest.raises(UsageError, match="bit depth"):
        tpdf_dither(np.zeros(4), bits, np.random.default_rng(0))
    with pytest.raises(UsageError, match="bit depth"):
        Ditherer(bits, seed=0)


def test_integer_input_is_a_usage_error():
    with pytest.raises(UsageError, match="float"):
        tpdf_dither(np.zeros(4, dtype=np.int16), 16, np.random.default_rng(0))
