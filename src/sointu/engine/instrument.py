"""Instruments: a preset's partials turned into modes, and strokes turned into mode amplitudes.

An :class:`Instrument` is plain data read from a TOML preset (see ``presets/instruments``).
:meth:`Instrument.modes` lays its partials out as modes for one sample rate (doublet halves,
bloom pairs, glide triples), and :meth:`Modes.strike` / :meth:`Modes.rub` turn a stroke into
complex mode amplitudes that the modal bank adds to its state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import PresetError
from ..presets import Checker, read_toml, shipped_dir
from .gong import GongModes, GongStyle, read_gong
from .transient import TransientStyle, load_transient_styles, parse_style
from .tuning import to_hz

__all__ = ["Instrument", "Modes", "Excitation", "FAMILIES", "T60_PER_TAU", "load_mallets",
           "mallet_noise_db"]

#: T60 = T60_PER_TAU * tau for an exponential decay (ln 1000).
T60_PER_TAU = math.log(1000.0)

#: Instrument families and the articulations each allows.
FAMILIES = {
    "bowl": ("strike", "rub"),
    "crystal": ("strike", "rub"),
    "gong": ("strike",),
    "tam-tam": ("strike",),
    "tingsha": ("strike",),
    "chime": ("strike",),
}

#: Partial-ratio ranges measured on real metal bowls (ACOUSTICS.md): partial -> (lo, hi).
BOWL_RATIO_RANGES = {1: (2.6, 3.0), 2: (4.8, 5.8)}


@dataclass(frozen=True)
class StrikeStyle:
    """How one stroke excites an instrument with several bodies (rods, cups).

    bodies : 'all' (every body at once, e.g. a tingsha pair), 'one' (a random one), or
    'cascade' (a clapper hitting count[0]..count[1] random rods, gap_s apart on average).
    doublet_floor : the weaker half of a doublet gets at least this share (relative to the
    stronger) added to its |cos|/|sin| weight, so that most strokes beat deeply (0: the pure
    position rule, no beating when struck on a node line).
    """

    bodies: str = "all"
    count: tuple[int, int] = (1, 1)
    gap_s: float = 0.15
    jitter_db: float = 1.0
    doublet_floor: float = 0.0


@dataclass(frozen=True)
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

    rev_hz: float = 0.7
    build_s: float = 2.5
    pulsation: float = 0.3
    partial_gain: tuple[float, ...] = (1.0, 0.05)
    level_db: float = -3.0
    irregularity: float = 0.05
    harmonics_db: tuple[float, ...] = (-32.0, -44.0)
    noise_db: float = -40.0
    noise_hz: tuple[float, float] = (800.0, 6000.0)


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
        path = Path(path)
        return cls.from_dict(read_toml(path), str(path), path=path)

    @classmethod
    def from_dict(cls, d: dict, source: str, path: Path | None = None) -> Instrument:
        c = Checker(source)
        c.check_keys(d, _TOP_KEYS, "")
        name = c.string(d, "name", default=path.stem if path else None)
        family = c.string(d, "family", choices=tuple(FAMILIES))
        fundamental = to_hz(d.get("fundamental"), f"{source}: fundamental") if (
            "fundamental" in d) else None
        if "notes" in d:
            notes_raw = d["notes"]
            if not isinstance(notes_raw, list) or not notes_raw or len(notes_raw) > 16:
                raise c.fail("notes", f"expected a list of 1..16 tunings, got {notes_raw!r}")
            notes = tuple(to_hz(v, f"{source}: notes[{i}]") for i, v in enumerate(notes_raw))
            fundamental = fundamental or notes[0]
        elif fundamental is None:
            raise c.fail("fundamental", "missing (a frequency in Hz, a note name or a Cousto name)")
        else:
            notes = (fundamental,)

        p = d.get("partials")
        if not isinstance(p, dict):
            raise c.fail("partials", "missing table [partials] with ratio, gain_db, t60_s")
        c.check_keys(p, _PARTIAL_KEYS, "partials.")
        ratio = c.numbers(p, "ratio", "partials.", lo=0.25, hi=80.0)
        n = len(ratio)
        if n > 64:
            raise c.fail("partials.ratio", f"{n} partials; allowed at most 64")
        gain_db = c.numbers(p, "gain_db", "partials.", length=n, lo=-80.0, hi=12.0)
        t60_s = c.numbers(p, "t60_s", "partials.", length=n, lo=0.01, hi=600.0)
        split_hz = c.numbers(p, "split_hz", "partials.", length=n, default=[0.0] * n,
                             lo=0.0, hi=50.0)
        order = c.numbers(p, "order", "partials.", length=n,
                          default=[float(i + 2) for i in range(n)], lo=1, hi=40)
        if any(o != int(o) for o in order):
            raise c.fail("partials.order", "expected whole numbers (circumferential mode number)")
        octave_db = c.number(p, "octave_db", "partials.", default=-200.0, lo=-80.0, hi=-10.0) \
            if "octave_db" in p else None
        octave_partials = c.number(p, "octave_partials", "partials.",
                                   default=2.0 if octave_db is not None else 0.0, lo=0, hi=n)
        if octave_partials != int(octave_partials):
            raise c.fail("partials.octave_partials",
                         f"expected a whole number, got {octave_partials:g}")
        bloom_s = c.numbers(p, "bloom_s", "partials.", length=n, default=[0.0] * n,
                            lo=0.0, hi=20.0)
        for i, (b, t) in enumerate(zip(bloom_s, t60_s, strict=True)):
            if b and b * T60_PER_TAU >= t:
                raise c.fail(f"partials.bloom_s[{i}]",
                             f"{b:g} s must be shorter than t60_s/6.9 = {t / T60_PER_TAU:.3g} s")
        if family == "bowl":
            for k, (lo, hi) in BOWL_RATIO_RANGES.items():
                if n > k and not lo <= ratio[k] / ratio[0] <= hi:
                    raise c.fail(
                        f"partials.ratio[{k}]",
                        f"{ratio[k] / ratio[0]:.3f} x the lowest is outside the range measured "
                        f"on real bowls ({lo}..{hi})",
                    )

        glide = d.get("glide", {})
        if not isinstance(glide, dict):
            raise c.fail("glide", "expected a table")
        c.check_keys(glide, {"cents", "time_s", "partials"}, "glide.")
        glide_cents = c.number(glide, "cents", "glide.", default=0.0, lo=-200.0, hi=200.0)
        glide_s = c.number(glide, "time_s", "glide.", default=1.0, lo=0.01, hi=30.0)
        glide_partials = int(c.number(glide, "partials", "glide.",
                                      default=float(n) if glide_cents else 0.0, lo=0, hi=n))

        s = d.get("strike", {})
        if not isinstance(s, dict):
            raise c.fail("strike", "expected a table")
        c.check_keys(s, {"bodies", "count", "gap_s", "jitter_db", "doublet_floor"}, "strike.")
        count = c.numbers(s, "count", "strike.", length=2, default=[1, 1], lo=1, hi=16)
        if count[0] > count[1] or any(x != int(x) for x in count):
            raise c.fail("strike.count", f"expected [low, high] whole numbers, got {count}")
        strike = StrikeStyle(
            bodies=c.string(s, "bodies", "strike.", default="all",
                            choices=("all", "one", "cascade")),
            count=(int(count[0]), int(count[1])),
            gap_s=c.number(s, "gap_s", "strike.", default=0.15, lo=0.0, hi=5.0),
            jitter_db=c.number(s, "jitter_db", "strike.", default=1.0, lo=0.0, hi=6.0),
            doublet_floor=c.number(s, "doublet_floor", "strike.", default=0.0, lo=0.0, hi=1.0),
        )
        transient = _transient_style(d, c, family)

        rub = None
        if "rub" in FAMILIES[family]:
            r = d.get("rub", {})
            if not isinstance(r, dict):
                raise c.fail("rub", "expected a table")
            c.check_keys(r, {"rev_hz", "build_s", "pulsation", "partial_gain", "level_db",
                             "irregularity", "harmonics_db", "noise_db", "noise_hz"}, "rub.")
            base = RubStyle()
            noise_hz = c.numbers(r, "noise_hz", "rub.", length=2, default=list(base.noise_hz),
                                 lo=50.0, hi=20000.0)
            if noise_hz[0] >= noise_hz[1]:
                raise c.fail("rub.noise_hz", f"expected [low, high] with low < high, got "
                                             f"{noise_hz}")
            rub = RubStyle(
                rev_hz=c.number(r, "rev_hz", "rub.", default=0.7, lo=0.05, hi=5.0),
                build_s=c.number(r, "build_s", "rub.", default=2.5, lo=0.1, hi=30.0),
                pulsation=c.number(r, "pulsation", "rub.", default=0.3, lo=0.0, hi=1.0),
                partial_gain=tuple(c.numbers(r, "partial_gain", "rub.", default=[1.0, 0.05],
                                             lo=0.0, hi=1.0)[:n]),
                level_db=c.number(r, "level_db", "rub.", default=-3.0, lo=-40.0, hi=6.0),
                irregularity=c.number(r, "irregularity", "rub.", default=base.irregularity,
                                      lo=0.0, hi=0.3),
                harmonics_db=tuple(c.numbers(r, "harmonics_db", "rub.",
                                             default=list(base.harmonics_db), lo=-120.0,
                                             hi=-10.0)[:8]),
                noise_db=c.number(r, "noise_db", "rub.", default=base.noise_db, lo=-120.0,
                                  hi=-10.0),
                noise_hz=(noise_hz[0], noise_hz[1]),
            )
        elif "rub" in d:
            raise c.fail("rub", f"a {family} cannot be rubbed; only bowls and crystal bowls")

        return cls(
            name=name,
            family=family,
            description=c.string(d, "description", default=""),
            source=c.string(d, "source", default=""),
            fundamental_hz=fundamental,
            notes_hz=notes,
            level_db=c.number(d, "level_db", default=-12.0, lo=-60.0, hi=0.0),
            ratio=tuple(ratio),
            gain_db=tuple(gain_db),
            t60_s=tuple(t60_s),
            split_hz=tuple(split_hz),
            order=tuple(int(o) for o in order),
            bloom_s=tuple(bloom_s),
            octave_db=octave_db,
            octave_partials=int(octave_partials),
            glide_cents=glide_cents,
            glide_s=glide_s,
            glide_partials=glide_partials,
            strike=strike,
            rub=rub,
            gong=read_gong(c, d.get("gong"), family),
            path=path,
            transient=transient,
        )


_TOP_KEYS = {"name", "family", "description", "source", "fundamental", "notes", "level_db",
             "partials", "glide", "strike", "rub", "transient", "gong"}


def _transient_style(d: dict, c: Checker, family: str) -> TransientStyle | None:
    """The family's strike transient (``presets/engine/transients.toml``), with the keys of
    the preset's ``[transient]`` table overriding it; None for a family without one."""
    base = load_transient_styles().get(family)
    t = d.get("transient")
    if t is None:
        return base
    if not isinstance(t, dict):
        raise c.fail("transient", "expected a table")
    return parse_style(t, c, "transient.", base)


_PARTIAL_KEYS = {"ratio", "gain_db", "t60_s", "split_hz", "order", "bloom_s", "octave_db",
                 "octave_partials"}


def load_mallets() -> dict[str, tuple[float, float, float]]:
    """Mallet name -> (cutoff_hz, level_db, contact_ms), from ``presets/engine/mallets.toml``."""
    global _MALLETS
    if _MALLETS is None:
        d = read_toml(shipped_dir() / "engine" / "mallets.toml")
        _MALLETS = {
            k: (float(v["cutoff_hz"]), float(v["level_db"]), float(v["contact_ms"]))
            for k, v in d.items()
        }
    return _MALLETS


_MALLETS: dict[str, tuple[float, float, float]] | None = None


@lru_cache(maxsize=8)
def mallet_noise_db(mallet: str) -> float:
    """Level (dB) of a mallet's contact noise and burst, from ``presets/engine/mallets.toml``."""
    d = read_toml(shipped_dir() / "engine" / "mallets.toml")
    if mallet not in d:
        raise PresetError(f"unknown mallet '{mallet}'; allowed: {', '.join(d)}")
    return float(d[mallet].get("noise_db", 0.0))


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
