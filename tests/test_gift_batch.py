"""Gift batches that resume honestly: a file counts only when it is its gift and complete,
a failing row does not stop the others, and the manifest is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sointu.delivery import (
    MANIFEST_COLUMNS,
    Client,
    Gift,
    GiftResult,
    from_spreadsheet_cell,
    gift_file_problem,
    plan_gifts,
    read_manifest,
    run_batch,
    spreadsheet_cell,
    write_manifest,
)
from sointu.errors import OutputError, UsageError
from sointu.rendering.atomic import TMP_MARKER, atomic_output
from sointu.session.presets import load_session_preset

SOINTU = [sys.executable, "-m", "sointu"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("gain-cache")
    return dict(os.environ, SOINTU_CACHE_DIR=str(cache), PYTHONDONTWRITEBYTECODE="1")


def raw_manifest(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == MANIFEST_COLUMNS
        return list(reader)


def temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if TMP_MARKER in p.name]


# --------------------------------------------------------------------------- CSV injection

FORMULAS = ["=HYPERLINK(\"http://example.com\",\"click\")", "+Maija", "-Maija", "@SUM(A1)",
            "\tMaija", "\rMaija", "'=already quoted", "'Maija"]


@pytest.mark.parametrize("text", FORMULAS)
def test_formula_cells_are_neutralised_and_read_back(text):
    cell = spreadsheet_cell(text)
    assert cell == "'" + text
    assert from_spreadsheet_cell(cell) == text


@pytest.mark.parametrize("text", ["Maija", "-16.00", "+1.5", "-0.5e3", "12", "", "Ä=b"])
def test_plain_text_and_numbers_unchanged(text):
    assert spreadsheet_cell(text) == text
    assert from_spreadsheet_cell(text) == text


def test_manifest_written_safe_and_read_back_as_given(tmp_path):
    rows = [{"file": f"g{i}.flac", "recipient": name, "seed": "1", "title": f"T {name}",
             "loudness_lufs": "-16.00", "true_peak_dbtp": "-1.50", "status": "rendered"}
            for i, name in enumerate(FORMULAS)]
    rows.append({"file": "=evil.flac", "recipient": "Maija", "status": "failed",
                 "note": "-Infinity and beyond"})
    write_manifest(tmp_path / "manifest.csv", rows)
    raw = raw_manifest(tmp_path)
    for row in raw:  # what a spreadsheet sees: no cell starts a formula
        for key, cell in row.items():
            if key not in ("loudness_lufs", "true_peak_dbtp"):
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (key, cell)
    assert raw[0]["loudness_lufs"] == "-16.00"  # numbers stay numbers
    back = read_manifest(tmp_path / "manifest.csv")
    assert [back[r["file"]]["recipient"] for r in rows] == FORMULAS + ["Maija"]
    assert back["=evil.flac"]["note"] == "-Infinity and beyond"


# --------------------------------------------------------------------------- a failing row


def fake_gifts(folder: Path, n: int) -> list[Gift]:
    return [Gift(row=i + 2, recipient=f"R{i}", sender=None, message=None, lang="en",
                 title=f"T{i}", seed=i, path=folder / f"g{i}.flac") for i in range(n)]


def render_or_fail(gift: Gift) -> GiftResult:
    """A stand-in render: writes the gift atomically; row 3 fails."""
    if gift.row == 3:
        raise OutputError("disk on fire while writing g1.flac; nothing was written")
    with atomic_output(gift.path, force=gift.redo) as tmp:
        tmp.write_bytes(b"audio of " + gift.title.encode())
    return GiftResult(loudness_lufs=-16.0, true_peak_dbtp=-1.5)


def test_a_failing_row_does_not_stop_the_batch(tmp_path):
    gifts = fake_gifts(tmp_path, 5)
    events = []
    result = run_batch(gifts, render_or_fail, tmp_path, jobs=1,
                       report=lambda event, g, detail: events.append((event, g.row)))
    assert [g.row for g in result.rendered] == [2, 4, 5, 6]
    assert [(g.row, why) for g, why in result.failed] == [
        (3, "disk on fire while writing g1.flac; nothing was written")]
    assert result.not_started == []
    assert ("failed", 3) in events and ("rendered", 6) in events
    assert sorted(p.name for p in tmp_path.glob("g*.flac")) == ["g0.flac", "g2.flac",
                                                                 "g3.flac", "g4.flac"]
    rows = {r["file"]: r for r in raw_manifest(tmp_path)}
    assert rows["g1.flac"]["status"] == "failed"
    assert rows["g1.flac"]["note"] == "disk on fire while writing g1.flac; nothing was written"
    assert [rows[f"g{i}.flac"]["status"] for i in (0, 2, 3, 4)] == ["rendered"] * 4
    assert temps(tmp_path) == []

    # run again: only the failed row is tried (it fails again), the rest is kept
    events.clear()
    result = run_batch(gifts, render_or_fail, tmp_path, jobs=2,
                       report=lambda event, g, detail: events.append((event, g.row)))
    assert sorted(events) == [("failed", 3), ("skipped", 2), ("skipped", 4), ("skipped", 5),
                              ("skipped", 6)]
    assert raw_manifest(tmp_path)[1]["status"] == "failed"


def test_a_file_that_is_not_its_gift_is_made_again(tmp_path):
    gifts = fake_gifts(tmp_path, 3)
    for g in gifts:
        g.path.write_bytes(b"someone else's")
    (tmp_path / "g0.flac.cue").write_bytes(b"old cue")
    events = []
    result = run_batch(gifts, render_or_fail, tmp_path, jobs=1,
                       check=lambda g: None if g.row == 2 else "its seed is not 7",
                       report=lambda event, g, detail: events.append((event, g.row, detail)))
    assert ("redo", 4, "its seed is not 7") in events and ("skipped", 2, None) in events
    assert (tmp_path / "g0.flac").read_bytes() == b"someone else's"  # counted as done
    assert (tmp_path / "g2.flac").read_bytes() == b"audio of T2"  # replaced
    assert (tmp_path / "g1.flac").read_bytes() == b"someone else's"  # row 3 failed: kept
    assert [g.row for g in result.rendered] == [4]
    rows = {r["file"]: r for r in raw_manifest(tmp_path)}
    assert rows["g1.flac"]["status"] == "failed"


# --------------------------------------------------------------------------- real renders


def write_clients(path: Path, names, files=None) -> None:
    lines = ["name,file"] + [f"{n},{f}" for n, f in zip(names, files, strict=True)]
    path.write_text("\n".join(lines) + "\n", "utf-8")


def run(args, cwd, env) -> subprocess.CompletedProcess:
    return subprocess.run(SOINTU + args, cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def samples(path: Path) -> np.ndarray:
    return sf.read(path, dtype="int32")[0]


def test_resume_remakes_files_that_are_not_their_gift(tmp_path, env):
    names, files = ["Aino", "Eino", "Ilmari", "Kaisa"], ["a.flac", "e.flac", "i.flac", "k.wav"]
    write_clients(tmp_path / "clients.csv", names, files)
    out = tmp_path / "out"
    out.mkdir()
    args = ["gift", "classic-60", "--clients", "clients.csv", "-o", "out", "--jobs", "2",
            "--duration", "10s"]
    r = run(args, tmp_path, env)
    assert r.returncode == 0, r.stderr
    good = {f: samples(out / f) for f in files}
    mtime = (out / "i.flac").stat().st_mtime_ns

    (out / "a.flac").write_bytes(b"")  # empty
    data = (out / "e.flac").read_bytes()
    (out / "e.flac").write_bytes(data[: len(data) // 2])  # cut short
    (out / "k.wav").write_bytes((out / "i.flac").read_bytes())  # another format
    r = run(args, tmp_path, env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "row 2: a.flac is there but is not this gift (it is empty (0 bytes)); making " \
           "it again (the old file is replaced when the new one is complete)" in r.stderr
    assert "row 3: e.flac is there but is not this gift (it " in r.stderr
    assert "row 5: k.wav is there but is not this gift (it is FLAC PCM_24, planned WAV " \
           "PCM_24)" in r.stderr
    assert "3 written, 1 skipped, 0 failed" in r.stderr
    for f in files:
        assert np.array_equal(samples(out / f), good[f]), f
    assert (out / "i.flac").stat().st_mtime_ns == mtime  # the good one was not touched
    assert [r["status"] for r in raw_manifest(out) if r["file"] in files] == [
        "rendered", "rendered", "skipped", "rendered"]
    assert temps(out) == []

    # the tags must name the gift: seed, preset, title
    preset = load_session_preset("classic-60")
    gift = plan_gifts([Client(row=2, name="Ilmari", lang="fi", file="i.flac")], preset, out,
                      sample_rate=48000, frames=480000)[0]
    check = dict(preset_name="classic-60", frames=480000, sample_rate=48000)
    assert gift_file_problem(gift, **check) is None
    assert gift_file_problem(replace(gift, seed=gift.seed + 1), **check) == \
        f"its seed is not {gift.seed + 1}"
    assert gift_file_problem(gift, **{**check, "preset_name": "gift-30"}) == \
        "it is not of preset gift-30"
    assert gift_file_problem(replace(gift, title="Other"), **check).startswith(
        "its title is 'Sointurentoutus - Ilmarille', planned 'Other'")

    # another length: every gift is made again
    r = run(args[:-1] + ["12s"], tmp_path, env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("is there but is not this gift (it is 480000 frames long, "
                          "planned 576000)") == 4
    assert "4 written, 0 skipped" in r.stderr
    assert sf.info(str(out / "i.flac")).frames == 12 * 48000

    # the tags name the mix too: the speaker mix of the same gifts is made again
    check["frames"] = 12 * 48000  # the files now
    assert gift_file_problem(gift, **check, mix="headphones") is None
    assert gift_file_problem(gift, **check, mix="speakers") == \
        "it is the headphones mix, planned speakers"
    r = run(args[:-1] + ["12s", "--mix", "speakers"], tmp_path, env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("(it is the headphones mix, planned speakers)") == 4
    assert "4 written, 0 skipped" in r.stderr
    r = run(args[:-1] + ["12s", "--mix", "speakers"], tmp_path, env)
    assert "0 written, 4 skipped" in r.stderr


def test_a_failing_row_does_not_stop_a_real_batch(tmp_path, env):
    names, files = ["Aino", "Eino", "Ilmari"], ["a.flac", "e.flac", "i.flac"]
    write_clients(tmp_path / "clients.csv", names, files)
    out = tmp_path / "out"
    out.mkdir()
    (out / "e.flac.cue").mkdir()  # row 3 cannot be written
    args = ["gift", "classic-60", "--clients", "clients.csv", "-o", "out", "--jobs", "1",
            "--duration", "10s"]
    r = run(args, tmp_path, env)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("sointu: error: 1 gift failed, the others are done")
    assert "row 3 (Eino): " in last and "e.flac.cue is a folder" in last
    assert "2 written, 0 skipped, 1 failed" in r.stderr
    assert (out / "a.flac").is_file() and (out / "i.flac").is_file()
    assert not (out / "e.flac").exists()
    rows = {row["file"]: row for row in raw_manifest(out)}
    assert rows["e.flac"]["status"] == "failed" and "is a folder" in rows["e.flac"]["note"]
    assert temps(out) == []

    (out / "e.flac.cue").rmdir()
    r = run(args, tmp_path, env)
    assert r.returncode == 0, r.stderr
    assert "1 written, 2 skipped, 0 failed" in r.stderr
    assert [row["status"] for row in raw_manifest(out)] == ["skipped", "rendered", "skipped"]


# --------------------------------------------------------------------------- name lengths


def plan(folder: Path, file: str):
    preset = load_session_preset("classic-60")
    return plan_gifts([Client(row=2, name="Maija", lang="fi", file=file)], preset, folder,
                      source="clients.csv", sample_rate=48000, frames=48000)


def test_gift_file_names_checked_in_bytes(tmp_path):
    ok = "a" * 236 + ".flac"  # 241 bytes: with '.chapters.json' 255
    assert plan(tmp_path, ok)[0].path.name == ok
    with pytest.raises(UsageError) as info:
        plan(tmp_path, "ä" * 120 + ".flac")  # 120 characters, 245 bytes
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("clients.csv: row 2, column 'file': cannot write")
    assert "choose a name of at most 241 bytes" in msg


def test_closing_the_terminal_stops_a_batch_cleanly(tmp_path, env):
    """SIGHUP (the terminal window closed) stops a batch as Ctrl-C does."""
    import signal
    import time

    names = ["Aino", "Eino", "Ilmari", "Kaisa", "Lauri", "Minna"]
    (tmp_path / "clients.csv").write_text("name\n" + "\n".join(names) + "\n", "utf-8")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(SOINTU + ["gift", "classic-60", "--clients", "clients.csv",
                                      "-o", "out", "--jobs", "2", "--duration", "60s"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not any(p.suffix == ".flac" and not p.name.startswith(".")
                      for p in out.iterdir()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "sointu: error: interrupted"
    assert temps(out) == []
    made = sorted(p.name for p in out.glob("*.flac") if not p.name.startswith("."))
    assert 1 <= len(made) < len(names)
    assert sorted(r["file"] for r in raw_manifest(out)) == made
    for name in made:
        assert sf.info(str(out / name)).frames == 60 * 48000
