"""How quickly the studio page answers, measured from the browser (issue 14).

The real server runs in this process on a free port with an empty folder; Debian's chromium
(headless, through selenium, as in tests/test_studio_browser.py) opens the page. Every time
is taken in the page with ``performance.now()`` (JavaScript timestamps), from the user's
action to what the user perceives:

* **page load**: navigation start -> the first view is drawn and usable: texts and the
  instruments loaded and shown (the ``studio-ready`` performance mark). Target < 300 ms.
  The presets' list (the server validates every preset) fills its menus after that: the
  ``studio-presets`` mark, its own row (no target).
* **instrument heard**: click on Listen -> the audio element's ``playing`` event. The first
  click on a stroke (the server synthesises it) and a repeated one (its cache) are
  separate rows. Target < 200 ms.
* **a minute from anywhere**: click on "Listen from here" at a seeded random point of the
  60-minute session -> ``playing``. Target < 500 ms.
* **picture redrawn**: a changed field (the seed) -> the new session picture has loaded in
  its ``<img>``. Target < 500 ms.

Run ``.venv/bin/python bench/bench_studio.py`` (``--repeat N``, default 5; ``--preset``).
Prints a table and writes it to ``bench/results/studio.md`` (git-ignored); the exit code is 1
if a target fails.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_count, cpu_model, markdown_table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
RESULTS = ROOT / "bench" / "results" / "studio.md"

from studio_browser_fixtures import (  # noqa: E402
    browser_missing,
    open_studio,
    start_browser,
    start_studio,
    wait_ready,
)

TARGETS_MS = {"page load": 300.0, "instrument heard": 200.0, "a minute from anywhere": 500.0,
              "picture redrawn": 500.0}

# click a button and resolve with the ms until its audio element plays
_CLICK_TO_PLAYING = """
const [button, audio, done] = [document.getElementById(arguments[0]),
                               document.getElementById(arguments[1]),
                               arguments[arguments.length - 1]];
audio.pause();
const t0 = performance.now();
const timer = setTimeout(() => done(-1), 30000);
audio.addEventListener('playing', () => {
  clearTimeout(timer);
  const ms = performance.now() - t0;
  // the request's own timing: click -> first byte of the answer, and -> its last byte
  const r = performance.getEntriesByType('resource')
    .filter(e => e.name.includes(arguments[2]) && e.startTime >= t0).pop();
  done([ms, r ? r.responseStart - t0 : null, r ? r.responseEnd - t0 : null]);
}, {once: true});
button.click();
"""

# change a field and resolve with the ms until the session picture has loaded
_CHANGE_TO_PICTURE = """
const [input, value, done] = [document.querySelector(arguments[0]), arguments[1],
                              arguments[arguments.length - 1]];
const img = document.getElementById('session-picture');
const before = window.studio.picture.drawn;
const t0 = performance.now();
const timer = setTimeout(() => done(-1), 30000);
const poll = () => {
  if (window.studio.picture.drawn > before && img.complete) {
    clearTimeout(timer);
    const ms = performance.now() - t0;
    const r = performance.getEntriesByType('resource')
      .filter(e => e.name.includes('/api/session/picture.png') && e.startTime >= t0).pop();
    done([ms, r ? r.responseStart - t0 : null, r ? r.responseEnd - t0 : null]);
  } else requestAnimationFrame(poll);
};
input.value = value;
input.dispatchEvent(new Event('change', {bubbles: true}));
poll();
"""


def page_load(driver, base: str, repeat: int) -> list[float]:
    """Navigation start -> the page drawn with its data (ms), each load a fresh navigation."""
    out = []
    for _ in range(repeat):
        driver.get("about:blank")  # a real navigation each time, not a jump within the page
        driver.get(f"{base}/")
        wait_ready_driver(driver)
        out.append(_marks(driver))
    return out


def _marks(driver) -> tuple[float, float]:
    """(ms to the first view drawn, ms to the presets' menus filled) of this page."""
    return tuple(float(x) for x in driver.execute_script(
        "return ['studio-ready', 'studio-presets'].map("
        "n => performance.getEntriesByName(n)[0].startTime);"))


def wait_ready_driver(driver, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script("return document.body && document.body.dataset.ready === '1'"
                                 " && document.body.dataset.presets === '1'"):
            return
        time.sleep(0.01)
    raise RuntimeError("the page was not ready")


def instrument_heard(driver, repeat: int, rng: random.Random) -> tuple[list[float], list[float]]:
    """Click -> playing (ms): a new stroke each time (first), then the same again (cached)."""
    first, again = [], []
    driver.execute_script("document.getElementById('tab-instruments').click();")
    names = driver.execute_script("return window.studio.instruments.map(i => i.name);")
    for i in range(repeat):
        name = names[i % len(names)]
        velocity = round(rng.uniform(0.3, 0.9) / 0.05) * 0.05
        driver.execute_script(
            "document.querySelector(`#instrument-list input[value='${arguments[0]}']`).click();"
            "const v = document.getElementById('velocity'); v.value = arguments[1];"
            "v.dispatchEvent(new Event('change'));", name, f"{velocity:.2f}")
        first.append(_timed(driver, "audition", "inst-audio", "/api/strike.wav"))
        again.append(_timed(driver, "audition", "inst-audio", "/api/strike.wav"))
    return first, again


def minute_heard(driver, preset: str, repeat: int, rng: random.Random) -> tuple[list, list]:
    """Click on "Listen from here" at random points -> playing (ms), and the points (s)."""
    open_preset(driver, preset)
    top = int(driver.execute_script("return Number(document.getElementById('start').max);"))
    times, points = [], []
    for _ in range(repeat):
        at = rng.randrange(0, top + 1, 15)
        driver.execute_script("const s = document.getElementById('start'); s.value = arguments[0];"
                              "s.dispatchEvent(new Event('input'));", at)
        times.append(_timed(driver, "preview", "session-audio", "/api/session/preview.wav"))
        points.append(at)
    return times, points


def picture_redrawn(driver, preset: str, repeat: int) -> list[float]:
    """A new seed typed -> the new picture loaded (ms)."""
    open_preset(driver, preset)
    out = []
    for i in range(repeat):
        got = driver.execute_async_script(_CHANGE_TO_PICTURE, 'input[data-field="seed"]',
                                          str(100 + i))
        if not isinstance(got, list):
            raise RuntimeError("the picture was not redrawn within 30 s")
        out.append((float(got[0]), got[1], got[2]))
    return out


def open_preset(driver, preset: str) -> None:
    """Choose ``preset`` and wait until its form and first picture are drawn."""
    before = driver.execute_script("return window.studio.picture.drawn;")
    driver.execute_script(
        "document.getElementById('tab-session').click();"
        "const s = document.getElementById('preset'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('change'));", preset)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if driver.execute_script("return window.studio.preset === arguments[0] &&"
                                 " window.studio.picture.drawn > arguments[1] &&"
                                 " !window.studio.picture.busy;", preset, before):
            return
        time.sleep(0.02)
    raise RuntimeError(f"preset {preset} did not load")


def _timed(driver, button: str, audio: str, url: str) -> tuple:
    """Click ``button`` -> ``audio`` plays: (ms to playing, to the answer's first byte, to
    its last byte); the last two are None while the answer still streams (the browser
    records a request's timing once it has ended)."""
    out = driver.execute_async_script(_CLICK_TO_PLAYING, button, audio, url)
    if not isinstance(out, list) or out[0] < 0:
        raise RuntimeError(f"no 'playing' from #{audio} within 30 s")
    return float(out[0]), out[1], out[2]


def row(name: str, runs: list, note: str = "") -> list[str]:
    """A table row: best, median and worst of the times (ms), and for a sound the median
    time to the server's first and last byte."""
    ms = [r[0] if isinstance(r, tuple) else r for r in runs]
    target = TARGETS_MS.get(name)
    if target is None:
        verdict = ""
    else:
        verdict = "PASS" if statistics.median(ms) < target else "FAIL"
    parts = "-"
    timed = [r for r in runs if isinstance(r, tuple) and r[1] is not None]
    if timed:
        parts = (f"{statistics.median(r[1] for r in timed):.0f} / "
                 f"{statistics.median(r[2] for r in timed):.0f}")
    elif runs and isinstance(runs[0], tuple):
        parts = "still streaming"
    return [name + (f" ({note})" if note else ""), f"{min(ms):.0f}",
            f"{statistics.median(ms):.0f}", f"{max(ms):.0f}", parts,
            f"< {target:.0f}" if target else "-", verdict]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="measurements of each (default 5)")
    ap.add_argument("--preset", default="classic-60")
    ap.add_argument("--seed", type=int, default=1, help="seeds the random minutes and strokes")
    a = ap.parse_args()
    missing = browser_missing()
    if missing:
        print(f"bench_studio: cannot run ({missing})", file=sys.stderr)
        return 2
    rng = random.Random(a.seed)
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="sointu-bench-studio-") as tmp:
        folder = Path(tmp) / "folder"
        downloads = Path(tmp) / "downloads"
        folder.mkdir()
        downloads.mkdir()
        os.environ.setdefault("SOINTU_CACHE_DIR", str(Path(tmp) / "cache"))
        studio = start_studio(folder)
        browser = start_browser(downloads, lang="en")
        try:
            d = browser.driver
            open_studio(browser, studio)  # the printed address: token -> cookie -> page
            wait_ready(browser)
            cold = [_marks(d)]  # includes the token's redirect and the server's first
            loads = page_load(d, studio.base, a.repeat)
            first, again = instrument_heard(d, a.repeat, rng)
            minutes, points = minute_heard(d, a.preset, a.repeat, rng)
            pictures = picture_redrawn(d, a.preset, a.repeat)
        finally:
            browser.quit()
            studio.stop()
    rows = [row("page load", [c[0] for c in cold],
                "first: the printed address, just after launch"),
            row("page load", [c[0] for c in loads], "again"),
            row("presets' menus filled", [c[1] for c in loads], "again, after the first view"),
            row("instrument heard", first, "new stroke"),
            row("instrument heard", again, "same stroke again"),
            row("a minute from anywhere", minutes,
                "from " + ", ".join(f"{p // 60}:{p % 60:02d}" for p in points)),
            row("picture redrawn", pictures, "new seed")]
    head = ["from the browser", "best (ms)", "median (ms)", "worst (ms)",
            "answer's first / last byte (median ms)", "target (median)", ""]
    lines = [f"# studio page ({_dt.datetime.now():%Y-%m-%d %H:%M})", "",
             f"{a.preset}, {a.repeat} of each, headless chromium; {cpu_model()}, "
             f"{cpu_count()} cores; load {load0} at start, "
             f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at end", "",
             *markdown_table(head, rows)]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0 if all(r[-1] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
