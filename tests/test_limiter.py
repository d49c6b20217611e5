"""The session limiter: peaks held under the limit, quiet passages untouched, no steps."""

import numpy as np
import pytest
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from sointu.engine.limiter import _running_mean, _running_min, limit_chunks
from sointu.session.audio import SessionAudio


@pytest.mark.parametrize("n, w", [(1000, 31), (24576, 1441), (50, 49), (7, 3)])
def test_running_filters_match_scipy(n, w):
    x = np.random.default_rng(n).random(n)
    assert np.array_equal(_running_min(x, w), minimum_filter1d(x, w, mode="nearest"))
    np.testing.assert_allclose(_running_mean(x, w), uniform_filter1d(x, w, mode="nearest"),
                               atol=1e-12)


def _chunks(x, B):
    yield np.zeros((B, 2), np.float32)
    for i in range(0, len(x), B):
        yield x[i: i + B]
    while True:
        yield np.zeros((B, 2), np.float32)


def test_limiter_holds_peaks_and_leaves_the_rest():
    fs, B = 48000, 8192
    t = np.arange(10 * B) / fs
    quiet = 0.1 * np.sin(2 * np.pi * 220 * t)
    burst = np.where((t > 0.7) & (t < 0.75), 0.9 * np.sin(2 * np.pi * 1000 * t), 0.0)
    x = np.stack([quiet + burst, quiet], axis=1).astype(np.float32)
    gen = limit_chunks(_chunks(x, B), 0.5, 1441)
    y = np.concatenate([next(gen) for _ in range(10)])
    assert np.abs(y).max() <= 0.5 * (1 + 1e-6)
    far = (t < 0.6) | (t > 0.85)
    assert np.array_equal(y[far], x[far])  # untouched away from the burst
    # the gain moves smoothly: no step larger than the signal's own slope
    assert np.abs(np.diff(y[:, 1])).max() <= np.abs(np.diff(x[:, 1])).max() * 1.05


def test_session_limited_blocks_are_block_size_and_start_independent():
    audio = SessionAudio.from_preset("workplace-25", duration_s=60, seed=4)
    audio.gain_db = 24.0  # push the loudest strokes over the limit
    whole = np.concatenate(list(audio.blocks(4096)))
    assert 20 * np.log10(np.abs(whole).max()) <= audio.limit_dbfs + 1e-3
    for size in (65, 1000):
        assert np.array_equal(np.concatenate(list(audio.blocks(size))), whole)
    start = 48000 * 25 + 77
    part = np.concatenate(list(audio.blocks(999, start)))
    np.testing.assert_allclose(part, whole[start:], atol=1e-6)
