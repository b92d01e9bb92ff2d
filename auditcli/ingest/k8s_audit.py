"""The ``k8s-audit`` adapter: Kubernetes API server audit events.

Reads ``audit.k8s.io/v1`` and ``v1beta1`` events, old ones without
``apiVersion``, EKS's CloudWatch lines, AKS diagnostic records (the event is
the JSON string in ``properties.log``: mapped via ``JsonAdapter.embedded``) and,
in a file that mixes them in, GKE's Cloud Logging entries (mapped as gcp-audit).

- actor: ``user.username``, the authenticated user who sent the request. When
  it impersonated someone, ``extra.impersonated_user`` names whose rights were
  used: find those with ``--actor`` on the caller, or by searching ``extra``.
- action ``verb``; resource ``namespace/resource/name[/subresource]`` from
  ``objectRef``, else ``requestURI``; outcome from ``responseStatus.code``.
- event_id and request_id ``auditID``; session_id the credential id the API
  server records (``authentication.kubernetes.io/credential-id``, or EKS's AWS
  access key id, which CloudTrail events carry as their session_id too).

One request is logged once per stage (RequestReceived, ResponseStarted,
ResponseComplete, Panic). After a file is loaded, the earlier stages of every
auditID that also has a ResponseComplete or Panic stage in that file move to the
``event_stages`` table (same columns as the stored events), so ``events`` holds
one event per request and the others stay findable by auditID.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of
from auditcli.ingest.gcp_audit import COLUMNS as GCP_COLUMNS
from auditcli.ingest.vendor import extra, fallback_for

NAME = "k8s-audit"

_USER = text("user.username")
_REF = "objectRef"
_CREDENTIAL = 'user.extra."authentication.kubernetes.io/credential-id"[0]'

COLUMNS: dict[str, str] = {
    "event_id": text("auditID"),
    "ts": time_of("requestReceivedTimestamp", "stageTimestamp", "timestamp"),
    "actor": _USER,
    "actor_type": f"""CASE WHEN {_USER} LIKE 'system:serviceaccount:%' THEN 'serviceaccount'
                           WHEN {_USER} LIKE 'system:node:%' THEN 'node'
                           WHEN {_USER} = 'system:anonymous' THEN 'anonymous'
                           WHEN {_USER} LIKE 'system:%' THEN 'system'
                           WHEN {_USER} IS NOT NULL THEN 'user' END""",
    "action": text("verb"),
    "resource": f"""coalesce(
        nullif(concat_ws('/', {text(f"{_REF}.namespace")}, {text(f"{_REF}.resource")},
                         {text(f"{_REF}.name")}, {text(f"{_REF}.subresource")}), ''),
        {text("requestURI")})""",
    "resource_type": text(f"{_REF}.resource"),
    "outcome": f"_outcome({text('responseStatus.code', 'responseStatus.status')}, NULL)",
    "source_ip": text("sourceIPs[0]"),
    "user_agent": text("userAgent"),
    "request_id": text("auditID"),
    "session_id": text(_CREDENTIAL, "user.extra.accessKeyId[0]"),
    "error": text("responseStatus.message", "responseStatus.reason"),
    "extra": extra(
        stage="stage",
        level="level",
        impersonated_user="impersonatedUser.username",
        request_uri="requestURI",
        api_group=f"{_REF}.apiGroup",
        decision='annotations."authorization.k8s.io/decision"',
        aws_arn="user.extra.arn[0]",
    ),
}

#: Where AKS puts the event, and the outer record's own time.
EMBEDDED = "properties.log"
_AKS_TIME = {"ts": time_of("time")}

_SUPERSEDED = """source_id = $source_id
  AND extra->>'stage' IN ('RequestReceived', 'ResponseStarted')
  AND event_id IN (SELECT event_id FROM event_rows WHERE source_id = $source_id
                   AND extra->>'stage' IN ('ResponseComplete', 'Panic'))"""

#: Moves the earlier stages of a finished request out of ``event_rows``.
POST_LOAD = (
    f"INSERT INTO event_stages SELECT * FROM event_rows WHERE {_SUPERSEDED}",
    f"DELETE FROM event_rows WHERE {_SUPERSEDED}",
)


def detect(event: Mapping[str, Any]) -> bool:
    """An audit event (``kind: Event`` with an auditID or verb), or an AKS kube-audit record."""
    if event.get("kind") == "Event" and ("auditID" in event or "verb" in event):
        return True
    if "verb" in event and ("objectRef" in event or "requestURI" in event):
        return True
    properties = event.get("properties")
    return (
        str(event.get("category", "")).startswith("kube-audit")
        and isinstance(properties, dict)
        and "log" in properties
    )


K8S_AUDIT = JsonAdapter(
    name=NAME,
    description="Kubernetes audit events (audit.k8s.io v1/v1beta1; EKS, AKS and GKE exports)",
    columns=COLUMNS,
    detect=detect,
    verbatim=frozenset(
        {
            "event_id",
            "actor",
            "action",
            "resource_type",
            "source_ip",
            "user_agent",
            "request_id",
            "session_id",
        }
    ),
    embedded=EMBEDDED,
    fallback=fallback_for(NAME, COLUMNS, GCP_COLUMNS, _AKS_TIME, embedded=EMBEDDED),
    post_load=POST_LOAD,
)
