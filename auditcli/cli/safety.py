"""What commands share to be safe to run: the privacy of their output, and the access log.

``privacy_for`` turns the privacy options of a run (``--unsafe-show-secrets``,
``--pseudonymize``, ``--policy``, ``--pseudonym-key``) and the policy file into
:class:`Privacy`; ``output_privacy`` makes from it the transform every output batch goes
through; ``resolve_filter`` lets filters name people by token. ``access_recorded``
wraps a command's work on a database and appends its row to the access log, also when
the command fails: an attempt is worth recording too.
"""

from __future__ import annotations

import getpass
import os
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from auditcli import diagnostics

if TYPE_CHECKING:
    from auditcli.privacy.apply import OutputPrivacy
    from auditcli.privacy.secrets import DetectorSet
    from auditcli.query import EventFilter
    from auditcli.store import Store

from auditcli.cli.app import now
from auditcli.diagnostics import ExitCode, exit_code_for
from auditcli.errors import AuditCliError, is_interruption


@dataclass(frozen=True)
class Privacy:
    """What one run may show."""

    detectors: DetectorSet | None
    """Secrets to mask; None with ``--unsafe-show-secrets``."""
    pseudonymize: bool
    key_file: Path | None
    """``--pseudonym-key``: used instead of the database's or the user's key."""
    mask_detectors: DetectorSet | None = None
    """The detectors that mask the access log's command lines, always on whatever the
    run shows (``Policy.record_detectors``); None: the built-in ones."""


def privacy_for(
    unsafe_show_secrets: bool,
    pseudonymize: bool | None,
    policy: Path | None,
    pseudonym_key: Path | None,
) -> Privacy:
    """The privacy of this run: options first, then the policy file (``--policy``, else
    ``.auditcli.toml`` in the working directory or a parent)."""
    from auditcli.privacy.policy import Policy, find_policy, read_policy

    path = policy if policy is not None else find_policy(Path.cwd())
    settings = read_policy(path) if path is not None else Policy()
    return Privacy(
        detectors=None if unsafe_show_secrets else settings.detectors(),
        pseudonymize=settings.pseudonymize if pseudonymize is None else pseudonymize,
        key_file=pseudonym_key,
        mask_detectors=settings.record_detectors(),
    )


def user_key_file() -> Path:
    """Where runs on files keep their key: ``$XDG_CONFIG_HOME/auditcli/pseudonym.key``."""
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if config and Path(config).is_absolute() else Path.home() / ".config"
    return base / "auditcli" / "pseudonym.key"


def pseudonym_key(privacy: Privacy, store: Store, *, case: bool, create: bool) -> bytes | None:
    """The key of this run: ``--pseudonym-key``, else the database's (``case``), else the
    user's; None when there is none yet and ``create`` is false."""
    from auditcli.privacy.case import case_key
    from auditcli.privacy.pseudonyms import load_or_create_key

    if privacy.key_file is None and case:
        return case_key(store, create=create)
    path = privacy.key_file if privacy.key_file is not None else user_key_file()
    if not create and not path.exists():
        return None
    return load_or_create_key(path)


def output_privacy(privacy: Privacy, store: Store, *, case: bool) -> OutputPrivacy:
    """The transform for this run's output rows (``case``: the store is a --db database)."""
    from auditcli.privacy.apply import OutputPrivacy
    from auditcli.privacy.case import known_values
    from auditcli.privacy.pseudonyms import Pseudonymizer

    if not privacy.pseudonymize:
        return OutputPrivacy(detectors=privacy.detectors)
    key = pseudonym_key(privacy, store, case=case, create=True)
    assert key is not None
    return OutputPrivacy(privacy.detectors, Pseudonymizer(key), known_values(store))


def resolve_filter(
    privacy: Privacy, store: Store, event_filter: EventFilter, *, case: bool
) -> EventFilter:
    """``event_filter`` with pseudonym tokens replaced by the values they stand for."""
    from auditcli.privacy.case import has_tokens, resolve_tokens

    if not has_tokens(event_filter):
        return event_filter
    key = pseudonym_key(privacy, store, case=case, create=False)
    resolved, unresolved = resolve_tokens(store, key, event_filter)
    for token in unresolved:
        diagnostics.warn(f"{token}: no value here has this token under this key; matches nothing")
    return resolved


@dataclass
class Tally:
    """What a command reports for its access-log row."""

    rows: int | None = None


def command_line() -> str:
    """This process's command line as typed (shell-quoted)."""
    return shlex.join(["auditcli", *sys.argv[1:]])


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _exit_code(error: BaseException) -> int:
    match error:
        case typer.Exit():
            return int(error.exit_code)
        case AuditCliError():
            return int(exit_code_for(error))
        case _ if is_interruption(error):
            return int(ExitCode.INTERRUPTED)
        case BrokenPipeError():
            return int(ExitCode.OK)
        case _:
            return int(ExitCode.INTERNAL)


@contextmanager
def access_recorded(
    store: Store, command: str, privacy: Privacy | None = None, *, enabled: bool = True
) -> Iterator[Tally]:
    """Run the body, then append one access-log row to ``store`` (when ``enabled``).

    The row is written when the body fails too, with its exit code; a failure to write
    it then never hides the body's own error.
    """
    from auditcli.access_log import Access, record_access
    from auditcli.privacy.secrets import DEFAULT

    tally = Tally()
    if not enabled:
        yield tally
        return
    started = now()
    detectors = privacy.mask_detectors if privacy is not None else None
    detectors = detectors if detectors is not None else DEFAULT

    def record(exit_code: int) -> None:
        store.release()  # an output that failed may have left its result unread
        access = Access(
            command=command,
            command_line=command_line(),
            os_user=_os_user(),
            host=socket.gethostname(),
            started=started,
            row_count=tally.rows,
            exit_code=exit_code,
        )
        record_access(store, access, detectors)

    try:
        yield tally
    except BaseException as error:
        with suppress(Exception), ctrl_c_ignored():  # the body's error is the one to report
            record(_exit_code(error))
        raise
    with ctrl_c_ignored():  # the work is done: a Ctrl-C now would only misreport it
        record(ExitCode.OK)


@contextmanager
def ctrl_c_ignored() -> Iterator[None]:
    """Ctrl-C is ignored inside: for what ends a command whose work is done (its
    access-log row, closing a database that has committed), where an interruption
    would report as lost (exit 130) what was kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda _signal, _frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
