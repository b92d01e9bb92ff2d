"""The JSON object built for one auditd event: its records parsed, decoded, summed up.

``event_doc`` takes the records of one event (their type and their text after the
``msg=audit(...)`` header) and returns what the ``auditd`` adapter maps:

- ``ts`` the time of ``audit(EPOCH...)`` in ISO 8601, UTC, to the millisecond;
  ``id`` ``EPOCH:SERIAL``; ``serial``; ``node`` when given.
- ``records``: each record's fields by record type (PATH always a list; EXECVE records
  merged into one; another type that repeats becomes a list). Quoted values are
  unquoted; hex values of the fields auditd hex-encodes (``proctitle``, ``cmd``,
  ``name``, ``exe``, EXECVE arguments, ...) are decoded; the fields inside a user-space
  ``msg='...'`` are read as the record's own (the old PAM form's closing
  ``(hostname=?, addr=?, terminal=cron res=success)`` too); ENRICHED fields (after 0x1D:
  ``AUID="alice"``, ``SYSCALL=openat``) keep their upper-case names.
- ``type`` the main record's type: the first that is not SYSCALL nor one of the
  records that only detail a system call (EXECVE, CWD, PATH, ...); else SYSCALL,
  else EXECVE, else the first record's.
- ``event`` the SYSCALL record's fields with the main record's laid over them,
  unset values (``4294967295`` ids, ``unset``, ``(null)``, ``(none)``, ``?``) left out.
- Derived: ``syscall`` (the ENRICHED name, else the name for ``arch``, else the
  number), ``path`` (the PATH item the call acted on), ``sockaddr`` (SOCKADDR's address
  as ``ip:port``, ``[ipv6]:port`` or a socket path), ``cmdline`` (EXECVE's arguments
  joined by spaces).

Pure functions of text: no I/O, no DuckDB.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

from auditcli.ingest.auditd_syscalls import syscall_name

_FIELD = re.compile(r"""(?<!\S)([\w\-\[\]]+)=("[^"]*"|'[^']*'|\{[^}]*\}|\S*)""")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_ARGUMENT = re.compile(r"a(\d+)(?:\[(\d+)\])?")
_AVC = re.compile(r"avc:\s+(\w+)\s+\{([^}]*)\}")
_ENRICHED = "\x1d"
#: An old LOGIN record's "old auid=" and "new auid=" (now "old-auid=" and "auid=").
_OLD_LOGIN = re.compile(r"(?<!\S)(old|new) (auid|ses)=")
#: The closing group of an old PAM message: ``(hostname=?, addr=?, terminal=cron res=success)``.
_OLD_PAM_TAIL = re.compile(r"\(([^()'\"]*)\)\s*$")

#: Fields auditd writes hex-encoded when their value holds a space, quote or control byte.
ENCODED_FIELDS = frozenset(
    {
        "acct",
        "cgroup",
        "cmd",
        "comm",
        "cwd",
        "data",
        "device",
        "dir",
        "exe",
        "file",
        "grp",
        "key",
        "name",
        "new-disk",
        "new-fs",
        "new_group",
        "ocomm",
        "old-disk",
        "old-fs",
        "path",
        "proctitle",
        "root_dir",
        "sw",
        "vm",
        "watch",
    }
)

#: Records that only add detail to the system call of their event.
SYSCALL_DETAIL = frozenset(
    {
        "SYSCALL",
        "EXECVE",
        "CWD",
        "PATH",
        "PROCTITLE",
        "SOCKADDR",
        "EOE",
        "BPRM_FCAPS",
        "MMAP",
        "FD_PAIR",
        "OBJ_PID",
        "SOCKETCALL",
        "IPC",
        "IPC_SET_PERM",
        "CAPSET",
        "MQ_OPEN",
        "MQ_SENDRECV",
        "MQ_NOTIFY",
        "MQ_GETSETATTR",
    }
)

#: Values that mean "not set" in an event's merged fields.
UNSET = frozenset({"", "?", "(null)", "(none)", "unset"})
_UNSET_IDS = frozenset({"4294967295", "-1"})


def event_doc(
    node: str | None,
    epoch: str | None,
    millis: str | None,
    serial: str | None,
    bodies: list[tuple[str, str]],
) -> dict[str, Any]:
    """The JSON object of one event (see the module docstring); ``bodies`` holds each
    record's (type, text after its header), in input order."""
    doc: dict[str, Any] = {}
    if epoch is not None:
        doc["ts"] = _iso(epoch, millis)
        fraction = f".{millis}" if millis else ""
        doc["id"] = f"{epoch}{fraction}:{serial}"
        doc["serial"] = int(serial or 0)
    if node is not None:
        doc["node"] = node
    parsed = [(kind, parse_fields(body, kind)) for kind, body in _execve_joined(bodies)]
    records = _records_by_type(parsed)
    main = next((k for k, _ in parsed if k not in SYSCALL_DETAIL), None)
    if main is None:
        present = [kind for kind in ("SYSCALL", "EXECVE") if kind in records]
        main = present[0] if present else (parsed[0][0] if parsed else "UNKNOWN")
    doc["type"] = main
    merged = _merged(_first(records.get("SYSCALL")), _first(records.get(main)))
    if "syscall" in merged:
        doc["syscall"] = (
            merged.get("SYSCALL")
            or syscall_name(merged.get("arch"), merged["syscall"])
            or merged["syscall"]
        )
    derived = {
        "path": _object_path(records.get("PATH")),
        "sockaddr": _socket_address(_first(records.get("SOCKADDR"))),
        "cmdline": _command_line(_first(records.get("EXECVE"))),
    }
    doc.update({key: value for key, value in derived.items() if value})
    doc["event"] = merged
    doc["records"] = records
    return doc


def _execve_joined(bodies: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The records, with every EXECVE record's text joined into the first one's place
    (a long argument is split over several records as ``a1[0]=... a1[1]=...``)."""
    execve = [body for kind, body in bodies if kind == "EXECVE"]
    if len(execve) < 2:
        return bodies
    joined = " ".join(body.partition(_ENRICHED)[0] for body in execve)
    out = [(kind, body) for kind, body in bodies if kind != "EXECVE"]
    first = next(index for index, (kind, _) in enumerate(bodies) if kind == "EXECVE")
    out.insert(first, ("EXECVE", joined))
    return out


def _iso(epoch: str, millis: str | None) -> str:
    """``EPOCH.MILLIS`` in ISO 8601, or text that reads as no time past year 9999."""
    try:
        moment = datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    except (OverflowError, ValueError, OSError):
        return f"out of range: {epoch} s from 1970"
    return f"{moment}.{millis}Z" if millis else f"{moment}Z"


def parse_fields(body: str, kind: str = "") -> dict[str, str]:
    """The ``key=value`` fields of one record's text after its header, decoded."""
    plain, _, enriched = body.partition(_ENRICHED)
    if kind == "LOGIN":  # the old form: "old auid=4294967295 new auid=0"
        plain = _OLD_LOGIN.sub(lambda m: f"old-{m[2]}=" if m[1] == "old" else f"{m[2]}=", plain)
    fields: dict[str, str] = {}
    chunks: dict[str, list[tuple[int, str]]] = {}
    for key, value in _FIELD.findall(plain):
        if key == "msg" and value.startswith("'"):
            inner = _OLD_PAM_TAIL.sub(lambda m: " " + m.group(1).replace(",", " "), value[1:-1])
            for inner_key, inner_value in parse_fields(inner, kind).items():
                fields.setdefault(inner_key, inner_value)
            continue
        argument = _ARGUMENT.fullmatch(key) if kind == "EXECVE" else None
        if argument is not None and argument.group(2) is not None:
            name = f"a{argument.group(1)}"
            chunks.setdefault(name, []).append((int(argument.group(2)), value))
            continue
        fields.setdefault(key, _value(key, value, argument is not None))
    for key, parts in chunks.items():
        fields.setdefault(key, _joined_chunks([value for _, value in sorted(parts)]))
    if kind == "AVC" and (avc := _AVC.search(plain)) is not None:
        fields.setdefault("seresult", avc.group(1))
        fields.setdefault("seperms", avc.group(2).strip())
    for key, value in _FIELD.findall(enriched):
        fields.setdefault(key, _unquote(value))
    return fields


def _joined_chunks(parts: list[str]) -> str:
    """One long EXECVE argument from its ``aN[i]`` pieces (hex, or quoted text)."""
    if all(_HEX.fullmatch(part) for part in parts):
        return _value("", "".join(parts), True)
    return "".join(_unquote(part) for part in parts)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _value(key: str, value: str, encoded: bool) -> str:
    """``value`` unquoted, or decoded when auditd hex-encoded it."""
    if value.startswith('"'):
        return _unquote(value)
    if (encoded or key in ENCODED_FIELDS) and _HEX.fullmatch(value):
        decoded = bytes.fromhex(value)
        if key == "proctitle":
            decoded = decoded.rstrip(b"\0").replace(b"\0", b" ")
        return decoded.decode("utf-8", "backslashreplace")
    return value


def _records_by_type(parsed: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    records: dict[str, Any] = {}
    for kind, fields in parsed:
        if kind == "EOE":
            continue
        if kind == "PATH":
            records.setdefault(kind, []).append(fields)
        elif kind not in records:
            records[kind] = fields
        elif isinstance(records[kind], list):
            records[kind].append(fields)
        else:
            records[kind] = [records[kind], fields]
    return records


def _first(record: Any) -> dict[str, str]:
    if isinstance(record, list):
        return record[0] if record else {}
    return record if isinstance(record, dict) else {}


def _merged(syscall: dict[str, str], main: dict[str, str]) -> dict[str, str]:
    """``main``'s fields over ``syscall``'s, without unset values."""
    merged: dict[str, str] = {}
    for key, value in {**syscall, **main}.items():
        if value in UNSET:
            continue
        if value in _UNSET_IDS and (key.lower().endswith("uid") or key.lower().endswith("ses")):
            continue
        merged[key] = value
    return merged


def _object_path(items: Any) -> str | None:
    """The name of the first PATH item that is not a parent directory, else the first name."""
    if not isinstance(items, list):
        return None
    named = [item for item in items if item.get("name") not in (None, *UNSET)]
    for item in named:
        if item.get("nametype") != "PARENT":
            return str(item["name"])
    return str(named[0]["name"]) if named else None


def _socket_address(record: dict[str, str]) -> str | None:
    """A SOCKADDR's ``saddr`` as ``ip:port``, ``[ipv6]:port``, or a local socket's path."""
    saddr = record.get("saddr", "")
    if not _HEX.fullmatch(saddr):
        return None
    data = bytes.fromhex(saddr)
    if len(data) < 2:
        return None
    family = int.from_bytes(data[:2], "little")
    if family == 2 and len(data) >= 8:
        return f"{ipaddress.IPv4Address(data[4:8])}:{int.from_bytes(data[2:4], 'big')}"
    if family == 10 and len(data) >= 24:
        return f"[{ipaddress.IPv6Address(data[8:24])}]:{int.from_bytes(data[2:4], 'big')}"
    if family == 1 and len(data) > 2:
        path = data[2:]
        abstract = path[:1] == b"\0"
        name = path[1:] if abstract else path
        text = name.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
        return f"@{text}" if abstract else text or None
    return None


def _command_line(record: dict[str, str]) -> str | None:
    """EXECVE's arguments ``a0 .. a(argc-1)`` joined by spaces."""
    if not record:
        return None
    count = int(record["argc"]) if record.get("argc", "").isdigit() else len(record)
    arguments = [record[f"a{i}"] for i in range(count) if f"a{i}" in record]
    return " ".join(arguments) or None
