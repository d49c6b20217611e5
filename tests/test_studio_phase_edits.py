"""What the studio edits in a phase beyond its strokes: its rubbed (singing) bowls and its
signals (a few strokes of a tingsha at a set time). Shown, turned on and off or removed,
edited, checked as ``sointu validate`` checks them (problems named by their field), and
written into the preset's TOML where a person would write them, the rest of the file as it
was; then in a real browser, to the saved preset."""

from __future__ import annotations

import tomllib

import pytest

from sointu.session.composer import compose
from sointu.session.presets import load_session_preset
from test_studio_browser import (  # the page helpers and fixtures of the browser tests
    _choose_preset,
    _drawn,
    _error_beside,
    _field_input,
    _js,
    _texts,
    _type,
    _wait,
    browser,  # noqa: F401
    page,  # noqa: F401
    studio,  # noqa: F401
)

PORT = 48133
SECRET = "phase-edits-tests-" + "k" * 30
BASE = f"http://127.0.0.1:{PORT}"
NEW = {"instruments": {"heart": 2, "universal": 1}, "interval_s": [100, 150],
       "duration_s": [20, 30], "velocity": [0.3, 0.45]}


@pytest.fixture
def client(studio_client):
    return studio_client(PORT, SECRET)[0]


def _session(client):
    return client.get("/api/presets/classic-60", base_url=BASE).json["session"]


def _check(client, s):
    r = client.post("/api/session/check", json=s, base_url=BASE)
    return r.status_code, r.json


def _without_rubs(text: str) -> list[str]:
    """The lines of a preset's TOML outside its ``[phases.rub]`` tables (each runs to the
    next blank line)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.strip() == "[phases.rub]":
            inside = True
        elif inside and not line.strip():
            inside = False
        elif not inside:
            out.append(line)
    return out


def test_the_view_shows_each_phases_rub(client):
    phases = _session(client)["phases"]
    assert [p["rub"] is not None for p in phases] == [False, True, False]
    assert phases[1]["rub"] == {"instruments": {"pelvic": 1, "universal": 1, "heart": 1},
                                "interval_s": [240, 420], "duration_s": [25, 50],
                                "velocity": [0.35, 0.5]}


def test_rubs_turned_on_edited_and_off_are_written_as_a_person_would(client, tmp_path):
    s = _session(client)
    before = _check(client, s)[1]["toml"]
    s["phases"][0]["rub"] = NEW
    s["phases"][1]["rub"] = None
    s["phases"][2]["rub"] = dict(NEW, instruments={"small-high": 1}, velocity=[0.4, 0.6])
    status, body = _check(client, s)
    assert status == 200 and body["problems"] == [], body
    text = body["toml"]
    doc = tomllib.loads(text)
    assert doc["phases"][0]["rub"] == {k: v for k, v in NEW.items()}
    assert "rub" not in doc["phases"][1]
    # the default strength is not written out, the required keys are
    assert doc["phases"][2]["rub"] == {"instruments": {"small-high": 1},
                                       "interval_s": [100, 150], "duration_s": [20, 30]}
    # placed before the phase's cues, indented as the shipped presets are
    intro = text[text.index('name = "introduction"'):text.index('name = "relaxation"')]
    assert intro.index("  [phases.rub]") < intro.index("  [[phases.cues]]   # opening signal")
    # everything else as it was, line for line, comments too
    assert _without_rubs(text) == _without_rubs(before)
    # and the session it makes rubs where it was asked to
    preset_path = tmp_path / "rubs.toml"
    preset_path.write_text(text, encoding="utf-8")
    tl = compose(load_session_preset(str(preset_path)), seed=3)
    rubbed = {e.phase for e in tl.events if e.articulation == "rub"}
    assert rubbed == {"introduction", "recovery"}
    assert {e.instrument for e in tl.events if e.articulation == "rub"
            and e.phase == "recovery"} == {"small-high"}


def test_a_rub_edited_in_place_keeps_its_layout(client):
    s = _session(client)
    s["phases"][1]["rub"]["interval_s"] = [200, 300]
    text = _check(client, s)[1]["toml"]
    assert "  [phases.rub]\n  instruments = { pelvic = 1, universal = 1, heart = 1 }\n" \
           "  interval_s = [200, 300]\n" in text


@pytest.mark.parametrize("rub,field,words", [
    ({"instruments": {"gong": 1}, "interval_s": [100, 200], "duration_s": [10, 20]},
     "phases[0].rub.instruments.gong", "a gong cannot be rubbed; allowed: bowls and crystal"),
    ({"instruments": {"heart": 1}, "interval_s": [1, 2], "duration_s": [10, 20]},
     "phases[0].rub.interval_s", "1 is out of range; allowed [5, 1800]"),
    ({"instruments": {"heart": 1}, "interval_s": [100, 200]},
     "phases[0].rub.duration_s", "duration_s: missing"),
    ({"instruments": {}, "interval_s": [100, 200], "duration_s": [10, 20]},
     "phases[0].rub.instruments", "expected at least one instrument with a weight above 0"),
])
def test_a_bad_rub_is_one_problem_naming_its_field(client, rub, field, words):
    s = _session(client)
    s["phases"][0]["rub"] = rub
    status, body = _check(client, s)
    assert status == 200 and len(body["problems"]) == 1, body
    problem = body["problems"][0]
    assert problem["field"] == field and words in problem["error"], problem
    assert "\n" not in problem["error"]


@pytest.mark.parametrize("rub,field", [
    ({"instruments": {"heart": 1}, "interval_s": [100, 200], "duration_s": [10, 20],
      "hold": 3}, "phases[0].rub.hold"),
    ({"instruments": {"heart": 1}, "interval_s": [100, None], "duration_s": [10, 20]},
     "phases[0].rub.interval_s[1]"),
    ([1, 2], "phases[0].rub"),
])
def test_what_toml_cannot_hold_is_refused_at_once(client, rub, field):
    s = _session(client)
    s["phases"][0]["rub"] = rub
    status, body = _check(client, s)
    assert status == 400 and body["field"] == field and "\n" not in body["error"], body


# -- in the browser -----------------------------------------------------------------------------

def test_rubs_are_turned_on_and_off_in_the_page_and_saved(studio, page):  # noqa: F811
    d = page
    _choose_preset(d, "short-test")
    _wait(d, "return window.studio.picture.drawn >= 1;", what="the first session picture")
    # the introduction has no rubs: only its checkbox; the relaxation's are shown
    assert not d.find_elements("css selector", 'input[data-field="phases[0].rub.interval_s"]')
    assert _field_input(d, "phases[1].rub.interval_s").get_attribute("value") == "240"
    box = _field_input(d, "phases[0].rub")
    assert box.get_attribute("type") == "checkbox" and not box.is_selected()
    box.click()
    _wait(d, "return document.querySelector('input[data-field=\"phases[0].rub.interval_s\"]')"
             " !== null;", what="the introduction's rub fields")
    # the page's own check, beside the field
    _type(d, _field_input(d, "phases[0].rub.interval_s"), "1")
    assert _error_beside(d, "phases[0].rub.interval_s") == _texts("en")["err.range"].replace(
        "{span}", "5…1800")
    drawn = _drawn(d)
    _type(d, _field_input(d, "phases[0].rub.interval_s"), "100")
    _type(d, _field_input(d, "phases[0].rub.interval_s", 1), "150")
    _type(d, _field_input(d, "phases[0].rub.instruments.pelvic"), "0")
    _field_input(d, "phases[1].rub").click()  # the relaxation sings no more
    _wait(d, "return window.studio.picture.drawn > arguments[0] && !window.studio.picture.busy;",
          drawn, what="the session picture redrawn")
    assert _error_beside(d, "phases[0].rub.interval_s") == ""
    assert _js(d, "return window.studio.session.phases[1].rub;") is None
    _type(d, d.find_element("id", "save-name"), "rubs")
    d.find_element("id", "save").click()
    _wait(d, "return document.getElementById('save-status').textContent.includes('rubs');",
          what="the preset saved")
    doc = tomllib.loads((studio.folder / "presets" / "rubs.toml").read_text("utf-8"))
    rub = doc["phases"][0]["rub"]
    assert rub["interval_s"] == [100, 150] and rub["duration_s"] == [25, 50]
    assert "pelvic" not in rub["instruments"] and rub["instruments"]["heart"] == 1
    assert "rub" not in doc["phases"][1]


# -- signals -------------------------------------------------------------------------------------

def test_the_view_shows_each_phases_signals(client):
    phases = _session(client)["phases"]
    assert [p["signals"] for p in phases] == [
        [{"count": 3, "velocity": [0.35, 0.45], "instrument": "tingsha", "at_s": 2}], [],
        [{"count": 3, "velocity": [0.45, 0.55], "instrument": "tingsha", "at_s": -24}]]


def test_signals_edited_and_removed(client, tmp_path):
    s = _session(client)
    s["phases"][0]["signals"][0].update(count=5, velocity=[0.2, 0.3])
    s["phases"][2]["signals"][0]["count"] = 0  # no closing signal
    status, body = _check(client, s)
    assert status == 200 and body["problems"] == [], body
    doc = tomllib.loads(body["toml"])
    opening = doc["phases"][0]["cues"][0]
    assert (opening["kind"], opening["count"], opening["velocity"]) == ("signal", 5, [0.2, 0.3])
    assert opening["gap_s"] == [6, 8] and opening["at_s"] == 2  # the rest as it was
    assert "cues" not in doc["phases"][2]
    assert [c["kind"] for c in doc["phases"][1]["cues"]] == ["wave", "wave"]  # untouched
    assert "  [[phases.cues]]   # opening signal" in body["toml"]  # its comment kept
    path = tmp_path / "signals.toml"
    path.write_text(body["toml"], encoding="utf-8")
    tl = compose(load_session_preset(str(path)))
    tingsha = [e for e in tl.events if e.instrument == "tingsha"]
    assert [e.phase for e in tingsha] == ["introduction"] * 5


def test_a_default_sent_back_is_not_written(client):
    before = _check(client, _session(client))[1]["toml"]
    s = _session(client)
    assert _check(client, s)[1]["toml"] == before  # the view sent back: the same file


@pytest.mark.parametrize("change,status,field,words", [
    ({"count": 99}, 200, "phases[0].signals[0].count", "99 is out of range; allowed [1, 64]"),
    ({"velocity": [0.5, 2]}, 200, "phases[0].signals[0].velocity", "out of range"),
    ({"gap_s": [1, 2]}, 400, "phases[0].signals[0].gap_s", "unknown key; allowed: count"),
])
def test_a_bad_signal_names_its_field(client, change, status, field, words):
    s = _session(client)
    s["phases"][0]["signals"][0].update(change)
    got, body = _check(client, s)
    assert got == status, body
    problem = body["problems"][0] if status == 200 else body
    assert problem["field"] == field and words in problem["error"], problem


def test_signals_cannot_be_added_or_reordered_from_the_page(client):
    s = _session(client)
    s["phases"][1]["signals"] = [{"count": 3}]  # the relaxation has none
    status, body = _check(client, s)
    assert status == 400 and body["field"] == "phases[1].signals"
    assert body["error"] == ("phases[1].signals: expected a list of the phase's 0 signal(s), "
                             "in order (count 0 removes one)")


def test_a_closing_signal_is_removed_in_the_page_and_saved(studio, page):  # noqa: F811
    d = page
    _choose_preset(d, "short-test")
    _wait(d, "return window.studio.picture.drawn >= 1;", what="the first session picture")
    legend = _js(d, "return document.querySelector('.field.signal[data-field=\"phases[2]"
                    ".signals[0]\"] legend').textContent;")
    assert legend == _texts("en")["sess.signal"].format(
        instrument="Tingsha", when=_texts("en")["sess.signal_end"].format(s="24"))
    _type(d, _field_input(d, "phases[0].signals[0].count"), "65")
    assert _error_beside(d, "phases[0].signals[0].count") == _texts("en")[
        "err.range"].replace("{span}", "0…64")
    _type(d, _field_input(d, "phases[0].signals[0].count"), "2.5")
    assert _error_beside(d, "phases[0].signals[0].count") == _texts("en")[
        "err.integer"].replace("{span}", "0…64")
    drawn = _drawn(d)
    _type(d, _field_input(d, "phases[0].signals[0].count"), "2")
    _type(d, _field_input(d, "phases[2].signals[0].count"), "0")
    _wait(d, "return window.studio.picture.drawn > arguments[0] && !window.studio.picture.busy;",
          drawn, what="the session picture redrawn")
    _type(d, d.find_element("id", "save-name"), "signals")
    d.find_element("id", "save").click()
    _wait(d, "return document.getElementById('save-status').textContent.includes('signals');",
          what="the preset saved")
    doc = tomllib.loads((studio.folder / "presets" / "signals.toml").read_text("utf-8"))
    assert doc["phases"][0]["cues"][0]["count"] == 2
    assert "cues" not in doc["phases"][2]
