"""One stroke of an instrument: its spectrogram with the partials marked, and their decays.

Two panels sharing a time axis in seconds:

- the spectrogram of the stroke as rendered (left and right summed), in dB, with every
  partial of the instrument's preset marked at its frequency on the right-hand edge;
- the level of each of the loudest partials of the stroke over time (dB re the loudest
  partial's peak), read from the same spectrogram around the partial's frequency: the decay, the
  bloom of a gong's upper partials and the beating of a bowl's doublets as they sound.

:func:`strike_figure` returns the Figure; :func:`plot_strike` saves it.
"""

from __future__ import annotations

import numpy as np

from .labels import labels
from .session import OKABE_ITO, _rc

__all__ = ["partials_hz", "partial_levels", "strike_figure", "plot_strike", "DECAY_LINES",
           "MAX_PLOT_S"]

#: Partials whose decay is drawn (the loudest in the stroke).
DECAY_LINES = 8
#: Spectrogram frame and hop (s): 0.17 s frames resolve doublets ~6 Hz apart.
_FRAME_S = 0.17
_HOP_S = 0.05
_RANGE_DB = 90.0
#: Most spectrogram frames computed (memory: 4097 bins x 4000 frames x 8 bytes = 130 MB).
_MAX_FRAMES = 4000
#: Longest sound drawn (s).
MAX_PLOT_S = 900.0


def partials_hz(instrument, sample_rate: int) -> list[tuple[float, float]]:
    """``(freq_hz, gain_db)`` of every partial of every body under 0.45 x the sample rate,
    lowest first."""
    out = []
    for note in instrument.notes_hz:
        for ratio, gain in zip(instrument.ratio, instrument.gain_db, strict=True):
            f = note * ratio
            if f < 0.45 * sample_rate:
                out.append((float(f), float(gain)))
    return sorted(out)


def _spectrogram(samples: np.ndarray, sample_rate: int):
    """Power spectrogram of the mono sum: (times_s, freqs_hz, power[freq, time])."""
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    n = 1 << int(np.ceil(np.log2(_FRAME_S * sample_rate)))
    if x.shape[0] < n:
        x = np.pad(x, ((0, n - x.shape[0]), (0, 0)))
    # every 50 ms, or fewer frames for a long sound: at most _MAX_FRAMES of them
    hop = max(1, int(_HOP_S * sample_rate), -(-(x.shape[0] - n) // _MAX_FRAMES))
    count = 1 + (x.shape[0] - n) // hop
    window = np.hanning(n).astype(np.float32)
    power = np.empty((n // 2 + 1, count))
    batch = 256
    for i in range(0, count, batch):  # the mono sum made a batch of frames at a time
        k = min(batch, count - i)
        mono = x[i * hop:(i + k - 1) * hop + n].sum(axis=1, dtype=np.float32)
        frames = np.lib.stride_tricks.as_strided(
            mono, shape=(k, n), strides=(hop * mono.strides[0], mono.strides[0]),
            writeable=False)
        spec = np.fft.rfft(frames * window, axis=1)
        power[:, i:i + k] = (spec.real ** 2 + spec.imag ** 2).T
    times = (np.arange(count) * hop + n / 2) / sample_rate
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    return times, freqs, power


def partial_levels(samples: np.ndarray, sample_rate: int, freqs_hz, *,
                   spectrogram=None) -> tuple[np.ndarray, np.ndarray]:
    """Level of each partial over time (dB re the highest level of any of them).

    The power in the spectrogram bins within +-3 bins of each frequency (a doublet's two
    halves together, so their beating shows), every 50 ms.

    Returns
    -------
    times_s : numpy.ndarray, shape (frames,)
    levels_db : numpy.ndarray, shape (len(freqs_hz), frames)

    ``spectrogram`` is ``(times, freqs, power)`` when already computed.
    """
    times, freqs, power = spectrogram or _spectrogram(samples, sample_rate)
    df = freqs[1]
    rows = []
    for f in freqs_hz:
        k = int(round(f / df))
        rows.append(power[max(k - 3, 0):k + 4].sum(axis=0))
    p = np.array(rows)
    ref = max(float(p.max()), 1e-30)
    with np.errstate(divide="ignore"):
        return times, 10.0 * np.log10(np.maximum(p / ref, 1e-12))


def strike_figure(instrument, samples: np.ndarray, sample_rate: int, *,
                  title: str | None = None, lang: str = "en"):
    """The stroke picture as a matplotlib Figure (1600 x 900 pixels at 100 dpi).

    Parameters
    ----------
    instrument : Instrument
        The instrument struck (its partials are marked).
    samples : numpy.ndarray, shape (n, 2) or (n,)
        The stroke as rendered, full scale 1.0.
    sample_rate : int
        Hz.
    title : str, optional
        Default: the instrument's name, family and fundamental.
    lang : str
        The language of its words: ``"en"`` or ``"fi"``.

    Returns
    -------
    matplotlib.figure.Figure
        Artists carry a ``gid``: ``spectrogram``, ``partial:FREQ`` (one marker per partial)
        and ``decay:FREQ`` (one line per partial drawn).
    """
    import matplotlib
    import matplotlib.ticker
    from matplotlib.figure import Figure

    words = labels(lang)
    partials = partials_hz(instrument, sample_rate)
    times, freqs, power = _spectrogram(samples, sample_rate)
    low_hz = max(20.0, 0.7 * min(f for f, _ in partials))
    top_hz = min(0.45 * sample_rate, max(f for f, _ in partials) * 1.3)
    keep = (freqs >= low_hz * 0.9) & (freqs <= top_hz * 1.05)
    # at most ~800 columns (the loudest frame of each group): enough for 1600 pixels
    group = max(1, -(-times.size // 800))
    cut = times.size // group * group
    if cut:
        times = times[:cut].reshape(-1, group).mean(axis=1)
        power = power[:, :cut].reshape(power.shape[0], -1, group).max(axis=2)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(np.maximum(power[keep], 1e-30))
    peak = float(db.max())
    # the partials that sounded loudest in this stroke (a chime's cascade strikes only some
    # of its rods; a mallet's hardness shifts the balance)
    t, all_levels = partial_levels(samples, sample_rate, [f for f, _ in partials],
                                   spectrogram=(times, freqs, power))
    loudest = np.argsort(-all_levels.max(axis=1), kind="stable")[:DECAY_LINES]
    picked = sorted(int(i) for i in loudest)
    strongest = [partials[i] for i in picked]
    levels = all_levels[picked]
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(16.0, 9.0), dpi=100)
        fig.subplots_adjust(left=0.07, right=0.80, top=0.90, bottom=0.08, hspace=0.12)
        spec_ax, decay_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        image = spec_ax.pcolormesh(times, freqs[keep], db - peak, cmap="magma",
                                   vmin=-_RANGE_DB, vmax=0.0, shading="nearest",
                                   rasterized=True, gid="spectrogram")
        spec_ax.set_yscale("log")
        spec_ax.set_ylim(low_hz, top_hz)
        ticks = [t for t in (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
                 if low_hz <= t <= top_hz]
        spec_ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
        spec_ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_hz))
        spec_ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        spec_ax.set_ylabel(words("frequency"))
        colour = {f: OKABE_ITO[i % len(OKABE_ITO)] for i, (f, _) in enumerate(strongest)}
        for f, _ in partials:
            spec_ax.plot([1.0], [f], transform=spec_ax.get_yaxis_transform(), marker="<",
                         markersize=11, color=colour.get(f, "#FFFFFF"), clip_on=False,
                         markeredgecolor="#000000", gid=f"partial:{f:.2f}")
        spec_ax.set_title(words("spectrogram"), loc="left", fontsize=14)
        box = spec_ax.get_position()  # beside the panel, so both panels keep one width
        bar = fig.colorbar(image, cax=fig.add_axes((0.855, box.y0, 0.012, box.height)))
        bar.set_label(words("level_peak"))
        for (f, _), row in zip(strongest, levels, strict=True):
            decay_ax.plot(t, row, color=colour[f], lw=1.6, gid=f"decay:{f:.2f}",
                          label=words("partial_hz", hz=words.number(f, ".1f")))
        decay_ax.set_ylim(-_RANGE_DB + 10.0, 3.0)
        decay_ax.set_ylabel(words("level_loudest"))
        decay_ax.set_xlabel(words("time_seconds"))
        decay_ax.grid(color="#CCCCCC", lw=0.8)
        decay_ax.set_xlim(times[0], times[-1])
        words.ticks(decay_ax, bar.ax)
        decay_ax.set_title(words("decays", count=len(strongest)), loc="left", fontsize=14)
        decay_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                        borderaxespad=0.0, title=words("partial"))
        fig.suptitle(title or words("strike_title", name=instrument.name,
                                    family=words.family(instrument.family),
                                    hz=words.number(instrument.fundamental_hz, ".1f"),
                                    count=len(partials)),
                     fontsize=18, fontweight="bold")
    return fig


def _hz(value, _pos) -> str:
    return f"{value:g}"


def plot_strike(path, instrument, samples: np.ndarray, sample_rate: int, *,
                title: str | None = None, lang: str = "en"):
    """Draw the stroke picture and save it to ``path`` (.png, .svg or .pdf), atomically."""
    from .files import save_figure

    return save_figure(strike_figure(instrument, samples, sample_rate, title=title, lang=lang),
                       path)
