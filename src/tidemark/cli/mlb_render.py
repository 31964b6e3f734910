"""What ``tidemark ingest`` / ``backfill`` / ``live`` draw and print: a progress bar per phase (a terminal only),
log lines, and the summaries of fetching and loading (cli/mlb.py parses the flags and calls the work)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tidemark.cli import observing

if TYPE_CHECKING:
    from tidemark.domains.mlb.client.backfill import BackfillSummary
    from tidemark.domains.mlb.client.live import LiveSummary
    from tidemark.domains.mlb.routing import RoutedStreams
    from tidemark.http import FetchStats
    from tidemark.runtime.stream import StreamResult

out = Console(soft_wrap=True, markup=False, highlight=False)  # messages print as they are (see cli/main.py)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


class Bar:
    """The backfill's progress: one bar per phase (schedule, feeds, ...) with ETA; silent when not a terminal."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.task: Any = None

    def phase(self, name: str, total: int) -> None:
        if self.progress is not None and total:
            self.task = self.progress.add_task(name, total=total)

    def advance(self, done: int = 1) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, done)


@contextmanager
def progress() -> Iterator[Bar]:
    if not err.is_terminal or observing.settings.quiet:  # tidemark --quiet backfill ...: no bar either
        yield Bar(None)
        return
    columns = (TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        yield Bar(progress)


def log(message: str) -> None:
    err.print(f"{datetime.now(UTC):%H:%M:%S} {message}")


def fetch_line(stats: FetchStats) -> str:
    return f"{stats.requests} requests, {stats.bytes:,} bytes, {stats.retries} retries, {stats.failures} failures"


def print_backfill(summary: BackfillSummary, stats: FetchStats, display: str) -> None:
    related = "".join(f", {count} {name}" for name, count in summary.related.items())
    out.print(
        f"backfill {summary.start} .. {summary.end}: {summary.games} final games, {summary.fetched} fetched, "
        f"{summary.stored} already stored, {summary.not_final} not final{related}"
    )
    out.print(f"{fetch_line(stats)}; {display}: {summary.appended} appended, {summary.duplicates} duplicates")
    for failure in summary.failures:
        err.print(f"failed: {failure}")
    if summary.failures:
        err.print("run the same command again to fetch what failed (what is stored is not fetched again)")


def print_live(summary: LiveSummary, stats: FetchStats, display: str) -> None:
    states = ", ".join(f"{pk} {state}" for pk, state in summary.games.items()) or "none"
    out.print(f"live {summary.day}: {summary.reason}; games: {states}")
    out.print(
        f"{summary.polls} polls, {summary.snapshots} new snapshots, {summary.unchanged} unchanged, "
        f"{summary.loads} loads, {len(summary.errors)} errors; {fetch_line(stats)}; {display}"
    )


def print_load(result: StreamResult | RoutedStreams) -> None:
    from tidemark.domains.mlb.routing import RoutedStreams

    if isinstance(result, RoutedStreams):
        print_routed_streams(result)
        return
    print_stream(result)


def print_stream(result: StreamResult) -> None:
    from tidemark.cli.render import render_result

    render_result(out, result.result)
    out.print(
        f"stream {result.name}: {result.batches:,} micro-batches committed now "
        f"({result.checkpoint.batch:,} in all; resumable: run the same command again)"
    )


def print_routed_streams(routed: RoutedStreams) -> None:
    """What ``mlb:*`` streamed: each stream's result, then (on standard error) the endpoints no mapping reads."""
    for result in routed.results.values():
        print_stream(result)
    if not routed.results:
        out.print("no record of an endpoint a built-in mapping reads: nothing loaded")
    for kind, unrouted in routed.unrouted.items():
        err.print(
            f"not loaded: {unrouted.documents:,} records of {kind} in {unrouted.first} (no built-in mapping reads "
            "them); see `tidemark mappings`"
        )
