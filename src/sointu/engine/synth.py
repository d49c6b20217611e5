"""The block generator: scheduled strokes and rubs on a modal bank, rendered chunk by chunk.

Audio is computed in fixed chunks on an absolute grid (chunk c covers frames c*B .. c*B+B-1);
strokes land on their exact frame inside a chunk. Blocks of any size are cut from those
chunks, so the samples never depend on the block size, and a render that starts in the middle
(live ``--start-at``) computes the bank state at that chunk in closed form from the strokes
before it: the model is linear, so nothing before has to be rendered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .bank import ModalBank

__all__ = ["Impulse", "RubVoice", "Synth", "cut_blocks", "rub_pulse_hz"]


@dataclass(frozen=True)
class Impulse:
    """Complex amplitudes added to modes ``first .. first+len(amps)-1`` at ``frame``.

    ``ramp`` > 0 fades the impulse's own response in over that many frames (a raised cosine:
    the mallet's contact time), so a stroke never starts with a step. ``lag`` (left, right)
    holds each channel silent for that many frames before its fade-in starts: on headphones
    the far ear hears the stroke begin later (at most K frames; only with a ramp).
    """

    frame: int
    first: int
    amps: np.ndarray
    ramp: int = 0
    lag: tuple[int, int] = (0, 0)

    @property
    def span(self) -> int:
        """Frames from ``frame`` on that the fade-in touches."""
        return self.ramp + max(self.lag) if self.ramp else 0


@dataclass(frozen=True)
class RubVoice:
    """A rubbed tone on some modes between ``start`` and ``release`` (frames).

    While rubbing, lead mode m sounds Re(g_m drive_m A(n) (-i) exp(i(w_m n + phase))) with
    A(n) = (1 - exp(-t/build_s))^2 (1 - depth (1 - cos(2 pi pulse_hz t)) / 2), t = seconds since
    start. At release the tone is handed to the bank (``handoff`` shares it between the modes
    of each partial) and rings out with the bowl's own decay, continuous in amplitude and phase.
    """

    start: int
    release: int
    first: int
    drive: np.ndarray  # (M_i,) peak amplitude on lead modes, 0 elsewhere
    lead_of: np.ndarray  # (M_i,) index (within the instrument) of each mode's lead mode
    handoff: np.ndarray  # (M_i,)
    build_s: float
    pulse_hz: float
    depth: float
    phase: float


def rub_pulse_hz(order: int, rev_hz: float) -> float:
    """Pulsation rate (Hz) heard from a stick turning at rev_hz around a mode of order n."""
    return 2.0 * order * rev_hz


class Synth:
    """Renders a schedule of impulses and rubs on a bank.

    Parameters
    ----------
    bank : ModalBank
        All modes of the piece.
    impulses : sequence of Impulse
        Strokes, in any order.
    rubs : sequence of RubVoice
        Rubbed tones.
    """

    def __init__(self, bank: ModalBank, impulses=(), rubs=()):
        self.bank = bank
        self.sample_rate = bank.sample_rate
        self.B = bank.B
        self.rubs = sorted(rubs, key=lambda r: r.start)
        imps = list(impulses) + [self._release_impulse(r) for r in self.rubs]
        imps.sort(key=lambda i: i.frame)
        if any(i.ramp > bank.K or max(i.lag) > bank.K for i in imps):
            raise ValueError(f"an impulse ramp or lag is longer than {bank.K} frames")
        self.impulses = imps
        self._frames = np.array([i.frame for i in imps], dtype=np.int64)
        self._tables: dict = {}

    # -- rubs ----------------------------------------------------------------------------

    def _envelope(self, r: RubVoice, n: np.ndarray) -> np.ndarray:
        t = (n - r.start) / self.sample_rate
        build = (1.0 - np.exp(-t / r.build_s)) ** 2
        return build * (1.0 - 0.5 * r.depth * (1.0 - np.cos(2 * np.pi * r.pulse_hz * t)))

    def _release_impulse(self, r: RubVoice) -> Impulse:
        lp = self.bank.log_pole[r.first: r.first + len(r.drive)]
        env = float(self._envelope(r, np.array([r.release]))[0])
        lead = r.lead_of
        phase = lp.imag[lead] * r.release + r.phase
        amps = r.drive[lead] * r.handoff * env * (-1j) * np.exp(1j * phase)
        return Impulse(r.release, r.first, amps)

    def _rub_tables(self, key, w: float, decay: float | None = None) -> tuple[np.ndarray, ...]:
        """cos(w j), sin(w j) (and exp(-decay j)) for j = 0 .. B-1, cached per ``key``."""
        tables = self._tables.get(key)
        if tables is None:
            j = np.arange(self.B, dtype=np.float64)
            tables = (np.cos(w * j), np.sin(w * j))
            if decay is not None:
                tables += (np.exp(-decay * j),)
            self._tables[key] = tables
        return tables

    def _add_rubs(self, c0: int, out: np.ndarray) -> None:
        """Add the rubbed tones sounding in the chunk from frame ``c0`` to ``out``.

        Each sinusoid and the envelope are rotations and decays of tables made once per rub
        (``sin(a + w j) = sin a cos w j + cos a sin w j``), so a chunk costs a few
        multiply-adds a sample instead of a sine per mode and channel (those took a fifth
        of an hour's synthesis for four minutes of rubbing).
        """
        c1 = c0 + len(out)
        for index, r in enumerate(self.rubs):
            if r.start >= c1:
                break
            lo, hi = max(r.start, c0), min(r.release, c1)
            if lo >= hi:
                continue
            n = hi - lo
            fs = self.sample_rate
            wp = 2 * np.pi * r.pulse_hz / fs
            cos_p, sin_p, decay = self._rub_tables(("env", index), wp, 1.0 / (fs * r.build_s))
            t0 = lo - r.start
            build = 1.0 - np.exp(-t0 / (fs * r.build_s)) * decay[:n]
            build *= build
            a = wp * t0
            pulse = np.cos(a) * cos_p[:n] - np.sin(a) * sin_p[:n]  # cos(wp (t0 + j))
            env = build * (1.0 - 0.5 * r.depth * (1.0 - pulse))
            if hi == r.release:  # its last chunk: the envelope's tables are not needed again
                self._tables.pop(("env", index), None)
            tone = np.zeros((n, 2))
            for m in np.flatnonzero(r.drive):
                mode = r.first + m
                g = self.bank.gains[:, mode]
                w = float(self.bank.log_pole[mode].imag)
                cos_w, sin_w = self._rub_tables(("mode", mode), w)
                base = (w * lo + r.phase) % (2 * np.pi)
                for ch in range(2):
                    # Re(g * (-i) * e^{i x}) = |g| sin(x + arg g), x = base + w j
                    b = base + float(np.angle(g[ch]))
                    k = r.drive[m] * abs(g[ch])
                    tone[:, ch] += (k * np.sin(b)) * cos_w[:n] + (k * np.cos(b)) * sin_w[:n]
            tone *= env[:, None]
            out[lo - c0: hi - c0] += tone.astype(np.float32)

    # -- strokes -------------------------------------------------------------------------

    def _add_ramps(self, c0: int, out: np.ndarray, i_lo: int, i_hi: int) -> None:
        """Fade in the impulses i_lo .. i_hi-1 whose ramps overlap this chunk."""
        c1 = c0 + len(out)
        for imp in self.impulses[i_lo:i_hi]:
            if imp.ramp == 0 or imp.frame + imp.span <= c0 or imp.frame >= c1:
                continue
            lo, hi = max(imp.frame, c0), min(imp.frame + imp.span, c1)
            t = np.arange(lo - imp.frame, hi - imp.frame)
            y = self._response(imp, int(t[0]), int(t[-1]) + 1)
            for ch, lag in enumerate(imp.lag):
                # response * (ramp - 1): removes what the bank played beyond the ramp;
                # silent (-1) while this channel's onset is held back
                u = np.clip(t - lag, 0, imp.ramp)
                fade = (-0.5 - 0.5 * np.cos(np.pi * u / imp.ramp)).astype(np.float32)
                out[lo - c0: hi - c0, ch] += y[:, ch] * fade

    def _response(self, imp: Impulse, start: int, stop: int) -> np.ndarray:
        """Samples start .. stop-1 (< 2K) of an impulse's free response, float32 (n, 2)."""
        K = self.bank.K
        if stop <= K:
            return self.bank.free_response(imp.first, imp.amps, start, stop)
        later = imp.amps * self.bank.step[imp.first: imp.first + len(imp.amps), K]
        tail = self.bank.free_response(imp.first, later, max(start - K, 0), stop - K)
        if start >= K:
            return tail
        return np.concatenate([self.bank.free_response(imp.first, imp.amps, start, K), tail])

    # -- state ---------------------------------------------------------------------------

    def state_at(self, frame: int) -> np.ndarray:
        """Bank state just before ``frame`` from every impulse earlier than it (closed form)."""
        z = np.zeros(self.bank.count, dtype=complex)
        stop = int(np.searchsorted(self._frames, frame, side="left"))
        for imp in self.impulses[:stop]:
            sl = slice(imp.first, imp.first + len(imp.amps))
            z[sl] += imp.amps * np.exp((frame - imp.frame) * self.bank.log_pole[sl])
        return z

    # -- rendering -----------------------------------------------------------------------

    def chunks(self, first_chunk: int = 0) -> Iterator[np.ndarray]:
        """Yield consecutive chunks (float32, shape (B, 2)) from chunk ``first_chunk`` on."""
        B = self.B
        max_ramp = max((i.span for i in self.impulses), default=0)
        c0 = first_chunk * B
        z = self.state_at(c0)
        i = int(np.searchsorted(self._frames, c0, side="left"))
        n_imp = len(self.impulses)
        while True:
            out = np.empty((B, 2), dtype=np.float32)
            c1 = c0 + B
            i_start = i
            hits = []
            while i < n_imp and self.impulses[i].frame < c1:
                imp = self.impulses[i]
                if imp.frame == c0:
                    z[imp.first: imp.first + len(imp.amps)] += imp.amps
                else:
                    hits.append((imp.frame - c0, imp.first, imp.amps))
                i += 1
            z = self.bank.render_chunk(z, hits, out)
            if max_ramp:
                i_lo = int(np.searchsorted(self._frames, c0 - max_ramp, side="left"))
                self._add_ramps(c0, out, min(i_lo, i_start), i)
            if self.rubs:
                self._add_rubs(c0, out)
            yield out
            c0 = c1

    def blocks(self, block_frames: int, start_frame: int, stop_frame: int
               ) -> Iterator[np.ndarray]:
        """Yield float32 blocks (n, 2) covering [start_frame, stop_frame).

        Every block has ``block_frames`` frames except possibly the last. Frame k has the same
        value whatever the block size and wherever the iteration started.
        """
        first = start_frame // self.B
        return cut_blocks(self.chunks(first), first * self.B, start_frame, stop_frame,
                          block_frames)


def cut_blocks(chunks: Iterator[np.ndarray], chunks_start: int, start_frame: int,
               stop_frame: int, block_frames: int) -> Iterator[np.ndarray]:
    """Cut consecutive equal-length chunks into blocks of ``block_frames``.

    Parameters
    ----------
    chunks : iterator of ndarray, shape (B, channels)
        Consecutive chunks, the first starting at frame ``chunks_start``.
    chunks_start, start_frame, stop_frame : int
        Frame numbers; blocks cover [start_frame, stop_frame), chunks_start <= start_frame.
    block_frames : int
        Frames per block (the last block may be shorter).
    """
    if block_frames < 1:
        raise ValueError("block_frames must be >= 1")
    chunk = next(chunks)
    B = len(chunk)
    chunk_start = chunks_start
    while start_frame >= chunk_start + B:
        chunk = next(chunks)
        chunk_start += B
    pos = start_frame
    while pos < stop_frame:
        n = min(block_frames, stop_frame - pos)
        if pos - chunk_start + n <= B:  # the common case: inside one chunk
            off = pos - chunk_start
            block = chunk[off: off + n].copy()
            pos += n
        else:
            block = np.empty((n, chunk.shape[1]), dtype=chunk.dtype)
            filled = 0
            while filled < n:
                if pos >= chunk_start + B:
                    chunk = next(chunks)
                    chunk_start += B
                off = pos - chunk_start
                take = min(n - filled, B - off)
                block[filled: filled + take] = chunk[off: off + take]
                filled += take
                pos += take
        if pos >= chunk_start + B and pos < stop_frame:
            chunk = next(chunks)
            chunk_start += B
        yield block
