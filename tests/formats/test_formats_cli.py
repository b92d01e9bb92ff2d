"""``auditcli formats``: every input format, what it reads and where its columns come from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
from typer.testing import Result

from auditcli.ingest import ADAPTERS

Run = Callable[..., Result]


def test_formats_lists_every_adapter_as_jsonl_when_piped(run: Run) -> None:
    result = run("formats")
    assert result.exit_code == 0
    assert result.stderr == ""
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [row["format"] for row in rows] == [a.name for a in ADAPTERS]
    assert set(rows[0]) == {"format", "description", "maps", "columns", "fields"}
    cloudtrail = next(row for row in rows if row["format"] == "cloudtrail")
    fields = orjson.loads(cloudtrail["fields"])
    assert fields["ts"][0] == "eventTime"
    assert fields["actor"][0] == "userIdentity.arn"
    assert fields["action"] == ["eventSource", "eventName"]
    assert "session_id" in cloudtrail["columns"].split(", ")
    assert cloudtrail["maps"].startswith("ts ← eventTime")


def test_formats_table_shows_name_description_and_mapping(run: Run) -> None:
    result = run("formats", "--format", "table")
    assert result.exit_code == 0
    assert result.stderr == ""
    header = result.stdout.splitlines()[0].split()
    assert header == ["format", "description", "maps"]
    for adapter in ADAPTERS:
        assert adapter.name in result.stdout
    assert f"{len(ADAPTERS)} formats" in result.stdout


def test_formats_writes_csv_to_a_file(run: Run, tmp_path: Path) -> None:
    result = run("formats", "--output", tmp_path / "formats.csv")
    assert result.exit_code == 0
    assert result.stdout == ""
    lines = (tmp_path / "formats.csv").read_text().splitlines()
    assert lines[0] == "format,description,maps,columns,fields"
