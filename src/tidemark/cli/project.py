"""``tidemark run PIPELINE`` / ``stream PIPELINE`` resolved from the project, ``tidemark pipelines``, ``tidemark init``.

A pipeline is the same options a user would type: the project's values fill the options that were not given on the
command line (a flag > ``TIDEMARK_PIPELINES__NAME__KEY`` > ``tidemark.yaml``, docs/project.md), and the existing
command runs with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tidemark.cli.render import print_whole, styled
from tidemark.errors import ConfigError

if TYPE_CHECKING:
    from tidemark.project import Pipeline, Project

out = Console(soft_wrap=True, markup=False, highlight=False)  # messages print as they are (see cli/main.py)

#: the project file given with ``tidemark --project FILE`` (None: $TIDEMARK_PROJECT, or found from the directory)
project_file: list[Path] = []

ProjectOpt = Annotated[
    Path | None, typer.Option("--project", "-p", help="The project file (default: tidemark.yaml here or in a parent).")
]

#: a command-line flag -> the pipeline key it sets (a flag wins over the environment and the file)
_RUN_FLAGS = {
    "mode": "mode",
    "batch_documents": "batch_documents",
    "engine": "engine",
    "sink": "connection",
    "raw": "raw",
    "select": "select",
    "inputs": "input",
}


def load(flags: dict[str, Any] | None = None, path: Path | None = None) -> Project:
    from tidemark.project import load_project

    return load_project(path or (project_file[-1] if project_file else None), flags)


def given(ctx: typer.Context) -> dict[str, Any]:
    """The parameters typed on the command line (or set through click's environment), not their defaults."""
    sources = ("COMMANDLINE", "ENVIRONMENT")
    return {k: v for k, v in ctx.params.items() if getattr(ctx.get_parameter_source(k), "name", None) in sources}


def _flags(name: str, typed: dict[str, Any]) -> dict[str, Any]:
    values = {_RUN_FLAGS[k]: v for k, v in typed.items() if k in _RUN_FLAGS}
    if "input" in values:
        values["input"] = [str(p) for p in values["input"]]
        values.setdefault("raw", None)  # --input replaces the pipeline's raw store
    elif "raw" in values:
        values["input"] = None
    return {"pipelines": {name: values}} if values else {}


def pipeline_name(positional: list[Path] | None) -> str:
    if not positional:
        raise ConfigError("give a PIPELINE of tidemark.yaml (tidemark pipelines lists them), or --mapping and --sink")
    if len(positional) > 1:
        raise ConfigError(f"give one PIPELINE, not {len(positional)} ({', '.join(map(str, positional))})")
    return str(positional[0])


def mapping_ref(project: Project, pipeline: Pipeline) -> str:
    """A built-in (``mlb:live_game``) as it is; a file relative to the project."""
    ref = pipeline.mapping
    if ":" in ref and not Path(ref).exists() and len(ref.partition(":")[0]) > 1:
        return ref
    return str(project.root / ref)


def run_pipeline(run: Any, ctx: typer.Context, positional: list[Path] | None) -> None:
    """``tidemark run PIPELINE``: the pipeline's options, under the flags given; an ingesting pipeline fetches first."""
    name = pipeline_name(positional)
    typed = given(ctx)
    project = load(_flags(name, typed))
    pipeline = project.pipeline(name)
    loc = ("pipelines", name)
    sink = project.connection(pipeline.connection, (*loc, "connection"))
    raw = project.raw_store(pipeline.raw, (*loc, "raw")) if pipeline.raw is not None else None
    if pipeline.ingest is not None and "inputs" not in typed:
        _ingest(project, pipeline, sink, raw or "")
        return
    params = dict(ctx.params, ctx=ctx)
    params.update(
        mapping=mapping_ref(project, pipeline),
        sink=sink,
        inputs=[Path(project.root / p) for p in pipeline.input or []] or None,
        raw=raw,
        select=pipeline.select,
        mode=pipeline.mode,
        batch_documents=pipeline.batch_documents,
        engine=pipeline.engine,
        more_inputs=None,
    )
    run(**params)


def _ingest(project: Project, pipeline: Pipeline, sink: Any, raw: str) -> None:
    """A pipeline with ``ingest:``: ``tidemark backfill`` or ``tidemark live`` with the pipeline's settings."""
    from tidemark.cli import mlb as mlb_cli

    ingest = pipeline.ingest
    assert ingest is not None  # checked by the caller
    replay = Path(project.root / ingest.replay) if ingest.replay else None
    mapping = mapping_ref(project, pipeline)
    if ingest.backfill is not None:
        b = ingest.backfill
        mlb_cli.backfill_cmd(
            raw,
            season=b.season,
            game_types=",".join(b.game_types or []) or None,
            start=b.start,
            end=b.end,
            mapping=mapping,
            sink=sink,
            with_=",".join(b.with_ or []) or None,
            replay=replay,
            record=None,
            rate=ingest.rate,
            concurrency=b.concurrency,
            engine=pipeline.engine,
        )
        return
    live = ingest.live
    assert live is not None
    mlb_cli.live_cmd(
        raw,
        mapping=mapping,
        sink=sink,
        day=None if live.date in (None, "today") else live.date,
        min_interval=live.min_interval,
        max_interval=live.max_interval,
        replay=replay,
        record=None,
        rate=ingest.rate,
        concurrency=live.concurrency,
        engine=pipeline.engine,
    )


def stream_pipeline(stream: Any, ctx: typer.Context, name: str) -> None:
    """``tidemark stream PIPELINE``: follow the pipeline's raw store into its connection (a stream named after it)."""
    typed = given(ctx)
    project = load(_flags(name, {k: v for k, v in typed.items() if k in ("sink", "raw", "engine", "batch_documents")}))
    pipeline = project.pipeline(name)
    loc = ("pipelines", name)
    if pipeline.raw is None:
        raise ConfigError(f"{project.where(loc)}: a stream follows a raw store: give the pipeline raw: (a raw store)")
    params = dict(ctx.params, ctx=ctx)
    params.update(
        pipeline=None,
        sink=project.connection(pipeline.connection, (*loc, "connection")),
        mapping=mapping_ref(project, pipeline),
        raw=project.raw_store(pipeline.raw, (*loc, "raw")),
        engine=pipeline.engine,
        batch_documents=pipeline.batch_documents,
        name=typed.get("name") or name,
    )
    stream(**params)


def pipelines_cmd(
    project: ProjectOpt = None,
) -> None:
    """List the project's pipelines: what each reads, with which mapping, and where it writes."""
    loaded = load(path=project)
    pipelines = loaded.settings.pipelines
    if not pipelines:
        out.print(f"{loaded.path}: no pipelines (add them under pipelines:, docs/project.md)")
        return
    grid = Table(title=f"pipelines of {loaded.path}")
    for col in ("pipeline", "mapping", "reads", "writes to", "mode", "ingests", "schedule"):
        grid.add_column(col, no_wrap=col == "pipeline")
    for name, p in pipelines.items():
        reads = f"raw {p.raw}" if p.raw is not None else ", ".join(p.input or [])
        grid.add_row(name, p.mapping, reads, _writes_to(loaded, p), p.mode, _ingests(p), _schedule(p))
    print_whole(out, grid)


def _writes_to(project: Project, pipeline: Pipeline) -> str:
    """``warehouse (duckdb: /abs/wh.duckdb)``: the name and the kind, the location without secrets."""
    from tidemark.project.connections import masked, sink_url_kind

    value = project.settings.connections.get(pipeline.connection, pipeline.connection)
    if isinstance(value, dict):
        kind = str(value.get("type"))
        where = str(value.get("path") or f"{value.get('host', '')}/{value.get('database', '')}")
    else:
        kind = sink_url_kind(value) or "?"
        where = masked(value)
    name = pipeline.connection if pipeline.connection in project.settings.connections else "(URL)"
    return f"{name} ({kind}: {where})"


def _ingests(p: Pipeline) -> str:
    if p.ingest is None:
        return ""
    if p.ingest.backfill is not None:
        b = p.ingest.backfill
        return f"backfill {b.season}" if b.season else f"backfill {b.start}..{b.end}"
    return f"live {p.ingest.live.date if p.ingest.live and p.ingest.live.date else 'today'}"


def _schedule(p: Pipeline) -> str:
    return "" if p.schedule is None else f"{p.schedule.cron} ({p.schedule.timezone})"


def init_cmd(
    directory: Annotated[Path, typer.Argument(help="Where to make the project (default: here).")] = Path(),
    example: Annotated[str | None, typer.Option("--example", help="Add an example's pipelines: mlb.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing tidemark.yaml.")] = False,
) -> None:
    """Make a project: tidemark.yaml (a DuckDB connection, a raw directory), .gitignore, README snippet."""
    from tidemark.project.scaffold import scaffold

    written = scaffold(directory, example=example, force=force)
    for path in written:
        out.print(styled("created", "green", f" {path}"))
    first = "tidemark run sample" if example else "tidemark pipelines"
    out.print(f"next: cd {directory} && {first}")


def register(app: typer.Typer) -> None:
    """``tidemark pipelines`` and ``tidemark init`` (one line in cli/main.py)."""
    app.command("pipelines")(pipelines_cmd)
    app.command("init")(init_cmd)
