"""Defusing attacker-controlled text before a terminal or spreadsheet sees it.

Log content is written by whoever produced the events. ``visible`` turns every
character a terminal would act on, or that hides or reorders text, into a
visible escape, so a table shows exactly what is there and nothing happens.
"""

from __future__ import annotations

import re

#: C0 and C1 controls, DEL, bidi overrides and isolates, zero-width and
#: invisible formatting characters, line and paragraph separators.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}
#: Spreadsheet formula triggers (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def visible(text: str, max_chars: int | None = None) -> str:
    """``text`` with unsafe characters escaped, truncated to ``max_chars`` with a marker."""
    escaped = _UNSAFE.sub(_escape, text)
    if max_chars is not None and len(escaped) > max_chars:
        cut = len(escaped) - max_chars
        return f"{escaped[:max_chars]}…(+{cut} chars)"
    return escaped


def has_unsafe(text: str) -> bool:
    """True when ``visible`` would change ``text``."""
    return _UNSAFE.search(text) is not None


def spreadsheet_safe(cell: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (prefixed with ')."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def os_text(value: str) -> str:
    """Text the system handed over (an argument, a file name) as valid Unicode: bytes
    that are not UTF-8, which Python keeps as lone surrogates that no database or
    output can hold, shown as ``\\xNN``."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
