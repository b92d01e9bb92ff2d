"""Helpers for the format adapter tests: load records, read back canonical columns."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from auditcli.ingest.adapter import MAPPED_COLUMNS
from auditcli.ingest.sources import expand
from auditcli.load import LoadOptions, load
from auditcli.store import Store

COLUMNS = (*MAPPED_COLUMNS, "source_format", "source_line", "raw")


@dataclass(frozen=True)
class Loaded:
    """What loading some records gave: events in input order, rejects, stages."""

    events: list[dict[str, Any]]
    rejects: list[tuple[int, str]]
    stages: list[dict[str, Any]]


def load_records(records: Sequence[dict[str, Any] | str] | bytes, **options: Any) -> Loaded:
    """Load ``records`` (objects or lines, as JSON lines; or bytes as they are) from stdin."""
    if isinstance(records, bytes):
        data = records
    else:
        data = b"".join(
            (r.encode() if isinstance(r, str) else orjson.dumps(r)) + b"\n" for r in records
        )
    store = Store.open(":memory:")
    try:
        load(store, expand(["-"]), LoadOptions(**options), stdin=io.BytesIO(data))
        events = store.arrow_reader(
            f"SELECT {', '.join(COLUMNS[:-1])}, raw_ref AS raw FROM events ORDER BY source_line"
        ).read_all()
        rejects = store.fetchall("SELECT source_line, reason FROM rejects ORDER BY source_line")
        stages = store.arrow_reader("SELECT * FROM event_stages ORDER BY source_line").read_all()
        return Loaded(
            events.to_pylist(), [(int(a), str(b)) for a, b in rejects], stages.to_pylist()
        )
    finally:
        store.close()


def extra_of(event: dict[str, Any]) -> dict[str, Any]:
    """The event's ``extra`` column as a dict ({} when NULL)."""
    return orjson.loads(event["extra"]) if event["extra"] else {}


def expect(event: dict[str, Any], expected: dict[str, Any]) -> None:
    """Assert ``event`` has ``expected``'s columns (``extra`` compared key by key)."""
    wanted_extra = expected.get("extra", {})
    got = {k: event[k] for k in expected if k != "extra"}
    want = {k: v for k, v in expected.items() if k != "extra"}
    assert got == want
    extra = extra_of(event)
    assert {k: extra.get(k) for k in wanted_extra} == wanted_extra


@pytest.fixture(scope="module")
def loaded_cases() -> Callable[..., Loaded]:
    """Load a module's table of cases once: ``loaded_cases(cases, input_format=...)``."""
    cache: dict[int, Loaded] = {}

    def get(cases: Sequence[tuple[Any, ...]], **options: Any) -> Loaded:
        key = id(cases)
        if key not in cache:
            cache[key] = load_records([case[1] for case in cases], **options)
        return cache[key]

    return get
