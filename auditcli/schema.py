"""The canonical event, declared once.

Every adapter fills these columns; the DuckDB DDL, the Arrow schema and the
column order of every output format are derived from ``EVENT_COLUMNS``.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 4


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, DuckDB type and what it holds."""

    name: str
    sql_type: str
    doc: str


EVENT_COLUMNS: tuple[Column, ...] = (
    Column("event_id", "VARCHAR", "the source's event id, or a content hash when it has none"),
    Column("ts", "TIMESTAMPTZ", "when the event happened, UTC"),
    Column("actor", "VARCHAR", "who acted (user, service, role)"),
    Column("actor_type", "VARCHAR", "what kind of actor (user, service, ...)"),
    Column("action", "VARCHAR", "what was done"),
    Column("resource", "VARCHAR", "what it was done to"),
    Column("resource_type", "VARCHAR", "what kind of resource"),
    Column("outcome", "VARCHAR", "success, failure or unknown"),
    Column("source_ip", "VARCHAR", "the client address"),
    Column("user_agent", "VARCHAR", "the client software"),
    Column("request_id", "VARCHAR", "the request id"),
    Column("session_id", "VARCHAR", "the session id"),
    Column("error", "VARCHAR", "error code or message of a failure"),
    Column(
        "extra",
        "VARCHAR",
        "a JSON object of format-specific pivots (access key id, session issuer, ...), or NULL",
    ),
    Column("source_format", "VARCHAR", "the adapter that mapped the event"),
    Column("source_file", "VARCHAR", "the file it was read from"),
    Column("source_line", "BIGINT", "1-based line, or 0-based index in a JSON array"),
    Column("file_sha256", "VARCHAR", "SHA-256 of the file as read, before decompression"),
    Column("raw", "VARCHAR", "the original event text, exactly as read"),
)

EVENT_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in EVENT_COLUMNS)

#: The original text is kept outside DuckDB (see ``rawtexts``): the stored events and
#: the ``events`` view hold ``raw_ref``, a reference to it, and a query that selects
#: ``raw_ref AS raw`` gets the text in its place from ``Store.arrow_reader``.
RAW = "raw"
RAW_REF = "raw_ref"

#: Beside ``raw``, for the events of CSV sources: the header row of the file and the
#: delimiter its rows were read by (a struct of ``header`` and ``delimiter``), without
#: which a row's text does not say which cell is a password. ``Store.arrow_reader`` adds
#: it as a last column; ``privacy.apply`` masks ``raw`` by it and drops it.
RAW_HEADER = "raw_header"

#: Where the event stands in its source's hash chain, computed per row from the checks
#: recorded at load (or by ``verify --db``): ``ok`` (its hash and links verify),
#: ``broken`` (it lies in a broken stretch), ``unverified`` (the chain's very first event
#: does not verify, so nothing can be told), or NULL (its source is not hash-chained).
CHAIN_COLUMN = "chain"

#: Columns machine formats write when --fields is not given: the canonical ones, then
#: the derived ``chain``.
OUTPUT_COLUMNS: tuple[str, ...] = (*EVENT_COLUMN_NAMES, CHAIN_COLUMN)

#: Columns a user may select or sort by name.
SELECTABLE = frozenset(OUTPUT_COLUMNS)


#: The ``chain`` state of an event, over the joins of :func:`chain_joins_sql`.
CHAIN_STATE_SQL = """CASE
    WHEN _chain.status IS NULL THEN NULL
    WHEN _chain.status = 'unverified' THEN 'unverified'
    WHEN _break.source_id IS NOT NULL THEN 'broken'
    ELSE 'ok' END"""


def chain_joins_sql(row: str) -> str:
    """LEFT JOINs that bring the chain check of the event aliased ``row`` (a relation
    with the canonical ``file_sha256`` and ``source_line``) and the broken stretch
    holding it, for ``CHAIN_STATE_SQL``. Plain hash joins against small tables: a
    correlated subquery instead cost ~25 µs a row."""
    return f"""
        LEFT JOIN (SELECT s.file_sha256 AS sha, c.source_id, c.status
                   FROM chain_checks c JOIN sources s USING (source_id)) _chain
               ON _chain.sha = {row}.file_sha256
        LEFT JOIN chain_breaks _break
               ON _break.source_id = _chain.source_id
              AND {row}.source_line BETWEEN _break.first_line AND _break.last_line"""


#: Columns shown in a table when --fields is not given.
TABLE_COLUMNS: tuple[str, ...] = (
    "ts",
    "actor",
    "action",
    "resource",
    "outcome",
    "source_ip",
    "error",
)

OUTCOMES = ("success", "failure", "unknown")


#: Columns stored once per source file, not once per event.
PER_SOURCE = ("source_format", "source_file", "file_sha256")

SOURCES_DDL = """
CREATE TABLE IF NOT EXISTS sources (
  source_id INTEGER PRIMARY KEY,
  source_file VARCHAR NOT NULL,
  file_sha256 VARCHAR,
  source_format VARCHAR,
  size_bytes BIGINT,
  events BIGINT,
  rejects BIGINT,
  first_ts TIMESTAMPTZ,
  last_ts TIMESTAMPTZ,
  loaded_at TIMESTAMPTZ
)
"""


def event_rows_ddl() -> str:
    """The stored events: canonical columns, with per-source ones replaced by source_id
    and ``raw`` by ``raw_ref``, where ``rawtexts`` keeps the original text."""
    cols = [
        f"{RAW_REF} BIGINT" if c.name == RAW else f"{c.name} {c.sql_type}"
        for c in EVENT_COLUMNS
        if c.name not in PER_SOURCE
    ]
    return (
        "CREATE TABLE IF NOT EXISTS event_rows (\n  source_id INTEGER,\n  "
        + ",\n  ".join(cols)
        + "\n)"
    )


def events_view_ddl() -> str:
    """The ``events`` view: every canonical column in schema order, ``raw_ref`` for ``raw``."""
    cols = ", ".join(
        f"s.{c.name}" if c.name in PER_SOURCE else f"e.{RAW_REF if c.name == RAW else c.name}"
        for c in EVENT_COLUMNS
    )
    return (
        f"CREATE OR REPLACE VIEW events AS SELECT {cols} "
        "FROM event_rows e JOIN sources s ON e.source_id = s.source_id"
    )


def event_stages_ddl() -> str:
    """Records moved out of ``event_rows`` after a load, shaped like it: the earlier
    stages of a Kubernetes request whose final stage was loaded (see
    ``ingest.k8s_audit``), kept findable by their ``event_id`` (the auditID)."""
    return event_rows_ddl().replace("event_rows", "event_stages", 1)


REJECTS_DDL = """
CREATE TABLE IF NOT EXISTS reject_rows (
  source_id INTEGER,
  source_line BIGINT,
  reason VARCHAR,
  raw VARCHAR USING COMPRESSION zstd
)
"""

REJECTS_VIEW_DDL = """
CREATE OR REPLACE VIEW rejects AS
SELECT s.source_file, r.source_line, s.file_sha256, r.reason, r.raw
FROM reject_rows r JOIN sources s ON r.source_id = s.source_id
"""

META_DDL = "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)"

#: When each actor first appeared, and first used an address, a client or a
#: resource, over everything loaded: one row per key, in time order, updated by
#: every load, so the timeline's "first time" markers never scan the events.
#: ``key`` is a hash of (kind, actor, value): see ``firsts``.
FIRST_SEEN_DDL = """
CREATE TABLE IF NOT EXISTS first_seen (
  key UBIGINT,
  first_ts TIMESTAMPTZ
)
"""

#: The outcome of checking each chained source's hash chain (at load, or by verify --db).
CHAIN_CHECKS_DDL = """
CREATE TABLE IF NOT EXISTS chain_checks (
  source_id INTEGER PRIMARY KEY,
  scheme VARCHAR,
  status VARCHAR,
  events BIGINT,
  head VARCHAR,
  findings VARCHAR,
  notes VARCHAR,
  checked_at TIMESTAMPTZ
)
"""

#: Stretches of a source's lines inside a broken part of its chain.
CHAIN_BREAKS_DDL = """
CREATE TABLE IF NOT EXISTS chain_breaks (
  source_id INTEGER,
  first_line BIGINT,
  last_line BIGINT
)
"""

#: One row per command run against the database, hash-chained (auditcli-chain/1 over
#: every column but ``hash``; see ``access_log``). ``ts`` is text: the exact string hashed.
ACCESS_LOG_DDL = """
CREATE TABLE IF NOT EXISTS access_log (
  seq BIGINT PRIMARY KEY,
  ts VARCHAR NOT NULL,
  os_user VARCHAR,
  host VARCHAR,
  command VARCHAR NOT NULL,
  command_line VARCHAR,
  row_count BIGINT,
  exit_code INTEGER,
  prev_hash VARCHAR NOT NULL,
  hash VARCHAR NOT NULL
)
"""

#: The header row of each CSV source, as read (see ``RAW_HEADER``), and the span of
#: references its events' texts take. A table of its own, so a database made before
#: it still opens; a load creates it.
CSV_HEADERS_DDL = """
CREATE TABLE IF NOT EXISTS csv_headers (
  source_id INTEGER PRIMARY KEY,
  header VARCHAR NOT NULL,
  first_ref BIGINT,
  last_ref BIGINT,
  delimiter VARCHAR
)
"""
#: ``delimiter`` came later still: NULL where it was not kept (read as the header's first
#: line says, ``tabular.header_row``).
CSV_DELIMITER_DDL = "ALTER TABLE csv_headers ADD COLUMN IF NOT EXISTS delimiter VARCHAR"

ALL_DDL = (
    META_DDL,
    SOURCES_DDL,
    CSV_HEADERS_DDL,
    event_rows_ddl(),
    event_stages_ddl(),
    REJECTS_DDL,
    events_view_ddl(),
    REJECTS_VIEW_DDL,
    FIRST_SEEN_DDL,
    CHAIN_CHECKS_DDL,
    CHAIN_BREAKS_DDL,
    ACCESS_LOG_DDL,
)
