"""The headphone mix against the speaker mix: the same session rendered both ways, side by side.

Target (issue 13): a 60-minute classic-60 render with ``--mix headphones`` takes at most 1.1x
the wall time of the same render with ``--mix speakers``, and no more memory (within a few MB).

What is timed: the real CLI, ``sointu render PRESET --duration D --mix MIX -o OUT --force``, as
a subprocess, each run with an empty ``SOINTU_CACHE_DIR`` (so the gain is estimated and the
file metered, as a first render does). The two mixes alternate, ``--repeat`` times each, so a
busy neighbour on the shared machine slows both alike; the best (min) runs are compared. Peak
memory is the largest resident set of the process tree (``wait4``); its CPU time (user and
system, the process and its workers) is shown too, as a busy machine moves it less.

Run ``python bench/bench_headphones.py`` (``--quick``: 5 minutes, one run each). The table is
printed and written to ``bench/results/headphones.md`` (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_count, cpu_model, markdown_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "headphones.md"
SOINTU = Path(sys.executable).with_name("sointu")
RATIO_TARGET = 1.1
MEMORY_SLACK_MB = 5.0


def run_once(preset: str, minutes: float, mix: str, suffix: str
             ) -> tuple[float, float, float]:
    """(wall s, peak resident MB, CPU s) of one uncached render."""
    with tempfile.TemporaryDirectory(prefix="sointu-bench-hp-") as tmp:
        out = Path(tmp) / f"out{suffix}"
        env = dict(os.environ, SOINTU_CACHE_DIR=str(Path(tmp) / "cache"))
        cmd = [str(SOINTU), "render", preset, "--duration", f"{minutes:g}m", "--mix", mix,
               "-o", str(out), "--force"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err = proc.stderr.read().decode() if proc.stderr else ""
        if status != 0:
            raise SystemExit(f"render failed ({mix}): {err.strip()}")
        return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="classic-60")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--suffix", default=".flac", help="Output format (default .flac).")
    ap.add_argument("--quick", action="store_true", help="5 minutes, one run each.")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.minutes, args.repeat = 5.0, 1
    runs: dict[str, list[tuple[float, float, float]]] = {"speakers": [], "headphones": []}
    for _ in range(args.repeat):
        for mix in runs:
            runs[mix].append(run_once(args.preset, args.minutes, mix, args.suffix))
            print(f"  {mix}: {runs[mix][-1][0]:.2f} s, {runs[mix][-1][1]:.0f} MB, "
                  f"CPU {runs[mix][-1][2]:.2f} s", file=sys.stderr)
    best = {m: min(w for w, _, _ in r) for m, r in runs.items()}
    peak = {m: max(p for _, p, _ in r) for m, r in runs.items()}
    cpu = {m: min(c for _, _, c in r) for m, r in runs.items()}
    ratio = best["headphones"] / best["speakers"]
    cpu_ratio = cpu["headphones"] / cpu["speakers"]
    mem = peak["headphones"] - peak["speakers"]
    ok_time = ratio <= RATIO_TARGET
    ok_mem = mem <= MEMORY_SLACK_MB
    rows = [[m, f"{best[m]:.2f}", ", ".join(f"{w:.2f}" for w, _, _ in runs[m]),
             f"{cpu[m]:.2f}", f"{peak[m]:.0f}"] for m in runs]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    text = "\n".join([
        f"# headphones vs speakers: {args.preset}, {args.minutes:g} min, {args.suffix}",
        "",
        f"{_dt.datetime.now():%Y-%m-%d %H:%M}, {cpu_model()} ({cpu_count()} cores), "
        f"load {load}",
        "",
        *markdown_table(["mix", "best s", "runs s", "best CPU s", "peak MB"], rows),
        "",
        f"headphones / speakers: {ratio:.3f} (target <= {RATIO_TARGET}) "
        f"{'PASS' if ok_time else 'FAIL'}",
        f"CPU time (less moved by a busy machine): {cpu_ratio:.3f}",
        f"peak memory difference: {mem:+.1f} MB (target <= {MEMORY_SLACK_MB:g}) "
        f"{'PASS' if ok_mem else 'FAIL'}",
        "",
    ])
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text, encoding="utf-8")
    return 0 if ok_time and ok_mem else 1


if __name__ == "__main__":
    sys.exit(main())
