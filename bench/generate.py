"""Deterministic synthetic audit events for benchmarks, as big as you ask.

    python bench/generate.py N OUT.jsonl [--seed S] [--cloudtrail DIR] [--chain]

Writes N events (about 450 bytes each with the chain fields) as JSON lines; with
--chain they carry seq, prev_hash and hash of the auditcli-chain/1 scheme. With
--cloudtrail DIR it also writes the same events as gzipped CloudTrail-style
``{"Records": [...]}`` files of 1,000 events under DIR/AWSLogs/.... Many actors,
resources and addresses, a few percent failures, nested request parameters.
Generated data belongs in /tmp, never in the repository.
"""

from __future__ import annotations

import argparse
import gzip
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

START = datetime(2026, 3, 12, tzinfo=UTC)
ACTIONS = (
    ("db.query", 30),
    ("storage.read", 25),
    ("storage.list", 8),
    ("storage.write", 8),
    ("auth.login", 6),
    ("repo.push", 5),
    ("repo.clone", 5),
    ("deploy.start", 2),
    ("deploy.finish", 2),
    ("iam.role.grant", 1),
    ("iam.key.create", 1),
    ("storage.delete", 1),
)
ERRORS = ("AccessDenied: not authorized", "Throttling: rate exceeded", "Timeout: upstream")


def _names(rng: random.Random) -> dict[str, list[str]]:
    return {
        "actors": [f"user{i:04d}@corp.example" for i in range(2000)]
        + [f"svc-{name}-{i}" for name in ("deploy", "backup", "billing", "etl") for i in range(25)],
        "resources": [
            f"{kind}/{kind}-{i:04d}"
            for kind in ("db", "bucket", "repo", "service")
            for i in range(500)
        ],
        "ips": [
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            for _ in range(5000)
        ],
        "agents": [
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0",
            "deploy-agent/4.2",
            "python-requests/2.31.0",
            "aws-cli/2.15.0 Python/3.11",
            "curl/8.5.0",
        ],
    }


def events(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` events, the same for the same seed, one every ~10 ms of one day."""
    rng = random.Random(seed)
    names = _names(rng)
    actions = [name for name, weight in ACTIONS for _ in range(weight)]
    step = timedelta(days=1) / max(count, 1)
    for index in range(count):
        actor = rng.choice(names["actors"])
        failed = rng.random() < 0.04
        event: dict[str, Any] = {
            "id": f"evt-{seed}-{index:010d}",
            "timestamp": (START + step * index)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "actor": {"id": actor, "type": "service" if actor.startswith("svc-") else "user"},
            "action": rng.choice(actions),
            "resource": {"id": rng.choice(names["resources"])},
            "outcome": "failure" if failed else "success",
            "source_ip": rng.choice(names["ips"]),
            "user_agent": rng.choice(names["agents"]),
            "request_id": f"req-{rng.getrandbits(64):016x}",
            "error": rng.choice(ERRORS) if failed else None,
            "details": {"bytes": rng.randrange(10**7), "ratio": round(rng.random(), 4)},
        }
        yield event


def write_jsonl(path: Path, count: int, seed: int, chain: bool) -> None:
    """N events as JSON lines; with ``chain``, sealed by auditcli's own ``seal``."""
    plain = path.with_name(path.name + ".unsealed") if chain else path
    with open(plain, "wb") as out:
        batch: list[bytes] = []
        for event in events(count, seed):
            batch.append(orjson.dumps(event))
            if len(batch) >= 10000:
                out.write(b"\n".join(batch) + b"\n")
                batch.clear()
        if batch:
            out.write(b"\n".join(batch) + b"\n")
    if chain:
        from auditcli.integrity.seal import seal

        seal([str(plain)], path)
        plain.unlink()


def write_cloudtrail(root: Path, count: int, seed: int, per_file: int = 1000) -> int:
    """The events as gzipped CloudTrail ``Records`` files; return how many files."""
    files = 0
    records: list[dict[str, Any]] = []
    for event in events(count, seed):
        records.append(
            {
                "eventVersion": "1.09",
                "eventTime": event["timestamp"][:19] + "Z",
                "eventSource": "s3.amazonaws.com",
                "eventName": event["action"].split(".")[-1].title(),
                "userIdentity": {
                    "type": "IAMUser",
                    "userName": event["actor"]["id"],
                    "arn": f"arn:aws:iam::123456789012:user/{event['actor']['id']}",
                    "accessKeyId": "AKIA" + event["request_id"][4:20].upper(),
                },
                "sourceIPAddress": event["source_ip"],
                "userAgent": event["user_agent"],
                "requestParameters": {"bucketName": event["resource"]["id"]},
                "errorCode": "AccessDenied" if event["error"] else None,
                "requestID": event["request_id"],
                "eventID": event["id"],
                "recipientAccountId": "123456789012",
            }
        )
        if len(records) == per_file:
            files += _write_records(root, files, records)
            records = []
    if records:
        files += _write_records(root, files, records)
    return files


def _write_records(root: Path, number: int, records: list[dict[str, Any]]) -> int:
    day = records[0]["eventTime"][:10].replace("-", "/")
    folder = root / "AWSLogs" / "123456789012" / "CloudTrail" / "eu-west-1" / day
    folder.mkdir(parents=True, exist_ok=True)
    name = f"123456789012_CloudTrail_eu-west-1_{number:06d}.json.gz"
    (folder / name).write_bytes(gzip.compress(orjson.dumps({"Records": records}), mtime=0))
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", type=int)
    parser.add_argument("output", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chain", action="store_true")
    parser.add_argument("--cloudtrail", type=Path)
    args = parser.parse_args()
    write_jsonl(args.output, args.count, args.seed, args.chain)
    if args.cloudtrail is not None:
        write_cloudtrail(args.cloudtrail, args.count, args.seed)


if __name__ == "__main__":
    main()
