"""Recordings on the session timeline: reading and resampling in blocks, placing by phase,
room for speech, measured levels, the gain estimate, ``--voice-intro``, live = render.

Signals are measured (frequencies, levels, sample equality, files on disk), never assumed.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sointu.errors import PresetError
from sointu.rendering.recordings import calibrate, recording_sums
from sointu.session.audio import SessionAudio
from sointu.session.composer import compose
from sointu.session.presets import load_session_preset
from sointu.session.recordings import Reader, voice_intro
from sointu.shipped import folder

SOINTU = Path(sys.executable).with_name("sointu")
SR = 48000
WELCOME = folder("samples") / "tervetuloa-fi.flac"
PRESET = "tervetuloa-20"


def sointu(*args, cwd=None, env=None, check=True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(SOINTU), *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, env=env or dict(os.environ), timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"sointu {' '.join(map(str, args))}: {r.stderr}")
    return r


def one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def tone_file(path: Path, rate: int, seconds: float, freqs=(1000.0,), level=0.25,
              subtype="PCM_24") -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = np.stack([level * np.sin(2 * np.pi * f * t) for f in freqs], axis=1)
    sf.write(path, x, rate, subtype=subtype)
    return x


# -- reading in blocks -----------------------------------------------------------------------

@pytest.mark.parametrize("rate, channels", [(22050, 1), (44100, 2), (96000, 1), (48000, 2)])
def test_reader_resamples_exactly_wherever_reading_starts(tmp_path, rate, channels):
    """Frame k is the same value whatever range is read; the tone keeps its frequency and level;
    the length is the input's at the session rate."""
    freqs = (1000.0, 1500.0)[:channels]
    path = tmp_path / "tone.flac"
    tone_file(path, rate, 2.0, freqs)
    r = Reader(path, SR)
    assert r.frames == math.ceil(int(2.0 * rate) * SR / rate)
    whole = r.read(0, r.frames)
    for starts in ([0, 1, 4097, 40000, 70001], [123, 65536, 65537, 90000]):
        parts = [Reader(path, SR).read(a, b)
                 for a, b in zip(starts, starts[1:] + [r.frames], strict=True)]
        got = np.concatenate(parts)
        assert np.array_equal(got, whole[starts[0]:]), "depends on where reading started"
    one = Reader(path, SR)  # one reader, back and forth (its kept frames, then a seek)
    for a, b in ((70001, r.frames), (0, 70001), (65000, 66000), (123, 90000)):
        assert np.array_equal(one.read(a, b), whole[a:b]), f"frames {a}..{b} read after others"
    mid = whole[int(0.5 * SR): int(1.5 * SR)]
    for ch, f in enumerate(freqs if channels == 2 else freqs * 2):
        spec = np.abs(np.fft.rfft(mid[:, ch] * np.hanning(len(mid)), 8 * len(mid)))
        peak = np.argmax(spec) * SR / (8 * len(mid))
        assert abs(peak - f) < 0.2, f"channel {ch}: {peak:.2f} Hz, not {f}"
        rms_db = 20 * np.log10(np.sqrt(np.mean(mid[:, ch] ** 2)) / (0.25 / np.sqrt(2)))
        assert abs(rms_db) < 0.05, f"level changed by {rms_db:.3f} dB"
    assert not r.read(r.frames, r.frames + 100).any()  # past the end: silence


def test_reader_of_a_bad_file_is_one_clear_error(tmp_path):
    from sointu.errors import UsageError

    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"fLaC" + bytes(100))
    with pytest.raises(UsageError, match="not a readable audio file"):
        Reader(bad, SR)


# -- placing, and room for speech ------------------------------------------------------------

def _preset(tmp_path: Path, recordings: str, *, copy_sample: bool = True) -> Path:
    text = (Path(load_session_preset(PRESET).path).read_text(encoding="utf-8")
            .split("# the welcome")[0])
    if copy_sample:
        (tmp_path / "mine.flac").write_bytes(WELCOME.read_bytes())
    p = tmp_path / "mine.toml"
    p.write_text(text + recordings, encoding="utf-8")
    return p


def test_preset_places_by_phase_offset_and_repeats(tmp_path):
    p = _preset(tmp_path, """
[[recordings]]
file = "mine.flac"
phase = "relaxation"
at_s = 30
every_s = 120

[[recordings]]
file = "paluu-fi.flac"
phase = "recovery"
at_s = -40
kind = "sound"
""")
    audio = SessionAudio.from_preset(load_session_preset(p))
    phases = {ph.name: ph for ph in audio.timeline.phases}
    relax, rec = phases["relaxation"], phases["recovery"]
    starts = [pl.start / SR for pl in audio.recordings if pl.spec.file == "mine.flac"]
    expected = list(np.arange(relax.start_s + 30, relax.end_s - 9.5, 120.0))
    assert len(starts) == len(expected) >= 5
    np.testing.assert_allclose(starts, expected, atol=1 / SR)
    # found beside the preset first: the copy in tmp_path, not the shipped one
    assert audio.recordings[0].reader.path == tmp_path / "mine.flac"
    (last,) = [pl for pl in audio.recordings if pl.spec.file == "paluu-fi.flac"]
    assert abs(last.start / SR - (rec.end_s - 40)) < 1 / SR
    assert last.reader.path == folder("samples") / "paluu-fi.flac"  # shipped, found third


def test_no_stroke_starts_while_someone_speaks_and_the_rest_is_kept(tmp_path):
    preset = load_session_preset(PRESET)
    plain = compose(preset)
    audio = SessionAudio.from_preset(preset)
    spans = [(pl.start / SR, pl.stop / SR + pl.spec.margin_s) for pl in audio.recordings]
    assert len(spans) == 2
    kept = set(audio.timeline.events)
    for ev in plain.events:
        inside = any(a <= ev.time_s < b for a, b in spans)
        assert (ev in kept) != inside, f"{ev.time_s:.1f} s {'kept' if inside else 'dropped'}"
    assert any(any(a <= ev.time_s < b for a, b in spans) for ev in plain.events), (
        "the test needs a stroke that the speech displaces")
    assert audio.timeline.duration_s == plain.duration_s  # the total length holds


def test_duck_keeps_strokes_softer(tmp_path):
    p = _preset(tmp_path, """
[[recordings]]
file = "mine.flac"
phase = "relaxation"
at_s = 0
every_s = 40
strokes = "duck"
duck_db = -12
""")
    preset = load_session_preset(p)
    plain = {(e.time_s, e.instrument): e for e in compose(preset).events}
    audio = SessionAudio.from_preset(preset)
    assert len(audio.timeline.events) == len(plain)
    spans = [(pl.start / SR, pl.stop / SR + 1.5) for pl in audio.recordings]
    ducked = 0
    for e in audio.timeline.events:
        before = plain[(e.time_s, e.instrument)]
        if any(a <= e.time_s < b for a, b in spans):
            assert e.velocity == pytest.approx(before.velocity * 10 ** (-12 / 30))
            ducked += 1
        else:
            assert e == before
    assert ducked >= 3


@pytest.mark.parametrize("extra, says", [
    ('file = "nowhere.flac"\nphase = "arrival"\n', "sample 'nowhere.flac' not found; tried"),
    ('file = "mine.flac"\nphase = "lunch"\n', "'lunch' is not a phase of this preset"),
    ('file = "mine.flac"\nphase = "arrival"\nvolume = 3\n', "unknown key"),
])
def test_bad_recording_keys_name_file_line_and_key(tmp_path, extra, says, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ./samples is then not the shipped folder
    p = _preset(tmp_path, "\n[[recordings]]\n" + extra)
    with pytest.raises(PresetError) as exc:
        load_session_preset(p)
    msg = str(exc.value)
    assert says in msg and f"{p}:" in msg and "recordings[0]" in msg, msg
    if "not found" in says:  # every place looked in, in order
        tried = msg.split("; tried ")[1].split(", ")
        assert tried == [str(tmp_path / "nowhere.flac"), str(tmp_path / "samples/nowhere.flac"),
                         str(folder("samples") / "nowhere.flac")]


def test_recording_longer_than_its_phase_is_refused_unless_trimmed(tmp_path):
    rec = '\n[[recordings]]\nfile = "mine.flac"\nphase = "arrival"\nat_s = -5\n'
    p = _preset(tmp_path, rec)
    with pytest.raises(PresetError, match=r"is 9\.4 s long .* it would run 4\.4 s past the "
                                          r"phase.*trim = true"):
        SessionAudio.from_preset(load_session_preset(p))
    p = _preset(tmp_path, rec + "trim = true\n")
    audio = SessionAudio.from_preset(load_session_preset(p))
    (pl,) = audio.recordings
    arrival = audio.timeline.phases[0]
    assert pl.stop == int(round(arrival.end_s * SR)) or abs(pl.stop / SR - arrival.end_s) < 1e-3


# -- levels and the gain estimate ------------------------------------------------------------

def _measured(audio, target):
    from sointu.rendering.level import resolve_level

    return resolve_level(audio, target)


@pytest.mark.parametrize("loudness_lu", [0.0, 6.0])
def test_speech_level_is_measured_and_enters_the_gain_estimate(tmp_path, loudness_lu,
                                                                monkeypatch):
    """The estimate (modes + recordings' measured energy) predicts the gain a full
    measurement finds; the speech sounds loudness_lu above the bowls; a loud speech moves
    the gain by decibels, so a missing share would show."""
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    from sointu.rendering.estimate import estimate_gain_db, estimate_meter
    from sointu.rendering.loudness import LoudnessMeter

    p = _preset(tmp_path, f"""
[[recordings]]
file = "mine.flac"
phase = "relaxation"
at_s = 10
every_s = 30
loudness_lu = {loudness_lu}
""")
    audio = SessionAudio.from_preset(load_session_preset(p), duration_s=240.0)
    calibrate(audio)
    target = -18.0
    est = estimate_gain_db(audio, target)
    level = _measured(audio, target)
    assert abs(level.loudness.integrated_lufs - target) < 0.2
    assert abs(est - level.gain_db) < 0.3, f"estimate {est:.2f} dB, measured {level.gain_db:.2f}"
    without = audio.recordings
    audio.recordings = []
    bare = estimate_gain_db(audio, target)
    audio.recordings = without
    if loudness_lu > 0:
        assert bare - est > 2.0, "the speech's share does not show in the estimate"
    # the speech alone and the bowls alone, both at the session's gain: loudness_lu apart
    m = LoudnessMeter(SR, 2)
    pl = audio.recordings[0]
    x = pl.reader.read(0, pl.frames)
    m.process(x * 10 ** ((pl.gain_db + level.gain_db) / 20))
    audio.recordings = []
    audio.gain_db = level.gain_db
    bowls = estimate_meter(audio).integrated_lufs()
    audio.recordings = without
    assert abs(m.integrated_lufs() - bowls - loudness_lu) < 0.5
    assert np.all(recording_sums(audio) >= 0)


def test_bowls_energy_is_computed_once_for_levels_and_gain(tmp_path, monkeypatch):
    """calibrate and the gain estimate share the modal energy of one session (it is kept on
    the session for its synthesis); a session with another synthesis computes its own."""
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    from sointu.rendering import estimate

    calls = []
    real = estimate._modal_sums_of
    monkeypatch.setattr(estimate, "_modal_sums_of", lambda a: calls.append(a) or real(a))
    audio = SessionAudio.from_preset(PRESET, duration_s=120.0)
    calibrate(audio)
    g = estimate.estimate_gain_db(audio, -18.0)
    assert len(calls) == 1
    other = SessionAudio.from_preset(PRESET, duration_s=120.0, seed=2)
    estimate.estimate_gain_db(other, -18.0)
    assert len(calls) == 2
    audio._modal_memo = None  # computed afresh: the same gain
    assert estimate.estimate_gain_db(audio, -18.0) == g and len(calls) == 3


# -- the commands ----------------------------------------------------------------------------

def test_shipped_preset_renders_with_its_speech_on_target(tmp_path):
    pyloudnorm = pytest.importorskip("pyloudnorm")
    out = tmp_path / "t.flac"
    env = dict(os.environ, SOINTU_CACHE_DIR=str(tmp_path / "cache"))
    sointu("render", PRESET, "--duration", "4m", "-o", out, env=env)
    x, rate = sf.read(out)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(x)
    assert abs(lufs - (-18.0)) < 0.5
    audio = SessionAudio.from_preset(PRESET, duration_s=240.0)
    pl = audio.recordings[0]
    speech = x[pl.start: pl.stop]
    before = x[: pl.start]
    assert not before.any()  # nothing before the welcome starts at 2 s
    # the voice is there: its loudness near the session's (0 LU; bowls ring under it later)
    assert abs(pyloudnorm.Meter(rate).integrated_loudness(speech) - lufs) < 2.0


def test_voice_intro_in_render_and_gift(tmp_path):
    """--voice-intro: the welcome 2 s into the session (an OGG at 22.05 kHz here), no stroke
    starting while it speaks, and louder than the same render without it; gift too."""
    env = dict(os.environ, SOINTU_CACHE_DIR=str(tmp_path / "cache"))
    voice = tmp_path / "hei.ogg"
    x, rate = sf.read(WELCOME)
    sf.write(voice, x, rate)
    audio = SessionAudio.from_preset("workplace-25", duration_s=180.0,
                                     recordings=(voice_intro(voice),))
    (pl,) = audio.recordings
    assert pl.start == 2 * SR
    assert not [e for e in audio.timeline.events if 2.0 <= e.time_s < pl.stop / SR + 1.5]
    speech = Reader(voice, SR).read(0, pl.frames)[:, 0].astype(np.float64)

    def share(path: Path) -> float:
        """Share of the window's energy that is the welcome (least squares)."""
        y = sf.read(path)[0][pl.start: pl.stop].mean(axis=1)
        a = float(y @ speech / (speech @ speech))
        return float(np.sum((a * speech) ** 2) / np.sum(y**2))

    got = {}
    for name, extra in (("with", ["--voice-intro", voice]), ("without", [])):
        out = tmp_path / f"{name}.flac"
        sointu("render", "workplace-25", "--duration", "3m", *extra, "-o", out, env=env)
        got[name] = share(out)
    gift = tmp_path / "g.flac"
    sointu("gift", "workplace-25", "--for", "Maija", "--duration", "3m", "--voice-intro",
           voice, "-o", gift, env=env)
    got["gift"] = share(gift)
    assert got["with"] > 0.5 and got["gift"] > 0.5 and got["without"] < 0.01, got


@pytest.mark.parametrize("what", ["missing", "corrupt"])
def test_bad_voice_intro_is_one_line_and_nothing_written(tmp_path, what):
    voice = tmp_path / "v.flac"
    if what == "corrupt":
        voice.write_bytes(b"fLaC" + bytes(64))
    out = tmp_path / "r.flac"
    line = one_line_error(sointu("render", "workplace-25", "--duration", "3m", "--voice-intro",
                                 voice, "-o", out, check=False))
    assert str(voice) in line
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ([voice.name] if voice.exists() else [])


def test_blocks_equal_wherever_playback_starts():
    """The one block generator of render and live: any start frame, mid-speech too, and any
    block size give the same samples."""
    audio = SessionAudio.from_preset(PRESET, duration_s=120.0)
    calibrate(audio)
    pl = audio.recordings[0]
    full = np.concatenate(list(audio.blocks(4096, 0)))
    for start, block in ((pl.start + 12345, 1000), (pl.start + 3 * SR + 7, 8192),
                         (pl.stop - 5, 333)):
        got = np.concatenate(list(audio.blocks(block, start)))
        bad = np.flatnonzero(np.any(got != full[start:], axis=1))
        assert bad.size == 0, f"start {start}: first differing frame {bad[:1] + start}"
    speech = full[pl.start: pl.stop]
    assert np.sqrt(np.mean(speech**2)) > 10 * np.sqrt(np.mean(full[: pl.start] ** 2) + 1e-20)


# -- live playback equals the render ---------------------------------------------------------

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "live_support"))


def _has_portaudio() -> bool:
    r = subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not _has_portaudio(), reason="PortAudio not installed")
@pytest.mark.parametrize("start_s", [0.0, 5.0])
def test_live_plays_the_render_with_its_speech(tmp_path, start_s):
    from harness import align, alsa_env, read_capture, run_sointu

    from sointu.live.playback import START_FADE_S
    from sointu.live.ramp import Ramp

    capture = tmp_path / "played.f32"
    ref_file = tmp_path / "ref.npy"
    code = ("import sointu.cli, sys, numpy as np\n"
            "from sointu.session.audio import SessionAudio\n"
            "from sointu.rendering.recordings import calibrate\n"
            "from sointu.rendering.pipeline import session_gain_db\n"
            f"a = SessionAudio.from_preset({PRESET!r}, duration_s=120.0)\n"
            "calibrate(a)\n"
            "a.gain_db = session_gain_db(a, a.preset.defaults.loudness_lufs)\n"
            "np.save(sys.argv[1], np.concatenate(list(a.blocks(4096, 0))))\n")
    env = dict(os.environ, SOINTU_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", code, str(ref_file)], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    full = np.load(ref_file)
    args = ["play", PRESET, "--device", "sointu_capture", "--duration", "2m"]
    if start_s:
        args += ["--start-at", f"{start_s:g}s"]
    r = run_sointu(args, alsa_env(capture, SOINTU_LIVE_PREFILL_S="200"), fake=False,
                   timeout=300)
    assert r.returncode == 0, r.stderr
    ref = full[int(start_s * SR):]
    cap = read_capture(capture)
    m = int(START_FADE_S * SR) if start_s else 0
    fade = Ramp(0.0 if start_s else 1.0, SR)
    fade.go(1.0, START_FADE_S)
    off = align(cap, ref * np.broadcast_to(fade.next(len(ref)), (len(ref),))[:, None])
    played = cap[off: off + len(ref)]
    assert len(played) == len(ref)
    bad = np.flatnonzero(np.any(played[m:] != ref[m:], axis=1))
    assert bad.size == 0, f"first differing frame {bad[:1] + m}"


def test_fades_and_pan_shape_the_recording(tmp_path):
    """A constant recording comes out as raised-cosine fades and a constant-power pan."""
    from sointu.session.recordings import Placed, RecordingSpec

    path = tmp_path / "dc.wav"
    sf.write(path, np.full((SR, 1), 0.5), SR, subtype="FLOAT")
    spec = RecordingSpec(file="dc.wav", path=path, fade_in_s=0.1, fade_out_s=0.2, pan=0.5)
    p = Placed(spec=spec, start=1000, frames=SR, reader=Reader(path, SR))
    whole = np.concatenate([p.contribution(a, a + 777) for a in range(0, SR + 2000, 777)])
    y = whole[1000: 1000 + SR]
    assert not whole[:1000].any() and not whole[1000 + SR:].any()
    theta = 1.5 * math.pi / 4
    n = np.arange(SR)
    g = np.ones(SR)
    g[: SR // 10] = 0.5 - 0.5 * np.cos(np.pi * (n[: SR // 10] + 0.5) / (SR // 10))
    k = SR - n[-SR // 5:]
    g[-SR // 5:] = 0.5 - 0.5 * np.cos(np.pi * (k - 0.5) / (SR // 5))
    for ch, c in enumerate((math.cos(theta), math.sin(theta))):
        np.testing.assert_allclose(y[:, ch], 0.5 * g * c * math.sqrt(2), atol=1e-6)


@pytest.mark.parametrize("rate, channels", [(44100, 2), (22050, 1), (48000, 2)])
def test_level_measured_is_the_resampled_sound_metered(tmp_path, rate, channels):
    """The recording is measured as it plays (resampled to the session rate, panned, faded
    and trimmed): its per-segment K-weighted energy that of its contribution metered at the
    session rate (to 1e-5: float32 samples), its per-segment peaks the contribution's."""
    from sointu.rendering.loudness import LoudnessMeter
    from sointu.rendering.recordings import _unit_sums
    from sointu.session.recordings import Placed, RecordingSpec

    rng = np.random.default_rng(3)
    n = int(7.3 * rate)
    t = np.arange(n) / rate
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 0.7 * t)))[:, None]
    # noise up to 8 kHz (speech's band)
    from scipy.signal import butter, sosfilt

    noise = sosfilt(butter(8, 8000, fs=rate, output="sos"), rng.standard_normal((n, channels)),
                    axis=0)
    x = x + 0.1 * noise
    path = tmp_path / "r.flac"
    sf.write(path, x, rate, subtype="PCM_24")
    spec = RecordingSpec(file="r.flac", path=path, fade_in_s=0.3, fade_out_s=0.5, pan=-0.4)
    reader = Reader(path, SR)
    S = SR // 10
    start = 12 * S + 1234  # between segment boundaries
    p = Placed(spec=spec, start=start, frames=reader.frames - SR // 3, reader=reader)
    n_seg = 200
    sums, peaks, first = _unit_sums(p, SR, n_seg)
    assert first == 12
    meter = LoudnessMeter(SR, 2)
    meter.process(np.zeros((start - first * S, 2)))
    y = p.contribution(start, (first + sums.shape[1]) * S)
    meter.process(y)
    want = meter._complete()._sums[:, : sums.shape[1]]  # per channel
    assert sums.shape[1] == -(-p.stop // S) - first
    np.testing.assert_allclose(sums, want, rtol=1e-5, atol=1e-9 * want.max())
    full = np.concatenate([np.zeros((start - first * S, 2)), y])
    got = np.abs(full[: sums.shape[1] * S]).max(axis=1).reshape(-1, S).max(axis=1)
    np.testing.assert_allclose(peaks, got, rtol=1e-6)


def test_score_lists_the_strokes_that_sound():
    """`sointu score` and `show` leave out the strokes a speech displaces, as the audio does."""
    from sointu.session.recordings import compose_with_room

    preset = load_session_preset(PRESET)
    assert (compose_with_room(preset, duration_s=240.0).events
            == SessionAudio.from_preset(preset, duration_s=240.0).timeline.events)
    r = sointu("score", PRESET, "--duration", "4m", "--format", "json")
    import json

    times = [e["time_s"] for e in json.loads(r.stdout)["events"]]
    assert times == [e.time_s for e in compose_with_room(preset, duration_s=240.0).events]


def test_sampled_instrument_plays_each_stroke_the_composer_gives_it(tmp_path):
    """kind = "instrument": every strike of the session instrument plays the recording,
    v ** 1.5 as loud, instead of the synthesised stroke; the gain estimate counts it."""
    from sointu.rendering.estimate import estimate_gain_db

    t = np.arange(2 * SR) / SR
    tone = 0.5 * np.sin(2 * np.pi * 700.0 * t) * np.exp(-t / 0.5)
    sf.write(tmp_path / "stroke.wav", tone, SR, subtype="FLOAT")
    p = _preset(tmp_path, """
[[recordings]]
file = "stroke.wav"
kind = "instrument"
instrument = "heart"
""", copy_sample=False)
    preset = load_session_preset(p)
    audio = SessionAudio.from_preset(preset, duration_s=240.0)
    plain = SessionAudio.from_preset(preset.__class__(**{**preset.__dict__, "recordings": ()}),
                                     duration_s=240.0)
    strikes = [e for e in audio.timeline.events
               if e.instrument == "heart" and e.articulation == "strike"]
    assert len(strikes) >= 3 and len(audio.recordings) == len(strikes)
    for pl, e in zip(audio.recordings, strikes, strict=True):
        assert pl.start == round(e.time_s * SR)
        assert pl.offset_db == pytest.approx(30 * math.log10(e.velocity))
    assert len(plain.synth.impulses) - len(audio.synth.impulses) == len(strikes)
    calibrate(audio)
    full = np.concatenate(list(audio.blocks(1 << 16, 0))).astype(np.float64)
    probe = np.exp(-2j * np.pi * 700.0 * np.arange(SR // 2) / SR)

    def amp(e) -> float:
        s = int(round(e.time_s * SR)) + 100
        return float(np.abs(full[s: s + SR // 2, 0] @ probe))

    lo = min(strikes, key=lambda e: e.velocity)
    hi = max(strikes, key=lambda e: e.velocity)
    a, b = amp(hi), amp(lo)
    want = 1.5 * 20 * math.log10(hi.velocity / lo.velocity)
    assert want > 0.5
    assert abs(20 * math.log10(a / b) - want) < 0.3
    est = estimate_gain_db(audio, -18.0)
    assert abs(est - _measured(audio, -18.0).gain_db) < 0.3


def test_levels_are_cached_so_playback_starts_at_once(tmp_path, monkeypatch):
    """The second time a session is opened its recordings' levels come from the cache (no
    pass over the recordings), equal to the measured ones; the estimate still gets the
    energies when it needs them."""
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    first = SessionAudio.from_preset(PRESET, duration_s=240.0)
    calibrate(first)
    assert all(p.unit_sums is not None for p in first.recordings)
    again = SessionAudio.from_preset(PRESET, duration_s=240.0)
    calibrate(again)
    assert [p.gain_db for p in again.recordings] == [p.gain_db for p in first.recordings]
    assert all(p.unit_sums is None for p in again.recordings)
    np.testing.assert_array_equal(recording_sums(again), recording_sums(first))


@pytest.mark.parametrize("suffix", [".mp3", ".ogg"])
def test_lossy_recordings_seek_exactly(tmp_path, suffix):
    """MP3 and Ogg Vorbis recordings (decoders with their own frames) read the same samples
    wherever reading starts, so --start-at in them equals the render too."""
    path = tmp_path / f"tone{suffix}"
    tone_file(path, 44100, 6.0, (440.0, 660.0), subtype=None)
    whole = Reader(path, SR).read(0, Reader(path, SR).frames)
    for a in (12345, 100000, 200001):
        got = Reader(path, SR).read(a, len(whole))
        assert np.array_equal(got, whole[a:]), f"differs when reading from {a}"


def test_the_timeline_lists_its_recordings_for_the_session_picture():
    """The shipped welcome preset's Timeline names both recordings where they sound, and the
    session picture's recordings lane draws exactly those spans."""
    from sointu.pictures.session import session_lanes

    audio = SessionAudio.from_preset(PRESET)
    recs = audio.timeline.recordings
    assert [r.name for r in recs] == ["tervetuloa-fi.flac", "paluu-fi.flac"]
    rate = audio.sample_rate
    for r, placed in zip(recs, sorted(audio.recordings, key=lambda p: p.start), strict=True):
        assert r.time_s == placed.start / rate
        assert r.duration_s == placed.frames / rate
    lanes = {lane.key: lane for lane in session_lanes(audio.preset, audio.timeline)}
    assert [s[:2] for s in lanes["recordings"].spans] == [(r.time_s, r.duration_s) for r in recs]
