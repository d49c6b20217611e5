"""Atomic output: checks before work, temp + rename, cleanup on every kind of failure."""

from __future__ import annotations

import errno
import os
import signal

import pytest

from audio_measure import temp_files_in
from sointu.errors import OutputError
from sointu.rendering import atomic
from sointu.rendering.atomic import (
    TMP_MARKER,
    atomic_output,
    atomic_outputs,
    check_target,
)
from sointu.signals import Terminated, raise_on_sigterm

OLD = b"old session, must survive"


def one_line(exc) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg
    return msg


def test_check_target_missing_folder(tmp_path):
    with pytest.raises(OutputError) as info:
        check_target(tmp_path / "nope" / "out.flac", force=False)
    msg = one_line(info.value)
    assert "does not exist" in msg and "nope" in msg


def test_check_target_path_is_folder(tmp_path):
    (tmp_path / "x.wav").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        check_target(tmp_path / "x.wav", force=True)


def test_check_target_existing_file(tmp_path):
    target = tmp_path / "out.flac"
    target.write_bytes(OLD)
    with pytest.raises(OutputError) as info:
        check_target(target, force=False)
    assert "already exists" in one_line(info.value) and "--force" in str(info.value)
    assert check_target(target, force=True) == target
    assert target.read_bytes() == OLD


def test_check_target_refuses_to_replace_non_regular_file(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="not a regular file"):
        check_target(fifo, force=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to any folder")
def test_check_target_unwritable_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            check_target(folder / "a.wav", force=False)
    finally:
        folder.chmod(0o755)


def test_success_renames_hidden_temp_into_place(tmp_path):
    target = tmp_path / "out.flac"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path
        # hidden, short whatever the target's name, with this process's id in it
        assert tmp.name.startswith(TMP_MARKER) and f"-{os.getpid()}-" in tmp.name
        assert len(tmp.name) <= 45
        assert tmp.suffix == ".flac"
        assert tmp.exists() and not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert temp_files_in(tmp_path) == []
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3), ValueError("bug"),
                                 Terminated()])
def test_any_exception_removes_temp_and_reraises(tmp_path, exc):
    target = tmp_path / "out.wav"
    target.write_bytes(OLD)
    with pytest.raises(type(exc)):
        with atomic_output(target, force=True) as tmp:
            tmp.write_bytes(b"partial")
            raise exc
    assert target.read_bytes() == OLD
    assert temp_files_in(tmp_path) == []


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "disk full while writing out.flac; nothing was written"),
    (errno.EFBIG, "file size limit reached while writing out.flac"),
    (errno.EDQUOT, "disk quota exceeded"),
    (errno.EIO, "input/output error"),
])
def test_os_error_becomes_one_line_output_error(tmp_path, code, words):
    target = tmp_path / "out.flac"
    target.write_bytes(OLD)
    with pytest.raises(OutputError) as info:
        with atomic_output(target, force=True) as tmp:
            tmp.write_bytes(b"partial")
            raise OSError(code, os.strerror(code))
    assert words in one_line(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert target.read_bytes() == OLD
    assert temp_files_in(tmp_path) == []


def test_target_created_meanwhile_is_never_overwritten(tmp_path):
    target = tmp_path / "out.mp3"
    with pytest.raises(OutputError) as info:
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"ours")
            target.write_bytes(OLD)  # another process got there first
    assert "appeared while writing" in one_line(info.value)
    assert target.read_bytes() == OLD
    assert temp_files_in(tmp_path) == []


def test_no_clobber_without_hard_links(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "link", no_link)
    target = tmp_path / "out.ogg"
    with atomic_output(target) as tmp:
        tmp.write_bytes(b"ours")
    assert target.read_bytes() == b"ours"
    other = tmp_path / "other.ogg"
    with pytest.raises(OutputError, match="appeared while writing"):
        with atomic_output(other) as tmp:
            other.write_bytes(OLD)
    assert other.read_bytes() == OLD
    assert temp_files_in(tmp_path) == []


def test_force_replaces(tmp_path):
    target = tmp_path / "out.wav"
    target.write_bytes(OLD)
    with atomic_output(target, force=True) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_several_files_appear_together_or_not_at_all(tmp_path):
    audio, cue = tmp_path / "a.flac", tmp_path / "a.flac.cue"
    with pytest.raises(OutputError, match="a.flac.cue appeared"):
        with atomic_outputs([audio, cue]) as (t_audio, t_cue):
            t_audio.write_bytes(b"audio")
            t_cue.write_bytes(b"cue")
            cue.write_bytes(OLD)
    assert not audio.exists()  # placed first, then rolled back
    assert cue.read_bytes() == OLD
    assert temp_files_in(tmp_path) == []
    cue.unlink()
    with atomic_outputs([audio, cue]) as (t_audio, t_cue):
        t_audio.write_bytes(b"audio")
        t_cue.write_bytes(b"cue")
    assert audio.read_bytes() == b"audio" and cue.read_bytes() == b"cue"


def test_existing_sidecar_stops_before_any_work(tmp_path):
    (tmp_path / "a.flac.cue").write_bytes(OLD)
    with pytest.raises(OutputError, match="a.flac.cue already exists"):
        with atomic_outputs([tmp_path / "a.flac", tmp_path / "a.flac.cue"]):
            raise AssertionError("must not start")
    assert temp_files_in(tmp_path) == []


def test_sigxfsz_ignored_while_writing_then_restored(tmp_path):
    before = signal.getsignal(signal.SIGXFSZ)
    with atomic_output(tmp_path / "a.wav") as tmp:
        assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
        tmp.write_bytes(b"x")
    assert signal.getsignal(signal.SIGXFSZ) == before


def test_raise_on_sigterm_cleans_up_and_restores(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    target = tmp_path / "a.flac"
    target.write_bytes(OLD)
    with pytest.raises(KeyboardInterrupt) as info:
        with raise_on_sigterm():
            with atomic_output(target, force=True) as tmp:
                tmp.write_bytes(b"partial")
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):  # the handler runs between bytecodes
                    pass
    assert isinstance(info.value, Terminated)
    assert signal.getsignal(signal.SIGTERM) == before
    assert target.read_bytes() == OLD
    assert temp_files_in(tmp_path) == []


def test_check_target_unwritable_folder_message(tmp_path, monkeypatch):
    # the same check as above, usable when the tests run as root
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)
    with pytest.raises(OutputError) as info:
        check_target(tmp_path / "a.wav", force=False)
    assert "is not writable" in one_line(info.value) and str(tmp_path) in str(info.value)


def test_names_too_long_in_bytes_one_line(tmp_path):
    with pytest.raises(OutputError) as info:  # a folder name the system cannot look up
        check_target(tmp_path / ("d" * 300) / "x.flac", force=False)
    assert "File name too long" in one_line(info.value)
    with pytest.raises(OutputError) as info:  # 132 characters, 260 bytes
        check_target(tmp_path / ("ö" * 128 + ".wav"), force=False)
    assert "the name is 260 bytes long (UTF-8)" in one_line(info.value)
    check_target(tmp_path / ("ö" * 125 + ".wav"), force=False)  # 254 bytes: fine
    with atomic_output(tmp_path / ("ö" * 125 + ".wav")) as tmp:  # the temporary name fits
        tmp.write_bytes(b"x")
    assert (tmp_path / ("ö" * 125 + ".wav")).read_bytes() == b"x"


def test_stale_temps_removed_only_when_their_process_is_gone(tmp_path):
    import subprocess

    from sointu.rendering.atomic import new_temp, remove_stale_temps, remove_temps_of

    mine = new_temp(tmp_path, ".flac")
    gone = subprocess.run(["true"])  # a process that has ended: its pid is free
    child = subprocess.Popen(["sleep", "30"])
    try:
        host = mine.name.split("-")[2]
        dead = tmp_path / f"{TMP_MARKER}{host}-{2**22 + 12345}-0123abcd.opus"
        live = tmp_path / f"{TMP_MARKER}{host}-{child.pid}-0123abcd.opus"
        other_host = tmp_path / f"{TMP_MARKER}zzzz-{2**22 + 12345}-0123abcd.opus"
        for p in (dead, live, other_host):
            p.write_bytes(b"12345")
        said = []
        assert remove_stale_temps(tmp_path, say=said.append) == [dead]
        assert said == [f"removed 1 temporary file (0.0 MB) left in {tmp_path} by a sointu "
                        f"render that was killed"]
        assert mine.exists() and live.exists() and other_host.exists()
        assert remove_temps_of(tmp_path, child.pid) == [live]
    finally:
        child.kill()
        child.wait()
    assert gone.returncode == 0
