"""Secrets in a CSV row's text, found by the names its file's header gives its cells.

``hunter2`` alone says nothing; under a ``password`` column it is a secret. Each cell
is masked as a JSON member of that name would be (whole, when the name is a
secret's; else wherever a detector fires in it, JSON inside it included), and only
the cells that change are rewritten: the rest of the row stays byte for byte. Cells
are found leniently, so a row the csv module refuses (a load rejects it) is masked
too.
"""

from __future__ import annotations

import re

from auditcli.ingest.tabular import header_readings
from auditcli.privacy.secrets import DEFAULT, PAIR_NAMES, PAIR_VALUES, DetectorSet, mask_text

__all__ = ["ROW_MASK", "mask_csv_row", "row_cells"]

#: What a row shows whose masking would move its cells under a reading of its header.
ROW_MASK = "<redacted:csv-row>"


def mask_csv_row(
    text: str, header: str, detectors: DetectorSet = DEFAULT, delimiter: str | None = None
) -> str:
    """``text``, one row of a CSV file whose header row is ``header`` and whose rows were
    loaded by ``delimiter`` (None: not known), with its secret cells masked; unchanged
    (byte for byte) when it holds none.

    Where the header may be read two ways (``tabular.header_readings``), the row is
    masked by one reading, then the other. A cell masked whole keeps the other
    reading's delimiters in their places, so that reading still finds its cells; a
    mask that still moves a reading's cells (one inside quotes the other reading does
    not see, a partial mask across its delimiter) hides the whole row instead."""
    readings = header_readings(header, delimiter) or ((delimiter or ",", ()),)
    masked = text
    for by, names in readings:
        others = tuple(other for other, _ in readings if other != by)
        masked = _masked(masked, by, names, others, detectors)
    moved = any(len(_cells(masked, by)) != len(_cells(text, by)) for by, _ in readings)
    return ROW_MASK if masked != text and moved else masked


def _masked(
    text: str,
    delimiter: str,
    header: tuple[str, ...],
    others: tuple[str, ...],
    detectors: DetectorSet,
) -> str:
    names = tuple(name.strip() for name in header)
    unquoted = text.replace('""', '"')  # JSON in a quoted cell, as the precheck knows it
    if not _named_secret(names, detectors) and not detectors.may_contain_secret(unquoted):
        return text
    spans = _cells(text, delimiter)
    cells = [_value(text[start:end]) for start, end in spans]
    keys = _keys(names, cells, detectors)
    out, at = [], 0
    for (start, end), cell, key in zip(spans, cells, keys, strict=True):
        whole = others and key is not None and detectors.for_key(key) is not None
        masked = _apart(cell, others, detectors, key) if whole else mask_text(cell, detectors, key)
        if masked != cell:
            out += [text[at:start], _written(masked, text[start:end].startswith('"'))]
            at = end
    return text if not out else "".join([*out, text[at:]])


def _apart(cell: str, others: tuple[str, ...], detectors: DetectorSet, key: str | None) -> str:
    """A cell masked whole but for the delimiters in ``others``, which stay."""
    parts = re.split("(" + "|".join(map(re.escape, others)) + ")", cell)
    return "".join(
        part if index % 2 or not part else mask_text(part, detectors, key)
        for index, part in enumerate(parts)
    )


def row_cells(text: str, delimiter: str) -> list[str]:
    """The cells of a CSV row, found as masking finds them (see ``_cells``)."""
    return [_value(text[start:end]) for start, end in _cells(text, delimiter)]


def _named_secret(names: tuple[str, ...], detectors: DetectorSet) -> bool:
    """True when a column's name, or a part of a dotted one, is a secret's, or the
    header pairs a name column with a value column."""
    parts = {part for name in names for part in (name, *name.split("."))}
    pair = bool(parts & set(PAIR_NAMES)) and bool(parts & set(PAIR_VALUES))
    return pair or any(detectors.for_key(part) for part in parts)


def _keys(names: tuple[str, ...], cells: list[str], detectors: DetectorSet) -> list[str | None]:
    """The name each cell is masked under: its column's (the secret's part of a dotted
    one), or, in a value column, the secret a name column beside it names."""
    keys: list[str | None] = []
    for name in names[: len(cells)]:
        parts = (name, *reversed(name.split(".")))
        keys.append(next((p for p in parts if detectors.for_key(p)), name))
    keys += [None] * (len(cells) - len(keys))
    named = next(
        (cells[i] for i, name in enumerate(names[: len(cells)]) if name in PAIR_NAMES), None
    )
    if named is not None and detectors.for_key(named):
        values = {i for i, name in enumerate(names) if name in PAIR_VALUES}
        keys = [named if i in values else key for i, key in enumerate(keys)]
    return keys


def _cells(text: str, delimiter: str) -> list[tuple[int, int]]:
    """Where each cell of the row lies: delimiters outside quotes separate them; what
    follows a closing quote up to the next delimiter belongs to the cell (as the csv
    module reads it when not strict). A quote never closed (a reject's) is read as a
    character: the cells after it keep their columns, and so their names' masks."""
    spans: list[tuple[int, int]] = []
    start, length = 0, len(text)
    while True:
        at = start
        if at < length and text[at] == '"':
            at += 1
            while at < length:
                if text[at] == '"':
                    if text.startswith('""', at):
                        at += 2
                        continue
                    break
                at += 1
            if at >= length:
                at = start + 1
        after = text.find(delimiter, at)
        end = length if after < 0 else after
        spans.append((start, end))
        if after < 0:
            return spans
        start = after + 1


def _value(cell: str) -> str:
    """A cell's text without its quotes, ``""`` read as ``"``."""
    if not cell.startswith('"'):
        return cell
    body, _, rest = cell[1:].partition('"')
    while rest.startswith('"'):  # a doubled quote inside
        more, _, rest = rest[1:].partition('"')
        body += '"' + more
    return body + rest


def _written(value: str, quoted: bool) -> str:
    """A masked cell's value, quoted as the cell was: a mask adds no delimiter, quote or
    line break, so an unquoted cell stays unquoted (and so does every reading's row)."""
    return '"' + value.replace('"', '""') + '"' if quoted else value
