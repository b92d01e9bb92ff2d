"""Filters over canonical events, turned into SQL text with bound parameters.

User values never enter SQL text: only column names checked against the schema
and placeholders do. ``--actor``, ``--resource`` and ``--action`` take exact
values or globs (``db/*``, case-sensitive); several values of one option are
alternatives, different options must all hold.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from auditcli.errors import UsageError
from auditcli.schema import (
    CHAIN_COLUMN,
    CHAIN_STATE_SQL,
    OUTPUT_COLUMNS,
    RAW,
    RAW_REF,
    SELECTABLE,
    chain_joins_sql,
)

_GLOB_CHARS = re.compile(r"[*?\[]")
_IPV4_WITH_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d+")
_BRACKETED_WITH_PORT = re.compile(r"\[([^\]]+)\](?::\d+)?")
#: A prefilter literal shorter than this would keep most lines anyway.
_MIN_NEEDLE = 3
#: Every spelling of the ``ffff`` group that an IPv4-mapped IPv6 address
#: (``::ffff:a00:1``, which --ip 10.0.0.1 matches) must contain.
_MAPPED_MARKERS = [bytes(p) for p in itertools.product(*[b"fF"] * 4)]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@dataclass(frozen=True)
class EventFilter:
    """What events to keep; empty fields do not filter."""

    actors: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    outcome: str | None = None
    ips: tuple[str, ...] = ()
    request_ids: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        # A value from the command line may hold bytes that are not UTF-8 (as lone
        # surrogates); they are read as loading reads them in a record: U+FFFD.
        for name in ("actors", "resources", "actions", "ips", "request_ids", "session_ids"):
            values = getattr(self, name)
            object.__setattr__(self, name, tuple(_as_utf8(v) for v in values))

    def is_empty(self) -> bool:
        """True when it keeps every event."""
        return self == EventFilter()

    def value_terms(self) -> list[tuple[str, tuple[str, ...]]]:
        """(column, alternatives) for every option matched by value or glob."""
        terms = [
            ("actor", self.actors),
            ("resource", self.resources),
            ("action", self.actions),
            ("request_id", self.request_ids),
            ("session_id", self.session_ids),
        ]
        return [(column, values) for column, values in terms if values]


def _as_utf8(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def parse_networks(values: Iterable[str]) -> tuple[IpNetwork, ...]:
    """``--ip`` values as networks (a lone address is a /32 or /128)."""
    networks: list[IpNetwork] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError as e:
            raise UsageError(
                f"cannot read IP address or CIDR {value!r}",
                "use an address (203.0.113.7, 2001:db8::1) or a CIDR (10.0.0.0/8)",
            ) from e
        networks.append(network)
        if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
            # ::ffff:203.0.113.7 is 203.0.113.7, however a log writes it
            v4 = int(network.network_address) & 0xFFFFFFFF
            networks.append(ipaddress.IPv4Network((v4, network.prefixlen - 96)))
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = text.strip()
    port = _IPV4_WITH_PORT.fullmatch(value) or _BRACKETED_WITH_PORT.fullmatch(value)
    if port:
        value = port.group(1)
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def matching_addresses(
    candidates: Iterable[str | None], networks: Sequence[IpNetwork]
) -> list[str]:
    """Those of ``candidates`` (source_ip texts as stored) inside any of ``networks``."""
    hits = []
    for text in candidates:
        if text is None:
            continue
        address = _address(text)
        if address is None:
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            mapped: Any = address.ipv4_mapped
            if any(mapped in n for n in networks):
                hits.append(text)
                continue
        if any(address in n for n in networks):
            hits.append(text)
    return hits


def where_clause(
    event_filter: EventFilter, *, ip_matches: Sequence[str] | None = None
) -> tuple[str, list[Any]]:
    """SQL condition and its parameters; ``ip_matches`` are the source_ip texts --ip selects."""
    parts: list[str] = []
    params: list[Any] = []
    for column, values in event_filter.value_terms():
        alternatives = []
        for value in values:
            operator = "GLOB" if _GLOB_CHARS.search(value) else "="
            alternatives.append(f"{column} {operator} ?")
            params.append(value)
        parts.append("(" + " OR ".join(alternatives) + ")")
    if event_filter.outcome is not None:
        parts.append("outcome = ?")
        params.append(event_filter.outcome)
    if event_filter.ips:
        parts.append("list_contains(?, source_ip)")
        params.append(list(ip_matches or []))
    if event_filter.since is not None:
        parts.append("ts >= ?")
        params.append(event_filter.since)
    if event_filter.until is not None:
        parts.append("ts <= ?")
        params.append(event_filter.until)
    return (" AND ".join(parts) if parts else "TRUE"), params


def pushdown_clause(event_filter: EventFilter) -> tuple[str, list[Any]]:
    """The part of the filter that can run while a file is read (all but --ip)."""
    without_ip = EventFilter(**{**event_filter.__dict__, "ips": ()})
    return where_clause(without_ip)


def prefilter_needles(event_filter: EventFilter, verbatim: frozenset[str]) -> list[bytes] | None:
    """Byte strings one of which every matching line must contain, or None.

    Taken from one option on a column the adapter copies verbatim: a line holding
    none of its values (as JSON writes them) cannot match. Lines with ``\\u`` or
    ``\\/`` escapes are always kept, since they may spell a value another way.
    """
    for column, values in event_filter.value_terms():
        if column not in verbatim:
            continue
        literals = [_longest_literal(v) for v in values]
        if any("\ufffd" in lit for lit in literals):
            return None  # it stands for bytes that were not UTF-8: any bytes, in a line
        if all(len(lit) >= _MIN_NEEDLE for lit in literals):
            return [orjson.dumps(lit)[1:-1] for lit in literals]
    if event_filter.ips and "source_ip" in verbatim:
        literals = [ip.strip() for ip in event_filter.ips]
        if all(re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", lit) for lit in literals):
            return [lit.encode() for lit in literals] + _MAPPED_MARKERS
    return None


def _longest_literal(value: str) -> str:
    if not _GLOB_CHARS.search(value):
        return value
    return max(_glob_literals(value), key=len)


def _glob_literals(glob: str) -> list[str]:
    """The runs of ``glob`` that match only themselves, in DuckDB GLOB syntax.

    ``\\`` escapes the next character; a class ``[...]`` may start with ``!`` and
    then ``]`` as a member; an unclosed ``[`` matches nothing, so what follows is moot.
    """
    pieces: list[str] = []
    current: list[str] = []
    position = 0
    while position < len(glob):
        char = glob[position]
        if char == "\\" and position + 1 < len(glob):
            current.append(glob[position + 1])
            position += 2
            continue
        if char not in "*?[\\":
            current.append(char)
            position += 1
            continue
        pieces.append("".join(current))
        current = []
        if char != "[":
            position += 1
            continue
        members = position + 1 + glob.startswith("!", position + 1)
        members += glob.startswith("]", members)
        close = glob.find("]", members)
        if close < 0:
            break
        position = close + 1
    pieces.append("".join(current))
    return pieces


#: What orders events the sort keys leave tied: the same output on every run, and
#: events of one time in the order their files hold them.
TIE_BREAK = (("event_id", False), ("source_file", False), ("source_line", False))


@dataclass(frozen=True)
class Query:
    """A filter plus what to return and in what order."""

    event_filter: EventFilter = field(default_factory=EventFilter)
    fields: tuple[str, ...] = OUTPUT_COLUMNS
    sort: tuple[tuple[str, bool], ...] = (("ts", False), *TIE_BREAK)
    """(column, descending) pairs."""
    limit: int | None = None


def parse_fields(text: str | None) -> tuple[str, ...]:
    """``--fields a,b,c`` checked against the output columns."""
    if text is None:
        return OUTPUT_COLUMNS
    fields = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))  # once each
    if not fields:
        raise UsageError("--fields: no column named", f"columns are: {', '.join(OUTPUT_COLUMNS)}")
    _check_columns(fields, "--fields")
    return fields


def parse_sort(text: str | None) -> tuple[tuple[str, bool], ...]:
    """``--sort ts`` / ``-ts`` / ``actor,-ts``: columns, a leading ``-`` for descending."""
    if text is None:
        return Query.sort
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        descending = part.startswith("-")
        keys.append((part.lstrip("-+"), descending))
    _check_columns([k for k, _ in keys], "--sort")
    if any(k == RAW for k, _ in keys):
        raise UsageError(
            "--sort: cannot sort by raw, the original text", "sort by the columns mapped from it"
        )
    return tuple(keys) + TIE_BREAK


def _check_columns(columns: Iterable[str], option: str) -> None:
    for column in columns:
        if column not in SELECTABLE:
            raise UsageError(
                f"{option}: unknown column {column!r}",
                f"columns are: {', '.join(OUTPUT_COLUMNS)}",
            )


def select_sql(
    query: Query, *, ip_matches: Sequence[str] | None = None, table: str = "events"
) -> tuple[str, list[Any]]:
    """The SELECT for ``query`` over ``table`` and its parameters."""
    condition, params = where_clause(query.event_filter, ip_matches=ip_matches)

    def expression(name: str) -> str:
        if name == CHAIN_COLUMN:
            return CHAIN_STATE_SQL
        return f"_row.{RAW_REF if name == RAW else name}"  # Store.arrow_reader reads the text

    order = ", ".join(f"{expression(c)} {'DESC' if d else 'ASC'} NULLS LAST" for c, d in query.sort)
    chained = CHAIN_COLUMN in query.fields or CHAIN_COLUMN in (c for c, _ in query.sort)
    columns = ", ".join(f"{expression(name)} AS {name}" for name in query.fields)
    joins = chain_joins_sql("_row") if chained else ""
    sql = f"SELECT {columns} FROM {table} AS _row{joins} WHERE {condition} ORDER BY {order}"
    if query.limit is not None:
        sql += " LIMIT ?"
        params.append(query.limit)
    return sql, params


def count_sql(
    event_filter: EventFilter, *, ip_matches: Sequence[str] | None = None, table: str = "events"
) -> tuple[str, list[Any]]:
    """SELECT count(*) of the events ``event_filter`` keeps."""
    condition, params = where_clause(event_filter, ip_matches=ip_matches)
    return f"SELECT count(*) FROM {table} WHERE {condition}", params
