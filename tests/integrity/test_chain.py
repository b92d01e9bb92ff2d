"""chain.py and walk.py: every kind of tampering is found once, at its line; intact is quiet."""

from __future__ import annotations

import gzip
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import auditcli.integrity.chain as chain_module
import auditcli.integrity.sources as sources_module
from auditcli.errors import ChainUnverifiableError, InputError, UsageError
from auditcli.integrity import (
    AuditChainRecipe,
    DigestAlgorithm,
    FindingKind,
    NamedStream,
    verify_chain,
    verify_texts,
)
from auditcli.integrity.chain import UNANCHORED_NOTE


def _edited(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**event, **changes}


def test_an_intact_chain_yields_no_finding(kit: Any) -> None:
    events = kit.chain(50)
    report = kit.verify_lines(kit.lines_of(events))
    assert report.intact
    assert report.findings == ()
    assert report.events == 50
    assert report.first_hash == events[0]["hash"]
    assert report.head == events[-1]["hash"]
    assert (report.first_time, report.last_time) == (events[0]["ts"], events[-1]["ts"])
    assert report.notes == (UNANCHORED_NOTE,)


def test_a_modified_event_is_reported_with_expected_and_computed(kit: Any) -> None:
    events = kit.chain(30)
    events[11] = _edited(events[11], action="iam:DeleteUser")
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("modified", 12)]
    finding = report.findings[0]
    assert finding.expected == events[11]["hash"]
    content = {k: v for k, v in events[11].items() if k != "hash"}
    assert finding.computed == kit.reference_hash(content)
    assert f"expected {finding.expected}, computed {finding.computed}" in finding.message
    assert (finding.seq, finding.event_id, finding.file) == (12, "evt-11", "log.jsonl")


def test_a_deleted_run_is_one_finding_with_its_count(kit: Any) -> None:
    events = kit.chain(30)
    del events[10:14]
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("deleted", 11)]
    assert report.findings[0].count == 4
    assert "seq jumps from 10 to 15: 4 events missing" in report.findings[0].message


def test_without_seq_a_deletion_is_reported_without_a_count(kit: Any) -> None:
    events = kit.chain(30, seq=False)
    del events[10:14]
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("deleted", 11)]
    assert report.findings[0].count is None
    assert any("sequence number" in note for note in report.notes)


def test_an_adjacent_swap_is_one_reordered_finding(kit: Any) -> None:
    events = kit.chain(30)
    events[7], events[8] = events[8], events[7]
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("reordered", 8)]
    assert report.findings[0].other_line == 9


@pytest.mark.parametrize("distance", [2, 20])
def test_an_event_moved_a_little_later_is_the_one_reported(kit: Any, distance: int) -> None:
    events = kit.chain(60)
    moved = events.pop(10)
    events.insert(10 + distance, moved)
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("reordered", 11 + distance)]
    assert (report.findings[0].seq, report.findings[0].other_line) == (11, 11)


def test_an_event_moved_far_is_one_reordered_finding(kit: Any) -> None:
    events = kit.chain(120)
    moved = events.pop(10)
    events.insert(90, moved)
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("reordered", 91)]  # the moved event, not its successor
    assert (report.findings[0].other_line, report.findings[0].seq) == (11, 11)
    assert report.findings[0].message == "out of order: belongs before log.jsonl:11"


def test_a_far_swap_is_two_reordered_findings(kit: Any) -> None:
    events = kit.chain(200)
    events[9], events[149] = events[149], events[9]
    report = kit.verify_lines(kit.lines_of(events), expected_count=200)
    assert kit.kinds(report) == [("reordered", 10), ("reordered", 150)]
    assert report.findings[0].message == "event belongs after log.jsonl:149, before log.jsonl:151"


@pytest.mark.parametrize(("start", "to"), [(20, 150), (150, 20), (150, 190), (0, 100), (100, 0)])
def test_a_block_moved_far_is_one_reordered_finding_and_the_chain_is_whole(
    kit: Any, start: int, to: int
) -> None:
    """Also to the very start or the very end: the anchors still hold."""
    events = kit.chain(240)
    block, rest = events[start : start + 50], events[:start] + events[start + 50 :]
    moved = rest[:to] + block + rest[to:]
    report = kit.verify_lines(
        kit.lines_of(moved), expected_count=240, expected_head=events[-1]["hash"]
    )
    [finding] = report.findings
    assert finding.kind.value == "reordered" and finding.count == finding.span
    assert "events) belong after " in finding.message


def test_a_moved_stretch_that_crosses_into_the_next_file_names_both_ends(kit: Any) -> None:
    """It read "lines 51-51 (40 events)": the stretch runs from a.jsonl:51 to b.jsonl:20."""
    events = kit.chain(200)
    block, rest = events[50:150], events[:50] + events[150:]
    lines = kit.lines_of(rest[:90] + block + rest[90:])
    streams = [
        NamedStream(name, io.BytesIO(b"".join(line + b"\n" for line in part)))
        for name, part in (("a.jsonl", lines[:70]), ("b.jsonl", lines[70:]))
    ]
    [finding] = verify_chain(streams, expected_count=200, expected_head=events[-1]["hash"]).findings
    assert (finding.kind.value, finding.file, finding.line, finding.count) == (
        "reordered",
        "a.jsonl",
        51,
        40,
    )
    assert finding.message.startswith("lines 51 to b.jsonl:20 (40 events) belong after b.jsonl:120")


def test_a_duplicated_line_is_a_duplicate(kit: Any) -> None:
    events = kit.chain(30)
    events.insert(6, events[5])
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("duplicate", 7)]
    assert report.findings[0].other_line == 6


@pytest.mark.parametrize(
    ("start", "length", "later"), [(40, 60, 0), (10, 90, 0), (0, 120, 0), (10, 100, 300)]
)
def test_a_block_copied_again_is_one_duplicate_finding(
    kit: Any, start: int, length: int, later: int
) -> None:
    """Records around the breaks and the run between them: one finding, however far
    from its original the copy lies."""
    lines = kit.lines_of(kit.chain(500))
    at = start + length + later
    copied = lines[:at] + lines[start : start + length] + lines[at:]
    report = kit.verify_lines(copied)
    [finding] = report.findings
    assert (finding.kind.value, finding.line, finding.span) == ("duplicate", at + 1, length)
    assert (finding.count, finding.other_line) == (length, start + 1)
    assert f"({length} events) already appeared, from " in finding.message
    assert report.events == 500 + length


def test_a_copy_placed_before_its_original_is_the_duplicate(kit: Any) -> None:
    events = kit.chain(60)
    events.insert(5, events[40])
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("duplicate", 6)]
    assert report.findings[0].other_line == 42


@pytest.mark.parametrize("linked", [False, True])
def test_a_foreign_event_is_inserted(kit: Any, linked: bool) -> None:
    events = kit.chain(30)
    prev = events[9]["hash"] if linked else "ab" * 32
    foreign = {"id": "evil", "seq": 11, "prev_hash": prev, "action": "noop"}
    foreign["hash"] = kit.reference_hash(foreign)
    events.insert(10, foreign)
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("inserted", 11)]
    assert report.findings[0].event_id == "evil"


def test_a_rehashed_event_breaks_the_next_link(kit: Any) -> None:
    events = kit.chain(30)
    forged = {k: v for k, v in _edited(events[11], action="x").items() if k != "hash"}
    events[11] = {**forged, "hash": kit.reference_hash(forged)}
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("link_broken", 13)]
    assert "altered and re-hashed" in report.findings[0].message


@pytest.mark.parametrize("where", ["top", "nested"])
def test_a_member_written_twice_is_malformed_though_the_hash_matches(kit: Any, where: str) -> None:
    """A parser keeps one value of a repeated name: the line would hash as the real
    event while a database shows the forged one."""
    lines = kit.lines_of(kit.chain(10))
    real, forged = b'"actor":{', b'"actor":{"name":"mallory"},'
    if where == "nested":
        real, forged = b'"name":', b'"name":"mallory",'
    assert real in lines[6]
    lines[6] = lines[6].replace(real, forged + real, 1)
    report = kit.verify_lines(lines)
    assert kit.kinds(report) == [("malformed", 7)]
    assert "appears twice" in report.findings[0].message
    # the same as the file's last line, without its newline: complete, not cut short
    data = b"\n".join(lines[:7])
    last = verify_chain([NamedStream("log.jsonl", io.BytesIO(data))])
    assert kit.kinds(last) == [("malformed", 7)]


def test_files_given_out_of_order_are_named_in_the_order_that_links(kit: Any) -> None:
    """Rotated logs read by name (audit.log.10 before audit.log.2)."""
    lines = kit.lines_of(kit.chain(90))
    parts = {name: lines[i * 30 : i * 30 + 30] for i, name in enumerate(["a", "b", "c"])}

    def verified(order: str) -> Any:
        streams = [
            NamedStream(name, io.BytesIO(b"".join(line + b"\n" for line in parts[name])))
            for name in order
        ]
        return verify_chain(streams)

    assert verified("abc").intact
    shuffled = verified("acb")
    assert not shuffled.intact
    assert any("link into one chain in another order: a, b, c" in n for n in shuffled.notes)
    assert not any("another order" in n for n in verified("abc").notes)


def test_garbage_lines_are_malformed_and_the_walk_goes_on(kit: Any) -> None:
    events = kit.chain(30)
    lines = kit.lines_of(events)
    lines[4] = b"this is not json"
    lines[9] = b"[1, 2, 3]"
    lines[14] = json.dumps({"id": "x", "no": "hash"}).encode()
    report = kit.verify_lines(lines)
    assert kit.kinds(report) == [("malformed", 5), ("malformed", 10), ("malformed", 15)]
    assert "not an object" in report.findings[1].message
    assert "'hash'" in report.findings[2].message


def test_consecutive_malformed_lines_make_one_finding(kit: Any) -> None:
    lines = kit.lines_of(kit.chain(20))
    lines[3:6] = [b"x", b"y", b"z"]
    report = kit.verify_lines(lines)
    assert kit.kinds(report) == [("malformed", 4)]
    assert (report.findings[0].count, report.findings[0].span) == (3, 3)


def test_a_cut_last_line_is_truncated(kit: Any) -> None:
    data = b"".join(line + b"\n" for line in kit.lines_of(kit.chain(10)))
    report = verify_chain([NamedStream("cut.jsonl", io.BytesIO(data[:-40]))])
    assert kit.kinds(report) == [("truncated", 10)]


def test_blank_lines_crlf_and_a_bom_are_tolerated(kit: Any) -> None:
    lines = kit.lines_of(kit.chain(10))
    data = b"\xef\xbb\xbf" + b"\r\n".join(lines[:5]) + b"\r\n\r\n" + b"\n".join(lines[5:]) + b"\n"
    report = verify_chain([NamedStream("crlf.jsonl", io.BytesIO(data))])
    assert report.intact
    assert report.events == 10


def test_every_defect_is_reported_not_just_the_first(kit: Any) -> None:
    events = kit.chain(80)
    events[5] = _edited(events[5], ok="tampered")
    events[20], events[21] = events[21], events[20]
    del events[40:43]
    events.insert(60, events[59])
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [
        ("modified", 6),
        ("reordered", 21),
        ("deleted", 41),
        ("duplicate", 61),
    ]


# --- anchors -----------------------------------------------------------------------------


def test_truncation_against_a_count_is_truncated(kit: Any) -> None:
    events = kit.chain(30)
    report = kit.verify_lines(kit.lines_of(events[:25]), expected_count=30)
    assert kit.kinds(report) == [("truncated", 25)]
    assert "5 events missing at the end" in report.findings[0].message
    assert UNANCHORED_NOTE not in report.notes


def test_truncation_against_head_and_count_is_truncated(kit: Any) -> None:
    events = kit.chain(30)
    report = kit.verify_lines(
        kit.lines_of(events[:25]), expected_count=30, expected_head=events[-1]["hash"]
    )
    assert kit.kinds(report) == [("truncated", 25)]


def test_a_wrong_head_is_head_mismatch(kit: Any) -> None:
    events = kit.chain(30)
    report = kit.verify_lines(kit.lines_of(events), expected_head="cd" * 32)
    assert kit.kinds(report) == [("head_mismatch", 30)]
    assert report.findings[0].expected == "cd" * 32
    assert report.findings[0].computed == events[-1]["hash"]


def test_events_after_the_anchored_head_are_a_head_mismatch(kit: Any) -> None:
    events = kit.chain(30)
    report = kit.verify_lines(kit.lines_of(events), expected_head=events[24]["hash"])
    assert kit.kinds(report) == [("head_mismatch", 30)]
    assert "is the hash of log.jsonl:25; 5 events follow it" in report.findings[0].message


def test_a_higher_count_than_anchored_is_count_mismatch(kit: Any) -> None:
    report = kit.verify_lines(kit.lines_of(kit.chain(30)), expected_count=28)
    assert kit.kinds(report) == [("count_mismatch", 30)]


def test_a_deletion_the_head_explains_is_one_finding(kit: Any) -> None:
    events = kit.chain(30, seq=False)
    head = events[-1]["hash"]
    del events[10:13]
    report = kit.verify_lines(kit.lines_of(events), expected_head=head, expected_count=30)
    assert kit.kinds(report) == [("deleted", 11)]
    assert report.findings[0].count == 3


def test_anchors_hold_for_an_intact_chain(kit: Any) -> None:
    events = kit.chain(30)
    report = kit.verify_lines(
        kit.lines_of(events), expected_head=events[-1]["hash"].upper(), expected_count=30
    )
    assert report.intact
    assert report.notes == ()


def test_a_negative_expected_count_is_a_usage_error(kit: Any) -> None:
    with pytest.raises(UsageError):
        kit.verify_lines(kit.lines_of(kit.chain(3)), expected_count=-1)


# --- sources -----------------------------------------------------------------------------


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def test_several_files_are_one_chain_and_a_missing_middle_file_is_deleted(
    kit: Any, tmp_path: Path
) -> None:
    lines = kit.lines_of(kit.chain(90))
    first = _write(tmp_path / "a.jsonl", lines[:30])
    middle = _write(tmp_path / "b.jsonl", lines[30:60])
    last = _write(tmp_path / "c.jsonl", lines[60:])
    assert verify_chain([first, middle, last]).intact
    report = verify_chain([first, last])
    assert kit.kinds(report) == [("deleted", 1)]
    assert (report.findings[0].file, report.findings[0].count) == (str(last), 30)


def test_gzip_is_read_by_its_magic_bytes_not_its_name(kit: Any, tmp_path: Path) -> None:
    lines = kit.lines_of(kit.chain(40))
    path = tmp_path / "chain.log"
    path.write_bytes(gzip.compress(b"".join(line + b"\n" for line in lines)))
    assert verify_chain([path]).intact


def test_a_cut_gzip_stream_is_truncated(kit: Any, tmp_path: Path) -> None:
    lines = kit.lines_of(kit.chain(400))
    data = gzip.compress(b"".join(line + b"\n" for line in lines))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    report = verify_chain([path])
    assert report.findings[-1].kind is FindingKind.TRUNCATED
    assert "cut short" in report.findings[-1].message
    assert all(f.kind is FindingKind.TRUNCATED for f in report.findings)


def test_bytes_after_the_end_of_the_gzip_stream_are_malformed(kit: Any, tmp_path: Path) -> None:
    lines = kit.lines_of(kit.chain(20))
    path = tmp_path / "appended.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(line + b"\n" for line in lines)) + b"garbage")
    report = verify_chain([path])
    assert kit.kinds(report) == [("malformed", 21)]
    assert "unexpected data after the end of the gzip stream" in report.findings[0].message
    members = gzip.compress(b"".join(line + b"\n" for line in lines[:9]))
    members += gzip.compress(b"".join(line + b"\n" for line in lines[9:]))
    path.write_bytes(members)
    assert verify_chain([path]).intact


def test_an_unreadable_source_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        verify_chain([tmp_path / "absent.jsonl"])


def test_a_file_of_unchained_events_cannot_be_verified(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n')
    with pytest.raises(ChainUnverifiableError, match="no line holds a chained event"):
        verify_chain([path])


def test_an_empty_file_is_zero_events(kit: Any, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    report = verify_chain([path])
    assert (report.intact, report.events, report.head) == (True, 0, None)
    assert kit.kinds(verify_chain([path], expected_count=2)) == [("truncated", 1)]


def test_blocks_and_worker_processes_give_the_same_findings(
    kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = kit.chain(600)
    events[100] = _edited(events[100], ok="x")
    events[250], events[251] = events[251], events[250]
    del events[400:402]
    path = _write(tmp_path / "big.jsonl", kit.lines_of(events))
    expected = [("modified", 101), ("reordered", 251), ("deleted", 401)]
    assert kit.kinds(verify_chain([path], jobs=1)) == expected
    monkeypatch.setattr(sources_module, "BLOCK_BYTES", 9000)
    monkeypatch.setattr(chain_module, "PARALLEL_MIN_BYTES", 0)
    assert kit.kinds(verify_chain([path], jobs=1)) == expected
    assert kit.kinds(verify_chain([path], jobs=2)) == expected
    with path.open("rb") as stream:
        assert kit.kinds(verify_chain([NamedStream("s", stream)], jobs=2)) == expected
    # from a helper thread, as load checks chains: workers are not forked beside it
    found: list[Any] = []
    helper = threading.Thread(target=lambda: found.append(verify_chain([path], jobs=2)))
    helper.start()
    helper.join()
    assert [kit.kinds(report) for report in found] == [expected]


# --- recipes -----------------------------------------------------------------------------


def test_keyed_chains_verify_only_with_the_key(kit: Any) -> None:
    key = b"k" * 32
    events = kit.chain(20, key=key)
    lines = kit.lines_of(events)
    assert kit.verify_lines(lines, recipe=AuditChainRecipe(key=key)).intact
    report = kit.verify_lines(lines, recipe=AuditChainRecipe(key=b"wrong" * 8))
    assert kit.kinds(report) == [("modified", 1)]
    assert report.findings[0].count == 20


def test_an_attacker_resealing_without_the_key_is_caught(kit: Any) -> None:
    key = b"k" * 32
    events = kit.chain(20, key=key)
    payloads = [
        {k: v for k, v in event.items() if k not in ("seq", "prev_hash", "hash")}
        for event in events[10:]
    ]
    payloads[0]["action"] = "covered-up"
    resealed = kit.build_chain(payloads, genesis=events[9]["hash"], first_seq=11)
    lines = kit.lines_of(events[:10] + resealed)
    report = kit.verify_lines(lines, recipe=AuditChainRecipe(key=key))
    assert kit.kinds(report) == [("modified", 11)]
    assert report.findings[0].count == 10
    assert kit.verify_lines(lines).findings[0].kind is FindingKind.MODIFIED  # keyless: 1-10


@pytest.mark.parametrize("algorithm", list(DigestAlgorithm))
def test_other_digests_and_a_slice_genesis(kit: Any, algorithm: DigestAlgorithm) -> None:
    recipe = AuditChainRecipe(algorithm=algorithm)
    prev, lines = recipe.genesis, []
    for payload in kit.simple_payloads(12):
        event = {**payload, "prev_hash": prev}
        event["hash"] = prev = recipe.hash_event(dict(event))
        lines.append(kit.dump_line(event))
    assert len(prev) == algorithm.hex_length
    assert kit.verify_lines(lines, recipe=recipe).intact
    slice_recipe = AuditChainRecipe(algorithm=algorithm, genesis_hash=json.loads(lines[3])["hash"])
    assert kit.verify_lines(lines[4:], recipe=slice_recipe).intact
    assert kit.kinds(kit.verify_lines(lines[4:], recipe=recipe)) == [("deleted", 1)]


def test_member_names_are_configurable(kit: Any) -> None:
    recipe = AuditChainRecipe(hash_field="h", prev_field="p", seq_field="n")
    prev, lines = recipe.genesis, []
    for index, payload in enumerate(kit.simple_payloads(8)):
        event = {**payload, "n": index, "p": prev}
        event["h"] = prev = kit.reference_hash(event)
        lines.append(kit.dump_line(event))
    assert kit.verify_lines(lines, recipe=recipe).intact


def test_bad_recipe_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        AuditChainRecipe(genesis_hash="xyz")
    with pytest.raises(UsageError):
        AuditChainRecipe(key=b"")
    with pytest.raises(UsageError):
        AuditChainRecipe(hash_field="x", prev_field="x")


# --- the database helper and the report --------------------------------------------------


def test_verify_texts_reports_broken_stretches(kit: Any) -> None:
    events = kit.chain(40)
    events[5] = _edited(events[5], ok="x")
    events[20], events[21] = events[21], events[20]
    texts = [json.dumps(event) for event in events]
    report, broken = verify_texts(texts, name="db")
    assert kit.kinds(report) == [("modified", 6), ("reordered", 21)]
    assert broken == {6, 21, 22}
    assert verify_texts([json.dumps(e) for e in kit.chain(5)])[1] == set()


def test_the_report_serialises_to_the_agreed_shape(kit: Any) -> None:
    events = kit.chain(10)
    del events[4]
    data = kit.verify_lines(kit.lines_of(events)).to_dict()
    assert set(data) >= {"intact", "events", "head", "findings", "notes"}
    assert data["intact"] is False
    assert data["events"] == 9
    assert data["head"] == events[-1]["hash"]
    assert data["findings"][0]["kind"] == "deleted"
    assert data["findings"][0]["file"] == "log.jsonl"
    assert data["findings"][0]["line"] == 5
    assert data["findings"][0]["count"] == 1
    assert json.loads(json.dumps(data)) == data


@pytest.mark.parametrize("where", [38, 39, 40, 41, 42, 79, 80])
@pytest.mark.parametrize("tamper", ["edit", "swap", "delete", "duplicate"])
def test_defects_at_block_edges_read_as_in_one_block(
    kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: int, tamper: str
) -> None:
    events = kit.chain(120)
    if tamper == "edit":
        events[where] = _edited(events[where], ok="x")
    elif tamper == "swap":
        events[where], events[where + 1] = events[where + 1], events[where]
    elif tamper == "delete":
        del events[where]
    else:
        events.insert(where, events[where])
    lines = kit.lines_of(events)
    path = _write(tmp_path / "edges.jsonl", lines)
    whole = kit.kinds(verify_chain([path], jobs=1))
    assert whole
    block = len(b"".join(lines[:40])) + 1  # blocks end near line 40, 80, ...
    monkeypatch.setattr(sources_module, "BLOCK_BYTES", block)
    monkeypatch.setattr(chain_module, "PARALLEL_MIN_BYTES", 0)
    assert kit.kinds(verify_chain([path], jobs=1)) == whole
