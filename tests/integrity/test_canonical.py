"""canonical.py: RFC 8785 known answers, ECMAScript numbers, and fast == reference."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from auditcli.integrity.canonical import (
    CanonicalizationError,
    JsonSyntaxError,
    canonicalize,
    es6_number,
    fast_canonicalize,
    may_differ,
    parse_json,
)
from tests.integrity.conftest import reference_bytes

# RFC 8785 Appendix B: IEEE 754 bit patterns and their JSON numbers.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]

# RFC 8785 section 3.2.2: the example input and its canonical form.
RFC_EXAMPLE_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC_EXAMPLE_OUTPUT = (
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
).encode()

# RFC 8785 section 3.2.3: member names sorted by UTF-16 code units.
RFC_SORTING_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC_SORTED_VALUES = [
    "Carriage Return",
    "One",
    "Control",
    "Latin Small Letter O With Diaeresis",
    "Euro Sign",
    "Emoji: Grinning Face",
    "Hebrew Letter Dalet With Dagesh",
]


def _double(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_numbers_print_as_rfc_8785_appendix_b(bits: str, expected: str) -> None:
    value = _double(bits)
    assert es6_number(value) == expected
    assert canonicalize([value]) == f"[{expected}]".encode()
    assert fast_canonicalize([value]) == f"[{expected}]".encode()
    assert fast_canonicalize({"n": value}) == f'{{"n":{expected}}}'.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_are_refused(bits: str) -> None:
    with pytest.raises(CanonicalizationError, match="NaN and Infinity"):
        canonicalize({"n": _double(bits)})


def test_the_rfc_example_canonicalises_exactly() -> None:
    value = parse_json(RFC_EXAMPLE_INPUT.encode())
    assert canonicalize(value) == RFC_EXAMPLE_OUTPUT
    assert fast_canonicalize(value) == RFC_EXAMPLE_OUTPUT


def test_members_sort_by_utf16_code_units_as_in_the_rfc() -> None:
    value = parse_json(RFC_SORTING_INPUT.encode())
    for canonical in (canonicalize(value), fast_canonicalize(value)):
        assert list(json.loads(canonical).values()) == RFC_SORTED_VALUES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (0.0, "0"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (1.5e-6, "0.0000015"),
        (1e16, "10000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (0.1, "0.1"),
        (-1.5, "-1.5"),
        (2.5e-7, "2.5e-7"),
        (1.7e300, "1.7e+300"),
    ],
)
def test_es6_number_formatting(value: float, expected: str) -> None:
    assert es6_number(value) == expected
    assert fast_canonicalize([value, {"v": value}]) == f'[{expected},{{"v":{expected}}}]'.encode()


@pytest.mark.parametrize(
    ("integer", "expected"),
    [
        (2**53, "9007199254740992"),
        (2**53 + 1, "9007199254740992"),  # the nearest double
        (2**60, "1152921504606847000"),
        (-(2**63), "-9223372036854776000"),
        (2**64 + 7, "18446744073709552000"),
        (10**21, "1e+21"),
    ],
)
def test_integers_beyond_2_pow_53_print_as_their_double(integer: int, expected: str) -> None:
    assert canonicalize({"n": integer}) == f'{{"n":{expected}}}'.encode()
    assert fast_canonicalize({"n": integer}) == f'{{"n":{expected}}}'.encode()
    assert fast_canonicalize(parse_json(f'{{"n":{integer}}}')) == f'{{"n":{expected}}}'.encode()


def test_strings_use_the_minimal_escapes() -> None:
    text = '"\\\b\f\n\r\t\x00\x1f\x7f\u2028\u2029/é😀'
    expected = '"\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\u2028\u2029/é😀"'.encode()
    assert canonicalize(text) == expected
    assert fast_canonicalize([text]) == b"[" + expected + b"]"


def test_every_unicode_scalar_value_escapes_like_the_reference() -> None:
    # orjson's string escaping is the fast path's; prove it equal to RFC 8785 everywhere.
    for start in range(0, 0x110000, 0x1000):
        text = "".join(chr(c) for c in range(start, start + 0x1000) if not 0xD800 <= c <= 0xDFFF)
        expected = rfc8785.dumps(text)
        assert canonicalize(text) == expected
        assert orjson.dumps(text) == expected


def test_emoji_and_u_fb33_keys_take_the_exact_path_and_sort_right() -> None:
    value = {"\ufb33": 1, "\U0001f600": 2, "\ue000": 3, "a": 4}
    expected = rfc8785.dumps(value)
    assert expected.index("😀".encode()) < expected.index("\ufb33".encode())
    assert fast_canonicalize(value) == canonicalize(value) == expected


def test_lone_surrogates_are_refused_with_a_clear_error() -> None:
    value = parse_json(b'{"a":"\\ud800"}')
    with pytest.raises(CanonicalizationError, match="lone surrogate U\\+D800"):
        fast_canonicalize(value)


@pytest.mark.parametrize("text", [b"NaN", b'{"a":Infinity}', b'{"a":1e400}', b"[-1e999]"])
def test_parse_refuses_non_finite_numbers(text: bytes) -> None:
    with pytest.raises(CanonicalizationError):
        parse_json(text)


def test_parse_reports_syntax_errors() -> None:
    with pytest.raises(JsonSyntaxError, match="not JSON"):
        parse_json(b'{"a": }')


def test_deep_nesting_beyond_orjsons_limit_still_canonicalises() -> None:
    value: Any = "leaf"
    for depth in range(300):
        value = {f"k{depth}": [value]}
    assert fast_canonicalize(value) == canonicalize(value) == rfc8785.dumps(value)


def test_non_json_values_are_refused() -> None:
    with pytest.raises(CanonicalizationError, match="not a JSON type"):
        canonicalize({"a": object()})
    with pytest.raises(CanonicalizationError, match="not a string"):
        canonicalize({1: "a"})


# --- properties ------------------------------------------------------------------------

JSON_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
JSON_KEYS = st.one_of(
    JSON_TEXT, st.sampled_from(["\ufb33", "\U0001f600", "\ue000", "\uffff", "a", "\r", ""])
)
JSON_FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, -0.0, 1e16, 1.5e20, 1e21, 1e-6, 9.9e-6, 1e-7, 100.0, 2.0**53]),
    st.integers(-(10**22), 10**22).map(float),
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.integers(-(2**53), 2**53),
    JSON_FLOATS,
    JSON_TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(JSON_KEYS, inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_fast_and_reference_paths_equal_the_rfc8785_package(value: Any) -> None:
    expected = reference_bytes(value)
    assert canonicalize(value) == expected
    assert fast_canonicalize(value) == expected


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=6))
def test_canonical_form_survives_a_trip_through_any_json_text(value: dict[str, Any]) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert fast_canonicalize(parse_json(text.encode())) == reference_bytes(value)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_es6_number_equals_the_reference(value: float) -> None:
    assert es6_number(value).encode() == rfc8785.dumps(value)
    assert math.isclose(float(es6_number(value)), value, rel_tol=0, abs_tol=0) or value == 0


# --- the fast path's conditions, checked directly --------------------------------------


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(1e-7, 1e-4),
        st.floats(1e15, 1e22),
        st.integers(-(2**60), 2**60).map(float),
    )
)
def test_the_float_guard_catches_every_float_orjson_prints_differently(value: float) -> None:
    # condition 3: wherever orjson's token differs from ECMAScript's, may_differ() says so
    for container in ([value], {"k": value}, [value, 1]):
        out = orjson.dumps(container, option=orjson.OPT_SORT_KEYS)
        if out != rfc8785.dumps(container):
            assert may_differ(out)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(st.characters(codec="utf-8"), max_size=3), min_size=2, max_size=6))
def test_the_key_guard_catches_every_order_orjson_gets_wrong(names: list[str]) -> None:
    # condition 2: orjson's code point order differs from UTF-16 order only with such bytes
    value = dict.fromkeys(names, 0)
    out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    if out != rfc8785.dumps(value):
        assert may_differ(out)
