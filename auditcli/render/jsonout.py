"""JSON lines and JSON arrays, through orjson, one batch at a time.

Keys follow column order; times are RFC 3339 UTC with ``Z``; text that is not
valid Unicode (lone surrogates) is written with replacement characters rather
than failing, so output stays valid JSON for any input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Lines joined per write. orjson gives each output a generous buffer, so holding a
#: whole batch's lines at once means fresh pages for every one: ~10x slower.
_LINES_AT_ONCE = 256


def rows(reader: pa.RecordBatchReader) -> Iterator[dict[str, Any]]:
    """Each row of ``reader`` as a dict, in column order."""
    for batch in reader:
        yield from _naive_utc(batch).to_pylist()


def _naive_utc(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with zoned times as naive UTC (the same instants; written with ``Z``):
    Python builds naive datetimes several times faster than zoned ones."""
    for index, kind in enumerate(batch.schema.types):
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            naive = batch.column(index).cast(pa.timestamp(kind.unit))
            batch = batch.set_column(index, batch.schema.names[index], naive)
    return batch


def dumps(row: dict[str, Any]) -> bytes:
    """One row as compact JSON."""
    try:
        return orjson.dumps(row, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return orjson.dumps(_scrub(row), option=_OPTIONS)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def write_jsonl(reader: pa.RecordBatchReader, out: BinaryIO, engine: Any = None) -> int:
    """One JSON object per line, flushed per batch so pipes see rows at once.

    With a DuckDB connection, batches whose columns DuckDB writes as orjson would
    (see jsonbulk.py) are written by DuckDB in one go; the rest row by row.
    """
    count = 0
    bulk = None
    if engine is not None:
        from auditcli.render.jsonbulk import BulkLines

        bulk = BulkLines(engine, reader.schema)
    try:
        for batch in reader:
            if not batch.num_rows:
                continue
            if bulk is not None and bulk.usable:
                bulk.write(batch, out)
            else:
                rows = _naive_utc(batch).to_pylist()
                for start in range(0, len(rows), _LINES_AT_ONCE):
                    lines = [dumps(row) for row in rows[start : start + _LINES_AT_ONCE]]
                    out.write(b"\n".join(lines) + b"\n")
            out.flush()
            count += batch.num_rows
    finally:
        if bulk is not None:
            bulk.close()
    return count


def write_json(reader: pa.RecordBatchReader, out: BinaryIO) -> int:
    """One JSON array (``[]`` when empty), streamed element by element."""
    count = 0
    out.write(b"[")
    for row in rows(reader):
        out.write((b",\n" if count else b"\n") + dumps(row))
        count += 1
    out.write(b"\n]\n" if count else b"]\n")
    out.flush()
    return count
