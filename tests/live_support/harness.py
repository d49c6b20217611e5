"""Helpers for the live tests: run ``sointu`` in a subprocess against the ALSA capture device.

PortAudio scans devices when ``sounddevice`` is imported, so every playback runs in a fresh
process with ``ALSA_CONFIG_PATH`` naming ``asound.conf`` here (the ``sointu_capture`` PCM,
which writes what it is given to ``SOINTU_CAPTURE_FILE`` as raw float32).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

__all__ = ["HERE", "alsa_env", "run_sointu", "read_capture", "align", "first_nonzero"]

HERE = Path(__file__).resolve().parent
SYSTEM_ALSA_CONF = "/usr/share/alsa/alsa.conf"


def alsa_env(capture: Path, **extra: str) -> dict[str, str]:
    """Environment for a subprocess that sees only the capture device (and no PulseAudio)."""
    env = dict(os.environ)
    env["ALSA_CONFIG_PATH"] = f"{SYSTEM_ALSA_CONF}:{HERE / 'asound.conf'}"
    env["SOINTU_CAPTURE_FILE"] = str(capture)
    env["PULSE_SERVER"] = "unix:/nonexistent/sointu-test"  # never a running PulseAudio
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.pop("SOINTU_LIVE_STOP_AT_S", None)
    env.pop("SOINTU_LIVE_PREFILL_S", None)
    # a cache of loudness gains of this test's own: a reference render fills it, and
    # playback then starts at the rendered level
    env["SOINTU_CACHE_DIR"] = str(capture.parent / "cache")
    env.update(extra)
    return env


def run_sointu(args: list[str], env: dict[str, str], *, fake: bool = True,
               timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run ``sointu ARGS`` (with the fake engine if ``fake``), capturing text output."""
    cmd = ([sys.executable, str(HERE / "run_fake.py")] if fake
           else [sys.executable, "-m", "sointu"])
    return subprocess.run(cmd + list(args), env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def read_capture(path: Path) -> np.ndarray:
    """The captured raw interleaved float32 stereo file as (frames, 2)."""
    data = np.fromfile(path, dtype="<f4")
    assert data.size % 2 == 0, f"capture has an odd number of samples: {data.size}"
    return data.reshape(-1, 2)


def first_nonzero(x: np.ndarray) -> int:
    """Index of the first frame with a non-zero sample (-1 if none)."""
    nz = np.flatnonzero(np.any(x != 0, axis=1))
    return int(nz[0]) if nz.size else -1


def align(captured: np.ndarray, reference: np.ndarray) -> int:
    """Offset of ``reference``'s frame 0 in ``captured``, from the first non-zero frames."""
    c, r = first_nonzero(captured), first_nonzero(reference)
    assert c >= 0, "the capture is silent"
    assert r >= 0, "the reference is silent"
    return c - r
