"""A small on-disk cache of normalisation gains and the loudness they give.

Re-renders and live playback of a session measured before start at once.

Entries are keyed by everything the audio depends on: the session preset file's bytes, the
instrument and engine preset files it uses, seed, length, sample rate, loudness target,
ceiling and sointu's version (for the headphone mix also the head-related responses). The
cache lives in ``$XDG_CACHE_HOME/sointu`` (default ``~/.cache/sointu``); ``SOINTU_CACHE_DIR``
overrides it, and an empty value turns it off. A cache that cannot be read or written is
simply not used.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .. import __version__
from ..presets import shipped_dir

__all__ = ["key", "get", "put", "cache_file", "read_entries", "write_entry"]


def cache_file() -> Path | None:
    """The cache file, or None when caching is off."""
    env = os.environ.get("SOINTU_CACHE_DIR")
    if env is not None:
        return Path(env) / "gains.json" if env else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sointu" / "gains.json"


def key(audio, target_lufs: float, ceiling_dbtp: float) -> str | None:
    """A key for this session audio, or None if its preset file is unknown."""
    preset = getattr(audio, "preset", None)
    if preset is None or preset.path is None:
        return None
    h = hashlib.sha256()
    files = [Path(preset.path)] + sorted(Path(si.path) for si in preset.instruments.values())
    files += sorted((shipped_dir() / "engine").glob("*.toml"))
    for f in files:
        try:
            h.update(f.read_bytes())
        except OSError:
            return None
    recordings = getattr(audio, "recordings", ())
    if recordings:  # the files they play, and where and how
        from ..session.recordings import identity

        h.update(json.dumps(identity(recordings)).encode())
    h.update(json.dumps([__version__, audio.timeline.seed, audio.total_frames,
                         audio.sample_rate, target_lufs, ceiling_dbtp,
                         audio.limit_dbfs]).encode())
    if getattr(audio, "mix", "speakers") != "speakers":  # the head's responses shape the level
        from ..engine.hrtf import sofa_path

        try:
            h.update(f"{audio.mix} {sofa_path()}".encode() + sofa_path().read_bytes())
        except OSError:
            return None
    return h.hexdigest()


def read_entries(path: Path) -> dict:
    """The entries of a JSON cache file (key -> list of floats); empty if unreadable."""
    try:
        data = json.loads(path.read_text("utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_entry(path: Path, k: str, values, limit: int) -> None:
    """Set entry ``k`` of the JSON cache file ``path`` to ``values`` (floats), keeping the
    newest ``limit`` entries; written atomically. A cache that cannot be written is not
    used (OSError is swallowed)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = read_entries(path)
        data.pop(k, None)
        data[k] = [float(x) for x in values]
        while len(data) > limit:
            data.pop(next(iter(data)))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), "utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def get(k: str | None) -> tuple[float, float, float, float] | None:
    """The cached (gain_db, integrated_lufs, true_peak_dbtp, sample_peak_dbfs) for ``k``."""
    path = cache_file()
    if k is None or path is None:
        return None
    v = read_entries(path).get(k)
    if isinstance(v, list) and len(v) == 4 and all(isinstance(x, float) for x in v):
        return tuple(v)
    return None


def put(k: str | None, gain_db: float, integrated_lufs: float, true_peak_dbtp: float,
        sample_peak_dbfs: float) -> None:
    """Remember a gain and the loudness it gives; written atomically, at most 1000 entries."""
    path = cache_file()
    if k is None or path is None:
        return
    write_entry(path, k, (gain_db, integrated_lufs, true_peak_dbtp, sample_peak_dbfs), 1000)
