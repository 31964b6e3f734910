"""``tidemark schema ...``: artifacts generated from a mapping (DDL per dialect, Avro, JSON Schema of the rows), and
the JSON Schema of the mapping language itself (``tidemark schema mapping``; plain ``tidemark schema`` still
prints it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(
    name="schema",
    help="Schemas: of the mapping language (mapping), and of a mapping's tables (ddl, avro, json).",
    invoke_without_command=True,
)
out = Console(soft_wrap=True, markup=False, highlight=False)  # messages print as they are (see cli/main.py)

OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")]
MappingArg = Annotated[str, typer.Argument(help="Mapping file or built-in name, e.g. mlb:live_game.")]


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output}")


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@app.callback()
def _schema(ctx: typer.Context, output: OutputOpt = None) -> None:
    """Without a subcommand: the JSON Schema of the mapping language (as `tidemark schema mapping`)."""
    if ctx.invoked_subcommand is None:
        mapping_cmd(output)


@app.command("mapping")
def mapping_cmd(output: OutputOpt = None) -> None:
    """Print the JSON Schema of the mapping language (for editor completion)."""
    from tidemark.mapping.schema import mapping_json_schema

    _emit(mapping_json_schema(), output)


@app.command("ddl")
def ddl_cmd(
    mapping: MappingArg,
    dialect: Annotated[
        str, typer.Option("--dialect", "-d", help="postgres | duckdb | spark | bigquery | snowflake")
    ] = "postgres",
    output: OutputOpt = None,
) -> None:
    """Print CREATE TABLE statements for the mapping's tables in a SQL dialect."""
    from tidemark.artifacts import plan_for
    from tidemark.artifacts.ddl import check_dialect, mapping_ddl

    check_dialect(dialect)
    _emit(mapping_ddl(plan_for(mapping), dialect), output)


@app.command("avro")
def avro_cmd(mapping: MappingArg, output: OutputOpt = None) -> None:
    """Print the Avro record schema of each table's rows, as {"schema.table": schema}."""
    from tidemark.artifacts import plan_for
    from tidemark.artifacts.avro import mapping_avro

    _emit(_json(mapping_avro(plan_for(mapping))), output)


@app.command("json")
def json_cmd(mapping: MappingArg, output: OutputOpt = None) -> None:
    """Print the JSON Schema of the tables' rows (one definition per table under $defs)."""
    from tidemark.artifacts import plan_for
    from tidemark.artifacts.json_schema import mapping_json_schema

    _emit(_json(mapping_json_schema(plan_for(mapping))), output)
