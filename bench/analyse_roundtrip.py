"""Round-trip accuracy of ``sointu analyse`` on every shipped bowl and on harder recordings.

For each bowl: one stroke rendered as ``sointu strike`` plays it (struck at 22.5 degrees,
20 s), analysed; then the same made harder (white noise 50 dB below the peak, 44.1 kHz, cut
0.5 s after the strike, a second stroke 12 s later) and the synthetic real bowl of
tests/bowl_recording.py. Prints, over the 4 strongest partials, the worst frequency error
(%), T60 error (%) and beat-rate error (Hz, partials whose both halves the stroke excites).

Run: ``python bench/analyse_roundtrip.py`` (about a minute).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import bowl_recording  # noqa: E402
from sointu.analysis import analyse_signal, render_stroke  # noqa: E402
from sointu.engine.audition import LEAD_IN_S  # noqa: E402
from sointu.engine.library import list_instruments, load_instrument  # noqa: E402

POSITION = 22.5


def errors(truth: list[tuple[float, float, float, float, int]], x: np.ndarray, rate: int
           ) -> tuple[float, float, float]:
    """truth: (freq, t60, level_db, split, order); worst errors over the 4 strongest."""
    found = analyse_signal(x, rate).partials
    ef = et = eb = 0.0
    for f0, t60, _, split, order in sorted(truth, key=lambda p: -p[2])[:4]:
        p = min(found, key=lambda q: abs(q.freq_hz - f0))
        ef = max(ef, abs(p.freq_hz / f0 - 1))
        et = max(et, abs(p.t60_s / t60 - 1))
        c = abs(math.cos(math.radians(order * POSITION)))
        s = abs(math.sin(math.radians(order * POSITION)))
        if split == 0 or min(c, s) / max(c, s) > 0.3:
            eb = max(eb, abs(p.split_hz - split))
    return 100 * ef, 100 * et, eb


def main() -> None:
    print(f"{'recording':<36} {'freq %':>8} {'T60 %':>7} {'beat Hz':>8}")
    for name, path in list_instruments().items():
        inst = load_instrument(str(path))
        if inst.family != "bowl":
            continue
        truth = [(inst.fundamental_hz * r, t, g, s, o) for r, t, g, s, o in zip(
            inst.ratio, inst.t60_s, inst.gain_db, inst.split_hz, inst.order, strict=True)]
        for case in ("clean", "noise -50 dB", "44.1 kHz", "cut 0.5 s", "two strokes"):
            rate = 44100 if case == "44.1 kHz" else 48000
            x = render_stroke(inst, rate, 20.0, POSITION)
            if case == "noise -50 dB":
                rng = np.random.default_rng(3)
                x = x + np.max(np.abs(x)) * 10 ** (-50 / 20) * rng.standard_normal(x.shape)
            elif case == "cut 0.5 s":
                x = x[:, int((LEAD_IN_S + 0.5) * rate):]
            elif case == "two strokes":
                d = int(12.0 * rate)
                x = x + np.pad(0.8 * x[:, :-d], ((0, 0), (d, 0)))
            ef, et, eb = errors(truth, x, rate)
            print(f"{name + ', ' + case:<36} {ef:8.3f} {et:7.1f} {eb:8.2f}")
    truth = [(f, t, g, s, 2) for f, t, g, s in bowl_recording.partials()]
    for strikes in ((1.2,), (1.2, 13.0)):
        x = bowl_recording.recording(seconds=30.0, strikes=strikes)
        ef, et, _ = errors(truth, x, bowl_recording.RATE)
        label = f"synthetic real bowl, {len(strikes)} stroke(s)"
        print(f"{label:<36} {ef:8.3f} {et:7.1f} {'-':>8}")


if __name__ == "__main__":
    main()
