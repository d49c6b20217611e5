"""The listener's head: measured head-related responses for the headphone mix.

The responses are the MIT KEMAR set (a dummy head measured at 710 directions, 1.4 m away,
44.1 kHz) that Debian's ``libmysofa1`` package ships as a SOFA file. SOFA is HDF5; it is read
with h5py rather than through libmysofa's own API because sointu needs the raw measured
responses and their directions: libmysofa's "easy" interface resamples, trims and interpolates
the responses in the time domain, and averaging responses whose onsets differ smears the
interaural delay into a comb. Its full interface hands back a C struct whose layout would have
to be copied into ctypes and kept in step with the library's version.

Each measured response is taken apart into a magnitude per ear and an onset delay per ear (the
first sample within 20 dB of its peak): a response is close to minimum phase plus a pure delay
(Kulkarni, Isabelle and Colburn 1999 found the difference inaudible). A direction between
measured ones takes the three nearest, weighted by inverse angle: their magnitudes and their
delays are averaged separately, so the interaural delay moves smoothly instead of combing.
The magnitudes are diffuse-field equalised (divided by the average over every direction and
both ears, smoothed over a third of an octave): the ear canal's resonance, the same from every
direction, is taken out, the direction cues stay.

A mode rings for seconds, so on headphones it needs only the response at its own frequency:
one complex gain per ear (the magnitude, and the phase of the ear's delay: see :meth:`Ears.at`),
which joins the room's gain and costs nothing per sample. The onset of a stroke also reaches the
near ear first: :meth:`Ears.lags` gives the far ear's delay in frames, and the synth holds
that ear's fade-in back by it. Short sounds (strike transients) can be convolved with the
full response: :func:`convolve`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SointuError

__all__ = ["HeadError", "Head", "Ears", "load_head", "sofa_path", "binaural_gains",
           "convolve", "DEFAULT_SOFA", "HEAD_RADIUS_M"]

#: Where Debian's libmysofa1 package installs the MIT KEMAR set.
DEFAULT_SOFA = Path("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa")

#: Half the distance between the ears of the KEMAR head (m), from the SOFA file.
HEAD_RADIUS_M = 0.09

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
        """From SOFA source positions (N, 3: azimuth deg, elevation deg, m; azimuth counter-
        clockwise, 90 = left) and impulse responses (N, 2, L), ears left then right."""
        az = np.radians(positions[:, 0])
        el = np.radians(positions[:, 1])
        unit = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=1)
        mag = np.abs(np.fft.rfft(ir, _FFT, axis=-1))
        freq = np.fft.rfftfreq(_FFT, 1.0 / sample_rate)
        mag /= _diffuse_field(mag, freq)[None, None, :]
        return cls(unit, mag.astype(np.float32), _onsets(ir) / sample_rate, freq, sample_rate)

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
        near = np.argsort(angle, kind="stable")[:3]
        if angle[near[0]] < 1e-6:
            w = np.array([1.0, 0.0, 0.0])
        else:
            w = 1.0 / angle[near]
            w /= w.sum()
        mag = np.tensordot(w, self.magnitude[near].astype(float), axes=1)  # (2, F)
        delay = w @ self.delay_s[near]
        return Ears(self.freq_hz, mag, delay - delay.min())


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


def load_head(path: Path | None = None) -> Head:
    """Read a SOFA file of head-related impulse responses (SimpleFreeFieldHRIR).

    Raises
    ------
    HeadError
        The file is missing (the message says how to install it) or is not a readable
        SimpleFreeFieldHRIR set.
    """
    path = sofa_path() if path is None else Path(path)
    if not path.is_file():
        if path == DEFAULT_SOFA:
            raise HeadError(f"the headphone mix needs the MIT KEMAR head-related responses "
                            f"({path}), which are missing; install them with: "
                            f"sudo apt-get install libmysofa1")
        raise HeadError(f"head-related responses {path} do not exist; allowed: a SOFA file "
                        f"such as {DEFAULT_SOFA} (sudo apt-get install libmysofa1)")
    try:
        import h5py
    except ImportError:
        raise HeadError("the headphone mix needs h5py to read its head-related responses; "
                        "install it with: .venv/bin/pip install h5py") from None
    try:
        with h5py.File(path, "r") as f:
            kind = f.attrs.get("SOFAConventions", b"")
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            pos = np.asarray(f["SourcePosition"], dtype=float)
            ir = np.asarray(f["Data.IR"], dtype=float)
            rate = float(np.asarray(f["Data.SamplingRate"]).ravel()[0])
            units = f["SourcePosition"].attrs.get("Type", b"spherical")
            units = units.decode() if isinstance(units, bytes) else str(units)
    except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise HeadError(f"cannot read head-related responses from {path}: {reason}; "
                        f"allowed: a SOFA (HDF5) file of the SimpleFreeFieldHRIR convention "
                        f"such as {DEFAULT_SOFA}") from None
    problem = None
    if kind != "SimpleFreeFieldHRIR":
        problem = f"convention {kind or 'missing'}"
    elif units != "spherical":
        problem = f"source positions of type {units}"
    elif ir.ndim != 3 or ir.shape[1] != 2 or ir.shape[2] < 16 or len(ir) < 3:
        problem = f"Data.IR of shape {ir.shape}"
    elif pos.shape != (len(ir), 3):
        problem = f"SourcePosition of shape {pos.shape} for {len(ir)} responses"
    elif not (8000.0 <= rate <= 384000.0):
        problem = f"sample rate {rate:g} Hz"
    elif not (np.all(np.isfinite(ir)) and np.all(np.isfinite(pos))):
        problem = "values that are not finite numbers"
    elif np.any(np.abs(ir).max(axis=-1) == 0.0):
        problem = "silent responses"
    if problem:
        raise HeadError(f"head-related responses {path} have {problem}; allowed: the "
                        f"SimpleFreeFieldHRIR convention with spherical source positions, "
                        f"two ears, such as {DEFAULT_SOFA}")
    return Head.from_responses(pos, ir, rate)


#: Early reflections heard on headphones. The first ones come from around the instrument
#: (the floor under it, the walls and ceiling near it), so they arrive in pairs: the same
#: delay and strength from both sides of the instrument's direction, _SPREAD_DEG away. The
#: room leans to neither side of the instrument: one straight ahead stays in the middle, and
#: mirrored placements give mirrored ears.
_PAIRS = 4
_SPREAD_DEG = (20.0, 120.0)
_DELAY_S = (0.004, 0.045)
_DECAY_S = 0.03
_ELEVATION_DEG = (-30.0, 60.0)
#: Closer than this the direct sound gets no louder (m).
_NEAREST_M = 0.5


def binaural_gains(head: Head, freq_hz: np.ndarray, *, reverb: float, seed: int,
                   azimuth_deg: float = 0.0, elevation_deg: float = 0.0,
                   distance_m: float = 1.0, level_db: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Complex gain of each mode in each ear, direct sound and early reflections.

    Parameters
    ----------
    head : Head
    freq_hz : ndarray, shape (M,)
        Mode frequencies (Hz).
    reverb : float
        0 (dry) .. 1: the share of reflected sound, as in the speaker mix.
    seed : int
        Seeds the reflections' delays, signs and directions.
    azimuth_deg, elevation_deg : float
        Direction of the instrument seen from the listener's head.
    distance_m : float
        Distance from the middle of the head (m); the direct sound falls as 1/distance
        (no louder than at 0.5 m), the room stays.
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
    direct = (1.0 - 0.6 * reverb) / max(distance_m, _NEAREST_M)
    gains = direct * direct_ears.at(f)
    wet = 0.8 * reverb
    if wet > 0:
        rng = np.random.default_rng([seed, 7919, 2])
        delays = rng.uniform(*_DELAY_S, size=_PAIRS)
        amps = np.exp(-delays / _DECAY_S) * rng.choice([-1.0, 1.0], size=_PAIRS)
        amps /= math.sqrt(2.0 * np.sum(amps**2))
        spread = rng.uniform(*_SPREAD_DEG, size=_PAIRS)
        el = rng.uniform(*_ELEVATION_DEG, size=_PAIRS)
        for k in range(_PAIRS):
            pair = (head.ears(azimuth_deg + spread[k], el[k]).at(f)
                    + head.ears(azimuth_deg - spread[k], el[k]).at(f))
            gains += (wet * amps[k]) * pair * np.exp(-2j * np.pi * f * delays[k])[None, :]
    return gains * 10.0 ** (level_db / 20.0), direct_ears.delay_s


def convolve(signal: np.ndarray, head: Head, sample_rate: int, *, azimuth_deg: float = 0.0,
             elevation_deg: float = 0.0) -> np.ndarray:
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

    Returns
    -------
    ndarray, float32, shape (n + L - 1, 2)
        Left and right ear; the near ear's onset is at the signal's, as for the modes.
    """
    x = np.asarray(signal, dtype=float)
    if x.ndim == 2:
        x = x.sum(axis=1)
    h = head.ears(azimuth_deg, elevation_deg).impulse(sample_rate)
    n = len(x) + len(h) - 1
    size = 1 << max(1, math.ceil(math.log2(n)))
    y = np.fft.irfft(np.fft.rfft(x, size)[:, None] * np.fft.rfft(h, size, axis=0), size, axis=0)
    return y[:n].astype(np.float32)
