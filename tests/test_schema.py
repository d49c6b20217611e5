"""The session preset schema declared once: docs, dataclasses and writing agree with it."""

import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sointu.engine import instrument_schema as ischema
from sointu.engine.gong import GongStyle
from sointu.engine.instrument import (
    Instrument,
    RubStyle,
    StrikeStyle,
    check_instrument_file,
    dump_instrument_preset,
    instrument_from_dict,
)
from sointu.engine.library import list_instruments, load_instrument
from sointu.engine.transient import TransientStyle
from sointu.engine.tuning import cousto_names
from sointu.errors import PresetError
from sointu.session import schema
from sointu.session.presets import (
    CueSpec,
    Defaults,
    Metadata,
    PhaseSpec,
    RoomSpec,
    RubSpec,
    SessionInstrument,
    SessionPreset,
    check_session_file,
    dump_session_preset,
    list_session_presets,
    load_session_preset,
    session_preset_from_dict,
)
from sointu.session.recordings import RecordingSpec

DOCS = Path(__file__).resolve().parents[1] / "docs" / "presets.md"
SHIPPED = list_session_presets()
INSTRUMENTS = list_instruments()

# every schema table and the dataclass it fills; fields the loader derives are not keys
TABLES = [(schema.TOP, SessionPreset, {"name", "path"}),
          (schema.DEFAULTS, Defaults, set()), (schema.ROOM, RoomSpec, set()),
          (schema.METADATA, Metadata, set()),
          (schema.INSTRUMENT, SessionInstrument,
           {"key", "path", "family", "articulations", "fundamental_hz", "ring_s"}),
          (schema.PHASE, PhaseSpec, set()), (schema.RUB, RubSpec, set()),
          (schema.CUE, CueSpec, set()), (schema.RECORDING, RecordingSpec, {"path", "where"})]


def test_docs_reference_tables_are_the_schema():
    text = DOCS.read_text(encoding="utf-8")
    assert text.count("<!-- schema: ") == len(schema.DOCS_SECTIONS)
    assert schema.render_docs(text) == text, (
        "docs/presets.md disagrees with sointu/session/schema.py; regenerate with "
        "python -m sointu.session.schema --markdown docs/presets.md")


def test_docs_check_fails_on_a_changed_default():
    text = DOCS.read_text(encoding="utf-8")
    edited = text.replace("| `reverb` | number | [0, 1] | `0.35` |",
                          "| `reverb` | number | [0, 1] | `0.5` |")
    assert edited != text and schema.render_docs(edited) == text


def test_markdown_command_makes_the_tables_again(tmp_path, capsys):
    text = DOCS.read_text(encoding="utf-8")
    f = tmp_path / "presets.md"
    f.write_text(text.replace("| `seed` | integer | 0 .. 2^63-1 | `0` |",
                              "| `seed` | number | any | `7` |"), encoding="utf-8")
    assert schema.main(["--markdown", str(f)]) == 0
    assert f.read_text(encoding="utf-8") == text
    assert schema.main(["--markdown"]) == 0
    assert "| `thin_halving_s` | number | [600, 43200] s | none |" in capsys.readouterr().out


@pytest.mark.parametrize("keys, cls, derived", TABLES, ids=[t[1].__name__ for t in TABLES])
def test_every_key_is_a_field_and_every_field_a_key(keys, cls, derived):
    names = {f.name for f in fields(cls)}
    assert {k.attr for k in keys} == names - derived


@pytest.mark.parametrize("keys, cls", [(schema.DEFAULTS, Defaults), (schema.ROOM, RoomSpec),
                                       (schema.METADATA, Metadata)])
def test_dataclass_defaults_are_the_schema_defaults(keys, cls):
    made = cls()
    for k in keys:
        assert getattr(made, k.attr) == k.default, k.name


def test_an_empty_table_reads_as_the_schema_defaults():
    p = load_session_preset("workplace-25")
    data = tomllib.loads(SHIPPED["workplace-25"].read_text(encoding="utf-8"))
    data.pop("room", None)
    data.pop("metadata", None)
    data["defaults"] = {}
    q, problems = session_preset_from_dict(data, "x.toml", path=SHIPPED["workplace-25"])
    assert problems == []
    assert q.room == RoomSpec() and q.metadata == Metadata() and q.defaults == Defaults()
    assert (q.room.reverb, q.room.name, q.defaults.duration_s) == (0.35, "treatment-room",
                                                                   3600.0)
    assert q.phases == p.phases


def reload(text: str, path: Path) -> SessionPreset:
    preset, problems = session_preset_from_dict(tomllib.loads(text), str(path), path=path,
                                                text=text)
    assert problems == [], (problems, text)
    return preset


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_preset_round_trips(name):
    p = load_session_preset(name)
    text = dump_session_preset(p)
    q = reload(text, SHIPPED[name])
    assert q == p
    assert dump_session_preset(q) == text


def test_dump_is_readable_and_in_schema_order():
    p = load_session_preset("classic-60")
    text = dump_session_preset(p)
    lines = text.splitlines()
    assert lines[0].startswith("title = { fi = \"Sointurentoutus\"")
    assert "[defaults]" in lines and "[instruments.gong]" in lines
    assert "instrument = \"planet-gong-earth\"" in lines
    assert "azimuth_deg = -70.0  # [-180, 180] deg" in lines
    # defaults are left out: room.name is the default, the pelvic bowl's key is its name
    assert "name = \"treatment-room\"" not in text and "instrument = \"pelvic\"" not in text
    phase = lines.index("[[phases]]")
    order = [x.split(" = ")[0] for x in lines[phase + 1:lines.index("", phase)]]
    keys = [k.name for k in schema.PHASE]
    assert order == sorted(order, key=keys.index)
    tv = dump_session_preset(load_session_preset("tervetuloa-20"))
    assert "[[recordings]]\nfile = \"tervetuloa-fi.flac\"\nphase = \"arrival\"" in tv


def test_a_bad_recording_lists_every_problem_with_line_and_key(tmp_path):
    src = SHIPPED["tervetuloa-20"].read_text(encoding="utf-8")
    f = tmp_path / "rec.toml"
    f.write_text(src + '\n[[recordings]]\nfile = "tervetuloa-fi.flac"\nkind = "instrument"\n'
                       'instrument = "zz"\npan = 4\ntrim = 1\n', encoding="utf-8")
    first = len(src.splitlines()) + 3  # the line of file = ...
    keys = ", ".join(load_session_preset("tervetuloa-20").instruments)
    assert check_session_file(f) == [
        f"{f}:{first + 2}: recordings[2].instrument: 'zz' is not a key of [instruments]; "
        f'kind = "instrument" needs one of: {keys}',
        f"{f}:{first + 3}: recordings[2].pan: 4 is out of range; allowed [-1, 1]",
        f"{f}:{first + 4}: recordings[2].trim: 1 is not allowed; allowed: true, false"]


def test_a_tuning_override_round_trips_as_hz(tmp_path):
    src = SHIPPED["classic-60"].read_text(encoding="utf-8")
    f = tmp_path / "tuned.toml"
    f.write_text(src.replace("[instruments.heart]\n", "[instruments.heart]\ntuning = \"C4\"\n"),
                 encoding="utf-8")
    p = load_session_preset(str(f))
    text = dump_session_preset(p)
    assert f"tuning = {p.instruments['heart'].tuning_hz!r}" in text
    assert reload(text, f) == p


# -- random valid presets, drawn from the schema's own ranges -------------------------------

def _value(k: schema.Key):
    if k.kind == "number" and k.check == "whole":
        return st.integers(int(k.lo), int(k.hi)).map(float)
    if k.kind == "number":
        lo = k.lo if not k.lo_open else k.lo + 1e-3
        return st.floats(lo, k.hi, allow_nan=False)
    if k.kind == "range":
        return st.tuples(st.floats(k.lo, k.hi), st.floats(k.lo, k.hi)).map(sorted)
    if k.kind == "integer":
        return st.integers(int(k.lo), int(k.hi))
    if k.kind in ("choice", "text") and k.choices is not None:
        return st.sampled_from(list(k.allowed()))
    if k.kind == "flag":
        return st.booleans()
    if k.kind == "weights" and isinstance(k.names, tuple):
        return st.dictionaries(st.sampled_from(k.names), st.integers(1, 5), min_size=1)
    return st.text(min_size=1, max_size=12).filter(str.strip)  # any text: quotes, \n, DEL


def _table(keys, skip=()):
    simple = {k.name: _value(k) for k in keys
              if k.kind not in ("table", "tables", "weights", "key", "instrument", "tuning",
                                "titles", "language") and not k.alt and not k.only
              and k.name not in skip} | {k.name: _value(k) for k in keys
                                        if k.kind == "weights" and isinstance(k.names, tuple)}
    return st.fixed_dictionaries({}, optional=simple)


BOWLS = ("universal", "heart", "pelvic")


@st.composite
def presets(draw):
    defaults = draw(_table(schema.DEFAULTS, skip=("duration_s", "ring_out_s",
                                                  "thin_halving_s")))
    defaults["duration_s"] = draw(st.floats(600.0, 7200.0))
    defaults["ring_out_s"] = draw(st.floats(0.0, 120.0))
    n = draw(st.integers(1, 3))
    shares = [1.0] if n == 1 else [0.25, 0.75] if n == 2 else [0.25, 0.5, 0.25]
    if draw(st.booleans()):  # a fixed-length phase first (it fits: playing time >= 480 s)
        shares.insert(0, None)
    phases = []
    for i, share in enumerate(shares):
        ph = draw(_table(schema.PHASE, skip=("name",)))
        ph.update(name=f"p{i}")
        ph["share" if share else "length_s"] = share or draw(st.floats(1.0, 300.0))
        if draw(st.booleans()):
            ph["instruments"] = draw(st.dictionaries(st.sampled_from(BOWLS), st.integers(1, 5),
                                                     min_size=1))
            ph.setdefault("interval_s", [10.0, 20.0])
        if draw(st.booleans()):
            ph["rub"] = draw(_table(schema.RUB)) | {
                "instruments": {draw(st.sampled_from(BOWLS)): 1}, "interval_s": [60, 90],
                "duration_s": [10, 20]}
        cues = draw(st.lists(_table(schema.CUE, skip=("articulation",)), max_size=2))
        for c in cues:
            c.update(kind=c.get("kind", "signal"), instrument=draw(st.sampled_from(BOWLS)))
            c["at" if draw(st.booleans()) else "at_s"] = draw(st.floats(0.0, 1.0))
        ph["cues"] = cues
        phases.append(ph)
    instruments = {key: draw(_table(schema.INSTRUMENT)) for key in BOWLS}
    for table in instruments.values():
        if draw(st.booleans()):
            table["tuning"] = draw(st.floats(20.0, 20000.0))
    title = draw(st.dictionaries(st.sampled_from(["fi", "en", "sv"]), _value(schema.TOP[1]),
                                 min_size=1))
    return {"title": title, "description": draw(_value(schema.TOP[1])),
            "defaults": defaults, "room": draw(_table(schema.ROOM)),
            "metadata": draw(_table(schema.METADATA)), "instruments": instruments,
            "phases": phases}


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(presets())
def test_random_valid_presets_round_trip(data):
    path = SHIPPED["classic-60"]
    p, problems = session_preset_from_dict(data, "random.toml", path=path)
    assert problems == []
    assert reload(dump_session_preset(p), path) == p


# -- instrument presets: declared in the engine, read, written and documented from it -------

def test_every_instrument_key_is_a_field_and_every_field_a_key():
    keys = {k.attr for k in (*ischema.TOP, *ischema.PARTIALS, *ischema.GLIDE)
            if k.kind != "table"} | {"strike", "rub", "gong", "transient"}
    assert keys == {f.name for f in fields(Instrument)} - {"path"}
    for keys, cls in ((ischema.STRIKE, StrikeStyle), (ischema.RUB, RubStyle),
                      (ischema.GONG, GongStyle), (ischema.TRANSIENT, TransientStyle)):
        assert [k.attr for k in keys] == [f.name for f in fields(cls)], cls.__name__


@pytest.mark.parametrize("keys, cls", [(ischema.STRIKE, StrikeStyle), (ischema.RUB, RubStyle),
                                       (ischema.GONG, GongStyle)])
def test_instrument_dataclass_defaults_are_the_schema_defaults(keys, cls):
    made = cls()
    for k in keys:
        assert getattr(made, k.attr) == k.default, k.name


def test_an_empty_instrument_table_reads_as_the_schema_defaults(tmp_path):
    text = INSTRUMENTS["universal"].read_text(encoding="utf-8")
    data = tomllib.loads(text)
    data["strike"], data["rub"] = {}, {}
    inst, problems = instrument_from_dict(data, "x.toml", path=INSTRUMENTS["universal"])
    assert problems == []
    assert inst.strike == StrikeStyle() and inst.rub == RubStyle()
    assert (inst.strike.gap_s, inst.rub.rev_hz, inst.rub.noise_hz) == (0.15, 0.7, (800.0, 6000.0))


def test_docs_check_fails_on_a_changed_instrument_default():
    text = DOCS.read_text(encoding="utf-8")
    row = "| `seed` | whole number | [0, 2^31] | `1` |"
    edited = text.replace(row, "| `seed` | whole number | [0, 2^31] | `7` |")
    assert row in text and edited != text and schema.render_docs(edited) == text
    edited = text.replace("| `jitter_db` | number | [0, 6] dB |", "| `jitter_db` | number | "
                                                                    "[0, 9] dB |")
    assert edited != text and schema.render_docs(edited) == text


def _reload_instrument(text: str, path: Path):
    inst, problems = instrument_from_dict(tomllib.loads(text), str(path), path=path, text=text)
    assert problems == [], (problems, text)
    return inst


@pytest.mark.parametrize("name", sorted(INSTRUMENTS))
def test_every_shipped_instrument_round_trips(name):
    inst = load_instrument(name)
    text = dump_instrument_preset(inst)
    again = _reload_instrument(text, INSTRUMENTS[name])
    assert again == inst
    assert dump_instrument_preset(again) == text


def test_an_instrument_dump_is_in_schema_order_with_ranges():
    text = dump_instrument_preset(load_instrument("planet-gong-earth"))
    lines = text.splitlines()
    assert lines[0] == 'family = "gong"' and "fundamental = 136.1" in lines
    assert "partials = 240  # [0, 600]" in lines
    assert "range_hz = [300.0, 12000.0]  # each [20, 20000] Hz" in lines
    assert [x for x in lines if x.startswith("[")] == ["[partials]", "[gong]"]
    tingsha = dump_instrument_preset(load_instrument("tingsha"))
    assert "notes = [1480.0, 1487.5]" in tingsha and "fundamental" not in tingsha


def test_what_analyse_writes_round_trips(tmp_path):
    """The writer of ``sointu analyse`` (instrument_dict + preset_text): load -> dump -> load."""
    from sointu.analysis.partials import Partial
    from sointu.analysis.preset import instrument_dict, preset_text

    rng = np.random.default_rng(9)
    base = 211.37
    partials = [Partial(base * r, float(t), float(a), float(s), (0.6, 0.4) if s else (1.0, 0.0),
                        8.0)
                for r, t, a, s in zip((1.0, 2.71, 5.33, 8.6, 12.4), (41.0, 19.5, 8.2, 4.1, 2.2),
                                      rng.uniform(0.05, 0.5, 5), (0.7, 1.9, 0.0, 3.3, 0.0),
                                      strict=True)]
    d = instrument_dict(partials, name="mine", family=None, source="mine.wav, 1 stroke\n\"x\"")
    path = tmp_path / "mine.toml"
    path.write_text(preset_text(d, "Analysed by sointu\nfrom mine.wav"), encoding="utf-8")
    first = load_instrument(str(path))
    assert first.family == "bowl" and len(first.ratio) == 5
    text = dump_instrument_preset(first)
    assert _reload_instrument(text, path) == first


def test_a_file_written_by_sointu_analyse_round_trips(tmp_path):
    """The command itself: a strike of small-bright analysed, its preset load -> dump -> load."""
    wav, toml = tmp_path / "b.wav", tmp_path / "mine.toml"
    for args in (["strike", "small-bright", "-o", wav, "--seconds", "6"],
                 ["analyse", wav, "--name", "mine", "-o", toml]):
        r = subprocess.run([sys.executable, "-m", "sointu", *map(str, args)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    first = load_instrument(str(toml))
    assert first.name == "mine" and len(first.ratio) >= 3
    again = _reload_instrument(dump_instrument_preset(first), toml)
    assert again == first


@st.composite
def instruments(draw):
    n = draw(st.integers(1, 6))
    data = {"family": draw(st.sampled_from(["gong", "chime", "crystal", "tingsha"])),
            "fundamental": draw(st.floats(40.0, 2000.0))}
    data["partials"] = {
        "ratio": [1.0] + [draw(st.floats(1.05, 40.0)) for _ in range(n - 1)],
        "gain_db": draw(st.lists(st.floats(-80.0, 12.0), min_size=n, max_size=n)),
        "t60_s": draw(st.lists(st.floats(1.0, 600.0), min_size=n, max_size=n)),
    }
    if draw(st.booleans()):
        data["partials"]["split_hz"] = draw(st.lists(st.floats(0.0, 50.0), min_size=n,
                                                     max_size=n))
    if draw(st.booleans()):
        data["partials"]["octave_db"] = draw(st.floats(-80.0, -10.0))
    for name, keys in (("strike", ischema.STRIKE), ("glide", ischema.GLIDE)):
        table = draw(_table([k for k in keys if k.kind in ("number", "text")
                             and not callable(k.default) and not k.check]))
        data[name] = table
    if data["family"] == "gong" and draw(st.booleans()):
        data["gong"] = draw(_table([k for k in ischema.GONG if k.kind == "number"
                                    and not k.check]))
    if draw(st.booleans()):
        data["transient"] = {"noise_db": draw(st.floats(-80.0, 12.0))}
    return data


@settings(max_examples=40, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(instruments())
def test_random_valid_instruments_round_trip(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("i") / "random.toml"
    inst, problems = instrument_from_dict(data, str(path), path=path)
    assert problems == [], problems
    assert _reload_instrument(dump_instrument_preset(inst), path) == inst


BROKEN = """\
family = "bowl"
fundamental = "H9"
level_db = 3.0
colour = "gold"

[partials]
ratio = [1.0, 2.8, 5.25]
gain_db = [0.0, -3.0]
t60_s = [20.0, 9.0, 0.001]
order = [2, 3.5, 4]

[strike]
count = [3, 2]

[gong]
partials = 10
"""


def test_a_broken_instrument_lists_every_problem_with_file_line_and_key(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN, encoding="utf-8")
    inst, problems = check_instrument_file(path)
    assert inst is None
    assert problems == [
        f"{path}:4: colour: unknown key; allowed: description, family, fundamental, glide, "
        "gong, level_db, name, notes, partials, rub, source, strike, transient",
        f"{path}:2: fundamental: 'H9' is not a frequency, a note name (e.g. G3, C#4) or a "
        f"Cousto name ({', '.join(cousto_names())})",
        f"{path}:3: level_db: 3 is out of range; allowed [-60, 0]",
        f"{path}:8: partials.gain_db: expected 3 values, got 2",
        f"{path}:9: partials.t60_s[2]: 0.001 is out of range; allowed [0.01, 600]",
        f"{path}:10: partials.order[1]: 3.5 is not allowed; allowed: a whole number 1..40",
        f"{path}:13: strike.count: expected [low, high] with low <= high, got [3, 2]",
        f"{path}:15: gong: only gongs and tam-tams have a [gong] table, not a bowl",
    ]
    with pytest.raises(PresetError) as info:
        load_instrument(str(path))
    assert str(info.value) == problems[0] + " (and 7 more; see sointu validate)"
    good = INSTRUMENTS["tingsha"]
    r = subprocess.run([sys.executable, "-m", "sointu", "validate", str(path), str(good)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.splitlines() == problems
    assert r.stdout == f"{good}: ok\n"


def test_strike_of_a_broken_instrument_is_one_line_and_writes_nothing(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN.replace('colour = "gold"\n', ""), encoding="utf-8")
    out = tmp_path / "x.wav"
    r = subprocess.run([sys.executable, "-m", "sointu", "strike", str(path), "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert f"{path}:2: fundamental: 'H9' is not a frequency" in r.stderr
    assert not out.exists()


def test_engine_data_files_are_read_by_the_schema(tmp_path, monkeypatch):
    from sointu.engine import instrument_schema

    bad = tmp_path / "mallets.toml"
    bad.write_text("[soft]\ncutoff_hz = 700.0\nlevel_db = -2.0\ncontact_ms = 90\n",
                   encoding="utf-8")
    with pytest.raises(PresetError) as info:
        instrument_schema.read_named_tables(bad, ischema.MALLET)
    assert str(info.value) == f"{bad}:4: soft.contact_ms: 90 is out of range; allowed [0.05, 20]"


def test_the_rooms_file_is_read_by_the_schema(tmp_path):
    from sointu.engine.room import load_rooms, read_rooms

    text = (Path(__file__).resolve().parent.parent / "presets" / "engine" / "rooms.toml"
            ).read_text(encoding="utf-8")
    copy = tmp_path / "copy.toml"  # the shipped rooms, read from a copy: the engine's
    copy.write_text(text, encoding="utf-8")
    assert read_rooms(copy) == load_rooms() and len(load_rooms()) >= 2
    bad = tmp_path / "rooms.toml"
    for old, new in (("reflections = 48", "reflections = 48.5"),
                     ("reflections_ms = [3.0, 40.0]", "reflections_ms = [40.0, 3.0]"),
                     ("headphone_ear_m = 0.3", "headphone_ear_m = 3.0")):
        assert old in text
        text = text.replace(old, new, 1)
    bad.write_text(text, encoding="utf-8")
    line = text.splitlines().index("reflections = 48.5") + 1
    with pytest.raises(PresetError) as info:
        read_rooms(bad)
    assert str(info.value) == (f"{bad}:{line}: treatment-room.reflections: 48.5 is not "
                               f"allowed; allowed: a whole number 4..512 (and 2 more)")
    (tmp_path / "empty.toml").write_text("# no rooms\n", encoding="utf-8")
    with pytest.raises(PresetError, match="empty.toml: no rooms defined; allowed: "):
        read_rooms(tmp_path / "empty.toml")



def test_a_bad_family_is_one_problem_not_a_cascade_of_its_transient_keys(tmp_path):
    # the family picks the strike transient; with an unknown family the preset's own
    # [transient] keys cannot be completed, and that is not the user's second mistake
    path = tmp_path / "drum.toml"
    path.write_text(BROKEN.replace('family = "bowl"', 'family = "drum"')
                    .replace("[gong]\npartials = 10\n", "[transient]\nnoise_db = 7.5\n"),
                    encoding="utf-8")
    inst, problems = check_instrument_file(path)
    assert inst is None
    assert problems[1].startswith(f"{path}:1: family: 'drum' is not allowed; allowed: bowl")
    assert not [p for p in problems if ": transient." in p], problems
