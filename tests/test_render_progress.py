"""Progress while rendering, also for the formats encoded in parallel parts (Opus, MP3)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading

import pytest

from sointu.rendering.formats import resolve_format
from sointu.rendering.pipeline import render_session
from sointu.rendering.tags import Tags
from sointu.session.audio import SessionAudio


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path_factory.mktemp("gain-cache")))


@pytest.mark.parametrize("ext", ["opus", "mp3", "flac"])
def test_progress_reaches_the_end_in_steps(tmp_path, ext):
    audio = SessionAudio.from_preset("classic-60", duration_s=60, seed=3)
    path = tmp_path / f"x.{ext}"
    fmt = resolve_format(path, sample_rate=audio.sample_rate, frames=audio.total_frames)
    calls = []
    lock = threading.Lock()

    def progress(done):
        with lock:
            calls.append(done)

    render_session(audio, path, fmt=fmt, tags=Tags(title="x"), target_lufs=-18.0,
                   progress=progress)
    assert len(calls) >= 10, calls  # many updates, not one at the end
    assert max(calls) == audio.total_frames
    assert calls[-1] == audio.total_frames
    assert all(0 <= c <= audio.total_frames for c in calls)
    # a bar that moves forward: from parallel parts the sum never goes back
    assert all(b >= a for a, b in zip(calls, calls[1:], strict=False))
    assert calls[len(calls) // 2] < audio.total_frames


def test_progress_bar_drawn_for_opus_on_a_terminal(tmp_path):
    """On a terminal, ``sointu render -o x.opus`` draws a progress bar while encoding."""
    leader, follower = pty.openpty()
    env = dict(os.environ, SOINTU_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "sointu", "render", "classic-60",
                             "--duration", "1m", "-o", str(tmp_path / "x.opus")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=follower, env=env)
    os.close(follower)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
        proc.wait(timeout=300)
    assert proc.returncode == 0, seen
    text = seen.decode("utf-8", "replace")
    bars = [part for part in text.split("\r") if part.startswith("x.opus [")]
    assert len(bars) >= 2, text  # drawn more than once: it moves
    assert any("100.0%" in b for b in bars), text
    assert any("#" in b and "-" in b.split("]")[0] for b in bars), text  # part way


class FakeTerminal:
    def __init__(self):
        self.text = ""
        self.lock = threading.Lock()

    def isatty(self):
        return True

    def write(self, s):
        with self.lock:
            self.text += s

    def flush(self):
        pass


def test_progress_line_keeps_moving_before_the_first_frames():
    import time

    from sointu.cli.progress import Progress

    term = FakeTerminal()
    p = Progress(1000, label="x.opus", stream=term, tick_s=0.05)
    p.begin()
    time.sleep(0.5)  # measuring: no frames yet
    lines = [t for t in term.text.split("\r") if t]
    assert len(lines) >= 3 and all("preparing" in t and "  0.0%" in t for t in lines)
    threads = [threading.Thread(target=p, args=(n,)) for n in (250, 500, 1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p.close()
    assert "100.0%" in term.text and term.text.endswith("\r\033[K")
    assert not any(t.name == "sointu-progress" for t in threading.enumerate())
    size = len(term.text)
    time.sleep(0.2)
    assert len(term.text) == size  # nothing drawn after close
