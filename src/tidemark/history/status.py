"""What a store holds, per table, from tidemark's own tables: ``tidemark status`` (docs/history.md).

The tables are the ones the successful runs of the ledger name (``counts.tables`` of ``_tidemark.runs``, with each
table's timestamp column), so no mapping is needed: the rows are counted and the newest snapshot time read through
the store's ``read_table`` over the timestamp column only. Quarantined rows are counted from
``_tidemark.quarantine`` less the resolved ones (``_tidemark.quarantine_resolved``), and the streams come from
``_tidemark.checkpoints``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow.compute as pc

from tidemark.errors import SinkTerminalError
from tidemark.history.ledger import read_runs
from tidemark.history.quarantine import read_quarantine
from tidemark.sinks.base import Sink
from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType


@dataclass
class TableStatus:
    """One data table of a store: ``rows`` None when it could not be read (``note`` says why)."""

    table: str
    rows: int | None
    last_snapshot: datetime | None
    last_run: str | None
    last_run_at: datetime | None
    quarantined: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows": self.rows,
            "last_snapshot": None if self.last_snapshot is None else self.last_snapshot.isoformat(),
            "last_run": self.last_run,
            "last_run_at": None if self.last_run_at is None else self.last_run_at.isoformat(),
            "quarantined": self.quarantined,
            "note": self.note,
        }


def store_status(sink: Sink) -> dict[str, Any]:
    """Per table (the ledger's), rows / newest snapshot / last successful run / open quarantine; the streams'
    checkpoints; the number of runs recorded. JSON-ready apart from the TableStatus values."""
    runs = read_runs(sink)
    quarantined: dict[str, int] = {}
    for entry in read_quarantine(sink):
        if entry["table_name"] is not None:
            quarantined[entry["table_name"]] = quarantined.get(entry["table_name"], 0) + 1
    last: dict[str, tuple[dict[str, Any], str | None]] = {}
    for run in reversed(runs):  # oldest first: the newest ok run of each table stays (a failed one wrote nothing)
        for table, counts in run["counts"].get("tables", {}).items() if run["status"] == "ok" else ():
            last[table] = (run, counts.get("timestamp"))
    tables = [
        _table(sink, name, run, timestamp, quarantined.get(name, 0)) for name, (run, timestamp) in sorted(last.items())
    ]
    return {"runs": len(runs), "tables": tables, "streams": sink.read_checkpoints()}


def _table(sink: Sink, name: str, run: dict[str, Any], timestamp: str | None, quarantined: int) -> TableStatus:
    schema, _, table = name.rpartition(".")
    column = timestamp or "captured_at"
    spec = TableSpec(schema or None, table, (Column(column, LogicalType("timestamp")),), hashed=False)
    status = TableStatus(name, None, None, run["run_id"], run["ended_at"], quarantined)
    try:
        stored = sink.read_table(spec)
    except SinkTerminalError as exc:  # dropped since, or renamed: say so, the other tables still show
        status.note = str(exc)
        return status
    status.rows = stored.num_rows
    newest = pc.max(stored.column(column)).as_py() if stored.num_rows else None
    status.last_snapshot = newest if isinstance(newest, datetime) else None
    return status


__all__ = ["TableStatus", "store_status"]
