"""The access log: one hash-chained row per command run against a database.

Owns what an access row holds (``ACCESS_COLUMNS``), appending one
(``record_access``: one read of the last hash, one INSERT) and checking the chain
(``verify_access_log``). The chain is auditcli-chain/1: ``hash`` is the lowercase hex
SHA-256 of the RFC 8785 canonical JSON of the row without ``hash`` (``prev_hash``
included), and the first row's ``prev_hash`` is 64 zeros; ``ts`` is stored as the
exact text hashed. The command line is stored with secrets masked. Never prints,
never reads the environment or the clock: callers say who, where and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from auditcli.integrity.recipe import AuditChainRecipe
from auditcli.privacy.secrets import DEFAULT, DetectorSet, mask_text
from auditcli.privacy.text import os_text
from auditcli.store import Store

if TYPE_CHECKING:
    from auditcli.integrity.report import ChainReport

#: Columns of ``access_log`` in chain order; all but ``hash`` are hashed.
ACCESS_COLUMNS = (
    "seq",
    "ts",
    "os_user",
    "host",
    "command",
    "command_line",
    "row_count",
    "exit_code",
    "prev_hash",
    "hash",
)
CHAIN_NAME = "access_log"
_RECIPE = AuditChainRecipe()


@dataclass(frozen=True)
class Access:
    """One command run against the database, as the CLI saw it."""

    command: str
    """The command's name (``filter``, ``timeline``, ...)."""
    command_line: str
    """The whole command line as typed; secrets in it are masked before it is stored."""
    os_user: str
    host: str
    started: datetime
    row_count: int | None
    """Rows written (events loaded, for ``load``); None when the command did not get there."""
    exit_code: int


def timestamp_text(moment: datetime) -> str:
    """The stored and hashed form of a time: RFC 3339 UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_access(store: Store, access: Access, detectors: DetectorSet = DEFAULT) -> str:
    """Append ``access`` to the chain and return its hash."""
    with store.transaction():
        last = store.fetchone("SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1")
        seq, prev_hash = (1, _RECIPE.genesis) if last is None else (int(last[0]) + 1, last[1])
        row: dict[str, Any] = {
            "seq": seq,
            "ts": timestamp_text(access.started),
            "os_user": os_text(access.os_user),
            "host": os_text(access.host),
            "command": os_text(access.command),
            "command_line": mask_text(os_text(access.command_line), detectors),
            "row_count": access.row_count,
            "exit_code": access.exit_code,
            "prev_hash": prev_hash,
        }
        row["hash"] = _RECIPE.hash_event(dict(row))
        store.execute(
            f"INSERT INTO access_log ({', '.join(ACCESS_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(ACCESS_COLUMNS))})",
            [row[name] for name in ACCESS_COLUMNS],
        )
    return str(row["hash"])


def verify_access_log(store: Store) -> ChainReport:
    """Check the access log's chain; the report's line numbers are row positions by seq.

    An empty log is intact. Rows deleted from the end cannot be told from a shorter
    log: compare the report's ``head`` with one kept elsewhere.
    """
    from auditcli.integrity.chain import verify_texts  # only --verify walks the chain
    from auditcli.integrity.report import ChainReport

    rows = store.fetchall(f"SELECT {', '.join(ACCESS_COLUMNS)} FROM access_log ORDER BY seq")
    if not rows:
        return ChainReport(scheme=_RECIPE.scheme, events=0, first_hash=None, head=None)
    texts = [orjson.dumps(dict(zip(ACCESS_COLUMNS, row, strict=True))) for row in rows]
    report, _ = verify_texts(texts, _RECIPE, name=CHAIN_NAME)
    return report
