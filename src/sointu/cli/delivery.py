"""``sointu gift``: a session rendered as a personal gift, for one client or a whole list.

Thin: the rules (titles, seeds, the clients file, the manifest, the batch runner) live in
:mod:`sointu.render.gifts`; rendering reuses ``sointu render``'s tags and pipeline.
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
from .options import duration_option, output_options, seed_option
from .render import cover_and_plot, render_preset, session_tags, summary

__all__ = ["gift_cmd", "render_gift"]


def _check_option(option: str, value: str | None, limit: int) -> str | None:
    from ..render.gifts import check_text

    if value is None:
        return None
    value = " ".join(value.split()) if option != "--message" else value.strip()
    why = check_text(value, limit)
    if why:
        raise UsageError(f"{option} {value[:40]!r} {why}")
    if option == "--for" and not value:
        raise UsageError("--for '' is empty; allowed: the recipient's name, e.g. Maija")
    return value or None


def _gift_tags(audio, gift):
    return session_tags(audio, title=gift.title, artist=gift.sender,
                        dedication=gift.dedication)


def render_gift(gift, *, preset, duration_s, loudness, bit_depth, quality, force,
                quiet=True, cover_file=None, no_cover=False):
    """Render one gift (in a batch worker or in this process).

    Parameters
    ----------
    gift : sointu.render.gifts.Gift
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
        Overwrite an existing file.
    quiet : bool
        No progress bar.
    cover_file, no_cover
        ``--cover FILE`` and ``--no-cover``; by default the cover is drawn from the session
        with the recipient's line from the gift's title ("Maijalle").

    Returns
    -------
    (GiftResult, RenderReport, SessionAudio)
    """
    from ..render.gifts import GiftResult
    from ..session.audio import SessionAudio

    audio = SessionAudio.from_preset(preset, duration_s=duration_s, seed=gift.seed)
    tags = _gift_tags(audio, gift)
    cover = _gift_cover(audio, gift, tags, cover_file, no_cover)
    report = render_preset(audio, gift.path, force=force, loudness=loudness,
                           bit_depth=bit_depth, quality=quality, tags=tags,
                           quiet=quiet, cover=cover)
    result = GiftResult(loudness_lufs=report.loudness.integrated_lufs,
                        true_peak_dbtp=report.loudness.true_peak_dbtp, bytes=report.bytes,
                        wall_s=report.wall_s)
    return result, report, audio


def _gift_cover(audio, gift, tags, cover_file, no_cover):
    """The gift's cover: the title's first part and the recipient's line as the title has
    them (not derived here), the giver at the bottom."""
    from ..pictures.cover import gift_lines
    from ..render.gifts import DEFAULT_TITLES

    first = (audio.preset.title or {}).get(gift.lang) or DEFAULT_TITLES.get(gift.lang)
    title, recipient = gift_lines(gift.title, first)
    return cover_and_plot(audio, gift.path, tags, cover_file, no_cover, False, False,
                          recipient=recipient, title=title)[0]


def _batch_worker(gift, **settings):
    """``render_one`` of the batch: module level, so it can be handed to a worker process."""
    return render_gift(gift, **settings)[0]


def _preload() -> None:
    """Import the rendering code once here, so forked workers start without importing it."""
    import importlib

    for name in ("session.audio", "render.pipeline", "render.writer", "render.formats",
                 "render.tags", "render.markers"):
        importlib.import_module(f"sointu.{name}")
    import mutagen.flac  # noqa: F401  (tags are completed with mutagen)
    import soundfile  # noqa: F401

    from ..pictures.cover import cover_available

    if cover_available():  # every gift's cover is drawn with Pillow
        import PIL.ImageDraw  # noqa: F401
        import PIL.ImageFont  # noqa: F401


def _check_tags(preset, gifts, duration_s: float, source: str) -> None:
    """Build every gift's tags before rendering, so a too long comment stops the batch early."""
    from ..render.tags import validate_tags

    for g in gifts:
        stub = SimpleNamespace(preset=preset, timeline=SimpleNamespace(seed=g.seed),
                               duration_s=duration_s)
        try:
            validate_tags(_gift_tags(stub, g))
        except UsageError as exc:
            where = f"{source}: row {g.row}, column 'message': " if g.row else ""
            raise UsageError(f"{where}{exc}") from None


@group.command("gift")
@click.argument("preset")
@click.option("--for", "recipient", default=None, metavar="NAME",
              help="The recipient's name; the title uses the first name.")
@click.option("--from", "sender", default=None, metavar="NAME",
              help="Who gives it (written as the artist). With --clients: for rows without "
                   "a 'from'.")
@click.option("--message", default=None, metavar="TEXT",
              help="A dedication, written into the comment. With --clients: for rows "
                   "without a 'message'.")
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
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="One gift: the file (its suffix picks the format), or a folder for the "
                   "default name. --clients: the folder (must exist).")
@duration_option
@seed_option
@output_options
@click.option("--cover", "cover_file", type=click.Path(path_type=Path), default=None,
              metavar="FILE", help="Your own front cover (PNG or JPEG, up to 10 MB) instead "
              "of the one drawn from the session with the recipient's name.")
@click.option("--no-cover", is_flag=True, help="No front cover.")
def gift_cmd(preset: str, recipient: str | None, sender: str | None, message: str | None,
             lang: str, title: str | None, clients: Path | None, jobs: int | None,
             output: Path | None, duration_s: float | None, seed: int | None, force: bool,
             loudness: float | None, bit_depth: str | None, quality: float | None,
             cover_file: Path | None, no_cover: bool) -> None:
    """Render session PRESET as a personal gift with its own title and seed.

    The title is personal, Finnish by default: "Sointurentoutus - Maijalle" (the preset's
    Finnish title and the first name + "lle", or + "ille" after a consonant: "Aleksander"
    -> "Aleksanderille"; no consonant gradation, so "Pekka" -> "Pekkalle": give --title to
    write it yourself). --lang en: "Sound relaxation for Maija". The dedication (for, from,
    message) goes into the comment with the preset, seed and length; --from is the artist.

    The seed comes from the recipient's name (case and spacing do not matter) and the
    preset, so every client gets a different session and the same gift can be rendered
    again identically; --seed overrides it. The default file name is the title
    (Sointurentoutus-Maijalle.flac), and an existing file is never overwritten.

    With --clients FILE.csv -o DIR, one gift per row: a UTF-8 CSV with a header row and
    columns name (required), from, message, lang (fi/en), file (name in DIR; its suffix
    picks the format), seed. Rows count as in a spreadsheet (the header is row 1). Gifts
    whose file is already in DIR are skipped, so an interrupted batch resumes where it
    stopped; DIR/manifest.csv lists file, recipient, seed, title, loudness and true peak.

    \b
    Examples:
      sointu gift classic-60 --for Maija --from "Sointu-Pekka" --message "Hyvää joulua!"
      sointu gift gift-30 --for "Maija Meikäläinen" --lang en -o maija.mp3
      sointu gift gift-30 --clients clients.csv -o gifts/ --jobs 2
    """
    from ..session.presets import load_session_preset

    recipient = _check_option("--for", recipient, 100)
    sender = _check_option("--from", sender, 100)
    message = _check_option("--message", message, 500)
    title = _check_option("--title", title, 250)
    if cover_file is not None:  # checked once, before any gift
        from ..pictures.cover import check_cover_options
        from ..render.cover_art import read_cover_file

        check_cover_options(cover_file, no_cover)
        read_cover_file(cover_file)
    loaded = load_session_preset(preset)
    settings = dict(preset=loaded, duration_s=duration_s, loudness=loudness,
                    bit_depth=bit_depth, quality=quality, force=force,
                    cover_file=cover_file, no_cover=no_cover)
    if clients is None:
        if recipient is None:
            raise UsageError("give --for NAME (one gift) or --clients FILE.csv -o DIR "
                             "(one gift per row)")
        _one_gift(loaded, recipient, sender, message, lang, title, seed, output, settings)
        return
    for option, value in (("--for", recipient), ("--title", title), ("--seed", seed)):
        if value is not None:
            raise UsageError(f"{option} applies to one gift and cannot be used with "
                             f"--clients; allowed with --clients: --from, --message, --lang "
                             f"(defaults for empty cells) and a 'seed' column")
    _batch(loaded, clients, output, jobs, sender, message, lang, settings)


def _one_gift(preset, recipient, sender, message, lang, title, seed, output, settings):
    from ..render.gifts import Gift, gift_file_name, gift_seed, gift_title, unique_path

    title = title or gift_title(preset.title, recipient, lang)
    seed = gift_seed(recipient, preset.name) if seed is None else seed
    suffix = ".flac"
    if output is None or output.is_dir():
        path = unique_path(output or Path.cwd(), gift_file_name(title, suffix))
    else:
        path = output
    gift = Gift(row=None, recipient=recipient, sender=sender, message=message, lang=lang,
                title=title, seed=seed, path=path)
    duration = settings["duration_s"] or preset.defaults.duration_s
    _check_tags(preset, [gift], duration, "")
    _, report, audio = render_gift(gift, quiet=False, **settings)
    click.echo(summary(report, audio), err=True)
    click.echo(f"  gift for {recipient}: \"{title}\", seed {seed}", err=True)


def _batch(preset, clients: Path, folder: Path | None, jobs, sender, message, lang,
           settings):
    from ..render import gifts as G
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
    rows = [replace(c, sender=c.sender or sender, message=c.message or message)
            for c in rows]
    timeline = compose(preset, seed=0, duration_s=settings["duration_s"])
    rate = preset.defaults.sample_rate_hz
    gifts = G.plan_gifts(rows, preset, folder, source=str(clients),
                         bit_depth=settings["bit_depth"], quality=settings["quality"],
                         sample_rate=rate, frames=int(round(timeline.duration_s * rate)))
    _check_tags(preset, gifts, timeline.duration_s, str(clients))
    total = len(gifts)
    width = len(str(total))
    done = [0]

    def report(event, gift, detail):
        done[0] += 1
        head = f"[{done[0]:>{width}}/{total}] row {gift.row}"
        if event == "skipped":
            click.echo(f"{head}: skipped {gift.path.name} (already there)", err=True)
        elif event == "rendered":
            click.echo(f"{head}: wrote {gift.path.name}: \"{gift.title}\", seed {gift.seed}, "
                       f"{detail.loudness_lufs:.1f} LUFS, true peak "
                       f"{detail.true_peak_dbtp:.1f} dBTP, {detail.wall_s:.1f} s", err=True)
        else:
            click.echo(f"{head}: failed {gift.path.name}: {detail}", err=True)

    todo = sum(1 for g in gifts if settings["force"] or not g.path.exists())
    if todo:
        _preload()
    jobs = jobs or os.cpu_count() or 1
    worker = functools.partial(_batch_worker, **settings)
    try:
        result = G.run_batch(gifts, worker, folder, jobs=max(1, min(jobs, todo)),
                             force=settings["force"], report=report)
    except KeyboardInterrupt:
        click.echo(f"stopped: finished gifts are kept and listed in {folder / G.MANIFEST_NAME}; "
                   f"run the same command again to render the rest", err=True)
        raise
    click.echo(f"{len(result.rendered)} written, {len(result.skipped)} skipped, "
               f"{len(result.failed)} failed; manifest {result.manifest}", err=True)
    if result.failed:
        gift, reason = result.failed[0]
        left = len(result.failed) - 1 + len(result.not_started)
        more = f"; {left} more not done, run again to resume" if left else ""
        raise OutputError(f"gift of row {gift.row} ({gift.recipient}) failed: {reason}{more}")
