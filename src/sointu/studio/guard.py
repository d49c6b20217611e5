"""The studio's door: the launch secret, the Host and Origin checks, and safe file names.

A local server that can write files must refuse what a web page elsewhere could send it:

- every request carries the secret made at launch: ``?token=SECRET`` once (the opened
  address), then the ``sointu_studio`` cookie it sets (HttpOnly, SameSite=Strict);
- the ``Host`` header must be the server's own loopback address and port (DNS rebinding: a
  foreign name resolving to 127.0.0.1 still says its own name here);
- an ``Origin`` other than the server's own is refused on every request; a state-changing
  request (POST, PUT, PATCH, DELETE) from a browser that marks it cross-site or same-site
  (``Sec-Fetch-Site``) is refused too. A request with neither header (a script with the
  cookie, the tests) passes: the cookie is the secret;
- file names from the page are plain names (no ``/``, ``\\``, ``..``, NUL, no absolute
  path) whose resolved path stays inside its folder (a symbolic link out is refused).
"""

from __future__ import annotations

import secrets
from pathlib import Path

__all__ = ["COOKIE", "cookie_name", "Refusal", "check_request", "safe_name", "safe_path",
           "new_secret"]

#: The cookie that carries the secret after the first visit: this, then the port.
COOKIE = "sointu_studio"


def cookie_name(port: int) -> str:
    """The studio's cookie on ``port`` (``sointu_studio_8080``): cookies do not tell ports
    apart, so two studios open in one browser each keep their own."""
    return f"{COOKIE}_{int(port)}"


#: Methods that change something.
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Refusal(Exception):
    """A refused request: HTTP ``status`` and a one-line ``message`` (``field`` if a form
    field caused it)."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def new_secret() -> str:
    """A fresh launch secret (URL-safe text, 256 random bits)."""
    return secrets.token_urlsafe(32)


def own_hosts(port: int) -> tuple[str, ...]:
    """The Host headers the server answers to."""
    return (f"127.0.0.1:{port}", f"localhost:{port}")


def check_request(*, method: str, host: str, origin: str | None, fetch_site: str | None,
                  cookie: str | None, token: str | None, secret: str, port: int) -> bool:
    """Refuse a request that is not from the studio's own page.

    Returns
    -------
    bool
        True when the request carries the right ``token`` in its address (the caller sets
        the cookie and redirects); False when it passed on its cookie.

    Raises
    ------
    Refusal
        403 with one line saying why.
    """
    hosts = own_hosts(port)
    if (host or "").lower() not in hosts:
        raise Refusal(403, f"refused: Host {host!r} is not this studio's address; allowed: "
                           f"{' or '.join(hosts)}")
    if origin is not None and origin.lower() not in tuple(f"http://{h}" for h in hosts):
        raise Refusal(403, f"refused: Origin {origin!r} is another site; the studio answers "
                           f"only its own page")
    if method.upper() in WRITES and fetch_site not in (None, "same-origin", "none"):
        raise Refusal(403, f"refused: a {fetch_site} request may not change anything; the "
                           f"studio answers only its own page")
    if token is not None:
        if not secrets.compare_digest(token.encode(), secret.encode()):
            raise Refusal(403, "refused: wrong token; open the address sointu studio "
                               "printed")
        return True
    if cookie is None or not secrets.compare_digest(cookie.encode(), secret.encode()):
        raise Refusal(403, "refused: no studio cookie; open the address sointu studio "
                           "printed (with ?token=...)")
    return False


def safe_name(name, field: str, *, what: str = "file name") -> str:
    """``name`` if it is a plain file name, else a 400 :class:`Refusal` naming ``field``."""
    if not isinstance(name, str) or not name.strip():
        raise Refusal(400, f"{what} {name!r} is empty; allowed: a plain file name", field)
    bad = None
    if "\x00" in name:
        bad = "a NUL character"
    elif "/" in name or "\\" in name:
        bad = "a folder separator"
    elif name in (".", "..") or name.startswith(".."):
        bad = "'..'"
    elif name.startswith("."):
        bad = "a leading dot"
    elif len(name) > 200:
        bad = "more than 200 characters"
    if bad:
        shown = name.replace("\x00", "\\0")[:60]
        raise Refusal(400, f"{what} {shown!r} has {bad}; allowed: a plain file name in the "
                           f"studio's folder", field)
    return name


def safe_path(folder: Path, name, field: str, *, what: str = "file name") -> Path:
    """``folder / name`` for a plain ``name`` whose resolved path stays in ``folder``.

    A symbolic link that points out of the folder is refused (403).
    """
    name = safe_name(name, field, what=what)
    base = Path(folder).resolve()
    path = base / name
    if not path.resolve().is_relative_to(base):
        raise Refusal(403, f"{what} {name!r} leads out of {base.name}/ (a link); allowed: "
                           f"files in the studio's folder", field)
    return path
