"""The command line: ``app`` with every command registered, and ``main``."""

from __future__ import annotations

from auditcli.cli import (  # noqa: F401  (register commands)
    data,
    formats,
    integrity,
    privacy,
    timeline,
)
from auditcli.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
