"""Default quality of the lossy formats: each codec at its usual near-transparent setting,
not one number that means 166 kbit/s Opus but 40 kbit/s Vorbis."""

from __future__ import annotations

import pytest

from sointu.rendering.formats import FORMATS, resolve_format
from sointu.rendering.pipeline import render_session
from sointu.rendering.tags import Tags
from sointu.session.audio import SessionAudio

SR = 48000


def default(suffix):
    return resolve_format("a" + suffix, sample_rate=SR, frames=SR * 60)


def test_defaults_are_each_codecs_own_setting():
    defaults = {s: spec.default_quality for s, spec in FORMATS.items() if spec.lossy}
    assert defaults == {".ogg": 0.6, ".opus": 0.45, ".mp3": 0.8}
    assert default(".ogg").compression_level == pytest.approx(0.4)  # Vorbis q6
    assert default(".opus").compression_level == pytest.approx(0.7925)  # ~112 kbit/s
    assert 10 * default(".mp3").compression_level == pytest.approx(1.98)  # LAME -V 1.98
    # an explicit quality still means what it did
    assert resolve_format("a.opus", quality=0.7, sample_rate=SR,
                          frames=SR).compression_level == pytest.approx(0.705)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path_factory.mktemp("gain-cache")))


def test_opus_default_rate_on_session_audio(tmp_path):
    audio = SessionAudio.from_preset("classic-60", duration_s=60, seed=1)
    path = tmp_path / "x.opus"
    fmt = resolve_format(path, sample_rate=SR, frames=audio.total_frames)
    render_session(audio, path, fmt=fmt, tags=Tags(title="x"), target_lufs=-18.0)
    kbps = path.stat().st_size * 8 / 60 / 1000
    assert 96 <= kbps <= 128, kbps  # was 166 kbit/s (72 MB an hour)
