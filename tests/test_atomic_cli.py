"""Atomic output of real renders, every format: a full disk (a small tmpfs), a file-size
limit (``ulimit -f``), SIGINT, SIGTERM and SIGHUP mid-render, a SIGKILLed render's leftovers,
and names too long for the file system. Each time: one line, the exit code, no file left
behind and the old file untouched."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from sointu.rendering.atomic import TMP_MARKER

FORMATS = ["wav", "flac", "ogg", "opus", "mp3"]
OLD = b"the old session, must survive"
#: Long enough for the parallel Opus and MP3 encoders (two parts), short to render.
SHORT = "40s"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("gain-cache")
    return dict(os.environ, SOINTU_CACHE_DIR=str(cache), PYTHONDONTWRITEBYTECODE="1")


def render_args(target: Path, duration: str) -> list[str]:
    args = [sys.executable, "-m", "sointu", "render", "classic-60", "--duration", duration,
            "-o", str(target), "--force"]
    if target.suffix in (".ogg", ".opus", ".mp3"):
        args += ["--quality", "1"]  # larger files: the limits are met sooner
    return args


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if TMP_MARKER in p.name]


def assert_clean_failure(r_code: int, err: str, folder: Path, target: Path, code: int,
                         line: str | None = None) -> None:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert r_code == code, err
    if line is not None:
        assert line in lines[0], err
    assert leftovers(folder) == [target.name]
    assert target.read_bytes() == OLD


@pytest.fixture
def small_disk(tmp_path):
    """A 128 kB tmpfs (tests run as root in CI); skipped where mounting is not allowed."""
    folder = tmp_path / "disk"
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(folder)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip() or r.returncode})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.parametrize("ext", FORMATS)
def test_full_disk(small_disk, env, ext):
    target = small_disk / f"x.{ext}"
    target.write_bytes(OLD)
    r = subprocess.run(render_args(target, SHORT), capture_output=True, text=True, env=env,
                       timeout=300)
    assert_clean_failure(r.returncode, r.stderr, small_disk, target, 1,
                         f"disk full while writing x.{ext}; nothing was written")


@pytest.mark.parametrize("ext", FORMATS)
def test_file_size_limit(tmp_path, env, ext):
    target = tmp_path / f"x.{ext}"
    target.write_bytes(OLD)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    r = subprocess.run(render_args(target, SHORT), capture_output=True, text=True, env=env,
                       timeout=300, preexec_fn=limit)
    assert_clean_failure(r.returncode, r.stderr, tmp_path, target, 1,
                         f"file size limit reached while writing x.{ext} (see ulimit -f); "
                         f"nothing was written")


def start_and_wait_for_temps(target: Path, env, duration: str = "5m") -> subprocess.Popen:
    """Start a render and return once it has written into a temporary file."""
    proc = subprocess.Popen(render_args(target, duration), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while True:
        sizes = []
        for p in temps(target.parent):
            try:
                sizes.append(p.stat().st_size)
            except FileNotFoundError:
                pass
        if any(sizes):
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"the render ended first: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("no temporary file was written")
        time.sleep(0.002)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("ext", FORMATS)
def test_signal_mid_render(tmp_path, env, ext, signum):
    target = tmp_path / f"x.{ext}"
    target.write_bytes(OLD)
    proc = start_and_wait_for_temps(target, env)
    try:
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_clean_failure(proc.returncode, err, tmp_path, target, 130,
                         "sointu: error: interrupted")


def test_killed_render_leftovers_removed_by_the_next_render(tmp_path, env):
    target = tmp_path / "x.opus"  # parallel parts and the target's temporary file
    proc = start_and_wait_for_temps(target, env)
    proc.kill()
    proc.wait()
    left = temps(tmp_path)
    assert left, "a killed render leaves its temporary files"
    # what must stay: a live process's temporary file, one of another computer, and files
    # that only look a little like sointu's
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        keep = [f".sointu-tmp-{left[0].name.split('-')[2]}-{sleeper.pid}-0123abcd.flac",
                ".sointu-tmp-zzzz-1-0123abcd.flac", ".x.flac.sointu-tmp-0123abcd.flac",
                "notes.sointu-tmp-.txt"]
        for name in keep:
            (tmp_path / name).write_bytes(b"keep")
        r = subprocess.run(render_args(tmp_path / "y.flac", "10s"), capture_output=True,
                           text=True, env=env, timeout=300)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"sointu: removed {len(left)} temporary files (")
    assert f"left in {tmp_path} by a sointu render that was killed" in lines[0]
    assert lines[1].startswith("wrote ")
    assert sorted(p.name for p in temps(tmp_path)) == sorted(
        n for n in keep if TMP_MARKER in n)
    assert not any(p.exists() for p in left)
    assert sf.info(str(tmp_path / "y.flac")).frames == 10 * 48000


def name_of(n_bytes: int, ext: str = ".flac", letter: str = "a") -> str:
    """A file name of exactly ``n_bytes`` UTF-8 bytes."""
    stem = letter * ((n_bytes - len(ext)) // len(letter.encode()))
    stem += "b" * (n_bytes - len(ext) - len(stem.encode()))
    name = stem + ext
    assert len(name.encode()) == n_bytes
    return name


@pytest.mark.parametrize("n_bytes", [216, 241])
def test_long_legal_names_work(tmp_path, env, n_bytes):
    # legal: the name and its .chapters.json sidecar (14 bytes more) fit in 255 bytes
    target = tmp_path / name_of(n_bytes)
    r = subprocess.run(render_args(target, "10s"), capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert sf.info(str(target)).frames == 10 * 48000
    assert (tmp_path / (target.name + ".chapters.json")).is_file()
    assert temps(tmp_path) == []


@pytest.mark.parametrize("n_bytes, letter, words", [
    (242, "a", "beside it would be 256 bytes and {folder} allows at most 255; choose a name "
               "of at most 241 bytes (UTF-8)"),
    (300, "ä", "the name is 300 bytes long (UTF-8) and {folder} allows at most 255 bytes"),
    (2000, "a", "the name is 2000 bytes long (UTF-8)"),
])
def test_too_long_names_one_line(tmp_path, env, n_bytes, letter, words):
    target = tmp_path / name_of(n_bytes, letter=letter)
    r = subprocess.run(render_args(target, "10s"), capture_output=True, text=True, env=env,
                       timeout=300)
    assert "Traceback" not in r.stderr
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words.format(folder=tmp_path) in lines[0], r.stderr
    assert leftovers(tmp_path) == []
