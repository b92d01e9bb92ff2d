"""Finding input files and opening them: directories, gzip, stdin, SHA-256.

A source is read once, front to back: its SHA-256 (of the bytes as stored,
before decompression) is computed on a helper thread while the loader works,
and gzip is recognised by its magic bytes, not its name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from auditcli.errors import InputError

STDIN = "-"
STDIN_NAME = "<stdin>"
#: File endings picked up when a directory is given (compressed forms too).
LOG_SUFFIXES = (".json", ".jsonl", ".ndjson", ".log")
COMPRESSED_SUFFIXES = (".gz",)
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class SourceRef:
    """One input: a file, or standard input."""

    name: str
    """How provenance names it: the path as found, or ``<stdin>``."""
    path: Path | None
    size: int | None


def expand(paths: Sequence[str]) -> list[SourceRef]:
    """The files behind ``paths``: directories recursively in name order, ``-`` as stdin."""
    refs: list[SourceRef] = []
    for given in paths:
        if given == STDIN:
            refs.append(SourceRef(STDIN_NAME, None, None))
            continue
        path = Path(given)
        if path.is_dir():
            found = sorted(_log_files(path))
            if not found:
                raise InputError(
                    f"{given}: no log files in this directory",
                    f"auditcli reads files ending {', '.join(LOG_SUFFIXES)} (optionally .gz)",
                )
            refs.extend(SourceRef(str(p), p, p.stat().st_size) for p in found)
        elif path.is_file():
            refs.append(SourceRef(given, path, path.stat().st_size))
        elif path.exists():
            raise InputError(f"{given}: not a regular file")
        else:
            raise InputError(f"{given}: no such file or directory")
    return refs


def _log_files(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            stem = name
            for suffix in COMPRESSED_SUFFIXES:
                stem = stem.removesuffix(suffix)
            if stem.endswith(LOG_SUFFIXES):
                yield Path(root) / name


class _HashingReader(io.RawIOBase):
    """A raw stream that feeds every byte it reads to SHA-256 on a helper thread."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()
        self._worker = ThreadPoolExecutor(max_workers=1)
        self._pending: Future[None] | None = None
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        if size:
            self.bytes_read += size
            self._pending = self._worker.submit(self._hash.update, data)
        return size

    def hexdigest(self) -> str:
        """The SHA-256 of everything read so far."""
        if self._pending is not None:
            self._pending.result()
        return self._hash.hexdigest()

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        super().close()


@dataclass
class OpenSource:
    """A source opened for reading: the decompressed stream and its hash."""

    ref: SourceRef
    stream: BinaryIO
    compressed: bool
    _hashing: _HashingReader

    def sha256(self) -> str:
        """SHA-256 of the stored bytes; complete once the stream is read to the end."""
        return self._hashing.hexdigest()

    @property
    def bytes_read(self) -> int:
        """Stored (possibly compressed) bytes read so far."""
        return self._hashing.bytes_read


@contextmanager
def open_source(ref: SourceRef, stdin: BinaryIO | None = None) -> Iterator[OpenSource]:
    """Open ``ref`` for reading; read errors surface as InputError naming the file."""
    try:
        inner: BinaryIO = (
            (stdin or sys.stdin.buffer) if ref.path is None else open(ref.path, "rb")  # noqa: SIM115
        )
    except OSError as e:
        raise InputError(f"{ref.name}: cannot open: {e.strerror or e}") from e
    hashing = _HashingReader(inner)
    buffered = io.BufferedReader(hashing, buffer_size=1 << 20)
    try:
        compressed = buffered.peek(2)[:2] == GZIP_MAGIC
        stream: BinaryIO = (
            gzip.GzipFile(fileobj=buffered, mode="rb") if compressed else buffered  # type: ignore[assignment]
        )
        yield OpenSource(ref, stream, compressed, hashing)
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(f"{ref.name}: cannot read: {_describe(e)}") from e
    finally:
        hashing.close()
        if ref.path is not None:
            inner.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, gzip.BadGzipFile | EOFError | zlib.error):
        return f"corrupt or truncated gzip data ({error})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def hash_file(path: Path) -> str:
    """SHA-256 of a file's stored bytes (used to skip a file that is already loaded)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
