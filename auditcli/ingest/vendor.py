"""SQL building blocks shared by the vendor-format adapters (CloudTrail, Okta, ...).

Only strings of SQL with ``{{path}}`` placeholders are built here, as in
``adapter``; nothing touches rows. Never imports DuckDB.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from auditcli.ingest.adapter import MAPPED_COLUMNS, JsonAdapter, text, time_of

_PLACEHOLDER = re.compile(r"\{\{([^{}]+)\}\}")

#: Panther's data lake keeps its own parse of every event's time under this key.
PANTHER_TIME = "p_event_time"


def extra(**paths: str | tuple[str, ...]) -> str:
    """SQL for a JSON object of the non-empty scalars at ``paths``, or NULL.

    Each key names one path, or several tried in order.
    """
    pairs = ", ".join(
        f"'{key}', {text(*(path if isinstance(path, tuple) else (path,)))}"
        for key, path in paths.items()
    )
    return f"NULLIF(CAST(json_merge_patch('{{}}', json_object({pairs})) AS VARCHAR), '{{}}')"


def joined(separator: str, first: str, second: str) -> str:
    """SQL for ``first<separator>second``, or ``second`` alone when ``first`` is empty."""
    return f"coalesce({text(first)} || '{separator}' || {text(second)}, {text(second)})"


def first(*expressions: str) -> str:
    """SQL for the first non-NULL of ``expressions``."""
    return expressions[0] if len(expressions) == 1 else f"coalesce({', '.join(expressions)})"


def utc_time_of(path: str) -> str:
    """SQL for the time at ``path``, read as UTC when it carries no offset."""
    value = f"_s({{{{{path}}}}})"
    return (
        f"_ts(CASE WHEN regexp_matches({value}, '(Z|z|[+-]\\d\\d:?\\d\\d)$') THEN {value} "
        f"WHEN regexp_matches({value}, '^\\d{{4}}-') THEN {value} || 'Z' ELSE {value} END)"
    )


def address_of(*paths: str) -> str:
    """SQL for the first address among ``paths`` without the port or brackets it may
    carry (``1.2.3.4:50000``, ``[2001:db8::1]:443``)."""
    value = text(*paths)
    return f"""CASE WHEN {value} LIKE '[%' THEN regexp_extract({value}, '^\\[([^\\]]*)\\]', 1)
                 WHEN regexp_full_match({value}, '[0-9.]+:\\d+') THEN split_part({value}, ':', 1)
                 ELSE {value} END"""


def undotted_time_of(path: str) -> str:
    """SQL for a time at ``path`` whose fraction lost its dot (``2024-12-17 00:00:00000000``,
    as some Panther test events have it), read to the second; NULL for anything else."""
    value = f"_s({{{{{path}}}}})"
    return (
        f"_ts(CASE WHEN regexp_full_match({value}, '\\d{{4}}-\\d\\d-\\d\\d[T ]"
        f"\\d\\d:\\d\\d:\\d\\d\\d+') THEN left({value}, 19) END)"
    )


def lowered(columns: Mapping[str, str]) -> dict[str, str]:
    """``columns`` read from lower-cased top-level keys, as Panther stores some events
    (``eventtime``, ``authenticationcontext.externalSessionId``). Columns whose paths
    are all lower case already are left out."""

    def lower(match: re.Match[str]) -> str:
        head, dot, rest = match.group(1).partition(".")
        return "{{" + head.lower() + dot + rest + "}}"

    out = {}
    for column, expression in columns.items():
        changed = _PLACEHOLDER.sub(lower, expression)
        if changed != expression:
            out[column] = changed
    return out


def fallback_for(
    name: str,
    columns: Mapping[str, str],
    *shapes: Mapping[str, str],
    embedded: str | None = None,
) -> JsonAdapter:
    """The second mapping of adapter ``name`` (see ``JsonAdapter.fallback``).

    Tried in order for each column: ``columns`` with lower-cased top-level keys,
    then each of ``shapes`` (other layouts of the same events), then, for the time
    only, Panther's ``p_event_time``.
    """
    layers = [lowered(columns), *shapes, {"ts": time_of(PANTHER_TIME)}]
    merged = {
        column: first(*found)
        for column in MAPPED_COLUMNS
        if (found := [layer[column] for layer in layers if column in layer])
    }
    return JsonAdapter(
        name=name,
        description=f"other shapes of {name}",
        columns=merged,
        embedded=embedded,
    )
