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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditcli.integrity.chain import Anchor, verify_chain, verify_texts
    from auditcli.integrity.digests import DigestAlgorithm
    from auditcli.integrity.recipe import SCHEME, AuditChainRecipe, ChainRecipe
    from auditcli.integrity.report import ChainReport, Finding, FindingKind
    from auditcli.integrity.seal import SealResult, seal
    from auditcli.integrity.sources import NamedStream

#: Public name -> the submodule defining it; imported on first use, so that
#: importing the package (say, for DigestAlgorithm in a --help) stays cheap.
_HOME = {
    "Anchor": "chain",
    "verify_chain": "chain",
    "verify_texts": "chain",
    "SCHEME": "recipe",
    "AuditChainRecipe": "recipe",
    "ChainRecipe": "recipe",
    "DigestAlgorithm": "digests",
    "ChainReport": "report",
    "Finding": "report",
    "FindingKind": "report",
    "SealResult": "seal",
    "seal": "seal",
    "NamedStream": "sources",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'auditcli.integrity' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"auditcli.integrity.{home}"), name)


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
