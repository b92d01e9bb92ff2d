"""The ``ocsf`` adapter: events in the Open Cybersecurity Schema Framework
(any class: API Activity, Authentication, Account Change, ...), mapped back.

- ts ``time`` (epoch milliseconds, or seconds as some producers write), else
  ``time_dt``; event_id ``metadata.uid``.
- actor ``actor.user.name``, else its ``uid`` or ``email_addr``, the actor's
  app, or (Authentication class) the ``user`` who logged on; actor_type
  ``actor.user.type``.
- action ``api.operation``, else ``type_name`` (``Authentication: Logon``: the
  class with the activity, clearer than ``activity_name`` alone).
- resource ``resources[0]`` name or uid, else the entity (or the policy, user, group
  or resource it nests), group or user acted on; resource_type ``resources[0].type``,
  else the entity's type.
- outcome ``status`` / ``status_id`` (1 success, 2 failure); error
  ``status_detail`` or ``status_code``.
- source_ip ``src_endpoint.ip``; user_agent ``http_request.user_agent``;
  request_id ``api.request.uid``; session_id ``actor.session.uid``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of
from auditcli.ingest.generic import VERBATIM
from auditcli.ingest.vendor import extra, fallback_for

NAME = "ocsf"

_CLASS = text("class_uid")
_AUTHENTICATION = "3002"
_STATUS_ID = text("status_id")
_ACTOR = text(
    "actor.user.name",
    "actor.user.uid",
    "actor.user.email_addr",
    "actor.app_name",
    "actor.invoked_by",
)
#: The user an event is about: who logged on (Authentication), else who was acted on.
_USER = text("user.name", "user.uid")
_TARGET = text(
    "resources[0].name",
    "resources[0].uid",
    "entity.name",
    "entity.uid",
    # OCSF 1.1+ nests the managed entity by its kind (Entity Management, 3004).
    *(
        f"entity.{kind}.{field}"
        for kind in ("policy", "user", "group", "resource")
        for field in ("name", "uid")
    ),
    "entity.device.hostname",
    "group.name",
    "web_resources[0].name",
)

COLUMNS: dict[str, str] = {
    "event_id": text("metadata.uid"),
    "ts": time_of("time", "time_dt"),
    "actor": f"""coalesce({_ACTOR},
        CASE WHEN {_CLASS} = '{_AUTHENTICATION}' THEN {_USER} END)""",
    "actor_type": text("actor.user.type"),
    "action": text("api.operation", "type_name", "activity_name"),
    "resource": f"""coalesce({_TARGET},
        CASE WHEN {_CLASS} <> '{_AUTHENTICATION}' THEN {_USER} END,
        {text("service.name", "dst_endpoint.svc_name")})""",
    "resource_type": text("resources[0].type", "entity.type"),
    "outcome": f"""coalesce(_outcome({text("status")}, NULL),
        CASE WHEN {_STATUS_ID} = '1' THEN 'success' WHEN {_STATUS_ID} = '2' THEN 'failure' END)""",
    "source_ip": text("src_endpoint.ip"),
    "user_agent": text("http_request.user_agent"),
    "request_id": text("api.request.uid", "http_request.uid"),
    "session_id": text("actor.session.uid"),
    "error": text("status_detail", "status_code"),
    "extra": extra(
        class_name="class_name",
        class_uid="class_uid",
        category="category_name",
        product=("metadata.product.name", "metadata.product.vendor_name"),
        event_code="metadata.event_code",
        severity="severity",
        ocsf_version="metadata.version",
        cloud_region="cloud.region",
        cloud_account="cloud.account.uid",
        user=("user.name", "user.uid"),
    ),
}


def detect(event: Mapping[str, Any]) -> bool:
    """A ``class_uid`` beside a ``metadata`` object."""
    return "class_uid" in event and isinstance(event.get("metadata"), dict)


OCSF = JsonAdapter(
    name=NAME,
    description="OCSF events (any class), mapped back to the canonical event",
    columns=COLUMNS,
    detect=detect,
    verbatim=VERBATIM,
    fallback=fallback_for(NAME, COLUMNS),
)
