"""The words on the pictures, in English or Finnish (``labels.toml`` beside this module).

A session picture speaks its session's language (the preset's ``language``) unless told
otherwise; the studio asks for the page's. Numbers are written as the language writes them:
``0.5`` and ``-18.0`` in English, ``0,5`` and ``−18,0`` in Finnish.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

__all__ = ["LANGUAGES", "Labels", "labels", "language_of"]

#: Languages the pictures are drawn in.
LANGUAGES = ("en", "fi")


class Labels:
    """The texts of one language.

    Parameters
    ----------
    lang : str
        ``"en"`` or ``"fi"``.
    table : dict
        That language's table of ``labels.toml``.
    """

    def __init__(self, lang: str, table: dict):
        self.lang = lang
        self._texts = {k: v for k, v in table.items() if isinstance(v, str)}
        self._phases = dict(table.get("phases", {}))
        self._families = dict(table.get("families", {}))
        self._mallets = dict(table.get("mallets", {}))

    def __call__(self, text: str, /, **fields) -> str:
        """Text ``text`` with its ``{fields}`` filled in (numbers already formatted)."""
        return self._texts[text].format(**fields)

    def number(self, value: float, spec: str = "g") -> str:
        """``value`` formatted with ``spec`` (as ``format``), in the language's way."""
        text = format(value, spec)
        if self.lang == "fi":
            text = text.replace(".", ",").replace("-", "\N{MINUS SIGN}")
        return text

    def ticks(self, *axes) -> None:
        """Write the tick labels of ``axes`` (matplotlib Axes, linear scales) in the
        language's way: a decimal comma in Finnish, matplotlib's own in English (also on
        axes a Finnish picture drew before: the studio reuses its figure)."""
        from matplotlib.ticker import ScalarFormatter

        comma = _comma_formatter()
        for ax in axes:
            for axis in (ax.xaxis, ax.yaxis):
                if axis.get_scale() != "linear":
                    continue
                now = axis.get_major_formatter()
                if self.lang == "fi":
                    # numbers only: not the lanes' names (fixed labels) nor a custom format
                    if type(now) is ScalarFormatter:
                        axis.set_major_formatter(comma())
                elif isinstance(now, comma):
                    axis.set_major_formatter(ScalarFormatter())

    def phase(self, name: str) -> str:
        """A phase's name as the page shows it (the preset's own name if not listed)."""
        return self._phases.get(name, name)

    def family(self, name: str) -> str:
        """An instrument family's word (the preset's own if not listed)."""
        return self._families.get(name, name)

    def mallet(self, name: str) -> str:
        """A mallet's word (``soft``, ``medium``, ``hard``)."""
        return self._mallets.get(name, name)


@cache
def _comma_formatter() -> type:
    """matplotlib's ScalarFormatter with a decimal comma (made once: matplotlib is
    imported only when a picture is drawn)."""
    from matplotlib.ticker import ScalarFormatter

    class CommaFormatter(ScalarFormatter):
        def __call__(self, x, pos=None):
            return super().__call__(x, pos).replace(".", ",")

    return CommaFormatter


@cache
def _tables() -> dict:
    # through importlib.resources: also found when sointu is imported from a zip
    return tomllib.loads(resources.files(__package__).joinpath("labels.toml").read_text("utf-8"))


def labels(lang: str) -> Labels:
    """The :class:`Labels` of ``lang``.

    Raises
    ------
    ValueError
        ``lang`` is not one of :data:`LANGUAGES`.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not allowed; allowed: {', '.join(LANGUAGES)}")
    return Labels(lang, _tables()[lang])


def language_of(preset) -> str:
    """The language a session's picture speaks by default: its preset's ``language`` if the
    pictures have it, else English."""
    lang = getattr(preset, "language", None)
    return lang if lang in LANGUAGES else "en"
