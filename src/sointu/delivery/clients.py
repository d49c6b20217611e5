"""The clients file (one gift per row, CSV from any spreadsheet) and the plan of a batch.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError, UsageError
from ..rendering.atomic import check_name_lengths
from ..rendering.formats import resolve_format
from ..rendering.markers import sidecar_paths
from ..session.timeline import SEED_LIMIT
from .manifest import MANIFEST_NAME
from .titles import (
    _UNSAFE,
    LANGUAGES,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    check_allative,
    check_name,
    check_text,
    dedication,
    gift_file_name,
    gift_seed,
    gift_title,
    title_note,
)

__all__ = ["CLIENT_COLUMNS", "Client", "read_clients", "Gift", "plan_gifts"]

#: Columns a clients file may have (``name`` is required).
CLIENT_COLUMNS = ("name", "from", "message", "lang", "file", "seed", "name_fi_allative",
                  "message_recording")
_NAME_BYTES_CAP = 255  # a 'file' cell longer than this many characters is never a name


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
    message_recording : Path or None
        ``message_recording``: the personal message as a recording (a readable audio file,
        relative to the clients file's folder).
    """

    row: int
    name: str
    sender: str | None = None
    message: str | None = None
    lang: str | None = None
    file: str | None = None
    seed: int | None = None
    allative: str | None = None
    message_recording: Path | None = None


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
    the title), ``message_recording`` (the message spoken, an audio file relative to the
    clients file's folder). Rows whose cells are all empty are ignored.

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
        ``name_fi_allative`` value, a ``message_recording`` that is missing or not audio.
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
        clients.append(_client(shown, index, row, default_lang, Path(path).parent))
    if not clients:
        raise UsageError(f"{shown}: the header is there but no client rows follow; allowed: "
                         f"one row per client with at least a name")
    return clients


def _client(shown: str, index: int, row: dict, default_lang: str, base: Path) -> Client:
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
    recording = cell("message_recording")
    if recording is not None:
        from ..session.recordings import check_recording_file

        why = check_text(recording, 4096)
        if why:
            raise bad("message_recording", f"{recording[:40]!r} {why}")
        recording = base / Path(recording).expanduser()
        why = check_recording_file(recording)
        if why:
            raise bad("message_recording", why)
    return Client(row=index, name=name, sender=cell("from"), message=cell("message"),
                  lang=lang, file=file, seed=seed, allative=cell("name_fi_allative"),
                  message_recording=recording)


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
    message_recording : Path or None
        The personal message as a recording, placed where the message is spoken.
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
    message_recording: Path | None = None

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
        Checked against each file's format (:func:`sointu.rendering.formats.resolve_format`).
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
                          note=title_note(c.name, c.lang or "fi", allative_form=c.allative),
                          message_recording=c.message_recording))
    return gifts
