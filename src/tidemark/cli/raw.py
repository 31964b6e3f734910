"""``tidemark raw ...``: the raw store's commands (import documents, list what a store holds)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tidemark.cli.observing import print_json
from tidemark.cli.render import print_whole

if TYPE_CHECKING:  # the raw store loads its decoders when a command runs, not when the CLI starts
    from tidemark.raw.base import EndpointStats

app = typer.Typer(
    name="raw",
    help="The raw store: every API response kept append-only (a directory, duckdb:FILE or postgresql://...).",
    no_args_is_help=True,
)
out = Console(soft_wrap=True, markup=False, highlight=False)  # messages print as they are (see cli/main.py)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)

RawArg = Annotated[str, typer.Argument(help="The raw store: a directory, duckdb:FILE or postgresql://user@host/db.")]


@app.command("import")
def import_cmd(
    raw: RawArg,
    paths: Annotated[list[Path], typer.Argument(help="Files or directories: .json, .json.gz, NDJSON.")],
    endpoint: Annotated[
        str | None, typer.Option(help="Endpoint of bare documents (default: their grandparent folder).")
    ] = None,
    method: Annotated[str | None, typer.Option(help="Method of bare documents (default: their parent folder).")] = None,
) -> None:
    """Append documents to a raw store (created if missing); identical ones already stored count as duplicates."""
    from tidemark.raw import open_raw
    from tidemark.raw.importer import import_paths

    with open_raw(raw, create=True) as store:
        result = import_paths(store, paths, endpoint=endpoint, method=method)
    for origin, reason in result.invalid:
        err.print(f"not appended: {origin}: {reason}", markup=False, highlight=False)
    counts = result.counts
    out.print(
        f"{store.display}: {counts.appended} appended, {counts.duplicates} duplicates"
        + (f", {len(result.invalid)} not appended" if result.invalid else "")
        + f" ({result.files} files)",
        markup=False,
        highlight=False,
    )
    if not result.ok:
        raise typer.Exit(1)


@app.command("ls")
def ls_cmd(
    raw: RawArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the listing as JSON (only that on stdout).")] = False,
) -> None:
    """Records per endpoint/method: count, first and last fetch time, size."""
    from tidemark.raw import open_raw

    with open_raw(raw) as store:
        stats = store.stats()
        display = store.display
    if as_json:
        print_json(_listing(display, stats))
        return
    print_whole(out, _grid(display, stats))


def _listing(display: str, stats: list[EndpointStats]) -> dict[str, Any]:
    """``tidemark raw ls --json``: the store, its records, and per endpoint/method count, fetch times and bytes."""
    return {
        "store": display,
        "records": sum(s.records for s in stats),
        "endpoints": [
            {
                "endpoint": s.endpoint,
                "method": s.method,
                "records": s.records,
                "first_fetched": None if s.first_fetched is None else s.first_fetched.isoformat(),
                "last_fetched": None if s.last_fetched is None else s.last_fetched.isoformat(),
                "bytes": s.bytes,
            }
            for s in stats
        ],
    }


def _grid(display: str, stats: list[EndpointStats]) -> Table:
    total = sum(s.records for s in stats)
    grid = Table(title=f"{display}: {total} records")
    grid.add_column("endpoint/method", no_wrap=True)
    grid.add_column("records", justify="right")
    grid.add_column("first fetched (UTC)", no_wrap=True)
    grid.add_column("last fetched (UTC)", no_wrap=True)
    grid.add_column("size", justify="right")
    for s in stats:
        first, last = _time(s.first_fetched), _time(s.last_fetched)
        grid.add_row(f"{s.endpoint}/{s.method}", str(s.records), first, last, _size(s.bytes))
    return grid


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size, units = float(n), ["KB", "MB", "GB", "TB"]
    for unit in units:
        size /= 1024
        if size < 1024 or unit == units[-1]:
            break
    return f"{size:.1f} {unit}"
