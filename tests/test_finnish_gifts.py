"""Finnish gift titles end to end: short gifts rendered by the command, titles read back from
the files' tags, the manifest and the file names (issue 10)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from sointu.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path_factory.mktemp("gain-cache")))


def tags_of(path: Path) -> dict:
    with sf.SoundFile(path) as f:
        assert f.frames == 10 * 48000  # a real, complete render
        return f.copy_metadata()


def audio_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".flac")


def gift(args, capsys) -> str:
    main(["gift", "classic-60", "--duration", "10s", *args])
    return capsys.readouterr().err


def test_single_gifts_carry_the_right_form_in_title_tags_and_file_name(tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.chdir(tmp_path)
    err = gift(["--for", "Matti Virtanen", "--from", "Satu"], capsys)
    tags = tags_of(tmp_path / "Sointurentoutus-Matille.flac")
    assert tags["title"] == "Sointurentoutus - Matille"
    assert tags["comment"].startswith("esiasetus classic-60; siemen ")
    assert tags["comment"].endswith("lahja: Matti Virtanen; antaja: Satu")
    assert '"Sointurentoutus - Matille"' in err and "not known" not in err

    err = gift(["--for", "JUKKA-PEKKA"], capsys)
    assert tags_of(tmp_path / "Sointurentoutus-JUKKA-PEKALLE.flac")["title"] == \
        "Sointurentoutus - JUKKA-PEKALLE"

    # a name whose form is not certain: no ending, and the summary says so
    err = gift(["--for", "Klaus Müller"], capsys)
    assert tags_of(tmp_path / "Sointurentoutus-lahja-Klaus.flac")["title"] == \
        "Sointurentoutus - lahja: Klaus"
    summary = [line for line in err.splitlines() if "gift for Klaus" in line]
    assert len(summary) == 1
    assert "Finnish ending of 'Klaus' not known" in summary[0]
    assert "--for-allative" in summary[0]

    # the practitioner gives the form; --title overrides everything
    gift(["--for", "Klaus Müller", "--for-allative", "Klausille"], capsys)
    assert tags_of(tmp_path / "Sointurentoutus-Klausille.flac")["title"] == \
        "Sointurentoutus - Klausille"
    err = gift(["--for", "Sointu", "--for-allative", "Soinnulle", "--title", "Oma hetki"],
               capsys)
    assert tags_of(tmp_path / "Oma-hetki.flac")["title"] == "Oma hetki"
    assert "not known" not in err

    assert audio_files(tmp_path) == sorted([
        "Sointurentoutus-Matille.flac", "Sointurentoutus-JUKKA-PEKALLE.flac",
        "Sointurentoutus-lahja-Klaus.flac", "Sointurentoutus-Klausille.flac",
        "Oma-hetki.flac"])


@pytest.mark.parametrize("args", [
    ["--for", "..."], ["--for", "2024"], ["--for", "x" * 101], ["--for", "Ma\x00ija"],
    ["--for", "Matti", "--for-allative", "Mattia"],
])
def test_bad_names_render_nothing(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["gift", "classic-60", "--duration", "10s", *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sointu: error: --for")
    assert list(tmp_path.iterdir()) == []


def test_clients_file_allative_column_end_to_end(tmp_path):
    (tmp_path / "clients.csv").write_text(
        "name;name_fi_allative;lang\n"
        "Pekka Virtanen;;\n"
        "Dennis Ek;;\n"
        "Säde Laine;Säteelle;\n"
        "Satu;;en\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    r = subprocess.run([sys.executable, "-m", "sointu", "gift", "classic-60", "--clients",
                        "clients.csv", "-o", "out", "--duration", "10s", "--jobs", "2"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=os.environ.copy())
    assert r.returncode == 0, r.stderr
    expected = {
        "Sointurentoutus-Pekalle.flac": "Sointurentoutus - Pekalle",
        "Sointurentoutus-lahja-Dennis.flac": "Sointurentoutus - lahja: Dennis",
        "Sointurentoutus-Säteelle.flac": "Sointurentoutus - Säteelle",
        "Sound-relaxation-for-Satu.flac": "Sound relaxation for Satu",
    }
    assert audio_files(out) == sorted(expected)
    with open(out / "manifest.csv", encoding="utf-8", newline="") as f:
        rows = {row["file"]: row for row in csv.DictReader(f)}
    for name, title in expected.items():
        assert tags_of(out / name)["title"] == title
        assert rows[name]["title"] == title
    assert tags_of(out / "Sound-relaxation-for-Satu.flac")["comment"].startswith(
        "preset classic-60; seed ")
    dennis = [line for line in r.stderr.splitlines() if "lahja-Dennis" in line]
    assert len(dennis) == 1 and "Finnish ending of 'Dennis' not known" in dennis[0]
