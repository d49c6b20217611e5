"""``sointu studio``: the local web page (:mod:`sointu.studio`)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from . import group

__all__ = ["studio_cmd"]


@group.command("studio")
@click.option("--port", type=int, default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
@click.option("--no-browser", is_flag=True, help="Do not open the page in the browser.")
@click.option("--folder", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Where your presets (DIR/presets), recordings (DIR/samples) and renders "
                   "(DIR/renders) live (default: here).")
def studio_cmd(port: int, no_browser: bool, folder: Path | None) -> None:
    """Open the studio: a page in your browser to hear every instrument, shape a session,
    save it as your own preset, render it and make gifts.

    It is served on 127.0.0.1 only, to the browser that opens the printed address (it
    carries a secret made now); Ctrl-C stops it. The page reads and writes only in the
    folder.

    \b
    Examples:
      sointu studio
      sointu studio --folder ~/sointu --port 8765 --no-browser
    """
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not allowed; allowed: 0 (a free port) or "
                         f"1024..65535")
    folder = Path.cwd() if folder is None else folder.expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"--folder {folder} {what}; allowed: an existing folder")
    import os

    from ..studio import serve

    folder = folder.resolve()
    # as if sointu ran there: its ./presets and ./samples are the folder's, nothing else's
    os.chdir(folder)
    serve(folder, port=port, open_browser=not no_browser,
          say=lambda line: click.echo(line, err=False))
