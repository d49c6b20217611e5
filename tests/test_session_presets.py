"""Session preset loading and validation: every problem named, one line each, all collected."""

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sointu.errors import PresetError
from sointu.session.composer import compose
from sointu.session.presets import (
    check_session_file,
    list_session_presets,
    load_session_preset,
)

SHIPPED = list_session_presets()
CLASSIC = SHIPPED["classic-60"].read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_preset_validates_and_composes(name):
    assert check_session_file(SHIPPED[name]) == []
    p = load_session_preset(name)
    assert p.name == name and p.title.get("fi") and p.title.get("en") and p.description
    assert len(p.description) <= 100
    assert "hess" not in SHIPPED[name].read_text(encoding="utf-8").lower()
    for total in (60.0, 1200.0, None):
        assert compose(p, duration_s=total).events


def test_fields_the_renderer_needs():
    p = load_session_preset("classic-60")
    d = p.defaults
    assert (d.duration_s, d.sample_rate_hz, d.seed, d.ring_out_s) == (3600.0, 48000, 1, 50.0)
    assert d.loudness_lufs == -18.0 and d.fade_out_s == 8.0
    assert (p.room.reverb, p.room.width) == (0.35, 0.8)
    assert p.metadata.album == "Sointurentoutus" and p.metadata.genre == "Meditation"
    gong = p.instruments["gong"]
    assert gong.instrument == "planet-gong-earth" and gong.family == "gong"
    assert gong.fundamental_hz == pytest.approx(136.10)
    assert (gong.azimuth_deg, gong.distance, gong.level_db) == (-70.0, 2.0, -3.0)
    assert p.instruments["heart"].articulations == ("strike", "rub")
    room = p.engine_room()
    assert (room.reverb, room.width, room.seed) == (0.35, 0.8, 1)


def test_tuning_override_retunes(tmp_path):
    text = replace_once(CLASSIC, "[instruments.heart]\n", "[instruments.heart]\ntuning = \"C4\"\n")
    p = load_session_preset(str(write(tmp_path, text)))
    heart = p.instruments["heart"]
    assert heart.tuning_hz == pytest.approx(261.6256, rel=1e-6)
    assert heart.load().fundamental_hz == pytest.approx(261.6256, rel=1e-6)
    place = heart.placement()
    assert place.key == "heart" and place.azimuth_deg == 30.0
    cousto = replace_once(CLASSIC, "[instruments.heart]\n",
                          "[instruments.heart]\ntuning = \"moon-synodic\"\n")
    assert load_session_preset(str(write(tmp_path, cousto))).instruments[
        "heart"].fundamental_hz == pytest.approx(210.42)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# (description, old, new, expected message fragments, text whose line the message must name)
BAD = [
    ("unknown key", "language = \"fi\"", "language = \"fi\"\nvolume = 3",
     ["volume: unknown key; allowed:", "defaults", "instruments", "phases", "title"],
     "volume = 3"),
    ("wrong type", "reverb = 0.35", "reverb = \"lots\"",
     ["room.reverb", "expected a number", "'lots'"], "reverb = \"lots\""),
    ("NaN", "width = 0.8", "width = nan", ["room.width", "finite"], "width = nan"),
    ("infinite", "loudness_lufs = -18.0", "loudness_lufs = -inf",
     ["defaults.loudness_lufs", "finite"], "loudness_lufs = -inf"),
    ("out of range", "azimuth_deg = -70", "azimuth_deg = -270",
     ["instruments.gong.azimuth_deg", "-270", "allowed [-180, 180]"], "azimuth_deg = -270"),
    ("shares do not sum to 1", "share = 0.6666666", "share = 0.5",
     ["phases: shares", "must sum to 1"], None),
    ("unknown instrument", "instrument = \"planet-gong-earth\"", "instrument = \"didgeridoo\"",
     ["instruments.gong.instrument", "unknown instrument 'didgeridoo'", "known:", "pelvic",
      "tam-tam"], "instrument = \"didgeridoo\""),
    ("undeclared instrument in a phase", "{ pelvic = 4, universal = 3, heart = 2 }",
     "{ pelvic = 4, drum = 3, heart = 2 }",
     ["phases[1].instruments.drum", "unknown instrument 'drum'", "known: pelvic, universal"],
     "{ pelvic = 4, drum = 3, heart = 2 }"),
    ("unknown articulation", "  mallet = \"medium\"\n\n[[phases]]",
     "  mallet = \"medium\"\n  articulation = \"bow\"\n\n[[phases]]",
     ["phases[0].cues[0].articulation", "'bow' is not allowed; allowed: strike, rub"],
     "articulation = \"bow\""),
    ("rub on a gong", "instruments = { pelvic = 1, universal = 1, heart = 1 }",
     "instruments = { pelvic = 1, gong = 1, heart = 1 }",
     ["phases[1].rub.instruments.gong", "a gong cannot be rubbed", "allowed: bowls"],
     "instruments = { pelvic = 1, gong = 1, heart = 1 }"),
    ("rubbed tingsha cue", "  at_s = 2\n", "  at_s = 2\n  articulation = \"rub\"\n"
     "  duration_s = [10, 20]\n",
     ["phases[0].cues[0].articulation", "a tingsha ('tingsha') cannot be rubbed"],
     "articulation = \"rub\""),
    ("non-integer seed", "seed = 1\n", "seed = 1.5\n",
     ["defaults.seed", "1.5 is not allowed", "whole number"], "seed = 1.5"),
    ("unknown mallet", "mallets = { soft = 3, medium = 1 }", "mallets = { felt = 3 }",
     ["phases[0].mallets.felt", "unknown mallet 'felt'", "soft, medium, hard"],
     "mallets = { felt = 3 }"),
    ("range upside down", "interval_s = [20, 30]", "interval_s = [30, 20]",
     ["phases[0].interval_s", "low <= high"], "interval_s = [30, 20]"),
    ("sample rate", "sample_rate_hz = 48000", "sample_rate_hz = 12345",
     ["defaults.sample_rate_hz", "12345 is not allowed", "44100, 48000"],
     "sample_rate_hz = 12345"),
    ("share and length both", "share = 0.1666667\ninstruments = { universal",
     "share = 0.1666667\nlength_s = 600\ninstruments = { universal",
     ["phases[0].share", "exactly one of share"], None),
    ("velocity above max_velocity", "language = \"fi\"", "language = \"fi\"\nmax_velocity = 0.4",
     ["phases[0].velocity_end", "0.48 is above max_velocity = 0.4"], None),
]


@pytest.mark.parametrize("what, old, new, parts, where", BAD, ids=[b[0] for b in BAD])
def test_each_problem_is_one_line_naming_file_key_and_line(tmp_path, what, old, new, parts,
                                                           where):
    text = replace_once(CLASSIC, old, new)
    f = write(tmp_path, text)
    problems = check_session_file(f)
    assert problems, what
    hits = [p for p in problems if all(part in p for part in parts)]
    assert hits, problems
    msg = hits[0]
    assert "\n" not in msg and msg.startswith(str(f))
    if where is not None:
        assert msg.startswith(f"{f}:{line_of(text, where)}: "), msg
    with pytest.raises(PresetError) as info:
        load_session_preset(str(f))
    assert "\n" not in str(info.value)


def test_malformed_toml_names_file_line_and_column(tmp_path):
    f = write(tmp_path, CLASSIC.replace("width = 0.8", "width = = 0.8"))
    [msg] = check_session_file(f)
    line = line_of(CLASSIC, "width = 0.8")
    assert msg.startswith(f"{f}: malformed TOML") and f"line {line}, column" in msg


def test_every_problem_of_a_file_is_reported(tmp_path):
    text = CLASSIC
    for _, old, new, _, _ in BAD[:6]:
        text = replace_once(text, old, new)
    problems = check_session_file(write(tmp_path, text))
    assert len(problems) >= 6
    assert len(set(problems)) == len(problems)
    keys = {re.split(r": ", p)[1] for p in problems}
    assert {"volume", "room.reverb", "room.width", "defaults.loudness_lufs",
            "instruments.gong.azimuth_deg", "phases"} <= keys


def test_missing_sections(tmp_path):
    problems = check_session_file(write(tmp_path, "title = { en = \"x\" }\n"))
    assert any("instruments: missing" in p for p in problems)
    assert any("phases: missing" in p for p in problems)
    problems = check_session_file(write(tmp_path, "phases = 3\ninstruments = {}\n"))
    assert any("title: missing" in p for p in problems)
    assert any("phases: expected one or more" in p for p in problems)
    assert any("instruments: expected at least one" in p for p in problems)


def test_missing_file_and_unknown_name():
    with pytest.raises(PresetError, match="no such preset file"):
        load_session_preset("nowhere/none.toml")
    with pytest.raises(PresetError, match=r"unknown session 'nope'; known: classic-60"):
        load_session_preset("nope")


# -- property test: any file either loads or raises PresetError -----------------------------

def _mutations():
    texts = [p.read_text(encoding="utf-8") for p in SHIPPED.values()]
    line_edits = st.sampled_from(["drop", "nan", "string", "bool", "neg", "big", "table", "dup",
                                  "empty_list", "huge_int"])

    @st.composite
    def mutated(draw):
        text = draw(st.sampled_from(texts))
        lines = text.splitlines()
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(lines) - 1))
            kind = draw(line_edits)
            key = lines[i].split("=")[0] if "=" in lines[i] else None
            if kind == "drop":
                lines.pop(i)
            elif key is None:
                continue
            elif kind == "dup":
                lines.insert(i, lines[i])
            else:
                value = {"nan": "nan", "string": "\"x\"", "bool": "true", "neg": "-1",
                         "big": "1e308", "table": "{ a = 1 }", "empty_list": "[]",
                         "huge_int": "9223372036854775807"}[kind]
                lines[i] = f"{key}= {value}"
            if not lines:
                break
        return "\n".join(lines)

    raw = st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace"))
    return st.one_of(mutated(), raw, st.binary(max_size=64))


@settings(max_examples=150, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_loader_only_ever_raises_preset_error(content):
    d = Path(tempfile.mkdtemp())
    try:
        f = d / "mutant.toml"
        if isinstance(content, bytes):
            f.write_bytes(content)
        else:
            f.write_text(content, encoding="utf-8")
        try:
            p = load_session_preset(str(f))
        except PresetError as exc:
            assert "\n" not in str(exc)
        else:
            compose(p, duration_s=120.0)
        for problem in check_session_file(f):
            assert "\n" not in problem
    finally:
        shutil.rmtree(d)


def test_the_documented_example_validates(tmp_path):
    doc = Path(__file__).resolve().parents[1] / "docs" / "presets.md"
    block = re.search(r"```toml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S).group(1)
    assert check_session_file(write(tmp_path, block)) == []
