"""The SaaS adapters: m365-ual, okta, github-audit, google-workspace, ocsf."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.formats.conftest import Loaded, expect, load_records

T = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
T_MS = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)


def m365(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "CreationTime": "2024-05-01T10:00:00",
        "Id": "m-1",
        "Operation": "New-InboxRule",
        "OrganizationId": "org-1",
        "RecordType": 1,
        "ResultStatus": "True",
        "UserKey": "10032000ABCDEF",
        "UserType": 2,
        "Workload": "Exchange",
        "ClientIP": "203.0.113.9:50123",
        "ObjectId": "alice@corp.example\\Forward all",
        "UserId": "alice@corp.example",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


M365: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "no-offset-is-utc-port-stripped",
        m365(),
        {
            "event_id": "m-1",
            "ts": T,
            "actor": "alice@corp.example",
            "actor_type": "Admin",
            "action": "New-InboxRule",
            "resource": "alice@corp.example\\Forward all",
            "outcome": "success",
            "source_ip": "203.0.113.9",
            "extra": {"workload": "Exchange", "record_type": "1", "user_key": "10032000ABCDEF"},
        },
    ),
    (
        "bracketed-ipv6-failed-logon",
        m365(
            Id="m-2",
            CreationTime="2024-05-01T10:00:00Z",
            Workload="AzureActiveDirectory",
            Operation="UserLoginFailed",
            ResultStatus="Failed",
            LogonError="InvalidUserNameOrPassword",
            UserType=0,
            ClientIP="[2001:db8::7]:443",
        ),
        {
            "ts": T,
            "actor_type": "Regular",
            "outcome": "failure",
            "error": "InvalidUserNameOrPassword",
            "source_ip": "2001:db8::7",
        },
    ),
    (
        "failed-logon-whose-result-status-says-success",
        m365(
            Id="m-3",
            Workload="AzureActiveDirectory",
            Operation="UserLoginFailed",
            ResultStatus="Success",
            LogonError="InvalidUserNameOrPassword",
            ErrorNumber="50126",
        ),
        {"outcome": "failure", "error": "InvalidUserNameOrPassword"},
    ),
    (
        "login-failed-with-only-an-error-number",
        m365(Id="m-4", Operation="UserLoginFailed", ResultStatus="Success", ErrorNumber="50053"),
        {"outcome": "failure", "error": "50053"},
    ),
    (
        "successful-logon-error-number-zero-is-no-error",
        m365(Id="m-5", Operation="UserLoggedIn", ResultStatus="Success", ErrorNumber="0"),
        {"outcome": "success", "error": None},
    ),
]

OKTA: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "session-start",
        {
            "uuid": "o-1",
            "published": "2024-05-01T10:00:00.123Z",
            "eventType": "user.session.start",
            "displayMessage": "User login to Okta",
            "severity": "INFO",
            "actor": {"id": "00u1", "type": "User", "alternateId": "alice@corp.example"},
            "client": {
                "ipAddress": "198.51.100.9",
                "userAgent": {"rawUserAgent": "Mozilla/5.0"},
            },
            "outcome": {"result": "SUCCESS"},
            "target": [{"id": "0oa1", "type": "AppInstance", "alternateId": "Okta Admin"}],
            "transaction": {"id": "tx-1", "type": "WEB"},
            "authenticationContext": {"externalSessionId": "idx-1"},
        },
        {
            "event_id": "o-1",
            "ts": T_MS,
            "actor": "alice@corp.example",
            "actor_type": "User",
            "action": "user.session.start",
            "resource": "Okta Admin",
            "resource_type": "AppInstance",
            "outcome": "success",
            "error": None,
            "source_ip": "198.51.100.9",
            "user_agent": "Mozilla/5.0",
            "request_id": "tx-1",
            "session_id": "idx-1",
            "extra": {"display_message": "User login to Okta", "severity": "INFO"},
        },
    ),
    (
        "failure-with-panther-lower-cased-keys",
        {
            "uuid": "o-2",
            "published": "2024-05-01 10:00:00.123",
            "eventtype": "user.authentication.sso",
            "actor": {"alternateId": "bob@corp.example", "type": "User"},
            "outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"},
            "authenticationcontext": {"externalSessionId": "idx-2"},
        },
        {
            "ts": T_MS,
            "action": "user.authentication.sso",
            "outcome": "failure",
            "error": "INVALID_CREDENTIALS",
            "session_id": "idx-2",
        },
    ),
    (
        "published-with-an-offset",
        {
            "uuid": "o-3",
            "published": "2024-05-01T12:00:00.123+02:00",
            "eventType": "user.account.lock",
            "actor": {"alternateId": "system@okta.com", "type": "SystemPrincipal"},
            "outcome": {"result": "DENY"},
        },
        {"ts": T_MS, "outcome": "failure", "actor_type": "SystemPrincipal"},
    ),
    (
        "unknown-alternate-id-gives-way-to-the-name-then-the-id",
        {
            "uuid": "o-4",
            "published": "2024-05-01T10:00:00.123Z",
            "eventType": "group.user_membership.add",
            "actor": {"id": "00u9", "alternateId": "unknown", "displayName": "unknown"},
            "target": [{"id": "00g1", "alternateId": "unknown", "displayName": "TEST Group"}],
        },
        {"actor": "00u9", "resource": "TEST Group"},
    ),
]

GITHUB: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "epoch-milliseconds",
        {
            "@timestamp": 1714557600123,
            "_document_id": "doc-1",
            "action": "repo.destroy",
            "actor": "alice",
            "actor_ip": "198.51.100.10",
            "org": "acme",
            "repo": "acme/secrets",
            "user_agent": "curl/8",
            "hashed_token": "tok-hash",
            "programmatic_access_type": "OAuth access token",
        },
        {
            "event_id": "doc-1",
            "ts": T_MS,
            "actor": "alice",
            "actor_type": "user",
            "action": "repo.destroy",
            "resource": "acme/secrets",
            "resource_type": "repo",
            "outcome": "unknown",
            "source_ip": "198.51.100.10",
            "session_id": "tok-hash",
            "extra": {"org": "acme", "programmatic_access_type": "OAuth access token"},
        },
    ),
    (
        "git-event-without-actor",
        {"@timestamp": 1714557600123, "action": "git.clone", "actor": "", "repo": "acme/app"},
        {"actor": None, "actor_type": None, "action": "git.clone", "resource": "acme/app"},
    ),
    (
        "created-at-and-org-target",
        {
            "created_at": 1714557600123,
            "action": "org.update_member",
            "actor": "deploy[bot]",
            "org": "acme",
        },
        {"ts": T_MS, "actor_type": "bot", "resource": "acme", "resource_type": "org"},
    ),
    (
        "panther-renamed-timestamp",
        {"at_sign_timestamp": "2024-05-01 10:00:00.123", "action": "team.add_member", "org": "a"},
        {"ts": T_MS, "action": "team.add_member"},
    ),
    (
        "panther-time-that-lost-its-dot",
        {"created_at": "2024-05-01 10:00:00000000", "action": "repo.create", "org": "a"},
        {"ts": T},
    ),
]

WORKSPACE: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "reports-api-drive",
        {
            "kind": "admin#reports#activity",
            "id": {
                "time": "2024-05-01T10:00:00.123Z",
                "uniqueQualifier": "-123",
                "applicationName": "drive",
                "customerId": "C01",
            },
            "actor": {"email": "alice@corp.example", "profileId": "p-1", "callerType": "USER"},
            "ipAddress": "198.51.100.11",
            "events": [
                {
                    "type": "access",
                    "name": "download",
                    "parameters": [
                        {"name": "doc_id", "value": "1AbC"},
                        {"name": "doc_title", "value": "Payroll 2024"},
                        {"name": "doc_type", "value": "spreadsheet"},
                        {"name": "billable", "boolValue": True},
                    ],
                }
            ],
        },
        {
            "event_id": "-123",
            "ts": T_MS,
            "actor": "alice@corp.example",
            "actor_type": "USER",
            "action": "drive:download",
            "resource": "Payroll 2024",
            "resource_type": "spreadsheet",
            "outcome": "unknown",
            "source_ip": "198.51.100.11",
            "extra": {"application": "drive", "event_type": "access", "customer_id": "C01"},
        },
    ),
    (
        "reports-api-login-failure",
        {
            "id": {"time": "2024-05-01T10:00:00.123Z", "applicationName": "login"},
            "actor": {"email": "bob@corp.example"},
            "events": [
                {
                    "name": "login_failure",
                    "parameters": [
                        {"name": "login_type", "value": "google_password"},
                        {"name": "login_failure_type", "value": "login_failure_invalid_password"},
                    ],
                }
            ],
        },
        {
            "action": "login:login_failure",
            "outcome": "failure",
            "error": "login_failure_invalid_password",
        },
    ),
    (
        "panther-flattened-activity",
        {
            "id": {"time": "2024-05-01 10:00:00.123", "applicationName": "admin"},
            "actor": {"email": "carol@corp.example"},
            "name": "ASSIGN_ROLE",
            "type": "DELEGATED_ADMIN_SETTINGS",
            "parameters": {"ROLE_NAME": "Super Admin", "USER_EMAIL": "eve@corp.example"},
        },
        {"ts": T_MS, "action": "admin:ASSIGN_ROLE", "resource": "eve@corp.example"},
    ),
    *(
        (
            f"resource-by-the-readmes-order-not-the-events-{shape}",
            {
                "id": {"time": "2024-05-01T10:00:00.123Z", "applicationName": "drive"},
                "actor": {"email": "dan@corp.example"},
                **event,
            },
            {"resource": "Doc T", "action": "drive:change_user_access"},
        )
        for shape, event in (
            (
                "api",
                {
                    "events": [
                        {
                            "name": "change_user_access",
                            "parameters": [
                                {"name": "target_user", "value": "outside@acme.example"},
                                {"name": "doc_title", "value": "Doc T"},
                            ],
                        }
                    ]
                },
            ),
            (
                "flat",
                {
                    "name": "change_user_access",
                    "parameters": {"target_user": "outside@acme.example", "doc_title": "Doc T"},
                },
            ),
        )
    ),
]

OCSF: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "api-activity-epoch-ms",
        {
            "class_uid": 6003,
            "class_name": "API Activity",
            "activity_name": "Read",
            "type_name": "API Activity: Read",
            "time": 1714557600123,
            "metadata": {"uid": "oc-1", "version": "1.5.0", "product": {"name": "CloudTrail"}},
            "actor": {
                "user": {"name": "alice", "uid": "arn:aws:iam::1:user/alice", "type": "IAMUser"},
                "session": {"uid": "sess-9"},
            },
            "api": {"operation": "ListBuckets", "request": {"uid": "req-9"}},
            "resources": [{"name": "bucket-1", "type": "AWS::S3::Bucket"}],
            "src_endpoint": {"ip": "198.51.100.12"},
            "http_request": {"user_agent": "boto3"},
            "status": "Success",
            "status_id": 1,
        },
        {
            "event_id": "oc-1",
            "ts": T_MS,
            "actor": "alice",
            "actor_type": "IAMUser",
            "action": "ListBuckets",
            "resource": "bucket-1",
            "resource_type": "AWS::S3::Bucket",
            "outcome": "success",
            "source_ip": "198.51.100.12",
            "user_agent": "boto3",
            "request_id": "req-9",
            "session_id": "sess-9",
            "extra": {"class_uid": "6003", "product": "CloudTrail", "ocsf_version": "1.5.0"},
        },
    ),
    (
        "authentication-epoch-seconds-failure",
        {
            "class_uid": 3002,
            "type_name": "Authentication: Logon",
            "activity_name": "Logon",
            "time": 1714557600,
            "metadata": {"uid": "oc-2", "version": "1.3.0"},
            "user": {"name": "bob", "uid": "u-2"},
            "status_id": 2,
            "status_detail": "INVALID_CREDENTIALS",
            "service": {"name": "Okta"},
        },
        {
            "ts": T,
            "actor": "bob",
            "action": "Authentication: Logon",
            "resource": "Okta",
            "outcome": "failure",
            "error": "INVALID_CREDENTIALS",
        },
    ),
    (
        "group-management-target",
        {
            "class_uid": 3006,
            "type_name": "Group Management: Add User",
            "time": 1714557600123,
            "metadata": {"uid": "oc-3"},
            "actor": {"user": {"name": "carol"}},
            "user": {"name": "dave"},
            "group": {"name": "admins"},
        },
        {"actor": "carol", "resource": "admins", "extra": {"user": "dave"}},
    ),
    (
        "entity-management-nested-entity",
        {
            "class_uid": 3004,
            "type_name": "Entity Management: Create",
            "time": 1714557600123,
            "metadata": {"uid": "oc-4"},
            "actor": {"user": {"name": "erin"}},
            "entity": {"policy": {"name": "Exclude MFA", "uid": "00p1"}, "type": "Policy"},
        },
        {"resource": "Exclude MFA", "resource_type": "Policy"},
    ),
]

TABLES = {
    "m365-ual": M365,
    "okta": OKTA,
    "github-audit": GITHUB,
    "google-workspace": WORKSPACE,
    "ocsf": OCSF,
}
CASES = [(name, index) for name, table in TABLES.items() for index in range(len(table))]


@pytest.mark.parametrize(("name", "index"), CASES, ids=[f"{n}-{TABLES[n][i][0]}" for n, i in CASES])
def test_fields_fill_the_canonical_event(
    name: str, index: int, loaded_cases: Callable[..., Loaded]
) -> None:
    table = TABLES[name]
    loaded = loaded_cases(table)
    assert loaded.rejects == []
    (event,) = [e for e in loaded.events if e["source_line"] == index + 1]
    expect(event, {"source_format": name, **table[index][2]})


def test_an_activity_with_several_events_gives_one_event_each() -> None:
    activity = {
        "kind": "admin#reports#activity",
        "id": {
            "time": "2024-05-01T10:00:00.123Z",
            "uniqueQualifier": "q-9",
            "applicationName": "login",
        },
        "actor": {"email": "dan@corp.example"},
        "events": [
            {"name": "login_verification", "parameters": [{"name": "login_type", "value": "x"}]},
            {
                "name": "login_failure",
                "parameters": [{"name": "login_failure_type", "value": "login_failure_invalid"}],
            },
            {"name": "login_challenge"},
        ],
    }
    single = dict(
        activity, id={**activity["id"], "uniqueQualifier": "q-10"}, events=[{"name": "logout"}]
    )
    loaded = load_records([activity, single], input_format="google-workspace")
    assert loaded.rejects == []
    got = [(e["event_id"], e["action"], e["outcome"], e["source_line"]) for e in loaded.events]
    assert sorted(got) == [
        ("q-10", "login:logout", "unknown", 2),
        ("q-9", "login:login_verification", "unknown", 1),
        ("q-9#2", "login:login_failure", "failure", 1),
        ("q-9#3", "login:login_challenge", "unknown", 1),
    ]
    assert {e["raw"] for e in loaded.events if e["source_line"] == 1} == {
        orjson.dumps(activity).decode()
    }
