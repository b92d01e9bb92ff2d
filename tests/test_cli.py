"""CLI contract: exit codes, stdout and stderr, for load, filter, sources and rejects."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from auditcli.cli import app
from auditcli.cli.app import resolve_format
from auditcli.render import OutputFormat
from auditcli.store import Store
from tests.conftest import REPO, SAMPLE_LOGS, event, jsonl

Run = Callable[..., Result]
WriteLog = Callable[..., Path]


def lines(result: Result) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def loaded(run: Run, write_log: WriteLog, tmp_path: Path) -> Path:
    """A database holding three events."""
    path = write_log(
        "a.jsonl",
        [
            event(
                id="e1",
                timestamp="2026-03-12T10:00:00Z",
                actor="alice",
                action="db.read",
                resource="db/orders",
                source_ip="192.0.2.1",
            ),
            event(
                id="e2",
                timestamp="2026-03-12T11:00:00Z",
                actor="bob",
                action="db.write",
                resource="db/orders",
                outcome="failure",
                error="Denied",
                source_ip="203.0.113.7",
            ),
            event(
                id="e3",
                timestamp="2026-03-12T12:00:00Z",
                actor="alice",
                action="repo.push",
                resource="repo/api",
                source_ip="10.1.2.3",
            ),
        ],
    )
    db = tmp_path / "case.duckdb"
    result = run("load", path, "--db", db)
    assert result.exit_code == 0, result.stderr
    return db


def test_load_prints_a_summary_on_stderr_and_nothing_on_stdout(
    run: Run, write_log: WriteLog
) -> None:
    path = write_log("a.jsonl", [event(id="x")])
    result = run("load", path)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith("auditcli: loaded 1 file(s), 1 events, 0 rejected, ")
    assert "into audit.duckdb" in result.stderr
    assert Path("audit.duckdb").exists()


def test_loading_twice_says_the_file_is_already_loaded(run: Run, write_log: WriteLog) -> None:
    path = write_log("a.jsonl", [event(id="x")])
    run("load", path)
    again = run("load", path)
    assert again.exit_code == 0
    assert "already loaded" in again.stderr
    assert run("filter", "--format", "jsonl").stdout.count("\n") == 1


def test_strict_load_with_a_bad_line_exits_1_and_keeps_nothing(
    run: Run, write_log: WriteLog
) -> None:
    path = write_log("a.jsonl", jsonl([event()]) + b"garbage\n")
    result = run("load", path, "--strict", "--db", "s.duckdb")
    assert result.exit_code == 1
    assert f"auditcli: error: {path}:2: not JSON" in result.stderr
    assert "Traceback" not in result.stderr
    listed = run("filter", "--db", "s.duckdb", "--format", "jsonl")
    assert listed.exit_code == 0 and listed.stdout == ""


def test_rejects_are_listed_by_the_rejects_command(run: Run, write_log: WriteLog) -> None:
    path = write_log("a.jsonl", jsonl([event()]) + b"garbage\n")
    loaded = run("load", path)
    assert loaded.exit_code == 0
    assert "1 record(s) rejected, first at" in loaded.stderr
    rejects = run("rejects", "--format", "jsonl")
    assert lines(rejects) == [
        {"source_file": str(path), "source_line": 2, "reason": "not JSON", "raw": "garbage"}
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["load", "missing.jsonl"], 3, "auditcli: error: missing.jsonl: no such file or directory"),
        (
            ["filter", "missing.jsonl"],
            3,
            "auditcli: error: missing.jsonl: no such file or directory",
        ),
        (["filter", "--db", "none.duckdb"], 3, "auditcli: error: no database at none.duckdb"),
        (["filter", "--since", "soon"], 2, "auditcli: error: cannot read time 'soon'"),
        (["filter", "--until", ""], 2, "auditcli: error: cannot read time ''"),
        (
            ["timeline", str(SAMPLE_LOGS), "--since", "", "--until", "now"],
            2,
            "auditcli: error: cannot read time ''",
        ),
        (
            ["filter", "--db", "x.duckdb", "--mapping", "m.toml"],
            2,
            "auditcli: error: --mapping applies to files read now, not to --db",
        ),
        (
            ["timeline", "--db", "x.duckdb", "--at", "now", "--input-format", "okta"],
            2,
            "auditcli: error: --input-format applies to files read now, not to --db",
        ),
        (["filter", "--ip", "300.1.1.1"], 2, "cannot read IP address or CIDR '300.1.1.1'"),
        (["filter", "--fields", "nope"], 2, "auditcli: error: --fields: unknown column 'nope'"),
        (["filter", "--sort", "-nope"], 2, "auditcli: error: --sort: unknown column 'nope'"),
        (["filter", "--tz", "Mars/Base"], 2, "auditcli: error: unknown time zone 'Mars/Base'"),
        (["load", "x", "--input-format", "nope"], 3, "no such file"),
        (["filter", "--bogus"], 2, "No such option: --bogus"),
    ],
)
def test_every_user_error_is_one_line_with_its_exit_code(
    run: Run, args: list[str], code: int, message: str
) -> None:
    result = run(*args)
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_unreadable_mapping_file_is_exit_3_and_a_bad_one_exit_2(
    run: Run, write_log: WriteLog, tmp_path: Path
) -> None:
    path = write_log("a.jsonl", [event()])
    assert run("load", path, "--mapping", tmp_path / "none.toml").exit_code == 3
    (tmp_path / "bad.toml").write_text("[columns]\nwho = 'x'\n")
    result = run("load", path, "--mapping", tmp_path / "bad.toml")
    assert result.exit_code == 2
    assert "unknown column 'who'" in result.stderr


def test_filter_matches_all_options_and_any_of_repeated_values(run: Run, loaded: Path) -> None:
    both = run("filter", "--db", loaded, "--actor", "alice", "--actor", "bob", "-f", "jsonl")
    assert [r["event_id"] for r in lines(both)] == ["e1", "e2", "e3"]
    narrowed = run(
        "filter", "--db", loaded, "--actor", "alice", "--resource", "db/*", "-f", "jsonl"
    )
    assert [r["event_id"] for r in lines(narrowed)] == ["e1"]
    failed = run("filter", "--db", loaded, "--outcome", "failure", "-f", "jsonl")
    assert [r["event_id"] for r in lines(failed)] == ["e2"]
    cidr = run("filter", "--db", loaded, "--ip", "10.0.0.0/8", "-f", "jsonl")
    assert [r["event_id"] for r in lines(cidr)] == ["e3"]
    window = run(
        "filter",
        "--db",
        loaded,
        "--since",
        "2026-03-12T11:00:00Z",
        "--until",
        "2026-03-12T12:00:00Z",
        "-f",
        "jsonl",
    )
    assert [r["event_id"] for r in lines(window)] == ["e2", "e3"]


def test_an_injection_attempt_matches_nothing(run: Run, loaded: Path) -> None:
    result = run("filter", "--db", loaded, "--actor", "x' OR 1=1 --", "-f", "jsonl")
    assert result.exit_code == 0
    assert result.stdout == ""


def test_machine_output_carries_every_canonical_column_in_utc(run: Run, loaded: Path) -> None:
    row = lines(run("filter", "--db", loaded, "--limit", "1", "-f", "jsonl"))[0]
    assert list(row) == [
        "event_id",
        "ts",
        "actor",
        "actor_type",
        "action",
        "resource",
        "resource_type",
        "outcome",
        "source_ip",
        "user_agent",
        "request_id",
        "session_id",
        "error",
        "extra",
        "source_format",
        "source_file",
        "source_line",
        "file_sha256",
        "raw",
        "chain",
    ]
    assert row["ts"] == "2026-03-12T10:00:00Z"
    assert orjson.loads(str(row["raw"]))["id"] == "e1"


def test_fields_sort_and_limit_shape_the_output(run: Run, loaded: Path) -> None:
    result = run(
        "filter",
        "--db",
        loaded,
        "--fields",
        "event_id,actor",
        "--sort",
        "-ts",
        "--limit",
        "2",
        "-f",
        "jsonl",
    )
    assert lines(result) == [
        {"event_id": "e3", "actor": "alice"},
        {"event_id": "e2", "actor": "bob"},
    ]


def test_json_csv_and_parquet_outputs(run: Run, loaded: Path, tmp_path: Path) -> None:
    as_json = run("filter", "--db", loaded, "--fields", "event_id", "-f", "json")
    assert orjson.loads(as_json.stdout) == [
        {"event_id": "e1"},
        {"event_id": "e2"},
        {"event_id": "e3"},
    ]
    as_csv = run("filter", "--db", loaded, "--fields", "event_id,ts", "-f", "csv")
    assert as_csv.stdout == (
        "event_id,ts\ne1,2026-03-12T10:00:00Z\ne2,2026-03-12T11:00:00Z\ne3,2026-03-12T12:00:00Z\n"
    )
    target = tmp_path / "out.parquet"
    written = run("filter", "--db", loaded, "-o", target)
    assert written.exit_code == 0 and written.stdout == ""
    assert pq.read_table(target).column("event_id").to_pylist() == ["e1", "e2", "e3"]


def test_zero_matches_exit_0_with_empty_output(run: Run, loaded: Path) -> None:
    assert run("filter", "--db", loaded, "--actor", "nobody", "-f", "json").stdout == "[]\n"
    empty_csv = run("filter", "--db", loaded, "--actor", "nobody", "-f", "csv", "--fields", "actor")
    assert (empty_csv.exit_code, empty_csv.stdout) == (0, "actor\n")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_once_a_load_has_committed_reports_it_kept(
    run: Run, write_log: WriteLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the database checkpoints it, which takes a while after a big load: a
    Ctrl-C there said "interrupted" (exit 130) of a load that was kept."""
    import signal

    from auditcli.store import Store

    close = Store.close

    def interrupted_close(store: Store) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        close(store)

    monkeypatch.setattr(Store, "close", interrupted_close)
    db = tmp_path / "case.duckdb"
    result = run("load", write_log("a.jsonl", [event(id="e1")]), "--db", db)
    assert result.exit_code == 0, result.stderr
    assert "loaded 1 file(s), 1 events" in result.stderr
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_output_never_overwrites_the_case_or_the_evidence_it_reads(
    run: Run, loaded: Path, tmp_path: Path
) -> None:
    """Opening such a file for writing would empty it: the case, or the log itself."""
    source = tmp_path / "a.jsonl"
    before = source.read_bytes()
    other = tmp_path / "other.duckdb"
    assert run("load", source, "--db", other).exit_code == 0
    for target, args in [
        (loaded, ("--db", loaded)),
        (Path(f"{loaded}.raw"), ("--db", loaded)),
        (source, ("--db", loaded)),  # a file the case was loaded from
        (source, (source,)),  # the file this run reads
        (other, ("--db", loaded)),  # another case's database
        (Path(f"{other}.raw"), (source,)),
    ]:
        kept = target.read_bytes()
        result = run("filter", *args, "-o", target)
        assert result.exit_code == 2, (target, args)
        assert "not overwritten" in result.stderr
        if target != loaded:  # which records the refused run in its access log
            assert target.read_bytes() == kept
    sealed = tmp_path / "sealed.jsonl"
    assert run("seal", source, "-o", sealed).exit_code == 0
    chained = sealed.read_bytes()
    at = ("--at", "2026-03-12T10:00:00Z")
    assert run("timeline", source, *at, "-o", source).exit_code == 2
    assert run("timeline", "--db", loaded, *at, "-f", "csv", "-o", source).exit_code == 2
    assert run("verify", sealed, "-o", sealed).exit_code == 2
    assert source.read_bytes() == before and sealed.read_bytes() == chained
    assert run("filter", "--db", loaded, "--fields", "actor", "-f", "csv").stdout.count("\n") == 4
    assert run("filter", "--db", loaded, "-o", tmp_path / "out.csv").exit_code == 0
    # a loaded log is known by its bytes, wherever it is now and whatever it is called
    moved = tmp_path / "elsewhere" / "renamed.jsonl"
    moved.parent.mkdir()
    moved.write_bytes(before)
    assert run("filter", "--db", loaded, "-o", moved).exit_code == 2
    assert run("filter", source, moved, "-o", moved).exit_code == 2  # skipped, same bytes
    assert moved.read_bytes() == before
    unrelated = tmp_path / "elsewhere" / "a.jsonl"  # the loaded file's name, other bytes
    unrelated.write_bytes(b"notes\n")
    assert run("filter", "--db", loaded, "-o", unrelated).exit_code == 0


def test_table_shows_at_most_100_rows_and_says_so(
    run: Run, write_log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    path = write_log("many.jsonl", [event(id=f"e{i:03d}") for i in range(150)])
    result = run("filter", path, "-f", "table")
    assert result.exit_code == 0
    assert "showing 100 of 150 matched events" in result.stdout
    assert result.stdout.count("alice@corp.example") == 100


def test_default_format_is_jsonl_when_piped_and_env_can_choose(
    run: Run, loaded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lines(run("filter", "--db", loaded, "--limit", "1"))[0]["event_id"] == "e1"
    monkeypatch.setenv("AUDITCLI_FORMAT", "csv")
    assert (
        run("filter", "--db", loaded, "--fields", "actor", "--limit", "1").stdout
        == "actor\nalice\n"
    )
    monkeypatch.setenv("AUDITCLI_DB", str(loaded))
    assert run("filter", "--fields", "actor", "--limit", "1").stdout == "actor\nalice\n"


def test_resolve_format_truth_table() -> None:
    assert resolve_format(OutputFormat.CSV, "json", True) is OutputFormat.CSV
    assert resolve_format(None, "json", True) is OutputFormat.JSON
    assert resolve_format(None, None, True) is OutputFormat.TABLE
    assert resolve_format(None, None, False) is OutputFormat.JSONL
    # --output's suffix comes before AUDITCLI_FORMAT, which only changes the default
    assert resolve_format(None, "table", False, Path("x.parquet")) is OutputFormat.PARQUET
    assert resolve_format(None, "csv", True, Path("x.log")) is OutputFormat.CSV
    assert resolve_format(None, None, True, Path("x.log")) is OutputFormat.JSONL


def test_filter_reads_stdin(run: Run) -> None:
    result = run("filter", "-", "--fields", "event_id", "-f", "jsonl", input=jsonl([event(id="s")]))
    assert lines(result) == [{"event_id": "s"}]


def test_sources_lists_each_loaded_file(run: Run, loaded: Path) -> None:
    rows = lines(run("sources", "--db", loaded, "-f", "jsonl"))
    assert [(Path(str(r["source_file"])).name, r["events"], r["rejects"]) for r in rows] == [
        ("a.jsonl", 3, 0)
    ]


def test_an_unexpected_exception_is_exit_4_in_one_line(
    run: Run, loaded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import auditcli.cli.data as data

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(data, "emit", explode)
    result = run("filter", "--db", loaded)
    assert result.exit_code == 4
    assert result.stderr == (
        "auditcli: error: internal error: RuntimeError: kaboom\n"
        "auditcli: hint: rerun with --debug for a traceback\n"
    )
    with pytest.raises(RuntimeError, match="kaboom"):
        run("filter", "--db", loaded, "--debug")


def test_the_sample_incident_is_findable(run: Run) -> None:
    attacker = lines(
        run(
            "filter",
            SAMPLE_LOGS,
            "--ip",
            "203.0.113.7",
            "--fields",
            "actor,action,outcome",
            "-f",
            "jsonl",
        )
    )
    assert len(attacker) == 422
    assert {"actor": "svc-deploy", "action": "iam.role.grant", "outcome": "success"} in attacker
    grants = lines(
        run(
            "filter",
            SAMPLE_LOGS,
            "--action",
            "iam.role.grant",
            "--actor",
            "svc-deploy",
            "--fields",
            "resource,outcome",
            "-f",
            "jsonl",
        )
    )
    assert {"resource": "role/admin", "outcome": "success"} in grants


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "auditcli", *args]


def test_a_real_process_streams_into_head_and_exits_cleanly(tmp_path: Path) -> None:
    auditcli = subprocess.Popen(
        _cli("filter", str(SAMPLE_LOGS), "--format", "jsonl"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert auditcli.stdout is not None
    first = auditcli.stdout.readline()
    auditcli.stdout.close()
    _, stderr = auditcli.communicate(timeout=60)
    assert orjson.loads(first)["source_format"] == "generic-json"
    assert auditcli.returncode == 0
    assert b"Traceback" not in stderr


def test_names_and_values_that_are_not_utf8_load_filter_and_show(tmp_path: Path) -> None:
    """A file name or a --actor with bytes that are not UTF-8 (a lone surrogate to
    Python) made DuckDB refuse the whole command."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [b'{"ts": "2026-03-12T09:00:00Z", "actor": "ab\x9bc"}']
    lines += [b'{"ts": "2026-03-12T09:00:0%dZ", "actor": "x%d"}' % (i, i) for i in range(5)]
    (logs / b"caf\xe9.jsonl".decode("utf-8", "surrogateescape")).write_bytes(
        b"\n".join(lines) + b"\n"
    )
    db = tmp_path / "case.duckdb"
    loaded = subprocess.run(_cli("load", str(logs), "--db", str(db)), capture_output=True)
    assert loaded.returncode == 0, loaded.stderr
    for source in (("--db", str(db)), (str(logs),)):
        done = subprocess.run(
            [*_cli("filter", *source, "--format", "jsonl"), b"--actor", b"ab\x9bc"],
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        [row] = [orjson.loads(line) for line in done.stdout.splitlines()]
        assert row["actor"] == "ab\ufffdc"
        assert row["source_file"].endswith("caf\\xe9.jsonl")


_STDIN_CLOSED = "<stdin>: cannot read: standard input is closed"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file descriptors")
@pytest.mark.parametrize(
    ("closed", "args", "message"),
    [
        (0, ("load", "-", "--db", "x.duckdb"), _STDIN_CLOSED),
        (0, ("filter", "-"), _STDIN_CLOSED),
        (0, ("verify", "-"), _STDIN_CLOSED),
        (
            1,
            ("filter", str(SAMPLE_LOGS / "identity.jsonl")),
            "cannot write standard output: it is closed",
        ),
    ],
)
def test_a_closed_stdin_or_stdout_is_one_line_and_exit_3(
    tmp_path: Path, closed: int, args: tuple[str, ...], message: str
) -> None:
    done = subprocess.run(
        _cli(*args),
        stdout=subprocess.PIPE if closed != 1 else None,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=lambda: os.close(closed),  # in the child, before exec
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr == f"auditcli: error: {message}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("filter", "--bogus"), "No such option: --bogus"),
        (("filter", "-f", "xml"), "Invalid value for '--format' / '-f': 'xml' is not one of"),
        (("filter", "--limit", "-1"), "Invalid value for '--limit': -1 is not in the range"),
        (("load",), "Missing argument"),
        (("nosuch",), "No such command 'nosuch'."),
        (("filter", "--actor\u202e"), "No such option: --actor\\u202e"),
    ],
)
def test_a_usage_error_typer_finds_is_one_line_too(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """typer printed its usage block, a hint and the error: four lines, not the
    README's one (and echoed a bidi override as typed)."""
    done = subprocess.run(_cli(*args), capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 2
    first, hint = done.stderr.splitlines()
    assert first.startswith(f"auditcli: error: {message}"), first
    assert hint.startswith("auditcli: hint: see `auditcli") and hint.endswith(" --help`")


def test_help_and_no_arguments_still_show_the_help(tmp_path: Path) -> None:
    helped = subprocess.run(_cli("filter", "--help"), capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "--actor" in helped.stdout
    bare = subprocess.run(_cli(), capture_output=True, text=True, cwd=tmp_path, check=False)
    assert bare.returncode == 2 and "filter" in bare.stdout + bare.stderr


def _file_size_limit(limit: int) -> Callable[[], None]:
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "markdown", "table"])
@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_output_cut_short_by_a_full_disk_is_exit_3_and_one_line(
    tmp_path: Path, fmt: str, unbuffered: str
) -> None:
    """Under PYTHONUNBUFFERED the file took part of a write and said so only by its
    count: exit 0 with the output cut short. A json array left bytes in stdout's buffer
    that the interpreter's last flush failed on again: exit 120 and its own message."""
    out = tmp_path / "out"
    with open(out, "wb") as target:
        done = subprocess.run(
            _cli("filter", str(SAMPLE_LOGS), "-f", fmt, "--limit", "5000"),
            stdout=target,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": unbuffered},
            preexec_fn=_file_size_limit(20_000),
            check=False,
        )
    assert done.returncode == 3, done.stderr
    assert done.stderr == "auditcli: error: cannot write standard output: File too large\n"


def test_events_tied_on_time_and_id_come_out_in_file_order(run: Run, write_log: WriteLog) -> None:
    tied = [event(id="dup", timestamp="2026-03-12T14:00:00Z", actor=f"u{i}") for i in range(50)]
    path = write_log("tied.jsonl", tied)
    for sort in ("ts", "-ts", "actor,ts"):
        result = run("filter", path, "--sort", sort, "--fields", "actor", "-f", "csv")
        expected = sorted(e["actor"] for e in tied) if sort.startswith("actor") else None
        got = result.stdout.splitlines()[1:]
        assert got == (expected or [f"u{i}" for i in range(50)])
    doubled = run("filter", path, "--fields", "ts,actor,ts", "-f", "csv", "--limit", "1")
    assert doubled.stdout.splitlines() == ["ts,actor", "2026-03-12T14:00:00Z,u0"]


@pytest.mark.parametrize("command", ["filter", "timeline", "rejects", "access-log"])
def test_a_limit_past_what_a_query_takes_is_a_usage_error(run: Run, command: str) -> None:
    result = run(command, "--limit", str(2**64))
    assert result.exit_code == 2
    assert "not in the range 0<=x<=9223372036854775807" in result.stderr


@pytest.mark.parametrize("command", ["timeline", "filter"])
def test_a_table_into_a_reader_that_goes_away_exits_0(tmp_path: Path, command: str) -> None:
    """rich ends the process with exit 1 on a broken pipe unless told otherwise."""
    args = ("--at", "2026-03-12T14:04Z", "--window", "2h") if command == "timeline" else ()
    auditcli = subprocess.Popen(
        _cli(command, str(SAMPLE_LOGS), *args, "--format", "table", "--limit", "5000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert auditcli.stdout is not None
    auditcli.stdout.readline()
    auditcli.stdout.close()
    _, stderr = auditcli.communicate(timeout=60)
    assert (auditcli.returncode, stderr) == (0, b"")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", ["jsonl", "table", "csv", "json"])
@pytest.mark.parametrize("to", ["stdout", "--output"])
def test_a_full_disk_is_one_line_and_exit_3(tmp_path: Path, fmt: str, to: str) -> None:
    args = ("filter", str(SAMPLE_LOGS), "--format", fmt)
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            _cli(*args, *(("--output", "/dev/full") if to == "--output" else ())),
            stdout=full if to == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            check=False,
        )
    where = "standard output" if to == "stdout" else "/dev/full"
    assert done.returncode == 3
    assert done.stderr == f"auditcli: error: cannot write {where}: No space left on device\n"


def test_a_real_process_ends_with_its_output_written_and_its_database_closed(
    tmp_path: Path,
) -> None:
    """``main`` ends the process without tearing the interpreter down: everything it
    wrote must be there, the database checkpointed and each exit code kept."""
    db = tmp_path / "case.duckdb"
    loaded = subprocess.run(
        _cli("load", "--db", str(db), str(SAMPLE_LOGS)), capture_output=True, check=False
    )
    assert loaded.returncode == 0, loaded.stderr
    out = tmp_path / "rows.jsonl"
    query = ("filter", "--db", str(db), "--actor", "svc-deploy", "-f", "jsonl")
    to_file = subprocess.run(_cli(*query, "--output", str(out)), capture_output=True, check=False)
    to_pipe = subprocess.run(_cli(*query), capture_output=True, check=False)
    assert to_file.returncode == to_pipe.returncode == 0
    assert out.read_bytes() == to_pipe.stdout and to_pipe.stdout.count(b"\n") > 2
    assert not Path(f"{db}.wal").exists()
    reopened = Store.open(db, read_only=True)
    try:
        assert reopened.scalar("SELECT count(*) FROM access_log WHERE command = 'filter'") == 2
    finally:
        reopened.close()
    usage = subprocess.run(_cli(*query, "--sort", "raw"), capture_output=True, check=False)
    assert usage.returncode == 2 and usage.stdout == b""
    assert usage.stderr.count(b"\n") <= 2 and b"raw" in usage.stderr


def test_the_process_ends_normally_while_something_may_still_need_the_interpreter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import auditcli.cli as cli

    ended: list[object] = []
    threads = [1]
    monkeypatch.setattr(cli.os, "_exit", ended.append)
    monkeypatch.setattr(cli, "_threads_of_ours", lambda: threads[0])
    monkeypatch.delitem(sys.modules, "multiprocessing", raising=False)
    cli._end_now("a message for stderr")
    threads[0] = 2  # a helper thread still runs
    cli._end_now(0)
    threads[0] = 1
    monkeypatch.setitem(sys.modules, "multiprocessing", sys)  # a pool was started
    cli._end_now(0)
    assert ended == []
    cli._end_now(130)  # but after Ctrl-C, even so: a helper may wait on an idle pipe
    monkeypatch.delitem(sys.modules, "multiprocessing")
    cli._end_now(3)
    cli._end_now(None)
    assert ended == [130, 3, 0]


@pytest.mark.parametrize("first", ["a batch and more", "a few lines", "a file"])
def test_ctrl_c_during_a_load_stops_it_at_once_and_keeps_nothing(
    tmp_path: Path, first: str
) -> None:
    """The mapping query runs while the input is still being read; Ctrl-C must end it
    (exit 130) and roll it back while stdin, the first source or a later one, waits
    on an idle pipe."""
    import signal
    import time

    db = tmp_path / "case.duckdb"
    sources = ["-"]
    if first == "a batch and more":  # the stream is mapping when the input stops
        data = jsonl([event(id=f"e{i}", note="x" * 2000) for i in range(9000)])
        assert len(data) > 17 << 20  # past one 16 MiB read
    elif first == "a few lines":  # not yet a batch: the first wait is on this thread
        data = jsonl([event(id=f"e{i}") for i in range(10)])
    else:  # a file mapped first, then stdin opened on one of DuckDB's threads
        small = tmp_path / "first.jsonl"
        small.write_bytes(jsonl([event(id=f"f{i}") for i in range(100)]))
        sources = [str(small), "-"]
        data = b""
    auditcli = subprocess.Popen(
        _cli("load", "--db", str(db), *sources),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        # as from a terminal, even where this runs as a background job (SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert auditcli.stdin is not None and auditcli.stderr is not None
    auditcli.stdin.write(data)
    auditcli.stdin.flush()
    time.sleep(2 if data else 1.5)  # reading, mapping; then the pipe stays idle
    auditcli.send_signal(signal.SIGINT)
    started = time.monotonic()
    try:
        returncode = auditcli.wait(timeout=20)
    finally:
        auditcli.kill()
        auditcli.stdin.close()
    assert returncode == 130 and time.monotonic() - started < 5
    stderr = auditcli.stderr.read()
    assert b"interrupted" in stderr and b"Traceback" not in stderr
    store = Store.open(db, read_only=True)
    try:
        assert store.scalar("SELECT count(*) FROM event_rows") == 0
        assert store.scalar("SELECT count(*) FROM sources") == 0
    finally:
        store.close()


def test_ctrl_c_while_duckdb_runs_a_query_exits_130_not_as_an_internal_error(
    tmp_path: Path,
) -> None:
    """DuckDB takes a Ctrl-C that lands inside a query and raises its own RuntimeError:
    a command must still end as interrupted (130), with no traceback."""
    import signal
    import time

    # filter's query made endless, with a word on stderr once it runs
    script = (
        "import sys\n"
        "import auditcli.store as store\n"
        "def endless(self, *args, **kwargs):\n"
        "    sys.stderr.write('querying\\n'); sys.stderr.flush()\n"
        "    self.connection.execute('SET threads = 1')  # run on this thread, which polls\n"
        "    self.connection.execute('SELECT count(*) FROM range(1000000000000) t(i) '\n"
        "                            'WHERE i % 7 = 3').fetchall()\n"
        "store.Store.arrow_reader = endless\n"
        "from auditcli.cli import main\n"
        "main()\n"
    )
    auditcli = subprocess.Popen(
        [sys.executable, "-c", script, "filter", str(SAMPLE_LOGS), "--format", "jsonl"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert auditcli.stderr is not None
    try:
        assert auditcli.stderr.readline() == b"querying\n"
        time.sleep(0.3)
        auditcli.send_signal(signal.SIGINT)
        returncode = auditcli.wait(timeout=20)
    finally:
        auditcli.kill()
    stderr = auditcli.stderr.read()
    assert returncode == 130, stderr
    assert b"interrupted" in stderr and b"internal error" not in stderr
    assert b"Traceback" not in stderr


def test_an_interruption_is_ctrl_c_taken_by_python_or_by_duckdb() -> None:
    from auditcli.cli.safety import _exit_code
    from auditcli.errors import is_interruption

    for error in (KeyboardInterrupt(), RuntimeError("Query interrupted")):
        assert is_interruption(error) and _exit_code(error) == 130
    for error in (RuntimeError("Query failed"), ValueError("Query interrupted")):
        assert not is_interruption(error) and _exit_code(error) == 4


def test_help_lists_commands_and_exit_codes() -> None:
    done = subprocess.run(_cli("--help"), capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0
    for name in ("load", "filter", "sources", "rejects", "Exit codes: 0 ok; 1 found a problem"):
        assert name in done.stdout


def test_the_core_imports_neither_typer_nor_rich() -> None:
    code = (
        "import sys, auditcli.load, auditcli.query, auditcli.store, auditcli.timeutil, "
        "auditcli.ingest, auditcli.privacy.text\n"
        "bad = [m for m in ('typer', 'rich') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _huge_page_mappings(first_import: str) -> int:
    """How many mappings ask for huge pages once Arrow's pool has handed out 64 MB."""
    code = (
        f"{first_import}\n"
        "import pyarrow as pa\n"
        "kept = pa.allocate_buffer(64 << 20)\n"
        "flags = [l for l in open('/proc/self/smaps') if l.startswith('VmFlags:')]\n"
        "print(pa.default_memory_pool().backend_name, sum(' hg' in l for l in flags))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIMALLOC_", "ARROW_"))}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True
    )
    backend, count = done.stdout.split()
    if backend != "mimalloc":
        pytest.skip(f"Arrow's pool here is {backend}")
    return int(count)


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux only")
def test_arrows_pool_asks_for_no_huge_pages_once_auditcli_is_imported() -> None:
    if _huge_page_mappings("pass") == 0:
        pytest.skip("Arrow's pool asks for no huge pages on this machine anyway")
    assert _huge_page_mappings("import auditcli") == 0


def test_table_rows_show_hostile_text_escaped(run: Run, write_log: WriteLog) -> None:
    path = write_log("evil.jsonl", [event(actor="\x1b]0;pwned\x07[bold red]eve\u202e")])
    result = run("filter", path, "-f", "table", "--fields", "actor")
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "\\e]0;pwned\\x07[bold red]eve\\u202e" in result.stdout


def test_a_command_parses_helps_and_fails_alike_in_the_one_command_app() -> None:
    """``main`` builds only the named command; what it prints must not change."""
    from auditcli.cli import app_for

    runner = CliRunner()
    names = [info.name for info in app.registered_commands]
    assert len(names) > 5
    for name in names:
        assert name is not None
        single = app_for([name])
        assert single is not app
        assert [info.name for info in single.registered_commands] == [name]
        for args in ([name, "--help"], [name, "--no-such-option"]):
            whole, alone = runner.invoke(app, args), runner.invoke(single, args)
            assert (alone.exit_code, alone.stdout, alone.stderr) == (
                whole.exit_code,
                whole.stdout,
                whole.stderr,
            )
    assert app_for(["--help"]) is app
    assert app_for(["no-such-command"]) is app


def test_a_thread_python_did_not_start_does_not_keep_the_fast_exit_away() -> None:
    """DuckDB's worker calls back into Python when it pulls a load's batches: Python
    then lists a stand-in for it for good, which must not count as a running helper."""
    code = (
        "import _thread, threading, time\n"
        "from auditcli.cli import _threads_of_ours\n"
        "done = []\n"
        "_thread.start_new_thread(lambda: done.append(threading.current_thread()), ())\n"
        "while not done: time.sleep(0.01)\n"
        "time.sleep(0.05)\n"
        "print(threading.active_count(), _threads_of_ours())\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert ran.stdout.split() == ["2", "1"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX names")
def test_odd_database_and_input_names_are_one_line_and_exit_3(
    run: Run, loaded: Path, tmp_path: Path
) -> None:
    """Each was an internal error (exit 4): a name too long, one DuckDB cannot take,
    a .raw that is a directory, a database cut short."""
    long_db, long_log = tmp_path / ("x" * 300 + ".duckdb"), tmp_path / ("z" * 300 + ".jsonl")
    odd = tmp_path / b"x\xff.duckdb".decode("utf-8", "surrogateescape")
    source = tmp_path / "a.jsonl"
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(loaded.read_bytes()[:100_000])
    Path(f"{cut}.raw").write_bytes(Path(f"{loaded}.raw").read_bytes())
    shelf = tmp_path / "shelf.duckdb"
    shelf.write_bytes(loaded.read_bytes())
    Path(f"{shelf}.raw").mkdir()
    for args, said in [
        (("load", source, "--db", long_db), "File name too long"),
        (("filter", "--db", long_db), "File name too long"),
        (("load", long_log, "--db", tmp_path / "ok.duckdb"), "File name too long"),
        (("load", source, "--db", odd), "DuckDB takes only names that are UTF-8"),
        (("filter", "--db", shelf, "--fields", "raw"), "cannot read"),
        (("sources", "--db", cut), "cannot"),
    ]:
        result = run(*args)
        assert result.exit_code == 3, (args, result.stderr)
        assert said in result.stderr and "not an auditcli database" not in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_a_database_named_through_a_link_keeps_its_texts_beside_the_file(
    run: Run, loaded: Path, tmp_path: Path
) -> None:
    real, link = tmp_path / "real.duckdb", tmp_path / "link.duckdb"
    link.symlink_to(real)
    assert run("load", tmp_path / "a.jsonl", "--db", link).exit_code == 0
    assert Path(f"{real}.raw").exists() and not Path(f"{link}.raw").exists()
    for db in (real, link):
        result = run("filter", "--db", db, "--fields", "raw", "-f", "jsonl")
        assert result.exit_code == 0, result.stderr
        assert len(lines(result)) == 3


@pytest.mark.parametrize(
    ("fmt", "header"), [("markdown", "| ts (Asia/Tokyo) |"), ("html", "<th>ts (Asia/Tokyo)</th>")]
)
def test_documents_name_the_zone_their_times_are_in(
    run: Run, loaded: Path, fmt: str, header: str
) -> None:
    """They showed Tokyo's local time under a bare ts."""
    result = run("filter", "--db", loaded, "--fields", "ts", "--tz", "Asia/Tokyo", "-f", fmt)
    assert result.exit_code == 0, result.stderr
    assert header in result.stdout
    assert "2026-03-12 19:00:00" in result.stdout  # 10:00 UTC


def test_a_database_in_a_directory_it_cannot_write_is_refused_before_any_output(
    run: Run, loaded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB writes the run's access-log row through a WAL beside the file: the
    output came out whole, then the commit failed (exit 3)."""
    import auditcli.store

    real_access = os.access

    def access(path: object, mode: int) -> bool:
        return mode != os.W_OK and real_access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(auditcli.store.os, "access", access)
    result = run("filter", "--db", loaded, "-f", "jsonl")
    assert (result.exit_code, result.stdout) == (3, "")
    assert "its directory is not writable" in result.stderr


def test_a_rejects_table_shows_at_most_100_rows_and_says_of_how_many(
    run: Run, write_log: WriteLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    db = tmp_path / "case.duckdb"
    bad = write_log("bad.jsonl", b"".join(b"not json %d\n" % i for i in range(150)))
    assert run("load", bad, "--db", db).exit_code == 0
    table = run("rejects", "--db", db, "-f", "table")
    assert "showing 100 of 150 matched rejects" in table.stdout
    assert table.stdout.count("not JSON") == 100
    three = run("rejects", "--db", db, "--limit", "3", "-f", "table")
    assert "showing 3 of 150 matched rejects" in three.stdout
    assert len(lines(run("rejects", "--db", db, "-f", "jsonl"))) == 150
