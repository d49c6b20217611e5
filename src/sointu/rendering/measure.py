"""Measuring a whole session's loudness, on both cores or while it is written.

The engine reaches any point of a session in closed form, so the session is split in two
spans at a 100 ms boundary and each span is synthesised and metered in its own process; the
two meters are then combined (:func:`sointu.rendering.loudness.combine`).

Where the spans are cut depends only on the session's length and rate, never on how many
processes measure it, so the figures are the same on any machine.
"""

from __future__ import annotations

import multiprocessing
import os

from ..session.source import BlockSource
from ..signals import quiet_worker
from .loudness import LoudnessMeter, combine

__all__ = ["measure_source", "spans_of"]

#: Sessions shorter than this (s) are measured as one span.
_SPLIT_MIN_S = 20


def spans_of(total_frames: int, sample_rate: int) -> list[tuple[int, int]]:
    """The spans [start, stop) a session of this length is metered in (one or two)."""
    step = sample_rate // 10
    if sample_rate % 10 or total_frames < _SPLIT_MIN_S * sample_rate:
        return [(0, total_frames)]
    cut = (total_frames // 2) // step * step
    return [(0, cut), (cut, total_frames)]


def _meter_span(span: tuple[int, int]) -> LoudnessMeter:
    start, stop = span
    src = _SOURCE
    meter = LoudnessMeter(src.sample_rate, 2, expected_frames=stop - start)
    pos = start
    for block in src.blocks(8192, start):
        if pos + len(block) > stop:
            block = block[: stop - pos]
        meter.process(block)
        pos += len(block)
        if pos >= stop:
            break
    return meter.finished()  # small: no 2 MB of buffer shipped back


def measure_source(source: BlockSource, *, workers: int | None = None) -> LoudnessMeter:
    """Integrated loudness, true peak and sample peak of a whole BlockSource.

    Parameters
    ----------
    source : BlockSource
        What to measure (at the gain it will be written with).
    workers : int, optional
        Processes to use; default the number of CPUs (at most 2). With 1, or where ``fork``
        is not available, the source is measured in this process.

    Returns
    -------
    LoudnessMeter
        Holding the measurements (``result()``, ``integrated_lufs_at()``).
    """
    global _SOURCE
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    spans = spans_of(source.total_frames, source.sample_rate)
    _SOURCE = source
    try:
        if workers < 2 or not can_fork or len(spans) < 2:
            meters = [_meter_span(span) for span in spans]
        else:
            with multiprocessing.get_context("fork").Pool(workers,
                                                          initializer=quiet_worker) as pool:
                meters = pool.map(_meter_span, spans)
    finally:
        _SOURCE = None
    return combine(meters)
