"""The one place signals are handled: helper processes ignore Ctrl-C and end on SIGTERM,
unwinding (``finally`` runs) when asked to."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from sointu.signals import quiet_worker


def _helper(unwind: bool, ready, marker: str) -> None:
    quiet_worker(unwind=unwind)
    try:
        ready.set()
        time.sleep(30)
    finally:
        with open(marker, "w") as fh:
            fh.write("unwound")


@pytest.mark.parametrize("unwind, exitcode", [(True, 1), (False, -signal.SIGTERM)])
def test_helper_ignores_ctrl_c_and_ends_on_sigterm(tmp_path, unwind, exitcode):
    ctx = multiprocessing.get_context("fork")
    ready, marker = ctx.Event(), tmp_path / "marker"
    proc = ctx.Process(target=_helper, args=(unwind, ready, str(marker)))
    proc.start()
    assert ready.wait(10)
    os.kill(proc.pid, signal.SIGINT)
    proc.join(0.5)
    assert proc.is_alive()  # Ctrl-C is the parent's to handle
    os.kill(proc.pid, signal.SIGTERM)
    proc.join(10)
    assert proc.exitcode == exitcode
    assert marker.exists() == unwind
