"""``sointu instruments`` and ``sointu strike``: the instrument library and auditioning it."""

from __future__ import annotations

from pathlib import Path

import click

from ..engine.audition import audition
from ..engine.fades import fade_out
from ..engine.library import list_instruments, load_instrument
from ..engine.piece import check_sample_rate
from ..errors import PresetError, UsageError
from . import group
from .options import mix_option, preset_dir_option, report_broken
from .render import check_new_output


@group.command("instruments")
@preset_dir_option("instrument")
def instruments_cmd(folder: Path | None) -> int:
    """List the instrument library: name, family, fundamental, description.

    Shipped instruments and those in ./presets (or --dir FOLDER). A broken file is not
    listed: one line on stderr names it and its first problem (exit 2 only if nothing good
    was found).

    \b
    Example:
      sointu instruments
    """
    good, broken = 0, []
    for name, path in list_instruments(folder).items():
        try:
            inst = load_instrument(str(path))
        except PresetError as exc:
            broken.append(str(exc))
            continue
        click.echo(f"{name:<20} {inst.family:<8} {inst.fundamental_hz:8.2f} Hz  "
                   f"{inst.description}")
        good += 1
    return report_broken(broken, good)


@group.command("strike")
@click.argument("instrument")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Audio file to write (.wav or .flac, chosen by suffix).")
@click.option("--plot", type=click.Path(path_type=Path), default=None, metavar="PICTURE",
              help="Draw the stroke (.png .svg .pdf): spectrogram with the partials, and "
                   "each partial's decay.")
@click.option("--velocity", type=float, default=0.8, show_default=True, help="Strength, 0..1.")
@click.option("--mallet", type=click.Choice(["soft", "medium", "hard"]), default="medium",
              show_default=True, help="Mallet hardness: softer is darker.")
@click.option("--position", "position_deg", type=float, default=None,
              help="Where the rim is struck, in degrees (sets the beating); random if omitted.")
@click.option("--rub", "rub_s", type=float, default=None,
              help="Rub the rim for this many seconds instead of striking (bowls only).")
@click.option("--seconds", type=float, default=None,
              help="Length of the file; default: until the sound has rung out (-60 dB).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the small per-stroke variation.")
@click.option("--sample-rate", type=int, default=48000, show_default=True, help="Hz.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@mix_option("speakers")
@click.option("--azimuth", "azimuth_deg", type=click.FloatRange(-180.0, 180.0), default=0.0,
              show_default=True, help="Where it stands, degrees: -90 left, 0 front, 90 right, "
                                      "180 behind.")
@click.option("--elevation", "elevation_deg", type=click.FloatRange(-90.0, 90.0), default=0.0,
              show_default=True, help="Headphone mix: degrees below (-) or above the head.")
@click.option("--distance", "distance_m", type=click.FloatRange(0.0, 100.0, min_open=True),
              default=1.0, show_default=True, help="Headphone mix: metres from the head.")
@preset_dir_option("instrument")
def strike_cmd(instrument: str, output: Path | None, velocity: float, mallet: str,
               position_deg: float | None, rub_s: float | None, seconds: float | None,
               seed: int, sample_rate: int, force: bool, folder: Path | None,
               mix: str | None = None, azimuth_deg: float = 0.0, elevation_deg: float = 0.0,
               distance_m: float = 1.0, plot: Path | None = None) -> None:
    """Render one stroke (or a rub) of INSTRUMENT ringing out, to a WAV or FLAC file.

    INSTRUMENT is a name from `sointu instruments` or a path to your own TOML file.

    \b
    Examples:
      sointu strike universal -o bowl.wav
      sointu strike pelvic --mallet soft --velocity 0.6 -o pelvic.flac
      sointu strike heart --rub 20 -o singing.wav
      sointu strike my-bowl.toml -o mine.wav
      sointu strike universal --mix headphones --azimuth 90 -o right.wav
      sointu strike planet-gong-earth --plot gong.png
    """
    from ..rendering.atomic import check_target
    from ..rendering.formats import resolve_format
    from ..rendering.tags import Tags
    from ..rendering.writer import write_blocks

    if output is None and plot is None:
        raise UsageError("give -o FILE (the audio), --plot PICTURE, or both")
    if plot is not None:
        from ..pictures.files import check_picture_path, require

        require("--plot")
        check_picture_path(plot, force=force)
    if output is not None and output.suffix.lower() not in (".wav", ".flac"):
        raise UsageError(f"{output}: unsupported suffix '{output.suffix}'; allowed: .wav, .flac")
    check_sample_rate(sample_rate)
    inst = load_instrument(instrument, folder)
    head = None
    if mix == "headphones":
        from ..engine.hrtf import load_head

        head = load_head()
    synth, frames = audition(inst, sample_rate=sample_rate, velocity=velocity, mallet=mallet,
                             position_deg=position_deg, rub_s=rub_s, seconds=seconds, seed=seed,
                             head=head, azimuth_deg=azimuth_deg, elevation_deg=elevation_deg,
                             distance_m=distance_m)
    fade = int(0.05 * sample_rate) if seconds is not None else 0
    blocks = fade_out(synth.blocks(8192, 0, frames), 0, frames, fade)
    what = f"rub {rub_s:g} s" if rub_s else f"velocity {velocity:g}, {mallet} mallet"
    if output is not None:
        fmt = resolve_format(output, sample_rate=sample_rate, frames=frames, channels=2)
        check_new_output(output, force)
        check_target(output, force)
    if plot is not None:
        import numpy as np

        from ..pictures.strike import MAX_PLOT_S, plot_strike

        if frames > MAX_PLOT_S * sample_rate:
            raise UsageError(f"--plot draws sounds up to {MAX_PLOT_S:g} s; this one is "
                             f"{frames / sample_rate:g} s long (allowed: --seconds up to "
                             f"{MAX_PLOT_S:g}, or a shorter --rub)")
        samples = np.empty((frames, 2), np.float32)  # drawn and written from the same
        pos = 0
        for block in blocks:
            samples[pos:pos + len(block)] = block
            pos += len(block)
        blocks = (samples[i:i + 65536] for i in range(0, pos, 65536))
        plot_strike(plot, inst, samples[:pos], sample_rate,
                    title=f"{inst.name}, {inst.family} at {inst.fundamental_hz:.1f} Hz: {what}")
        click.echo(f"wrote {plot}", err=True)
        if output is None:
            return
    where = f"azimuth {azimuth_deg:g}"
    if head is not None:
        where += f", elevation {elevation_deg:g}, {distance_m:g} m"
    tags = Tags(title=f"{inst.name} ({what})",
                comment=f"sointu strike {inst.name}, seed {seed}, {mix or 'speakers'} mix, "
                        f"{where}")
    result = write_blocks(output, blocks, sample_rate=sample_rate, total_frames=frames, fmt=fmt,
                          tags=tags, phases=[], force=force)
    click.echo(f"wrote {output} ({frames / sample_rate:.1f} s, {result.bytes / 1e6:.1f} MB)",
               err=True)
