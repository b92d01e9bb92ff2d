"""The one definition of the bytes auditcli hashes: RFC 8785 JSON Canonicalization (JCS).

Changing anything in this module changes every hash auditcli has ever written or
checked; a sealed chain would then fail to verify. It is pinned by RFC 8785
known-answer vectors and by property tests against the ``rfc8785`` reference package.

It owns parsing one JSON text into values (:func:`parse_json`) and serialising values
to canonical bytes: :func:`canonicalize` is the literal transcription of RFC 8785
section 3.2; :func:`fast_canonicalize` returns the same bytes for anything
:func:`parse_json` returns, at orjson speed. It never reads files and never hashes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import orjson

from auditcli.errors import InputError

__all__ = [
    "FAST_OPTIONS",
    "CanonicalizationError",
    "JsonSyntaxError",
    "canonicalize",
    "canonicalize_many",
    "es6_number",
    "exact_canonicalize",
    "fast_canonicalize",
    "may_differ",
    "parse_json",
]

MAX_SAFE_INTEGER = 2**53
"""Integers up to this magnitude are exact IEEE doubles and print as their digits."""


class CanonicalizationError(InputError):
    """A value has no RFC 8785 form (NaN, Infinity, a lone surrogate, a non-JSON type)."""


class JsonSyntaxError(InputError):
    """A text is not JSON."""


class DuplicateNameError(JsonSyntaxError):
    """JSON text that parses, but names a member twice in one object: complete, so a
    last line like that is malformed, not cut short."""


# --- RFC 8785 section 3.2.2.3: numbers are ECMAScript doubles --------------------------


def es6_number(value: float) -> str:
    """Print a double as ECMAScript's Number.prototype.toString does (ECMA-262 7.1.12.1)."""
    if not math.isfinite(value):
        raise CanonicalizationError(
            f"{value!r} has no JSON form (RFC 8785 section 3.2.2.3 forbids NaN and Infinity)"
        )
    if value == 0:
        return "0"  # also -0
    sign = "-" if value < 0 else ""
    # repr() yields the shortest digit string that round-trips, which is ECMAScript's k.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    int_part, _, fraction = mantissa.partition(".")
    all_digits = int_part + fraction
    leading_zeros = len(all_digits) - len(all_digits.lstrip("0"))
    digits = all_digits.strip("0")  # s, with k = len(digits)
    k = len(digits)
    n = len(int_part) + int(exponent or 0) - leading_zeros  # value = 0.s * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    power = f"e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    if k == 1:
        return sign + digits + power
    return sign + digits[0] + "." + digits[1:] + power


def _integer(value: int) -> str:
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return str(value)
    try:
        return es6_number(float(value))  # every JSON number is a double (RFC 8785 3.2.2.3)
    except OverflowError as e:
        raise CanonicalizationError(f"integer {value} is too large for a double") from e


# --- RFC 8785 section 3.2.2.2: strings with the minimal escapes -------------------------

_STRING_ESCAPES: dict[int, str] = {c: f"\\u{c:04x}" for c in range(0x20)}
_STRING_ESCAPES.update(
    {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
)


def _string(value: str) -> str:
    return '"' + value.translate(_STRING_ESCAPES) + '"'


# --- RFC 8785 section 3.2.3: members sorted by their names' UTF-16 code units -----------


def _utf16_order(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


class _Text(str):
    """Text already in canonical form, waiting on the work stack."""


def _serialise(value: object) -> str:
    """The canonical text of a value; iterative, so nesting depth is not limited."""
    parts: list[str] = []
    work: list[object] = [value]
    while work:
        item = work.pop()
        if type(item) is _Text:
            parts.append(item)
        elif item is None:
            parts.append("null")
        elif item is True:
            parts.append("true")
        elif item is False:
            parts.append("false")
        elif isinstance(item, str):
            parts.append(_string(item))
        elif isinstance(item, int):
            parts.append(_integer(item))
        elif isinstance(item, float):
            parts.append(es6_number(item))
        elif isinstance(item, Mapping):
            for name in item:
                if not isinstance(name, str):
                    raise CanonicalizationError(f"object member name {name!r} is not a string")
            names = sorted(item, key=_utf16_order)
            work.append(_Text("}"))
            for index in range(len(names) - 1, -1, -1):
                work.append(item[names[index]])
                work.append(_Text(("," if index else "{") + _string(names[index]) + ":"))
            if not names:
                work.append(_Text("{"))
        elif isinstance(item, Sequence) and not isinstance(item, bytes | bytearray):
            work.append(_Text("]"))
            for index in range(len(item) - 1, -1, -1):
                work.append(item[index])
                if index:
                    work.append(_Text(","))
            work.append(_Text("["))
        else:
            raise CanonicalizationError(f"{type(item).__name__} is not a JSON type")
    return "".join(parts)


def canonicalize(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value (the reference path)."""
    text = _serialise(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = text[e.start]
        raise CanonicalizationError(
            f"string holds a lone surrogate U+{ord(bad):04X}, which has no UTF-8 form"
            " (RFC 8785 section 3.2.2.2)"
        ) from e


# --- The fast path ------------------------------------------------------------------------
#
# orjson.dumps(value, OPT_SORT_KEYS) equals canonicalize(value) exactly when all of:
#   1. no integer exceeds 2**53 in magnitude: OPT_STRICT_INTEGER raises otherwise;
#   2. no member name holds a character at or above U+E000: orjson sorts by code point,
#      RFC 8785 by UTF-16 code unit, and the two orders differ only between a character
#      in U+E000..U+FFFF and one above U+FFFF; in UTF-8 such characters start with a byte
#      0xEE..0xF4, so output without those bytes is safe;
#   3. every float prints as ECMAScript prints it. orjson and ECMAScript pick the same
#      shortest digits; orjson differs only for integral floats below 1e16 ("1.0"), for
#      1e16 <= |x| < 1e21 ("1e+16") and for 1e-6 <= |x| < 1e-5 ("1e-6"). Inside an array
#      or object such a token is followed by "," "}" or "]", so output in which none of
#      the patterns below matches holds no such float (a top-level scalar takes the
#      reference path);
#   4. strings escape identically: checked over every Unicode scalar value in the tests;
#      orjson refuses lone surrogates, which then take the reference path and fail there;
#   5. there is no NaN or Infinity (orjson would print null): parse_json never yields one.
# Failing 1 or 3 takes a path that swaps each number for its ECMAScript form as an
# orjson.Fragment; failing 2 or 4 takes canonicalize(). The tests check these claims
# against the rfc8785 package and over every Unicode scalar value.

FAST_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_dumps = orjson.dumps
_sorted_dumps = partial(orjson.dumps, option=FAST_OPTIONS)
_NOT_BMP_LOW = re.compile(rb"[\xee-\xf4]")  # condition 2
_INTEGRAL_FLOAT = re.compile(rb"\.0[,}\]]")  # condition 3
_E_MINUS_6_FLOAT = re.compile(rb"e-6[,}\]]")
_E_PLUS_FLOAT = re.compile(rb"e\+(?:1[6-9]|20)[,}\]]")


_integral_float, _e_minus_6_float = _INTEGRAL_FLOAT.search, _E_MINUS_6_FLOAT.search


def may_differ(out: bytes) -> bool:
    """True unless orjson output is proven canonical by conditions 2 and 3 above."""
    return (
        _integral_float(out) is not None
        or _e_minus_6_float(out) is not None
        or (out.find(b"+") >= 0 and _E_PLUS_FLOAT.search(out) is not None)
        or (not out.isascii() and _NOT_BMP_LOW.search(out) is not None)
    )


def canonicalize_many(values: list[Any]) -> list[bytes] | None:
    """fast_canonicalize() of each of many objects, checking orjson's output in one pass.

    None when orjson refuses one of them (condition 1 or 4): take them one by one.
    """
    try:
        outs = list(map(_sorted_dumps, values))
    except orjson.JSONEncodeError:
        return None
    if may_differ(b"\n".join(outs)):  # no pattern spans two objects
        for index, out in enumerate(outs):
            if may_differ(out):
                outs[index] = exact_canonicalize(values[index])
    return outs


def _with_es6_numbers(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {name: _with_es6_numbers(item) for name, item in value.items()}
    if kind is list:
        return [_with_es6_numbers(item) for item in value]
    if kind is float:
        return orjson.Fragment(es6_number(value))
    if kind is int and not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return orjson.Fragment(_integer(value))
    return value


def exact_canonicalize(value: Any) -> bytes:
    """canonicalize(value) for parse_json output, with orjson doing the work when it can."""
    try:
        out = orjson.dumps(_with_es6_numbers(value), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, RecursionError):
        return canonicalize(value)  # or raises the precise error
    if not out.isascii() and _NOT_BMP_LOW.search(out) is not None:
        return canonicalize(value)
    return out


def fast_canonicalize(value: Any) -> bytes:
    """canonicalize(value) for a value parse_json produced, using orjson when safe."""
    if type(value) is not dict and type(value) is not list:
        return canonicalize(value)
    try:
        out = _dumps(value, option=FAST_OPTIONS)
    except orjson.JSONEncodeError:  # condition 1 (or 4)
        return exact_canonicalize(value)
    # may_differ(out), inlined: this runs once per event
    if (
        _integral_float(out) is not None
        or _e_minus_6_float(out) is not None
        or (out.find(b"+") >= 0 and _E_PLUS_FLOAT.search(out) is not None)
        or (not out.isascii() and _NOT_BMP_LOW.search(out) is not None)
    ):
        return exact_canonicalize(value)
    return out


# --- Parsing --------------------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise CanonicalizationError(f"{name} is not JSON (RFC 8785 section 3.2.2.3)")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise CanonicalizationError(f"number {text} is out of the range of a double")
    return number


def parse_json(text: bytes | str) -> Any:
    """Parse one JSON text; numbers become int or finite float, never NaN or Infinity.

    orjson parses (an integer beyond 64 bits comes back as its nearest double, which is
    what RFC 8785 hashes); texts it refuses are retried with the standard library so
    that a lone surrogate escape yields a value canonicalize() can name precisely.
    """
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        first_error = e
    else:
        _check_unique_names(text, parsed)
        return parsed
    try:
        parsed = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except CanonicalizationError:
        raise
    except (ValueError, RecursionError):
        raise JsonSyntaxError(f"not JSON: {first_error}") from first_error
    _check_unique_names(text, parsed)
    return parsed


#: Each string of a JSON text whole (so none is read from its inside), marked when it
#: is a member name; the text between strings in one piece.
_NAMES = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?|[^"]+')
_NAMES_BYTES = re.compile(_NAMES.pattern.encode())


def _check_unique_names(text: bytes | str, parsed: Any) -> None:
    """Refuse an object that names a member twice.

    A parser keeps one of the values (orjson the last) and the rest of the text goes
    unseen: a line holding an extra ``"actor"`` before the real one would hash as the
    real one while a database shows the other. RFC 8785 (section 3.1) takes I-JSON,
    whose names are unique.
    """
    if type(parsed) is not dict and type(parsed) is not list:
        return
    names = _NAMES_BYTES if isinstance(text, bytes) else _NAMES
    written = sum(map(bool, names.findall(text)))  # type: ignore[arg-type]
    if written == _member_count(parsed):
        return

    def refuse(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateNameError(
                    f"member {name!r} appears twice in one object (RFC 8785 needs unique names)"
                )
            seen.add(name)
        return dict(pairs)

    json.loads(text, object_pairs_hook=refuse)


def _member_count(value: Any) -> int:
    """How many members the objects in ``value`` hold (nested as deep as may be)."""
    count = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            count += len(item)
            pending.extend(v for v in item.values() if type(v) is dict or type(v) is list)
        elif type(item) is list:
            pending.extend(v for v in item if type(v) is dict or type(v) is list)
    return count
