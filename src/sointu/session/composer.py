"""The composer: a session preset and a seed become a Timeline.

How a session is laid out (all lengths in seconds):

- The ring-out is ``min(defaults.ring_out_s, 0.25 * total)`` at the very end; no sound
  starts in it (a rub is released before it), so the last strokes decay.
- The rest, the playing time, is shared: fixed-length phases keep their ``length_s``; the
  others get their ``share`` of what remains. The last phase's span also covers the ring-out,
  so the phases tile [0, total).
- Each phase draws from its own random streams (``SeedSequence(seed, spawn_key=(phase key,
  layer))``, the phase key a CRC of its name), so editing one phase never reshuffles another.
  Within a phase the cues are placed first, then the rubs, then the regular strikes.
- Regular strikes follow one another at intervals drawn from a range that moves linearly from
  ``interval_s`` to ``interval_end_s`` over the phase (likewise velocity and mallet weights).
  As in practice, the next strike comes as the last one nearly fades: an interval is cut to
  0.9 x the last instrument's ring time (``ring_s``), never below the range's low end.
  An instrument that is being rubbed or played in a cue is not struck meanwhile; the stroke
  goes to another instrument of the phase (chosen with the same random number) or is left out.
- Thinning (``defaults.thin_halving_s``): in a session longer than the preset's own
  ``duration_s``, every interval between regular strikes and between rubs that starts at a
  time t past that length is multiplied by ``2 ** ((t - duration_s) / thin_halving_s)``,
  so the rate halves every ``thin_halving_s`` seconds (an overnight session thins out). At
  or below the preset's own length the factor is exactly 1: nothing changes.
- A rub never overlaps another rub (or cue) of the same bowl; one that would is moved after it
  or, if it then no longer fits, left out. The number of random draws never depends on such
  decisions, so they do not ripple into later strokes.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UsageError
from .durations import check_duration
from .presets import CueSpec, PhaseSpec, SessionPreset
from .timeline import MALLETS, SEED_LIMIT, Event, Phase, Timeline

__all__ = ["compose", "ring_out_s", "phase_spans", "RUB_GAP_S"]

#: Silence kept between two rubs of the same bowl (s): release, then a breath.
RUB_GAP_S = 3.0

#: How long an instrument played in a cue counts as busy after its last stroke (s).
_CUE_HOLD_S = 2.0

#: The next regular strike comes at the latest when the last one has rung this share of its
#: 60 dB decay time (within the phase's interval range): it has nearly faded, not gone.
_FADE_SHARE = 0.9

# Layers of a phase, each with its own random stream.
_CUES, _RUBS, _STRIKES = 0, 1, 2


def ring_out_s(preset: SessionPreset, total_s: float) -> float:
    """Length of the final ring-out for a session ``total_s`` seconds long (s)."""
    return min(preset.defaults.ring_out_s, 0.25 * total_s)


def phase_spans(preset: SessionPreset, total_s: float) -> list[tuple[float, float]]:
    """The playing span [start, end) of every phase (s), the ring-out excluded.

    Raises
    ------
    UsageError
        If the fixed-length phases do not fit in ``total_s``.
    """
    playing = total_s - ring_out_s(preset, total_s)
    fixed = sum(p.length_s for p in preset.phases if p.length_s is not None)
    has_shares = any(p.share is not None for p in preset.phases)
    if fixed > playing or (has_shares and fixed >= playing):
        raise UsageError(f"duration {total_s:g} s is too short for preset '{preset.name}': its "
                         f"fixed-length phases need {fixed:g} s plus the ring-out; allowed: "
                         f"more than {fixed + (total_s - playing):g} s")
    rest = playing - fixed
    spans = []
    t = 0.0
    for p in preset.phases:
        length = p.length_s if p.length_s is not None else p.share * rest
        spans.append((t, t + length))
        t += length
    # shares sum to 1 within 1e-6 and fixed phases may leave room: the last phase takes it
    start, _ = spans[-1]
    spans[-1] = (start, playing)
    return spans


def compose(preset: SessionPreset, *, seed: int | None = None,
            duration_s: float | None = None) -> Timeline:
    """Compose a session.

    Parameters
    ----------
    preset : SessionPreset
        A validated session preset.
    seed : int, optional
        Seed (>= 0); default the preset's ``defaults.seed``. Same preset and seed give an
        identical Timeline.
    duration_s : float, optional
        Total length in seconds, ring-out included (0 < duration_s <= 12 h); default the
        preset's ``defaults.duration_s``. Shared phases rescale, fixed ones keep their length.

    Returns
    -------
    Timeline
        Sorted events and phases tiling [0, duration_s).

    Raises
    ------
    UsageError
        For a bad seed or duration, or a duration too short for fixed-length phases.
    """
    seed = preset.defaults.seed if seed is None else _check_seed(seed)
    total = preset.defaults.duration_s if duration_s is None else check_duration(duration_s)
    spans = phase_spans(preset, total)
    playing = total - ring_out_s(preset, total)
    busy: dict[str, list[tuple[float, float]]] = {}
    events: list[Event] = []
    thin = _thinning(preset.defaults.duration_s, preset.defaults.thin_halving_s)
    for spec, (start, end) in zip(preset.phases, spans, strict=True):
        ctx = _Phase(spec, start, end, seed, thin)
        events += ctx.cues(busy)
        events += ctx.rubs(busy, preset)
        events += ctx.strikes(busy, {k: si.ring_s for k, si in preset.instruments.items()})
    events = [e for e in events if e.time_s < playing and e.time_s + e.duration_s <= playing]
    phases = [Phase(p.name, s, e) for p, (s, e) in zip(preset.phases, spans, strict=True)]
    phases[-1] = Phase(phases[-1].name, phases[-1].start_s, total)
    return Timeline(duration_s=total, phases=tuple(phases), events=tuple(events), seed=seed)


def _thinning(own_s: float, halving_s: float | None):
    """The factor (t -> float) of an interval starting at t s: 1 up to ``own_s``, then
    doubling every ``halving_s`` s (always 1 if ``halving_s`` is None)."""
    if halving_s is None:
        return lambda t: 1.0
    return lambda t: 1.0 if t <= own_s else 2.0 ** ((t - own_s) / halving_s)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not (
            0 <= int(seed) < SEED_LIMIT):
        raise UsageError(f"seed {seed!r} is not allowed; allowed: a whole number 0..2^63-1")
    return int(seed)


def _lerp(a: tuple[float, float], b: tuple[float, float], x: float) -> tuple[float, float]:
    return (a[0] + (b[0] - a[0]) * x, a[1] + (b[1] - a[1]) * x)


def _pick(weights: list[tuple[str, float]], u: float, allowed=None) -> str | None:
    """The name that ``u`` in [0, 1) falls on, among the allowed names with weight > 0."""
    items = [(n, w) for n, w in weights if w > 0 and (allowed is None or allowed(n))]
    total = sum(w for _, w in items)
    if not items or total <= 0:
        return None
    acc = 0.0
    for n, w in items:
        acc += w / total
        if u < acc:
            return n
    return items[-1][0]


def _mix(a, b, x: float) -> list[tuple[str, float]]:
    """Weights interpolated from table ``a`` (x = 0) to table ``b`` (x = 1), mallet order."""
    da, db = dict(a), dict(b)
    sa, sb = sum(da.values()), sum(db.values())
    return [(m, (1 - x) * da.get(m, 0.0) / sa + x * db.get(m, 0.0) / sb) for m in MALLETS]


def _free(busy, key: str, t0: float, t1: float) -> bool:
    return all(t1 <= s or t0 >= e for s, e in busy.get(key, ()))


def _after_busy(busy, key: str, t: float, dur: float, gap: float) -> float:
    """The earliest start >= t of a span of ``dur`` s that keeps ``gap`` s away from every
    busy span of instrument ``key``."""
    moved = True
    while moved:  # t only moves forward, past finitely many spans
        moved = False
        for s, e in busy.get(key, ()):
            if t < e + gap and t + dur + gap > s:
                t, moved = e + gap, True
    return t


class _Phase:
    """One phase being composed: its span, its streams."""

    def __init__(self, spec: PhaseSpec, start: float, end: float, seed: int, thin):
        self.spec = spec
        self.thin = thin  # t -> factor of the interval that starts at t
        self.start = start
        self.end = end
        self.length = max(end - start, 0.0)
        self.seed = seed
        quarter = 0.25 * self.length
        self.lo = start + min(spec.quiet_start_s, quarter)
        self.hi = end - min(spec.quiet_end_s, quarter)

    def rng(self, *layer: int) -> np.random.Generator:
        ss = np.random.SeedSequence(self.seed, spawn_key=(self.spec.key, *layer))
        return np.random.default_rng(ss)

    def progress(self, t: float) -> float:
        return min(max((t - self.start) / self.length, 0.0), 1.0) if self.length > 0 else 0.0

    # cues -------------------------------------------------------------------------------

    def anchor(self, cue: CueSpec) -> float:
        if cue.at is not None:
            t = self.start + cue.at * self.length
        elif cue.at_s >= 0:
            t = self.start + cue.at_s
        else:
            t = self.end + cue.at_s
        return min(max(t, self.start), self.end)

    def cues(self, busy) -> list[Event]:
        out = []
        for j, cue in enumerate(self.spec.cues):
            rng = self.rng(_CUES, j)
            n = cue.count
            gaps = rng.uniform(*cue.gap_s, size=n)
            jitter = rng.uniform(0.85, 1.0, size=n)
            pos = rng.uniform(0.0, 360.0, size=n)
            unit = rng.random(size=n)
            rub_s = rng.uniform(*cue.duration_s, size=n) if cue.duration_s else np.zeros(n)
            t = _after_busy(busy, cue.instrument, self.anchor(cue), 0.0, _CUE_HOLD_S)
            first = last = t
            placed = 0
            lo, hi = cue.velocity
            for k in range(n):
                if k:
                    t += gaps[k] + (rub_s[k - 1] if cue.articulation == "rub" else 0.0)
                if t >= self.end or (self.length <= 0):
                    break
                if cue.kind == "wave":
                    # from the low velocity up to the high one mid-wave and back down
                    swell = math.sin(math.pi * (k / (n - 1) if n > 1 else 0.5))
                    vel = lo + (hi - lo) * swell * jitter[k]
                else:
                    vel = lo + (hi - lo) * unit[k]
                dur = float(rub_s[k]) if cue.articulation == "rub" else 0.0
                out.append(Event(time_s=float(t), instrument=cue.instrument,
                                 articulation=cue.articulation, velocity=float(vel),
                                 mallet=cue.mallet, position_deg=float(pos[k]),
                                 duration_s=dur, phase=self.spec.name))
                last = t + dur
                placed += 1
            if placed:
                busy.setdefault(cue.instrument, []).append((first, last + _CUE_HOLD_S))
        return out

    # rubs -------------------------------------------------------------------------------

    def rubs(self, busy, preset: SessionPreset) -> list[Event]:
        rub = self.spec.rub
        if rub is None or self.hi <= self.lo:
            return []
        rng = self.rng(_RUBS)
        out = []
        t = self.lo + rng.uniform(0.2, 0.6) * rub.interval_s[0]
        weights = list(rub.instruments)
        while t < self.hi:
            u, dur, vel, pos, step = (rng.random(), rng.uniform(*rub.duration_s),
                                      rng.uniform(*rub.velocity), rng.uniform(0.0, 360.0),
                                      rng.uniform(*rub.interval_s))
            key = _pick(weights, u)
            start = _after_busy(busy, key, t, dur, RUB_GAP_S)
            if start + dur <= self.hi:
                out.append(Event(time_s=float(start), instrument=key, articulation="rub",
                                 velocity=float(vel), mallet="soft", position_deg=float(pos),
                                 duration_s=float(dur), phase=self.spec.name))
                busy.setdefault(key, []).append((start, start + dur))
            t += step * self.thin(t)
        return out

    # strikes ----------------------------------------------------------------------------

    def strikes(self, busy, ring_s: dict[str, float]) -> list[Event]:
        spec = self.spec
        if not spec.instruments or self.hi <= self.lo:
            return []
        rng = self.rng(_STRIKES)
        weights = list(spec.instruments)
        out = []
        t = self.lo + rng.uniform(0.3, 0.8) * spec.interval_s[0]
        prev = None
        while t < self.hi:
            x = self.progress(t)
            u_inst, u_vel, u_mallet, pos, u_step = rng.random(size=5)
            key = _pick(weights, u_inst, lambda k, t=t: _free(busy, k, t, t + 0.5))
            if key is not None:
                vlo, vhi = _lerp(spec.velocity, spec.velocity_end, x)
                mallet = _pick(_mix(spec.mallets, spec.mallets_end, x), u_mallet)
                out.append(Event(time_s=float(t), instrument=key, articulation="strike",
                                 velocity=float(vlo + (vhi - vlo) * u_vel), mallet=mallet,
                                 position_deg=float(360.0 * pos), phase=spec.name))
                prev = key
            ilo, ihi = _lerp(spec.interval_s, spec.interval_end_s, x)
            step = ilo + (ihi - ilo) * u_step
            if prev is not None:  # strike again as the last one nearly fades, not after
                step = max(ilo, min(step, _FADE_SHARE * ring_s[prev]))
            t += step * self.thin(t)
        return out
