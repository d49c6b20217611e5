"""Encoding MP3 on several cores: LAME encoders without bit reservoir, joined frame by frame.

libsndfile encodes MP3 at ~21x real time on one core (60 minutes take about three minutes),
and its frames cannot be split: LAME's bit reservoir lets a frame keep its data in the
frames before it. Driving LAME directly (:mod:`.lame`) with the reservoir off, every frame
carries all of its data (``main_data_begin == 0``), so frames of different encoders can
follow each other. A session is then cut into parts encoded side by side:

* the joined stream has frames ``0 .. n-1`` of 1152 samples. LAME delays its input by
  ``delay`` samples (576): frame ``k`` codes input samples from ``k * 1152 - delay`` on.
  Part ``i`` keeps frames ``[K_i, K_{i+1})``; its encoder is started at input sample
  ``(K_i - preroll) * 1152``, a whole number of frames before, so its frame ``m`` codes
  what frame ``K_i - preroll + m`` of a single-pass encoder would, and the pre-roll frames
  (dropped) let its filterbank and psychoacoustic state hear the signal before the join.
  It runs a few frames past ``K_{i+1}`` so its last kept frames had real signal ahead.
* ``n = ceil((delay + length + 576) / 1152)``, as LAME's own flush gives: the padding
  after the signal is at least 576 samples, more than a decoder's 529-sample delay.
* each part streams its kept frames to a hidden temporary file next to the target
  (:func:`.atomic.new_temp`, so a killed render's parts are recognised and removed
  later); the target gets a Xing/LAME frame (frame and byte counts, seek table, encoder
  delay and padding, so gapless decoders give back exactly ``length`` samples), then the
  parts' bytes in order.
  Memory stays flat for any length; the part files are removed in every case.

The decoder meets, at each join, a frame coded by an encoder that heard the same signal:
what differs from a single-pass encode is the coding error, not a gap, a repeat or a
click. ``tests/test_mp3_parallel.py`` decodes joined and single-pass files and compares
them around every join.

Turning the reservoir off costs some bits at the same VBR quality (a frame cannot borrow
from quiet neighbours); see :data:`sointu.rendering.formats.FORMATS` for the quality mapping.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import new_temp
from .lame import LameEncoder, load
from .mp3frames import FrameSplitter, info_frame, main_data_begin, parse_header
from .parallel_encode import PartsProgress, default_parts, run_threads

__all__ = ["FRAME_SAMPLES", "RATES", "available", "plan_parts", "stream_frames",
           "encode_mp3_parallel"]

#: Samples per channel of one MPEG-1 Layer III frame.
FRAME_SAMPLES = 1152

#: Sample rates (Hz) encoded here: MPEG-1 (the lower MPEG-2 rates go through libsndfile).
RATES = (32000, 44100, 48000)

#: Shortest part (s) worth its own encoder.
_MIN_PART_S = 10


def available(sample_rate: int) -> bool:
    """True when libmp3lame loads and ``sample_rate`` (Hz) is one of :data:`RATES`."""
    return sample_rate in RATES and load() is not None


def plan_parts(total_samples: int, sample_rate: int, parts: int) -> list[int]:
    """Frame indices where the parts begin: ``[0, K_1, ...]``, as even as possible.

    Fewer parts are planned when a part would be shorter than 10 s.
    """
    frames = -(-total_samples // FRAME_SAMPLES)
    most = max(1, total_samples // (_MIN_PART_S * sample_rate))
    parts = max(1, min(int(parts), most))
    return [frames * i // parts for i in range(parts)]


def stream_frames(total_samples: int, delay: int) -> int:
    """Audio frames of the joined stream: the delay, the signal and >= 576 samples of padding."""
    return -(-(delay + total_samples + 576) // FRAME_SAMPLES)


@dataclass
class _Part:
    """What one part's worker produced."""

    index: int
    first: int  # first kept frame (global)
    stop: int  # one past the last kept frame (global)
    file: object  # open binary file holding the kept frames
    path: Path
    kept: int = 0
    size: int = 0
    toc_offsets: dict = field(default_factory=dict)  # global frame -> offset in this part
    header: bytes = b""  # the first kept frame's 4 header bytes


def encode_mp3_parallel(path, source: Callable[[int, int], Iterable[np.ndarray]], *,
                        total_frames: int, sample_rate: int, channels: int = 2,
                        vbr_quality: float = 3.0, parts: int | None = None,
                        preroll_frames: int = 16, tail_frames: int = 3,
                        progress: Callable[[int], None] | None = None) -> int:
    """Encode ``total_frames`` frames to an MP3 file at ``path``, parts side by side.

    Parameters
    ----------
    path : str or os.PathLike
        The MP3 file to write (replaced if it exists; callers write to a temporary file,
        as :mod:`sointu.rendering.atomic` does). Part files are made next to it.
    source : callable
        ``source(start, stop)`` yields float blocks of shape (n, channels), full scale 1.0,
        covering frames ``[start, stop)`` exactly; called once per part, from that part's
        thread, and must give the same samples whatever ``start`` is.
    total_frames : int
        Length of the signal (samples per channel).
    sample_rate : int
        Hz, one of :data:`RATES`.
    channels : int
        1 or 2.
    vbr_quality : float
        LAME VBR quality, 0 (best) .. 9.999 (smallest).
    parts : int, optional
        Encoders run at once (default 2, see :func:`.parallel_encode.default_parts`).
    preroll_frames : int
        Frames of signal each later part encodes and drops before its first kept frame
        (default 16, 384 ms at 48 kHz).
    tail_frames : int
        Frames each part encodes past its last kept frame.
    progress : callable, optional
        Called with the frames (samples per channel) encoded so far by all parts together,
        from the parts' threads; it ends at ``total_frames``.

    Returns
    -------
    int
        The number of parts encoded.

    Raises
    ------
    ValueError
        libmp3lame is missing, LAME refuses the settings, or a part does not give the
        frames it should (no part files are left behind).
    OSError
        Writing failed (a full disk, a file-size limit); no part file is left behind.
    KeyboardInterrupt
        Re-raised after the workers stopped and the part files were removed.
    """
    lib = load()
    if lib is None:
        raise ValueError("libmp3lame cannot be loaded")
    if sample_rate not in RATES:
        raise ValueError(f"parallel MP3 encoding needs one of {RATES} Hz, got {sample_rate}")
    if parts is None:
        parts = default_parts()
    path = Path(path)
    starts = plan_parts(total_frames, sample_rate, parts)
    encoders: list[LameEncoder] = []
    work: list[_Part] = []
    try:
        for _ in starts:
            encoders.append(LameEncoder(lib, sample_rate, channels, vbr_quality))
        delay = encoders[0].delay
        n_frames = stream_frames(total_frames, delay)
        bounds = starts + [n_frames]
        for i in range(len(starts)):
            part_path = new_temp(path.parent, ".mp3part")
            try:
                fh = open(part_path, "w+b")
            except BaseException:
                part_path.unlink(missing_ok=True)
                raise
            work.append(_Part(i, bounds[i], bounds[i + 1], fh, part_path))
        toc_frames = {i * n_frames // 100 for i in range(100)}
        stop = threading.Event()
        counter = None if progress is None else PartsProgress(len(work), progress)

        def run(part: _Part) -> None:
            _encode_part(part, encoders[part.index], source, stop,
                         total_frames=total_frames, sample_rate=sample_rate,
                         preroll=preroll_frames, tail=tail_frames,
                         final=part.index == len(work) - 1, toc_frames=toc_frames,
                         progress=counter)

        run_threads([lambda p=p: run(p) for p in work], stop)
        _join(path, work, encoders[0], n_frames=n_frames,
              padding=n_frames * FRAME_SAMPLES - delay - total_frames)
    finally:
        for enc in encoders:
            enc.close()
        for part in work:
            try:
                part.file.close()  # flushes: fails again on a full disk, which is known
            except OSError:
                pass
            part.path.unlink(missing_ok=True)
    return len(starts)


def _encode_part(part: _Part, enc: LameEncoder, source, stop: threading.Event, *,
                 total_frames: int, sample_rate: int, preroll: int, tail: int, final: bool,
                 toc_frames: set, progress: PartsProgress | None = None) -> None:
    """Encode one part and write its kept frames to ``part.file``."""
    pre = min(preroll, part.first)
    begin = (part.first - pre) * FRAME_SAMPLES
    end = total_frames if final else min(total_frames, (part.stop + tail) * FRAME_SAMPLES)
    count = part.stop - part.first
    splitter = FrameSplitter()
    at = part.first - pre  # global index of the next frame out of the encoder
    out = part.file

    def take(data: bytes) -> None:
        nonlocal at
        for header, frame in splitter.feed(data):
            if header.sample_rate != sample_rate or header.samples != FRAME_SAMPLES:
                raise ValueError(f"part {part.index}: LAME wrote a frame at "
                                 f"{header.sample_rate} Hz with {header.samples} samples")
            if part.first <= at < part.stop:
                if main_data_begin(frame, header) != 0:
                    raise ValueError(f"part {part.index}: frame {at} uses the bit reservoir")
                if not part.header:
                    part.header = frame[:4]
                if at in toc_frames:
                    part.toc_offsets[at] = part.size
                out.write(frame)
                part.size += len(frame)
                part.kept += 1
            at += 1

    done = begin
    for block in source(begin, end):
        if stop.is_set():
            return
        take(enc.encode(block))
        done += len(block)
        if progress is not None:  # the samples of this part's kept frames
            progress(part.index, max(0, min(done, total_frames, part.stop * FRAME_SAMPLES)
                                     - part.first * FRAME_SAMPLES))
        if part.kept == count:
            break
    else:
        if done != end:
            raise ValueError(f"part {part.index}: the source gave {done - begin} frames for "
                             f"[{begin}, {end})")
    if part.kept < count:
        if not final:
            raise ValueError(f"part {part.index} gave {part.kept} frames instead of {count}")
        take(enc.flush())
    if part.kept != count:
        raise ValueError(f"part {part.index} gave {part.kept} frames instead of {count}")
    out.flush()


def _join(path: Path, work: list[_Part], enc: LameEncoder, *, n_frames: int,
          padding: int) -> None:
    """Write the Xing/LAME frame and then every part's frames to ``path``."""
    template = parse_header(work[0].header)
    kwargs = dict(frames=n_frames, encoder_delay=enc.delay, padding=padding,
                  version=enc.version, quality=100 - round(10 * enc.vbr_quality),
                  lowpass_hz=enc.lowpass_hz, min_bitrate_kbps=enc.min_bitrate_kbps)
    info_len = len(info_frame(template, work[0].header, stream_bytes=0, toc=bytes(100),
                              **kwargs))
    total = info_len + sum(p.size for p in work)
    offsets: dict[int, int] = {}
    base = info_len
    for part in work:
        for frame, off in part.toc_offsets.items():
            offsets[frame] = base + off
        base += part.size
    toc = bytes(min(255, offsets[i * n_frames // 100] * 256 // total) for i in range(100))
    head = info_frame(template, work[0].header, stream_bytes=total, toc=toc, **kwargs)
    with open(path, "wb") as fh:
        fh.write(head)
        for part in work:
            part.file.seek(0)
            shutil.copyfileobj(part.file, fh, 1 << 20)
