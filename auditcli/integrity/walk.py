"""The link walk: decides, from link records in chain order, what each defect is.

It owns the resynchronisation rules, so that one edit of an intact chain yields one
finding of the right kind at the right line, and an intact chain yields none. It keeps
a bounded window of recent events behind and a few records ahead, so memory does not
grow with the chain. It never reads files, hashes or prints.

The walk keeps a *tip*: the last event accepted onto the chain. For each record:

1. An unreadable line is reported and remembered as a gap the next link may jump.
2. The link holds (prev names the tip): accept it; report it modified if its content
   no longer matches its hash.
3. Otherwise, in order:
   a. the same event was already seen: duplicate;
   b. it names an earlier event of the chain: a fork. If the named event links to
      the tip, it was moved earlier (a far swap's first half); else, if the chain goes
      on from this record, the events after the named one were inserted; else this
      record was. Events taken off as inserted are put back when a later record
      links to the last of them: the chain went on from them after all, so one of
      the two stretches was moved (the shorter is reported);
   c. it names an event reported out of place whose own link fits the tip: that event
      was moved; it is taken back and this record follows it. So is a block of events
      reported inserted together, when it names the last of them and the first fits;
   d. looking ahead: the record the tip's successor names may come later (a swap, where
      the first of the two is reported, or an event moved later, which is reported
      where it now is), or the tip's successor may come later with nothing linking this
      record (inserted);
   e. else events are missing before it (deleted; the seq gap gives the count) or its
      link was rewritten (link_broken). It is accepted, and the walk goes on from it.

A run (lines past those kept as records) that does not link to the tip but starts
with events already on the chain is a copied block: one duplicate finding for them,
and the rest of the run goes on as a run of its own.

When the file ends, events set aside (taken off as inserted, displaced, or accepted
after a gap) that go on from the tip are put back: a block moved to the end.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

from auditcli.integrity.ledger import Ledger
from auditcli.integrity.memory import Behind, Where
from auditcli.integrity.report import Finding, FindingKind
from auditcli.integrity.scan import Item, LineState, Record, Run

__all__ = ["LOOKAHEAD", "LinkWalk"]

LOOKAHEAD = 24
"""Records ahead of a break searched for the tip's successor or the record's predecessor."""

MAX_REMEMBERED = 4096
"""Out-of-place events and broken links remembered for later reclassification."""

#: Findings that take their events off the chain, which a later link may put back.
_DISPLACING = (FindingKind.INSERTED, FindingKind.REORDERED)


def _at(where: Where | None) -> str:
    return "genesis" if where is None else f"{where.file}:{where.line}"


_Value = TypeVar("_Value")


@dataclass(frozen=True, slots=True)
class _Taken:
    """Events taken off the chain as inserted (see ``LinkWalk._put_back``)."""

    index: int  # their inserted finding, the ledger's last when it was made
    named: Where | None  # the event the record that took them off links to (or genesis)
    first: Where
    last: Where  # the tip before they were taken off
    count: int


def _pos(event: Where | None) -> int:
    """Position on the chain, 0 for the genesis."""
    return 0 if event is None else event.pos


def _moved_block(
    first: Where, last: Where, count: int, after: Where | None, before: str | None
) -> Finding:
    """A reordered finding for ``count`` events, ``first`` to ``last``, moved away from
    their place after ``after`` and before ``before`` (None: at the end)."""
    where = "at the end" if before is None else f"before {before}"
    place = f"belong{'s' if count == 1 else ''} after {_at(after)}, {where}"
    same_file = last.file == first.file
    span = last.line - first.line + 1 if same_file else 1  # lines in the finding's file
    lines = f"{first.line}-{last.line}" if same_file else f"{first.line} to {_at(last)}"
    message = f"event {place}" if count == 1 else f"lines {lines} ({count} events) {place}"
    return Finding(
        FindingKind.REORDERED,
        first.file,
        first.line,
        message,
        seq=first.seq,
        event_id=first.event_id,
        count=None if count == 1 else count,
        span=span,
        other_line=None if after is None else after.line,
    )


def _bounded_put(table: dict[str, _Value], key: str, value: _Value) -> None:
    table[key] = value
    if len(table) > MAX_REMEMBERED:
        del table[next(iter(table))]


class LinkWalk:
    """Consumes items in chain order (feed, then finish) and collects findings."""

    def __init__(self, genesis: str | None) -> None:
        self.genesis = genesis
        self._ledger = Ledger()
        self.chain_length = 0  # events accepted onto the chain
        self.deleted_counted = 0  # events known missing (from seq gaps)
        self.moved_off_chain = 0  # events of the chain found out of place, not on it
        self.first_hash: str | None = None
        self.seq_seen = False
        self._tip: Where | None = None  # None: the genesis
        self._unreadable_since_tip = 0
        self._pending: deque[Item] = deque()
        self._placed: set[int] = set()  # ids of pending records already taken early
        self._behind = Behind()
        self._displaced: dict[str, tuple[Where, int]] = {}  # stored -> (event, finding)
        # hash a broken link named -> (finding, the event whose link it was)
        self._missing: dict[str, tuple[int, Where]] = {}
        self._taken: _Taken | None = None  # the events last taken off as inserted

    # --- feeding -----------------------------------------------------------------------

    @property
    def findings(self) -> list[Finding]:
        """Findings so far, in the order they were made."""
        return self._ledger.findings

    @property
    def tip_hash(self) -> str | None:
        """Stored hash of the last event on the chain (the genesis before any)."""
        return self.genesis if self._tip is None else self._tip.stored

    @property
    def tip(self) -> Where | None:
        """The last event on the chain, None before any."""
        return self._tip

    def takes_run(self, run: Run) -> bool:
        """True when ``run`` would extend the chain with nothing left to decide: no
        record waits for records ahead, and its first link names the tip."""
        return not self._pending and run.first_prev == self.tip_hash

    def feed(self, items: Iterable[Item]) -> None:
        """Add items that follow those fed before."""
        self._pending.extend(items)
        self._drain(final=False)

    def finish(self) -> None:
        """Process what is left; call once, after the last feed."""
        self._drain(final=True)
        self._settle_the_end()

    def _drain(self, *, final: bool) -> None:
        while self._pending:
            item = self._pending[0]
            if isinstance(item, Record) and not final and not self._enough_ahead():
                return
            self._pending.popleft()
            if isinstance(item, Run):
                self._run(item)
            elif id(item) in self._placed:
                self._placed.discard(id(item))
            else:
                self._record(item)

    def _enough_ahead(self) -> bool:
        records = 0
        for item in self._pending:
            if isinstance(item, Run):
                return True
            records += 1
            if records > LOOKAHEAD:
                return True
        return False

    def _ahead(self) -> Iterator[Record]:
        for count, item in enumerate(self._pending):
            if isinstance(item, Run) or count >= LOOKAHEAD:
                return
            if item.state is LineState.EVENT and id(item) not in self._placed:
                yield item

    def _next_link(self) -> tuple[str | None, str | None] | None:
        """(prev, stored) of the next event ahead, or None at the end."""
        for item in self._pending:
            if isinstance(item, Run):
                return item.first_prev, item.first_hash
            if item.state is LineState.EVENT and id(item) not in self._placed:
                return item.prev, item.stored
        return None

    def find_on_chain(self, stored: str) -> Where | None:
        """A recent event of the chain with this stored hash."""
        return self._behind.find(stored)

    def _displace(self, record: Record, index: int) -> None:
        _bounded_put(self._displaced, record.stored or "", (Where.of(record), index))

    # --- the steps ---------------------------------------------------------------------

    def _run(self, run: Run) -> None:
        if run.first_seq is not None:
            self.seq_seen = True
        if run.first_prev != self.tip_hash:
            rest = self._copied_start(run)
            if rest is not run:
                if rest is not None:
                    self._run(rest)
                return
        if run.first_prev != self.tip_hash:
            self._ledger.append(
                Finding(
                    FindingKind.LINK_BROKEN,
                    run.file,
                    run.first_line,
                    f"prev_hash expected {self.tip_hash} (hash of {_at(self._tip)}),"
                    f" found {run.first_prev}: the chain goes on from an event reported"
                    " above",
                    seq=run.first_seq,
                    expected=self.tip_hash,
                    computed=run.first_prev,
                )
            )
        if self.first_hash is None:
            self.first_hash = run.first_hash
        first_pos = self.chain_length + 1
        self.chain_length += run.count
        self._behind.remember((run, first_pos))
        self._tip = Where(
            run.file, run.last_line, run.last_hash, None, run.last_seq, None, self.chain_length
        )
        self._unreadable_since_tip = 0

    def _record(self, record: Record) -> None:
        if record.seq is not None:
            self.seq_seen = True
        # 1. an unreadable line
        if record.state is not LineState.EVENT:
            self._unreadable_since_tip += 1
            if record.state is LineState.INCOMPLETE:
                self._ledger.add(
                    FindingKind.TRUNCATED, record, f"the last line is cut short: {record.problem}"
                )
            else:
                self._ledger.add(FindingKind.MALFORMED, record, record.problem or "unreadable line")
            return
        # 2. the link holds
        if record.prev == self.tip_hash:
            earlier = self._displaced.pop(record.stored or "", None)
            if earlier is not None and record.hash_ok:
                index = earlier[1]
                if self._ledger.kind_of(index) is FindingKind.REORDERED:
                    self.moved_off_chain -= 1
                self._ledger.reclassify(
                    index,
                    FindingKind.DUPLICATE,
                    f"same event as {record.file}:{record.line}, where it is in place",
                    record.line,
                )
            self._accept(record)
            return
        # 3. the link is broken
        self._broken(record)

    def _accept(self, record: Record | Where) -> None:
        where = record if isinstance(record, Where) else Where.of(record)
        self.chain_length += 1
        where = replace(where, pos=self.chain_length)
        if isinstance(record, Record) and not record.hash_ok:
            self._ledger.add(
                FindingKind.MODIFIED,
                record,
                f"content no longer matches its hash: expected {record.stored},"
                f" computed {record.computed}",
                expected=record.stored,
                computed=record.computed,
            )
        if self.first_hash is None:
            self.first_hash = where.stored
        self._tip = where
        self._unreadable_since_tip = 0
        self._behind.remember(where)

    def _broken(self, record: Record) -> None:
        stored = record.stored or ""
        # a. the same event already appeared
        if record.hash_ok:
            original = self.find_on_chain(stored)
            if original is None and stored in self._displaced:
                original = self._displaced[stored][0]
            if original is not None:
                self._ledger.add(
                    FindingKind.DUPLICATE,
                    record,
                    f"same event as {original.file}:{original.line}",
                    other_line=original.line,
                )
                return
        if self._put_back(record):
            return
        # b. a fork: it names an earlier event of the chain (or the genesis, not the tip)
        named = self.find_on_chain(record.prev) if record.prev is not None else None
        if named is not None and named.prev is not None and named.prev == self.tip_hash:
            self._moved_earlier(named, record)
            self._accept(record)
            return
        if named is not None or (record.prev == self.genesis and self._tip is not None):
            following = self._next_link()
            if following is not None and following[0] == stored:
                self._retract_after(named, record)
                self._accept(record)
                return
            if self._moved_here(record):
                return
            index = self._ledger.add(
                FindingKind.INSERTED,
                record,
                f"links to {_at(named)}, whose successor is elsewhere;"
                " the chain does not go on from it",
            )
            self._displace(record, index)
            return
        # c. it follows an event reported out of place, which belongs at the tip
        moved = self._displaced.get(record.prev or "")
        if moved is not None and moved[0].prev == self.tip_hash:
            event, index = moved
            del self._displaced[record.prev or ""]
            if self._ledger.kind_of(index) is FindingKind.REORDERED:
                self.moved_off_chain -= 1
            self._ledger.reclassify(
                index,
                FindingKind.REORDERED,
                f"event belongs after {_at(self._tip)}, before {record.file}:{record.line}",
                record.line,
            )
            self._accept(event)
            self._accept(record)
            return
        block = self._displaced_chain(record.prev) if moved is not None else None
        if block is not None:
            self._take_back(block, f"{record.file}:{record.line}")
            self._accept(record)
            return
        # d. look ahead for the tip's successor and for this record's predecessor
        successor = predecessor = None
        adjacent = False
        for position, ahead in enumerate(self._ahead()):
            if successor is None and ahead.prev == self.tip_hash:
                successor, adjacent = ahead, position == 0
            if predecessor is None and ahead.stored == record.prev:
                predecessor = ahead
        if successor is not None and successor is predecessor:
            if adjacent:  # a swap: the first of the two is reported
                self._ledger.add(
                    FindingKind.REORDERED,
                    record,
                    f"out of order: the event at line {successor.line} belongs before this one",
                    other_line=successor.line,
                )
            else:  # one event came later than it belongs: it is the one out of place
                self._ledger.add(
                    FindingKind.REORDERED,
                    successor,
                    f"out of order: belongs before {record.file}:{record.line}",
                    other_line=record.line,
                )
            self._placed.add(id(successor))
            self._accept(successor)
            self._accept(record)
            return
        if predecessor is not None:
            index = self._ledger.add(
                FindingKind.REORDERED,
                record,
                f"out of order: belongs after {predecessor.file}:{predecessor.line}",
                other_line=predecessor.line,
            )
            self._displace(record, index)
            self.moved_off_chain += 1
            return
        if successor is not None:
            if self._moved_here(record):
                return
            index = self._ledger.add(
                FindingKind.INSERTED,
                record,
                f"prev_hash {record.prev} names no event of the chain, which goes on"
                f" at line {successor.line}",
            )
            self._displace(record, index)
            return
        # e. a gap: events missing before it, or its link rewritten
        self._gap(record)
        self._accept(record)

    def _copied_start(self, run: Run) -> Run | None:
        """A run that starts with events already on the chain (a block copied again,
        past the lines kept as records): those are reported as one duplicate finding,
        and the rest of the run is returned (None when nothing is left). ``run`` itself
        when it does not start so, or when it keeps too few hashes to tell."""
        if run.kept_line != run.first_line:
            return run
        width = len(run.first_hash) + 1  # "\n" and the hash, per event
        copied = 0
        seen = None
        while copied < run.count:
            at = run.lo + copied * width + 1
            where = self._behind.find(run.hashes[at : at + width - 1])
            if where is None:
                break
            seen = seen or where
            copied += 1
        if seen is None:
            return run
        self._ledger.append(
            Finding(
                FindingKind.DUPLICATE,
                run.file,
                run.first_line,
                f"lines {run.first_line}-{run.first_line + copied - 1} ({copied} events)"
                f" already appeared, from {seen.file}:{seen.line} on",
                seq=run.first_seq,
                count=copied,
                span=copied,
                other_line=seen.line,
            )
        )
        if copied == run.count:
            return None
        at = run.lo + copied * width
        return replace(
            run,
            first_line=run.first_line + copied,
            count=run.count - copied,
            first_prev=run.hashes[at - width + 1 : at],
            first_hash=run.hashes[at + 1 : at + width],
            first_seq=run.seq_at(run.first_line + copied),
            kept_line=run.first_line + copied,
            lo=at,
        )

    def _displaced_chain(self, last: str | None) -> list[Where] | None:
        """Events reported out of place or inserted, each linking to the one before, the
        first to the tip and the last stored as ``last``: a block moved away from here.
        None when there is none, or when it holds only part of a finding's events."""
        block: list[Where] = []
        while last is not None and last in self._displaced and len(block) < MAX_REMEMBERED:
            event = self._displaced[last][0]
            block.append(event)
            if event.prev == self.tip_hash:
                block.reverse()
                return block if self._whole_findings(block) else None
            last = event.prev
        return None

    def _displaced_from_tip(self) -> list[Where] | None:
        """Like ``_displaced_chain``, for a block that ends the file: the displaced events
        that go on from the tip, one linking to the next, as far as they go."""
        after = {event.prev: event for event, _ in self._displaced.values()}
        block: list[Where] = []
        event = after.get(self.tip_hash)
        while event is not None and len(block) < MAX_REMEMBERED:
            block.append(event)
            event = after.get(event.stored)
        return block if block and self._whole_findings(block) else None

    def _whole_findings(self, block: list[Where]) -> bool:
        """True when every event of the findings that ``block`` holds is in it."""
        indexes = {self._displaced[event.stored][1] for event in block}
        reported = 0
        for index in indexes:
            finding = self._ledger[index]
            if finding is None or finding.kind not in _DISPLACING:
                return False
            reported += finding.count or 1
        held = sum(1 for _, index in self._displaced.values() if index in indexes)
        return reported == held == len(block)

    def _take_back(self, block: list[Where], before: str | None) -> None:
        """Put ``block`` back on the chain after the tip, as one reordered finding."""
        tip = self._tip
        indexes = sorted({self._displaced[event.stored][1] for event in block})
        for index in indexes:
            if self._ledger.kind_of(index) is FindingKind.REORDERED:
                self.moved_off_chain -= 1
            self._ledger.withdraw(index)
        self._ledger.put(indexes[0], _moved_block(block[0], block[-1], len(block), tip, before))
        for event in block:
            del self._displaced[event.stored]
            self._accept(event)

    def _settle_the_end(self) -> None:
        """A block moved to the end of the file, once all is read: events taken off as
        inserted, or displaced ones, that go on from the tip are put back; so is an
        event after a gap that links to the tip."""
        taken, self._taken = self._taken, None
        if taken is not None and self._goes_on(taken):
            self._put_taken_back(taken, None)
            return
        block = self._displaced_from_tip()
        if block is not None:
            self._take_back(block, None)
            return
        index, event = self._missing.get(self.tip_hash or "", (None, None))
        if index is not None and event is not None and self._tip is not None:
            # the event after a gap links to the tip: it was moved up from the end
            if self._ledger.kind_of(index) in (FindingKind.DELETED, FindingKind.LINK_BROKEN):
                self._moved_earlier(event, None)
                self._tip = self.find_on_chain(event.stored) or event

    def _moved_here(self, record: Record) -> bool:
        """True if this record is the event a broken link further up was missing."""
        index = self._missing.get(record.stored or "", (None, None))[0]
        gap = None if index is None else self._ledger[index]
        if index is None or gap is None or gap.count not in (None, 1):
            return False
        del self._missing[record.stored or ""]
        self.deleted_counted -= gap.count or 0
        self.moved_off_chain += 1
        # The gap was where this event belongs: it is the one out of place, not the
        # event after the gap, whose link named it all along.
        self._ledger.relocate(
            index,
            record,
            FindingKind.REORDERED,
            f"out of order: belongs before {gap.file}:{gap.line}",
            gap.line,
        )
        return True

    def _gap(self, record: Record) -> None:
        tip, expected = self._tip, self.tip_hash
        gap, tip_seq = None, None if tip is None else tip.seq
        if record.seq is not None and tip_seq is not None:
            gap = record.seq - tip_seq - 1 - self._unreadable_since_tip
        if (gap is None or gap == 0) and (self._unreadable_since_tip or not record.hash_ok):
            return  # the unreadable line above, or this event's own edit, explains it
        if tip is not None and not tip.hash_ok and (gap == 0 or record.prev == tip.computed):
            return  # the event before was altered (reported): its stored hash is no anchor
        link = f"prev_hash expected {expected} (hash of {_at(tip)}), found {record.prev}"
        if gap is None:
            kind, count = FindingKind.DELETED, None
            if tip is None:
                why = "events before it are missing (a slice needs its genesis hash)"
            else:
                why = "events are missing before it, or its link was rewritten"
        elif gap > 0:
            kind, count = FindingKind.DELETED, gap
            why = f"seq jumps from {tip_seq} to {record.seq}: {gap} events missing"
            self.deleted_counted += gap
        else:
            kind, count = FindingKind.LINK_BROKEN, None
            why = (
                f"seq goes from {tip_seq} to {record.seq}, so no event is missing: the event"
                " before was altered and re-hashed, or this link was rewritten"
            )
        index = self._ledger.add(
            kind, record, f"{link}: {why}", expected=expected, computed=record.prev, count=count
        )
        if record.prev is not None:
            _bounded_put(self._missing, record.prev, (index, Where.of(record)))

    def _moved_earlier(self, named: Where, record: Record | None) -> None:
        """``named``, accepted earlier after a gap, links to the tip and ``record`` to
        it (None: the file ends): it was moved up from here, and the gap it left is no gap."""
        tip = self._tip
        self.deleted_counted -= self._ledger.withdraw_gap_at(named.file, named.line)
        self._missing.pop(named.prev or "", None)
        before = None if record is None else f"{record.file}:{record.line}"
        self._ledger.append(_moved_block(named, named, 1, tip, before))

    def _put_back(self, record: Record) -> bool:
        """True when ``record`` links to the last event taken off as inserted, and the
        first of them to the tip, nothing else found since: the chain goes on from
        them, so they were genuine and one of the two stretches (the shorter) moved."""
        taken, self._taken = self._taken, None
        if taken is None or record.prev != taken.last.stored or not self._goes_on(taken):
            return False
        self._put_taken_back(taken, f"{record.file}:{record.line}")
        self._accept(record)
        return True

    def _goes_on(self, taken: _Taken) -> bool:
        """True when the first event taken off links to the tip, nothing found since."""
        return (
            taken.first.prev is not None
            and taken.first.prev == self.tip_hash
            and self._ledger.size == taken.index + 1
            and self._behind.at(_pos(taken.named) + 1) is not None
        )

    def _put_taken_back(self, taken: _Taken, before: str | None) -> None:
        """The events taken off follow the tip: one of the two stretches after the fork
        moved, reported in place of the inserted finding (before ``before``, or at the end)."""
        since, tip = self._behind.at(_pos(taken.named) + 1), self._tip
        stayed = self.chain_length - _pos(taken.named)
        if since is not None and tip is not None and stayed <= taken.count:
            # the events after the fork were moved down
            moved = _moved_block(since, tip, stayed, taken.named, _at(taken.first))
        else:  # the events taken off were moved up
            moved = _moved_block(taken.first, taken.last, taken.count, tip, before)
        self._ledger.put(taken.index, moved)
        self.chain_length += taken.count
        self._tip = replace(taken.last, pos=self.chain_length)

    def _retract_after(self, named: Where | None, record: Record) -> None:
        """Take the events after ``named`` (None: the genesis) off the chain: they were
        inserted."""
        first, last = self._behind.at(_pos(named) + 1), self._tip
        count = self.chain_length - _pos(named)
        self._behind.forget_after(_pos(named))
        self.chain_length = _pos(named)
        self._tip = named
        if named is None:
            self.first_hash = None
        if first is None or last is None:
            return
        self.deleted_counted -= self._ledger.withdraw_gap_at(first.file, first.line)
        index = self._ledger.append(
            Finding(
                FindingKind.INSERTED,
                first.file,
                first.line,
                f"{count} events are not part of the chain: {record.file}:{record.line}"
                f" links to {_at(named)}, skipping them",
                seq=first.seq,
                event_id=first.event_id,
                count=count,
                span=last.line - first.line + 1 if last.file == first.file else 1,
            ),
            merge=False,  # kept whole: _put_back may say what it really was
        )
        self._taken = _Taken(index, named, first, last, count)
