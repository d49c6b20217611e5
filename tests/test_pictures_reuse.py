"""A session figure redrawn in place (the studio's ``reuse``) is the very picture a new
figure gives: the same PNG bytes, whatever was drawn in it before (more or fewer lanes,
another length, a loudness curve or none)."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from sointu.pictures.session import session_figure  # noqa: E402
from sointu.session.composer import compose  # noqa: E402
from sointu.session.presets import load_session_preset  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40, metadata={"Software": "test"})
    return buf.getvalue()


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_a_reused_figure_draws_the_same_picture_as_a_new_one():
    a = load_session_preset("classic-60")
    b = load_session_preset("gong-bath")
    sessions = [(a, compose(a, duration_s=1800, seed=3)), (b, compose(b, duration_s=600)),
                (a, compose(a, seed=4))]
    fresh = [_png(session_figure(p, tl)) for p, tl in sessions]
    assert len(set(fresh)) == 3  # three different pictures
    fig = None
    for (p, tl), want in zip(sessions + sessions[:1], fresh + fresh[:1], strict=True):
        fig = session_figure(p, tl, reuse=fig)
        got = _png(fig)
        assert np.array_equal(_pixels(got), _pixels(want))
    # nothing of the earlier sessions is left behind in it: the artists are the new ones'
    p, tl = sessions[0]
    strokes = sum(len(c.get_offsets()) for c in fig.axes[0].collections
                  if (c.get_gid() or "").startswith("strokes:"))
    assert strokes == sum(1 for e in tl.events if e.articulation != "rub")
    assert len(fig.axes) == 2


def test_a_figure_made_elsewhere_is_not_reused():
    from matplotlib.figure import Figure

    a = load_session_preset("classic-60")
    other = Figure()
    fig = session_figure(a, compose(a, duration_s=600), reuse=other)
    assert fig is not other and not other.axes
