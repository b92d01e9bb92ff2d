"""verify, seal and keygen through the CLI, and chain checks of loaded sources."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from typer.testing import Result

from auditcli.ingest.sources import expand
from auditcli.store import Store
from tests.conftest import SAMPLE_LOGS, event, jsonl

Run = Callable[..., Result]
WriteLog = Callable[..., Path]


@pytest.fixture
def sealed(run: Run, write_log: WriteLog, tmp_path: Path) -> Path:
    """Twenty events, sealed with auditcli-chain/1."""
    plain = write_log(
        "plain.jsonl",
        [
            event(id=f"e{i}", timestamp=f"2026-03-12T14:{i:02d}:00Z", actor=f"user{i % 3}")
            for i in range(20)
        ],
    )
    out = tmp_path / "sealed.jsonl"
    result = run("seal", plain, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "sealed 20 events into" in result.stderr
    return out


def report(result: Result) -> dict[str, object]:
    parsed: dict[str, object] = orjson.loads(result.stdout)
    return parsed


def kinds(result: Result) -> list[tuple[str, int]]:
    findings = report(result)["findings"]
    assert isinstance(findings, list)
    return [(f["kind"], f["line"]) for f in findings]


def test_an_intact_seal_verifies_with_exit_0(run: Run, sealed: Path) -> None:
    result = run("verify", sealed, "-f", "json")
    assert result.exit_code == 0
    body = report(result)
    assert (body["intact"], body["events"], body["findings"]) == (True, 20, [])
    assert any("unanchored" in note for note in body["notes"])  # type: ignore[attr-defined]
    assert result.stderr == "auditcli: chain intact: 20 events checked\n"


def test_a_modified_event_is_reported_at_its_line_with_exit_1(run: Run, sealed: Path) -> None:
    lines = sealed.read_text().splitlines()
    lines[6] = lines[6].replace("db.query", "db.drop")
    sealed.write_text("\n".join(lines) + "\n")
    result = run("verify", sealed, "-f", "json")
    assert result.exit_code == 1
    assert kinds(result) == [("modified", 7)]
    assert "chain defects found" in result.stderr


def test_every_defect_is_reported_not_only_the_first(run: Run, sealed: Path) -> None:
    lines = sealed.read_text().splitlines()
    lines[2] = lines[2].replace("user2", "mallory")
    del lines[10]
    lines[15], lines[16] = lines[16], lines[15]
    sealed.write_text("\n".join(lines) + "\n")
    result = run("verify", sealed, "-f", "json")
    assert result.exit_code == 1
    assert [k for k, _ in kinds(result)] == ["modified", "deleted", "reordered"]


def test_truncation_is_caught_by_anchors(run: Run, sealed: Path) -> None:
    full = sealed.read_text().splitlines()
    head = orjson.loads(full[-1])["hash"]
    sealed.write_text("\n".join(full[:-3]) + "\n")
    by_count = run("verify", sealed, "--expect-count", "20", "-f", "json")
    assert (by_count.exit_code, [k for k, _ in kinds(by_count)]) == (1, ["truncated"])
    by_head = run("verify", sealed, "--expect-head", head, "-f", "json")
    # The head alone cannot tell a cut tail from a rewrite: it is not in the file.
    assert (by_head.exit_code, [k for k, _ in kinds(by_head)]) == (1, ["head_mismatch"])


def test_signed_checkpoints_catch_truncation_and_bad_signatures(
    run: Run, write_log: WriteLog, tmp_path: Path
) -> None:
    assert run("keygen", tmp_path / "k.pem", tmp_path / "k.pub").exit_code == 0
    assert run("keygen", tmp_path / "other.pem", tmp_path / "other.pub").exit_code == 0
    plain = write_log("p.jsonl", [event(id=f"e{i}") for i in range(10)])
    out = tmp_path / "s.jsonl.gz"
    sealed = run("seal", plain, "-o", out, "--checkpoint", "--sign-key", tmp_path / "k.pem")
    assert sealed.exit_code == 0, sealed.stderr
    note = Path(f"{out}.checkpoint")
    good = run("verify", out, "--checkpoint", note, "--pubkey", tmp_path / "k.pub", "-f", "json")
    assert good.exit_code == 0, good.stdout
    wrong = run(
        "verify", out, "--checkpoint", note, "--pubkey", tmp_path / "other.pub", "-f", "json"
    )
    assert (wrong.exit_code, kinds(wrong)[0][0]) == (1, "bad_signature")
    lines = gzip.decompress(out.read_bytes()).splitlines()[:-2]
    short = tmp_path / "short.jsonl"
    short.write_bytes(b"\n".join(lines) + b"\n")
    cut = run("verify", short, "--checkpoint", note, "--pubkey", tmp_path / "k.pub", "-f", "json")
    assert (cut.exit_code, [k for k, _ in kinds(cut)]) == (1, ["truncated"])


def test_a_bad_checkpoint_name_is_refused_before_anything_is_written(
    run: Run, write_log: WriteLog, tmp_path: Path
) -> None:
    assert run("keygen", tmp_path / "k.pem", tmp_path / "k.pub").exit_code == 0
    plain = write_log("p.jsonl", [event(id="e1")])
    out = tmp_path / "s.jsonl"
    args = ("--checkpoint", "--sign-key", tmp_path / "k.pem", "--name", "a b")
    result = run("seal", plain, "-o", out, *args)
    assert result.exit_code == 2
    assert "key name 'a b' must be" in result.stderr
    assert not out.exists() and "sealed" not in result.stderr


def test_seal_writes_through_a_symlink_and_keeps_the_files_mode(
    run: Run, write_log: WriteLog, tmp_path: Path
) -> None:
    plain = write_log("p.jsonl", [event(id=f"e{i}") for i in range(3)])
    target = tmp_path / "target.jsonl"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.jsonl"
    link.symlink_to(target.name)
    assert run("seal", plain, "-o", link).exit_code == 0
    assert link.is_symlink() and link.resolve() == target
    assert len(target.read_bytes().splitlines()) == 3
    assert target.stat().st_mode & 0o777 == 0o640
    assert run("verify", link).exit_code == 0


def test_seal_writes_into_a_pipe_and_reads_from_one(
    run: Run, write_log: WriteLog, tmp_path: Path
) -> None:
    """A FIFO at -o is written into, not replaced; one given as input is read (<(...))."""
    import threading

    plain = write_log("p.jsonl", [event(id=f"e{i}") for i in range(3)])
    into, out_of = tmp_path / "into.fifo", tmp_path / "out_of.fifo"
    os.mkfifo(into)
    os.mkfifo(out_of)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(into.read_bytes()), daemon=True)
    writer = threading.Thread(target=lambda: out_of.write_bytes(plain.read_bytes()), daemon=True)
    reader.start()
    writer.start()
    result = run("seal", out_of, "-o", into)
    reader.join(10)
    writer.join(10)
    assert result.exit_code == 0, result.stderr
    assert into.is_fifo()
    assert [orjson.loads(line)["seq"] for line in received[0].splitlines()] == [1, 2, 3]


@pytest.mark.skipif(not Path("/dev/stdout").exists(), reason="needs /dev/stdout")
def test_seal_writes_to_dev_stdout_when_it_is_a_pipe(write_log: WriteLog) -> None:
    """/dev/stdout resolves to a pipe's name, not a path: seal made a temporary file
    beside that name, and failed (exit 3)."""
    plain = write_log("p.jsonl", [event(id=f"e{i}") for i in range(3)])
    done = subprocess.run(
        [sys.executable, "-m", "auditcli", "seal", str(plain), "-o", "/dev/stdout"],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [orjson.loads(line)["seq"] for line in done.stdout.splitlines()] == [1, 2, 3]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX FIFOs")
def test_verify_reads_a_pipe_given_as_a_path(run: Run, sealed: Path, tmp_path: Path) -> None:
    """verify <(...) was refused as not a regular file, though seal reads one."""
    import threading

    pipe = tmp_path / "sealed.fifo"
    os.mkfifo(pipe)
    writer = threading.Thread(target=lambda: pipe.write_bytes(sealed.read_bytes()), daemon=True)
    writer.start()
    result = run("verify", pipe, "-f", "json")
    writer.join(10)
    assert result.exit_code == 0, result.stderr
    assert (report(result)["intact"], report(result)["events"]) == (True, 20)


def _fed(pipe: Path, data: bytes) -> threading.Thread:
    """A thread writing ``data`` into the FIFO ``pipe`` (made here), as a shell's ``<(...)``."""
    os.mkfifo(pipe)
    writer = threading.Thread(target=lambda: pipe.write_bytes(data), daemon=True)
    writer.start()
    return writer


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX FIFOs")
def test_load_and_filter_read_a_pipe_given_as_a_path(
    run: Run, sealed: Path, tmp_path: Path
) -> None:
    """load and filter refused <(...) as not a regular file. A pipe is read once, so
    its chain is checked from the texts stored as they were read."""
    lines = sealed.read_bytes().splitlines(keepends=True)
    cut = b"".join(lines[:2] + lines[3:])  # line 3 deleted: what was line 4 is now line 3
    db = tmp_path / "case.duckdb"
    writer = _fed(tmp_path / "cut.fifo", cut)
    result = run("load", tmp_path / "cut.fifo", "--db", db)
    writer.join(10)
    assert result.exit_code == 0, result.stderr
    result = run("filter", "--db", db, "--fields", "source_file,source_line,chain", "-f", "jsonl")
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert {row["source_file"] for row in rows} == {str(tmp_path / "cut.fifo")}
    assert [row["source_line"] for row in rows if row["chain"] != "ok"] == [3]
    assert len(rows) == 19

    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "dir" / "idle.jsonl")  # no writer: in a directory, passed over
    (tmp_path / "dir" / "a.jsonl").write_bytes(sealed.read_bytes())
    assert [ref.path for ref in expand([str(tmp_path / "dir")])] == [tmp_path / "dir" / "a.jsonl"]
    idle = str(tmp_path / "dir" / "idle.jsonl")  # named twice, read once: no second wait
    assert [ref.name for ref in expand([idle, idle])] == [idle]
    if Path("/dev/zero").exists():  # a device is no log to read to its end
        assert run("load", "/dev/zero", "--db", db).exit_code == 3
        assert run("verify", "/dev/zero").exit_code == 3

    writer = _fed(tmp_path / "whole.fifo", gzip.compress(sealed.read_bytes()))
    result = run("filter", tmp_path / "whole.fifo", "--actor", "user1", "-f", "jsonl")
    writer.join(10)
    assert result.exit_code == 0, result.stderr
    found = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [row["event_id"] for row in found] == [f"e{i}" for i in range(20) if i % 3 == 1]


@pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("gzip") is None, reason="needs bash and gzip"
)
def test_a_shell_process_substitution_is_read_by_filter(sealed: Path) -> None:
    command = '"$0" -m auditcli filter <(gzip -c "$1") --actor user2 --fields event_id,chain'
    done = subprocess.run(
        ["bash", "-c", command, sys.executable, str(sealed)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [row["event_id"] for row in rows] == [f"e{i}" for i in range(20) if i % 3 == 2]


def test_a_value_seal_cannot_write_canonically_is_named_by_file_and_line(
    run: Run, write_log: WriteLog, tmp_path: Path
) -> None:
    plain = write_log("p.jsonl", jsonl([event(id="e1")]) + b'{"id": "e2", "x": "\\ud800"}\n')
    result = run("seal", plain, "-o", tmp_path / "s.jsonl")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"auditcli: error: {plain}:2: string holds a lone surrogate")
    assert not (tmp_path / "s.jsonl").exists()
    # in an array, an element's 0-based position, not a line
    array = write_log("a.json", b'[{"id": "e1"}, {"id": "e2", "x": "\\ud800"}]')
    result = run("seal", array, "-o", tmp_path / "s.jsonl")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"auditcli: error: {array}: element 1: string holds a lone")


def test_seal_refuses_an_integer_it_could_not_write_exactly(
    run: Run, write_log: WriteLog, tmp_path: Path
) -> None:
    """RFC 8785 writes numbers as doubles: 2**53 + 1 would be sealed as 2**53."""
    fits = {"id": "e1", "n": 2**53, "neg": -(2**53), "big_but_exact": 2**60}
    ok = write_log("ok.jsonl", [fits])
    assert run("seal", ok, "-o", tmp_path / "ok.sealed.jsonl").exit_code == 0
    plain = write_log("p.jsonl", [event(id="e1"), {"id": "e2", "account": 2**53 + 1}])
    result = run("seal", plain, "-o", tmp_path / "s.jsonl")
    assert result.exit_code == 3
    assert f"{plain}:2: integer 9007199254740993 has no exact RFC 8785 form" in result.stderr
    assert "9007199254740992" in result.stderr
    assert not (tmp_path / "s.jsonl").exists()
    wide_line = b'{"id": "e1", "n": 100000000000000000000000000001, "s": "1%d"}\n' % 10**29
    past_64_bits = write_log("w.jsonl", wide_line)
    wide = run("seal", past_64_bits, "-o", tmp_path / "w.sealed.jsonl")
    assert wide.exit_code == 3
    assert f"integer {10**29 + 1} has no exact RFC 8785 form" in wide.stderr
    beyond = write_log("b.jsonl", b'{"id": "e1", "n": 1%s}\n' % (b"0" * 400))
    huge = run("seal", beyond, "-o", tmp_path / "b.sealed.jsonl")
    assert huge.exit_code == 3 and "it is beyond a double's range" in huge.stderr


def test_keyed_chains_need_the_key(run: Run, write_log: WriteLog, tmp_path: Path) -> None:
    key = tmp_path / "chain.key"
    key.write_bytes(b"case-2026-0312 secret")
    plain = write_log("p.jsonl", [event(id=f"e{i}") for i in range(5)])
    out = tmp_path / "keyed.jsonl"
    assert run("seal", plain, "-o", out, "--key-file", key).exit_code == 0
    assert run("verify", out, "--key-file", key).exit_code == 0
    assert run("verify", out, "-f", "json").exit_code == 1
    other = tmp_path / "other.key"
    other.write_bytes(b"guess")
    assert run("verify", out, "--key-file", other, "-f", "json").exit_code == 1


def test_keygen_refuses_to_overwrite(run: Run, tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text("keep me")
    result = run("keygen", tmp_path / "k.pem", tmp_path / "k.pub")
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert (tmp_path / "k.pem").read_text() == "keep me"
    (tmp_path / "only.pub").write_text("keep me too")  # a half pair is left behind no more
    result = run("keygen", tmp_path / "new.pem", tmp_path / "only.pub")
    assert result.exit_code == 2 and not (tmp_path / "new.pem").exists()
    assert (tmp_path / "only.pub").read_text() == "keep me too"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["verify", "missing.jsonl"], 3, "no such file"),
        (["verify", str(SAMPLE_LOGS / "identity.jsonl")], 3, "no line holds a chained event"),
        (["verify", "x.jsonl", "--db", "y.duckdb"], 2, "give paths or --db, not both"),
        (["seal", "missing.jsonl", "-o", "out.jsonl"], 3, "no such file"),
        (
            ["verify", str(SAMPLE_LOGS / "identity.jsonl"), "--expect-head", " "],
            2,
            "the expected head '' is not a hash in hex",
        ),
        (
            ["verify", str(SAMPLE_LOGS / "identity.jsonl"), "--expect-head", "zz"],
            2,
            "the expected head 'zz' is not a hash in hex",
        ),
        (["verify", str(SAMPLE_LOGS / "identity.jsonl"), "-f", "csv"], 2, "is not one of"),
        (["seal", str(SAMPLE_LOGS), "-o", "out.jsonl"], 3, "is a directory"),
        (
            ["seal", str(SAMPLE_LOGS / "identity.jsonl"), "-o", "."],
            2,
            "cannot write: is a directory",
        ),
        (["seal", "-", "-o", "o.jsonl", "--checkpoint"], 2, "--checkpoint needs --sign-key"),
    ],
)
def test_integrity_errors_are_one_line(run: Run, args: list[str], code: int, message: str) -> None:
    result = run(*args)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_load_records_broken_stretches_and_filter_and_timeline_mark_them(
    run: Run, sealed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = sealed.read_text().splitlines()
    lines[4] = lines[4].replace("db/orders", "db/payroll")
    sealed.write_text("\n".join(lines) + "\n")
    db = tmp_path / "case.duckdb"
    assert run("load", sealed, "--db", db).exit_code == 0
    timeline = run(
        "timeline",
        "--db",
        db,
        "--since",
        "2026-03-12T14:00Z",
        "--until",
        "2026-03-12T14:30Z",
        "-f",
        "jsonl",
    )
    marked = [orjson.loads(x) for x in timeline.stdout.splitlines()]
    assert [(r["source_line"], "chain-broken" in r["markers"]) for r in marked][3:6] == [
        (4, False),
        (5, True),
        (6, False),
    ]
    result = run("verify", "--db", db, "-f", "json")
    assert result.exit_code == 1
    assert kinds(result) == [("modified", 5)]
    rows = [orjson.loads(x) for x in run("filter", "--db", db, "-f", "jsonl").stdout.splitlines()]
    assert [(r["source_line"], r["chain"]) for r in rows][3:6] == [
        (4, "ok"),
        (5, "broken"),
        (6, "ok"),
    ]
    monkeypatch.setenv("COLUMNS", "200")
    table = run("filter", "--db", db, "--resource", "db/payroll", "-f", "table")
    assert "chain" in table.stdout and "broken" in table.stdout


def test_filter_marks_chain_state_only_where_a_chain_was_checked(
    run: Run, sealed: Path, tmp_path: Path
) -> None:
    db = tmp_path / "case.duckdb"
    assert run("load", sealed, SAMPLE_LOGS / "identity.jsonl", "--db", db).exit_code == 0
    rows = [orjson.loads(x) for x in run("filter", "--db", db, "-f", "jsonl").stdout.splitlines()]
    states = {(r["source_file"] == str(sealed), r["chain"]) for r in rows}
    assert states == {(True, "ok"), (False, None)}
    ordered = run(
        "filter", "--db", db, "--fields", "event_id,chain", "--sort", "chain", "-f", "csv"
    )
    assert ordered.stdout.splitlines()[1].endswith(",ok")
    assert "chain" not in run("filter", "--db", db, "-f", "table").stdout  # all intact


def test_filter_on_files_without_filters_checks_their_chains(
    run: Run, sealed: Path, tmp_path: Path
) -> None:
    """As a load does; a filtered run reads only candidate lines and checks none."""
    lines = sealed.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b'"user1"', b'"mallory"')
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(b"".join(lines))
    every = run("filter", tampered, "--fields", "event_id,chain", "-f", "csv").stdout
    assert every.splitlines()[1:6] == ["e0,ok", "e1,ok", "e2,ok", "e3,ok", "e4,broken"]
    filtered = run(
        "filter", tampered, "--actor", "mallory", "--fields", "event_id,chain", "-f", "csv"
    )
    assert filtered.stdout.splitlines()[1:] == ["e4,"]


def test_verify_db_says_when_nothing_is_chained(run: Run, tmp_path: Path) -> None:
    db = tmp_path / "plain.duckdb"
    run("load", SAMPLE_LOGS / "identity.jsonl", "--db", db)
    result = run("verify", "--db", db)
    assert result.exit_code == 2
    assert "no loaded source carries a hash chain" in result.stderr


def test_verify_with_nothing_to_verify_says_what_to_give(run: Run) -> None:
    result = run("verify")
    assert result.exit_code == 2
    assert "auditcli: error: nothing to verify" in result.stderr


def test_a_load_checks_its_files_chain_in_process(sealed: Path, tmp_path: Path) -> None:
    """A file's chain is checked on a thread of the load, even a file big enough for
    verify's worker processes: no pool is started and no thread is left, so the CLI
    may end at once. The check is recorded."""
    db = tmp_path / "case.duckdb"
    script = (
        "import sys, threading; from auditcli.cli import app_for\n"
        "import auditcli.integrity.chain as chain; chain.PARALLEL_MIN_BYTES = 0\n"
        f"args = ['load', {str(sealed)!r}, '--db', {str(db)!r}]\n"
        "try: app_for(args)(args)\n"
        "except SystemExit as done:\n"
        "    from auditcli.cli import _threads_of_ours\n"
        "    print(done.code, 'multiprocessing' in sys.modules, _threads_of_ours())\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert ran.stdout.split() == [b"0", b"False", b"1"], ran.stderr
    store = Store.open(db, read_only=True)
    try:
        assert store.fetchall("SELECT status, events FROM chain_checks") == [("intact", 20)]
    finally:
        store.close()


def test_seal_and_verify_never_overwrite_the_evidence_they_read(
    run: Run, write_log: WriteLog, sealed: Path, tmp_path: Path
) -> None:
    assert run("keygen", tmp_path / "k.pem", tmp_path / "k.pub").exit_code == 0
    plain = tmp_path / "plain.jsonl"
    db = tmp_path / "case.duckdb"
    assert run("load", sealed, "--db", db).exit_code == 0
    signed = tmp_path / "signed.jsonl"
    assert run("seal", plain, "-o", signed, "--checkpoint", "--sign-key", tmp_path / "k.pem")
    anchors = ("--checkpoint", Path(f"{signed}.checkpoint"), "--pubkey", tmp_path / "k.pub")
    for args in [
        ("seal", plain, "-o", plain),
        ("seal", plain, "-o", db),
        ("seal", plain, "-o", tmp_path / "k.pem", "--checkpoint", "--sign-key", tmp_path / "k.pem"),
        ("verify", signed, *anchors, "-o", tmp_path / "k.pub"),
        ("verify", signed, *anchors, "-o", Path(f"{signed}.checkpoint")),
        ("verify", sealed, "-o", sealed),
        ("verify", "--db", db, "-o", sealed),  # a file loaded into the case
    ]:
        kept = {p: p.read_bytes() for p in (plain, sealed, tmp_path / "k.pub", tmp_path / "k.pem")}
        result = run(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert "not overwritten" in result.stderr
        assert all(p.read_bytes() == data for p, data in kept.items())


def test_verify_db_records_the_exit_code_it_ends_with(
    run: Run, sealed: Path, tmp_path: Path
) -> None:
    """The access-log row was written before the report: always exit 0."""
    tampered = tmp_path / "tampered.jsonl"
    lines = sealed.read_bytes().splitlines(keepends=True)
    tampered.write_bytes(b"".join(lines[:5] + lines[6:]))
    chained, plain = tmp_path / "chained.duckdb", tmp_path / "plain.duckdb"
    assert run("load", tampered, "--db", chained).exit_code == 0
    assert run("load", SAMPLE_LOGS / "identity.jsonl", "--db", plain).exit_code == 0
    assert run("verify", "--db", chained, "-f", "json").exit_code == 1
    assert run("verify", "--db", plain).exit_code == 2
    for db, code in ((chained, 1), (plain, 2)):
        store = Store.open(db, read_only=True)
        try:
            recorded = store.fetchall("SELECT exit_code FROM access_log WHERE command = 'verify'")
        finally:
            store.close()
        assert recorded == [(code,)]
