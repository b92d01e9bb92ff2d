"""Safe to show: the hostile corpus through every command and format, byte by byte.

No planted secret ever appears; no escape or invisible character reaches a table, a
timeline or a document; JSON stays valid; formula cells are defused; a 5 MB value is
cut in tables and kept whole in machine formats.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from auditcli.cli import app
from tests.privacy.hostile import (
    AT,
    AWS_KEY_ID,
    BIG,
    FORBIDDEN_IN_TABLES,
    NEEDLES,
    UUID,
    corpus_bytes,
)

Run = Callable[..., Result]
MACHINE = ("jsonl", "json", "csv")
DOCUMENTS = ("table", "markdown", "html")
TIMELINE = ("timeline", "--at", AT, "--window", "2h")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A database loaded from the hostile corpus, shared by the module's tests."""
    directory = tmp_path_factory.mktemp("hostile")
    source = directory / "hostile.jsonl"
    source.write_bytes(corpus_bytes())
    db = directory / "case.duckdb"
    result = CliRunner().invoke(app, ["load", str(source), "--db", str(db)])
    assert result.exit_code == 0, result.stderr
    yield db


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = CliRunner()

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


def assert_no_secret(data: bytes, where: str) -> None:
    text = data.decode("utf-8", "replace")
    for needle in NEEDLES:
        assert needle not in text, f"{where}: {needle!r} shown"
        assert orjson.dumps(needle).decode()[1:-1] not in text, f"{where}: {needle!r} shown"


def assert_defused(text: str, where: str) -> None:
    for char in FORBIDDEN_IN_TABLES:
        assert char not in text, f"{where}: {char!r} reached the output"


def _parquet_text(path: Path) -> bytes:
    return orjson.dumps(pq.read_table(path).to_pylist(), default=str)


# -- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [*MACHINE, *DOCUMENTS, "parquet"])
@pytest.mark.parametrize("command", ["filter", "timeline"])
def test_no_planted_secret_appears_in_any_format(
    run: Run, case: Path, tmp_path: Path, command: str, fmt: str
) -> None:
    args = ("filter",) if command == "filter" else TIMELINE
    fields = (
        ("--fields", "actor,action,resource,error,user_agent,raw") if command == "filter" else ()
    )
    output = tmp_path / f"out.{fmt}"
    result = run(*args, "--db", case, "-f", fmt, *fields, "-o", output)
    assert result.exit_code == 0, result.stderr
    data = _parquet_text(output) if fmt == "parquet" else output.read_bytes()
    assert_no_secret(data, f"{command} {fmt}")
    assert "redacted:" in data.decode("utf-8", "replace")


def test_rejects_and_the_access_log_never_show_secrets(
    run: Run, case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jwt = "eyJhbGciOiJub25lIn0.eyJQbGFudGVkQ29tbWFuZExpbmVKd3QiOjF9.x"
    monkeypatch.setattr(sys, "argv", ["auditcli", "timeline", "--request-id", jwt])
    assert run(*TIMELINE, "--db", case, "--request-id", jwt).exit_code == 0
    for fmt in (*MACHINE, "table"):
        rejects = run("rejects", "--db", case, "-f", fmt)
        assert rejects.exit_code == 0, rejects.stderr
        assert_no_secret(rejects.stdout_bytes, f"rejects {fmt}")
        log = run("access-log", "--db", case, "-f", fmt)
        assert_no_secret(log.stdout_bytes, f"access-log {fmt}")
    assert (
        b"password=<redacted:password>" in run("rejects", "--db", case, "-f", "jsonl").stdout_bytes
    )
    assert (
        b"--request-id <redacted:jwt>"
        in run("access-log", "--db", case, "-f", "jsonl").stdout_bytes
    )


def test_unsafe_show_secrets_shows_them_for_one_command(run: Run, case: Path) -> None:
    shown = run("filter", "--db", case, "-f", "jsonl", "--fields", "raw", "--unsafe-show-secrets")
    assert "PlantedPassword!1" in shown.stdout
    again = run("filter", "--db", case, "-f", "jsonl", "--fields", "raw")
    assert "PlantedPassword!1" not in again.stdout


def test_detector_true_and_false_positives_through_the_cli(run: Run, case: Path) -> None:
    result = run("filter", "--db", case, "-f", "jsonl", "--fields", "raw")
    raw = orjson.loads(result.stdout.splitlines()[0])["raw"]
    credentials = orjson.loads(raw)["request"]["parameters"]["nested"]["credentials"]
    assert credentials["aws_secret_access_key"] == "wJal…<redacted:aws-secret-key>"
    assert credentials["access_key_id"] == AWS_KEY_ID
    assert UUID in raw


# -- hostile text ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", DOCUMENTS)
@pytest.mark.parametrize("command", ["filter", "timeline", "rejects"])
def test_no_escape_or_invisible_character_reaches_a_document(
    run: Run, case: Path, command: str, fmt: str
) -> None:
    args = {"filter": ("filter",), "timeline": TIMELINE, "rejects": ("rejects",)}[command]
    fields = (
        ("--fields", "actor,action,resource,source_ip,user_agent,error")
        if command == "filter"
        else ()
    )
    result = run(*args, "--db", case, "-f", fmt, *fields)
    assert result.exit_code == 0, result.stderr
    assert_defused(result.stdout, f"{command} {fmt}")
    if fmt != "table":
        assert "<script>" not in result.stdout


def test_tables_show_markup_and_escapes_literally(
    run: Run, case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    result = run("filter", "--db", case, "-f", "table", "--fields", "actor", "--actor", "<*")
    assert (
        "[bold red]markup[/bold red] \\e[31mred\\e[0m \\e]8;;https://evil.example/" in result.stdout
    )
    assert_defused(result.stdout, "table")


def test_markdown_cells_cannot_become_links_images_or_html(run: Run, case: Path) -> None:
    result = run("filter", "--db", case, "-f", "markdown", "--fields", "actor")
    assert "\\[link\\](javascript:alert(1))" in result.stdout
    assert "!\\[img\\](https://evil.example/p.png)" in result.stdout
    assert "&lt;script&gt;" in result.stdout
    assert "\\|" in result.stdout


@pytest.mark.parametrize("args", [("filter",), TIMELINE])
def test_html_pages_escape_everything_and_load_nothing(
    run: Run, case: Path, args: tuple[str, ...]
) -> None:
    page = run(*args, "--db", case, "-f", "html").stdout
    assert "Content-Security-Policy" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert re.search(r"<script", page) is None


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_stays_valid_for_any_input(run: Run, case: Path, fmt: str) -> None:
    for args in (("filter",), TIMELINE, ("rejects",), ("access-log",)):
        result = run(*args, "--db", case, "-f", fmt)
        assert result.exit_code == 0, result.stderr
        if fmt == "json":
            assert isinstance(orjson.loads(result.stdout_bytes), list)
        else:
            for line in result.stdout_bytes.splitlines():
                orjson.loads(line)


@pytest.mark.parametrize("args", [("filter",), TIMELINE])
def test_csv_formula_cells_are_defused(run: Run, case: Path, args: tuple[str, ...]) -> None:
    result = run(*args, "--db", case, "-f", "csv")
    csv.field_size_limit(len(result.stdout))
    rows = list(csv.reader(io.StringIO(result.stdout)))
    cells = [cell for row in rows for cell in row]
    assert '\'=HYPERLINK("http://evil.example","x")' in cells
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
    assert not [c for c in cells if c.startswith("-") and not re.fullmatch(r"-[0-9.]+", c)]


def test_a_5mb_value_is_cut_in_tables_and_whole_in_machine_formats(run: Run, case: Path) -> None:
    for fmt in DOCUMENTS:
        shown = run("filter", "--db", case, "-f", fmt, "--fields", "actor,error,raw")
        assert len(shown.stdout_bytes) < 100_000, fmt
        assert "…(+" in shown.stdout
    whole = run("filter", "--db", case, "-f", "jsonl", "--fields", "error", "--actor", "bob@*")
    assert orjson.loads(whole.stdout_bytes)["error"] == BIG
    timeline = run(*TIMELINE, "--db", case, "-f", "jsonl")
    assert BIG in timeline.stdout


def test_sql_looking_option_values_are_data_not_sql(run: Run, case: Path) -> None:
    nothing = run("filter", "--db", case, "-f", "jsonl", "--actor", "x' OR 1=1 --")
    assert nothing.exit_code == 0 and nothing.stdout == ""
    for option in ("--fields", "--sort"):
        bad = run("filter", "--db", case, option, "actor; DROP TABLE events")
        assert bad.exit_code == 2
    still = run("filter", "--db", case, "-f", "jsonl", "--fields", "event_id")
    assert len(still.stdout.splitlines()) == 6  # evt-5 too: its lone surrogate reads as U+FFFD
