"""MP3 encoded in parts side by side (LAME without bit reservoir) and joined frame by frame.

Each joined file is decoded (libsndfile, which uses mpg123) and compared with a single-pass
encode of the same signal and with the signal itself, around every join: exact length
(gapless LAME tag), no shift, no gap, and a coding error no larger than the single-pass
encoder's in the same place. The stream itself is parsed: every frame self-contained
(``main_data_begin == 0``), 1152 samples, and the Xing/LAME frame's counts true.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import soundfile as sf

from sointu.rendering import lame
from sointu.rendering import mp3_parallel as mp
from sointu.rendering.mp3frames import FrameSplitter, crc16, main_data_begin, parse_header
from test_parallel_encode import bowls, rms, source_of

pytestmark = pytest.mark.skipif(lame.load() is None, reason="libmp3lame0 is not installed")

FS = 48000
VBR_Q = 2.97  # what --quality 0.7 gives (10 x compression level 0.297)


def frames_of(data: bytes) -> list[tuple[object, bytes]]:
    """The frames of an MP3 file's bytes (an ID3v2 tag at the start is skipped)."""
    if data[:3] == b"ID3":
        size = 0
        for b in data[6:10]:
            size = (size << 7) | b
        data = data[10 + size:]
    splitter = FrameSplitter()
    frames = splitter.feed(data)
    assert splitter.pending == 0
    return frames


def lame_tag(frame: bytes) -> dict:
    """Fields of the Xing header and LAME extension of an MPEG-1 stereo info frame."""
    at = 36
    flags, n, size = struct.unpack(">III", frame[at + 4: at + 16])
    lame_at = at + 120
    d = int.from_bytes(frame[lame_at + 21: lame_at + 24], "big")
    return {"id": frame[at: at + 4], "flags": flags, "frames": n, "bytes": size,
            "toc": frame[at + 16: at + 116], "encoder": frame[lame_at: lame_at + 9],
            "delay": d >> 12, "padding": d & 0xFFF,
            "crc": struct.unpack(">H", frame[lame_at + 34: lame_at + 36])[0],
            "crc_of": crc16(frame[: lame_at + 34])}


def encode(path, x, rate=FS, **kw) -> int:
    return mp.encode_mp3_parallel(path, source_of(x), total_frames=len(x), sample_rate=rate,
                                  vbr_quality=VBR_Q, **kw)


def join_samples(total: int, rate: int, parts: int) -> list[int]:
    """Input samples where frames of two encoders meet (frame K codes from K*1152 - 576)."""
    return [k * 1152 - 576 for k in mp.plan_parts(total, rate, parts)[1:]]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    d = tmp_path_factory.mktemp("mp3")
    x = bowls(30.0, seed=11)
    assert encode(d / "single.mp3", x, parts=1) == 1
    assert encode(d / "joined.mp3", x, parts=3) == 3
    y1, _ = sf.read(d / "single.mp3", dtype="float64")
    y2, _ = sf.read(d / "joined.mp3", dtype="float64")
    return d, x.astype(np.float64), y1, y2


def test_frame_headers_and_crc():
    h = parse_header(bytes.fromhex("fffb9064"))  # MPEG-1 L3, 128 kbit/s, 44.1 kHz, no pad
    assert (h.mpeg1, h.bitrate_kbps, h.sample_rate, h.padding, h.channels, h.length,
            h.samples) == (True, 128, 44100, 0, 2, 417, 1152)
    assert parse_header(bytes.fromhex("fffb9264")).length == 418  # padded
    assert parse_header(bytes.fromhex("fff3a8c4")).samples == 576  # MPEG-2, 24 kHz
    assert parse_header(b"ID3\x04") is None
    assert crc16(b"123456789") == 0xBB3D  # CRC-16/ARC check value
    with pytest.raises(ValueError, match="frame header"):
        FrameSplitter().feed(b"\x00" * 8)


def test_plan_parts_on_the_frame_grid():
    assert mp.plan_parts(FS * 60, FS, 2) == [0, 1250]
    assert mp.plan_parts(FS * 15, FS, 4) == [0]  # parts under 10 s are not worth it
    assert mp.plan_parts(FS * 30, FS, 3) == [0, 416, 833]
    # LAME's own flush: >= 576 samples of padding after delay + signal, whole frames
    for n in (1, 575, 576, 577, 1152, 48000 * 30 + 123):
        frames = mp.stream_frames(n, 576)
        assert 576 <= frames * 1152 - 576 - n < 576 + 1152


def test_joined_stream_frames_are_self_contained_and_counted(encoded):
    d, x, _, _ = encoded
    data = (d / "joined.mp3").read_bytes()
    frames = frames_of(data)
    info, audio = frames[0], frames[1:]
    tag = lame_tag(info[1])
    assert tag["id"] == b"Xing" and tag["flags"] == 0x0F
    assert tag["frames"] == len(audio) == mp.stream_frames(len(x), 576)
    assert tag["bytes"] == len(data)
    assert tag["encoder"].startswith(b"LAME3.")
    assert tag["delay"] == 576
    assert tag["padding"] == len(audio) * 1152 - 576 - len(x)
    assert tag["crc"] == tag["crc_of"]
    toc = tag["toc"]
    assert toc[0] == 0 and list(toc) == sorted(toc)
    for header, frame in audio:
        assert header.mpeg1 and header.sample_rate == FS and header.samples == 1152
        assert main_data_begin(frame, header) == 0


def test_decodes_to_exactly_the_signal_length(encoded, tmp_path):
    from mutagen.mp3 import MP3

    d, x, y1, y2 = encoded
    assert y1.shape == y2.shape == x.shape
    assert sf.info(str(d / "joined.mp3")).frames == len(x)
    assert abs(MP3(d / "joined.mp3").info.length - len(x) / FS) < 1e-6
    with sf.SoundFile(d / "joined.mp3") as f:  # seeking lands on the exact sample
        for pos in (123457, len(x) // 2, len(x) - 1000):
            f.seek(pos)
            assert np.array_equal(f.read(1000), y2[pos: pos + 1000])
    x44 = bowls(21.0, seed=5)
    encode(tmp_path / "cd.mp3", x44, rate=44100, parts=2)
    y, rate = sf.read(tmp_path / "cd.mp3")
    assert rate == 44100 and len(y) == len(x44)
    assert rms(y - x44) < 0.1 * rms(x44)


def test_joins_are_inaudible(encoded):
    _, x, y1, y2 = encoded
    e1, e2 = y1 - x, y2 - x
    for j in join_samples(len(x), FS, 3):
        # no shift: the decoded signal lines up with the original best at lag 0
        w = slice(j - 4800, j + 4800)
        lags = range(-48, 49)
        corr = [float(np.sum(y2[w][:, 0] * x[j - 4800 + k: j + 4800 + k, 0])) for k in lags]
        assert lags[int(np.argmax(corr))] == 0
        # coding error around the join no larger than the single-pass encoder's, in every
        # 2.5 ms stretch of +-100 ms (a gap, a repeat or a click would stand out)
        for s in range(j - 4800, j + 4800, 120):
            assert rms(e2[s: s + 120]) <= 1.5 * rms(e1[s: s + 120]) + 1e-5, (j, s)
        # and the joined file differs from the single-pass one far less than either
        # differs from the signal
        assert rms(y2[w] - y1[w]) <= 0.1 * rms(e1[w])
        # error energy at the join like anywhere else in the file
        assert rms(e2[w]) <= 2.0 * rms(e2)
    assert rms(e2) <= 1.02 * rms(e1)


def test_silence_in_the_preroll_still_joins_cleanly(tmp_path):
    # the hardest place for a join: the later encoder hears only silence before it, while
    # the single-pass encoder remembers the loud signal before the silence
    x = bowls(25.0, seed=4).astype(np.float64)
    (j,) = join_samples(len(x), FS, 2)
    x[j - 30 * 1152: j + 300] = 0.0
    x[j + 300: j + 6000] *= 6.0
    x = x.astype(np.float32)
    encode(tmp_path / "single.mp3", x, parts=1)
    encode(tmp_path / "joined.mp3", x, parts=2)
    y1, _ = sf.read(tmp_path / "single.mp3")
    y2, _ = sf.read(tmp_path / "joined.mp3")
    x = x.astype(np.float64)
    e1, e2 = y1 - x, y2 - x
    w = slice(j - 4800, j + 9600)
    assert rms(e2[w]) <= 1.25 * rms(e1[w])
    assert np.abs(e2[w]).max() <= 1.5 * np.abs(e1[w]).max()


def test_real_session_audio_joins_cleanly(tmp_path):
    from sointu.rendering import pipeline
    from sointu.session.audio import SessionAudio

    audio = SessionAudio.from_preset("classic-60", duration_s=24.0, seed=2)
    audio.gain_db = 12.0

    def source(start, stop):
        return pipeline._span(audio, start, stop)

    x = np.concatenate(list(source(0, audio.total_frames))).astype(np.float64)
    for name, parts in (("single.mp3", 1), ("joined.mp3", 2)):
        mp.encode_mp3_parallel(tmp_path / name, source, total_frames=audio.total_frames,
                               sample_rate=FS, vbr_quality=VBR_Q, parts=parts)
    y1, _ = sf.read(tmp_path / "single.mp3")
    y2, _ = sf.read(tmp_path / "joined.mp3")
    assert y2.shape == x.shape
    (j,) = join_samples(len(x), FS, 2)
    e1, e2 = y1 - x, y2 - x
    for s in range(j - 4800, j + 4800, 120):
        assert rms(e2[s: s + 120]) <= 1.5 * rms(e1[s: s + 120]) + 1e-5
    assert sorted(os.listdir(tmp_path)) == ["joined.mp3", "single.mp3"]


def test_failures_and_interrupts_leave_no_part_files(tmp_path):
    x = bowls(24.0, seed=1)

    def short(start, stop):
        yield x[start: stop - 10]

    with pytest.raises(ValueError, match="frames"):
        mp.encode_mp3_parallel(tmp_path / "a.mp3", short, total_frames=len(x),
                               sample_rate=FS, parts=2)

    def broken(start, stop):
        if start > 0:
            yield x[start: start + 8192]
            raise OSError(28, "No space left on device")
        yield from source_of(x)(start, stop)

    with pytest.raises(OSError, match="space"):
        mp.encode_mp3_parallel(tmp_path / "b.mp3", broken, total_frames=len(x),
                               sample_rate=FS, parts=2)

    def interrupted(start, stop):
        yield x[start: start + 8192]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mp.encode_mp3_parallel(tmp_path / "c.mp3", interrupted, total_frames=len(x),
                               sample_rate=FS, parts=2)
    with pytest.raises(ValueError, match="Hz"):
        mp.encode_mp3_parallel(tmp_path / "d.mp3", source_of(x), total_frames=len(x),
                               sample_rate=22050)
    assert os.listdir(tmp_path) == []  # no part files, and no half-written target


def test_render_uses_the_parallel_encoder_and_falls_back_without_libmp3lame(tmp_path,
                                                                              monkeypatch):
    from mutagen.id3 import ID3

    from sointu.rendering import pipeline
    from sointu.rendering.formats import resolve_format
    from sointu.rendering.tags import Tags
    from sointu.rendering.writer import write_blocks
    from sointu.session.audio import SessionAudio

    audio = SessionAudio.from_preset("classic-60", duration_s=22.0, seed=3)
    audio.gain_db = 12.0

    def render(name):
        path = tmp_path / name
        fmt = resolve_format(path, sample_rate=audio.sample_rate, frames=audio.total_frames)
        tags = Tags(title="Äänimatka")
        encoder = pipeline._parallel_encoder(audio, fmt, tags)
        blocks = None if encoder else pipeline._span(audio, 0, audio.total_frames)
        write_blocks(path, blocks, sample_rate=audio.sample_rate,
                     total_frames=audio.total_frames, fmt=fmt, tags=tags,
                     phases=list(audio.timeline.phases), encoder=encoder)
        y, _ = sf.read(path)
        assert len(y) == audio.total_frames
        assert ID3(path).getall("TIT2")[0].text == ["Äänimatka"]
        assert len(ID3(path).getall("CHAP")) == 3
        return encoder, frames_of(path.read_bytes())

    encoder, frames = render("lame.mp3")
    assert encoder is not None
    assert lame_tag(frames[0][1])["frames"] == len(frames) - 1
    assert all(main_data_begin(f, h) == 0 for h, f in frames[1:])

    monkeypatch.setattr(mp, "load", lambda: None)
    assert not mp.available(FS)
    encoder, frames = render("libsndfile.mp3")
    assert encoder is None
    # libsndfile's LAME keeps its bit reservoir: some frame borrows from the ones before
    assert any(main_data_begin(f, h) > 0 for h, f in frames[1:])
    assert lame.load("no-such-library-sointu") is None
