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

import sys

from ..engine.instrument_schema import SECTIONS as INSTRUMENT_SECTIONS
from ..engine.piece import SAMPLE_RATES
from ..engine.room import load_rooms
from ..schema import (
    REQUIRED,
    Key,
    Like,
    defaults_from,
    dump_table,
    markdown,
    toml_value,
    write_docs,
)
from ..schema import render_docs as _render_docs
from .durations import MAX_DURATION_S
from .timeline import ARTICULATIONS, MALLETS, SEED_LIMIT

__all__ = ["Key", "Like", "REQUIRED", "SECTIONS", "TOP", "DEFAULTS", "ROOM", "METADATA",
           "INSTRUMENT", "PHASE", "RUB", "CUE", "RECORDING", "MIXES", "CUE_KINDS",
           "RECORDING_KINDS", "STROKES", "FITS", "defaults_from",
           "dump_table", "toml_value", "markdown"]

#: The mixes a session renders to: stereo for speakers, binaural for headphones.
MIXES = ("speakers", "headphones")
#: Kinds of special cue: ``signal`` (one or a few strokes at a chosen moment, e.g. tingsha
#: to open or close) and ``wave`` (a swelling series of soft strokes, e.g. a gong wave).
CUE_KINDS = ("signal", "wave")
#: The largest seed (ranges here include their ends): one below :data:`.timeline.SEED_LIMIT`.
MAX_SEED = SEED_LIMIT - 1


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

#: Kinds of recording: a voice, any sound, or one stroke of a real instrument.
RECORDING_KINDS = ("speech", "sound", "instrument")
#: What strokes do while a recording plays: none starts, softer, or nothing changes.
STROKES = ("pause", "duck", "play")
#: What happens to a recording longer than what is left of its phase.
FITS = ("refuse", "trim", "lengthen")
#: Longest offset or repetition of a recording (s).
_HALF_DAY_S = 12 * 3600.0
_NOT_SPEECH = ("sound", "instrument")

RECORDING = (
    Key("file", "sample", REQUIRED, show="a file"),
    Key("phase", "phase", None, show="a phase name", show_default="the first phase"),
    _n("at_s", 0.0, -_HALF_DAY_S, _HALF_DAY_S, "s"),
    _n("every_s", 0.0, 0.0, _HALF_DAY_S, "s", show_default="`0` (once)"),
    Key("kind", "text", "speech", choices=RECORDING_KINDS),
    Key("instrument", "text", "", only=("kind", "instrument"), check="sampled",
        show="a KEY of `[instruments]`", show_default="required for instrument"),
    _n("loudness_lu", 0.0, -40.0, 10.0, "LU",
       by_kind=tuple((kind, -6.0) for kind in _NOT_SPEECH),
       show_default="`0`; `-6` for sound and instrument"),
    _n("pan", 0.0, -1.0, 1.0),
    _n("fade_in_s", 0.0, 0.0, 600.0, "s"),
    _n("fade_out_s", 0.0, 0.0, 600.0, "s"),
    Key("strokes", "text", "pause", choices=STROKES,
        by_kind=tuple((kind, "play") for kind in _NOT_SPEECH),
        show_default="`\"pause\"`; `\"play\"` for sound and instrument"),
    _n("duck_db", -12.0, -60.0, 0.0, "dB"),
    _n("margin_s", 1.5, 0.0, 60.0, "s"),
    Key("trim", "flag", False),
    Key("fit", "text", lambda v: "trim" if v.get("trim") else "refuse", choices=FITS,
        check="fit",
        show_default="`\"refuse\"` (`\"trim\"` with `trim = true`)"),
)

#: Every declared table: the heading of its section in docs/presets.md -> its keys.
SECTIONS = {"top": TOP, "defaults": DEFAULTS, "room": ROOM, "metadata": METADATA,
            "instruments": INSTRUMENT, "phases": PHASE, "rub": RUB, "cues": CUE,
            "recordings": RECORDING}


#: Every table of docs/presets.md: the session's and the instrument presets'.
DOCS_SECTIONS = {**SECTIONS, **INSTRUMENT_SECTIONS}


def render_docs(text: str) -> str:
    """``text`` (docs/presets.md) with every schema table made again (meanings kept)."""
    return _render_docs(text, DOCS_SECTIONS)


def main(argv: list[str]) -> int:
    """``--markdown [FILE]``: print every table, or make FILE's schema tables again (the
    instrument presets' tables too)."""
    return write_docs(argv, DOCS_SECTIONS, "sointu.session.schema")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
