"""The session at a glance: phases, every stroke per instrument, and the loudness over time.

One figure, two panels sharing a time axis in minutes:

- the score: the phases as labelled bands, one lane per instrument with a marker per stroke
  (its area grows with the velocity), rubs as bars over the time the rim is rubbed, gong
  waves framed, and a lane for recordings placed on the timeline (when a session has any);
- the short-term loudness (BS.1770, 3 s window, every 100 ms) of the session's actual audio
  from the same engine, in LUFS, with the loudness target and the integrated value, and its
  trend (the same energy over a minute) drawn over the strokes' saw-teeth.

:func:`session_figure` returns the matplotlib Figure (tests count what was drawn through
the artists' ``gid``); :func:`plot_session` saves it. matplotlib is imported here only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..session.durations import format_duration
from .labels import Labels, labels, language_of

__all__ = ["Lane", "session_lanes", "wave_spans", "session_figure", "plot_session",
           "OKABE_ITO", "FIGSIZE_IN"]

#: Okabe & Ito's colour-blind-safe palette (orange, sky blue, bluish green, blue,
#: vermillion, reddish purple, yellow, black).
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442",
             "#000000")
#: Size of the figure (inches); at 100 dpi 1600 x 900 pixels.
FIGSIZE_IN = (16.0, 9.0)
_PHASE_TINTS = ("#EDEDED", "#FFFFFF")
_LOUDNESS_COLOUR = "#56B4E9"
#: Window (s) of the loudness trend drawn over the short-term loudness.
_TREND_S = 60.0
_TARGET_COLOUR = "#D55E00"


@dataclass
class Lane:
    """What one lane of the score shows (times in s, velocities 0..1)."""

    key: str
    label: str
    strokes: list[tuple[float, float]] = field(default_factory=list)  # (time_s, velocity)
    rubs: list[tuple[float, float, float]] = field(default_factory=list)  # (t, dur, vel)
    waves: list[tuple[float, float, int]] = field(default_factory=list)  # (t0, t1, strokes)
    spans: list[tuple[float, float, str]] = field(default_factory=list)  # recordings


def wave_spans(preset, timeline) -> dict[str, list[tuple[float, float, int]]]:
    """The gong waves of a timeline, per instrument: ``(first_s, last_s, strokes)``.

    A wave is a cue of kind ``wave`` in the preset: its strokes follow one another at most
    the cue's largest gap apart, while regular strokes come much further apart; so each
    wave cue of a phase is the run of such close strokes on its instrument (at least two,
    at most the cue's count), taken in time order.
    """
    out: dict[str, list[tuple[float, float, int]]] = {}
    for spec in preset.phases:
        taken: set[tuple[str, float]] = set()
        for cue in spec.cues:
            if cue.kind != "wave":
                continue
            times = [e.time_s for e in timeline.events
                     if e.phase == spec.name and e.instrument == cue.instrument
                     and e.articulation == cue.articulation]
            for run in _runs(times, cue.gap_s[1] + 1e-6):
                if len(run) >= 2 and (cue.instrument, run[0]) not in taken:
                    taken.add((cue.instrument, run[0]))
                    run = run[:cue.count]
                    out.setdefault(cue.instrument, []).append((run[0], run[-1], len(run)))
                    break
    return out


def _runs(times: list[float], gap: float) -> list[list[float]]:
    runs: list[list[float]] = []
    for t in times:
        if runs and t - runs[-1][-1] <= gap:
            runs[-1].append(t)
        else:
            runs.append([t])
    return runs


def _recordings(timeline) -> list[tuple[float, float, str]]:
    """Recordings placed on the timeline, when the Timeline has them (``recordings``:
    items with ``time_s``, ``duration_s`` and a ``name`` or ``path``)."""
    out = []
    for r in getattr(timeline, "recordings", ()) or ():
        name = getattr(r, "name", None) or getattr(r, "path", None) or "recording"
        name = getattr(name, "name", name)  # a Path: its file name
        out.append((float(r.time_s), float(getattr(r, "duration_s", 0.0)), str(name)))
    return out


def session_lanes(preset, timeline, words: Labels | None = None,
                  names: dict[str, str] | None = None) -> list[Lane]:
    """The lanes of the score: one per instrument of the preset (file order), then one for
    recordings if the timeline has any; labelled with ``words`` (default English), each
    instrument by its name in ``names`` (default its key)."""
    words = words or labels("en")
    names = names or {}
    lanes = {}
    for key, si in preset.instruments.items():
        lanes[key] = Lane(key, words("lane", key=names.get(key, key),
                                     family=words.family(si.family),
                                     hz=words.number(si.fundamental_hz, ".0f")))
    for e in timeline.events:
        lane = lanes.setdefault(e.instrument, Lane(e.instrument, e.instrument))
        if e.articulation == "rub":
            lane.rubs.append((e.time_s, e.duration_s, e.velocity))
        else:
            lane.strokes.append((e.time_s, e.velocity))
    for key, waves in wave_spans(preset, timeline).items():
        lanes[key].waves = waves
    out = list(lanes.values())
    recordings = _recordings(timeline)
    if recordings:
        out.append(Lane("recordings", words("recordings"), spans=recordings))
    return out


def marker_area(velocity: float) -> float:
    """Area (pt^2) of a stroke's marker: from 12 (silent) to 260 (full strength)."""
    return 12.0 + 248.0 * max(0.0, min(1.0, velocity)) ** 1.5


def _rc() -> dict:
    return {"font.family": "DejaVu Sans", "font.size": 13, "axes.titlesize": 17,
            "axes.labelsize": 14, "xtick.labelsize": 12, "ytick.labelsize": 12,
            "legend.fontsize": 12, "svg.hashsalt": "sointu"}


def session_figure(preset, timeline, curve=None, *, target_lufs: float | None = None,
                   title: str | None = None, loudness: bool = True, reuse=None,
                   lang: str | None = None, names: dict[str, str] | None = None):
    """The session picture as a matplotlib Figure.

    Parameters
    ----------
    preset : SessionPreset
        The session preset (instrument names, families, wave cues).
    timeline : Timeline
        The composed session (phases, events; ``recordings`` if it has them).
    curve : LoudnessCurve, optional
        The loudness over time of the session's audio; without it the lower panel says
        that it was not measured.
    target_lufs : float, optional
        The loudness target (LUFS); default the preset's.
    title : str, optional
        The figure title; default the preset's title (in ``lang``), name, length and seed.
    loudness : bool
        Draw the loudness panel now; False leaves it empty for :func:`add_loudness` (a
        render draws the rest of the picture while it synthesises).
    reuse : matplotlib.figure.Figure, optional
        A figure this function made before: its contents are replaced and it is returned
        (the studio redraws one figure; its axes, ticks and text layouts are kept, which
        halves the time a redraw takes). The picture is the same as a new figure's.
    lang : str, optional
        The language of its words, ``"en"`` or ``"fi"``; default the preset's ``language``
        (English if the pictures do not have it).
    names : dict, optional
        Instrument key -> the name its lane shows (the studio's names in the page's
        language); default the key.

    Returns
    -------
    matplotlib.figure.Figure
        1600 x 900 pixels at 100 dpi. Artists carry a ``gid``: ``phase:NAME`` (bands of
        the score panel), ``strokes:KEY``, ``rubs:KEY``, ``wave:KEY``, ``recordings``,
        ``short-term`` and ``target``.
    """
    import matplotlib
    from matplotlib.figure import Figure

    target = preset.defaults.loudness_lufs if target_lufs is None else float(target_lufs)
    words = labels(language_of(preset) if lang is None else lang)
    lanes = session_lanes(preset, timeline, words, names)
    ratios = (max(len(lanes), 3), 3)
    with matplotlib.rc_context(_rc()):
        if reuse is not None and getattr(reuse, "_sointu_session", False):
            fig = reuse
            score, loud = fig.axes
            _empty(fig, ratios)
        else:
            fig = Figure(figsize=FIGSIZE_IN, dpi=100)
            fig._sointu_session = True
            # a fixed layout: constrained layout cost 0.45 s a picture, as much as drawing it
            fig.subplots_adjust(left=0.135, right=0.79, top=0.87, bottom=0.07, hspace=0.06)
            score, loud = fig.subplots(2, 1, sharex=True, height_ratios=ratios)
        fig._sointu_words = words  # add_loudness speaks the same language
        _draw_phases(score, loud, timeline, words)
        _draw_lanes(score, lanes, timeline.duration_s / 60.0, words)
        if loudness:
            add_loudness(fig, curve, target)
        end_min = timeline.duration_s / 60.0
        score.set_xlim(0.0, end_min)
        loud.set_xlabel(words("time_minutes"))
        words.ticks(score, loud)
        shown = (getattr(preset, "title", None) or {}).get(words.lang) or preset.display_title
        fig.suptitle(title or words("session_title", title=shown, name=preset.name,
                                    length=format_duration(timeline.duration_s),
                                    seed=timeline.seed),
                     fontsize=18, fontweight="bold")
    return fig


def _empty(fig, ratios) -> None:
    """Take what a session figure drew out of it (its axes stay) and set the panels'
    height ratios for the new number of lanes."""
    for ax in fig.axes:
        for artist in [*ax.collections, *ax.patches, *ax.texts, *ax.lines]:
            artist.remove()
        if ax.legend_ is not None:
            ax.legend_.remove()
    grid = fig.axes[0].get_subplotspec().get_gridspec()
    grid.set_height_ratios(ratios)
    for ax in fig.axes:
        ax._set_position(ax.get_subplotspec().get_position(fig))


def _draw_phases(score, loud, timeline, words: Labels) -> None:
    for i, ph in enumerate(timeline.phases):
        x0, x1 = ph.start_s / 60.0, ph.end_s / 60.0
        tint = _PHASE_TINTS[i % 2]
        score.axvspan(x0, x1, color=tint, zorder=0, gid=f"phase:{ph.name}")
        loud.axvspan(x0, x1, color=tint, zorder=0)
        if i:
            for ax in (score, loud):
                ax.axvline(x0, color="#888888", lw=1.0, zorder=1)
        score.text((x0 + x1) / 2, 1.005,
                   f"{words.phase(ph.name)}\n{_clock(ph.start_s)}-{_clock(ph.end_s)}",
                   transform=score.get_xaxis_transform(), ha="center", va="bottom",
                   fontsize=12, clip_on=False)


def _clock(t_s: float) -> str:
    whole = int(round(t_s))
    return f"{whole // 60}:{whole % 60:02d}"


def _draw_lanes(score, lanes, end_min: float, words: Labels) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    n = len(lanes)
    for i, lane in enumerate(lanes):
        y = n - 1 - i
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        if i % len(OKABE_ITO) == 6:  # yellow is hard to see on white: give it an edge
            edge = "#555555"
        else:
            edge = "#222222"
        if lane.strokes:
            xs = [t / 60.0 for t, _ in lane.strokes]
            sizes = [marker_area(v) for _, v in lane.strokes]
            score.scatter(xs, [y] * len(xs), s=sizes, c=colour, edgecolors=edge,
                          linewidths=0.6, alpha=0.9, zorder=3, gid=f"strokes:{lane.key}",
                          clip_on=False)  # a stroke at 0:00 is drawn whole
        if lane.rubs:
            bars = [(t / 60.0, max(d, 1.0) / 60.0) for t, d, _ in lane.rubs]
            score.broken_barh(bars, (y - 0.3, 0.6), facecolors=colour, edgecolors=edge,
                              linewidth=0.8, alpha=0.55, hatch="///", zorder=2,
                              gid=f"rubs:{lane.key}")
        for t0, t1, count in lane.waves:
            pad = 0.004 * end_min
            rect = Rectangle((t0 / 60.0 - pad, y - 0.45), (t1 - t0) / 60.0 + 2 * pad, 0.9,
                             fill=False, edgecolor="#000000", linestyle="--", linewidth=1.4,
                             zorder=4, gid=f"wave:{lane.key}")
            score.add_patch(rect)
            score.text(t0 / 60.0 - pad, y + 0.47, words("wave", count=count), fontsize=11,
                       va="bottom", ha="left", zorder=5)
        for t, d, name in lane.spans:
            score.broken_barh([(t / 60.0, max(d, 1.0) / 60.0)], (y - 0.3, 0.6),
                              facecolors=colour, edgecolors=edge, alpha=0.6, zorder=2,
                              gid="recordings")
            score.text(t / 60.0, y + 0.35, name, fontsize=11, va="bottom", zorder=5)
    score.set_yticks(range(n), [lane.label for lane in reversed(lanes)])
    score.set_ylim(-0.7, n - 0.3)
    score.set_ylabel(words("instrument"))
    score.tick_params(axis="y", length=0)
    handles = [Line2D([], [], ls="", marker="o", markersize=math.sqrt(marker_area(v)),
                      markerfacecolor="#BBBBBB", markeredgecolor="#222222",
                      label=words("stroke", velocity=words.number(v)))
               for v in (0.2, 0.5, 0.9)]
    if any(lane.rubs for lane in lanes):
        handles.append(Patch(facecolor="#BBBBBB", edgecolor="#222222", hatch="///",
                             label=words("rub")))
    if any(lane.waves for lane in lanes):
        handles.append(Patch(fill=False, edgecolor="#000000", linestyle="--",
                             label=words("gong_wave")))
    score.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0),
                 frameon=False, borderaxespad=0.0, labelspacing=1.2)


def add_loudness(fig, curve, target_lufs: float) -> None:
    """Draw the loudness panel of a :func:`session_figure` made with ``loudness=False``."""
    import matplotlib

    words = getattr(fig, "_sointu_words", None) or labels("en")
    with matplotlib.rc_context(_rc()):
        _draw_loudness(fig.axes[1], curve, float(target_lufs), words)


def _draw_loudness(ax, curve, target: float, words: Labels) -> None:
    ax.axhline(target, color=_TARGET_COLOUR, ls="--", lw=2.0, zorder=3, gid="target",
               label=words("target", lufs=words.number(target)))
    if curve is None:
        ax.text(0.5, 0.5, words("not_measured"), transform=ax.transAxes, ha="center",
                va="center", fontsize=14, color="#555555")
        low, high = target - 30.0, target + 10.0
    else:
        import numpy as np

        times, lufs = curve.short_term()
        shown = np.where(np.isfinite(lufs), lufs, np.nan)
        integrated = curve.integrated_lufs()
        ax.plot(times / 60.0, shown, color=_LOUDNESS_COLOUR, lw=1.2, zorder=2,
                gid="short-term",
                label=words("short_term", lufs=words.number(integrated, ".1f")))
        if curve.duration_s >= 4 * _TREND_S:  # the trend under the strokes' saw-teeth
            t_mean, mean = curve.short_term(_TREND_S)
            t_mean = t_mean - _TREND_S / 2.0  # drawn at the middle of its window
            ax.plot(t_mean / 60.0, np.where(np.isfinite(mean), mean, np.nan), color="#000000",
                    lw=2.2, zorder=3, gid="trend",
                    label=words("trend", seconds=words.number(_TREND_S)))
        finite = lufs[np.isfinite(lufs)]
        top = float(finite.max()) if finite.size else target
        high = max(top, target) + 3.0
        low = max(float(np.percentile(finite, 2)) if finite.size else target - 30.0,
                  target - 40.0) - 3.0
    ax.set_ylim(low, high)
    ax.set_ylabel(words("loudness"))
    ax.grid(axis="y", color="#CCCCCC", lw=0.8)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False,
              borderaxespad=0.0)


def plot_session(path, preset, timeline, curve=None, *, target_lufs: float | None = None,
                 lang: str | None = None):
    """Draw the session picture and save it to ``path`` (.png, .svg or .pdf), atomically;
    ``lang`` as for :func:`session_figure`."""
    from .files import save_figure

    fig = session_figure(preset, timeline, curve, target_lufs=target_lufs, lang=lang)
    return save_figure(fig, path)


def plot_session_preset(path, preset, *, seed: int | None = None,
                        duration_s: float | None = None, target_lufs: float | None = None):
    """``sointu show PRESET --plot PATH``: compose, measure the audio's loudness, draw, save.

    The loudness is that of the session's audio at the gain a render gives it (cached with
    the gain, else synthesised and measured on both cores). Returns the path written.
    """
    from ..rendering.level import session_curve
    from ..session.audio import SessionAudio

    audio = SessionAudio.from_preset(preset, duration_s=duration_s, seed=seed)
    target = preset.defaults.loudness_lufs if target_lufs is None else float(target_lufs)
    curve = session_curve(audio, target)
    return plot_session(path, preset, audio.timeline, curve, target_lufs=target)
