"""Linux auditd raw text (``type=SYSCALL msg=audit(EPOCH:SERIAL): k=v ...``) as events.

auditd writes one event as several records, one a line, that share
``audit(EPOCH:SERIAL)`` and the ``node=`` prefix when the host is named (SYSCALL,
EXECVE, CWD, PATH, PROCTITLE, ...); they may interleave with other events' records
and straddle read chunks. Here they become one record per event: ``raw`` is the
event's lines joined with a newline, ``line`` the first one's number, ``doc`` the
JSON object the ``auditd`` adapter maps. ``#`` comments and blank lines
are skipped; any other line that is not an auditd record is passed on alone, as
it is, and is rejected as not JSON. Nothing here touches DuckDB.

An event is complete once ``LINGER_RECORDS`` records of other events have gone by
since its last record (or at the end of the input), so memory stays flat however
large the file. ``ingest.auditd_doc`` says what ``doc`` holds.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import orjson
import pyarrow as pa

from auditcli.ingest.auditd_doc import event_doc
from auditcli.ingest.framing import Batch, line_blocks

#: An event is complete when this many records of other events followed its last one.
LINGER_RECORDS = 1000
#: Lines read into one batch at most, and bytes read at a time: framing makes Python
#: objects per line, so these bound its memory.
BATCH_LINES = 1 << 16
READ_BYTES = 4 << 20
#: An event is cut after this many records (a runaway serial must not grow without end).
MAX_EVENT_RECORDS = 4096

_HEADER = re.compile(
    r"(?:node=(?P<node>\S+) )?type=(?P<type>\S+) msg=audit\("
    r"(?P<epoch>\d+)(?:\.(?P<millis>\d+))?:(?P<serial>\d+)\):?"
)
_TYPE_ONLY = re.compile(r"(?:node=(?P<node>\S+) )?type=(?P<type>\S+)(?: |$)")
_SNIFF = re.compile(rb"(?:node=\S+ )?type=\S+ msg=audit\(\d+(?:\.\d+)?:\d+\)")


def sniff(head: bytes) -> bool:
    """True when the first line that is not blank nor a ``#`` comment starts an auditd
    record, and one of the first such lines is one with its ``msg=audit(...)``."""
    records = [
        line.strip()
        for line in head.split(b"\n", 64)[:64]
        if line.strip() and not line.lstrip().startswith(b"#")
    ][:16]
    return (
        bool(records)
        and records[0].startswith((b"type=", b"node="))
        and any(_SNIFF.match(line) for line in records)
    )


@dataclass
class _Event:
    first_line: int
    node: str | None
    epoch: str | None
    millis: str | None
    serial: str | None
    lines: list[str] = field(default_factory=list)
    bodies: list[tuple[str, str]] = field(default_factory=list)
    """(type, text after the header) of each record."""
    last_seen: int = 0
    loose: bool = False
    """Not an auditd record: passed on as it is."""


def frame_auditd(head: bytes, stream: BinaryIO, chunk_bytes: int) -> Iterator[Batch]:
    """Yield the events of an auditd log whose first ``head`` bytes were read already."""
    grouper = _Grouper()
    next_line = 1
    events: list[_Event] = []
    started = False
    for lines, last in line_blocks(head, stream, min(chunk_bytes, READ_BYTES)):
        for start in range(0, len(lines) or 1, BATCH_LINES):
            for line in lines[start : start + BATCH_LINES]:
                grouper.add(line.removesuffix(b"\r"), next_line)
                next_line += 1
            final = last and start + BATCH_LINES >= len(lines)
            events.extend(grouper.take(final=final))
            # The loader picks the adapter from the first batch: let it hold a real record.
            if events and (started or final or any(not event.loose for event in events)):
                yield _batch(events)
                events, started = [], True


class _Grouper:
    """Gathers records into events by (node, EPOCH:SERIAL), in any order."""

    def __init__(self) -> None:
        self._open: OrderedDict[tuple[str | None, str, str], _Event] = OrderedDict()
        self._done: list[_Event] = []
        self._seen = 0

    def add(self, data: bytes, number: int) -> None:
        try:
            raw = text = data.decode("utf-8")
        except UnicodeDecodeError:
            raw = data.decode("utf-8", "backslashreplace")
            text = data.decode("utf-8", "replace")
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            return
        self._seen += 1
        header = _HEADER.match(stripped)
        if header is None:
            only = _TYPE_ONLY.match(stripped)
            alone = _Event(number, None, None, None, None, loose=only is None)
            if only is not None:
                alone.node = only.group("node")
                alone.bodies.append((only.group("type"), stripped[only.end() :]))
            alone.lines.append(raw)
            self._done.append(alone)
            return
        node, epoch, millis, serial = header.group("node", "epoch", "millis", "serial")
        key = (node, f"{epoch}.{millis}", serial)
        event = self._open.get(key)
        if event is None or len(event.bodies) >= MAX_EVENT_RECORDS:
            if event is not None:
                self._done.append(self._open.pop(key))
            event = _Event(number, node, epoch, millis, serial)
            self._open[key] = event
        else:
            self._open.move_to_end(key)
        event.lines.append(raw)
        event.bodies.append((header.group("type"), stripped[header.end() :]))
        event.last_seen = self._seen
        # Looked at now and then: an event lingers a sixteenth longer at most.
        while self._open and not self._seen % max(1, LINGER_RECORDS // 16):
            oldest = next(iter(self._open.values()))
            if oldest.last_seen > self._seen - LINGER_RECORDS:
                break
            self._done.append(self._open.popitem(last=False)[1])

    def take(self, *, final: bool) -> list[_Event]:
        """The events completed so far (all of them at the end), in order of first line."""
        if final:
            self._done.extend(self._open.values())
            self._open.clear()
        done, self._done = self._done, []
        done.sort(key=lambda event: event.first_line)
        return done


def _batch(events: list[_Event]) -> Batch:
    raw = pa.array(["\n".join(event.lines) for event in events], pa.string())
    docs = [
        event.lines[0]
        if event.loose
        else orjson.dumps(
            event_doc(event.node, event.epoch, event.millis, event.serial, event.bodies)
        ).decode()
        for event in events
    ]
    lines = pa.array([event.first_line for event in events], pa.int64())
    return Batch(raw, pa.array(docs, pa.string()), lines)
