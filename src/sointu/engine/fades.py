"""Fades computed from absolute frame numbers, so they never depend on the block size."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

__all__ = ["fade_out"]


def fade_out(blocks: Iterable[np.ndarray], start_frame: int, total_frames: int,
             fade_frames: int) -> Iterator[np.ndarray]:
    """Apply a raised-cosine fade over the last ``fade_frames`` of ``total_frames``.

    Parameters
    ----------
    blocks : iterable of ndarray, shape (n, channels)
        Consecutive blocks, the first starting at ``start_frame``.
    start_frame, total_frames, fade_frames : int
        Frame numbers; the fade ends at ``total_frames`` with exact silence.
    """
    fade_start = total_frames - fade_frames
    pos = start_frame
    for block in blocks:
        end = pos + len(block)
        if fade_frames > 0 and end > fade_start:
            n = np.arange(max(pos, fade_start), end)
            g = 0.5 + 0.5 * np.cos(np.pi * (n - fade_start + 1) / fade_frames)
            block = block.copy()
            block[n[0] - pos:] *= g[:, None].astype(block.dtype)
        yield block
        pos = end
