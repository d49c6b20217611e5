"""Where the time of one ``sointu render`` goes: its phases, with wall clock and CPU.

Runs the CLI in this process with timers around its three phases before and during the
write, and prints when each started and ended (seconds from the start of this script) and
the CPU time the process used meanwhile (all its threads; the gain estimate's forked
worker is not counted):

* ``calibrate``: the recordings on the timeline decoded, resampled and measured, while the
  bowls' energy is computed (absent without recordings);
* ``resolve_level``: the session's gain (cache, else the estimate in a forked worker);
* ``write``: synthesis, mixing, metering and encoding, in their threads.

Everything before the write must finish before the first sample can be encoded, so with
the encoder as the write's longest stage, a render takes at least the time to the write
plus libsndfile encoding its audio alone (``bench_recordings.py`` prints that).

Run: ``python bench/render_timeline.py render PRESET -o OUT.flac --force`` (any ``sointu``
arguments); set ``SOINTU_CACHE_DIR`` to an empty folder to time an uncached render.
"""

from __future__ import annotations

import resource
import sys
import time

T0 = time.monotonic()


def cpu_s() -> float:
    """User + system CPU time of this process so far (s)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(module, name: str, label: str) -> None:
    """Replace ``module.name`` by a wrapper that prints its start, end and CPU time."""
    inner = getattr(module, name)

    def wrapper(*args, **kwargs):
        t, c = time.monotonic(), cpu_s()
        try:
            return inner(*args, **kwargs)
        finally:
            print(f"{label:<14} start {t - T0:6.2f} s  end {time.monotonic() - T0:6.2f} s  "
                  f"CPU {cpu_s() - c:6.2f} s", file=sys.stderr)

    setattr(module, name, wrapper)


def main(argv: list[str]) -> int:
    import sointu.rendering.pipeline as pipeline
    import sointu.rendering.recordings as recordings
    from sointu.cli import main as cli

    timed(recordings, "calibrate", "calibrate")
    timed(pipeline, "resolve_level", "resolve_level")
    timed(pipeline, "_write", "write")
    print(f"{'imports':<14} start   0.00 s  end {time.monotonic() - T0:6.2f} s", file=sys.stderr)
    try:
        cli(argv)
    finally:
        print(f"{'total':<14} {time.monotonic() - T0:6.2f} s  CPU {cpu_s():6.2f} s",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
