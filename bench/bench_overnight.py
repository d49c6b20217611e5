"""One full overnight render: ``sointu render gentle-sleep --duration 8h`` to WAV.

Targets (issue 16):

* the file is an RF64 WAV (it is larger than 4 GiB), readable by soundfile, of exactly the
  asked length, and its last minute rings out into silence (no stroke starts in it, every
  5 s quieter than the last, the last samples exactly zero);
* peak memory within 10 MB of the same render at 60 minutes;
* wall time within 1.1x of 8 times the 60-minute render's.

What runs: the real CLI as a subprocess, uncached (an empty ``SOINTU_CACHE_DIR``: the gain
is estimated, the file metered), through ``bench_render``'s wrapper (wait4's figures and
the process tree's sampled PSS). The 60-minute render runs first, then the long one. The
8-hour file takes 8.3 GB on disk for a few minutes (``--out-dir``; removed afterwards
unless ``--keep``).

    nice .venv/bin/python bench/bench_overnight.py            # 8 h, about 2-4 minutes
    nice .venv/bin/python bench/bench_overnight.py --hours 2  # a quicker look
"""

from __future__ import annotations

import argparse
import datetime as _dt
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from bench_render import ROOT, clean, load, machine, run_cli
from machine import markdown_table

RESULTS = ROOT / "bench" / "results" / "overnight.md"
MEMORY_SLACK_MB = 10.0
TIME_RATIO_TARGET = 1.1


def _db(x: float) -> float:
    return 20.0 * np.log10(x) if x > 0 else -np.inf


def ring_out(path: Path, minutes: float = 20.0) -> dict:
    """The file's header and length, and how its last ``minutes`` decay (RMS per 5 s)."""
    with open(path, "rb") as f:
        riff = f.read(4).decode("latin-1")
    info = sf.info(str(path))
    win = 5 * info.samplerate
    n = int(minutes * 60) // 5 * win
    rms = []
    with sf.SoundFile(str(path)) as f:
        f.seek(f.frames - n)
        for block in f.blocks(win, dtype="float32"):
            rms.append(float(np.sqrt(np.mean(block.astype(np.float64) ** 2))))
            last = block
    rms = np.array(rms)
    loud = np.flatnonzero(rms > 10.0 ** (-60 / 20))
    last_min = rms[-12:]
    return {"riff": riff, "frames": info.frames, "rate": info.samplerate,
            "subtype": info.subtype, "minutes": minutes,
            "rms_per_min_db": [_db(float(np.sqrt(np.mean(m ** 2))))
                               for m in rms.reshape(-1, 12)],
            "last_sound_s": None if loud.size == 0 else (len(rms) - loud[-1] - 1) * 5,
            "falling": bool(np.all(np.diff(last_min) <= 0)),
            "last_min_db": _db(float(last_min.max())),
            "last_10ms_peak": float(np.max(np.abs(last[-info.samplerate // 100:])))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="gentle-sleep")
    ap.add_argument("--hours", type=float, default=8.0, help="long render (default 8)")
    ap.add_argument("--short-minutes", type=float, default=60.0,
                    help="the render it is compared with (default 60)")
    ap.add_argument("--out-dir", type=Path, default=None, help="default: a temporary folder")
    ap.add_argument("--keep", action="store_true", help="keep the long file")
    ap.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    args = ap.parse_args(argv)
    mach, load0 = machine(), load()
    work = Path(tempfile.mkdtemp(prefix="sointu-overnight-", dir=args.out_dir))
    try:
        runs = {}
        for key, minutes in (("short", args.short_minutes), ("long", args.hours * 60)):
            out, cache = work / f"{key}.wav", work / f"cache-{key}"
            cache.mkdir()
            print(f"rendering {args.preset} {minutes:g} min ...", file=sys.stderr, flush=True)
            runs[key] = run_cli([args.preset, "--duration", f"{minutes:g}m"], out, cache)
            if key == "long":
                tail = ring_out(out)
                if not args.keep:
                    clean(out)
            else:
                clean(out)
        short, long_ = runs["short"], runs["long"]
        factor = args.hours * 60 / args.short_minutes
        peak = {k: max(r.maxrss_mb, r.tree_pss_mb) for k, r in runs.items()}
        mem_ok = peak["long"] <= peak["short"] + MEMORY_SLACK_MB
        ratio = long_.wall_s / (factor * short.wall_s)
        time_ok = ratio <= TIME_RATIO_TARGET
        frames_ok = tail["frames"] == round(args.hours * 3600 * tail["rate"])
        # sound (above -60 dBFS RMS over 5 s) in the last minutes, then a minute that only
        # falls, and exact silence at the very end
        silence_ok = (tail["last_sound_s"] is not None and tail["falling"]
                      and tail["last_min_db"] < -60 and tail["last_10ms_peak"] == 0.0)
        # a WAV header's 32-bit sizes end at 4 GiB: beyond, the file must be RF64
        want_riff = "RF64" if long_.size_mb * 1e6 >= 2**32 else "RIFF"
        rf64_ok = tail["riff"] == want_riff

        def verdict(ok):
            return "PASS" if ok else "FAIL"

        rows = [
            [f"{args.short_minutes:g} min", f"{short.wall_s:.1f}", f"{short.cpu_s:.1f}",
             f"{short.maxrss_mb:.1f} / {short.tree_pss_mb:.1f}", f"{short.size_mb:.0f}",
             "-", "-"],
            [f"{args.hours:g} h", f"{long_.wall_s:.1f}", f"{long_.cpu_s:.1f}",
             f"{long_.maxrss_mb:.1f} / {long_.tree_pss_mb:.1f}", f"{long_.size_mb:.0f}",
             f"time {ratio:.3f}x of {factor:g} x {args.short_minutes:g} min (target <= "
             f"{TIME_RATIO_TARGET:g}x): {verdict(time_ok)}",
             f"peak {peak['long'] - peak['short']:+.1f} MB (target <= +{MEMORY_SLACK_MB:g}): "
             f"{verdict(mem_ok)}"],
        ]
        checks = [
            ["header", f"{tail['riff']} (needed: {want_riff})", verdict(rf64_ok)],
            ["read by soundfile", f"{tail['frames']} frames at {tail['rate']} Hz, "
             f"{tail['subtype']}", verdict(frames_ok)],
            [f"last {tail['minutes']:g} min, RMS per minute (dBFS)",
             " ".join(f"{x:.0f}" for x in tail["rms_per_min_db"]), "-"],
            ["last 5 s above -60 dBFS RMS", "none" if tail["last_sound_s"] is None
             else f"ends {tail['last_sound_s']} s before the end", "-"],
            ["last minute: RMS per 5 s never rises; its loudest 5 s / the last 10 ms peak",
             f"{'yes' if tail['falling'] else 'no'}; {tail['last_min_db']:.0f} dBFS / "
             f"{tail['last_10ms_peak']:g}", verdict(silence_ok)],
        ]
        date = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        text = "\n".join([
            f"# Overnight render benchmark ({date})",
            "",
            f"- machine: {mach['cpu']}, nproc {mach['nproc']}; load average at start {load0}, "
            f"at end {load()}",
            f"- Python {mach['python']}, numpy {mach['numpy']}, soundfile {mach['soundfile']}, "
            f"{mach['libsndfile']}",
            f"- `sointu render {args.preset} --duration D -o OUT.wav --force`, uncached (empty "
            "SOINTU_CACHE_DIR each)",
            "",
            *markdown_table(["render", "wall s", "cpu s (tree)", "peak MB (max RSS / tree PSS)",
                             "file MB", "time", "memory"], rows),
            "",
            *markdown_table(["check of the long file", "found", "result"], checks),
            "",
        ])
        print(text)
        if not args.no_write:
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(text)
            print(f"written to {RESULTS}", file=sys.stderr)
        return 0 if all((mem_ok, time_ok, frames_ok, silence_ok, rf64_ok)) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
