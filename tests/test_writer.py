"""write_blocks: every format round-trips; failures and interrupts leave nothing behind."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from audio_measure import temp_files_in
from sointu.errors import OutputError
from sointu.rendering import writer as writer_mod
from sointu.rendering.dither import Ditherer
from sointu.rendering.formats import resolve_format
from sointu.rendering.tags import Tags
from sointu.rendering.writer import quantise, write_blocks
from sointu.session.timeline import Phase

SR = 48000
OLD = b"an older session that must survive"
TAGS = Tags(title="Sointurentoutus – Äänimatka Maijalle, å")


def signal_frames(frames, seed=11, freq_hz=440.0):
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / SR
    x = 0.3 * np.sin(2 * np.pi * freq_hz * t)[:, None] * np.array([1.0, 0.7])
    return (x + 0.003 * rng.standard_normal((frames, 2))).astype(np.float32)


def blocks_of(x, block=4096):
    for i in range(0, len(x), block):
        yield x[i:i + block]


def fmt_for(path, frames, depth=None, quality=None):
    return resolve_format(path, depth, quality, sample_rate=SR, frames=frames)


def write(path, x, *, phases=None, depth=None, blocks=None, **kw):
    phases = [Phase("Johdanto", 0.0, len(x) / SR)] if phases is None else phases
    return write_blocks(path, blocks if blocks is not None else blocks_of(x), sample_rate=SR,
                        total_frames=len(x), fmt=fmt_for(path, len(x), depth), tags=TAGS,
                        phases=phases, **kw)


def dominant_hz(y):
    spec = np.abs(np.fft.rfft(y[:, 0] * np.hanning(len(y))))
    return np.argmax(spec) * SR / len(y)


# ------------------------------------------------------------------------------ round trips

@pytest.mark.parametrize("name, depth, bits", [("a.wav", None, 24), ("a.wav", "16", 16),
                                               ("a.flac", None, 24), ("a.flac", "16", 16)])
def test_pcm_round_trip_equals_rounding(tmp_path, name, depth, bits):
    x = signal_frames(SR + 123)
    result = write(tmp_path / name, x, depth=depth)
    y, rate = sf.read(tmp_path / name, dtype="float64")
    assert rate == SR and y.shape == x.shape
    step = 2.0 ** (bits - 1)
    expected = np.clip(np.rint(x.astype(np.float64) * step), -step, step - 1) / step
    np.testing.assert_array_equal(y, expected)  # nearest step, not libsndfile's truncation
    assert result.frames == len(x) and result.seconds == pytest.approx(len(x) / SR)
    assert result.bytes == (tmp_path / name).stat().st_size
    assert temp_files_in(tmp_path) == []


def test_float_wav_is_bit_exact(tmp_path):
    x = signal_frames(SR)
    x[5] = [1.5, -2.0]  # float keeps overs
    write(tmp_path / "a.wav", x, depth="32f")
    y, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    np.testing.assert_array_equal(y, x)


def test_sixteen_bit_uses_the_ditherer(tmp_path):
    x = signal_frames(SR // 2)
    calls = []

    def spy(block):
        calls.append(len(block))
        return ditherer(block)

    ditherer = Ditherer(16, seed=3)
    write(tmp_path / "a.flac", x, depth="16", ditherer=spy)
    assert sum(calls) == len(x)
    y, _ = sf.read(tmp_path / "a.flac", dtype="float64")
    np.testing.assert_array_equal(y, Ditherer(16, seed=3)(x))
    # 24-bit does not need dither: the ditherer is not called
    calls.clear()
    write(tmp_path / "b.flac", x, ditherer=spy)
    assert calls == []


def test_quantise_is_idempotent_and_clips():
    x = np.array([[0.5 + 0.4 / 32768, -1.2], [0.99999, 1.0]], np.float32)
    q = quantise(x, 16)
    assert q.dtype == np.float32
    np.testing.assert_array_equal(q * 32768, [[16384, -32768], [32767, 32767]])
    np.testing.assert_array_equal(quantise(q, 16), q)


@pytest.mark.parametrize("name, seconds", [("a.ogg", 2.0), ("a.opus", 1.0), ("a.mp3", 1.0)])
def test_lossy_round_trip(tmp_path, name, seconds):
    x = signal_frames(int(seconds * SR))
    write(tmp_path / name, x)
    y, rate = sf.read(tmp_path / name, dtype="float32")
    assert rate == SR and y.shape == x.shape
    assert dominant_hz(y) == pytest.approx(440.0, abs=2.0)
    rms_in, rms_out = np.sqrt(np.mean(x ** 2)), np.sqrt(np.mean(y ** 2))
    assert 20 * np.log10(rms_out / rms_in) == pytest.approx(0.0, abs=0.5)


def test_progress_reports_frames_done(tmp_path):
    x = signal_frames(10_000)
    seen = []
    write(tmp_path / "a.wav", x, blocks=blocks_of(x, 3000), progress=seen.append)
    assert seen == [3000, 6000, 9000, 10_000]


def test_rf64_for_a_huge_estimate(tmp_path):
    x = signal_frames(SR // 4)
    fmt = resolve_format(tmp_path / "a.wav", "32f", sample_rate=SR, frames=SR * 4 * 3600)
    assert fmt.format == "RF64"
    write_blocks(tmp_path / "a.wav", blocks_of(x), sample_rate=SR, total_frames=len(x),
                 fmt=fmt, tags=TAGS, phases=[Phase("a", 0, 0.25)])
    assert (tmp_path / "a.wav").read_bytes()[:4] == b"RF64"
    y, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    np.testing.assert_array_equal(y, x)


def test_blocks_are_consumed_one_by_one(tmp_path):
    # memory stays flat: when k blocks are written, exactly k have been pulled (no collecting)
    x = signal_frames(SR)
    pulled = []

    def source():
        for b in blocks_of(x, 1000):
            pulled.append(len(b))
            yield b

    seen = []
    write(tmp_path / "a.wav", x, blocks=source(),
          progress=lambda n: seen.append((n, sum(pulled))))
    assert seen == [(n, n) for n in list(range(1000, SR, 1000)) + [SR]]


# ------------------------------------------------------------------------ refusals up front

def test_existing_target_untouched_and_source_not_read(tmp_path):
    target = tmp_path / "a.flac"
    target.write_bytes(OLD)

    def never():
        raise AssertionError("the source must not be read")
        yield

    with pytest.raises(OutputError, match="already exists") as info:
        write(target, signal_frames(100), blocks=never())
    assert "\n" not in str(info.value)
    assert target.read_bytes() == OLD
    assert temp_files_in(tmp_path) == []


def test_existing_sidecar_stops_before_writing(tmp_path):
    (tmp_path / "a.wav.chapters.json").write_bytes(OLD)
    with pytest.raises(OutputError, match="a.wav.chapters.json already exists"):
        write(tmp_path / "a.wav", signal_frames(100))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav.chapters.json"]
    assert (tmp_path / "a.wav.chapters.json").read_bytes() == OLD


def test_force_replaces_target_and_sidecars(tmp_path):
    for name in ("a.wav", "a.wav.cue", "a.wav.chapters.json"):
        (tmp_path / name).write_bytes(OLD)
    write(tmp_path / "a.wav", signal_frames(1000), force=True)
    assert sf.info(str(tmp_path / "a.wav")).frames == 1000
    assert (tmp_path / "a.wav.cue").read_bytes() != OLD
    assert b"Johdanto" in (tmp_path / "a.wav.chapters.json").read_bytes()


def test_missing_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write(tmp_path / "no" / "a.wav", signal_frames(100))


@pytest.mark.parametrize("frames, given, words", [(1000, 900, "ended after 900 of 1000"),
                                                  (1000, 1100, "more than the 1000 frames")])
def test_wrong_frame_count_writes_nothing(tmp_path, frames, given, words):
    x = signal_frames(given)
    with pytest.raises(OutputError, match=words):
        write_blocks(tmp_path / "a.flac", blocks_of(x, 300), sample_rate=SR,
                     total_frames=frames, fmt=fmt_for(tmp_path / "a.flac", frames),
                     tags=TAGS, phases=[])
    assert list(tmp_path.iterdir()) == []


def test_bad_block_shape(tmp_path):
    with pytest.raises(OutputError, match=r"block 0 has shape \(100,\)"):
        write(tmp_path / "a.wav", signal_frames(100), blocks=[np.zeros(100, np.float32)])
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ failures while writing

def failing_source(x, after_blocks, exc):
    for i, b in enumerate(blocks_of(x, 2048)):
        if i == after_blocks:
            raise exc
        yield b


@pytest.mark.parametrize("name", ["a.wav", "a.flac", "a.ogg"])
def test_disk_full_from_source(tmp_path, name):
    target = tmp_path / name
    target.write_bytes(OLD)
    x = signal_frames(SR)
    with pytest.raises(OutputError) as info:
        write(target, x, force=True,
              blocks=failing_source(x, 5, OSError(errno.ENOSPC, "No space left on device")))
    assert str(info.value).startswith(f"disk full while writing {name}; nothing was written")
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_disk_full_from_soundfile_write(tmp_path, monkeypatch):
    real_write = sf.SoundFile.write
    count = {"n": 0}

    def write_then_fail(self, data):
        count["n"] += 1
        if count["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(writer_mod.sf.SoundFile, "write", write_then_fail)
    target = tmp_path / "a.flac"
    target.write_bytes(OLD)
    with pytest.raises(OutputError, match="^disk full while writing a.flac; nothing was"):
        write(target, signal_frames(SR), force=True)
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.flac"]


def test_encoder_error_is_one_clear_line(tmp_path, monkeypatch):
    def broken(self, data):
        raise sf.LibsndfileError(0, "Error writing: ")

    monkeypatch.setattr(writer_mod.sf.SoundFile, "write", broken)
    with pytest.raises(OutputError) as info:
        write(tmp_path / "a.wav", signal_frames(SR))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("could not write a.wav: libsndfile")
    assert msg.endswith("nothing was written")
    assert list(tmp_path.iterdir()) == []


def test_short_write_is_caught_even_without_asserts(tmp_path, monkeypatch):
    def short(self, data):  # what f.write does under python -O when libsndfile stops early
        self._update_frames(len(data) // 2)

    monkeypatch.setattr(writer_mod.sf.SoundFile, "write", short)
    with pytest.raises(OutputError, match="only 2048 of 4096 frames were accepted"):
        write(tmp_path / "a.wav", signal_frames(SR))
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_mid_write(tmp_path):
    target = tmp_path / "a.mp3"
    target.write_bytes(OLD)
    x = signal_frames(SR)
    with pytest.raises(KeyboardInterrupt):
        write(target, x, force=True, blocks=failing_source(x, 3, KeyboardInterrupt()))
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp3"]


# --------------------------------------------------------------------- real processes

CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from sointu.errors import SointuError
    from sointu.signals import raise_on_sigterm
    from sointu.rendering.formats import resolve_format
    from sointu.rendering.tags import Tags
    from sointu.rendering.writer import write_blocks
    from sointu.session.timeline import Phase

    path, seconds, delay = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    sr, block = 48000, 4800
    n = int(seconds * sr)
    rng = np.random.default_rng(5)

    def blocks():
        for i in range(0, n, block):
            yield (0.1 * rng.standard_normal((min(block, n - i), 2))).astype(np.float32)
            time.sleep(delay)

    fmt = resolve_format(path, sample_rate=sr, frames=n)
    try:
        with raise_on_sigterm():
            write_blocks(path, blocks(), sample_rate=sr, total_frames=n, fmt=fmt,
                         tags=Tags(title="x"), phases=[Phase("a", 0, seconds)], force=True)
    except SointuError as exc:
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        sys.exit(130)
    print("done")
""")


def child(path, seconds, delay, preexec_fn=None):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(seconds), str(delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=preexec_fn)


def test_file_size_limit_in_a_real_process(tmp_path):
    target = tmp_path / "a.wav"
    target.write_bytes(OLD)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = child(target, 3.0, 0.0, preexec_fn=limit)  # 3 s of 24-bit stereo = 864 kB
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert lines == ["file size limit reached while writing a.wav (see ulimit -f); nothing "
                     f"was written (in {tmp_path})"]
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_write_in_a_real_process(tmp_path, signum):
    target = tmp_path / "a.flac"
    target.write_bytes(OLD)
    proc = child(target, 30.0, 0.02)  # 300 blocks, ~6 s: slow on purpose
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            temps = temp_files_in(tmp_path)
            if any(t.suffix == ".flac" and t.stat().st_size > 50_000 for t in temps
                   if t.exists()):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        else:
            raise AssertionError("the child never started writing")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted; nothing was written"
    assert out == ""
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.flac"]
