"""checkpoint.py: C2SP signed notes, keys, and checkpoints as anchors of a chain."""

from __future__ import annotations

import base64
import hashlib
import io
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from auditcli.errors import UsageError
from auditcli.integrity import NamedStream, verify_chain
from auditcli.integrity.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    CheckpointSignatureError,
    keygen,
    load_private_key,
    load_public_key,
    sign_checkpoint,
    verify_checkpoint,
)

NAME = "example.com/audit"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Any, Any, bytes]:
    """A key pair written by keygen: (private key, public key, public PEM)."""
    keygen(tmp_path / "key.pem", tmp_path / "key.pub")
    private = load_private_key((tmp_path / "key.pem").read_bytes())
    public_pem = (tmp_path / "key.pub").read_bytes()
    return private, load_public_key(public_pem), public_pem


def _checkpoint(count: int, head: str) -> Checkpoint:
    return Checkpoint(
        name=NAME,
        count=count,
        head=head,
        digest="sha256",
        created="2026-11-27T12:00:00Z",
        first_time="2024-07-30T21:00:00Z",
        last_time="2024-07-30T22:00:00Z",
    )


def test_keygen_writes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    public_pem = keygen(tmp_path / "k.pem", tmp_path / "k.pub")
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert (tmp_path / "k.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    with pytest.raises(UsageError, match="already exists"):
        keygen(tmp_path / "k.pem", tmp_path / "other.pub")


def test_a_checkpoint_is_a_c2sp_signed_note(keys: tuple[Any, Any, bytes]) -> None:
    private, public, _ = keys
    head = "ab" * 32
    note = sign_checkpoint(_checkpoint(42, head), private).decode()
    text, signature_line = note.split("\n\n")
    lines = text.split("\n")
    root = base64.b64encode(bytes.fromhex(head)).decode()
    assert lines[:3] == [f"auditcli-chain/1 {NAME}", "42", root]
    assert f"head {head}" in lines
    assert "created 2026-11-27T12:00:00Z" in lines
    dash, name, encoded = signature_line.rstrip("\n").split(" ")
    assert (dash, name) == ("\u2014", NAME)
    raw_public = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(NAME.encode() + b"\n\x01" + raw_public).digest()[:4]
    signed = base64.b64decode(encoded)
    assert signed[:4] == key_id
    public.verify(signed[4:], (text + "\n").encode())


def test_verify_returns_what_the_checkpoint_commits_to(keys: tuple[Any, Any, bytes]) -> None:
    private, public, _ = keys
    checkpoint = _checkpoint(7, "cd" * 32)
    assert verify_checkpoint(sign_checkpoint(checkpoint, private), public) == checkpoint


def test_an_altered_checkpoint_fails_its_signature(keys: tuple[Any, Any, bytes]) -> None:
    private, public, _ = keys
    note = sign_checkpoint(_checkpoint(7, "cd" * 32), private)
    with pytest.raises(CheckpointSignatureError, match="does not verify"):
        verify_checkpoint(note.replace(b"\n7\n", b"\n9\n"), public)


@pytest.mark.parametrize(
    ("line", "altered"),
    [(b"\nhead " + b"cd" * 32, b"\nhead " + b"ce" * 32), (b"\n7\n", b"\nseven\n")],
)
def test_a_signed_line_altered_to_disagree_is_a_bad_signature_not_a_bad_format(
    keys: tuple[Any, Any, bytes], line: bytes, altered: bytes
) -> None:
    """Tampering, whatever the altered line now says: checked before the text is read."""
    private, public, _ = keys
    note = sign_checkpoint(_checkpoint(7, "cd" * 32), private)
    assert line in note
    with pytest.raises(CheckpointSignatureError, match="does not verify"):
        verify_checkpoint(note.replace(line, altered, 1), public)


def test_another_keys_signature_is_ignored_and_then_refused(
    keys: tuple[Any, Any, bytes], tmp_path: Path
) -> None:
    private, _, _ = keys
    keygen(tmp_path / "other.pem", tmp_path / "other.pub")
    other = load_public_key((tmp_path / "other.pub").read_bytes())
    with pytest.raises(CheckpointSignatureError, match="no signature by this key"):
        verify_checkpoint(sign_checkpoint(_checkpoint(1, "00" * 32), private), other)


@pytest.mark.parametrize(
    "note",
    [
        b"no blank line\n",
        b"auditcli-chain/1 x\n01\nAA==\n\n\xe2\x80\x94 x AAAA\n",
        b"other/1 x\n1\nAA==\n\n\xe2\x80\x94 x AAAA\n",
        b"auditcli-chain/1 x\n1\nAA==\nhead 01\n\n\xe2\x80\x94 x AAAA\n",
    ],
)
def test_malformed_notes_are_refused(keys: tuple[Any, Any, bytes], note: bytes) -> None:
    with pytest.raises(CheckpointFormatError):
        verify_checkpoint(note, keys[1])


@pytest.mark.parametrize("name", ["a b", "a+b", "", "a\x01b", "a\x7fb", "a\udcffb"])
def test_key_names_a_note_cannot_carry_are_refused(keys: tuple[Any, Any, bytes], name: str) -> None:
    """A control character was sealed, then refused by verify; bytes that are not UTF-8
    were an internal error once the sealed output had been written."""
    bad = Checkpoint(name, 1, "00" * 32, "sha256", "2026-01-01T00:00:00Z")
    with pytest.raises(UsageError):
        sign_checkpoint(bad, keys[0])


# --- checkpoints anchoring a chain --------------------------------------------------------


def test_a_checkpoint_anchors_verification(kit: Any, keys: tuple[Any, Any, bytes]) -> None:
    private, _, public_pem = keys
    events = kit.chain(20)
    note = sign_checkpoint(_checkpoint(20, events[-1]["hash"]), private)
    report = kit.verify_lines(kit.lines_of(events), checkpoint=note, checkpoint_key=public_pem)
    assert report.intact
    assert any("checkpoint by example.com/audit" in n for n in report.notes)


def test_an_empty_chain_holds_against_its_own_checkpoint(
    kit: Any, keys: tuple[Any, Any, bytes]
) -> None:
    """Its head is the genesis, which seal writes; the check compared no head at all."""
    private, _, public_pem = keys
    note = sign_checkpoint(_checkpoint(0, "0" * 64), private)
    report = kit.verify_lines([], checkpoint=note, checkpoint_key=public_pem)
    assert report.intact and kit.kinds(report) == []
    assert kit.verify_lines([], expected_head="0" * 64).intact
    assert kit.kinds(kit.verify_lines([], expected_head="a" * 64)) == [("head_mismatch", 1)]


def test_a_last_line_cut_short_is_one_finding_with_a_count_that_it_explains(
    kit: Any, keys: tuple[Any, Any, bytes]
) -> None:
    """The cut line was reported, and the count then reported it again as missing."""
    private, _, public_pem = keys
    events = kit.chain(20)
    data = b"\n".join(kit.lines_of(events))[:-40]  # the file ends inside its last line

    def verified(**anchors: Any) -> list[tuple[str, int]]:
        kinds: list[tuple[str, int]] = kit.kinds(
            verify_chain([NamedStream("log.jsonl", io.BytesIO(data))], **anchors)
        )
        return kinds

    note = sign_checkpoint(_checkpoint(20, events[-1]["hash"]), private)
    assert verified(expected_count=20) == [("truncated", 20)]
    assert verified(checkpoint=note, checkpoint_key=public_pem) == [("truncated", 20)]
    more = verified(expected_count=22)  # two more are missing beyond it
    assert more == [("truncated", 20), ("truncated", 19)]


@pytest.mark.parametrize(
    ("count", "head_index", "kept", "expected"),
    [
        (20, -1, 15, [("truncated", 15)]),
        (20, 10, 20, [("head_mismatch", 20)]),
        (18, -1, 20, [("count_mismatch", 20)]),
    ],
    ids=["truncated", "wrong-head", "wrong-count"],
)
def test_a_checkpoint_catches_truncation_and_a_wrong_head_or_count(
    kit: Any,
    keys: tuple[Any, Any, bytes],
    count: int,
    head_index: int,
    kept: int,
    expected: list[tuple[str, int]],
) -> None:
    private, _, public_pem = keys
    events = kit.chain(20)
    note = sign_checkpoint(_checkpoint(count, events[head_index]["hash"]), private)
    report = kit.verify_lines(
        kit.lines_of(events[:kept]), checkpoint=note, checkpoint_key=public_pem
    )
    assert kit.kinds(report) == expected


def test_a_bad_checkpoint_signature_is_a_finding(kit: Any, keys: tuple[Any, Any, bytes]) -> None:
    private, _, public_pem = keys
    events = kit.chain(20)
    note = sign_checkpoint(_checkpoint(20, events[-1]["hash"]), private)
    forged = note.replace(b"\n20\n", b"\n15\n")
    lines = kit.lines_of(events[:15])
    report = kit.verify_lines(lines, checkpoint=forged, checkpoint_key=public_pem)
    assert kit.kinds(report) == [("bad_signature", 1)]
    assert any("signature is bad" in n for n in report.notes)


def test_a_checkpoint_needs_its_key_and_excludes_other_anchors(kit: Any) -> None:
    lines = kit.lines_of(kit.chain(2))
    with pytest.raises(UsageError):
        kit.verify_lines(lines, checkpoint=b"x")
    with pytest.raises(UsageError):
        kit.verify_lines(lines, checkpoint=b"x", checkpoint_key=b"y", expected_count=2)
