"""The session preset schema, declared once: every key's type, default, unit, range and meaning.

The validator (:mod:`sointu.session.presets`) reads each table key by key from these
declarations, the dataclasses take their defaults from them (:func:`defaults_from`), a preset
is written back in their order (:func:`dump_table`), and the reference tables of
``docs/presets.md`` are made from them::

    python -m sointu.session.schema --markdown docs/presets.md   # rewrite the tables
    python -m sointu.session.schema --markdown                   # print them

(``tests/test_schema.py`` fails when the file disagrees.)
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..engine.piece import SAMPLE_RATES
from ..engine.room import load_rooms
from .durations import MAX_DURATION_S
from .timeline import ARTICULATIONS, MALLETS

__all__ = ["Key", "Like", "REQUIRED", "SECTIONS", "TOP", "DEFAULTS", "ROOM", "METADATA",
           "INSTRUMENT", "PHASE", "RUB", "CUE", "MIXES", "CUE_KINDS", "defaults_from",
           "dump_table", "toml_value", "markdown"]

#: The mixes a session renders to: stereo for speakers, binaural for headphones.
MIXES = ("speakers", "headphones")
#: Kinds of special cue: ``signal`` (one or a few strokes at a chosen moment, e.g. tingsha
#: to open or close) and ``wave`` (a swelling series of soft strokes, e.g. a gong wave).
CUE_KINDS = ("signal", "wave")
MAX_SEED = 2**63 - 1


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a key that must be given.
REQUIRED = _Required()


@dataclass(frozen=True)
class Like:
    """A default that is the value of another key of the same table (or of the context)."""

    key: str


@dataclass(frozen=True)
class Key:
    """One key of a preset table.

    Attributes
    ----------
    name : str
        The key as written in TOML.
    kind : str
        How it is read: ``number``, ``integer``, ``text``, ``choice`` (one of ``choices``,
        any type), ``flag``, ``range`` ([low, high]), ``weights`` (table name -> weight),
        ``table``/``tables`` (a sub-table read by its own section) or a reader of its own
        (``titles``, ``language``, ``instrument``, ``tuning``, ``key``).
    default : object
        Value when absent: :data:`REQUIRED`, None (no value), a literal or a :class:`Like`.
    lo, hi, lo_open : float
        Allowed range of a number or of both ends of a range (``lo_open``: lo excluded).
    unit : str
        Unit shown in the docs (``s``, ``dB``, ``deg`` ...).
    choices : tuple or callable
        Allowed values (a callable is asked when checking: the rooms are data).
    doc : str
        Meaning, one line of ``docs/presets.md``.
    field : str
        Dataclass field, when it is not ``name``.
    needs : str
        Required (instead of defaulted) when this other key of the table has a value.
    only : (str, str)
        Allowed only when another key has this value (and then required).
    alt : (str, str)
        Exactly one of this key and ``alt[0]`` is given; ``alt[1]`` is the message (on the
        first key of the pair only).
    by_kind : tuple of (kind, default)
        Default by the value of the table's ``kind``.
    check : str
        A further check of the value (a method ``check_<check>`` of the validator).
    names : str or tuple
        ``weights``: allowed names (a tuple, or a context entry such as ``instruments``).
    show, show_default : str
        Docs: the allowed and default columns, when the declaration alone does not say it.
    """

    name: str
    kind: str
    default: object = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    unit: str = ""
    choices: tuple | object = None
    doc: str = ""
    field: str = ""
    needs: str = ""
    only: tuple[str, str] | None = None
    alt: tuple[str, str] | None = None
    by_kind: tuple = ()
    check: str = ""
    names: str | tuple = ""
    show: str = ""
    show_default: str = ""

    @property
    def attr(self) -> str:
        """The dataclass field this key fills."""
        return self.field or self.name

    def allowed(self):
        """The allowed values (asks a callable)."""
        return self.choices() if callable(self.choices) else self.choices


def _n(name, default=None, lo=None, hi=None, unit="", doc="", **kw) -> Key:
    return Key(name, "number", default, lo, hi, unit=unit, doc=doc, **kw)


def _r(name, default=None, lo=None, hi=None, unit="", doc="", **kw) -> Key:
    return Key(name, "range", default, lo, hi, unit=unit, doc=doc, **kw)


TOP = (
    Key("title", "titles", REQUIRED, show="two-letter codes",
        doc='e.g. `{ fi = "Sointurentoutus", en = "Sound relaxation" }` (a plain string '
            "counts as `en`)"),
    Key("description", "text", "", show="one line", doc="shown by `sointu presets`"),
    Key("language", "language", "en", show="ISO 639-1 code",
        doc="main language; picks the title shown"),
    _n("max_velocity", 1.0, 0.0, 1.0, lo_open=True,
       doc="no stroke of the session may be stronger; every velocity range is checked "
           "against it"),
    Key("defaults", "table", doc="see `[defaults]`"),
    Key("room", "table", doc="see `[room]`"),
    Key("metadata", "table", doc="see `[metadata]`"),
    Key("instruments", "table", REQUIRED, show="at least one",
        doc="`[instruments.KEY]`: the instruments"),
    Key("phases", "tables", REQUIRED, show="at least one", doc="`[[phases]]`, in order"),
    Key("recordings", "tables", show_default="none", doc="`[[recordings]]`, see below"),
)

DEFAULTS = (
    _n("duration_s", 3600.0, 0.0, MAX_DURATION_S, "s", lo_open=True,
       doc="total length, ring-out included (`--duration` overrides)"),
    Key("sample_rate_hz", "choice", 48000, choices=SAMPLE_RATES, unit="Hz", doc="render rate"),
    Key("seed", "integer", 0, 0, MAX_SEED, doc="composer seed (`--seed` overrides)"),
    _n("loudness_lufs", -23.0, -40.0, -10.0, "LUFS",
       doc="integrated loudness of a rendered file (sointu keeps true peaks at or below "
           "-1 dBTP with a limiter that only touches the loudest attacks)"),
    _n("ring_out_s", 45.0, 0.0, 600.0, "s", show="[0, 600] s, below `duration_s`",
       doc="at the end, no sound starts (a rub is released before it); for short renders "
           "it is cut to a quarter of the length"),
    _n("fade_out_s", 8.0, 0.0, 60.0, "s", doc="closing fade so the file ends in silence"),
    Key("mix", "choice", None, choices=MIXES, show_default="none: speakers; gifts headphones",
        doc="the mix `render`, `play` and `gift` make unless `--mix` says otherwise"),
    _n("thin_halving_s", None, 600.0, MAX_DURATION_S, "s",
       doc="overnight thinning: in a session longer than `duration_s`, every interval "
           "between regular strikes and between rubs that starts at t s past `duration_s` is "
           "multiplied by 2^(t / `thin_halving_s`), so their rate halves every "
           "`thin_halving_s` seconds; at or below the preset's own length nothing changes "
           "(gentle-sleep: 10800, an 8 h night strikes about a third as often in hour 7 as "
           "without it); cues are not thinned"),
)

ROOM = (
    _n("reverb", 0.35, 0.0, 1.0, doc="0 dry .. 1 very reverberant (the share of the room's "
       "reverberant sound and the level of the transients' tail)"),
    _n("width", 0.8, 0.0, 1.0, doc="0 everything in the middle (both channels equal) .. 1 "
       "instruments at their full azimuth and microphone spacing"),
    Key("name", "text", "treatment-room", choices=load_rooms,
        doc="which room (`presets/engine/rooms.toml`): its reverberant field, the late tail "
            "of strike transients, the spacing of the two microphones"),
    Key("tone", "flag", False, doc="a quiet room-tone bed (air, a far hum) under the whole "
        "session, at the room's `tone_db`"),
)

METADATA = (
    Key("album", "text", "", doc="file tag"),
    Key("artist", "text", "", doc="file tag"),
    Key("comment", "text", "", doc="file tag"),
    Key("genre", "text", "Meditation", doc="file tag"),
)

INSTRUMENT = (
    Key("instrument", "instrument", Like("key"), show_default="`KEY`",
        show="a name from `sointu instruments`, or a path (relative to the session file)",
        doc="which instrument preset"),
    Key("tuning", "tuning", None, field="tuning_hz", show_default="the preset's",
        show='20..20000 Hz, a note (`"G3"`, `"C#4"`) or a Cousto name (`"earth-year"`)',
        doc="retunes every partial"),
    _n("azimuth_deg", 0.0, -180.0, 180.0, "deg",
       doc="-90 left, 0 front, 90 right, beyond +-90 behind"),
    _n("distance", 1.0, 1.0, 10.0, "relative",
       doc="1 = near; the direct sound falls as 1/distance, the room stays"),
    _n("level_db", 0.0, -40.0, 12.0, "dB", doc="extra gain in this session"),
    _n("elevation_deg", 0.0, -90.0, 90.0, "deg",
       doc="headphone mix: below (-) or above (+) the head"),
    _n("distance_m", None, 0.0, 100.0, "m", lo_open=True, show_default="`distance` m",
       doc="headphone mix: from the middle of the head; the direct sound falls as "
           "1/distance (no louder than at 0.5 m), the room stays"),
)

_SHARE = ("give exactly one of share (fraction of the session, 0..1) and length_s (fixed "
          "seconds)")
PHASE = (
    Key("name", "text", REQUIRED, show="unique", check="nonempty",
        doc="e.g. `introduction`, `relaxation`, `recovery`"),
    _n("share", None, 0.0, 1.0, lo_open=True, alt=("length_s", _SHARE),
       show_default="one of share/length_s",
       doc="fraction of the shared playing time; all shares sum to 1 (within 1e-6)"),
    _n("length_s", None, 0.0, MAX_DURATION_S, "s", lo_open=True, alt=("share", ""),
       doc="fixed length, kept when rescaled; fixed lengths must fit the default duration"),
    Key("instruments", "weights", (), names="instruments", show_default="none",
        doc="which instruments are struck, how often relative to each other (none: no "
            "regular strikes)"),
    _r("interval_s", (30.0, 30.0), 2.0, 900.0, "s", needs="instruments",
       show_default="required with `instruments`",
       doc="time between strikes at the start of the phase"),
    _r("interval_end_s", Like("interval_s"), 2.0, 900.0, "s",
       doc="... at the end (linear in between): larger = slower"),
    _r("velocity", (0.4, 0.6), 0.0, 1.0, check="max_velocity",
       doc="strike strength at the start"),
    _r("velocity_end", Like("velocity"), 0.0, 1.0, check="max_velocity",
       doc="... at the end"),
    Key("mallets", "weights", (("medium", 1.0),), names=MALLETS,
        doc="mallet choice at the start"),
    Key("mallets_end", "weights", Like("mallets"), names=MALLETS,
        doc="... at the end (weights blend linearly)"),
    _n("quiet_start_s", 0.0, 0.0, 3600.0, "s",
       doc="no regular strikes or rubs at the start (room for an opening signal)"),
    _n("quiet_end_s", 0.0, 0.0, 3600.0, "s", doc="... at the end (room for a closing "
       "signal); each at most a quarter of the phase"),
    Key("rub", "table", doc="`[phases.rub]`: rubbed (singing) bowls, below"),
    Key("cues", "tables", (), show_default="none", doc="`[[phases.cues]]`: special moments, "
        "below"),
)

RUB = (
    Key("instruments", "weights", REQUIRED, names="instruments", check="rubbable",
        show="bowls and crystal bowls only", doc="which bowls sing"),
    _r("interval_s", REQUIRED, 5.0, 1800.0, "s", doc="time between the starts of two rubs"),
    _r("duration_s", REQUIRED, 3.0, 300.0, "s",
       doc="how long the rim is rubbed before release"),
    _r("velocity", (0.4, 0.6), 0.0, 1.0, check="max_velocity", doc="rubbing strength"),
)

_AT = ("give exactly one of at_s (seconds from the phase start; negative: before its end) "
       "and at (fraction 0..1)")
CUE = (
    Key("kind", "text", REQUIRED, choices=CUE_KINDS,
        doc="`signal`: one or a few strokes (open/close); `wave`: a swelling series of soft "
            "strokes (gong wave)"),
    Key("instrument", "key", REQUIRED, show="a KEY of `[instruments]`",
        doc="the instrument played"),
    _n("at_s", None, -MAX_DURATION_S, MAX_DURATION_S, "s", alt=("at", _AT),
       show_default="one of at_s/at", doc="first stroke, seconds after the phase start; "
       "negative: before the end of the phase's playing span"),
    _n("at", None, 0.0, 1.0, alt=("at_s", ""), doc="first stroke as a fraction of the phase"),
    _n("count", 1.0, 1.0, 64.0, by_kind=(("wave", 8.0),), check="whole",
       show="whole number 1..64", doc="strokes"),
    _r("gap_s", (3.0, 5.0), 0.5, 600.0, "s", doc="time between strokes"),
    _r("velocity", (0.3, 0.5), 0.0, 1.0, check="max_velocity",
       doc="signal: each stroke in the range; wave: from low up to high mid-wave and back"),
    Key("mallet", "text", "soft", choices=MALLETS, doc="the mallet"),
    Key("articulation", "text", "strike", choices=ARTICULATIONS,
        doc="`rub` only on bowls and crystal bowls"),
    _r("duration_s", REQUIRED, 3.0, 300.0, "s", only=("articulation", "rub"),
       show_default="required for rub", doc="rub length"),
)

#: Every declared table: the heading of its section in docs/presets.md -> its keys.
SECTIONS = {"top": TOP, "defaults": DEFAULTS, "room": ROOM, "metadata": METADATA,
            "instruments": INSTRUMENT, "phases": PHASE, "rub": RUB, "cues": CUE}


def defaults_from(keys: tuple[Key, ...]):
    """Class decorator (under ``@dataclass``): the schema's literal defaults as field defaults."""
    def put(cls):
        for k in keys:
            if k.attr in cls.__annotations__ and k.default is not REQUIRED \
                    and not isinstance(k.default, Like):
                setattr(cls, k.attr, k.default)
        return cls
    return put


def default_of(k: Key, values: dict):
    """The default of ``k`` given the values read so far from its table."""
    d = dict(k.by_kind).get(values.get("kind"), k.default)
    return values.get(d.key) if isinstance(d, Like) else d


# -- writing TOML ---------------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(v) -> str:
    """One value in TOML: numbers, text, true/false, [low, high] and name -> weight tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        v = tuple(v.items())
    if v and all(isinstance(x, tuple) for x in v):
        return "{ " + ", ".join(f"{_bare(a)} = {toml_value(b)}" for a, b in v) + " }"
    return "[" + ", ".join(toml_value(x) for x in v) + "]"


def _bare(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def dump_table(obj, keys: tuple[Key, ...], context: dict | None = None) -> list[str]:
    """``key = value`` lines of one table in schema order, leaving out defaults (the allowed
    range and unit as a comment); keys of kind ``table``/``tables`` are left to the caller."""
    values = dict(context or {})
    out = []
    for k in keys:
        if k.kind in ("table", "tables"):
            continue
        v = getattr(obj, k.attr)
        values[k.name] = v
        if v is None or (v == default_of(k, values) and not k.needs):
            continue
        note = f"  # {_allowed(k)}" if k.kind in ("number", "range") and k.lo is not None else ""
        out.append(f"{k.name} = {toml_value(v)}{note}")
    return out


# -- docs -----------------------------------------------------------------------------------

_TYPES = {"number": "number", "integer": "integer", "text": "text", "flag": "true/false",
          "range": "[low, high]", "table": "table",
          "tables": "array of tables", "titles": "table lang -> text", "language": "text",
          "instrument": "text", "tuning": "number or text", "key": "text"}


def _num(x) -> str:
    return "2^63-1" if x == MAX_SEED else f"{x:g}"


def _allowed(k: Key) -> str:
    if k.show:
        return k.show
    if k.choices is not None:
        return ", ".join(f"`{c}`" for c in k.allowed())
    if k.names:
        names = "KEYs of `[instruments]`" if k.names == "instruments" else \
            ", ".join(f"`{c}`" for c in k.names)
        return f"{names}; weights 0..1000, one > 0"
    if k.lo is None:
        return k.unit
    if k.kind == "integer":
        return f"{_num(k.lo)} .. {_num(k.hi)}"
    span = f"{'(' if k.lo_open else '['}{_num(k.lo)}, {_num(k.hi)}]"
    return f"{span} {k.unit}".strip()


def _default(k: Key) -> str:
    if k.show_default:
        return k.show_default
    d = k.default
    if d is REQUIRED:
        return "required"
    if isinstance(d, Like):
        return f"`{d.key}`"
    if k.kind in ("table", "tables") or d is None:
        return "" if k.kind in ("table", "tables") else "none"
    text = toml_value(d).replace(".0,", ",").replace(".0]", "]").replace(".0 }", " }")
    text = text[:-2] if text.endswith(".0") else text
    more = "".join(f"; {_num(v)} for {kind}" for kind, v in k.by_kind)
    return f"`{text}`{more}"


def markdown(keys: tuple[Key, ...]) -> str:
    """The reference table of one section for docs/presets.md."""
    rows = ["| key | type | allowed | default | meaning |", "|---|---|---|---|---|"]
    for k in keys:
        kind = _TYPES.get(k.kind) or ("integer" if k.name.endswith("_hz") else "text")
        if k.kind == "weights":
            kind = f"table {'KEY' if k.names == 'instruments' else 'mallet'} -> weight"
        rows.append(f"| `{k.name}` | {kind} | {_allowed(k)} | {_default(k)} | {k.doc} |")
    return "\n".join(rows) + "\n"


_BLOCK = re.compile(r"(<!-- schema: (\w+) -->\n)(.*?)(<!-- /schema -->)", re.S)


def render_docs(text: str) -> str:
    """``text`` (docs/presets.md) with every ``<!-- schema: NAME -->`` block regenerated."""
    return _BLOCK.sub(lambda m: m.group(1) + markdown(SECTIONS[m.group(2)]) + m.group(4), text)


def main(argv: list[str]) -> int:
    """``--markdown [FILE]``: print every table, or rewrite FILE's schema blocks."""
    if argv[:1] != ["--markdown"]:
        print("usage: python -m sointu.session.schema --markdown [docs/presets.md]")
        return 2
    if len(argv) > 1:
        path = Path(argv[1])
        path.write_text(render_docs(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print("\n".join(f"<!-- schema: {n} -->\n{markdown(s)}" for n, s in SECTIONS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
