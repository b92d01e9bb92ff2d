"""Parquet, written batch by batch with the rows' Arrow schema."""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq


def write(reader: pa.RecordBatchReader, out: BinaryIO) -> int:
    """Write ``reader`` as one Parquet file to ``out``; return the row count."""
    count = 0
    with pq.ParquetWriter(pa.PythonFile(out, mode="w"), reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            count += batch.num_rows
    return count
