"""A gift's words: recipient names, titles, seeds, the dedication and file names.

Finnish titles greet the recipient's first name in the allative case, with consonant
gradation and the common stem types ("Pekka" -> "Pekalle", "Tuomas" -> "Tuomakselle"; see
:mod:`sointu.delivery.finnish`). A name whose form is not known with confidence gets a title
that needs no inflection ("Sointurentoutus - lahja: Klaus") and a note saying so; the form
can be given (``--for-allative``, a ``name_fi_allative`` column), the whole title too
(``--title``). The seed of a gift comes from the recipient's name, so every gift sounds
different and the same gift can be rendered again bit for bit.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..session.timeline import SEED_LIMIT
from .finnish import allative

if TYPE_CHECKING:
    from .clients import Gift

__all__ = [
    "LANGUAGES", "DEFAULT_TITLES", "MAX_NAME_CHARS", "MAX_MESSAGE_CHARS", "normalise_name",
    "first_name", "finnish_allative", "gift_title", "title_note", "check_name",
    "check_allative", "gift_seed", "dedication", "gift_comment", "safe_file_name",
    "gift_file_name", "unique_path", "check_text", "GIFT_MIX_WORDS", "comment_mix", "gift_mix"
]

#: Languages of gift titles and dedications.
LANGUAGES = ("fi", "en")

#: Title's first part when the preset has no title in the gift's language.
DEFAULT_TITLES = {"fi": "Sointurentoutus", "en": "Sound relaxation"}

#: Longest recipient or giver name (characters).
MAX_NAME_CHARS = 100

#: Longest dedication message (characters).
MAX_MESSAGE_CHARS = 500
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f-\x9f]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}
_MAX_NAME_BYTES = 200  # file names: most file systems allow 255 bytes


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
    :func:`sointu.delivery.finnish.allative`.

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


#: The comment tag says which mix a gift is, in the gift's language.
GIFT_MIX_WORDS = {"fi": {"headphones": "kuulokkeille", "speakers": "kaiuttimille"},
                  "en": {"headphones": "headphone mix", "speakers": "speaker mix"}}


def gift_mix(preset, mix: str | None = None) -> str:
    """The mix a gift of ``preset`` is made in: ``mix`` if given, else the preset's, else
    the headphone mix (a gift is mostly heard on headphones)."""
    return mix or preset.defaults.mix or "headphones"


def comment_mix(comment: str) -> str | None:
    """Which mix (``headphones``, ``speakers``) a gift's comment tag names, in either
    language (the part after ``sointu VERSION``, as :func:`gift_comment` writes it); None
    if it names none."""
    parts = comment.split("; ")
    for i, part in enumerate(parts[:-1]):
        if part.startswith("sointu "):
            for words in GIFT_MIX_WORDS.values():
                for mix, word in words.items():
                    if parts[i + 1] == word:
                        return mix
    return None


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
    """``folder / name``, or ``name-2``, ``name-3`` ... before the suffix: a path that is free,
    and its chapter files too (a ``.cue`` left beside a deleted gift would stop its render)."""
    from ..rendering.markers import sidecar_paths

    def taken(path: Path) -> bool:
        return any(p.exists() or p.is_symlink() for p in (path, *sidecar_paths(path)))

    path = Path(folder) / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 2
    while taken(path):
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
