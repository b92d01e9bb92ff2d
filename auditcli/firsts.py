"""First appearances: when each actor first showed up, and first used an address,
a user agent or a resource, over everything loaded.

Kept in table ``first_seen``, appended to by every load in one grouped scan, so a
timeline marks "first time" with a join on its own few actors instead of scanning
history.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditcli.store import Store


def record_first_seen(store: Store, source_ids: Sequence[int]) -> None:
    """Append the first times found in the events of ``source_ids`` (one scan)."""
    if not source_ids:
        return
    store.execute(
        """INSERT INTO first_seen
           SELECT CASE WHEN grouping(source_ip) = 0 THEN 'ip'
                       WHEN grouping(user_agent) = 0 THEN 'user_agent'
                       WHEN grouping(resource) = 0 THEN 'resource'
                       ELSE 'actor' END AS kind,
                  actor,
                  coalesce(source_ip, user_agent, resource, '') AS value,
                  min(ts)
           FROM event_rows
           WHERE list_contains($ids, source_id) AND actor IS NOT NULL AND ts IS NOT NULL
           GROUP BY GROUPING SETS ((actor), (actor, source_ip), (actor, user_agent),
                                   (actor, resource))
           HAVING grouping(source_ip) + grouping(user_agent) + grouping(resource) >= 2
              AND (grouping(source_ip) = 1 OR source_ip IS NOT NULL)
              AND (grouping(user_agent) = 1 OR user_agent IS NOT NULL)
              AND (grouping(resource) = 1 OR resource IS NOT NULL)""",
        {"ids": list(source_ids)},
    )
