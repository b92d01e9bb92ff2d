"""The events' original texts, kept beside the database: a row holds a reference.

DuckDB reads a column 2048 rows at a time, so for the few events a filter picks out
of millions it would decompress nearly all of ``raw``, by far the largest column; and
writing ``raw`` would be half the cost of a load. So a database ``case.duckdb`` keeps
its texts in ``case.duckdb.raw``: an append-only file of small LZ4 frames, where each
stored event's ``raw_ref`` is its frame's offset and its place in the frame. Reading
one text decompresses one frame of at most ``FRAME_TEXTS`` texts.

The file starts with a magic and an id that the database's ``meta`` also holds, so a
texts file is never read for the wrong database, and each frame carries a CRC-32, so
damage is reported, never read as another text. The database records how far the
file is in use (``raw_end``): appends are made durable before the rows that refer to
them commit, and whatever lies past ``raw_end`` (a rolled back or interrupted load)
is cut before the next append. This module does not lock: the Store that owns it
holds DuckDB's lock, so only one process appends.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
import threading
import zlib
from array import array
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, Protocol

import pyarrow as pa

try:  # the kernels alone: pyarrow.compute builds ~30 ms of wrappers on import
    from pyarrow._compute import SetLookupOptions, call_function
except ImportError:  # pragma: no cover - a pyarrow that moved its internals
    from pyarrow.compute import SetLookupOptions, call_function

from auditcli.errors import StoreError

__all__ = ["HEADER_SIZE", "FileTexts", "MemoryTexts", "Texts", "new_file_id", "texts_path"]

MAGIC = b"auditcli-raw/1\n\x00"
HEADER_SIZE = len(MAGIC) + 16
#: Texts per frame: more compress better, fewer decompress less to read one text.
FRAME_TEXTS = 16
_FRAME_HEAD = struct.Struct("<IHHI")  # payload bytes, texts, flags, CRC-32 of lengths+payload
_LZ4 = 2  # LZ4 block format: zstd compresses ~40% smaller but costs ~15 µs a frame to read
_INDEX_BITS = 8
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_LITTLE_ENDIAN = sys.byteorder == "little"
_PREAD: Callable[[int, int, int], bytes] | None = getattr(os, "pread", None)
#: Bytes read at a frame's offset: most frames fit, so one read gets the whole frame.
_READ_AHEAD = 4096
#: Bytes appended after which their writing to disk is started, on a helper thread,
#: so that the sync before a commit finds little left to write.
WRITE_BEHIND_BYTES = 64 << 20
#: Bytes before a committed end whose digest the database keeps (``raw_tail``): a texts
#: file whose last texts differ is another copy's, even with the same id and frames.
TAIL_BYTES = 4096


class Texts(Protocol):
    """Where a store keeps its events' original texts."""

    def append(self, texts: pa.Array) -> pa.Array:
        """Keep ``texts`` (non-null strings); their references, as int64."""
        ...

    def fetch(self, refs: pa.Array) -> pa.Array:
        """The texts of ``refs`` (int64, nulls allowed), in their order, as strings."""
        ...


def _little_endian(numbers: memoryview) -> memoryview:
    """uint32 bytes as stored (little-endian) from native order, or back: the same
    swap either way, and none on a little-endian machine."""
    if _LITTLE_ENDIAN:
        return numbers
    swapped = array("I", numbers.tobytes())
    swapped.byteswap()
    return memoryview(swapped).cast("B")


def _read_at(descriptor: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset``: one ``pread``, or a seek and a read where
    there is none (Windows); only one thread reads a descriptor."""
    if _PREAD is not None:
        return _PREAD(descriptor, size, offset)
    os.lseek(descriptor, offset, os.SEEK_SET)
    return os.read(descriptor, size)


def _int64(numbers: array[int]) -> pa.Array:
    """``numbers`` (an ``array("q")``) as an Arrow int64 array, without a copy."""
    return pa.Array.from_buffers(pa.int64(), len(numbers), [None, pa.py_buffer(numbers)])


def _tail_digest(descriptor: int, end: int) -> str:
    """``end`` and the SHA-256 (hex) of the ``TAIL_BYTES`` before it, the header
    excluded: ``"<end>:<hex>"``, so that a digest left by an auditcli that knew it and
    an end moved since by one that did not (which writes no digest) are told apart."""
    start = max(HEADER_SIZE, end - TAIL_BYTES)
    return f"{end}:{hashlib.sha256(_read_at(descriptor, end - start, start)).hexdigest()}"


def texts_path(database: str | Path) -> Path:
    """The file beside ``database`` that holds its texts: beside the file itself when
    ``database`` is a symbolic link to it."""
    if os.path.islink(database):
        database = os.path.realpath(database)
    return Path(f"{database}.raw")


def new_file_id() -> str:
    """A fresh id binding a texts file to its database (hex)."""
    return os.urandom(16).hex()


class FileTexts:
    """The texts of a database file, in ``texts_path(database)``."""

    def __init__(self, path: Path, file_id: str, end: int, tail: str | None = None) -> None:
        self.path = path
        self.file_id = bytes.fromhex(file_id)
        self.end = end
        """Bytes in use: the committed end, plus what this process appended since."""
        self.committed_end = end
        self.tail = tail
        """The digest of the bytes before the committed end (None: an older database's)."""
        self.synced_tail: str | None = None
        """The digest of the bytes before ``end``, as of the last ``sync``."""
        self._writer: BinaryIO | None = None
        self._created = False
        """This process created the file: its name is made durable at the first sync."""
        self._unsynced = 0
        self._writing_behind: threading.Thread | None = None
        self._behind_failed: OSError | None = None
        """What writing behind met: the kernel reports a failed write back only once,
        so ``sync`` must report it, not find the file clean."""
        self._reader: int | None = None
        """A descriptor for reading, opened on the first fetch."""
        self._codec = pa.Codec("lz4_raw")

    # -- writing ---------------------------------------------------------------

    def append(self, texts: pa.Array) -> pa.Array:
        """Write ``texts`` as frames at the end; their references."""
        if texts.null_count:
            raise ValueError("an event's original text cannot be null")
        if not pa.types.is_string(texts.type):
            texts = texts.cast(pa.string())
        try:
            writer = self._writer or self._open_writer()
        except OSError as e:
            raise self._unwritable(e) from e
        _, offsets_buffer, data_buffer = texts.buffers()
        offsets = memoryview(offsets_buffer).cast("i")[texts.offset : texts.offset + len(texts) + 1]
        native = call_function("binary_length", [texts]).buffers()[1]
        lengths = _little_endian(memoryview(native).cast("B"))
        data = memoryview(data_buffer) if data_buffer is not None else memoryview(b"")
        compress, head = self._codec.compress, _FRAME_HEAD.pack
        frames: list[bytes] = []
        refs = array("q")
        position = self.end
        for start in range(0, len(texts), FRAME_TEXTS):
            count = min(FRAME_TEXTS, len(texts) - start)
            payload = compress(data[offsets[start] : offsets[start + count]], asbytes=True)
            stored_lengths = lengths[4 * start : 4 * (start + count)]
            check = zlib.crc32(payload, zlib.crc32(stored_lengths))
            frame = b"".join((head(len(payload), count, _LZ4, check), stored_lengths, payload))
            frames.append(frame)
            first_ref = position << _INDEX_BITS
            refs.extend(range(first_ref, first_ref + count))
            position += len(frame)
        try:
            writer.writelines(frames)
            self._unsynced += position - self.end
            if self._unsynced >= WRITE_BEHIND_BYTES:
                writer.flush()
                self._write_behind(writer.fileno())
        except OSError as e:
            raise self._unwritable(e) from e
        self.end = position
        return _int64(refs)

    def _write_behind(self, descriptor: int) -> None:
        """Start writing what was appended to disk, unless that is still going on."""
        if self._writing_behind is not None and self._writing_behind.is_alive():
            return
        self._unsynced = 0
        self._writing_behind = threading.Thread(
            target=self._sync_behind, args=(descriptor,), name="auditcli-texts-sync", daemon=True
        )
        self._writing_behind.start()

    def _sync_behind(self, descriptor: int) -> None:
        try:
            getattr(os, "fdatasync", os.fsync)(descriptor)
        except OSError as e:
            self._behind_failed = self._behind_failed or e

    def _written_behind(self) -> OSError | None:
        """Wait for the writing started by ``_write_behind``; what it failed with, if
        anything, which is then the caller's to report."""
        if self._writing_behind is not None:
            self._writing_behind.join()
            self._writing_behind = None
        failed, self._behind_failed = self._behind_failed, None
        return failed

    def _open_writer(self) -> BinaryIO:
        if self.end == HEADER_SIZE:
            # Nothing committed: a file here is ours, empty, or cut short by a crash
            # before its first commit; one of another database is refused.
            if self.path.exists():
                with open(self.path, "rb") as existing:
                    header = existing.read(HEADER_SIZE)
                if len(header) == HEADER_SIZE or not MAGIC.startswith(header[: len(MAGIC)]):
                    self._check_header(header)  # refuses what is not a header of ours
            writer = open(self.path, "w+b")  # kept open for the load
            writer.write(MAGIC + self.file_id)
            self._created = True
            return self._use(writer)
        if not self.path.exists():
            raise self._missing()
        writer = open(self.path, "r+b")
        try:
            self._check_header(writer.read(HEADER_SIZE))
            self._check_tail(writer.fileno())
            writer.truncate(self.end)  # what an interrupted load left
        except BaseException:
            writer.close()
            raise
        return self._use(writer)

    def _use(self, writer: BinaryIO) -> BinaryIO:
        writer.seek(self.end)
        self._writer = writer
        return writer

    @property
    def first_new_ref(self) -> int:
        """Every reference to a text appended since the last commit is at least this."""
        return self.committed_end << _INDEX_BITS

    def trim(self, last_ref: int | None) -> None:
        """Cut what no stored event refers to off the end: ``last_ref`` is the highest
        reference appended since the last commit that a row holds (None: none does).
        Texts of duplicates dropped and of rejects otherwise stay, unread."""
        end = self.committed_end
        if last_ref is not None:
            offset = last_ref >> _INDEX_BITS
            self.flush()
            head = _read_at(self._opened(offset, offset), _FRAME_HEAD.size, offset)
            try:
                payload_size, count, _, _ = _FRAME_HEAD.unpack(head)
            except struct.error as e:
                raise self._damaged(f"cannot read the frame at byte {offset} ({e})") from e
            end = offset + _FRAME_HEAD.size + 4 * count + payload_size
        if end < self.end and self._writer is not None:
            try:
                self._writer.truncate(end)
                self._writer.seek(end)
            except OSError as e:
                raise self._unwritable(e) from e
            self.end = end

    def flush(self) -> None:
        """Hand what was appended to the file, so that it can be read back."""
        if self._writer is not None:
            try:
                self._writer.flush()
            except OSError as e:
                raise self._unwritable(e) from e

    def sync(self) -> None:
        """Make every append durable: called before the rows that refer to them commit."""
        failed = self._written_behind()
        if failed is not None:
            raise self._unwritable(failed) from failed
        if self._writer is not None:
            try:
                self._writer.flush()
                os.fsync(self._writer.fileno())
                self.synced_tail = _tail_digest(self._writer.fileno(), self.end)
            except OSError as e:
                raise self._unwritable(e) from e
            self._unsynced = 0
        if self._created:  # and the file's name, in its directory
            with suppress(OSError):  # no directory handles on some systems (Windows)
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
            self._created = False

    def committed(self) -> None:
        """The database committed: what was appended is now in use."""
        self.committed_end = self.end
        self.tail = self.synced_tail

    def reset(self, end: int, tail: str | None) -> None:
        """The database rolled back (or was interrupted after committing): ``end`` is its
        ``raw_end``, where the texts in use end, and ``tail`` its ``raw_tail``. What lies
        past it is cut before the next append, never here: a rollback must not cut texts
        a commit kept."""
        self.end = self.committed_end = end
        self.tail = tail
        self._written_behind()  # a failure there concerns texts no longer in use
        self._unsynced = 0
        if self._writer is not None:
            writer, self._writer = self._writer, None
            with suppress(OSError, ValueError):
                writer.close()

    def close(self) -> None:
        self._written_behind()  # of appends not committed: a commit's sync waited for it
        if self._reader is not None:
            os.close(self._reader)
            self._reader = None
        if self._writer is not None:
            writer, self._writer = self._writer, None
            with suppress(OSError):  # unsynced appends are uncommitted: nothing is lost
                writer.close()

    # -- reading ---------------------------------------------------------------

    def fetch(self, refs: pa.Array) -> pa.Array:
        """The texts of ``refs``, in their order."""
        wanted = refs.to_pylist()
        present = [ref for ref in wanted if ref is not None]
        if not present:
            return pa.nulls(len(wanted), pa.string())
        self.flush()
        reader = self._opened(min(present) >> _INDEX_BITS, max(present) >> _INDEX_BITS)
        texts: list[str | None] = []
        # Only the last frame is kept: a frame's texts are fetched together or not at
        # all, and keeping thousands of scattered frames alive costs more than it saves.
        last_offset, data, lengths = -1, b"", memoryview(b"")
        for ref in wanted:
            if ref is None:
                texts.append(None)
                continue
            offset = ref >> _INDEX_BITS
            if offset != last_offset:
                data, lengths = self._frame(reader, offset)
                last_offset = offset
            index = ref & _INDEX_MASK
            if index >= len(lengths):
                raise self._damaged(f"no text {index} in the frame at byte {offset}")
            start = sum(lengths[:index])
            try:
                texts.append(data[start : start + lengths[index]].decode("utf-8"))
            except UnicodeDecodeError as e:
                raise self._damaged(f"text {index} of the frame at byte {offset}: {e}") from e
        return pa.array(texts, pa.string())

    def _opened(self, first_offset: int, last_offset: int) -> int:
        """A descriptor for reading, checked to hold frames from ``first_offset`` to
        ``last_offset``."""
        for offset in (first_offset, last_offset):
            if not HEADER_SIZE <= offset < self.end:
                raise self._damaged(f"a reference points to byte {offset}, outside it")
        if self._reader is None:
            try:
                reader = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            except FileNotFoundError:
                raise self._missing() from None
            except OSError as e:
                raise StoreError(f"cannot read {self.path}: {e.strerror}") from e
            try:
                self._check_header(_read_at(reader, HEADER_SIZE, 0))
                self._check_tail(reader)
            except OSError as e:
                os.close(reader)
                raise StoreError(f"cannot read {self.path}: {e.strerror or e}") from e
            except BaseException:
                os.close(reader)
                raise
            self._reader = reader
        return self._reader

    def _frame(self, reader: int, offset: int) -> tuple[bytes, memoryview]:
        """The frame at ``offset``: its texts' bytes, and each text's length."""
        try:
            head = _read_at(reader, _READ_AHEAD, offset)
            payload_size, count, flags, check = _FRAME_HEAD.unpack_from(head)
            payload_at = _FRAME_HEAD.size + 4 * count
            size = payload_at + payload_size
            if flags != _LZ4 or offset + size > self.end:
                raise ValueError("bad frame head")
            if len(head) < size:
                head += _read_at(reader, size - len(head), offset + len(head))
            frame = memoryview(head)
            if zlib.crc32(frame[_FRAME_HEAD.size : size]) != check:
                raise ValueError("its checksum does not match")
            lengths = _little_endian(frame[_FRAME_HEAD.size : payload_at]).cast("I")
            data = self._codec.decompress(frame[payload_at:size], sum(lengths), asbytes=True)
            return data, lengths
        except (struct.error, ValueError, TypeError, OSError, pa.ArrowException) as e:
            raise self._damaged(f"cannot read the frame at byte {offset} ({e})") from e

    # -- errors ----------------------------------------------------------------

    def _check_header(self, header: bytes) -> None:
        if header[: len(MAGIC)] != MAGIC:
            raise StoreError(f"{self.path} is not an auditcli texts file")
        if header[len(MAGIC) : HEADER_SIZE] != self.file_id:
            raise StoreError(
                f"{self.path} belongs to another database",
                "keep each database with the .raw file made beside it",
            )

    def _check_tail(self, descriptor: int) -> None:
        """The file reaches the committed end, and ends there as the database says."""
        size = os.fstat(descriptor).st_size
        if size < self.committed_end:
            raise self._damaged(f"it ends at byte {size}, before {self.committed_end}")
        if (
            self.tail is not None
            and self.tail.startswith(f"{self.committed_end}:")
            and _tail_digest(descriptor, self.committed_end) != self.tail
        ):
            raise StoreError(
                f"{self.path} does not hold this database's texts: its last texts differ",
                "a copy of the database keeps its own .raw file: use the one made with it",
            )

    def _missing(self) -> StoreError:
        return StoreError(
            f"the events' original texts are missing: no {self.path}",
            "a database keeps them in FILE.raw beside it: copy or move the two together",
        )

    def _unwritable(self, error: OSError) -> StoreError:
        return StoreError(f"cannot write {self.path}: {error.strerror or error}")

    def _damaged(self, why: str) -> StoreError:
        return StoreError(f"{self.path} is damaged: {why}")


class MemoryTexts:
    """The texts of an in-memory store (a run on paths): only those of the events it
    stored, as its filter keeps few of the records it reads."""

    def __init__(self) -> None:
        self.slots = array("q")
        """Per reference handed out: where its text is in ``held``, or -1."""
        self.held: list[pa.Array] = []
        self._joined: pa.Array | None = None

    def append(self, texts: pa.Array) -> pa.Array:
        first = len(self.slots)
        self.slots.frombytes(b"\xff" * (8 * len(texts)))  # -1 each
        return _int64(array("q", range(first, len(self.slots))))

    def bounds(self, refs: pa.Array) -> tuple[int, int]:
        """The lowest and highest of ``refs``."""
        lowest, highest = call_function("min_max", [refs]).values()
        return lowest.as_py(), highest.as_py()

    def keep(self, texts: pa.Array, refs: pa.Array, stored: pa.Array) -> None:
        """Of ``texts`` (with references ``refs``), keep those whose reference is in
        ``stored`` (which may hold others)."""
        found = call_function("index_in", [stored], SetLookupOptions(refs))
        indices = call_function("drop_null", [found])
        base = sum(len(chunk) for chunk in self.held)
        kept_refs = call_function("take", [refs, indices]).to_pylist()
        for offset, ref in enumerate(kept_refs):
            self.slots[ref] = base + offset
        self.held.append(call_function("take", [texts, indices]))
        self._joined = None

    def fetch(self, refs: pa.Array) -> pa.Array:
        if self._joined is None:
            self._joined = pa.concat_arrays(self.held) if self.held else pa.array([], pa.string())
        slots = self.slots
        wanted = refs.to_pylist()
        positions = [None if ref is None or slots[ref] < 0 else slots[ref] for ref in wanted]
        return call_function("take", [self._joined, pa.array(positions, pa.int64())])

    def close(self) -> None:
        self.held.clear()
        self._joined = None
