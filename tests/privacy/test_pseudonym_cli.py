"""Pseudonyms through the CLI: stable tokens, keys per case, filters by value or token,
reveal, and the policy file."""

from __future__ import annotations

import csv
import io
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from auditcli.cli import app
from auditcli.privacy.case import TOKEN
from tests.conftest import event, jsonl

Run = Callable[..., Result]
ALICE = "alice@corp.example"


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The user's config directory, where runs on files keep their key."""
    directory = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(directory))
    return directory


@pytest.fixture
def run(config: Path) -> Run:
    runner = CliRunner()

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    path = tmp_path / "logs.jsonl"
    path.write_bytes(
        jsonl(
            [
                event(
                    id="e1",
                    timestamp="2026-03-12T14:00:00Z",
                    actor=ALICE,
                    source_ip="203.0.113.7",
                    resource="db/orders",
                ),
                event(
                    id="e2",
                    timestamp="2026-03-12T14:01:00Z",
                    actor="svc-deploy",
                    source_ip="203.0.113.7",
                    resource="user/bob@corp.example",
                    target={"email": "carol@corp.example", "phone": "+1 415 555 0100"},
                ),
                event(
                    id="e3",
                    timestamp="2026-03-12T14:02:00Z",
                    actor=ALICE,
                    source_ip="10.9.8.7",
                    resource="db/orders",
                    user_agent="Mozilla/5.0 (X11)",
                ),
            ]
        )
    )
    return path


@pytest.fixture
def db(run: Run, logs: Path, tmp_path: Path) -> Path:
    path = tmp_path / "case.duckdb"
    assert run("load", logs, "--db", path).exit_code == 0
    return path


def rows(result: Result) -> list[dict[str, object]]:
    assert result.exit_code == 0, result.stderr
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def actors(result: Result) -> list[object]:
    return [row["actor"] for row in rows(result)]


def test_the_same_person_gets_the_same_token_in_every_command_and_run(run: Run, db: Path) -> None:
    first = rows(run("filter", "--db", db, "-f", "jsonl", "--pseudonymize"))
    token = first[0]["actor"]
    assert isinstance(token, str) and TOKEN.fullmatch(token) and token.startswith("email:")
    assert first[2]["actor"] == token and ALICE not in str(first)
    again = rows(run("filter", "--db", db, "-f", "jsonl", "--pseudonymize"))
    assert again == first
    timeline = rows(
        run("timeline", "--db", db, "--at", "2026-03-12T14:01Z", "-f", "jsonl", "--pseudonymize")
    )
    assert [r["actor"] for r in timeline][::2] == [token, token]
    csv_rows = list(
        csv.DictReader(io.StringIO(run("filter", "--db", db, "-f", "csv", "--pseudonymize").stdout))
    )
    assert csv_rows[0]["actor"] == token
    assert orjson.loads(str(first[0]["raw"]))["actor"] == token


def test_every_format_is_pseudonymised(run: Run, db: Path, tmp_path: Path) -> None:
    for fmt in ("table", "markdown", "html", "json", "csv"):
        shown = run("filter", "--db", db, "-f", fmt, "--pseudonymize", "--fields", "actor,raw")
        assert "alice" not in shown.stdout and "carol" not in shown.stdout, fmt
        assert "email:" in shown.stdout, fmt
    output = tmp_path / "out.parquet"
    run("filter", "--db", db, "-o", output, "--pseudonymize")
    assert ALICE not in str(pq.read_table(output).to_pylist())


def test_the_case_key_lives_in_the_database_created_on_first_use(run: Run, db: Path) -> None:
    def stored() -> list[tuple[str]]:
        with duckdb.connect(str(db), read_only=True) as connection:
            query = "SELECT value FROM meta WHERE key = 'pseudonym_key'"
            return connection.execute(query).fetchall()

    run("filter", "--db", db, "-f", "jsonl")
    assert stored() == []
    run("filter", "--db", db, "-f", "jsonl", "--pseudonymize")
    assert len(bytes.fromhex(stored()[0][0])) == 32


def test_runs_on_files_use_the_users_key_file(run: Run, logs: Path, config: Path) -> None:
    first = actors(run("filter", logs, "-f", "jsonl", "--pseudonymize"))
    key_file = config / "auditcli" / "pseudonym.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert actors(run("filter", logs, "-f", "jsonl", "--pseudonymize")) == first


def test_another_key_gives_other_tokens_and_one_key_gives_one_token(
    run: Run, db: Path, logs: Path, tmp_path: Path
) -> None:
    case_tokens = actors(run("filter", "--db", db, "-f", "jsonl", "--pseudonymize"))
    key = tmp_path / "other.key"
    with_key = actors(
        run("filter", "--db", db, "-f", "jsonl", "--pseudonymize", "--pseudonym-key", key)
    )
    assert with_key != case_tokens
    on_files = actors(run("filter", logs, "-f", "jsonl", "--pseudonymize", "--pseudonym-key", key))
    assert on_files == with_key


def test_filters_take_the_real_value_or_the_token(run: Run, db: Path, logs: Path) -> None:
    by_value = rows(run("filter", "--db", db, "-f", "jsonl", "--pseudonymize", "--actor", ALICE))
    assert [r["event_id"] for r in by_value] == ["e1", "e3"]
    token = str(by_value[0]["actor"])
    by_token = rows(run("filter", "--db", db, "-f", "jsonl", "--actor", token))
    assert [r["event_id"] for r in by_token] == ["e1", "e3"]
    ip = str(rows(run("filter", "--db", db, "-f", "jsonl", "--pseudonymize"))[0]["source_ip"])
    by_ip = rows(run("filter", "--db", db, "-f", "jsonl", "--ip", ip, "--fields", "event_id"))
    assert by_ip == [{"event_id": "e1"}, {"event_id": "e2"}]
    resource = rows(
        run("filter", "--db", db, "-f", "jsonl", "--pseudonymize", "--actor", "svc-deploy")
    )[0]["resource"]
    by_resource = rows(run("filter", "--db", db, "-f", "jsonl", "--resource", str(resource)))
    assert [r["event_id"] for r in by_resource] == ["e2"]
    file_token = actors(run("filter", logs, "-f", "jsonl", "--pseudonymize"))[0]
    on_files = rows(run("filter", logs, "-f", "jsonl", "--actor", str(file_token)))
    assert [r["event_id"] for r in on_files] == ["e1", "e3"]


def test_a_token_finds_every_spelling_it_stands_for(run: Run, tmp_path: Path) -> None:
    """An email's token ignores case, so both spellings show as one token."""
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        jsonl(
            [
                event(id="e1", timestamp="2026-03-12T14:00:00Z", actor="Alice@Corp.Example"),
                event(id="e2", timestamp="2026-03-12T14:01:00Z", actor="alice@corp.example"),
                event(id="e3", timestamp="2026-03-12T14:02:00Z", actor="bob@corp.example"),
            ]
        )
    )
    db = tmp_path / "mixed.duckdb"
    assert run("load", path, "--db", db).exit_code == 0
    tokens = actors(run("filter", "--db", db, "-f", "jsonl", "--pseudonymize"))
    assert tokens[0] == tokens[1] != tokens[2]
    found = rows(run("filter", "--db", db, "-f", "jsonl", "--actor", str(tokens[0])))
    assert [r["event_id"] for r in found] == ["e1", "e2"]


def test_a_token_no_value_gives_matches_nothing_with_a_warning(run: Run, db: Path) -> None:
    result = run("filter", "--db", db, "-f", "jsonl", "--actor", "user:" + "0" * 16)
    assert result.exit_code == 0 and result.stdout == ""
    assert "user:0000000000000000: no value here has this token" in result.stderr


def test_reveal_maps_a_token_back_and_says_when_none_matches(run: Run, db: Path) -> None:
    shown = run("filter", "--db", db, "-f", "jsonl", "--pseudonymize")
    first, second = rows(shown)[:2]
    assert run("reveal", str(first["actor"]), "--db", db).stdout == f"{ALICE}\n"
    assert run("reveal", str(second["actor"]), "--db", db).stdout == "svc-deploy\n"
    target = orjson.loads(str(second["raw"]))["target"]
    assert run("reveal", target["email"], "--db", db).stdout == "carol@corp.example\n"
    assert run("reveal", target["phone"], "--db", db).stdout == "+1 415 555 0100\n"
    missing = run("reveal", "email:" + "f" * 16, "--db", db)
    assert missing.exit_code == 1 and missing.stdout == ""
    assert "has this token" in missing.stderr
    assert run("reveal", "alice", "--db", db).exit_code == 2


def test_timelines_still_correlate_by_token(run: Run, db: Path) -> None:
    result = run(
        "timeline",
        "--db",
        db,
        "--at",
        "2026-03-12T14:01Z",
        "--ip",
        "203.0.113.7",
        "--expand",
        "-f",
        "jsonl",
        "--pseudonymize",
    )
    timeline = rows(result)
    alice = timeline[0]["actor"]
    assert [r["event_id"] for r in timeline] == ["e1", "e2", "e3"]
    assert timeline[2]["included_because"] == f"via actor {alice}"
    by_token = rows(
        run(
            "timeline",
            "--db",
            db,
            "--at",
            "2026-03-12T14:01Z",
            "--actor",
            str(alice),
            "-f",
            "jsonl",
        )
    )
    assert [r["event_id"] for r in by_token] == ["e1", "e3"]


def test_a_policy_file_turns_pseudonyms_on_and_adds_detectors(
    run: Run, db: Path, tmp_path: Path
) -> None:
    (tmp_path / ".auditcli.toml").write_text(
        "[privacy]\npseudonymize = true\n\n[secrets]\nextra_detectors = "
        '[{ name = "resource-code", value = "db/ord[a-z]+" }]\n'
    )
    result = rows(run("filter", "--db", db, "-f", "jsonl"))
    assert str(result[0]["actor"]).startswith("email:")
    assert result[0]["resource"] == "<redacted:resource-code>"
    off = rows(run("filter", "--db", db, "-f", "jsonl", "--no-pseudonymize"))
    assert off[0]["actor"] == ALICE
    elsewhere = tmp_path / "policy.toml"
    elsewhere.write_text("[privacy]\npseudonymize = false\n")
    assert (
        rows(run("filter", "--db", db, "-f", "jsonl", "--policy", elsewhere))[0]["actor"] == ALICE
    )
    broken = tmp_path / "broken.toml"
    broken.write_text("[privacy]\nnope = 1\n")
    assert run("filter", "--db", db, "--policy", broken).exit_code == 2


def test_names_in_command_lines_and_file_names_are_pseudonymised(run: Run, tmp_path: Path) -> None:
    arn = "arn:aws:iam::123456789012:user/alice.smith"
    folder = tmp_path / "from-bob@corp.example"
    folder.mkdir()
    path = folder / "198.51.100.5.jsonl"
    path.write_bytes(jsonl([event(id="e1", timestamp="2026-03-12T14:00:00Z", actor=arn)]))
    db = tmp_path / "case.duckdb"
    assert run("load", path, "--db", db).exit_code == 0
    for actor in (("--actor", arn), (f"--actor={arn}",)):  # real processes: their argv
        filtered = subprocess.run(
            [sys.executable, "-m", "auditcli", "filter", "--db", str(db), *actor],
            capture_output=True,
            cwd=tmp_path,
            check=False,
        )
        assert filtered.returncode == 0, filtered.stderr
    shown = "\n".join(
        run(*command, "--db", db, "-f", "jsonl", "--pseudonymize").stdout
        for command in (("access-log",), ("sources",), ("filter",))
    )
    for clear in (arn, "alice.smith", "bob@corp.example", "198.51.100.5"):
        assert clear not in shown
    assert "--actor user:" in shown and "--actor=user:" in shown


def test_a_content_hash_id_is_keyed_when_pseudonymised(run: Run, tmp_path: Path) -> None:
    """``h:`` ids hash the clear text: shown beside pseudonymised text, they would let
    anyone confirm a guess at what was replaced."""
    path = tmp_path / "noid.jsonl"
    path.write_bytes(b'{"timestamp": "2026-03-12T14:00:00Z", "actor": "alice@corp.example"}\n')
    db = tmp_path / "case.duckdb"
    assert run("load", path, "--db", db).exit_code == 0
    [clear] = rows(run("filter", "--db", db, "-f", "jsonl", "--fields", "event_id"))
    shown = [
        rows(run("filter", "--db", db, "-f", "jsonl", "--fields", "event_id", "--pseudonymize"))
        for _ in range(2)
    ]
    assert str(clear["event_id"]).startswith("h:")
    assert shown[0] == shown[1] and shown[0][0]["event_id"] != clear["event_id"]
    assert str(shown[0][0]["event_id"]).startswith("h:")


def _loaded(run: Run, tmp_path: Path, **files: str) -> Path:
    """A database holding ``files`` (name -> text), loaded in that order."""
    db = tmp_path / "case.duckdb"
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        assert run("load", path, "--db", db).exit_code == 0
    return db


def _rejects_shown(run: Run, db: Path) -> list[str]:
    """The rejects' texts as ``--pseudonymize`` shows them."""
    return [
        str(row["raw"]) for row in rows(run("rejects", "--db", db, "--pseudonymize", "-f", "jsonl"))
    ]


def _revealed(run: Run, db: Path, shown: list[str]) -> list[str]:
    """What each token in ``shown`` stands for, in order."""
    tokens = [token for raw in shown for token in TOKEN.findall(raw)]
    return [run("reveal", token, "--db", db).stdout.strip() for token in tokens]


@pytest.mark.parametrize(
    ("files", "names"),
    [
        pytest.param(  # most names on semicolons, but every row read by commas
            {
                "export.csv": "n1;n2;n3;n4;c,user,timestamp,password\n"
                "x,alice,2026-03-12T10:00:00Z,pw1\nx,bobby,not a time,pw2\n"
            },
            ["bobby"],
            id="read-by-commas",
        ),
        pytest.param(  # a semicolon file whose ragged first row made the load use commas
            {"export.csv": "ts;user;note,x\n2024-01-01T00:00:00Z;bob;a;b,c\nbad;Mary Jones;z\n"},
            ["bob", "Mary Jones"],
            id="semicolons-read-by-commas",
        ),
        pytest.param(  # a spreadsheet's Username, a JSON line's UserName
            {
                "export.csv": "Timestamp,Username\nnot a time,carla.m\n",
                "cut.jsonl": '{"UserName": "dmitri.k", "action": "y"\n',
            },
            ["dmitri.k", "carla.m"],  # rejects come by file name
            id="capitalised",
        ),
        pytest.param(  # the csv module let the open quote swallow the user's cell
            {
                "export.csv": "timestamp,action,user\n2026-03-12T10:00:00Z,auth.login,alice\n"
                '2026-03-12T10:01:00Z,"auth.login,jsmith\n'
            },
            ["jsmith"],
            id="quote-never-closed",
        ),
    ],
)
def test_a_name_only_a_csv_reject_holds_is_a_token_however_its_file_was_read(
    run: Run, tmp_path: Path, files: dict[str, str], names: list[str]
) -> None:
    db = _loaded(run, tmp_path, **files)
    shown = _rejects_shown(run, db)
    assert not any(name in raw for raw in shown for name in names)
    assert _revealed(run, db, shown) == names


def test_a_password_of_a_file_read_by_commas_is_masked_in_its_events_too(
    run: Run, tmp_path: Path
) -> None:
    text = "n1;n2;n3;n4;c,user,timestamp,password\nx,alice,2026-03-12T10:00:00Z,pw1\n"
    db = _loaded(run, tmp_path, **{"export.csv": text})
    events = run("filter", "--db", db, "-f", "jsonl", "--fields", "actor,raw").stdout
    assert "pw1" not in events and orjson.loads(events)["actor"] == "alice"


def test_a_name_that_fields_and_words_would_split_is_a_token_in_free_text(
    run: Run, tmp_path: Path
) -> None:
    """``Smith, John`` and ``O'Brien`` were looked for as fields and words only, both
    of which split them: shown in clear in a CSV row, an event's or a reject's."""
    text = (
        "timestamp,action,user\n"
        '2026-03-12T10:00:00Z,auth.login,"Smith, John"\n'
        "2026-03-12T10:01:00Z,auth.login,O'Brien\n"
        'not a time,auth.login,"Doe, Jane"\n'
        "not a time,auth.login,D'Arcy\n"
    )
    db = _loaded(run, tmp_path, **{"names.csv": text})
    events = rows(
        run("filter", "--db", db, "--pseudonymize", "-f", "jsonl", "--fields", "actor,raw")
    )
    shown = [str(row["raw"]) for row in events] + _rejects_shown(run, db)
    for name in ("Smith, John", "O'Brien", "Doe, Jane", "D'Arcy", "Smith", "Brien", "Arcy"):
        assert not any(name in raw for raw in shown), name
    assert [TOKEN.findall(raw) for raw in shown[:2]] == [[row["actor"]] for row in events]
    assert _revealed(run, db, shown) == ["Smith, John", "O'Brien", "Doe, Jane", "D'Arcy"]


def test_names_padded_in_their_cells_are_tokens_with_the_spaces_kept(
    run: Run, tmp_path: Path
) -> None:
    """A CSV written with ", " keeps each name's leading space: the whole-name pass took
    the space with the name, gluing words (``metuser:...``)."""
    text = "time, user, action, note\nbad, Ann Lee, login, hello\n"
    text += "2024-01-01T00:00:00Z, Bob Ray, login, met Ann Lee and Bob Ray today\n"
    db = _loaded(run, tmp_path, **{"p.csv": text})
    [event] = rows(run("filter", "--db", db, "--pseudonymize", "-f", "jsonl", "--fields", "raw"))
    assert re.fullmatch(
        r"2024-01-01T00:00:00Z, (user:\w{16}), login, met (user:\w{16}) and \1 today",
        str(event["raw"]),
    )


def test_a_name_only_rejects_hold_is_a_token_too(run: Run, tmp_path: Path) -> None:
    """Rejects were pseudonymised by the case's actors alone: someone whose every event
    was rejected (a CSV row without a time, a line cut short) was shown in clear."""
    exported = tmp_path / "export.csv"
    exported.write_text(
        "timestamp,user,action\n2026-03-12T10:00:00Z,alice,login\nnot a time,bobby,login\n"
        '"not, a time",erin,login\n'  # a quoted cell: read as the csv module reads it
    )
    lines = tmp_path / "cut.jsonl"
    lines.write_text(
        '{"timestamp": "2026-03-12T11:00:00Z", "user": "carol", "action": "x"}\n'
        '{"user": "dave.d", "note": "dave.d was here", "action": "y"\n'
    )
    db = tmp_path / "case.duckdb"
    for path in (exported, lines):
        assert run("load", path, "--db", db).exit_code == 0
    shown = run("rejects", "--db", db, "--pseudonymize", "-f", "jsonl")
    assert shown.exit_code == 0, shown.stderr
    found = rows(shown)
    assert not any(name in str(row["raw"]) for row in found for name in ("bobby", "erin"))
    raws = {(row["source_file"], row["source_line"]): str(row["raw"]) for row in found}
    row, cut = raws[(str(exported), 3)], raws[(str(lines), 2)]
    assert "dave.d" not in cut
    [bobby] = TOKEN.findall(row)
    [erin] = TOKEN.findall(raws[(str(exported), 4)])
    assert erin != bobby
    dave = TOKEN.findall(cut)
    assert len(dave) == 2 and dave[0] == dave[1]  # the same token wherever the name is
    assert run("reveal", bobby, "--db", db).stdout.strip() == "bobby"
    assert run("reveal", dave[0], "--db", db).stdout.strip() == "dave.d"
    clear = run("rejects", "--db", db, "-f", "jsonl").stdout
    assert "bobby" in clear and "dave.d" in clear and "erin" in clear
