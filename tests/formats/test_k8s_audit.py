"""The k8s-audit adapter: API versions, impersonation, wrappers, and one event per request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.formats.conftest import Loaded, expect, extra_of, load_records

T = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def k8s(**fields: Any) -> dict[str, Any]:
    """An audit.k8s.io/v1 event, overridden by ``fields`` (None removes a key)."""
    base: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "a-1",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/prod/pods/web-1/exec?command=sh",
        "verb": "create",
        "user": {
            "username": "alice@corp.example",
            "groups": ["system:authenticated"],
            "extra": {"authentication.kubernetes.io/credential-id": ["JTI=cred-1"]},
        },
        "sourceIPs": ["203.0.113.5", "10.0.0.1"],
        "userAgent": "kubectl/v1.30.0",
        "objectRef": {
            "resource": "pods",
            "namespace": "prod",
            "name": "web-1",
            "subresource": "exec",
            "apiVersion": "v1",
        },
        "responseStatus": {"metadata": {}, "code": 101},
        "requestReceivedTimestamp": "2024-05-01T10:00:00.123456Z",
        "stageTimestamp": "2024-05-01T10:00:00.200000Z",
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "v1-exec",
        k8s(),
        {
            "event_id": "a-1",
            "request_id": "a-1",
            "ts": T,
            "actor": "alice@corp.example",
            "actor_type": "user",
            "action": "create",
            "resource": "prod/pods/web-1/exec",
            "resource_type": "pods",
            "outcome": "success",
            "source_ip": "203.0.113.5",
            "user_agent": "kubectl/v1.30.0",
            "session_id": "JTI=cred-1",
            "error": None,
            "extra": {"stage": "ResponseComplete", "level": "Metadata", "decision": "allow"},
        },
    ),
    (
        "v1beta1-impersonation-forbidden",
        k8s(
            apiVersion="audit.k8s.io/v1beta1",
            auditID="a-2",
            verb="list",
            user={"username": "system:admin"},
            impersonatedUser={"username": "bob"},
            objectRef={"resource": "secrets", "namespace": "kube-system"},
            responseStatus={
                "status": "Failure",
                "reason": "Forbidden",
                "message": 'secrets is forbidden: User "bob" cannot list secrets',
                "code": 403,
            },
            requestReceivedTimestamp=None,
            stageTimestamp=None,
            timestamp="2024-05-01T10:00:00.123456Z",
        ),
        {
            "ts": T,
            "actor": "system:admin",
            "actor_type": "system",
            "action": "list",
            "resource": "kube-system/secrets",
            "outcome": "failure",
            "error": 'secrets is forbidden: User "bob" cannot list secrets',
            "extra": {"impersonated_user": "bob"},
        },
    ),
    (
        "no-api-version-no-object-ref",
        k8s(
            apiVersion=None,
            auditID="a-3",
            verb="get",
            requestURI="/healthz",
            objectRef=None,
            user={"username": "system:anonymous"},
            responseStatus={"code": 200},
        ),
        {
            "actor_type": "anonymous",
            "resource": "/healthz",
            "resource_type": None,
            "outcome": "success",
        },
    ),
    (
        "service-account-nanoseconds",
        k8s(
            auditID="a-4",
            verb="get",
            user={"username": "system:serviceaccount:prod:builder"},
            objectRef={"resource": "nodes", "name": "node-1"},
            requestReceivedTimestamp="2024-05-01T10:00:00.123456789Z",
        ),
        {"ts": T, "actor_type": "serviceaccount", "resource": "nodes/node-1"},
    ),
    (
        "eks-access-key",
        k8s(
            auditID="a-5",
            user={
                "username": "arn:aws:sts::111122223333:assumed-role/Admin/alice",
                "extra": {
                    "accessKeyId": ["ASIAEKS"],
                    "arn": ["arn:aws:sts::111122223333:assumed-role/Admin/alice"],
                },
            },
        ),
        {
            "session_id": "ASIAEKS",
            "extra": {"aws_arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice"},
        },
    ),
]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case[0] for case in CASES])
def test_k8s_audit_fields_fill_the_canonical_event(
    index: int, loaded_cases: Callable[..., Loaded]
) -> None:
    loaded = loaded_cases(CASES, input_format="k8s-audit")
    assert loaded.rejects == []
    (event,) = [e for e in loaded.events if e["source_line"] == index + 1]
    expect(event, CASES[index][2])


def test_earlier_stages_of_a_finished_request_move_to_event_stages() -> None:
    loaded = load_records(
        [
            k8s(auditID="r-1", stage="RequestReceived", responseStatus=None),
            k8s(auditID="r-1", stage="ResponseStarted"),
            k8s(auditID="r-1", stage="ResponseComplete"),
            k8s(auditID="r-2", stage="ResponseStarted"),
            k8s(auditID="r-3", stage="RequestReceived", responseStatus=None),
            k8s(auditID="r-3", stage="Panic", responseStatus={"code": 500}),
        ]
    )
    assert [(e["event_id"], extra_of(e)["stage"]) for e in loaded.events] == [
        ("r-1", "ResponseComplete"),
        ("r-2", "ResponseStarted"),
        ("r-3", "Panic"),
    ]
    assert [(s["event_id"], s["source_line"]) for s in loaded.stages] == [
        ("r-1", 1),
        ("r-1", 2),
        ("r-3", 5),
    ]


def test_aks_records_map_the_event_string_in_properties_log() -> None:
    inner = k8s(auditID="aks-1")
    record = {
        "category": "kube-audit",
        "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
        "properties": {"log": orjson.dumps(inner).decode(), "pod": "kube-apiserver-1"},
        "resourceId": "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/X/MANAGEDCLUSTERS/AKS",
        "time": "2024-05-01T10:00:01Z",
    }
    data = orjson.dumps({"records": [record]})
    loaded = load_records(data)
    (event,) = loaded.events
    expect(
        event,
        {
            "source_format": "k8s-audit",
            "event_id": "aks-1",
            "ts": T,
            "actor": "alice@corp.example",
            "resource": "prod/pods/web-1/exec",
        },
    )
    assert orjson.loads(event["raw"]) == record


def test_aks_record_without_event_times_takes_the_record_time() -> None:
    inner = k8s(auditID="aks-2", requestReceivedTimestamp=None, stageTimestamp=None)
    record = {
        "category": "kube-audit",
        "properties": {"log": orjson.dumps(inner).decode()},
        "time": "2024-05-01T10:00:00.123456Z",
    }
    (event,) = load_records([record]).events
    assert (event["ts"], event["actor"]) == (T, "alice@corp.example")


def test_gke_entries_in_a_kubernetes_file_map_as_cloud_audit_logs() -> None:
    gke = {
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "authenticationInfo": {"principalEmail": "dev@corp.example"},
            "methodName": "io.k8s.core.v1.secrets.get",
            "resourceName": "core/v1/namespaces/prod/secrets/db",
            "requestMetadata": {"callerIp": "203.0.113.9"},
            "status": {"code": 7, "message": "forbidden"},
        },
        "insertId": "gke-1",
        "resource": {"type": "k8s_cluster"},
        "timestamp": "2024-05-01T10:00:00.123456Z",
        "logName": "projects/p/logs/cloudaudit.googleapis.com%2Fdata_access",
    }
    loaded = load_records([k8s(), k8s(auditID="a-9"), gke])
    assert {e["source_format"] for e in loaded.events} == {"k8s-audit"}
    expect(
        loaded.events[2],
        {
            "event_id": "gke-1",
            "actor": "dev@corp.example",
            "action": "io.k8s.core.v1.secrets.get",
            "resource": "core/v1/namespaces/prod/secrets/db",
            "outcome": "failure",
            "source_ip": "203.0.113.9",
        },
    )
