"""sointu: composes and plays sound-relaxation sessions of synthesised bowls, gongs and chimes.

Use it from Python::

    import sointu

    result = sointu.render("classic-60", "session.flac", duration="20m", seed=7)
    print(result.loudness_lufs, result.true_peak_dbtp)

:func:`load_preset`, :func:`compose`, :func:`strike`, :func:`render` and :func:`play` are
documented in :mod:`sointu.library`. They are imported when first used, so ``import sointu``
stays cheap (no audio libraries are loaded until they are needed). The render pipeline
under :func:`render` is the package :mod:`sointu.rendering`.
"""

import os
from importlib.metadata import PackageNotFoundError, version

# One BLAS thread, as the command line has (sointu.cli): the engine's matrix products are
# small, and the thread count changes their last bits, so a library render equals the
# command's sample for sample. Only takes effect if numpy has not been imported yet.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

try:
    __version__ = version("sointu")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = [
    "__version__", "load_preset", "compose", "strike", "render", "play", "RenderResult",
    "PlayOutcome",
]

_LIBRARY = frozenset(__all__) - {"__version__"}


def __getattr__(name: str):
    from importlib import import_module

    if name in _LIBRARY:
        return getattr(import_module(f"{__name__}.library"), name)
    raise AttributeError(f"module 'sointu' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LIBRARY)
