"""Ogg Opus encoded in parts side by side and joined: the joins must be inaudible.

Each joined file is decoded (libsndfile) and compared with a single-pass encode of the same
signal and with the signal itself, around every join: same length, no shift, no gap, and a
coding error no larger than the single-pass encoder's in the same place.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from mutagen.ogg import OggPage

from sointu.rendering import parallel_encode as pe

FS = 48000
KW = {"format": "OGG", "subtype": "OPUS", "compression_level": 0.7}


def page(flags: int, granule: int, serial: int, sequence: int, packets: list[bytes]) -> bytes:
    """One Ogg page's bytes (flags: 2 first, 4 last), written by mutagen."""
    pg = OggPage()
    pg.packets, pg.position, pg.serial, pg.sequence = list(packets), granule, serial, sequence
    pg.first, pg.last = bool(flags & 2), bool(flags & 4)
    return pg.write()


def read_pages(data: bytes) -> list[OggPage]:
    """Every page of an Ogg file's bytes, each CRC checked against the bitwise definition."""
    import io

    pages = list(pe.iter_pages(io.BytesIO(data)))
    at = 0
    for pg in pages:
        raw = pg.write()
        stored = struct.unpack_from("<I", data, at + 22)[0]
        assert data[at:at + len(raw)] == raw and stored == ogg_crc(raw[:22] + bytes(4) + raw[26:])
        at += len(raw)
    assert at == len(data)
    return pages


def ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32 bit by bit (polynomial 0x04C11DB7, MSB first, initial value 0)."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def bowls(seconds: float, seed: int) -> np.ndarray:
    """Seeded bowl-like test signal: decaying stereo doublets and a little noise, (n, 2)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS) + 123  # not a whole number of packets
    t = np.arange(n) / FS
    x = np.zeros((n, 2))
    for _ in range(int(seconds * 1.5)):
        t0, f = rng.uniform(0, seconds - 1), rng.uniform(150, 1500)
        tau, ph = rng.uniform(0.5, 6), rng.uniform(0, 2 * np.pi)
        i0 = int(np.ceil(t0 * FS))
        i1 = min(n, i0 + int(8 * tau * FS))
        u = t[i0:i1] - t0
        env = np.exp(-u / tau)
        x[i0:i1, 0] += 0.08 * env * np.sin(2 * np.pi * f * u + ph)
        x[i0:i1, 1] += 0.08 * env * np.sin(2 * np.pi * f * 1.001 * u + ph + 0.3)
    x += 0.002 * rng.standard_normal(x.shape)
    return x.astype(np.float32)


def source_of(x: np.ndarray, block: int = 8192):
    def source(start, stop):
        for i in range(start, stop, block):
            yield x[i: min(stop, i + block)]

    return source


def rms(a) -> float:
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))


def joins(total: int, parts: int) -> list[int]:
    """Output frames where the decoded parts meet."""
    return [k * pe.PACKET_FRAMES - 312 for k in pe.plan_parts(total, parts)[1:]]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    d = tmp_path_factory.mktemp("opus")
    x = bowls(30.0, seed=11)
    sf.write(d / "single.opus", x, FS, **KW)
    (d / "parts").mkdir()

    made = []  # the part files, in the parts' order

    def new_temp(folder, suffix=""):
        made.append(real_new_temp(folder, suffix))
        return made[-1]

    def keep_parts(thunks):
        """Run the parts, then copy their files before the join removes them."""
        pe.run_threads(thunks)
        for i, f in enumerate(made):
            shutil.copy(f, d / "parts" / f"part{i}")

    real_new_temp, pe.new_temp = pe.new_temp, new_temp
    try:
        n = pe.encode_opus_parallel(d / "joined.opus", source_of(x), total_frames=len(x),
                                    soundfile_kwargs=KW, parts=3, workers=keep_parts,
                                    attributes={"title": "Äänimatka", "artist": "test"})
    finally:
        pe.new_temp = real_new_temp
    assert len(made) == 3 and not any(f.exists() for f in made)
    assert n == 3
    y1, _ = sf.read(d / "single.opus", dtype="float64")
    y2, _ = sf.read(d / "joined.opus", dtype="float64")
    return d, x.astype(np.float64), y1, y2


def reference_pages(packets: list[bytes], *, serial: int, first_seq: int,
                    end_granule: int) -> list[bytes]:
    """Audio pages as the join laid them out when it held every packet in memory.

    50 packets a page; while some page (the first, in order) would need more than 255
    lacing values, half as many packets as that page had. Granules count the packets'
    durations; the last page is EOS and its granule is ``end_granule``.
    """
    size = 50
    while True:
        chunks = [packets[i: i + size] for i in range(0, len(packets), size)]
        big = [c for c in chunks if sum(len(p) // 255 + 1 for p in c) > 255]
        if not big:
            break
        size = max(1, len(big[0]) // 2)
    out, granule = [], 0
    for k, chunk in enumerate(chunks):
        granule += sum(map(pe.opus_packet_frames, chunk))
        last = k == len(chunks) - 1
        out.append(page(4 if last else 0, min(granule, end_granule) if last else granule,
                        serial, first_seq + k, chunk))
    return out


def reference_join(parts: list[bytes], kept: list[tuple[int, int | None]],
                   total_frames: int) -> bytes:
    """The joined file from the parts' bytes, all in memory (what the join wrote before it
    streamed)."""
    head_pages, packets = None, []
    for data, (pre, count) in zip(parts, kept, strict=True):
        pages = read_pages(data)
        headers = pe._header_pages(pages)
        head_pages = head_pages or headers
        audio = OggPage.to_packets(pages[len(headers):])
        packets += audio[pre:] if count is None else audio[pre: pre + count]
    pre_skip = struct.unpack_from("<H", head_pages[0].packets[0], 10)[0]
    return b"".join([p.write() for p in head_pages] + reference_pages(
        packets, serial=head_pages[0].serial, first_seq=len(head_pages),
        end_granule=pre_skip + total_frames))


def synthetic_part(sizes: list[int], seed: int) -> bytes:
    """An Ogg Opus file of CELT 20 ms packets of ``sizes`` bytes (random payload)."""
    rng = np.random.default_rng(seed)
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    pages = [page(2, 0, 77, 0, [head]), page(0, 0, 77, 1, [tags])]
    packets = [bytes([31 << 3]) + rng.integers(0, 256, n - 1, dtype=np.uint8).tobytes()
               for n in sizes]
    pages += reference_pages(packets, serial=77, first_seq=2, end_granule=1 << 40)
    return b"".join(pages)


def test_streamed_join_is_byte_identical_to_the_in_memory_join(encoded):
    d, x, _, _ = encoded
    parts = [(d / "parts" / f"part{i}").read_bytes() for i in range(3)]
    kept = [(0, 500), (4, 500), (4, None)]
    assert pe.plan_parts(len(x), 3) == [0, 500, 1000]
    assert (d / "joined.opus").read_bytes() == reference_join(parts, kept, len(x))


@pytest.mark.parametrize("big", [0, 1500, 5000])
def test_join_matches_the_in_memory_join_when_pages_overflow(tmp_path, big):
    rng = np.random.default_rng(big)
    sizes = [list(rng.integers(1, 400, 300)) for _ in range(3)]
    sizes[1][100:180] = [big or 300] * 80  # 6 or 20 lacing values each: pages must shrink
    paths = []
    for i, s in enumerate(sizes):
        paths.append(tmp_path / f"part{i}")
        paths[-1].write_bytes(synthetic_part(s, seed=i))
    kept = [(0, 290), (4, 250), (4, None)]
    total = (290 + 250 + 296) * 960 - 312 - 777
    pe._join(tmp_path / "joined.opus", paths, kept, total_frames=total)
    expected = reference_join([p.read_bytes() for p in paths], kept, total)
    assert (tmp_path / "joined.opus").read_bytes() == expected
    pages = read_pages(expected)
    assert pages[-1].last and pages[-1].position == 312 + total
    assert max(sum(len(x) // 255 + 1 for x in p.packets) for p in pages) <= 255

    # a part short of packets, or packets short of the signal: no output file
    for bad_kept, frames, match in (([(0, 290), (4, 297), (4, None)], total, "part 1 gave 296"),
                                    (kept, total + 778, "shorter than the signal")):
        with pytest.raises(ValueError, match=match):
            pe._join(tmp_path / "bad.opus", paths, bad_kept, total_frames=frames)
        assert not (tmp_path / "bad.opus").exists()


def test_pages_round_trip_byte_exact(encoded):
    d = encoded[0]
    data = (d / "single.opus").read_bytes()
    pages = read_pages(data)  # libsndfile's CRCs agree with the bitwise definition
    assert b"".join(p.write() for p in pages) == data
    assert len(list(pe.iter_packets(pages))) == len(OggPage.to_packets(pages))
    with pytest.raises(ValueError, match="no whole Ogg page at byte 0"):
        list(pe.iter_pages(__import__("io").BytesIO(b"OggT" + data[4:])))


def test_packet_durations_from_the_toc():
    assert pe.opus_packet_frames(bytes([31 << 3])) == 960  # CELT FB 20 ms, one frame
    assert pe.opus_packet_frames(bytes([(30 << 3) | 1])) == 960  # 2 x 10 ms
    assert pe.opus_packet_frames(bytes([(1 << 3) | 3, 3])) == 3 * 960  # SILK 20 ms x 3
    assert pe.opus_packet_frames(bytes([13 << 3])) == 960  # hybrid FB 20 ms


def test_plan_parts_on_whole_packets():
    assert pe.plan_parts(FS * 60, 2) == [0, 1500]
    assert pe.plan_parts(FS * 5, 4) == [0]  # too short to split
    assert pe.plan_parts(FS * 30 + 1, 3) == [0, 500, 1000]  # 1501 packets


def test_joined_stream_is_one_valid_logical_stream(encoded):
    d, x, _, _ = encoded
    pages = read_pages((d / "joined.opus").read_bytes())  # checks every CRC
    assert {p.serial for p in pages} == {pages[0].serial}
    assert [p.sequence for p in pages] == list(range(len(pages)))
    assert pages[0].first and pages[-1].last and not pages[0].last
    assert not any(p.first or p.last or p.continued for p in pages[1:-1])
    grans = [p.position for p in pages[2:]]
    assert grans == sorted(grans)
    pre_skip = struct.unpack_from("<H", pages[0].packets[0], 10)[0]
    assert grans[-1] == pre_skip + len(x)
    info = sf.info(str(d / "joined.opus"))
    assert info.frames == len(x) and info.samplerate == FS


def test_joins_are_inaudible(encoded):
    _, x, y1, y2 = encoded
    assert y1.shape == y2.shape == x.shape
    e1, e2 = y1 - x, y2 - x
    js = joins(len(x), 3)
    # up to the first join the joined file IS the single-pass file
    assert np.array_equal(y2[: js[0] - 2000], y1[: js[0] - 2000])
    for j in js:
        # no shift: the decoded signal lines up with the original best at lag 0
        w = slice(j - 4800, j + 4800)
        lags = range(-48, 49)
        corr = [float(np.sum(y2[w][:, 0] * x[j - 4800 + k: j + 4800 + k, 0])) for k in lags]
        assert lags[int(np.argmax(corr))] == 0
        # coding error around the join no larger than the single-pass encoder's, in every
        # 2.5 ms stretch of +-100 ms (a click or gap would stand out by orders of magnitude)
        for s in range(j - 4800, j + 4800, 120):
            a, b = rms(e1[s: s + 120]), rms(e2[s: s + 120])
            assert b <= 2.0 * a + 1e-4, (j, s, a, b)
        assert rms(e2[j - 4800: j + 4800]) <= 1.25 * rms(e1[j - 4800: j + 4800])
        assert np.abs(e2[j - 480: j + 480]).max() <= 1.5 * np.abs(e1[j - 4800: j + 4800]).max()
    assert rms(e2) <= 1.02 * rms(e1)


def test_tags_survive_and_mutagen_can_add_chapters(encoded):
    from mutagen.oggopus import OggOpus

    d = encoded[0]
    path = d / "joined.opus"
    with sf.SoundFile(path) as f:
        assert f.title == "Äänimatka" and f.artist == "test"
    tagged = OggOpus(path)
    tagged.tags["CHAPTER001"] = ["00:00:00.000"]
    tagged.tags["CHAPTER001NAME"] = ["johdanto"]
    tagged.save()
    assert OggOpus(path).tags["CHAPTER001NAME"] == ["johdanto"]
    assert sf.info(str(path)).frames == len(encoded[1])


def test_real_session_audio_joins_cleanly(tmp_path):
    from sointu.session.audio import SessionAudio

    audio = SessionAudio.from_preset("classic-60", duration_s=24.0, seed=2)
    audio.gain_db = 12.0

    def source(start, stop):
        pos = start
        for block in audio.blocks(8192, start):
            block = block[: stop - pos]
            yield block
            pos += len(block)
            if pos >= stop:
                return

    x = np.concatenate(list(source(0, audio.total_frames))).astype(np.float64)
    sf.write(tmp_path / "single.opus", x, FS, **KW)
    pe.encode_opus_parallel(tmp_path / "joined.opus", source, total_frames=audio.total_frames,
                            soundfile_kwargs=KW, parts=2)
    y1, _ = sf.read(tmp_path / "single.opus", dtype="float64")
    y2, _ = sf.read(tmp_path / "joined.opus", dtype="float64")
    assert y2.shape == x.shape
    (j,) = joins(len(x), 2)
    e1, e2 = y1 - x, y2 - x
    for s in range(j - 4800, j + 4800, 120):
        assert rms(e2[s: s + 120]) <= 2.0 * rms(e1[s: s + 120]) + 1e-4
    assert sorted(os.listdir(tmp_path)) == ["joined.opus", "single.opus"]


def test_errors_leave_no_part_files(tmp_path):
    x = bowls(12.0, seed=1)
    with pytest.raises(ValueError, match="48000"):
        pe.encode_opus_parallel(tmp_path / "a.opus", source_of(x), total_frames=len(x),
                                sample_rate=44100, soundfile_kwargs=KW)

    def short(start, stop):
        yield x[start: stop - 10]

    with pytest.raises(ValueError, match="frames"):
        pe.encode_opus_parallel(tmp_path / "b.opus", short, total_frames=len(x),
                                soundfile_kwargs=KW, parts=2)
    assert os.listdir(tmp_path) == []


def part_workers_alive() -> bool:
    return any(t.name.startswith("sointu-part-") for t in threading.enumerate())


def failing_after_one_block(x: np.ndarray, exc: BaseException):
    """A source whose later parts give one block and then raise ``exc`` (the first part
    goes on in small blocks until it is stopped)."""
    def source(start, stop):
        if start > 0:
            yield x[start: start + 8192]
            raise exc
        yield from source_of(x, 960)(start, stop)

    return source


def test_failures_and_interrupts_stop_the_parts_and_leave_no_part_files(tmp_path):
    x = bowls(24.0, seed=1)
    given = []

    def ctrl_c_at_start(start, stop):
        """Ctrl-C in the main thread while it is still starting the parts."""
        if start == 0:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        time.sleep(0.3)
        for block in source_of(x, 960)(start, stop):
            given.append(len(block))
            yield block

    for name, source, exc in (
            ("full", failing_after_one_block(x, OSError(28, "No space left")), OSError),
            ("ctrl-c", failing_after_one_block(x, KeyboardInterrupt()), KeyboardInterrupt),
            ("early", ctrl_c_at_start, KeyboardInterrupt)):
        with pytest.raises(exc):
            pe.encode_opus_parallel(tmp_path / f"{name}.opus", source, total_frames=len(x),
                                    soundfile_kwargs=KW, parts=2)
        blocks = len(given)
        time.sleep(0.2)
        # every part stopped before the cleanup: none reads on or writes a part file later
        assert len(given) == blocks and not part_workers_alive(), name
        assert os.listdir(tmp_path) == [], name  # no part files, no half-written target
