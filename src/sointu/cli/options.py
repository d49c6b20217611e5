"""Options shared by several commands (render, gift, play)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ..session.durations import parse_duration
from ..session.timeline import SEED_LIMIT

__all__ = ["duration_option", "seed_option", "output_options", "tag_options", "report_broken",
           "preset_dir_option", "mix_option"]


def _seed(ctx, param, value):
    if value is not None and not 0 <= value < SEED_LIMIT:
        raise click.BadParameter(f"{value} is not allowed; allowed: a whole number 0..2^63-1")
    return value


def _duration(ctx, param, value):
    return None if value is None else parse_duration(value)


duration_option = click.option(
    "--duration", "duration_s", default=None, callback=_duration, metavar="D",
    help="Total length: 20m, 90m, 1h30m or 1h30 (1 h 30 min), 45m30, 3600s, 1:30:00 "
         "(default: the preset's).")

seed_option = click.option(
    "--seed", type=int, default=None, callback=_seed,
    help="Composer seed (default: the preset's); another seed, another session.")


def output_options(f):
    """--force, --loudness, --bit-depth, --quality."""
    f = click.option("--quality", type=click.FloatRange(0.0, 1.0), default=None,
                     help="0..1 for .ogg, .opus and .mp3 (higher is better).")(f)
    f = click.option("--bit-depth", type=click.Choice(["16", "24", "32f"]), default=None,
                     help="PCM depth for .wav and .flac (default 24; 16 is dithered).")(f)
    f = click.option("--loudness", type=click.FloatRange(-40.0, -6.0), default=None,
                     metavar="LUFS", help="Integrated loudness target (default: the preset's).")(f)
    f = click.option("--force", is_flag=True, help="Overwrite an existing file.")(f)
    return f


def _date(ctx, param, value):
    if value is None:
        return None
    from ..rendering.tags import check_date

    return check_date(value)


def tag_options(f):
    """--title, --artist, --album, --comment, --genre, --date."""
    for name, text in reversed([("title", "Title (default: the preset's)."),
                                ("artist", "Artist: the practitioner."),
                                ("album", "Album."),
                                ("comment", "Comment (default: preset, seed, length)."),
                                ("genre", "Genre."),
                                ("date", "Date: YYYY, YYYY-MM or YYYY-MM-DD, e.g. 2026-11-25 "
                                 "(default: today).")]):
        f = click.option(f"--{name}", default=None, help=text,
                         callback=_date if name == "date" else None)(f)
    return f


def report_broken(problems: list[str], good: int) -> int:
    """Name each broken preset file on stderr (one line each) after a listing.

    Returns the exit code: 0 when ``good`` presets were listed, 2 when none were and some
    file was broken.
    """
    for problem in problems:
        click.echo(f"sointu: not listed: {' '.join(problem.split())}", err=True)
    return 2 if problems and not good else 0


def _preset_dir(ctx, param, value):
    if value is None:
        return None
    if not value.is_dir():
        what = "is not a folder" if value.exists() else "does not exist"
        raise UsageError(f"--dir {value} {what}; allowed: an existing folder of .toml "
                         f"presets")
    return value


def preset_dir_option(kind: str):
    """``--dir FOLDER``: where else to look for presets of ``kind`` ("session" or
    "instrument"), before ./presets; the same option on every command taking a preset name."""
    return click.option(
        "--dir", "folder", type=click.Path(path_type=Path), default=None,
        callback=_preset_dir, metavar="FOLDER",
        help=f"Also look for {kind} presets in this folder (or its {kind}s/ subfolder), "
             f"before ./presets.")


def mix_option(default: str):
    """``--mix speakers|headphones``; ``default`` names what is used when neither the option
    nor the preset's ``mix`` says."""
    return click.option(
        "--mix", type=click.Choice(["speakers", "headphones"]), default=None,
        help="speakers: a stereo mix; headphones: a binaural mix that places every "
             f"instrument around the listener's head (default: the preset's, else {default}).")
