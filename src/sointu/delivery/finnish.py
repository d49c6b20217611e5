"""The allative ("to Pekka": Pekalle) of Finnish first names, or an honest "not known".

A gift's Finnish title greets its recipient in the allative case. Most Finnish first names
inflect by a few rules (Kotus, *Etunimien taivutus*):

- ``kk``, ``pp``, ``tt`` before the last vowel become ``k``, ``p``, ``t`` (consonant
  gradation): Pekka -> Pekalle, Matti -> Matille, Atte -> Atelle, Hilkka -> Hilkalle;
- a single ``k``, ``p``, ``t`` (or ``nt``, ``lk`` ...) does not alternate in a name:
  Outi -> Outille, Unto -> Untolle, Jouko -> Joukolle;
- any other vowel-final name takes ``-lle``: Maija -> Maijalle, Kai -> Kaille;
- Finnish ``-as``, ``-os``, ``-us`` names take the ``-kse-`` stem: Tuomas -> Tuomakselle,
  Markus -> Markukselle (``-es`` and ``-is`` names are in the table: Johannes, Iiris; an
  English James or Travis is not inflected that way);
- ``-nen`` becomes ``-selle``: Nieminen -> Niemiselle;
- a name ending in ``l``, ``m``, ``n``, ``r`` or ``k`` takes ``-ille``: Kaarin -> Kaarinille,
  Mikael -> Mikaelille;
- a double name inflects its last part: Jukka-Pekka -> Jukka-Pekalle.

Names the rules would get wrong or cannot settle are listed in ``finnish_names.toml``:
``[known]`` (Satu -> Sadulle, like the word *satu*) and ``[unknown]`` (Sointu, Klaus ...:
more than one form is in use). The rules are a table (:data:`RULES`), tried in order; a name
no rule covers with confidence (a foreign ``-s`` or ``-tte`` name, a final ``t``, ``d``,
``x`` ..., digits or punctuation) is *unknown*, and the caller writes a title that needs no
inflection rather than a wrong one.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources

__all__ = ["Allative", "Rule", "RULES", "allative", "name_table"]

_V = "aeiouyäöåáàâéèêëíìîïóòôúùûüý"  # vowel letters (casefolded)
#: Letters of native Finnish words (``g`` only after ``n``); other letters mark a foreign name.
_NATIVE = set("adeghijklmnoprstuvyäö")
_FOREIGN_SPELLING = re.compile(r"(?<!n)g|th|ph")


@dataclass(frozen=True)
class Rule:
    """One row of :data:`RULES`.

    Attributes
    ----------
    pattern : re.Pattern
        Matched (``search``) against the casefolded name.
    stem : str or None
        ``re.sub`` replacement that turns the name into the stem; None: the name is unknown.
    ending : str
        Added to the stem (``lle``, ``ille``, ``elle``).
    native_only : bool
        Applies only to names spelt with native Finnish letters; a foreign name that
        matches is unknown.
    why : str
        What the rule does, or why a name it matches is unknown.
    """

    pattern: re.Pattern
    stem: str | None
    ending: str
    native_only: bool
    why: str


def _rule(pattern: str, stem: str | None, ending: str, native_only: bool, why: str) -> Rule:
    return Rule(re.compile(pattern), stem, ending, native_only, why)


#: The rules, tried in order; the first whose pattern matches decides.
RULES: tuple[Rule, ...] = (
    _rule(r"ette$", None, "", False,
          "a French -ette name: both -etelle and -ettelle are in use"),
    _rule(r"(ier|ean)$", None, "", False,
          "a French name whose last letters are not pronounced"),
    _rule(r"([kpt])\1y$", None, "", False,
          "a double k, p or t before a final y (a foreign name) may or may not alternate"),
    _rule(r"([kpt])\1([aeiouäö])$", r"\1\2", "lle", True,
          "kk, pp, tt before the last vowel become k, p, t"),
    _rule(r"nen$", "se", "lle", True, "-nen becomes -se-"),
    _rule(rf"[{_V}]$", r"\g<0>", "lle", False,
          "a final vowel takes -lle; a single k, p, t does not alternate in a name"),
    _rule(rf"^(.*[{_V}].*[^{_V}].*[aou])(?<!aa|oo|uu)s$", r"\1ks", "elle", True,
          "a Finnish -as, -os, -us name takes the -kse- stem"),
    _rule(r"[lmnrk]$", r"\g<0>", "ille", False, "a final l, m, n, r or k takes -ille"),
)


@dataclass(frozen=True)
class Allative:
    """The allative of a first name, and how sure it is.

    Attributes
    ----------
    name : str
        The name looked at (NFC).
    form : str or None
        The allative ("Pekalle"), or None when it is not known with confidence.
    how : {"table", "rule", "unknown"}
        Where ``form`` came from: the table of names, a rule, or nowhere.
    why : str
        The rule applied, the table's note, or why the name is unknown.
    """

    name: str
    form: str | None
    how: str
    why: str


@functools.cache
def name_table() -> tuple[dict[str, str], dict[str, str]]:
    """The table of names: (known, unknown), casefolded name -> allative / reason.

    Read once from ``finnish_names.toml`` beside this module.
    """
    text = resources.files(__package__).joinpath("finnish_names.toml").read_text("utf-8")
    data = tomllib.loads(text)
    known = {k.casefold(): v for k, v in data["known"].items()}
    unknown = {k.casefold(): v for k, v in data["unknown"].items()}
    return known, unknown


def _fit_case(word: str, form: str) -> str:
    """``form`` (lower case) written in ``word``'s case: the letters they share are kept as
    written, the new ones follow (upper case after an all-capital name)."""
    shared = 0
    while shared < min(len(word), len(form)) and word[shared].lower() == form[shared]:
        shared += 1
    tail = form[shared:]
    return word[:shared] + (tail.upper() if word.isupper() and len(word) > 1 else tail)


def _native(word: str) -> bool:
    return set(word) <= _NATIVE and not _FOREIGN_SPELLING.search(word)


def _last_part(part: str) -> tuple[str | None, str, str]:
    """(lower-case allative or None, how, why) of one name without hyphens."""
    word = part.lower()
    known, unknown = name_table()
    key = word.casefold()
    if key in known:
        return known[key].lower(), "table", "from the table of names"
    if key in unknown:
        return None, "unknown", unknown[key]
    for rule in RULES:
        if not rule.pattern.search(word):
            continue
        if rule.stem is None:
            return None, "unknown", rule.why
        if rule.native_only and not _native(word):
            return None, "unknown", f"a foreign name: not sure that {rule.why}"
        return rule.pattern.sub(rule.stem, word) + rule.ending, "rule", rule.why
    return None, "unknown", f"no rule for a name ending in '{part[-1]}'"


def allative(name: str) -> Allative:
    """The allative of one first name (a double name inflects its last part).

    Parameters
    ----------
    name : str
        One first name ("Pekka", "Jukka-Pekka", "MAIJA"); whitespace around it is ignored.

    Returns
    -------
    Allative
        ``form`` keeps the name's capitals ("Jukka-Pekalle", "MAIJALLE"); None when the
        name is unknown: not in the table and covered by no rule with confidence, or not
        made of letters (digits, punctuation other than a hyphen between parts).
    """
    word = unicodedata.normalize("NFC", name).strip()
    parts = word.split("-")
    if not word or not all(p.isalpha() for p in parts):
        return Allative(word, None, "unknown", "not a name made of letters")
    if any(len(ch.lower()) != 1 for ch in word):
        return Allative(word, None, "unknown", "a letter whose lower case is two letters")
    form, how, why = _last_part(parts[-1])
    if form is None:
        return Allative(word, None, how, why)
    last = _fit_case(parts[-1], form)
    return Allative(word, "-".join([*parts[:-1], last]), how, why)
