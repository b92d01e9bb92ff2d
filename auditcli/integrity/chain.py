"""Verifying a hash chain: the entry points ``verify_chain`` and ``verify_texts``.

It owns the order of the checks: (1) every line is hashed again through the recipe
(scan.py, in worker processes for large plain files); (2) links are walked in chain
order and every defect is classified (walk.py); (3) the end is compared with the
anchors, an expected head and count or a signed checkpoint. It returns a report of every
defect and raises only when the input cannot be verified at all. It never prints.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from auditcli.errors import ChainUnverifiableError, UsageError
from auditcli.integrity import sources
from auditcli.integrity.recipe import AuditChainRecipe, ChainRecipe
from auditcli.integrity.report import ChainReport, Finding, FindingKind
from auditcli.integrity.scan import BlockScan, Item, Run, scan_block, scan_lines, shift
from auditcli.integrity.sources import (
    Block,
    NamedStream,
    Source,
    display_name,
    open_lines,
    plan_ranges,
    read_range,
    source_size,
)
from auditcli.integrity.walk import LinkWalk

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["Anchor", "verify_chain", "verify_texts"]

PARALLEL_MIN_BYTES = 8 << 20
"""Plain files smaller than this are hashed in-process: a pool would cost more."""

TEXT_BLOCK = 8192
"""Texts verify_texts hashes per block."""

_Task = TypeVar("_Task")

UNANCHORED_NOTE = (
    "the end of the chain is unanchored: events cut from the end cannot be detected"
    " (give an expected head or count, or a signed checkpoint)"
)


@dataclass(frozen=True)
class Anchor:
    """What the end of the chain must be, learnt elsewhere."""

    head: str | None = None
    count: int | None = None
    origin: str = "the expected"  # how messages name it, e.g. "the checkpoint's"


def _scan_range(task: tuple[str, int, int, ChainRecipe, str, bool]) -> BlockScan:
    path, start, stop, recipe, name, is_last = task
    data = read_range(path, start, stop)
    cut_short = is_last and not data.endswith(b"\n")
    return scan_block(data, recipe, name, last_cut_short=cut_short)


def _scan_block(task: tuple[Block, ChainRecipe, str]) -> BlockScan:
    block, recipe, name = task
    return scan_block(block.data, recipe, name, last_cut_short=block.cut_short)


class _Workers:
    """Runs scan tasks in order, in a process pool created on first need."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool: ProcessPoolExecutor | None = None

    def run(
        self, scan: Callable[[_Task], BlockScan], tasks: Iterable[_Task], parallel: bool
    ) -> Iterator[BlockScan]:
        if not parallel or self.jobs <= 1:
            yield from map(scan, tasks)
            return
        if self._pool is None:
            # Imported only now: the CLI ends at once unless a pool may have started
            # (see cli._end_now), and a load checks its chain without one.
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # fork starts workers at once but is safe only while no other thread runs
            # (load checks a chain on a helper thread beside DuckDB's): else forkserver
            methods = multiprocessing.get_all_start_methods()
            method = "fork" if "fork" in methods and threading.active_count() == 1 else None
            if method is None and "forkserver" in methods:
                method = "forkserver"
            context = multiprocessing.get_context(method)
            self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=context)
        window: deque[Future[BlockScan]] = deque()
        for task in tasks:
            window.append(self._pool.submit(scan, task))
            if len(window) > 2 * self.jobs:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


class _Verification:
    """State of one verification while blocks arrive in chain order."""

    def __init__(self, recipe: ChainRecipe, progress: Callable[[int], None] | None) -> None:
        self.recipe = recipe
        self.walk = LinkWalk(recipe.genesis)
        self.events = 0
        self.first_time: str | None = None
        self.last_time: str | None = None
        self.extra: list[Finding] = []
        self.files: list[str] = []
        self.last_place: tuple[str, int] = ("", 1)
        self._progress = progress
        self._ends: dict[str, list[str | None]] = {}
        """Per file: the hash its first event names, and its last event's hash."""

    def add(self, scan: BlockScan, name: str, offset: int) -> int:
        """Feed one block's items; return the file's line offset after it."""
        chosen: list[Item] = scan.items
        if scan.whole is not None and self.walk.takes_run(scan.whole):
            chosen = [scan.whole]
        items = chosen if offset == 0 else [shift(i, offset) for i in chosen]
        self._note_ends(name, items)
        self.walk.feed(items)
        self.events += scan.events
        if scan.first_time is not None and scan.last_time is not None:
            if self.first_time is None or scan.first_time < self.first_time:
                self.first_time = scan.first_time
            if self.last_time is None or scan.last_time > self.last_time:
                self.last_time = scan.last_time
        if self._progress is not None:
            self._progress(self.events)
        if scan.lines:
            self.last_place = (name, offset + scan.lines)
        return offset + scan.lines

    def _note_ends(self, name: str, items: list[Item]) -> None:
        ends = self._ends.setdefault(name, [None, None])
        for item in items:
            if isinstance(item, Run):
                first, last = item.first_prev, item.last_hash
            elif item.stored is not None:
                first, last = item.prev, item.stored
            else:
                continue
            if ends[1] is None:  # its first event
                ends[0] = first
            ends[1] = last

    def linked_order(self) -> list[str] | None:
        """The order in which the files link into one chain, when it is not the order
        they were given in (rotated logs read by name: audit.log.10 before .2)."""
        if len(self.files) < 2 or len(self._ends) != len(self.files):
            return None
        firsts = {ends[0]: name for name, ends in self._ends.items()}
        lasts = {ends[1] for ends in self._ends.values()}
        starts = [name for name, ends in self._ends.items() if ends[0] not in lasts]
        if len(firsts) != len(self.files) or len(starts) != 1:
            return None
        order = starts
        while len(order) < len(self.files):
            following = firsts.get(self._ends[order[-1]][1])
            if following is None or following in order:
                return None
            order = [*order, following]
        return None if order == self.files else order

    def verify_source(self, source: Source, workers: _Workers) -> None:
        name = display_name(source)
        self.files.append(name)
        self.last_place = (name, 1)
        size = None if isinstance(source, NamedStream) else source_size(source)
        offset = 0
        if size is not None and not isinstance(source, NamedStream):
            path = os.fspath(source)
            ranges = plan_ranges(path, sources.BLOCK_BYTES)
            range_tasks = [
                (path, start, stop, self.recipe, name, index == len(ranges) - 1)
                for index, (start, stop) in enumerate(ranges)
            ]
            for scan in workers.run(_scan_range, range_tasks, size >= PARALLEL_MIN_BYTES):
                offset = self.add(scan, name, offset)
            return
        blocks = iter(open_lines(source, sources.BLOCK_BYTES))
        problems: list[Block] = []

        def block_tasks() -> Iterator[tuple[Block, ChainRecipe, str]]:
            for block in blocks:
                if block.problem is not None:
                    problems.append(block)
                yield block, self.recipe, name

        task_iter = block_tasks()
        read = 0
        for task in task_iter:  # in-process until the stream proves large
            offset = self.add(_scan_block(task), name, offset)
            read += len(task[0].data)
            if read >= PARALLEL_MIN_BYTES:
                for scan in workers.run(_scan_block, task_iter, parallel=True):
                    offset = self.add(scan, name, offset)
        for stopped in problems:
            kind = FindingKind.TRUNCATED if stopped.problem_is_cut else FindingKind.MALFORMED
            self.extra.append(Finding(kind, name, offset + 1, stopped.problem or ""))

    def report(self, anchor: Anchor | None, notes: list[str]) -> ChainReport:
        walk = self.walk
        walk.finish()
        findings = walk.findings + self.extra
        if (
            self.events
            and walk.first_hash is None
            and all(f.kind in (FindingKind.MALFORMED, FindingKind.TRUNCATED) for f in findings)
        ):
            reason = findings[0].message if findings else "no event could be read"
            raise ChainUnverifiableError(
                f"no line holds a chained event ({reason})",
                "seal the export first with `auditcli seal`, or name the hash members",
                path=self.files[0] if self.files else None,
            )
        order = {name: index for index, name in reversed(list(enumerate(self.files)))}
        findings.sort(key=lambda f: (order.get(f.file, len(order)), f.line))
        if anchor is None:
            notes.append(UNANCHORED_NOTE)
        else:
            findings.extend(self._anchor_findings(anchor, findings))
        linked = self.linked_order() if findings else None
        if linked is not None:
            notes.append(
                "the files link into one chain in another order: "
                + ", ".join(linked)
                + " (given in another order, their events read as inserted and missing)"
            )
        if not walk.seq_seen and walk.chain_length:
            notes.append(
                "no event carries a sequence number: deleted events are reported without a count"
            )
        tip = walk.tip
        return ChainReport(
            scheme=self.recipe.scheme,
            events=self.events,
            first_hash=walk.first_hash,
            head=None if tip is None else tip.stored,
            first_time=self.first_time,
            last_time=self.last_time,
            findings=tuple(findings),
            notes=tuple(notes),
        )

    def _anchor_findings(self, anchor: Anchor, findings: list[Finding]) -> list[Finding]:
        """Check 3: the end of the chain against the anchors; at most one finding."""
        walk = self.walk
        tip = walk.tip
        head = walk.tip_hash  # the genesis when no event is on the chain
        length = walk.chain_length + walk.deleted_counted + walk.moved_off_chain
        file, line = (tip.file, tip.line) if tip is not None else self.last_place
        uncounted = [
            i for i, f in enumerate(findings) if f.kind is FindingKind.DELETED and f.count is None
        ]
        who = anchor.origin
        cut = sum(f.kind is FindingKind.TRUNCATED for f in findings)  # last lines cut short
        if cut and anchor.count == length + cut:
            return []  # they are the shortfall, already reported; their hashes are lost

        def finding(kind: FindingKind, message: str) -> list[Finding]:
            return [Finding(kind, file, line, message, expected=anchor.head, computed=head)]

        if anchor.count is not None and anchor.count > length:
            missing = anchor.count - length
            if anchor.head is not None and anchor.head == head:
                if len(uncounted) == 1:  # the head holds: the gap found above is the shortfall
                    index = uncounted[0]
                    findings[index] = replace(
                        findings[index],
                        count=missing,
                        message=f"{findings[index].message} ({missing} events, by the count)",
                    )
                    return []
                if uncounted:
                    return []
                return finding(
                    FindingKind.COUNT_MISMATCH,
                    f"{who} count is {anchor.count} events up to the expected head,"
                    f" the chain has {length}",
                )
            kind = FindingKind.COUNT_MISMATCH if uncounted else FindingKind.TRUNCATED
            message = (
                f"{who} count is {anchor.count} events, the chain has {length}:"
                f" {missing} events missing at the end"
            )
            if anchor.head is not None:
                message += f"; {who} head is {anchor.head}, the chain ends at {head}"
            if uncounted:
                message = message.replace(" at the end", " (at the end or at a gap above)")
            return finding(kind, message)
        if anchor.head is not None and anchor.head != head:
            named = walk.find_on_chain(anchor.head)
            if named is not None:
                return finding(
                    FindingKind.HEAD_MISMATCH,
                    f"{who} head {anchor.head} is the hash of {named.file}:{named.line};"
                    f" {walk.chain_length - named.pos} events follow it",
                )
            return finding(
                FindingKind.HEAD_MISMATCH,
                f"{who} head is {anchor.head}, computed {head}: the last events were altered,"
                " or events are missing at the end",
            )
        if anchor.count is not None and anchor.count < length:
            return finding(
                FindingKind.COUNT_MISMATCH,
                f"{who} count is {anchor.count} events, the chain has {length}",
            )
        return []


_HEX = re.compile(r"[0-9a-fA-F]+")


def _anchor(expected_head: str | None, expected_count: int | None) -> Anchor | None:
    if expected_count is not None and expected_count < 0:
        raise UsageError("the expected count must not be negative")
    if expected_head is not None and not _HEX.fullmatch(expected_head.strip()):
        raise UsageError(
            f"the expected head {expected_head.strip()!r} is not a hash in hex",
            "give the hash the chain must end on, as `seal` printed it",
        )
    if expected_head is None and expected_count is None:
        return None
    return Anchor(expected_head.strip().lower() if expected_head else None, expected_count)


def _checkpoint_anchor(
    note: bytes, public_key_pem: bytes, recipe: ChainRecipe, notes: list[str]
) -> tuple[Anchor | None, Finding | None]:
    from auditcli.integrity.checkpoint import (
        CheckpointSignatureError,
        load_public_key,
        verify_checkpoint,
    )

    try:
        checkpoint = verify_checkpoint(note, load_public_key(public_key_pem))
    except CheckpointSignatureError as e:
        notes.append("the checkpoint's count and head were not used: its signature is bad")
        return None, Finding(FindingKind.BAD_SIGNATURE, "<checkpoint>", 1, e.message)
    notes.append(
        f"checkpoint by {checkpoint.name}, created {checkpoint.created}:"
        f" {checkpoint.count} events, head {checkpoint.head}"
    )
    expected_digest = _digest_label(recipe)
    if expected_digest is not None and checkpoint.digest != expected_digest:
        notes.append(
            f"the checkpoint was made with digest {checkpoint.digest},"
            f" this verification uses {expected_digest}"
        )
    return Anchor(checkpoint.head, checkpoint.count, "the checkpoint's"), None


def _digest_label(recipe: ChainRecipe) -> str | None:
    if isinstance(recipe, AuditChainRecipe):
        return ("hmac-" if recipe.keyed else "") + recipe.algorithm.value
    return None


def verify_chain(
    sources: Iterable[Source],
    recipe: ChainRecipe | None = None,
    *,
    expected_head: str | None = None,
    expected_count: int | None = None,
    checkpoint: bytes | None = None,
    checkpoint_key: bytes | None = None,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ChainReport:
    """Verify sources that together form one chain, in the order given.

    ``checkpoint`` is a signed note and ``checkpoint_key`` the PEM public key to check
    it with; its count and head then anchor the end. ``jobs`` caps worker processes
    (default: all cores). Raises InputError when a source cannot be read and
    ChainUnverifiableError when no line holds a chained event.
    """
    recipe = recipe if recipe is not None else AuditChainRecipe()
    notes: list[str] = []
    anchor = _anchor(expected_head, expected_count)
    signature_finding = None
    if checkpoint is not None:
        if anchor is not None:
            raise UsageError("give either a checkpoint or an expected head and count, not both")
        if checkpoint_key is None:
            raise UsageError("a checkpoint needs the public key that signed it")
        anchor, signature_finding = _checkpoint_anchor(checkpoint, checkpoint_key, recipe, notes)
    verification = _Verification(recipe, progress)
    workers = _Workers(jobs if jobs is not None else (os.cpu_count() or 1))
    try:
        for source in sources:
            verification.verify_source(source, workers)
    finally:
        workers.close()
    if not verification.files:
        raise UsageError("no input to verify")
    report = verification.report(anchor, notes)
    if signature_finding is not None:
        report = replace(report, findings=(signature_finding, *report.findings))
    return report


def verify_texts(
    texts: Sequence[str | bytes],
    recipe: ChainRecipe | None = None,
    *,
    name: str = "<database>",
    expected_head: str | None = None,
    expected_count: int | None = None,
) -> tuple[ChainReport, set[int]]:
    """Verify events held in memory as raw JSON texts, in chain order.

    Line numbers in the report are 1-based positions in ``texts``. Also returns the
    positions inside broken stretches, for marking stored events as unverified.
    """
    recipe = recipe if recipe is not None else AuditChainRecipe()
    notes: list[str] = []
    verification = _Verification(recipe, None)
    verification.files.append(name)
    offset = 0
    for start in range(0, len(texts), TEXT_BLOCK):
        lines = [
            text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
            for text in texts[start : start + TEXT_BLOCK]
        ]
        offset = verification.add(scan_lines(lines, recipe, name), name, offset)
    report = verification.report(_anchor(expected_head, expected_count), notes)
    return report, report.broken_lines(name)
