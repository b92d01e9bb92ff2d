"""``auditcli timeline``: what happened around a moment, in order, at a glance."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditcli.cli.app import (
    MAX_ROWS,
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
    format_for,
    now,
    output_stream,
    use_color,
)
from auditcli.cli.data import PathsArg, open_for_query

if TYPE_CHECKING:
    from auditcli.ingest.sources import Evidence
    from auditcli.timeline import SensitiveRule, Timeline

from auditcli.errors import InputError, UsageError
from auditcli.render import OutputFormat, RenderOptions, write_rows

TIMELINE_ROW_CAP = 200


def read_sensitive_rules(path: Path) -> tuple[SensitiveRule, ...]:
    """A policy file's ``[sensitive]`` table: category = [glob, ...]; it replaces the defaults."""
    import tomllib

    from auditcli.timeline import SensitiveRule

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from e
    table = document.get("sensitive")
    if not isinstance(table, dict):
        raise UsageError(
            f"{path}: no [sensitive] table", 'write e.g.\n[sensitive]\nexport = ["*export*"]'
        )
    rules: list[SensitiveRule] = []
    for category, patterns in table.items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise UsageError(f"{path}: sensitive.{category} must be a list of globs")
        rules.extend(SensitiveRule(category, pattern) for pattern in patterns)
    return tuple(rules)


@app.command("timeline")
@command
def timeline_command(
    paths: PathsArg = None,
    db: DbOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="The moment to centre on.")] = None,
    before: Annotated[
        str | None, typer.Option("--before", help="How long before the centre [15m].")
    ] = None,
    after: Annotated[
        str | None, typer.Option("--after", help="How long after the centre [15m].")
    ] = None,
    window: Annotated[
        str | None, typer.Option("--window", help="Total span, centred (e.g. 30m).")
    ] = None,
    around: Annotated[
        str | None, typer.Option("--around", help="Centre on this event id and mark it.")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Window start (inclusive).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Window end (inclusive).")] = None,
    actor: Annotated[list[str] | None, typer.Option("--actor", help="Seed: who acted.")] = None,
    resource: Annotated[
        list[str] | None, typer.Option("--resource", help="Seed: what was acted on.")
    ] = None,
    action: Annotated[
        list[str] | None, typer.Option("--action", help="Seed: what was done.")
    ] = None,
    request_id: Annotated[
        list[str] | None, typer.Option("--request-id", help="Seed: a request id.")
    ] = None,
    session_id: Annotated[
        list[str] | None, typer.Option("--session-id", help="Seed: a session id.")
    ] = None,
    ip: Annotated[list[str] | None, typer.Option("--ip", help="Seed: address or CIDR.")] = None,
    expand: Annotated[
        bool, typer.Option("--expand", help="Pivot one hop from the seeds (see --hops).")
    ] = False,
    hops: Annotated[
        int | None, typer.Option("--hops", min=0, max=10, help="Pivot this many hops.")
    ] = None,
    sensitive: Annotated[
        Path | None,
        typer.Option("--sensitive", help="TOML [sensitive] table replacing the default rules."),
    ] = None,
    no_collapse: Annotated[
        bool, typer.Option("--no-collapse", help="Show repeated events one by one.")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=0, max=MAX_ROWS, help=f"At most N rows in tables [{TIMELINE_ROW_CAP}]."
        ),
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
    """What happened around a moment: seeds, pivots, markers, in time order.

    Say when with --at (and --before/--after or --window), --around EVENT_ID, or
    --since/--until. Every row says why it is included; markers flag failures,
    first appearances, new addresses, clients and resources, and sensitive actions.
    """
    from auditcli.cli.safety import access_recorded, output_privacy, privacy_for, resolve_filter
    from auditcli.query import EventFilter
    from auditcli.timeline import (
        SENSITIVE_RULES,
        TimelineRequest,
        build,
        window_around_event,
        window_at,
        window_between,
    )
    from auditcli.timeutil import parse_time, zone

    privacy = privacy_for(unsafe_show_secrets, pseudonymize, policy, pseudonym_key)
    zone_info = zone(tz)
    clock = now()
    seeds = EventFilter(
        actors=tuple(actor or ()),
        resources=tuple(resource or ()),
        actions=tuple(action or ()),
        request_ids=tuple(request_id or ()),
        session_ids=tuple(session_id or ()),
        ips=tuple(ip or ()),
    )
    rules = read_sensitive_rules(sensitive) if sensitive is not None else SENSITIVE_RULES
    output_format = format_for(fmt, output)
    spans = _spans(before, after, window)
    when = "use --at TIME (with --before/--after or --window), --around EVENT_ID, "
    when += "or --since and --until"
    given = [name for name, value in (("--at", at), ("--around", around)) if value is not None]
    if since is not None or until is not None:
        given.append("--since/--until")
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} each say when: give one", when)
    if at is None and around is None and (since is None or until is None):
        raise UsageError("say when the timeline is", when)
    if (before is not None or after is not None or window is not None) and not (at or around):
        raise UsageError("--before, --after and --window go with --at or --around", when)
    store = open_for_query(paths, db, input_format, mapping)
    try:
        with access_recorded(store, "timeline", privacy, enabled=not paths) as tally:
            if around is not None:
                chosen = window_around_event(store, around, *spans)
            elif at is not None:
                chosen = window_at(parse_time(at, now=clock, tz=zone_info), *spans)
            else:
                assert since is not None and until is not None
                chosen = window_between(
                    parse_time(since, now=clock, tz=zone_info),
                    parse_time(until, now=clock, tz=zone_info),
                )
            seeds = resolve_filter(privacy, store, seeds, case=not paths)
            request = TimelineRequest(
                chosen, seeds, hops if hops is not None else (1 if expand else 0), rules
            )
            result = build(store, request)
            # Pivots and markers are worked out on real values; only what is shown is safe.
            safe = output_privacy(privacy, store, case=not paths)
            tally.rows = _write(
                replace(result, rows=safe.table(result.rows)),
                output_format,
                output,
                not no_collapse,
                limit,
                use_color(no_color, os.environ),
                RenderOptions(tz=zone_info, csv_raw=csv_raw, engine=store.connection),
                keep=store.own_files(),
            )
    finally:
        store.close()


def _spans(
    before: str | None, after: str | None, window: str | None
) -> tuple[timedelta, timedelta]:
    from auditcli.timeline import DEFAULT_SPAN
    from auditcli.timeutil import parse_duration

    if window is not None:
        if before is not None or after is not None:
            raise UsageError("--window and --before/--after do not go together")
        half = parse_duration(window) / 2
        return half, half
    return (
        parse_duration(before) if before is not None else DEFAULT_SPAN,
        parse_duration(after) if after is not None else DEFAULT_SPAN,
    )


#: Formats the timeline renders itself (with rich); the rest are rows, as filter writes them.
_FOR_PEOPLE = (OutputFormat.TABLE, OutputFormat.MARKDOWN, OutputFormat.HTML)


def _write(
    result: Timeline,
    output_format: OutputFormat,
    output: Path | None,
    collapse: bool,
    limit: int | None,
    color: bool,
    options: RenderOptions,
    keep: Evidence,
) -> int:
    """Write the timeline; return how many rows were written."""
    if output_format not in _FOR_PEOPLE:
        rows = result.rows if limit is None else result.rows.slice(0, limit)
        with output_stream(output, keep) as stream:
            return write_rows(rows.to_reader(), output_format, stream, options)
    from auditcli.render import timeline as render_timeline  # rich, for people

    tz = options.tz
    with output_stream(output, keep) as stream:
        match output_format:
            case OutputFormat.TABLE:
                console = console_for(stream, color)
                return render_timeline.write_table(
                    result,
                    console,
                    tz,
                    collapse=collapse,
                    max_rows=limit if limit is not None else TIMELINE_ROW_CAP,
                )
            case OutputFormat.MARKDOWN:
                return render_timeline.write_markdown(
                    result, stream, tz, collapse=collapse, max_rows=limit
                )
            case _:
                return render_timeline.write_html(
                    result, stream, tz, collapse=collapse, max_rows=limit
                )
