"""Phase markers (chapters) inside audio files and in sidecar files beside them.

- WAV/RF64: a ``cue `` chunk (one cue point per phase at its first sample) and a
  ``LIST``/``adtl`` chunk with a ``labl`` (name) and an ``ltxt`` (length in samples,
  purpose ``rgn ``) per phase, appended after libsndfile closed the file. Audacity and
  Reaper read cue points with labels.
- FLAC, Ogg Vorbis, Ogg Opus: Vorbis-comment chapters ``CHAPTER001=00:00:00.000``,
  ``CHAPTER001NAME=Johdanto`` (numbered from 001).
- MP3: ID3v2 ``CHAP`` frames (times in ms, names as TIT2 sub-frames) and one top-level
  ordered ``CTOC`` listing them.
- Sidecars for every format: ``<file>.cue`` (CUE sheet, UTF-8, one TRACK/INDEX 01 per phase,
  times MM:SS:FF at 75 frames per second) and ``<file>.chapters.json``.

Phases are checked once, before any audio is written (:func:`validate_phases`).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from ..errors import OutputError
from ..session.timeline import Phase
from .riff import chunk_bytes

__all__ = [
    "MAX_PHASES",
    "validate_phases",
    "sidecar_paths",
    "wav_marker_chunks",
    "vorbis_chapter_comments",
    "id3_chapter_frames",
    "cue_time",
    "cue_sheet",
    "chapters_json",
]

#: Most phases a file can carry (a CUE sheet has at most 99 tracks).
MAX_PHASES = 99

#: Slack allowed between the last phase end and the file length (s), for rounding.
_END_SLACK_S = 0.01


def validate_phases(phases, duration_s: float) -> list[Phase]:
    """Check phases for markers and clip the last end to the file length.

    Parameters
    ----------
    phases : iterable of Phase
        Named spans ``[start_s, end_s)`` in seconds, in order, not overlapping.
    duration_s : float
        Length of the audio file (s).

    Returns
    -------
    list of Phase
        The phases, each ``end_s`` at most ``duration_s``.

    Raises
    ------
    OutputError
        More than :data:`MAX_PHASES`, an empty or too long name, a name with control
        characters, a negative, empty, out-of-order or overlapping span, or a span past
        the end of the file.
    """
    from .tags import MAX_TAG_CHARS

    out = []
    prev_end = 0.0
    phases = list(phases)
    if len(phases) > MAX_PHASES:
        raise OutputError(f"{len(phases)} phases cannot be written as markers; at most "
                          f"{MAX_PHASES} are allowed")
    for i, ph in enumerate(phases, 1):
        name = ph.name
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_TAG_CHARS or \
                any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
            raise OutputError(f"phase {i} name {name!r} cannot be a marker; use 1 to "
                              f"{MAX_TAG_CHARS} printable characters")
        start, end = float(ph.start_s), float(ph.end_s)
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise OutputError(f"phase {i} '{name}' spans {start!r}..{end!r} s; a phase "
                              f"needs 0 <= start_s < end_s")
        if start < prev_end - 1e-9:
            raise OutputError(f"phase {i} '{name}' starts at {start:g} s, before the "
                              f"previous phase ends ({prev_end:g} s); phases must be in order")
        if end > duration_s + _END_SLACK_S or start >= duration_s:
            raise OutputError(f"phase {i} '{name}' ends at {end:g} s, after the end of the "
                              f"audio ({duration_s:g} s)")
        out.append(Phase(name, start, min(end, duration_s)))
        prev_end = end
    return out


def sidecar_paths(path) -> tuple[Path, Path]:
    """``(<file>.cue, <file>.chapters.json)`` beside the audio file ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".cue"), path.with_name(path.name + ".chapters.json")


def _frame(t_s: float, sample_rate: int) -> int:
    return int(round(t_s * sample_rate))


def wav_marker_chunks(phases, sample_rate: int) -> list[tuple[bytes, bytes]]:
    """The ``cue `` and ``LIST``/``adtl`` chunks for ``phases``.

    Parameters
    ----------
    phases : list of Phase
        Validated phases.
    sample_rate : int
        Hz; positions are ``round(start_s * sample_rate)`` frames.

    Returns
    -------
    list of (bytes, bytes)
        ``[(b"cue ", data), (b"LIST", data)]``, or ``[]`` without phases. Cue point ids
        are 1, 2, ...; ``labl`` text is UTF-8, NUL-terminated; ``ltxt`` holds the length
        in frames with purpose ``rgn ``. All ``labl`` come before all ``ltxt``.
    """
    if not phases:
        return []
    cue = [struct.pack("<I", len(phases))]
    # every labl before any ltxt: ffmpeg (ffprobe) stops reading titles at the first
    # sub-chunk that is not a labl
    labels, texts = [], []
    for cue_id, ph in enumerate(phases, 1):
        start = _frame(ph.start_s, sample_rate)
        length = _frame(ph.end_s, sample_rate) - start
        if start > 0xFFFFFFFF or length > 0xFFFFFFFF:
            raise OutputError(f"phase '{ph.name}' at {ph.start_s:g} s lies beyond what a "
                              f"WAV cue point can address (2**32 frames)")
        # id, position, fccChunk, chunkStart, blockStart, sampleOffset
        cue.append(struct.pack("<II4sIII", cue_id, start, b"data", 0, 0, start))
        labels.append(chunk_bytes(b"labl", struct.pack("<I", cue_id)
                                  + ph.name.encode("utf-8") + b"\0"))
        # id, sample length, purpose, country, language, dialect, code page
        texts.append(chunk_bytes(b"ltxt", struct.pack("<II4sHHHH", cue_id, length, b"rgn ",
                                                      0, 0, 0, 65001)))
    return [(b"cue ", b"".join(cue)), (b"LIST", b"".join([b"adtl", *labels, *texts]))]


def _hms(t_s: float) -> str:
    ms = int(round(t_s * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def vorbis_chapter_comments(phases) -> dict[str, str]:
    """Vorbis-comment chapters: ``{"CHAPTER001": "00:00:00.000", "CHAPTER001NAME": ...}``."""
    out = {}
    for i, ph in enumerate(phases, 1):
        out[f"CHAPTER{i:03d}"] = _hms(ph.start_s)
        out[f"CHAPTER{i:03d}NAME"] = ph.name
    return out


def id3_chapter_frames(phases) -> list:
    """ID3v2 ``CHAP`` frames ``chp1``, ``chp2``, ... (ms, TIT2 names) and a ``CTOC`` ``toc``."""
    from mutagen.id3 import CHAP, CTOC, TIT2, CTOCFlags

    if not phases:
        return []
    frames = []
    ids = []
    for i, ph in enumerate(phases, 1):
        eid = f"chp{i}"
        ids.append(eid)
        frames.append(CHAP(element_id=eid, start_time=int(round(ph.start_s * 1000)),
                           end_time=int(round(ph.end_s * 1000)), start_offset=0xFFFFFFFF,
                           end_offset=0xFFFFFFFF,
                           sub_frames=[TIT2(encoding=3, text=[ph.name])]))
    frames.append(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                       child_element_ids=ids, sub_frames=[TIT2(encoding=3, text=["Phases"])]))
    return frames


def cue_time(t_s: float) -> str:
    """``MM:SS:FF`` (75 frames per second, minutes may exceed 99) of a time in seconds."""
    frames = int(round(t_s * 75))
    minutes, rest = divmod(frames, 75 * 60)
    seconds, ff = divmod(rest, 75)
    return f"{minutes:02d}:{seconds:02d}:{ff:02d}"


def _cue_text(text: str) -> str:
    # A CUE sheet has no escape for '"'; use a typographic quote instead.
    return text.replace('"', "\u201d")


def cue_sheet(audio_name: str, file_type: str, phases, *, title: str | None = None,
              performer: str | None = None) -> str:
    """A CUE sheet for ``phases`` of the audio file ``audio_name`` (beside the sheet).

    Parameters
    ----------
    audio_name : str
        File name of the audio (no folder: the sheet lives beside it).
    file_type : str
        ``WAVE`` or ``MP3`` (see :attr:`FormatSpec.cue_type`).
    phases : list of Phase
        One ``TRACK nn AUDIO`` with ``TITLE`` and ``INDEX 01 MM:SS:FF`` each.
    title, performer : str, optional
        Album-level TITLE and PERFORMER lines.

    Returns
    -------
    str
        The sheet, lines ending in ``\\n``.
    """
    lines = []
    if performer:
        lines.append(f'PERFORMER "{_cue_text(performer)}"')
    if title:
        lines.append(f'TITLE "{_cue_text(title)}"')
    lines.append(f'FILE "{_cue_text(audio_name)}" {file_type}')
    for i, ph in enumerate(phases, 1):
        lines.append(f"  TRACK {i:02d} AUDIO")
        lines.append(f'    TITLE "{_cue_text(ph.name)}"')
        if performer:
            lines.append(f'    PERFORMER "{_cue_text(performer)}"')
        lines.append(f"    INDEX 01 {cue_time(ph.start_s)}")
    return "\n".join(lines) + "\n"


def chapters_json(audio_name: str, phases) -> str:
    """``{"file": audio_name, "phases": [{"name", "start_s", "end_s"}, ...]}`` as JSON text."""
    doc = {"file": audio_name,
           "phases": [{"name": ph.name, "start_s": ph.start_s, "end_s": ph.end_s}
                      for ph in phases]}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
