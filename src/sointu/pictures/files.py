"""Where pictures go: the optional plotting library, picture paths, and atomic saving."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import OutputError, UsageError

__all__ = ["INSTALL_HINT", "PICTURE_SUFFIXES", "available", "require", "check_picture_path",
           "save_figure", "write_bytes", "temporary_path", "move_into_place", "PngAhead"]

#: How to get the plotting extra (said in every "missing" message).
INSTALL_HINT = "pip install 'sointu[plot]'"
#: Picture formats of the plots, by suffix.
PICTURE_SUFFIXES = (".png", ".svg", ".pdf")
#: Resolution of raster plots (dots per inch).
DPI = 100


def available(module: str = "matplotlib") -> bool:
    """Whether ``module`` (matplotlib, or PIL for covers) is installed; imports nothing."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(what: str = "plotting") -> None:
    """Raise a one-line UsageError unless matplotlib is installed."""
    if not available("matplotlib"):
        raise UsageError(f"{what} needs the plot extra (matplotlib), which is not installed; "
                         f"install it with: {INSTALL_HINT}")


def check_picture_path(path, *, force: bool = False, option: str = "--plot") -> Path:
    """Check a picture's target before any work: suffix, folder, existing file.

    Raises
    ------
    UsageError
        An unknown suffix.
    OutputError
        The folder is missing or not writable, or the file exists (without ``force``).
    """
    path = Path(path)
    if path.suffix.lower() not in PICTURE_SUFFIXES:
        raise UsageError(f"{option} {path}: unknown picture suffix '{path.suffix}'; allowed: "
                         f"{', '.join(PICTURE_SUFFIXES)}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{option} {path}: the folder {folder} does not exist; create it "
                          f"first or choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: the folder {folder} is not writable; choose a "
                          f"folder you can write to")
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a folder; allowed: a picture file name")
    if path.exists() and not force:
        raise OutputError(f"{option} {path}: the file exists; give --force to replace it")
    return path


def temporary_path(path) -> Path:
    """The temporary file next to ``path`` that a picture is written to before its rename."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


def move_into_place(tmp, path) -> Path:
    """Rename a finished temporary picture to ``path``; on failure remove it."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write the picture {path}: {exc.strerror or exc}") from None
    return Path(path)


def write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write the picture {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_figure(fig, path, *, tmp=None) -> Path:
    """Save a matplotlib Figure to ``path`` (format from the suffix), atomically.

    With ``tmp``, only that temporary file is written (the caller renames it with
    :func:`move_into_place` when the rest of its work is done).

    Raises
    ------
    OutputError
        It cannot be written (nothing is left behind).
    """
    path = Path(path)
    return _saved(path, tmp, lambda target: fig.savefig(
        target, format=path.suffix.lower()[1:], dpi=DPI, metadata=_metadata(path.suffix.lower())))


def _saved(path: Path, tmp, write) -> Path:
    """``write(target)`` into ``tmp`` (or a temporary file renamed to ``path``); on any
    failure nothing is left behind and an OSError becomes a one-line OutputError."""
    target = Path(tmp) if tmp is not None else temporary_path(path)
    try:
        write(target)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise OutputError(f"cannot write the picture {path}: {exc.strerror or exc}") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target if tmp is not None else move_into_place(target, path)


class PngAhead:
    """A figure drawn into pixels ahead of its save, but for one of its axes.

    ``render --plot`` knows the score long before the loudness: its child draws everything
    but the loudness panel while a core is idle, and once the curve comes only that panel
    and the PNG encoding are left (0.03 + 0.04 s instead of 0.09 + 0.04 s for an hour).
    The file has the bytes :func:`save_figure` writes: the panel is drawn last onto the
    same pixels, as in a whole draw, where it comes after everything it overlaps (only the
    figure's title is drawn after it there, far above it).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure with no layout engine, drawn at :data:`DPI`.
    later : matplotlib.axes.Axes
        Its axes still to be filled in; the last of the figure's axes.
    """

    def __init__(self, fig, later):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        if fig.axes[-1] is not later or fig.get_layout_engine() is not None:
            raise ValueError("PngAhead: the later axes must be the figure's last, with no "
                             "layout engine")
        self._fig, self._later = fig, later
        fig.set_dpi(DPI)
        canvas = FigureCanvasAgg(fig)
        later.set_visible(False)
        try:
            canvas.draw()
        finally:
            later.set_visible(True)
        self._renderer = canvas.get_renderer()

    def save(self, path, *, tmp=None) -> Path:
        """Draw the later axes and write the PNG (as :func:`save_figure`)."""
        import matplotlib.image

        path = Path(path)
        canvas = self._fig.canvas
        if canvas.get_renderer() is not self._renderer:  # resized since: draw it whole
            return save_figure(self._fig, path, tmp=tmp)
        self._later.apply_aspect()
        self._later.draw(self._renderer)
        return _saved(path, tmp, lambda target: matplotlib.image.imsave(
            target, canvas.buffer_rgba(), format="png", origin="upper", dpi=DPI,
            metadata=_metadata(".png")))


def _metadata(suffix: str) -> dict:
    from .. import __version__

    software = f"sointu {__version__}"
    # pin the dates so that the same picture gives the same bytes
    if suffix == ".png":
        return {"Software": software}
    if suffix == ".svg":
        return {"Creator": software, "Date": None}
    return {"Creator": software, "CreationDate": None}
