"""``python -m auditcli``."""

from auditcli.cli import main

main()
