"""The command line: ``app`` with every command registered, and ``main``."""

from __future__ import annotations

import contextlib
import copy
import io
import os
import sys
import threading
from collections.abc import Sequence

import typer
from typer.exceptions import TyperException

from auditcli import diagnostics
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
    _buffered_stdout()
    try:
        raise SystemExit(_run(sys.argv[1:]))
    except SystemExit as done:
        done.code = _end_now(done.code)
        raise


def _run(args: Sequence[str]) -> int:
    """The command's exit code; a usage error typer finds (an unknown option, a bad
    value) is one line, as every other error is, instead of typer's usage block."""
    try:
        code = app_for(args)(args=list(args), standalone_mode=False)
    except TyperException as error:
        message = error.format_message()
        if "\n" in message:  # the help, shown when a command is given no arguments
            sys.stderr.write(message + "\n")
        else:
            command = f"auditcli {args[0]}" if args and args[0] in _commands() else "auditcli"
            diagnostics.error(message, f"see `{command} --help`")
        return error.exit_code
    except typer.Abort:
        diagnostics.error("interrupted")
        return ExitCode.INTERRUPTED
    return code if isinstance(code, int) else 0


def _commands() -> set[str]:
    return {info.name for info in app.registered_commands if info.name}


def _buffered_stdout() -> None:
    """Under ``python -u`` or PYTHONUNBUFFERED, stdout's binary layer is the file
    itself, whose write may take only part of what it is given (a full disk, a size
    limit) and say so only by its count: a buffered writer writes all or raises."""
    binary = getattr(sys.stdout, "buffer", None)
    if isinstance(binary, io.RawIOBase):
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(binary),
            encoding=sys.stdout.encoding,
            errors=sys.stdout.errors,
            write_through=True,
        )


def _end_now(code: str | int | None) -> str | int | None:
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
        return code
    code = _flushed(code)
    helpers = _threads_of_ours() > 1 or "multiprocessing" in sys.modules
    if helpers and code != ExitCode.INTERRUPTED:
        return code
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        return code
    os._exit(code or 0)


def _flushed(code: int | None) -> int | None:
    """``code`` once stdout is flushed. Output still buffered after an error (a full
    disk) is let go of, so the interpreter's last flush cannot fail again and end
    the process with its own message and code 120; unwritten output after success
    is an error of its own."""
    if sys.stdout is None:  # started without one
        return code
    try:
        sys.stdout.flush()
        return code
    except (OSError, ValueError) as e:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if code:
            return code
        if not isinstance(e, BrokenPipeError):
            diagnostics.error(f"cannot write standard output: {getattr(e, 'strerror', e) or e}")
            return ExitCode.INPUT
        return code


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
