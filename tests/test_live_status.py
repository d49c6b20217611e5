"""The live status line: what it shows, and that it always fits the terminal (issue 17)."""

import pytest

from sointu.live.status import status_line


def line(width, **kw):
    args = dict(phase="relaxation", position_s=754.0, total_s=3600.0, peak=0.3, volume_db=6.0,
                paused=False, underruns=2, limited_db=1.0, note="-> recovery")
    args.update(kw)
    return status_line(width=width, **args)


@pytest.mark.parametrize("width", [1, 2, 8, 15, 16, 20, 21, 27, 30, 40, 55, 80, 120, 200])
def test_status_line_is_shorter_than_the_terminal(width):
    text = line(width)
    assert len(text) < max(2, width)
    assert "\n" not in text


def test_status_line_at_20_columns_keeps_the_position():
    assert line(20) == "12:34 / 1:00:00"


def test_status_line_drops_the_least_useful_parts_first():
    assert line(30) == "relaxation  12:34 / 1:00:00"
    assert line(60).startswith("relaxation      12:34 / 1:00:00  vol +6 dB (peaks held)")
    wide = line(200)
    assert "[space pause" in wide and "-> recovery" in wide and "-47:26" in wide


def test_peaks_held_shows_only_when_the_guard_works():
    assert "peaks held" not in line(None, limited_db=0.0)
    assert "vol +6 dB (peaks held)" in line(None)
