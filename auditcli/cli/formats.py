"""``auditcli formats``: the input formats auditcli reads and how each fills the columns."""

from __future__ import annotations

import os

from auditcli.cli.app import (
    DebugOpt,
    FormatOpt,
    NoColorOpt,
    OutputOpt,
    app,
    command,
    console_for,
    format_for,
    output_stream,
    use_color,
)
from auditcli.render import OutputFormat, RenderOptions, write_rows


@app.command("formats")
@command
def formats_command(
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Input formats (for --input-format): what each reads and where its columns come from.

    Machine formats add ``columns`` (those it fills) and ``fields`` (a JSON object of
    each column's source fields, in the order tried).
    """
    import pyarrow as pa

    from auditcli.ingest.catalog import format_rows

    output_format = format_for(fmt, output)
    table = output_format is OutputFormat.TABLE
    names = ["format", "description", "maps"] + ([] if table else ["columns", "fields"])
    schema = pa.schema([(name, pa.string()) for name in names])
    rows = [{name: row[name] for name in names} for row in format_rows()]
    reader = pa.RecordBatchReader.from_batches(
        schema, pa.Table.from_pylist(rows, schema=schema).to_batches()
    )
    with output_stream(output) as stream:
        console = console_for(stream, use_color(no_color, os.environ)) if table else None
        write_rows(reader, output_format, stream, RenderOptions(), console=console, noun="formats")
