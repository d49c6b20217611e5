"""Cover art: a square picture of the session for the file's front cover.

The session's own shape, read like a clock: the hour goes round once, clockwise from the
top; the phases are the coloured outer ring, each instrument has its own circle, every
stroke is a dot on it (larger when stronger) and every rub an arc. Above it the title (for
a gift, the recipient's line in the form the gift's title has it: "Maijalle"), below it
the practitioner. Colours from Okabe & Ito's colour-blind-safe palette.

Drawn with Pillow (which comes with the ``plot`` extra), not matplotlib: it takes about
0.02 s, so a render makes its cover in a thread while the audio is synthesised and no render
waits for a plotting library. Text is set in DejaVu Sans (shipped with matplotlib), which
has every Finnish letter. Without the extra there is no generated cover (see
:func:`cover_available`); a practitioner's own picture (``--cover``) needs nothing.
"""

from __future__ import annotations

import importlib.util
import io
import math
import threading
from pathlib import Path

from ..rendering.cover_art import CoverImage
from .session import OKABE_ITO

__all__ = ["COVER_PX", "cover_available", "session_cover", "gift_lines", "CoverJob",
           "CoverPlan", "check_cover_options"]

#: Side of a generated cover (pixels).
COVER_PX = 1000
#: Drawn this many times larger, then each square of pixels averaged: smooth edges without
#: antialiasing.
_SUPERSAMPLE = 2
_BACKGROUND = (24, 33, 48)
_TEXT = (245, 245, 240)
_SOFT_TEXT = (190, 196, 205)
_ACCENT = (230, 159, 0)  # Okabe-Ito orange
_LANE = (70, 82, 100)


def _font_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("matplotlib")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf"
    return folder if (folder / "DejaVuSans.ttf").is_file() else None


def cover_available() -> bool:
    """Whether covers can be drawn here: Pillow and the DejaVu fonts (the ``plot`` extra)."""
    try:
        pil = importlib.util.find_spec("PIL") is not None
    except (ImportError, ValueError):
        pil = False
    return pil and _font_dir() is not None


def gift_lines(title: str, first_part: str | None) -> tuple[str, str | None]:
    """Split a gift's title into the session's title and the recipient's line.

    The recipient's line is taken from the title as written ("Sointurentoutus - Maijalle"
    -> "Maijalle", "Sound relaxation for Maija" -> "for Maija"), never made up here, so
    the cover always says what the title says. A title that does not start with
    ``first_part`` (one given in full) is the title alone.
    """
    title = " ".join(title.split())
    first = " ".join((first_part or "").split())
    if first and title.startswith(first) and len(title) > len(first):
        rest = title[len(first):].strip().lstrip("-\u2013\u2014").strip()
        if rest:
            return first, rest
    return title, None


def _colour(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def _font(size: int, bold: bool = False):
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(_font_dir() / name), size)


def _fitted(draw, text: str, width: int, size: int, bold: bool, smallest: int):
    """The largest font (from ``size`` down) in which ``text`` fits ``width`` pixels, or
    None if even ``smallest`` does not."""
    while size >= smallest:
        font = _font(size, bold)
        if draw.textlength(text, font=font) <= width:
            return font
        size = int(size * 0.9)
    return None


def _text_block(draw, text: str, centre_x: int, top: int, width: int, size: int,
                bold: bool, colour, smallest: int, max_lines: int = 2) -> int:
    """Draw ``text`` centred, shrunk to fit or broken into lines; return the bottom y."""
    words = text.split()
    for lines in range(1, max_lines + 1):
        chunks = _split(words, lines)
        fonts = [_fitted(draw, c, width, size, bold, smallest) for c in chunks]
        if all(fonts):
            font = min(fonts, key=lambda f: f.size)
            break
    else:  # too long even on max_lines: the smallest font, cut with an ellipsis
        font = _font(smallest, bold)
        chunks = [_cut(draw, " ".join(words), width, font)]
    y = top
    for c in chunks:
        draw.text((centre_x, y), c, font=font, fill=colour, anchor="ma")
        y += int(font.size * 1.2)
    return y


def _split(words: list[str], lines: int) -> list[str]:
    """``words`` in ``lines`` lines of about equal length."""
    if lines <= 1 or len(words) < lines:
        return [" ".join(words)]
    total = sum(len(w) for w in words)
    out, line, acc = [], [], 0
    for w in words:
        line.append(w)
        acc += len(w)
        if acc >= total * (len(out) + 1) / lines and len(out) < lines - 1:
            out.append(" ".join(line))
            line = []
    if line:
        out.append(" ".join(line))
    return out


def _cut(draw, text: str, width: int, font) -> str:
    while text and draw.textlength(text + "\u2026", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "\u2026"


def session_cover(preset, timeline, *, title: str, artist: str | None = None,
                  recipient: str | None = None, size: int = COVER_PX) -> CoverImage:
    """The cover of a session as a PNG.

    Parameters
    ----------
    preset : SessionPreset
        Instruments (one circle each, in the preset's order).
    timeline : Timeline
        Phases and events: the shape.
    title : str
        The session's title (a gift's, without the recipient's line: see
        :func:`gift_lines`).
    artist : str, optional
        The practitioner, written at the bottom.
    recipient : str, optional
        A gift's recipient line ("Maijalle"), written large under the title.
    size : int
        Side in pixels (at least 600).

    Returns
    -------
    CoverImage
    """
    from PIL import Image, ImageDraw

    s = _SUPERSAMPLE
    big = size * s
    img = Image.new("RGB", (big, big), _BACKGROUND)
    draw = ImageDraw.Draw(img)
    u = big / 1000.0  # drawing unit: a thousandth of the side
    top = _text_block(draw, title, big // 2, int(45 * u), int(900 * u), int(66 * u), True,
                      _TEXT, int(30 * u))
    if recipient:
        top = _text_block(draw, recipient, big // 2, top + int(8 * u), int(900 * u),
                          int(72 * u), True, _ACCENT, int(32 * u), max_lines=1)
    bottom = int(935 * u)
    if artist:
        _text_block(draw, artist, big // 2, bottom, int(900 * u), int(36 * u), False,
                    _SOFT_TEXT, int(20 * u), max_lines=1)
    # the clock face fills what the text leaves
    room_top, room_bottom = top + int(25 * u), bottom - int(25 * u)
    radius = max(int(120 * u), min((room_bottom - room_top) // 2, int(330 * u)))
    cx, cy = big // 2, (room_top + room_bottom) // 2
    _draw_shape(draw, preset, timeline, cx, cy, radius, u)
    minutes = f"{timeline.duration_s / 60:.0f} min"
    draw.text((cx, cy), minutes, font=_font(int(34 * u)), fill=_SOFT_TEXT, anchor="mm")
    # a plain average of each s x s square: a twentieth of the time of a Lanczos resize
    # (0.003 s), and no dark ringing at the edges of the letters and dots
    img = img.reduce(s)
    # its own few colours and their blends with the background (the smooth edges): a
    # palette PNG of ~30 kB instead of ~190 kB, which fits in the padding a FLAC file keeps
    # after its tags are written, so embedding it does not rewrite the whole file; zlib's
    # level 6 (0.01 s) makes it 1 kB larger than level 9 (0.04 s)
    img = img.quantize(palette=_palette(), dither=Image.Dither.NONE)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return CoverImage(buf.getvalue(), "image/png", size, size)


def _palette():
    from PIL import Image

    base = [_TEXT, _SOFT_TEXT, _ACCENT, _LANE] + [_colour(c) for c in OKABE_ITO]
    entries = [_BACKGROUND]
    for c in base:
        for k in range(1, 17):
            a = k / 16.0
            entries.append(tuple(round(a * c[i] + (1 - a) * _BACKGROUND[i]) for i in range(3)))
    flat = [v for rgb in entries for v in rgb]
    pal = Image.new("P", (1, 1))
    pal.putpalette(flat + [0] * (768 - len(flat)))
    return pal


def _angle(t_s: float, total_s: float) -> float:
    """Degrees for Pillow's arcs (0 = 3 o'clock, clockwise) of time ``t_s``: the top at 0."""
    return -90.0 + 360.0 * t_s / total_s


def _draw_shape(draw, preset, timeline, cx: int, cy: int, radius: int, u: float) -> None:
    total = max(timeline.duration_s, 1e-9)
    ring = max(int(16 * u), 2)
    gap = 0.6  # degrees between phases
    for i, ph in enumerate(timeline.phases):
        a0, a1 = _angle(ph.start_s, total) + gap / 2, _angle(ph.end_s, total) - gap / 2
        if a1 > a0:
            draw.arc((cx - radius, cy - radius, cx + radius, cy + radius), a0, a1,
                     fill=_colour(OKABE_ITO[(i + 1) % 7]), width=ring)
    keys = list(preset.instruments) or sorted({e.instrument for e in timeline.events})
    for e in timeline.events:
        if e.instrument not in keys:
            keys.append(e.instrument)
    inner, outer = 0.32 * radius, radius - ring - 14 * u
    step = (outer - inner) / max(len(keys) - 1, 1)
    lane_r = {k: outer - i * step for i, k in enumerate(keys)}
    lane_colour = {k: _colour(OKABE_ITO[i % 7]) for i, k in enumerate(keys)}
    for r in lane_r.values():
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=_LANE, width=max(int(u), 1))
    for e in timeline.events:
        r = lane_r[e.instrument]
        if e.articulation == "rub":
            a0 = _angle(e.time_s, total)
            a1 = _angle(e.time_s + e.duration_s, total)
            draw.arc((cx - r, cy - r, cx + r, cy + r), a0, max(a1, a0 + 0.5),
                     fill=lane_colour[e.instrument], width=max(int(9 * u), 2))
            continue
        a = math.radians(_angle(e.time_s, total))
        x, y = cx + r * math.cos(a), cy + r * math.sin(a)
        d = (3.0 + 11.0 * max(0.0, min(1.0, e.velocity))) * u
        draw.ellipse((x - d, y - d, x + d, y + d), fill=lane_colour[e.instrument],
                     outline=_BACKGROUND, width=max(int(u), 1))


class CoverJob:
    """A cover drawn in a thread while the caller goes on (a render's synthesis).

    Parameters
    ----------
    *args, **kwargs
        For :func:`session_cover`.

    Notes
    -----
    Call :meth:`result` to get it (as ``write_blocks``'s ``cover`` callable does). A
    failure to draw it is raised there, as a one-line error.
    """

    def __init__(self, *args, **kwargs):
        self._value: CoverImage | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=args, kwargs=kwargs,
                                        name="sointu-cover", daemon=True)
        self._thread.start()

    def _run(self, *args, **kwargs) -> None:
        try:
            self._value = session_cover(*args, **kwargs)
        except BaseException as exc:  # handed to result()
            self._error = exc

    def result(self) -> CoverImage:
        """The cover, waiting for the thread if it is still drawing."""
        self._thread.join()
        if self._error is not None:
            from ..errors import OutputError

            raise OutputError(f"could not draw the cover: {self._error}") from self._error
        return self._value


def check_cover_options(own_file, no_cover: bool) -> None:
    """``--cover FILE`` and ``--no-cover`` contradict each other: a one-line UsageError."""
    if own_file is not None and no_cover:
        from ..errors import UsageError

        raise UsageError(f"--cover {own_file} and --no-cover contradict each other; allowed: "
                         f"one of them")


#: Suffixes of the formats that hold a cover (FLAC, MP3, Ogg Vorbis and Opus).
COVER_SUFFIXES = (".flac", ".mp3", ".ogg", ".opus")


class CoverPlan:
    """What cover a render gets: made from the session, the practitioner's own, or none.

    Parameters
    ----------
    preset, timeline
        The session.
    title : str
        Title on the cover.
    artist : str, optional
        The practitioner.
    recipient : str, optional
        A gift's recipient line (see :func:`gift_lines`).
    own_file : path, optional
        ``--cover FILE``: read and checked here, before anything is rendered.
    enabled : bool
        False for ``--no-cover``.

    Attributes
    ----------
    note : str or None
        Why a render gets no cover although it could hold one (the extra is missing).
    """

    def __init__(self, preset, timeline, *, title: str, artist: str | None = None,
                 recipient: str | None = None, own_file=None, enabled: bool = True):
        from ..rendering.cover_art import read_cover_file

        check_cover_options(own_file, not enabled)
        self._own = read_cover_file(own_file) if own_file is not None else None
        self._args = (preset, timeline)
        self._kwargs = dict(title=title, artist=artist, recipient=recipient)
        self.enabled = enabled
        self.note = None

    def start(self, suffix: str):
        """Start making the cover of a file with ``suffix``; returns the callable that
        gives it (for ``write_blocks(cover=...)``), or None for no cover."""
        if not self.enabled or suffix.lower() not in COVER_SUFFIXES:
            return None
        if self._own is not None:
            own = self._own
            return lambda: own
        if not cover_available():
            from .files import INSTALL_HINT

            self.note = f"no cover: drawing one needs the plot extra ({INSTALL_HINT})"
            return None
        return CoverJob(*self._args, **self._kwargs).result
