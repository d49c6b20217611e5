"""Render speed and memory of ``sointu render``, against libsndfile encoding alone.

Targets (from the issues):

* classic preset, 60 minutes, stereo 48 kHz, 24-bit FLAC: wall time at most 1.25x the time
  libsndfile alone needs to encode 60 minutes of stereo audio to 24-bit FLAC, measured in the
  same run;
* the same to 24-bit WAV: under 12 s;
* peak memory under 200 MB, and no higher (within a few MB) for a 3-hour render;
* MP3 and Opus: the render's wall time shown against single-threaded encoding alone (a render
  that uses both cores for encoding is faster than one core can encode). MP3 renders encode
  with LAME directly, in parts on both cores (``sointu.rendering.mp3_parallel``); the MP3 row
  also shows that encoder alone as one part on one core, so the share of the second core is
  seen apart from the encoder's own speed.

What is timed: the real CLI, ``sointu render PRESET --duration D -o OUT --force``, as a
subprocess (Python start-up, composing, the gain estimate, synthesis, metering and encoding,
tags, markers, sidecars). Its peak memory comes from ``wait4`` (the largest resident set of
any process of its tree: the CLI and its forked estimating or measuring workers) and from
sampling the tree's summed PSS (proportional set size: shared pages counted once) every
0.2 s. Each uncached render gets an empty ``SOINTU_CACHE_DIR``, so the gain is estimated
and the file metered; a cached re-render
(the gain read from that cache) is timed as well.

The baseline: libsndfile (through soundfile) in one thread encoding the same length of a
realistic signal, a stretch of the session itself (rendered once to memory at the target
loudness, then looped), in blocks of 8192 frames, with the settings the CLI uses for that
format (lossless input already on the 24-bit grid, as the writer hands it over).

Run ``python bench/bench_render.py --help``; ``--quick`` is a smoke test (5 minutes). The table
is printed and written to ``bench/results/render.md`` (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from machine import cpu_count, cpu_model, markdown_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "render.md"
SOINTU = Path(sys.executable).with_name("sointu")
SAMPLE_RATE = 48000
BLOCK = 8192
FLAC_RATIO_TARGET = 1.25
WAV_TARGET_S = 12.0  # for 60 minutes
MEMORY_TARGET_MB = 200.0
MEMORY_GROWTH_MB = 5.0  # "no higher for a 3-hour render": allowed slack
LOSSY_RATIO_TARGET = 1.0  # faster than one core encoding alone


# -- machine -------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    cpu = cpu_model()
    import numpy as np
    import soundfile as sf

    return {"cpu": cpu, "nproc": str(cpu_count()),
            "python": platform.python_version(), "numpy": np.__version__,
            "libsndfile": sf.__libsndfile_version__, "soundfile": sf.__version__}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- running the CLI -------------------------------------------------------------------------

@dataclass
class Run:
    wall_s: float
    cli_s: float | None  # the "in X s" of the CLI's own summary
    cpu_s: float  # user + system of the whole tree
    maxrss_mb: float  # largest single process of the tree (wait4)
    tree_pss_mb: float  # peak of the tree's summed PSS (sampled)
    nprocs: int  # most processes seen at once in the tree
    size_mb: float
    load: str = ""
    stderr: str = field(default="", repr=False)


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _sample_tree(root: int, stop: threading.Event, out: dict) -> None:
    """Every 0.2 s: the summed PSS of the descendants of ``root`` (the wrapper)."""
    while not stop.wait(0.2):
        kids = _children()
        tree, todo = [], list(kids.get(root, ()))
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(kids.get(pid, ()))
        pss = sum(_pss_kb(p) for p in tree)
        out["pss"] = max(out.get("pss", 0), pss)
        out["n"] = max(out.get("n", 0), len(tree))


# A small wrapper process runs the CLI and reports wait4's figures: the CLI must not be forked
# from this process, whose pages (numpy, the excerpt) would count in the child's ru_maxrss
# (Linux keeps the pre-exec high-water mark).
_WRAPPER = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
wall = time.perf_counter() - t0
json.dump({"wall": wall, "rc": os.waitstatus_to_exitcode(status), "cpu": ru.ru_utime
           + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}, open(sys.argv[1], "w"))
"""


def run_cli(args: list[str], out: Path, cache: Path) -> Run:
    """Run ``sointu render ARGS -o OUT --force`` and measure it."""
    env = dict(os.environ, SOINTU_CACHE_DIR=str(cache), COLUMNS="100")
    cmd = [str(SOINTU), "render", *args, "-o", str(out), "--force"]
    report = cache / "wait4.json"
    with tempfile.TemporaryFile() as err:
        at = load()
        proc = subprocess.Popen([sys.executable, "-c", _WRAPPER, str(report), *cmd], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        stop, sampled = threading.Event(), {}
        sampler = threading.Thread(target=_sample_tree, args=(proc.pid, stop, sampled),
                                   daemon=True)
        sampler.start()
        proc.wait()
        stop.set()
        sampler.join()
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    figures = json.loads(report.read_text()) if report.exists() else {"rc": proc.returncode}
    if proc.returncode != 0 or figures["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({figures['rc']}): {text[-500:]}")
    m = re.search(r"\) in ([0-9.]+) s", text)
    size = out.stat().st_size / 1e6
    return Run(wall_s=figures["wall"], cli_s=float(m.group(1)) if m else None,
               cpu_s=figures["cpu"], maxrss_mb=figures["maxrss_kb"] / 1024,
               tree_pss_mb=sampled.get("pss", 0) / 1024, nprocs=sampled.get("n", 1),
               size_mb=size, load=at, stderr=text)


def clean(out: Path) -> None:
    for p in (out, out.with_name(out.name + ".cue"), out.with_name(out.name + ".chapters.json")):
        p.unlink(missing_ok=True)


# -- the baseline: libsndfile alone ------------------------------------------------------------

def excerpt(preset: str, seed: int, minutes: float, loop_s: float, target_lufs: float):
    """A stretch of the session (from a third in), at the target loudness, float32 (n, 2).

    ``n`` is a whole number of blocks, so the loop is written in whole blocks.
    """
    import numpy as np

    from sointu.rendering.loudness import LoudnessMeter, gain_for_target
    from sointu.session.audio import SessionAudio

    audio = SessionAudio.from_preset(preset, duration_s=minutes * 60, seed=seed)
    n = max(1, int(loop_s * SAMPLE_RATE) // BLOCK) * BLOCK
    n = min(n, audio.total_frames // BLOCK * BLOCK)
    start = min(audio.total_frames // 3, audio.total_frames - n)
    parts, got = [], 0
    for b in audio.blocks(BLOCK, start):
        parts.append(b)
        got += len(b)
        if got >= n:
            break
    x = np.concatenate(parts)[:n].astype(np.float32)
    meter = LoudnessMeter(SAMPLE_RATE, 2)
    meter.process(x)
    gain = gain_for_target(meter, target_lufs)
    peak = float(np.abs(x).max())
    gain = min(gain, -1.0 - 20 * np.log10(peak))  # keep it legal
    x *= np.float32(10 ** (gain / 20))
    return x, start / SAMPLE_RATE


def encode_only(x, frames: int, suffix: str, out: Path) -> float:
    """Seconds libsndfile needs to encode ``frames`` frames of ``x`` looped, one thread."""
    import numpy as np
    import soundfile as sf

    from sointu.rendering.formats import resolve_format
    from sointu.rendering.writer import quantise

    fmt = resolve_format(out.with_suffix(suffix), sample_rate=SAMPLE_RATE, frames=frames)
    src = quantise(x, fmt.bits) if fmt.bits is not None else x
    src = np.ascontiguousarray(src, dtype=np.float32)
    n = src.shape[0]
    path = out.with_suffix(suffix)
    t0 = time.perf_counter()
    with sf.SoundFile(path, "w", samplerate=SAMPLE_RATE, channels=2,
                      **fmt.soundfile_kwargs()) as f:
        done = 0
        while done < frames:
            pos = done % n
            take = min(BLOCK, frames - done, n - pos)
            f.write(src[pos: pos + take])
            done += take
    wall = time.perf_counter() - t0
    path.unlink(missing_ok=True)
    return wall


def encode_only_lame(x, frames: int, out: Path) -> float | None:
    """Seconds sointu's direct LAME encoder (no reservoir) needs for ``frames`` of ``x`` looped,
    as ONE part in one thread; None without libmp3lame.

    The render encodes MP3 this way in parts on both cores; this shows how much of its gain
    over libsndfile comes from the second core and how much from the encoder itself.
    """
    from sointu.rendering import mp3_parallel
    from sointu.rendering.formats import resolve_format

    if not mp3_parallel.available(SAMPLE_RATE):
        return None
    path = out.with_suffix(".mp3")
    fmt = resolve_format(path, sample_rate=SAMPLE_RATE, frames=frames)
    n = x.shape[0]

    def looped(start, stop):
        done = start
        while done < stop:
            pos = done % n
            take = min(BLOCK, stop - done, n - pos)
            yield x[pos: pos + take]
            done += take

    t0 = time.perf_counter()
    mp3_parallel.encode_mp3_parallel(path, looped, total_frames=frames,
                                     sample_rate=SAMPLE_RATE,
                                     vbr_quality=10 * fmt.compression_level, parts=1)
    wall = time.perf_counter() - t0
    path.unlink(missing_ok=True)
    return wall


# -- report ------------------------------------------------------------------------------------

def mmm(xs: list[float]) -> str:
    if not xs:
        return "-"
    if len(xs) == 1:
        return f"{xs[0]:.1f}"
    return f"{min(xs):.1f} / {statistics.median(xs):.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="classic-60")
    ap.add_argument("--seed", type=int, default=None, help="default: the preset's")
    ap.add_argument("--minutes", type=float, default=60.0, help="render length (default 60)")
    ap.add_argument("--long-minutes", type=float, default=180.0,
                    help="length of the memory case (default 180)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs of each FLAC/WAV case and baseline (default 2)")
    ap.add_argument("--loop-seconds", type=float, default=120.0,
                    help="length of the looped excerpt for the baselines (default 120)")
    ap.add_argument("--skip-lossy", action="store_true", help="no MP3/Opus cases")
    ap.add_argument("--lossy-only", action="store_true",
                    help="only the MP3/Opus cases (no FLAC, WAV or memory cases)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 5 min (10 min memory case), 1 run, lossy 1 min")
    ap.add_argument("--lossy-minutes", type=float, default=None,
                    help="length of the MP3/Opus cases (default: --minutes)")
    ap.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    args = ap.parse_args(argv)
    if args.quick:
        args.minutes, args.long_minutes, args.repeat = 5.0, 10.0, 1
        args.loop_seconds = min(args.loop_seconds, 60.0)
        args.lossy_minutes = args.lossy_minutes or 1.0
    lossy_minutes = args.lossy_minutes or args.minutes
    scale = args.minutes / 60.0

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI runs
    mach = machine()
    load0 = load()
    from sointu.session.presets import load_session_preset

    preset = load_session_preset(args.preset)
    seed = preset.defaults.seed if args.seed is None else args.seed
    target = preset.defaults.loudness_lufs
    common = ["--seed", str(seed)]
    work = Path(tempfile.mkdtemp(prefix="sointu-bench-render-"))
    log = sys.stderr
    try:
        x, at_s = excerpt(args.preset, seed, args.minutes, args.loop_seconds, target)
        frames = int(round(args.minutes * 60 * SAMPLE_RATE))
        lossy_frames = int(round(lossy_minutes * 60 * SAMPLE_RATE))
        print(f"{args.preset} seed {seed}, {args.minutes:g} min; excerpt {len(x) / 48000:.0f} s "
              f"from {at_s / 60:.1f} min; load {load0}", file=log)

        base: dict[str, list[float]] = {}
        renders: dict[str, list[Run]] = {}
        cached: dict[str, Run] = {}

        def baseline(suffix, n_frames, repeat):
            for _ in range(repeat):
                t = encode_only(x, n_frames, suffix, work / "base")
                base.setdefault(suffix, []).append(t)
                print(f"encode-only {suffix} {n_frames / 48000 / 60:g} min: {t:.2f} s "
                      f"(load {load()})", file=log)

        def render(key, suffix, minutes, repeat, with_cached=False):
            out = work / f"out{suffix}"
            for _ in range(repeat):
                cache = Path(tempfile.mkdtemp(dir=work, prefix="cache-"))
                r = run_cli([args.preset, "--duration", f"{minutes:g}m", *common], out, cache)
                renders.setdefault(key, []).append(r)
                print(f"render {key}: wall {r.wall_s:.2f} s (cli {r.cli_s}), cpu {r.cpu_s:.1f} s"
                      f", maxrss {r.maxrss_mb:.0f} MB, tree pss {r.tree_pss_mb:.0f} MB, "
                      f"load {r.load}", file=log)
                if with_cached and key not in cached:
                    c = run_cli([args.preset, "--duration", f"{minutes:g}m", *common], out,
                                cache)
                    cached[key] = c
                    print(f"render {key} cached: wall {c.wall_s:.2f} s", file=log)
                shutil.rmtree(cache, ignore_errors=True)
            clean(out)

        # interleave baseline and render runs so that load changes hit both
        if not args.lossy_only:
            for _ in range(args.repeat):
                baseline(".flac", frames, 1)
                render("flac", ".flac", args.minutes, 1, with_cached=True)
            for _ in range(args.repeat):
                baseline(".wav", frames, 1)
                render("wav", ".wav", args.minutes, 1, with_cached=True)
            render("flac-long", ".flac", args.long_minutes, 1)
        if not args.skip_lossy:
            for suffix in (".mp3", ".opus"):
                baseline(suffix, lossy_frames, 1)
                if suffix == ".mp3":
                    t = encode_only_lame(x, lossy_frames, work / "base-lame")
                    if t is not None:
                        base["lame"] = [t]
                        print(f"encode-only direct LAME, one part, {lossy_minutes:g} min: "
                              f"{t:.2f} s (load {load()})", file=log)
                render(suffix[1:], suffix, lossy_minutes, 1, with_cached=False)

        rows = []
        ok_all = True

        def row(case, runs, base_s, target_txt, ok, note=""):
            nonlocal ok_all
            walls = [r.wall_s for r in runs]
            cli = [r.cli_s for r in runs if r.cli_s is not None]
            rows.append((case, str(len(runs)), mmm(walls), mmm(cli),
                         f"{min(r.cpu_s for r in runs):.1f}",
                         f"{max(r.maxrss_mb for r in runs):.0f} / "
                         f"{max(r.tree_pss_mb for r in runs):.0f}",
                         mmm(base_s) if base_s else "-", note, target_txt,
                         "" if ok is None else ("PASS" if ok else "FAIL")))
            if ok is False:
                ok_all = False

        if not args.lossy_only:
            f_runs, f_base = renders["flac"], base[".flac"]
            ratio = min(r.wall_s for r in f_runs) / min(f_base)
            ratio_med = (statistics.median(r.wall_s for r in f_runs) / statistics.median(f_base))
            row(f"FLAC 24, {args.minutes:g} min", f_runs, f_base,
                f"<= {FLAC_RATIO_TARGET:g}x encode-only", ratio <= FLAC_RATIO_TARGET,
                f"{ratio:.2f}x (median {ratio_med:.2f}x)")
            c = cached["flac"]
            row(f"FLAC 24, {args.minutes:g} min, cached gain", [c], f_base,
                f"<= {FLAC_RATIO_TARGET:g}x encode-only", None,
                f"{c.wall_s / min(f_base):.2f}x")
            w_runs = renders["wav"]
            wav_target = WAV_TARGET_S * scale
            row(f"WAV 24, {args.minutes:g} min", w_runs, base[".wav"], f"< {wav_target:.3g} s",
                min(r.wall_s for r in w_runs) < wav_target,
                f"{min(r.wall_s for r in w_runs) / min(base['.wav']):.2f}x encode-only")
            c = cached["wav"]
            row(f"WAV 24, {args.minutes:g} min, cached gain", [c], base[".wav"],
                f"< {wav_target:.3g} s", None, f"{c.wall_s / min(base['.wav']):.2f}x encode-only")
            mem60 = max(max(r.maxrss_mb, r.tree_pss_mb) for r in f_runs)
            long = renders["flac-long"]
            mem_long = max(max(r.maxrss_mb, r.tree_pss_mb) for r in long)
            mem_ok = (mem_long < MEMORY_TARGET_MB and mem60 < MEMORY_TARGET_MB
                      and mem_long <= mem60 + MEMORY_GROWTH_MB)
            row(f"FLAC 24, {args.long_minutes:g} min (memory)", long, None,
                f"< {MEMORY_TARGET_MB:g} MB and <= {args.minutes:g}-min + {MEMORY_GROWTH_MB:g} MB",
                mem_ok, f"{mem_long:.0f} MB vs {mem60:.0f} MB")
        if not args.skip_lossy:
            for suffix, name in ((".mp3", "MP3"), (".opus", "Opus")):
                runs, b = renders[suffix[1:]], base[suffix]
                rr = min(r.wall_s for r in runs) / min(b)
                note = f"{rr:.2f}x encode-only"
                if suffix == ".mp3" and "lame" in base:
                    one = min(base["lame"])
                    note += (f"; sointu's LAME on one core {one:.1f} s "
                             f"({min(r.wall_s for r in runs) / one:.2f}x)")
                row(f"{name} q0.7, {lossy_minutes:g} min", runs, b,
                    f"< {LOSSY_RATIO_TARGET:g}x single-threaded encode-only",
                    rr < LOSSY_RATIO_TARGET, note)

        head = ("case", "runs", "wall s (min / median)", "CLI's own s", "cpu s (tree)",
                "peak MB (max RSS / tree PSS)", "encode-only s (min / median)", "ratio",
                "target", "result")
        lines = markdown_table(head, rows)
        date = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        text = "\n".join([
            f"# Render benchmark ({date})",
            "",
            f"- machine: {mach['cpu']}, nproc {mach['nproc']}; load average at start {load0}, "
            f"at end {load()}",
            f"- Python {mach['python']}, numpy {mach['numpy']}, soundfile {mach['soundfile']}, "
            f"{mach['libsndfile']}",
            f"- `sointu render {args.preset} --duration D --seed {seed} -o OUT --force`, "
            f"stereo {SAMPLE_RATE} Hz, target {target:g} LUFS; uncached runs each with an "
            "empty SOINTU_CACHE_DIR (gain estimated, file metered); 'cached gain' re-renders with "
            "the gain from that cache",
            f"- encode-only: soundfile in one thread, {len(x) / SAMPLE_RATE:.0f} s of the "
            f"session (from {at_s / 60:.1f} min, at the target loudness) looped to the same "
            "length, blocks of 8192, the CLI's settings for the format",
            "",
            *lines,
            "",
            "wall = spawn to exit of the CLI process (Python start-up included); CLI's own s = "
            "the time the CLI reports in its summary; cpu = user + system of the process tree "
            "(wait4); max RSS = largest single process of the tree (wait4 ru_maxrss: the CLI "
            "or a forked estimating or measuring worker); tree PSS = peak of the tree's summed "
            "proportional set size, sampled every 0.2 s (shared pages of forked workers counted "
            "once). PASS/FAIL use the best (min) runs; the memory check uses the larger of the two "
            "memory figures." + (f" Targets scaled to {args.minutes:g} min."
                                 if args.minutes != 60 else ""),
            "",
        ])
        print(text)
        if not args.no_write:
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(text)
            print(f"written to {RESULTS}", file=log)
        return 0 if ok_all else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
