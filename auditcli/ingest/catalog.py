"""The input formats auditcli reads, described: for ``auditcli formats``.

Reads the registry and each adapter's column expressions; never touches data.
"""

from __future__ import annotations

import re

import orjson

from auditcli.ingest import ADAPTERS
from auditcli.ingest.adapter import MAPPED_COLUMNS, JsonAdapter

_PLACEHOLDER = re.compile(r"\{\{([^{}]+)\}\}")


def source_fields(adapter: JsonAdapter) -> dict[str, list[str]]:
    """Canonical column -> the source fields it is read from, in the order tried.

    Fields of the adapter's fallback follow its own, leaving out those that only
    differ in case (top-level keys some pipelines lower-case).
    """
    fields: dict[str, list[str]] = {}
    for column in MAPPED_COLUMNS:
        found: list[str] = []
        for layer in (adapter, adapter.fallback):
            if layer is None:
                continue
            for match in _PLACEHOLDER.finditer(layer.columns.get(column, "")):
                path = match.group(1).strip()
                if path.lower() not in (known.lower() for known in found):
                    found.append(path)
        if found:
            fields[column] = found
    return fields


#: The columns a one-line summary of a mapping names.
SUMMARY_COLUMNS = ("ts", "actor", "action")


def summary(fields: dict[str, list[str]], shown: int = 2) -> str:
    """``ts <- eventTime; actor <- userIdentity.arn, ...``: where the key columns come from."""
    parts = []
    for column in SUMMARY_COLUMNS:
        paths = fields.get(column, [])
        if paths:
            more = ", …" if len(paths) > shown else ""
            parts.append(f"{column} ← {', '.join(paths[:shown])}{more}")
    return "; ".join(parts)


def format_rows() -> list[dict[str, str]]:
    """One row per input format: its name, what it reads, what it maps and from where.

    ``columns`` lists the canonical columns it fills; ``fields`` is a JSON object
    of each column's source fields, in the order tried.
    """
    rows = []
    for adapter in ADAPTERS:
        fields = source_fields(adapter)
        rows.append(
            {
                "format": adapter.name,
                "description": adapter.description,
                "maps": summary(fields),
                "columns": ", ".join(fields),
                "fields": orjson.dumps(fields).decode(),
            }
        )
    return rows
