"""Offline validation of AWS CloudTrail log file integrity, from a copy of the bucket.

Every hour CloudTrail writes a digest file listing the SHA-256 of each log file it
delivered, and the hash and signature of the digest before it. The signature of a
digest is S3 object metadata (``x-amz-meta-signature``), which a copy loses; offline,
it is the ``previousDigestSignature`` its successor carries (and, for the newest
digest, a ``<digest>.signature`` file beside it, if one was saved). So a copy proves:

- each log file a digest lists is there and has the hash it had when delivered;
- each digest is signed by CloudTrail's key (given as ``list-public-keys`` output)
  over its end time, its own place, the hash of its bytes and its predecessor's
  signature, and its predecessor has the hash it recorded: the chain of hours is
  whole, a digest removed from its middle is found, and so is one moved.

Unlike ``aws cloudtrail validate-logs`` it needs no network, checks log files that
were downloaded, and checks both cross links (the CLI checks neither). It finds
no more than the chain proves: digests removed from the newest end, and log files
no digest lists, are reported as notes, not defects.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from auditcli.errors import InputError
from auditcli.integrity.report import ChainReport, Finding, FindingKind
from auditcli.integrity.sources import ReadStopped, gunzipped

__all__ = ["SCHEME", "is_digest_tree", "read_public_keys", "verify_cloudtrail"]

SCHEME = "aws-cloudtrail-digest"
#: ``<acct>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHMMSSZ>[_backfill].json.gz``
_DIGEST = re.compile(
    r"^(\d{12})_CloudTrail-Digest_([a-z0-9-]+)_(.+)_\d{8}T\d{6}Z(_backfill)?\.json\.gz$"
)
_LOG = re.compile(r"^\d{12}_CloudTrail_[a-z0-9-]+_\d{8}T\d{4}Z_[A-Za-z0-9]+\.json\.gz$")
_READ = 1 << 20


def is_digest_tree(paths: Iterable[Path]) -> bool:
    """True when ``paths`` are, or hold, CloudTrail digest files (the first one found
    answers: a bucket copy holds tens of thousands of files)."""
    return any(_DIGEST.match(file.name) for path in paths for file in _files(path))


def _digest_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Each digest file once, in name order, though given twice or inside two paths."""
    seen: set[Path] = set()
    for path in paths:
        for file in sorted(_files(path)):
            if _DIGEST.match(file.name) and file.resolve() not in seen:
                seen.add(file.resolve())
                yield file


def _files(path: Path) -> Iterable[Path]:
    return path.rglob("*.json.gz") if path.is_dir() else [path]


@dataclass(frozen=True)
class PublicKey:
    """One of CloudTrail's signing keys; ``fingerprint`` None matches any digest."""

    fingerprint: str | None
    key: Any  # cryptography's RSAPublicKey


def read_public_keys(data: bytes, name: str) -> list[PublicKey]:
    """Keys from ``aws cloudtrail list-public-keys`` JSON output, or PEM public keys."""
    from cryptography.hazmat.primitives.serialization import (
        load_der_public_key,
        load_pem_public_key,
    )

    if b"-----BEGIN" in data:
        blocks = re.findall(rb"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", data, re.S)
        try:
            keys = [PublicKey(None, load_pem_public_key(block)) for block in blocks]
        except ValueError as e:
            raise InputError(f"{name}: not a public key: {e}") from e
        return _some(keys, name)
    try:
        listed = orjson.loads(data)["PublicKeyList"]
        keys = [
            PublicKey(
                str(entry["Fingerprint"]).lower(),
                load_der_public_key(base64.b64decode(entry["Value"])),
            )
            for entry in listed
        ]
    except (KeyError, TypeError, ValueError) as e:  # JSON's and base64's errors too
        raise InputError(
            f"{name}: not the output of `aws cloudtrail list-public-keys` nor PEM keys ({e})"
        ) from e
    return _some(keys, name)


def _some(keys: list[PublicKey], name: str) -> list[PublicKey]:
    if not keys:
        raise InputError(f"{name}: holds no public key")
    return keys


@dataclass
class _Digest:
    path: Path
    data: bytes  # as stored, gunzipped
    doc: dict[str, Any]
    backfill: bool
    chain: tuple[str, ...] = ()  # account, region and trail, from its name

    @property
    def key(self) -> str:
        return str(self.doc["digestS3Object"])

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @functools.cached_property
    def root(self) -> Path | None:
        """The copy of the bucket it lies in: its path without its own S3 key (None
        when it was moved from there)."""
        path = self.path.as_posix()
        if not path.endswith("/" + self.key) and path != self.key:
            return None
        return Path(path[: len(path) - len(self.key)] or ".")

    def signed_text(self) -> bytes:
        doc = self.doc
        previous = doc.get("previousDigestSignature") or "null"
        place = f"{doc['digestS3Bucket']}/{doc['digestS3Object']}"
        return f"{doc['digestEndTime']}\n{place}\n{self.sha256}\n{previous}".encode()


class _Check:
    """The findings and notes of one validation, and what it looked at."""

    def __init__(self, keys: list[PublicKey] | None) -> None:
        self.keys = keys
        self.root: Path | None = None  # the bucket copy: findings name S3 keys under it
        self.findings: list[Finding] = []
        self.notes: list[str] = []
        self.logs_checked = 0
        self.listed: set[Path] = set()

    def defect(self, kind: FindingKind, path: Path, message: str, **details: Any) -> None:
        shown = path
        if self.root is not None and path.is_relative_to(self.root):
            shown = path.relative_to(self.root)
        self.findings.append(Finding(kind, shown.as_posix(), 0, message, **details))

    def digest(self, path: Path) -> _Digest | None:
        try:
            data = b"".join(gunzipped(path, _READ, one_member=True))
            doc = orjson.loads(data)
            problem = _shape_problem(doc)
            if problem is not None:
                raise ValueError(problem)
        except (OSError, ValueError, ReadStopped) as e:
            self.defect(FindingKind.MALFORMED, path, f"not a readable digest file: {e}")
            return None
        match = _DIGEST.match(path.name)
        assert match is not None  # only digest files are read as digests
        return _Digest(path, data, doc, match.group(4) is not None, match.group(1, 2, 3))

    def signature(self, digest: _Digest, signature: str | None) -> None:
        if signature is None or self.keys is None:
            return
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        fingerprint = str(digest.doc.get("digestPublicKeyFingerprint", "")).lower()
        keys = [k for k in self.keys if k.fingerprint in (None, fingerprint)]
        if not keys:
            self.defect(
                FindingKind.BAD_SIGNATURE,
                digest.path,
                f"signed with key {fingerprint or '(none named)'}, which the public keys given"
                " do not hold (keys of another region, or of another time?)",
            )
            return
        try:
            raw, signed = bytes.fromhex(signature), digest.signed_text()
        except ValueError:  # not hex: no key verifies it
            raw, signed = b"", b""
        for key in keys:
            try:
                key.key.verify(raw, signed, padding.PKCS1v15(), hashes.SHA256())
                return
            except (InvalidSignature, ValueError, TypeError):
                continue
        self.defect(
            FindingKind.BAD_SIGNATURE,
            digest.path,
            "signature does not verify: the digest, its place or its predecessor's"
            " signature was changed",
        )

    def log_files(self, digest: _Digest, root: Path) -> None:
        for entry in digest.doc.get("logFiles") or []:
            key, expected = entry["s3Object"], entry["hashValue"]
            path = root / key
            if ".." in Path(key).parts or Path(key).is_absolute():
                self.defect(
                    FindingKind.MALFORMED,
                    digest.path,
                    f"lists a log file outside the bucket: {key}",
                )
                continue
            self.listed.add(path)
            try:
                found = hashlib.sha256()
                for chunk in gunzipped(path, _READ, one_member=True):
                    found.update(chunk)
            except FileNotFoundError:
                self.defect(
                    FindingKind.DELETED,
                    path,
                    f"log file listed by {digest.path.name} is missing",
                    expected=expected,
                )
                continue
            except (OSError, ReadStopped) as e:
                self.defect(FindingKind.MALFORMED, path, f"not a readable log file: {e}")
                continue
            self.logs_checked += 1
            if found.hexdigest() != expected.lower():
                self.defect(
                    FindingKind.MODIFIED,
                    path,
                    f"content no longer matches the hash {digest.path.name} lists",
                    expected=expected,
                    computed=found.hexdigest(),
                )


def verify_cloudtrail(paths: list[Path], keys: list[PublicKey] | None = None) -> ChainReport:
    """Validate the digest files under ``paths`` and the log files they list."""
    check = _Check(keys)
    digests = [d for d in map(check.digest, _digest_files(paths)) if d is not None]
    digests.sort(key=lambda d: str(d.doc["digestEndTime"]))
    for digest in digests:
        if digest.root is None:
            check.defect(
                FindingKind.LINK_BROKEN,
                digest.path,
                f"moved from its original location: it names itself {digest.key}",
            )
    roots = {d.root for d in digests if d.root is not None}
    check.root = next(iter(roots)) if len(roots) == 1 else None
    chains: dict[tuple[str, ...], list[_Digest]] = {}
    for digest in digests:  # in time order, so each chain is too
        chains.setdefault(digest.chain, []).append(digest)
    for chain in chains.values():
        _walk(check, chain)
    for root in sorted(roots):
        _unlisted(check, root)
    if keys is None:
        check.notes.append(
            "no public keys given (--cloudtrail-keys): signatures were not checked, so a"
            " rewritten chain of digests would pass"
        )
    return ChainReport(
        scheme=SCHEME,
        events=check.logs_checked,
        first_hash=digests[0].sha256 if digests else None,
        head=digests[-1].sha256 if digests else None,
        first_time=str(digests[0].doc["digestStartTime"]) if digests else None,
        last_time=str(digests[-1].doc["digestEndTime"]) if digests else None,
        findings=tuple(check.findings),
        notes=(
            f"{len(digests)} digest files, {check.logs_checked} log files checked",
            *check.notes,
        ),
        unit="log files",
        proven="every digest links to the one before it"
        + (", every signature the copy holds verifies" if keys is not None else "")
        + " and every log file listed matches its hash",
    )


def _walk(check: _Check, chain: list[_Digest]) -> None:
    """One trail's digests in one region, newest first, as CloudTrail chained them."""
    by_key = {d.key: d for d in chain}
    signatures: dict[str, str] = {}
    standard = [d for d in chain if not d.backfill]
    for digest in reversed(chain):
        signature = signatures.get(digest.key) or _saved_signature(digest.path)
        if signature is None:
            listed = len(digest.doc.get("logFiles") or [])
            check.notes.append(
                f"{digest.path.name}: its signature is S3 object metadata, which a copy does"
                f" not keep, so nothing signs the hashes of the {listed} log file(s) it lists;"
                " save it beside it as .signature to check it (`aws s3api head-object"
                " --query Metadata.signature`)"
            )
        check.signature(digest, signature)
        root = digest.root or chain[-1].root
        if root is not None:
            check.log_files(digest, root)
        previous = digest.doc.get("previousDigestS3Object")
        if digest.backfill:
            continue
        if previous is None:
            older = [d for d in standard if d.doc["digestEndTime"] < digest.doc["digestEndTime"]]
            if older:
                check.notes.append(
                    f"no digest links {older[-1].path.name} to {digest.path.name}: validation"
                    " was off or logging stopped in between (CloudTrail starts a new chain)"
                )
            continue
        signatures[str(previous)] = str(digest.doc.get("previousDigestSignature") or "")
        before = by_key.get(str(previous))
        if before is None and digest is standard[0]:
            check.notes.append(
                f"the copy starts at {digest.path.name}: the hours before it, from"
                f" {Path(str(previous)).name} back, are not in it and were not checked"
            )
        elif before is None:
            check.defect(
                FindingKind.DELETED,
                digest.path,
                f"the digest before it, {Path(str(previous)).name}, is missing: the log"
                " files of its hour cannot be checked",
            )
        elif before.sha256 != str(digest.doc.get("previousDigestHashValue") or "").lower():
            check.defect(
                FindingKind.MODIFIED,
                before.path,
                f"content no longer matches the hash {digest.path.name} recorded for it",
                expected=digest.doc.get("previousDigestHashValue"),
                computed=before.sha256,
            )
    newest = standard[-1] if standard else None
    if newest is not None:
        check.notes.append(
            f"the newest digest ends at {newest.doc['digestEndTime']}: digests removed after"
            " it, with their log files, cannot be detected"
        )


def _unlisted(check: _Check, root: Path) -> None:
    logs = [p for p in sorted(root.rglob("*.json.gz")) if _LOG.match(p.name)]
    unlisted = [p for p in logs if p not in check.listed]
    if unlisted:
        check.notes.append(
            f"{len(unlisted)} log file(s) are listed by no digest (delivered after the"
            f" newest one, or added): {', '.join(p.name for p in unlisted[:3])}"
            + (", ..." if len(unlisted) > 3 else "")
        )


#: The members a digest must have, and the types its members may have.
_STRINGS = ("digestS3Bucket", "digestS3Object", "digestEndTime", "digestStartTime")
_OPTIONAL = (
    "digestPublicKeyFingerprint",
    "previousDigestS3Object",
    "previousDigestHashValue",
    "previousDigestSignature",
)


def _shape_problem(doc: object) -> str | None:
    """Why ``doc`` cannot be read as a digest, or None."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    if not all(isinstance(doc.get(name), str) and doc[name] for name in _STRINGS):
        return f"a digest needs {', '.join(_STRINGS)}, as text"
    if not all(isinstance(doc.get(name), str | None) for name in _OPTIONAL):
        return f"{', '.join(_OPTIONAL)} must be text or null"
    logs = doc.get("logFiles", [])
    if not isinstance(logs, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("s3Object"), str)
        and e["s3Object"]
        and isinstance(e.get("hashValue"), str)
        for e in logs
    ):
        return "logFiles must list objects with s3Object and hashValue, as text"
    return None


def _saved_signature(path: Path) -> str | None:
    try:
        return path.with_name(path.name + ".signature").read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None
