"""Do two audio files decode to the same samples? (a refactoring must not change a render)

    .venv/bin/python bench/same_samples.py before.flac after.flac

Both are decoded block by block as 32-bit integers (a 24-bit FLAC exactly) and compared with
numpy; prints the frame count, or the first frame that differs (exit code 1).
"""

from __future__ import annotations

import sys

import numpy as np
import soundfile as sf


def main(argv=None) -> int:
    a, b = (argv or sys.argv[1:])[:2]
    with sf.SoundFile(a) as fa, sf.SoundFile(b) as fb:
        shape = [(f.frames, f.samplerate, f.channels) for f in (fa, fb)]
        if shape[0] != shape[1]:
            print(f"different files: (frames, Hz, channels) {shape[0]} and {shape[1]}")
            return 1
        done = 0
        while len(x := fa.read(1 << 20, dtype="int32")):
            y = fb.read(1 << 20, dtype="int32")
            if not np.array_equal(x, y):
                print(f"first differing frame: {done + int(np.argmax(np.any(x != y, axis=1)))}")
                return 1
            done += len(x)
    print(f"{done} frames x {shape[0][2]} channels at {shape[0][1]} Hz: every sample equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
