"""The policy file: found upwards, read into a Policy, every mistake named with file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditcli.errors import InputError, UsageError
from auditcli.privacy.policy import POLICY_FILE_NAME, Policy, find_policy, read_policy
from auditcli.privacy.secrets import DEFAULT, mask_json_text, mask_text

GOOD = """
[privacy]
pseudonymize = true

[secrets]
disabled = ["card-number"]
extra_detectors = [
  { name = "internal-token", value = "itk_[A-Za-z0-9]{12}", show_prefix = 4 },
  { name = "vault-secret", field = "vault[-_]?secret" },
]
"""


def _write(directory: Path, text: str, name: str = POLICY_FILE_NAME) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_policy_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    policy = read_policy(path)
    assert policy.pseudonymize is True
    assert policy.disabled_detectors == ("card-number",)
    assert [d.name for d in policy.extra_detectors] == ["internal-token", "vault-secret"]
    assert policy.source == path


def test_policy_detectors_add_the_extra_ones_and_drop_the_disabled(tmp_path: Path) -> None:
    detectors = read_policy(_write(tmp_path, GOOD)).detectors()
    names = [d.name for d in detectors]
    assert names[:2] == ["internal-token", "vault-secret"]
    assert "card-number" not in names and "jwt" in names
    raw = '{"note":"itk_AbCdEf123456","Vault_Secret":"s3cr3t","card":"4111 1111 1111 1111"}'
    assert mask_json_text(raw, detectors) == (
        '{"note":"itk_…<redacted:internal-token>","Vault_Secret":"<redacted:vault-secret>",'
        '"card":"4111 1111 1111 1111"}'
    )
    assert mask_text("vault-secret=s3cr3t", detectors) == "vault-secret=<redacted:vault-secret>"


def test_no_policy_means_the_defaults() -> None:
    assert Policy().pseudonymize is False
    assert Policy().detectors() is DEFAULT


def test_an_empty_file_is_the_default_policy(tmp_path: Path) -> None:
    policy = read_policy(_write(tmp_path, ""))
    assert policy.pseudonymize is False
    assert policy.detectors() is DEFAULT


def test_a_built_in_detector_can_be_replaced_once_disabled(tmp_path: Path) -> None:
    text = '[secrets]\ndisabled = ["jwt"]\nextra_detectors = [{name = "jwt", value = "eyJ[a-z]+"}]'
    policy = read_policy(_write(tmp_path, text))
    assert [d.name for d in policy.detectors()].count("jwt") == 1


def test_the_policy_is_found_in_a_parent_directory(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    deep = tmp_path / "case" / "logs"
    deep.mkdir(parents=True)
    assert find_policy(deep) == path
    assert find_policy(deep / "some.jsonl") == path


def test_the_nearest_policy_wins(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    inner = tmp_path / "case"
    inner.mkdir()
    nearest = _write(inner, "")
    assert find_policy(inner) == nearest


def test_no_policy_anywhere_is_none(tmp_path: Path) -> None:
    assert find_policy(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("[privacy\n", "", "not valid TOML"),
        ("[output]\nformat = 'csv'\n", "output", "unknown table"),
        ("privacy = 1\n", "privacy", "expected a table"),
        ("[privacy]\npseudonymise = true\n", "privacy.pseudonymise", "unknown key"),
        ("[privacy]\npseudonymize = 'yes'\n", "privacy.pseudonymize", "true or false"),
        ("[secrets]\ndisabled = 'jwt'\n", "secrets.disabled", "list of detector names"),
        ("[secrets]\ndisabled = ['jwts']\n", "secrets.disabled", "no built-in detector 'jwts'"),
        ("[secrets]\nextra_detectors = {}\n", "secrets.extra_detectors", "list of tables"),
        ("[secrets]\nextra_detectors = ['x']\n", "secrets.extra_detectors[0]", "expected a table"),
        ("[secrets]\nextra_detectors = [{value = 'x'}]\n", "extra_detectors[0].name", "a name"),
        (
            "[secrets]\nextra_detectors = [{name = 'Bad Name', value = 'x'}]\n",
            "extra_detectors[0].name",
            "a-z, 0-9",
        ),
        (
            "[secrets]\nextra_detectors = [{name = 'jwt', value = 'x'}]\n",
            "extra_detectors[0].name",
            "built-in",
        ),
        ("[secrets]\nextra_detectors = [{name = 'x'}]\n", "extra_detectors[0]", "field or a value"),
        (
            "[secrets]\nextra_detectors = [{name = 'x', value = '(unclosed'}]\n",
            "extra_detectors[0].value",
            "invalid regular expression",
        ),
        (
            "[secrets]\nextra_detectors = [{name = 'x', field = '[a-', value = 'ok'}]\n",
            "extra_detectors[0].field",
            "invalid regular expression",
        ),
        (
            "[secrets]\nextra_detectors = [{name = 'x', field = '^vault$'}]\n",
            "extra_detectors[0].field",
            "anchors",
        ),
        (
            "[secrets]\nextra_detectors = [{name = 'x', value = ''}]\n",
            "extra_detectors[0].value",
            "regular expression string",
        ),
        (
            "[secrets]\nextra_detectors = [{name = 'x', value = 'a', show_prefix = -1}]\n",
            "extra_detectors[0].show_prefix",
            "whole number",
        ),
        (
            "[secrets]\nextra_detectors = [{name = 'x', value = 'a', show_prefix = true}]\n",
            "extra_detectors[0].show_prefix",
            "whole number",
        ),
        (
            "[secrets]\nextra_detectors = [{name = 'x', value = 'a', label = 'y'}]\n",
            "extra_detectors[0].label",
            "unknown key",
        ),
        (
            "[secrets]\nextra_detectors = [{name = 'x', value = 'a'}, {name = 'x', value = 'b'}]\n",
            "extra_detectors[1].name",
            "used twice",
        ),
    ],
)
def test_a_bad_policy_names_the_file_and_the_key(
    tmp_path: Path, text: str, where: str, what: str
) -> None:
    path = _write(tmp_path, text, "policy.toml")
    with pytest.raises(UsageError) as raised:
        read_policy(path)
    message = raised.value.message
    assert message.startswith(f"{path}: ")
    assert where in message
    assert what in message


def test_a_missing_policy_file_is_unreadable_input_as_other_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the policy file"):
        read_policy(tmp_path / "nope.toml")


def test_escaped_anchor_characters_are_allowed(tmp_path: Path) -> None:
    text = r"""[secrets]
extra_detectors = [{name = "price", value = '\$[0-9]+[\^]x'}]
"""
    policy = read_policy(_write(tmp_path, text))
    assert mask_text("costs $42^x", policy.detectors()) == "costs <redacted:price>"
