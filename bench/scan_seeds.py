"""Many seeds of every shipped preset through the gain estimate: does any of them fail?

Not a test (1000 seeds of each preset take about 1.3 CPU-hours): composes each preset at its
own length for seeds 1..N and runs the gain estimate
(:func:`sointu.rendering.estimate.estimate_gain_db`, the limiter's share included) on it,
without synthesising the session. Prints a markdown table of failures per preset, writes it
to ``bench/results/`` (with the date, the machine and the exact seeds covered; rewritten at
every progress line, so a scan cut short leaves its table) and exits 1 if there was any.

    nice -n 19 .venv/bin/python bench/scan_seeds.py --jobs 2   # 1000 seeds of each preset
    nice .venv/bin/python bench/scan_seeds.py --seeds 40       # the issue's first scan
    nice .venv/bin/python bench/scan_seeds.py --preset gift-30 --first 1000 --seeds 500
    nice .venv/bin/python bench/scan_seeds.py --overnight      # 6-12 h, and the issue's lines
"""

from __future__ import annotations

import os

# one BLAS thread, as the command line runs (sointu.cli): before numpy is imported. With
# a thread per core the estimate's small products spin on a busy machine (6x the CPU
# time) and their last bits differ from what `sointu render` computes.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import multiprocessing  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from machine import cpu_count, cpu_model, markdown_table  # noqa: E402

from sointu.rendering.estimate import estimate_gain_db  # noqa: E402
from sointu.session.audio import SessionAudio  # noqa: E402
from sointu.session.presets import list_session_presets, load_session_preset  # noqa: E402

#: The issue's overnight lengths (s): 6, 7, 8, 10 and 12 h, and 7 h 59 min 59 s.
OVERNIGHT_S = (6 * 3600, 7 * 3600, 28799, 8 * 3600, 10 * 3600, 12 * 3600)
#: The issue's other command lines: (preset, seed, length in s or None for its own).
#: 3462617861110914872 is the seed of a recipient's name whose gift crashed.
ISSUE_LINES = (("gift-30", 3462617861110914872, None),)
#: The presets the issue found crashing at 6-12 h: scanned first by ``--overnight``.
ISSUE_PRESETS = ("classic-60", "gentle-sleep")
RESULTS = Path(__file__).resolve().parent / "results"

_PRESETS: dict = {}  # name -> preset, loaded once per process (a preset is ~0.2 s of TOML)


def estimate_one(task: tuple[str, int, float | None]
                 ) -> tuple[str, int, float | None, str, float]:
    """Compose and estimate one (preset, seed, length): (name, seed, gain or None, error,
    CPU seconds). Whatever goes wrong is caught and returned (its traceback to stderr)."""
    name, seed, duration_s = task
    t0 = time.process_time()
    try:
        preset = _PRESETS.get(name)
        if preset is None:
            preset = _PRESETS[name] = load_session_preset(name)
        audio = SessionAudio.from_preset(preset, seed=seed, duration_s=duration_s)
        gain, error = estimate_gain_db(audio, preset.defaults.loudness_lufs), ""
    except Exception as exc:  # the point: count whatever goes wrong
        gain, error = None, f"{type(exc).__name__}: {exc}"
        print(f"{name} seed {seed} length {duration_s}:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
    return name, seed, gain, error, time.process_time() - t0


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends the scan, not each worker
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's pool.terminate()


def run(tasks, jobs: int):
    """Results of ``estimate_one`` over ``tasks``, in their order (``jobs`` processes)."""
    if jobs <= 1:
        yield from map(estimate_one, tasks)
        return
    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(jobs, initializer=_worker_init)
    try:
        yield from pool.imap(estimate_one, tasks)
    finally:
        pool.terminate()
        pool.join()


def header(title: str, command: str, started: datetime.datetime, jobs: int) -> list[str]:
    return [f"# {title}", "",
            f"- command: `{command}`",
            f"- started {started:%Y-%m-%d %H:%M} UTC, written "
            f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {cpu_model()}, {cpu_count()} CPUs, load average "
            f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}; {jobs} job(s), one BLAS "
            f"thread each", ""]


def write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1000, help="seeds per preset (default 1000)")
    ap.add_argument("--first", type=int, default=1, help="first seed (default 1)")
    ap.add_argument("--preset", action="append", help="only this preset (repeatable)")
    ap.add_argument("--every", type=int, default=25,
                    help="print the running figures every N seeds (default 25)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="processes estimating at once (default 1; the machine has "
                         f"{cpu_count()} CPUs)")
    ap.add_argument("--out", type=Path,
                    help="results file (default bench/results/scan_seeds-DATE-TIME.md)")
    ap.add_argument("--overnight", action="store_true",
                    help="instead: each preset at 6-12 h at its default seed, and the "
                         "issue's other command lines")
    ap.add_argument("--skip", type=int, default=0,
                    help="with --overnight: leave out its first N cases (done before)")
    args = ap.parse_args()
    names = args.preset or list(list_session_presets())
    started = datetime.datetime.now(datetime.UTC)
    kind = "scan_overnight" if args.overnight else "scan_seeds"
    out = args.out or RESULTS / f"{kind}-{started:%Y%m%d-%H%M}.md"
    command = "bench/scan_seeds.py " + " ".join(sys.argv[1:])
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill: as Ctrl-C
    if args.overnight:
        return overnight(names, args.jobs, out, command, started, args.skip)
    seeds = range(args.first, args.first + args.seeds)
    # seed by seed across the presets, so that a scan cut short has covered each alike
    tasks = [(name, seed, None) for seed in seeds for name in names]
    failures = {n: [] for n in names}
    gains = {n: [] for n in names}
    took = dict.fromkeys(names, 0.0)
    last = seeds.start - 1
    t_start = time.perf_counter()

    def table() -> list[str]:
        done = range(seeds.start, last + 1)
        rows = []
        for name in names:
            shown = ", ".join(str(s) for s, _ in failures[name][:8])
            shown += " ..." if len(failures[name]) > 8 else ""
            g = gains[name]
            rows.append([name, f"{done.start}-{done.stop - 1}" if len(done) else "none",
                         f"{len(failures[name])}/{len(done)}", shown or "-",
                         f"{min(g, default=np.nan):.2f} .. {max(g, default=np.nan):.2f}",
                         f"{took[name]:.0f} s", f"{took[name] / max(len(done), 1):.2f} s"])
        total = sum(len(f) for f in failures.values())
        return (markdown_table(["preset", "seeds", "failures", "failing seeds", "gain dB",
                                "CPU", "CPU per estimate"], rows)
                + ["", f"{total} failures in {len(names) * len(done)} estimates "
                   f"(seeds {done.start}-{done.stop - 1} of each preset, own lengths), "
                   f"{time.perf_counter() - t_start:.0f} s wall"])

    def save(note: str = "") -> None:
        write(out, header("Seeds through the gain estimate", command, started, args.jobs)
              + table() + (["", note] if note else []))

    note = ""
    try:  # Ctrl-C or SIGTERM ends the scan early with the table of the seeds done
        for i, (name, seed, gain, error, seconds) in enumerate(run(tasks, args.jobs), 1):
            took[name] += seconds
            if error:
                failures[name].append((seed, error))
            else:
                gains[name].append(gain)
            if i % len(names):
                continue
            last = seed
            k = seed - seeds.start + 1
            if k % args.every == 0 or k == len(seeds):
                done = sum(len(f) for f in failures.values())
                print(f"seeds {seeds.start}-{seed}: {done} failures in {k * len(names)} "
                      f"estimates, {time.perf_counter() - t_start:.0f} s",
                      file=sys.stderr, flush=True)
                save()
    except KeyboardInterrupt:
        note = f"interrupted: the seeds {seeds.start}-{last} are done"
        print(note, file=sys.stderr)
    save(note)
    total = sum(len(f) for f in failures.values())
    print(f"seeds through the gain estimate ({cpu_model()}, {cpu_count()} CPUs)\n")
    print("\n".join(table()))
    print(f"\nwritten to {out}")
    return 1 if total else 0


def overnight_cases(names) -> list[tuple[str, int, float | None]]:
    """(preset, seed, length) of ``--overnight``: the issue's presets and lines first."""
    first = [n for n in ISSUE_PRESETS if n in names]
    order = first + [n for n in names if n not in first]
    seeds = {n: load_session_preset(n).defaults.seed for n in order}
    cases = [(n, seeds[n], s) for n in order[: len(first)] for s in OVERNIGHT_S]
    cases += [t for t in ISSUE_LINES if t[0] in names]
    return cases + [(n, seeds[n], s) for n in order[len(first):] for s in OVERNIGHT_S]


def _length(seconds: float | None) -> str:
    if seconds is None:
        return "own"
    h, rest = divmod(int(seconds), 3600)
    return f"{h}h{rest // 60:02d}m{rest % 60:02d}s"


def overnight(names, jobs: int, out: Path, command: str, started, skip: int = 0) -> int:
    tasks = overnight_cases(names)[skip:]
    rows, total, cut = [], 0, ""

    def body() -> list[str]:
        lines = [[name, _length(length), str(seed),
                  error[:60] if error else f"{gain:.2f} dB", f"{took:.0f} s"]
                 for (name, seed, length), (gain, error, took) in zip(tasks, rows,
                                                                       strict=False)]
        return (markdown_table(["preset", "length", "seed", "gain or error", "CPU"], lines)
                + ["", f"{total} failures in {len(rows)} estimates"
                   + (f" (cases {skip + 1}-{skip + len(rows)} of --overnight)" if skip
                      else "")]
                + ([cut] if cut else []))

    def save() -> None:
        write(out, header("Overnight lengths and the issue's command lines through the gain "
                          "estimate", command, started, jobs) + body())

    try:  # rows: the cases done, in the order of the tasks
        for (name, seed, length), (_, _, gain, error, took) in zip(tasks, run(tasks, jobs),
                                                                   strict=False):
            rows.append((gain, error, took))
            total += bool(error)
            print(f"{name} seed {seed} {_length(length)}: {'FAIL' if error else 'ok'} in "
                  f"{took:.0f} s CPU", file=sys.stderr, flush=True)
            save()
    except KeyboardInterrupt:
        cut = f"interrupted after {len(rows)} of {len(tasks)} cases"
    save()
    print(f"overnight lengths through the gain estimate ({cpu_model()}, {cpu_count()} CPUs)\n")
    print("\n".join(body()))
    print(f"\nwritten to {out}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
