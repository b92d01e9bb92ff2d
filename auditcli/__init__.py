"""auditcli: load, filter, reconstruct and verify exported audit logs, safely.

The command line lives in ``auditcli.cli``; the core (``ingest``, ``load``,
``store``, ``query``, ``integrity``, ``privacy``) is importable without typer or rich.
"""

__version__ = "0.1.0"
