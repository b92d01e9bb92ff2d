"""The CLI's contract with scripts: exit codes, and the only writer to stderr.

Messages are one line: ``auditcli: error: <what, where>`` and, when useful,
``auditcli: hint: <what to do>``. Text from logs is escaped before it is shown.
"""

from __future__ import annotations

import enum
import sys
from typing import TextIO

from auditcli.errors import (
    AuditCliError,
    InputError,
    OutputError,
    ProblemFound,
    StoreError,
    UsageError,
)
from auditcli.privacy.text import visible


@enum.unique
class ExitCode(enum.IntEnum):
    """Exit codes, documented in --help and the README."""

    OK = 0
    PROBLEM = 1
    """The command ran and found a problem (rejects under --strict, tampering)."""
    USAGE = 2
    INPUT = 3
    """An input file, stream or database cannot be read."""
    INTERNAL = 4
    INTERRUPTED = 130


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 found a problem (rejects under --strict, tampering); "
    "2 usage error; 3 unreadable input or database, unwritable output; 4 internal error; "
    "130 interrupted."
)


def exit_code_for(error: AuditCliError) -> ExitCode:
    """The exit code a user error maps to."""
    match error:
        case ProblemFound():
            return ExitCode.PROBLEM
        case UsageError():
            return ExitCode.USAGE
        case InputError() | StoreError() | OutputError():
            return ExitCode.INPUT
        case _:
            return ExitCode.INTERNAL


def _stream() -> TextIO:
    return sys.stderr


def _line(prefix: str, message: str) -> None:
    one_line = visible(message.replace("\n", " ")) if "\n" in message else visible(message)
    print(f"auditcli: {prefix}{one_line}", file=_stream(), flush=True)


def error(message: str, hint: str | None = None) -> None:
    """Report a failure."""
    _line("error: ", message)
    if hint:
        _line("hint: ", hint)


def report(err: AuditCliError) -> ExitCode:
    """Report a user error and return its exit code."""
    error(err.message, err.hint)
    return exit_code_for(err)


def warn(message: str) -> None:
    """Something the user should know; the command goes on."""
    _line("warning: ", message)


def note(message: str) -> None:
    """A summary or status line."""
    _line("", message)
