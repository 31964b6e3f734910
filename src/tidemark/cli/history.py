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
    from tidemark.observe.redact import redact_data

    plain = json.loads(json.dumps(data, default=_plain))  # then redacted value by value (rows stored before, too)
    out.print(json.dumps(redact_data(plain), sort_keys=True))


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
    from tidemark.observe.redact import redact
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
        status = r["status"] if not r["error"] else f"{r['status']}: {redact(r['error'])[:60]}"
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


def quarantine_cmd(
    sink: SinkOpt,
    table: Annotated[
        str | None, typer.Option("--table", "-t", help="Only this table ('-': the rejected documents).")
    ] = None,
    replay: Annotated[
        bool, typer.Option("--replay", help="Run --mapping again over the quarantined documents still on disk.")
    ] = False,
    mapping: Annotated[str | None, typer.Option("--mapping", "-m", help="The (fixed) mapping to replay with.")] = None,
    raw: Annotated[
        str | None,
        typer.Option("--raw", help="The raw store to re-read records from (default: the one the run's ledger names)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The quarantine of a store, by table and reason, with each entry's key and origin; --replay writes what passes
    now (after a mapping fix) and takes the replayed entries out of the quarantine, in one transaction."""
    if replay:
        _replay(sink, table, mapping, as_json, raw)
        return
    from tidemark.history.quarantine import grouped, read_quarantine
    from tidemark.sinks import open_sink

    with open_sink(sink) as target:
        groups = grouped(read_quarantine(target, table=table))
    if as_json:
        _json(groups)
        return
    if not groups:
        out.print(f"{target.display}: nothing in quarantine" + (f" for {table}" if table else ""))
        return
    grid = Table(title=f"quarantine of {target.display}")
    for col in ("table", "reason", "count", "key", "origin", "run"):
        grid.add_column(col, justify="right" if col == "count" else "left")
    for g in groups:
        for i, e in enumerate(g["entries"]):
            head = (g["table"], g["reason"], f"{g['count']:,}") if i == 0 else ("", "", "")
            grid.add_row(*head, e["key"] or "-", e["origin"] or "(not recorded)", e["run_id"])
        if g["count"] > len(g["entries"]):
            grid.add_row("", "", "", f"... {g['count'] - len(g['entries']):,} more (--json lists them)", "", "")
    print_whole(out, grid)


def _replay(sink: str, table: str | None, mapping: str | None, as_json: bool, raw: str | None) -> None:
    from tidemark.errors import ConfigError
    from tidemark.history.quarantine import replay
    from tidemark.mapping.loader import is_all

    if mapping is None:
        raise ConfigError("tidemark quarantine --replay needs --mapping: the fixed mapping to run the documents with")
    if is_all(mapping):  # each quarantined document came from one mapping: the replay runs that one
        raise ConfigError(
            f"tidemark quarantine --replay takes one mapping, not --mapping {mapping}: give the mapping that "
            "quarantined the documents, e.g. --mapping mlb:live_game (tidemark runs shows each run's mapping)"
        )
    report = replay(mapping, sink, table=table, raw=raw)
    if as_json:
        _json(report.as_dict())
    elif not report.files:
        out.print("nothing to replay: no quarantined entry names a document that is still on disk")
    else:
        out.print(
            f"replayed {len(report.files):,} inputs: {report.written:,} entries written now and out of the "
            f"quarantine, {report.requarantined:,} refused again (quarantined anew with today's reason)"
        )
    for m in report.missing[:20]:
        where = m["origin"] or f"the inputs of run {m['run_id']}"
        err.print(styled("not replayable:", "yellow", f" {m['table_name'] or 'document'}: {where} is gone or no file"))
    if report.result is not None and not report.result.ok:
        raise typer.Exit(1)


def check_cmd(
    pipeline: Annotated[
        str | None, typer.Argument(metavar="[PIPELINE]", help="A pipeline of tidemark.yaml (docs/project.md).")
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--mapping", "-m", help="Mapping file, or a built-in such as mlb:live_game (mlb:* for all)."),
    ] = None,
    sink: Annotated[str | None, typer.Option("--sink", "-s", help="The store, e.g. duckdb:warehouse.duckdb.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the stored tables of a mapping (or of a PIPELINE of the project): key coverage, duplicate keys and
    orphan rows per table, and the mapping's expectations. Exits 1 when a check whose action is fail does not hold."""
    from tidemark.artifacts import plan_for
    from tidemark.quality.expectations import expect, table_checks
    from tidemark.sinks import open_sink

    mapping, target_of = _checked(pipeline, mapping, sink)
    plan = plan_for(mapping)  # mlb:*: the tables and expectations of every built-in mapping, each table once
    specs = {t.name: t.spec for t in plan.targets}
    with open_sink(target_of) as target:
        outcomes = table_checks(target, specs) + expect(target, specs, plan.expectations)
    failed = [o for o in outcomes if not o.passed and o.action == "fail"]
    if as_json:
        _json({"ok": not failed, "checks": [o.as_dict() for o in outcomes]})
    else:
        grid = Table(title=f"checks of {pipeline or mapping} in {target.display}")
        for col in ("table", "check", "result", "detail"):
            grid.add_column(col)
        for o in outcomes:
            verdict = "ok" if o.passed else ("FAILED" if o.action == "fail" else "warning")
            grid.add_row(o.table, o.name, verdict, o.detail)
        print_whole(out, grid)
        out.print(f"{len(outcomes) - len(failed):,} of {len(outcomes):,} checks hold")
    if failed:
        raise typer.Exit(1)


def _checked(pipeline: str | None, mapping: str | None, sink: str | None) -> tuple[str, Any]:
    """The mapping and the store to check: the flags, else the PIPELINE's (as ``tidemark run PIPELINE`` resolves
    them: a flag wins over the project)."""
    from tidemark.errors import ConfigError

    if pipeline is None:
        if mapping is None or sink is None:
            raise ConfigError("tidemark check needs a PIPELINE of tidemark.yaml, or --mapping and --sink")
        return mapping, sink
    from tidemark.cli import project as project_cli

    project = project_cli.load()
    found = project.pipeline(pipeline)
    if mapping is None:
        mapping = project_cli.mapping_ref(project, found)
    target = sink if sink is not None else project.connection(found.connection, ("pipelines", pipeline, "connection"))
    return mapping, target


def register(app: typer.Typer) -> None:
    """``tidemark runs``, ``status``, ``quarantine`` and ``check``."""
    app.command("runs")(runs_cmd)
    app.command("status")(status_cmd)
    app.command("quarantine")(quarantine_cmd)
    app.command("check")(check_cmd)
