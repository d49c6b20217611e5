"""The loudness meter's memory stays flat for long signals (issue 16's overnight render):
its gating in pieces, its segment sums allocated once, and a mid-stream reading that
shares them with the meter without disturbing it."""

from __future__ import annotations

import numpy as np

from sointu.rendering import loudness
from sointu.rendering.loudness import LoudnessMeter


def _signal(seconds: float, rate: int, seed: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    level = 10.0 ** (rng.uniform(-60, 0, size=n // rate + 1) / 20.0)  # a level per second
    return rng.standard_normal((n, 2)) * 0.1 * np.repeat(level, rate)[:n, None]


def test_gating_in_pieces_equals_gating_at_once(monkeypatch):
    meter = LoudnessMeter(22050)
    meter.process(_signal(600.0, 22050))
    whole = [meter.integrated_lufs(), meter.integrated_lufs_at(17.0)]
    monkeypatch.setattr(loudness, "_GATE_PIECE", 7)
    pieces = [meter.integrated_lufs(), meter.integrated_lufs_at(17.0)]
    assert np.allclose(pieces, whole, rtol=0, atol=1e-9)
    assert -60 < whole[0] < 0 and whole[1] != whole[0] + 17.0  # the gates do move


def test_expected_length_allocates_once_and_measures_the_same():
    x = _signal(95.05, 48000)
    plain, sized = LoudnessMeter(48000), LoudnessMeter(48000, expected_frames=len(x))
    assert sized._sums.shape == (2, 951)
    for m in (plain, sized):
        for i in range(0, len(x), 10000):
            m.process(x[i: i + 10000])
    assert sized._sums.shape == (2, 951)  # never grown
    assert sized.integrated_lufs() == plain.integrated_lufs()
    assert sized.true_peak_dbtp() == plain.true_peak_dbtp()
    short = LoudnessMeter(48000, expected_frames=1000)  # a wrong guess only grows it
    short.process(x)
    assert short.integrated_lufs() == plain.integrated_lufs()


def test_reading_mid_stream_leaves_the_meter_as_it_was():
    x = _signal(70.0, 44100, seed=9)
    read, unread = LoudnessMeter(44100), LoudnessMeter(44100)
    for i in range(0, len(x), 30001):  # pieces that leave frames pending
        read.process(x[i: i + 30001])
        unread.process(x[i: i + 30001])
        assert np.isfinite(read.integrated_lufs()) or i < 44100
        read.true_peak_dbtp()
    assert read._fill > 0  # the readings measured pending frames in a copy
    n = read._segment
    assert np.array_equal(read._sums[:, :n], unread._sums[:, :n])
    assert read.result() == unread.result()
