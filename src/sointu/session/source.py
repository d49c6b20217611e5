"""What the file renderer and the live player consume: a source of audio blocks.

:class:`sointu.session.audio.SessionAudio` is the real implementation (a Timeline rendered
by the modal engine). Tests of the render and live layers may use any object with the same
shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

from .timeline import Timeline

__all__ = ["BlockSource"]


class BlockSource(Protocol):
    """A finite stereo signal produced block by block.

    Attributes
    ----------
    sample_rate : int
        Frames per second.
    total_frames : int
        Length of the whole signal in frames (ring-out included).
    timeline : Timeline
        The events and named phases (``phase.start_s`` / ``end_s`` in seconds).
    """

    sample_rate: int
    total_frames: int
    timeline: Timeline

    def blocks(self, block_frames: int = 4096, start_frame: int = 0) -> Iterator[np.ndarray]:
        """Yield float32 arrays of shape (n, 2), n == block_frames except for the last.

        Starts at ``start_frame`` (0 <= start_frame <= total_frames) and ends exactly at
        ``total_frames``. The samples do not depend on ``block_frames`` or on where the
        iteration started: frame k is always the same value.
        """
        ...
