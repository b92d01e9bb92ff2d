"""Factories for integrity tests: chains built by an independent reference implementation.

``reference_hash`` hashes with the rfc8785 package and hashlib only, never with
auditcli code, so a chain built here checks auditcli rather than agreeing with it.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import random
from typing import Any

import pytest
import rfc8785

from auditcli.integrity import ChainReport, NamedStream, verify_chain

GENESIS = "0" * 64
SAFE = 2**53 - 1


def as_reference(value: Any) -> Any:
    """The value as the rfc8785 package takes it: integers beyond 2**53 as doubles."""
    if isinstance(value, dict):
        return {k: as_reference(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_reference(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE:
        return float(value)
    return value


def reference_bytes(value: Any) -> bytes:
    """JCS(value) by the rfc8785 package alone."""
    return bytes(rfc8785.dumps(as_reference(value)))


def reference_hash(event: dict[str, Any], key: bytes | None = None) -> str:
    """hex(SHA-256(JCS(event))) or HMAC-SHA-256, from the reference packages only."""
    data = reference_bytes(event)
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def build_chain(
    payloads: list[dict[str, Any]],
    *,
    seq: bool = True,
    key: bytes | None = None,
    genesis: str = GENESIS,
    first_seq: int = 1,
) -> list[dict[str, Any]]:
    """Chained copies of the payloads, in order."""
    prev, events = genesis, []
    for index, payload in enumerate(payloads):
        event = dict(payload)
        if seq:
            event["seq"] = first_seq + index
        event["prev_hash"] = prev
        event["hash"] = prev = reference_hash(event, key)
        events.append(event)
    return events


def simple_payloads(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Small, varied audit-like events."""
    return [
        {
            "id": f"evt-{i}",
            "ts": f"2024-07-30T21:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
            "actor": {"name": ["alice", "bob", "mallory"][i % 3], "ip": f"203.0.113.{i % 250}"},
            "action": ["s3:GetObject", "iam:CreateUser", "kms:Decrypt"][i % 3],
            "ok": i % 7 != 0,
        }
        for i in range(start, start + count)
    ]


def dump_line(event: dict[str, Any], *, rng: random.Random | None = None) -> bytes:
    """One JSON line; with a random generator, in a random key order and spacing."""
    if rng is None:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    items = list(event.items())
    rng.shuffle(items)
    separators = rng.choice([(",", ":"), (", ", ": "), (" ,", " : ")])
    text = json.dumps(dict(items), separators=separators, ensure_ascii=rng.random() < 0.5)
    return text.encode("utf-8", "surrogatepass")


def lines_of(events: list[dict[str, Any]]) -> list[bytes]:
    """JSON lines of events."""
    return [dump_line(event) for event in events]


def verify_lines(lines: list[bytes], name: str = "log.jsonl", **options: Any) -> ChainReport:
    """Verify lines held in memory as one stream."""
    data = b"".join(line + b"\n" for line in lines)
    return verify_chain([NamedStream(name, io.BytesIO(data))], **options)


def kinds(report: ChainReport) -> list[tuple[str, int]]:
    """(kind, line) of every finding, for terse assertions."""
    return [(finding.kind.value, finding.line) for finding in report.findings]


class Kit:
    """The factories above, handed to tests through the ``kit`` fixture."""

    genesis = GENESIS
    as_reference = staticmethod(as_reference)
    reference_hash = staticmethod(reference_hash)
    build_chain = staticmethod(build_chain)
    simple_payloads = staticmethod(simple_payloads)
    dump_line = staticmethod(dump_line)
    lines_of = staticmethod(lines_of)
    verify_lines = staticmethod(verify_lines)
    kinds = staticmethod(kinds)

    @staticmethod
    def chain(count: int, **options: Any) -> list[dict[str, Any]]:
        """``count`` simple events, chained by the reference implementation."""
        return build_chain(simple_payloads(count), **options)


@pytest.fixture(scope="session")
def kit() -> Kit:
    """Chain factories and helpers (stateless, so hypothesis tests may share it)."""
    return Kit()
