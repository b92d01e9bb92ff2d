"""auditcli: load, filter, reconstruct and verify exported audit logs, safely.

The command line lives in ``auditcli.cli``; the core (``ingest``, ``load``,
``store``, ``query``, ``integrity``, ``privacy``) is importable without typer or rich.
"""

import os

# Arrow's allocator (mimalloc) otherwise asks the kernel for transparent huge pages,
# and each time it reuses memory it has given back, the kernel zeroes 2 MB pages
# again: ~0.7 core-seconds of a million-event load, and the most of the system time
# of every command. Read when pyarrow loads, so it is set before anything imports it.
os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")

__version__ = "0.1.0"
