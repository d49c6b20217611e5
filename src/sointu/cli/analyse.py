"""``sointu analyse``: a recording of a real instrument turned into an instrument preset."""

from __future__ import annotations

import math
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
      sointu strike my-bowl -o check.wav
      sointu analyse gong.flac --name gong-1 -o presets/instruments/gong-1.toml --family gong
    """
    from ..analysis import analyse_signal, compare, read_recording
    from ..analysis.preset import build_instrument, instrument_dict, preset_text, strike_position
    from ..render.atomic import atomic_output, check_target

    if not _NAME.fullmatch(name):
        raise UsageError(f"--name '{name}': allowed are 1-64 letters, digits, '-' and '_', "
                         "starting with a letter or digit")
    if output is None:
        output = Path("presets") / "instruments" / f"{name}.toml"
        default_folder = True
    else:
        default_folder = False
        if output.suffix.lower() != ".toml":
            raise UsageError(f"{output}: unsupported suffix '{output.suffix}'; allowed: .toml")
    if not default_folder:
        check_target(output, force)
    elif output.exists() and not force:
        check_target(output, force)

    x, rate = read_recording(recording)
    found = analyse_signal(x, rate, max_partials=max_partials, where=str(recording))
    partials = list(found.partials)
    d = instrument_dict(partials, name=name, family=family,
                        source=f"sointu analyse {recording.name}")
    inst = build_instrument(d)
    stroke = found.stroke
    decay_s = stroke.seconds(rate)
    n_strokes = len(found.strokes)
    which = (f"stroke {found.strokes.index(stroke) + 1} of {n_strokes} at "
             f"{stroke.onset / rate:.1f} s" if n_strokes > 1 else
             f"one stroke at {stroke.onset / rate:.1f} s")
    chans = {1: "mono", 2: "stereo"}.get(found.channels, f"{found.channels} channels")
    click.echo(f"{recording}: {chans}, {rate} Hz; {which}, {decay_s:.1f} s of decay")
    click.echo(f"{inst.family} '{name}', lowest partial {partials[0].freq_hz:.2f} Hz:")
    click.echo("   #   freq Hz    ratio    T60 s  level dB  beat Hz")
    ref = max(p.amp for p in partials)
    for i, p in enumerate(partials, 1):
        beat = f"{p.split_hz:7.2f}" if p.split_hz else "      -"
        click.echo(f"  {i:2d} {p.freq_hz:9.2f} {p.freq_hz / partials[0].freq_hz:8.4f} "
                   f"{p.t60_s:8.2f} {20 * math.log10(p.amp / ref):9.1f}  {beat}")
    for h, k in found.harmonics:
        click.echo(f"  ({h.freq_hz:.2f} Hz, {k} x a partial, "
                   f"{20 * math.log10(h.amp / ref):.1f} dB: a harmonic, left out)")
    position = strike_position(partials)
    matches = compare(inst, partials, rate, min(decay_s, 90.0), position)
    click.echo("resynthesis (a stroke of the new preset, measured the same way):")
    for i, m in enumerate(matches, 1):
        if m.again is None:
            click.echo(f"  {i:2d} not found")
            continue
        beat = (f"beat {m.recorded.split_hz:.2f} -> {m.again.split_hz:.2f} Hz"
                if m.recorded.split_hz or m.again.split_hz else "")
        click.echo(f"  {i:2d} freq {100 * m.freq_error:+.3f} %  T60 {100 * m.t60_error:+.1f} %  "
                   f"level {m.level_db:+.1f} dB  {beat}".rstrip())
    top = [m for m in sorted(matches, key=lambda m: -m.recorded.amp)[:4] if m.again]
    if top:
        worst_f = max(abs(m.freq_error) for m in top)
        worst_t = max(abs(m.t60_error) for m in top)
        click.echo(f"match of the {len(top)} strongest partials found again: frequency within "
                   f"{100 * worst_f:.3f} %, T60 within {100 * worst_t:.1f} %")
    missing = sum(m.again is None for m in matches)
    if missing:
        click.echo(f"{missing} partial(s) not found again in the resynthesis (too weak or too "
                   "short to measure in it)")
    comment = (f"Made by `sointu analyse {recording.name} --name {name}` from {which} "
               f"({rate} Hz, {chans}).\nLevels assume a medium mallet at velocity 0.8;"
               f" strike it at {position:.0f} degrees for the recorded beating.")
    if default_folder:
        output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(output, force=force) as tmp:
        tmp.write_text(preset_text(d, comment), encoding="utf-8")
    click.echo(f"wrote {output}; try: sointu strike {output} -o {name}.wav", err=True)
