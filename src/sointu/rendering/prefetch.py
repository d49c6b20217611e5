"""Blocks made in a producer thread one or two ahead of the thread that uses them."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import numpy as np

__all__ = ["prefetch"]

#: Blocks a hand-over queue holds (1 MB each as float32 stereo at 2^17 frames): few, so
#: that how full the queues happen to be moves the peak memory by a few MB at most.
QUEUE_BLOCKS = 2


def prefetch(blocks: Iterator[np.ndarray],
             convert: Callable[[np.ndarray], np.ndarray] | None = None,
             name: str = "sointu-synth") -> Iterator[np.ndarray]:
    """Run ``blocks`` (and ``convert`` on each) in a producer thread; yield them here.

    An exception in the producer is raised here; when the consumer stops early, the
    producer stops at its next hand-over (the end of the blocks and an exception too: a
    full queue nobody reads never holds it).
    """
    q: queue.Queue = queue.Queue(maxsize=QUEUE_BLOCKS)
    stop = threading.Event()
    done = object()

    def hand(item) -> bool:
        """Put ``item`` in the queue unless the consumer has stopped (False then)."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for block in blocks:
                if convert is not None:
                    block = convert(block)
                if not hand(block):
                    return
            hand(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            hand(exc)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
