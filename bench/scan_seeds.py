"""Many seeds of every shipped preset through the gain estimate: does any of them fail?

Not a test (it takes about half an hour for 1000 seeds of each preset): composes each
preset at its own length for seeds 1..N and runs the gain estimate
(:func:`sointu.render.estimate.estimate_gain_db`, the limiter's share included) on it,
without synthesising the session. Prints a markdown table of failures per preset and
exits 1 if there was any.

    nice .venv/bin/python bench/scan_seeds.py             # 1000 seeds of each preset
    nice .venv/bin/python bench/scan_seeds.py --seeds 40  # the issue's first scan
    nice .venv/bin/python bench/scan_seeds.py --preset gift-30 --first 1000 --seeds 500
    nice .venv/bin/python bench/scan_seeds.py --overnight  # 6-12 h at the default seeds
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

import numpy as np
from machine import cpu_count, cpu_model, markdown_table

from sointu.render.estimate import estimate_gain_db
from sointu.session.audio import SessionAudio
from sointu.session.presets import list_session_presets, load_session_preset

#: The issue's overnight lengths (s): 6, 7, 8, 10 and 12 h, and 7 h 59 min 59 s.
OVERNIGHT_S = (6 * 3600, 7 * 3600, 28799, 8 * 3600, 10 * 3600, 12 * 3600)


def scan(name: str, seeds, duration_s: float | None = None
         ) -> tuple[list[tuple[int, str]], float, float]:
    """Failures (seed, error) of one preset, and the lowest and highest gain (dB)."""
    preset = load_session_preset(name)
    failures, gains = [], []
    for seed in seeds:
        try:
            audio = SessionAudio.from_preset(preset, seed=seed, duration_s=duration_s)
            gains.append(estimate_gain_db(audio, preset.defaults.loudness_lufs))
        except Exception as exc:  # the point: count whatever goes wrong
            failures.append((seed, f"{type(exc).__name__}: {exc}"))
            traceback.print_exc(file=sys.stderr)
    return failures, min(gains, default=float("nan")), max(gains, default=float("nan"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1000, help="seeds per preset (default 1000)")
    ap.add_argument("--first", type=int, default=1, help="first seed (default 1)")
    ap.add_argument("--preset", action="append", help="only this preset (repeatable)")
    ap.add_argument("--every", type=int, default=25,
                    help="print the running figures every N seeds (default 25)")
    ap.add_argument("--overnight", action="store_true",
                    help="instead: each preset at 6-12 h, its default seed")
    args = ap.parse_args()
    names = args.preset or list(list_session_presets())
    if args.overnight:
        return overnight(names)
    seeds = range(args.first, args.first + args.seeds)
    # seed by seed across the presets, so that a scan cut short has covered each alike
    failures = {n: [] for n in names}
    gains = {n: [] for n in names}
    took = dict.fromkeys(names, 0.0)
    last = seeds.start - 1
    try:  # Ctrl-C (SIGINT) ends the scan early with the table of the seeds done
        for i, seed in enumerate(seeds, 1):
            for name in names:
                t0 = time.perf_counter()
                bad, lo, _ = scan(name, [seed])
                took[name] += time.perf_counter() - t0
                failures[name] += bad
                if not bad:
                    gains[name].append(lo)
            last = seed
            if i % args.every == 0 or i == len(seeds):
                done = sum(len(f) for f in failures.values())
                print(f"seeds {seeds.start}-{seed}: {done} failures in {i * len(names)} "
                      f"estimates", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print(f"interrupted: the seeds {seeds.start}-{last} are done", file=sys.stderr)
    seeds = range(seeds.start, last + 1)
    rows = []
    for name in names:
        shown = ", ".join(str(s) for s, _ in failures[name][:8])
        shown += " ..." if len(failures[name]) > 8 else ""
        g = gains[name]
        rows.append([name, f"{seeds.start}-{seeds.stop - 1}", str(len(failures[name])),
                     shown or "-", f"{min(g, default=np.nan):.2f} .. "
                     f"{max(g, default=np.nan):.2f}", f"{took[name]:.0f} s"])
    total = sum(len(f) for f in failures.values())
    print(f"seeds through the gain estimate ({cpu_model()}, {cpu_count()} CPUs)\n")
    print("\n".join(markdown_table(["preset", "seeds", "failures", "failing seeds",
                                    "gain dB", "time"], rows)))
    print(f"\n{total} failures in {len(names) * len(seeds)} estimates")
    return 1 if total else 0


def overnight(names) -> int:
    rows, total = [], 0
    for name in names:
        seed = load_session_preset(name).defaults.seed
        for seconds in OVERNIGHT_S:
            t0 = time.perf_counter()
            failures, gain, _ = scan(name, [seed], seconds)
            took = time.perf_counter() - t0
            total += len(failures)
            h, rest = divmod(seconds, 3600)
            rows.append([name, f"{h}h{rest // 60:02d}m{rest % 60:02d}s", str(seed),
                         failures[0][1][:60] if failures else f"{gain:.2f} dB",
                         f"{took:.0f} s"])
            print(f"{name} {seconds} s: {'FAIL' if failures else 'ok'} in {took:.0f} s",
                  file=sys.stderr, flush=True)
    print(f"overnight lengths through the gain estimate ({cpu_model()}, {cpu_count()} CPUs)\n")
    print("\n".join(markdown_table(["preset", "length", "seed", "gain or error", "time"],
                                   rows)))
    print(f"\n{total} failures in {len(rows)} estimates")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
