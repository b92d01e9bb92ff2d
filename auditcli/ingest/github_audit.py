"""The ``github-audit`` adapter: GitHub audit log events as the REST API and
audit log streaming write them (JSON; CSV exports are read elsewhere).

- ts ``@timestamp`` (epoch milliseconds), else ``created_at``.
- actor ``actor`` (git events may have none); actor_type ``bot`` for bots
  (``actor_is_bot``, or a ``[bot]`` login), else ``user``; action ``action``.
- resource: the repository, else the user acted on, the team, the
  organization, the enterprise; resource_type says which (``repo``, ``user``, ...).
- outcome is unknown: the audit log records what happened, not whether it failed.
- source_ip ``actor_ip``; event_id ``_document_id``; session_id the
  ``hashed_token`` of the token used, so one credential's use can be followed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of
from auditcli.ingest.vendor import extra, fallback_for, first, undotted_time_of

NAME = "github-audit"

_ACTOR = text("actor")

#: (resource_type, paths) in the order a resource is chosen.
TARGETS = (
    ("repo", ("repo", "repository")),
    ("user", ("user",)),
    ("team", ("team",)),
    ("org", ("org",)),
    ("business", ("business", "enterprise")),
)

COLUMNS: dict[str, str] = {
    "event_id": text("_document_id"),
    "ts": time_of("@timestamp", "created_at"),
    "actor": _ACTOR,
    "actor_type": f"""CASE WHEN {text("actor_is_bot")} = 'true' OR {_ACTOR} LIKE '%[bot]'
                                THEN 'bot'
                           WHEN {_ACTOR} IS NOT NULL THEN 'user' END""",
    "action": text("action"),
    "resource": text(*(path for _, paths in TARGETS for path in paths)),
    "resource_type": "CASE "
    + " ".join(f"WHEN {text(*paths)} IS NOT NULL THEN '{kind}'" for kind, paths in TARGETS)
    + " END",
    "source_ip": text("actor_ip"),
    "user_agent": text("user_agent"),
    "request_id": text("request_id"),
    "session_id": text("hashed_token"),
    "extra": extra(
        org="org",
        business="business",
        actor_id="actor_id",
        country=("actor_location.country_code", "actor_location.country"),
        programmatic_access_type="programmatic_access_type",
        operation_type="operation_type",
        token_id="token_id",
        transport_protocol="transport_protocol_name",
        external_identity=("external_identity_nameid", "external_identity_username"),
    ),
}

#: Panther renames ``@timestamp``, and some of its test events lost a dot in ``created_at``.
_PANTHER = {"ts": first(time_of("at_sign_timestamp"), undotted_time_of("created_at"))}

#: Keys that, beside a dotted action and a plain actor, say an event is GitHub's. Not
#: ``@timestamp`` alone: every Elastic-shaped log has it, and a generic event with its
#: own ``resource`` would lose it to GitHub's mapping.
_CONTEXT_KEYS = (
    "at_sign_timestamp",
    "_document_id",
    "actor_ip",
    "org",
    "repo",
    "business",
    "created_at",
)


def detect(event: Mapping[str, Any]) -> bool:
    """A dotted ``action`` (``repo.create``), a plain actor, and a GitHub key beside it."""
    action = event.get("action")
    return (
        isinstance(action, str)
        and "." in action
        and not isinstance(event.get("actor"), dict)
        and any(key in event for key in _CONTEXT_KEYS)
    )


GITHUB_AUDIT = JsonAdapter(
    name=NAME,
    description="GitHub audit log events (REST API, audit log streaming), JSON",
    columns=COLUMNS,
    detect=detect,
    verbatim=frozenset(
        {
            "event_id",
            "actor",
            "action",
            "resource",
            "source_ip",
            "user_agent",
            "request_id",
            "session_id",
        }
    ),
    fallback=fallback_for(NAME, COLUMNS, _PANTHER),
)
