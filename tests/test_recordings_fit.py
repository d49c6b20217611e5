"""``fit = "lengthen"``: a phase grows to hold its recording, the other phases shrink in
proportion and the total length holds.

Measured: the phase boundaries of the composed timeline, the strokes around the speech, and
the recording's tone in the rendered audio until its very end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sointu.rendering.recordings import calibrate
from sointu.session.audio import SessionAudio
from sointu.session.presets import load_session_preset
from sointu.session.recordings import compose_with_room
from sointu.shipped import folder

SOINTU = Path(sys.executable).with_name("sointu")
SR = 48000
TOTAL = 180.0
TONE_S = 40.0


def _tone(path: Path, seconds: float, rate: int = 44100) -> None:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.2 * np.sin(2 * np.pi * 1000.0 * t), rate, subtype="PCM_24")


def _preset(tmp_path: Path, extra: str, *, seconds: float = TONE_S, name="p.toml") -> Path:
    _tone(tmp_path / "tone.flac", seconds)
    text = (folder("presets") / "sessions" / "workplace-25.toml").read_text("utf-8")
    path = tmp_path / name
    path.write_text(text + '\n[[recordings]]\nfile = "tone.flac"\nphase = "arrival"\n'
                    + extra, "utf-8")
    return path


def _lengths(timeline) -> dict[str, float]:
    return {p.name: p.end_s - p.start_s for p in timeline.phases}


def test_phase_grows_to_its_recording_and_the_total_holds(tmp_path):
    bare = compose_with_room(load_session_preset(_preset(tmp_path, "at_s = 0\n", seconds=1.0,
                                                         name="bare.toml")),
                             duration_s=TOTAL)
    before = _lengths(bare)
    assert before["arrival"] < 20.0 + TONE_S - 10.0  # it would not fit: 24 s at 3 minutes
    tl = compose_with_room(load_session_preset(_preset(tmp_path, 'at_s = 20\nfit = "lengthen"\n')),
                           duration_s=TOTAL)
    after = _lengths(tl)
    assert tl.duration_s == TOTAL and tl.phases[-1].end_s == TOTAL
    assert tl.phases[0].start_s == 0.0
    for a, b in zip(tl.phases, tl.phases[1:], strict=False):
        assert a.end_s == pytest.approx(b.start_s, abs=1e-9), "phases tile the session"
    rate_len = -(-int(TONE_S * 44100) * SR // 44100) / SR
    assert after["arrival"] == pytest.approx(20.0 + rate_len, abs=1e-3)
    # the others shrink in proportion (the ring-out, in the last phase, keeps its length)
    ring = 30.0
    others = ["relaxation", "recovery"]
    b_play = {k: before[k] - (ring if k == "recovery" else 0.0) for k in others}
    a_play = {k: after[k] - (ring if k == "recovery" else 0.0) for k in others}
    scale = a_play["relaxation"] / b_play["relaxation"]
    assert 0.3 < scale < 1.0
    assert a_play["recovery"] / b_play["recovery"] == pytest.approx(scale, rel=1e-9)
    assert sum(after.values()) == pytest.approx(TOTAL, abs=1e-9)
    rec = tl.recordings[0]
    assert rec.time_s == pytest.approx(20.0, abs=1e-4)
    assert rec.time_s + rec.duration_s <= tl.phases[0].end_s + 1e-6
    margin = 1.5  # the default margin_s of a speech
    inside = [e for e in tl.events if rec.time_s - 1e-9 <= e.time_s
              < rec.time_s + rec.duration_s + margin]
    assert inside == [], f"strokes start during the speech: {inside[:3]}"
    assert any(e.time_s >= rec.time_s + rec.duration_s + margin for e in tl.events)


def test_the_recording_plays_to_its_end(tmp_path, monkeypatch):
    """Rendered: the 1 kHz tone sounds through its last second, untrimmed, and stops."""
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    path = _preset(tmp_path, 'at_s = 20\nfit = "lengthen"\nloudness_lu = 6\n')
    audio = SessionAudio.from_preset(path, duration_s=TOTAL)
    calibrate(audio)
    p = audio.recordings[0]
    assert p.frames == p.reader.frames  # whole, not trimmed
    x = np.concatenate(list(audio.blocks(8192, 0)))[:, 0]
    assert len(x) == int(TOTAL * SR)

    def tone_level(a: int, b: int) -> float:
        seg = x[a:b] * np.hanning(b - a)
        spec = np.abs(np.fft.rfft(seg))
        k = round(1000.0 * (b - a) / SR)
        return float(spec[k - 2: k + 3].max() / (np.abs(spec).sum() + 1e-12))

    last = tone_level(p.stop - SR, p.stop)
    first = tone_level(p.start, p.start + SR)
    after = tone_level(p.stop + SR // 10, p.stop + SR // 10 + SR)
    assert last > 0.5 * first > 0.0, (first, last)
    assert after < 0.1 * last, (last, after)


def sointu(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(SOINTU), *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


@pytest.mark.parametrize("extra, words", [
    ('at_s = 20\nfit = "stretch"\n', [":1", "recordings[0].fit", "'stretch'",
                                       "refuse, trim, lengthen"]),
    ('at_s = -50\nfit = "lengthen"\n', [":1", "recordings[0].fit", "at_s >= 0"]),
    ('at_s = 20\nfit = "lengthen"\ntrim = true\n', ["recordings[0].fit", "trim = true"]),
    ('at_s = 20\nfit = 3\n', ["recordings[0].fit", "expected text"]),
])
def test_bad_fit_is_one_line(tmp_path, extra, words):
    path = _preset(tmp_path, extra)
    out = tmp_path / "o.flac"
    r = sointu("render", path, "--duration", "3m", "-o", out)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(path.name) in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not out.exists()


def test_too_long_to_lengthen_is_one_line(tmp_path):
    """A recording longer than the whole session's playing time: the numbers, nothing
    written."""
    path = _preset(tmp_path, 'at_s = 20\nfit = "lengthen"\n', seconds=400.0)
    out = tmp_path / "o.flac"
    r = sointu("render", path, "--duration", "3m", "-o", out)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in ("recordings[0]", "tone.flac", "400.0 s", "420.0 s", "150.0 s", "--duration"):
        assert w in lines[0], (w, lines[0])
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml", "tone.flac"]
