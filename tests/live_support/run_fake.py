"""Run the ``sointu`` CLI with a fake session engine, for the live tests.

``SessionAudio.from_preset`` is replaced by one that returns a
:class:`fake_source.FakeSource` for the preset name ``fake`` (length from ``--duration``,
default 30 s). ``SOINTU_FAKE_FAIL_AT_S`` makes the fake engine raise at that time.
Usage: ``python run_fake.py play fake --device sointu_capture ...``
"""

from __future__ import annotations

import os
import sys

from fake_source import FakeSource

import sointu.session.audio as audio
from sointu.errors import PresetError


def from_preset(preset, duration_s=None, seed=None, sample_rate=48000):
    if preset != "fake":
        raise PresetError(f"unknown session preset '{preset}'; allowed: fake")
    fail = os.environ.get("SOINTU_FAKE_FAIL_AT_S")
    return FakeSource(duration_s or 30.0, sample_rate,
                      fail_at_s=float(fail) if fail else None)


audio.SessionAudio.from_preset = staticmethod(from_preset)

if __name__ == "__main__":
    from sointu.cli import main

    main(sys.argv[1:])
