"""sointu: composes and plays sound-relaxation sessions of synthesised bowls, gongs and chimes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sointu")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
