"""Delivery: a session rendered as a personal gift, for one person or a whole list of clients.

A gift is a session rendered for one person, with a personal title ("Sointurentoutus -
Maijalle", "Sound relaxation for Maija"), a dedication in the file's comment and a seed of
its own derived from the recipient's name. ``sointu gift`` (:mod:`sointu.cli.delivery`) is
the thin command on top; rendering reuses :mod:`sointu.rendering`.

- :mod:`.titles`: names, titles, seeds, the dedication and file names;
- :mod:`.finnish`: the first name in the Finnish allative ("Pekka" -> "Pekalle");
- :mod:`.clients`: the clients file and the plan of a batch;
- :mod:`.manifest`: the batch's ``manifest.csv``, safe to open in a spreadsheet;
- :mod:`.batch`: the batch runner, one worker process per gift, resumable.

The names below are the package's API, importable from ``sointu.delivery``.
"""

from __future__ import annotations

from .batch import (
    BatchResult,
    GiftResult,
    gift_file_problem,
    run_batch,
)
from .clients import (
    CLIENT_COLUMNS,
    Client,
    Gift,
    plan_gifts,
    read_clients,
)
from .manifest import (
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    from_spreadsheet_cell,
    read_manifest,
    spreadsheet_cell,
    write_manifest,
)
from .titles import (
    DEFAULT_TITLES,
    GIFT_MIX_WORDS,
    LANGUAGES,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    check_allative,
    check_name,
    check_text,
    comment_mix,
    dedication,
    finnish_allative,
    first_name,
    gift_comment,
    gift_file_name,
    gift_mix,
    gift_seed,
    gift_title,
    normalise_name,
    safe_file_name,
    title_note,
    unique_path,
)

__all__ = [
    "LANGUAGES", "DEFAULT_TITLES", "MAX_NAME_CHARS", "MAX_MESSAGE_CHARS", "normalise_name",
    "first_name", "finnish_allative", "gift_title", "title_note", "check_name",
    "check_allative", "gift_seed", "dedication", "gift_comment", "safe_file_name",
    "gift_file_name", "unique_path", "check_text", "CLIENT_COLUMNS", "Client", "read_clients",
    "Gift", "plan_gifts", "MANIFEST_NAME", "MANIFEST_COLUMNS", "spreadsheet_cell",
    "from_spreadsheet_cell", "read_manifest", "write_manifest", "GiftResult", "BatchResult",
    "gift_file_problem", "run_batch", "GIFT_MIX_WORDS", "comment_mix",
    "gift_mix"
]
