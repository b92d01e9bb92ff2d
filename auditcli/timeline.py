"""Incident reconstruction: the events around a moment, why each is there, and
what is remarkable about it.

A timeline is a window of time, optionally narrowed to seeds (an actor, a
resource, a request, an IP...) and widened by pivots: each hop adds the events
that share an actor, resource, session, request or source address with the
events already in. Every row carries ``included_because`` and ``markers``; the
work is done in bulk by DuckDB, and "first time" markers read the precomputed
``first_seen`` table (see ``firsts``); ``chain-broken`` reads the chain checks
recorded at load (see ``chains``). Rendering lives in ``render.timeline``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from auditcli.errors import UsageError
from auditcli.firsts import KINDS, ensure_current_keys, row_key_sql
from auditcli.query import EventFilter, matching_addresses, parse_networks, where_clause
from auditcli.schema import CHAIN_STATE_SQL, chain_joins_sql
from auditcli.store import Store
from auditcli.timeutil import within_range

DEFAULT_SPAN = timedelta(minutes=15)


@dataclass(frozen=True)
class SensitiveRule:
    """Actions matching ``pattern`` (a case-insensitive glob) are marked sensitive."""

    category: str
    pattern: str


#: The default list; a policy file can replace it (``timeline --sensitive FILE``).
SENSITIVE_RULES: tuple[SensitiveRule, ...] = tuple(
    SensitiveRule(category, pattern)
    for category, patterns in {
        "permission": (
            "*role*grant*",
            "*grant*role*",
            "*role*assign*",
            "*assign*role*",
            "*policy*",
            "*permission*",
            "*addusertogroup*",
            "*rolebinding*",
            "*setiam*",
            "*acl*",
            "*privilege*",
            "*admin*",
            "*user*create*",
            "*createuser*",
        ),
        "credential": (
            "*key.create*",
            "*createaccesskey*",
            "*createloginprofile*",
            "*token*create*",
            "*create*token*",
            "*password*",
            "*credential*",
            "*secret*",
            "*mfa*",
        ),
        "deletion": ("*delete*", "*remove*", "*destroy*", "*purge*", "*terminate*"),
        "logging": (
            "audit.*",
            "*stoplogging*",
            "*trail*",
            "*logging*",
            "*audit*config*",
            "*flowlog*",
            "*log*sink*",
        ),
        "export": ("*export*", "*snapshot*share*", "*sharesnapshot*", "*download*", "*copy*"),
    }.items()
    for pattern in patterns
)


@dataclass(frozen=True)
class Window:
    """The inclusive time range of a timeline, and what it is centred on."""

    start: datetime
    end: datetime
    centre: datetime
    centre_event: str | None = None
    """The event ``--around`` named, marked ``centre`` in the rows."""
    centre_place: tuple[str, int] | None = None
    """Where that event is (file, line): an id may name several, the first is marked."""
    centre_matches: int = 0
    """How many events carry the id ``--around`` named."""


def window_at(at: datetime, before: timedelta, after: timedelta) -> Window:
    """The window from ``at - before`` to ``at + after``, within the times kept."""
    return Window(within_range(at, -before), within_range(at, after), within_range(at))


def window_between(since: datetime, until: datetime) -> Window:
    """The window from ``since`` to ``until``, centred on its middle."""
    if until < since:
        raise UsageError("--until is before --since")
    since, until = within_range(since), within_range(until)
    return Window(since, until, since + (until - since) / 2)


def window_around_event(store: Store, event_id: str, before: timedelta, after: timedelta) -> Window:
    """The window around the event ``event_id``, which becomes its marked centre."""
    found = store.fetchone(
        "SELECT ts, source_file, source_line, count(*) OVER () FROM events WHERE event_id = ?"
        " ORDER BY ts, source_file, source_line LIMIT 1",
        [event_id],
    )
    if found is None:
        raise UsageError(
            f"no event with id {event_id!r}",
            "pick an id from `auditcli filter --fields event_id,ts,action`",
        )
    at, source_file, source_line, matches = found
    return replace(
        window_at(at, before, after),
        centre_event=event_id,
        centre_place=(source_file, source_line),
        centre_matches=matches,
    )


@dataclass(frozen=True)
class TimelineRequest:
    """What to reconstruct."""

    window: Window
    seeds: EventFilter = field(default_factory=EventFilter)
    """Seed conditions; its since/until are ignored (the window decides)."""
    hops: int = 0
    """How many pivot hops to take from the seeds (``--expand`` is one)."""
    sensitive: Sequence[SensitiveRule] = SENSITIVE_RULES


@dataclass(frozen=True)
class Timeline:
    """The reconstructed rows (Arrow, in time order) and their summary."""

    window: Window
    rows: pa.Table
    events: int
    actors: int
    resources: int
    failures: int


#: Columns of each timeline row, in output order.
ROW_COLUMNS = (
    "ts",
    "offset_s",
    "actor",
    "action",
    "resource",
    "outcome",
    "source_ip",
    "user_agent",
    "markers",
    "included_because",
    "event_id",
    "actor_type",
    "resource_type",
    "request_id",
    "session_id",
    "error",
    "source_format",
    "source_file",
    "source_line",
)

_PIVOTS = (
    ("actor", "actor"),
    ("resource", "resource"),
    ("session", "session_id"),
    ("request", "request_id"),
    ("ip", "source_ip"),
)

#: What seeds and pivots read of the window's events (with the row id, ``k``); the
#: other columns are fetched for the rows shown. The window is a subquery, never a
#: table: reading its columns takes a few ms, writing them to a table ten times that.
_WINDOW_COLUMNS = (
    "ts",
    "actor",
    "action",
    "resource",
    "outcome",
    "source_ip",
    "request_id",
    "session_id",
)


_WINDOW = (
    f"SELECT rowid AS k, {', '.join(_WINDOW_COLUMNS)} FROM event_rows WHERE ts BETWEEN ? AND ?"
)


def build(store: Store, request: TimelineRequest) -> Timeline:
    """Reconstruct the timeline ``request`` asks for."""
    window = request.window
    bounds = [window.start, window.end]
    seeds = replace(request.seeds, since=None, until=None)
    seeded = bool(seeds.value_terms() or seeds.ips or seeds.outcome)
    if seeded:
        condition, params = _seed_condition(store, seeds, bounds)
        store.execute(
            "CREATE OR REPLACE TEMP TABLE tl_rows AS "
            f"SELECT k, 0 AS hop, 'seed' AS why FROM ({_WINDOW}) WHERE {condition}",
            [*bounds, *params],
        )
        for hop in range(1, request.hops + 1):
            if not _expand(store, hop, bounds):
                break
    else:
        store.execute(
            "CREATE OR REPLACE TEMP TABLE tl_rows AS SELECT k, 0 AS hop, 'window' AS why "
            f"FROM ({_WINDOW})",
            bounds,
        )
    # A table, not a CTE: the planner then knows how few rows are shown.
    store.execute(
        """CREATE OR REPLACE TEMP TABLE tl_shown AS
           SELECT r.why, e.* EXCLUDE (source_id, raw_ref), s.source_format, s.source_file,
                  s.file_sha256
           FROM event_rows e JOIN tl_rows r ON e.rowid = r.k JOIN sources s USING (source_id)
           WHERE e.ts BETWEEN ? AND ?""",
        bounds,
    )
    ensure_current_keys(store)
    rows = _rows(store, window, request.sensitive)
    summary = store.fetchone(
        "SELECT count(*), count(DISTINCT actor), count(DISTINCT resource), "
        "count(*) FILTER (WHERE outcome = 'failure') FROM tl_shown"
    )
    assert summary is not None
    return Timeline(window, rows, *(int(v) for v in summary))


def _seed_condition(
    store: Store, seeds: EventFilter, bounds: list[datetime]
) -> tuple[str, list[Any]]:
    ip_matches = None
    if seeds.ips:
        stored = store.fetchall(
            "SELECT DISTINCT source_ip FROM event_rows WHERE ts BETWEEN ? AND ?", bounds
        )
        ip_matches = matching_addresses((r[0] for r in stored), parse_networks(seeds.ips))
    return where_clause(seeds, ip_matches=ip_matches)


def _expand(store: Store, hop: int, bounds: list[datetime]) -> int:
    """Add one hop of pivots; return how many rows it added."""
    shares = [f"w.{column} IN (SELECT {column} FROM inside)" for _, column in _PIVOTS]
    reason = " ".join(
        f"WHEN {share} THEN 'via {label} ' || w.{column}"
        for (label, column), share in zip(_PIVOTS, shares, strict=True)
    )
    before = int(store.scalar("SELECT count(*) FROM tl_rows"))
    store.execute(
        f"""INSERT INTO tl_rows
            WITH inside AS MATERIALIZED (
                SELECT * FROM ({_WINDOW}) WHERE k IN (SELECT k FROM tl_rows)
            )
            SELECT w.k, {int(hop)}, CASE {reason} END
            FROM ({_WINDOW}) w
            WHERE w.k NOT IN (SELECT k FROM tl_rows) AND ({" OR ".join(shares)})""",
        [*bounds, *bounds],
    )
    return int(store.scalar("SELECT count(*) FROM tl_rows")) - before


def _rows(store: Store, window: Window, rules: Sequence[SensitiveRule]) -> pa.Table:
    rule_params: list[Any] = []
    by_category: dict[str, list[str]] = {}
    for rule in rules:
        by_category.setdefault(rule.category, []).append(rule.pattern.lower())
    sensitive = []
    for category, patterns in by_category.items():
        sensitive.append(
            "CASE WHEN list_bool_or(list_transform(?, lambda p: lower(w.action) GLOB p)) THEN ? END"
        )
        rule_params.extend([patterns, f"sensitive:{category}"])
    sensitive_case = ", ".join(sensitive) if sensitive else "NULL"
    firsts = {
        kind: f"""EXISTS (SELECT 1 FROM firsts f
                  WHERE f.key = {row_key_sql(kind, "w")} AND f.first_ts = w.ts)"""
        for kind in KINDS
    }
    wanted = " UNION ".join(f"SELECT {row_key_sql(k, 'w')} AS key FROM tl_shown w" for k in KINDS)
    sql = f"""
        WITH wanted AS MATERIALIZED (
            {wanted}
        ), firsts AS MATERIALIZED (
            SELECT f.key, f.first_ts
            FROM first_seen f SEMI JOIN wanted USING (key)
            WHERE f.first_ts BETWEEN ? AND ?  -- a first is at its own time
        )
        SELECT w.ts, (epoch_us(w.ts) - epoch_us(?::TIMESTAMPTZ)) / 1e6 AS offset_s,
               w.actor, w.action, w.resource, w.outcome, w.source_ip, w.user_agent,
               list_filter([
                   CASE WHEN w.event_id = ? AND w.source_file = ? AND w.source_line = ?
                        THEN 'centre' END,
                   CASE WHEN w.outcome = 'failure' THEN 'failure' END,
                   CASE WHEN {firsts["actor"]} THEN 'first-seen-actor' END,
                   CASE WHEN {firsts["ip"]} THEN 'new-ip' END,
                   CASE WHEN {firsts["user_agent"]} THEN 'new-user-agent' END,
                   CASE WHEN {firsts["resource"]} THEN 'new-resource' END,
                   CASE WHEN {CHAIN_STATE_SQL} = 'broken' THEN 'chain-broken' END,
                   {sensitive_case}
               ], lambda m: m IS NOT NULL) AS markers,
               w.why AS included_because,
               w.event_id, w.actor_type, w.resource_type, w.request_id, w.session_id, w.error,
               w.source_format, w.source_file, w.source_line
        FROM tl_shown w{chain_joins_sql("w")}
        ORDER BY w.ts, w.event_id, w.source_file, w.source_line
    """
    file, line = window.centre_place or (None, None)
    params = [window.start, window.end, window.centre, window.centre_event, file, line]
    params += rule_params
    return store.arrow_reader(sql, params).read_all()


def histogram(timeline: Timeline, buckets: int) -> list[int]:
    """Event counts in ``buckets`` equal slices of the window."""
    span = (timeline.window.end - timeline.window.start).total_seconds()
    counts = [0] * max(1, buckets)
    if span <= 0:
        counts[0] = timeline.events
        return counts
    start = timeline.window.start
    for ts in timeline.rows.column("ts").to_pylist():
        slot = int((ts - start).total_seconds() / span * len(counts))
        counts[min(max(slot, 0), len(counts) - 1)] += 1
    return counts


@dataclass(frozen=True)
class Run:
    """One displayed row: an event, or a run of identical events by one actor."""

    row: dict[str, Any]
    """The run's first event."""
    count: int = 1
    last_ts: datetime | None = None

    @property
    def ts(self) -> datetime:
        value: datetime = self.row["ts"]
        return value


def _run_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["actor"],
        row["action"],
        row["resource"],
        row["outcome"],
        row["source_ip"],
        tuple(row["markers"]),
        row["included_because"],
    )


def collapse_runs(rows: Sequence[dict[str, Any]], *, enabled: bool = True) -> list[Run]:
    """Fold repeats of one actor's identical event into runs with a count.

    A run is broken by anything else that actor does, not by other actors'
    events in between; an event with different markers (say ``new-ip``) or the
    centre event always starts its own row.
    """
    runs: list[Run] = []
    open_run: dict[Any, tuple[int, tuple[Any, ...]]] = {}
    for row in rows:
        key = _run_key(row)
        current = open_run.get(row["actor"])
        if enabled and current is not None and current[1] == key and "centre" not in key[5]:
            index = current[0]
            runs[index] = replace(runs[index], count=runs[index].count + 1, last_ts=row["ts"])
            continue
        runs.append(Run(row))
        open_run[row["actor"]] = (len(runs) - 1, key)
    return runs


#: Round sizes a timeline's row groups and gap threshold are chosen from.
_STEPS = tuple(
    timedelta(seconds=s)
    for s in (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
)


def group_size(window: Window, groups: int = 12) -> timedelta:
    """A round interval that cuts ``window`` into about ``groups`` row groups."""
    span = window.end - window.start
    for step in _STEPS:
        if span / step <= groups:
            return step
    return _STEPS[-1]
