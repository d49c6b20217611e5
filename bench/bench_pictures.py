"""What pictures cost a render: ``render --plot`` and the default cover, against neither.

Target (issue 12): ``sointu render ... --plot`` at most 5 % slower than the same render
without it. Covers are on by default, so they are timed too (``--no-cover`` is the
baseline of both).

Each variant runs the real CLI as a subprocess (``sointu render PRESET --duration D -o OUT
--force`` plus the variant's options), interleaved round after round so that the load of a
shared machine falls on every variant alike; wall time and the CPU time of the whole
process tree (``wait4``) are recorded, with the 1-minute load average at each run's start.
The target's ratio is a ``--plot`` variant's best wall over that of the same render without
it (cover against cover); its extra CPU time (median) is beside it. Two cases:

* cached: the gain and loudness curve are in the cache (a re-render, and every render of a
  session measured before): the picture is drawn entirely while the audio is synthesised;
* uncached: an empty cache each run (the first render of a session): the loudness panel and
  the saving of the picture wait for the end of the render.

``--tail`` instead times, in this process, how long a render with ``--plot`` waits for its
picture after the audio is done (``SessionPlotJob.finish``), cached and uncached: the part of
the picture's cost that no free core can hide.

Run ``python bench/bench_pictures.py --help``; ``--quick`` renders 5 minutes twice, ``--case``
runs one case only. The
table is printed and written to ``bench/results/pictures.md`` (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_count, cpu_model, markdown_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "pictures.md"
SOINTU = Path(sys.executable).with_name("sointu")
TARGET = 1.05

VARIANTS = {  # name -> extra options
    "no cover, no plot": ["--no-cover"],
    "cover (default)": [],
    "--plot --no-cover": ["--plot", "--no-cover"],
    "--plot with cover": ["--plot"],
}
#: Each --plot variant's same render without it: the target's ratio.
WITHOUT_PLOT = {"--plot --no-cover": "no cover, no plot", "--plot with cover": "cover (default)"}


def run(args: list[str], cache: Path) -> tuple[float, float, float]:
    """Wall and CPU seconds (the process tree) of one CLI run, and the 1-minute load
    average at its start."""
    env = dict(os.environ, SOINTU_CACHE_DIR=str(cache))
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(SOINTU), *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"sointu {' '.join(args)} failed:\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime, load


def bench(preset: str, duration: str, suffix: str, rounds: int, cached: bool,
          work: Path) -> dict[str, list[tuple[float, float, float]]]:
    times: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
    warm = work / "cache"
    out = work / f"out{suffix}"
    base = ["render", preset, "--duration", duration, "-o", str(out), "--force"]
    if cached:
        run(base + ["--plot"], warm)  # fills the cache: gain and curve
    for _ in range(rounds):
        for name, extra in VARIANTS.items():
            cache = warm
            if not cached:
                cache = work / "empty"
                shutil.rmtree(cache, ignore_errors=True)
            times[name].append(run(base + extra, cache))
    return times


def tail(preset: str, duration: str, suffix: str, work: Path) -> list[str]:
    """Seconds a render waits for its picture once the audio is written."""
    sys.path.insert(0, str(ROOT / "src"))
    import sointu.pictures.job as job
    from sointu.cli import main as cli

    waited = []
    finish = job.SessionPlotJob.finish

    def timed(self, curve):
        t0 = time.perf_counter()
        try:
            return finish(self, curve)
        finally:
            waited.append(time.perf_counter() - t0)

    job.SessionPlotJob.finish = timed
    out = []
    os.environ["SOINTU_CACHE_DIR"] = str(work / "cache")
    for case in ("uncached", "cached"):
        t0 = time.perf_counter()
        try:
            cli(["render", preset, "--duration", duration, "-o", str(work / f"t{suffix}"),
                 "--force", "--plot"])
        except SystemExit as exc:
            if exc.code:
                raise
        out.append(f"{case}: render {time.perf_counter() - t0:.2f} s, waited for the "
                   f"picture {waited[-1]:.3f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="classic-60")
    ap.add_argument("--duration", default="60m")
    ap.add_argument("--format", default=".flac", help="suffix of the rendered file")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="5 minutes, 2 rounds")
    ap.add_argument("--case", choices=("both", "cached", "uncached"), default="both")
    ap.add_argument("--tail", action="store_true",
                    help="only: how long a render waits for its picture at the end")
    a = ap.parse_args()
    if a.quick:
        a.duration, a.rounds = "5m", 2
    if a.tail:
        with tempfile.TemporaryDirectory(prefix="sointu-bench-") as tmp:
            lines = tail(a.preset, a.duration, a.format, Path(tmp))
        print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("\n".join(lines))
        return
    head = ["case", "variant", "wall best (s)", "wall median (s)", "CPU median (s)",
            "load median", "wall vs baseline (best)", "--plot: wall vs without (best)",
            "--plot: CPU + (median, s)"]
    rows = []
    loads = []
    cases = {"both": (True, False), "cached": (True,), "uncached": (False,)}[a.case]
    with tempfile.TemporaryDirectory(prefix="sointu-bench-") as tmp:
        for cached in cases:
            loads.append(" ".join(f"{x:.2f}" for x in os.getloadavg()))
            times = bench(a.preset, a.duration, a.format, a.rounds, cached, Path(tmp))
            best = {name: min(w for w, _, _ in runs) for name, runs in times.items()}
            cpu = {name: statistics.median(c for _, c, _ in runs)
                   for name, runs in times.items()}
            for name, runs in times.items():
                walls = [w for w, _, _ in runs]
                without = WITHOUT_PLOT.get(name)
                rows.append(["cached" if cached else "uncached", name, f"{best[name]:.2f}",
                             f"{statistics.median(walls):.2f}", f"{cpu[name]:.2f}",
                             f"{statistics.median(ld for _, _, ld in runs):.2f}",
                             f"{best[name] / best['no cover, no plot']:.3f}",
                             f"{best[name] / best[without]:.3f}" if without else "",
                             f"{cpu[name] - cpu[without]:+.2f}" if without else ""])
    lines = [f"# render with pictures ({_dt.datetime.now():%Y-%m-%d %H:%M})", "",
             f"{a.preset}, {a.duration}, {a.format}, {a.rounds} rounds interleaved; "
             f"{cpu_model()}, {cpu_count()} cores; load at start of each case: "
             f"{'; '.join(loads)}; target: --plot at most {TARGET:.2f}x", "",
             *markdown_table(head, rows)]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
