"""``--mapping FILE``: a user's TOML saying which source field feeds which column.

    [columns]
    actor = "who.login"          # one dotted path
    action = ["op", "verb"]      # or several, first non-empty wins
    ts = "when"

User paths are tried before the generic adapter's own candidates.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from auditcli.errors import InputError, UsageError
from auditcli.ingest.adapter import MAPPED_COLUMNS, json_path


def read_mapping(path: Path) -> dict[str, tuple[str, ...]]:
    """Column -> source paths from a mapping file; errors name the file and key."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read mapping: {e.strerror or e}") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from e
    columns = document.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise UsageError(
            f"{path}: no [columns] table",
            'write e.g.\n[columns]\nactor = "who.login"',
        )
    mapping: dict[str, tuple[str, ...]] = {}
    for column, value in columns.items():
        if column not in MAPPED_COLUMNS:
            raise UsageError(
                f"{path}: unknown column {column!r}",
                f"columns are: {', '.join(MAPPED_COLUMNS)}",
            )
        paths = (value,) if isinstance(value, str) else value
        if not isinstance(paths, list | tuple) or not all(isinstance(p, str) for p in paths):
            raise UsageError(f"{path}: {column} must be a path or a list of paths")
        for field_path in paths:
            json_path(field_path)
        mapping[column] = tuple(paths)
    return mapping
