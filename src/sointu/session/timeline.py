"""The Timeline: an immutable, sorted list of events and named phase spans.

A composer turns a session preset and a seed into a Timeline; the audio layer turns a
Timeline into sound. Everything here is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Event", "Phase", "Timeline", "ARTICULATIONS", "MALLETS", "SEED_LIMIT"]

#: Seeds are whole numbers 0 <= seed < SEED_LIMIT (what an int64 holds), everywhere: option,
#: preset, composer, gift.
SEED_LIMIT = 2**63

#: Ways an instrument can be played. ``strike``: one stroke. ``rub``: the rim rubbed with a
#: stick for ``duration_s`` seconds, then released to ring out (bowls only).
ARTICULATIONS = ("strike", "rub")

#: Mallet hardness names, softest first.
MALLETS = ("soft", "medium", "hard")


@dataclass(frozen=True, order=True)
class Event:
    """One sound on the timeline.

    Attributes
    ----------
    time_s : float
        Onset, seconds from the start of the session.
    instrument : str
        Instrument name as used in the session (key of the session's instrument table).
    articulation : str
        One of :data:`ARTICULATIONS`.
    velocity : float
        Strength in 0..1 (1 = the instrument's full level).
    mallet : str
        One of :data:`MALLETS`.
    position_deg : float
        Where the rim is struck, degrees around it (sets how strongly each half of a doublet
        sounds, so the beat depth). Any value; the composer draws it from its seeded RNG.
    duration_s : float
        For ``rub``: how long the rubbing is held before release (s). 0 for ``strike``.
    phase : str
        Name of the phase the event belongs to.
    """

    time_s: float
    instrument: str
    articulation: str = "strike"
    velocity: float = 0.7
    mallet: str = "medium"
    position_deg: float = 0.0
    duration_s: float = 0.0
    phase: str = ""


@dataclass(frozen=True)
class Phase:
    """A named span of the session, [start_s, end_s) in seconds."""

    name: str
    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Recording:
    """A recording placed on the timeline (``[[recordings]]``, ``--voice-intro``): where it
    sounds (s) and what it is (its file name, and 'speech', 'sound' or 'instrument')."""

    time_s: float
    duration_s: float
    name: str
    kind: str = "sound"


@dataclass(frozen=True)
class Timeline:
    """Events sorted by time, the phases that tile [0, duration_s), and the seed used.

    Attributes
    ----------
    duration_s : float
        Total length of the session audio (s), ring-out included.
    phases : tuple of Phase
        Contiguous, in order, covering [0, duration_s).
    events : tuple of Event
        Sorted by (time_s, instrument, ...): ties have a defined order.
    seed : int
        The seed the composer used.
    recordings : tuple of Recording
        Recordings placed on it, in time order (the audio itself is the session's).
    """

    duration_s: float
    phases: tuple[Phase, ...]
    events: tuple[Event, ...] = field(default_factory=tuple)
    seed: int = 0
    recordings: tuple[Recording, ...] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "events", tuple(sorted(self.events)))
        object.__setattr__(self, "phases", tuple(self.phases))
        object.__setattr__(self, "recordings", tuple(sorted(self.recordings,
                                                            key=lambda r: r.time_s)))

    def phase_index(self, frame: int, sample_rate: int) -> int:
        """Index of the phase sounding at ``frame`` (the last one at or past the end).

        Compared in frames, a phase's bounds rounded to the nearest frame as everywhere a
        phase is sought: a phase starting at 2958.333215 s starts at frame 141999994 (48 kHz),
        and that frame belongs to it, not to the phase before.
        """
        for i, phase in enumerate(self.phases):
            if frame < int(round(phase.end_s * sample_rate)):
                return i
        return len(self.phases) - 1
