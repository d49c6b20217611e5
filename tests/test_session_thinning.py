"""Overnight sessions thin out (issue 16): ``defaults.thin_halving_s`` stretches the
intervals past the preset's own length; at that length or shorter nothing changes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sointu.errors import PresetError
from sointu.session.composer import compose
from sointu.session.presets import check_session_file, load_session_preset

HOUR = 3600.0


def _without_thinning(preset):
    return dataclasses.replace(preset, defaults=dataclasses.replace(preset.defaults,
                                                                    thin_halving_s=None))


def _per_hour(timeline, hours: int) -> np.ndarray:
    """Strokes and rubs (everything but cues is thinned; gentle-sleep's one cue opens it)
    per hour of the session."""
    t = np.array([e.time_s for e in timeline.events])
    return np.histogram(t, bins=hours, range=(0.0, hours * HOUR))[0]


def test_an_eight_hour_night_thins_out():
    preset = load_session_preset("gentle-sleep")
    assert preset.defaults.thin_halving_s == 3 * HOUR
    thinned = _per_hour(compose(preset, duration_s=8 * HOUR), 8)
    plain = _per_hour(compose(_without_thinning(preset), duration_s=8 * HOUR), 8)
    assert thinned[6] < 0.3 * thinned[0]  # hour 7 against hour 1
    assert thinned[0] >= 0.9 * plain[0]  # the first hour is nearly as it was
    # hour 7 starts 5 h 20 min past the 40 minutes: intervals x 2^(5.3/3 .. 6.3/3), so a
    # quarter to a third of the strokes; a third of what the phases alone would leave
    assert 0.15 * plain[6] < thinned[6] < 0.45 * plain[6]
    assert np.all(np.diff(thinned[1:7]) <= 0)  # thinner every hour


@pytest.mark.parametrize("seconds", [None, 600.0, 1800.0])
@pytest.mark.parametrize("seed", [3, 41, 2**62 + 5])
def test_at_or_below_its_own_length_nothing_changes(seconds, seed):
    preset = load_session_preset("gentle-sleep")
    a = compose(preset, seed=seed, duration_s=seconds)
    b = compose(_without_thinning(preset), seed=seed, duration_s=seconds)
    assert a == b and len(a.events) > 5


def test_just_past_its_own_length_barely_changes():
    preset = load_session_preset("gentle-sleep")
    own = preset.defaults.duration_s
    a = compose(preset, duration_s=own + 60.0)
    b = compose(_without_thinning(preset), duration_s=own + 60.0)
    early = [e for e in a.events if e.time_s <= own]
    assert early == [e for e in b.events if e.time_s <= own]
    assert len(a.events) >= len(b.events) - 1


@pytest.mark.parametrize("value, allowed", [("10", False), ("599", False), ("600", True),
                                            ("43201", False), ('"3h"', False),
                                            ("true", False)])
def test_the_key_is_validated(tmp_path, value, allowed):
    text = (load_session_preset("gentle-sleep").path.read_text("utf-8")
            .replace("thin_halving_s = 10800", f"thin_halving_s = {value}"))
    f = tmp_path / "night.toml"
    f.write_text(text, "utf-8")
    problems = check_session_file(f)
    if allowed:
        assert problems == []
        assert load_session_preset(str(f)).defaults.thin_halving_s == float(value)
        return
    assert len(problems) == 1 and "defaults.thin_halving_s" in problems[0], problems
    assert "\n" not in problems[0] and str(f) in problems[0]
    if value.isdigit():  # out of range: says what is allowed
        assert "600" in problems[0] and "43200" in problems[0]
    with pytest.raises(PresetError):
        load_session_preset(str(f))
