"""``sointu analyse``: a recording of a real instrument turned into an instrument preset."""

from __future__ import annotations

import re
from pathlib import Path

import click

from ..errors import UsageError
from . import group

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@group.command("analyse")
@click.argument("recording", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Name of the new instrument (letters, digits, - _).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Preset file to write; default presets/instruments/NAME.toml here.")
@click.option("--family", type=click.Choice(["bowl", "crystal", "gong", "tam-tam", "tingsha",
                                             "chime"]), default=None,
              help="Instrument family; default: bowl when the partials fit a metal bowl, "
                   "else gong.")
@click.option("--partials", "max_partials", type=click.IntRange(1, 24), default=8,
              show_default=True, help="Measure at most this many partials (the strongest).")
@click.option("--force", is_flag=True, help="Overwrite an existing preset file.")
def analyse_cmd(recording: Path, name: str, output: Path | None, family: str | None,
                max_partials: int, force: bool) -> None:
    """Listen to RECORDING (one stroke of a bowl, gong, ...) and write an instrument preset.

    Finds the partials of the clearest stroke, their decay times (T60), doublet splits
    (beat rates) and levels, writes them as an instrument preset, then strikes the new
    preset and measures it the same way to show how well it matches. WAV, FLAC, OGG or
    MP3; mono or stereo; any sample rate. Record the instrument ringing out for 10 s or
    more, in a quiet room.

    \b
    Examples:
      sointu analyse my-bowl.wav --name my-bowl
      sointu strike presets/instruments/my-bowl.toml -o check.wav
      sointu analyse gong.flac --name gong-1 -o presets/instruments/gong-1.toml --family gong
    """
    from ..analysis import analyse_signal, compare, read_recording
    from ..analysis.preset import build_instrument, instrument_dict, preset_text, strike_position
    from ..analysis.report import found_lines, match_lines, preset_comment
    from ..rendering.atomic import atomic_output, check_target

    if not _NAME.fullmatch(name):
        raise UsageError(f"--name '{name}': allowed are 1-64 letters, digits, '-' and '_', "
                         "starting with a letter or digit")
    default = output is None
    if default:
        output = Path("presets") / "instruments" / f"{name}.toml"
    elif output.suffix.lower() != ".toml":
        raise UsageError(f"{output}: unsupported suffix '{output.suffix}'; allowed: .toml")
    if not default or output.parent.is_dir():  # the default folder is made when writing
        check_target(output, force)

    x, rate = read_recording(recording)
    found = analyse_signal(x, rate, max_partials=max_partials, where=str(recording))
    d = instrument_dict(list(found.partials), name=name, family=family,
                        source=f"sointu analyse {recording.name}")
    inst = build_instrument(d)
    click.echo("\n".join(found_lines(found, str(recording), inst.family, name)))
    position = strike_position(list(found.partials))
    matches = compare(inst, list(found.partials), rate,
                      min(found.stroke.seconds(rate), 90.0), position)
    click.echo("\n".join(match_lines(matches)))
    if default:
        output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(output, force=force) as tmp:
        tmp.write_text(preset_text(d, preset_comment(found, recording.name, name, position)),
                       encoding="utf-8")
    click.echo(f"wrote {output}; try: sointu strike {output} -o {name}.wav", err=True)
