"""Loading: provenance, dedup, rejects, transactions, layouts, gzip and stdin."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import Result

from auditcli.errors import InputError, ProblemFound, StoreError
from auditcli.ingest.sources import expand
from auditcli.load import LoadOptions, load
from auditcli.query import EventFilter
from auditcli.store import Store
from tests.conftest import event, jsonl, stored_rows

WriteLog = Callable[..., Path]


def _load(store: Store, *paths: Path | str, **options: object) -> object:
    return load(store, expand([str(p) for p in paths]), LoadOptions(**options))  # type: ignore[arg-type]


def _rows(store: Store, sql: str) -> list[tuple[object, ...]]:
    return store.fetchall(sql)


def test_every_row_keeps_file_line_and_file_hash(write_log: WriteLog) -> None:
    path = write_log("a.jsonl", [event(id="e1"), event(id="e2")])
    store = Store.open(":memory:")
    _load(store, path)
    import hashlib

    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert _rows(
        store,
        "SELECT event_id, source_file, source_line, file_sha256 FROM events ORDER BY source_line",
    ) == [("e1", str(path), 1, sha), ("e2", str(path), 2, sha)]
    source = _rows(
        store,
        "SELECT source_file, file_sha256, events, rejects, first_ts, last_ts, "
        "source_format FROM sources",
    )
    ts = datetime(2026, 3, 12, 14, 2, 11, 482000, tzinfo=UTC)
    assert source == [(str(path), sha, 2, 0, ts, ts, "generic-json")]


def test_raw_is_the_line_exactly_as_read(write_log: WriteLog) -> None:
    line = b'{ "timestamp" : "2026-03-12T14:02:11Z",  "action":"x", "n": 1.50, "u":"\\u00e9" }'
    path = write_log("a.jsonl", line + b"\r\n")
    store = Store.open(":memory:")
    _load(store, path)
    raw = store.arrow_reader("SELECT raw_ref AS raw FROM events").read_all()
    assert raw.column(0).to_pylist() == [line.decode()]


def test_loading_the_same_file_again_adds_nothing(write_log: WriteLog) -> None:
    path = write_log("a.jsonl", [event(id="e1"), event(id="e2")])
    store = Store.open(":memory:")
    first = _load(store, path)
    again = _load(store, path)
    copy = write_log("copy-of-a.jsonl", path.read_bytes())
    third = _load(store, copy)
    assert store.scalar("SELECT count(*) FROM events") == 2
    assert store.scalar("SELECT count(*) FROM sources") == 1
    assert [s.already_loaded for s in first.sources] == [False]  # type: ignore[attr-defined]
    assert [s.already_loaded for s in again.sources] == [True]  # type: ignore[attr-defined]
    assert [s.already_loaded for s in third.sources] == [True]  # type: ignore[attr-defined]


def test_bad_lines_go_to_rejects_and_good_ones_load(write_log: WriteLog) -> None:
    content = (
        jsonl([event(id="ok1")])
        + b"this is not json\n"
        + b'{"action": "no time here"}\n'
        + b"[1, 2, 3]\n"
        + b"\n   \n"
        + jsonl([event(id="ok2")])
    )
    path = write_log("mixed.jsonl", content)
    store = Store.open(":memory:")
    report = _load(store, path)
    assert store.fetchall("SELECT event_id FROM events ORDER BY source_line") == [
        ("ok1",),
        ("ok2",),
    ]
    assert store.fetchall("SELECT source_line, reason, raw FROM rejects ORDER BY source_line") == [
        (2, "not JSON", "this is not json"),
        (3, "no usable timestamp", '{"action": "no time here"}'),
        (4, "not a JSON object", "[1, 2, 3]"),
    ]
    assert report.rejects == 3  # type: ignore[attr-defined]
    assert report.first_reject == (str(path), 2, "not JSON")  # type: ignore[attr-defined]


def test_strict_fails_on_any_reject_and_commits_nothing(
    write_log: WriteLog, tmp_path: Path
) -> None:
    good = write_log("good.jsonl", [event(id="g")])
    bad = write_log("bad.jsonl", jsonl([event(id="b")]) + b"{broken\n")
    db = tmp_path / "case.duckdb"
    store = Store.open(db)
    with pytest.raises(ProblemFound, match=r"bad.jsonl:2: not JSON"):
        _load(store, good, bad, strict=True)
    store.close()
    reopened = Store.open(db, read_only=True)
    assert reopened.scalar("SELECT count(*) FROM events") == 0
    assert reopened.scalar("SELECT count(*) FROM sources") == 0


def test_a_failed_load_leaves_the_database_as_it_was(write_log: WriteLog, tmp_path: Path) -> None:
    first = write_log("first.jsonl", [event(id="kept")])
    db = tmp_path / "case.duckdb"
    store = Store.open(db)
    _load(store, first)
    second = write_log("second.jsonl", [event(id="new")])
    corrupt = write_log("broken.jsonl.gz", gzip.compress(jsonl([event()]))[:-12])
    with pytest.raises(InputError, match="broken.jsonl.gz"):
        _load(store, second, corrupt)
    assert store.fetchall("SELECT event_id FROM events") == [("kept",)]
    assert store.scalar("SELECT count(*) FROM sources") == 1


def test_gzip_is_detected_by_content_not_name(write_log: WriteLog) -> None:
    path = write_log("no-suffix.jsonl", [event(id="z")], gz=True)
    store = Store.open(":memory:")
    _load(store, path)
    assert store.fetchall("SELECT event_id FROM events") == [("z",)]


@pytest.mark.parametrize(
    ("layout", "content", "lines"),
    [
        (
            "array",
            b"[" + orjson.dumps(event(id="a")) + b",\n " + orjson.dumps(event(id="b")) + b"]",
            [0, 1],
        ),
        (
            "records",
            b'{"Records": ['
            + orjson.dumps(event(id="a"))
            + b","
            + orjson.dumps(event(id="b"))
            + b"]}",
            [0, 1],
        ),
        ("pretty", b'{\n  "id": "a",\n  "timestamp": "2026-03-12T14:02:11Z"\n}\n', [1]),
    ],
)
def test_arrays_wrappers_and_pretty_documents_load(
    write_log: WriteLog, layout: str, content: bytes, lines: list[int]
) -> None:
    path = write_log(f"{layout}.json", content)
    store = Store.open(":memory:")
    _load(store, path)
    assert [r[0] for r in store.fetchall("SELECT source_line FROM events ORDER BY 1")] == lines


def test_directories_load_recursively_in_name_order(write_log: WriteLog, tmp_path: Path) -> None:
    write_log("logs/b.jsonl", [event(id="b")])
    write_log("logs/sub/a.jsonl.gz", [event(id="a")], gz=True)
    write_log("logs/notes.md", b"# not a log\n")
    refs = expand([str(tmp_path / "logs")])
    assert [Path(r.name).name for r in refs] == ["b.jsonl", "a.jsonl.gz"]


def test_stdin_loads_as_a_source(tmp_path: Path) -> None:
    store = Store.open(":memory:")
    data = io.BytesIO(jsonl([event(id="s")]))
    load(store, expand(["-"]), stdin=data)
    assert store.fetchall("SELECT event_id, source_file FROM events") == [("s", "<stdin>")]


def test_a_missing_path_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no-such.jsonl: no such file"):
        expand(["no-such.jsonl"])


def test_a_new_shape_later_in_a_file_is_still_mapped(write_log: WriteLog) -> None:
    same_shape = [event(id=f"e{i}") for i in range(600)]
    other = {
        "eventTime": "2026-03-12T15:00:00Z",
        "user": "bob",
        "operation": "delete",
        "target": "db/x",
        "result": "denied",
        "uuid": "other-1",
    }
    path = write_log("shapes.jsonl", [*same_shape, other])
    store = Store.open(":memory:")
    _load(store, path)
    assert store.fetchall(
        "SELECT actor, action, resource, outcome FROM events WHERE event_id = 'other-1'"
    ) == [("bob", "delete", "db/x", "failure")]


def test_records_map_alike_however_the_streams_are_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-memory store ends a stream every STAGE_BYTES. Cut after every batch, the
    records land exactly as one stream lands them, rejects included, and no reject
    is left among the events."""
    import auditcli.load as loading
    from auditcli.ingest.framing import frame

    uniform = [event(id=f"u{i}") for i in range(40)]
    content = (
        jsonl(uniform)
        + jsonl([{"ts": "2026-03-12T15:00:00Z", "username": "fb", "operation": "op"}])
        + b"not json\n\n\xff\xfe not UTF-8 either\n"
        + jsonl([event(id="no-actor", actor=...), *uniform])
    )
    expected = Store.open(":memory:")
    load(expected, expand(["-"]), stdin=io.BytesIO(content))

    batches = list(frame(io.BytesIO(content), chunk_bytes=2048))
    assert len(batches) > 3
    store = Store.open(":memory:")
    mapper = loading._mapper_for(loading._sample(batches[0]), LoadOptions())
    monkeypatch.setattr(loading, "STAGE_BYTES", 1)
    streams: list[object] = []

    def query_table(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        streams.append(args[1])
        return Store.query_table(store, *args, **kwargs)

    monkeypatch.setattr(store, "query_table", query_table)
    items = iter([loading._Item(mapper, 1, batch) for batch in batches])
    loading._Streams(store, threading.Event()).run(items)
    assert len(streams) == len(batches)

    assert store.scalar("SELECT count(*) FROM event_rows WHERE ts IS NULL") == 0
    columns = "event_id, ts, actor, action, outcome, error, extra, source_line, raw_ref AS raw"
    for sql in (
        f"SELECT {columns} FROM event_rows ORDER BY source_line",
        "SELECT source_line, reason, raw FROM reject_rows ORDER BY source_line",
    ):
        assert stored_rows(store, sql) == stored_rows(expected, sql)
    rejects = store.fetchall("SELECT reason, raw FROM reject_rows ORDER BY source_line")
    assert rejects == [("not JSON", "not json"), ("not JSON", "\\xff\\xfe not UTF-8 either")]


def _hold_database(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Another process holding the database (DuckDB's lock) for ``seconds``."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print(flush=True);"
            " time.sleep(float(sys.argv[2]))",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None
    holder.stdout.readline()  # it has the lock now
    return holder


def test_a_database_held_by_another_process_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "case.duckdb"
    Store.open(path).close()
    holder = _hold_database(path, 0.6)
    try:
        started = time.monotonic()
        store = Store.open(path, must_exist=True, lock_wait=20)
        store.close()
        assert time.monotonic() - started > 0.2  # it did wait
    finally:
        holder.wait()


def test_a_database_held_too_long_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "case.duckdb"
    Store.open(path).close()
    holder = _hold_database(path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="cannot open database") as caught:
            Store.open(path, must_exist=True, lock_wait=0.3)
        assert time.monotonic() - started < 5
        assert caught.value.hint is not None and "after 0.3 s" in caught.value.hint
    finally:
        holder.kill()
        holder.wait()


def test_only_the_lock_message_reads_as_another_process() -> None:
    from auditcli.store import _held_by_another

    assert _held_by_another('io error: could not set lock on file "x": conflicting lock is held')
    assert not _held_by_another("checksum mismatch in block at location 4096")


def test_an_older_database_is_refused_by_its_version_and_left_as_it_was(
    run: Callable[..., Result], write_log: WriteLog, tmp_path: Path
) -> None:
    import duckdb

    from auditcli.schema import SCHEMA_VERSION

    db = tmp_path / "old.duckdb"
    connection = duckdb.connect(str(db))
    connection.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    connection.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    connection.execute("CREATE TABLE event_rows (source_id INTEGER, raw VARCHAR)")
    connection.close()
    log = write_log("a.jsonl", [event()])
    for args in (("load", log, "--db", db), ("filter", "--db", db)):
        result = run(*args)
        assert result.exit_code == 3, result.stderr
        assert f"has schema version 3, this auditcli uses {SCHEMA_VERSION}" in result.stderr
    connection = duckdb.connect(str(db), read_only=True)
    tables = connection.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
    connection.close()
    assert tables == [("event_rows",), ("meta",)]


def test_a_lone_surrogate_escape_does_not_hide_an_event_among_the_rejects(
    write_log: WriteLog,
) -> None:
    """RFC 8259 allows "\\ud800" and Python reads it, but DuckDB's parser refused it:
    one such escape in any field made the event a reject, out of every filter's sight."""
    lines = [
        b'{"ts":"2026-03-12T10:00:00Z","actor":"mallory","action":"exfil","n":"a\\ud800"}',
        b'{"ts":"2026-03-12T10:00:01Z","actor":"bob","action":"b","n":"\\udc00\\\\ud800"}',
        b'{"ts":"2026-03-12T10:00:02Z","actor":"carol","action":"c","n":"\\ud83d\\ude00"}',
        b'{"ts":"2026-03-12T10:00:03Z","actor":"dave","n":"\\ud800" oops',
    ]
    path = write_log("s.jsonl", b"\n".join(lines) + b"\n")
    for event_filter in (None, EventFilter(actors=("mallory",))):
        store = Store.open(":memory:")
        load(store, expand([str(path)]), LoadOptions(event_filter=event_filter))
        rows = store.fetchall("SELECT actor, source_line FROM event_rows ORDER BY source_line")
        texts = store.arrow_reader("SELECT raw_ref AS raw FROM event_rows ORDER BY source_line")
        raws = texts.read_all().column("raw").to_pylist()
        rejects = store.fetchall("SELECT source_line, reason FROM reject_rows")
        if event_filter is None:
            assert rows == [("mallory", 1), ("bob", 2), ("carol", 3)]
            assert raws == [line.decode() for line in lines[:3]]  # as written
            assert rejects == [(4, "not JSON")]
        else:
            assert rows == [("mallory", 1)] and raws == [lines[0].decode()]
        store.close()


def test_a_format_is_detected_from_records_holding_a_lone_surrogate(write_log: WriteLog) -> None:
    """The sample read them with orjson, which refuses them: a file of such records
    was mapped as generic JSON, and lost its actor."""
    record = (
        b'{"eventVersion":"1.08","eventTime":"2026-03-12T10:00:00Z",'
        b'"eventSource":"iam.amazonaws.com","eventName":"CreateUser",'
        b'"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/alice"},'
        b'"requestParameters":{"userName":"x\\ud800"}}'
    )
    store = Store.open(":memory:")
    load(store, expand([str(write_log("one.jsonl", record + b"\n"))]))
    assert store.fetchall("SELECT actor, source_format FROM events") == [
        ("arn:aws:iam::1:user/alice", "cloudtrail")
    ]
    store.close()
