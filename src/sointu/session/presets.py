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
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.instrument import Instrument
from ..engine.library import load_instrument
from ..engine.room import Room
from ..engine.tuning import to_hz
from ..errors import PresetError
from ..presets import find_preset, list_presets, read_text, read_toml
from ..schema import Skip, Stop, Validator, key_lines, show
from .placement import Placement
from .recordings import RecordingSpec, read_recordings, resolve_sample
from .schema import (
    CUE,
    CUE_KINDS,
    DEFAULTS,
    INSTRUMENT,
    METADATA,
    MIXES,
    PHASE,
    RECORDING,
    ROOM,
    RUB,
    TOP,
    Key,
    defaults_from,
    dump_table,
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
    v = _Validator(source, key_lines(text), path)
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
        out += ["", "[[recordings]]", *dump_table(rec, RECORDING)]
    return "\n".join(out) + "\n"


# -- the validator --------------------------------------------------------------------------

_LANG = re.compile(r"^[a-z]{2}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
class _Validator(Validator):
    """Reads a session preset by its schema, recording every problem instead of stopping."""

    def __init__(self, source: str, lines: dict[str, int], path: Path | None):
        super().__init__(source, lines)
        self.path = path
        # (share, length_s) of every phase as read, even of phases with other problems
        self.lengths: list[tuple[float | None, float | None] | None] = []
        # instruments declared but invalid: their problem is reported once, not at every use
        self.broken: set[str] = set()

    # readers of the session's own kinds (name: the key's full name for messages) ---------

    def read_weights(self, t, k: Key, name: str, ctx) -> Weights:
        """A table name -> weight (>= 0, at least one > 0) with names from the schema."""
        names = list(ctx[k.names]) if isinstance(k.names, str) else k.names
        what = "instrument" if isinstance(k.names, str) else "mallet"
        if not isinstance(t, dict):
            raise self.fail(name, f"expected a table of {what} -> weight, e.g. "
                                  f"{{ {names[0] if names else 'name'} = 1 }}, got {show(t)}")
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
            raise Skip
        if not any(w > 0 for _, w in out):
            raise self.fail(name, f"expected at least one {what} with a weight above 0")
        return tuple(out)

    def read_titles(self, t, k: Key, name: str, ctx) -> dict[str, str]:
        if isinstance(t, str):
            return {"en": t}
        if not isinstance(t, dict) or not t:
            raise self.fail(name, f"expected a table of language code -> title, e.g. "
                                  f"{{ fi = \"Sointurentoutus\", en = \"Sound relaxation\" }}, "
                                  f"got {show(t)}")
        for lang, value in t.items():
            if not _LANG.match(lang):
                self.problem(f"title.{lang}", "unknown key; allowed: two-letter language codes "
                                              "(fi, en, sv, ...)")
            elif not isinstance(value, str) or not value.strip():
                self.problem(f"title.{lang}", f"expected non-empty text, got {show(value)}")
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
            raise Stop from None
        extra = self.path.parent if self.path is not None else None
        path = extra / name if extra is not None and not Path(name).is_absolute() and (
            name.endswith(".toml") or "/" in name) else None
        try:
            if path is None or not path.is_file():
                path = find_preset("instruments", name, extra)
        except PresetError as exc:
            self.problem(key, str(exc))
            raise Stop from None
        try:
            return name, path, load_instrument(str(path))
        except PresetError as exc:
            self.problem(key, f"instrument preset '{name}' is invalid: {exc}")
            raise Stop from None

    def read_tuning(self, v, k: Key, name: str, ctx) -> float:
        try:
            return to_hz(v, "")
        except PresetError as exc:
            self.problem(name, str(exc).lstrip(": "))
            raise Stop from None

    def read_key(self, v, k: Key, name: str, ctx) -> str:
        """A key of ``[instruments]``."""
        inst = self.read_text(v, k, name, ctx)
        if inst in self.broken:
            raise Stop
        if inst not in ctx["instruments"]:
            known = ", ".join(ctx["instruments"]) or "none declared"
            self.problem(name, f"unknown instrument '{inst}'; known (declared in "
                               f"[instruments]): {known}")
        return inst

    def read_sample(self, v, k: Key, name: str, ctx) -> tuple[str, Path]:
        """A recording's file: (as written, where it was found)."""
        file = self.read_text(v, k, name, ctx)
        path, tried = resolve_sample(file, ctx["preset_path"])
        if path is None:
            raise self.fail(name, f"sample '{file}' not found; tried "
                                  + ", ".join(str(t) for t in tried))
        return file, path

    def read_phase(self, v, k: Key, name: str, ctx) -> str | None:
        """A phase of this preset by name ("" or absent: the first)."""
        phase = self.read_text(v, k, name, ctx) or None
        if phase is not None and phase not in ctx["phase_names"]:
            raise self.fail(name, f"'{phase}' is not a phase of this preset; allowed: "
                                  + ", ".join(ctx["phase_names"]))
        return phase

    # further checks of one value --------------------------------------------------------

    def check_sampled(self, v: str, k: Key, name: str, ctx) -> None:
        """A sampled instrument's recording names a key of [instruments]."""
        keys = ctx["instrument_keys"]
        if v not in keys:
            raise self.fail(name, f"{v or None!r} is not a key of [instruments]; kind = "
                                  f"\"instrument\" needs one of: {', '.join(keys)}")

    def check_fit(self, v: str, k: Key, name: str, ctx) -> None:
        """A recording's fit agrees with its trim, kind and start."""
        if ctx["trim"] and v != "trim":
            self.problem(name, f"'{v}' contradicts trim = true; give one of them")
        elif v == "lengthen" and ctx["kind"] == "instrument":
            self.problem(name, "'lengthen' is for a speech or sound placed in a phase, not "
                               "for kind = \"instrument\"; allowed here: refuse, trim")
        elif v == "lengthen" and ctx["at_s"] is not None and ctx["at_s"] < 0:
            self.problem(name, "'lengthen' needs at_s >= 0 (a recording placed before the "
                               "end of its phase does not fit better in a longer phase)")

    def check_max_velocity(self, v: Range, k: Key, name: str, ctx) -> None:
        top = ctx["max_velocity"]
        if top is not None and v[1] > top:
            self.problem(name, f"{v[1]:g} is above max_velocity = {top:g}")

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
                                                   f"{show(entry)}")
            else:
                try:
                    v = self.section({"instrument": key, **entry}, INSTRUMENT,
                                     f"instruments.{key}.")
                except Skip:
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
            self.problem("phases", f"expected one or more [[phases]] tables, got {show(raw)}")
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
                self.problem(w + "cues", f"expected [[phases.cues]] tables, got {show(raw)}")
            else:
                v["cues"] = tuple(filter(None, (self.cue(c, f"{w}cues[{j}].", ctx)
                                                for j, c in enumerate(raw))))
        return PhaseSpec(**v) if len(self.problems) == n0 else None

    def rub(self, r, w: str, ctx: dict) -> RubSpec | None:
        if not isinstance(r, dict):
            self.problem(w.rstrip("."), f"expected a table [phases.rub], got {show(r)}")
            return None
        v = self.section(r, RUB, w, **ctx)
        return RubSpec(**v) if len(self.problems) == self.start else None

    def cue(self, c: dict, w: str, ctx: dict) -> CueSpec | None:
        try:
            v = self.section(c, CUE, w, **ctx)
        except Skip:
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
