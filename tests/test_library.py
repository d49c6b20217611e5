"""The public library API: ``import sointu`` and its one-call functions.

Real audio throughout: files read back and metered, spectra of strokes, playback through the
ALSA capture device compared with the render sample for sample.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sointu
from sointu.errors import PresetError, SointuError, UsageError
from sointu.rendering.loudness import LoudnessMeter

ROOT = Path(__file__).resolve().parents[1]
LIVE = Path(__file__).parent / "live_support"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _python(code: str, *, env=None, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def test_import_sointu_loads_no_audio_library_and_exports_the_api():
    r = _python("import sys, sointu\n"
                "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
                "('numpy', 'scipy', 'sounddevice', 'soundfile', 'mutagen', 'click'))\n"
                "ours = sorted(m for m in sys.modules if m.startswith('sointu'))\n"
                "print(heavy, ours)\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[] ['sointu']"
    assert set(sointu.__all__) >= {"load_preset", "compose", "strike", "render", "play",
                                   "RenderResult", "__version__"}
    for name in sointu.__all__:
        assert getattr(sointu, name) is not None
    # the render pipeline's package (sointu.rendering) does not shadow the function
    from sointu import library
    from sointu.rendering import pipeline

    assert pipeline.render_session is not None
    assert sointu.render is library.render
    with pytest.raises(AttributeError):
        sointu.no_such_thing  # noqa: B018


@pytest.mark.parametrize("name, pattern", [
    ("no-such-preset", r"no-such-preset"),
    ("missing/file.toml", r"file\.toml"),
])
def test_load_preset_errors_are_one_line_sointu_errors(name, pattern):
    with pytest.raises(PresetError) as info:
        sointu.load_preset(name)
    assert isinstance(info.value, SointuError)
    message = str(info.value)
    assert "\n" not in message and re.search(pattern, message)


def test_load_preset_of_a_broken_file_names_file_and_key(tmp_path):
    source = (ROOT / "presets" / "sessions" / "classic-60.toml").read_text()
    broken = tmp_path / "mine.toml"
    broken.write_text(re.sub(r"(?m)^loudness_lufs\s*=.*$", "loudness_lufs = 5", source, count=1))
    assert broken.read_text() != source
    with pytest.raises(PresetError) as info:
        sointu.load_preset(broken)
    message = str(info.value)
    assert "\n" not in message and "mine.toml" in message and "loudness_lufs" in message
    # a good copy in a folder is found by name
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "my-session.toml").write_text(source)
    preset = sointu.load_preset("my-session", folder=tmp_path / "good")
    assert preset.name == "my-session"


def test_compose_is_deterministic_and_takes_text_durations():
    a = sointu.compose("classic-60", duration="20m", seed=3)
    b = sointu.compose(sointu.load_preset("classic-60"), duration=1200, seed=3)
    assert a == b
    assert a.duration_s == 1200.0 and a.seed == 3
    assert [p.name for p in a.phases] == ["introduction", "relaxation", "recovery"]
    assert a.phases[0].start_s == 0.0 and a.phases[-1].end_s == 1200.0
    assert len(a.events) > 20
    c = sointu.compose("classic-60", duration="20m", seed=4)
    assert [e.time_s for e in c.events] != [e.time_s for e in a.events]
    with pytest.raises(UsageError) as info:
        sointu.compose("classic-60", duration="20 minutes please")
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError):
        sointu.compose("classic-60", seed=-1)


def test_strike_is_a_stereo_stroke_at_the_instruments_partials():
    from sointu.engine.library import load_instrument

    x = sointu.strike("universal", seconds=4.0, seed=0, sample_rate=48000)
    assert x.shape == (4 * 48000, 2) and x.dtype == np.float32
    assert np.array_equal(x, sointu.strike("universal", seconds=4.0, seed=0))
    assert not np.array_equal(x, sointu.strike("universal", seconds=4.0, seed=1))
    assert not x[:int(0.05 * 48000) - 1].any()  # the lead-in is silent
    assert np.abs(x).max() < 1.0 and np.abs(x[-10:]).max() < 1e-4  # ends faded
    inst = load_instrument("universal")
    partials = inst.fundamental_hz * np.asarray(inst.ratio)
    mono = x[:, 0].astype(np.float64) + x[:, 1]
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    hz = np.fft.rfftfreq(len(mono), 1 / 48000)
    peaks = [i for i in np.argsort(spectrum)[::-1] if 20 < hz[i] < 12000]
    strongest = []
    for i in peaks:  # the three strongest separate peaks
        if all(abs(hz[i] - f) > 10 for f in strongest):
            strongest.append(hz[i])
        if len(strongest) == 3:
            break
    for f in strongest:
        assert np.min(np.abs(partials - f) / partials) < 0.01, (f, partials)
    with pytest.raises(UsageError):
        sointu.strike("universal", velocity=2.0)
    with pytest.raises(UsageError):
        sointu.strike("universal", mallet="wooden")


def test_render_writes_a_file_whose_loudness_is_the_results(tmp_path, cache):
    seen = []
    result = sointu.render("gift-30", tmp_path / "a.flac", duration="30s", seed=2,
                           tags={"title": "For Maija"}, progress=seen.append)
    assert isinstance(result, sointu.RenderResult)
    x, rate = sf.read(tmp_path / "a.flac", dtype="float64")
    assert result.path == tmp_path / "a.flac" and result.bytes == result.path.stat().st_size
    assert rate == result.sample_rate == 48000
    assert len(x) == result.frames == 30 * 48000 and result.length_s == 30.0
    meter = LoudnessMeter(rate)
    meter.process(x)
    assert meter.integrated_lufs() == pytest.approx(result.loudness_lufs, abs=0.01)
    assert meter.true_peak_dbtp() == pytest.approx(result.true_peak_dbtp, abs=0.05)
    assert abs(result.loudness_lufs - result.target_lufs) <= 0.15
    assert result.true_peak_dbtp <= -1.0
    assert result.seed == 2
    assert [p.name for p in result.phases] == [
        p.name for p in sointu.compose("gift-30", duration=30, seed=2).phases]
    assert seen and seen[-1] == result.frames
    assert sf.info(str(result.path)).extra_info is not None
    import mutagen

    assert mutagen.File(result.path)["title"] == ["For Maija"]
    # an existing file is kept (one line) unless force
    with pytest.raises(SointuError) as info:
        sointu.render("gift-30", tmp_path / "a.flac", duration="30s", seed=2)
    assert "\n" not in str(info.value)
    assert np.array_equal(sf.read(tmp_path / "a.flac", dtype="float64")[0], x)


def test_the_command_renders_what_the_library_renders(tmp_path, cache):
    result = sointu.render("workplace-25", tmp_path / "lib.wav", duration=20, seed=4)
    r = subprocess.run([sys.executable, "-m", "sointu", "render", "workplace-25",
                        "--duration", "20s", "--seed", "4", "-o", str(tmp_path / "cli.wav")],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, SOINTU_CACHE_DIR=str(tmp_path / "other-cache")))
    assert r.returncode == 0, r.stderr
    lib = sf.read(tmp_path / "lib.wav", dtype="int32")[0]
    cli = sf.read(tmp_path / "cli.wav", dtype="int32")[0]
    assert len(lib) == result.frames and np.array_equal(lib, cli)


def _readme_script() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use it from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_script_renders_three_seeds(tmp_path):
    script = _readme_script()
    assert len(script.strip().splitlines()) <= 12
    assert script.count('duration="60m"') == 1
    short = script.replace('duration="60m"', 'duration="30s"')
    env = dict(os.environ, SOINTU_CACHE_DIR=str(tmp_path / "cache"))
    r = _python(short, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for seed in (1, 2, 3):
        path = tmp_path / f"classic-60_seed{seed}.flac"
        x, rate = sf.read(path)
        assert len(x) == 30 * rate
        assert re.search(rf"(?m)^{path.name}: 0\.5 min, -1[0-9]\.\d LUFS, true peak -\d", r.stdout)
    assert r.stdout.count("introduction") == 3


def test_play_through_the_capture_device_equals_the_render(tmp_path):
    pytest.importorskip("sounddevice")
    sys.path.insert(0, str(LIVE))
    from harness import align, alsa_env, read_capture

    capture = tmp_path / "played.f32"
    env = alsa_env(capture)
    code = ("import sointu\n"
            "r = sointu.render('gift-30', 'ref.wav', duration='20s', seed=1, "
            "bit_depth='32f')\n"
            "lines = []\n"
            "p = sointu.play('gift-30', device='sointu_capture', duration=20, seed=1, "
            "log=lines.append, prime_s=30, queue_s=31)\n"
            "print(p.outcome, p.position_s, p.length_s, p.underruns)\n"
            "print('|'.join(lines))\n")
    r = _python(code, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    outcome, logged = r.stdout.splitlines()
    assert outcome == "end 20.0 20.0 0"
    assert "level: first play" not in logged  # the render cached the level
    ref = sf.read(tmp_path / "ref.wav", dtype="float32")[0]
    cap = read_capture(capture)
    off = align(cap, ref)
    assert off >= 0
    played = cap[off:off + len(ref)]
    assert len(played) == len(ref)
    bad = np.flatnonzero(np.any(played != ref, axis=1))
    assert bad.size == 0, f"first differing frame {bad[:1]} of {len(ref)}"
    assert not cap[off + len(ref):].any()


@pytest.mark.parametrize("kwargs, words", [
    ({"volume_db": 9.0}, "volume 9.0 dB"),
    ({"volume_db": "-6dB"}, "volume '-6dB'"),
    ({"start_at": "1m", "phase": "relaxation"}, "cannot be used together"),
    ({"start_at": "soon"}, "'soon'"),
    ({"latency": "fast"}, "latency 'fast'"),
])
def test_play_refuses_bad_values_in_one_line_before_opening_a_device(kwargs, words):
    with pytest.raises(UsageError) as info:
        sointu.play("classic-60", **kwargs)
    assert "\n" not in str(info.value) and words in str(info.value)
