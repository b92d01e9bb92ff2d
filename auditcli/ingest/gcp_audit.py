"""The ``gcp-audit`` adapter: Google Cloud audit logs (Cloud Logging ``LogEntry``
with an ``AuditLog`` in ``protoPayload``), GKE's Kubernetes audit included.

- actor: ``authenticationInfo.principalEmail``, else ``principalSubject``;
  actor_type ``serviceAccount`` for ``*.gserviceaccount.com`` and GKE's
  ``system:serviceaccount:...``, ``system`` for GKE's other ``system:`` principals,
  else the subject's prefix (``user:``), else ``user`` for an email address.
- action ``methodName``, resource ``resourceName``, resource_type the monitored
  resource's ``resource.type``.
- outcome: ``status.code`` 0 or absent is success, anything else failure (error:
  ``status.message``); a LogEntry without an AuditLog (no ``methodName`` nor the
  AuditLog ``@type``) is ``unknown``.
- request_id ``operation.id`` (shared by the first and last entries of a long
  operation); session_id the service-account key used, if any.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of
from auditcli.ingest.vendor import extra, fallback_for

NAME = "gcp-audit"

_AUTH = "protoPayload.authenticationInfo"
_EMAIL = text(f"{_AUTH}.principalEmail")
_SUBJECT = text(f"{_AUTH}.principalSubject")
_CODE = text("protoPayload.status.code")
_METHOD = text("protoPayload.methodName")
_AUDIT_LOG = f"""{text("protoPayload.@type")} = 'type.googleapis.com/google.cloud.audit.AuditLog'"""

COLUMNS: dict[str, str] = {
    "event_id": text("insertId"),
    "ts": time_of("timestamp", "receiveTimestamp"),
    "actor": text(f"{_AUTH}.principalEmail", f"{_AUTH}.principalSubject"),
    "actor_type": f"""CASE WHEN {_EMAIL} LIKE '%.gserviceaccount.com'
                             OR {_EMAIL} LIKE 'system:serviceaccount:%' THEN 'serviceAccount'
                           WHEN {_EMAIL} LIKE 'system:%' THEN 'system'
                           WHEN {_SUBJECT} LIKE '%:%' THEN split_part({_SUBJECT}, ':', 1)
                           WHEN {_EMAIL} LIKE '%@%' THEN 'user' END""",
    "action": _METHOD,
    "resource": text("protoPayload.resourceName"),
    "resource_type": text("resource.type"),
    "outcome": f"""CASE WHEN coalesce({_CODE}, '0') <> '0' THEN 'failure'
                        WHEN {_METHOD} IS NOT NULL OR {_AUDIT_LOG} THEN 'success' END""",
    "source_ip": text("protoPayload.requestMetadata.callerIp"),
    "user_agent": text("protoPayload.requestMetadata.callerSuppliedUserAgent"),
    "request_id": text("operation.id", "protoPayload.requestMetadata.requestAttributes.id"),
    "session_id": text(f"{_AUTH}.serviceAccountKeyName"),
    "error": f"""CASE WHEN coalesce({_CODE}, '0') <> '0'
                      THEN coalesce({text("protoPayload.status.message")}, 'status ' || {_CODE})
                 END""",
    "extra": extra(
        service="protoPayload.serviceName",
        severity="severity",
        log_name="logName",
        project_id="resource.labels.project_id",
        principal_subject=f"{_AUTH}.principalSubject",
        delegated_by=f"{_AUTH}.serviceAccountDelegationInfo[0].firstPartyPrincipal.principalEmail",
        status_code="protoPayload.status.code",
    ),
}


#: When the request was made, for the entries that lack ``timestamp``.
_REQUEST_TIME = {"ts": time_of("protoPayload.requestMetadata.requestAttributes.time")}


def detect(event: Mapping[str, Any]) -> bool:
    """A LogEntry: an AuditLog payload, or a log name with an insert id."""
    payload = event.get("protoPayload", event.get("protopayload"))
    if isinstance(payload, dict):
        return True
    return ("logName" in event or "logname" in event) and (
        "insertId" in event or "insertid" in event
    )


GCP_AUDIT = JsonAdapter(
    name=NAME,
    description="Google Cloud audit logs: Cloud Logging LogEntry with protoPayload AuditLog",
    columns=COLUMNS,
    detect=detect,
    verbatim=frozenset(
        {
            "event_id",
            "actor",
            "action",
            "resource",
            "resource_type",
            "source_ip",
            "user_agent",
            "request_id",
            "session_id",
        }
    ),
    fallback=fallback_for(NAME, COLUMNS, _REQUEST_TIME),
)
