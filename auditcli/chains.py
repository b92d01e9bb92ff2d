"""Hash chains of loaded sources: checked when a chained file is loaded, checked
again by ``verify --db``, and read by timelines to mark events in broken stretches.

A loaded file is checked from its own first link (a file may be a slice of a
longer chain), with the plain auditcli-chain/1 recipe; a chain whose first event
does not verify under it (keyed, or another digest) is recorded ``unverified``,
never ``broken``: only ``auditcli verify`` with the right key can judge it.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from auditcli.ingest.framing import json_objects
from auditcli.integrity import (
    AuditChainRecipe,
    ChainReport,
    FindingKind,
    verify_chain,
    verify_texts,
)
from auditcli.store import Store

RecipeFactory = Callable[[str | None], AuditChainRecipe]
"""Builds the recipe for a chain whose first event links to the given hash."""


class ChainStatus(StrEnum):
    """What a source's chain check concluded."""

    INTACT = "intact"
    BROKEN = "broken"
    UNVERIFIED = "unverified"


def default_recipe(genesis: str | None) -> AuditChainRecipe:
    """The plain auditcli-chain/1 recipe starting after ``genesis``."""
    return AuditChainRecipe(genesis_hash=genesis)


def chain_start(
    sample: Sequence[dict[str, Any]], recipe: AuditChainRecipe | None = None
) -> str | None:
    """The first event's link when the sample's events carry chain members, else None."""
    plain = recipe or AuditChainRecipe()
    head = list(sample[:50])
    if not head or not all(
        isinstance(e.get(plain.hash_field), str) and isinstance(e.get(plain.prev_field), str)
        for e in head
    ):
        return None
    start: str = head[0][plain.prev_field]
    return start


def status_of(report: ChainReport) -> ChainStatus:
    """Intact, broken, or unverified when the very first event does not verify."""
    if report.intact:
        return ChainStatus.INTACT
    first = report.findings[0]
    if first.kind is FindingKind.MODIFIED and first.line == 1 and first.span >= report.events:
        return ChainStatus.UNVERIFIED
    return ChainStatus.BROKEN


class BackgroundCheck:
    """Verify a file's chain on a helper thread, beside the load.

    It checks in this process: the native check of a clean block lets go of the GIL,
    so it runs beside the load's threads; worker processes would add their start-up
    and their results' pickling on cores the load already fills.
    """

    def __init__(self, path: Path, recipe: AuditChainRecipe) -> None:
        self._report: ChainReport | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(path, recipe), name="auditcli-chain", daemon=True
        )
        self._thread.start()

    def _run(self, path: Path, recipe: AuditChainRecipe) -> None:
        try:
            self._report = verify_chain([str(path)], recipe, jobs=1)
        except BaseException as error:  # reported as "could not check", never raised
            self._error = error

    def result(self) -> ChainReport | None:
        """The report, or None when the chain could not be checked at all."""
        self._thread.join()
        return self._report


def record(
    store: Store, source_id: int, report: ChainReport, broken_lines: set[int]
) -> ChainStatus:
    """Store ``report`` as source ``source_id``'s chain check, and the stretches of
    ``broken_lines`` (the source's own line numbers)."""
    status = status_of(report)
    store.execute("DELETE FROM chain_checks WHERE source_id = ?", [source_id])
    store.execute("DELETE FROM chain_breaks WHERE source_id = ?", [source_id])
    store.execute(
        "INSERT INTO chain_checks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source_id,
            report.scheme,
            status.value,
            report.events,
            report.head,
            orjson.dumps([f.to_dict() for f in report.findings]).decode(),
            orjson.dumps(list(report.notes)).decode(),
            datetime.now(UTC),
        ],
    )
    if status is ChainStatus.BROKEN and broken_lines:
        store.execute(
            "INSERT INTO chain_breaks SELECT ?, first_line, last_line FROM ("
            "SELECT min(l) AS first_line, max(l) AS last_line FROM ("
            "SELECT l, l - row_number() OVER (ORDER BY l) AS run FROM unnest(?::BIGINT[]) t(l)"
            ") GROUP BY run)",
            [source_id, sorted(broken_lines)],
        )
    return status


def stored_texts(store: Store, source_id: int) -> tuple[list[str], list[int]]:
    """A source's records as stored (events and rejects), in file order, with their lines."""
    events = store.arrow_reader(
        "SELECT source_line, raw_ref AS raw FROM event_rows WHERE source_id = ? "
        "ORDER BY source_line",
        [source_id],
    ).read_all()
    rejects = store.fetchall(
        "SELECT source_line, raw FROM reject_rows WHERE source_id = ? ORDER BY source_line",
        [source_id],
    )
    records = list(
        heapq.merge(
            zip(events.column(0).to_pylist(), events.column(1).to_pylist(), strict=True),
            rejects,
        )
    )
    return [r[1] for r in records], [int(r[0]) for r in records]


def verify_stored(
    store: Store, recipe_for: RecipeFactory = default_recipe
) -> list[tuple[str, ChainReport, ChainStatus]]:
    """Check every chained source held in ``store`` from its stored raw text."""
    results = []
    sources = store.fetchall("SELECT source_id, source_file FROM sources ORDER BY source_id")
    for source_id, name in sources:
        texts, lines = stored_texts(store, int(source_id))
        sample = json_objects(texts[:50], 50)
        start = chain_start(sample, recipe_for(None))
        if start is None:
            continue
        report, positions = verify_texts(texts, recipe_for(start), name=str(name))
        report = _on_source_lines(report, lines)
        broken = {lines[p - 1] for p in positions if 0 < p <= len(lines)}
        status = record(store, int(source_id), report, broken)
        results.append((str(name), report, status))
    return results


def _on_source_lines(report: ChainReport, lines: Sequence[int]) -> ChainReport:
    """The report with positions in the stored texts turned into the file's own lines."""

    def line(position: int | None) -> int | None:
        if position is None or not 0 < position <= len(lines):
            return position
        return lines[position - 1]

    findings = tuple(
        replace(f, line=line(f.line) or f.line, other_line=line(f.other_line))
        for f in report.findings
    )
    return replace(report, findings=findings)
