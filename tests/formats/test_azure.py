"""The azure-activity and entra-signin adapters, in each shape the logs come in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.formats.conftest import Loaded, expect

T = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
VM = "/subscriptions/s-1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"

ACTIVITY: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "sdk-snake-case",
        {
            "caller": "alice@corp.example",
            "claims": {"uti": "token-1", "idtyp": "user"},
            "correlation_id": "corr-1",
            "event_data_id": "data-1",
            "event_name": {"value": "EndRequest", "localized_value": "End request"},
            "category": {"value": "Administrative"},
            "http_request": {"client_ip_address": "198.51.100.1", "client_request_id": "cr-1"},
            "operation_name": {"value": "Microsoft.Compute/virtualMachines/delete"},
            "resource_id": VM,
            "resource_type": {"value": "Microsoft.Compute/virtualMachines"},
            "status": {"value": "Succeeded"},
            "sub_status": {"value": "OK"},
            "event_timestamp": "2024-05-01T10:00:00.123456Z",
            "subscription_id": "s-1",
        },
        {
            "event_id": "data-1",
            "ts": T,
            "actor": "alice@corp.example",
            "actor_type": "user",
            "action": "Microsoft.Compute/virtualMachines/delete",
            "resource": VM,
            "resource_type": "Microsoft.Compute/virtualMachines",
            "outcome": "success",
            "error": None,
            "source_ip": "198.51.100.1",
            "request_id": "corr-1",
            "session_id": "token-1",
            "extra": {"category": "Administrative", "event_name": "EndRequest"},
        },
    ),
    (
        "diagnostic-export-camel-case",
        {
            "time": "2024-05-01T10:00:00.1234560Z",
            "resourceId": VM,
            "operationName": "Microsoft.Compute/virtualMachines/write",
            "category": "Administrative",
            "resultType": "Failure",
            "resultSignature": "Failed.Conflict",
            "callerIpAddress": "203.0.113.4:52100",
            "correlationId": "corr-2",
            "identity": {
                "claims": {UPN: "bob@corp.example", "uti": "token-2"},
                "authorization": {"evidence": {"principalType": "User"}},
            },
            "level": "Error",
        },
        {
            "ts": T,
            "actor": "bob@corp.example",
            "actor_type": "User",
            "action": "Microsoft.Compute/virtualMachines/write",
            "outcome": "failure",
            "error": "Failed.Conflict",
            "source_ip": "203.0.113.4",
            "session_id": "token-2",
        },
    ),
    (
        "rest-api-camel-case",
        {
            "caller": "svc-app-id",
            "eventTimestamp": "2024-05-01T10:00:00.123456Z",
            "operationName": {"value": "Microsoft.Storage/storageAccounts/listKeys/action"},
            "status": {"value": "Started"},
            "resourceId": "/subscriptions/s-1/storage1",
            "httpRequest": {"clientIpAddress": "198.51.100.2"},
            "correlationId": "corr-3",
            "eventDataId": "data-3",
        },
        {
            "event_id": "data-3",
            "action": "Microsoft.Storage/storageAccounts/listKeys/action",
            "outcome": "unknown",
            "source_ip": "198.51.100.2",
        },
    ),
]

SIGNIN = "/tenants/t-1/providers/Microsoft.aadiam"
ENTRA: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "failed-interactive-sign-in",
        {
            "time": "2024-05-01T10:00:00.123456Z",
            "resourceId": SIGNIN,
            "operationName": "Sign-in activity",
            "category": "SignInLogs",
            "resultType": "50126",
            "resultDescription": "Invalid username or password",
            "callerIpAddress": "203.0.113.7",
            "correlationId": "corr-s1",
            "properties": {
                "id": "signin-1",
                "createdDateTime": "2024-05-01T10:00:00.123456Z",
                "userPrincipalName": "carol@corp.example",
                "userType": "Member",
                "appDisplayName": "Azure Portal",
                "appId": "app-1",
                "ipAddress": "203.0.113.7",
                "userAgent": "Mozilla/5.0",
                "sessionId": "sess-1",
                "originalRequestId": "req-s1",
                "status": {"errorCode": 50126, "failureReason": "Invalid username or password"},
            },
        },
        {
            "event_id": "signin-1",
            "ts": T,
            "actor": "carol@corp.example",
            "actor_type": "Member",
            "action": "Sign-in activity",
            "resource": "Azure Portal",
            "resource_type": "application",
            "outcome": "failure",
            "error": "50126: Invalid username or password",
            "source_ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0",
            "request_id": "req-s1",
            "session_id": "sess-1",
            "extra": {"category": "SignInLogs", "app_id": "app-1"},
        },
    ),
    (
        "service-principal-sign-in",
        {
            "time": "2024-05-01T10:00:00.123456Z",
            "operationName": "Sign-in activity",
            "category": "ServicePrincipalSignInLogs",
            "resultType": "0",
            "properties": {
                "servicePrincipalName": "ci-runner",
                "resourceDisplayName": "Microsoft Graph",
                "ipAddress": "198.51.100.3",
            },
        },
        {
            "actor": "ci-runner",
            "actor_type": "servicePrincipal",
            "resource": "Microsoft Graph",
            "outcome": "success",
        },
    ),
    (
        "directory-audit",
        {
            "time": "2024-05-01T10:00:00.123456Z",
            "operationName": "Add member to role",
            "category": "AuditLogs",
            "properties": {
                "id": "audit-1",
                "activityDisplayName": "Add member to role",
                "initiatedBy": {
                    "user": {"userPrincipalName": "admin@corp.example", "ipAddress": "198.51.100.4"}
                },
                "targetResources": [
                    {"type": "User", "userPrincipalName": "eve@corp.example", "id": "u-9"}
                ],
                "result": "success",
            },
        },
        {
            "actor": "admin@corp.example",
            "actor_type": "user",
            "action": "Add member to role",
            "resource": "eve@corp.example",
            "resource_type": "User",
            "outcome": "success",
            "source_ip": "198.51.100.4",
        },
    ),
    (
        "graph-api-sign-in",
        {
            "id": "graph-1",
            "createdDateTime": "2024-05-01T10:00:00.123456Z",
            "userPrincipalName": "dan@corp.example",
            "appDisplayName": "Office 365",
            "ipAddress": "198.51.100.5",
            "status": {"errorCode": 0},
        },
        {
            "event_id": "graph-1",
            "ts": T,
            "actor": "dan@corp.example",
            "action": "Sign-in activity",
            "resource": "Office 365",
            "outcome": "success",
            "source_ip": "198.51.100.5",
        },
    ),
]


@pytest.mark.parametrize("index", range(len(ACTIVITY)), ids=[case[0] for case in ACTIVITY])
def test_azure_activity_fields_fill_the_canonical_event(
    index: int, loaded_cases: Callable[..., Loaded]
) -> None:
    loaded = loaded_cases(ACTIVITY)
    assert loaded.rejects == []
    (event,) = [e for e in loaded.events if e["source_line"] == index + 1]
    expect(event, {"source_format": "azure-activity", **ACTIVITY[index][2]})


@pytest.mark.parametrize("index", range(len(ENTRA)), ids=[case[0] for case in ENTRA])
def test_entra_fields_fill_the_canonical_event(
    index: int, loaded_cases: Callable[..., Loaded]
) -> None:
    loaded = loaded_cases(ENTRA)
    assert loaded.rejects == []
    (event,) = [e for e in loaded.events if e["source_line"] == index + 1]
    expect(event, {"source_format": "entra-signin", **ENTRA[index][2]})
