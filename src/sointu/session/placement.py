"""Placement: an instrument as a session uses it, where it stands and how loud it is."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.instrument import Instrument

__all__ = ["Placement"]


@dataclass(frozen=True)
class Placement:
    """An instrument as used in a session: where it stands and how loud it is.

    Attributes
    ----------
    key : str
        Name the Timeline's events use.
    instrument : Instrument
        The instrument (already retuned if the session overrides its tuning).
    azimuth_deg : float
        -90 left, 0 front, 90 right, up to +-180 behind the listener.
    distance : float
        Relative distance, 1 = near.
    level_db : float
        Extra gain (dB).
    elevation_deg : float
        Headphone mix: -90 below .. 90 above the listener's head.
    distance_m : float or None
        Headphone mix: distance from the head (m); None: ``distance`` metres.
    """

    key: str
    instrument: Instrument
    azimuth_deg: float = 0.0
    distance: float = 1.0
    level_db: float = 0.0
    elevation_deg: float = 0.0
    distance_m: float | None = None
