"""``auditcli reveal`` (a token back to its value) and ``auditcli access-log``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditcli import diagnostics

if TYPE_CHECKING:
    from auditcli.store import Store

from auditcli.cli.app import (
    MAX_ROWS,
    DbOpt,
    DebugOpt,
    FormatOpt,
    NoColorOpt,
    OutputOpt,
    PolicyOpt,
    PseudonymizeOpt,
    PseudonymKeyOpt,
    TzOpt,
    UnsafeShowSecretsOpt,
    app,
    command,
    console_for,
    db_path,
    format_for,
    output_stream,
    use_color,
)
from auditcli.cli.data import PathsArg, emit, open_for_query
from auditcli.errors import ProblemFound, UsageError
from auditcli.privacy.text import visible
from auditcli.render import OutputFormat, RenderOptions, write_rows


@app.command("reveal")
@command
def reveal_command(
    token: Annotated[str, typer.Argument(help="A pseudonym token, such as user:3f9a0c1b2d4e5f60.")],
    paths: PathsArg = None,
    db: DbOpt = None,
    pseudonym_key_file: PseudonymKeyOpt = None,
    unsafe_show_secrets: UnsafeShowSecretsOpt = False,
    policy: PolicyOpt = None,
    debug: DebugOpt = False,
) -> None:
    """The value a pseudonym token stands for (exit 1 when none does).

    Tries the values of the --db database (or of PATHS) under its key; on a database,
    the act is recorded in its access log.
    """
    from auditcli.cli.safety import access_recorded, privacy_for, pseudonym_key
    from auditcli.privacy.case import TOKEN, reveal
    from auditcli.privacy.secrets import mask_text

    if not TOKEN.fullmatch(token):
        raise UsageError(
            f"{token!r} is not a pseudonym token",
            "tokens look like user:3f9a0c1b2d4e5f60 (user, email, ip, phone or agent)",
        )
    privacy = privacy_for(unsafe_show_secrets, False, policy, pseudonym_key_file)
    store = open_for_query(paths, db)
    try:
        with access_recorded(store, "reveal", privacy, enabled=not paths) as tally:
            key = pseudonym_key(privacy, store, case=not paths, create=False)
            value = reveal(store, key, token) if key is not None else None
            tally.rows = 0 if value is None else 1
            if value is None:
                where = "these files" if paths else str(db_path(db))
                raise ProblemFound(
                    f"{token}: no value in {where} has this token"
                    + ("" if key is not None else " (no pseudonym key yet)"),
                    "a token is only revealed with the key and the data it was made from",
                )
            if privacy.detectors is not None:
                value = mask_text(value, privacy.detectors)
            with output_stream(None) as stream:
                stream.write((visible(value) + "\n").encode())
    finally:
        store.close()


#: Columns shown: tables get times in --tz; machine formats the exact text hashed.
_LOG_TABLE = (
    "seq, CAST(ts AS TIMESTAMPTZ) AS ts, os_user, host, command, row_count, exit_code, command_line"
)
_LOG_FULL = "seq, ts, os_user, host, command, command_line, row_count, exit_code, prev_hash, hash"


@app.command("access-log")
@command
def access_log_command(
    db: DbOpt = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Check the log's hash chain (exit 1 when broken).")
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, max=MAX_ROWS, help="The last N entries only.")
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    tz: TzOpt = None,
    no_color: NoColorOpt = False,
    unsafe_show_secrets: UnsafeShowSecretsOpt = False,
    pseudonymize: PseudonymizeOpt = None,
    policy: PolicyOpt = None,
    pseudonym_key_file: PseudonymKeyOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Who ran which command on this database, when, and with how many rows.

    Every command run against a database appends one entry, failed ones too, chained
    by hashes (auditcli-chain/1); --verify checks the chain and prints its head.
    """
    from auditcli.cli.safety import access_recorded, output_privacy, privacy_for
    from auditcli.store import Store
    from auditcli.timeutil import zone

    privacy = privacy_for(unsafe_show_secrets, pseudonymize, policy, pseudonym_key_file)
    zone_info = zone(tz)
    output_format = format_for(fmt, output)
    color = use_color(no_color, os.environ)
    store = Store.open(db_path(db), must_exist=True)
    try:
        with access_recorded(store, "access-log", privacy) as tally:
            if verify:
                tally.rows = _verify(store, output_format, output, color)
                return
            columns = _LOG_TABLE if output_format is OutputFormat.TABLE else _LOG_FULL
            sql = f"SELECT {columns} FROM access_log"
            params: list[object] = []
            if limit is not None:
                sql += " WHERE seq > (SELECT coalesce(max(seq), 0) FROM access_log) - ?"
                params.append(limit)
            tally.rows = emit(
                store,
                sql + " ORDER BY seq",
                params,
                output_format,
                output,
                RenderOptions(tz=zone_info),
                color,
                noun="entries",
                privacy=output_privacy(privacy, store, case=True),
            )
    finally:
        store.close()


def _verify(store: Store, output_format: OutputFormat, output: Path | None, color: bool) -> int:
    """Check the chain; every defect is a row on stdout, the verdict a line on stderr."""
    import pyarrow as pa

    from auditcli.access_log import verify_access_log

    report = verify_access_log(store)
    if report.intact:
        head = report.head or "none"
        diagnostics.note(f"access log intact: {report.events:,} entries, head {head}")
        return report.events
    names = ["kind", "seq", "message", "expected", "computed"]
    rows = [
        {
            "kind": finding.kind.value,
            "seq": finding.seq if finding.seq is not None else finding.line,
            "message": finding.message,
            "expected": finding.expected,
            "computed": finding.computed,
        }
        for finding in report.findings
    ]
    schema = pa.schema([(name, pa.int64() if name == "seq" else pa.string()) for name in names])
    reader = pa.RecordBatchReader.from_batches(
        schema, pa.Table.from_pylist(rows, schema=schema).to_batches()
    )
    with output_stream(output, store.own_files()) as stream:
        console = console_for(stream, color) if output_format is OutputFormat.TABLE else None
        write_rows(reader, output_format, stream, RenderOptions(), console=console, noun="defects")
    first = report.findings[0]
    raise ProblemFound(
        f"access log chain broken: {len(report.findings)} defect(s), "
        f"first at entry {first.seq if first.seq is not None else first.line}: {first.message}",
        "the entries from there on cannot be trusted; keep the head hash elsewhere to "
        "detect rewrites",
    )
