"""Values a chain verification returns: the kinds of defect, one finding, the report.

Pure values, no logic beyond presentation helpers; nothing here reads, hashes or prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["ChainReport", "Finding", "FindingKind"]


class FindingKind(StrEnum):
    """What is wrong, as far as the chain lets one tell."""

    MODIFIED = "modified"  # content no longer matches its stored hash
    DELETED = "deleted"  # events are missing here (count known when seq tells)
    REORDERED = "reordered"  # an event sits at the wrong place
    INSERTED = "inserted"  # an event that is no link of the chain
    DUPLICATE = "duplicate"  # an event that already appeared
    LINK_BROKEN = "link_broken"  # the link is wrong and the cause cannot be told
    MALFORMED = "malformed"  # not JSON, not an object, or missing the hash members
    TRUNCATED = "truncated"  # events are missing at the end (or the last line is cut)
    HEAD_MISMATCH = "head_mismatch"  # the last hash is not the anchored head
    COUNT_MISMATCH = "count_mismatch"  # the number of events is not the anchored count
    BAD_SIGNATURE = "bad_signature"  # a checkpoint's signature does not verify


@dataclass(frozen=True)
class Finding:
    """One defect, located at the first line it concerns (1-based, per file)."""

    kind: FindingKind
    file: str
    line: int
    message: str
    seq: int | None = None
    event_id: str | None = None
    expected: str | None = None
    computed: str | None = None
    count: int | None = None  # events deleted, inserted or modified in a row
    span: int = 1  # consecutive lines, from ``line``, that this finding covers
    other_line: int | None = None  # the related line: a duplicate's original, a swap's pair

    @property
    def lines(self) -> range:
        """Lines of ``file`` this finding covers."""
        return range(self.line, self.line + self.span)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping; members that are None are left out."""
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "file": self.file,
            "line": self.line,
            "message": self.message,
        }
        for name in ("seq", "event_id", "expected", "computed", "count", "other_line"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.span != 1:
            out["span"] = self.span
        return out


@dataclass(frozen=True)
class ChainReport:
    """The outcome of verifying one chain: every defect found, and what was checked."""

    scheme: str
    events: int  # event lines examined (malformed ones included)
    first_hash: str | None
    head: str | None  # stored hash of the last event of the chain
    first_time: str | None = None
    last_time: str | None = None
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = field(default=())
    unit: str = "events"  # what ``events`` counts
    proven: str = "every event matches its hash and links to the one before it"
    """What an intact report proves."""

    @property
    def intact(self) -> bool:
        """True when no defect was found."""
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping for ``--format json``."""
        return {
            "intact": self.intact,
            "scheme": self.scheme,
            "events": self.events,
            "first_hash": self.first_hash,
            "head": self.head,
            "time_span": {"first": self.first_time, "last": self.last_time},
            "findings": [finding.to_dict() for finding in self.findings],
            "notes": list(self.notes),
        }

    def broken_lines(self, file: str) -> set[int]:
        """Lines of ``file`` inside a broken stretch: covered by a finding or out of place."""
        lines: set[int] = set()
        for finding in self.findings:
            if finding.file != file:
                continue
            lines.update(finding.lines)
            if finding.kind is FindingKind.REORDERED and finding.other_line is not None:
                lines.add(finding.other_line)
        return lines
