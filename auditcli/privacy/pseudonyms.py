"""Personal data replaced by stable keyed tokens, so timelines still correlate.

Owns the token format (``kind:`` + 16 hex characters of HMAC-SHA-256 over the kind
and the normalised value, under a per-case key), which values of which columns are
pseudonymised, finding emails, IP addresses and phone numbers in raw JSON text, and
the case key file. The same value always gives the same token under one key and an
unrelated one under another; without the key a token can be neither read nor
brute-forced. ``reveal`` maps a token back by trying candidate values, so no mapping
table is stored. Never prints, never reads the environment: callers pass the key or
its path.

Kinds: ``user`` (actor names), ``email`` (lowercased), ``ip`` (v4 and v6, in
canonical form), ``phone`` (``+`` and digits), ``agent`` (user agents). Mask secrets
before pseudonymising: a password inside ``user:password@host`` is not an email.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import orjson

from auditcli.errors import InputError

KEY_BYTES = 32
MIN_KEY_BYTES = 16
TOKEN_HEX_CHARS = 16
KINDS = ("user", "email", "ip", "phone", "agent")
_CACHE_LIMIT = 65536

#: Letters beyond ASCII, as internationalised addresses have them (jürgen@bücher.de).
_WIDE = "\u00c0-\U0010ffff"
_EMAIL = (
    rf"(?P<email>[A-Za-z0-9._%+'{_WIDE}-]+(?:@|%40)[A-Za-z0-9{_WIDE}]"
    rf"(?:[A-Za-z0-9{_WIDE}-]{{0,61}}[A-Za-z0-9{_WIDE}])?"
    rf"(?:\.[A-Za-z0-9{_WIDE}](?:[A-Za-z0-9{_WIDE}-]{{0,61}}[A-Za-z0-9{_WIDE}])?)*"
    r"\.[A-Za-z]{2,63})"
)
_IPV6 = (
    r"(?P<ipv6>(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?(?:%[0-9A-Za-z._-]+)?"
    r"(?![0-9A-Za-z:]|\.[0-9]))"
)
_IPV4 = (
    r"(?P<ipv4>(?<![0-9A-Za-z.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?![0-9]|\.[0-9]))"
)
_PHONE = (
    r"(?P<phone>(?<![0-9A-Za-z+])(?:\+[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){2,5}"
    r"|\(?[2-9][0-9]{2}\)?[ .-][0-9]{3}[ .-][0-9]{4})(?![0-9A-Za-z]))"
)


# Compiled on first use: the letters beyond ASCII make each take ~17 ms, which every
# command would pay at start-up, whether it pseudonymises or not.
@cache
def _personal() -> re.Pattern[str]:
    """Emails, IPv6, IPv4 and phone numbers in free text; candidates are validated after."""
    return re.compile("|".join((_EMAIL, _IPV6, _IPV4, _PHONE)), re.ASCII)


@cache
def _email_only() -> re.Pattern[str]:
    return re.compile(_EMAIL, re.ASCII)


_STRING_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def new_key() -> bytes:
    """A fresh random case key."""
    return os.urandom(KEY_BYTES)


def load_or_create_key(path: Path) -> bytes:
    """The case key stored at ``path``, created there (mode 0600) on first use."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as e:
        raise InputError(f"cannot create the pseudonym key: {e.strerror}", path=str(path)) from e
    else:
        key = new_key()
        with os.fdopen(descriptor, "wb") as out:
            out.write(key)
        return key
    try:
        key = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the pseudonym key: {e.strerror}", path=str(path)) from e
    if len(key) < MIN_KEY_BYTES:
        raise InputError(
            f"the pseudonym key is {len(key)} bytes; expected {KEY_BYTES} random bytes",
            hint="restore the case's key file, or remove it to start a new case",
            path=str(path),
        )
    return key


def _normalised(kind: str, value: str) -> str:
    """The form of ``value`` that is hashed: equal values of one kind, one token."""
    if kind == "email":  # alice%40corp.example, URL-encoded, is alice@corp.example
        return value.strip().lower().replace("%40", "@")
    if kind == "ip":
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return value.strip()
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:198.51.100.9
        return str(mapped or address)
    if kind == "phone":
        digits = "".join(char for char in value if char.isdigit())
        return "+" + digits if value.lstrip().startswith("+") else digits
    return value


def _ip_or_none(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def actor_kind(actor: str) -> str:
    """The kind of token an actor value gets: ``email``, ``ip`` or ``user``."""
    if _email_only().fullmatch(actor):
        return "email"
    if _ip_or_none(actor) is not None:
        return "ip"
    return "user"


class Pseudonymizer:
    """Replaces personal values with ``kind:hex`` tokens keyed by one case key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a pseudonym key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self._cache: dict[tuple[str, str], str] = {}

    def token(self, kind: str, value: str) -> str:
        """The stable token for ``value`` of ``kind``, such as ``ip:3f9a0c1b2d4e5f60``."""
        cached = self._cache.get((kind, value))
        if cached is not None:
            return cached
        if kind not in KINDS:
            raise ValueError(f"unknown pseudonym kind {kind!r}; expected one of {KINDS}")
        token = f"{kind}:{self._keyed(kind, _normalised(kind, value))}"
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[(kind, value)] = token
        return token

    def content_id(self, event_id: str) -> str:
        """An id made of a hash of the clear text (``h:`` and 16 hex digits of its MD5),
        keyed: shown beside pseudonymised text, the clear hash would confirm a guess at
        what the text held. Other ids are returned as they are."""
        if not event_id.startswith("h:"):
            return event_id
        return f"h:{self._keyed('h', event_id)}"

    def chain_link(self, link: str) -> str:
        """A hash chain's link (``hash``, ``prev_hash``), keyed: ``k:`` and 16 hex digits.

        A link is a hash of its event's clear text, so shown beside pseudonymised text
        it would confirm a guess at what was replaced. Keyed alike, a link still equals
        the next event's ``prev_hash``, so the chain stays visible."""
        return f"k:{self._keyed('link', link)}"

    def _keyed(self, kind: str, value: str) -> str:
        """The hex digits of a token: HMAC-SHA-256 under the case key."""
        message = f"{kind}\x00{value}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:TOKEN_HEX_CHARS]

    def column(self, name: str, value: str | None) -> str | None:
        """A canonical column's value pseudonymised; columns without personal data unchanged.

        actor gets a user, email or ip token; source_ip an ip token (each address of a
        list); user_agent an agent token; resource and error have emails, IPs and phones
        replaced inside them; raw and extra are JSON text (see ``text``).
        """
        if value is None or value == "":
            return value
        if name == "actor":
            return self.token(actor_kind(value), value)
        if name == "source_ip":
            if _ip_or_none(value.strip()) is None:  # a list of addresses, say
                listed = self.free_text(value)
                if listed != value:
                    return listed
            return self.token("ip", value)
        if name == "user_agent":
            return self.token("agent", value)
        if name in ("raw", "extra"):
            return self.text(value)
        if name in ("resource", "error"):
            return self.free_text(value)
        return value

    def known_values(self, columns: Mapping[str, str | None]) -> dict[str, str]:
        """An event's actor, source_ip and user_agent as ``{value: kind}`` for ``text``."""
        known: dict[str, str] = {}
        actor = columns.get("actor")
        if actor:
            known[actor] = actor_kind(actor)
        source_ip = columns.get("source_ip")
        if source_ip:
            known[source_ip] = "ip"
        user_agent = columns.get("user_agent")
        if user_agent:
            known[user_agent] = "agent"
        return known

    def free_text(self, text: str) -> str:
        """``text`` with every email, IP address and phone number replaced by its token."""
        return _personal().sub(self._replace, text)

    def text(self, raw: str, known_values: Mapping[str, str] | None = None) -> str:
        """Raw JSON text pseudonymised in place; valid JSON stays valid.

        Every string (keys included) whose whole value is in ``known_values`` (value to
        kind, such as the event's actor and user agent) becomes its token; emails, IPs
        and phone numbers inside any string are replaced too. Text that is not JSON is
        treated as free text, ``known_values`` as whole words.
        """
        known = {value: kind for value, kind in (known_values or {}).items() if value}
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self._free_text_with_known(raw, known)
        pieces: list[str] = []
        position = 0
        for match in _STRING_TOKEN.finditer(raw):
            token = match.group()
            value = token[1:-1] if "\\" not in token else orjson.loads(token)
            assert isinstance(value, str)
            kind = known.get(value)
            replaced = self.token(kind, value) if kind is not None else self.free_text(value)
            if replaced != value:
                pieces.append(raw[position : match.start()])
                pieces.append(orjson.dumps(replaced).decode())
                position = match.end()
        if not pieces:
            return raw
        pieces.append(raw[position:])
        return "".join(pieces)

    def reveal(self, token: str, candidates: Iterable[tuple[str, str]]) -> str | None:
        """The candidate value whose token is ``token``, trying ``(kind, value)`` pairs."""
        kind = token.partition(":")[0]
        for candidate_kind, value in candidates:
            if candidate_kind == kind and hmac.compare_digest(
                self.token(candidate_kind, value), token
            ):
                return value
        return None

    def _replace(self, match: re.Match[str]) -> str:
        found = match.group()
        if match.group("email") is not None:
            return self.token("email", found)
        if match.group("phone") is not None:
            digits = sum(char.isdigit() for char in found)
            return self.token("phone", found) if 8 <= digits <= 15 else found
        address = found.split("%", 1)[0]
        return self.token("ip", found) if _ip_or_none(address) is not None else found

    def _free_text_with_known(self, text: str, known: Mapping[str, str]) -> str:
        if known:
            values = "|".join(re.escape(v) for v in sorted(known, key=len, reverse=True))
            words = re.compile(rf"(?<![\w.@-])(?:{values})(?![\w@-])")
            text = words.sub(lambda m: self.token(known[m.group()], m.group()), text)
        return self.free_text(text)
