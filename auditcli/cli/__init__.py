"""The command line: ``app`` with every command registered, and ``main``."""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence

import typer

from auditcli.cli import (  # noqa: F401  (register commands)
    data,
    formats,
    integrity,
    privacy,
    timeline,
)
from auditcli.cli.app import app

__all__ = ["app", "app_for", "main"]


def main() -> None:
    """Console-script entry point."""
    app_for(sys.argv[1:])()


def app_for(args: Sequence[str]) -> typer.Typer:
    """``app``, or when ``args`` name a command, an app holding only that command.

    typer builds the options of every command before it runs one (~15 ms here); the
    smaller app parses, helps and fails exactly as ``app`` does for that command.
    """
    name = args[0] if args else ""
    chosen = [info for info in app.registered_commands if info.name == name]
    if not chosen:
        return app
    single = copy.copy(app)
    single.registered_commands = chosen
    # A lone command would become the whole program; a callback keeps it a subcommand.
    single.registered_callback = None
    single.callback()(_no_options)
    return single


def _no_options() -> None:
    """The group itself takes no options."""
