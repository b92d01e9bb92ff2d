"""CSV with a header row (GitHub audit log exports, any other export) as records.

Cells are separated by commas, tabs or semicolons, whichever splits the header row
into the most names (``tabular.csv_delimiter``).

Each row becomes one record: ``raw`` is its text exactly as read, a quoted cell's
line breaks included (only the line end after the row is cut); ``line`` the 1-based
line it starts on; ``doc`` a JSON object of header -> cell, every cell a string as
written (``=cmd|...`` and other formula-looking cells too), dotted header names
nested (``ingest.tabular``). Rows are found by counting quotes line by line, so
the input is read chunk by chunk and memory stays flat. A row the csv module
cannot read is passed on with its text as ``doc`` and is rejected as not JSON.
Nothing here touches DuckDB.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

from auditcli.ingest.framing import Batch, line_blocks
from auditcli.ingest.tabular import csv_delimiter, key_paths, nested, unique_names

#: Lines read into one batch at most, and bytes read at a time: framing makes Python
#: objects per line, so these bound its memory.
BATCH_LINES = 1 << 16
READ_BYTES = 4 << 20
#: A row still open (an unbalanced quote) past this size is cut and passed on as is.
MAX_ROW_BYTES = 16 << 20
_BLANK_LINES = re.compile(rb"\A(?:[ \t\f\v]*\r?\n)+")


def sniff(head: bytes) -> bool:
    """True when ``head`` starts with a CSV header row (see ``tabular.csv_delimiter``):
    a repeated name is read as ``name_2``, an empty one as ``column_N``, as a
    spreadsheet's trailing comma leaves (see ``tabular.unique_names``)."""
    return _delimiter(head) is not None


def _delimiter(head: bytes) -> str | None:
    """The delimiter of a file that starts with ``head``, None when it is not CSV: its
    first line must be UTF-8 (the rest may be cut anywhere, a character too). Blank
    lines before the header row are passed over, as reading the rows skips them."""
    first, newline, rest = _BLANK_LINES.sub(b"", head, count=1).partition(b"\n")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return csv_delimiter(text + newline.decode() + rest.decode("utf-8", "replace"))


def frame_csv(head: bytes, stream: BinaryIO, chunk_bytes: int) -> Iterator[Batch]:
    """Yield the rows of a CSV file whose first ``head`` bytes were read already."""
    rows = _Rows(_delimiter(head) or ",")
    for lines, last in line_blocks(head, stream, min(chunk_bytes, READ_BYTES)):
        for start in range(0, len(lines), BATCH_LINES):
            for line in lines[start : start + BATCH_LINES]:
                rows.add(line)
            batch = rows.take()
            if batch is not None:
                yield batch
        if last:
            rows.finish()
            batch = rows.take()
            if batch is not None:
                yield batch


class _Rows:
    """Physical lines in, whole CSV rows out (the first one is the header)."""

    def __init__(self, delimiter: str) -> None:
        self._delimiter = delimiter
        self._paths: list[tuple[str, ...]] | None = None
        self._header: str | None = None
        self._open: list[bytes] = []
        self._open_bytes = 0
        self._quotes_odd = False
        self._line = 0
        self._start = 1
        self._raw: list[str] = []
        self._docs: list[str] = []
        self._numbers: list[int] = []

    def add(self, line: bytes) -> None:
        self._line += 1
        if not self._open:
            self._start = self._line
        self._open.append(line)
        self._open_bytes += len(line)
        if line.count(b'"') % 2:
            self._quotes_odd = not self._quotes_odd
        if not self._quotes_odd or self._open_bytes > MAX_ROW_BYTES:
            self._close()

    def finish(self) -> None:
        if self._open:
            self._close()

    def _close(self) -> None:
        lines, start = self._open, self._start
        self._open, self._open_bytes, self._quotes_odd = [], 0, False
        data = b"\n".join(lines).removesuffix(b"\r")
        if not data.strip():
            return
        raw, text = _decoded(data)
        cells = _cells(text, self._delimiter)
        if cells is None and len(lines) > 1:
            # A stray quote joined lines that are rows of their own: read them one by one.
            for offset, line in enumerate(lines):
                self._open, self._start = [line], start + offset
                self._close()
            return
        if self._paths is None:
            self._paths = key_paths(unique_names(cells or []))
            self._header = raw
            return
        self._raw.append(raw)
        self._docs.append(text if cells is None else _dumps(nested(self._paths, cells)))
        self._numbers.append(start)

    def take(self) -> Batch | None:
        """The rows completed since the last call, as a batch (None when there are none)."""
        if not self._raw:
            return None
        batch = Batch(
            pa.array(self._raw, pa.string()),
            pa.array(self._docs, pa.string()),
            pa.array(self._numbers, pa.int64()),
            header=self._header,
            delimiter=self._delimiter,
        )
        self._raw, self._docs, self._numbers = [], [], []
        return batch


def _decoded(data: bytes) -> tuple[str, str]:
    """(raw, text): invalid UTF-8 as ``\\xNN`` escapes in raw, as U+FFFD in text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "backslashreplace"), data.decode("utf-8", "replace")
    return text, text


def _cells(text: str, delimiter: str) -> list[str] | None:
    """The cells of one row's text; None when the csv module cannot read it."""
    try:
        return next(csv.reader([text], strict=True, delimiter=delimiter))
    except (csv.Error, StopIteration):
        return None


def _dumps(row: dict[str, Any]) -> str:
    return orjson.dumps(row).decode()
