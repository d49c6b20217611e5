"""The composer: determinism, rescaling, density, ring-out, dynamics, rubs, presets' character."""

from collections import defaultdict

import numpy as np
import pytest

from sointu.errors import UsageError
from sointu.session.composer import compose, phase_spans, ring_out_s
from sointu.session.presets import list_session_presets, load_session_preset
from sointu.session.timeline import ARTICULATIONS, MALLETS

SHIPPED = sorted(list_session_presets())
_cache = {}


def preset(name):
    if name not in _cache:
        _cache[name] = load_session_preset(name)
    return _cache[name]


def strikes_per_minute(tl, phase_name):
    ph = next(p for p in tl.phases if p.name == phase_name)
    n = sum(1 for e in tl.events if e.phase == phase_name and e.articulation == "strike")
    return n / (ph.length_s / 60.0)


def test_five_distinct_presets_are_shipped():
    assert {"classic-60", "workplace-25", "gong-bath", "gentle-sleep", "gift-30"} <= set(SHIPPED)


def test_same_seed_same_timeline():
    p = preset("classic-60")
    a, b = compose(p, seed=5), compose(p, seed=5)
    assert a == b and len(a.events) > 50
    assert compose(p) == compose(p, seed=p.defaults.seed)


def test_different_seeds_differ_but_keep_the_character():
    p = preset("classic-60")
    a, b = compose(p, seed=1), compose(p, seed=2)
    assert a.events != b.events
    times_a = {round(e.time_s, 3) for e in a.events if e.articulation == "strike"}
    times_b = {round(e.time_s, 3) for e in b.events if e.articulation == "strike"}
    assert len(times_a & times_b) < 0.2 * len(times_a)  # the opening signal may coincide
    assert a.phases == b.phases
    for tl in (a, b):
        assert strikes_per_minute(tl, "relaxation") < strikes_per_minute(tl, "recovery")
    assert abs(len(a.events) - len(b.events)) < 0.25 * len(a.events)


def test_editing_one_phase_does_not_reshuffle_the_others():
    from dataclasses import replace
    p = preset("classic-60")
    ph = list(p.phases)
    ph[2] = replace(ph[2], interval_s=(10.0, 12.0), velocity=(0.5, 0.6))
    q = replace(p, phases=tuple(ph))
    a, b = compose(p, seed=9), compose(q, seed=9)
    for name in ("introduction", "relaxation"):
        assert [e for e in a.events if e.phase == name] == [e for e in b.events if e.phase == name]
    assert [e for e in a.events if e.phase == "recovery"] != [
        e for e in b.events if e.phase == "recovery"]


@pytest.mark.parametrize("name", SHIPPED)
def test_rescaling_keeps_phase_proportions(name):
    p = preset(name)
    shares = np.array([ph.share for ph in p.phases])
    for total in (1200.0, 3600.0, 5400.0):
        tl = compose(p, duration_s=total)
        ring = ring_out_s(p, total)
        assert tl.duration_s == total
        assert tl.phases[0].start_s == 0.0 and tl.phases[-1].end_s == total
        for x, y in zip(tl.phases, tl.phases[1:], strict=False):
            assert x.end_s == y.start_s
        playing = np.array([ph.length_s for ph in tl.phases])
        playing[-1] -= ring
        np.testing.assert_allclose(playing / (total - ring), shares / shares.sum(), atol=1e-9)


def test_ring_out_is_fixed_then_capped_at_a_quarter():
    p = preset("classic-60")
    assert ring_out_s(p, 3600) == 50.0 and ring_out_s(p, 5400) == 50.0
    assert ring_out_s(p, 60) == 15.0


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("total", [60.0, 1200.0, None])
def test_nothing_starts_or_sounds_on_in_the_ring_out(name, total):
    p = preset(name)
    tl = compose(p, duration_s=total)
    end = tl.duration_s - ring_out_s(p, tl.duration_s)
    assert tl.events, "every shipped preset plays something even in 60 s"
    assert all(0.0 <= e.time_s < end for e in tl.events)
    assert all(e.time_s + e.duration_s <= end for e in tl.events)
    assert end <= tl.duration_s - min(p.defaults.ring_out_s, 0.25 * tl.duration_s) + 1e-9


@pytest.mark.parametrize("name", SHIPPED)
def test_events_are_well_formed_and_sorted(name):
    p = preset(name)
    tl = compose(p)
    assert list(tl.events) == sorted(tl.events)
    names = {ph.name for ph in tl.phases}
    for e in tl.events:
        assert e.instrument in p.instruments
        assert e.articulation in ARTICULATIONS and e.mallet in MALLETS
        assert e.articulation in p.instruments[e.instrument].articulations
        assert 0.0 <= e.position_deg < 360.0
        assert 0.0 <= e.velocity <= p.max_velocity
        assert e.phase in names
        ph = next(x for x in tl.phases if x.name == e.phase)
        assert ph.start_s <= e.time_s < ph.end_s
        assert (e.duration_s > 0) == (e.articulation == "rub")


@pytest.mark.parametrize("name", SHIPPED)
def test_velocity_ranges_of_the_preset_are_respected(name):
    p = preset(name)
    tl = compose(p, seed=123)
    for spec in p.phases:
        evs = [e for e in tl.events if e.phase == spec.name]
        cue_keys = {c.instrument for c in spec.cues}
        lo = min(spec.velocity[0], spec.velocity_end[0])
        hi = max(spec.velocity[1], spec.velocity_end[1])
        regular = [e for e in evs if e.articulation == "strike" and e.instrument not in cue_keys]
        assert all(lo - 1e-12 <= e.velocity <= hi + 1e-12 for e in regular)
        if spec.rub:
            rubs = [e for e in evs if e.articulation == "rub"
                    and e.instrument not in cue_keys]
            assert all(spec.rub.velocity[0] <= e.velocity <= spec.rub.velocity[1] for e in rubs)
            assert all(spec.rub.duration_s[0] <= e.duration_s <= spec.rub.duration_s[1]
                       for e in rubs)
        for key in cue_keys - set(dict(spec.instruments)):
            ranges = [c.velocity for c in spec.cues if c.instrument == key]
            lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
            mine = [e for e in evs if e.instrument == key]
            assert mine and all(lo - 1e-12 <= e.velocity <= hi + 1e-12 for e in mine)


def test_a_gong_wave_swells_and_recedes():
    p = preset("classic-60")
    tl = compose(p, seed=6)
    gong = [e for e in tl.events if e.instrument == "gong"]
    waves = [gong[:10], gong[10:]]  # two waves of 10 and 8 strokes
    assert [len(w) for w in waves] == [10, 8]
    for wave, cue in zip(waves, p.phases[1].cues, strict=True):
        v = np.array([e.velocity for e in wave])
        gaps = np.diff([e.time_s for e in wave])
        assert np.all((gaps >= cue.gap_s[0]) & (gaps <= cue.gap_s[1]))
        peak = int(np.argmax(v))
        assert 0 < peak < len(v) - 1
        assert v[peak] > 2 * v[0] and v[peak] > 2 * v[-1]
        assert np.all(v <= cue.velocity[1]) and np.all(v >= cue.velocity[0])
        assert {e.mallet for e in wave} == {"soft"}


def test_dynamics_move_across_a_phase():
    p = preset("classic-60")
    tl = compose(p, seed=4)
    relax = next(ph for ph in tl.phases if ph.name == "relaxation")
    ev = [e for e in tl.events if e.phase == "relaxation" and e.articulation == "strike"
          and e.instrument != "gong"]
    first = [e.velocity for e in ev if e.time_s < relax.start_s + 0.25 * relax.length_s]
    last = [e.velocity for e in ev if e.time_s > relax.end_s - 0.25 * relax.length_s]
    assert np.mean(last) < np.mean(first) - 0.05  # quieter as relaxation deepens
    gaps = np.diff([e.time_s for e in tl.events if e.phase == "relaxation"
                    and e.articulation == "strike" and e.instrument != "gong"])
    half = len(gaps) // 2
    assert np.median(gaps[half:]) > np.median(gaps[:half]) * 1.2  # and slower


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_classic_relaxation_is_sparser_than_recovery_and_brighter_at_the_end(seed):
    p = preset("classic-60")
    tl = compose(p, seed=seed)
    assert strikes_per_minute(tl, "relaxation") < 0.8 * strikes_per_minute(tl, "recovery")
    rec = [e for e in tl.events if e.phase == "recovery" and e.instrument != "tingsha"]
    rel = [e for e in tl.events if e.phase == "relaxation" and e.articulation == "strike"]
    hz = {k: si.fundamental_hz for k, si in p.instruments.items()}
    assert np.mean([hz[e.instrument] for e in rec]) > 1.5 * np.mean([hz[e.instrument]
                                                                      for e in rel])
    assert sum(e.mallet == "hard" for e in rec) > 0
    assert not any(e.mallet == "hard" for e in rel)
    # opens and closes with a clear signal, and the last signal comes after the last bowl
    assert tl.events[0].instrument == "tingsha" and tl.events[0].time_s < 5
    assert tl.events[-1].instrument == "tingsha"
    gong = [e for e in tl.events if e.instrument == "gong"]
    assert len(gong) >= 12 and {e.phase for e in gong} == {"relaxation"}


def test_strikes_overlap_like_in_practice():
    """Intervals in the relaxation are shorter than the bowls ring, so sounds overlap,
    but long enough that each strike is heard on its own (not a roll)."""
    p = preset("classic-60")
    tl = compose(p, seed=8)
    ev = [e for e in tl.events if e.phase == "relaxation" and e.articulation == "strike"
          and e.instrument != "gong"]
    gaps = np.diff([e.time_s for e in ev])
    ring = np.array([p.instruments[e.instrument].ring_s for e in ev[:-1]])
    assert np.median(gaps) > 25.0
    assert np.all(gaps < ring)


@pytest.mark.parametrize("name", SHIPPED)
def test_rubs_of_one_bowl_never_overlap(name):
    p = preset(name)
    for seed in (1, 2):
        tl = compose(p, seed=seed)
        spans = defaultdict(list)
        for e in tl.events:
            if e.articulation == "rub":
                spans[e.instrument].append((e.time_s, e.time_s + e.duration_s))
        for key, s in spans.items():
            s.sort()
            for (a0, a1), (b0, _) in zip(s, s[1:], strict=False):
                assert b0 > a1, (key, a0, a1, b0)
            # and nobody strikes a bowl while it is being rubbed
            for t0, t1 in s:
                assert not any(e.instrument == key and e.articulation == "strike"
                               and t0 <= e.time_s <= t1 for e in tl.events)


def test_gentle_sleep_has_no_loud_or_sudden_strokes():
    p = preset("gentle-sleep")
    assert p.max_velocity <= 0.4
    assert "tam-tam" not in {si.family for si in p.instruments.values()}
    assert "tingsha" not in {si.family for si in p.instruments.values()}
    for seed in range(5):
        for total in (None, 1200.0):
            tl = compose(p, seed=seed, duration_s=total)
            assert max(e.velocity for e in tl.events) <= p.max_velocity
            assert {e.mallet for e in tl.events} == {"soft"}
            strikes = [e.velocity for e in tl.events if e.articulation == "strike"]
            assert np.max(np.diff(strikes)) < 0.2  # smooth: no sudden jump in strength


def test_gong_bath_is_mostly_gongs():
    p = preset("gong-bath")
    tl = compose(p)
    fam = [p.instruments[e.instrument].family for e in tl.events]
    assert sum(f in ("gong", "tam-tam") for f in fam) > 0.5 * len(fam)


def test_workplace_has_no_gongs_and_ends_brisk():
    p = preset("workplace-25")
    assert not {"gong", "tam-tam"} & {si.family for si in p.instruments.values()}
    assert 20 * 60 <= p.defaults.duration_s <= 30 * 60
    tl = compose(p)
    assert strikes_per_minute(tl, "relaxation") < strikes_per_minute(tl, "recovery")


def test_seed_and_duration_are_checked():
    p = preset("gift-30")
    for bad in (-1, 1.5, True, "3", 2**63):
        with pytest.raises(UsageError):
            compose(p, seed=bad)
    for bad in (0, -60, float("nan"), float("inf"), 13 * 3600):
        with pytest.raises(UsageError):
            compose(p, duration_s=bad)


def test_fixed_length_phases_stay_fixed_and_must_fit():
    from dataclasses import replace
    p = preset("classic-60")
    ph = list(p.phases)
    ph[0] = replace(ph[0], share=None, length_s=300.0)
    ph[1] = replace(ph[1], share=0.8)
    ph[2] = replace(ph[2], share=0.2)
    q = replace(p, phases=tuple(ph))
    for total in (1200.0, 3600.0):
        spans = phase_spans(q, total)
        assert spans[0] == (0.0, 300.0)
        rest = total - ring_out_s(q, total) - 300.0
        assert spans[1][1] - spans[1][0] == pytest.approx(0.8 * rest)
    with pytest.raises(UsageError, match="too short"):
        compose(q, duration_s=300.0)
