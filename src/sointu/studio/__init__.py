"""``sointu studio``: a local web page to audition instruments, shape a session and make gifts.

:func:`create_app` builds the Flask application for one folder and one launch secret;
:func:`serve` binds it to 127.0.0.1 and serves it until Ctrl-C. The API is documented in
``docs/studio.md``; the guard (secret, Host, Origin, file names) in :mod:`.guard`.
"""

from __future__ import annotations

import errno
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from ..signals import raise_on_sigterm

__all__ = ["create_app", "serve"]


def create_app(folder: Path, secret: str, *, port: int = 0, warm: bool = False):
    """The studio application for ``folder`` (where presets, samples and renders live).

    Parameters
    ----------
    folder : Path
        An existing folder.
    secret : str
        The launch secret every request must carry (``?token=`` then the cookie).
    port : int
        The port it is served on (the Host and Origin checks need it).
    warm : bool
        Import and run once, in the background, what the first clicks need.

    Returns
    -------
    flask.Flask
    """
    from .app import build

    return build(Path(folder), secret, port, warm)


def _listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: a free port); UsageError if taken."""
    from ..errors import UsageError

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"--port {port} is in use by another program; choose another "
                             f"port, or --port 0 for a free one") from None
        if exc.errno == errno.EACCES:
            raise UsageError(f"--port {port} is not allowed for this user; allowed: "
                             f"1024..65535, or 0 for a free one") from None
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    return sock


def _open_browser(url: str, say: Callable[[str], None]) -> None:
    """Open ``url`` in the default browser, unless there is no desktop to show one on (a
    console browser would take over this terminal)."""
    import os
    import sys
    import webbrowser

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        say("sointu studio: no desktop to open a browser on; open the address above in one")
        return
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()


def serve(folder: Path, *, port: int = 0, open_browser: bool = True,
          say: Callable[[str], None] = print, secret: str | None = None,
          ready: Callable[[str, object], None] | None = None) -> str:
    """Serve the studio on 127.0.0.1 until Ctrl-C (or ``server.shutdown()``).

    Parameters
    ----------
    folder : Path
        The practitioner's folder.
    port : int
        0 for a free port.
    open_browser : bool
        Open the address in the default browser.
    say : callable
        Receives the lines to show (the address, then how it stopped).
    secret : str, optional
        Default: a fresh one (:func:`.guard.new_secret`).
    ready : callable, optional
        Called with the address and the server once it listens (tests stop it with
        ``server.shutdown()`` from another thread).

    Returns
    -------
    str
        The address it served (with the token).
    """
    import logging

    from werkzeug.serving import make_server

    from .guard import new_secret

    # werkzeug logs every request (the first with the token in it): only its errors here
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    secret = secret or new_secret()
    sock = _listen(port)
    bound = sock.getsockname()[1]
    app = create_app(folder, secret, port=bound, warm=True)
    try:
        server = make_server("127.0.0.1", bound, app, threaded=True, fd=sock.fileno())
    finally:
        sock.close()  # the server holds its own duplicate
    url = f"http://127.0.0.1:{bound}/?token={secret}"
    say(f"sointu studio: {url}  (folder {Path(folder).resolve()}; Ctrl-C stops it)")
    if open_browser:
        _open_browser(url, say)
    if ready is not None:
        ready(url, server)
    try:  # SIGTERM (a service manager, kill) stops it as Ctrl-C does
        with raise_on_sigterm((signal.SIGTERM,)):
            server.serve_forever()  # werkzeug's returns on Ctrl-C (KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["sointu_jobs"].stop()
    say("sointu studio: stopped")
    return url
