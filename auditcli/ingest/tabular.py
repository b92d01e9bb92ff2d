"""Rows of a table (CSV, Parquet) as JSON objects: dotted column names become nesting.

A column ``actor_location.country_code`` becomes ``{"actor_location": {"country_code":
...}}``, so the paths adapters read (``actor.email``) find it, unless another column is
named by one of its prefixes (``actor`` beside ``actor.email``): then it keeps its
dotted name as one key (a ``--mapping`` reaches it as ``"actor.email"``).
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Sequence
from typing import Any

#: Key under which a row's cells beyond the header's columns are kept, as a list.
SURPLUS_KEY = "_extra_cells"
#: What may separate a CSV file's cells, tried in this order: comma, tab, semicolon
#: (what spreadsheets write where the comma is the decimal sign).
DELIMITERS = (",", "\t", ";")
#: A header cell: a name, not data (no braces, brackets, quotes or control characters;
#: not starting like a number or a time).
_NAME = re.compile(r"[^\x00-\x1f{}\[\]\"0-9+\-.][^\x00-\x1f{}\[\]\"]{0,127}")


@functools.lru_cache(maxsize=64)
def header_row(line: str) -> tuple[str, tuple[str, ...]] | None:
    """``(delimiter, names as written)`` when ``line`` is a CSV header row: two or more
    distinct names (empty ones aside) split by the first of ``DELIMITERS`` that gives
    them; None when it is not one."""
    if line.lstrip()[:1] in ("{", "[", ""):
        return None
    for delimiter in DELIMITERS:
        try:
            names = next(csv.reader([line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        stripped = [name.strip() for name in names if name.strip()]
        if (
            len(set(stripped)) >= 2
            and all(_NAME.fullmatch(name) for name in stripped)
            and any(any(c.isalpha() for c in name) for name in stripped)
        ):
            return delimiter, tuple(names)
    return None


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` stripped, empty ones named ``column_N``, repeats suffixed ``_2``, ``_3``."""
    out: list[str] = []
    seen: set[str] = set()
    for index, name in enumerate(names, start=1):
        base = name.strip() or f"column_{index}"
        candidate, suffix = base, 1
        while candidate in seen:
            suffix += 1
            candidate = f"{base}_{suffix}"
        seen.add(candidate)
        out.append(candidate)
    return out


def key_paths(names: Sequence[str]) -> list[tuple[str, ...]]:
    """Where each column goes in a row's object (see the module docstring)."""
    present = set(names)
    paths: list[tuple[str, ...]] = []
    for name in names:
        parts = name.split(".")
        prefixes = (".".join(parts[:end]) for end in range(1, len(parts)))
        if len(parts) > 1 and all(parts) and not any(p in present for p in prefixes):
            paths.append(tuple(parts))
        else:
            paths.append((name,))
    return paths


def nested(paths: Sequence[tuple[str, ...]], values: Sequence[Any]) -> dict[str, Any]:
    """One row's object: ``values`` placed at ``paths`` (cells past the paths kept aside)."""
    row: dict[str, Any] = {}
    for path, value in zip(paths, values, strict=False):
        node = row
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    if len(values) > len(paths):
        row[SURPLUS_KEY] = list(values[len(paths) :])
    return row
