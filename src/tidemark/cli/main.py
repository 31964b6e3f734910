"""The ``tidemark`` command: a thin Typer layer over the Python API; all rendering happens here (Rich)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tidemark.cli.render import ProgressReporter, print_whole, render_result
from tidemark.errors import ConfigError, TidemarkError

app = typer.Typer(
    name="tidemark",
    help="Turn nested JSON API documents into normalized tables that stay correct under re-runs and late data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Messages are never broken into lines by the console width (a path or key split in two cannot be copied or grepped;
# the terminal wraps them on screen); tables still fit the width.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_state = {"debug": False}


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False) -> None:
    _state["debug"] = debug


@app.command("run")
def run_cmd(
    mapping: Annotated[str, typer.Option("--mapping", "-m", help="Mapping file, or a built-in such as mlb:live_game.")],
    inputs: Annotated[list[Path], typer.Option("--input", "-i", help="Files or directories of documents (repeat).")],
    sink: Annotated[str, typer.Option("--sink", "-s", help="Where to write, e.g. duckdb:warehouse.duckdb.")],
    mode: Annotated[str, typer.Option("--mode", help="overwrite | append | append_once | upsert")] = "upsert",
    batch_documents: Annotated[int, typer.Option(help="Documents per batch (bounds memory).")] = 64,
    engine: Annotated[str, typer.Option("--engine", "-e", help="The engine that runs the mapping.")] = "local",
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL for --engine spark (default local[*]).")
    ] = None,
    spark_conf: Annotated[list[str] | None, typer.Option(help="A Spark setting key=value (repeat).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run a mapping over documents and write the tables to a sink under the write contract."""
    from tidemark.runtime.batch import run

    reporter = ProgressReporter(err, enabled=not as_json)
    result = run(
        mapping,
        inputs,
        sink,
        mode=mode,  # type: ignore[arg-type]
        reporter=reporter,
        batch_documents=batch_documents,
        engine=engine,
        engine_options=_spark_options(spark_master, spark_conf or []),
    )
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
    else:
        render_result(out, result)
    if not result.ok:
        raise typer.Exit(1)


def _spark_options(master: str | None, conf: list[str]) -> dict[str, Any]:
    """The Spark engine's options from ``--spark-master`` / ``--spark-conf k=v`` (none given: none)."""
    options: dict[str, Any] = {} if master is None else {"master": master}
    for setting in conf:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--spark-conf {setting!r}: give key=value, e.g. spark.executor.memory=4g")
        options.setdefault("conf", {})[key.strip()] = value
    return options


@app.command("write")
def write_cmd(
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet, NDJSON or JSON-array files (or directories).")],
    sink: Annotated[str | None, typer.Option("--sink", "-s", help="Where to write, e.g. duckdb:wh.duckdb.")] = None,
    table: Annotated[str | None, typer.Option("--table", "-t", help="The table, schema.table or table.")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="overwrite | append | append_once | upsert")] = None,
    keys: Annotated[str | None, typer.Option("--keys", help="Key columns, comma-separated.")] = None,
    timestamp: Annotated[str | None, typer.Option("--timestamp", help="The column deciding what is newer.")] = None,
    dedup: Annotated[str | None, typer.Option("--dedup", help="Duplicate keys: newest_wins | error.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Compute a key column: NAME=COLUMN,COLUMN,...")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="A YAML file with a write: block.")] = None,
    connection: Annotated[list[str] | None, typer.Option(help="NAME=URL for a write block (repeat).")] = None,
    batch_rows: Annotated[int, typer.Option(help="Rows per batch (bounds memory).")] = 500_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write flat files to one table under the write contract (docs/write.md)."""
    from tidemark.cli.render import RowProgressReporter, render_write_result
    from tidemark.cli.write import write_files

    reporter = RowProgressReporter(err, enabled=not as_json)
    result = write_files(
        files,
        sink=sink,
        table=table,
        mode=mode,
        keys=keys,
        timestamp=timestamp,
        dedup=dedup,
        key=key,
        config=config,
        connections=connection or [],
        batch_rows=batch_rows,
        reporter=reporter,
    )
    if as_json:
        out.print_json(json.dumps(result.summary(), default=str))
    else:
        render_write_result(out, result)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def validate(mappings: Annotated[list[str], typer.Argument(help="Mapping files or built-in names.")]) -> None:
    """Check mapping files; print every problem with file:line:col and its YAML path."""
    from tidemark.mapping.loader import load_mapping

    failed = False
    for ref in mappings:
        try:
            mapping, path = load_mapping(ref)
        except TidemarkError as exc:
            failed = True
            err.print(f"[red]✗[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
            continue
        out.print(f"[green]✓[/green] {path}: {len(mapping.targets)} tables", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def tables(mapping: Annotated[str, typer.Argument(help="Mapping file or built-in name.")]) -> None:
    """List the tables a mapping produces, with keys, scope and parent."""
    from tidemark.compile.plan import compile_mapping
    from tidemark.mapping.loader import load_mapping

    plan = compile_mapping(load_mapping(mapping)[0])
    grid = Table(title=f"{plan.source_name}: {len(plan.targets)} tables")
    grid.add_column("table", no_wrap=True)
    for col in ("rows", "primary key", "scope", "columns", "parent"):
        grid.add_column(col)
    for t in plan.targets:
        grid.add_row(
            t.name,
            t.rows.text + (f" [{len(t.filter)} filter]" if t.filter else ""),
            ", ".join(t.spec.primary_key),
            ", ".join(t.spec.scope),
            str(len(t.spec.columns)),
            t.parent or "",
        )
    print_whole(out, grid)


@app.command()
def docs(
    mappings: Annotated[list[str], typer.Argument(help="Mapping files or built-in names; mlb:* for all of mlb.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the Markdown pages.")],
    title: Annotated[str, typer.Option(help="Title of the index page.")] = "Table reference",
) -> None:
    """Generate a Markdown table reference (columns, types, keys, source paths) from mappings."""
    from tidemark.docs_gen import write

    written = write(mappings, output, title)
    out.print(f"wrote {len(written)} pages to {output}", highlight=False)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of the mapping language (for editor completion)."""
    from tidemark.mapping.schema import mapping_json_schema

    text = mapping_json_schema()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output}")


@app.command()
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


@app.command()
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


def main() -> None:
    """Console entry point: known errors print one line and exit 1; --debug shows the traceback."""
    try:
        app()
    except TidemarkError as exc:
        if _state["debug"]:
            raise
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(1)
