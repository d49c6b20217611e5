"""Tags, chapters and the cover written into a finished audio file: one open, one save.

What goes where is told by :mod:`.tags`, :mod:`.markers` and :mod:`.cover_art`, which make
the frames, chunks and comments; here they are written together, into the temporary file
before it is renamed into place (:func:`sointu.rendering.writer.write_blocks`):

- WAV/RF64: the ``id3 `` chunk and the marker chunks, appended in one pass (no cover).
- MP3: one ID3v2.4 tag (text frames, ``CHAP``/``CTOC``, ``APIC``), saved once without
  ID3v1; its chapters are then put in time order within the tag.
- FLAC, Ogg Vorbis, Ogg Opus: the Vorbis comments (tags, chapters; Ogg: the cover as
  ``METADATA_BLOCK_PICTURE``) and FLAC's picture block, saved once.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

from .cover_art import FRONT_COVER, CoverImage, flac_picture
from .markers import id3_chapter_frames, vorbis_chapter_comments, wav_marker_chunks
from .riff import append_chunks
from .tags import Tags, id3_tag_frames, validate_tags, wav_id3_chunk

__all__ = ["write_metadata"]

#: ID3 frames this module owns: replaced on every write, the others kept.
_ID3_OWNED = ("TIT2", "TPE1", "TALB", "TDRC", "TCON", "COMM", "TXXX", "CHAP", "CTOC", "APIC")


def write_metadata(path, fmt, tags: Tags, phases=(), sample_rate: int = 48000,
                   cover: CoverImage | None = None) -> None:
    """Write ``tags``, ``phases`` as chapters and ``cover`` into the closed file ``path``.

    Parameters
    ----------
    path : path
        A complete audio file (normally the temporary file, before its rename).
    fmt : OutputFormat
        Its format (:func:`sointu.rendering.formats.resolve_format`).
    tags : Tags
        Text tags (checked with :func:`.tags.validate_tags`).
    phases : list of Phase
        Checked with :func:`.markers.validate_phases`; none: no chapters.
    sample_rate : int
        Hz, for WAV cue positions.
    cover : CoverImage, optional
        The front cover (replaces any; ignored for WAV, which holds none).
    """
    validate_tags(tags)
    phases = list(phases)
    path = Path(path)
    if fmt.riff:
        chunk = wav_id3_chunk(tags)
        append_chunks(path, ([chunk] if chunk else [])
                      + (wav_marker_chunks(phases, sample_rate) if phases else []))
    elif fmt.format == "MP3":
        _write_id3(path, tags, phases, cover)
    else:
        _write_vorbis(path, fmt, tags, phases, cover)


def _write_id3(path: Path, tags: Tags, phases, cover: CoverImage | None) -> None:
    from mutagen.id3 import APIC, ID3, ID3NoHeaderError

    try:
        tag = ID3(path)
    except ID3NoHeaderError:
        tag = ID3()
    for frame_id in _ID3_OWNED:
        tag.delall(frame_id)
    frames = id3_tag_frames(tags) + id3_chapter_frames(phases)
    if cover is not None:
        frames.append(APIC(encoding=3, mime=cover.mime, type=FRONT_COVER, desc="Cover",
                           data=cover.data))
    for frame in frames:
        tag.add(frame)
    tag.save(path, v1=0, v2_version=4)
    if phases:
        _chapters_in_order(path)


def _write_vorbis(path: Path, fmt, tags: Tags, phases, cover: CoverImage | None) -> None:
    from mutagen.flac import FLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    opener = {"FLAC": FLAC, "VORBIS": OggVorbis, "OPUS": OggOpus}
    audio = opener["FLAC" if fmt.format == "FLAC" else fmt.subtype](path)
    if audio.tags is None:
        audio.add_tags()
    comments = {name.upper(): value for name, value in tags.items()}
    comments.update((key.upper(), value) for key, value in tags.extra.items() if value)
    for key in [k for k in audio.tags.keys() if k.upper().startswith("CHAPTER")]:
        del audio.tags[key]
    comments.update(vorbis_chapter_comments(phases))
    if cover is not None and fmt.format == "FLAC":
        audio.clear_pictures()
        audio.add_picture(flac_picture(cover))
    elif cover is not None:
        comments["METADATA_BLOCK_PICTURE"] = base64.b64encode(
            flac_picture(cover).write()).decode("ascii")
    for key, value in comments.items():
        audio.tags[key] = [value]
    audio.save()


def _syncsafe(b: bytes) -> int:
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def _chapters_in_order(path: Path) -> None:
    """Put the ID3v2.4 tag's ``CTOC`` and then its ``CHAP`` frames, by start time, last.

    mutagen stores frames by size, so the chapters came out in any order (ffprobe and some
    players list them in stored order). Only frames are moved, within the tag: the file's
    size and every frame's bytes stay the same.
    """
    with open(path, "r+b") as f:
        head = f.read(10)
        if len(head) < 10 or head[:3] != b"ID3" or head[3] != 4 or head[5] & 0xC0:
            return  # not a plain ID3v2.4 tag (as mutagen writes it): leave it
        body = f.read(_syncsafe(head[6:10]))
        frames, pos = [], 0
        while pos + 10 <= len(body) and body[pos:pos + 4] != b"\0\0\0\0":
            end = pos + 10 + _syncsafe(body[pos + 4:pos + 8])
            if end > len(body):
                return
            frames.append(body[pos:end])
            pos = end
        chaps = [fr for fr in frames if fr[:4] == b"CHAP"]
        rest = [fr for fr in frames if fr[:4] not in (b"CHAP", b"CTOC")]
        tocs = [fr for fr in frames if fr[:4] == b"CTOC"]

        def start_ms(frame: bytes) -> int:
            at = frame.index(b"\0", 10) + 1  # after the element id
            return struct.unpack(">I", frame[at:at + 4])[0]

        ordered = b"".join(rest + tocs + sorted(chaps, key=start_ms))
        if ordered != body[:pos]:
            f.seek(10)
            f.write(ordered)
