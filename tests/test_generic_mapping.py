"""The generic-json adapter and --mapping: which source field fills which column."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditcli.errors import UsageError
from auditcli.ingest import generic
from auditcli.ingest.adapter import (
    MACROS,
    MAPPED_COLUMNS,
    JsonAdapter,
    json_path,
    mapping_sql,
    text,
    time_of,
)
from auditcli.ingest.mapping import read_mapping
from auditcli.ingest.sources import expand
from auditcli.load import LoadOptions, load
from auditcli.store import Store

COLUMNS = MAPPED_COLUMNS


def mapped(*events: dict[str, Any], **options: Any) -> list[dict[str, Any]]:
    """Load ``events`` as JSON lines from stdin and return their canonical columns."""
    store = Store.open(":memory:")
    data = io.BytesIO(b"".join(orjson.dumps(e) + b"\n" for e in events))
    load(store, expand(["-"]), LoadOptions(**options), stdin=data)
    reader = store.arrow_reader(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY source_line")
    return reader.read_all().to_pylist()


def map_records(
    records: list[str], adapter: JsonAdapter, fallback: JsonAdapter | None, sql: str
) -> list[tuple[Any, ...]]:
    """Rows of ``sql``, a query over ``{select}``, the mapping of ``records`` (texts)."""
    select = mapping_sql(adapter, fallback=fallback)
    return _mapping_store().query_table("batch", staged(records), sql.format(select=select))


def staged(records: list[str]) -> pa.Table:
    """``records`` as the loader hands them to a mapping."""
    texts = pa.array(records, pa.string())
    return pa.table(
        {
            "source_id": pa.array([1] * len(texts), pa.int32()),
            "raw": texts,
            "raw_ref": pa.array(range(len(texts)), pa.int64()),
            "doc": texts,
            "line": pa.array(range(1, len(texts) + 1), pa.int64()),
        }
    )


@functools.cache
def _mapping_store() -> Store:
    store = Store.open(":memory:")
    for macro in MACROS:
        store.execute(macro)
    return store


T = datetime(2026, 3, 12, 14, 2, 11, 482000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {"timestamp": "2026-03-12T14:02:11.482Z", "actor": "alice", "action": "login"},
            {"ts": T, "actor": "alice", "action": "login"},
        ),
        (
            {"ts": 1773324131.482, "user": {"email": "a@x.example", "type": "human"}, "event": "x"},
            {"ts": T, "actor": "a@x.example", "actor_type": "human", "action": "x"},
        ),
        (
            {"time": 1773324131482, "principal": "svc", "eventName": "Get"},
            {"ts": T, "actor": "svc", "action": "Get"},
        ),
        (
            {
                "@timestamp": "2026-03-12T15:02:11.482+01:00",
                "actor": {"id": "u1"},
                "operation": "op",
            },
            {"ts": T, "actor": "u1", "action": "op"},
        ),
        (
            {"eventTime": "2026-03-12T14:02:11.482123456Z", "user": "u", "action": "a"},
            {"ts": T + timedelta(microseconds=123), "actor": "u", "action": "a"},
        ),
        (
            {
                "created_at": "2026-03-12 14:02:11.482",
                "user": {"name": "n", "id": "i"},
                "action": "a",
            },
            {"ts": T, "actor": "n"},
        ),
        ({"timestamp": "1773324131482", "actor": "a", "action": "b"}, {"ts": T}),
        (
            {
                "timestamp": T.isoformat(),
                "actor": "a",
                "action": "b",
                "target": {"name": "db/x", "type": "db"},
            },
            {"resource": "db/x", "resource_type": "db"},
        ),
        (
            {"timestamp": T.isoformat(), "action": "b", "object": "bucket/y"},
            {"resource": "bucket/y"},
        ),
        (
            {
                "timestamp": T.isoformat(),
                "sourceIPAddress": "1.2.3.4",
                "userAgent": "ua",
                "requestId": "r",
                "sessionId": "s",
                "eventID": "e",
            },
            {
                "source_ip": "1.2.3.4",
                "user_agent": "ua",
                "request_id": "r",
                "session_id": "s",
                "event_id": "e",
            },
        ),
        ({"timestamp": T.isoformat(), "status": 403}, {"outcome": "failure"}),
        ({"timestamp": T.isoformat(), "status": "200"}, {"outcome": "success"}),
        ({"timestamp": T.isoformat(), "success": False}, {"outcome": "failure"}),
        ({"timestamp": T.isoformat(), "result": "Allowed"}, {"outcome": "success"}),
        (
            {"timestamp": T.isoformat(), "errorCode": "AccessDenied"},
            {"outcome": "failure", "error": "AccessDenied"},
        ),
        (
            {"timestamp": T.isoformat(), "error": {"message": "boom"}},
            {"error": "boom", "outcome": "failure"},
        ),
        ({"timestamp": T.isoformat()}, {"outcome": "unknown", "actor": None}),
        # Panther's p_event_time stands in for a missing or unreadable time, never a good one.
        ({"p_event_time": "2026-03-12 14:02:11.482", "actor": "bob"}, {"ts": T, "actor": "bob"}),
        ({"time": "redacted", "p_event_time": "2026-03-12 14:02:11.482Z"}, {"ts": T}),
        ({"time": T.isoformat(), "p_event_time": "2020-01-01 00:00:00"}, {"ts": T}),
    ],
)
def test_generic_fields_fill_the_canonical_columns(
    source: dict[str, Any], expected: dict[str, Any]
) -> None:
    row = mapped(source)[0]
    assert {k: row[k] for k in expected} == expected


def test_an_event_without_id_gets_a_stable_content_hash() -> None:
    event = {"timestamp": T.isoformat(), "action": "x"}
    first, second = mapped(event, event)
    assert first["event_id"] == second["event_id"]
    assert first["event_id"].startswith("h:") and len(first["event_id"]) == 18


_NAMES = {
    "actor": ["actor", "user", "principal", "username"],
    "action": ["action", "event", "eventName", "operation"],
    "resource": ["resource", "target", "object"],
    "ts": ["timestamp", "ts", "time", "@timestamp", "eventTime", "created_at"],
}
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda s: s.strip() == s and s[:1] not in "{[")


@st.composite
def generic_events(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    moment = draw(
        st.datetimes(
            min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
        )
    )
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    offset = timezone(timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60))))
    form = draw(st.sampled_from(["iso", "epoch_s", "epoch_ms"]))
    when: Any = {
        "iso": moment.astimezone(offset).isoformat(),
        "epoch_s": moment.timestamp(),
        "epoch_ms": round(moment.timestamp() * 1000),
    }[form]
    values = {"actor": draw(_text), "action": draw(_text), "resource": draw(_text)}
    source: dict[str, Any] = {draw(st.sampled_from(_NAMES["ts"])): when}
    for column, value in values.items():
        name = draw(st.sampled_from(_NAMES[column]))
        if not draw(st.booleans()):
            source[name] = value
        elif column == "action":
            source["event"] = {"action": value}
        else:
            container = draw(st.sampled_from(_NAMES[column][:3]))
            source[container] = {draw(st.sampled_from(["id", "name"])): value}
    return source, {"ts": moment, **values}


@settings(max_examples=60, deadline=None)
@given(generic_events())
def test_any_common_field_name_and_time_form_maps(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    source, expected = case
    row = mapped(source)[0]
    assert {k: row[k] for k in expected} == expected


def test_an_elastic_timestamp_does_not_make_an_event_githubs() -> None:
    row = mapped(
        {"@timestamp": T.isoformat(), "actor": "bob", "action": "db.drop", "resource": "db/x"}
    )[0]
    assert (row["actor"], row["action"], row["resource"]) == ("bob", "db.drop", "db/x")


def test_a_mapping_file_names_the_exports_own_fields(tmp_path: Path) -> None:
    mapping_file = tmp_path / "m.toml"
    mapping_file.write_text(
        '[columns]\nactor = "who.login"\naction = ["op", "verb"]\nts = "when"\n'
    )
    mapping = read_mapping(mapping_file)
    row = mapped(
        {"when": T.isoformat(), "who": {"login": "carol"}, "verb": "push", "actor": "not-me"},
        mapping=mapping,
    )[0]
    assert (row["ts"], row["actor"], row["action"]) == (T, "carol", "push")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[columns]\nnope = 'x'\n", "unknown column 'nope'"),
        ("[other]\n", "no \\[columns\\] table"),
        ("[columns]\nactor = 'a b'\n", "bad field path"),
        ("[columns\n", "not valid TOML"),
    ],
)
def test_a_bad_mapping_file_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    mapping_file = tmp_path / "m.toml"
    mapping_file.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_mapping(mapping_file)


WriteLog = Callable[..., Path]


def test_a_value_starting_with_a_bracket_is_kept() -> None:
    row = mapped({"timestamp": T.isoformat(), "actor": "[bot] deploy", "source_ip": "[::1]:443"})
    assert (row[0]["actor"], row[0]["source_ip"]) == ("[bot] deploy", "[::1]:443")


def test_a_field_that_changes_shape_later_in_a_file_still_maps() -> None:
    early = [{"timestamp": T.isoformat(), "resource": f"db/{i}", "action": "a"} for i in range(600)]
    late = {"timestamp": T.isoformat(), "resource": {"id": "db/late"}, "action": "a"}
    assert mapped(*early, late)[-1]["resource"] == "db/late"


#: Records of every kind a mapping meets: complete, left to the fallback, rejected, blank.
MIXED_RECORDS = [
    orjson.dumps(event).decode()
    for event in (
        {"timestamp": T.isoformat(), "actor": {"id": "u1"}, "action": "a", "resource": "r"},
        {"timestamp": T.isoformat(), "actor": "u2", "action": "b", "outcome": "denied"},
        {"time": T.isoformat(), "user": {"email": "x@y"}, "eventName": "c"},
        {"timestamp": T.isoformat(), "action": "no actor", "principal": {"name": "p"}},
        {"timestamp": T.isoformat(), "action": "nobody at all"},
        {"timestamp": "not a time", "actor": "u3", "action": "d"},
        {"actor": "u4", "action": "e"},
    )
] + ["not JSON {", "[1, 2]", "", "   ", '"a string"']


@pytest.mark.parametrize("with_fallback", [True, False])
def test_one_pass_stores_each_record_once_as_the_mapping_judges_it(with_fallback: bool) -> None:
    """A stream is scanned once, so its rejects ride along among the events and are
    moved out after: every record ends where the mapping's verdict puts it."""
    from auditcli.load import _MOVE_REJECTS, _insert_sql

    sample = [orjson.loads(MIXED_RECORDS[0])]
    adapter = generic.pruned_for(sample) if with_fallback else generic.GENERIC
    fallback = generic.GENERIC if with_fallback else None
    batch = staged(MIXED_RECORDS)
    store = Store.open(":memory:")
    for macro in MACROS:
        store.execute(macro)
    select = mapping_sql(adapter, fallback=fallback)
    columns = "event_id, ts, actor, action, resource, outcome, error, extra, source_line"
    good = store.query_table(
        "batch", batch, f"SELECT {columns} FROM ({select}) WHERE reject_reason IS NULL"
    )
    rejected = store.query_table(
        "batch",
        batch,
        f"SELECT source_line, reject_reason, raw FROM ({select}) "
        "WHERE reject_reason IS NOT NULL AND reject_reason <> 'blank'",
    )
    assert good and rejected

    store.query_table("batch", batch, _insert_sql(select))
    for sql in _MOVE_REJECTS:
        store.execute(sql, [1])
    assert set(store.fetchall(f"SELECT {columns} FROM event_rows")) == set(good)
    assert set(store.fetchall("SELECT source_line, reason, raw FROM reject_rows")) == set(rejected)
    assert store.scalar("SELECT count(*) FROM event_rows") == len(good)


def test_the_second_mapping_maps_only_the_records_the_first_leaves_without_essentials() -> None:
    """It fills the empty columns of a record without a time, an actor or an action,
    and leaves a record that has all three as the first mapping made it."""
    first = JsonAdapter(
        "first", "", {"ts": time_of("t"), "actor": text("who"), "action": text("did")}
    )
    second = JsonAdapter(
        "second",
        "",
        {"actor": text("user"), "action": text("did"), "session_id": "'from the second'"},
    )
    records = [
        orjson.dumps({"t": T.isoformat(), "who": "alice", "did": "read"}).decode(),
        orjson.dumps({"t": T.isoformat(), "user": "bob", "did": "write"}).decode(),
    ]
    rows = map_records(
        records, first, second, "SELECT actor, session_id FROM ({select}) ORDER BY source_line"
    )
    assert rows == [("alice", None), ("bob", "from the second")]


def extracts(sql: str, path: str) -> bool:
    return f"'{json_path(path)}'" in sql


def test_a_path_the_sample_holds_only_objects_at_is_not_extracted() -> None:
    """``"actor": {...}`` in every sampled event: ``$.actor`` would be written out as
    text only to be discarded. An event where it is a string after all is mapped
    again by the full adapter, which takes it."""
    sample = [{"timestamp": T.isoformat(), "actor": {"id": "u1"}, "action": "a"}]
    pruned = generic.pruned_for(sample)
    first_pass = mapping_sql(pruned, fallback=generic.GENERIC).split("first_pass AS")[0]
    assert not extracts(first_pass, "actor") and extracts(first_pass, "actor.id")
    assert "actor" in pruned.retry_when
    records = [orjson.dumps(e).decode() for e in [*sample, {**sample[0], "actor": "bob"}]]
    rows = map_records(
        records, pruned, generic.GENERIC, "SELECT actor FROM ({select}) ORDER BY source_line"
    )
    assert rows == [("u1",), ("bob",)]


def test_an_object_path_followed_by_other_fields_is_still_extracted() -> None:
    """``resource`` is followed by ``target`` among the resource paths: left out, a
    string ``resource`` would lose to ``target``. ``target``, followed by its own
    members only, is left out."""
    sample = [{"timestamp": T.isoformat(), "resource": {"id": "r"}, "target": {"id": "t"}}]
    first_pass = mapping_sql(generic.pruned_for(sample)).split("first_pass AS")[0]
    assert extracts(first_pass, "resource")
    assert not extracts(first_pass, "target") and extracts(first_pass, "target.id")


_containers = st.one_of(
    st.fixed_dictionaries({}, optional={"id": st.just("i"), "name": st.just("n")}),
    st.lists(st.just("e"), max_size=2),
)


def test_an_object_path_whose_members_leave_the_column_empty_is_kept() -> None:
    """``"resource": {"type": ...}`` fills no resource: left out, ``$.resource`` would
    send every event to the second mapping."""
    sample = [{"timestamp": T.isoformat(), "resource": {"type": "bucket"}}]
    pruned = generic.pruned_for(sample)
    assert extracts(mapping_sql(pruned).split("first_pass AS")[0], "resource")
    assert "resource" not in pruned.retry_when


def test_the_status_path_of_an_outcome_is_never_left_out() -> None:
    """A status word decides the outcome before an error does: were ``result`` left
    out, a later ``"result": "success"`` beside an error would read as a failure."""
    candidates = generic.with_user_paths({"outcome": ("result", "result.word")})
    sampled = {"timestamp": T.isoformat(), "actor": "u", "action": "a", "error": "x"}
    records = [
        orjson.dumps({**sampled, "result": {"word": "denied"}}).decode(),
        orjson.dumps({**sampled, "result": "success"}).decode(),
    ]
    pruned = generic.pruned_for([orjson.loads(records[0])], candidates)
    sql = "SELECT outcome FROM ({select}) ORDER BY source_line"
    full = generic.build(candidates)
    assert map_records(records, pruned, full, sql) == [("failure",), ("success",)]


#: Values of every shape a field takes: a string, an object, an array, null.
_shapes = st.one_of(
    st.sampled_from(["x", "success", "", "{not json", "[::1]"]), _containers, st.none()
)
_keys = ["resource", "target", "error", "outcome", "status", "user_agent", "user", "id"]


@st.composite
def sampled_files(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events sharing a set of keys: the sampled ones hold objects and arrays at
    them (what pruning leaves out), the later ones values of every shape."""
    keys = draw(st.lists(st.sampled_from(_keys), min_size=2, max_size=6, unique=True))
    sampled = st.fixed_dictionaries(dict.fromkeys(keys, _containers))
    later = st.fixed_dictionaries(dict.fromkeys(keys, _shapes))
    return draw(st.lists(sampled, min_size=1, max_size=2)), draw(
        st.lists(later, min_size=1, max_size=4)
    )


@settings(max_examples=40, deadline=None)
@given(sampled_files())
@example(  # resource, pruned, would lose to target
    ([{"resource": {"id": "i"}, "target": {}}], [{"resource": "x", "target": {"id": "i"}}])
)
def test_a_pruned_mapping_and_its_fallback_map_as_the_full_one(
    file: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """For a file whose events share the sample's keys, whatever shape each value
    takes. (Each has a time, an actor and an action, which the second mapping would
    otherwise look for in every record.)"""
    sampled, later = (
        [{"timestamp": T.isoformat(), "actor": "u", "action": "a", **event} for event in events]
        for events in file
    )
    records = [orjson.dumps(event).decode() for event in sampled + later]
    sql = f"SELECT {', '.join(COLUMNS)} FROM ({{select}}) ORDER BY source_line"
    full = map_records(records, generic.GENERIC, None, sql)
    assert map_records(records, generic.pruned_for(sampled), generic.GENERIC, sql) == full


@pytest.mark.parametrize(
    "time",
    [
        "99999-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "infinity",
        "-infinity",
        "9999-12-31T23:59:59Z",
    ],
)
def test_a_time_python_cannot_hold_at_every_offset_is_no_time(time: str) -> None:
    """It would be stored, and then fail every output of its event (exit 4)."""
    store = Store.open(":memory:")
    data = io.BytesIO(orjson.dumps({"ts": time, "actor": "x"}) + b"\n")
    load(store, expand(["-"]), LoadOptions(), stdin=data)
    assert store.fetchall("SELECT count(*) FROM events") == [(0,)]
    assert store.fetchall("SELECT reason FROM rejects") == [("no usable timestamp",)]


def test_an_unreadable_time_gives_way_to_the_next_field() -> None:
    [row] = mapped({"time": "99999-01-01T00:00:00Z", "date": T.isoformat(), "actor": "x"})
    assert row["ts"] == T
