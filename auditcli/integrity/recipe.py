"""Chain recipes: which bytes of an event are hashed, how, and how an event names its link.

A recipe is the only scheme-specific piece of verification: the verifier walks links
and never looks inside an event itself, so an exporter's own scheme is added by writing
a recipe (see keybase.py), not by touching the verifier. This module owns the
:class:`ChainRecipe` seam and auditcli's own scheme, ``auditcli-chain/1``. Recipes must
be picklable (worker processes receive them) and must never read files.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from operator import methodcaller
from typing import Any, Protocol

from auditcli.errors import InputError, UsageError
from auditcli.integrity.canonical import canonicalize_many, fast_canonicalize
from auditcli.integrity.digests import DigestAlgorithm

_examine_line: Callable[..., tuple[bytes, str, str, Any] | None] | None
_examine_block: Callable[..., tuple[Any, Any, Any, Any, bytes, int, bool]] | None
_link_block: Callable[..., LinkedBlock | None] | None
try:  # the C fast path; without a compiler at install time the exact path does it all
    from auditcli.integrity._jcsline import examine as _examine_line
    from auditcli.integrity._jcsline import examine_block as _examine_block
    from auditcli.integrity._jcsline import link_block as _link_block
except ImportError:  # pragma: no cover - depends on the build
    _examine_line = _examine_block = _link_block = None

__all__ = [
    "SCHEME",
    "AuditChainRecipe",
    "ChainRecipe",
    "DigestAlgorithm",
    "EventShapeError",
    "Examined",
    "ExaminedBlock",
    "ExaminedLines",
    "ExaminedMany",
    "LinkedBlock",
]

SCHEME = "auditcli-chain/1"

Examined = tuple[str, str, str | None]
"""(stored hash, hash computed from the content, claimed predecessor hash)."""

ExaminedMany = tuple[list[str | None], list[str | None], list[str | None]]
"""Stored hashes, computed hashes and claimed predecessors of many events, in order."""

ExaminedLines = tuple[ExaminedMany, list[Any], list[int]]
"""``examine_many`` of raw lines, their time values, and the lines it left alone."""

ExaminedBlock = tuple[ExaminedMany, list[Any], list[int], memoryview]
"""``ExaminedLines`` of a block's lines, and where each line starts: line ``i`` is
``data[offsets[i]:offsets[i + 1] - 1]``."""

LinkedBlock = tuple[bytes, bytes, str, str, str]
"""A clean block (every line matches its hash and names the line before): the lines'
int64 starts (and one past the end) as in ``ExaminedBlock``, the int64 offset of each
line's stored hash (64 hex digits) in the block, the first line's claimed predecessor,
and the least and greatest of the lines' (string) times."""


class EventShapeError(InputError):
    """An event lacks the members a recipe needs (it is reported as malformed)."""


class ChainRecipe(Protocol):
    """One hash-chain scheme, as the verifier sees it."""

    @property
    def scheme(self) -> str:
        """Name of the scheme, e.g. ``auditcli-chain/1``."""
        ...

    @property
    def genesis(self) -> str | None:
        """The predecessor value the first event of the chain names."""
        ...

    def sequence(self, event: dict[str, Any]) -> int | None:
        """The event's consecutive sequence number, if the scheme has one."""
        ...

    def examine(self, event: dict[str, Any]) -> Examined:
        """Read one parsed event (which it may consume); raise EventShapeError if unfit."""
        ...

    def examine_many(self, events: list[dict[str, Any]]) -> ExaminedMany | None:
        """``examine`` of each event, faster; None to have them examined one by one.

        It may return None after consuming the events; ``return None`` is a valid body.
        """
        ...

    def examine_lines(
        self, lines: Sequence[bytes], time_keys: tuple[bytes, ...]
    ) -> ExaminedLines | None:
        """``examine_many`` straight from JSON lines, without parsing them; None if unable.

        Besides the three lists it gives each line's time (the first of ``time_keys``
        that is not null) and the indexes of lines it left alone (None in every list),
        which the caller parses and examines. ``return None`` is a valid body.
        """
        ...

    def examine_block(self, data: bytes, time_keys: tuple[bytes, ...]) -> ExaminedBlock | None:
        """``examine_lines`` of every line of a block of JSON lines, split on the way;
        None if unable. ``return None`` is a valid body."""
        ...

    def link_block(self, data: bytes, time_keys: tuple[bytes, ...]) -> LinkedBlock | None:
        """The block, when it is clean, without an object per line; else None (the
        block then goes to ``examine_block``). ``return None`` is a valid body."""
        ...


_CONSTRUCTORS: dict[DigestAlgorithm, Callable[..., Any]] = {
    DigestAlgorithm.SHA256: hashlib.sha256,
    DigestAlgorithm.SHA512: hashlib.sha512,
    DigestAlgorithm.BLAKE2B: hashlib.blake2b,
}


@lru_cache(maxsize=8)
def _hmac_pads(algorithm: DigestAlgorithm, key: bytes) -> tuple[Any, Any]:
    """Return hash states after absorbing the RFC 2104 inner and outer padded keys."""
    inner = _CONSTRUCTORS[algorithm]()
    block = inner.block_size
    if len(key) > block:
        key = _CONSTRUCTORS[algorithm](key).digest()
    key = key.ljust(block, b"\0")
    inner.update(bytes(b ^ 0x36 for b in key))
    outer = _CONSTRUCTORS[algorithm](bytes(b ^ 0x5C for b in key))
    return inner, outer


_LOWER_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class AuditChainRecipe:
    """auditcli-chain/1: hash = hex(DIGEST(JCS(event without its hash member))).

    ``prev_hash`` stays inside the hashed bytes, so each hash binds its link. With a key
    the digest is HMAC-DIGEST(key, ...). ``genesis_hash`` overrides the all-zero predecessor
    of the first event, to verify a slice of a longer chain.
    """

    algorithm: DigestAlgorithm = DigestAlgorithm.SHA256
    key: bytes | None = field(default=None, repr=False)
    hash_field: str = "hash"
    prev_field: str = "prev_hash"
    seq_field: str | None = "seq"
    genesis_hash: str | None = None

    def __post_init__(self) -> None:
        if self.key is not None and not self.key:
            raise UsageError("the HMAC key is empty", "give a key file with at least 32 bytes")
        if self.hash_field == self.prev_field:
            raise UsageError("the hash and prev-hash member names must differ")
        if self.genesis_hash is not None and not self._is_digest(self.genesis_hash):
            raise UsageError(
                f"genesis hash must be {self.algorithm.hex_length} lowercase hex digits",
                "pass the hash of the event just before the slice",
            )

    @property
    def scheme(self) -> str:
        """Name of the scheme."""
        return SCHEME

    @property
    def keyed(self) -> bool:
        """True in HMAC mode."""
        return self.key is not None

    @property
    def genesis(self) -> str:
        """The first event's prev_hash: all zeros unless a slice's genesis was given."""
        return self.genesis_hash or "0" * self.algorithm.hex_length

    def sequence(self, event: dict[str, Any]) -> int | None:
        """The ``seq`` member, when it is an integer."""
        value = event.get(self.seq_field) if self.seq_field is not None else None
        return value if type(value) is int else None

    def _is_digest(self, text: str) -> bool:
        return len(text) == self.algorithm.hex_length and _LOWER_HEX.fullmatch(text) is not None

    def digest(self, data: bytes) -> str:
        """Lowercase hex DIGEST(data), or HMAC-DIGEST(key, data) in keyed mode."""
        if self.key is None:
            return str(_CONSTRUCTORS[self.algorithm](data).hexdigest())
        inner, outer = _hmac_pads(self.algorithm, self.key)
        inner = inner.copy()
        inner.update(data)
        outer = outer.copy()
        outer.update(inner.digest())
        return str(outer.hexdigest())

    def hash_event(self, event: dict[str, Any]) -> str:
        """Hash of an event that has no hash member (it may hold prev_hash and seq)."""
        return self.digest(fast_canonicalize(event))

    def examine(self, event: dict[str, Any]) -> Examined:
        """Pop the stored hash, recompute it from the rest and read the link."""
        stored = event.pop(self.hash_field, None)
        if type(stored) is not str:
            raise EventShapeError(f"event has no string {self.hash_field!r} member")
        prev = event.get(self.prev_field)
        if type(prev) is not str:
            raise EventShapeError(f"event has no string {self.prev_field!r} member")
        return stored, self.hash_event(event), prev

    def examine_many(self, events: list[dict[str, Any]]) -> ExaminedMany | None:
        """``examine`` of each event with the per-event work in C loops, or None.

        None (after consuming the events) when one of them needs the slow path: it lacks
        a hash member, or orjson refuses it.
        """
        stored: list[str | None]
        stored = list(map(dict.pop, events, repeat(self.hash_field), repeat(None)))
        prevs: list[str | None] = list(map(dict.get, events, repeat(self.prev_field)))
        if not (all(map(_is_str, stored)) and all(map(_is_str, prevs))):
            return None
        outs = canonicalize_many(events)
        if outs is None:
            return None
        computed: list[str | None]
        if self.key is None:
            computed = list(map(_hexdigest, map(_CONSTRUCTORS[self.algorithm], outs)))
        else:
            computed = list(map(self.digest, outs))
        return stored, computed, prevs

    def examine_lines(
        self, lines: Sequence[bytes], time_keys: tuple[bytes, ...]
    ) -> ExaminedLines | None:
        """``examine_many`` of lines the C module proves canonical once the hash is cut.

        Such a line's remaining bytes are exactly what the scheme hashes, so nothing is
        parsed or serialised; any line it cannot prove is left to the exact path.
        """
        hash_key, prev_key = self.hash_field.encode(), self.prev_field.encode()
        if _examine_line is None or hash_key in time_keys:  # the C path skips the hash
            return None
        results: list[Any] = list(
            map(_examine_line, lines, repeat(hash_key), repeat(prev_key), repeat(time_keys))
        )
        if not results:
            return ([], [], []), [], []
        if None in results:
            for i, result in enumerate(results):
                if result is None:
                    results[i] = _SKIPPED
        hashed, stored, prevs, times = map(list, zip(*results, strict=True))
        return self._hashed(hashed, stored, prevs, times)

    @property
    def _plain_sha256(self) -> bool:
        """Unkeyed SHA-256: what the C module can hash itself."""
        return self.key is None and self.algorithm is DigestAlgorithm.SHA256

    def link_block(self, data: bytes, time_keys: tuple[bytes, ...]) -> LinkedBlock | None:
        """The C module's check of a whole block with the plain SHA-256 scheme."""
        hash_key, prev_key = self.hash_field.encode(), self.prev_field.encode()
        if _link_block is None or not self._plain_sha256 or hash_key in time_keys:
            return None
        return _link_block(data, hash_key, prev_key, time_keys)

    def examine_block(self, data: bytes, time_keys: tuple[bytes, ...]) -> ExaminedBlock | None:
        """``examine_lines`` of every line of a block, without making line objects."""
        hash_key, prev_key = self.hash_field.encode(), self.prev_field.encode()
        if _examine_block is None or hash_key in time_keys:
            return None
        stored: list[str | None] = []
        computed: list[str | None] = []
        prevs: list[str | None] = []
        times: list[Any] = []
        skipped: list[int] = []
        starts: list[bytes] = []
        position = 0
        plain_sha256 = self._plain_sha256
        while position < len(data):
            # a chunk at a time: its objects are freed before the next, so memory is reused
            hashed, found, found_prevs, found_times, chunk_starts, position, digested = (
                _examine_block(
                    data, position, _BLOCK_CHUNK, hash_key, prev_key, time_keys, plain_sha256
                )
            )
            if digested:  # the C module hashed the lines itself
                chunk_stored, chunk_computed, chunk_prevs = found, hashed, found_prevs
                chunk_times = found_times
                chunk_skipped = (
                    [i for i, value in enumerate(found) if value is None] if None in found else []
                )
            else:
                (chunk_stored, chunk_computed, chunk_prevs), chunk_times, chunk_skipped = (
                    self._hashed(hashed, found, found_prevs, found_times)
                )
            skipped += [len(stored) + i for i in chunk_skipped]
            stored += chunk_stored
            computed += chunk_computed
            prevs += chunk_prevs
            times += chunk_times
            starts.append(chunk_starts)
        end = len(data) + (0 if data.endswith(b"\n") else 1)  # as if it ended in one
        offsets = memoryview(b"".join([*starts, end.to_bytes(8, sys.byteorder)])).cast("q")
        return (stored, computed, prevs), times, skipped, offsets

    def _hashed(
        self, hashed: list[Any], stored: list[Any], prevs: list[Any], times: list[Any]
    ) -> ExaminedLines:
        """Hash the cut lines; a None (or placeholder) among them is a line left alone."""
        skipped: list[int] = []
        if None in stored:
            skipped = [i for i, value in enumerate(stored) if value is None]
            for i in skipped:
                hashed[i] = b""
        computed: list[str | None]
        if self.key is None:
            computed = list(map(_hexdigest, map(_CONSTRUCTORS[self.algorithm], hashed)))
        else:
            computed = list(map(self.digest, hashed))
        for i in skipped:
            computed[i] = None
        return (stored, computed, prevs), times, skipped


_SKIPPED = (b"", None, None, None)
_BLOCK_CHUNK = 1024
"""Lines examine_block reads per call."""
_is_str = str.__instancecheck__
_hexdigest = methodcaller("hexdigest")
