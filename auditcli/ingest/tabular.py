"""Rows of a table (CSV, Parquet) as JSON objects: dotted column names become nesting.

A column ``actor_location.country_code`` becomes ``{"actor_location": {"country_code":
...}}``, so the paths adapters read (``actor.email``) find it, unless another column is
named by one of its prefixes (``actor`` beside ``actor.email``): then it keeps its
dotted name as one key (a ``--mapping`` reaches it as ``"actor.email"``).
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Sequence
from typing import Any

#: Key under which a row's cells beyond the header's columns are kept, as a list.
SURPLUS_KEY = "_extra_cells"
#: What may separate a CSV file's cells, tried in this order: comma, tab, semicolon
#: (what spreadsheets write where the comma is the decimal sign).
DELIMITERS = (",", "\t", ";")
#: A header cell: a name, not data (no braces, brackets, quotes, ``=`` or control
#: characters; not starting like a number or a time).
_NAME = re.compile(r"[^\x00-\x1f{}\[\]\"=0-9+\-.][^\x00-\x1f{}\[\]\"=]{0,127}")


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].removesuffix("\r")


@functools.lru_cache(maxsize=64)
def header_row(text: str) -> tuple[str, tuple[str, ...]] | None:
    """``(delimiter, names)`` when the first line of ``text`` is a CSV header row: two
    or more distinct names (empty ones aside), split by whichever of ``DELIMITERS``
    gives the most (the first of them on a tie); None when it is not one."""
    line = _first_line(text)
    if line.lstrip()[:1] in ("{", "[", ""):
        return None
    found = [(d, names) for d in DELIMITERS if (names := _names(line, d)) is not None]
    return max(found, key=lambda pair: len(pair[1])) if found else None


def _names(line: str, delimiter: str) -> tuple[str, ...] | None:
    try:
        names = next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return None
    stripped = [name.strip() for name in names if name.strip()]
    if (
        len(set(stripped)) >= 2
        and all(_NAME.fullmatch(name) for name in stripped)
        and any(any(c.isalpha() for c in name) for name in stripped)
    ):
        return tuple(names)
    return None


def csv_delimiter(head: str) -> str | None:
    """The delimiter of a CSV file that starts with ``head`` (see ``header_row``), or
    None when it does not start with a header row. A tab or a semicolon also needs the
    first row, when ``head`` holds it whole, to have as many cells as the header: text
    that is not CSV splits on them too (a sudo line in a syslog, a banner before JSON)."""
    first = _first_line(head)
    found = header_row(first)  # the first line alone: the cache keeps what it is given
    if found is None or found[0] == ",":
        return None if found is None else ","
    delimiter = found[0]
    try:
        records = csv.reader(io.StringIO(head[: head.rfind("\n") + 1]), delimiter=delimiter)
        header = next(records, None)
        row = next((row for row in records if row), None)
    except csv.Error:
        header = row = None
    if header is not None and (row is None or len(row) == len(header)):
        return delimiter
    return "," if _names(first, ",") else None


@functools.lru_cache(maxsize=64)
def header_cells(header: str, delimiter: str | None = None) -> tuple[str, ...]:
    """The column names of a CSV header row as stored (a quoted name may hold a line
    break), split by ``delimiter``, the one its rows were read by (``csv_delimiter``),
    or else as its first line says (``header_row``); empty when it is no header row."""
    found = header_row(header)
    if found is None:
        return ()
    delimiter = delimiter or found[0]
    try:
        return tuple(next(csv.reader([header], delimiter=delimiter)))
    except (csv.Error, StopIteration):
        return _names(_first_line(header), delimiter) or found[1]


def header_readings(
    header: str, delimiter: str | None
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each ``(delimiter, column names)`` a row of a CSV file with header row ``header``
    is read by to find its secrets and names: the delimiter its rows were loaded by,
    and the one the header's first line splits into the most names when that differs
    (a ragged first row makes a load fall back to commas: either may be the file's).
    For a database that did not keep the delimiter (None), the comma stands in for it
    when the header also splits into names on commas. Empty for no header row."""
    found = header_row(header)
    if found is None:
        return ()
    if delimiter is None and found[0] != "," and _names(_first_line(header), ",") is not None:
        delimiter = ","
    delimiters = [found[0]] if delimiter is None or delimiter == found[0] else [found[0], delimiter]
    return tuple((d, header_cells(header, d)) for d in delimiters)


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
