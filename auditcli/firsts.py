"""First appearances: when each actor first showed up, and first used an address,
a user agent or a resource, over everything loaded.

Kept in table ``first_seen``, updated by every load from one grouped scan, so a
timeline marks "first time" with a join instead of scanning history. A row holds
only a 64-bit key of (kind, actor, value) and the time, one row per key, stored in
time order: an event is a first exactly when its key's row holds its own time, so a
timeline reads only the rows of keys first seen inside its window, which DuckDB's
zone maps find without reading the rest. The key is DuckDB's ``hash()``, which is
fast but not promised stable across DuckDB versions, so the database remembers the
hash of a probe string and the keys are rebuilt when it changes (see
:func:`ensure_current_keys`).
"""

from __future__ import annotations

from collections.abc import Sequence

from auditcli.store import Store

#: Kinds of first appearance, and the event column that holds each one's value.
KINDS: dict[str, str | None] = {
    "actor": None,
    "ip": "source_ip",
    "user_agent": "user_agent",
    "resource": "resource",
}

_PROBE = "SELECT hash('auditcli first_seen probe')::VARCHAR"


def key_sql(kind: str, actor: str, value: str) -> str:
    """SQL for the first_seen key of (kind, actor, value), three SQL expressions."""
    return f"hash({kind}, {actor}, {value})"


def row_key_sql(kind: str, row: str) -> str:
    """SQL for the first_seen key of the event aliased ``row``, for one of ``KINDS``."""
    column = KINDS[kind]
    return key_sql(f"'{kind}'", f"{row}.actor", f"{row}.{column}" if column else "''")


def record_first_seen(store: Store, source_ids: Sequence[int] | None) -> None:
    """Append the first times found in the events of ``source_ids`` (a scan a kind); None
    means every loaded source."""
    if source_ids is not None and not source_ids:
        return
    empty = store.scalar("SELECT count(*) FROM first_seen") == 0
    which = "list_contains($ids, source_id)" if source_ids is not None else "true"
    # One scan per kind, its keys grouped as integers: a list of the four keys unnested
    # from one scan took a third longer, grouping sets of the strings half as long again.
    keys = " UNION ALL ".join(
        f"SELECT {row_key_sql(kind, 'e')} AS key, e.ts FROM event_rows e "
        f"WHERE {which} AND e.actor IS NOT NULL AND e.ts IS NOT NULL"
        + (f" AND e.{column} IS NOT NULL" if column else "")
        for kind, column in KINDS.items()
    )
    store.execute(
        f"INSERT INTO first_seen SELECT key, min(ts) FROM ({keys}) GROUP BY key ORDER BY 2",
        {"ids": list(source_ids)} if source_ids is not None else None,
    )
    if not empty:  # keys seen before now have two rows: keep the earlier, in time order
        _compact(store)
    _remember_layout(store)


def _compact(store: Store) -> None:
    store.execute(
        "CREATE OR REPLACE TABLE first_seen AS "
        "SELECT key, min(first_ts) AS first_ts FROM first_seen GROUP BY key ORDER BY first_ts"
    )


def ensure_current_keys(store: Store) -> None:
    """Rebuild ``first_seen`` when this DuckDB hashes differently from the one that
    built it, or compact it when an older auditcli kept a row per key and load (a
    no-op otherwise)."""
    found = dict(
        store.fetchall(
            "SELECT key, value FROM meta WHERE key IN ('first_seen_probe', 'first_seen_layout')"
        )
    )
    if "first_seen_probe" not in found:
        return  # nothing loaded yet
    if found["first_seen_probe"] != store.scalar(_PROBE):
        store.execute("DELETE FROM first_seen")
        record_first_seen(store, None)
    elif found.get("first_seen_layout") != _LAYOUT:
        _compact(store)
        _remember_layout(store)


_LAYOUT = "one row per key, by time"


def _remember_layout(store: Store) -> None:
    store.execute(
        f"INSERT OR REPLACE INTO meta SELECT 'first_seen_probe', ({_PROBE})"
        " UNION ALL SELECT 'first_seen_layout', ?",
        [_LAYOUT],
    )
