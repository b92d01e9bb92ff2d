"""Hostile text: terminal escapes made visible, formulas defused for spreadsheets."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditcli.privacy.text import has_unsafe, spreadsheet_safe, visible

C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x80, 0xA0)]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
SEPARATORS = ["\u2028", "\u2029"]
UNSAFE_CHARS = [*C0, "\x7f", *C1, *BIDI, *ZERO_WIDTH, *SEPARATORS]
UNSAFE_CLASS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("a\rb", "a\\rb"),
        ("a\tb", "a\\tb"),
        ("\x00", "\\x00"),
        ("\x07bell", "\\x07bell"),
        ("\x08", "\\x08"),
        ("\x1f", "\\x1f"),
        ("\x7f", "\\x7f"),
        ("\x85", "\\x85"),
        ("\x9b31m", "\\x9b31m"),
        ("\x9d8;;x\x9c", "\\x9d8;;x\\x9c"),
    ],
)
def test_c0_c1_and_del_are_shown_as_escapes(text: str, shown: str) -> None:
    assert visible(text) == shown


def test_esc_sequences_are_shown_with_a_visible_escape() -> None:
    assert visible("\x1b[31mred\x1b[0m") == "\\e[31mred\\e[0m"
    assert visible("\x1b[2J\x1b[H") == "\\e[2J\\e[H"
    assert visible("\x1b]0;pwned title\x07") == "\\e]0;pwned title\\x07"


def test_osc_8_hyperlinks_are_shown_not_followed() -> None:
    link = "\x1b]8;;https://evil.example/\x1b\\innocent\x1b]8;;\x1b\\"
    assert visible(link) == "\\e]8;;https://evil.example/\\e\\innocent\\e]8;;\\e\\"


@pytest.mark.parametrize("char", BIDI)
def test_bidi_overrides_and_isolates_are_shown_by_code_point(char: str) -> None:
    assert visible(f"a{char}b") == f"a\\u{ord(char):04x}b"


def test_a_right_to_left_override_cannot_disguise_a_file_name() -> None:
    assert visible("invoice\u202egnp.exe") == "invoice\\u202egnp.exe"


@pytest.mark.parametrize("char", ZERO_WIDTH)
def test_zero_width_characters_are_shown_by_code_point(char: str) -> None:
    assert visible(f"ad{char}min") == f"ad\\u{ord(char):04x}min"


def test_line_separators_soft_hyphen_and_tag_characters_are_shown() -> None:
    assert visible("a\u2028b\u2029c") == "a\\u2028b\\u2029c"
    assert visible("pay\u00adpal") == "pay\\xadpal"
    assert visible("x\U000e0041") == "x\\U000e0041"


@pytest.mark.parametrize(
    "text",
    [
        "é",
        "zoë",
        "漢字",
        "🙂",
        "👍🏽",
        "Ünïcödé ß",
        "Ωμέγα",
        "עברית",
        "العربية",
        "[bold]x[/]",
        "\\e[31m",
        "tab\\t",
    ],
)
def test_ordinary_unicode_and_text_pass_through_untouched(text: str) -> None:
    assert visible(text) == text
    assert not has_unsafe(text)


def test_has_unsafe_says_whether_visible_changes_text() -> None:
    assert has_unsafe("a\x1bb")
    assert has_unsafe("\u200b")
    assert not has_unsafe("plain text")


def test_long_text_is_cut_after_escaping_with_a_marker_saying_how_much() -> None:
    assert visible("a" * 10, 4) == "aaaa…(+6 chars)"
    assert visible("a" * 4, 4) == "aaaa"
    assert visible("\x1b" * 3, 4) == "\\e\\e…(+2 chars)"
    assert visible("abc", None) == "abc"


@given(
    st.text(alphabet=st.sampled_from(UNSAFE_CHARS) | st.characters(), max_size=40),
    st.none() | st.integers(0, 50),
)
def test_visible_output_never_holds_a_control_bidi_or_invisible_character(
    text: str, max_chars: int | None
) -> None:
    shown = visible(text, max_chars)
    assert UNSAFE_CLASS.search(shown) is None
    assert not has_unsafe(shown)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp", "Cs"))))
def test_visible_leaves_printable_text_alone(text: str) -> None:
    if not has_unsafe(text):
        assert visible(text) == text


@given(st.text(alphabet=st.sampled_from(UNSAFE_CHARS)))
def test_every_listed_character_is_escaped(text: str) -> None:
    shown = visible(text)
    assert len(shown) >= 2 * len(text)
    assert shown.count("\\") == len(text)


@pytest.mark.parametrize(
    "cell", ["=cmd()", "=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\r=1", "=", "-"]
)
def test_formula_cells_get_a_leading_quote(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "cmd()", "1", "a=b", "'=x", "x-1", "é"])
def test_other_cells_are_unchanged(cell: str) -> None:
    assert spreadsheet_safe(cell) == cell


@given(st.text())
def test_spreadsheet_safe_only_ever_prepends_one_quote(cell: str) -> None:
    safe = spreadsheet_safe(cell)
    assert safe in (cell, "'" + cell)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
