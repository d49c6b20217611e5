"""A small RIFF/RF64 chunk reader and appender for WAV files written by libsndfile.

Chunks are ``id (4 bytes) + size (uint32 little-endian) + data + a pad byte if the size is
odd``. A RIFF file starts ``"RIFF" size "WAVE"`` where size = file length - 8. An RF64 file
starts ``"RF64" 0xFFFFFFFF "WAVE"`` followed by a ``ds64`` chunk holding the real 64-bit
RIFF size, data size and sample count; its ``data`` chunk size field is 0xFFFFFFFF.

:func:`append_chunks` adds chunks after the last one and fixes the RIFF size (in the header
for RIFF, in ``ds64`` for RF64).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError

__all__ = ["Chunk", "read_chunks", "append_chunks", "chunk_bytes"]

_MAX32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Chunk:
    """A top-level chunk: its id, the offset of its data in the file, its data size."""

    id: bytes
    offset: int
    size: int


def _header(f, path) -> tuple[bytes, int, int | None, int | None]:
    """(kind, riff_size, ds64 riff size, ds64 data size) of an open file."""
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise OutputError(f"{Path(path).name} is not a RIFF/RF64 WAVE file")
    kind = head[:4]
    size = struct.unpack("<I", head[4:8])[0]
    if kind == b"RF64":
        ds = f.read(8 + 16)
        if len(ds) < 24 or ds[:4] != b"ds64":
            raise OutputError(f"{Path(path).name}: RF64 file without a ds64 chunk")
        riff64, data64 = struct.unpack("<QQ", ds[8:24])
        return kind, size, riff64, data64
    return kind, size, None, None


def read_chunks(path) -> tuple[bytes, list[Chunk]]:
    """List the top-level chunks of a WAV or RF64 file.

    Parameters
    ----------
    path : path
        The file.

    Returns
    -------
    kind : bytes
        ``b"RIFF"`` or ``b"RF64"``.
    chunks : list of Chunk
        In file order; for RF64 the ``data`` size is the 64-bit one from ``ds64``.

    Raises
    ------
    OutputError
        The file is not RIFF/RF64 WAVE or a chunk runs past the end.
    """
    length = os.path.getsize(path)
    chunks = []
    with open(path, "rb") as f:
        kind, riff_size, riff64, data64 = _header(f, path)
        end = 8 + (riff64 if kind == b"RF64" else riff_size)
        end = min(end, length)
        pos = 12
        while pos + 8 <= end:
            f.seek(pos)
            cid, size = struct.unpack("<4sI", f.read(8))
            if kind == b"RF64" and cid == b"data" and size == _MAX32:
                size = data64
            if pos + 8 + size > length:
                raise OutputError(f"{Path(path).name}: chunk {cid!r} at byte {pos} runs past "
                                  f"the end of the file")
            chunks.append(Chunk(cid, pos + 8, size))
            pos += 8 + size + (size & 1)
    return kind, chunks


def chunk_bytes(cid: bytes, data: bytes) -> bytes:
    """One chunk, padded to an even length: ``id + uint32 size + data (+ 0 pad byte)``."""
    if len(cid) != 4:
        raise ValueError(f"chunk id must be 4 bytes, got {cid!r}")
    pad = b"\0" if len(data) & 1 else b""
    return cid + struct.pack("<I", len(data)) + data + pad


def append_chunks(path, chunks: list[tuple[bytes, bytes]]) -> None:
    """Append chunks to a WAV/RF64 file and fix its RIFF size.

    Parameters
    ----------
    path : path
        A complete WAV or RF64 file (closed by libsndfile).
    chunks : list of (bytes, bytes)
        ``(id, data)`` pairs; each is padded to an even length.

    Raises
    ------
    OutputError
        Not a WAV/RF64 file, or a plain WAV would grow past 4 GiB.
    """
    if not chunks:
        return
    kind, existing = read_chunks(path)
    if existing:
        last = existing[-1]
        end = last.offset + last.size + (last.size & 1)
    else:
        end = 12
    blob = b"".join(chunk_bytes(cid, data) for cid, data in chunks)
    riff_size = end + len(blob) - 8
    if kind == b"RIFF" and riff_size > _MAX32:
        raise OutputError(f"{Path(path).name}: markers would make the WAV file larger than "
                          f"4 GiB; nothing was written")
    with open(path, "r+b") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < end:  # a missing pad byte after the last chunk
            f.write(b"\0" * (end - f.tell()))
        f.seek(end)
        f.write(blob)
        f.truncate()
        if kind == b"RIFF":
            f.seek(4)
            f.write(struct.pack("<I", riff_size))
        else:
            f.seek(12 + 8)
            f.write(struct.pack("<Q", riff_size))
