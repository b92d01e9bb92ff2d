"""A corpus of hostile events: planted secrets of every detector kind, terminal and
markup attacks, formula cells, broken Unicode, and one 5 MB value.

``NEEDLES`` are the parts of each planted secret that must never appear in output
(a detector with a shown prefix keeps only that prefix visible).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAplantedPrivateKeyBody\n"
    "bm90IGEgcmVhbCBrZXk=\n-----END RSA PRIVATE KEY-----"
)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.plantedJwtSignature0123"
GITHUB = "ghp_" + "Pl4nt3dG1thubT0k3nAbCdEfGhIjKlMnOpQr"
SLACK = "xoxb-" + "123456789012-PlantedSlackToken0123"
STRIPE = "sk_live_" + "PlantedStripeKey0123456789"
GOOGLE = "AIza" + "SyPlantedGoogleKey_0123456789abcdef"
OPENAI = "sk-proj-" + "PlantedOpenAiKey0123456789Xyz"
DB_URL = "postgres://app:PlantedDbPassw0rd@db.internal:5432/app"
VISA = "4111 1111 1111 1111"
BEARER = "Bearer PlantedBearer0123456789"
BASIC = "Basic " + base64.b64encode(b"admin:PlantedBasicPass").decode()
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
UUID = "123e4567-e89b-12d3-a456-426614174000"

#: Request parameters, nested, holding one secret of each kind.
PARAMETERS: dict[str, Any] = {
    "credentials": {
        "aws_secret_access_key": AWS_SECRET,
        "access_key_id": AWS_KEY_ID,
        "session_token": "FQoGZXIvYXdzPlantedSessionToken",
        "password": "PlantedPassword!1",
        "api_key": "planted-api-key-value-42",
        "client_secret": "planted-client-secret-99",
        "access_token": "planted-access-token-77",
    },
    "headers": {
        "Authorization": "Digest planted-digest-credentials",
        "Cookie": "sid=planted-cookie-value",
    },
    "blobs": [PEM, JWT, GITHUB, SLACK, STRIPE, GOOGLE, OPENAI, DB_URL, VISA, BEARER, BASIC],
    "request_uuid": UUID,
}

NEEDLES = (
    "plantedPrivateKeyBody",
    "plantedJwtSignature",
    "eyJzdWIiOiJwbGFudGVkIn0",
    "Pl4nt3dG1thubT0k3n",
    "PlantedSlackToken",
    "PlantedStripeKey",
    "SyPlantedGoogleKey",
    "PlantedOpenAiKey",
    "PlantedDbPassw0rd",
    VISA,
    "PlantedBearer0123",
    base64.b64encode(b"admin:PlantedBasicPass").decode(),
    "PlantedBasicPass",
    AWS_SECRET[4:],
    "PlantedSessionToken",
    "PlantedPassword",
    "planted-api-key-value",
    "planted-client-secret",
    "planted-access-token",
    "planted-digest-credentials",
    "planted-cookie-value",
    "PlantedRejectPassword",
    "eyJQbGFudGVkQ29tbWFuZExpbmVKd3QiOjF9",
)

#: Terminal, markup and layout attacks in one string.
HOSTILE = (
    "<script>alert(1)</script> [link](javascript:alert(1)) ![img](https://evil.example/p.png) "
    "| `code` [bold red]markup[/bold red] "
    "\x1b[31mred\x1b[0m \x1b]8;;https://evil.example/\x07click\x1b]8;;\x07 "
    "\x1b]0;pwned-title\x07 \x00\x07\x08\x7f \x9b31m\x85 \u202eevil\u202c \u200bzw\ufeff"
)
#: Characters that must never reach a terminal (tables, timelines) or a document.
FORBIDDEN_IN_TABLES = tuple(
    [chr(c) for c in range(0x20) if chr(c) != "\n"]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u202e", "\u202c", "\u200b", "\ufeff"]
)
FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)")
BIG_CHARS = 5_000_000
BIG = "B" * BIG_CHARS
AT = "2026-03-12T14:05:00Z"


def _event(n: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"evt-{n}",
        "timestamp": f"2026-03-12T14:0{n}:00Z",
        "actor": "alice@corp.example",
        "action": "iam.role.grant",
        "resource": "role/admin",
        "outcome": "success",
        "source_ip": "203.0.113.7",
        "user_agent": "aws-cli/2.15",
    }
    base.update(fields)
    return base


def corpus_bytes() -> bytes:
    """The corpus as JSON lines, with one line holding invalid UTF-8 and one not JSON."""
    events = [
        _event(
            1,
            action="iam.key.create",
            request={"parameters": {"nested": PARAMETERS}},
            error=f"Authorization: {BEARER}",
            resource=DB_URL,
        ),
        _event(
            2,
            actor=HOSTILE,
            action=HOSTILE,
            resource=HOSTILE,
            error=HOSTILE,
            user_agent=HOSTILE,
            source_ip="203.0.113.7\x1b[2J",
            outcome="failure",
        ),
        _event(
            3,
            actor=FORMULAS[0],
            action=FORMULAS[1],
            resource=FORMULAS[2],
            error=FORMULAS[3],
            user_agent="\t=1+1",
        ),
        _event(4, actor="bob@corp.example", error=BIG, request={"body": BIG}),
    ]
    lines = [orjson.dumps(e) for e in events]
    lines.append(
        b'{"id":"evt-5","timestamp":"2026-03-12T14:05:00Z","actor":"mallory\\ud800",'
        b'"action":"login","resource":"surrogate","outcome":"success"}'
    )
    lines.append(
        b'{"id":"evt-6","timestamp":"2026-03-12T14:06:00Z","actor":"invalid-\xff\xfe-utf8",'
        b'"action":"login","resource":"bytes","outcome":"success"}'
    )
    lines.append(b"not json at all: password=PlantedRejectPassword \x1b]0;reject-title\x07")
    return b"\n".join(lines) + b"\n"
