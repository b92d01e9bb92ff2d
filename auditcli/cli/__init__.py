"""The command line: ``app`` with every command registered, and ``main``."""

from __future__ import annotations

from auditcli.cli import data, formats, integrity, timeline  # noqa: F401  (register commands)
from auditcli.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
