"""The adapter seam: how one source format's JSON maps onto the canonical event.

An adapter is data, not code that touches rows: for each canonical column an SQL
expression over the event's fields, written with ``{{path}}`` placeholders
(``{{actor.id}}``, ``{{sourceIPs[0]}}``). ``mapping_sql`` turns that into one
query that DuckDB runs over a whole batch, parsing each record once. Adapters
never import DuckDB themselves and never see single rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from auditcli.errors import UsageError
from auditcli.schema import EVENT_COLUMN_NAMES
from auditcli.timeutil import EARLIEST, LATEST

#: Columns every adapter fills; provenance columns are filled by the loader.
MAPPED_COLUMNS = (
    "event_id",
    "ts",
    "actor",
    "actor_type",
    "action",
    "resource",
    "resource_type",
    "outcome",
    "source_ip",
    "user_agent",
    "request_id",
    "session_id",
    "error",
    "extra",
)

_PLACEHOLDER = re.compile(r"\{\{([^{}]+)\}\}")
_PATH_PART = re.compile(r"([A-Za-z0-9_@$:\-]+)((?:\[\d+\])*)")
#: A name holding other characters (a claim URI), in double quotes: ``claims."http://..."``.
_QUOTED_PART = re.compile(r'"([^"]+)"((?:\[\d+\])*)')
_QUOTED_PARTS = re.compile(r'"[^"]*"(?:\[\d+\])*|[^."]+|"')

#: SQL macros the mapping expressions may call; the loader creates them on its connection.
MACROS = (
    # A scalar's text from json_extract_string; NULL for "", objects and arrays. A
    # string that starts with { or [ but is not JSON (an actor "[bot] x") is kept; one
    # that is itself valid JSON text cannot be told from an object and counts as absent.
    """CREATE OR REPLACE TEMP MACRO _s(v) AS
       CASE WHEN v = '' THEN NULL
            WHEN (prefix(v, '{') OR prefix(v, '[')) AND json_valid(v) THEN NULL
            ELSE v END""",
    f"""CREATE OR REPLACE TEMP MACRO _dated(t) AS
       CASE WHEN t BETWEEN TIMESTAMPTZ '{EARLIEST.isoformat()}'
                       AND TIMESTAMPTZ '{LATEST.isoformat()}' THEN t END""",
    # Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by size.
    """CREATE OR REPLACE TEMP MACRO _epoch(v) AS
       CASE WHEN abs(v) < 1e11 THEN to_timestamp(v)
            WHEN abs(v) < 1e14 THEN to_timestamp(v / 1e3)
            WHEN abs(v) < 1e17 THEN to_timestamp(v / 1e6)
            ELSE to_timestamp(v / 1e9) END""",
    # A time: ISO 8601 text at any offset or precision, or epoch digits. One that
    # Python cannot hold at any offset (before year 1, after 9999, infinity) is no time:
    # every output of the event would fail on it.
    """CREATE OR REPLACE TEMP MACRO _ts(v) AS
       _dated(coalesce(try_cast(v AS TIMESTAMPTZ),
                       CASE WHEN regexp_full_match(v, '-?\\d{9,19}(\\.\\d+)?')
                            THEN _epoch(CAST(v AS DOUBLE)) END))""",
    # success | failure from a status word, a boolean, an HTTP code or an error; else NULL
    # (mapping_sql turns a NULL outcome into 'unknown' once every adapter had its say).
    # list_contains, not IN: DuckDB plans a long IN list as a join, which costs more.
    """CREATE OR REPLACE TEMP MACRO _outcome(status, err) AS
       CASE WHEN list_contains(['success', 'succeeded', 'successful', 'ok', 'allow', 'allowed',
                                'true', 'pass', 'passed', 'granted', 'permit'], lower(status))
                 THEN 'success'
            WHEN list_contains(['failure', 'failed', 'fail', 'error', 'denied', 'deny', 'false',
                                'blocked', 'rejected', 'unauthorized', 'forbidden'], lower(status))
                 THEN 'failure'
            WHEN regexp_full_match(status, '[1-5]\\d\\d')
                 THEN CASE WHEN CAST(status AS INTEGER) < 400 THEN 'success' ELSE 'failure' END
            WHEN err IS NOT NULL THEN 'failure' END""",
)


@dataclass(frozen=True)
class JsonAdapter:
    """A JSON source format: how to recognise it and how its fields fill each column."""

    name: str
    description: str
    columns: Mapping[str, str]
    """Canonical column -> SQL expression with ``{{path}}`` placeholders."""
    detect: Callable[[Mapping[str, Any]], bool] = field(default=lambda _event: False)
    """True when a parsed sample event is of this format."""
    verbatim: frozenset[str] = frozenset()
    """Columns whose value is always copied unchanged from one source string, so a
    line that lacks the value's text cannot match it (lets filters skip parsing)."""
    embedded: str | None = None
    """Path of the real event when a record wraps it, as an object or as a JSON
    string holding one (CloudTrail Event history's ``CloudTrailEvent``). A record
    that has it is mapped with the wrapped event's fields laid over its own (JSON
    merge patch); ``raw`` stays the whole record."""
    each: str | None = None
    """Top-level member holding an array of which each element is an event of its
    own (Google Workspace's ``events``): a record with several gives one event each,
    mapped with that element alone in the array; all of them keep the record's
    ``raw``, and the second on get ``#2``, ``#3``, ... after the event id."""
    fallback: JsonAdapter | None = None
    """A second mapping for the records in which this one finds no time, actor or
    action (other shapes of the same format); it fills only the columns left empty."""
    retry_when: tuple[str, ...] = ("ts", "actor", "action")
    """The columns of which one left empty sends a record to the second mapping."""
    post_load: tuple[str, ...] = ()
    """SQL statements run once after each source this adapter loaded, with the
    source's id bound to ``$source_id``."""

    def __post_init__(self) -> None:
        unknown = (set(self.columns) | set(self.retry_when)) - set(EVENT_COLUMN_NAMES)
        if unknown:
            raise ValueError(f"adapter {self.name}: unknown columns {sorted(unknown)}")


def text(*paths: str) -> str:
    """SQL for the first non-empty scalar among ``paths``."""
    parts = [f"_s({{{{{p}}}}})" for p in paths]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def time_of(*paths: str) -> str:
    """SQL for the first readable time among ``paths``."""
    parts = [f"_ts({{{{{p}}}}})" for p in paths]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def json_path(path: str) -> str:
    """A dotted path (``actor.id``, ``sourceIPs[0]``) as a DuckDB JSON path."""
    out = ["$"]
    parts = _QUOTED_PARTS.findall(path) if '"' in path else path.split(".")
    for part in parts if ".".join(parts) == path else [""]:
        match = _PATH_PART.fullmatch(part) or _QUOTED_PART.fullmatch(part)
        if match is None:
            raise UsageError(
                f"bad field path {path!r}",
                'use dotted names of letters, digits, _ @ $ : -, "quoted names", and [N] indexes',
            )
        out.append(f'."{match.group(1)}"{match.group(2)}')
    return "".join(out)


def mapping_sql(
    adapter: JsonAdapter, *, source: str = "batch", fallback: JsonAdapter | None = None
) -> str:
    """One SELECT mapping every record of ``source`` (columns source_id, raw, raw_ref,
    doc, line), which it reads once.

    It yields the canonical columns that adapters fill, plus ``source_id``,
    ``source_line``, ``raw``, ``raw_ref`` and ``reject_reason`` (NULL for a good event,
    ``blank`` for an empty line). With ``fallback`` (a fuller adapter), records for
    which ``adapter`` leaves a column of its ``retry_when`` empty are mapped again by
    it; this lets a loader use an adapter pruned to the fields a file's first events use.
    """
    paths: list[str] = []
    first = _expressions(adapter, paths, "x")
    first_pass = ",\n    ".join(f"{expr} AS {col}" for col, expr in first.items())
    columns = {col: col for col in MAPPED_COLUMNS}
    retry = ""
    if fallback is not None:
        full_paths: list[str] = []
        full = _expressions(fallback, full_paths, "y")
        # All of the second mapping sits in one CASE, a struct built by a lambda over
        # its paths: DuckDB then maps with it only the records that need it. Spread
        # over the columns, its expressions cost a sixth of the load's query, on every record.
        packed = ", ".join(f"{col} := {full[col]}" for col in MAPPED_COLUMNS)
        columns = {col: f"coalesce({col}, y.{col})" for col in MAPPED_COLUMNS}
        empty = " OR ".join(f"{col} IS NULL" for col in adapter.retry_when)
        retry = f""", retried AS (
  SELECT *, CASE WHEN {empty}
              THEN list_transform(
                [try(json_extract_string({_doc_sql(fallback)}, {_sql_list(full_paths)}))],
                lambda y: struct_pack({packed}))[1] END AS y
  FROM first_pass
)"""
    columns["event_id"] = f"coalesce({columns['event_id']}, 'h:' || left(md5(raw), 16))"
    columns["outcome"] = f"coalesce({columns['outcome']}, 'unknown')"
    records, part = f"(SELECT * FROM {source} WHERE doc <> '')", ""
    if adapter.each is not None:
        records, part = _each_sql(adapter.each, source), ", part"
        columns["event_id"] += " || CASE WHEN part > 0 THEN '#' || (part + 1) ELSE '' END"
    selected = ",\n    ".join(f"{expr} AS {col}" for col, expr in columns.items())
    return f"""
WITH parsed AS (
  SELECT source_id, raw, raw_ref, doc, line{part},
         try(json_extract_string({_doc_sql(adapter)}, {_sql_list(paths)})) AS x
  FROM {records}
), first_pass AS (
  SELECT
    {first_pass},
    source_id, line, raw, raw_ref, doc, x IS NULL AS unparsed{part}
  FROM parsed
){retry}, mapped AS (
  SELECT
    {selected},
    source_id, line AS source_line, raw, raw_ref, doc, unparsed
  FROM {"retried" if retry else "first_pass"}
)
SELECT * EXCLUDE (doc, unparsed),
  CASE WHEN ts IS NOT NULL AND NOT unparsed THEN NULL
       WHEN NOT json_valid(doc) THEN
            CASE WHEN trim(doc, chr(32) || chr(9) || chr(13)) = '' THEN 'blank' ELSE 'not JSON' END
       WHEN json_type(doc) <> 'OBJECT' THEN 'not a JSON object'
       ELSE 'no usable timestamp' END AS reject_reason
FROM mapped
"""


def _each_sql(member: str, source: str) -> str:
    """The records of ``source``, one a row, except that a record whose array
    ``member`` holds several elements is one row per element (``part``, from 0), its
    ``doc`` holding that element alone in the array; ``part`` is NULL otherwise."""
    path = _sql_list([json_path(member)])[1:-1]
    name = _sql_list([member])[1:-1]
    return f"""(
  SELECT source_id, raw, raw_ref, line, part,
         CASE WHEN part IS NULL THEN doc
              ELSE CAST(json_merge_patch(doc, json_object({name}, json_array(
                   json_extract(doc, {path} || '[' || part || ']')))) AS VARCHAR) END AS doc
  FROM (
    SELECT *, unnest(CASE WHEN coalesce(try(json_array_length(doc, {path})), 0) > 1
                          THEN range(CAST(json_array_length(doc, {path}) AS BIGINT))
                          ELSE [NULL::BIGINT] END) AS part
    FROM {source} WHERE doc <> ''))"""


def _expressions(adapter: JsonAdapter, paths: list[str], var: str) -> dict[str, str]:
    """Each mapped column's SQL, placeholders replaced by ``var[i]`` of ``paths``."""

    def slot(match: re.Match[str]) -> str:
        jp = json_path(match.group(1).strip())
        if jp not in paths:
            paths.append(jp)
        return f"{var}[{paths.index(jp) + 1}]"

    return {col: _PLACEHOLDER.sub(slot, adapter.columns.get(col, "NULL")) for col in MAPPED_COLUMNS}


def _doc_sql(adapter: JsonAdapter) -> str:
    """SQL for the JSON text ``adapter`` maps: ``doc``, with its embedded event laid over it."""
    if adapter.embedded is None:
        return "doc"
    path = json_path(adapter.embedded)
    key = path.rsplit(".", 1)[-1].split("[", 1)[0]
    inner = f"json_extract_string(doc, {_sql_list([path])[1:-1]})"
    return f"""CASE WHEN contains(doc, {_sql_list([key])[1:-1]}) THEN coalesce(try(
      CASE WHEN json_type({inner}) = 'OBJECT'
           THEN CAST(json_merge_patch(doc, {inner}) AS VARCHAR) END), doc) ELSE doc END"""


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
