"""Sealing: turns an unchained export into an auditcli-chain/1 chain of JSON lines.

It owns reading exports (JSON lines, a JSON array, or a ``{"Records": [...]}`` wrapper;
gzip undone on the fly) and writing each event with ``seq``, ``prev_hash`` and ``hash``
added, one canonical JSON line per event (gzip when the output name ends in ``.gz``).
It never prints and never reads the environment.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from auditcli.errors import InputError, OutputError, UsageError
from auditcli.integrity.canonical import canonicalize, fast_canonicalize, parse_json
from auditcli.integrity.recipe import AuditChainRecipe
from auditcli.integrity.scan import TIME_FIELDS
from auditcli.integrity.sources import NamedStream, Source, display_name

if TYPE_CHECKING:
    from auditcli.integrity.checkpoint import Checkpoint

__all__ = ["SealResult", "seal"]


@dataclass(frozen=True)
class SealResult:
    """What a seal wrote: enough to anchor the chain later."""

    events: int
    first_hash: str | None
    head: str  # the genesis when no event was written
    first_seq: int
    digest: str  # e.g. "sha256", "hmac-sha256"
    first_time: str | None = None
    last_time: str | None = None

    def checkpoint(self, name: str, created: str | None = None) -> Checkpoint:
        """A checkpoint committing to this chain, ready for checkpoint.sign_checkpoint."""
        from auditcli.integrity.checkpoint import Checkpoint, now_rfc3339  # cryptography: lazy

        return Checkpoint(
            name=name,
            count=self.events,
            head=self.head,
            digest=self.digest,
            created=created or now_rfc3339(),
            first_time=self.first_time,
            last_time=self.last_time,
        )


@dataclass(frozen=True)
class _Place:
    """Where an event is: a line, or an element of an array or a wrapper's list."""

    name: str
    where: int
    element: bool

    def error(self, message: str, hint: str | None = None) -> InputError:
        if self.element:  # a 0-based position, which name:N would read as a line
            return InputError(f"element {self.where}: {message}", hint, path=self.name)
        return InputError(message, hint, path=self.name, line=self.where)


def read_events(source: Source) -> Iterator[tuple[_Place, Any]]:
    """(place, event) of every event in an export, in order.

    Inputs are framed as ``auditcli load`` frames them (JSON lines, arrays,
    ``{"Records": [...]}`` and other wrappers, gzip). An event holding an integer that
    a double cannot hold is refused: RFC 8785 writes numbers as doubles, so sealing
    would change it.
    """
    from auditcli.ingest.framing import frame
    from auditcli.ingest.sources import SourceRef, open_source

    name = display_name(source)
    if isinstance(source, NamedStream):
        ref, stdin = SourceRef(name, None, None), source.stream
    else:
        path = Path(source)
        ref, stdin = SourceRef(name, path, path.stat().st_size), None
    with open_source(ref, stdin) as opened:
        for batch in frame(opened.stream):
            for text, where in zip(batch.doc.to_pylist(), batch.line.to_pylist(), strict=True):
                if not text.strip():
                    continue
                place = _Place(name, where, batch.elements)
                try:
                    event = parse_json(text)
                    _refuse_inexact_integers(text, event)
                except InputError as e:
                    raise place.error(e.message, e.hint) from e
                yield place, event


class _TimeSpan:
    def __init__(self) -> None:
        self.first: str | None = None
        self.last: str | None = None

    def add(self, event: dict[str, Any]) -> None:
        for name in TIME_FIELDS:
            value = event.get(name)
            if value is not None:
                text = value if isinstance(value, str) else str(value)
                self.first = text if self.first is None or text < self.first else self.first
                self.last = text if self.last is None or text > self.last else self.last
                return


def _write_lines(lines: Iterable[bytes], output: str | os.PathLike[str] | BinaryIO) -> None:
    """Write ``lines`` to ``output``: a stream as it is; a path's file replaced at once
    when done (through a symlink, its target; keeping the file's mode), while a pipe or
    a device at the path is written into, never replaced."""
    if not isinstance(output, str | os.PathLike):
        output.writelines(lines)
        return
    gzipped = str(output).endswith(".gz")
    try:
        found = os.stat(output)  # through links: /dev/stdout is a link to a pipe's name
    except OSError:
        found = None
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise UsageError(f"{output}: cannot write: is a directory")
    if found is not None and not stat.S_ISREG(found.st_mode):  # a pipe or a device
        with _writing(output), open(output, "wb") as into:
            _write_to(into, lines, gzipped, Path(output).name)
        return
    path = Path(os.path.realpath(output))
    with _writing(output):
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with _writing(output):
            with os.fdopen(descriptor, "wb") as raw:
                _write_to(raw, lines, gzipped, path.name)
            os.chmod(temporary, _mode_for(path))
            os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_to(raw: BinaryIO, lines: Iterable[bytes], gzipped: bool, name: str) -> None:
    if not gzipped:
        raw.writelines(lines)
        return
    with gzip.GzipFile(name.removesuffix(".gz"), mode="wb", fileobj=raw, mtime=0) as zipped:
        zipped.writelines(lines)


def _mode_for(path: Path) -> int:
    """The mode of the file being replaced, else what the umask gives a new file."""
    with suppress(FileNotFoundError):
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def _writing(output: str | os.PathLike[str]) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        raise OutputError(f"{output}: cannot write: {e.strerror or e}") from e


def _refuse_inexact_integers(text: str, event: Any) -> None:
    # orjson reads an integer past 64 bits as a double already: the text says more
    if _LONG_DIGITS.search(text):
        with suppress(ValueError, RecursionError):
            event = json.loads(text)
    inexact = _inexact_integer(event)
    if inexact is not None:
        try:
            nearest = (
                f"it would be sealed as the nearest double, {canonicalize(float(inexact)).decode()}"
            )
        except OverflowError:
            nearest = "it is beyond a double's range"
        raise InputError(
            f"integer {inexact} has no exact RFC 8785 form: {nearest}",
            "write such a number as a string in the export, then seal it",
        )


_LONG_DIGITS = re.compile(r"\d{20}")


def _inexact_integer(event: Any) -> int | None:
    """The first integer in ``event`` that a double cannot hold exactly, if any."""
    pending: list[Any] = [event]
    while pending:
        value = pending.pop()
        if type(value) is dict:
            pending.extend(value.values())
        elif type(value) is list:
            pending.extend(value)
        elif type(value) is int and abs(value) > 2**53 and not _exact_double(value):
            return value
    return None


def _exact_double(value: int) -> bool:
    try:
        return int(float(value)) == value
    except OverflowError:  # beyond a double's range
        return False


def seal(
    inputs: Iterable[Source],
    output: str | os.PathLike[str] | BinaryIO,
    recipe: AuditChainRecipe | None = None,
    *,
    first_seq: int = 1,
    progress: Callable[[int], None] | None = None,
) -> SealResult:
    """Chain every event of the inputs, in order, and write them as JSON lines.

    Each event gets ``seq`` (from ``first_seq``), ``prev_hash`` (the recipe's genesis
    for the first) and ``hash``; an event that already has one of those members is
    refused, as is anything that is not a JSON object. A path output is replaced
    atomically. Raises InputError for unreadable input or output.
    """
    recipe = recipe if recipe is not None else AuditChainRecipe()
    if recipe.seq_field is None:
        raise UsageError("sealing needs a sequence member name")
    seq_field = recipe.seq_field
    added = (seq_field, recipe.prev_field, recipe.hash_field)
    head: str = recipe.genesis
    first_hash: str | None = None
    count = 0
    span = _TimeSpan()

    def chained() -> Iterator[bytes]:
        nonlocal head, first_hash, count
        for source in inputs:
            for place, event in read_events(source):
                if not isinstance(event, dict):
                    raise place.error(f"event is a JSON {type(event).__name__}, not an object")
                clash = [member for member in added if member in event]
                if clash:
                    raise place.error(
                        f"event already has a {clash[0]!r} member",
                        "is it chained already? verify it instead, or choose other names",
                    )
                span.add(event)
                event[seq_field] = first_seq + count
                event[recipe.prev_field] = head
                try:
                    head = event[recipe.hash_field] = recipe.hash_event(event)
                    sealed = fast_canonicalize(event) + b"\n"
                except InputError as e:  # a value with no canonical form
                    raise place.error(e.message, e.hint) from e
                first_hash = first_hash or head
                count += 1
                if progress is not None and count % 10000 == 0:
                    progress(count)
                yield sealed

    _write_lines(chained(), output)
    label = ("hmac-" if recipe.keyed else "") + recipe.algorithm.value
    return SealResult(
        events=count,
        first_hash=first_hash,
        head=head,
        first_seq=first_seq,
        digest=label,
        first_time=span.first,
        last_time=span.last,
    )
