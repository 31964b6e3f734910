"""The CLI's side of observability: the global --quiet / --log-* settings, whether progress bars show, the observers
a command's --metrics / --metrics-port / --lineage options ask for, and JSON on standard output."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tidemark.observe import Observers
from tidemark.observe.logs import LogReporter
from tidemark.observe.redact import redact, redact_data


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
    sink: str,
    inputs: Any,
    metrics: Path | None = None,
    metrics_port: int | None = None,
    lineage: str | None = None,
) -> Observers:
    """The progress reporter plus the logs, and the metrics and lineage the options ask for. ``inputs`` is a
    zero-argument function giving the lineage's input datasets (called only when lineage is on)."""
    from tidemark.observe.lineage import lineage_target

    found: list[Any] = [progress, LogReporter(command, {"mapping": mapping, "sink": redact(sink)})]
    if metrics is not None or metrics_port is not None:
        from tidemark.observe.metrics import MetricsReporter

        found.append(MetricsReporter(mapping, path=metrics, port=metrics_port))
    target = lineage_target(lineage)
    if target is not None:
        from tidemark.artifacts import plan_for
        from tidemark.observe.lineage import LineageEmitter

        job = f"{command} {mapping} -> {redact(sink)}"
        found.append(LineageEmitter(target, job=job, plan=plan_for(mapping), inputs=inputs(), sink=sink))
    return Observers(*found)


def write_observers(
    progress: Any, *, table: str | None, config: Path | None, sink: str | None, metrics: Path | None
) -> Observers:
    """``tidemark write``'s: the progress bar, the logs and ``--metrics`` (labelled ``table T``, or ``write FILE``
    for a write block). No lineage: a write has no mapping to describe its columns from."""
    label = f"table {table}" if table else f"write {config or ''}".strip()
    found: list[Any] = [progress, LogReporter("write", {"mapping": label, "sink": redact(sink or "(its write block)")})]
    if metrics is not None:
        from tidemark.observe.metrics import MetricsReporter

        found.append(MetricsReporter(label, path=metrics))
    return Observers(*found)
