"""Secrets in a CSV row's text, found by the names its file's header gives its cells.

``hunter2`` alone says nothing; under a ``password`` column it is a secret. The row is
masked as the JSON object a load makes of it (``ingest.tabular``), so a CSV source's
cells are judged exactly as a JSON source's members, and only the cells that changed
are written back.
"""

from __future__ import annotations

import csv
import functools
import io

import orjson

from auditcli.ingest.tabular import SURPLUS_KEY, key_paths, nested, unique_names
from auditcli.privacy.secrets import DEFAULT, DetectorSet, mask_json_text

__all__ = ["mask_csv_row"]


def mask_csv_row(text: str, header: str, detectors: DetectorSet = DEFAULT) -> str:
    """``text``, one row of a CSV file whose header row is ``header``, with its secret
    cells masked; unchanged (byte for byte) when it holds none. A row or header the
    csv module cannot read comes back as it is (free-text masking still applies)."""
    paths = _paths(header)
    if paths is None or not _may_name_a_secret(paths, detectors):
        return text  # value shapes are found in the text as it is
    cells = _cells(text)
    if cells is None:
        return text
    row = orjson.dumps(nested(paths, cells)).decode()
    masked_row = mask_json_text(row, detectors)
    if masked_row == row:
        return text
    masked = orjson.loads(masked_row)
    safe = [_at(masked, path) for path in paths[: len(cells)]]
    safe += masked.get(SURPLUS_KEY, [])[: max(0, len(cells) - len(paths))]
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(safe)
    return out.getvalue()


@functools.lru_cache(maxsize=64)
def _paths(header: str) -> list[tuple[str, ...]] | None:
    """Where each cell goes in the row's object, as a load places it."""
    names = _cells(header)
    return None if names is None else key_paths(unique_names(names))


def _may_name_a_secret(paths: list[tuple[str, ...]], detectors: DetectorSet) -> bool:
    """True when a column's name is a secret's, or a ``value`` column may hold the
    value of a ``name`` column naming one (``{"name": "DB_PASSWORD", "value": ...}``)."""
    names = {part for path in paths for part in path}
    return bool(names & {"value", "Value"}) or any(detectors.for_key(n) for n in names)


def _cells(text: str) -> list[str] | None:
    try:
        return next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return None


def _at(row: dict[str, object], path: tuple[str, ...]) -> object:
    node: object = row
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node
