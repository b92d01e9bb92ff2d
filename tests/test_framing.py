"""Framing: records exactly as in the input, whatever the layout and chunking."""

from __future__ import annotations

import io
import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditcli.ingest.framing import WRAPPER_KEYS, LinePrefilter, element_spans, frame

CHUNKS = [1, 2, 3, 7, 64, 1 << 20]


def framed(
    data: bytes, chunk_bytes: int = 1 << 20, prefilter: LinePrefilter | None = None
) -> list[tuple[str, str, int]]:
    """(raw, doc, line) of every record framing yields."""
    records: list[tuple[str, str, int]] = []
    for batch in frame(io.BytesIO(data), chunk_bytes=chunk_bytes, prefilter=prefilter):
        assert len(batch.raw) == len(batch.doc) == len(batch.line) == len(batch)
        records.extend(
            zip(batch.raw.to_pylist(), batch.doc.to_pylist(), batch.line.to_pylist(), strict=True)
        )
    return records


def raws(data: bytes, chunk_bytes: int = 1 << 20) -> list[tuple[str, int]]:
    return [(raw, line) for raw, _, line in framed(data, chunk_bytes)]


# --- JSON lines -------------------------------------------------------------------

LINES = [b'{"a":1}', b'{"b":"x,y"}', b'{"c":[1,{"d":2}]}']


@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_json_lines_are_records_numbered_from_one(chunk_bytes: int) -> None:
    data = b"\n".join(LINES) + b"\n"
    assert raws(data, chunk_bytes) == [(line.decode(), n) for n, line in enumerate(LINES, 1)]


@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_crlf_line_ends_are_not_part_of_the_record(chunk_bytes: int) -> None:
    data = b"\r\n".join(LINES) + b"\r\n"
    assert raws(data, chunk_bytes) == [(line.decode(), n) for n, line in enumerate(LINES, 1)]


@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_a_last_line_without_newline_is_a_record(chunk_bytes: int) -> None:
    data = b"\n".join(LINES)
    assert raws(data, chunk_bytes) == [(line.decode(), n) for n, line in enumerate(LINES, 1)]


@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_blank_lines_keep_their_numbers(chunk_bytes: int) -> None:
    data = b'{"a":1}\n\n{"b":2}\r\n\r\n\n{"c":3}\n'
    assert raws(data, chunk_bytes) == [
        ('{"a":1}', 1),
        ("", 2),
        ('{"b":2}', 3),
        ("", 4),
        ("", 5),
        ('{"c":3}', 6),
    ]


def test_mixed_line_ends_are_all_cut_off() -> None:
    data = b'{"a":1}\n{"b":2}\r\n{"c":3}\n{"d":4}\r\n'
    assert [raw for raw, _ in raws(data)] == ['{"a":1}', '{"b":2}', '{"c":3}', '{"d":4}']


def test_crlf_after_a_long_first_line_is_cut_off() -> None:
    long_line = orjson.dumps({"pad": "p" * 70_000})
    data = long_line + b"\r\n" + b'{"b":2}\r\n'
    assert raws(data) == [(long_line.decode(), 1), ('{"b":2}', 2)]


def test_records_are_the_input_text_exactly() -> None:
    lines = [b'{ "a" :  1 ,"b":"\\u00e9\\/"}  ', b'  {"z\xc3\xa9":"\xe6\xbc\xa2"}', b"not json"]
    data = b"\n".join(lines)
    assert [raw.encode() for raw, _ in raws(data)] == lines


def test_invalid_utf8_is_kept_as_hex_escapes_in_raw_and_replaced_in_doc() -> None:
    data = b'{"a":"ok"}\n{"a":"bad\xff\xfe"}\n{"a":"\xe2\x82"}\n'
    assert framed(data) == [
        ('{"a":"ok"}', '{"a":"ok"}', 1),
        ('{"a":"bad\\xff\\xfe"}', '{"a":"bad\ufffd\ufffd"}', 2),
        ('{"a":"\\xe2\\x82"}', '{"a":"\ufffd"}', 3),
    ]


def test_a_byte_order_mark_is_not_part_of_the_first_record() -> None:
    assert raws(b'\xef\xbb\xbf{"a":1}\n{"b":2}\n') == [('{"a":1}', 1), ('{"b":2}', 2)]
    assert raws(b'\xef\xbb\xbf[{"a":1}]') == [('{"a":1}', 0)]


def test_empty_input_has_no_records() -> None:
    assert framed(b"") == []
    assert framed(b"[]") == []
    assert framed(b'{"Records": []}') == []


# --- arrays and wrapped documents -------------------------------------------------


@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_array_elements_are_records_indexed_from_zero(chunk_bytes: int) -> None:
    data = b'[{"a":1}, {"b":"x,]}\\"{["},\n  {"c":[1,{"d":[]}]}]'
    assert raws(data, chunk_bytes) == [
        ('{"a":1}', 0),
        ('{"b":"x,]}\\"{["}', 1),
        ('{"c":[1,{"d":[]}]}', 2),
    ]


def test_pretty_printed_array_elements_keep_their_layout() -> None:
    events = [{"a": 1, "b": {"c": [1, 2]}}, {"z": "é"}]
    data = json.dumps(events, indent=2, ensure_ascii=False).encode()
    assert raws(data) == [
        (json.dumps(e, indent=2, ensure_ascii=False).replace("\n", "\n  "), i)
        for i, e in enumerate(events)
    ]


@pytest.mark.parametrize("key", WRAPPER_KEYS)
def test_wrapped_exports_yield_the_elements_of_their_list(key: str) -> None:
    data = (
        f'{{"meta": {{"{key}": "no"}}, "note": "{key}", "other": [1, 2],\n'
        f' "{key}": [\n  {{"a": 1}},\n  {{"b": [2]}}\n ], "tail": {{"x": []}}}}\n'
    ).encode()
    assert raws(data) == [('{"a": 1}', 0), ('{"b": [2]}', 1)]


def test_records_wrappers_take_precedence_in_the_listed_order() -> None:
    data = b'{"events": [{"e": 1}], "Records": [{"r": 1}]}'
    assert raws(data) == [('{"r": 1}', 0)]


def test_a_list_of_non_objects_is_not_a_wrapper() -> None:
    data = b'{"Records": [1, 2], "id": "x"}'
    assert raws(data) == [(data.decode(), 1)]


def test_a_wrapper_list_with_a_null_keeps_its_objects_as_records() -> None:
    """The null is a record of its own, which the load rejects as not an object."""
    data = b'{"Records": [{"a": 1}, null, {"b": 2}]}'
    assert raws(data) == [('{"a": 1}', 0), ("null", 1), ('{"b": 2}', 2)]


DEEP = "[" * 3000 + "]" * 3000


@pytest.mark.parametrize(
    ("document", "records"),
    [
        (f'[{{"d": {DEEP}}},\n {{"b": 2}}]', [(f'{{"d": {DEEP}}}', 0), ('{"b": 2}', 1)]),
        (
            f'{{"Records": [{{"d": {DEEP}}}, {{"b": 2}}]}}',
            [(f'{{"d": {DEEP}}}', 0), ('{"b": 2}', 1)],
        ),
        (f'\n{{"d": {DEEP}}}\n', [(f'{{"d": {DEEP}}}', 2)]),
        (f'{{"d": {DEEP}}}\n{{"b": 2}}\n', [(f'{{"d": {DEEP}}}', 1), ('{"b": 2}', 2)]),
    ],
    ids=["array", "wrapped", "single", "json-lines"],
)
def test_a_record_nested_too_deep_to_parse_is_framed_like_any_other(
    document: str, records: list[tuple[str, int]]
) -> None:
    """Neither orjson nor json parses it (RecursionError): the tokens frame it."""
    assert raws(document.encode()) == records


def test_a_pretty_printed_single_object_is_one_record_at_its_first_line() -> None:
    text = json.dumps({"id": "x", "nested": {"a": [1, 2]}}, indent=2)
    data = ("\n\n" + text + "\n").encode()
    assert raws(data) == [(text, 3)]
    assert raws(data, chunk_bytes=3) == [(text, 3)]


def test_a_lone_surrogate_escape_costs_only_its_own_record() -> None:
    data = b'[\n{"a": "\\ud800"},\n{"b": 2}\n]\n'
    assert raws(data) == [('{"a": "\\ud800"}', 0), ('{"b": 2}', 1)]


def test_element_spans_find_each_element_of_an_array_at_an_offset() -> None:
    text = 'x = [ 1 , "a,b" , {"k": [3, 4]} , [5] ]'
    start = text.index("[")
    assert [text[a:b] for a, b in element_spans(text, start)] == [
        "1",
        '"a,b"',
        '{"k": [3, 4]}',
        "[5]",
    ]
    assert element_spans("[]", 0) == []
    assert element_spans("[ ]", 0) == []


# --- properties -------------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_OBJECTS = st.dictionaries(
    st.text(max_size=6).filter(lambda k: k not in WRAPPER_KEYS), _VALUES, max_size=4
)


def _encode(value: dict[str, Any], style: str) -> str:
    if style == "orjson":
        return orjson.dumps(value).decode()
    if style == "ascii":
        return json.dumps(value)
    if style == "spaced":
        return json.dumps(value, ensure_ascii=False, separators=(" , ", " : "))
    return json.dumps(value, ensure_ascii=False, indent=2)


_ONE_LINE = st.sampled_from(["orjson", "ascii", "spaced"])
_ANY_STYLE = st.sampled_from(["orjson", "ascii", "spaced", "indented"])


@given(
    st.lists(st.tuples(_OBJECTS, _ONE_LINE), max_size=6),
    st.sampled_from(CHUNKS),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_any_objects_as_json_lines_frame_back_to_their_texts(
    objects: list[tuple[dict[str, Any], str]], chunk_bytes: int, newline: str, final: bool
) -> None:
    texts = [_encode(value, style) for value, style in objects]
    data = (newline.join(texts) + (newline if final and texts else "")).encode()
    assert raws(data, chunk_bytes) == [(t, n) for n, t in enumerate(texts, 1)]


@given(
    st.lists(st.tuples(_OBJECTS, _ANY_STYLE), max_size=6),
    st.sampled_from(CHUNKS),
    st.sampled_from([",", ", ", ",\n  ", "\n,\n"]),
)
def test_any_objects_as_an_array_frame_back_to_their_texts(
    objects: list[tuple[dict[str, Any], str]], chunk_bytes: int, separator: str
) -> None:
    texts = [_encode(value, style) for value, style in objects]
    data = ("[\n  " + separator.join(texts) + "\n]\n").encode()
    assert raws(data, chunk_bytes) == [(t, i) for i, t in enumerate(texts)]


@given(
    st.lists(st.tuples(_OBJECTS, _ANY_STYLE), max_size=6),
    st.sampled_from(WRAPPER_KEYS),
    st.dictionaries(st.sampled_from(["meta", "x", "version"]), _VALUES, max_size=2),
)
def test_any_objects_wrapped_frame_back_to_their_texts(
    objects: list[tuple[dict[str, Any], str]], key: str, around: dict[str, Any]
) -> None:
    texts = [_encode(value, style) for value, style in objects]
    before = "".join(f"{json.dumps(k)}: {json.dumps(v)}, " for k, v in around.items())
    data = ("{" + before + json.dumps(key) + ": [" + ", ".join(texts) + '], "end": 1}').encode()
    assert raws(data) == [(t, i) for i, t in enumerate(texts)]


_LINE_PIECES = st.sampled_from(["a", "b", "xy", '"', ":", "\\u", "\\/", "\\", "/", "u", "é"])


@given(
    st.lists(st.lists(_LINE_PIECES, max_size=6).map("".join), min_size=1, max_size=12),
    st.lists(st.sampled_from([b"a", b"xy", b'b"', "é".encode(), b"zz"]), min_size=1, max_size=2),
    st.sampled_from(CHUNKS),
)
def test_line_prefilter_keeps_exactly_the_lines_with_a_needle_or_an_escape(
    lines: list[str], needles: list[bytes], chunk_bytes: int
) -> None:
    texts = ["L" + line for line in lines]
    data = "\n".join(texts).encode()
    expected = [
        (text, n)
        for n, text in enumerate(texts, 1)
        if any(needle in text.encode() for needle in (*needles, b"\\u", b"\\/"))
    ]
    kept = framed(data, chunk_bytes, LinePrefilter(needles))
    assert [(raw, line) for raw, _, line in kept] == expected


def test_line_prefilter_applies_from_the_batch_after_it_is_set() -> None:
    data = b"".join(
        b'{"n":%d,"who":"%s"}\n' % (i, b"alice" if i == 7 else b"bob") for i in range(12)
    )
    prefilter = LinePrefilter()
    batches = frame(io.BytesIO(data), chunk_bytes=40, prefilter=prefilter)
    first = next(batches)
    prefilter.needles = [b"alice"]
    rest = [raw for batch in batches for raw in batch.raw.to_pylist()]
    assert len(first) >= 1
    assert rest == ['{"n":7,"who":"alice"}']


def test_line_prefilter_keeps_line_numbers_and_crlf_handling() -> None:
    data = b'{"who":"bob"}\r\n{"who":"alice"}\r\n{"who":"al\\u0069ce"}\r\n{"who":"carol"}'
    kept = framed(data, prefilter=LinePrefilter([b"alice"]))
    assert [(raw, line) for raw, _, line in kept] == [
        ('{"who":"alice"}', 2),
        ('{"who":"al\\u0069ce"}', 3),
    ]
