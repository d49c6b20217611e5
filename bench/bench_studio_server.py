"""How fast the studio's server answers what the page asks at a click (issue 14, server side).

Targets (issue 14, heard or seen in the browser): an instrument heard < 200 ms after the
click, a minute from anywhere in the session < 500 ms, the session picture redrawn < 500 ms
after a change. This measures the server's part of each over real HTTP: the real
``sointu studio --no-browser --port 0`` as a subprocess with an empty folder, the time from
sending the request to the last byte of the answer (urllib on the same machine). The page's
own part (decoding, drawing) is measured in the browser by the page's bench.

Each figure is the median and the worst of N requests:

- ``strike first``: an audition not asked for before (every instrument, a new velocity each
  round: nothing cached), to its first 0.1 s (it is streamed as it is synthesised);
  ``whole stroke``: to its last byte; ``strike again``: the same audition again (cached,
  whole);
- ``picture change``: the session picture after a change (a new seed each time);
- ``preview first`` / ``preview again``: a minute from a random start (seeded) of a session
  just changed (its composition not cached) / of the same session (composed before), to
  the first 0.17 s of audio (the preview is streamed as it is synthesised, its length in
  the header, so the browser plays from there); ``whole minute``: to its last byte.

Run: ``python bench/bench_studio_server.py [--rounds N] [--preset classic-60]``.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

#: The WAV header and the first 0.17 s of a preview: what a browser starts playing from.
FIRST_BYTES = 44 + 8192 * 4
#: The same for an audition: its first 0.1 s.
FIRST_STRIKE_BYTES = 44 + 4800 * 4


def _start(folder: str):
    p = subprocess.Popen([sys.executable, "-m", "sointu", "studio", "--no-browser", "--port",
                          "0", "--folder", folder], stdout=subprocess.PIPE, text=True)
    url = re.search(r"http://\S+", p.stdout.readline()).group(0)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(url).read()
    return p, opener, url.split("/?")[0]


def _timed(opener, url, body=None, first: int | None = None):
    """(ms to the whole answer, the answer); with ``first``, (ms to its first ``first``
    bytes, ms to the whole answer)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    with opener.open(req) as r:
        if first is not None:
            r.read(first)
            t_first = time.perf_counter()
        out = r.read()
    done = (time.perf_counter() - t) * 1000.0
    if first is not None:
        return (t_first - t) * 1000.0, done
    return done, out


def _row(name: str, ms: list[float], target: float | None) -> str:
    med, worst = statistics.median(ms), max(ms)
    mark = "" if target is None else ("  ok" if med < target else f"  over {target:g} ms")
    return f"{name:<18} median {med:7.1f} ms   worst {worst:7.1f} ms   n={len(ms)}{mark}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--preset", default="classic-60")
    ap.add_argument("--warm-s", type=float, default=4.0,
                    help="Seconds to let the server warm up before measuring.")
    args = ap.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as folder:
        p, opener, base = _start(folder)
        try:
            time.sleep(args.warm_s)
            page = [_timed(opener, f"{base}/")[0] for _ in range(args.rounds)]
            names = [i["name"] for i in json.loads(_timed(opener, f"{base}/api/instruments")[1])]
            first, first_all, again = [], [], []
            for r in range(args.rounds):
                for n in names:
                    q = f"{base}/api/strike.wav?instrument={n}&velocity={0.5 + 0.01 * r:g}"
                    a, b = _timed(opener, q, first=FIRST_STRIKE_BYTES)
                    first.append(a)
                    first_all.append(b)
                    again.append(_timed(opener, q)[0])
            session = json.loads(_timed(opener, f"{base}/api/presets/{args.preset}")[1])[
                "session"]
            length = session["duration_s"]
            pictures, cold, warm, cold_all, warm_all = [], [], [], [], []
            for r in range(args.rounds):
                session["seed"] = 100 + r
                pictures.append(_timed(opener, f"{base}/api/session/picture.png", session)[0])
                for heard, whole in ((cold, cold_all), (warm, warm_all)):
                    start = rng.uniform(0, length - 60)
                    a, b = _timed(opener, f"{base}/api/session/preview.wav",
                                  {"session": session, "start_s": start}, first=FIRST_BYTES)
                    heard.append(a)
                    whole.append(b)
        finally:
            p.send_signal(signal.SIGINT)
            p.wait(30)
    print(f"sointu studio server, preset {args.preset}, {args.rounds} rounds")
    print(_row("page", page, 300))
    print(_row("strike first", first, 200))
    print(_row("  whole stroke", first_all, None))
    print(_row("strike again", again, 200))
    print(_row("picture change", pictures, 500))
    print(_row("preview first", cold, 500))
    print(_row("preview again", warm, 500))
    print(_row("  whole minute", cold_all + warm_all, None))


if __name__ == "__main__":
    main()
