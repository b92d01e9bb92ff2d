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


def test_a_name_may_end_a_sentence_but_not_sit_inside_a_longer_word() -> None:
    """A dot, hyphen or at sign joins words only between letters; a combining mark
    belongs to the letter before it (``José`` in NFD is not inside ``Joséphine``)."""
    names = SplitNames(["Ann Lee", "Jose\u0301 Ruiz", "Ann Jose\u0301"])
    assert names.replace("by Ann Lee. Then Ann Lee-Smith, ann.Ann Lee", _token) == (
        "by <ANN LEE>. Then Ann Lee-Smith, ann.Ann Lee"
    )
    assert names.replace("(Ann Lee) -Ann Lee- Ann Lee@", _token) == (
        "(<ANN LEE>) -<ANN LEE>- <ANN LEE>@"
    )
    nfd = "Jose\u0301 Ruiz"
    assert names.replace(f"{nfd}\u0301x and {nfd}.", _token) == f"{nfd}\u0301x and {_token(nfd)}."
    ends = "Ann Jose\u0301"
    assert names.replace(f"{ends}phine, {ends}", _token) == f"{ends}phine, {_token(ends)}"


def test_many_names_with_one_first_word_are_looked_up_by_length() -> None:
    names = SplitNames([f"John {last}" for last in ("Lee", "Smith", "Smithers", "Li")])
    assert names.replace("John Smithers, John Smith and John Li; John Doe", _token) == (
        "<JOHN SMITHERS>, <JOHN SMITH> and <JOHN LI>; John Doe"
    )


def test_a_name_is_found_without_the_spaces_around_it_and_from_any_first_word() -> None:
    """A CSV cell's `` Bob Ray`` is found as ``Bob Ray`` (its token still the padded
    name's), a name may start with a dot or end with one."""
    names = SplitNames([" Bob Ray", ".NET Team", "Ann Lee.", " Robert"])
    seen: list[str] = []

    def token(name: str) -> str:
        seen.append(name)
        return "<T>"

    text = "met Bob Ray, the .NET Team and Ann Lee. (not Ann Lee.com), Robert"
    assert names.replace(text, token) == "met <T>, the <T> and <T> (not Ann Lee.com), <T>"
    assert seen == [" Bob Ray", ".NET Team", "Ann Lee.", " Robert"]  # one word, padded too


def test_one_word_names_are_left_to_the_word_pass_and_none_keeps_a_name() -> None:
    assert NAMES.replace("alice and O'Brien", _token) == "alice and <O'BRIEN>"
    assert NAMES.replace("O'Brien", lambda name: None) == "O'Brien"
    assert not SplitNames(["alice", "bob"])


@given(st.text(alphabet="abn ,'-.LSAOBJhimrtoe", max_size=60))
def test_text_without_a_whole_name_comes_back_as_it_was(text: str) -> None:
    replaced = NAMES.replace(text, _token)
    assert replaced.replace("<", "").replace(">", "").lower() == text.lower()
    assert ("<" in replaced) == (replaced != text)
