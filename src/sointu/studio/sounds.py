"""What the page hears and sees at once: auditions, a minute of a session, and pictures.

Everything here is made in the request and kept in small LRU caches keyed by what made it
(parameters, the instrument file's modification time, the session's TOML text), so a second
click costs nothing. Pictures are drawn one at a time (matplotlib is not thread-safe).
"""

from __future__ import annotations

import functools
import io
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import UsageError
from .guard import Refusal

__all__ = ["Cache", "audition_params", "audition_wav", "strike_png", "session_png",
           "audition_stream", "preview_wav", "preview_level", "wav_header", "pcm16",
           "instrument_list", "default_seconds", "warm_up", "PREVIEW_MAX_S", "RUB_S"]

#: Default audition length (s) by family: gongs bloom and ring longer.
SECONDS = {"gong": 15.0, "tam-tam": 15.0}
DEFAULT_SECONDS = 12.0
#: Frames per streamed audition block (0.1 s at 48 kHz).
AUDITION_BLOCK = 4800
#: Longest audition (s).
MAX_SECONDS = 120.0
#: How long a rub audition rubs the rim (s); it rings on after.
RUB_S = 8.0
#: Longest preview (s).
PREVIEW_MAX_S = 120.0
#: Frames per streamed preview block (0.17 s at 48 kHz): the first is heard quickly.
PREVIEW_BLOCK = 8192
#: Dots per inch of the pictures: the CLI's 16 x 9 inch figures at 80 dpi, 1280 x 720.
PICTURE_DPI = 80
_DRAW = threading.Lock()
#: The session figure, redrawn for every session picture (under ``_DRAW``): its axes,
#: ticks and text layouts are kept, which halves a redraw (the picture is the same).
_SESSION_FIGURE: list = [None]


class Cache:
    """A small thread-safe LRU cache: ``get(key, make)``."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, make: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def peek(self, key):
        with self._lock:
            return self._items.get(key)

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_WAVS = Cache(24)
_PNGS = Cache(16)


def png_bytes(fig) -> bytes:
    """A matplotlib Figure as PNG bytes."""
    from .. import __version__

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PICTURE_DPI, metadata={"Software": f"sointu "
                                                                          f"{__version__}"},
                pil_kwargs={"compress_level": 1})  # quicker to pack, a little larger
    return buf.getvalue()


# -- instruments -----------------------------------------------------------------------------

def _instrument_files(folder: Path) -> dict[str, Path]:
    """Instruments of the folder (``DIR/presets``) and the shipped ones, by name."""
    from ..engine.library import list_instruments
    from ..presets import shipped_dir

    own = (Path(folder) / "presets").resolve()
    shipped = shipped_dir().resolve()
    return {n: p for n, p in list_instruments(own).items()
            if p.resolve().is_relative_to(own) or p.resolve().is_relative_to(shipped)}


def default_seconds(inst, rub: bool) -> float:
    """The audition length (s) when the page does not say."""
    base = SECONDS.get(inst.family, DEFAULT_SECONDS)
    return base + RUB_S if rub else base


#: What the listing says of each instrument file, by (file, mtime, size).
_LISTED: dict = {}


def instrument_list(folder: Path) -> list[dict]:
    """``GET /api/instruments``: every good instrument (a broken file is left out)."""
    from ..engine.library import load_instrument
    from ..errors import PresetError

    out = []
    for name, path in _instrument_files(folder).items():
        try:
            st = path.stat()
        except OSError:
            continue
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in _LISTED:  # loading them all took ~100 ms of the first page load
            try:
                inst = load_instrument(str(path))
                _LISTED[key] = {
                    "family": inst.family, "description": inst.description,
                    "fundamental_hz": round(inst.fundamental_hz, 3),
                    "can_rub": "rub" in inst.articulations,
                    "seconds": default_seconds(inst, False), "ring_s": round(inst.ring_s, 1)}
            except PresetError:
                _LISTED[key] = None
        if _LISTED[key] is not None:
            out.append({"name": name, **_LISTED[key]})
    return out


def _number(args, key: str, default, lo: float, hi: float, what: str) -> float | None:
    raw = args.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise Refusal(400, f"{what} {raw!r} is not a number; allowed {lo:g}..{hi:g}",
                      key) from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise Refusal(400, f"{what} {raw} is out of range; allowed {lo:g}..{hi:g}", key)
    return value


def audition_params(args, folder: Path) -> tuple:
    """Check the query of ``/api/strike.wav`` and ``.png``: (instrument, path, mallet,
    velocity, position, rub, seconds); :class:`Refusal` naming the field."""
    from ..engine.library import load_instrument

    name = args.get("instrument")
    files = _instrument_files(folder)
    if name not in files:
        raise Refusal(400, f"unknown instrument {name!r}; known: {', '.join(sorted(files))}",
                      "instrument")
    path = files[name]
    inst = load_instrument(str(path))
    mallet = args.get("mallet") or "medium"
    if mallet not in ("soft", "medium", "hard"):
        raise Refusal(400, f"mallet {mallet!r} is not allowed; allowed: soft, medium, hard",
                      "mallet")
    velocity = _number(args, "velocity", 0.8, 0.0, 1.0, "velocity")
    position = _number(args, "position", None, 0.0, 360.0, "position")
    rub = args.get("rub") or "0"
    if rub not in ("0", "1"):
        raise Refusal(400, f"rub {rub!r} is not allowed; allowed: 0 (strike) or 1 (rub)",
                      "rub")
    rub = rub == "1"
    if rub and "rub" not in inst.articulations:
        raise Refusal(400, f"{inst.name} is a {inst.family} and cannot be rubbed; rub a bowl "
                           f"or crystal bowl", "rub")
    seconds = _number(args, "seconds", default_seconds(inst, rub), 0.5, MAX_SECONDS,
                      "seconds")
    return inst, path, mallet, velocity, position, rub, seconds


def _audition_key(path: Path, mallet, velocity, position, rub, seconds) -> tuple:
    return (str(path), path.stat().st_mtime_ns, mallet, velocity, position, rub, seconds)


def audition_wav(params) -> tuple[bytes, float]:
    """The audition as WAV bytes (16-bit stereo, 48 kHz) and its length (s), cached."""
    data = b"".join(audition_stream(params)[0])
    return data, params[-1]


def audition_stream(params):
    """The audition as WAV bytes, streamed as it is synthesised when it is not cached (the
    browser plays from the first block), and its length (s). The whole is cached once
    sent."""
    from ..library import strike_blocks

    inst, path, mallet, velocity, position, rub, seconds = params
    key = _audition_key(path, mallet, velocity, position, rub, seconds)
    cached = _WAVS.peek(key)
    if cached is not None:
        return iter([cached]), seconds
    frames, blocks = strike_blocks(inst, velocity=velocity, mallet=mallet, position=position,
                                   seconds=seconds, rub=RUB_S if rub else None, seed=0,
                                   sample_rate=48000, block_frames=AUDITION_BLOCK)

    def stream():
        parts, pos = [wav_header(frames, 48000)], 0
        yield parts[0]
        for block in blocks:
            parts.append(pcm16(block))
            pos += len(block)
            if pos >= frames:  # cached before the last block goes: a reader that stops at
                _WAVS.put(key, b"".join(parts))  # Content-Length never asks for more
            yield parts[-1]

    return stream(), seconds


@functools.cache
def _page_texts(lang: str) -> dict:
    """The page's own texts in ``lang`` (static/i18n/LANG.json), read once."""
    import json
    from importlib import resources

    text = resources.files(__package__).joinpath("static", "i18n", f"{lang}.json")
    return json.loads(text.read_text("utf-8"))


def instrument_names(preset, lang: str) -> dict[str, str]:
    """Each session instrument's name as the page shows it in ``lang``: the page's title for
    its key, else for the instrument it plays, else the key."""
    page = _page_texts(lang)
    return {key: page.get(f"instrument.{key}.title")
            or page.get(f"instrument.{si.instrument}.title") or key
            for key, si in preset.instruments.items()}


def audition_title(inst, mallet: str, velocity: float, rub: bool, lang: str) -> str:
    """The strike picture's title in ``lang``: the instrument as the page names it, its
    family and fundamental, and how it was played."""
    from ..pictures.labels import labels

    words = labels(lang)
    title = _page_texts(lang).get(f"instrument.{inst.name}.title", inst.name)
    shown = inst.name if title == inst.name else f"{title} ({inst.name})"
    family = words.family(inst.family)
    common = {"instrument": shown, "hz": words.number(inst.fundamental_hz, ".1f"),
              "family": "" if family.lower() == title.lower() else f"{family}, "}
    if rub:
        return words("audition_rub", seconds=words.number(RUB_S), **common)
    return words("audition_strike", velocity=words.number(velocity),
                 mallet=words.mallet(mallet), **common)


def strike_png(params, lang: str = "en") -> bytes:
    """The strike picture (spectrogram and decays) of the audition in ``lang``, cached."""
    import soundfile as sf

    from ..pictures.files import require

    require("the strike picture")
    inst, path, mallet, velocity, position, rub, seconds = params
    key = ("strike", lang) + _audition_key(path, mallet, velocity, position, rub, seconds)

    def make():
        from ..pictures.strike import strike_figure

        data, rate = sf.read(io.BytesIO(audition_wav(params)[0]), dtype="float32")
        title = audition_title(inst, mallet, velocity, rub, lang)
        with _DRAW:
            fig = strike_figure(inst, data, rate, title=title, lang=lang)
            return png_bytes(fig)

    return _PNGS.get(key, make)


# -- sessions --------------------------------------------------------------------------------

def session_png(preset, key, lang: str = "en") -> bytes:
    """The session picture (phases, lanes; the loudness over time when a render or
    ``sointu show --plot`` of this very session measured it) in ``lang``, cached by ``key``
    and language."""
    from ..pictures.files import require

    require("the session picture")

    def make():
        from ..pictures.session import session_figure
        from ..session.recordings import compose_with_room

        timeline = compose_with_room(preset)
        curve = _cached_curve(preset, timeline, key)
        with _DRAW:
            fig = session_figure(preset, timeline, curve, reuse=_SESSION_FIGURE[0], lang=lang,
                                 names=instrument_names(preset, lang))
            _SESSION_FIGURE[0] = fig
            return png_bytes(fig)

    return _PNGS.get(("session", key, lang), make)


def _cached_curve(preset, timeline, key):
    """The loudness curve cached for this session (a render or ``show --plot`` of it, in
    the speaker mix it is drawn for), else None."""
    from types import SimpleNamespace

    from ..rendering.level import cached_level
    from ..session.audio import LIMIT_DBFS

    if preset.recordings:  # the recordings are part of the key: the session made audible
        audio = _audio(preset, (key, None), mix="speakers")
    else:  # what the cache's key reads, without building the synthesiser
        rate = preset.defaults.sample_rate_hz
        audio = SimpleNamespace(preset=preset, timeline=timeline, sample_rate=rate,
                                total_frames=int(round(timeline.duration_s * rate)),
                                limit_dbfs=LIMIT_DBFS, recordings=(), mix="speakers")
    level = cached_level(audio, preset.defaults.loudness_lufs, curve=True)
    return None if level is None else level.curve


#: Sessions made audible, by their TOML text, length, seed and mix.
_AUDIO = Cache(4)
#: Gains (dB) estimated for previews, by the same key; "pending" while one is estimated.
_GAINS: dict = {}
_GAINS_LOCK = threading.Lock()


#: One preview synthesised at a time (a cached session's synthesiser is not shared).
_PLAY = threading.Lock()


def _audio(preset, key, *, mix):
    """The session made audible (cached), its recordings' levels set as a render sets them
    (measured once, then cached on disk by the render's own cache)."""
    from ..rendering.recordings import calibrate
    from ..session.audio import SessionAudio

    def make():
        audio = SessionAudio.from_preset(preset, mix=mix)
        calibrate(audio)
        return audio

    return _AUDIO.get(key, make)


def preview_level(audio, key, *, estimate: bool = True) -> tuple[float, str]:
    """The gain (dB) a preview plays at and how it was found: ``measured`` (a render or
    playback of this session cached it), ``estimated`` (estimated here earlier), or
    ``provisional`` (the quiet start live playback uses, while the estimate is made in the
    background for the next preview)."""
    from ..rendering.level import PROVISIONAL_RAW_LUFS, cached_level

    target = audio.preset.defaults.loudness_lufs
    level = cached_level(audio, target)
    if level is not None:
        return level.gain_db, "measured"
    with _GAINS_LOCK:
        known = _GAINS.get(key)
        if isinstance(known, float):
            return known, "estimated"
        if known is None and estimate:
            _GAINS[key] = "pending"
            threading.Thread(target=_estimate, args=(audio, key, target), daemon=True,
                             name="sointu-studio-estimate").start()
    return target - PROVISIONAL_RAW_LUFS, "provisional"


def _estimate(audio, key, target: float) -> None:
    """Estimate the gain in a forked process (the render's own :class:`GainEstimate`), at a
    low priority: in this process it held the interpreter against the pictures (a session
    picture took twice as long meanwhile), and the next click comes first (the process
    inherits this thread's priority)."""
    import os

    from ..rendering.estimate import GainEstimate

    try:
        tid = threading.get_native_id()  # this thread only; 10 below the studio, which
        # may itself run niced (an absolute 10 under `nice` was the studio's own priority)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10))
    except (AttributeError, OSError):
        pass
    estimate = None
    try:
        estimate = GainEstimate(audio, target)
        gain = float(estimate.result())
    except Exception:  # the preview stays provisional; a render reports real problems
        with _GAINS_LOCK:
            _GAINS.pop(key, None)
        return
    finally:
        if estimate is not None:
            estimate.close()
    with _GAINS_LOCK:
        _GAINS[key] = gain
        while len(_GAINS) > 64:
            _GAINS.pop(next(iter(_GAINS)))


def wav_header(frames: int, sample_rate: int, channels: int = 2) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV of ``frames`` frames."""
    import struct

    data = frames * channels * 2
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate,
                          sample_rate * channels * 2, channels * 2, 16)
            + b"data" + struct.pack("<I", data))


def pcm16(block: np.ndarray) -> bytes:
    """Float samples (full scale 1.0) as little-endian 16-bit PCM, rounded and clipped (the
    scale libsndfile reads back: 32768 steps to full scale)."""
    scaled = np.round(np.asarray(block, np.float32) * np.float32(32768.0))
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def preview_wav(preset, key, *, start_s: float, seconds: float, mix=None):
    """``seconds`` of the session from ``start_s`` as ``play --start-at`` sounds it: the
    session composed whole, only that span synthesised, at the rendered level.

    Returns
    -------
    (iterator of bytes, dict)
        The WAV (16-bit stereo at the session's rate), streamed as it is synthesised (its
        header first, with the length: the browser starts playing at the first block), and
        headers about it.
    """
    from ..session.durations import format_duration

    audio = _audio(preset, key, mix=mix)
    rate = audio.sample_rate
    start = int(round(start_s * rate))
    if start >= audio.total_frames:
        raise UsageError(f"--start-at {format_duration(start_s)} is at or past the end of "
                         f"the session ({format_duration(audio.duration_s)})")
    gain, how = preview_level(audio, key, estimate=False)
    want = min(int(round(seconds * rate)), audio.total_frames - start)

    def stream():
        pos = 0
        try:
            yield wav_header(want, rate)
            with _PLAY:
                blocks = audio.at_gain(gain).blocks(PREVIEW_BLOCK, start)
                try:
                    for block in blocks:
                        n = min(len(block), want - pos)
                        yield pcm16(block[:n])
                        pos += n
                        if pos >= want:
                            break
                finally:
                    blocks.close()
            if pos < want:  # cannot happen (the session has these frames): the length holds
                yield bytes((want - pos) * 4)
        finally:  # also when the reader stops at Content-Length and closes the stream
            if how == "provisional":  # estimated for the next preview, not against this one
                preview_level(audio, key)

    headers = {"X-Sointu-Start-S": f"{start / rate:g}", "X-Sointu-Seconds": f"{want / rate:g}",
               "X-Sointu-Level": how, "X-Sointu-Gain-dB": f"{gain:.2f}",
               "X-Sointu-Session-S": f"{audio.duration_s:g}",
               "Content-Length": str(44 + want * 4)}
    return stream(), headers


def warm_up(folder: Path) -> None:
    """Import and run once what the first clicks need (matplotlib's fonts, the engine, the
    preset listing), so the first audition and picture are as quick as the next ones."""
    from ..pictures.files import available

    try:
        from . import session_doc

        session_doc.preset_list(folder)
        instrument_list(folder)
        from ..rendering import level  # noqa: F401
        from ..session import audio  # noqa: F401

        if available():
            from matplotlib.figure import Figure

            from ..pictures import session, strike  # noqa: F401

            with _DRAW:
                fig = Figure(figsize=(2, 1), dpi=50)
                fig.subplots().plot([0, 1], [0, 1], label="x")
                fig.legend()
                fig.suptitle("warm-up")
                png_bytes(fig)
    except Exception:  # warming up is only for speed; real requests report real problems
        pass
