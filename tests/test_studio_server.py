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


def test_studio_command_serves_the_page_and_stops_on_ctrl_c(tmp_path):
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
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert out.strip().splitlines() == ["sointu studio: stopped"] and err == ""


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
