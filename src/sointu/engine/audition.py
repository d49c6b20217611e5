"""One instrument, one stroke or rub, ringing out: what ``sointu strike`` renders."""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .hrtf import Head
from .instrument import Instrument
from .piece import Piece
from .room import Room
from .synth import Synth

__all__ = ["audition", "LEAD_IN_S"]

#: Silence before the stroke (s), so the onset is heard whole.
LEAD_IN_S = 0.05


def audition(instrument: Instrument, *, sample_rate: int = 48000, velocity: float = 0.8,
             mallet: str = "medium", position_deg: float | None = None,
             rub_s: float | None = None, seconds: float | None = None, seed: int = 0,
             room: Room | None = None, head: Head | None = None, azimuth_deg: float = 0.0,
             elevation_deg: float = 0.0, distance_m: float = 1.0) -> tuple[Synth, int]:
    """A Synth playing one stroke (or a rub) of ``instrument``, and its length in frames.

    Parameters
    ----------
    instrument : Instrument
    sample_rate : int
        Frames per second.
    velocity : float
        0..1.
    mallet : str
        'soft', 'medium' or 'hard'.
    position_deg : float or None
        Where the rim is struck (degrees); None draws it from the seeded RNG.
    rub_s : float or None
        Rub the rim for this many seconds instead of striking (bowls and crystal bowls).
    seconds : float or None
        Total length (s); None lets the sound ring out fully (60 dB).
    seed : int
        Seeds the per-stroke variation.
    room : Room or None
        The room; None is sointu's default gentle room.
    head : Head or None
        The listener's head for the headphone mix; None: the speaker mix.
    azimuth_deg, elevation_deg, distance_m : float
        Where the instrument stands (degrees, degrees, m); the speaker mix uses the azimuth.

    Returns
    -------
    (Synth, int)
    """
    if not 0.0 <= velocity <= 1.0:
        raise UsageError(f"velocity {velocity:g} is out of range; allowed 0..1")
    if seconds is not None and not 0 < seconds <= 3600:
        raise UsageError(f"--seconds {seconds:g} is out of range; allowed (0, 3600]")
    if rub_s is not None:
        if "rub" not in instrument.articulations:
            raise UsageError(
                f"{instrument.name} is a {instrument.family} and cannot be rubbed; "
                "rub a bowl or crystal bowl")
        if not 0 < rub_s <= 600:
            raise UsageError(f"--rub {rub_s:g} s is out of range; allowed (0, 600]")
    rng = np.random.default_rng(seed)
    pc = Piece(sample_rate, room, head)
    pc.add_instrument(instrument.name, instrument, azimuth_deg=azimuth_deg,
                      elevation_deg=elevation_deg, distance_m=distance_m)
    if position_deg is None:
        position_deg = float(rng.uniform(0.0, 360.0))
    if rub_s is None:
        pc.strike(instrument.name, LEAD_IN_S, velocity=velocity, mallet=mallet,
                  position_deg=position_deg, rng=rng)
        natural = LEAD_IN_S + instrument.ring_s
    else:
        pc.rub(instrument.name, LEAD_IN_S, rub_s, velocity=velocity, rng=rng)
        natural = LEAD_IN_S + rub_s + instrument.ring_s
    total = seconds if seconds is not None else natural
    return pc.synth(), int(round(total * sample_rate))
