"""The block-matrix biquad cascade gives lfilter's output, whatever the call sizes."""

import numpy as np
import pytest
from scipy.signal import butter, lfilter

from sointu.rendering.blockfilter import BlockCascade
from sointu.rendering.loudness import k_weighting_coefficients

# call sizes: whole blocks, single samples, a remainder shorter than a block, long runs
SIZES = [131072, 5, 31, 32, 1, 100000, 0, 70001]


def _signal(n: int, fs: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    # noise swelling in, plus a low tone the high-pass acts on
    x = rng.standard_normal((2, n)) * np.linspace(0.0, 1.0, n)
    x += 0.3 * np.sin(2 * np.pi * 30.0 * t)
    return x


def _run(f: BlockCascade, x: np.ndarray) -> np.ndarray:
    out, pos = [], 0
    for n in SIZES:
        out.append(f(x[:, pos:pos + n]))
        pos += n
    out.append(f(x[:, pos:]))
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("fs, tol", [(8000, 1e-12), (44100, 1e-10), (48000, 1e-10),
                                     (96000, 1e-9), (192000, 1e-8)])
def test_k_weighting_matches_lfilter(fs, tol):
    sb, sa, hb, ha = k_weighting_coefficients(fs)
    x = _signal(sum(SIZES) + 12345, fs)
    ref = lfilter(hb, ha, lfilter(sb, sa, x, axis=1), axis=1)
    y = _run(BlockCascade([(sb, sa), (hb, ha)], 2), x)
    assert y.shape == ref.shape
    assert np.max(np.abs(y - ref)) <= tol * np.max(np.abs(ref))


def test_any_biquads_and_channel_count():
    b1, a1 = butter(2, 0.1)
    b2, a2 = butter(2, 0.3, btype="high")
    x = _signal(50000, 48000, seed=3)[:1]
    ref = lfilter(b2, a2, lfilter(b1, a1, x, axis=1), axis=1)
    y = _run(BlockCascade([(b1, a1), (b2, a2)], 1), x)
    assert np.max(np.abs(y - ref)) <= 1e-10 * np.max(np.abs(ref))


def test_split_calls_equal_one_call_and_state_carries_on():
    sb, sa, hb, ha = k_weighting_coefficients(48000)
    x = _signal(300000, 48000, seed=5)
    whole = BlockCascade([(sb, sa), (hb, ha)], 2)(x)
    split = _run(BlockCascade([(sb, sa), (hb, ha)], 2), x)
    assert np.max(np.abs(whole - split)) <= 1e-10 * np.max(np.abs(whole))
    # after the input stops, the filter keeps ringing from its state as lfilter's does
    f = BlockCascade([(sb, sa), (hb, ha)], 2)
    f(x)
    tail = f(np.zeros((2, 4800)))
    ref = lfilter(hb, ha, lfilter(sb, sa, np.concatenate([x, np.zeros((2, 4800))], axis=1),
                                  axis=1), axis=1)[:, -4800:]
    assert np.max(np.abs(ref)) > 1e-3  # there is a tail to compare
    assert np.max(np.abs(tail - ref)) <= 1e-10 * np.max(np.abs(ref))
