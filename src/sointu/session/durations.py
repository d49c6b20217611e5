"""Session lengths as people write them (``20m``, ``1h30m``, ``3600s``, ``45``) and back.

A length on the command line is checked in one place, :func:`parse_duration`, so every
command accepts the same forms and reports the same one-line error.
"""

from __future__ import annotations

import math
import re

from ..errors import UsageError

__all__ = ["parse_duration", "format_duration", "check_duration", "MAX_DURATION_S"]

#: The longest session sointu composes (s): 12 hours.
MAX_DURATION_S = 12 * 3600.0

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|min|m|s)?")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d*)?)$")
#: Seconds per unit, and the unit a bare number after each unit stands for.
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0}
_NEXT_UNIT = {None: "s", "h": "m", "m": "s"}

_ALLOWED = ("allowed: a length above 0 and at most 12h, e.g. 20m, 90m, 1h30m (or 1h30), "
            "45m30 (45 min 30 s), 2.5m, 3600s, 45 (seconds) or 1:30:00")


def parse_duration(text: str) -> float:
    """Parse a session length.

    Parameters
    ----------
    text : str
        ``1h``, ``20m``, ``2.5m``, ``1h30m``, ``90m``, ``3600s``, ``45`` (a bare number is
        seconds) or a clock form ``1:30:00`` / ``20:00``. A bare number after a unit is the
        next smaller unit, as people write it: ``1h30`` is 1 h 30 min and ``45m30`` is
        45 min 30 s. Spaces and case are ignored.

    Returns
    -------
    float
        The length in seconds, in (0, :data:`MAX_DURATION_S`].

    Raises
    ------
    UsageError
        One line quoting ``text`` and listing the allowed forms, for a malformed, ambiguous
        (``1.5h30``, ``1h75``), zero, negative, non-finite or longer-than-12-hour length.
    """
    raw = str(text)
    s = "".join(raw.split()).lower()
    seconds = _units(s, raw)
    if seconds is None:
        c = _CLOCK.match(s)
        if c:
            h, mi, se = c.groups()
            if float(se) < 60 and (h is None or int(mi) < 60):
                seconds = int(h or 0) * 3600.0 + int(mi) * 60.0 + float(se)
    if seconds is None:
        if s.startswith("-"):
            raise UsageError(f"duration '{raw}' is negative; {_ALLOWED}")
        raise UsageError(f"duration '{raw}' is not a length; {_ALLOWED}")
    return check_duration(seconds, raw)


def _units(s: str, raw: str) -> float | None:
    """Seconds of ``1h30m15s``-style text; None if it is not of that form.

    Raises UsageError for the forms that read two ways: a fraction before a smaller unit
    (``1.5h30``) and minutes or seconds of 60 or more after a larger unit (``1h75``).
    """
    parts: list[tuple[str, str]] = []
    pos = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            return None
        unit = m.group(2)
        unit = "m" if unit == "min" else unit
        if unit is None:  # a bare number: the unit after the previous one
            if m.end() != len(s):
                return None
            unit = _NEXT_UNIT.get(parts[-1][1] if parts else None)
            if unit is None:  # a number after seconds
                return None
        if parts and _UNIT_S[unit] >= _UNIT_S[parts[-1][1]]:
            return None  # units out of order or repeated
        parts.append((m.group(1), unit))
        pos = m.end()
    if not parts:
        return None
    for i, (number, unit) in enumerate(parts):
        if i + 1 < len(parts) and "." in number:
            raise UsageError(f"duration '{raw}' is ambiguous (a fraction before a smaller "
                             f"unit); {_ALLOWED}")
        if i > 0 and float(number) >= 60:
            raise UsageError(f"duration '{raw}' is ambiguous ({number} {_NAMES[unit]} after "
                             f"{_NAMES[parts[i - 1][1]]}: write under 60, or one unit "
                             f"only); {_ALLOWED}")
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


_NAMES = {"h": "hours", "m": "minutes", "s": "seconds"}


def check_duration(seconds: float, shown: str | None = None) -> float:
    """Return ``seconds`` as float if it is a usable session length, else raise UsageError.

    Parameters
    ----------
    seconds : float
        Length in seconds.
    shown : str, optional
        How the user wrote it, quoted in the message (default: the number).
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise UsageError(f"duration {seconds!r} is not a number of seconds; {_ALLOWED}")
    shown = f"'{shown}'" if shown is not None else f"{seconds:g} s"
    value = float(seconds)
    if not math.isfinite(value):
        raise UsageError(f"duration {shown} is not finite; {_ALLOWED}")
    if value <= 0:
        raise UsageError(f"duration {shown} is not above 0; {_ALLOWED}")
    if value > MAX_DURATION_S:
        raise UsageError(f"duration {shown} ({format_duration(value)}) is longer than 12h; "
                         f"{_ALLOWED}")
    return value


def format_duration(seconds: float) -> str:
    """Show a length in seconds as ``H:MM:SS`` (an hour or more) or ``M:SS``.

    Rounds to the nearest second; ``3723.4`` -> ``1:02:03``, ``90`` -> ``1:30``.
    """
    total = int(round(float(seconds)))
    sign = "-" if total < 0 else ""
    total = abs(total)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m}:{s:02d}"
