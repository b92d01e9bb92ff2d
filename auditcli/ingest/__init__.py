"""Reading exported audit logs: framing, format adapters and their registry.

``frame`` cuts inputs into records; an adapter (one small module per source
format) says how a record's fields fill the canonical event; ``detect`` picks
the adapter from a sample of a file's first events. The registry (registry.py)
imports every adapter, so it is loaded only when first asked for: commands that
merely read files (``verify``) skip it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditcli.ingest.registry import ADAPTERS, adapter_named, detect

__all__ = ["ADAPTERS", "adapter_named", "detect"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'auditcli.ingest' has no attribute {name!r}")
    from auditcli.ingest import registry

    return getattr(registry, name)
