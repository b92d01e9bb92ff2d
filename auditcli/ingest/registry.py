"""The registry of format adapters: every adapter, looked up by name or detected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditcli.errors import UsageError
from auditcli.ingest.adapter import JsonAdapter
from auditcli.ingest.auditd import AUDITD
from auditcli.ingest.azure import AZURE_ACTIVITY, ENTRA_SIGNIN
from auditcli.ingest.canonical import CANONICAL
from auditcli.ingest.cloudtrail import CLOUDTRAIL
from auditcli.ingest.gcp_audit import GCP_AUDIT
from auditcli.ingest.generic import GENERIC
from auditcli.ingest.github_audit import GITHUB_AUDIT
from auditcli.ingest.gworkspace import GOOGLE_WORKSPACE
from auditcli.ingest.k8s_audit import K8S_AUDIT
from auditcli.ingest.m365 import M365_UAL
from auditcli.ingest.ocsf import OCSF
from auditcli.ingest.okta import OKTA

#: Specific adapters first; generic-json is the fallback.
ADAPTERS: tuple[JsonAdapter, ...] = (
    CANONICAL,
    OCSF,
    CLOUDTRAIL,
    K8S_AUDIT,
    GCP_AUDIT,
    ENTRA_SIGNIN,
    AZURE_ACTIVITY,
    M365_UAL,
    OKTA,
    GITHUB_AUDIT,
    GOOGLE_WORKSPACE,
    AUDITD,
    GENERIC,
)


def adapter_named(name: str) -> JsonAdapter:
    """The adapter called ``name``, for ``--input-format``."""
    for adapter in ADAPTERS:
        if adapter.name == name:
            return adapter
    names = ", ".join(a.name for a in ADAPTERS)
    raise UsageError(f"unknown input format {name!r}", f"choose one of: {names}")


def detect(sample: Sequence[Mapping[str, Any]]) -> JsonAdapter:
    """The first adapter that recognises most of ``sample``; generic-json otherwise."""
    for adapter in ADAPTERS:
        if adapter is GENERIC:
            continue
        hits = sum(1 for event in sample if adapter.detect(event))
        if sample and hits * 2 > len(sample):
            return adapter
    return GENERIC
