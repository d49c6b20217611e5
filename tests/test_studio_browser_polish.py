"""The fields added last, in a real browser (issue 14): a seed above 2^53 saved exactly,
a phase's mallets at its end, and the gift's allative and own title, each checked in the
page with its message beside the field, then made by the server."""

from __future__ import annotations

import tomllib

import pytest

from test_studio_browser import (  # the same page helpers and fixtures
    _choose_preset,
    _drawn,
    _error_beside,
    _field_input,
    _js,
    _tab,
    _texts,
    _type,
    _wait,
    browser,  # noqa: F401
    page,  # noqa: F401
    studio,  # noqa: F401
)


def test_a_big_seed_and_mallets_at_the_end_are_saved_exactly(studio, page):  # noqa: F811
    d = page
    _choose_preset(d, "short-test")
    _wait(d, "return window.studio.picture.drawn >= 1;", what="the first session picture")
    # the page's own checks, the message beside the field
    _type(d, _field_input(d, "seed"), str(2**63))
    assert _error_beside(d, "seed") == _texts("en")["err.seed"]
    _type(d, _field_input(d, "seed"), "-3")
    assert _error_beside(d, "seed") == _texts("en")["err.seed"]
    drawn = _drawn(d)
    big = 2**53 + 1  # a browser's number would make it 2^53
    _type(d, _field_input(d, "seed"), str(big))
    _type(d, _field_input(d, "phases[0].mallets_end.hard"), "2")
    for mallet in ("medium", "hard"):  # the recovery's end emptied: as at its start
        _type(d, _field_input(d, f"phases[2].mallets_end.{mallet}"), "")
    _wait(d, "return window.studio.picture.drawn > arguments[0] && !window.studio.picture.busy;",
          drawn, what="the session picture redrawn")
    assert _error_beside(d, "seed") == ""
    assert _js(d, "return window.studio.session.seed;") == str(big)
    _type(d, d.find_element("id", "save-name"), "big-seed")
    d.find_element("id", "save").click()
    _wait(d, "return document.getElementById('save-status').textContent.includes('big-seed');",
          what="the preset saved")
    doc = tomllib.loads((studio.folder / "presets" / "big-seed.toml").read_text("utf-8"))
    assert doc["defaults"]["seed"] == big
    assert doc["phases"][0]["mallets_end"] == {"hard": 2}
    assert doc["phases"][1]["mallets_end"] == {"soft": 1}  # untouched
    assert "mallets_end" not in doc["phases"][2]  # emptied: as at the start


def test_the_gifts_allative_and_title(studio, page):  # noqa: F811
    d = page
    en = _texts("en")
    _tab(d, "gifts")
    _js(d, "document.getElementById('gift-preset').value = 'short-test';"
           "document.getElementById('gift-format').value = 'flac';"
           "document.getElementById('gift-lang').value = 'en';")
    d.find_element("id", "recipient").send_keys("Klaus Müller")
    d.find_element("id", "allative").send_keys("Klausille")
    d.find_element("id", "gift-title").send_keys("x" * 251)
    before = sorted(p.name for p in (studio.folder / "renders").iterdir())
    d.find_element("id", "gift-make").click()
    assert _error_beside(d, "allative") == en["err.allative_lang"]
    assert _error_beside(d, "title") == en["err.too_long"].replace("{max}", "250")
    _js(d, "document.getElementById('gift-lang').value = 'fi';")
    field = d.find_element("id", "allative")
    field.clear()
    field.send_keys("Klaus")
    d.find_element("id", "gift-make").click()
    assert _error_beside(d, "allative") == en["err.allative"]
    assert sorted(p.name for p in (studio.folder / "renders").iterdir()) == before
    field.clear()
    field.send_keys("Klausille")
    title = d.find_element("id", "gift-title")
    title.clear()
    title.send_keys("Iltahetki Klausille")
    d.find_element("id", "gift-make").click()
    link = _wait(d, "return document.querySelector('#gift-files a.download');", timeout=180,
                 what="the gift's download link")
    assert _error_beside(d, "allative") == "" and _error_beside(d, "title") == ""
    name = link.get_attribute("download")
    assert name == "Iltahetki-Klausille.flac"
    import mutagen

    assert mutagen.File(studio.folder / "renders" / name)["title"] == ["Iltahetki Klausille"]


@pytest.fixture(autouse=True)
def _renders(studio):  # noqa: F811
    (studio.folder / "renders").mkdir(exist_ok=True)
