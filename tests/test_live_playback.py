"""The live callback's logic, driven directly (no device): copying, fades, pause, seek, stop.

Every test feeds :meth:`Playback.fill` device-sized buffers, as the stream callback would,
and checks the samples against the fake source's exact frames.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "live_support"))

from fake_source import FakeSource  # noqa: E402

from sointu.live.feeder import Feeder  # noqa: E402
from sointu.live.playback import (  # noqa: E402
    PAUSE_FADE_S,
    SEEK_FADE_S,
    START_FADE_S,
    STOP_FADE_S,
    VOLUME_GLIDE_S,
    Playback,
)
from sointu.live.ramp import Ramp  # noqa: E402

SR = 8000  # a low rate keeps these tests fast; the logic is rate-independent


def make(duration_s=10.0, *, start_frame=0, volume_db=0.0, block_frames=256, source=None,
         stop_at_frame=None):
    source = source or FakeSource(duration_s, SR)
    # a queue that holds the whole source, primed only once the source has ended: the
    # producer is never behind, so any underrun below is a real failure
    feeder = Feeder(source, start_frame=start_frame, block_frames=block_frames,
                    capacity_blocks=8192, prime_blocks=8192)
    feeder.start()
    assert feeder.primed.wait(10.0)
    pb = Playback(feeder, sample_rate=SR, total_frames=source.total_frames,
                  start_frame=start_frame, volume_db=volume_db, stop_at_frame=stop_at_frame)
    pb.pad_frames = 400
    return source, feeder, pb


def pull(pb, frames, callback_frames=160):
    """Call fill() like a device with ``callback_frames`` buffers; no underrun allowed."""
    out = []
    left = frames
    while left > 0:
        n = min(callback_frames, left)
        buf = np.full((n, 2), np.nan, dtype=np.float32)
        before = pb.underruns
        pb.fill(buf)
        assert pb.underruns == before, f"underrun at position {pb.position}"
        assert not np.isnan(buf).any(), "fill() left part of the buffer unwritten"
        out.append(buf)
        left -= n
    return np.concatenate(out)


def glide(m, start=0.0, end=1.0):
    """The gains Ramp produces for an m-frame glide: start + (end - start) * (k + 1) / m."""
    step = (end - start) / m
    return (start + step * np.arange(1, m + 1, dtype=np.float64)).astype(np.float32)


@pytest.fixture
def cleanup():
    feeders = []
    yield feeders
    for f in feeders:
        f.close()


@pytest.mark.parametrize("callback_frames", [1, 64, 65, 160, 4096])
@pytest.mark.parametrize("block_frames", [64, 1000])
def test_plays_every_frame_exactly(callback_frames, block_frames, cleanup):
    src, feeder, pb = make(3.0, block_frames=block_frames)
    cleanup.append(feeder)
    got = pull(pb, src.total_frames, callback_frames)
    ref = src.frames(0, src.total_frames)
    diff = np.flatnonzero(np.any(got != ref, axis=1))
    assert diff.size == 0, f"first differing frame {diff[:1]}"
    assert pb.position == src.total_frames
    assert pb.underruns == 0


def test_end_pads_silence_then_done(cleanup):
    src, feeder, pb = make(1.0)
    cleanup.append(feeder)
    pull(pb, src.total_frames)
    assert not pb.done.is_set()
    tail = pull(pb, 400 + 160)
    assert pb.done.is_set() and pb.outcome == "end"
    assert not tail.any()


def test_ramp_glide_values_and_block_independence():
    whole = Ramp(0.0, SR)
    whole.go(1.0, 0.1)
    a = whole.next(2000)
    parts = Ramp(0.0, SR)
    parts.go(1.0, 0.1)
    b = np.concatenate([np.broadcast_to(parts.next(n), (n,)) for n in (1, 64, 65, 300, 1570)])
    np.testing.assert_allclose(a[:800], glide(800), rtol=0, atol=1e-7)
    assert np.all(a[800:] == 1.0)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    assert whole.settled and whole.value == 1.0


def test_pause_fades_out_freezes_position_and_resumes_where_it_stopped(cleanup):
    src, feeder, pb = make(10.0)
    cleanup.append(feeder)
    head = pull(pb, 8000)
    pb.toggle_pause()
    fade_m = int(round(PAUSE_FADE_S * SR))
    out = pull(pb, fade_m + 1000)
    ref = src.frames(8000, 8000 + fade_m)
    # the fade: the source times a straight line down to exact zero
    np.testing.assert_allclose(out[:fade_m], ref * glide(fade_m, 1.0, 0.0)[:, None],
                               rtol=0, atol=2e-7)
    assert not out[fade_m:].any()
    assert pb.position == 8000 + fade_m and pb.paused
    # paused: silence, position frozen
    assert not pull(pb, 4000).any()
    assert pb.position == 8000 + fade_m
    pb.toggle_pause()
    back = pull(pb, 4000)
    ref = src.frames(8000 + fade_m, 8000 + fade_m + 4000)
    gain = np.ones(4000, dtype=np.float32)
    gain[:fade_m] = glide(fade_m)
    np.testing.assert_allclose(back, ref * gain[:, None], rtol=0, atol=2e-7)
    assert head.any() and pb.underruns == 0


def test_next_phase_fades_out_jumps_and_fades_in(cleanup):
    src, feeder, pb = make(10.0)
    cleanup.append(feeder)
    pull(pb, 4000)
    target = int(round(src.timeline.phases[1].start_s * SR))
    pb.seek(target)
    fade_m = int(round(SEEK_FADE_S * SR))
    out = pull(pb, fade_m)
    np.testing.assert_allclose(out, src.frames(4000, 4000 + fade_m) * glide(fade_m, 1, 0)[:, None],
                               rtol=0, atol=2e-7)
    assert pb.state == "seek-wait" and pb.position == target
    time.sleep(0.3)  # let the producer queue the new phase
    # silence until the first callback after the restart, then the new phase fading in
    rest = pull(pb, 6000)
    first = np.flatnonzero(np.any(rest != 0, axis=1))[0]
    assert first < 160, "the new phase did not start in the next callback"
    after = rest[first:first + fade_m + 500]
    ref = src.frames(target, target + len(after))
    gain = np.ones(len(after), dtype=np.float32)
    gain[:fade_m] = glide(fade_m)
    np.testing.assert_allclose(after, ref * gain[:, None], rtol=0, atol=2e-7)
    assert pb.position >= target


def test_volume_glides_to_the_new_gain(cleanup):
    src, feeder, pb = make(10.0)
    cleanup.append(feeder)
    pull(pb, 1000)
    assert pb.change_volume(-6.0) == -6.0
    m = int(round(VOLUME_GLIDE_S * SR))
    out = pull(pb, m + 2000)
    g = 10 ** (-6 / 20)
    ref = src.frames(1000, 1000 + m + 2000)
    gain = np.full(m + 2000, g, dtype=np.float32)
    gain[:m] = glide(m, 1.0, g)
    np.testing.assert_allclose(out, ref * gain[:, None], rtol=0, atol=3e-7)


def test_stop_fades_over_two_seconds_then_pads_and_finishes(cleanup):
    src, feeder, pb = make(10.0)
    cleanup.append(feeder)
    pull(pb, 1000)
    pb.stop(reason="quit")
    m = int(round(STOP_FADE_S * SR))
    out = pull(pb, m + 400 + 320)
    np.testing.assert_allclose(out[:m], src.frames(1000, 1000 + m) * glide(m, 1, 0)[:, None],
                               rtol=0, atol=2e-7)
    assert not out[m:].any()
    assert pb.done.is_set() and pb.outcome == "stopped" and pb.stop_reason == "quit"
    assert pb.position == 1000 + m


def test_stop_while_paused_finishes_at_once(cleanup):
    src, feeder, pb = make(10.0)
    cleanup.append(feeder)
    pull(pb, 1000)
    pb.toggle_pause()
    pull(pb, 4000)
    pb.stop()
    out = pull(pb, 800)
    assert not out.any() and pb.done.is_set()


def test_start_in_the_middle_fades_in(cleanup):
    src, feeder, pb = make(10.0, start_frame=30000)
    cleanup.append(feeder)
    out = pull(pb, 5000)
    m = int(round(START_FADE_S * SR))
    gain = np.ones(5000, dtype=np.float32)
    gain[:m] = glide(m)
    np.testing.assert_allclose(out, src.frames(30000, 35000) * gain[:, None], rtol=0, atol=2e-7)


def test_stop_hook_acts_like_ctrl_c(cleanup):
    src, feeder, pb = make(10.0, stop_at_frame=3000)
    cleanup.append(feeder)
    pull(pb, 3000 + int(STOP_FADE_S * SR) + 1000)
    assert pb.done.is_set() and pb.outcome == "stopped" and pb.stop_reason == "stopped"


def test_empty_queue_is_an_underrun_and_silence(cleanup):
    src = FakeSource(10.0, SR, slow_s=0.2)
    feeder = Feeder(src, block_frames=256, capacity_blocks=8, prime_blocks=1)
    cleanup.append(feeder)
    feeder.start()
    assert feeder.primed.wait(5.0)
    pb = Playback(feeder, sample_rate=SR, total_frames=src.total_frames)
    buf = np.empty((1024, 2), dtype=np.float32)
    pb.fill(buf)  # 256 frames queued, 1024 wanted
    assert pb.underruns == 1
    np.testing.assert_array_equal(buf[:256], src.frames(0, 256))
    assert not buf[256:].any()
    assert pb.position == 256
    pb.fill(buf, device_underflow=True)
    assert pb.underruns == 2


def test_source_error_ends_playback_with_the_error(cleanup):
    src = FakeSource(10.0, SR, fail_at_s=1.0)
    src_, feeder, pb = make(source=src)
    cleanup.append(feeder)
    pull(pb, 8000 + 400 + 320)
    assert pb.done.is_set() and pb.outcome == "error"
    assert "fake engine failure" in str(pb.error)


LIMIT = np.float32(10 ** (-2 / 20))


def _gain_steps(out, ref):
    """Largest frame-to-frame change of the applied gain, where the signal is not small."""
    loud = np.flatnonzero(np.abs(ref[:, 0]) > 0.1)
    ratio = out[loud, 0] / ref[loud, 0]
    next_frame = np.diff(loud) == 1
    return float(np.abs(np.diff(ratio))[next_frame].max())


@pytest.mark.parametrize("block_frames", [256, 1000])
def test_raised_volume_is_held_at_the_peak_limit_without_steps(cleanup, block_frames):
    src, feeder, pb = make(10.0, volume_db=6.0, block_frames=block_frames)
    cleanup.append(feeder)
    out = pull(pb, src.total_frames)
    ref = src.frames(0, src.total_frames)
    assert np.abs(ref).max() * 10 ** (6 / 20) > 0.99  # would reach full scale
    assert np.abs(out).max() <= LIMIT * 1.0001
    assert _gain_steps(out, ref) < 0.01
    # where +6 dB stays under the limit (the quiet introduction), it is exactly +6 dB
    quiet = slice(0, int(1.5 * SR))
    np.testing.assert_allclose(out[quiet], ref[quiet] * np.float32(10 ** (6 / 20)),
                               rtol=0, atol=3e-7)
    assert pb.take_limiting() > 1.0


def test_pressing_plus_mid_block_keeps_the_limit(cleanup):
    src, feeder, pb = make(10.0, block_frames=1000)
    cleanup.append(feeder)
    first = pull(pb, 2 * SR + 333)  # into the loud relaxation phase, inside a block
    pb.change_volume(3.0)
    pb.change_volume(3.0)
    rest = pull(pb, src.total_frames - len(first))
    out = np.concatenate([first, rest])
    ref = src.frames(0, src.total_frames)
    assert np.abs(out).max() <= LIMIT * 1.0001
    assert _gain_steps(out, ref) < 0.01


def test_at_0_db_nothing_under_the_limit_is_touched(cleanup):
    src, feeder, pb = make(10.0, block_frames=1000)
    cleanup.append(feeder)
    out = pull(pb, src.total_frames)
    assert np.array_equal(out, src.frames(0, src.total_frames))
    assert pb.take_limiting() == 0.0
