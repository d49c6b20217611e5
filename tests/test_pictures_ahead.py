"""A session picture drawn ahead of its loudness (what ``render --plot``'s child does) is the
very file a whole draw writes: the same PNG bytes, for sessions of other lengths and lane
counts, with a measured curve and without one."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from sointu.pictures.files import PngAhead, save_figure  # noqa: E402
from sointu.pictures.session import add_loudness, session_figure  # noqa: E402
from sointu.rendering.level import session_curve  # noqa: E402
from sointu.session.audio import SessionAudio  # noqa: E402


@pytest.mark.parametrize("preset, duration_s, seed", [("classic-60", 240, 7),
                                                      ("gong-bath", 300, 2)])
def test_drawn_ahead_is_the_same_file_as_drawn_whole(tmp_path, monkeypatch, preset,
                                                     duration_s, seed):
    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    audio = SessionAudio.from_preset(preset, duration_s=duration_s, seed=seed)
    target = audio.preset.defaults.loudness_lufs
    curve = session_curve(audio, target)
    pictures = set()
    for name, c in (("measured", curve), ("unmeasured", None)):
        whole = save_figure(session_figure(audio.preset, audio.timeline, c, target_lufs=target),
                            tmp_path / f"{name}-whole.png")
        fig = session_figure(audio.preset, audio.timeline, target_lufs=target, loudness=False)
        ahead = PngAhead(fig, fig.axes[-1])
        add_loudness(fig, c, target)
        tmp = tmp_path / f".{name}.tmp.png"
        assert ahead.save(tmp_path / f"{name}.png", tmp=tmp) == tmp  # only the temporary
        assert tmp.read_bytes() == whole.read_bytes(), name
        pictures.add(whole.read_bytes())
    assert len(pictures) == 2  # the loudness panel is in the file


def test_only_the_last_axes_can_be_left_for_later():
    audio = SessionAudio.from_preset("classic-60", duration_s=120, seed=1)
    fig = session_figure(audio.preset, audio.timeline, loudness=False)
    with pytest.raises(ValueError):
        PngAhead(fig, fig.axes[0])


@pytest.mark.parametrize("retry_lu", [None, 0.0], ids=["as-is", "rendered-twice"])
def test_a_metered_render_hands_its_curve_over_before_the_file_is_tagged(tmp_path,
                                                                         monkeypatch,
                                                                         retry_lu):
    """The picture's loudness panel is drawn while the file is tagged and put in place: the
    curve comes once, the kept pass's, when the audio is encoded and nothing is in place."""
    import numpy as np

    from sointu.rendering.formats import resolve_format
    from sointu.rendering.pipeline import render_session
    from sointu.rendering.tags import Tags

    monkeypatch.setenv("SOINTU_CACHE_DIR", str(tmp_path / "cache"))
    if retry_lu is not None:  # every first pass misses: the second one is kept
        monkeypatch.setattr("sointu.rendering.level.RETRY_LU", retry_lu)
    audio = SessionAudio.from_preset("classic-60", duration_s=60, seed=2)
    path = tmp_path / "s.flac"
    fmt = resolve_format(path, sample_rate=audio.sample_rate, frames=audio.total_frames)
    handed = []

    def ready(curve):
        handed.append((curve, sorted(p.name for p in tmp_path.iterdir() if p.is_file())))

    report = render_session(audio, path, fmt=fmt, tags=Tags(title="t"), target_lufs=-18.0,
                            curve=True, curve_ready=ready)
    assert len(handed) == 1
    curve, files_then = handed[0]
    assert "s.flac" not in files_then  # not in place yet
    assert np.array_equal(curve.sums, report.curve.sums)
    assert curve.integrated_lufs() == pytest.approx(report.loudness.integrated_lufs, abs=0.05)
