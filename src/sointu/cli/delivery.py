"""``sointu gift``: a session rendered as a personal gift, for one client or a whole list.

Thin: the rules (titles, seeds, the clients file, the manifest, the batch runner) live in
:mod:`sointu.delivery`; rendering reuses ``sointu render``'s tags and pipeline.
"""

from __future__ import annotations

import functools
import os
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import click

from ..errors import OutputError, UsageError
from . import group
from .options import (
    duration_option,
    mix_option,
    output_options,
    preset_dir_option,
    seed_option,
)
from .recordings import voice_intro_option, voice_intro_recordings
from .render import (
    check_new_output,
    output_folder,
    render_preset,
    summary,
)

__all__ = ["gift_cmd", "render_gift"]


def _check_option(option: str, value: str | None, limit: int) -> str | None:
    from ..delivery import check_allative, check_name, check_text

    if value is None:
        return None
    value = " ".join(value.split()) if option != "--message" else value.strip()
    check = {"--for": check_name, "--for-allative": check_allative}.get(option)
    why = check(value) if check else check_text(value, limit)
    if why:
        raise UsageError(f"{option} {value[:40]!r} {why}")
    return value or None


def _gift_tags(audio, gift):
    from ..library import gift_tags

    return gift_tags(audio, gift)


def render_gift(gift, *, preset, duration_s, loudness, bit_depth, quality, force,
                quiet=True, mix=None, recordings=(), cover_file=None, no_cover=False):
    """Render one gift (in a batch worker or in this process).

    Parameters
    ----------
    gift : sointu.delivery.Gift
        Recipient, title, seed and output file.
    preset : SessionPreset
        The loaded session preset.
    duration_s : float or None
        Length (s); None for the preset's.
    loudness : float or None
        Target (LUFS); None for the preset's.
    bit_depth, quality
        Output options (see ``sointu render``).
    force : bool
        Overwrite an existing file (also done when ``gift.redo``: the file there is not
        this gift).
    quiet : bool
        No progress bar.
    mix : str or None
        ``speakers`` or ``headphones``; None: the preset's, else headphones.
    recordings : sequence of RecordingSpec
        Recordings added to the preset's (``--voice-intro``); the gift's
        ``message_recording`` is placed after the spoken welcomes.
    cover_file, no_cover
        ``--cover FILE`` and ``--no-cover``; by default the cover is drawn from the session
        with the recipient's line from the gift's title ("Maijalle").

    Returns
    -------
    (GiftResult, RenderReport, SessionAudio)
    """
    from ..delivery import GiftResult, gift_mix
    from ..session.audio import SessionAudio

    if gift.message_recording is not None:  # spoken where the message belongs
        from ..session.recordings import spoken_message

        where = ("--message-recording" if gift.row is None
                 else f"row {gift.row}, column 'message_recording'")
        recordings = (*recordings, spoken_message(gift.message_recording, preset, recordings,
                                                  where=where))
    audio = SessionAudio.from_preset(preset, duration_s=duration_s, seed=gift.seed,
                                     mix=gift_mix(preset, mix), recordings=recordings)
    tags = _gift_tags(audio, gift)
    cover = _gift_cover(audio, gift, tags, cover_file, no_cover)
    report = render_preset(audio, gift.path, force=force or gift.redo, loudness=loudness,
                           bit_depth=bit_depth, quality=quality, tags=tags,
                           quiet=quiet, cover=cover)
    result = GiftResult(loudness_lufs=report.loudness.integrated_lufs,
                        true_peak_dbtp=report.loudness.true_peak_dbtp, bytes=report.bytes,
                        wall_s=report.wall_s)
    return result, report, audio


def _gift_cover(audio, gift, tags, cover_file, no_cover):
    """The gift's cover (:func:`sointu.library.gift_cover`) from --cover and --no-cover."""
    from ..library import gift_cover
    from ..pictures.cover import check_cover_options

    check_cover_options(cover_file, no_cover)
    return gift_cover(audio, gift, tags,
                      cover=cover_file if cover_file is not None else not no_cover)


def _batch_worker(gift, **settings):
    """``render_one`` of the batch: module level, so it can be handed to a worker process."""
    return render_gift(gift, **settings)[0]


def _preload() -> None:
    """Import the rendering code once here, so forked workers start without importing it."""
    import importlib

    for name in ("session.audio", "rendering.pipeline", "rendering.writer", "rendering.formats",
                 "rendering.tags", "rendering.markers"):
        importlib.import_module(f"sointu.{name}")
    import mutagen.flac  # noqa: F401  (tags are completed with mutagen)
    import soundfile  # noqa: F401

    from ..pictures.cover import cover_available

    if cover_available():  # every gift's cover is drawn with Pillow
        import PIL.ImageDraw  # noqa: F401
        import PIL.ImageFont  # noqa: F401


def _check_tags(preset, gifts, duration_s: float, source: str) -> None:
    """Build every gift's tags before rendering, so a too long comment stops the batch early."""
    from ..rendering.tags import validate_tags

    for g in gifts:
        stub = SimpleNamespace(preset=preset, timeline=SimpleNamespace(seed=g.seed),
                               duration_s=duration_s, mix="headphones")  # the longer words
        try:
            validate_tags(_gift_tags(stub, g))
        except UsageError as exc:
            where = f"{source}: row {g.row}, column 'message': " if g.row else ""
            raise UsageError(f"{where}{exc}") from None


@group.command("gift")
@click.argument("preset")
@click.option("--for", "recipient", default=None, metavar="NAME",
              help="The recipient's name; the title uses the first name.")
@click.option("--for-allative", "allative", default=None, metavar="FORM",
              help="The first name in the Finnish allative as the title should write it "
                   "(Matille), when the generated form is not right or not known.")
@click.option("--from", "sender", default=None, metavar="NAME",
              help="Who gives it (written as the artist). With --clients: for rows without "
                   "a 'from'.")
@click.option("--message", default=None, metavar="TEXT",
              help="A dedication, written into the comment. With --clients: for rows "
                   "without a 'message'.")
@click.option("--message-recording", "message_recording", type=click.Path(path_type=Path),
              default=None, metavar="FILE",
              help="The personal message spoken (WAV, FLAC, OGG, MP3), placed where the "
                   "message belongs: 2 s into the first phase, or 1 s after the spoken "
                   "welcome; the phase grows to hold it, the length holds. With --clients: "
                   "for rows without a 'message_recording'.")
@click.option("--lang", type=click.Choice(["fi", "en"]), default="fi", show_default=True,
              help="Language of the title and dedication. With --clients: for rows without "
                   "a 'lang'.")
@click.option("--title", default=None,
              help="The whole title instead of the generated one (one gift only).")
@click.option("--clients", type=click.Path(path_type=Path), default=None, metavar="CSV",
              help="Render one gift per row of this CSV file into the folder -o.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, metavar="N",
              help="With --clients: gifts rendered at once (default: the number of cores). "
                   "Each render already measures on two cores, so more jobs help mostly "
                   "for short sessions.")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="One gift: the file (its suffix picks the format), or a folder for the "
                   "default name. --clients: the folder (must exist).")
@duration_option
@seed_option
@mix_option("headphones")
@voice_intro_option
@output_options
@preset_dir_option("session")
@click.option("--cover", "cover_file", type=click.Path(path_type=Path), default=None,
              metavar="FILE", help="Your own front cover (PNG or JPEG, up to 10 MB) instead "
              "of the one drawn from the session with the recipient's name.")
@click.option("--no-cover", is_flag=True, help="No front cover.")
def gift_cmd(preset: str, recipient: str | None, allative: str | None, sender: str | None,
             message: str | None, lang: str, title: str | None, clients: Path | None,
             jobs: int | None, output: str | None, duration_s: float | None,
             seed: int | None, force: bool, loudness: float | None, bit_depth: str | None,
             quality: float | None, folder: Path | None, mix: str | None = None,
             voice_intro: Path | None = None, cover_file: Path | None = None,
             no_cover: bool = False, message_recording: Path | None = None) -> None:
    """Render session PRESET as a personal gift with its own title and seed.

    The title is personal, Finnish by default: "Sointurentoutus - Maijalle" (the preset's
    Finnish title and the first name in the allative, with consonant gradation: "Pekka" ->
    "Pekalle", "Tuomas" -> "Tuomakselle", "Kaarin" -> "Kaarinille"). A name whose form is
    not known with confidence (a foreign name, a name inflected in two ways) gets a title
    without an ending, "Sointurentoutus - lahja: Klaus", and the summary says so: give the
    form with --for-allative, or the whole title with --title. --lang en: "Sound
    relaxation for Maija". The dedication (for, from, message) goes into the comment, in
    the gift's language, with the preset, seed and length; --from is the artist.

    The seed comes from the recipient's name (case and spacing do not matter) and the
    preset, so every client gets a different session and the same gift can be rendered
    again identically; --seed overrides it. The default file name is the title
    (Sointurentoutus-Maijalle.flac), and an existing file is never overwritten.

    With --clients FILE.csv -o DIR, one gift per row: a UTF-8 CSV with a header row and
    columns name (required), from, message, lang (fi/en), file (name in DIR; its suffix
    picks the format), seed, name_fi_allative (as --for-allative), message_recording (as
    --message-recording, relative to the CSV file's folder). Rows count as in a
    spreadsheet (the header is row 1). A gift whose file in DIR is complete and is that
    gift (format, length, title, preset, seed) is skipped, so an interrupted batch
    resumes where it stopped; any other file there is made again. A failing row does not
    stop the others. DIR/manifest.csv lists file,
    recipient, seed, title, loudness, true peak, status and a note (why a row failed).

    \b
    Examples:
      sointu gift classic-60 --for Maija --from "Sointu-Pekka" --message "Hyvää joulua!"
      sointu gift gift-30 --for "Maija Meikäläinen" --lang en -o maija.mp3
      sointu gift classic-60 --for "Klaus Müller" --for-allative Klausille
      sointu gift gift-30 --clients clients.csv -o gifts/ --jobs 2
    """
    from ..session.presets import load_session_preset

    recipient = _check_option("--for", recipient, 100)
    allative = _check_option("--for-allative", allative, 100)
    if allative is not None and lang != "fi":
        raise UsageError(f"--for-allative is for Finnish titles; with --lang {lang} the "
                         f"title writes the name as it is (leave --for-allative out)")
    sender = _check_option("--from", sender, 100)
    message = _check_option("--message", message, 500)
    title = _check_option("--title", title, 250)
    if message_recording is not None:
        from ..session.recordings import check_recording_file

        why = check_recording_file(message_recording)
        if why:
            raise UsageError(f"--message-recording {why}")
    if cover_file is not None:  # checked once, before any gift
        from ..pictures.cover import check_cover_options
        from ..rendering.cover_art import read_cover_file

        check_cover_options(cover_file, no_cover)
        read_cover_file(cover_file)
    loaded = load_session_preset(preset, folder)
    settings = dict(preset=loaded, duration_s=duration_s, loudness=loudness,
                    bit_depth=bit_depth, quality=quality, force=force, mix=mix,
                    recordings=voice_intro_recordings(voice_intro),
                    cover_file=cover_file, no_cover=no_cover)
    if clients is None:
        if recipient is None:
            raise UsageError("give --for NAME (one gift) or --clients FILE.csv -o DIR "
                             "(one gift per row)")
        _one_gift(loaded, recipient, allative, sender, message, lang, title, seed, output,
                  settings, message_recording)
        return
    for option, value in (("--for", recipient), ("--for-allative", allative),
                          ("--title", title), ("--seed", seed)):
        if value is not None:
            raise UsageError(f"{option} applies to one gift and cannot be used with "
                             f"--clients; allowed with --clients: --from, --message, --lang "
                             f"(defaults for empty cells), 'seed' and 'name_fi_allative' "
                             f"columns")
    _batch(loaded, clients, None if output is None else Path(output).expanduser(), jobs,
           sender, message, lang, settings, message_recording)


def _one_gift(preset, recipient, allative, sender, message, lang, title, seed, output,
              settings, message_recording=None):
    from .. import delivery as G

    note = None if title else G.title_note(recipient, lang, allative_form=allative)
    title = title or G.gift_title(preset.title, recipient, lang, allative_form=allative)
    seed = G.gift_seed(recipient, preset.name) if seed is None else seed
    folder = output_folder(output)
    if folder is None:
        path = Path(output).expanduser()
    elif settings["force"]:  # the default name, overwritten
        path = folder / G.gift_file_name(title, ".flac")
    else:
        path = G.unique_path(folder, G.gift_file_name(title, ".flac"))
    check_new_output(path, settings["force"])
    gift = G.Gift(row=None, recipient=recipient, sender=sender, message=message, lang=lang,
                  title=title, seed=seed, path=path, note=note,
                  message_recording=message_recording)
    duration = settings["duration_s"] or preset.defaults.duration_s
    _check_tags(preset, [gift], duration, "")
    _, report, audio = render_gift(gift, quiet=False, **settings)
    click.echo(summary(report, audio), err=True)
    click.echo(f"  gift for {recipient}: \"{title}\", seed {seed}"
               + (f" ({note})" if note else ""), err=True)


def _batch(preset, clients: Path, folder: Path | None, jobs, sender, message, lang,
           settings, message_recording=None):
    from .. import delivery as G
    from ..session.composer import compose

    if folder is None:
        raise UsageError("--clients needs -o DIR: the folder to write the gifts into")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"output folder {folder} {what}; allowed: an existing folder "
                         f"(create it first, e.g. mkdir {folder})")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {folder} is not writable; choose a folder you "
                          f"can write to")
    rows = G.read_clients(clients, default_lang=lang)
    rows = [replace(c, sender=c.sender or sender, message=c.message or message,
                    message_recording=c.message_recording or message_recording) for c in rows]
    timeline = compose(preset, seed=0, duration_s=settings["duration_s"])
    rate = preset.defaults.sample_rate_hz
    frames = int(round(timeline.duration_s * rate))
    gifts = G.plan_gifts(rows, preset, folder, source=str(clients),
                         bit_depth=settings["bit_depth"], quality=settings["quality"],
                         sample_rate=rate, frames=frames)
    _check_tags(preset, gifts, timeline.duration_s, str(clients))
    total = len(gifts)
    width = len(str(total))
    done = [0]

    def report(event, gift, detail):
        if event == "redo":  # not counted: the gift is rendered later
            click.echo(f"row {gift.row}: {gift.path.name} is there but is not this gift "
                       f"({detail}); making it again (the old file is replaced when the "
                       f"new one is complete)", err=True)
            return
        done[0] += 1
        head = f"[{done[0]:>{width}}/{total}] row {gift.row}"
        if event == "skipped":
            click.echo(f"{head}: skipped {gift.path.name} (already there and complete)",
                       err=True)
        elif event == "rendered":
            click.echo(f"{head}: wrote {gift.path.name}: \"{gift.title}\", seed {gift.seed}, "
                       f"{detail.loudness_lufs:.1f} LUFS, true peak "
                       f"{detail.true_peak_dbtp:.1f} dBTP, {detail.wall_s:.1f} s"
                       + (f" ({gift.note})" if gift.note else ""), err=True)
        else:
            click.echo(f"{head}: failed {gift.path.name}: {detail}", err=True)

    check = functools.partial(G.gift_file_problem, preset_name=preset.name, frames=frames,
                              sample_rate=rate, bit_depth=settings["bit_depth"],
                              quality=settings["quality"],  # a file of the other mix is not it
                              mix=G.gift_mix(preset, settings["mix"]))
    jobs = jobs or os.cpu_count() or 1
    worker = functools.partial(_batch_worker, **settings)
    try:
        result = G.run_batch(gifts, worker, folder, jobs=jobs, force=settings["force"],
                             report=report, check=check, prepare=_preload)
    except KeyboardInterrupt:
        click.echo(f"stopped: finished gifts are kept and listed in {folder / G.MANIFEST_NAME}; "
                   f"run the same command again to render the rest", err=True)
        raise
    click.echo(f"{len(result.rendered)} written, {len(result.skipped)} skipped, "
               f"{len(result.failed)} failed; manifest {result.manifest}", err=True)
    if result.failed:
        n = len(result.failed)
        which = "; ".join(f"row {g.row} ({g.recipient}): {reason}"
                          for g, reason in result.failed)
        raise OutputError(f"{n} gift{'s' if n > 1 else ''} failed, the others are done "
                          f"(failed rows are marked in {result.manifest.name}; run again to "
                          f"retry only them): {which}")
