"""Tunings (note names, Cousto names, Hz) and instrument preset files: good values load, bad
ones raise PresetError with one line that names the file, the key and what is allowed."""

from __future__ import annotations

import numpy as np
import pytest

from audio_measure import peak_near, render_all, spectrum_db
from sointu.engine.library import load_instrument
from sointu.engine.piece import Piece
from sointu.engine.room import Room
from sointu.engine.tuning import to_hz
from sointu.errors import PresetError


@pytest.mark.parametrize("value, hz", [
    ("A4", 440.0),
    ("C4", 261.63),
    ("Bb2", 116.54),
    ("C#3", 138.59),
    ("earth-year", 136.10),
    ("Earth-Year", 136.10),
    (221, 221.0),
    (471.36, 471.36),
    ("432 Hz", 432.0),
])
def test_to_hz(value, hz):
    assert to_hz(value) == pytest.approx(hz, abs=0.005)


def test_octaves_and_semitones():
    assert to_hz("A3") == pytest.approx(220.0, rel=1e-12)
    assert to_hz("A5") == pytest.approx(880.0, rel=1e-12)
    assert to_hz("A#4") == pytest.approx(440.0 * 2 ** (1 / 12), rel=1e-12)
    assert to_hz("Bb4") == pytest.approx(to_hz("A#4"), rel=1e-12)


@pytest.mark.parametrize("value, quoted", [
    ("H4", "H4"),
    ("not-a-planet", "not-a-planet"),
    (5, "5"),
    (30000.0, "30000"),
    ("C12", "C12"),
    (True, "True"),
    (None, "None"),
    ([440], "[440]"),
    (float("nan"), "nan"),
])
def test_bad_tunings_raise_one_line(value, quoted):
    with pytest.raises(PresetError) as exc:
        to_hz(value, "my.toml: fundamental")
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("my.toml: fundamental")
    assert quoted in msg


# -- instrument files ----------------------------------------------------------------------

GOOD = """\
name = "my-bowl"
family = "bowl"
description = "a bowl written by a user"
fundamental = {fundamental}
level_db = -14.0

[partials]
ratio    = [1.0, {r1}, {r2}, 8.1]
gain_db  = [0.0, -4.0, -9.0, -14.0]
t60_s    = {t60}
split_hz = [1.0, 2.0, 0.0, 4.0]
"""


def _write(tmp_path, text: str, name: str = "my-bowl.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _good(fundamental="300.0", r1="2.75", r2="5.2", t60="[30.0, 20.0, 12.0, 8.0]") -> str:
    return GOOD.format(fundamental=fundamental, r1=r1, r2=r2, t60=t60)


def _error(path) -> str:
    with pytest.raises(PresetError) as exc:
        load_instrument(str(path))
    msg = str(exc.value)
    assert "\n" not in msg, msg
    assert str(path) in msg, msg
    return msg


def test_a_user_instrument_file_loads_and_sounds_at_its_tuning(tmp_path):
    path = _write(tmp_path, _good(fundamental='"D4"'))
    inst = load_instrument(str(path))
    assert inst.name == "my-bowl" and inst.family == "bowl"
    assert inst.fundamental_hz == pytest.approx(293.66, abs=0.01)
    assert inst.t60_s == (30.0, 20.0, 12.0, 8.0)
    # and it renders at that tuning: one stroke, fundamental measured within 0.5 %
    fs = 48000
    pc = Piece(fs, Room(reverb=0.0, width=0.0))
    pc.add_instrument("x", inst)
    pc.strike("x", 0.0, velocity=1.0, rng=np.random.default_rng(1))
    x = render_all(pc, 2.2)
    freq, mag = spectrum_db(x[int(0.1 * fs):, 0], fs)
    for r in inst.ratio:
        f_hz = inst.fundamental_hz * r
        got = peak_near(freq, mag, f_hz, 0.02)[0]
        assert got == pytest.approx(f_hz, rel=0.005)


def test_malformed_toml(tmp_path):
    path = _write(tmp_path, _good() + "\nlevel_db = = 3\n")
    msg = _error(path)
    assert "malformed TOML" in msg and "line" in msg


def test_unknown_top_level_key_lists_the_allowed_keys(tmp_path):
    path = _write(tmp_path, "colour = 'gold'\n" + _good())
    msg = _error(path)
    assert "colour" in msg
    for key in ("family", "fundamental", "level_db", "notes", "partials", "rub", "strike"):
        assert key in msg


def test_unknown_partial_key_lists_the_allowed_keys(tmp_path):
    path = _write(tmp_path, _good().replace("split_hz", "decay_s"))
    msg = _error(path)
    assert "partials.decay_s" in msg
    for key in ("ratio", "gain_db", "t60_s", "split_hz", "order", "bloom_s"):
        assert key in msg


@pytest.mark.parametrize("old, new, key, allowed", [
    ("level_db = -14.0", "level_db = 3.0", "level_db", "[-60, 0]"),
    ("t60_s    = [30.0", "t60_s    = [0.001", "partials.t60_s[0]", "[0.01, 600]"),
    ("t60_s    = [30.0", "t60_s    = [900.0", "partials.t60_s[0]", "[0.01, 600]"),
    ("gain_db  = [0.0, -4.0", "gain_db  = [0.0, 20.0", "partials.gain_db[1]", "[-80, 12]"),
    ("split_hz = [1.0", "split_hz = [-1.0", "partials.split_hz[0]", "[0, 50]"),
    ("fundamental = 300.0", "fundamental = 5.0", "fundamental", "20..20000"),
])
def test_out_of_range_values_name_file_key_and_range(tmp_path, old, new, key, allowed):
    text = _good()
    assert old in text
    msg = _error(_write(tmp_path, text.replace(old, new)))
    assert key in msg and allowed in msg, msg


def test_wrong_number_of_values(tmp_path):
    msg = _error(_write(tmp_path, _good(t60="[30.0, 20.0]")))
    assert "partials.t60_s" in msg and "4" in msg


@pytest.mark.parametrize("r1, r2, bad", [
    ("2.5", "5.2", "partials.ratio[1]"),
    ("3.1", "5.2", "partials.ratio[1]"),
    ("2.75", "4.7", "partials.ratio[2]"),
    ("2.75", "5.9", "partials.ratio[2]"),
])
def test_bowl_ratios_outside_measured_ranges_are_rejected(tmp_path, r1, r2, bad):
    msg = _error(_write(tmp_path, _good(r1=r1, r2=r2)))
    assert bad in msg
    assert "2.6" in msg or "4.8" in msg


@pytest.mark.parametrize("r1, r2", [("2.6", "4.8"), ("3.0", "5.8"), ("2.778", "5.181")])
def test_bowl_ratios_inside_measured_ranges_load(tmp_path, r1, r2):
    inst = load_instrument(str(_write(tmp_path, _good(r1=r1, r2=r2))))
    assert inst.ratio[1] == float(r1) and inst.ratio[2] == float(r2)


def test_the_ratio_ranges_apply_to_bowls_only(tmp_path):
    text = _good(r1="1.52", r2="2.0").replace('family = "bowl"', 'family = "gong"')
    inst = load_instrument(str(_write(tmp_path, text)))
    assert inst.family == "gong" and inst.ratio[1] == 1.52
