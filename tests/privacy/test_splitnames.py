"""Known names that fields and words would split, found whole in free text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from auditcli.privacy.splitnames import SplitNames

NAMES = SplitNames(["Smith, John", "O'Brien", "Ann Lee", "Ann Lee-Smith", "alice", "(x) y"])


def _token(name: str) -> str:
    return f"<{name.upper()}>"


def test_names_are_found_whole_longest_first_at_word_boundaries() -> None:
    text = "Smith, John met O'Brien and Ann Lee-Smith, then Ann Lee; O'Briens left (x) y"
    assert NAMES.replace(text, _token) == (
        "<SMITH, JOHN> met <O'BRIEN> and <ANN LEE-SMITH>, then <ANN LEE>; O'Briens left <(X) Y>"
    )


def test_one_word_names_are_left_to_the_word_pass_and_none_keeps_a_name() -> None:
    assert NAMES.replace("alice and O'Brien", _token) == "alice and <O'BRIEN>"
    assert NAMES.replace("O'Brien", lambda name: None) == "O'Brien"
    assert not SplitNames(["alice", "bob"])


@given(st.text(alphabet="abn ,'-.LSAOBJhimrtoe", max_size=60))
def test_text_without_a_whole_name_comes_back_as_it_was(text: str) -> None:
    replaced = NAMES.replace(text, _token)
    assert replaced.replace("<", "").replace(">", "").lower() == text.lower()
    assert ("<" in replaced) == (replaced != text)
