"""A query whose result size is known runs in a pool sized to it (Store.arrow_reader)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from typer.testing import Result

import auditcli.store as store_module
from auditcli.store import Store
from tests.conftest import event

Run = Callable[..., Result]
WriteLog = Callable[..., Path]

_POOL = "SELECT current_setting('memory_limit')"


def _pool_during(store: Store, result_rows: int | None) -> str:
    """The pool's size as the query saw it."""
    return str(store.arrow_reader(_POOL, result_rows=result_rows).read_all().column(0)[0])


def _loaded(run: Run, write_log: WriteLog, count: int, **fields: Any) -> Path:
    events = [
        event(id=f"evt-{i}", timestamp=f"2026-03-12T14:{i // 60:02d}:{i % 60:02d}Z", **fields)
        for i in range(count)
    ]
    path = write_log("a.jsonl", events)
    assert run("load", path, "--db", "case.duckdb").exit_code == 0
    return Path("case.duckdb")


def test_a_query_of_known_size_runs_in_a_sized_pool_and_the_whole_pool_is_back(
    run: Run, write_log: WriteLog
) -> None:
    store = Store.open(_loaded(run, write_log, 3), must_exist=True)
    try:
        whole = store.scalar(_POOL)
        assert _pool_during(store, 1) == "64.0 MiB"  # SCAN_MEMORY_BYTES and one 4 KB row, in MiB
        assert store.scalar(_POOL) == whole
        # a result that needs the whole pool, or one of unknown size, keeps it
        for rows in (None, 1_000_000):
            assert _pool_during(store, rows) == whole
    finally:
        store.close()


def test_an_in_memory_store_keeps_its_pool() -> None:
    store = Store.open()
    try:
        whole = store.scalar(_POOL)
        assert _pool_during(store, 1) == whole
    finally:
        store.close()


def test_a_query_out_of_memory_in_the_sized_pool_runs_again_in_the_whole_one(
    run: Run, write_log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = _loaded(run, write_log, 50)
    sql = "SELECT event_id, raw_ref AS raw FROM events ORDER BY ts DESC"
    tiny = 1 << 20
    with duckdb.connect(str(database), read_only=True) as bare:  # the pool is too small
        bare.execute("SET memory_limit = '1MiB'")
        with pytest.raises(duckdb.OutOfMemoryException):
            bare.sql(sql).to_arrow_reader(8192).read_all()
    monkeypatch.setattr(store_module, "SCAN_MEMORY_BYTES", tiny)
    monkeypatch.setattr(store_module, "RESULT_ROW_BYTES", 0)
    store = Store.open(database, must_exist=True)
    try:
        rows = store.arrow_reader(sql, result_rows=50).read_all().to_pylist()
        assert [row["event_id"] for row in rows] == [f"evt-{i}" for i in reversed(range(50))]
        assert orjson.loads(rows[0]["raw"])["id"] == "evt-49"
        assert store.scalar(_POOL) != "1.0 MiB"
    finally:
        store.close()


def test_filter_writes_texts_larger_than_the_sized_pool(
    run: Run, write_log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    note = "x" * 40_000  # kept in the texts file only: 200 of them are ~8 MB
    database = _loaded(run, write_log, 200, note=note)
    monkeypatch.setattr(store_module, "SCAN_MEMORY_BYTES", 4 << 20)
    monkeypatch.setattr(store_module, "RESULT_ROW_BYTES", 0)
    result = run("filter", "--db", database, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [row["event_id"] for row in rows] == [f"evt-{i}" for i in range(200)]
    assert all(orjson.loads(row["raw"])["note"] == note for row in rows)


@pytest.mark.parametrize(
    ("options", "expected"),
    [((), 7), (("--actor", "bob@corp.example"), 0), (("--limit", "2"), 2), (("--limit", "9"), 7)],
)
def test_filter_on_a_database_says_how_many_rows_its_query_returns(
    run: Run,
    write_log: WriteLog,
    monkeypatch: pytest.MonkeyPatch,
    options: tuple[str, ...],
    expected: int,
) -> None:
    database = _loaded(run, write_log, 7)
    seen: list[int | None] = []
    started = Store._started

    def spy(self: Store, sql: str, params: Any, batch_rows: int, result_rows: int | None) -> Any:
        seen.append(result_rows)
        return started(self, sql, params, batch_rows, result_rows)

    monkeypatch.setattr(Store, "_started", spy)
    for fmt in ("jsonl", "table"):
        seen.clear()
        result = run("filter", "--db", database, "--format", fmt, *options)
        assert result.exit_code == 0, result.output
        assert seen[-1] == expected
