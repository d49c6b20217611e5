"""A session render with a long recording on its timeline, against the same render without.

Targets (issue 11): a 60-minute render of ``classic-60`` with a 30-minute recording (44.1 kHz
stereo FLAC, so it is resampled) peaks under 200 MB, and "stays within 1.25x of the bare FLAC
encode". Both readings are printed: the time against the bare render's (itself measured
against libsndfile encoding alone by bench_render.py), and against libsndfile alone encoding
the with-recording render's own audio (a speech makes a larger FLAC, 375 MB instead of 197,
and the encoder takes longer over it): the file it wrote, decoded to memory (float32, exact
for 24 bits), encoded again in blocks of 8192 frames in one thread with the settings the
CLI uses (``resolve_format``), as bench_render.py's baseline does.

What it runs: the real CLI as a subprocess, ``sointu render PRESET -o OUT.flac --force``, each
with an empty ``SOINTU_CACHE_DIR`` (so the recording is measured and the gain estimated),
for the bare preset and for a copy of it with a ``[[recordings]]`` table placing the
recording 60 s into the relaxation. Peak memory is the largest resident set of the process
tree (``wait4``). The recording is generated once (the shipped welcome, resampled to
44.1 kHz and repeated with 5 s pauses and a faint noise floor) into a temporary folder.

It also times libsndfile decoding the recording alone: the least a render must do before
its first sample, since the gain depends on the recording's loudness. Where the render's
own time goes, phase by phase: ``bench/render_timeline.py``.

Run: ``python bench/bench_recordings.py [--minutes 30] [--repeat 1]``; the shell equivalent
that produced the figures in the report: ``/usr/bin/time -v sointu render big.toml -o
big.flac --force``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SOINTU = Path(sys.executable).with_name("sointu")


def make_recording(path: Path, minutes: float) -> None:
    from scipy.signal import resample_poly

    x, _ = sf.read(ROOT / "samples" / "tervetuloa-fi.flac")
    y = resample_poly(x, 2, 1)  # 22.05 -> 44.1 kHz
    rate = 44100
    n = int(minutes * 60 * rate)
    rng = np.random.default_rng(1)
    with sf.SoundFile(path, "w", rate, 2, subtype="PCM_16") as f:
        pos = 0
        while pos < n:
            seg = np.zeros((len(y) + 5 * rate, 2))
            seg[: len(y), 0] = y
            seg[: len(y), 1] = 0.8 * y
            seg += 1e-4 * rng.standard_normal(seg.shape)
            seg = seg[: n - pos]
            f.write(seg)
            pos += len(seg)


def run(args: list[str], cache: Path) -> tuple[float, float, float]:
    """Wall time (s), peak RSS of the process tree (MB) and CPU time (user + system, s, the
    process and the children it waited for) of one CLI run."""
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, SOINTU_CACHE_DIR=str(cache))
    t0 = time.monotonic()
    proc = subprocess.Popen([str(SOINTU), *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"sointu {' '.join(args)} failed: {proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def encode_only(path: Path, out: Path) -> float:
    """Seconds libsndfile needs, in one thread, to encode the audio of ``path`` (a FLAC the
    CLI wrote, already on the 24-bit grid) again, as bench_render.py's baseline does."""
    from bench_render import encode_only as encode_looped

    x, _ = sf.read(path, dtype="float32")  # the 24-bit grid, exactly
    return encode_looped(x, len(x), out.suffix, out)


def decode_only(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds libsndfile needs, in one thread, to decode ``path`` to float32
    in blocks of 2^17 frames (what measuring a recording must do at least once)."""
    t0, c0 = time.perf_counter(), time.process_time()
    with sf.SoundFile(path) as f:
        while len(f.read(1 << 17, dtype="float32", always_2d=True)):
            pass
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="length of the recording")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sointu-bench-rec-") as tmp:
        tmp = Path(tmp)
        make_recording(tmp / "long.flac", a.minutes)
        preset = (ROOT / "presets" / "sessions" / "classic-60.toml").read_text("utf-8")
        (tmp / "with.toml").write_text(preset + """
[[recordings]]
file = "long.flac"
phase = "relaxation"
at_s = 60
kind = "sound"
loudness_lu = -6
""", "utf-8")
        rows = {"bare": [], "with recording": []}
        for _ in range(a.repeat):
            rows["bare"].append(run(["render", "classic-60", "-o", str(tmp / "bare.flac"),
                                     "--force"], tmp / "cache"))
            rows["with recording"].append(run(["render", str(tmp / "with.toml"), "-o",
                                               str(tmp / "with.flac"), "--force"], tmp / "cache"))
        encode = [encode_only(tmp / "with.flac", tmp / "again.flac") for _ in range(a.repeat)]
        decode = min(decode_only(tmp / "long.flac") for _ in range(a.repeat))
        load = os.getloadavg()
        print(f"classic-60, 60 min, 24-bit FLAC; recording {a.minutes:g} min 44.1 kHz stereo "
              f"FLAC; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        best = {k: min(v) for k, v in rows.items()}
        cpu = {k: min(r[2] for r in v) for k, v in rows.items()}
        for k, (wall, rss, _) in best.items():
            print(f"  {k:<16} {wall:7.1f} s  peak {rss:6.0f} MB  CPU {cpu[k]:6.1f} s")
        print(f"  {'encode only':<16} {min(encode):7.1f} s  (libsndfile, one thread, the "
              "with-recording render's audio)")
        print(f"  {'decode only':<16} {decode[0]:7.2f} s  CPU {decode[1]:.2f} s (libsndfile, "
              "one thread, the recording to float32)")
        ratio = best["with recording"][0] / best["bare"][0]
        to_encode = best["with recording"][0] / min(encode)
        mem = best["with recording"][1]
        print(f"  time ratio to the bare render {ratio:.2f} (target <= 1.25: "
              f"{'PASS' if ratio <= 1.25 else 'FAIL'}); to encoding alone {to_encode:.2f} "
              f"(target <= 1.25: {'PASS' if to_encode <= 1.25 else 'FAIL'})")
        print(f"  CPU ratio {cpu['with recording'] / cpu['bare']:.2f}"
              f"; peak {mem:.0f} MB (target < 200: {'PASS' if mem < 200 else 'FAIL'})")


if __name__ == "__main__":
    main()
