"""Loading sources into the store: one transaction, provenance, rejects, dedup.

For each source: skip it when its bytes are already loaded; frame it; pick the
adapter from its first events; map every batch in bulk inside DuckDB; keep the
records that cannot be events in ``rejects``; record the source in ``sources``.
The whole load commits at the end or not at all.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc

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
        staging = _Staging(store)
        try:
            pending: list[SourceResult | _Pending] = [
                _read_source(store, ref, options, staging, progress, stdin) for ref in refs
            ]
            staging.flush()
        finally:
            staging.close()
        for item in pending:
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


def _already_loaded(store: Store, ref: SourceRef) -> str | None:
    """The sha256 of ``ref`` if a file with its name, size and bytes is loaded."""
    if ref.path is None or ref.size is None:
        return None
    same = store.scalar(
        "SELECT count(*) FROM sources WHERE source_file = ? AND size_bytes = ?",
        [ref.name, ref.size],
    )
    if not same:
        return None
    sha256 = hash_file(ref.path)
    found = store.scalar("SELECT count(*) FROM sources WHERE file_sha256 = ?", [sha256])
    return sha256 if found else None


@dataclass(frozen=True)
class _Mapper:
    """The SQL that maps a source's batches, chosen once its first batch shows the format.

    ``whole`` stores a batch's good events and ``reject`` its rejects; the latter runs
    only when not every non-empty record was stored, or under a filter (which makes
    that count say nothing). Without a filter, ``split`` holds the same work in the
    two parts of ``mapping_sql``: the first pass's insert, which alone maps a uniform
    batch and is planned several times faster than ``whole``, then the insert and
    the rejects of the records it leaves.
    """

    adapter: JsonAdapter
    whole: str
    reject: str
    split: tuple[str, str, str] | None = None
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class _Pending:
    """A source whose records are staged; it is finished once they are mapped."""

    ref: SourceRef
    source_id: int
    sha256: str
    size: int
    adapter: JsonAdapter | None
    chain: BackgroundCheck | str | None = None
    """The running check of the file's chain, or the first link of a chained
    stream to check from its stored text, or None when it is not chained."""


def _read_source(
    store: Store,
    ref: SourceRef,
    options: LoadOptions,
    staging: _Staging,
    progress: ProgressFn | None,
    stdin: BinaryIO | None,
) -> SourceResult | _Pending:
    """Frame one source into ``staging``; an already loaded one is a SourceResult."""
    known = _already_loaded(store, ref)
    if known is not None:
        if progress is not None and ref.size:
            progress(ref.size)
        return SourceResult(ref.name, known, "", 0, 0, None, None, already_loaded=True)
    source_id = int(store.scalar("SELECT coalesce(max(source_id), 0) + 1 FROM sources"))
    store.execute(
        "INSERT INTO sources (source_id, source_file, size_bytes, loaded_at) VALUES (?, ?, ?, ?)",
        [source_id, ref.name, ref.size, datetime.now(UTC)],
    )
    prefilter = LinePrefilter()
    mapper: _Mapper | None = None
    chain: BackgroundCheck | str | None = None
    with open_source(ref, stdin) as source:
        reported = 0
        batches = frame(source.stream, prefilter=prefilter)
        if ref.size is None or ref.size > CHUNK_BYTES:
            batches = _prefetched(batches)
        for batch in batches:
            if mapper is None:
                sample = _sample(batch)
                mapper = _mapper_for(sample, options)
                checking = options.check_chains and options.event_filter is None
                start = chain_start(sample) if checking else None
                if start is not None:
                    chain = start
                    if ref.path is not None and not source.compressed:
                        chain = BackgroundCheck(ref.path, default_recipe(start))
                if options.event_filter is not None:
                    prefilter.needles = _needles(options.event_filter, mapper.adapter)
            staging.add(mapper, batch, source_id)
            if progress is not None:
                progress(source.bytes_read - reported)
                reported = source.bytes_read
        sha256 = source.sha256()
        size = source.bytes_read
    return _Pending(ref, source_id, sha256, size, mapper.adapter if mapper else None, chain)


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
    whole = mapping_sql(adapter, fallback=fallback)
    reject = _reject_sql(whole)
    if options.event_filter is not None:
        condition, params = pushdown_clause(options.event_filter)
        return _Mapper(full, _insert_sql(whole, condition), reject, params=tuple(params))
    rest = mapping_sql(adapter, fallback=fallback, part="rest")
    split = (
        _insert_sql(mapping_sql(adapter, fallback=fallback, part="first")),
        _insert_sql(rest),
        _reject_sql(rest),
    )
    return _Mapper(full, _insert_sql(whole), reject, split)


def _insert_sql(select: str, condition: str = "TRUE") -> str:
    """Store the good events that ``select`` (a ``mapping_sql``) yields and ``condition`` keeps."""
    columns = ", ".join(MAPPED_COLUMNS)
    return (
        f"INSERT INTO event_rows (source_id, {columns}, source_line, raw_ref) "
        f"SELECT source_id, {columns}, source_line, raw_ref FROM ({select}) "
        f"WHERE reject_reason IS NULL AND {condition}"
    )


def _reject_sql(select: str) -> str:
    """Store the records that ``select`` (a ``mapping_sql``) rejects, blank lines aside."""
    return (
        "INSERT INTO reject_rows SELECT source_id, source_line, reject_reason, raw "
        f"FROM ({select}) WHERE reject_reason IS NOT NULL AND reject_reason <> 'blank'"
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


#: Staged record bytes that trigger mapping (of the group staged before: two are held at
#: most); bounds memory, amortises query planning.
STAGE_BYTES = 48 << 20


class _Staging:
    """Framed batches waiting to be mapped, grouped by the SQL that maps them.

    Planning the mapping query costs tens of milliseconds, as much as mapping
    thousands of records; staging lets a tree of small files (CloudTrail's S3
    layout) share one query per group instead of paying it per file.
    """

    def __init__(self, store: Store, limit: int = STAGE_BYTES) -> None:
        self.store = store
        self.limit = limit
        self.groups: dict[str, tuple[_Mapper, list[_Staged]]] = {}
        self.previous: dict[str, tuple[_Mapper, list[_Staged]]] = {}
        """The groups staged before ``groups``, mapped once ``groups`` is full."""
        self.staged_bytes = 0
        self.mixed: set[str] = set()
        """Groups a first pass once did not map whole: mapped in one query from then on,
        as the split would parse every further batch twice."""
        self._texts = ThreadPoolExecutor(1, thread_name_prefix="auditcli-texts")
        """Stores the original texts (compressed, for a file) while DuckDB maps."""
        for macro in MACROS:  # what the mapping SQL calls
            store.execute(macro)

    def add(self, mapper: _Mapper, batch: Batch, source_id: int) -> None:
        """Stage ``batch`` of source ``source_id``; map what was staged before once enough
        is staged again, so that its texts are stored while DuckDB maps."""
        refs = self._texts.submit(self.store.texts.append, batch.raw)
        self.groups.setdefault(mapper.whole, (mapper, []))[1].append((source_id, batch, refs))
        self.staged_bytes += batch.raw.nbytes + batch.doc.nbytes + batch.line.nbytes
        if self.staged_bytes >= self.limit:
            self._map_groups(self.previous)
            self.previous, self.groups = self.groups, {}
            self.staged_bytes = 0

    def flush(self) -> None:
        """Map every staged record into event_rows (or reject_rows)."""
        self._map_groups(self.previous)
        self._map_groups(self.groups)
        self.previous, self.groups = {}, {}
        self.staged_bytes = 0

    def _map_groups(self, groups: dict[str, tuple[_Mapper, list[_Staged]]]) -> None:
        for key, (mapper, staged) in groups.items():
            # Many small record batches let DuckDB map them on every core.
            batch = pa.Table.from_batches(
                [
                    chunk
                    for source_id, records, refs in staged
                    for chunk in _table(source_id, records, refs.result()).to_batches(8192)
                ]
            )
            self._map(key, mapper, batch)
            self.store.kept(batch)

    def close(self) -> None:
        """Wait for the texts being stored (a rollback may then cut them off)."""
        self._texts.shutdown(wait=True, cancel_futures=True)

    def _map(self, key: str, mapper: _Mapper, batch: pa.Table) -> None:
        """Store ``batch``'s good events, then its rejects if some record was not stored."""
        doc = batch.column("doc")
        non_empty = pc.sum(pc.greater(pc.binary_length(doc), 0)).as_py() or 0
        if mapper.split is not None and key not in self.mixed:
            first, *rest = mapper.split
            if self._stored(batch, first) == non_empty:
                return
            self.mixed.add(key)
            for sql in rest:
                self.store.query_table("batch", batch, sql)
            return
        stored = self._stored(batch, mapper.whole, mapper.params)
        if mapper.params or stored != non_empty:
            self.store.query_table("batch", batch, mapper.reject)

    def _stored(self, batch: pa.Table, sql: str, params: Sequence[Any] = ()) -> int:
        """How many rows the insert ``sql`` stored from ``batch``."""
        rows = self.store.query_table("batch", batch, sql, params)
        return int(rows[0][0]) if rows else 0


_Staged = tuple[int, Batch, "Future[pa.Array]"]
"""A staged batch: its source id, its records, and the references of their texts."""


def _table(source_id: int, batch: Batch, refs: pa.Array) -> pa.Table:
    """The columns ``mapping_sql`` reads, for ``batch``."""
    ids = pa.repeat(pa.scalar(source_id, pa.int32()), len(batch))
    return pa.table(
        {"source_id": ids, "raw": batch.raw, "raw_ref": refs, "doc": batch.doc, "line": batch.line}
    )


_DONE = object()


def _prefetched(batches: Iterator[Batch], depth: int = 2) -> Iterator[Batch]:
    """Frame the next batches on a helper thread while DuckDB maps this one.

    Framing holds the GIL and DuckDB releases it, so the two overlap on two cores.
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
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Batch)
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                handoff.get_nowait()
            except queue.Empty:
                worker.join(0.01)
