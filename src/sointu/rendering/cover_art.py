"""Front-cover pictures inside audio files, and checking a practitioner's own picture.

Where the picture goes (the front cover, picture type 3, in each):

- FLAC: a ``PICTURE`` metadata block.
- MP3: an ID3v2.4 ``APIC`` frame.
- Ogg Vorbis and Ogg Opus: a ``METADATA_BLOCK_PICTURE`` comment (the FLAC picture block,
  base64), as players read it.
- WAV: none (few players look for pictures in WAV); :func:`holds_pictures` says so.

Embedded with the text tags and markers (:mod:`.metadata`), into the temporary file, before it
is renamed into place (:func:`sointu.rendering.writer.write_blocks`). Only PNG and JPEG are
embedded; their size is read from their headers, so no imaging library is needed here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

__all__ = ["CoverImage", "MAX_COVER_BYTES", "holds_pictures", "image_info", "read_cover_file",
           "flac_picture", "FRONT_COVER"]

#: Largest picture accepted for ``--cover`` (bytes).
MAX_COVER_BYTES = 10 * 1024 * 1024
#: Picture type "front cover" (ID3 APIC and FLAC PICTURE).
FRONT_COVER = 3


@dataclass(frozen=True)
class CoverImage:
    """A picture to embed.

    Attributes
    ----------
    data : bytes
        The PNG or JPEG file's bytes.
    mime : str
        ``image/png`` or ``image/jpeg``.
    width, height : int
        Pixels.
    """

    data: bytes
    mime: str
    width: int
    height: int


def holds_pictures(fmt) -> bool:
    """Whether files of ``fmt`` (an OutputFormat) get a cover: FLAC, MP3, Ogg Vorbis/Opus."""
    return fmt.format in ("FLAC", "MP3", "OGG")


def image_info(data: bytes) -> tuple[str, int, int] | None:
    """``(mime, width, height)`` of PNG or JPEG bytes, or None if they are neither."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return ("image/png", width, height) if width and height else None
    if data[:3] != b"\xff\xd8\xff":
        return None
    pos = 2
    while pos + 4 <= len(data):  # walk the JPEG segments to a start-of-frame
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                      0xCE, 0xCF):
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return ("image/jpeg", width, height) if width and height else None
        pos += 2 + length
    return None


def read_cover_file(path) -> CoverImage:
    """Read and check a practitioner's own cover picture (``--cover FILE``).

    Raises
    ------
    UsageError
        The file is missing or unreadable, over :data:`MAX_COVER_BYTES`, or not a PNG or
        JPEG picture.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise UsageError(f"--cover {path}: is a folder; allowed: a PNG or JPEG file")
        if size > MAX_COVER_BYTES:
            raise UsageError(f"--cover {path}: {size / 1e6:.1f} MB is too large; allowed: "
                             f"a PNG or JPEG file up to {MAX_COVER_BYTES // (1024 * 1024)} MB")
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--cover {path}: cannot be read ({exc.strerror or exc}); allowed: "
                         f"a readable PNG or JPEG file") from None
    info = image_info(data)
    if info is None:
        raise UsageError(f"--cover {path}: is not a PNG or JPEG picture; allowed: a PNG or "
                         f"JPEG file up to {MAX_COVER_BYTES // (1024 * 1024)} MB")
    return CoverImage(data, *info)


def flac_picture(image: CoverImage):
    """``image`` as a FLAC picture block (front cover), as FLAC and Ogg files carry it."""
    from mutagen.flac import Picture

    pic = Picture()
    pic.type = FRONT_COVER
    pic.mime = image.mime
    pic.desc = "Cover"
    pic.width, pic.height = image.width, image.height
    pic.depth = 24
    pic.data = image.data
    return pic
