"""Secret detectors: what is masked, what stays visible, and raw JSON kept byte-identical."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from auditcli.privacy.secrets import (
    DEFAULT,
    DEFAULT_DETECTORS,
    Detector,
    DetectorSet,
    luhn_ok,
    mask_json_text,
    mask_text,
)

SAMPLE_LOGS = Path(__file__).resolve().parents[2] / "sample_logs"

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMtZGVwbG95IiwiZXhhbXBsZSI6dHJ1ZX0"
    ".EXAMPLE-not-a-real-signature"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAexampleexampleexample\n"
    "bm90IGEgcmVhbCBrZXk=\n-----END RSA PRIVATE KEY-----"
)
GITHUB = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"
GITHUB_PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
STRIPE = "sk_live_" + "51HxExampleExampleExample0123456789abcdef"
GOOGLE = "AIza" + "SyA-example_example_example_1234567"
OPENAI = "sk-proj-" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
VISA = "4111 1111 1111 1111"


# -- value shapes, anywhere -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "shown"),
    [
        (f"token is {JWT} ok", JWT, "token is <redacted:jwt> ok"),
        (f"Authorization: Bearer {JWT}", JWT, "Authorization: Bearer <redacted:jwt>"),
        (
            "Authorization: Bearer 0a1b2c3d4e5f6a7b8c9d",
            "0a1b2c3d4e5f6a7b8c9d",
            "Authorization: Bearer <redacted:bearer-token>",
        ),
        ("curl -H 'authorization: basic dXNlcjpodW50ZXIy'", "dXNlcjpodW50ZXIy", None),
        (f"key {PEM} end", "MIIEowIBAAKCAQEA", "key <redacted:private-key> end"),
        (f"{GITHUB}", GITHUB, "ghp_…<redacted:github-token>"),
        (f"pat={GITHUB_PAT}", GITHUB_PAT, None),
        (f"slack {SLACK}", SLACK, "slack xoxb-…<redacted:slack-token>"),
        (f"stripe {STRIPE}", STRIPE, "stripe sk_live_…<redacted:stripe-key>"),
        (f"google {GOOGLE}", GOOGLE, "google AIza…<redacted:google-api-key>"),
        (f"openai {OPENAI}", OPENAI, "openai sk-…<redacted:openai-key>"),
        (
            "dsn postgres://app:hunter2pw@db.internal:5432/orders",
            "hunter2pw",
            "dsn postgres://app:<redacted:connection-string>@db.internal:5432/orders",
        ),
        (
            "redis://:s3cretpw@cache:6379",
            "s3cretpw",
            "redis://:<redacted:connection-string>@cache:6379",
        ),
        (f"card {VISA} charged", "1111 1111", "card <redacted:card-number> charged"),
        ("card 4111-1111-1111-1111", "4111-1111", "card <redacted:card-number>"),
        ("amex 3782 822463 10005", "822463", "amex <redacted:card-number>"),
        ("pan=5500005555555559", "5500005555555559", None),
        ("https://cb.example/done?access_token=abc123xyz&state=1", "abc123xyz", None),
        ("password=hunter2&user=bob", "hunter2", "password=<redacted:password>&user=bob"),
        ("db_password: hunter2 (rotated)", "hunter2", "db_password: <redacted:password> (rotated)"),
        (f"aws_secret_access_key={AWS_SECRET}", AWS_SECRET, None),
        ("{'api_key': 'k-123-456-789'}", "k-123-456-789", "{'api_key': '<redacted:api-key>'}"),
        ("X-Api-Key: 0123456789abcdef", "0123456789abcdef", None),
    ],
)
def test_secret_shapes_are_masked_in_free_text(text: str, secret: str, shown: str | None) -> None:
    masked = mask_text(text)
    assert secret not in masked
    assert "<redacted:" in masked
    if shown is not None:
        assert masked == shown


@pytest.mark.parametrize(
    "text",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAY34FZKBOKMUTVV7A",
        "3f2b8a8e-5c1d-4b7a-9e0f-2a6c4d8b1e3f",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "bc73a9a322ce22e06931d6c5ac7d99e208285839",
        "4111111111111112",  # fails the Luhn check
        "1773273617000",  # epoch milliseconds
        "1234567812345670",  # Luhn-valid but no card brand starts with 1
        "req-15c52ba553bf5bba",
        "sess-214a70b4ba3e",
        "tok-svc-deploy-7f3a",
        "password+totp",
        "InvalidCredentials: wrong password",
        "Bearer token required",
        "basic authentication failed",
        "sk-learn-preprocessing-pipeline",
        "s3://bucket/reports/2026/03/12/part-0001.csv",
        "https://api.example:8443/v1/roles?page=2",
        "git@github.com:corp/payments-api.git",
        "arn:aws:iam::123456789012:role/deploy",
        "2026-03-12T14:02:11.482Z from 203.0.113.7",
        "python-requests/2.31.0",
    ],
)
def test_identifiers_investigators_pivot_on_stay_visible(text: str) -> None:
    assert mask_text(text) == text


# -- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["hunter2", "x", "correct horse battery staple", 123456, "AKIAIOSFODNN7EXAMPLE"],
)
def test_a_password_key_is_masked_whatever_its_value(value: object) -> None:
    raw = orjson.dumps({"user": "bob", "form": {"password": value}}).decode()
    masked = orjson.loads(mask_json_text(raw))
    assert masked == {"user": "bob", "form": {"password": "<redacted:password>"}}


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("password", "password"),
        ("newPassword", "password"),
        ("DB_PASSWD", "password"),
        ("passphrase", "password"),
        ("password_hash", "password"),
        ("pass", "password"),
        ("db_pass", "password"),
        ("SMTP-PASS", "password"),
        ("mysql_pwd", "password"),
        ("secret_access_key", "aws-secret-key"),
        ("SecretAccessKey", "aws-secret-key"),
        ("aws_secret", "aws-secret-key"),
        ("sessionToken", "session-token"),
        ("x-amz-security-token", "session-token"),
        ("api_key", "api-key"),
        ("apiKey", "api-key"),
        ("x-api-key", "api-key"),
        ("client_secret", "secret"),
        ("private_key", "secret"),
        ("signingKey", "secret"),
        ("token", "token"),
        ("access_token", "token"),
        ("refreshToken", "token"),
        ("X-Auth-Token", "token"),
        ("Cookie", "cookie"),
        ("Set-Cookie", "cookie"),
    ],
)
def test_secret_keys_are_masked_with_their_label(key: str, label: str) -> None:
    raw = orjson.dumps({"params": {key: "Zm9vYmFyYmF6cXV4cXV1eA"}, "n": 1}).decode()
    masked = mask_json_text(raw)
    assert "Zm9vYmFyYmF6cXV4cXV1eA" not in masked
    shown = orjson.loads(masked)["params"][key]
    assert shown in (f"<redacted:{label}>", f"Zm9v…<redacted:{label}>")
    assert masked == raw.replace('"Zm9vYmFyYmF6cXV4cXV1eA"', orjson.dumps(shown).decode())


@pytest.mark.parametrize(
    "key",
    [
        "token_id",
        "nextToken",
        "clientToken",
        "paginationToken",
        "tokenType",
        "passwordLastUsed",
        "password_policy",
        "bypass",
        "compass",
        "pass_count",
        "PWD",
        "OLDPWD",
        "access_key_id",
        "accessKeyId",
        "object_key",
        "secretId",
        "secret_name",
        "SecretArn",
        "keyId",
        "session_id",
    ],
)
def test_keys_that_only_resemble_secret_keys_stay_visible(key: str) -> None:
    raw = orjson.dumps({key: "some-value-1234", "n": 1}).decode()
    assert mask_json_text(raw) == raw


def test_every_leaf_under_a_secret_key_is_masked_and_the_shape_kept() -> None:
    raw = (
        '{"credentials":{"accessKeyId":"ASIAEXAMPLE",'
        '"sessionToken":{"v":["a1","b2"],"n":7,"ok":true}}}'
    )
    assert orjson.loads(mask_json_text(raw)) == {
        "credentials": {
            "accessKeyId": "ASIAEXAMPLE",
            "sessionToken": {
                "v": ["<redacted:session-token>", "<redacted:session-token>"],
                "n": "<redacted:session-token>",
                "ok": True,
            },
        }
    }


def test_empty_and_null_values_under_a_secret_key_stay() -> None:
    raw = '{"password":"","token":null}'
    assert mask_json_text(raw) == raw


def test_aws_secret_key_shows_its_first_four_characters() -> None:
    raw = orjson.dumps({"secret_access_key": AWS_SECRET}).decode()
    assert mask_json_text(raw) == '{"secret_access_key":"wJal…<redacted:aws-secret-key>"}'


def test_a_short_secret_shows_no_prefix() -> None:
    raw = '{"aws_secret_access_key":"short-secret"}'
    assert mask_json_text(raw) == '{"aws_secret_access_key":"<redacted:aws-secret-key>"}'


def test_authorization_keeps_its_scheme_visible() -> None:
    raw = '{"headers":{"Authorization":"Basic dXNlcjpwYXNz","Proxy-Authorization":"Digest abc"}}'
    assert orjson.loads(mask_json_text(raw))["headers"] == {
        "Authorization": "Basic <redacted:basic-auth>",
        "Proxy-Authorization": "Digest <redacted:authorization>",
    }


# -- raw JSON text -------------------------------------------------------------------------------


def _sample_events() -> list[str]:
    lines: list[str] = []
    for path in sorted(SAMPLE_LOGS.glob("*.jsonl*")):
        opened = gzip.open(path, "rt") if path.suffix == ".gz" else path.open()
        with opened as stream:
            lines.extend(line.rstrip("\n") for line in stream)
    return lines


def test_sample_logs_lose_their_four_secrets_and_nothing_else() -> None:
    events = _sample_events()
    changed = {raw: mask_json_text(raw) for raw in events if mask_json_text(raw) != raw}
    assert len(changed) == 4
    for raw, masked in changed.items():
        expected = (
            raw.replace(JWT, "<redacted:jwt>")
            .replace('"EXAMPLE-not-a-real-password"', '"<redacted:password>"')
            .replace(AWS_SECRET, "wJal…<redacted:aws-secret-key>")
        )
        assert masked == expected
        assert "AKIAIOSFODNN7EXAMPLE" in masked or "AKIA" not in raw


def test_ordinary_events_skip_the_full_scan() -> None:
    events = _sample_events()
    scanned = sum(DEFAULT.may_contain_secret(raw) for raw in events)
    assert scanned <= len(events) // 100


def test_masking_keeps_formatting_and_escapes_byte_for_byte() -> None:
    raw = (
        '{\n  "url" : "https:\\/\\/example.org\\/caf\\u00e9",\n  "n": 1.50,\n'
        '  "form": {"password" :\t"p\\u00e4ss"},\n  "e": "\\ud83d\\ude00"\n}'
    )
    masked = mask_json_text(raw)
    assert masked == raw.replace('"p\\u00e4ss"', '"<redacted:password>"')


def test_a_secret_inside_a_json_string_is_masked_and_both_stay_valid_json() -> None:
    inner = orjson.dumps({"password": "hunter2", "user": "bob", "n": 1}).decode()
    raw = orjson.dumps({"requestParameters": {"body": inner}}).decode()
    masked = mask_json_text(raw)
    body = orjson.loads(masked)["requestParameters"]["body"]
    assert orjson.loads(body) == {"password": "<redacted:password>", "user": "bob", "n": 1}
    assert "hunter2" not in masked


def test_headers_inside_a_string_value_are_masked() -> None:
    raw = orjson.dumps({"request": f"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {JWT}"})
    masked = orjson.loads(mask_json_text(raw.decode()))["request"]
    assert masked == "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer <redacted:jwt>"


def test_a_secret_after_an_escaped_newline_is_found() -> None:
    raw = orjson.dumps({"note": f"line\n{VISA}\n{GITHUB}"}).decode()
    masked = mask_json_text(raw)
    assert "1111 1111" not in masked and GITHUB not in masked


def test_a_card_number_as_a_json_number_is_masked() -> None:
    assert mask_json_text('{"pan":4111111111111111,"bytes":4096}') == (
        '{"pan":"<redacted:card-number>","bytes":4096}'
    )


def test_text_that_is_not_json_is_masked_as_free_text() -> None:
    raw = f'{{"truncated": "{JWT}'
    assert mask_json_text(raw) == '{"truncated": "<redacted:jwt>'


def test_a_json_column_value_stays_valid_json() -> None:
    extra = orjson.dumps({"access_key_id": "AKIAIOSFODNN7EXAMPLE", "token": "t0k3n-value"})
    masked = mask_text(extra.decode())
    assert orjson.loads(masked) == {
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "token": "<redacted:token>",
    }


def test_nothing_to_mask_returns_the_same_object() -> None:
    raw = '{"a":"b"}'
    assert mask_json_text(raw) is raw


# -- the list itself -----------------------------------------------------------------------------


def test_every_built_in_detector_is_named_and_documented() -> None:
    names = [d.name for d in DEFAULT_DETECTORS]
    assert len(names) == len(set(names))
    assert all(d.doc for d in DEFAULT_DETECTORS)
    assert "card-number" in names and "jwt" in names and "password" in names


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112")


def test_a_custom_detector_extends_the_list() -> None:
    custom = Detector.compile("internal-token", value=r"itk_[A-Za-z0-9]{12}", show_prefix=4)
    detectors = DetectorSet([custom, *DEFAULT_DETECTORS])
    raw = '{"note":"use itk_AbCdEf123456 now","token_id":"x"}'
    assert (
        mask_json_text(raw, detectors)
        == '{"note":"use itk_…<redacted:internal-token> now","token_id":"x"}'
    )
    assert mask_json_text(raw) == raw


def test_detector_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        DetectorSet([*DEFAULT_DETECTORS, DEFAULT_DETECTORS[0]])


def test_a_detector_needs_a_pattern() -> None:
    with pytest.raises(ValueError, match="field or a value"):
        Detector(name="nothing")


def test_keys_and_secrets_disguised_with_escapes_are_still_found() -> None:
    raw = '{"pass\\u0077ord":"x1","note":"e\\u0079J' + JWT[3:] + '","q":"a\\u0026b"}'
    assert mask_json_text(raw) == (
        '{"pass\\u0077ord":"<redacted:password>","note":"<redacted:jwt>","q":"a\\u0026b"}'
    )


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mysql --password=Hunter2pw -h db", "mysql --password=<redacted:password> -h db"),
        ("run -token=abc123xyz", "run -token=<redacted:token>"),
        ("--password=Hunter2pw", "--password=<redacted:password>"),
        ("authorization=SomeOpaqueCredentialValue", "authorization=<redacted:authorization>"),
        (
            "GET /api Authorization: AWS4-HMAC-SHA256 Credential=AKIAX/2026, Signature=fe5f80",
            "GET /api Authorization: AWS4-HMAC-SHA256 <redacted:authorization>",
        ),
        (
            'garbage {"msg":"{\\"password\\":\\"Hunter2pw\\",\\"user\\":\\"carol\\"}"',
            'garbage {"msg":"{\\"password\\":\\"<redacted:password>\\",\\"user\\":\\"carol\\"}"',
        ),
        ('x "password":"hun\\"ter2" y', 'x "password":"<redacted:password>" y'),
        (
            'not json \\xff "creds":{"password":{"v":"NestedPw9"}}, "ok": 1',
            'not json \\xff "creds":{"password":<redacted:password>}, "ok": 1',
        ),
        ("db_pass=Hunter2pw --verbose", "db_pass=<redacted:password> --verbose"),
        (
            "sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls",
            "sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls",
        ),
        (
            "postgres://admin:P@ssw0rd@db.internal:5432/app",
            "postgres://admin:<redacted:connection-string>@db.internal:5432/app",
        ),
    ],
)
def test_free_text_secrets_in_command_lines_headers_and_json_fragments(
    text: str, masked: str
) -> None:
    """Text that is not JSON: a rejected line, a command line, a header."""
    assert mask_json_text(text) == masked


@pytest.mark.parametrize("slashes", ["\\u002f\\u002f", "\\u002F/", "\\/\\/"])
def test_a_connection_string_with_escaped_slashes_is_masked_and_its_escapes_kept(
    slashes: str,
) -> None:
    raw = f'{{"url":"https:{slashes}admin:EscPw12345@db.internal\\u002fx","n":"caf\\u00e9"}}'
    assert mask_json_text(raw) == raw.replace("EscPw12345", "<redacted:connection-string>")


def test_only_the_stretch_holding_secrets_is_written_anew() -> None:
    raw = '{"m":"caf\\u00e9 \\ud83d\\ude00 password=abc123 \\u00e9"}'
    assert mask_json_text(raw) == raw.replace("abc123", "<redacted:password>")


def test_the_value_of_a_name_and_value_pair_named_like_a_secret_is_masked() -> None:
    """As CloudTrail writes an ECS container's environment, or headers as a list."""
    raw = orjson.dumps(
        {
            "environment": [
                {"name": "DB_PASSWORD", "value": "EnvPassw0rd!"},
                {"name": "REGION", "value": "eu-west-1"},
                {"value": "k3yValue", "name": "X-Api-Key"},
            ],
            "n": [{"Name": "client_secret", "Value": 12345}],
        }
    ).decode()
    assert orjson.loads(mask_json_text(raw)) == {
        "environment": [
            {"name": "DB_PASSWORD", "value": "<redacted:password>"},
            {"name": "REGION", "value": "eu-west-1"},
            {"value": "<redacted:api-key>", "name": "X-Api-Key"},
        ],
        "n": [{"Name": "client_secret", "Value": "<redacted:secret>"}],
    }
