"""The manifest of a batch (``manifest.csv``): one row per gift, safe to open in a
spreadsheet (a cell that would start a formula is quoted), written atomically.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from ..rendering.atomic import atomic_output

__all__ = [
    "MANIFEST_NAME", "MANIFEST_COLUMNS", "spreadsheet_cell", "from_spreadsheet_cell",
    "read_manifest", "write_manifest"
]

#: The manifest's file name inside the batch folder.
MANIFEST_NAME = "manifest.csv"

#: Columns of the manifest, in order.
MANIFEST_COLUMNS = ("file", "recipient", "seed", "title", "loudness_lufs", "true_peak_dbtp",
                    "status", "note")


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
