"""Deterministic generator of the auditcli sample incident (stdlib only).

One working day (2026-03-12, UTC) at corp.example: ~25 people and a handful of services
log in, query databases, read and write buckets, push code and deploy, with ordinary
failures. Inside it, the leaked token of ``svc-deploy`` is used from a never-seen IP
(203.0.113.7) with a new user agent: discovery, creation of ``backup-admin2``, a grant of
``role/admin``, an access key, a bulk export of ``bucket/customer-exports`` and a partly
failing cover-up.

Run ``python sample_logs/generate.py`` from the repo root; files are written next to this
script. Output is byte-identical on every run (fixed seed, fixed dates, gzip mtime=0).
Import the module and call :func:`incident_facts` to get the key facts without writing.
"""

import gzip
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

SEED = 20260312
DAY = datetime(2026, 3, 12, tzinfo=UTC)
CET = timezone(timedelta(hours=1))
OUT_DIR = Path(__file__).resolve().parent
SEC = 1_000_000  # timestamps are integer microseconds since midnight UTC

ATTACKER_IP, ATTACKER_UA = "203.0.113.7", "python-requests/2.31.0"
COMPROMISED, DEPLOY_IP, DEPLOY_UA = "svc-deploy", "10.30.0.15", "deploy-agent/4.2"
NEW_USER, EXPORT_BUCKET = "backup-admin2", "bucket/customer-exports"
FAKE_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMtZGVwbG95IiwiZXhhbXBsZSI6dHJ1ZX0"
    ".EXAMPLE-not-a-real-signature"
)
FAKE_KEY_ID, FAKE_SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@dataclass(frozen=True)
class Source:
    """One output file: its name, event-id tag and timestamp style."""

    filename: str
    tag: str
    ts_style: str  # "z_ms" | "offset_us" | "epoch_ms"


@dataclass(frozen=True)
class Who:
    """Who acts, from where, with what client, in which session."""

    actor: str
    ip: str
    ua: str
    session: str


# fmt: off
SOURCES: dict[str, Source] = {
    "identity": Source("identity.jsonl", "idn", "z_ms"),
    "storage": Source("storage.jsonl.gz", "sto", "z_ms"),
    "database": Source("database.jsonl.gz", "dbs", "epoch_ms"),
    "ci": Source("ci-deploy.jsonl", "cid", "z_ms"),
    "vpn": Source("onprem-vpn.jsonl", "vpn", "offset_us"),
}
PREFIX_SOURCE = {"auth": "identity", "iam": "identity", "audit": "identity", "storage": "storage",
                 "db": "database", "data": "database", "repo": "ci", "deploy": "ci"}
RESOURCE_TYPES = {"db": "database", "bucket": "bucket", "repo": "repository", "role": "role",
                  "user": "user", "trail": "trail", "service": "service", "vpn": "vpn_gateway",
                  "app": "application", "account": "account"}
PEOPLE = [("alice", "engineer"), ("bob", "engineer"), ("carol", "sre"), ("dave", "engineer"),
          ("erin", "analyst"), ("frank", "support"), ("grace", "engineer"), ("heidi", "finance"),
          ("ivan", "engineer"), ("judy", "itadmin"), ("kenji", "analyst"), ("liam", "engineer"),
          ("mia", "support"), ("niaj", "sre"), ("olivia", "analyst"), ("peggy", "finance"),
          ("quinn", "engineer"), ("rupert", "support"), ("sybil", "analyst"), ("trent", "sre"),
          ("uma", "engineer"), ("victor", "support"), ("walter", "engineer"), ("yuki", "analyst"),
          ("zoe", "engineer")]  # every second person works remotely, through the on-prem VPN
REPOS = ("repo/payments-api", "repo/checkout-web", "repo/inventory-svc", "repo/infra-terraform")
SERVICES = ("service/checkout", "service/payments", "service/inventory", "service/search")
SSO, ART, CFG = "app/sso-portal", ("bucket/artifacts",), ("bucket/app-config",)
REP, LEDGERS = ("bucket/reports",), ("bucket/finance-ledgers",)
PROFILES: dict[str, list[tuple[int, str, tuple[str, ...]]]] = {  # weight, action, resources
    "engineer": [(30, "repo.clone", REPOS), (5, "repo.push", REPOS), (8, "storage.list", ART),
                 (20, "storage.read", ART + CFG), (4, "storage.write", CFG),
                 (2, "storage.delete", ART), (22, "db.query", ("db/orders", "db/inventory"))],
    "sre": [(20, "storage.read", CFG + ART + ("bucket/backups",)), (5, "deploy.start", SERVICES),
            (10, "storage.list", ("bucket/backups", "bucket/audit-logs")),
            (15, "db.query", ("db/orders", "db/billing")), (8, "repo.clone", REPOS[3:]),
            (2, "repo.push", REPOS[3:])],
    "analyst": [(45, "db.query", ("db/analytics", "db/customers", "db/orders")),
                (20, "storage.read", REP), (8, "storage.write", REP),
                (3, "data.export", ("db/analytics",))],
    "support": [(50, "db.query", ("db/customers", "db/orders")), (6, "db.write", ("db/orders",)),
                (10, "storage.read", ("bucket/support-attachments",))],
    "finance": [(30, "storage.read", LEDGERS), (6, "storage.write", LEDGERS),
                (30, "db.query", ("db/billing",))],
    "itadmin": [(20, "storage.list", ("bucket/audit-logs",)), (15, "db.query", ("db/customers",)),
                (10, "storage.read", ("bucket/audit-logs",))],
}
UA = {"browser": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like "
                 "Gecko) Version/17.3 Safari/605.1.15",
      "cli": "corp-cli/3.1.0 Python/3.12.2", "repo": "git/2.44.0", "db": "psql/16.2",
      "notebook": "python-requests/2.28.1", "vpn": "GlobalProtect/6.2.1",
      "ci-runner": "ci-runner/16.9.1", "svc-backup": "backupd/2.7.0", COMPROMISED: DEPLOY_UA,
      "svc-billing": "billing-worker/1.14.3 (go1.22.1)", "svc-reporting": "reportgen/0.9.4"}
SVC_IPS = {"ci-runner": "10.30.0.21", "svc-backup": "10.30.0.40", "svc-billing": "10.30.1.12",
           "svc-reporting": "10.30.1.30", COMPROMISED: DEPLOY_IP}
QUERIES = {
    "db/orders": "SELECT id, status, total FROM orders WHERE created_at > $1 ORDER BY id LIMIT 100",
    "db/customers": "SELECT id, email, country FROM customers WHERE id = $1",
    "db/inventory": "SELECT sku, qty FROM stock WHERE warehouse = $1",
    "db/analytics": "SELECT day, sum(revenue) FROM daily_sales WHERE day >= $1 GROUP BY day",
    "db/billing": "SELECT invoice_id, amount FROM invoices WHERE status = 'open' LIMIT 500",
}
ERRORS = {
    "storage": ["AccessDenied: {actor} is not authorized to perform {action} on {resource}",
                "SlowDown: request rate exceeded, reduce request rate and retry",
                "NoSuchKey: the specified key does not exist",
                "RequestTimeout: upstream did not respond within 30s"],
    "db": ["QueryTimeout: canceling statement due to statement timeout (30000 ms)",
           "PermissionDenied: permission denied for relation {name}",
           "Throttling: connection pool exhausted (max_connections=50)",
           "DeadlockDetected: deadlock detected while waiting for ShareLock"],
    "repo": ["AccessDenied: {actor} has no write access to {resource}",
             "RejectedNonFastForward: updates were rejected because the tip of main is behind",
             "Timeout: git transport timed out after 120s"],
    "deploy": ["HealthCheckFailed: 2/3 replicas unhealthy after 300s",
               "Throttling: deployment API rate limit exceeded"],
}
_DENY = "AccessDenied: svc-deploy is not authorized to perform {} on {}"
_LOCKED = "AccessDenied: trail/org-audit is protected by organization policy"
# The incident, UTC: (time, "dep" = svc-deploy / "adm" = backup-admin2, action, resource, error,
# details). The bulk read of EXPORT_BUCKET (generated in code) sits between the two halves.
INCIDENT_BEFORE: list[tuple[str, str, str, str, str | None, dict[str, Any]]] = [
    ("14:02:11.482", "dep", "iam.roles.list", "account/corp-prod", None,
     {"roles_returned": 17, "token_id": "tok-svc-deploy-7f3a", "http": {"method": "GET",
      "path": "/v1/iam/roles", "headers": {"Authorization": f"Bearer {FAKE_JWT}"}}}),
    ("14:02:13.117", "dep", "iam.users.list", "account/corp-prod",
     _DENY.format("iam.users.list", "account/corp-prod"), {}),
    ("14:02:18.640", "dep", "storage.list", "account/corp-prod", None, {"buckets_returned": 14}),
    ("14:02:24.031", "dep", "storage.list", EXPORT_BUCKET,
     _DENY.format("storage.list", EXPORT_BUCKET), {"prefix": "exports/"}),
    ("14:02:26.502", "dep", "storage.list", "bucket/finance-ledgers",
     _DENY.format("storage.list", "bucket/finance-ledgers"), {"prefix": ""}),
    ("14:02:31.915", "dep", "db.query", "db/customers",
     "PermissionDenied: permission denied for relation customers",
     {"database": "customers", "query": "SELECT * FROM customers LIMIT 10"}),
    ("14:03:05.004", "dep", "iam.role.grant", "role/admin",
     "AccessDenied: self-escalation guard: svc-deploy cannot modify its own bindings",
     {"principal": "user/svc-deploy"}),
    ("14:03:40.226", "dep", "iam.user.create", f"user/{NEW_USER}", None,
     {"username": NEW_USER, "tags": {"purpose": "backup"}}),
    ("14:03:52.771", "dep", "iam.role.grant", "role/admin", None,
     {"principal": f"user/{NEW_USER}"}),
    ("14:04:05.318", "dep", "iam.key.create", f"user/{NEW_USER}", None,
     {"access_key_id": FAKE_KEY_ID, "secret_access_key": FAKE_SECRET}),
    ("14:04:31.004", "adm", "auth.login", SSO, None,
     {"method": "access_key", "access_key_id": FAKE_KEY_ID}),
    ("14:04:40.550", "adm", "storage.list", EXPORT_BUCKET, None,
     {"prefix": "exports/2026-03/", "keys_returned": 400}),
]
INCIDENT_AFTER: list[tuple[str, str, str, str, str | None, dict[str, Any]]] = [
    ("14:12:40.207", "adm", "data.export", "db/customers", None,
     {"format": "csv", "rows": 182_344, "query": "SELECT * FROM customers",
      "destination": "https://files.example.net/u/7731/customers.csv"}),
    ("14:13:20.118", "adm", "audit.config.update", "trail/org-audit", _LOCKED,
     {"logging_enabled": {"old": True, "new": False}}),
    ("14:13:27.540", "adm", "audit.trail.delete", "trail/org-audit", _LOCKED, {}),
    ("14:13:45.093", "adm", "storage.delete", "bucket/audit-logs",
     "AccessDenied: object is under compliance retention until 2027-03-12",
     {"object_key": "storage-access/2026/03/12/14/part-0000.json.gz"}),
    ("14:13:58.660", "adm", "audit.trail.delete", "trail/storage-access", None, {}),
    ("14:14:20.315", "dep", "iam.key.delete", f"user/{NEW_USER}", None,
     {"access_key_id": FAKE_KEY_ID}),
    ("14:14:31.877", "dep", "iam.user.delete", f"user/{NEW_USER}", None, {"username": NEW_USER}),
]
EXPORT_PARTS, EXPORT_THROTTLED = 400, (57, 211, 342)  # parts whose first read got SlowDown
COVERUP_ACTIONS = ("audit.config.update", "audit.trail.delete", "storage.delete",
                   "iam.key.delete", "iam.user.delete")
# fmt: on


def at(h: int, m: int = 0, s: float = 0.0) -> int:
    """Microseconds since midnight UTC of DAY."""
    return (h * 3600 + m * 60) * SEC + round(s * SEC)


def parse_hms(text: str) -> int:
    h, m, s = text.split(":")
    return at(int(h), int(m), float(s))


def format_ts(t_us: int, style: str) -> str | int:
    """Render a time as ``...Z`` with ms, ``+01:00`` with µs, or epoch milliseconds."""
    if style == "epoch_ms":
        return int(DAY.timestamp()) * 1000 + t_us // 1000
    dt = DAY + timedelta(microseconds=t_us)
    if style == "offset_us":
        return dt.astimezone(CET).isoformat(timespec="microseconds")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass
class Event:
    t_us: int
    source: str
    who: Who
    action: str
    resource: str
    details: dict[str, Any]
    error: str | None
    request_id: str
    incident: bool
    event_id: str = ""

    @property
    def outcome(self) -> str:
        return "failure" if self.error else "success"

    def to_json(self) -> dict[str, Any]:
        actor = self.who.actor
        return {
            "id": self.event_id,
            "timestamp": format_ts(self.t_us, SOURCES[self.source].ts_style),
            "actor": {
                "id": actor,
                "type": "service" if actor.startswith(("svc-", "ci-")) else "user",
            },
            "action": self.action,
            "resource": {"id": self.resource, "type": RESOURCE_TYPES[self.resource.split("/")[0]]},
            "outcome": self.outcome,
            "source_ip": self.who.ip,
            "user_agent": self.who.ua,
            "request_id": self.request_id,
            "session_id": self.who.session,
            "error": self.error,
            "details": self.details,
        }


Info = dict[str, Any]


class Day:
    """Accumulates the day's events, drawing every random choice from one seeded RNG."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.events: list[Event] = []
        self.people: dict[str, Who] = {}

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def add(
        self,
        t: int,
        who: Who,
        action: str,
        resource: str,
        details: Info | None = None,
        *,
        error: str | None = None,
        fail: float = 0.0,
        source: str | None = None,
        incident: bool = False,
    ) -> Event:
        """Record one event; routine ones fail at random with probability ``fail``."""
        prefix = action.split(".")[0]
        if error is None and prefix in ERRORS and self.rng.random() < fail:
            name = resource.split("/")[-1]
            template = self.rng.choice(ERRORS[prefix])
            error = template.format(actor=who.actor, action=action, resource=resource, name=name)
        src = source or PREFIX_SOURCE[prefix]
        req = f"req-{self.hex(16)}"
        ev = Event(t, src, who, action, resource, details or {}, error, req, incident)
        self.events.append(ev)
        return ev

    def details(self, action: str, resource: str) -> Info:
        """Small, plausible request parameters for a routine action."""
        r, name = self.rng, resource.split("/")[-1]
        if action.startswith("db."):
            query = QUERIES[resource]
            if action == "db.write":
                query = f"UPDATE {name} SET status = $1 WHERE id = $2"
            return {
                "database": name,
                "query": query,
                "rows": r.randint(0, 500),
                "duration_ms": r.randint(2, 900),
            }
        if action == "data.export":
            return {"format": "csv", "rows": r.randint(100, 20_000), "destination": REP[0]}
        if action == "repo.push":
            return {"ref": "refs/heads/main", "commit": self.hex(40), "commits": r.randint(1, 6)}
        if action == "repo.clone":
            return {"ref": "refs/heads/main", "depth": r.choice([1, 50])}
        folder = r.choice(["2026/03/", "daily/", "v2/"])
        if action == "storage.list":
            return {"prefix": folder, "keys_returned": r.randint(1, 1000)}
        key = f"{folder}{self.hex(8)}.{r.choice(['json', 'csv', 'tar.gz'])}"
        return {"object_key": key, "bytes": r.randint(300, 9_000_000)}

    def deploy(self, t: int, who: Who, target: str) -> None:
        """A deploy: artifact read, start, finish (sometimes failing and rolled back)."""
        r = self.rng
        dep, ver = f"dep-{self.hex(8)}", f"v2.{r.randint(30, 48)}.{r.randint(0, 9)}"
        info: Info = {"object_key": f"{target[8:]}/{ver}.tar.gz", "bytes": r.randint(10**7, 10**8)}
        self.add(t, who, "storage.read", ART[0], info)
        info = {"deployment_id": dep, "version": ver, "strategy": "rolling", "replicas": 3}
        self.add(t + 2 * SEC, who, "deploy.start", target, info)
        done = t + r.randint(60, 400) * SEC
        info = {"deployment_id": dep, "duration_s": (done - t) // SEC}
        if self.add(done, who, "deploy.finish", target, info, fail=0.08).error:
            info["rolled_back_to"] = "previous"

    def vpn_day(self, user: str, start: int, end: int, assigned_ip: str) -> None:
        """On-prem VPN gateway: connect (maybe after a bad OTP), hourly rekeys, disconnect."""
        r, gw = self.rng, "vpn/gw-fra1"
        who = Who(user, f"198.51.100.{r.randint(2, 250)}", UA["vpn"], f"vpn-{self.hex(10)}")
        info: Info = {"method": "cert+otp", "assigned_ip": assigned_ip, "tunnel": "ipsec"}
        if r.random() < 0.2 or user.startswith("niaj@"):
            bad = "AuthenticationFailed: invalid OTP"
            self.add(start - 90 * SEC, who, "auth.login", gw, {}, error=bad, source="vpn")
        self.add(start - 60 * SEC, who, "auth.login", gw, info, source="vpn")
        for h in range(start // at(1) + 1, end // at(1) + 1):
            t = at(h, r.randint(0, 59), r.random() * 60)
            self.add(t, who, "vpn.tunnel.rekey", gw, {"cipher": "aes-256-gcm"}, source="vpn")
        info = {"bytes_in": r.randint(10**7, 10**9), "bytes_out": r.randint(10**6, 10**8)}
        self.add(end + 30 * SEC, who, "auth.logout", gw, info, source="vpn")

    def human(self, index: int, name: str, role: str) -> None:
        """One person's day: (VPN,) SSO login maybe after typos, routine work, logout."""
        r, user = self.rng, f"{name}@corp.example"
        start, end = at(7, r.randint(0, 150), r.random() * 60), at(16, r.randint(0, 150))
        remote = index % 2 == 1
        net = f"10.8.{r.randint(1, 9)}" if remote else f"10.20.{r.randint(1, 6)}"
        who = Who(user, f"{net}.{r.randint(2, 250)}", UA["browser"], f"sess-{self.hex(12)}")
        self.people[name] = who
        if remote:
            self.vpn_day(user, start, end, who.ip)
        for i in range(max(r.choice([0] * 8 + [1, 2]), int(name == "frank"))):
            form: Info = {"method": "password+totp"}
            if name == "frank" and i == 0:  # a replayed login form, captured verbatim
                form["form"] = {"username": user, "password": "EXAMPLE-not-a-real-password"}
            typo = "InvalidCredentials: wrong password"
            self.add(start - (i + 1) * 20 * SEC, who, "auth.login", SSO, form, error=typo)
        self.add(start, who, "auth.login", SSO, {"method": "password+totp", "mfa": True})
        weights = [w for w, _, _ in PROFILES[role]]
        for _ in range(r.randint(130, 230)):
            t = r.randint(start + SEC, end)
            if at(12) < t < at(13) and r.random() < 0.6:
                continue  # lunch
            _, action, pool = r.choices(PROFILES[role], weights)[0]
            res = r.choice(pool)
            ua = UA["notebook"] if name == "kenji" else UA.get(action.split(".")[0], UA["cli"])
            tool = Who(user, who.ip, ua, who.session)
            if action == "deploy.start":
                self.deploy(t, tool, res)
                continue
            info = self.details(action, res)
            if (
                self.add(t, tool, action, res, info, fail=0.035).outcome == "success"
                and "commit" in info
            ):
                self.pipeline(t, res, info["commit"])
        self.add(end, who, "auth.logout", SSO)

    def service(self, name: str, session: str | None = None) -> Who:
        return Who(name, SVC_IPS[name], UA[name], session or f"sess-{name}-{self.hex(8)}")

    def pipeline(self, t: int, repo: str, commit: str) -> None:
        """CI after a push: clone, build artifact; app repos are then deployed by svc-deploy."""
        ci, r = self.service("ci-runner"), self.rng
        t += r.randint(5, 40) * SEC
        info: Info = {"ref": "refs/heads/main", "commit": commit, "depth": 1}
        self.add(t, ci, "repo.clone", repo, info, fail=0.02)
        t += r.randint(120, 600) * SEC
        info = {
            "object_key": f"{repo[5:]}/build-{self.hex(7)}.tgz",
            "bytes": r.randint(10**7, 10**8),
        }
        self.add(t, ci, "storage.write", ART[0], info, fail=0.02)
        if repo != REPOS[3] and r.random() < 0.6:
            self.deploy(t + 30 * SEC, self.service(COMPROMISED), r.choice(SERVICES))

    def services(self) -> None:
        """Token refreshes, hourly backups, the billing worker and the reporting job."""
        r = self.rng
        for name in SVC_IPS:
            who = self.service(name, f"sess-{name}")
            info: Info = {"method": "service_token", "token_id": f"tok-{name}-7f3a"}
            for h in range(24):
                self.add(at(h, 0, r.random() * 5), who, "auth.token.refresh", SSO, info)
        backup = self.service("svc-backup", "sess-svc-backup")
        for h in range(24):
            for db in QUERIES:
                t, name = at(h, 5, r.random() * 600), db[3:]
                query = "COPY (SELECT * FROM snapshot_view) TO STDOUT"
                info = {"database": name, "query": query, "rows": r.randint(10**4, 4 * 10**5)}
                self.add(t, backup, "db.query", db, info, fail=0.03)
                t += r.randint(20, 90) * SEC
                info = {
                    "object_key": f"{name}/2026-03-12T{h:02d}.dump.gz",
                    "bytes": r.randint(10**7, 10**9),
                }
                self.add(t, backup, "storage.write", "bucket/backups", info, fail=0.02)
                info = {"object_key": f"{name}/2026-02-10T{h:02d}.dump.gz", "reason": "retention"}
                self.add(t + 5 * SEC, backup, "storage.delete", "bucket/backups", info)
        billing, t = self.service("svc-billing", "sess-svc-billing"), at(0, 0, 17.0)
        while t < at(23, 59):
            db, action = r.choice(["db/billing", "db/orders"]), r.choice(["db.query", "db.write"])
            self.add(t, billing, action, db, self.details(action, db), fail=0.04)
            t += r.randint(90, 200) * SEC
        reporting = self.service("svc-reporting", "sess-svc-reporting")
        for m in range(6 * 60, 20 * 60, 10):
            t = at(0, m, r.random() * 30)
            info = self.details("db.query", "db/analytics")
            self.add(t, reporting, "db.query", "db/analytics", info, fail=0.03)
            info = {
                "object_key": f"hourly/{m // 60:02d}{m % 60:02d}.parquet",
                "bytes": r.randint(10**5, 10**7),
            }
            self.add(t + 4 * SEC, reporting, "storage.write", REP[0], info)
        # A legitimate deploy from the usual host while the attacker is active.
        self.deploy(at(14, 7, 3.2), self.service(COMPROMISED), "service/search")

    def ordinary_admin(self) -> None:
        """Judy's routine IAM work, a benign audit retention change, one logged bearer header."""
        j, noah = self.people["judy"], "user/noah@corp.example"
        self.add(at(9, 5, 12.3), j, "iam.user.create", noah, {"reason": "HR-2207 new hire"})
        info: Info = {"principal": noah, "reason": "HR-2207"}
        self.add(at(9, 6, 40.1), j, "iam.role.grant", "role/db-readonly", info)
        info = {"access_key_id": "AKIAEXAMPLEROTATE001", "reason": "quarterly rotation"}
        self.add(at(11, 0, 3.9), j, "iam.key.create", "user/svc-reporting", info)
        info = {"retention_days": {"old": 365, "new": 400}, "ticket": "SEC-118"}
        self.add(at(15, 10, 8.8), j, "audit.config.update", "trail/org-audit", info)
        info = {"principal": "user/contractor7@corp.example", "reason": "contract ended"}
        self.add(at(16, 30, 21.5), j, "iam.role.revoke", "role/prod-deploy", info)
        c = self.people["carol"]
        auth = {"Authorization": f"Bearer {FAKE_JWT}"}
        info = {"object_key": "checkout/prod.yaml", "bytes": 4121, "http": {"headers": auth}}
        carol_cli = Who(c.actor, c.ip, UA["cli"], c.session)
        self.add(at(10, 41, 2.2), carol_cli, "storage.read", CFG[0], info)

    def incident(self) -> None:
        """The leaked svc-deploy token used from ATTACKER_IP, then the backup-admin2 pivot."""
        dep = Who(COMPROMISED, ATTACKER_IP, ATTACKER_UA, f"sess-{self.hex(12)}")
        adm = Who(NEW_USER, ATTACKER_IP, ATTACKER_UA, f"sess-{self.hex(12)}")
        for hms, who, action, res, err, info in INCIDENT_BEFORE:
            actor = dep if who == "dep" else adm
            self.add(parse_hms(hms), actor, action, res, info, error=err, incident=True)
        t, slow = at(14, 4, 45.0), "SlowDown: request rate exceeded, reduce request rate and retry"
        for part in range(1, EXPORT_PARTS + 1):
            key = f"exports/2026-03/customers-part-{part:04d}.csv.gz"
            if part in EXPORT_THROTTLED:
                t += self.rng.randint(700_000, 1_500_000)
                self.add(
                    t,
                    adm,
                    "storage.read",
                    EXPORT_BUCKET,
                    {"object_key": key},
                    error=slow,
                    incident=True,
                )
            t += self.rng.randint(700_000, 1_500_000)
            info = {"object_key": key, "bytes": self.rng.randint(2_000_000, 6_000_000)}
            self.add(t, adm, "storage.read", EXPORT_BUCKET, info, incident=True)
        for hms, who, action, res, err, info in INCIDENT_AFTER:
            actor = dep if who == "dep" else adm
            self.add(parse_hms(hms), actor, action, res, info, error=err, incident=True)


def build(seed: int = SEED) -> dict[str, list[Event]]:
    """All events of the day per source key, each list sorted by time, with stable ids."""
    day = Day(seed)
    for i, (name, role) in enumerate(PEOPLE):
        day.human(i, name, role)
    day.services()
    day.ordinary_admin()
    day.incident()
    out: dict[str, list[Event]] = {k: [] for k in SOURCES}
    for ev in sorted(day.events, key=lambda e: e.t_us):  # stable: ties keep creation order
        out[ev.source].append(ev)
    for key, evs in out.items():
        for i, ev in enumerate(evs, 1):
            ev.event_id = f"evt-{SOURCES[key].tag}-{i:05d}"
    return out


def render(events: list[Event]) -> bytes:
    lines = (json.dumps(e.to_json(), separators=(",", ":")) + "\n" for e in events)
    return "".join(lines).encode("ascii")


def write_all(out_dir: Path = OUT_DIR) -> dict[str, int]:
    """Write every source file (gzip without name or mtime); returns bytes per file name."""
    sizes: dict[str, int] = {}
    for key, evs in build().items():
        src, data = SOURCES[key], render(evs)
        if src.filename.endswith(".gz"):
            data = gzip.compress(data, compresslevel=9, mtime=0)
        (out_dir / src.filename).write_bytes(data)
        sizes[src.filename] = len(data)
    return sizes


def incident_facts() -> dict[str, Any]:
    """Key facts of the generated incident, derived from the events themselves."""
    by_source = build()
    bad = sorted((e for evs in by_source.values() for e in evs if e.incident), key=lambda e: e.t_us)

    def one(action: str, resource: str) -> Event:
        return next(
            e for e in bad if (e.action, e.resource, e.outcome) == (action, resource, "success")
        )

    def iso(e: Event) -> str:
        return str(format_ts(e.t_us, "z_ms"))

    grant, key = one("iam.role.grant", "role/admin"), one("iam.key.create", f"user/{NEW_USER}")
    reads = [e for e in bad if (e.action, e.resource) == ("storage.read", EXPORT_BUCKET)]
    cover = [e for e in bad if e.action in COVERUP_ACTIONS]
    return {
        "date": DAY.date().isoformat(),
        "attacker_ip": ATTACKER_IP,
        "attacker_user_agent": ATTACKER_UA,
        "compromised_actor": COMPROMISED,
        "normal_ip": DEPLOY_IP,
        "normal_user_agent": DEPLOY_UA,
        "created_user": NEW_USER,
        "granted_role": "role/admin",
        "access_key_id": FAKE_KEY_ID,
        "export_resource": EXPORT_BUCKET,
        "first_seen": iso(bad[0]),
        "first_event_id": bad[0].event_id,
        "last_seen": iso(bad[-1]),
        "grant_at": iso(grant),
        "grant_event_id": grant.event_id,
        "key_create_at": iso(key),
        "key_create_event_id": key.event_id,
        "export_start": iso(reads[0]),
        "export_end": iso(reads[-1]),
        "export_read_events": len(reads),
        "export_read_failures": sum(e.outcome == "failure" for e in reads),
        "db_export_at": iso(one("data.export", "db/customers")),
        "coverup_start": iso(cover[0]),
        "coverup_end": iso(cover[-1]),
        "coverup_failures": sum(e.outcome == "failure" for e in cover),
        "attacker_events": len(bad),
        "attacker_failures": sum(e.outcome == "failure" for e in bad),
        "attacker_events_per_file": {
            SOURCES[k].filename: sum(e.source == k for e in bad) for k in SOURCES
        },
        "counts": {SOURCES[k].filename: len(v) for k, v in by_source.items()},
        "total_events": sum(len(v) for v in by_source.values()),
    }


if __name__ == "__main__":
    for fname, size in write_all().items():
        print(f"{fname}: {size} bytes")
