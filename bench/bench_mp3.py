"""MP3 for 60 minutes: sointu's direct LAME encoder on one core against the parallel-parts join.

Issue 9 keeps the join (``sointu.rendering.mp3_parallel``, two encoders without bit reservoir,
joined frame by frame) only if it is at least 25 % faster than the same encoder run as ONE
part in one thread. Both encode the same signal: a stretch of the session at the target
loudness (as ``bench_render.py`` makes it), looped to the length, in blocks of 8192. Runs
alternate (one part, two parts, ...) so that changes of the machine's load hit both.

Printed per run: wall time, CPU time of the process (all threads), the CPU time of the
busiest part's thread, and the file size. On a shared, loaded machine (the development box
runs 8 engineers' tests on 2 cores) the wall time shows the load more than the second core;
the busiest part's CPU time is the wall time the encode would take with a core of its own
per part (the join itself copies the parts' bytes, a fraction of a second).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_render import BLOCK, SAMPLE_RATE, excerpt, load


def encode(x, frames: int, path: Path, parts: int) -> tuple[float, float, float, int]:
    """(wall s, process CPU s, busiest part's CPU s, bytes) of encoding ``frames`` of ``x``
    looped in ``parts``."""
    from sointu.rendering import mp3_parallel
    from sointu.rendering.formats import resolve_format

    fmt = resolve_format(path, sample_rate=SAMPLE_RATE, frames=frames)
    n = x.shape[0]
    part_cpu: list[float] = []

    def looped(start, stop):  # runs in the part's thread, encoding between blocks
        t0 = time.thread_time()
        done = start
        try:
            while done < stop:
                pos = done % n
                take = min(BLOCK, stop - done, n - pos)
                yield x[pos: pos + take]
                done += take
        finally:
            part_cpu.append(time.thread_time() - t0)

    w0, c0 = time.perf_counter(), time.process_time()
    mp3_parallel.encode_mp3_parallel(path, looped, total_frames=frames, sample_rate=SAMPLE_RATE,
                                     vbr_quality=10 * fmt.compression_level, parts=parts)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    size = path.stat().st_size
    path.unlink()
    return wall, cpu, max(part_cpu), size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="classic-60")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    x, _ = excerpt(args.preset, 1, args.minutes, 120.0, -18.0)
    frames = int(args.minutes * 60 * SAMPLE_RATE)
    wall_best: dict[int, float] = {}
    path_best: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(args.repeat):
            for parts in (1, 2):
                wall, cpu, busiest, size = encode(x, frames, Path(work) / "out.mp3", parts)
                wall_best[parts] = min(wall_best.get(parts, wall), wall)
                path_best[parts] = min(path_best.get(parts, busiest), busiest)
                print(f"parts {parts}: wall {wall:.1f} s, cpu {cpu:.1f} s, busiest part "
                      f"{busiest:.1f} s cpu, {size / 1e6:.2f} MB, load {load()}", flush=True)
    for label, best in (("wall", wall_best), ("busiest part's cpu", path_best)):
        print(f"best {label}: one part {best[1]:.1f} s, two parts {best[2]:.1f} s: the join "
              f"saves {100 * (1.0 - best[2] / best[1]):.0f} % (kept at >= 25 %)")
    print(f"{os.cpu_count()} CPUs, load {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
