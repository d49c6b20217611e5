"""The studio's caches and the fields added last (issue 14): a folder preset edited by hand
is read again, seeds above 2^53, the cookie per port, a phase's mallets at its end, the
gift's allative and title."""

from __future__ import annotations

import os
import time
import tomllib

import pytest

from sointu.presets import read_text
from sointu.studio import create_app
from sointu.studio import session_doc as D
from sointu.studio.guard import cookie_name


def test_a_preset_edited_on_disk_is_parsed_again(tmp_path):
    (tmp_path / "presets").mkdir()
    text = read_text(D.find_session(tmp_path, "classic-60"))
    mine = tmp_path / "presets" / "mine.toml"
    mine.write_text(text, encoding="utf-8")
    doc, _ = D.base_document(tmp_path, "mine")
    assert doc["defaults"]["seed"] == 1
    again, _ = D.base_document(tmp_path, "mine")
    assert again is doc  # parsed once
    mine.write_text(text.replace("seed = 1\n", "seed = 12345\n", 1), encoding="utf-8")
    st = mine.stat()
    os.utime(mine, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    edited, _ = D.base_document(tmp_path, "mine")
    assert edited["defaults"]["seed"] == 12345


# -- over the app ----------------------------------------------------------------------------

SECRET = "polish-secret"
PORT = 48131
BASE = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "practice"
    d.mkdir()
    return d


@pytest.fixture
def client(folder):
    c = create_app(folder, SECRET, port=PORT).test_client()
    c.set_cookie(cookie_name(PORT), SECRET, domain="127.0.0.1")
    return c


def _session(client, name="classic-60"):
    r = client.get(f"/api/presets/{name}", base_url=BASE)
    assert r.status_code == 200
    return r.json["session"]


def _check(client, session):
    r = client.post("/api/session/check", json=session, base_url=BASE)
    return r


def _tree(folder):
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))}


def test_seeds_above_2_53_go_through_exactly(client, folder):
    s = _session(client)
    assert s["seed"] == "1"
    big = str(2**63 - 1)  # 9223372036854775807: a float would make it ...808
    s["seed"] = big
    r = _check(client, s)
    assert r.json["problems"] == [], r.json
    assert tomllib.loads(r.json["toml"])["defaults"]["seed"] == 2**63 - 1
    r = client.post("/api/presets", json={"name": "big-seed", "session": s}, base_url=BASE)
    assert r.status_code == 201, r.json
    saved = tomllib.loads((folder / "presets" / "big-seed.toml").read_text("utf-8"))
    assert saved["defaults"]["seed"] == 2**63 - 1
    assert _session(client, "big-seed")["seed"] == big  # back to the page as it was typed
    s["seed"] = str(2**53 + 1)
    assert tomllib.loads(_check(client, s).json["toml"])["defaults"]["seed"] == 2**53 + 1
    s["seed"] = 5  # a number still does
    assert tomllib.loads(_check(client, s).json["toml"])["defaults"]["seed"] == 5


@pytest.mark.parametrize("seed", [str(2**63), "-1", "1e9", "seven", "1.5", ""])
def test_bad_seeds_get_the_command_lines_line(client, folder, seed):
    s = _session(client)
    s["seed"] = seed
    r = _check(client, s)
    if r.status_code == 200:  # in range of JSON and TOML: the validator's line
        problems = {p["field"]: p["error"] for p in r.json["problems"]}
        assert set(problems) == {"seed"}, problems
        error = problems["seed"]
    else:
        assert r.status_code == 400 and r.json["field"] == "seed", r.json
        error = r.json["error"]
    assert "allowed: a whole number 0..2^63-1" in error and "\n" not in error
    before = _tree(folder)
    r = client.post("/api/presets", json={"name": "bad-seed", "session": s}, base_url=BASE)
    assert r.status_code == 400 and _tree(folder) == before


def test_mallets_at_the_end_of_a_phase(client):
    s = _session(client)
    assert s["phases"][0]["mallets_end"] is None
    s["phases"][0]["mallets_end"] = {"hard": 1}
    r = _check(client, s)
    assert r.json["problems"] == [], r.json
    doc = tomllib.loads(r.json["toml"])
    assert doc["phases"][0]["mallets_end"] == {"hard": 1}
    s["phases"][0]["mallets_end"] = {"hammer": 1}
    problems = {p["field"]: p["error"] for p in _check(client, s).json["problems"]}
    assert list(problems) == ["phases[0].mallets_end"], problems
    assert "hammer" in problems["phases[0].mallets_end"]


def _wait(client, job_id, timeout=600):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        j = client.get(f"/api/jobs/{job_id}", base_url=BASE).json
        if j["state"] != "running":
            return j
        time.sleep(0.2)
    raise AssertionError("the job did not end")


def _short(client):
    s = _session(client, "gift-30")
    s["duration_s"] = 60
    return s


def test_a_gift_with_its_own_title_and_allative(client, folder):
    import mutagen

    r = client.post("/api/gift", json={"session": _short(client), "recipient": "Klaus Müller",
                                       "allative": "Klausille", "lang": "fi",
                                       "format": "wav"}, base_url=BASE)
    assert r.status_code == 202, r.json
    assert r.json["title"] == "Sointulahja - Klausille"
    r2 = client.post("/api/gift", json={"session": _short(client), "recipient": "Maija",
                                        "title": "Joulun hiljaisuus", "lang": "fi"},
                     base_url=BASE)
    assert r2.status_code == 202, r2.json
    assert r2.json["title"] == "Joulun hiljaisuus" and r2.json["note"] is None
    for out in (r, r2):
        assert _wait(client, out.json["job"])["state"] == "done"
    tags = mutagen.File(str(folder / "renders" / r2.json["file"]))
    assert r2.json["file"] == "Joulun-hiljaisuus.flac"
    assert tags["title"] == ["Joulun hiljaisuus"]
    assert (folder / "renders" / r.json["file"]).stat().st_size > 60 * 48000 * 4


@pytest.mark.parametrize("body, field, words", [
    ({"allative": "Klaus"}, "allative", "does not end in -lle"),
    ({"allative": "lle"}, "allative", "does not end in -lle"),
    ({"allative": "12lle"}, "allative", "does not end in -lle after the name"),
    ({"title": "x" * 251}, "title", "at most 250"),
    ({"title": "Hei\x07"}, "title", "control character"),
])
def test_bad_allative_or_title_writes_nothing(client, folder, body, field, words):
    before = _tree(folder)
    r = client.post("/api/gift", json={"preset": "gift-30", "recipient": "Klaus", **body},
                    base_url=BASE)
    assert r.status_code == 400 and r.json["field"] == field, r.json
    assert words in r.json["error"] and "\n" not in r.json["error"]
    assert _tree(folder) == before


def test_an_instrument_edited_on_disk_is_listed_anew(client, folder):
    from sointu.presets import shipped_dir

    text = (shipped_dir() / "instruments" / "heart.toml").read_text("utf-8")
    mine = folder / "presets" / "my-bowl.toml"
    mine.write_text(text, encoding="utf-8")

    def listed():
        r = client.get("/api/instruments", base_url=BASE)
        return {i["name"]: i for i in r.json}.get("my-bowl")

    first = listed()
    assert first["description"].startswith("Heart bowl")
    mine.write_text(text.replace("Heart bowl", "My own bowl", 1), encoding="utf-8")
    st = mine.stat()
    os.utime(mine, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert listed()["description"].startswith("My own bowl")
    mine.write_text("family = \"bowl\"\nbroken = [\n", encoding="utf-8")
    assert listed() is None  # a broken file is left out


def test_the_gain_estimate_runs_below_the_studios_own_priority(monkeypatch):
    """10 below the studio's thread, even when the studio itself runs under ``nice`` (an
    absolute 10 was then the studio's own priority, and the estimate doubled a picture)."""
    import threading

    import sointu.rendering.estimate as E
    from sointu.studio import sounds as S

    seen = {}

    class Recorder:
        def __init__(self, audio, target):
            seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

        def result(self):
            return -3.0

        def close(self):
            pass

    monkeypatch.setattr(E, "GainEstimate", Recorder)

    def run():
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < 5:  # raising it is always allowed
            os.setpriority(os.PRIO_PROCESS, tid, 5)  # this test thread as a niced studio
        seen["studio"] = os.getpriority(os.PRIO_PROCESS, tid)
        S._estimate(None, ("test-key",), -18.0)

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert seen["studio"] >= 5 and seen["nice"] == min(19, seen["studio"] + 10)
    assert S._GAINS.pop(("test-key",)) == -3.0
