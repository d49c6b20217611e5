"""Listening to a recording of a real instrument and turning it into an instrument preset.

``sointu analyse`` reads a recording (:mod:`.recording`), picks its clearest stroke
(:mod:`.strokes`), measures the partials of its decay (:mod:`.partials`), writes them as an
instrument preset (:mod:`.preset`), and strikes that preset to show how well it matches
(:mod:`.resynthesis`). Imports: analysis -> engine.
"""

from __future__ import annotations

from .partials import Partial
from .recording import read_recording
from .resynthesis import PartialMatch, compare, render_stroke
from .stroke import Analysis, analyse_signal

__all__ = ["Analysis", "Partial", "PartialMatch", "analyse_signal", "compare", "read_recording",
           "render_stroke"]
