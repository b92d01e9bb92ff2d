"""Every output format over one dataset of hard values, and the terminal table."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from auditcli.ingest.sources import SourceRef
from auditcli.load import load
from auditcli.privacy.text import spreadsheet_safe
from auditcli.query import Query, select_sql
from auditcli.render import OutputFormat, RenderOptions, write_rows
from auditcli.render.jsonout import dumps
from auditcli.render.table import cell_text
from auditcli.store import Store
from auditcli.timeutil import zone
from tests.conftest import event, jsonl

LONG = "x" * 5000
ESC_RED = "\x1b[31mred\x1b[0m"
OSC_LINK = "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"
MARKUP = "boom [bold red]x[/]"

HARD = (
    jsonl(
        [
            event(
                id="e1",
                timestamp="2026-03-12T14:02:11.482917+01:00",
                actor="zoë 漢字 🙂",
                action='say "hi", then\nleave',
                resource="db/orders,archive",
            ),
            event(
                id="e2",
                timestamp="2026-03-12T14:02:11.000001Z",
                actor="=cmd()",
                action="+1",
                resource="-1",
                user_agent="@x",
                request_id="\tx",
                session_id="\r=1",
                outcome="failure",
                error=MARKUP,
            ),
            event(
                id="e3",
                timestamp="1773324131",
                actor=ESC_RED,
                actor_type=OSC_LINK,
                resource=LONG,
                source_ip=...,
            ),
            event(
                id="e5",
                timestamp="2026-03-12T14:04:00Z",
                actor="admin\u202egnp.exe",
                action="del\u200bete\u2066x\u2069\ufeff\u2060",
                resource="c1\x9bz\x7f",
                user_agent=None,
            ),
        ]
    )
    + b'{"id":"e4","timestamp":"2026-03-12T14:03:00Z","actor":"bad\xff\xfe","action":"read"}\n'
)
"""Unicode, quotes, commas, newlines, nulls, microseconds, a long value, terminal
escapes, rich markup, formula cells and invalid UTF-8 (Arrow cannot carry lone
surrogates, so the raw text of a line with bad bytes stands in for them)."""

ORDER = ["e1", "e3", "e2", "e4", "e5"]
SHOWN = ("event_id", "ts", "actor", "actor_type", "action", "resource", "outcome", "error")


@pytest.fixture(scope="module")
def hard() -> Iterator[Store]:
    store = Store.open(":memory:")
    load(store, [SourceRef("hard.jsonl", None, None)], stdin=io.BytesIO(HARD))
    yield store
    store.close()


def reader(
    store: Store, fields: tuple[str, ...] | None = None, *, limit: int | None = None
) -> pa.RecordBatchReader:
    query = Query(fields=fields, limit=limit) if fields else Query(limit=limit)
    sql, params = select_sql(query)
    return store.arrow_reader(sql, params, batch_rows=2)


def rendered(
    store: Store,
    fmt: OutputFormat,
    fields: tuple[str, ...] | None = None,
    options: RenderOptions | None = None,
    *,
    limit: int | None = None,
) -> bytes:
    out = io.BytesIO()
    written = write_rows(reader(store, fields, limit=limit), fmt, out, options or RenderOptions())
    expected = 5 if limit is None else limit
    assert written == expected
    return out.getvalue()


def stored_rows(store: Store, fields: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    return reader(store, fields).read_all().to_pylist()


def test_the_hard_dataset_loads_as_intended(hard: Store) -> None:
    rows = stored_rows(hard)
    assert [r["event_id"] for r in rows] == ORDER
    by_id = {r["event_id"]: r for r in rows}
    assert by_id["e3"]["resource"] == LONG
    assert by_id["e3"]["actor_type"] == OSC_LINK
    assert by_id["e2"]["error"] == MARKUP
    assert by_id["e3"]["source_ip"] is None
    assert "bad\\xff\\xfe" in by_id["e4"]["raw"]


# --- jsonl and json ---------------------------------------------------------------


def test_jsonl_is_exactly_one_compact_object_per_line_with_z_times(hard: Store) -> None:
    data = rendered(hard, OutputFormat.JSONL, ("event_id", "ts", "action", "source_line"))
    assert data == (
        b'{"event_id":"e1","ts":"2026-03-12T13:02:11.482917Z",'
        b'"action":"say \\"hi\\", then\\nleave","source_line":1}\n'
        b'{"event_id":"e3","ts":"2026-03-12T14:02:11Z","action":"db.query","source_line":3}\n'
        b'{"event_id":"e2","ts":"2026-03-12T14:02:11.000001Z","action":"+1","source_line":2}\n'
        b'{"event_id":"e4","ts":"2026-03-12T14:03:00Z","action":"read","source_line":5}\n'
        b'{"event_id":"e5","ts":"2026-03-12T14:04:00Z",'
        b'"action":"del\xe2\x80\x8bete\xe2\x81\xa6x\xe2\x81\xa9\xef\xbb\xbf\xe2\x81\xa0",'
        b'"source_line":4}\n'
    )


def _as_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v
        for k, v in row.items()
    }


def test_jsonl_carries_every_column_and_value_unchanged(hard: Store) -> None:
    data = rendered(hard, OutputFormat.JSONL)
    lines = data.split(b"\n")
    assert lines[-1] == b""
    objects = [orjson.loads(line) for line in lines[:-1]]
    expected = [_as_json(r) for r in stored_rows(hard)]
    assert objects == expected
    assert all(list(o) == list(expected[0]) for o in objects)
    assert objects[1]["resource"] == LONG
    assert objects[1]["actor"] == ESC_RED
    assert objects[0]["error"] is None
    assert "zoë 漢字 🙂".encode() in data
    data.decode("utf-8")


def test_json_is_one_valid_array_of_the_jsonl_objects(hard: Store) -> None:
    data = rendered(hard, OutputFormat.JSON)
    assert data.startswith(b"[\n{") and data.endswith(b"}\n]\n")
    jsonl_objects = [orjson.loads(x) for x in rendered(hard, OutputFormat.JSONL).splitlines()]
    assert orjson.loads(data) == jsonl_objects


def test_json_of_zero_rows_is_an_empty_array(hard: Store) -> None:
    out = io.BytesIO()
    assert write_rows(reader(hard, limit=0), OutputFormat.JSON, out) == 0
    assert out.getvalue() == b"[]\n"


def test_jsonl_of_zero_rows_is_empty(hard: Store) -> None:
    out = io.BytesIO()
    assert write_rows(reader(hard, limit=0), OutputFormat.JSONL, out) == 0
    assert out.getvalue() == b""


def test_json_writes_lone_surrogates_as_replacement_characters() -> None:
    data = dumps({"actor": "x\ud800y", "k\udfff": ["\udc00"]})
    assert orjson.loads(data) == {"actor": "x\ufffdy", "k\ufffd": ["\ufffd"]}


# --- csv --------------------------------------------------------------------------


def _csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


CSV_FIELDS = (
    "event_id",
    "ts",
    "actor",
    "action",
    "resource",
    "user_agent",
    "request_id",
    "session_id",
    "source_ip",
    "error",
    "source_line",
)


def test_csv_has_a_header_lf_line_ends_and_every_value(hard: Store) -> None:
    data = rendered(hard, OutputFormat.CSV, CSV_FIELDS)
    assert data.startswith(",".join(CSV_FIELDS).encode() + b"\n")
    assert b"\r\n" not in data
    rows = _csv(data)
    assert rows[0] == list(CSV_FIELDS)
    assert rows[1] == [
        "e1",
        "2026-03-12T13:02:11.482917Z",
        "zoë 漢字 🙂",
        'say "hi", then\nleave',
        "db/orders,archive",
        "test/1.0",
        "req-1",
        "sess-1",
        "10.0.0.1",
        "",
        "1",
    ]
    assert rows[2][:6] == ["e3", "2026-03-12T14:02:11Z", ESC_RED, "db.query", LONG, "test/1.0"]
    assert rows[2][8] == ""
    assert rows[3][1] == "2026-03-12T14:02:11.000001Z"
    assert len(rows) == 6


def test_csv_defuses_formula_cells(hard: Store) -> None:
    row = _csv(rendered(hard, OutputFormat.CSV, CSV_FIELDS))[3]
    assert row[0] == "e2"
    assert row[2:8] == ["'=cmd()", "'+1", "'-1", "'@x", "'\tx", "'\r=1"]
    assert row[9] == MARKUP


def test_csv_raw_writes_formula_cells_exactly(hard: Store) -> None:
    raw = RenderOptions(csv_raw=True)
    row = _csv(rendered(hard, OutputFormat.CSV, CSV_FIELDS, raw))[3]
    assert row[2:8] == ["=cmd()", "+1", "-1", "@x", "\tx", "\r=1"]


def test_csv_writes_negative_numbers_as_numbers_and_text_defused() -> None:
    table = pa.table({"offset_s": [-300.0, 12.5], "n": [-1, 2], "text": ["-1", "=x"]})
    out = io.BytesIO()
    assert write_rows(table.to_reader(), OutputFormat.CSV, out) == 2
    assert _csv(out.getvalue()) == [
        ["offset_s", "n", "text"],
        ["-300.0", "-1", "'-1"],
        ["12.5", "2", "'=x"],
    ]


def test_csv_of_zero_rows_is_just_the_header(hard: Store) -> None:
    out = io.BytesIO()
    assert write_rows(reader(hard, ("ts", "actor"), limit=0), OutputFormat.CSV, out) == 0
    assert out.getvalue() == b"ts,actor\n"


# --- parquet ----------------------------------------------------------------------


def test_parquet_reads_back_to_the_same_rows_and_types(hard: Store) -> None:
    data = rendered(hard, OutputFormat.PARQUET)
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.names == reader(hard).schema.names
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.to_pylist() == stored_rows(hard)


def test_parquet_of_zero_rows_is_a_readable_empty_table(hard: Store) -> None:
    out = io.BytesIO()
    assert write_rows(reader(hard, limit=0), OutputFormat.PARQUET, out) == 0
    table = pq.read_table(io.BytesIO(out.getvalue()))
    assert table.num_rows == 0
    assert table.schema.names == reader(hard).schema.names


# --- every format -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_has_a_writer(hard: Store, fmt: OutputFormat) -> None:
    console = Console(width=120, file=io.StringIO(), color_system=None)
    out = io.BytesIO()
    assert write_rows(reader(hard), fmt, out, console=console) == 5
    written = console.file.getvalue() if fmt is OutputFormat.TABLE else out.getvalue()  # type: ignore[attr-defined]
    assert written


def test_the_table_writer_needs_a_console(hard: Store) -> None:
    with pytest.raises(ValueError, match="Console"):
        write_rows(reader(hard), OutputFormat.TABLE, io.BytesIO())


# --- the table --------------------------------------------------------------------


WIDE_CELLS = RenderOptions(max_cell_chars=60)


def table_text(
    store: Store,
    fields: tuple[str, ...] = SHOWN,
    options: RenderOptions = WIDE_CELLS,
    *,
    matched: int | None = None,
    limit: int | None = None,
    width: int = 200,
) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    write_rows(
        reader(store, fields, limit=limit),
        OutputFormat.TABLE,
        io.BytesIO(),
        options,
        console=console,
        matched=matched,
    )
    return console.file.getvalue()  # type: ignore[attr-defined]


UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def test_table_shows_terminal_escapes_and_invisible_characters_as_visible_escapes(
    hard: Store,
) -> None:
    text = table_text(hard)
    assert UNSAFE.search(text) is None
    assert "\\e[31mred\\e[0m" in text
    link = table_text(hard, ("event_id", "actor_type"))
    assert "\\e]8;;http://evil.example\\e\\click\\e]8;;\\e\\" in link
    assert "admin\\u202egnp.exe" in text
    assert "del\\u200bete\\u2066x\\u2069\\ufeff\\u2060" in text
    assert "c1\\x9bz\\x7f" in text
    assert 'say "hi", then\\nleave' in text


def test_table_shows_rich_markup_literally(hard: Store) -> None:
    assert MARKUP in table_text(hard, ("event_id", "error"))
    colour = Console(width=200, file=io.StringIO(), color_system="truecolor")
    write_rows(reader(hard, ("actor", "error")), OutputFormat.TABLE, io.BytesIO(), console=colour)
    assert "[bold red]x[/]" in colour.file.getvalue()  # type: ignore[attr-defined]


def test_table_keeps_ordinary_unicode(hard: Store) -> None:
    assert "zoë 漢字 🙂" in table_text(hard)


def test_table_cuts_very_long_values_with_a_marker(hard: Store) -> None:
    text = table_text(hard, ("event_id", "resource"), RenderOptions(max_cell_chars=40))
    assert "x" * 40 + "…(+4960 chars)" in text
    assert "x" * 41 not in text


def test_table_times_are_in_the_chosen_zone_named_in_the_header(hard: Store) -> None:
    berlin = table_text(hard, ("event_id", "ts"), RenderOptions(tz=zone("Europe/Berlin")))
    assert "ts (Europe/Berlin)" in berlin
    assert "2026-03-12 14:02:11.482" in berlin
    utc = table_text(hard, ("event_id", "ts"))
    assert "ts (UTC)" in utc
    assert "2026-03-12 13:02:11.482" in utc


def test_table_footer_says_how_many_of_the_matched_are_shown(hard: Store) -> None:
    assert "showing 3 of 9 matched events" in table_text(hard, limit=3, matched=9)
    assert table_text(hard, matched=5).rstrip().endswith("5 events")
    assert table_text(hard).rstrip().endswith("5 events")
    assert "showing" not in table_text(hard, matched=5)


def test_table_of_zero_rows_says_so(hard: Store) -> None:
    assert table_text(hard, limit=0, matched=0).rstrip().endswith("0 events")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        ("plain", "plain"),
        ("a\x1bb", "a\\eb"),
        (12, "12"),
        ("y" * 250, "y" * 200 + "…(+50 chars)"),
    ],
)
def test_cell_text(value: Any, shown: str) -> None:
    assert cell_text(value, RenderOptions()) == shown


def test_cell_text_uses_the_smaller_of_the_column_cap_and_the_option() -> None:
    assert cell_text("z" * 50, RenderOptions(max_cell_chars=200), 10) == "z" * 10 + "…(+40 chars)"
    assert cell_text("z" * 50, RenderOptions(max_cell_chars=5), 10) == "z" * 5 + "…(+45 chars)"


_CELLS = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["\r", "\r\n", '"', ",", "=1"]))


@given(st.lists(st.tuples(_CELLS, _CELLS), max_size=6), st.booleans())
def test_csv_reads_back_to_the_values_for_any_text(
    rows: list[tuple[str | None, str | None]], raw: bool
) -> None:
    table = pa.table(
        {
            "a": pa.array([r[0] for r in rows], pa.string()),
            "b": pa.array([r[1] for r in rows], pa.string()),
        }
    )
    out = io.BytesIO()
    count = write_rows(
        pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
        OutputFormat.CSV,
        out,
        RenderOptions(csv_raw=raw),
    )
    assert count == len(rows)
    parsed = _csv(out.getvalue())
    expected = [
        ["" if v is None else v if raw else spreadsheet_safe(v) for v in row] for row in rows
    ]
    assert parsed == [["a", "b"], *expected]
