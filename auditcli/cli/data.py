"""Commands that bring logs in and get events out: load, filter, sources, rejects."""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditcli import diagnostics
from auditcli.cli.app import (
    MAX_ROWS,
    TABLE_ROW_CAP,
    CsvRawOpt,
    DbOpt,
    DebugOpt,
    FormatOpt,
    InputFormatOpt,
    MappingOpt,
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
    now,
    output_stream,
    use_color,
)
from auditcli.errors import UsageError
from auditcli.schema import RAW_HEADER

if TYPE_CHECKING:
    from auditcli.cli.safety import Privacy
    from auditcli.load import LoadOptions, LoadReport
    from auditcli.privacy.apply import OutputPrivacy
    from auditcli.store import Store

from auditcli.render import OutputFormat, RenderOptions, write_rows


class Outcome(enum.StrEnum):
    """Values of --outcome."""

    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


PathsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Files, directories or pipes (gzip ok); - for stdin. Without paths: the --db"
        " database.",
        show_default=False,
    ),
]


class _Progress:
    """A progress bar on stderr, shown only when a load takes longer than a second."""

    def __init__(self, total_bytes: int, enabled: bool) -> None:
        self.total = total_bytes
        self.enabled = enabled and total_bytes > 0
        self.started = time.monotonic()
        self.done = 0
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, advanced: int) -> None:
        self.done += advanced
        if not self.enabled:
            return
        if self.bar is None and time.monotonic() - self.started > 1.0:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

            self.bar = Progress(
                "loading",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("load", total=self.total)
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _stderr_isatty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _run_load(store: Store, paths: list[str], options: LoadOptions) -> LoadReport:
    from auditcli.ingest.sources import expand
    from auditcli.load import load

    refs = expand(paths)
    progress = _Progress(sum(r.size or 0 for r in refs), _stderr_isatty())
    try:
        return load(store, refs, options, progress=progress)
    finally:
        progress.close()


def load_options(input_format: str | None, mapping: Path | None, **extra: Any) -> LoadOptions:
    from auditcli.ingest.mapping import read_mapping
    from auditcli.load import LoadOptions

    return LoadOptions(
        input_format=input_format,
        mapping=read_mapping(mapping) if mapping is not None else None,
        **extra,
    )


def _summary(report: LoadReport, target: str) -> str:
    from auditcli.timeutil import format_ts

    first, last = report.span
    parts = [
        f"loaded {len(report.loaded)} file(s), {report.events:,} events, "
        f"{report.rejects:,} rejected"
    ]
    if first is not None and last is not None:
        parts.append(f"{format_ts(first)} .. {format_ts(last)}")
    parts.append(f"in {report.duration_s:.1f}s into {target}")
    return ", ".join(parts)


@app.command("load")
@command
def load_command(
    paths: Annotated[
        list[str], typer.Argument(help="Files, directories or pipes (gzip ok); - for stdin.")
    ],
    db: DbOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (exit 1, nothing kept) on any rejected record.")
    ] = False,
    input_format: InputFormatOpt = None,
    mapping: MappingOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Load audit logs into a DuckDB database, with provenance; bad records go to rejects."""
    from auditcli.cli.safety import access_recorded, ctrl_c_ignored
    from auditcli.store import Store

    options = load_options(input_format, mapping, strict=strict)
    target = db_path(db)
    store = Store.open(target)
    try:
        with access_recorded(store, "load") as tally:
            report = _run_load(store, paths, options)
            tally.rows = report.events
    finally:
        with ctrl_c_ignored():  # a load that committed is kept: closing checkpoints it
            store.close()
    for skipped in report.skipped:
        diagnostics.note(f"{skipped.name}: already loaded (sha256 {skipped.sha256[:12]}), skipped")
    if report.loaded or not report.skipped:
        diagnostics.note(_summary(report, str(target)))
    if report.first_reject is not None:
        file, line, reason = report.first_reject
        diagnostics.warn(
            f"{report.rejects:,} record(s) rejected, first at {file}:{line}: {reason} "
            "(see `auditcli rejects`)"
        )


def open_for_query(
    paths: list[str] | None,
    db: Path | None,
    input_format: str | None = None,
    mapping: Path | None = None,
    **extra: Any,
) -> Store:
    """An in-memory store loaded from ``paths`` (with ``load_options`` of the rest), or
    the --db database (which must exist; it is opened for writing, to append to its
    access log). The loader is imported only for paths, so --db starts faster."""
    from auditcli.store import MEMORY, Store

    if not paths:
        if input_format is not None or mapping is not None:
            option = "--mapping" if mapping is not None else "--input-format"
            raise UsageError(
                f"{option} applies to files read now, not to --db",
                "a database's events were mapped when they were loaded",
            )
        return Store.open(db_path(db), must_exist=True)
    options = load_options(input_format, mapping, **extra)
    store = Store.open(MEMORY)
    try:
        report = _run_load(store, paths, options)
    except BaseException:
        store.close()
        raise
    if report.rejects:
        assert report.first_reject is not None
        file, line, reason = report.first_reject
        diagnostics.warn(
            f"{report.rejects:,} record(s) could not be read, first at {file}:{line}: {reason}"
        )
    return store


def emit(
    store: Store,
    sql: str,
    params: list[Any],
    fmt: OutputFormat,
    output: Path | None,
    options: RenderOptions,
    color: bool,
    matched: int | None = None,
    noun: str = "events",
    privacy: OutputPrivacy | None = None,
    result_rows: int | None = None,
) -> int:
    """Run ``sql`` and write its rows in ``fmt`` to stdout or ``output``, every batch made
    safe by ``privacy`` first (secrets masked unless told otherwise); ``result_rows``,
    when known, is how many rows it returns (see ``Store.arrow_reader``)."""
    from auditcli.privacy.apply import MASK_SECRETS

    privacy = privacy if privacy is not None else MASK_SECRETS
    keep = store.own_files()  # before the query, which holds the connection
    reader = privacy.reader(
        store.arrow_reader(sql, params, csv_headers=True, result_rows=result_rows)
    )
    options = dataclasses.replace(options, engine=store.connection)
    with output_stream(output, keep) as stream:
        console = console_for(stream, color) if fmt is OutputFormat.TABLE else None
        return write_rows(reader, fmt, stream, options, console=console, matched=matched, noun=noun)


#: True when some loaded source's chain did not verify, so a table shows ``chain``.
_HAS_CHAIN_DEFECTS = "SELECT count(*) > 0 FROM chain_checks WHERE status <> 'intact'"


@app.command("filter")
@command
def filter_command(
    paths: PathsArg = None,
    db: DbOpt = None,
    actor: Annotated[
        list[str] | None, typer.Option("--actor", help="Who acted: exact or glob; repeatable.")
    ] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option("--resource", help="What was acted on: exact or glob (db/*); repeatable."),
    ] = None,
    action: Annotated[
        list[str] | None, typer.Option("--action", help="What was done: exact or glob; repeatable.")
    ] = None,
    outcome: Annotated[
        Outcome | None, typer.Option("--outcome", help="success, failure or unknown.")
    ] = None,
    ip: Annotated[
        list[str] | None, typer.Option("--ip", help="Source address or CIDR; repeatable.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this time (inclusive).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Up to this time (inclusive).")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=0, max=MAX_ROWS, help=f"At most N rows [tables: {TABLE_ROW_CAP}]."
        ),
    ] = None,
    fields: Annotated[
        str | None, typer.Option("--fields", help="Columns to output, comma-separated.")
    ] = None,
    sort: Annotated[
        str | None, typer.Option("--sort", help="Sort columns, comma-separated; -col descends.")
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    tz: TzOpt = None,
    input_format: InputFormatOpt = None,
    mapping: MappingOpt = None,
    no_color: NoColorOpt = False,
    csv_raw: CsvRawOpt = False,
    unsafe_show_secrets: UnsafeShowSecretsOpt = False,
    pseudonymize: PseudonymizeOpt = None,
    policy: PolicyOpt = None,
    pseudonym_key: PseudonymKeyOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Events matching every given filter, oldest first.

    --actor, --resource and --ip also take pseudonym tokens (user:..., ip:...).
    """
    from auditcli.cli.safety import access_recorded, output_privacy, privacy_for, resolve_filter
    from auditcli.privacy.case import has_tokens
    from auditcli.query import (
        EventFilter,
        Query,
        count_sql,
        matching_addresses,
        parse_fields,
        parse_networks,
        parse_sort,
        select_sql,
    )
    from auditcli.schema import CHAIN_COLUMN, TABLE_COLUMNS
    from auditcli.timeutil import parse_time, zone

    privacy = privacy_for(unsafe_show_secrets, pseudonymize, policy, pseudonym_key)
    zone_info = zone(tz)
    clock = now()
    event_filter = EventFilter(
        actors=tuple(actor or ()),
        resources=tuple(resource or ()),
        actions=tuple(action or ()),
        outcome=outcome.value if outcome else None,
        ips=tuple(ip or ()),
        since=parse_time(since, now=clock, tz=zone_info) if since is not None else None,
        until=parse_time(until, now=clock, tz=zone_info) if until is not None else None,
    )
    # Tokens are resolved against the loaded values, so files are then read whole; so
    # are they without a filter, and their chains are then checked as a load does.
    tokens = has_tokens(event_filter)
    if not tokens:
        parse_networks(event_filter.ips)
    output_format = format_for(fmt, output)
    table = output_format is OutputFormat.TABLE
    columns = parse_fields(fields) if fields or not table else TABLE_COLUMNS
    order = parse_sort(sort)
    store = open_for_query(
        paths,
        db,
        input_format,
        mapping,
        event_filter=None if tokens or event_filter.is_empty() else event_filter,
    )
    try:
        with access_recorded(store, "filter", privacy, enabled=not paths) as tally:
            event_filter = resolve_filter(privacy, store, event_filter, case=not paths)
            networks = parse_networks(event_filter.ips)
            if table and not fields and store.scalar(_HAS_CHAIN_DEFECTS):
                columns = (*columns, CHAIN_COLUMN)
            query = Query(
                event_filter=event_filter,
                fields=columns,
                sort=order,
                limit=limit if limit is not None else (TABLE_ROW_CAP if table else None),
            )
            ip_matches = None
            if networks:
                stored = store.fetchall("SELECT DISTINCT source_ip FROM events")
                ip_matches = matching_addresses((row[0] for row in stored), networks)
            matched = None
            if table or not store.in_memory:  # a table says it; a file's pool is sized by it
                sql, params = count_sql(event_filter, ip_matches=ip_matches)
                matched = int(store.scalar(sql, params))
            sql, params = select_sql(query, ip_matches=ip_matches)
            tally.rows = emit(
                store,
                sql,
                params,
                output_format,
                output,
                RenderOptions(tz=zone_info, csv_raw=csv_raw),
                use_color(no_color, os.environ),
                matched=matched if table else None,
                privacy=output_privacy(privacy, store, case=not paths),
                result_rows=matched if matched is None or query.limit is None
                else min(matched, query.limit),
            )
    finally:
        store.close()


@app.command("sources")
@command
def sources_command(
    db: DbOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    no_color: NoColorOpt = False,
    unsafe_show_secrets: UnsafeShowSecretsOpt = False,
    pseudonymize: PseudonymizeOpt = None,
    policy: PolicyOpt = None,
    pseudonym_key: PseudonymKeyOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Loaded files: path, SHA-256, format, events, rejects, time span, load time."""
    from auditcli.cli.safety import privacy_for

    privacy = privacy_for(unsafe_show_secrets, pseudonymize, policy, pseudonym_key)
    output_format = format_for(fmt, output)
    columns = (
        "source_file, events, rejects, first_ts, last_ts"
        if output_format is OutputFormat.TABLE
        else "source_file, file_sha256, source_format, size_bytes, events, rejects, first_ts, "
        "last_ts, loaded_at"
    )
    show_rows(
        db,
        "sources",
        f"SELECT {columns} FROM sources ORDER BY source_id",
        [],
        output_format,
        output,
        use_color(no_color, os.environ),
        privacy,
    )


@app.command("rejects")
@command
def rejects_command(
    db: DbOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=0, max=MAX_ROWS, help=f"At most N rows [tables: {TABLE_ROW_CAP}]."
        ),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    no_color: NoColorOpt = False,
    unsafe_show_secrets: UnsafeShowSecretsOpt = False,
    pseudonymize: PseudonymizeOpt = None,
    policy: PolicyOpt = None,
    pseudonym_key: PseudonymKeyOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Records that could not be loaded as events: file, line, reason and raw text."""
    from auditcli.cli.safety import privacy_for

    privacy = privacy_for(unsafe_show_secrets, pseudonymize, policy, pseudonym_key)
    output_format = format_for(fmt, output)
    sql = (
        "SELECT source_file, source_line, reason, raw, CASE WHEN h.header IS NOT NULL"
        f" THEN {{'header': h.header, 'delimiter': h.delimiter}} END AS {RAW_HEADER}"
        " FROM rejects r LEFT JOIN (SELECT s.file_sha256, h.header, h.delimiter"
        " FROM csv_headers h JOIN sources s"
        " USING (source_id)) h USING (file_sha256) ORDER BY source_file, source_line"
    )
    table = output_format is OutputFormat.TABLE
    cap = limit if limit is not None else (TABLE_ROW_CAP if table else None)
    params: list[Any] = []
    if cap is not None:
        sql += " LIMIT ?"
        params.append(cap)
    show_rows(
        db,
        "rejects",
        sql,
        params,
        output_format,
        output,
        use_color(no_color, os.environ),
        privacy,
        count_sql="SELECT count(*) FROM rejects" if table else None,
    )


def show_rows(
    db: Path | None,
    command_name: str,
    sql: str,
    params: list[Any],
    output_format: OutputFormat,
    output: Path | None,
    color: bool,
    privacy: Privacy,
    options: RenderOptions | None = None,
    count_sql: str | None = None,
) -> None:
    """Run ``sql`` on the --db database and write its rows, recording the access; a
    table's footer says how many of ``count_sql``'s rows it shows."""
    from auditcli.cli.safety import access_recorded, output_privacy
    from auditcli.store import Store

    store = Store.open(db_path(db), must_exist=True)
    try:
        with access_recorded(store, command_name, privacy) as tally:
            tally.rows = emit(
                store,
                sql,
                params,
                output_format,
                output,
                options or RenderOptions(),
                color,
                matched=int(store.scalar(count_sql)) if count_sql else None,
                noun=command_name,
                privacy=output_privacy(privacy, store, case=True),
            )
    finally:
        store.close()
