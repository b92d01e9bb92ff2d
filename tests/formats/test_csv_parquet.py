"""CSV exports with a header (GitHub's and any other) and Parquet files as inputs."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import Result

from auditcli.ingest.csvfile import sniff
from auditcli.ingest.framing import frame
from auditcli.ingest.sources import expand
from auditcli.ingest.tabular import header_cells
from auditcli.load import load
from auditcli.store import Store
from tests.formats.conftest import COLUMNS, Loaded, expect, load_records

Run = Callable[..., Result]

T_MS = datetime(2021, 3, 2, 13, 44, 6, 36000, tzinfo=UTC)

GITHUB_HEADER = (
    "@timestamp,_document_id,action,actor,actor_id,actor_ip,actor_location.country_code,"
    "created_at,hashed_token,org,repo,user,user_agent,operation_type,data.hook_id"
)


def csv_row(*cells: str) -> str:
    """One CSV row as a spreadsheet writes it (quotes only where needed)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


GITHUB: list[tuple[str, str, dict[str, Any]]] = [
    (
        "repo-create",
        csv_row(
            "1614692646036",
            "doc-1",
            "repo.create",
            "alice",
            "17",
            "203.0.113.5",
            "US",
            "1614692646036",
            "tok-hash",
            "acme",
            "acme/web",
            "",
            "git/2.40",
            "create",
            "",
        ),
        {
            "event_id": "doc-1",
            "ts": T_MS,
            "actor": "alice",
            "actor_type": "user",
            "action": "repo.create",
            "resource": "acme/web",
            "resource_type": "repo",
            "outcome": "unknown",
            "source_ip": "203.0.113.5",
            "user_agent": "git/2.40",
            "session_id": "tok-hash",
            "source_format": "github-audit",
            "extra": {"org": "acme", "country": "US", "actor_id": "17", "operation_type": "create"},
        },
    ),
    (
        "bot-adds-a-member",
        csv_row(
            "",
            "doc-2",
            "org.add_member",
            "dependabot[bot]",
            "",
            "",
            "",
            "1614692646036",
            "",
            "acme",
            "",
            "bob",
            "",
            "",
            "245",
        ),
        {"ts": T_MS, "actor_type": "bot", "resource": "bob", "resource_type": "user"},
    ),
    (
        "git-event-without-actor-or-id",
        csv_row("1614692646036", "", "git.clone", "", "", "", "", "", "", "acme", "acme/web"),
        {"actor": None, "action": "git.clone", "resource": "acme/web"},
    ),
    (
        "formula-looking-cells-are-kept-as-written",
        csv_row(
            "1614692646036",
            "doc-4",
            "team.create",
            '=HYPERLINK("http://evil.example","x")',
            "",
            "+1+1",
            "-2",
            "",
            "@SUM(1)",
            "acme",
        ),
        {
            "actor": '=HYPERLINK("http://evil.example","x")',
            "source_ip": "+1+1",
            "session_id": "@SUM(1)",
            "extra": {"country": "-2"},
        },
    ),
]


@pytest.fixture(scope="module")
def github() -> Loaded:
    rows = [row for _, row, _ in GITHUB]
    return load_records("\r\n".join([GITHUB_HEADER, *rows]).encode() + b"\r\n")


@pytest.mark.parametrize(("name", "row", "expected"), GITHUB, ids=[c[0] for c in GITHUB])
def test_github_csv_columns(name: str, row: str, expected: dict[str, Any], github: Loaded) -> None:
    assert github.rejects == []
    index = [c[0] for c in GITHUB].index(name)
    event = github.events[index]
    expect(event, expected)
    assert event["raw"] == row
    assert event["source_line"] == index + 2


def test_a_cell_holding_line_breaks_stays_one_row_with_its_exact_text() -> None:
    rows = [
        "timestamp,user,event,note",
        '2024-05-01T10:00:00Z,carol,login,"first\r\nsecond ""quoted"""',
        "2024-05-01T10:01:00Z,dave,logout,",
    ]
    loaded = load_records("\r\n".join(rows).encode() + b"\r\n")
    first, second = loaded.events
    assert first["raw"] == rows[1]
    assert (first["actor"], first["action"], first["source_line"]) == ("carol", "login", 2)
    assert (second["actor"], second["source_line"]) == ("dave", 4)
    assert first["source_format"] == "generic-json"


def test_a_stray_quote_costs_only_its_own_row() -> None:
    rows = [
        "timestamp,user,event",
        '2024-05-01T10:00:00Z,carol,lo"gin',
        '2024-05-01T10:01:00Z,dave,"x"y',
        "2024-05-01T10:02:00Z,erin,logout",
    ]
    loaded = load_records("\n".join(rows).encode())
    assert [(e["source_line"], e["actor"], e["action"]) for e in loaded.events] == [
        (2, "carol", 'lo"gin'),
        (4, "erin", "logout"),
    ]
    assert loaded.rejects == [(3, "not JSON")]


def test_mapping_reaches_csv_columns() -> None:
    data = b"When,Who,What\n2024-05-01T10:00:00Z,carol,export\n"
    [event] = load_records(
        data, mapping={"ts": ("When",), "actor": ("Who",), "action": ("What",)}
    ).events
    assert (event["actor"], event["action"]) == ("carol", "export")


def test_csv_rows_are_the_same_whatever_the_read_chunks() -> None:
    rows = [row for _, row, _ in GITHUB] + ['1,x,a.b,"multi\nline",2']
    data = ("\r\n".join([GITHUB_HEADER, *rows]) + "\r\n").encode()

    def records(chunk_bytes: int) -> list[tuple[int, str, str]]:
        out: list[tuple[int, str, str]] = []
        for batch in frame(io.BytesIO(data), chunk_bytes=chunk_bytes):
            lines, raws, docs = batch.line.to_pylist(), batch.raw.to_pylist(), batch.doc.to_pylist()
            out += zip(lines, raws, docs, strict=True)
        return out

    whole = records(1 << 20)
    assert len(whole) == len(rows)
    assert orjson.loads(whole[0][2])["actor_location"] == {"country_code": "US"}
    for chunk_bytes in (3, 50, 200):
        assert records(chunk_bytes) == whole


def test_sniffing_tells_a_csv_header_from_other_text() -> None:
    assert sniff(GITHUB_HEADER.encode() + b"\n")
    assert sniff(b"Created At (UTC),Author Name,Action\n")
    assert not sniff(b'{"a": 1, "b": 2}\n')
    assert not sniff(b"2024-05-01T10:00:00Z,carol,login\n")
    assert not sniff(b"a,a\n")
    assert sniff(b"timestamp,actor,action,actor\n")
    assert not sniff(b"just one line of text\n")
    assert sniff(b"timestamp,actor,password,\n")  # a spreadsheet's trailing comma
    assert not sniff(b"actor,,\n")
    assert sniff(b"timestamp\tactor\taction\n")
    assert sniff(b"timestamp;actor;action\r\n")
    assert not sniff(b"2024-05-01T10:00:00Z\tcarol\tlogin\n")
    assert not sniff(b"2024-05-01T10:00:00Z;carol;login\n")
    assert not sniff(b"type=USER_LOGIN msg=audit(1.0:1): pid=1\n")
    sudo = b"Jan  1 00:00:00 host sudo:  alice : TTY=pts/0 ; PWD=/home/alice ; USER=root\n"
    assert not sniff(sudo * 2)  # names hold no "="
    assert not sniff(b'WARNING: one thing; another\n{"ts": "2024-05-01T10:00:00Z"}\n')
    assert sniff(b"ts;actor;token;Kommentar, intern\n1;2;3;4\n")  # the most names win


def test_a_separator_is_the_one_the_header_and_its_first_row_agree_on() -> None:
    """A semicolon file with a comma in a name, and a tab file whose header has a
    quoted name with a line break, were read as comma CSV: every row rejected."""
    semicolons = b"ts;actor;token;Kommentar, intern\n2024-01-01T00:00:00Z;alice;s3cr3t;ok\n"
    tabs = b'ts\tactor\tpassword\t"note\nmore"\n2024-01-01T00:00:00Z\talice\thunter2\tx\n'
    for data in (semicolons, tabs):
        loaded = load_records(data)
        assert loaded.rejects == []
        assert [e["actor"] for e in loaded.events] == ["alice"]


def test_blank_lines_before_the_header_row_are_passed_over() -> None:
    """Such a file was not read as CSV: its rows were rejects, shown unmasked."""
    data = b"\n \r\n\f\v\n\nts,user,password\n2026-03-12T10:00:00Z,bob,hunter2\n"
    assert sniff(data)
    loaded = load_records(data)
    assert loaded.rejects == []
    assert [(e["actor"], e["source_line"]) for e in loaded.events] == [("bob", 6)]
    assert not sniff(b'\n\n{"ts": "2026-03-12T10:00:00Z", "user": "bob"}\n')
    assert not sniff(b"\n\n")


def test_the_delimiter_a_file_was_read_by_is_kept_with_its_header(tmp_path: Path) -> None:
    """The most names pick the semicolon, but a first row without as many cells is read
    by commas: what masks a row by its header must split it the same way."""
    header = "n1;n2;n3;c,timestamp,password"
    path = tmp_path / "export.csv"
    path.write_text(f"{header}\nx,2026-03-12T10:00:00Z,hunter2\n")
    store = Store.open()
    try:
        load(store, expand([str(path)]))
        kept = store.fetchall("SELECT header, delimiter FROM csv_headers")
    finally:
        store.close()
    assert kept == [(header, ",")]
    assert header_cells(header, ",") == ("n1;n2;n3;c", "timestamp", "password")
    assert header_cells(header) == ("n1", "n2", "n3", "c,timestamp,password")  # by names
    assert header_cells('t,"a\nnote"') == ("t", "a\nnote")
    assert header_cells("2026-03-12T10:00:00Z,alice") == ()


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_tab_and_semicolon_separated_files_are_read_like_csv(delimiter: str) -> None:
    """What spreadsheets write where the comma is the decimal sign, and TSV exports:
    their rows were rejected as not JSON, one each."""
    rows = [
        ["timestamp", "user", "event", "note"],
        ["2024-05-01T10:00:00Z", "carol", "login", 'say "1,5"; ok'],
        ["2024-05-01T10:01:00Z", "dave", "logout", ""],
    ]
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    loaded = load_records(out.getvalue().encode())
    assert loaded.rejects == []
    assert [(e["actor"], e["action"], e["source_line"]) for e in loaded.events] == [
        ("carol", "login", 2),
        ("dave", "logout", 3),
    ]
    assert loaded.events[0]["raw"] == out.getvalue().splitlines()[1]


def test_a_repeated_header_name_is_read_with_a_suffix() -> None:
    loaded = load_records(b"timestamp,actor,action,actor\n2026-03-12T09:00:00Z,alice,login,bob\n")
    [event] = loaded.events
    assert (event["actor"], event["action"]) == ("alice", "login")
    assert event["raw"] == "2026-03-12T09:00:00Z,alice,login,bob"
    assert loaded.rejects == []


def test_a_parquet_row_becomes_a_json_object() -> None:
    table = pa.table(
        {
            "time": pa.array([1714557600123456789], pa.timestamp("ns", "UTC")),
            "actor": pa.array([{"name": "carol", "id": 7}]),
            "event.action": ["login"],
            "ip": ["10.0.0.1"],
            "tags": [["a", "b"]],
            "blob": pa.array([b"\x00ok"], pa.binary()),
            "amount": pa.array([Decimal("1.50")], pa.decimal128(5, 2)),
            "naive": pa.array([datetime(2024, 5, 1, 10, 0)], pa.timestamp("us")),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    loaded = load_records(out.getvalue())
    [event] = loaded.events
    expect(
        event,
        {
            "ts": datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC),
            "actor": "carol",
            "action": "login",
            "source_ip": "10.0.0.1",
            "source_format": "generic-json",
            "source_line": 0,
        },
    )
    assert orjson.loads(event["raw"]) == {
        "time": "2024-05-01T10:00:00.123456Z",
        "actor": {"name": "carol", "id": 7},
        "event": {"action": "login"},
        "ip": "10.0.0.1",
        "tags": ["a", "b"],
        "blob": "\x00ok",
        "amount": "1.50",
        "naive": "2024-05-01T10:00:00Z",
    }


def test_a_parquet_time_python_cannot_hold_rejects_only_its_row() -> None:
    table = pa.table(
        {
            "time": pa.array([10**12, 1714557600, 1714557601], pa.timestamp("s")),
            "day": pa.array([0, 3 * 10**6, 0], pa.date32()),
            "actor": ["far", "far-day", "plain"],
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    loaded = load_records(out.getvalue())
    assert [e["actor"] for e in loaded.events] == ["far-day", "plain"]
    assert loaded.rejects == [(0, "no usable timestamp")]
    # Read as a number, 10**12 seconds would have passed for epoch milliseconds (2001).
    assert [orjson.loads(e["raw"])["day"] for e in loaded.events] == [
        "out of range: 3000000 day from 1970",
        "1970-01-01",
    ]


def test_auditcli_parquet_output_loads_back_as_it_went_out(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    auditd = (
        "type=SYSCALL msg=audit(1364481363.243:1): arch=c000003e syscall=2 success=no "
        'exit=-13 auid=1000 uid=1000 ses=1 comm="cat" exe="/usr/bin/cat"\n'
        'type=PATH msg=audit(1364481363.243:1): item=0 name="/etc/shadow" nametype=NORMAL\n'
    )
    inputs = [
        write_log("audit.log", auditd.encode()),
        write_log("github.csv", "\n".join([GITHUB_HEADER, GITHUB[0][1]]).encode()),
        write_log(
            "app.jsonl",
            [{"timestamp": "2024-05-01T10:00:00Z", "user": "dave", "event": "x", "outcome": "ok"}],
        ),
    ]
    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    assert run("load", "--db", first, *inputs).exit_code == 0
    export = tmp_path / "export.parquet"
    assert run("filter", "--db", first, "--format", "parquet", "--output", export).exit_code == 0
    result = run("load", "--db", second, export)
    assert result.exit_code == 0, result.stderr
    columns = [c for c in COLUMNS if c not in ("extra", "source_format", "source_line")]
    selected = ", ".join("raw_ref AS raw" if c == "raw" else c for c in columns)
    wanted = f"SELECT {selected}, extra FROM events ORDER BY event_id"
    before, after = (_rows(db, wanted) for db in (first, second))
    assert [row[:-1] for row in after] == [row[:-1] for row in before]
    for old, new in zip(before, after, strict=True):
        origin = {"origin_format", "origin_file", "origin_line", "origin_sha256"}
        assert {k: v for k, v in orjson.loads(new[-1]).items() if k not in origin} == (
            orjson.loads(old[-1]) if old[-1] else {}
        )
    formats = _rows(second, "SELECT DISTINCT source_format FROM events")
    assert formats == [("auditcli",)]
    origins = _rows(second, "SELECT extra->>'origin_format' FROM events ORDER BY 1")
    assert origins == [("auditd",), ("generic-json",), ("github-audit",)]


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    store = Store.open(str(db))
    try:
        return [tuple(row.values()) for row in store.arrow_reader(sql).read_all().to_pylist()]
    finally:
        store.close()


def test_an_unreadable_parquet_file_is_an_input_error(
    run: Run, write_log: Callable[..., Path]
) -> None:
    path = write_log("broken.parquet", b"PAR1" + b"\x00" * 64)
    result = run("load", path)
    assert result.exit_code == 3
    assert "not a readable Parquet file" in result.stderr
