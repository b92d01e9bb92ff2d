"""Shared fixtures: an isolated environment, a CLI runner, log-file factories."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from auditcli.cli import app
from auditcli.store import Store

REPO = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = REPO / "sample_logs"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No developer setting leaks in: fresh cwd, no AUDITCLI_*, NO_COLOR, COLUMNS or TZ."""
    import os

    for name in list(os.environ):
        if name.startswith("AUDITCLI_") or name in ("NO_COLOR", "COLUMNS", "LINES", "TZ"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def event(**fields: Any) -> dict[str, Any]:
    """A generic-json event with sensible defaults, overridden by ``fields``."""
    base: dict[str, Any] = {
        "id": "evt-1",
        "timestamp": "2026-03-12T14:02:11.482Z",
        "actor": {"id": "alice@corp.example", "type": "user"},
        "action": "db.query",
        "resource": {"id": "db/orders", "type": "db"},
        "outcome": "success",
        "source_ip": "10.0.0.1",
        "user_agent": "test/1.0",
        "request_id": "req-1",
        "session_id": "sess-1",
        "error": None,
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def stored_rows(
    store: Store, sql: str, params: Sequence[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` as the commands read them: a ``raw_ref AS raw`` column as texts."""
    return [tuple(row.values()) for row in store.arrow_reader(sql, params).read_all().to_pylist()]


def jsonl(events: Sequence[dict[str, Any]]) -> bytes:
    """Events as JSON lines."""
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


@pytest.fixture
def write_log(tmp_path: Path) -> Callable[..., Path]:
    """Write ``content`` (bytes, or a list of events as JSON lines) to a file, gzip if asked."""

    def write(name: str, content: bytes | Sequence[dict[str, Any]], *, gz: bool = False) -> Path:
        data = content if isinstance(content, bytes) else jsonl(content)
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        return path

    return write


@pytest.fixture
def run() -> Callable[..., Result]:
    """Invoke the CLI in-process; stdout and stderr are captured separately."""
    runner = CliRunner()

    def invoke(*args: str | Path, input: bytes | str | None = None) -> Result:
        return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke
