"""Each adapter's ``verbatim`` columns are copies of one source string, never built."""

from __future__ import annotations

import re

import pytest

from auditcli.ingest import ADAPTERS
from auditcli.ingest.adapter import JsonAdapter

_SCALAR = re.compile(r"_s\(\{\{[^{}]+\}\}\)")
_COALESCE = re.compile(r"coalesce\(\s*S(?:,\s*S)*\s*\)")
#: Picking one copy or none by a condition still copies: CASE WHEN ... THEN S END.
_CHOICE = re.compile(r"CASE WHEN (?:(?!THEN).)+ THEN S END", re.DOTALL)
#: So does dropping a placeholder value: NULLIF(S, 'unknown').
_UNLESS = re.compile(r"NULLIF\(\s*S,\s*'[^']*'\s*\)")


def copies_one_string(expression: str) -> bool:
    """True when ``expression`` only ever yields some source scalar unchanged, or NULL."""
    reduced = _SCALAR.sub("S", expression)
    while True:
        shorter = _UNLESS.sub("S", _CHOICE.sub("S", _COALESCE.sub("S", reduced)))
        if shorter == reduced:
            return reduced.strip() == "S"
        reduced = shorter


@pytest.mark.parametrize("adapter", ADAPTERS, ids=[a.name for a in ADAPTERS])
def test_verbatim_columns_are_copied_unchanged(adapter: JsonAdapter) -> None:
    layers = [adapter] + ([adapter.fallback] if adapter.fallback else [])
    built = [
        (layer.name, column)
        for layer in layers
        for column in adapter.verbatim
        if column in layer.columns and not copies_one_string(layer.columns[column])
    ]
    assert built == []


def test_the_check_tells_copies_from_built_values() -> None:
    assert copies_one_string("coalesce(_s({{a}}), _s({{b.c}}))")
    assert copies_one_string("coalesce(coalesce(_s({{a}})), CASE WHEN x = 1 THEN _s({{b}}) END)")
    assert not copies_one_string("_s({{a}}) || ':' || _s({{b}})")
    assert not copies_one_string("lower(_s({{a}}))")
    assert copies_one_string("coalesce(NULLIF(_s({{a}}), 'unknown'), _s({{b}}))")
    assert not copies_one_string("NULLIF(_s({{a}}), _s({{b}}))")
