"""The rich table for terminals: escaped text, one time zone, failures in red.

Every cell is a ``rich.text.Text`` built from escaped text, so markup such as
``[bold]`` inside a log field is shown literally and control characters are
shown as escapes. The Console comes from the CLI; this module never looks at
the terminal itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditcli.privacy.text import visible
from auditcli.render import RenderOptions
from auditcli.timeutil import format_short, zone_label

#: Columns that never wrap, and columns cut at a width rather than folded.
_NARROW = {
    "outcome",
    "source_line",
    "events",
    "rejects",
    "source_ip",
    "source_format",
    "seq",
    "command",
    "row_count",
    "exit_code",
}
_CAPPED = {
    "error": 60,
    "command_line": 120,
    "user_agent": 40,
    "raw": 120,
    "file_sha256": 16,
    "event_id": 32,
    "source_file": 60,
}


_MIN_CUT = {"source_file": 20}
#: Cut from the left, since their end (a file name) says the most.
_KEEP_END = {"source_file"}


def column_headers(names: list[str], options: RenderOptions) -> list[str]:
    """Column names for people: the time column says which zone its times are in."""
    return [f"{n} ({zone_label(options.tz)})" if n == "ts" else n for n in names]


def cell_text(value: Any, options: RenderOptions, max_chars: int | None = None) -> str:
    """How one value reads in a table cell."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_short(value, options.tz)
    return visible(str(value), min(max_chars or options.max_cell_chars, options.max_cell_chars))


def write(
    reader: pa.RecordBatchReader,
    console: Console,
    options: RenderOptions,
    *,
    matched: int | None,
    noun: str,
) -> int:
    """Print the rows of ``reader`` as one table with a footer; return the row count."""
    names = reader.schema.names
    is_time = {n for n in names if pa.types.is_timestamp(reader.schema.field(n).type)}
    rows: list[tuple[list[str], bool]] = []
    for batch in reader:
        for row in batch.to_pylist():
            cells = [cell_text(row[name], options, _CAPPED.get(name)) for name in names]
            rows.append((cells, row.get("outcome") == "failure"))
    headers = column_headers(names, options)
    limits = _cut_widths(names, headers, [cells for cells, _ in rows], console.width)
    for name in _KEEP_END & limits.keys():
        index, width = names.index(name), limits.pop(name)
        for cells, _ in rows:
            if len(cells[index]) > width:
                cells[index] = "…" + cells[index][-(width - 1) :]
    table = Table(
        header_style="bold", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False
    )
    for index, (name, header) in enumerate(zip(names, headers, strict=True)):
        cut = limits.get(name)
        unbroken = name in is_time or name in _NARROW
        table.add_column(
            header,
            no_wrap=unbroken or cut is not None,
            overflow="ellipsis" if cut is not None else "fold",
            max_width=cut,
            min_width=_natural(index, header, rows) if unbroken else len(header),
            style="cyan" if name in is_time else None,
        )
    for cells, failed in rows:
        texts = [Text(cell) for cell in cells]
        if failed:
            for name, text in zip(names, texts, strict=True):
                if name in ("outcome", "error"):
                    text.stylize("bold red")
        table.add_row(*texts, style="red" if failed else None)
    table.caption = _footer(len(rows), matched, noun)
    table.caption_justify = "left"
    console.print(table)
    return len(rows)


def _cut_widths(
    names: list[str], headers: list[str], rows: list[list[str]], width: int
) -> dict[str, int]:
    """Widths at which long free-text columns are cut so rows stay one line when possible."""
    natural = [_natural(i, h, [(r, False) for r in rows]) for i, h in enumerate(headers)]
    flexible = [i for i, n in enumerate(names) if n in _CAPPED]
    gap = 3  # a column's padding and separator in the SIMPLE_HEAD box
    fixed = sum(natural[i] + gap for i in range(len(names)) if i not in flexible)
    room = width - fixed - gap * len(flexible) - 1
    if not flexible or room >= sum(natural[i] for i in flexible):
        return {}
    share = room // len(flexible)
    cuts = {names[i]: max(share, _MIN_CUT.get(names[i], 10)) for i in flexible}
    return {name: width for name, width in cuts.items() if natural[names.index(name)] > width}


def _natural(index: int, header: str, rows: list[tuple[list[str], bool]]) -> int:
    """The width column ``index`` needs to show every cell on one line."""
    return max([len(header), *(len(cells[index]) for cells, _ in rows)])


def _footer(shown: int, matched: int | None, noun: str) -> str:
    if matched is None or matched == shown:
        return f"{shown:,} {noun}"
    return f"showing {shown:,} of {matched:,} matched {noun} (use --limit to see more)"
