"""keybase.py: a foreign scheme plugs into the verifier through the recipe seam alone."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from auditcli.integrity.keybase import KeybaseSigchainRecipe


def _sigchain(count: int) -> list[dict[str, Any]]:
    """Links shaped like Keybase's: payload_json text, its hash, seqno; prev inside."""
    links, prev = [], None
    for seqno in range(1, count + 1):
        payload = {
            "body": {"type": "track", "n": seqno},
            "ctime": 1430000000 + seqno,
            "prev": prev,
            "seqno": seqno,
            "tag": "signature",
        }
        payload_json = json.dumps(payload, indent=1)  # hashed exactly as stored, not JCS
        prev = hashlib.sha256(payload_json.encode()).hexdigest()
        links.append(
            {
                "seqno": seqno,
                "payload_json": payload_json,
                "payload_hash": prev,
                "sig": "-----BEGIN PGP MESSAGE-----...",
            }
        )
    return links


def test_an_intact_sigchain_verifies(kit: Any) -> None:
    links = _sigchain(12)
    report = kit.verify_lines(kit.lines_of(links), recipe=KeybaseSigchainRecipe())
    assert report.intact
    assert (report.scheme, report.events, report.head) == (
        "keybase-sigchain",
        12,
        links[-1]["payload_hash"],
    )


def test_sigchain_tampering_is_found_by_the_same_walk(kit: Any) -> None:
    links = _sigchain(12)
    links[3]["payload_json"] = links[3]["payload_json"].replace("track", "untrack")
    del links[7]
    report = kit.verify_lines(kit.lines_of(links), recipe=KeybaseSigchainRecipe())
    assert kit.kinds(report) == [("modified", 4), ("deleted", 8)]
    assert report.findings[1].count == 1
