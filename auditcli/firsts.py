"""First appearances: when each actor first showed up, and first used an address,
a user agent or a resource, over everything loaded.

Kept in table ``first_seen`` and updated by every load in bulk, so a timeline can
mark "first time" on any row with one join instead of scanning history.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditcli.store import Store

#: kind -> the column whose value is paired with the actor ('' for the actor itself).
KINDS = {"actor": "''", "ip": "source_ip", "user_agent": "user_agent", "resource": "resource"}


def record_first_seen(store: Store, source_ids: Sequence[int]) -> None:
    """Fold the events of ``source_ids`` into ``first_seen``."""
    if not source_ids:
        return
    parts = [
        f"SELECT '{kind}' AS kind, actor, {column} AS value, ts FROM event_rows "
        f"WHERE list_contains($ids, source_id) AND actor IS NOT NULL AND {column} IS NOT NULL"
        for kind, column in KINDS.items()
    ]
    store.execute(
        f"""INSERT INTO first_seen
            SELECT kind, actor, value, min(ts) FROM ({" UNION ALL ".join(parts)})
            WHERE ts IS NOT NULL GROUP BY kind, actor, value
            ON CONFLICT (kind, actor, value)
            DO UPDATE SET first_ts = least(first_seen.first_ts, excluded.first_ts)""",
        {"ids": list(source_ids)},
    )
