"""The ``tidemark`` command: a thin Typer layer over the Python API; all rendering happens here (Rich)."""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from tidemark.cli import deploy as deploy_cli
from tidemark.cli import history as history_cli
from tidemark.cli import mappings as mappings_cli
from tidemark.cli import mlb as mlb_cli
from tidemark.cli import project as project_cli
from tidemark.cli import raw as raw_cli
from tidemark.cli import schema as schema_cli
from tidemark.cli import stores as stores_cli
from tidemark.cli import stream as stream_cli
from tidemark.cli.inputs import lineage_inputs, raw_or_documents, spark_options
from tidemark.cli.observing import (
    LineageOpt,
    MetricsOpt,
    QuietOpt,
    observed_runs,
    observers,
    print_json,
    settings,
    show_progress,
    write_observers,
)
from tidemark.cli.render import ProgressReporter, RowProgressReporter, render_result, styled
from tidemark.errors import ConfigError, ContractError, TidemarkError

if TYPE_CHECKING:
    pass

app = typer.Typer(
    name="tidemark",
    help="Turn nested JSON API documents into normalized tables that stay correct under re-runs and late data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Messages are never broken into lines by the console width (a path or key split in two cannot be copied or grepped;
# the terminal wraps them on screen); tables still fit the width. Nothing is read as Rich markup or highlighted:
# messages hold brackets of their own (`pip install 'tidemark-etl[postgres]'`, did-you-mean lists, JSON paths, keys), so
# every string prints as it is, and colour comes only from styled Text (render.py: styled()).
out = Console(soft_wrap=True, markup=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


@dataclass
class _Session:
    """What ``main`` needs to word an ending: --debug, whether Ctrl-C was pressed, the progress so far."""

    debug: bool = False
    interrupted: bool = False
    done: bool = False
    progress: ProgressReporter | RowProgressReporter | None = None


_state = _Session()
app.add_typer(raw_cli.app)  # tidemark raw import / ls
app.add_typer(schema_cli.app)  # tidemark schema mapping / ddl / avro / json
mlb_cli.register(app)  # tidemark ingest / backfill / live
stream_cli.register(app)  # tidemark stream / streams
project_cli.register(app)  # tidemark pipelines / init
app.add_typer(deploy_cli.app)  # tidemark deploy k8s / argo
history_cli.register(app)  # tidemark runs / status / quarantine / check


def _version(value: bool) -> None:
    if value:
        from tidemark import __version__

        out.print(f"tidemark {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    project: project_cli.ProjectOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars (none off a terminal either).")
    ] = False,
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="Log to standard error: text | json (level: info).")
    ] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="Log to standard error from this level: debug | info | warning.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    from tidemark.observe.logs import configure
    from tidemark.observe.logs import reset as reset_logging

    _state.debug = debug
    project_cli.project_file[:] = [project] if project else []
    settings.quiet = quiet
    if log_format is not None or log_level is not None:  # otherwise the CLI's own output says it all
        configure(log_level or "info", log_format or "text")
    else:
        reset_logging()


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    mapping: Annotated[
        str | None, typer.Option("--mapping", "-m", help="Mapping file, or a built-in such as mlb:live_game.")
    ] = None,
    sink: Annotated[
        str | None, typer.Option("--sink", "-s", help="Where to write, e.g. duckdb:warehouse.duckdb.")
    ] = None,
    inputs: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            "-i",
            help="Files or directories of documents: several after one flag (a shell glob) or the flag repeated; "
            "- reads standard input (one JSON document, or NDJSON).",
        ),
    ] = None,
    raw: Annotated[
        str | None, typer.Option("--raw", help="Rebuild from a raw store instead (no stream checkpoint is touched).")
    ] = None,
    select: Annotated[str | None, typer.Option("--select", help="With --raw: endpoint or endpoint/method.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="With --raw: records fetched at or after this UTC time or date.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="With --raw: records fetched before this UTC time or date.")
    ] = None,
    games: Annotated[
        list[int] | None, typer.Option("--game", help="With --raw: the records of this game pk (repeat).")
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="overwrite | append | append_once | upsert")] = "upsert",
    batch_documents: Annotated[int, typer.Option(help="Documents per batch (bounds memory).")] = 64,
    engine: Annotated[str, typer.Option("--engine", "-e", help="The engine that runs the mapping.")] = "local",
    workers: Annotated[
        str, typer.Option("--workers", help="Processes extracting documents (local engine): a number, or auto.")
    ] = "1",
    max_document_mb: Annotated[
        float, typer.Option(help="Reject a document larger than this (MB, after decompression) unread.")
    ] = 256,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL for --engine spark (default local[*]).")
    ] = None,
    spark_conf: Annotated[list[str] | None, typer.Option(help="A Spark setting key=value (repeat).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (only that on stdout).")] = False,
    quiet: QuietOpt = False,
    metrics: MetricsOpt = None,
    lineage: LineageOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on a warning too (no rows at all, a column always NULL).")
    ] = False,
    tie: Annotated[
        str | None,
        typer.Option(
            "--tie", help="At an equal timestamp: hash (default: order-independent) or incoming (the later row wins)."
        ),
    ] = None,
    reprocess: Annotated[
        bool,
        typer.Option(
            "--reprocess",
            help="Apply every document again, also those this store already applied under the same mapping.",
        ),
    ] = False,
    commit_every: Annotated[
        int | None,
        typer.Option(
            "--commit-every",
            help="Commit every N documents (upsert / append_once; default 100): bounded memory, and an "
            "interrupted run keeps the steps it committed.",
        ),
    ] = None,
    single_transaction: Annotated[
        bool,
        typer.Option(
            "--single-transaction", help="One transaction for the whole run (all or nothing), whatever its size."
        ),
    ] = False,
    more_inputs: Annotated[
        list[Path] | None, typer.Argument(metavar="[PIPELINE]", help="A pipeline of tidemark.yaml (docs/project.md).")
    ] = None,
) -> None:
    """Run a mapping over documents (or the project's PIPELINE) and write the tables to a sink under the write
    contract."""
    from tidemark.runtime.batch import run

    if mapping is None:  # tidemark run PIPELINE: the project's pipeline gives what the flags do not
        return project_cli.run_pipeline(run_cmd, ctx, more_inputs)
    if sink is None:
        raise ConfigError("give --sink (e.g. duckdb:warehouse.duckdb), or run a PIPELINE of tidemark.yaml")

    if max_document_mb <= 0:
        raise ConfigError(f"--max-document-mb {max_document_mb:g}: give a size above 0 (the default is 256)")
    from tidemark.raw.source import filters as raw_filters

    filters = raw_filters(since, until, games or [])
    paths = [*(inputs or []), *(more_inputs or [])]
    source = raw_or_documents(raw, select, filters, paths, int(max_document_mb * 2**20))
    if mapping == "mlb:*":  # every document to the mapping its envelope names (domains/mlb/routing.py)
        options = {"mode": mode, "batch_documents": batch_documents, "engine": engine}
        observed = observed_runs(sink=sink, inputs=lambda: lineage_inputs(source), metrics=metrics, lineage=lineage)
        ok = mlb_cli.run_routed(source, sink, as_json=as_json, strict=strict, run=observed, **options)
        if not ok:
            raise typer.Exit(1)
        return
    reporter = _state.progress = ProgressReporter(err, enabled=show_progress(err, as_json, quiet))
    watch = observers(
        "run",
        reporter,
        mapping=mapping,
        sink=sink,
        inputs=lambda: lineage_inputs(source),
        metrics=metrics,
        lineage=lineage,
    )
    with watch.watching():
        result = run(
            mapping,
            source,
            sink,
            mode=mode,  # type: ignore[arg-type]
            reporter=watch,
            batch_documents=batch_documents,
            engine=engine,
            max_document_bytes=int(max_document_mb * 2**20),
            engine_options=spark_options(spark_master, spark_conf or []),
            workers=workers,
            reprocess=reprocess,
            commit_every=commit_every,
            single_transaction=single_transaction,
            tie=tie,
        )
    close = getattr(source, "close", None)  # a raw store opened for --raw
    if close is not None:
        close()
    if as_json:
        print_json(result.to_dict())
    else:
        render_result(out, result)
    if not result.ok or (strict and result.warnings):
        raise typer.Exit(1)


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
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (only that on stdout).")] = False,
    quiet: QuietOpt = False,
    metrics: MetricsOpt = None,
    lineage: LineageOpt = None,
) -> None:
    """Write flat files to one table under the write contract (docs/write.md)."""
    from tidemark.cli.render import render_write_result
    from tidemark.cli.write import write_files

    progress = _state.progress = RowProgressReporter(err, enabled=show_progress(err, as_json, quiet))
    reporter = write_observers(
        progress, files=files, table=table, config=config, sink=sink, metrics=metrics, lineage=lineage
    )
    with flags_in_messages(), reporter.watching():
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
        print_json(result.to_dict())
    else:
        render_write_result(out, result)
    if not result.ok:
        raise typer.Exit(1)


mappings_cli.register(app)  # tidemark validate / tables / docs
stores_cli.register(app)  # tidemark grants / maintain


#: how the Python API names an option (in messages of tidemark.write) -> how the command line spells it
_FLAG_WORDING = (
    (re.compile(r"pass sink='([^']*)'"), r"give --sink \1"),
    (re.compile(r"pass table='([^']*)'"), r"give --table \1"),
    (re.compile(r"pass mode= one of"), "give --mode, one of"),
    (re.compile(r"pass keys=\[\.\.\.\]"), "give --keys COLUMN,..."),
    (re.compile(r"key=\{'name': \.\.\., 'from': \[\.\.\.\]\}+"), "--key NAME=COLUMN,..."),
    (re.compile(r"write with mode (\w+) / (\w+)"), r"write with --mode \1 / \2"),
    (re.compile(r"pass connections=\{'([^']*)': '([^']*)'\}"), r"give --connection \1=\2"),
    (
        re.compile(r"^(sink|table|mode|keys|timestamp|dedup|key) is (.*) in the arguments"),
        r"--\1 is \2 on the command line",
    ),
)


@contextmanager
def flags_in_messages() -> Iterator[None]:
    """Inside a command, a ConfigError / ContractError that names a Python argument (``sink=``, ``keys=[...]``)
    names the command's flag instead (``--sink``, ``--keys``)."""
    try:
        yield
    except (ConfigError, ContractError) as exc:
        text = str(exc)
        for pattern, flag in _FLAG_WORDING:
            text = pattern.sub(flag, text)
        if text == str(exc):
            raise
        raise type(exc)(text) from exc


def main() -> None:
    """Console entry point: known errors print one line and exit 1; Ctrl-C prints one line and exits 130; --debug
    shows the traceback."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when the shell made us ignore it
        signal.signal(signal.SIGINT, _on_interrupt)
    try:
        app()
    except TidemarkError as exc:
        if _state.interrupted:
            _interrupted()
        if _state.debug:
            raise
        from tidemark.observe.redact import redact

        err.print(styled("error:", "red", f" {redact(str(exc))}"))  # an error quoting a setting shows no credential
        sys.exit(1)
    except SystemExit as exc:
        if _state.interrupted and exc.code not in (0, None):
            _interrupted()
        raise
    except BaseException:
        # a store interrupted mid-statement raises its own error (DuckDB: "Query interrupted"), and the rollback
        # after it may fail too: what the user did was press Ctrl-C, and that is what is said
        if _state.interrupted and not _state.debug:
            _interrupted()
        raise
    finally:
        _state.done = True  # a Ctrl-C while the interpreter shuts down changes nothing any more


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    progress = _state.progress
    if _state.done or (progress is not None and progress.finished):
        return  # the run has committed: its summary prints and it exits as it would have
    _state.interrupted = True
    raise KeyboardInterrupt


def _interrupted() -> NoReturn:
    """One line for Ctrl-C: a run's transaction was rolled back (Transaction rolls back on any exception)."""
    progress = _state.progress
    if progress is None:
        err.print(styled("interrupted", "red"))
    else:
        err.print(styled("interrupted:", "red", f" rolled back, nothing written; {progress.processed()}"))
    sys.exit(130)
