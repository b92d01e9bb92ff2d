"""CSV: a header always, ``\\n`` line ends, times in ISO 8601 UTC, formulas defused.

A cell starting with ``= + - @``, tab or CR gets a leading ``'`` so spreadsheets
show it as text (``--csv-raw`` turns that off).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

from auditcli.privacy.text import spreadsheet_safe
from auditcli.render import RenderOptions
from auditcli.timeutil import format_ts


def _cell(value: Any, safe: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, list | dict):
        text = orjson.dumps(value).decode()
    else:
        text = str(value)
    return spreadsheet_safe(text) if safe else text


def write(reader: pa.RecordBatchReader, out: BinaryIO, options: RenderOptions) -> int:
    """Write ``reader`` as CSV to ``out``; return the row count."""
    text = io.TextIOWrapper(out, encoding="utf-8", errors="replace", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(reader.schema.names)
    safe = not options.csv_raw
    count = 0
    for batch in reader:
        rows = batch.to_pylist()
        writer.writerows([_cell(v, safe) for v in row.values()] for row in rows)
        count += len(rows)
    text.flush()
    text.detach()
    return count
