"""The level of a session, decided once: cache -> estimate -> measure.

A render and live playback of a session sound at the same level: the gain that brings the
session to its loudness target under the true-peak ceiling. :func:`resolve_level` is the one
place that decides it:

1. **cache**: a render or playback of the same session found it before
   (:mod:`.gain_cache`: keyed by the preset files, seed, length, rate, target, ceiling and
   sointu's version);
2. **estimate**: the gain computed from the session's modes, the limiter's share included
   (:func:`.estimate.estimate_gain_db`: a fraction of a second for an hour, no synthesis);
3. **measure**: the whole session synthesised and metered at the estimated gain, and the gain
   corrected once (:func:`settle`) if it misses the target by more than :data:`RETRY_LU`.
   A render that meters while it writes does this step itself (it keeps the file when it
   is on target); everything else measures first on both cores (:mod:`.measure`).

The result is a :class:`Level` value that is passed down: the audio is rendered or played
as ``audio.at_gain(level.gain_db)``; nothing sets a gain and restores it. A measured level
also carries the session's loudness over time (:mod:`.loudness_curve`, from the same meter),
cached beside the gain: what a picture of the session draws (:func:`session_curve`).

A corrected gain is rounded to :data:`_GAIN_STEP_DB`, so that it comes out the same from
either measurement (they differ in the last bits: the second span's engine state is
computed in closed form) and from live playback's.

Live playback (:class:`LiveLevel`) starts at once: at the cached gain, or at a provisional
one while a background process measures the session and hands the difference to the player.

This module imports only the small cache at first: live playback's first sound must not
wait for the loudness meter's or the encoders' imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..background import Background
from ..session.audio import CEILING_DBTP
from . import gain_cache

if TYPE_CHECKING:
    from .loudness import Loudness, LoudnessMeter
    from .loudness_curve import LoudnessCurve

__all__ = [
    "CEILING_DBTP", "RETRY_LU", "PROVISIONAL_RAW_LUFS", "Level", "cached_level",
    "resolve_level", "remember", "settle", "planned_gain_db", "session_gain_db", "LiveLevel",
    "level_curve", "session_curve",
]

#: A render whose measured loudness is farther than this from the target (LU) is rendered
#: again at the corrected gain. The estimate alone lands within 0.06 LU for the shipped
#: presets wherever the limiter is idle.
RETRY_LU = 0.15
#: Grid of corrected gains (dB).
_GAIN_STEP_DB = 0.001
#: Assumed loudness of an unnormalised session for live playback's provisional gain (LUFS):
#: the shipped presets measure -42 to -51, so starting from -42 errs on the quiet side.
PROVISIONAL_RAW_LUFS = -42.0


@dataclass(frozen=True)
class Level:
    """A session's normalisation gain and the loudness it gives.

    Attributes
    ----------
    gain_db : float
        Gain applied to every sample (dB).
    loudness : Loudness or None
        Of the session at that gain; None for a planned gain not yet measured (a render
        measures it while writing, see :func:`resolve_level`).
    curve : LoudnessCurve or None
        The loudness over time at that gain, when it was measured or (asked for and) cached;
        extra data, not part of what makes two levels equal.
    """

    gain_db: float
    loudness: Loudness | None
    curve: LoudnessCurve | None = field(default=None, compare=False, repr=False)


def cached_level(audio, target_lufs: float, ceiling_dbtp: float = CEILING_DBTP, *,
                 curve: bool = False) -> Level | None:
    """The level a render or playback of this session found before, or None; with its
    loudness curve if ``curve`` and one is cached."""
    key = gain_cache.key(audio, target_lufs, ceiling_dbtp)
    cached = gain_cache.get(key)
    if cached is None:
        return None
    from .loudness import Loudness

    kept = None
    if curve:
        from . import loudness_curve

        kept = loudness_curve.get(key, audio.sample_rate)
    return Level(cached[0], Loudness(*cached[1:]), kept)


def remember(audio, target_lufs: float, ceiling_dbtp: float, level: Level) -> Level:
    """Keep a measured ``level`` (and its curve, if any) in the cache (for the next render
    or playback); return it."""
    loud = level.loudness
    key = gain_cache.key(audio, target_lufs, ceiling_dbtp)
    gain_cache.put(key, level.gain_db, loud.integrated_lufs, loud.true_peak_dbtp,
                   loud.sample_peak_dbfs)
    if level.curve is not None:
        from . import loudness_curve

        loudness_curve.put(key, level.curve)
    return level


def planned_gain_db(audio, target_lufs: float) -> float:
    """The gain (dB) a first render uses: estimated from the session's modes, the limiter's
    share included (:func:`.estimate.estimate_gain_db`; ``audio.gain_db`` is not used)."""
    from .estimate import estimate_gain_db

    return estimate_gain_db(audio, target_lufs)


def settle(audio, gain_db: float, meter: LoudnessMeter, target_lufs: float,
           ceiling_dbtp: float) -> float | None:
    """None if ``meter`` (the session measured at ``gain_db``) is on target; else the gain
    to render at instead."""
    from .loudness import gain_for_target, normalisation_gain_db

    meter = meter.finished()  # measure any pending frames once, not in every call below
    extra = gain_for_target(meter, target_lufs)
    if audio.limit_dbfs is None:  # nothing else keeps the peaks under the ceiling
        extra = min(extra, normalisation_gain_db(meter.result(), target_lufs, ceiling_dbtp))
        if meter.true_peak_dbtp() > ceiling_dbtp:
            return _on_grid(gain_db + extra)
    if abs(meter.integrated_lufs() - target_lufs) <= RETRY_LU:
        return None
    return _on_grid(gain_db + extra)


def _on_grid(gain_db: float) -> float:
    return round(gain_db / _GAIN_STEP_DB) * _GAIN_STEP_DB


def resolve_level(audio, target_lufs: float, ceiling_dbtp: float = CEILING_DBTP, *,
                  measure_first: bool = True, workers: int | None = None,
                  planned: Callable[[], float] | None = None, curve: bool = False) -> Level:
    """The one decision of a session's level: cache -> estimate -> measure.

    Parameters
    ----------
    audio : SessionAudio
        The session (its ``gain_db`` is neither used nor changed).
    target_lufs : float
        Integrated loudness target (LUFS).
    ceiling_dbtp : float
        True-peak ceiling (dBTP).
    measure_first : bool
        Measure an uncached session now (on ``workers`` processes), correct the gain once
        and cache it. False: return the estimate unmeasured (``loudness`` None), for a
        render that meters while writing and settles it itself.
    workers : int, optional
        Processes that measure; default the CPUs (at most 2).
    planned : callable, optional
        Returns the estimated gain (dB) when it is already being computed, as by
        :class:`.estimate.GainEstimate`.
    curve : bool
        Also read the loudness curve from the cache when the level is cached (a measured
        level always carries its curve).

    Returns
    -------
    Level
    """
    if getattr(audio, "recordings", ()):  # their levels first: the measurement may fork
        from .recordings import calibrate

        calibrate(audio)
    level = cached_level(audio, target_lufs, ceiling_dbtp, curve=curve)
    if level is not None:
        return level
    gain = planned() if planned is not None else planned_gain_db(audio, target_lufs)
    if not measure_first:
        return Level(gain, None)
    from .loudness import Loudness
    from .loudness_curve import LoudnessCurve
    from .measure import measure_source

    meter = measure_source(audio.at_gain(gain), workers=workers)
    better = settle(audio, gain, meter, target_lufs, ceiling_dbtp)
    extra = 0.0 if better is None else better - gain
    level = Level(gain + extra, Loudness(meter.integrated_lufs_at(extra),
                                         meter.true_peak_dbtp() + extra,
                                         meter.sample_peak_dbfs() + extra),
                  LoudnessCurve.from_meter(meter).scaled(extra))
    return remember(audio, target_lufs, ceiling_dbtp, level)


def level_curve(audio, level: Level, target_lufs: float,
                ceiling_dbtp: float = CEILING_DBTP) -> LoudnessCurve:
    """The loudness over time of the session at ``level.gain_db``: the level's own, else
    measured once on both cores (a gain cached without its curve) and cached beside it."""
    if level.curve is not None:
        return level.curve
    from . import loudness_curve
    from .loudness_curve import LoudnessCurve
    from .measure import measure_source

    curve = LoudnessCurve.from_meter(measure_source(audio.at_gain(level.gain_db)))
    loudness_curve.put(gain_cache.key(audio, target_lufs, ceiling_dbtp), curve)
    return curve


def session_curve(audio, target_lufs: float, ceiling_dbtp: float = CEILING_DBTP
                  ) -> LoudnessCurve:
    """The loudness over time of a session as a render writes it (at its normalisation
    gain): cached with the gain, or measured on both cores (the same measurement a render of
    a format encoded in parts makes first) and cached."""
    return level_curve(audio, resolve_level(audio, target_lufs, ceiling_dbtp, curve=True),
                       target_lufs, ceiling_dbtp)


def session_gain_db(audio, target_lufs: float, ceiling_dbtp: float = CEILING_DBTP, *,
                    workers: int | None = None) -> float:
    """The normalisation gain (dB) of a session; see :func:`resolve_level`."""
    return resolve_level(audio, target_lufs, ceiling_dbtp, workers=workers).gain_db


def _measure(audio, target_lufs) -> float:
    return session_gain_db(audio, target_lufs, workers=1)


class LiveLevel:
    """The gain live playback starts at and, if needed, the exact gain measured meanwhile.

    Parameters
    ----------
    audio : SessionAudio
        The session to play (not changed: play ``audio.at_gain(level.gain_db)``).
    target_lufs : float
        The loudness a render of it would have.

    Attributes
    ----------
    gain_db : float
        The gain to start at (dB): the rendered level when cached, else a provisional one
        (:data:`PROVISIONAL_RAW_LUFS`) on the quiet side.
    exact : bool
        Whether playback starts at the rendered level.
    """

    def __init__(self, audio, target_lufs: float):
        cached = cached_level(audio, target_lufs)
        self.exact = cached is not None
        self._job = None
        if self.exact:
            self.gain_db = cached.gain_db
            return
        self.gain_db = target_lufs - PROVISIONAL_RAW_LUFS
        # idle: the audio thread and its producer must never wait for this
        self._job = Background(_measure, audio, target_lufs, name="sointu-level", idle=True)

    def done(self) -> bool:
        """Whether the background measurement has finished (True when nothing is pending)."""
        return self._job is None or self._job.done()

    def result(self) -> float | None:
        """Level change (dB) from the provisional to the exact gain, or None."""
        if self._job is None:
            return None
        gain = self._job.result()
        self.close()
        return None if gain is None else gain - self.gain_db

    def close(self) -> None:
        """Stop the measurement if it is still running."""
        if self._job is not None:
            self._job.close()
            self._job = None
