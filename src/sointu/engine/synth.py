"""The block generator: scheduled strokes and rubs on a modal bank, rendered chunk by chunk.

Audio is computed in fixed chunks on an absolute grid (chunk c covers frames c*B .. c*B+B-1);
strokes land on their exact frame inside a chunk. Blocks of any size are cut from those
chunks, so the samples never depend on the block size, and a render that starts in the middle
(live ``--start-at``) computes the bank state at that chunk in closed form from the strokes
before it: the model is linear, so nothing before has to be rendered. A strike's transient
(:mod:`.transient`) and its late tail in the room are rendered whole from the strike's seed
and added where they overlap a chunk, so they too are the same from any start.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .bank import ModalBank
from .hrtf import convolve
from .room import RoomTail
from .transient import (
    Transient,
    mix_weights,
    quantised_cutoff,
    stroke_mono,
    stroke_template,
    template_key,
    transient_frames,
)

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
    A(n) = (1 - exp(-t/build_s))^2 (1 - depth (1 - cos(2 pi pulse_hz t + W(t))) / 2), t = seconds
    since start, and W(t) = wobble_rad sin(2 pi wobble_hz t + wobble_phase): the hand's
    slightly irregular speed. At release the tone is handed to the bank (``handoff`` shares it
    between the modes of each partial) and rings out with the bowl's own decay, continuous in
    amplitude and phase.

    The friction adds, while rubbing only (faded out over the last 20 ms before release):
    ``harmonics`` (amplitudes re the strongest lead's drive) at 2, 3, ... times its frequency,
    and scraping noise (``noise_amp`` re the same, band ``noise_hz``) following A(n), seeded
    per chunk by ``seed`` (the same samples from any start).
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
    wobble_rad: float = 0.0
    wobble_hz: float = 0.25
    wobble_phase: float = 0.0
    harmonics: tuple[float, ...] = ()
    noise_amp: float = 0.0
    noise_hz: tuple[float, float] = (800.0, 6000.0)
    seed: int = 0


#: Bytes of what a Synth makes once per transient template and keeps: unit room tails
#: (treatment room 296 kB each, hall 1 MB) and, on headphones, the variants heard through
#: the ears; the least recently used is dropped beyond it and made again if asked for.
_MADE_BYTES = 32 << 20
#: Frames between exact evaluations of a wobbling rub's pulsation (interpolated between).
_PULSE_STEP = 256
#: Length (frames) of a rub's scraping-noise loop: 5.5 s at 48 kHz, long enough not to be
#: heard repeating 40 dB under the tone while the hand's pulsation moves over it.
_NOISE_LOOP = 1 << 18


class _Kept:
    """Arrays made once and kept by key, the least recently used dropped beyond a size."""

    def __init__(self, limit_bytes: int):
        self.limit = limit_bytes
        self.size = 0
        self._items: OrderedDict = OrderedDict()

    def get(self, key):
        got = self._items.get(key)
        if got is not None:
            self._items.move_to_end(key)
        return got

    def put(self, key, value: np.ndarray) -> np.ndarray:
        self._items[key] = value
        self.size += value.nbytes
        while self.size > self.limit and len(self._items) > 1:
            self.size -= self._items.popitem(last=False)[1].nbytes
        return value


class _Ahead:
    """What the strokes already started add to the chunks to come: a ring of float32 stereo
    frames, a whole number of chunks long, covering the current chunk and the longest reach
    of a stroke beyond it.

    A stroke is added whole when its chunk comes (one operation per part instead of one per
    chunk it overlaps); frame x sits at x modulo the length. Every frame receives its
    strokes in the order of the strokes, from any starting chunk, so the sums (and the
    samples) are the same however the iteration started.
    """

    def __init__(self, chunk: int, reach: int):
        self.B = chunk
        self.size = chunk * (-(-(chunk + reach) // chunk))
        self.buf = np.zeros((self.size, 2), dtype=np.float32)
        self.until = 0  # no frame from here on holds anything
        self.next = 0  # the next stroke to add (index into the Synth's transients)

    def add(self, frame: int, first: int, sound: np.ndarray, gain: float | None = None,
            ch: int | None = None) -> None:
        """Add ``sound`` (n, 2) starting at ``frame``, times ``gain``, from frame ``first``;
        given ``ch``, mono ``sound`` (n,) to that channel only (the same sums as a stereo
        sound holding zeros in the other: adding zero changes no frame here)."""
        skip = max(first - frame, 0)
        x = frame + skip
        part = sound[skip:]
        n = len(part)
        if n <= 0:
            return
        if gain is not None:
            part = np.float32(gain) * part
        buf = self.buf if ch is None else self.buf[:, ch]
        p = x % self.size
        head = min(n, self.size - p)
        buf[p: p + head] += part[:head]
        if head < n:
            buf[: n - head] += part[head:]
        self.until = max(self.until, x + n)

    def take(self, c0: int, out: np.ndarray) -> None:
        """Add the chunk from frame ``c0`` to ``out`` and clear it for the frames to come."""
        if c0 >= self.until:
            return
        p = c0 % self.size
        part = self.buf[p: p + self.B]
        out += part
        part[:] = 0.0


def _noise_loop(r: RubVoice, sample_rate: int) -> np.ndarray:
    """A rub's scraping noise: seeded, band-shaped, circular (seamless), RMS ``noise_amp``."""
    rng = np.random.default_rng([r.seed, 0x5C2A])
    f = np.fft.rfftfreq(_NOISE_LOOP, 1.0 / sample_rate).astype(np.float32)
    lo_hz, hi_hz = r.noise_hz
    shape = (f / lo_hz) ** 2 / (1.0 + (f / lo_hz) ** 2) / (1.0 + (f / hi_hz) ** 4)
    spec = np.fft.rfft(rng.standard_normal(_NOISE_LOOP, dtype=np.float32))  # float32 all
    spec *= shape  # through: a 1 MB loop, not 10 MB of temporaries
    y = np.fft.irfft(spec, _NOISE_LOOP)
    y *= np.float32(r.noise_amp / np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    return y


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
    transients : sequence of Transient
        Strike transients (mallet noise and the burst of high modes).
    tail : RoomTail or None
        The room's late tail of a unit transient per band; None: no tail.
    tone : ndarray, float32, shape (n, 2), or None
        A room-tone loop played under everything (frame k plays ``tone[k % n]``).
    """

    def __init__(self, bank: ModalBank, impulses=(), rubs=(), transients=(),
                 tail: RoomTail | None = None, tone: np.ndarray | None = None):
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
        self.transients: list[Transient] = sorted(transients, key=lambda t: t.frame)
        self._tr_frames = np.array([t.frame for t in self.transients], dtype=np.int64)
        self.tail = tail
        self.tone = tone
        self._made = _Kept(_MADE_BYTES)  # unit tails and heard variants, per template
        self._templates: dict = {}  # see _template
        self._tr_ends = np.array([t.frame + self._reach(t) for t in self.transients],
                                 dtype=np.int64)
        self._tr_reach = int((self._tr_ends - self._tr_frames).max()) if self.transients else 0

    # -- rubs ----------------------------------------------------------------------------

    def _envelope(self, r: RubVoice, n: np.ndarray) -> np.ndarray:
        t = (n - r.start) / self.sample_rate
        build = (1.0 - np.exp(-t / r.build_s)) ** 2
        return build * (1.0 - 0.5 * r.depth * (1.0 - self._pulse(r, np.asarray(n))))

    def _pulse(self, r: RubVoice, n: np.ndarray) -> np.ndarray:
        """cos of the stick's pulsation phase at frames ``n`` (any order).

        The phase is 2 pi pulse_hz t + W(t), W the hand's slow wobble; with a wobble it is
        evaluated every _PULSE_STEP frames from the rub's start and interpolated linearly
        (the pulsation is a few hertz: the error is below 1e-3 of it), the same for any
        frames asked, so the chunks and the release agree.
        """
        fs = self.sample_rate
        if not r.wobble_rad:
            return np.cos(2 * np.pi * r.pulse_hz * (n - r.start) / fs)
        rel = n - r.start
        grid = np.arange(int(rel.min()) // _PULSE_STEP, int(rel.max()) // _PULSE_STEP + 2)
        t = grid * (_PULSE_STEP / fs)
        phase = 2 * np.pi * r.pulse_hz * t + r.wobble_rad * np.sin(
            2 * np.pi * r.wobble_hz * t + r.wobble_phase)
        return np.interp(rel, grid * _PULSE_STEP, np.cos(phase))

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
            if r.wobble_rad:
                pulse = self._pulse(r, np.arange(lo, hi))
            else:
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
            if r.harmonics or r.noise_amp:
                tone += self._friction(r, index, lo, hi, env)
                if hi == r.release:  # nor its noise loop
                    self._tables.pop(("noise", index), None)
            out[lo - c0: hi - c0] += tone.astype(np.float32)

    def _friction(self, r: RubVoice, index: int, lo: int, hi: int, env: np.ndarray
                  ) -> np.ndarray:
        """Harmonics of the sung tone and scraping noise of rub ``index`` (``r``) in frames
        lo..hi-1, (hi - lo, 2): present while rubbing, faded out before release."""
        fs = self.sample_rate
        n = hi - lo
        m = int(np.argmax(r.drive))
        mode = r.first + m
        g = self.bank.gains[:, mode]
        w = float(self.bank.log_pole[mode].imag)
        amp = env * r.drive[m]
        fade_n = int(0.02 * fs)
        if r.release - hi < fade_n:
            amp = amp * np.clip((r.release - np.arange(lo, hi)) / fade_n, 0.0, 1.0)
        noise = None
        if r.noise_amp:
            loop = self._tables.get(("noise", index))
            if loop is None:
                # loops of rubs already over (an iteration that stopped inside one) go first
                for key in [k for k in self._tables if k[0] == "noise"
                            and self.rubs[k[1]].release <= lo]:
                    self._tables.pop(key, None)
                loop = _noise_loop(r, fs)
                self._tables[("noise", index)] = loop
            p0 = (lo - r.start) % len(loop)
            noise = loop[p0: p0 + n]
            if len(noise) < n:  # wraps around the loop's end
                noise = np.concatenate([noise, loop[: n - len(noise)]])
        out = np.empty((n, 2))
        for ch in range(2):
            y = noise * abs(g[ch]) if noise is not None else np.zeros(n)
            for k, h in enumerate(r.harmonics, start=2):
                if k * w >= np.pi * 0.9:
                    break
                cos_w, sin_w = self._rub_tables(("harm", mode, k), k * w)
                b = (k * (w * lo + r.phase)) + float(np.angle(g[ch]))
                a = h * abs(g[ch])
                y += (a * np.sin(b)) * cos_w[:n]
                y += (a * np.cos(b)) * sin_w[:n]
            out[:, ch] = y * amp
        return out

    # -- strokes -------------------------------------------------------------------------

    def _add_ramps(self, c0: int, out: np.ndarray, i_lo: int, i_hi: int,
                   landed: dict | None = None) -> None:
        """Fade in the impulses i_lo .. i_hi-1 whose ramps overlap this chunk.

        ``landed`` maps id(impulse) to the samples the bank computed for it in the row where
        it landed in this chunk (:meth:`ModalBank.render_chunk`'s ``responses``): its free
        response from its frame on, so a fade inside them uses them instead of a second
        product (a slice of the same product: equal to the bit to the shorter one with the
        bundled OpenBLAS; elsewhere the samples are still the same from any start, since
        every start takes the same path).
        """
        c1 = c0 + len(out)
        for imp in self.impulses[i_lo:i_hi]:
            span = imp.span
            if imp.ramp == 0 or imp.frame + span <= c0 or imp.frame >= c1:
                continue
            lo, hi = max(imp.frame, c0), min(imp.frame + span, c1)
            fade = self._fade(imp.ramp, imp.lag)[lo - imp.frame: hi - imp.frame]
            row = landed.get(id(imp)) if landed else None
            if row is not None and hi - imp.frame <= len(row):  # lo == imp.frame here
                y = row[: hi - lo] * fade
            else:
                y = self._response(imp, lo - imp.frame, hi - imp.frame)
                y *= fade
            # response * (fade - 1): removes what the bank played beyond the fade
            out[lo - c0: hi - c0] += y

    def _fade(self, ramp: int, lag: tuple[int, int]) -> np.ndarray:
        """Raised-cosine fade-in minus one over a ramp's span, float32 (span, 2): -1 while a
        channel's onset is held back (``lag``), rising to 0 over ``ramp`` frames; made once
        per (ramp, lag)."""
        key = ("fade", ramp, lag)
        got = self._tables.get(key)
        if got is None:
            t = np.arange(ramp + max(lag))
            got = np.empty((len(t), 2), dtype=np.float32)
            for ch, held in enumerate(lag):
                u = np.clip(t - held, 0, ramp)
                got[:, ch] = (-0.5 - 0.5 * np.cos(np.pi * u / ramp)).astype(np.float32)
            self._tables[key] = got
        return got

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

    # -- transients ----------------------------------------------------------------------

    def _reach(self, tr: Transient) -> int:
        """Frames from a transient's start to the end of its sound (tail included)."""
        n = transient_frames(tr.style, self.sample_rate) + max(tr.delay)
        if tr.impulse is not None:
            n = transient_frames(tr.style, self.sample_rate) + len(tr.impulse) - 1
        if tr.tail and self.tail is not None:
            n = max(n, self.tail.frames)
        return n

    def transient_sound(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Transient ``index``: its direct sound, float32 (n, 2), and the amplitudes of
        the room's tail bands (None without a tail). Deterministic."""
        tr = self.transients[index]
        tmpl = self._template(tr)
        direct = self._direct(tr, tmpl)
        weights = None
        if tr.tail and self.tail is not None:
            weights = (tmpl.band_amps * (tr.tail * tr.level)).astype(np.float32)
        return direct, weights

    def _direct(self, tr: Transient, tmpl) -> np.ndarray:
        """A stroke's direct sound, float32 (n, 2): its click and its mix of the template's
        two variants (:func:`~sointu.engine.transient.stroke_mono`), placed."""
        if tr.impulse is not None:  # headphones: heard through the head's responses
            heard = self._heard_parts(tr, tmpl)
            g = tr.direct[0]
            a, b = mix_weights(tr)
            direct = np.float32(a * g) * heard[0]
            direct += np.float32(b * g) * heard[1]
            direct += np.float32(tr.level * g) * heard[2]
            for ch, lag in enumerate(tr.delay):  # the far ear's onset held back
                direct[:lag, ch] = 0.0
            return direct
        mono = stroke_mono(tr, tmpl)
        d0, d1 = tr.delay
        n = len(mono)
        direct = np.zeros((n + max(d0, d1), 2), dtype=np.float32)
        np.multiply(mono, np.float32(tr.direct[0]), out=direct[d0: d0 + n, 0])
        np.multiply(mono, np.float32(tr.direct[1]), out=direct[d1: d1 + n, 1])
        return direct

    def _heard_parts(self, tr: Transient, tmpl) -> np.ndarray:
        """Headphones: the template's two variants and its click convolved with the
        placement's ears, float32 (3, n + L - 1, 2), made once per template and direction."""
        key = ("heard", template_key(tr), id(tr.impulse))  # the Transient keeps it alive
        got = self._made.get(key)
        if got is None:
            n = tmpl.variants.shape[1]
            click = np.zeros(n)
            click[: len(tmpl.click)] = tmpl.click
            got = np.stack([convolve(v, None, self.sample_rate, impulse=tr.impulse)
                            for v in (*tmpl.variants.astype(float), click)])
            got = self._made.put(key, got.astype(np.float32))
        return got

    def _tail_shape(self, tmpl) -> np.ndarray:
        """The room's late tail of a unit-level stroke of template ``tmpl``, float32 (n, 2):
        its bands weighted by the template's band amplitudes, made once per template (kept
        by the template's identity: ``_template`` keeps every template alive)."""
        key = ("tail", id(tmpl))
        got = self._made.get(key)
        if got is None:
            amps = tmpl.band_amps.astype(np.float32)
            bands = self.tail.bands
            got = self._made.put(key, (amps @ bands.reshape(len(bands), -1)).reshape(-1, 2))
        return got

    def _start_transients(self, c0: int, c1: int, ahead: _Ahead) -> None:
        """Add every stroke starting before ``c1`` that still sounds at ``c0`` and has not
        been added yet, whole (direct sound and tail), to ``ahead``; frames before ``c0``
        are left out."""
        k = ahead.next
        frames, ends = self._tr_frames, self._tr_ends
        while k < len(frames) and frames[k] < c1:
            if ends[k] > c0:
                tr = self.transients[k]
                f = int(frames[k])
                tmpl = self._template(tr)
                if tr.impulse is None:  # each channel on its own: no stereo copy to fill
                    mono = stroke_mono(tr, tmpl)
                    for ch in (0, 1):
                        ahead.add(f + tr.delay[ch], c0, mono, tr.direct[ch], ch)
                else:
                    ahead.add(f, c0, self._direct(tr, tmpl))
                if tr.tail and self.tail is not None:
                    ahead.add(f, c0, self._tail_shape(tmpl), tr.tail * tr.level)
            k += 1
        ahead.next = k

    def _template(self, tr: Transient):
        """``stroke_template(tr)``, looked up by the identity of its style (a dataclass's
        hash and equality cost several microseconds a stroke)."""
        key = (id(tr.style), tr.instrument, quantised_cutoff(tr.cutoff_hz), tr.contact_s)
        got = self._templates.get(key)
        if got is None:
            got = self._templates[key] = stroke_template(tr, self.sample_rate)
        return got

    def _add_tone(self, c0: int, out: np.ndarray) -> None:
        """Add the room-tone loop (frame k plays tone[k % n])."""
        idx = (c0 + np.arange(len(out))) % len(self.tone)
        out += self.tone[idx]

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
        ahead = None
        if self.transients:
            ahead = _Ahead(B, self._tr_reach)
            ahead.next = int(np.searchsorted(self._tr_frames, c0 - self._tr_reach, side="left"))
        while True:
            out = np.empty((B, 2), dtype=np.float32)
            c1 = c0 + B
            i_start = i
            hits, hit_ids = [], []
            while i < n_imp and self.impulses[i].frame < c1:
                imp = self.impulses[i]
                if imp.frame == c0:
                    z[imp.first: imp.first + len(imp.amps)] += imp.amps
                else:
                    hits.append((imp.frame - c0, imp.first, imp.amps))
                    hit_ids.append(id(imp))
                i += 1
            responses = [] if max_ramp and hits else None
            z = self.bank.render_chunk(z, hits, out, responses)
            if max_ramp:
                i_lo = int(np.searchsorted(self._frames, c0 - max_ramp, side="left"))
                self._add_ramps(c0, out, min(i_lo, i_start), i,
                                dict(zip(hit_ids, responses, strict=True)) if responses else None)
            if self.rubs:
                self._add_rubs(c0, out)
            if ahead is not None:
                self._start_transients(c0, c1, ahead)
                ahead.take(c0, out)
            if self.tone is not None:
                self._add_tone(c0, out)
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
