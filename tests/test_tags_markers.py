"""Tags and phase markers in every format, read back by soundfile, mutagen and a RIFF parser."""

from __future__ import annotations

import dataclasses
import io
import json
import struct

import mutagen
import numpy as np
import pytest
import soundfile as sf
from mutagen.id3 import ID3

from sointu.errors import OutputError, UsageError
from sointu.rendering.formats import resolve_format
from sointu.rendering.markers import (
    chapters_json,
    cue_sheet,
    cue_time,
    sidecar_paths,
    validate_phases,
    vorbis_chapter_comments,
)
from sointu.rendering.tags import Tags, check_date, validate_tag_text, validate_tags
from sointu.rendering.writer import write_blocks
from sointu.session.timeline import Phase

SR = 48000
TITLE = "Sointurentoutus – Äänimatka Maijalle, å"
TAGS = Tags(title=TITLE, artist="Åsa Öhman", album="Äänimaljat", date="2024-05-01",
            genre="Äänirentoutus", comment="Lahja: kiitos, että kävit! ö " * 20,
            extra={"DEDICATION": "Maijalle ystävyydellä"})
PHASES = [Phase("Johdanto", 0.0, 0.5), Phase("Syvä rentoutus – ää", 0.5, 1.25),
          Phase("Paluu", 1.25, 2.0)]


def signal(seconds=2.0, seed=7):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = 0.25 * np.sin(2 * np.pi * 440 * t)[:, None] * np.array([1.0, 0.8])
    return (x + 0.01 * rng.standard_normal((n, 2))).astype(np.float32)


def write(path, x, fmt=None, tags=TAGS, phases=PHASES, **kw):
    fmt = fmt or resolve_format(path, sample_rate=SR, frames=len(x))
    blocks = (x[i:i + 4096] for i in range(0, len(x), 4096))
    return write_blocks(path, blocks, sample_rate=SR, total_frames=len(x), fmt=fmt, tags=tags,
                        phases=phases, **kw)


# ---------------------------------------------------------------- a RIFF reader of our own

def riff_chunks(path):
    """{id: [data, ...]} of the top-level chunks; the RF64 data size comes from ds64."""
    b = path.read_bytes()
    assert b[8:12] == b"WAVE"
    if b[:4] == b"RIFF":
        assert struct.unpack("<I", b[4:8])[0] == len(b) - 8
        data64 = None
    else:
        assert b[:4] == b"RF64" and b[12:16] == b"ds64"
        riff64, data64 = struct.unpack("<QQ", b[20:36])
        assert riff64 == len(b) - 8
    out, pos = {}, 12
    while pos < len(b):
        cid = b[pos:pos + 4]
        size = struct.unpack("<I", b[pos + 4:pos + 8])[0]
        if cid == b"data" and size == 0xFFFFFFFF:
            size = data64
        assert pos + 8 + size <= len(b), cid
        out.setdefault(cid, []).append(b[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)
    assert pos == len(b)
    return out


def parse_cue(data):
    n = struct.unpack("<I", data[:4])[0]
    assert len(data) == 4 + 24 * n
    points = {}
    for i in range(n):
        cid, pos, chunk, cstart, bstart, offset = struct.unpack(
            "<II4sIII", data[4 + 24 * i:28 + 24 * i])
        assert chunk == b"data" and cstart == 0 and bstart == 0 and pos == offset
        points[cid] = offset
    return points


def parse_adtl(data):
    assert data[:4] == b"adtl"
    labels, lengths, pos = {}, {}, 4
    while pos < len(data):
        sid = data[pos:pos + 4]
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        cid = struct.unpack("<I", body[:4])[0]
        if sid == b"labl":
            assert body.endswith(b"\0")
            labels[cid] = body[4:-1].decode("utf-8")
        elif sid == b"ltxt":
            lengths[cid] = struct.unpack("<I", body[4:8])[0]
            assert body[8:12] == b"rgn "
        pos += 8 + size + (size & 1)
    return labels, lengths


# --------------------------------------------------------------------------- validation

def test_validate_tag_text_accepts_finnish_and_limits():
    assert validate_tag_text("title", TITLE) == TITLE
    assert validate_tag_text("title", "ä" * 250)
    assert validate_tag_text("comment", "å" * 1000)
    with pytest.raises(UsageError, match=r"tag title is 251 characters long; at most 250"):
        validate_tag_text("title", "a" * 251)
    with pytest.raises(UsageError, match=r"tag comment is 1001 .* at most 1000"):
        validate_tag_text("comment", "a" * 1001)


@pytest.mark.parametrize("bad", ["a\nb", "tab\there", "nul\0", "del\x7f", "c1\x85", "\ud800"])
def test_validate_tag_text_rejects_control_characters(bad):
    with pytest.raises(UsageError) as info:
        validate_tag_text("artist", bad)
    msg = str(info.value)
    assert "\n" not in msg and "tag artist" in msg


@pytest.mark.parametrize("text", ["2026", "2026-12", "2026-12-24", "2024-02-29", " 2026-01-01 "])
def test_iso_dates_are_accepted(text):
    assert check_date(text) == text.strip()


@pytest.mark.parametrize("text, fragment", [
    ("24.12.2026", "did you mean 2026-12-24"), ("1.2.2026", "did you mean 2026-02-01"),
    ("tomorrow", "not allowed"), ("", "not allowed"), ("2026-13", "not a calendar date"),
    ("2025-02-29", "not a calendar date"), ("2026-00-10", "not a calendar date"),
    ("26-12-24", "not allowed"), ("2026/12/24", "not allowed"), ("20261224", "not allowed"),
    ("31.2.2026", "not allowed"),
])
def test_other_dates_are_one_line_naming_the_iso_forms(text, fragment):
    with pytest.raises(UsageError) as info:
        check_date(text)
    msg = str(info.value)
    assert fragment in msg and "YYYY-MM-DD" in msg and "\n" not in msg
    with pytest.raises(UsageError):
        validate_tags(Tags(date=text or "x"))


def test_mp3_date_reads_back_whole(tmp_path):
    path = tmp_path / "a.mp3"
    write(path, signal(0.5), tags=Tags(title="t", date="2026-12-24"), phases=[])
    assert str(ID3(path)["TDRC"]) == "2026-12-24"


def test_validate_tags_extra_keys():
    validate_tags(TAGS)
    for key in ("bad key", "1abc", "", "x=y", "CHAPTER001", "title"):
        with pytest.raises(UsageError, match="extra tag name"):
            validate_tags(Tags(extra={key: "x"}))
    with pytest.raises(UsageError, match="tag genre"):
        validate_tags(Tags(genre="a\x01"))


def test_validate_phases():
    assert validate_phases(PHASES, 2.0) == PHASES
    assert validate_phases([Phase("a", 0, 2.005)], 2.0)[0].end_s == 2.0  # rounding slack
    bad = [
        ([Phase("a", 0, 3)], "after the end"),
        ([Phase("a", 1, 1)], "start_s < end_s"),
        ([Phase("a", -1, 1)], "start_s < end_s"),
        ([Phase("a", 0, 1), Phase("b", 0.5, 1.5)], "before the previous phase ends"),
        ([Phase("", 0, 1)], "cannot be a marker"),
        ([Phase("a\nb", 0, 1)], "cannot be a marker"),
        ([Phase(f"p{i}", i * 0.01, (i + 1) * 0.01) for i in range(100)], "at most 99"),
    ]
    for phases, words in bad:
        with pytest.raises(OutputError, match=words):
            validate_phases(phases, 2.0)


# ------------------------------------------------------------------------ tags, every format

def check_mutagen_tags(m, path):
    if path.suffix == ".mp3":
        t = m.tags
        assert t.version[:2] == (2, 4)
        assert str(t["TIT2"]) == TITLE and str(t["TPE1"]) == TAGS.artist
        assert str(t["TALB"]) == TAGS.album and str(t["TCON"]) == TAGS.genre
        assert str(t["TDRC"]) == "2024-05-01"
        assert t.getall("COMM")[0].text[0] == TAGS.comment
        assert t.getall("TXXX")[0].text[0] == "Maijalle ystävyydellä"
        assert all(f.encoding == 3 for f in t.values() if hasattr(f, "encoding"))
    elif path.suffix == ".wav":
        t = m.tags  # the id3 chunk
        assert str(t["TIT2"]) == TITLE and str(t["TPE1"]) == TAGS.artist
        assert t.getall("COMM")[0].text[0] == TAGS.comment
    else:
        assert m["title"] == [TITLE] and m["artist"] == [TAGS.artist]
        assert m["album"] == [TAGS.album] and m["genre"] == [TAGS.genre]
        assert m["date"] == ["2024-05-01"] and m["comment"] == [TAGS.comment]
        assert m["DEDICATION"] == ["Maijalle ystävyydellä"]


@pytest.mark.parametrize("name, seconds", [("a.wav", 2.0), ("a.flac", 2.0), ("a.ogg", 2.0),
                                           ("a.opus", 1.0), ("a.mp3", 1.0)])
def test_finnish_tags_read_back_by_soundfile_and_mutagen(tmp_path, name, seconds):
    path = tmp_path / name
    x = signal(seconds)
    phases = [Phase("Johdanto", 0.0, seconds)]
    write(path, x, phases=phases)
    with sf.SoundFile(path) as f:
        assert f.title == TITLE
        assert f.artist == TAGS.artist
        assert f.album == TAGS.album
        assert f.genre == TAGS.genre
        assert f.comment == TAGS.comment
        assert f.date.startswith("2024")  # libsndfile keeps only the year from MP3
        if not name.endswith(".mp3"):
            assert f.date == "2024-05-01"
        assert f.frames == len(x)
    m = mutagen.File(path)
    check_mutagen_tags(m, path)


def test_wav_info_chunk_is_utf8(tmp_path):
    path = tmp_path / "a.wav"
    write(path, signal(0.5), phases=[])
    info = riff_chunks(path)[b"LIST"][0]
    assert info[:4] == b"INFO"
    assert TITLE.encode("utf-8") + b"\0" in info


def test_mp3_has_no_id3v1_and_no_latin1_mojibake(tmp_path):
    path = tmp_path / "a.mp3"
    write(path, signal(0.5), phases=[])
    data = path.read_bytes()
    assert data[-128:-125] != b"TAG"
    assert data[:4] == b"ID3\x04"
    size = sum(b << (7 * (3 - i)) for i, b in enumerate(data[6:10]))  # syncsafe
    tag = data[:10 + size]
    assert TITLE.encode("utf-8") in tag
    assert "Ä".encode().decode("latin-1").encode() not in tag  # no double-encoded UTF-8


# --------------------------------------------------------------------------- WAV markers

@pytest.mark.parametrize("depth, rf64", [("24", False), ("16", False), ("32f", False),
                                         ("24", True)])
def test_wav_cue_and_labels(tmp_path, depth, rf64):
    path = tmp_path / "a.wav"
    x = signal(2.0)
    fmt = resolve_format(path, depth, sample_rate=SR, frames=len(x))
    if rf64:  # what resolve_format picks for a 4 GiB file, without writing 4 GiB
        fmt = dataclasses.replace(fmt, format="RF64")
    write(path, x, fmt=fmt, ditherer=lambda b: np.round(b * 32768) / 32768)
    chunks = riff_chunks(path)
    points = parse_cue(chunks[b"cue "][0])
    adtl = [c for c in chunks[b"LIST"] if c[:4] == b"adtl"]
    assert len(adtl) == 1
    labels, lengths = parse_adtl(adtl[0])
    assert points == {1: 0, 2: 24000, 3: 60000}
    assert labels == {1: "Johdanto", 2: "Syvä rentoutus – ää", 3: "Paluu"}
    assert lengths == {1: 24000, 2: 36000, 3: 36000}
    # the id3 chunk parses as ID3v2.4 with the tags
    id3 = ID3(io.BytesIO(chunks[b"id3 "][0]))
    assert str(id3["TIT2"]) == TITLE
    # soundfile still reads the audio, sample for sample
    y, rate = sf.read(path, dtype="float32")
    assert rate == SR and y.shape == x.shape
    if depth == "32f":
        np.testing.assert_array_equal(y, x)
    else:
        bits = 16 if depth == "16" else 24
        q = np.round(x.astype(np.float64) * 2 ** (bits - 1)) / 2 ** (bits - 1)
        np.testing.assert_array_equal(y, q.astype(np.float32))
    with sf.SoundFile(path) as f:
        assert f.format == ("RF64" if rf64 else "WAV")
        assert f.title == TITLE


def test_wav_labels_come_before_the_region_lengths(tmp_path):
    """ffmpeg reads chapter titles from the adtl list only up to the first sub-chunk that
    is not a labl: with ltxt between them, ffprobe showed only the first title (issue 17)."""
    path = tmp_path / "a.wav"
    write(path, signal(2.0))
    [adtl] = [c for c in riff_chunks(path)[b"LIST"] if c[:4] == b"adtl"]
    ids, titles, pos = [], [], 4
    while pos < len(adtl):
        size = struct.unpack("<I", adtl[pos + 4:pos + 8])[0]
        ids.append(adtl[pos:pos + 4])
        pos += 8 + size + (size & 1)
    assert ids == [b"labl"] * 3 + [b"ltxt"] * 3
    pos = 4  # read as ffmpeg's wavdec does
    while pos < len(adtl) and adtl[pos:pos + 4] == b"labl":
        size = struct.unpack("<I", adtl[pos + 4:pos + 8])[0]
        titles.append(adtl[pos + 12:pos + 8 + size].rstrip(b"\0").decode("utf-8"))
        pos += 8 + size + (size & 1)
    assert titles == [p.name for p in PHASES]


# --------------------------------------------------------------- Vorbis comment / ID3 chapters

@pytest.mark.parametrize("name", ["a.flac", "a.ogg", "a.opus"])
def test_vorbis_comment_chapters(tmp_path, name):
    path = tmp_path / name
    x = signal(2.0)
    write(path, x)
    m = mutagen.File(path)
    assert m["CHAPTER001"] == ["00:00:00.000"] and m["CHAPTER001NAME"] == ["Johdanto"]
    assert m["CHAPTER002"] == ["00:00:00.500"]
    assert m["CHAPTER002NAME"] == ["Syvä rentoutus – ää"]
    assert m["CHAPTER003"] == ["00:00:01.250"] and m["CHAPTER003NAME"] == ["Paluu"]
    assert "CHAPTER004" not in m
    assert sf.info(str(path)).frames == len(x)


def test_vorbis_chapter_times_past_an_hour():
    c = vorbis_chapter_comments([Phase("a", 0, 10), Phase("b", 3725.5, 3800)])
    assert c == {"CHAPTER001": "00:00:00.000", "CHAPTER001NAME": "a",
                 "CHAPTER002": "01:02:05.500", "CHAPTER002NAME": "b"}


def test_mp3_chap_and_ctoc(tmp_path):
    path = tmp_path / "a.mp3"
    x = signal(2.0)
    write(path, x)
    tag = ID3(path)
    chaps = sorted(tag.getall("CHAP"), key=lambda c: c.start_time)
    assert [(c.element_id, c.start_time, c.end_time, str(c.sub_frames["TIT2"]))
            for c in chaps] == [("chp1", 0, 500, "Johdanto"),
                                ("chp2", 500, 1250, "Syvä rentoutus – ää"),
                                ("chp3", 1250, 2000, "Paluu")]
    (toc,) = tag.getall("CTOC")
    assert toc.child_element_ids == ["chp1", "chp2", "chp3"]
    assert str(tag["TIT2"]) == TITLE
    assert sf.info(str(path)).frames == len(x)


def _raw_id3_frames(path):
    """(frame id, element id) of every frame of the file's ID3v2.4 tag, in stored order."""
    data = path.read_bytes()
    size = sum(b << (7 * (3 - i)) for i, b in enumerate(data[6:10]))
    out, pos = [], 10
    while pos < 10 + size and data[pos:pos + 4] != b"\0\0\0\0":
        n = sum(b << (7 * (3 - i)) for i, b in enumerate(data[pos + 4:pos + 8]))
        body = data[pos + 10:pos + 10 + n]
        eid = body.split(b"\0")[0].decode() if data[pos:pos + 4] in (b"CHAP", b"CTOC") else ""
        out.append((data[pos:pos + 4].decode(), eid))
        pos += 10 + n
    return out


@pytest.mark.parametrize("count", [3, 12])
def test_mp3_chapters_are_stored_in_time_order(tmp_path, count):
    """mutagen stores frames by size: the chapters came out of order (issue 17)."""
    path = tmp_path / "a.mp3"
    names = ["Johdanto", "Syvä rentoutus – ää", "Paluu"] if count == 3 else [
        "x" * ((7 * i) % 11 + 1) for i in range(count)]
    step = 2.0 / count
    phases = [Phase(n, i * step, (i + 1) * step) for i, n in enumerate(names)]
    write(path, signal(2.0), phases=phases)
    chaps = ID3(path).getall("CHAP")
    assert [c.element_id for c in chaps] == [f"chp{i}" for i in range(1, count + 1)]
    assert [str(c.sub_frames["TIT2"]) for c in chaps] == names
    raw = _raw_id3_frames(path)
    assert [e for f, e in raw if f == "CHAP"] == [f"chp{i}" for i in range(1, count + 1)]
    assert [f for f, _ in raw][-count - 1:] == ["CTOC"] + ["CHAP"] * count
    assert str(ID3(path)["TIT2"]) == TITLE and sf.info(str(path)).frames == 2 * SR


@pytest.mark.parametrize("name", ["a.mp3", "a.flac", "a.ogg", "a.opus"])
def test_tags_chapters_and_cover_written_together(tmp_path, name):
    """One save per file: the cover does not undo the chapters' order (it did in MP3)."""
    import base64

    from mutagen.flac import Picture

    from sointu.rendering.cover_art import CoverImage

    image = CoverImage(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png", 8, 4)
    names = ["x" * ((7 * i) % 11 + 1) for i in range(12)]
    phases = [Phase(n, i / 6, (i + 1) / 6) for i, n in enumerate(names)]
    path = tmp_path / name
    write(path, signal(2.0), phases=phases, cover=lambda: image)
    if name.endswith(".mp3"):
        raw = _raw_id3_frames(path)
        assert [e for f, e in raw if f == "CHAP"] == [f"chp{i}" for i in range(1, 13)]
        (apic,) = ID3(path).getall("APIC")
        assert apic.data == image.data and apic.type == 3 and str(ID3(path)["TIT2"]) == TITLE
    else:
        f = mutagen.File(path)
        assert f["TITLE"] == [TITLE] and f["CHAPTER012NAME"] == [names[-1]]
        pictures = f.pictures if name.endswith(".flac") else [
            Picture(base64.b64decode(f["METADATA_BLOCK_PICTURE"][0]))]
        assert [(p.data, p.mime, p.width, p.height) for p in pictures] == [
            (image.data, "image/png", 8, 4)]
    assert sf.info(str(path)).frames == 2 * SR


# ------------------------------------------------------------------------------- sidecars

def test_cue_time():
    assert cue_time(0) == "00:00:00"
    assert cue_time(1.0 / 75) == "00:00:01"
    assert cue_time(59.99) == "00:59:74"
    assert cue_time(61.5) == "01:01:37"  # 37.5 frames rounds to even
    assert cue_time(3600) == "60:00:00"
    assert cue_time(100 * 60 + 0.2) == "100:00:15"


@pytest.mark.parametrize("name, kind", [("a.wav", "WAVE"), ("a.flac", "WAVE"),
                                        ("a.mp3", "MP3")])
def test_sidecars(tmp_path, name, kind):
    path = tmp_path / name
    write(path, signal(2.0))
    cue_path, json_path = sidecar_paths(path)
    assert cue_path.name == name + ".cue"
    assert json_path.name == name + ".chapters.json"
    assert cue_path.read_text(encoding="utf-8") == (
        'PERFORMER "Åsa Öhman"\n'
        f'TITLE "{TITLE}"\n'
        f'FILE "{name}" {kind}\n'
        '  TRACK 01 AUDIO\n    TITLE "Johdanto"\n    PERFORMER "Åsa Öhman"\n'
        '    INDEX 01 00:00:00\n'
        '  TRACK 02 AUDIO\n    TITLE "Syvä rentoutus – ää"\n    PERFORMER "Åsa Öhman"\n'
        '    INDEX 01 00:00:38\n'
        '  TRACK 03 AUDIO\n    TITLE "Paluu"\n    PERFORMER "Åsa Öhman"\n'
        '    INDEX 01 00:01:19\n')
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc == {"file": name, "phases": [
        {"name": "Johdanto", "start_s": 0.0, "end_s": 0.5},
        {"name": "Syvä rentoutus – ää", "start_s": 0.5, "end_s": 1.25},
        {"name": "Paluu", "start_s": 1.25, "end_s": 2.0}]}


def test_cue_sheet_quotes_cannot_break_lines():
    text = cue_sheet('my "best".flac', "WAVE", [Phase('say "aa"', 0, 1)], title=None)
    assert text == ('FILE "my \u201dbest\u201d.flac" WAVE\n  TRACK 01 AUDIO\n'
                    '    TITLE "say \u201daa\u201d"\n    INDEX 01 00:00:00\n')
    assert json.loads(chapters_json("x.wav", [Phase('say "aa"', 0, 1)]))["phases"][0][
        "name"] == 'say "aa"'


def test_no_sidecars_without_phases(tmp_path):
    path = tmp_path / "a.flac"
    write(path, signal(0.5), phases=[])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.flac"]
    assert "CHAPTER001" not in mutagen.File(path)
