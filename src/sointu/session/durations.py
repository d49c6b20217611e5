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

_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
_UNITS = re.compile(rf"^(?:{_NUM}h)?(?:{_NUM}m(?:in)?)?(?:{_NUM}s?)?$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d*)?)$")

_ALLOWED = ("allowed: a length above 0 and at most 12h, e.g. 20m, 90m, 1h30m, 2.5m, "
            "3600s, 45 (seconds) or 1:30:00")


def parse_duration(text: str) -> float:
    """Parse a session length.

    Parameters
    ----------
    text : str
        ``1h``, ``20m``, ``2.5m``, ``1h30m``, ``90m``, ``3600s``, ``45`` (a bare number is
        seconds) or a clock form ``1:30:00`` / ``20:00``. Spaces and case are ignored.

    Returns
    -------
    float
        The length in seconds, in (0, :data:`MAX_DURATION_S`].

    Raises
    ------
    UsageError
        One line quoting ``text`` and listing the allowed forms, for a malformed, zero,
        negative, non-finite or longer-than-12-hour length.
    """
    raw = str(text)
    s = "".join(raw.split()).lower()
    seconds: float | None = None
    m = _UNITS.match(s)
    if s and m and any(g is not None for g in m.groups()):
        h, mi, se = (float(g) if g is not None else 0.0 for g in m.groups())
        seconds = h * 3600.0 + mi * 60.0 + se
    else:
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
