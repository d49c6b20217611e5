"""Instruments: a preset's partials turned into modes, and strokes turned into mode amplitudes.

An :class:`Instrument` is plain data read from a TOML preset (see ``presets/instruments``).
:meth:`Instrument.modes` lays its partials out as modes for one sample rate (doublet halves,
bloom pairs, glide triples), and :meth:`Modes.strike` / :meth:`Modes.rub` turn a stroke into
complex mode amplitudes that the modal bank adds to its state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import PresetError
from ..presets import read_text, read_toml, shipped_dir
from ..schema import defaults_from, key_lines, show
from .gong import GongModes, GongStyle
from .instrument_schema import (
    BOWL_RATIO_RANGES,
    FAMILIES,
    GLIDE,
    GONG,
    GONG_FAMILIES,
    MALLET,
    PARTIALS,
    RUB,
    STRIKE,
    T60_PER_TAU,
    TOP,
    TRANSIENT,
    InstrumentValidator,
    dump_instrument,
    read_named_tables,
)
from .transient import TransientStyle, load_transient_styles, style_from

__all__ = ["Instrument", "Modes", "Excitation", "FAMILIES", "T60_PER_TAU", "load_mallets",
           "mallet_noise_db", "BOWL_RATIO_RANGES", "check_instrument_file",
           "instrument_from_dict", "dump_instrument_preset"]


@dataclass(frozen=True)
@defaults_from(STRIKE)
class StrikeStyle:
    """How one stroke excites an instrument with several bodies (rods, cups).

    bodies : 'all' (every body at once, e.g. a tingsha pair), 'one' (a random one), or
    'cascade' (a clapper hitting count[0]..count[1] random rods, gap_s apart on average).
    doublet_floor : the weaker half of a doublet gets at least this share (relative to the
    stronger) added to its |cos|/|sin| weight, so that most strokes beat deeply (0: the pure
    position rule, no beating when struck on a node line).
    """

    bodies: str
    count: tuple[int, int]
    gap_s: float
    jitter_db: float
    doublet_floor: float


@dataclass(frozen=True)
@defaults_from(RUB)
class RubStyle:
    """Rubbing the rim with a stick: a tone that builds up and pulsates as the stick turns.

    rev_hz : stick revolutions per second; the pulsation rate is 2 n rev_hz for mode order n.
    build_s : time constant of the build-up (s).
    pulsation : depth of the amplitude pulsation, 0..1.
    partial_gain : relative level of each driven partial (the first dominates).
    level_db : level of a full rub relative to the instrument's strike level.
    irregularity : the hand's speed varies by this share (+-) over a few seconds.
    harmonics_db : friction harmonics at 2, 3, ... times the sung tone, dB re the tone.
    noise_db : the stick's scraping noise, RMS dB re the sung tone's amplitude.
    noise_hz : [low, high] band of the scraping noise (Hz).
    """

    rev_hz: float
    build_s: float
    pulsation: float
    partial_gain: tuple[float, ...]
    level_db: float
    irregularity: float
    harmonics_db: tuple[float, ...]
    noise_db: float
    noise_hz: tuple[float, float]


@dataclass(frozen=True)
class Instrument:
    """A resonant instrument described by its partials (all frequencies in Hz, times in s)."""

    name: str
    family: str
    description: str
    source: str
    fundamental_hz: float
    notes_hz: tuple[float, ...]
    level_db: float
    ratio: tuple[float, ...]
    gain_db: tuple[float, ...]
    t60_s: tuple[float, ...]
    split_hz: tuple[float, ...]
    order: tuple[int, ...]
    bloom_s: tuple[float, ...]
    glide_cents: float = 0.0
    glide_s: float = 1.0
    glide_partials: int = 0
    octave_db: float | None = None
    octave_partials: int = 0
    strike: StrikeStyle = field(default_factory=StrikeStyle)
    rub: RubStyle | None = None
    gong: GongStyle | None = None
    path: Path | None = None
    transient: TransientStyle | None = None

    @property
    def articulations(self) -> tuple[str, ...]:
        return FAMILIES[self.family]

    @property
    def ring_s(self) -> float:
        """Seconds for a full stroke to decay at least 60 dB below its peak."""
        return max(t + b for t, b in zip(self.t60_s, self.bloom_s, strict=True)) + (
            self.strike.gap_s * self.strike.count[1] if self.strike.bodies == "cascade" else 0.0
        )

    def retuned(self, fundamental_hz: float) -> Instrument:
        """The same instrument with every body scaled to a new fundamental (Hz)."""
        k = fundamental_hz / self.fundamental_hz
        return replace(
            self,
            fundamental_hz=fundamental_hz,
            notes_hz=tuple(n * k for n in self.notes_hz),
        )

    def modes(self, sample_rate: int) -> Modes:
        """Lay the partials out as modes for ``sample_rate`` (Hz); see :class:`Modes`."""
        return Modes(self, sample_rate)

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: Path) -> Instrument:
        """Read and validate an instrument preset (TOML); PresetError on any problem."""
        inst, problems = check_instrument_file(path)
        return _first(inst, problems)

    @classmethod
    def from_dict(cls, d: dict, source: str, path: Path | None = None,
                  text: str = "") -> Instrument:
        """Validate parsed TOML (``text``: the file's, for the lines in messages); the first
        problem is raised as PresetError (one line: file:line: key: what; allowed)."""
        return _first(*instrument_from_dict(d, source, path=path, text=text))


def _first(inst: Instrument | None, problems: list[str]) -> Instrument:
    if problems:
        more = f" (and {len(problems) - 1} more; see sointu validate)" if len(problems) > 1 \
            else ""
        raise PresetError(problems[0] + more)
    return inst


def check_instrument_file(path: Path) -> tuple[Instrument | None, list[str]]:
    """An instrument preset file read and checked: (instrument or None, every problem)."""
    path = Path(path)
    try:
        data = read_toml(path)
    except PresetError as exc:
        return None, [str(exc)]
    return instrument_from_dict(data, str(path), path=path, text=read_text(path))


def instrument_from_dict(d: dict, source: str, *, path: Path | None = None, text: str = ""
                         ) -> tuple[Instrument | None, list[str]]:
    """Validate parsed TOML by the schema (:mod:`.instrument_schema`); returns (instrument or
    None, every problem, one line each)."""
    v = InstrumentValidator(source, key_lines(text))
    top = v.section(d, TOP, "", {"stem": path.stem if path is not None else None})
    family = top["family"]
    if top["name"] is None and "name" not in d:
        v.problem("name", "missing")
    notes, fundamental = top.pop("notes_hz"), top.pop("fundamental_hz")
    if "notes" not in d and "fundamental" not in d:
        v.problem("fundamental", "missing (a frequency in Hz, a note name or a Cousto name)")
    fundamental = fundamental or (notes[0] if notes else None)
    notes = notes or (fundamental,)
    p = d.get("partials")
    if not isinstance(p, dict):
        v.problem("partials", "missing table [partials] with ratio, gain_db, t60_s")
        return None, v.problems
    parts = v.section(p, PARTIALS, "partials.", family=family)
    ratio = parts["ratio"] or ()
    n = len(ratio)
    glide = v.section(v.table(d, "glide"), GLIDE, "glide.", {"ratio": parts["ratio"]})
    strike = v.section(v.table(d, "strike"), STRIKE, "strike.")
    rub = None
    if family in FAMILIES and "rub" in FAMILIES[family]:
        rub = v.section(v.table(d, "rub"), RUB, "rub.")
    elif "rub" in d and family is not None:
        v.problem("rub", f"a {family} cannot be rubbed; only bowls and crystal bowls")
    transient = _transient(v, d, family)
    gong = None
    if "gong" in d:
        if not isinstance(d["gong"], dict):
            v.problem("gong", f"expected a table, got {show(d['gong'])}")
        elif family not in GONG_FAMILIES:
            v.problem("gong", f"only gongs and tam-tams have a [gong] table, not a {family}")
        else:
            gong = v.section(d["gong"], GONG, "gong.")
    if v.problems:
        return None, v.problems
    if gong is not None:
        gong = GongStyle(**{**gong, "seed": int(gong["seed"]),
                            "partials": int(gong["partials"])})
    if rub is not None:
        rub = RubStyle(**{**rub, "partial_gain": rub["partial_gain"][:n],
                          "harmonics_db": rub["harmonics_db"][:8]})
    return Instrument(
        **top, fundamental_hz=fundamental, notes_hz=notes,
        ratio=ratio, gain_db=parts["gain_db"], t60_s=parts["t60_s"],
        split_hz=parts["split_hz"] or (0.0,) * n,
        order=tuple(int(o) for o in parts["order"] or range(2, n + 2)),
        bloom_s=parts["bloom_s"] or (0.0,) * n, octave_db=parts["octave_db"],
        octave_partials=int(parts["octave_partials"]),
        glide_cents=glide["glide_cents"], glide_s=glide["glide_s"],
        glide_partials=int(glide["glide_partials"]),
        strike=StrikeStyle(**{**strike, "count": tuple(int(c) for c in strike["count"])}),
        rub=rub, gong=gong, path=path, transient=transient), []


def _transient(v: InstrumentValidator, d: dict, family: str | None) -> TransientStyle | None:
    """The family's strike transient (``presets/engine/transients.toml``), with the keys of
    the preset's ``[transient]`` table overriding it; None for a family without one."""
    base = load_transient_styles().get(family)
    t = d.get("transient")
    if t is None:
        return base
    if not isinstance(t, dict):
        v.problem("transient", f"expected a table, got {show(t)}")
        return None
    if family is None:  # a bad family is reported; its transient's keys are unknown
        return None
    given = {f.name: list(x) if isinstance(x := getattr(base, f.name), tuple) else x
             for f in fields(TransientStyle)} if base is not None else {}
    n0 = len(v.problems)
    values = v.section({**given, **t}, TRANSIENT, "transient.")
    return style_from(values) if len(v.problems) == n0 else None


def dump_instrument_preset(inst: Instrument) -> str:
    """The instrument as TOML (keys in schema order, defaults and the family's transient
    left out); read back as a file of the same name it loads to an equal instrument."""
    return dump_instrument(inst, load_transient_styles().get(inst.family))


@lru_cache(maxsize=1)
def _mallet_tables() -> dict[str, dict]:
    return read_named_tables(shipped_dir() / "engine" / "mallets.toml", MALLET)


@lru_cache(maxsize=1)
def load_mallets() -> dict[str, tuple[float, float, float]]:
    """Mallet name -> (cutoff_hz, level_db, contact_ms), from ``presets/engine/mallets.toml``."""
    return {k: (v["cutoff_hz"], v["level_db"], v["contact_ms"])
            for k, v in _mallet_tables().items()}


def mallet_noise_db(mallet: str) -> float:
    """Level (dB) of a mallet's contact noise and burst, from ``presets/engine/mallets.toml``."""
    d = _mallet_tables()
    if mallet not in d:
        raise PresetError(f"unknown mallet '{mallet}'; allowed: {', '.join(d)}")
    return d[mallet]["noise_db"]


@dataclass(frozen=True)
class Excitation:
    """Mode amplitudes to add at a frame offset: ``amps`` (complex, one per mode)."""

    delay_s: float
    amps: np.ndarray
    gain: float = 1.0


class Modes:
    """An instrument's modes at one sample rate, and how strokes excite them.

    Attributes
    ----------
    freq_hz, tau_s : ndarray, shape (M,)
        Frequency and decay time constant of each mode.
    partial : ndarray of int, shape (M,)
        Index of the (body, partial) each mode belongs to (body * n_partials + partial).
    half : ndarray of int, shape (M,)
        0 for a plain mode or the first half of a doublet, 1 for the second half.
    octave : ndarray of bool, shape (M,)
        The faint tone at twice a partial (``partials.octave_db``), not rubbed.
    coef : ndarray, shape (M,)
        Fixed weight of the mode within its partial (bloom and glide pairs).
    """

    def __init__(self, inst: Instrument, sample_rate: int):
        self.instrument = inst
        self.sample_rate = int(sample_rate)
        nyq = 0.45 * sample_rate
        n = len(inst.ratio)
        rows = []  # (freq, tau, partial index, half, coef)
        for b, note in enumerate(inst.notes_hz):
            for j in range(n):
                f = note * inst.ratio[j]
                tau = inst.t60_s[j] / T60_PER_TAU
                split = inst.split_hz[j]
                halves = [(f - split / 2, 0), (f + split / 2, 1)] if split > 0 else [(f, 0)]
                for fh, h in halves:
                    for df, t, k in _temporal(inst, j, fh, tau):
                        if df < nyq:
                            rows.append((df, t, b * n + j, h, k))
                if j < inst.octave_partials and 2 * f < nyq:
                    # a real bowl's slight nonlinearity: a faint tone at twice the partial,
                    # decaying twice as fast (it grows with the square of the partial)
                    rows.append((2 * f, tau / 2, b * n + j, 2, 10 ** (inst.octave_db / 20)))
        # a gong's cloud, churn and sharp companions (engine/gong.py)
        gong = GongModes(inst.gong, inst.notes_hz[0] / inst.fundamental_hz, nyq) \
            if inst.gong else None
        sharp = [0.0] * len(rows)
        if gong is not None:
            rows, sharp = gong.core_companions(rows, sharp, len(inst.notes_hz) * n)
        core = self._core = len(rows)
        if gong is not None:
            rows += [(f, t, 0, 0, 0.0) for f, t in zip(gong.freq_hz, gong.tau_s, strict=True)]
        self._gong, self._sharp = gong, np.array(sharp + [0.0] * (len(rows) - core))
        #: sizes of consecutive mode groups the bank may skip separately once silent
        self.groups = gong.core_groups + gong.groups if gong is not None else [core]
        #: (main, companion) mode index of each cloud line (gongs), shape (L, 2)
        self.cloud_pairs = core + gong.pairs if gong is not None else np.zeros((0, 2), int)
        arr = np.array(rows, dtype=float).reshape(-1, 5)
        self.freq_hz = arr[:, 0]
        self.tau_s = arr[:, 1]
        self.partial = arr[:, 2].astype(int)
        self.octave = arr[:, 3] == 2  # the faint tones at twice a partial
        self.half = np.where(self.octave, 0, arr[:, 3]).astype(int)
        self.coef = arr[:, 4]
        # order of each mode's partial, for the doublet weighting by strike position
        self._order = np.array([inst.order[p % n] for p in self.partial], dtype=float)
        self._gain = 10.0 ** (np.array(inst.gain_db) / 20.0)
        self._scale = self._level_scale()

    @property
    def count(self) -> int:
        return len(self.freq_hz)

    def _partial_freqs(self) -> np.ndarray:
        inst = self.instrument
        return np.outer(inst.notes_hz, inst.ratio).ravel()

    def _mallet_gain(self, freqs: np.ndarray, mallet: str, velocity: float) -> np.ndarray:
        mallets = load_mallets()
        if mallet not in mallets:
            raise PresetError(f"unknown mallet '{mallet}'; allowed: {', '.join(mallets)}")
        cutoff, level_db, _ = mallets[mallet]
        fc = cutoff * (0.6 + 0.6 * velocity)
        return 10.0 ** (level_db / 20.0) / (1.0 + (freqs / fc) ** 2)

    def _level_scale(self) -> float:
        """Scale so that a full-velocity medium stroke peaks at most at level_db (dBFS)."""
        inst = self.instrument
        n = len(inst.ratio)
        g = self._mallet_gain(self._partial_freqs(), "medium", 1.0) * np.tile(
            self._gain, len(inst.notes_hz))
        if self._gong is not None:  # its companions start in phase with their partials
            mallets = load_mallets()  # a full-velocity medium stroke's
            hardness = mallets["medium"][0] * 1.2 / mallets["hard"][0]
            g = g * self._gong.peak_boost(self._gong.sharp_factor(1.0, hardness))
        per_body = g.reshape(len(inst.notes_hz), n).sum(axis=1)
        bodies_at_once = len(inst.notes_hz) if inst.strike.bodies == "all" else 1
        peak = np.sort(per_body)[::-1][:bodies_at_once].sum()
        return 10.0 ** (inst.level_db / 20.0) / peak

    def _position_weight(self, position_deg: float) -> np.ndarray:
        """Share of each doublet half for a stroke at ``position_deg`` on the rim."""
        phi = math.radians(position_deg)
        c = np.abs(np.cos(self._order * phi))
        s = np.abs(np.sin(self._order * phi))
        floor = self.instrument.strike.doublet_floor
        w = np.where(self.half == 0, c + floor, s + floor) / (c + s + 2.0 * floor)
        inst = self.instrument
        n = len(inst.ratio)
        single = np.array([inst.split_hz[p % n] == 0 for p in self.partial]) | self.octave
        return np.where(single, 1.0, w)

    def strike(self, velocity: float, mallet: str, position_deg: float,
               rng: np.random.Generator) -> list[Excitation]:
        """Mode amplitudes of one stroke.

        Parameters
        ----------
        velocity : float
            0..1; the amplitude follows velocity ** 1.5 and a harder stroke is brighter.
        mallet : str
            'soft', 'medium' or 'hard' (see ``presets/mallets.toml``).
        position_deg : float
            Where the rim is struck (degrees); sets the balance of each doublet.
        rng : numpy.random.Generator
            Source of the small per-stroke variation (seeded by the caller).

        Returns
        -------
        list of Excitation
            One entry per body hit (several for a chime cascade), with its delay (s).
        """
        inst = self.instrument
        n = len(inst.ratio)
        nb = len(inst.notes_hz)
        pf = self._partial_freqs()
        jitter = 10.0 ** (rng.normal(0.0, inst.strike.jitter_db / 2.0, size=nb * n) / 20.0)
        level = (
            self._scale * velocity**1.5 * self._mallet_gain(pf, mallet, velocity)
            * np.tile(self._gain, nb) * jitter
        )
        if inst.strike.bodies == "all":
            hits = [(0.0, list(range(nb)), 1.0)]
        elif inst.strike.bodies == "one":
            hits = [(0.0, [int(rng.integers(nb))], 1.0)]
        else:
            count = int(rng.integers(inst.strike.count[0], inst.strike.count[1] + 1))
            gaps = rng.exponential(inst.strike.gap_s, size=count)
            gaps[0] = 0.0
            times = np.cumsum(gaps)
            longest = inst.strike.gap_s * inst.strike.count[1]  # what ring_s allows for
            if times[-1] > longest:
                times *= longest / times[-1]
            hits = [
                (float(t), [int(rng.integers(nb))], float(10 ** (rng.uniform(-9, 0) / 20)))
                for t in times
            ]
        base = level[self.partial] * self.coef * self._position_weight(position_deg)
        if self._gong is not None:  # engine/gong.py: sharp share, and the cloud's lines
            mallets = load_mallets()
            hardness = mallets[mallet][0] * (0.6 + 0.6 * velocity) / mallets["hard"][0]
            base *= 1.0 + self._sharp * (self._gong.sharp_factor(velocity, hardness) - 1.0)
            base[self._core:] = self._gong.amplitudes(
                self._scale * velocity**1.5 * self._gain[0],
                lambda f: self._mallet_gain(f, mallet, velocity), rng)
        body = self.partial // n
        out = []
        for delay, bodies, g in hits:
            mask = np.isin(body, bodies)
            # -1j: every mode starts in sine phase, so a stroke starts from zero (no click)
            out.append(Excitation(delay, np.where(mask, -1j * g * base, 0.0), g))
        return out

    def transient_level(self, velocity: float, mallet: str) -> tuple[float, float]:
        """Amplitude of 0 dB of a stroke's transient, and the mallet's corner (Hz).

        The transient grows with velocity ** 2 (a harder stroke is more of a "tock" than
        it is louder); 0 dB is the instrument's ``level_db`` (the peak of a full-velocity
        medium stroke) plus the mallet's ``noise_db``.
        """
        cutoff = load_mallets()[mallet][0] * (0.6 + 0.6 * velocity)
        level = 10.0 ** ((self.instrument.level_db + mallet_noise_db(mallet)) / 20.0)
        level *= velocity**2
        return level, cutoff

    def rub_plan(self, velocity: float) -> tuple[np.ndarray, np.ndarray]:
        """Which modes a rub drives and how strongly.

        Returns
        -------
        drive : ndarray, shape (M,)
            Peak amplitude of the rubbed tone on each mode (0 for modes not driven); only the
            first half of each doublet and the first temporal component are driven.
        handoff : ndarray, shape (M,)
            How the rubbed tone of each partial is shared between its modes at release.
        """
        inst = self.instrument
        if inst.rub is None:
            raise PresetError(f"{inst.name}: a {inst.family} cannot be rubbed")
        n = len(inst.ratio)
        gains = np.zeros(len(inst.notes_hz) * n)
        gains[: len(inst.rub.partial_gain)] = inst.rub.partial_gain
        level = self._scale * 10 ** (inst.rub.level_db / 20) * velocity**1.5
        lead = np.zeros(self.count, dtype=bool)
        seen = set()
        for m in range(self.count):
            if self.partial[m] not in seen:
                seen.add(self.partial[m])
                lead[m] = True
        drive = np.where(lead, level * gains[self.partial] * self._gain[self.partial % n], 0.0)
        split = np.array([inst.split_hz[p % n] > 0 for p in self.partial])
        handoff = np.where(split, np.where(self.half == 0, 0.7, 0.3), 1.0) * (self.coef > 0)
        handoff = handoff * np.where((self.coef > 0) & ~self.octave, 1.0, 0.0)
        return drive, handoff


def _temporal(inst: Instrument, j: int, f: float, tau: float):
    """The modes that give partial j its envelope: (freq_hz, tau_s, coef) triples."""
    if inst.bloom_s[j] > 0:
        # difference of exponentials: rises, peaks at bloom_s, then decays with tau
        t2 = _rise_tau(inst.bloom_s[j], tau)
        tp = inst.bloom_s[j]
        k = 1.0 / (math.exp(-tp / tau) - math.exp(-tp / t2))
        return [(f, tau, k), (f, t2, -k)]
    if j < inst.glide_partials and inst.glide_cents:
        # amplitude crossfade from f to the glide target with the same overall decay
        f_end = f * 2.0 ** (inst.glide_cents / 1200.0)
        t_fast = 1.0 / (1.0 / tau + 1.0 / inst.glide_s)
        return [(f, t_fast, 1.0), (f_end, tau, 1.0), (f_end, t_fast, -1.0)]
    return [(f, tau, 1.0)]


def _rise_tau(peak_s: float, tau: float) -> float:
    """The fast time constant t2 < tau for which exp(-t/tau) - exp(-t/t2) peaks at peak_s."""

    def peak(t2: float) -> float:
        return tau * t2 * math.log(tau / t2) / (tau - t2)

    lo, hi = 1e-6, tau * (1 - 1e-9)
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if peak(mid) < peak_s:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)
