"""The ``auditcli`` adapter: auditcli's own exports, read back as they were written.

``auditcli filter --format parquet`` (and ``jsonl``) write the canonical columns;
loading such a file copies them unchanged rather than mapping the events again,
so an export of events from several formats, or of events mapped with
``--mapping``, comes back with the very values it went out with. The original
provenance is kept in ``extra``: ``origin_format``, ``origin_file``, ``origin_line``,
``origin_sha256`` (those of the first load when an export is exported again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of
from auditcli.ingest.generic import VERBATIM
from auditcli.schema import EVENT_COLUMN_NAMES

NAME = "auditcli"

#: Keys that mark a record as an auditcli export (Parquet: with a ``raw`` column too).
CANONICAL_KEYS = frozenset({"event_id", "ts", "action", "outcome", "source_format"})

#: Copied as written: the columns any adapter copies verbatim, in schema order.
_COPIED = tuple(name for name in EVENT_COLUMN_NAMES if name in VERBATIM)

_ORIGIN = (
    "json_object('origin_format', _s({{source_format}}), 'origin_file', _s({{source_file}}), "
    "'origin_line', _s({{source_line}}), 'origin_sha256', _s({{file_sha256}}))"
)
_EXTRA = "CASE WHEN json_valid({{extra}}) AND left({{extra}}, 1) = '{' THEN {{extra}} END"

COLUMNS: dict[str, str] = {
    **{column: text(column) for column in _COPIED},
    "ts": time_of("ts"),
    "outcome": f"CASE WHEN {text('outcome')} IN ('success', 'failure') THEN {text('outcome')} END",
    "extra": f"""NULLIF(CAST(json_merge_patch(json_merge_patch('{{}}', {_ORIGIN}),
                                           coalesce({_EXTRA}, '{{}}')) AS VARCHAR), '{{}}')""",
}


def detect(event: Mapping[str, Any]) -> bool:
    """A row of auditcli's canonical columns."""
    return CANONICAL_KEYS <= event.keys()


CANONICAL = JsonAdapter(
    name=NAME,
    description="auditcli's own exports (--format parquet or jsonl), columns kept as written",
    columns=COLUMNS,
    detect=detect,
    verbatim=frozenset(_COPIED),
)
