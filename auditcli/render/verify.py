"""How a chain verification reads: a summary of what is proven and what is not,
then every finding. The table is for people; ``--format json`` is the report's
own ``to_dict()`` for scripts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, BinaryIO

import orjson

from auditcli.integrity import ChainReport
from auditcli.privacy.text import visible

if TYPE_CHECKING:
    from rich.console import Console


_LONG_HEX = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{52,116}\b")


def short_hashes(text: str) -> str:
    """Full hashes cut to 12 hex digits and an ellipsis, for tables (JSON keeps them)."""
    return _LONG_HEX.sub(r"\1…", text)


def summary(report: ChainReport, label: str) -> list[str]:
    """The lines above the findings: scheme, counts, hashes, span, verdict, notes."""
    lines = [
        f"{report.scheme} · {report.events:,} {report.unit} · {visible(label)}",
        f"first hash {report.first_hash or '-'}",
        f"head       {report.head or '-'}",
    ]
    if report.first_time or report.last_time:
        lines.append(f"time span  {report.first_time or '?'} .. {report.last_time or '?'}")
    if report.intact:
        lines.append(f"✓ intact: {report.proven}")
    else:
        lines.append(f"✗ {len(report.findings)} defect(s) found")
    lines.extend(f"note: {visible(note)}" for note in report.notes)
    return lines


def write_table(report: ChainReport, label: str, console: Console) -> None:
    """The summary and a table of findings, for a terminal."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    for line in summary(report, label):
        style = "bold green" if line.startswith("✓") else "bold red" if line.startswith("✗") else ""
        console.print(Text(line, style=style))
    if not report.findings:
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    rows: list[dict[str, Text | str]] = [
        {
            "kind": Text(finding.kind.value, style="red"),
            "file": Text(visible(finding.file)),
            "line": _lines(finding.line, finding.span),
            "seq": "" if finding.seq is None else str(finding.seq),
            "event_id": Text(visible(finding.event_id or "")),
            "what": Text(short_hashes(visible(finding.message))),
        }
        for finding in report.findings
    ]
    # a column no finding fills (a digest file's findings have no line) is left out
    names = [
        name for name in rows[0] if name in ("kind", "what") or any(str(r[name]) for r in rows)
    ]
    for name in names:
        table.add_column(name, overflow="fold", no_wrap=name in ("kind", "line", "seq"))
    for row in rows:
        table.add_row(*(row[name] for name in names))
    console.print(table)


def _lines(line: int, span: int) -> str:
    """A finding's lines; none for a finding about a whole file (line 0)."""
    if not line:
        return ""
    return str(line) + (f"–{line + span - 1}" if span > 1 else "")


def write_json(reports: list[tuple[str, ChainReport]], out: BinaryIO, *, lines: bool) -> None:
    """One report as a JSON object (several, for --db: an array); ``lines``: one per line."""
    documents = [{**report.to_dict(), "source": label} for label, report in reports]
    if lines:
        out.write(b"".join(orjson.dumps(d) + b"\n" for d in documents))
    else:
        body: object = documents[0] if len(documents) == 1 else documents
        out.write(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
    out.flush()
