"""Two adapters for Microsoft Azure: ``azure-activity`` and ``entra-signin``.

``azure-activity`` reads the Activity Log in the three shapes it comes in: the
diagnostic-settings export (``time``, ``operationName``, ``resultType``,
``identity.claims``), the REST API (``eventTimestamp``, ``operationName.value``)
and the Python SDK / Azure CLI (``event_timestamp``, ``operation_name.value``).
actor is ``caller``, else the token's UPN or name claim, app id or principal id;
request_id the correlation id; session_id the token id (``uti`` claim). AKS
``kube-audit`` records found among them are mapped from the Kubernetes event in
``properties.log`` where the record itself says nothing.

``entra-signin`` reads Entra ID (Azure AD) sign-in logs, interactive,
non-interactive, service principal and managed identity, as the diagnostic
export (fields under ``properties``) or as Microsoft Graph returns them (at the
top level), and the Entra audit log records that come along with them. actor
is the user principal name (or service principal, or who initiated a directory
change); action ``Sign-in activity`` or the audit activity; resource the app
signed in to, or the audit target; outcome from ``status.errorCode`` (0 is
success) or ``resultType``; session_id the sign-in ``sessionId``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of
from auditcli.ingest.k8s_audit import COLUMNS as K8S_COLUMNS
from auditcli.ingest.vendor import address_of, extra, fallback_for

ACTIVITY = "azure-activity"
ENTRA = "entra-signin"

_CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims"
_OUTCOME = text(
    "status.value", "resultType", "resultSignature", "statusCode", "properties.statusCode"
)

ACTIVITY_COLUMNS: dict[str, str] = {
    "event_id": text("event_data_id", "eventDataId"),
    "ts": time_of("event_timestamp", "eventTimestamp", "time"),
    "actor": text(
        "caller",
        f'identity.claims."{_CLAIMS}/upn"',
        f'identity.claims."{_CLAIMS}/name"',
        f'identity.claims."{_CLAIMS}/emailaddress"',
        "identity.claims.name",
        "identity.claims.appid",
        "identity.authorization.evidence.principalId",
        "identity.requester.upn",
        "identity.requester.objectId",
    ),
    "actor_type": text(
        "identity.authorization.evidence.principalType",
        "claims.idtyp",
        "identity.claims.idtyp",
        "identity.type",
    ),
    "action": text("operation_name.value", "operationName.value", "operationName"),
    "resource": text("resource_id", "resourceId"),
    "resource_type": text("resource_type.value", "resourceType.value"),
    "outcome": f"_outcome({_OUTCOME}, NULL)",
    "source_ip": address_of(
        "http_request.client_ip_address",
        "httpRequest.clientIpAddress",
        "callerIpAddress",
        "claims.ipaddr",
        "identity.claims.ipaddr",
    ),
    "user_agent": text("properties.userAgentHeader"),
    "request_id": text("correlation_id", "correlationId"),
    "session_id": text("claims.uti", "identity.claims.uti"),
    "error": f"""CASE WHEN _outcome({_OUTCOME}, NULL) = 'failure' THEN {
        text(
            "sub_status.value",
            "subStatus.value",
            "resultDescription",
            "statusText",
            "properties.statusCode",
            "resultSignature",
        )
    } END""",
    "extra": extra(
        category=("category.value", "category"),
        level="level",
        subscription_id=("subscription_id", "subscriptionId"),
        resource_group=("resource_group_name", "resourceGroupName"),
        operation_id=("operation_id", "operationId"),
        tenant_id=("tenant_id", "tenantId"),
        event_name=("event_name.value", "eventName.value"),
        client_request_id=("http_request.client_request_id", "httpRequest.clientRequestId"),
        app_id=("claims.appid", "identity.claims.appid"),
        result_signature="resultSignature",
    ),
}

#: Where AKS puts the Kubernetes event, and what its fields may fill in an AKS record.
_AKS_LOG = "properties.log"
_AKS_COLUMNS = {
    column: K8S_COLUMNS[column] for column in ("ts", "actor", "outcome", "source_ip", "user_agent")
}


def detect_activity(event: Mapping[str, Any]) -> bool:
    """An Activity Log record in any of its shapes (Panther's lower-cased keys too)."""
    if not ("operation_name" in event or "operationName" in event or "operationname" in event):
        return False
    return any(
        key in event
        for key in (
            "event_timestamp",
            "eventTimestamp",
            "resource_id",
            "resourceId",
            "resourceid",
            "correlation_id",
            "correlationId",
            "correlationid",
            "callerIpAddress",
            "calleripaddress",
        )
    )


AZURE_ACTIVITY = JsonAdapter(
    name=ACTIVITY,
    description="Azure Activity Log: diagnostic export, REST API and SDK/CLI shapes",
    columns=ACTIVITY_COLUMNS,
    detect=detect_activity,
    verbatim=frozenset(
        {
            "event_id",
            "actor",
            "actor_type",
            "action",
            "resource",
            "resource_type",
            "user_agent",
            "request_id",
            "session_id",
        }
    ),
    embedded=_AKS_LOG,
    fallback=fallback_for(ACTIVITY, ACTIVITY_COLUMNS, _AKS_COLUMNS, embedded=_AKS_LOG),
)


_P = "properties"
_CODE = text(f"{_P}.status.errorCode")
_RESULT_TYPE = text("resultType")
_TARGET = f"{_P}.targetResources[0]"
_USER = text(f"{_P}.userPrincipalName", f"{_P}.initiatedBy.user.userPrincipalName")

ENTRA_CATEGORIES = frozenset(
    {
        "SignInLogs",
        "NonInteractiveUserSignInLogs",
        "ServicePrincipalSignInLogs",
        "ManagedIdentitySignInLogs",
        "MicrosoftServicePrincipalSignInLogs",
        "ADFSSignInLogs",
        "AuditLogs",
        "ProvisioningLogs",
    }
)

ENTRA_COLUMNS: dict[str, str] = {
    "event_id": text(f"{_P}.id"),
    "ts": time_of("time", f"{_P}.createdDateTime", f"{_P}.activityDateTime"),
    "actor": text(
        f"{_P}.userPrincipalName",
        f"{_P}.initiatedBy.user.userPrincipalName",
        f"{_P}.servicePrincipalName",
        f"{_P}.initiatedBy.app.servicePrincipalName",
        f"{_P}.initiatedBy.app.displayName",
        f"{_P}.userId",
        f"{_P}.servicePrincipalId",
        "identity",
    ),
    "actor_type": f"""CASE
        WHEN {text("category")} LIKE '%ServicePrincipal%' THEN 'servicePrincipal'
        WHEN {text("category")} LIKE 'ManagedIdentity%' THEN 'managedIdentity'
        WHEN {text(f"{_P}.initiatedBy.app.displayName", f"{_P}.initiatedBy.app.appId")}
             IS NOT NULL THEN 'app'
        ELSE coalesce({text(f"{_P}.userType")},
                      CASE WHEN {_USER} IS NOT NULL THEN 'user' END) END""",
    "action": text(f"{_P}.activityDisplayName", "operationName", f"{_P}.operationName"),
    "resource": text(
        f"{_TARGET}.userPrincipalName",
        f"{_TARGET}.displayName",
        f"{_TARGET}.id",
        f"{_P}.appDisplayName",
        f"{_P}.resourceDisplayName",
        f"{_P}.appId",
    ),
    "resource_type": f"""coalesce({text(f"{_TARGET}.type")},
        CASE WHEN {text(f"{_P}.appDisplayName", f"{_P}.appId")} IS NOT NULL
             THEN 'application' END)""",
    "outcome": f"""CASE
        WHEN {_CODE} IS NOT NULL THEN CASE WHEN {_CODE} = '0' THEN 'success' ELSE 'failure' END
        WHEN regexp_full_match({_RESULT_TYPE}, '\\d+')
             THEN CASE WHEN {_RESULT_TYPE} = '0' THEN 'success' ELSE 'failure' END
        ELSE _outcome({text(f"{_P}.result", "result", "resultType", "resultSignature")}, NULL)
        END""",
    "error": f"""CASE
        WHEN coalesce({_CODE}, '0') <> '0'
             THEN {_CODE} || coalesce(': ' || {text(f"{_P}.status.failureReason")}, '')
        WHEN regexp_full_match({_RESULT_TYPE}, '\\d+') AND {_RESULT_TYPE} <> '0'
             THEN {_RESULT_TYPE} || coalesce(': ' || {text("resultDescription")}, '')
        WHEN lower({text(f"{_P}.result", "result")}) = 'failure'
             THEN {text(f"{_P}.resultReason", "resultDescription")} END""",
    "source_ip": text(f"{_P}.ipAddress", "callerIpAddress", f"{_P}.initiatedBy.user.ipAddress"),
    "user_agent": text(f"{_P}.userAgent"),
    "request_id": text(f"{_P}.originalRequestId", f"{_P}.correlationId", "correlationId"),
    "session_id": text(f"{_P}.sessionId"),
    "extra": extra(
        category="category",
        app_id=f"{_P}.appId",
        tenant_id=("tenantId", f"{_P}.tenantId"),
        correlation_id=(f"{_P}.correlationId", "correlationId"),
        token_id=f"{_P}.uniqueTokenIdentifier",
        client_app=f"{_P}.clientAppUsed",
        conditional_access=f"{_P}.conditionalAccessStatus",
        risk_level=f"{_P}.riskLevelDuringSignIn",
        interactive=f"{_P}.isInteractive",
        logged_by=f"{_P}.loggedByService",
    ),
}

_PROPERTIES = re.compile(r"\{\{properties\.")


def _graph_shape(columns: Mapping[str, str]) -> dict[str, str]:
    """``columns`` read from the top level, as Microsoft Graph returns sign-ins and audits."""
    out = {column: _PROPERTIES.sub("{{", expression) for column, expression in columns.items()}
    signed_in = text("userPrincipalName", "servicePrincipalName", "appId")
    out["action"] = f"""coalesce({text("activityDisplayName")},
        CASE WHEN {text("createdDateTime")} IS NOT NULL AND {signed_in} IS NOT NULL
             THEN 'Sign-in activity' END)"""
    return out


def detect_entra(event: Mapping[str, Any]) -> bool:
    """An Entra sign-in or audit record: diagnostic export or Graph API shape."""
    properties = event.get("properties")
    if isinstance(properties, dict):
        category = event.get("category")
        return (isinstance(category, str) and category in ENTRA_CATEGORIES) or any(
            key in properties
            for key in ("initiatedBy", "userPrincipalName", "servicePrincipalName")
        )
    if "createdDateTime" in event and "status" in event:
        return "userPrincipalName" in event or "appId" in event
    return "activityDateTime" in event and "initiatedBy" in event


ENTRA_SIGNIN = JsonAdapter(
    name=ENTRA,
    description="Entra ID (Azure AD) sign-in logs and the audit logs exported with them",
    columns=ENTRA_COLUMNS,
    detect=detect_entra,
    verbatim=frozenset(
        {"event_id", "actor", "resource", "source_ip", "user_agent", "request_id", "session_id"}
    ),
    fallback=fallback_for(ENTRA, ENTRA_COLUMNS, _graph_shape(ENTRA_COLUMNS)),
)
