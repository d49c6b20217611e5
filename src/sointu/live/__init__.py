"""Live playback through speakers: devices, a producer thread, a queue and an audio callback.

Modules: :mod:`~sointu.live.devices` (PortAudio, listing and choosing outputs),
:mod:`~sointu.live.feeder` (the producer thread), :mod:`~sointu.live.playback` (what the
audio callback does), :mod:`~sointu.live.ramp` (gain glides), :mod:`~sointu.live.player`
(:func:`~sointu.live.player.play`: the stream, keys, status, stopping),
:mod:`~sointu.live.terminal` and :mod:`~sointu.live.status` (what the user sees).

Importing this package does not import ``sounddevice``: PortAudio is loaded only when a
device is needed, so rendering works on machines without it.
"""

__all__: list[str] = []
