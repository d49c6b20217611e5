"""A piece: placed instruments and their strokes, turned into a Synth.

This is where the data of a stroke (time, velocity, mallet, rim position) becomes mode
amplitudes on the shared bank. Both ``sointu strike`` and whole sessions are built this way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from .bank import ModalBank, row_frames_for
from .hrtf import Head, binaural_gains
from .instrument import Instrument, Modes, load_mallets
from .room import Room, mode_gains, room_tail, room_tone, transient_gains
from .synth import Impulse, RubVoice, Synth, rub_pulse_hz
from .transient import Transient

__all__ = ["Piece", "SAMPLE_RATES", "check_sample_rate"]

#: Sample rates sointu renders (Hz).
SAMPLE_RATES = (22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)


def check_sample_rate(sample_rate: int) -> int:
    """Return ``sample_rate`` if supported, else raise UsageError listing the allowed ones."""
    if sample_rate not in SAMPLE_RATES:
        allowed = ", ".join(str(s) for s in SAMPLE_RATES)
        raise UsageError(f"sample rate {sample_rate} Hz is not supported; allowed: {allowed}")
    return int(sample_rate)


@dataclass
class _Placed:
    key: str
    modes: Modes
    first: int
    gains: np.ndarray
    transient_place: tuple  # (direct gains (2,), delays (2,), tail amplitude)
    lag: tuple[int, int] = (0, 0)  # headphones: each ear's onset delay (frames)
    direction: tuple[float, float] = (0.0, 0.0)  # azimuth, elevation (deg)
    impulse: np.ndarray | None = None  # headphones: both ears' responses, for transients


class Piece:
    """Instruments placed in a room, and the strokes played on them.

    Parameters
    ----------
    sample_rate : int
        Frames per second (one of :data:`SAMPLE_RATES`).
    room : Room
        Reverb, width and seed of the room.
    head : Head or None
        For the headphone mix: the listener's head-related responses
        (:func:`sointu.engine.hrtf.load_head`). None: the speaker mix.
    """

    def __init__(self, sample_rate: int, room: Room | None = None, head: Head | None = None):
        self.sample_rate = check_sample_rate(sample_rate)
        self.room = room or Room()
        self.head = head
        self._placed: dict[str, _Placed] = {}
        self._count = 0
        self._impulses: list[Impulse] = []
        self._rubs: list[RubVoice] = []
        self._transients: list[Transient] = []
        self._row_frames = row_frames_for(self.sample_rate)

    def add_instrument(self, key: str, instrument: Instrument, *, azimuth_deg: float = 0.0,
                       distance: float = 1.0, level_db: float = 0.0, elevation_deg: float = 0.0,
                       distance_m: float | None = None) -> None:
        """Place an instrument in the room under the name ``key``.

        The speaker mix uses ``azimuth_deg`` and the relative ``distance``; the headphone mix
        ``azimuth_deg``, ``elevation_deg`` and ``distance_m`` (m from the head; default
        ``distance`` metres).
        """
        modes = instrument.modes(self.sample_rate)
        lag = (0, 0)
        impulse = None
        if self.head is None:
            # the room's gain at each partial's centre: the modes of one partial (doublet
            # halves, bloom and glide components) share it, so the room never changes their
            # beating
            centre = modes._partial_freqs()[modes.partial]
            gains = mode_gains(centre, self.room, azimuth_deg=azimuth_deg,
                               distance=distance, level_db=level_db)
            place = transient_gains(self.room, self.sample_rate, azimuth_deg=azimuth_deg,
                                    distance=distance, level_db=level_db)
        else:
            gains, delay_s = binaural_gains(
                self.head, modes.freq_hz, reverb=self.room.reverb, seed=self.room.seed,
                room_m=self.room.kind.headphone_room_m, ear_m=self.room.kind.headphone_ear_m,
                azimuth_deg=azimuth_deg, elevation_deg=elevation_deg,
                distance_m=distance if distance_m is None else distance_m, level_db=level_db)
            lag = tuple(min(int(round(d * self.sample_rate)), self._row_frames)
                        for d in delay_s)
            # transients: the head's responses from this direction give the ears their
            # differences; centred gains, no microphone delays. Their late tail is diffuse
            # (from every direction at once), so it is the same at any placement: the
            # room's decaying band noise at its headphone_tail_db, the ears as coherent as
            # a diffuse field makes them (see synth()), each ear with the same energy
            impulse = self.head.ears(azimuth_deg, elevation_deg).impulse(self.sample_rate)
            direct, _, tail = transient_gains(self.room, self.sample_rate, azimuth_deg=0.0,
                                              distance=distance, level_db=level_db,
                                              headphones=True)
            place = (direct, lag, tail)  # each ear silent until its onset, as the modes
        self._placed[key] = _Placed(key, modes, self._count, gains, place, lag,
                                    (float(azimuth_deg), float(elevation_deg)), impulse)
        self._count += modes.count

    def instrument(self, key: str) -> Instrument:
        return self._placed[key].modes.instrument

    def _frame(self, time_s: float) -> int:
        return int(round(time_s * self.sample_rate))

    def strike(self, key: str, time_s: float, *, velocity: float = 0.7, mallet: str = "medium",
               position_deg: float = 0.0, rng: np.random.Generator) -> None:
        """Strike instrument ``key`` at ``time_s`` (s); see :meth:`Modes.strike`."""
        p = self._placed[key]
        contact_s = load_mallets()[mallet][2] / 1000.0
        ramp = min(self._frame(contact_s), self._row_frames)
        hits = p.modes.strike(velocity, mallet, position_deg, rng)
        for ex in hits:
            self._impulses.append(
                Impulse(self._frame(time_s + ex.delay_s), p.first, ex.amps, ramp, p.lag))
        style = p.modes.instrument.transient
        if style is not None:
            level, cutoff = p.modes.transient_level(velocity, mallet)
            for ex in hits:
                self._transients.append(Transient(
                    frame=self._frame(time_s + ex.delay_s), style=style,
                    instrument=p.modes.instrument.name, level=level * ex.gain,
                    cutoff_hz=cutoff, contact_s=contact_s,
                    seed=int(rng.integers(2**63)), impulse=p.impulse,
                ).with_placement(*p.transient_place))

    def rub(self, key: str, time_s: float, hold_s: float, *, velocity: float = 0.7,
            rng: np.random.Generator) -> None:
        """Rub instrument ``key`` from ``time_s`` for ``hold_s`` seconds, then let it ring."""
        p = self._placed[key]
        inst = p.modes.instrument
        drive, handoff = p.modes.rub_plan(velocity)
        lead_of = np.empty(p.modes.count, dtype=int)
        first_of_partial: dict[int, int] = {}
        for m, part in enumerate(p.modes.partial):
            lead_of[m] = first_of_partial.setdefault(int(part), m)
        start = self._frame(time_s)
        rev = inst.rub.rev_hz * float(np.exp(rng.normal(0.0, 0.1)))
        pulse_hz = rub_pulse_hz(inst.order[0], rev)
        self._rubs.append(RubVoice(
            start=start,
            release=start + max(1, self._frame(hold_s)),
            first=p.first,
            drive=drive,
            lead_of=lead_of,
            handoff=handoff,
            build_s=inst.rub.build_s,
            pulse_hz=pulse_hz,
            depth=inst.rub.pulsation,
            phase=float(rng.uniform(0, 2 * np.pi)),
            **_friction(inst.rub, pulse_hz, rng),
        ))

    def synth(self) -> Synth:
        """The block generator for everything placed and played so far."""
        freq = np.concatenate([p.modes.freq_hz for p in self._placed.values()])
        tau = np.concatenate([p.modes.tau_s for p in self._placed.values()])
        gains = np.concatenate([p.gains for p in self._placed.values()], axis=1)
        groups = [g for p in self._placed.values() for g in p.modes.groups]
        bank = ModalBank(freq, tau, gains, self.sample_rate, groups=groups)
        # gong cloud lines (engine/gong.py), which the loudness estimate sums line by line
        bank.cloud_pairs = np.concatenate(
            [p.first + p.modes.cloud_pairs for p in self._placed.values()]).astype(np.intp)
        room = self.room
        # headphones: the tail's two channels get the diffuse-field coherence of the ears
        # (bass in both alike, above ~700 Hz unrelated); speakers: independent channels
        coherence = None if self.head is None else self.head.diffuse_coherence
        tail = (room_tail(room.name, room.seed, self.sample_rate, coherence)
                if room.reverb > 0 else None)
        tone = room_tone(room.name, room.seed, self.sample_rate) if room.tone else None
        return Synth(bank, self._impulses, self._rubs, transients=self._transients,
                     tail=tail, tone=tone)


def _friction(rub, pulse_hz: float, rng: np.random.Generator) -> dict:
    """A rub's irregular hand (a slow wobble of the pulsation's phase: the speed varies by
    +-``irregularity``), its friction harmonics and scraping noise, for :class:`RubVoice`."""
    wobble_hz = float(rng.uniform(0.15, 0.35))
    return {
        "wobble_rad": rub.irregularity * pulse_hz / wobble_hz,
        "wobble_hz": wobble_hz,
        "wobble_phase": float(rng.uniform(0, 2 * np.pi)),
        "harmonics": tuple(10.0 ** (h / 20.0) for h in rub.harmonics_db),
        "noise_amp": 10.0 ** (rub.noise_db / 20.0),
        "noise_hz": rub.noise_hz,
        "seed": int(rng.integers(2**63)),
    }
