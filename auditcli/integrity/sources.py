"""Where chain lines come from: paths or named binary streams, gzip or plain.

It owns opening a source, telling gzip by its magic bytes, and cutting the bytes into
blocks that end on a line boundary: byte ranges of a plain file (which worker processes
read themselves) or blocks read in order from a stream. Nothing here parses JSON.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from auditcli.errors import InputError

__all__ = [
    "BLOCK_BYTES",
    "Block",
    "NamedStream",
    "Source",
    "display_name",
    "gunzipped",
    "is_gzip",
    "open_lines",
    "plan_ranges",
    "read_range",
    "split_block",
]

BLOCK_BYTES = 16 << 20
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class NamedStream:
    """A binary stream to read from, with the name findings should show for it."""

    name: str
    stream: BinaryIO


Source = str | os.PathLike[str] | NamedStream


@dataclass(frozen=True)
class Block:
    """Whole lines of one source; ``cut_short`` when the last lacks its newline at EOF.

    ``problem`` says why reading stopped early (a cut or corrupt gzip stream).
    """

    data: bytes
    cut_short: bool = False
    problem: str | None = None
    problem_is_cut: bool = False  # the problem is data ending too soon, not corrupt data


def display_name(source: Source) -> str:
    """The name a finding shows for this source."""
    return source.name if isinstance(source, NamedStream) else os.fspath(source)


def split_block(data: bytes) -> list[bytes]:
    """Lines of a block, without their newlines."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


def _input_error(path: str, error: OSError) -> InputError:
    return InputError(f"cannot read: {error.strerror or error}", path=path)


def is_gzip(path: str) -> bool:
    """True when the file starts with the gzip magic bytes."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == GZIP_MAGIC
    except OSError as e:
        raise _input_error(path, e) from e


def plan_ranges(path: str, block: int = BLOCK_BYTES) -> list[tuple[int, int]]:
    """Byte ranges of a plain file, each ending just after a newline (or at EOF)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            start = len(UTF8_BOM) if handle.read(len(UTF8_BOM)) == UTF8_BOM else 0
            ranges: list[tuple[int, int]] = []
            while start < size:
                stop = start + block
                if stop >= size:
                    ranges.append((start, size))
                    break
                handle.seek(stop)
                while True:
                    chunk = handle.read(1 << 16)
                    if not chunk:
                        stop = size
                        break
                    newline = chunk.find(b"\n")
                    if newline >= 0:
                        stop += newline + 1
                        break
                    stop += len(chunk)
                ranges.append((start, stop))
                start = stop
            return ranges
    except OSError as e:
        raise _input_error(path, e) from e


def read_range(path: str, start: int, stop: int) -> bytes:
    """The bytes of one planned range."""
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            return handle.read(stop - start)
    except OSError as e:
        raise _input_error(path, e) from e


class ReadStopped(Exception):
    """Reading a source stopped early; what was read before still counts."""

    def __init__(self, message: str, *, cut: bool = False) -> None:
        super().__init__(message)
        self.cut = cut  # the data ends too soon, rather than being corrupt


def _chunks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    while True:
        try:
            chunk = stream.read(size)
        except OSError as e:
            raise ReadStopped(f"cannot read further: {e}") from e
        if not chunk:
            return
        yield chunk


def gunzipped(path: Path, size: int, *, one_member: bool = False) -> Iterator[bytes]:
    """A gzip file's bytes, at most ``size`` at a time (see ``_gunzip``)."""
    with open(path, "rb") as handle:
        yield from _gunzip(_chunks(handle, size), size, one_member=one_member)


def _gunzip(chunks: Iterator[bytes], size: int, *, one_member: bool = False) -> Iterator[bytes]:
    """Undo gzip (one member or several), at most ``size`` bytes out at a time. With
    ``one_member``, anything after the first member is an error (CloudTrail writes
    one: a second, appended, would pass a forged tail off as the file's)."""
    member = zlib.decompressobj(wbits=31)
    started = ended = False
    for chunk in chunks:
        data = chunk
        while data:
            if ended:
                raise ReadStopped("unexpected data after the end of the gzip stream")
            started = True
            try:
                out = member.decompress(data, size)
            except zlib.error as e:
                raise ReadStopped(f"the gzip data is corrupt: {e}") from e
            if out:
                yield out
            data = member.unconsumed_tail
            if member.eof and one_member:
                data, ended = member.unused_data + data, True
            elif member.eof:
                data = (member.unused_data + data).lstrip(b"\0")  # zero padding is allowed
                if data and not data.startswith(GZIP_MAGIC[: len(data)]):
                    raise ReadStopped("unexpected data after the end of the gzip stream")
                member, started = zlib.decompressobj(wbits=31), False
    if started and not ended:
        raise ReadStopped("the gzip stream is cut short", cut=True)


def _blocks(chunks: Iterator[bytes], size: int) -> Iterator[Block]:
    """Re-cut chunks into blocks of whole lines, each at least ``size`` bytes but the last."""
    pending: list[bytes] = []
    pending_size = 0
    first = True
    try:
        for chunk in chunks:
            if first:
                chunk, first = chunk.removeprefix(UTF8_BOM), False
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= size:
                data = b"".join(pending)
                cut = data.rfind(b"\n") + 1
                if cut:
                    yield Block(data[:cut])
                    pending, pending_size = [data[cut:]], len(data) - cut
    except ReadStopped as e:
        problem = f"reading stopped early: {e}"
        yield Block(b"".join(pending), cut_short=True, problem=problem, problem_is_cut=e.cut)
        return
    rest = b"".join(pending)
    if rest:
        yield Block(rest, cut_short=not rest.endswith(b"\n"))


def open_lines(source: Source, block: int = BLOCK_BYTES) -> Iterator[Block]:
    """Blocks of whole lines of a source, read in order; gzip (told by its magic) undone."""
    name = display_name(source)
    if isinstance(source, NamedStream):
        yield from _blocks(_maybe_gunzip(_chunks(source.stream, block), block), block)
        return
    try:
        handle: BinaryIO = open(source, "rb")
    except OSError as e:
        raise _input_error(name, e) from e
    with handle:
        yield from _blocks(_maybe_gunzip(_chunks(handle, block), block), block)


def _maybe_gunzip(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    first = next(chunks, b"")
    if not first:
        return
    both = chain([first], chunks)
    yield from _gunzip(both, size) if first.startswith(GZIP_MAGIC) else both


def source_size(source: Source) -> int | None:
    """Size in bytes of a plain file, None for streams and gzip files."""
    if isinstance(source, NamedStream):
        return None
    path = os.fspath(source)
    if is_gzip(path):
        return None
    return Path(path).stat().st_size
