"""``tidemark stream`` (follow a raw store into a sink, checkpointed) and ``tidemark streams`` (their status)."""

from __future__ import annotations

import functools
import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tidemark.cli.observing import LineageOpt, MetricsOpt, observers, print_json
from tidemark.cli.render import ProgressReporter, print_whole, render_result, styled
from tidemark.errors import ConfigError

if TYPE_CHECKING:
    from tidemark.runtime.stream import StreamResult

out = Console(soft_wrap=True, markup=False, highlight=False)  # messages print as they are (see cli/main.py)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)

SinkOpt = Annotated[str, typer.Option("--sink", "-s", help="Where the tables are, e.g. duckdb:warehouse.duckdb.")]
RawOpt = Annotated[
    str | None, typer.Option("--raw", help="The raw store: a directory, duckdb:FILE or postgresql://user@host/db.")
]


def stream_cmd(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Argument(help="A pipeline of tidemark.yaml (docs/project.md).")] = None,
    sink: Annotated[
        str | None, typer.Option("--sink", "-s", help="Where the tables are, e.g. duckdb:wh.duckdb.")
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(
            "--mapping", "-m", help="Mapping file, or a built-in such as mlb:live_game (mlb:* for every endpoint)."
        ),
    ] = None,
    raw: RawOpt = None,
    once: Annotated[
        bool, typer.Option("--once", help="Process what is there and exit (a resumable backfill).")
    ] = False,
    batch_documents: Annotated[int, typer.Option(help="Records per micro-batch (bounds memory).")] = 64,
    max_batch_mb: Annotated[float, typer.Option(help="About this many MB of records per micro-batch.")] = 64,
    name: Annotated[str | None, typer.Option("--name", help="The stream's name (default: mapping + raw).")] = None,
    engine: Annotated[str, typer.Option("--engine", "-e", help="The engine that runs the mapping.")] = "local",
    workers: Annotated[
        str, typer.Option("--workers", help="Processes extracting records (local engine): a number, or auto.")
    ] = "1",
    poll_seconds: Annotated[float, typer.Option(help="Seconds between polls of the raw store.")] = 2.0,
    reprocess: Annotated[
        bool, typer.Option("--reprocess", help="Apply every record again, also those this store already applied.")
    ] = False,
    status: Annotated[bool, typer.Option("--status", help="Show the streams of --sink instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (only that on stdout).")] = False,
    metrics: MetricsOpt = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus metrics on this port while streaming.")
    ] = None,
    lineage: LineageOpt = None,
    spark_master: Annotated[str | None, typer.Option(help="Spark master URL for --engine spark.")] = None,
    spark_conf: Annotated[list[str] | None, typer.Option(help="A Spark setting key=value (repeat).")] = None,
    spark_checkpoint: Annotated[
        str | None, typer.Option(help="Spark's checkpoint directory for --engine spark (keep it between runs).")
    ] = None,
) -> None:
    """Follow a raw store into a sink: micro-batches through the run's engine and contract, each committed with its
    checkpoint. Ctrl-C / SIGTERM finish the current micro-batch and exit 0."""
    if pipeline is not None:  # the project's pipeline gives what the flags do not
        from tidemark.cli.project import stream_pipeline

        return stream_pipeline(stream_cmd, ctx, pipeline)
    if sink is None:
        raise ConfigError("give --sink (e.g. duckdb:warehouse.duckdb), or stream a PIPELINE of tidemark.yaml")
    if status:
        streams_cmd(sink, raw, as_json)
        return
    if mapping is None or raw is None:
        raise ConfigError("tidemark stream needs --mapping and --raw (or --status to show the streams of --sink)")
    if max_batch_mb <= 0:
        raise ConfigError(f"--max-batch-mb {max_batch_mb:g}: give a size above 0")
    from tidemark.domains.mlb.routing import ALL
    from tidemark.runtime.stream import stream

    stop = threading.Event()
    reporter = ProgressReporter(err, enabled=False)  # a stream's input has no size to show a bar against
    watch = observers(
        "stream",
        reporter,
        mapping=mapping,
        sink=sink,
        inputs=lambda: _lineage_inputs(raw),
        metrics=metrics,
        metrics_port=metrics_port,
        lineage=lineage,
    )
    follow: Any = functools.partial(stream, engine=engine, workers=workers, reprocess=reprocess)
    if engine == "spark":  # a Spark Structured Streaming query over the same micro-batches
        from tidemark.cli.inputs import spark_options
        from tidemark.engines.spark_stream import spark_stream

        options = spark_options(spark_master, spark_conf or [])
        follow = functools.partial(spark_stream, **options, checkpoint_location=spark_checkpoint, reprocess=reprocess)
    if mapping == ALL:  # every endpoint of the raw store to the mapping that reads it (domains/mlb/routing.py)
        if name or spark_checkpoint or metrics or metrics_port or lineage:
            raise ConfigError(
                f"--mapping {ALL} runs one stream per endpoint, each named after its mapping: --name, "
                "--spark-checkpoint, --metrics, --metrics-port and --lineage take one mapping (stream them one by one)"
            )
        with _stopping_on_signals(stop):
            ok = _stream_routed(raw, sink, follow, once, stop, poll_seconds, batch_documents, max_batch_mb, as_json)
        if not ok:
            raise typer.Exit(1)
        return
    with _stopping_on_signals(stop), watch.watching():
        result = follow(
            mapping,
            raw,
            sink,
            name=name,
            once=once,
            batch_documents=batch_documents,
            max_batch_bytes=int(max_batch_mb * 2**20),
            poll_seconds=poll_seconds,
            reporter=watch,
            stop=stop,
        )
    _render(result, as_json)
    if once and not result.stopped and not result.result.ok:
        raise typer.Exit(1)


def _stream_routed(
    raw: str,
    sink: str,
    follow: Any,
    once: bool,
    stop: threading.Event,
    poll_seconds: float,
    batch_documents: int,
    max_batch_mb: float,
    as_json: bool,
) -> bool:
    """``tidemark stream --mapping mlb:*``: one stream per endpoint of the raw store a built-in mapping reads; the
    endpoints none reads are reported. True when every stream went well (with ``--once``)."""
    from tidemark.cli.mlb_render import print_routed_streams
    from tidemark.domains.mlb.routing import stream_all
    from tidemark.raw import open_raw

    with open_raw(raw) as store:
        routed = stream_all(
            store,
            sink,
            once=once,
            stop=stop,
            poll_seconds=poll_seconds,
            batch_documents=batch_documents,
            max_batch_bytes=int(max_batch_mb * 2**20),
            stream=follow,
        )
    if as_json:
        unrouted = {kind: {"records": u.documents, "store": u.first} for kind, u in routed.unrouted.items()}
        streams = {name: result.result.to_dict() for name, result in routed.results.items()}
        print_json({"streams": streams, "unrouted": unrouted, "rounds": routed.rounds})
    else:
        print_routed_streams(routed)
    return routed.ok or not once


def streams_cmd(
    sink: SinkOpt,
    raw: RawOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the streams as JSON.")] = False,
) -> None:
    """Show the streams of a sink: position, micro-batches, last commit and (with --raw) lag in records."""
    from tidemark.raw import open_raw
    from tidemark.runtime.checkpoint import statuses
    from tidemark.sinks import open_sink

    with open_sink(sink) as target:
        if raw is None:
            rows = statuses(target)
        else:
            with open_raw(raw) as store:
                rows = statuses(target, store)
    if as_json:
        data = [
            {
                "stream": s.stream,
                "position": None if s.position is None else list(s.position),
                "batches": s.batches,
                "documents": s.documents,
                "committed_at": s.committed_at.isoformat(),
                "lag": s.lag,
                "pending": None if s.pending is None else list(s.pending),
            }
            for s in rows
        ]
        print_json(data)
        return
    if not rows:
        out.print(f"{target.display}: no stream has committed here")
        return
    grid = Table(title=f"streams in {target.display}")
    for col in ("stream", "position", "micro-batches", "documents", "last commit", "lag (records)"):
        grid.add_column(col, justify="right" if col in ("micro-batches", "documents", "lag (records)") else "left")
    for s in rows:
        position = "-" if s.position is None else json.dumps(list(s.position))
        lag = "-" if s.lag is None else f"{s.lag:,}"
        when = s.committed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        grid.add_row(s.stream, position, f"{s.batches:,}", f"{s.documents:,}", when, lag)
    print_whole(out, grid)


def _render(result: StreamResult, as_json: bool) -> None:
    checkpoint = result.checkpoint
    if as_json:
        data: dict[str, Any] = {
            "stream": result.name,
            "batches": result.batches,
            "stopped": result.stopped,
            "atomic_checkpoint": result.atomic,
            "position": None if checkpoint.position is None else list(checkpoint.position),
            "checkpoint_batch": checkpoint.batch,
            "totals": checkpoint.totals,
            "result": result.result.to_dict(),
        }
        if hasattr(result, "query_id"):  # a Spark stream (engines/spark_stream.py)
            data["spark"] = {"query_id": result.query_id, "replayed": getattr(result, "replayed", 0)}
        print_json(data)
        return
    render_result(out, result.result)
    position = "the first record" if checkpoint.position is None else json.dumps(list(checkpoint.position))
    how = "stopped" if result.stopped else "caught up"
    out.print(
        styled(
            f"stream {result.name}",
            "bold",
            f": {result.batches:,} micro-batches committed now, {how} at {position} "
            f"({checkpoint.batch:,} micro-batches in all)",
        )
    )


def _lineage_inputs(raw: str) -> list[Any]:
    """The stream's input dataset: the raw store, named as it names itself (no credential)."""
    from tidemark.observe.lineage import raw_input
    from tidemark.raw import open_raw

    with open_raw(raw) as store:
        return [raw_input(store.display)]


@contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT / SIGTERM set ``stop``: the current micro-batch finishes (or rolls back) and the stream exits 0. A
    second signal interrupts at once (the micro-batch's transaction rolls back)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, was in previous.items():
            signal.signal(sig, was)


def register(app: typer.Typer) -> None:
    """``tidemark stream`` and ``tidemark streams``."""
    app.command("stream")(stream_cmd)
    app.command("streams")(streams_cmd)
