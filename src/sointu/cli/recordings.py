"""``--voice-intro FILE``: a one-off spoken welcome at the start of a render, a gift or live
play."""

from __future__ import annotations

from pathlib import Path

import click

from ..library import voice_intro_recordings

__all__ = ["voice_intro_option", "voice_intro_recordings"]

voice_intro_option = click.option(
    "--voice-intro", "voice_intro", type=click.Path(path_type=Path), default=None,
    metavar="FILE",
    help="A spoken welcome (WAV, FLAC, OGG, MP3) 2 s into the first phase; no stroke starts "
         "while it plays, and it is as loud as the session.")
