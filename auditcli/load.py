"""Loading sources into the store: one transaction, provenance, rejects, dedup.

For each source: skip it when its bytes are already loaded; frame it; pick the
adapter from its first events; map its batches in bulk inside DuckDB, as DuckDB
scans them (``_Streams``); keep the records that cannot be events in ``rejects``;
record the source in ``sources``. The whole load commits at the end or not at all.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

from auditcli.chains import BackgroundCheck, chain_start, default_recipe, record, stored_texts
from auditcli.errors import ProblemFound
from auditcli.firsts import record_first_seen
from auditcli.ingest import adapter_named, detect, generic
from auditcli.ingest.adapter import MACROS, MAPPED_COLUMNS, JsonAdapter, mapping_sql
from auditcli.ingest.framing import CHUNK_BYTES, Batch, LinePrefilter, frame, json_objects
from auditcli.ingest.sources import SourceRef, hash_file, open_source
from auditcli.integrity import verify_texts
from auditcli.query import EventFilter, prefilter_needles, pushdown_clause
from auditcli.store import Store

#: How many of a file's first events choose its adapter and the paths it reads.
SAMPLE_EVENTS = 500

ProgressFn = Callable[[int], None]
"""Called with the number of stored bytes read since the last call."""


@dataclass(frozen=True)
class LoadOptions:
    """How to read the sources."""

    input_format: str | None = None
    mapping: Mapping[str, tuple[str, ...]] | None = None
    strict: bool = False
    event_filter: EventFilter | None = None
    """Keep only matching events (runs straight on paths); rejects are then
    counted only among lines that could match."""
    check_chains: bool = True
    """Check the hash chain of chained files as they load (see ``chains``). A
    filtered load is a query, not evidence: it checks no chain and records no
    first appearances."""


@dataclass(frozen=True)
class SourceResult:
    """What one source contributed."""

    name: str
    sha256: str
    source_format: str
    events: int
    rejects: int
    first_ts: datetime | None
    last_ts: datetime | None
    already_loaded: bool = False
    source_id: int | None = None


@dataclass(frozen=True)
class LoadReport:
    """What a load did, for the summary line."""

    sources: tuple[SourceResult, ...]
    duration_s: float
    first_reject: tuple[str, int, str] | None = None
    """(file, line, reason) of the first rejected record."""

    @property
    def events(self) -> int:
        return sum(s.events for s in self.sources)

    @property
    def rejects(self) -> int:
        return sum(s.rejects for s in self.sources)

    @property
    def loaded(self) -> tuple[SourceResult, ...]:
        return tuple(s for s in self.sources if not s.already_loaded)

    @property
    def skipped(self) -> tuple[SourceResult, ...]:
        return tuple(s for s in self.sources if s.already_loaded)

    @property
    def span(self) -> tuple[datetime | None, datetime | None]:
        firsts = [s.first_ts for s in self.sources if s.first_ts is not None]
        lasts = [s.last_ts for s in self.sources if s.last_ts is not None]
        return (min(firsts) if firsts else None, max(lasts) if lasts else None)


def load(
    store: Store,
    refs: Sequence[SourceRef],
    options: LoadOptions = LoadOptions(),
    *,
    progress: ProgressFn | None = None,
    stdin: BinaryIO | None = None,
) -> LoadReport:
    """Load ``refs`` into ``store`` in one transaction; raise ProblemFound under --strict."""
    started = time.monotonic()
    results: list[SourceResult] = []
    first_reject: tuple[str, int, str] | None = None
    with store.transaction():
        interrupted = threading.Event()  # set on Ctrl-C (see _interruptible)
        reading = _Reading(store, options, progress, stdin, interrupted)
        items = reading.items(refs)
        try:
            _Streams(store, interrupted).run(items)
        finally:
            items.close()
        for item in reading.read:
            if isinstance(item, _Pending):
                store.execute(
                    "INSERT INTO sources (source_id, source_file, size_bytes, loaded_at) "
                    "VALUES (?, ?, ?, ?)",
                    [item.source_id, item.ref.name, item.ref.size, item.loaded_at],
                )
        for item in reading.read:
            result = item if isinstance(item, SourceResult) else _finish(store, item)
            results.append(result)
            if result.rejects and first_reject is None:
                first_reject = _first_reject(store, result.sha256)
        if options.event_filter is None:
            record_first_seen(store, [r.source_id for r in results if r.source_id is not None])
        if options.strict and first_reject is not None:
            file, line, reason = first_reject
            total = sum(r.rejects for r in results)
            raise ProblemFound(
                f"{file}:{line}: {reason} ({total} rejected record(s)); nothing was loaded",
                "fix the input, or load without --strict to keep the rest and list "
                "the rejects with `auditcli rejects`",
            )
    return LoadReport(tuple(results), time.monotonic() - started, first_reject)


def _first_reject(store: Store, sha256: str) -> tuple[str, int, str] | None:
    row = store.fetchone(
        "SELECT source_file, source_line, reason FROM rejects WHERE file_sha256 = ? "
        "ORDER BY source_line LIMIT 1",
        [sha256],
    )
    return None if row is None else (str(row[0]), int(row[1]), str(row[2]))


@dataclass(frozen=True)
class _Mapper:
    """The INSERT that maps a source's batches, chosen once its first batch shows the format."""

    adapter: JsonAdapter
    sql: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class _Pending:
    """A source whose records are being mapped; it is finished once they are."""

    ref: SourceRef
    source_id: int
    sha256: str
    size: int
    adapter: JsonAdapter | None
    loaded_at: datetime
    chain: BackgroundCheck | str | None = None
    """The running check of the file's chain, or the first link of a chained
    stream to check from its stored text, or None when it is not chained."""
    header: tuple[str, str | None] | None = None
    """A CSV file's header row and the delimiter its rows were read by (see
    ``schema.RAW_HEADER``)."""


@dataclass(frozen=True)
class _Item:
    """A framed batch of source ``source_id``, with the SQL that maps it."""

    mapper: _Mapper
    source_id: int
    batch: Batch


class _Reading:
    """Reads the sources in turn and frames them into items for the streams.

    It runs inside DuckDB's scan of a stream, so it never queries the store: the
    sources loaded before and the next source id are read first, and what it learns
    of each source is kept in ``read`` for after the streams.
    """

    def __init__(
        self,
        store: Store,
        options: LoadOptions,
        progress: ProgressFn | None,
        stdin: BinaryIO | None,
        interrupted: threading.Event,
    ) -> None:
        self.options = options
        self.progress = progress
        self.stdin = stdin
        self.interrupted = interrupted
        self.read: list[SourceResult | _Pending] = []
        loaded = store.fetchall(
            "SELECT source_file, size_bytes, file_sha256 FROM sources WHERE file_sha256 IS NOT NULL"
        )
        self._named = {(name, size) for name, size, _sha in loaded}
        self._hashes = {sha for _name, _size, sha in loaded}
        self._next_id = int(store.scalar("SELECT coalesce(max(source_id), 0) + 1 FROM sources"))

    def items(self, refs: Sequence[SourceRef]) -> Generator[_Item, None, None]:
        for ref in refs:
            yield from self._source(ref)

    def _already_loaded(self, ref: SourceRef) -> str | None:
        """The sha256 of ``ref`` if a file with its name, size and bytes is loaded."""
        if ref.path is None or ref.size is None or (ref.name, ref.size) not in self._named:
            return None
        sha256 = hash_file(ref.path)
        return sha256 if sha256 in self._hashes else None

    def _source(self, ref: SourceRef) -> Iterator[_Item]:
        """Frame one source into items; record it in ``read``."""
        progress, options = self.progress, self.options
        known = self._already_loaded(ref)
        if known is not None:
            if progress is not None and ref.size:
                progress(ref.size)
            self.read.append(
                SourceResult(ref.name, known, "", 0, 0, None, None, already_loaded=True)
            )
            return
        source_id, self._next_id = self._next_id, self._next_id + 1
        loaded_at = datetime.now(UTC)
        prefilter = LinePrefilter()
        mapper: _Mapper | None = None
        chain: BackgroundCheck | str | None = None
        opened = _Opened()
        reported = 0
        batches = _framed(ref, self.stdin, prefilter, opened)
        if ref.size is None or ref.size > CHUNK_BYTES:
            # Read (and opened) on a helper thread: a wait for an idle pipe there still
            # ends on Ctrl-C, as the thread taking the batches waits in slices.
            batches = _prefetched(batches, self.interrupted)
        header = None
        for batch in batches:
            header = None if batch.header is None else (batch.header, batch.delimiter)
            if mapper is None:
                sample = _sample(batch)
                mapper = _mapper_for(sample, options)
                checking = options.check_chains and options.event_filter is None
                start = chain_start(sample) if checking else None
                if start is not None:
                    chain = start
                    if ref.path is not None and ref.size is not None and not opened.compressed:
                        chain = BackgroundCheck(ref.path, default_recipe(start))
                if options.event_filter is not None:
                    prefilter.needles = _needles(options.event_filter, mapper.adapter)
            yield _Item(mapper, source_id, batch)
            if progress is not None:
                progress(opened.bytes_read - reported)
                reported = opened.bytes_read
        adapter = mapper.adapter if mapper else None
        self.read.append(
            _Pending(
                ref, source_id, opened.sha256, opened.bytes_read, adapter, loaded_at, chain, header
            )
        )


@dataclass
class _Opened:
    """What reading a source has learnt of it so far (see ``_framed``)."""

    compressed: bool = False
    bytes_read: int = 0
    """Stored (possibly compressed) bytes read."""
    sha256: str = ""
    """Set once the source is read to its end."""


def _framed(
    ref: SourceRef, stdin: BinaryIO | None, prefilter: LinePrefilter, opened: _Opened
) -> Iterator[Batch]:
    """The batches of ``ref``, opening it only once iterated, so that all of its reading,
    from the first byte to the last, can run on another thread."""
    with open_source(ref, stdin) as source:
        opened.compressed = source.compressed
        for batch in frame(source.stream, prefilter=prefilter):
            opened.bytes_read = source.bytes_read
            yield batch
        opened.sha256 = source.sha256()
        opened.bytes_read = source.bytes_read


def _finish(store: Store, pending: _Pending) -> SourceResult:
    """Record a mapped source in ``sources``, or drop it when its bytes were loaded already."""
    ref, source_id, sha256 = pending.ref, pending.source_id, pending.sha256
    if store.scalar("SELECT count(*) FROM sources WHERE file_sha256 = ?", [sha256]):
        for table in ("event_rows", "reject_rows", "sources"):
            store.execute(f"DELETE FROM {table} WHERE source_id = ?", [source_id])
        return SourceResult(ref.name, sha256, "", 0, 0, None, None, already_loaded=True)
    if pending.adapter is not None:
        for statement in pending.adapter.post_load:
            store.execute(statement, {"source_id": source_id})
    _check_chain(store, pending)
    if pending.header is not None:
        store.execute(
            "INSERT INTO csv_headers SELECT ?, ?, min(raw_ref), max(raw_ref), ?"
            " FROM event_rows WHERE source_id = ?",
            [source_id, *pending.header, source_id],
        )
    source_format = pending.adapter.name if pending.adapter else "empty"
    store.execute(
        """UPDATE sources SET file_sha256 = ?, source_format = ?, size_bytes = ?,
             events = (SELECT count(*) FROM event_rows WHERE source_id = ?),
             rejects = (SELECT count(*) FROM reject_rows WHERE source_id = ?),
             first_ts = (SELECT min(ts) FROM event_rows WHERE source_id = ?),
             last_ts = (SELECT max(ts) FROM event_rows WHERE source_id = ?)
           WHERE source_id = ?""",
        [sha256, source_format, pending.size, *([source_id] * 5)],
    )
    row = store.fetchone(
        "SELECT events, rejects, first_ts, last_ts FROM sources WHERE source_id = ?", [source_id]
    )
    assert row is not None
    return SourceResult(
        ref.name, sha256, source_format, row[0], row[1], row[2], row[3], source_id=source_id
    )


def _check_chain(store: Store, pending: _Pending) -> None:
    """Record the source's chain check: the file's, or one of its stored text."""
    if isinstance(pending.chain, BackgroundCheck):
        report = pending.chain.result()
        if report is not None:
            broken = {line for f in report.findings for line in report.broken_lines(f.file)}
            record(store, pending.source_id, report, broken)
    elif isinstance(pending.chain, str):
        texts, lines = stored_texts(store, pending.source_id)
        recipe = default_recipe(pending.chain)
        report, positions = verify_texts(texts, recipe, name=pending.ref.name)
        broken = {lines[p - 1] for p in positions if 0 < p <= len(lines)}
        record(store, pending.source_id, report, broken)


def _mapper_for(sample: list[dict[str, Any]], options: LoadOptions) -> _Mapper:
    if options.mapping is not None:
        candidates = generic.with_user_paths(dict(options.mapping))
        full = generic.build(candidates)
        adapter = generic.pruned_for(sample, candidates)
    elif options.input_format is not None:
        full = adapter = adapter_named(options.input_format)
    else:
        full = adapter = detect(sample)
    if full.name == generic.GENERIC.name and options.mapping is None:
        adapter = generic.pruned_for(sample)
    fallback = full if adapter is not full else full.fallback
    select = mapping_sql(adapter, fallback=fallback)
    if options.event_filter is None:
        return _Mapper(full, _insert_sql(select))
    condition, params = pushdown_clause(options.event_filter)
    return _Mapper(full, _insert_sql(select, condition), tuple(params))


def _insert_sql(select: str, condition: str = "TRUE") -> str:
    """Store the good events that ``select`` (a ``mapping_sql``) yields and ``condition``
    keeps, and its rejects but blank lines, in one pass: a stream is scanned once.

    A reject is stored as a row without ``ts`` (no event lacks it), its reason in
    ``error`` and its text in ``extra``, until ``_MOVE_REJECTS`` moves it to reject_rows.
    """
    columns = ", ".join(MAPPED_COLUMNS)
    carried = {
        "ts": "CASE WHEN reject_reason IS NULL THEN ts END",
        "error": "CASE WHEN reject_reason IS NULL THEN error ELSE reject_reason END",
        "extra": "CASE WHEN reject_reason IS NULL THEN extra ELSE raw END",
    }
    selected = ", ".join(carried.get(column, column) for column in MAPPED_COLUMNS)
    return (
        f"INSERT INTO event_rows (source_id, {columns}, source_line, raw_ref) "
        f"SELECT source_id, {selected}, source_line, raw_ref FROM ({select}) "
        f"WHERE (reject_reason IS NULL AND ({condition})) OR reject_reason <> 'blank'"
    )


#: The rejects a stream stored among the events of sources numbered from $1 on,
#: moved to reject_rows (see ``_insert_sql``).
_MOVE_REJECTS = (
    "INSERT INTO reject_rows SELECT source_id, source_line, error, extra "
    "FROM event_rows WHERE source_id >= ? AND ts IS NULL",
    "DELETE FROM event_rows WHERE source_id >= ? AND ts IS NULL",
)


def _needles(event_filter: EventFilter, adapter: JsonAdapter) -> list[bytes] | None:
    """The prefilter's needles; with an embedded event, also as written inside a JSON string."""
    needles = prefilter_needles(event_filter, adapter.verbatim)
    if needles is None or adapter.embedded is None:
        return needles
    nested = (orjson.dumps(needle.decode())[1:-1] for needle in needles)
    return list(dict.fromkeys([*needles, *nested]))


def _sample(batch: Batch) -> list[dict[str, Any]]:
    return json_objects(batch.doc.slice(0, SAMPLE_EVENTS * 2).to_pylist(), SAMPLE_EVENTS)


#: Record bytes after which a stream into an in-memory store ends, so that the texts of
#: the records it did not store are let go of.
STAGE_BYTES = 48 << 20


class _Streams:
    """Maps items into event_rows: one INSERT per run of items that share a mapping,
    which scans them from a stream as they are read.

    One query per file is planned once, and fills the table's row groups whole:
    mapping a file in many small queries took twice the time. Each batch's texts are
    stored on a helper thread while DuckDB maps the batch before. An in-memory store
    ends a stream every ``STAGE_BYTES``: it keeps only the texts of the events it
    stored (see ``Store.kept``), and its filter keeps few of the records it reads.
    """

    def __init__(self, store: Store, interrupted: threading.Event) -> None:
        self.store = store
        self.texts = store.texts  # opened now: opening it queries the store
        self.limit = STAGE_BYTES if store.in_memory else None
        self.interrupted = interrupted
        """Set on Ctrl-C: the stream ends at its next batch (see ``_interruptible``)."""
        for macro in MACROS:  # what the mapping SQL calls
            store.execute(macro)

    def run(self, items: Iterator[_Item]) -> None:
        """Map every item; raise what reading them raised."""
        with ThreadPoolExecutor(1, thread_name_prefix="auditcli-texts") as pool:
            following = next(items, None)
            while following is not None:
                following = self._stream(following, items, pool)

    def _stream(
        self, first: _Item, items: Iterator[_Item], pool: ThreadPoolExecutor
    ) -> _Item | None:
        """Map ``first`` and the items after it that share its mapping, in one query;
        return the item that ends the stream, or None at the end of ``items``."""
        mapper = first.mapper
        ended: list[_Item] = []
        failed: list[BaseException] = []
        held: list[pa.Table] = []  # what an in-memory store keeps texts of

        def tables(item: _Item, refs: pa.Array) -> Iterator[pa.RecordBatch]:
            table = _table(item.source_id, item.batch, refs)
            if self.limit is not None:
                held.append(table)
            # Many small record batches let DuckDB map them on every core.
            yield from table.to_batches(8192)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                current, refs = first, pool.submit(self.texts.append, first.batch.raw)
                staged = _size(first.batch)
                for item in items:
                    if self.interrupted.is_set():
                        raise KeyboardInterrupt
                    if (item.mapper.sql, item.mapper.params) != (mapper.sql, mapper.params) or (
                        self.limit is not None and staged >= self.limit
                    ):
                        ended.append(item)
                        break
                    ahead = pool.submit(self.texts.append, item.batch.raw)
                    yield from tables(current, refs.result())
                    current, refs, staged = item, ahead, staged + _size(item.batch)
                yield from tables(current, refs.result())
            except GeneratorExit:  # closed unread: the query failed, and says so
                raise
            except BaseException as error:  # raised once DuckDB has let go of the stream
                failed.append(error)

        reader = pa.RecordBatchReader.from_batches(_STAGED, batches())
        _interruptible(
            lambda: self.store.query_table("batch", reader, mapper.sql, mapper.params),
            self.interrupted,
        )
        if failed:
            raise failed[0]
        _remap_lone_surrogates(self.store, mapper, first.source_id)
        for sql in _MOVE_REJECTS:
            self.store.execute(sql, [first.source_id])
        if held:  # one lookup of the stored references for the whole stream
            self.store.kept(pa.concat_tables(held))
        return ended[0] if ended else None


#: A \u escape of a UTF-16 surrogate (after an even run of backslashes, so an escape):
#: a high one with its low one is a character; either alone, DuckDB's parser refuses.
_SURROGATE_ESCAPE = re.compile(
    r"(?<!\\)((?:\\\\)*)\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    r"|(?<!\\)((?:\\\\)*)\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _remap_lone_surrogates(store: Store, mapper: _Mapper, first_source: int) -> None:
    """Map again, with U+FFFD for each lone surrogate, the records of sources numbered
    from ``first_source`` on that were rejected as not JSON for one.

    RFC 8259 allows ``"\\ud800"``, and Python reads it, but DuckDB's parser refuses it:
    one such escape in a field made an event a reject, out of every filter's sight.
    ``raw`` keeps the text as written. Only rejects are looked at, so a load pays
    nothing for this when there are none."""
    found = store.fetchall(
        "SELECT source_id, source_line, raw_ref, extra FROM event_rows "
        "WHERE source_id >= ? AND ts IS NULL AND error = 'not JSON' "
        r"AND regexp_matches(extra, '\\[uU][dD][89a-fA-F][0-9a-fA-F]{2}')",
        [first_source],
    )
    rows: dict[str, list[Any]] = {"source_id": [], "raw": [], "raw_ref": [], "doc": [], "line": []}
    for source_id, line, ref, raw in found:
        doc = _SURROGATE_ESCAPE.sub(_lone_to_fffd, raw)
        if doc != raw:
            for name, value in zip(rows, (source_id, raw, ref, doc, line), strict=True):
                rows[name].append(value)
    refs = rows["raw_ref"]
    if not refs:
        return
    batch = pa.Table.from_pydict(rows, schema=_STAGED)
    store.execute(
        "DELETE FROM event_rows WHERE source_id >= ? AND ts IS NULL AND error = 'not JSON' "
        "AND list_contains(?, raw_ref)",
        [first_source, refs],
    )
    store.query_table("batch", batch, mapper.sql, mapper.params)


def _lone_to_fffd(match: re.Match[str]) -> str:
    if match.group(2) is not None:  # a high surrogate
        if match.group(3) is not None:
            return match.group(0)  # with its low one: a character
        return f"{match.group(1)}\\ufffd"
    return f"{match.group(4)}\\ufffd"


def _interruptible(run: Callable[[], object], stop: threading.Event) -> None:
    """``run()`` on a helper thread, so that Ctrl-C reaches this one at once.

    A stream's query can run for minutes, and a signal reaches only the main thread,
    which, blocked inside DuckDB, would see it only when DuckDB happened to read the
    stream on it. Ctrl-C sets ``stop``, which ends the stream at its next batch, and
    is raised once the query has let go of the connection. (An Event says when: a
    ``Thread.join`` that Ctrl-C interrupts may report the thread finished.)
    """
    failed: list[BaseException] = []
    done = threading.Event()

    def target() -> None:
        try:
            run()
        except BaseException as error:  # raised below, on this thread
            failed.append(error)
        finally:
            done.set()

    helper = threading.Thread(target=target, name="auditcli-mapping", daemon=True)
    helper.start()
    try:
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        stop.set()
        while not done.is_set():  # within a batch; a second Ctrl-C waits for it too
            with suppress(KeyboardInterrupt):
                done.wait(0.1)
        raise
    helper.join()  # it has finished run(): gone at once, so the CLI can end at once
    if failed:
        raise failed[0]


def _size(batch: Batch) -> int:
    return int(batch.raw.nbytes + batch.doc.nbytes + batch.line.nbytes)


#: The columns of a stream, which ``mapping_sql`` reads.
_STAGED = pa.schema(
    [
        ("source_id", pa.int32()),
        ("raw", pa.string()),
        ("raw_ref", pa.int64()),
        ("doc", pa.string()),
        ("line", pa.int64()),
    ]
)


def _table(source_id: int, batch: Batch, refs: pa.Array) -> pa.Table:
    """The columns ``mapping_sql`` reads, for ``batch``."""
    ids = pa.repeat(pa.scalar(source_id, pa.int32()), len(batch))
    return pa.Table.from_arrays([ids, batch.raw, refs, batch.doc, batch.line], schema=_STAGED)


_DONE = object()


def _prefetched(
    batches: Iterator[Batch], interrupted: threading.Event, depth: int = 2
) -> Iterator[Batch]:
    """Frame the next batches on a helper thread while DuckDB maps this one.

    Framing holds the GIL and DuckDB releases it, so the two overlap on two cores.
    Waiting for a batch (from an idle pipe) ends with KeyboardInterrupt once
    ``interrupted`` is set, as the wait runs on one of DuckDB's threads.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                handoff.put(batch)
            handoff.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            handoff.put(error)

    worker = threading.Thread(target=produce, name="auditcli-framing", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = handoff.get(timeout=0.1)
            except queue.Empty:
                if interrupted.is_set():
                    raise KeyboardInterrupt from None
                continue
            except KeyboardInterrupt:  # Ctrl-C on this (the main) thread
                interrupted.set()
                raise
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Batch)
            yield item
    finally:
        stop.set()
        # After Ctrl-C the worker may wait on an idle pipe: it is left to end with the
        # process (a daemon thread), which is ending anyway.
        while worker.is_alive() and not interrupted.is_set():
            try:
                handoff.get_nowait()
            except queue.Empty:
                worker.join(0.01)
