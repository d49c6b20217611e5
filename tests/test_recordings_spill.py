"""A recording is decoded once: the level measurement keeps the decoded frames (a Spill)
and playing reads them back, sample for sample what decoding again gives.

Signals are compared exactly (array equality), files on disk are checked.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sointu.rendering.recordings import _unit_sums, calibrate
from sointu.session.audio import SessionAudio
from sointu.session.recordings import Reader, Spill

SR = 48000


def _preset(tmp_path, rate: int, channels: int, seconds: float, subtype: str = "PCM_16"):
    """A 3-minute session preset with a noisy recording 20 s into its relaxation."""
    rng = np.random.default_rng(7)
    x = 0.1 * rng.standard_normal((int(seconds * rate), channels))
    sf.write(tmp_path / "rec.flac", x, rate, subtype=subtype)
    from sointu.shipped import folder

    text = (folder("presets") / "sessions" / "workplace-25.toml").read_text("utf-8")
    (tmp_path / "p.toml").write_text(text + """
[[recordings]]
file = "rec.flac"
phase = "relaxation"
at_s = 20
kind = "sound"
loudness_lu = -6
fade_in_s = 0.5
fade_out_s = 0.5
""", "utf-8")
    return tmp_path / "p.toml"


@pytest.mark.parametrize("rate, channels, subtype", [
    (44100, 2, "PCM_16"), (22050, 1, "PCM_24"), (48000, 2, "PCM_16"), (48000, 1, "PCM_24")])
def test_played_from_the_spill_equals_decoding_again(tmp_path, monkeypatch, rate, channels,
                                                     subtype):
    """After the levels are measured the recording plays from its spill (its frames at the
    session rate; a 16-bit file at the session rate kept as integers): the same samples as
    a fresh reader decoding and resampling the file, even once the file is gone."""
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    preset = _preset(tmp_path, rate, channels, 40.0, subtype)
    audio = SessionAudio.from_preset(preset, duration_s=180.0)
    calibrate(audio)
    p = audio.recordings[0]
    assert p.reader.spill is not None and p.reader.spill.frames == p.reader.frames
    assert p.reader.spill.channels == channels
    assert p.reader.spill._dtype == (np.int16 if subtype == "PCM_16" and rate == SR
                                     else np.float32)
    fresh = Reader(tmp_path / "rec.flac", SR)
    want = fresh.read(0, fresh.frames)
    (tmp_path / "rec.flac").rename(tmp_path / "gone.flac")  # no decoding from here on
    got = np.concatenate([p.reader.read(a, min(a + 10007, p.frames))
                          for a in range(0, p.frames, 10007)])
    assert np.array_equal(got, want[: p.frames])
    mid = p.reader.read(p.frames // 2 - 5, p.frames // 2 + 4096)  # --start-at mid-recording
    assert np.array_equal(mid, want[p.frames // 2 - 5: p.frames // 2 + 4096])


def test_measured_the_same_from_the_spill_or_the_file(tmp_path, monkeypatch):
    """A second placement of the same recording is measured from the spill: the same
    per-segment energies and peaks as from the file."""
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    preset = _preset(tmp_path, 44100, 2, 30.0)
    audio = SessionAudio.from_preset(preset, duration_s=180.0)
    p = audio.recordings[0]
    n_seg = audio.total_frames // (SR // 10)
    sums, peaks, first = _unit_sums(p, SR, n_seg)  # decoded (and spilled)
    assert p.reader.spill is not None
    (tmp_path / "rec.flac").rename(tmp_path / "gone.flac")
    again = _unit_sums(p, SR, n_seg)  # from the spill: the file is gone
    assert np.array_equal(again[0], sums) and np.array_equal(again[1], peaks)
    assert again[2] == first and sums.shape[1] > 290


def test_spill_reads_back_what_was_written_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    rng = np.random.default_rng(3)
    sp = Spill(2)
    parts = [rng.standard_normal((n, 2)).astype(np.float32) for n in (5, 70000, 1)]
    for x in parts:
        assert sp.append(x)
    whole = np.concatenate(parts)
    assert sp.frames == len(whole)
    assert np.array_equal(sp.read(0, len(whole)), whole)
    assert np.array_equal(sp.read(4, 69999), whole[4:69999])
    assert list(tmp_path.iterdir()) == []  # an unnamed file
    sp.close()
    assert not sp.append(parts[0]) and sp.frames == 0


def test_measured_once_per_file_and_placement(tmp_path, monkeypatch):
    """Another seed of the same session (its own gain-cache key) takes the recording's
    measurement from the cache, and gets the pre-gain a fresh measurement gives; a file
    changed in place (same size and time) is measured again."""
    import os

    import sointu.rendering.recordings as R

    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(5)
    x = 0.1 * rng.standard_normal((30 * 44100, 2))
    sf.write(tmp_path / "rec.wav", x, 44100, subtype="PCM_16")
    preset = _preset(tmp_path, 44100, 2, 1.0)
    text = preset.read_text("utf-8").replace('file = "rec.flac"', 'file = "rec.wav"')
    preset.write_text(text, "utf-8")
    first = SessionAudio.from_preset(preset, duration_s=180.0, seed=1)
    calibrate(first)
    calls = []
    measure = R._unit_sums
    monkeypatch.setattr(R, "_unit_sums", lambda *a: calls.append(1) or measure(*a))
    again = SessionAudio.from_preset(preset, duration_s=180.0, seed=2)
    calibrate(again)
    assert calls == []  # from the cache
    assert np.array_equal(again.recordings[0].unit_sums, first.recordings[0].unit_sums)
    monkeypatch.setenv("SOINTU_CACHE_DIR", "")  # no cache: measured
    fresh = SessionAudio.from_preset(preset, duration_s=180.0, seed=2)
    calibrate(fresh)
    assert calls == [1]
    assert fresh.recordings[0].gain_db == again.recordings[0].gain_db
    # the same size and time, other samples at its end: measured again
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    st = (tmp_path / "rec.wav").stat()
    with sf.SoundFile(tmp_path / "rec.wav", "r+") as f:
        f.seek(f.frames - 1000)
        f.write(np.zeros((1000, 2)))
    os.utime(tmp_path / "rec.wav", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (tmp_path / "rec.wav").stat().st_size == st.st_size
    changed = SessionAudio.from_preset(preset, duration_s=180.0, seed=3)
    calibrate(changed)
    assert calls == [1, 1]


@pytest.mark.parametrize("seconds, n_s, suffix", [
    (7.0, 7.0, ".flac"), (7.0, 2.0, ".flac"), (3.01, 3.01, ".flac"), (2.7302, 2.7302, ".flac"),
    (7.0, 7.0, ".mp3")])
def test_frames_in_order_with_decoding_ahead_equal_reading(tmp_path, seconds, n_s, suffix):
    """The one pass that measures and spills (decoded a block ahead, or by the reader's own
    decoder) gives the frames read() gives, to the recording's end when less than a block is
    left past the frames asked for. (2.7302 s: the last chunk lies within frames already
    decoded, read again from the file. MP3: libsndfile's samples depend on where its reads
    end, so the decoder ahead reads as the chunks do.)"""
    rng = np.random.default_rng(11)
    sf.write(tmp_path / f"r{suffix}", 0.1 * rng.standard_normal((int(seconds * 44100), 2)),
             44100, subtype="PCM_24" if suffix == ".flac" else None)
    r = Reader(tmp_path / f"r{suffix}", SR)
    want = r.read(0, r.frames)[:, 0]
    n = int(n_s * SR)
    for ahead in (None, iter):
        got = np.concatenate(list(r.in_order(n, ahead=ahead)))
        assert len(got) >= n and len(got) == (r.frames if r.frames - n <= r.order_block
                                              else -(-n // r.order_block) * r.order_block)
        assert np.array_equal(got[:, 0], want[: len(got)])
