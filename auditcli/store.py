"""DuckDB: opening the database, its schema, transactions and parameterised SQL.

The one module that talks to DuckDB directly. Every ``duckdb.Error`` is
translated into a ``StoreError`` here; user values only ever reach SQL as
bound parameters.
"""

from __future__ import annotations

import bisect
import os
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from auditcli.errors import StoreError, is_interruption
from auditcli.rawtexts import (
    HEADER_SIZE,
    FileTexts,
    MemoryTexts,
    Texts,
    new_file_id,
    texts_path,
)
from auditcli.schema import (
    ALL_DDL,
    CSV_DELIMITER_DDL,
    CSV_HEADERS_DDL,
    RAW,
    RAW_HEADER,
    SCHEMA_VERSION,
)

if TYPE_CHECKING:
    from auditcli.ingest.sources import Evidence

MEMORY = ":memory:"
#: DuckDB's buffer pool for database files (it spills beyond it).
MEMORY_LIMIT_BYTES = 1_000_000_000
#: What ``RAW_HEADER`` holds (see ``schema.RAW_HEADER``).
RAW_HEADER_TYPE = pa.struct([("header", pa.string()), ("delimiter", pa.string())])
#: A query whose result size is known runs with this much pool for the blocks it reads,
#: and ``RESULT_ROW_BYTES`` more for each row of its result (the sort's working memory:
#: a row with its strings, generously; the texts are read after the query).
SCAN_MEMORY_BYTES = 64 << 20
RESULT_ROW_BYTES = 4096
#: How long a command waits for another process to let go of the database: DuckDB
#: allows one writer process, and every command writes (its access-log row).
LOCK_WAIT_SECONDS = 10.0


def _held_by_another(message: str) -> bool:
    """True for DuckDB's error when another process holds the file (lower-cased)."""
    return "could not set lock" in message or "conflicting lock" in message


def _connect(where: str, read_only: bool, lock_wait: float) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, tried again while another process holds the file's lock."""
    deadline = time.monotonic() + lock_wait
    pause = 0.02
    while True:
        try:
            return duckdb.connect(where, read_only=read_only)
        except duckdb.IOException as e:
            if not _held_by_another(str(e).lower()) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


class Store:
    """An open auditcli database (a DuckDB file, or in memory for runs on paths)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: str) -> None:
        self.connection = connection
        self.path = path
        self._texts: FileTexts | MemoryTexts | None = None
        self._reading: weakref.ref[pa.RecordBatchReader] | None = None
        """The result ``arrow_reader`` streams, which holds the connection until it is
        gone; weakly, so that it goes when its reader does."""

    @property
    def in_memory(self) -> bool:
        """True for a store held in memory (a run on paths), its texts included."""
        return self.path == MEMORY

    @property
    def texts(self) -> Texts:
        """Where the events' original texts are kept (see ``rawtexts``)."""
        return self._opened_texts()

    def _opened_texts(self) -> FileTexts | MemoryTexts:
        if self._texts is None:
            if self.in_memory:
                self._texts = MemoryTexts()
            else:
                meta = dict(
                    self.fetchall(
                        "SELECT key, value FROM meta WHERE key IN ('raw_id', 'raw_end', 'raw_tail')"
                    )
                )
                self._texts = FileTexts(
                    texts_path(self.path),
                    str(meta["raw_id"]),
                    int(meta["raw_end"]),
                    meta.get("raw_tail"),
                )
        return self._texts

    def kept(self, batch: pa.Table) -> None:
        """``batch`` (staged records with ``raw`` and ``raw_ref``) was mapped: an in-memory
        store keeps the texts of the events it stored (a file holds every text already)."""
        if not isinstance(self._texts, MemoryTexts) or not batch.num_rows:
            return
        refs = batch.column("raw_ref").combine_chunks()
        stored = self.arrow_reader(
            "SELECT raw_ref FROM event_rows WHERE raw_ref BETWEEN ? AND ?",
            list(self._texts.bounds(refs)),
        ).read_all()
        self._texts.keep(
            batch.column("raw").combine_chunks(), refs, stored.column(0).combine_chunks()
        )

    @classmethod
    def open(
        cls,
        path: str | Path = MEMORY,
        *,
        read_only: bool = False,
        must_exist: bool = False,
        lock_wait: float = LOCK_WAIT_SECONDS,
    ) -> Store:
        """Open the database at ``path``, creating it unless ``read_only`` or ``must_exist``.

        ``must_exist`` opens an existing database for writing (commands that read events
        still append to its access log); a missing file is then an error, as with
        ``read_only``. While another process holds the database, it tries again for up
        to ``lock_wait`` seconds, so short commands run one after another can share it.
        """
        where = str(path)
        if where != MEMORY:
            try:
                cls._check_file(Path(where), read_only or must_exist)
            except OSError as e:  # a name too long, no permission to look
                raise StoreError(f"cannot open database {where}: {e.strerror or e}") from e
            if must_exist and not read_only and not os.access(Path(where).parent, os.W_OK):
                raise StoreError(  # else it fails on its WAL only when the output is written
                    f"cannot open database {where}: its directory is not writable",
                    "every command records its access in the database: use a writable copy",
                )
        try:
            connection = _connect(where, read_only, lock_wait)
        except (duckdb.Error, RuntimeError) as e:  # RuntimeError: a name DuckDB cannot take
            if is_interruption(e):
                raise
            reason = str(e).lower()
            hint = None
            if _held_by_another(reason):
                hint = (
                    f"another process (a running `auditcli`?) still had it open after"
                    f" {lock_wait:g} s; try again when it ends"
                )
            elif must_exist and "permission" in reason:
                hint = "every command records its access in the database: use a writable copy"
            raise StoreError(f"cannot open database {where}: {_first_line(e)}", hint) from e
        store = cls(connection, where)
        try:
            store._prepare(create=not read_only, existing=must_exist)
        except BaseException:
            connection.close()
            raise
        return store

    @staticmethod
    def _check_file(file: Path, existing: bool) -> None:
        """Refuse what DuckDB would fail on or make a database beside: a missing file
        (when ``existing``), a directory, a zero-byte one, or texts already there."""
        try:
            str(file).encode("utf-8")
        except UnicodeEncodeError:
            raise StoreError(
                f"cannot open database {file}: DuckDB takes only names that are UTF-8",
                "rename the file, or give another --db",
            ) from None
        if existing and not file.exists():
            raise StoreError(
                f"no database at {file}",
                "load logs first with `auditcli load PATH --db FILE`, or pass paths",
            )
        if file.is_dir():
            raise StoreError(f"{file} is a directory, not a database file")
        if file.is_file() and file.stat().st_size == 0:  # made by mktemp or touch
            if existing:
                raise StoreError(
                    f"{file} is empty: no events loaded",
                    "load logs into it first with `auditcli load PATH --db FILE`",
                )
            file.unlink()  # DuckDB makes a database only where no file is
        if not file.exists() and texts_path(file).exists():
            raise StoreError(
                f"cannot create database {file}: {texts_path(file)} is there already "
                "(another database's texts, or a file that is not auditcli's)",
                "move that database's files elsewhere, or remove the .raw file if it is gone",
            )

    def _prepare(self, *, create: bool, existing: bool = False) -> None:
        self.execute("SET TimeZone = 'UTC'")
        # Every query orders explicitly; unordered inserts load faster.
        self.execute("SET preserve_insertion_order = false")
        self.execute("SET enable_progress_bar = false")
        # Loads run in one transaction; a bounded buffer pool makes DuckDB spill to
        # its file instead of holding the whole load in memory.
        if not self.in_memory:
            self.execute(f"SET memory_limit = '{MEMORY_LIMIT_BYTES}B'")
        if not create or existing:
            self._check_version()
            if create:  # the one table added since version 4 came out, and its column
                self.execute(CSV_HEADERS_DDL)
                self.execute(CSV_DELIMITER_DDL)
                self._kept_delimiters()
            return  # its version row is written after every table: all are there
        try:
            older = self._meta_value("schema_version")
        except duckdb.Error:
            older = None  # no meta table yet: a new database, or another program's
            if self._holds_anything():
                self._check_version()  # refuses it: never add tables to another's database
        if older is not None:
            self._check_version()  # before any DDL touches an older database
        for ddl in ALL_DDL:
            self.execute(ddl)
        self.execute(CSV_DELIMITER_DDL)  # to a table an older database made without it
        self._kept_delimiters()
        self.execute(
            "INSERT INTO meta VALUES ('raw_id', ?), ('raw_end', ?) ON CONFLICT DO NOTHING",
            [new_file_id(), str(HEADER_SIZE)],
        )
        self.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
            [str(SCHEMA_VERSION)],
        )
        self._check_version()

    def _kept_delimiters(self) -> None:
        """The delimiters of CSV sources loaded before they were kept, worked out as the
        load did (``tabular.csv_delimiter``) from each header and the first row after it,
        so that masking reads their rows as they were loaded. Once, on opening."""
        missing = self.fetchall("SELECT source_id, header FROM csv_headers WHERE delimiter IS NULL")
        if not missing:
            return
        from auditcli.ingest.tabular import csv_delimiter

        for source_id, header in missing:
            try:
                event = self.arrow_reader(
                    "SELECT source_line, raw_ref AS raw FROM event_rows WHERE source_id = ?"
                    " ORDER BY source_line LIMIT 1",
                    [source_id],
                ).read_all()
            except StoreError:  # its texts file is gone or damaged: left to what reads them
                return
            firsts = [tuple(row.values()) for row in event.to_pylist()] + self.fetchall(
                "SELECT source_line, raw FROM reject_rows WHERE source_id = ?"
                " ORDER BY source_line LIMIT 1",
                [source_id],
            )
            if not firsts:
                continue
            found = csv_delimiter(f"{header}\n{min(firsts)[1]}\n")
            if found is not None:
                self.execute(
                    "UPDATE csv_headers SET delimiter = ? WHERE source_id = ?", [found, source_id]
                )

    def _holds_anything(self) -> bool:
        """True when the database has a table or a view."""
        return bool(
            self.scalar(
                "SELECT (SELECT count(*) FROM duckdb_tables() WHERE NOT temporary)"
                " + (SELECT count(*) FROM duckdb_views() WHERE NOT internal AND NOT temporary)"
            )
        )

    def _meta_value(self, key: str) -> str | None:
        """A ``meta`` value, None without its row (a duckdb.Error without the table)."""
        rows = self.connection.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return str(rows[0][0]) if rows else None

    def _check_version(self) -> None:
        try:
            found = self._meta_value("schema_version")
        except duckdb.CatalogException as e:  # no meta table
            raise StoreError(
                f"{self.path} is not an auditcli database", "load into a new --db file"
            ) from e
        except duckdb.Error as e:  # cut short, damaged
            raise StoreError(
                f"cannot read database {self.path}: {_first_line(e)}",
                "the file is damaged: restore it, with its .raw file, from a copy",
            ) from e
        if found != str(SCHEMA_VERSION):
            raise StoreError(
                f"{self.path} has schema version {found or 'none'}, "
                f"this auditcli uses {SCHEMA_VERSION}",
                "load the logs again into a new --db file",
            )

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        """Run one statement with bound parameters, to its end."""
        try:
            self.connection.execute(sql, params).complete()
        except duckdb.Error as e:
            raise StoreError(f"database error: {_first_line(e)}") from e

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """All rows of a query."""
        try:
            return self.connection.execute(sql, params).fetchall()
        except duckdb.Error as e:
            raise StoreError(f"database error: {_first_line(e)}") from e

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    def arrow_reader(
        self,
        sql: str,
        params: Sequence[Any] | None = None,
        batch_rows: int = 8192,
        *,
        csv_headers: bool = False,
        result_rows: int | None = None,
    ) -> pa.RecordBatchReader:
        """Stream a query's result as Arrow record batches.

        A column ``raw`` of references (``raw_ref AS raw``) comes out as the texts;
        with ``csv_headers``, followed by ``raw_header`` when CSV sources are loaded
        (see ``schema.RAW_HEADER``: what masks ``raw`` for output). ``result_rows``,
        the rows the query is known to return, sizes DuckDB's pool while it runs.
        """
        # Before the query: its result holds the connection.
        texts = self._opened_texts()
        headers = self._csv_headers() if csv_headers else None
        try:
            reader = self._started(sql, params, batch_rows, result_rows)
        except duckdb.Error as e:
            raise StoreError(f"database error: {_first_line(e)}") from e
        self._reading = weakref.ref(reader)
        schema = reader.schema
        at = schema.get_field_index(RAW)
        if at < 0 or not pa.types.is_integer(schema.field(at).type):
            return reader
        with_texts = schema.set(at, pa.field(RAW, pa.string()))
        if headers is not None:
            with_texts = with_texts.append(pa.field(RAW_HEADER, RAW_HEADER_TYPE))

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                refs = batch.column(at)
                batch = batch.set_column(at, RAW, texts.fetch(refs))
                yield batch if headers is None else batch.append_column(RAW_HEADER, headers(refs))

        return pa.RecordBatchReader.from_batches(with_texts, batches())

    def _started(
        self,
        sql: str,
        params: Sequence[Any] | None,
        batch_rows: int,
        result_rows: int | None,
    ) -> pa.RecordBatchReader:
        """The query's reader, the query run up to its first batch (all of it, for an
        ordered result) in a pool sized to ``result_rows`` when that is small.

        DuckDB keeps every block it reads until its pool is full, each in memory fresh
        from the kernel: a selective filter over 10M events reads ~300 MB of blocks,
        and their page faults are a third of its time. In a smaller pool DuckDB drops
        blocks it has read and reuses their memory. The whole pool is back before any
        batch is read (the texts may be large); a query that still runs out of memory
        runs again in it. Only for a database file, whose blocks can be read again."""
        limit = SCAN_MEMORY_BYTES + (result_rows or 0) * RESULT_ROW_BYTES
        if self.in_memory or result_rows is None or limit >= MEMORY_LIMIT_BYTES:
            return self.connection.sql(sql, params=params).to_arrow_reader(batch_rows)
        # A cursor, as the pool is the database's and a new query on this connection
        # would end the result.
        with self.connection.cursor() as pool:
            pool.execute(f"SET memory_limit = '{limit >> 20}MiB'")
            try:
                return self.connection.sql(sql, params=params).to_arrow_reader(batch_rows)
            except duckdb.OutOfMemoryException:
                pass
            finally:
                with suppress(duckdb.Error):  # after Ctrl-C, say that; nothing runs after
                    pool.execute(f"SET memory_limit = '{MEMORY_LIMIT_BYTES}B'")
        return self.connection.sql(sql, params=params).to_arrow_reader(batch_rows)

    def _csv_headers(self) -> HeaderRanges | None:
        """The header rows of the CSV sources by the span of their texts, or None when
        there are none (or the database predates them)."""
        try:
            spans = self.connection.execute(
                "SELECT first_ref, last_ref, header, delimiter FROM csv_headers"
                " WHERE first_ref IS NOT NULL ORDER BY first_ref"
            ).fetchall()
        except duckdb.CatalogException:
            return None
        except duckdb.Error as e:
            raise StoreError(f"database error: {_first_line(e)}") from e
        return HeaderRanges(spans) if spans else None

    def query_table(
        self,
        name: str,
        table: pa.Table | pa.RecordBatchReader,
        sql: str,
        params: Sequence[Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run ``sql`` with the Arrow ``table`` (or a stream of batches, scanned once)
        visible under ``name``; return its rows.

        Without parameters the table is scanned through a relation: a registered
        table stays referenced until the transaction ends, which inside a long load
        would keep every batch in memory.
        """
        try:
            if not params:
                result = self.connection.from_arrow(table).query(name, sql)
                return [] if result is None else result.fetchall()
            self.connection.register(name, table)
            try:
                return self.connection.execute(sql, params).fetchall()
            finally:
                self.connection.unregister(name)
        except duckdb.Error as e:
            raise StoreError(f"database error: {_first_line(e)}") from e

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together, or not at all (also on Ctrl-C).

        Texts appended to a texts file are made durable, past the last one a stored
        row refers to, before the rows that refer to them commit with the file's new
        end (``raw_end``); after a rollback, ``raw_end`` says where the texts end. A
        Ctrl-C that DuckDB reports from a COMMIT it completed is not raised: the work
        is kept, and the caller goes on as after any commit.
        """
        self.execute("BEGIN TRANSACTION")
        try:
            yield
            texts = self._file_texts()
            if texts is not None and texts.end != texts.committed_end:
                texts.trim(self.scalar(_LAST_NEW_REF, [texts.first_new_ref] * 2))
                texts.sync()
                self.execute("UPDATE meta SET value = ? WHERE key = 'raw_end'", [str(texts.end)])
                self.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('raw_tail', ?)", [texts.synced_tail]
                )
            try:
                self.execute("COMMIT")
            except (KeyboardInterrupt, RuntimeError) as error:
                if not (is_interruption(error) and self._committed_anyway(texts)):
                    raise
            if texts is not None:
                texts.committed()
        except BaseException:
            with suppress(duckdb.Error):  # a failed COMMIT has ended the transaction
                self.connection.rollback()
            texts = self._file_texts()
            if texts is not None:
                with suppress(duckdb.Error):
                    texts.tail = self._meta_value("raw_tail")
                texts.reset(self._committed_raw_end(texts.committed_end), texts.tail)
            raise

    def _committed_anyway(self, texts: FileTexts | None) -> bool:
        """After Ctrl-C in COMMIT: True when DuckDB had committed all the same, which
        the texts' new end, stored with the rows, shows (when texts were appended)."""
        if texts is None or texts.end == texts.committed_end:
            return False
        return self._committed_raw_end(-1) == texts.end

    def _committed_raw_end(self, otherwise: int) -> int:
        """``raw_end`` as committed (``otherwise`` if it cannot be read)."""
        try:
            return int(self._meta_value("raw_end") or otherwise)
        except (duckdb.Error, ValueError):
            return otherwise

    def _file_texts(self) -> FileTexts | None:
        return self._texts if isinstance(self._texts, FileTexts) else None

    def release(self) -> None:
        """Let go of the result ``arrow_reader`` was streaming, read to its end or not
        (its writing failed), so the connection runs statements again."""
        reader = self._reading() if self._reading is not None else None
        if reader is not None:
            reader.close()
        self._reading = None

    def own_files(self) -> Evidence:
        """The files this store is made of (database, texts, WAL), and the bytes of
        those its sources were loaded from: what no output may overwrite."""
        from auditcli.ingest.sources import Evidence

        paths = [] if self.in_memory else [Path(self.path), texts_path(self.path)]
        paths += [Path(f"{self.path}.wal")] if paths else []
        rows = self.fetchall(
            "SELECT size_bytes, file_sha256 FROM sources WHERE file_sha256 IS NOT NULL"
        )
        return Evidence(tuple(paths), frozenset((int(size), str(sha)) for size, sha in rows))

    def close(self) -> None:
        """Close the connection and the texts file; safe to call twice."""
        if self._texts is not None:
            self._texts.close()
        self.connection.close()


class HeaderRanges:
    """Which CSV header row a text belongs to, by its reference: each source's texts
    are stored one after another, so they take one span of references."""

    def __init__(self, spans: Sequence[tuple[int, int, str, str | None]]) -> None:
        self._starts = [span[0] for span in spans]
        self._spans = spans

    def __call__(self, refs: pa.Array) -> pa.Array:
        """The header (and delimiter) of each reference's source; null for other
        sources' texts."""
        listed = refs.to_pylist()
        present = [ref for ref in listed if ref is not None]
        if not present or not self._meets(min(present), max(present)):
            return pa.nulls(len(listed), RAW_HEADER_TYPE)  # no row of a CSV source
        headers: list[dict[str, str | None] | None] = []
        for ref in listed:
            span = None if ref is None else self._span_at(ref)
            headers.append(None if span is None else {"header": span[2], "delimiter": span[3]})
        return pa.array(headers, RAW_HEADER_TYPE)

    def _span_at(self, ref: int) -> tuple[int, int, str, str | None] | None:
        at = bisect.bisect_right(self._starts, ref) - 1
        return self._spans[at] if at >= 0 and ref <= self._spans[at][1] else None

    def _meets(self, low: int, high: int) -> bool:
        """True when a span holds a reference from ``low`` to ``high``: sources' texts
        are stored one after another, so the spans do not overlap."""
        at = bisect.bisect_right(self._starts, high) - 1
        return at >= 0 and self._spans[at][1] >= low


#: The highest text reference, at or past a position, that a stored event holds.
_LAST_NEW_REF = """SELECT max(raw_ref) FROM (
    SELECT raw_ref FROM event_rows WHERE raw_ref >= ?
    UNION ALL SELECT raw_ref FROM event_stages WHERE raw_ref >= ?)"""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
