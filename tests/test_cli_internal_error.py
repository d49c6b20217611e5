"""A bug never reaches the user as a traceback (issue 16): one line, exit code 70, the
details in a report file, the partial output gone; and the suite fails any test that
takes that path without asking for it (``internal_errors`` in conftest.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio_measure import temp_files_in
from sointu.cli import INTERNAL_ERROR_EXIT, main
from sointu.session.audio import SessionAudio

_LINE = re.compile(r"^sointu: internal error: RuntimeError: injected bug after 3 blocks; "
                   r"details in (\S+)$")


def _break_the_render(monkeypatch) -> None:
    """Make the session's audio fail half-way through the file (as a bug would)."""
    blocks = SessionAudio.blocks

    def failing(self, *args, **kwargs):
        for i, block in enumerate(blocks(self, *args, **kwargs)):
            if i == 3:
                raise RuntimeError("injected bug after 3 blocks")
            yield block

    monkeypatch.setattr(SessionAudio, "blocks", failing)


def _render(out: Path, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main(["render", "gift-30", "--duration", "40s", "--seed", "2", "-o", str(out)])
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_a_bug_is_one_line_a_report_and_exit_70(tmp_path, monkeypatch, capsys,
                                                internal_errors, suffix):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(cache))
    _break_the_render(monkeypatch)
    out = tmp_path / "out" / f"session{suffix}"
    out.parent.mkdir()
    code, err = _render(out, capsys)
    assert code == INTERNAL_ERROR_EXIT == 70
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    report = Path(_LINE.match(lines[0]).group(1))
    assert report.parent == cache  # the gain cache's folder
    text = report.read_text("utf-8")
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: injected bug after 3 blocks" in text
    assert "in failing" in text  # where it happened
    assert f"command: sointu render gift-30 --duration 40s --seed 2 -o {out}" in text
    assert f"numpy: {np.__version__}" in text
    assert f"python: {sys.version.split()[0]}" in text
    assert re.search(r"^sointu: \d", text, re.M)
    # nothing half-written is left: no file, no temporary file
    assert list(out.parent.iterdir()) == [] and temp_files_in(out.parent) == []
    assert internal_errors() == [(str(report), lines[0].split("internal error: ")[1]
                                  .split("; details")[0])]


def test_report_goes_to_the_temporary_folder_when_the_cache_is_unwritable(
        tmp_path, monkeypatch, capsys, internal_errors):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(blocker / "cache"))  # cannot be made
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    _break_the_render(monkeypatch)
    code, err = _render(tmp_path / "x.wav", capsys)
    assert code == 70
    report = Path(_LINE.match(err.strip()).group(1))
    assert report.parent == tmp_path / "tmp" and report.is_file()
    assert not (tmp_path / "x.wav").exists()
    assert len(internal_errors()) == 1


def test_sointu_errors_are_not_internal_errors(tmp_path, monkeypatch, capsys):
    """A usage error keeps its own line and code (and makes no report)."""
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as stop:
        main(["render", "gift-30", "--seed", "-3", "-o", str(tmp_path / "x.wav")])
    assert stop.value.code not in (0, 70)
    assert "internal error" not in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").glob("*error*"))


# -- the guard: a test that takes the path without asking for it fails ----------------------

@pytest.mark.skipif(not os.environ.get("SOINTU_GUARD_SELFTEST"),
                    reason="run by test_the_suite_fails_a_test_that_hits_an_internal_error")
def test_hits_an_internal_error_without_asking(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    _break_the_render(monkeypatch)
    code, _ = _render(tmp_path / "x.wav", capsys)
    assert code == 70  # passes by itself: only the guard can fail it


def test_the_suite_fails_a_test_that_hits_an_internal_error():
    env = dict(os.environ, SOINTU_GUARD_SELFTEST="1")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"{__file__}::test_hits_an_internal_error_without_asking"],
                       capture_output=True, text=True, env=env, timeout=300,
                       cwd=Path(__file__).parent.parent)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 passed, 1 error" in r.stdout
    assert "the CLI reported an internal error" in r.stdout
    assert "injected bug after 3 blocks" in r.stdout
