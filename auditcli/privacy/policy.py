"""The privacy policy file: finding it, reading it, and every way it can be wrong.

Owns the format of ``.auditcli.toml`` (or the file given with ``--policy``)::

    [privacy]
    pseudonymize = true            # personal data as keyed tokens (default false)

    [secrets]
    disabled = ["card-number"]     # built-in detectors to turn off
    extra_detectors = [            # more detectors, tried before the built-in ones
      { name = "internal-token", value = "itk_[A-Za-z0-9]{32}", show_prefix = 4 },
      { name = "vault-secret", field = "vault[-_]?secret" },
    ]

``field`` matches whole key names, ignoring case (``^`` and ``$`` are implied, so
they are refused); ``value`` is searched in every string value (its ``secret`` group,
when it has one, is the part masked) and in the raw text as a precheck, so it should
not rely on characters JSON escapes (quotes, backslashes, control characters).
Every mistake raises ``UsageError`` naming the file and the key. Never prints, never
reads the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from auditcli.errors import InputError, UsageError
from auditcli.privacy.secrets import DEFAULT, DEFAULT_DETECTORS, Detector, DetectorSet

POLICY_FILE_NAME = ".auditcli.toml"
MAX_SHOW_PREFIX = 16
_TABLES = {"privacy": ("pseudonymize",), "secrets": ("disabled", "extra_detectors")}
_DETECTOR_KEYS = ("name", "field", "value", "show_prefix")
_BUILTIN_NAMES = tuple(d.name for d in DEFAULT_DETECTORS)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class Policy:
    """What a policy file asks for; ``Policy()`` is the default when there is none."""

    pseudonymize: bool = False
    disabled_detectors: tuple[str, ...] = ()
    extra_detectors: tuple[Detector, ...] = ()
    source: Path | None = None

    def detectors(self) -> DetectorSet:
        """The detectors to mask with: extra ones, then the enabled built-in ones.

        Build it once per run: the set caches its key lookups.
        """
        if not self.disabled_detectors and not self.extra_detectors:
            return DEFAULT
        enabled = [d for d in DEFAULT_DETECTORS if d.name not in self.disabled_detectors]
        return DetectorSet([*self.extra_detectors, *enabled])

    def record_detectors(self) -> DetectorSet:
        """The detectors that mask what the access log keeps: every built-in one and the
        extra ones. What a run may show is not what a permanent record may hold."""
        if not self.extra_detectors:
            return DEFAULT
        return DetectorSet([*self.extra_detectors, *DEFAULT_DETECTORS])


def find_policy(start: Path) -> Path | None:
    """The nearest ``.auditcli.toml`` in ``start`` or one of its parents, if any."""
    directory = start.resolve()
    if not directory.is_dir():
        directory = directory.parent
    for candidate in (directory, *directory.parents):
        path = candidate / POLICY_FILE_NAME
        if path.is_file():
            return path
    return None


def read_policy(path: Path) -> Policy:
    """The policy in ``path``, checked; raises ``UsageError`` naming the file and key
    (``InputError`` when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise InputError(f"{path}: cannot read the policy file: {reason}") from e
    import tomllib  # only a policy file needs it

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from e
    return _parse(document, path)


def _fail(path: Path, where: str, what: str, hint: str | None = None) -> UsageError:
    return UsageError(f"{path}: {where}: {what}", hint)


def _table(document: Mapping[str, object], name: str, path: Path) -> Mapping[str, object]:
    table = document.get(name, {})
    if not isinstance(table, Mapping):
        raise _fail(path, name, "expected a table", f"write it as [{name}]")
    unknown = sorted(set(table) - set(_TABLES[name]))
    if unknown:
        raise _fail(
            path,
            f"{name}.{unknown[0]}",
            "unknown key",
            f"keys of [{name}]: {', '.join(_TABLES[name])}",
        )
    return table


def _parse(document: Mapping[str, object], path: Path) -> Policy:
    unknown = sorted(set(document) - set(_TABLES))
    if unknown:
        raise _fail(path, unknown[0], "unknown table", "tables: [privacy], [secrets]")
    privacy = _table(document, "privacy", path)
    secrets = _table(document, "secrets", path)

    pseudonymize = privacy.get("pseudonymize", False)
    if not isinstance(pseudonymize, bool):
        raise _fail(path, "privacy.pseudonymize", "expected true or false")

    disabled = secrets.get("disabled", [])
    if not isinstance(disabled, list) or not all(isinstance(n, str) for n in disabled):
        raise _fail(path, "secrets.disabled", "expected a list of detector names")
    for name in disabled:
        if name not in _BUILTIN_NAMES:
            raise _fail(
                path,
                "secrets.disabled",
                f"no built-in detector {name!r}",
                f"built-in detectors: {', '.join(_BUILTIN_NAMES)}",
            )

    tables = secrets.get("extra_detectors", [])
    if not isinstance(tables, list):
        raise _fail(path, "secrets.extra_detectors", "expected a list of tables")
    extra: list[Detector] = []
    for index, table in enumerate(tables):
        detector = _detector(table, f"secrets.extra_detectors[{index}]", path, set(disabled))
        if any(d.name == detector.name for d in extra):
            raise _fail(path, f"secrets.extra_detectors[{index}].name", "used twice")
        extra.append(detector)
    return Policy(pseudonymize, tuple(disabled), tuple(extra), path)


def _detector(table: object, where: str, path: Path, disabled: set[str]) -> Detector:
    if not isinstance(table, Mapping):
        raise _fail(path, where, "expected a table such as {name = ..., value = ...}")
    unknown = sorted(set(table) - set(_DETECTOR_KEYS))
    if unknown:
        raise _fail(
            path, f"{where}.{unknown[0]}", "unknown key", f"keys: {', '.join(_DETECTOR_KEYS)}"
        )
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail(path, f"{where}.name", "expected a name of a-z, 0-9 and -")
    if name in _BUILTIN_NAMES and name not in disabled:
        raise _fail(
            path,
            f"{where}.name",
            f"{name!r} is a built-in detector",
            "pick another name, or list it in secrets.disabled to replace it",
        )
    patterns: dict[str, str | None] = {}
    for key in ("field", "value"):
        pattern = table.get(key)
        if pattern is not None and (not isinstance(pattern, str) or not pattern):
            raise _fail(path, f"{where}.{key}", "expected a regular expression string")
        if pattern is not None and _has_anchor(pattern):
            raise _fail(
                path,
                f"{where}.{key}",
                "anchors (^ $ \\A \\Z) are not supported",
                "field always matches the whole key; value is searched anywhere in a string",
            )
        patterns[key] = pattern
    if patterns["field"] is None and patterns["value"] is None:
        raise _fail(path, where, "needs a field or a value pattern")
    show_prefix = table.get("show_prefix", 0)
    if (
        not isinstance(show_prefix, int)
        or isinstance(show_prefix, bool)
        or not 0 <= show_prefix <= MAX_SHOW_PREFIX
    ):
        raise _fail(path, f"{where}.show_prefix", f"expected a whole number 0-{MAX_SHOW_PREFIX}")
    try:
        return Detector.compile(
            name, field=patterns["field"], value=patterns["value"], show_prefix=show_prefix
        )
    except re.error as e:
        key = "field" if _compiles(patterns["value"]) else "value"
        raise _fail(path, f"{where}.{key}", f"invalid regular expression: {e}") from e


def _compiles(pattern: str | None) -> bool:
    if pattern is None:
        return True
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _has_anchor(pattern: str) -> bool:
    """True when ``pattern`` has ``^``, ``$``, ``\\A`` or ``\\Z`` outside a character class."""
    in_class = escaped = False
    for index, char in enumerate(pattern):
        if escaped:
            escaped = False
            if char in "AZ" and not in_class:
                return True
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]" or pattern[index - 1] == "["
        elif char == "[":
            in_class = True
        elif char in "^$":
            return True
    return False
