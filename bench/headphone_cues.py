"""Print the direction cues of the headphone mix, measured on rendered strokes.

The same measurements as tests/test_headphones.py (imported from there): ITD from the ears'
cross-correlation below 1.5 kHz over the first second, ILD from the ears' spectra, the onset
lead of the near ear, and the largest front/back difference in the third octaves 4-10 kHz.

    .venv/bin/python bench/headphone_cues.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sointu.engine.hrtf import load_head  # noqa: E402
from sointu.engine.room import Room  # noqa: E402
from test_headphones import FS, band_db, ild_db, itd_ms, onsets, strike  # noqa: E402


def main() -> None:
    head = load_head()
    print("| bowl | room | azimuth | ITD ms | onset lead ms | ILD >3 kHz dB | ILD <300 Hz dB |")
    print("|---|---|---|---|---|---|---|")
    for name in ("pelvic", "universal", "heart"):
        for room_name, room in (("default", None), ("dry", Room(reverb=0.0))):
            for az in (90.0, 0.0, -90.0):
                y = strike(head, name, az, room=room)
                left, right = onsets(y)
                print(f"| {name} | {room_name} | {az:g} | {itd_ms(y):.3f} | "
                      f"{(left - right) / FS * 1e3:.3f} | {ild_db(y, 3000, 20000):.1f} | "
                      f"{ild_db(y, 20, 300):.1f} |")
    for name in ("universal", "heart"):
        front, back = strike(head, name, 30.0), strike(head, name, 150.0)
        diffs = []
        for k in range(5):
            c = 4000 * 2 ** (k / 3)
            lo, hi = c * 2 ** (-1 / 6), c * 2 ** (1 / 6)
            diffs.append(band_db(front, lo, hi) - band_db(back, lo, hi))
        worst = max(abs(float(d)) for pair in diffs for d in pair)
        print(f"{name}: azimuth 30 vs 150, largest third-octave difference 4-10 kHz: "
              f"{worst:.1f} dB")


if __name__ == "__main__":
    main()
