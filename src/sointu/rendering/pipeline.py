"""Rendering a session to a file: normalise, synthesise and encode on two cores.

1. The normalisation gain comes from the session's loudness computed from its modes
   (:mod:`.estimate`: a fraction of a second for an hour, no synthesis).
2. A producer thread synthesises blocks at that gain, meters them (BS.1770 loudness and
   true peak of exactly what is written), dithers and rounds them to PCM, into a short
   queue; the calling thread encodes them to a temporary file (libsndfile releases the
   GIL, so the two overlap), which is renamed into place only when complete.
3. Should the measured loudness miss the target by more than
   :data:`~.level.RETRY_LU` (a session whose loud strokes the limiter turns down a lot),
   the temporary file is dropped and the session rendered again at the gain the
   measurement asks for. The gain used and the loudness measured are cached, so a second
   render of the same session, or live playback, starts from them.

Formats encoded in parallel parts (:func:`_parallel_encoder`) cannot meter in order while
encoding, so their session is measured on both cores first (:mod:`.measure`), at the same
gain. Which of these a render does is decided in one place, :func:`.level.resolve_level`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OutputError, SointuError
from ..session.audio import SessionAudio
from ..signals import raise_on_sigterm
from . import mp3_parallel
from .atomic import check_name_lengths, check_target
from .dither import Ditherer
from .formats import OutputFormat
from .level import (
    CEILING_DBTP,
    RETRY_LU,
    Level,
    level_curve,
    planned_gain_db,
    remember,
    resolve_level,
    session_gain_db,
    settle,
)
from .loudness import Loudness, LoudnessMeter
from .loudness_curve import LoudnessCurve
from .markers import sidecar_paths
from .parallel_encode import encode_opus_parallel
from .prefetch import prefetch
from .tags import Tags, soundfile_attributes
from .writer import to_pcm32, write_blocks

__all__ = [
    "RenderReport", "Level", "render_session", "session_gain_db",
    "CEILING_DBTP", "RETRY_LU", "planned_gain_db",
]

_BLOCK = 8192
#: Frames per block handed from synthesis to the meter and on to the encoder. Large blocks
#: (2.7 s at 48 kHz) make few hand-overs between the three threads: each one is a wait for
#: the GIL, and with 8192-frame blocks the encoder, the longest of the three, lost a sixth
#: of its time waiting (measured: a 60-minute FLAC render 1.1-1.5 s faster).
_WRITE_BLOCK = 1 << 17
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
    #: loudness over time of the written signal, when asked for (``render_session(curve=)``)
    curve: LoudnessCurve | None = None


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


def _parallel_encoder(audio: SessionAudio, fmt: OutputFormat, tags: Tags, progress=None):
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
                    parts=1 if short else None, progress=progress)
            except SointuError:
                raise
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
                                 attributes=soundfile_attributes(fmt, tags),
                                 progress=progress)
        except SointuError:
            raise
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


def render_session(audio: SessionAudio, path: Path, *, fmt: OutputFormat, tags: Tags,
                   target_lufs: float, force: bool = False, ceiling_dbtp: float = CEILING_DBTP,
                   progress: Callable[[int], None] | None = None,
                   planned: Callable[[], float] | None = None, curve: bool = False,
                   cover: Callable[[], object] | None = None,
                   curve_ready: Callable[[LoudnessCurve], None] | None = None) -> RenderReport:
    """Render ``audio`` to ``path``, loudness-normalised, tagged and chaptered.

    Parameters
    ----------
    audio : SessionAudio
        The session (its ``gain_db`` is neither used nor changed: the level is decided
        here, :func:`.level.resolve_level`).
    path : Path
        Target file; written via a temporary file and renamed when complete.
    fmt : OutputFormat
        From :func:`sointu.rendering.formats.resolve_format`.
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
    curve : bool
        Return the loudness over time of the file in the report (``report.curve``): from
        the render's own meter or the cache, measured again only if neither has it.
    cover : callable, optional
        Returns the front cover to embed (a :class:`.cover_art.CoverImage`, or None for
        none), called once the audio is encoded; see :func:`.writer.write_blocks`.
    curve_ready : callable, optional
        Called with the loudness curve as soon as it is known: before the audio is written
        (cached, or measured first for the formats encoded in parts), else once the audio is
        encoded and kept, before it is tagged; so a picture of it is drawn meanwhile.

    Returns
    -------
    RenderReport
    """
    t0 = time.monotonic()
    path = Path(path)
    targets = [path, *sidecar_paths(path)]  # every name checked before any work
    check_name_lengths(targets)
    for target in targets:
        check_target(target, force)
    with raise_on_sigterm():
        level = resolve_level(audio, target_lufs, ceiling_dbtp, planned=planned,
                              measure_first=_parallel_encoder(audio, fmt, tags) is not None
                              or audio.limit_dbfs is None,
                              curve=curve or curve_ready is not None)
        if level.loudness is not None:  # cached, or measured first
            if curve_ready is not None and level.curve is not None:
                curve_ready(level.curve)
            result = _write(audio.at_gain(level.gain_db), path, None, fmt=fmt, tags=tags,
                            force=force, progress=progress, cover=cover)
        else:  # metered while written; once more at the corrected gain if off target
            gain = level.gain_db
            for last in (False, True):
                meter = LoudnessMeter(audio.sample_rate, 2, expected_frames=audio.total_frames)
                better = None

                def on_target(gain=gain, meter=meter, last=last) -> bool:
                    nonlocal better
                    better = settle(audio, gain, meter, target_lufs, ceiling_dbtp)
                    kept = better is None or last
                    if kept and curve_ready is not None:
                        curve_ready(LoudnessCurve.from_meter(meter))
                    return kept

                result = _write(audio.at_gain(gain), path, meter, fmt=fmt, tags=tags,
                                force=force, progress=progress, check=on_target, cover=cover)
                if result is not None:  # kept: on target, or the second pass
                    break
                gain = better
            level = remember(audio, target_lufs, ceiling_dbtp,
                             Level(gain, meter.result(), LoudnessCurve.from_meter(meter)))
        measured = None
        if curve:  # a gain cached without its curve: measured once
            measured = level_curve(audio, level, target_lufs, ceiling_dbtp)
    return RenderReport(path=path, bytes=result.bytes, frames=audio.total_frames,
                        sample_rate=audio.sample_rate, seed=audio.timeline.seed,
                        gain_db=level.gain_db, target_lufs=target_lufs,
                        loudness=level.loudness, wall_s=time.monotonic() - t0,
                        curve=measured)


def _write(audio: SessionAudio, path: Path, meter: LoudnessMeter | None, *,
           fmt: OutputFormat, tags: Tags, force: bool, progress, check=None, cover=None):
    """One pass: synthesise ``audio`` at its gain (metered into ``meter``) and write it;
    None when ``check`` dropped it."""
    encoder = _parallel_encoder(audio, fmt, tags, progress)
    if encoder is not None:
        blocks = None
    else:
        # synthesis in one thread, metering and rounding to PCM in another, encoding in
        # this one: each stage mostly runs with the GIL released, so they share the cores
        blocks = audio.blocks(_WRITE_BLOCK)
        convert = _pcm_converter(fmt, audio.timeline.seed, meter)
        if convert is not None:
            blocks = prefetch(blocks, None)
        blocks = prefetch(blocks, convert, name="sointu-meter")
    return write_blocks(path, blocks, sample_rate=audio.sample_rate,
                        total_frames=audio.total_frames, fmt=fmt, tags=tags,
                        phases=list(audio.timeline.phases), force=force,
                        progress=progress, encoder=encoder, check=check, cover=cover)
