"""The studio's door (issue 14, Safety): each rule tried as an attack and refused, with
nothing on disk changed."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sointu.studio import create_app
from sointu.studio.guard import cookie_name

PORT = 48123
SECRET = "s3cret-for-tests-" + "x" * 20
BASE = f"http://127.0.0.1:{PORT}"


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time (ns)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            st = p.lstat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "studio"
    (d / "renders").mkdir(parents=True)
    (d / "samples").mkdir()
    (d / "presets").mkdir()
    (d / "renders" / "ok.wav").write_bytes(b"RIFF....WAVE")
    (tmp_path / "outside.txt").write_text("secret outside the folder\n")
    return d


@pytest.fixture
def app(folder):
    return create_app(folder, SECRET, port=PORT)


@pytest.fixture
def anon(app):
    """A client without the cookie."""
    return app.test_client()


@pytest.fixture
def client(app):
    """A client with the studio's cookie, as the page has it."""
    c = app.test_client()
    for domain in ("127.0.0.1", "localhost"):
        c.set_cookie(cookie_name(PORT), SECRET, domain=domain)
    return c


def _refused(response, status=403):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    assert body.strip() and "\n" not in body.strip() and "Traceback" not in body
    return body


def test_the_token_sets_the_cookie_and_redirects(anon):
    r = anon.get(f"/?token={SECRET}", base_url=BASE)
    assert r.status_code == 303 and r.headers["Location"] == "/"
    cookie = r.headers["Set-Cookie"]
    assert f"{cookie_name(PORT)}={SECRET}" in cookie
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    r = anon.get("/", base_url=BASE)  # the test client kept the cookie
    assert r.status_code == 200 and b"<html" in r.data.lower()
    assert anon.get("/api/info", base_url=BASE).json["languages"] == ["fi", "en"]


@pytest.mark.parametrize("path", ["/", "/static/index.html", "/api/info", "/api/instruments",
                                  "/api/presets", "/api/recordings", "/api/files/ok.wav"])
def test_no_cookie_is_refused_everywhere(anon, path):
    _refused(anon.get(path, base_url=BASE))


def test_a_wrong_token_or_cookie_is_refused(anon, app):
    body = _refused(anon.get("/?token=guess", base_url=BASE))
    assert "wrong token" in body
    c = app.test_client()
    c.set_cookie(cookie_name(PORT), SECRET[:-1] + "y", domain="127.0.0.1")
    assert "cookie" in _refused(c.get("/api/info", base_url=BASE))
    assert _refused(c.get("/api/info", base_url=BASE)).startswith("{")  # JSON on the API


@pytest.mark.parametrize("host", [f"evil.example:{PORT}", "evil.example", "127.0.0.1",
                                  f"127.0.0.1:{PORT + 1}", f"localhost.evil.example:{PORT}",
                                  f"0.0.0.0:{PORT}"])
def test_a_foreign_host_is_refused_even_with_the_secret(client, host):
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1."""
    r = client.get("/api/info", base_url=BASE, headers={"Host": host})
    assert "Host" in _refused(r)
    r = client.get(f"/?token={SECRET}", base_url=BASE, headers={"Host": host})
    _refused(r)
    assert "Set-Cookie" not in r.headers


def test_own_hosts_pass(client):
    for host in (f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"LOCALHOST:{PORT}"):
        assert client.get("/api/info", base_url=BASE, headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", f"http://evil.example:{PORT}",
                                    "null", f"https://127.0.0.1:{PORT}",
                                    f"http://127.0.0.1:{PORT + 1}"])
def test_a_foreign_origin_is_refused_on_get_and_post(client, folder, origin):
    before = _tree(folder)
    r = client.get("/api/info", base_url=BASE, headers={"Origin": origin})
    assert "Origin" in _refused(r)
    r = client.post("/api/presets", base_url=BASE, headers={"Origin": origin},
                    json={"name": "evil", "session": {"base": "classic-60"}})
    _refused(r)
    assert _tree(folder) == before


def test_a_cross_site_write_without_origin_is_refused(client, folder):
    before = _tree(folder)
    for site in ("cross-site", "same-site"):
        r = client.post("/api/presets", base_url=BASE, headers={"Sec-Fetch-Site": site},
                        json={"name": "evil", "session": {"base": "classic-60"}})
        assert site in _refused(r)
    assert _tree(folder) == before


def test_own_origin_passes(client):
    for origin in (f"http://127.0.0.1:{PORT}", f"http://localhost:{PORT}"):
        r = client.get("/api/info", base_url=BASE,
                       headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 200


@pytest.mark.parametrize("name", ["..", "../outside.txt", "..%2Foutside.txt",
                                  "%2e%2e%2foutside.txt", "..\\outside.txt",
                                  "%2e%2e%5coutside.txt", "/etc/passwd", "%2Fetc%2Fpasswd",
                                  "sub/ok.wav", "ok.wav%00.txt", ".hidden"])
def test_path_traversal_in_downloads_is_refused(client, name):
    r = client.get(f"/api/files/{name}", base_url=BASE)
    assert r.status_code in (400, 403, 404), r.status_code
    assert b"secret outside" not in r.data and b"root:" not in r.data


def test_static_files_stay_in_static(client):
    for name in ("../app.py", "..%2Fapp.py", "%2e%2e/guard.py", "..\\app.py"):
        r = client.get(f"/static/{name}", base_url=BASE)
        assert r.status_code == 404 and b"import" not in r.data


def test_a_link_out_of_the_folder_is_refused(client, folder):
    (folder / "renders" / "link.wav").symlink_to(folder.parent / "outside.txt")
    r = client.get("/api/files/link.wav", base_url=BASE)
    assert r.status_code == 403 and b"secret outside" not in r.data
    assert "link" in r.json["error"]


def _wav_bytes(seconds=1.0, rate=48000):
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate,
             format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_non_audio_and_oversized_uploads_write_nothing(client, folder, monkeypatch):
    before = _tree(folder)
    r = client.post("/api/recordings", base_url=BASE, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(b"#!/bin/sh\nrm -rf /\n" * 100), "voice.wav")})
    assert r.status_code == 400 and r.json["field"] == "file"
    assert "audio" in r.json["error"]
    from sointu.studio import app as app_module

    monkeypatch.setattr(app_module, "MAX_UPLOAD_BYTES", 50_000)
    client.application.config["MAX_CONTENT_LENGTH"] = 50_000
    r = client.post("/api/recordings", base_url=BASE, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(_wav_bytes(2.0)), "voice.wav")})
    assert r.status_code == 413 and r.json["field"] == "file"
    assert "MB" in r.json["error"]
    r = client.post("/api/recordings", base_url=BASE, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(_wav_bytes(0.1)), "../../evil.wav")})
    assert r.status_code in (400, 403) and r.json["field"] == "file"
    assert _tree(folder) == before
    assert not (folder.parent / "evil.wav").exists()


def test_links_out_are_neither_written_through_nor_listed(client, folder):
    outside = folder.parent / "outside.txt"
    before = outside.read_bytes()
    (folder / "samples" / "voice.wav").symlink_to(outside)
    (folder / "presets" / "mine.toml").symlink_to(outside)
    r = client.post("/api/recordings", base_url=BASE, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(_wav_bytes(0.5)), "voice.wav")})
    assert r.status_code == 201 and r.json["name"] == "voice-2.wav"  # not through the link
    names = [x["name"] for x in client.get("/api/recordings", base_url=BASE).json
             if x["source"] == "folder"]
    assert names == ["voice-2.wav"]
    session = client.get("/api/presets/classic-60", base_url=BASE).json["session"]
    r = client.post("/api/presets", base_url=BASE, json={"name": "mine", "session": session})
    assert r.status_code == 400 and r.json["field"] == "name"
    assert outside.read_bytes() == before


@pytest.mark.parametrize("voice", ["../outside.txt", "/etc/passwd", "..\\outside.txt",
                                   "a/../../outside.txt", "voice.wav\x00.txt"])
def test_the_voice_name_never_leaves_the_samples(client, folder, voice):
    before = _tree(folder)
    session = client.get("/api/presets/classic-60", base_url=BASE).json["session"]
    session["voice"] = voice
    for path in ("/api/session/check", "/api/session/picture.png"):
        r = client.post(path, base_url=BASE, json=session)
        assert r.status_code == 400 and r.json["field"] == "voice", r.json
    r = client.post("/api/presets", base_url=BASE, json={"name": "evil", "session": session})
    assert r.status_code == 400 and r.json["field"] == "voice"
    assert _tree(folder) == before


def test_a_refused_token_or_host_sets_no_cookie_and_redirects_nowhere(anon):
    for headers in ({"Host": "evil.example"}, {"Origin": "http://evil.example"}):
        r = anon.get(f"/?token={SECRET}", base_url=BASE, headers=headers)
        assert r.status_code == 403 and "Set-Cookie" not in r.headers
        assert "Location" not in r.headers


def test_a_bug_is_one_line_not_a_traceback(client, monkeypatch, capsys, internal_errors):
    from sointu.studio import sounds

    def broken(folder):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(sounds, "instrument_list", broken)
    r = client.get("/api/instruments", base_url=BASE)
    assert r.status_code == 500 and r.json["field"] is None
    assert r.json["error"].startswith("internal error: RuntimeError: boom second line")
    assert "Traceback" not in r.get_data(as_text=True)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "details in" in err
    ((report, what),) = internal_errors()
    assert Path(report).is_file() and what.startswith("RuntimeError: boom")
    Path(report).unlink()


def test_two_studios_in_one_browser_keep_their_own_cookies(folder):
    """Cookies do not tell ports apart: each studio's cookie is named for its port, so
    opening a second studio does not log the first one out, and neither cookie opens the
    other studio."""
    first = create_app(folder, SECRET, port=PORT)
    second = create_app(folder, SECRET[::-1], port=PORT + 1)
    browser = first.test_client()  # one cookie jar for both, as a browser has
    assert browser.get(f"/?token={SECRET}", base_url=BASE).status_code == 303
    other = f"http://127.0.0.1:{PORT + 1}"
    r = second.test_client()
    for c in browser._cookies.values():
        r.set_cookie(c.key, c.value, domain="127.0.0.1")
    assert r.get(f"/?token={SECRET[::-1]}", base_url=other).status_code == 303
    names = {c.key for c in r._cookies.values()}
    assert names == {cookie_name(PORT), cookie_name(PORT + 1)}
    assert r.get("/api/info", base_url=other).status_code == 200
    for c in r._cookies.values():  # back to the first: both cookies go with it
        browser.set_cookie(c.key, c.value, domain="127.0.0.1")
    assert browser.get("/api/info", base_url=BASE).status_code == 200
    alone = second.test_client()  # the first studio's cookie alone opens only the first
    alone.set_cookie(cookie_name(PORT), SECRET, domain="127.0.0.1")
    _refused(alone.get("/api/info", base_url=other))
