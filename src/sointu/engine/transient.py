"""Strike transients: the mallet's contact noise and a burst of short-lived high modes.

The ringing of a stroke lives in the shared modal bank; what a mallet adds in the first
tenths of a second does not fit it (noise, and dozens of modes that die in 50-450 ms and
would cost per sample for as long as the instrument rings). It is short, so it is added
per strike: :func:`render_transient` gives the same samples whenever it is called, and the
block generator adds the slice of it that overlaps each chunk. Blocks of any size and any
start frame therefore give the same samples.

Rendering it anew for every stroke cost ~0.5 ms, ten times more than the stroke's modes.
So strokes share templates (:class:`Template`): one per instrument, mallet and velocity step
(the mallet's corner rounded to a quarter octave), two seeded renderings of it made once; a
stroke plays its own seeded mix of the two (:func:`mix_weights`) at its exact level, a fresh
noise of the same spectrum every time for the price of two scaled adds.

The style of each family (levels, bands, decays) is data: ``presets/engine/transients.toml``,
overridden per instrument by its ``[transient]`` table.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from ..presets import shipped_dir
from .instrument_schema import MAX_TRANSIENT_S, TRANSIENT, read_named_tables
from .room import band_energies

__all__ = ["TransientStyle", "Transient", "Template", "load_transient_styles", "style_from",
           "render_transient", "stroke_template", "template_key", "mix_weights",
           "quantised_cutoff", "transient_template", "MAX_TRANSIENT_S"]

#: Taper at a transient's end (s), so it never stops with a step.
_TAPER_S = 0.02
#: Steps per octave of the mallet corner at which transients are made (:func:`quantised_cutoff`).
CUTOFF_STEPS_PER_OCTAVE = 4
_MASK64 = (1 << 64) - 1
#: Length of a template's click (s): the longest mallet contact's pulse and the band's
#: ringing after it have died away by then.
_CLICK_S = 0.015
#: Templates kept (each instrument x mallet x velocity step is one; a bowl's is 173 kB at
#: 48 kHz, so at most ~33 MB); one dropped is made again, the same, when asked for.
_KEEP_TEMPLATES = 192


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


#: The quietest contact noise (dB): at or below it, no click.
_SILENT_DB = -80.0


def style_from(values: dict) -> TransientStyle:
    """A style from the values of a ``[transient]`` table read by the schema."""
    return TransientStyle(**{**values, "burst_modes": int(values["burst_modes"])})


@lru_cache(maxsize=1)
def load_transient_styles() -> dict[str, TransientStyle]:
    """Family -> :class:`TransientStyle`, from ``presets/engine/transients.toml``."""
    tables = read_named_tables(shipped_dir() / "engine" / "transients.toml", TRANSIENT)
    return {family: style_from(values) for family, values in tables.items()}


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


@lru_cache(maxsize=64)
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


def quantised_cutoff(cutoff_hz: float) -> float:
    """The mallet corner (Hz) a stroke's transient is made at: ``cutoff_hz`` rounded to the
    nearest of :data:`CUTOFF_STEPS_PER_OCTAVE` steps per octave (off by 9 % at most, under
    1 dB at any frequency: strokes of nearby velocities share a template)."""
    steps = CUTOFF_STEPS_PER_OCTAVE
    return 2.0 ** (round(math.log2(cutoff_hz) * steps) / steps)


@dataclass(frozen=True)
class Template:
    """What every stroke of one instrument, mallet and velocity step shares.

    Attributes
    ----------
    click : ndarray, float32, shape (nc,)
        The mallet's contact: its force pulse heard through the contact noise's band, the
        same at every stroke (a real mallet's "tock" is as repeatable as the stroke), at
        level 1.
    variants : ndarray, float32, shape (2, n)
        Two independent seeded renderings of the rest (the noise's decaying tail and the
        burst of high modes) at level 1, n = :func:`transient_frames`. A stroke plays
        ``click + cos(theta) * v0 + sin(theta) * v1`` with its own seeded angle: noise plus
        independent noise in those shares is noise of the same spectrum and level, so every
        stroke's is a fresh one for the price of two scaled adds.
    band_amps : ndarray, float64, shape (n_bands,)
        Square roots of a stroke's expected energy in each band of the room's tail
        (:func:`sointu.engine.room.band_energies`; the click's and the variants' mean).
    """

    click: np.ndarray
    variants: np.ndarray
    band_amps: np.ndarray


def template_key(tr: Transient) -> tuple:
    """What selects a stroke's :class:`Template` (strokes with equal keys share it)."""
    return (tr.style, tr.instrument, quantised_cutoff(tr.cutoff_hz), tr.contact_s)


@lru_cache(maxsize=_KEEP_TEMPLATES)
def transient_template(style: TransientStyle, instrument: str, cutoff_hz: float,
                       contact_s: float, sample_rate: int) -> Template:
    """The :class:`Template` of ``instrument`` struck with a mallet of corner ``cutoff_hz``
    (already quantised, :func:`quantised_cutoff`) and contact ``contact_s`` (s); seeded by
    those, made once and kept (a few hundred kB each)."""
    fs = sample_rate
    n = transient_frames(style, fs)
    click = _click(style, cutoff_hz, contact_s, fs, n)
    seed = [zlib.crc32(instrument.encode()), int(round(cutoff_hz)),
            int(round(contact_s * 1e6)), 0x7E3F]
    variants = np.zeros((2, n), dtype=np.float32)
    energy = np.zeros(len(band_energies(np.zeros(2), fs)))
    for k in range(2):
        y = _render_rest(style, instrument, cutoff_hz, contact_s,
                         np.random.default_rng(seed + [k]), fs)
        variants[k] = y
        if n:
            energy += band_energies(y, fs) / 2.0
    if len(click):
        energy += band_energies(click, fs)
    click = click.astype(np.float32)
    band_amps = np.sqrt(energy)
    for x in (click, variants, band_amps):
        x.setflags(write=False)
    return Template(click, variants, band_amps)


def stroke_template(tr: Transient, sample_rate: int) -> Template:
    """The :class:`Template` stroke ``tr`` plays."""
    return transient_template(*template_key(tr), sample_rate)


def mix_weights(tr: Transient) -> tuple[float, float]:
    """The stroke's amplitudes of its template's two variants: its level times the cosine
    and sine of an angle drawn from its seed (through the SplitMix64 finaliser, so that
    nearby seeds give unrelated angles; a numpy generator costs ~50 us to start)."""
    z = (tr.seed + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    theta = 2.0 * math.pi * (z >> 11) / float(1 << 53)
    return tr.level * math.cos(theta), tr.level * math.sin(theta)


def stroke_mono(tr: Transient, tmpl: Template) -> np.ndarray:
    """Stroke ``tr``'s transient, mono float32 (n,): its click and its mix of the variants."""
    mono = np.array(mix_weights(tr), dtype=np.float32) @ tmpl.variants
    nc = len(tmpl.click)
    mono[:nc] += np.float32(tr.level) * tmpl.click
    return mono


def render_transient(tr: Transient, sample_rate: int) -> np.ndarray:
    """The transient as a mono signal, float64 (n,), n = :func:`transient_frames`.

    The same arguments always give the same samples (:func:`stroke_mono`).
    """
    n = transient_frames(tr.style, sample_rate)
    if n == 0 or tr.level == 0.0:
        return np.zeros(n)
    return stroke_mono(tr, stroke_template(tr, sample_rate)).astype(float)


def _edges(y: np.ndarray, contact_s: float, fs: int, taper_s: float = _TAPER_S
           ) -> np.ndarray:
    """``y`` faded in over half the mallet's contact (no step) and tapered over its last
    ``taper_s`` seconds."""
    n = len(y)
    ramp_n = min(max(int(round(contact_s * fs / 2)), 2), n)
    y[:ramp_n] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp_n) / max(ramp_n, 1))
    taper = min(max(int(taper_s * fs), 1), n)
    y[n - taper:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, taper + 1) / taper)
    return y


def _click(st: TransientStyle, cutoff_hz: float, contact_s: float, sample_rate: int,
           n: int) -> np.ndarray:
    """The mallet's contact at level 1, float64 (nc,): a half-sine force pulse as long as the
    contact (an elastic contact's force, rising at once), shaped by the contact noise's band
    and the mallet's corner, with the energy of the noise click it stands for (RMS
    ``noise_db`` decaying with the contact time)."""
    fs = sample_rate
    nc = min(n, int(math.ceil(_CLICK_S * fs)))
    if nc < 2 or st.noise_db <= _SILENT_DB:
        return np.zeros(max(nc, 0))
    width = max(int(round(contact_s * fs)), 2)
    size = 1 << int(math.ceil(math.log2(2 * (nc + width))))
    pulse = np.zeros(size)
    pulse[:width] = np.sin(np.pi * (np.arange(width) + 0.5) / width)
    f = np.fft.rfftfreq(size, 1.0 / fs)
    lo, hi = st.noise_hz
    band = (f / lo) ** 2 / (1.0 + (f / lo) ** 2) / (1.0 + (f / min(hi, 0.45 * fs)) ** 4)
    # the band's zero-phase response smears the pulse both ways: the part before the
    # contact (wrapped to the buffer's end) is left out, the fade-in covers the rest
    y = np.fft.irfft(np.fft.rfft(pulse) * band / (1.0 + (f / cutoff_hz) ** 2), size)[:nc]
    tau = max(contact_s, 2.0 / fs) * fs
    energy = 10.0 ** (st.noise_db / 10.0) * np.sum(np.exp(-2.0 * np.arange(nc) / tau))
    y *= math.sqrt(energy / (np.sum(y**2) or 1.0))
    return _edges(y, contact_s, fs, _CLICK_S / 3)


def _render_rest(st: TransientStyle, instrument: str, cutoff_hz: float, contact_s: float,
                 rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """One rendering of what follows the click at level 1 (float64 (n,)): the contact
    noise's decaying tail and the burst of high modes, drawn from ``rng``."""
    fs = sample_rate
    n = transient_frames(st, fs)
    if n == 0:
        return np.zeros(0)
    # the noise's tail: white noise shaped by the band and the mallet, unit RMS at the
    # click's level, decaying; the white noise is drawn straight as its spectrum
    # (independent complex Gaussian bins: one inverse FFT, no forward one)
    nn = min(n, int(math.ceil(st.noise_t60_s * fs)))
    band, f, tail = _noise_parts(st, fs, nn)
    size = 2 * (len(f) - 1)
    shape = band / (1.0 + (f / cutoff_hz) ** 2)
    white = rng.standard_normal((2, len(f)))
    spec = (white[0] + 1j * white[1]) * (shape * math.sqrt(size / 2.0))
    noise = np.fft.irfft(spec, size)[:nn]
    noise *= 10.0 ** (st.noise_db / 20.0) / (math.sqrt(np.sum(shape**2) / len(shape)) or 1.0)
    y = np.zeros(n)
    np.multiply(noise, tail, out=y[:nn])
    # the burst of high modes: a block of rows times a basis (cheap for any count)
    if st.burst_modes:
        fm, row_start, basis = _burst_bases(st, instrument, fs, n)
        if len(fm):
            amp = 10.0 ** (rng.normal(0.0, 3.0, len(fm)) / 20.0) / (1.0 + (fm / cutoff_hz) ** 2)
            amp *= 10.0 ** (st.burst_db / 20.0) * math.sqrt(2.0 / len(fm))
            phase = rng.uniform(0.0, 2.0 * math.pi, len(fm))
            start = (amp * np.exp(1j * phase))[None, :] * row_start  # (rows, m)
            coef = np.concatenate([start.real, start.imag], axis=1).astype(np.float32)
            y += (coef @ basis).ravel()[:n]
    return _edges(y, contact_s, fs)
