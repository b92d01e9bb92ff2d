"""JSON lines written by DuckDB: a whole Arrow batch per query instead of a row at a time.

The lines mean exactly what jsonout's orjson lines mean (same keys in the same order,
same values, times in RFC 3339 UTC with ``Z``, NaN and infinities as null); only the
spelling of a few tokens may differ: a control character's escape in upper-case hex
(``\\u001B``) and exponents of very large or small doubles (``1e21``). A schema with
a column type outside the few handled here is left to jsonout's row-by-row path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa

try:  # the kernels alone: pyarrow.compute builds ~30 ms of wrappers on import
    from pyarrow._compute import call_function
except ImportError:  # pragma: no cover - a pyarrow that moved its internals
    from pyarrow.compute import call_function

__all__ = ["BulkLines"]

_VIEW = "_auditcli_json_batch"
_POSITION = "_auditcli_json_position"  # each row's place in the batch
#: Bytes of a batch written by one query at most: DuckDB holds several copies of what
#: it writes as JSON (60 rows of 1.2 MB each ran out of a 1 GB pool in one query).
SLICE_BYTES = 16 << 20


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _plain(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
        or pa.types.is_date32(kind)
    )


def _expression(name: str, kind: pa.DataType) -> str | None:
    """SQL writing column ``name`` as orjson would, or None if there is none here."""
    column = _quoted(name)
    if _plain(kind):
        return column
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and _plain(kind.value_type):
        return column
    if pa.types.is_float64(kind):
        return f"CASE WHEN isfinite({column}) THEN {column} END"
    if pa.types.is_timestamp(kind) and kind.unit in ("s", "ms", "us"):
        # as UTC whatever the session's zone; orjson leaves out a zero fraction
        utc = f"make_timestamp(epoch_us({column}))"
        return (
            f"CASE WHEN epoch_us({column}) % 1000000 = 0"
            f" THEN strftime({utc}, '%Y-%m-%dT%H:%M:%SZ')"
            f" ELSE strftime({utc}, '%Y-%m-%dT%H:%M:%S.%fZ') END"
        )
    return None


def _select(schema: pa.Schema) -> str | None:
    names = schema.names
    lowered = {name.lower() for name in names}  # DuckDB's names ignore case
    if len(lowered) != len(names) or "" in lowered or _POSITION in lowered:
        return None
    members = []
    for field in schema:
        expression = _expression(field.name, field.type)
        if expression is None:
            return None
        members.append(f"{_literal(field.name)}: {expression}")
    # ordered by position: the store lets DuckDB scan in any order (preserve_insertion_order)
    return (
        f"SELECT to_json({{{', '.join(members)}}}) || chr(10) FROM {_VIEW} ORDER BY {_POSITION}"
    )


class BulkLines:
    """Writes batches of one schema as JSON lines through a cursor of ``engine``."""

    def __init__(self, engine: Any, schema: pa.Schema) -> None:
        self._sql = _select(schema)
        self._cursor = engine.cursor() if self._sql is not None else None

    @property
    def usable(self) -> bool:
        """False when the schema has a column this module does not write."""
        return self._cursor is not None

    def write(self, batch: pa.RecordBatch, out: BinaryIO) -> None:
        """Write every row of ``batch`` as one line, in slices of ``SLICE_BYTES`` or so."""
        for part in _slices(batch):
            self._write(part, out)

    def _write(self, batch: pa.RecordBatch, out: BinaryIO) -> None:
        assert self._cursor is not None and self._sql is not None
        positions = pa.array(range(batch.num_rows), pa.int64())
        table = pa.Table.from_batches([batch]).append_column(_POSITION, positions)
        self._cursor.register(_VIEW, table)
        try:
            lines = self._cursor.sql(self._sql).to_arrow_table().column(0)
        finally:
            self._cursor.unregister(_VIEW)
        for chunk in lines.chunks:
            _write_values(chunk, out)

    def close(self) -> None:
        """Release the cursor."""
        if self._cursor is not None:
            self._cursor.close()


def _slices(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """``batch`` in slices of rows whose texts take ``SLICE_BYTES`` at most (a row
    alone may take more), by each row's own size: wide rows may sit together."""
    if batch.nbytes <= SLICE_BYTES:
        yield batch
        return
    sizes = [0] * batch.num_rows
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            lengths = call_function("binary_length", [column]).to_pylist()
            sizes = [size + (length or 0) for size, length in zip(sizes, lengths, strict=True)]
    start, taken = 0, 0
    for row, size in enumerate(sizes):
        if taken + size > SLICE_BYTES and row > start:
            yield batch.slice(start, row - start)
            start, taken = row, 0
        taken += size
    yield batch.slice(start)


def _write_values(strings: pa.Array, out: BinaryIO) -> None:
    """Write the concatenated values of a string array straight from its buffers."""
    if len(strings) == 0:
        return
    if not pa.types.is_string(strings.type):
        strings = strings.cast(pa.string())
    _, offsets, data = strings.buffers()
    bounds = memoryview(offsets).cast("i")  # int32 offsets, before the array's slicing
    start, stop = bounds[strings.offset], bounds[strings.offset + len(strings)]
    out.write(memoryview(data)[start:stop])
