"""The cloudtrail adapter: every identity type, envelopes, Event history strings, quirks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from auditcli.ingest.cloudtrail import CLOUDTRAIL
from auditcli.load import _needles
from auditcli.query import EventFilter
from tests.formats.conftest import Loaded, expect, extra_of, load_records

T = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def ct(**fields: Any) -> dict[str, Any]:
    """A CloudTrail record with a plain IAM user, overridden by ``fields``."""
    base: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLE",
            "userName": "alice",
        },
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15",
        "requestID": "req-1",
        "eventID": "evt-1",
        "recipientAccountId": "111122223333",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "iam-user-denied-s3",
        ct(
            eventSource="s3.amazonaws.com",
            eventName="GetObject",
            errorCode="AccessDenied",
            errorMessage="Access Denied",
            requestParameters={"bucketName": "payroll", "key": "2024.csv"},
            resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::payroll/2024.csv"}],
        ),
        {
            "event_id": "evt-1",
            "ts": T,
            "actor": "arn:aws:iam::111122223333:user/alice",
            "actor_type": "IAMUser",
            "action": "s3.amazonaws.com:GetObject",
            "resource": "arn:aws:s3:::payroll/2024.csv",
            "resource_type": "AWS::S3::Object",
            "outcome": "failure",
            "error": "AccessDenied: Access Denied",
            "source_ip": "198.51.100.7",
            "user_agent": "aws-cli/2.15",
            "request_id": "req-1",
            "session_id": "AKIAEXAMPLE",
            "extra": {
                "access_key_id": "AKIAEXAMPLE",
                "user_name": "alice",
                "recipient_account_id": "111122223333",
                "region": "eu-west-1",
            },
        },
    ),
    (
        "assumed-role-session",
        ct(
            userIdentity={
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLE:deploy-bot",
                "arn": "arn:aws:sts::111122223333:assumed-role/Deployer/deploy-bot",
                "accountId": "111122223333",
                "accessKeyId": "ASIAEXAMPLE",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "arn": "arn:aws:iam::111122223333:role/Deployer",
                        "userName": "Deployer",
                    },
                    "sourceIdentity": "carol",
                    "attributes": {"mfaAuthenticated": "true"},
                },
            },
            eventName="CreateUser",
            requestParameters={"userName": "backdoor"},
            responseElements={"user": {"userName": "backdoor"}},
        ),
        {
            "actor": "arn:aws:sts::111122223333:assumed-role/Deployer/deploy-bot",
            "actor_type": "AssumedRole",
            "action": "iam.amazonaws.com:CreateUser",
            "resource": "backdoor",
            "resource_type": None,
            "outcome": "success",
            "error": None,
            "session_id": "ASIAEXAMPLE",
            "extra": {
                "session_issuer": "arn:aws:iam::111122223333:role/Deployer",
                "source_identity": "carol",
                "mfa_authenticated": "true",
            },
        },
    ),
    (
        "root",
        ct(
            userIdentity={
                "type": "Root",
                "principalId": "111122223333",
                "arn": "arn:aws:iam::111122223333:root",
                "accountId": "111122223333",
            },
            eventName="DeleteTrail",
            eventSource="cloudtrail.amazonaws.com",
            requestParameters={"name": "org-trail"},
        ),
        {
            "actor": "arn:aws:iam::111122223333:root",
            "actor_type": "Root",
            "resource": "org-trail",
            "session_id": None,
        },
    ),
    (
        "aws-service",
        ct(
            userIdentity={"type": "AWSService", "invokedBy": "config.amazonaws.com"},
            eventSource="sts.amazonaws.com",
            eventName="AssumeRole",
            sourceIPAddress="config.amazonaws.com",
            sharedEventID="shared-1",
            resources=[{"ARN": "arn:aws:iam::111122223333:role/Cfg", "type": "AWS::IAM::Role"}],
        ),
        {
            "actor": "config.amazonaws.com",
            "actor_type": "AWSService",
            "resource": "arn:aws:iam::111122223333:role/Cfg",
            "resource_type": "AWS::IAM::Role",
            "extra": {"shared_event_id": "shared-1", "invoked_by": "config.amazonaws.com"},
        },
    ),
    (
        "federated-user",
        ct(
            userIdentity={
                "type": "FederatedUser",
                "principalId": "111122223333:dave",
                "arn": "arn:aws:sts::111122223333:federated-user/dave",
                "accountId": "111122223333",
                "accessKeyId": "ASIAFED",
                "sessionContext": {
                    "sessionIssuer": {"arn": "arn:aws:iam::111122223333:user/alice"}
                },
            },
        ),
        {
            "actor": "arn:aws:sts::111122223333:federated-user/dave",
            "actor_type": "FederatedUser",
            "session_id": "ASIAFED",
            "extra": {"session_issuer": "arn:aws:iam::111122223333:user/alice"},
        },
    ),
    (
        "identity-center-user",
        ct(
            userIdentity={
                "type": "IdentityCenterUser",
                "accountId": "111122223333",
                "onBehalfOf": {"userId": "id-center-user-1"},
                "credentialId": "cred-1",
            },
            eventSource="signin.amazonaws.com",
            eventName="CredentialChallenge",
            additionalEventData={"UserName": "erin"},
            serviceEventDetails={"CredentialChallenge": "Failure"},
        ),
        {
            "actor": "id-center-user-1",
            "actor_type": "IdentityCenterUser",
            "outcome": "failure",
            "extra": {"user_name": "erin"},
        },
    ),
    (
        "saml-user",
        ct(
            userIdentity={
                "type": "SAMLUser",
                "principalId": "SAMLProvider:frank@corp.example",
                "userName": "frank@corp.example",
                "identityProvider": "bdGOnTesti4Ea",
            },
            eventSource="sts.amazonaws.com",
            eventName="AssumeRoleWithSAML",
        ),
        {"actor": "frank@corp.example", "actor_type": "SAMLUser"},
    ),
    (
        "web-identity-user",
        ct(
            userIdentity={
                "type": "WebIdentityUser",
                "principalId": "accounts.google.com:app:grace",
                "userName": "grace",
                "identityProvider": "accounts.google.com",
            },
        ),
        {"actor": "grace", "actor_type": "WebIdentityUser"},
    ),
    (
        "failed-console-login-has-no-error-code",
        ct(
            eventSource="signin.amazonaws.com",
            eventName="ConsoleLogin",
            eventType="AwsConsoleSignIn",
            responseElements={"ConsoleLogin": "Failure"},
            errorMessage="Failed authentication",
        ),
        {"outcome": "failure", "error": "Failed authentication"},
    ),
    *(
        (
            f"failed-{name}-says-so-under-its-own-name",
            ct(
                eventSource="signin.amazonaws.com",
                eventName=name,
                eventType="AwsConsoleSignIn",
                responseElements={name: "Failure"},
            ),
            {"outcome": "failure"},
        )
        for name in ("SwitchRole", "ExternalIdPDirectoryLogin", "PasswordUpdated", "CheckMfa")
    ),
    (
        "successful-switch-role",
        ct(
            eventSource="signin.amazonaws.com",
            eventName="SwitchRole",
            eventType="AwsConsoleSignIn",
            responseElements={"SwitchRole": "Success"},
        ),
        {"outcome": "success"},
    ),
    (
        "identity-center-credential-verification-failed",
        ct(
            eventSource="signin.amazonaws.com",
            eventName="CredentialVerification",
            serviceEventDetails={"CredentialType": "PASSWORD", "CredentialVerification": "Failure"},
        ),
        {"outcome": "failure"},
    ),
    (
        "ssm-session-target",
        ct(
            eventSource="ssm.amazonaws.com",
            eventName="StartSession",
            requestParameters={"target": "i-0123456789abcdef0"},
        ),
        {"resource": "i-0123456789abcdef0"},
    ),
    (
        "bedrock-model",
        ct(
            eventSource="bedrock.amazonaws.com",
            eventName="InvokeModel",
            requestParameters={"modelId": "anthropic.claude-v2"},
        ),
        {"resource": "anthropic.claude-v2"},
    ),
    (
        "instance-from-request-parameters",
        ct(
            eventSource="ec2.amazonaws.com",
            eventName="StopInstances",
            requestParameters={"instancesSet": {"items": [{"instanceId": "i-0abc"}]}},
        ),
        {"resource": "i-0abc", "action": "ec2.amazonaws.com:StopInstances"},
    ),
    (
        "panther-lower-cased-keys",
        {
            "eventtime": "2024-05-01 10:00:00",
            "eventname": "GetRecords",
            "eventsource": "dynamodb.amazonaws.com",
            "eventid": "evt-lower",
            "useridentity": {"arn": "arn:aws:iam::111122223333:user/heidi", "type": "IAMUser"},
        },
        {
            "ts": T,
            "actor": "arn:aws:iam::111122223333:user/heidi",
            "action": "dynamodb.amazonaws.com:GetRecords",
            "event_id": "evt-lower",
            "outcome": "success",
        },
    ),
    (
        "panther-time-when-event-time-is-redacted",
        ct(eventTime="redacted", p_event_time="2024-05-01 10:00:00.000"),
        {"ts": T, "actor": "arn:aws:iam::111122223333:user/alice"},
    ),
]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case[0] for case in CASES])
def test_cloudtrail_fields_fill_the_canonical_event(
    index: int, loaded_cases: Callable[..., Loaded]
) -> None:
    loaded = loaded_cases(CASES, input_format="cloudtrail")
    assert loaded.rejects == []
    (event,) = [e for e in loaded.events if e["source_line"] == index + 1]
    expect(event, CASES[index][2])


def _history_record(event: dict[str, Any]) -> dict[str, Any]:
    """An Event history (LookupEvents) record: the event as a JSON string, local EventTime."""
    return {
        "EventId": event["eventID"],
        "EventName": event["eventName"],
        "ReadOnly": "true",
        "EventTime": "2024-05-01 20:00:00+10:00",
        "EventSource": event["eventSource"],
        "Username": "alice",
        "Resources": [],
        "CloudTrailEvent": orjson.dumps(event).decode(),
    }


def test_event_history_lines_map_the_event_string_and_keep_the_whole_record_raw() -> None:
    line = orjson.dumps(_history_record(ct(eventName="ListUsers"))).decode()
    loaded = load_records([line])
    (event,) = loaded.events
    expect(
        event,
        {
            "source_format": "cloudtrail",
            "ts": T,
            "actor": "arn:aws:iam::111122223333:user/alice",
            "action": "iam.amazonaws.com:ListUsers",
            "event_id": "evt-1",
            "session_id": "AKIAEXAMPLE",
            "raw": line,
        },
    )


def test_lookup_events_document_is_an_envelope_of_event_strings() -> None:
    records = [
        _history_record(ct(eventID="a", eventName="ListUsers")),
        _history_record(ct(eventID="b", eventName="GetUser")),
    ]
    loaded = load_records(orjson.dumps({"Events": records, "NextToken": "x"}))
    assert [(e["event_id"], e["action"], e["source_line"]) for e in loaded.events] == [
        ("a", "iam.amazonaws.com:ListUsers", 0),
        ("b", "iam.amazonaws.com:GetUser", 1),
    ]
    assert orjson.loads(loaded.events[0]["raw"]) == records[0]


def test_records_envelope_bare_array_and_single_event_all_read() -> None:
    for data in (
        orjson.dumps({"Records": [ct(eventID="a"), ct(eventID="b")]}),
        orjson.dumps([ct(eventID="a"), ct(eventID="b")]),
        orjson.dumps(ct(eventID="a"), option=orjson.OPT_INDENT_2),
    ):
        loaded = load_records(data)
        assert loaded.rejects == []
        assert {e["source_format"] for e in loaded.events} == {"cloudtrail"}
        assert loaded.events[0]["event_id"] == "a"


def test_a_filter_finds_a_value_escaped_twice_inside_an_event_string() -> None:
    identity = {"type": "IAMUser", "userName": 'o"brien', "accountId": "111122223333"}
    hidden = _history_record(ct(userIdentity=identity, eventID="quoted"))
    other = _history_record(ct(eventID="plain"))
    lines = [orjson.dumps(r) for r in (hidden, other)]
    event_filter = EventFilter(actors=('o"brien',))
    needles = _needles(event_filter, CLOUDTRAIL)
    assert needles is not None
    assert [any(n in line for n in needles) for line in lines] == [True, False]
    loaded = load_records([line.decode() for line in lines], event_filter=event_filter)
    assert [e["event_id"] for e in loaded.events] == ["quoted"]


def test_extra_is_null_when_there_is_nothing_to_keep() -> None:
    loaded = load_records(
        [{"eventTime": "2024-05-01T10:00:00Z", "eventName": "X", "eventSource": "y"}],
        input_format="cloudtrail",
    )
    assert loaded.events[0]["extra"] is None
    assert extra_of(loaded.events[0]) == {}


def test_an_event_string_that_is_not_json_rejects_only_its_record() -> None:
    good = _history_record(ct(eventID="ok"))
    broken = {**_history_record(ct(eventID="bad")), "CloudTrailEvent": "{not json"}
    loaded = load_records([good, broken], input_format="cloudtrail")
    assert [e["event_id"] for e in loaded.events] == ["ok"]
    assert loaded.rejects == [(2, "no usable timestamp")]


def test_an_embedded_event_given_as_an_object_maps_the_same() -> None:
    record = {**_history_record(ct(eventID="obj")), "CloudTrailEvent": ct(eventID="obj")}
    (event,) = load_records([record], input_format="cloudtrail").events
    assert (event["event_id"], event["ts"], event["session_id"]) == ("obj", T, "AKIAEXAMPLE")
