"""Levels of the recordings on a session's timeline, measured, and their share of its loudness.

Each recording is streamed once (resampled, faded and panned exactly as it will sound)
through the loudness meter: that gives its K-weighted energy in every 100 ms segment of the
session and, gated, its own loudness. Its pre-gain is then chosen so that it sounds
``loudness_lu`` above (or below) the session's bowls, whose integrated loudness comes from
their modes (:mod:`.estimate`). (Relative to the whole mix instead, a long or loud speech
would chase its own loudness.) Nothing depends on the loudness target: the session's gain
scales bowls and recordings alike, so a speech at 0 LU is as loud as the bowls whatever the
target.

The same per-segment energies enter the session's gain estimate, so a render with a long
spoken part still meets its loudness target on the first pass.
"""

from __future__ import annotations

import math

import numpy as np

from .loudness import LoudnessMeter

__all__ = ["calibrate", "recording_sums", "recording_peaks"]

#: 100 ms segments per block when streaming a recording through the meter.
_BLOCK_SEGMENTS = 40


def _meter_of(sums: np.ndarray, rate: int) -> LoudnessMeter:
    meter = LoudnessMeter(rate, 2)
    meter._sums = np.ascontiguousarray(sums)
    meter._segment = sums.shape[1]
    meter._frames = sums.shape[1] * (rate // 10)
    return meter


def _lufs(sums: np.ndarray, rate: int) -> float:
    return _meter_of(sums, rate).integrated_lufs()


def _unit_sums(p, rate: int, n_seg: int) -> tuple[np.ndarray, np.ndarray]:
    """K-weighted sums of squares (2, n_seg) of one placed recording at unit pre-gain, and
    its largest absolute sample in each segment (n_seg,)."""
    S = rate // 10
    first = p.start // S
    meter = LoudnessMeter(rate, 2)
    a = first * S
    stop = min(p.stop, n_seg * S)
    end = -(-stop // S) * S  # whole segments
    peaks = np.zeros(n_seg)
    while a < end:
        b = min(end, a + _BLOCK_SEGMENTS * S)
        x = p.contribution(a, b)
        meter.process(x)
        k = a // S
        seg = np.maximum(np.abs(x[:, 0]), np.abs(x[:, 1]))
        n = min(len(seg) // S, n_seg - k)
        peaks[k: k + n] = seg[: n * S].reshape(n, S).max(axis=1)
        a = b
    done = meter._complete()
    got = done._sums[:, : done._segment]
    out = np.zeros((2, n_seg))
    k = min(got.shape[1], n_seg - first)
    if k > 0:
        out[:, first: first + k] = got[:, :k]
    return out, peaks


def calibrate(audio) -> None:
    """Set the pre-gain of every recording of ``audio`` (a SessionAudio) from measurements.

    Raises
    ------
    UsageError
        A recording is silent (no loudness to measure).
    """
    placed = [p for p in getattr(audio, "recordings", ()) if p.gain_db is None]
    if not placed:
        return
    from ..errors import UsageError
    from .estimate import _modal_sums

    rate = audio.sample_rate
    n_seg = audio.total_frames // (rate // 10)
    own = {}
    for p in placed:
        p.unit_sums, p.unit_peaks = _unit_sums(p, rate, n_seg)
        own[id(p)] = _lufs(p.unit_sums, rate)
        if not math.isfinite(own[id(p)]):
            raise UsageError(f"recording {p.reader.path}: silent (its loudness cannot be "
                             "measured); give a recording with sound in it")
    bowls = _modal_sums(audio)[0]
    level = _lufs(bowls, rate)
    if not math.isfinite(level):  # no strokes at all: the recordings set the level
        level = -23.0
    for p in placed:
        p.gain_db = level + p.spec.loudness_lu - own[id(p)]


def recording_peaks(audio) -> np.ndarray:
    """Largest absolute sample (n_seg,) of all recordings together in each segment, at their
    pre-gain (an upper bound of what they add to a sample)."""
    rate = audio.sample_rate
    out = np.zeros(audio.total_frames // (rate // 10))
    placed = getattr(audio, "recordings", ())
    if placed and any(p.gain_db is None for p in placed):
        calibrate(audio)
    for p in placed:
        out += p.unit_peaks * 10.0 ** (p.gain_db / 20.0)
    return out


def recording_sums(audio) -> np.ndarray:
    """K-weighted sums of squares (2, n_seg) of all recordings at their pre-gain (0 if none)."""
    rate = audio.sample_rate
    n_seg = audio.total_frames // (rate // 10)
    out = np.zeros((2, n_seg))
    placed = getattr(audio, "recordings", ())
    if placed and any(p.gain_db is None for p in placed):
        calibrate(audio)
    for p in placed:
        out += p.unit_sums * 10.0 ** (p.gain_db / 10.0)
    return out
