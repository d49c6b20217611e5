"""Session presets: the schema, loading and validation of ``presets/sessions/*.toml``.

A session preset is data: titles, the instruments it uses (from the instrument library,
placed in the room), the phases (share or length of the session, which instruments, how
often, how loud, which mallets, rubbed bowls, special cues such as an opening signal or a
gong wave), the room, defaults and file metadata. ``docs/presets.md`` documents every key.

Validation collects every problem of a file (:func:`check_session_file`), each one line
``file:line: key: what is wrong; what is allowed``. :func:`load_session_preset` raises the
first as a :class:`~sointu.errors.PresetError`.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.instrument import Instrument
from ..engine.library import load_instrument
from ..engine.piece import SAMPLE_RATES
from ..engine.room import Room, load_rooms
from ..engine.tuning import to_hz
from ..errors import PresetError
from ..presets import Checker, find_preset, list_presets, read_text, read_toml
from .durations import MAX_DURATION_S
from .placement import Placement
from .recordings import RecordingSpec, read_recordings
from .timeline import ARTICULATIONS, MALLETS, SEED_LIMIT

__all__ = [
    "SessionPreset",
    "SessionInstrument",
    "PhaseSpec",
    "RubSpec",
    "CueSpec",
    "Defaults",
    "RoomSpec",
    "Metadata",
    "CUE_KINDS",
    "SHARE_TOLERANCE",
    "load_session_preset",
    "check_session_file",
    "session_preset_from_dict",
    "list_session_presets",
]

#: Kinds of special cue: ``signal`` (one or a few strokes at a chosen moment, e.g. tingsha
#: to open or close) and ``wave`` (a swelling series of soft strokes, e.g. a gong wave).
CUE_KINDS = ("signal", "wave")

#: Phase shares must sum to 1 within this tolerance.
SHARE_TOLERANCE = 1e-6

Range = tuple[float, float]
Weights = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class SessionInstrument:
    """An instrument as a session uses it: which library instrument, where, how loud.

    Attributes
    ----------
    key : str
        Name the session's phases and the Timeline's events use.
    instrument : str
        Library name (``pelvic``) or path of the instrument preset, as written.
    path : Path
        The instrument preset file it resolved to.
    family : str
        Instrument family (``bowl``, ``crystal``, ``gong``, ``tam-tam``, ``tingsha``,
        ``chime``).
    articulations : tuple of str
        What the instrument allows (``("strike", "rub")`` for bowls).
    fundamental_hz : float
        Fundamental after any tuning override (Hz).
    tuning_hz : float or None
        The session's tuning override (Hz), None to keep the preset's tuning.
    ring_s : float
        Seconds for a full stroke to decay 60 dB.
    azimuth_deg : float
        Direction seen from the listener: -90 left, 0 front, 90 right, up to +-180 behind.
    distance : float
        Relative distance, 1 = near (the direct sound falls as 1/distance), 1..10.
    level_db : float
        Extra gain of this instrument in the session (dB).
    elevation_deg : float
        Headphone mix: height seen from the listener's head, -90 below .. 90 above.
    distance_m : float or None
        Headphone mix: distance from the listener's head (m), > 0; None: ``distance`` m.
    """

    key: str
    instrument: str
    path: Path
    family: str
    articulations: tuple[str, ...]
    fundamental_hz: float
    tuning_hz: float | None
    ring_s: float
    azimuth_deg: float = 0.0
    distance: float = 1.0
    level_db: float = 0.0
    elevation_deg: float = 0.0
    distance_m: float | None = None

    def load(self) -> Instrument:
        """The engine instrument, retuned if the session overrides its tuning."""
        inst = load_instrument(str(self.path))
        return inst.retuned(self.tuning_hz) if self.tuning_hz is not None else inst

    def placement(self) -> Placement:
        """This instrument placed in the room, for :class:`~sointu.session.audio.SessionAudio`."""
        return Placement(key=self.key, instrument=self.load(), azimuth_deg=self.azimuth_deg,
                         distance=self.distance, level_db=self.level_db,
                         elevation_deg=self.elevation_deg, distance_m=self.distance_m)


@dataclass(frozen=True)
class RubSpec:
    """Rubbed ("singing") bowls in a phase.

    Attributes
    ----------
    instruments : tuple of (key, weight)
        Which bowls are rubbed, with relative weights (> 0).
    interval_s : (float, float)
        Range of the time between the starts of two rubs (s).
    duration_s : (float, float)
        Range of how long the rim is rubbed before release (s).
    velocity : (float, float)
        Range of the rubbing strength, 0..1.
    """

    instruments: Weights
    interval_s: Range
    duration_s: Range
    velocity: Range


@dataclass(frozen=True)
class CueSpec:
    """A special moment a practitioner plans: an opening/closing signal or a gong wave.

    Attributes
    ----------
    kind : str
        One of :data:`CUE_KINDS`.
    instrument : str
        Session instrument key.
    at_s : float or None
        Offset of the first stroke from the phase start (s); negative: from the end of the
        phase's playing span (the ring-out excluded). Exactly one of ``at_s``/``at`` is set.
    at : float or None
        Position of the first stroke as a fraction 0..1 of the phase's playing span.
    count : int
        Number of strokes.
    gap_s : (float, float)
        Range of the time between strokes (s).
    velocity : (float, float)
        ``signal``: range of each stroke's velocity. ``wave``: the swell goes from the low
        value up to the high one in the middle of the wave and back down.
    mallet : str
        One of :data:`~sointu.session.timeline.MALLETS`.
    articulation : str
        ``strike`` or ``rub``.
    duration_s : (float, float) or None
        For ``rub``: range of how long the rim is rubbed (s).
    """

    kind: str
    instrument: str
    at_s: float | None
    at: float | None
    count: int
    gap_s: Range
    velocity: Range
    mallet: str = "soft"
    articulation: str = "strike"
    duration_s: Range | None = None


@dataclass(frozen=True)
class PhaseSpec:
    """One phase of a session preset (see ``docs/presets.md``).

    Attributes
    ----------
    name : str
        Unique name (``introduction``, ``relaxation``, ``recovery`` ...).
    share : float or None
        Fraction of the session's playing time (the total minus fixed-length phases and the
        ring-out). Exactly one of ``share``/``length_s`` is set.
    length_s : float or None
        Fixed length (s), kept when the session is rescaled.
    instruments : tuple of (key, weight)
        Instruments struck in this phase, relative weights (empty: no regular strikes).
    interval_s, interval_end_s : (float, float)
        Range of the time between strikes at the start and at the end of the phase (s);
        interpolated linearly in between.
    velocity, velocity_end : (float, float)
        Range of strike velocity (0..1) at the start and at the end of the phase.
    mallets, mallets_end : tuple of (name, weight)
        Mallet choice at the start and at the end, interpolated.
    quiet_start_s, quiet_end_s : float
        No regular strikes or rubs in the first / last seconds of the phase (room for an
        opening or a closing signal); each at most a quarter of the phase when rescaled.
    rub : RubSpec or None
        Rubbed bowls in this phase.
    cues : tuple of CueSpec
        Special moments.
    """

    name: str
    share: float | None
    length_s: float | None
    instruments: Weights
    interval_s: Range
    interval_end_s: Range
    velocity: Range
    velocity_end: Range
    mallets: Weights
    mallets_end: Weights
    quiet_start_s: float = 0.0
    quiet_end_s: float = 0.0
    rub: RubSpec | None = None
    cues: tuple[CueSpec, ...] = ()

    @property
    def key(self) -> int:
        """A stable number from the phase name, used to seed this phase's own streams."""
        return zlib.crc32(self.name.encode("utf-8"))


@dataclass(frozen=True)
class Defaults:
    """What a session uses unless told otherwise.

    Attributes
    ----------
    duration_s : float
        Total length (s), ring-out included.
    sample_rate_hz : int
        Render sample rate (Hz), one of ``sointu.engine.piece.SAMPLE_RATES``.
    seed : int
        Seed of the composer (and of the per-stroke variation), >= 0.
    loudness_lufs : float
        Integrated loudness target of a rendered file (LUFS).
    ring_out_s : float
        Seconds at the end in which no sound starts, so the last ones decay. Shortened to
        a quarter of the session for short renders.
    fade_out_s : float
        Length of the final fade that guarantees silence at the very end (s).
    mix : str or None
        ``speakers`` or ``headphones`` (see :data:`MIXES`); None: speakers, but gifts are
        made for headphones.
    thin_halving_s : float or None
        In a session longer than ``duration_s``: from that time on, the intervals between
        regular strikes and between rubs grow so that their rate halves every
        ``thin_halving_s`` seconds (s). None: the rate does not depend on the length.
    """

    duration_s: float = 3600.0
    sample_rate_hz: int = 48000
    seed: int = 0
    loudness_lufs: float = -23.0
    ring_out_s: float = 45.0
    fade_out_s: float = 8.0
    mix: str | None = None
    thin_halving_s: float | None = None


@dataclass(frozen=True)
class RoomSpec:
    """The room: ``name`` (``presets/engine/rooms.toml``), ``reverb`` 0 (dry) .. 1 (very
    reverberant), ``width`` 0 (mono) .. 1, ``tone`` (a quiet room-tone bed)."""

    reverb: float = 0.35
    width: float = 0.8
    name: str = "treatment-room"
    tone: bool = False


@dataclass(frozen=True)
class Metadata:
    """Tags written into rendered files."""

    artist: str = ""
    album: str = ""
    genre: str = "Meditation"
    comment: str = ""


@dataclass(frozen=True)
class SessionPreset:
    """A validated session preset.

    Attributes
    ----------
    name : str
        Slug (the file name without ``.toml``).
    path : Path or None
        The file it was read from.
    title : dict of str -> str
        Title per language code (``fi``, ``en`` ...).
    description : str
        One line shown by ``sointu presets``.
    language : str
        Main language of the session (ISO 639-1 code).
    max_velocity : float
        No stroke of the session is stronger than this (0..1); the preset's ranges are
        checked against it.
    instruments : dict of str -> SessionInstrument
        Every instrument the phases use, by session key, in file order.
    phases : tuple of PhaseSpec
        In order.
    room : RoomSpec
    defaults : Defaults
    metadata : Metadata
    recordings : tuple of RecordingSpec
        Recordings placed on the timeline (``[[recordings]]``, see session.recordings).
    """

    name: str
    path: Path | None
    title: dict[str, str]
    description: str
    language: str
    max_velocity: float
    instruments: dict[str, SessionInstrument]
    phases: tuple[PhaseSpec, ...]
    room: RoomSpec = field(default_factory=RoomSpec)
    defaults: Defaults = field(default_factory=Defaults)
    metadata: Metadata = field(default_factory=Metadata)
    recordings: tuple[RecordingSpec, ...] = ()

    @property
    def display_title(self) -> str:
        """The title in the session's language (else English, else any)."""
        t = self.title
        return t.get(self.language) or t.get("en") or next(iter(t.values()), self.name)

    def placements(self) -> list[Placement]:
        """Every instrument placed in the room (loads the instrument presets)."""
        return [si.placement() for si in self.instruments.values()]

    def engine_room(self, seed: int | None = None) -> Room:
        """The engine's :class:`~sointu.engine.room.Room` (reflections seeded by ``seed``,
        default the preset's seed)."""
        return Room(reverb=self.room.reverb, width=self.room.width,
                    seed=self.defaults.seed if seed is None else int(seed),
                    name=self.room.name, tone=self.room.tone)


# -- loading --------------------------------------------------------------------------------

def list_session_presets(extra: Path | None = None) -> dict[str, Path]:
    """Session name -> file, shipped presets and those in ./presets (or ``extra``)."""
    return list_presets("sessions", extra)


def load_session_preset(name_or_path: str | Path, extra: Path | None = None) -> SessionPreset:
    """Load and validate a session preset by name (``classic-60``) or path.

    Raises
    ------
    PresetError
        The first problem found (one line naming file, key and line); ``sointu validate``
        lists them all.
    """
    path = find_preset("sessions", str(name_or_path), extra)
    preset, problems = _check_path(path)
    if problems:
        more = f" (and {len(problems) - 1} more; see sointu validate)" if len(problems) > 1 else ""
        raise PresetError(problems[0] + more)
    return preset


def check_session_file(path: str | Path) -> list[str]:
    """Every problem of one session preset file, one line each (empty if it is valid)."""
    return _check_path(Path(path))[1]


def _check_path(path: Path) -> tuple[SessionPreset | None, list[str]]:
    try:
        data = read_toml(path)
    except PresetError as exc:
        return None, [str(exc)]
    try:
        text = read_text(path)
    except PresetError:
        text = ""
    return session_preset_from_dict(data, str(path), path=path, text=text)


def session_preset_from_dict(data: dict, source: str, *, path: Path | None = None,
                             text: str = "") -> tuple[SessionPreset | None, list[str]]:
    """Validate parsed TOML; returns (preset or None, list of one-line problems).

    Parameters
    ----------
    data : dict
        The parsed file.
    source : str
        Where it came from (file path), quoted in messages.
    path : Path, optional
        The file; its folder is searched for instrument presets given by relative path.
    text : str
        The file's text, used only to find the line of a key for messages.
    """
    v = _Validator(source, _key_lines(text), path)
    preset = v.preset(data, name=path.stem if path else "session")
    if v.problems:
        return None, v.problems
    return preset, []


# -- the validator --------------------------------------------------------------------------

_TOP = {"title", "description", "language", "max_velocity", "defaults", "room", "metadata",
        "instruments", "phases", "recordings"}
_DEFAULTS = {"duration_s", "sample_rate_hz", "seed", "loudness_lufs", "ring_out_s",
             "fade_out_s", "mix", "thin_halving_s"}
#: The mixes a session renders to: stereo for speakers, binaural for headphones.
MIXES = ("speakers", "headphones")
_ROOM = {"name", "reverb", "width", "tone"}
_METADATA = {"artist", "album", "genre", "comment"}
_INSTRUMENT = {"instrument", "tuning", "azimuth_deg", "distance", "level_db", "elevation_deg",
               "distance_m"}
_PHASE = {"name", "share", "length_s", "instruments", "interval_s", "interval_end_s",
          "velocity", "velocity_end", "mallets", "mallets_end", "quiet_start_s",
          "quiet_end_s", "rub", "cues"}
_RUB = {"instruments", "interval_s", "duration_s", "velocity"}
_CUE = {"kind", "instrument", "at_s", "at", "count", "gap_s", "velocity", "mallet",
        "articulation", "duration_s"}
_LANG = re.compile(r"^[a-z]{2}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class _Skip(Exception):
    """A value could not be read; its problem is already recorded."""


class _Validator(Checker):
    """Reads a session preset, recording every problem instead of stopping at the first."""

    def __init__(self, source: str, lines: dict[str, int], path: Path | None):
        super().__init__(source)
        self.lines = lines
        self.path = path
        self.problems: list[str] = []
        # (share, length_s) of every phase as read, even of phases with other problems
        self.lengths: list[tuple[float | None, float | None] | None] = []
        # instruments declared but invalid: their problem is reported once, not at every use
        self.broken: set[str] = set()

    # messages ---------------------------------------------------------------------------

    def line_of(self, key: str) -> int | None:
        k = key
        while k:
            if k in self.lines:
                return self.lines[k]
            cut = max(k.rfind("."), k.rfind("["))
            k = k[:cut] if cut > 0 else ""
        return None

    def fail(self, key: str, msg: str) -> PresetError:
        line = self.line_of(key)
        where = f"{self.source}:{line}" if line else self.source
        return PresetError(f"{where}: {key}: {msg}")

    def problem(self, key: str, msg: str) -> None:
        self.problems.append(str(self.fail(key, msg)))

    def get(self, fn, *args, **kwargs):
        """Call a Checker reader; on a problem record it and raise :class:`_Skip`."""
        try:
            return fn(*args, **kwargs)
        except PresetError as exc:
            self.problems.append(str(exc))
            raise _Skip from None

    def opt(self, fn, *args, fallback=None, **kwargs):
        """Like :meth:`get` but return ``fallback`` after recording the problem."""
        try:
            return self.get(fn, *args, **kwargs)
        except _Skip:
            return fallback

    # readers ----------------------------------------------------------------------------

    def value_number(self, v, name: str, *, lo=None, hi=None, lo_open=False) -> float:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 1e300:
            raise self.fail(name, f"{v} is out of range; allowed {_span(lo, hi)}")
        return super().value_number(v, name, lo=lo, hi=hi, lo_open=lo_open)

    def keys(self, table: dict, allowed: set[str], where: str) -> None:
        ok = ", ".join(sorted(allowed))
        for key in table:
            if key not in allowed:
                self.problem(f"{where}{key}", f"unknown key; allowed: {ok}")

    def table(self, d: dict, key: str, where: str = "", *, required: bool = False) -> dict:
        if key not in d:
            if required:
                self.problem(f"{where}{key}", "missing table")
            return {}
        t = d[key]
        if not isinstance(t, dict):
            self.problem(f"{where}{key}", f"expected a table, got {_show(t)}")
            return {}
        return t

    def text(self, d: dict, key: str, where: str = "", *, default: str | None = None,
             choices: tuple[str, ...] | None = None) -> str:
        return self.get(self.string, d, key, where, default=default, choices=choices)

    def range2(self, d: dict, key: str, where: str, *, default: Range | None = None,
               lo: float, hi: float, lo_open: bool = False) -> Range:
        """A [low, high] pair with lo <= low <= high <= hi."""
        vals = self.get(self.numbers, d, key, where, length=2,
                        default=list(default) if default is not None else None,
                        lo=lo, hi=hi, lo_open=lo_open)
        if vals[0] > vals[1]:
            self.problem(f"{where}{key}", f"[{vals[0]:g}, {vals[1]:g}]: expected [low, high] "
                                          f"with low <= high")
            raise _Skip
        return (vals[0], vals[1])

    def weights(self, d: dict, key: str, where: str, names: tuple[str, ...] | list[str],
                what: str, *, default: Weights | None = None) -> Weights:
        """A table name -> weight (>= 0, at least one > 0) with names from ``names``."""
        if key not in d:
            if default is None:
                self.problem(f"{where}{key}", f"missing; a table of {what} -> weight")
                raise _Skip
            return default
        t = d[key]
        if not isinstance(t, dict):
            self.problem(f"{where}{key}", f"expected a table of {what} -> weight, e.g. "
                                          f"{{ {names[0] if names else 'name'} = 1 }}, "
                                          f"got {_show(t)}")
            raise _Skip
        out: list[tuple[str, float]] = []
        bad = False
        for name, w in t.items():
            if name in self.broken:
                bad = True
                continue
            if name not in names:
                known = ", ".join(names) or "none declared"
                self.problem(f"{where}{key}.{name}", f"unknown {what} '{name}'; known: {known}")
                bad = True
                continue
            try:
                out.append((name, self.value_number(w, f"{where}{key}.{name}", lo=0.0,
                                                    hi=1000.0)))
            except PresetError as exc:
                self.problems.append(str(exc))
                bad = True
        if bad:
            raise _Skip
        if not any(w > 0 for _, w in out):
            self.problem(f"{where}{key}", f"expected at least one {what} with a weight above 0")
            raise _Skip
        return tuple(out)

    # sections ---------------------------------------------------------------------------

    def preset(self, d: dict, name: str) -> SessionPreset | None:
        self.keys(d, _TOP, "")
        title = self.titles(d)
        description = self.opt(self.text, d, "description", default="", fallback="")
        language = self.opt(self.language, d, fallback="en")
        max_velocity = self.opt(self.number, d, "max_velocity", default=1.0, lo=0.0, hi=1.0,
                                lo_open=True, fallback=1.0)
        defaults = self.defaults(self.table(d, "defaults"))
        room = self.room(self.table(d, "room"))
        metadata = self.metadata(self.table(d, "metadata"))
        instruments = self.instruments(self.table(d, "instruments", required=True))
        if d.get("instruments") == {}:
            self.problem("instruments", "expected at least one instrument, e.g. "
                                        "[instruments.universal]")
        phases = self.phases(d, instruments, max_velocity)
        if self.lengths and all(x is not None for x in self.lengths):
            self.fit(self.lengths, defaults)
        recordings = read_recordings(self, d, [p.name for p in phases], self.path, instruments)
        if self.problems:
            return None
        return SessionPreset(name=name, path=self.path, title=title, description=description,
                             language=language, max_velocity=max_velocity,
                             instruments=instruments, phases=tuple(phases), room=room,
                             defaults=defaults, metadata=metadata, recordings=recordings)

    def titles(self, d: dict) -> dict[str, str]:
        if "title" not in d:
            self.problem("title", "missing; a table such as { fi = \"...\", en = \"...\" }")
            return {}
        t = d["title"]
        if isinstance(t, str):
            return {"en": t}
        if not isinstance(t, dict) or not t:
            self.problem("title", f"expected a table of language code -> title, e.g. "
                                  f"{{ fi = \"Sointurentoutus\", en = \"Sound relaxation\" }}, "
                                  f"got {_show(t)}")
            return {}
        out = {}
        for lang, value in t.items():
            if not _LANG.match(lang):
                self.problem(f"title.{lang}", "unknown key; allowed: two-letter language codes "
                                              "(fi, en, sv, ...)")
            elif not isinstance(value, str) or not value.strip():
                self.problem(f"title.{lang}", f"expected non-empty text, got {_show(value)}")
            else:
                out[lang] = value
        return out

    def language(self, d: dict) -> str:
        lang = self.text(d, "language", default="en")
        if not _LANG.match(lang):
            self.problem("language", f"'{lang}' is not allowed; allowed: a two-letter ISO 639-1 "
                                     f"code such as fi, en, sv")
            raise _Skip
        return lang

    def defaults(self, t: dict) -> Defaults | None:
        w = "defaults."
        self.keys(t, _DEFAULTS, w)
        base = Defaults()
        ok = True

        def num(key, default, lo, hi, lo_open=False):
            nonlocal ok
            value = self.opt(self.number, t, key, w, default=default, lo=lo, hi=hi,
                             lo_open=lo_open)
            ok = ok and value is not None
            return value

        duration = num("duration_s", base.duration_s, 0.0, MAX_DURATION_S, lo_open=True)
        rate = base.sample_rate_hz
        if "sample_rate_hz" in t:
            r = t["sample_rate_hz"]
            if isinstance(r, bool) or r not in SAMPLE_RATES:
                allowed = ", ".join(str(s) for s in SAMPLE_RATES)
                self.problem(w + "sample_rate_hz", f"{_show(r)} is not allowed; allowed: "
                                                   f"{allowed}")
                ok = False
            else:
                rate = int(r)
        seed = base.seed
        if "seed" in t:
            s = t["seed"]
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < SEED_LIMIT:
                self.problem(w + "seed", f"{_show(s)} is not allowed; allowed: a whole number "
                                         f"0..2^63-1")
                ok = False
            else:
                seed = s
        lufs = num("loudness_lufs", base.loudness_lufs, -40.0, -10.0)
        ring = num("ring_out_s", base.ring_out_s, 0.0, 600.0)
        fade = num("fade_out_s", base.fade_out_s, 0.0, 60.0)
        mix = t.get("mix")
        if mix is not None and mix not in MIXES:
            self.problem(w + "mix", f"{_show(mix)} is not allowed; allowed: {', '.join(MIXES)}")
            ok = False
        thin = num("thin_halving_s", 0.0, 600.0, MAX_DURATION_S) if "thin_halving_s" in t \
            else None
        if not ok:
            return None
        if ring >= duration:
            self.problem(w + "ring_out_s", f"{ring:g} s leaves no playing time in "
                                           f"duration_s = {duration:g} s; allowed below it")
            return None
        return Defaults(duration_s=duration, sample_rate_hz=rate, seed=seed,
                        loudness_lufs=lufs, ring_out_s=ring, fade_out_s=fade, mix=mix,
                        thin_halving_s=thin)

    def room(self, t: dict) -> RoomSpec:
        self.keys(t, _ROOM, "room.")
        return RoomSpec(
            reverb=self.opt(self.number, t, "reverb", "room.", default=0.35, lo=0.0, hi=1.0,
                            fallback=0.0),
            width=self.opt(self.number, t, "width", "room.", default=0.8, lo=0.0, hi=1.0,
                           fallback=0.0),
            name=self.opt(self.string, t, "name", "room.", default="treatment-room",
                          choices=tuple(load_rooms()), fallback="treatment-room"),
            tone=self._flag(t, "tone", "room."),
        )

    def _flag(self, t: dict, key: str, where: str) -> bool:
        """A true/false key (default false)."""
        v = t.get(key, False)
        if not isinstance(v, bool):
            self.problem(f"{where}{key}", f"{v!r} is not allowed; allowed: true, false")
            return False
        return v

    def metadata(self, t: dict) -> Metadata:
        self.keys(t, _METADATA, "metadata.")
        base = Metadata()
        vals = {k: self.opt(self.text, t, k, "metadata.", default=getattr(base, k),
                            fallback="") for k in sorted(_METADATA)}
        return Metadata(**vals)

    def instruments(self, t: dict) -> dict[str, SessionInstrument]:
        out: dict[str, SessionInstrument] = {}
        for key, entry in t.items():
            w = f"instruments.{key}."
            if not _KEY.match(key):
                self.problem(f"instruments.{key}", "bad name; allowed: 1-40 of a-z, 0-9, - and _"
                                                   ", starting with a letter or digit")
                self.broken.add(key)
                continue
            if not isinstance(entry, dict):
                self.problem(f"instruments.{key}", f"expected a table (e.g. [instruments.{key}] "
                                                   f"with instrument = \"{key}\"), got "
                                                   f"{_show(entry)}")
                self.broken.add(key)
                continue
            self.keys(entry, _INSTRUMENT, w)
            try:
                si = self.instrument(key, entry, w)
            except _Skip:
                self.broken.add(key)
                continue
            out[key] = si
        return out

    def instrument(self, key: str, e: dict, w: str) -> SessionInstrument:
        name = self.text(e, "instrument", w, default=key)
        path = self.resolve_instrument(name, w + "instrument")
        try:
            inst = load_instrument(str(path))
        except PresetError as exc:
            self.problem(w + "instrument", f"instrument preset '{name}' is invalid: {exc}")
            raise _Skip from None
        tuning_hz = None
        if "tuning" in e:
            try:
                tuning_hz = to_hz(e["tuning"], "")
            except PresetError as exc:
                self.problem(w + "tuning", str(exc).lstrip(": "))
                raise _Skip from None
        az = self.opt(self.number, e, "azimuth_deg", w, default=0.0, lo=-180.0, hi=180.0)
        dist = self.opt(self.number, e, "distance", w, default=1.0, lo=1.0, hi=10.0)
        level = self.opt(self.number, e, "level_db", w, default=0.0, lo=-40.0, hi=12.0)
        elev = self.opt(self.number, e, "elevation_deg", w, default=0.0, lo=-90.0, hi=90.0)
        dist_m = None
        if "distance_m" in e:
            dist_m = self.opt(self.number, e, "distance_m", w, lo=0.0, hi=100.0, lo_open=True,
                              fallback=False)
        if az is None or dist is None or level is None or elev is None or dist_m is False:
            raise _Skip
        ring = inst.ring_s
        return SessionInstrument(
            key=key, instrument=name, path=path, family=inst.family,
            articulations=tuple(inst.articulations),
            fundamental_hz=tuning_hz if tuning_hz is not None else inst.fundamental_hz,
            tuning_hz=tuning_hz, ring_s=ring, azimuth_deg=az, distance=dist, level_db=level,
            elevation_deg=elev, distance_m=dist_m)

    def resolve_instrument(self, name: str, key: str) -> Path:
        extra = self.path.parent if self.path is not None else None
        looks_like_path = name.endswith(".toml") or "/" in name
        if looks_like_path and extra is not None and not Path(name).is_absolute():
            candidate = extra / name
            if candidate.is_file():
                return candidate
        try:
            return find_preset("instruments", name, extra)
        except PresetError as exc:
            self.problem(key, str(exc))
            raise _Skip from None

    def phases(self, d: dict, instruments: dict[str, SessionInstrument],
               max_velocity: float) -> list[PhaseSpec]:
        if "phases" not in d:
            self.problem("phases", "missing; add [[phases]] tables (name, share, ...)")
            return []
        raw = d["phases"]
        if not isinstance(raw, list) or not raw or not all(isinstance(p, dict) for p in raw):
            self.problem("phases", f"expected one or more [[phases]] tables, got {_show(raw)}")
            return []
        out: list[PhaseSpec] = []
        names: set[str] = set()
        for i, p in enumerate(raw):
            try:
                ph = self.phase(p, f"phases[{i}].", instruments, max_velocity)
            except _Skip:
                continue
            if ph.name in names:
                self.problem(f"phases[{i}].name", f"'{ph.name}' is used twice; phase names must "
                                                  f"be unique")
            names.add(ph.name)
            out.append(ph)
        return out if len(out) == len(raw) else []

    def phase(self, p: dict, w: str, instruments: dict[str, SessionInstrument],
              max_velocity: float) -> PhaseSpec:
        self.keys(p, _PHASE, w)
        n0 = len(self.problems)
        keys = list(instruments)
        name = self.opt(self.text, p, "name", w)
        if name is not None and not name.strip():
            self.problem(w + "name", "expected a non-empty name")
        share = length = None
        if ("share" in p) == ("length_s" in p):
            self.problem(w + "share", "give exactly one of share (fraction of the session, "
                                      "0..1) and length_s (fixed seconds)")
        elif "share" in p:
            share = self.opt(self.number, p, "share", w, lo=0.0, hi=1.0, lo_open=True)
        else:
            length = self.opt(self.number, p, "length_s", w, lo=0.0, hi=MAX_DURATION_S,
                              lo_open=True)
        self.lengths.append((share, length) if share is not None or length is not None
                            else None)
        strikes: Weights = ()
        if "instruments" in p:
            strikes = self.opt(self.weights, p, "instruments", w, keys, "instrument",
                               fallback=())
        interval = interval_end = (30.0, 30.0)
        if strikes or "interval_s" in p:
            interval = self.opt(self.range2, p, "interval_s", w, lo=2.0, hi=900.0,
                                fallback=interval)
            interval_end = self.opt(self.range2, p, "interval_end_s", w, default=interval,
                                    lo=2.0, hi=900.0, fallback=interval)
        velocity = self.opt(self.range2, p, "velocity", w, default=(0.4, 0.6), lo=0.0, hi=1.0,
                            fallback=(0.0, 0.0))
        velocity_end = self.opt(self.range2, p, "velocity_end", w, default=velocity, lo=0.0,
                                hi=1.0, fallback=(0.0, 0.0))
        for key, v in (("velocity", velocity), ("velocity_end", velocity_end)):
            if v[1] > max_velocity:
                self.problem(w + key, f"{v[1]:g} is above max_velocity = {max_velocity:g}")
        mallets = self.opt(self.weights, p, "mallets", w, MALLETS, "mallet",
                           default=(("medium", 1.0),), fallback=())
        mallets_end = self.opt(self.weights, p, "mallets_end", w, MALLETS, "mallet",
                               default=mallets, fallback=())
        quiet_start = self.opt(self.number, p, "quiet_start_s", w, default=0.0, lo=0.0,
                               hi=3600.0)
        quiet_end = self.opt(self.number, p, "quiet_end_s", w, default=0.0, lo=0.0, hi=3600.0)
        rub = None
        if "rub" in p:
            rub = self.rub(p["rub"], w + "rub.", instruments, max_velocity)
        cues = []
        if "cues" in p:
            raw = p["cues"]
            if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
                self.problem(w + "cues", f"expected [[phases.cues]] tables, got {_show(raw)}")
            else:
                for j, c in enumerate(raw):
                    try:
                        cues.append(self.cue(c, f"{w}cues[{j}].", instruments, max_velocity))
                    except _Skip:
                        pass
        if len(self.problems) > n0:
            raise _Skip
        return PhaseSpec(name=name, share=share, length_s=length, instruments=strikes,
                         interval_s=interval, interval_end_s=interval_end, velocity=velocity,
                         velocity_end=velocity_end, mallets=mallets, mallets_end=mallets_end,
                         quiet_start_s=quiet_start, quiet_end_s=quiet_end, rub=rub,
                         cues=tuple(cues))

    def rub(self, r, w: str, instruments: dict[str, SessionInstrument],
            max_velocity: float) -> RubSpec | None:
        if not isinstance(r, dict):
            self.problem(w.rstrip("."), f"expected a table [phases.rub], got {_show(r)}")
            return None
        self.keys(r, _RUB, w)
        n0 = len(self.problems)
        which = self.opt(self.weights, r, "instruments", w, list(instruments), "instrument",
                         fallback=())
        for key, _ in which:
            si = instruments[key]
            if "rub" not in si.articulations:
                rubbable = [k for k, s in instruments.items() if "rub" in s.articulations]
                self.problem(f"{w}instruments.{key}",
                             f"a {si.family} cannot be rubbed; allowed: bowls and crystal bowls "
                             f"({', '.join(rubbable) or 'none declared'})")
        interval = self.opt(self.range2, r, "interval_s", w, lo=5.0, hi=1800.0)
        duration = self.opt(self.range2, r, "duration_s", w, lo=3.0, hi=300.0)
        velocity = self.opt(self.range2, r, "velocity", w, default=(0.4, 0.6), lo=0.0, hi=1.0)
        if velocity is not None and velocity[1] > max_velocity:
            self.problem(w + "velocity", f"{velocity[1]:g} is above max_velocity = "
                                         f"{max_velocity:g}")
        if len(self.problems) > n0:
            return None
        return RubSpec(instruments=which, interval_s=interval, duration_s=duration,
                       velocity=velocity)

    def cue(self, c: dict, w: str, instruments: dict[str, SessionInstrument],
            max_velocity: float) -> CueSpec:
        self.keys(c, _CUE, w)
        n0 = len(self.problems)
        kind = self.opt(self.text, c, "kind", w, choices=CUE_KINDS)
        inst = self.opt(self.text, c, "instrument", w)
        si = None
        if inst is not None:
            si = instruments.get(inst)
            if inst in self.broken:
                raise _Skip
            if si is None:
                known = ", ".join(instruments) or "none declared"
                self.problem(w + "instrument", f"unknown instrument '{inst}'; known (declared in "
                                               f"[instruments]): {known}")
        at_s = at = None
        if ("at_s" in c) == ("at" in c):
            self.problem(w + "at_s", "give exactly one of at_s (seconds from the phase start; "
                                     "negative: before its end) and at (fraction 0..1)")
        elif "at_s" in c:
            at_s = self.opt(self.number, c, "at_s", w, lo=-MAX_DURATION_S, hi=MAX_DURATION_S)
        else:
            at = self.opt(self.number, c, "at", w, lo=0.0, hi=1.0)
        count = self.opt(self.number, c, "count", w, default=8.0 if kind == "wave" else 1.0,
                         lo=1.0, hi=64.0)
        if count is not None and count != int(count):
            self.problem(w + "count", f"{count:g} is not a whole number; allowed 1..64")
        gap = self.opt(self.range2, c, "gap_s", w, default=(3.0, 5.0), lo=0.5, hi=600.0)
        velocity = self.opt(self.range2, c, "velocity", w, default=(0.3, 0.5), lo=0.0, hi=1.0)
        if velocity is not None and velocity[1] > max_velocity:
            self.problem(w + "velocity", f"{velocity[1]:g} is above max_velocity = "
                                         f"{max_velocity:g}")
        mallet = self.opt(self.text, c, "mallet", w, default="soft", choices=MALLETS)
        articulation = self.opt(self.text, c, "articulation", w, default="strike",
                                choices=ARTICULATIONS)
        duration = None
        if articulation == "rub":
            duration = self.opt(self.range2, c, "duration_s", w, lo=3.0, hi=300.0)
            if si is not None and "rub" not in si.articulations:
                self.problem(w + "articulation", f"a {si.family} ('{inst}') cannot be rubbed; "
                                                 f"allowed: strike")
        elif "duration_s" in c:
            self.problem(w + "duration_s", "only for articulation = \"rub\"")
        if len(self.problems) > n0:
            raise _Skip
        return CueSpec(kind=kind, instrument=inst, at_s=at_s, at=at, count=int(count),
                       gap_s=gap, velocity=velocity, mallet=mallet, articulation=articulation,
                       duration_s=duration)

    def fit(self, lengths: list[tuple[float | None, float | None]],
            defaults: Defaults | None) -> None:
        """Shares must sum to 1 and fixed lengths must fit the default duration."""
        shares = [share for share, _ in lengths if share is not None]
        fixed = sum(length for _, length in lengths if length is not None)
        if shares and abs(sum(shares) - 1.0) > SHARE_TOLERANCE:
            listed = " + ".join(f"{s:g}" for s in shares)
            self.problem("phases", f"shares {listed} = {sum(shares):.6g}; they must sum to 1 "
                                   f"(within {SHARE_TOLERANCE:g})")
        if defaults is None:
            return
        playing = defaults.duration_s - min(defaults.ring_out_s, 0.25 * defaults.duration_s)
        if fixed > playing + 1e-9 or (shares and fixed >= playing):
            self.problem("phases", f"fixed lengths ({fixed:g} s) do not fit the playing time "
                                   f"{playing:g} s (defaults.duration_s minus ring_out_s)")


# -- helpers --------------------------------------------------------------------------------

def _span(lo, hi) -> str:
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    return f"[{lo_s}, {hi_s}]"


def _show(value) -> str:
    """A short repr of a bad value for a message."""
    s = repr(value)
    return s if len(s) <= 60 else s[:57] + "..."


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _key_lines(text: str) -> dict[str, int]:
    """Map key paths (``phases[1].interval_s``, ``instruments.heart``) to 1-based lines.

    A light scan of table headers and ``key =`` lines, good enough to point at a line; keys
    inside inline tables or multi-line arrays map to the line of their parent key.
    """
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    prefix = ""
    for n, raw in enumerate(text.splitlines(), 1):
        h = _HEADER.match(raw)
        if h:
            parts = [_unquote(x) for x in h.group(2).split(".")]
            resolved = ""
            for i, part in enumerate(parts):
                resolved = f"{resolved}.{part}" if resolved else part
                last = i == len(parts) - 1
                if last and h.group(1) == "[[":
                    counts[resolved] = counts.get(resolved, -1) + 1
                    resolved = f"{resolved}[{counts[resolved]}]"
                elif not last and resolved in counts:
                    resolved = f"{resolved}[{counts[resolved]}]"
            lines.setdefault(resolved, n)
            prefix = resolved + "."
            continue
        a = _ASSIGN.match(raw)
        if a and not raw.lstrip().startswith("#"):
            key = ".".join(_unquote(x) for x in a.group(1).split("."))
            lines.setdefault(prefix + key, n)
    return lines


def _unquote(s: str) -> str:
    return s.strip().strip("\"'")
