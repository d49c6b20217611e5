"""sointu as a library: one call per thing the command line does.

These are the functions ``import sointu`` exports (:data:`sointu.__all__`). Each is one call
over the classes that do the work, as ``soundfile.write()`` is over ``SoundFile``:

=====================  ======================================================================
:func:`load_preset`    a session preset, by name or path (:mod:`sointu.session.presets`)
:func:`compose`        its Timeline: events and phases (:mod:`sointu.session.composer`)
:func:`strike`         one stroke of an instrument as samples (:mod:`sointu.engine.audition`)
:func:`render`         a session to a finished file (:func:`render_preset`)
:func:`play`           a session live through the speakers (:mod:`sointu.live.player`)
=====================  ======================================================================

Under them, :func:`session_tags`, :func:`cover_and_plot` and :func:`render_preset` render an
already composed ``SessionAudio`` (what ``sointu render`` and ``sointu gift`` call).

Errors are :class:`sointu.errors.SointuError` subclasses with a one-line message. Lengths
and times (``duration``, ``start_at``) are seconds, or text such as ``"20m"``, ``"1h30m"``
or ``"90s"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

__all__ = [
    "load_preset", "compose", "strike", "render", "play", "RenderResult", "PlayOutcome",
    "parse_start", "render_preset", "session_tags", "cover_and_plot", "gift_tags",
    "gift_cover", "render_gift", "strike_blocks",
]

#: A length or a time: seconds, or text like ``"20m"``.
Duration = float | int | str


def _seconds(value: Duration | None) -> float | None:
    """Seconds from a number or a text length (:func:`~sointu.session.durations.parse_duration`)."""
    if value is None:
        return None
    from .session.durations import check_duration, parse_duration

    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"duration {value!r} is not a length; allowed: seconds or text "
                         "such as '20m' or '1h30m'")
    return check_duration(float(value))


def parse_start(text: Duration) -> float:
    """A start time like ``25m``, ``1h5m``, ``90s`` or ``0`` -> seconds (UsageError if bad)."""
    if not isinstance(text, str):
        return 0.0 if text == 0 else _seconds(text)
    from .session.durations import parse_duration

    if re.fullmatch(r"0*(?:\.0*)?\s*[hms]?", str(text).strip().lower()):
        return 0.0
    return parse_duration(text)


def load_preset(name_or_path: str | Path, *, folder: str | Path | None = None):
    """Load and check a session preset.

    Parameters
    ----------
    name_or_path : str or Path
        A preset name (``"classic-60"``, see ``sointu presets``) or a ``.toml`` file.
    folder : str or Path, optional
        Also look for names here (default: ``./presets`` and the shipped presets).

    Returns
    -------
    SessionPreset

    Raises
    ------
    PresetError
        Unknown name, missing file, or the first problem in the file (file, line, key).
    """
    from .session.presets import load_session_preset

    return load_session_preset(name_or_path, None if folder is None else Path(folder))


def voice_intro_recordings(path: str | Path | None) -> tuple:
    """The recordings a spoken welcome at ``path`` adds (``--voice-intro``): none without it."""
    if path is None:
        return ()
    from .session.recordings import voice_intro

    return (voice_intro(Path(path).expanduser()),)


def _preset(preset, folder=None):
    from .session.presets import SessionPreset

    return preset if isinstance(preset, SessionPreset) else load_preset(preset, folder=folder)


def compose(preset, *, duration: Duration | None = None, seed: int | None = None):
    """Compose a session: which instrument sounds when, and the named phases.

    Parameters
    ----------
    preset : str, Path or SessionPreset
        A preset name or file, or one from :func:`load_preset`.
    duration : float or str, optional
        Total length: seconds, or text like ``"20m"`` (default: the preset's).
    seed : int, optional
        Composition seed, 0..2^63-1 (default: the preset's). The same preset, length and
        seed always give the same Timeline.

    Returns
    -------
    Timeline
        ``events`` (time in s, instrument, velocity, ...), ``phases`` (name, start_s,
        end_s), ``duration_s`` and ``seed``.
    """
    from .session.recordings import compose_with_room

    # as it will sound: strokes a recording of the preset displaces are left out
    return compose_with_room(_preset(preset), seed=seed, duration_s=_seconds(duration))


def strike(instrument, *, velocity: float = 0.8, mallet: str = "medium",
           position: float | None = None, seconds: float | None = None, seed: int = 0,
           sample_rate: int = 48000, folder: str | Path | None = None,
           rub: float | None = None):
    """One stroke of an instrument ringing out, as samples (what ``sointu strike`` writes).

    Parameters
    ----------
    instrument : str, Path or Instrument
        An instrument name (``"universal"``, see ``sointu instruments``) or ``.toml`` file.
    velocity : float
        Strength, 0..1.
    mallet : {"soft", "medium", "hard"}
        Softer is darker.
    position : float, optional
        Where the rim is struck (degrees); drawn from ``seed`` if None.
    seconds : float, optional
        Length (s), (0, 3600]; default: until the sound has rung out (-60 dB), after a
        0.05 s lead-in. A set length ends with a 50 ms fade.
    seed : int
        Seeds the small per-stroke variation.
    sample_rate : int
        Hz.
    folder : str or Path, optional
        Also look for instrument names here.
    rub : float, optional
        Rub the rim for this many seconds (0, 600] instead of striking (bowls and crystal
        bowls; ``sointu strike --rub``); ``mallet`` and ``position`` are then not used.

    Returns
    -------
    numpy.ndarray, float32, shape (frames, 2)
        Stereo samples, full scale 1.0, in sointu's default room.
    """
    import numpy as np

    _, blocks = strike_blocks(instrument, velocity=velocity, mallet=mallet, position=position,
                              seconds=seconds, seed=seed, sample_rate=sample_rate,
                              folder=folder, rub=rub)
    return np.concatenate(list(blocks)).astype(np.float32, copy=False)


def strike_blocks(instrument, *, velocity: float = 0.8, mallet: str = "medium",
                  position: float | None = None, seconds: float | None = None, seed: int = 0,
                  sample_rate: int = 48000, folder: str | Path | None = None,
                  rub: float | None = None, block_frames: int = 8192):
    """:func:`strike` as it is synthesised: its length and its blocks, so that it can be
    played or sent before the whole sound is made (the same samples).

    Returns
    -------
    frames : int
        Its length (frames).
    blocks : iterator of numpy.ndarray, float32, shape (n, 2)
        ``block_frames`` frames each (the last one shorter).
    """
    from .engine.audition import audition
    from .engine.fades import fade_out
    from .engine.instrument import Instrument
    from .engine.library import load_instrument
    from .engine.piece import check_sample_rate

    check_sample_rate(sample_rate)
    if mallet not in ("soft", "medium", "hard"):
        raise UsageError(f"mallet {mallet!r} is not allowed; allowed: soft, medium, hard")
    inst = instrument if isinstance(instrument, Instrument) else load_instrument(
        instrument, None if folder is None else Path(folder))
    synth, frames = audition(inst, sample_rate=sample_rate, velocity=velocity, mallet=mallet,
                             position_deg=position, rub_s=rub, seconds=seconds, seed=seed)
    fade = int(0.05 * sample_rate) if seconds is not None else 0
    return frames, fade_out(synth.blocks(block_frames, 0, frames), 0, frames, fade)


@dataclass(frozen=True)
class RenderResult:
    """What :func:`render` wrote.

    Attributes
    ----------
    path : Path
        The audio file (with ``.cue`` and ``.chapters.json`` beside it).
    bytes : int
        Its size (bytes).
    frames : int
        Frames written.
    sample_rate : int
        Hz.
    seed : int
        The composition seed.
    gain_db : float
        The loudness-normalisation gain applied (dB).
    target_lufs : float
        The loudness asked for (LUFS).
    loudness_lufs : float
        Integrated loudness of what was written (LUFS, BS.1770).
    true_peak_dbtp : float
        Its true peak (dBTP).
    sample_peak_dbfs : float
        Its sample peak (dBFS).
    phases : tuple of Phase
        The named phases (``name``, ``start_s``, ``end_s``), also the file's chapters.
    wall_s : float
        Time taken (s).
    picture : Path or None
        The session picture drawn with ``plot=``, else None.
    """

    path: Path
    bytes: int
    frames: int
    sample_rate: int
    seed: int
    gain_db: float
    target_lufs: float
    loudness_lufs: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    phases: tuple
    wall_s: float
    picture: Path | None = None

    @property
    def length_s(self) -> float:
        """Length of the audio (s)."""
        return self.frames / self.sample_rate


def session_tags(audio, *, title=None, artist=None, album=None, comment=None, genre=None,
                 date=None, dedication=None):
    """Tags of a session render: preset defaults, overridden by what the user gave.

    Parameters
    ----------
    audio : SessionAudio
        The composed session (``audio.preset`` gives the defaults).
    title, artist, album, comment, genre, date : str, optional
        Override the preset's metadata; ``date`` defaults to today (ISO 8601).
    dedication : str, optional
        Added to the default comment.

    Returns
    -------
    Tags
    """
    import datetime

    from . import __version__
    from .rendering.tags import Tags
    from .session.durations import format_duration

    preset = audio.preset
    meta = preset.metadata
    length = format_duration(audio.duration_s)
    parts = [f"preset {preset.name}", f"seed {audio.timeline.seed}", f"length {length}",
             f"{getattr(audio, 'mix', 'speakers')} mix", f"sointu {__version__}"]
    if dedication:
        parts.append(dedication)
    default_comment = "; ".join(parts)
    if meta.comment:
        default_comment = f"{meta.comment} ({default_comment})"
    return Tags(
        title=title or preset.display_title,
        artist=artist if artist is not None else meta.artist,
        album=album if album is not None else meta.album,
        date=date or datetime.date.today().isoformat(),
        genre=genre if genre is not None else meta.genre,
        comment=comment if comment is not None else default_comment,
    )


def cover_and_plot(audio, output: Path, tags, *, cover=True, plot=None, force: bool = False,
                   recipient: str | None = None, title: str | None = None,
                   option: str = "plot"):
    """The front cover and the session picture of a render, checked before rendering.

    Parameters
    ----------
    audio : SessionAudio
        The composed session.
    output : Path
        The audio file to be written.
    tags : Tags
        Its tags: the cover shows the title (unless ``title``) and the artist.
    cover : bool, str or Path
        True: drawn from the session (FLAC, MP3 and Ogg; none without the plot extra);
        False: none; a path: that PNG or JPEG (up to 10 MB), read and checked here.
    plot : bool, str or Path, optional
        True: the session picture beside ``output`` (its name with .png); a path: there
        (.png, .svg, .pdf); None or False: none.
    force : bool
        Replace an existing picture.
    recipient, title : str, optional
        A gift's recipient line and title part on the cover
        (:func:`sointu.pictures.cover.gift_lines`).
    option : str
        How errors name the picture (``--plot`` on the command line).

    Returns
    -------
    cover_plan : CoverPlan
        For :func:`render_preset` (``note`` says why a file gets no cover).
    picture : Path or None
        The checked picture path.

    Raises
    ------
    UsageError, OutputError
        A bad cover file or picture path, or the plot extra is missing for ``plot``.
    """
    import os

    from .pictures.cover import CoverPlan

    for name, value in (("cover", cover), ("plot", plot)):
        if not (value is None or isinstance(value, bool | str | os.PathLike)):
            raise UsageError(f"{name}={value!r} is not allowed; allowed: True, False or a "
                             "file path")
    picture = None
    if plot is not None and plot is not False:
        from .pictures.files import check_picture_path, require

        require(option)
        picture = check_picture_path(Path(output).with_suffix(".png") if plot is True
                                     else Path(plot).expanduser(), force=force, option=option)
    own = None if cover is None or isinstance(cover, bool) else Path(cover).expanduser()
    plan = CoverPlan(audio.preset, audio.timeline, title=title or tags.title or "",
                     artist=tags.artist, recipient=recipient, own_file=own,
                     enabled=own is not None or bool(cover))
    return plan, picture


def render_preset(audio, output: Path, *, force: bool, loudness: float | None,
                  bit_depth: str | None, quality: float | None, tags, progress=None,
                  cover=None, plot: Path | None = None):
    """Render a composed session to ``output``.

    Parameters
    ----------
    audio : SessionAudio
        The composed session. The levels of its recordings are measured first
        (:func:`sointu.rendering.recordings.calibrate`), unless they are set.
    output : Path
        The file; its suffix picks the format.
    force : bool
        Overwrite an existing file.
    loudness : float or None
        Integrated loudness target (LUFS); None for the preset's.
    bit_depth, quality
        Format options (see :func:`sointu.rendering.formats.resolve_format`).
    tags : Tags
        E.g. from :func:`session_tags`.
    progress : callable, optional
        Called with the frames written so far. If it also has ``begin()`` and ``close()``
        (as the command line's progress bar), they are called when the render starts and
        when it ends.
    cover : CoverPlan, optional
        The front cover (:func:`cover_and_plot`), made while the audio is synthesised;
        None: no cover.
    plot : Path, optional
        Draw the session and the loudness the render measured into this picture (checked
        by :func:`cover_and_plot`), in another process while the audio is synthesised; it
        is put in place only once the audio file is.

    Returns
    -------
    RenderReport
        With ``curve``, the loudness over time, when ``plot`` is given.
    """
    from .rendering import gain_cache
    from .rendering.estimate import GainEstimate
    from .rendering.formats import resolve_format
    from .rendering.level import CEILING_DBTP
    from .rendering.recordings import calibrate

    target = audio.preset.defaults.loudness_lufs if loudness is None else loudness
    job = estimate = None
    if plot is not None:  # drawn in another process at idle priority (sointu.pictures.job),
        from .pictures.job import SessionPlotJob  # forked before any of the render's work

        job = SessionPlotJob(plot, audio.preset, audio.timeline, target)
    try:
        calibrate(audio)  # the recordings' levels, measured, before the gain estimate forks
        fmt = resolve_format(output, bit_depth=bit_depth, quality=quality,
                             sample_rate=audio.sample_rate, frames=audio.total_frames,
                             channels=2)
        # unless it is cached, the gain is estimated in another process while the encoder
        # and the meter are imported
        cached = gain_cache.get(gain_cache.key(audio, target, CEILING_DBTP)) is not None
        estimate = None if cached else GainEstimate(audio, target)
        if hasattr(progress, "begin"):
            progress.begin()  # at once: a session may be measured before frames are written
        from .rendering.pipeline import render_session

        # the curve goes to the picture as soon as it is known (cached, or measured
        # first), else once the render has metered it
        report = render_session(audio, output, fmt=fmt, tags=tags, target_lufs=target,
                                force=force, progress=progress,
                                planned=None if estimate is None else estimate.result,
                                curve=job is not None,
                                cover=None if cover is None else cover.start(fmt.suffix),
                                curve_ready=None if job is None else job.send)
        if job is not None:
            job.finish(report.curve)
        return report
    finally:
        if estimate is not None:
            estimate.close()
        if job is not None:
            job.close()
        if hasattr(progress, "close"):
            progress.close()


def gift_tags(audio, gift):
    """The tags of a gift (:class:`sointu.delivery.Gift`): its title, the giver as the
    artist, the dedication, preset, seed, length and mix in its language in the comment."""
    from .delivery import GIFT_MIX_WORDS, gift_comment

    mix = GIFT_MIX_WORDS.get(gift.lang, GIFT_MIX_WORDS["en"])[audio.mix]
    comment = gift_comment(gift, audio.preset.name, audio.timeline.seed, audio.duration_s, mix)
    return session_tags(audio, title=gift.title, artist=gift.sender, comment=comment)


def gift_cover(audio, gift, tags, *, cover=True):
    """The gift's front cover plan (``cover`` as :func:`cover_and_plot`): the title's first
    part and the recipient's line as the gift's title has them, the giver at the bottom."""
    from .delivery import DEFAULT_TITLES
    from .pictures.cover import gift_lines

    first = (audio.preset.title or {}).get(gift.lang) or DEFAULT_TITLES.get(gift.lang)
    title, recipient = gift_lines(gift.title, first)
    return cover_and_plot(audio, gift.path, tags, cover=cover, recipient=recipient,
                          title=title)[0]


def render_gift(gift, preset, *, duration: Duration | None = None, mix: str | None = None,
                loudness: float | None = None, bit_depth: str | None = None,
                quality: float | None = None, force: bool = False, recordings=(),
                cover=True, progress=None):
    """Render one gift as ``sointu gift`` does (headphone mix unless the preset or ``mix``
    says otherwise).

    Parameters
    ----------
    gift : sointu.delivery.Gift
        Recipient, title, seed and output file (``gift.path``).
    preset : SessionPreset
        From :func:`load_preset`.
    duration, mix, loudness, bit_depth, quality, force
        As :func:`render`.
    recordings : sequence of RecordingSpec
        Added to the preset's (:func:`voice_intro_recordings`).
    cover : bool, str or Path
        As :func:`cover_and_plot`.
    progress : callable, optional
        As :func:`render_preset`.

    Returns
    -------
    (RenderReport, SessionAudio)
    """
    from .delivery import gift_mix
    from .session.audio import SessionAudio

    audio = SessionAudio.from_preset(preset, duration_s=_seconds(duration), seed=gift.seed,
                                     mix=gift_mix(preset, mix), recordings=recordings)
    tags = gift_tags(audio, gift)
    plan = gift_cover(audio, gift, tags, cover=cover)
    report = render_preset(audio, gift.path, force=force or gift.redo, loudness=loudness,
                           bit_depth=bit_depth, quality=quality, tags=tags, progress=progress,
                           cover=plan)
    return report, audio


#: What :func:`render`'s ``tags`` may set.
_TAG_NAMES = frozenset({"title", "artist", "album", "comment", "genre", "date", "dedication"})


def render(preset, path, *, duration: Duration | None = None, seed: int | None = None,
           loudness: float | None = None, tags: Mapping[str, str] | None = None,
           force: bool = False, progress: Callable[[int], None] | None = None,
           sample_rate: int | None = None, bit_depth: str | None = None,
           quality: float | None = None, mix: str | None = None, cover=True,
           plot=None, voice_intro: str | Path | None = None) -> RenderResult:
    """Render a session to a loudness-normalised, tagged, chaptered audio file.

    The same as ``sointu render``: written through a temporary file that is renamed into
    place when complete, so ``path`` is never left half-written.

    Parameters
    ----------
    preset : str, Path or SessionPreset
        A preset name or file, or one from :func:`load_preset`.
    path : str or Path
        The file to write; its suffix picks the format (.flac .wav .ogg .opus .mp3).
    duration : float or str, optional
        Length: seconds or text like ``"20m"`` (default: the preset's).
    seed : int, optional
        Composition seed (default: the preset's).
    loudness : float, optional
        Integrated loudness target (LUFS, default: the preset's); the true peak stays under
        -1 dBTP.
    tags : mapping, optional
        ``title``, ``artist``, ``album``, ``comment``, ``genre``, ``date``,
        ``dedication``: override the preset's metadata.
    force : bool
        Overwrite an existing file.
    progress : callable, optional
        Called with the number of frames written so far.
    sample_rate : int, optional
        Hz (default: the preset's).
    bit_depth : {"16", "24", "32f"}, optional
        For WAV and FLAC (default 24 bit).
    quality : float, optional
        For lossy formats, 0..1.
    mix : {"speakers", "headphones"}, optional
        The mix (default: the preset's, else speakers); headphones is binaural.
    cover : bool, str or Path
        The front cover of a FLAC, MP3 or Ogg file: True drawn from the session (needs the
        plot extra, else none), False none, or a PNG or JPEG file (up to 10 MB).
    plot : bool, str or Path, optional
        Also draw the session and its measured loudness: True beside the file (.png), or
        a picture path (.png .svg .pdf); needs the plot extra. Replaced only with ``force``.
    voice_intro : str or Path, optional
        A spoken welcome (WAV, FLAC, OGG, MP3) 2 s into the first phase, as loud as the
        session; no stroke starts while it plays.

    Returns
    -------
    RenderResult

    Raises
    ------
    PresetError, UsageError, OutputError
        A bad preset, value or tag; the file exists (without ``force``) or cannot be
        written. Nothing is left on disk.
    """
    from .session.audio import SessionAudio

    tags = dict(tags or {})
    unknown = sorted(set(tags) - _TAG_NAMES)
    if unknown:
        raise UsageError(f"tag {unknown[0]!r} is not known; allowed: "
                         f"{', '.join(sorted(_TAG_NAMES))}")
    audio = SessionAudio.from_preset(_preset(preset), duration_s=_seconds(duration),
                                     seed=seed, sample_rate=sample_rate, mix=mix,
                                     recordings=voice_intro_recordings(voice_intro))
    path = Path(path).expanduser()
    tags = session_tags(audio, **tags)
    plan, picture = cover_and_plot(audio, path, tags, cover=cover, plot=plot, force=force)
    report = render_preset(audio, path, force=force, loudness=loudness, bit_depth=bit_depth,
                           quality=quality, tags=tags, progress=progress, cover=plan,
                           plot=picture)
    loud = report.loudness
    return RenderResult(path=report.path, bytes=report.bytes, frames=report.frames,
                        sample_rate=report.sample_rate, seed=report.seed,
                        gain_db=report.gain_db, target_lufs=report.target_lufs,
                        loudness_lufs=loud.integrated_lufs, true_peak_dbtp=loud.true_peak_dbtp,
                        sample_peak_dbfs=loud.sample_peak_dbfs,
                        phases=tuple(audio.timeline.phases), wall_s=report.wall_s,
                        picture=picture)


@dataclass(frozen=True)
class PlayOutcome:
    """How :func:`play` ended.

    Attributes
    ----------
    outcome : str
        ``"end"`` (the whole session played), ``"stopped"`` (q) or ``"interrupted"``
        (Ctrl-C, SIGTERM).
    position_s : float
        How far into the session playback got (s).
    length_s : float
        Length of the session (s).
    underruns : int
        Times the audio ran dry.
    sample_rate : int
        Hz.
    """

    outcome: str
    position_s: float
    length_s: float
    underruns: int
    sample_rate: int


def play(preset, *, device: str | int | None = None, duration: Duration | None = None,
         seed: int | None = None, start_at: Duration | None = None, phase: str | None = None,
         volume_db: float = 0.0, latency: str | float = "high",
         sample_rate: int | None = None, folder: str | Path | None = None,
         title: str | None = None, log: Callable[[str], None] | None = None,
         mix: str | None = None, voice_intro: str | Path | None = None, **options):
    """Play a session live through the speakers, at the level a render of it has.

    Returns when the session has ended or was stopped (q, or Ctrl-C: a short fade).

    Parameters
    ----------
    preset : str, Path or SessionPreset
        A preset name or file, or one from :func:`load_preset`.
    device : str or int, optional
        Output device: index, or (part of) a name from ``sointu devices`` (default: the
        system's).
    duration : float or str, optional
        Session length: seconds or text like ``"45m"`` (default: the preset's).
    seed : int, optional
        Composition seed (default: the preset's).
    start_at : float or str, optional
        Start this far into the session: seconds or text like ``"25m"``.
    phase : str, optional
        Start at the beginning of this phase instead (e.g. ``"relaxation"``).
    volume_db : float
        Volume (dB), -60..+6; above 0 the peaks are held under the -1 dBTP ceiling.
    latency : {"low", "high"} or float
        Output latency (seconds if a number).
    sample_rate : int, optional
        Hz (default: the preset's).
    folder : str or Path, optional
        Also look for preset names here.
    title : str, optional
        How status lines name the session (default: the preset as given, or its name).
    log : callable, optional
        Receives each status line (default: printed to stderr).
    mix : {"speakers", "headphones"}, optional
        The mix (default: the preset's, else speakers).
    voice_intro : str or Path, optional
        A spoken welcome 2 s into the first phase (as :func:`render`).
    **options
        Passed to :func:`sointu.live.player.play` (e.g. ``interactive``, ``prime_s``);
        ``stop_at_s`` behaves as if q was pressed that far into the session (s).

    Returns
    -------
    PlayOutcome

    Raises
    ------
    UsageError, DeviceError, PresetError
    """
    from .engine.piece import check_sample_rate
    from .live.devices import (
        check_output_settings,
        list_output_devices,
        load_sounddevice,
        resolve_output_device,
    )
    from .live.playback import VOLUME_RANGE_DB
    from .live.player import parse_latency
    from .live.player import play as play_source
    from .live.status import phases_summary
    from .rendering.level import LiveLevel
    from .session.audio import SessionAudio
    from .session.durations import format_duration

    if start_at is not None and phase is not None:
        raise UsageError("--start-at and --phase cannot be used together; give one of them")
    duration_s = _seconds(duration)
    start_s = parse_start(start_at) if start_at is not None else None
    lo, hi = VOLUME_RANGE_DB
    if isinstance(volume_db, bool) or not isinstance(volume_db, int | float) or not (
            lo <= volume_db <= hi):
        raise UsageError(f"volume {volume_db!r} dB is not allowed; allowed: a number of dB "
                         f"from {lo:g} to {hi:+g}")
    latency = parse_latency(latency)
    if sample_rate is not None:
        check_sample_rate(sample_rate)

    sd = load_sounddevice()
    out = resolve_output_device(device, list_output_devices(sd))

    kwargs = {"duration_s": duration_s, "seed": seed}
    if sample_rate is not None:
        kwargs["sample_rate"] = sample_rate
    if mix is not None:
        kwargs["mix"] = mix
    if voice_intro is not None:  # passed on only when given (as mix), for stand-in engines
        kwargs["recordings"] = voice_intro_recordings(voice_intro)
    source = SessionAudio.from_preset(preset if folder is None else _preset(preset, folder),
                                      **kwargs)
    if getattr(source, "recordings", ()):
        from .rendering.recordings import calibrate

        calibrate(source)  # the recordings' levels, as a render sets them (before any fork)
    sr = int(source.sample_rate)
    check_output_settings(out, sr, sd)

    timeline = source.timeline
    total = int(source.total_frames)
    start_frame = 0
    if start_s is not None:
        start_frame = int(round(start_s * sr))
        if start_frame >= total:
            raise UsageError(f"--start-at {start_at} is at or past the end of the session "
                             f"({format_duration(total / sr)}); phases: "
                             f"{phases_summary(timeline.phases)}")
    elif phase is not None:
        match = [p for p in timeline.phases if p.name.lower() == phase.strip().lower()]
        if not match:
            raise UsageError(f"unknown phase '{phase}'; phases: "
                             f"{phases_summary(timeline.phases)}")
        start_frame = min(int(round(match[0].start_s * sr)), total - 1)

    if log is None:
        import sys

        def log(line: str) -> None:
            print(f"sointu: {line}", file=sys.stderr, flush=True)

    if volume_db > 0:
        log(f"volume {volume_db:+g} dB: peaks that would pass the render's -1 dBTP ceiling "
            "are held down")
    stop_at_s = options.pop("stop_at_s", None)
    if stop_at_s is not None:
        options["stop_at_frame"] = int(round(stop_at_s * sr))
    title = getattr(source, "title", None) or title or str(getattr(preset, "name", preset))
    level = None
    if getattr(source, "preset", None) is not None:  # else a test's stand-in source
        level = LiveLevel(source, source.preset.defaults.loudness_lufs)
        if not level.exact:
            log("level: first play of this session; starting quieter and gliding to the "
                "rendered level once it is measured")
        source = source.at_gain(level.gain_db)
    try:
        result = play_source(source, device=out.index, device_label=out.label(), title=title,
                             start_frame=start_frame, volume_db=volume_db, latency=latency,
                             log=log, sd=sd, level=None if level is None or level.exact
                             else level, **options)
    finally:
        if level is not None:
            level.close()
    return PlayOutcome(result.outcome, result.position_s, total / sr, result.underruns, sr)
