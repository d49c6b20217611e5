"""``sointu devices`` and ``sointu play``: output devices and live playback through speakers.

Test hooks (environment variables, documented in tests/live_support/README.md; not for users):

``SOINTU_LIVE_PREFILL_S``
    Seconds of audio queued before the stream starts (default 1). The tests' ALSA file device
    takes audio far faster than real time, so they queue the whole session first.
``SOINTU_LIVE_STOP_AT_S``
    Behave as if Ctrl-C was pressed when playback reaches this many seconds of the session.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from ..errors import UsageError
from ..library import parse_start
from . import group
from .options import mix_option, preset_dir_option
from .recordings import voice_intro_option

__all__ = ["devices_cmd", "play_cmd", "parse_volume", "parse_start"]

_VOLUME = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?:db)?$", re.IGNORECASE)


def parse_volume(text: str) -> float:
    """``-6dB``, ``-6 dB``, ``+3``, ``0`` -> dB; UsageError outside -60..+6 dB."""
    from ..live.playback import VOLUME_RANGE_DB

    lo, hi = VOLUME_RANGE_DB
    m = _VOLUME.match(str(text).strip())
    if not m or not lo <= float(m.group(1)) <= hi:
        raise UsageError(f"volume '{text}' is not allowed; allowed: {lo:g} dB to {hi:+g} dB, "
                         "e.g. -6dB")
    return float(m.group(1))


def _env_seconds(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 0.0:
        raise UsageError(f"environment variable {name}='{raw}' is not allowed; allowed: "
                         "seconds, 0 or more")
    return value


@group.command("devices")
def devices_cmd() -> None:
    """List the audio output devices (* marks the default) for `sointu play --device`.

    \b
    Example:
      sointu devices
    """
    from ..errors import DeviceError
    from ..live.devices import NO_DEVICE_HINT, format_device, list_output_devices

    devices = list_output_devices()
    if not devices:
        raise DeviceError(f"no audio output device found; {NO_DEVICE_HINT}")
    click.echo(f"  {'#':>3}  {'name':<32} {'host API':<8} {'out':>6}  {'default rate':>11}")
    for device in devices:
        click.echo(format_device(device))


@group.command("play")
@click.argument("preset")
@click.option("--device", default=None, metavar="NAME|INDEX",
              help="Output device: index or (part of a) name from `sointu devices`.")
@click.option("--duration", default=None, metavar="D",
              help="Session length, e.g. 20m, 1h30m or 1h30 (1 h 30 min), 3600s (default: "
                   "the preset's).")
@click.option("--seed", type=int, default=None, help="Seed of the composition (default: the "
              "preset's).")
@click.option("--start-at", "start_at", default=None, metavar="TIME",
              help="Start this far into the session, e.g. 25m, 1h5 (1 h 5 min), 45m30.")
@click.option("--phase", default=None, metavar="NAME",
              help="Start at the beginning of this phase, e.g. relaxation.")
@click.option("--volume", default="0dB", show_default=True, metavar="DB",
              help="Playback volume, -60dB to +6dB; +/- change it while playing. Above 0 dB "
                   "the loudest peaks are held under the render's -1 dBTP ceiling.")
@click.option("--latency", default="high", show_default=True, metavar="low|high|SECONDS",
              help="Output latency; high is safest against dropouts.")
@click.option("--sample-rate", "sample_rate", type=int, default=None,
              help="Hz (default: the preset's, usually 48000).")
@mix_option("speakers")
@voice_intro_option
@preset_dir_option("session")
def play_cmd(preset: str, device: str | None, duration: str | None, seed: int | None,
             start_at: str | None, phase: str | None, volume: str, latency: str,
             sample_rate: int | None, folder: Path | None, mix: str | None = None,
             voice_intro: Path | None = None) -> int:
    """Play the session PRESET live through the speakers.

    On a terminal: space pauses and resumes, n jumps to the next phase, + and - change the
    volume by 3 dB, q stops with a fade. Ctrl-C also fades out, then exits with code 130.

    \b
    Examples:
      sointu play classic-60
      sointu play gentle-sleep --duration 45m --volume -6dB
      sointu play classic-60 --phase relaxation --device pulse
      sointu play gentle-sleep --mix headphones
      sointu play classic-60 --voice-intro welcome.flac
    """
    from ..engine.piece import check_sample_rate
    from ..library import play
    from ..live.player import parse_latency
    from ..session.durations import format_duration, parse_duration

    if start_at is not None and phase is not None:
        raise UsageError("--start-at and --phase cannot be used together; give one of them")
    duration_s = parse_duration(duration) if duration is not None else None
    if start_at is not None:
        parse_start(start_at)  # a bad start is reported before a bad volume
    volume_db = parse_volume(volume)
    latency_value = parse_latency(latency)
    if sample_rate is not None:
        check_sample_rate(sample_rate)
    prefill_s = _env_seconds("SOINTU_LIVE_PREFILL_S")
    stop_at_s = _env_seconds("SOINTU_LIVE_STOP_AT_S")

    def log(line: str) -> None:
        click.echo(f"sointu: {line}", err=True)

    options = {}
    if prefill_s is not None:
        options["prime_s"] = max(prefill_s, 0.05)
        options["queue_s"] = max(4.0, prefill_s + 1.0)
    if stop_at_s is not None:
        options["stop_at_s"] = stop_at_s
    result = play(preset, folder=folder, device=device, duration=duration_s,
                  seed=seed, start_at=start_at, phase=phase,
                  volume_db=volume_db, latency=latency_value, sample_rate=sample_rate,
                  title=preset, log=log, mix=mix, voice_intro=voice_intro, **options)
    where = f"{format_duration(result.position_s)} of {format_duration(result.length_s)}"
    runs = f"{result.underruns} underrun{'' if result.underruns == 1 else 's'}"
    if result.outcome == "end":
        log(f"finished: {format_duration(result.length_s)} played, {runs}")
        return 0
    log(f"stopped at {where}, {runs}")
    return 130 if result.outcome == "interrupted" else 0
