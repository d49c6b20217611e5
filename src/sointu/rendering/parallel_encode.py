"""Encoding Ogg Opus on several cores: parts encoded side by side, joined packet by packet.

libsndfile encodes Opus at ~27x real time on one core of the development machine (60 minutes
take over two minutes). Opus packets are short (20 ms) and the decoder's memory of the past is
short as well (an MDCT overlap of 2.5 ms, and band energies predicted from the previous
packet), so a long signal can be cut into parts that are encoded at the same time by separate
libsndfile encoders and then joined into ONE logical Ogg stream:

* part ``i`` covers packets ``[K_i, K_{i+1})`` of the final stream. Its encoder is started
  ``preroll_packets`` packets of signal *before* ``K_i * 960`` (so it has heard the signal
  leading up to the join and its state matches the first encoder's closely), and is run a
  couple of packets past ``K_{i+1} * 960``. Start points are whole packets (960 frames), so
  every encoder works on the same 20 ms grid: packet ``m`` of the part that starts at frame
  ``P`` codes exactly the frames packet ``P / 960 + m`` of a single-pass encoder would.
* the packets of every part are taken from the Ogg pages libsndfile wrote, the pre-roll
  and the tail packets dropped, and the rest laid out again as pages of one stream (the first
  part's serial number and headers, sequence numbers and granule positions recomputed, the
  last granule position trimming the end to the exact length), pages read and written
  (CRCs included) by mutagen's :class:`~mutagen.ogg.OggPage`.
* each part's encoder writes a hidden file next to the target; the join reads them page by
  page and writes the output a page at a time (one page of packets read ahead, to know the
  last), so memory stays flat for any length. The part files are removed in every case,
  after the workers stopped (:func:`run_threads` with a stop event).

The decoder meets, at each join, a packet coded by an encoder that heard the same signal:
what differs from a single-pass encode is the coding error (the same size as everywhere
else), not a gap, a repeat or a click. ``tests/test_parallel_encode.py`` decodes joined and
single-pass files and compares them around every join.

MP3 is split too, but not here: with LAME's bit reservoir on (libsndfile offers no way to
turn it off) a frame's data starts inside the frames before it, which a join removes, so
:mod:`sointu.rendering.mp3_parallel` drives libmp3lame itself with the reservoir off. Vorbis is
not split: it already encodes an hour in ~1.3 min on one core, and its packets overlap by a
window whose shape depends on the previous packet's block size (256 or 2048), so packets of
two encoders only join where their block sequences agree.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
from mutagen.ogg import OggPage
from mutagen.ogg import error as OggError

from .atomic import guess_write_errno, new_temp

__all__ = [
    "PACKET_FRAMES",
    "iter_pages",
    "iter_packets",
    "opus_packet_frames",
    "plan_parts",
    "encode_opus_parallel",
    "default_parts",
    "PartsProgress",
    "run_threads",
]

#: Frames of one libsndfile Opus packet at 48 kHz (20 ms; measured: only the final, flushing
#: packet is shorter).
PACKET_FRAMES = 960

def iter_pages(file: BinaryIO) -> Iterator[OggPage]:
    """The pages of an Ogg file read from ``file`` one at a time (mutagen's :class:`OggPage`)."""
    while True:
        at = file.tell()
        try:
            yield OggPage(file)
        except EOFError:
            return
        except OggError as exc:
            raise ValueError(f"no whole Ogg page at byte {at}: {exc}") from None


def iter_packets(pages: Iterable[OggPage]) -> Iterator[bytes]:
    """The packets carried by ``pages``, one at a time (pages are read as they are needed)."""
    pending = b""
    for page in pages:
        last = len(page.packets) - 1
        for i, data in enumerate(page.packets):
            if i == 0 and page.continued:
                data = pending + data
            elif pending:
                raise ValueError("a packet is continued on no page")
            pending = b""
            if i == last and not page.complete:
                pending = data
            else:
                yield data
    if pending:
        raise ValueError("the last packet is unfinished")


def opus_packet_frames(packet: bytes) -> int:
    """Frames (at 48 kHz) an Opus packet decodes to (RFC 6716, section 3.1)."""
    toc = packet[0]
    config = toc >> 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        per = (480, 960, 1920, 2880)[config & 3]
    elif config < 16:  # hybrid: 10, 20 ms
        per = (480, 960)[config & 1]
    else:  # CELT: 2.5, 5, 10, 20 ms
        per = (120, 240, 480, 960)[config & 3]
    code = toc & 3
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:
        count = packet[1] & 0x3F
    return per * count


def plan_parts(total_frames: int, parts: int) -> list[int]:
    """Packet indices where the parts begin: ``[0, K_1, ..., K_{n-1}]``.

    The joins fall on whole packets, as evenly as possible; fewer parts are planned when a
    part would be shorter than 10 s.
    """
    packets = -(-total_frames // PACKET_FRAMES)
    parts = max(1, min(int(parts), packets * PACKET_FRAMES // (10 * 48000) or 1))
    return [packets * i // parts for i in range(parts)]


class _PageOverflow(Exception):
    """A page would need more than 255 lacing values: lay out again, fewer packets a page."""

    def __init__(self, page_packets: int):
        super().__init__(page_packets)
        self.page_packets = page_packets


def _lay_out(packets: Iterable[bytes], *, serial: int, first_seq: int, pre_skip: int,
             total_frames: int, page_packets: int = 50) -> Iterator[bytes]:
    """Audio pages of one stream: ``page_packets`` packets a page, the last page EOS.

    Reads ``packets`` one page ahead (to know the last page), so at most two pages' packets
    are held at once.

    Raises
    ------
    _PageOverflow
        A page of ``page_packets`` packets would need more than 255 lacing values; the
        whole stream is to be laid out again with the count it carries (half that page's).
    ValueError
        The packets are shorter than the signal, or one packet needs a page of its own.
    """
    it = iter(packets)
    seq = first_seq
    granule = 0
    end_granule = pre_skip + total_frames
    chunk = list(islice(it, page_packets))
    while chunk:
        ahead = list(islice(it, page_packets))
        if sum(len(p) // 255 + 1 for p in chunk) > 255:  # lacing values
            if page_packets == 1:
                raise ValueError(f"an Opus packet of {len(chunk[0])} bytes fits no Ogg page")
            raise _PageOverflow(max(1, len(chunk) // 2))
        granule += sum(opus_packet_frames(p) for p in chunk)
        if not ahead and granule < end_granule:
            break
        page = OggPage()
        page.packets, page.serial, page.sequence = chunk, serial, seq
        page.position, page.last = (granule, False) if ahead else (end_granule, True)
        yield page.write()
        seq += 1
        chunk = ahead
    if granule < end_granule:
        raise ValueError("the joined packets are shorter than the signal")


def encode_opus_parallel(path, source: Callable[[int, int], Iterable[np.ndarray]], *,
                         total_frames: int, sample_rate: int = 48000, channels: int = 2,
                         soundfile_kwargs: dict | None = None, parts: int | None = None,
                         preroll_packets: int = 4, tail_packets: int = 2,
                         attributes: dict | None = None, workers: Callable | None = None,
                         progress: Callable[[int], None] | None = None) -> int:
    """Encode ``total_frames`` frames to an Ogg Opus file at ``path``, parts side by side.

    Each part's encoder writes a hidden file next to ``path``; the join then reads them page
    by page and writes the output page by page, so memory stays flat for any length. The
    part files are removed in every case (after the workers stopped), and so is ``path``
    when the join fails.

    Parameters
    ----------
    path : str or os.PathLike
        The Ogg Opus file to write (replaced if it exists; callers write to a temporary
        file, as :mod:`sointu.rendering.atomic` does).
    source : callable
        ``source(start, stop)`` yields float blocks of shape (n, channels), full scale 1.0,
        covering frames ``[start, stop)`` of the signal exactly (e.g. a SessionAudio's
        ``blocks(8192, start)`` cut at ``stop``). Called once per part, from that part's
        thread; it must give the same samples whatever ``start`` is.
    total_frames : int
        Length of the signal (frames).
    sample_rate : int
        Must be 48000 (the Opus grid used here; libsndfile's Opus at other rates is not
        spliced).
    channels : int
        Channels of the blocks.
    soundfile_kwargs : dict, optional
        For ``soundfile.SoundFile`` (``format="OGG", subtype="OPUS", compression_level``);
        :meth:`sointu.rendering.formats.OutputFormat.soundfile_kwargs`.
    parts : int, optional
        How many encoders run at once (default 2, see :func:`default_parts`).
    preroll_packets : int
        Packets of signal each later part hears before its first kept packet (default 4,
        80 ms, the pre-roll RFC 7845 recommends after a seek).
    tail_packets : int
        Packets each part encodes past its last kept packet.
    attributes : dict, optional
        soundfile text attributes (title, artist, ...) written into the first part, whose
        OpusTags header the joined stream keeps.
    workers : callable, optional
        ``workers(list of thunks)`` runs the thunks concurrently and re-raises the first
        exception (default: :func:`run_threads` with a stop event the parts check between
        blocks, so a failing part, Ctrl-C or SIGTERM stops them all before cleanup).
    progress : callable, optional
        Called with the frames encoded so far by all parts together (pre-roll and tail
        not counted, so it ends at ``total_frames``), from the parts' threads.

    Returns
    -------
    int
        The number of parts encoded.

    Raises
    ------
    ValueError
        A sample rate other than 48 kHz, or a part that does not read back as expected.
    OSError
        Writing failed (a full disk: ``ENOSPC``, a file-size limit: ``EFBIG``); no part
        file is left.
    KeyboardInterrupt
        Re-raised after the workers stopped and the part files were removed.
    """
    if sample_rate != 48000:
        raise ValueError(f"parallel Opus encoding needs 48000 Hz, got {sample_rate}")
    kwargs = dict(soundfile_kwargs or {"format": "OGG", "subtype": "OPUS"})
    if parts is None:
        parts = default_parts()
    starts = plan_parts(total_frames, parts)
    n_packets = -(-total_frames // PACKET_FRAMES)
    bounds = starts + [n_packets]
    path = Path(path)
    tmp_paths: list[Path] = []
    stop = threading.Event()
    progress = None if progress is None else PartsProgress(len(starts), progress)

    def encode(i: int) -> None:
        first, last = bounds[i], bounds[i + 1]
        pre = min(preroll_packets, first)
        begin = (first - pre) * PACKET_FRAMES
        # the final part runs to the real end; the others a few packets past their last
        end = total_frames if i == len(starts) - 1 else min(
            total_frames, (last + tail_packets) * PACKET_FRAMES)
        try:
            with sf.SoundFile(tmp_paths[i], "w", samplerate=sample_rate, channels=channels,
                              **kwargs) as f:
                if i == 0:
                    for name, value in (attributes or {}).items():
                        setattr(f, name, value)
                done = begin
                for block in source(begin, end):
                    if stop.is_set():
                        return
                    f.write(block)
                    done += len(block)
                    if progress is not None:  # the frames of this part's kept packets
                        progress(i, max(0, min(done, total_frames, last * PACKET_FRAMES)
                                        - first * PACKET_FRAMES))
                if done != end:
                    raise ValueError(f"part {i}: the source gave {done - begin} frames for "
                                     f"[{begin}, {end})")
        except (sf.LibsndfileError, RuntimeError) as exc:
            # libsndfile says "System error." for a full disk or a file-size limit: name it
            # while the part file is still there to look at
            code = guess_write_errno(tmp_paths[i])
            if code is None:
                raise
            raise OSError(code, os.strerror(code), str(tmp_paths[i])) from exc

    try:
        for _ in starts:
            tmp_paths.append(new_temp(path.parent, ".opus"))
        thunks = [lambda i=i: encode(i) for i in range(len(starts))]
        if workers is None:
            run_threads(thunks, stop)
        else:
            workers(thunks)
        kept = [(min(preroll_packets, bounds[i]),
                 None if i == len(starts) - 1 else bounds[i + 1] - bounds[i])
                for i in range(len(starts))]
        _join(path, tmp_paths, kept, total_frames=total_frames)
    finally:
        for p in tmp_paths:
            p.unlink(missing_ok=True)
    return len(starts)


def _join(path: Path, part_paths: list[Path], kept: list[tuple[int, int | None]], *,
          total_frames: int) -> None:
    """Write the first part's header pages, then every part's kept packets, to ``path``.

    ``kept[i]`` is ``(pre, count)``: part ``i``'s first ``pre`` audio packets are dropped and
    the next ``count`` kept (all the rest when ``count`` is None). ``path`` is removed when
    the join fails.
    """
    with open(part_paths[0], "rb") as fh:
        head_pages = _header_pages(iter_pages(fh))
    head = head_pages[0].packets[0]
    if head[:8] != b"OpusHead":
        raise ValueError("the first part has no OpusHead")
    pre_skip = struct.unpack_from("<H", head, 10)[0]
    header = b"".join(p.write() for p in head_pages)
    page_packets = 50
    try:
        with open(path, "wb") as out:
            while True:
                out.seek(0)
                out.truncate()
                out.write(header)
                pages = _lay_out(_kept_packets(part_paths, kept), serial=head_pages[0].serial,
                                 first_seq=len(head_pages), pre_skip=pre_skip,
                                 total_frames=total_frames, page_packets=page_packets)
                try:
                    for page in pages:
                        out.write(page)
                except _PageOverflow as exc:  # rare: very high bit rates
                    page_packets = exc.page_packets
                    continue
                break
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _kept_packets(part_paths: list[Path], kept: list[tuple[int, int | None]]
                  ) -> Iterator[bytes]:
    """The audio packets of the joined stream, read from the part files one page at a time."""
    for i, (path, (pre, count)) in enumerate(zip(part_paths, kept, strict=True)):
        with open(path, "rb") as fh:
            pages = iter_pages(fh)
            _header_pages(pages)
            n = 0
            for packet in islice(iter_packets(pages), pre, None if count is None else pre + count):
                yield packet
                n += 1
        if count is not None and n != count:
            raise ValueError(f"part {i} gave {n} packets instead of {count}")


def _header_pages(pages: Iterable[OggPage]) -> list[OggPage]:
    """The leading pages that carry the two header packets (OpusHead, OpusTags).

    Takes them from ``pages``, so an iterator is left at the first audio page.
    """
    done = 0
    out = []
    for page in pages:
        out.append(page)
        done += len(page.packets) - (not page.complete)  # packets ending on this page
        if done >= 2:
            if done > 2:
                raise ValueError("audio packets share a page with the Opus headers")
            return out
    raise ValueError("no Opus headers")


def default_parts() -> int:
    """Parts a long session is encoded in: 2, on any machine.

    Not the CPU count: the joined stream is the same file wherever it is rendered (a gift
    re-rendered on another computer is byte for byte the one given), and two parts keep
    both cores of the machines sointu is made for busy.
    """
    return 2


class PartsProgress:
    """Adds up the frames of parts encoded side by side for one progress callback.

    ``parts_progress(part, frames_done_in_part)`` is called from the parts' threads; the
    callback gets the sum (at most once per call, under a lock).
    """

    def __init__(self, parts: int, callback: Callable[[int], None]):
        self.done = [0] * parts
        self.callback = callback
        self.lock = threading.Lock()

    def __call__(self, part: int, frames: int) -> None:
        with self.lock:
            self.done[part] = frames
            self.callback(sum(self.done))


def run_threads(thunks, stop: threading.Event | None = None) -> None:
    """Run ``thunks`` in one thread each; re-raise the first exception.

    With ``stop`` (an event the thunks check between blocks and return soon after it is
    set), a failing thunk sets it so the others give up, and Ctrl-C or SIGTERM in this
    thread sets it and waits for every thunk to return before re-raising (also when it
    comes while the threads are being started), so that no worker still writes to, or
    creates, a file the caller is about to remove.
    """
    errors: list[BaseException] = []
    running = [threading.Event() for _ in thunks]
    finished = [threading.Event() for _ in thunks]

    def guard(i, fn):
        running[i].set()
        try:
            fn()
        except BaseException as exc:  # handed to the caller
            errors.append(exc)
            if stop is not None:
                stop.set()
        finally:
            finished[i].set()

    threads = [threading.Thread(target=guard, args=(i, fn), name=f"sointu-part-{i}",
                                daemon=True) for i, fn in enumerate(thunks)]
    begun = 0
    try:
        for t in threads:
            begun += 1
            t.start()
        for t in threads:
            t.join()
    except BaseException:
        if stop is None:
            raise
        stop.set()
        # Events, not join(): a join() that Ctrl-C cut short may mark a running thread as
        # stopped (CPython 3.11), and a start() cut short still runs its thread.
        for i, t in enumerate(threads[:begun]):
            if running[i].wait(5):
                finished[i].wait()
                t.join()
        raise
    if errors:
        raise errors[0]
