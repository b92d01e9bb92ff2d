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
        last = self._found[-1] if self._found else None
        if (
            kind in _MERGEABLE
            and last is not None
            and last.kind is kind
            and last.file == record.file
            and last.line + last.span == record.line
        ):
            total = (last.count or 1) + 1
            merged = f"lines {last.line}-{record.line} ({total} events): {_first_clause(last)}"
            self._found[-1] = replace(last, span=last.span + 1, count=total, message=merged)
            return len(self._found) - 1
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

    def append(self, finding: Finding) -> int:
        """Record a finding as it is; return its index."""
        self._found.append(finding)
        return len(self._found) - 1

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


def _first_clause(finding: Finding) -> str:
    message = finding.message
    if message.startswith("lines "):
        message = message.split(": ", 1)[1]
    return message
