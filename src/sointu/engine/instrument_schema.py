"""The instrument preset schema, declared once: every key's type, default, unit and range.

``presets/instruments/*.toml`` (and what ``sointu analyse`` writes) is read table by table
from these declarations by :class:`InstrumentValidator` (every problem, one line
``file:line: key: what is wrong; what is allowed``), the engine's dataclasses take their
defaults from them, :func:`dump_instrument` writes an instrument back in their order, and the
instrument tables of ``docs/presets.md`` are made from them (``python -m
sointu.session.schema --markdown docs/presets.md``). ``presets/engine/transients.toml`` and
``mallets.toml`` are read by the same declarations.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

from ..errors import PresetError
from ..presets import read_text, read_toml
from ..schema import REQUIRED, Key, Like, Skip, Validator, dump_table, key_lines, show, toml_value
from .tuning import to_hz

__all__ = ["FAMILIES", "BOWL_RATIO_RANGES", "T60_PER_TAU", "TOP", "PARTIALS", "GLIDE",
           "STRIKE", "RUB", "TRANSIENT", "GONG", "MALLET", "ROOM_KIND", "SECTIONS",
           "InstrumentValidator", "dump_instrument", "read_named_tables", "MAX_TRANSIENT_S",
           "MAX_PARTIALS", "GONG_FAMILIES"]

#: T60 = T60_PER_TAU * tau for an exponential decay (ln 1000).
T60_PER_TAU = math.log(1000.0)
#: Instrument families and the articulations each allows.
FAMILIES = {
    "bowl": ("strike", "rub"),
    "crystal": ("strike", "rub"),
    "gong": ("strike",),
    "tam-tam": ("strike",),
    "tingsha": ("strike",),
    "chime": ("strike",),
}
#: Families that may have a ``[gong]`` table.
GONG_FAMILIES = ("gong", "tam-tam")
#: Partial-ratio ranges measured on real metal bowls (ACOUSTICS.md): partial -> (lo, hi).
BOWL_RATIO_RANGES = {1: (2.6, 3.0), 2: (4.8, 5.8)}
#: Most partials a preset may have.
MAX_PARTIALS = 64
#: Longest transient (s): the burst's slowest mode has fallen 60 dB by then.
MAX_TRANSIENT_S = 0.6


def _n(name, default=None, lo=None, hi=None, unit="", **kw) -> Key:
    return Key(name, "number", default, lo, hi, unit=unit, **kw)


def _list(name, default=None, lo=None, hi=None, unit="", length="ratio", **kw) -> Key:
    return Key(name, "list", default, lo, hi, unit=unit, length=length, **kw)


def _pair(name, default=None, lo=None, hi=None, unit="", check="ordered", **kw) -> Key:
    return Key(name, "pair", default, lo, hi, unit=unit, check=check, **kw)


TOP = (
    Key("name", "text", Like("stem"), show_default="the file name"),
    Key("family", "text", REQUIRED, choices=tuple(FAMILIES)),
    Key("description", "text", ""),
    Key("source", "text", "", show="where each number comes from"),
    Key("fundamental", "tuning", None, field="fundamental_hz",
        show_default="the first of `notes`",
        show='20..20000 Hz, a note (`"G3"`) or a Cousto name; required without `notes`'),
    Key("notes", "tunings", None, field="notes_hz", show="1..16 tunings",
        show_default="`[fundamental]`"),
    _n("level_db", -12.0, -60.0, 0.0, "dB"),
    Key("partials", "table", REQUIRED),
    Key("glide", "table"),
    Key("strike", "table"),
    Key("rub", "table", show_default="bowls and crystal bowls: the defaults"),
    Key("transient", "table", show_default="the family's"),
    Key("gong", "table", show_default="none"),
)

PARTIALS = (
    _list("ratio", REQUIRED, 0.25, 80.0, length=None, check="ratios",
          show="each [0.25, 80], 1..64 of them"),
    _list("gain_db", REQUIRED, -80.0, 12.0, "dB"),
    _list("t60_s", REQUIRED, 0.01, 600.0, "s"),
    _list("split_hz", None, 0.0, 50.0, "Hz", show_default="0 each"),
    _list("order", None, 1.0, 40.0, check="orders", show_default="2, 3, 4, ..."),
    _list("bloom_s", None, 0.0, 20.0, "s", check="bloom", show_default="0 each"),
    _n("octave_db", None, -80.0, -10.0, "dB", show_default="none (off)"),
    _n("octave_partials", lambda v: 2.0 if v.get("octave_db") is not None else 0.0,
       check="partial_count", show="0 .. number of partials",
       show_default="2 with `octave_db`, else 0"),
)

GLIDE = (
    _n("cents", 0.0, -200.0, 200.0, "cents", field="glide_cents"),
    _n("time_s", 1.0, 0.01, 30.0, "s", field="glide_s"),
    _n("partials", lambda v: float(len(v.get("ratio") or ())) if v.get("cents") else 0.0,
       field="glide_partials", check="partial_count",
       show="0 .. number of partials", show_default="all with `cents`, else 0"),
)

STRIKE = (
    Key("bodies", "text", "all", choices=("all", "one", "cascade")),
    _pair("count", (1, 1), 1.0, 16.0, check="count"),
    _n("gap_s", 0.15, 0.0, 5.0, "s"),
    _n("jitter_db", 1.0, 0.0, 6.0, "dB"),
    _n("doublet_floor", 0.0, 0.0, 1.0),
)

RUB = (
    _n("rev_hz", 0.7, 0.05, 5.0, "Hz"),
    _n("build_s", 2.5, 0.1, 30.0, "s"),
    _n("pulsation", 0.3, 0.0, 1.0),
    _list("partial_gain", (1.0, 0.05), 0.0, 1.0, length=None,
          show="each [0, 1]; one per partial at most"),
    _n("level_db", -3.0, -40.0, 6.0, "dB"),
    _n("irregularity", 0.05, 0.0, 0.3),
    _list("harmonics_db", (-32.0, -44.0), -120.0, -10.0, "dB", length=None,
          show="each [-120, -10] dB, up to 8"),
    _n("noise_db", -40.0, -120.0, -10.0, "dB"),
    _pair("noise_hz", (800.0, 6000.0), 50.0, 20000.0, "Hz", check="rising"),
)

#: ``[transient]`` and each family of ``presets/engine/transients.toml`` (every key required
#: there; an instrument's table overrides its family's).
TRANSIENT = (
    _n("noise_db", REQUIRED, -80.0, 12.0, "dB", show_default="the family's"),
    _pair("noise_hz", REQUIRED, 20.0, 24000.0, "Hz", check="rising",
          show_default="the family's"),
    _n("noise_tail_db", REQUIRED, -80.0, 0.0, "dB", show_default="the family's"),
    _n("noise_t60_s", REQUIRED, 0.005, MAX_TRANSIENT_S, "s", show_default="the family's"),
    _n("burst_db", REQUIRED, -80.0, 12.0, "dB", show_default="the family's"),
    _n("burst_modes", REQUIRED, 0.0, 128.0, check="whole", show_default="the family's"),
    _pair("burst_hz", REQUIRED, 100.0, 24000.0, "Hz", check="rising",
          show_default="the family's"),
    _pair("burst_t60_s", REQUIRED, 0.005, MAX_TRANSIENT_S, "s", check="",
          show="[at low, at high], each [0.005, 0.6] s", show_default="the family's"),
)

GONG = (
    _n("seed", 1, 0.0, 2.0**31, check="whole"),
    _n("partials", 0, 0.0, 600.0, check="whole"),
    _pair("range_hz", (250.0, 12000.0), 20.0, 20000.0, "Hz"),
    _n("densest_hz", 1800.0, 100.0, 10000.0, "Hz"),
    _n("spread_oct", 0.9, 0.1, 4.0, "octaves"),
    _n("level_db", -24.0, -80.0, 12.0, "dB"),
    _n("tilt_db_oct", -3.0, -24.0, 12.0, "dB/octave"),
    _n("scatter_db", 4.0, 0.0, 20.0, "dB"),
    _n("t60_1k_s", 10.0, 0.1, 120.0, "s"),
    _n("t60_exponent", 0.35, 0.0, 3.0),
    _pair("bloom_s", (0.6, 1.1), 0.1, 5.0, "s"),
    _n("companion_decay", 2.0, 1.0, 10.0),
    _n("mallet_tilt", 0.5, 0.0, 1.0),
    _pair("churn_hz", (0.15, 0.75), 0.01, 5.0, "Hz"),
    _pair("churn_depth", (0.4, 0.85), 0.0, 1.0),
    _pair("sharp_cents", (25.0, 35.0), 0.0, 100.0, "cents"),
    _n("sharp_below_hz", 0.0, 0.0, 5000.0, "Hz", show_default="`0` (none)"),
    _n("sharp_ratio", 2.0, 0.0, 10.0),
    _n("sharp_s", 1.8, 0.05, 20.0, "s"),
)

#: Each mallet of ``presets/engine/mallets.toml``.
MALLET = (
    _n("cutoff_hz", REQUIRED, 50.0, 24000.0, "Hz"),
    _n("level_db", REQUIRED, -40.0, 12.0, "dB"),
    _n("contact_ms", REQUIRED, 0.05, 20.0, "ms"),
    _n("noise_db", 0.0, -80.0, 20.0, "dB"),
)

#: Each room of ``presets/engine/rooms.toml`` (what the numbers do: the comments there).
ROOM_KIND = (
    Key("description", "text", ""),
    _n("diffuse", REQUIRED, 0.0, 4.0),
    _n("reflections", REQUIRED, 4.0, 512.0, check="whole"),
    _pair("reflections_ms", REQUIRED, 0.5, 300.0, "ms", check="rising",
          show="each [0.5, 300] ms, low < high"),
    _list("tail_t60_s", REQUIRED, 0.05, 6.0, "s", length=4, show="4 of them, each [0.05, 6] s"),
    _n("tail_db", REQUIRED, -60.0, 6.0, "dB"),
    _n("headphone_tail_db", REQUIRED, -80.0, 6.0, "dB"),
    _list("headphone_room_m", REQUIRED, 1.0, 100.0, "m", length=3,
          show="3 of them, each [1, 100] m"),
    _n("headphone_ear_m", REQUIRED, 0.0, 10.0, "m", check="under_ceiling",
       show="[0, 10] m, below the room's height"),
    _n("predelay_ms", REQUIRED, 0.0, 100.0, "ms"),
    _n("mic_spacing_m", REQUIRED, 0.0, 2.0, "m"),
    _n("tone_db", REQUIRED, -120.0, -30.0, "dB"),
)

#: The instrument and engine-data tables of docs/presets.md: their names there -> keys.
SECTIONS = {"instrument": TOP, "instrument.partials": PARTIALS, "instrument.glide": GLIDE,
            "instrument.strike": STRIKE, "instrument.rub": RUB,
            "instrument.transient": TRANSIENT, "instrument.gong": GONG,
            "instrument.mallets": MALLET, "engine.rooms": ROOM_KIND}


class InstrumentValidator(Validator):
    """Reads instrument preset tables by their schema, recording every problem."""

    def read_tuning(self, v, k: Key, name: str, ctx) -> float:
        try:
            return to_hz(v, name)
        except PresetError as exc:  # already "key: what; allowed"
            self.problem(name, str(exc).removeprefix(name + ": "))
            raise Skip from None

    def read_tunings(self, v, k: Key, name: str, ctx) -> tuple[float, ...]:
        if not isinstance(v, list) or not v or len(v) > 16:
            raise self.fail(name, f"expected a list of 1..16 tunings, got {show(v)}")
        return tuple(self.read_tuning(x, k, f"{name}[{i}]", ctx) for i, x in enumerate(v))

    def check_orders(self, v: tuple, k: Key, name: str, ctx) -> None:
        for i, x in enumerate(v):
            self.check_whole(x, k, f"{name}[{i}]", ctx)

    def check_count(self, v: tuple, k: Key, name: str, ctx) -> None:
        self.check_ordered(v, k, name, ctx)
        self.check_orders(v, k, name, ctx)

    def check_ratios(self, v, k: Key, name: str, ctx) -> None:
        if len(v) > MAX_PARTIALS:
            self.problem(name, f"{len(v)} partials; allowed at most {MAX_PARTIALS}")
        if ctx.get("family") == "bowl":
            for j, (lo, hi) in BOWL_RATIO_RANGES.items():
                if len(v) > j and not lo <= v[j] / v[0] <= hi:
                    self.problem(f"{name}[{j}]", f"{v[j] / v[0]:.3f} x the lowest is outside "
                                                 f"the range measured on real bowls "
                                                 f"({lo}..{hi})")

    def check_partial_count(self, v, k: Key, name: str, ctx) -> None:
        """At most as many as there are partials (the range depends on them)."""
        if ctx.get("ratio") is None:
            return  # the partials are bad: their problem is reported
        n = len(ctx["ratio"])
        if not 0 <= v <= n:
            self.problem(name, f"{v:g} is out of range; allowed [0, {n}]")
        else:
            self.check_whole(v, k, name, ctx, 0, n)

    def check_under_ceiling(self, v: float, k: Key, name: str, ctx) -> None:
        """A room's ears lie below its height (``headphone_room_m[2]``)."""
        room = ctx.get("headphone_room_m")
        if room is not None and v >= room[2]:
            raise self.fail(name, f"{v:g} is out of range; allowed below the room's height "
                                  f"{room[2]:g} m")

    def check_bloom(self, v, k: Key, name: str, ctx) -> None:
        for i, (b, t) in enumerate(zip(v, ctx.get("t60_s") or (), strict=False)):
            if b and b * T60_PER_TAU >= t:
                self.problem(f"{name}[{i}]", f"{b:g} s must be shorter than t60_s/6.9 = "
                                             f"{t / T60_PER_TAU:.3g} s")


def read_named_tables(path, keys: tuple[Key, ...]) -> dict[str, dict]:
    """An engine data file of ``[name]`` tables (``presets/engine/transients.toml``,
    ``mallets.toml``, ``rooms.toml``), each read by ``keys``: name -> values; PresetError
    (the first problem, file:line: key, and how many more) when one is bad."""
    v = InstrumentValidator(str(path), key_lines(read_text(path)))
    out = {}
    for name, table in read_toml(path).items():
        if not isinstance(table, dict):
            v.problem(name, f"expected a table, got {show(table)}")
            continue
        out[name] = v.section(table, keys, f"{name}.")
    if v.problems:
        more = f" (and {len(v.problems) - 1} more)" if len(v.problems) > 1 else ""
        raise PresetError(v.problems[0] + more)
    return out


def dump_instrument(inst, base_transient=None) -> str:
    """An instrument as TOML in schema order, defaults left out (each number's range as a
    comment); read back as a file of the same name, it loads to an equal instrument.

    Parameters
    ----------
    inst : Instrument
    base_transient : TransientStyle, optional
        The family's transient: only the keys that differ from it are written.
    """
    notes = inst.notes_hz
    top = SimpleNamespace(**{k.attr: getattr(inst, k.attr, None) for k in TOP})
    top.notes_hz = notes if len(notes) > 1 or notes[0] != inst.fundamental_hz else None
    top.fundamental_hz = None if top.notes_hz and notes[0] == inst.fundamental_hz \
        else inst.fundamental_hz
    stem = inst.path.stem if inst.path is not None else None
    out = dump_table(top, TOP, {"stem": stem})  # the name when it is not the file's
    n = len(inst.ratio)
    parts = SimpleNamespace(**{k.attr: getattr(inst, k.attr) for k in PARTIALS})
    for key, default in (("split_hz", (0.0,) * n), ("bloom_s", (0.0,) * n),
                         ("order", tuple(range(2, n + 2)))):
        if getattr(parts, key) == default:
            setattr(parts, key, None)
    out += ["", "[partials]", *dump_table(parts, PARTIALS)]
    ctx = {"ratio": inst.ratio}
    for name, keys, obj in (("glide", GLIDE, inst), ("strike", STRIKE, inst.strike),
                            ("rub", RUB, inst.rub), ("gong", GONG, inst.gong)):
        if obj is None:
            continue
        lines = dump_table(obj, keys, ctx)
        out += ["", f"[{name}]", *lines] if lines or name == "gong" else []  # [gong]: a cloud
    if inst.transient is not None and inst.transient != base_transient:
        lines = [f"{k.name} = {toml_value(getattr(inst.transient, k.name))}" for k in TRANSIENT
                 if base_transient is None
                 or getattr(inst.transient, k.name) != getattr(base_transient, k.name)]
        out += ["", "[transient]", *lines]
    return "\n".join(out) + "\n"
