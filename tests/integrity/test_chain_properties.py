"""Properties of verification: one edit, one finding of the right kind at the right line."""

from __future__ import annotations

import functools
import random
from typing import Any

import rfc8785
from hypothesis import assume, given, settings
from hypothesis import strategies as st

RESERVED = {"seq", "prev_hash", "hash"}
TEXT = st.text(st.characters(codec="utf-8"), max_size=8)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**66), 2**66),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, -0.0, 1e21, 1e-6, 1.5e16, 0.1]),
    TEXT,
    st.sampled_from(['"quoted"', "back\\slash", "line\nbreak", "\u2028", "\x00\x1f", "😀"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=6,
)
KEYS = st.one_of(TEXT, st.sampled_from(["\ufb33", "\U0001f600", "ts", "id"])).filter(
    lambda key: key not in RESERVED
)
PAYLOADS = st.lists(st.dictionaries(KEYS, VALUES, min_size=1, max_size=4), min_size=1, max_size=18)
PROPERTY = settings(max_examples=60, deadline=None)


def _lines(kit: Any, events: list[dict[str, Any]], seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [kit.dump_line(event, rng=rng) for event in events]


@PROPERTY
@given(payloads=PAYLOADS, seq=st.booleans(), seed=st.integers(0, 2**16))
def test_no_intact_chain_is_ever_flagged(
    kit: Any, payloads: list[dict[str, Any]], seq: bool, seed: int
) -> None:
    events = kit.build_chain(payloads, seq=seq)
    report = kit.verify_lines(_lines(kit, events, seed))
    assert report.findings == ()
    assert report.events == len(events)
    assert report.head == events[-1]["hash"]


@PROPERTY
@given(
    payloads=PAYLOADS.filter(lambda p: len(p) >= 2),
    seq=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_any_single_field_change_is_one_modified_finding(
    kit: Any, payloads: list[dict[str, Any]], seq: bool, seed: int, data: st.DataObject
) -> None:
    events = kit.build_chain(payloads, seq=seq)
    index = data.draw(st.integers(0, len(events) - 1))
    field = data.draw(st.sampled_from(sorted(events[index])))
    new = data.draw(TEXT if field in ("hash", "prev_hash") else VALUES)
    changed = {**events[index], field: new}
    old_bytes = rfc8785.dumps(kit.as_reference(events[index]))
    assume(rfc8785.dumps(kit.as_reference(changed)) != old_bytes)
    events[index] = changed
    report = kit.verify_lines(_lines(kit, events, seed))
    assert kit.kinds(report) == [("modified", index + 1)]


@PROPERTY
@given(payloads=PAYLOADS.filter(lambda p: len(p) >= 3), seq=st.booleans(), data=st.data())
def test_any_deletion_is_one_deleted_finding(
    kit: Any, payloads: list[dict[str, Any]], seq: bool, data: st.DataObject
) -> None:
    events = kit.build_chain(payloads, seq=seq)
    start = data.draw(st.integers(0, len(events) - 2))
    stop = data.draw(st.integers(start + 1, min(start + 3, len(events) - 1)))
    remaining = events[:start] + events[stop:]
    report = kit.verify_lines(kit.lines_of(remaining))
    assert kit.kinds(report) == [("deleted", start + 1)]
    assert report.findings[0].count == (stop - start if seq and start > 0 else None)


@PROPERTY
@given(payloads=PAYLOADS.filter(lambda p: len(p) >= 2), seq=st.booleans(), data=st.data())
def test_any_adjacent_swap_is_one_reordered_finding(
    kit: Any, payloads: list[dict[str, Any]], seq: bool, data: st.DataObject
) -> None:
    events = kit.build_chain(payloads, seq=seq)
    index = data.draw(st.integers(0, len(events) - 2))
    events[index], events[index + 1] = events[index + 1], events[index]
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("reordered", index + 1)]


@PROPERTY
@given(payloads=PAYLOADS.filter(lambda p: len(p) >= 2), seq=st.booleans(), data=st.data())
def test_any_truncation_against_an_anchor_is_truncated(
    kit: Any, payloads: list[dict[str, Any]], seq: bool, data: st.DataObject
) -> None:
    events = kit.build_chain(payloads, seq=seq)
    keep = data.draw(st.integers(1, len(events) - 1))
    anchors = data.draw(
        st.sampled_from(
            [
                {"expected_count": len(events)},
                {"expected_count": len(events), "expected_head": events[-1]["hash"]},
            ]
        )
    )
    report = kit.verify_lines(kit.lines_of(events[:keep]), **anchors)
    assert kit.kinds(report) == [("truncated", keep)]


@PROPERTY
@given(payloads=PAYLOADS, seq=st.booleans(), data=st.data())
def test_any_duplicated_line_is_one_duplicate_finding(
    kit: Any, payloads: list[dict[str, Any]], seq: bool, data: st.DataObject
) -> None:
    events = kit.build_chain(payloads, seq=seq)
    source = data.draw(st.integers(0, len(events) - 1))
    target = data.draw(st.integers(source + 1, len(events)))
    events.insert(target, events[source])
    report = kit.verify_lines(kit.lines_of(events))
    assert kit.kinds(report) == [("duplicate", target + 1)]


#: Long enough that moves and copies reach past the walk's look-ahead (24 records)
#: and the records kept around each break (32 lines).
FAR = 240


@PROPERTY
@given(data=st.data())
def test_any_block_moved_anywhere_is_one_reordered_finding(kit: Any, data: st.DataObject) -> None:
    """Reported where the moved block now is, or as the stretch it jumped over; the
    chain is whole, so the anchors hold."""
    events = kit.chain(FAR)
    length = data.draw(st.integers(1, 70))
    start = data.draw(st.integers(0, FAR - length))
    rest = events[:start] + events[start + length :]
    to = data.draw(st.integers(0, len(rest)).filter(lambda to: to != start))
    moved = rest[:to] + events[start : start + length] + rest[to:]
    report = kit.verify_lines(
        kit.lines_of(moved), expected_count=FAR, expected_head=events[-1]["hash"]
    )
    [finding] = report.findings
    assert finding.kind.value == "reordered"
    block = range(to + 1, to + length + 1)
    jumped = range(start + 1, to + 1) if to > start else range(to + length + 1, start + length + 1)
    assert finding.lines in (block, jumped)
    assert report.events == FAR


@PROPERTY
@given(data=st.data())
def test_any_swap_is_reordered_at_the_two_lines(kit: Any, data: st.DataObject) -> None:
    """One finding for neighbours. Two apart (c b a), moving a and b reads the same
    as swapping a and c: either pair of lines is right."""
    events = kit.chain(FAR)
    first = data.draw(st.integers(0, FAR - 2))
    second = data.draw(st.integers(first + 1, FAR - 1))
    events[first], events[second] = events[second], events[first]
    report = kit.verify_lines(
        kit.lines_of(events), expected_count=FAR, expected_head=kit.chain(FAR)[-1]["hash"]
    )
    lines = {line for _, line in kit.kinds(report)}
    assert {kind for kind, _ in kit.kinds(report)} == {"reordered"}
    if second - first == 2:
        assert len(report.findings) == 2 and lines <= {first + 1, first + 2, second + 1}
    else:
        assert lines == ({first + 1} if second == first + 1 else {first + 1, second + 1})


@PROPERTY
@given(data=st.data())
def test_any_block_copied_anywhere_later_is_one_duplicate_finding(
    kit: Any, data: st.DataObject
) -> None:
    events = kit.chain(FAR)
    length = data.draw(st.integers(1, 70))
    start = data.draw(st.integers(0, FAR - length))
    at = data.draw(st.integers(start + length, FAR))
    copied = events[:at] + events[start : start + length] + events[at:]
    report = kit.verify_lines(kit.lines_of(copied))
    [finding] = report.findings
    assert (finding.kind.value, finding.line, finding.span) == ("duplicate", at + 1, length)
    assert finding.other_line == start + 1


#: Longer than a run keeps hashes for (LOOKBACK), with room on either side.
LONG = 4096 + 1400


@functools.cache
def _long_lines(kit: Any) -> tuple[bytes, ...]:
    return tuple(kit.lines_of(kit.chain(LONG)))


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_a_block_copied_in_a_long_chain_is_one_duplicate_finding(
    kit: Any, data: st.DataObject
) -> None:
    """A copy right after its original starts a run that goes on past it, which kept
    only its last LOOKBACK hashes: the copy was cut short into a link_broken finding
    (or read as one), and a run longer than the window was forgotten whole, so a copy
    of the events just behind read as link_broken alone. (A copy from further back than
    the window reads as inserted: the documented limit.)"""
    lines = list(_long_lines(kit))
    length = data.draw(st.integers(1, 300))
    start = data.draw(st.integers(0, LONG - length))
    # within the window of events the walk remembers (LOOKBACK behind the tip)
    later = st.integers(start + length, min(LONG, start + 4000))
    at = data.draw(st.one_of(st.just(start + length), later))
    copied = lines[:at] + lines[start : start + length] + lines[at:]
    report = kit.verify_lines(copied)
    [finding] = report.findings
    assert (finding.kind.value, finding.line, finding.span) == ("duplicate", at + 1, length)
    assert finding.other_line == start + 1
