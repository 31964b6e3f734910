"""Rendering for the CLI: a Rich progress bar as the runtime's reporter, and the run summary."""

from __future__ import annotations

from rich.console import Console
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

from tidemark.engines.base import ExtractBatch
from tidemark.runtime.batch import RunResult

COUNT_NAMES = ("inserted", "updated", "unchanged", "skipped", "deleted", "error")


class ProgressReporter:
    """Shows bytes of input processed; only when the input is large enough for a bar to help."""

    def __init__(self, console: Console, *, enabled: bool = True, min_bytes: int = 2_000_000) -> None:
        self.console = console
        self.enabled = enabled
        self.min_bytes = min_bytes
        self.progress: Progress | None = None
        self.task = TaskID(0)
        self.documents = 0

    def start(self, total_bytes: int, files: int) -> None:
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

    def advance(self, batch: ExtractBatch) -> None:
        self.documents += batch.documents + len(batch.rejected)
        if self.progress is not None:
            self.progress.update(self.task, advance=batch.bytes_read, documents=self.documents)

    def finish(self, result: RunResult) -> None:
        if self.progress is not None:
            self.progress.stop()


def render_result(console: Console, result: RunResult) -> None:
    table = Table(title=f"run {result.run_id} -> {result.sink} ({result.mode}, {result.documents} documents)")
    table.add_column("table", no_wrap=True)
    for name in COUNT_NAMES:
        table.add_column(name, justify="right", min_width=len(name))
    for name, counts in result.tables.items():
        values = counts.as_dict()
        table.add_row(name, *(f"{values[c]:,}" for c in COUNT_NAMES))
    console.print(table)
    if result.rejected:
        console.print(f"[red]{len(result.rejected)} document(s) rejected[/red] (stored in _tidemark.quarantine):")
        for r in result.rejected[:20]:
            console.print(f"  {r.origin}: {r.reason}", highlight=False, soft_wrap=True)
        if len(result.rejected) > 20:
            console.print(f"  ... and {len(result.rejected) - 20} more")
    if result.row_errors:
        console.print(f"[red]{len(result.row_errors)} row(s) refused[/red] (stored in _tidemark.quarantine):")
        for e in result.row_errors[:10]:
            console.print(f"  {e.table} {e.key}: {e.reason} ({e.origin})", highlight=False, soft_wrap=True)
