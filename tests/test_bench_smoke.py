"""The benchmark harness, run small, so it cannot rot (the full run is bench/run.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_the_harness_writes_a_report_with_every_figure(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--events",
            "2000",
            "--big",
            "4000",
            "--runs",
            "1",
            "--workdir",
            str(tmp_path / "data"),
            "--out",
            str(report),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    text = report.read_text()
    for figure in (
        "cold filter, 2,000 events",
        "load, 2,000 events",
        "warm filter, 4,000 events",
        "timeline --expand 30m, 4,000 events",
        "verify, 2,000 events",
        "peak RSS of load",
        "start-up: auditcli --help",
    ):
        assert figure in text
    assert "python bench/run.py --events 2000" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "figure" not in line]
    ours = [row.split("|")[2].strip() for row in rows]
    assert all(value != "n/a" for value in ours), text
    load = next(row for row in rows if row.startswith("| load,"))
    ours_cpu, peer_cpu = load.split("|")[6].split(" / ")  # user + system, each side
    assert float(ours_cpu.strip().removesuffix(" s")) > 0
    assert float(peer_cpu.strip().removesuffix(" s")) > 0
