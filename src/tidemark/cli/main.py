"""The ``tidemark`` command: a thin Typer layer over the Python API; all rendering happens here (Rich)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tidemark.cli.render import ProgressReporter, render_result
from tidemark.errors import TidemarkError

app = typer.Typer(
    name="tidemark",
    help="Turn nested JSON API documents into normalized tables that stay correct under re-runs and late data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run a mapping over documents and write the tables to a sink under the write contract."""
    from tidemark.runtime.batch import run

    reporter = ProgressReporter(err, enabled=not as_json)
    result = run(mapping, inputs, sink, mode=mode, reporter=reporter, batch_documents=batch_documents)  # type: ignore[arg-type]
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
    else:
        render_result(out, result)
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
    out.print(grid)


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


def main() -> None:
    """Console entry point: known errors print one line and exit 1; --debug shows the traceback."""
    try:
        app()
    except TidemarkError as exc:
        if _state["debug"]:
            raise
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(1)
