"""CloudTrail digest validation, offline, against a bucket copy these tests sign themselves."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from typer.testing import Result

from auditcli.integrity.cloudtrail_digest import read_public_keys, verify_cloudtrail

Run = Callable[..., Result]
ACCOUNT, REGION, TRAIL, BUCKET = "123456789012", "eu-west-1", "main", "trail-bucket"
FINGERPRINT = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Bucket:
    """A copy of a trail's bucket: hourly digests, each listing that hour's log files,
    each signed as CloudTrail signs (its signature kept by the next one)."""

    def __init__(self, root: Path, key: rsa.RSAPrivateKey, hours: int = 4) -> None:
        self.root, self.key = root, key
        self.digests: list[Path] = []
        self.logs: list[Path] = []
        previous: dict[str, Any] | None = None
        for hour in range(hours):
            logs = [self._log(hour, n) for n in range(2)]
            previous = self._digest(hour, logs, previous)

    def _log(self, hour: int, n: int) -> Path:
        stamp = f"20260312T{hour:02d}{5 * n:02d}Z"
        key = (
            f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/03/12/"
            f"{ACCOUNT}_CloudTrail_{REGION}_{stamp}_abcDEF{hour}{n}.json.gz"
        )
        body = orjson.dumps({"Records": [{"eventName": f"Get{hour}{n}", "eventTime": "x"}]})
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(body))
        self.logs.append(path)
        return path

    def _digest(
        self, hour: int, logs: list[Path], previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        key = (
            f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/2026/03/12/"
            f"{ACCOUNT}_CloudTrail-Digest_{REGION}_{TRAIL}_{REGION}"
            f"_20260312T{hour + 1:02d}0000Z.json.gz"
        )
        doc = {
            "awsAccountId": ACCOUNT,
            "digestStartTime": f"2026-03-12T{hour:02d}:00:00Z",
            "digestEndTime": f"2026-03-12T{hour + 1:02d}:00:00Z",
            "digestS3Bucket": BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": FINGERPRINT,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "previousDigestS3Bucket": previous and BUCKET,
            "previousDigestS3Object": previous and previous["key"],
            "previousDigestHashValue": previous and previous["sha"],
            "previousDigestHashAlgorithm": previous and "SHA-256",
            "previousDigestSignature": previous and previous["signature"],
            "logFiles": [
                {
                    "s3Bucket": BUCKET,
                    "s3Object": log.relative_to(self.root).as_posix(),
                    "hashValue": hashlib.sha256(gzip.decompress(log.read_bytes())).hexdigest(),
                    "hashAlgorithm": "SHA-256",
                }
                for log in logs
            ],
        }
        data = orjson.dumps(doc)
        sha = hashlib.sha256(data).hexdigest()
        before = previous["signature"] if previous else "null"
        text = f"{doc['digestEndTime']}\n{BUCKET}/{key}\n{sha}\n{before}"
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data))
        self.digests.append(path)
        self.newest_signature = signature
        return {"key": key, "sha": sha, "signature": signature}

    def keys_file(self, key: rsa.RSAPrivateKey | None = None, pkcs1: bool = True) -> Path:
        """``aws cloudtrail list-public-keys`` output for the signing key."""
        public = (key or self.key).public_key()
        der = public.public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.PKCS1
            if pkcs1
            else serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        entry = {"Value": base64.b64encode(der).decode(), "Fingerprint": FINGERPRINT}
        path = self.root.parent / "keys.json"
        path.write_bytes(orjson.dumps({"PublicKeyList": [entry]}))
        return path

    def rewrite(self, path: Path, change: Callable[[dict[str, Any]], None]) -> None:
        doc = orjson.loads(gzip.decompress(path.read_bytes()))
        change(doc)
        path.write_bytes(gzip.compress(orjson.dumps(doc)))


@pytest.fixture
def bucket(tmp_path: Path, private_key: rsa.RSAPrivateKey) -> Bucket:
    return Bucket(tmp_path / "copy", private_key)


def _verify(bucket: Bucket, keys: bool = True) -> Any:
    public = read_public_keys(bucket.keys_file().read_bytes(), "keys.json") if keys else None
    return verify_cloudtrail([bucket.root], public)


def _kinds(report: Any) -> list[tuple[str, str]]:
    return [(f.kind.value, Path(f.file).name) for f in report.findings]


def test_an_intact_copy_verifies_with_what_it_cannot_prove_as_notes(bucket: Bucket) -> None:
    report = _verify(bucket)
    assert report.findings == () and report.events == len(bucket.logs) == 8
    assert report.scheme == "aws-cloudtrail-digest"
    notes = " ".join(report.notes)
    assert "4 digest files, 8 log files checked" in notes
    assert "signature is S3 object metadata" in notes  # the newest digest's only
    assert "digests removed after it" in notes
    assert "every signature the copy holds verifies" in report.proven


def test_the_newest_signature_saved_beside_it_is_checked(bucket: Bucket) -> None:
    newest = bucket.digests[-1]
    newest.with_name(newest.name + ".signature").write_text(bucket.newest_signature + "\n")
    assert _verify(bucket).findings == ()
    newest.with_name(newest.name + ".signature").write_text("00" * 256)
    assert _kinds(_verify(bucket)) == [("bad_signature", newest.name)]


def test_a_changed_log_file_is_modified_and_a_missing_one_deleted(bucket: Bucket) -> None:
    changed, gone = bucket.logs[1], bucket.logs[6]
    changed.write_bytes(gzip.compress(b'{"Records":[]}'))
    gone.unlink()
    report = _verify(bucket)
    assert sorted(_kinds(report)) == sorted([("modified", changed.name), ("deleted", gone.name)])
    assert report.events == 7


def test_a_second_gzip_member_after_a_log_file_is_found(bucket: Bucket) -> None:
    log = bucket.logs[0]
    log.write_bytes(log.read_bytes() + gzip.compress(b'{"Records":[{"forged":1}]}'))
    [finding] = _verify(bucket).findings
    assert finding.kind.value == "malformed" and "after the end" in finding.message


def test_a_digest_removed_from_the_middle_is_found(bucket: Bucket) -> None:
    bucket.digests[1].unlink()
    assert _kinds(_verify(bucket)) == [("deleted", bucket.digests[2].name)]


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc.update(logFiles=["x"]),
        lambda doc: doc.update(logFiles={"a": 1}),
        lambda doc: doc.update(logFiles=5),
        lambda doc: doc.update(digestEndTime=5),
        lambda doc: doc["logFiles"][0].update(s3Object=None),
        lambda doc: doc.update(previousDigestSignature=7),
    ],
)
def test_a_digest_of_the_wrong_shape_is_malformed(
    bucket: Bucket, change: Callable[[dict[str, Any]], None]
) -> None:
    """Not an internal error: its successor then finds it missing."""
    bucket.rewrite(bucket.digests[1], change)
    kinds = _kinds(_verify(bucket))
    assert ("malformed", bucket.digests[1].name) in kinds
    assert {kind for kind, _ in kinds} <= {"malformed", "deleted"}


def test_two_copies_given_together_are_each_read_from_their_own_root(
    tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    first = Bucket(tmp_path / "a" / "copy", private_key, hours=2)
    second = Bucket(tmp_path / "b" / "copy", private_key, hours=2)
    keys = read_public_keys(first.keys_file().read_bytes(), "keys.json")
    report = verify_cloudtrail([first.root, second.root, first.root], keys)
    assert report.findings == () and report.events == 8


def test_a_log_file_named_outside_the_bucket_is_not_read(bucket: Bucket) -> None:
    """A digest's names are its content: the CloudTrail key signs them, but they are
    read before anything is proven."""
    outside = bucket.root.parent / "secret.json.gz"
    outside.write_bytes(gzip.compress(b"{}"))
    bucket.rewrite(
        bucket.digests[-1],
        lambda doc: doc["logFiles"].append({"s3Object": "../secret.json.gz", "hashValue": "00"}),
    )
    report = _verify(bucket)
    assert ("malformed", bucket.digests[-1].name) in _kinds(report)
    assert not any(f.file.endswith("secret.json.gz") for f in report.findings)


def test_a_copy_that_starts_mid_chain_is_a_note_not_a_defect(bucket: Bucket) -> None:
    bucket.digests[0].unlink()
    report = _verify(bucket)
    assert report.findings == ()
    assert any(
        note.startswith(f"the copy starts at {bucket.digests[1].name}") for note in report.notes
    )


def test_the_signed_text_is_cloudtrails() -> None:
    """aws-cli's vector: end time, bucket/key, SHA-256 of the bytes, and a literal
    null for the first digest of a chain."""
    from auditcli.integrity.cloudtrail_digest import _Digest

    fields = {"digestEndTime": "a", "digestS3Bucket": "b", "digestS3Object": "c"}
    digest = _Digest(Path("x"), b"abc", {**fields, "previousDigestSignature": None}, False)
    sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert digest.signed_text() == f"a\nb/c\n{sha}\nnull".encode()


def test_an_edited_digest_fails_its_signature_and_its_successors_hash(bucket: Bucket) -> None:
    """Dropping a log file from its list hides nothing."""
    edited = bucket.digests[1]
    bucket.rewrite(edited, lambda doc: doc["logFiles"].pop())
    assert sorted(_kinds(_verify(bucket))) == [
        ("bad_signature", edited.name),
        ("modified", edited.name),
    ]


def test_a_digest_moved_elsewhere_is_found(bucket: Bucket) -> None:
    digest = bucket.digests[0]
    (bucket.root / "moved").mkdir()
    digest.rename(bucket.root / "moved" / digest.name)
    assert _kinds(_verify(bucket)) == [("link_broken", digest.name)]


def test_keys_of_another_signer_fail_every_signature(bucket: Bucket, tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = read_public_keys(bucket.keys_file(other, pkcs1=False).read_bytes(), "keys.json")
    report = verify_cloudtrail([bucket.root], keys)
    assert {kind for kind, _ in _kinds(report)} == {"bad_signature"}
    assert len(report.findings) == 3  # all but the newest, whose signature is not kept


def test_without_keys_the_links_and_hashes_are_still_checked(bucket: Bucket) -> None:
    bucket.logs[0].write_bytes(gzip.compress(b"x"))
    report = _verify(bucket, keys=False)
    assert _kinds(report) == [("modified", bucket.logs[0].name)]
    assert any("no public keys given" in note for note in report.notes)
    assert "signature" not in report.proven


def test_a_log_file_no_digest_lists_is_a_note(bucket: Bucket) -> None:
    extra = bucket.logs[0].with_name(bucket.logs[0].name.replace("abcDEF00", "zzzZZZ99"))
    extra.write_bytes(bucket.logs[0].read_bytes())
    report = _verify(bucket)
    assert report.findings == ()
    assert any("listed by no digest" in note and extra.name in note for note in report.notes)


def test_the_cli_reads_a_bucket_copy_and_exits_by_what_it_found(run: Run, bucket: Bucket) -> None:
    keys = bucket.keys_file()
    result = run("verify", bucket.root, "--cloudtrail-keys", keys, "-f", "table")
    assert result.exit_code == 0, result.stderr
    assert "aws-cloudtrail-digest · 8 log files" in result.stdout
    assert "8 log files checked" in result.stderr
    bucket.logs[3].unlink()
    result = run("verify", bucket.root / "AWSLogs", "--cloudtrail-keys", keys, "-f", "json")
    assert result.exit_code == 1
    [finding] = orjson.loads(result.stdout)["findings"]
    assert finding["kind"] == "deleted" and finding["file"].endswith(bucket.logs[3].name)
    bad = run("verify", bucket.root, "--cloudtrail-keys", bucket.root / "nope.json")
    assert bad.exit_code == 3
    assert run("verify", bucket.root / "nope", "--cloudtrail-keys", keys).exit_code == 3
    keys.write_text('{"PublicKeyList": []}')
    empty = run("verify", bucket.root, "--cloudtrail-keys", keys)
    assert empty.exit_code == 3 and "holds no public key" in empty.stderr
    assert run("verify", bucket.logs[0], "--cloudtrail-keys", keys).exit_code == 2
