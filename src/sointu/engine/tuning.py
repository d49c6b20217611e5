"""Tuning: a fundamental given as a frequency, a note name or a Cousto name -> Hz."""

from __future__ import annotations

import math
import re
from functools import lru_cache

from ..errors import PresetError
from ..presets import read_toml, shipped_dir

__all__ = ["to_hz", "note_hz", "cousto_names"]

_NOTE = re.compile(r"^([A-Ga-g])([#b♯♭]?)(-?\d)$")
_SEMITONE = {"C": -9, "D": -7, "E": -5, "F": -4, "G": -2, "A": 0, "B": 2}


@lru_cache(maxsize=1)
def _table() -> dict:
    return read_toml(shipped_dir() / "engine" / "tuning.toml")


def cousto_names() -> dict[str, float]:
    """Cousto name -> frequency (Hz), from ``presets/tuning.toml``."""
    return dict(_table()["cousto"])


def note_hz(name: str) -> float | None:
    """Frequency (Hz) of a note name such as ``A4``, ``C#3`` or ``Bb2``; None if not a note."""
    m = _NOTE.match(name.strip())
    if not m:
        return None
    letter, accidental, octave = m.groups()
    semis = _SEMITONE[letter.upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)
    semis += (int(octave) - 4) * 12
    return float(_table()["a4_hz"]) * 2.0 ** (semis / 12.0)


def to_hz(value, where: str = "fundamental") -> float:
    """Turn a tuning value into Hz.

    Parameters
    ----------
    value : float, int or str
        A frequency in Hz (20..20000), a note name (``"G3"``) or a Cousto name
        (``"earth-year"``).
    where : str
        Where the value came from (file and key), for the error message.

    Returns
    -------
    float
        Frequency in Hz.
    """
    if isinstance(value, bool):
        raise PresetError(f"{where}: expected a frequency, note or Cousto name, got {value!r}")
    if isinstance(value, int | float):
        hz = float(value)
    elif isinstance(value, str):
        hz = note_hz(value)
        if hz is None:
            hz = cousto_names().get(value.strip().lower())
        if hz is None:
            try:
                hz = float(value.removesuffix("Hz").removesuffix("hz").strip())
            except ValueError:
                names = ", ".join(cousto_names())
                raise PresetError(
                    f"{where}: '{value}' is not a frequency, a note name (e.g. G3, C#4) "
                    f"or a Cousto name ({names})"
                ) from None
    else:
        raise PresetError(f"{where}: expected a frequency, note or Cousto name, got {value!r}")
    if not math.isfinite(hz) or not 20.0 <= hz <= 20000.0:
        raise PresetError(f"{where}: {hz:g} Hz is out of range; allowed 20..20000 Hz")
    return hz
