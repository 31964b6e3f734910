"""``tidemark runs`` / ``status`` / ``quarantine`` / ``check``: a store's history, contents, refusals and sanity
(history/, quality/expectations.py; docs/history.md). Rendering only: the answers come from the core."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tidemark.cli.render import print_whole, styled

out = Console(soft_wrap=True, markup=False, highlight=False)  # messages print as they are (see cli/main.py)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)

SinkOpt = Annotated[str, typer.Option("--sink", "-s", help="The store, e.g. duckdb:warehouse.duckdb.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _json(data: Any) -> None:
    out.print(json.dumps(data, default=_plain, sort_keys=True))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    as_dict = getattr(value, "as_dict", None)
    return as_dict() if as_dict is not None else str(value)


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def runs_cmd(
    sink: SinkOpt,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show the newest N runs.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The run ledger of a store (_tidemark.runs), newest first: status, inputs, counts, seconds per stage."""
    from tidemark.history.ledger import read_runs
    from tidemark.sinks import open_sink

    with open_sink(sink) as target:
        runs = read_runs(target, limit=max(limit, 0))
    if as_json:
        _json(runs)
        return
    if not runs:
        out.print(f"{target.display}: no run is recorded here")
        return
    grid = Table(title=f"runs in {target.display} (newest first)")
    for col in ("run", "batch", "command", "mapping", "status", "started (UTC)", "seconds", "documents", "written"):
        grid.add_column(col, justify="right" if col in ("batch", "seconds", "documents", "written") else "left")
    grid.add_column("quarantined", justify="right")
    for r in runs:
        tables = r["counts"].get("tables", {}).values()
        written = sum(t.get("inserted", 0) + t.get("updated", 0) for t in tables)
        quarantined = sum(t.get("quarantined", 0) for t in tables) + r["counts"].get("rejected", 0)
        seconds = (r["ended_at"] - r["started_at"]).total_seconds()
        status = r["status"] if not r["error"] else f"{r['status']}: {r['error'][:60]}"
        grid.add_row(
            r["run_id"],
            str(r["batch"]),
            r["command"],
            r["mapping"] or "-",
            status,
            _when(r["started_at"]),
            f"{seconds:.2f}",
            f"{r['counts'].get('documents', 0):,}",
            f"{written:,}",
            f"{quarantined:,}",
        )
    print_whole(out, grid)


def status_cmd(sink: SinkOpt, as_json: JsonOpt = False) -> None:
    """What a store holds: per table its rows, newest snapshot, last run and open quarantine; its streams."""
    from tidemark.history.status import store_status
    from tidemark.sinks import open_sink

    with open_sink(sink) as target:
        status = store_status(target)
    if as_json:
        _json({**status, "streams": [_checkpoint(c) for c in status["streams"]]})
        return
    if not status["tables"]:
        out.print(f"{target.display}: no run is recorded here")
        return
    grid = Table(title=f"{target.display}: {status['runs']:,} runs recorded")
    for col in ("table", "rows", "newest snapshot (UTC)", "last run", "at (UTC)", "quarantined"):
        grid.add_column(col, justify="right" if col in ("rows", "quarantined") else "left")
    for t in status["tables"]:
        rows = "-" if t.rows is None else f"{t.rows:,}"
        grid.add_row(
            t.table, rows, _when(t.last_snapshot), t.last_run or "-", _when(t.last_run_at), f"{t.quarantined:,}"
        )
    print_whole(out, grid)
    for t in status["tables"]:
        if t.note:
            err.print(styled(f"{t.table}:", "yellow", f" {t.note}"))
    for c in status["streams"]:
        position = "the first record" if c.position is None else json.dumps(list(c.position))
        out.print(f"stream {c.stream}: {c.batch:,} micro-batches, at {position}, committed {_when(c.committed_at)}")


def _checkpoint(c: Any) -> dict[str, Any]:
    return {
        "stream": c.stream,
        "position": None if c.position is None else list(c.position),
        "batch": c.batch,
        "committed_at": c.committed_at,
    }


def register(app: typer.Typer) -> None:
    """``tidemark runs``, ``status``, ``quarantine`` and ``check``."""
    app.command("runs")(runs_cmd)
    app.command("status")(status_cmd)
