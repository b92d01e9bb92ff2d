"""The typer app and what every command shares: options, the error boundary,
format and colour resolution, output streams.

Commands live in sibling modules by group; each turns its options into core
values, calls the core, and hands the result to ``render``.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, NoReturn, TypeVar

import typer

from auditcli import diagnostics
from auditcli.diagnostics import EXIT_CODES_HELP, ExitCode
from auditcli.errors import AuditCliError, OutputError, UsageError, is_interruption
from auditcli.render import OutputFormat

if TYPE_CHECKING:
    from auditcli.ingest.sources import Evidence

app = typer.Typer(
    name="auditcli",
    help="Forensic tool for audit logs: load, filter, timeline, verify.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    add_completion=False,
)

DEFAULT_DB = "audit.duckdb"
TABLE_ROW_CAP = 100
#: The most rows --limit takes: what DuckDB's LIMIT (a BIGINT) holds.
MAX_ROWS = 2**63 - 1

F = TypeVar("F", bound=Callable[..., Any])


def command(func: F) -> F:
    """The one error boundary: user errors become one stderr line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug")) or os.environ.get("AUDITCLI_DEBUG") == "1"
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except AuditCliError as e:
            raise typer.Exit(diagnostics.report(e)) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(ExitCode.OK) from None
        except KeyboardInterrupt:
            _interrupted()
        except Exception as e:
            if is_interruption(e):  # DuckDB took the Ctrl-C inside a query
                _interrupted()
            if debug:
                raise
            diagnostics.error(
                f"internal error: {type(e).__name__}: {e}", "rerun with --debug for a traceback"
            )
            raise typer.Exit(ExitCode.INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def _interrupted() -> NoReturn:
    diagnostics.error("interrupted")
    raise typer.Exit(ExitCode.INTERRUPTED) from None


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# Shared options, declared once.
DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar="AUDITCLI_DB",
        help=f"DuckDB database file [default: ./{DEFAULT_DB}; env AUDITCLI_DB].",
        show_default=False,
    ),
]


def format_option() -> Any:
    """``--format``/``-f``, for an enum of the formats a command writes."""
    return typer.Option(
        "--format",
        "-f",
        case_sensitive=False,
        help="Output format [default: table on a terminal, else jsonl; env AUDITCLI_FORMAT].",
        show_default=False,
    )


FormatOpt = Annotated[OutputFormat | None, format_option()]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
]
TzOpt = Annotated[
    str | None,
    typer.Option("--tz", help="Zone for naive input times and displayed times [default: UTC]."),
]
NoColorOpt = Annotated[
    bool, typer.Option("--no-color", help="No colour in tables (NO_COLOR works too).")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")]
CsvRawOpt = Annotated[
    bool,
    typer.Option("--csv-raw", help="Write CSV cells as they are (no formula neutralising)."),
]
InputFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--input-format", help="Read inputs as this format instead of detecting it (see formats)."
    ),
]
MappingOpt = Annotated[
    Path | None,
    typer.Option("--mapping", help="TOML file: which source field feeds which column."),
]
UnsafeShowSecretsOpt = Annotated[
    bool,
    typer.Option(
        "--unsafe-show-secrets",
        help="Show secrets found in log content as they are (masked by default).",
    ),
]
PseudonymizeOpt = Annotated[
    bool | None,
    typer.Option(
        "--pseudonymize/--no-pseudonymize",
        help="Show emails, user names, IPs, phones and user agents as stable keyed tokens "
        "[default: the policy file's privacy.pseudonymize, else no].",
        show_default=False,
    ),
]
PolicyOpt = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Privacy policy TOML [default: .auditcli.toml here or in a parent directory].",
        show_default=False,
    ),
]
PseudonymKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--pseudonym-key",
        help="Pseudonym key file, created on first use [default: the database's own key; "
        "on paths, $XDG_CONFIG_HOME/auditcli/pseudonym.key].",
        show_default=False,
    ),
]


def resolve_format(
    requested: OutputFormat | None,
    env_value: str | None,
    stdout_isatty: bool,
    output: Path | None = None,
) -> OutputFormat:
    """Explicit --format, then --output's suffix, then AUDITCLI_FORMAT (which changes
    the default), then table on a terminal, else jsonl (a file named ``-o`` is none)."""
    if requested is not None:
        return requested
    if output is not None:
        suffix = output.suffix.lower().lstrip(".")
        by_suffix = {"ndjson": "jsonl", "txt": "table", "md": "markdown", "htm": "html"}
        with suppress(ValueError):
            return OutputFormat(by_suffix.get(suffix, suffix))
    if env_value:
        try:
            return OutputFormat(env_value.lower())
        except ValueError as e:
            choices = ", ".join(f.value for f in OutputFormat)
            raise UsageError(f"AUDITCLI_FORMAT={env_value!r} is not a format ({choices})") from e
    return OutputFormat.TABLE if stdout_isatty and output is None else OutputFormat.JSONL


def use_color(no_color_flag: bool, environ: dict[str, str] | os._Environ[str]) -> bool:
    """Colour unless --no-color or NO_COLOR is set (a non-terminal gets none anyway)."""
    return not no_color_flag and not environ.get("NO_COLOR")


def _stdout_isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def format_for(requested: OutputFormat | None, output: Path | None) -> OutputFormat:
    """The output format of this run (see resolve_format); parquet never to a terminal."""
    fmt = resolve_format(requested, os.environ.get("AUDITCLI_FORMAT"), _stdout_isatty(), output)
    if fmt is OutputFormat.PARQUET and output is None and _stdout_isatty():
        raise UsageError("parquet is binary: not written to a terminal", "add --output FILE")
    return fmt


@contextmanager
def output_stream(output: Path | None, keep: Evidence | None = None) -> Iterator[BinaryIO]:
    """stdout, or ``output`` opened for writing; flushed on the way out, so a write
    that fails (a full disk, an I/O error) is an ``OutputError`` here, not later.

    ``output`` must not be one of the files ``keep`` holds (the evidence read, a
    case's), nor any auditcli database or texts file: opening it would empty it."""
    if output is None:
        if sys.stdout is None:  # started with it closed (>&-)
            raise OutputError("cannot write standard output: it is closed")
        with _written("standard output"):
            yield sys.stdout.buffer
            sys.stdout.flush()  # tables go through the text layer
            sys.stdout.buffer.flush()
        return
    refuse_to_overwrite(output, keep)
    try:
        handle = open(output, "wb")  # noqa: SIM115
    except OSError as e:
        raise UsageError(f"{output}: cannot write: {e.strerror or e}") from e
    with _written(str(output)), handle:
        yield handle


#: What starts a DuckDB database (at byte 8) and an auditcli texts file (at 0).
_DUCKDB_MAGIC = b"DUCK"


def refuse_to_overwrite(output: Path, keep: Evidence | None) -> None:
    """A usage error when writing ``output`` would destroy evidence or a case."""
    from auditcli.rawtexts import MAGIC

    try:
        if not output.is_file():
            return  # a new file, a pipe or a device
        with open(output, "rb") as existing:
            head = existing.read(len(MAGIC))
        kept = keep is not None and keep.holds(output)
    except OSError:
        return  # opening it for writing reports what is wrong
    what = (
        "a file this run reads or its case holds"
        if kept
        else "a DuckDB database"
        if head[8:12] == _DUCKDB_MAGIC
        else "an auditcli texts file"
        if head == MAGIC
        else None
    )
    if what is not None:
        raise UsageError(f"{output}: is {what}; not overwritten", "write the output elsewhere")


@contextmanager
def _written(where: str) -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:
        raise  # the reader went away: the boundary ends quietly
    except OSError as e:
        raise OutputError(f"cannot write {where}: {e.strerror or e}") from e


def console_for(stream: BinaryIO | None, color: bool) -> Any:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich exits 1 itself; the reader went away, which the boundary ends as 0
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    if stream is None or stream is sys.stdout.buffer:
        return _Console(no_color=not color, highlight=False, soft_wrap=False)
    import io

    text = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
    return _Console(file=text, no_color=True, highlight=False, width=200, color_system=None)


def now() -> datetime:
    return datetime.now(UTC)


def db_path(db: Path | None) -> Path:
    return db if db is not None else Path(DEFAULT_DB)
