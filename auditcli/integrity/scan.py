"""Per-line hashing: turns a block of JSON lines into link records for the link walk.

This is the hot loop of verification and runs in worker processes. For every line it
parses, recomputes the hash through the recipe and compares links with the line before;
it keeps full :class:`Record` s only near anything irregular and near the block's edges,
and folds the clean stretches between into :class:`Run` s, so the walk that follows
handles a handful of items per block. It never judges what a defect is (walk.py does),
never reads files and never prints.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import accumulate, repeat
from typing import Any, cast, overload

import orjson

from auditcli.errors import InputError
from auditcli.integrity.canonical import DuplicateNameError, JsonSyntaxError, parse_json
from auditcli.integrity.recipe import ChainRecipe, ExaminedMany
from auditcli.integrity.sources import split_block

__all__ = [
    "LOOKBACK",
    "BlockScan",
    "LineState",
    "Record",
    "Run",
    "scan_block",
    "scan_lines",
    "shift",
]

BATCH = 64
"""Lines parsed and hashed together on the fast path (small keeps memory in cache)."""

EDGE = 32
"""Lines kept as full records at each block edge and on each side of an irregular line."""

LOOKBACK = 4096
"""Events behind the tip that duplicates and forks are looked up among."""

ID_FIELDS = ("id", "event_id", "eventID")
TIME_FIELDS = ("ts", "timestamp", "time", "eventTime", "@timestamp")
_TIME_KEYS = tuple(name.encode() for name in TIME_FIELDS)


class LineState(StrEnum):
    """How far a line could be read."""

    EVENT = "event"  # an event with its stored hash, link and recomputed hash
    UNUSABLE = "unusable"  # not JSON, not an object, or missing what the recipe needs
    INCOMPLETE = "incomplete"  # the last line of a file, cut short


@dataclass(frozen=True, slots=True)
class Record:
    """One line as the link walk needs it."""

    file: str
    line: int
    state: LineState
    stored: str | None = None
    computed: str | None = None
    prev: str | None = None
    seq: int | None = None
    event_id: str | None = None
    problem: str | None = None

    @property
    def hash_ok(self) -> bool:
        """True when the content still matches the stored hash."""
        return self.state is LineState.EVENT and self.stored == self.computed


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive lines that each match their hash and link to the line before."""

    file: str
    first_line: int
    count: int
    first_prev: str | None
    first_hash: str
    last_hash: str
    first_seq: int | None
    last_seq: int | None
    hashes: str
    """Stored hashes, each after a "\n", with a final "\n": the run keeps those of its
    last LOOKBACK events, from line ``kept_line``, at characters ``lo`` to ``hi``. The
    runs of one block share one string, so it is pickled once."""
    kept_line: int
    lo: int
    hi: int

    @property
    def last_line(self) -> int:
        """Line of the run's last event."""
        return self.first_line + self.count - 1

    def seq_at(self, line: int) -> int | None:
        """Sequence number of the event at ``line``, when the run's seqs are consecutive."""
        if self.first_seq is None or self.last_seq != self.first_seq + self.count - 1:
            return None
        return self.first_seq + line - self.first_line

    def line_of(self, stored: str) -> int | None:
        """Line of the event with this stored hash, if it is in the run."""
        at = self.hashes.find("\n" + stored + "\n", self.lo, self.hi)
        return None if at < 0 else self.kept_line + self.hashes.count("\n", self.lo, at)


Item = Record | Run


@dataclass(frozen=True)
class BlockScan:
    """What one block of lines yields."""

    items: list[Item]
    lines: int  # physical lines in the block, blank ones included
    events: int  # non-blank lines
    first_time: str | None
    last_time: str | None
    whole: Run | None = None
    """The block as one run, when every line after the first links to the one before
    and every line matches its hash: the walk may take it instead of ``items`` when
    the block's first link holds, since only a break needs the records at its edges."""


def shift(item: Item, offset: int) -> Item:
    """The item with its line numbers moved down by ``offset``."""
    if isinstance(item, Record):
        return replace(item, line=item.line + offset)
    return replace(item, first_line=item.first_line + offset, kept_line=item.kept_line + offset)


def _as_id(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if type(value) is int:
        return str(value)
    return None


def _event_id(event: dict[str, Any]) -> str | None:
    for name in ID_FIELDS:
        found = _as_id(event.get(name))
        if found is not None:
            return found
    return None


def _seq(event: object, recipe: ChainRecipe) -> int | None:
    return recipe.sequence(event) if type(event) is dict else None


def _record(
    raw: bytes, file: str, line: int, recipe: ChainRecipe, cut_short: bool
) -> Record | None:
    """Read one line fully, slowly and with precise errors; None for a blank line."""
    if not raw.strip():
        return None
    try:
        event = parse_json(raw)
    except JsonSyntaxError as e:
        incomplete = cut_short and not isinstance(e, DuplicateNameError)
        state = LineState.INCOMPLETE if incomplete else LineState.UNUSABLE
        return Record(file, line, state, problem=e.message)
    except InputError as e:
        return Record(file, line, LineState.UNUSABLE, problem=e.message)
    if type(event) is not dict:
        problem = f"line is a JSON {type(event).__name__}, not an object"
        return Record(file, line, LineState.UNUSABLE, problem=problem)
    seq, event_id = _seq(event, recipe), _event_id(event)
    try:
        stored, computed, prev = recipe.examine(event)
    except InputError as e:
        return Record(file, line, LineState.UNUSABLE, seq=seq, event_id=event_id, problem=e.message)
    return Record(file, line, LineState.EVENT, stored, computed, prev, seq, event_id)


def _span_edges(count: int, irregular: list[int]) -> list[bool]:
    full = [False] * count
    for centre in [0, count - 1, *irregular]:
        start, stop = max(0, centre - EDGE), min(count, centre + EDGE + 1)
        full[start:stop] = [True] * (stop - start)
    return full


def scan_lines(
    lines: Sequence[bytes], recipe: ChainRecipe, file: str, *, last_cut_short: bool = False
) -> BlockScan:
    """Hash every line of a block; line numbers in the result start at 1.

    ``last_cut_short`` says the block's last line is the end of a file that lacks its
    final newline, so a parse error there means the line was cut, not garbled.
    """
    stored: list[str | None] = []
    computed: list[str | None] = []
    prevs: list[str | None] = []
    times: list[Any] = []
    for start in range(0, len(lines), BATCH):
        batch_stored, batch_computed, batch_prevs = _examine(
            lines[start : start + BATCH], recipe, times
        )
        stored += batch_stored
        computed += batch_computed
        prevs += batch_prevs
    return _assemble(lines, (stored, computed, prevs), times, recipe, file, last_cut_short)


def scan_block(
    data: bytes, recipe: ChainRecipe, file: str, *, last_cut_short: bool = False
) -> BlockScan:
    """``scan_lines`` of the lines of ``data`` (split on newlines), through the recipe's
    block path when it has one: then lines become objects only where needed."""
    linked = recipe.link_block(data, _TIME_KEYS)
    if linked is not None:  # clean: no object per line, as the walk needs few of them
        starts, hashes, first_prev, first_time, last_time = linked
        lines = _BlockLines(data, memoryview(starts).cast("q"))
        stored = _StoredHashes(data, memoryview(hashes).cast("q"))
        clean = _Examined(stored, [0], True, first_prev, (first_time, last_time))
        return _items(lines, clean, recipe, file, last_cut_short)
    fast = recipe.examine_block(data, _TIME_KEYS)
    if fast is None:
        return scan_lines(split_block(data), recipe, file, last_cut_short=last_cut_short)
    examined, times, skipped, offsets = fast
    lines = _BlockLines(data, offsets)
    for i in skipped:
        _examine_again(lines[i], i, examined, times, recipe)
    return _assemble(lines, examined, times, recipe, file, last_cut_short)


class _BlockLines(Sequence[bytes]):
    """The lines of a block, each cut out of it on demand."""

    def __init__(self, data: bytes, offsets: memoryview) -> None:
        self._data = data
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._data[self._offsets[index] : self._offsets[index + 1] - 1]


class _StoredHashes(Sequence[str]):
    """The stored hashes of a clean block's lines (64 hex digits each), read from it on
    demand."""

    def __init__(self, data: bytes, offsets: memoryview) -> None:
        self._data = data
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        data = self._data
        if isinstance(index, slice):
            return [data[at : at + 64].decode("ascii") for at in self._offsets[index]]
        at = self._offsets[index]
        return data[at : at + 64].decode("ascii")

    def joined(self, start: int, end: int) -> str:
        """The hashes of lines start to end joined by newlines: the hashes a run keeps,
        thousands a block, decoded at once."""
        data = self._data
        return b"\n".join([data[at : at + 64] for at in self._offsets[start:end]]).decode("ascii")


def _examine_again(
    line: bytes, index: int, examined: ExaminedMany, times: list[Any], recipe: ChainRecipe
) -> None:
    """Fill in one line the fast path left alone, through the exact path."""
    one_times: list[Any] = []
    (s,), (c,), (p,) = _examine_one_by_one([line], recipe, one_times)
    examined[0][index], examined[1][index], examined[2][index] = s, c, p
    times[index] = one_times[0] if one_times else None


def _assemble(
    lines: Sequence[bytes],
    examined: ExaminedMany,
    times: list[Any],
    recipe: ChainRecipe,
    file: str,
    last_cut_short: bool,
) -> BlockScan:
    """The block's items from every line's stored and computed hash and link."""
    stored_of, computed, prevs = examined
    count = len(lines)
    # a clean line matches its hash and names the line before as its predecessor; the
    # first line is never clean here (the walk checks its link), the others are
    # compared list against list, and one by one only when the lists differ
    irregular: list[int] = [0] if count else []  # each becomes a full Record
    if count > 1 and (
        computed[1:] != stored_of[1:] or prevs[1:] != stored_of[:-1] or None in stored_of
    ):
        irregular += [
            i
            for i, (s, c, p, e) in enumerate(
                zip(stored_of, computed, prevs, [None, *stored_of[:-1]], strict=True)
            )
            if i and (s is None or s != c or p != e)
        ]
    first_prev = prevs[0] if count else None
    first_ok = bool(count) and stored_of[0] is not None and stored_of[0] == computed[0]
    found = _Examined(stored_of, irregular, first_ok, first_prev, _time_span(times))
    return _items(lines, found, recipe, file, last_cut_short)


@dataclass(frozen=True)
class _Examined:
    """What a block's items are made from."""

    stored: Sequence[str | None]
    """Each line's stored hash (None where it has none)."""
    irregular: list[int]
    """The lines that do not match their hash or link to the line before, and line 0."""
    first_ok: bool
    """The first line matches its hash."""
    first_prev: str | None
    time_span: tuple[str | None, str | None]


def _items(
    lines: Sequence[bytes],
    found: _Examined,
    recipe: ChainRecipe,
    file: str,
    last_cut_short: bool,
) -> BlockScan:
    """Full records near anything irregular, and runs between them.

    A run keeps only its last LOOKBACK hashes (``_Hashes``), so one longer than that
    starts with a run of LOOKBACK lines, which keeps them all: a block copied right
    after itself starts a run that goes on past it (the line after the copy links to
    the copy's last line, which has the original's hash), and the walk can tell that
    such a run starts with events already on the chain only from its first hashes.
    """
    stored_of, irregular, first_prev = found.stored, found.irregular, found.first_prev
    count = len(lines)
    blanks = sum(1 for i in irregular if not lines[i].strip())

    full = _span_edges(count, irregular) if count else []
    plan: list[int | tuple[int, int]] = []  # a record's line index, or a run's range
    i = 0
    while i < count:
        if full[i]:
            plan.append(i)
            i += 1
            continue
        try:
            end = full.index(True, i)
        except ValueError:
            end = count
        if end - i > LOOKBACK:  # its first LOOKBACK lines a run of their own: see below
            plan.append((i, i + LOOKBACK))
            i += LOOKBACK
        plan.append((i, end))
        i = end
    whole_range = (0, count) if count and irregular in ([], [0]) and found.first_ok else None
    spans = [step for step in plan if isinstance(step, tuple)]
    hashes = _Hashes(stored_of, spans + ([whole_range] if whole_range else []))
    items: list[Item] = []
    for step in plan:
        if isinstance(step, int):
            cut_short = last_cut_short and step == count - 1
            record = _record(lines[step], file, step + 1, recipe, cut_short)
            if record is not None:
                items.append(record)
        else:
            start, end = step
            first_prev_of_run = stored_of[start - 1]
            items.append(
                _run(lines, hashes, start, end, first_prev_of_run, recipe, file, stored_of)
            )
    whole = None
    if whole_range is not None:
        whole = _run(lines, hashes, 0, count, first_prev, recipe, file, stored_of)
    first_time, last_time = found.time_span
    return BlockScan(items, count, count - blanks, first_time, last_time, whole)


class _Hashes:
    """The stored hashes runs keep, joined in one string that all runs of a block share.

    A run keeps only its last LOOKBACK hashes: the walk looks events up no further
    behind its tip, and that keeps what a worker sends back small.
    """

    def __init__(self, stored_of: Sequence[str | None], runs: list[tuple[int, int]]) -> None:
        kept: list[list[int]] = []  # the lines kept, as merged [start, end) ranges
        for start, end in sorted((max(start, end - LOOKBACK), end) for start, end in runs):
            if kept and start <= kept[-1][1]:
                kept[-1][1] = max(kept[-1][1], end)
            else:
                kept.append([start, end])
        pieces: list[str] = []
        # per kept range: its first line, and where the "\n" before each of its hashes
        # is (and the one after its last), as offsets into the joined text
        self._ranges: list[tuple[int, Sequence[int]]] = []
        at = 0
        for start, end in kept:
            offsets: Sequence[int]
            if isinstance(stored_of, _StoredHashes):  # a clean block's: 64 digits each
                pieces.append(stored_of.joined(start, end))
                offsets = range(at, at + 65 * (end - start) + 1, 65)
            else:
                part = [text or "" for text in stored_of[start:end]]
                pieces.append("\n".join(part))
                offsets = list(accumulate(map(len, part), _plus_one, initial=at))
            self._ranges.append((start, offsets))
            at = offsets[-1]
        self.text = "\n" + "\n".join(pieces) + "\n"

    def span(self, start: int, end: int) -> tuple[int, int, int]:
        """(first kept line index, lo, hi): the kept hashes of lines start to end."""
        kept = max(start, end - LOOKBACK)
        first, offsets = self._ranges[bisect_right(self._ranges, kept, key=_first) - 1]
        return kept, offsets[kept - first], offsets[end - first] + 1


def _first(kept: tuple[int, Sequence[int]]) -> int:
    return kept[0]


def _plus_one(total: int, length: int) -> int:
    return total + length + 1


def _run(
    lines: Sequence[bytes],
    hashes: _Hashes,
    start: int,
    end: int,
    first_prev: str | None,
    recipe: ChainRecipe,
    file: str,
    stored_of: Sequence[str | None],
) -> Run:
    """Lines ``start`` to ``end`` (exclusive, all clean) as one run."""
    kept, lo, hi = hashes.span(start, end)
    return Run(
        file,
        first_line=start + 1,
        count=end - start,
        first_prev=first_prev,
        first_hash=cast(str, stored_of[start]),  # clean lines all have a stored hash
        last_hash=cast(str, stored_of[end - 1]),
        first_seq=_seq(orjson.loads(lines[start]), recipe),
        last_seq=_seq(orjson.loads(lines[end - 1]), recipe),
        hashes=hashes.text,
        kept_line=kept + 1,
        lo=lo,
        hi=hi,
    )


def _examine(batch: Sequence[bytes], recipe: ChainRecipe, times: list[Any]) -> ExaminedMany:
    """Examine a batch of lines and add their times to ``times``.

    Lines go, in order of cost: to the recipe's raw-line path; else parsed, to its
    batch path; else one by one, so that one bad line spoils nothing else.
    """
    fast = recipe.examine_lines(batch, _TIME_KEYS)
    if fast is not None:
        examined, batch_times, skipped = fast
        for i in skipped:
            _examine_again(batch[i], i, examined, batch_times, recipe)
        times.extend(batch_times)
        return examined
    try:
        events = list(map(parse_json, batch))
        batch_times = _times(events)
        parsed = recipe.examine_many(events)
    except (InputError, TypeError):  # not JSON (or a name twice), or not an object
        parsed = None
    if parsed is None:
        return _examine_one_by_one(batch, recipe, times)
    times.extend(batch_times)
    return parsed


def _times(events: list[dict[str, Any]]) -> list[Any]:
    """Each event's time: its first TIME_FIELDS member that is not null."""
    values = list(map(dict.get, events, repeat(TIME_FIELDS[0])))
    for name in TIME_FIELDS[1:]:
        if None not in values:
            break
        others = map(dict.get, events, repeat(name))
        values = [one if one is not None else two for one, two in zip(values, others, strict=True)]
    return values


def _time_span(times: list[Any]) -> tuple[str | None, str | None]:
    if times and all(map(_is_str, times)):
        return min(times), max(times)
    texts = [t for t in times if type(t) is str]
    if texts:
        return min(texts), max(texts)
    numbers = [t for t in times if type(t) is int or type(t) is float]
    if numbers:
        return str(min(numbers)), str(max(numbers))
    return None, None


_is_str = str.__instancecheck__


def _examine_one_by_one(
    batch: Sequence[bytes], recipe: ChainRecipe, times: list[Any]
) -> ExaminedMany:
    """The slow path: each line on its own, so one bad line spoils nothing else."""
    stored: list[str | None] = []
    computed: list[str | None] = []
    prevs: list[str | None] = []
    one_stored: str | None
    one_computed: str | None
    one_prev: str | None
    for raw in batch:
        try:
            event = parse_json(raw)  # a line the fast path could not prove: exactly
            times.extend(_times([event]))
            one_stored, one_computed, one_prev = recipe.examine(event)
        except Exception:  # _record() diagnoses the line again, slowly and precisely
            one_stored = one_computed = one_prev = None
        stored.append(one_stored)
        computed.append(one_computed)
        prevs.append(one_prev)
    return stored, computed, prevs
