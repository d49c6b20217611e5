"""Rendering a session to a file: normalise, synthesise and encode on two cores.

1. The normalisation gain comes from the session's loudness computed from its modes
   (:mod:`.estimate`: a fraction of a second for an hour, no synthesis).
2. A producer thread synthesises blocks at that gain, meters them (BS.1770 loudness and
   true peak of exactly what is written), dithers and rounds them to PCM, into a short
   queue; the calling thread encodes them to a temporary file (libsndfile releases the
   GIL, so the two overlap), which is renamed into place only when complete.
3. The estimate leaves out the limiter. Should the measured loudness miss the target by more
   than :data:`RETRY_LU` (a session whose loud strokes the limiter turns down a lot), the
   temporary file is dropped and the session rendered again at the gain the measurement
   asks for. The gain used and the loudness measured are cached, so a second render of the
   same session, or live playback, starts from them.

Formats encoded in parallel parts (:func:`_parallel_encoder`) cannot meter in order while
encoding, so their session is measured on both cores first (:mod:`.measure`), at the same
gain. A corrected gain is rounded to :data:`_GAIN_STEP_DB`, so that it comes out the same
from either measurement (they differ in the last bits: the second span's engine state is
computed in closed form) and from live playback's.
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
from .estimate import estimate_gain_db
from .formats import OutputFormat
from .loudness import Loudness, LoudnessMeter, gain_for_target, normalisation_gain_db
from .measure import measure_source
from .parallel_encode import encode_opus_parallel
from .tags import Tags, soundfile_attributes
from .writer import to_pcm32, write_blocks

__all__ = [
    "RenderReport", "Level", "render_session", "session_level", "session_gain_db",
    "CEILING_DBTP", "RETRY_LU", "planned_gain_db",
]

#: True-peak ceiling of every file (dBTP).
CEILING_DBTP = -1.0
#: A render whose measured loudness is farther than this from the target (LU) is rendered
#: again at the corrected gain. The estimate alone lands within 0.06 LU for the shipped
#: presets wherever the limiter is idle.
RETRY_LU = 0.15
#: Grid of corrected gains (dB).
_GAIN_STEP_DB = 0.001

_BLOCK = 8192
#: Frames per block handed from synthesis to the meter and on to the encoder. Large blocks
#: (2.7 s at 48 kHz) make few hand-overs between the three threads: each one is a wait for
#: the GIL, and with 8192-frame blocks the encoder, the longest of the three, lost a sixth
#: of its time waiting (measured: a 60-minute FLAC render 1.1-1.5 s faster).
_WRITE_BLOCK = 1 << 17
#: Blocks a hand-over queue holds (1 MB each as float32 stereo): few, so that how full the
#: queues happen to be moves the peak memory by a few MB at most.
_QUEUE_BLOCKS = 2
#: Shortest session (s) encoded in parallel parts where the format allows it.
PARALLEL_MIN_S = 20


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


def _prefetch(blocks: Iterator[np.ndarray], convert: Callable[[np.ndarray], np.ndarray] | None,
              name: str = "sointu-synth") -> Iterator[np.ndarray]:
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

    thread = threading.Thread(target=produce, name=name, daemon=True)
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


def _pcm_converter(fmt: OutputFormat, seed: int, meter: LoudnessMeter | None = None):
    """Meter, dither (16 bit) and round to int32 PCM in the producer thread, off the
    encoder's."""
    if fmt.bits is None and meter is None:
        return None
    ditherer = Ditherer(fmt.bits, seed=seed) if fmt.needs_dither else None

    def convert(block):
        if meter is not None:
            meter.process(block)
        if fmt.bits is None:
            return block
        if ditherer is not None:
            block = ditherer(block)
        return to_pcm32(block, fmt.bits)

    return convert


@dataclass(frozen=True)
class Level:
    """A session's normalisation gain and the loudness it gives."""

    gain_db: float
    loudness: Loudness


def planned_gain_db(audio: SessionAudio, target_lufs: float) -> float:
    """The gain (dB) a first render uses: estimated from the session's modes, the limiter's
    share included (:func:`.estimate.estimate_gain_db`)."""
    old = audio.gain_db
    try:
        return estimate_gain_db(audio, target_lufs)
    finally:
        audio.gain_db = old


def _settle(audio: SessionAudio, gain_db: float, meter: LoudnessMeter, target_lufs: float,
            ceiling_dbtp: float) -> float | None:
    """None if ``meter`` (the session measured at ``gain_db``) is on target; else the gain
    to render at instead."""
    meter = meter._complete()  # measure any pending frames once, not in every call below
    extra = gain_for_target(meter, target_lufs)
    if audio.limit_dbfs is None:  # nothing else keeps the peaks under the ceiling
        extra = min(extra, normalisation_gain_db(meter.result(), target_lufs, ceiling_dbtp))
        if meter.true_peak_dbtp() > ceiling_dbtp:
            return _on_grid(gain_db + extra)
    if abs(meter.integrated_lufs() - target_lufs) <= RETRY_LU:
        return None
    return _on_grid(gain_db + extra)


def _on_grid(gain_db: float) -> float:
    return round(gain_db / _GAIN_STEP_DB) * _GAIN_STEP_DB


def session_level(audio: SessionAudio, target_lufs: float, ceiling_dbtp: float = CEILING_DBTP,
                  *, workers: int | None = None,
                  planned: Callable[[], float] | None = None) -> Level:
    """The normalisation gain of a session and the loudness it gives: cached, or measured.

    The same gain a render chooses (see the module notes): the planned gain, corrected once
    if a full measurement at it, limiter included, misses the target by more than
    :data:`RETRY_LU`. The result depends only on what is rendered (preset files, seed,
    length, rate, sointu version), so it is kept in the user's cache and a render, or live
    playback, gets it at once.
    """
    key = gain_cache.key(audio, target_lufs, ceiling_dbtp)
    cached = gain_cache.get(key)
    if cached is not None:
        return Level(cached[0], Loudness(*cached[1:]))
    old = audio.gain_db
    try:
        gain = planned() if planned is not None else planned_gain_db(audio, target_lufs)
        audio.gain_db = gain
        meter = measure_source(audio, workers=workers)
        better = _settle(audio, gain, meter, target_lufs, ceiling_dbtp)
    finally:
        audio.gain_db = old
    extra = 0.0 if better is None else better - gain
    level = Level(gain + extra, Loudness(meter.integrated_lufs_at(extra),
                                         meter.true_peak_dbtp() + extra,
                                         meter.sample_peak_dbfs() + extra))
    loud = level.loudness
    gain_cache.put(key, level.gain_db, loud.integrated_lufs, loud.true_peak_dbtp,
                   loud.sample_peak_dbfs)
    return level


def session_gain_db(audio: SessionAudio, target_lufs: float, ceiling_dbtp: float = CEILING_DBTP,
                    *, workers: int | None = None) -> float:
    """The normalisation gain (dB) of a session; see :func:`session_level`."""
    return session_level(audio, target_lufs, ceiling_dbtp, workers=workers).gain_db


class _Again(Exception):
    """The measured loudness missed the target: render again at ``gain_db``."""

    def __init__(self, gain_db: float):
        super().__init__(gain_db)
        self.gain_db = gain_db


def render_session(audio: SessionAudio, path: Path, *, fmt: OutputFormat, tags: Tags,
                   target_lufs: float, force: bool = False, ceiling_dbtp: float = CEILING_DBTP,
                   progress: Callable[[int], None] | None = None,
                   planned: Callable[[], float] | None = None) -> RenderReport:
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
    planned : callable, optional
        Returns the planned gain (dB) when it is already being computed, as by
        :class:`.estimate.GainEstimate`; by default it is computed here.

    Returns
    -------
    RenderReport
    """
    t0 = time.monotonic()
    path = Path(path)
    check_target(path, force)
    key = gain_cache.key(audio, target_lufs, ceiling_dbtp)
    cached = gain_cache.get(key)
    with raise_on_sigterm():
        level = None if cached is None else Level(cached[0], Loudness(*cached[1:]))
        if level is None and (_parallel_encoder(audio, fmt, tags) is not None
                              or audio.limit_dbfs is None):
            level = session_level(audio, target_lufs, ceiling_dbtp,  # measured first
                                  planned=planned)
        if level is not None:
            result = _write(audio, path, level.gain_db, None, fmt=fmt, tags=tags, force=force,
                            progress=progress)
        else:
            gain = planned() if planned is not None else planned_gain_db(audio, target_lufs)
            for attempt in range(2):
                meter = LoudnessMeter(audio.sample_rate, 2, expected_frames=audio.total_frames)

                def check(gain=gain, meter=meter, last=attempt == 1):
                    better = _settle(audio, gain, meter, target_lufs, ceiling_dbtp)
                    if better is not None and not last:
                        raise _Again(better)

                try:
                    result = _write(audio, path, gain, meter, fmt=fmt, tags=tags, force=force,
                                    progress=progress, check=check)
                    break
                except _Again as again:
                    gain = again.gain_db
            level = Level(gain, meter.result())
            loud = level.loudness
            gain_cache.put(key, gain, loud.integrated_lufs, loud.true_peak_dbtp,
                           loud.sample_peak_dbfs)
    return RenderReport(path=path, bytes=result.bytes, frames=audio.total_frames,
                        sample_rate=audio.sample_rate, seed=audio.timeline.seed,
                        gain_db=level.gain_db, target_lufs=target_lufs,
                        loudness=level.loudness, wall_s=time.monotonic() - t0)


def _write(audio: SessionAudio, path: Path, gain_db: float, meter: LoudnessMeter | None, *,
           fmt: OutputFormat, tags: Tags, force: bool, progress, check=None):
    """One pass: synthesise ``audio`` at ``gain_db`` (metered into ``meter``) and write it."""
    audio.gain_db = gain_db
    encoder = _parallel_encoder(audio, fmt, tags)
    if encoder is not None:
        blocks = None
    else:
        # synthesis in one thread, metering and rounding to PCM in another, encoding in
        # this one: each stage mostly runs with the GIL released, so they share the cores
        blocks = audio.blocks(_WRITE_BLOCK)
        convert = _pcm_converter(fmt, audio.timeline.seed, meter)
        if convert is not None:
            blocks = _prefetch(blocks, None)
        blocks = _prefetch(blocks, convert, name="sointu-meter")
    return write_blocks(path, blocks, sample_rate=audio.sample_rate,
                        total_frames=audio.total_frames, fmt=fmt, tags=tags,
                        phases=list(audio.timeline.phases), force=force,
                        progress=progress, encoder=encoder, check=check)
