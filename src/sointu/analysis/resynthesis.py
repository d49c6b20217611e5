"""Striking an analysed instrument and measuring it again: how well the preset matches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.audition import LEAD_IN_S, audition
from ..engine.instrument import Instrument
from .partials import Partial
from .preset import ASSUMED_MALLET, ASSUMED_VELOCITY
from .stroke import analyse_signal

__all__ = ["PartialMatch", "render_stroke", "compare"]


@dataclass(frozen=True)
class PartialMatch:
    """One recorded partial and the same partial in the resynthesis (None if not found).

    level_db is the resynthesised partial's level re the recorded one (dB), each taken re
    the strongest partial of its own stroke.
    """

    recorded: Partial
    again: Partial | None
    level_db: float = float("nan")

    @property
    def freq_error(self) -> float:
        """Relative frequency error (fraction); inf when the partial is missing."""
        if self.again is None:
            return float("inf")
        return self.again.freq_hz / self.recorded.freq_hz - 1.0

    @property
    def t60_error(self) -> float:
        """Relative T60 error (fraction); inf when missing."""
        if self.again is None:
            return float("inf")
        return self.again.t60_s / self.recorded.t60_s - 1.0


def render_stroke(inst: Instrument, rate: int, seconds: float, position_deg: float
                  ) -> np.ndarray:
    """One stroke of ``inst`` as ``sointu strike`` plays it: float64 (2, frames)."""
    synth, frames = audition(inst, sample_rate=rate, velocity=ASSUMED_VELOCITY,
                             mallet=ASSUMED_MALLET, position_deg=position_deg,
                             seconds=LEAD_IN_S + seconds, seed=0)
    blocks = list(synth.blocks(1 << 16, 0, frames))
    return np.concatenate(blocks).T.astype(np.float64)


def compare(inst: Instrument, recorded: list[Partial], rate: int, seconds: float,
            position_deg: float) -> list[PartialMatch]:
    """Strike ``inst``, analyse the stroke, and pair its partials with the recorded ones.

    Parameters
    ----------
    inst : Instrument
        The analysed preset.
    recorded : list of Partial
        What the recording held.
    rate : int
        Sample rate (Hz) of the recording, used for the resynthesis too.
    seconds : float
        Length of the recorded decay (s); the resynthesis is as long.
    position_deg : float
        Strike angle (degrees) of the resynthesis.
    """
    x = render_stroke(inst, rate, seconds, position_deg)
    again = analyse_signal(x, rate, max_partials=len(recorded) + 2, where="resynthesis").partials
    ref_rec = max(p.amp for p in recorded)
    ref_again = max(p.amp for p in again)
    out = []
    for p in recorded:
        near = min(again, key=lambda q: abs(q.freq_hz - p.freq_hz))
        if abs(near.freq_hz / p.freq_hz - 1.0) > 0.02:
            out.append(PartialMatch(p, None))
            continue
        level = 20 * np.log10((near.amp / ref_again) / (p.amp / ref_rec))
        out.append(PartialMatch(p, near, float(level)))
    return out
