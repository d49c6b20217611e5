"""``sointu presets``, ``show``, ``score`` and ``validate``: session presets and their scores."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import click

from ..errors import PresetError
from ..session.composer import ring_out_s
from ..session.durations import format_duration
from ..session.presets import (
    check_session_file,
    list_session_presets,
    load_session_preset,
)
from ..session.recordings import compose_with_room
from . import group
from .options import duration_option, preset_dir_option, report_broken, seed_option

__all__ = ["EVENT_FIELDS", "score_json", "score_csv", "score_text"]

#: Columns of ``sointu score --format csv`` and keys of each JSON event, in order.
EVENT_FIELDS = ("time_s", "instrument", "articulation", "velocity", "mallet", "position_deg",
                "duration_s", "phase")

_DIR = preset_dir_option("session")


@group.command("presets")
@_DIR
def presets_cmd(folder: Path | None) -> int:
    """List session presets: name, default length, title and description.

    Shipped presets and those in ./presets (or --dir FOLDER). A broken file is not listed:
    one line on stderr names it and its first problem (exit 2 only if nothing good was
    found).

    \b
    Example:
      sointu presets
      sointu presets --dir ~/my-sessions
    """
    good, broken = 0, []
    for name, path in list_session_presets(folder).items():
        try:
            p = load_session_preset(str(path))
        except PresetError as exc:
            broken.append(str(exc))
            continue
        click.echo(f"{name:<16} {format_duration(p.defaults.duration_s):>8}  "
                   f"{p.display_title}: {p.description}")
        good += 1
    return report_broken(broken, good)


def _metres(si) -> float:
    """An instrument's distance from the head in the headphone mix (m): ``distance_m``, else
    ``distance`` metres (as the mix places it)."""
    return si.distance if si.distance_m is None else si.distance_m


@group.command("show")
@click.argument("preset")
@_DIR
@seed_option
@duration_option
@click.option("--plot", "plot", type=click.Path(path_type=Path), default=None,
              metavar="PICTURE", help="Also draw the session (.png .svg .pdf): phases, "
              "strokes per instrument, rubs, gong waves and its loudness over time.")
@click.option("--force", is_flag=True, help="Replace an existing picture.")
def show_cmd(preset: str, folder: Path | None, seed: int | None, duration_s: float | None,
             plot: Path | None, force: bool) -> None:
    """Show a session preset: phases, instruments and where they stand, strike counts.

    PRESET is a name from `sointu presets` or a path to a TOML file. Counts are for the
    preset's default length and seed, or --seed and --duration. --plot draws it, in the
    session's language (fi or en); its loudness panel is measured from the session's audio
    (synthesised once, then cached).

    \b
    Examples:
      sointu show classic-60
      sointu show gong-bath --plot gong-bath.png
    """
    if plot is not None:
        from ..pictures.files import check_picture_path, require

        require("--plot")
        check_picture_path(plot, force=force)
    p = load_session_preset(preset, folder)
    d = p.defaults
    tl = compose_with_room(p, seed=seed, duration_s=duration_s)
    titles = " / ".join(p.title.values())
    click.echo(f"{p.name}: {titles}")
    click.echo(f"  {p.description}")
    click.echo(f"  length {format_duration(tl.duration_s)} (ring-out "
               f"{ring_out_s(p, tl.duration_s):g} s), seed {tl.seed}, {d.sample_rate_hz} Hz, "
               f"loudness {d.loudness_lufs:g} LUFS, room reverb {p.room.reverb:g} "
               f"width {p.room.width:g}")
    click.echo("")
    click.echo("phases:")
    pw = max([len(ph.name) for ph in tl.phases] + [16])
    for ph in tl.phases:
        click.echo(f"  {ph.name:<{pw}} {format_duration(ph.start_s):>8} .. "
                   f"{format_duration(ph.end_s):>8}  ({format_duration(ph.length_s)})")
    click.echo("")
    click.echo("instruments:")
    insts = list(p.instruments.values())
    kw = max([len(si.key) for si in insts] + [14])
    iw = max([len(si.instrument) for si in insts] + [18])
    fw = max([len(si.family) for si in insts] + [8])
    dw = max(len(f"{si.distance:g}") for si in insts) if insts else 1
    # the headphone mix's place: above or below the head, and metres from it
    hw = max(len(f"{_metres(si):g}") for si in insts) if insts else 1
    lw = max(len(f"{si.level_db:+g}") for si in insts) if insts else 1
    for si in insts:
        tuned = " (retuned)" if si.tuning_hz is not None else ""
        click.echo(f"  {si.key:<{kw}} {si.instrument:<{iw}} {si.family:<{fw}} "
                   f"{si.fundamental_hz:8.2f} Hz  azimuth {si.azimuth_deg:+5.0f} deg  "
                   f"distance {si.distance:<{dw}g}  level {f'{si.level_db:+g}':>{lw}} dB  "
                   f"headphones {si.elevation_deg:+3.0f} deg {_metres(si):<{hw}g} m{tuned}")
    click.echo("")
    counts = Counter((e.phase, e.instrument, e.articulation) for e in tl.events)
    keys = [k for k in p.instruments if any(c[1] == k for c in counts)]
    width = max([len(k) for k in keys] + [5])
    click.echo(f"strokes per phase (seed {tl.seed}; rubs in brackets):")
    click.echo("  " + " " * pw + " " + " ".join(f"{k:>{width}}" for k in keys))
    for ph in tl.phases:
        cells = []
        for k in keys:
            s, r = counts[(ph.name, k, "strike")], counts[(ph.name, k, "rub")]
            cells.append(f"{s}{f'({r})' if r else ''}".rjust(width))
        click.echo(f"  {ph.name:<{pw}} " + " ".join(cells))
    if plot is not None:
        from ..pictures.session import plot_session_preset

        plot_session_preset(plot, p, seed=seed, duration_s=duration_s)
        click.echo(f"wrote {plot}", err=True)


@group.command("score")
@click.argument("preset")
@seed_option
@duration_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True, help="Output format.")
@_DIR
def score_cmd(preset: str, seed: int | None, duration_s: float | None, fmt: str,
              folder: Path | None) -> None:
    """Print the composed score of a session: every stroke and rub, in time order.

    PRESET is a name from `sointu presets` or a path to a TOML file.

    \b
    Examples:
      sointu score classic-60
      sointu score gong-bath --seed 5 --duration 20m --format json > score.json
      sointu score my-session.toml --format csv
    """
    p = load_session_preset(preset, folder)
    tl = compose_with_room(p, seed=seed, duration_s=duration_s)
    out = {"json": score_json, "csv": score_csv, "text": score_text}[fmt](p.name, tl)
    click.echo(out, nl=not out.endswith("\n"))


@group.command("validate")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def validate_cmd(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Check session (or instrument) preset files: every problem, one line each (exit 2 if
    any).

    \b
    Example:
      sointu validate presets/sessions/*.toml
      sointu validate presets/instruments/*.toml
    """
    bad = False
    for f in files:
        problems = _problems(f)
        for line in problems:
            click.echo(" ".join(line.split()), err=True)
        if problems:
            bad = True
        else:
            click.echo(f"{f}: ok")
    if bad:
        ctx.exit(2)


def _problems(path: Path) -> list[str]:
    """Every problem of a session preset, or of an instrument preset (a ``family`` and no
    ``phases``)."""
    from ..presets import read_toml

    try:
        data = read_toml(path)
    except PresetError:
        data = {}
    if "family" in data and "phases" not in data:
        from ..engine.instrument import check_instrument_file

        return check_instrument_file(path)[1]
    return check_session_file(path)


# -- formats --------------------------------------------------------------------------------

def _event_row(e) -> dict:
    return {k: getattr(e, k) for k in EVENT_FIELDS}


def score_json(name: str, tl) -> str:
    """The score as JSON: preset, seed, duration_s, phases and events (full precision)."""
    doc = {
        "preset": name,
        "seed": tl.seed,
        "duration_s": tl.duration_s,
        "phases": [{"name": p.name, "start_s": p.start_s, "end_s": p.end_s} for p in tl.phases],
        "events": [_event_row(e) for e in tl.events],
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def score_csv(name: str, tl) -> str:
    """The score as CSV with a header row of :data:`EVENT_FIELDS` (times to 1 ms)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EVENT_FIELDS)
    for e in tl.events:
        w.writerow([f"{e.time_s:.3f}", e.instrument, e.articulation, f"{e.velocity:.3f}",
                    e.mallet, f"{e.position_deg:.1f}", f"{e.duration_s:.3f}", e.phase])
    return buf.getvalue()


def score_text(name: str, tl) -> str:
    """The score for reading: a header, then one line per phase start and per event."""
    lines = [f"{name}  seed {tl.seed}  length {format_duration(tl.duration_s)}  "
             f"{len(tl.events)} events"]
    starts = {p.start_s: p for p in tl.phases}
    pending = sorted(starts)
    for e in tl.events:
        while pending and pending[0] <= e.time_s:
            p = starts[pending.pop(0)]
            lines.append(f"-- {p.name} ({format_duration(p.start_s)} .. "
                         f"{format_duration(p.end_s)})")
        what = f"rub {e.duration_s:4.1f} s" if e.articulation == "rub" else e.mallet
        lines.append(f"{_clock(e.time_s)}  {e.instrument:<14} {e.articulation:<6} "
                     f"v {e.velocity:.2f}  {what:<10} at {e.position_deg:5.1f} deg")
    for s in pending:
        p = starts[s]
        lines.append(f"-- {p.name} ({format_duration(p.start_s)} .. "
                     f"{format_duration(p.end_s)})")
    lines.append(f"{_clock(tl.duration_s)}  end")
    return "\n".join(lines) + "\n"


def _clock(t: float) -> str:
    whole = int(t)
    return f"{format_duration(whole):>8}.{int(round((t - whole) * 10)) % 10}"
