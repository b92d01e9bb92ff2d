"""The command line: ``app`` with every command registered, and ``main``."""

from __future__ import annotations

import copy
import os
import sys
import threading
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
from auditcli.diagnostics import ExitCode

__all__ = ["app", "app_for", "main"]


def main() -> None:
    """Console-script entry point."""
    try:
        app_for(sys.argv[1:])()
    except SystemExit as done:
        _end_now(done.code)
        raise


def _end_now(code: object) -> None:
    """End the process at once when nothing is left to run or write.

    Tearing the interpreter down frees the objects of DuckDB, Arrow and typer one by
    one (~40 ms, as long as a whole query on a big database). Skipped only when
    stdout and stderr flush, no other thread runs and no process pool was ever
    started (its clean-ups run at exit); a message exit code takes the normal path.
    After Ctrl-C (the command has rolled back and closed its database) it ends even
    so: a helper thread may be waiting on an idle pipe, and the interpreter, which
    cannot stop it, would then fail to close stdin.
    """
    if code is not None and not isinstance(code, int):
        return
    helpers = _threads_of_ours() > 1 or "multiprocessing" in sys.modules
    if helpers and code != ExitCode.INTERRUPTED:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code or 0)


def _threads_of_ours() -> int:
    """Python's threads, without the stand-ins Python makes for a thread it did not
    start (DuckDB's, when it pulls a batch from a Python generator): those run no
    Python once they return, and stay listed."""
    foreign = getattr(threading, "_DummyThread", ())
    return sum(not isinstance(thread, foreign) for thread in threading.enumerate())


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
