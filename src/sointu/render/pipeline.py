"""Rendering a session to a file: measure, normalise, synthesise and encode on two cores.

1. The loudness of the whole session is measured first (both cores, see :mod:`.measure`),
   and the gain that reaches the target without passing the true-peak ceiling is chosen.
2. A producer thread synthesises blocks at that gain, dithers and rounds them to PCM, into
   a short queue; the calling thread encodes them to a temporary file (libsndfile releases
   the GIL, so the two overlap), which is renamed into place only when complete. The
   loudness reported is the one measured in step 1 at the final gain (the file is not
   metered again: that cost as much CPU as the synthesis).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OutputError
from ..session.audio import SessionAudio
from . import gain_cache, mp3_parallel
from .atomic import check_target, raise_on_sigterm
from .dither import Ditherer
from .formats import OutputFormat
from .loudness import Loudness, gain_for_target, normalisation_gain_db
from .measure import measure_source
from .parallel_encode import encode_opus_parallel
from .tags import Tags, soundfile_attributes
from .writer import to_pcm32, write_blocks

__all__ = [
    "RenderReport", "Level", "render_session", "session_level", "session_gain_db",
    "CEILING_DBTP",
]

#: True-peak ceiling of every file (dBTP).
CEILING_DBTP = -1.0

_BLOCK = 8192
#: Shortest session (s) encoded in parallel parts where the format allows it.
PARALLEL_MIN_S = 20
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
    loudness: Loudness  # of the written signal, measured before writing it
    wall_s: float


def _prefetch(blocks: Iterator[np.ndarray], convert: Callable[[np.ndarray], np.ndarray] | None
              ) -> Iterator[np.ndarray]:
    """Run ``blocks`` (and ``convert`` on each) in a producer thread; yield them here."""
    q: queue.Queue = queue.Queue(maxsize=_QUEUE_BLOCKS)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for block in blocks:
                if convert is not None:
                    block = convert(block)
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


def _span(audio: SessionAudio, start: int, stop: int) -> Iterator[np.ndarray]:
    """Blocks of ``audio`` covering frames [start, stop) exactly."""
    pos = start
    for block in audio.blocks(_BLOCK, start):
        if pos + len(block) > stop:
            block = block[: stop - pos]
        yield block
        pos += len(block)
        if pos >= stop:
            return


def _parallel_encoder(audio: SessionAudio, fmt: OutputFormat, tags: Tags):
    """An encoder that uses both cores where the format allows clean joins, else None.

    Opus packets sit on a fixed 20 ms grid, so parts encoded side by side (each hearing
    80 ms before its first kept packet) join into one stream with no seam (see
    :mod:`.parallel_encode`). MP3 at 32, 44.1 and 48 kHz goes to LAME directly with its bit
    reservoir off, so its frames join the same way (:mod:`.mp3_parallel`; sessions shorter
    than :data:`PARALLEL_MIN_S` as one part); without libmp3lame, or at the lower MPEG-2
    rates, libsndfile encodes MP3 on one core. The others encode fast enough on one core.
    """
    short = audio.total_frames < PARALLEL_MIN_S * audio.sample_rate
    if fmt.format == "MP3" and mp3_parallel.available(audio.sample_rate):
        def encode_mp3(tmp: Path) -> int:
            try:
                mp3_parallel.encode_mp3_parallel(
                    tmp, lambda a, b: _span(audio, a, b), total_frames=audio.total_frames,
                    sample_rate=audio.sample_rate, vbr_quality=10 * fmt.compression_level,
                    parts=1 if short else None)
            except ValueError as exc:
                raise OutputError(f"encoding {tmp.name} in parallel parts failed: "
                                  f"{exc}") from exc
            return audio.total_frames

        return encode_mp3
    if fmt.subtype != "OPUS" or audio.sample_rate != 48000 or short:
        return None

    def encode(tmp: Path) -> int:
        try:
            encode_opus_parallel(tmp, lambda a, b: _span(audio, a, b),
                                 total_frames=audio.total_frames, sample_rate=48000,
                                 soundfile_kwargs=fmt.soundfile_kwargs(),
                                 attributes=soundfile_attributes(fmt, tags))
        except ValueError as exc:
            raise OutputError(f"encoding {tmp.name} in parallel parts failed: {exc}") from exc
        return audio.total_frames

    return encode


def _pcm_converter(fmt: OutputFormat, seed: int):
    """Dither (16 bit) and round to int32 PCM in the producer thread, off the encoder's."""
    if fmt.bits is None:
        return None
    ditherer = Ditherer(fmt.bits, seed=seed) if fmt.needs_dither else None

    def convert(block):
        if ditherer is not None:
            block = ditherer(block)
        return to_pcm32(block, fmt.bits)

    return convert


@dataclass(frozen=True)
class Level:
    """A session's normalisation gain and the loudness it gives (measured before writing)."""

    gain_db: float
    loudness: Loudness


def session_level(audio: SessionAudio, target_lufs: float, ceiling_dbtp: float = CEILING_DBTP,
                  *, workers: int | None = None) -> Level:
    """The normalisation gain of a session and its loudness: measured on both cores, cached.

    The session's own limiter keeps sample peaks 1 dB under the true-peak ceiling, so the
    gain aims at the loudness target alone. A quick estimate from a quarter of the session
    gives a first gain; one full pass at that gain, limiter included, measures the loudness
    the file will have, and the small remaining correction is solved on its 100 ms sums
    (the limiter's share of it changes only in the second order). The result depends only
    on what is rendered (preset files, seed, length, rate, sointu version), so it is kept
    in the user's cache and a second render, or live playback, gets it at once.
    """
    key = gain_cache.key(audio, target_lufs, ceiling_dbtp)
    cached = gain_cache.get(key)
    if cached is not None:
        return Level(cached[0], Loudness(*cached[1:]))
    old = audio.gain_db
    try:
        # a quick estimate from a quarter of the session gives a first gain; one full pass
        # at that gain, with the limiter at work, then measures what the file will be
        audio.gain_db = 0.0
        estimate = gain_for_target(measure_source(audio, workers=workers, sample=4),
                                   target_lufs)
        audio.gain_db = at = estimate
        meter = measure_source(audio, workers=workers)
        gain = estimate + gain_for_target(meter, target_lufs)
        if audio.limit_dbfs is None:
            gain = min(gain, at + normalisation_gain_db(meter.result(), target_lufs,
                                                        ceiling_dbtp))
    finally:
        audio.gain_db = old
    extra = gain - at
    level = Level(gain, Loudness(meter.integrated_lufs_at(extra), meter.true_peak_dbtp() + extra,
                                 meter.sample_peak_dbfs() + extra))
    loud = level.loudness
    gain_cache.put(key, level.gain_db, loud.integrated_lufs, loud.true_peak_dbtp,
                   loud.sample_peak_dbfs)
    return level


def session_gain_db(audio: SessionAudio, target_lufs: float, ceiling_dbtp: float = CEILING_DBTP,
                    *, workers: int | None = None) -> float:
    """The normalisation gain (dB) of a session; see :func:`session_level`."""
    return session_level(audio, target_lufs, ceiling_dbtp, workers=workers).gain_db


def render_session(audio: SessionAudio, path: Path, *, fmt: OutputFormat, tags: Tags,
                   target_lufs: float, force: bool = False, ceiling_dbtp: float = CEILING_DBTP,
                   progress: Callable[[int], None] | None = None) -> RenderReport:
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

    Returns
    -------
    RenderReport
    """
    t0 = time.monotonic()
    path = Path(path)
    check_target(path, force)
    with raise_on_sigterm():
        level = session_level(audio, target_lufs, ceiling_dbtp)
        audio.gain_db = level.gain_db
        encoder = _parallel_encoder(audio, fmt, tags)
        if encoder is not None:
            blocks = None
        else:
            blocks = _prefetch(audio.blocks(_BLOCK), _pcm_converter(fmt, audio.timeline.seed))
        result = write_blocks(path, blocks, sample_rate=audio.sample_rate,
                              total_frames=audio.total_frames, fmt=fmt, tags=tags,
                              phases=list(audio.timeline.phases), force=force,
                              progress=progress, encoder=encoder)
    return RenderReport(path=path, bytes=result.bytes, frames=audio.total_frames,
                        sample_rate=audio.sample_rate, seed=audio.timeline.seed,
                        gain_db=level.gain_db, target_lufs=target_lufs,
                        loudness=level.loudness, wall_s=time.monotonic() - t0)
