"""The ``okta`` adapter: Okta System Log events (``/api/v1/logs``, Log Streaming).

- actor ``actor.alternateId`` (the login, usually an email), actor_type
  ``actor.type``; action ``eventType``; resource the first target's
  ``alternateId`` (else its name or id), resource_type its ``type``. Okta's
  placeholder ``unknown`` gives way to the name, then the id.
- outcome ``outcome.result`` (SUCCESS and ALLOW are success, FAILURE and DENY
  failure, CHALLENGE and the rest unknown); error ``outcome.reason`` when not success.
- source_ip ``client.ipAddress``; user_agent ``client.userAgent.rawUserAgent``;
  request_id ``transaction.id``; session_id ``authenticationContext.externalSessionId``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of
from auditcli.ingest.generic import VERBATIM
from auditcli.ingest.vendor import extra, fallback_for

NAME = "okta"

_RESULT = text("outcome.result")


def _named(entity: str) -> str:
    """SQL for who or what ``entity`` is: its alternateId, else its name, else its id.
    Okta writes ``unknown`` for a name it does not have, so that is passed over."""
    return f"""coalesce(NULLIF({text(f"{entity}.alternateId")}, 'unknown'),
        NULLIF({text(f"{entity}.displayName")}, 'unknown'),
        {text(f"{entity}.id", f"{entity}.alternateId")})"""


COLUMNS: dict[str, str] = {
    "event_id": text("uuid"),
    "ts": time_of("published"),
    "actor": _named("actor"),
    "actor_type": text("actor.type"),
    "action": text("eventType"),
    "resource": _named("target[0]"),
    "resource_type": text("target[0].type"),
    "outcome": f"_outcome({_RESULT}, NULL)",
    "source_ip": text("client.ipAddress", "request.ipChain[0].ip"),
    "user_agent": text("client.userAgent.rawUserAgent"),
    "request_id": text("transaction.id", "debugContext.debugData.requestId"),
    "session_id": text("authenticationContext.externalSessionId"),
    "error": f"""CASE WHEN coalesce(_outcome({_RESULT}, NULL), '') <> 'success'
                      THEN {text("outcome.reason")} END""",
    "extra": extra(
        display_message="displayMessage",
        legacy_event_type="legacyEventType",
        severity="severity",
        actor_id="actor.id",
        target_id="target[0].id",
        root_session_id="authenticationContext.rootSessionId",
        debug_request_id="debugContext.debugData.requestId",
        result="outcome.result",
    ),
}


def detect(event: Mapping[str, Any]) -> bool:
    """An actor object, an eventType, and one of published, uuid or outcome."""
    return (
        isinstance(event.get("actor"), dict)
        and ("eventType" in event or "eventtype" in event)
        and ("published" in event or "uuid" in event or "outcome" in event)
    )


OKTA = JsonAdapter(
    name=NAME,
    description="Okta System Log events",
    columns=COLUMNS,
    detect=detect,
    verbatim=VERBATIM - {"error"},
    fallback=fallback_for(NAME, COLUMNS),
)
