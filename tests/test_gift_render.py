"""Gifts rendered for real: tags read back, bit-identical re-renders, batches that resume, and
a batch interrupted with SIGINT that leaves only complete files and a valid manifest."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sointu.cli import main
from sointu.delivery import MANIFEST_COLUMNS, gift_seed
from sointu.rendering.atomic import TMP_MARKER
from sointu.session.presets import load_session_preset

SOINTU = [sys.executable, "-m", "sointu"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path_factory.mktemp("gain-cache")))


def tags_of(path: Path) -> dict:
    with sf.SoundFile(path) as f:
        return f.copy_metadata()


def samples(path: Path) -> np.ndarray:
    data, rate = sf.read(path, dtype="int32")
    assert rate == 48000
    return data


def manifest(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == MANIFEST_COLUMNS
        return list(reader)


def gift_files(folder: Path) -> list[Path]:
    """Complete gift files (pathlib's glob would also match hidden temporary files)."""
    return sorted(p for p in folder.glob("*.flac") if not p.name.startswith("."))


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if TMP_MARKER in p.name]


def test_single_gift_tags_and_bit_identical_rerender(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["gift", "classic-60", "--for", "Maija Meikäläinen", "--from", "Pekka Ääninen",
          "--message", "Hyvää syntymäpäivää, ystävä!", "--duration", "30s"])
    err = capsys.readouterr().err
    first = tmp_path / "Sointurentoutus-Maijalle.flac"
    seed = gift_seed("Maija Meikäläinen", "classic-60")
    assert first.is_file()
    assert f"seed {seed}" in err and "Sointurentoutus - Maijalle" in err
    tags = tags_of(first)
    assert tags["title"] == "Sointurentoutus - Maijalle"
    assert tags["artist"] == "Pekka Ääninen"
    assert f"siemen {seed}" in tags["comment"]
    assert "lahja: Maija Meikäläinen; antaja: Pekka Ääninen; viesti: Hyvää syntymäpäivää, " \
           "ystävä!" in tags["comment"]
    # a Finnish gift's comment is all Finnish (issue 17)
    assert tags["comment"].startswith("esiasetus classic-60; siemen ")
    assert "kesto 0:30" in tags["comment"]
    assert not {"preset", "seed", "length", "gift", "from"} & set(
        tags["comment"].replace(";", " ").split())

    # the same recipient written differently: same seed, same audio, a new file name
    main(["gift", "classic-60", "--for", "  maija  MEIKÄLÄINEN", "--duration", "30s"])
    second = tmp_path / "Sointurentoutus-maijalle.flac"
    assert second.is_file()
    assert tags_of(second)["comment"].count(f"siemen {seed}") == 1
    a, b = samples(first), samples(second)
    assert a.shape == (30 * 48000, 2)
    assert np.abs(a).max() > 1000  # real sound, not silence
    assert np.array_equal(a, b)

    # the first file was never touched; a third render gets a new name
    before = first.read_bytes()
    main(["gift", "classic-60", "--for", "Maija", "--duration", "30s", "--lang", "en"])
    assert (tmp_path / "Sound-relaxation-for-Maija.flac").is_file()
    main(["gift", "classic-60", "--for", "Maija M", "--duration", "30s", "--lang", "en"])
    third = tmp_path / "Sound-relaxation-for-Maija-2.flac"
    assert tags_of(third)["title"] == "Sound relaxation for Maija"
    assert "gift for Maija M" in tags_of(third)["comment"]
    assert tags_of(third)["comment"].startswith("preset classic-60; seed ")
    assert not {"esiasetus", "siemen", "kesto", "lahja:"} & set(tags_of(third)["comment"].split())
    assert first.read_bytes() == before
    # another recipient, another session
    assert not np.array_equal(samples(third)[: 48000 * 10], a[: 48000 * 10])


def test_seed_option_overrides_and_title_option(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["gift", "gift-30", "--for", "Jussi", "--seed", "7", "--duration", "30s",
          "--title", "Jussin oma rentoutus", "-o", "jussi.wav", "--bit-depth", "16"])
    assert "seed 7" in capsys.readouterr().err
    tags = tags_of(tmp_path / "jussi.wav")
    assert tags["title"] == "Jussin oma rentoutus"
    assert "siemen 7;" in tags["comment"] and "lahja: Jussi" in tags["comment"]
    # the render command with seed 7 gives the same audio (gifts are made for headphones)
    main(["render", "gift-30", "--seed", "7", "--duration", "30s", "-o", "plain.wav",
          "--bit-depth", "16", "--mix", "headphones"])
    assert np.array_equal(samples(tmp_path / "jussi.wav"), samples(tmp_path / "plain.wav"))


def test_single_gift_into_a_folder_and_never_overwrites(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gifts").mkdir()
    main(["gift", "gift-30", "--for", "Aleksander", "--duration", "30s", "-o", "gifts"])
    made = tmp_path / "gifts" / "Sointulahja-Aleksanderille.flac"
    assert made.is_file()
    made_bytes = made.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["gift", "gift-30", "--for", "Aleksander", "--duration", "30s",
              "-o", str(made)])
    assert info.value.code == 2  # an existing target is a bad option (README: exit codes)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err
    assert made.read_bytes() == made_bytes


def test_single_gift_force_overwrites_the_default_name_and_folder_slash(tmp_path,
                                                                      monkeypatch, capsys):
    """--force without -o overwrites the default name instead of writing ...-2.flac, and
    -o DIR/ for a folder that does not exist is one line (issue 17)."""
    monkeypatch.chdir(tmp_path)
    made = tmp_path / "Sointulahja-Aleksanderille.flac"
    made.write_bytes(b"old")
    main(["gift", "gift-30", "--for", "Aleksander", "--duration", "10s", "--force"])
    assert sorted(p.name for p in tmp_path.glob("*.flac")) == [made.name]
    assert made.stat().st_size > 1000
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["gift", "gift-30", "--for", "Aleksander", "--duration", "10s",
              "-o", "nothere/"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "output folder nothere/ does not exist" in err


def write_clients(path: Path) -> None:
    path.write_text("name,from,message,lang\n"
                    "Maija Meikäläinen,Pekka,Hyvää joulua!,\n"
                    "Aleksander,,,en\n"
                    "Jussi,Aino,\"Kiitos, ystävä\",fi\n", encoding="utf-8")


EXPECTED = {
    "Sointurentoutus-Maijalle.flac": ("Maija Meikäläinen", "Sointurentoutus - Maijalle"),
    "Sound-relaxation-for-Aleksander.flac": ("Aleksander", "Sound relaxation for Aleksander"),
    "Sointurentoutus-Jussille.flac": ("Jussi", "Sointurentoutus - Jussille"),
}


def run(args, cwd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(SOINTU + args, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())


def target_lufs() -> float:
    return load_session_preset("classic-60").defaults.loudness_lufs


def test_batch_renders_resumes_and_skips(tmp_path):
    write_clients(tmp_path / "clients.csv")
    out = tmp_path / "out"
    out.mkdir()
    args = ["gift", "classic-60", "--clients", "clients.csv", "-o", "out", "--jobs", "2",
            "--duration", "30s"]
    r = run(args, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    files = sorted(p.name for p in gift_files(out))
    assert files == sorted(EXPECTED)
    assert temp_files(out) == []
    rows = manifest(out)
    assert [row["file"] for row in rows] == list(EXPECTED)  # the clients' order
    for row in rows:
        recipient, title = EXPECTED[row["file"]]
        assert (row["recipient"], row["title"], row["status"]) == (recipient, title, "rendered")
        assert int(row["seed"]) == gift_seed(recipient, "classic-60")
        assert float(row["loudness_lufs"]) == pytest.approx(target_lufs(), abs=0.5)
        assert float(row["true_peak_dbtp"]) <= -1.0
        tags = tags_of(out / row["file"])
        assert tags["title"] == title
        seed_word = "siemen" if row["file"].startswith("Sointu") else "seed"
        assert f"{seed_word} {row['seed']}" in tags["comment"]
    assert tags_of(out / "Sointurentoutus-Maijalle.flac")["artist"] == "Pekka"
    assert "viesti: Kiitos, ystävä" in tags_of(out / "Sointurentoutus-Jussille.flac")["comment"]
    audio = {name: samples(out / name) for name in EXPECTED}

    # second run: everything is there, nothing is rendered or touched
    stat = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in gift_files(out)}
    r2 = run(args, tmp_path)
    assert r2.returncode == 0, r2.stderr
    assert r2.stderr.count("skipped") == 3 + 1  # three gifts and the summary line
    assert "0 written, 3 skipped, 0 failed" in r2.stderr
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in gift_files(out)} == stat
    rows2 = manifest(out)
    assert [r["status"] for r in rows2] == ["skipped"] * 3
    keep = ("file", "recipient", "seed", "title", "loudness_lufs", "true_peak_dbtp")
    assert [{k: r[k] for k in keep} for r in rows2] == [{k: r[k] for k in keep} for r in rows]

    # one gift deleted: only that one is rendered again, identical to before
    gone = out / "Sound-relaxation-for-Aleksander.flac"
    gone.unlink()
    r3 = run(args, tmp_path)
    assert r3.returncode == 0, r3.stderr
    assert "1 written, 2 skipped, 0 failed" in r3.stderr
    for name, (mtime, data) in stat.items():
        if name != gone.name:
            assert (out / name).stat().st_mtime_ns == mtime
            assert (out / name).read_bytes() == data
    assert np.array_equal(samples(gone), audio[gone.name])
    rows3 = manifest(out)
    assert [r["status"] for r in rows3] == ["skipped", "rendered", "skipped"]
    assert temp_files(out) == []


@pytest.mark.parametrize("group", [False, True], ids=["kill-parent", "terminal-ctrl-c"])
def test_batch_interrupted_leaves_only_complete_files(tmp_path, group):
    names = ["Aino", "Eino", "Ilmari", "Kaisa", "Lauri", "Minna"]
    (tmp_path / "clients.csv").write_text("name\n" + "\n".join(names) + "\n", "utf-8")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(SOINTU + ["gift", "classic-60", "--clients", "clients.csv",
                                      "-o", "out", "--jobs", "2", "--duration", "60s"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not gift_files(out):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        if group:  # Ctrl-C in a terminal: every process of the group gets SIGINT
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "sointu: error: interrupted"
    assert temp_files(out) == []
    flacs = [p.name for p in gift_files(out)]
    assert 1 <= len(flacs) < len(names)
    rows = manifest(out)
    assert sorted(r["file"] for r in rows) == flacs
    for row in rows:
        data = samples(out / row["file"])  # complete and decodable
        assert data.shape == (60 * 48000, 2)
        assert row["status"] == "rendered"
        assert float(row["loudness_lufs"]) == pytest.approx(target_lufs(), abs=0.5)
        assert int(row["seed"]) == gift_seed(row["recipient"], "classic-60")
    # and the batch resumes from there
    r = run(["gift", "classic-60", "--clients", "clients.csv", "-o", "out", "--jobs", "2",
             "--duration", "60s"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"{len(names) - len(flacs)} written, {len(flacs)} skipped" in r.stderr
    assert len(manifest(out)) == len(names)
    assert temp_files(out) == []


def _worker_with_pending_ctrl_c(path):
    """A batch worker whose Ctrl-C came while the parent had it blocked (during the fork)."""
    from types import SimpleNamespace

    from sointu.delivery import batch as gifts

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    os.kill(os.getpid(), signal.SIGINT)  # pending until the worker unblocks it

    def render_one(gift):
        raise AssertionError("the interrupt must come first")

    gifts._child(render_one, SimpleNamespace(path=path), None)


def test_worker_ctrl_c_pending_at_start_exits_130_quietly(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_worker_with_pending_ctrl_c, args=(tmp_path / "a.flac",))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 130  # a traceback from the unblocking line would give 1
