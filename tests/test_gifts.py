"""Gift rules without rendering: titles, seeds, file names, the clients file, bad input."""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import pytest

from sointu.cli import main
from sointu.delivery import (
    Client,
    Gift,
    check_name,
    finnish_allative,
    gift_comment,
    gift_file_name,
    gift_seed,
    gift_title,
    normalise_name,
    plan_gifts,
    read_clients,
    safe_file_name,
    title_note,
    unique_path,
)
from sointu.errors import UsageError
from sointu.session.presets import load_session_preset


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path_factory.mktemp("gain-cache")))


@pytest.mark.parametrize("name, expected", [
    ("Maija", "Maijalle"),
    ("Jussi", "Jussille"),
    ("Aleksander", "Aleksanderille"),
    ("Niklas", "Niklakselle"),
    ("Pekka", "Pekalle"),  # consonant gradation (issue 10)
    ("Matti Virtanen", "Matille"),
    ("Jukka-Pekka Virtanen", "Jukka-Pekalle"),
    ("Klaus Müller", None),  # not known with confidence: no guessed form
    ("(Jukka-Pekka) Virtanen", "Jukka-Pekalle"),
    ("1. Maija", "Maijalle"),
    ("Maija, Meikäläinen", "Maijalle"),
    ("Väinö", "Väinölle"),
    ("Kyösti Ämmälä", "Kyöstille"),
    ("Anna-Liisa Virtanen", "Anna-Liisalle"),
    ("  Maija   Meikäläinen ", "Maijalle"),
    ("Chloé", "Chloélle"),
    ("MAIJA", "MAIJALLE"),
    ("Åsa", "Åsalle"),
])
def test_finnish_allative(name, expected):
    assert finnish_allative(name) == expected


def test_titles_from_preset_titles_and_defaults():
    classic = load_session_preset("classic-60")
    gift30 = load_session_preset("gift-30")
    assert gift_title(classic.title, "Maija", "fi") == "Sointurentoutus - Maijalle"
    assert gift_title(classic.title, "Maija", "en") == "Sound relaxation for Maija"
    assert gift_title(gift30.title, "Aleksander Stubb", "fi") == "Sointulahja - Aleksanderille"
    assert gift_title(gift30.title, "Aleksander Stubb", "en") == "A gift of sound for Aleksander"
    # no title in that language: the generic one
    assert gift_title({"en": "Deep rest"}, "Jussi", "fi") == "Sointurentoutus - Jussille"
    assert gift_title({"fi": "Syvä lepo"}, "Jussi", "en") == "Sound relaxation for Jussi"
    assert gift_title(None, "Jussi", "en") == "Sound relaxation for Jussi"
    with pytest.raises(UsageError, match="'sv' is not allowed; allowed: fi, en"):
        gift_title(classic.title, "Maija", "sv")


def test_finnish_titles_with_gradation_unknown_names_and_given_forms():
    classic = load_session_preset("classic-60")
    for name, title in [("Matti Virtanen", "Sointurentoutus - Matille"),
                        ("Satu", "Sointurentoutus - Sadulle"),
                        ("Johannes", "Sointurentoutus - Johannekselle"),
                        ("Jukka-Pekka", "Sointurentoutus - Jukka-Pekalle")]:
        assert gift_title(classic.title, name, "fi") == title
        assert title_note(name, "fi") is None
    # not known with confidence: a title that needs no inflection, and a note that says so
    assert gift_title(classic.title, "Klaus Müller", "fi") == "Sointurentoutus - lahja: Klaus"
    note = title_note("Klaus Müller", "fi")
    assert note.startswith("Finnish ending of 'Klaus' not known (both Klausille and "
                           "Klaukselle are in use)")
    assert "--for-allative" in note and "name_fi_allative" in note
    assert gift_file_name("Sointurentoutus - lahja: Klaus") == "Sointurentoutus-lahja-Klaus.flac"
    # the practitioner's form wins, and then there is nothing to note
    assert gift_title(classic.title, "Klaus", "fi", allative_form="Klausille") == \
        "Sointurentoutus - Klausille"
    assert title_note("Klaus", "fi", allative_form="Klausille") is None
    assert gift_title(classic.title, "Pekka", "fi", allative_form="Pekalle") == \
        "Sointurentoutus - Pekalle"
    # English titles never inflect, so never need a note
    assert gift_title(classic.title, "Klaus", "en") == "Sound relaxation for Klaus"
    assert title_note("Klaus", "en") is None


@pytest.mark.parametrize("value, expected", [
    ("Maija", None), ("Jukka-Pekka", None), ("Maija 2", None), ("Ämmälä", None),
    ("", "is empty"), ("  ", "is empty"), ("...", "has no letters"), ("123", "has no letters"),
    ("-- 42 --", "has no letters"), ("a" * 101, "is 101 characters long"),
    ("Mai\tja", "contains control character U+0009"), ("Mai\nja", "contains a line break"),
])
def test_check_name(value, expected):
    why = check_name(value)
    assert why is None if expected is None else expected in why


def test_gift_comment_is_all_in_the_gifts_language():
    from sointu import __version__

    def gift(lang):
        return Gift(row=None, recipient="Maija Meikäläinen", sender="Pekka",
                    message="Hyvää joulua!", lang=lang, title="t", seed=42, path=Path("x"))

    fi = gift_comment(gift("fi"), "classic-60", 42, 3600.0)
    assert fi == (f"esiasetus classic-60; siemen 42; kesto 1:00:00; sointu {__version__}; "
                  f"lahja: Maija Meikäläinen; antaja: Pekka; viesti: Hyvää joulua!")
    en = gift_comment(gift("en"), "classic-60", 42, 90.0)
    assert en == (f"preset classic-60; seed 42; length 1:30; sointu {__version__}; "
                  f"gift for Maija Meikäläinen; from Pekka; message: Hyvää joulua!")


def test_clients_file_allative_column(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("name;name_fi_allative;lang\n"
                 "Klaus Müller;Klausille;\n"
                 "Dennis;;\n"
                 "Matti;;\n"
                 "Sade;Sateelle;en\n", encoding="utf-8")
    clients = read_clients(f)
    assert [c.allative for c in clients] == ["Klausille", None, None, "Sateelle"]
    gifts = plan_gifts(clients, load_session_preset("classic-60"), tmp_path,
                       sample_rate=48000, frames=48000 * 30)
    assert [(g.title, g.path.name, g.note is None) for g in gifts] == [
        ("Sointurentoutus - Klausille", "Sointurentoutus-Klausille.flac", True),
        ("Sointurentoutus - lahja: Dennis", "Sointurentoutus-lahja-Dennis.flac", False),
        ("Sointurentoutus - Matille", "Sointurentoutus-Matille.flac", True),
        ("Sound relaxation for Sade", "Sound-relaxation-for-Sade.flac", True),
    ]
    assert "'Dennis' not known" in gifts[1].note


def test_seed_is_the_documented_hash():
    text = "sointu-gift:maija meikäläinen:classic-60"
    expected = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % 2**63
    assert gift_seed("Maija Meikäläinen", "classic-60") == expected


def test_seed_same_name_any_case_spacing_or_normal_form():
    base = gift_seed("Maija Meikäläinen", "classic-60")
    decomposed = unicodedata.normalize("NFD", "Maija Meikäläinen")
    assert decomposed != "Maija Meikäläinen"
    for variant in ["maija meikäläinen", "  MAIJA   MEIKÄLÄINEN\t", decomposed]:
        assert gift_seed(variant, "classic-60") == base
    assert normalise_name(" Maija\u00a0 Meikäläinen ") == "maija meikäläinen"


def test_seed_differs_between_recipients_and_presets():
    names = ["Maija", "Pekka", "Jussi", "Aleksander", "Maija M", "Maija Meikäläinen"]
    seeds = {gift_seed(n, "classic-60") for n in names}
    assert len(seeds) == len(names)
    assert gift_seed("Maija", "classic-60") != gift_seed("Maija", "gift-30")
    assert all(0 <= s < 2**63 for s in seeds)


def test_safe_file_names():
    assert safe_file_name("Sointurentoutus - Maijalle", ".flac") == "Sointurentoutus-Maijalle.flac"
    assert safe_file_name("Lempeä uni - Väinölle", ".flac") == "Lempeä-uni-Väinölle.flac"
    assert safe_file_name("a/b\\c:d*e?f\"g<h>i|j\x01k\nl") == "a_b_c_d_e_f_g_h_i_j_k_l"
    assert safe_file_name("..hidden. ", ".wav") == "hidden.wav"
    assert safe_file_name("///", ".flac") == "___.flac"
    assert safe_file_name("", ".flac") == "gift.flac"
    assert safe_file_name("CON", ".flac") == "CON_.flac"
    long = safe_file_name("ä" * 300, ".flac")
    assert long.endswith(".flac") and len(long.encode("utf-8")) <= 200
    # NFD input comes out composed
    assert safe_file_name(unicodedata.normalize("NFD", "Äänimatka")) == "Äänimatka"


def test_unique_path_never_names_an_existing_file(tmp_path):
    (tmp_path / "x.flac").write_bytes(b"1")
    (tmp_path / "x-2.flac").write_bytes(b"2")
    assert unique_path(tmp_path, "x.flac") == tmp_path / "x-3.flac"
    assert unique_path(tmp_path, "y.flac") == tmp_path / "y.flac"


def test_clients_file_with_bom_semicolons_and_case(tmp_path):
    f = tmp_path / "asiakkaat.csv"
    text = ("Name;From;Message;LANG;file;seed\r\n"
            "Maija Meikäläinen;Pekka;\"Hyvää joulua; ja onnea!\";;;\r\n"
            ";;;;;\r\n"
            "Aleksander;;;EN;alex.ogg;42\r\n")
    f.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    clients = read_clients(f)
    assert clients == [
        Client(row=2, name="Maija Meikäläinen", sender="Pekka",
               message="Hyvää joulua; ja onnea!", lang="fi"),
        Client(row=4, name="Aleksander", lang="en", file="alex.ogg", seed=42),
    ]
    gifts = plan_gifts(clients, load_session_preset("classic-60"), tmp_path,
                       sample_rate=48000, frames=48000 * 30)
    assert [g.path.name for g in gifts] == ["Sointurentoutus-Maijalle.flac", "alex.ogg"]
    assert gifts[0].seed == gift_seed("maija meikäläinen", "classic-60")
    assert gifts[1].seed == 42
    assert gifts[0].dedication == ("lahja: Maija Meikäläinen; antaja: Pekka; viesti: Hyvää "
                                   "joulua; ja onnea!")


# --- bad input through the command: one line with row and column, exit 2, nothing written

BAD_CLIENTS = [
    (b"", "clients.csv is empty"),
    (b"\xef\xbb\xbf \n\n", "clients.csv is empty"),
    (b"name\n", "no client rows"),
    (b"nimi,from\nMaija,Pekka\n", "row 1: unknown column 'nimi'; allowed columns: name, from, "
                                  "message, lang, file, seed"),
    (b"from,message\nPekka,hi\n", "row 1: no 'name' column"),
    (b"name,email\nMaija,m@example.com\n", "unknown column 'email'"),
    (b"name,name\nMaija,Maija\n", "column 'name' appears twice"),
    (b"name,,lang\nMaija,,fi\n", "row 1, column 2 has no name"),
    (b"name,lang\nMaija,fi\nPekka,en\nJussi,\nAino,sv\n",
     "row 5, column 'lang': 'sv' is not allowed; allowed: fi, en"),
    (b"name,lang\nMaija,fi\n,en\n", "row 3, column 'name': is empty"),
    (b"name\nMaija\n...\n", "row 3, column 'name': '...' has no letters"),
    (b"name\nMaija\n123 45\n", "row 3, column 'name': '123 45' has no letters"),
    (b"name\n" + b"a" * 101 + b"\n", "row 2, column 'name': '" + "a" * 40 + "' is 101 "
     "characters long; allowed: at most 100"),
    (b"name\nMai\x07ja\n", "row 2, column 'name': 'Mai\\x07ja' contains control character "
                           "U+0007"),
    (b"name,name_fi_allative\nMatti,Matti\n", "row 2, column 'name_fi_allative': 'Matti' "
                                              "does not end in -lle after the name"),
    (b"name,name_fi_allative\nMatti,!!!\n", "row 2, column 'name_fi_allative': '!!!' has no "
                                            "letters"),
    (b"name,seed\nMaija,12\nPekka,-3\n", "row 3, column 'seed': '-3' is not allowed"),
    (b"name,seed\nMaija,9223372036854775808\n", "row 2, column 'seed': '9223372036854775808'"),
    (b"name,seed\nMaija,1e3\n", "row 2, column 'seed': '1e3' is not allowed"),
    (b"name\nMaija\nmaija\n", "row 3, column 'name': the file 'Sointurentoutus-maijalle.flac' "
                              "is already the file of row 2"),
    (b"name,file\nMaija,a.flac\nPekka,A.FLAC\n", "row 3, column 'file': the file 'A.FLAC' is "
                                                 "already the file of row 2"),
    (b"name,file\nMaija,sub/a.flac\n", "row 2, column 'file': 'sub/a.flac' is not allowed"),
    (b"name,file\nMaija,.a.flac\n", "row 2, column 'file': '.a.flac' is not allowed"),
    (b"name,file\nMaija,a.doc\n", "row 2, column 'file':"),
    (b"name,file\nMaija,manifest.csv\n", "row 2, column 'file': 'manifest.csv' is the "
                                         "manifest's name"),
    (b"name,message\nMaija,\"two\nlines\"\n", "row 2, column 'message': 'two\\nlines' contains "
                                             "a line break"),
    (b"name,message\nMaija," + b"x" * 501 + b"\n", "row 2, column 'message':"),
    (b"name,from\nMaija,Pekka,extra\n", "row 2: 3 cells but the header names 2 columns"),
    (b"name\nM\xe4ija\n", "clients.csv: line 2: byte 0xe4 is not UTF-8"),
    (b"name\n\"Maija\n", "clients.csv: row"),
]


def run_cli(args, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err
    return info.value.code, err


@pytest.mark.parametrize("data, expected", BAD_CLIENTS)
def test_bad_clients_file_one_line_exit_2_nothing_written(tmp_path, monkeypatch, capsys, data,
                                                          expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clients.csv").write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    code, err = run_cli(["gift", "classic-60", "--clients", "clients.csv", "-o", "out",
                         "--duration", "30s"], capsys)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sointu: error: ")
    assert expected in lines[0]
    assert list(out.iterdir()) == []


def test_unreadable_and_missing_clients_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    code, err = run_cli(["gift", "classic-60", "--clients", "nope.csv", "-o", "out"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "cannot read clients file nope.csv" in err
    (tmp_path / "folder.csv").mkdir()
    code, err = run_cli(["gift", "classic-60", "--clients", "folder.csv", "-o", "out"], capsys)
    assert code == 2 and err.count("\n") == 1 and "folder.csv" in err


@pytest.mark.parametrize("out, expected", [
    ("missing", "output folder missing does not exist"),
    ("afile", "output folder afile is not a folder"),
])
def test_batch_output_folder_must_exist(tmp_path, monkeypatch, capsys, out, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clients.csv").write_text("name\nMaija\n", "utf-8")
    (tmp_path / "afile").write_text("x")
    code, err = run_cli(["gift", "classic-60", "--clients", "clients.csv", "-o", out], capsys)
    assert code == 2
    assert err.count("\n") == 1 and expected in err
    assert not (tmp_path / "missing").exists()
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("args, expected", [
    ([], "give --for NAME"),
    (["--clients", "c.csv", "-o", ".", "--for", "Maija"], "--for applies to one gift"),
    (["--clients", "c.csv", "-o", ".", "--seed", "3"], "--seed applies to one gift"),
    (["--clients", "c.csv", "-o", ".", "--title", "T"], "--title applies to one gift"),
    (["--clients", "c.csv"], "--clients needs -o DIR"),
    (["--for", ""], "--for '' is empty"),
    (["--for", "   "], "--for '' is empty"),
    (["--for", "..."], "--for '...' has no letters"),
    (["--for", "12345"], "--for '12345' has no letters"),
    (["--for", "Maija" * 21], "is 105 characters long; allowed: at most 100"),
    (["--for", "Mai\x1bja"], "--for 'Mai\\x1bja' contains control character U+001B"),
    (["--for", "Matti", "--for-allative", "Matti"], "--for-allative 'Matti' does not end in "
                                                  "-lle after the name; allowed: the first "
                                                  "name in the allative, e.g. Matille"),
    (["--for", "Matti", "--for-allative", "-lle"], "--for-allative '-lle' does not end in -lle "
                                               "after the name"),
    (["--for", "Matti", "--for-allative", ""], "--for-allative '' is empty"),
    (["--for", "Matti", "--for-allative", "Matille", "--lang", "en"],
     "--for-allative is for Finnish titles"),
    (["--clients", "c.csv", "-o", ".", "--for-allative", "Matille"],
     "--for-allative applies to one gift"),
    (["--for", "Maija", "--message", "a\x07b"], "--message 'a\\x07b' contains control"),
    (["--for", "Maija", "--lang", "sv"], "'sv' is not one of 'fi', 'en'"),
    (["--for", "Maija", "--seed", "-1"], "-1 is not allowed"),
    (["--for", "Maija", "--jobs", "0"], "--jobs"),
])
def test_bad_options_one_line(tmp_path, monkeypatch, capsys, args, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.csv").write_text("name\nMaija\n", "utf-8")
    code, err = run_cli(["gift", "classic-60", *args], capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    assert expected in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]
