"""The project's exceptions: one root, a few kinds.

Every message is one line that quotes the bad value, says where it came from (file, key,
line when known) and what is allowed. The CLI prints it and exits non-zero. The errors about
a value (a preset's, an option's, a device name) are also ``ValueError``, so a script that
calls the library can catch them as it would any bad argument.
"""

__all__ = [
    "SointuError",
    "PresetError",
    "UsageError",
    "OutputError",
    "DeviceError",
    "UnknownDeviceError",
]


class SointuError(Exception):
    """Root of every error sointu reports to a user."""

    exit_code = 1


class PresetError(SointuError, ValueError):
    """A preset file (instrument or session) is missing, malformed or out of range."""

    exit_code = 2


class UsageError(SointuError, ValueError):
    """A command-line value is out of range or unsupported."""

    exit_code = 2


class OutputError(SointuError):
    """An output file cannot be written, or writing it failed."""

    exit_code = 1


class DeviceError(SointuError):
    """An audio device is missing, unknown or refuses the stream."""

    exit_code = 1


class UnknownDeviceError(DeviceError, ValueError):
    """``--device`` names no output device, or more than one: a bad option, so exit 2."""

    exit_code = 2
