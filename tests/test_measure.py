"""Parallel measurement of a session equals one continuous pass."""

import numpy as np
import pytest

from sointu.rendering.loudness import LoudnessMeter, combine
from sointu.rendering.measure import measure_source
from sointu.session.audio import SessionAudio


def test_combine_of_spans_matches_one_pass():
    fs = 48000
    rng = np.random.default_rng(5)
    t = np.arange(30 * fs) / fs
    env = np.exp(-(t % 7.0) / 2.0)
    x = (0.2 * env * np.sin(2 * np.pi * 221 * t))[:, None] * np.ones((1, 2))
    x += 0.01 * rng.standard_normal(x.shape)
    whole = LoudnessMeter(fs)
    whole.process(x)
    cut = 12 * fs + 4800 * 3
    a, b = LoudnessMeter(fs), LoudnessMeter(fs)
    a.process(x[:cut])
    b.process(x[cut:])
    joined = combine([a, b]).result()
    assert joined.integrated_lufs == pytest.approx(whole.integrated_lufs(), abs=0.005)
    # the interpolator restarts at the cut, so the peak may differ in the last digits
    assert joined.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp(), abs=1e-3)


def test_parallel_measure_of_a_session_matches_serial():
    audio = SessionAudio.from_preset("workplace-25", duration_s=90, seed=3)
    serial = measure_source(audio, workers=1).result()
    parallel = measure_source(audio, workers=2).result()
    assert np.isfinite(serial.integrated_lufs)
    assert parallel.integrated_lufs == pytest.approx(serial.integrated_lufs, abs=0.01)
    assert parallel.true_peak_dbtp == pytest.approx(serial.true_peak_dbtp, abs=1e-6)


def test_live_level_uses_the_render_ceiling():
    from sointu.rendering import level, pipeline

    assert level.CEILING_DBTP == pipeline.CEILING_DBTP == -1.0
