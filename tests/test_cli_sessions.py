"""The session commands through the real entry point: output formats and one-line errors."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sointu.cli import main
from sointu.session.presets import list_session_presets

CLASSIC = list_session_presets()["classic-60"].read_text(encoding="utf-8")


def run(capsys, *args):
    """Run ``sointu ARGS``; return (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_presets_lists_shipped_with_length_and_description(capsys):
    code, out, err = run(capsys, "presets")
    assert code == 0 and err == ""
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert {"classic-60", "workplace-25", "gong-bath", "gentle-sleep", "gift-30"} <= set(lines)
    assert "1:00:00" in lines["classic-60"] and "Sointurentoutus" in lines["classic-60"]
    assert "25:00" in lines["workplace-25"]


def test_presets_dir_adds_user_presets(capsys, tmp_path):
    (tmp_path / "my-hour.toml").write_text(CLASSIC.replace("Sointurentoutus", "Oma tunti", 1))
    code, out, _ = run(capsys, "presets", "--dir", str(tmp_path))
    assert code == 0
    assert any(line.startswith("my-hour") and "Oma tunti" in line for line in out.splitlines())


def test_show_lists_phases_instruments_and_counts(capsys):
    code, out, err = run(capsys, "show", "classic-60")
    assert code == 0 and err == ""
    for phase in ("introduction", "relaxation", "recovery"):
        assert any(line.strip().startswith(phase) and ".." in line for line in out.splitlines())
    assert "planet-gong-earth" in out and "azimuth" in out
    assert "strokes per phase (seed 1" in out
    # where the headphone mix places each: the preset's elevation and distance_m
    pelvic = next(line for line in out.splitlines() if line.strip().startswith("pelvic"))
    assert pelvic.endswith("headphones -30 deg 1.2 m")


def test_score_json_parses_and_matches_the_schema(capsys):
    code, out, _ = run(capsys, "score", "gift-30", "--seed", "4", "--duration", "20m",
                       "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["preset"] == "gift-30" and doc["seed"] == 4 and doc["duration_s"] == 1200.0
    assert [set(p) for p in doc["phases"]] == [{"name", "start_s", "end_s"}] * 3
    assert doc["phases"][-1]["end_s"] == 1200.0
    assert doc["events"]
    for e in doc["events"]:
        assert list(e) == ["time_s", "instrument", "articulation", "velocity", "mallet",
                           "position_deg", "duration_s", "phase"]
    times = [e["time_s"] for e in doc["events"]]
    assert times == sorted(times)
    code2, out2, _ = run(capsys, "score", "gift-30", "--seed", "4", "--duration", "20m",
                         "--format", "json")
    assert out2 == out


def test_score_csv_header_and_rows(capsys):
    code, out, _ = run(capsys, "score", "classic-60", "--format", "csv", "--duration", "60")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["time_s", "instrument", "articulation", "velocity", "mallet",
                       "position_deg", "duration_s", "phase"]
    assert len(rows) > 2 and all(len(r) == 8 for r in rows)
    assert all(float(r[0]) < 45.0 for r in rows[1:])  # 15 s ring-out in a 60 s score


def test_score_text(capsys):
    code, out, _ = run(capsys, "score", "gentle-sleep", "--seed", "2")
    assert code == 0
    assert out.splitlines()[0].startswith("gentle-sleep  seed 2  length 40:00")
    assert "-- settling" in out and "-- stillness" in out and out.rstrip().endswith("end")


def test_validate_ok_lines(capsys):
    files = [str(p) for p in list_session_presets().values()]
    code, out, err = run(capsys, "validate", *files)
    assert code == 0 and err == ""
    assert out.splitlines() == [f"{f}: ok" for f in files]


def test_validate_prints_every_problem_one_per_line(capsys, tmp_path):
    bad = (CLASSIC.replace("reverb = 0.35", "reverb = nan")
           .replace("seed = 1\n", "seed = 1.5\n")
           .replace("language = \"fi\"", "language = \"fi\"\ncolour = \"blue\""))
    f = tmp_path / "bad.toml"
    f.write_text(bad)
    good = list_session_presets()["gift-30"]
    code, out, err = run(capsys, "validate", str(f), str(good))
    assert code == 2
    assert out.splitlines() == [f"{good}: ok"]
    lines = err.splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{f}:") for line in lines)
    assert "Traceback" not in err


def _bad_file(tmp_path: Path, old: str, new: str) -> str:
    f = tmp_path / "bad.toml"
    assert old in CLASSIC
    f.write_text(CLASSIC.replace(old, new, 1))
    return str(f)


BAD_FILES = [
    ("malformed", "width = 0.8", "width = = 0.8", "line 21, column"),
    ("unknown key", "language = \"fi\"", "language = \"fi\"\nvolume = 3",
     "volume: unknown key; allowed:"),
    ("wrong type", "reverb = 0.35", "reverb = \"lots\"", "expected a number"),
    ("nan", "reverb = 0.35", "reverb = nan", "finite"),
    ("phases do not fit", "share = 0.6666666", "share = 0.9", "must sum to 1"),
    ("unknown instrument", "instrument = \"planet-gong-earth\"", "instrument = \"x\"",
     "unknown instrument 'x'; known:"),
    ("unknown articulation", "  at_s = 2\n", "  at_s = 2\n  articulation = \"tap\"\n",
     "'tap' is not allowed; allowed: strike, rub"),
    ("non-integer seed", "seed = 1\n", "seed = 2.5\n", "defaults.seed: 2.5 is not allowed"),
]


@pytest.mark.parametrize("what, old, new, fragment", BAD_FILES, ids=[b[0] for b in BAD_FILES])
@pytest.mark.parametrize("command", ["score", "show", "validate"])
def test_bad_preset_gives_one_line_and_exit_2(capsys, tmp_path, what, old, new, fragment,
                                             command):
    code, out, err = run(capsys, command, _bad_file(tmp_path, old, new))
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert fragment in err and "bad.toml" in err and "Traceback" not in err


@pytest.mark.parametrize("args, fragment", [
    (["--duration", "13h"], "longer than 12h"),
    (["--duration", "0"], "not above 0"),
    (["--duration", "soon"], "'soon' is not a length"),
    (["--seed", "1.5"], "'1.5' is not a valid integer"),
    (["--seed", "-3"], "-3 is not allowed"),
    (["--format", "xml"], "'xml' is not one of"),
])
def test_bad_options_give_one_line_and_exit_2(capsys, args, fragment):
    code, out, err = run(capsys, "score", "classic-60", *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and fragment in err


def test_unknown_preset_lists_known(capsys):
    code, _, err = run(capsys, "show", "nope")
    assert code == 2 and len(err.splitlines()) == 1
    assert "unknown session 'nope'; known: classic-60" in err


@pytest.mark.parametrize("command", ["presets", "show", "score", "validate"])
def test_help_has_an_example(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "Example" in out and f"sointu {command}" in out


def test_console_script_error_has_no_traceback(tmp_path):
    exe = Path(sys.executable).with_name("sointu")
    if not exe.exists():
        pytest.skip("console script not installed")
    f = _bad_file(tmp_path, "seed = 1\n", "seed = \"one\"\n")
    r = subprocess.run([str(exe), "score", f], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "defaults.seed" in r.stderr


@pytest.mark.parametrize("text, seconds", [("1h30", 5400.0), ("2h15", 8100.0),
                                           ("45m30", 2730.0)])
def test_duration_hours_then_bare_number_is_minutes(capsys, text, seconds):
    code, out, err = run(capsys, "score", "workplace-25", "--duration", text, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["duration_s"] == seconds


def test_ambiguous_duration_is_one_line_naming_the_allowed_forms(capsys):
    code, out, err = run(capsys, "score", "workplace-25", "--duration", "1h75")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "ambiguous" in err and "1h30m" in err


# -- broken files among the presets, and how preset text is read (issue 17) ------------------

UNIVERSAL = (Path(__file__).parents[1] / "presets" / "instruments" / "universal.toml"
             ).read_text(encoding="utf-8")


def test_one_broken_file_in_presets_does_not_hide_the_good_ones(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "bad.toml").write_text("name = = 1\n")
    (tmp_path / "presets" / "my-hour.toml").write_text(CLASSIC)
    (tmp_path / "presets" / "my-bowl.toml").write_text(UNIVERSAL.replace('"universal"',
                                                                         '"my-bowl"'))
    for command, good in (("instruments", {"universal", "tam-tam", "my-bowl"}),
                          ("presets", {"classic-60", "gift-30", "my-hour"})):
        code, out, err = run(capsys, command)
        assert code == 0, err
        assert good <= {line.split()[0] for line in out.splitlines()}
        assert "bad" not in out
        [line] = err.splitlines()
        assert "bad.toml" in line and "line 1, column" in line


def test_nothing_good_in_a_listing_exits_2(capsys, tmp_path, monkeypatch):
    from sointu.presets import shipped_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sointu.presets.shipped_dir", lambda: tmp_path / "none")
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "bad.toml").write_text("x = 0,5\n")
    code, out, err = run(capsys, "presets")
    assert code == 2 and out == "" and "bad.toml" in err and len(err.splitlines()) == 1
    assert shipped_dir().is_dir()


def test_a_byte_order_mark_is_accepted(capsys, tmp_path):
    f = tmp_path / "bom.toml"
    f.write_bytes(b"\xef\xbb\xbf" + CLASSIC.encode("utf-8"))
    code, out, err = run(capsys, "show", str(f))
    assert code == 0, err
    g = tmp_path / "bom-bowl.toml"
    g.write_bytes(b"\xef\xbb\xbf" + UNIVERSAL.encode("utf-8"))
    from sointu.engine.library import load_instrument

    assert load_instrument(str(g)).fundamental_hz == 221.0


def _latin1(text: str) -> tuple[bytes, int, int]:
    """``text`` in Latin-1, with the line and column of its first non-ASCII character."""
    i = next(i for i, ch in enumerate(text) if ord(ch) > 127)
    line = text.count("\n", 0, i) + 1
    column = i - (text.rfind("\n", 0, i) + 1) + 1
    return text.encode("latin-1", "replace"), line, column


@pytest.mark.parametrize("which", ["session", "instrument"])
def test_latin1_file_names_line_column_and_the_fix(capsys, tmp_path, which):
    text = (CLASSIC.replace("width = 0.8", "width = 0.8  # leveä", 1) if which == "session"
            else UNIVERSAL.replace("Universal bowl", "Yleismalja, lämmin"))
    data, line, column = _latin1(text)
    f = tmp_path / "latin.toml"
    f.write_bytes(data)
    args = ("show", str(f)) if which == "session" else ("strike", str(f), "-o",
                                                         str(tmp_path / "x.wav"))
    code, out, err = run(capsys, *args)
    assert code == 2 and len(err.splitlines()) == 1
    assert f"line {line}, column {column}" in err and "save the file as UTF-8" in err
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("which", ["session", "instrument"])
def test_decimal_comma_names_line_column_and_the_fix(capsys, tmp_path, which):
    base, old, new = ((CLASSIC, "width = 0.8", "width = 0,8") if which == "session"
                      else (UNIVERSAL, "level_db = -12.0", "level_db = -12,5"))
    text = base.replace(old, new, 1)
    line = text[:text.index(new)].count("\n") + 1
    column = new.index(",") + 1
    f = tmp_path / "comma.toml"
    f.write_text(text, encoding="utf-8")
    args = ("show", str(f)) if which == "session" else ("strike", str(f), "-o",
                                                         str(tmp_path / "x.wav"))
    code, out, err = run(capsys, *args)
    assert code == 2 and len(err.splitlines()) == 1
    fixed = new.split("= ")[1]
    assert f"line {line}, column {column}" in err
    assert f"write {fixed.replace(',', '.')}, not {fixed}" in err


def _help_examples(capsys) -> list[list[str]]:
    """Every ``sointu ...`` example line in the --help of sointu and of each command."""
    import shlex

    from sointu.cli import _register, group

    _register()
    examples = []
    for command in [None, *sorted(group.commands)]:
        code, out, _ = run(capsys, *([command] if command else []), "--help")
        assert code == 0
        for line in out.splitlines():
            if line.strip().startswith("sointu "):
                examples.append(shlex.split(line.split(">")[0]))
    return examples


def test_every_help_example_names_a_preset_or_instrument_that_exists(capsys):
    from sointu.engine.library import list_instruments
    from sointu.session.presets import load_session_preset

    sessions, instruments = set(list_session_presets()), set(list_instruments())
    examples = _help_examples(capsys)
    commands = {e[1] for e in examples}
    assert {"render", "play", "gift", "show", "score", "strike"} <= commands
    for words in examples:
        command = words[1]
        if command not in ("render", "play", "gift", "show", "score", "strike"):
            continue
        name = words[2]
        if name.endswith(".toml"):
            continue
        known = instruments if command == "strike" else sessions
        assert name in known, f"'{' '.join(words)}' names '{name}', not a preset"
        if "--phase" in words:
            phase = words[words.index("--phase") + 1]
            p = load_session_preset(name)
            assert phase in [ph.name for ph in p.phases], f"{name} has no phase {phase}"


PRESET_COMMANDS = {"presets": "session", "show": "session", "score": "session",
                   "render": "session", "play": "session", "gift": "session",
                   "instruments": "instrument", "strike": "instrument"}


@pytest.mark.parametrize("command", sorted(PRESET_COMMANDS))
def test_every_command_taking_a_preset_has_the_same_dir_option(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"--dir FOLDER Also look for {PRESET_COMMANDS[command]} presets in this folder" \
        in " ".join(out.split())


@pytest.mark.parametrize("args", [["presets"], ["instruments"], ["show", "classic-60"],
                                  ["render", "classic-60"], ["play", "classic-60"],
                                  ["gift", "gift-30", "--for", "Maija"],
                                  ["strike", "universal", "-o", "x.wav"]])
@pytest.mark.parametrize("what", ["missing", "file"])
def test_dir_that_is_not_a_folder_is_one_line_exit_2(capsys, tmp_path, monkeypatch, args,
                                                     what):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "nonexistent"
    if what == "file":
        folder.write_text("x")
    code, out, err = run(capsys, *args, "--dir", str(folder))
    assert code == 2 and out == ""
    [line] = err.splitlines()
    assert str(folder) in line
    assert ("does not exist" if what == "missing" else "is not a folder") in line
    assert sorted(p.name for p in tmp_path.iterdir()) == (["nonexistent"] if what == "file"
                                                          else [])


def test_show_columns_line_up_with_long_phase_names(capsys, tmp_path):
    long = "syvä rentoutus ja pitkä hiljaisuus"
    f = tmp_path / "long.toml"
    f.write_text(CLASSIC.replace('name = "relaxation"', f'name = "{long}"', 1),
                 encoding="utf-8")
    code, out, err = run(capsys, "show", str(f))
    assert code == 0, err
    lines = out.splitlines()

    def block(title):
        start = lines.index(title) + 1
        end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
        return lines[start:end]

    phases = block("phases:")
    assert len(phases) == 3 and any(long in ln for ln in phases)
    assert len({ln.index("..") for ln in phases}) == 1
    instruments = block("instruments:")
    for word in ("Hz", "azimuth", "distance", "level", "headphones"):
        assert len({ln.index(word) for ln in instruments}) == 1, word
    table = lines[next(i for i, ln in enumerate(lines) if ln.startswith("strokes")) + 1:]
    assert len({len(ln) for ln in table if ln.strip()}) == 1  # every cell right-aligned


def test_strike_onto_an_existing_file_is_a_bad_option_exit_2(capsys, tmp_path):
    target = tmp_path / "bowl.wav"
    target.write_bytes(b"keep")
    code, out, err = run(capsys, "strike", "universal", "-o", str(target))
    assert code == 2 and len(err.splitlines()) == 1 and "already exists" in err
    assert target.read_bytes() == b"keep"
