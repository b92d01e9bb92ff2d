"""The ``auditd`` adapter: Linux audit events, as ``ingest.auditd_text`` groups them.

Reads the JSON object built for each event (its records, and ``event``: the SYSCALL
record's fields with the main record's over them, unset values left out).

- ts the time in ``msg=audit(EPOCH:SERIAL)``; event_id ``node:EPOCH:SERIAL`` (without
  ``node:`` when the log names no host); request_id the serial.
- actor the login user (``auid``), by name when the log is ENRICHED (``AUID="alice"``);
  when no one is logged in (``auid`` unset: daemons, cron, sshd before login) the
  process's ``uid`` (``UID=`` name) instead. actor_type ``user`` for a login user,
  ``system`` otherwise.
- action the system call's name (``execve``, ``openat``: ENRICHED ``SYSCALL=`` or the
  name for the log's ``arch``) for a system call event; else the main record's type
  (``USER_LOGIN``, ``USER_CMD``, ``AVC``, ``ADD_USER``, ...).
- resource the file acted on (the PATH item that is not the parent directory), the
  socket address, the sudo command (``cmd``), the account (``acct``, ``id``), the
  systemd unit, else the executable; resource_type says which.
- outcome from ``success=yes/no`` or ``res=success/failed`` (``1``/``0``), else
  failure for an AppArmor or SELinux denial without a system call; error the
  ``exit`` code of a failed system call (``-13`` is EACCES).
- source_ip ``addr`` (else ``hostname``); session_id ``ses``.

laurel's JSON lines are read too, with the same choices, by the fallback mapping
in ``ingest.laurel``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditcli.ingest.adapter import JsonAdapter, text, time_of
from auditcli.ingest.laurel import COLUMNS as LAUREL_COLUMNS
from auditcli.ingest.laurel import detect as laurel_detect
from auditcli.ingest.vendor import extra

NAME = "auditd"

_LOGIN_USER = text("event.AUID", "event.auid")
_PROCESS_USER = text("event.UID", "event.uid")
_TYPE = text("type")
_SUCCESS = f"lower({text('event.success')})"
_RESULT = f"lower({text('event.res')})"
_OUTCOME = f"""CASE WHEN {_SUCCESS} = 'yes' THEN 'success'
                   WHEN {_SUCCESS} = 'no' THEN 'failure'
                   WHEN {_RESULT} IN ('success', '1', 'yes') THEN 'success'
                   WHEN {_RESULT} IN ('failed', 'failure', '0', 'no') THEN 'failure'
                   WHEN {text("event.apparmor")} = 'DENIED' OR {text("event.seresult")} = 'denied'
                        THEN 'failure' END"""

#: (resource_type, paths) in the order a resource is chosen.
TARGETS = (
    ("file", ("path",)),
    ("socket", ("sockaddr",)),
    ("command", ("event.cmd",)),
    ("account", ("event.acct", "event.id")),
    ("unit", ("event.unit",)),
    ("executable", ("event.exe",)),
)

COLUMNS: dict[str, str] = {
    "event_id": f"coalesce({text('node')} || ':' || {text('id')}, {text('id')})",
    "ts": time_of("ts"),
    "actor": f"coalesce({_LOGIN_USER}, {_PROCESS_USER})",
    "actor_type": f"""CASE WHEN {_LOGIN_USER} IS NOT NULL THEN 'user'
                           WHEN {_PROCESS_USER} IS NOT NULL THEN 'system' END""",
    "action": f"CASE WHEN {_TYPE} = 'SYSCALL' THEN coalesce({text('syscall')}, {_TYPE})"
    f" ELSE {_TYPE} END",
    "resource": text(*(path for _, paths in TARGETS for path in paths)),
    "resource_type": "CASE "
    + " ".join(f"WHEN {text(*paths)} IS NOT NULL THEN '{kind}'" for kind, paths in TARGETS)
    + " END",
    "outcome": _OUTCOME,
    "source_ip": text("event.addr", "event.hostname"),
    "request_id": text("serial"),
    "session_id": text("event.ses"),
    "error": f"CASE WHEN ({_OUTCOME}) = 'failure' THEN {text('event.exit')} END",
    "extra": extra(
        node="node",
        syscall="syscall",
        auid="event.auid",
        uid="event.uid",
        euid="event.euid",
        pid="event.pid",
        ppid="event.ppid",
        comm="event.comm",
        exe="event.exe",
        key="event.key",
        tty="event.tty",
        terminal="event.terminal",
        cwd="records.CWD.cwd",
        cmdline="cmdline",
    ),
}


def detect(event: Mapping[str, Any]) -> bool:
    """An event built from auditd records (``ingest.auditd_text``), or one of laurel's."""
    if isinstance(event.get("records"), dict):
        return isinstance(event.get("type"), str) and isinstance(event.get("event"), dict)
    return laurel_detect(event)


AUDITD = JsonAdapter(
    name=NAME,
    description="Linux auditd logs (audit.log raw text, ENRICHED too): one event per serial",
    columns=COLUMNS,
    detect=detect,
    verbatim=frozenset(),
    fallback=JsonAdapter(name=NAME, description="laurel's JSON lines", columns=LAUREL_COLUMNS),
)
