"""The session preset schema, declared once: every key's type, default, unit and range.

The validator (:mod:`sointu.session.presets`) reads each table key by key from these
declarations, the dataclasses take their defaults from them (:func:`defaults_from`), a preset
is written back in their order (:func:`dump_table`), and the reference tables of
``docs/presets.md`` are made from them (their last column, each key's meaning, is prose kept
in the docs)::

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
from .timeline import ARTICULATIONS, MALLETS, SEED_LIMIT

__all__ = ["Key", "Like", "REQUIRED", "SECTIONS", "TOP", "DEFAULTS", "ROOM", "METADATA",
           "INSTRUMENT", "PHASE", "RUB", "CUE", "MIXES", "CUE_KINDS", "defaults_from",
           "dump_table", "toml_value", "markdown"]

#: The mixes a session renders to: stereo for speakers, binaural for headphones.
MIXES = ("speakers", "headphones")
#: Kinds of special cue: ``signal`` (one or a few strokes at a chosen moment, e.g. tingsha
#: to open or close) and ``wave`` (a swelling series of soft strokes, e.g. a gong wave).
CUE_KINDS = ("signal", "wave")
#: The largest seed (ranges here include their ends): one below :data:`.timeline.SEED_LIMIT`.
MAX_SEED = SEED_LIMIT - 1


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


def _n(name, default=None, lo=None, hi=None, unit="", **kw) -> Key:
    return Key(name, "number", default, lo, hi, unit=unit, **kw)


def _r(name, default=None, lo=None, hi=None, unit="", **kw) -> Key:
    return Key(name, "range", default, lo, hi, unit=unit, **kw)


TOP = (
    Key("title", "titles", REQUIRED, show="two-letter codes"),
    Key("description", "text", "", show="one line"),
    Key("language", "language", "en", show="ISO 639-1 code"),
    _n("max_velocity", 1.0, 0.0, 1.0, lo_open=True),
    Key("defaults", "table"),
    Key("room", "table"),
    Key("metadata", "table"),
    Key("instruments", "table", REQUIRED, show="at least one"),
    Key("phases", "tables", REQUIRED, show="at least one"),
    Key("recordings", "tables", show_default="none"),
)

DEFAULTS = (
    _n("duration_s", 3600.0, 0.0, MAX_DURATION_S, "s", lo_open=True),
    Key("sample_rate_hz", "choice", 48000, choices=SAMPLE_RATES, unit="Hz"),
    Key("seed", "integer", 0, 0, MAX_SEED),
    _n("loudness_lufs", -23.0, -40.0, -10.0, "LUFS"),
    _n("ring_out_s", 45.0, 0.0, 600.0, "s", show="[0, 600] s, below `duration_s`"),
    _n("fade_out_s", 8.0, 0.0, 60.0, "s"),
    Key("mix", "choice", None, choices=MIXES, show_default="none: speakers; gifts headphones"),
    _n("thin_halving_s", None, 600.0, MAX_DURATION_S, "s"),
)

ROOM = (
    _n("reverb", 0.35, 0.0, 1.0),
    _n("width", 0.8, 0.0, 1.0),
    Key("name", "text", "treatment-room", choices=load_rooms),
    Key("tone", "flag", False),
)

METADATA = (
    Key("album", "text", ""),
    Key("artist", "text", ""),
    Key("comment", "text", ""),
    Key("genre", "text", "Meditation"),
)

INSTRUMENT = (
    Key("instrument", "instrument", Like("key"), show_default="`KEY`",
        show="a name from `sointu instruments`, or a path (relative to the session file)"),
    Key("tuning", "tuning", None, field="tuning_hz", show_default="the preset's",
        show='20..20000 Hz, a note (`"G3"`, `"C#4"`) or a Cousto name (`"earth-year"`)'),
    _n("azimuth_deg", 0.0, -180.0, 180.0, "deg"),
    _n("distance", 1.0, 1.0, 10.0, "relative"),
    _n("level_db", 0.0, -40.0, 12.0, "dB"),
    _n("elevation_deg", 0.0, -90.0, 90.0, "deg"),
    _n("distance_m", None, 0.0, 100.0, "m", lo_open=True, show_default="`distance` m"),
)

_SHARE = ("give exactly one of share (fraction of the session, 0..1) and length_s (fixed "
          "seconds)")
PHASE = (
    Key("name", "text", REQUIRED, show="unique", check="nonempty"),
    _n("share", None, 0.0, 1.0, lo_open=True, alt=("length_s", _SHARE),
       show_default="one of share/length_s"),
    _n("length_s", None, 0.0, MAX_DURATION_S, "s", lo_open=True, alt=("share", "")),
    Key("instruments", "weights", (), names="instruments", show_default="none"),
    _r("interval_s", (30.0, 30.0), 2.0, 900.0, "s", needs="instruments",
       show_default="required with `instruments`"),
    _r("interval_end_s", Like("interval_s"), 2.0, 900.0, "s"),
    _r("velocity", (0.4, 0.6), 0.0, 1.0, check="max_velocity"),
    _r("velocity_end", Like("velocity"), 0.0, 1.0, check="max_velocity"),
    Key("mallets", "weights", (("medium", 1.0),), names=MALLETS),
    Key("mallets_end", "weights", Like("mallets"), names=MALLETS),
    _n("quiet_start_s", 0.0, 0.0, 3600.0, "s"),
    _n("quiet_end_s", 0.0, 0.0, 3600.0, "s"),
    Key("rub", "table"),
    Key("cues", "tables", (), show_default="none"),
)

RUB = (
    Key("instruments", "weights", REQUIRED, names="instruments", check="rubbable",
        show="bowls and crystal bowls only"),
    _r("interval_s", REQUIRED, 5.0, 1800.0, "s"),
    _r("duration_s", REQUIRED, 3.0, 300.0, "s"),
    _r("velocity", (0.4, 0.6), 0.0, 1.0, check="max_velocity"),
)

_AT = ("give exactly one of at_s (seconds from the phase start; negative: before its end) "
       "and at (fraction 0..1)")
CUE = (
    Key("kind", "text", REQUIRED, choices=CUE_KINDS),
    Key("instrument", "key", REQUIRED, show="a KEY of `[instruments]`"),
    _n("at_s", None, -MAX_DURATION_S, MAX_DURATION_S, "s", alt=("at", _AT),
       show_default="one of at_s/at"),
    _n("at", None, 0.0, 1.0, alt=("at_s", "")),
    _n("count", 1.0, 1.0, 64.0, by_kind=(("wave", 8.0),), check="whole",
       show="whole number 1..64"),
    _r("gap_s", (3.0, 5.0), 0.5, 600.0, "s"),
    _r("velocity", (0.3, 0.5), 0.0, 1.0, check="max_velocity"),
    Key("mallet", "text", "soft", choices=MALLETS),
    Key("articulation", "text", "strike", choices=ARTICULATIONS),
    _r("duration_s", REQUIRED, 3.0, 300.0, "s", only=("articulation", "rub"),
       show_default="required for rub"),
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
    if isinstance(v, str):  # JSON's escapes are TOML's; TOML also forbids a raw DEL
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
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


def markdown(keys: tuple[Key, ...], meanings: dict[str, str] | None = None) -> str:
    """The reference table of one section for docs/presets.md (``meanings``: key -> the
    prose of the last column, which the docs keep)."""
    rows = ["| key | type | allowed | default | meaning |", "|---|---|---|---|---|"]
    for k in keys:
        kind = _TYPES.get(k.kind) or ("integer" if k.name.endswith("_hz") else "text")
        if k.kind == "weights":
            kind = f"table {'KEY' if k.names == 'instruments' else 'mallet'} -> weight"
        meaning = (meanings or {}).get(k.name, "")
        rows.append(f"| `{k.name}` | {kind} | {_allowed(k)} | {_default(k)} | {meaning} |")
    return "\n".join(rows) + "\n"


_BLOCK = re.compile(r"(<!-- schema: (\w+) -->\n)(.*?)(<!-- /schema -->)", re.S)


def render_docs(text: str) -> str:
    """``text`` (docs/presets.md) with every ``<!-- schema: NAME -->`` table made again from
    the schema: key, type, allowed values, default; each key's meaning is kept."""
    def table(m: re.Match) -> str:
        rows = [r[2:-2].split(" | ", 4) for r in m.group(3).splitlines()[2:]]
        meanings = {r[0].strip("`"): r[4] for r in rows if len(r) == 5}
        return m.group(1) + markdown(SECTIONS[m.group(2)], meanings) + m.group(4)
    return _BLOCK.sub(table, text)


def main(argv: list[str]) -> int:
    """``--markdown [FILE]``: print every table, or make FILE's schema tables again."""
    if argv[:1] != ["--markdown"]:
        print("usage: python -m sointu.session.schema --markdown [docs/presets.md]")
        return 2
    if len(argv) > 1:
        path = Path(argv[1])
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(render_docs(path.read_text(encoding="utf-8")), encoding="utf-8")
        tmp.replace(path)
    else:
        print("\n".join(f"<!-- schema: {n} -->\n{markdown(s)}" for n, s in SECTIONS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
