"""The gcp-audit adapter: LogEntry with an AuditLog payload, and entries without one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.formats.conftest import Loaded, expect

T = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def entry(payload: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A Cloud Logging LogEntry with an AuditLog; ``payload`` keys replace the AuditLog's."""
    audit: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "authenticationInfo": {
            "principalEmail": "deployer@proj.iam.gserviceaccount.com",
            "principalSubject": "serviceAccount:deployer@proj.iam.gserviceaccount.com",
            "serviceAccountKeyName": "//iam.googleapis.com/projects/proj/serviceAccounts/x/keys/k1",
        },
        "methodName": "google.iam.admin.v1.CreateServiceAccountKey",
        "resourceName": "projects/proj/serviceAccounts/target@proj.iam.gserviceaccount.com",
        "serviceName": "iam.googleapis.com",
        "requestMetadata": {"callerIp": "198.51.100.20", "callerSuppliedUserAgent": "gcloud/470"},
    }
    audit.update(payload or {})
    base: dict[str, Any] = {
        "insertId": "ins-1",
        "logName": "projects/proj/logs/cloudaudit.googleapis.com%2Factivity",
        "protoPayload": audit,
        "resource": {"type": "service_account", "labels": {"project_id": "proj"}},
        "severity": "NOTICE",
        "timestamp": "2024-05-01T10:00:00.123456789Z",
        "receiveTimestamp": "2024-05-01T10:00:01Z",
        "operation": {"id": "op-1", "producer": "iam.googleapis.com", "first": True},
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "service-account-success",
        entry(),
        {
            "event_id": "ins-1",
            "ts": T,
            "actor": "deployer@proj.iam.gserviceaccount.com",
            "actor_type": "serviceAccount",
            "action": "google.iam.admin.v1.CreateServiceAccountKey",
            "resource": "projects/proj/serviceAccounts/target@proj.iam.gserviceaccount.com",
            "resource_type": "service_account",
            "outcome": "success",
            "error": None,
            "source_ip": "198.51.100.20",
            "user_agent": "gcloud/470",
            "request_id": "op-1",
            "session_id": "//iam.googleapis.com/projects/proj/serviceAccounts/x/keys/k1",
            "extra": {"service": "iam.googleapis.com", "severity": "NOTICE", "project_id": "proj"},
        },
    ),
    (
        "user-permission-denied",
        entry(
            {
                "authenticationInfo": {"principalEmail": "mallory@corp.example"},
                "status": {"code": 7, "message": "Permission denied"},
            },
            insertId="ins-2",
        ),
        {
            "actor": "mallory@corp.example",
            "actor_type": "user",
            "outcome": "failure",
            "error": "Permission denied",
            "session_id": None,
            "extra": {"status_code": "7"},
        },
    ),
    (
        "empty-status-is-success",
        entry({"status": {}}, insertId="ins-3"),
        {"outcome": "success"},
    ),
    (
        "audit-log-without-method-name-is-success",
        entry({"methodName": None}, insertId="ins-7"),
        {"outcome": "success", "action": None},
    ),
    *(
        (
            f"gke-principal-{email}",
            entry({"authenticationInfo": {"principalEmail": email}}, insertId=f"ins-{email}"),
            {"actor": email, "actor_type": kind},
        )
        for email, kind in (
            ("system:serviceaccount:kube-system:replicaset-controller", "serviceAccount"),
            ("system:gke-master-healthcheck", "system"),
        )
    ),
    (
        "request-time-when-timestamp-is-missing",
        entry(
            {"requestMetadata": {"requestAttributes": {"time": "2024-05-01T10:00:00.123456Z"}}},
            insertId="ins-4",
            timestamp=None,
            receiveTimestamp=None,
        ),
        {"ts": T},
    ),
    (
        "not-an-audit-entry",
        {
            "insertId": "ins-5",
            "logName": "projects/proj/logs/app",
            "jsonPayload": {"message": "hello"},
            "timestamp": "2024-05-01T10:00:00.123456Z",
            "severity": "INFO",
        },
        {"ts": T, "actor": None, "action": None, "outcome": "unknown"},
    ),
    (
        "panther-lower-cased-keys",
        {
            "insertid": "ins-6",
            "logname": "projects/proj/logs/cloudaudit.googleapis.com%2Factivity",
            "protopayload": {
                "authenticationInfo": {"principalEmail": "ops@corp.example"},
                "methodName": "SetIamPolicy",
            },
            "p_event_time": "2024-05-01 10:00:00.123456",
        },
        {"ts": T, "actor": "ops@corp.example", "action": "SetIamPolicy", "event_id": "ins-6"},
    ),
]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case[0] for case in CASES])
def test_gcp_audit_fields_fill_the_canonical_event(
    index: int, loaded_cases: Callable[..., Loaded]
) -> None:
    loaded = loaded_cases(CASES, input_format="gcp-audit")
    assert loaded.rejects == []
    (event,) = [e for e in loaded.events if e["source_line"] == index + 1]
    expect(event, CASES[index][2])
