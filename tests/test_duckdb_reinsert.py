"""DuckDB applies an update of a table with secondary indexes as DELETE + INSERT (sinks/sql.py, ``reinsert_updates``):
the same writes into the same table with and without a secondary index give the same rows and the same counts,
including a key replaced twice inside one transaction and scopes reconciled (docs/write-contract.md)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from tests.conformance.tables import PLAYS
from tidemark.contract.counts import WriteCounts
from tidemark.contract.prepare import prepare
from tidemark.runtime.transaction import Transaction
from tidemark.sinks import open_sink
from tidemark.sinks.duckdb import DuckDBSink
from tidemark.tables import Index, TableSpec

INDEXED = dataclasses.replace(PLAYS, name="plays_indexed", indexes=(Index(("event",)), Index(("at_bat_index",))))
TS = pa.timestamp("us", "UTC")


def at(hour: int) -> datetime:
    return datetime(2024, 7, 13, hour, tzinfo=UTC)


def plays(game_pk: int, hour: int, indexes: range, event: str) -> tuple[pa.Table, pa.Table]:
    n = len(indexes)
    rows = pa.table(
        {
            "game_pk": [game_pk] * n,
            "at_bat_index": list(indexes),
            "event": [f"{event} {i}" for i in indexes],
            "captured_at": [at(hour)] * n,
        },
        schema=pa.schema(
            [("game_pk", pa.int64()), ("at_bat_index", pa.int32()), ("event", pa.string()), ("captured_at", TS)]
        ),
    )
    scopes = pa.table({"game_pk": [game_pk], "captured_at": [at(hour)]}, schema=rows.select([0, 3]).schema)
    return rows, scopes


#: transactions of batches: a first load, a newer snapshot (longer for one game, shorter for the other), the same
#: keys replaced twice in one transaction, an older snapshot (skipped) and the newest again (unchanged)
STEPS = [
    [plays(1, 10, range(5), "out"), plays(2, 10, range(4), "out")],
    [plays(1, 11, range(7), "single"), plays(2, 11, range(2), "walk")],
    [plays(1, 12, range(6), "double"), plays(1, 13, range(6), "triple"), plays(3, 13, range(3), "out")],
    [plays(1, 9, range(8), "old")],
    [plays(1, 13, range(6), "triple")],
]


def load(sink: DuckDBSink, spec: TableSpec) -> list[WriteCounts]:
    counts = []
    for batches in STEPS:
        with Transaction(sink, [spec], run_id="reinsert") as tx:
            for rows, scopes in batches:
                prepared = prepare(rows, spec, "upsert")
                written = tx.write(spec, prepared.rows, scopes, "upsert")
                written += prepared.counts
                counts.append(written)
    return counts


def test_updates_by_reinsertion_store_and_count_as_in_place_updates(tmp_path: Path) -> None:
    sink = open_sink(f"duckdb:{tmp_path / 'store.duckdb'}")
    assert isinstance(sink, DuckDBSink)
    with sink:
        plain, indexed = load(sink, PLAYS), load(sink, INDEXED)
        stored = [sink.read_table(spec).to_pylist() for spec in (PLAYS, INDEXED)]
        query = "SELECT index_name FROM duckdb_indexes() WHERE table_name = ?"
        names = {r[0] for r in sink.conn.execute(query, [INDEXED.name]).fetchall()}
    assert [c.as_dict() for c in indexed] == [c.as_dict() for c in plain]
    assert sum(c.updated for c in indexed) == 5 + 2 + 6 + 6  # the reinsertion path ran, keys replaced twice included
    assert [(c.inserted, c.updated, c.deleted) for c in indexed[4:7]] == [(0, 6, 1), (0, 6, 0), (3, 0, 0)]
    assert indexed[7].skipped == 8 and indexed[8].unchanged == 6
    assert stored[1] == stored[0]
    assert [(r["game_pk"], r["at_bat_index"], r["event"]) for r in stored[1]] == [
        *[(1, i, f"triple {i}") for i in range(6)],
        *[(2, i, f"walk {i}") for i in range(2)],
        *[(3, i, f"out {i}") for i in range(3)],
    ]
    assert len(names) == 2  # the secondary indexes are still there
