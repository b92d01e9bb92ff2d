"""Time and duration parsing: every accepted form, zones and DST, and the errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditcli.errors import UsageError
from auditcli.timeutil import (
    DURATION_FORMS,
    TIME_FORMS,
    format_short,
    format_ts,
    parse_duration,
    parse_time,
    zone,
    zone_label,
)

NOW = datetime(2026, 3, 12, 14, 2, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-12T14:02:00Z",
        "2026-03-12T14:02Z",
        "2026-03-12 14:02:00Z",
        "2026-03-12T14:02:00+00:00",
        "2026-03-12T15:02:00+01:00",
        "2026-03-12T15:02+01:00",
        "2026-03-12T09:02:00-05:00",
        "2026-03-12T19:32:00+05:30",
        "2026-03-13T00:02:00+10:00",
        "  2026-03-12T14:02:00Z  ",
    ],
)
def test_iso_times_with_z_or_an_offset_are_the_same_instant(text: str) -> None:
    parsed = parse_time(text, now=NOW, tz=BERLIN)
    assert parsed == utc(2026, 3, 12, 14, 2)
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("fraction", "microsecond"),
    [
        (".4", 400_000),
        (".48", 480_000),
        (".482", 482_000),
        (".4829", 482_900),
        (".482917", 482_917),
        (".4829171", 482_917),
        (".482917999", 482_917),
        (",482", 482_000),
    ],
)
def test_iso_fractions_of_any_precision_are_read_to_the_microsecond(
    fraction: str, microsecond: int
) -> None:
    parsed = parse_time(f"2026-03-12T14:02:11{fraction}Z", now=NOW)
    assert parsed == utc(2026, 3, 12, 14, 2, 11, microsecond)


def test_naive_times_are_read_in_the_given_zone() -> None:
    assert parse_time("2026-03-12T14:02:00", now=NOW, tz=BERLIN) == utc(2026, 3, 12, 13, 2)
    assert parse_time("2026-03-12T14:02:00", now=NOW, tz=NEW_YORK) == utc(2026, 3, 12, 18, 2)


def test_naive_times_default_to_utc() -> None:
    assert parse_time("2026-03-12T14:02:00", now=NOW) == utc(2026, 3, 12, 14, 2)


def test_a_naive_time_in_a_zone_with_its_own_offset_wins_over_the_zone() -> None:
    assert parse_time("2026-03-12T14:02:00Z", now=NOW, tz=NEW_YORK) == utc(2026, 3, 12, 14, 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Europe/Berlin springs forward on 2026-03-29 at 02:00 CET -> 03:00 CEST.
        ("2026-03-29T01:30", utc(2026, 3, 29, 0, 30)),
        ("2026-03-29T03:30", utc(2026, 3, 29, 1, 30)),
        ("2026-03-29T12:00", utc(2026, 3, 29, 10, 0)),
        # ... and falls back on 2026-10-25 at 03:00 CEST -> 02:00 CET.
        ("2026-10-25T01:30", utc(2026, 10, 24, 23, 30)),
        ("2026-10-25T12:00", utc(2026, 10, 25, 11, 0)),
    ],
)
def test_naive_times_on_dst_transition_days_use_the_offset_in_force(
    text: str, expected: datetime
) -> None:
    assert parse_time(text, now=NOW, tz=BERLIN) == expected


def test_a_bare_date_is_local_midnight() -> None:
    assert parse_time("2026-03-12", now=NOW) == utc(2026, 3, 12)
    assert parse_time("2026-03-12", now=NOW, tz=BERLIN) == utc(2026, 3, 11, 23)
    assert parse_time("2026-03-12", now=NOW, tz=NEW_YORK) == utc(2026, 3, 12, 4)


def test_bare_dates_around_dst_changes_span_23_and_25_hour_days() -> None:
    spring = parse_time("2026-03-30", now=NOW, tz=BERLIN) - parse_time(
        "2026-03-29", now=NOW, tz=BERLIN
    )
    autumn = parse_time("2026-11-02", now=NOW, tz=NEW_YORK) - parse_time(
        "2026-11-01", now=NOW, tz=NEW_YORK
    )
    assert spring == timedelta(hours=23)
    assert autumn == timedelta(hours=25)
    assert parse_time("2026-03-29", now=NOW, tz=BERLIN) == utc(2026, 3, 28, 23)
    assert parse_time("2026-03-30", now=NOW, tz=BERLIN) == utc(2026, 3, 29, 22)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1773324120", utc(2026, 3, 12, 14, 2)),
        ("1773324120.5", utc(2026, 3, 12, 14, 2, 0, 500_000)),
        ("1773324120482", utc(2026, 3, 12, 14, 2, 0, 482_000)),
        ("1773324120001", utc(2026, 3, 12, 14, 2, 0, 1_000)),
        ("946684800", utc(2000, 1, 1)),
    ],
)
def test_epoch_seconds_and_milliseconds(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW, tz=BERLIN) == expected


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("2H", timedelta(hours=2)),
        ("0s", timedelta(0)),
    ],
)
def test_a_duration_means_that_long_before_now(text: str, ago: timedelta) -> None:
    assert parse_time(text, now=NOW, tz=BERLIN) == NOW - ago


def test_now_is_the_injected_clock_in_utc() -> None:
    clock = datetime(2026, 3, 12, 15, 2, tzinfo=BERLIN)
    assert parse_time("now", now=clock) == utc(2026, 3, 12, 14, 2)
    assert parse_time(" NOW ", now=clock).tzinfo is UTC


def test_today_and_yesterday_are_midnights_of_the_clock_date_in_the_zone() -> None:
    late = utc(2026, 3, 12, 23, 30)  # already 2026-03-13 in Berlin
    assert parse_time("today", now=late) == utc(2026, 3, 12)
    assert parse_time("yesterday", now=late) == utc(2026, 3, 11)
    assert parse_time("today", now=late, tz=BERLIN) == utc(2026, 3, 12, 23)
    assert parse_time("Yesterday", now=late, tz=BERLIN) == utc(2026, 3, 11, 23)


def test_today_on_a_dst_change_day_is_that_days_local_midnight() -> None:
    clock = utc(2026, 3, 29, 12)
    assert parse_time("today", now=clock, tz=BERLIN) == utc(2026, 3, 28, 23)
    assert parse_time("yesterday", now=clock, tz=BERLIN) == utc(2026, 3, 27, 23)
    after = utc(2026, 3, 30, 12)
    assert parse_time("yesterday", now=after, tz=BERLIN) == utc(2026, 3, 28, 23)
    assert parse_time("today", now=after, tz=BERLIN) == utc(2026, 3, 29, 22)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("1h30m", 5400),
        ("3d", 259_200),
        ("1w", 604_800),
        ("1d12h", 129_600),
        (" 2H ", 7200),
        ("1w2d3h4m5s", 604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5),
    ],
)
def test_parse_duration_forms(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    ["", "15", "15x", "1.5h", "-5m", "h", "1h 30m", "15 minutes", "P1D", "1y"],
)
def test_bad_durations_raise_usage_error_naming_the_forms(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_duration(text)
    assert repr(text) in caught.value.message
    assert caught.value.hint == f"use {DURATION_FORMS}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "soon",
        "tomorrow",
        "2026-13-01",
        "2026-02-30",
        "2026-03-12T25:00Z",
        "12:00",
        "2026",
        "12345678",
        "-1773324120",
        "15x",
        "1.5h",
        "2026-03-12T14:02:00+25:00",
        "2026/03/12",
    ],
)
def test_bad_times_raise_usage_error_naming_the_accepted_forms(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_time(text, now=NOW)
    assert repr(text) in caught.value.message
    assert caught.value.hint == f"use {TIME_FORMS}"
    for form in ("ISO 8601", "epoch seconds", "duration", "now", "today", "yesterday"):
        assert form in TIME_FORMS


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "9999999999999999", "99999999999w"],
)
def test_times_out_of_range_are_usage_errors_not_crashes(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_time(text, now=NOW)
    assert repr(text) in caught.value.message


def test_a_duration_too_long_to_represent_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_duration("99999999999999w")


@given(
    st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.timezones() | st.just(UTC),
    ),
    st.sampled_from(["T", " "]),
)
def test_any_aware_isoformat_parses_back_to_the_same_instant(value: datetime, sep: str) -> None:
    offset = value.utcoffset()
    assert offset is not None
    # The instant the text names; ``==`` would call times in a DST gap unequal (PEP 495).
    instant = (value.replace(tzinfo=None) - offset).replace(tzinfo=UTC)
    parsed = parse_time(value.isoformat(sep=sep), now=NOW, tz=NEW_YORK)
    assert parsed == instant
    assert parsed.utcoffset() == timedelta(0)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(_UNITS))), min_size=1))
def test_any_duration_built_from_parts_parses_to_its_seconds(
    parts: list[tuple[int, str]],
) -> None:
    text = "".join(f"{n}{unit}" for n, unit in parts)
    seconds = sum(n * _UNITS[unit] for n, unit in parts)
    assert parse_duration(text).total_seconds() == seconds
    assert parse_time(text, now=NOW) == NOW - timedelta(seconds=seconds)


def test_format_ts_writes_z_and_microseconds_only_when_present() -> None:
    assert format_ts(utc(2026, 3, 12, 14, 2, 11)) == "2026-03-12T14:02:11Z"
    assert format_ts(utc(2026, 3, 12, 14, 2, 11, 1)) == "2026-03-12T14:02:11.000001Z"
    assert format_ts(utc(2026, 3, 12, 14, 2), BERLIN) == "2026-03-12T15:02:00+01:00"


def test_format_short_is_milliseconds_in_the_zone() -> None:
    value = utc(2026, 3, 12, 14, 2, 11, 482_917)
    assert format_short(value) == "2026-03-12 14:02:11.482"
    assert format_short(value, BERLIN) == "2026-03-12 15:02:11.482"


def test_zone_names() -> None:
    assert zone(None) is UTC
    assert zone("utc") is UTC
    assert zone("Europe/Berlin") == BERLIN
    assert zone_label(UTC) == "UTC"
    assert zone_label(BERLIN) == "Europe/Berlin"
    with pytest.raises(UsageError) as caught:
        zone("Mars/Olympus")
    assert "Mars/Olympus" in caught.value.message
    assert caught.value.hint is not None and "IANA" in caught.value.hint


def test_a_time_the_zone_shows_twice_carries_its_offset() -> None:
    berlin = zone("Europe/Berlin")
    first = datetime(2026, 10, 25, 0, 15, tzinfo=UTC)  # 02:15 summer time
    second = datetime(2026, 10, 25, 1, 15, tzinfo=UTC)  # 02:15 again, winter time
    assert format_short(first, berlin) == "2026-10-25 02:15:00.000 +02:00"
    assert format_short(second, berlin) == "2026-10-25 02:15:00.000 +01:00"
    assert format_short(datetime(2026, 10, 25, 3, 0, tzinfo=UTC), berlin) == (
        "2026-10-25 04:00:00.000"
    )
    assert format_short(first) == "2026-10-25 00:15:00.000"
