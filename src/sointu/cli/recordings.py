"""``--voice-intro FILE``: a one-off spoken welcome at the start of a render or a gift."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["voice_intro_option", "voice_intro_recordings"]

voice_intro_option = click.option(
    "--voice-intro", "voice_intro", type=click.Path(path_type=Path), default=None,
    metavar="FILE",
    help="A spoken welcome (WAV, FLAC, OGG, MP3) 2 s into the first phase; no stroke starts "
         "while it plays, and it is as loud as the session.")


def voice_intro_recordings(path: Path | None) -> tuple:
    """The recordings to add for ``--voice-intro`` (none without it)."""
    if path is None:
        return ()
    from ..session.recordings import voice_intro

    return (voice_intro(path),)
