"""The C fast path of verification (_jcsline.c): whatever it accepts, the exact path agrees.

Its claim is narrow: when ``examine`` returns a result, the line minus its top-level
hash member is byte for byte the RFC 8785 form of the parsed event, and the hash, link
and time it read are the parsed ones. The reference here is the rfc8785 package. It
may refuse anything; it must accept the common canonical lines, or it would not help.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditcli.integrity import AuditChainRecipe, recipe
from auditcli.integrity.scan import TIME_FIELDS, scan_block, scan_lines
from auditcli.integrity.sources import split_block
from tests.integrity.conftest import reference_bytes

if os.environ.get("AUDITCLI_REQUIRE_NATIVE"):  # CI builds it: its absence is a failure
    from auditcli.integrity import _jcsline as native
else:
    native = pytest.importorskip("auditcli.integrity._jcsline", reason="built without C")

TIME_KEYS = tuple(name.encode() for name in TIME_FIELDS)
HASH = "ab" * 32
PREV = "cd" * 32


def examine(line: bytes) -> tuple[bytes, str, str, Any] | None:
    result: tuple[bytes, str, str, Any] | None = native.examine(
        line, b"hash", b"prev_hash", TIME_KEYS
    )
    return result


def expected_time(event: dict[str, Any]) -> Any:
    for name in TIME_FIELDS:
        value = event.get(name)
        if value is not None:
            if isinstance(value, str) or (type(value) in (int, float)):
                return value
            return False
    return None


def assert_sound(line: bytes) -> None:
    """If the fast path accepts the line, it agrees with parsing and the reference."""
    result = examine(line)
    if result is None:
        return
    event = json.loads(line)  # the fast path never accepts what is not JSON
    assert isinstance(event, dict)
    stored = event.pop("hash")
    assert result[0] == reference_bytes(event)
    assert result[1] == stored
    assert result[2] == event["prev_hash"]
    assert result[3] == expected_time(event)


def canonical_line(event: dict[str, Any], at: int) -> bytes:
    """The event's canonical form with a hash member put at top-level position ``at``."""
    members = list(json.loads(reference_bytes(event)).items())  # in canonical order
    parts = [reference_bytes(name) + b":" + reference_bytes(value) for name, value in members]
    parts.insert(min(at, len(parts)), b'"hash":"' + HASH.encode() + b'"')
    return b"{" + b",".join(parts) + b"}"


# --- strategies -------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=10)
KEYS = st.one_of(
    TEXT, st.sampled_from(["\ufb33", "\U0001f600", "\ue000", "a", "\r", "", "hash", "ts"])
)
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, -0.0, 0.5, 1e16, 1e21, 1e-6, 1e-7, 0.000001, 123.456, 2.0**53]),
    st.decimals(places=4, allow_nan=False, allow_infinity=False).map(float),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.sampled_from([2**53, -(2**53), 2**53 + 1, 0, -1]),
    FLOATS,
    TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
EVENTS = st.dictionaries(KEYS, VALUES, max_size=6).map(
    lambda d: {k: v for k, v in d.items() if k != "hash"} | {"prev_hash": PREV}
)


@settings(max_examples=400, deadline=None)
@given(EVENTS, st.integers(0, 8))
def test_canonical_lines_are_read_exactly(event: dict[str, Any], at: int) -> None:
    assert_sound(canonical_line(event, at))


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.integers(0, 8), st.randoms(use_true_random=False))
def test_any_other_spelling_is_refused_or_read_exactly(
    event: dict[str, Any], at: int, rng: random.Random
) -> None:
    event = dict(event) | {"hash": HASH}
    items = list(event.items())
    rng.shuffle(items)
    shuffled = dict(items)
    for text in (
        json.dumps(shuffled, separators=(",", ":")),
        json.dumps(shuffled, separators=(",", ":"), ensure_ascii=False),
        json.dumps(shuffled, ensure_ascii=False),
    ):
        assert_sound(text.encode("utf-8", "surrogatepass"))
    assert_sound(orjson.dumps(shuffled, option=orjson.OPT_SORT_KEYS))


@settings(max_examples=500, deadline=None)
@given(EVENTS, st.integers(0, 8), st.data())
def test_a_damaged_line_is_refused_or_read_exactly(
    event: dict[str, Any], at: int, data: st.DataObject
) -> None:
    line = bytearray(canonical_line(event, at))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.integers(0, len(line)))
        byte = data.draw(st.sampled_from(b'{}[]",:\\ -.0123456789eEnu\x00\x1f\x7f\xc3\xa9\xed\xf0'))
        action = data.draw(st.sampled_from(["insert", "replace", "delete"]))
        if action == "insert":
            line.insert(where, byte)
        elif where < len(line):
            if action == "replace":
                line[where] = byte
            else:
                del line[where]
    try:
        json.loads(bytes(line))
    except ValueError:
        assert examine(bytes(line)) is None
        return
    assert_sound(bytes(line))


PLAIN_NAMES = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'), max_size=8
)
SIMPLE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0xD7FF), max_size=10),
        st.decimals("-1000", "1000", places=4, allow_nan=False).map(float),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(PLAIN_NAMES, inner, max_size=3),
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(PLAIN_NAMES, SIMPLE, max_size=6))
def test_common_canonical_lines_are_accepted(payload: dict[str, Any]) -> None:
    event = {k: v for k, v in payload.items() if k not in ("hash", "prev_hash")}
    event["prev_hash"] = PREV
    line = canonical_line(event, len(event) // 2)
    assert examine(line) is not None, line
    assert_sound(line)


@pytest.mark.parametrize(
    "line",
    [
        b'{"a":1.0,"hash":"h","prev_hash":"p"}',  # ECMAScript prints 1
        b'{"a":-0,"hash":"h","prev_hash":"p"}',
        b'{"a":1E5,"hash":"h","prev_hash":"p"}',
        b'{"a":1e5,"hash":"h","prev_hash":"p"}',
        b'{"a":9007199254740993,"hash":"h","prev_hash":"p"}',
        b'{"a":"\\u001F","hash":"h","prev_hash":"p"}',  # upper-case hex
        b'{"a":"\\u0041","hash":"h","prev_hash":"p"}',
        b'{"a":"\\u0009","hash":"h","prev_hash":"p"}',  # \\t has a short form
        b'{"a":"\\/","hash":"h","prev_hash":"p"}',
        b'{"b":1,"a":2,"hash":"h","prev_hash":"p"}',
        b'{"a":1,"a":1,"hash":"h","prev_hash":"p"}',
        b'{"a": 1,"hash":"h","prev_hash":"p"}',
        b'{"a":1,"hash":"h","prev_hash":"p"}\r',
        b'{"a":{"hash":"h"},"prev_hash":"p"}',  # the hash member is not at the top
        b'{"hash":"h","hash":"h","prev_hash":"p"}',
        b'{"hash":1,"prev_hash":"p"}',
        b'{"hash":"h\\n","prev_hash":"p"}',
        b'{"hash":"h","prev_hash":null}',
        b'{"hash":"h"}',
        b'{"\xee\x80\x80":1,"hash":"h","prev_hash":"p"}',  # U+E000 sorts differently
        b'{"a":"\xed\xa0\x80","hash":"h","prev_hash":"p"}',  # a surrogate in UTF-8
        b'{"a":"\xc0\xaf","hash":"h","prev_hash":"p"}',  # overlong
        b'[{"hash":"h","prev_hash":"p"}]',
        b"",
    ],
)
def test_what_is_not_provably_canonical_is_refused(line: bytes) -> None:
    assert examine(line) is None


@pytest.mark.parametrize(
    ("line", "hashed"),
    [
        (b'{"hash":"h","prev_hash":"p"}', b'{"prev_hash":"p"}'),
        (b'{"prev_hash":"p","hash":"h"}', b'{"prev_hash":"p"}'),
        (b'{"a":[],"hash":"h","prev_hash":"p","z":{}}', b'{"a":[],"prev_hash":"p","z":{}}'),
        (
            b'{"a":0.5,"b":1e+21,"c":1e-7,"d":5e-324,"hash":"h","prev_hash":"p"}',
            b'{"a":0.5,"b":1e+21,"c":1e-7,"d":5e-324,"prev_hash":"p"}',
        ),
        (b'{"a":9007199254740992,"hash":"h","prev_hash":"p"}', None),
        (b'{"a":"\\u001f\\n\\"\\\\\x7f\xf0\x9f\x98\x80","hash":"h","prev_hash":"p"}', None),
    ],
)
def test_canonical_lines_give_the_bytes_without_the_hash(line: bytes, hashed: bytes) -> None:
    result = examine(line)
    assert result is not None
    assert result[0] == (hashed or line.replace(b',"hash":"h"', b""))
    assert result[1:3] == ("h", "p")
    assert_sound(line)


def test_a_block_is_examined_line_by_line_with_offsets() -> None:
    lines = [b'{"hash":"h","prev_hash":"p"}', b"", b"not json", b'{"prev_hash":"q","hash":"g"}']
    for block in (b"\n".join(lines) + b"\n", b"\n".join(lines)):
        hashed, stored, prevs, _, starts, position, digested = native.examine_block(
            block, 0, 3, b"hash", b"prev_hash", TIME_KEYS, False
        )
        assert not digested
        assert hashed == [b'{"prev_hash":"p"}', None, None]
        assert stored == ["h", None, None] and prevs == ["p", None, None]
        assert list(memoryview(starts).cast("q")) == [0, 29, 30] and position == 39
        rest = native.examine_block(block, position, 3, b"hash", b"prev_hash", TIME_KEYS, False)
        assert rest[0] == [b'{"prev_hash":"q"}'] and rest[5] == len(block)
        # with OpenSSL at hand, the same lines come back hashed
        digests = native.examine_block(block, 0, 9, b"hash", b"prev_hash", TIME_KEYS, True)
        if digests[6]:
            expected = [hashlib.sha256(h).hexdigest() if h else None for h in hashed + rest[0]]
            assert digests[0] == expected
        (found, computed, _), _, skipped, offsets = AuditChainRecipe().examine_block(
            block, TIME_KEYS
        )
        assert found == ["h", None, None, "g"] and skipped == [1, 2]
        assert computed[1:3] == [None, None]
        assert [block[offsets[i] : offsets[i + 1] - 1] for i in range(len(lines))] == lines
    assert native.examine_block(b"", 0, 9, b"hash", b"prev_hash", TIME_KEYS, True)[0] == []


def test_the_time_is_the_first_time_member_that_is_not_null() -> None:
    line = b'{"hash":"h","prev_hash":"p","time":"2024-01-02","timestamp":null,"ts":17}'
    result = examine(line)
    assert result is not None and result[3] == 17
    result = examine(b'{"hash":"h","prev_hash":"p","time":"2024","timestamp":null}')
    assert result is not None and result[3] == "2024"
    result = examine(b'{"hash":"h","prev_hash":"p","ts":[1]}')
    assert result is not None and result[3] is False


@pytest.mark.skipif(
    not os.environ.get("AUDITCLI_HUGE_TESTS"), reason="builds 2 GiB lines: set AUDITCLI_HUGE_TESTS"
)
@pytest.mark.parametrize("head", [b"1.", b"0.00001"])
def test_a_decimal_with_billions_of_digits_is_refused(head: bytes) -> None:
    # short_decimal once counted digits in an int: 2**31 of them wrapped to a negative
    # count, and the line passed as canonical though ECMAScript prints 1.1111111111111112
    line = b"".join([b'{"a":', head, b"1" * 2**31, b',"hash":"h","prev_hash":"p"}'])
    assert examine(line) is None


# --- the whole scan reads the same with and without the fast path ---------------------


def test_a_hash_member_named_like_a_time_member_takes_the_exact_path() -> None:
    # the C path leaves the hash member out of everything, the time included
    assert AuditChainRecipe(hash_field="ts").examine_lines([b"{}"], TIME_KEYS) is None
    assert AuditChainRecipe().examine_lines([b"{}"], TIME_KEYS) is not None


@settings(max_examples=60, deadline=None)
@given(st.lists(EVENTS, min_size=1, max_size=12), st.data())
def test_a_scan_is_the_same_with_and_without_the_fast_path(
    payloads: list[dict[str, Any]], data: st.DataObject
) -> None:
    chain_recipe = AuditChainRecipe()
    lines, prev = [], "0" * 64
    for payload in payloads:
        event = payload | {"prev_hash": prev}
        event["hash"] = prev = chain_recipe.digest(reference_bytes(event))
        lines.append(orjson.dumps(event, option=orjson.OPT_SORT_KEYS))
    # some damage: a changed byte, a dropped line
    if data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(lines) - 1))
        line = bytearray(lines[i])
        j = data.draw(st.integers(0, len(line) - 1))
        line[j] = data.draw(st.sampled_from(b'0a"{,'))
        lines[i] = bytes(line)
    if len(lines) > 2 and data.draw(st.booleans()):
        del lines[data.draw(st.integers(0, len(lines) - 1))]
    if data.draw(st.booleans()):
        lines.insert(data.draw(st.integers(0, len(lines))), b"")
    fast = scan_lines(lines, chain_recipe, "f")
    block = b"".join(line + b"\n" for line in lines)
    if data.draw(st.booleans()):  # a file whose last line lacks its newline
        block = block[:-1]
    whole = scan_block(block, chain_recipe, "f")
    saved = recipe._examine_line, recipe._examine_block, recipe._link_block
    try:
        recipe._examine_line = recipe._examine_block = recipe._link_block = None
        exact = scan_lines(lines, chain_recipe, "f")
        exact_block = scan_block(block, chain_recipe, "f")
        exact_split = scan_lines(split_block(block), chain_recipe, "f")
    finally:
        recipe._examine_line, recipe._examine_block, recipe._link_block = saved
    assert fast == exact
    assert whole == exact_block == exact_split


#: Times in any order of code points, some of them below the quote (" " and "!").
TIMES = st.text(
    alphabet=st.sampled_from([" ", "!", "#", "0", "9", "Z", "a", "é", "\u4e2d", "\U0001f600"]),
    max_size=6,
)


def _chained(payloads: list[dict[str, Any]], times: list[str] | None) -> list[bytes]:
    chain_recipe = AuditChainRecipe()
    lines, prev = [], "0" * 64
    for index, payload in enumerate(payloads):
        event = payload | {"prev_hash": prev}
        if times is not None:
            event["ts"] = times[index]
        event["hash"] = prev = chain_recipe.digest(reference_bytes(event))
        lines.append(orjson.dumps(event, option=orjson.OPT_SORT_KEYS))
    return lines


#: Events the C module proves canonical, mostly: so most intact blocks are clean.
PLAIN_EVENTS = st.one_of(
    st.dictionaries(PLAIN_NAMES, SIMPLE, max_size=6),
    st.dictionaries(PLAIN_NAMES, SIMPLE, max_size=6),
    st.dictionaries(PLAIN_NAMES, SIMPLE, max_size=6),
    EVENTS,
).map(lambda d: {k: v for k, v in d.items() if k not in ("hash", "prev_hash")})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(PLAIN_EVENTS, min_size=1, max_size=80),
    st.lists(TIMES, min_size=80, max_size=80),
    st.data(),
)
def test_a_clean_block_reads_the_same_without_an_object_per_line(
    payloads: list[dict[str, Any]], times: list[str], data: st.DataObject
) -> None:
    """link_block takes a block only when it is clean, and then what the walk gets of it
    (runs, edge records, times) is what the line-by-line path gives."""
    chain_recipe = AuditChainRecipe()
    lines = _chained(payloads, times)
    block = b"".join(line + b"\n" for line in lines)
    clean = native.link_block(block, b"hash", b"prev_hash", TIME_KEYS) is not None
    damage = data.draw(st.sampled_from(["none", "byte", "drop", "swap", "blank", "cut"]))
    if damage == "byte":
        i = data.draw(st.integers(0, len(lines) - 1))
        line = bytearray(lines[i])
        line[data.draw(st.integers(0, len(line) - 1))] = data.draw(st.sampled_from(b'0a"{,9'))
        lines[i] = bytes(line)
    elif damage == "drop" and len(lines) > 1:
        del lines[data.draw(st.integers(0, len(lines) - 1))]
    elif damage == "swap" and len(lines) > 1:
        i = data.draw(st.integers(0, len(lines) - 2))
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif damage == "blank":
        lines.insert(data.draw(st.integers(0, len(lines))), b"")
    block = b"".join(line + b"\n" for line in lines)
    if damage == "cut":  # a file whose last line lacks its newline
        block = block[:-1]
    linked = native.link_block(block, b"hash", b"prev_hash", TIME_KEYS)
    fast = scan_block(block, chain_recipe, "f")
    saved = recipe._link_block
    try:
        recipe._link_block = None
        other = scan_block(block, chain_recipe, "f")
    finally:
        recipe._link_block = saved
    assert fast == other
    if damage in ("none", "cut"):
        assert (linked is not None) == clean  # an intact block takes the fast path
    if linked is not None:
        assert fast.whole is not None and not [i for i in fast.items if _defect(i)]


def _defect(item: object) -> bool:
    return getattr(item, "hash_ok", True) is False


def test_a_clean_block_takes_the_fast_path_and_a_block_without_times_does_not() -> None:
    days = [f"2024-01-{i % 28 + 1:02d}" for i in range(100)]
    lines = _chained([{"n": i} for i in range(100)], days)
    block = b"".join(line + b"\n" for line in lines)
    linked = native.link_block(block, b"hash", b"prev_hash", TIME_KEYS)
    assert linked is not None
    starts, hashes, first_prev, first_time, last_time = linked
    assert (first_prev, first_time, last_time) == ("0" * 64, "2024-01-01", "2024-01-28")
    offsets = memoryview(hashes).cast("q")
    stored = [orjson.loads(line)["hash"].encode() for line in lines]
    assert [block[at : at + 64] for at in offsets] == stored
    assert list(memoryview(starts).cast("q"))[-1] == len(block)
    untimed = b"".join(line + b"\n" for line in _chained([{"n": i} for i in range(3)], None))
    assert AuditChainRecipe().examine_block(untimed, TIME_KEYS) is not None
    assert native.link_block(untimed, b"hash", b"prev_hash", TIME_KEYS) is None
    assert native.link_block(b"", b"hash", b"prev_hash", TIME_KEYS) is None


def test_blocks_linked_on_several_threads_at_once_read_as_one_at_a_time() -> None:
    """link_block lets go of the GIL and hashes with a context of its own: blocks linked
    together on threads (numbers that need Python's float printing among them) give what
    they give one at a time."""
    numbers = [0.1, 1e-7, 0.30000000000000004, 123456789.12345679, 5e-324, 1e21, 7]
    blocks = []
    for seed in range(4):
        payloads = [{"n": numbers[(i + seed) % len(numbers)], "i": i} for i in range(2000)]
        days = [f"2024-0{seed + 1}-{i % 28 + 1:02d}" for i in range(2000)]
        blocks.append(b"".join(line + b"\n" for line in _chained(payloads, days)))

    def link(block: bytes) -> Any:
        return native.link_block(block, b"hash", b"prev_hash", TIME_KEYS)

    alone = [link(block) for block in blocks]
    assert all(result is not None for result in alone)
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            assert list(pool.map(link, blocks)) == alone
