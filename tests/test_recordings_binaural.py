"""On the headphone mix a recording is heard through the head's responses, like the
instruments: a voice straight ahead (equal ears, no interaural delay), a sound at pan = 1
from the right (the right ear earlier and louder).

Measured: interaural level and delay of the played recording, its loudness as measured
before rendering against the loudness of what plays, and blocks equal wherever playback
starts.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sointu.rendering.loudness import LoudnessMeter
from sointu.rendering.recordings import _lufs, calibrate
from sointu.session.audio import SessionAudio
from sointu.shipped import folder

SR = 48000


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))


def _audio(tmp_path, pan: float, mix: str = "headphones", rate: int = 44100):
    rng = np.random.default_rng(11)
    x = 0.1 * rng.standard_normal((int(8.0 * rate), 1))
    sf.write(tmp_path / "noise.flac", x, rate, subtype="PCM_24")
    text = (folder("presets") / "sessions" / "workplace-25.toml").read_text("utf-8")
    (tmp_path / "p.toml").write_text(text + f"""
[[recordings]]
file = "noise.flac"
phase = "relaxation"
at_s = 5
kind = "sound"
pan = {pan}
fade_in_s = 0.2
fade_out_s = 0.2
""", "utf-8")
    audio = SessionAudio.from_preset(tmp_path / "p.toml", duration_s=180.0, mix=mix)
    calibrate(audio)
    return audio


def _ears(p) -> tuple[float, int]:
    """Right minus left level (dB) and the lag of the left ear behind the right (frames)."""
    y = np.concatenate([p.contribution(a, min(a + 8192, p.stop))
                        for a in range(p.start, p.stop, 8192)]).astype(np.float64)
    mid = y[len(y) // 4: 3 * len(y) // 4]
    ild = 10 * np.log10(np.sum(mid[:, 1] ** 2) / np.sum(mid[:, 0] ** 2))
    n = 1 << 20
    xc = np.fft.irfft(np.fft.rfft(mid[:, 0], n) * np.conj(np.fft.rfft(mid[:, 1], n)), n)
    lags = np.r_[xc[:100], xc[-100:]]
    k = int(np.argmax(lags))
    return ild, k if k < 100 else k - 200


def test_voice_ahead_and_sound_from_the_right(tmp_path):
    ahead = _audio(tmp_path, 0.0).recordings[0]
    assert ahead.hrir is not None
    ild, lag = _ears(ahead)
    assert abs(ild) < 1.5 and abs(lag) <= 2, (ild, lag)
    right = _audio(tmp_path, 1.0).recordings[0]
    ild, lag = _ears(right)
    assert ild > 6.0, ild  # the near ear louder
    assert 0.45e-3 * SR < lag < 0.9e-3 * SR, lag  # and earlier, by a head's width


def test_speakers_stay_panned(tmp_path):
    p = _audio(tmp_path, 0.0, mix="speakers").recordings[0]
    assert p.hrir is None
    y = p.contribution(p.start + SR, p.start + 2 * SR)
    assert np.array_equal(y[:, 0], y[:, 1])  # a mono file in the centre: the same both sides


@pytest.mark.parametrize("rate", [44100, 48000])
def test_measured_loudness_is_what_plays(tmp_path, rate):
    """The level measured before rendering (through the head's responses at the file's
    rate) is the loudness of the binaural signal that plays, within 0.2 LU."""
    p = _audio(tmp_path, 0.5, rate=rate).recordings[0]
    measured = _lufs(p.unit_sums, SR)
    meter = LoudnessMeter(SR, 2)
    S = SR // 10
    for a in range(p.unit_first * S, (p.unit_first + p.unit_sums.shape[1]) * S, 8192):
        meter.process(p.contribution(a, a + 8192))
    assert measured == pytest.approx(meter.integrated_lufs(), abs=0.2)


def test_binaural_chunks_equal_wherever_playback_starts(tmp_path):
    """What the recording adds to each synth chunk (mix_chunks asks for whole chunks) is the
    same whether playback started at the session's start or mid-recording, from the spill
    or from the file. (The headphone mix's synthesis itself differs by up to ~4e-9 between
    start points, without any recording: not compared here.)"""
    audio = _audio(tmp_path, 0.0)
    p = audio.recordings[0]
    B = audio.synth.B
    chunks = range(p.start // B, p.stop // B + 1)
    whole = {c: p.contribution(c * B, (c + 1) * B) for c in chunks}
    fresh = SessionAudio.from_preset(tmp_path / "p.toml", duration_s=180.0, mix="headphones")
    q = fresh.recordings[0]
    assert q.reader.spill is None  # not measured: read from the file
    mid = (p.start + 3 * SR + 7) // B
    for c in [c for c in chunks if c >= mid]:
        assert np.array_equal(q.contribution(c * B, (c + 1) * B), whole[c]), c
    speech = np.concatenate([whole[c] for c in chunks])
    assert np.sqrt(np.mean(speech ** 2)) > 0.01


@pytest.mark.parametrize("n", [256, 300, 8192 + 255, 131072 + 255])
def test_heard_is_the_convolution(n):
    """The overlap-save convolution equals a direct one (valid part), every length."""
    from sointu.session.recordings import heard

    rng = np.random.default_rng(n)
    h = rng.standard_normal((256, 2))
    m = rng.standard_normal(n)
    want = np.stack([np.convolve(m, h[:, c], mode="valid") for c in range(2)])
    got = heard(m, h)
    assert got.shape == want.shape == (2, n - 255)
    assert np.max(np.abs(got - want)) < 1e-10
