"""What ``sointu analyse`` prints: the partials found and how well the resynthesis matches."""

from __future__ import annotations

import math

from .resynthesis import PartialMatch
from .stroke import Analysis

__all__ = ["found_lines", "match_lines", "preset_comment"]


def _where(found: Analysis) -> str:
    stroke, n = found.stroke, len(found.strokes)
    at = f"{stroke.onset / found.rate:.1f} s"
    return f"stroke {found.strokes.index(stroke) + 1} of {n} at {at}" if n > 1 else (
        f"one stroke at {at}")


def _channels(found: Analysis) -> str:
    return {1: "mono", 2: "stereo"}.get(found.channels, f"{found.channels} channels")


def found_lines(found: Analysis, recording: str, family: str, name: str) -> list[str]:
    """The recording, the stroke analysed, and a table of its partials (and harmonics)."""
    partials = list(found.partials)
    decay_s = found.stroke.seconds(found.rate)
    out = [f"{recording}: {_channels(found)}, {found.rate} Hz; {_where(found)}, "
           f"{decay_s:.1f} s of decay",
           f"{family} '{name}', lowest partial {partials[0].freq_hz:.2f} Hz:",
           "   #   freq Hz    ratio    T60 s  level dB  beat Hz"]
    ref = max(p.amp for p in partials)
    for i, p in enumerate(partials, 1):
        beat = f"{p.split_hz:7.2f}" if p.split_hz else "      -"
        out.append(f"  {i:2d} {p.freq_hz:9.2f} {p.freq_hz / partials[0].freq_hz:8.4f} "
                   f"{p.t60_s:8.2f} {20 * math.log10(p.amp / ref):9.1f}  {beat}")
    for h, k in found.harmonics:
        out.append(f"  ({h.freq_hz:.2f} Hz, {k} x a partial, "
                   f"{20 * math.log10(h.amp / ref):.1f} dB: a harmonic, left out)")
    return out


def match_lines(matches: list[PartialMatch]) -> list[str]:
    """Each partial again in the resynthesis, and the worst errors of the 4 strongest."""
    out = ["resynthesis (a stroke of the new preset, measured the same way):"]
    for i, m in enumerate(matches, 1):
        if m.again is None:
            out.append(f"  {i:2d} not found")
            continue
        beat = (f"beat {m.recorded.split_hz:.2f} -> {m.again.split_hz:.2f} Hz"
                if m.recorded.split_hz or m.again.split_hz else "")
        out.append(f"  {i:2d} freq {100 * m.freq_error:+.3f} %  T60 {100 * m.t60_error:+.1f} %"
                   f"  level {m.level_db:+.1f} dB  {beat}".rstrip())
    top = [m for m in sorted(matches, key=lambda m: -m.recorded.amp)[:4] if m.again]
    if top:
        worst_f = max(abs(m.freq_error) for m in top)
        worst_t = max(abs(m.t60_error) for m in top)
        out.append(f"match of the {len(top)} strongest partials found again: frequency within "
                   f"{100 * worst_f:.3f} %, T60 within {100 * worst_t:.1f} %")
    missing = sum(m.again is None for m in matches)
    if missing:
        out.append(f"{missing} partial(s) not found again in the resynthesis (too weak or too "
                   "short to measure in it)")
    return out


def preset_comment(found: Analysis, recording_name: str, name: str, position_deg: float) -> str:
    """The comment at the top of the written preset: where it came from."""
    return (f"Made by `sointu analyse {recording_name} --name {name}` from {_where(found)} "
            f"({found.rate} Hz, {_channels(found)}).\nLevels assume a medium mallet at velocity "
            f"0.8; strike it at {position_deg:.0f} degrees for the recorded beating.")
