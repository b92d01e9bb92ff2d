"""Secrets in log content: finding them with the detectors, and masking them.

The detectors (``DEFAULT_DETECTORS``, ``DetectorSet``) live in ``detectors`` and are
re-exported here. Owns how a found secret is shown, and masking a column value
(``mask_text``) or a JSON text (``mask_json_text``) so that only the secret
characters change: the rest of ``raw``
stays byte-identical and valid JSON stays valid. Never decides whether to mask
(callers do), never prints, never reads files or the environment.

A detector fires on a key name (``field``: the whole key as written, any case), on a
value shape (``value``: searched in every string and number), or on a value shape
under a key (both). Keys are found in JSON and in free text as ``key=value`` or
``key: value`` (query strings, headers, logfmt). A keyed value is masked whatever
it holds: strings and numbers, and every leaf of an object or array under the key;
empty strings, booleans and null stay. In free text a key may follow ``-`` or ``--``
(a command line) and be written ``\"key\"`` (JSON inside a string of a line that
is not JSON); a value in quotes runs to its closing quote, one in brackets to its
closing bracket. In JSON, the ``value`` of a ``{"name": ..., "value": ...}`` pair whose
name is a secret's key is masked too. A masked secret shows as ``<redacted:NAME>``,
or, for detectors with ``show_prefix``, as its first characters, ``…`` and the label
when the secret is at least four times that long: ``wJal…<redacted:aws-secret-key>``.

Built-in detectors, in priority order (when two finds start at one place the earlier
names the mask); ``shows`` is the prefix kept:

- private-key: PEM ``-----BEGIN ... PRIVATE KEY-----`` blocks. Shows nothing.
- jwt: ``eyJ<header>.ey<payload>.<signature>``. Shows nothing.
- github-token: ``ghp_ gho_ ghu_ ghs_ ghr_`` + 36, ``github_pat_``. Shows 4.
- slack-token: ``xoxb- xoxp- xoxa- xoxo- xoxs- xoxr- xoxe- xapp-``. Shows 5.
- stripe-key: ``sk_live_ rk_live_ sk_test_ rk_test_``. Shows 8.
- google-api-key: ``AIza`` + 35. Shows 4.
- openai-key: ``sk-`` + 20 or more with upper and lower case and digits. Shows 3.
- connection-string: the password in ``scheme://user:password@host``; user and
  host stay visible. Shows nothing.
- card-number: 13-19 digits, optionally grouped by spaces or dashes, of a known
  brand, passing the Luhn check. Shows nothing.
- bearer-token: the token after ``Bearer`` (16+ characters with a digit).
- basic-auth: the credentials after ``Basic`` (base64 of ``user:password``).
- aws-secret-key: keys ``*secret_access_key``, ``aws_secret(_key)``. Shows 4.
- session-token: keys ``*session_token``, ``*security_token``.
- password: keys ``*password``, ``*passwd``, ``*passphrase``, ``*password_hash``,
  ``pass``, ``*_pass``, ``*_pwd`` (not ``bypass``, nor sudo's ``PWD``: a directory).
- api-key: keys ``*api_key``, ``*api_secret`` (``x-api-key``, ``apiKey``).
- secret: keys ``*secret``, ``*secret_key``, ``*secret_value``, ``client_secret``,
  ``private_key``, ``signing_key``, ``master_key``, ``encryption_key``, ...
- token: keys ``token``, ``access_token``, ``refresh_token``, ``id_token``,
  ``auth_token``, ``x-auth-token``, ``bot_token``, ... (not ``nextToken``,
  ``clientToken``, ``token_id``: pagination, idempotency and ids).
- authorization: keys ``authorization``, ``proxy-authorization``: the credentials
  after the scheme (``Bearer <redacted:jwt>``).
- cookie: keys ``cookie``, ``set-cookie``.

Not secrets, deliberately: AWS access key ids (``AKIA``/``ASIA``), request, user,
session and event ids, UUIDs, hex digests. A bare 40-character AWS secret key looks
like a path or a digest, so it is found by its key name only.

Cheap when there is nothing to mask: ``detectors._FAST_PRECHECK``, one regex over the
lowercased text, matches every text any built-in detector could fire in; its
branches start at rare characters because Python's regex engine pays per candidate
position. Detectors from a policy add their own ``hint`` (or pattern) to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from auditcli.privacy.detectors import (
    _MAX_JSON_DEPTH,
    DEFAULT,
    DEFAULT_DETECTORS,
    Detector,
    DetectorSet,
    luhn_ok,
)

__all__ = [
    "DEFAULT",
    "DEFAULT_DETECTORS",
    "Detector",
    "DetectorSet",
    "luhn_ok",
    "mask_json_text",
    "mask_text",
]

# -- finding in one string -----------------------------------------------------------------

_Span = tuple[int, int, Detector]  # start, end, what found it

#: ``key=value`` or ``key: value`` in free text: also ``--password=...`` (a command line)
#: and ``\"key\": ...`` (JSON inside a string of a line that is not JSON).
_ASSIGNMENT = re.compile(
    r"""(?:(?<![A-Za-z0-9_.-])|(?<=[\s"'=]-)|(?<=[\s"'=]--)|(?<=^-)|(?<=^--))"""
    r"""([A-Za-z][A-Za-z0-9_.-]{0,63})(?:\\?["'])?[ \t]*[:=][ \t]*"""
)
#: A quoted value, its escaped quotes included: "a\"b" or \"a\\\"b\" (escaped once more).
_QUOTED = {
    '"': re.compile(r'"((?:[^"\\]|\\.)*)"'),
    "'": re.compile(r"'((?:[^'\\]|\\.)*)'"),
    '\\"': re.compile(r'\\"((?:[^"\\]|\\[^"])*)\\"'),
}
_FIRST_WORD = re.compile(r"""[^\s,;&"'<>]+""")
_EOL = re.compile(r"[\r\n]")


@dataclass(frozen=True)
class _Scan:
    """What one masking run looks for."""

    detectors: DetectorSet
    shapes: tuple[Detector, ...]
    named: Mapping[str, Detector] = field(default_factory=dict)
    """Values of ``{"name": "DB_PASSWORD", "value": ...}`` pairs, by the detector
    their name fires (environment variables, headers as lists)."""


#: The members of a name and value pair, as CloudTrail writes an ECS container's
#: environment or a request's headers: {"name": "DB_PASSWORD", "value": "..."}.
PAIR_NAMES = ("name", "Name", "key", "Key")
PAIR_VALUES = ("value", "Value")


def _named_secrets(parsed: object, detectors: DetectorSet) -> dict[str, Detector]:
    """The values of the name and value pairs in ``parsed`` whose name is a secret's."""
    named: dict[str, Detector] = {}
    pending = [parsed]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(v for v in item if isinstance(v, dict | list))
        elif isinstance(item, dict):
            pending.extend(v for v in item.values() if isinstance(v, dict | list))
            name = next((item[k] for k in PAIR_NAMES if isinstance(item.get(k), str)), None)
            value = next((item[k] for k in PAIR_VALUES if k in item), None)
            detector = detectors.for_key(name) if name is not None else None
            if detector is not None and isinstance(value, str | int | float) and value != "":
                named[value if isinstance(value, str) else orjson.dumps(value).decode()] = detector
    return named


def _found(detector: Detector, text: str, start: int, end: int) -> list[_Span]:
    """Where ``detector.value`` finds a secret in ``text[start:end]``.

    The stretch is searched on its own, so that ``^`` in a pattern means its start
    (``finditer(text, start)`` would let ``^`` match only at the text's start).
    """
    pattern = detector.value
    assert pattern is not None
    group = "secret" if "secret" in pattern.groupindex else 0
    stretch = text if start == 0 and end == len(text) else text[start:end]
    spans: list[_Span] = []
    for match in pattern.finditer(stretch):
        secret = match.group(group)
        if secret and (detector.validator is None or detector.validator(secret)):
            span_start, span_end = match.span(group)
            spans.append((start + span_start, start + span_end, detector))
    return spans


def _keyed_spans(detector: Detector, text: str, start: int = 0, end: int = -1) -> list[_Span]:
    """What ``detector`` masks in ``text[start:end]``, found under one of its keys."""
    stop = len(text) if end < 0 else end
    if detector.value is not None:
        return _found(detector, text, start, stop)
    return [(start, stop, detector)] if stop > start else []


def _shape_spans(text: str, scan: _Scan) -> list[_Span]:
    return [span for d in scan.shapes for span in _found(d, text, 0, len(text))]


def _assignment_spans(text: str, scan: _Scan) -> list[_Span]:
    """Secrets in ``key=value`` and ``key: value`` pairs of free text."""
    spans: list[_Span] = []
    for match in _ASSIGNMENT.finditer(text):
        detector = scan.detectors.for_key(match.group(1))
        if detector is None:
            continue
        start = match.end()
        eol = _EOL.search(text, start)
        end = eol.start() if eol else len(text)
        width = 2 if text.startswith('\\"', start) else 1
        opening = text[start : start + width]
        if opening in _QUOTED:
            quoted = _QUOTED[opening].match(text, start, end)
            start, end = (quoted.span(1)) if quoted else (start + len(opening), end)
        elif opening in ("{", "["):
            end = _closing_bracket(text, start, end)
        elif detector.value is None:
            word = _FIRST_WORD.match(text, start, end)
            if word is None:
                continue
            end = word.end()
        spans.extend(_keyed_spans(detector, text, start, end))
    return spans


def _closing_bracket(text: str, start: int, end: int) -> int:
    """Past the bracket closing the one at ``start`` (strings skipped), else ``end``:
    a JSON value under a secret key, in text that is not JSON, is masked whole."""
    depth = 0
    for token in _BRACKETS.finditer(text, start, end):
        symbol = token.group()
        if symbol in "[{":
            depth += 1
        elif symbol in "]}":
            depth -= 1
            if depth == 0:
                return token.end()
    return end


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _apply(text: str, spans: list[_Span], detectors: DetectorSet) -> str:
    """``text`` with every span shown masked; overlapping spans merge into one."""
    if not spans:
        return text
    spans.sort(key=lambda span: (span[0], detectors.rank(span[2])))
    pieces: list[str] = []
    position = index = 0
    while index < len(spans):
        start, end, detector = spans[index]
        index += 1
        while index < len(spans) and spans[index][0] < end:
            end = max(end, spans[index][1])
            index += 1
        pieces.append(text[position:start])
        pieces.append(detector.shown(text[start:end]))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _mask_free_text(text: str, scan: _Scan) -> str:
    spans = _shape_spans(text, scan) if scan.shapes else []
    if "=" in text or ":" in text:
        spans.extend(_assignment_spans(text, scan))
    return _apply(text, spans, scan.detectors)


def _mask_string(text: str, keyed: Detector | None, scan: _Scan, depth: int) -> str:
    """One decoded string value, found under a key ``keyed`` fires on (or None)."""
    if keyed is not None:
        spans = _keyed_spans(keyed, text)
        return _apply(text, spans + _shape_spans(text, scan), scan.detectors) if spans else text
    if text.lstrip()[:1] in ("{", "[") and depth < _MAX_JSON_DEPTH:
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
        else:
            return _mask_json(text, scan, depth + 1)
    return _mask_free_text(text, scan)


# -- JSON text ---------------------------------------------------------------------------------

#: A string (and whether it is a key), a bracket, or a scalar; commas and colons are skipped.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"(\s*:)?|[{}\[\]]|[^\s{}\[\],:"]+')


def _decode(token: str) -> str:
    if "\\" not in token:
        return token[1:-1]
    decoded = orjson.loads(token)
    assert isinstance(decoded, str)
    return decoded


def _mask_json(text: str, scan: _Scan, depth: int = 0) -> str:
    """Valid JSON ``text`` with secret values replaced in place; nothing else changes."""
    pieces: list[str] = []
    position = 0
    # Per open container: the key its values sit under, and the detector that masks
    # every leaf in it because an enclosing key matched.
    keys: list[str | None] = []
    forced: list[Detector | None] = []
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        first = token[0]
        if match.group(1):
            keys[-1] = _decode(token[: token.rindex('"') + 1])
            continue
        if first in "}]":
            keys.pop()
            forced.pop()
            continue
        key = keys[-1] if keys else None
        keyed = forced[-1] if forced else None
        if keyed is None and key is not None:
            keyed = scan.detectors.for_key(key)
            if keyed is None and scan.named and key in PAIR_VALUES:
                keyed = scan.named.get(_decode(token) if first == '"' else token)
        if first in "{[":
            keys.append(key if first == "[" else None)
            forced.append(keyed)
            continue
        if first == '"':
            value = _decode(token)
            masked = _mask_string(value, keyed, scan, depth)
        elif first in "tfn":  # true, false, null
            continue
        else:
            value = token
            spans = _keyed_spans(keyed, token) if keyed else _shape_spans(token, scan)
            masked = _apply(token, spans, scan.detectors)
        if masked != value:
            start, end, replacement = _changed_stretch(token, value, masked)
            pieces.append(text[position : match.start() + start])
            pieces.append(replacement)
            position = match.start() + end
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _changed_stretch(token: str, value: str, masked: str) -> tuple[int, int, str]:
    """Where in ``token`` (a JSON string or a number, as written) ``value`` became
    ``masked``, and what to write there: only that stretch is written anew, so the
    escapes around a secret stay as they were."""
    if token[0] != '"':
        return 0, len(token), orjson.dumps(masked).decode()
    same_start = 0
    limit = min(len(value), len(masked))
    while same_start < limit and value[same_start] == masked[same_start]:
        same_start += 1
    same_end = 0
    while (
        same_end < limit - same_start
        and value[len(value) - 1 - same_end] == masked[len(masked) - 1 - same_end]
    ):
        same_end += 1
    offsets = _raw_offsets(token)
    written = orjson.dumps(masked[same_start : len(masked) - same_end]).decode()[1:-1]
    return offsets[same_start], offsets[len(value) - same_end], written


def _raw_offsets(token: str) -> list[int]:
    """For each character of the string ``token`` decodes to (and its end), where it
    starts in ``token``: an escape is one character written as 2, 6 or 12."""
    offsets: list[int] = []
    at = 1
    while at < len(token) - 1:
        offsets.append(at)
        if token[at] != "\\":
            at += 1
        elif token[at + 1] != "u":
            at += 2
        elif _SURROGATE_PAIR.match(token, at):
            at += 12
        else:
            at += 6
    offsets.append(at)
    return offsets


_SURROGATE_PAIR = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")


# -- the API -----------------------------------------------------------------------------------


def mask_json_text(raw: str, detectors: DetectorSet = DEFAULT) -> str:
    """``raw`` (an event's JSON text) with every secret masked in place.

    Only masked values change; the rest stays byte-identical and valid JSON stays
    valid. Text that is not JSON is masked as free text.
    """
    if not detectors.may_contain_secret(raw):
        return raw
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _mask_free_text(raw, _Scan(detectors, detectors.shapes_in(raw)))
    return _mask_json(
        raw, _Scan(detectors, detectors.shapes_in(raw), _named_secrets(parsed, detectors))
    )


def mask_text(text: str, detectors: DetectorSet = DEFAULT, key: str | None = None) -> str:
    """A column value with every secret in it masked (JSON inside it stays valid);
    found under ``key`` (a CSV column's name), masked whole when that names a secret,
    as a JSON member's value is."""
    keyed = detectors.for_key(key) if key is not None else None
    if keyed is None and not detectors.may_contain_secret(text):
        return text
    return _mask_string(text, keyed, _Scan(detectors, detectors.shapes_in(text)), 0)
