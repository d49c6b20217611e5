"""The studio's server (issue 14): the command, and each API endpoint measured on what it
returns (audio length and rate, pictures that decode, TOML that round-trips, files written)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _sointu(*args, cwd=None):
    return [sys.executable, "-m", "sointu", *args]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_studio_command_serves_the_page_and_stops_on_ctrl_c(tmp_path, stop):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen(_sointu("studio", "--no-browser", "--port", "0", "--folder",
                                 str(tmp_path)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:(\d+)/\?token=([\w-]+))", line)
        assert m, line
        url, port, token = m.group(1), int(m.group(2)), m.group(3)
        assert len(token) >= 40 and str(tmp_path) in line
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(url, timeout=10) as r:  # the redirect carries the cookie
            page = r.read()
            assert r.status == 200 and b"<html" in page.lower()
        with opener.open(f"http://127.0.0.1:{port}/api/info", timeout=10) as r:
            assert b'"formats"' in r.read()
        with pytest.raises(urllib.error.HTTPError) as refused:  # no cookie: refused
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=10)
        assert refused.value.code == 403
    finally:
        p.send_signal(stop)
        out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert out.strip().splitlines() == ["sointu studio: stopped"]
    assert _quiet(err), err


def _quiet(err: str) -> bool:
    """Nothing on stderr but what matplotlib may say once on a fresh machine (it builds its
    font cache while the studio warms up)."""
    return all("font cache" in line for line in err.splitlines())


def test_a_port_in_use_is_one_line(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run(_sointu("studio", "--no-browser", "--port", str(port), "--folder",
                                   str(tmp_path)), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and f"--port {port} is in use" in r.stderr


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_bad_folder_is_one_line(tmp_path, kind):
    target = tmp_path / "nope"
    if kind == "file":
        target.write_text("x")
    r = subprocess.run(_sointu("studio", "--no-browser", "--folder", str(target)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--folder" in r.stderr and ("does not exist" if kind == "missing"
                                       else "is not a folder") in r.stderr


# -- the API through Flask's test client ------------------------------------------------------

import io  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from sointu.studio import create_app  # noqa: E402
from sointu.studio.guard import cookie_name  # noqa: E402

PORT = 48124
SECRET = "server-tests-" + "k" * 30
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


def _get(client, path, **kw):
    return client.get(path, base_url=BASE, **kw)


def _post(client, path, **kw):
    return client.post(path, base_url=BASE, **kw)


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))}


def _png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()  # decodes every pixel
        assert im.format == "PNG"
        return im.size


def _wav(data: bytes):
    with sf.SoundFile(io.BytesIO(data)) as f:
        assert (f.format, f.subtype) == ("WAV", "PCM_16")
        return f.read(dtype="float32"), f.samplerate


def _bad(r, field, status=400, words=""):
    assert r.status_code == status, r.get_data(as_text=True)
    body = r.json
    assert set(body) >= {"error", "field"} and body["field"] == field, body
    assert "\n" not in body["error"] and words in body["error"], body["error"]
    return body["error"]


def test_instruments_list_every_shipped_instrument(client):
    items = {i["name"]: i for i in _get(client, "/api/instruments").json}
    assert {"universal", "heart", "planet-gong-earth", "tam-tam", "tingsha"} <= set(items)
    assert items["universal"]["family"] == "bowl" and items["universal"]["can_rub"]
    assert not items["tingsha"]["can_rub"]
    assert items["planet-gong-earth"]["seconds"] == 15 and items["heart"]["seconds"] == 12
    assert 50 < items["universal"]["fundamental_hz"] < 1000
    assert all(i["description"] for i in items.values())


def test_strike_audition_is_a_48k_stereo_wav_of_the_stated_length_and_cached(client):
    q = "/api/strike.wav?instrument=heart&mallet=soft&velocity=0.6&position=30"
    t0 = time.perf_counter()
    r = _get(client, q)
    first = time.perf_counter() - t0
    assert r.status_code == 200 and r.mimetype == "audio/wav"
    x, rate = _wav(r.data)
    assert rate == 48000 and x.shape == (12 * 48000, 2) and r.headers["X-Sointu-Seconds"] == "12"
    # sointu strike's samples (seed 0), to the 16-bit step
    from sointu.library import strike

    want = strike("heart", velocity=0.6, mallet="soft", position=30, seconds=12)
    assert np.abs(want).max() > 0.01 and np.abs(want - x).max() <= 0.5 / 32768 + 1e-7
    # the heart bowl's fundamental is the strongest line of the first two seconds
    from sointu.engine.library import load_instrument

    f0 = load_instrument("heart").fundamental_hz
    spec = np.abs(np.fft.rfft(x[: 2 * rate, 0] * np.hanning(2 * rate)))
    peak_hz = np.argmax(spec) * rate / (2 * rate)
    assert abs(peak_hz - f0) < 3, (peak_hz, f0)
    from sointu.studio import sounds

    assert sounds._WAVS.peek(sounds._audition_key(
        ROOT / "presets/instruments/heart.toml", "soft", 0.6, 30.0, False, 12.0)) == r.data
    t0 = time.perf_counter()
    again = _get(client, q)
    assert again.data == r.data and time.perf_counter() - t0 < max(0.05, first / 2)
    soft = _wav(_get(client, q.replace("0.6", "0.2")).data)[0]
    assert np.abs(soft).max() < np.abs(x).max()  # velocity is heard


def test_rub_and_gong_lengths(client):
    rub = _get(client, "/api/strike.wav?instrument=heart&rub=1")
    assert rub.headers["X-Sointu-Seconds"] == "20" and len(_wav(rub.data)[0]) == 20 * 48000
    gong = _get(client, "/api/strike.wav?instrument=planet-gong-earth&seconds=3.5")
    assert len(_wav(gong.data)[0]) == int(3.5 * 48000)


@pytest.mark.parametrize("query, field, words", [
    ("instrument=nope", "instrument", "unknown instrument 'nope'; known: crystal"),
    ("instrument=heart&velocity=2", "velocity", "velocity 2 is out of range; allowed 0..1"),
    ("instrument=heart&velocity=loud", "velocity", "is not a number"),
    ("instrument=heart&mallet=steel", "mallet", "allowed: soft, medium, hard"),
    ("instrument=tingsha&rub=1", "rub", "cannot be rubbed"),
    ("instrument=heart&rub=2", "rub", "allowed: 0 (strike) or 1 (rub)"),
    ("instrument=heart&seconds=0", "seconds", "out of range"),
    ("instrument=heart&position=400", "position", "out of range"),
    ("instrument=../../etc/passwd", "instrument", "unknown instrument"),
])
def test_bad_audition_values_name_their_field(client, query, field, words):
    _bad(_get(client, f"/api/strike.wav?{query}"), field, words=words)


def test_strike_picture_decodes(client):
    r = _get(client, "/api/strike.png?instrument=universal&velocity=0.7")
    assert r.mimetype == "image/png" and _png_size(r.data) == (1280, 720)


def test_presets_and_a_preset_as_session(client):
    listed = {p["name"]: p for p in _get(client, "/api/presets").json}
    assert {"classic-60", "gong-bath", "gift-30"} <= set(listed)
    assert listed["classic-60"]["source"] == "shipped"
    assert listed["classic-60"]["duration_s"] == 3600
    r = _get(client, "/api/presets/classic-60").json
    assert r["toml"] == (ROOT / "presets/sessions/classic-60.toml").read_text("utf-8")
    s = r["session"]
    assert (s["base"], s["duration_s"], s["seed"], s["loudness_lufs"]) == (
        "classic-60", 3600, "1", -18)  # the seed as text: exact past 2^53
    assert [p["name"] for p in s["phases"]] == ["introduction", "relaxation", "recovery"]
    assert [p["gong_waves"] for p in s["phases"]] == [0, 2, 0]
    assert s["phases"][1]["instruments"] == {"pelvic": 4, "universal": 3, "heart": 2}
    assert s["instruments"]["gong"] == {"instrument": "planet-gong-earth", "level_db": -3,
                                        "azimuth_deg": -70, "family": "gong"}
    _bad(_get(client, "/api/presets/nope"), "name", 404, "unknown session preset 'nope'")


def _session(client, name="classic-60"):
    return _get(client, f"/api/presets/{name}").json["session"]


def _short(client, seconds=60, name="gift-30"):
    s = _session(client, name)
    s["duration_s"] = seconds
    return s


def test_check_maps_validate_lines_to_fields(client):
    s = _session(client)
    assert _post(client, "/api/session/check", json=s).json["problems"] == []
    s["phases"][1]["interval_s"] = [20, 10]
    s["phases"][0]["share"] = 0.5
    s["seed"] = -1
    s["instruments"]["gong"]["level_db"] = 99
    problems = _post(client, "/api/session/check", json=s).json["problems"]
    fields = {p["field"]: p["error"] for p in problems}
    assert set(fields) == {"phases[1].interval_s", "phases", "seed",
                           "instruments.gong.level_db"}, problems
    assert fields["phases[1].interval_s"].startswith("classic-60.toml:")
    assert "expected [low, high] with low <= high" in fields["phases[1].interval_s"]
    assert "they must sum to 1" in fields["phases"]
    assert "allowed: a whole number 0..2^63-1" in fields["seed"]


def test_save_round_trips_and_validates(client, folder):
    up = _post(client, "/api/recordings", content_type="multipart/form-data",
               data={"file": (io.BytesIO(_tone_wav(3.0)), "welcome.wav")})
    assert up.status_code == 201 and up.json == {"name": "welcome.wav", "seconds": 3.0}
    s = _session(client)
    s["seed"] = "7"  # as the page sends it (text: exact past 2^53)
    s["duration_s"] = 1800
    s["voice"] = "welcome.wav"
    s["phases"][1]["interval_s"] = [30, 44]
    s["phases"][1]["interval_end_s"] = None
    s["phases"][1]["gong_waves"] = 3
    s["phases"][2]["instruments"]["heart"] = 5
    s["instruments"]["gong"]["level_db"] = -6
    r = _post(client, "/api/presets", json={"name": "my-hour", "session": s})
    assert r.status_code == 201, r.json
    path = folder / "presets" / "my-hour.toml"
    assert r.json == {"name": "my-hour", "path": str(path)}
    text = path.read_text("utf-8")
    assert text.startswith("# The classic hour of sound relaxation")  # comments kept
    assert "interval_s = [30, 44]        # the bowls overlap" in text  # and the line's comment
    assert 'file = "../samples/welcome.wav"' in text
    assert "level_db = 0" not in text and "velocity = [0.4, 0.6]" not in text  # no defaults
    v = subprocess.run(_sointu("validate", str(path)), capture_output=True, text=True,
                       timeout=120, cwd=folder)
    assert v.returncode == 0 and v.stdout.strip() == f"{path}: ok", v.stderr
    again = _get(client, "/api/presets/my-hour").json
    assert again["source"] == "folder"
    back = again["session"]
    s["base"] = "my-hour"
    s["phases"][1]["interval_end_s"] = None
    assert back == s
    assert [round(c, 3) for c in _wave_positions(text)] == [0.25, 0.5, 0.75]
    listed = {p["name"]: p["source"] for p in _get(client, "/api/presets").json}
    assert listed["my-hour"] == "folder"


def _wave_positions(text: str) -> list[float]:
    import tomllib

    phase = tomllib.loads(text)["phases"][1]
    return [c["at"] for c in phase["cues"] if c["kind"] == "wave"]


def _tone_wav(seconds, rate=44100):
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), rate, format="WAV",
             subtype="PCM_16")
    return buf.getvalue()


@pytest.mark.parametrize("name, words", [
    ("classic-60", "is a shipped preset's"), ("My Hour", "is not allowed"),
    ("../x", "is not allowed"), ("", "is not allowed"), ("a" * 41, "is not allowed"),
])
def test_save_refuses_bad_names_writing_nothing(client, folder, name, words):
    before = _tree(folder)
    _bad(_post(client, "/api/presets", json={"name": name, "session": _session(client)}),
         "name", words=words)
    assert _tree(folder) == before


def test_save_never_overwrites_and_refuses_a_bad_session(client, folder):
    s = _session(client)
    assert _post(client, "/api/presets", json={"name": "mine", "session": s}).status_code == 201
    before = _tree(folder)
    _bad(_post(client, "/api/presets", json={"name": "mine", "session": s}), "name",
         words="already exists")
    s["loudness_lufs"] = -3
    r = _post(client, "/api/presets", json={"name": "other", "session": s})
    _bad(r, "loudness_lufs", words="defaults.loudness_lufs")
    assert r.json["problems"][0]["field"] == "loudness_lufs"
    s["loudness_lufs"] = -18
    s["phases"][0]["interval_s"] = [20, None]
    _bad(_post(client, "/api/presets", json={"name": "other", "session": s}),
         "phases[0].interval_s[1]", words="null is not allowed")
    assert _tree(folder) == before


def test_session_picture_decodes_and_follows_the_session(client):
    s = _session(client)
    a = _post(client, "/api/session/picture.png", json=s)
    assert a.mimetype == "image/png" and _png_size(a.data) == (1280, 720)
    s["seed"] = 9
    b = _post(client, "/api/session/picture.png", json=s)
    assert _png_size(b.data) == (1280, 720) and b.data != a.data
    s["phases"][0]["velocity"] = [0.5, 0.2]
    _bad(_post(client, "/api/session/picture.png", json=s), "phases[0].velocity")


def test_preview_is_the_minute_play_start_at_plays(client):
    from sointu.session.audio import SessionAudio
    from sointu.session.presets import load_session_preset

    s = _short(client, 240)
    r = _post(client, "/api/session/preview.wav", json={"session": s, "start_s": 90})
    assert r.status_code == 200, r.json
    x, rate = _wav(r.data)
    assert rate == 48000 and x.shape == (60 * rate, 2)
    assert r.headers["X-Sointu-Start-S"] == "90" and r.headers["X-Sointu-Seconds"] == "60"
    assert r.headers["X-Sointu-Level"] in ("measured", "estimated", "provisional")
    gain = float(r.headers["X-Sointu-Gain-dB"])
    # the same samples the session plays from 1:30 at that gain (to the 16-bit step)
    preset = load_session_preset("gift-30")
    import dataclasses

    preset = dataclasses.replace(preset, defaults=dataclasses.replace(preset.defaults,
                                                                      duration_s=240))
    audio = SessionAudio.from_preset(preset).at_gain(gain)
    want = np.concatenate(list(audio.blocks(48000, 90 * rate)))[: 60 * rate]
    assert np.abs(want).max() > 0.01
    assert np.abs(np.clip(want, -1, 1) - x).max() <= 0.5 / 32768 + 1e-7
    # the end of the session: what is left
    tail = _post(client, "/api/session/preview.wav", json={"session": s, "start_s": 220})
    assert tail.headers["X-Sointu-Seconds"] == "20" and len(_wav(tail.data)[0]) == 20 * rate
    _bad(_post(client, "/api/session/preview.wav", json={"session": s, "start_s": 240}),
         "start_s", words="at or past the end of the session")
    _bad(_post(client, "/api/session/preview.wav", json={"session": s, "start_s": "x"}),
         "start_s", words="is not a number")


def _wait(client, job_id, timeout=600):
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        j = _get(client, f"/api/jobs/{job_id}").json
        seen.append(j["progress"])
        if j["state"] != "running":
            return j, seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still running: {j}")


def _loudness(path: Path) -> float:
    import pyloudnorm

    x, rate = sf.read(str(path))
    return pyloudnorm.Meter(rate).integrated_loudness(x)


def test_render_job_writes_a_new_file_with_progress(client, folder):
    s = _short(client, 60)
    r = _post(client, "/api/render", json={"session": s, "format": "wav"})
    assert r.status_code == 202
    job, seen = _wait(client, r.json["job"])
    assert job["state"] == "done" and job["error"] is None, job
    assert job["progress"] == 1.0 and seen == sorted(seen)
    (name,) = job["files"]
    assert name == "gift-30_seed30_1m.wav"
    path = folder / "renders" / name
    info = sf.info(str(path))
    assert info.samplerate == 48000 and info.frames == 60 * 48000
    assert abs(_loudness(path) - (-18.0)) < 1.0
    assert job["items"][0]["info"]["loudness_lufs"] == pytest.approx(_loudness(path), abs=0.3)
    d = _get(client, f"/api/files/{name}")
    assert d.status_code == 200 and d.data == path.read_bytes()
    assert d.headers["Content-Disposition"].startswith("attachment")
    second, _ = _wait(client, _post(client, "/api/render",
                                    json={"session": s, "format": "wav"}).json["job"])
    assert second["files"] == ["gift-30_seed30_1m-2.wav"]
    assert path.read_bytes() == d.data  # the first was not touched
    from sointu.rendering.markers import sidecar_paths

    renders = folder / "renders"
    made = [renders / n for n in ("gift-30_seed30_1m.wav", "gift-30_seed30_1m-2.wav")]
    assert sorted((renders).iterdir()) == sorted(
        made + [p for m in made for p in sidecar_paths(m)])


def test_gift_job_is_the_cli_gift(client, folder):
    import mutagen

    s = _short(client, 60)
    r = _post(client, "/api/gift", json={"session": s, "recipient": "Maija Meikäläinen",
                                         "sender": "Sointu-Pekka", "message": "Hyvää joulua!",
                                         "lang": "fi"})
    assert r.status_code == 202 and r.json["title"] == "Sointulahja - Maijalle"
    job, _ = _wait(client, r.json["job"])
    assert job["state"] == "done", job
    path = folder / "renders" / "Sointulahja-Maijalle.flac"
    assert job["files"] == [path.name] and r.json["file"] == path.name
    tags = mutagen.File(str(path))
    assert tags["title"] == ["Sointulahja - Maijalle"]
    assert tags["artist"] == ["Sointu-Pekka"]
    assert "Hyvää joulua!" in tags["comment"][0] and "kuulokkeille" in tags["comment"][0]
    from sointu.delivery import gift_seed

    assert f"siemen {gift_seed('Maija Meikäläinen', 'gift-30')}" in tags["comment"][0]
    assert tags.pictures and tags.pictures[0].mime == "image/png"  # the cover
    assert sf.info(str(path)).frames == 60 * 48000


@pytest.mark.parametrize("body, field, words", [
    ({"recipient": ""}, "recipient", "is empty"),
    ({"recipient": "Maija\x07"}, "recipient", "control character"),
    ({"recipient": "Maija", "lang": "sv"}, "lang", "allowed: fi, en"),
    ({"recipient": "Maija", "message": "a" * 501}, "message", "at most 500"),
    ({"recipient": "Maija", "mix": "mono"}, "mix", "allowed: speakers, headphones"),
    ({"recipient": "Maija", "format": "aiff"}, "format", "allowed: flac, wav, mp3, opus"),
    ({"recipient": "Maija", "preset": "nope"}, "preset", "unknown session preset"),
    ({"recipient": "Klaus", "lang": "en", "allative": "Klausille"}, "allative",
     "for Finnish titles"),
])
def test_bad_gift_values_write_nothing(client, folder, body, field, words):
    body = {"preset": "gift-30", **body}
    before = _tree(folder)
    _bad(_post(client, "/api/gift", json=body), field, words=words)
    assert _tree(folder) == before


def test_clients_file_makes_one_gift_per_row_with_progress_each(client, folder):
    s = _short(client, 45)
    assert _post(client, "/api/presets", json={"name": "short", "session": s}).status_code == 201
    csv = "name,from,message,lang\nMaija,Pekka,Kiitos,fi\nJohn,,Thanks,en\n"
    r = _post(client, "/api/gifts", content_type="multipart/form-data",
              data={"clients": (io.BytesIO(csv.encode()), "clients.csv"), "preset": "short",
                    "lang": "fi"})
    assert r.status_code == 202, r.json
    job, _ = _wait(client, r.json["job"])
    assert job["state"] == "done", job
    assert [i["state"] for i in job["items"]] == ["done", "done"]
    assert [i["progress"] for i in job["items"]] == [1.0, 1.0]
    from sointu.delivery import gift_file_name, gift_title
    from sointu.session.presets import load_session_preset

    titles = load_session_preset("gift-30").title
    assert job["files"] == [gift_file_name(gift_title(titles, "Maija", "fi")),
                            gift_file_name(gift_title(titles, "John", "en"))]
    assert job["files"][0] == "Sointulahja-Maijalle.flac"
    for name in job["files"]:
        assert sf.info(str(folder / "renders" / name)).frames == 45 * 48000
    import csv

    assert job["manifest"] == "manifest.csv"
    with open(folder / "renders" / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["file"], r["recipient"], r["status"]) for r in rows] == [
        (job["files"][0], "Maija", "rendered"), (job["files"][1], "John", "rendered")]
    for r, item in zip(rows, job["items"], strict=True):
        assert float(r["loudness_lufs"]) == item["info"]["loudness_lufs"]


def test_a_clients_file_sent_again_skips_the_gifts_already_made(client, folder):
    """As ``sointu gift --clients`` resumes: a batch sent again (stopped before its end, or
    by mistake) makes only what is missing; a file of another mix is not the gift."""
    import csv as csvmod

    s = _short(client, 45)
    assert _post(client, "/api/presets", json={"name": "short", "session": s}).status_code == 201
    csv = "name,lang\nMaija,fi\nJohn,en\n"

    def batch(**form):
        r = _post(client, "/api/gifts", content_type="multipart/form-data",
                  data={"clients": (io.BytesIO(csv.encode()), "clients.csv"),
                        "preset": "short", **form})
        assert r.status_code == 202, r.json
        job, _ = _wait(client, r.json["job"])
        assert job["state"] == "done", job["items"][-1]["error"]
        return job

    first = batch()
    renders = folder / "renders"
    made = {name: (renders / name).stat().st_mtime_ns for name in first["files"]}
    from sointu.rendering.markers import sidecar_paths

    for path in (renders / first["files"][1], *sidecar_paths(renders / first["files"][1])):
        path.unlink()  # John's gift not made (as a stopped batch leaves it); Maija's kept
    second = batch()
    assert [i["state"] for i in second["items"]] == ["skipped", "done"]
    assert second["files"] == first["files"]  # the same names, nothing numbered
    assert (renders / first["files"][0]).stat().st_mtime_ns == made[first["files"][0]]
    with open(renders / second["manifest"], newline="", encoding="utf-8") as f:
        rows = list(csvmod.DictReader(f))
    assert [(r["file"], r["status"]) for r in rows] == [
        (first["files"][0], "skipped"), (first["files"][1], "rendered")]
    assert sorted(p.name for p in renders.glob("*.flac")) == sorted(first["files"])
    # the speaker mix of the same gifts: new files beside the headphone ones
    third = batch(mix="speakers")
    assert [i["state"] for i in third["items"]] == ["done", "done"]
    assert not set(third["files"]) & set(first["files"])
    assert (renders / first["files"][0]).stat().st_mtime_ns == made[first["files"][0]]
    # a gift deleted without its chapter files: made again under a free name, not refused
    (renders / third["files"][1]).unlink()
    fourth = batch(mix="speakers")
    assert [i["state"] for i in fourth["items"]] == ["skipped", "done"]
    assert third["files"][1].endswith("-John-2.flac")  # beside the headphone one
    assert fourth["files"][1] == third["files"][1].replace("-2.flac", "-3.flac")


def test_a_bad_clients_file_is_one_line_with_row_and_column(client, folder):
    before = _tree(folder)
    csv = "name,lang\nMaija,fi\nJohn,sv\n"
    r = _post(client, "/api/gifts", content_type="multipart/form-data",
              data={"clients": (io.BytesIO(csv.encode()), "clients.csv"), "preset": "gift-30"})
    err = _bad(r, "clients", words="clients.csv: row 3, column 'lang'")
    assert "/tmp" not in err
    assert _tree(folder) == before


def test_recordings_are_listed_and_never_overwritten(client, folder):
    for _ in range(2):
        r = _post(client, "/api/recordings", content_type="multipart/form-data",
                  data={"file": (io.BytesIO(_tone_wav(1.5)), "voice.wav")})
        assert r.status_code == 201
    assert r.json == {"name": "voice-2.wav", "seconds": 1.5}
    listed = {(x["name"], x["source"]): x["seconds"] for x in _get(client, "/api/recordings").json}
    assert listed[("voice.wav", "folder")] == 1.5 and listed[("voice-2.wav", "folder")] == 1.5
    assert ("tervetuloa-fi.flac", "shipped") in listed
    assert sorted(p.name for p in (folder / "samples").iterdir()) == ["voice-2.wav", "voice.wav"]


def test_short_or_truncated_audio_is_refused(client, folder):
    before = _tree(folder)
    _bad(_post(client, "/api/recordings", content_type="multipart/form-data",
               data={"file": (io.BytesIO(_tone_wav(0.05)), "blip.wav")}), "file",
         words="at least 0.1 s")
    flac = io.BytesIO()
    sf.write(flac, np.zeros(48000, np.float32) + 0.1, 48000, format="FLAC")
    cut = flac.getvalue()[: len(flac.getvalue()) // 2]
    _bad(_post(client, "/api/recordings", content_type="multipart/form-data",
               data={"file": (io.BytesIO(b"fLaC" + b"\0" * 5000), "cut.flac")}), "file",
         words="is not audio")
    del cut
    _bad(_post(client, "/api/recordings", content_type="multipart/form-data",
               data={"file": (io.BytesIO(_tone_wav(1)), "voice.exe")}), "file",
         words="unsupported suffix")
    assert _tree(folder) == before


def test_unknown_job_and_json_body_errors(client):
    _bad(_get(client, "/api/jobs/99"), None, 404, "no job '99'")
    _bad(_post(client, "/api/render", data="not json"), None, words="not a JSON object")
    _bad(_post(client, "/api/render", json={"session": {"base": "classic-60", "tempo": 3}}),
         "tempo", words="unknown key")


def test_ctrl_c_stops_a_running_render_and_leaves_no_file(tmp_path):
    import json

    p = subprocess.Popen(_sointu("studio", "--no-browser", "--folder", str(tmp_path)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        url = re.search(r"http://\S+", p.stdout.readline()).group(0)
        base = url.split("/?")[0]
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        opener.open(url, timeout=30).read()
        session = json.loads(opener.open(f"{base}/api/presets/classic-60", timeout=30).read())
        req = urllib.request.Request(f"{base}/api/render", method="POST",
                                     data=json.dumps({"session": session["session"]}).encode(),
                                     headers={"Content-Type": "application/json"})
        job = json.loads(opener.open(req, timeout=60).read())["job"]
        end = time.monotonic() + 120
        while time.monotonic() < end:  # until it writes: the file is being made
            j = json.loads(opener.open(f"{base}/api/jobs/{job}", timeout=30).read())
            if j["progress"] > 0 or j["state"] != "running":
                break
            time.sleep(0.2)
        assert j["state"] == "running" and 0 < j["progress"] < 1, j
        assert any((tmp_path / "renders").iterdir())
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and out.strip() == "sointu studio: stopped" and _quiet(err), err
    assert list((tmp_path / "renders").iterdir()) == []  # the half-written file is gone


@pytest.mark.parametrize("base", ["classic-60", "gong-bath", "tervetuloa-20", "gentle-sleep",
                                  "workplace-25", "gift-30"])
def test_an_unchanged_session_saves_the_base_file_byte_for_byte(client, folder, base):
    r = _post(client, "/api/presets", json={"name": "copy", "session": _session(client, base)})
    assert r.status_code == 201, r.json
    shipped = (ROOT / "presets" / "sessions" / f"{base}.toml").read_text("utf-8")
    assert (folder / "presets" / "copy.toml").read_text("utf-8") == shipped


def test_a_checked_session_previews_by_get_as_an_audio_element_streams_it(client):
    s = _short(client, 180)
    check = _post(client, "/api/session/check", json=s).json
    pic = _post(client, "/api/session/picture.png", json=s)
    key = pic.headers["X-Sointu-Session-Key"]
    assert check["key"] == key and len(key) == 32
    post = _post(client, "/api/session/preview.wav", json={"session": s, "start_s": 30,
                                                           "seconds": 20})
    get = _get(client, f"/api/session/{key}/preview.wav?start_s=30&seconds=20")
    assert get.status_code == 200 and get.mimetype == "audio/wav"
    assert get.headers["Content-Length"] == str(44 + 20 * 48000 * 4) == post.headers[
        "Content-Length"]
    assert get.data == post.data and len(_wav(get.data)[0]) == 20 * 48000
    _bad(_get(client, f"/api/session/{key}/preview.wav?start_s=soon"), "start_s",
         words="is not a number")
    _bad(_get(client, "/api/session/0123456789abcdef/preview.wav"), None, 404,
         "is not known here")


def test_a_gift_sounds_as_the_cli_gift_sample_for_sample(client, folder, tmp_path):
    s = _short(client, 60)
    r = _post(client, "/api/gift", json={"session": s, "recipient": "Tuomas",
                                         "sender": "Anna", "lang": "fi"})
    job, _ = _wait(client, r.json["job"])
    assert job["state"] == "done", job
    cli = tmp_path / "cli.flac"
    done = subprocess.run(_sointu("gift", "gift-30", "--for", "Tuomas", "--from", "Anna",
                                  "--duration", "1m", "-o", str(cli)),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    ours, rate = sf.read(str(folder / "renders" / job["files"][0]), dtype="int32")
    theirs, rate2 = sf.read(str(cli), dtype="int32")
    assert rate == rate2 == 48000 and ours.shape == theirs.shape == (60 * 48000, 2)
    assert np.array_equal(ours, theirs)


def test_a_render_sounds_as_sointu_render_sample_for_sample(client, folder, tmp_path):
    s = _short(client, 60)
    job, _ = _wait(client, _post(client, "/api/render",
                                 json={"session": s, "format": "flac"}).json["job"])
    assert job["state"] == "done", job
    cli = tmp_path / "cli.flac"
    done = subprocess.run(_sointu("render", "gift-30", "--duration", "1m", "-o", str(cli)),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    ours = sf.read(str(folder / "renders" / job["files"][0]), dtype="int32")[0]
    assert np.array_equal(ours, sf.read(str(cli), dtype="int32")[0])


def test_the_voice_is_heard_in_the_preview(client):
    up = _post(client, "/api/recordings", content_type="multipart/form-data",
               data={"file": (io.BytesIO(_tone_wav(3.0)), "hello.wav")})
    assert up.status_code == 201
    s = _short(client, 120)
    s["voice"] = "hello.wav"
    r = _post(client, "/api/session/preview.wav", json={"session": s, "start_s": 0,
                                                        "seconds": 8})
    assert r.status_code == 200, r.get_data(as_text=True)
    x, rate = _wav(r.data)

    def tone_db(a, b):  # the 200 Hz line of the recording, in a span (s)
        seg = x[int(a * rate):int(b * rate), 0]
        spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
        k = int(round(200 * len(seg) / rate))
        return 20 * np.log10(spec[k - 2:k + 3].max() / len(seg) + 1e-12)

    assert tone_db(2.5, 4.5) > tone_db(6.0, 8.0) + 20  # it speaks from 2 s, for 3 s
    s["voice"] = None
    quiet = _wav(_post(client, "/api/session/preview.wav",
                       json={"session": s, "start_s": 0, "seconds": 8}).data)[0]
    assert not np.array_equal(quiet, x)


def test_a_preview_starts_provisional_then_plays_at_the_estimated_level(client):
    from sointu.rendering.level import PROVISIONAL_RAW_LUFS, planned_gain_db
    from sointu.session.audio import SessionAudio

    s = _short(client, 150)
    s["seed"] = 987654321  # never rendered: no level cached
    body = {"session": s, "start_s": 10, "seconds": 2}
    first = _post(client, "/api/session/preview.wav", json=body)
    assert first.headers["X-Sointu-Level"] == "provisional"
    assert float(first.headers["X-Sointu-Gain-dB"]) == pytest.approx(-18 - PROVISIONAL_RAW_LUFS)
    end = time.monotonic() + 120
    while time.monotonic() < end:  # estimated meanwhile, in another process
        r = _post(client, "/api/session/preview.wav", json=body)
        if r.headers["X-Sointu-Level"] != "provisional":
            break
        time.sleep(0.5)
    assert r.headers["X-Sointu-Level"] == "estimated"
    import dataclasses

    from sointu.session.presets import load_session_preset

    p = load_session_preset("gift-30")
    p = dataclasses.replace(p, defaults=dataclasses.replace(p.defaults, duration_s=150,
                                                            seed=987654321))
    want = planned_gain_db(SessionAudio.from_preset(p), -18.0)
    assert float(r.headers["X-Sointu-Gain-dB"]) == pytest.approx(want, abs=0.006)


def test_a_renamed_phase_keeps_its_recordings(client, folder):
    s = _session(client, "tervetuloa-20")
    assert s["voice"] == "tervetuloa-fi.flac"
    s["phases"][0]["name"] = "welcome"
    s["phases"][2]["name"] = "return"
    assert _post(client, "/api/session/check", json=s).json["problems"] == []
    assert _post(client, "/api/presets", json={"name": "renamed", "session": s}).status_code == 201
    import tomllib

    saved = tomllib.loads((folder / "presets" / "renamed.toml").read_text("utf-8"))
    assert [r["phase"] for r in saved["recordings"]] == ["welcome", "return"]
    back = _get(client, "/api/presets/renamed").json["session"]
    assert back["voice"] == "tervetuloa-fi.flac"
    assert [p["name"] for p in back["phases"]] == ["welcome", "relaxation", "return"]
