"""The secret detectors: what a secret looks like, the built-in list, compiled sets.

Owns ``Detector``, ``DEFAULT_DETECTORS`` (the documented list a policy file can
extend; see ``secrets`` for how each shows) and ``DetectorSet`` with its cheap
precheck. Finding and masking secrets in text is ``secrets``'s job.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_KEY_CACHE_LIMIT = 4096
_MAX_JSON_DEPTH = 8


@dataclass(frozen=True)
class Detector:
    """One kind of secret: where it is found and how it is shown once masked.

    ``field`` is matched against whole key names; ``value`` is searched in values
    (its ``secret`` group, when it has one, is the part masked); ``validator`` gets
    the part to mask and may reject it; ``hint`` must match the raw JSON text (escapes
    and all) of anything ``value`` finds, and defaults to ``field`` or ``value``.
    """

    name: str
    field: re.Pattern[str] | None = None
    value: re.Pattern[str] | None = None
    validator: Callable[[str], bool] | None = None
    show_prefix: int = 0
    hint: re.Pattern[str] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"detector name {self.name!r}: use a-z, 0-9 and -")
        if self.field is None and self.value is None:
            raise ValueError(f"detector {self.name!r}: needs a field or a value pattern")
        if self.show_prefix < 0:
            raise ValueError(f"detector {self.name!r}: show_prefix must be 0 or more")

    @classmethod
    def compile(
        cls,
        name: str,
        *,
        field: str | None = None,
        value: str | None = None,
        validator: Callable[[str], bool] | None = None,
        show_prefix: int = 0,
        hint: str | None = None,
        doc: str = "",
    ) -> Detector:
        """A detector from pattern strings; ``field`` ignores case. Raises ``re.error``."""
        return cls(
            name=name,
            field=re.compile(field, re.IGNORECASE) if field is not None else None,
            value=re.compile(value) if value is not None else None,
            validator=validator,
            show_prefix=show_prefix,
            hint=re.compile(hint) if hint is not None else None,
            doc=doc,
        )

    def shown(self, secret: str) -> str:
        """How ``secret`` appears once masked."""
        keep = self.show_prefix
        if keep and len(secret) >= 4 * keep:
            return f"{secret[:keep]}…<redacted:{self.name}>"
        return f"<redacted:{self.name}>"

    def raw_hint(self) -> re.Pattern[str]:
        """A regex that matches the raw text of everything this detector fires on."""
        if self.hint is not None:
            return self.hint
        pattern = self.field if self.field is not None else self.value
        assert pattern is not None
        return pattern


# -- validators --------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """True when the ASCII digit string passes the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


_CARD_BRANDS = re.compile(
    r"4[0-9]{12}(?:[0-9]{3}){0,2}"  # Visa
    r"|(?:5[1-5][0-9]{2}|222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}"
    r"|3[47][0-9]{13}"  # American Express
    r"|3(?:0[0-5]|[68][0-9])[0-9]{11,16}"  # Diners Club
    r"|35(?:2[89]|[3-8][0-9])[0-9]{12,15}"  # JCB
    r"|6[0-9]{15,18}"  # Discover, UnionPay, Maestro, RuPay
)


def _card_number(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    return _CARD_BRANDS.fullmatch(digits) is not None and luhn_ok(digits)


def _has_digit(text: str) -> bool:
    return any(char.isdigit() for char in text)


def _mixed_case_and_digit(text: str) -> bool:
    return _has_digit(text) and not text.isupper() and not text.islower()


def _basic_credentials(text: str) -> bool:
    try:
        decoded = base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable()


# -- the built-in list -------------------------------------------------------------------

_S = "[-_. ]?"  # an optional separator inside a key name
#: After a key in raw text: an optional (escaped) closing quote, then : or =.
_KEY_END = r"""(?:\\*["'])?(?:\s|\\+t)*[:=]"""
_WS = r"(?:\s|\\+[tnr])"  # whitespace, also as a JSON escape in raw text
_BEFORE = r"(?<![A-Za-z0-9_-])"
_AFTER = r"(?![A-Za-z0-9_-])"
_PEM = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
#: 4-4-4-(1-7) or 4-6-(4-5) digit groups, one separator kind; the validator does the rest.
_CARD = (
    r"(?<![0-9A-Za-z_.-])[2-6][0-9]{3}(?P<sep>[ -]?)"
    r"(?:[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{1,4}(?:(?P=sep)[0-9]{1,3})?"
    r"|[0-9]{6}(?P=sep)[0-9]{4,5})(?![0-9A-Za-z_-]|\.[0-9])"
)


def _keyed(name: str, field: str, doc: str, value: str | None = None, show: int = 0) -> Detector:
    """A detector on key names, ignoring case (ASCII only, as the precheck does)."""
    return Detector(
        name=name,
        field=re.compile(field, re.IGNORECASE | re.ASCII),
        value=re.compile(value, re.ASCII) if value is not None else None,
        show_prefix=show,
        doc=doc,
    )


#: A connection string's ``//user:password@``, also with its slashes escaped in JSON
#: (``\/\/`` or ``\u002f\u002f``), in text lowercased or not.
_CONNECTION_HINT = r"""(?:/|\\u002[fF])\\*(?:/|\\u002[fF])[^\s"/@]*:(?:[^\s"/@\\]|\\.)*@"""


def _shape(
    name: str,
    value: str,
    hint: str,
    doc: str,
    validator: Callable[[str], bool] | None = None,
    show: int = 0,
) -> Detector:
    """A detector on a value shape, anywhere."""
    return Detector(
        name=name,
        value=re.compile(value, re.ASCII),
        validator=validator,
        show_prefix=show,
        hint=re.compile(hint, re.ASCII),
        doc=doc,
    )


_TOKEN_KINDS = (
    r"access|refresh|id|auth|bearer|api|oauth|app|bot|personal[-_. ]?access|registration"
    r"|csrf|xsrf|service|deploy|jwt|github|gitlab|slack|npm|pypi|docker"
)

DEFAULT_DETECTORS: tuple[Detector, ...] = (
    _shape(
        "private-key",
        f'{_PEM}(?:[^"]*?{_PEM_END}|[^"]*)',
        _PEM,
        "PEM private key blocks (RSA, EC, OPENSSH, ENCRYPTED, PGP), unterminated too",
    ),
    _shape(
        "jwt",
        rf"{_BEFORE}eyJ[A-Za-z0-9_-]{{5,}}\.ey[A-Za-z0-9_-]{{5,}}\.[A-Za-z0-9_-]*",
        r"eyJ[A-Za-z0-9_-]{5,}\.ey",
        "JSON Web Tokens: three base64url parts, header and payload JSON objects",
    ),
    _shape(
        "github-token",
        rf"{_BEFORE}(?:gh[pousr]_[A-Za-z0-9]{{36,255}}|github_pat_[A-Za-z0-9_]{{22,255}}){_AFTER}",
        r"gh[pousr]_|github_pat_",
        "GitHub personal, OAuth, user, server and fine-grained tokens",
        show=4,
    ),
    _shape(
        "slack-token",
        rf"{_BEFORE}(?:xox[abposre]-[A-Za-z0-9-]{{10,}}|xapp-[0-9]-[A-Za-z0-9-]{{10,}})",
        r"xox[abposre]-|xapp-",
        "Slack bot, user, app and refresh tokens",
        show=5,
    ),
    _shape(
        "stripe-key",
        rf"{_BEFORE}[rs]k_(?:live|test)_[A-Za-z0-9]{{16,}}",
        r"[rs]k_(?:live|test)_",
        "Stripe secret and restricted keys (publishable pk_ keys are public)",
        show=8,
    ),
    _shape(
        "google-api-key",
        rf"{_BEFORE}AIza[0-9A-Za-z_-]{{35}}{_AFTER}",
        "AIza",
        "Google API keys",
        show=4,
    ),
    _shape(
        "openai-key",
        rf"{_BEFORE}sk-[A-Za-z0-9_-]{{20,}}",
        "sk-",
        "OpenAI-style keys: sk-, sk-proj-, sk-ant-, with upper and lower case and digits",
        validator=_mixed_case_and_digit,
        show=3,
    ),
    _shape(
        "connection-string",
        # The password runs to the last @ before the host: it may hold @ itself.
        r"(?i)\b[a-z][a-z0-9+.-]{1,30}://[^\s:/@\"'<>]*:(?P<secret>[^\s/]+?)@"
        r"(?=[^\s@/\"'<>]*(?:[/?#\s\"'<>]|$))",
        _CONNECTION_HINT,
        "the password in scheme://user:password@host; user and host stay visible",
    ),
    _shape(
        "card-number",
        _CARD,
        r"[2-6][0-9]{3}[ -]?[0-9]{4}",
        "payment card numbers: 13-19 digits of a known brand that pass the Luhn check",
        validator=_card_number,
    ),
    _shape(
        "bearer-token",
        r"(?<![A-Za-z0-9])(?i:bearer)\s+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)",
        f"(?i:bearer){_WS}",
        "the token after Bearer (16 or more characters, with a digit)",
        validator=_has_digit,
    ),
    _shape(
        "basic-auth",
        r"(?<![A-Za-z0-9])(?i:basic)\s+(?P<secret>[A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])",
        f"(?i:basic){_WS}",
        "the credentials after Basic (base64 of user:password)",
        validator=_basic_credentials,
    ),
    _keyed(
        "aws-secret-key",
        rf".*secret{_S}access{_S}key|aws{_S}secret(?:{_S}key)?",
        "AWS secret access keys, by key name (a bare 40-character value is not enough)",
        show=4,
    ),
    _keyed(
        "session-token",
        rf".*(?:session|security){_S}token",
        "AWS session tokens, x-amz-security-token and other session tokens, by key name",
    ),
    _keyed(
        "password",
        # pass only as a word of its own (bypass is no password); pwd only after
        # another word, as sudo logs' PWD=/home/alice is a directory.
        rf".*pass{_S}(?:word|wd|phrase)(?:{_S}hash)?|(?:.*[-_. ])?pass|.+[-_. ]pwd",
        "passwords, passphrases and their hashes, by key name, whatever the value",
    ),
    _keyed(
        "api-key",
        rf".*api{_S}(?:key|secret)",
        "API keys by key name: api_key, apiKey, x-api-key, api_secret",
    ),
    _keyed(
        "secret",
        rf".*secret(?:{_S}(?:key|value|string|token))?"
        rf"|.*(?:private|signing|master|encryption|account|client){_S}key",
        "secrets by key name: client_secret, secret_key, private_key, signing_key, ...",
    ),
    _keyed(
        "token",
        rf"(?:.*(?:{_TOKEN_KINDS}){_S})?token",
        "tokens by key name: token, access_token, refresh_token, id_token, x-auth-token",
    ),
    _keyed(
        "authorization",
        rf"(?:proxy{_S})?authorization",
        "Authorization headers: the credentials after the scheme (Bearer, Basic, ...)",
        value=r"(?is)^\s*(?:(?:bearer|basic|token|digest|negotiate|ntlm|aws4-hmac-sha256"
        r"|dpop|mac|hoba|mutual)\s+)?(?P<secret>\S.*)",
    ),
    _keyed(
        "cookie",
        rf"(?:set{_S})?cookies?",
        "Cookie and Set-Cookie headers: session cookies are credentials",
    ),
)

_BUILTIN = frozenset(DEFAULT_DETECTORS)

#: Printable ASCII written as a JSON escape, except what encoders escape for HTML safety
#: (" & ' / < > \ `): nothing needs it, so it may disguise a key or a secret; the text
#: then gets the full scan with every detector.
_PLAIN_ESCAPE = re.compile(
    r"\\u00(?:"
    + "|".join(f"{c:02x}" for c in range(0x20, 0x7F) if chr(c) not in "\"&'/<>\\`")
    + ")",
    re.IGNORECASE,
)
#: The name of a name and value pair: {"name": "DB_PASSWORD", ...}.
_PAIR_NAME = re.compile(r'"(?:[nN]ame|[kK]ey)"\s*:\s*"([^"\\]{1,64})"')
_KEY_ENDINGS = "api|ate|ing|ter|ion|unt|ent|ret|ess"  # api_, private_, signing_, ... key
#: Matches the lowercased raw text of everything a built-in detector fires on.
_FAST_PRECHECK = re.compile(
    "|".join(
        (
            rf"w(?:(?<=pass[-_. ]w)|(?<=passw))(?:ord|d)(?:{_S}hash)?{_KEY_END}",
            rf"s(?<=pass)(?<![a-z0-9]pass){_KEY_END}",
            rf"d(?<=.[-_. ]pwd){_KEY_END}",
            rf"h(?:(?:(?<=pass[-_. ]ph)|(?<=passph))rase(?:{_S}hash)?{_KEY_END}"
            r"|(?<=gh)[pousr]_|(?<=gith)ub_pat_)",
            rf"k(?:(?<=tok)en{_KEY_END}|(?<=cook)ies?{_KEY_END}"
            rf"|(?:(?<=(?:{_KEY_ENDINGS})k)|(?<=(?:{_KEY_ENDINGS})[-_. ]k))ey{_KEY_END}"
            r"|(?<=[rs]k)_(?:live|test)_|(?<=sk)-)",
            rf"c(?<=sec)ret(?:{_S}(?:key|value|string|token))?{_KEY_END}",
            rf"z(?:(?<=authoriz)ation{_KEY_END}|(?<=aiz)a)",
            r"j(?<=eyj)[a-z0-9_-]{5,}\.ey",
            r"x(?:ox[abposre]-|app-)",
            _PLAIN_ESCAPE.pattern,
            f"b(?:earer|asic){_WS}",
            "g(?<=-----beg)in ",
            _CONNECTION_HINT,
            *(
                rf"{d}(?:(?<![0-9a-z_.-]{d})|(?<=\\[bfnrt]{d})|(?<=\\u[0-9a-f]{{4}}{d}))"
                r"[0-9]{3}[ -]?[0-9]{4}(?:[0-9]{2}[ -]?[0-9]|[ -]?[0-9]{4})"
                for d in "23456"
            ),
        )
    ),
    re.ASCII,
)


# -- a compiled set ------------------------------------------------------------------------


class DetectorSet:
    """An ordered list of detectors with its precheck and key lookups prepared once."""

    def __init__(self, detectors: Iterable[Detector]) -> None:
        self.detectors: tuple[Detector, ...] = tuple(detectors)
        names = [d.name for d in self.detectors]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate detector names: {', '.join(duplicates)}")
        self._keyed = tuple(d for d in self.detectors if d.field is not None)
        self.shapes = tuple(d for d in self.detectors if d.field is None)
        self._rank = {d.name: i for i, d in enumerate(self.detectors)}
        self._fast = any(d in _BUILTIN for d in self.detectors)
        self._extra_hints = tuple(d.raw_hint() for d in self.detectors if d not in _BUILTIN)
        self._key_cache: dict[str, Detector | None] = {}

    def __iter__(self) -> Iterator[Detector]:
        return iter(self.detectors)

    def may_contain_secret(self, text: str) -> bool:
        """False when no detector can fire anywhere in ``text`` (the cheap precheck)."""
        if self._fast and _FAST_PRECHECK.search(text.lower()) is not None:
            return True
        if any(hint.search(text) is not None for hint in self._extra_hints):
            return True
        # {"name": "DB_PASSWORD", "value": ...}: a secret's key written as a value
        if '"value"' not in text and '"Value"' not in text:
            return False
        return any(self.for_key(name) for name in _PAIR_NAME.findall(text))

    def shapes_in(self, raw: str) -> tuple[Detector, ...]:
        """The value-shape detectors whose hint matches ``raw``: the only ones to run."""
        if _PLAIN_ESCAPE.search(raw):
            return self.shapes
        return tuple(d for d in self.shapes if d.raw_hint().search(raw) is not None)

    def for_key(self, key: str) -> Detector | None:
        """The first detector whose ``field`` matches the whole ``key``, if any."""
        try:
            return self._key_cache[key]
        except KeyError:
            pass
        found = next((d for d in self._keyed if d.field and d.field.fullmatch(key)), None)
        if len(self._key_cache) >= _KEY_CACHE_LIMIT:
            self._key_cache.clear()
        self._key_cache[key] = found
        return found

    def rank(self, detector: Detector) -> int:
        """Position in the list: the lower names the mask when two finds start together."""
        return self._rank[detector.name]


#: The built-in detectors, ready to use.
DEFAULT = DetectorSet(DEFAULT_DETECTORS)
