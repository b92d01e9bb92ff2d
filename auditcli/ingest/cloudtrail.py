"""The ``cloudtrail`` adapter: AWS CloudTrail events.

Reads S3 log files (``{"Records": [...]}``, unwrapped by framing), bare arrays,
single events and JSON lines, and Event history / LookupEvents exports, whose
records carry the real event as a JSON string under ``CloudTrailEvent``: that
string is mapped (``JsonAdapter.embedded``), ``raw`` keeps the whole record.

- actor: ``userIdentity.arn`` when there is one (IAM user, assumed-role session
  ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``, root, federated user), else
  ``invokedBy`` (AWS services), ``userName`` (SAML, web identity), the Identity
  Center user id, ``principalId``, ``accountId``. Glob the ARN to find a name:
  ``--actor '*/alice'``.
- action: ``eventSource:eventName`` (``s3.amazonaws.com:GetObject``): lossless,
  and ``--action 'iam.amazonaws.com:*'`` or ``--action '*:CreateUser'`` both work.
- outcome: failure when ``errorCode`` is present, or when a sign-in event
  (``ConsoleLogin``, ``SwitchRole``, ``PasswordUpdated``, ...) says ``Failure``
  (a failed sign-in carries no errorCode); success otherwise.
- session_id: the access key id, so a timeline pivots on one credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of
from auditcli.ingest.vendor import extra, fallback_for, joined

NAME = "cloudtrail"

#: requestParameters naming what a call acted on, most specific first.
RESOURCE_PARAMETERS = (
    "bucketName",
    "roleName",
    "userName",
    "groupName",
    "policyArn",
    "roleArn",
    "instanceId",
    "instancesSet.items[0].instanceId",
    "functionName",
    "secretId",
    "keyId",
    "trailName",
    "snapshotId",
    "imageId",
    "dBSnapshotIdentifier",
    "dBInstanceIdentifier",
    "groupId",
    "logGroupName",
    "stackName",
    "clusterName",
    "dBClusterIdentifier",
    "documentName",
    "modelId",
    "resourceArn",
    "target",
    "name",
)

_ERROR_CODE = text("errorCode")
_ERROR_MESSAGE = text("errorMessage")
#: Where a sign-in event says ``Success`` or ``Failure``: under its own name in
#: ``responseElements`` (a failed console login carries no errorCode), or for
#: IAM Identity Center sign-in in ``serviceEventDetails``.
_SIGN_IN_RESULT = text(
    *(
        f"responseElements.{name}"
        for name in (
            "ConsoleLogin",
            "SwitchRole",
            "ExternalIdPDirectoryLogin",
            "PasswordUpdated",
            "CheckMfa",
        )
    ),
    "serviceEventDetails.CredentialChallenge",
    "serviceEventDetails.CredentialVerification",
    "serviceEventDetails.UserAuthentication",
)

COLUMNS: dict[str, str] = {
    "event_id": text("eventID"),
    "ts": time_of("eventTime"),
    "actor": text(
        "userIdentity.arn",
        "userIdentity.invokedBy",
        "userIdentity.userName",
        "userIdentity.onBehalfOf.userId",
        "userIdentity.principalId",
        "userIdentity.accountId",
    ),
    "actor_type": text("userIdentity.type"),
    "action": joined(":", "eventSource", "eventName"),
    "resource": text(
        "resources[0].ARN", *(f"requestParameters.{name}" for name in RESOURCE_PARAMETERS)
    ),
    "resource_type": text("resources[0].type"),
    "outcome": f"""CASE WHEN {_ERROR_CODE} IS NOT NULL OR lower({_SIGN_IN_RESULT}) = 'failure'
                        THEN 'failure'
                        WHEN {text("eventName")} IS NOT NULL THEN 'success' END""",
    "source_ip": text("sourceIPAddress"),
    "user_agent": text("userAgent"),
    "request_id": text("requestID"),
    "session_id": text("userIdentity.accessKeyId"),
    "error": f"coalesce({_ERROR_CODE} || ': ' || {_ERROR_MESSAGE}, {_ERROR_CODE},"
    f" {_ERROR_MESSAGE})",
    "extra": extra(
        access_key_id="userIdentity.accessKeyId",
        account_id="userIdentity.accountId",
        user_name=("userIdentity.userName", "additionalEventData.UserName"),
        invoked_by="userIdentity.invokedBy",
        session_issuer="userIdentity.sessionContext.sessionIssuer.arn",
        source_identity="userIdentity.sessionContext.sourceIdentity",
        mfa_authenticated="userIdentity.sessionContext.attributes.mfaAuthenticated",
        shared_event_id="sharedEventID",
        recipient_account_id="recipientAccountId",
        region="awsRegion",
        event_type="eventType",
    ),
}

EMBEDDED = "CloudTrailEvent"


def detect(event: Mapping[str, Any]) -> bool:
    """A CloudTrail record, an Event history record, or one with Panther's lower-cased keys."""
    if isinstance(event.get(EMBEDDED), str | dict):
        return True
    return ("eventName" in event or "eventname" in event) and (
        "eventSource" in event
        or "eventsource" in event
        or "userIdentity" in event
        or "eventVersion" in event
    )


CLOUDTRAIL = JsonAdapter(
    name=NAME,
    description="AWS CloudTrail: S3 log files, JSON lines, Event history (LookupEvents) exports",
    columns=COLUMNS,
    detect=detect,
    verbatim=frozenset(
        {
            "event_id",
            "actor",
            "actor_type",
            "resource",
            "resource_type",
            "source_ip",
            "user_agent",
            "request_id",
            "session_id",
        }
    ),
    embedded=EMBEDDED,
    fallback=fallback_for(NAME, COLUMNS, embedded=EMBEDDED),
)
