"""Loudness over time of a rendered session, from what the render's meter already kept.

The meter of a render (:class:`~sointu.rendering.loudness.LoudnessMeter`) keeps one sum of
squared K-weighted samples per 100 ms segment to gate the integrated loudness. Those sums
are all a picture of the loudness over time needs: the short-term loudness (BS.1770 /
EBU Tech 3341, a 3 s sliding window) every 100 ms, and the integrated loudness again, so
``render --plot`` draws the file's own loudness without synthesising anything twice.

The sums depend only on what is rendered, so they are cached beside the gain cache
(:mod:`.gain_cache`), under the same key: a re-render, whose gain comes from that cache and
which is then not metered, still has its curve. 36 000 segments an hour: 288 kB.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import gain_cache

__all__ = ["LoudnessCurve", "SHORT_TERM_S", "get", "put"]

#: Window of the short-term loudness (s), EBU Tech 3341.
SHORT_TERM_S = 3.0
_OFFSET_DB = -0.691
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
#: Curves kept in the cache (the oldest go first).
_MAX_CACHED = 64


@dataclass(frozen=True)
class LoudnessCurve:
    """Channel-weighted K-weighted energy per 100 ms of a signal.

    Attributes
    ----------
    sample_rate : int
        Hz of the signal measured.
    sums : numpy.ndarray, float64, shape (segments,)
        Sum of squared K-weighted samples (channel weights applied) per 100 ms segment;
        segment k covers frames ``[k * fs // 10, (k + 1) * fs // 10)``.
    """

    sample_rate: int
    sums: np.ndarray

    @classmethod
    def from_meter(cls, meter) -> LoudnessCurve:
        """The curve of everything ``meter`` (a LoudnessMeter) has measured."""
        return cls(meter.sample_rate, np.array(meter.segment_sums(), dtype=np.float64))

    def scaled(self, gain_db: float) -> LoudnessCurve:
        """The curve of the same signal with ``gain_db`` applied."""
        if gain_db == 0.0:
            return self
        return LoudnessCurve(self.sample_rate, self.sums * 10.0 ** (gain_db / 10.0))

    def _lengths(self, first: int, count: int, width: int) -> np.ndarray:
        """Frames in windows of ``width`` segments starting at segments first..first+count-1."""
        k = np.arange(first, first + count, dtype=np.int64)
        fs = self.sample_rate
        return ((k + width) * fs // 10 - k * fs // 10).astype(np.float64)

    def _window(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Sum over windows of ``width`` consecutive segments, and each window's frames."""
        n = self.sums.size - width + 1
        if n <= 0:
            return np.zeros(0), np.zeros(0)
        c = np.concatenate(([0.0], np.cumsum(self.sums)))
        return c[width:] - c[:n], self._lengths(0, n, width)

    def short_term(self, window_s: float = SHORT_TERM_S) -> tuple[np.ndarray, np.ndarray]:
        """Short-term loudness every 100 ms.

        Parameters
        ----------
        window_s : float
            Window length (s), a multiple of 0.1; 3 s by the standard.

        Returns
        -------
        times_s : numpy.ndarray, shape (n,)
            End of each window (s).
        lufs : numpy.ndarray, shape (n,)
            Loudness of the window ending there (LUFS); ``-inf`` for digital silence.
        """
        width = max(1, int(round(window_s * 10)))
        energy, frames = self._window(width)
        with np.errstate(divide="ignore"):
            lufs = _OFFSET_DB + 10.0 * np.log10(energy / frames)
        times = (np.arange(energy.size) + width) / 10.0
        return times, lufs

    def integrated_lufs(self) -> float:
        """Gated integrated loudness (BS.1770-4) of the curve's signal (LUFS)."""
        energy, frames = self._window(4)
        if energy.size == 0:
            return -math.inf
        power = energy / frames
        gate = power > 10.0 ** ((_ABSOLUTE_GATE_LUFS - _OFFSET_DB) / 10.0)
        if not gate.any():
            return -math.inf
        relative = _OFFSET_DB + 10.0 * math.log10(float(power[gate].mean())) + _RELATIVE_GATE_LU
        gate &= power > 10.0 ** ((relative - _OFFSET_DB) / 10.0)
        return _OFFSET_DB + 10.0 * math.log10(float(power[gate].mean()))

    @property
    def duration_s(self) -> float:
        """Length measured (s), whole 100 ms segments."""
        return self.sums.size / 10.0


def _curve_file(key: str | None) -> Path | None:
    base = gain_cache.cache_file()
    if key is None or base is None:
        return None
    return base.parent / "curves" / f"{key}.npy"


def get(key: str | None, sample_rate: int) -> LoudnessCurve | None:
    """The cached curve for a gain-cache ``key`` (see :func:`.gain_cache.key`), or None."""
    path = _curve_file(key)
    if path is None:
        return None
    try:
        sums = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if sums.ndim != 1 or sums.dtype != np.float64 or not np.all(np.isfinite(sums)):
        return None
    return LoudnessCurve(int(sample_rate), sums)


def put(key: str | None, curve: LoudnessCurve) -> None:
    """Remember ``curve`` under ``key``; written atomically. A cache that cannot be written
    is not used."""
    path = _curve_file(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, np.asarray(curve.sums, dtype=np.float64), allow_pickle=False)
        os.replace(tmp, path)
        kept = sorted(path.parent.glob("*.npy"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-_MAX_CACHED]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
