"""The ``google-workspace`` adapter: Google Workspace activities from the Admin
SDK Reports API (``admin#reports#activity``: login, admin, drive, token, ...).

- ts ``id.time``; event_id ``id.uniqueQualifier``; actor ``actor.email`` (else
  the profile id or the API key), actor_type ``actor.callerType``.
- action ``application:event`` from ``id.applicationName`` and the event's name
  (``login:login_failure``, ``drive:download``). An activity with several events
  gives one event each (``JsonAdapter.each``), its id followed by ``#2``, ``#3``,
  ...; each keeps the whole activity as ``raw``.
- resource: the first event parameter that names what was acted on
  (``doc_title``, ``USER_EMAIL``, ``ROLE_NAME``, ``APPLICATION_NAME``, ... then
  ``doc_id``); resource_type ``doc_type``.
- outcome: ``login_success`` is success and ``login_failure`` failure (error:
  ``login_failure_type``); other events are unknown.
- Also reads the flattened activities Panther stores (``name``, ``type`` and a
  ``parameters`` object at the top level).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of
from auditcli.ingest.vendor import extra, fallback_for

NAME = "google-workspace"

#: Event parameters that name what an event acted on, tried before ``LATER``.
RESOURCE_PARAMETERS = (
    "doc_title",
    "USER_EMAIL",
    "GROUP_EMAIL",
    "ROLE_NAME",
    "APPLICATION_NAME",
    "application_name",
    "app_name",
    "DOMAIN_NAME",
    "SETTING_NAME",
    "calendar_id",
    "affected_email_address",
    "target_user",
    "rule_name",
)
LATER = ("doc_id", "ORG_UNIT_NAME")

_PARAMETER_TYPE = """'[{"name": "VARCHAR", "value": "VARCHAR"}]'"""


def _parameter(*names: str) -> str:
    """SQL for the value of the first event's parameter named the first of ``names`` it
    has (in the order of ``names``, as the flat shape reads them; not the event's)."""
    listed = ", ".join(f"'{name}'" for name in names)
    return (
        f"try(list_sort(list_transform(list_filter("
        f"from_json({{{{events[0].parameters}}}}, {_PARAMETER_TYPE}), "
        f"lambda p: p.name IN ({listed})), "
        f"lambda p: {{'rank': list_position([{listed}], p.name), 'value': p.value}}))[1].value)"
    )


def _columns(event: str, parameter: Callable[..., str]) -> dict[str, str]:
    """The columns, with the event's fields under ``event`` and parameters read by ``parameter``."""
    event_name = f"{event}.name" if event else "name"
    name = text(event_name)
    app = text("id.applicationName")
    return {
        "event_id": text("id.uniqueQualifier"),
        "ts": time_of("id.time"),
        "actor": text("actor.email", "actor.profileId", "actor.key"),
        "actor_type": text("actor.callerType"),
        "action": f"coalesce({app} || ':' || {name}, {name})",
        "resource": f"coalesce({parameter(*RESOURCE_PARAMETERS)}, {parameter(*LATER)})",
        "resource_type": parameter("doc_type"),
        "outcome": f"""CASE WHEN {name} = 'login_failure' THEN 'failure'
                            WHEN {name} = 'login_success' THEN 'success' END""",
        "source_ip": text("ipAddress"),
        "error": parameter("login_failure_type"),
        "extra": extra(
            application="id.applicationName",
            customer_id="id.customerId",
            event_type=f"{event}.type" if event else "type",
            owner_domain="ownerDomain",
            profile_id="actor.profileId",
        ),
    }


COLUMNS = _columns("events[0]", _parameter)


def _flat_parameter(*names: str) -> str:
    return text(*(f"parameters.{name}" for name in names))


#: Panther's flattened activity: one event's name, type and parameters at the top.
FLAT_COLUMNS = _columns("", _flat_parameter)


def detect(event: Mapping[str, Any]) -> bool:
    """An ``id`` object naming the application, with an actor or events."""
    activity_id = event.get("id")
    return (
        isinstance(activity_id, dict)
        and "applicationName" in activity_id
        and ("events" in event or "actor" in event or "name" in event)
    )


GOOGLE_WORKSPACE = JsonAdapter(
    name=NAME,
    description="Google Workspace activities (Admin SDK Reports API)",
    columns=COLUMNS,
    detect=detect,
    verbatim=frozenset({"event_id", "actor", "actor_type", "source_ip"}),
    each="events",
    fallback=fallback_for(NAME, COLUMNS, FLAT_COLUMNS),
)
