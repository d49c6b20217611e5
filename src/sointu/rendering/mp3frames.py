"""MPEG audio Layer III frames: headers, side info, and the Xing/LAME tag of a joined stream.

Just enough of ISO/IEC 11172-3 and 13818-3 to cut an encoder's output into frames and to
describe a stream made of frames of several encoders:

* :func:`parse_header` reads the 4-byte frame header (sync 0xFFE, version, bit rate,
  sample rate, padding) and gives the frame's length in bytes and in samples;
* :func:`main_data_begin` reads the first field of the side info: how many bytes before the
  frame its main data starts (the bit reservoir). A frame whose value is 0 carries all of
  its main data itself, so it can follow a frame of another encoder;
* :class:`FrameSplitter` turns the bytes an encoder hands out, in whatever pieces, into
  whole frames;
* :func:`info_frame` builds the first frame of a VBR stream: a silent frame carrying a
  Xing header (frame count, byte count, 100-entry seek table) and a LAME extension (encoder
  delay and padding, which gapless decoders such as mpg123 use to give back exactly the
  encoded length).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "FrameHeader",
    "parse_header",
    "main_data_begin",
    "FrameSplitter",
    "crc16",
    "info_frame",
    "INFO_FRAME_MIN_BYTES",
]

# bit rates (kbit/s) of Layer III by index: MPEG-1, MPEG-2/2.5
_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# sample rates (Hz) by version bits (0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1) and index
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}

#: Bytes a frame needs to hold :func:`info_frame`'s Xing header and LAME extension (MPEG-1
#: stereo: 4 header + 32 side info + 120 Xing + 36 LAME).
INFO_FRAME_MIN_BYTES = 192


@dataclass(frozen=True)
class FrameHeader:
    """One Layer III frame header.

    Attributes
    ----------
    mpeg1 : bool
        MPEG-1 (32, 44.1, 48 kHz; 1152 samples a frame) rather than MPEG-2/2.5 (576).
    protected : bool
        A 16-bit CRC follows the header.
    bitrate_kbps : int
        Bit rate of this frame (kbit/s).
    sample_rate : int
        Hz.
    padding : int
        0 or 1 byte of padding.
    channels : int
        1 (mono) or 2.
    length : int
        Bytes of the whole frame, header included.
    samples : int
        Samples per channel the frame decodes to.
    """

    mpeg1: bool
    protected: bool
    bitrate_kbps: int
    sample_rate: int
    padding: int
    channels: int
    length: int
    samples: int

    @property
    def side_info_bytes(self) -> int:
        """Bytes of side info after the header (and CRC)."""
        if self.mpeg1:
            return 17 if self.channels == 1 else 32
        return 9 if self.channels == 1 else 17


def parse_header(data, pos: int = 0) -> FrameHeader | None:
    """The Layer III frame header at ``data[pos:pos + 4]``, or None if there is none.

    Free-format frames (bit rate index 0) and reserved values count as no header.
    """
    if len(data) < pos + 4:
        return None
    h = int.from_bytes(data[pos:pos + 4], "big")
    if h >> 21 != 0x7FF:
        return None
    version = (h >> 19) & 3
    layer = (h >> 17) & 3
    br_index = (h >> 12) & 15
    sr_index = (h >> 10) & 3
    if version == 1 or layer != 1 or br_index in (0, 15) or sr_index == 3:
        return None
    mpeg1 = version == 3
    kbps = _BITRATES[1 if mpeg1 else 2][br_index]
    rate = _RATES[version][sr_index]
    padding = (h >> 9) & 1
    samples = 1152 if mpeg1 else 576
    length = samples // 8 * kbps * 1000 // rate + padding
    return FrameHeader(mpeg1=mpeg1, protected=not (h >> 16) & 1, bitrate_kbps=kbps,
                       sample_rate=rate, padding=padding,
                       channels=1 if (h >> 6) & 3 == 3 else 2, length=length, samples=samples)


def main_data_begin(frame: bytes, header: FrameHeader | None = None) -> int:
    """Bytes before ``frame`` where its main data begins (0: none taken from the reservoir)."""
    header = header or parse_header(frame)
    at = 4 + (2 if header.protected else 0)
    if header.mpeg1:
        return (frame[at] << 1) | (frame[at + 1] >> 7)
    return frame[at]


class FrameSplitter:
    """Cut a byte stream of Layer III frames, fed in any pieces, into whole frames.

    Raises
    ------
    ValueError
        Bytes that are not a frame header where one must start.
    """

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[FrameHeader, bytes]]:
        """Add ``data``; return the frames now complete, as ``(header, frame bytes)``."""
        self._buf += data
        out = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= 4:
            header = parse_header(buf, pos)
            if header is None:
                raise ValueError(f"no MP3 frame header where one must start "
                                 f"({bytes(buf[pos:pos + 4]).hex()})")
            if len(buf) - pos < header.length:
                break
            out.append((header, bytes(buf[pos:pos + header.length])))
            pos += header.length
        del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Bytes held back (an unfinished frame)."""
        return len(self._buf)


def _crc16_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC16 = _crc16_table()


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16 as the LAME tag uses it (polynomial 0x8005 bit-reflected, initial value 0)."""
    for byte in data:
        crc = _CRC16[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def info_frame(template: FrameHeader, first_header: bytes, *, frames: int, stream_bytes: int,
               toc: bytes, encoder_delay: int, padding: int, version: str = "3.100",
               quality: int = 0, lowpass_hz: int = 0, vbr_method: int = 4,
               min_bitrate_kbps: int = 0) -> bytes:
    """A silent MPEG-1 Layer III frame holding a Xing header and a LAME extension.

    Parameters
    ----------
    template : FrameHeader
        Header of the stream's first audio frame (sample rate, channels). MPEG-1 only.
    first_header : bytes
        Its 4 header bytes (mode, copyright and emphasis bits are copied).
    frames : int
        Audio frames after this one.
    stream_bytes : int
        Bytes of this frame and all audio frames.
    toc : bytes
        100 seek points: entry ``i`` is ``256 * offset / stream_bytes`` of the frame at
        ``i`` percent of the duration.
    encoder_delay, padding : int
        Samples the encoder added before the signal and after it (0..4095 each).
    version : str
        LAME version for the tag (``"3.100"``).
    quality : int
        Xing quality indicator (0..100).
    lowpass_hz : int
        The encoder's lowpass (Hz).
    vbr_method : int
        LAME tag VBR method (4: vbr-mtrh, LAME's default VBR).
    min_bitrate_kbps : int
        Lowest bit rate the VBR encoder was allowed (kbit/s).

    Returns
    -------
    bytes
        The frame, as long as the smallest bit rate that holds the tag makes it.
    """
    if not template.mpeg1:
        raise ValueError("the Xing/LAME frame is written for MPEG-1 streams only")
    if len(toc) != 100:
        raise ValueError("the seek table needs 100 entries")
    if not (0 <= encoder_delay < 4096 and 0 <= padding < 4096):
        raise ValueError(f"encoder delay {encoder_delay} or padding {padding} does not fit "
                         f"the LAME tag")
    br_index = next(i for i, kbps in enumerate(_BITRATES[1]) if i and
                    144 * kbps * 1000 // template.sample_rate >= INFO_FRAME_MIN_BYTES)
    length = 144 * _BITRATES[1][br_index] * 1000 // template.sample_rate
    h = int.from_bytes(first_header[:4], "big")
    h |= 1 << 16  # no CRC
    h = (h & ~(0xF << 12)) | (br_index << 12)
    h &= ~(1 << 9)  # no padding
    h &= ~(3 << 4)  # mode extension 0
    frame = bytearray(length)
    frame[0:4] = h.to_bytes(4, "big")
    at = 4 + template.side_info_bytes
    frame[at:at + 16] = b"Xing" + struct.pack(">III", 0x0F, frames, stream_bytes)
    frame[at + 16:at + 116] = toc
    frame[at + 116:at + 120] = struct.pack(">I", max(0, min(100, quality)))
    lame = at + 120
    frame[lame:lame + 9] = f"LAME{version}".encode("ascii")[:9].ljust(9, b" ")
    frame[lame + 9] = vbr_method & 15  # tag revision 0
    frame[lame + 10] = max(0, min(255, round(lowpass_hz / 100)))
    # 11..18: replay gain (none); 19: flags and ATH type; 20: bit rate
    frame[lame + 20] = max(0, min(255, min_bitrate_kbps))
    frame[lame + 21:lame + 24] = ((encoder_delay << 12) | padding).to_bytes(3, "big")
    rate_code = {32000: 0, 44100: 1, 48000: 2}[template.sample_rate]
    stereo_mode = 3 if ((h >> 6) & 3) == 1 else (1 if template.channels == 2 else 0)
    frame[lame + 24] = (rate_code << 6) | (stereo_mode << 2)
    frame[lame + 28:lame + 32] = struct.pack(">I", stream_bytes)
    # 32..33: CRC of the music (not computed: decoders do not check it; left 0)
    frame[lame + 34:lame + 36] = struct.pack(">H", crc16(bytes(frame[:lame + 34])))
    return bytes(frame)
