"""Timelines for people: a terminal view, Markdown for post-mortems, one HTML page.

All three show the window, the counts, an activity histogram with the centre
marked, and the rows grouped by time, with runs of identical events folded and
quiet stretches called out. Machine formats of a timeline go through the
ordinary row writers instead.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, BinaryIO

from auditcli.privacy.text import visible
from auditcli.render.document import CONTENT_SECURITY_POLICY, markdown_cell
from auditcli.timeline import Run, Timeline, collapse_runs, group_size, histogram
from auditcli.timeutil import format_short, zone_label

if TYPE_CHECKING:
    from rich.console import Console

_BARS = " ▁▂▃▄▅▆▇█"
#: How markers read in tables (machine formats keep the tokens).
MARKER_LABELS = {
    "centre": "◆centre",
    "failure": "✗failed",
    "first-seen-actor": "★actor",
    "new-ip": "★ip",
    "new-user-agent": "★agent",
    "new-resource": "★resource",
    "chain-broken": "⛓broken",
}
LEGEND = (
    "★ first time (actor, ip, agent, resource) · ⚠ sensitive · ✗ failed · ◆ centre"
    " · ⛓ in a broken stretch of its hash chain"
)


@dataclass(frozen=True)
class Line:
    """One line of the displayed timeline: a group heading, a gap, or a run."""

    kind: str
    """``group``, ``gap`` or ``run``."""
    text: str = ""
    run: Run | None = None


def marker_text(markers: list[str]) -> str:
    """Markers as people read them."""
    return " ".join(MARKER_LABELS.get(m, m.replace("sensitive:", "⚠")) for m in markers)


def offset_text(seconds: float) -> str:
    """``-00:04:12`` / ``+00:00:31`` (``+1d 02:00:00`` past a day)."""
    sign = "-" if seconds < 0 else "+"
    whole = int(abs(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    prefix = f"{days}d " if days else ""
    return f"{sign}{prefix}{hours:02d}:{minutes:02d}:{secs:02d}"


def _span_text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def lines(timeline: Timeline, *, collapse: bool) -> Iterator[Line]:
    """The displayed timeline: group headings, gap notes and runs, in time order."""
    runs = collapse_runs(timeline.rows.to_pylist(), enabled=collapse)
    step = group_size(timeline.window)
    quiet = max(step, timedelta(seconds=60))
    current_group: int | None = None
    previous: datetime | None = None
    for run in runs:
        if previous is not None and run.ts - previous >= quiet:
            yield Line("gap", f"… {_span_text(run.ts - previous)} quiet …")
        group = int((run.ts - timeline.window.start) / step)
        if group != current_group:
            current_group = group
            yield Line("group", "")
        yield Line("run", run=run)
        previous = max(previous or run.ts, run.last_ts or run.ts)


def sparkline(counts: list[int]) -> str:
    """Counts as block characters, scaled to the biggest."""
    top = max(counts) if counts else 0
    if top == 0:
        return " " * len(counts)
    return "".join(
        _BARS[0] if c == 0 else _BARS[max(1, round(c / top * (len(_BARS) - 1)))] for c in counts
    )


def centre_column(timeline: Timeline, buckets: int) -> int:
    """Which histogram bucket holds the centre."""
    window = timeline.window
    span = (window.end - window.start).total_seconds()
    if span <= 0:
        return 0
    slot = int((window.centre - window.start).total_seconds() / span * buckets)
    return min(max(slot, 0), buckets - 1)


def summary_lines(timeline: Timeline, tz: tzinfo) -> list[str]:
    """The header: window and counts."""
    window = timeline.window
    centre = f"centre {format_short(window.centre, tz)}"
    if window.centre_event:
        named = visible(window.centre_event)
        if window.centre_matches > 1:
            centre += f" (event {named}: the first of {window.centre_matches} with this id)"
        else:
            centre += f" (event {named})"
    return [
        f"{format_short(window.start, tz)} → {format_short(window.end, tz)} "
        f"{zone_label(tz)} · {centre}",
        f"{timeline.events:,} events · {timeline.actors:,} actors · "
        f"{timeline.resources:,} resources · {timeline.failures:,} failures",
        LEGEND,
    ]


def _one_day(timeline: Timeline, tz: tzinfo) -> bool:
    window = timeline.window
    return window.start.astimezone(tz).date() == window.end.astimezone(tz).date()


def _time_header(timeline: Timeline, tz: tzinfo) -> str:
    return "time" if _one_day(timeline, tz) else f"time ({zone_label(tz)})"


def _cells(run: Run, tz: tzinfo, one_day: bool) -> list[str]:
    row = run.row
    cut = 11 if one_day else 0
    when = format_short(run.ts, tz)[cut:]
    action = visible(row["action"] or "", 60)
    if run.count > 1 and run.last_ts is not None:
        first, last = format_short(run.ts, tz), format_short(run.last_ts, tz)
        until = last[11:19] if last[:10] == first[:10] else last[:19]  # another day: dated
        action = f"{action} ×{run.count} (→{until})"
    return [
        when,
        offset_text(row["offset_s"]),
        visible(row["actor"] or "", 60),
        action,
        visible(row["resource"] or "", 60),
        visible(row["outcome"] or "", 20),
        visible(row["source_ip"] or "", 45),
        marker_text(row["markers"]),
        visible(row["included_because"] or "", 60),
    ]


HEADERS = ("time", "offset", "actor", "action", "resource", "outcome", "ip", "markers", "why")

#: Columns a narrow terminal leaves out, first to last: each repeats something shown
#: anyway (outcome: the ✗ marker and the colour; offset: the time) or matters less.
NARROW_DROPS = ("outcome", "offset", "why", "ip")
#: Narrowest a column of names is allowed to get before others are left out.
_NAME_WIDTH = 16
_PADDING = 2  # rich puts a space either side of each cell


def _longest_marker(cells: list[str]) -> int:
    """The width of the longest single marker in ``cells`` (markers wrap one per line)."""
    return max((len(word) for cell in cells for word in cell.split()), default=0)


def columns_that_fit(rows: list[list[str]], width: int) -> list[int]:
    """Indexes of the HEADERS to show on a terminal ``width`` wide.

    Every column is kept if the rows fit at their natural widths (names allowed down
    to ``_NAME_WIDTH``, markers down to their longest single marker); otherwise the
    NARROW_DROPS go, one at a time, until they do.
    """

    def need(index: int) -> int:
        name = HEADERS[index]
        cells = [row[index] for row in rows]
        if name == "markers":
            longest = _longest_marker(cells)
        else:
            longest = max((len(cell) for cell in cells), default=0)
        if name in ("actor", "action", "resource", "why"):
            longest = min(longest, _NAME_WIDTH)
        return max(longest, len(name)) + _PADDING

    shown = list(range(len(HEADERS)))
    for name in NARROW_DROPS:
        if sum(need(i) for i in shown) + len(shown) - 1 <= width:  # and a space between
            break
        shown.remove(HEADERS.index(name))
    return shown


def write_table(
    timeline: Timeline, console: Console, tz: tzinfo, *, collapse: bool, max_rows: int
) -> int:
    """Print the timeline for a terminal; return how many runs were shown."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    for text in summary_lines(timeline, tz):
        console.print(Text(text, style="bold"))
    buckets = max(10, min(96, console.width - 30))
    counts = histogram(timeline, buckets)
    centre = centre_column(timeline, buckets)
    console.print(Text(f"{sparkline(counts)}  max {max(counts)}/bucket", style="cyan"))
    console.print(Text(" " * centre + "▲ centre", style="bold magenta"))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    one_day = _one_day(timeline, tz)
    chosen: list[Line] = []
    runs = 0
    for line in lines(timeline, collapse=collapse):
        if line.kind == "run":
            if runs >= max_rows:
                break
            runs += 1
        chosen.append(line)
    cells = [_cells(line.run, tz, one_day) if line.run is not None else [] for line in chosen]
    columns = columns_that_fit([row for row in cells if row], console.width)
    longest_marker = _longest_marker([row[HEADERS.index("markers")] for row in cells if row])
    for index in columns:
        name = HEADERS[index]
        table.add_column(
            _time_header(timeline, tz) if name == "time" else name,
            no_wrap=name in ("time", "offset", "outcome", "ip"),
            overflow="fold",
            # markers wrap one per line before names get folded
            max_width=max(longest_marker, len(name)) if name == "markers" else None,
        )
    shown = 0
    for line, row in zip(chosen, cells, strict=True):
        if line.kind == "group":
            if shown:
                table.add_section()
            continue
        if line.kind == "gap":
            table.add_row(Text(line.text, style="dim italic"), *[""] * (len(columns) - 1))
            continue
        assert line.run is not None
        markers = line.run.row["markers"]
        style = None
        if "centre" in markers:
            style = "bold reverse"
        elif "failure" in markers:
            style = "red"
        elif any(m.startswith("sensitive:") for m in markers):
            style = "yellow"
        elif any(m.startswith(("new-", "first-")) for m in markers):
            style = "magenta"
        table.add_row(*[Text(row[i]) for i in columns], style=style)
        shown += 1
    table.caption = _rows_shown(timeline, shown, collapse)
    table.caption_justify = "left"
    console.print(table)
    return shown


def _rows_shown(timeline: Timeline, shown: int, collapse: bool) -> str:
    """How many rows were shown, and of how many when ``--limit`` cut them short."""
    runs_total = sum(1 for line in lines(timeline, collapse=collapse) if line.kind == "run")
    if shown == runs_total:
        return f"{shown:,} rows ({timeline.events:,} events)"
    return (
        f"showing {shown:,} of {runs_total:,} rows ({timeline.events:,} events; "
        "use --limit to see more)"
    )


def _md(text: str) -> str:
    return markdown_cell(visible(text))


def write_markdown(
    timeline: Timeline, out: BinaryIO, tz: tzinfo, *, collapse: bool, max_rows: int | None = None
) -> int:
    """A Markdown section ready to paste into a post-mortem; return the row count."""
    parts = [
        f"**Timeline** {_md(summary_lines(timeline, tz)[0])}  ",
        _md(summary_lines(timeline, tz)[1]),
        "",
    ]
    counts = histogram(timeline, 60)
    centre = centre_column(timeline, 60)
    parts += ["```text", sparkline(counts), " " * centre + "▲ centre", "```", ""]
    one_day = _one_day(timeline, tz)
    headers = [_time_header(timeline, tz), *HEADERS[1:]]
    parts.append("| " + " | ".join(headers) + " |")
    parts.append("|" + "---|" * len(HEADERS))
    shown = 0
    for line in lines(timeline, collapse=collapse):
        if line.kind == "run" and max_rows is not None and shown >= max_rows:
            parts += ["", _md(_rows_shown(timeline, shown, collapse))]
            break
        if line.kind == "gap":
            parts.append(f"| *{line.text}* |" + " |" * (len(HEADERS) - 1))
        elif line.kind == "run" and line.run is not None:
            cells = [_md(c) for c in _cells(line.run, tz, one_day)]
            if "centre" in line.run.row["markers"]:
                cells = [f"**{c}**" if c else c for c in cells]
            parts.append("| " + " | ".join(cells) + " |")
            shown += 1
    out.write(("\n".join(parts) + "\n").encode("utf-8"))
    out.flush()
    return shown


_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.3em}table{border-collapse:collapse;font-size:13px}
td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{position:sticky;top:0;background:#fafafa}tr.failure td{color:#b00020}
tr.sensitive td{background:#fff7d6}tr.new td{color:#7a1fa2}tr.centre td{font-weight:bold;
background:#e3f0ff}tr.gap td{color:#888;font-style:italic}tr.group td{border-top:2px solid #ccc}
.mono{font-family:ui-monospace,monospace}"""


def _svg(counts: list[int], centre: int) -> str:
    width, height = 900, 120
    bar = width / max(1, len(counts))
    top = max(counts) or 1
    bars = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - c / top * (height - 10):.1f}" '
        f'width="{max(bar - 1, 1):.1f}" height="{c / top * (height - 10):.1f}" fill="#4a78c2">'
        f"<title>{c}</title></rect>"
        for i, c in enumerate(counts)
    )
    x = (centre + 0.5) * bar
    line = (
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="#c2185b" stroke-width="2"/>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="activity histogram">{bars}{line}</svg>'
    )


def write_html(
    timeline: Timeline, out: BinaryIO, tz: tzinfo, *, collapse: bool, max_rows: int | None = None
) -> int:
    """One self-contained page (no network needed) with the chart and the table."""
    summary = "".join(f"<p>{html.escape(line)}</p>" for line in summary_lines(timeline, tz))
    rows = []
    shown = 0
    one_day = _one_day(timeline, tz)
    for line in lines(timeline, collapse=collapse):
        if line.kind == "run" and max_rows is not None and shown >= max_rows:
            cut = html.escape(_rows_shown(timeline, shown, collapse))
            rows.append(f'<tr class="gap"><td colspan="{len(HEADERS)}">{cut}</td></tr>')
            break
        if line.kind == "gap":
            rows.append(
                f'<tr class="gap"><td colspan="{len(HEADERS)}">{html.escape(line.text)}</td></tr>'
            )
        elif line.kind == "group":
            rows.append(f'<tr class="group"><td colspan="{len(HEADERS)}"></td></tr>')
        elif line.run is not None:
            markers = line.run.row["markers"]
            classes = " ".join(
                name
                for name, present in (
                    ("centre", "centre" in markers),
                    ("failure", "failure" in markers),
                    ("sensitive", any(m.startswith("sensitive:") for m in markers)),
                    ("new", any(m.startswith(("new-", "first-")) for m in markers)),
                )
                if present
            )
            cells = "".join(f"<td>{html.escape(c)}</td>" for c in _cells(line.run, tz, one_day))
            rows.append(f'<tr class="{classes}">{cells}</tr>')
            shown += 1
    headers = [_time_header(timeline, tz), *HEADERS[1:]]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    counts = histogram(timeline, 120)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"{CONTENT_SECURITY_POLICY}"
        f"<title>auditcli timeline</title><style>{_CSS}</style></head><body>"
        f"<h1>Timeline</h1>{summary}{_svg(counts, centre_column(timeline, 120))}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<p class="mono">generated by auditcli</p></body></html>\n'
    )
    out.write(page.encode("utf-8"))
    out.flush()
    return shown
