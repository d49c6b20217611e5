"""Live playback of a BlockSource through a sounddevice output stream.

The pattern (after python-sounddevice's long-file example): a producer thread renders the
session into a bounded queue (:class:`~sointu.live.feeder.Feeder`); the queue is primed with
about a second of audio before the stream starts, so sound comes at once; the stream's
callback only copies from the queue (:class:`~sointu.live.playback.Playback`). Position is
counted in frames handed to the device, never by the clock.

The main thread waits, reads keys and shows the status line on a terminal (or writes plain
log lines otherwise), and turns q, Ctrl-C and SIGTERM into a fade out. Every stop ends with
silence for the stream's latency plus a margin before the stream is closed, so the device
plays out everything it was given.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DeviceError, SointuError
from ..session.durations import format_duration
from ..signals import raise_on_sigterm
from .devices import load_sounddevice
from .feeder import Feeder
from .playback import STOP_FADE_S, Playback
from .status import KEYS_HINT, phases_summary, status_line
from .terminal import Terminal, is_interactive

__all__ = ["PlayResult", "play", "next_phase_frame", "parse_latency", "LATENCIES",
           "PAD_MARGIN_S"]

#: Named latencies PortAudio understands; a number of seconds is also allowed.
LATENCIES = ("low", "high")
#: Silence played after the last sound, on top of the stream's latency (s).
PAD_MARGIN_S = 0.05
#: A second Ctrl-C during the stop fade shortens it to this (s).
QUICK_STOP_S = 0.1
#: The device is considered dead when no callback came for this long (s).
WATCHDOG_S = 5.0
#: Status line refresh period (s).
STATUS_PERIOD_S = 0.2


@dataclass(frozen=True)
class PlayResult:
    """How a live playback ended.

    Attributes
    ----------
    outcome : str
        ``"end"`` (the whole session played), ``"stopped"`` (q) or ``"interrupted"``
        (Ctrl-C, SIGTERM).
    position_frame : int
        Session frame reached (frames handed to the device).
    underruns : int
        Times the audio ran dry (queue empty or device underflow).
    sample_rate : int
        Frames per second.
    latency_s : float
        The stream's output latency (s), 0 if it never opened.
    """

    outcome: str
    position_frame: int
    underruns: int
    sample_rate: int
    latency_s: float = 0.0

    @property
    def position_s(self) -> float:
        return self.position_frame / self.sample_rate


#: How long the one-time glide to the exact loudness-normalised level takes (s).
LEVEL_GLIDE_S = 4.0


def parse_latency(text: str | float) -> str | float:
    """``low``, ``high`` or seconds in (0, 2] -> what PortAudio takes; else UsageError."""
    from ..errors import UsageError

    s = str(text).strip().lower()
    if s in LATENCIES:
        return s
    try:
        value = float(s.removesuffix("s"))
    except ValueError:
        value = math.nan
    if not 0.0 < value <= 2.0:
        raise UsageError(f"latency '{text}' is not allowed; allowed: low, high or seconds "
                         "above 0 and at most 2, e.g. 0.2")
    return value


def next_phase_frame(timeline, position_frame: int, sample_rate: int) -> int | None:
    """Start frame of the first phase starting after ``position_frame``; None if none."""
    for phase in timeline.phases:
        frame = int(round(phase.start_s * sample_rate))
        if frame > position_frame:
            return frame
    return None


def play(source, *, device: int | None = None, device_label: str = "the default device",
         title: str = "session", start_frame: int = 0, volume_db: float = 0.0,
         latency: str | float = "high", interactive: bool | None = None,
         log: Callable[[str], None] | None = None, block_frames: int = 2048,
         queue_s: float = 4.0, prime_s: float = 1.0, stop_at_frame: int | None = None,
         level=None, sd=None) -> PlayResult:
    """Play ``source`` live on an output device; returns when it has ended or was stopped.

    Parameters
    ----------
    source : BlockSource
        The session audio (``sample_rate``, ``total_frames``, ``timeline``, ``blocks()``).
    device : int, optional
        PortAudio output device index (default: the system default).
    device_label : str
        How log lines name the device.
    title : str
        How log lines name the session.
    start_frame : int
        Session frame to start at (0 <= start_frame < total_frames).
    volume_db : float
        Initial volume (dB), -60..+6; +/- on the terminal change it by 3 dB.
    latency : {"low", "high"} or float
        Output latency asked of PortAudio (seconds if a number).
    interactive : bool, optional
        Keys and a status line (default: when stdin and stderr are terminals); otherwise
        plain log lines at the start and at each phase change.
    log : callable, optional
        Receives each log line (default: print to stderr).
    block_frames : int
        Frames per block rendered by the producer.
    queue_s : float
        How far ahead the producer may render (s).
    prime_s : float
        Audio queued before the stream starts (s); more means a later first sound.
    stop_at_frame : int, optional
        Test hook: behave as if Ctrl-C was pressed when playback reaches this frame.
    level : object, optional
        A pending level correction with ``done()`` and ``result()`` (dB, or None); when it
        is done, the session's level glides by that much over :data:`LEVEL_GLIDE_S`.
    sd : module, optional
        The ``sounddevice`` module.

    Returns
    -------
    PlayResult

    Raises
    ------
    DeviceError
        The stream cannot be opened or the device stops taking audio.
    SointuError
        The session audio failed while playing.
    """
    sd = sd or load_sounddevice()
    sr = int(source.sample_rate)
    total = int(source.total_frames)
    if not 0 <= start_frame < total:
        raise ValueError(f"start_frame {start_frame} outside 0..{total - 1}")
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if interactive is None:
        interactive = is_interactive()
    capacity = max(2, math.ceil(max(queue_s, prime_s + 1.0) * sr / block_frames))
    prime = max(1, min(capacity - 1, math.ceil(prime_s * sr / block_frames)))
    feeder = Feeder(source, start_frame=start_frame, block_frames=block_frames,
                    capacity_blocks=capacity, prime_blocks=prime)
    playback = Playback(feeder, sample_rate=sr, total_frames=total, start_frame=start_frame,
                        volume_db=volume_db, stop_at_frame=stop_at_frame)
    with raise_on_sigterm((signal.SIGTERM,)), _SwitchInterval(0.002):
        feeder.start()
        try:
            try:
                while not feeder.primed.wait(0.05):
                    pass
            except KeyboardInterrupt:
                return PlayResult("interrupted", start_frame, 0, sr)
            return _run_stream(sd, source, playback, device=device, device_label=device_label,
                               title=title, latency=latency, interactive=interactive, log=log,
                               level=level)
        finally:
            feeder.close()


def _run_stream(sd, source, playback: Playback, *, device, device_label, title, latency,
                interactive, log, level=None) -> PlayResult:
    sr = playback.sample_rate
    failure: list[BaseException] = []

    def callback(outdata, frames, time_info, status):
        try:
            playback.fill(outdata, status.output_underflow)
        except BaseException as exc:  # a bug must not kill the audio thread silently
            outdata.fill(0.0)
            failure.append(exc)
            raise sd.CallbackAbort from exc

    try:
        stream = sd.OutputStream(samplerate=sr, device=device, channels=2, dtype="float32",
                                 latency=latency, callback=callback)
    except (sd.PortAudioError, ValueError) as exc:
        raise DeviceError(f"cannot open audio output device {device_label} for stereo "
                          f"float32 at {sr} Hz: {' '.join(str(exc).split())}") from None
    start_frame = playback.position  # `with stream` starts it: read before the callback runs
    with stream:
        latency_s = float(stream.latency)
        playback.pad_frames = int(math.ceil((latency_s + PAD_MARGIN_S) * sr))
        timeline = source.timeline
        log(f"playing {title} on {device_label} ({sr} Hz, latency {latency_s * 1000:.0f} ms): "
            f"{format_duration(playback.total_frames / sr)}"
            + (f" from {format_duration(start_frame / sr)}" if start_frame else "")
            + f"; phases: {phases_summary(timeline.phases)}")
        stream.start()
        _main_loop(stream, playback, timeline, start_frame, interactive=interactive, log=log,
                   failure=failure, level=level)
        stream.stop()  # returns once the device has played what it was given
    if failure:
        raise SointuError(f"live playback failed in the audio callback: {failure[0]!r}")
    if playback.outcome == "error":
        raise SointuError(f"the session audio failed at "
                          f"{format_duration(playback.position / sr)}: {playback.error}")
    if playback.outcome == "end":
        outcome = "end"
    elif playback.stop_reason == "quit":
        outcome = "stopped"
    else:
        outcome = "interrupted"
    return PlayResult(outcome, playback.position, playback.underruns, sr, latency_s)


def _main_loop(stream, playback: Playback, timeline, start_frame: int, *, interactive: bool,
               log, failure: list, level=None) -> None:
    sr = playback.sample_rate
    total_s = playback.total_frames / sr
    logged = timeline.phase_index(start_frame, sr)
    interrupts = 0
    last_callbacks, last_progress = -1, time.monotonic()
    term = Terminal() if interactive else None
    note, note_until = "", 0.0
    next_status = 0.0
    if term is None:
        log(f"{format_duration(start_frame / sr)} {timeline.phases[logged].name}")
    else:  # once, above the status line, which drops the keys first on a narrow terminal
        log(f"keys: {KEYS_HINT}")
    with term if term is not None else _Nothing():
        while not playback.done.is_set():
            try:
                if term is not None:
                    key = term.read_key(0.05)
                    if key is not None:
                        note = _handle_key(key, playback, timeline) or note
                        note_until = time.monotonic() + 2.0
                else:
                    playback.done.wait(0.05)
                now = time.monotonic()
                if failure:
                    return
                if level is not None and level.done():
                    delta = level.result()
                    level = None
                    if delta is not None and abs(delta) > 0.05:
                        playback.set_level(delta, LEVEL_GLIDE_S)
                        if term is None:
                            log(f"level measured: gliding {delta:+.1f} dB to the rendered level")
                if not stream.active and not playback.done.is_set():
                    raise DeviceError("the audio output device stopped playing (was it "
                                      "disconnected?)")
                if playback.callbacks != last_callbacks:
                    last_callbacks, last_progress = playback.callbacks, now
                elif now - last_progress > WATCHDOG_S:
                    raise DeviceError(f"the audio output device took no audio for "
                                      f"{WATCHDOG_S:g} s (was it disconnected or taken by "
                                      "another program?)")
                position = playback.position
                if term is None:
                    logged = _log_phases(timeline, logged, position, sr, log)
                elif now >= next_status:
                    next_status = now + STATUS_PERIOD_S
                    phase = timeline.phases[timeline.phase_index(position, sr)].name
                    line = status_line(phase=phase, position_s=position / sr, total_s=total_s,
                                       peak=playback.take_peak(), volume_db=playback.volume_db,
                                       paused=playback.paused, underruns=playback.underruns,
                                       limited_db=playback.take_limiting(),
                                       note=note if now < note_until else "",
                                       width=term.width())
                    term.show(line)
            except KeyboardInterrupt:
                interrupts += 1
                playback.stop(STOP_FADE_S if interrupts == 1 else QUICK_STOP_S, "interrupted")
    if term is None:
        _log_phases(timeline, logged, playback.position, sr, log)


def _log_phases(timeline, logged: int, position: int, sr: int, log) -> int:
    """Log every phase entered since phase ``logged``; returns the index now playing."""
    current = timeline.phase_index(position, sr)
    for i in range(logged + 1, current + 1):
        phase = timeline.phases[i]
        log(f"{format_duration(phase.start_s)} {phase.name}")
    return max(logged, current)


def _handle_key(key: str, playback: Playback, timeline) -> str:
    """Act on one key; returns a short note for the status line ("" for none)."""
    sr = playback.sample_rate
    if key == " ":
        playback.toggle_pause()
    elif key in ("n", "N"):
        frame = next_phase_frame(timeline, playback.position, sr)
        if frame is None or frame >= playback.total_frames:
            return "(last phase)"
        playback.seek(frame)
        return f"-> {timeline.phases[timeline.phase_index(frame, sr)].name}"
    elif key in ("+", "="):
        playback.change_volume(3.0)
    elif key in ("-", "_"):
        playback.change_volume(-3.0)
    elif key in ("q", "Q"):
        playback.stop(STOP_FADE_S, "quit")
        return "stopping"
    return ""


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


class _SwitchInterval:
    """Shorter GIL switch interval while playing, so the audio callback waits less."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        self._previous = sys.getswitchinterval()
        sys.setswitchinterval(min(self._previous, self.seconds))
        return self

    def __exit__(self, *exc):
        sys.setswitchinterval(self._previous)
