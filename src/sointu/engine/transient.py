"""Strike transients: the mallet's contact noise and a burst of short-lived high modes.

The ringing of a stroke lives in the shared modal bank; what a mallet adds in the first
tenths of a second does not fit it (noise, and dozens of modes that die in 50-450 ms and
would cost per sample for as long as the instrument rings). It is short, so it is rendered
per strike, deterministically from the strike's seed: :func:`render_transient` gives the
same samples whenever it is called, and the block generator adds the slice of it that
overlaps each chunk. Blocks of any size and any start frame therefore give the same samples.

The style of each family (levels, bands, decays) is data: ``presets/engine/transients.toml``,
overridden per instrument by its ``[transient]`` table.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache

import numpy as np

from ..presets import Checker, read_toml, shipped_dir

__all__ = ["TransientStyle", "Transient", "load_transient_styles", "parse_style",
           "render_transient", "MAX_TRANSIENT_S"]

#: Longest transient (s): the burst's slowest mode has fallen 60 dB by then.
MAX_TRANSIENT_S = 0.6
#: Taper at a transient's end (s), so it never stops with a step.
_TAPER_S = 0.02


@dataclass(frozen=True)
class TransientStyle:
    """How a family of instruments sounds in the first tenths of a second of a stroke
    (levels in dB re the instrument's stroke level, see ``presets/engine/transients.toml``)."""

    noise_db: float
    noise_hz: tuple[float, float]
    noise_tail_db: float
    noise_t60_s: float
    burst_db: float
    burst_modes: int
    burst_hz: tuple[float, float]
    burst_t60_s: tuple[float, float]


#: key -> (lo, hi, length) for validation; length None: a single number.
_RANGES = {
    "noise_db": (-80.0, 12.0, None),
    "noise_hz": (20.0, 24000.0, 2),
    "noise_tail_db": (-80.0, 0.0, None),
    "noise_t60_s": (0.005, MAX_TRANSIENT_S, None),
    "burst_db": (-80.0, 12.0, None),
    "burst_modes": (0, 128, None),
    "burst_hz": (100.0, 24000.0, 2),
    "burst_t60_s": (0.005, MAX_TRANSIENT_S, 2),
}


def parse_style(table: dict, c: Checker, where: str, base: TransientStyle | None = None
                ) -> TransientStyle:
    """A style from a preset table (every key required without ``base``, else overrides)."""
    c.check_keys(table, set(_RANGES), where)
    vals = {}
    for f in fields(TransientStyle):
        lo, hi, length = _RANGES[f.name]
        default = None if base is None else getattr(base, f.name)
        if length is None:
            vals[f.name] = c.number(table, f.name, where, lo=lo, hi=hi, default=default)
        else:
            v = c.numbers(table, f.name, where, length=length, lo=lo, hi=hi,
                          default=None if default is None else list(default))
            vals[f.name] = tuple(v)
    if vals["burst_modes"] != int(vals["burst_modes"]):
        raise c.fail(where + "burst_modes", f"expected a whole number, got {vals['burst_modes']:g}")
    vals["burst_modes"] = int(vals["burst_modes"])
    for key in ("noise_hz", "burst_hz"):
        if vals[key][0] >= vals[key][1]:
            raise c.fail(where + key,
                         f"expected [low, high] with low < high, got {list(vals[key])}")
    return TransientStyle(**vals)


@lru_cache(maxsize=1)
def load_transient_styles() -> dict[str, TransientStyle]:
    """Family -> :class:`TransientStyle`, from ``presets/engine/transients.toml``."""
    path = shipped_dir() / "engine" / "transients.toml"
    c = Checker(str(path))
    out = {}
    for family, table in read_toml(path).items():
        if not isinstance(table, dict):
            raise c.fail(family, "expected a table")
        out[family] = parse_style(table, c, f"{family}.")
    return out


@dataclass(frozen=True)
class Transient:
    """One strike's transient, placed: everything :func:`render_transient` needs.

    Attributes
    ----------
    frame : int
        First frame (the stroke's frame).
    style : TransientStyle
    instrument : str
        Seeds the burst's mode frequencies (the same bowl has the same high modes).
    level : float
        Linear amplitude of 0 dB (the instrument's stroke scale times velocity^2 times the
        mallet's noise level).
    cutoff_hz : float
        The mallet's low-pass corner at this velocity (Hz).
    contact_s : float
        How long the mallet touches the rim (s): the click's length.
    seed : int
        Seeds the noise and the burst's per-strike variation.
    direct : tuple of float
        Gain of the direct sound per channel.
    delay : tuple of int
        Delay of the direct sound per channel (frames).
    tail : float
        Amplitude of the room's late tail per unit band amplitude (0: none).
    impulse : ndarray, shape (L, 2), or None
        Headphones: both ears' responses from the instrument's direction; the direct sound
        is the transient convolved with them, each ear silent for its ``delay`` frames.
    """

    frame: int
    style: TransientStyle
    instrument: str
    level: float
    cutoff_hz: float
    contact_s: float
    seed: int
    direct: tuple[float, float] = (1.0, 1.0)
    delay: tuple[int, int] = (0, 0)
    tail: float = 0.0
    impulse: np.ndarray | None = field(default=None, compare=False)

    def with_placement(self, direct, delay, tail) -> Transient:
        return replace(self, direct=tuple(float(g) for g in direct),
                       delay=tuple(int(d) for d in delay), tail=float(tail))


def transient_frames(style: TransientStyle, sample_rate: int) -> int:
    """Length (frames) of a transient of ``style``."""
    longest = max(style.noise_t60_s, max(style.burst_t60_s) if style.burst_modes else 0.0)
    return int(math.ceil(min(longest, MAX_TRANSIENT_S) * sample_rate))


def _burst_freqs(style: TransientStyle, instrument: str) -> np.ndarray:
    rng = np.random.default_rng([zlib.crc32(instrument.encode()), 0xB0257])
    lo, hi = style.burst_hz
    return np.sort(np.exp(rng.uniform(math.log(lo), math.log(hi), style.burst_modes)))


@lru_cache(maxsize=64)
def _burst_bases(style: TransientStyle, instrument: str, sample_rate: int, n: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An instrument's burst modes: frequencies (m,), each mode's state at the start of every
    row of _ROW frames (rows, m) and its course within a row as a real float32 basis
    (2m, _ROW): the imaginary parts over the real parts, so that Im(state * course) is one
    real matrix product (half the work of the complex one); made once, so a strike costs
    that product."""
    fs = sample_rate
    fm = _burst_freqs(style, instrument)
    fm = fm[fm < 0.45 * fs]
    lo, hi = style.burst_hz
    lf = np.log(fm / lo) / math.log(hi / lo)
    t60 = style.burst_t60_s[0] * (style.burst_t60_s[1] / style.burst_t60_s[0]) ** lf
    log_p = -math.log(1000.0) / (t60 * fs) + 2j * math.pi * fm / fs
    rows = -(-n // _ROW)
    row_start = np.exp(np.arange(rows)[:, None] * _ROW * log_p[None, :])
    course = np.exp(np.arange(_ROW)[None, :] * log_p[:, None])
    basis = np.concatenate([course.imag, course.real]).astype(np.float32)  # output is float32
    for a in (fm, row_start, basis):
        a.setflags(write=False)
    return fm, row_start, basis


@lru_cache(maxsize=64)
def _noise_parts(style: TransientStyle, sample_rate: int, nn: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What every strike of ``style`` shares: the contact noise's band shape at the bins of
    its FFT (without the mallet), those bins' frequencies over 1 Hz, and the noise tail's
    envelope (nn,); made once."""
    fs = sample_rate
    size = 1 << int(math.ceil(math.log2(max(nn, 2))))
    f = np.fft.rfftfreq(size, 1.0 / fs)
    lo, hi = style.noise_hz
    band = (f / lo) ** 2 / (1.0 + (f / lo) ** 2) / (1.0 + (f / min(hi, 0.45 * fs)) ** 4)
    tail = 10.0 ** (style.noise_tail_db / 20.0) * np.exp(
        -math.log(1000.0) * np.arange(nn) / (style.noise_t60_s * fs))
    for a in (band, f, tail):
        a.setflags(write=False)
    return band, f, tail


#: Frames per row of a burst's block product.
_ROW = 256


def render_transient(tr: Transient, sample_rate: int) -> np.ndarray:
    """The transient as a mono signal, float64 (n,), n = :func:`transient_frames`.

    The same arguments always give the same samples.
    """
    st = tr.style
    fs = sample_rate
    n = transient_frames(st, fs)
    if n == 0 or tr.level == 0.0:
        return np.zeros(n)
    rng = np.random.default_rng([tr.seed, 0x7C0C])
    # contact noise: white noise shaped by the band and the mallet, unit RMS, as long as
    # its own tail (usually far shorter than the burst); the white noise is drawn straight
    # as its spectrum (independent complex Gaussian bins: one inverse FFT, no forward one)
    nn = min(n, int(math.ceil(st.noise_t60_s * fs)))
    band, f, tail = _noise_parts(st, fs, nn)
    size = 2 * (len(f) - 1)
    shape = band / (1.0 + (f / tr.cutoff_hz) ** 2)
    white = rng.standard_normal((2, len(f)))
    spec = (white[0] + 1j * white[1]) * (shape * math.sqrt(size / 2.0))
    noise = np.fft.irfft(spec, size)[:nn]
    noise *= 10.0 ** (st.noise_db / 20.0) / (math.sqrt(np.sum(shape**2) / len(shape)) or 1.0)
    tau_click = max(tr.contact_s, 2.0 / fs)
    env = np.exp(np.arange(nn) * (-1.0 / (tau_click * fs)))
    env += tail
    y = np.zeros(n)
    np.multiply(noise, env, out=y[:nn])
    # the burst of high modes: a block of rows times a basis (cheap for any count)
    if st.burst_modes:
        fm, row_start, basis = _burst_bases(st, tr.instrument, fs, n)
        if len(fm):
            amp = 10.0 ** (rng.normal(0.0, 3.0, len(fm)) / 20.0) / (1.0 + (fm / tr.cutoff_hz) ** 2)
            amp *= 10.0 ** (st.burst_db / 20.0) * math.sqrt(2.0 / len(fm))
            phase = rng.uniform(0.0, 2.0 * math.pi, len(fm))
            start = (amp * np.exp(1j * phase))[None, :] * row_start  # (rows, m)
            coef = np.concatenate([start.real, start.imag], axis=1).astype(np.float32)
            y += (coef @ basis).ravel()[:n]
    # the mallet's contact fades it in (no step), a short taper ends it
    ramp_n = max(int(round(tr.contact_s * fs / 2)), 2)
    y[:ramp_n] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp_n) / ramp_n)
    taper = min(int(_TAPER_S * fs), n)
    y[n - taper:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, taper + 1) / taper)
    return y * tr.level
