"""The digest functions auditcli-chain/1 allows, by name.

Its own small module so that ``--help`` lists them without importing hashing code.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DigestAlgorithm"]


class DigestAlgorithm(StrEnum):
    """Digest functions auditcli-chain/1 allows; keyed mode uses HMAC over the same one."""

    SHA256 = "sha256"
    SHA512 = "sha512"
    BLAKE2B = "blake2b"  # BLAKE2b-512

    @property
    def hex_length(self) -> int:
        """Number of hex characters in one digest."""
        return 64 if self is DigestAlgorithm.SHA256 else 128
