"""SESSION, what the page edits, and the preset's TOML document it maps to and from.

The page sees a small view of a session preset (``docs/studio.md``: length, seed, loudness,
mix, the voice, each phase's share, instruments, intervals, velocities, mallets, rubbed
bowls, gong waves and signals, each instrument's level and place). Edits are applied to
the base preset's TOML document with tomlkit, so the comments and layout of what was not
changed survive, and the result is validated exactly as ``sointu validate`` validates a
file. A key the page leaves out of SESSION is left as the document has it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import tomlkit

from ..errors import PresetError
from ..presets import find_preset, list_presets, read_text, shipped_dir
from ..session.schema import CUE, RUB
from .guard import Refusal, safe_name

__all__ = ["base_document", "session_view", "apply_session", "check_session", "preset_list",
           "find_session", "problem_field", "GONG_FAMILIES", "PRESET_NAME"]

#: Families whose strokes make a gong wave.
GONG_FAMILIES = ("gong", "tam-tam")
#: A preset name the studio writes (the instrument keys' rule).
PRESET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_TOP = ("base", "title", "description", "duration_s", "seed", "loudness_lufs", "mix",
        "voice", "phases", "instruments")
_PHASE = ("name", "share", "length_s", "instruments", "interval_s", "interval_end_s",
          "velocity", "velocity_end", "mallets", "mallets_end", "rub", "gong_waves",
          "signals")


def _schema_default(keys, name: str):
    """The schema's default of key ``name`` (a range as a list, as JSON gives it back)."""
    default = next(k.default for k in keys if k.name == name)
    return list(default) if isinstance(default, tuple) else default


#: A signal cue's keys the page edits, with the schema's defaults (a default sent back for a
#: key the cue leaves out is not written); and those it shows only (read-only).
_SIGNAL = {name: _schema_default(CUE, name) for name in ("count", "velocity")}
_SIGNAL_SHOWN = ("instrument", "at_s", "at")
#: The keys of a phase's rub (``[phases.rub]``) the page edits: all it has.
_RUB = tuple(k.name for k in RUB)
_INSTRUMENT = ("instrument", "level_db", "azimuth_deg")
_DEFAULTS = {"duration_s": "duration_s", "seed": "seed", "loudness_lufs": "loudness_lufs",
             "mix": "mix"}
#: Keys the page may set to null to remove them (the start value then holds to the end).
_NULLABLE = ("interval_end_s", "velocity_end", "mallets_end", "share", "length_s", "rub")
#: Where a new wave starts when the page asks for one and the phase has none to copy.
_NEW_WAVE = {"kind": "wave", "count": 8, "gap_s": [3.0, 4.5], "velocity": [0.12, 0.4]}


# -- finding presets -------------------------------------------------------------------------

def _sessions(folder: Path) -> dict[str, Path]:
    """Session presets of the folder (``DIR/presets``) and the shipped ones, by name."""
    own = (Path(folder) / "presets").resolve()
    shipped = shipped_dir().resolve()
    return {name: p for name, p in list_presets("sessions", own).items()
            if p.resolve().is_relative_to(own) or p.resolve().is_relative_to(shipped)}


def source_of(path: Path) -> str:
    """``shipped`` or ``folder``."""
    return "shipped" if Path(path).resolve().is_relative_to(shipped_dir().resolve()) \
        else "folder"


#: Listing entries by (file, modification time): loading a preset checks its instruments.
_LISTED: dict[tuple[str, int], dict | None] = {}


def preset_list(folder: Path) -> list[dict]:
    """``GET /api/presets``: every good session preset; broken files are left out."""
    from ..session.presets import load_session_preset

    out = []
    for name, path in _sessions(folder).items():
        try:
            key = (str(path), path.stat().st_mtime_ns)
        except OSError:
            continue
        if key not in _LISTED:
            try:
                p = load_session_preset(str(path))
                _LISTED[key] = {"title": p.display_title, "titles": dict(p.title),
                                "description": p.description,
                                "duration_s": p.defaults.duration_s}
            except PresetError:
                _LISTED[key] = None
        if _LISTED[key] is not None:
            out.append({"name": name, **_LISTED[key], "source": source_of(path)})
    return out


def find_session(folder: Path, name, field: str = "base", status: int = 400) -> Path:
    """The file of session preset ``name`` (the folder's, else shipped); a :class:`Refusal`
    with ``status`` if unknown."""
    name = safe_name(name, field, what="preset name")
    found = _sessions(folder)
    if name not in found:
        known = ", ".join(sorted(found))
        raise Refusal(status, f"unknown session preset '{name}'; known: {known}", field)
    return found[name]


#: Parsed base documents by (file, mtime, size): parsing a preset takes 50-100 ms a request.
_PARSED: dict = {}


def base_document(folder: Path, name) -> tuple[tomlkit.TOMLDocument, Path]:
    """The TOML document of preset ``name`` and its file.

    The document is shared between requests (parsed again when the file changes): read it
    or give it to :func:`apply_session` (which edits a copy), never change it.
    """
    path = find_session(folder, name)
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    doc = _PARSED.get(key)
    if doc is None:
        doc = tomlkit.parse(read_text(path))
        if len(_PARSED) >= 64:
            _PARSED.clear()
        _PARSED[key] = doc
    return doc, path


# -- the view --------------------------------------------------------------------------------

def _instrument_families(data: dict, folder: Path) -> dict[str, str | None]:
    """Session key -> family of its instrument (None if it cannot be loaded)."""
    from ..engine.library import load_instrument

    out = {}
    for key, entry in (data.get("instruments") or {}).items():
        name = entry.get("instrument", key) if isinstance(entry, dict) else key
        try:
            out[key] = load_instrument(str(name), Path(folder) / "presets").family
        except (PresetError, OSError, TypeError):
            out[key] = None
    return out


def _welcome_index(data: dict) -> int | None:
    """Index of the spoken welcome among ``[[recordings]]``: the first speech in the first
    phase (or with no phase), else None."""
    phases = data.get("phases") or []
    first = phases[0].get("name") if phases and isinstance(phases[0], dict) else None
    for i, r in enumerate(data.get("recordings") or []):
        if isinstance(r, dict) and r.get("kind", "speech") == "speech" \
                and r.get("phase") in (None, first):
            return i
    return None


def session_view(doc: tomlkit.TOMLDocument, base: str, folder: Path) -> dict:
    """SESSION of a document (see ``docs/studio.md``)."""
    data = doc.unwrap()
    d = data.get("defaults") or {}
    families = _instrument_families(data, folder)
    gongs = [k for k, f in families.items() if f in GONG_FAMILIES]
    title = data.get("title")
    welcome = _welcome_index(data)
    voice = None
    if welcome is not None:
        voice = Path(str(data["recordings"][welcome].get("file", ""))).name or None
    phases = []
    for p in data.get("phases") or []:
        waves = sum(1 for c in p.get("cues") or [] if c.get("kind") == "wave")
        strikes = p.get("instruments") or {}
        phases.append({
            "name": p.get("name"), "share": p.get("share"), "length_s": p.get("length_s"),
            "instruments": dict(strikes),
            "interval_s": p.get("interval_s", [30.0, 30.0]),
            "interval_end_s": p.get("interval_end_s"),
            "velocity": p.get("velocity", [0.4, 0.6]),
            "velocity_end": p.get("velocity_end"),
            "mallets": dict(p.get("mallets") or {"medium": 1}),
            "mallets_end": p.get("mallets_end"),
            "rub": _rub_view(p.get("rub")),
            "gong_waves": waves if waves or gongs else None,
            "signals": [{**{k: c.get(k, v) for k, v in _SIGNAL.items()},
                         **{k: c[k] for k in _SIGNAL_SHOWN if k in c}}
                        for c in p.get("cues") or [] if c.get("kind") == "signal"],
        })
    instruments = {}
    for key, e in (data.get("instruments") or {}).items():
        e = e if isinstance(e, dict) else {}
        instruments[key] = {"instrument": e.get("instrument", key),
                            "level_db": e.get("level_db", 0.0),
                            "azimuth_deg": e.get("azimuth_deg", 0.0),
                            "family": families.get(key)}
    return {
        "base": base,
        "title": {"en": title} if isinstance(title, str) else title,
        "description": data.get("description", ""),
        "duration_s": d.get("duration_s", 3600.0),
        "seed": _seed_text(d.get("seed", 0)),
        "loudness_lufs": d.get("loudness_lufs", -23.0),
        "mix": d.get("mix"),
        "voice": voice,
        "phases": phases,
        "instruments": instruments,
    }


def _rub_view(rub) -> dict | None:
    """A phase's rub as the page sees it (None: no rubs in the phase)."""
    if not isinstance(rub, dict):
        return None
    out = {k: rub[k] for k in _RUB if k in rub}
    out["instruments"] = dict(rub.get("instruments") or {})
    out.setdefault("velocity", _schema_default(RUB, "velocity"))  # sent back unchanged
    return out


# -- applying edits --------------------------------------------------------------------------

def _seed_text(seed):
    """The seed as the page gets it: a string of digits (JSON numbers in a browser are
    exact only up to 2^53; seeds go to 2^63-1)."""
    return str(seed) if isinstance(seed, int) and not isinstance(seed, bool) else seed


def _seed_value(seed):
    """The seed the page sent (a string of digits, or a number) as the integer written to
    the TOML; its range is checked by the validator as ``sointu validate`` checks it."""
    if isinstance(seed, str):
        text = seed.strip()
        if re.fullmatch(r"[+-]?[0-9]{1,40}", text):
            return int(text)
        raise Refusal(400, f"seed {seed[:40]!r} is not allowed; allowed: a whole number "
                           f"0..2^63-1", "seed")
    return seed


def _plain(value, field: str):
    """A JSON value that TOML can hold (no null inside lists or tables)."""
    if value is None:
        raise Refusal(400, f"{field}: null is not allowed here; allowed: a value", field)
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_plain(v, f"{field}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{field}.{k}") for k, v in value.items()}
    raise Refusal(400, f"{field}: {type(value).__name__} is not allowed", field)


#: What the view shows for a key the document leaves out: sent back unchanged, the key
#: stays out (the saved file does not fill up with defaults).
_VIEW_DEFAULTS = {"interval_s": [30.0, 30.0], "velocity": [0.4, 0.6],
                  "mallets": {"medium": 1}, "level_db": 0.0, "azimuth_deg": 0.0,
                  "description": "", "duration_s": 3600.0, "seed": 0,
                  "loudness_lufs": -23.0}


def _set(table, key: str, value, field: str) -> None:
    """Set ``table[key]`` only if it changes (keeping the line's comment and layout)."""
    value = _plain(value, field)
    if key not in table and key in _VIEW_DEFAULTS and value == _VIEW_DEFAULTS[key]:
        return
    old = table.get(key)
    old = old.unwrap() if hasattr(old, "unwrap") else old
    if old == value and type(old) is type(value):
        return
    if isinstance(value, dict) and isinstance(table.get(key), dict):
        t = table[key]  # an inline table edited in place
        for k in [k for k in t if k not in value]:
            del t[k]
        for k, v in value.items():
            if t.get(k) != v:
                t[k] = v
        return
    if isinstance(value, dict):
        inline = tomlkit.inline_table()
        inline.update(value)
        value = inline
    if key in table:
        table[key] = value
    else:
        table.add(key, value)


def _table(value, field: str) -> dict:
    if not isinstance(value, dict):
        raise Refusal(400, f"{field}: expected an object, got {type(value).__name__}", field)
    return value


def apply_session(doc: tomlkit.TOMLDocument, session, folder: Path) -> tomlkit.TOMLDocument:
    """A copy of ``doc`` with the edits of SESSION; raises :class:`Refusal` (400, with the
    field) for what cannot be written at all. Values are checked by :func:`check_session`."""
    session = _table(session, "session")
    unknown = sorted(set(session) - set(_TOP))
    if unknown:
        raise Refusal(400, f"{unknown[0]}: unknown key; allowed: {', '.join(_TOP)}",
                      unknown[0])
    doc = tomlkit.parse(doc.as_string())
    if "title" in session:
        title = session["title"]
        if isinstance(title, str):
            title = {"en": title}
        _set(doc, "title", _table(title, "title"), "title")
    if "description" in session:
        _set(doc, "description", session["description"], "description")
    defaults = {k: session[k] for k in _DEFAULTS if k in session}
    if "seed" in defaults:
        defaults["seed"] = _seed_value(defaults["seed"])
    if defaults:
        if "defaults" not in doc:
            doc.add("defaults", tomlkit.table())
        table = doc["defaults"]
        for key, value in defaults.items():
            if value is None and key == "mix":
                table.pop("mix", None)
            else:
                _set(table, _DEFAULTS[key], value, key)
    if "instruments" in session:
        _apply_instruments(doc, _table(session["instruments"], "instruments"))
    if "phases" in session:
        _apply_phases(doc, session["phases"], folder)
    if "voice" in session:
        _apply_voice(doc, session["voice"], folder)
    return doc


def _apply_instruments(doc, wanted: dict) -> None:
    if "instruments" not in doc:
        doc.add("instruments", tomlkit.table(is_super_table=True))
    table = doc["instruments"]
    for key in [k for k in table if k not in wanted]:
        del table[key]
    for key, entry in wanted.items():
        field = f"instruments.{key}"
        entry = _table(entry, field)
        if key not in table:
            t = tomlkit.table()
            table.add(key, t)
        t = table[key]
        for k, v in entry.items():
            if k == "family":  # shown, not set: it is the instrument's
                continue
            if k not in _INSTRUMENT:
                raise Refusal(400, f"{field}.{k}: unknown key; allowed: "
                                   f"{', '.join(_INSTRUMENT)}", f"{field}.{k}")
            if k == "instrument" and v == key and "instrument" not in t:
                continue  # the key names the instrument already
            _set(t, k, v, f"{field}.{k}")


def _apply_phases(doc, phases, folder: Path) -> None:
    if not isinstance(phases, list) or not phases:
        raise Refusal(400, "phases: expected a list of one or more phases", "phases")
    if "phases" not in doc:
        doc.add("phases", tomlkit.aot())
    aot = doc["phases"]
    while len(aot) > len(phases):
        del aot[len(aot) - 1]
    families = _instrument_families(doc.unwrap(), folder)
    gongs = [k for k, f in families.items() if f in GONG_FAMILIES]
    renamed = {}
    for i, ph in enumerate(phases):
        where = f"phases[{i}]"
        ph = _table(ph, where)
        if i >= len(aot):
            t = tomlkit.table()
            aot.append(t)
        t = aot[i]
        old, new = t.get("name"), ph.get("name")
        if isinstance(old, str) and isinstance(new, str) and new != old:
            renamed[str(old)] = new
        for key, value in ph.items():
            field = f"{where}.{key}"
            if key not in _PHASE:
                raise Refusal(400, f"{field}: unknown key; allowed: {', '.join(_PHASE)}",
                              field)
            if key == "gong_waves":
                if value is not None:
                    _set_waves(t, value, gongs, field)
            elif key == "rub" and value is not None:
                _set_rub(t, _table(value, field), field)
            elif key == "signals":
                _set_signals(t, value, field)
            elif value is None:
                if key not in _NULLABLE:
                    raise Refusal(400, f"{field}: null is not allowed here; allowed: a value",
                                  field)
                t.pop(key, None)
            else:
                _set(t, key, value, field)
    for r in doc.get("recordings") or []:  # a recording placed in a renamed phase follows it
        if r.get("phase") in renamed:
            r["phase"] = renamed[str(r["phase"])]


def _set_rub(phase, rub: dict, field: str) -> None:
    """Write a phase's ``[phases.rub]`` table: edited in place if it has one, else a new
    one placed before its cues (as the shipped presets have it)."""
    unknown = sorted(set(rub) - set(_RUB))
    if unknown:
        raise Refusal(400, f"{field}.{unknown[0]}: unknown key; allowed: {', '.join(_RUB)}",
                      f"{field}.{unknown[0]}")
    table = phase.get("rub")
    if not isinstance(table, dict):
        phase.pop("rub", None)
        table = tomlkit.table()
        table.indent(2)
        cues = phase.get("cues")
        if cues is not None:
            del phase["cues"]
        phase.add("rub", table)
        if cues is not None:
            phase.add("cues", cues)
    for key in [k for k in table if k in _RUB and k not in rub]:
        del table[key]
    for key, value in rub.items():
        if key in table or key == "velocity":  # velocity: its default is not written
            _set(table, key, value, f"{field}.{key}")
            continue
        value = _plain(value, f"{field}.{key}")  # required keys: written whatever they are
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            value = inline
        table.add(key, value)


def _set_signals(phase, signals, field: str) -> None:
    """Edit the phase's signal cues, in order: their ``count`` and ``velocity``; a count of
    0 removes that signal. The page cannot add one: it sends as many as the base preset has."""
    cues = phase.get("cues")
    at = [j for j, c in enumerate(cues or []) if c.get("kind") == "signal"]
    if not isinstance(signals, list) or len(signals) != len(at):
        raise Refusal(400, f"{field}: expected a list of the phase's {len(at)} signal(s), in "
                           f"order (count 0 removes one)", field)
    drop = []
    for k, (j, wanted) in enumerate(zip(at, signals, strict=True)):
        where = f"{field}[{k}]"
        wanted = _table(wanted, where)
        unknown = sorted(set(wanted) - set(_SIGNAL) - set(_SIGNAL_SHOWN))
        if unknown:
            raise Refusal(400, f"{where}.{unknown[0]}: unknown key; allowed: "
                               f"{', '.join([*_SIGNAL, *_SIGNAL_SHOWN])}", f"{where}.{unknown[0]}")
        count = wanted.get("count")
        if isinstance(count, int) and not isinstance(count, bool) and count == 0:
            drop.append(j)
            continue
        cue = cues[j]
        for key, default in _SIGNAL.items():
            if key in wanted and (key in cue or wanted[key] != default):
                _set(cue, key, wanted[key], f"{where}.{key}")
    for j in reversed(drop):
        del cues[j]
    if cues is not None and not len(cues):
        del phase["cues"]


def _set_waves(phase, n, gongs: list[str], field: str) -> None:
    """Make the phase have ``n`` wave cues: the last ones dropped, or copies of the last
    one (a new one on the first gong) added; waves placed by fraction are spread evenly."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 12:
        raise Refusal(400, f"{field}: {n!r} is not allowed; allowed: a whole number 0..12",
                      field)
    cues = phase.get("cues")
    waves = [j for j, c in enumerate(cues or []) if c.get("kind") == "wave"]
    if n == len(waves):
        return
    if n > 0 and not waves and not gongs:
        raise Refusal(400, f"{field}: gong waves need a gong or tam-tam among the session's "
                           f"instruments; add one first", field)
    if cues is None:
        phase.add("cues", tomlkit.aot())
        cues = phase["cues"]
    for j in reversed(waves[n:]):
        del cues[j]
    template = (cues[waves[-1]].unwrap() if waves else dict(_NEW_WAVE, instrument=gongs[0]))
    for _ in range(n - len(waves)):
        t = tomlkit.table()
        t.update({k: v for k, v in template.items() if k not in ("at", "at_s")})
        t["at"] = 0.5
        cues.append(t)
    placed = [c for c in cues if c.get("kind") == "wave" and "at_s" not in c]
    for k, c in enumerate(placed):
        c["at"] = round((k + 1) / (len(placed) + 1), 3)
    if not len(cues):
        del phase["cues"]


def _apply_voice(doc, voice, folder: Path) -> None:
    data = doc.unwrap()
    welcome = _welcome_index(data)
    if voice is None:
        if welcome is not None:
            del doc["recordings"][welcome]
            if not len(doc["recordings"]):
                del doc["recordings"]
        return
    name = safe_name(voice, "voice", what="recording")
    own = Path(folder) / "samples" / name
    from ..shipped import folder as shipped_folder

    if own.is_file():
        file = f"../samples/{name}"  # beside DIR/presets, where the studio saves presets
    elif (shipped_folder("samples") / name).is_file():
        file = name
    else:
        raise Refusal(400, f"recording '{name}' not found in {Path(folder).name}/samples; "
                           f"allowed: a recording listed by the page (upload it first)",
                      "voice")
    if welcome is not None:
        entry = doc["recordings"][welcome]
        if Path(str(entry.get("file", ""))).name != name or entry.get("file") != file:
            entry["file"] = file
        return
    phases = data.get("phases") or [{}]
    t = tomlkit.table()
    t.update({"file": file, "phase": phases[0].get("name", ""), "at_s": 2, "kind": "speech"})
    if "recordings" not in doc:
        doc.add("recordings", tomlkit.aot())
    doc["recordings"].append(t)


# -- checking --------------------------------------------------------------------------------

_PROBLEM = re.compile(r"^(?P<src>.+?)(?::(?P<line>\d+))?: (?P<key>[A-Za-z0-9_\-\[\].]+): "
                      r"(?P<msg>.*)$")
_PHASE_KEY = re.compile(r"^phases\[(\d+)\](?:\.(.*))?$")


def problem_field(key: str, data: dict) -> str | None:
    """The SESSION path of a validator key path (``defaults.seed`` -> ``seed``)."""
    if key.startswith("defaults."):
        rest = key.split(".", 1)[1]
        return {"ring_out_s": "duration_s"}.get(rest, rest if rest in _DEFAULTS else None)
    if key in ("title", "description", "instruments", "phases") or key.startswith("title."):
        return key.split(".")[0]
    if key.startswith("instruments."):
        parts = key.split(".")
        if len(parts) >= 3 and parts[2] in _INSTRUMENT:
            return ".".join(parts[:3])
        return ".".join(parts[:2])
    if key.startswith("recordings"):
        return "voice"
    m = _PHASE_KEY.match(key)
    if m:
        i, rest = m.group(1), m.group(2) or ""
        head = rest.split(".")[0].split("[")[0]
        if head == "cues":
            return _cue_field(int(i), rest, data)
        if head == "rub":  # phases[i].rub, .rub.KEY, .rub.instruments.NAME
            return f"phases[{i}]." + ".".join(x.split("[")[0] for x in rest.split(".")[:3])
        if head == "instruments" and rest.count(".") >= 1:
            return f"phases[{i}].{rest}"
        if head in _PHASE:
            return f"phases[{i}].{head}"
        return f"phases[{i}]"
    return None


def _cue_field(i: int, rest: str, data: dict) -> str:
    """The SESSION path of a problem in ``phases[i].cues[j]...``: a signal's count or
    velocity (``phases[i].signals[k].count``), else the phase's gong waves."""
    m = re.match(r"cues\[(\d+)\](?:\.(\w+))?", rest)
    try:
        cues = data["phases"][i]["cues"]
        j = int(m.group(1))
        if cues[j].get("kind") == "signal":
            k = sum(1 for c in cues[:j] if c.get("kind") == "signal")
            key = m.group(2)
            return f"phases[{i}].signals[{k}]" + (f".{key}" if key in _SIGNAL else "")
    except (AttributeError, IndexError, KeyError, TypeError):
        pass
    return f"phases[{i}].gong_waves"


def check_session(doc: tomlkit.TOMLDocument, name: str, folder: Path):
    """Validate a document as ``sointu validate`` validates ``DIR/presets/NAME.toml``.

    Returns
    -------
    (SessionPreset or None, list of {"field", "error"}, str)
        The preset when valid, the problems (the validator's lines, with the SESSION path
        they are about), and the TOML text.
    """
    from ..session.presets import session_preset_from_dict

    text = doc.as_string()
    path = Path(folder) / "presets" / f"{name}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = " ".join(str(exc).split())
        return None, [{"field": None, "error": f"{path.name}: malformed TOML: {line}"}], text
    preset, lines = session_preset_from_dict(data, path.name, path=path, text=text)
    problems = []
    for line in lines:
        line = " ".join(line.split())
        m = _PROBLEM.match(line)
        problems.append({"field": problem_field(m.group("key"), data) if m else None,
                         "error": line})
    return preset, problems, text


def is_shipped_name(name: str) -> bool:
    """Whether a shipped session preset has this name."""
    try:
        path = find_preset("sessions", name, None)
    except PresetError:
        return False
    return source_of(path) == "shipped"
