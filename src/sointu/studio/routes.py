"""The studio's API routes beyond ``/api/info`` (``docs/studio.md``)."""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

from flask import Response, jsonify, request, send_file

from ..errors import SointuError, UsageError
from .guard import Refusal, safe_name, safe_path

__all__ = ["register", "AUDIO_SUFFIXES"]

#: Recordings the studio accepts (what libsndfile decodes).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
#: Largest clients file (bytes).
MAX_CLIENTS_BYTES = 1024 * 1024
#: Shortest recording (s).
MIN_RECORDING_S = 0.1
#: The folder's subfolders: the practitioner's presets, recordings and renders.
SUBFOLDERS = ("presets", "samples", "renders")
SUFFIX = {"flac": ".flac", "wav": ".wav", "mp3": ".mp3", "opus": ".opus"}


class Workspace:
    """The folder's subfolders and a private scratch folder (removed at exit).

    Each checked SESSION is written to ``scratch/SHA.toml`` (its TOML text) and the preset
    points there, so the gain cache, keyed by the preset file's bytes, never mistakes an
    edited session for the saved one.
    """

    def __init__(self, folder: Path):
        from ..errors import OutputError

        self.folder = Path(folder).resolve()
        # made at once: a recording is found beside the preset (../samples/NAME) only
        # through a presets folder that exists
        for sub in SUBFOLDERS:
            try:
                (self.folder / sub).mkdir(exist_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot make {self.folder / sub}: {exc.strerror}; choose a "
                                  f"folder you can write to") from None
        self.scratch = Path(tempfile.mkdtemp(prefix="sointu-studio-"))
        atexit.register(shutil.rmtree, self.scratch, True)
        self.names = threading.Lock()  # output names are chosen one at a time
        self.taken: set[str] = set()

    def sub(self, name: str, create: bool = False) -> Path:
        path = self.folder / name
        if create:
            path.mkdir(exist_ok=True)
        return path

    def text_file(self, text: str) -> Path:
        path = self.scratch / (hashlib.sha256(text.encode()).hexdigest()[:32] + ".toml")
        if not path.exists():
            tmp = path.with_suffix(f".{threading.get_ident()}.part")
            tmp.write_text(text, "utf-8")
            os.replace(tmp, path)
        return path

    def new_output(self, name: str) -> Path:
        """A free path in ``DIR/renders`` for ``name`` (``name-2``... if taken), reserved
        for this studio until :meth:`release`."""
        from ..delivery import unique_path

        folder = self.sub("renders", create=True)
        with self.names:
            stem, suffix = Path(name).stem, Path(name).suffix
            path, n = unique_path(folder, name), 2
            while path.name in self.taken:
                path = unique_path(folder, f"{stem}-{n}{suffix}")
                n += 1
            self.taken.add(path.name)
        return path

    def release(self, path: Path) -> None:
        with self.names:
            self.taken.discard(path.name)


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Refusal(400, "the request body is not a JSON object; send "
                           "Content-Type: application/json", None)
    return data


def _one_of(value, allowed, field: str, default=None):
    if value is None:
        return default
    if value not in allowed:
        raise Refusal(400, f"{field} {value!r} is not allowed; allowed: {', '.join(allowed)}",
                      field)
    return value


def _picture_lang() -> str:
    """A picture's language from the query's ``lang`` (the page sends its own): en or fi."""
    from ..pictures.labels import LANGUAGES

    return _one_of(request.args.get("lang") or None, LANGUAGES, "lang", "en")


def _number(value, field: str, lo: float, hi: float, what: str | None = None) -> float:
    what = what or field
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refusal(400, f"{what} {value!r} is not a number; allowed {lo:g}..{hi:g}", field)
    if not lo <= value <= hi:
        raise Refusal(400, f"{what} {value:g} is out of range; allowed {lo:g}..{hi:g}", field)
    return float(value)


def register(app) -> None:
    """Add the API routes to ``app``."""
    from . import session_doc as D
    from . import sounds as S
    from .app import FORMATS, LANGUAGES, MIXES

    ws = Workspace(app.config["STUDIO_FOLDER"])
    app.extensions["sointu_workspace"] = ws
    jobs = app.extensions["sointu_jobs"]
    folder = ws.folder

    sessions = S.Cache(32)  # checked sessions by key, for GET previews

    def session_key(text: str) -> str:
        """A session's key: its TOML text in this folder (a relative recording or
        instrument is another file in another folder)."""
        return hashlib.sha256(f"{folder}\n{text}".encode()).hexdigest()[:32]

    def prepared(session, field: str = "session"):
        """SESSION -> (checked preset at its scratch file, its key); the first problem as a
        400 naming its field."""
        if not isinstance(session, dict):
            raise Refusal(400, f"{field}: expected a SESSION object", field)
        base = session.get("base")
        doc, _ = D.base_document(folder, base)
        doc = D.apply_session(doc, session, folder)
        preset, problems, text = D.check_session(doc, str(base), folder)
        if problems:
            raise Refusal(400, problems[0]["error"], problems[0]["field"])
        key = session_key(text)
        preset = replace(preset, path=ws.text_file(text))
        sessions.put(key, preset)
        return preset, key

    def preview_of(preset, key, start, seconds, mix):
        start = _number(start, "start_s", 0.0, preset.defaults.duration_s, "start_s")
        seconds = _number(seconds, "seconds", 1.0, S.PREVIEW_MAX_S)
        mix = _one_of(mix, MIXES, "mix")
        try:
            data, headers = S.preview_wav(preset, (key, mix), start_s=start, seconds=seconds,
                                          mix=mix)
        except UsageError as exc:  # a start at or past the end
            raise Refusal(400, " ".join(str(exc).split()), "start_s") from None
        headers["X-Sointu-Session-Key"] = key
        return Response(data, mimetype="audio/wav", headers=headers, direct_passthrough=True)

    # -- instruments ---------------------------------------------------------------------

    @app.get("/api/instruments")
    def instruments():
        return jsonify(S.instrument_list(folder))

    @app.get("/api/strike.wav")
    def strike_wav():
        params = S.audition_params(request.args, folder)
        data, seconds = S.audition_stream(params)
        return Response(data, mimetype="audio/wav", direct_passthrough=True,
                        headers={"X-Sointu-Seconds": f"{seconds:g}",
                                 "Content-Length": str(44 + int(round(seconds * 48000)) * 4),
                                 "Cache-Control": "private, max-age=3600"})

    @app.get("/api/strike.png")
    def strike_png():
        params = S.audition_params(request.args, folder)
        lang = _picture_lang()
        return Response(S.strike_png(params, lang), mimetype="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})

    # -- presets and sessions ------------------------------------------------------------

    @app.get("/api/presets")
    def presets():
        return jsonify(D.preset_list(folder))

    @app.get("/api/presets/<name>")
    def preset(name: str):
        from ..presets import read_text
        from ..session.presets import load_session_preset

        path = D.find_session(folder, name, "name", 404)
        load_session_preset(str(path))  # a broken file: its first problem, one line
        doc, _ = D.base_document(folder, name)
        return jsonify(name=name, source=D.source_of(path), toml=read_text(path),
                       session=D.session_view(doc, name, folder))

    @app.post("/api/session/check")
    def check():
        session = _body()
        if not isinstance(session, dict) or "base" not in session:
            raise Refusal(400, "base: missing; the preset the session starts from", "base")
        doc, _ = D.base_document(folder, session.get("base"))
        doc = D.apply_session(doc, session, folder)
        preset, problems, text = D.check_session(doc, str(session["base"]), folder)
        key = None
        if not problems:
            key = session_key(text)
            sessions.put(key, replace(preset, path=ws.text_file(text)))
        return jsonify(problems=problems, toml=text, key=key)

    @app.post("/api/session/picture.png")
    def picture():
        lang = _picture_lang()
        preset, key = prepared(_body())
        return Response(S.session_png(preset, key, lang), mimetype="image/png",
                        headers={"X-Sointu-Session-Key": key})

    @app.post("/api/session/preview.wav")
    def preview():
        body = _body()
        preset, key = prepared(body.get("session"))
        return preview_of(preset, key, body.get("start_s", 0), body.get("seconds", 60),
                          body.get("mix"))

    @app.get("/api/session/<key>/preview.wav")
    def preview_get(key: str):
        preset = sessions.peek(key)
        if preset is None:
            raise Refusal(404, f"session {key[:40]!r} is not known here (the studio keeps the "
                               f"last 32 it checked); send it again", None)
        args = request.args

        def number(name, default):
            raw = args.get(name)
            if raw is None or raw == "":
                return default
            try:
                return float(raw)
            except ValueError:
                return raw  # refused by preview_of with the field

        return preview_of(preset, key, number("start_s", 0.0), number("seconds", 60.0),
                          args.get("mix") or None)

    @app.post("/api/presets")
    def save_preset():
        body = _body()
        name = body.get("name")
        if not isinstance(name, str) or not D.PRESET_NAME.match(name):
            raise Refusal(400, f"preset name {name!r} is not allowed; allowed: 1-40 of a-z, "
                               f"0-9, - and _, starting with a letter or digit", "name")
        if D.is_shipped_name(name):
            raise Refusal(400, f"preset name '{name}' is a shipped preset's; choose another "
                               f"name", "name")
        target = folder / "presets" / f"{name}.toml"
        if target.exists() or target.is_symlink():
            raise Refusal(400, f"presets/{name}.toml already exists; choose another name "
                               f"(the studio never overwrites a preset)", "name")
        session = body.get("session")
        if not isinstance(session, dict):
            raise Refusal(400, "session: expected a SESSION object", "session")
        doc, _ = D.base_document(folder, session.get("base"))
        doc = D.apply_session(doc, session, folder)
        _, problems, text = D.check_session(doc, name, folder)
        if problems:
            return jsonify(error=problems[0]["error"], field=problems[0]["field"],
                           problems=problems), 400
        ws.sub("presets", create=True)
        try:
            with open(target, "x", encoding="utf-8") as f:  # never over an existing file
                f.write(text)
        except FileExistsError:
            raise Refusal(400, f"presets/{name}.toml already exists; choose another name",
                          "name") from None
        return jsonify(name=name, path=str(target)), 201

    # -- renders and gifts ---------------------------------------------------------------

    def _render_one(job, item, audio, path, tags, plan):
        from ..library import render_preset

        item.state = "running"
        try:
            report = render_preset(audio, path, force=False, loudness=None, bit_depth=None,
                                   quality=None, tags=tags, cover=plan,
                                   progress=job.progress(item, audio.total_frames))
        finally:
            ws.release(path)
        item.file, item.progress, item.state = path.name, 1.0, "done"
        item.info = {"loudness_lufs": round(report.loudness.integrated_lufs, 2),
                     "true_peak_dbtp": round(report.loudness.true_peak_dbtp, 2),
                     "seconds": report.frames / report.sample_rate, "bytes": report.bytes}

    @app.post("/api/render")
    def render():
        from ..library import cover_and_plot, session_tags
        from ..session.audio import SessionAudio

        body = _body()
        fmt = _one_of(body.get("format"), FORMATS, "format", "flac")
        mix = _one_of(body.get("mix"), MIXES, "mix")
        preset, _ = prepared(body.get("session"))
        audio = SessionAudio.from_preset(preset, mix=mix)
        minutes = audio.duration_s / 60.0
        length = f"{minutes:g}m" if minutes >= 1 else f"{audio.duration_s:g}s"
        path = ws.new_output(f"{preset.name}_seed{audio.timeline.seed}_{length}{SUFFIX[fmt]}")
        try:
            tags = session_tags(audio)
            plan, _ = cover_and_plot(audio, path, tags, cover=True)
        except BaseException:
            ws.release(path)
            raise
        job = jobs.start("render", [path.name],
                         lambda job: _render_one(job, job.items[0], audio, path, tags, plan))
        return jsonify(job=job.id), 202

    def _gift_preset(body):
        if body.get("session") is not None:
            return prepared(body["session"])[0]
        from ..session.presets import load_session_preset

        return load_session_preset(str(D.find_session(folder, body.get("preset"), "preset")))

    def _text(body, key: str, limit: int, check=None):
        from ..delivery import check_text

        value = body.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise Refusal(400, f"{key} {value!r} is not text", key)
        value = value.strip() if key == "message" else " ".join(value.split())
        why = check(value) if check else check_text(value, limit)
        if why:
            raise Refusal(400, f"{key} {value[:40]!r} {why}", key)
        return value or None

    def _check_gift_tags(preset, gift, duration_s, mix, field):
        from types import SimpleNamespace

        from ..library import gift_tags
        from ..rendering.tags import validate_tags

        stub = SimpleNamespace(preset=preset, timeline=SimpleNamespace(seed=gift.seed),
                               duration_s=duration_s, mix=mix or "headphones")
        try:
            validate_tags(gift_tags(stub, gift))
        except UsageError as exc:
            raise Refusal(400, " ".join(str(exc).split()), field) from None

    def _gift_work(job, gifts, preset, mix, made=frozenset()):
        """Render ``gifts`` into their reserved files, one item each; those in ``made``
        (file names) are already there and complete: skipped, as ``sointu gift --clients``
        skips them."""
        from ..library import render_gift

        for item, gift in zip(job.items, gifts, strict=True):
            if gift.path.name in made:
                item.file, item.progress, item.state = gift.path.name, 1.0, "skipped"
                item.info = {"title": gift.title, "seed": gift.seed}
                continue
            item.state = "running"
            try:
                report, _ = render_gift(gift, preset, mix=mix, cover=True,
                                        progress=job.progress(item, 1 + _frames(preset)))
                item.file, item.progress, item.state = gift.path.name, 1.0, "done"
                item.info = {"title": gift.title, "seed": gift.seed,
                             "loudness_lufs": round(report.loudness.integrated_lufs, 2),
                             "true_peak_dbtp": round(report.loudness.true_peak_dbtp, 2)}
            except SointuError as exc:  # one gift failing does not stop the others
                item.state, item.error = "failed", " ".join(str(exc).split())
            finally:
                ws.release(gift.path)
            if job.stop.is_set():
                break

    def _frames(preset):
        return int(round(preset.defaults.duration_s * preset.defaults.sample_rate_hz))

    @app.post("/api/gift")
    def gift():
        from .. import delivery as G

        body = _body()
        recipient = _text(body, "recipient", 100, G.check_name)
        if recipient is None:
            raise Refusal(400, "recipient is empty; allowed: the recipient's name, e.g. Maija",
                          "recipient")
        sender = _text(body, "sender", 100)
        message = _text(body, "message", 500)
        allative = _text(body, "allative", 100, G.check_allative)
        lang = _one_of(body.get("lang"), LANGUAGES, "lang", "fi")
        if allative is not None and lang != "fi":
            raise Refusal(400, f"allative is for Finnish titles; with lang {lang} the title "
                               f"writes the name as it is (leave it empty)", "allative")
        mix = _one_of(body.get("mix"), MIXES, "mix")
        fmt = _one_of(body.get("format"), FORMATS, "format", "flac")
        own_title = _text(body, "title", 250)  # as sointu gift --title: the whole title
        preset = _gift_preset(body)
        title = own_title or G.gift_title(preset.title, recipient, lang, allative_form=allative)
        note = None if own_title else G.title_note(recipient, lang, allative_form=allative)
        path = ws.new_output(G.gift_file_name(title, SUFFIX[fmt]))
        gift = G.Gift(row=None, recipient=recipient, sender=sender, message=message,
                      lang=lang, title=title, seed=G.gift_seed(recipient, preset.name),
                      path=path, note=note)
        try:
            _check_gift_tags(preset, gift, preset.defaults.duration_s, mix, "message")
        except BaseException:
            ws.release(path)
            raise
        job = jobs.start("gift", [f"{recipient}: {title}"],
                         lambda job: _gift_work(job, [gift], preset, mix))
        return jsonify(job=job.id, title=title, file=path.name, note=gift.note), 202

    @app.post("/api/gifts")
    def gifts():
        from .. import delivery as G

        upload = request.files.get("clients")
        if upload is None or not upload.filename:
            raise Refusal(400, "clients: no file; send the clients CSV as the 'clients' "
                               "field", "clients")
        shown = safe_name(Path(upload.filename).name, "clients", what="clients file")
        lang = _one_of(request.form.get("lang") or None, LANGUAGES, "lang", "fi")
        mix = _one_of(request.form.get("mix") or None, MIXES, "mix")
        fields = {k: request.form.get(k) for k in ("sender", "message")}
        sender = _text(fields, "sender", 100)
        message = _text(fields, "message", 500)
        preset = _gift_preset({"preset": request.form.get("preset")})
        data = upload.stream.read(MAX_CLIENTS_BYTES + 1)
        if len(data) > MAX_CLIENTS_BYTES:
            raise Refusal(413, f"clients file {shown} is larger than 1 MB; allowed: a CSV "
                               f"file up to 1 MB", "clients")
        with tempfile.TemporaryDirectory(prefix="sointu-studio-clients-") as tmp:
            csv_path = Path(tmp) / shown
            csv_path.write_bytes(data)
            try:
                rows = G.read_clients(csv_path, default_lang=lang)
                rows = [replace(c, sender=c.sender or sender, message=c.message or message)
                        for c in rows]
                renders = ws.sub("renders")
                planned = G.plan_gifts(rows, preset, renders, source=shown,
                                       sample_rate=preset.defaults.sample_rate_hz,
                                       frames=_frames(preset))
            except UsageError as exc:
                raise Refusal(400, " ".join(str(exc).replace(str(csv_path), shown).split()),
                              "clients") from None
        # a gift already in renders/ and complete (the same title, seed, preset, format,
        # length and mix: a batch stopped before its end, sent again) is not made again
        made_already = functools.partial(
            G.gift_file_problem, preset_name=preset.name, frames=_frames(preset),
            sample_rate=preset.defaults.sample_rate_hz, mix=G.gift_mix(preset, mix))
        chosen, made = [], set()
        try:
            for g in planned:
                _check_gift_tags(preset, g, preset.defaults.duration_s, mix, "clients")
                before = _made_before(g, made_already)
                if before is not None:
                    chosen.append(replace(g, path=before))
                    made.add(before.name)
                else:
                    chosen.append(replace(g, path=ws.new_output(g.path.name)))
        except BaseException:
            for g in chosen:
                if g.path.name not in made:
                    ws.release(g.path)
            raise

        def work(job):
            try:
                _gift_work(job, chosen, preset, mix, frozenset(made))
            finally:  # who got which file, also when some failed or the studio stopped
                _write_manifest(ws, job, chosen)

        job = jobs.start("gifts", [f"row {g.row}: {g.recipient}" for g in chosen], work)
        return jsonify(job=job.id, files=[g.path.name for g in chosen]), 202

    @app.get("/api/jobs/<job_id>")
    def job(job_id: str):
        found = jobs.get(job_id)
        if found is None:
            raise Refusal(404, f"no job {job_id!r}; jobs live as long as the studio runs",
                          None)
        return jsonify(found.view())

    # -- files and recordings ------------------------------------------------------------

    @app.get("/api/files/<path:name>")
    def download(name: str):
        path = safe_path(ws.sub("renders"), name, "name")
        if not path.is_file():
            raise Refusal(404, f"no file '{name}' in renders/", "name")
        return send_file(path, as_attachment=True, download_name=path.name,
                         max_age=0, conditional=True)

    @app.get("/api/recordings")
    def recordings():
        return jsonify(_recordings(ws))

    @app.post("/api/recordings")
    def upload_recording():
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise Refusal(400, "file: no recording; send it as the 'file' field", "file")
        name = safe_name(upload.filename, "file", what="recording")
        suffix = Path(name).suffix.lower()
        if suffix not in AUDIO_SUFFIXES:
            raise Refusal(400, f"recording {name!r}: unsupported suffix '{suffix}'; allowed: "
                               f"{', '.join(AUDIO_SUFFIXES)}", "file")
        seconds = _check_audio(upload.stream, name)
        upload.stream.seek(0)
        return jsonify(name=_store(ws, upload.stream, name), seconds=round(seconds, 3)), 201


def _write_manifest(ws: Workspace, job, gifts) -> None:
    """``renders/manifest.csv`` (numbered if taken) of a clients batch, as ``sointu gift
    --clients`` writes it: file, recipient, seed, title, loudness, true peak, status, note."""
    from ..delivery import MANIFEST_NAME, write_manifest

    rows = []
    for item, g in zip(job.items, gifts, strict=True):
        info = item.info or {}
        status = {"done": "rendered", "failed": "failed",
                  "skipped": "skipped"}.get(item.state, "pending")
        rows.append({"file": g.path.name, "recipient": g.recipient, "seed": str(g.seed),
                     "title": g.title, "status": status, "note": item.error or g.note or "",
                     "loudness_lufs": _figure(info.get("loudness_lufs")),
                     "true_peak_dbtp": _figure(info.get("true_peak_dbtp"))})
    path = ws.new_output(MANIFEST_NAME)
    try:
        write_manifest(path, rows)
        job.manifest = path.name
    finally:
        ws.release(path)


def _made_before(gift, problem) -> Path | None:
    """The file in ``gift.path``'s folder that is this gift already (``problem(gift)`` is None
    for it): its planned name, or that name numbered (``-2``, ``-3`` ...: the studio never
    overwrites, so a gift made again beside another mix is numbered); None if none is."""
    import re

    stem, suffix = gift.path.stem, gift.path.suffix
    numbered = re.compile(rf"{re.escape(stem)}-([0-9]+){re.escape(suffix)}")
    candidates = [gift.path] + sorted(
        (p for p in gift.path.parent.glob(f"*{suffix}") if numbered.fullmatch(p.name)),
        key=lambda p: int(numbered.fullmatch(p.name).group(1)))
    for path in candidates:
        if path.is_file() and not path.is_symlink() \
                and problem(replace(gift, path=path)) is None:
            return path
    return None


def _figure(value) -> str:
    """A manifest's loudness or true peak (dB, two decimals); empty when not measured (a
    gift skipped as already made, or one that failed)."""
    return "" if value is None else f"{value:.2f}"


def _check_audio(stream, name: str) -> float:
    """Decode the whole upload (real audio, not just a header); its length (s)."""
    import soundfile as sf

    try:
        with sf.SoundFile(stream) as f:
            rate, frames, channels = f.samplerate, 0, f.channels
            if not 8000 <= rate <= 384000 or not 1 <= channels <= 8:
                raise Refusal(400, f"recording {name!r}: {rate} Hz, {channels} channels; "
                                   f"allowed: 8000..384000 Hz, 1..8 channels", "file")
            for block in f.blocks(65536, dtype="float32"):
                frames += len(block)
    except Refusal:
        raise
    except Exception as exc:  # libsndfile's own words for what it could not read
        why = " ".join(str(exc).split())[:120]
        raise Refusal(400, f"recording {name!r} is not audio sointu can read ({why}); "
                           f"allowed: WAV, FLAC, OGG or MP3", "file") from None
    if frames < MIN_RECORDING_S * rate:
        raise Refusal(400, f"recording {name!r} is {frames / rate:.3f} s long; allowed: at "
                           f"least {MIN_RECORDING_S:g} s of audio", "file")
    return frames / rate


def _store(ws: Workspace, stream, name: str) -> str:
    """Write the checked upload to ``DIR/samples`` under a free name (never over a file)."""
    folder = ws.sub("samples", create=True)
    part = folder / f".{name}.{threading.get_ident()}.part"
    try:
        with open(part, "xb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        stem, suffix = Path(name).stem, Path(name).suffix
        n, target = 2, folder / name
        while True:
            try:
                os.link(part, target)  # fails if the name is taken: nothing is replaced
                return target.name
            except FileExistsError:
                target = folder / f"{stem}-{n}{suffix}"
                n += 1
    finally:
        part.unlink(missing_ok=True)


def _recordings(ws: Workspace) -> list[dict]:
    """The recordings the page may use as the voice: ``DIR/samples`` and the shipped ones."""
    import soundfile as sf

    from ..shipped import folder as shipped_folder

    out = []
    for source, where in (("folder", ws.sub("samples")), ("shipped", shipped_folder("samples"))):
        if not where.is_dir():
            continue
        for p in sorted(where.iterdir()):
            if p.name.startswith(".") or p.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            if source == "folder" and not p.resolve().is_relative_to(ws.folder):
                continue  # a link out of the folder is not offered
            try:
                info = sf.info(str(p))
            except Exception:
                continue
            out.append({"name": p.name, "seconds": round(info.frames / info.samplerate, 3),
                        "source": source})
    return out
