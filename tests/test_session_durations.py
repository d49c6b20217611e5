"""parse_duration / format_duration: every accepted form, every rejected one."""

import pytest

from sointu.errors import UsageError
from sointu.session.durations import check_duration, format_duration, parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("20m", 1200.0), ("90m", 5400.0), ("1h30m", 5400.0), ("3600s", 3600.0), ("45", 45.0),
    ("1h", 3600.0), ("2.5m", 150.0), ("1:30:00", 5400.0), ("20:00", 1200.0),
    (" 1H 30M ", 5400.0), ("12h", 43200.0), ("0.5s", 0.5),
    # a bare number after a unit is the next smaller unit, as people write it (issue 17)
    ("1h30", 5400.0), ("2h15", 8100.0), ("45m30", 2730.0), ("1h30m15", 5415.0),
    ("5400s", 5400.0), ("1h 30", 5400.0), ("1h30min", 5400.0), ("1h5s", 3605.0),
    ("1h0", 3600.0), ("1.5h", 5400.0), ("1h7.5", 3600.0 + 450.0),
])
def test_accepted_forms(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text, why", [
    ("0", "not above 0"), ("0m", "not above 0"), ("-5m", "negative"), ("nan", "not a length"),
    ("inf", "not a length"), ("abc", "not a length"), ("", "not a length"),
    ("12h1s", "longer than 12h"), ("13h", "longer than 12h"), ("5m5m", "not a length"),
    ("1:75:00", "not a length"), ("1e3", "not a length"), ("9" * 400 + "h", "not finite"),
    ("1h30s15", "not a length"), ("30m1h", "not a length"), ("1s30", "not a length"),
    ("1h30m15m", "not a length"), ("1.5h30", "ambiguous"), ("1h75", "ambiguous"),
    ("45m90", "ambiguous"), ("1h60m", "ambiguous"), ("h30", "not a length"),
])
def test_rejected_forms_name_text_and_allowed(text, why):
    with pytest.raises(UsageError) as info:
        parse_duration(text)
    msg = str(info.value)
    assert "\n" not in msg
    assert f"'{text}'" in msg and why in msg and "allowed" in msg and "12h" in msg


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0, 0, 43200.5, True, "60"])
def test_check_duration_rejects(bad):
    with pytest.raises(UsageError):
        check_duration(bad)


@pytest.mark.parametrize("seconds, shown", [
    (3723.4, "1:02:03"), (90, "1:30"), (0, "0:00"), (3600, "1:00:00"), (59.6, "1:00"),
    (43200, "12:00:00"),
])
def test_format_duration(seconds, shown):
    assert format_duration(seconds) == shown


def test_format_then_parse_round_trips():
    for s in (5.0, 61.0, 1500.0, 3723.0, 43200.0):
        assert parse_duration(format_duration(s)) == s
