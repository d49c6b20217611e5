"""Live playback in real time through a PulseAudio null sink (see tests/live_support/README.md).

Slow (over a minute) and needs the packages pulseaudio, pulseaudio-utils and
libasound2-plugins; the tests skip only when the ``pulseaudio`` program is missing.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "live_support"))

from fake_source import FakeSource  # noqa: E402
from harness import HERE, align  # noqa: E402

from sointu.live.playback import STOP_FADE_S  # noqa: E402

SR = 48000
pytestmark = [
    pytest.mark.realtime,
    pytest.mark.skipif(shutil.which("pulseaudio") is None,
                       reason="pulseaudio is not installed (apt-get install pulseaudio "
                              "pulseaudio-utils libasound2-plugins)"),
]


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    """A private PulseAudio daemon with one null sink, ``sointu_null``; killed afterwards."""
    runtime = tmp_path_factory.mktemp("pulse-runtime")
    runtime.chmod(0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), HOME=str(runtime),
               PULSE_RUNTIME_PATH=str(runtime / "pulse"))
    env.pop("PULSE_SERVER", None)
    env.pop("ALSA_CONFIG_PATH", None)
    cmd = ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "--log-target=stderr",
           "--load=module-native-protocol-unix",
           "--load=module-null-sink sink_name=sointu_null rate=48000 channels=2 "
           "format=float32le norewinds=1"]
    log = (runtime / "pulseaudio.log").open("w")
    daemon = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10.0
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            pytest.fail("pulseaudio did not start: "
                        + (runtime / "pulseaudio.log").read_text()[-500:])
        time.sleep(0.1)
    yield env
    daemon.terminate()
    try:
        daemon.wait(5)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
    log.close()


class Recorder:
    """``parec`` recording the null sink's monitor as raw float32 stereo at 48 kHz."""

    def __init__(self, env, path: Path):
        self.path = path
        self.proc = subprocess.Popen(
            ["parec", "-d", "sointu_null.monitor", "--format=float32le", "--rate=48000",
             "--channels=2", "--raw", "--latency-msec=20", str(path)], env=env)
        time.sleep(0.3)

    def stop(self) -> np.ndarray:
        time.sleep(0.3)
        self.proc.terminate()
        self.proc.wait(5)
        return np.fromfile(self.path, dtype="<f4").reshape(-1, 2)


def sointu(env, args, **kw):
    env = dict(env, PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, str(HERE / "run_fake.py"), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, **kw)


def busy_core():
    """Another process that keeps one core at 100 % (numpy work, like a second app)."""
    code = ("import numpy as np\n"
            "a = np.random.default_rng(7).standard_normal((300, 300))\n"
            "while True:\n    a = np.tanh(a @ a.T / 300.0)\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def test_sixty_seconds_in_real_time_with_a_busy_core_never_underruns(pulse, tmp_path):
    rec = Recorder(pulse, tmp_path / "sink.f32")
    hog = busy_core()
    try:
        t0 = time.monotonic()
        p = sointu(pulse, ["play", "fake", "--duration", "62s", "--device", "pulse"])
        out, err = p.communicate(timeout=120)
        wall = time.monotonic() - t0
    finally:
        hog.kill()
        hog.wait()
    cap = rec.stop()
    assert p.returncode == 0, err
    final = err.splitlines()[-1]
    print(f"\n{final} (wall {wall:.1f} s)")
    assert final == "sointu: finished: 1:02 played, 0 underruns", err
    assert 61.0 < wall < 70.0, f"62 s of audio took {wall:.1f} s: not real time"
    # what reached the sink is the session, sample for sample: nothing dropped or repeated
    src = FakeSource(62.0, SR)
    ref = src.frames(0, src.total_frames)
    off = align(cap, ref)
    played = cap[off:off + len(ref)]
    assert len(played) == len(ref), "the end of the session did not reach the sink"
    bad = np.flatnonzero(np.any(np.abs(played - ref) > 1e-6, axis=1))
    assert bad.size == 0, f"first differing frame {bad[:1]}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_fades_out_over_two_seconds_and_exits_130(pulse, tmp_path, sig):
    rec = Recorder(pulse, tmp_path / "sink.f32")
    p = sointu(pulse, ["play", "fake", "--duration", "30s", "--device", "pulse"])
    time.sleep(3.0)
    t_signal = time.monotonic()
    p.send_signal(sig)
    out, err = p.communicate(timeout=20)
    exit_s = time.monotonic() - t_signal
    cap = rec.stop()
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith("sointu: stopped at 0:0")
    assert STOP_FADE_S <= exit_s < STOP_FADE_S + 1.5
    nz = np.flatnonzero(np.any(cap != 0, axis=1))
    end = nz[-1] + 1
    start = nz[0]
    heard_s = (end - start) / SR
    # about 2 s of session before the signal (the rest of the 3 s was start-up), then the fade
    assert 1.0 + STOP_FADE_S < heard_s < 3.2 + STOP_FADE_S, heard_s
    rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
    late = rms(cap[end - int(0.05 * SR):end])
    before = rms(cap[end - 3 * SR:end - 3 * SR + int(0.05 * SR)])
    assert late < 0.03 * before, f"last 50 ms {late:.3g} RMS vs {before:.3g} 3 s earlier"
    assert np.abs(cap[end - 10:end]).max() < 2e-3, "the sound was cut, not faded"
    # the fade is smooth: the envelope over 50 ms windows never rises during the fade
    w = int(0.05 * SR)
    env = [rms(cap[i:i + w]) for i in range(end - int(STOP_FADE_S * SR), end - w, w)]
    assert all(b <= a * 1.05 for a, b in zip(env, env[1:], strict=False)), env


def test_keys_on_a_terminal_pause_next_volume_quit(pulse, tmp_path):
    rec = Recorder(pulse, tmp_path / "sink.f32")
    master, slave = pty.openpty()
    env = dict(pulse, PYTHONPATH=os.pathsep.join([str(HERE), pulse.get("PYTHONPATH", "")]))
    p = subprocess.Popen([sys.executable, str(HERE / "run_fake.py"), "play", "fake",
                          "--duration", "60s", "--device", "pulse"], env=env, stdin=slave,
                         stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    shown = b""

    def read_for(seconds):
        nonlocal shown
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    shown += os.read(master, 65536)
                except OSError:
                    return

    for key, wait in [(None, 2.5), (b" ", 1.5), (b" ", 1.5), (b"n", 1.5), (b"-", 1.0),
                      (b"q", 3.5)]:
        if key:
            os.write(master, key)
        read_for(wait)
    assert p.wait(10) == 0
    os.close(master)
    cap = rec.stop()
    text = shown.decode("utf-8", "replace")
    assert "introduction" in text and "relaxation" in text and "PAUSED" in text
    assert "vol -3 dB" in text and "[space pause" in text
    assert text.rstrip().endswith("underruns") and "stopped at 0:1" in text
    w = int(0.1 * SR)
    rms = np.array([np.sqrt(np.mean(np.square(cap[i:i + w], dtype=np.float64)))
                    for i in range(0, len(cap) - w, w)])
    sound = np.flatnonzero(rms > 1e-4)
    rms = rms[sound[0]:sound[-1] + 1]
    # the pause: at least 1 s of silence between sound, entered and left by 0.3-s fades
    quiet = rms < 1e-4
    assert quiet.sum() >= 10, "no pause heard"
    # fake levels: introduction 0.25 peak (0.177 RMS), relaxation 0.5 (0.354 RMS)
    assert abs(rms.max() - 0.354) < 0.01, "the next phase was not reached"
    # after "-": 3 dB down from the relaxation level
    after = rms[np.argmax(rms > 0.34):]
    settled = after[(after > 0.2) & (after < 0.3)]
    assert settled.size and abs(np.median(settled) / 0.354 - 10 ** (-3 / 20)) < 0.02
    # q: a smooth 2-s fade to silence at the end
    assert rms[-1] < 0.02 and np.all(np.diff(rms[-15:]) <= 0.005)
