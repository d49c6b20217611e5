"""Engine speed: one hour of stereo 48 kHz from 8 bowls of 14 modes each, synthesis only.

Targets (from the issue):

* 60 minutes, ~6 strikes a minute: synthesis (``pc.synth()`` and the block loop, no file)
  takes under 5 s on the 2-core development machine;
* the same with 10x more strikes takes at most 1.2x as long;
* a straightforward baseline (each strike's partials as numpy ``exp * cos/sin`` arrays over the
  strike's ring length, added into a stereo float32 buffer) is timed in the same run, and the
  ratio is printed.

The baseline costs per strike, so it is rendered over a shorter span (``--baseline-minutes``)
and scaled to the full length by the number of strikes; the table says so. Its output is
compared with the engine's over that span as a check that both compute the same sound (they
differ only in the engine's mallet-contact fade-in, a millisecond or two per strike).

Run ``python bench/bench_engine.py --help``. The table is printed and written to
``bench/results/engine.md`` (git-ignored).

``--threads N`` must act before numpy loads OpenBLAS, so numpy and sointu are imported inside
the functions here, after the arguments are parsed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from machine import cpu_count, cpu_model, markdown_table

SAMPLE_RATE = 48000
BLOCK_FRAMES = 8192
N_BOWLS = 8
TARGET_S = 5.0  # for 60 minutes
TARGET_DENSE_RATIO = 1.2
DENSE_FACTOR = 10
RESULTS = Path(__file__).resolve().parent / "results" / "engine.md"

# Seven partials, every one split into a doublet: 14 modes per bowl.
T60_S = [70.0, 42.0, 25.0, 15.0, 9.0, 6.0, 4.0]
GAIN_DB = [0.0, -4.0, -9.0, -14.0, -19.0, -24.0, -28.0]
MALLETS = ("soft", "medium", "hard")


# -- machine and BLAS ------------------------------------------------------------------------

def set_threads_env(threads: int | None) -> str:
    """Limit BLAS threads before numpy is imported; returns how it was done."""
    if threads is None:
        return "default"
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
        return "OPENBLAS_NUM_THREADS env var"
    return "threadpoolctl"


def apply_threadpoolctl(threads: int | None):
    """Keep a threadpoolctl limit alive for the run (None if not used)."""
    if threads is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=threads, user_api="blas")


def blas_info() -> tuple[str, str]:
    """(BLAS name and version, thread count as reported by the library)."""
    import numpy as np

    name = "unknown BLAS"
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{cfg.get('name', '?')} {cfg.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - only informative
        pass
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            return name, str(blas[0]["num_threads"])
    except ImportError:
        pass
    # without threadpoolctl: ask the OpenBLAS bundled with numpy directly
    try:
        import ctypes

        libdir = Path(np.__file__).resolve().parent.parent / "numpy.libs"
        for lib in sorted(libdir.glob("*openblas*.so*")):
            dll = ctypes.CDLL(str(lib))
            for fn in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads"):
                if hasattr(dll, fn):
                    return name, str(getattr(dll, fn)())
    except OSError:
        pass
    return name, os.environ.get("OPENBLAS_NUM_THREADS", f"default ({os.cpu_count()})")


def machine_info() -> dict[str, str]:
    cpu = cpu_model()
    nproc = cpu_count()
    import numpy as np

    return {
        "cpu": cpu,
        "nproc": str(nproc),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# -- the piece ---------------------------------------------------------------------------------

def make_bowls(seed: int):
    """Eight seeded bowls, 110-440 Hz, 7 partials, all split: 14 modes each."""
    import numpy as np

    from sointu.engine.instrument import Instrument

    rng = np.random.default_rng([seed, 1])
    fundamentals = np.geomspace(110.0, 440.0, N_BOWLS)
    bowls = []
    for i, f0 in enumerate(fundamentals):
        r2 = rng.uniform(2.65, 2.95)
        r3 = rng.uniform(4.9, 5.7)
        rest = [8.2, 11.7, 15.6, 20.0]
        ratio = [1.0, r2, r3] + [r * rng.uniform(0.97, 1.03) for r in rest]
        split = [round(float(s), 2) for s in rng.uniform(0.4, 6.0, size=7)]
        t60 = [t * rng.uniform(0.85, 1.15) for t in T60_S]
        bowls.append(Instrument.from_dict({
            "name": f"bench-bowl-{i}",
            "family": "bowl",
            "fundamental": float(f0),
            "level_db": -14.0,
            "partials": {
                "ratio": [float(r) for r in ratio],
                "gain_db": GAIN_DB,
                "t60_s": [float(t) for t in t60],
                "split_hz": split,
            },
        }, "bench"))
    return bowls


def build_piece(bowls, minutes: float, per_minute: float, seed: int):
    """Place the bowls and schedule round(per_minute * minutes) seeded strikes.

    Returns (piece, strikes, modes, seconds spent scheduling).
    """
    import numpy as np

    from sointu.engine.piece import Piece

    t0 = time.perf_counter()
    pc = Piece(SAMPLE_RATE)
    azimuths = np.linspace(-80.0, 80.0, len(bowls))
    for i, (b, az) in enumerate(zip(bowls, azimuths, strict=True)):
        pc.add_instrument(f"b{i}", b, azimuth_deg=float(az))
    rng = np.random.default_rng([seed, 2, int(per_minute * 1000)])
    n = int(round(per_minute * minutes))
    times = np.sort(rng.uniform(0.0, minutes * 60.0, size=n))
    for t in times:
        pc.strike(f"b{int(rng.integers(len(bowls)))}", float(t),
                  velocity=float(rng.uniform(0.3, 0.95)),
                  mallet=MALLETS[int(rng.integers(len(MALLETS)))],
                  position_deg=float(rng.uniform(0.0, 360.0)), rng=rng)
    modes = sum(b.modes(SAMPLE_RATE).count for b in bowls)
    return pc, n, modes, time.perf_counter() - t0


GONG = "planet-gong-earth"
WAVE_EVERY_S = 300.0  # a wave starts every 5 minutes
WAVE_STRIKES = 12  # strokes in a wave, 2-3 s apart, swelling and ebbing


def build_gong_waves(minutes: float, seed: int):
    """One shipped gong (its cloud of lines and all) struck in waves.

    Returns (piece, strikes, modes, seconds spent scheduling).
    """
    import numpy as np

    from sointu.engine.library import load_instrument
    from sointu.engine.piece import Piece

    t0 = time.perf_counter()
    gong = load_instrument(GONG)
    pc = Piece(SAMPLE_RATE)
    pc.add_instrument("gong", gong, azimuth_deg=-20.0, distance=1.5)
    rng = np.random.default_rng([seed, 3])
    n = 0
    start = 10.0
    while start < minutes * 60.0 - 60.0:
        t = start
        for k in range(WAVE_STRIKES):
            swell = np.sin(np.pi * (k + 0.5) / WAVE_STRIKES)  # quiet, loud, quiet
            pc.strike("gong", t, velocity=float(0.12 + 0.45 * swell * rng.uniform(0.8, 1.0)),
                      mallet=("soft", "medium")[int(rng.integers(2))],
                      position_deg=float(rng.uniform(0.0, 360.0)), rng=rng)
            n += 1
            t += float(rng.uniform(2.0, 3.0))
        start += WAVE_EVERY_S
    return pc, n, gong.modes(SAMPLE_RATE).count, time.perf_counter() - t0


# -- timing ------------------------------------------------------------------------------------

def time_engine(pc, frames: int, repeats: int, transients: bool = True
                ) -> tuple[list[float], list[float]]:
    """Wall and CPU time (all threads) of ``pc.synth()`` plus the block loop, ``repeats`` times.

    Every run starts without the strike transients' templates (a process keeps them from
    one render to the next): each run pays for making those it plays. ``transients=False``
    leaves out the strike transients and the room's tail (the modes only: a reference for
    what the transients cost, not a sound the product makes).
    """
    from sointu.engine.transient import transient_template

    times, cpu = [], []
    for _ in range(repeats):
        transient_template.cache_clear()
        c0, t0 = time.process_time(), time.perf_counter()
        syn = pc.synth()
        if not transients:
            syn.transients, syn.tail = [], None
        for _b in syn.blocks(BLOCK_FRAMES, 0, frames):
            pass
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu


def render_engine(pc, frames: int):
    import numpy as np

    syn = pc.synth()
    # the modes only: the baseline has no strike transients (noise, burst, room tail)
    syn.transients, syn.tail = [], None
    return np.concatenate(list(syn.blocks(BLOCK_FRAMES, 0, frames)))


def baseline(pc, bowls, frames: int):
    """The straightforward renderer: every strike's modes as exp * cos/sin arrays.

    Each strike rings for its instrument's ring length (until -60 dB, ``Instrument.ring_s``);
    each of its modes is computed as a float64 envelope times cosine and sine, mixed to the
    two channels with the mode's complex gain and added into a float32 stereo buffer.

    Returns (seconds, strikes rendered, buffer of shape (frames, 2), the first frame where a
    strike's ring was cut off at -60 dB).
    """
    import numpy as np

    syn = pc.synth()  # only for the schedule and the per-mode channel gains
    gains = syn.bank.gains  # (2, M) complex
    firsts, freq, tau, ring = {}, [], [], {}
    first = 0
    for b in bowls:
        m = b.modes(SAMPLE_RATE)
        firsts[first] = b
        ring[first] = int(np.ceil(b.ring_s * SAMPLE_RATE))
        freq.append(m.freq_hz)
        tau.append(m.tau_s)
        first += m.count
    freq = np.concatenate(freq)
    tau = np.concatenate(tau)
    imps = [i for i in syn.impulses if i.frame < frames]
    longest = max(ring.values())

    t0 = time.perf_counter()
    out = np.zeros((frames + longest, 2), dtype=np.float32)
    for imp in imps:
        n = ring[imp.first]
        t = np.arange(n) / SAMPLE_RATE
        acc = np.zeros((2, n))
        for k, a in enumerate(imp.amps):
            if a == 0:
                continue
            m = imp.first + k
            env = np.exp(-t / tau[m])
            ph = 2.0 * np.pi * freq[m] * t
            ec, es = env * np.cos(ph), env * np.sin(ph)
            for ch in range(2):
                w = gains[ch, m] * a  # Re(w e^{i ph}) = Re(w) cos - Im(w) sin
                acc[ch] += w.real * ec - w.imag * es
        out[imp.frame: imp.frame + n] += acc.T.astype(np.float32)
    cut = min((i.frame + ring[i.first] for i in imps), default=frames)
    return time.perf_counter() - t0, len(imps), out[:frames], min(cut, frames)


# -- report ------------------------------------------------------------------------------------

def fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="audio length (default 60)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 2 minutes, 1 run, 0.5 baseline minutes")
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads")
    ap.add_argument("--repeat", type=int, default=3, help="runs per engine case (default 3)")
    ap.add_argument("--baseline-minutes", type=float, default=5.0,
                    help="span the baseline renders before scaling (default 5)")
    ap.add_argument("--per-minute", type=float, default=6.0, help="strikes a minute (default 6)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    args = ap.parse_args(argv)
    if args.quick:
        args.minutes, args.repeat, args.baseline_minutes = 2.0, 1, 0.5
    args.baseline_minutes = min(args.baseline_minutes, args.minutes)

    how = set_threads_env(args.threads)
    limiter = apply_threadpoolctl(args.threads)  # noqa: F841 - keeps the limit in force
    import numpy as np

    blas, threads = blas_info()
    mach = machine_info()
    frames = int(round(args.minutes * 60 * SAMPLE_RATE))
    scale = args.minutes / 60.0
    target_s = TARGET_S * scale

    bowls = make_bowls(args.seed)
    sparse, n_sparse, modes, sched_sparse = build_piece(
        bowls, args.minutes, args.per_minute, args.seed)
    dense, n_dense, _, sched_dense = build_piece(
        bowls, args.minutes, args.per_minute * DENSE_FACTOR, args.seed)
    mode_samples = modes * frames
    print(f"{N_BOWLS} bowls, {modes} modes, {args.minutes:g} min = {frames:,} frames; "
          f"{blas}, threads {threads} ({how}); load {mach['load']}", file=sys.stderr)

    # warm up (imports, caches, BLAS thread start) on a short span
    time_engine(sparse, min(frames, 20 * BLOCK_FRAMES), 1)

    rows = []
    t_sparse, c_sparse = time_engine(sparse, frames, args.repeat)
    print(f"engine {n_sparse} strikes: wall {[round(t, 3) for t in t_sparse]} "
          f"cpu {[round(t, 3) for t in c_sparse]}", file=sys.stderr)
    t_dense, c_dense = time_engine(dense, frames, args.repeat)
    print(f"engine {n_dense} strikes: wall {[round(t, 3) for t in t_dense]} "
          f"cpu {[round(t, 3) for t in c_dense]}", file=sys.stderr)

    # the same two without strike transients: what the modes alone cost
    t_sparse_m, c_sparse_m = time_engine(sparse, frames, args.repeat, transients=False)
    t_dense_m, c_dense_m = time_engine(dense, frames, args.repeat, transients=False)
    print(f"modes only: wall {[round(t, 3) for t in t_sparse_m]} / "
          f"{[round(t, 3) for t in t_dense_m]}", file=sys.stderr)

    waves, n_waves, gong_modes, _ = build_gong_waves(args.minutes, args.seed)
    t_gong, c_gong = time_engine(waves, frames, args.repeat)
    print(f"engine, one gong in waves, {n_waves} strikes: wall {[round(t, 3) for t in t_gong]} "
          f"cpu {[round(t, 3) for t in c_gong]}", file=sys.stderr)

    b_frames = int(round(args.baseline_minutes * 60 * SAMPLE_RATE))
    t_base, n_base, buf, cut = baseline(sparse, bowls, b_frames)
    print(f"baseline {n_base} strikes over {args.baseline_minutes:g} min: {t_base:.2f} s",
          file=sys.stderr)
    ref = render_engine(sparse, b_frames)
    # outside each stroke's mallet-contact fade-in, and before the baseline first cuts a ring
    # off at -60 dB, the two must agree to float32 precision
    keep = np.zeros(b_frames, dtype=bool)
    keep[:cut] = True
    for imp in sparse.synth().impulses:
        keep[imp.frame: imp.frame + imp.ramp] = False
    diff = float(np.abs(ref - buf)[keep].max() / max(float(np.abs(ref).max()), 1e-30))
    del buf, ref, keep
    # the baseline's cost is per strike: scale by the number of strikes in the full length
    t_base_full = t_base * n_sparse / max(n_base, 1)

    def row(case, strikes, ts, cpu, target="", result="", per=mode_samples):
        lo, med = min(ts), statistics.median(ts)
        cpu_s = fmt(cpu[ts.index(lo)]) if cpu else "-"
        rows.append((case, f"{strikes:,}", str(len(ts)), fmt(lo), fmt(med), cpu_s,
                     f"{lo / per * 1e9:.3f}", f"{args.minutes * 60 / lo:,.0f}",
                     target, result))

    ok1 = min(t_sparse) < target_s
    row(f"engine, ~{args.per_minute:g}/min", n_sparse, t_sparse, c_sparse,
        f"< {target_s:.3g} s", "PASS" if ok1 else "FAIL")
    ratio_min = min(t_dense) / min(t_sparse)
    ratio_med = statistics.median(t_dense) / statistics.median(t_sparse)
    ok2 = ratio_min <= TARGET_DENSE_RATIO
    row(f"engine, ~{args.per_minute * DENSE_FACTOR:g}/min", n_dense, t_dense, c_dense,
        f"<= {TARGET_DENSE_RATIO:g}x above: {ratio_min:.2f}x (median {ratio_med:.2f}x)",
        "PASS" if ok2 else "FAIL")
    row(f"reference: engine, ~{args.per_minute:g}/min, modes only (no strike transients)",
        n_sparse, t_sparse_m, c_sparse_m, "", "")
    # what the transients add per extra stroke: the difference of the two differences
    extra = (min(t_dense) - min(t_dense_m)) - (min(t_sparse) - min(t_sparse_m))
    row(f"reference: engine, ~{args.per_minute * DENSE_FACTOR:g}/min, modes only",
        n_dense, t_dense_m, c_dense_m,
        f"{min(t_dense_m) / min(t_sparse_m):.2f}x the row above; the transients add "
        f"{extra / max(n_dense - n_sparse, 1) * 1e6:.0f} us a stroke", "")
    row(f"engine, one gong ({GONG}, {gong_modes} modes) in waves of {WAVE_STRIKES} every "
        f"{WAVE_EVERY_S / 60:g} min", n_waves, t_gong, c_gong,
        f"{min(t_gong) / min(t_sparse):.2f}x the {N_BOWLS} bowls", "",
        per=gong_modes * frames)
    row(f"baseline sin*exp, ~{args.per_minute:g}/min (*)", n_sparse, [t_base_full], [],
        f"{t_base_full / min(t_sparse):,.0f}x the engine", "")

    head = ("case", "strikes", "runs", "min s", "median s", "cpu s", "ns/mode-sample",
            "x realtime",
            "target", "result")
    lines = markdown_table(head, rows)
    date = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    text = "\n".join([
        f"# Engine benchmark ({date})",
        "",
        f"- machine: {mach['cpu']}, nproc {mach['nproc']}; load average at start "
        f"{mach['load']}, at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- Python {mach['python']}, numpy {mach['numpy']}, {blas}, "
        f"BLAS threads {threads} ({how})",
        f"- {N_BOWLS} bowls x 14 modes = {modes} modes, stereo {SAMPLE_RATE} Hz, "
        f"{args.minutes:g} min = {frames:,} frames, blocks of {BLOCK_FRAMES}, seed {args.seed}",
        "- timed: `pc.synth()` + `for b in syn.blocks(...)` (no file); strike scheduling "
        f"(not timed above) took {sched_sparse:.2f} s / {sched_dense:.2f} s",
        "",
        *lines,
        "",
        f"(*) baseline rendered {n_base} strikes over the first {args.baseline_minutes:g} min "
        f"in {t_base:.2f} s (one run), scaled to {n_sparse} strikes; each strike rings "
        f"{max(b.ring_s for b in bowls):.0f} s at most. Its cost grows with the strikes: "
        f"~{t_base_full * DENSE_FACTOR:,.0f} s for the {n_dense:,}-strike case. "
        f"Largest difference from the engine over its first {cut / SAMPLE_RATE:.0f} s (until "
        f"it first cuts a ring off), outside the engine's mallet-contact fade-ins: "
        f"{diff:.1e} of the peak.",
        f"ns/mode-sample = min time / ({modes} modes x {frames:,} frames; the gong row: "
        f"its {gong_modes} modes, silent ones skipped by the bank); cpu s = process "
        "CPU time (all threads) of the min run; PASS/FAIL use the best (min) run." + (
            f" Targets scaled to {args.minutes:g} min." if args.minutes != 60 else ""),
        "",
    ])
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
        print(f"written to {RESULTS}", file=sys.stderr)
    return 0 if ok1 and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
