"""The access log: one chained row per command on a database; tampering is detected."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pytest
from typer.testing import CliRunner, Result

from auditcli.access_log import ACCESS_COLUMNS, Access, record_access, verify_access_log
from auditcli.cli import app
from auditcli.integrity import AuditChainRecipe
from auditcli.integrity.canonical import canonicalize
from auditcli.integrity.report import FindingKind
from auditcli.store import Store
from tests.conftest import SAMPLE_LOGS, event, jsonl

Run = Callable[..., Result]
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlMTIz"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    """The CLI, with ``sys.argv`` as a shell would set it."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = CliRunner()

    def invoke(*args: str | Path) -> Result:
        argv = [str(a) for a in args]
        monkeypatch.setattr(sys, "argv", ["auditcli", *argv])
        return runner.invoke(app, argv, catch_exceptions=False)

    return invoke


@pytest.fixture
def db(run: Run, tmp_path: Path) -> Path:
    source = tmp_path / "a.jsonl"
    source.write_bytes(
        jsonl(
            [
                event(id="e1", actor="alice", timestamp="2026-03-12T14:00:00Z"),
                event(id="e2", actor="bob", timestamp="2026-03-12T14:01:00Z"),
            ]
        )
        + b"not json\n"
    )
    path = tmp_path / "case.duckdb"
    assert run("load", source, "--db", path).exit_code == 0
    return path


def entries(db: Path) -> list[dict[str, object]]:
    with duckdb.connect(str(db), read_only=True) as connection:
        rows = connection.execute(
            f"SELECT {', '.join(ACCESS_COLUMNS)} FROM access_log ORDER BY seq"
        ).fetchall()
    return [dict(zip(ACCESS_COLUMNS, row, strict=True)) for row in rows]


def test_every_command_on_a_database_appends_one_row(run: Run, db: Path) -> None:
    commands = [
        ("filter", "--db", db, "-f", "jsonl"),
        ("timeline", "--db", db, "--at", "2026-03-12T14:00Z", "-f", "jsonl"),
        ("sources", "--db", db, "-f", "jsonl"),
        ("rejects", "--db", db, "-f", "jsonl"),
        ("filter", "--db", db, "-f", "jsonl", "--pseudonymize", "--actor", "alice"),
        ("reveal", "user:" + "0" * 16, "--db", db),
        ("access-log", "--db", db, "-f", "jsonl"),
    ]
    for args in commands:
        run(*args)
    rows = entries(db)
    assert [r["command"] for r in rows] == [
        "load",
        "filter",
        "timeline",
        "sources",
        "rejects",
        "filter",
        "reveal",
        "access-log",
    ]
    assert [r["seq"] for r in rows] == list(range(1, 9))
    assert [r["row_count"] for r in rows] == [2, 2, 2, 1, 1, 1, 0, 7]
    assert [r["exit_code"] for r in rows] == [0, 0, 0, 0, 0, 0, 1, 0]
    assert rows[1]["command_line"] == f"auditcli filter --db {db} -f jsonl"
    assert all(r["os_user"] and r["host"] for r in rows)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_run_whose_output_fails_is_recorded_with_its_exit_code(
    run: Run, db: Path, tmp_path: Path
) -> None:
    """The query still held the connection when the write failed: the row went unwritten."""
    assert run("filter", "--db", db, "-o", tmp_path / "missing" / "x.csv").exit_code == 2
    assert run("sources", "--db", db, "-o", "/dev/full").exit_code == 3
    assert run("filter", "--db", db, "-f", "csv", "-o", "/dev/full").exit_code == 3
    rows = entries(db)
    assert [(r["command"], r["exit_code"]) for r in rows[1:]] == [
        ("filter", 2),
        ("sources", 3),
        ("filter", 3),
    ]


def test_the_chain_is_auditcli_chain_1_over_the_row_without_its_hash(run: Run, db: Path) -> None:
    run("filter", "--db", db, "-f", "jsonl")
    rows = entries(db)
    assert rows[0]["prev_hash"] == "0" * 64
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row["prev_hash"] == previous["hash"]
    for row in rows:
        body = {k: v for k, v in row.items() if k != "hash"}
        assert row["hash"] == AuditChainRecipe().digest(canonicalize(body))


def test_pseudonymised_the_links_are_keyed_and_still_chain(run: Run, db: Path) -> None:
    """The links hash the rows in clear: shown beside pseudonymised command lines,
    they would confirm a guess at a replaced name."""
    run("filter", "--db", db, "--actor", "alice", "-f", "jsonl")
    result = run("access-log", "--db", db, "--pseudonymize", "-f", "jsonl")
    shown = [orjson.loads(line) for line in result.stdout.splitlines()]
    stored = entries(db)[: len(shown)]
    assert "alice" not in result.stdout
    assert all(row["hash"].startswith("k:") for row in shown)
    assert not any(row["hash"] in result.stdout for row in stored)
    for previous, row in zip(shown, shown[1:], strict=False):
        assert row["prev_hash"] == previous["hash"]
    assert stored[0]["hash"] in run("access-log", "--db", db, "-f", "jsonl").stdout


def test_secrets_on_the_command_line_are_masked_before_they_are_stored(run: Run, db: Path) -> None:
    result = run("timeline", "--db", db, "--at", "2026-03-12T14:00Z", "--request-id", JWT)
    assert result.exit_code == 0, result.stderr
    stored = entries(db)[-1]["command_line"]
    assert isinstance(stored, str)
    assert JWT not in stored and "<redacted:jwt>" in stored


def test_a_policy_that_turns_a_detector_off_still_masks_the_record(
    run: Run, db: Path, tmp_path: Path
) -> None:
    """What a run may show is not what the permanent record may hold: a policy turning
    jwt off let the access log keep the token in clear."""
    policy = tmp_path / "policy.toml"
    policy.write_text('[secrets]\ndisabled = ["jwt"]\n')
    args = ("--db", db, "--at", "2026-03-12T14:00Z", "--request-id", JWT, "--policy", policy)
    assert run("timeline", *args).exit_code == 0
    stored = entries(db)[-1]["command_line"]
    assert isinstance(stored, str)
    assert JWT not in stored and "<redacted:jwt>" in stored


def test_a_failed_command_is_recorded_with_its_exit_code(run: Run, db: Path) -> None:
    result = run("timeline", "--db", db, "--around", "no-such-event", "-f", "jsonl")
    assert result.exit_code != 0
    last = entries(db)[-1]
    assert last["command"] == "timeline"
    assert last["exit_code"] == result.exit_code and last["row_count"] is None


def test_runs_on_files_and_a_missing_database_record_nothing(run: Run, tmp_path: Path) -> None:
    source = tmp_path / "b.jsonl"
    source.write_bytes(jsonl([event()]))
    assert run("filter", source, "-f", "jsonl").exit_code == 0
    missing = tmp_path / "missing.duckdb"
    for command in ("filter", "sources", "rejects", "access-log"):
        result = run(command, "--db", missing)
        assert result.exit_code == 3, command
        assert "no database at" in result.stderr
    assert not missing.exists()


def test_access_log_shows_entries_and_verify_says_intact(run: Run, db: Path) -> None:
    run("filter", "--db", db, "-f", "jsonl")
    shown = run("access-log", "--db", db, "-f", "jsonl")
    lines = [orjson.loads(line) for line in shown.stdout.splitlines()]
    assert [line["command"] for line in lines] == ["load", "filter"]
    assert list(lines[0]) == list(ACCESS_COLUMNS)
    last = run("access-log", "--db", db, "-f", "jsonl", "--limit", "1")
    assert [orjson.loads(x)["seq"] for x in last.stdout.splitlines()] == [3]
    verified = run("access-log", "--db", db, "--verify")
    assert verified.exit_code == 0 and verified.stdout == ""
    assert verified.stderr.startswith("auditcli: access log intact: 4 entries, head ")


def test_tampering_with_a_row_is_detected(run: Run, db: Path) -> None:
    for _ in range(3):
        run("filter", "--db", db, "-f", "jsonl")
    with duckdb.connect(str(db)) as connection:
        connection.execute("UPDATE access_log SET os_user = 'someone-else' WHERE seq = 2")
    result = run("access-log", "--db", db, "--verify", "-f", "jsonl")
    assert result.exit_code == 1
    findings = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert findings[0]["kind"] == FindingKind.MODIFIED and findings[0]["seq"] == 2
    assert "access log chain broken" in result.stderr and "entry 2" in result.stderr
    assert entries(db)[-1]["exit_code"] == 1


def test_deleting_a_row_is_detected(run: Run, db: Path) -> None:
    for _ in range(3):
        run("filter", "--db", db, "-f", "jsonl")
    with duckdb.connect(str(db)) as connection:
        connection.execute("DELETE FROM access_log WHERE seq = 3")
    result = run("access-log", "--db", db, "--verify", "-f", "json")
    assert result.exit_code == 1
    assert FindingKind.DELETED in {f["kind"] for f in orjson.loads(result.stdout)}


def test_record_access_in_the_core(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "x.duckdb")
    try:
        assert verify_access_log(store).intact
        started = datetime(2026, 3, 12, 14, 0, tzinfo=UTC)
        first = record_access(
            store, Access("filter", "auditcli filter --x \udcff", "u", "h", started, 3, 0)
        )
        second = record_access(
            store, Access("sources", "auditcli sources", "u", "h", started, None, 2)
        )
        report = verify_access_log(store)
        assert report.intact and report.events == 2 and report.head == second
        assert first != second
        line = store.scalar("SELECT command_line FROM access_log WHERE seq = 1")
        assert line == "auditcli filter --x \\xff"
        assert (
            store.scalar("SELECT ts FROM access_log WHERE seq = 1") == "2026-03-12T14:00:00.000000Z"
        )
    finally:
        store.close()


@pytest.mark.parametrize("command", ["filter", "load"])
def test_a_database_that_is_not_auditcli_s_is_refused_and_left_alone(
    run: Run, tmp_path: Path, command: str
) -> None:
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
    logs = [SAMPLE_LOGS / "identity.jsonl"] if command == "load" else []
    result = run(command, "--db", other, *logs)
    assert result.exit_code == 3 and "not an auditcli database" in result.stderr
    with duckdb.connect(str(other), read_only=True) as connection:
        tables = connection.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert tables == [("t",)]
    assert not Path(f"{other}.raw").exists()


def test_an_empty_duckdb_file_is_loaded_into(run: Run, tmp_path: Path) -> None:
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    assert run("load", "--db", empty, SAMPLE_LOGS / "identity.jsonl").exit_code == 0
    assert run("filter", "--db", empty, "--format", "jsonl").stdout.count("\n") == 194


def test_a_zero_byte_file_is_loaded_into_and_not_read_as_a_database(
    run: Run, tmp_path: Path
) -> None:
    """mktemp and touch make such files; DuckDB calls them invalid databases."""
    reading, loading = tmp_path / "reading.duckdb", tmp_path / "loading.duckdb"
    reading.touch()
    loading.touch()
    result = run("filter", "--db", reading)
    assert result.exit_code == 3
    assert f"{reading} is empty: no events loaded" in result.stderr
    assert reading.stat().st_size == 0
    assert run("load", "--db", loading, SAMPLE_LOGS / "identity.jsonl").exit_code == 0
    assert run("filter", "--db", loading, "--format", "jsonl").stdout.count("\n") == 194
