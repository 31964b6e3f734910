"""``tidemark grants`` and ``maintain``: looking after a store between runs."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True, markup=False, highlight=False)  # messages print as they are (see cli/main.py)


def register(app: typer.Typer) -> None:
    """``tidemark grants`` and ``maintain`` (one line in cli/main.py)."""
    app.command()(grants)
    app.command()(maintain)


def grants(
    schemas: Annotated[list[str], typer.Option("--schema", help="Schema to give read access to (repeat).")],
    role: Annotated[str, typer.Option("--role", help="The read-only role (created NOLOGIN if missing).")],
    owner: Annotated[str | None, typer.Option(help="Role tidemark writes with (for future tables).")] = None,
    database: Annotated[str | None, typer.Option(help="Also grant CONNECT on this database.")] = None,
    create_role: Annotated[bool, typer.Option(help="Include CREATE ROLE.")] = True,
) -> None:
    """Print the PostgreSQL SQL for a read-only role on tidemark's schemas (least privilege)."""
    from tidemark.sinks.pg_grants import read_only_grants

    sys.stdout.write(read_only_grants(schemas, role, owner=owner, database=database, create_role=create_role))


def maintain(
    sink: Annotated[str, typer.Option("--sink", "-s", help="The store, e.g. delta:lake or parquet:out.")],
    retention_hours: Annotated[
        int | None, typer.Option(help="Keep unreferenced files younger than this (Delta default 168, files 0).")
    ] = None,
) -> None:
    """Compact small files and delete unreferenced ones (Delta: OPTIMIZE + VACUUM; Parquet/CSV: one file per
    partition, leftovers of crashed runs removed)."""
    from tidemark.sinks import open_sink

    with open_sink(sink) as target:
        report = target.maintain(retention_hours=retention_hours)
    if not report:
        out.print(f"{target.display}: nothing to maintain", highlight=False)
        return
    grid = Table(title=f"maintained {target.display}")
    grid.add_column("table", no_wrap=True)
    columns = sorted({k for counts in report.values() for k in counts})
    for col in columns:
        grid.add_column(col.replace("_", " "), justify="right")
    for name, counts in report.items():
        grid.add_row(name, *(str(counts.get(c, 0)) for c in columns))
    out.print(grid)
