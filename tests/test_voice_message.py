"""The gift's personal message as a recording: ``sointu gift --message-recording FILE`` and
the clients file's ``message_recording`` column.

Measured on the rendered files: the message's tone where the message belongs and nowhere in
a gift without it; placements in frames; bad files give one line naming the file and row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sointu.delivery import read_clients
from sointu.session.audio import SessionAudio
from sointu.session.presets import load_session_preset
from sointu.session.recordings import spoken_message, voice_intro
from sointu.shipped import folder

SOINTU = Path(sys.executable).with_name("sointu")
SR = 48000
TONE_HZ = 700.0
MSG_S = 6.0


def sointu(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SOINTU), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ), timeout=300)


def one_line(r: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def _message(path: Path) -> Path:
    t = np.arange(int(MSG_S * 22050)) / 22050
    sf.write(path, 0.3 * np.sin(2 * np.pi * TONE_HZ * t), 22050)
    return path


def _tone_share(x: np.ndarray, a_s: float, b_s: float) -> float:
    """Share of the spectrum's magnitude near TONE_HZ in [a_s, b_s) of the left channel."""
    seg = x[int(a_s * SR): int(b_s * SR), 0]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    k = round(TONE_HZ * len(seg) / SR)
    return float(spec[k - 3: k + 4].sum() / (spec.sum() + 1e-12))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))


def test_single_gift_speaks_its_message(tmp_path):
    msg = _message(tmp_path / "msg.wav")
    out = tmp_path / "maija.flac"
    r = sointu("gift", "gift-30", "--for", "Maija", "--duration", "1m", "--message-recording",
               msg, "-o", out)
    assert r.returncode == 0, r.stderr
    x, rate = sf.read(out)
    assert rate == SR and len(x) == 60 * SR  # the length holds
    during = _tone_share(x, 2.5, 2.0 + MSG_S - 0.5)
    assert during > 0.3, during  # the message dominates where it is spoken
    assert _tone_share(x, 2.0 + MSG_S + 1.0, 2.0 + MSG_S + 5.0) < 0.05 * during
    assert _tone_share(x, 0.0, 1.8) < 0.05 * during


def test_message_follows_the_spoken_welcome(tmp_path):
    """After --voice-intro: 1 s after the welcome ends; both in the first phase, which grows
    to hold them, and no stroke starts while either speaks."""
    preset = load_session_preset("gift-30")
    welcome = voice_intro(folder("samples") / "tervetuloa-fi.flac")
    msg = spoken_message(_message(tmp_path / "msg.wav"), preset, [welcome])
    audio = SessionAudio.from_preset(preset, duration_s=60.0, recordings=(welcome, msg))
    w, m = audio.recordings
    assert w.spec.where == "--voice-intro" and m.spec.where == "--message-recording"
    assert m.start - w.stop == pytest.approx(SR, abs=SR // 100)
    first = audio.timeline.phases[0]
    assert m.stop / SR <= first.end_s + 1e-6 and m.frames == m.reader.frames
    assert audio.duration_s == 60.0
    for e in audio.timeline.events:
        assert not (w.start / SR <= e.time_s < m.stop / SR + 1.5), e


def test_clients_column_resolved_beside_the_clients_file(tmp_path):
    """A relative path in the column is found beside the CSV (not in the current folder);
    the row without it has no message; --message-recording is the default for empty cells
    (not given here)."""
    data = tmp_path / "data"
    data.mkdir()
    _message(data / "msg.wav")
    (data / "clients.csv").write_text("name,message_recording,file\nMaija,msg.wav,maija.flac\n"
                                      "Pekka,,pekka.flac\n", "utf-8")
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    rows = read_clients(data / "clients.csv")
    assert rows[0].message_recording == data / "msg.wav" and rows[1].message_recording is None
    r = sointu("gift", "gift-30", "--clients", data / "clients.csv", "--duration", "1m",
               "-o", out, "-j", "1", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    with_msg, _ = sf.read(out / "maija.flac")
    without, _ = sf.read(out / "pekka.flac")
    assert len(with_msg) == len(without) == 60 * SR
    a, b = 2.5, 2.0 + MSG_S - 0.5
    assert _tone_share(with_msg, a, b) > 0.3
    assert _tone_share(without, a, b) < 0.05 * _tone_share(with_msg, a, b)


@pytest.mark.parametrize("cell, words", [
    ("nope.wav", ["clients.csv", "row 3", "column 'message_recording'", "nope.wav",
                  "no such file"]),
    ("bad.wav", ["clients.csv", "row 3", "column 'message_recording'", "bad.wav",
                 "not a readable audio file", "WAV, FLAC, OGG, MP3"]),
])
def test_bad_recording_in_the_clients_file_is_one_line(tmp_path, cell, words):
    _message(tmp_path / "msg.wav")
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    (tmp_path / "clients.csv").write_text(f"name,message_recording\nMaija,msg.wav\n"
                                          f"Pekka,{cell}\n", "utf-8")
    out = tmp_path / "out"
    out.mkdir()
    line = one_line(sointu("gift", "gift-30", "--clients", tmp_path / "clients.csv",
                           "--duration", "1m", "-o", out))
    for w in words:
        assert w in line, (w, line)
    assert list(out.iterdir()) == []


def test_bad_message_recording_option_is_one_line(tmp_path):
    out = tmp_path / "g.flac"
    line = one_line(sointu("gift", "gift-30", "--for", "Maija", "--message-recording",
                           tmp_path / "none.flac", "-o", out))
    assert "--message-recording" in line and "none.flac" in line and "no such file" in line
    (tmp_path / "empty.wav").write_bytes(b"")
    line = one_line(sointu("gift", "gift-30", "--for", "Maija", "--message-recording",
                           tmp_path / "empty.wav", "-o", out))
    assert "empty.wav" in line and "not a readable audio file" in line
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["empty.wav"]
