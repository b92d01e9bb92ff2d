"""A case's pseudonym state in its database: the key, and the values tokens stand for.

Owns the ``pseudonym_key`` row of ``meta`` (hex of 32 random bytes, created on first
use, so every command on one database gives one person one token), the names looked
for inside text when pseudonymising (``known_values``: distinct actors and user
agents, and names only rejects hold), and mapping a token back (``reveal``) by
pseudonymising the database's own values until one gives the token: no table of
tokens is stored. Never prints, never reads the environment.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import replace

import pyarrow as pa

from auditcli.errors import StoreError
from auditcli.ingest.tabular import header_readings
from auditcli.privacy.apply import MIN_KNOWN_CHARS
from auditcli.privacy.csvrows import row_cells
from auditcli.privacy.pseudonyms import KEY_BYTES, MIN_KEY_BYTES, Pseudonymizer, actor_kind, new_key
from auditcli.query import EventFilter
from auditcli.schema import RAW, RAW_REF
from auditcli.store import Store

META_KEY = "pseudonym_key"
#: A pseudonym token as written in output.
TOKEN = re.compile(r"(?:user|email|ip|phone|agent):[0-9a-f]{16}")
_GLOB_CHARS = re.compile(r"[*?\[]")
#: Where tokens of emails, addresses and phones may have come from, beyond the columns.
_TEXT_COLUMNS = ("actor", "source_ip", "resource", "error", "extra", RAW)
#: A cheap test (DuckDB regex) for text that may hold a value of each kind.
_MAY_HOLD = {
    "email": "@",
    "ip": r"[0-9]\.[0-9]|:[0-9A-Fa-f]*:",
    "phone": r"[0-9][ .()-]?[0-9]",
}


def case_key(store: Store, *, create: bool) -> bytes | None:
    """The database's pseudonym key; made and stored on first use when ``create``."""
    stored = store.scalar("SELECT value FROM meta WHERE key = ?", [META_KEY])
    if stored is None and create:
        store.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT DO NOTHING", [META_KEY, new_key().hex()]
        )
        stored = store.scalar("SELECT value FROM meta WHERE key = ?", [META_KEY])
    if stored is None:
        return None
    try:
        key = bytes.fromhex(stored)
    except ValueError as e:
        raise StoreError(f"{store.path}: the stored pseudonym key is not hex") from e
    if len(key) < MIN_KEY_BYTES:
        raise StoreError(
            f"{store.path}: the stored pseudonym key is {len(key)} bytes; "
            f"expected {KEY_BYTES} random bytes"
        )
    return key


def known_values(store: Store) -> dict[str, str]:
    """Distinct actors and user agents, each with the kind of token it gets; and the
    names rejects hold (``reject_names``)."""
    known: dict[str, str] = {}
    for (agent,) in store.fetchall("SELECT DISTINCT user_agent FROM events"):
        if agent and len(agent) >= MIN_KNOWN_CHARS:
            known[agent] = "agent"
    for actor in (
        *(actor for (actor,) in store.fetchall("SELECT DISTINCT actor FROM events")),
        *sorted(reject_names(store)),
    ):
        if actor and len(actor) >= MIN_KNOWN_CHARS:
            known.setdefault(actor, actor_kind(actor))
    return known


@functools.cache
def _person_fields() -> frozenset[str]:
    """Where a reject's text names a person, case folded (a spreadsheet's ``Username``
    too): the last part of the generic adapter's actor fields (``user``, ``username``,
    ``email``...), less ``name`` and ``id``, which name much else too. (The adapters are
    imported only when pseudonymising.)"""
    from auditcli.ingest.generic import CANDIDATES

    last_parts = {path.rsplit(".", 1)[-1].casefold() for path in CANDIDATES["actor"]}
    return frozenset(last_parts - {"name", "id"})


def reject_names(store: Store) -> set[str]:
    """The names rejects hold under a person's field: a JSON member's string (found
    leniently: a reject is not JSON) or a CSV row's cell under such a column (by its
    file's header, read each way it may be: ``tabular.header_readings``). When every
    event of someone was rejected, their name is nowhere else in the case, so these
    would be shown in clear."""
    fields = _person_fields()
    member = '"(?i:' + "|".join(map(re.escape, sorted(fields))) + r')"\s*:\s*"([^"\\]{1,200})"'
    names = {
        name
        for (name,) in store.fetchall(
            "SELECT DISTINCT unnest(regexp_extract_all(raw, ?, 1)) FROM reject_rows", [member]
        )
        if name
    }
    headers = "SELECT source_id, header, delimiter FROM csv_headers"
    for source_id, header, loaded_by in store.fetchall(headers):
        for delimiter, cells in header_readings(header, loaded_by):
            names |= _rejected_cells(store, source_id, delimiter, cells, fields)
    return names


def _rejected_cells(
    store: Store, source_id: int, delimiter: str, cells: tuple[str, ...], fields: frozenset[str]
) -> set[str]:
    """The cells under person columns of a CSV source's rejected rows, read by
    ``delimiter`` into columns named ``cells``."""
    columns = [name.strip().rsplit(".", 1)[-1].casefold() for name in cells]
    wanted = [i for i, column in enumerate(columns) if column in fields]
    if not wanted:
        return set()
    names: set[str] = set()
    # rows without a quote are split in bulk; the others as masking reads them
    split = ", ".join(f"string_split(raw, $1)[{i + 1}]" for i in wanted)
    for row in store.fetchall(
        f"SELECT DISTINCT {split} FROM reject_rows"
        " WHERE source_id = $2 AND NOT contains(raw, '\"')",
        [delimiter, source_id],
    ):
        names.update(cell for cell in row if cell)
    for (raw,) in store.fetchall(
        "SELECT raw FROM reject_rows WHERE source_id = ? AND contains(raw, '\"')",
        [source_id],
    ):
        quoted = row_cells(raw, delimiter)
        names.update(quoted[i] for i in wanted if i < len(quoted) and quoted[i])
    return names


class _Finder(Pseudonymizer):
    """The pseudonymiser itself, noting the values behind one token as it finds them."""

    def __init__(self, key: bytes, wanted: str) -> None:
        super().__init__(key)
        self.wanted = wanted
        self.found: list[str] = []

    def token(self, kind: str, value: str) -> str:
        made = super().token(kind, value)
        if made == self.wanted and value not in self.found:
            self.found.append(value)
        return made


def reveal(store: Store, key: bytes, token: str) -> str | None:
    """The value in ``store`` whose token under ``key`` is ``token``, or None."""
    found = values_of(store, key, token)
    return found[0] if found else None


def values_of(store: Store, key: bytes, token: str) -> list[str]:
    """The values in ``store`` whose token under ``key`` is ``token``: every spelling
    an actor, address or user agent has (an email in any case), else the first one
    found inside the text columns (a scan: slower)."""
    finder = _Finder(key, token)
    kind = token.partition(":")[0]
    for column, candidate_kinds in (
        ("actor", ("user", "email", "ip")),
        ("source_ip", ("ip",)),
        ("user_agent", ("agent",)),
    ):
        if kind in candidate_kinds:
            for (value,) in store.fetchall(f"SELECT DISTINCT {column} FROM events"):
                if value:
                    finder.column(column, value)
            if column == "actor":
                for value in sorted(reject_names(store)):
                    finder.column(column, value)
    if finder.found or kind not in _MAY_HOLD:
        return finder.found
    for text in _texts(store, _MAY_HOLD[kind]):
        finder.free_text(text)
        if finder.found:
            return finder.found
    return []


def _texts(store: Store, pattern: str) -> Iterator[str]:
    for column in _TEXT_COLUMNS:
        if column == RAW:
            yield from _matching_raw_texts(store, pattern)
            continue
        reader = store.arrow_reader(
            f"SELECT DISTINCT {column} FROM events WHERE regexp_matches({column}, ?)", [pattern]
        )
        for batch in reader:
            for value in batch.column(0).to_pylist():
                if value:
                    yield value


def _matching_raw_texts(store: Store, pattern: str, batch_rows: int = 8192) -> Iterator[str]:
    """The original texts that ``pattern`` matches: read a batch at a time from where
    the store keeps them, and searched by DuckDB as the other columns are."""
    refs = store.arrow_reader(f"SELECT {RAW_REF} FROM events ORDER BY 1").read_all().column(0)
    sql = f"SELECT DISTINCT {RAW} FROM texts WHERE regexp_matches({RAW}, ?)"
    for start in range(0, len(refs), batch_rows):
        texts = store.texts.fetch(refs.slice(start, batch_rows).combine_chunks())
        for (value,) in store.query_table("texts", pa.table({RAW: texts}), sql, [pattern]):
            if value:
                yield value


def has_tokens(event_filter: EventFilter) -> bool:
    """True when a value of ``--actor``, ``--resource`` or ``--ip`` holds a token."""
    values = (*event_filter.actors, *event_filter.resources, *event_filter.ips)
    return any(TOKEN.search(value) for value in values)


def resolve_tokens(
    store: Store, key: bytes | None, event_filter: EventFilter
) -> tuple[EventFilter, list[str]]:
    """``event_filter`` with tokens in its actor, resource and ip values replaced by the
    values they stand for; also the tokens no value gives (left as they are)."""
    revealed: dict[str, list[str]] = {}
    unresolved: list[str] = []

    def values(token: str) -> list[str]:
        if token not in revealed:
            revealed[token] = values_of(store, key, token) if key is not None else []
            if not revealed[token]:
                unresolved.append(token)
        return revealed[token]

    def glob_value(match: re.Match[str]) -> str:
        found = values(match.group())
        if not found:
            return match.group()
        return _literally(found[0])

    def address(match: re.Match[str]) -> str:
        found = values(match.group())
        return found[0] if found else match.group()

    def alternatives(value: str, as_glob: bool) -> tuple[str, ...]:
        """A value that is one token stands for every spelling it has (an email in
        any case); a token inside a longer value for one of them."""
        if TOKEN.fullmatch(value) and values(value):
            if not as_glob:
                return tuple(values(value))
            return tuple(_literally(v) for v in values(value))
        return (TOKEN.sub(glob_value if as_glob else address, value),)

    resolved = replace(
        event_filter,
        actors=tuple(a for v in event_filter.actors for a in alternatives(v, True)),
        resources=tuple(a for v in event_filter.resources for a in alternatives(v, True)),
        ips=tuple(a for v in event_filter.ips for a in alternatives(v, False)),
    )
    return resolved, unresolved


def _literally(value: str) -> str:
    """``value`` as a glob that matches only itself."""
    return _GLOB_CHARS.sub(lambda m: f"[{m.group()}]", value)
