"""A Timeline made audible: the one block generator behind both file rendering and live play.

:class:`SessionAudio` places the session's instruments in the room, turns every event of the
Timeline into strokes and rubs on the modal engine, and yields stereo float32 blocks. Each
event draws its small random variation from its own generator, seeded by (session seed, event
index), so the audio of any span never depends on where rendering started or on block size.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator

import numpy as np

from ..engine.fades import fade_out
from ..engine.hrtf import Head, load_head
from ..engine.limiter import WINDOW_S, limit_chunks
from ..engine.piece import Piece, check_sample_rate
from ..engine.room import Room
from ..engine.synth import cut_blocks
from ..errors import UsageError
from .composer import compose
from .placement import Placement
from .presets import MIXES, SessionPreset, load_session_preset
from .recordings import (
    fit_phases,
    make_room,
    mix_chunks,
    place_recordings,
    place_sampled,
    sampled_keys,
)
from .timeline import Timeline

__all__ = ["Placement", "SessionAudio", "LIMIT_DBFS", "CEILING_DBTP"]

#: True-peak ceiling of every rendered file (dBTP): its gain is reduced to keep under it.
CEILING_DBTP = -1.0

#: Sample-peak limit of every session (dBFS): 1 dB under the true-peak ceiling, which leaves
#: room for the overshoot between samples.
LIMIT_DBFS = CEILING_DBTP - 1.0


class SessionAudio:
    """The audio of a Timeline (a :class:`~sointu.session.source.BlockSource`).

    Parameters
    ----------
    timeline : Timeline
        Events and phases; ``timeline.seed`` seeds the per-event variation.
    placements : sequence of Placement
        Every instrument the events name.
    sample_rate : int
        Frames per second.
    room : Room
        Reverb and width.
    fade_s : float
        Length of the closing fade (s) that guarantees the file ends in silence.
    gain_db : float
        Gain applied to every sample (the loudness normalisation), dB.
    limit_dbfs : float or None
        Sample-peak limit after the gain (dBFS); the rare louder attacks are turned down
        smoothly (:mod:`sointu.engine.limiter`). None: no limiter.
    head : Head or None
        The listener's head: the headphone mix. None: the speaker mix.
    recordings : sequence of sointu.session.recordings.Placed
        Recordings on the timeline, mixed in before the gain (their levels set by
        :func:`sointu.rendering.recordings.calibrate`); panned in stereo in either mix.
    """

    def __init__(self, timeline: Timeline, placements, *, sample_rate: int = 48000,
                 room: Room | None = None, fade_s: float = 8.0, gain_db: float = 0.0,
                 limit_dbfs: float | None = LIMIT_DBFS, head: Head | None = None,
                 recordings=()):
        self.timeline = timeline
        self.sample_rate = int(sample_rate)
        self.total_frames = int(round(timeline.duration_s * self.sample_rate))
        self.fade_frames = min(int(round(fade_s * self.sample_rate)), self.total_frames // 4)
        self.gain_db = float(gain_db)
        self.limit_dbfs = limit_dbfs
        #: ``speakers`` or ``headphones``
        self.mix = "speakers" if head is None else "headphones"
        self.head = head
        piece = Piece(self.sample_rate, room, head)
        for p in placements:
            piece.add_instrument(p.key, p.instrument, azimuth_deg=p.azimuth_deg,
                                 distance=p.distance, level_db=p.level_db,
                                 elevation_deg=p.elevation_deg, distance_m=p.distance_m)
        sampled = sampled_keys(recordings)
        for index, ev in enumerate(timeline.events):
            if ev.instrument in sampled and ev.articulation == "strike":
                continue  # a recording plays this stroke
            rng = np.random.default_rng([timeline.seed, 0x50174, index])
            if ev.articulation == "rub":
                piece.rub(ev.instrument, ev.time_s, ev.duration_s, velocity=ev.velocity, rng=rng)
            else:
                piece.strike(ev.instrument, ev.time_s, velocity=ev.velocity, mallet=ev.mallet,
                             position_deg=ev.position_deg, rng=rng)
        self.synth = piece.synth()
        self.preset: SessionPreset | None = None
        self.recordings = list(recordings)  # Placed (session.recordings), mixed before the gain

    @classmethod
    def from_preset(cls, preset: str | SessionPreset, *, duration_s: float | None = None,
                    seed: int | None = None, sample_rate: int | None = None,
                    mix: str | None = None, default_mix: str = "speakers",
                    recordings=()) -> SessionAudio:
        """Compose a session preset (name, path or loaded) and make it audible.

        Parameters
        ----------
        preset : str or SessionPreset
            A shipped preset name (``classic-60``), a path, or a loaded preset.
        duration_s : float, optional
            Total length (s); default the preset's.
        seed : int, optional
            Composer seed; default the preset's.
        sample_rate : int, optional
            Hz; default the preset's.
        mix : str, optional
            ``speakers`` or ``headphones``; default the preset's, else ``default_mix``.
        recordings : sequence of RecordingSpec
            Recordings placed besides the preset's own (``--voice-intro``).
        """
        if mix is not None and mix not in MIXES:
            raise UsageError(f"--mix {mix!r} is not allowed; allowed: {', '.join(MIXES)}")
        if not isinstance(preset, SessionPreset):
            preset = load_session_preset(preset)
        mix = mix or preset.defaults.mix or default_mix
        head = load_head() if mix == "headphones" else None
        rate = check_sample_rate(sample_rate or preset.defaults.sample_rate_hz)
        # a phase that a recording asks to lengthen grows; the total holds
        timeline = compose(fit_phases(preset, recordings, duration_s=duration_s, rate=rate),
                           seed=seed, duration_s=duration_s)
        placed = place_recordings((*preset.recordings, *recordings), timeline, rate, head)
        timeline = make_room(timeline, placed, rate)
        placed += place_sampled((*preset.recordings, *recordings), timeline, rate)
        audio = cls(timeline, preset.placements(), sample_rate=rate,
                    room=preset.engine_room(timeline.seed), fade_s=preset.defaults.fade_out_s,
                    head=head, recordings=placed)
        audio.preset = preset
        return audio

    def at_gain(self, gain_db: float) -> SessionAudio:
        """The same session at another gain (dB), sharing its synthesis; ``self`` is not
        changed. How the level decided for a render or playback is passed down."""
        view = copy.copy(self)
        view.gain_db = float(gain_db)
        return view

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.sample_rate

    def blocks(self, block_frames: int = 4096, start_frame: int = 0) -> Iterator[np.ndarray]:
        """Yield float32 blocks (n, 2) from ``start_frame`` to the end; see BlockSource."""
        if not 0 <= start_frame <= self.total_frames:
            raise ValueError(f"start_frame {start_frame} outside 0..{self.total_frames}")
        B = self.synth.B
        first = start_frame // B
        c0 = max(first - 1, 0)
        chunks = self._gained(mix_chunks(self.synth.chunks(c0), c0, B, self.recordings))
        if self.limit_dbfs is not None:
            if first == 0:  # the limiter looks one chunk back: silence before the start
                chunks = itertools.chain([np.zeros((B, 2), np.float32)], chunks)
            window = int(WINDOW_S * self.sample_rate) | 1
            chunks = limit_chunks(chunks, 10.0 ** (self.limit_dbfs / 20.0), window)
        elif first > 0:
            next(chunks)
        blocks = cut_blocks(chunks, first * B, start_frame, self.total_frames, block_frames)
        return fade_out(blocks, start_frame, self.total_frames, self.fade_frames)

    def _gained(self, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        g = np.float32(10.0 ** (self.gain_db / 20.0))
        for chunk in chunks:
            if g != 1.0:
                chunk *= g  # in place: the synth (and the recordings' mix) made it afresh
            yield chunk
