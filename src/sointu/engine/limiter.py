"""A transparent look-ahead peak limiter that touches only the rare loudest transients.

A relaxation session is quiet and peaky: a hard tingsha or gong stroke can stand 20 dB above
the session's loudness. After loudness normalisation such a stroke would pass the true-peak
ceiling, so its attack is turned down smoothly instead: the gain is the running minimum of
``threshold / |x|`` over a window, smoothed by a moving average of the same length, which
keeps every sample at or below the threshold with no step in the gain. The gain only dips
for about two windows around a loud attack; everything else passes untouched.

The limiter works on the engine's fixed chunk grid with one chunk of look-around on each
side, so its output never depends on the block size or on where playback started.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["limit_chunks", "WINDOW_S"]

#: Length of the limiter's minimum and smoothing windows (s).
WINDOW_S = 0.03


def limit_chunks(chunks: Iterator[np.ndarray], threshold: float, window: int
                 ) -> Iterator[np.ndarray]:
    """Limit a stream of equal-length chunks; yields one chunk per chunk in, one behind.

    Parameters
    ----------
    chunks : iterator of ndarray, float32, shape (B, 2)
        Consecutive chunks. The first one only provides look-back: the output starts with
        the second chunk.
    threshold : float
        Largest absolute sample value allowed (linear).
    window : int
        Window length in frames (odd works best), at most the chunk length.

    Yields
    ------
    ndarray, float32, shape (B, 2)
    """
    prev = next(chunks)
    cur = next(chunks)
    prev_peak = float(np.abs(prev).max())
    cur_peak = float(np.abs(cur).max())
    while True:
        nxt = next(chunks, None)
        nxt_peak = float(np.abs(nxt).max()) if nxt is not None else 0.0
        if max(prev_peak, cur_peak, nxt_peak) <= threshold:
            yield cur
        else:
            B = len(cur)
            parts = [prev, cur] + ([nxt] if nxt is not None else [np.zeros_like(cur)])
            x = np.concatenate(parts)
            # each frame's peak over its channels, a channel at a time (numpy's reduction
            # along the short axis is ~70x slower; the values are the same)
            peak = np.abs(x[:, 0]).astype(np.float64)
            for c in range(1, x.shape[1]):
                np.maximum(peak, np.abs(x[:, c]), out=peak)
            target = np.minimum(1.0, threshold / np.maximum(peak, 1e-30))
            # each sample's gain is the mean of minima whose windows all cover any peak
            # within half a window, so the smoothed gain never exceeds target at a peak
            held = _running_min(target, window)
            gain = _running_mean(held, window)
            gain = np.minimum(gain, target)  # guard against rounding at exact peaks
            gain[gain > 1.0 - 1e-9] = 1.0  # the running mean's rounding is not a gain change
            yield (cur * gain[B: 2 * B, None]).astype(np.float32)
        if nxt is None:
            return
        prev, prev_peak, cur, cur_peak = cur, cur_peak, nxt, nxt_peak


def _running_min(x: np.ndarray, w: int) -> np.ndarray:
    """Minimum over the centred window of odd length w (edges repeat), in O(n).

    Van Herk / Gil-Werman: minima from the left within blocks of w and from the right within
    the same blocks; any window of w spans at most two blocks, so its minimum is the
    from-the-right minimum at its start combined with the from-the-left minimum at its end.
    """
    h = w // 2
    n = len(x)
    padded = np.concatenate([np.full(h, x[0]), x, np.full(h + w, x[-1])])
    blocks = padded[: (len(padded) // w) * w].reshape(-1, w)
    left = np.minimum.accumulate(blocks, axis=1).ravel()
    right = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(right[:n], left[w - 1: w - 1 + n])


def _running_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Mean over the centred window of odd length w (edges repeat)."""
    h = w // 2
    padded = np.concatenate([np.full(h + 1, x[0]), x, np.full(h, x[-1])])
    c = np.cumsum(padded)
    return (c[w:] - c[:-w]) / w
