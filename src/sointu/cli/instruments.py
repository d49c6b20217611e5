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
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Audio file to write (.wav or .flac, chosen by suffix).")
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
def strike_cmd(instrument: str, output: Path, velocity: float, mallet: str,
               position_deg: float | None, rub_s: float | None, seconds: float | None,
               seed: int, sample_rate: int, force: bool, folder: Path | None,
               mix: str | None = None, azimuth_deg: float = 0.0, elevation_deg: float = 0.0,
               distance_m: float = 1.0) -> None:
    """Render one stroke (or a rub) of INSTRUMENT ringing out, to a WAV or FLAC file.

    INSTRUMENT is a name from `sointu instruments` or a path to your own TOML file.

    \b
    Examples:
      sointu strike universal -o bowl.wav
      sointu strike pelvic --mallet soft --velocity 0.6 -o pelvic.flac
      sointu strike heart --rub 20 -o singing.wav
      sointu strike my-bowl.toml -o mine.wav
      sointu strike universal --mix headphones --azimuth 90 -o right.wav
    """
    from ..render.atomic import check_target
    from ..render.formats import resolve_format
    from ..render.tags import Tags
    from ..render.writer import write_blocks

    if output.suffix.lower() not in (".wav", ".flac"):
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
    fmt = resolve_format(output, sample_rate=sample_rate, frames=frames, channels=2)
    check_new_output(output, force)
    check_target(output, force)
    fade = int(0.05 * sample_rate) if seconds is not None else 0
    blocks = fade_out(synth.blocks(8192, 0, frames), 0, frames, fade)
    what = f"rub {rub_s:g} s" if rub_s else f"velocity {velocity:g}, {mallet} mallet"
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
