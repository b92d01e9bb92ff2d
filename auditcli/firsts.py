"""First appearances: when each actor first showed up, and first used an address,
a user agent or a resource, over everything loaded.

Kept in table ``first_seen``, appended to by every load in one grouped scan, so a
timeline marks "first time" with a join on its own few actors instead of scanning
history. A row holds only a 64-bit key of (kind, actor, value) and the time: a
timeline then reads two fixed-width columns, whatever the size of history. The key
is DuckDB's ``hash()``, which is fast but not promised stable across DuckDB
versions, so the database remembers the hash of a probe string and the keys are
rebuilt when it changes (see :func:`ensure_current_keys`).
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
    """Append the first times found in the events of ``source_ids`` (one scan); None
    means every loaded source."""
    if source_ids is not None and not source_ids:
        return
    which = "list_contains($ids, source_id)" if source_ids is not None else "true"
    kind = """CASE WHEN grouping(source_ip) = 0 THEN 'ip'
                   WHEN grouping(user_agent) = 0 THEN 'user_agent'
                   WHEN grouping(resource) = 0 THEN 'resource'
                   ELSE 'actor' END"""
    value = "coalesce(source_ip, user_agent, resource, '')"
    store.execute(
        f"""INSERT INTO first_seen
           SELECT {key_sql(kind, "actor", value)}, min(ts)
           FROM event_rows
           WHERE {which} AND actor IS NOT NULL AND ts IS NOT NULL
           GROUP BY GROUPING SETS ((actor), (actor, source_ip), (actor, user_agent),
                                   (actor, resource))
           HAVING grouping(source_ip) + grouping(user_agent) + grouping(resource) >= 2
              AND (grouping(source_ip) = 1 OR source_ip IS NOT NULL)
              AND (grouping(user_agent) = 1 OR user_agent IS NOT NULL)
              AND (grouping(resource) = 1 OR resource IS NOT NULL)""",
        {"ids": list(source_ids)} if source_ids is not None else None,
    )
    _remember_probe(store)


def ensure_current_keys(store: Store) -> None:
    """Rebuild ``first_seen`` when this DuckDB hashes differently from the one that
    built it (a no-op otherwise)."""
    stored = store.fetchone("SELECT value FROM meta WHERE key = 'first_seen_probe'")
    if stored is None or stored[0] == store.scalar(_PROBE):
        return
    store.execute("DELETE FROM first_seen")
    record_first_seen(store, None)


def _remember_probe(store: Store) -> None:
    store.execute(
        f"INSERT OR REPLACE INTO meta SELECT 'first_seen_probe', ({_PROBE})",
    )
