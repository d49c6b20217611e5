"""The producer thread of a render's pipeline (sointu.rendering.prefetch)."""

import time

import numpy as np
import pytest

from sointu.rendering.prefetch import QUEUE_BLOCKS, prefetch


def _blocks(n, fail=False):
    for i in range(n):
        yield np.full(4, float(i), dtype=np.float32)
    if fail:
        raise ValueError("broken block")


def test_blocks_come_in_order_converted_and_an_error_is_raised_here():
    got = [float(b[0]) for b in prefetch(_blocks(5), lambda b: b * 2)]
    assert got == [0.0, 2.0, 4.0, 6.0, 8.0]
    with pytest.raises(ValueError, match="broken block"):
        list(prefetch(_blocks(3, fail=True)))


@pytest.mark.parametrize("fail", [False, True])
def test_a_consumer_that_stops_early_is_not_held_by_a_full_queue(fail):
    """The producer has made every block (and its end, or its error) while the queue is
    full: closing must not wait for it (it waited 5 s before)."""
    g = prefetch(_blocks(QUEUE_BLOCKS + 1, fail=fail))
    next(g)
    time.sleep(0.3)  # the producer is now at its last hand-over, the queue full
    t0 = time.monotonic()
    g.close()
    assert time.monotonic() - t0 < 1.0
