"""The AuditCliError hierarchy: every failure a user can cause or meet.

Core modules raise these (translating foreign exceptions with ``raise ... from e``);
only the CLI boundary turns them into exit codes and stderr lines. Never import
typer or rich here.
"""

from __future__ import annotations


class AuditCliError(Exception):
    """Base of every error auditcli reports to a user as one line."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(AuditCliError):
    """A bad option value or combination, found after parsing (exit 2)."""


class InputError(AuditCliError):
    """An input file or stream cannot be read or understood (exit 3)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        where = path if path is not None else ""
        if path is not None and line is not None:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message, hint)
        self.path = path
        self.line = line


class ChainUnverifiableError(InputError):
    """A chain cannot be verified at all (missing hash fields, unknown algorithm)."""


class StoreError(AuditCliError):
    """The DuckDB database cannot be opened, read or written (exit 3)."""


class OutputError(AuditCliError):
    """The output cannot be written to its end: a full disk, an I/O error (exit 3)."""


class ProblemFound(AuditCliError):
    """The command ran and found a problem: rejects under --strict, tampering (exit 1)."""


#: What DuckDB's Python client raises when Ctrl-C stops a query running on the
#: main thread: it takes the signal itself, so no KeyboardInterrupt follows.
_DUCKDB_INTERRUPTED = "Query interrupted"


def is_interruption(error: BaseException) -> bool:
    """True for Ctrl-C, whether Python or DuckDB (in a query) took the signal."""
    return isinstance(error, KeyboardInterrupt) or (
        isinstance(error, RuntimeError) and str(error) == _DUCKDB_INTERRUPTED
    )
