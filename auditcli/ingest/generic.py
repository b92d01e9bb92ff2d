"""The ``generic-json`` adapter: any JSON event using common field names.

Field names are tried in order; the first non-empty scalar wins. Objects such as
``"actor": {"id": ..., "email": ...}`` are looked into. ``--mapping`` puts a
user's own paths in front of these (see ``ingest.mapping``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of

#: Canonical column -> source paths, most specific first.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "event_id": ("id", "event_id", "eventID", "eventId", "uuid", "event.id"),
    "ts": (
        "timestamp",
        "ts",
        "time",
        "@timestamp",
        "eventTime",
        "created_at",
        "event_time",
        "datetime",
        "date",
        "published",
        "creationTime",
        "event.created",
        "p_event_time",  # Panther's own parse, for events whose time it could not keep
    ),
    "actor": (
        "actor",
        "actor.email",
        "actor.login",
        "actor.username",
        "actor.name",
        "actor.id",
        "user",
        "user.email",
        "user.login",
        "user.username",
        "user.name",
        "user.id",
        "principal",
        "principal.email",
        "principal.name",
        "principal.id",
        "username",
        "user_name",
        "userName",
        "actor_id",
        "user_id",
        "userId",
    ),
    "actor_type": ("actor_type", "actor.type", "user.type", "principal.type"),
    "action": (
        "action",
        "event",
        "eventName",
        "operation",
        "event.action",
        "event_type",
        "eventType",
        "method",
    ),
    "resource": (
        "resource",
        "resource.id",
        "resource.name",
        "resource.arn",
        "resource.path",
        "target",
        "target.id",
        "target.name",
        "object",
        "object.id",
        "object.name",
        "resource_id",
        "resourceId",
        "resource_name",
    ),
    "resource_type": ("resource_type", "resource.type", "target.type", "object.type"),
    "outcome": ("outcome", "result", "status", "success", "event.outcome"),
    "source_ip": (
        "source_ip",
        "sourceIPAddress",
        "sourceIp",
        "src_ip",
        "ip",
        "ip_address",
        "client_ip",
        "clientIp",
        "remote_addr",
        "remote_ip",
        "source.ip",
        "client.ip",
    ),
    "user_agent": ("user_agent", "userAgent", "ua", "user_agent.original", "http.user_agent"),
    "request_id": ("request_id", "requestId", "requestID", "request.id"),
    "session_id": ("session_id", "sessionId", "session", "session.id"),
    "error": (
        "error",
        "error.message",
        "error_message",
        "errorMessage",
        "errorCode",
        "error_code",
        "error.code",
    ),
}

#: Columns copied unchanged from a source string.
VERBATIM = frozenset(
    {
        "event_id",
        "actor",
        "actor_type",
        "action",
        "resource",
        "resource_type",
        "source_ip",
        "user_agent",
        "request_id",
        "session_id",
        "error",
    }
)


def build(candidates: dict[str, tuple[str, ...]] = CANDIDATES) -> JsonAdapter:
    """The generic adapter over ``candidates`` (defaults, or a user mapping in front)."""
    columns = {col: text(*paths) for col, paths in candidates.items() if paths and col != "ts"}
    if candidates.get("ts"):
        columns["ts"] = time_of(*candidates["ts"])
    status = text(*candidates["outcome"]) if candidates.get("outcome") else "NULL"
    columns["outcome"] = f"_outcome({status}, {columns.get('error', 'NULL')})"
    return JsonAdapter(
        name="generic-json",
        description="any JSON event with common field names (actor, action, timestamp, ...)",
        columns=columns,
        verbatim=VERBATIM,
    )


GENERIC = build()


def with_user_paths(user: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The default candidates with a user's own paths tried first."""
    merged = dict(CANDIDATES)
    for column, paths in user.items():
        merged[column] = tuple(dict.fromkeys((*paths, *CANDIDATES.get(column, ()))))
    return merged


def pruned_for(
    sample: list[dict[str, Any]], candidates: dict[str, tuple[str, ...]] = CANDIDATES
) -> JsonAdapter:
    """The adapter restricted to the paths under top-level keys that ``sample`` uses.

    Extracting a hundred candidate paths per event costs more than the rest of a
    load, and a file's events mostly share one shape. Every path under a key the
    sample has is kept, so a key that is a string in one event and an object in
    another still maps; use it with the full adapter as ``fallback`` so an event
    with new keys still gets its time, actor and action.

    A path at which every event of the sample holds an object or array (``actor``
    in ``"actor": {"id": ...}``) is left out too when only its own members follow it
    among the column's paths, and they fill the column in every sampled event:
    extracting it would write the object out as text only for the mapping to discard
    it. Its column then joins ``retry_when``, so an event where it is a scalar after
    all, the one case where it fills the column, is mapped again by the fallback, as
    the full adapter maps it.
    """
    keys = {key for event in sample for key in event}
    kept: dict[str, tuple[str, ...]] = {}
    retry = list(JsonAdapter.retry_when)
    for column, paths in candidates.items():
        present = [p for p in paths if p.split(".", 1)[0] in keys]
        kept[column] = tuple(
            p
            for at, p in enumerate(present)
            if column == "outcome"  # its status words decide before the error does
            or not all(isinstance(_at(event, p), dict | list) for event in sample)
            or not all(later.startswith((p + ".", p + "[")) for later in present[at + 1 :])
        )
        if len(kept[column]) < len(present):
            # each sampled event must still fill the column: else most would map twice
            if not sample or not all(_fills(event, kept[column]) for event in sample):
                kept[column] = tuple(present)
            elif column not in retry:
                retry.append(column)
    return replace(build(kept), retry_when=tuple(retry))


def _at(event: dict[str, Any], path: str) -> Any:
    """The value at a dotted path; None for paths with indexes or quoted names."""
    if "[" in path or '"' in path:
        return None
    value: Any = event
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _fills(event: dict[str, Any], paths: tuple[str, ...]) -> bool:
    """True when one of ``paths`` holds a non-empty scalar in ``event``."""
    return any(
        value not in (None, "") and not isinstance(value, dict | list)
        for value in (_at(event, p) for p in paths)
    )
