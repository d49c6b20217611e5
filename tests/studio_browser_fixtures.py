"""The studio in a real browser: the server in a thread on a free port, and Debian's chromium
driven through its chromedriver by selenium (headless, a fresh profile, downloads into a
folder). Used by tests/test_studio_browser.py and bench/bench_studio.py."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

#: The contract's headless flags (STUDIO-API.md), and a fixed size for the screenshots.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required", "--mute-audio",
)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None when chromium and its driver are present)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    return f"missing: {', '.join(missing)}" if missing else None


@dataclass
class Studio:
    """A studio served from a thread: its address with the token, and its folder."""

    url: str
    base: str
    folder: Path
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(30)


def start_studio(folder: Path) -> Studio:
    """Serve the studio for ``folder`` on a free port of 127.0.0.1, in a daemon thread."""
    from sointu.studio import serve

    box: dict = {}
    ready = threading.Event()

    def on_ready(url, server):
        box.update(url=url, server=server)
        ready.set()

    thread = threading.Thread(target=serve, args=(Path(folder),), daemon=True, kwargs=dict(
        port=0, open_browser=False, say=lambda line: None, ready=on_ready))
    thread.start()
    if not ready.wait(60):
        raise RuntimeError("the studio did not start within 60 s")
    url = box["url"]
    return Studio(url=url, base=url.split("/?", 1)[0], folder=Path(folder),
                  server=box["server"], thread=thread)


@dataclass
class Browser:
    """A headless chromium and the folder its downloads go to."""

    driver: object
    downloads: Path
    profile: Path

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def start_browser(downloads: Path, *, lang: str = "en", width: int = 1440,
                  height: int = 1000) -> Browser:
    """Debian's chromium, headless, with a fresh profile, ``lang`` as the browser language
    (navigator.language) and downloads saved into ``downloads`` without asking."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="sointu-chromium-"))
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    opts.add_argument(f"--lang={lang}")
    opts.add_experimental_option("prefs", {
        "intl.accept_languages": lang,
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    # --window-size stops at 500 px wide; resizing the window reaches a phone's 390
    driver.set_window_size(width, height)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_script_timeout(120)
    return Browser(driver=driver, downloads=Path(downloads), profile=profile)


def open_studio(browser: Browser, studio: Studio, *, timeout: float = 30.0) -> None:
    """Open the printed address (the token becomes the cookie) and wait until the page is
    ready (``body[data-ready]``)."""
    browser.driver.get(studio.url)
    wait_ready(browser, timeout=timeout)


def wait_ready(browser: Browser, *, timeout: float = 30.0) -> None:
    """Wait until the page has drawn what it loaded (the presets too), or fail with its
    error line."""
    d = browser.driver
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = d.execute_script(
            "const e = document.getElementById('page-error');"
            "return [document.body && document.body.dataset.ready === '1'"
            "        && document.body.dataset.presets === '1',"
            "        e && !e.hidden ? e.textContent : null];")
        if state[0]:
            return
        if state[1]:
            raise AssertionError(f"the page says: {state[1]}")
        time.sleep(0.05)
    raise AssertionError(f"the page was not ready within {timeout:g} s")


def wait_for_download(folder: Path, *, suffix: str, timeout: float = 120.0) -> Path:
    """The finished download ending in ``suffix`` (chromium writes .crdownload first)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done = [p for p in folder.iterdir() if p.name.endswith(suffix)]
        partial = [p for p in folder.iterdir() if p.name.endswith(".crdownload")]
        if done and not partial:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no *{suffix} downloaded into {folder} within {timeout:g} s: "
                         f"{sorted(p.name for p in folder.iterdir())}")
