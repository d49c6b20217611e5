"""Text shown while playing: the status line, the level meter, the log lines."""

from __future__ import annotations

import math

from ..session.durations import format_duration

__all__ = ["level_meter", "status_line", "phases_summary", "METER_FLOOR_DB"]

#: Level shown as an empty meter (dBFS).
METER_FLOOR_DB = -60.0


def level_meter(peak: float, width: int = 12) -> str:
    """A peak meter from :data:`METER_FLOOR_DB` to 0 dBFS, e.g. ``[#######.....]  -23 dB``.

    Parameters
    ----------
    peak : float
        Largest absolute sample (linear, full scale 1.0).
    width : int
        Characters inside the brackets.
    """
    db = 20.0 * math.log10(peak) if peak > 0.0 else -math.inf
    filled = 0 if db <= METER_FLOOR_DB else round(width * (1.0 - db / METER_FLOOR_DB))
    filled = max(0, min(width, filled))
    shown = f"{db:4.0f} dB" if db > METER_FLOOR_DB else "  -- dB"
    return f"[{'#' * filled}{'.' * (width - filled)}] {shown}"


def status_line(*, phase: str, position_s: float, total_s: float, peak: float,
                volume_db: float, paused: bool, underruns: int) -> str:
    """The one-line status: phase, elapsed / total, remaining, meter, volume, underruns.

    Parameters
    ----------
    phase : str
        Name of the phase now playing.
    position_s, total_s : float
        Position and session length (s).
    peak : float
        Recent peak sample (linear).
    volume_db : float
        Current volume setting (dB).
    paused : bool
        Shows ``PAUSED`` instead of the meter.
    underruns : int
        Shown only when above 0.
    """
    remaining = max(0.0, total_s - position_s)
    parts = [f"{phase:<14.14}", f"{format_duration(position_s)} / {format_duration(total_s)}",
             f"-{format_duration(remaining)}",
             "PAUSED" + " " * 15 if paused else level_meter(peak),
             f"vol {volume_db:+.0f} dB"]
    if underruns:
        parts.append(f"underruns {underruns}")
    parts.append("[space pause, n next, +/- volume, q stop]")
    return "  ".join(parts)


def phases_summary(phases) -> str:
    """``introduction 0:00, relaxation 5:00, recovery 25:00`` for the log and error messages."""
    return ", ".join(f"{p.name} {format_duration(p.start_s)}" for p in phases)
