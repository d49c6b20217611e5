"""A composed session to a finished file: its tags and the one call that renders it.

:func:`render_preset` is what ``sointu render``, ``sointu gift`` and :func:`sointu.render`
call: it picks the format from the file name, starts the gain estimate in another process
(unless the level is cached) while the encoder is imported, and hands over to
:func:`.pipeline.render_session`.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from .. import __version__
from ..session.durations import format_duration

__all__ = ["session_tags", "render_preset"]


def session_tags(audio, *, title=None, artist=None, album=None, comment=None, genre=None,
                 date=None, dedication=None):
    """Tags of a session render: preset defaults, overridden by what the user gave.

    Parameters
    ----------
    audio : SessionAudio
        The composed session (``audio.preset`` gives the defaults).
    title, artist, album, comment, genre, date : str, optional
        Override the preset's metadata; ``date`` defaults to today (ISO 8601).
    dedication : str, optional
        Added to the default comment.

    Returns
    -------
    Tags
    """
    from .tags import Tags

    preset = audio.preset
    meta = preset.metadata
    length = format_duration(audio.duration_s)
    parts = [f"preset {preset.name}", f"seed {audio.timeline.seed}", f"length {length}",
             f"sointu {__version__}"]
    if dedication:
        parts.append(dedication)
    default_comment = "; ".join(parts)
    if meta.comment:
        default_comment = f"{meta.comment} ({default_comment})"
    return Tags(
        title=title or preset.display_title,
        artist=artist if artist is not None else meta.artist,
        album=album if album is not None else meta.album,
        date=date or datetime.date.today().isoformat(),
        genre=genre if genre is not None else meta.genre,
        comment=comment if comment is not None else default_comment,
    )


def render_preset(audio, output: Path, *, force: bool, loudness: float | None,
                  bit_depth: str | None, quality: float | None, tags, progress=None):
    """Render a composed session to ``output``.

    Parameters
    ----------
    audio : SessionAudio
        The composed session.
    output : Path
        The file; its suffix picks the format.
    force : bool
        Overwrite an existing file.
    loudness : float or None
        Integrated loudness target (LUFS); None for the preset's.
    bit_depth, quality
        Format options (see :func:`.formats.resolve_format`).
    tags : Tags
        E.g. from :func:`session_tags`.
    progress : callable, optional
        Called with the frames written so far. If it also has ``begin()`` and ``close()``
        (as the command line's progress bar), they are called when the render starts and
        when it ends.

    Returns
    -------
    RenderReport
    """
    from . import gain_cache
    from .estimate import GainEstimate
    from .formats import resolve_format
    from .level import CEILING_DBTP

    fmt = resolve_format(output, bit_depth=bit_depth, quality=quality,
                         sample_rate=audio.sample_rate, frames=audio.total_frames, channels=2)
    target = audio.preset.defaults.loudness_lufs if loudness is None else loudness
    # unless it is cached, the gain is estimated in another process while the encoder and
    # the meter are imported
    cached = gain_cache.get(gain_cache.key(audio, target, CEILING_DBTP)) is not None
    estimate = None if cached else GainEstimate(audio, target)
    if hasattr(progress, "begin"):
        progress.begin()  # at once: a session may be measured before frames are written
    try:
        from .pipeline import render_session

        return render_session(audio, output, fmt=fmt, tags=tags, target_lufs=target,
                              force=force, progress=progress,
                              planned=None if estimate is None else estimate.result)
    finally:
        if estimate is not None:
            estimate.close()
        if hasattr(progress, "close"):
            progress.close()
