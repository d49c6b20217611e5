"""TPDF dither and quantisation for integer (PCM) file delivery.

A relaxation session has long, very quiet decays. Rounding them straight to 16 bits turns
the last seconds of every bowl into distortion correlated with the signal (and then into
hard silence). Adding triangular-PDF dither of +-1 LSB before rounding makes the error a
steady, signal-independent hiss of LSB^2 / 4 (dither LSB^2 / 6 plus rounding LSB^2 / 12):
decays fade smoothly into the noise instead of breaking up, and tones far below one LSB
remain audible on average.

The output is float on the integer grid (k / 2**(bits - 1)); libsndfile converts such
values to PCM exactly (it scales by 2**(bits - 1)).
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError

__all__ = ["SUPPORTED_BITS", "Ditherer", "tpdf_dither", "tpdf_noise"]

#: Bit depths that can be dithered (the PCM depths sointu writes).
SUPPORTED_BITS = (16, 24)


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or \
            int(bits) not in SUPPORTED_BITS:
        allowed = ", ".join(str(b) for b in SUPPORTED_BITS)
        raise UsageError(f"bit depth must be one of {allowed}, got {bits!r}")
    return int(bits)


def tpdf_noise(shape: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Triangular-PDF noise in units of one LSB.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the result.
    rng : numpy.random.Generator
        Source of randomness; exactly ``2 * prod(shape)`` uniform values are drawn, in
        C order, two consecutive ones per output value.

    Returns
    -------
    numpy.ndarray, float64, of the given shape
        ``u1 - u2`` with ``u1, u2`` independent and uniform on [0, 1): the sum of two
        uniform variables of width 1 LSB, triangular on (-1, 1) LSB, mean 0, variance 1/6.
    """
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    u = rng.random(shape + (2,))
    return u[..., 0] - u[..., 1]


def tpdf_dither(block: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    """Add TPDF dither of +-1 LSB and quantise to a bit depth.

    Parameters
    ----------
    block : numpy.ndarray, any shape (typically (n, channels)), float
        Samples, full scale 1.0.
    bits : int
        Target bit depth: 16 or 24. One LSB is ``2**-(bits - 1)``.
    rng : numpy.random.Generator
        Seeded by the caller. ``2 * block.size`` values are drawn in C order (frame by
        frame, channel by channel), so processing a signal block by block in order gives
        the same result as one call on the whole signal (see :class:`Ditherer`).

    Returns
    -------
    numpy.ndarray, float64, same shape as ``block``
        Values ``k / 2**(bits - 1)`` with integer ``k`` clipped to
        ``[-2**(bits - 1), 2**(bits - 1) - 1]``.

    Raises
    ------
    UsageError
        If ``bits`` is not supported or the block is not floating point.
    """
    bits = _check_bits(bits)
    x = np.asarray(block)
    if x.dtype.kind != "f":
        raise UsageError(f"block must be float samples to dither, got {x.dtype}")
    scale = float(2 ** (bits - 1))
    codes = np.rint(x * scale + tpdf_noise(x.shape, rng))
    np.clip(codes, -scale, scale - 1.0, out=codes)
    return codes / scale


class Ditherer:
    """TPDF dither with its own seeded generator, for a file writer working block by block.

    Parameters
    ----------
    bits : int
        Target bit depth (16 or 24).
    seed : int
        Seed of the generator (PCG64). Same seed, same signal -> identical output, whatever
        the block sizes, as long as blocks are passed in order.

    Examples
    --------
    >>> ditherer = Ditherer(16, seed=7)
    >>> for block in blocks:               # doctest: +SKIP
    ...     sound_file.write(ditherer(block))
    """

    def __init__(self, bits: int, seed: int) -> None:
        self.bits = _check_bits(bits)
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """Dither and quantise the next block; see :func:`tpdf_dither`."""
        return tpdf_dither(block, self.bits, self._rng)
