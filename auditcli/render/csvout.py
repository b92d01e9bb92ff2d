"""CSV: a header always, ``\\n`` line ends, times in ISO 8601 UTC, formulas defused.

A text cell starting with ``= + - @``, tab or CR gets a leading ``'`` so spreadsheets
show it as text (``--csv-raw`` turns that off); numbers are written as they are.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

from auditcli.privacy.text import spreadsheet_safe
from auditcli.render import RenderOptions
from auditcli.timeutil import format_ts

_NEEDS_QUOTES = re.compile('[",\r\n]')


def _cell(value: Any, safe: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # -300.0 is a number to a spreadsheet, not a formula
    if isinstance(value, list | dict):
        text = orjson.dumps(value).decode()
    else:
        text = str(value)
    return spreadsheet_safe(text) if safe else text


def _line(cells: list[str]) -> str:
    """One RFC 4180 record; a lone CR is quoted too (``csv.writer`` leaves it bare
    when the line end is ``\\n``, and readers then split the row there)."""
    if cells == [""]:
        return '""\n'
    return (
        ",".join('"' + c.replace('"', '""') + '"' if _NEEDS_QUOTES.search(c) else c for c in cells)
        + "\n"
    )


def write(reader: pa.RecordBatchReader, out: BinaryIO, options: RenderOptions) -> int:
    """Write ``reader`` as CSV to ``out``; return the row count."""
    text = io.TextIOWrapper(out, encoding="utf-8", errors="replace", newline="", write_through=True)
    text.write(_line(reader.schema.names))
    safe = not options.csv_raw
    count = 0
    for batch in reader:
        rows = batch.to_pylist()
        text.write("".join(_line([_cell(v, safe) for v in row.values()]) for row in rows))
        count += len(rows)
    text.flush()
    text.detach()
    return count
