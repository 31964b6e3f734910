"""The CLI's side of observability: the global --quiet / --log-* settings, whether progress bars show, the observers
a command's --metrics / --metrics-port / --lineage options ask for, and JSON on standard output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from tidemark.observe import Observers
from tidemark.observe.logs import LogReporter
from tidemark.observe.redact import redact, redact_data

if TYPE_CHECKING:
    from tidemark.observe.columns import OutputTable
    from tidemark.observe.lineage import InputRef
    from tidemark.raw import RawStore


@dataclass
class Settings:
    """Global options (``tidemark --quiet --log-format json --log-level info ...``)."""

    quiet: bool = False


settings = Settings()

MetricsOpt = Annotated[
    Path | None,
    typer.Option("--metrics", help="Write Prometheus metrics to this file (textfile-collector format) when done."),
]
LineageOpt = Annotated[
    str | None,
    typer.Option(
        "--lineage",
        help="Send OpenLineage events: append JSON lines to a file, or POST to an http(s) URL "
        "(default: $TIDEMARK_OPENLINEAGE_URL).",
    ),
]
MetricsPortOpt = Annotated[
    int | None, typer.Option("--metrics-port", help="Serve Prometheus metrics on this port while it runs.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def show_progress(console: Console, as_json: bool = False, quiet: bool = False) -> bool:
    """Progress bars only on a terminal, and not with --json or --quiet (a pipe or a CI log gets none)."""
    return console.is_terminal and not as_json and not quiet and not settings.quiet


def print_json(data: Any) -> None:
    """One JSON document on standard output, credentials redacted, nothing else."""
    sys.stdout.write(json.dumps(redact_data(data), indent=2, default=str) + "\n")
    sys.stdout.flush()


def observers(
    command: str,
    progress: Any,
    *,
    mapping: str,
    sink: str | None,
    inputs: Callable[[], list[InputRef]],
    outputs: Callable[[], list[OutputTable]] | None = None,
    metrics: Path | None = None,
    metrics_port: int | None = None,
    lineage: str | None = None,
) -> Observers:
    """The progress reporter plus the logs, and the metrics and lineage the options ask for. ``mapping`` labels
    them (a mapping, or ``table T`` for a write); ``inputs`` and ``outputs`` give the lineage's datasets (called only
    when lineage is on; no ``outputs``: the mapping's tables, a write's comes from the write itself)."""
    from tidemark.observe.lineage import lineage_target

    shown = redact(sink) if sink else None
    found: list[Any] = [progress, LogReporter(command, {"mapping": mapping, "sink": shown or "(its write block)"})]
    if metrics is not None or metrics_port is not None:
        from tidemark.observe.metrics import MetricsReporter

        found.append(MetricsReporter(mapping, path=metrics, port=metrics_port))
    target = lineage_target(lineage)
    if target is not None:
        from tidemark.observe.lineage import LineageEmitter

        job = f"{command} {mapping}" + (f" -> {shown}" if shown else "")
        tables = outputs() if outputs is not None else _mapping_outputs(mapping)
        found.append(LineageEmitter(target, job=job, outputs=tables, inputs=inputs(), sink=sink))
    return Observers(*found)


def _mapping_outputs(mapping: str) -> list[OutputTable]:
    from tidemark.artifacts import plan_for
    from tidemark.observe.columns import mapping_outputs

    return mapping_outputs(plan_for(mapping))


def write_observers(
    progress: Any,
    *,
    files: list[Path],
    table: str | None,
    config: Path | None,
    sink: str | None,
    metrics: Path | None,
    lineage: str | None,
) -> Observers:
    """``tidemark write``'s: the progress bar, the logs, ``--metrics`` and ``--lineage``, labelled ``table T`` (or
    ``block FILE`` when a write block names the table). The lineage's output is the write's table, described once
    the write has read the input's schema (``Observers.planned``); its inputs are the files."""
    from tidemark.observe.lineage import file_inputs

    label = f"table {table}" if table else f"block {config}" if config else "table"
    return observers(
        "write",
        progress,
        mapping=label,
        sink=sink,
        inputs=lambda: file_inputs(files),
        outputs=list,
        metrics=metrics,
        lineage=lineage,
    )


def observed_runs(
    *, sink: str, inputs: Callable[[], list[InputRef]], metrics: Path | None, lineage: str | None
) -> Callable[..., Any]:
    """``run --mapping mlb:*`` runs one mapping after another: each is observed as a run of its own (its logs, its
    lineage run with its tables), and one ``--metrics`` file sums them all (labelled ``mlb:*``)."""
    from tidemark.runtime.batch import run

    shared = None
    if metrics is not None:
        from tidemark.observe.metrics import MetricsReporter

        shared = MetricsReporter("mlb:*", path=metrics)

    def observed(mapping: str, source: Any, target: str, **options: Any) -> Any:
        watch = observers("run", None, mapping=mapping, sink=sink, inputs=inputs, lineage=lineage)
        if shared is not None:
            watch.reporters.append(shared)
        with watch.watching():
            return run(mapping, source, target, reporter=watch, **options)

    return observed


def load_observers(
    command: str,
    mapping: str,
    store: RawStore,
    sink: str,
    *,
    metrics: Path | None,
    lineage: str | None,
    port: int | None = None,
) -> Observers:
    """The observers of an MLB load into a sink (``backfill`` / ``live`` with --mapping and --sink); the lineage's
    inputs are the raw store's records of the mapping's endpoint and the Stats API endpoint (domains/mlb/load.py)."""
    from tidemark.domains.mlb.load import lineage_inputs

    return observers(
        command,
        None,
        mapping=mapping,
        sink=sink,
        inputs=lambda: lineage_inputs(mapping, store),
        metrics=metrics,
        metrics_port=port,
        lineage=lineage,
    )
