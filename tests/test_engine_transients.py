"""Strike transients made from shared templates (engine/transient.py): every stroke still its
own, the same from any start, and its templates made once.

Measured figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import numpy as np

from sointu.engine.library import load_instrument
from sointu.engine.piece import Piece
from sointu.engine.room import Room
from sointu.engine.transient import render_transient, stroke_template, transient_template

FS = 48000


def _strokes(seed: int, count: int = 6, velocity: float = 0.8):
    """A piece with one bowl struck ``count`` times alike (same mallet, velocity, place)."""
    rng = np.random.default_rng(seed)
    pc = Piece(FS, Room(reverb=0.0))
    pc.add_instrument("bowl", load_instrument("universal"))
    for k in range(count):
        pc.strike("bowl", 0.5 * k, velocity=velocity, mallet="hard", position_deg=0.0, rng=rng)
    return pc.synth()


def test_strokes_alike_still_differ_and_keep_their_spectrum():
    """Strokes with the same mallet, velocity and place share a template, yet each plays its
    own mix of its two variants: the noise and burst differ from stroke to stroke, while
    their band energies stay within 3 dB. (Two strokes whose angles happen to lie close
    sound alike; over many pairs the correlation is spread over -1..1, |r| ~ 2/pi on
    average, where strokes all alike would give 1.)"""
    syn = _strokes(1)
    trs = syn.transients
    assert len({id(stroke_template(t, FS)) for t in trs}) == 1  # one template for all
    x = np.array([render_transient(t, FS) for t in trs])
    rest = x[:, int(0.015 * FS):]  # after the click, which every stroke shares
    corr = np.corrcoef(rest)[np.triu_indices(len(trs), 1)]
    spec = np.abs(np.fft.rfft(rest, axis=1)) ** 2
    f = np.fft.rfftfreq(rest.shape[1], 1.0 / FS)
    bands = np.array([spec[:, (f >= lo) & (f < 2 * lo)].sum(axis=1)
                      for lo in (500.0, 1000.0, 2000.0, 4000.0, 8000.0)])
    spread = 10.0 * np.log10(bands.max(axis=1) / bands.min(axis=1))
    print(f"pairwise correlation {np.round(corr, 2).tolist()}; band spread (dB) "
          f"{np.round(spread, 1).tolist()}")
    assert np.median(np.abs(corr)) < 0.8
    assert spread.max() < 3.0


def test_the_same_seed_gives_the_same_transients_and_another_seed_others():
    a = [render_transient(t, FS) for t in _strokes(5).transients]
    b = [render_transient(t, FS) for t in _strokes(5).transients]
    c = [render_transient(t, FS) for t in _strokes(6).transients]
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not any(np.array_equal(p, q) for p, q in zip(a, c, strict=True))


def test_the_level_follows_the_velocity_exactly_within_a_velocity_step():
    """Velocities 0.79 and 0.8 share a template (the mallet's corner to a quarter octave);
    the transient then scales as velocity^2."""
    lo, hi = _strokes(2, 1, 0.79).transients[0], _strokes(2, 1, 0.8).transients[0]
    assert stroke_template(lo, FS) is stroke_template(hi, FS)
    ratio = np.abs(render_transient(hi, FS)).max() / np.abs(render_transient(lo, FS)).max()
    assert abs(ratio - (0.8 / 0.79) ** 2) < 1e-4


def test_a_template_is_made_once_for_many_strokes():
    transient_template.cache_clear()
    syn = _strokes(3, count=40)
    for _ in syn.blocks(8192, 0, int(21 * FS)):
        pass
    made = transient_template.cache_info()
    print(f"40 strokes: {made.misses} template(s) made, {made.hits} reused")
    assert made.misses == 1
