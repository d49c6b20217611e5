"""Errors about a value are ``ValueError`` too; errors about files and devices are not."""

from __future__ import annotations

import pytest

import sointu
from sointu.errors import (
    DeviceError,
    OutputError,
    PresetError,
    UnknownDeviceError,
    UsageError,
)


def test_value_errors_are_value_errors():
    for cls in (PresetError, UsageError, UnknownDeviceError):
        assert issubclass(cls, ValueError), cls
    for cls in (OutputError, DeviceError):
        assert not issubclass(cls, ValueError), cls


def test_a_script_catches_a_bad_preset_and_a_bad_seed_as_value_errors():
    with pytest.raises(ValueError, match="unknown session 'no-such-session'"):
        sointu.load_preset("no-such-session")
    with pytest.raises(ValueError, match="seed -1 is not allowed"):
        sointu.compose("classic-60", duration="20m", seed=-1)
