"""Filters to SQL: bound parameters, globs, time bounds, IPs, and the line prefilter."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditcli.errors import UsageError
from auditcli.ingest.framing import Batch, LinePrefilter, frame
from auditcli.ingest.generic import GENERIC
from auditcli.ingest.sources import STDIN_NAME, SourceRef
from auditcli.load import LoadOptions, load
from auditcli.query import (
    EventFilter,
    Query,
    count_sql,
    matching_addresses,
    parse_fields,
    parse_networks,
    parse_sort,
    prefilter_needles,
    pushdown_clause,
    select_sql,
    where_clause,
)
from auditcli.schema import CHAIN_STATE_SQL, OUTPUT_COLUMNS
from auditcli.store import Store
from tests.conftest import event, jsonl, stored_rows

INJECTION = "x' OR 1=1 --"
T0 = datetime(2026, 3, 12, 14, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def loaded(data: bytes, options: LoadOptions | None = None) -> Store:
    """An in-memory store holding ``data`` read as standard input."""
    store = Store.open(":memory:")
    refs = [SourceRef(STDIN_NAME, None, None)]
    load(store, refs, options or LoadOptions(), stdin=io.BytesIO(data))
    return store


def selected(
    store: Store, event_filter: EventFilter, fields: tuple[str, ...] = ("event_id",)
) -> list[tuple[Any, ...]]:
    """Rows ``event_filter`` selects, the way the filter command runs it."""
    ip_matches = None
    networks = parse_networks(event_filter.ips)
    if networks:
        stored = store.fetchall("SELECT DISTINCT source_ip FROM events")
        ip_matches = matching_addresses((row[0] for row in stored), networks)
    sql, params = select_sql(Query(event_filter=event_filter, fields=fields), ip_matches=ip_matches)
    return stored_rows(store, sql, params)


def ids(store: Store, event_filter: EventFilter) -> list[str]:
    return [row[0] for row in selected(store, event_filter)]


@pytest.fixture(scope="module")
def incident() -> Iterator[Store]:
    """A small store with varied actors, resources, actions, outcomes, IPs and times."""
    events = [
        event(
            id="e1",
            actor="alice",
            resource="db/orders",
            action="db.query",
            timestamp=iso(T0 - US),
            source_ip="10.0.0.1",
        ),
        event(
            id="e2",
            actor="alice",
            resource="db/users",
            action="db.delete",
            timestamp=iso(T0),
            source_ip="10.0.0.2:5555",
            outcome="failure",
        ),
        event(
            id="e3",
            actor="bob",
            resource="dbx/orders",
            action="db.query",
            timestamp=iso(T0 + timedelta(minutes=1)),
            source_ip="::ffff:10.9.9.9",
        ),
        event(
            id="e4",
            actor="carol",
            resource="files/db/x",
            action="s3.get",
            timestamp=iso(T0 + timedelta(minutes=2)),
            source_ip="203.0.113.7",
        ),
        event(
            id="e5",
            actor="Alice",
            resource="DB/orders",
            action="db.query",
            timestamp=iso(T0 + timedelta(minutes=5)),
            source_ip="2001:db8::1",
            outcome="denied",
        ),
        event(
            id="e6",
            actor=INJECTION,
            resource="db/secret",
            action="db.query",
            timestamp=iso(T0 + timedelta(minutes=5) + US),
            source_ip="2001:DB8:0::2",
        ),
        event(
            id="e7",
            actor="dave",
            resource="d",
            action="login",
            timestamp=iso(T0 + timedelta(hours=1)),
            source_ip=None,
        ),
    ]
    store = loaded(jsonl(events))
    yield store
    store.close()


def test_user_values_never_enter_the_sql_text() -> None:
    event_filter = EventFilter(
        actors=(INJECTION, "db/*"),
        resources=("r'; DROP TABLE event_rows; --",),
        actions=('a"b',),
        outcome="failure' OR '1'='1",
        ips=("10.0.0.1",),
        request_ids=("req'1",),
        session_ids=("sess;2",),
        since=T0,
        until=T0 + US,
    )
    sql, params = select_sql(Query(event_filter=event_filter, limit=5), ip_matches=["10.0.0.1"])
    for value in (INJECTION, "db/*", "r'; DROP", 'a"b', "failure'", "req'1", "sess;2", "10.0.0.1"):
        assert value not in sql
    fixed = sql.replace(CHAIN_STATE_SQL, "")  # auditcli's own literals
    assert "'" not in fixed and ";" not in fixed and '"' not in fixed
    assert params == [
        INJECTION,
        "db/*",
        "r'; DROP TABLE event_rows; --",
        'a"b',
        "req'1",
        "sess;2",
        "failure' OR '1'='1",
        ["10.0.0.1"],
        T0,
        T0 + US,
        5,
    ]
    assert sql.count("?") == len(params)


def test_an_injection_string_as_actor_matches_only_that_literal_actor(incident: Store) -> None:
    assert ids(incident, EventFilter(actors=("x' OR 1=1",))) == []
    assert ids(incident, EventFilter(actors=("' OR '1'='1",))) == []
    assert ids(incident, EventFilter(actors=(INJECTION,))) == ["e6"]
    assert incident.scalar("SELECT count(*) FROM events") == 7


def test_an_injection_string_matches_nothing_in_a_store_without_it() -> None:
    store = loaded(jsonl([event(id="a", actor="alice"), event(id="b", actor="bob")]))
    assert ids(store, EventFilter(actors=(INJECTION,))) == []
    assert ids(store, EventFilter(resources=(INJECTION,), actions=(INJECTION,))) == []
    assert store.scalar("SELECT count(*) FROM events") == 2


def test_no_filter_selects_everything_in_time_order(incident: Store) -> None:
    assert where_clause(EventFilter()) == ("TRUE", [])
    assert ids(incident, EventFilter()) == ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]


def test_a_glob_matches_by_pattern_case_sensitively(incident: Store) -> None:
    assert ids(incident, EventFilter(resources=("db/*",))) == ["e1", "e2", "e6"]
    assert ids(incident, EventFilter(resources=("db/user?",))) == ["e2"]
    assert ids(incident, EventFilter(resources=("*db/*",))) == ["e1", "e2", "e4", "e6"]
    assert ids(incident, EventFilter(actors=("[ab]*",))) == ["e1", "e2", "e3"]


def test_a_value_without_glob_characters_matches_exactly(incident: Store) -> None:
    assert ids(incident, EventFilter(actors=("alice",))) == ["e1", "e2"]
    assert ids(incident, EventFilter(actors=("alic",))) == []
    sql, _ = where_clause(EventFilter(actors=("alice",), resources=("db/*",)))
    assert sql == "(actor = ?) AND (resource GLOB ?)"


def test_repeated_values_of_one_option_are_alternatives(incident: Store) -> None:
    assert ids(incident, EventFilter(actors=("alice", "bob"))) == ["e1", "e2", "e3"]
    assert ids(incident, EventFilter(actors=("carol", "db/*", "nobody"))) == ["e4"]


def test_different_options_must_all_hold(incident: Store) -> None:
    both = EventFilter(actors=("alice", "bob"), actions=("db.query",))
    assert ids(incident, both) == ["e1", "e3"]
    assert ids(incident, EventFilter(actors=("alice",), actions=("s3.get",))) == []


def test_outcome_filters_on_the_normalised_outcome(incident: Store) -> None:
    assert ids(incident, EventFilter(outcome="failure")) == ["e2", "e5"]
    assert ids(incident, EventFilter(outcome="success")) == ["e1", "e3", "e4", "e6", "e7"]
    assert ids(incident, EventFilter(outcome="unknown")) == []


def test_since_and_until_are_inclusive_at_both_ends(incident: Store) -> None:
    window = EventFilter(since=T0, until=T0 + timedelta(minutes=5))
    assert ids(incident, window) == ["e2", "e3", "e4", "e5"]
    assert ids(incident, EventFilter(since=T0 + timedelta(minutes=5) + US)) == ["e6", "e7"]
    assert ids(incident, EventFilter(until=T0 - US)) == ["e1"]
    assert ids(incident, EventFilter(since=T0, until=T0)) == ["e2"]


def test_count_sql_counts_what_select_sql_selects(incident: Store) -> None:
    event_filter = EventFilter(actors=("alice", "bob"), since=T0)
    sql, params = count_sql(event_filter)
    assert incident.scalar(sql, params) == len(ids(incident, event_filter)) == 2


def test_select_sql_honours_fields_sort_and_a_bound_limit(incident: Store) -> None:
    query = Query(
        event_filter=EventFilter(actions=("db.query",)),
        fields=("actor", "event_id"),
        sort=parse_sort("-ts"),
        limit=2,
    )
    sql, params = select_sql(query)
    assert sql.startswith(
        "SELECT _row.actor AS actor, _row.event_id AS event_id FROM events AS _row WHERE"
    )
    assert sql.endswith(
        "ORDER BY _row.ts DESC NULLS LAST, _row.event_id ASC NULLS LAST,"
        " _row.source_file ASC NULLS LAST, _row.source_line ASC NULLS LAST LIMIT ?"
    )
    assert params == ["db.query", 2]
    assert incident.fetchall(sql, params) == [(INJECTION, "e6"), ("Alice", "e5")]


# --- IP addresses -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "candidates", "hits"),
    [
        (
            "10.0.0.0/8",
            [
                "10.1.2.3",
                "10.0.0.1:5555",
                "::ffff:10.9.9.9",
                "::FFFF:a00:1",
                "11.0.0.1",
                "2001:db8::1",
                "not an ip",
                "",
            ],
            ["10.1.2.3", "10.0.0.1:5555", "::ffff:10.9.9.9", "::FFFF:a00:1"],
        ),
        (
            "203.0.113.7",
            [
                "203.0.113.7",
                "203.0.113.70",
                "203.0.113.7:443",
                "::ffff:203.0.113.7",
                "203.0.113.8",
                "[203.0.113.7]",
            ],
            ["203.0.113.7", "203.0.113.7:443", "::ffff:203.0.113.7", "[203.0.113.7]"],
        ),
        (
            "::ffff:203.0.113.0/120",
            ["203.0.113.7", "::ffff:203.0.113.9", "[203.0.113.5]:443", "203.0.114.1", "::1"],
            ["203.0.113.7", "::ffff:203.0.113.9", "[203.0.113.5]:443"],
        ),
        (
            "2001:db8::1",
            [
                "2001:db8::1",
                "2001:DB8:0:0::1",
                "2001:db8::2",
                "[2001:db8::1]:443",
                "[2001:db8::1]",
                "10.0.0.1",
            ],
            ["2001:db8::1", "2001:DB8:0:0::1", "[2001:db8::1]:443", "[2001:db8::1]"],
        ),
        (
            "2001:db8::/32",
            ["2001:db8:ffff::7", "2001:db9::1", "10.0.0.1"],
            ["2001:db8:ffff::7"],
        ),
        (
            "10.0.0.1/8",
            ["10.255.255.255", "9.255.255.255"],
            ["10.255.255.255"],
        ),
    ],
)
def test_matching_addresses_by_cidr_or_single_address(
    wanted: str, candidates: list[str], hits: list[str]
) -> None:
    assert matching_addresses([*candidates, None], parse_networks([wanted])) == hits


def test_several_ip_values_are_alternatives() -> None:
    networks = parse_networks(["10.0.0.1", "192.168.0.0/16"])
    assert matching_addresses(["10.0.0.1", "10.0.0.2", "192.168.4.4"], networks) == [
        "10.0.0.1",
        "192.168.4.4",
    ]


@pytest.mark.parametrize("bad", ["10.0.0.256", "10.0.0.0/33", "example.com", "", "10.0.0.1:80"])
def test_unreadable_ip_values_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_networks([bad])
    assert repr(bad) in caught.value.message
    assert caught.value.hint is not None and "CIDR" in caught.value.hint


def test_ip_filters_run_against_a_store(incident: Store) -> None:
    assert ids(incident, EventFilter(ips=("10.0.0.0/8",))) == ["e1", "e2", "e3"]
    assert ids(incident, EventFilter(ips=("10.0.0.2",))) == ["e2"]
    assert ids(incident, EventFilter(ips=("10.9.9.9",))) == ["e3"]
    assert ids(incident, EventFilter(ips=("2001:db8::/64",))) == ["e5", "e6"]
    assert ids(incident, EventFilter(ips=("192.0.2.0/24",))) == []
    assert ids(incident, EventFilter(ips=("10.0.0.0/8",), actors=("bob",))) == ["e3"]


def test_an_ip_filter_without_matches_binds_an_empty_list() -> None:
    sql, params = where_clause(EventFilter(ips=("10.0.0.1",)))
    assert sql == "list_contains(?, source_ip)"
    assert params == [[]]


def test_pushdown_leaves_out_only_the_ip_condition() -> None:
    event_filter = EventFilter(actors=("alice",), ips=("10.0.0.1",), since=T0)
    assert pushdown_clause(event_filter) == ("(actor = ?) AND ts >= ?", ["alice", T0])


# --- --fields and --sort ----------------------------------------------------------


def test_parse_fields_reads_known_columns_in_the_given_order() -> None:
    assert parse_fields(None) == OUTPUT_COLUMNS
    assert parse_fields(" actor , ts,") == ("actor", "ts")
    for nothing in ("", ",", " , "):  # an empty variable in a script: say so, not all
        with pytest.raises(UsageError, match="--fields: no column named"):
            parse_fields(nothing)


@pytest.mark.parametrize("text", ["actor,bogus", "ACTOR", "actor FROM events --", "*", "ts;x"])
def test_parse_fields_rejects_unknown_columns_naming_them(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_fields(text)
    assert caught.value.message.startswith("--fields: unknown column")
    assert caught.value.hint is not None and "event_id" in caught.value.hint


def test_parse_sort_reads_directions_and_always_ends_with_the_tie_break() -> None:
    tie = (("event_id", False), ("source_file", False), ("source_line", False))
    assert parse_sort(None) == (("ts", False), *tie)
    assert parse_sort("-ts") == (("ts", True), *tie)
    assert parse_sort("actor, -ts") == (("actor", False), ("ts", True), *tie)
    assert parse_sort("+actor") == (("actor", False), *tie)


def test_fields_named_twice_are_output_once() -> None:
    assert parse_fields("ts,actor,ts, raw,raw") == ("ts", "actor", "raw")


@pytest.mark.parametrize("text", ["bogus", "-bogus", "ts DESC", "ts;drop"])
def test_parse_sort_rejects_unknown_columns(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_sort(text)
    assert caught.value.message.startswith("--sort: unknown column")


# --- the line prefilter -----------------------------------------------------------

VERBATIM = GENERIC.verbatim


def test_prefilter_needles_are_values_as_json_writes_them() -> None:
    needles = prefilter_needles(EventFilter(actors=('a"b\\c', "zoë")), VERBATIM)
    assert needles == [b'a\\"b\\\\c', "zoë".encode()]


def test_a_value_with_bytes_that_are_not_utf8_reads_as_loading_reads_them() -> None:
    typed = b"ab\x9bc".decode("utf-8", "surrogateescape")  # as Python gets it from argv
    event_filter = EventFilter(actors=(typed,))
    assert event_filter.actors == ("ab\ufffdc",)
    # A line holds the bytes, not U+FFFD: no byte search can find it.
    assert prefilter_needles(event_filter, VERBATIM) is None


def test_prefilter_needles_use_the_longest_literal_run_of_a_glob() -> None:
    assert prefilter_needles(EventFilter(resources=("db/*",)), VERBATIM) == [b"db/"]
    assert prefilter_needles(EventFilter(resources=("a*orders?x",)), VERBATIM) == [b"orders"]
    assert prefilter_needles(EventFilter(actors=("ab\\*cd",)), VERBATIM) == [b"ab*cd"]
    assert prefilter_needles(EventFilter(actors=("[]a]bcd",)), VERBATIM) == [b"bcd"]
    assert prefilter_needles(EventFilter(actors=("[!]x]yzw*",)), VERBATIM) == [b"yzw"]
    assert prefilter_needles(EventFilter(actors=("abc[def",)), VERBATIM) == [b"abc"]


def test_prefilter_is_off_when_any_literal_is_too_short_or_no_column_is_verbatim() -> None:
    assert prefilter_needles(EventFilter(actors=("alice", "*b*")), VERBATIM) is None
    assert prefilter_needles(EventFilter(actors=("alice",)), frozenset()) is None
    assert prefilter_needles(EventFilter(outcome="failure", since=T0), VERBATIM) is None


def test_prefilter_takes_the_first_option_that_gives_needles() -> None:
    event_filter = EventFilter(actors=("*",), resources=("db/orders",), ips=("10.0.0.1",))
    assert prefilter_needles(event_filter, VERBATIM) == [b"db/orders"]


def test_prefilter_on_ipv4_addresses_also_keeps_ipv4_mapped_ipv6_spellings() -> None:
    needles = prefilter_needles(EventFilter(ips=("10.0.0.1", "10.0.0.2")), VERBATIM)
    assert needles is not None
    assert needles[:2] == [b"10.0.0.1", b"10.0.0.2"]
    for spelling in (b"::ffff:a00:1", b"::FFFF:A00:1", b"0:0:0:0:0:fFfF:0a00:0001"):
        assert any(n in spelling for n in needles)
    assert prefilter_needles(EventFilter(ips=("10.0.0.0/8",)), VERBATIM) is None
    assert prefilter_needles(EventFilter(ips=("2001:db8::1",)), VERBATIM) is None


#: Events read before the needles are set, in both shapes the tests use
#: (plain strings, and the ``{"id": ...}`` objects of ``event()``), so the adapter
#: chosen from them maps every later event the same way a whole-file load does.
_PADDING_EVENTS = [
    event(id=f"pad-{i}", source_ip="192.0.2.1")
    if i % 2
    else event(id=f"pad-{i}", actor="padding-actor", resource="padding", source_ip="192.0.2.1")
    for i in range(4)
]
PADDING_HEAD = jsonl(_PADDING_EVENTS[:2])
PADDING = PADDING_HEAD + jsonl(_PADDING_EVENTS[2:])


class _Pieces:
    """A stream whose reads return the given pieces one at a time, like short reads."""

    def __init__(self, *pieces: bytes) -> None:
        self._pieces = [p for p in pieces if p]

    def read(self, size: int = -1) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


def load_prefiltered(data: bytes, event_filter: EventFilter) -> tuple[Store, int]:
    """Load ``PADDING + data`` with the line prefilter on for ``data``, as on a big file.

    ``load`` sets the needles once the first batch has chosen the adapter; with
    32 MiB chunks a small file is one batch, so the prefilter would never run.
    Here framing sees the padding as its first batch and ``data`` as its second.
    Returns the store and how many records of ``data`` framing kept.
    """
    kept = 0

    def two_batches(stream: BinaryIO, prefilter: LinePrefilter | None = None) -> Iterator[Batch]:
        nonlocal kept
        assert prefilter is not None
        whole = stream.read()
        assert whole.startswith(PADDING)
        pieces = _Pieces(PADDING_HEAD, PADDING[len(PADDING_HEAD) :], whole[len(PADDING) :])
        batches = frame(pieces, prefilter=prefilter)  # type: ignore[arg-type]
        first = next(batches)
        assert first.raw.to_pylist() == PADDING.decode().splitlines()
        yield first
        prefilter.needles = prefilter_needles(event_filter, VERBATIM)
        for batch in batches:
            kept += len(batch)
            yield batch

    with mock.patch("auditcli.load.frame", two_batches):
        store = loaded(PADDING + data, LoadOptions(event_filter=event_filter))
    return store, kept


ROW_FIELDS = ("event_id", "actor", "resource", "action", "source_ip", "source_line", "raw")


def assert_prefilter_agrees(data: bytes, event_filter: EventFilter) -> int:
    """A prefiltered, pushed-down load selects what SQL over everything selects."""
    everything = loaded(PADDING + data)
    prefiltered, kept = load_prefiltered(data, event_filter)
    try:
        expected = selected(everything, event_filter, ROW_FIELDS)
        assert selected(prefiltered, event_filter, ROW_FIELDS) == expected
        if not event_filter.ips:
            columns = ", ".join(ROW_FIELDS[:-1])
            stored = stored_rows(
                prefiltered, f"SELECT {columns}, raw_ref AS raw FROM events ORDER BY ts, event_id"
            )
            assert stored == expected
        return kept
    finally:
        everything.close()
        prefiltered.close()


def test_a_filtered_load_stores_only_the_matching_events() -> None:
    events = [event(id=f"bob-{i}", actor="bob") for i in range(5)]
    events.insert(2, event(id="hit", actor="alice", source_ip="10.0.0.9"))
    event_filter = EventFilter(actors=("alice",), ips=("10.0.0.0/8",))
    store = loaded(jsonl(events), LoadOptions(event_filter=event_filter))
    assert store.fetchall("SELECT event_id, source_line FROM events") == [("hit", 3)]
    assert ids(store, event_filter) == ["hit"]
    assert store.scalar("SELECT count(*) FROM rejects") == 0


def test_prefilter_drops_lines_that_cannot_match_and_keeps_those_that_can() -> None:
    events = [event(id=f"bob-{i}", actor="bob") for i in range(40)]
    events.insert(20, event(id="hit", actor="alice"))
    kept = assert_prefilter_agrees(jsonl(events), EventFilter(actors=("alice",)))
    assert kept == 1


def test_prefilter_keeps_values_spelled_with_escapes() -> None:
    lines = [
        b'{"id":"u","timestamp":"2026-03-12T14:00:00Z","actor":"\\u0061lice","action":"x"}\n',
        b'{"id":"s","timestamp":"2026-03-12T14:00:00Z","actor":"db\\/orders","action":"x"}\n',
        b'{"id":"e","timestamp":"2026-03-12T14:00:00Z","actor":"zo\\u00eb","action":"x"}\n',
        b'{"id":"q","timestamp":"2026-03-12T14:00:00Z","actor":"say \\"hi\\\\","action":"x"}\n',
        jsonl([event(id="plain", actor="carol", resource="r/x")]),
    ]
    event_filter = EventFilter(actors=("alice", "db/*", "zoë", 'say "hi\\'))
    kept = assert_prefilter_agrees(b"".join(lines), event_filter)
    assert kept == 4
    store, _ = load_prefiltered(b"".join(lines), event_filter)
    assert ids(store, EventFilter()) == ["e", "q", "s", "u"]


def test_prefilter_keeps_ipv4_mapped_addresses_written_in_hex() -> None:
    events = [
        event(id="hex", source_ip="::ffff:a00:1"),
        event(id="upper", source_ip="::FFFF:A00:1"),
        event(id="plain", source_ip="10.0.0.1:443"),
        event(id="other", source_ip="10.0.0.2"),
    ]
    event_filter = EventFilter(ips=("10.0.0.1",))
    assert_prefilter_agrees(jsonl(events), event_filter)
    store, _ = load_prefiltered(jsonl(events), event_filter)
    assert sorted(ids(store, event_filter)) == ["hex", "plain", "upper"]


def test_prefilter_reads_glob_escapes_and_classes_as_duckdb_does() -> None:
    pairs = [("ab*cd", "ab\\*cd"), ("]bcd", "[]a]bcd"), ("xyzw", "[!]a]yzw"), ("a?bcd", "a\\?bcd")]
    events = [event(id=f"hit-{i}", actor=actor) for i, (actor, _) in enumerate(pairs)]
    events.append(event(id="miss", actor="zzzz"))
    event_filter = EventFilter(actors=tuple(glob for _, glob in pairs))
    assert_prefilter_agrees(jsonl(events), event_filter)
    store, _ = load_prefiltered(jsonl(events), event_filter)
    assert ids(store, event_filter) == ["hit-0", "hit-1", "hit-2", "hit-3"]


_CHARS = st.sampled_from(
    [
        "a",
        "b",
        "c",
        "/",
        '"',
        "\\",
        "'",
        "é",
        "漢",
        "🙂",
        "*",
        "?",
        "[",
        "]",
        "!",
        " ",
        "\u2028",
        "\x01",
        "\n",
    ]
)
_VALUES = st.text(_CHARS, min_size=1, max_size=6)


def _encode(record: dict[str, Any], style: str) -> bytes:
    if style == "ascii":
        return json.dumps(record, ensure_ascii=True).encode()
    if style == "slashes":
        return orjson.dumps(record).replace(b"/", b"\\/")
    return orjson.dumps(record)


@st.composite
def _globs(draw: st.DrawFn, values: list[str]) -> str:
    value = draw(st.sampled_from(values))
    cut = draw(st.integers(0, len(value)))
    shape = draw(st.sampled_from(["exact", "prefix", "suffix", "middle", "random"]))
    if shape == "prefix":
        return value[:cut] + "*"
    if shape == "suffix":
        return "*" + value[cut:]
    if shape == "middle":
        return value[:cut] + "?" + value[cut + 1 :]
    if shape == "random":
        return draw(_VALUES)
    return value


@st.composite
def _cases(draw: st.DrawFn) -> tuple[bytes, EventFilter]:
    rows = draw(
        st.lists(
            st.tuples(_VALUES, _VALUES, _VALUES, st.sampled_from(["orjson", "ascii", "slashes"])),
            min_size=1,
            max_size=8,
        )
    )
    lines = []
    for index, (actor, resource, action, style) in enumerate(rows):
        record = event(id=f"e{index}", actor=actor, resource=resource, action=action)
        lines.append(_encode(record, style) + b"\n")
    column = draw(st.sampled_from(["actors", "resources", "actions"]))
    source = [row[("actors", "resources", "actions").index(column)] for row in rows]
    wanted = draw(st.lists(_globs(source), min_size=1, max_size=3))
    event_filter = EventFilter(**{column: tuple(wanted)})  # type: ignore[arg-type]
    if draw(st.booleans()):
        extra = draw(st.sampled_from(["actors", "resources", "actions"]))
        if extra != column:
            event_filter = EventFilter(**{column: tuple(wanted), extra: (draw(_VALUES),)})  # type: ignore[arg-type]
    return b"".join(lines), event_filter


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_cases())
def test_prefiltered_loads_select_exactly_what_sql_over_everything_selects(
    case: tuple[bytes, EventFilter],
) -> None:
    data, event_filter = case
    assert_prefilter_agrees(data, event_filter)
