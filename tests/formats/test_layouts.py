"""Inputs that are not JSON: a directory of auditd, CSV, Parquet and JSON files."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from auditcli.ingest.sources import expand
from auditcli.load import LoadOptions, load
from auditcli.store import Store
from tests.formats.test_auditd import CASES as AUDITD_CASES
from tests.formats.test_csv_parquet import GITHUB, GITHUB_HEADER


def _parquet() -> bytes:
    table = pa.table(
        {
            "timestamp": pa.array([1714557600000000], pa.timestamp("us", "UTC")),
            "user": ["erin"],
            "action": ["export"],
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


AUDITD = "\n".join(line for _, lines, _ in AUDITD_CASES for line in lines).encode()

#: Path under the directory -> (bytes, expected source_format, events).
FILES: dict[str, tuple[bytes, str, int]] = {
    "var/log/audit/audit.log": (AUDITD, "auditd", len(AUDITD_CASES)),
    "var/log/audit/audit.log.1": (AUDITD_CASES[0][1][0].encode(), "auditd", 1),
    "var/log/audit/audit.log.2.gz": (AUDITD_CASES[2][1][0].encode(), "auditd", 1),
    "github/export.csv": (f"{GITHUB_HEADER}\n{GITHUB[0][1]}\n".encode(), "github-audit", 1),
    "siem/export.parquet": (_parquet(), "generic-json", 1),
    "app/events.jsonl": (
        b'{"timestamp": "2024-05-01T10:00:00Z", "user": "dave", "action": "login"}\n',
        "generic-json",
        1,
    ),
}


def test_a_directory_of_layouts_loads_each_file_as_its_format(tmp_path: Path) -> None:
    for name, (data, _, _) in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    (tmp_path / "notes.txt").write_text("not picked up")
    store = Store.open(":memory:")
    report = load(store, expand([str(tmp_path)]), LoadOptions())
    found = {
        Path(s.name).relative_to(tmp_path).as_posix(): (s.source_format, s.events, s.rejects)
        for s in report.sources
    }
    assert found == {name: (fmt, events, 0) for name, (_, fmt, events) in FILES.items()}


def test_input_format_forces_the_auditd_adapter() -> None:
    store = Store.open(":memory:")
    report = load(
        store,
        expand(["-"]),
        LoadOptions(input_format="auditd"),
        stdin=io.BytesIO(AUDITD_CASES[0][1][0].encode()),
    )
    assert [s.source_format for s in report.sources] == ["auditd"]
    assert report.events == 1
