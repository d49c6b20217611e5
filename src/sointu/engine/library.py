"""The instrument library: shipped instrument presets plus any the user adds."""

from __future__ import annotations

from pathlib import Path

from ..presets import find_preset, list_presets
from .instrument import Instrument

__all__ = ["list_instruments", "load_instrument"]


def list_instruments(extra: Path | None = None) -> dict[str, Path]:
    """Instrument name -> preset file, shipped ones and those in ./presets (or ``extra``)."""
    return list_presets("instruments", extra)


def load_instrument(name_or_path: str, extra: Path | None = None) -> Instrument:
    """Load an instrument by name (``universal``) or path (``my-bowl.toml``); PresetError."""
    return Instrument.from_file(find_preset("instruments", str(name_or_path), extra))
