"""Rendering a session to a file: measure, normalise, synthesise and encode on two cores.

1. The loudness of the whole session is measured first (both cores, see :mod:`.measure`),
   and the gain that reaches the target without passing the true-peak ceiling is chosen.
2. A producer thread synthesises blocks at that gain into a short queue and meters them;
   the calling thread encodes them to a temporary file (libsndfile releases the GIL, so the
   two overlap), which is renamed into place only when complete.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..session.audio import SessionAudio
from . import gain_cache
from .atomic import check_target, raise_on_sigterm
from .dither import Ditherer
from .formats import OutputFormat
from .loudness import Loudness, LoudnessMeter, gain_for_target, normalisation_gain_db
from .measure import measure_source
from .tags import Tags
from .writer import write_blocks

__all__ = [
    "RenderReport", "render_session", "session_gain_db", "cached_session_gain_db",
    "CEILING_DBTP",
]

#: True-peak ceiling of every file (dBTP).
CEILING_DBTP = -1.0

_BLOCK = 8192
_QUEUE_BLOCKS = 32


@dataclass(frozen=True)
class RenderReport:
    """What a render did (for the summary line and the gift manifest)."""

    path: Path
    bytes: int
    frames: int
    sample_rate: int
    seed: int
    gain_db: float
    target_lufs: float
    loudness: Loudness  # of the written signal
    wall_s: float


def _prefetch(blocks: Iterator[np.ndarray], meter: LoudnessMeter) -> Iterator[np.ndarray]:
    """Run ``blocks`` in a producer thread (metering each block) and yield them here."""
    q: queue.Queue = queue.Queue(maxsize=_QUEUE_BLOCKS)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for block in blocks:
                meter.process(block)
                while not stop.is_set():
                    try:
                        q.put(block, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)

    thread = threading.Thread(target=produce, name="sointu-synth", daemon=True)
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


def cached_session_gain_db(audio: SessionAudio, target_lufs: float,
                           ceiling_dbtp: float = CEILING_DBTP) -> float | None:
    """The session's normalisation gain (dB) if a render or playback already measured it."""
    return gain_cache.get(gain_cache.key(audio, target_lufs, ceiling_dbtp))


def session_gain_db(audio: SessionAudio, target_lufs: float,
                    ceiling_dbtp: float = CEILING_DBTP, *, workers: int | None = None) -> float:
    """The normalisation gain (dB) of a session: measured on both cores, cached on disk.

    The session's own limiter keeps sample peaks 1 dB under the true-peak ceiling, so the
    gain aims at the loudness target alone; when the limiter will act, a second pass
    measures its effect and makes it up. The gain depends only on what is rendered (preset,
    seed, length, rate, sointu version), so it is kept in the user's cache and a second
    render, or live playback, gets it at once.
    """
    key = gain_cache.key(audio, target_lufs, ceiling_dbtp)
    cached = gain_cache.get(key)
    if cached is not None:
        return cached
    old = audio.gain_db
    try:
        audio.gain_db = 0.0
        raw = measure_source(audio, workers=workers)
        gain = gain_for_target(raw, target_lufs)
        limit = audio.limit_dbfs
        if limit is not None and raw.sample_peak_dbfs() + gain > limit:
            # the limiter will turn the loudest attacks down, which lowers the loudness a
            # little: measure again with it at work and make up the difference
            audio.gain_db = gain
            gain += gain_for_target(measure_source(audio, workers=workers), target_lufs)
        elif limit is None:
            gain = min(gain, normalisation_gain_db(raw.result(), target_lufs, ceiling_dbtp))
    finally:
        audio.gain_db = old
    gain_cache.put(key, gain)
    return gain


def render_session(audio: SessionAudio, path: Path, *, fmt: OutputFormat, tags: Tags,
                   target_lufs: float, force: bool = False, ceiling_dbtp: float = CEILING_DBTP,
                   progress: Callable[[int], None] | None = None,
                   gain_db: float | None = None) -> RenderReport:
    """Render ``audio`` to ``path``, loudness-normalised, tagged and chaptered.

    Parameters
    ----------
    audio : SessionAudio
        The session (its ``gain_db`` is set here).
    path : Path
        Target file; written via a temporary file and renamed when complete.
    fmt : OutputFormat
        From :func:`sointu.render.formats.resolve_format`.
    tags : Tags
        Title, artist, comment, ...
    target_lufs : float
        Integrated loudness target (LUFS).
    force : bool
        Overwrite an existing file.
    ceiling_dbtp : float
        True-peak ceiling (dBTP).
    progress : callable, optional
        Called with the number of frames written so far.
    gain_db : float, optional
        A known normalisation gain (skips the measuring pass).

    Returns
    -------
    RenderReport
    """
    t0 = time.monotonic()
    path = Path(path)
    check_target(path, force)
    with raise_on_sigterm():
        if gain_db is None:
            gain_db = session_gain_db(audio, target_lufs, ceiling_dbtp)
        audio.gain_db = gain_db
        meter = LoudnessMeter(audio.sample_rate, 2)
        blocks = _prefetch(audio.blocks(_BLOCK), meter)
        ditherer = Ditherer(fmt.bits, seed=audio.timeline.seed) if fmt.needs_dither else None
        result = write_blocks(path, blocks, sample_rate=audio.sample_rate,
                              total_frames=audio.total_frames, fmt=fmt, tags=tags,
                              phases=list(audio.timeline.phases), force=force,
                              ditherer=ditherer, progress=progress)
    return RenderReport(path=path, bytes=result.bytes, frames=audio.total_frames,
                        sample_rate=audio.sample_rate, seed=audio.timeline.seed,
                        gain_db=gain_db, target_lufs=target_lufs, loudness=meter.result(),
                        wall_s=time.monotonic() - t0)
