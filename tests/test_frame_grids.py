"""The other places that cut a session's frames into pieces (issue 16's relatives): the
metering spans, the loudness meter's 100 ms segments under any block sizes, and the part
grids of the parallel Opus and MP3 encoders, at every length up to 12 h and every rate."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sointu.engine.piece import SAMPLE_RATES
from sointu.rendering import mp3_parallel, parallel_encode
from sointu.rendering.loudness import LoudnessMeter
from sointu.rendering.measure import spans_of

_RATES = st.sampled_from(SAMPLE_RATES)


@st.composite
def lengths(draw, rate_strategy=_RATES):
    """(rate, frames): 1 frame to 12 h, often a multiple of a grid's step or one off it."""
    rate = draw(rate_strategy)
    most = 12 * 3600 * rate
    step = draw(st.sampled_from([1, rate // 10, 960, 1152, 8192, 20 * rate, 10 * rate]))
    k = draw(st.integers(1, most // step))
    return rate, min(most, max(1, k * step + draw(st.sampled_from([-1, 0, 1]))))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(lengths())
def test_metering_spans_tile_the_session_on_segment_edges(case):
    rate, frames = case
    spans = spans_of(frames, rate)
    assert spans[0][0] == 0 and spans[-1][1] == frames
    assert all(a < b for a, b in spans)  # none empty
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    assert all(b % (rate // 10) == 0 for _, b in spans[:-1])  # cuts on segment edges


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(lengths(st.just(48000)), st.integers(1, 8))
def test_opus_parts_are_whole_packets_in_order(case, parts):
    _, frames = case
    starts = parallel_encode.plan_parts(frames, parts)
    packets = -(-frames // parallel_encode.PACKET_FRAMES)
    assert starts[0] == 0 and len(starts) <= parts
    assert all(a < b for a, b in zip(starts, starts[1:], strict=False))
    assert starts[-1] < packets  # the last part has at least one packet
    if len(starts) > 1:  # parts of at least 10 s
        ends = starts[1:] + [packets]
        assert min(e - s for s, e in zip(starts, ends, strict=True)) * 960 >= 10 * 48000 - 960


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(lengths(st.sampled_from(sorted(mp3_parallel.RATES))), st.integers(1, 8))
def test_mp3_parts_are_whole_frames_in_order(case, parts):
    rate, samples = case
    starts = mp3_parallel.plan_parts(samples, rate, parts)
    frames = -(-samples // mp3_parallel.FRAME_SAMPLES)
    assert starts[0] == 0 and len(starts) <= parts
    assert all(a < b for a, b in zip(starts, starts[1:], strict=False))
    assert starts[-1] < frames


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(_RATES, st.lists(st.integers(1, 30000), min_size=1, max_size=12))
def test_segments_do_not_depend_on_the_block_sizes(rate, sizes):
    x = np.random.default_rng(len(sizes)).standard_normal((sum(sizes), 2)) * 0.1
    whole, pieces = LoudnessMeter(rate), LoudnessMeter(rate)
    whole.process(x)
    at = 0
    for n in sizes:
        pieces.process(x[at: at + n])
        at += n
    n_seg = len(x) * 10 // rate
    a, b = whole._complete(), pieces._complete()  # pending frames measured
    assert a._segment == b._segment == n_seg
    assert np.allclose(b._sums[:, :n_seg], a._sums[:, :n_seg], rtol=1e-12, atol=0)
    assert pieces.integrated_lufs() == whole.integrated_lufs() or np.isclose(
        pieces.integrated_lufs(), whole.integrated_lufs(), rtol=0, atol=1e-9)
