"""Keybase sigchain links as a chain recipe: proof that the recipe seam fits other schemes.

A Keybase link stores ``payload_json`` (a JSON text, hashed exactly as stored),
``payload_hash`` = hex(SHA-256(payload_json)) and ``seqno``; the payload's own ``prev``
names the previous link's payload_hash (null for the first). Signatures are not
checked here. This module owns only that recipe; export each link as one JSON line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditcli.integrity.recipe import (
    EventShapeError,
    Examined,
    ExaminedBlock,
    ExaminedLines,
    ExaminedMany,
    LinkedBlock,
)

__all__ = ["KeybaseSigchainRecipe"]


@dataclass(frozen=True)
class KeybaseSigchainRecipe:
    """payload_hash = hex(SHA-256(payload_json)); link = payload.prev; order = seqno."""

    @property
    def scheme(self) -> str:
        """Name of the scheme."""
        return "keybase-sigchain"

    @property
    def genesis(self) -> None:
        """The first link's payload has ``"prev": null``."""
        return None

    def sequence(self, event: dict[str, Any]) -> int | None:
        """The link's ``seqno``."""
        value = event.get("seqno")
        return value if type(value) is int else None

    def examine(self, event: dict[str, Any]) -> Examined:
        """Hash the stored payload text and read its ``prev``."""
        payload_text, stored = event.get("payload_json"), event.get("payload_hash")
        if not isinstance(payload_text, str) or not isinstance(stored, str):
            raise EventShapeError("link has no string 'payload_json' and 'payload_hash'")
        try:
            payload = json.loads(payload_text)
        except ValueError as e:
            raise EventShapeError(f"payload_json is not JSON: {e}") from e
        prev = payload.get("prev") if isinstance(payload, dict) else None
        computed = hashlib.sha256(payload_text.encode("utf-8")).hexdigest()
        return stored, computed, prev if isinstance(prev, str) else None

    def examine_many(self, events: list[dict[str, Any]]) -> ExaminedMany | None:
        """No batch path: links are examined one by one."""
        return None

    def examine_lines(
        self, lines: Sequence[bytes], time_keys: tuple[bytes, ...]
    ) -> ExaminedLines | None:
        """No raw-line path: links are parsed."""
        return None

    def examine_block(self, data: bytes, time_keys: tuple[bytes, ...]) -> ExaminedBlock | None:
        """No raw-line path: links are parsed."""
        return None

    def link_block(self, data: bytes, time_keys: tuple[bytes, ...]) -> LinkedBlock | None:
        """No raw-line path: links are parsed."""
        return None
