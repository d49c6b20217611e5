"""Gifts: personal renders of a session, one at a time or a whole list of clients at once.

A gift is a session rendered for one person, with a personal title ("Sointurentoutus -
Maijalle", "Sound relaxation for Maija"), a dedication in the file's comment and a seed of
its own derived from the recipient's name, so every gift sounds different and the same gift
can be rendered again bit for bit.

This module holds the rules and the machinery; ``sointu gift`` (:mod:`sointu.cli.delivery`)
is the thin command on top:

- titles (:func:`gift_title`, :func:`finnish_allative`) and file names
  (:func:`gift_file_name`, :func:`safe_file_name`, :func:`unique_path`),
- seeds (:func:`gift_seed`, :func:`normalise_name`),
- the clients file (:func:`read_clients`) and the batch plan (:func:`plan_gifts`),
- the manifest (:func:`read_manifest`, :func:`write_manifest`), safe to open in a
  spreadsheet (:func:`spreadsheet_cell`),
- what counts as a finished gift on resume (:func:`gift_file_problem`),
- the batch runner (:func:`run_batch`): one worker process per gift, at most ``jobs`` at a
  time, resumable, every row tried even when some fail, a manifest rewritten atomically as
  gifts finish, and a clean stop on Ctrl-C, SIGTERM or SIGHUP.

Finnish titles greet the recipient's first name in the allative case, with consonant
gradation and the common stem types ("Pekka" -> "Pekalle", "Tuomas" -> "Tuomakselle"; see
:mod:`sointu.render.finnish`). A name whose form is not known with confidence gets a title
that needs no inflection ("Sointurentoutus - lahja: Klaus") and a note saying so; the form
can be given (``--for-allative``, a ``name_fi_allative`` column), the whole title too
(``--title``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import multiprocessing
import multiprocessing.util
import os
import re
import signal
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from pathlib import Path

from ..errors import OutputError, SointuError, UsageError
from ..session.timeline import SEED_LIMIT
from .atomic import atomic_output, check_name_lengths, raise_on_sigterm, remove_temps_of
from .finnish import allative
from .formats import resolve_format
from .markers import sidecar_paths

__all__ = [
    "LANGUAGES",
    "DEFAULT_TITLES",
    "CLIENT_COLUMNS",
    "MANIFEST_NAME",
    "MANIFEST_COLUMNS",
    "MAX_NAME_CHARS",
    "MAX_MESSAGE_CHARS",
    "Client",
    "Gift",
    "GiftResult",
    "BatchResult",
    "normalise_name",
    "first_name",
    "finnish_allative",
    "gift_title",
    "title_note",
    "gift_comment",
    "check_name",
    "check_allative",
    "gift_seed",
    "dedication",
    "safe_file_name",
    "gift_file_name",
    "unique_path",
    "check_text",
    "read_clients",
    "plan_gifts",
    "read_manifest",
    "write_manifest",
    "spreadsheet_cell",
    "from_spreadsheet_cell",
    "gift_file_problem",
    "run_batch",
]

#: Languages of gift titles and dedications.
LANGUAGES = ("fi", "en")

#: Title's first part when the preset has no title in the gift's language.
DEFAULT_TITLES = {"fi": "Sointurentoutus", "en": "Sound relaxation"}

#: Columns a clients file may have (``name`` is required).
CLIENT_COLUMNS = ("name", "from", "message", "lang", "file", "seed", "name_fi_allative")

#: The manifest's file name inside the batch folder.
MANIFEST_NAME = "manifest.csv"

#: Columns of the manifest, in order.
MANIFEST_COLUMNS = ("file", "recipient", "seed", "title", "loudness_lufs", "true_peak_dbtp",
                    "status", "note")

#: Longest recipient or giver name (characters).
MAX_NAME_CHARS = 100
#: Longest dedication message (characters).
MAX_MESSAGE_CHARS = 500

_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f-\x9f]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}
_MAX_NAME_BYTES = 200  # file names: most file systems allow 255 bytes
_NAME_BYTES_CAP = 255  # a 'file' cell longer than this many characters is never a name


# --------------------------------------------------------------------------- names, titles


def normalise_name(name: str) -> str:
    """A person's name as compared and hashed: NFC, stripped, single spaces, casefolded.

    Parameters
    ----------
    name : str
        As written ("  maija  MEIKÄLÄINEN ").

    Returns
    -------
    str
        ``"maija meikäläinen"``; equal for the same name written with another case or
        spacing, or with composed/decomposed letters.
    """
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


def first_name(name: str) -> str:
    """The first word of ``name`` that has a letter, without punctuation around it (NFC).

    ``"Maija Meikäläinen"`` -> ``"Maija"``, ``"(Jukka-Pekka)"`` -> ``"Jukka-Pekka"``,
    ``"1. Maija"`` -> ``"Maija"``; the first word of a name without letters.
    """
    words = unicodedata.normalize("NFC", name).split()
    for word in words:
        letters = [i for i, ch in enumerate(word) if ch.isalpha()]
        if letters:
            return word[letters[0]:letters[-1] + 1]
    return words[0] if words else ""


def finnish_allative(name: str) -> str | None:
    """The recipient's first name in the Finnish allative ("to Pekka": "Pekalle").

    With consonant gradation and the common stem types ("Matti" -> "Matille", "Tuomas" ->
    "Tuomakselle", "Kaarin" -> "Kaarinille"); a double name inflects its last part
    ("Jukka-Pekka" -> "Jukka-Pekalle"); capitals are kept ("MAIJA" -> "MAIJALLE"). See
    :func:`sointu.render.finnish.allative`.

    Parameters
    ----------
    name : str
        The recipient's name; only its first word is used.

    Returns
    -------
    str or None
        None when the form is not known with confidence (a foreign name, a rare stem, a
        name with more than one form in use).
    """
    return allative(first_name(name)).form


def gift_title(preset_titles: dict | None, name: str, lang: str = "fi", *,
               allative_form: str | None = None) -> str:
    """The personal title of a gift.

    Parameters
    ----------
    preset_titles : dict of str to str, or None
        The session preset's titles per language (``SessionPreset.title``); the one in
        ``lang`` is the title's first part, else :data:`DEFAULT_TITLES`.
    name : str
        The recipient's name (the first word is used).
    lang : {"fi", "en"}
        ``fi``: "Sointurentoutus - Maijalle", or "Sointurentoutus - lahja: Klaus" when the
        allative of the first name is not known with confidence (:func:`title_note` says
        so); ``en``: "Sound relaxation for Maija".
    allative_form : str, optional
        The first name in the allative as the practitioner wrote it ("Matille"), used as
        is in a Finnish title (checked with :func:`check_allative`).

    Returns
    -------
    str

    Raises
    ------
    UsageError
        For another language.
    """
    if lang not in LANGUAGES:
        raise UsageError(f"language '{lang}' is not allowed; allowed: {', '.join(LANGUAGES)}")
    first = ((preset_titles or {}).get(lang) or DEFAULT_TITLES[lang]).strip()
    if lang == "en":
        return f"{first} for {first_name(name)}"
    form = allative_form or finnish_allative(name)
    return f"{first} - {form}" if form else f"{first} - lahja: {first_name(name)}"


def title_note(name: str, lang: str = "fi", *, allative_form: str | None = None) -> str | None:
    """Why a gift's title does not inflect the name, for the summary line (None if it does).

    Example: ``Finnish ending of 'Klaus' not known (both Klausille and Klaukselle are in
    use): titled without it; give it with --for-allative or a name_fi_allative column``.
    """
    if lang != "fi" or allative_form:
        return None
    result = allative(first_name(name))
    if result.form is not None:
        return None
    return (f"Finnish ending of '{result.name}' not known ({result.why}): titled without it; "
            f"give it with --for-allative or a name_fi_allative column")


def check_name(value: str, max_chars: int = MAX_NAME_CHARS) -> str | None:
    """Why ``value`` is not a usable name (empty, no letters, too long, a control
    character), or None if it is fine."""
    if not value.strip():
        return "is empty; allowed: the recipient's name, e.g. Maija"
    why = check_text(value, max_chars)
    if why:
        return why
    if not any(ch.isalpha() for ch in value):
        return "has no letters; allowed: a name written with letters, e.g. Maija"
    return None


def check_allative(value: str) -> str | None:
    """Why ``value`` cannot be a first name in the allative (see :func:`check_name`, and it
    must end in -lle, e.g. "Matille"), or None if it is fine."""
    why = check_name(value)
    if why:
        return why.replace("the recipient's name, e.g. Maija", "the first name in the "
                           "allative, e.g. Matille")
    if not value.casefold().endswith("lle") or not any(c.isalpha() for c in value[:-3]):
        return ("does not end in -lle after the name; allowed: the first name in the "
                "allative, e.g. Matille, Pekalle")
    return None


def gift_seed(name: str, preset_name: str) -> int:
    """The seed of a gift: its own for every recipient and preset, the same every time.

    The first 8 bytes (big-endian) of SHA-256 of ``"sointu-gift:" + normalised name + ":" +
    preset name``, reduced below 2**63.

    Parameters
    ----------
    name : str
        The recipient's name (normalised with :func:`normalise_name`).
    preset_name : str
        The session preset's name (``classic-60``).

    Returns
    -------
    int
        0 <= seed < 2**63.
    """
    text = f"sointu-gift:{normalise_name(name)}:{preset_name}"
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % SEED_LIMIT


_COMMENT_WORDS = {
    "fi": {"preset": "esiasetus", "seed": "siemen", "length": "kesto", "for": "lahja: ",
           "from": "antaja: ", "message": "viesti: "},
    "en": {"preset": "preset", "seed": "seed", "length": "length", "for": "gift for ",
           "from": "from ", "message": "message: "},
}


def dedication(recipient: str, sender: str | None = None, message: str | None = None,
               lang: str = "fi") -> str:
    """The dedication written into the file's comment (one line).

    Examples: ``lahja: Maija Meikäläinen; antaja: Pekka; viesti: Hyvää joulua!`` (fi),
    ``gift for Maija; from Pekka; message: Merry Christmas!`` (en).
    """
    words = _COMMENT_WORDS[lang]
    parts = [words["for"] + " ".join(recipient.split())]
    if sender:
        parts.append(words["from"] + " ".join(sender.split()))
    if message:
        parts.append(words["message"] + " ".join(message.split()))
    return "; ".join(parts)


def gift_comment(gift: Gift, preset_name: str, seed: int, duration_s: float,
                 mix: str = "") -> str:
    """The comment tag of a gift, all in the gift's language.

    ``esiasetus classic-60; siemen 42; kesto 1:00:00; sointu 0.1.0; lahja: Maija`` (fi),
    ``preset classic-60; seed 42; length 1:00:00; sointu 0.1.0; gift for Maija`` (en). The
    preset's own ``[metadata] comment`` is left out: it is free text in one language.

    Parameters
    ----------
    gift : Gift
    preset_name : str
    seed : int
        The composer seed the audio was made with.
    duration_s : float
        Length (s).
    mix : str
        Which mix, in the gift's language (``kuulokkeille``), after the version; "" leaves
        it out.
    """
    from .. import __version__
    from ..session.durations import format_duration

    words = _COMMENT_WORDS[gift.lang]
    parts = [f"{words['preset']} {preset_name}", f"{words['seed']} {seed}",
             f"{words['length']} {format_duration(duration_s)}", f"sointu {__version__}",
             mix, gift.dedication]
    return "; ".join(p for p in parts if p)


def _measure_file(path: Path) -> tuple[str, str]:
    """Integrated loudness and true peak of an audio file, as manifest text ("" if unread)."""
    import soundfile as sf

    from .loudness import LoudnessMeter

    try:
        with sf.SoundFile(path) as f:
            meter = LoudnessMeter(f.samplerate, f.channels)
            for block in f.blocks(65536, dtype="float32"):
                meter.process(block.reshape(len(block), -1))
        loud = meter.result()
    except Exception:  # a file we cannot read keeps blank figures rather than stopping
        return "", ""
    return f"{loud.integrated_lufs:.2f}", f"{loud.true_peak_dbtp:.2f}"


def safe_file_name(text: str, suffix: str = "") -> str:
    """``text`` made into a file name that works on every common file system.

    Letters of any language are kept (ä, ö, å ...); path separators, ``: * ? " < > |`` and
    control characters become ``_``; whitespace runs become ``-``; leading dots and
    trailing dots or spaces are removed; the name is cut to 200 UTF-8 bytes; Windows device
    names (``CON``, ``NUL`` ...) get a ``_``. An empty result becomes ``gift``.

    Parameters
    ----------
    text : str
        E.g. a title.
    suffix : str
        Appended unchanged (``.flac``).
    """
    s = unicodedata.normalize("NFC", text)
    s = _UNSAFE.sub("_", s)
    s = "".join(ch if unicodedata.category(ch)[0] != "C" else "_" for ch in s)
    s = re.sub(r"\s+", "-", s.strip())
    s = re.sub(r"-{2,}", "-", s).lstrip(".").rstrip(". ")
    budget = _MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    while len(s.encode("utf-8")) > budget:
        s = s[:-1]
    s = s.rstrip(". -") or "gift"
    if s.split(".")[0].upper() in _WINDOWS_RESERVED:
        s += "_"
    return s + suffix


def gift_file_name(title: str, suffix: str = ".flac") -> str:
    """The default file name of a gift: ``Sointurentoutus-Maijalle.flac``
    (``Sointurentoutus-lahja-Klaus.flac``: a colon before a space is left out)."""
    return safe_file_name(title.replace(": ", " "), suffix)


def unique_path(folder: Path, name: str) -> Path:
    """``folder / name``, or ``name-2``, ``name-3`` ... before the suffix: a path that is free."""
    path = Path(folder) / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 2
    while path.exists() or path.is_symlink():
        path = Path(folder) / f"{stem}-{n}{suffix}"
        n += 1
    return path


def check_text(value: str, max_chars: int) -> str | None:
    """Why ``value`` cannot go into a tag (a control character, too long), or None if fine."""
    for i, ch in enumerate(value):
        if unicodedata.category(ch) in ("Cc", "Cs"):
            what = "a line break" if ch in "\r\n" else f"control character U+{ord(ch):04X}"
            return (f"contains {what} at position {i + 1}; allowed: printable text on one "
                    f"line")
    if len(value) > max_chars:
        return f"is {len(value)} characters long; allowed: at most {max_chars}"
    return None


# --------------------------------------------------------------------------- clients file


@dataclass(frozen=True)
class Client:
    """One row of a clients file (empty cells as None).

    Attributes
    ----------
    row : int
        Row number as a spreadsheet shows it (the header is row 1).
    name : str
        Recipient, as written (stripped).
    sender : str or None
        ``from``: the giver, written as the file's artist.
    message : str or None
        Dedication message.
    lang : str or None
        ``fi`` or ``en``.
    file : str or None
        Output file name inside the batch folder.
    seed : int or None
        Explicit seed (else derived from the name).
    allative : str or None
        ``name_fi_allative``: the first name in the Finnish allative ("Matille"), used in
        a Finnish title as written.
    """

    row: int
    name: str
    sender: str | None = None
    message: str | None = None
    lang: str | None = None
    file: str | None = None
    seed: int | None = None
    allative: str | None = None


def _delimiter(first_line: str) -> str:
    """The delimiter of a CSV header line: ``,`` or ``;`` (Finnish Excel) or a tab."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_clients(path, *, default_lang: str = "fi") -> list[Client]:
    """Read and check a clients file.

    A CSV file in UTF-8 (with or without a byte-order mark), separated by commas,
    semicolons (as Excel writes in Finland) or tabs, with a header row. Columns (any
    order, any case): ``name`` (required), ``from``, ``message``, ``lang``, ``file``,
    ``seed``, ``name_fi_allative`` (the first name in the Finnish allative, "Matille", for
    the title). Rows whose cells are all empty are ignored.

    Parameters
    ----------
    path : path
        The clients file.
    default_lang : {"fi", "en"}
        Language of rows with an empty ``lang`` cell.

    Returns
    -------
    list of Client
        At least one.

    Raises
    ------
    UsageError
        One line naming the file, the row and column and what is allowed, for the first
        problem: unreadable, not UTF-8, empty, no ``name`` column, an unknown, unnamed or
        repeated column, a row with more cells than the header, an empty or too long name
        or one without letters, a control character, a bad ``lang``, ``seed``, ``file`` or
        ``name_fi_allative`` value.
    """
    shown = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"cannot read clients file {shown}: {reason}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"{shown}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; "
                         f"allowed: UTF-8 text (in Excel: save as 'CSV UTF-8')") from None
    if not text.strip():
        raise UsageError(f"{shown} is empty; expected a header row with a 'name' column "
                         f"(allowed columns: {', '.join(CLIENT_COLUMNS)}) and one row per "
                         f"client")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.split("\n")[0]),
                        strict=True)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise UsageError(f"{shown}: row {reader.line_num}: not valid CSV ({exc})") from None
    header = [unicodedata.normalize("NFC", h).strip().casefold() for h in records[0]]
    allowed = ", ".join(CLIENT_COLUMNS)
    for i, h in enumerate(header):
        if not h:
            raise UsageError(f"{shown}: row 1, column {i + 1} has no name; allowed columns: "
                             f"{allowed}")
        if h not in CLIENT_COLUMNS:
            raise UsageError(f"{shown}: row 1: unknown column '{records[0][i].strip()}'; "
                             f"allowed columns: {allowed}")
        if header.index(h) != i:
            raise UsageError(f"{shown}: row 1: column '{h}' appears twice; each column "
                             f"is allowed once")
    if "name" not in header:
        raise UsageError(f"{shown}: row 1: no 'name' column; the header row must name the "
                         f"columns, 'name' required (allowed: {allowed})")
    clients = []
    for index, cells in enumerate(records[1:], start=2):
        cells = [unicodedata.normalize("NFC", c).strip() for c in cells]
        if not any(cells):
            continue
        if len(cells) > len(header) and any(cells[len(header):]):
            raise UsageError(f"{shown}: row {index}: {len(cells)} cells but the header names "
                             f"{len(header)} columns; allowed: one cell per column (quote "
                             f"cells that contain the separator)")
        row = dict(zip(header, cells, strict=False))
        clients.append(_client(shown, index, row, default_lang))
    if not clients:
        raise UsageError(f"{shown}: the header is there but no client rows follow; allowed: "
                         f"one row per client with at least a name")
    return clients


def _client(shown: str, index: int, row: dict, default_lang: str) -> Client:
    def bad(column: str, what: str) -> UsageError:
        return UsageError(f"{shown}: row {index}, column '{column}': {what}")

    def cell(column: str) -> str | None:
        return row.get(column) or None

    name = cell("name")
    if name is None:
        raise bad("name", "is empty; allowed: the recipient's name, e.g. Maija")
    for column, check in (("name", check_name), ("name_fi_allative", check_allative)):
        value = cell(column)
        why = check(value) if value is not None else None
        if why:
            raise bad(column, f"{value[:40]!r} {why}")
    for column, limit in (("from", MAX_NAME_CHARS), ("message", MAX_MESSAGE_CHARS),
                          ("file", 4 * _NAME_BYTES_CAP)):
        value = cell(column)
        why = check_text(value, limit) if value is not None else None
        if why:
            raise bad(column, f"{value[:40]!r} {why}")
    lang = (cell("lang") or default_lang).casefold()
    if lang not in LANGUAGES:
        raise bad("lang", f"'{cell('lang')}' is not allowed; allowed: {', '.join(LANGUAGES)}")
    seed = None
    if cell("seed") is not None:
        text = cell("seed")
        if not text.isascii() or not text.isdigit() or int(text) >= SEED_LIMIT:
            raise bad("seed", f"'{text}' is not allowed; allowed: a whole number "
                              f"0..2^63-1, or empty for a seed derived from the name")
        seed = int(text)
    file = cell("file")
    if file is not None:
        if "/" in file or "\\" in file or file in (".", ".."):
            raise bad("file", f"'{file}' is not allowed; allowed: a plain file name inside "
                              f"the output folder (no / or \\), e.g. maija.flac")
        if file.startswith("."):
            raise bad("file", f"'{file}' is not allowed; allowed: a name that does not start "
                              f"with a dot, e.g. maija.flac")
        if _UNSAFE.search(file):
            raise bad("file", f"'{file}' is not allowed; allowed: a file name without "
                              f': * ? " < > |')
    return Client(row=index, name=name, sender=cell("from"), message=cell("message"),
                  lang=lang, file=file, seed=seed, allative=cell("name_fi_allative"))


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Gift:
    """One gift to render.

    Attributes
    ----------
    row : int or None
        Row of the clients file (None for a single gift).
    recipient : str
        Name as written.
    sender : str or None
        Giver (the file's artist).
    message : str or None
        Dedication message.
    lang : str
        ``fi`` or ``en``.
    title : str
        The personal title.
    seed : int
        Composer seed.
    path : Path
        Output file.
    note : str or None
        Said in the summary: why the title does not inflect the name (:func:`title_note`).
    redo : bool
        Its file exists but is not this gift (another plan, or incomplete): render it
        again and replace the file when the new one is complete.
    """

    row: int | None
    recipient: str
    sender: str | None
    message: str | None
    lang: str
    title: str
    seed: int
    path: Path
    note: str | None = None
    redo: bool = False

    @property
    def dedication(self) -> str:
        """The dedication for the file's comment (see :func:`dedication`)."""
        return dedication(self.recipient, self.sender, self.message, self.lang)


def plan_gifts(clients: Sequence[Client], preset, folder, *, source: str = "clients file",
               bit_depth=None, quality=None, sample_rate: int, frames: int) -> list[Gift]:
    """Turn checked clients into gifts: titles, seeds and output files in ``folder``.

    Parameters
    ----------
    clients : sequence of Client
        From :func:`read_clients`.
    preset : SessionPreset
        The session (its ``name`` and ``title`` are used).
    folder : path
        Output folder.
    source : str
        How to name the clients file in messages.
    bit_depth, quality
        Checked against each file's format (:func:`sointu.render.formats.resolve_format`).
    sample_rate : int
        Hz, for the format check.
    frames : int
        Length, for the format check.

    Returns
    -------
    list of Gift
        In the clients' order.

    Raises
    ------
    UsageError
        One line with row and column: two gifts would get the same file (compared without
        case, as on case-insensitive file systems), a file named like the manifest, a
        name too long for the folder's file system (in bytes, its sidecars included), or a
        format that cannot take the options.
    """
    gifts: list[Gift] = []
    used: dict[str, int] = {}
    for c in clients:
        title = gift_title(preset.title, c.name, c.lang, allative_form=c.allative)
        column = "file" if c.file else "name"
        name = c.file or gift_file_name(title)
        key = unicodedata.normalize("NFC", name).casefold()
        if key == MANIFEST_NAME:
            raise UsageError(f"{source}: row {c.row}, column '{column}': '{name}' is the "
                             f"manifest's name; allowed: another file name")
        if key in used:
            hint = ("" if c.file else "; add a 'file' column to give the gifts different "
                    "names")
            raise UsageError(f"{source}: row {c.row}, column '{column}': the file '{name}' is "
                             f"already the file of row {used[key]}; allowed: one file per "
                             f"gift{hint}")
        used[key] = c.row
        path = Path(folder) / name
        try:
            check_name_lengths([path, *sidecar_paths(path)])
        except OutputError as exc:
            raise UsageError(f"{source}: row {c.row}, column '{column}': {exc}") from None
        try:
            resolve_format(name, bit_depth=bit_depth, quality=quality,
                           sample_rate=sample_rate, frames=frames)
        except UsageError as exc:
            raise UsageError(f"{source}: row {c.row}, column '{column}': {exc}") from None
        seed = c.seed if c.seed is not None else gift_seed(c.name, preset.name)
        gifts.append(Gift(row=c.row, recipient=c.name, sender=c.sender, message=c.message,
                          lang=c.lang or "fi", title=title, seed=seed,
                          path=Path(folder) / name,
                          note=title_note(c.name, c.lang or "fi", allative_form=c.allative)))
    return gifts


# --------------------------------------------------------------------------- the manifest


#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_cell(text: str) -> str:
    """``text`` as a manifest cell that a spreadsheet shows as text, never as a formula.

    A cell starting with ``= + - @``, a tab or a carriage return gets a leading ``'`` (as
    spreadsheet-safe exports do: the spreadsheet shows the text after it); so does one
    that already starts with ``'``, so that :func:`from_spreadsheet_cell` gives back
    exactly ``text``. Plain numbers (``-16.00``) stay numbers.
    """
    if text.startswith(_FORMULA_START + ("'",)) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def from_spreadsheet_cell(cell: str) -> str:
    """The text a manifest cell was made from (undoes :func:`spreadsheet_cell`)."""
    if cell.startswith("'") and cell[1:].startswith(_FORMULA_START + ("'",)):
        return cell[1:]
    return cell


def read_manifest(path) -> dict[str, dict[str, str]]:
    """The rows of an existing manifest by file name ({} if there is none).

    Cells are read back as they were before :func:`spreadsheet_cell`.

    Raises
    ------
    UsageError
        The file exists but is not a sointu manifest (unreadable, not UTF-8 CSV, no
        ``file`` column): one line; it is left untouched.
    """
    path = Path(path)
    if not path.exists():
        return {}
    try:
        text = path.read_bytes().decode("utf-8-sig")  # no newline translation: \r in a cell stays
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path} is not a readable sointu manifest ({exc}); move it away "
                         f"and run again") from None
    if rows and "file" not in rows[0]:
        raise UsageError(f"{path} is not a sointu manifest (no 'file' column); move it away "
                         f"and run again")
    out = {}
    for r in rows:
        row = {k: from_spreadsheet_cell(r.get(k) or "") for k in MANIFEST_COLUMNS}
        if row["file"]:
            out[row["file"]] = row
    return out


def write_manifest(path, rows: Sequence[dict]) -> None:
    """Write the manifest atomically (a temporary file renamed over the old one).

    Every cell goes through :func:`spreadsheet_cell`: a recipient written ``=HYPERLINK(..)``
    or ``+Maija`` is shown as that text in a spreadsheet, not run as a formula.

    Parameters
    ----------
    path : path
        ``DIR/manifest.csv``.
    rows : sequence of dict
        Keys :data:`MANIFEST_COLUMNS`.
    """
    buf = io.StringIO(newline="")
    # CRLF as RFC 4180 and spreadsheets have it; a cell with a line break is then quoted
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: spreadsheet_cell(str(row.get(k, "") or ""))
                         for k in MANIFEST_COLUMNS})
    with atomic_output(path, force=True) as tmp:
        tmp.write_text(buf.getvalue(), "utf-8")


# --------------------------------------------------------------------------- the batch


@dataclass(frozen=True)
class GiftResult:
    """What rendering one gift measured (returned by the ``render_one`` callable)."""

    loudness_lufs: float
    true_peak_dbtp: float
    bytes: int = 0
    wall_s: float = 0.0


@dataclass
class BatchResult:
    """What a batch did.

    Attributes
    ----------
    rendered, skipped : list of Gift
        Written now / already there.
    failed : list of (Gift, str)
        With the one-line reason.
    not_started : list of Gift
        Left for a later run (after a failure).
    manifest : Path
    """

    rendered: list
    skipped: list
    failed: list
    not_started: list
    manifest: Path


class _QuietHelpers:
    """Registered with :func:`multiprocessing.util.register_after_fork` in a worker: the
    processes the render forks to measure loudness ignore Ctrl-C (the worker stops them)
    and die quietly on SIGTERM instead of printing a traceback."""

    @staticmethod
    def reset(_obj) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


_QUIET_HELPERS = _QuietHelpers()
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def _identity(path: Path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


class _Interrupt:
    """A worker's SIGINT handler: raise KeyboardInterrupt once, unless the gift's file is
    already in place (then the render is only finishing, and its result must reach the
    parent: the interrupt is dropped)."""

    def __init__(self, path: Path):
        self.path = path
        self.before = _identity(path)
        self.done = False

    def __call__(self, signum, frame):
        if self.done:
            return
        self.done = True
        now = _identity(self.path)
        if now is not None and now != self.before:
            return
        raise KeyboardInterrupt


def _child(render_one, gift: Gift, conn) -> None:
    """Worker process: render one gift, send ("ok", GiftResult) or ("error", line)."""
    # The handler raises once, so the cleanup of the temporary file is never cut short.
    # Its own process group: Ctrl-C in a terminal reaches only the parent, which passes it on
    # once (and can kill the worker with its helpers as a last resort).
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, _Interrupt(gift.path))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    multiprocessing.util.register_after_fork(_QUIET_HELPERS, _QuietHelpers.reset)
    try:
        # Blocked by the parent while it forked: a Ctrl-C that came meanwhile is delivered
        # the moment it is unblocked, so this must happen inside the try.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        try:
            msg = ("ok", render_one(gift))
        except SointuError as exc:
            msg = ("error", " ".join(str(exc).split()))
        except Exception as exc:  # reported as one line by the parent; the batch stops
            msg = ("error", f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:
        sys.exit(130)
    conn.send(msg)
    conn.close()


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _remove_stale_sidecars(path: Path) -> None:
    """Remove the cue sheet and chapter list of a gift whose audio file was deleted.

    They are written together with the audio and describe only it; left behind they would
    stop the gift from being rendered again (renders never overwrite), and the new render
    writes them again identically.
    """
    if path.exists() or path.is_symlink():
        return
    for side in sidecar_paths(path):
        if side.is_file() and not side.is_symlink():
            side.unlink()


def gift_file_problem(gift: Gift, *, preset_name: str, frames: int, sample_rate: int,
                      bit_depth=None, quality=None) -> str | None:
    """Why the file at ``gift.path`` does not count as this gift, or None when it does.

    A finished gift is a regular file that libsndfile opens, in the planned format (major
    format and subtype: the codec, or the bit depth of WAV and FLAC), at the planned sample
    rate, in stereo, exactly ``frames`` frames long with its last second decodable (a file
    cut short is not finished), and whose tags name this gift: its title, and the preset
    and seed in its comment.

    Parameters
    ----------
    gift : Gift
        The plan (title, seed, path).
    preset_name : str
        The session preset's name (``classic-60``).
    frames : int
        Planned length (frames).
    sample_rate : int
        Hz.
    bit_depth, quality
        As given to the batch (see :func:`sointu.render.formats.resolve_format`).

    Returns
    -------
    str or None
        A short reason ("its seed is not 123"), or None.
    """
    import soundfile as sf

    path = gift.path
    if path.is_symlink() or not path.is_file():
        return "it is not a regular file"
    if path.stat().st_size == 0:
        return "it is empty (0 bytes)"
    fmt = resolve_format(path, bit_depth=bit_depth, quality=quality, sample_rate=sample_rate,
                         frames=frames)
    try:
        with sf.SoundFile(path) as f:
            kind = (f.format, f.subtype)
            rate, channels, length = f.samplerate, f.channels, f.frames
            meta = f.copy_metadata()
            tail = min(length, rate)
            got = tail
            if length == frames and tail:
                f.seek(length - tail)
                got = len(f.read(tail, dtype="float32"))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        return f"it cannot be read as audio ({' '.join(str(exc).split())})"
    if kind != (fmt.format, fmt.subtype):
        return f"it is {kind[0]} {kind[1]}, planned {fmt.format} {fmt.subtype}"
    if (rate, channels) != (sample_rate, 2):
        return f"it is {channels} channels at {rate} Hz, planned 2 at {sample_rate} Hz"
    if length != frames:
        return f"it is {length} frames long, planned {frames}"
    if got != tail:
        return "it is cut short (its end does not decode)"
    title = meta.get("title", "")
    if title != gift.title:
        return f"its title is {title!r}, planned {gift.title!r}"
    comment = meta.get("comment", "")
    if not re.search(rf"(?<![0-9]){gift.seed}(?![0-9])", comment):
        return f"its seed is not {gift.seed}"
    if not re.search(rf"(?<![\w-]){re.escape(preset_name)}(?![\w-])", comment):
        return f"it is not of preset {preset_name}"
    return None


def run_batch(gifts: Sequence[Gift], render_one: Callable[[Gift], GiftResult], folder, *,
              jobs: int = 2, force: bool = False,
              report: Callable[[str, Gift, object], None] | None = None,
              stop_timeout_s: float = 10.0,
              check: Callable[[Gift], str | None] | None = None,
              prepare: Callable[[], None] | None = None) -> BatchResult:
    """Render many gifts in worker processes; resumable, with a manifest kept up to date.

    A gift whose file exists is skipped when it counts as finished (``check``, e.g.
    :func:`gift_file_problem`; files only ever appear complete: renders write a temporary
    file and rename it); otherwise it is rendered again with ``redo`` set, and the old
    file is replaced only when the new one is complete. ``force`` renders every gift again.
    The ``.cue`` and ``.chapters.json`` files left beside a deleted gift are removed before
    it is rendered again.

    A gift that fails does not stop the others: every row is tried, the failed ones are
    returned (and listed in the manifest with status ``failed`` and the reason).
    ``folder/manifest.csv`` is written at the start and rewritten atomically whenever a
    gift is done; it lists every gift of the batch that is finished or failed, rows of
    skipped files kept from the previous manifest, and rows of other files in the folder
    that the previous manifest listed.

    Parameters
    ----------
    gifts : sequence of Gift
        From :func:`plan_gifts` (files inside ``folder``).
    render_one : callable
        ``render_one(gift) -> GiftResult``, run in a worker process (a module-level
        function where ``fork`` is unavailable). It must write ``gift.path`` atomically,
        replacing an existing file when ``gift.redo``.
    folder : path
        The batch folder (exists).
    jobs : int
        Worker processes at a time (>= 1; never more than there are gifts to render).
    force : bool
        Render gifts whose file exists again (the render replaces it).
    report : callable, optional
        ``report(event, gift, detail)`` in this process, event ``"skipped"`` (detail None),
        ``"redo"`` (why the file there does not count), ``"rendered"`` (GiftResult) or
        ``"failed"`` (one-line reason).
    stop_timeout_s : float
        On an interrupt, how long (s) workers get to clean up before they and their helper
        processes are killed (their temporary files are then removed here).
    check : callable, optional
        ``check(gift) -> reason or None`` for a gift whose file exists; None counts it as
        finished. Default: any existing file counts.
    prepare : callable, optional
        Called once before the first worker starts (not at all when every gift is there).

    Returns
    -------
    BatchResult

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, SIGTERM or SIGHUP (as :class:`~sointu.render.atomic.Terminated`), after
        the workers stopped, their temporary files are gone and the manifest lists what is
        done.
    UsageError
        An existing ``manifest.csv`` that is not sointu's.
    """
    folder = Path(folder)
    manifest = folder / MANIFEST_NAME
    old = read_manifest(manifest)
    report = report or (lambda event, gift, detail: None)
    gifts = list(gifts)
    state: dict[int, str] = {}
    results: dict[int, GiftResult] = {}
    failed: list = []
    reasons: dict[int, str] = {}
    todo: list[int] = []
    for i, g in enumerate(gifts):
        there = g.path.exists() or g.path.is_symlink()
        problem = check(g) if there and not force and check is not None else None
        if there and not force and problem is None:
            state[i] = "skipped"
            report("skipped", g, None)
            continue
        if problem is not None:
            gifts[i] = g = replace(g, redo=True)
            reasons[i] = f"not finished: {problem}"
            report("redo", g, problem)
        state[i] = "pending"
        todo.append(i)

    measured: dict[int, tuple[str, str]] = {}

    def rows() -> list[dict]:
        out, names = [], set()
        for i, g in enumerate(gifts):
            names.add(g.path.name)
            if state[i] == "rendered":
                r = results[i]
                out.append(_row(g, "rendered", f"{r.loudness_lufs:.2f}",
                                f"{r.true_peak_dbtp:.2f}"))
            elif state[i] == "failed":
                out.append(_row(g, "failed", "", "", reasons[i]))
            elif g.redo:  # the file there is not this gift (yet)
                out.append(_row(g, "pending", "", "", reasons[i]))
            elif g.path.is_file():
                status = "skipped" if state[i] == "skipped" else "rendered"
                if old.get(g.path.name, {}).get("loudness_lufs"):
                    out.append({**old[g.path.name], "status": status, "note": ""})
                else:
                    # complete, but its worker was stopped before it reported: measure it
                    if i not in measured:
                        measured[i] = _measure_file(g.path)
                    out.append(_row(g, status, *measured[i]))
        for name, row in old.items():
            if name not in names and (folder / name).is_file():
                out.append(row)
        return out

    write_manifest(manifest, rows())
    if todo and prepare is not None:
        prepare()
    jobs = max(1, min(int(jobs), len(todo) or 1))
    ctx = _context()
    running: dict[int, tuple] = {}  # gift index -> (process, connection)
    queue = list(todo)
    try:
        with raise_on_sigterm():
            while queue or running:
                while queue and len(running) < jobs:
                    i = queue.pop(0)
                    _remove_stale_sidecars(gifts[i].path)
                    receiver, sender = ctx.Pipe(duplex=False)
                    proc = ctx.Process(target=_child, args=(render_one, gifts[i], sender),
                                       name=f"sointu-gift-{i}")
                    # no interrupt between starting a worker and knowing it (so it is
                    # always stopped); the worker unblocks once its handlers are set
                    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
                    try:
                        proc.start()
                        running[i] = (proc, receiver)
                        state[i] = "running"
                    finally:
                        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
                    sender.close()
                if not running:
                    break
                ready = wait([c for _, c in running.values()] +
                             [p.sentinel for p, _ in running.values()])
                for i in [i for i, (p, c) in running.items() if c in ready or
                          p.sentinel in ready]:
                    proc, conn = running.pop(i)
                    msg = _receive(conn)
                    proc.join()
                    conn.close()
                    if msg is None:
                        msg = ("error", f"the worker stopped with exit code {proc.exitcode}")
                    if msg[0] == "ok":
                        state[i], results[i] = "rendered", msg[1]
                        write_manifest(manifest, rows())
                        report("rendered", gifts[i], msg[1])
                    else:
                        state[i] = "failed"
                        reasons[i] = msg[1]
                        failed.append((gifts[i], msg[1]))
                        remove_temps_of(folder, proc.pid)
                        write_manifest(manifest, rows())
                        report("failed", gifts[i], msg[1])
    except KeyboardInterrupt:
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None
        try:
            _stop_workers(folder, running, results, state, stop_timeout_s)
            write_manifest(manifest, rows())
        finally:
            if old_int is not None:
                signal.signal(signal.SIGINT, old_int)
        raise
    return BatchResult(rendered=[gifts[i] for i in sorted(results)],
                       skipped=[g for i, g in enumerate(gifts) if state[i] == "skipped"],
                       failed=failed, not_started=[gifts[i] for i in queue],
                       manifest=manifest)


def _row(g: Gift, status: str, loudness: str, peak: str, note: str = "") -> dict:
    return {"file": g.path.name, "recipient": g.recipient, "seed": str(g.seed),
            "title": g.title, "loudness_lufs": loudness, "true_peak_dbtp": peak,
            "status": status, "note": note}


def _receive(conn):
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        return None


def _stop_workers(folder: Path, running: dict, results: dict, state: dict,
                  timeout_s: float) -> None:
    """Interrupt every worker once, wait, kill stragglers, keep results that arrived."""
    for proc, _ in running.values():
        if proc.is_alive():
            try:
                os.kill(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout_s
    for i, (proc, conn) in running.items():
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():  # last resort: the worker and its measuring helpers
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            proc.join()
        msg = _receive(conn)
        conn.close()
        if msg is not None and msg[0] == "ok":
            state[i], results[i] = "rendered", msg[1]
        else:
            state[i] = "stopped"
        remove_temps_of(folder, proc.pid)
    running.clear()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
