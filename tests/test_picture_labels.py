"""The pictures speak English or Finnish: a session's picture its session's language (or the
studio page's), every word from ``pictures/labels.toml``, numbers written as the language
writes them, and the phase, family and mallet words the same as the studio page's."""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from sointu.engine.audition import audition  # noqa: E402
from sointu.engine.library import load_instrument  # noqa: E402
from sointu.pictures.labels import LANGUAGES, labels, language_of  # noqa: E402
from sointu.pictures.session import session_figure  # noqa: E402
from sointu.pictures.strike import strike_figure  # noqa: E402
from sointu.session.composer import compose  # noqa: E402
from sointu.session.presets import load_session_preset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLE = tomllib.loads((ROOT / "src/sointu/pictures/labels.toml").read_text("utf-8"))
PAGE = {lang: json.loads((ROOT / f"src/sointu/studio/static/i18n/{lang}.json")
                         .read_text("utf-8")) for lang in LANGUAGES}


def _texts(fig) -> list[str]:
    """Every text a figure shows once drawn: titles, axis and tick labels, legends, notes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(fig).draw()
    return [t.get_text() for t in fig.findobj(Text) if t.get_text() and t.get_visible()]


def _words(lang: str) -> set[str]:
    """The fixed words of ``lang`` that differ from the other language's."""
    other = "fi" if lang == "en" else "en"
    return {v for k, v in TABLE[lang].items() if isinstance(v, str) and "{" not in v
            and v != TABLE[other][k]}


def test_every_language_has_every_text():
    en, fi = TABLE["en"], TABLE["fi"]
    assert set(en) == set(fi)
    for key, value in en.items():
        if isinstance(value, dict):
            assert set(value) == set(fi[key]), key
        else:  # the same fields to fill in
            assert sorted(_fields(value)) == sorted(_fields(fi[key])), key


def _fields(text: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(text) if f]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_pictures_use_the_pages_words(lang):
    table, page = TABLE[lang], PAGE[lang]
    for phase, word in table["phases"].items():
        assert page[f"phase.{phase}"] == word
    for family, word in table["families"].items():
        assert page[f"family.{family}"] == word
    for mallet, word in table["mallets"].items():
        assert page[f"mallet.{mallet}"].lower() == word
    # and the page has no phase or family the pictures lack
    assert {k.split(".", 1)[1] for k in page if k.startswith("phase.")} == set(table["phases"])
    assert {k.split(".", 1)[1] for k in page if k.startswith("family.")} == set(
        table["families"])


def test_every_shipped_phase_and_family_has_its_words():
    from sointu.session.presets import list_session_presets

    for name in list_session_presets():
        preset = load_session_preset(name)
        for spec in preset.phases:
            assert spec.name in TABLE["fi"]["phases"], (name, spec.name)
        for si in preset.instruments.values():
            assert si.family in TABLE["fi"]["families"], (name, si.family)


def test_numbers_are_written_the_languages_way():
    en, fi = labels("en"), labels("fi")
    assert en.number(-18.0, ".1f") == "-18.0" and fi.number(-18.0, ".1f") == "\u221218,0"
    assert en.number(0.5) == "0.5" and fi.number(0.5) == "0,5"
    assert fi.number(136.1, ".0f") == "136"
    with pytest.raises(ValueError, match="language 'sv' is not allowed; allowed: en, fi"):
        labels("sv")


def test_a_session_picture_speaks_its_sessions_language():
    preset = load_session_preset("classic-60")  # language = "fi"
    assert language_of(preset) == "fi"
    tl = compose(preset, duration_s=1200)
    fi = _texts(session_figure(preset, tl))
    en = _texts(session_figure(preset, tl, lang="en"))
    joined_fi, joined_en = "\n".join(fi), "\n".join(en)
    # Finnish: the title, phases, lanes, axes, legends, the note and the numbers
    for want in ("Sointurentoutus (classic-60): 20:00, siemenluku 1", "Johdanto",
                 "Rentoutuminen", "Palautuminen", "äänimalja, 123 Hz", "gongi, 136 Hz", "soitin",
                 "aika (minuuttia)", "lyönti, voimakkuus 0,2", "laulatus (äänimalja)",
                 "voimakkuus (LUFS)", "tavoite \u221218 LUFS", "äänenvoimakkuutta ei ole mitattu"):
        assert want in joined_fi, want
    assert not [w for w in _words("en") if w in fi], "English words on the Finnish picture"
    for want in ("Sound relaxation (classic-60): 20:00, seed 1", "Introduction",
                 "singing bowl, 123 Hz", "time (minutes)", "stroke, velocity 0.2",
                 "target -18 LUFS", "loudness not measured"):
        assert want in joined_en, want
    assert not [w for w in _words("fi") if w in en], "Finnish words on the English picture"
    # a short session's minutes have decimals: commas in Finnish, points in English
    short = compose(preset, duration_s=150)
    assert "0,5" in _texts(session_figure(preset, short))
    assert "0.5" in _texts(session_figure(preset, short, lang="en"))
    # a phase the pictures do not know is drawn as the preset names it
    from dataclasses import replace

    odd = replace(tl, phases=(replace(tl.phases[0], name="my-own"), *tl.phases[1:]))
    assert "my-own\n0:00" in "\n".join(_texts(session_figure(preset, odd)))


def test_a_finnish_strike_picture_writes_decimal_commas():
    inst = load_instrument("pelvic")
    syn, n = audition(inst, seconds=3.0)
    y = np.concatenate(list(syn.blocks(8192, 0, n)))
    fi = _texts(strike_figure(inst, y, 48000, lang="fi"))
    joined = "\n".join(fi)
    assert "pelvic: äänimalja, perussävel 123,5 Hz, 7 osasäveltä" in joined
    for want in ("taajuus (Hz, logaritminen asteikko)", "aika (s)", "osasävel",
                 "tämän lyönnin 7 voimakkaimman osasävelen hiipuminen", "123,5 Hz"):
        assert want in joined, want
    assert "0,5" in fi and "0.5" not in fi  # the time axis' ticks
    en = _texts(strike_figure(inst, y, 48000))
    assert "0.5" in en and "pelvic: singing bowl, fundamental 123.5 Hz, 7 partials" in en


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40, metadata={"Software": "test"})
    return buf.getvalue()


def test_a_reused_figure_changes_language_cleanly():
    """The studio redraws one figure: after a Finnish picture, an English one is the very
    picture a new figure gives (no decimal comma left on its axes), and back."""
    from PIL import Image

    def pixels(png):
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    preset = load_session_preset("classic-60")
    tl = compose(preset, duration_s=150)  # minutes with decimals on the time axis
    fresh = {lang: _png(session_figure(preset, tl, lang=lang)) for lang in LANGUAGES}
    assert fresh["en"] != fresh["fi"]
    fig = None
    for lang in ("fi", "en", "fi", "en"):
        fig = session_figure(preset, tl, lang=lang, reuse=fig)
        assert np.array_equal(pixels(_png(fig)), pixels(fresh[lang])), lang


# -- the studio asks for the page's language ---------------------------------------------------

PORT = 48131
SECRET = "labels-tests-" + "k" * 30
BASE = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def client(studio_client):
    return studio_client(PORT, SECRET)[0]


def test_the_studio_draws_in_the_pages_language(client):
    query = "/api/strike.png?instrument=pelvic&velocity=0.7"
    en = client.get(query, base_url=BASE)
    fi = client.get(query + "&lang=fi", base_url=BASE)
    assert en.status_code == fi.status_code == 200
    assert en.mimetype == fi.mimetype == "image/png" and en.data != fi.data
    assert client.get(query + "&lang=en", base_url=BASE).data == en.data  # the default
    s = client.get("/api/presets/classic-60", base_url=BASE).json["session"]
    s["duration_s"] = 600
    pics = {lang: client.post(f"/api/session/picture.png?lang={lang}", json=s, base_url=BASE)
            for lang in LANGUAGES}
    assert all(r.status_code == 200 for r in pics.values()) and pics["en"].data != pics["fi"].data


@pytest.mark.parametrize("path", ["/api/strike.png?instrument=pelvic&lang=sv",
                                  "/api/session/picture.png?lang=sv"])
def test_an_unknown_language_is_one_line_naming_the_field(client, path):
    if "session" in path:
        s = client.get("/api/presets/classic-60", base_url=BASE).json["session"]
        r = client.post(path, json=s, base_url=BASE)
    else:
        r = client.get(path, base_url=BASE)
    assert r.status_code == 400 and r.json["field"] == "lang"
    assert r.json["error"] == "lang 'sv' is not allowed; allowed: en, fi"


@pytest.mark.parametrize("lang,rub,want", [
    ("fi", False, "Lantiomalja (pelvic): äänimalja, 123,5 Hz; voimakkuus 0,7, keskikova nuija"),
    ("en", False, "Pelvic bowl (pelvic): singing bowl, 123.5 Hz; velocity 0.7, medium mallet"),
    ("fi", True, "Lantiomalja (pelvic): äänimalja, 123,5 Hz; laulatus 8 s"),
])
def test_the_strike_pictures_title_names_the_instrument_as_the_page_does(lang, rub, want):
    from sointu.studio.sounds import audition_title

    assert audition_title(load_instrument("pelvic"), "medium", 0.7, rub, lang) == want
    # a name that says its family already is not followed by it
    crystal = audition_title(load_instrument("crystal"), "hard", 0.5, False, lang)
    assert crystal.startswith(("Kristallimalja (crystal): 471,4 Hz; voimakkuus 0,5",
                               "Crystal bowl (crystal): 471.4 Hz; velocity 0.5"))


def test_the_studios_lanes_name_the_instruments_as_its_page_does():
    from sointu.studio.sounds import instrument_names

    preset = load_session_preset("classic-60")
    fi = instrument_names(preset, "fi")
    assert (fi["pelvic"], fi["small-high"], fi["gong"]) == (
        "Lantiomalja", "Pieni korkea malja", "Gongi")
    assert instrument_names(preset, "en")["pelvic"] == "Pelvic bowl"
    texts = _texts(session_figure(preset, compose(preset, duration_s=600), lang="fi",
                                  names=fi))
    assert "Lantiomalja\näänimalja, 123 Hz" in texts
    assert not any(t.startswith("pelvic\n") for t in texts)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_word_is_cut_off_at_the_pictures_edge(lang):
    """Every text of a session picture with its loudness curve, and of a strike picture,
    lies inside the picture (the Finnish words are longer)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    from sointu.rendering.loudness_curve import LoudnessCurve

    preset = load_session_preset("classic-60")
    tl = compose(preset, duration_s=1200)
    rng = np.random.default_rng(5)
    sums = 4800 * 10.0 ** ((rng.uniform(-40.0, -12.0, 12000) + 0.691) / 10.0)  # 100 ms each
    inst = load_instrument("planet-gong-earth")
    syn, n = audition(inst, seconds=4.0)
    y = np.concatenate(list(syn.blocks(8192, 0, n)))
    from sointu.studio.sounds import instrument_names

    curve = LoudnessCurve(48000, sums)
    for fig in (session_figure(preset, tl, curve, lang=lang),
                session_figure(preset, tl, curve, lang=lang,  # the studio's: longer names
                               names=instrument_names(preset, lang)),
                strike_figure(inst, y, 48000, lang=lang)):
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        width, height = canvas.get_width_height()
        for t in fig.findobj(Text):
            if not (t.get_text() and t.get_visible()):
                continue
            box = t.get_window_extent(canvas.get_renderer())
            assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height, (
                t.get_text(), box.bounds)
