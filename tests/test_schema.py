"""The session preset schema declared once: docs, dataclasses and writing agree with it."""

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    dump_session_preset,
    list_session_presets,
    load_session_preset,
    session_preset_from_dict,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "presets.md"
SHIPPED = list_session_presets()

# every schema table and the dataclass it fills; fields the loader derives are not keys
TABLES = [(schema.TOP, SessionPreset, {"name", "path"}),
          (schema.DEFAULTS, Defaults, set()), (schema.ROOM, RoomSpec, set()),
          (schema.METADATA, Metadata, set()),
          (schema.INSTRUMENT, SessionInstrument,
           {"key", "path", "family", "articulations", "fundamental_hz", "ring_s"}),
          (schema.PHASE, PhaseSpec, set()), (schema.RUB, RubSpec, set()),
          (schema.CUE, CueSpec, set())]


def test_docs_reference_tables_are_the_schema():
    text = DOCS.read_text(encoding="utf-8")
    assert text.count("<!-- schema: ") == len(schema.SECTIONS)
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


# -- instrument presets: their tables are declared in the engine, the docs are checked ------

def _doc_rows(heading: str) -> dict[str, list[str]]:
    """key -> cells of the first table under ``heading`` in docs/presets.md."""
    text = DOCS.read_text(encoding="utf-8")
    rows = {}
    for line in text[text.index(heading):].splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells
    return rows


def _numbers(cell: str) -> list[float]:
    return [2.0**31 if x == "2^31" else float(x)
            for x in re.findall(r"2\^31|-?\d+(?:\.\d+)?", cell)]


def test_docs_gong_table_is_the_engine_declaration():
    from sointu.engine.gong import KEYS, GongStyle

    rows = _doc_rows("the `[gong]` table")
    assert list(rows) == list(KEYS)
    style = GongStyle()
    for key, (default, lo, hi) in KEYS.items():
        _, _, allowed, doc_default, _ = rows[key]
        assert _numbers(allowed) == [lo, hi], key
        assert _numbers(doc_default)[:2] == (default if isinstance(default, list)
                                             else [default]), key
        value = getattr(style, key)  # the dataclass default, declared a second time
        assert (list(value) if isinstance(value, tuple) else value) == default, key


def test_docs_transient_table_is_the_engine_declaration():
    from sointu.engine.transient import _RANGES

    rows = _doc_rows("## `[transient]`")
    assert list(rows) == list(_RANGES)
    for key, (lo, hi, _) in _RANGES.items():
        assert _numbers(rows[key][2]) == [lo, hi], key
