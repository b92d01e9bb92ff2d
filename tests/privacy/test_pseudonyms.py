"""Pseudonyms: stable keyed tokens, correlation kept, values unreadable without the key."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditcli.errors import InputError
from auditcli.privacy.pseudonyms import (
    KEY_BYTES,
    Pseudonymizer,
    actor_kind,
    load_or_create_key,
    new_key,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TOKEN = re.compile(r"(user|email|ip|phone|agent):[0-9a-f]{16}")


def test_the_same_value_gives_the_same_token_across_calls_and_instances() -> None:
    first, second = Pseudonymizer(KEY), Pseudonymizer(bytes(KEY))
    assert first.token("user", "svc-deploy") == first.token("user", "svc-deploy")
    assert first.token("user", "svc-deploy") == second.token("user", "svc-deploy")


def test_another_key_gives_other_tokens() -> None:
    mine, theirs = Pseudonymizer(KEY), Pseudonymizer(OTHER_KEY)
    assert mine.token("ip", "203.0.113.7") != theirs.token("ip", "203.0.113.7")


def test_a_token_carries_its_kind_and_sixteen_hex_characters() -> None:
    pseudonyms = Pseudonymizer(KEY)
    for kind, value in [
        ("user", "svc-deploy"),
        ("email", "alice@corp.example"),
        ("ip", "203.0.113.7"),
        ("phone", "+1 555 123 4567"),
        ("agent", "python-requests/2.31.0"),
    ]:
        token = pseudonyms.token(kind, value)
        assert TOKEN.fullmatch(token)
        assert token.startswith(f"{kind}:")


def test_one_value_of_two_kinds_gives_two_tokens() -> None:
    pseudonyms = Pseudonymizer(KEY)
    assert pseudonyms.token("user", "bob")[-16:] != pseudonyms.token("agent", "bob")[-16:]


@pytest.mark.parametrize(
    ("kind", "first", "second"),
    [
        ("email", "Alice@Corp.Example", "alice@corp.example"),
        ("ip", "2001:DB8:0:0::1", "2001:db8::1"),
        ("phone", "+1 (555) 123-4567", "+15551234567"),
        ("email", "alice%40corp.example", "alice@corp.example"),
        ("ip", "::ffff:198.51.100.9", "198.51.100.9"),
    ],
)
def test_equal_values_written_differently_share_a_token(kind: str, first: str, second: str) -> None:
    pseudonyms = Pseudonymizer(KEY)
    assert pseudonyms.token(kind, first) == pseudonyms.token(kind, second)


@settings(max_examples=200)
@given(st.text(min_size=3, max_size=40).filter(lambda v: re.search(r"[^0-9a-f]", v)))
def test_a_token_never_contains_the_value(value: str) -> None:
    token = Pseudonymizer(KEY).token("user", value)
    assert value not in token.removeprefix("user:") or value in "user:"


def test_reveal_finds_the_candidate_behind_a_token() -> None:
    pseudonyms = Pseudonymizer(KEY)
    token = pseudonyms.token("ip", "203.0.113.7")
    candidates = [("ip", "10.30.0.15"), ("user", "203.0.113.7"), ("ip", "203.0.113.7")]
    assert pseudonyms.reveal(token, candidates) == "203.0.113.7"
    assert pseudonyms.reveal(token, candidates[:2]) is None


def test_reveal_fails_with_the_wrong_key() -> None:
    token = Pseudonymizer(KEY).token("user", "svc-deploy")
    assert Pseudonymizer(OTHER_KEY).reveal(token, [("user", "svc-deploy")]) is None


def test_unknown_kinds_and_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        Pseudonymizer(KEY).token("name", "bob")
    with pytest.raises(ValueError, match="16 bytes"):
        Pseudonymizer(b"short")


# -- columns ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "kind"),
    [
        ("svc-deploy", "user"),
        ("alice@corp.example", "email"),
        ("203.0.113.7", "ip"),
        ("arn:aws:iam::123456789012:user/alice", "user"),
    ],
)
def test_the_actor_token_kind_follows_its_shape(actor: str, kind: str) -> None:
    assert actor_kind(actor) == kind
    assert Pseudonymizer(KEY).column("actor", actor) == Pseudonymizer(KEY).token(kind, actor)


def test_columns_with_personal_data_are_tokenised_and_others_kept() -> None:
    pseudonyms = Pseudonymizer(KEY)
    assert pseudonyms.column("source_ip", "203.0.113.7") == pseudonyms.token("ip", "203.0.113.7")
    assert pseudonyms.column("user_agent", "curl/8.0") == pseudonyms.token("agent", "curl/8.0")
    assert pseudonyms.column("actor", None) is None
    assert pseudonyms.column("action", "iam.roles.list") == "iam.roles.list"
    assert pseudonyms.column("request_id", "req-08180da7a8bd1977") == "req-08180da7a8bd1977"
    error = pseudonyms.column("error", "user bob@corp.example denied from 10.0.0.1")
    assert error == (
        f"user {pseudonyms.token('email', 'bob@corp.example')} denied from "
        f"{pseudonyms.token('ip', '10.0.0.1')}"
    )


# -- raw JSON text ------------------------------------------------------------------------------

RAW = (
    '{"id":"evt-idn-00111","actor":{"id":"svc-deploy","type":"service"},'
    '"source_ip":"203.0.113.7","user_agent":"python-requests/2.31.0",'
    '"details":{"notify":["alice@corp.example","+1 555 123 4567"],"peer":"2001:db8::1",'
    '"via":"proxy 10.8.7.56:3128","at":"14:02:11","mac":"00:1a:2b:3c:4d:5e",'
    '"note":"svc-deploy rotated"}}'
)


def test_raw_text_is_pseudonymised_in_place_and_stays_valid_json() -> None:
    pseudonyms = Pseudonymizer(KEY)
    columns = {
        "actor": "svc-deploy",
        "source_ip": "203.0.113.7",
        "user_agent": "python-requests/2.31.0",
    }
    out = pseudonyms.text(RAW, pseudonyms.known_values(columns))
    event = orjson.loads(out)
    token = pseudonyms.token
    assert event["id"] == "evt-idn-00111"
    assert event["actor"] == {"id": pseudonyms.column("actor", "svc-deploy"), "type": "service"}
    assert event["source_ip"] == pseudonyms.column("source_ip", "203.0.113.7")
    assert event["user_agent"] == token("agent", "python-requests/2.31.0")
    details = event["details"]
    assert details["notify"] == [
        token("email", "alice@corp.example"),
        token("phone", "+15551234567"),
    ]
    assert details["peer"] == token("ip", "2001:db8::1")
    assert details["via"] == f"proxy {token('ip', '10.8.7.56')}:3128"
    assert details["at"] == "14:02:11"
    assert details["mac"] == "00:1a:2b:3c:4d:5e"
    # Known values are replaced as whole strings only.
    assert details["note"] == "svc-deploy rotated"
    for value in ("alice@corp.example", "203.0.113.7", "10.8.7.56", "2001:db8::1", "555 123"):
        assert value not in out


def test_raw_text_without_personal_data_is_returned_unchanged() -> None:
    raw = '{"action": "iam.roles.list", "n": [1, 2.5, true, null]}'
    assert Pseudonymizer(KEY).text(raw) is raw


def test_text_that_is_not_json_is_pseudonymised_as_free_text() -> None:
    pseudonyms = Pseudonymizer(KEY)
    out = pseudonyms.text(
        "svc-deploy logged in from 10.0.0.1 (svc-deployer)", {"svc-deploy": "user"}
    )
    assert out == (
        f"{pseudonyms.token('user', 'svc-deploy')} logged in from "
        f"{pseudonyms.token('ip', '10.0.0.1')} (svc-deployer)"
    )


ips = st.ip_addresses().map(str)
emails = st.emails()
leaves = st.one_of(st.text(max_size=10), ips, emails, st.integers(), st.none())
documents = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def _strings(document: Any) -> list[str]:
    if isinstance(document, str):
        return [document]
    if isinstance(document, dict):
        return [s for k, v in document.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(document, list):
        return [s for item in document for s in _strings(item)]
    return []


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans())
def test_pseudonymised_json_stays_valid_and_hides_every_address(
    document: Any, ascii_only: bool
) -> None:
    raw = json.dumps({"event": document}, ensure_ascii=ascii_only)
    out = Pseudonymizer(KEY).text(raw)
    parsed = orjson.loads(out)
    assert isinstance(parsed, dict)
    for value in _strings(document):
        if actor_kind(value) in ("email", "ip"):
            assert orjson.dumps(value).decode() not in out


# -- the key file -------------------------------------------------------------------------------


def test_the_key_file_is_created_private_on_first_use_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "case" / "keys" / "pseudonym.key"
    key = load_or_create_key(path)
    assert len(key) == KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key


def test_a_truncated_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    path.write_bytes(b"123")
    with pytest.raises(InputError, match="3 bytes") as raised:
        load_or_create_key(path)
    assert str(path) in raised.value.message


def test_new_keys_are_random() -> None:
    assert new_key() != new_key()
    assert len(new_key()) == KEY_BYTES


def test_a_list_of_source_addresses_keeps_one_token_per_address() -> None:
    pseudonyms = Pseudonymizer(KEY)
    assert pseudonyms.column("source_ip", "203.0.113.7, 10.0.0.1") == (
        f"{pseudonyms.token('ip', '203.0.113.7')}, {pseudonyms.token('ip', '10.0.0.1')}"
    )
    assert pseudonyms.column("source_ip", "gateway.corp") == pseudonyms.token("ip", "gateway.corp")


@pytest.mark.parametrize(
    ("text", "clear"),
    [
        ("mail jürgen.müller@corp.example now", ["jürgen", "müller"]),
        ("to user@bücher.example", ["user@", "bücher"]),
        ("/api/users?email=alice%40corp.example&x=1", ["alice"]),
        ("from ::ffff:198.51.100.9 and 2001:db8::1.", ["198", ".51.100.9", "2001"]),
    ],
)
def test_emails_and_addresses_in_free_text_leave_nothing_of_themselves(
    text: str, clear: list[str]
) -> None:
    replaced = Pseudonymizer(KEY).free_text(text)
    assert not [part for part in clear if part in replaced], replaced
