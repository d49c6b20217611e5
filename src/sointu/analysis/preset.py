"""Turning measured partials into an instrument preset (the TOML schema of presets/instruments)."""

from __future__ import annotations

import math

import numpy as np

from ..engine.instrument import (
    BOWL_RATIO_RANGES,
    Instrument,
    dump_instrument_preset,
    load_mallets,
)
from .partials import Partial

__all__ = ["instrument_dict", "preset_text", "build_instrument", "strike_position",
           "ASSUMED_VELOCITY", "ASSUMED_MALLET"]

#: The recorded stroke is taken to be what ``sointu strike`` plays by default, so that
#: striking the new preset that way gives back the recorded balance of partials.
ASSUMED_VELOCITY = 0.8
ASSUMED_MALLET = "medium"
#: Loudness of a full stroke of the new instrument (dBFS peak), as for the shipped bowls.
LEVEL_DB = -12.0


def _mallet_gain(freq_hz: np.ndarray) -> np.ndarray:
    """The engine's mallet low-pass for the assumed stroke (amplitude, per partial)."""
    cutoff, _, _ = load_mallets()[ASSUMED_MALLET]
    fc = cutoff * (0.6 + 0.6 * ASSUMED_VELOCITY)
    return 1.0 / (1.0 + (freq_hz / fc) ** 2)


def fits_bowl(ratio: list[float]) -> bool:
    """Whether the ratios lie in the ranges measured on real metal bowls."""
    return all(lo <= ratio[k] / ratio[0] <= hi for k, (lo, hi) in BOWL_RATIO_RANGES.items()
               if len(ratio) > k)


def strike_position(partials: list[Partial]) -> float:
    """The strike angle (degrees) that gives the lowest doublet its recorded balance."""
    for p in partials:
        if p.split_hz > 0:
            return math.degrees(math.atan2(p.halves[1], p.halves[0])) / 2.0
    return 0.0


def instrument_dict(partials: list[Partial], *, name: str, family: str | None,
                    source: str) -> dict:
    """An instrument preset (as a dict) from partials sorted by frequency.

    family None chooses 'bowl' when the ratios fit a metal bowl, else 'gong'.
    """
    freqs = np.array([p.freq_hz for p in partials])
    amps = np.array([p.amp for p in partials]) / _mallet_gain(freqs)
    gain_db = 20 * np.log10(amps / amps.max())
    ratio = [round(f / freqs[0], 4) for f in freqs]
    if family is None:
        family = "bowl" if len(ratio) > 1 and fits_bowl(ratio) else "gong"
    return {
        "name": name,
        "family": family,
        "description": f"Analysed from a recording: {len(partials)} partials, "
                       f"lowest {freqs[0]:.2f} Hz",
        "source": source,
        "fundamental": round(float(freqs[0]), 3),
        "level_db": LEVEL_DB,
        "partials": {
            "ratio": ratio,
            "gain_db": [round(float(np.clip(g, -80.0, 0.0)), 1) for g in gain_db],
            "t60_s": [round(float(np.clip(p.t60_s, 0.05, 600.0)), 3) for p in partials],
            "split_hz": [round(min(p.split_hz, 50.0), 3) for p in partials],
        },
    }


def build_instrument(d: dict) -> Instrument:
    """Check the preset as the engine will (PresetError on any problem)."""
    return Instrument.from_dict(d, f"analysed preset '{d['name']}'")


def preset_text(d: dict, comment: str) -> str:
    """The preset as TOML, each line of ``comment`` as a comment at the top: the checked
    instrument written as every instrument preset is (:func:`dump_instrument_preset`)."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    return "\n".join([*lines, dump_instrument_preset(build_instrument(d))])
