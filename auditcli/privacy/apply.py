"""Rows made safe to show: secrets masked and, on request, personal data pseudonymised.

Owns the one transform (:class:`OutputPrivacy`) the CLI applies to every Arrow record
batch before any writer sees it, and which output columns get what: JSON text columns
(``raw``, ``extra``) are masked with ``mask_json_text``, every other text column with
``mask_text``, except the few auditcli writes itself (``TRUSTED_COLUMNS``). Then, when
pseudonymising, ``actor``, ``source_ip`` and ``user_agent`` become tokens, free-text
columns have emails, IP addresses, phone numbers and known names replaced, and JSON
text has every string equal to a known name (an actor, a user agent: ``known``)
replaced along with the emails, addresses and phones inside any string.

Cheap when nothing matches: one vectorised RE2 test per column (``SECRET_PRECHECK``, a
superset of the built-in detectors' own precheck) picks the values worth a look,
repeated values of a column are looked at once, and a column nothing changed in is
passed on untouched. Never prints, never reads the environment.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson
import pyarrow as pa

try:  # the kernels alone: pyarrow.compute builds ~30 ms of wrappers on import
    from pyarrow._compute import MatchSubstringOptions, call_function
except ImportError:  # pragma: no cover - a pyarrow that moved its internals
    from pyarrow.compute import MatchSubstringOptions, call_function

from auditcli.privacy.csvrows import mask_csv_row
from auditcli.privacy.pseudonyms import Pseudonymizer, actor_kind
from auditcli.privacy.secrets import (
    DEFAULT,
    DEFAULT_DETECTORS,
    DetectorSet,
    mask_json_text,
    mask_text,
)
from auditcli.privacy.splitnames import SplitNames
from auditcli.schema import RAW, RAW_HEADER

#: Columns holding JSON text: masked in place so they stay valid JSON.
JSON_COLUMNS = frozenset({"raw", "extra"})
#: Text columns auditcli writes itself: never log content, left alone.
TRUSTED_COLUMNS = frozenset({"outcome", "source_format", "file_sha256", "prev_hash", "hash"})
#: A hash chain's links, as columns and as members of an event's JSON text: hashes of
#: clear text, so keyed when pseudonymising (see ``Pseudonymizer.chain_link``).
CHAIN_LINKS = ("hash", "prev_hash")
#: Columns whose whole value is one personal value, and what kind of token it gets.
TOKEN_COLUMNS = frozenset({"actor", "source_ip", "user_agent"})
#: Free-text columns that may mention people: their emails, addresses, phones, names.
FREE_TEXT_COLUMNS = frozenset({"resource", "error", "reason", "command_line", "source_file"})

#: RE2, case-insensitive: matches every text ``DetectorSet.may_contain_secret`` can match
#: for the built-in detectors (each branch of ``secrets._FAST_PRECHECK`` with its
#: look-behinds dropped, or matched as the character before, so it matches more,
#: never less).
SECRET_PRECHECK = "|".join(
    (
        r"pass[-_. ]?w",
        r"pass(?:\\*[\"'])?(?:\s|\\+t)*[:=]",
        r"[-_. ]pwd(?:\\*[\"'])?(?:\s|\\+t)*[:=]",
        r"pass[-_. ]?phrase",
        r"gh[pousr]_",
        r"github_pat_",
        r"token",
        r"cookie",
        r"key",
        r"[rs]k_(?:live|test)_",
        r"sk-",
        r"secret",
        r"authorization",
        r"aiza",
        r"eyj",
        r"xox[abposre]-",
        r"xapp-",
        r"\\u00",
        r"bearer",
        r"basic",
        r"-----begin ",
        r"""/\\*/[^\s"/@]*:(?:[^\s"/@\\]|\\.)*@""",
        # A card number starts a word, or follows an escape: as in the full precheck,
        # not after a letter or digit (the hex of a hash), which RE2 cannot look behind.
        r"(?:^|(?-i:[^0-9A-Za-z_.-])|\\[bfnrt]|\\u[0-9a-f]{4})"
        r"[2-6][0-9]{3}[ -]?[0-9]{4}(?:[0-9]{2}[ -]?[0-9]|[ -]?[0-9]{4})",
    )
)

_BUILTIN = frozenset(DEFAULT_DETECTORS)
_STRING_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
#: A chain link member as written in JSON text: name, what lies between, its value.
_LINK_MEMBER = re.compile(rf'"({"|".join(CHAIN_LINKS)})"(\s*:\s*)"([^"\\]*)"')
#: A token already written (left alone), or a word that may be a known name.
_WORD_OR_TOKEN = re.compile(r"(?:user|email|ip|phone|agent):[0-9a-f]{16}(?![0-9a-f])|[\w.@-]+")
#: A field between common delimiters (CSV, key="value", pipes): may be a known name.
_SEGMENT = re.compile(r"""[^,\t"'|;=\r\n]+""")
_VIA = re.compile(r"via (actor|ip|resource) (.*)", re.DOTALL)
_VIA_COLUMN = {"actor": "actor", "ip": "source_ip", "resource": "resource"}
_ROW_KINDS = {"source_ip": "ip", "user_agent": "agent"}
_MAX_NESTED_JSON = 4
#: Known names shorter than this are not looked for inside text (``-``, ``a``).
MIN_KNOWN_CHARS = 2

Lookup = Callable[[str], "str | None"]


def _shown(schema: pa.Schema) -> pa.Schema:
    """``schema`` without ``raw_header``, which no output shows; itself when it has none."""
    at = schema.get_field_index(RAW_HEADER)
    return schema if at < 0 else schema.remove(at)


def _is_text(data_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    )


@dataclass(frozen=True)
class OutputPrivacy:
    """What to hide in output rows; ``OutputPrivacy()`` masks secrets with the built-in list.

    ``detectors`` None shows secrets as they are (``--unsafe-show-secrets``);
    ``pseudonymizer`` set replaces personal data with its tokens; ``known`` maps names
    to look for inside text (distinct actors and user agents) to their token kind.
    """

    detectors: DetectorSet | None = DEFAULT
    pseudonymizer: Pseudonymizer | None = None
    known: Mapping[str, str] = field(default_factory=dict)

    @functools.cached_property
    def _split_names(self) -> SplitNames:
        """The known names that free text's fields and words would split."""
        return SplitNames(name for name in self.known if len(name) >= MIN_KNOWN_CHARS)

    @property
    def active(self) -> bool:
        """False when rows pass through unchanged."""
        return self.detectors is not None or self.pseudonymizer is not None

    def reader(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """``reader`` with every batch made safe, lazily (and without ``raw_header``)."""
        schema = _shown(reader.schema)
        if not self.active and schema is reader.schema:
            return reader
        return pa.RecordBatchReader.from_batches(schema, map(self.batch, reader))

    def table(self, table: pa.Table) -> pa.Table:
        """``table`` made safe (and without ``raw_header``)."""
        schema = _shown(table.schema)
        if not self.active and schema is table.schema:
            return table
        batches = [self.batch(batch) for batch in table.to_batches()]
        return pa.Table.from_batches(batches, schema=schema)

    def batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """One record batch made safe, its ``raw_header`` (see ``schema.RAW_HEADER``)
        used and dropped; the same object when nothing in it changed."""
        headers = None
        if RAW_HEADER in batch.schema.names:
            at = batch.schema.get_field_index(RAW_HEADER)
            headers = batch.column(at).to_pylist()
            batch = batch.remove_column(at)
        if not self.active or batch.num_rows == 0:
            return batch
        names = batch.schema.names
        row_lookups = self._row_lookups(batch)
        columns = []
        changed = False
        for name, column in zip(names, batch.columns, strict=True):
            if not _is_text(column.type):
                safe = column
            elif name in CHAIN_LINKS and self.pseudonymizer is not None:
                safe = self._links_column(column)
            elif name in TRUSTED_COLUMNS:
                safe = column
            elif name in JSON_COLUMNS:
                safe = self._json_column(column, row_lookups, headers if name == RAW else None)
            else:
                safe = self._scalar_column(name, column)
            changed = changed or safe is not column
            columns.append(safe)
        return pa.RecordBatch.from_arrays(columns, schema=batch.schema) if changed else batch

    # -- columns -------------------------------------------------------------------------

    def _may_hold_secrets(self, values: pa.Array) -> list[bool]:
        """Per value: could a detector fire in it? (All true for policy detectors.)"""
        assert self.detectors is not None
        if any(detector not in _BUILTIN for detector in self.detectors):
            return [True] * len(values)
        flags = call_function(
            "match_substring_regex",
            [values],
            MatchSubstringOptions(SECRET_PRECHECK, ignore_case=True),
        )
        return [bool(flag) for flag in flags.to_pylist()]

    def _scalar_column(self, name: str, column: pa.Array) -> pa.Array:
        pseudonymise = self.pseudonymizer is not None and (
            name in TOKEN_COLUMNS
            or name in FREE_TEXT_COLUMNS
            or name in ("included_because", "event_id")
        )
        encoded = call_function("dictionary_encode", [column])
        values = encoded.dictionary
        flags = self._may_hold_secrets(values) if self.detectors is not None else None
        if not pseudonymise and not (flags and any(flags)):
            return column
        texts: list[str] = values.to_pylist()
        # A token stands for the whole value, and reveals none of it: made from the
        # value as it is, it is the one reveal and the filters give for that value.
        whole = pseudonymise and name in TOKEN_COLUMNS
        safe = []
        for index, text in enumerate(texts):
            if flags is not None and flags[index] and not whole:
                assert self.detectors is not None
                text = mask_text(text, self.detectors)
            if pseudonymise:
                text = self._pseudonymise(name, text)
            safe.append(text)
        if safe == texts:
            return column
        return call_function("take", [pa.array(safe, type=column.type), encoded.indices])

    def _links_column(self, column: pa.Array) -> pa.Array:
        pseudonymizer = self.pseudonymizer
        assert pseudonymizer is not None
        links = [None if v is None else pseudonymizer.chain_link(v) for v in column.to_pylist()]
        return pa.array(links, type=column.type)

    def _json_column(
        self,
        column: pa.Array,
        row_lookups: list[Lookup] | None,
        headers: list[dict[str, str] | None] | None = None,
    ) -> pa.Array:
        """A column of JSON texts made safe; ``headers``, where a row has one, is the
        header row of the CSV file whose row it is (``raw`` of a CSV source) and the
        delimiter its rows were read by (see ``schema.RAW_HEADER``)."""
        flags = self._may_hold_secrets(column) if self.detectors is not None else None
        if self.detectors is None or headers is None or not any(headers):
            headers = None
        if self.pseudonymizer is None and not (flags and any(flags)) and headers is None:
            return column
        texts: list[str | None] = column.to_pylist()
        safe: list[str | None] = []
        changed = False
        for index, text in enumerate(texts):
            if text is not None:
                original = text
                header = headers[index] if headers is not None else None
                if header is not None:
                    assert self.detectors is not None
                    text = mask_csv_row(
                        text, header["header"], self.detectors, header["delimiter"]
                    )
                if flags is not None and flags[index]:
                    assert self.detectors is not None
                    text = mask_json_text(text, self.detectors)
                if self.pseudonymizer is not None:
                    lookup = row_lookups[index] if row_lookups else self._lookup
                    text = self._json_text(text, lookup, 0)
                changed = changed or text != original
            safe.append(text)
        return pa.array(safe, type=column.type) if changed else column

    # -- pseudonyms ----------------------------------------------------------------------

    def _lookup(self, value: str) -> str | None:
        return self.known.get(value) if len(value) >= MIN_KNOWN_CHARS else None

    def _row_lookups(self, batch: pa.RecordBatch) -> list[Lookup] | None:
        """Per row, the kind of a name: this event's actor, address and client, then ``known``."""
        names = batch.schema.names
        if self.pseudonymizer is None or not JSON_COLUMNS & set(names):
            return None
        present = [name for name in ("actor", "source_ip", "user_agent") if name in names]
        if not present:
            return None
        values = zip(*(batch.column(name).to_pylist() for name in present), strict=True)
        lookups: list[Lookup] = []
        for row in values:
            own: dict[str, str] = {}
            for name, value in zip(present, row, strict=True):
                if value and len(value) >= MIN_KNOWN_CHARS:
                    own[value] = actor_kind(value) if name == "actor" else _ROW_KINDS[name]
            lookups.append(self._chained(own) if own else self._lookup)
        return lookups

    def _chained(self, own: dict[str, str]) -> Lookup:
        def lookup(value: str) -> str | None:
            return own.get(value) or self._lookup(value)

        return lookup

    def _pseudonymise(self, name: str, text: str) -> str:
        """One scalar column value pseudonymised."""
        pseudonymizer = self.pseudonymizer
        assert pseudonymizer is not None
        if name in TOKEN_COLUMNS:
            return pseudonymizer.column(name, text) or text
        if name == "event_id":
            return pseudonymizer.content_id(text)
        if name == "included_because":
            via = _VIA.fullmatch(text)
            if via is None:
                return text
            label, value = via.groups()
            return f"via {label} {self._pseudonymise(_VIA_COLUMN[label], value)}"
        kind = self._lookup(text)
        if kind is not None:
            return pseudonymizer.token(kind, text)
        if name == "command_line":
            return self._command_line(text)
        return pseudonymizer.free_text(text)

    def _command_line(self, text: str) -> str:
        """A command line as typed: each argument (and each ``--option=value``'s value)
        that is a known name whole becomes its token, the rest as free text."""
        pseudonymizer = self.pseudonymizer
        assert pseudonymizer is not None
        try:
            words = shlex.split(text)
        except ValueError:  # not one auditcli wrote
            return self._free_text(text, self._lookup)
        out = []
        for word in words:
            option, equals, value = word.partition("=") if word.startswith("-") else ("", "", "")
            whole = value if equals else word
            kind = self._lookup(whole)
            if kind is None:
                out.append(self._free_text(word, self._lookup))
            else:
                token = pseudonymizer.token(kind, whole)
                out.append(f"{option}={token}" if equals else token)
        return shlex.join(out)

    def _json_text(self, text: str, lookup: Lookup, depth: int) -> str:
        """JSON text with names, emails, addresses and phones in its strings replaced.

        Text that is not JSON is treated as free text. Keys are treated as values.
        """
        pseudonymizer = self.pseudonymizer
        assert pseudonymizer is not None
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self._free_text(text, lookup)
        if isinstance(parsed, dict) and all(isinstance(parsed.get(k), str) for k in CHAIN_LINKS):
            text = self._keyed_links(text, parsed)
        if "\\" not in text:
            # No escapes: every string reads as written, and no email, address or phone
            # can reach across a quote, so the free-text pass may run over the whole text.
            def known(match: re.Match[str]) -> str:
                value = match.group()[1:-1]
                kind = lookup(value)
                return match.group() if kind is None else f'"{pseudonymizer.token(kind, value)}"'

            return pseudonymizer.free_text(_STRING_TOKEN.sub(known, text))
        pieces: list[str] = []
        position = 0
        for match in _STRING_TOKEN.finditer(text):
            token = match.group()
            value = token[1:-1] if "\\" not in token else orjson.loads(token)
            assert isinstance(value, str)
            kind = lookup(value)
            if kind is not None:
                replaced = pseudonymizer.token(kind, value)
            elif value.lstrip()[:1] in ("{", "[") and depth < _MAX_NESTED_JSON:
                replaced = self._json_text(value, lookup, depth + 1)
            else:
                replaced = pseudonymizer.free_text(value)
            if replaced != value:
                pieces.append(text[position : match.start()])
                pieces.append(orjson.dumps(replaced).decode())
                position = match.end()
        if not pieces:
            return text
        pieces.append(text[position:])
        return "".join(pieces)

    def _keyed_links(self, text: str, event: dict[str, object]) -> str:
        """``text`` with its event's chain links keyed, wherever they are written."""
        pseudonymizer = self.pseudonymizer
        assert pseudonymizer is not None

        def keyed(match: re.Match[str]) -> str:
            value = match.group(3)
            if event.get(match.group(1)) != value:
                return match.group()
            return f'"{match.group(1)}"{match.group(2)}"{pseudonymizer.chain_link(value)}"'

        return _LINK_MEMBER.sub(keyed, text)

    def _free_text(self, text: str, lookup: Lookup) -> str:
        """Text that is not JSON: known names whole (``Smith, John``), as delimited
        fields or as words, then the rest."""
        pseudonymizer = self.pseudonymizer
        assert pseudonymizer is not None

        def whole(name: str) -> str | None:
            kind = lookup(name)
            return None if kind is None else pseudonymizer.token(kind, name)

        def segment(match: re.Match[str]) -> str:
            found = match.group()
            stripped = found.strip()
            kind = lookup(stripped) if stripped else None
            if kind is None:
                return found
            return found.replace(stripped, pseudonymizer.token(kind, stripped), 1)

        def word(match: re.Match[str]) -> str:
            found = match.group()
            if ":" in found:  # a token written by the segment pass
                return found
            kind = lookup(found)
            return found if kind is None else pseudonymizer.token(kind, found)

        text = self._split_names.replace(text, whole)
        text = _SEGMENT.sub(segment, text)
        text = _WORD_OR_TOKEN.sub(word, text)
        return pseudonymizer.free_text(text)


#: Secrets masked with the built-in detectors, nothing pseudonymised: the default.
MASK_SECRETS = OutputPrivacy()
#: Rows as they are (``--unsafe-show-secrets``, nothing pseudonymised).
UNCHANGED = OutputPrivacy(detectors=None)
