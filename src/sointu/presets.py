"""Finding and reading preset files (TOML): shipped presets, ./presets and explicit paths.

Presets are data: nothing in them is executed. This module only finds files and parses TOML
into plain dicts with error messages that name file, line and column; the meaning of the keys
is checked by the engine (instruments) and the session loader (sessions).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from .errors import PresetError
from .shipped import folder

__all__ = [
    "shipped_dir",
    "search_dirs",
    "read_text",
    "read_toml",
    "find_preset",
    "list_presets",
]


def shipped_dir() -> Path:
    """The folder of presets shipped with sointu, in a checkout or any install (see shipped)."""
    return folder("presets")


def search_dirs(kind: str, extra: Path | None = None) -> list[Path]:
    """Folders searched for presets of one kind ('instruments' or 'sessions'), first wins.

    Order: an explicit folder, then ``./presets/<kind>`` and ``./presets`` in the current
    directory, then the shipped presets.
    """
    dirs: list[Path] = []
    if extra is not None:
        dirs += [Path(extra) / kind, Path(extra)]
    cwd = Path.cwd() / "presets"
    dirs += [cwd / kind, cwd, shipped_dir() / kind]
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [s.resolve() for s in seen]:
            seen.append(d)
    return seen


def read_text(path: Path) -> str:
    """The text of a preset file: UTF-8, a leading byte order mark (BOM) dropped.

    Raises
    ------
    PresetError
        No such file, a folder, unreadable, or not UTF-8: then the line and column of the
        first bad byte and the fix ("save the file as UTF-8").
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PresetError(f"{path}: no such preset file") from None
    except IsADirectoryError:
        raise PresetError(f"{path}: is a folder, expected a .toml preset file") from None
    except OSError as exc:
        raise PresetError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise PresetError(_not_utf8(path, data, exc.start)) from None


def _not_utf8(path: Path, data: bytes, start: int) -> str:
    """One line: where the first byte that is not UTF-8 is, what it may be, the fix."""
    line_start = data.rfind(b"\n", 0, start) + 1
    line = data.count(b"\n", 0, start) + 1
    column = len(data[line_start:start].decode("utf-8", "replace")) + 1
    byte = data[start]
    guess = bytes([byte]).decode("cp1252", "replace")
    what = f" ('{guess}' in Latin-1/Windows-1252)" if guess.isprintable() and byte > 0x7F else ""
    return (f"{path}: not UTF-8 text: byte 0x{byte:02x}{what} at line {line}, column "
            f"{column}; save the file as UTF-8 (an editor's 'Save as' or 'Encoding' menu)")


_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
_COMMA_DECIMAL = re.compile(r"(?<![\w.])([-+]?\d+),(\d+)(?![\w.])")


def read_toml(path: Path) -> dict:
    """Parse one TOML file; a malformed file raises PresetError naming file, line and column.

    A byte order mark is accepted; text that is not UTF-8 and decimal commas (``0,5``) are
    reported with their line, column and the fix.
    """
    path = Path(path)
    text = read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)"; keep it on one line.
        msg = " ".join(str(exc).split())
        at = _TOML_AT.search(msg)
        if at:
            line = int(at.group(1))
            lines = text.splitlines()
            comma = _COMMA_DECIMAL.search(lines[line - 1]) if line <= len(lines) else None
            if comma:
                whole, frac = comma.groups()
                raise PresetError(
                    f"{path}: malformed TOML: decimal comma at line {line}, column "
                    f"{comma.start() + len(whole) + 1}; write {whole}.{frac}, not "
                    f"{whole},{frac}") from None
        raise PresetError(f"{path}: malformed TOML: {msg}") from None


def list_presets(kind: str, extra: Path | None = None) -> dict[str, Path]:
    """Preset name -> file for every preset of one kind found in the search folders."""
    found: dict[str, Path] = {}
    for d in search_dirs(kind, extra):
        for f in sorted(d.glob("*.toml")):
            if d.name == kind or _looks_like(kind, f):
                found.setdefault(f.stem, f)
    return found


#: A top-level key that only presets of that kind have, to sort a flat ./presets folder.
_MARKER = {"instruments": "family", "sessions": "phases"}


def _looks_like(kind: str, path: Path) -> bool:
    """Whether a file in a flat preset folder is of ``kind`` (malformed files, and files
    with neither kind's key, count as both, so that listing or using them names the
    problem)."""
    try:
        data = read_toml(path)
    except PresetError:
        return True
    return _MARKER[kind] in data or not any(key in data for key in _MARKER.values())


def find_preset(kind: str, name_or_path: str, extra: Path | None = None) -> Path:
    """Resolve a preset given by name (``classic-60``) or by path (``my/bowl.toml``)."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or "/" in name_or_path:
        if not p.is_file():
            raise PresetError(f"{name_or_path}: no such preset file")
        return p
    known = list_presets(kind, extra)
    if name_or_path in known:
        return known[name_or_path]
    names = ", ".join(sorted(known)) or "none found"
    singular = kind.rstrip("s")
    raise PresetError(f"unknown {singular} '{name_or_path}'; known: {names}")
