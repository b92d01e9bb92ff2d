"""Timeline: windows, seeds and pivots, markers, collapsing, gaps, formats, the story."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import Result

from auditcli.ingest.sources import expand
from auditcli.load import load
from auditcli.query import EventFilter
from auditcli.render import timeline as render_timeline
from auditcli.store import Store
from auditcli.timeline import (
    SensitiveRule,
    Timeline,
    TimelineRequest,
    build,
    collapse_runs,
    window_around_event,
    window_at,
    window_between,
)
from auditcli.timeutil import EARLIEST, LATEST, parse_time, zone
from tests.conftest import SAMPLE_LOGS, event, jsonl

Run = Callable[..., Result]
T0 = datetime(2026, 3, 12, 14, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def store_with(*events: dict[str, Any]) -> Store:
    store = Store.open(":memory:")
    load(store, expand(["-"]), stdin=io.BytesIO(jsonl(events)))
    return store


def rows(timeline: Timeline) -> list[dict[str, Any]]:
    return timeline.rows.to_pylist()


def test_window_is_inclusive_at_both_ends() -> None:
    store = store_with(
        event(id="before", timestamp=at(-15.001)),
        event(id="start", timestamp=at(-15)),
        event(id="end", timestamp=at(15)),
        event(id="after", timestamp=at(15.001)),
    )
    window = window_at(T0, timedelta(minutes=15), timedelta(minutes=15))
    assert [r["event_id"] for r in rows(build(store, TimelineRequest(window)))] == ["start", "end"]


def test_a_naive_time_in_a_zone_across_dst_gives_the_right_utc_window() -> None:
    berlin = zone("Europe/Berlin")
    # 2026-03-29 02:00 CET jumps to 03:00 CEST: 03:30 local is 01:30 UTC.
    centre = parse_time("2026-03-29T03:30", now=T0, tz=berlin)
    window = window_at(centre, timedelta(hours=1), timedelta(hours=1))
    assert window.start == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert window.end == datetime(2026, 3, 29, 2, 30, tzinfo=UTC)
    # In local time the window spans 01:30 CET to 04:30 CEST: three wall-clock hours.
    assert window.start.astimezone(berlin).hour == 1 and window.end.astimezone(berlin).hour == 4


def test_since_after_until_is_a_usage_error() -> None:
    from auditcli.errors import UsageError

    with pytest.raises(UsageError, match="--until is before --since"):
        window_between(T0, T0 - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("at", "before", "after"),
    [
        (T0, timedelta(days=999_999_999), timedelta(days=999_999_999)),
        (datetime(9999, 12, 31, 23, 59, tzinfo=UTC), timedelta(0), timedelta(days=1)),
        (datetime(1, 1, 1, tzinfo=UTC), timedelta(days=1), timedelta(0)),
    ],
)
def test_a_window_past_the_times_python_holds_stops_at_their_ends(
    at: datetime, before: timedelta, after: timedelta
) -> None:
    window = window_at(at, before, after)
    assert EARLIEST <= window.start <= window.centre <= window.end <= LATEST
    for moment in (window.start, window.centre, window.end):
        moment.astimezone(zone("Pacific/Kiritimati")).astimezone(zone("Etc/GMT+12"))


def test_a_window_of_any_length_shows(run: Run) -> None:
    result = run(
        "timeline",
        str(SAMPLE_LOGS),
        "--at",
        "2026-03-12T14:04Z",
        "--window",
        "999999999d",
        "-f",
        "table",
        "--tz",
        "Asia/Tokyo",
    )
    assert result.exit_code == 0, result.stderr
    assert "events" in result.stdout


def test_around_centres_on_the_event_and_marks_it() -> None:
    store = store_with(event(id="a", timestamp=at(-1)), event(id="x", timestamp=at(0)))
    window = window_around_event(store, "x", timedelta(minutes=5), timedelta(minutes=5))
    assert window.centre == T0
    result = rows(build(store, TimelineRequest(window)))
    assert [(r["event_id"], r["offset_s"], "centre" in r["markers"]) for r in result] == [
        ("a", -60.0, False),
        ("x", 0.0, True),
    ]


def test_around_an_id_several_events_carry_marks_only_the_first() -> None:
    store = store_with(
        event(id="dup", timestamp=at(1), actor="later"),
        event(id="dup", timestamp=at(0), actor="first"),
        event(id="dup", timestamp=at(0), actor="same-time"),
    )
    window = window_around_event(store, "dup", timedelta(minutes=5), timedelta(minutes=5))
    assert (window.centre, window.centre_matches) == (T0, 3)
    result = rows(build(store, TimelineRequest(window)))
    assert [r["actor"] for r in result if "centre" in r["markers"]] == ["first"]
    header = render_timeline.summary_lines(build(store, TimelineRequest(window)), UTC)[0]
    assert "(event dup: the first of 3 with this id)" in header


def test_a_folded_run_that_ends_on_another_day_shows_that_date(
    run: Run, write_log: Callable[..., Path]
) -> None:
    path = write_log(
        "days.jsonl",
        [
            event(id=f"e{i}", timestamp=when, action="read")
            for i, when in enumerate(
                ["2026-03-10T08:00:00Z", "2026-03-10T09:00:00Z", "2026-03-12T09:00:00Z"]
            )
        ],
    )
    md = run("timeline", path, "--since", "2026-03-10", "--until", "2026-03-13", "-f", "markdown")
    assert "read ×2 (→2026-03-12 09:00:00)" in md.stdout


def test_seeds_and_one_hop_say_why_each_row_is_included() -> None:
    store = store_with(
        event(
            id="seed",
            timestamp=at(0),
            actor="mallory",
            resource="db/orders",
            source_ip="203.0.113.7",
            session_id="s-m",
            request_id="r-1",
        ),
        event(
            id="same-resource",
            timestamp=at(1),
            actor="alice",
            resource="db/orders",
            source_ip="10.0.0.2",
            session_id="s-a",
            request_id="r-2",
        ),
        event(
            id="same-actor",
            timestamp=at(2),
            actor="mallory",
            resource="bucket/x",
            source_ip="10.9.9.9",
            session_id="s-m2",
            request_id="r-3",
        ),
        event(
            id="same-ip",
            timestamp=at(3),
            actor="bob",
            resource="repo/y",
            source_ip="203.0.113.7",
            session_id="s-b",
            request_id="r-4",
        ),
        event(
            id="two-hops",
            timestamp=at(4),
            actor="alice",
            resource="db/payroll",
            source_ip="10.0.0.2",
            session_id="s-a2",
            request_id="r-5",
        ),
        event(
            id="unrelated",
            timestamp=at(5),
            actor="carol",
            resource="db/other",
            source_ip="10.1.1.1",
            session_id="s-c",
            request_id="r-6",
        ),
    )
    window = window_at(T0, timedelta(minutes=10), timedelta(minutes=10))
    seeds = EventFilter(actors=("mallory",), resources=("db/orders",))
    seeded = {
        r["event_id"]: r["included_because"]
        for r in rows(build(store, TimelineRequest(window, seeds)))
    }
    assert seeded == {"seed": "seed"}
    one_hop = build(store, TimelineRequest(window, seeds, hops=1))
    assert {r["event_id"]: r["included_because"] for r in rows(one_hop)} == {
        "seed": "seed",
        "same-resource": "via resource db/orders",
        "same-actor": "via actor mallory",
        "same-ip": "via ip 203.0.113.7",
    }
    two_hops = {
        r["event_id"]: r["included_because"]
        for r in rows(build(store, TimelineRequest(window, seeds, hops=2)))
    }
    assert two_hops["two-hops"] == "via actor alice"
    assert "unrelated" not in two_hops


def test_pivots_through_shared_request_and_session_ids() -> None:
    store = store_with(
        event(
            id="seed",
            timestamp=at(0),
            actor="a",
            resource="r1",
            source_ip="1.1.1.1",
            session_id="sess-9",
            request_id="req-1",
        ),
        event(
            id="session",
            timestamp=at(1),
            actor="b",
            resource="r2",
            source_ip="2.2.2.2",
            session_id="sess-9",
            request_id="req-2",
        ),
        event(
            id="request",
            timestamp=at(2),
            actor="c",
            resource="r3",
            source_ip="3.3.3.3",
            session_id="sess-7",
            request_id="req-1",
        ),
    )
    window = window_at(T0, timedelta(minutes=5), timedelta(minutes=5))
    result = build(store, TimelineRequest(window, EventFilter(request_ids=("req-1",)), hops=1))
    assert {r["event_id"]: r["included_because"] for r in rows(result)} == {
        "seed": "seed",
        "request": "seed",
        "session": "via session sess-9",
    }


def test_markers_flag_failures_first_sightings_and_sensitive_actions() -> None:
    store = store_with(
        event(
            id="old",
            timestamp="2026-03-01T00:00:00Z",
            actor="svc",
            source_ip="10.0.0.1",
            user_agent="agent/1",
            resource="db/a",
            action="db.read",
        ),
        event(
            id="new-ip",
            timestamp=at(0),
            actor="svc",
            source_ip="203.0.113.7",
            user_agent="agent/1",
            resource="db/a",
            action="db.read",
        ),
        event(
            id="new-ua",
            timestamp=at(1),
            actor="svc",
            source_ip="10.0.0.1",
            user_agent="curl/8",
            resource="db/a",
            action="db.read",
        ),
        event(
            id="new-res",
            timestamp=at(2),
            actor="svc",
            source_ip="10.0.0.1",
            user_agent="agent/1",
            resource="role/admin",
            action="iam.role.grant",
        ),
        event(
            id="newcomer",
            timestamp=at(3),
            actor="eve",
            source_ip="10.0.0.1",
            user_agent="agent/1",
            resource="db/a",
            action="db.export",
            outcome="failure",
        ),
        event(
            id="plain",
            timestamp=at(4),
            actor="svc",
            source_ip="10.0.0.1",
            user_agent="agent/1",
            resource="db/a",
            action="db.read",
        ),
    )
    window = window_at(T0, timedelta(minutes=5), timedelta(minutes=5))
    markers = {r["event_id"]: r["markers"] for r in rows(build(store, TimelineRequest(window)))}
    assert markers == {
        "new-ip": ["new-ip"],
        "new-ua": ["new-user-agent"],
        "new-res": ["new-resource", "sensitive:permission"],
        "newcomer": [
            "failure",
            "first-seen-actor",
            "new-ip",
            "new-user-agent",
            "new-resource",
            "sensitive:export",
        ],
        "plain": [],
    }


def test_first_time_is_judged_against_everything_loaded_not_the_window() -> None:
    store = store_with(event(id="early", timestamp="2026-01-01T00:00:00Z", actor="x"))
    load(
        store,
        expand(["-"]),
        stdin=io.BytesIO(jsonl([event(id="later", timestamp=at(0), actor="x")])),
    )
    window = window_at(T0, timedelta(minutes=1), timedelta(minutes=1))
    assert rows(build(store, TimelineRequest(window)))[0]["markers"] == []


def test_an_earlier_sighting_loaded_later_takes_the_first_time_marker_away() -> None:
    store = store_with(event(id="now", timestamp=at(0), actor="x", source_ip="10.0.0.9"))
    window = window_at(T0, timedelta(minutes=1), timedelta(minutes=1))
    assert "new-ip" in rows(build(store, TimelineRequest(window)))[0]["markers"]
    older = event(id="older", timestamp="2026-01-01T00:00:00Z", actor="x", source_ip="10.0.0.9")
    load(store, expand(["-"]), stdin=io.BytesIO(jsonl([older])))
    assert rows(build(store, TimelineRequest(window)))[0]["markers"] == []
    # one row per key, in time order
    assert store.scalar("SELECT count(*) = count(DISTINCT key) FROM first_seen")
    times = [row[0] for row in store.fetchall("SELECT first_ts FROM first_seen")]
    assert times == sorted(times)


def test_first_sightings_kept_once_per_load_by_an_older_auditcli_are_compacted() -> None:
    store = store_with(
        event(id="old", timestamp=at(-60), actor="x", source_ip="10.0.0.1"),
        event(id="new", timestamp=at(0), actor="x", source_ip="10.0.0.2"),
    )
    # what an older auditcli left after a second load of the same events
    store.execute("INSERT INTO first_seen SELECT key, first_ts + INTERVAL 1 DAY FROM first_seen")
    store.execute("DELETE FROM meta WHERE key = 'first_seen_layout'")
    window = window_at(T0, timedelta(minutes=1), timedelta(minutes=1))
    assert rows(build(store, TimelineRequest(window)))[0]["markers"] == ["new-ip"]
    assert store.scalar("SELECT count(*) = count(DISTINCT key) FROM first_seen")
    assert store.scalar("SELECT value FROM meta WHERE key = 'first_seen_layout'")


def test_first_sightings_survive_a_duckdb_whose_hash_differs() -> None:
    store = store_with(
        event(id="old", timestamp=at(-60), actor="x", source_ip="10.0.0.1"),
        event(id="new", timestamp=at(0), actor="x", source_ip="10.0.0.2"),
    )
    window = window_at(T0, timedelta(minutes=1), timedelta(minutes=1))
    assert rows(build(store, TimelineRequest(window)))[0]["markers"] == ["new-ip"]
    # keys written by a DuckDB that hashed differently: rebuilt, not silently unmatched
    store.execute("UPDATE first_seen SET key = key + 1")
    store.execute("UPDATE meta SET value = 'other' WHERE key = 'first_seen_probe'")
    assert rows(build(store, TimelineRequest(window)))[0]["markers"] == ["new-ip"]
    assert store.scalar("SELECT value FROM meta WHERE key = 'first_seen_probe'") != "other"


def test_sensitive_rules_can_be_replaced() -> None:
    store = store_with(event(id="e", timestamp=at(0), action="secret.peek"))
    window = window_at(T0, timedelta(minutes=1), timedelta(minutes=1))
    rules = (SensitiveRule("snooping", "*.PEEK"),)
    result = rows(build(store, TimelineRequest(window, sensitive=rules)))
    assert "sensitive:snooping" in result[0]["markers"]


def test_runs_of_identical_events_by_one_actor_collapse() -> None:
    base = {
        "action": "storage.read",
        "resource": "bucket/x",
        "outcome": "success",
        "source_ip": "1.1.1.1",
        "markers": [],
        "included_because": "seed",
    }
    reads = [{**base, "actor": "eve", "ts": T0 + timedelta(seconds=i)} for i in range(400)]
    other = {**base, "actor": "bob", "ts": T0 + timedelta(seconds=100)}
    different = {
        **base,
        "actor": "eve",
        "action": "storage.list",
        "ts": T0 + timedelta(seconds=500),
    }
    again = {**base, "actor": "eve", "ts": T0 + timedelta(seconds=501)}
    stream = sorted([*reads, other, different, again], key=lambda r: r["ts"])
    runs = collapse_runs(stream)
    assert [(r.row["actor"], r.row["action"], r.count) for r in runs] == [
        ("eve", "storage.read", 400),
        ("bob", "storage.read", 1),
        ("eve", "storage.list", 1),
        ("eve", "storage.read", 1),
    ]
    assert runs[0].last_ts == T0 + timedelta(seconds=399)
    assert len(collapse_runs(stream, enabled=False)) == 403


def test_gap_lines_call_out_quiet_stretches() -> None:
    store = store_with(event(id="a", timestamp=at(-10)), event(id="b", timestamp=at(-3)))
    window = window_at(T0, timedelta(minutes=15), timedelta(minutes=15))
    lines = list(render_timeline.lines(build(store, TimelineRequest(window)), collapse=True))
    assert [line.text for line in lines if line.kind == "gap"] == ["… 7 min quiet …"]


def _sample_store() -> Store:
    store = Store.open(":memory:")
    load(store, expand([str(SAMPLE_LOGS)]))
    return store


def test_the_sample_incident_timeline_tells_the_story() -> None:
    from tests.sample_logs_facts import facts

    story = facts()
    store = _sample_store()
    centre = datetime.fromisoformat(story["grant_at"])
    window = window_at(centre, timedelta(minutes=15), timedelta(minutes=15))
    result = build(store, TimelineRequest(window, EventFilter(ips=(story["attacker_ip"],)), hops=1))
    by_id = {r["event_id"]: r for r in rows(result)}
    first = by_id[story["first_event_id"]]
    assert {"new-ip", "new-user-agent"} <= set(first["markers"])
    assert "sensitive:permission" in by_id[story["grant_event_id"]]["markers"]
    assert "sensitive:credential" in by_id[story["key_create_event_id"]]["markers"]
    actions = [(r["actor"], r["action"], r["markers"]) for r in rows(result)]
    assert any(a == "data.export" and "sensitive:export" in m for _, a, m in actions)
    assert any(a == "audit.trail.delete" and "sensitive:logging" in m for _, a, m in actions)
    reads = [
        r
        for r in rows(result)
        if r["resource"] == story["export_resource"] and r["action"] == "storage.read"
    ]
    assert len(reads) == story["export_read_events"]
    runs = collapse_runs(rows(result))
    assert max(r.count for r in runs) >= 50
    assert any(r["included_because"].startswith("via ") for r in rows(result))


def test_timeline_cli_table_markdown_html_and_jsonl(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    args = [
        "timeline",
        str(SAMPLE_LOGS),
        "--at",
        "2026-03-12T14:04Z",
        "--ip",
        "203.0.113.7",
        "--window",
        "30m",
    ]
    table = run(*args, "-f", "table")
    assert table.exit_code == 0, table.stderr
    assert "▲ centre" in table.stdout and "★ip" in table.stdout
    assert "storage.read ×" in table.stdout
    md = run(*args, "-f", "markdown")
    assert md.stdout.startswith("**Timeline** 2026-03-12 13:49:00.000 → 2026-03-12 14:19:00.000")
    assert "| time | offset | actor |" in md.stdout
    page = tmp_path / "incident.html"
    assert run(*args, "-o", page).exit_code == 0
    text = page.read_text()
    assert (
        text.startswith("<!DOCTYPE html>")
        and "<svg" in text
        and "http" not in text.replace("http://www.w3.org/2000/svg", "").replace("http-equiv", "")
    )
    for fmt, row in (("markdown", r"\n\| \d"), ("html", r'<tr class="(?!gap|group)[^"]*"><td>')):
        limited = run(*args, "-f", fmt, "--limit", "3").stdout
        assert len(re.findall(row, limited)) == 3 and "showing 3 of " in limited
    lines = [orjson.loads(x) for x in run(*args, "-f", "jsonl").stdout.splitlines()]
    assert len(lines) == 422
    assert {"offset_s", "markers", "included_because", "ts", "actor"} <= set(lines[0])
    assert isinstance(lines[0]["offset_s"], float) and isinstance(lines[0]["markers"], list)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "say when the timeline is"),
        (["--at", "x"], "cannot read time 'x'"),
        (["--at", "now", "--window", "30m", "--before", "5m"], "do not go together"),
        (["--around", "no-such-id"], "no event with id 'no-such-id'"),
        (["--at", "now", "--before", "5 minutes"], "cannot read duration"),
        (["--at", "now", "--since", "1h", "--until", "now"], "--at and --since/--until each"),
        (["--around", "x", "--at", "now"], "--at and --around each say when"),
        (["--since", "1h", "--until", "now", "--window", "5m"], "go with --at or --around"),
    ],
)
def test_timeline_usage_errors(run: Run, args: list[str], message: str) -> None:
    result = run("timeline", str(SAMPLE_LOGS), *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_table_renders_with_no_color_and_hostile_text(
    run: Run, write_log: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    path = write_log("e.jsonl", [event(actor="\x1b[2J[red]x[/red]", timestamp=at(0))])
    result = run("timeline", path, "--at", at(0), "-f", "table")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert "\\e[2J[red]x[/red]" in result.stdout


def test_render_table_uses_the_given_console() -> None:
    store = store_with(event(id="a", timestamp=at(0)))
    result = build(
        store, TimelineRequest(window_at(T0, timedelta(minutes=1), timedelta(minutes=1)))
    )
    console = Console(file=io.StringIO(), width=120, color_system=None)
    assert render_timeline.write_table(result, console, UTC, collapse=True, max_rows=10) == 1


def test_a_narrow_terminal_leaves_out_what_is_shown_elsewhere_not_the_names() -> None:
    store = store_with(
        event(
            id="a",
            timestamp=at(0),
            actor="svc-deploy@corp.example",
            action="iam.role.grant",
            resource="role/production-admin",
            outcome="failure",
        )
    )
    result = build(
        store, TimelineRequest(window_at(T0, timedelta(minutes=1), timedelta(minutes=1)))
    )

    def header(width: int) -> str:
        console = Console(file=io.StringIO(), width=width, color_system=None)
        render_timeline.write_table(result, console, UTC, collapse=True, max_rows=10)
        text = console.file.getvalue()  # type: ignore[attr-defined]
        return next(line for line in text.splitlines() if line.startswith("time"))

    wide, narrow = header(200).split(), header(80).split()
    assert wide == list(render_timeline.HEADERS)
    assert narrow[:4] == ["time", "actor", "action", "resource"] and "markers" in narrow
    assert "outcome" not in narrow and "offset" not in narrow
    # columns go in a fixed order, only as far as needed
    row = ["14:02:11.482", "-00:01:40", "a" * 16, "b" * 16, "c" * 16, "failure", "ip", "", "w"]
    fit = render_timeline.columns_that_fit
    assert fit([row], 200) == list(range(9))
    assert len(fit([row], 114)) == 9  # 106 columns wide and 8 spaces between
    names = [render_timeline.HEADERS[i] for i in fit([row], 113)]
    assert names == ["time", "offset", "actor", "action", "resource", "ip", "markers", "why"]
    names = [render_timeline.HEADERS[i] for i in fit([row], 100)]
    assert names == ["time", "actor", "action", "resource", "ip", "markers", "why"]
    assert len(fit([row], 40)) == 5  # never fewer than time, names and markers
