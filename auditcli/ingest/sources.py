"""Finding input files and opening them: directories, gzip, stdin, SHA-256.

A source is read once, front to back: its SHA-256 (of the bytes as stored,
before decompression) is computed on a helper thread while the loader works,
and gzip is recognised by its magic bytes, not its name.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import stat
import sys
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from auditcli.errors import InputError
from auditcli.privacy.text import os_text

if TYPE_CHECKING:
    from concurrent.futures import Future

STDIN = "-"
STDIN_NAME = "<stdin>"
#: File endings picked up when a directory is given (compressed and rotated forms too:
#: ``audit.log.1``, ``events.jsonl.2.gz``).
LOG_SUFFIXES = (".json", ".jsonl", ".ndjson", ".log", ".csv", ".tsv", ".parquet")
COMPRESSED_SUFFIXES = (".gz",)
GZIP_MAGIC = b"\x1f\x8b"
#: A rotated file's number after its ending (``audit.log.1``).
_ROTATION = re.compile(r"\.\d+$")


@dataclass(frozen=True)
class SourceRef:
    """One input: a file, standard input, or a pipe."""

    name: str
    """How provenance names it: the path as found, or ``<stdin>``."""
    path: Path | None
    size: int | None
    """None for a stream (stdin, a pipe), which can be read only once."""


def expand(paths: Sequence[str]) -> list[SourceRef]:
    """The files behind ``paths``: directories recursively in name order, ``-`` as stdin,
    a pipe (``<(zcat x.gz)``) as a stream to read once (no size)."""
    refs: list[SourceRef] = []
    pipes: set[tuple[int, int]] = set()
    for given in paths:
        if given == STDIN:
            refs.append(SourceRef(STDIN_NAME, None, None))
            continue
        pipe = _fifo(given)
        if pipe is not None:
            if pipe not in pipes:  # named twice, it is read once: a second open would wait
                refs.append(SourceRef(os_text(given), Path(given), None))
            pipes.add(pipe)
            continue
        try:
            refs.extend(_refs_at(given))
        except OSError as e:  # a name too long, a loop of links, no permission
            raise InputError(f"{os_text(given)}: cannot read: {e.strerror or e}") from e
    return refs


def is_pipe(given: str) -> bool:
    """True when ``given`` names a pipe (``<(...)``, ``/dev/stdin`` fed by one): a stream
    to read once, not a file."""
    return given != STDIN and _fifo(given) is not None


def _fifo(given: str) -> tuple[int, int] | None:
    """(device, inode) when ``given`` names a pipe; None for anything else (a device,
    /dev/zero say, is no log to read to its end)."""
    try:
        found = os.stat(given)
    except OSError:
        return None
    return (found.st_dev, found.st_ino) if stat.S_ISFIFO(found.st_mode) else None


def _refs_at(given: str) -> list[SourceRef]:
    path = Path(given)
    if path.is_dir():
        found = sorted(_log_files(path))
        if not found:
            raise InputError(
                f"{given}: no log files in this directory",
                f"auditcli reads files ending {', '.join(LOG_SUFFIXES)} "
                "(optionally rotated, .1, .2, ..., and .gz)",
            )
        return [SourceRef(os_text(str(p)), p, p.stat().st_size) for p in found]
    if path.is_file():
        return [SourceRef(os_text(given), path, path.stat().st_size)]
    if path.exists():
        raise InputError(f"{given}: not a regular file")
    raise InputError(f"{given}: no such file or directory")


def _log_files(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            stem = name
            for suffix in COMPRESSED_SUFFIXES:
                stem = stem.removesuffix(suffix)
            stem = _ROTATION.sub("", stem)
            # Regular files only: a pipe found in a directory would wait for a writer.
            if stem.endswith(LOG_SUFFIXES) and (Path(root) / name).is_file():
                yield Path(root) / name


class _HashingReader:
    """A stream that hands out the bytes it reads unchanged and feeds them to
    SHA-256 on a helper thread (bytes are immutable, so nothing is copied)."""

    def __init__(self, inner: BinaryIO) -> None:
        from concurrent.futures import ThreadPoolExecutor  # only for files read now

        self._inner = inner
        self._hash = hashlib.sha256()
        self._worker = ThreadPoolExecutor(max_workers=1)
        self._pending: Future[None] | None = None
        self._pushed_back = b""
        self.bytes_read = 0

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes, read but kept for the next ``read``."""
        if len(self._pushed_back) < size:
            self._pushed_back += self._read_inner(size - len(self._pushed_back))
        return self._pushed_back[:size]

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative)."""
        head, self._pushed_back = self._pushed_back, b""
        if size >= 0:
            if len(head) >= size:
                self._pushed_back = head[size:]
                return head[:size]
            return head + self._read_inner(size - len(head))
        return head + self._read_inner(-1)

    def _read_inner(self, size: int) -> bytes:
        data = self._inner.read(size)
        if data:
            self.bytes_read += len(data)
            self._pending = self._worker.submit(self._hash.update, data)
        return data

    def hexdigest(self) -> str:
        """The SHA-256 of everything read so far."""
        if self._pending is not None:
            self._pending.result()
        return self._hash.hexdigest()

    def close(self) -> None:
        """Finish hashing and stop the helper thread."""
        self._worker.shutdown(wait=True)


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


def stdin_bytes() -> BinaryIO:
    """Standard input as bytes; an InputError when the process was started without it."""
    if sys.stdin is None:
        raise InputError(f"{STDIN_NAME}: cannot read: standard input is closed")
    return sys.stdin.buffer


@contextmanager
def open_source(ref: SourceRef, stdin: BinaryIO | None = None) -> Iterator[OpenSource]:
    """Open ``ref`` for reading; read errors surface as InputError naming the file."""
    try:
        inner: BinaryIO = (
            (stdin or stdin_bytes()) if ref.path is None else open(ref.path, "rb")  # noqa: SIM115
        )
    except OSError as e:
        raise InputError(f"{ref.name}: cannot open: {e.strerror or e}") from e
    hashing = _HashingReader(inner)
    try:
        compressed = hashing.peek(2) == GZIP_MAGIC
        stream: BinaryIO = (
            gzip.GzipFile(fileobj=hashing, mode="rb") if compressed else hashing  # type: ignore[assignment,call-overload]
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


@dataclass(frozen=True)
class Evidence:
    """Files no output may overwrite: those named (read by the run, a case's own), and
    any whose bytes were loaded into a case (by size and SHA-256, wherever it is now)."""

    paths: tuple[Path, ...] = ()
    loaded: frozenset[tuple[int, str]] = frozenset()

    def with_paths(self, *paths: Path | None) -> Evidence:
        return Evidence((*self.paths, *(p for p in paths if p is not None)), self.loaded)

    def holds(self, file: Path) -> bool:
        """True when the regular file ``file`` is one of these (OSError from looking)."""
        if any(path.exists() and file.samefile(path) for path in self.paths):
            return True
        size = file.stat().st_size
        if all(size != loaded_size for loaded_size, _ in self.loaded):
            return False
        return (size, hash_file(file)) in self.loaded


def hash_file(path: Path) -> str:
    """SHA-256 of a file's stored bytes (used to skip a file that is already loaded)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
