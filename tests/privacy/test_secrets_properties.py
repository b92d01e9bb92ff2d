"""Properties of masking: planted secrets never survive, everything else is untouched."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from auditcli.privacy.secrets import (
    DEFAULT,
    _mask_json,
    _mask_string,
    _Scan,
    mask_json_text,
    mask_text,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
#: A string, number or literal token of JSON text, and everything between them.
_VALUE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9][0-9.eE+-]*|true|false|null')

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=16,
)
markers = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=12, max_size=16)


def _plant(shape: Any, path: list[int], key: str, value: Any) -> dict[str, Any]:
    """An object holding ``shape`` with ``{key: value}`` planted along ``path``."""
    root: dict[str, Any] = {"event": shape}
    node: Any = root
    for step in path:
        inner: dict[str, Any] = {}
        node[f"p{step}"] = {"k": inner} if step % 2 else {"list": [inner, step]}
        node = inner
    node[key] = value
    return root


def _planted(marker: str, kind: int) -> tuple[str, Any, str]:
    """A (key, value, secret text) to plant: each must disappear once masked."""
    secret = f"Sx{marker}9q"
    return [
        ("password", secret, secret),
        ("note", f"Bearer {secret}", secret),
        ("Authorization", f"Bearer {JWT}", JWT),
        ("dsn", f"postgres://app:{secret}@db:5432/x", secret),
        ("sessionToken", [secret, {"x": secret}], secret),
        ("body", json.dumps({"client_secret": secret}), secret),
        ("log", f"login ok\napi_key={secret}&x=1", secret),
        ("card", "5500 0055 5555 5559", "5500 0055 5555 5559"),
    ][kind]


def _dumps(document: Any, style: int) -> str:
    if style == 0:
        return orjson.dumps(document).decode()
    if style == 1:
        return json.dumps(document, indent=2)
    return json.dumps(document, ensure_ascii=False, separators=(", ", " : "))


def _equal_except_masked(before: Any, after: Any) -> bool:
    if isinstance(after, str) and "<redacted:" in after and before != after:
        return True
    if isinstance(before, dict) and isinstance(after, dict):
        return before.keys() == after.keys() and all(
            _equal_except_masked(before[k], after[k]) for k in before
        )
    if isinstance(before, list) and isinstance(after, list):
        return len(before) == len(after) and all(
            _equal_except_masked(b, a) for b, a in zip(before, after, strict=True)
        )
    return bool(before == after)


@settings(max_examples=300, deadline=None)
@given(
    shape=documents,
    path=st.lists(st.integers(min_value=0, max_value=9), max_size=4),
    marker=markers,
    kind=st.integers(min_value=0, max_value=7),
    style=st.integers(min_value=0, max_value=2),
)
def test_a_planted_secret_never_survives_and_nothing_else_changes(
    shape: Any, path: list[int], marker: str, kind: int, style: int
) -> None:
    key, value, secret = _planted(marker, kind)
    raw = _dumps(_plant(shape, path, key, value), style)
    masked = mask_json_text(raw)
    assert secret not in masked
    assert _equal_except_masked(orjson.loads(raw), orjson.loads(masked))
    # Between values (keys are strings too) the text is byte-identical.
    assert _VALUE.split(masked) == _VALUE.split(raw)


@settings(max_examples=200, deadline=None)
@given(document=documents, style=st.integers(min_value=0, max_value=2))
def test_masking_any_document_keeps_it_valid_and_equal_but_for_masked_values(
    document: Any, style: int
) -> None:
    raw = _dumps(document, style)
    masked = mask_json_text(raw)
    assert _equal_except_masked(orjson.loads(raw), orjson.loads(masked))
    assert mask_json_text(masked) == masked


_FRAGMENTS = [
    "password",
    "Pass_Word",
    "passphrase",
    "token",
    "x-auth-token",
    "secret_access_key",
    "api-key",
    "private_key",
    "authorization",
    "Set-Cookie",
    "Bearer ",
    "basic ",
    "dXNlcjpwdw==",
    JWT,
    "ghp_" + "a1B2" * 9,
    "xoxb-1234567890-abc",
    "sk_live_" + "a1B2" * 5,
    "AIza" + "a1B2c" * 7,
    "sk-" + "a1B2" * 6,
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "postgres://u:p@h",
    "://",
    "4111",
    "1111",
    "3782",
    "822463",
    "10005",
    "0",
    "=",
    ": ",
    '"',
    "'",
    "\\",
    "\n",
    "\t",
    " ",
    "-",
    "_",
    "&",
    "{",
    "}",
    "\\n",
    "\\u00e9",
    "x",
    "é",
    "PASSWORD",
    "Token",
    "secret",
    "aws_secret",
    "client_key",
    "cookie",
    "\\u0070",
    "\\u0077",
    "eyJ",
    "ey",
    ".",
    "@",
    "//",
    "5500005555555559",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=14))
def test_the_precheck_never_skips_what_the_full_scan_would_mask(fragments: list[str]) -> None:
    text = "".join(fragments)
    full = _Scan(DEFAULT, DEFAULT.shapes)
    assert mask_text(text) == _mask_string(text, None, full, 0)
    raw = json.dumps({"k": text, text: [text, {"nested": json.dumps({"v": text})}]})
    assert mask_json_text(raw) == _mask_json(raw, full)
    # The same text as an object member: the key fragments become a JSON key.
    raw_member = json.dumps({text.strip() or "k": "v4lue-0123456789"}, ensure_ascii=False)
    assert mask_json_text(raw_member) == _mask_json(raw_member, full)
