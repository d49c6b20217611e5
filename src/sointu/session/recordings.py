"""Recordings on the session timeline: a spoken welcome, a real bowl, any sound file.

A session preset lists ``[[recordings]]``; each is placed by phase and offset, read from disk
in blocks and resampled to the session rate as it plays, so a 30-minute recording is never
held whole. The resampler (python-soxr at its HQ setting; scipy's polyphase ``upfirdn`` when
soxr is missing) runs on fixed chunks of the output, each from the same input frames with
enough context either side: every output frame is computed from the same input the same way
wherever playback starts, so a render, live play and ``--start-at`` in the middle of a
recording give the same samples. (soxr's own stream would depend on where it began.)

Speech gets room: no stroke starts while someone speaks (``strokes = "pause"``, the default
for speech) or strokes that start then are played softer (``"duck"``); strokes already
ringing are never cut, and the total length holds.

Levels: every recording is set to a loudness relative to the session's (``loudness_lu``),
measured on the recording itself by :mod:`sointu.rendering.recordings` before anything is
rendered; here a recording only carries that pre-gain (:attr:`Placed.gain_db`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import PresetError
from ..schema import defaults_from
from ..shipped import folder
from .schema import RECORDING
from .timeline import Event, Recording, Timeline

__all__ = ["RecordingSpec", "Placed", "Reader", "read_recordings", "resolve_sample",
           "place_recordings", "make_room", "mix_chunks", "voice_intro", "compose_with_room",
           "sampled_keys", "place_sampled", "fit_phases", "spoken_message",
           "check_recording_file"]

@dataclass(frozen=True)
@defaults_from(RECORDING)
class RecordingSpec:
    """One ``[[recordings]]`` table of a session preset (times in s, levels in dB/LU).

    file : the recording as written; path : where it was found.
    phase : name of the phase it is placed in (None: the first phase).
    at_s : start, seconds into the phase (>= 0) or before the phase's end (< 0).
    every_s : repeat this often within the phase (0: once).
    kind : 'speech', 'sound' or 'instrument' (one stroke of a real instrument, played for
        every stroke the composer gives the session instrument ``instrument``).
    instrument : for kind 'instrument', the key of ``[instruments]`` it plays for.
    loudness_lu : its loudness relative to the session's bowls (LU), measured on both.
    pan : -1 (left) .. 1 (right).
    strokes : while it plays, 'pause' (no stroke starts), 'duck' (softer) or 'play'.
    duck_db : how much softer ducked strokes are.
    margin_s : strokes also keep this long after it ends.
    trim : cut it at the end of its phase instead of refusing one that is longer.
    fit : 'refuse' (one that is longer than what is left of its phase is an error), 'trim'
        (the same as ``trim``) or 'lengthen' (its phase grows to hold it and the other
        phases shrink in proportion; the total length holds).
    """

    file: str
    path: Path
    phase: str | None
    at_s: float
    every_s: float
    kind: str
    instrument: str | None
    loudness_lu: float
    pan: float
    fade_in_s: float
    fade_out_s: float
    strokes: str
    duck_db: float
    margin_s: float
    trim: bool
    where: str = "recordings[0]"
    fit: str = "refuse"  # schema.RECORDING's default without trim


def resolve_sample(name: str, preset_path: Path | None) -> tuple[Path | None, list[Path]]:
    """Find a sample: relative to the preset file, then ./samples/, then the shipped samples.

    Returns the path found (or None) and every path tried.
    """
    p = Path(name).expanduser()
    if p.is_absolute():
        return (p if p.is_file() else None), [p]
    tried = []
    if preset_path is not None:
        tried.append(Path(preset_path).parent / p)
    for t in (Path.cwd() / "samples" / p, folder("samples") / p):
        if all(t.resolve() != u.resolve() for u in tried):
            tried.append(t)
    for t in tried:
        if t.is_file():
            return t, tried
    return None, tried


def read_recordings(v, d: dict, phase_names: list[str], preset_path: Path | None,
                    instruments=()) -> tuple[RecordingSpec, ...]:
    """The ``[[recordings]]`` of a preset (keys in schema.RECORDING), read with the preset's
    validator ``v``.

    Problems are recorded on ``v`` (file, line, key, what is allowed); bad entries are left out.
    """
    raw = d.get("recordings", [])
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        v.problem("recordings", "expected [[recordings]] tables (file, phase, at_s, ...)")
        return ()
    out = []
    for i, r in enumerate(raw):
        w = f"recordings[{i}]."
        n0 = len(v.problems)
        values = v.section(r, RECORDING, w, phase_names=phase_names, preset_path=preset_path,
                           instrument_keys=list(instruments))
        if len(v.problems) == n0:
            name, path = values.pop("file")
            out.append(RecordingSpec(**{**values, "trim": values["fit"] == "trim"},
                                     file=name, path=path, where=w.rstrip(".")))
    return tuple(out)


def voice_intro(path: Path, *, at_s: float = 2.0) -> RecordingSpec:
    """A one-off spoken welcome at the start of the first phase (``--voice-intro FILE``)."""
    from ..errors import UsageError

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--voice-intro {path}: no such file")
    return RecordingSpec(file=str(path), path=path, at_s=at_s, fade_out_s=0.05,
                         where="--voice-intro")


def check_recording_file(path: Path) -> str | None:
    """Why ``path`` cannot be played as a recording (missing, not audio, empty), or None."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        return f"{path}: no such file"
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError, ValueError) as exc:
        return (f"{path}: not a readable audio file ({' '.join(str(exc).split())}); "
                "allowed: WAV, FLAC, OGG, MP3")
    if info.frames <= 0:
        return f"{path}: the recording is empty (0 frames)"
    return None


def spoken_message(path: Path, preset, extra=(), *, where: str = "--message-recording"
                   ) -> RecordingSpec:
    """A gift's personal message as a recording, where the message belongs: in the first
    phase, 2 s in or 1 s after the spoken welcomes placed there (the preset's own and
    ``extra``, e.g. ``--voice-intro``), as loud as the session (measured, as the welcome).
    Its phase is lengthened to hold it (``fit = "lengthen"``): the total length holds.

    Raises
    ------
    UsageError
        The file is missing or not readable audio (one line, starting with ``where``).
    """
    import soundfile as sf

    from ..errors import UsageError

    path = Path(path)
    why = check_recording_file(path)
    if why:
        raise UsageError(f"{where}: {why}")
    first = preset.phases[0].name
    at = 2.0
    for s in (*preset.recordings, *extra):
        if s.kind == "speech" and s.at_s >= 0 and s.every_s == 0 and s.phase in (None, first):
            try:
                info = sf.info(str(s.path))
            except (RuntimeError, OSError, ValueError):
                continue  # its own reader reports it
            at = max(at, s.at_s + info.frames / info.samplerate + 1.0)
    return RecordingSpec(file=str(path), path=path, phase=first, at_s=round(at, 3),
                         fade_out_s=0.05, where=where, fit="lengthen")


# -- reading and resampling in blocks --------------------------------------------------------

#: Taps either side of the centre per unit of the larger of up/down (scipy's filter length).
_HALF_ZEROS = 16
#: Output frames per resampling chunk, about (a multiple of ``up``): soxr designs its
#: filter on every call, so 30 minutes of 44.1 kHz stereo took 1.8 s of CPU in chunks of
#: 2^16 frames, 0.96 s in chunks of 2^17 (0.91 s in 2^18).
_CHUNK = 1 << 17
#: Resampled chunks kept per recording.
_CHUNKS_KEPT = 4
#: Input frames of context either side of a chunk for soxr.
_SOXR_CONTEXT = 2048
#: Input frames kept from the last read (more than twice any context): the next chunk starts
#: within them.
_TAIL = 1 << 14
#: Frames per block of a recording read in order at its own rate (:meth:`Reader.in_order`).
_IN_ORDER = 1 << 17


def _soxr():
    """The soxr module (python-soxr), or None: then scipy's polyphase filter resamples."""
    if os.environ.get("SOINTU_RESAMPLER") == "scipy":
        return None
    try:
        import soxr
    except ImportError:
        return None
    return soxr


class Spill:
    """A recording's frames at the session rate kept in an unnamed temporary file, so that
    a recording measured before it plays is decoded and resampled once (a FLAC decoder
    costs ~1 s of CPU per 30 minutes of 44.1 kHz stereo and soxr as much again; reading the
    frames back, a few hundredths of that).

    Frames (float32, the file's channels) are appended in order from the recording's first;
    any range written can be read back, from any process the file is shared with (positioned
    reads: no shared offset). Nothing is left on disk: the file has no name. When it cannot
    be written (a full disk), it is given up and the recording is decoded again as before.
    A 16-bit file at the session rate (not resampled) is kept as 16-bit integers, half the
    bytes to write and read (the decoder's float32 is the integer / 32768, exactly).
    """

    def __init__(self, channels: int, pcm16: bool = False):
        import tempfile

        self.channels = int(channels)
        self.frames = 0  # frames written
        self._dtype = np.dtype(np.int16 if pcm16 else np.float32)
        self._file = tempfile.TemporaryFile(prefix="sointu-recording-")

    def append(self, x: np.ndarray) -> bool:
        """Append frames ``x`` (n, channels) float32; False (and closed) if writing failed."""
        if self._file is None:
            return False
        if self._dtype == np.int16:
            x = (x * np.float32(32768.0)).astype(np.int16)
        try:
            self._file.write(np.ascontiguousarray(x, dtype=self._dtype).data)
            self._file.flush()
        except OSError:
            self.close()
            return False
        self.frames += len(x)
        return True

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Frames [lo, hi) (0 <= lo <= hi <= frames), float32 (hi - lo, channels)."""
        size = self._dtype.itemsize * self.channels
        data = bytearray((hi - lo) * size)  # writable: read into, then scaled in place
        os.preadv(self._file.fileno(), [data], lo * size)
        x = np.frombuffer(data, dtype=self._dtype).reshape(-1, self.channels)
        if self._dtype == np.int16:
            return x.astype(np.float32) * np.float32(1.0 / 32768.0)
        return x

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self.frames = 0


class Reader:
    """A recording read in blocks at the session rate, mixed to stereo (float32).

    Frames outside the recording read as silence. Any frame range can be read, in any order;
    each frame's value never depends on the ranges read before.
    """

    def __init__(self, path: Path, rate: int):
        import soundfile as sf

        from ..errors import UsageError

        self.path = Path(path)
        try:
            info = sf.info(str(self.path))
        except (RuntimeError, OSError, ValueError) as exc:
            raise UsageError(f"{self.path}: not a readable audio file "
                             f"({' '.join(str(exc).split())}); allowed: WAV, FLAC, OGG, MP3"
                             ) from None
        if info.frames <= 0:
            raise UsageError(f"{self.path}: the recording is empty (0 frames)")
        self.in_rate = int(info.samplerate)
        self.channels = int(info.channels)
        self.in_frames = int(info.frames)
        self.pcm16 = info.subtype == "PCM_16"  # decoded as integer / 32768 exactly
        ratio = Fraction(int(rate), self.in_rate)
        self.up, self.down = ratio.numerator, ratio.denominator
        self.rate = int(rate)
        self.frames = -(-self.in_frames * self.up // self.down)
        self._file = None
        self._pid = 0
        self._chunks: dict[int, np.ndarray] = {}
        #: The frames at the session rate (before the mix to stereo), when the level
        #: measurement kept them (:class:`Spill`): then nothing is decoded or resampled.
        self.spill: Spill | None = None
        if self.up != self.down:
            self._m = max(1, _CHUNK // self.up)  # chunk = m*up outputs from m*down inputs
            self._soxr = _soxr()
            if self._soxr is not None:
                # soxr's filter reaches < 600 input frames at HQ (measured: chunks with 588
                # frames of context equal a whole-file resample to float32 rounding)
                self._pad = -(-_SOXR_CONTEXT // self.down) * self.down
            else:
                from scipy.signal import firwin

                m = max(self.up, self.down)
                # half the filter, a multiple of down so that its centre lands on an output
                half = -(-_HALF_ZEROS * m // self.down) * self.down
                self._h = firwin(2 * half + 1, 1.0 / m, window=("kaiser", 8.0)) * self.up
                self._half = half
                self._pad = (-(-half // self.up) + 1) * self.down

    def _open(self, source=None):
        # a forked worker (the gain estimate, the meter) opens its own: a shared file
        # offset would let the processes' seeks race. ``source``: frames decoded elsewhere
        # (:class:`_Decoded`), read from the start instead of the file.
        if source is not None or self._file is None or self._pid != os.getpid():
            import soundfile as sf

            self._file = source if source is not None else sf.SoundFile(str(self.path))
            self._pid = os.getpid()
            self._tail = np.zeros((0, self.channels), dtype=np.float32)
            self._pos = 0  # where the file is; _tail holds the frames just before it
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.spill is not None:
            self.spill.close()
            self.spill = None

    def _read_in(self, a: int, b: int) -> np.ndarray:
        """Input frames [a, b) as float32 (n, channels), zeros outside the file."""
        out = np.zeros((b - a, self.channels), dtype=np.float32)
        lo, hi = max(a, 0), min(b, self.in_frames)
        if hi > lo:
            f = self._open()
            # chunks read in order overlap by their context: those frames are kept, and the
            # rest read on without a seek (a seek in a FLAC or MP3 file decodes again)
            kept = len(self._tail)
            if self._pos - kept <= lo <= self._pos < hi:
                done = self._pos - lo
                out[lo - a: lo - a + done] = self._tail[kept - done:]
            else:
                f.seek(lo)
                self._pos, done = lo, 0
            data = f.read(hi - lo - done, dtype="float32", always_2d=True)
            out[lo - a + done: lo - a + done + len(data)] = data
            self._pos += len(data)
            end = lo - a + done + len(data)
            self._tail = out[max(0, end - _TAIL): end].copy()  # callers may scale out
        return out

    def _stereo(self, x: np.ndarray) -> np.ndarray:
        if self.channels == 2:
            return x
        mono = x.mean(axis=1, keepdims=True) if self.channels > 2 else x
        return np.repeat(mono, 2, axis=1)

    def _out_chunk(self, j: int) -> np.ndarray:
        """Output chunk j (m*up frames) of the resampled recording, stereo float32."""
        if j in self._chunks:
            return self._chunks[j]
        out = self._stereo(self._resampled(j))
        if len(self._chunks) >= _CHUNKS_KEPT:  # overlapping strokes read a few places at once
            self._chunks.pop(next(iter(self._chunks)))
        self._chunks[j] = out
        return out

    def _resampled(self, j: int) -> np.ndarray:
        """Output chunk j (m*up frames) of the resampled recording, float32 with the file's
        channels.

        Always computed from the same input frames (the chunk's own and ``_pad`` either
        side, a multiple of ``down`` so that output frames land on the session's grid).
        """
        m, up, down = self._m, self.up, self.down
        a = j * m * down - self._pad
        x = self._read_in(a, (j + 1) * m * down + self._pad)
        if self._soxr is not None:
            y = self._soxr.resample(x, self.in_rate, self.rate, quality="HQ")
            first = self._pad * up // down
        else:
            from scipy.signal import upfirdn

            y = upfirdn(self._h, x.astype(np.float64), up, down, axis=0)
            # output n of this chunk <- upsampled index n*down + half, relative to a*up
            first = (j * m * down - a) * up // down + self._half // down
        return np.asarray(y[first: first + m * up], dtype=np.float32)

    @property
    def order_block(self) -> int:
        """Frames per block of :meth:`in_order` (the same blocks give the same sums)."""
        return _IN_ORDER if self.up == self.down else self._m * self.up

    def in_order(self, n: int, ahead=None):
        """Output frames [0, n) (session rate), float32 with the file's channels, in blocks
        read in order by a decoder of its own: the frames :meth:`read` gives, before the mix
        to stereo. On to the recording's end when less than a block is left past ``n``.

        ``ahead``: a function that runs an iterator in another thread and yields its items
        (:func:`sointu.rendering.prefetch.prefetch`); a resampled file is then decoded there,
        a block ahead of the resampling.
        """
        import copy

        own = copy.copy(self)
        own._file, own._chunks, own.spill = None, {}, None
        size = self.order_block
        end = self.frames if self.frames - n <= size else n
        if ahead is not None and self.up != self.down and end > 0:
            # decoded in the reads the chunks make in order (the first with its context
            # after, then m*down each, to the input the last chunk reads): libsndfile's MP3
            # decoding depends on where reads end, and so the frames are those read() gets
            step = self._m * self.down
            last = min(-(-end // size) * step + self._pad, self.in_frames)
            first = min(step + self._pad, last)
            reads = [first] + [min(step, last - r) for r in range(first, last, step)]
            own._open(_Decoded(self.path, ahead, reads, self.channels))
        try:
            for a in range(0, end, size):
                if self.up == self.down:
                    yield own._read_in(a, min(a + size, end))
                else:
                    yield own._resampled(a // size)[: self.frames - a]
        finally:
            own.close()

    def read(self, a: int, b: int) -> np.ndarray:
        """Output frames [a, b) (session rate), float32 (b - a, 2)."""
        lo, hi = max(a, 0), min(b, self.frames)
        if self.spill is not None and lo < hi <= self.spill.frames:
            x = self._stereo(self.spill.read(lo, hi))  # decoded and resampled once
            if (lo, hi) == (a, b):
                return x
            out = np.zeros((b - a, 2), dtype=np.float32)
            out[lo - a: hi - a] = x
            return out
        if self.up == self.down:
            return self._stereo(self._read_in(a, b))
        out = np.zeros((b - a, 2), dtype=np.float32)
        size = self._m * self.up
        j = lo // size if hi > lo else 0
        while lo < hi:
            c0 = j * size
            chunk = self._out_chunk(j)
            s, e = lo - c0, min(hi, c0 + size) - c0
            out[c0 + s - a: c0 + e - a] = chunk[s:e]
            lo = c0 + e
            j += 1
        return out


class _Decoded:
    """A recording's first frames decoded in order by a thread of ``ahead``, in reads of
    ``reads`` frames, read as :meth:`Reader._read_in` reads a SoundFile (``read``, ``seek``,
    ``close``). A seek (a chunk wholly within frames already read, at the end) opens the
    file itself."""

    def __init__(self, path: Path, ahead, reads: list[int], channels: int):
        self._path = path
        self._channels = channels
        self._left = np.zeros((0, channels), dtype=np.float32)
        self._file = None

        def decode():
            import soundfile as sf

            with sf.SoundFile(str(path)) as f:
                for n in reads:
                    x = f.read(n, dtype="float32", always_2d=True)
                    if len(x) == 0:
                        return
                    yield x

        self._blocks = ahead(decode())

    def read(self, n: int, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        if self._file is not None:
            return self._file.read(n, dtype=dtype, always_2d=always_2d)
        parts, got = [], 0
        while got < n:
            if not len(self._left):
                self._left = next(self._blocks, None)
                if self._left is None:
                    self._left = np.zeros((0, self._channels), dtype=np.float32)
                    break
            take = self._left[: n - got]
            self._left = self._left[len(take):]
            parts.append(take)
            got += len(take)
        return np.concatenate(parts) if parts else self._left[:0]

    def seek(self, frame: int) -> None:
        import soundfile as sf

        if self._file is None:
            self._file = sf.SoundFile(str(self._path))
        self._file.seek(frame)

    def close(self) -> None:
        self._blocks.close()
        if self._file is not None:
            self._file.close()


# -- placing on the timeline -----------------------------------------------------------------

@dataclass
class Placed:
    """One recording at one place on the timeline (frames at the session rate).

    gain_db : pre-gain relative to the synthesised bowls (set by the render layer from the
        measured loudness; None until then).
    offset_db : added to it for this one placement (a sampled stroke's velocity).
    hrir : on the headphone mix, the head-related impulse response it is heard through
        (float32 (L, 2), at the session rate):
        its channels' mean is a point source at azimuth ``pan`` * 90 degrees, straight ahead
        by default, dry (no room: close). None: panned in stereo.
    """

    spec: RecordingSpec
    start: int
    frames: int
    reader: Reader
    gain_db: float | None = None
    offset_db: float = 0.0
    unit_sums: np.ndarray | None = field(default=None, repr=False)
    unit_peaks: np.ndarray | None = field(default=None, repr=False)
    unit_first: int = 0
    hrir: np.ndarray | None = field(default=None, repr=False)
    _hspec: list = field(default_factory=list, repr=False)  # the hrir's spectrum, once

    @property
    def stop(self) -> int:
        return self.start + self.frames

    @cached_property
    def pan_gains(self) -> np.ndarray:
        """Left and right gain (float64 (2,)) of its constant-power pan: 1 each at the
        centre."""
        theta = (self.spec.pan + 1.0) * math.pi / 4.0
        gains = np.array([math.cos(theta), math.sin(theta)]) * math.sqrt(2.0)
        gains.setflags(write=False)  # kept: shared by every block
        return gains

    @cached_property
    def _pan32(self) -> np.ndarray:
        return self.pan_gains.astype(np.float32)  # as the mix applies them

    def _fades(self, n0: int, n1: int) -> np.ndarray:
        """Gain of the fades (float32) at frames n0 .. n1 from its start (0 before it)."""
        rate = self.reader.rate
        fi = int(round(self.spec.fade_in_s * rate))
        fo = int(round(self.spec.fade_out_s * rate))
        n = np.arange(n0, n1)
        g = (n >= 0).astype(np.float32)
        if fi:
            m = (n >= 0) & (n < fi)
            g[m] = (0.5 - 0.5 * np.cos(np.pi * (n[m] + 0.5) / fi)).astype(np.float32)
        if fo:
            k = self.frames - n
            m = k <= fo
            g[m] *= (0.5 - 0.5 * np.cos(np.pi * (k[m] - 0.5) / fo)).astype(np.float32)
        return g

    def _binaural(self, lo: int, hi: int) -> np.ndarray:
        """Frames [lo, hi) (session) heard through :attr:`hrir`, float32 (hi - lo, 2).

        The convolution of the faded source (its channels' mean) with both ears' responses,
        from the frames before ``lo`` that reach into it; one FFT of a fixed size for each
        range. mix_chunks asks for the synth's chunks, the same ranges wherever playback
        starts, so live play equals the render.
        """
        n0 = lo - self.start - (len(self.hrir) - 1)
        x = self.reader.read(n0, hi - self.start)
        m = np.add(x[:, 0], x[:, 1], dtype=np.float64)
        m *= 0.5  # the channels' mean
        rate = self.reader.rate
        if n0 < max(1, round(self.spec.fade_in_s * rate)) or \
                self.frames - (hi - self.start) < round(self.spec.fade_out_s * rate) + 1:
            m *= self._fades(n0, hi - self.start)  # only where a fade (or the start) is
        if not self._hspec:
            self._hspec.append(heard_spectrum(self.hrir))
        return heard(m, self.hrir, self._hspec[0]).T.astype(np.float32)

    def contribution(self, a: int, b: int) -> np.ndarray:
        """What it adds to session frames [a, b) at unit pre-gain (float32 (n, 2))."""
        lo, hi = max(a, self.start), min(b, self.stop)
        out = np.zeros((b - a, 2), dtype=np.float32)
        if hi > lo:
            out[lo - a: hi - a] = self._played(lo, hi)
        return out

    def add_to(self, chunk: np.ndarray, a: int, gain: float) -> None:
        """Add what it plays in session frames [a, a + n) at linear pre-gain ``gain`` to
        ``chunk`` (float32 (n, 2), in place)."""
        lo, hi = max(a, self.start), min(a + len(chunk), self.stop)
        if hi > lo:
            chunk[lo - a: hi - a] += self._played(lo, hi, gain)

    def _played(self, lo: int, hi: int, gain: float = 1.0) -> np.ndarray:
        """Session frames [lo, hi) (within it) as it plays them, times ``gain``: float32
        (hi - lo, 2)."""
        if self.hrir is not None:
            x = self._binaural(lo, hi)
            if gain != 1.0:
                x *= np.float32(gain)
            return x
        x = self.reader.read(lo - self.start, hi - self.start)
        for ch, f in enumerate(self._pan32 * np.float32(gain)):  # a column at a time: a
            x[:, ch] *= f  # (n, 2) by (2,) broadcast costs 3x as much, for the same products
        rate = self.reader.rate
        fi = int(round(self.spec.fade_in_s * rate))
        fo = int(round(self.spec.fade_out_s * rate))
        if fi and lo - self.start < fi:  # only where a fade is: most blocks have none
            n = np.arange(lo, min(hi, self.start + fi)) - self.start
            x[: len(n)] *= (0.5 - 0.5 * np.cos(np.pi * (n + 0.5) / fi)).astype(np.float32)[:, None]
        if fo and self.stop - hi < fo:
            n0 = max(lo, self.stop - fo)
            k = self.stop - np.arange(n0, hi)  # frames to the end
            x[n0 - lo:] *= (0.5 - 0.5 * np.cos(np.pi * (k - 0.5) / fo)).astype(np.float32)[:, None]
        return x


#: FFT size of the head-response convolution (overlap-save: segments of this many frames).
_SEGMENT = 4096


def _segment(taps: int) -> int:
    return max(_SEGMENT, 1 << math.ceil(math.log2(4 * taps)))


def heard_spectrum(h: np.ndarray) -> np.ndarray:
    """The spectrum (2, F) of impulse response ``h`` (L, 2) that :func:`heard` uses."""
    return np.fft.rfft(np.asarray(h, np.float64).T, _segment(len(h)), axis=1)


def heard(m: np.ndarray, h: np.ndarray, spec: np.ndarray | None = None) -> np.ndarray:
    """A source ``m`` (n,) heard through impulse response ``h`` (L, 2): both ears (2, n - L +
    1), the frames whose whole past is in ``m`` (a "valid" convolution).

    Overlap-save in segments of :data:`_SEGMENT` frames, all in one FFT call: the same
    frames in give the same samples out. ``spec``: :func:`heard_spectrum` of ``h``, made
    once for many calls.
    """
    taps = len(h)
    size = _segment(taps)
    hop = size - (taps - 1)
    n = len(m) - (taps - 1)
    if n <= 0:
        return np.zeros((2, 0))
    count = -(-n // hop)
    ext = np.zeros(count * hop + taps - 1)
    ext[: len(m)] = m
    segs = np.lib.stride_tricks.sliding_window_view(ext, size)[::hop]
    if spec is None:
        spec = heard_spectrum(h)
    y = np.fft.irfft(np.fft.rfft(segs, axis=1)[None] * spec[:, None], size, axis=2)
    return y[:, :, taps - 1:].reshape(2, -1)[:, :n]


def _reader(spec: RecordingSpec, rate: int) -> Reader:
    """A Reader for a placed recording; a bad file names the preset key too."""
    from ..errors import UsageError

    try:
        return Reader(spec.path, rate)
    except UsageError as exc:
        # a preset's key names its file; an option or a clients-file cell is named whole
        key = f"{spec.where}.file" if spec.where.startswith("recordings[") else spec.where
        raise UsageError(f"{key}: {exc}") from None


def place_recordings(specs, timeline: Timeline, rate: int, head=None) -> list[Placed]:
    """Where each recording plays (every repetition separately), in time order.

    With ``head`` (the headphone mix's :class:`~sointu.engine.hrtf.Head`) each is heard
    through the head-related responses from azimuth ``pan`` * 90 degrees (0: ahead).

    Raises
    ------
    PresetError
        A recording that would run past the end of its phase (unless it may be trimmed) or
        that starts outside it.
    """
    out = []
    for spec in specs:
        if spec.kind == "instrument":
            continue  # place_sampled, once the timeline has made room for speech
        reader = _reader(spec, rate)
        ears = None if head is None else head.ears(90.0 * spec.pan, 0.0)
        hrir = None if ears is None else ears.impulse(rate)
        phase = next((p for p in timeline.phases if p.name == spec.phase), timeline.phases[0])
        end_s = phase.end_s
        first = phase.start_s + spec.at_s if spec.at_s >= 0 else phase.end_s + spec.at_s
        if not phase.start_s <= first < end_s:
            raise PresetError(f"{spec.where}: at_s {spec.at_s:g} s is outside phase "
                              f"'{phase.name}' ({phase.length_s:.1f} s long)")
        length_s = reader.frames / rate
        times = [first]
        if spec.every_s > 0:
            while times[-1] + spec.every_s + length_s <= end_s:
                times.append(times[-1] + spec.every_s)
        for t in times:
            frames = reader.frames
            if t + length_s > end_s + 1e-9:
                if not spec.trim:
                    raise PresetError(
                        f"{spec.where}: {spec.file} is {length_s:.1f} s long and starts "
                        f"{t - phase.start_s:.1f} s into phase '{phase.name}', which is "
                        f"{phase.length_s:.1f} s long: it would run {t + length_s - end_s:.1f} s"
                        " past the phase; shorten it, move it, or set fit = \"lengthen\" or"
                        " trim = true")
                frames = int((end_s - t) * rate)
                spec = replace(spec, fade_out_s=max(spec.fade_out_s, min(1.0, frames / rate / 4)))
            out.append(Placed(spec=spec, start=int(round(t * rate)), frames=frames,
                              reader=reader, hrir=hrir))
    return sorted(out, key=lambda p: p.start)


def place_sampled(specs, timeline: Timeline, rate: int) -> list[Placed]:
    """One placement of each sampled instrument per stroke the composer gave its instrument.

    Velocity v plays it v ** 1.5 as loud (as the engine's strokes); it rings until the
    session's end at most.
    """
    total = int(round(timeline.duration_s * rate))
    out = []
    for spec in specs:
        if spec.kind != "instrument":
            continue
        reader = _reader(spec, rate)
        for ev in timeline.events:
            if ev.instrument == spec.instrument and ev.articulation == "strike":
                start = int(round(ev.time_s * rate))
                out.append(Placed(spec=spec, start=start,
                                  frames=min(reader.frames, total - start), reader=reader,
                                  offset_db=30.0 * math.log10(max(ev.velocity, 1e-6))))
    return sorted(out, key=lambda p: p.start)


def sampled_keys(placed) -> set[str]:
    """Session instruments whose strokes are played by a recording (not synthesised)."""
    return {p.spec.instrument for p in placed if p.spec.kind == "instrument"}


def make_room(timeline: Timeline, placed: list[Placed], rate: int) -> Timeline:
    """The timeline with no stroke starting while a recording that asks for room plays.

    Strokes already ringing are kept (never cut); a rub that would overlap is left out.
    Ducked strokes keep their place, softer by ``duck_db`` (velocity ** 1.5 is amplitude).
    """
    timeline = replace(timeline, recordings=tuple(
        Recording(p.start / rate, p.frames / rate, Path(p.spec.path).name, p.spec.kind)
        for p in placed))
    spans = [(p.start / rate, p.stop / rate + p.spec.margin_s, p.spec) for p in placed
             if p.spec.strokes != "play"]
    if not spans:
        return timeline
    events: list[Event] = []
    for ev in timeline.events:
        hit = next((s for s in spans if ev.time_s < s[1] and ev.time_s + ev.duration_s >= s[0]),
                   None)
        if hit is None:
            events.append(ev)
        elif hit[2].strokes == "duck" and ev.articulation == "strike":
            events.append(replace(ev, velocity=ev.velocity * 10 ** (hit[2].duck_db / 30.0)))
    return replace(timeline, events=tuple(events))


def fit_phases(preset, extra=(), *, duration_s: float | None = None,
               rate: int | None = None):
    """``preset`` with its phases' lengths set so that every recording asking for it
    (``fit = "lengthen"``) fits in its phase: such a phase grows to the recording's start
    plus its length, the other phases shrink in proportion to their lengths, and the total
    length holds. ``preset`` itself when no phase needs to grow.

    Parameters
    ----------
    preset : SessionPreset
    extra : sequence of RecordingSpec
        Recordings placed besides the preset's own.
    duration_s : float, optional
        The session's total length (s); default the preset's.
    rate : int, optional
        Session sample rate (Hz; the recording's length at that rate); default the preset's.

    Raises
    ------
    PresetError
        When the phases that must grow need more than the session's playing time.
    """
    import soundfile as sf

    from .composer import phase_spans, ring_out_s
    from .durations import check_duration

    specs = [s for s in (*preset.recordings, *extra) if s.fit == "lengthen"]
    if not specs:
        return preset
    rate = int(rate or preset.defaults.sample_rate_hz)
    total = preset.defaults.duration_s if duration_s is None else check_duration(duration_s)
    names = [p.name for p in preset.phases]
    spans = phase_spans(preset, total)
    lengths = [e - s for s, e in spans]
    need = dict.fromkeys(range(len(names)), 0.0)
    why = {}
    for spec in specs:
        i = names.index(spec.phase) if spec.phase in names else 0
        try:
            info = sf.info(str(spec.path))
        except (RuntimeError, OSError, ValueError):
            continue  # the reader says what is wrong with it, with its key
        seconds = -(-int(info.frames) * rate // int(info.samplerate)) / rate
        if spec.at_s + seconds > need[i]:
            need[i], why[i] = spec.at_s + seconds + 1e-6, (spec, seconds)
    grow = {i: n for i, n in need.items() if n > lengths[i]}
    if not grow:
        return preset
    playing = total - ring_out_s(preset, total)
    rest = sum(n for i, n in enumerate(lengths) if i not in grow)
    left = playing - sum(grow.values())
    if left <= 0.0 or rest <= 0.0:
        i = max(grow, key=grow.get)
        spec, seconds = why[i]
        raise PresetError(
            f"{spec.where}: {spec.file} is {seconds:.1f} s long and starts {spec.at_s:g} s "
            f"into phase '{names[i]}': fit = \"lengthen\" would make the phases it grows "
            f"{sum(grow.values()):.1f} s long, leaving nothing of the session's "
            f"{playing:.1f} s of playing time (the ring-out excluded) to the others; give a "
            "longer --duration, or trim = true")
    scale = left / rest
    new = [grow.get(i, n * scale) for i, n in enumerate(lengths)]
    phases = tuple(replace(p, length_s=n, share=None) for p, n in zip(preset.phases, new,
                                                                       strict=True))
    return replace(preset, phases=phases)


def compose_with_room(preset, *, seed: int | None = None, duration_s: float | None = None
                      ) -> Timeline:
    """The composed Timeline as it will sound: strokes that a recording displaces left out
    (for ``sointu show`` and ``score``; the audio does the same in SessionAudio)."""
    from .composer import compose

    timeline = compose(fit_phases(preset, duration_s=duration_s), seed=seed,
                       duration_s=duration_s)
    if not preset.recordings:
        return timeline
    rate = preset.defaults.sample_rate_hz
    placed = place_recordings(preset.recordings, timeline, rate)
    for p in placed:
        p.reader.close()
    return make_room(timeline, placed, rate)


def mix_chunks(chunks, first_chunk: int, B: int, placed: list[Placed]):
    """Add the recordings (at their pre-gain) to consecutive synth chunks of B frames, in
    place (each chunk must be the caller's own: the synth makes every one afresh)."""
    if not placed:
        yield from chunks
        return
    for p in placed:
        if p.gain_db is None:
            raise RuntimeError(f"recording {p.spec.file}: level not set "
                               "(sointu.rendering.recordings.calibrate)")
    c = first_chunk
    for chunk in chunks:
        a, b = c * B, (c + 1) * B
        live = [p for p in placed if p.start < b and p.stop > a]
        if live:
            for p in live:
                p.add_to(chunk, a, 10.0 ** ((p.gain_db + p.offset_db) / 20.0))
        yield chunk
        c += 1


def identity(placed: list[Placed]) -> list:
    """What the audio of the recordings depends on (for the gain cache key)."""
    out = []
    for p in placed:
        st = p.reader.path.stat()
        out.append([str(p.reader.path), st.st_size, st.st_mtime_ns, p.start, p.frames,
                    p.spec.loudness_lu, p.spec.pan, p.spec.fade_in_s, p.spec.fade_out_s,
                    p.offset_db,
                    "soxr" if _soxr() else "scipy"])
    return out

