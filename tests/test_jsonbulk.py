"""JSON lines written by DuckDB in bulk mean exactly what the row-by-row writer writes."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import Result

import auditcli.store as store_module
from auditcli.render import jsonbulk, jsonout
from auditcli.render.jsonbulk import BulkLines
from tests.conftest import event

ENGINE = duckdb.connect()


def both(table: pa.Table) -> tuple[bytes, bytes]:
    """(row by row, in bulk) JSON lines of the table."""
    one, bulk = io.BytesIO(), io.BytesIO()
    assert jsonout.write_jsonl(table.to_reader(), one) == table.num_rows
    assert jsonout.write_jsonl(table.to_reader(), bulk, ENGINE) == table.num_rows
    return one.getvalue(), bulk.getvalue()


def parsed(data: bytes) -> list[Any]:
    return [json.loads(line) for line in data.splitlines()]


TEXT = st.one_of(st.none(), st.text(st.characters(codec="utf-8"), max_size=8))
TIMES = st.one_of(
    st.none(),
    st.datetimes(dt.datetime(1970, 1, 2), dt.datetime(9000, 1, 1)).map(
        lambda t: t.replace(tzinfo=dt.UTC)
    ),
    st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 1, 1)).map(
        lambda t: t.replace(microsecond=0, tzinfo=dt.UTC)
    ),
)
FLOATS = st.one_of(st.none(), st.floats(), st.sampled_from([1e21, 1e-7, -0.0, 5e-324]))
INTS = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, TIMES, FLOATS, INTS, st.none() | st.lists(TEXT)), max_size=20))
def test_bulk_lines_parse_to_the_same_rows(rows: list[tuple[Any, ...]]) -> None:
    columns = list(zip(*rows, strict=True)) if rows else [[], [], [], [], []]
    table = pa.table(
        {
            "text": pa.array(columns[0], pa.string()),
            "ts": pa.array(columns[1], pa.timestamp("us", tz="UTC")),
            "number": pa.array(columns[2], pa.float64()),
            "count": pa.array(columns[3], pa.int64()),
            'odd "name"\n': pa.array(columns[4], pa.list_(pa.string())),
        }
    )
    one, bulk = both(table)
    assert parsed(bulk) == parsed(one)
    # keys in column order, one line per row
    assert [list(row) for row in parsed(bulk)] == [table.column_names] * table.num_rows


def test_times_are_utc_with_z_and_no_zero_fraction() -> None:
    zone = dt.timezone(dt.timedelta(hours=5, minutes=30))
    table = pa.table(
        {
            "ts": pa.array(
                [
                    dt.datetime(2026, 3, 12, 19, 32, 11, tzinfo=zone),
                    dt.datetime(2026, 3, 12, 14, 2, 11, 482000),
                ],
                pa.timestamp("us", tz="Asia/Kolkata"),
            ),
            "naive": pa.array([dt.datetime(2026, 3, 12, 1, 2, 3, 4), None], pa.timestamp("ms")),
        }
    )
    one, bulk = both(table)
    assert bulk == one


def test_not_a_number_is_null_as_in_orjson() -> None:
    table = pa.table({"x": pa.array([math.nan, math.inf, -math.inf, 0.5])})
    one, bulk = both(table)
    assert bulk == one == b'{"x":null}\n{"x":null}\n{"x":null}\n{"x":0.5}\n'


def test_a_sliced_batch_writes_only_its_rows() -> None:
    table = pa.table({"s": ["a", "bb", "ccc", "dddd"]}).slice(1, 2)
    one, bulk = both(table)
    assert bulk == one == b'{"s":"bb"}\n{"s":"ccc"}\n'


@pytest.mark.parametrize(
    "column",
    [
        pa.array([Decimal("1.5")]),
        pa.array([b"\x00"], pa.binary()),
        pa.array([{"a": 1}]),
        pa.array([1.5], pa.float32()),
        pa.array([dt.datetime(2026, 1, 1)], pa.timestamp("ns")),
    ],
)
def test_other_types_are_left_to_the_row_by_row_writer(column: pa.Array) -> None:
    schema = pa.schema([("x", column.type)])
    bulk = BulkLines(ENGINE, schema)
    assert not bulk.usable
    bulk.close()


@pytest.mark.parametrize("names", [("x", "x"), ("x", "X"), ("x", "_auditcli_json_position")])
def test_names_duckdb_would_confuse_are_left_to_the_row_by_row_writer(
    names: tuple[str, str],
) -> None:
    schema = pa.schema([(name, pa.string()) for name in names])
    assert not BulkLines(ENGINE, schema).usable


def test_columns_named_like_sql_are_written_as_columns() -> None:
    table = pa.table({"row": ["a"], "s": ["b"], "it's": [1], '"q"': [2]})
    one, bulk = both(table)
    assert bulk == one == b'{"row":"a","s":"b","it\'s":1,"\\"q\\"":2}\n'


def test_rows_keep_their_order_in_a_big_batch_on_a_store_that_lets_duckdb_reorder() -> None:
    engine = duckdb.connect()
    engine.execute("SET preserve_insertion_order = false")
    engine.execute("SET threads = 4")  # several scan tasks: without an order, often shuffled
    table = pa.table({"n": pa.array(range(600_000), pa.int64())})
    out = io.BytesIO()
    jsonout.write_jsonl(table.to_reader(max_chunksize=600_000), out, engine)
    assert [json.loads(line)["n"] for line in out.getvalue().splitlines()] == list(range(600_000))


def test_a_batch_of_large_texts_is_written_in_slices(
    run: Callable[..., Result],
    write_log: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DuckDB holds several copies of what it writes: 60 rows of 1.2 MB each ran a 1 GB
    pool out of memory (exit 4), and so did they after 3,000 small rows when slices were
    cut by the batch's average row. Here 20 rows of 0.6 MB, after 200 small ones, against
    a 64 MB pool."""
    wide = "x" * 200_000
    small = [
        event(id=f"small-{i}", timestamp=f"2026-03-12T09:{i // 60:02d}:{i % 60:02d}Z")
        for i in range(200)
    ]
    events = small + [
        event(id=f"evt-{i}", timestamp=f"2026-03-12T10:00:{i:02d}Z", user_agent=wide, error=wide)
        for i in range(20)
    ]
    assert run("load", write_log("wide.jsonl", events), "--db", "wide.duckdb").exit_code == 0
    monkeypatch.setattr(store_module, "MEMORY_LIMIT_BYTES", 64 << 20)
    monkeypatch.setattr(jsonbulk, "SLICE_BYTES", 1 << 20)
    result = run("filter", "--db", "wide.duckdb", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["event_id"] for row in rows] == [e["id"] for e in events]
    assert all(row["user_agent"] == wide for row in rows[200:])
    assert all(json.loads(row["raw"])["error"] == wide for row in rows[200:])
