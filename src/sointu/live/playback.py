"""What the audio callback does: copy queued blocks out, with gain glides, in frames.

:class:`Playback` is the state of one live playback as the audio callback sees it. It has
no device and no clock: :meth:`Playback.fill` is called with the buffer the device wants
filled, copies ready frames from the :class:`~sointu.live.feeder.Feeder`, applies the fade
and volume glides, and counts frames. Other threads talk to it only by posting commands
(:meth:`toggle_pause`, :meth:`seek`, :meth:`change_volume`, :meth:`stop`), which the next
callback applies, and by reading its counters.

States::

    playing --pause--> pausing (fade out) --> paused (silence, position frozen)
    paused --resume--> playing (fade in)
    playing --seek--> seek-out (fade out) --> seek-wait (silence until the new blocks) -->
        playing (fade in)
    any --stop--> stopping (fade out) --> draining
    end of session --> draining (silence for the device latency + margin) --> done
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from ..session.audio import LIMIT_DBFS
from .feeder import Feeder
from .peakguard import MAX_CAP, PeakGuard
from .ramp import Ramp

__all__ = [
    "Playback",
    "PAUSE_FADE_S",
    "SEEK_FADE_S",
    "STOP_FADE_S",
    "START_FADE_S",
    "VOLUME_GLIDE_S",
    "RECOVER_FADE_S",
    "VOLUME_RANGE_DB",
]

#: Fade out before pausing and fade in on resuming (s).
PAUSE_FADE_S = 0.3
#: Fade out before jumping to the next phase, and fade in after it (s).
SEEK_FADE_S = 0.3
#: Fade out when stopping with q, Ctrl-C or SIGTERM (s).
STOP_FADE_S = 2.0
#: Fade in when playback starts in the middle of the session (s).
START_FADE_S = 0.3
#: Glide time of one volume step (s).
VOLUME_GLIDE_S = 0.15
#: Fade in after the queue ran dry, so the audio comes back without a click (s).
RECOVER_FADE_S = 0.02
#: Allowed volume, dB relative to the session's level.
VOLUME_RANGE_DB = (-60.0, 6.0)

PLAYING = "playing"
PAUSING = "pausing"
PAUSED = "paused"
SEEK_OUT = "seek-out"
SEEK_WAIT = "seek-wait"
STOPPING = "stopping"
DRAINING = "draining"
DONE = "done"


def _db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


class Playback:
    """Callback-side state of a live playback.

    Parameters
    ----------
    feeder : Feeder
        Where ready blocks come from (already started and primed).
    sample_rate : int
        Frames per second.
    total_frames : int
        Length of the session (frames).
    start_frame : int
        Session frame the feeder starts at; when above 0, playback fades in over
        :data:`START_FADE_S`.
    volume_db : float
        Initial volume (dB), within :data:`VOLUME_RANGE_DB`.
    stop_at_frame : int, optional
        Test hook: behave as if stopped (Ctrl-C) when the position reaches this frame.
    limit_dbfs : float
        No sample leaves at a higher level (dBFS), whatever the volume: the render's own
        peak limit, 1 dB under its -1 dBTP true-peak ceiling (see :mod:`.peakguard`).

    Attributes
    ----------
    position : int
        Session frame of the next frame to be handed to the device.
    underruns : int
        Callbacks that found the queue empty, or that the device flagged as underflowed.
    outcome : str or None
        ``"end"`` (the whole session played), ``"stopped"`` or ``"error"`` once draining.
    error : BaseException or None
        What the source raised, if it did.
    done : threading.Event
        Set when the session, the stop fade and the silence padding have all been played.
    """

    def __init__(self, feeder: Feeder, *, sample_rate: int, total_frames: int,
                 start_frame: int = 0, volume_db: float = 0.0, stop_at_frame: int | None = None,
                 limit_dbfs: float = LIMIT_DBFS):
        self.feeder = feeder
        self.sample_rate = int(sample_rate)
        self.total_frames = int(total_frames)
        self.position = int(start_frame)
        self.state = PLAYING
        self.underruns = 0
        self.callbacks = 0
        self.peak = 0.0
        self.outcome: str | None = None
        self.stop_reason: str | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.volume_db = float(volume_db)
        self.pad_frames = int(0.05 * self.sample_rate)
        self.stop_at_frame = stop_at_frame
        self._fade = Ramp(1.0, self.sample_rate)
        if start_frame > 0:
            self._fade.value = 0.0
            self._fade.go(1.0, START_FADE_S)
        self._volume = Ramp(_db_to_gain(self.volume_db), self.sample_rate)
        self._level = Ramp(1.0, self.sample_rate)  # loudness correction, see set_level
        self._commands: deque[tuple] = deque()
        self._generation = feeder.generation
        self._chunk: np.ndarray | None = None
        self._offset = 0
        self._guard = PeakGuard(_db_to_gain(limit_dbfs))
        self._ceiling = np.ones(0)
        self._ceiling_low = MAX_CAP
        self._segments: list[tuple[int, int, float, np.ndarray]] = []
        self.limited_db = 0.0
        self._seek_to: int | None = None
        self._pause_after_seek = False
        self._pad_left = 0

    # -- commands (any thread) ---------------------------------------------------------------

    def toggle_pause(self) -> None:
        """Pause with a fade out, or resume with a fade in."""
        self._commands.append(("pause",))

    def seek(self, frame: int) -> None:
        """Fade out, continue at session frame ``frame``, fade in."""
        self._commands.append(("seek", int(frame)))

    def change_volume(self, delta_db: float) -> float:
        """Glide the volume by ``delta_db`` (clamped to :data:`VOLUME_RANGE_DB`); new dB."""
        lo, hi = VOLUME_RANGE_DB
        self.volume_db = min(hi, max(lo, self.volume_db + delta_db))
        self._commands.append(("volume", self.volume_db))
        return self.volume_db

    def set_level(self, delta_db: float, glide_s: float) -> None:
        """Glide the session's level by ``delta_db`` (relative to the start) over ``glide_s``.

        Used once, when the exact loudness-normalisation gain becomes known during play.
        """
        self._commands.append(("level", _db_to_gain(delta_db), float(glide_s)))

    def stop(self, fade_s: float = STOP_FADE_S, reason: str = "stopped") -> None:
        """Fade out over ``fade_s`` (from full level), then pad with silence and finish."""
        self._commands.append(("stop", float(fade_s), reason))

    @property
    def paused(self) -> bool:
        """True while paused or fading into the pause."""
        return self.state in (PAUSING, PAUSED) or self._pause_after_seek

    def take_peak(self) -> float:
        """Largest absolute sample since the last call (linear)."""
        peak, self.peak = self.peak, 0.0
        return peak

    def take_limiting(self) -> float:
        """Largest gain reduction of the peak guard since the last call (dB, >= 0)."""
        limited, self.limited_db = self.limited_db, 0.0
        return limited

    # -- the audio callback ------------------------------------------------------------------

    def fill(self, out: np.ndarray, device_underflow: bool = False) -> None:
        """Fill ``out`` (frames, 2) float32 with the next audio; called by the stream callback.

        Parameters
        ----------
        out : ndarray, shape (frames, 2), float32
            The device buffer, filled completely.
        device_underflow : bool
            The device reported an output underflow since the last call.
        """
        self.callbacks += 1
        if device_underflow:
            self.underruns += 1
        while self._commands:
            self._apply(self._commands.popleft())
        state = self.state
        if state in (PAUSED, DONE):
            out.fill(0.0)
            return
        if state == DRAINING:
            out.fill(0.0)
            self._pad_left -= len(out)
            if self._pad_left <= 0:
                self.state = DONE
                self.done.set()
            return
        if state == SEEK_WAIT and not self._find_seek_start():
            out.fill(0.0)
            return
        if (self.state == PLAYING and self.stop_at_frame is not None
                and self.position >= self.stop_at_frame):
            self.stop_at_frame = None
            self._apply(("stop", STOP_FADE_S, "stopped"))
        self._play(out, device_underflow)

    def _play(self, out: np.ndarray, counted: bool) -> None:
        frames = len(out)
        want = frames
        if self.state in (PAUSING, SEEK_OUT, STOPPING):
            want = min(frames, self._fade.frames_left())
        self._segments.clear()
        got, ended = self._copy(out, want)
        if got < frames:
            out[got:].fill(0.0)
        if got:
            gain = self._fade.next(got)
            vol = self._volume.next(got)
            level = self._level.next(got)
            if isinstance(level, np.ndarray) or level != 1.0:
                vol = np.asarray(vol, dtype=np.float64) * level
            vol = self._guarded(vol, got)
            if isinstance(gain, np.ndarray) or isinstance(vol, np.ndarray):
                out[:got] *= (np.asarray(gain, dtype=np.float32)
                              * np.asarray(vol, dtype=np.float32)).reshape(-1, 1)
            elif gain * vol != 1.0:
                out[:got] *= np.float32(gain * vol)
            np.clip(out[:got], -1.0, 1.0, out=out[:got])
            peak = float(np.abs(out[:got]).max())
            if peak > self.peak:
                self.peak = peak
        if ended is not None:
            self._drain(ended)
        elif got < want:
            if not counted:  # one underrun per callback, whatever its causes
                self.underruns += 1
            if self.state == PLAYING:  # come back without a click
                self._fade.value = 0.0
                self._fade.go(1.0, RECOVER_FADE_S)
        elif self._fade.settled and self._fade.value == 0.0:
            if self.state == PAUSING:
                self.state = PAUSED
            elif self.state == SEEK_OUT:
                self._start_seek()
            elif self.state == STOPPING:
                self._drain("stopped")

    def _take_chunk(self, chunk) -> None:
        """Make ``chunk`` the current one and work out its peak guard ceiling."""
        self._chunk, self._offset = chunk.data, 0
        ahead = self.feeder.peek()
        next_peak = ahead.peak if ahead is not None and ahead.generation == chunk.generation \
            else None
        self._ceiling = self._guard.ceiling(len(chunk.data), chunk.peak, next_peak)
        self._ceiling_low = float(self._ceiling.min())

    def _guarded(self, vol, got: int):
        """``vol`` (volume x level for the ``got`` frames copied), at most the peak ceiling.

        The same object when the volume stays under the ceiling (always at 0 dB).
        """
        loud = float(np.max(vol)) if isinstance(vol, np.ndarray) else float(vol)
        segments = [seg for seg in self._segments if seg[2] < loud]
        if not segments:
            return vol
        total = np.empty(got, dtype=np.float64)
        total[:] = vol
        held = 1.0
        for start, end, _, ceiling in segments:
            span = total[start:end]
            capped = np.minimum(span, ceiling)
            held = max(held, float(np.max(span / np.maximum(capped, 1e-12))))
            span[:] = capped
        self.limited_db = max(self.limited_db, 20.0 * float(np.log10(held)))
        return total

    def _copy(self, out: np.ndarray, want: int) -> tuple[int, str | None]:
        """Copy up to ``want`` frames from the queue; (frames copied, end outcome or None)."""
        got = 0
        while got < want:
            if self._chunk is None:
                chunk = self.feeder.take()
                if chunk is None:
                    return got, None
                if chunk.generation != self._generation:
                    continue
                if chunk.data is None:
                    if chunk.error is not None:
                        self.error = chunk.error
                        return got, "error"
                    return got, "end"
                self._take_chunk(chunk)
            n = min(want - got, len(self._chunk) - self._offset)
            out[got:got + n] = self._chunk[self._offset:self._offset + n]
            self._segments.append((got, got + n, self._ceiling_low,
                                   self._ceiling[self._offset:self._offset + n]))
            got += n
            self._offset += n
            self.position += n
            if self._offset >= len(self._chunk):
                self._chunk = None
        return got, None

    def _apply(self, command: tuple) -> None:
        kind = command[0]
        state = self.state
        if state in (DRAINING, DONE):
            return
        if kind == "volume":
            self._volume.go(_db_to_gain(command[1]), VOLUME_GLIDE_S)
        elif kind == "level":
            self._level.go(command[1], command[2])
        elif kind == "pause":
            if state in (SEEK_OUT, SEEK_WAIT):
                self._pause_after_seek = not self._pause_after_seek
            elif state == PLAYING:
                self.state = PAUSING
                self._fade.go(0.0, PAUSE_FADE_S * self._fade.value)
            elif state in (PAUSING, PAUSED):
                self.state = PLAYING
                self._fade.go(1.0, PAUSE_FADE_S * (1.0 - self._fade.value))
        elif kind == "seek":
            self._seek_to = command[1]
            if state == PAUSED:
                self._pause_after_seek = True
                self._start_seek()
            elif state in (PLAYING, PAUSING, SEEK_OUT):
                self._pause_after_seek = state == PAUSING
                self.state = SEEK_OUT
                self._fade.go(0.0, SEEK_FADE_S * self._fade.value)
            elif state == SEEK_WAIT:
                self._start_seek()
        elif kind == "stop":
            _, fade_s, reason = command
            self.stop_reason = reason
            if state in (PAUSED, SEEK_WAIT) or self._fade.value == 0.0:
                self._drain("stopped")
            elif state != STOPPING or fade_s * self._fade.value < self._fade.frames_left() / (
                    self.sample_rate):
                self.state = STOPPING
                self._fade.go(0.0, fade_s * self._fade.value)

    def _start_seek(self) -> None:
        self._generation = self.feeder.seek(self._seek_to)
        self._chunk = None
        self.position = self._seek_to
        self.state = SEEK_WAIT

    def _find_seek_start(self) -> bool:
        """Drop stale chunks; True once a chunk of the new generation is ready."""
        while True:
            chunk = self.feeder.take()
            if chunk is None:
                return False
            if chunk.generation != self._generation:
                continue
            if chunk.data is None:
                self._chunk = None
                self._drain("error" if chunk.error is not None else "end")
                self.error = chunk.error
                return False
            self._guard.reset()
            self._take_chunk(chunk)
            self.position = chunk.frame
            if self._pause_after_seek:
                self._pause_after_seek = False
                self.state = PAUSED
                return False
            self.state = PLAYING
            self._fade.value = 0.0
            self._fade.go(1.0, SEEK_FADE_S)
            return True

    def _drain(self, outcome: str) -> None:
        if self.outcome is None:
            self.outcome = outcome
        self.state = DRAINING
        self._pad_left = self.pad_frames
