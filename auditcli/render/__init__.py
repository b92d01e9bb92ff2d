"""Every byte auditcli writes to stdout: one writer per ``--format``.

Writers are pure functions of (rows, options, binary stream); none of them reads
the terminal or the environment. Machine formats stream batch by batch and carry
ISO 8601 UTC times; the table gets its rich Console from the CLI.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console


@enum.unique
class OutputFormat(enum.StrEnum):
    """The values of ``--format``."""

    TABLE = "table"
    JSONL = "jsonl"
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"
    MARKDOWN = "markdown"
    HTML = "html"


@dataclass(frozen=True)
class RenderOptions:
    """Independent switches every writer may honour."""

    tz: tzinfo = UTC
    """Zone of times shown in tables (machine formats are always UTC)."""
    csv_raw: bool = False
    """Write CSV cells exactly, without neutralising formulas."""
    engine: Any = None
    """A DuckDB connection the JSON-lines writer may borrow a cursor of, to write
    whole batches in C instead of row by row in Python (same JSON either way)."""
    max_cell_chars: int = 200
    """Longer values are cut in tables (kept whole in machine formats)."""


@dataclass(frozen=True)
class TableFooter:
    """What the table says under its rows."""

    shown: int
    matched: int | None
    noun: str = "events"


def write_rows(
    reader: pa.RecordBatchReader,
    fmt: OutputFormat,
    out: BinaryIO,
    options: RenderOptions = RenderOptions(),
    *,
    console: Console | None = None,
    matched: int | None = None,
    noun: str = "events",
) -> int:
    """Write every row of ``reader`` in ``fmt``; return how many rows were written."""
    match fmt:
        case OutputFormat.TABLE:
            from auditcli.render import table

            if console is None:
                raise ValueError("the table writer needs a Console")
            return table.write(reader, console, options, matched=matched, noun=noun)
        case OutputFormat.JSONL:
            from auditcli.render import jsonout

            return jsonout.write_jsonl(reader, out, options.engine)
        case OutputFormat.JSON:
            from auditcli.render import jsonout

            return jsonout.write_json(reader, out)
        case OutputFormat.CSV:
            from auditcli.render import csvout

            return csvout.write(reader, out, options)
        case OutputFormat.PARQUET:
            from auditcli.render import parquetout

            return parquetout.write(reader, out)
        case OutputFormat.MARKDOWN:
            from auditcli.render import document

            return document.write_markdown(reader, out, options)
        case OutputFormat.HTML:
            from auditcli.render import document

            return document.write_html(reader, out, options)
