"""Measuring a whole session's loudness before writing it, on both cores.

The engine reaches any point of a session in closed form, so the session is split in two
spans at a 100 ms boundary and each span is synthesised and metered in its own process; the
two meters are then combined (:func:`sointu.render.loudness.combine`).
"""

from __future__ import annotations

import multiprocessing
import os
import signal

from ..session.source import BlockSource
from .loudness import LoudnessMeter, combine

__all__ = ["measure_source"]

_SOURCE: BlockSource | None = None  # handed to forked workers


def _quiet_worker() -> None:
    """Pool workers leave Ctrl-C to the parent and die silently when it terminates them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _meter_span(span: tuple[int, int]) -> LoudnessMeter:
    start, stop = span
    src = _SOURCE
    meter = LoudnessMeter(src.sample_rate, 2)
    pos = start
    for block in src.blocks(8192, start):
        if pos + len(block) > stop:
            block = block[: stop - pos]
        meter.process(block)
        pos += len(block)
        if pos >= stop:
            break
    done = meter._complete()
    done._buffer = done._buffer[:, :0]  # measured: do not ship 2 MB of buffer back
    return done


def measure_source(source: BlockSource, *, workers: int | None = None,
                   sample: int = 1) -> LoudnessMeter:
    """Integrated loudness, true peak and sample peak of a whole BlockSource.

    Parameters
    ----------
    source : BlockSource
        What to measure (at the gain it will be written with).
    workers : int, optional
        Processes to use; default the number of CPUs (at most 2). With 1, or where ``fork``
        is not available, the source is measured in this process.
    sample : int
        1 measures everything. n > 1 measures only every n-th of 16 n equal stretches (a
        quick estimate for choosing a first gain: the engine reaches any frame at once).

    Returns
    -------
    LoudnessMeter
        Holding the measurements (``result()``, ``integrated_lufs_at()``).
    """
    global _SOURCE
    total = source.total_frames
    step = source.sample_rate // 10
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    aligned = source.sample_rate % 10 == 0
    if sample > 1 and aligned and total >= 16 * sample * step:
        pieces = 16 * sample
        cuts = [(total * k // pieces) // step * step for k in range(pieces)] + [total]
        spans = [(cuts[k], cuts[k + 1]) for k in range(0, pieces, sample)]
    elif workers < 2 or not can_fork or total < 20 * source.sample_rate or not aligned:
        spans = [(0, total)]
    else:
        cuts = [0] + [(total * k // workers) // step * step for k in range(1, workers)]
        spans = list(zip(cuts, cuts[1:] + [total], strict=True))
    _SOURCE = source
    try:
        if workers < 2 or not can_fork or len(spans) < 2:
            meters = [_meter_span(span) for span in spans]
        else:
            with multiprocessing.get_context("fork").Pool(workers,
                                                          initializer=_quiet_worker) as pool:
                meters = pool.map(_meter_span, spans)
    finally:
        _SOURCE = None
    return combine(meters)
