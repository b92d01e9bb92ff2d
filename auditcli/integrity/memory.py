"""What the link walk remembers of the chain behind it: a bounded window of events.

It owns looking up a recent event by its stored hash or its position on the chain, so
duplicates and forks are recognised without holding the whole chain. Clean runs are
kept whole (their hashes joined in one string) and searched only when a link breaks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from auditcli.integrity.scan import LOOKBACK, Record, Run

__all__ = ["LOOKBACK", "Behind", "Where"]

@dataclass(frozen=True, slots=True)
class Where:
    """An event the walk remembers: its place in the files and on the chain."""

    file: str
    line: int
    stored: str
    prev: str | None
    seq: int | None
    event_id: str | None
    pos: int  # 1-based position on the chain; 0 for an event not (yet) on it
    hash_ok: bool = True
    computed: str | None = None  # the recomputed hash, kept when it differs from stored

    @classmethod
    def of(cls, record: Record, pos: int = 0) -> Where:
        """The remembered form of a record that holds an event."""
        assert record.stored is not None
        return cls(
            record.file,
            record.line,
            record.stored,
            record.prev,
            record.seq,
            record.event_id,
            pos,
            record.hash_ok,
            None if record.hash_ok else record.computed,
        )


def _count(entry: Where | tuple[Run, int]) -> int:
    return 1 if isinstance(entry, Where) else entry[0].count


def _in_run(run: Run, first_pos: int, line: int, stored: str) -> Where:
    pos = first_pos + line - run.first_line
    return Where(run.file, line, stored, None, run.seq_at(line), None, pos)


class Behind:
    """The last events accepted onto the chain, oldest forgotten first."""

    def __init__(self, size: int = LOOKBACK) -> None:
        self._size = size
        self._entries: deque[Where | tuple[Run, int]] = deque()  # (run, its first pos)
        self._events = 0
        self._by_hash: dict[str, Where] = {}

    def remember(self, entry: Where | tuple[Run, int]) -> None:
        """Add the newest event, or a run with the chain position of its first event."""
        self._entries.append(entry)
        self._events += _count(entry)
        if isinstance(entry, Where):
            self._by_hash[entry.stored] = entry
        # The oldest goes only when the rest still hold the window: a run counts all of
        # its events, so dropping it whenever the total passed the window forgot up to
        # a whole run's worth of the events just behind.
        while len(self._entries) > 1 and self._events - _count(self._entries[0]) >= self._size:
            self._drop(self._entries.popleft())

    def _drop(self, entry: Where | tuple[Run, int]) -> None:
        self._events -= _count(entry)
        if isinstance(entry, Where) and self._by_hash.get(entry.stored) is entry:
            del self._by_hash[entry.stored]

    def find(self, stored: str) -> Where | None:
        """A remembered event with this stored hash."""
        found = self._by_hash.get(stored)
        if found is not None:
            return found
        for entry in reversed(self._entries):
            if isinstance(entry, tuple):
                line = entry[0].line_of(stored)
                if line is not None:
                    return _in_run(entry[0], entry[1], line, stored)
        return None

    def at(self, pos: int) -> Where | None:
        """The remembered event at a chain position (its stored hash may be left empty)."""
        for entry in reversed(self._entries):
            if isinstance(entry, Where):
                if entry.pos == pos:
                    return entry
            else:
                run, first_pos = entry
                if first_pos <= pos < first_pos + run.count:
                    return _in_run(run, first_pos, run.first_line + pos - first_pos, "")
        return None

    def forget_after(self, pos: int) -> None:
        """Forget the events after a chain position (they turned out not to be on it)."""
        while self._entries:
            entry = self._entries[-1]
            if (entry.pos if isinstance(entry, Where) else entry[1]) <= pos:
                return
            self._drop(self._entries.pop())
