"""Golden renders: compact fingerprints of real renders, made and compared here.

A fingerprint holds, per 50 ms frame and channel, the RMS level and the level in eight
bands (below 125 Hz, six octaves, above 8 kHz; dB re full scale) and the power-weighted
spectral centroid (Hz), all in hundredths as integers, plus the sample count and the
integrated loudness (BS.1770, pyloudnorm). Exact hashes of the samples would break on the
last bits a different BLAS gives; these stay within a few thousandths of a dB of each other
there, while any audible change of the engine moves them by far more than the tolerances
below. Used by tests/test_golden.py and tests/golden/regenerate.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf

GOLDEN_DIR = Path(__file__).parent / "golden"
FRAME_S = 0.05
BAND_EDGES_HZ = (0.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 1e9)
FLOOR_DB = -200.0
RENDER_SECONDS = 20.0
# gentle-sleep composes no stroke at all in its first 20 s (its render of 20 s stops with
# "the signal is silent"), so it is fingerprinted over a minute
# and tervetuloa-20's spoken welcome (9.4 s) fits its first phase from 105 s on
RENDER_SECONDS_OF = {"gentle-sleep": 60.0, "tervetuloa-20": 110.0}
RENDER_SEED = 1
STRIKE_ARGS = ("--seconds", "8", "--seed", "3", "--velocity", "0.8", "--mallet", "medium")
# compared only where the golden frame is within RANGE_DB of the channel's loudest frame
RANGE_DB = 60.0
TOL_DB = 0.05           # levels (dB)
TOL_CENTROID = 5e-4     # relative: 0.05 %, under one cent
TOL_LUFS = 0.01         # integrated loudness (LU)


def fingerprint(path: Path) -> dict:
    """Fingerprint of a decoded audio file: frames, loudness and per-frame levels."""
    x, rate = sf.read(str(path), dtype="float64", always_2d=True)
    n = int(round(FRAME_S * rate))
    whole = len(x) // n
    frames = x[:whole * n].reshape(whole, n, x.shape[1]).transpose(2, 0, 1)  # ch, frame, n
    spec = np.fft.rfft(frames, axis=2)
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    weight = np.full(len(freqs), 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    power = np.abs(spec) ** 2 * weight / n ** 2  # sums to the frame's mean square (Parseval)
    mean_sq = power.sum(axis=2)
    bands = np.stack([power[..., (freqs >= lo) & (freqs < hi)].sum(axis=2)
                      for lo, hi in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:],
                                            strict=True)], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        centroid = np.where(mean_sq > 0, (power * freqs).sum(axis=2) / mean_sq, 0.0)

    def db(v):
        with np.errstate(divide="ignore"):
            return np.maximum(10.0 * np.log10(v), FLOOR_DB)

    channels = []
    for ch in range(x.shape[1]):
        rows = np.column_stack([db(mean_sq[ch]), db(bands[ch]), centroid[ch]])
        # hundredths of a dB and of a Hz, as integers: a third smaller than decimals
        channels.append(np.rint(rows * 100).astype(int).tolist())
    return {
        "sample_rate": int(rate),
        "frames": int(len(x)),
        "loudness_lufs": round(float(pyloudnorm.Meter(rate).integrated_loudness(x)), 4),
        "frame_s": FRAME_S,
        "band_edges_hz": list(BAND_EDGES_HZ[1:-1]),
        "columns": ["rms_db"] + [f"band{i}_db" for i in range(len(BAND_EDGES_HZ) - 1)]
                   + ["centroid_hz"],
        "channels": channels,
    }


def differences(golden: dict, new: dict) -> list[str]:
    """What differs beyond the tolerances, one line each, worst first (empty: same)."""
    out = []
    golden = {**golden, "channel_count": len(golden["channels"])}
    new = {**new, "channel_count": len(new["channels"])}
    for key in ("sample_rate", "frames", "channel_count"):
        if golden[key] != new[key]:
            return [f"{key}: golden {golden[key]}, now {new[key]}"]
    d_lufs = new["loudness_lufs"] - golden["loudness_lufs"]
    if abs(d_lufs) > TOL_LUFS:
        out.append(f"integrated loudness moved {d_lufs:+.3f} LU "
                   f"(golden {golden['loudness_lufs']:.3f} LUFS)")
    cols = golden["columns"]
    for ch, (g_rows, n_rows) in enumerate(zip(golden["channels"], new["channels"],
                                                          strict=True)):
        g = np.asarray(g_rows) / 100.0
        m = np.asarray(n_rows) / 100.0
        floor = g[:, 0].max() - RANGE_DB
        levels = np.maximum(g[:, :-1], m[:, :-1])
        diff = np.where(levels >= floor, np.abs(m[:, :-1] - g[:, :-1]), 0.0)
        loud = (g[:, 0] >= floor)[:, None]
        rel = np.where(loud[:, 0] & (g[:, -1] > 0),
                       np.abs(m[:, -1] - g[:, -1]) / np.maximum(g[:, -1], 1e-9), 0.0)
        if diff.max() > TOL_DB:
            f, c = np.unravel_index(np.argmax(diff), diff.shape)
            out.append(f"channel {ch}: {int((diff > TOL_DB).sum())} levels moved, worst "
                       f"{cols[c]} at {f * golden['frame_s']:.2f} s: {g[f, c]:.3f} -> "
                       f"{m[f, c]:.3f} dB")
        if rel.max() > TOL_CENTROID:
            f = int(np.argmax(rel))
            out.append(f"channel {ch}: {int((rel > TOL_CENTROID).sum())} centroids moved, "
                       f"worst at {f * golden['frame_s']:.2f} s: {g[f, -1]:.2f} -> "
                       f"{m[f, -1]:.2f} Hz")
    return out


def cases() -> list[tuple[str, str]]:
    """(kind, name) of every golden case: each shipped session preset and instrument."""
    from sointu.shipped import folder

    root = folder("presets")
    return ([("preset", p.stem) for p in sorted((root / "sessions").glob("*.toml"))]
            + [("strike", p.stem) for p in sorted((root / "instruments").glob("*.toml"))])


def golden_path(kind: str, name: str) -> Path:
    return GOLDEN_DIR / f"{kind}-{name}.json"


def render_case(kind: str, name: str, folder: Path) -> Path:
    """Render one case into ``folder`` the way a user would, and return the FLAC."""
    import sointu

    out = folder / f"{kind}-{name}.flac"
    if kind == "preset":
        sointu.render(name, out, duration=RENDER_SECONDS_OF.get(name, RENDER_SECONDS),
                      seed=RENDER_SEED, mix="speakers",
                      bit_depth="24", cover=False, force=True)
    else:
        from sointu.cli import main

        try:
            main(["strike", name, "-o", str(out), "--force", *STRIKE_ARGS])
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise RuntimeError(f"sointu strike {name} exited {exc.code}") from None
    return out


def load(kind: str, name: str) -> dict:
    return json.loads(golden_path(kind, name).read_text(encoding="utf-8"))


def dump(kind: str, name: str, print_: dict) -> None:
    text = json.dumps(print_, separators=(",", ":"))
    # one frame per line keeps diffs of the stored files readable
    text = text.replace("],[", "],\n[")
    golden_path(kind, name).write_text(text + "\n", encoding="utf-8")


def fresh_cache(folder: Path) -> None:
    """Point the loudness-gain cache at an empty folder, so no stale gain changes a render."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["SOINTU_CACHE_DIR"] = str(folder)
