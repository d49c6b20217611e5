"""Reading a recording to analyse: any file libsndfile reads, as float64 channels."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import UsageError

__all__ = ["read_recording", "ALLOWED", "quiet_stderr"]

#: What ``sointu analyse`` reads (libsndfile 1.2 reads every one of them).
ALLOWED = "WAV, FLAC, OGG or MP3"

#: Longest recording analysed (s): a stroke rings out in minutes, not hours.
MAX_SECONDS = 600.0


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """Read an audio file whole.

    Parameters
    ----------
    path : Path
        A WAV, FLAC, OGG or MP3 file, mono or stereo, any sample rate.

    Returns
    -------
    (ndarray, int)
        Samples, float64, shape (channels, frames), and the sample rate (Hz).

    Raises
    ------
    UsageError
        The file is missing, unreadable, corrupt, empty or longer than 10 minutes.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such recording")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; expected a {ALLOWED} file")
    try:
        with quiet_stderr(), sf.SoundFile(str(path)) as f:
            rate = int(f.samplerate)
            if f.frames > MAX_SECONDS * rate:
                raise UsageError(
                    f"{path}: {f.frames / rate:.0f} s is too long to analyse; allowed at most "
                    f"{MAX_SECONDS:.0f} s (cut the recording around one stroke)")
            data = f.read(dtype="float32", always_2d=True)
    except UsageError:
        raise
    except (RuntimeError, sf.LibsndfileError, OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise UsageError(f"{path}: not a readable audio file ({detail}); allowed: {ALLOWED}"
                         ) from None
    if data.shape[0] == 0:
        raise UsageError(f"{path}: the recording is empty (0 frames)")
    if not np.all(np.isfinite(data)):
        raise UsageError(f"{path}: the recording holds invalid samples (NaN or infinity)")
    return data.T.astype(np.float64), rate


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 meanwhile: libsndfile's MP3 decoder (mpg123) prints "Note:
    Illegal Audio-MPEG-Header ..." there on a broken file, and sointu says one line itself."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)

