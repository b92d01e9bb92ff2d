"""Commands for tamper evidence: verify, seal, keygen."""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditcli import diagnostics
from auditcli.cli.app import (
    DbOpt,
    DebugOpt,
    NoColorOpt,
    OutputOpt,
    app,
    command,
    console_for,
    db_path,
    format_for,
    format_option,
    output_stream,
    refuse_to_overwrite,
    use_color,
)
from auditcli.errors import InputError, ProblemFound, UsageError
from auditcli.integrity.digests import DigestAlgorithm
from auditcli.render import OutputFormat

if TYPE_CHECKING:  # the integrity code is imported by the commands that run it
    from auditcli.ingest.sources import Evidence
    from auditcli.integrity import AuditChainRecipe, ChainReport, NamedStream


class ReportFormat(enum.StrEnum):
    """The formats a chain report is written in."""

    TABLE = "table"
    JSONL = "jsonl"
    JSON = "json"


ReportFormatOpt = Annotated[ReportFormat | None, format_option()]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        envvar="AUDITCLI_CHAIN_KEY_FILE",
        help="Keyed mode: HMAC with this file's bytes [env AUDITCLI_CHAIN_KEY_FILE].",
    ),
]
AlgorithmOpt = Annotated[DigestAlgorithm, typer.Option("--algorithm", help="Digest of the chain.")]


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read {what}: {e.strerror or e}") from e


def _recipe(
    algorithm: DigestAlgorithm,
    key_file: Path | None,
    hash_field: str,
    prev_field: str,
    seq_field: str,
    genesis: str | None,
) -> AuditChainRecipe:
    from auditcli.integrity import AuditChainRecipe

    key = _read_bytes(key_file, "the chain key") if key_file is not None else None
    return AuditChainRecipe(
        algorithm=algorithm,
        key=key,
        hash_field=hash_field,
        prev_field=prev_field,
        seq_field=seq_field or None,
        genesis_hash=genesis,
    )


@app.command("verify")
@command
def verify_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Chained exports, one chain in the order given; - for stdin."),
    ] = None,
    db: DbOpt = None,
    hash_field: Annotated[
        str, typer.Option("--hash-field", help="Member holding the hash.")
    ] = "hash",
    prev_field: Annotated[
        str, typer.Option("--prev-field", help="Member holding the previous hash.")
    ] = "prev_hash",
    seq_field: Annotated[
        str, typer.Option("--seq-field", help="Member holding the sequence number ('' for none).")
    ] = "seq",
    genesis: Annotated[
        str | None, typer.Option("--genesis", help="Hash the first event links to (a slice).")
    ] = None,
    key_file: KeyFileOpt = None,
    algorithm: AlgorithmOpt = DigestAlgorithm.SHA256,
    expect_head: Annotated[
        str | None, typer.Option("--expect-head", help="Anchor: the last event's hash.")
    ] = None,
    expect_count: Annotated[
        int | None, typer.Option("--expect-count", min=0, help="Anchor: the number of events.")
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Anchor: a signed checkpoint file.")
    ] = None,
    pubkey: Annotated[
        Path | None, typer.Option("--pubkey", help="Public key (PEM) the checkpoint is signed by.")
    ] = None,
    cloudtrail_keys: Annotated[
        Path | None,
        typer.Option(
            "--cloudtrail-keys",
            help="CloudTrail's public keys (`aws cloudtrail list-public-keys` output) for"
            " the digest files' signatures.",
        ),
    ] = None,
    fmt: ReportFormatOpt = None,
    output: OutputOpt = None,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Check hash-chained exports and report every defect (exit 1 when any).

    Without --expect-head/--expect-count or --checkpoint the end of the chain is
    unanchored: a truncated tail cannot be told from a complete one. A copy of a
    CloudTrail bucket (digest files among the paths) is checked against its digests.
    """
    from auditcli.ingest.sources import Evidence, expand, is_pipe, stdin_bytes
    from auditcli.integrity import NamedStream, verify_chain

    recipe = _recipe(algorithm, key_file, hash_field, prev_field, seq_field, genesis)
    output_format = format_for(OutputFormat(fmt) if fmt is not None else None, output)
    if output_format.value not in [f.value for f in ReportFormat]:  # AUDITCLI_FORMAT=csv
        raise UsageError(f"verify writes table, json or jsonl, not {output_format.value}")
    if paths and db is not None:
        raise UsageError("give paths or --db, not both")
    if not paths and db is None and not db_path(None).exists():
        raise UsageError(
            "nothing to verify",
            "give chained exports (auditcli verify FILE...), or --db FILE for loaded ones",
        )
    color = use_color(no_color, os.environ)
    anchors = (checkpoint, pubkey, key_file)
    if paths and _verify_cloudtrail(paths, cloudtrail_keys, output_format, output, color):
        return
    if cloudtrail_keys is not None and all(Path(p).exists() for p in paths or []):
        raise UsageError("--cloudtrail-keys: no CloudTrail digest file among the paths")
    if not paths:
        if expect_head is not None or expect_count is not None or checkpoint:
            raise UsageError("anchors apply to files, not to --db", "verify the exported files")
        _verify_db(
            db,
            recipe,
            lambda reports, case: _report(
                reports, output_format, output, color, case.with_paths(*anchors)
            ),
        )
        return
    sources: list[str | NamedStream] = []
    read: list[Path] = []
    with ExitStack() as pipes:
        for given in paths:
            if is_pipe(given):  # <(...): read once, as a stream
                sources.append(NamedStream(given, pipes.enter_context(open(given, "rb"))))
                continue
            for ref in expand([given]):
                if ref.path is None:
                    sources.append(NamedStream("<stdin>", stdin_bytes()))
                else:
                    sources.append(str(ref.path))
                    read.append(ref.path)
        report = verify_chain(
            sources,
            recipe,
            expected_head=expect_head,
            expected_count=expect_count,
            checkpoint=_read_bytes(checkpoint, "the checkpoint") if checkpoint else None,
            checkpoint_key=_read_bytes(pubkey, "the public key") if pubkey else None,
        )
    keep = Evidence().with_paths(*read, *anchors)
    _report([(", ".join(paths), report)], output_format, output, color, keep)


def _verify_cloudtrail(
    paths: list[str],
    keys: Path | None,
    output_format: OutputFormat,
    output: Path | None,
    color: bool,
) -> bool:
    """Check the CloudTrail digest files among ``paths``; False when there are none."""
    from auditcli.ingest.sources import Evidence, is_pipe
    from auditcli.integrity.cloudtrail_digest import (
        is_digest_tree,
        read_public_keys,
        verify_cloudtrail,
    )

    given = [Path(p) for p in paths if p != "-" and not is_pipe(p)]
    if len(given) != len(paths) or not all(p.exists() for p in given):
        return False  # a missing one is reported as for any other verify
    if not is_digest_tree(given):
        return False
    public = read_public_keys(_read_bytes(keys, "the public keys"), str(keys)) if keys else None
    report = verify_cloudtrail(given, public)
    _report(
        [(", ".join(paths), report)], output_format, output, color, Evidence().with_paths(*given)
    )
    return True


def _report(
    reports: list[tuple[str, ChainReport]],
    output_format: OutputFormat,
    output: Path | None,
    color: bool,
    keep: Evidence,
) -> None:
    """Write the reports; raise ProblemFound when a chain has defects."""
    from auditcli.render import verify as render_verify

    with output_stream(output, keep) as stream:
        if output_format is OutputFormat.TABLE:
            console = console_for(stream, color)
            for index, (label, report) in enumerate(reports):
                if index:
                    console.print()
                render_verify.write_table(report, label, console)
        else:
            render_verify.write_json(reports, stream, lines=output_format is OutputFormat.JSONL)
    broken = [label for label, report in reports if not report.intact]
    checked = sum(report.events for _, report in reports)
    if broken:
        raise ProblemFound(f"chain defects found in {', '.join(broken)}", None)
    diagnostics.note(f"chain intact: {checked:,} {reports[0][1].unit} checked")


def _verify_db(
    db: Path | None,
    recipe: AuditChainRecipe,
    report: Callable[[list[tuple[str, ChainReport]], Evidence], None],
) -> None:
    """Verify the chained sources of the --db database and ``report`` them (with the
    files no output may overwrite), inside its access-log row, which so records the
    exit code the report ends with."""
    from dataclasses import replace

    from auditcli.chains import verify_stored
    from auditcli.cli.safety import access_recorded
    from auditcli.store import Store

    store = Store.open(db_path(db), must_exist=True)
    try:
        with access_recorded(store, "verify") as tally:
            results = verify_stored(store, lambda start: replace(recipe, genesis_hash=start))
            tally.rows = sum(found.events for _, found, _ in results)
            if not results:
                raise UsageError(
                    "no loaded source carries a hash chain",
                    f"chained events have {recipe.hash_field!r} and {recipe.prev_field!r} members",
                )
            report([(name, found) for name, found, _ in results], store.own_files())
    finally:
        store.close()


@app.command("seal")
@command
def seal_command(
    inputs: Annotated[list[str], typer.Argument(help="Unchained exports, in order; - for stdin.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Chained JSON lines (gzip when it ends .gz).")
    ],
    key_file: KeyFileOpt = None,
    algorithm: AlgorithmOpt = DigestAlgorithm.SHA256,
    checkpoint: Annotated[
        bool, typer.Option("--checkpoint", help="Also write OUTPUT.checkpoint, signed.")
    ] = False,
    sign_key: Annotated[
        Path | None, typer.Option("--sign-key", help="Ed25519 private key (PEM) to sign with.")
    ] = None,
    name: Annotated[
        str, typer.Option("--name", help="Name in the checkpoint (log and key).")
    ] = "auditcli",
    debug: DebugOpt = False,
) -> None:
    """Add seq, prev_hash and hash to every event, so the export can be verified later."""
    from auditcli.ingest.sources import STDIN, Evidence, stdin_bytes
    from auditcli.integrity import NamedStream
    from auditcli.integrity.seal import seal

    if checkpoint and sign_key is None:
        raise UsageError("--checkpoint needs --sign-key", "make a key pair with `auditcli keygen`")
    recipe = _recipe(algorithm, key_file, "hash", "prev_hash", "seq", None)
    private_key = None
    if sign_key is not None:
        from auditcli.integrity.checkpoint import check_name, load_private_key

        private_key = load_private_key(_read_bytes(sign_key, "the signing key"))
        if checkpoint:
            check_name(name)  # before the output is written
    sources: list[str | NamedStream] = [
        NamedStream("<stdin>", stdin_bytes()) if item == STDIN else item for item in inputs
    ]
    for item in inputs:
        if item == STDIN:
            continue
        if Path(item).is_dir():
            raise InputError(f"{item}: is a directory", "seal takes files, in the order given")
        if not Path(item).exists():  # a pipe (<(...)) is read like a file
            raise InputError(f"{item}: no such file")
    read = [Path(item) for item in inputs if item != STDIN]
    refuse_to_overwrite(output, Evidence().with_paths(*read, key_file, sign_key))
    result = seal(sources, output, recipe)
    diagnostics.note(f"sealed {result.events:,} events into {output}; head {result.head}")
    if checkpoint and private_key is not None:
        from auditcli.integrity.checkpoint import sign_checkpoint

        note = sign_checkpoint(result.checkpoint(name), private_key)
        target = Path(f"{output}.checkpoint")
        try:
            target.write_bytes(note)
        except OSError as e:
            raise InputError(f"{target}: cannot write: {e.strerror or e}") from e
        diagnostics.note(f"signed checkpoint written to {target}")


@app.command("keygen")
@command
def keygen_command(
    private: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, 0600).")],
    public: Annotated[Path, typer.Argument(help="Where to write the public key (PEM).")],
    debug: DebugOpt = False,
) -> None:
    """Make an Ed25519 key pair for signing checkpoints."""
    from auditcli.integrity.checkpoint import keygen

    keygen(private, public)
    diagnostics.note(f"wrote {private} (keep it secret) and {public} (share it)")
