"""The output transform: which columns are masked and pseudonymised, and how cheaply."""

from __future__ import annotations

import re

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditcli.privacy.apply import MASK_SECRETS, SECRET_PRECHECK, UNCHANGED, OutputPrivacy
from auditcli.privacy.policy import Policy
from auditcli.privacy.pseudonyms import Pseudonymizer
from auditcli.privacy.secrets import DEFAULT, Detector

KEY = bytes(range(32))
PSEUDONYMS = Pseudonymizer(KEY)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def batch(**columns: list[str | None]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({k: pa.array(v, pa.string()) for k, v in columns.items()})


def test_a_batch_without_secrets_is_passed_on_as_the_same_object() -> None:
    rows = batch(actor=["alice", "bob"], raw=['{"a":1}', '{"b":"x"}'])
    assert MASK_SECRETS.batch(rows) is rows
    assert UNCHANGED.batch(rows) is rows


def test_scalar_columns_are_masked_once_per_distinct_value_and_nulls_stay() -> None:
    rows = batch(error=[f"Bearer {JWT}", None, f"Bearer {JWT}", "ok"])
    safe = MASK_SECRETS.batch(rows)
    assert safe.column("error").to_pylist() == [
        "Bearer <redacted:jwt>",
        None,
        "Bearer <redacted:jwt>",
        "ok",
    ]


def test_json_columns_stay_valid_json_with_only_the_secret_changed() -> None:
    raw = '{"user":"alice","password":"hunter2","n":1}'
    safe = MASK_SECRETS.batch(batch(raw=[raw], extra=['{"token":"t0k3n-value"}']))
    assert safe.column("raw").to_pylist() == [
        '{"user":"alice","password":"<redacted:password>","n":1}'
    ]
    assert orjson.loads(safe.column("extra")[0].as_py()) == {"token": "<redacted:token>"}


def test_columns_auditcli_writes_itself_are_left_alone() -> None:
    rows = batch(file_sha256=["password=x"], outcome=["password=x"], hash=["token=x"])
    assert MASK_SECRETS.batch(rows) is rows


def test_other_string_types_keep_their_type() -> None:
    rows = pa.RecordBatch.from_pydict(
        {"error": pa.array([f"Bearer {JWT}"], pa.large_string()), "n": pa.array([1])}
    )
    safe = MASK_SECRETS.batch(rows)
    assert safe.schema == rows.schema
    assert safe.column("error")[0].as_py() == "Bearer <redacted:jwt>"


def test_policy_detectors_are_used_without_the_builtin_precheck() -> None:
    policy = Policy(extra_detectors=(Detector.compile("internal", value=r"itk_[A-Za-z0-9]{8}"),))
    privacy = OutputPrivacy(detectors=policy.detectors())
    safe = privacy.batch(batch(error=["uses itk_ABCD1234 here"], raw=['{"x":"itk_ABCD1234"}']))
    assert safe.column("error")[0].as_py() == "uses <redacted:internal> here"
    assert safe.column("raw")[0].as_py() == '{"x":"<redacted:internal>"}'


def test_tables_are_transformed_batch_by_batch() -> None:
    table = pa.Table.from_batches([batch(error=["Bearer " + JWT]), batch(error=["fine"])])
    safe = MASK_SECRETS.table(table)
    assert safe.column("error").to_pylist() == ["Bearer <redacted:jwt>", "fine"]


# -- the vectorised precheck --------------------------------------------------------------

_PIECES = [
    "password=",
    "pass_word:",
    "passphrase=",
    "pass=",
    'db_pass"\t:',
    "x.pwd=",
    "_pwd:",
    "ghp_",
    "github_pat_",
    "token=",
    "cookie:",
    "api_key=",
    "private-key:",
    "sk_live_",
    "sk-",
    "secret:",
    "client_secret=",
    "authorization:",
    "AIza",
    "eyJabcde.ey",
    "xoxb-",
    "xapp-",
    "\\u0041",
    "Bearer ",
    "basic\\t",
    "-----BEGIN ",
    "://u:p@",
    ":\\/\\/u:p@",
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "378282246310005",
    "\\n4111111111111111",
    "\\U00e95500005555555559",
    "deadbeef",
    "_",
    "ſ",
    "K",
    "\u212a",
    "İ",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=6)), max_size=8))
def test_the_vectorised_precheck_finds_everything_the_detectors_precheck_finds(
    parts: list[str],
) -> None:
    text = "".join(parts)
    if DEFAULT.may_contain_secret(text):
        found = pc.match_substring_regex(pa.array([text]), SECRET_PRECHECK, ignore_case=True)
        assert found[0].as_py(), text


def test_the_vectorised_precheck_is_valid_re2_and_a_python_regex() -> None:
    re.compile(SECRET_PRECHECK, re.IGNORECASE)
    assert pc.match_substring_regex(pa.array(["TOKEN="]), SECRET_PRECHECK, ignore_case=True)[0]


# -- pseudonyms -----------------------------------------------------------------------------

PSEUDONYMISE = OutputPrivacy(
    pseudonymizer=PSEUDONYMS, known={"svc-deploy": "user", "Mozilla/5.0 (X11)": "agent"}
)


def test_identity_columns_become_tokens_and_free_text_loses_personal_data() -> None:
    rows = batch(
        actor=["alice@corp.example", "svc-deploy", "203.0.113.7"],
        source_ip=["203.0.113.7", "10.0.0.1, 10.0.0.2", None],
        user_agent=["Mozilla/5.0 (X11)", None, None],
        resource=["user/bob@corp.example", "svc-deploy", "db/orders"],
        action=["login", "login", "login"],
    )
    safe = PSEUDONYMISE.batch(rows).to_pydict()
    assert safe["actor"] == [
        PSEUDONYMS.token("email", "alice@corp.example"),
        PSEUDONYMS.token("user", "svc-deploy"),
        PSEUDONYMS.token("ip", "203.0.113.7"),
    ]
    ip = PSEUDONYMS.token("ip", "203.0.113.7")
    assert safe["source_ip"][0] == ip
    assert "10.0.0.1" not in safe["source_ip"][1]
    assert safe["user_agent"][0] == PSEUDONYMS.token("agent", "Mozilla/5.0 (X11)")
    assert safe["resource"] == [
        "user/" + PSEUDONYMS.token("email", "bob@corp.example"),
        PSEUDONYMS.token("user", "svc-deploy"),
        "db/orders",
    ]
    assert safe["action"] == ["login"] * 3


def test_a_token_is_made_from_the_value_as_it_is_even_one_holding_a_secret() -> None:
    """Made from the masked text, it was a token that reveal and the filters, which
    work on real values, could never resolve."""
    rows = batch(actor=["svc password=hunter2"], resource=["db password=hunter2"])
    safe = PSEUDONYMISE.batch(rows).to_pydict()
    assert safe["actor"] == [PSEUDONYMS.token("user", "svc password=hunter2")]
    assert safe["resource"] == ["db password=<redacted:password>"]  # free text: masked


def test_raw_json_gets_the_same_tokens_as_the_columns() -> None:
    raw = orjson.dumps(
        {
            "actor": "svc-deploy",
            "ip": "203.0.113.7",
            "ua": "Mozilla/5.0 (X11)",
            "note": "mail carol@corp.example or call +1 415 555 0100",
            "nested": orjson.dumps({"who": "svc-deploy"}).decode(),
        }
    ).decode()
    safe = orjson.loads(PSEUDONYMISE.batch(batch(raw=[raw])).column("raw")[0].as_py())
    assert safe["actor"] == PSEUDONYMS.token("user", "svc-deploy")
    assert safe["ip"] == PSEUDONYMS.token("ip", "203.0.113.7")
    assert safe["ua"] == PSEUDONYMS.token("agent", "Mozilla/5.0 (X11)")
    assert "carol" not in safe["note"] and "415" not in safe["note"]
    assert orjson.loads(safe["nested"]) == {"who": PSEUDONYMS.token("user", "svc-deploy")}


def test_chain_links_are_keyed_alike_so_the_chain_shows_but_confirms_no_guess() -> None:
    """A link is the SHA-256 of its event's clear text: shown as it is beside the
    pseudonymised text, it would confirm a guess at what was replaced."""
    first, second, digest = "a1" * 32, "b2" * 32, "c3" * 32
    raws = [
        orjson.dumps({"actor": "alice", "hash": first, "prev_hash": "0" * 64}).decode(),
        f'{{"actor": "bob", "file": {{"hash": "{digest}"}}, "prev_hash" : "{first}",'
        f' "hash": "{second}"}}',
    ]
    safe = PSEUDONYMISE.batch(batch(raw=raws, hash=[first, second])).to_pydict()
    events = [orjson.loads(text) for text in safe["raw"]]
    assert events[0]["hash"] == PSEUDONYMS.chain_link(first) == events[1]["prev_hash"]
    assert events[1]["hash"] == PSEUDONYMS.chain_link(second)
    assert events[0]["prev_hash"].startswith("k:") and events[1]["hash"].startswith("k:")
    assert events[1]["file"] == {"hash": digest}  # another thing's digest stays
    assert not any(link in text for text in safe["raw"] for link in (first, second))
    assert safe["hash"] == [PSEUDONYMS.chain_link(first), PSEUDONYMS.chain_link(second)]
    assert MASK_SECRETS.batch(batch(raw=raws, hash=[first, second])).to_pydict()["raw"] == raws
    # an event that is no chain link (no prev_hash) keeps its own hash member
    upload = orjson.dumps({"actor": "alice", "hash": "d41d8cd98f00b204e9800998ecf8427e"}).decode()
    shown = orjson.loads(PSEUDONYMISE.batch(batch(raw=[upload])).column("raw")[0].as_py())
    assert shown["hash"] == "d41d8cd98f00b204e9800998ecf8427e"


def test_raw_is_pseudonymised_with_the_events_own_names_even_when_not_known() -> None:
    privacy = OutputPrivacy(pseudonymizer=PSEUDONYMS)
    rows = batch(actor=["dave"], raw=['{"user":"dave","x":"\\u00e9"}'])
    safe = privacy.batch(rows)
    assert orjson.loads(safe.column("raw")[0].as_py())["user"] == PSEUDONYMS.token("user", "dave")


def test_text_that_is_not_json_has_known_names_replaced_as_fields_and_words() -> None:
    raw = 'type=USER_LOGIN acct="svc-deploy" addr=203.0.113.7 ua=Mozilla/5.0 (X11),svc-deploy'
    safe = PSEUDONYMISE.batch(batch(raw=[raw])).column("raw")[0].as_py()
    user = PSEUDONYMS.token("user", "svc-deploy")
    assert safe == (
        f'type=USER_LOGIN acct="{user}" addr={PSEUDONYMS.token("ip", "203.0.113.7")} '
        f"ua={PSEUDONYMS.token('agent', 'Mozilla/5.0 (X11)')},{user}"
    )


def test_timeline_reasons_name_people_by_token() -> None:
    rows = batch(included_because=["seed", "via actor svc-deploy", "via ip 203.0.113.7"])
    assert PSEUDONYMISE.batch(rows).column("included_because").to_pylist() == [
        "seed",
        f"via actor {PSEUDONYMS.token('user', 'svc-deploy')}",
        f"via ip {PSEUDONYMS.token('ip', '203.0.113.7')}",
    ]


def test_secrets_are_masked_before_pseudonymising() -> None:
    privacy = OutputPrivacy(DEFAULT, PSEUDONYMS)
    raw = '{"url":"postgres://app:s3cret-pass@10.0.0.9/db"}'
    safe = privacy.batch(batch(raw=[raw])).column("raw")[0].as_py()
    assert "s3cret" not in safe and "10.0.0.9" not in safe
    assert "<redacted:connection-string>" in safe


@pytest.mark.parametrize("value", ["-", "x", ""])
def test_tiny_known_names_are_not_hunted_in_text(value: str) -> None:
    privacy = OutputPrivacy(pseudonymizer=PSEUDONYMS, known={value: "user"})
    rows = batch(raw=[orjson.dumps({"v": value}).decode()])
    assert privacy.batch(rows) is rows


def test_the_privacy_core_imports_neither_typer_nor_rich() -> None:
    import subprocess
    import sys

    code = (
        "import sys, auditcli.privacy.apply, auditcli.privacy.case, auditcli.access_log\n"
        "bad = [m for m in ('typer', 'rich') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
