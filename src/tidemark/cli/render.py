"""Rendering for the CLI: Rich progress bars as the runtime's :class:`~tidemark.runtime.result.Reporter` (documents
for a run, rows for a write), and the summary of a :class:`~tidemark.runtime.result.RunResult`.

Every message is plain text: the CLI's consoles read no markup (messages carry brackets of their own, e.g.
``pip install 'tidemark-etl[postgres]'``); colour is a style on a :class:`~rich.text.Text` (:func:`styled`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # the CLI starts without Arrow: the runtime is imported when a command runs
    from tidemark.contract.keys import KeyReport
    from tidemark.runtime.result import RunResult

COUNT_NAMES = ("inserted", "updated", "unchanged", "skipped", "deleted", "error")


def styled(head: str, style: str, rest: str = "") -> Text:
    """``head`` in ``style`` followed by ``rest``, both as plain text (never read as markup)."""
    return Text.assemble((head, style), rest)


class ProgressReporter:
    """Shows bytes of input processed; only when the input is large enough for a bar to help."""

    def __init__(self, console: Console, *, enabled: bool = True, min_bytes: int = 2_000_000) -> None:
        self.console = console
        self.enabled = enabled
        self.min_bytes = min_bytes
        self.progress: Progress | None = None
        self.task = TaskID(0)
        self.finished = False
        self.documents = 0

    def start(self, total_bytes: int, files: int, total_rows: int | None = None) -> None:
        if not self.enabled or total_bytes < self.min_bytes:
            return
        self.progress = Progress(
            TextColumn("[bold]documents[/bold] {task.fields[documents]}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("run", total=total_bytes, documents=0)

    def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None:
        self.documents += documents
        if self.progress is not None:
            self.progress.update(self.task, advance=bytes_read, documents=self.documents)

    def finish(self, result: RunResult) -> None:
        self.finished = True  # committed: a Ctrl-C from now on no longer undoes anything (cli/main.py)
        if self.progress is not None:
            self.progress.stop()

    def processed(self) -> str:
        """How far the run got, for the line printed when it is interrupted."""
        return f"{self.documents:,} documents were processed"


def print_whole(console: Console, table: Table) -> None:
    """Print ``table`` uncropped when the output is not a terminal (a pipe, a CI log): Rich assumes 80 columns there
    and would cut the last count columns (deleted, error) off. On a terminal, its width rules."""
    width = console.width
    if not console.is_terminal:
        natural = Measurement.get(console, console.options.update_width(1_000), table).maximum
        console.width = max(width, natural)
    try:
        console.print(table)
    finally:
        console.width = width


def render_result(console: Console, result: RunResult) -> None:
    documents = f"{result.documents + len(result.rejected):,} documents"
    if result.rejected:
        documents += f", {len(result.rejected):,} rejected"
    if result.unchanged_documents:
        documents += f"; {result.unchanged_documents:,} documents already applied, skipped"
    table = Table(title=f"run {result.run_id} -> {result.sink} ({result.mode}, {documents})")
    table.add_column("table", no_wrap=True)
    for name in COUNT_NAMES:
        table.add_column(name, justify="right", min_width=len(name))
    for name, counts in result.tables.items():
        values = counts.as_dict()
        table.add_row(name, *(f"{values[c]:,}" for c in COUNT_NAMES))
    print_whole(console, table)
    render_key_reports(console, _keyed(result))
    if result.rejected:
        console.print(
            styled(f"{len(result.rejected)} document(s) rejected", "red", " (stored in _tidemark.quarantine):")
        )
        for r in result.rejected[:20]:
            console.print(f"  {r.origin}: {r.reason}")
        if len(result.rejected) > 20:
            console.print(f"  ... and {len(result.rejected) - 20} more")
    if result.row_errors:
        console.print(styled(f"{len(result.row_errors)} row(s) refused", "red", " (stored in _tidemark.quarantine):"))
        for e in result.row_errors[:10]:
            console.print(f"  {e.table} {e.key}: {e.reason} ({e.origin})")
    broken = [(name, rule, n) for name, rules in result.quality.items() for rule, n in rules.items() if n]
    if broken:
        console.print(styled("quality rules broken", "yellow", " (rows per rule; the rule says what was done):"))
        for name, rule, n in broken:
            console.print(f"  {name} {rule}: {n:,}")
    for warning in result.warnings:
        console.print(styled("warning:", "yellow", f" {warning}"))


# -- tidemark write -------------------------------------------------------------------------------------------------
class RowProgressReporter:
    """The write's reporter: rows written, against the total when the input knows it (a table), else a counter."""

    def __init__(self, console: Console, *, enabled: bool = True, min_rows: int = 200_000) -> None:
        self.console = console
        self.enabled = enabled
        self.min_rows = min_rows
        self.progress: Progress | None = None
        self.task = TaskID(0)
        self.finished = False
        self.rows = 0

    def start(self, total_bytes: int, files: int, total_rows: int | None = None) -> None:
        big = total_rows >= self.min_rows if total_rows is not None else total_bytes >= 2_000_000
        if not self.enabled or not big:
            return
        self.progress = Progress(
            TextColumn("[bold]rows[/bold] {task.completed:,.0f}"),
            BarColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("write", total=total_rows)

    def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None:
        self.rows += rows
        if self.progress is not None:
            self.progress.update(self.task, advance=rows)

    def finish(self, result: RunResult) -> None:
        self.finished = True  # committed: a Ctrl-C from now on no longer undoes anything (cli/main.py)
        if self.progress is not None:
            self.progress.stop()

    def processed(self) -> str:
        """How far the write got, for the line printed when it is interrupted."""
        return f"{self.rows:,} rows were processed"


def render_write_result(console: Console, result: RunResult) -> None:
    """The same counts table as a run (one table), the key report, and the refused rows."""
    table = Table(title=f"write {result.run_id} -> {result.sink} ({result.mode}, {result.rows:,} rows)")
    table.add_column("table", no_wrap=True)
    for name in COUNT_NAMES:
        table.add_column(name, justify="right", min_width=len(name))
    for name, counts in result.tables.items():
        values = counts.as_dict()
        table.add_row(name, *(f"{values[c]:,}" for c in COUNT_NAMES))
    console.print(table)
    render_key_reports(console, _keyed(result))
    if result.row_errors:
        console.print(styled(f"{len(result.row_errors)} row(s) refused", "red", " (stored in _tidemark.quarantine):"))
        for e in result.row_errors[:10]:
            console.print(f"  {e.origin}: {e.reason}")
        if len(result.row_errors) > 10:
            console.print(f"  ... and {len(result.row_errors) - 10} more")


def _keyed(result: RunResult) -> dict[str, KeyReport]:
    """The key reports worth showing: of tables with a primary key or a computed key column."""
    specs = result.specs
    return {n: k for n, k in result.keys.items() if k.column or n not in specs or specs[n].primary_key}


def render_key_reports(console: Console, reports: dict[str, KeyReport]) -> None:
    """Per table: key coverage, rows without a complete key, duplicates found and how the contract resolved them."""
    for name, k in reports.items():
        line = (
            f"keys of {name}: {k.coverage:.2f}% keyed ({k.keyed:,} of {k.rows:,} rows; "
            f"{k.incomplete:,} without a complete key); {k.duplicates:,} duplicate key(s) in the input"
        )
        if k.duplicates:
            line += (
                f", resolved by {k.strategy}: {k.dropped_older:,} older dropped, "
                f"{k.dropped_identical:,} identical dropped, {k.replaced:,} replaced a row written earlier"
            )
        console.print(line)
