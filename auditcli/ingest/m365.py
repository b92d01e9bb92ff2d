"""The ``m365-ual`` adapter: the Microsoft 365 unified audit log (Office 365
Management Activity API records, and the ``AuditData`` of Purview searches).

- ts: ``CreationTime``, which carries no offset and is UTC.
- actor ``UserId``; actor_type the ``UserType`` number's name (``Regular``,
  ``Admin``, ``System``, ...); action ``Operation``; resource ``ObjectId``;
  outcome failure when ``LogonError`` is set or the operation is ``UserLoginFailed``
  (whose ``ResultStatus`` says ``Success``), else ``ResultStatus`` (``True``,
  ``Succeeded``, ``Failed``, ...); error ``LogonError``, else a non-zero ``ErrorNumber``.
- source_ip: ``ClientIP`` without the port or brackets it may carry
  (``1.2.3.4:50000``, ``[2001:db8::1]:443``).
- extra: ``Workload``, ``RecordType``, ``UserKey``, ``OrganizationId``, app ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text
from auditcli.ingest.vendor import address_of, extra, fallback_for, utc_time_of

NAME = "m365-ual"

#: UserType values (Microsoft's Office 365 Management Activity API schema).
USER_TYPES = (
    "Regular",
    "Reserved",
    "Admin",
    "DcAdmin",
    "System",
    "Application",
    "ServicePrincipal",
    "CustomPolicy",
    "SystemPolicy",
)

_USER_TYPE = text("UserType")
_LOGON_ERROR = text("LogonError")

COLUMNS: dict[str, str] = {
    "event_id": text("Id"),
    "ts": utc_time_of("CreationTime"),
    "actor": text("UserId", "UserKey"),
    "actor_type": "CASE "
    + " ".join(f"WHEN {_USER_TYPE} = '{n}' THEN '{name}'" for n, name in enumerate(USER_TYPES))
    + f" ELSE {_USER_TYPE} END",
    "action": text("Operation"),
    "resource": text("ObjectId", "MailboxOwnerUPN", "SiteUrl"),
    "resource_type": text("ItemType"),
    # A failed sign-in says ResultStatus "Success" (the record was written) and
    # carries the reason in LogonError.
    "outcome": f"""CASE WHEN {_LOGON_ERROR} IS NOT NULL OR {text("Operation")} = 'UserLoginFailed'
                        THEN 'failure' ELSE _outcome({text("ResultStatus")}, NULL) END""",
    "source_ip": address_of("ClientIP", "ClientIPAddress", "ActorIpAddress"),
    "user_agent": text("UserAgent", "ClientInfoString"),
    "request_id": text("CorrelationId"),
    "session_id": text("AppAccessContext.AADSessionId", "SessionId"),
    "error": f"coalesce({_LOGON_ERROR}, NULLIF({text('ErrorNumber')}, '0'))",
    "extra": extra(
        workload="Workload",
        record_type="RecordType",
        user_key="UserKey",
        organization_id="OrganizationId",
        app_id="AppId",
        client_app_id="ClientAppId",
        result_status="ResultStatus",
    ),
}


def detect(event: Mapping[str, Any]) -> bool:
    """A unified audit log record: CreationTime and Operation, with a workload or record type."""
    return (
        "CreationTime" in event
        and "Operation" in event
        and ("Workload" in event or "RecordType" in event)
    )


M365_UAL = JsonAdapter(
    name=NAME,
    description="Microsoft 365 unified audit log (Management Activity API, Purview AuditData)",
    columns=COLUMNS,
    detect=detect,
    verbatim=frozenset(
        {
            "event_id",
            "actor",
            "action",
            "resource",
            "resource_type",
            "user_agent",
            "request_id",
            "session_id",
            "error",
        }
    ),
    fallback=fallback_for(NAME, COLUMNS),
)
