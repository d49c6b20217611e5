"""Text tags (title, artist, ...) for every output format, Finnish letters included.

Where each tag goes (all text UTF-8):

- WAV/RF64: a ``LIST``/``INFO`` chunk written by libsndfile (INAM, IART, IPRD, ICRD,
  IGNR, ICMT; read by soundfile and most editors) and an ``id3 `` chunk (ID3v2.4) appended
  after the audio, read by mutagen and by players that look for ID3 in WAV.
- FLAC, Ogg Vorbis, Ogg Opus: Vorbis comments (TITLE, ARTIST, ...; ``extra`` as KEY=value),
  written by libsndfile while encoding and completed with mutagen afterwards.
- MP3: ID3v2.4 frames written with mutagen after the file is closed. libsndfile 1.2.2
  writes MP3 text frames declared Latin-1 but holding UTF-8 bytes ("Ã¤" for "ä"), so it is
  not given any text for MP3. Any ID3v1 tag is removed (it cannot hold UTF-8).
"""

from __future__ import annotations

import datetime
import io
import re
import unicodedata
from dataclasses import dataclass, field, fields

from ..errors import UsageError

__all__ = [
    "Tags",
    "TAG_FIELDS",
    "MAX_COMMENT_CHARS",
    "MAX_TAG_CHARS",
    "check_date",
    "validate_tag_text",
    "validate_tags",
    "soundfile_attributes",
    "id3_tag_frames",
    "wav_id3_chunk",
]

#: Standard tag names, in the order they are written.
TAG_FIELDS = ("title", "artist", "album", "date", "genre", "comment")

#: Longest comment (characters).
MAX_COMMENT_CHARS = 1000
#: Longest value of any other tag, and of an ``extra`` value (characters).
MAX_TAG_CHARS = 250

_EXTRA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_RESERVED_EXTRA = {f.upper() for f in TAG_FIELDS} | {"ENCODER", "SOFTWARE"}


@dataclass(frozen=True)
class Tags:
    """Text tags of an output file. Empty or None fields are not written.

    Attributes
    ----------
    title, artist, album, date, genre, comment : str or None
        The usual tags. ``date`` is an ISO 8601 date: ``2024``, ``2024-05`` or
        ``2024-05-01`` (see :func:`check_date`).
    extra : dict of str to str
        Further tags: key ``[A-Za-z][A-Za-z0-9_]*`` (up to 64 characters), written as a
        Vorbis comment ``KEY=value`` (FLAC, Ogg) or an ID3 ``TXXX:KEY`` frame (MP3, WAV).
    """

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    date: str | None = None
    genre: str | None = None
    comment: str | None = None
    extra: dict = field(default_factory=dict)

    def items(self) -> list[tuple[str, str]]:
        """The standard tags that have a value, as ``(name, text)`` in :data:`TAG_FIELDS` order."""
        return [(name, getattr(self, name)) for name in TAG_FIELDS if getattr(self, name)]


def validate_tag_text(name: str, value) -> str:
    """Check one tag value.

    Parameters
    ----------
    name : str
        Tag name (for the message).
    value : str
        Text; any Unicode letters are fine.

    Returns
    -------
    str
        The value unchanged.

    Raises
    ------
    UsageError
        Not a string, contains a control character (none are allowed: no newlines or
        tabs either) or a lone surrogate, or is longer than :data:`MAX_COMMENT_CHARS`
        (comment) / :data:`MAX_TAG_CHARS` (others) characters.
    """
    if not isinstance(value, str):
        raise UsageError(f"tag {name} must be text, got {value!r}")
    for i, ch in enumerate(value):
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise UsageError(f"tag {name} contains control character U+{ord(ch):04X} at "
                             f"position {i + 1}; only printable text is allowed (no "
                             f"newlines or tabs)")
    limit = MAX_COMMENT_CHARS if name == "comment" else MAX_TAG_CHARS
    if len(value) > limit:
        raise UsageError(f"tag {name} is {len(value)} characters long; at most {limit} "
                         f"are allowed")
    return value


_ISO_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DAY_FIRST = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_DATE_ALLOWED = "allowed: an ISO date YYYY, YYYY-MM or YYYY-MM-DD, e.g. 2026-12-24"


def check_date(value: str) -> str:
    """Check a ``date`` tag: an ISO 8601 calendar date, as every format stores it correctly.

    Parameters
    ----------
    value : str
        ``2026``, ``2026-12`` or ``2026-12-24`` (a real calendar date, year 0001-9999).

    Returns
    -------
    str
        The value, surrounding spaces removed.

    Raises
    ------
    UsageError
        One line naming the value and the allowed forms; for a day-first date such as
        ``24.12.2026`` it suggests the ISO form.
    """
    text = str(value).strip()
    m = _ISO_DATE.match(text)
    if m:
        year, month, day = (int(g) if g else 1 for g in m.groups())
        try:
            datetime.date(year, month, day)
            return text
        except ValueError:
            raise UsageError(f"date '{value}' is not a calendar date; {_DATE_ALLOWED}"
                             ) from None
    hint = ""
    d = _DAY_FIRST.match(text)
    if d:
        day, month, year = (int(g) for g in d.groups())
        try:
            hint = f" (did you mean {datetime.date(year, month, day).isoformat()}?)"
        except ValueError:
            pass
    raise UsageError(f"date '{value}' is not allowed{hint}; {_DATE_ALLOWED}")


def validate_tags(tags: Tags) -> Tags:
    """Check every value and ``extra`` key of ``tags`` (see :func:`validate_tag_text`).

    Raises
    ------
    UsageError
        One line naming the first bad tag.
    """
    if not isinstance(tags, Tags):
        raise UsageError(f"tags must be a sointu.rendering.tags.Tags, got {type(tags).__name__}")
    for f in fields(Tags):
        if f.name == "extra":
            continue
        value = getattr(tags, f.name)
        if value is not None:
            validate_tag_text(f.name, value)
            if f.name == "date" and value:
                check_date(value)
    if not isinstance(tags.extra, dict):
        raise UsageError(f"extra tags must be a dict of text, got {tags.extra!r}")
    for key, value in tags.extra.items():
        if not isinstance(key, str) or not _EXTRA_KEY.match(key):
            raise UsageError(f"extra tag name {key!r} is not allowed; use a letter then "
                             f"letters, digits or _ (at most 64)")
        if key.upper() in _RESERVED_EXTRA or key.upper().startswith("CHAPTER"):
            raise UsageError(f"extra tag name {key!r} is reserved; use the Tags field or "
                             f"another name")
        validate_tag_text(key, value)
    return tags


def soundfile_attributes(fmt, tags: Tags) -> dict[str, str]:
    """Tags to set on the open ``soundfile.SoundFile`` before writing audio.

    Empty for MP3 (see the module notes); otherwise the standard tags by soundfile's
    attribute names (``title``, ``artist``, ``album``, ``date``, ``genre``, ``comment``).
    """
    if fmt.format == "MP3":
        return {}
    return dict(tags.items())


def id3_tag_frames(tags: Tags) -> list:
    """ID3v2.4 frames (UTF-8) for ``tags``: TIT2, TPE1, TALB, TDRC, TCON, COMM, TXXX."""
    from mutagen.id3 import COMM, TALB, TCON, TDRC, TIT2, TPE1, TXXX

    utf8 = 3
    make = {
        "title": lambda v: TIT2(encoding=utf8, text=[v]),
        "artist": lambda v: TPE1(encoding=utf8, text=[v]),
        "album": lambda v: TALB(encoding=utf8, text=[v]),
        "date": lambda v: TDRC(encoding=utf8, text=[v]),
        "genre": lambda v: TCON(encoding=utf8, text=[v]),
        "comment": lambda v: COMM(encoding=utf8, lang="fin", desc="", text=[v]),
    }
    frames = [make[name](value) for name, value in tags.items()]
    frames += [TXXX(encoding=utf8, desc=k, text=[v]) for k, v in tags.extra.items() if v]
    return frames


def _id3_bytes(frames) -> bytes:
    from mutagen.id3 import ID3

    tag = ID3()
    for frame in frames:
        tag.add(frame)
    buf = io.BytesIO()
    tag.save(buf, v2_version=4, padding=lambda info: 0)
    return buf.getvalue()


def wav_id3_chunk(tags: Tags) -> tuple[bytes, bytes] | None:
    """The ``("id3 ", data)`` RIFF chunk carrying ``tags`` as ID3v2.4, or None if empty."""
    frames = id3_tag_frames(tags)
    if not frames:
        return None
    return b"id3 ", _id3_bytes(frames)
