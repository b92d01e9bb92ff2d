"""Known names that free text's fields and words would split, found whole.

Free text is searched for known names as delimited fields and as words (see
``apply``), which never finds ``Smith, John``, ``O'Brien`` or ``Ann Lee`` inside a
sentence: each is looked for here first, as a whole, where it is not part of a longer
word. Names are indexed by their first word and length, so a text costs one pass
over its words and a set lookup for each length a name starting with that word has.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

__all__ = ["SplitNames"]

#: A word as free text's word pass reads it.
_WORD = re.compile(r"[\w.@-]+")
#: Joiners inside a word (``lee.smith``, ``Lee-Smith``, ``ann@corp``): part of it only
#: between two letters or digits, so a name may end a sentence (``Ann Lee.``).
_JOINERS = frozenset(".@-")
_LEADING = "".join(sorted(_JOINERS))


def _letter(char: str) -> bool:
    """A letter, digit or underscore, or a mark combining with the one before."""
    return char.isalnum() or char == "_" or unicodedata.combining(char) > 0


class SplitNames:
    """Names holding a character that splits words, by their first word and length."""

    def __init__(self, names: Iterable[str]) -> None:
        index: dict[str, dict[int, dict[int, set[str]]]] = {}
        # A name is looked for without the spaces around it (a CSV cell's " Bob Ray"),
        # and stands for itself as known (its token is the actor column's).
        self._known: dict[str, str] = {}
        for name in names:
            bare = name.strip()
            first = _WORD.search(bare)
            if first is None or first.group() == name:
                continue  # no word at all, or one word as known: the word pass finds it
            word = first.group().lstrip(_LEADING)  # as a text's words are looked up
            if not word:
                continue
            if self._known.setdefault(bare, name) != name and name == bare:
                self._known[bare] = name  # the name as written wins over a padded one
            by_length = index.setdefault(word, {}).setdefault(first.end() - len(word), {})
            by_length.setdefault(len(bare), set()).add(bare)
        # first word -> [(its offset in the names, their lengths longest first, names
        # by length)]
        self._index = {
            word: [(offset, sorted(by, reverse=True), by) for offset, by in at.items()]
            for word, at in index.items()
        }

    def __bool__(self) -> bool:
        return bool(self._index)

    def replace(self, text: str, token: Callable[[str], str | None]) -> str:
        """``text`` with each name found whole replaced by ``token(name)`` (None: left)."""
        if not self._index:
            return text
        pieces: list[str] = []
        position = 0
        for match in _WORD.finditer(text):
            word = match.group().lstrip(_LEADING)  # "-Ann": a dash before the name
            begin = match.end() - len(word)
            if begin < position:
                continue
            found = self._name_at(text, word, begin, position)
            if found is None:
                continue
            start, bare = found
            replaced = token(self._known[bare])
            if replaced is not None:
                pieces += [text[position:start], replaced]
                position = start + len(bare)
        if not pieces:
            return text
        pieces.append(text[position:])
        return "".join(pieces)

    def _name_at(self, text: str, word: str, begin: int, after: int) -> tuple[int, str] | None:
        """(start, name): the longest known name whose first word is ``word``, which
        stands at ``begin``, that starts at ``after`` or later."""
        for offset, lengths, names in self._index.get(word, ()):
            start = begin - offset
            if start < after:
                continue
            for length in lengths:
                candidate = text[start : start + length]
                if candidate in names[length] and _whole(text, start, start + length):
                    return start, candidate
        return None


def _whole(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` is not part of a longer word at either end."""
    return not (_joined(text, start, start - 1, -1) or _joined(text, end - 1, end, 1))


def _joined(text: str, inside: int, outside: int, step: int) -> bool:
    """True when the character at ``outside`` continues the word that the one at
    ``inside`` (the name's own edge) is part of."""
    if not 0 <= outside < len(text):
        return False
    char = text[outside]
    if text[inside] in _JOINERS:  # a name ending "Lee." is not in "Lee.com"
        return _letter(char)
    if not _letter(text[inside]):
        return False
    if _letter(char):
        return True
    beyond = outside + step
    return char in _JOINERS and 0 <= beyond < len(text) and _letter(text[beyond])
