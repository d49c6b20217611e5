"""Placement and room: the complex stereo gain of every mode, and the late tail of transients.

A mode rings far longer than a room's reflections take to arrive, so, once the first few
tens of milliseconds have passed, the room's effect on it is a fixed complex gain per ear:
the direct sound, panned and reaching two spaced microphones at slightly different times
(a phase per ear that depends on the mode's frequency and the instrument's direction), plus
the reverberant sound, a seeded sum of many reflections evaluated at the mode's frequency,
independent between the ears. That decorrelates the two channels (width and envelopment) at
no cost per sample. The gains are taken at each partial's centre frequency, so the two halves
of a doublet get the same gain and the beating is the bowl's own.

A strike's transient (mallet noise, a burst of high modes: :mod:`.transient`) is short, so it
gets a real late tail: stereo noise decaying per band (:class:`RoomTail`), scaled by the
transient's energy in each band. The rooms are data (``presets/engine/rooms.toml``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from ..errors import PresetError
from ..presets import shipped_dir
from .instrument_schema import ROOM_KIND, read_named_tables

__all__ = ["Room", "RoomKind", "RoomTail", "TAIL_BANDS_HZ", "band_energies", "load_rooms",
           "read_rooms", "mode_gains", "room_tail", "room_tone", "transient_gains"]

#: Edges (Hz) between the bands of a transient's late tail (octaves, and 8-12, above 12 kHz):
#: the tail follows the transient's own spectrum band by band.
TAIL_BANDS_HZ = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 12000.0)
#: Frequencies (Hz) at which a room gives its tail's T60 (``tail_t60_s``), interpolated
#: (in log frequency) to each band's centre.
TAIL_T60_AT_HZ = (250.0, 1000.0, 4000.0, 12000.0)
#: Width (octaves) of the crossfade between two tail bands (power complementary): a smooth
#: tail spectrum without steps at the band edges.
_CROSS_OCT = 0.5
#: Speed of sound (m/s), for the time between the two microphones.
SOUND_M_S = 343.0
#: Length of the room-tone loop (s): seamless (made circular), long enough not to be heard
#: repeating under the instruments.
TONE_LOOP_S = 23.0


@dataclass(frozen=True)
class RoomKind:
    """A named room from ``presets/engine/rooms.toml`` (see the comments there for units)."""

    name: str
    description: str
    diffuse: float
    reflections: int
    reflections_ms: tuple[float, float]
    tail_t60_s: tuple[float, float, float, float]
    tail_db: float
    headphone_tail_db: float
    headphone_room_m: tuple[float, float, float]
    headphone_ear_m: float
    predelay_ms: float
    mic_spacing_m: float
    tone_db: float


@dataclass(frozen=True)
class Room:
    """A room and how the instruments are heard in it.

    Attributes
    ----------
    reverb : float
        0 (dry) .. 1 (very reverberant): the share of reverberant sound.
    width : float
        0 (everything in the middle, both channels equal) .. 1 (full azimuth and microphone
        spacing).
    seed : int
        Seeds the reflection pattern and the transients' tail.
    name : str
        Which room of ``presets/engine/rooms.toml``.
    tone : bool
        Add the room's quiet room-tone bed.
    """

    reverb: float = 0.35
    width: float = 0.8
    seed: int = 0
    name: str = "treatment-room"
    tone: bool = False

    @property
    def kind(self) -> RoomKind:
        rooms = load_rooms()
        if self.name not in rooms:
            raise PresetError(f"unknown room '{self.name}'; allowed: {', '.join(rooms)}")
        return rooms[self.name]


@lru_cache(maxsize=1)
def load_rooms() -> dict[str, RoomKind]:
    """Room name -> :class:`RoomKind`, read and checked from ``presets/engine/rooms.toml``."""
    return read_rooms(shipped_dir() / "engine" / "rooms.toml")


def read_rooms(path) -> dict[str, RoomKind]:
    """Room name -> :class:`RoomKind` from a file of ``[name]`` tables (schema ``ROOM_KIND``);
    PresetError ``file:line: key: ...`` when one is bad or there is none."""
    rooms = {name: RoomKind(name=name, **{**v, "reflections": int(v["reflections"])})
             for name, v in read_named_tables(path, ROOM_KIND).items()}
    if not rooms:
        raise PresetError(f"{path}: no rooms defined; allowed: [name] tables of "
                          f"{', '.join(k.name for k in ROOM_KIND)}")
    return rooms


def _pan(room: Room, azimuth_deg: float, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Direct gain (2,) per channel and arrival time (2,) in s at each microphone."""
    az = math.radians(azimuth_deg)
    theta = (math.sin(az) * room.width + 1.0) * math.pi / 4.0  # constant-power pan
    pan = np.array([math.cos(theta), math.sin(theta)]) * math.sqrt(2.0)
    direct = (1.0 - 0.5 * room.reverb) / max(distance, 1.0)
    # a source on the right (azimuth > 0) reaches the right microphone first
    lag = room.kind.mic_spacing_m * room.width * math.sin(az) / SOUND_M_S
    return direct * pan, np.array([lag / 2.0, -lag / 2.0])


def mode_gains(freq_hz: np.ndarray, room: Room, *, azimuth_deg: float = 0.0,
               distance: float = 1.0, level_db: float = 0.0) -> np.ndarray:
    """Complex gain of each mode in each channel.

    Parameters
    ----------
    freq_hz : ndarray, shape (M,)
        Frequency (Hz) at which each mode's gain is taken (a partial's centre frequency, so
        that close modes of one partial share it).
    room : Room
        Which room, reverb amount, width and seed.
    azimuth_deg : float
        Direction of the instrument: -90 left, 0 front, 90 right, up to +-180 behind.
    distance : float
        Relative distance (1 = near); the direct sound falls as 1/distance, the room stays.
    level_db : float
        Extra gain of this instrument (dB).

    Returns
    -------
    ndarray, complex128, shape (2, M)
    """
    kind = room.kind
    freq = np.asarray(freq_hz, dtype=float)
    direct, arrive = _pan(room, azimuth_deg, distance)
    wet = kind.diffuse * room.reverb
    rng = np.random.default_rng([room.seed, 7919])
    tau = kind.tail_t60_s[1] / math.log(1000.0)
    gains = np.empty((2, len(freq)), dtype=complex)
    for ch in range(2):
        delays = rng.uniform(*kind.reflections_ms, size=kind.reflections) / 1000.0
        amps = rng.normal(size=kind.reflections) * np.exp(-delays / tau)
        amps /= math.sqrt(np.sum(amps**2))
        refl = np.exp(-2j * np.pi * np.outer(freq, delays)) @ amps
        gains[ch] = direct[ch] * np.exp(-2j * np.pi * freq * arrive[ch]) + wet * refl
    return gains * 10.0 ** (level_db / 20.0) / math.sqrt(2.0)


def transient_gains(room: Room, sample_rate: int, *, azimuth_deg: float = 0.0,
                    distance: float = 1.0, level_db: float = 0.0, headphones: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """How a strike transient (a mono signal) reaches the two channels (``headphones``:
    the tail at the room's ``headphone_tail_db``).

    Returns
    -------
    direct : ndarray, shape (2,)
        Gain of the direct sound per channel.
    delay : ndarray of int, shape (2,)
        Its delay per channel (frames, the earlier microphone at 0).
    tail : float
        Amplitude of the late tail per unit of the transient's band amplitudes (0 when dry).
    """
    direct, arrive = _pan(room, azimuth_deg, distance)
    frames = np.round((arrive - arrive.min()) * sample_rate).astype(int)
    level = 10.0 ** (level_db / 20.0) / math.sqrt(2.0)
    tail_db = room.kind.headphone_tail_db if headphones else room.kind.tail_db
    tail = 10.0 ** (tail_db / 20.0) * room.reverb / 0.35 * level
    return direct * level, frames, float(tail)


def band_masks(freq_hz: np.ndarray) -> np.ndarray:
    """Amplitude masks (n_bands, len(freq_hz)) of the tail bands; their squares sum to 1."""
    return _masks(np.asarray(freq_hz, dtype=float))


@lru_cache(maxsize=16)
def _rfft_masks(n: int, sample_rate: int) -> np.ndarray:
    """:func:`band_masks` squared at the bins of an ``n``-point rfft, times Parseval's weight
    of each bin over n (the bins between DC and Nyquist count twice for a real signal), so
    that masks @ |rfft(x)|^2 is the band energies (cached: every transient of one style has
    the same length)."""
    m = band_masks(np.fft.rfftfreq(n, 1.0 / sample_rate)) ** 2
    weight = np.full(m.shape[1], 2.0 / n)
    weight[0] = 1.0 / n
    if n % 2 == 0:
        weight[-1] = 1.0 / n
    m = m * weight
    m.setflags(write=False)
    return m


def _masks(freq_hz: np.ndarray) -> np.ndarray:
    f = np.maximum(freq_hz, 1e-3)
    masks = np.ones((len(TAIL_BANDS_HZ) + 1, len(f)))
    for k, edge in enumerate(TAIL_BANDS_HZ):
        x = np.clip(np.log2(f / edge) / (_CROSS_OCT / 2), -1.0, 1.0)  # -1 below .. 1 above
        up = np.sin(np.pi / 4 * (1.0 + x))
        masks[k + 1] *= up
        masks[k] *= np.cos(np.pi / 4 * (1.0 + x))
    return masks


def band_energies(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Energy (sum of squares) of the mono signal ``x`` in each tail band, shape (n_bands,)."""
    spec = np.fft.rfft(x)
    return _rfft_masks(len(x), sample_rate) @ (np.square(spec.real) + np.square(spec.imag))


class RoomTail:
    """The late tail of a unit transient in each band of room ``name``.

    ``bands`` (float32, shape (n_bands, n, 2)) is stereo noise decaying with each band's T60
    after the predelay, each band and channel of unit energy (sum of squares 1), seeded; it
    is made on first use (tens of milliseconds), so that starting playback does not wait
    for it. ``frames`` (n) is known at once.

    ``coherence`` (a function of frequency in Hz, values in [-1, 1]) makes the two channels
    that coherent at each frequency: the headphone mix passes the diffuse-field coherence
    of the listener's ears (:meth:`sointu.engine.hrtf.Head.diffuse_coherence`), since a
    late tail arrives from every direction at once. None: independent channels (two spaced
    microphones far apart compared with the wavelengths that matter).
    """

    def __init__(self, name: str, seed: int, sample_rate: int, coherence=None):
        self.name, self.seed, self.sample_rate = name, int(seed), int(sample_rate)
        self.coherence = coherence
        kind = load_rooms()[name]
        self._pre = int(round(kind.predelay_ms / 1000.0 * sample_rate))
        self.frames = self._pre + int(math.ceil(1.1 * max(kind.tail_t60_s) * sample_rate))

    @cached_property
    def bands(self) -> np.ndarray:
        kind = load_rooms()[self.name]
        fs, n, pre = self.sample_rate, self.frames, self._pre
        size = 1 << int(math.ceil(math.log2(n)))
        rng = np.random.default_rng([self.seed, 0x7A11])
        white = np.fft.rfft(rng.standard_normal((size, 2)), axis=0)
        f = np.fft.rfftfreq(size, 1.0 / fs)
        if self.coherence is not None:
            # the right ear: the left's noise where the ears are coherent, an independent
            # noise where not (expected cross-spectrum / power = the coherence)
            g = np.clip(np.asarray(self.coherence(f), dtype=float), -1.0, 1.0)
            white[:, 1] = g * white[:, 0] + np.sqrt(1.0 - g * g) * white[:, 1]
        t = np.arange(n - pre) / fs
        ramp = np.minimum(1.0, t / 0.005)  # 5 ms onset after the predelay
        masks = band_masks(f)
        edges = np.array((TAIL_BANDS_HZ[0] / 2, *TAIL_BANDS_HZ, min(16000.0, fs / 2)))
        centres = np.sqrt(edges[:-1] * edges[1:])
        t60 = np.interp(np.log(centres), np.log(TAIL_T60_AT_HZ), kind.tail_t60_s)
        bands = np.zeros((len(masks), n, 2), dtype=np.float32)
        for b, mask in enumerate(masks):
            y = np.fft.irfft(white * mask[:, None], size, axis=0)[: n - pre]
            y *= (ramp * np.exp(-math.log(1000.0) * t / t60[b]))[:, None]
            y /= np.sqrt(np.sum(y**2, axis=0))[None, :]
            bands[b, pre:] = y
        bands.setflags(write=False)
        return bands


@lru_cache(maxsize=4)
def room_tail(name: str, seed: int, sample_rate: int, coherence=None) -> RoomTail:
    """The tail of room ``name`` at ``sample_rate`` (seeded; its noise made on first use);
    ``coherence`` as for :class:`RoomTail` (a hashable function: one tail per head)."""
    return RoomTail(name, seed, sample_rate, coherence)


@lru_cache(maxsize=2)
def room_tone(name: str, seed: int, sample_rate: int) -> np.ndarray:
    """A seamless stereo loop of room tone, float32 (n, 2), at the room's ``tone_db`` RMS.

    Pink-ish noise (power falling 3 dB per octave above 60 Hz, rolled off above 6 kHz),
    independent in the two channels; frame k of a session plays loop[k % n].
    """
    kind = load_rooms()[name]
    n = int(TONE_LOOP_S * sample_rate)
    rng = np.random.default_rng([seed, 0x70E])
    spec = np.fft.rfft(rng.standard_normal((n, 2)), axis=0)
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    shape = 1.0 / np.sqrt(np.maximum(f, 60.0)) / (1.0 + (f / 6000.0) ** 2)
    shape[0] = 0.0
    y = np.fft.irfft(spec * shape[:, None], n, axis=0)  # circular: the loop is seamless
    y *= 10.0 ** (kind.tone_db / 20.0) / np.sqrt(np.mean(y**2, axis=0))[None, :]
    return y.astype(np.float32)
