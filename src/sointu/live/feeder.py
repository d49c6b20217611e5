"""The producer: a thread that renders a BlockSource into a bounded queue ahead of playback.

The audio callback only takes ready blocks from this queue. A seek (the next phase) bumps a
generation number and restarts the source at the new frame; blocks of an older generation
still in the queue are recognised by their number and dropped by the consumer.
"""

from __future__ import annotations

import queue
import threading
from typing import NamedTuple

import numpy as np

__all__ = ["Chunk", "Feeder"]


class Chunk(NamedTuple):
    """One queued block.

    Attributes
    ----------
    generation : int
        Seek generation the block belongs to.
    frame : int
        Session frame of the block's first frame.
    data : ndarray, shape (n, 2), float32, or None
        The audio; None marks the end of the source (or an error).
    error : BaseException or None
        Set when the source raised instead of yielding.
    peak : float
        Largest absolute sample of ``data`` (linear; 0 without data), for the live limiter.
    """

    generation: int
    frame: int
    data: np.ndarray | None
    error: BaseException | None = None
    peak: float = 0.0


class Feeder:
    """Render ``source`` block by block into a bounded queue on a background thread.

    Parameters
    ----------
    source : BlockSource
        The session audio.
    start_frame : int
        Session frame to start from.
    block_frames : int
        Frames per block asked of the source.
    capacity_blocks : int
        Queue length in blocks (how far ahead the producer may render).
    prime_blocks : int
        :attr:`primed` is set once this many blocks are queued (or the source has ended).
    """

    def __init__(self, source, *, start_frame: int = 0, block_frames: int = 2048,
                 capacity_blocks: int = 96, prime_blocks: int = 24):
        if block_frames < 1 or capacity_blocks < 1 or not 1 <= prime_blocks <= capacity_blocks:
            raise ValueError(f"bad feeder sizes: block_frames={block_frames}, "
                             f"capacity_blocks={capacity_blocks}, prime_blocks={prime_blocks}")
        self.source = source
        self.block_frames = int(block_frames)
        self.prime_blocks = int(prime_blocks)
        self.primed = threading.Event()
        self._queue: queue.Queue[Chunk] = queue.Queue(maxsize=int(capacity_blocks))
        self._lock = threading.Lock()
        self._generation = 0
        self._start = int(start_frame)
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sointu-feeder", daemon=True)

    @property
    def generation(self) -> int:
        """Generation of the blocks now being produced."""
        return self._generation

    def start(self) -> None:
        """Start rendering on the background thread."""
        self._thread.start()

    def seek(self, frame: int) -> int:
        """Restart the source at ``frame``; returns the new generation number."""
        with self._lock:
            self._generation += 1
            self._start = int(frame)
            self._wake.set()
            return self._generation

    def take(self) -> Chunk | None:
        """The next queued chunk, or None if the queue is empty (never blocks)."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def peek(self) -> Chunk | None:
        """The chunk :meth:`take` would return next, left in the queue (None if empty)."""
        with self._queue.mutex:
            return self._queue.queue[0] if self._queue.queue else None

    def close(self, timeout: float = 2.0) -> None:
        """Stop the producer thread and wait for it."""
        self._closed.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- producer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed.is_set():
            with self._lock:
                generation, frame = self._generation, self._start
                self._wake.clear()
            self._produce(generation, frame)
            # The source ended (or a seek/close interrupted it): wait for the next request.
            while not self._closed.is_set() and generation == self._generation:
                self._wake.wait(0.5)

    def _produce(self, generation: int, frame: int) -> None:
        count = 0
        try:
            for block in self.source.blocks(self.block_frames, frame):
                data = np.array(block, dtype=np.float32, order="C")
                peak = float(np.abs(data).max()) if len(data) else 0.0
                if not self._put(Chunk(generation, frame, data, None, peak), generation):
                    return
                frame += len(data)
                count += 1
                if count >= self.prime_blocks:
                    self.primed.set()
        except Exception as exc:  # reported by the consumer as one line, never lost
            self._put(Chunk(generation, frame, None, exc), generation)
        else:
            self._put(Chunk(generation, frame, None), generation)
        self.primed.set()

    def _put(self, chunk: Chunk, generation: int) -> bool:
        while True:
            if self._closed.is_set() or generation != self._generation:
                return False
            try:
                self._queue.put(chunk, timeout=0.05)
                return True
            except queue.Full:
                continue
