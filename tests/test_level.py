"""The level decided once (rendering/level.py) and passed down: nothing sets a gain and
restores it."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sointu.rendering import level as lv
from sointu.rendering.formats import resolve_format
from sointu.rendering.tags import Tags
from sointu.rendering.writer import write_blocks
from sointu.session.audio import SessionAudio


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def audio():
    return SessionAudio.from_preset("workplace-25", duration_s=25, seed=6)


def test_at_gain_is_a_view_at_another_gain(audio):
    louder = audio.at_gain(6.0)
    assert audio.gain_db == 0.0 and louder.gain_db == 6.0
    assert louder.synth is audio.synth and louder.timeline is audio.timeline
    a = next(audio.blocks(48000, 48000 * 5))
    b = next(audio.at_gain(-6.0).blocks(48000, 48000 * 5))
    assert np.abs(a).max() > 0
    assert np.allclose(b, a * np.float32(10 ** (-6 / 20)), atol=1e-7)
    assert audio.gain_db == 0.0


def test_resolve_level_cache_estimate_measure(audio, cache):
    plan = lv.resolve_level(audio, -18.0, measure_first=False)
    assert plan.loudness is None  # an estimate, for a render that meters while writing
    assert plan.gain_db == lv.planned_gain_db(audio, -18.0)
    assert lv.cached_level(audio, -18.0) is None  # an estimate is not cached
    measured = lv.resolve_level(audio, -18.0, workers=1)
    assert abs(measured.loudness.integrated_lufs + 18.0) <= lv.RETRY_LU
    assert measured.loudness.true_peak_dbtp <= lv.CEILING_DBTP
    assert lv.cached_level(audio, -18.0) == measured
    # cached: the same value, and measure_first no longer matters
    assert lv.resolve_level(audio, -18.0, measure_first=False) == measured
    assert audio.gain_db == 0.0


def test_live_level_starts_provisional_then_exact(audio, cache):
    live = lv.LiveLevel(audio, -18.0)
    try:
        assert not live.exact and live.gain_db == -18.0 - lv.PROVISIONAL_RAW_LUFS
        change = live.result()  # waits for the background measurement
    finally:
        live.close()
    exact = lv.cached_level(audio, -18.0)
    assert exact is not None and change == pytest.approx(exact.gain_db - live.gain_db)
    again = lv.LiveLevel(audio, -18.0)
    assert again.exact and again.gain_db == exact.gain_db and again.result() is None
    assert audio.gain_db == 0.0


def test_a_check_that_says_drop_leaves_nothing_and_returns_none(tmp_path):
    target = tmp_path / "a.flac"
    target.write_bytes(b"old")
    n = 4800
    x = np.full((n, 2), 0.25, np.float32)
    fmt = resolve_format(target, sample_rate=48000, frames=n)
    calls = []

    def check(keep):
        calls.append(keep)
        return keep

    dropped = write_blocks(target, [x], sample_rate=48000, total_frames=n, fmt=fmt,
                           tags=Tags(title="t"), force=True, check=lambda: check(False))
    assert dropped is None and calls == [False]
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.flac"]
    kept = write_blocks(target, [x], sample_rate=48000, total_frames=n, fmt=fmt,
                        tags=Tags(title="t"), force=True, check=lambda: check(True))
    assert kept.frames == n and calls == [False, True]
    assert np.array_equal(sf.read(target, dtype="float32")[0], x)
