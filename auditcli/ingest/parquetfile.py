"""Parquet files as records, one a row, read row group by row group.

Parquet keeps no original text, so a row's ``raw`` is a re-serialisation: the row
as a compact JSON object (times in ISO 8601, naive ones read as UTC; bytes as
UTF-8 text; decimals as strings; dotted column names nested as in
``ingest.tabular``), and ``doc`` is the same text. ``line`` is the 0-based row index.

A file written by ``auditcli ... --format parquet`` (the canonical columns with
``raw``) is read back as it was exported: ``raw`` is the original event's text
from its ``raw`` column, and ``doc`` the other canonical columns, which the
``auditcli`` adapter copies as they are (``ingest.canonical``).

Parquet needs random access, so the stream is spooled to a temporary file first
(in memory while small). Nothing here touches DuckDB.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from auditcli.ingest.canonical import CANONICAL_KEYS
from auditcli.ingest.framing import Batch
from auditcli.ingest.tabular import key_paths, nested

MAGIC = b"PAR1"
#: Parquet files up to this size are spooled in memory, larger ones to a temporary file.
SPOOL_BYTES = 64 << 20
#: Rows turned into records at a time.
BATCH_ROWS = 32_768
_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def frame_parquet(head: bytes, stream: BinaryIO, chunk_bytes: int) -> Iterator[Batch]:
    """Yield the rows of a Parquet file whose first ``head`` bytes were read already."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        spool.write(head)
        shutil.copyfileobj(stream, spool, chunk_bytes)
        spool.seek(0)
        try:
            parquet = pq.ParquetFile(spool)
            yield from _batches(parquet)
        except (pa.ArrowException, ValueError) as error:
            raise OSError(f"not a readable Parquet file ({error})") from error


def _batches(parquet: pq.ParquetFile) -> Iterator[Batch]:
    schema = parquet.schema_arrow
    canonical = CANONICAL_KEYS | {"raw"} <= set(schema.names)
    paths = key_paths(schema.names)
    first_row = 0
    for record_batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        ready = _json_ready(record_batch)
        try:
            rows = ready.to_pylist()
        except (OverflowError, ValueError):  # a time before year 1 or after 9999
            rows = _with_times_as_text(ready).to_pylist()
        if canonical:
            originals = [row.pop("raw") for row in rows]
            docs = [_dumps(row) for row in rows]
            texts = [
                doc if original is None else str(original)
                for original, doc in zip(originals, docs, strict=True)
            ]
        else:
            docs = texts = [_dumps(nested(paths, list(row.values()))) for row in rows]
        index = pa.array(range(first_row, first_row + len(rows)), pa.int64())
        first_row += len(rows)
        yield Batch(pa.array(texts, pa.string()), pa.array(docs, pa.string()), index)


def _json_ready(record_batch: pa.RecordBatch) -> pa.RecordBatch:
    """``record_batch`` with nanosecond times cut to microseconds (Python's precision)."""
    columns = []
    for column in record_batch.columns:
        kind = column.type
        if pa.types.is_timestamp(kind) and kind.unit == "ns":
            column = column.cast(pa.timestamp("us", kind.tz), safe=False)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=record_batch.schema.names)


def _with_times_as_text(record_batch: pa.RecordBatch) -> pa.RecordBatch:
    """``record_batch`` with its times and dates as ISO 8601 text, or, where Python
    cannot hold one, as text saying so: such a time is unreadable, never another one
    (read as a number it would pass for epoch milliseconds)."""
    columns = []
    for column in record_batch.columns:
        kind = column.type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            column = pa.array([_time_text(column, i) for i in range(len(column))], pa.string())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=record_batch.schema.names)


def _time_text(column: pa.Array, index: int) -> str | None:
    scalar = column[index]
    if not scalar.is_valid:
        return None
    try:
        value = scalar.as_py()
    except (OverflowError, ValueError):
        unit, storage = ("day", pa.int32()) if column.type == pa.date32() else ("ms", pa.int64())
        unit = getattr(column.type, "unit", unit)
        return f"out of range: {scalar.cast(storage).as_py()} {unit} from 1970"
    return orjson.dumps(value, option=_OPTIONS).decode()[1:-1]


def _dumps(row: dict[str, Any]) -> str:
    return orjson.dumps(row, default=_plain, option=_OPTIONS).decode()


def _plain(value: Any) -> Any:
    """A JSON-ready stand-in for a value orjson does not write itself (decimals, ...)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)
