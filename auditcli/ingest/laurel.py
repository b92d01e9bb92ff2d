"""laurel's JSON lines, mapped like auditd's text: the ``auditd`` adapter's fallback.

laurel (a plugin of auditd) writes one JSON object per event: ``ID``
(``EPOCH:SERIAL``), ``NODE``, ``SYSCALL`` (ENRICHED names beside the numbers),
``EXECVE`` (``ARGV``), ``PATH`` (a list), ``PROCTITLE``, and every other record type as
a list of records (``LOGIN``, ``USER_ACCT``, ``URINGOP``, ...). The main record is the
first of ``MAIN_TYPES`` present; fields are read from it before SYSCALL. Strings of
SQL only, as in ``adapter``; never touches rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import text
from auditcli.ingest.auditd_syscalls import TABLES
from auditcli.ingest.vendor import first

#: Record types that are an event's main record (rather than SYSCALL), in the order looked for.
MAIN_TYPES = (
    "LOGIN",
    "USER_LOGIN",
    "USER_LOGOUT",
    "USER_AUTH",
    "USER_ACCT",
    "USER_START",
    "USER_END",
    "USER_CMD",
    "USER_ERR",
    "USER_CHAUTHTOK",
    "USER_MGMT",
    "USER_ROLE_CHANGE",
    "USER_AVC",
    "USER_TTY",
    "CRED_ACQ",
    "CRED_DISP",
    "CRED_REFR",
    "ADD_USER",
    "DEL_USER",
    "ADD_GROUP",
    "DEL_GROUP",
    "GRP_MGMT",
    "SERVICE_START",
    "SERVICE_STOP",
    "SYSTEM_BOOT",
    "SYSTEM_SHUTDOWN",
    "DAEMON_START",
    "DAEMON_END",
    "CONFIG_CHANGE",
    "AVC",
    "SELINUX_ERR",
    "SECCOMP",
    "ANOM_PROMISCUOUS",
    "ANOM_ABEND",
    "ANOM_LINK",
    "NETFILTER_CFG",
    "KERN_MODULE",
    "TIME_ADJNTPVAL",
    "TIME_INJOFFSET",
    "MAC_STATUS",
    "BPF",
    "URINGOP",
    "TTY",
)
_NOT_SET = "('', '?', '(null)', '(none)', 'unset', '4294967295', '-1')"
#: SQL for the JSON text of the main record's list (``[{...}]``), NULL when there is none.
_MAIN_RECORD = first(*(f"{{{{{kind}}}}}" for kind in MAIN_TYPES))


def set_value(*fields: str) -> str:
    """SQL for the first set value of ``fields`` in the main record, else of ``fields`` in
    SYSCALL (ENRICHED names come before numbers: ``set_value("AUID", "auid")``)."""
    in_main = ", ".join(f"'$[0].\"{name}\"'" for name in fields)
    in_syscall = ", ".join(text(f"SYSCALL.{name}") for name in fields)
    return (
        f"list_filter(list_concat(json_extract_string({_MAIN_RECORD}, [{in_main}]), "
        f"[{in_syscall}]), lambda value: value NOT IN {_NOT_SET})[1]"
    )


def _object_path() -> str:
    """SQL for the first PATH item's name that is not a parent directory (of four)."""
    names = [(text(f"PATH[{i}].name"), text(f"PATH[{i}].nametype")) for i in range(4)]
    return first(
        *(f"CASE WHEN {kind} IS DISTINCT FROM 'PARENT' THEN {name} END" for name, kind in names),
        names[0][0],
    )


def _syscall_name() -> str:
    """SQL for SYSCALL's name: laurel's ENRICHED ``SYSCALL``, else the arch's table."""
    arch = f"lower(replace({text('SYSCALL.arch')}, '0x', ''))"
    number = f"TRY_CAST({text('SYSCALL.syscall')} AS INTEGER) + 1"
    cases = " ".join(
        f"WHEN '{code}' THEN NULLIF(string_split('{' '.join(names)}', ' ')[{number}], '-')"
        for code, names in TABLES.items()
    )
    return first(text("SYSCALL.SYSCALL"), f"CASE {arch} {cases} END", text("SYSCALL.syscall"))


_ID = text("ID")
_LOGIN_USER = set_value("AUID", "auid")
_PROCESS_USER = set_value("UID", "uid")
_SUCCESS = f"lower({set_value('success')})"
_RESULT = f"lower({set_value('res')})"
_OUTCOME = f"""CASE WHEN {_SUCCESS} = 'yes' THEN 'success'
                   WHEN {_SUCCESS} = 'no' THEN 'failure'
                   WHEN {_RESULT} IN ('success', '1', 'yes') THEN 'success'
                   WHEN {_RESULT} IN ('failed', 'failure', '0', 'no') THEN 'failure' END"""
_TYPE = "CASE " + " ".join(f"WHEN {{{{{kind}}}}} IS NOT NULL THEN '{kind}'" for kind in MAIN_TYPES)
_TYPE += " END"
_SYSCALL = _syscall_name()

#: (resource_type, SQL) in the order a resource is chosen.
TARGETS = (
    ("file", _object_path()),
    ("command", set_value("cmd")),
    ("account", set_value("acct", "id")),
    ("unit", set_value("unit")),
    ("executable", set_value("exe")),
)

_EXTRA = {
    "node": text("NODE"),
    "syscall": _SYSCALL,
    **{
        name: set_value(name)
        for name in ("auid", "uid", "euid", "pid", "ppid", "comm", "exe", "key", "tty")
    },
    "cwd": text("CWD.cwd"),
    "cmdline": "try(array_to_string(from_json({{EXECVE.ARGV}}, '[\"VARCHAR\"]'), ' '))",
}

COLUMNS: dict[str, str] = {
    "event_id": f"coalesce({text('NODE')} || ':' || {_ID}, {_ID})",
    "ts": f"_ts(split_part({_ID}, ':', 1))",
    "actor": f"coalesce({_LOGIN_USER}, {_PROCESS_USER})",
    "actor_type": f"""CASE WHEN {_LOGIN_USER} IS NOT NULL THEN 'user'
                           WHEN {_PROCESS_USER} IS NOT NULL THEN 'system' END""",
    "action": f"coalesce({_TYPE}, {_SYSCALL})",
    "resource": first(*(sql for _, sql in TARGETS)),
    "resource_type": "CASE "
    + " ".join(f"WHEN {sql} IS NOT NULL THEN '{kind}'" for kind, sql in TARGETS)
    + " END",
    "outcome": _OUTCOME,
    "source_ip": set_value("addr", "hostname"),
    "request_id": f"NULLIF(split_part({_ID}, ':', 2), '')",
    "session_id": set_value("ses"),
    "error": f"CASE WHEN ({_OUTCOME}) = 'failure' THEN {text('SYSCALL.exit')} END",
    "extra": "NULLIF(CAST(json_merge_patch('{}', json_object("
    + ", ".join(f"'{key}', {sql}" for key, sql in _EXTRA.items())
    + ")) AS VARCHAR), '{}')",
}

_ID_SHAPE = re.compile(r"\d+(\.\d+)?:\d+")


def detect(event: Mapping[str, Any]) -> bool:
    """One of laurel's events: an ``EPOCH:SERIAL`` ``ID`` beside upper-case record types."""
    event_id = event.get("ID")
    return (
        isinstance(event_id, str)
        and _ID_SHAPE.fullmatch(event_id) is not None
        and any(key.isupper() and isinstance(value, dict | list) for key, value in event.items())
    )
