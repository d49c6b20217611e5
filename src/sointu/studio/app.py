"""The studio's routes: the page, its static files and the JSON API (``docs/studio.md``).

Every request first passes :func:`sointu.studio.guard.check_request`. Every refusal and
every bad value is answered with ``{"error": "<one line>", "field": "<path or null>"}``
and a 4xx status; nothing on disk is changed by a refused request.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, jsonify, redirect, request, send_from_directory
from werkzeug.exceptions import HTTPException

from ..errors import SointuError
from .guard import Refusal, check_request, cookie_name

__all__ = ["build", "LANGUAGES", "MIXES", "FORMATS"]

#: What the page may ask for.
LANGUAGES = ("fi", "en")
MIXES = ("speakers", "headphones")
FORMATS = ("flac", "wav", "mp3", "opus")
#: Largest request body (bytes): an uploaded recording, with room for the form around it.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
STATIC = Path(__file__).parent / "static"


def build(folder: Path, secret: str, port: int, warm: bool = False) -> Flask:
    """The Flask app (see :func:`sointu.studio.create_app`)."""
    from .jobs import Jobs

    app = Flask(__name__, static_folder=None)
    app.url_map.merge_slashes = False  # "/api/files//etc/passwd" is refused, not redirected
    app.config.update(STUDIO_FOLDER=Path(folder).resolve(), STUDIO_SECRET=secret,
                      STUDIO_PORT=int(port), MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES + (1 << 20))
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.extensions["sointu_jobs"] = Jobs()

    @app.before_request
    def _guard():
        cfg = app.config
        cookie = cookie_name(cfg["STUDIO_PORT"])
        passed_token = check_request(
            method=request.method, host=request.host, origin=request.headers.get("Origin"),
            fetch_site=request.headers.get("Sec-Fetch-Site"),
            cookie=request.cookies.get(cookie), token=request.args.get("token"),
            secret=cfg["STUDIO_SECRET"], port=cfg["STUDIO_PORT"])
        if passed_token:
            response = redirect(request.path if request.method == "GET" else "/", code=303)
            response.set_cookie(cookie, cfg["STUDIO_SECRET"], httponly=True,
                                samesite="Strict", path="/")
            return response
        return None

    @app.errorhandler(Refusal)
    def _refused(exc: Refusal):
        return _error(exc.status, exc.message, exc.field)

    @app.errorhandler(SointuError)
    def _sointu_error(exc: SointuError):
        return _error(400, " ".join(str(exc).split()), getattr(exc, "field", None))

    @app.errorhandler(413)
    def _too_large(exc):
        return _error(413, f"the upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB;"
                           f" allowed: recordings up to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB",
                      "file")

    @app.errorhandler(404)
    def _not_found(exc):
        return _error(404, f"{request.path} is not a page or API of the studio", None)

    @app.errorhandler(405)
    def _bad_method(exc):
        return _error(405, f"{request.method} is not allowed on {request.path}", None)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return _error(exc.code or 500, f"{exc.name}: {exc.description}", None)

    @app.errorhandler(Exception)
    def _internal(exc: Exception):
        # a bug: one line to the page and the terminal, the details in a report file
        import sys

        from ..crash_report import report_internal_error

        line = report_internal_error(exc, ["studio", request.method, request.path])
        print(f"sointu studio: internal error: {line}", file=sys.stderr, flush=True)
        return _error(500, f"internal error: {line}", None)

    @app.after_request
    def _headers(response: Response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/")
    def index():
        return send_from_directory(STATIC, "index.html")

    @app.get("/static/<path:name>")
    def static_file(name: str):
        return send_from_directory(STATIC, name)  # safe_join: nothing outside static/

    @app.get("/api/info")
    def info():
        from .. import __version__

        return jsonify(version=__version__, folder=str(app.config["STUDIO_FOLDER"]),
                       languages=list(LANGUAGES), mixes=list(MIXES), formats=list(FORMATS))

    from . import routes

    routes.register(app)
    if warm:
        _warm(app)
    return app


def _warm(app: Flask) -> None:
    """Before the address is printed: import and run once what the first view asks for
    (the page, its files, the listings, a preset and its picture) through the app itself,
    so the first page load is as quick as the next ones (it took 450-570 ms when the
    imports ran in a thread beside it)."""
    from .sounds import warm_up

    cfg = app.config
    warm_up(cfg["STUDIO_FOLDER"])
    base = f"http://127.0.0.1:{cfg['STUDIO_PORT']}"
    client = app.test_client()
    try:
        client.get(f"/?token={cfg['STUDIO_SECRET']}", base_url=base)  # sets the cookie
        for path in ("/", "/static/studio.css", "/static/studio.js", "/static/i18n/fi.json",
                     "/static/i18n/en.json", "/api/info", "/api/instruments", "/api/presets",
                     "/api/recordings"):
            client.get(path, base_url=base).close()
        presets = client.get("/api/presets", base_url=base).get_json() or []
        if presets:
            shown = client.get(f"/api/presets/{presets[0]['name']}", base_url=base).get_json()
            client.post("/api/session/picture.png", json=shown["session"],
                        base_url=base).close()
    except Exception:  # warming up is only for speed; real requests report real problems
        pass


def _error(status: int, message: str, field: str | None):
    """The JSON answer to a refusal (text for a page, which a browser shows as it is)."""
    line = " ".join(str(message).split())
    if request.path.startswith("/api/"):
        return jsonify(error=line, field=field), status
    return Response(line + "\n", status=status, mimetype="text/plain")
