"""The findings of one walk, kept open for revision until the walk ends.

A later record can show what an earlier defect really was (an event reported inserted
turns up as the one missing further on), so findings are kept by index and may be
reclassified or withdrawn; consecutive lines with the same defect merge into one.
Nothing here decides what a defect is (walk.py does).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from auditcli.integrity.report import Finding, FindingKind
from auditcli.integrity.scan import Record

__all__ = ["Ledger"]

_MERGEABLE = {FindingKind.MODIFIED, FindingKind.INSERTED, FindingKind.MALFORMED}


class Ledger:
    """Findings by index; None marks a withdrawn one, so indices stay valid."""

    def __init__(self) -> None:
        self._found: list[Finding | None] = []

    @property
    def findings(self) -> list[Finding]:
        """Findings in the order they were made, withdrawn ones left out."""
        return [finding for finding in self._found if finding is not None]

    def __getitem__(self, index: int) -> Finding | None:
        return self._found[index]

    def add(
        self,
        kind: FindingKind,
        record: Record,
        message: str,
        *,
        expected: str | None = None,
        computed: str | None = None,
        count: int | None = None,
        other_line: int | None = None,
    ) -> int:
        """Record a finding at a record's line, merging it into the last one if it continues it."""
        return self.append(
            _at(
                record,
                kind,
                message,
                expected=expected,
                computed=computed,
                count=count,
                other_line=other_line,
            )
        )

    def append(self, finding: Finding, *, merge: bool = True) -> int:
        """Record a finding, merged into the last one if it continues it (and ``merge``);
        return its index."""
        last = self._found[-1] if self._found else None
        if merge and last is not None and _continues(last, finding):
            self._found[-1] = _joined(last, finding)
        else:
            self._found.append(finding)
        return len(self._found) - 1

    @property
    def size(self) -> int:
        """Findings made so far, withdrawn ones included (it grows with each new one)."""
        return len(self._found)

    def withdraw(self, index: int) -> None:
        """Take back a finding: what it reported turned out to be part of another."""
        self._found[index] = None

    def put(self, index: int, finding: Finding) -> None:
        """Say what an earlier finding really was, in full."""
        self._found[index] = finding

    def kind_of(self, index: int) -> FindingKind | None:
        """The kind of a finding, None if it was withdrawn."""
        finding = self._found[index]
        return None if finding is None else finding.kind

    def reclassify(self, index: int, kind: FindingKind, message: str, other_line: int) -> None:
        """Say what an earlier finding really was."""
        finding = self._found[index]
        if finding is not None:
            self._found[index] = replace(
                finding, kind=kind, message=message, other_line=other_line, count=None, span=1
            )

    def relocate(
        self, index: int, record: Record, kind: FindingKind, message: str, other_line: int
    ) -> None:
        """Say that an earlier finding was really about ``record``, found later."""
        if self._found[index] is not None:
            self._found[index] = _at(record, kind, message, other_line=other_line)

    def withdraw_gap_at(self, file: str, line: int) -> int:
        """Withdraw the latest deleted or link_broken finding at a line; return its count."""
        for index in range(len(self._found) - 1, -1, -1):
            found = self._found[index]
            if (
                found is not None
                and found.kind in (FindingKind.DELETED, FindingKind.LINK_BROKEN)
                and (found.file, found.line) == (file, line)
            ):
                self._found[index] = None
                return found.count or 0
        return 0


def _at(record: Record, kind: FindingKind, message: str, **details: Any) -> Finding:
    """A finding at ``record``'s line, naming its seq and event id."""
    return Finding(
        kind,
        record.file,
        record.line,
        message,
        seq=record.seq,
        event_id=record.event_id,
        **details,
    )


def _continues(last: Finding, finding: Finding) -> bool:
    """True when ``finding`` is the same defect on the lines right after ``last``'s: for
    duplicates, of the events right after those ``last`` repeats."""
    if last.kind is not finding.kind or last.file != finding.file:
        return False
    if last.line + last.span != finding.line:
        return False
    if finding.kind is FindingKind.DUPLICATE:
        return (
            last.other_line is not None
            and finding.other_line == last.other_line + last.span
            and _origin(last) is not None
        )
    return finding.kind in _MERGEABLE and finding.span == 1


def _joined(last: Finding, finding: Finding) -> Finding:
    span = last.span + finding.span
    total = (last.count or last.span) + (finding.count or finding.span)
    end = last.line + span - 1
    if finding.kind is FindingKind.DUPLICATE:
        message = (
            f"lines {last.line}-{end} ({total} events) already appeared, from {_origin(last)} on"
        )
    else:
        message = f"lines {last.line}-{end} ({total} events): {_first_clause(last)}"
    return replace(last, span=span, count=total, message=message)


def _origin(finding: Finding) -> str | None:
    """Where a duplicate finding's first event appeared first (``file:line``)."""
    for lead in ("same event as ", " from "):
        if lead in finding.message:
            where = finding.message.split(lead, 1)[1].split(" ", 1)[0].rstrip(",")
            return where or None
    return None


def _first_clause(finding: Finding) -> str:
    message = finding.message
    if message.startswith("lines "):
        message = message.split(": ", 1)[1]
    return message
