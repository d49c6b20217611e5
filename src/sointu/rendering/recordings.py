"""Levels of the recordings on a session's timeline, measured, and their share of its loudness.

Each recording is decoded and resampled once, in a thread while the bowls' energy is
computed, and measured as it will sound (at the session rate, panned, faded): that gives
its K-weighted energy in every 100 ms segment of the session and, gated, its own loudness.
The resampled frames are kept for playing (:class:`~sointu.session.recordings.Spill`).
Its pre-gain is then chosen so that it sounds ``loudness_lu`` above (or below) the session's
bowls, whose integrated loudness comes from their modes (:mod:`.estimate`). (Relative to the
whole mix instead, a long or loud speech would chase its own loudness.) Nothing depends on
the loudness target: the session's gain scales bowls and recordings alike, so a speech at 0
LU is as loud as the bowls whatever the target.

The same per-segment energies enter the session's gain estimate, so a render with a long
spoken part still meets its loudness target on the first pass.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from .blockfilter import BlockCascade
from .loudness import LoudnessMeter, k_weighting_coefficients
from .prefetch import prefetch

__all__ = ["calibrate", "recording_sums", "recording_peaks"]

#: Version of the measurement, in its cache keys (2: at the session rate, resampled).
_MEASURE = 2


def _meter_of(sums: np.ndarray, rate: int) -> LoudnessMeter:
    return LoudnessMeter.from_segment_sums(sums, rate)


def _lufs(sums: np.ndarray, rate: int) -> float:
    return _meter_of(sums, rate).integrated_lufs()


def _unit_sums(p, rate: int, n_seg: int) -> tuple[np.ndarray, np.ndarray, int]:
    """K-weighted sums of squares (2, k) of one placed recording at unit pre-gain over the k
    session segments it touches, its largest absolute sample in each (k,), and the first
    one's index.

    Measured on what plays: the recording resampled to the session rate (in the same pass
    that keeps it for playing, :func:`_session_blocks`), panned (or heard through the
    head's responses), faded and trimmed as :meth:`Placed.contribution` does, to the end of
    its last segment (the filter's ring after the recording's end included): what a meter
    of its contribution alone sums.
    """
    S = rate // 10
    r = p.reader
    first = p.start // S
    k = max(-(-min(p.stop, n_seg * S) // S) - first, 0)
    sums = np.zeros((2, k))
    peak = np.zeros(k)
    if k == 0:
        return sums, peak, first
    n_meas = min(p.frames, (first + k) * S - p.start)  # the frames in those segments
    h = p.hrir  # the headphone mix: heard through the head's responses
    pan = np.ones(2) if h is not None else p.pan_gains
    # the filter is linear: each channel is filtered unpanned and its sums scaled by its
    # pan squared; a mono source (both channels the same but for the pan) is filtered once
    mono = h is None and r.channels != 2
    shelf_b, shelf_a, hp_b, hp_a = k_weighting_coefficients(rate)
    kfilter = BlockCascade([(shelf_b, shelf_a), (hp_b, hp_a)], 1 if mono else 2)
    fi = int(round(p.spec.fade_in_s * rate))
    fo = int(round(p.spec.fade_out_s * rate))
    off = p.start - first * S  # the recording's first frame, into its first segment
    past = None if h is None else np.zeros(len(h) - 1)  # the source's frames before a block

    def add(y: np.ndarray, b0: int) -> None:
        """Add block ``y`` (channels, L) unpanned, the frames from ``b0`` on, to the sums
        and peaks."""
        # the segments the block touches and where each begins in it
        s0, s1 = (off + b0) // S, (off + b0 + y.shape[1] - 1) // S
        starts = np.concatenate(([0], np.arange(s0 + 1, s1 + 1) * S - off - b0))
        a = np.maximum.reduceat(np.abs(y), starts, axis=1)  # each channel's, unpanned
        a = a[0] * pan.max() if mono else np.maximum(a[0] * pan[0], a[1] * pan[1])
        np.maximum(peak[s0: s1 + 1], a, out=peak[s0: s1 + 1])
        sq = kfilter(y)
        np.square(sq, out=sq)
        sums[:, s0: s1 + 1] += np.add.reduceat(sq, starts, axis=1) * (pan * pan)[:, None]

    b0 = 0
    for x in _session_blocks(r, p.frames):
        L = min(len(x), n_meas - b0)
        if L <= 0:
            continue  # read on for playing only
        x = x[:L]
        if h is not None:
            x = r._stereo(x)
            m = np.add(x[:, 0], x[:, 1], dtype=np.float64)
            m *= 0.5  # the channels' mean
            if b0 < fi or p.frames - (b0 + L) < fo:
                m *= _fades(np.arange(b0, b0 + L), fi, fo, p.frames)
            y, past = _through(h, m, past)
        else:
            if mono:
                x = x if r.channels == 1 else r._stereo(x)[:, :1]  # the one channel
            y = np.ascontiguousarray(x.T, dtype=np.float64)  # (channels, L)
            if b0 < fi or p.frames - (b0 + L) < fo:
                y *= _fades(np.arange(b0, b0 + L), fi, fo, p.frames)
        add(y, b0)
        b0 += L
    if b0 < k * S - off:  # the filter's ring after the end, to its last segment's end
        add(np.zeros((1 if mono else 2, k * S - off - b0)), b0)
    return sums, peak, first


def _through(h: np.ndarray, m: np.ndarray, past: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Block ``m`` (n,) of a source heard through impulse response ``h`` (L, 2): both ears'
    signals (2, n), and the source's last L - 1 frames for the next block."""
    from ..session.recordings import heard

    ext = np.concatenate([past, m])
    return heard(ext, h), ext[len(ext) - len(past):]


def _session_blocks(r, n: int) -> Iterator[np.ndarray]:
    """Frames [0, n) of recording reader ``r`` at the session rate in blocks (float32, the
    file's channels; more past ``n`` when the recording ends within a block).

    From the reader's :class:`~sointu.session.recordings.Spill` when it holds them; else
    decoded in one thread and resampled in another, each a block ahead (the decoder, soxr
    and numpy release the interpreter's lock, so the next blocks are made while this one
    is measured), and kept in a new spill for playing.
    """
    from ..session.recordings import Spill

    sp = r.spill
    if sp is not None and n <= sp.frames:
        step = r.order_block  # as decoded: the measurement sums the same blocks
        for b0 in range(0, n, step):
            yield sp.read(b0, min(b0 + step, n))
        return
    if sp is not None:  # a shorter one (another placement, trimmed): this one starts again
        r.spill = None
        sp.close()
    try:
        sp = Spill(r.channels, r.pcm16 and r.up == r.down)
    except OSError:  # no temporary folder to write in: decoded again when playing
        sp = None

    def made() -> Iterator[np.ndarray]:
        for x in r.in_order(n, ahead=lambda it: prefetch(it, name="sointu-recording-decode")):
            if sp is not None:
                sp.append(x)  # if it fails, the spill is given up
            yield x

    yield from prefetch(made(), name="sointu-recording-resample")
    if sp is not None and sp.frames >= min(n, r.frames) and sp.frames:
        r.spill = sp
    elif sp is not None:
        sp.close()


def _fades(n: np.ndarray, fi: int, fo: int, frames: int) -> np.ndarray:
    """Gain of the fades at frames ``n`` from a recording's start, as
    :meth:`Placed.contribution` applies them (raised cosines of ``fi``, ``fo`` frames)."""
    g = np.ones(len(n))
    if fi:
        m = n < fi
        g[m] = 0.5 - 0.5 * np.cos(np.pi * (n[m] + 0.5) / fi)
    if fo:
        left = frames - n
        m = left <= fo
        g[m] *= 0.5 - 0.5 * np.cos(np.pi * (left[m] - 0.5) / fo)
    return g


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
                shared[key] = _measured(probe, rate, n_seg)[:2]
            sums, peaks = shared[key]
            k = min(sums.shape[1], n_seg - p.start // S)
            p.unit_sums, p.unit_peaks, p.unit_first = sums[:, :k], peaks[:k], p.start // S
        else:
            p.unit_sums, p.unit_peaks, p.unit_first = _measured(p, rate, n_seg)


# -- the measurements, cached by the recording file's identity and its placement (a gift
# batch, another seed or length of the same session: the same recording is not measured
# again) -----------------------------------------------------------------------------------

#: Measurements kept (the newest; a 30-minute recording's takes ~0.4 MB).
_UNIT_KEEP = 64
#: Bytes of the file's head and tail hashed with its size and modification time.
_HASHED = 1 << 16


def _unit_folder():
    from . import gain_cache

    f = gain_cache.cache_file()
    return None if f is None else f.with_name("recordings")


def _unit_key(p, rate: int, n_seg: int) -> str | None:
    """What a placement's measurement depends on: the file (path, size, modification time,
    its first and last 64 KiB), the session rate and where in a segment it starts, its
    length, the segments it covers, pan, fades; None if the file cannot be read."""
    import hashlib
    import json

    from .. import __version__

    S = rate // 10
    first = p.start // S
    k = max(-(-min(p.stop, n_seg * S) // S) - first, 0)
    try:
        st = p.reader.path.stat()
        with open(p.reader.path, "rb") as f:
            head = f.read(_HASHED)
            f.seek(max(0, st.st_size - _HASHED))
            tail = f.read(_HASHED)
    except OSError:
        return None
    h = hashlib.sha256(json.dumps([
        __version__, _MEASURE, str(p.reader.path.resolve()), st.st_size, st.st_mtime_ns, rate,
        p.start % S, p.frames, k, p.spec.pan, p.spec.fade_in_s, p.spec.fade_out_s,
    ]).encode())
    h.update(head)
    h.update(tail)
    if p.hrir is not None:  # heard through the head's responses
        h.update(np.ascontiguousarray(p.hrir).tobytes())
    return h.hexdigest()[:32]


def _measured(p, rate: int, n_seg: int) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`_unit_sums` of a placement, from the cache when it was measured before."""
    folder = _unit_folder()
    key = None if folder is None else _unit_key(p, rate, n_seg)
    if key is not None:
        try:
            with np.load(folder / f"{key}.npz") as z:
                sums, peaks = z["sums"], z["peaks"]
            if sums.ndim == 2 and sums.shape[0] == 2 and peaks.shape == sums.shape[1:]:
                return sums, peaks, p.start // (rate // 10)
        except (OSError, ValueError, KeyError):
            pass  # not there, or unreadable: measured
    out = _unit_sums(p, rate, n_seg)
    if key is not None:
        _keep_unit(folder, key, out[0], out[1])
    return out


def _keep_unit(folder, key: str, sums: np.ndarray, peaks: np.ndarray) -> None:
    """Write one measurement (atomically), keeping the newest :data:`_UNIT_KEEP`."""
    import os

    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp.npz"
        np.savez(tmp, sums=sums, peaks=peaks)
        os.replace(tmp, folder / f"{key}.npz")
        kept = sorted(folder.glob("[0-9a-f]*.npz"), key=lambda f: f.stat().st_mtime_ns)
        for old in kept[:-_UNIT_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written is not used


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
    # the recordings are read and measured while the bowls' energy is computed (numpy and
    # the decoder release the interpreter's lock)
    failed: list[BaseException] = []

    def measure() -> None:
        try:
            _set_unit(placed, rate, n_seg)
        except BaseException as exc:  # noqa: BLE001 (raised again below, in the caller)
            failed.append(exc)

    reading = threading.Thread(target=measure, name="sointu-recording-levels")
    reading.start()
    try:
        bowls = _modal_sums(audio)[0]
    finally:
        reading.join()
    if failed:
        raise failed[0]
    own = {}
    for p in placed:
        own[id(p)] = _lufs(p.unit_sums, rate)
        if not math.isfinite(own[id(p)]):
            raise UsageError(f"recording {p.reader.path}: silent (its loudness cannot be "
                             "measured); give a recording with sound in it")
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

    k = gain_cache.key(audio, 0.0, 0.0)
    return None if k is None else f"{k}-{_MEASURE}"


def _cached_levels(key: str | None) -> list[float] | None:
    from .gain_cache import read_entries

    path = _levels_file()
    if key is None or path is None:
        return None
    v = read_entries(path).get(key)
    if isinstance(v, list) and all(isinstance(x, float) for x in v):
        return v
    return None


def _cache_levels(key: str | None, levels: list[float]) -> None:
    from .gain_cache import write_entry

    path = _levels_file()
    if key is not None and path is not None:
        write_entry(path, key, levels, 200)


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
