"""Tamper evidence for audit logs: the auditcli-chain/1 scheme, verify, seal, checkpoints.

Public surface: :func:`verify_chain` and :func:`verify_texts` (chain.py) return a
:class:`ChainReport` of :class:`Finding` s; :func:`seal` (seal.py) chains an export;
:class:`AuditChainRecipe` (recipe.py) configures the scheme and :class:`ChainRecipe` is
the seam for other exporters' schemes (keybase.py shows one). Signed checkpoints live in
checkpoint.py (keygen, sign_checkpoint, verify_checkpoint), imported on demand because
they load ``cryptography``. canonical.py is the one definition of the bytes hashed.
This package never imports typer or rich, never prints and never reads the environment.
"""

from __future__ import annotations

from auditcli.integrity.chain import Anchor, verify_chain, verify_texts
from auditcli.integrity.recipe import (
    SCHEME,
    AuditChainRecipe,
    ChainRecipe,
    DigestAlgorithm,
)
from auditcli.integrity.report import ChainReport, Finding, FindingKind
from auditcli.integrity.seal import SealResult, seal
from auditcli.integrity.sources import NamedStream

__all__ = [
    "SCHEME",
    "Anchor",
    "AuditChainRecipe",
    "ChainRecipe",
    "ChainReport",
    "DigestAlgorithm",
    "Finding",
    "FindingKind",
    "NamedStream",
    "SealResult",
    "seal",
    "verify_chain",
    "verify_texts",
]
