"""Output formats by file suffix: which libsndfile format, subtype and options to use.

The suffix of the target file picks the format from :data:`FORMATS` (a table, not an
if-chain). A bit depth (``--bit-depth 16|24|32f``) applies to the PCM formats only, a
quality (``--quality 0..1``) to the lossy ones only; anything a format cannot hold is
rejected with one line naming the suffix and what is allowed.

Sample rates accepted by libsndfile 1.2.2 were measured on the development machine:
Opus takes 8, 12, 16, 24 and 48 kHz; MP3 (LAME) takes 8, 11.025, 12, 16, 22.05, 24, 32,
44.1 and 48 kHz; Vorbis and FLAC take 8 to 192 kHz.

A plain WAV file cannot describe more than 4 GiB (its size fields are 32 bits; libsndfile
then silently truncates on read-back), so ``.wav`` becomes RF64 when the estimated size
reaches 4 GiB (:func:`wav_needs_rf64`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

__all__ = [
    "FORMATS",
    "FormatSpec",
    "OutputFormat",
    "DEPTH_SUBTYPES",
    "WAV_LIMIT_BYTES",
    "HEADER_ALLOWANCE_BYTES",
    "estimate_wav_bytes",
    "wav_needs_rf64",
    "resolve_format",
    "allowed_suffixes",
]

#: ``--bit-depth`` values and the libsndfile subtype each one means.
DEPTH_SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}

#: Bits of the PCM subtypes (float and lossy have none: ``None``).
_SUBTYPE_BITS = {"PCM_16": 16, "PCM_24": 24, "FLOAT": None}

#: Bytes per sample of the WAV subtypes, for the size estimate.
_SUBTYPE_BYTES = {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}


#: Largest size a plain RIFF/WAVE file can describe (bytes): its size field is 32 bits.
WAV_LIMIT_BYTES = 2**32

#: Room reserved in the size estimate for headers, tags, cue and label chunks (bytes).
HEADER_ALLOWANCE_BYTES = 1 << 20

_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


@dataclass(frozen=True)
class FormatSpec:
    """One row of the format table.

    Attributes
    ----------
    suffix : str
        Lower-case file suffix with the dot (``".flac"``).
    format : str
        libsndfile major format (``"WAV"``, ``"FLAC"``, ``"OGG"``, ``"MP3"``).
    depths : tuple of str
        Allowed ``--bit-depth`` values (keys of :data:`DEPTH_SUBTYPES`); empty for lossy.
    default_depth : str or None
        Depth used when none is given (PCM formats).
    lossy_subtype : str or None
        The subtype of a lossy format (``"VORBIS"``, ``"OPUS"``, ``"MPEG_LAYER_III"``).
    rates : tuple of int or None
        The only sample rates allowed (Hz), or None for any rate in ``rate_range``.
    rate_range : tuple of int
        Lowest and highest sample rate allowed (Hz) when ``rates`` is None.
    bitrate_mode : str or None
        soundfile ``bitrate_mode`` for lossy formats (MP3 only: libsndfile 1.2.2 refuses
        to set one for Vorbis and Opus, which are variable bit rate anyway).
    compression_range : tuple of float or None
        soundfile ``compression_level`` at quality 0 and at quality 1 (lossy formats).
        libsndfile maps the level differently per codec; measured on stereo 48 kHz audio
        (kbit/s): Vorbis 1.0 -> 67, 0.3 -> 219, 0.0 -> 528; Opus 0.95 -> 34, 0.7 -> 166,
        0.6 -> 216 (0.0 would be 517); MP3 VBR 0.99 -> 65, 0.3 -> 169, 0.0 -> 261 (1.0 is
        refused). The ranges keep quality 0 small and quality 1 transparent without waste.
        MP3 at 32-48 kHz is encoded by LAME directly (:mod:`sointu.rendering.mp3_parallel`)
        with libsndfile's mapping, VBR quality ``-V = 10 * level`` (quality 0.7 -> V2.97),
        but without bit reservoir: measured on session audio, the same signal-to-noise
        ratio at every quality for 5-9 % more bits.
    cue_type : str
        File type named on the FILE line of a CUE sheet. The CUE format only knows WAVE,
        MP3, AIFF, BINARY and MOTOROLA; players read ``WAVE`` for any audio they decode,
        so FLAC and Ogg are declared ``WAVE`` as common tools do.
    label : str
        A short human name.
    default_quality : float or None
        ``--quality`` when none is given (lossy formats), chosen per codec so that all
        three sit at their usual near-transparent setting: Opus 0.45 (level 0.7925, about
        112 kbit/s; libsndfile's Opus is bit-rate driven, so it spends that on any
        music), Vorbis 0.6 (``q6``), MP3 0.8 (LAME ``-V 1.98``). Vorbis and LAME are
        quality driven: on sparse bowl and gong music they spend far less than their
        nominal rates. File sizes per hour are in the README.
    """

    suffix: str
    format: str
    depths: tuple[str, ...]
    default_depth: str | None
    lossy_subtype: str | None
    rates: tuple[int, ...] | None
    rate_range: tuple[int, int]
    bitrate_mode: str | None
    cue_type: str
    label: str
    compression_range: tuple[float, float] | None = None
    default_quality: float | None = None

    def compression_level(self, quality: float) -> float:
        """soundfile ``compression_level`` for a quality 0..1 (linear in the table's range)."""
        worst, best = self.compression_range
        return round(worst + (best - worst) * float(quality), 6)

    @property
    def lossy(self) -> bool:
        return self.lossy_subtype is not None


#: The output formats by suffix.
FORMATS: dict[str, FormatSpec] = {
    spec.suffix: spec
    for spec in (
        FormatSpec(".wav", "WAV", ("16", "24", "32f"), "24", None, None, (1, 2**31 - 1),
                   None, "WAVE", "WAV (RF64 from 4 GiB)"),
        FormatSpec(".flac", "FLAC", ("16", "24"), "24", None, None, (1, 655350),
                   None, "WAVE", "FLAC"),
        FormatSpec(".ogg", "OGG", (), None, "VORBIS", None, (8000, 192000),
                   None, "WAVE", "Ogg Vorbis", (1.0, 0.0), 0.6),
        FormatSpec(".opus", "OGG", (), None, "OPUS", _OPUS_RATES, (8000, 48000),
                   None, "WAVE", "Ogg Opus", (0.95, 0.6), 0.45),
        FormatSpec(".mp3", "MP3", (), None, "MPEG_LAYER_III", _MP3_RATES, (8000, 48000),
                   "VARIABLE", "MP3", "MP3", (0.99, 0.0), 0.8),
    )
}


@dataclass(frozen=True)
class OutputFormat:
    """Everything the writer needs to know about the file to produce.

    Attributes
    ----------
    format : str
        libsndfile major format: ``"WAV"``, ``"RF64"``, ``"FLAC"``, ``"OGG"`` or ``"MP3"``.
    subtype : str
        libsndfile subtype (``"PCM_24"``, ``"FLOAT"``, ``"VORBIS"``, ...).
    suffix : str
        Lower-case suffix with the dot.
    bits : int or None
        16 or 24 for integer PCM; None for float and lossy formats.
    quality : float or None
        0 (smallest) .. 1 (best) for lossy formats; None otherwise.
    needs_dither : bool
        True for 16-bit PCM (the caller's ditherer is applied before writing).
    compression_level : float or None
        soundfile ``compression_level`` for lossy formats (from the quality through
        :attr:`FormatSpec.compression_range`).
    bitrate_mode : str or None
        soundfile ``bitrate_mode`` for lossy formats.
    cue_type : str
        File type for the FILE line of a CUE sheet.
    """

    format: str
    subtype: str
    suffix: str
    bits: int | None
    quality: float | None
    needs_dither: bool
    compression_level: float | None = None
    bitrate_mode: str | None = None
    cue_type: str = "WAVE"

    @property
    def lossy(self) -> bool:
        """True for Vorbis, Opus and MP3."""
        return self.quality is not None

    @property
    def riff(self) -> bool:
        """True for WAV and RF64 (RIFF chunks can be appended)."""
        return self.format in ("WAV", "RF64")

    def soundfile_kwargs(self) -> dict:
        """Keyword arguments for ``soundfile.SoundFile(path, "w", ...)``."""
        kwargs = {"format": self.format, "subtype": self.subtype}
        if self.compression_level is not None:
            kwargs["compression_level"] = self.compression_level
        if self.bitrate_mode is not None:
            kwargs["bitrate_mode"] = self.bitrate_mode
        return kwargs


def allowed_suffixes() -> str:
    """The allowed suffixes as one comma-separated string (``".wav, .flac, ..."``)."""
    return ", ".join(FORMATS)


def estimate_wav_bytes(frames: int, channels: int, bytes_per_sample: int) -> int:
    """Estimated size of a WAV file (bytes): the samples plus a header allowance.

    Parameters
    ----------
    frames : int
        Frames (samples per channel).
    channels : int
        Channels.
    bytes_per_sample : int
        2 for PCM_16, 3 for PCM_24, 4 for FLOAT.

    Returns
    -------
    int
        ``frames * channels * bytes_per_sample + HEADER_ALLOWANCE_BYTES``.
    """
    return int(frames) * int(channels) * int(bytes_per_sample) + HEADER_ALLOWANCE_BYTES


def wav_needs_rf64(frames: int, channels: int, bytes_per_sample: int) -> bool:
    """True when the estimated WAV size reaches 4 GiB, so RF64 must be written.

    Parameters are those of :func:`estimate_wav_bytes`.
    """
    return estimate_wav_bytes(frames, channels, bytes_per_sample) >= WAV_LIMIT_BYTES


def _spec_for(path: Path) -> FormatSpec:
    suffix = path.suffix.lower()
    spec = FORMATS.get(suffix)
    if spec is None:
        shown = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise UsageError(f"{path}: unsupported file type ({shown}); "
                         f"allowed suffixes: {allowed_suffixes()}")
    return spec


def _check_rate(spec: FormatSpec, sample_rate) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int):
        try:
            ok = float(sample_rate).is_integer()
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise UsageError(f"sample rate must be a whole number of Hz, got {sample_rate!r}")
        sample_rate = int(sample_rate)
    if spec.rates is not None:
        if sample_rate not in spec.rates:
            allowed = ", ".join(str(r) for r in spec.rates)
            raise UsageError(f"{spec.suffix} ({spec.label}) cannot be written at "
                             f"{sample_rate} Hz; allowed sample rates: {allowed} Hz")
    else:
        lo, hi = spec.rate_range
        if not lo <= sample_rate <= hi:
            raise UsageError(f"{spec.suffix} ({spec.label}) cannot be written at "
                             f"{sample_rate} Hz; allowed: {lo} to {hi} Hz")
    return sample_rate


def _check_depth(spec: FormatSpec, bit_depth) -> str | None:
    if bit_depth is None:
        return spec.default_depth
    depth = str(bit_depth).strip().lower()
    if spec.lossy:
        raise UsageError(f"{spec.suffix} ({spec.label}) is lossy and has no bit depth; "
                         f"got --bit-depth {bit_depth}; leave it out "
                         f"(bit depths apply to .wav: 16, 24, 32f and .flac: 16, 24)")
    if depth not in spec.depths:
        allowed = ", ".join(spec.depths)
        raise UsageError(f"{spec.suffix} ({spec.label}) cannot hold bit depth {bit_depth!r}; "
                         f"allowed: {allowed}")
    return depth


def _check_quality(spec: FormatSpec, quality) -> float | None:
    if quality is None:
        return spec.default_quality
    lossy = ", ".join(s for s, f in FORMATS.items() if f.lossy)
    if not spec.lossy:
        raise UsageError(f"{spec.suffix} ({spec.label}) is lossless and takes no quality; "
                         f"got --quality {quality}; quality applies to {lossy}")
    try:
        q = float(quality)
    except (TypeError, ValueError):
        q = float("nan")
    if isinstance(quality, bool) or not 0.0 <= q <= 1.0:
        raise UsageError(f"quality for {spec.suffix} must be a number from 0 (smallest) "
                         f"to 1 (best), got {quality!r}")
    return q


def resolve_format(path, bit_depth=None, quality=None, *, sample_rate: int, frames: int,
                   channels: int = 2) -> OutputFormat:
    """Choose format, subtype and options for a target file from its suffix.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its suffix (case-insensitive) picks the format.
    bit_depth : {"16", "24", "32f"} or int or None
        PCM depth for ``.wav`` (16, 24, 32f; default 24) and ``.flac`` (16, 24; default 24).
        Must be None for lossy formats.
    quality : float or None
        0 (smallest file) .. 1 (best sound) for ``.ogg``, ``.opus``, ``.mp3`` (default
        each format's ``default_quality`` in :data:`FORMATS`). Must be None for lossless formats.
    sample_rate : int
        Sample rate of the audio (Hz), checked against what the format accepts.
    frames : int
        Length of the audio (frames), for the WAV -> RF64 decision.
    channels : int
        Channels, for the size estimate.

    Returns
    -------
    OutputFormat

    Raises
    ------
    UsageError
        Unknown suffix, bit depth or quality the format cannot take, or a sample rate the
        format cannot be written at. One line naming the suffix and what is allowed.
    """
    path = Path(path)
    spec = _spec_for(path)
    depth = _check_depth(spec, bit_depth)
    q = _check_quality(spec, quality)
    _check_rate(spec, sample_rate)
    if spec.lossy:
        return OutputFormat(format=spec.format, subtype=spec.lossy_subtype, suffix=spec.suffix,
                            bits=None, quality=q, needs_dither=False,
                            compression_level=spec.compression_level(q),
                            bitrate_mode=spec.bitrate_mode, cue_type=spec.cue_type)
    subtype = DEPTH_SUBTYPES[depth]
    major = spec.format
    if major == "WAV" and wav_needs_rf64(frames, channels, _SUBTYPE_BYTES[subtype]):
        major = "RF64"
    bits = _SUBTYPE_BITS[subtype]
    return OutputFormat(format=major, subtype=subtype, suffix=spec.suffix, bits=bits,
                        quality=None, needs_dither=bits == 16, cue_type=spec.cue_type)
