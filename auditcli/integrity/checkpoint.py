"""Signed checkpoints: a chain's count and head, signed with Ed25519 as a C2SP signed note.

The note follows c2sp.org/signed-note and c2sp.org/tlog-checkpoint: body lines are the
origin (``auditcli-chain/1 <name>``), the event count in decimal and the head hash in
base64, then extension lines (``head``, ``digest``, ``first-time``, ``last-time``,
``created``); a blank line; then ``— <name> base64(key ID || signature)``, where the key
ID is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || 32-byte public key). Unlike a
transparency log the "root hash" is the chain's head, not a Merkle root. This module owns
key files and the note format; it never reads the chain itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from auditcli.errors import AuditCliError, InputError, UsageError
from auditcli.integrity.recipe import SCHEME

__all__ = [
    "Checkpoint",
    "CheckpointFormatError",
    "CheckpointSignatureError",
    "key_id",
    "keygen",
    "load_private_key",
    "load_public_key",
    "now_rfc3339",
    "sign_checkpoint",
    "verify_checkpoint",
]

EM_DASH = "\u2014"
ED25519_SIGNATURE_TYPE = b"\x01"
_NAME = re.compile(r"[^\s+]+")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


class CheckpointFormatError(InputError):
    """A checkpoint is not a well-formed signed note of this scheme."""


class CheckpointSignatureError(AuditCliError):
    """A checkpoint carries no valid signature by the given key."""


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint commits to."""

    name: str  # log and key name
    count: int
    head: str  # lowercase hex hash of the last event
    digest: str  # e.g. "sha256", "hmac-sha256"
    created: str  # RFC 3339 UTC
    first_time: str | None = None
    last_time: str | None = None

    @property
    def origin(self) -> str:
        """The note's first line."""
        return f"{SCHEME} {self.name}"

    def text(self) -> str:
        """The note text that is signed (ends in a newline)."""
        lines = [
            self.origin,
            str(self.count),
            base64.b64encode(bytes.fromhex(self.head)).decode("ascii"),
            f"head {self.head}",
            f"digest {self.digest}",
        ]
        for label, value in (("first-time", self.first_time), ("last-time", self.last_time)):
            if value and not _CONTROL.search(value):
                lines.append(f"{label} {value}")
        lines.append(f"created {self.created}")
        return "\n".join(lines) + "\n"


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key ID of an Ed25519 note key (c2sp.org/signed-note)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + ED25519_SIGNATURE_TYPE + raw).digest()[:4]


def check_name(name: str) -> None:
    """Refuse a key name that a signed note cannot carry."""
    if not _NAME.fullmatch(name) or not name.isprintable():  # controls, undecodable bytes
        raise UsageError(
            f"key name {name!r} must be non-empty, printable UTF-8, without spaces or '+'",
            "use a schema-less URL such as example.com/audit",
        )


def load_private_key(pem: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8)."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as e:
        raise InputError(f"not a PEM private key: {e}") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("the private key is not an Ed25519 key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        raise InputError(f"not a PEM public key: {e}") from e
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("the public key is not an Ed25519 key")
    return key


def keygen(private_path: str | os.PathLike[str], public_path: str | os.PathLike[str]) -> str:
    """Write a new Ed25519 key pair as PEM (private file mode 0600); return the public PEM."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    written: list[str | os.PathLike[str]] = []
    try:
        for path, data, mode in (
            (private_path, private_pem, 0o600),
            (public_path, public_pem, 0o644),
        ):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            except FileExistsError as e:
                raise UsageError(
                    f"{os.fspath(path)} already exists", "choose another path or remove it first"
                ) from e
            except OSError as e:
                raise InputError(f"cannot write: {e.strerror}", path=os.fspath(path)) from e
            written.append(path)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
    except BaseException:  # a half pair is no pair: the private key goes too
        for path in written:
            with suppress(OSError):
                os.unlink(path)
        raise
    return public_pem.decode("ascii")


def sign_checkpoint(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> bytes:
    """The signed note for a checkpoint, as bytes to write to a file."""
    check_name(checkpoint.name)
    text = checkpoint.text()
    signature = private_key.sign(text.encode("utf-8"))
    keyed = key_id(checkpoint.name, private_key.public_key()) + signature
    line = f"{EM_DASH} {checkpoint.name} {base64.b64encode(keyed).decode('ascii')}\n"
    return (text + "\n" + line).encode("utf-8")


def now_rfc3339() -> str:
    """The current UTC time, to the second, as RFC 3339."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split_note(note: bytes) -> tuple[str, list[str]]:
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointFormatError("checkpoint is not UTF-8") from e
    if _CONTROL.search(decoded) or not decoded.endswith("\n"):
        raise CheckpointFormatError("checkpoint has control characters or no final newline")
    separator = decoded.rfind("\n\n")
    if separator < 0:
        raise CheckpointFormatError("checkpoint has no blank line before its signatures")
    return decoded[: separator + 1], decoded[separator + 2 :].splitlines()


def _parse_text(text: str) -> Checkpoint:
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointFormatError("checkpoint text has fewer than three lines")
    origin, count_line, root = lines[:3]
    scheme, _, name = origin.partition(" ")
    if scheme != SCHEME or not name:
        raise CheckpointFormatError(f"origin {origin!r} is not '{SCHEME} <name>'")
    if not re.fullmatch(r"0|[1-9][0-9]*", count_line):
        raise CheckpointFormatError(f"tree size {count_line!r} is not a decimal count")
    extensions: dict[str, str] = {}
    for line in lines[3:]:
        label, _, value = line.partition(" ")
        extensions[label] = value
    head = extensions.get("head", "")
    try:
        root_bytes = base64.b64decode(root, validate=True)
    except binascii.Error as e:
        raise CheckpointFormatError("root hash line is not base64") from e
    if not re.fullmatch(r"[0-9a-f]+", head) or bytes.fromhex(head) != root_bytes:
        raise CheckpointFormatError("the head line does not match the base64 root hash")
    return Checkpoint(
        name=name,
        count=int(count_line),
        head=head,
        digest=extensions.get("digest", ""),
        created=extensions.get("created", ""),
        first_time=extensions.get("first-time"),
        last_time=extensions.get("last-time"),
    )


def verify_checkpoint(note: bytes, public_key: Ed25519PublicKey) -> Checkpoint:
    """Check the note's signature by this key and return what it commits to.

    Raises CheckpointFormatError for a malformed note and CheckpointSignatureError when
    no signature line is by this key (name and key ID) or when that signature is wrong.
    """
    text, signature_lines = _split_note(note)
    # The signature is checked before what the text says: an altered line is a bad
    # signature (tampering), not a malformed note, whatever it now says.
    malformed: CheckpointFormatError | None = None
    try:
        checkpoint: Checkpoint | None = _parse_text(text)
    except CheckpointFormatError as e:
        checkpoint, malformed = None, e
    for line in signature_lines:
        dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if dash != EM_DASH or not name or not encoded:
            raise CheckpointFormatError(f"not a signature line: {line!r}")
        try:
            keyed = base64.b64decode(encoded, validate=True)
        except binascii.Error as e:
            raise CheckpointFormatError("signature is not base64") from e
        if checkpoint is not None and name != checkpoint.name:
            continue  # another key's signature: ignored, as signed-note requires
        if keyed[:4] != key_id(name, public_key):
            continue
        try:
            public_key.verify(keyed[4:], text.encode("utf-8"))
        except InvalidSignature as e:
            raise CheckpointSignatureError(
                f"the checkpoint signature by {name} does not verify: the checkpoint was"
                " altered or signed by another key"
            ) from e
        if checkpoint is None:
            assert malformed is not None
            raise malformed
        return checkpoint
    if checkpoint is None:
        assert malformed is not None
        raise malformed
    raise CheckpointSignatureError(
        f"the checkpoint carries no signature by this key for {checkpoint.name}",
        "check that the public key belongs to the key that signed it",
    )
