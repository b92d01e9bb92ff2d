"""Detection: a directory of mixed formats loads each file with its own adapter."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from auditcli.ingest import ADAPTERS, adapter_named, detect
from auditcli.ingest.adapter import MAPPED_COLUMNS, json_path
from auditcli.ingest.sources import expand
from auditcli.load import LoadOptions, load
from auditcli.store import Store
from tests.formats import test_azure, test_cloudtrail, test_gcp_audit, test_k8s_audit, test_saas


def _records(table: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    return [record for _, record, _ in table]


RECORDS: dict[str, list[dict[str, Any]]] = {
    "cloudtrail": _records(test_cloudtrail.CASES),
    "k8s-audit": _records(test_k8s_audit.CASES),
    "gcp-audit": _records(test_gcp_audit.CASES),
    "azure-activity": _records(test_azure.ACTIVITY),
    "entra-signin": _records(test_azure.ENTRA),
    "m365-ual": _records(test_saas.M365),
    "okta": _records(test_saas.OKTA),
    "github-audit": _records(test_saas.GITHUB),
    "google-workspace": _records(test_saas.WORKSPACE),
    "ocsf": _records(test_saas.OCSF),
}


def _lines(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


#: Where each format is written, in a layout it really comes in.
FILES: dict[str, tuple[str, bytes]] = {
    "cloudtrail": (
        "AWSLogs/1/CloudTrail/eu-west-1/2024/05/01/1_CloudTrail_eu-west-1_x.json.gz",
        orjson.dumps({"Records": RECORDS["cloudtrail"]}),
    ),
    "k8s-audit": ("k8s/audit.log", _lines(RECORDS["k8s-audit"])),
    "gcp-audit": ("gcp/logs.json", orjson.dumps(RECORDS["gcp-audit"])),
    "azure-activity": ("azure/activity.json", orjson.dumps(RECORDS["azure-activity"])),
    "entra-signin": ("azure/signins.json", orjson.dumps({"records": RECORDS["entra-signin"]})),
    "m365-ual": ("m365/ual.jsonl", _lines(RECORDS["m365-ual"])),
    "okta": ("okta/system-log.json", orjson.dumps(RECORDS["okta"])),
    "github-audit": ("github/audit.json", orjson.dumps(RECORDS["github-audit"])),
    "google-workspace": (
        "gws/activities.json",
        orjson.dumps({"items": RECORDS["google-workspace"]}),
    ),
    "ocsf": ("ocsf/events.jsonl", _lines(RECORDS["ocsf"])),
}


def test_a_directory_of_formats_loads_each_file_with_its_adapter(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    for path, data in FILES.values():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(data, mtime=0) if path.endswith(".gz") else data)
    store = Store.open(":memory:")
    report = load(store, expand([str(root)]), LoadOptions())
    by_file = {Path(s.name).relative_to(root).as_posix(): s for s in report.sources}
    assert {name: by_file[path].source_format for name, (path, _) in FILES.items()} == {
        name: name for name in FILES
    }
    assert report.rejects == 0
    assert report.events == sum(len(records) for records in RECORDS.values())


@pytest.mark.parametrize("name", list(RECORDS))
def test_no_other_adapter_claims_a_format(name: str) -> None:
    sample = RECORDS[name]
    claims = [
        a.name
        for a in ADAPTERS
        if a.name != "generic-json" and sum(map(a.detect, sample)) * 2 > len(sample)
    ]
    assert claims == [name]
    assert detect(sample).name == name


def test_every_adapter_is_named_and_keeps_its_promises() -> None:
    names = [a.name for a in ADAPTERS]
    assert len(set(names)) == len(names)
    assert names[-1] == "generic-json"
    for adapter in ADAPTERS:
        assert adapter_named(adapter.name) is adapter
        assert adapter.description
        assert adapter.verbatim <= set(MAPPED_COLUMNS) - {"ts", "outcome", "extra"}
        assert set(adapter.columns) <= set(MAPPED_COLUMNS)


def test_detection_is_false_for_other_json() -> None:
    for event in ({"kind": 0}, {"timestamp": "2024-05-01T10:00:00Z", "action": "login"}, {}):
        assert detect([event]).name == "generic-json"


def test_a_quoted_path_segment_may_hold_dots_and_slashes() -> None:
    claim = 'identity.claims."http://schemas.example/claims/upn"'
    assert json_path(claim) == '$."identity"."claims"."http://schemas.example/claims/upn"'
    assert json_path('a."b.c"[1].d') == '$."a"."b.c"[1]."d"'
