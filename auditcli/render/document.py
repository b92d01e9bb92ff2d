"""Rows as documents for people: a Markdown table, or one self-contained HTML page."""

from __future__ import annotations

import html
from typing import BinaryIO

import pyarrow as pa

from auditcli.render import RenderOptions
from auditcli.render.table import cell_text, column_headers

_MARKDOWN_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "|": "\\|",
        "`": "\\`",
        "[": "\\[",
        "]": "\\]",
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
    }
)
#: Pages load nothing and run nothing, whatever a cell holds.
CONTENT_SECURITY_POLICY = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "style-src 'unsafe-inline'; img-src data:\">"
)


def markdown_cell(text: str) -> str:
    """A table cell that cannot break the Markdown table around it, nor become a link,
    an image or HTML when rendered."""
    return text.translate(_MARKDOWN_ESCAPES)


def write_markdown(reader: pa.RecordBatchReader, out: BinaryIO, options: RenderOptions) -> int:
    """A pipe table, escaped; return the row count."""
    names = reader.schema.names
    headers = [markdown_cell(header) for header in column_headers(names, options)]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(names)]
    count = 0
    for batch in reader:
        for row in batch.to_pylist():
            cells = [markdown_cell(cell_text(row[n], options)) for n in names]
            lines.append("| " + " | ".join(cells) + " |")
            count += 1
    out.write(("\n".join(lines) + "\n").encode("utf-8"))
    out.flush()
    return count


def write_html(reader: pa.RecordBatchReader, out: BinaryIO, options: RenderOptions) -> int:
    """A page holding one table, with nothing fetched from the network."""
    names = reader.schema.names
    rows = []
    for batch in reader:
        for row in batch.to_pylist():
            cells = "".join(f"<td>{html.escape(cell_text(row[n], options))}</td>" for n in names)
            rows.append(f"<tr>{cells}</tr>")
    head = "".join(f"<th>{html.escape(n)}</th>" for n in column_headers(names, options))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"{CONTENT_SECURITY_POLICY}<title>auditcli</title>"
        "<style>body{font:14px system-ui,sans-serif}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;"
        "text-align:left}</style></head><body>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</body></html>\n"
    )
    out.write(page.encode("utf-8"))
    out.flush()
    return len(rows)
