"""Time and duration parsing for user input, and time-zone lookup.

Accepted time forms (``--since``, ``--until``, ``--at``): ISO 8601 with an offset
or ``Z``; a naive ISO time or bare date (read in the given zone, UTC by default);
epoch seconds (``1710000000``, milliseconds when 13 digits); a duration meaning
that long ago (``15m``, ``2h``, ``3d``, ``1h30m``); ``now``, ``today``, ``yesterday``.
The clock is passed in so callers and tests decide what "now" is.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from auditcli.errors import UsageError

TIME_FORMS = (
    "ISO 8601 (2026-03-12T14:02:00Z, 2026-03-12T15:02+01:00), a date (2026-03-12), "
    "epoch seconds (1773324120), a duration ago (15m, 2h, 3d, 1h30m), now, today, yesterday"
)
DURATION_FORMS = "a duration such as 90s, 15m, 2h, 1h30m, 3d or 1w"

#: The earliest and latest times auditcli keeps or shows: Python's range, a day in
#: from each end, so that a time can be shown at any zone's offset.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:(\d+)([smhdw]))+")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_EPOCH = re.compile(r"\d{9,16}(?:\.\d+)?")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def zone(name: str | None) -> tzinfo:
    """The time zone called ``name`` (IANA name, ``UTC``, or ``local``), UTC when None."""
    if name is None or name.upper() in ("UTC", "Z"):
        return UTC
    if name == "local":
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only a named zone needs it

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise UsageError(
            f"unknown time zone {name!r}",
            "use an IANA name such as Europe/Berlin, or UTC",
        ) from e


def within_range(moment: datetime, shift: timedelta = timedelta(0)) -> datetime:
    """``moment + shift``, held within ``EARLIEST`` .. ``LATEST``."""
    try:
        shifted = moment + shift
    except OverflowError:
        return LATEST if shift > timedelta(0) else EARLIEST
    return min(max(shifted, EARLIEST), LATEST)


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``15m``, ``2h``, ``1h30m``, ``3d``, ``1w`` into a timedelta."""
    value = text.strip().lower()
    if not _DURATION.fullmatch(value):
        raise UsageError(f"cannot read duration {text!r}", f"use {DURATION_FORMS}")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    try:
        return timedelta(seconds=seconds)
    except OverflowError as e:
        raise UsageError(f"duration {text!r} is too long", f"use {DURATION_FORMS}") from e


def parse_time(text: str, *, now: datetime, tz: tzinfo = UTC) -> datetime:
    """Parse a user-given time into an aware UTC datetime; naive times are in ``tz``."""
    try:
        return _parse_time(text, now, tz)
    except (OverflowError, ValueError) as e:
        raise UsageError(f"time {text!r} is out of range", f"use {TIME_FORMS}") from e


def _parse_time(text: str, now: datetime, tz: tzinfo) -> datetime:
    value = text.strip()
    lowered = value.lower()
    if lowered == "now":
        return now.astimezone(UTC)
    if lowered in ("today", "yesterday"):
        local_day = now.astimezone(tz).date()
        if lowered == "yesterday":
            local_day -= timedelta(days=1)
        return _start_of_day(local_day, tz)
    if _DURATION.fullmatch(lowered):
        return now.astimezone(UTC) - parse_duration(lowered)
    if _EPOCH.fullmatch(value):
        seconds = float(value)
        if seconds >= 1e11:
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, UTC)
    parsed = _parse_iso(value)
    if parsed is None:
        raise UsageError(f"cannot read time {text!r}", f"use {TIME_FORMS}")
    if isinstance(parsed, datetime):
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC)
    return _start_of_day(parsed, tz)


def _parse_iso(value: str) -> datetime | date | None:
    if len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", value))
    except ValueError:
        return None


def _start_of_day(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def format_ts(value: datetime, tz: tzinfo = UTC) -> str:
    """ISO 8601 with microseconds where present; ``Z`` for UTC."""
    local = value.astimezone(tz)
    text = local.isoformat(timespec="microseconds" if local.microsecond else "seconds")
    return text.replace("+00:00", "Z") if tz is UTC else text


def format_short(value: datetime, tz: tzinfo = UTC) -> str:
    """``2026-03-12 14:02:11.482`` in ``tz``: for tables whose header names the zone.

    A time the zone's clock shows twice (the hour repeated when summer time ends)
    gets its UTC offset, ``2026-10-25 02:15:00.000 +01:00``: else it reads twice.
    """
    local = value.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        offset = local.strftime("%z")
        text += f" {offset[:3]}:{offset[3:]}"
    return text


def zone_label(tz: tzinfo) -> str:
    """A short name for a zone: ``UTC``, ``Europe/Berlin``."""
    return "UTC" if tz is UTC else str(getattr(tz, "key", None) or tz)
