"""``sointu render``: a session preset to a loudness-normalised, tagged, chaptered file."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import UsageError
from ..library import cover_and_plot as _cover_and_plot
from ..library import render_preset as _render_preset
from ..library import session_tags
from ..session.durations import format_duration
from . import group
from .options import (
    duration_option,
    mix_option,
    output_options,
    preset_dir_option,
    seed_option,
    tag_options,
)
from .progress import Progress
from .recordings import voice_intro_option, voice_intro_recordings

__all__ = ["default_output", "output_folder", "check_new_output", "render_preset",
           "named_preset", "session_tags"]

#: ``render`` and ``gift``: the session picture and the front cover.
cover_options_list = [
    click.option("--plot", is_flag=True,
                 help="Also draw the session and its loudness, measured while rendering, "
                      "into a .png beside the file (in the session's language)."),
    click.option("--cover", "cover_file", type=click.Path(path_type=Path), default=None,
                 metavar="FILE", help="Your own front cover (PNG or JPEG, up to 10 MB) "
                 "instead of the one drawn from the session."),
    click.option("--no-cover", is_flag=True, help="No front cover."),
]


def cover_options(f):
    """--plot, --cover FILE, --no-cover."""
    for option in reversed(cover_options_list):
        f = option(f)
    return f


def default_output(preset: str, seed: int, duration_s: float, folder: Path | None = None,
                   suffix: str = ".flac", *, force: bool = False) -> Path:
    """A clear file name in ``folder`` (default: here).

    ``classic-60_seed0_60m.flac``; unless ``force``, a name of no existing file:
    ``classic-60_seed0_60m-2.flac`` and so on. With ``force`` the first name, to be
    overwritten.
    """
    folder = folder or Path.cwd()
    minutes = duration_s / 60.0
    length = f"{minutes:g}m" if minutes >= 1 else f"{duration_s:g}s"
    stem = f"{Path(preset).stem}_seed{seed}_{length}"
    path = folder / f"{stem}{suffix}"
    n = 2
    while path.exists() and not force:
        path = folder / f"{stem}-{n}{suffix}"
        n += 1
    return path


def output_folder(output: str | None) -> Path | None:
    """The folder ``-o`` names, if it names one: None (here), an existing folder (``~``
    expanded), or a path ending in ``/``; None when it names a file.

    Raises
    ------
    UsageError
        A path ending in ``/`` that is not an existing folder.
    """
    if output is None:
        return Path.cwd()
    raw = str(output)
    path = Path(raw).expanduser()
    try:
        if path.is_dir():
            return path
        exists = path.exists()
    except OSError:  # e.g. a name too long: the writer's own check reports it
        return None
    if raw.endswith(("/", os.sep)):
        what = "is not a folder" if exists else "does not exist"
        raise UsageError(f"output folder {raw} {what}; allowed: a file name (its suffix "
                         f"picks the format) or an existing folder for the default name")
    return None


def check_new_output(path: Path, force: bool) -> None:
    """Refuse, as a bad option (exit 2), an output whose folder does not exist or that
    exists already without ``force``; the writer checks again when it starts (a file that
    appears meanwhile, or a folder that cannot be written to, exits 1)."""
    folder = path.parent
    try:
        folder_missing = not folder.exists()
        taken = path.exists() or path.is_symlink()
    except OSError:  # e.g. a name too long: the writer's own check reports it
        return
    if folder_missing:
        raise UsageError(f"cannot write {path}: folder {folder} does not exist; create it "
                         f"first or choose another folder")
    if taken and not force:
        raise UsageError(f"{path} already exists; choose another name or use --force to "
                         f"overwrite it")


def named_preset(preset: str, folder: Path | None):
    """What ``SessionAudio.from_preset`` takes: the name, or the preset loaded with --dir."""
    if folder is None:
        return preset
    from ..session.presets import load_session_preset

    return load_session_preset(preset, folder)


def render_preset(audio, output: Path, *, force: bool, loudness: float | None,
                  bit_depth: str | None, quality: float | None, tags, quiet: bool = False,
                  cover=None, plot: Path | None = None):
    """:func:`sointu.library.render_preset` with the progress bar (none if
    ``quiet``); returns the RenderReport.

    ``cover`` is a :class:`sointu.pictures.cover.CoverPlan` (None: no cover); ``plot`` the
    session picture to draw from the loudness measured while rendering (None: none); both
    from :func:`cover_and_plot`.
    """
    progress = Progress(audio.total_frames, label=output.name)
    if quiet:
        progress.enabled = False
    return _render_preset(audio, output, force=force, loudness=loudness, bit_depth=bit_depth,
                          quality=quality, tags=tags, progress=progress, cover=cover,
                          plot=plot)


def cover_and_plot(audio, output: Path, tags, cover_file, no_cover: bool, plot: bool,
                   force: bool, recipient: str | None = None, title: str | None = None):
    """The render's cover plan and session picture path from ``--cover FILE``,
    ``--no-cover`` and ``--plot``, checked before rendering
    (:func:`sointu.library.cover_and_plot`)."""
    from ..pictures.cover import check_cover_options

    check_cover_options(cover_file, no_cover)
    return _cover_and_plot(audio, output, tags,
                           cover=cover_file if cover_file is not None else not no_cover,
                           plot=plot or None, force=force, recipient=recipient, title=title,
                           option="--plot")


def pictures_summary(cover, picture) -> str:
    """Lines of the summary about the cover and the picture ('' if nothing to say)."""
    lines = []
    if picture is not None:
        lines.append(f"  picture {picture}")
    if cover is not None and cover.note:
        lines.append(f"  {cover.note}")
    return "".join(line + "\n" for line in lines)


def summary(report, audio) -> str:
    """The end-of-render summary (a few lines)."""
    phases = ", ".join(f"{p.name} {format_duration(p.length_s)}" for p in audio.timeline.phases)
    loud = report.loudness
    note = ""
    if loud.integrated_lufs < report.target_lufs - 0.5:
        note = f" (below the {report.target_lufs:g} LUFS target: peaks limit the gain)"
    return "\n".join([
        f"wrote {report.path} ({report.bytes / 1e6:.1f} MB) in {report.wall_s:.1f} s",
        f"  length {format_duration(report.frames / report.sample_rate)}, seed {report.seed}, "
        f"{report.sample_rate} Hz",
        f"  phases: {phases}",
        f"  loudness {loud.integrated_lufs:.1f} LUFS{note}, true peak "
        f"{loud.true_peak_dbtp:.1f} dBTP, sample peak {loud.sample_peak_dbfs:.1f} dBFS",
    ])


@group.command("render")
@click.argument("preset")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="File to write; its suffix picks the format (.flac .wav .ogg .opus .mp3). "
                   "Default, or when -o is a folder: a name like classic-60_seed0_60m.flac "
                   "there (a new one unless --force).")
@duration_option
@seed_option
@click.option("--sample-rate", type=int, default=None, help="Hz (default: the preset's).")
@mix_option("speakers")
@voice_intro_option
@output_options
@tag_options
@preset_dir_option("session")
@cover_options
def render_cmd(preset: str, output: str | None, duration_s: float | None, seed: int | None,
               sample_rate: int | None, force: bool, loudness: float | None,
               bit_depth: str | None, quality: float | None, folder: Path | None,
               plot: bool = False, cover_file=None, no_cover: bool = False,
               mix: str | None = None, voice_intro: Path | None = None,
               **tag_values) -> None:
    """Render session PRESET (a name or a .toml path) to an audio file.

    The file is loudness-normalised (the preset's target, or --loudness) with a -1 dBTP
    true-peak ceiling, tagged, and carries the phases as chapters (plus .cue and
    .chapters.json files beside it). It is written to a temporary file and renamed into place
    when complete; an existing file is kept unless --force. FLAC, MP3 and Ogg files get a
    cover drawn from the session (--cover FILE: your own PNG or JPEG; --no-cover: none);
    --plot also draws the session and its measured loudness next to the file (.png).

    \b
    Examples:
      sointu render classic-60 -o classic-60.flac
      sointu render classic-60 --duration 20m --seed 7 -o short.wav
      sointu render my-session.toml -o mine.mp3 --artist "Maija M."
      sointu render classic-60 --mix headphones -o classic-60-headphones.flac
      sointu render classic-60 --voice-intro welcome.flac -o with-welcome.flac
    """
    from ..session.audio import SessionAudio

    if plot:  # matplotlib imported in another process while the session is composed
        from ..pictures.job import prefork

        prefork()
    audio = SessionAudio.from_preset(named_preset(preset, folder), duration_s=duration_s,
                                     seed=seed, sample_rate=sample_rate, mix=mix,
                                     recordings=voice_intro_recordings(voice_intro))
    folder_out = output_folder(output)
    if folder_out is not None:
        output = default_output(preset, audio.timeline.seed, audio.duration_s, folder_out,
                                force=force)
    else:
        output = Path(output).expanduser()
    check_new_output(output, force)
    tags = session_tags(audio, **tag_values)
    cover, picture = cover_and_plot(audio, output, tags, cover_file, no_cover, plot, force)
    report = render_preset(audio, output, force=force, loudness=loudness, bit_depth=bit_depth,
                           quality=quality, tags=tags, cover=cover, plot=picture)
    click.echo(summary(report, audio), err=True)
    click.echo(pictures_summary(cover, picture), err=True, nl=False)
