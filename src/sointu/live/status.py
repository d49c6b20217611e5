"""Text shown while playing: the status line, the level meter, the log lines."""

from __future__ import annotations

import math

from ..session.durations import format_duration

__all__ = ["level_meter", "status_line", "phases_summary", "METER_FLOOR_DB", "KEYS_HINT"]

#: Level shown as an empty meter (dBFS).
METER_FLOOR_DB = -60.0
#: The keys of live playback, as the status line and the first log line show them.
KEYS_HINT = "[space pause, n next, +/- volume, q stop]"


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
                volume_db: float, paused: bool, underruns: int, limited_db: float = 0.0,
                note: str = "", width: int | None = None) -> str:
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
    limited_db : float
        Recent gain reduction of the live peak guard (dB); above 0.5 the volume shows
        ``(peaks held)``.
    note : str
        A short note after the rest (a key's effect), dropped first when the line is long.
    width : int, optional
        Columns available: parts are dropped, least useful first (key help, note, remaining
        time, meter, underruns, volume, then the phase), so the line is always shorter than
        ``width`` (a terminal wraps a line that fills its last column).
    """
    remaining = max(0.0, total_s - position_s)
    volume = f"vol {volume_db:+.0f} dB" + (" (peaks held)" if limited_db > 0.5 else "")
    # (text, priority: lower is dropped first), in display order
    parts = [(f"{phase:<14.14}", 6),
             (f"{format_duration(position_s)} / {format_duration(total_s)}", 7),
             (f"-{format_duration(remaining)}", 2),
             ("PAUSED" + " " * 15 if paused else level_meter(peak), 3),
             (volume, 5)]
    if underruns:
        parts.append((f"underruns {underruns}", 4))
    parts.append((KEYS_HINT, 0))
    if note:
        parts.append((note, 1))
    if width is not None:
        room = max(1, width - 1)
        drops = [0, 1, 2, 3, 4, 5, "short", 6]
        while len("  ".join(t for t, _ in parts)) > room and drops:
            rank = drops.pop(0)
            if rank == "short":  # the phase, shortened, before giving it up
                parts = [(t.strip()[:10] if r == 6 else t, r) for t, r in parts]
            else:
                parts = [(t, r) for t, r in parts if r != rank]
        return "  ".join(t for t, _ in parts)[:room]
    return "  ".join(t for t, _ in parts)


def phases_summary(phases) -> str:
    """``introduction 0:00, relaxation 5:00, recovery 25:00`` for the log and error messages."""
    return ", ".join(f"{p.name} {format_duration(p.start_s)}" for p in phases)
