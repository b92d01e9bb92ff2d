"""The ``auditd`` format: raw audit.log text grouped into events, and laurel's JSON."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from auditcli.ingest import auditd_text
from auditcli.ingest.auditd_doc import parse_fields
from auditcli.ingest.auditd_text import sniff
from auditcli.ingest.framing import frame
from tests.formats.conftest import Loaded, expect, extra_of, load_records

EPOCH = "1364481363.243"
T = datetime(2013, 3, 28, 14, 36, 3, 243000, tzinfo=UTC)
GS = "\x1d"


def hexed(text: str) -> str:
    """``text`` as auditd hex-encodes an untrusted value."""
    return text.encode().hex().upper()


def rec(kind: str, serial: int, body: str, *, node: str | None = None, epoch: str = EPOCH) -> str:
    """One audit.log line."""
    prefix = f"node={node} " if node else ""
    return f"{prefix}type={kind} msg=audit({epoch}:{serial}): {body}"


SYSCALL_FIELDS = (
    "a0=7ffd a1=0 a2=1b6 a3=0 items=1 ppid=2686 pid=3538 auid=1000 uid=1000 gid=1000 "
    "euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=1"
)

CASES: list[tuple[str, list[str], dict[str, Any]]] = [
    (
        "syscall-failure-named-from-arch-table",
        [
            rec(
                "SYSCALL",
                24287,
                f"arch=c000003e syscall=2 success=no exit=-13 {SYSCALL_FIELDS} "
                'comm="cat" exe="/usr/bin/cat" key="access"',
            ),
            rec("CWD", 24287, 'cwd="/home/alice"'),
            rec("PATH", 24287, 'item=0 name="/etc/shadow" inode=1 nametype=NORMAL'),
            rec("PROCTITLE", 24287, f"proctitle={hexed('cat')}00{hexed('/etc/shadow')}"),
            rec("EOE", 24287, ""),
        ],
        {
            "event_id": f"{EPOCH}:24287",
            "ts": T,
            "actor": "1000",
            "actor_type": "user",
            "action": "open",
            "resource": "/etc/shadow",
            "resource_type": "file",
            "outcome": "failure",
            "error": "-13",
            "request_id": "24287",
            "session_id": "1",
            "source_format": "auditd",
            "extra": {
                "syscall": "open",
                "uid": "1000",
                "pid": "3538",
                "ppid": "2686",
                "comm": "cat",
                "exe": "/usr/bin/cat",
                "key": "access",
                "tty": "pts0",
                "cwd": "/home/alice",
            },
        },
    ),
    (
        "enriched-execve-on-a-named-node",
        [
            rec(
                "SYSCALL",
                15558,
                "arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 "
                "ppid=10883 pid=10884 auid=1001 uid=0 euid=0 tty=pts1 ses=4 "
                f'comm="ls" exe="/usr/bin/ls" key=(null){GS}ARCH=x86_64 SYSCALL=execve '
                'AUID="alice" UID="root" EUID="root"',
                node="web1",
            ),
            rec("EXECVE", 15558, f'argc=2 a0="ls" a1={hexed("/tmp/my dir")}', node="web1"),
            rec(
                "PATH",
                15558,
                f'item=0 name="/usr/bin/ls" nametype=NORMAL{GS}OUID="root" OGID="root"',
                node="web1",
            ),
            rec("PATH", 15558, 'item=1 name="/lib64/ld.so.2" nametype=NORMAL', node="web1"),
            rec("EOE", 15558, "", node="web1"),
        ],
        {
            "event_id": f"web1:{EPOCH}:15558",
            "actor": "alice",
            "actor_type": "user",
            "action": "execve",
            "resource": "/usr/bin/ls",
            "outcome": "success",
            "error": None,
            "session_id": "4",
            "extra": {
                "node": "web1",
                "uid": "0",
                "auid": "1001",
                "key": None,
                "cmdline": "ls /tmp/my dir",
            },
        },
    ),
    (
        "failed-ssh-login-of-an-unknown-user",
        [
            rec(
                "USER_LOGIN",
                19955,
                "pid=12635 uid=0 auid=4294967295 ses=4294967295 msg='op=login "
                f'acct={hexed("(invalid user)")} exe="/usr/sbin/sshd" hostname=? '
                "addr=179.38.151.221 terminal=sshd res=failed'",
            )
        ],
        {
            "actor": "0",
            "actor_type": "system",
            "action": "USER_LOGIN",
            "resource": "(invalid user)",
            "resource_type": "account",
            "outcome": "failure",
            "source_ip": "179.38.151.221",
            "session_id": None,
            "error": None,
            "extra": {"exe": "/usr/sbin/sshd", "terminal": "sshd", "auid": None},
        },
    ),
    (
        "enriched-sudo-command",
        [
            rec(
                "USER_CMD",
                423,
                'pid=2100 uid=0 auid=1002 ses=6 msg=\'cwd="/home/bob" '
                f'cmd={hexed("cat /etc/shadow")} exe="/usr/bin/sudo" terminal=pts/0 '
                f'res=success\'{GS}UID="root" AUID="bob"',
            )
        ],
        {
            "actor": "bob",
            "action": "USER_CMD",
            "resource": "cat /etc/shadow",
            "resource_type": "command",
            "outcome": "success",
            "session_id": "6",
            "extra": {"terminal": "pts/0", "exe": "/usr/bin/sudo"},
        },
    ),
    (
        "connect-to-a-socket-address",
        [
            rec(
                "SYSCALL",
                58,
                "arch=c000003e syscall=42 success=no exit=-115 a0=6 a1=7ffe a2=10 a3=fe "
                "items=0 ppid=1 pid=1172 auid=4294967295 uid=0 euid=0 tty=(none) "
                'ses=4294967295 comm="python" exe="/usr/bin/python3" key=(null)',
            ),
            rec("SOCKADDR", 58, "saddr=02000050A9FEA9FE0000000000000000"),
        ],
        {
            "actor": "0",
            "actor_type": "system",
            "action": "connect",
            "resource": "169.254.169.254:80",
            "resource_type": "socket",
            "outcome": "failure",
            "error": "-115",
            "extra": {"tty": None, "auid": None},
        },
    ),
    (
        "avc-names-the-event-aarch64-syscall",
        [
            rec(
                "AVC",
                61207,
                'avc:  denied  { read } for  pid=5571 comm="cat" name="shadow" '
                "scontext=u:r:t:s0 tcontext=u:r:shadow_t:s0 tclass=file permissive=0",
            ),
            rec(
                "SYSCALL",
                61207,
                "arch=c00000b7 syscall=56 success=no exit=-13 a0=1 a1=2 a2=3 a3=4 items=1 "
                'ppid=1 pid=5571 auid=1000 uid=1000 ses=2 comm="cat" exe="/bin/cat"',
            ),
        ],
        {
            "action": "AVC",
            "actor": "1000",
            "outcome": "failure",
            "extra": {"syscall": "openat", "pid": "5571"},
        },
    ),
    (
        "apparmor-denial-without-a-system-call",
        [
            'type=AVC msg=audit(1524662933.080:61207): apparmor="DENIED" operation="ptrace" '
            'profile="docker-default" pid=5571 comm="metricbeat" requested_mask="trace" '
            'denied_mask="trace" peer="unconfined"'
        ],
        {"action": "AVC", "outcome": "failure"},
    ),
    (
        "old-pam-message-with-a-parenthesised-tail",
        [
            "type=USER_START msg=audit(1170021601.344:297): user pid=13015 uid=0 auid=0 "
            "subj=system_u:system_r:crond_t:s0-s0:c0.c1023 msg='PAM: session open acct=root : "
            'exe="/usr/sbin/crond" (hostname=db1, addr=10.0.0.5, terminal=cron res=failed)\''
        ],
        {
            "action": "USER_START",
            "outcome": "failure",
            "source_ip": "10.0.0.5",
            "extra": {"terminal": "cron"},
        },
    ),
    (
        "old-pam-message-with-unset-address",
        [
            "type=CRED_DISP msg=audit(1170021601.364:298): user pid=13015 uid=0 auid=0 "
            "msg='PAM: setcred acct=root : exe=\"/usr/sbin/crond\" "
            "(hostname=?, addr=?, terminal=cron res=success)'"
        ],
        {"action": "CRED_DISP", "outcome": "success", "source_ip": None},
    ),
    (
        "old-login-with-old-and-new-auid",
        [
            "type=LOGIN msg=audit(1170021601.343:296): login pid=13015 uid=0 "
            "old auid=4294967295 new auid=1000 old ses=4294967295 new ses=7"
        ],
        {"action": "LOGIN", "actor": "1000", "session_id": "7"},
    ),
    (
        "login-res-1-without-colon-after-header",
        [
            "type=LOGIN msg=audit(1364481363.243:414) pid=1298 uid=0 old-auid=4294967295 "
            "auid=1000 old-ses=4294967295 ses=1 res=1"
        ],
        {
            "action": "LOGIN",
            "actor": "1000",
            "outcome": "success",
            "session_id": "1",
            "resource": None,
        },
    ),
]


@pytest.fixture(scope="module")
def loaded() -> Loaded:
    """Every case of ``CASES`` loaded from one input, one after the other."""
    return load_records("\n".join(line for _, lines, _ in CASES for line in lines).encode())


@pytest.mark.parametrize(("name", "lines", "expected"), CASES, ids=[c[0] for c in CASES])
def test_auditd_columns(
    name: str, lines: list[str], expected: dict[str, Any], loaded: Loaded
) -> None:
    first_line = 1 + sum(len(case[1]) for case in CASES[: [c[0] for c in CASES].index(name)])
    [event] = [e for e in loaded.events if e["source_line"] == first_line]
    expect(event, expected)
    assert event["raw"] == "\n".join(lines)


def test_every_case_loads(loaded: Loaded) -> None:
    assert loaded.rejects == []
    assert len(loaded.events) == len(CASES)


def test_interleaved_serials_group_into_their_own_events() -> None:
    lines = [
        rec("SYSCALL", 1, "arch=c000003e syscall=59 success=yes exit=0 auid=1000 uid=0 ses=1"),
        rec("SYSCALL", 2, "arch=c000003e syscall=2 success=yes exit=3 auid=1001 uid=0 ses=2"),
        rec("PATH", 2, 'item=0 name="/etc/hosts" nametype=NORMAL'),
        rec("PATH", 1, 'item=0 name="/usr/bin/id" nametype=NORMAL'),
        rec("EOE", 2, ""),
        rec("EOE", 1, ""),
    ]
    loaded = load_records("\n".join(lines).encode())
    first, second = loaded.events
    assert (first["source_line"], first["action"], first["resource"]) == (
        1,
        "execve",
        "/usr/bin/id",
    )
    assert first["raw"] == "\n".join(lines[i] for i in (0, 3, 5))
    assert (second["source_line"], second["action"], second["resource"]) == (
        2,
        "open",
        "/etc/hosts",
    )
    assert second["raw"] == "\n".join(lines[i] for i in (1, 2, 4))


def test_same_serial_on_two_nodes_is_two_events() -> None:
    lines = [
        rec("SYSCALL", 7, "arch=c000003e syscall=0 success=yes uid=0", node=node)
        for node in ("a", "b")
    ]
    loaded = load_records("\n".join(lines).encode())
    assert [e["event_id"] for e in loaded.events] == [f"a:{EPOCH}:7", f"b:{EPOCH}:7"]


def _records(data: bytes, chunk_bytes: int) -> list[tuple[int, str, str]]:
    out: list[tuple[int, str, str]] = []
    for batch in frame(io.BytesIO(data), chunk_bytes=chunk_bytes):
        out += zip(
            batch.line.to_pylist(), batch.raw.to_pylist(), batch.doc.to_pylist(), strict=True
        )
    return sorted(out)


def test_events_that_straddle_read_chunks_are_whole() -> None:
    lines = [line for _, case, _ in CASES for line in case]
    data = ("# a comment\n\n" + "\r\n".join(lines) + "\n").encode()
    whole = _records(data, 1 << 20)
    assert len(whole) == len(CASES)
    for chunk_bytes in (5, 64, 333):
        assert _records(data, chunk_bytes) == whole


def test_an_event_is_closed_once_others_went_by(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auditd_text, "LINGER_RECORDS", 2)
    lines = [
        rec("SYSCALL", 1, "syscall=0 uid=0"),
        *(rec("SYSCALL", n, "syscall=0 uid=0") for n in (2, 3, 4)),
        rec("PATH", 1, 'item=0 name="/late"'),
    ]
    records = _records("\n".join(lines).encode(), 1 << 20)
    assert [line for line, _, _ in records] == [1, 2, 3, 4, 5]


def test_hex_values_are_decoded_only_where_auditd_encodes() -> None:
    fields = parse_fields(
        f'a0=7ffd name={hexed("/tmp/a b")} comm="cafe" exe=(null) '
        f'proctitle={hexed("sh")}00{hexed("-c")}00 saddr=0200 key=65786563"',
        "SYSCALL",
    )
    assert fields == {
        "a0": "7ffd",
        "name": "/tmp/a b",
        "comm": "cafe",
        "exe": "(null)",
        "proctitle": "sh -c",
        "saddr": "0200",
        "key": '65786563"',
    }


def test_a_long_execve_argument_split_over_records_is_joined() -> None:
    argument = "x" * 10 + " é"
    encoded = hexed(argument)
    lines = [
        rec("SYSCALL", 9, "arch=c000003e syscall=59 success=yes uid=0"),
        rec("EXECVE", 9, f'argc=2 a0="/bin/echo" a1_len={len(encoded)} a1[0]={encoded[:8]}'),
        rec("EXECVE", 9, f" a1[1]={encoded[8:]}"),
    ]
    [event] = load_records("\n".join(lines).encode()).events
    assert extra_of(event)["cmdline"] == f"/bin/echo {argument}"


def test_an_epoch_past_year_9999_is_no_time() -> None:
    loaded = load_records(
        b"type=SYSCALL msg=audit(99999999999999.123:5): arch=c000003e syscall=2 auid=1000\n"
        b"type=SYSCALL msg=audit(1714557600.123:6): arch=c000003e syscall=2 auid=1000\n"
    )
    assert [e["source_line"] for e in loaded.events] == [2]
    assert loaded.rejects == [(1, "no usable timestamp")]


def test_lines_that_are_not_records() -> None:
    lines = [
        "# notes about this capture",
        rec("SYSCALL", 1, "syscall=0 uid=0"),
        "",
        "type=UNKNOWN[1329] msg=?",
        "garbage that is no record",
    ]
    loaded = load_records("\n".join(lines).encode())
    assert [e["source_line"] for e in loaded.events] == [2]
    assert loaded.rejects == [(4, "no usable timestamp"), (5, "not JSON")]


def test_laurel_json_maps_like_the_text_it_came_from() -> None:
    text_lines = CASES[1][1]
    laurel = {
        "ID": f"{EPOCH}:15558",
        "NODE": "web1",
        "SYSCALL": {
            "arch": "0xc000003e",
            "syscall": 59,
            "success": "yes",
            "exit": 0,
            "ppid": 10883,
            "pid": 10884,
            "auid": 1001,
            "uid": 0,
            "euid": 0,
            "tty": "pts1",
            "ses": 4,
            "comm": "ls",
            "exe": "/usr/bin/ls",
            "key": None,
            "SYSCALL": "execve",
            "AUID": "alice",
            "UID": "root",
        },
        "EXECVE": {"argc": 2, "ARGV": ["ls", "/tmp/my dir"]},
        "PATH": [
            {"item": 0, "name": "/usr/bin/ls", "nametype": "NORMAL"},
            {"item": 1, "name": "/lib64/ld.so.2", "nametype": "NORMAL"},
        ],
    }
    [from_text] = load_records("\n".join(text_lines).encode()).events
    [from_json] = load_records([laurel]).events
    assert from_json["source_format"] == "auditd"
    columns = [c for c in from_text if c not in ("raw", "extra")]
    assert {c: from_json[c] for c in columns} == {c: from_text[c] for c in columns}
    assert extra_of(from_json) == extra_of(from_text)


def test_a_laurel_event_without_syscall_takes_its_main_record() -> None:
    laurel = {
        "ID": "1737533617.373:12266329",
        "URINGOP": [{"uring_op": 18, "success": "yes", "exit": 0, "pid": 31, "uid": 0}],
    }
    [event] = load_records([laurel]).events
    expect(event, {"action": "URINGOP", "actor": "0", "outcome": "success"})


def test_sniffing_tells_auditd_text_from_other_inputs() -> None:
    assert sniff(b"# capture\n\n" + rec("EOE", 1, "", node="h").encode())
    assert sniff(b"type=UNKNOWN[1329] msg=?\n" + rec("SYSCALL", 1, "").encode())
    assert not sniff(b'{"type": "SYSCALL", "msg": "audit(1:2)"}\n')
    assert not sniff(b"time,type,msg\n1,SYSCALL,audit(1.0:2)\n")


def test_doc_keeps_every_record_by_type() -> None:
    lines = CASES[1][1]
    [(_, _, doc)] = _records("\n".join(lines).encode(), 1 << 20)
    parsed = orjson.loads(doc)
    assert sorted(parsed["records"]) == ["EXECVE", "PATH", "SYSCALL"]
    assert [item["name"] for item in parsed["records"]["PATH"]] == ["/usr/bin/ls", "/lib64/ld.so.2"]
    assert parsed["records"]["PATH"][0]["OUID"] == "root"
    assert parsed["event"]["AUID"] == "alice"
    assert "key" not in parsed["event"]
    assert parsed["records"]["SYSCALL"]["key"] == "(null)"
