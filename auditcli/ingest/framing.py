"""Cut a byte stream into records: JSON lines, JSON arrays, or one wrapped document.

Other layouts are told from the head and framed by their own modules: auditd text
(``ingest.auditd_text``), CSV (``ingest.csvfile``), Parquet (``ingest.parquetfile``).

A record is the exact text of one event as it stands in the input, with its
1-based line (JSON lines) or 0-based element index (arrays and ``{"Records": [...]}``
wrappers). Big inputs are cut into Arrow batches of whole lines without per-line
Python objects, so memory stays flat in the file size. Framing never judges
whether a record is valid JSON: the mapper does that in bulk and rejects it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc

#: Bytes read at a time. Kept under glibc's largest mmap threshold (32 MiB): buffers
#: that size are then reused from the heap, where bigger ones are mapped and faulted
#: in afresh for every block (page faults cost more than the framing itself did).
CHUNK_BYTES = 16 << 20
#: The first read: enough to tell the layout and pick the adapter, small enough that
#: the first batch (read before a filter's needles are known) is cheap to map.
HEAD_BYTES = 1 << 20
#: Documents bigger than this are never parsed whole to guess their layout.
MAX_DOCUMENT_BYTES = 256 << 20
#: Bytes read at least, when the input does not start like JSON, to tell its layout.
SNIFF_BYTES = 64 << 10
#: Top-level keys whose list value holds the events of a wrapped export.
WRAPPER_KEYS = ("Records", "records", "Events", "events", "items", "value", "entries")

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Batch:
    """Records of one input, in input order."""

    raw: pa.Array
    """The record text, exactly as read (invalid UTF-8 shown as ``\\xNN`` escapes)."""
    doc: pa.Array
    """The text parsed as JSON: ``raw``, with invalid UTF-8 replaced by U+FFFD."""
    line: pa.Array
    """1-based line for JSON lines, 0-based element index for arrays."""
    elements: bool = False
    """``line`` holds element indexes (an array or a wrapper's list), not lines."""
    header: str | None = None
    """A CSV file's header row, as read (``raw`` holds the rows after it)."""
    delimiter: str | None = None
    """The delimiter a CSV file's rows were read by."""

    def __len__(self) -> int:
        return len(self.raw)


@dataclass
class LinePrefilter:
    """Byte strings one of which a JSON line must contain to be kept.

    Set (or changed) while framing runs, so a loader can decide after seeing the
    first batch. Lines holding a ``\\u`` or ``\\/`` escape are always kept.
    """

    needles: list[bytes] | None = None


_ESCAPES = (b"\\u", b"\\/")


def frame(
    stream: BinaryIO,
    chunk_bytes: int = CHUNK_BYTES,
    prefilter: LinePrefilter | None = None,
) -> Iterator[Batch]:
    """Yield the records of ``stream`` in batches, whatever its layout.

    JSON (lines, arrays, wrapped or single documents) unless the head says otherwise:
    Parquet by its magic bytes, auditd text by its ``type=... msg=audit(`` records,
    CSV by a header row. Those are framed by their own modules (imported only then).
    """
    head = stream.read(min(chunk_bytes, HEAD_BYTES))
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    first = head.lstrip()[:1]
    if first not in (b"[", b"{"):
        while len(head) < SNIFF_BYTES and (more := stream.read(chunk_bytes)):
            head += more
    if head.startswith(b"PAR1"):
        from auditcli.ingest.parquetfile import frame_parquet

        yield from frame_parquet(head, stream, chunk_bytes)
        return
    if first in (b"[", b"{"):
        document = _try_document(head, stream, chunk_bytes)
        if isinstance(document, _Document):
            yield from _document_batches(document, chunk_bytes)
            return
        head = document
    else:
        from auditcli.ingest import auditd_text, csvfile

        if auditd_text.sniff(head):
            yield from auditd_text.frame_auditd(head, stream, chunk_bytes)
            return
        if csvfile.sniff(head):
            yield from csvfile.frame_csv(head, stream, chunk_bytes)
            return
    yield from _line_batches(head, stream, chunk_bytes, prefilter or LinePrefilter())


@dataclass(frozen=True)
class _Document:
    text: str
    spans: list[tuple[int, int]]
    single: bool = False
    """One bare object: its record keeps the 1-based line it starts on."""


def _try_document(head: bytes, stream: BinaryIO, chunk_bytes: int) -> _Document | bytes:
    """The input as one JSON document when it is one, else the bytes read so far."""
    newline = head.find(b"\n")
    if newline >= 0 and head[newline:].strip() and _parses(head[:newline]):
        return head
    while len(head) <= MAX_DOCUMENT_BYTES:
        more = stream.read(chunk_bytes)
        if not more:
            return _document_from(head) or head
        head += more
    return head


def _parses(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def _document_from(data: bytes) -> _Document | None:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            # orjson refuses lone surrogate escapes ("\\ud800"); one such value must
            # cost only its own record, not the framing of the whole document.
            parsed = json.loads(data)
        except ValueError:
            return None
        except RecursionError:  # nested deeper than either parser goes
            return _deep_document(data)
    text = data.decode("utf-8")
    if isinstance(parsed, list):
        return _Document(text, _spans(text, text.index("["), parsed))
    if isinstance(parsed, dict):
        key = _wrapper_key(parsed)
        if key is None:
            stripped = text.strip()
            start = text.index(stripped[0])
            return _Document(text, [(start, start + len(stripped))], single=True)
        return _Document(text, _spans(text, _value_start(text, key), parsed[key]))
    return None


def _deep_document(data: bytes) -> _Document | None:
    """A document too deeply nested to parse, framed by its tokens alone: a record
    nested that deep is then rejected on its own, not the whole document with it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    stripped = text.strip()
    start = text.index(stripped[0])
    if _value_end(text, start) != start + len(stripped):
        return None  # not one value (JSON lines whose first line is the deep one)
    if stripped[0] == "[":
        return _Document(text, element_spans(text, start))
    for key in WRAPPER_KEYS:
        with suppress(ValueError):
            return _Document(text, element_spans(text, _value_start(text, key)))
    return _Document(text, [(start, start + len(stripped))], single=True)


def _value_end(text: str, start: int) -> int:
    """Where the array or object opening at ``start`` closes (past it), or -1."""
    for token, depth in _nested_tokens(text, start):
        if depth == 0:
            return token.end()
    return -1


_SPACE = re.compile(r"[ \t\r\n]*")


def _spans(text: str, array_start: int, elements: list[object]) -> list[tuple[int, int]]:
    """Element spans: found cheaply by re-serialising when the writer was compact
    (CloudTrail's are), checked character for character; else by tokenising."""
    spans: list[tuple[int, int]] = []
    position = array_start + 1
    for element in elements:
        try:
            piece = orjson.dumps(element).decode()
        except orjson.JSONEncodeError:
            return element_spans(text, array_start)
        position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
        end = position + len(piece)
        after = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if not text.startswith(piece, position) or text[after : after + 1] not in (",", "]"):
            return element_spans(text, array_start)
        spans.append((position, end))
        position = after + 1
    return spans


def _wrapper_key(parsed: object) -> str | None:
    """The key whose list holds the records: one of ``WRAPPER_KEYS`` whose list is
    empty or holds an object. Its other elements are records too, rejected on their
    own (``null`` is not a JSON object), as in a bare array."""
    if not isinstance(parsed, dict):
        return None
    for key in WRAPPER_KEYS:
        value = parsed.get(key)
        if isinstance(value, list) and (not value or any(isinstance(v, dict) for v in value)):
            return key
    return None


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]')


def _nested_tokens(text: str, start: int) -> Iterator[tuple[re.Match[str], int]]:
    """The tokens from the bracket at ``start`` to the one closing it, each with the
    depth it leaves (0 after the closing one)."""
    depth = 0
    for token in _TOKEN.finditer(text, start):
        symbol = token.group()
        if symbol in "[{":
            depth += 1
        elif symbol in "]}":
            depth -= 1
        yield token, depth
        if depth == 0:
            return


def element_spans(text: str, array_start: int) -> list[tuple[int, int]]:
    """(start, end) of each element of the JSON array whose ``[`` is at ``array_start``."""
    spans: list[tuple[int, int]] = []
    element_start = array_start + 1
    for token, depth in _nested_tokens(text, array_start):
        if depth == 0:
            _add_span(text, element_start, token.start(), spans)
        elif depth == 1 and token.group() == ",":
            _add_span(text, element_start, token.start(), spans)
            element_start = token.end()
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        offset = start + piece.index(stripped[0])
        spans.append((offset, offset + len(stripped)))


def _value_start(text: str, key: str) -> int:
    """Offset of the ``[`` that opens the value of top-level ``key``."""
    depth = 0
    state = ""
    for token in _TOKEN.finditer(text):
        symbol = token.group()
        if state == "value" and symbol == "[":
            return token.start()
        if state == "key" and symbol == ":":
            state = "value"
            continue
        state = ""
        if symbol in "[{":
            depth += 1
        elif symbol in "]}":
            depth -= 1
        elif depth == 1 and symbol.startswith('"') and orjson.loads(symbol) == key:
            state = "key"
    raise ValueError(f"no array under key {key!r}")


def _document_batches(document: _Document, chunk_bytes: int) -> Iterator[Batch]:
    records = [document.text[start:end] for start, end in document.spans]
    if document.single:
        line = document.text.count("\n", 0, document.spans[0][0]) + 1
        texts = pa.array(records, pa.string())
        yield Batch(texts, texts, pa.array([line], pa.int64()))
        return
    step = max(1, chunk_bytes // 1024)
    for first in range(0, len(records), step):
        texts = pa.array(records[first : first + step], pa.string())
        index = pa.array(range(first, first + len(texts)), pa.int64())
        yield Batch(texts, texts, index, elements=True)


def _line_batches(
    head: bytes, stream: BinaryIO, chunk_bytes: int, prefilter: LinePrefilter
) -> Iterator[Batch]:
    pending = head
    next_line = 1
    while True:
        block = stream.read(chunk_bytes)
        if prefilter.needles is not None and block:
            batch, pending, lines = _candidates_across(pending, block, next_line, prefilter.needles)
            next_line += lines
            yield batch
            continue
        data = pending + block if block else pending
        if not data:
            return
        cut = data.rfind(b"\n") + 1 if block else len(data)
        if cut == 0:
            pending = data
            continue
        pending = data[cut:]
        # One memchr for a carriage return usually rules out the slower two-byte search.
        if data.find(b"\r", 0, cut) >= 0 and data.find(b"\r\n", 0, cut) >= 0:
            data = data[:cut].replace(b"\r\n", b"\n")
            cut = len(data)
        if prefilter.needles is None:
            batch = _lines_of(data, cut, next_line)
            next_line += len(batch)
        else:
            batch, ends = _candidate_lines(data, next_line, prefilter.needles, 0, cut)
            next_line += ends + (0 if data[cut - 1 : cut] == b"\n" else 1)
        yield batch
        if not block:
            return


def _candidates_across(
    pending: bytes, block: bytes, first_line: int, needles: list[bytes]
) -> tuple[Batch, bytes, int]:
    """Candidate lines of ``pending + block`` without copying ``block``: the line that
    straddles the boundary is joined on its own, the rest is searched in place.
    Returns the batch, the unfinished tail and how many lines were completed."""
    first_end = block.find(b"\n")
    if first_end < 0:
        return _EMPTY, pending + block, 0
    joined = pending + block[: first_end + 1]
    head_batch, head_lines = _candidate_lines(joined, first_line, needles, 0, len(joined))
    last_end = block.rfind(b"\n")
    body_batch, body_lines = _candidate_lines(
        block, first_line + head_lines, needles, first_end + 1, last_end + 1
    )
    batch = Batch(
        pa.concat_arrays([head_batch.raw, body_batch.raw]),
        pa.concat_arrays([head_batch.doc, body_batch.doc]),
        pa.concat_arrays([head_batch.line, body_batch.line]),
    )
    return batch, block[last_end + 1 :], head_lines + body_lines


def line_blocks(
    head: bytes, stream: BinaryIO, read_bytes: int
) -> Iterator[tuple[list[bytes], bool]]:
    """Whole lines (without their ``\\n``) as they are read, a block at a time, each
    with ``True`` when it is the last; for framers of line-based text formats."""
    pending = head
    while True:
        block = stream.read(read_bytes)
        data = pending + block if block else pending
        cut = data.rfind(b"\n") + 1 if block else len(data)
        if cut == 0 and block:
            pending = data
            continue
        pending = data[cut:]
        lines = data[:cut].split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        yield lines, not block
        if not block:
            return


def _lines_of(data: bytes, cut: int, first_line: int) -> Batch:
    """The lines in ``data[:cut]`` without their line ends, with no per-line Python objects.

    Arrow splits the buffer in one C++ pass into the lines' text, without the line
    ends; a final line without one (the end of the input) is a line too.
    """
    end = cut - 1 if data[cut - 1 : cut] == b"\n" else cut
    whole = pa.Array.from_buffers(
        pa.binary(), 1, [None, pa.array([0, end], pa.int32()).buffers()[1], pa.py_buffer(data)]
    )
    binary = pc.split_pattern(whole, b"\n").flatten()
    lines = pa.array(range(first_line, first_line + len(binary)), pa.int64())
    try:
        text = binary.cast(pa.string())
        return Batch(text, text, lines)
    except pa.ArrowInvalid:
        pieces = binary.to_pylist()
        raw = pa.array([p.decode("utf-8", "backslashreplace") for p in pieces], pa.string())
        doc = pa.array([p.decode("utf-8", "replace") for p in pieces], pa.string())
        return Batch(raw, doc, lines)


def _candidate_lines(
    data: bytes, first_line: int, needles: list[bytes], begin: int, stop: int
) -> tuple[Batch, int]:
    """The lines of ``data[begin:stop]`` (whole lines) that hold a needle or an escape,
    found with find() in place; also how many line ends that stretch holds."""
    starts: set[int] = set()
    # Two-byte searches are slow; one memchr for a backslash usually rules them out.
    escapes = _ESCAPES if data.find(b"\\", begin, stop) >= 0 else ()
    for needle in (*needles, *escapes):
        position = data.find(needle, begin, stop)
        while position >= 0:
            starts.add(data.rfind(b"\n", begin, position) + 1 or begin)
            end = data.find(b"\n", position, stop)
            if end < 0:
                break
            position = data.find(needle, end, stop)
    pieces: list[bytes] = []
    numbers: list[int] = []
    line = first_line
    previous = begin
    for start in sorted(starts):
        line += data.count(b"\n", previous, start)
        previous = start
        end = data.find(b"\n", start, stop)
        piece = data[start : end if end >= 0 else stop]
        pieces.append(piece[:-1] if piece.endswith(b"\r") else piece)
        numbers.append(line)
    lines = line - first_line + data.count(b"\n", previous, stop)
    raw = [p.decode("utf-8", "backslashreplace") for p in pieces]
    doc = [p.decode("utf-8", "replace") for p in pieces]
    batch = Batch(
        pa.array(raw, pa.string()), pa.array(doc, pa.string()), pa.array(numbers, pa.int64())
    )
    return batch, lines


_EMPTY = Batch(pa.array([], pa.string()), pa.array([], pa.string()), pa.array([], pa.int64()))


def json_objects(texts: Iterable[str | bytes], limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` of ``texts`` that are JSON objects, parsed; others are skipped
    (a sample to detect a format or a chain from)."""
    objects: list[dict[str, Any]] = []
    for text in texts:
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            try:  # a lone surrogate escape, which the load maps too (load.py)
                parsed = json.loads(text)
            except (ValueError, RecursionError):
                continue
        if isinstance(parsed, dict):
            objects.append(parsed)
            if len(objects) >= limit:
                break
    return objects
