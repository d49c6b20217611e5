"""Output format table: suffixes, bit depths, quality, sample rates, WAV -> RF64."""

from __future__ import annotations

import mutagen
import numpy as np
import pytest
import soundfile as sf

from sointu.errors import UsageError
from sointu.rendering.formats import (
    FORMATS,
    HEADER_ALLOWANCE_BYTES,
    WAV_LIMIT_BYTES,
    estimate_wav_bytes,
    resolve_format,
    wav_needs_rf64,
)

SR = 48000


def fmt_for(name, bit_depth=None, quality=None, sample_rate=SR, frames=SR * 10):
    return resolve_format(name, bit_depth, quality, sample_rate=sample_rate, frames=frames)


@pytest.mark.parametrize("name, major, subtype, bits, dither", [
    ("a.wav", "WAV", "PCM_24", 24, False),
    ("a.flac", "FLAC", "PCM_24", 24, False),
    ("a.ogg", "OGG", "VORBIS", None, False),
    ("a.opus", "OGG", "OPUS", None, False),
    ("a.mp3", "MP3", "MPEG_LAYER_III", None, False),
    ("A.FLAC", "FLAC", "PCM_24", 24, False),
])
def test_defaults_by_suffix(name, major, subtype, bits, dither):
    fmt = fmt_for(name)
    assert (fmt.format, fmt.subtype, fmt.bits, fmt.needs_dither) == (major, subtype, bits,
                                                                     dither)
    assert fmt.suffix == name[name.rindex("."):].lower()
    lossy = subtype in ("VORBIS", "OPUS", "MPEG_LAYER_III")
    assert (fmt.quality is not None) == lossy
    # the table agrees with what libsndfile can write
    assert subtype in sf.available_subtypes(major)


@pytest.mark.parametrize("name, depth, subtype, bits, dither", [
    ("a.wav", "16", "PCM_16", 16, True),
    ("a.wav", 16, "PCM_16", 16, True),
    ("a.wav", "24", "PCM_24", 24, False),
    ("a.wav", "32f", "FLOAT", None, False),
    ("a.wav", "32F", "FLOAT", None, False),
    ("a.flac", "16", "PCM_16", 16, True),
    ("a.flac", 24, "PCM_24", 24, False),
])
def test_bit_depths(name, depth, subtype, bits, dither):
    fmt = fmt_for(name, bit_depth=depth)
    assert (fmt.subtype, fmt.bits, fmt.needs_dither) == (subtype, bits, dither)


@pytest.mark.parametrize("name, depth, expected", [
    ("a.flac", "32f", [".flac", "allowed: 16, 24"]),
    ("a.flac", "8", [".flac", "allowed: 16, 24"]),
    ("a.wav", "32", [".wav", "allowed: 16, 24, 32f"]),
    ("a.ogg", "16", [".ogg", "no bit depth"]),
    ("a.opus", "24", [".opus", "no bit depth"]),
    ("a.mp3", "32f", [".mp3", "no bit depth"]),
])
def test_rejects_depth_the_format_cannot_hold(name, depth, expected):
    with pytest.raises(UsageError) as info:
        fmt_for(name, bit_depth=depth)
    msg = str(info.value)
    assert "\n" not in msg
    for part in expected:
        assert part in msg


def test_unknown_suffix_lists_allowed():
    for name in ("a.aiff", "a", "a.wav.txt"):
        with pytest.raises(UsageError) as info:
            fmt_for(name)
        msg = str(info.value)
        assert "\n" not in msg
        for suffix in FORMATS:
            assert suffix in msg


def test_quality_only_for_lossy_and_in_range():
    with pytest.raises(UsageError, match=r"\.flac.*quality applies to \.ogg, \.opus, \.mp3"):
        fmt_for("a.flac", quality=0.5)
    with pytest.raises(UsageError, match=r"\.wav"):
        fmt_for("a.wav", quality=0.5)
    for bad in (-0.1, 1.01, float("nan"), "good", True):
        with pytest.raises(UsageError, match="from 0 .* to 1"):
            fmt_for("a.ogg", quality=bad)


def test_quality_maps_to_compression_level_monotonically():
    for suffix in (".ogg", ".opus", ".mp3"):
        levels = [fmt_for("a" + suffix, quality=q).compression_level
                  for q in (0.0, 0.25, 0.5, 0.75, 1.0)]
        assert levels == sorted(levels, reverse=True)  # better quality, less compression
        assert all(0.0 <= c <= 1.0 for c in levels)
    # libsndfile refuses MP3 compression level 1.0: quality 0 must stay below it
    assert fmt_for("a.mp3", quality=0.0).compression_level < 1.0
    assert fmt_for("a.mp3").bitrate_mode == "VARIABLE"
    assert fmt_for("a.ogg").bitrate_mode is None  # libsndfile refuses one for Vorbis
    assert fmt_for("a.opus").bitrate_mode is None


def test_quality_changes_the_size(tmp_path):
    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal((SR, 2))).astype(np.float32)
    sizes, errors = [], []
    for q in (0.0, 1.0):
        fmt = fmt_for("a.ogg", quality=q)
        p = tmp_path / f"q{q}.ogg"
        with sf.SoundFile(p, "w", SR, 2, **fmt.soundfile_kwargs()) as f:
            f.write(x)
        sizes.append(p.stat().st_size)
        y, rate = sf.read(p, dtype="float32")
        assert rate == SR and y.shape == x.shape
        errors.append(float(np.mean(np.square(y - x))))
    assert sizes[1] > 3 * sizes[0]
    assert errors[1] < errors[0] / 10  # the larger file is the closer copy


def _tone(rate: int) -> np.ndarray:
    """0.5 s of stereo: 1000 Hz on the left, 500 Hz on the right, both at amplitude 0.25."""
    t = np.arange(rate // 2) / rate
    return 0.25 * np.stack([np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 500 * t)],
                           axis=1).astype(np.float32)


def _assert_tone_read_back(path, rate: int):
    """``path`` decodes to :func:`_tone` at ``rate``: length, rate, channels, pitch, level."""
    y, got_rate = sf.read(path, dtype="float64")
    assert got_rate == rate and y.shape == (rate // 2, 2)
    info = mutagen.File(path).info
    assert info.channels == 2 and info.length == pytest.approx(0.5, abs=1e-3)
    window = np.hanning(len(y))[:, None]
    peaks = np.argmax(np.abs(np.fft.rfft(y * window, axis=0)), axis=0) * rate / len(y)
    np.testing.assert_allclose(peaks, [1000.0, 500.0], atol=rate / len(y))
    middle = y[len(y) // 4: -len(y) // 4]  # away from the codec's start and end
    level_db = 20 * np.log10(np.sqrt(np.mean(np.square(middle), axis=0)) / (0.25 / np.sqrt(2)))
    assert np.all(np.abs(level_db) < 1.0), level_db


@pytest.mark.parametrize("rate", [8000, 12000, 16000, 24000, 48000])
def test_opus_rates_accepted_and_writable(tmp_path, rate):
    fmt = fmt_for("a.opus", sample_rate=rate)
    with sf.SoundFile(tmp_path / "a.opus", "w", rate, 2, **fmt.soundfile_kwargs()) as f:
        f.write(_tone(rate))
    _assert_tone_read_back(tmp_path / "a.opus", rate)


@pytest.mark.parametrize("rate", [11025, 22050, 32000, 44100, 96000])
def test_opus_other_rates_rejected(rate):
    with pytest.raises(UsageError) as info:
        fmt_for("a.opus", sample_rate=rate)
    msg = str(info.value)
    assert f"{rate} Hz" in msg and ".opus" in msg
    assert "8000, 12000, 16000, 24000, 48000" in msg


@pytest.mark.parametrize("rate", [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100,
                                  48000])
def test_mp3_rates_accepted_and_writable(tmp_path, rate):
    fmt = fmt_for("a.mp3", sample_rate=rate)
    with sf.SoundFile(tmp_path / "a.mp3", "w", rate, 2, **fmt.soundfile_kwargs()) as f:
        f.write(_tone(rate))
    _assert_tone_read_back(tmp_path / "a.mp3", rate)
    assert mutagen.File(tmp_path / "a.mp3").info.sample_rate == rate


@pytest.mark.parametrize("rate", [88200, 96000, 192000, 7999])
def test_mp3_other_rates_rejected(rate):
    with pytest.raises(UsageError, match=rf"\.mp3 .*{rate} Hz.*44100, 48000 Hz"):
        fmt_for("a.mp3", sample_rate=rate)


def test_bad_sample_rates_rejected():
    for rate in (0, -48000, 48000.5, "fast"):
        with pytest.raises(UsageError):
            fmt_for("a.wav", sample_rate=rate)
    with pytest.raises(UsageError, match=r"\.ogg .* 8000 to 192000 Hz"):
        fmt_for("a.ogg", sample_rate=384000)
    assert fmt_for("a.flac", sample_rate=96000).format == "FLAC"


def test_rf64_estimate():
    assert estimate_wav_bytes(100, 2, 3) == 600 + HEADER_ALLOWANCE_BYTES
    # exactly at the limit -> RF64; one byte below -> WAV
    data = WAV_LIMIT_BYTES - HEADER_ALLOWANCE_BYTES
    assert wav_needs_rf64(data // 4, 1, 4)
    assert not wav_needs_rf64(data // 4 - 1, 1, 4)
    # 60 minutes stereo 48 kHz 24-bit (~1 GB) stays WAV; 3.2 h float stereo needs RF64
    assert fmt_for("a.wav", frames=SR * 3600).format == "WAV"
    assert fmt_for("a.wav", bit_depth="32f", frames=int(SR * 3.2 * 3600)).format == "RF64"
    assert fmt_for("a.wav", bit_depth="32f", frames=int(SR * 3.2 * 3600)).riff
    # 16-bit stereo 48 kHz: 6.5 h is 4.49e9 bytes (> 4 GiB = 4.29e9) -> RF64; 6 h is 4.15e9
    assert fmt_for("a.wav", bit_depth="16", frames=int(SR * 6.5 * 3600)).format == "RF64"
    assert fmt_for("a.wav", bit_depth="16", frames=SR * 6 * 3600).format == "WAV"
    # FLAC never becomes RF64
    assert fmt_for("a.flac", frames=SR * 24 * 3600).format == "FLAC"
