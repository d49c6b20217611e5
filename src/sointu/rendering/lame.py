"""libmp3lame through ctypes: an MP3 encoder whose frames can be joined to another's.

libsndfile encodes MP3 with LAME too, but it cannot turn off LAME's bit reservoir, which
lets a frame keep part of its data in the frames before it. Driven directly, LAME writes
every frame self-contained (``lame_set_disable_reservoir``), and without its own Xing/LAME
tag frame (the joined stream gets one of its own, :func:`sointu.rendering.mp3frames.info_frame`).

The library is the system's (Debian package ``libmp3lame0``); :func:`load` returns None when
it is missing, and callers then use libsndfile. ctypes releases the GIL during every call,
so encoders in several threads run on several cores.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import numpy as np

__all__ = ["load", "LameEncoder", "VBR_MTRH"]

#: LAME's default VBR method (``vbr_mtrh`` in lame.h), as libsndfile uses it.
VBR_MTRH = 4

_lib: ctypes.CDLL | None = None
_tried = False
_lock = threading.Lock()

_INT_SETTERS = ("lame_set_in_samplerate", "lame_set_out_samplerate", "lame_set_num_channels",
                "lame_set_VBR", "lame_set_disable_reservoir", "lame_set_bWriteVbrTag")
_INT_GETTERS = ("lame_init_params", "lame_get_encoder_delay",
                "lame_get_lowpassfreq", "lame_get_VBR_min_bitrate_kbps", "lame_close")


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    lib.lame_init.restype = ctypes.c_void_p
    lib.lame_init.argtypes = []
    for name in _INT_SETTERS:
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_int], ctypes.c_int
    for name in _INT_GETTERS:
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = [ctypes.c_void_p], ctypes.c_int
    lib.lame_set_write_id3tag_automatic.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.lame_set_write_id3tag_automatic.restype = None
    lib.lame_set_VBR_quality.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.lame_set_VBR_quality.restype = ctypes.c_int
    lib.lame_encode_buffer_interleaved_ieee_float.argtypes = [
        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    lib.lame_encode_buffer_interleaved_ieee_float.restype = ctypes.c_int
    lib.lame_encode_flush.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    lib.lame_encode_flush.restype = ctypes.c_int
    lib.get_lame_short_version.restype = ctypes.c_char_p
    lib.get_lame_short_version.argtypes = []
    return lib


def load(name: str | None = "mp3lame") -> ctypes.CDLL | None:
    """libmp3lame with the functions used here bound, or None if it cannot be loaded.

    Parameters
    ----------
    name : str or None
        Library name for ``ctypes.util.find_library`` (tests pass a missing one). The
        default is loaded once and remembered.
    """
    global _lib, _tried
    if name != "mp3lame":
        return _open(name)
    with _lock:
        if not _tried:
            _lib = _open(name)
            _tried = True
        return _lib


def _open(name: str | None) -> ctypes.CDLL | None:
    path = ctypes.util.find_library(name) if name else None
    candidates = [path] if path else []
    if name == "mp3lame":
        candidates.append("libmp3lame.so.0")
    for candidate in candidates:
        try:
            return _bind(ctypes.CDLL(candidate))
        except (OSError, AttributeError):  # missing, or too old (no ieee_float input)
            continue
    return None


class LameEncoder:
    """One LAME encoder: VBR, joint stereo, no bit reservoir, no tag frame, no ID3.

    Parameters
    ----------
    lib : ctypes.CDLL
        From :func:`load`.
    sample_rate : int
        Hz, in and out (no resampling).
    channels : int
        1 or 2.
    vbr_quality : float
        LAME's VBR quality, 0 (best, largest) .. 9.999 (``-V``); libsndfile uses
        ``10 * compression_level``.

    Raises
    ------
    ValueError
        LAME refuses the settings.
    """

    def __init__(self, lib: ctypes.CDLL, sample_rate: int, channels: int, vbr_quality: float):
        self._lib = lib
        self.channels = int(channels)
        self.vbr_quality = float(vbr_quality)
        gfp = lib.lame_init()
        if not gfp:
            raise MemoryError("lame_init failed")
        self._gfp = gfp
        try:
            lib.lame_set_write_id3tag_automatic(gfp, 0)
            ok = (lib.lame_set_in_samplerate(gfp, int(sample_rate)) == 0
                  and lib.lame_set_out_samplerate(gfp, int(sample_rate)) == 0
                  and lib.lame_set_num_channels(gfp, self.channels) == 0
                  and lib.lame_set_VBR(gfp, VBR_MTRH) == 0
                  and lib.lame_set_VBR_quality(gfp, float(vbr_quality)) == 0
                  and lib.lame_set_disable_reservoir(gfp, 1) == 0
                  and lib.lame_set_bWriteVbrTag(gfp, 0) == 0
                  and lib.lame_init_params(gfp) >= 0)
            if not ok:
                raise ValueError(f"LAME refuses {sample_rate} Hz, {channels} channels, "
                                 f"VBR quality {vbr_quality}")
        except BaseException:
            self.close()
            raise
        self.delay = lib.lame_get_encoder_delay(gfp)
        self.lowpass_hz = lib.lame_get_lowpassfreq(gfp)
        self.min_bitrate_kbps = lib.lame_get_VBR_min_bitrate_kbps(gfp)
        self.version = lib.get_lame_short_version().decode("ascii", "replace")
        self._buf = ctypes.create_string_buffer(7200)

    def _out(self, frames: int):
        need = frames * 5 // 4 + 7200  # lame.h: 1.25 * samples + 7200 is always enough
        if len(self._buf) < need:
            self._buf = ctypes.create_string_buffer(need)
        return self._buf

    def encode(self, block: np.ndarray) -> bytes:
        """Encode float samples of shape (n, channels), full scale 1.0; return MP3 bytes."""
        pcm = np.ascontiguousarray(block, dtype=np.float32)
        if pcm.ndim != 2 or pcm.shape[1] != self.channels:
            raise ValueError(f"expected blocks of shape (n, {self.channels}), got {pcm.shape}")
        buf = self._out(len(pcm))
        n = self._lib.lame_encode_buffer_interleaved_ieee_float(
            self._gfp, pcm.ctypes.data, len(pcm), buf, len(buf))
        if n < 0:
            raise ValueError(f"lame_encode_buffer_interleaved_ieee_float returned {n}")
        return ctypes.string_at(buf, n)

    def flush(self) -> bytes:
        """Encode what is left (padded with silence to whole frames); return MP3 bytes."""
        buf = self._out(0)
        n = self._lib.lame_encode_flush(self._gfp, buf, len(buf))
        if n < 0:
            raise ValueError(f"lame_encode_flush returned {n}")
        return ctypes.string_at(buf, n)

    def close(self) -> None:
        """Free the encoder (safe to call twice)."""
        if self._gfp:
            self._lib.lame_close(self._gfp)
            self._gfp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
