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

import json
import math
import os
from dataclasses import replace

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


def _unit_sums(p, rate: int, n_seg: int) -> tuple[np.ndarray, np.ndarray, int]:
    """K-weighted sums of squares (2, k) of one placed recording at unit pre-gain over the k
    segments it touches, its largest absolute sample in each (k,), and the first one's index.
    """
    S = rate // 10
    first = p.start // S
    meter = LoudnessMeter(rate, 2)
    a = first * S
    stop = min(p.stop, n_seg * S)
    end = -(-stop // S) * S  # whole segments
    peaks = []
    while a < end:
        b = min(end, a + _BLOCK_SEGMENTS * S)
        x = p.contribution(a, b)
        meter.process(x)
        seg = np.maximum(np.abs(x[:, 0]), np.abs(x[:, 1]))
        n = len(seg) // S
        peaks.append(seg[: n * S].reshape(n, S).max(axis=1))
        a = b
    done = meter._complete()
    k = min(done._segment, n_seg - first)
    peak = np.concatenate(peaks)[:k] if peaks else np.zeros(0)
    return done._sums[:, :k].copy(), peak, first


def _set_unit(placed: list, rate: int, n_seg: int) -> None:
    """Measure every placement; the strokes of a sampled instrument share one measurement
    (shifted to each stroke's segment; within a segment the alignment is left out)."""
    shared: dict[tuple, tuple] = {}
    S = rate // 10
    for p in placed:
        if p.spec.kind == "instrument":
            key = (p.spec.path, p.frames)
            if key not in shared:
                probe = replace(p, start=0, gain_db=None)
                shared[key] = _unit_sums(probe, rate, n_seg)[:2]
            sums, peaks = shared[key]
            k = min(sums.shape[1], n_seg - p.start // S)
            p.unit_sums, p.unit_peaks, p.unit_first = sums[:, :k], peaks[:k], p.start // S
        else:
            p.unit_sums, p.unit_peaks, p.unit_first = _unit_sums(p, rate, n_seg)


def _stroke_loudness(audio, key: str, seconds: float) -> float | None:
    """Loudness (LUFS, K-weighted, gated) of a full-velocity synthesised stroke of session
    instrument ``key`` over ``seconds``, placed as in the session; None if unknown."""
    preset = getattr(audio, "preset", None)
    if preset is None or key not in preset.instruments:
        return None
    from ..engine.piece import Piece

    pl = preset.instruments[key].placement()
    piece = Piece(audio.sample_rate, preset.engine_room(audio.timeline.seed),
                  getattr(audio, "head", None))  # in the session's mix
    piece.add_instrument(key, pl.instrument, azimuth_deg=pl.azimuth_deg, distance=pl.distance,
                         level_db=pl.level_db, elevation_deg=pl.elevation_deg,
                         distance_m=pl.distance_m)
    piece.strike(key, 0.0, velocity=1.0, mallet="medium", position_deg=22.5,
                 rng=np.random.default_rng(0))
    meter = LoudnessMeter(audio.sample_rate, 2)
    frames = int(max(seconds, 1.0) * audio.sample_rate)
    for block in piece.synth().blocks(1 << 16, 0, frames):
        meter.process(block)
    return meter.integrated_lufs()


def calibrate(audio) -> None:
    """Set the pre-gain of every recording of ``audio`` (a SessionAudio) from measurements.

    A speech or sound: ``loudness_lu`` relative to the bowls. A sampled instrument: a
    full-velocity stroke of it as loud as a full-velocity synthesised stroke of the session
    instrument it plays for (+ ``loudness_lu``), each measured over the recording's length.

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

    key = _levels_key(audio)
    cached = _cached_levels(key)
    if cached is not None and len(cached) == len(audio.recordings):
        for p, g in zip(audio.recordings, cached, strict=True):
            p.gain_db = g
        return  # measured before: live play and re-renders start at once
    rate = audio.sample_rate
    n_seg = audio.total_frames // (rate // 10)
    _set_unit(placed, rate, n_seg)
    own = {}
    for p in placed:
        own[id(p)] = _lufs(p.unit_sums, rate)
        if not math.isfinite(own[id(p)]):
            raise UsageError(f"recording {p.reader.path}: silent (its loudness cannot be "
                             "measured); give a recording with sound in it")
    bowls = _modal_sums(audio)[0]
    level = _lufs(bowls, rate)
    if not math.isfinite(level):  # no strokes at all: the recordings set the level
        level = -23.0
    strokes: dict[str, float | None] = {}
    for p in placed:
        ref = level
        if p.spec.kind == "instrument":
            key = p.spec.instrument
            if key not in strokes:
                strokes[key] = _stroke_loudness(audio, key, p.reader.frames / rate)
            ref = strokes[key] if strokes[key] is not None else level
        p.gain_db = ref + p.spec.loudness_lu - own[id(p)]
    _cache_levels(key, [p.gain_db for p in audio.recordings])


def _placed_ready(audio) -> list:
    placed = getattr(audio, "recordings", ())
    if placed and any(p.gain_db is None for p in placed):
        calibrate(audio)
    missing = [p for p in placed if p.unit_sums is None]  # levels came from the cache
    if missing:
        _set_unit(missing, audio.sample_rate, audio.total_frames // (audio.sample_rate // 10))
    return placed


# -- the levels, cached beside the gains (they depend on what the audio depends on, not on the
# loudness target) ---------------------------------------------------------------------------

def _levels_file():
    from . import gain_cache

    f = gain_cache.cache_file()
    return None if f is None else f.with_name("recording_levels.json")


def _levels_key(audio) -> str | None:
    from . import gain_cache

    return gain_cache.key(audio, 0.0, 0.0)


def _cached_levels(key: str | None) -> list[float] | None:
    path = _levels_file()
    if key is None or path is None:
        return None
    try:
        v = json.loads(path.read_text("utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(v, list) and all(isinstance(x, float) for x in v):
        return v
    return None


def _cache_levels(key: str | None, levels: list[float]) -> None:
    path = _levels_file()
    if key is None or path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(path.read_text("utf-8"))
            data = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            data = {}
        data.pop(key, None)
        data[key] = [float(x) for x in levels]
        while len(data) > 200:
            data.pop(next(iter(data)))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), "utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def recording_peaks(audio) -> np.ndarray:
    """Largest absolute sample (n_seg,) of all recordings together in each segment, at their
    pre-gain (an upper bound of what they add to a sample)."""
    out = np.zeros(audio.total_frames // (audio.sample_rate // 10))
    for p in _placed_ready(audio):
        k = len(p.unit_peaks)
        out[p.unit_first: p.unit_first + k] += p.unit_peaks * 10.0 ** (
            (p.gain_db + p.offset_db) / 20.0)
    return out


def recording_sums(audio) -> np.ndarray:
    """K-weighted sums of squares (2, n_seg) of all recordings at their pre-gain (0 if none)."""
    out = np.zeros((2, audio.total_frames // (audio.sample_rate // 10)))
    for p in _placed_ready(audio):
        k = p.unit_sums.shape[1]
        out[:, p.unit_first: p.unit_first + k] += p.unit_sums * 10.0 ** (
            (p.gain_db + p.offset_db) / 10.0)
    return out
