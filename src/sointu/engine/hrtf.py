"""The listener's head: measured head-related responses for the headphone mix.

The responses are the MIT KEMAR set (a dummy head measured at 710 directions, 1.4 m away,
44.1 kHz) that Debian's ``libmysofa1`` package ships as a SOFA file, read with that library's
``mysofa_load`` through ctypes (:func:`load_head` says why not h5py). sointu takes the raw
measured responses and does its own interpolation: libmysofa's "easy" interface interpolates
responses in the time domain, and averaging responses whose onsets differ smears the
interaural delay into a comb.

Each measured response is taken apart into a magnitude per ear and an onset delay per ear (the
first sample within 20 dB of its peak): a response is close to minimum phase plus a pure delay
(Kulkarni, Isabelle and Colburn 1999 found the difference inaudible). A direction between
measured ones takes the three nearest (more when some are equally near), weighted by inverse
angle: their magnitudes and their delays are averaged separately, so the interaural delay
moves smoothly instead of combing. The magnitudes are diffuse-field equalised (divided by the
average over every direction and both ears, smoothed over a third of an octave): the ear
canal's resonance, the same from every direction, is taken out, the direction cues stay.

A mode rings for seconds, so on headphones it needs only the response at its own frequency:
one complex gain per ear (the magnitude, and the phase of the ear's delay: see :meth:`Ears.at`),
which joins the room's gain and costs nothing per sample. The onset of a stroke also reaches the
near ear first: :meth:`Ears.lags` gives the far ear's delay in frames, and the synth holds
that ear's fade-in back by it. Short sounds (strike transients) can be convolved with the
full response: :func:`convolve`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SointuError

__all__ = ["HeadError", "Head", "Ears", "load_head", "sofa_path", "binaural_gains",
           "convolve", "DEFAULT_SOFA"]

#: Where Debian's libmysofa1 package installs the MIT KEMAR set.
DEFAULT_SOFA = Path("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa")

_FFT = 1024  # magnitudes kept on this grid (43 Hz apart at 44.1 kHz)
_FINE = 8192  # impulse responses made on at least this grid
_ONSET = 0.1  # onset: first sample within 20 dB of the peak
_FLOOR = 1e-4  # magnitudes floored at -80 dB of the largest before taking logs


class HeadError(SointuError):
    """The head-related responses are missing or unreadable."""

    exit_code = 1


def sofa_path() -> Path:
    """The SOFA file to use: ``$SOINTU_HRTF_SOFA`` if set, else :data:`DEFAULT_SOFA`."""
    env = os.environ.get("SOINTU_HRTF_SOFA")
    return Path(env) if env else DEFAULT_SOFA


@dataclass(frozen=True)
class Ears:
    """The response of both ears to one direction.

    Attributes
    ----------
    freq_hz : ndarray, shape (F,)
        Frequency grid (Hz), 0 .. the set's Nyquist frequency.
    magnitude : ndarray, shape (2, F)
        Magnitude of the left and right ear's response on that grid (diffuse-field
        equalised).
    delay_s : ndarray, shape (2,)
        Onset delay of each ear (s), the earlier ear's is 0.
    """

    freq_hz: np.ndarray
    magnitude: np.ndarray
    delay_s: np.ndarray

    def at(self, freq_hz: np.ndarray) -> np.ndarray:
        """Complex gain (2, M) of each ear at ``freq_hz`` (Hz): the magnitude, and the phase
        of the ear's onset delay.

        The phase between the ears is the onset delay at every frequency, as in the
        minimum-phase-plus-delay model; each ear's own minimum phase is left out, a constant
        phase per mode being inaudible in a tone that rings for seconds. (KEMAR's measured
        phase adds up to 0.2 ms more between the ears below 1 kHz: the far ear's low-pass
        shadow; the onset delay is the one the ears' first wavefronts show.)
        Frequencies above the set's highest keep the value there.
        """
        f = np.asarray(freq_hz, dtype=float)
        out = np.empty((2, len(f)), dtype=complex)
        for ear in range(2):
            mag = np.interp(f, self.freq_hz, self.magnitude[ear])
            out[ear] = mag * np.exp(-2j * np.pi * f * self.delay_s[ear])
        return out

    def lags(self, sample_rate: int) -> tuple[int, int]:
        """Onset delay of each ear in frames (the earlier ear's is 0)."""
        return tuple(int(round(d * sample_rate)) for d in self.delay_s)

    def impulse(self, sample_rate: int, frames: int | None = None) -> np.ndarray:
        """The head-related impulse response at ``sample_rate``, float32 (frames, 2).

        Each ear's response is minimum phase, delayed by its onset delay: the earlier ear
        starts at frame 0. Default length: 5 ms plus the delays (rounded up to a power of
        two).
        """
        if frames is None:
            need = (0.005 + float(self.delay_s.max())) * sample_rate
            frames = 1 << max(4, math.ceil(math.log2(need)))
        n = max(2 * frames, _FINE)
        f = np.fft.rfftfreq(n, 1.0 / sample_rate)
        mag = np.stack([np.interp(f, self.freq_hz, m) for m in self.magnitude])
        spec = _minimum_phase(mag) * np.exp(-2j * np.pi * f[None, :] * self.delay_s[:, None])
        h = np.fft.irfft(spec, n)[:, :frames]
        return np.ascontiguousarray(h.T, dtype=np.float32)


class Head:
    """A measured set of head-related responses.

    Parameters
    ----------
    unit : ndarray, shape (N, 3)
        Measured directions as unit vectors (x front, y left, z up: SOFA's axes).
    magnitude : ndarray, shape (N, 2, F)
        Magnitude per direction and ear (left, right) on the grid ``freq_hz``, equalised.
    delay_s : ndarray, shape (N, 2)
        Onset delay per direction and ear (s).
    freq_hz : ndarray, shape (F,)
    sample_rate : float
        Sample rate of the measurements (Hz).
    """

    def __init__(self, unit, magnitude, delay_s, freq_hz, sample_rate: float):
        self.unit = unit
        self.magnitude = magnitude
        self.delay_s = delay_s
        self.freq_hz = freq_hz
        self.sample_rate = float(sample_rate)

    @classmethod
    def from_responses(cls, positions: np.ndarray, ir: np.ndarray, sample_rate: float) -> Head:
        """From source positions (N, 3), Cartesian in SOFA's axes (x front, y left, z up, m),
        and impulse responses (N, 2, L), ears left then right."""
        unit = positions / np.linalg.norm(positions, axis=1, keepdims=True)
        mag = np.empty((len(ir), 2, _FFT // 2 + 1), dtype=np.float32)
        for k in range(0, len(ir), 64):  # a few at a time: the render's memory stays flat
            mag[k: k + 64] = np.abs(np.fft.rfft(ir[k: k + 64], _FFT, axis=-1))
        freq = np.fft.rfftfreq(_FFT, 1.0 / sample_rate)
        mag /= _diffuse_field(mag, freq)[None, None, :].astype(np.float32)
        return cls(unit, mag, _onsets(ir) / sample_rate, freq, sample_rate)

    def ears(self, azimuth_deg: float, elevation_deg: float) -> Ears:
        """Both ears' response to sound from a direction.

        Parameters
        ----------
        azimuth_deg : float
            -90 left, 0 front, 90 right, up to +-180 behind (sointu's convention).
        elevation_deg : float
            -90 below .. 90 above. The MIT set has no direction below -40 degrees: lower ones
            get the response of the nearest measured directions.
        """
        az, el = math.radians(-azimuth_deg), math.radians(elevation_deg)
        u = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        angle = np.arccos(np.clip(self.unit @ u, -1.0, 1.0))
        third = np.partition(angle, 2)[2]
        # the three nearest, and any as near as the third (ties between mirrored neighbours
        # are all taken, so mirrored directions get mirrored responses)
        near = np.flatnonzero(angle <= third + 1e-5)
        if angle[near].min() < 1e-5:
            near = near[angle[near] < 1e-5]
            w = np.full(len(near), 1.0 / len(near))
        else:
            w = 1.0 / angle[near]
            w /= w.sum()
        mag = np.tensordot(w, self.magnitude[near].astype(float), axes=1)  # (2, F)
        delay = w @ self.delay_s[near]
        return Ears(self.freq_hz, mag, delay - delay.min())

    def diffuse_coherence(self, freq_hz: np.ndarray) -> np.ndarray:
        """Interaural coherence (real, -1 .. 1) of a diffuse field at ``freq_hz`` (Hz).

        Sound arriving from every measured direction at once, each ear's response being its
        magnitude and onset delay (as for the modes): Re(sum H_L conj(H_R)) over the root
        of the two ears' summed powers. For the MIT KEMAR set it is ~0.95 below 150 Hz,
        0.83 at 250 Hz, 0.38 at 500 Hz and within +-0.06 of 0 from 750 Hz up: the ears
        hear one sound in the bass and two unrelated ones above (the late tail's width).
        The set's directions cover the sphere about evenly (none below -40 degrees).
        """
        curve = getattr(self, "_coherence", None)
        if curve is None:
            m = self.magnitude.astype(float)
            lag = (self.delay_s[:, 0] - self.delay_s[:, 1])[:, None]
            cross = np.sum(m[:, 0] * m[:, 1] * np.exp(-2j * np.pi * self.freq_hz * lag), axis=0)
            power = np.sqrt(np.sum(m[:, 0] ** 2, axis=0) * np.sum(m[:, 1] ** 2, axis=0))
            curve = self._coherence = cross.real / np.maximum(power, 1e-30)
        return np.interp(np.asarray(freq_hz, dtype=float), self.freq_hz, curve)


def _onsets(ir: np.ndarray) -> np.ndarray:
    """Onset (samples, fractional) of each response in (N, 2, L): where |h| first reaches
    ``_ONSET`` of its peak, interpolated linearly between samples."""
    a = np.abs(ir)
    level = _ONSET * a.max(axis=-1, keepdims=True)
    k = np.argmax(a >= level, axis=-1)  # first sample at or above the level
    prev = np.take_along_axis(a, np.maximum(k - 1, 0)[..., None], -1)[..., 0]
    here = np.take_along_axis(a, k[..., None], -1)[..., 0]
    lev = level[..., 0]
    frac = np.where((k > 0) & (here > prev), (lev - prev) / np.maximum(here - prev, 1e-30), 1.0)
    return k - 1 + np.clip(frac, 0.0, 1.0)


def _diffuse_field(mag: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """The diffuse-field magnitude (F,): rms over every direction and both ears, smoothed over
    a third of an octave."""
    power = np.mean(mag**2, axis=(0, 1))
    out = np.empty_like(power)
    for i, f in enumerate(freq):
        lo, hi = f * 2 ** (-1 / 6), f * 2 ** (1 / 6)
        sel = (freq >= lo) & (freq <= hi)
        out[i] = math.sqrt(power[sel].mean()) if sel.any() else math.sqrt(power[i])
    return np.maximum(out, _FLOOR * out.max())


def _minimum_phase(mag: np.ndarray) -> np.ndarray:
    """Minimum-phase spectra (rows, F) with magnitudes ``mag`` (rows, F), F = n/2 + 1, by
    folding the real cepstrum."""
    n = 2 * (mag.shape[-1] - 1)
    logm = np.log(np.maximum(mag, _FLOOR * mag.max()))
    cep = np.fft.irfft(logm, n, axis=-1)
    fold = np.zeros_like(cep)
    fold[..., 0] = cep[..., 0]
    fold[..., 1: n // 2] = 2.0 * cep[..., 1: n // 2]
    fold[..., n // 2] = cep[..., n // 2]
    return np.exp(np.fft.rfft(fold, axis=-1))


class _Array(ctypes.Structure):
    # struct MYSOFA_ARRAY of libmysofa >= 0.6 (mysofa.h)
    _fields_ = [("values", ctypes.POINTER(ctypes.c_float)), ("elements", ctypes.c_uint),
                ("attributes", ctypes.c_void_p)]


class _Hrtf(ctypes.Structure):
    # the leading fields of struct MYSOFA_HRTF of libmysofa >= 0.6 (mysofa.h)
    _fields_ = [(name, ctypes.c_uint) for name in ("I", "C", "R", "E", "N", "M")] + [
        (name, _Array) for name in ("ListenerPosition", "ReceiverPosition", "SourcePosition",
                                    "EmitterPosition", "ListenerUp", "ListenerView", "DataIR",
                                    "DataSamplingRate", "DataDelay")]


#: libmysofa's error codes (mysofa.h), for messages.
_MYSOFA_ERRORS = {-1: "internal error", 10000: "invalid format", 10001: "unsupported format",
                  10002: "out of memory", 10003: "read error", 10004: "invalid attributes",
                  10005: "invalid dimensions", 10006: "invalid dimension list",
                  10007: "invalid coordinate type", 10008: "more than one emitter",
                  10009: "delays of an unsupported shape",
                  10010: "sample rates differ between measurements",
                  10011: "receivers are not two ears", 10012: "emitters are not one",
                  10013: "listener view must be in Cartesian coordinates",
                  10014: "listener up must be in Cartesian coordinates",
                  10015: "unsupported coordinate type"}


def _libmysofa():
    """libmysofa through ctypes, with the signatures sointu uses."""
    name = ctypes.util.find_library("mysofa") or "libmysofa.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise HeadError("the headphone mix reads its head-related responses with libmysofa, "
                        "which is missing; install it with: sudo apt-get install "
                        "libmysofa1") from None
    lib.mysofa_load.restype = ctypes.POINTER(_Hrtf)
    lib.mysofa_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    lib.mysofa_check.restype = ctypes.c_int
    lib.mysofa_check.argtypes = [ctypes.POINTER(_Hrtf)]
    lib.mysofa_tocartesian.restype = None
    lib.mysofa_tocartesian.argtypes = [ctypes.POINTER(_Hrtf)]
    lib.mysofa_free.restype = None
    lib.mysofa_free.argtypes = [ctypes.POINTER(_Hrtf)]
    return lib


def load_head(path: Path | None = None) -> Head:
    """Read a SOFA file of head-related impulse responses (SimpleFreeFieldHRIR).

    The file is read by libmysofa (Debian's ``libmysofa1``, which ships the MIT KEMAR set
    too) through ctypes, not by h5py: the library is needed for the data anyway, and h5py's
    bundled HDF5 alone adds 11 MB to a render's memory. Only the leading fields of
    libmysofa's ``MYSOFA_HRTF`` struct are read; their sizes are checked against each other,
    so a library whose layout differed would be reported, not misread.

    Raises
    ------
    HeadError
        The file or libmysofa is missing (the message says how to install it), or the file
        is not a readable SimpleFreeFieldHRIR set.
    """
    path = sofa_path() if path is None else Path(path)
    if not path.is_file():
        if path == DEFAULT_SOFA:
            raise HeadError(f"the headphone mix needs the MIT KEMAR head-related responses "
                            f"({path}), which are missing; install them with: "
                            f"sudo apt-get install libmysofa1")
        raise HeadError(f"head-related responses {path} do not exist; allowed: a SOFA file "
                        f"such as {DEFAULT_SOFA} (sudo apt-get install libmysofa1)")
    lib = _libmysofa()
    err = ctypes.c_int(0)
    ptr = lib.mysofa_load(os.fsencode(path), ctypes.byref(err))
    if not ptr or err.value:
        if ptr:
            lib.mysofa_free(ptr)
        _unreadable(path, _MYSOFA_ERRORS.get(err.value, f"libmysofa error {err.value}"))
    try:
        check = lib.mysofa_check(ptr)
        if check:
            _unreadable(path, _MYSOFA_ERRORS.get(check, f"libmysofa error {check}"))
        lib.mysofa_tocartesian(ptr)
        h = ptr.contents
        m, r, n = int(h.M), int(h.R), int(h.N)
        if not (h.C == 3 and r == 2 and m >= 3 and 16 <= n <= 1 << 16
                and h.DataIR.elements == m * r * n and h.SourcePosition.elements == m * 3
                and h.DataSamplingRate.elements >= 1):
            _unreadable(path, f"{m} measurements of {r} receivers and {n} samples, with "
                              f"{h.DataIR.elements} response values")
        rate = float(h.DataSamplingRate.values[0])
        xyz = np.ctypeslib.as_array(h.SourcePosition.values, (m, 3)).astype(float)
        ir = np.ctypeslib.as_array(h.DataIR.values, (m, r, n)).copy()
    finally:
        lib.mysofa_free(ptr)
    problem = None
    if not 8000.0 <= rate <= 384000.0:
        problem = f"a sample rate of {rate:g} Hz"
    elif not (np.all(np.isfinite(ir)) and np.all(np.isfinite(xyz))):
        problem = "values that are not finite numbers"
    elif np.any(np.abs(ir).max(axis=-1) == 0.0) or np.any(np.linalg.norm(xyz, axis=1) == 0):
        problem = "silent responses or a source at the listener"
    if problem:
        _unreadable(path, problem)
    return Head.from_responses(xyz, ir, rate)


def _unreadable(path: Path, reason: str):
    raise HeadError(f"cannot read head-related responses from {path}: {reason}; allowed: a "
                    f"SOFA file of the SimpleFreeFieldHRIR convention such as {DEFAULT_SOFA}")


#: Closer than this the direct sound gets no louder (m).
_NEAREST_M = 0.5
#: Speed of sound (m/s), for the reflections' delays.
_SOUND_M_S = 343.0
#: A wall is at least this far beyond the instrument (m): an instrument placed outside the
#: room's shape (a low bowl under a high listener's floor) still has its floor behind it.
_WALL_BEYOND_M = 0.2


def _early_reflections(azimuth_deg: float, elevation_deg: float, distance_m: float,
                       room_m, ear_m: float, seed: int) -> list[tuple[float, float, float, float]]:
    """The six first-order image sources of an instrument in a box-shaped room.

    The listener is midway between the side walls (so mirrored placements give mirrored
    rooms, and one straight ahead hears the room in the middle), ``ear_m`` above the floor,
    and at a seeded place along the room's middle third. An instrument mirrored in a wall is
    heard from the mirror image's direction, later by the extra path and weaker by 1/r: the
    floor, ceiling, front and back walls keep it on its own side of the head, and only the
    far side wall's image is across it (the weakest, the furthest away).

    Returns
    -------
    list of (azimuth_deg, elevation_deg, delay_s, amplitude)
        Delay behind the direct sound (s) and amplitude relative to it (``distance / r``).
    """
    length, width, height = room_m
    rng = np.random.default_rng([seed, 7919, 3])
    along = rng.uniform(-length / 6.0, length / 6.0)
    az, el = math.radians(-azimuth_deg), math.radians(elevation_deg)
    src = distance_m * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az),
                                 math.sin(el)])  # x front, y left, z up (m)
    walls = ((0, length / 2.0 - along), (0, -(length / 2.0 + along)), (1, width / 2.0),
             (1, -width / 2.0), (2, height - ear_m), (2, -ear_m))
    out = []
    for axis, at in walls:
        at = math.copysign(max(abs(at), abs(src[axis]) + _WALL_BEYOND_M), at)
        img = src.copy()
        img[axis] = 2.0 * at - src[axis]
        r = float(np.linalg.norm(img))
        out.append((-math.degrees(math.atan2(img[1], img[0])), math.degrees(math.asin(img[2] / r)),
                    (r - distance_m) / _SOUND_M_S, distance_m / r))
    return out


def binaural_gains(head: Head, freq_hz: np.ndarray, *, reverb: float, seed: int,
                   room_m: tuple[float, float, float], ear_m: float,
                   azimuth_deg: float = 0.0, elevation_deg: float = 0.0,
                   distance_m: float = 1.0, level_db: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Complex gain of each mode in each ear, direct sound and early reflections.

    The early reflections are the room's first-order image sources
    (:func:`_early_reflections`), each heard through the head from its own direction and
    delayed by its extra path: most keep the instrument on its side, so a bowl's interaural
    delay holds in the room (each bowl of classic-60 at azimuth 90 in the treatment room:
    0.57-0.66 ms by cross-correlation over seeds 0-5, 0.63 ms dry; the reflections rotated
    around the bowl they replace gave 0.46-0.85 ms, and -0.79 for the small-high bowl), as
    for a listener in a real room, where the walls beside, above, below, in front and
    behind mirror a source on the right to the right.

    Parameters
    ----------
    head : Head
    freq_hz : ndarray, shape (M,)
        Mode frequencies (Hz).
    reverb : float
        0 (dry) .. 1: the share of reflected sound, as in the speaker mix.
    seed : int
        Seeds where along the room the listener lies.
    room_m : (float, float, float)
        The room's length (front to back), width and height (m).
    ear_m : float
        Height of the listener's ears above the floor (m).
    azimuth_deg, elevation_deg : float
        Direction of the instrument seen from the listener's head.
    distance_m : float
        Distance from the middle of the head (m); the direct sound falls as 1/distance
        (no louder than at 0.5 m), the reflections' total level stays.
    level_db : float
        Extra gain of this instrument (dB).

    Returns
    -------
    gains : ndarray, complex128, shape (2, M)
        Left and right ear.
    delay_s : ndarray, shape (2,)
        Onset delay of each ear's direct sound (s), the near ear's is 0.
    """
    f = np.asarray(freq_hz, dtype=float)
    direct_ears = head.ears(azimuth_deg, elevation_deg)
    near = max(distance_m, _NEAREST_M)
    gains = (1.0 - 0.6 * reverb) / near * direct_ears.at(f)
    wet = 0.8 * reverb
    if wet > 0:
        images = _early_reflections(azimuth_deg, elevation_deg, near, room_m, ear_m, seed)
        amps = np.array([a for *_, a in images])
        amps *= wet / math.sqrt(np.sum(amps**2))  # the reflections' total level: ``reverb``'s
        for (az, el, delay, _), amp in zip(images, amps, strict=True):
            gains += amp * head.ears(az, el).at(f) * np.exp(-2j * np.pi * f * delay)[None, :]
    return gains * 10.0 ** (level_db / 20.0), direct_ears.delay_s


def convolve(signal: np.ndarray, head: Head | None, sample_rate: int, *,
             azimuth_deg: float = 0.0, elevation_deg: float = 0.0,
             impulse: np.ndarray | None = None) -> np.ndarray:
    """A short sound heard from a direction: ``signal`` convolved with both ears' responses.

    Parameters
    ----------
    signal : ndarray, shape (n,) or (n, 2)
        Mono, or stereo whose channels are summed first (a point source has one signal).
    head : Head
    sample_rate : int
        Frames per second of ``signal``.
    azimuth_deg, elevation_deg : float
        Direction, as for :meth:`Head.ears`.
    impulse : ndarray, shape (L, 2), optional
        ``head.ears(azimuth_deg, elevation_deg).impulse(sample_rate)`` made once (e.g. per
        placed instrument) for many sounds from the same direction; ``head`` and the
        direction are then not used.

    Returns
    -------
    ndarray, float32, shape (n + L - 1, 2)
        Left and right ear; the near ear's onset is at the signal's, as for the modes.
    """
    x = np.asarray(signal, dtype=float)
    if x.ndim == 2:
        x = x.sum(axis=1)
    if impulse is None:
        impulse = head.ears(azimuth_deg, elevation_deg).impulse(sample_rate)
    h = np.asarray(impulse, dtype=float)
    n = len(x) + len(h) - 1
    size = 1 << max(1, math.ceil(math.log2(n)))
    y = np.fft.irfft(np.fft.rfft(x, size)[:, None] * np.fft.rfft(h, size, axis=0), size, axis=0)
    return y[:n].astype(np.float32)
