"""Preset schemas, declared once: a :class:`Key` per key (type, default, unit, range).

This module holds what every preset kind shares: the declaration (:class:`Key`), the checker
that reads a table key by key from its declarations and records every problem as one line
``file:line: key: what is wrong; what is allowed`` (:class:`Validator`), the dataclass
defaults (:func:`defaults_from`), the writer that puts a table back as TOML in schema order
(:func:`dump_table`) and the reference tables of ``docs/presets.md`` (:func:`render_docs`).
The keys themselves are declared where they are used: instrument presets in
:mod:`sointu.engine.instrument_schema`, session presets in :mod:`sointu.session.schema`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import PresetError

__all__ = ["Key", "Like", "REQUIRED", "Validator", "Skip", "Stop", "default_of",
           "defaults_from", "dump_table", "toml_value", "markdown", "render_docs",
           "key_lines", "show", "write_docs"]


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
        any type), ``flag``, ``range`` ([low, high]), ``list`` (numbers), ``table``/``tables``
        (a sub-table read by its own section) or a reader of the preset kind's validator
        (``read_<kind>``: weights, titles, tunings ...).
    default : object
        Value when absent: :data:`REQUIRED`, None (no value), a literal, a :class:`Like` or
        a function of the table's values read so far (then ``show_default`` says it).
    lo, hi, lo_open : float
        Allowed range of a number or of every value of a range or list (``lo_open``: lo
        excluded).
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
    length : int or str
        ``list``: how many values (a number, or the key whose list it matches).
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
    length: int | str | None = None
    show: str = ""
    show_default: str = ""

    @property
    def attr(self) -> str:
        """The dataclass field this key fills."""
        return self.field or self.name

    def allowed(self):
        """The allowed values (asks a callable)."""
        return self.choices() if callable(self.choices) else self.choices


def defaults_from(keys: tuple[Key, ...]):
    """Class decorator (under ``@dataclass``): the schema's literal defaults as field defaults."""
    def put(cls):
        for k in keys:
            if k.attr in cls.__annotations__ and k.default is not REQUIRED \
                    and not isinstance(k.default, Like) and not callable(k.default):
                setattr(cls, k.attr, k.default)
        return cls
    return put


def default_of(k: Key, values: dict):
    """The default of ``k`` given the values read so far from its table."""
    d = dict(k.by_kind).get(values.get("kind"), k.default)
    if isinstance(d, Like):
        return values.get(d.key)
    return d(values) if callable(d) else d


# -- the checker ----------------------------------------------------------------------------

class Skip(Exception):
    """A value could not be read; its problem is already recorded."""


class Stop(Skip):
    """Stop reading this table: the rest would only repeat its problem."""


#: What a missing key of each kind says (default: "missing").
_MISSING = {"weights": "missing; a table of {what} -> weight",
            "titles": "missing; a table such as {{ fi = \"...\", en = \"...\" }}"}


class Validator:
    """Reads preset tables by their schema, recording every problem instead of stopping.

    Parameters
    ----------
    source : str
        The file (quoted in messages).
    lines : dict of str -> int
        Key path -> line (:func:`key_lines`), to point at the line of a problem.
    """

    def __init__(self, source: str, lines: dict[str, int]):
        self.source = source
        self.lines = lines
        self.problems: list[str] = []
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
        """A finite number in [lo, hi] (or (lo, hi] when ``lo_open``)."""
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(name, f"expected a number, got {v!r}")
        if isinstance(v, int) and abs(v) > 1e300:  # beyond a float
            raise self.fail(name, f"{v} is out of range; allowed {_span(lo, hi, lo_open)}")
        v = float(v)
        if not math.isfinite(v):
            raise self.fail(name, f"expected a finite number, got {v!r}")
        if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and v > hi):
            raise self.fail(name, f"{v:g} is out of range; allowed {_span(lo, hi, lo_open)}")
        return v

    def numbers(self, v, k: Key, name: str, length: int | None = None) -> tuple[float, ...]:
        """A non-empty list of numbers, each in the key's range (``length`` of them)."""
        if not isinstance(v, list) or not v:
            raise self.fail(name, f"expected a non-empty list of numbers, got {v!r}")
        if length is not None and len(v) != length:
            raise self.fail(name, f"expected {length} values, got {len(v)}")
        return tuple(self.value_number(x, f"{name}[{i}]", lo=k.lo, hi=k.hi, lo_open=k.lo_open)
                     for i, x in enumerate(v))

    def keys(self, table: dict, allowed, where: str) -> None:
        ok = ", ".join(sorted(allowed))
        for key in table:
            if key not in allowed:
                self.problem(f"{where}{key}", f"unknown key; allowed: {ok}")

    def table(self, d: dict, key: str, *, required: bool = False) -> dict:
        """The sub-table ``key`` of ``d`` (empty when absent or not a table: a problem)."""
        if key not in d:
            if required:
                self.problem(key, "missing table")
            return {}
        t = d[key]
        if not isinstance(t, dict):
            self.problem(key, f"expected a table, got {show(t)}")
            return {}
        return t

    # one table by its schema ------------------------------------------------------------

    def section(self, t: dict, keys: tuple[Key, ...], w: str, values: dict | None = None,
                **ctx) -> dict:
        """Every key of one table (sub-tables left out) by field name; a bad one is None.

        ``values``: values of the context a :class:`Like` default may name.
        """
        self.keys(t, [k.name for k in keys], w)
        self.start = len(self.problems)
        values = dict(values or {})
        for k in keys:
            if k.kind in ("table", "tables"):
                continue
            try:
                values[k.name] = self.read(t, k, w, values, ctx)
            except Stop:
                raise
            except Skip:
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
            value = getattr(self, "read_" + k.kind)(t[k.name], k, name, {**values, **ctx})
        elif k.default is REQUIRED or (k.needs and values.get(k.needs)):
            what = "instrument" if k.names == "instruments" else "mallet"
            raise self.fail(name, _MISSING.get(k.kind, "missing").format(what=what))
        else:
            value = default_of(k, values)
        if k.check and value is not None:
            getattr(self, "check_" + k.check)(value, k, name, {**values, **ctx})
        return value

    # readers of one value by kind (name: the key's full name for messages) ---------------

    def read_number(self, v, k: Key, name: str, ctx) -> float:
        return self.value_number(v, name, lo=k.lo, hi=k.hi, lo_open=k.lo_open)

    def read_integer(self, v, k: Key, name: str, ctx) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not k.lo <= v <= k.hi:
            raise self.fail(name, _not_whole(show(v), k.lo, k.hi))
        return v

    def read_choice(self, v, k: Key, name: str, ctx):
        if isinstance(v, bool) or v not in k.choices:
            raise self.fail(name, f"{show(v)} is not allowed; allowed: "
                                  f"{', '.join(str(c) for c in k.choices)}")
        return next(c for c in k.choices if c == v)

    def read_text(self, v, k: Key, name: str, ctx) -> str:
        if not isinstance(v, str):
            raise self.fail(name, f"expected text, got {v!r}")
        choices = k.allowed()
        if choices is not None and v not in choices:
            raise self.fail(name, f"'{v}' is not allowed; allowed: {', '.join(choices)}")
        return v

    def read_flag(self, v, k: Key, name: str, ctx) -> bool:
        if not isinstance(v, bool):
            raise self.fail(name, f"{show(v)} is not allowed; allowed: true, false")
        return v

    def read_range(self, v, k: Key, name: str, ctx) -> tuple[float, float]:
        """A [low, high] pair with lo <= low <= high <= hi."""
        vals = self.read_pair(v, k, name, ctx)
        self.check_ordered(vals, k, name, ctx)
        return vals

    def read_pair(self, v, k: Key, name: str, ctx) -> tuple[float, float]:
        """Two numbers in [lo, hi] (their order is left to a check)."""
        return self.numbers(v, k, name, 2)

    def read_list(self, v, k: Key, name: str, ctx) -> tuple[float, ...]:
        """A list of numbers in [lo, hi], as long as ``k.length`` says (a number or the
        length of another key's list)."""
        n = ctx.get(k.length) if isinstance(k.length, str) else k.length
        if isinstance(k.length, str) and n is None:
            raise Skip  # the list it matches is bad: its problem is reported
        return self.numbers(v, k, name, len(n) if isinstance(n, tuple) else n)

    # further checks of a value read (``Key.check``) --------------------------------------

    def check_whole(self, v: float, k: Key, name: str, ctx, lo=None, hi=None) -> None:
        """A whole number (``lo``, ``hi``: the allowed span when it is not the key's)."""
        if v != int(v):
            raise self.fail(name, _not_whole(f"{v:g}", k.lo if lo is None else lo,
                                             k.hi if hi is None else hi))

    def check_ordered(self, v: tuple, k: Key, name: str, ctx) -> None:
        if v[0] > v[1]:
            raise self.fail(name, f"expected [low, high] with low <= high, got {_pair(v)}")

    def check_rising(self, v: tuple, k: Key, name: str, ctx) -> None:
        if v[0] >= v[1]:
            raise self.fail(name, f"expected [low, high] with low < high, got {_pair(v)}")


def _not_whole(text: str, lo, hi) -> str:
    """The one message of a value that is not a whole number in [lo, hi]."""
    return f"{text} is not allowed; allowed: a whole number {_num(lo)}..{_num(hi)}"


def _pair(v) -> str:
    return "[" + ", ".join(f"{x:g}" for x in v) + "]"


def _num(x) -> str:
    """A bound for messages and docs (2^63-1 and 2^31 by name)."""
    names = {2**63 - 1: "2^63-1", 2**31: "2^31"}
    return names.get(x, f"{x:g}" if isinstance(x, float) else str(x))


def _span(lo, hi, lo_open=False) -> str:
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    return f"{'(' if lo_open else '['}{lo_s}, {hi_s}]"


def show(value) -> str:
    """A short repr of a bad value for a message."""
    s = repr(value)
    return s if len(s) <= 60 else s[:57] + "..."


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def key_lines(text: str) -> dict[str, int]:
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
        note = f"  # {_allowed(k)}" if k.kind in ("number", "range", "pair", "list") \
            and k.lo is not None else ""
        out.append(f"{k.name} = {toml_value(v)}{note}")
    return out


# -- docs -----------------------------------------------------------------------------------

_TYPES = {"number": "number", "integer": "integer", "text": "text", "flag": "true/false",
          "range": "[low, high]", "pair": "[low, high]", "list": "list of numbers",
          "table": "table", "tables": "array of tables", "titles": "table lang -> text",
          "language": "text",
          "instrument": "text", "tuning": "number or text", "key": "text",
          "tunings": "list of numbers or texts", "sample": "text",
          "phase": "text"}
#: Checks that make a number (or each number) whole: the type the docs show.
_WHOLE = {"whole": "whole number", "partial_count": "whole number",
          "count": "[low, high] whole numbers", "orders": "list of whole numbers"}


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
    each = "each " if k.kind in ("list", "pair") else ""
    return f"{each}{span} {k.unit}".strip()


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
        kind = _WHOLE.get(k.check, kind)
        if k.kind == "weights":
            kind = f"table {'KEY' if k.names == 'instruments' else 'mallet'} -> weight"
        meaning = (meanings or {}).get(k.name, "")
        rows.append(f"| `{k.name}` | {kind} | {_allowed(k)} | {_default(k)} | {meaning} |")
    return "\n".join(rows) + "\n"


_BLOCK = re.compile(r"(<!-- schema: ([\w.]+) -->\n)(.*?)(<!-- /schema -->)", re.S)


def render_docs(text: str, sections: dict[str, tuple[Key, ...]]) -> str:
    """``text`` (docs/presets.md) with every ``<!-- schema: NAME -->`` table made again from
    ``sections[NAME]``: key, type, allowed values, default; each key's meaning is kept."""
    def table(m: re.Match) -> str:
        rows = [r[2:-2].split(" | ", 4) for r in m.group(3).splitlines()[2:]]
        meanings = {r[0].strip("`"): r[4] for r in rows if len(r) == 5}
        return m.group(1) + markdown(sections[m.group(2)], meanings) + m.group(4)
    return _BLOCK.sub(table, text)


def write_docs(argv: list[str], sections: dict[str, tuple[Key, ...]], module: str) -> int:
    """``--markdown [FILE]``: print every table, or make FILE's schema tables again."""
    if argv[:1] != ["--markdown"]:
        print(f"usage: python -m {module} --markdown [docs/presets.md]")
        return 2
    if len(argv) > 1:
        path = Path(argv[1])
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(render_docs(path.read_text(encoding="utf-8"), sections),
                       encoding="utf-8")
        tmp.replace(path)
    else:
        print("\n".join(f"<!-- schema: {n} -->\n{markdown(s)}" for n, s in sections.items()))
    return 0
