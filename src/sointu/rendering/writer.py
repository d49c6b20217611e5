"""Write a stream of audio blocks to a finished, tagged, chaptered file, or to nothing.

:func:`write_blocks` is the one place where audio reaches the disk. It encodes block by
block (memory stays flat for any length), then adds tags and phase markers, verifies the
frame count by reading the header back, writes the ``.cue`` and ``.chapters.json``
sidecars, and only then moves everything into place together (see
:mod:`sointu.rendering.atomic`). If anything fails, or Ctrl-C arrives, no temporary file is
left and an existing target is untouched.

Callers that may receive SIGTERM (the CLI) wrap the call in
:func:`sointu.signals.raise_on_sigterm` so that termination also cleans up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import OutputError
from .atomic import atomic_outputs, describe_os_error, diagnose_write_failure
from .formats import OutputFormat
from .markers import chapters_json, cue_sheet, sidecar_paths, validate_phases
from .tags import Tags, soundfile_attributes, validate_tags

__all__ = ["CHANNELS", "WriteResult", "quantise", "to_pcm32", "write_blocks"]

#: Channels of every file sointu writes.
CHANNELS = 2
#: Frames rounded to PCM at a time by :func:`to_pcm32` (256 kB of float32 stereo).
_PCM_SLICE = 32768


@dataclass(frozen=True)
class WriteResult:
    """What was written.

    Attributes
    ----------
    path : Path
        The audio file, in place.
    bytes : int
        Its size on disk (bytes), tags and markers included.
    frames : int
        Frames written.
    seconds : float
        Length of the audio (s): ``frames / sample_rate``.
    wall_s : float
        Time taken (s).
    sidecars : tuple of Path
        The ``.cue`` and ``.chapters.json`` files (empty without phases).
    """

    path: Path
    bytes: int
    frames: int
    seconds: float
    wall_s: float = 0.0
    sidecars: tuple[Path, ...] = ()


def _libsndfile_failure(tmp: Path, path: Path, exc: BaseException) -> OutputError:
    return OutputError(diagnose_write_failure(tmp, path, f"libsndfile: {exc}"))


def quantise(block: np.ndarray, bits: int) -> np.ndarray:
    """Round to the nearest step of a ``bits`` PCM grid and clip to its range.

    libsndfile 1.2.2 converts float to WAV PCM by truncating toward minus infinity (a
    -0.5 LSB offset and truncation distortion; measured: half of all 16-bit samples one LSB
    low), while values already on the grid ``k / 2**(bits - 1)`` are stored exactly in WAV
    and FLAC. So the writer rounds every PCM block itself. Idempotent for values on the
    grid (a ditherer's output passes unchanged).

    Parameters
    ----------
    block : numpy.ndarray, float, shape (n, channels)
        Samples, full scale 1.0.
    bits : int
        16 or 24.

    Returns
    -------
    numpy.ndarray, same dtype and shape
        ``clip(rint(x * 2**(bits-1)), -2**(bits-1), 2**(bits-1) - 1) / 2**(bits-1)``
        (exact in float32 and float64: the scale is a power of two).
    """
    scale = block.dtype.type(2.0 ** (bits - 1))
    q = np.rint(block * scale)
    np.clip(q, -scale, scale - 1, out=q)
    q /= scale
    return q


def to_pcm32(block: np.ndarray, bits: int) -> np.ndarray:
    """Round to the nearest step of a ``bits`` PCM grid as left-aligned int32 samples.

    libsndfile stores the top ``bits`` of int32 input as they are (no float conversion, so
    encoding is cheaper), and a caller can do this rounding in another thread than the
    encoder. Same values as :func:`quantise`. Done in slices of :data:`_PCM_SLICE` frames,
    so that the temporaries stay in the processor's cache (a 5.5 s block at once took
    four times as long).
    """
    scale = 2.0 ** (bits - 1)
    block = np.asarray(block)
    kind = np.result_type(block.dtype, np.float32).type
    out = np.empty(block.shape, np.int32)
    for i in range(0, block.shape[0], _PCM_SLICE):
        q = block[i:i + _PCM_SLICE] * kind(scale)
        np.rint(q, out=q)
        np.clip(q, -scale, scale - 1, out=q)
        o = out[i:i + _PCM_SLICE]
        np.copyto(o, q, casting="unsafe")
        np.left_shift(o, 32 - bits, out=o)
    return out


def _check_block(block, index: int) -> np.ndarray:
    arr = np.asarray(block)
    if arr.ndim == 2 and arr.shape[1] == CHANNELS and arr.dtype == np.int32:
        return arr  # already PCM (see to_pcm32)
    if arr.ndim != 2 or arr.shape[1] != CHANNELS or arr.dtype.kind != "f":
        raise OutputError(f"audio block {index} has shape {arr.shape} and type {arr.dtype}; "
                          f"expected floats of shape (n, {CHANNELS})")
    return arr


def _encode(tmp: Path, path: Path, blocks: Iterable, *, sample_rate: int, total_frames: int,
            fmt: OutputFormat, tags: Tags, ditherer, progress) -> int:
    """Encode ``blocks`` into ``tmp``; return the number of frames written."""
    try:
        f = sf.SoundFile(tmp, "w", samplerate=sample_rate, channels=CHANNELS,
                         **fmt.soundfile_kwargs())
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise OutputError(f"cannot open {path.name} for writing as {fmt.format}/{fmt.subtype} "
                          f"at {sample_rate} Hz: {exc}") from exc
    done = 0
    try:
        for name, value in soundfile_attributes(fmt, tags).items():
            setattr(f, name, value)
        for index, block in enumerate(blocks):
            arr = _check_block(block, index)
            n = arr.shape[0]
            if done + n > total_frames:
                raise OutputError(f"the audio source gave more than the {total_frames} frames "
                                  f"announced for {path.name}; nothing was written")
            if arr.dtype.kind == "f":
                if ditherer is not None and fmt.needs_dither:
                    arr = np.asarray(ditherer(arr))
                if fmt.bits is not None:
                    arr = quantise(arr, fmt.bits)
            try:
                f.write(arr)
            except (sf.LibsndfileError, RuntimeError, AssertionError) as exc:
                raise _libsndfile_failure(tmp, path, exc) from exc
            done += n
            if f.frames != done:  # a short write (the assert above is gone under -O)
                raise OutputError(diagnose_write_failure(
                    tmp, path, f"only {f.frames} of {done} frames were accepted"))
            if progress is not None:
                progress(done)
    except BaseException:
        try:
            f.close()
        except Exception:  # the original failure is the one to report
            pass
        raise
    try:
        f.close()
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise _libsndfile_failure(tmp, path, exc) from exc
    if done != total_frames:
        raise OutputError(f"the audio source ended after {done} of {total_frames} frames "
                          f"for {path.name}; nothing was written")
    return done


def _add_metadata(tmp: Path, path: Path, fmt: OutputFormat, tags: Tags, phases,
                  sample_rate: int, cover) -> None:
    from mutagen import MutagenError

    from .cover_art import holds_pictures
    from .metadata import write_metadata

    image = cover() if cover is not None and holds_pictures(fmt) else None
    try:
        write_metadata(tmp, fmt, tags, phases, sample_rate, image)
    except MutagenError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OSError):
            raise OutputError(describe_os_error(cause, path)) from exc
        raise OutputError(f"could not write tags, markers or the cover to {path.name}: {exc}; "
                          f"nothing was written") from exc


def _verify(tmp: Path, path: Path, frames: int, sample_rate: int) -> None:
    try:
        info = sf.info(str(tmp))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise OutputError(f"{path.name} could not be read back after writing ({exc}); "
                          f"nothing was written") from exc
    if info.frames != frames or info.samplerate != sample_rate:
        raise OutputError(f"{path.name} reads back as {info.frames} frames at "
                          f"{info.samplerate} Hz instead of {frames} at {sample_rate} Hz; "
                          f"nothing was written")


def _write_text(tmp: Path, text: str) -> None:
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_blocks(path, blocks: Iterable, *, sample_rate: int, total_frames: int,
                 fmt: OutputFormat, tags: Tags | None, phases=(), force: bool = False,
                 ditherer: Callable[[np.ndarray], np.ndarray] | None = None,
                 progress: Callable[[int], None] | None = None,
                 encoder: Callable[[Path], int] | None = None,
                 check: Callable[[], bool] | None = None,
                 cover: Callable[[], object] | None = None) -> WriteResult | None:
    """Write audio blocks to ``path`` atomically, with tags, markers and sidecars.

    Parameters
    ----------
    path : str or os.PathLike
        Target audio file.
    blocks : iterable of numpy.ndarray
        Float blocks of shape (n, 2), full scale 1.0, ``total_frames`` frames in all. They
        are consumed one by one (never collected).
    sample_rate : int
        Hz.
    total_frames : int
        Frames the blocks add up to; a source that gives fewer or more is an error.
    fmt : OutputFormat
        From :func:`sointu.rendering.formats.resolve_format`.
    tags : Tags or None
        Text tags (validated before anything is written).
    phases : sequence of Phase
        Named spans in seconds; written as markers and sidecars (none without phases).
    force : bool
        Replace an existing file and sidecars.
    ditherer : callable, optional
        ``block -> block`` applied when ``fmt.needs_dither`` (e.g.
        ``sointu.rendering.dither.Ditherer(16, seed)``). PCM blocks are then rounded to the
        nearest step of the bit depth (:func:`quantise`), whether dithered or not.
    progress : callable, optional
        Called with the number of frames written so far after every block.
    encoder : callable, optional
        ``encoder(temporary_path) -> frames`` encodes the audio itself instead of
        ``blocks`` (e.g. :func:`sointu.rendering.parallel_encode.encode_opus_parallel`); tags,
        markers, sidecars and the atomic rename are done here as usual.
    check : callable, optional
        Called once the audio is encoded, before anything is put in place: when it returns
        False, nothing is put in place and None is returned (the render pipeline then
        renders again, the measured loudness having missed its target). An exception it
        raises leaves nothing behind, as any failure does.
    cover : callable, optional
        Returns the front cover (a :class:`sointu.rendering.cover_art.CoverImage`) or None;
        called once the file is kept and its tags are written (so a cover made meanwhile in
        another thread is waited for only then) and embedded before anything is put in
        place. Formats that hold no pictures (WAV) get none.

    Returns
    -------
    WriteResult or None
        None only when ``check`` returned False.

    Raises
    ------
    OutputError
        The target or a sidecar exists (without ``force``), the folder is missing or not
        writable, the disk is full, a file-size limit is hit, the encoder fails, or the
        source gives the wrong number of frames. Nothing is left behind.
    UsageError
        A tag value is not allowed.
    KeyboardInterrupt
        Re-raised after cleanup.
    """
    t0 = time.monotonic()
    path = Path(path)
    tags = validate_tags(tags if tags is not None else Tags())
    if not isinstance(total_frames, (int, np.integer)) or total_frames <= 0:
        raise OutputError(f"cannot write {path.name}: total_frames must be a positive whole "
                          f"number, got {total_frames!r}")
    phases = validate_phases(phases or (), total_frames / sample_rate)
    sidecars = list(sidecar_paths(path)) if phases else []
    try:
        frames = _write_in_place(path, sidecars, blocks, sample_rate=sample_rate,
                        total_frames=total_frames, fmt=fmt, tags=tags, phases=phases,
                        force=force, ditherer=ditherer, progress=progress, encoder=encoder,
                        check=check, cover=cover)
    except _Dropped:
        return None
    return WriteResult(path=path, bytes=path.stat().st_size, frames=frames,
                       seconds=frames / sample_rate, wall_s=time.monotonic() - t0,
                       sidecars=tuple(sidecars))


class _Dropped(Exception):
    """``check`` said not to keep the file: leave the atomic outputs without placing it."""


def _write_in_place(path: Path, sidecars: list[Path], blocks, *, sample_rate, total_frames,
                    fmt, tags, phases, force, ditherer, progress, encoder, check,
                    cover) -> int:
    """Encode, tag and verify into temporary files and put them in place; the frames."""
    with atomic_outputs([path, *sidecars], force=force) as temps:
        tmp = temps[0]
        if encoder is not None:
            try:
                frames = encoder(tmp)
            except OSError as exc:
                if exc.errno:
                    raise OutputError(describe_os_error(exc, path)) from exc
                raise _libsndfile_failure(tmp, path, exc) from exc
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise _libsndfile_failure(tmp, path, exc) from exc
        else:
            frames = _encode(tmp, path, blocks, sample_rate=sample_rate,
                             total_frames=int(total_frames), fmt=fmt, tags=tags,
                             ditherer=ditherer, progress=progress)
        if check is not None and not check():
            raise _Dropped  # atomic_outputs removes every temporary file
        _add_metadata(tmp, path, fmt, tags, phases, sample_rate, cover)
        _verify(tmp, path, frames, sample_rate)
        if sidecars:
            _write_text(temps[1], cue_sheet(path.name, fmt.cue_type, phases,
                                             title=tags.title, performer=tags.artist))
            _write_text(temps[2], chapters_json(path.name, phases))
    return frames
