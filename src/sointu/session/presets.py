"""Session presets: loading, validation and writing of ``presets/sessions/*.toml``.

A session preset is data: titles, the instruments it uses (from the instrument library,
placed in the room), the phases (share or length of the session, which instruments, how
often, how loud, which mallets, rubbed bowls, special cues such as an opening signal or a
gong wave), the room, defaults and file metadata. Every key is declared once in
:mod:`sointu.session.schema` (type, default, unit, range, meaning; ``docs/presets.md`` is made
from it); the validator here reads each table by it.

Validation collects every problem of a file (:func:`check_session_file`), each one line
``file:line: key: what is wrong; what is allowed``. :func:`load_session_preset` raises the
first as a :class:`~sointu.errors.PresetError`; :func:`dump_session_preset` writes a preset
back as TOML that loads to an equal preset.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..engine.instrument import Instrument
from ..engine.library import load_instrument
from ..engine.room import Room
from ..engine.tuning import to_hz
from ..errors import PresetError
from ..presets import Checker, find_preset, list_presets, read_text, read_toml
from .placement import Placement
from .recordings import RecordingSpec, read_recordings
from .schema import (
    CUE,
    CUE_KINDS,
    DEFAULTS,
    INSTRUMENT,
    MAX_SEED,
    METADATA,
    MIXES,
    PHASE,
    REQUIRED,
    ROOM,
    RUB,
    TOP,
    Key,
    default_of,
    defaults_from,
    dump_table,
    toml_value,
)

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
    "MIXES",
    "SHARE_TOLERANCE",
    "load_session_preset",
    "check_session_file",
    "session_preset_from_dict",
    "dump_session_preset",
    "list_session_presets",
]

#: Phase shares must sum to 1 within this tolerance.
SHARE_TOLERANCE = 1e-6

Range = tuple[float, float]
Weights = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class SessionInstrument:
    """An instrument as a session uses it (``[instruments.KEY]``, keys in schema.INSTRUMENT).

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
    azimuth_deg, distance, level_db, elevation_deg, distance_m : float
        Placement (deg, relative 1..10, dB, deg, m or None), see schema.INSTRUMENT.
    """

    key: str
    instrument: str
    path: Path
    family: str
    articulations: tuple[str, ...]
    fundamental_hz: float
    tuning_hz: float | None
    ring_s: float
    azimuth_deg: float
    distance: float
    level_db: float
    elevation_deg: float
    distance_m: float | None

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
    """Rubbed ("singing") bowls in a phase (``[phases.rub]``, keys in schema.RUB): weights
    ``(key, weight)``, ranges ``(low, high)`` in s, velocity 0..1."""

    instruments: Weights
    interval_s: Range
    duration_s: Range
    velocity: Range


@dataclass(frozen=True)
class CueSpec:
    """An opening/closing signal or a gong wave (``[[phases.cues]]``, keys in schema.CUE).

    Exactly one of ``at_s`` (s from the phase start; negative: from the end of its playing
    span) and ``at`` (fraction 0..1 of it) is set; ``duration_s`` only for a rub.
    """

    kind: str
    instrument: str
    at_s: float | None
    at: float | None
    count: int
    gap_s: Range
    velocity: Range
    mallet: str
    articulation: str
    duration_s: Range | None


@dataclass(frozen=True)
class PhaseSpec:
    """One phase (``[[phases]]``, keys in schema.PHASE; see ``docs/presets.md``).

    Exactly one of ``share`` (of the playing time) and ``length_s`` (fixed, s) is set;
    weights are ``(name, weight)`` pairs, ranges ``(low, high)`` (s, or 0..1 velocity), the
    ``*_end`` values apply at the phase's end (interpolated linearly).
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
    quiet_start_s: float
    quiet_end_s: float
    rub: RubSpec | None
    cues: tuple[CueSpec, ...]

    @property
    def key(self) -> int:
        """A stable number from the phase name, used to seed this phase's own streams."""
        return zlib.crc32(self.name.encode("utf-8"))


@dataclass(frozen=True)
@defaults_from(DEFAULTS)
class Defaults:
    """What a session uses unless told otherwise (``[defaults]``, schema.DEFAULTS): length,
    ring-out and fade in s, rate in Hz, loudness in LUFS, ``mix`` None: speakers (gifts
    headphones), ``thin_halving_s`` None: no overnight thinning."""

    duration_s: float
    sample_rate_hz: int
    seed: int
    loudness_lufs: float
    ring_out_s: float
    fade_out_s: float
    mix: str | None
    thin_halving_s: float | None


@dataclass(frozen=True)
@defaults_from(ROOM)
class RoomSpec:
    """The room (``[room]``, schema.ROOM): reverb 0 (dry) .. 1, width 0 (mono) .. 1."""

    reverb: float
    width: float
    name: str
    tone: bool


@dataclass(frozen=True)
@defaults_from(METADATA)
class Metadata:
    """Tags written into rendered files (``[metadata]``, schema.METADATA)."""

    album: str
    artist: str
    comment: str
    genre: str


@dataclass(frozen=True)
class SessionPreset:
    """A validated session preset (top-level keys in schema.TOP).

    Attributes
    ----------
    name : str
        Slug (the file name without ``.toml``).
    path : Path or None
        The file it was read from.
    title : dict of str -> str
        Title per language code (``fi``, ``en`` ...).
    description, language : str
        One line shown by ``sointu presets``; the main language (ISO 639-1).
    max_velocity : float
        No stroke of the session is stronger than this (0..1).
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


def dump_session_preset(preset: SessionPreset) -> str:
    """The preset as readable TOML: keys in schema order, defaults left out, ranges and units
    as comments. Read from the preset's folder (relative instrument and recording paths
    resolve the same), it loads to an equal preset."""
    out = dump_table(preset, TOP)
    for name, keys in (("defaults", DEFAULTS), ("room", ROOM), ("metadata", METADATA)):
        lines = dump_table(getattr(preset, name), keys)
        out += ["", f"[{name}]", *lines] if lines else []
    for key, si in preset.instruments.items():
        out += ["", f"[instruments.{key}]", *dump_table(si, INSTRUMENT, {"key": key})]
    for ph in preset.phases:
        out += ["", "[[phases]]", *dump_table(ph, PHASE)]
        if ph.rub is not None:
            out += ["", "  [phases.rub]", *("  " + x for x in dump_table(ph.rub, RUB))]
        for cue in ph.cues:
            out += ["", "  [[phases.cues]]", *("  " + x for x in dump_table(cue, CUE))]
    for rec in preset.recordings:
        out += ["", "[[recordings]]"] + [f"{f.name} = {toml_value(getattr(rec, f.name))}"
                                         for f in fields(rec) if f.name not in ("path", "where")
                                         and getattr(rec, f.name) is not None]
    return "\n".join(out) + "\n"


# -- the validator --------------------------------------------------------------------------

_LANG = re.compile(r"^[a-z]{2}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
#: What a missing key of each kind says (default: "missing").
_MISSING = {"weights": "missing; a table of {what} -> weight",
            "titles": "missing; a table such as {{ fi = \"...\", en = \"...\" }}"}


class _Skip(Exception):
    """A value could not be read; its problem is already recorded."""


class _Stop(_Skip):
    """Stop reading this table: the rest would only repeat its problem."""


class _Validator(Checker):
    """Reads a session preset by its schema, recording every problem instead of stopping."""

    def __init__(self, source: str, lines: dict[str, int], path: Path | None):
        super().__init__(source)
        self.lines = lines
        self.path = path
        self.problems: list[str] = []
        # (share, length_s) of every phase as read, even of phases with other problems
        self.lengths: list[tuple[float | None, float | None] | None] = []
        # instruments declared but invalid: their problem is reported once, not at every use
        self.broken: set[str] = set()
        # problems before the values of the table being read (after its unknown keys)
        self.start = 0

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

    def value_number(self, v, name: str, *, lo=None, hi=None, lo_open=False) -> float:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 1e300:
            raise self.fail(name, f"{v} is out of range; allowed {_span(lo, hi)}")
        return super().value_number(v, name, lo=lo, hi=hi, lo_open=lo_open)

    def keys(self, table: dict, allowed, where: str) -> None:
        ok = ", ".join(sorted(allowed))
        for key in table:
            if key not in allowed:
                self.problem(f"{where}{key}", f"unknown key; allowed: {ok}")

    # one table by its schema ------------------------------------------------------------

    def section(self, t: dict, keys: tuple[Key, ...], w: str, **ctx) -> dict:
        """Every key of one table (sub-tables left out) by field name; a bad one is None."""
        self.keys(t, [k.name for k in keys], w)
        self.start = len(self.problems)
        values: dict = {}
        for k in keys:
            if k.kind in ("table", "tables"):
                continue
            try:
                values[k.name] = self.read(t, k, w, values, ctx)
            except _Stop:
                raise
            except _Skip:
                values[k.name] = None
            except PresetError as exc:
                self.problems.append(str(exc))
                values[k.name] = None
        return {k.attr: values[k.name] for k in keys if k.name in values}

    def read(self, t: dict, k: Key, w: str, values: dict, ctx: dict):
        """One key: its default when absent, else read by its kind and checked."""
        name = w + k.name
        if k.only and values.get(k.only[0]) != k.only[1]:
            if k.name in t:
                self.problem(name, f"only for {k.only[0]} = \"{k.only[1]}\"")
            return None
        if k.alt and (k.name in t) == (k.alt[0] in t):
            if k.alt[1]:
                self.problem(name, k.alt[1])
            return None
        if k.name in t:
            value = getattr(self, "read_" + k.kind)(t[k.name], k, name, ctx)
        elif k.default is REQUIRED or (k.needs and values.get(k.needs)):
            what = "instrument" if k.names == "instruments" else "mallet"
            raise self.fail(name, _MISSING.get(k.kind, "missing").format(what=what))
        else:
            value = default_of(k, values)
        if k.check and value is not None:
            getattr(self, "check_" + k.check)(value, k, name, ctx)
        return value

    # readers of one value by kind (name: the key's full name for messages) ---------------

    def read_number(self, v, k: Key, name: str, ctx) -> float:
        return self.value_number(v, name, lo=k.lo, hi=k.hi, lo_open=k.lo_open)

    def read_integer(self, v, k: Key, name: str, ctx) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not k.lo <= v <= k.hi:
            hi = "2^63-1" if k.hi == MAX_SEED else k.hi
            raise self.fail(name, f"{_show(v)} is not allowed; allowed: a whole number "
                                  f"{k.lo}..{hi}")
        return v

    def read_choice(self, v, k: Key, name: str, ctx):
        if isinstance(v, bool) or v not in k.choices:
            raise self.fail(name, f"{_show(v)} is not allowed; allowed: "
                                  f"{', '.join(str(c) for c in k.choices)}")
        return next(c for c in k.choices if c == v)

    def read_text(self, v, k: Key, name: str, ctx) -> str:
        return self.string({k.name: v}, k.name, name[:-len(k.name)], choices=k.allowed())

    def read_flag(self, v, k: Key, name: str, ctx) -> bool:
        if not isinstance(v, bool):
            raise self.fail(name, f"{v!r} is not allowed; allowed: true, false")
        return v

    def read_range(self, v, k: Key, name: str, ctx) -> Range:
        """A [low, high] pair with lo <= low <= high <= hi."""
        vals = self.numbers({k.name: v}, k.name, name[:-len(k.name)], length=2, lo=k.lo,
                            hi=k.hi, lo_open=k.lo_open)
        if vals[0] > vals[1]:
            raise self.fail(name, f"[{vals[0]:g}, {vals[1]:g}]: expected [low, high] with "
                                  f"low <= high")
        return (vals[0], vals[1])

    def read_weights(self, t, k: Key, name: str, ctx) -> Weights:
        """A table name -> weight (>= 0, at least one > 0) with names from the schema."""
        names = list(ctx[k.names]) if isinstance(k.names, str) else k.names
        what = "instrument" if isinstance(k.names, str) else "mallet"
        if not isinstance(t, dict):
            raise self.fail(name, f"expected a table of {what} -> weight, e.g. "
                                  f"{{ {names[0] if names else 'name'} = 1 }}, got {_show(t)}")
        out: list[tuple[str, float]] = []
        n0 = len(self.problems)
        for key, w in t.items():
            if key in self.broken:
                continue
            if key not in names:
                known = ", ".join(names) or "none declared"
                self.problem(f"{name}.{key}", f"unknown {what} '{key}'; known: {known}")
                continue
            try:
                out.append((key, self.value_number(w, f"{name}.{key}", lo=0.0, hi=1000.0)))
            except PresetError as exc:
                self.problems.append(str(exc))
        if len(self.problems) > n0 or any(key in self.broken for key in t):
            raise _Skip
        if not any(w > 0 for _, w in out):
            raise self.fail(name, f"expected at least one {what} with a weight above 0")
        return tuple(out)

    def read_titles(self, t, k: Key, name: str, ctx) -> dict[str, str]:
        if isinstance(t, str):
            return {"en": t}
        if not isinstance(t, dict) or not t:
            raise self.fail(name, f"expected a table of language code -> title, e.g. "
                                  f"{{ fi = \"Sointurentoutus\", en = \"Sound relaxation\" }}, "
                                  f"got {_show(t)}")
        for lang, value in t.items():
            if not _LANG.match(lang):
                self.problem(f"title.{lang}", "unknown key; allowed: two-letter language codes "
                                              "(fi, en, sv, ...)")
            elif not isinstance(value, str) or not value.strip():
                self.problem(f"title.{lang}", f"expected non-empty text, got {_show(value)}")
        return {lang: v for lang, v in t.items() if _LANG.match(lang) and isinstance(v, str)
                and v.strip()}

    def read_language(self, v, k: Key, name: str, ctx) -> str:
        lang = self.read_text(v, k, name, ctx)
        if not _LANG.match(lang):
            raise self.fail(name, f"'{lang}' is not allowed; allowed: a two-letter ISO 639-1 "
                                  f"code such as fi, en, sv")
        return lang

    def read_instrument(self, name, k: Key, key: str, ctx) -> tuple:
        """The instrument preset: (name as written, its file, the engine instrument)."""
        try:
            name = self.read_text(name, k, key, ctx)
        except PresetError as exc:
            self.problems.append(str(exc))
            raise _Stop from None
        extra = self.path.parent if self.path is not None else None
        path = extra / name if extra is not None and not Path(name).is_absolute() and (
            name.endswith(".toml") or "/" in name) else None
        try:
            if path is None or not path.is_file():
                path = find_preset("instruments", name, extra)
        except PresetError as exc:
            self.problem(key, str(exc))
            raise _Stop from None
        try:
            return name, path, load_instrument(str(path))
        except PresetError as exc:
            self.problem(key, f"instrument preset '{name}' is invalid: {exc}")
            raise _Stop from None

    def read_tuning(self, v, k: Key, name: str, ctx) -> float:
        try:
            return to_hz(v, "")
        except PresetError as exc:
            self.problem(name, str(exc).lstrip(": "))
            raise _Stop from None

    def read_key(self, v, k: Key, name: str, ctx) -> str:
        """A key of ``[instruments]``."""
        inst = self.read_text(v, k, name, ctx)
        if inst in self.broken:
            raise _Stop
        if inst not in ctx["instruments"]:
            known = ", ".join(ctx["instruments"]) or "none declared"
            self.problem(name, f"unknown instrument '{inst}'; known (declared in "
                               f"[instruments]): {known}")
        return inst

    # further checks of one value --------------------------------------------------------

    def check_max_velocity(self, v: Range, k: Key, name: str, ctx) -> None:
        top = ctx["max_velocity"]
        if top is not None and v[1] > top:
            self.problem(name, f"{v[1]:g} is above max_velocity = {top:g}")

    def check_whole(self, v: float, k: Key, name: str, ctx) -> None:
        if v != int(v):
            self.problem(name, f"{v:g} is not a whole number; allowed {k.lo:g}..{k.hi:g}")

    def check_nonempty(self, v: str, k: Key, name: str, ctx) -> None:
        if not v.strip():
            self.problem(name, "expected a non-empty name")

    def check_rubbable(self, v: Weights, k: Key, name: str, ctx) -> None:
        instruments = ctx["instruments"]
        for key, _ in v:
            si = instruments[key]
            if "rub" not in si.articulations:
                rubbable = ", ".join(k for k, s in instruments.items()
                                     if "rub" in s.articulations) or "none declared"
                self.problem(f"{name}.{key}", f"a {si.family} cannot be rubbed; allowed: bowls "
                                              f"and crystal bowls ({rubbable})")

    # sections ---------------------------------------------------------------------------

    def preset(self, d: dict, name: str) -> SessionPreset | None:
        top = self.section(d, TOP, "")
        defaults = self.defaults(self.table(d, "defaults"))
        room = self.section(self.table(d, "room"), ROOM, "room.")
        metadata = self.section(self.table(d, "metadata"), METADATA, "metadata.")
        instruments = self.instruments(self.table(d, "instruments", required=True))
        if d.get("instruments") == {}:
            self.problem("instruments", "expected at least one instrument, e.g. "
                                        "[instruments.universal]")
        phases = self.phases(d, instruments, top["max_velocity"])
        if self.lengths and all(x is not None for x in self.lengths):
            self.fit(self.lengths, defaults)
        recordings = read_recordings(self, d, [p.name for p in phases], self.path, instruments)
        if self.problems:
            return None
        return SessionPreset(name=name, path=self.path, instruments=instruments,
                             phases=tuple(phases), room=RoomSpec(**room),
                             defaults=defaults, metadata=Metadata(**metadata),
                             recordings=recordings, **top)

    def table(self, d: dict, key: str, *, required: bool = False) -> dict:
        if key not in d:
            if required:
                self.problem(key, "missing table")
            return {}
        t = d[key]
        if not isinstance(t, dict):
            self.problem(key, f"expected a table, got {_show(t)}")
            return {}
        return t

    def defaults(self, t: dict) -> Defaults | None:
        v = self.section(t, DEFAULTS, "defaults.")
        if len(self.problems) > self.start:
            return None
        if v["ring_out_s"] >= v["duration_s"]:
            self.problem("defaults.ring_out_s", f"{v['ring_out_s']:g} s leaves no playing time "
                                                f"in duration_s = {v['duration_s']:g} s; "
                                                f"allowed below it")
            return None
        return Defaults(**v)

    def instruments(self, t: dict) -> dict[str, SessionInstrument]:
        out: dict[str, SessionInstrument] = {}
        for key, entry in t.items():
            self.start = len(self.problems)
            if not _KEY.match(key):
                self.problem(f"instruments.{key}", "bad name; allowed: 1-40 of a-z, 0-9, - and _"
                                                   ", starting with a letter or digit")
            elif not isinstance(entry, dict):
                self.problem(f"instruments.{key}", f"expected a table (e.g. [instruments.{key}] "
                                                   f"with instrument = \"{key}\"), got "
                                                   f"{_show(entry)}")
            else:
                try:
                    v = self.section({"instrument": key, **entry}, INSTRUMENT,
                                     f"instruments.{key}.")
                except _Skip:
                    pass
            if len(self.problems) > self.start:
                self.broken.add(key)
                continue
            name, path, inst = v.pop("instrument")
            tuning = v["tuning_hz"]
            out[key] = SessionInstrument(
                key=key, instrument=name, path=path, family=inst.family,
                articulations=tuple(inst.articulations),
                fundamental_hz=tuning if tuning is not None else inst.fundamental_hz,
                ring_s=inst.ring_s, **v)
        return out

    def phases(self, d: dict, instruments: dict[str, SessionInstrument],
               max_velocity: float | None) -> list[PhaseSpec]:
        if "phases" not in d:
            self.problem("phases", "missing; add [[phases]] tables (name, share, ...)")
            return []
        raw = d["phases"]
        if not isinstance(raw, list) or not raw or not all(isinstance(p, dict) for p in raw):
            self.problem("phases", f"expected one or more [[phases]] tables, got {_show(raw)}")
            return []
        out: list[PhaseSpec] = []
        names: set[str] = set()
        ctx = {"instruments": instruments, "max_velocity": max_velocity}
        for i, p in enumerate(raw):
            ph = self.phase(p, f"phases[{i}].", ctx)
            if ph is None:
                continue
            if ph.name in names:
                self.problem(f"phases[{i}].name", f"'{ph.name}' is used twice; phase names must "
                                                  f"be unique")
            names.add(ph.name)
            out.append(ph)
        return out if len(out) == len(raw) else []

    def phase(self, p: dict, w: str, ctx: dict) -> PhaseSpec | None:
        v = self.section(p, PHASE, w, **ctx)
        n0 = self.start
        self.lengths.append((v["share"], v["length_s"]) if v["share"] is not None
                            or v["length_s"] is not None else None)
        v["rub"] = self.rub(p["rub"], w + "rub.", ctx) if "rub" in p else None
        v["cues"] = ()
        if "cues" in p:
            raw = p["cues"]
            if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
                self.problem(w + "cues", f"expected [[phases.cues]] tables, got {_show(raw)}")
            else:
                v["cues"] = tuple(filter(None, (self.cue(c, f"{w}cues[{j}].", ctx)
                                                for j, c in enumerate(raw))))
        return PhaseSpec(**v) if len(self.problems) == n0 else None

    def rub(self, r, w: str, ctx: dict) -> RubSpec | None:
        if not isinstance(r, dict):
            self.problem(w.rstrip("."), f"expected a table [phases.rub], got {_show(r)}")
            return None
        v = self.section(r, RUB, w, **ctx)
        return RubSpec(**v) if len(self.problems) == self.start else None

    def cue(self, c: dict, w: str, ctx: dict) -> CueSpec | None:
        try:
            v = self.section(c, CUE, w, **ctx)
        except _Skip:
            return None
        n0 = self.start
        si = ctx["instruments"].get(v["instrument"])
        if v["articulation"] == "rub" and si is not None and "rub" not in si.articulations:
            self.problem(w + "articulation", f"a {si.family} ('{v['instrument']}') cannot be "
                                             f"rubbed; allowed: strike")
        if len(self.problems) > n0:
            return None
        return CueSpec(**{**v, "count": int(v["count"])})

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
