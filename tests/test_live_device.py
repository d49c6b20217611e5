"""``sointu play`` / ``sointu devices`` through real PortAudio onto the ALSA capture device.

Each test runs the CLI in a subprocess (PortAudio scans devices at import) with
``tests/live_support/asound.conf``; the ``sointu_capture`` PCM writes what the player gave
it to a raw float32 file, which is compared sample for sample with the source's own blocks.
That device takes audio far faster than real time, so the tests set
``SOINTU_LIVE_PREFILL_S`` to queue the whole session before the stream starts (otherwise
the producer could not keep up and the player would, correctly, report underruns).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "live_support"))

from fake_source import FakeSource  # noqa: E402
from harness import align, alsa_env, read_capture, run_sointu  # noqa: E402

from sointu.live.playback import START_FADE_S, STOP_FADE_S  # noqa: E402
from sointu.live.ramp import Ramp  # noqa: E402

SR = 48000
pytestmark = pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True,
                   ).returncode != 0,
    reason="PortAudio is not installed (apt-get install libportaudio2)")


def one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got: {text!r}"
    assert "Traceback" not in text
    return lines[0]


def fade_in_gain(frames: int, fade_s: float) -> np.ndarray:
    r = Ramp(0.0, SR)
    r.go(1.0, fade_s)
    return np.broadcast_to(r.next(frames), (frames,)).astype(np.float32)


@pytest.fixture
def capture(tmp_path):
    return tmp_path / "played.f32"


def test_plays_the_whole_session_bit_exact_and_logs_phases(capture):
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="40")
    r = run_sointu(["play", "fake", "--device", "sointu_capture", "--duration", "30s"], env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith("sointu: playing fake on 0 'sointu_capture' (48000 Hz")
    assert lines[1:4] == ["sointu: 0:00 introduction", "sointu: 0:06 relaxation",
                          "sointu: 0:24 recovery"]
    assert lines[4] == "sointu: finished: 0:30 played, 0 underruns"
    assert len(lines) == 5 and r.stdout == ""
    src = FakeSource(30.0, SR)
    ref = src.frames(0, src.total_frames)
    cap = read_capture(capture)
    off = align(cap, ref)
    assert 0 <= off <= 8192, f"{off} frames of priming"
    assert not cap[:off].any()
    played = cap[off:off + len(ref)]
    bad = np.flatnonzero(np.any(played != ref, axis=1))
    assert bad.size == 0, f"first differing frame {bad[:1]}"
    tail = cap[off + len(ref):]
    # silence after the end: at least the stream latency (35 ms here) plus 50 ms
    assert len(tail) >= int(0.05 * SR) and not tail.any()


def test_start_at_plays_the_same_span_with_a_short_fade_in(capture):
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="40")
    r = run_sointu(["play", "fake", "--device", "sointu_capture", "--duration", "30s",
                    "--start-at", "12.5s"], env)
    assert r.returncode == 0, r.stderr
    assert "from 0:12" in r.stderr.splitlines()[0]
    assert r.stderr.splitlines()[1] == "sointu: 0:12 relaxation"
    src = FakeSource(30.0, SR)
    start = int(12.5 * SR)
    full = src.frames(0, src.total_frames)  # a full render; compare the same span
    ref = full[start:]
    cap = read_capture(capture)
    off = align(cap, ref)
    played = cap[off:off + len(ref)]
    assert len(played) == len(ref)
    expected = ref * fade_in_gain(len(ref), START_FADE_S)[:, None]
    np.testing.assert_allclose(played, expected, rtol=0, atol=2e-7)
    m = int(START_FADE_S * SR)
    assert np.array_equal(played[m:], ref[m:])


def test_start_at_and_duration_read_1h30_as_one_hour_thirty_minutes(capture):
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="70")
    r = run_sointu(["play", "fake", "--device", "sointu_capture", "--duration", "1h30",
                    "--start-at", "1h29"], env)
    assert r.returncode == 0, r.stderr
    assert "1:30:00 from 1:29:00" in r.stderr.splitlines()[0]
    assert r.stderr.splitlines()[-1] == "sointu: finished: 1:30:00 played, 0 underruns"
    cap = read_capture(capture)
    assert 60 * SR <= len(cap) < 61 * SR


def test_phase_option_starts_at_the_phase(capture):
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="40")
    r = run_sointu(["play", "fake", "--device", "sointu_capture", "--duration", "30s",
                    "--phase", "Recovery"], env)
    assert r.returncode == 0, r.stderr
    src = FakeSource(30.0, SR)
    ref = src.frames(24 * SR, src.total_frames)
    cap = read_capture(capture)
    played = cap[align(cap, ref):][:len(ref)]
    m = int(START_FADE_S * SR)
    assert np.array_equal(played[m:], ref[m:])
    assert r.stderr.splitlines()[-1] == "sointu: finished: 0:30 played, 0 underruns"


def test_stop_fades_to_silence_and_exits_130(capture):
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="40", SOINTU_LIVE_STOP_AT_S="10")
    r = run_sointu(["play", "fake", "--device", "sointu_capture", "--duration", "30s"], env)
    assert r.returncode == 130, r.stderr
    assert r.stderr.splitlines()[-1] == "sointu: stopped at 0:12 of 0:30, 0 underruns"
    assert "Traceback" not in r.stderr
    cap = read_capture(capture)
    src = FakeSource(30.0, SR)
    ref = src.frames(0, src.total_frames)
    off = align(cap, ref)
    nz = np.flatnonzero(np.any(cap != 0, axis=1))
    end = nz[-1] + 1  # one past the last sound
    stop = off + 10 * SR
    fade = int(STOP_FADE_S * SR)
    assert abs(end - (stop + fade)) <= 2048, "the fade did not last about 2 s"
    rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
    late = rms(cap[end - int(0.05 * SR):end])
    before = rms(cap[end - 3 * SR:end - 3 * SR + int(0.05 * SR)])
    assert late < before * 0.03, f"last 50 ms at {late:.4g} RMS vs {before:.4g} 3 s earlier"
    # no jump at the end: the last samples are tiny and the step to silence is small
    assert np.abs(cap[end - 10:end]).max() < 1e-3
    # and before the stop everything was played exactly
    assert np.array_equal(cap[off:stop], ref[:10 * SR])
    # silence after the fade, not a cut
    assert len(cap) - end >= int(0.05 * SR)


def test_unknown_device_lists_the_devices(capture):
    r = run_sointu(["play", "fake", "--device", "no-such-speaker"], alsa_env(capture))
    assert r.returncode == 2  # a bad option (README: exit codes)
    line = one_line(r.stderr)
    assert line == ("sointu: error: no audio output device matches 'no-such-speaker'; "
                    "output devices: 0 'sointu_capture' (default)")


def test_devices_lists_the_capture_device_as_default(capture):
    r = run_sointu(["devices"], alsa_env(capture))
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split()[:2] == ["#", "name"]
    assert rows[1].split()[:5] == ["*", "0", "sointu_capture", "ALSA", "128"]


def _has_sound_card() -> bool:
    try:
        return Path("/proc/asound/cards").read_text().strip() not in ("", "--- no soundcards ---")
    except OSError:
        return False


@pytest.mark.skipif(_has_sound_card(), reason="this machine has a sound card ALSA would list")
@pytest.mark.parametrize("args", [["devices"], ["play", "fake"]])
def test_no_device_at_all_is_one_line(capture, args):
    env = alsa_env(capture, ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf")
    r = run_sointu(args, env)
    assert r.returncode == 1
    line = one_line(r.stderr)
    assert line.startswith("sointu: error: no audio output device found; install and start "
                           "an audio server")
    assert "ALSA_CONFIG_PATH" in line


@pytest.mark.parametrize("args", [["devices"], ["play", "fake"]])
def test_missing_portaudio_is_one_line(tmp_path, capture, args):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sounddevice.py").write_text('raise OSError("PortAudio library not found")\n')
    env = alsa_env(capture)
    env["PYTHONPATH"] = f"{shim}:{env['PYTHONPATH']}"
    r = run_sointu(args, env)
    assert r.returncode == 1
    line = one_line(r.stderr)
    assert "PortAudio library not found" in line
    assert "libportaudio2" in line and "apt-get install libportaudio2" in line


def test_other_commands_do_not_load_portaudio():
    code = ("import sys, sointu.cli as c; c._register(); import sointu.live.player, "
            "sointu.live.playback, sointu.live.devices; "
            "assert 'sounddevice' not in sys.modules, 'sounddevice imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_device_refusing_the_rate_is_one_line_device_error(capture):
    code = (
        "from sointu.live.devices import *\n"
        "from sointu.errors import DeviceError\n"
        "d = resolve_output_device('sointu_capture', list_output_devices())\n"
        "try:\n"
        "    check_output_settings(d, 10_000_000)\n"
        "except DeviceError as e:\n"
        "    print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=alsa_env(capture))
    assert r.returncode == 0, r.stderr
    assert one_line(r.stdout) == (
        "audio output device 0 'sointu_capture' refuses stereo float32 at 10000000 Hz "
        "(Invalid sample rate [PaErrorCode -9997]); its default rate is 44100 Hz, try "
        "--sample-rate 44100 or another --device")


def test_engine_failure_while_playing_is_one_line(capture):
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="2", SOINTU_FAKE_FAIL_AT_S="5")
    r = run_sointu(["play", "fake", "--device", "sointu_capture"], env)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == ("sointu: error: the session audio failed at 0:05: "
                                         "fake engine failure")


@pytest.mark.parametrize("args, message", [
    (["--phase", "nap"], "sointu: error: unknown phase 'nap'; phases: introduction 0:00, "
                         "relaxation 0:06, recovery 0:24"),
    (["--start-at", "30s"], "sointu: error: --start-at 30s is at or past the end of the "
                            "session (0:30); phases: introduction 0:00, relaxation 0:06, "
                            "recovery 0:24"),
    (["--start-at", "1m", "--phase", "recovery"], "sointu: error: --start-at and --phase "
                                                  "cannot be used together; give one of them"),
    (["--volume", "+7dB"], "sointu: error: volume '+7dB' is not allowed; allowed: -60 dB to "
                           "+6 dB, e.g. -6dB"),
    (["--latency", "fast"], "sointu: error: latency 'fast' is not allowed; allowed: low, "
                            "high or seconds above 0 and at most 2, e.g. 0.2"),
])
def test_bad_start_and_options_exit_2_with_one_line(capture, args, message):
    r = run_sointu(["play", "fake", "--duration", "30s", "--device", "sointu_capture", *args],
                   alsa_env(capture))
    assert r.returncode == 2
    assert one_line(r.stderr) == message


# -- the real engine (SessionAudio.from_preset) ------------------------------------------------

def _real_preset() -> str | None:
    try:
        from sointu.session.audio import SessionAudio
        from sointu.session.presets import list_session_presets
    except ImportError:
        return None
    if not hasattr(SessionAudio, "from_preset"):
        return None
    names = sorted(list_session_presets())
    return "gift-30" if "gift-30" in names else (names[0] if names else None)


REAL = _real_preset()
needs_real = pytest.mark.skipif(REAL is None, reason="SessionAudio.from_preset or session "
                                "presets not available yet")


def _render(tmp_path, start_frame=0):
    """The session rendered directly, as the CLI process would (sointu.cli pins BLAS to one
    thread before numpy loads; more BLAS threads change the last bits of the samples)."""
    out = tmp_path / f"ref{start_frame}.npy"
    code = ("import sointu.cli, sys, numpy as np\n"
            "from sointu.session.audio import SessionAudio\n"
            "from sointu.rendering.pipeline import session_gain_db\n"
            f"a = SessionAudio.from_preset({REAL!r}, duration_s=30.0, seed=1)\n"
            "a.gain_db = session_gain_db(a, a.preset.defaults.loudness_lufs)\n"
            f"np.save(sys.argv[1], np.concatenate(list(a.blocks(4096, {start_frame}))))\n"
            "print(repr([p.name for p in a.timeline.phases]))\n")
    env = dict(os.environ, SOINTU_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stderr
    return eval(r.stdout), np.load(out)


@needs_real
def test_real_session_plays_bit_exact(capture):
    names, ref = _render(capture.parent)  # also caches the loudness gain for playback
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="40")
    r = run_sointu(["play", REAL, "--device", "sointu_capture", "--duration", "30s",
                    "--seed", "1"], env, fake=False)
    assert r.returncode == 0, r.stderr
    logged = [ln.split(" ", 2)[2] for ln in r.stderr.splitlines()[1:-1]]
    assert logged == names
    assert r.stderr.splitlines()[-1] == "sointu: finished: 0:30 played, 0 underruns"
    cap = read_capture(capture)
    off = align(cap, ref)
    assert off >= 0
    played = cap[off:off + len(ref)]
    assert len(played) == len(ref)
    bad = np.flatnonzero(np.any(played != ref, axis=1))
    assert bad.size == 0, f"first differing frame {bad[:1]} of {len(ref)}"
    assert not cap[off + len(ref):].any()


@needs_real
def test_real_session_start_at_matches_the_full_render(capture):
    _, full = _render(capture.parent)
    _, direct = _render(capture.parent, 10 * SR)
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="40")
    r = run_sointu(["play", REAL, "--device", "sointu_capture", "--duration", "30s",
                    "--seed", "1", "--start-at", "10s"], env, fake=False)
    assert r.returncode == 0, r.stderr
    ref = full[10 * SR:]
    gain = fade_in_gain(len(ref), START_FADE_S)[:, None]
    cap = read_capture(capture)
    off = align(cap, direct * gain)
    played = cap[off:off + len(ref)]
    assert len(played) == len(ref)
    m = int(START_FADE_S * SR)
    # exactly what the source yields from that frame, after the fade in ...
    bad = np.flatnonzero(np.any(played[m:] != direct[m:], axis=1))
    assert bad.size == 0, f"first differing frame {bad[:1] + m}"
    # ... and the same span as the full render, to float32 rounding (the engine's seek
    # differs from rendering through by ~1e-11 at a few frames)
    np.testing.assert_allclose(played, ref * gain, rtol=0, atol=1e-9)


@needs_real
def test_first_play_starts_at_a_provisional_level_and_says_so(capture):
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="40")  # an empty gain cache
    r = run_sointu(["play", REAL, "--device", "sointu_capture", "--duration", "30s",
                    "--seed", "1"], env, fake=False)
    assert r.returncode == 0, r.stderr
    assert "level: first play of this session" in r.stderr
    names, ref = _render(capture.parent)
    cap = read_capture(capture)
    off = align(cap, ref)
    played = cap[off:off + len(ref)]
    # the file device takes 30 s in well under the measuring time, so the whole session
    # played at the provisional gain, which errs on the quiet side of the rendered level
    rms = np.sqrt(np.mean(played.astype(np.float64) ** 2))
    rms_ref = np.sqrt(np.mean(ref.astype(np.float64) ** 2))
    assert -12.0 < 20 * np.log10(rms / rms_ref) < -0.1


@needs_real
def test_raised_volume_never_passes_the_render_ceiling(capture):
    """+6 dB used to put hundreds of samples at full scale (issue 17): a peak guard holds
    every sample at the render's -2 dBFS peak limit (true peak under -1 dBTP) and leaves the
    rest of the session at exactly +6 dB."""
    from sointu.rendering.loudness import measure

    _, ref = _render(capture.parent)  # caches the gain: playback starts at the render level
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="40")
    r = run_sointu(["play", REAL, "--device", "sointu_capture", "--duration", "30s",
                    "--seed", "1", "--volume", "+6dB"], env, fake=False)
    assert r.returncode == 0, r.stderr
    assert "peaks that would pass the render's -1 dBTP ceiling are held down" in r.stderr
    g6 = np.float32(10 ** (6 / 20))
    assert np.abs(ref * g6).max() > 1.0  # the session would clip at +6 dB
    cap = read_capture(capture)
    assert len(cap) >= len(ref)
    ceiling = 10 ** (-1 / 20)
    assert int((np.abs(cap) > ceiling).sum()) == 0
    assert np.abs(cap).max() <= 10 ** (-2 / 20) * 1.0001
    assert measure([cap], SR).true_peak_dbtp <= -1.0
    off = align(cap, ref * g6)
    played = cap[off:off + len(ref)]
    same = np.all(np.abs(played - ref * g6) <= 1e-6, axis=1)
    assert same.mean() > 0.9, f"only {same.mean():.1%} of the frames untouched"


@needs_real
def test_phase_option_logs_that_phase_first(capture):
    """classic-60 at 30 s starts relaxation at 3.75000075 s, between two frames: the log
    used to name the introduction first (issue 17)."""
    from sointu.session.audio import SessionAudio

    phases = SessionAudio.from_preset("classic-60", duration_s=30.0, seed=1).timeline.phases
    assert phases[1].start_s * SR != round(phases[1].start_s * SR)
    env = alsa_env(capture, SOINTU_LIVE_PREFILL_S="40")
    r = run_sointu(["play", "classic-60", "--device", "sointu_capture", "--duration", "30s",
                    "--seed", "1", "--phase", phases[1].name], env, fake=False)
    assert r.returncode == 0, r.stderr
    logged = [ln for ln in r.stderr.splitlines() if ln.startswith("sointu: ")
              and ln.split(" ")[1][:1].isdigit()]
    assert logged[0] == f"sointu: 0:04 {phases[1].name}"
    assert [ln.split(" ")[2] for ln in logged] == [p.name for p in phases[1:]]
