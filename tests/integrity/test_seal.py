"""seal.py: every export shape chains, and the output verifies under an independent verifier."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from auditcli.errors import InputError
from auditcli.integrity import AuditChainRecipe, verify_chain
from auditcli.integrity.seal import seal

EXPORT = [
    {"eventTime": "2024-08-02T08:22:39Z", "eventName": "GetObject", "bytes": 0.0},
    {"eventTime": "2024-08-01T10:00:00Z", "eventName": "Put\u2028Object", "n": 2**60},
    {"eventTime": "2024-08-03T00:00:00Z", "eventName": "😀", "ratio": 1e-6, "k": {"\ufb33": 1}},
]


def independently_verify(kit: Any, data: bytes, key: bytes | None = None) -> list[dict[str, Any]]:
    """A tiny verifier of auditcli-chain/1 built on rfc8785 and hashlib alone."""
    prev, events = "0" * 64, []
    for number, line in enumerate(data.rstrip(b"\n").split(b"\n"), start=1):
        event = json.loads(line)
        stored = event.pop("hash")
        assert event["seq"] == number
        assert event["prev_hash"] == prev
        assert kit.reference_hash(event, key) == stored
        prev = stored
        events.append(event)
    return events


def test_json_lines_are_sealed_into_a_chain_anyone_can_verify(kit: Any, tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(event) + "\n" for event in EXPORT))
    output = tmp_path / "sealed.jsonl"
    result = seal([source], output)
    events = independently_verify(kit, output.read_bytes())
    assert [e["eventName"] for e in events] == [e["eventName"] for e in EXPORT]
    assert result.events == 3
    assert result.head == json.loads(output.read_bytes().splitlines()[-1])["hash"]
    assert (result.first_time, result.last_time) == ("2024-08-01T10:00:00Z", "2024-08-03T00:00:00Z")
    report = verify_chain([output], expected_head=result.head, expected_count=result.events)
    assert report.intact


@pytest.mark.parametrize(
    "document",
    [json.dumps(EXPORT, indent=2), json.dumps({"Records": EXPORT}), json.dumps(EXPORT)],
    ids=["array", "cloudtrail-wrapper", "one-line-array"],
)
def test_arrays_and_records_wrappers_are_sealed(kit: Any, tmp_path: Path, document: str) -> None:
    source = tmp_path / "export.json"
    source.write_text(document)
    output = tmp_path / "sealed.jsonl"
    assert seal([source], output).events == 3
    assert len(independently_verify(kit, output.read_bytes())) == 3


def test_gzip_in_and_out(kit: Any, tmp_path: Path) -> None:
    source = tmp_path / "export.json.gz"
    source.write_bytes(gzip.compress(json.dumps({"Records": EXPORT}).encode()))
    output = tmp_path / "sealed.jsonl.gz"
    result = seal([source], output)
    assert output.read_bytes()[:2] == b"\x1f\x8b"
    independently_verify(kit, gzip.decompress(output.read_bytes()))
    assert verify_chain([output], expected_head=result.head).intact


def test_several_inputs_make_one_chain(kit: Any, tmp_path: Path) -> None:
    paths = []
    for index, event in enumerate(EXPORT):
        path = tmp_path / f"part{index}.jsonl"
        path.write_text(json.dumps(event) + "\n")
        paths.append(path)
    sink = io.BytesIO()
    result = seal(paths, sink)
    assert result.events == 3
    independently_verify(kit, sink.getvalue())


def test_keyed_sealing_uses_hmac(kit: Any, tmp_path: Path) -> None:
    key = b"secret key of 32 bytes or more..."
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(event) + "\n" for event in EXPORT))
    sink = io.BytesIO()
    seal([source], sink, AuditChainRecipe(key=key))
    independently_verify(kit, sink.getvalue(), key=key)
    with pytest.raises(AssertionError):
        independently_verify(kit, sink.getvalue())


def test_a_continuation_starts_from_a_genesis_and_seq(kit: Any, tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(event) + "\n" for event in EXPORT))
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    head = seal([source], first).head
    seal([source], second, AuditChainRecipe(genesis_hash=head), first_seq=4)
    assert verify_chain([first, second], expected_count=6).intact


def test_already_chained_events_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text(json.dumps({"a": 1}) + "\n" + json.dumps({"a": 2, "hash": "x"}) + "\n")
    with pytest.raises(InputError, match="already has a 'hash' member") as caught:
        seal([source], tmp_path / "out.jsonl")
    assert caught.value.line == 2
    assert not (tmp_path / "out.jsonl").exists()


def test_non_objects_and_broken_json_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(InputError, match="not an object"):
        seal([source], io.BytesIO())
    source.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(InputError, match="not JSON"):
        seal([source], io.BytesIO())


def test_the_result_makes_a_checkpoint(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text(json.dumps(EXPORT[0]) + "\n")
    result = seal([source], io.BytesIO())
    checkpoint = result.checkpoint("example.com/audit", created="2026-01-01T00:00:00Z")
    assert (checkpoint.count, checkpoint.head, checkpoint.digest) == (1, result.head, "sha256")


def test_a_cut_gzip_export_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    source = tmp_path / "export.json.gz"
    data = gzip.compress(json.dumps({"Records": EXPORT * 50}).encode())
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated gzip"):
        seal([source], tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == [source]
