"""Finding the data shipped with sointu (presets, samples) in every kind of install.

The data live in the top-level folders ``presets/`` and ``samples/`` of the source tree and
are installed as the data packages ``sointu._presets`` and ``sointu._samples`` (see
pyproject.toml). They are found through :mod:`importlib.resources`, so the same call works
in an editable checkout, an installed wheel or sdist, and a zip import.

Callers get a real folder (:class:`pathlib.Path`): they list it, read its files and name
them in messages. When sointu is imported from a zip file, the data package is copied once
per process into a temporary folder that is removed when the process exits.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from .errors import SointuError

__all__ = ["PACKAGES", "folder"]

#: Name of a kind of shipped data -> the package that holds it.
PACKAGES = {"presets": "sointu._presets", "samples": "sointu._samples"}


@functools.cache
def folder(name: str) -> Path:
    """The folder of one kind of shipped data ('presets' or 'samples').

    Raises SointuError if the data package is not installed (a broken install).
    """
    package = PACKAGES[name]
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        raise SointuError(
            f"shipped {name} not found: package {package} is missing; reinstall sointu"
        ) from None
    if isinstance(root, Path) and root.is_dir():
        return root  # a folder on disk: checkout, wheel or sdist install
    return _extract(root, name)  # a zip import (or any other loader)


def _extract(root: Traversable, name: str) -> Path:
    """Copy a data package's files into a temporary folder removed at exit."""
    target = Path(tempfile.mkdtemp(prefix=f"sointu-{name}-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    _copy(root, target)
    return target


def _copy(source: Traversable, target: Path) -> None:
    for entry in source.iterdir():
        if entry.name.startswith("__"):  # __init__.py, __pycache__: not data
            continue
        if entry.is_dir():
            (target / entry.name).mkdir()
            _copy(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())
