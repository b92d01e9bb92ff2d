"""Known names that free text's fields and words would split, found whole.

Free text is searched for known names as delimited fields and as words (see
``apply``), which never finds ``Smith, John``, ``O'Brien`` or ``Ann Lee`` inside a
sentence: each is looked for here first, as a whole, at word boundaries. Names are
indexed by their first word, so a text costs one pass over its words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

__all__ = ["SplitNames"]

#: A word as free text's word pass reads it.
_WORD = re.compile(r"[\w.@-]+")


def _is_word_char(char: str) -> bool:
    return bool(_WORD.fullmatch(char))


class SplitNames:
    """Names holding a character that splits words, by their first word."""

    def __init__(self, names: Iterable[str]) -> None:
        by_word: dict[str, list[tuple[str, int]]] = {}
        for name in names:
            words = _WORD.search(name)
            if words is None or words.group() == name:
                continue  # no word at all, or one word: the word pass finds it
            by_word.setdefault(words.group(), []).append((name, words.start()))
        for entries in by_word.values():
            entries.sort(key=lambda entry: len(entry[0]), reverse=True)  # longest first
        self._by_word = by_word

    def __bool__(self) -> bool:
        return bool(self._by_word)

    def replace(self, text: str, token: Callable[[str], str | None]) -> str:
        """``text`` with each name found whole replaced by ``token(name)`` (None: left)."""
        if not self._by_word:
            return text
        pieces: list[str] = []
        position = 0
        for match in _WORD.finditer(text):
            if match.start() < position:
                continue
            for name, offset in self._by_word.get(match.group(), ()):
                start = match.start() - offset
                end = start + len(name)
                if start < position or not text.startswith(name, start):
                    continue
                if not self._bounded(text, start, end, name):
                    continue
                replaced = token(name)
                if replaced is not None:
                    pieces += [text[position:start], replaced]
                    position = end
                break
        if not pieces:
            return text
        pieces.append(text[position:])
        return "".join(pieces)

    @staticmethod
    def _bounded(text: str, start: int, end: int, name: str) -> bool:
        """True when the name is not part of a longer word at either end."""
        before = start > 0 and _is_word_char(name[0]) and _is_word_char(text[start - 1])
        after = end < len(text) and _is_word_char(name[-1]) and _is_word_char(text[end])
        return not (before or after)
