"""Audio output devices: loading PortAudio, listing outputs, choosing one, checking settings.

``sounddevice`` (and with it the PortAudio library) is imported only here, lazily, by
:func:`load_sounddevice`, so every other sointu command works on a machine without PortAudio.
PortAudio scans the devices once, when ``sounddevice`` is first imported.

Every failure is a :class:`~sointu.errors.DeviceError` with a one-line message that says what
is wrong, which device, and what is allowed or how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DeviceError, UnknownDeviceError

__all__ = [
    "OutputDevice",
    "NO_DEVICE_HINT",
    "load_sounddevice",
    "list_output_devices",
    "format_device",
    "resolve_output_device",
    "check_output_settings",
]

#: How to get an output device when PortAudio sees none.
NO_DEVICE_HINT = (
    "install and start an audio server (PulseAudio or PipeWire, e.g. `apt-get install "
    "pulseaudio`) or connect a sound card; check that ALSA sees it (`aplay -L`) and that "
    "ALSA_CONFIG_PATH, if set, names a configuration with an output PCM; `sointu devices` "
    "lists what PortAudio finds"
)

#: Channels sointu plays: sessions are stereo.
CHANNELS = 2


@dataclass(frozen=True)
class OutputDevice:
    """One PortAudio device that can play audio.

    Attributes
    ----------
    index : int
        PortAudio device index (what ``--device 3`` means).
    name : str
        Device name as PortAudio reports it.
    hostapi : str
        Host API name (ALSA, OSS, JACK, ...).
    channels : int
        Maximum output channels.
    default_sample_rate : float
        The device's default sample rate (Hz).
    is_default : bool
        True for the system's default output device.
    """

    index: int
    name: str
    hostapi: str
    channels: int
    default_sample_rate: float
    is_default: bool = False

    def label(self) -> str:
        """``3 'pulse'``: how messages name the device."""
        return f"{self.index} '{self.name}'"


def load_sounddevice():
    """Import and return the ``sounddevice`` module (PortAudio is initialised here).

    Raises
    ------
    DeviceError
        If the PortAudio system library or the ``sounddevice`` package is missing.
    """
    try:
        import sounddevice
    except OSError as exc:
        raise DeviceError(
            f"cannot play audio: the PortAudio library is missing ({exc}); install the system "
            "package libportaudio2, e.g. `sudo apt-get install libportaudio2`"
        ) from None
    except ImportError as exc:
        raise DeviceError(
            f"cannot play audio: the Python package sounddevice is missing ({exc}); "
            "install it with `pip install sounddevice`"
        ) from None
    return sounddevice


def list_output_devices(sd=None) -> list[OutputDevice]:
    """Every device with at least one output channel, in PortAudio's order.

    Parameters
    ----------
    sd : module, optional
        The ``sounddevice`` module (default: :func:`load_sounddevice`).

    Returns
    -------
    list of OutputDevice
        Empty when PortAudio sees no output device.
    """
    sd = sd or load_sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices: {exc}; {NO_DEVICE_HINT}") from None
    default = _default_output_index(sd)
    out = []
    for index, info in enumerate(devices):
        if info["max_output_channels"] < 1:
            continue
        api = hostapis[info["hostapi"]]["name"] if info["hostapi"] < len(hostapis) else "?"
        out.append(OutputDevice(index=index, name=info["name"], hostapi=api,
                                channels=int(info["max_output_channels"]),
                                default_sample_rate=float(info["default_samplerate"]),
                                is_default=index == default))
    return out


def _default_output_index(sd) -> int | None:
    try:
        index = int(sd.query_devices(kind="output")["index"])
    except (sd.PortAudioError, ValueError, KeyError, TypeError):
        return None
    return index if index >= 0 else None


def format_device(device: OutputDevice) -> str:
    """One line for ``sointu devices``: mark, index, name, host API, channels, rate."""
    mark = "*" if device.is_default else " "
    return (f"{mark} {device.index:>3}  {device.name:<32} {device.hostapi:<8} "
            f"{device.channels:>3} ch  {device.default_sample_rate:>8.0f} Hz")


def _choices(devices: list[OutputDevice]) -> str:
    return ", ".join(d.label() + (" (default)" if d.is_default else "") for d in devices)


def resolve_output_device(spec: str | int | None, devices: list[OutputDevice]) -> OutputDevice:
    """Choose the output device named by ``--device``.

    Parameters
    ----------
    spec : str, int or None
        A device index (``3`` or ``"3"``), a name (exact, case-insensitive, or a unique part
        of one), or None for the default output device.
    devices : list of OutputDevice
        What :func:`list_output_devices` found.

    Raises
    ------
    DeviceError
        No output device at all, or no default; the message lists the devices.
    UnknownDeviceError
        An unknown or ambiguous name, or an index that is not an output device (a bad
        option: exit code 2); the message lists the devices.
    """
    if not devices:
        raise DeviceError(f"no audio output device found; {NO_DEVICE_HINT}")
    if spec is None:
        for d in devices:
            if d.is_default:
                return d
        raise DeviceError(f"no default audio output device; choose one with --device; "
                          f"output devices: {_choices(devices)}")
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        for d in devices:
            if d.index == index:
                return d
        raise UnknownDeviceError(f"audio output device {index} does not exist; output devices: "
                          f"{_choices(devices)}")
    exact = [d for d in devices if d.name.lower() == text.lower()]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [d for d in devices if text.lower() in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise UnknownDeviceError(f"no audio output device matches '{text}'; output devices: "
                          f"{_choices(devices)}")
    raise UnknownDeviceError(f"audio output device '{text}' is ambiguous: it matches "
                      f"{_choices(partial)}; give the index or the full name")


def check_output_settings(device: OutputDevice, sample_rate: int, sd=None) -> None:
    """Make sure ``device`` accepts a stereo float32 stream at ``sample_rate``.

    Parameters
    ----------
    device : OutputDevice
        The chosen device.
    sample_rate : int
        Frames per second of the session (Hz).
    sd : module, optional
        The ``sounddevice`` module.

    Raises
    ------
    DeviceError
        The device has fewer than two output channels or refuses the rate or format.
    """
    sd = sd or load_sounddevice()
    if device.channels < CHANNELS:
        raise DeviceError(f"audio output device {device.label()} has {device.channels} output "
                          f"channel(s); sointu plays stereo and needs {CHANNELS}")
    try:
        sd.check_output_settings(device=device.index, channels=CHANNELS, dtype="float32",
                                 samplerate=sample_rate)
    except (sd.PortAudioError, ValueError) as exc:
        raise DeviceError(
            f"audio output device {device.label()} refuses stereo float32 at {sample_rate} Hz "
            f"({_one_line(exc)}); its default rate is {device.default_sample_rate:.0f} Hz, "
            f"try --sample-rate {device.default_sample_rate:.0f} or another --device"
        ) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
