"""First-sound latency of ``sointu play``: from starting the command to sound at the device.

The output device is the ALSA file PCM of ``tests/live_support/asound.conf``: it writes what
PortAudio gives it to a raw float32 file, which this script polls every millisecond for the
first non-zero sample. Baselines from the same run: Python start-up, importing numpy,
importing sounddevice (PortAudio's device scan) and importing the session engine.

    .venv/bin/python bench/bench_live.py [--preset gift-30] [--repeat 5]

Target: first sound under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "tests" / "live_support" / "asound.conf"


def env_for(capture: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{CONF}"
    env["SOINTU_CAPTURE_FILE"] = str(capture)
    env["PULSE_SERVER"] = "unix:/nonexistent/sointu-bench"
    return env


def time_command(code: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - t0


def first_sound(preset: str, start_at: str, env: dict[str, str], capture: Path) -> float:
    """Seconds from spawning ``sointu play`` to the first non-zero sample in the capture."""
    capture.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "sointu", "play", preset, "--device", "sointu_capture",
           "--start-at", start_at]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = 0
    try:
        while True:
            if capture.exists():
                data = capture.read_bytes()
                usable = len(data) // 4 * 4
                if usable > seen:
                    samples = np.frombuffer(data[seen:usable], dtype="<f4")
                    nz = np.flatnonzero(samples)
                    if nz.size:
                        return time.perf_counter() - t0
                    seen = usable
            if proc.poll() is not None:
                raise RuntimeError("sointu play ended without sound: "
                                   + proc.stderr.read().decode()[-300:])
            time.sleep(0.001)
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="classic-60")
    parser.add_argument("--start-at", default="5m",
                        help="where to start (somewhere with sound), default 5m")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "played.f32"
        env = env_for(capture)
        rows = [
            ("python -c pass", lambda: time_command("pass", env)),
            ("import numpy", lambda: time_command("import numpy", env)),
            ("import sounddevice (PortAudio scan)",
             lambda: time_command("import sounddevice", env)),
            ("import sointu.session.audio",
             lambda: time_command("import sointu.cli, sointu.session.audio", env)),
            (f"sointu play {args.preset} --start-at {args.start_at}: first sound",
             lambda: first_sound(args.preset, args.start_at, env, capture)),
        ]
        print(f"{'what':<58} {'median s':>9} {'min s':>7} {'max s':>7}")
        for name, fn in rows:
            times = [fn() for _ in range(args.repeat)]
            print(f"{name:<58} {statistics.median(times):9.3f} {min(times):7.3f} "
                  f"{max(times):7.3f}")
        print("target: first sound under 0.500 s")


if __name__ == "__main__":
    main()
